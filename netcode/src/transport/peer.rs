//! [`Peer`]: a session on its socket, with its clock and, with a rendezvous service, NAT
//! traversal.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use super::dht::{DhtCounts, DhtDriver};
use super::mapping::start_port_mapping;
use super::setup::{Setup, SetupPlan};
use super::{Clock, PeerOptions, Seat, TransportError, UdpTransport};
use crate::invite::{Invite, MAX_ADDRS, MAX_RENDEZVOUS};
use crate::portmap::{Mapping, PortMapConfig, PortMapper};
use crate::reach::Reach;
use crate::rendezvous::MAX_CANDIDATES;
use crate::session::{Credentials, JoinPhase, PeerSetup, Session, SessionKey};
use crate::stun::{NatMapping, StunClient, StunConfig};
use crate::traversal::{Traversal, TraversalConfig};

/// How often a peer with the DHT on looks for the DHT client's replies when nothing else
/// is due.
const DHT_REPLY_CHECK: Duration = Duration::from_millis(50);

/// A session on a real UDP socket, with its clock: host, join or rejoin (each returns at
/// once), then call [`Peer::poll`] often (every frame, or every few milliseconds): the
/// setup (the rendezvous questions, punching, the admission) advances there, reported by
/// [`Peer::join_phase`].
pub struct Peer {
    session: Session,
    transport: UdpTransport,
    clock: Clock,
    session_key: SessionKey,
    /// The rendezvous services the session is registered with (named in invites).
    rendezvous: Vec<SocketAddr>,
    /// The setup's state machine (`transport::setup`).
    setup: Setup,
    /// Discovery on the DHT, when configured (`transport::dht`).
    dht: Option<DhtDriver>,
}

/// A bound socket, its clock, and what a session is set up with, before it starts.
struct Opening {
    transport: UdpTransport,
    clock: Clock,
    setup: PeerSetup,
    rendezvous: Vec<SocketAddr>,
}

impl Peer {
    /// Starts a new session with this peer as its host, at once. With rendezvous services
    /// in `options.traversal`, it asks them (in [`Peer::poll`]) where they see it, takes
    /// that as its address while it is still alone, and registers (so friends behind NATs
    /// can join through the invite); when none answers, it hosts on its own address with a
    /// warning. [`Peer::setting_up`] tells when its address is settled.
    pub fn host(options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let key = SessionKey {
            id: rng.random(),
            key: rng.random(),
        };
        let credentials = Credentials::draw(&mut rng);
        let services = options.traversal.rendezvous.clone();
        let mut o = Self::open(&options, key.clone(), credentials, &services, rng.random())?;
        let now = o.clock.now();
        let mut session = Session::host_with(o.setup, credentials, now)?;
        let plan = SetupPlan {
            host: true,
            services: services.clone(),
            fallback: Vec::new(),
            fixed_addr: options.advertise.is_some(),
            rendezvous_timeout: options.rendezvous_timeout,
            join_timeout: options.join_timeout,
        };
        let setup = Setup::start(plan, &mut session, &mut o.transport, now);
        let dht = start_dht(&options, &key, None, now)?;
        Ok(Peer {
            session,
            transport: o.transport,
            clock: o.clock,
            session_key: key,
            rendezvous: o.rendezvous,
            setup,
            dht,
        })
    }

    /// Joins the session of an invite: binds and returns at once; the join advances in
    /// [`Peer::poll`] ([`Peer::join_phase`]). With rendezvous services (the invite's, and
    /// those in `options.traversal`), it asks them for the current members first and
    /// punches towards each; the invite's own addresses are tried after those members.
    pub fn join(invite: &Invite, options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let credentials = Credentials::draw(&mut rng);
        Self::enter(invite, options, credentials, rng.random(), false)
    }

    /// Takes a saved seat back (a restarted process): same PeerId, same state; through
    /// the rendezvous services of the seat's invite, when it names any. Returns at once,
    /// as [`Peer::join`] does.
    pub fn rejoin(seat: &Seat, options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        Self::enter(&seat.invite, options, seat.credentials, rng.random(), true)
    }

    /// Opens the socket and starts joining (or, with `rejoin`, taking the seat of
    /// `credentials` back) through the rendezvous services and the invite's addresses.
    fn enter(
        invite: &Invite,
        options: PeerOptions,
        credentials: Credentials,
        nonce_seed: u64,
        rejoin: bool,
    ) -> Result<Peer, TransportError> {
        let mut services = invite.rendezvous.clone();
        for s in &options.traversal.rendezvous {
            if !services.contains(s) && services.len() < MAX_RENDEZVOUS {
                services.push(*s);
            }
        }
        let mut o = Self::open(&options, invite.session.clone(), credentials, &services, nonce_seed)?;
        // The first member's public addresses (its router's mapping), then the members'
        // session addresses; a dial to that member names both (`link/dial.rs`).
        let mut fallback = Vec::new();
        if let Some(first) = invite.addrs.first() {
            for p in &invite.public {
                o.setup.public.push((*first, *p));
                if !fallback.contains(p) {
                    fallback.push(*p);
                }
            }
        }
        for a in &invite.addrs {
            if !fallback.contains(a) && *a != o.setup.addr {
                fallback.push(*a);
            }
        }
        // Each address gets a contact timeout of its own, in turn: a host on our own
        // network answers there at once, while its public address would not loop back.
        let ours = own_networks();
        fallback.sort_by_key(|a| !on_networks(&ours, *a));
        if services.is_empty() && fallback.is_empty() && options.dht.is_none() {
            return Err(TransportError::NobodyListed);
        }
        let now = o.clock.now();
        let mut session = Session::join_later(o.setup, credentials, rejoin, now)?;
        let plan = SetupPlan {
            host: false,
            services,
            fallback,
            fixed_addr: options.advertise.is_some(),
            rendezvous_timeout: options.rendezvous_timeout,
            join_timeout: options.join_timeout,
        };
        let setup = Setup::start(plan, &mut session, &mut o.transport, now);
        let dht = start_dht(&options, &invite.session, Some(options.join_timeout), now)?;
        Ok(Peer {
            session,
            transport: o.transport,
            clock: o.clock,
            session_key: invite.session.clone(),
            rendezvous: o.rendezvous,
            setup,
            dht,
        })
    }

    fn open(
        options: &PeerOptions,
        session: SessionKey,
        credentials: Credentials,
        services: &[SocketAddr],
        nonce_seed: u64,
    ) -> Result<Opening, TransportError> {
        options.validate()?;
        let mut transport = UdpTransport::bind(options.bind, options.conditions.clone())?;
        let local = transport.local_addr();
        // Always there (with no service too): members announce candidates through the
        // session. With nothing learned it sends nothing and routes to session addresses.
        let cfg = TraversalConfig {
            rendezvous: services.to_vec(),
            ..options.traversal.clone()
        };
        let own = candidates(local);
        transport.set_traversal(Traversal::new(cfg, &session.key, credentials.peer, own, nonce_seed));
        let addr = options.advertise.unwrap_or_else(|| advertised(local));
        transport.set_log_tag(crate::LogTag::new(session.id, credentials.peer));
        if let Some(t) = transport.traversal_mut() {
            t.set_addr(addr);
        }
        let clock = Clock::default();
        let stun_servers: Vec<SocketAddr> = options
            .stun
            .servers
            .iter()
            .filter(|s| s.is_ipv4() == local.is_ipv4())
            .copied()
            .collect();
        if !stun_servers.is_empty() {
            let cfg = StunConfig {
                servers: stun_servers,
                ..options.stun.clone()
            };
            let mut stun = StunClient::new(cfg, nonce_seed);
            stun.start(clock.now());
            transport.set_stun(stun);
        }
        if options.port_mapping {
            start_port_mapping(&mut transport, PortMapConfig::default(), nonce_seed, clock.now());
        }
        let setup = PeerSetup {
            config: options.config.clone(),
            name: options.name.clone(),
            addr,
            session,
            public: Vec::new(),
        };
        Ok(Opening {
            transport,
            clock,
            setup,
            rendezvous: services.to_vec(),
        })
    }

    /// Receives, advances the session and the traversal to now, and sends. Fails when the
    /// join timed out or was refused (nothing else about the session is an error: read
    /// its events).
    pub fn poll(&mut self) -> Result<(), TransportError> {
        let now = self.clock.now();
        if self.setup.cancelled() {
            // A join given up: what arrives is read and dropped, nothing is sent.
            return Ok(self.transport.receive(None, now)?);
        }
        self.transport.receive(Some(&mut self.session), now)?;
        share_reflexive(&mut self.transport);
        if let Some(d) = self.dht.as_mut() {
            let news = d.step(&self.session, &mut self.transport, now);
            for (local, public) in news.aliases {
                self.session.add_public(local, public);
            }
            if !news.contacts.is_empty() {
                // Our router lets in only what answers something we sent: an empty datagram
                // to each contact now lets the host's punch (once it read our knock) in,
                // and with it the news of which contact to dial (`contact_opened`).
                if let Some(t) = self.transport.traversal_mut() {
                    t.punch_towards(&news.contacts, now);
                }
                self.setup.more_contacts(&mut self.session, news.contacts);
            }
            if let Some(failure) = news.failed {
                self.setup.dht_gave_up(failure);
            }
        }
        self.setup.step(&mut self.session, &mut self.transport, now)?;
        self.session.update(now);
        super::signalling::exchange(&mut self.transport, &mut self.session, now);
        if let Some(t) = self.transport.traversal_mut() {
            let session = &mut self.session;
            t.update(now, |p| session.reach(p) == Reach::Relayed);
            for (addr, route) in t.route_changes() {
                session.route_changed(addr, route);
            }
            for addr in t.take_punched() {
                session.contact_opened(addr);
            }
        }
        self.transport.send(Some(&mut self.session), now)?;
        if let Some(reason) = self.session.refusal() {
            return Err(TransportError::Refused(reason));
        }
        Ok(())
    }

    /// Where a join (or a rejoin) stands while it is not in the session yet: the step it
    /// waits for. `None` once in the session, for a host, and after a cancel.
    pub fn join_phase(&self) -> Option<JoinPhase> {
        self.setup.phase(&self.transport)
    }

    /// Whether the setup still runs: a joiner is not in the session yet, or a host still
    /// asks its rendezvous services where they see it (its invite names its address once
    /// they answered or [`PeerOptions::rendezvous_timeout`] passed).
    pub fn setting_up(&self) -> bool {
        self.setup.running()
    }

    /// When [`Peer::poll`] is next needed if no datagram arrives first (see
    /// [`Session::poll_timeout`]; a datagram the `--sim-*` conditioner holds back may be due
    /// sooner).
    pub fn poll_timeout(&self) -> Duration {
        let session = self.session.poll_timeout();
        // The DHT client answers from its own threads: look again at least every 50 ms
        // while a DHT step is due or a reply may come.
        let dht = self.dht.as_ref().map(|d| {
            let soon = self.clock.now() + DHT_REPLY_CHECK;
            d.poll_timeout().map_or(soon, |t| t.min(soon))
        });
        let due = dht.map_or(session, |d| d.min(session));
        self.transport.next_release().map_or(due, |r| r.min(due))
    }

    /// What discovery on the DHT did so far (queries, knocks, refused values), when it is on.
    pub fn dht_counts(&self) -> Option<DhtCounts> {
        self.dht.as_ref().map(DhtDriver::counts)
    }

    /// Waits until a datagram arrives or [`Peer::poll_timeout`] (at most `limit`), instead
    /// of sleeping a fixed time between two polls: no spinning, no late answers.
    pub fn wait(&mut self, limit: Duration) -> Result<(), TransportError> {
        let timeout = self.poll_timeout().saturating_sub(self.now()).min(limit);
        Ok(self.transport.wait(timeout)?)
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

    /// The socket, to read the traversal's counters (or, with the `test-util` feature, to
    /// block a route: `UdpTransport::block`).
    pub fn transport_mut(&mut self) -> &mut UdpTransport {
        &mut self.transport
    }

    /// The socket (and its traversal).
    pub fn transport(&self) -> &UdpTransport {
        &self.transport
    }

    /// Where the internet sees this peer's socket, once a STUN server answered (the first
    /// in [`PeerOptions::stun`]'s order that did).
    pub fn reflexive(&self) -> Option<SocketAddr> {
        self.transport.stun().and_then(StunClient::reflexive)
    }

    /// How this peer's NAT maps its socket, told by two STUN servers at different
    /// addresses ([`NatMapping::Unknown`] until then, or without STUN servers).
    pub fn nat_mapping(&self) -> NatMapping {
        self.transport.stun().map_or(NatMapping::Unknown, StunClient::mapping)
    }

    /// The port mapping the home router granted ([`PeerOptions::port_mapping`]), once it
    /// answered: the protocol and the external address.
    pub fn mapped(&self) -> Option<Mapping> {
        self.transport.portmap().and_then(PortMapper::mapping)
    }

    /// The rendezvous services this peer uses (named in its invites).
    pub fn rendezvous(&self) -> &[SocketAddr] {
        &self.rendezvous
    }

    /// An invite to this session: the rendezvous services, this peer's address, then the
    /// other active members'; and where the internet reaches this peer: the port its
    /// router maps for it ([`Peer::mapped`]), and the address a STUN server saw when its
    /// router maps the same address for every destination (or only one server answered),
    /// so that a friend can dial it without any service.
    pub fn invite(&self) -> Invite {
        let me = self.session.local_addr();
        let mut addrs = vec![me];
        for m in self.session.roster().active() {
            if m.addr != me && addrs.len() < MAX_ADDRS {
                addrs.push(m.addr);
            }
        }
        let reflexive = self
            .reflexive()
            .filter(|_| self.nat_mapping() != NatMapping::EndpointDependent);
        let mut public: Vec<SocketAddr> = Vec::new();
        for a in self.mapped().map(|m| m.external).into_iter().chain(reflexive) {
            if a != me && !public.contains(&a) {
                public.push(a);
            }
        }
        Invite {
            addrs,
            rendezvous: self.rendezvous.clone(),
            public,
            session: self.session_key.clone(),
            dht: self.dht.is_some(),
        }
    }

    /// What to save so that a restarted process takes this seat back; its invite names
    /// the rendezvous services and lists the other members first, the host and its
    /// successors before the rest ([`Session::rejoin_contacts`]), and this peer's own
    /// address last (it dies with the process).
    pub fn seat(&self) -> Seat {
        let mut addrs = self.session.rejoin_contacts();
        addrs.truncate(MAX_ADDRS - 1);
        addrs.push(self.session.local_addr());
        Seat {
            invite: Invite {
                addrs,
                rendezvous: self.rendezvous.clone(),
                public: Vec::new(),
                session: self.session_key.clone(),
                dht: self.dht.is_some(),
            },
            credentials: self.session.credentials(),
        }
    }

    /// Leaves gracefully: call [`Peer::poll`] until the session reports it left (a host
    /// hands over first). The rendezvous services forget us.
    ///
    /// A join not in the session yet is cancelled, whatever its phase: it returns at once,
    /// the port mapping is deleted, a service that listed us and a contact being dialed are
    /// told once, and nothing more is ever sent ([`Peer::poll`] only reads the socket).
    pub fn leave(&mut self) {
        let now = self.clock.now();
        if self.setup.running() && !self.session.in_session() {
            if let Some(d) = self.dht.as_mut() {
                d.cancel();
            }
            let listed = self.setup.cancel();
            self.session.leave(now);
            if let Some(t) = self.transport.traversal_mut().filter(|_| listed) {
                t.leave(now);
            }
            self.transport.close(Some(&mut self.session));
            return;
        }
        self.setup.cancel_questions();
        self.session.leave(now);
        if let Some(t) = self.transport.traversal_mut() {
            t.leave(now);
        }
        self.transport.release_mapping();
    }
}

/// The DHT driver of `options` (none without a `DhtConfig`); a joiner's looks up
/// and knocks for `join_timeout`.
fn start_dht(
    options: &PeerOptions,
    key: &SessionKey,
    join_timeout: Option<Duration>,
    now: Duration,
) -> Result<Option<DhtDriver>, TransportError> {
    let Some(cfg) = options.dht.clone() else {
        return Ok(None);
    };
    Ok(Some(DhtDriver::start(cfg, key, join_timeout, now)?))
}

/// Resolves a rendezvous service's `HOST:PORT` (an address or a name), an IPv4 address
/// first (peers bind IPv4 sockets by default).
pub fn resolve_rendezvous(text: &str) -> Result<SocketAddr, TransportError> {
    use std::net::ToSocketAddrs;
    let bad = |source| TransportError::BadRendezvous {
        text: text.to_string(),
        source,
    };
    let found: Vec<SocketAddr> = text.trim().to_socket_addrs().map_err(bad)?.collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| bad(io::ErrorKind::AddrNotAvailable.into()))
}

/// Adds the address the router mapped and the reflexive address the STUN client learned
/// to the traversal's own candidates (registered with the rendezvous services, so members
/// punch towards them too).
pub(super) fn share_reflexive(transport: &mut UdpTransport) {
    let mapped = transport.portmap().and_then(PortMapper::mapping).map(|m| m.external);
    let reflexive = transport.stun().and_then(StunClient::reflexive);
    if let Some(t) = transport.traversal_mut() {
        for a in [mapped, reflexive].into_iter().flatten() {
            t.add_candidate(a);
        }
    }
}

/// The addresses a socket bound at `local` can be reached at on this machine's networks:
/// `local` itself when it is concrete; else every interface address of its family that
/// is not loopback (IPv6 only global ones: a link-local address needs a scope), with its
/// port; loopback when there is none.
pub(super) fn candidates(local: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let mut out: Vec<SocketAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(|ip| match ip {
            IpAddr::V4(_) => local.is_ipv4(),
            IpAddr::V6(v6) => local.is_ipv6() && !v6.is_unicast_link_local() && !v6.is_unique_local(),
        })
        .map(|ip| SocketAddr::new(ip, local.port()))
        .take(MAX_CANDIDATES)
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port()));
    }
    out
}

/// This machine's IPv4 networks: each interface's address and netmask, loopback aside.
fn own_networks() -> Vec<(Ipv4Addr, Ipv4Addr)> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) => Some((v4.ip, v4.netmask)),
            if_addrs::IfAddr::V6(_) => None,
        })
        .collect()
}

/// Whether `addr` is on one of `networks`.
fn on_networks(networks: &[(Ipv4Addr, Ipv4Addr)], addr: SocketAddr) -> bool {
    let IpAddr::V4(ip) = addr.ip() else { return false };
    networks
        .iter()
        .any(|(own, mask)| u32::from(*own) & u32::from(*mask) == u32::from(ip) & u32::from(*mask))
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
mod network_tests {
    use super::*;

    #[test]
    fn an_address_on_our_own_network_is_told_apart() {
        let home = [(Ipv4Addr::new(10, 1, 0, 3), Ipv4Addr::new(255, 255, 255, 0))];
        let at = |s: &str| -> SocketAddr { s.parse().unwrap() };
        assert!(on_networks(&home, at("10.1.0.2:5000")));
        assert!(!on_networks(&home, at("10.1.1.2:5000")));
        assert!(!on_networks(&home, at("198.51.100.11:5000")));
        assert!(!on_networks(&home, at("[2001:db8::1]:5000")));
        let mut contacts = vec![at("198.51.100.11:5000"), at("10.1.0.2:5000")];
        contacts.sort_by_key(|a| !on_networks(&home, *a));
        assert_eq!(contacts, vec![at("10.1.0.2:5000"), at("198.51.100.11:5000")]);
    }
}
