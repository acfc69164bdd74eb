//! The real network: one UDP socket per peer drives a [`Session`], with an optional
//! conditioner (added latency, jitter and loss) to try a bad network on one machine.
//!
//! The session stays sans-IO; this module is its edge. Every link is a renetcode
//! connection in secure mode (encrypted and authenticated with the session key), all of a
//! peer's links share its one socket, and renetcode's server and clients demultiplex by
//! address. [`Peer`] bundles a session, its socket and a clock for programs that just want
//! to host or join with an invite code.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use rand::rngs::StdRng;
use thiserror::Error;

use crate::invite::{Invite, InviteError, MAX_ADDRS};
use crate::protocol::Refusal;
use crate::session::{Credentials, PeerSetup, Session, SessionError, SessionKey};
use crate::{PeerId, SessionConfig, Transmit};

/// Largest datagram read from the socket (netcode packets are at most 1300 bytes).
const RECV_BUFFER_BYTES: usize = 2048;
/// Largest added latency or jitter accepted from the command line, in ms.
const MAX_CONDITION_MS: f64 = 10_000.0;
/// Most datagrams a conditioner holds back at once; beyond, new ones are dropped.
const CONDITIONER_QUEUE: usize = 65_536;

/// Errors of the real transport.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The socket failed.
    #[error("network error: {0}")]
    Io(#[from] io::Error),
    /// The invite code does not decode.
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// Nobody accepted us in time: the members listed are gone, or the code's key is not
    /// the session's (netcode ignores a connect token it cannot open, by design).
    #[error(
        "invite code is invalid: no member of the session answered at {addrs} within {secs} s \
         (the session may have ended, or the code is not this session's)"
    )]
    JoinTimedOut {
        /// The addresses tried.
        addrs: String,
        /// How long we tried.
        secs: u64,
    },
    /// A member refused us.
    #[error("the session refused us: {0}")]
    Refused(Refusal),
    /// The session API refused a call.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A saved seat file does not parse.
    #[error("saved seat is invalid: {0}")]
    Seat(String),
}

/// Conditions the conditioner adds to every datagram this peer sends.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Conditions {
    /// Added one-way latency. Default: none.
    pub latency: Duration,
    /// Uniform jitter around the latency (±). Default: none.
    pub jitter: Duration,
    /// Probability that a datagram is dropped. Default: 0.
    pub loss: f64,
}

impl Conditions {
    /// Conditions from command-line values (`--sim-latency MS --sim-jitter MS --sim-loss P`),
    /// with an error naming the flag that is out of range.
    pub fn from_flags(latency_ms: f64, jitter_ms: f64, loss: f64) -> Result<Conditions, String> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=MAX_CONDITION_MS).contains(&v) {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(format!("--{name} must be within 0..={MAX_CONDITION_MS} ms, got {v}"))
            }
        };
        if !(0.0..=1.0).contains(&loss) {
            return Err(format!("--sim-loss must be within 0..=1, got {loss}"));
        }
        Ok(Conditions {
            latency: ms("sim-latency", latency_ms)?,
            jitter: ms("sim-jitter", jitter_ms)?,
            loss,
        })
    }

    /// Whether these conditions change anything.
    pub fn is_perfect(&self) -> bool {
        self.latency.is_zero() && self.jitter.is_zero() && self.loss <= 0.0
    }
}

/// A held-back datagram: when it leaves, a sequence number (ties keep their order),
/// where to, and its bytes.
type Held = (Duration, u64, SocketAddr, Vec<u8>);

/// Datagrams held back until their time comes.
struct Conditioner {
    conditions: Conditions,
    rng: StdRng,
    queue: BinaryHeap<Reverse<Held>>,
    seq: u64,
}

impl Conditioner {
    fn delay(&mut self, now: Duration, to: SocketAddr, bytes: Vec<u8>) {
        let c = self.conditions;
        if self.rng.random_bool(c.loss.clamp(0.0, 1.0)) || self.queue.len() >= CONDITIONER_QUEUE {
            return;
        }
        let jitter = c.jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            self.rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        let delay = (c.latency.as_secs_f64() + offset).max(0.0);
        self.seq += 1;
        self.queue
            .push(Reverse((now + Duration::from_secs_f64(delay), self.seq, to, bytes)));
    }

    fn due(&mut self, now: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while self.queue.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
            let Reverse((_, _, to, bytes)) = self.queue.pop().expect("peeked");
            out.push((to, bytes));
        }
        out
    }
}

/// One UDP socket carrying a session's datagrams.
pub struct UdpTransport {
    socket: UdpSocket,
    local: SocketAddr,
    /// Destinations whose datagrams are dropped (see [`UdpTransport::block`]).
    blocked: BTreeSet<SocketAddr>,
    conditioner: Option<Conditioner>,
    transmits: Vec<Transmit>,
    buf: Vec<u8>,
}

impl UdpTransport {
    /// Binds `addr` (port 0: any free port), non-blocking, with optional `conditions`.
    pub fn bind(addr: SocketAddr, conditions: Conditions) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let conditioner = (!conditions.is_perfect()).then(|| Conditioner {
            conditions,
            rng: rand::make_rng(),
            queue: BinaryHeap::new(),
            seq: 0,
        });
        Ok(UdpTransport {
            socket,
            local,
            blocked: BTreeSet::new(),
            conditioner,
            transmits: Vec::new(),
            buf: vec![0; RECV_BUFFER_BYTES],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Drops everything sent to `addr` from now on, as a broken route would (to try
    /// relaying on one machine); `unblock` restores it.
    pub fn block(&mut self, addr: SocketAddr) {
        self.blocked.insert(addr);
    }

    /// Undoes [`UdpTransport::block`].
    pub fn unblock(&mut self, addr: SocketAddr) {
        self.blocked.remove(&addr);
    }

    /// Feeds every datagram waiting on the socket to `session`.
    pub fn receive(&mut self, session: &mut Session) -> io::Result<()> {
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => session.handle_datagram(from, &mut self.buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                // A previous send to a closed port (ICMP unreachable on some systems).
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts what `session` queued on the wire (through the conditioner when set).
    pub fn send(&mut self, session: &mut Session, now: Duration) -> io::Result<()> {
        session.drain_transmits(&mut self.transmits);
        let mut out: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for t in self.transmits.drain(..) {
            if self.blocked.contains(&t.to) {
                continue;
            }
            match self.conditioner.as_mut() {
                Some(c) => c.delay(now, t.to, t.bytes),
                None => out.push((t.to, t.bytes)),
            }
        }
        if let Some(c) = self.conditioner.as_mut() {
            out.extend(c.due(now));
        }
        for (to, bytes) in out {
            match self.socket.send_to(&bytes, to) {
                Ok(_) => {}
                // A full socket buffer or an unreachable peer loses a datagram, as the
                // network would: liveness and resends deal with it.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::ConnectionRefused) => {}
                Err(e) => log::debug!("send to {to} failed: {e}"),
            }
        }
        Ok(())
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

/// How a [`Peer`] takes part.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Display name. Default: "player".
    pub name: String,
    /// Address to bind. Default: `0.0.0.0:0` (all interfaces, any free port).
    pub bind: SocketAddr,
    /// Address other peers reach us at. Default: the bound port on the address this
    /// machine uses to reach the internet; without a default route, on its first
    /// non-loopback interface address; loopback when there is none (when binding to a
    /// concrete address, that address).
    pub advertise: Option<SocketAddr>,
    /// Session tuning. Default: [`SessionConfig::default`].
    pub config: SessionConfig,
    /// Conditioner on what this peer sends. Default: none.
    pub conditions: Conditions,
    /// How long to try joining before giving up. Default: 10 s.
    pub join_timeout: Duration,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            name: "player".into(),
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            advertise: None,
            config: SessionConfig::default(),
            conditions: Conditions::default(),
            join_timeout: Duration::from_secs(10),
        }
    }
}

/// What a restarted process needs to take its seat back: the session and where its members
/// were, and the seat's identity and secret. Saved as a few `name value` lines.
#[derive(Clone, PartialEq, Eq)]
pub struct Seat {
    /// The session and the members' addresses when saved.
    pub invite: Invite,
    /// Identity and secret.
    pub credentials: Credentials,
}

impl fmt::Debug for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seat")
            .field("invite", &self.invite)
            .field("peer", &self.credentials.peer)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invite {}", self.invite)?;
        writeln!(f, "peer {:016x}", self.credentials.peer.0)?;
        let hex: String = self.credentials.secret.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "secret {hex}")
    }
}

impl FromStr for Seat {
    type Err = TransportError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |what: &str| TransportError::Seat(what.to_string());
        let (mut invite, mut peer, mut secret) = (None, None, None);
        for line in text.lines().take(16) {
            match line.trim().split_once(' ') {
                Some(("invite", v)) => invite = Some(Invite::decode(v)?),
                Some(("peer", v)) => peer = Some(u64::from_str_radix(v.trim(), 16).map_err(|_| bad("bad peer id"))?),
                Some(("secret", v)) => {
                    let v = v.trim();
                    if v.len() != 64 || !v.is_ascii() {
                        return Err(bad("the secret should be 64 hex digits"));
                    }
                    let mut s = [0u8; 32];
                    for (i, b) in s.iter_mut().enumerate() {
                        *b = u8::from_str_radix(&v[2 * i..2 * i + 2], 16).map_err(|_| bad("bad secret"))?;
                    }
                    secret = Some(s);
                }
                _ => {}
            }
        }
        let credentials = Credentials {
            peer: PeerId(peer.ok_or_else(|| bad("no peer line"))?),
            secret: secret.ok_or_else(|| bad("no secret line"))?,
        };
        credentials
            .check()
            .map_err(|_| bad("the secret does not own the peer id (damaged seat file)"))?;
        Ok(Seat {
            invite: invite.ok_or_else(|| bad("no invite line"))?,
            credentials,
        })
    }
}

/// A session on a real UDP socket, with its clock: host, join or rejoin, then call
/// [`Peer::poll`] often (every frame, or every few milliseconds).
pub struct Peer {
    session: Session,
    transport: UdpTransport,
    clock: Clock,
    session_key: SessionKey,
    /// While joining: when to give up, and the addresses tried.
    joining: Option<(Duration, Vec<SocketAddr>)>,
    join_timeout: Duration,
}

impl Peer {
    /// Starts a new session with this peer as its host.
    pub fn host(options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let key = SessionKey {
            id: rng.random(),
            key: rng.random(),
        };
        let (transport, setup, clock) = Self::open(&options, key.clone())?;
        let session = Session::create(setup, clock.now(), &mut rng);
        Ok(Self::with(session, transport, clock, key, None, options.join_timeout))
    }

    /// Joins the session of an invite.
    pub fn join(invite: &Invite, options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        Self::enter(invite, &options, |setup, now| {
            Session::join(setup, invite.addrs.clone(), now, &mut rng)
        })
    }

    /// Takes a saved seat back (a restarted process): same PeerId, same state.
    pub fn rejoin(seat: &Seat, options: PeerOptions) -> Result<Peer, TransportError> {
        Self::enter(&seat.invite, &options, |setup, now| {
            Session::rejoin(setup, seat.credentials, seat.invite.addrs.clone(), now)
        })
    }

    /// Opens the socket and starts joining through the invite's members with `start`.
    fn enter(
        invite: &Invite,
        options: &PeerOptions,
        start: impl FnOnce(PeerSetup, Duration) -> Result<Session, SessionError>,
    ) -> Result<Peer, TransportError> {
        let (transport, setup, clock) = Self::open(options, invite.session.clone())?;
        let session = start(setup, clock.now())?;
        let joining = Some((clock.now() + options.join_timeout, invite.addrs.clone()));
        Ok(Self::with(
            session,
            transport,
            clock,
            invite.session.clone(),
            joining,
            options.join_timeout,
        ))
    }

    fn open(options: &PeerOptions, session: SessionKey) -> Result<(UdpTransport, PeerSetup, Clock), TransportError> {
        let transport = UdpTransport::bind(options.bind, options.conditions)?;
        let local = transport.local_addr();
        let addr = options.advertise.unwrap_or_else(|| advertised(local));
        let setup = PeerSetup {
            config: options.config.clone(),
            name: options.name.clone(),
            addr,
            session,
        };
        Ok((transport, setup, Clock::default()))
    }

    fn with(
        session: Session,
        transport: UdpTransport,
        clock: Clock,
        session_key: SessionKey,
        joining: Option<(Duration, Vec<SocketAddr>)>,
        join_timeout: Duration,
    ) -> Peer {
        Peer {
            session,
            transport,
            clock,
            session_key,
            joining,
            join_timeout,
        }
    }

    /// Receives, advances the session to now, and sends. Fails when the join timed out or
    /// was refused (nothing else about the session is an error: read its events).
    pub fn poll(&mut self) -> Result<(), TransportError> {
        self.transport.receive(&mut self.session)?;
        let now = self.clock.now();
        self.session.update(now);
        self.transport.send(&mut self.session, now)?;
        if let Some(reason) = self.session.refusal() {
            return Err(TransportError::Refused(reason));
        }
        if let Some((deadline, addrs)) = &self.joining {
            if self.session.in_session() {
                self.joining = None;
            } else if now >= *deadline {
                let addrs = addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                return Err(TransportError::JoinTimedOut {
                    addrs,
                    secs: self.join_timeout.as_secs(),
                });
            }
        }
        Ok(())
    }

    /// Session time now.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, to publish state or write entries.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    /// The socket, to block a route (see [`UdpTransport::block`]).
    pub fn transport_mut(&mut self) -> &mut UdpTransport {
        &mut self.transport
    }

    /// An invite to this session: this peer's address first, then the other active members'.
    pub fn invite(&self) -> Invite {
        let me = self.session.local_addr();
        let mut addrs = vec![me];
        for m in self.session.roster().active() {
            if m.addr != me && addrs.len() < MAX_ADDRS {
                addrs.push(m.addr);
            }
        }
        Invite {
            addrs,
            session: self.session_key.clone(),
        }
    }

    /// What to save so that a restarted process takes this seat back; its invite lists the
    /// other members first, the host and its successors before the rest
    /// ([`Session::rejoin_contacts`]), and this peer's own address last (it dies with the
    /// process).
    pub fn seat(&self) -> Seat {
        let mut addrs = self.session.rejoin_contacts();
        addrs.truncate(MAX_ADDRS - 1);
        addrs.push(self.session.local_addr());
        Seat {
            invite: Invite {
                addrs,
                session: self.session_key.clone(),
            },
            credentials: self.session.credentials(),
        }
    }

    /// Leaves gracefully: call [`Peer::poll`] until the session reports it left (a host
    /// hands over first).
    pub fn leave(&mut self) {
        let now = self.clock.now();
        self.session.leave(now);
    }
}

/// The address others reach a socket bound at `local` by: `local` itself when it is a
/// concrete address; else the bound port on the address this machine uses to reach the
/// internet; on a network with no default route (a LAN party without internet), on the
/// first interface address that is not loopback; loopback only when there is none.
fn advertised(local: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    // A UDP "connect" sends nothing; it only picks the outgoing interface.
    let routed = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    let ip = routed.or_else(lan_address).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, local.port())
}

/// The first IPv4 address of an interface that is not loopback.
fn lan_address() -> Option<IpAddr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .find(IpAddr::is_ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LinkState, Scope};

    fn loopback() -> PeerOptions {
        PeerOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..PeerOptions::default()
        }
    }

    fn poll_until(peers: &mut [&mut Peer], secs: u64, mut done: impl FnMut(&[&mut Peer]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            for p in peers.iter_mut() {
                p.poll().unwrap();
            }
            if done(peers) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn two_peers_meet_on_loopback_through_an_invite() {
        let mut host = Peer::host(loopback()).unwrap();
        let code = host.invite().encode();
        let mut guest = Peer::join(&Invite::decode(&code).unwrap(), loopback()).unwrap();
        let met = poll_until(&mut [&mut host, &mut guest], 10, |p| {
            p.iter()
                .all(|p| p.session().in_session() && p.session().roster().active().count() == 2)
        });
        assert!(met, "the guest joined");
        assert_eq!(guest.session().host(), Some(host.session().peer_id()));
    }

    #[test]
    fn peers_that_cannot_reach_each_other_are_relayed() {
        let mut host = Peer::host(loopback()).unwrap();
        let invite = host.invite();
        let mut a = Peer::join(&invite, loopback()).unwrap();
        let mut c = Peer::join(&invite, loopback()).unwrap();
        let direct = |p: &[&mut Peer]| {
            p.iter().all(|x| {
                let s = x.session();
                s.in_session()
                    && s.roster().active().count() == 3
                    && s.roster()
                        .active()
                        .all(|m| m.id == s.peer_id() || s.link_state(m.id) == LinkState::Direct)
            })
        };
        assert!(poll_until(&mut [&mut host, &mut a, &mut c], 10, direct), "mesh formed");
        let (a_addr, c_addr) = (a.session().local_addr(), c.session().local_addr());
        a.transport_mut().block(c_addr);
        c.transport_mut().block(a_addr);
        let (a_id, c_id) = (a.session().peer_id(), c.session().peer_id());
        let relayed = |p: &[&mut Peer]| {
            p[1].session().link_state(c_id) == LinkState::Relayed
                && p[2].session().link_state(a_id) == LinkState::Relayed
        };
        assert!(poll_until(&mut [&mut host, &mut a, &mut c], 10, relayed), "relayed");
        c.session_mut()
            .set_own("note", Some(b"through the host".to_vec()))
            .unwrap();
        let arrived = |p: &[&mut Peer]| p[1].session().store().get(Scope::Peer(c_id), "note").is_some();
        assert!(
            poll_until(&mut [&mut host, &mut a, &mut c], 10, arrived),
            "state crosses the relay"
        );
        for p in [&host, &a, &c] {
            assert_eq!(p.session().roster().active().count(), 3, "nobody was dropped");
        }
    }

    #[test]
    fn a_wrong_key_times_out_with_a_clear_error() {
        let mut host = Peer::host(loopback()).unwrap();
        let mut invite = host.invite();
        invite.session.key[0] ^= 1;
        let options = PeerOptions {
            join_timeout: Duration::from_millis(800),
            ..loopback()
        };
        let mut guest = Peer::join(&invite, options).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = loop {
            host.poll().unwrap();
            if let Err(e) = guest.poll() {
                break e;
            }
            assert!(Instant::now() < deadline, "never gave up");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert!(err.to_string().starts_with("invite code is invalid: "), "{err}");
        assert_eq!(host.session().roster().active().count(), 1, "the host never saw it");
        assert_eq!(host.session().stats().rejected_messages, 0);
    }

    #[test]
    fn a_stale_code_times_out_with_a_clear_error() {
        let host = Peer::host(loopback()).unwrap();
        let invite = host.invite();
        drop(host); // The session ended: its socket is closed.
        let options = PeerOptions {
            join_timeout: Duration::from_millis(500),
            ..loopback()
        };
        let mut guest = Peer::join(&invite, options).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let err = loop {
            if let Err(e) = guest.poll() {
                break e;
            }
            assert!(Instant::now() < deadline, "never gave up");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert!(matches!(err, TransportError::JoinTimedOut { .. }), "{err}");
        assert!(err.to_string().contains("the session may have ended"), "{err}");
    }

    #[test]
    fn seats_round_trip_as_text() {
        let seat = Seat {
            invite: Invite {
                addrs: vec!["127.0.0.1:4000".parse().unwrap()],
                session: SessionKey { id: 9, key: [3; 32] },
            },
            credentials: Credentials {
                peer: crate::identity::SeatKey::from_secret(&[0x5a; 32]).peer(),
                secret: [0x5a; 32],
            },
        };
        assert_eq!(seat.to_string().parse::<Seat>().unwrap(), seat);
        let damaged = Seat {
            credentials: Credentials {
                peer: PeerId(0xabc),
                ..seat.credentials
            },
            ..seat.clone()
        };
        let err = damaged.to_string().parse::<Seat>().unwrap_err();
        assert!(err.to_string().contains("does not own the peer id"), "{err}");
        assert!("invite nc1-00\n".parse::<Seat>().is_err());
        assert!("".parse::<Seat>().is_err());
        assert!(
            format!("{seat}")
                .replace("secret 5a", "secret zz")
                .parse::<Seat>()
                .is_err()
        );
    }
}
