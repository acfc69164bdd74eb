//! [`Peer`]: a session on its socket, with its clock and, with a rendezvous service, NAT
//! traversal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use super::mapping::start_port_mapping;
use super::{Clock, JoinHint, LinkConditions, Seat, TransportError, UdpTransport};
use crate::invite::{Invite, MAX_ADDRS, MAX_RENDEZVOUS};
use crate::portmap::{Mapping, PortMapConfig, PortMapper};
use crate::rendezvous::MAX_CANDIDATES;
use crate::session::{Credentials, PeerSetup, Session, SessionError, SessionKey};
use crate::stun::{NatMapping, StunClient, StunConfig};
use crate::traversal::{Traversal, TraversalConfig};
use crate::{LinkState, SessionConfig};

/// How often a question to the rendezvous service is asked again while no answer came.
const ASK_EVERY: Duration = Duration::from_millis(250);
/// Sleep between polls of the socket while waiting for the rendezvous service.
const ASK_POLL: Duration = Duration::from_millis(2);
/// How long a joiner punches towards the members the service listed before it asks one
/// to admit it: long enough for a punch through ordinary NATs (a few round trips), so
/// that a member it reaches directly is asked first; the session tries one contact at a
/// time, [`SessionConfig::join_timeout`] each.
const PUNCH_FIRST: Duration = Duration::from_secs(1);

/// How a [`Peer`] takes part.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Display name. Default: "player".
    pub name: String,
    /// Address to bind. Default: `0.0.0.0:0` (all interfaces, any free port).
    pub bind: SocketAddr,
    /// Address other peers know us by. Default: with a rendezvous service, the address it
    /// sees us at; else the bound port on the address this machine uses to reach the
    /// internet; without a default route, on its first non-loopback interface address;
    /// loopback when there is none (when binding to a concrete address, that address).
    pub advertise: Option<SocketAddr>,
    /// Session tuning. Default: [`SessionConfig::default`].
    pub config: SessionConfig,
    /// What this peer sends goes through these conditions (to try a bad network on one
    /// machine; the simulator's model). Default: [`LinkConditions::perfect`].
    pub conditions: LinkConditions,
    /// How long to try joining, through every contact, before giving up (each contact gets
    /// `SessionConfig::contact_timeout`). Default: 10 s.
    pub join_timeout: Duration,
    /// NAT traversal: the rendezvous services (`rendezvous`: a host registers there and
    /// its invites name them; a joiner asks them besides those its invite names) and
    /// timing. Default: [`TraversalConfig::default`] (no service: no traversal).
    pub traversal: TraversalConfig,
    /// How long to wait for a rendezvous service's first answer. Default: 3 s.
    pub rendezvous_timeout: Duration,
    /// STUN servers asked, from the game socket, where the internet sees this peer (its
    /// reflexive address, [`Peer::reflexive`]) and how its NAT maps ([`Peer::nat_mapping`]);
    /// with a rendezvous service, the answer becomes one of its punching candidates.
    /// Asked in the background: host and join
    /// do not wait for it. Servers of the other IP family than the bound socket's are
    /// skipped. Default: [`StunConfig::default`] (no server: nothing is sent to any address
    /// the player did not give).
    pub stun: StunConfig,
    /// Ask the home router (the default gateway, only) to map the game port, by PCP,
    /// NAT-PMP or UPnP-IGD, whichever answers ([`crate::portmap`]): the mapped address
    /// ([`Peer::mapped`]) is reachable from anywhere and becomes a punching candidate. Asked
    /// in the background, renewed at half the lease, deleted on leave and when the peer is
    /// dropped. Default: false (`game --online` and `--port-mapping` turn it on).
    pub port_mapping: bool,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            name: "player".into(),
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            advertise: None,
            config: SessionConfig::default(),
            conditions: LinkConditions::perfect(),
            join_timeout: Duration::from_secs(10),
            traversal: TraversalConfig::default(),
            rendezvous_timeout: Duration::from_secs(3),
            stun: StunConfig::default(),
            port_mapping: false,
        }
    }
}

/// A session on a real UDP socket, with its clock: host, join or rejoin, then call
/// [`Peer::poll`] often (every frame, or every few milliseconds).
pub struct Peer {
    session: Session,
    transport: UdpTransport,
    clock: Clock,
    session_key: SessionKey,
    /// The rendezvous services the session is registered with (named in invites).
    rendezvous: Vec<SocketAddr>,
    /// While joining: when to give up, and the addresses tried.
    joining: Option<(Duration, Vec<SocketAddr>)>,
    join_timeout: Duration,
}

/// A bound socket, its clock, and what a session is set up with, before it starts.
struct Opening {
    transport: UdpTransport,
    clock: Clock,
    setup: PeerSetup,
    rendezvous: Vec<SocketAddr>,
}

impl Peer {
    /// Starts a new session with this peer as its host. With rendezvous services in
    /// `options.traversal`, it registers there (so friends behind NATs can join through
    /// the invite); when none answers, it hosts on its own address with a warning.
    pub fn host(options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let key = SessionKey {
            id: rng.random(),
            key: rng.random(),
        };
        let credentials = Credentials::draw(&mut rng);
        let services = options.traversal.rendezvous.clone();
        let mut o = Self::open(&options, key.clone(), credentials, &services, rng.random())?;
        if !services.is_empty() && !Self::ask_observed(&mut o, &options)? {
            log::warn!(
                "the rendezvous service at {} did not answer: hosting at {}; only players on your network can join until it does",
                list(&services),
                o.setup.addr
            );
        }
        let now = o.clock.now();
        share_reflexive(&mut o.transport);
        if let Some(t) = o.transport.traversal_mut() {
            t.start_registering(now);
        }
        let session = Session::host_with(o.setup, credentials, now);
        Ok(Peer {
            session,
            transport: o.transport,
            clock: o.clock,
            session_key: key,
            rendezvous: o.rendezvous,
            joining: None,
            join_timeout: options.join_timeout,
        })
    }

    /// Joins the session of an invite. With rendezvous services (the invite's, and those
    /// in `options.traversal`), asks them for the current members first and punches
    /// towards each; the invite's own addresses are tried after those members.
    pub fn join(invite: &Invite, options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let credentials = Credentials::draw(&mut rng);
        Self::enter(invite, options, credentials, rng.random(), |setup, contacts, now| {
            Session::join_with(setup, credentials, contacts, now)
        })
    }

    /// Takes a saved seat back (a restarted process): same PeerId, same state; through
    /// the rendezvous services of the seat's invite, when it names any.
    pub fn rejoin(seat: &Seat, options: PeerOptions) -> Result<Peer, TransportError> {
        let mut rng: StdRng = rand::make_rng();
        let credentials = seat.credentials;
        Self::enter(
            &seat.invite,
            options,
            credentials,
            rng.random(),
            |setup, contacts, now| Session::rejoin(setup, credentials, contacts, now),
        )
    }

    /// Opens the socket, asks the rendezvous services (if any) for the members, and
    /// starts joining through them and the invite's addresses with `start`.
    fn enter(
        invite: &Invite,
        options: PeerOptions,
        credentials: Credentials,
        nonce_seed: u64,
        start: impl FnOnce(PeerSetup, Vec<SocketAddr>, Duration) -> Result<Session, SessionError>,
    ) -> Result<Peer, TransportError> {
        let mut services = invite.rendezvous.clone();
        for s in &options.traversal.rendezvous {
            if !services.contains(s) && services.len() < MAX_RENDEZVOUS {
                services.push(*s);
            }
        }
        let mut o = Self::open(&options, invite.session.clone(), credentials, &services, nonce_seed)?;
        let mut contacts = Vec::new();
        if !services.is_empty() {
            let silent = || TransportError::RendezvousSilent {
                addrs: list(&services),
                secs: options.rendezvous_timeout.as_secs(),
            };
            if Self::ask_observed(&mut o, &options)? {
                contacts = Self::ask_members(&mut o, &options)?.ok_or_else(silent)?;
                Self::punch_first(&mut o, &mut contacts)?;
            } else if invite.addrs.is_empty() {
                return Err(silent());
            } else {
                log::warn!(
                    "the rendezvous service at {} did not answer: trying the invite's addresses",
                    list(&services)
                );
            }
        }
        // The first member's public addresses (its router's mapping), then the members'
        // session addresses; a dial to that member names both (`link/dial.rs`).
        if let Some(first) = invite.addrs.first() {
            for p in &invite.public {
                o.setup.public.push((*first, *p));
                if !contacts.contains(p) {
                    contacts.push(*p);
                }
            }
        }
        for a in &invite.addrs {
            if !contacts.contains(a) && *a != o.setup.addr {
                contacts.push(*a);
            }
        }
        if contacts.is_empty() {
            return Err(TransportError::NobodyListed);
        }
        let now = o.clock.now();
        share_reflexive(&mut o.transport);
        if let Some(t) = o.transport.traversal_mut() {
            t.start_registering(now);
        }
        let session = start(o.setup, contacts.clone(), now)?;
        Ok(Peer {
            session,
            transport: o.transport,
            clock: o.clock,
            session_key: invite.session.clone(),
            rendezvous: o.rendezvous,
            joining: Some((now + options.join_timeout, contacts)),
            join_timeout: options.join_timeout,
        })
    }

    fn open(
        options: &PeerOptions,
        session: SessionKey,
        credentials: Credentials,
        services: &[SocketAddr],
        nonce_seed: u64,
    ) -> Result<Opening, TransportError> {
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

    /// Asks the services which address they see us at, and takes it as our session
    /// address (unless `advertise` is set). Whether one answered in time.
    fn ask_observed(o: &mut Opening, options: &PeerOptions) -> Result<bool, TransportError> {
        let answered = Self::ask(o, options.rendezvous_timeout, Traversal::ask_observed, |t| {
            t.observed().is_some()
        })?;
        let observed = o.transport.traversal().and_then(Traversal::observed);
        if let (Some(seen), None) = (observed, options.advertise) {
            o.setup.addr = seen;
            if let Some(t) = o.transport.traversal_mut() {
                t.set_addr(seen);
            }
        }
        Ok(answered)
    }

    /// Asks the services for the session's members (and to tell them to punch towards
    /// us): their session addresses, the most recently heard first; `None` if no answer.
    fn ask_members(o: &mut Opening, options: &PeerOptions) -> Result<Option<Vec<SocketAddr>>, TransportError> {
        let clock = o.clock;
        let answered = Self::ask(
            o,
            options.rendezvous_timeout,
            |t| t.join(clock.now()),
            |t| t.listed().is_some(),
        )?;
        let me = o.setup.addr;
        let listed = o.transport.traversal().and_then(Traversal::listed).unwrap_or_default();
        let contacts = listed.iter().map(|m| m.session_addr()).filter(|a| *a != me).collect();
        Ok(answered.then_some(contacts))
    }

    /// Punches towards the listed members until one answers (at most [`PUNCH_FIRST`]),
    /// then puts the members reached directly first among the contacts.
    fn punch_first(o: &mut Opening, contacts: &mut [SocketAddr]) -> Result<(), TransportError> {
        let deadline = o.clock.now() + PUNCH_FIRST;
        loop {
            let now = o.clock.now();
            let Some(t) = o.transport.traversal_mut() else {
                return Ok(());
            };
            // No service relay yet: whoever we reach may still admit us and relay.
            t.update(now, |_| true);
            if now >= deadline || contacts.iter().any(|c| t.path(*c).is_some()) {
                contacts.sort_by_key(|c| t.path(*c).is_none());
                return Ok(());
            }
            o.transport.send(None, now)?;
            std::thread::sleep(ASK_POLL);
            o.transport.receive(None, o.clock.now())?;
        }
    }

    /// Asks (again every [`ASK_EVERY`]) until `done` or `timeout`.
    fn ask(
        o: &mut Opening,
        timeout: Duration,
        mut ask: impl FnMut(&mut Traversal),
        done: impl Fn(&Traversal) -> bool,
    ) -> Result<bool, TransportError> {
        let deadline = o.clock.now() + timeout;
        let mut next_ask = o.clock.now();
        loop {
            let now = o.clock.now();
            let Some(t) = o.transport.traversal_mut() else {
                return Ok(false);
            };
            if done(t) {
                return Ok(true);
            }
            if now >= deadline {
                return Ok(false);
            }
            if now >= next_ask {
                ask(t);
                next_ask = now + ASK_EVERY;
            }
            o.transport.send(None, now)?;
            std::thread::sleep(ASK_POLL);
            o.transport.receive(None, o.clock.now())?;
        }
    }

    /// Receives, advances the session and the traversal to now, and sends. Fails when the
    /// join timed out or was refused (nothing else about the session is an error: read
    /// its events).
    pub fn poll(&mut self) -> Result<(), TransportError> {
        let now = self.clock.now();
        self.transport.receive(Some(&mut self.session), now)?;
        share_reflexive(&mut self.transport);
        self.session.update(now);
        super::signalling::exchange(&mut self.transport, &mut self.session, now);
        if let Some(t) = self.transport.traversal_mut() {
            let session = &mut self.session;
            t.update(now, |p| session.link_state(p) == LinkState::Relayed);
            let members: Vec<SocketAddr> = session
                .roster()
                .active()
                .filter(|m| m.id != session.peer_id())
                .map(|m| m.addr)
                .collect();
            for addr in members {
                session.set_direct_path(addr, t.path(addr));
            }
            session.retain_direct_paths();
        }
        self.transport.send(Some(&mut self.session), now)?;
        if let Some(reason) = self.session.refusal() {
            return Err(TransportError::Refused(reason));
        }
        if let Some((deadline, addrs)) = &self.joining {
            if self.session.in_session() && !self.session.receiving_store() {
                self.joining = None;
            } else if now >= *deadline {
                return Err(TransportError::JoinTimedOut {
                    addrs: addrs.clone(),
                    secs: self.join_timeout.as_secs(),
                    hint: JoinHint::for_addresses(addrs, !self.rendezvous.is_empty()),
                });
            }
        }
        Ok(())
    }

    /// When [`Peer::poll`] is next needed if no datagram arrives first (see
    /// [`Session::poll_timeout`]; a datagram the `--sim-*` conditioner holds back may be due
    /// sooner).
    pub fn poll_timeout(&self) -> Duration {
        let session = self.session.poll_timeout();
        self.transport.next_release().map_or(session, |r| r.min(session))
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
            },
            credentials: self.session.credentials(),
        }
    }

    /// Leaves gracefully: call [`Peer::poll`] until the session reports it left (a host
    /// hands over first). The rendezvous services forget us.
    pub fn leave(&mut self) {
        let now = self.clock.now();
        self.session.leave(now);
        if let Some(t) = self.transport.traversal_mut() {
            t.leave(now);
        }
        self.transport.release_mapping();
    }
}

/// Resolves a rendezvous service's `HOST:PORT` (an address or a name), an IPv4 address
/// first (peers bind IPv4 sockets by default).
pub fn resolve_rendezvous(text: &str) -> Result<SocketAddr, TransportError> {
    use std::net::ToSocketAddrs;
    let bad = |why: String| TransportError::BadRendezvous {
        text: text.to_string(),
        why,
    };
    let found: Vec<SocketAddr> = text.trim().to_socket_addrs().map_err(|e| bad(e.to_string()))?.collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| bad("no address".into()))
}

/// Adds the address the router mapped and the reflexive address the STUN client learned
/// to the traversal's own candidates (registered with the rendezvous services, so members
/// punch towards them too).
fn share_reflexive(transport: &mut UdpTransport) {
    let mapped = transport.portmap().and_then(PortMapper::mapping).map(|m| m.external);
    let reflexive = transport.stun().and_then(StunClient::reflexive);
    if let Some(t) = transport.traversal_mut() {
        for a in [mapped, reflexive].into_iter().flatten() {
            t.add_candidate(a);
        }
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
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
