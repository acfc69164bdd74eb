//! The real network: one UDP socket per peer drives a [`Session`], with an optional
//! conditioner (added latency, jitter and loss) to try a bad network on one machine.
//!
//! The session stays sans-IO; this module is its edge. Every link is a renetcode
//! connection in secure mode (encrypted and authenticated with the session key), all of a
//! peer's links share its one socket, and renetcode's server and clients demultiplex by
//! address. [`Peer`] bundles a session, its socket and a clock for programs that just want
//! to host or join with an invite code.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::Transmit;
pub use crate::conditions::LinkConditions;
use crate::invite::InviteError;
use crate::portmap::PortMapper;
use crate::portmap::upnp::UpnpWorker;
use crate::protocol::Refusal;
use crate::session::{Session, SessionError};
use crate::stun::StunClient;
use crate::traversal::{Incoming, Traversal};
use conditions::Conditioner;

/// Largest datagram read from the socket (netcode packets are at most 1300 bytes).
const RECV_BUFFER_BYTES: usize = 2048;

/// Errors of the real transport.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The socket failed.
    #[error("network error: {0}")]
    Io(#[from] io::Error),
    /// The invite code does not decode.
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// Nobody accepted us in time: the members listed are gone, the code's key is not the
    /// session's (netcode ignores a connect token it cannot open, by design), or no path
    /// reaches them (see [`JoinHint`]).
    #[error("no member of the session answered at {} within {secs} s: {hint}", list(addrs))]
    JoinTimedOut {
        /// The addresses tried, in order.
        addrs: Vec<SocketAddr>,
        /// How long we tried.
        secs: u64,
        /// What the addresses tried tell about why, and what would help.
        hint: JoinHint,
    },
    /// The DHT client could not start (a bad bootstrap node, its socket).
    #[error(transparent)]
    Dht(#[from] crate::dht::DhtError),
    /// A member refused us.
    #[error("the session refused us: {0}")]
    Refused(Refusal),
    /// The session API refused a call.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The options cannot work (checked once, when the peer is made).
    #[error("invalid peer options: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A saved seat file does not parse.
    #[error("saved seat is invalid: {0}")]
    Seat(SeatError),
    /// No rendezvous service answered (it is down, unreachable, or the address is wrong).
    #[error(
        "the rendezvous service at {} did not answer {question} within {secs} s (is it running, and is the address right?)",
        list(addrs)
    )]
    RendezvousSilent {
        /// The services asked.
        addrs: Vec<SocketAddr>,
        /// How long we waited.
        secs: u64,
        /// The question nobody answered.
        question: RendezvousQuestion,
    },
    /// A rendezvous service's address does not parse or resolve.
    #[error("rendezvous service {text:?} is not a HOST:PORT that resolves: {source}")]
    BadRendezvous {
        /// What was given.
        text: String,
        /// Why it does not resolve (`AddrNotAvailable`: it resolves to no address).
        source: io::Error,
    },
    /// A STUN server's `HOST:PORT` does not parse or resolve.
    #[error("STUN server {text:?} is not a HOST:PORT that resolves: {source}")]
    BadStunServer {
        /// What was given.
        text: String,
        /// Why it does not resolve.
        source: io::Error,
    },
    /// Online play was chosen, but none of the public STUN servers resolves (no internet,
    /// or no name service).
    #[error("none of the public STUN servers resolves (is this machine online?); name one with --stun HOST:PORT")]
    NoPublicStun,
    /// The rendezvous service lists nobody in the session, and the code names no address.
    #[error("nobody in this session is registered at the rendezvous service (the session may have ended)")]
    NobodyListed,
}

/// What a join that nobody answered tried, as a hint for the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JoinHint {
    /// Only home-network (private) addresses, and no rendezvous service: from another
    /// network nothing reaches them.
    #[error(
        "the code names only home-network addresses; from another network, the host needs a \
         rendezvous service (--rendezvous), online play (--online) behind a router that maps \
         ports, or to be on your network"
    )]
    HomeNetworkOnly,
    /// A public address of the code (where STUN saw the host) did not answer, and no
    /// rendezvous service was asked: a router that lets in only what its home sent first
    /// drops a joiner nobody announced.
    #[error(
        "the host's public address did not answer: its router may let in only what the host sent \
         first; the host needs a router that maps ports (online play or --port-mapping), or both of \
         you a rendezvous service (--rendezvous); or the session has ended, or the code is not this \
         session's"
    )]
    PublicUnanswered,
    /// Addresses that should be reachable did not answer.
    #[error("the session may have ended, or the code is not this session's")]
    Unanswered,
    /// Our router gives every destination another port (a symmetric NAT, told by two STUN
    /// servers) and mapped no port for the game, and no path through it answered.
    #[error(
        "your router gives every destination another port (a symmetric NAT) and mapped no port for the \
         game: turn on UPnP or NAT-PMP in your router (and play with --port-mapping or --online), ask the \
         host to do the same, or join through a rendezvous service that relays"
    )]
    SymmetricWithoutMapping,
    /// The rendezvous service listed members, but none answered our probes through the
    /// routers, and no relay carried the join.
    #[error(
        "the rendezvous service listed {listed} player(s), but none answered through the routers: a router \
         that maps ports (--port-mapping) on either side would open a direct path"
    )]
    NoPath {
        /// The members the service listed.
        listed: usize,
    },
    /// The DHT was asked for the session, but no DHT node answered.
    #[error(
        "no node of the BitTorrent DHT answered: check your connection (game netcheck --online), or join \
         through a rendezvous service (--rendezvous)"
    )]
    DhtSilent,
    /// The DHT answered, but holds no record of this session.
    #[error(
        "the DHT holds no record of this session: it may have ended (nobody is left to publish it), or \
         the code is not this session's"
    )]
    DhtNothingFound,
    /// The DHT named the session's members and we knocked, but none answered through the
    /// routers.
    #[error(
        "the DHT named the session's players, but none answered through the routers: a router that maps \
         ports (--port-mapping) on either side, or a rendezvous service (--rendezvous), would help"
    )]
    DhtUnanswered,
}

/// A question a joiner asks the rendezvous services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RendezvousQuestion {
    /// Where it sees us (our address on the internet).
    #[error("where it sees us")]
    Address,
    /// Who the session's members are.
    #[error("who is in the session")]
    Members,
}

impl JoinHint {
    /// The hint for a join that tried `addrs` (with or without a rendezvous service).
    pub fn for_addresses(addrs: &[SocketAddr], services: bool) -> JoinHint {
        let private = |a: &SocketAddr| match a.ip() {
            std::net::IpAddr::V4(ip) => {
                ip.is_private() || ip.is_link_local() || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64)
            }
            std::net::IpAddr::V6(ip) => ip.is_unique_local() || ip.is_unicast_link_local(),
        };
        let public = |a: &SocketAddr| !private(a) && !a.ip().is_loopback() && !a.ip().is_unspecified();
        if services || addrs.is_empty() {
            JoinHint::Unanswered
        } else if addrs.iter().all(private) {
            JoinHint::HomeNetworkOnly
        } else if addrs.iter().any(public) {
            JoinHint::PublicUnanswered
        } else {
            JoinHint::Unanswered
        }
    }
}

/// Addresses as a comma-separated list.
pub(crate) fn list(addrs: &[SocketAddr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// One UDP socket carrying a session's datagrams, the traversal that routes them when the
/// peer uses a rendezvous service, and the STUN client asking where the internet sees
/// the socket. It is the socket's one demultiplexer: an answer to our STUN requests
/// (cookie, our transaction id, the server's address) goes to the STUN client, probes and
/// rendezvous frames (first bytes `0xFF 'N' 'C'`) to the traversal, the rest to the session.
pub struct UdpTransport {
    socket: UdpSocket,
    local: SocketAddr,
    /// What starts its log lines: the session's tag, once a peer set it.
    tag: crate::LogTag,
    /// Destinations whose datagrams are dropped (see [`UdpTransport::block`]).
    blocked: BTreeSet<SocketAddr>,
    conditioner: Option<Conditioner>,
    traversal: Option<Traversal>,
    stun: Option<StunClient>,
    portmap: Option<PortMapper>,
    /// The UPnP-IGD thread of the port mapper (declared last: dropped after the deletion
    /// is queued, it lets that finish).
    upnp: Option<UpnpWorker>,
    transmits: Vec<Transmit>,
    wire: Vec<(SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
}

impl UdpTransport {
    /// Binds `addr` (port 0: any free port), non-blocking; what it sends goes through
    /// `conditions` ([`LinkConditions::perfect`]: straight out).
    pub fn bind(addr: SocketAddr, conditions: LinkConditions) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        Ok(UdpTransport {
            socket,
            local,
            tag: crate::LogTag::default(),
            blocked: BTreeSet::new(),
            conditioner: Conditioner::new(conditions),
            traversal: None,
            stun: None,
            portmap: None,
            upnp: None,
            transmits: Vec::new(),
            wire: Vec::new(),
            buf: vec![0; RECV_BUFFER_BYTES],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts its log lines, and its traversal's, with the session's tag.
    pub(crate) fn set_log_tag(&mut self, tag: crate::LogTag) {
        self.tag = tag;
        if let Some(t) = self.traversal.as_mut() {
            t.set_log_tag(tag);
        }
    }

    /// Routes datagrams through `traversal` from now on.
    pub fn set_traversal(&mut self, mut traversal: Traversal) {
        traversal.set_log_tag(self.tag);
        self.traversal = Some(traversal);
    }

    /// The traversal routing datagrams, if any.
    pub fn traversal(&self) -> Option<&Traversal> {
        self.traversal.as_ref()
    }

    /// The traversal routing datagrams, if any.
    pub fn traversal_mut(&mut self) -> Option<&mut Traversal> {
        self.traversal.as_mut()
    }

    /// Asks STUN servers through `client` from now on (its requests go out with the next
    /// [`UdpTransport::send`]; call [`StunClient::start`] first).
    pub fn set_stun(&mut self, client: StunClient) {
        self.stun = Some(client);
    }

    /// The STUN client, if any: the reflexive address per server, the NAT's mapping.
    pub fn stun(&self) -> Option<&StunClient> {
        self.stun.as_ref()
    }

    /// The STUN client, if any, to ask again ([`StunClient::start`]).
    pub fn stun_mut(&mut self) -> Option<&mut StunClient> {
        self.stun.as_mut()
    }

    /// Maps the socket's port at the router through `mapper` from now on (call
    /// [`PortMapper::start`] first), its UPnP-IGD steps on `upnp` when given. The mapping is
    /// deleted when the transport is dropped.
    pub fn set_portmap(&mut self, mapper: PortMapper, upnp: Option<UpnpWorker>) {
        self.portmap = Some(mapper);
        self.upnp = upnp;
    }

    /// The port mapper, if any: the mapping the router granted.
    pub fn portmap(&self) -> Option<&PortMapper> {
        self.portmap.as_ref()
    }

    /// The port mapper, if any (to release the mapping on leave).
    pub fn portmap_mut(&mut self) -> Option<&mut PortMapper> {
        self.portmap.as_mut()
    }

    /// Drops everything sent to `addr` (a wire address) from now on, as a broken route
    /// would (to try relaying on one machine; feature `test-util`); `unblock` restores it.
    #[cfg(any(test, feature = "test-util"))]
    pub fn block(&mut self, addr: SocketAddr) {
        self.blocked.insert(addr);
    }

    /// Undoes [`UdpTransport::block`].
    #[cfg(any(test, feature = "test-util"))]
    pub fn unblock(&mut self, addr: SocketAddr) {
        self.blocked.remove(&addr);
    }

    /// Feeds every datagram waiting on the socket to `session` (through the traversal,
    /// when set); `None` before a session exists: only the traversal's own frames count.
    pub fn receive(&mut self, session: Option<&mut Session>, now: Duration) -> io::Result<()> {
        self.receive_each(session, now, |_, _| false)
    }

    /// Puts `bytes` for `to` on the wire with the next [`UdpTransport::send`].
    pub(crate) fn queue(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.wire.push((to, bytes));
    }

    /// As [`UdpTransport::receive`], offering each datagram to `first` before the STUN
    /// client, the traversal and the session (it returns whether it took it).
    pub(crate) fn receive_each(
        &mut self,
        mut session: Option<&mut Session>,
        now: Duration,
        mut first: impl FnMut(SocketAddr, &[u8]) -> bool,
    ) -> io::Result<()> {
        loop {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                // A previous send to a closed port (ICMP unreachable on some systems).
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused) => continue,
                Err(e) => return Err(e),
            };
            let bytes = &mut self.buf[..n];
            if first(from, bytes) {
                continue;
            }
            if let Some(portmap) = self.portmap.as_mut()
                && portmap.handle(from, bytes, now)
            {
                continue;
            }
            if let Some(stun) = self.stun.as_mut()
                && stun.handle(from, bytes, now)
            {
                continue;
            }
            let incoming = match self.traversal.as_mut() {
                Some(t) => t.receive(from, bytes, now),
                None => Incoming::Session(from),
            };
            let Some(session) = session.as_deref_mut() else {
                continue;
            };
            match incoming {
                Incoming::Session(addr) => session.handle_datagram(addr, bytes),
                Incoming::Relayed(addr, mut payload) => session.handle_datagram(addr, &mut payload),
                Incoming::Consumed => {}
            }
        }
    }

    /// Puts what `session` queued (if any), what the traversal has to say and the STUN
    /// requests due by `now` on the wire, through the conditioner when set.
    pub fn send(&mut self, session: Option<&mut Session>, now: Duration) -> io::Result<()> {
        if let Some(session) = session {
            session.drain_transmits(&mut self.transmits);
        }
        let mut wire = std::mem::take(&mut self.wire);
        match self.traversal.as_mut() {
            Some(t) => {
                for tr in self.transmits.drain(..) {
                    t.send(tr.to, tr.bytes);
                }
                t.drain(&mut wire);
            }
            None => wire.extend(self.transmits.drain(..).map(|t| (t.to, t.bytes))),
        }
        if let Some(stun) = self.stun.as_mut() {
            stun.update(now);
            stun.drain(&mut wire);
        }
        self.step_portmap(&mut wire, now);
        let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for (to, bytes) in wire.drain(..) {
            if self.blocked.contains(&to) {
                continue;
            }
            match self.conditioner.as_mut() {
                Some(c) => c.delay(now, to, bytes),
                None => out.push((to, bytes)),
            }
        }
        self.wire = wire;
        if let Some(c) = self.conditioner.as_mut() {
            out.extend(c.due(now));
        }
        for (to, bytes) in out {
            match self.socket.send_to(&bytes, to) {
                Ok(_) => {}
                // A full socket buffer or an unreachable peer loses a datagram, as the
                // network would: liveness and resends deal with it.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::ConnectionRefused) => {}
                Err(e) => log::debug!("{} send to {to} failed: {e}", self.tag),
            }
        }
        Ok(())
    }
}

impl UdpTransport {
    /// Advances the port mapper: its datagrams into `wire`, its UPnP steps to the thread
    /// and the thread's outcomes back.
    fn step_portmap(&mut self, wire: &mut Vec<(SocketAddr, Vec<u8>)>, now: Duration) {
        let Some(portmap) = self.portmap.as_mut() else {
            return;
        };
        if let Some(upnp) = &self.upnp {
            while let Some(event) = upnp.try_recv() {
                portmap.handle_upnp(event, now);
            }
        }
        portmap.update(now);
        portmap.drain(wire);
        while let Some(command) = portmap.poll_upnp() {
            if let Some(upnp) = &self.upnp {
                upnp.send(command);
            }
        }
    }

    /// When a datagram the conditioner holds back, a STUN or port-mapping retransmission,
    /// or a mapping's renewal is due, if any.
    pub fn next_release(&self) -> Option<Duration> {
        let held = self.conditioner.as_ref().and_then(Conditioner::next_due);
        let stun = self.stun.as_ref().and_then(StunClient::poll_timeout);
        let portmap = self.portmap.as_ref().and_then(PortMapper::poll_timeout);
        [held, stun, portmap].into_iter().flatten().min()
    }

    /// Deletes the port mapping now (on leave; dropping the transport does it too): the
    /// request goes straight to the gateway, not through the conditioner.
    pub fn release_mapping(&mut self) {
        let Some(portmap) = self.portmap.as_mut() else {
            return;
        };
        portmap.release();
        let mut wire = Vec::new();
        portmap.drain(&mut wire);
        while let Some(command) = portmap.poll_upnp() {
            if let Some(upnp) = &self.upnp {
                upnp.send(command);
            }
        }
        for (to, bytes) in wire {
            if let Err(e) = self.socket.send_to(&bytes, to) {
                log::debug!("{} port mapping: the deletion to {to} failed: {e}", self.tag);
            }
        }
    }

    /// Ends everything this socket does for a join given up: puts what `session` and the
    /// traversal queued (their last word: a dial's disconnect, a service's leave) on the
    /// wire at once, deletes the port mapping, and forgets the traversal, the STUN client,
    /// the mapper and the conditioner's queue, so that nothing more is ever sent.
    pub fn close(&mut self, session: Option<&mut Session>) {
        self.release_mapping();
        self.portmap = None;
        self.stun = None;
        self.conditioner = None;
        if let Some(session) = session {
            session.drain_transmits(&mut self.transmits);
        }
        let mut wire = Vec::new();
        match self.traversal.take() {
            Some(mut t) => {
                for tr in self.transmits.drain(..) {
                    t.send(tr.to, tr.bytes);
                }
                t.drain(&mut wire);
            }
            None => wire.extend(self.transmits.drain(..).map(|t| (t.to, t.bytes))),
        }
        for (to, bytes) in wire {
            if !self.blocked.contains(&to)
                && let Err(e) = self.socket.send_to(&bytes, to)
            {
                log::debug!("{} the last word to {to} failed: {e}", self.tag);
            }
        }
    }

    /// Blocks until a datagram is waiting on the socket or `timeout` passed (whichever
    /// comes first); a driver calls it between two polls instead of sleeping, so that it
    /// neither spins nor answers late. Errors of the socket are returned.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if timeout.is_zero() {
            return Ok(());
        }
        self.socket.set_nonblocking(false)?;
        self.socket.set_read_timeout(Some(timeout))?;
        let waited = match self.socket.peek_from(&mut self.buf) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
            // An ICMP error of an earlier send: `receive` skips it.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused) => Ok(()),
            Err(e) => Err(e),
        };
        self.socket.set_nonblocking(true)?;
        waited
    }
}

impl Drop for UdpTransport {
    /// Deletes the port mapping, if any (the UPnP thread finishes that when it drops).
    fn drop(&mut self) {
        self.release_mapping();
    }
}

/// Session time for real processes: UNIX time at start plus a monotonic clock since.
/// Connect tokens carry their expiry as UNIX seconds, so peers must share that base (on
/// different machines, clocks must agree within `SessionConfig::token_expire`).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Duration,
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            base: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
            start: Instant::now(),
        }
    }
}

impl Clock {
    /// Now, as session time.
    pub fn now(&self) -> Duration {
        self.base + self.start.elapsed()
    }
}

mod conditions;
mod dht;
mod driver;
mod mapping;
mod netcheck;
mod options;
mod peer;
mod resolve;
mod seat;
mod service_check;
mod setup;
mod signalling;

pub use crate::dht::DhtReport;
pub use crate::session::JoinPhase;
pub use dht::DhtCounts;
pub use driver::Driver;
pub use netcheck::{Advice, NetReport, NetcheckOptions, PortMapReport, StunReport, netcheck};
pub use options::PeerOptions;
pub use peer::{Peer, resolve_rendezvous};
pub use resolve::stun_servers;
pub use seat::{Seat, SeatError};
pub use service_check::RendezvousReport;

#[cfg(test)]
mod setup_tests;
#[cfg(test)]
mod stun_tests;
#[cfg(test)]
mod tests;
