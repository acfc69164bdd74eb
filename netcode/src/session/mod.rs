//! The sans-IO session core: one state machine per peer.
//!
//! Time and datagrams go in ([`Session::handle_datagram`], [`Session::update`]); datagrams
//! and events come out ([`Session::drain_transmits`], [`Session::poll_event`]). It never
//! reads a clock or owns a socket.

mod authority;
mod flood;
mod liveness;
mod membership;
mod queries;
mod relay;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;

use crate::PeerId;
use crate::config::SessionConfig;
use crate::identity::SeatKey;
use crate::link::{LinkEvent, Links, Transmit};
use crate::protocol::{Channel, Message, Refusal};
use crate::roster::{Member, Roster};
use crate::snapshot::replicate::{Incoming, Replication};
use crate::store::{Scope, Store};

use liveness::Newest;
pub(crate) use liveness::PeerState;

/// Placeholder key of the link to a contact whose id we learn from its `Hello`.
const CONTACT: PeerId = PeerId(0);
/// How many relayed message ids each peer remembers for de-duplication.
const SEEN_FORWARDS: usize = 4096;
/// One heartbeat in this many carries the roster digest (anti-entropy needs no more).
const DIGEST_EVERY: u64 = 4;
/// After a roster change every heartbeat carries the digest for this long.
const DIGEST_AFTER_CHANGE: Duration = Duration::from_secs(1);
/// Most reliable messages kept for a member without a route; past that it gets a full sync.
const MAX_BACKLOG: usize = 1024;
/// Protocol version mixed into netcode's protocol id: peers of other versions never link.
const PROTOCOL_VERSION: u64 = 3;

/// How a peer is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkState {
    /// Our own renet link carries its traffic.
    Direct,
    /// Its direct link is down; a third peer relays for us.
    Relayed,
    /// Unreachable.
    Down,
}

/// The path a link's traffic takes (the companion of [`LinkState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPath {
    /// Direct, to an address on a local network (private, link-local, unique-local IPv6 or
    /// loopback).
    Lan,
    /// Direct, to a public address.
    Internet,
    /// Relayed by another member.
    Peer,
    /// Direct from the session's view, carried by the rendezvous service's relay (the last
    /// resort of NAT traversal: see [`crate::traversal`]).
    Rendezvous,
}

impl LinkPath {
    /// The path of a direct link to `addr`.
    pub fn direct_to(addr: std::net::SocketAddr) -> LinkPath {
        let local = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.is_private() || ip.is_link_local() || ip.is_loopback(),
            std::net::IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
        };
        if local { LinkPath::Lan } else { LinkPath::Internet }
    }
}

/// Why a peer left the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said goodbye.
    Graceful,
    /// Its seat was held for the grace period and released.
    Expired,
    /// It misbehaved and was expelled.
    Expelled,
}

/// What a session reports to the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// This peer is in the session.
    Joined {
        /// Our id (the old one after a rejoin).
        peer: PeerId,
        /// Whether we took an old seat back.
        rejoined: bool,
    },
    /// This peer's join or rejoin was refused.
    JoinRefused(Refusal),
    /// A new member joined.
    PeerJoined {
        /// The newcomer.
        peer: PeerId,
    },
    /// A member dropped; its seat is held.
    PeerAway {
        /// The member.
        peer: PeerId,
    },
    /// A dropped member took its seat back.
    PeerRejoined {
        /// The member.
        peer: PeerId,
    },
    /// A member left the roster.
    PeerLeft {
        /// The member.
        peer: PeerId,
        /// Goodbye, seat released, or expelled.
        reason: LeaveReason,
    },
    /// The host changed (migration, handover or partition merge).
    HostChanged {
        /// The host before.
        old: PeerId,
        /// The host now.
        new: PeerId,
        /// The new host's epoch.
        epoch: u64,
    },
    /// How we reach a peer changed.
    LinkChanged {
        /// The peer.
        peer: PeerId,
        /// Direct, relayed or down.
        state: LinkState,
    },
    /// A store entry changed (locally or from the network).
    StoreChanged {
        /// Shared, or whose.
        scope: Scope,
        /// The entry's key.
        key: String,
    },
    /// A peer sent something no honest peer sends; its link was dropped.
    PeerMisbehaved {
        /// The offender.
        peer: PeerId,
        /// What it did.
        reason: String,
    },
    /// This peer's graceful leave completed.
    Left,
}

/// Errors of the session API.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SessionError {
    /// Only the host writes shared entries.
    #[error("only the host writes shared entries")]
    NotHost,
    /// The session is not joined (yet, or any more).
    #[error("not in a session")]
    NotInSession,
    /// A key or value breaks the protocol's bounds.
    #[error("entry too large: {0}")]
    TooLarge(&'static str),
    /// No contact address was given.
    #[error("no contact address to join through")]
    NoContact,
    /// The credentials' secret does not own their peer id (a damaged seat file).
    #[error("the seat's secret does not match its peer id")]
    SeatMismatch,
}

/// What a peer needs to take its seat back after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The identity to reclaim.
    pub peer: PeerId,
    /// The secret generated when the seat was made; the seat's signing key derives from
    /// it (and the peer id from that key). It never leaves the peer.
    pub secret: [u8; 32],
}

impl Credentials {
    /// A new seat's identity and secret, drawn from `rng` (what [`Session::join`] draws).
    pub fn generate(rng: &mut StdRng) -> Credentials {
        let (peer, secret) = fresh_identity(rng);
        Credentials { peer, secret }
    }

    /// Checks that the secret owns the peer id.
    pub fn check(&self) -> Result<(), SessionError> {
        if SeatKey::from_secret(&self.secret).peer() == self.peer {
            Ok(())
        } else {
            Err(SessionError::SeatMismatch)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Joining {
        contacts: Vec<SocketAddr>,
        next: usize,
        started: Duration,
        rejoin: bool,
    },
    Member,
    Leaving {
        until: Duration,
    },
    Left,
    Refused(Refusal),
}

/// Counters a session keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Datagram bytes sent.
    pub bytes_sent: u64,
    /// Datagram bytes received.
    pub bytes_received: u64,
    /// Messages rejected as malformed or impossible.
    pub rejected_messages: u64,
    /// Messages relayed for other peers.
    pub relayed_messages: u64,
    /// Messages dropped unread because their sender went over the rate limit.
    pub rate_limited: u64,
    /// Rosters refused because they claim an older host epoch than ours (answered with
    /// ours: a peer back from a partition may honestly hold one).
    pub stale_claims: u64,
    /// Store entries refused by the authority rules: a seal that does not hold or an own
    /// entry sealed by another peer (its sender dropped), or a shared entry sealed by no
    /// host we accept now (see `docs/design.md`, "Authority").
    pub refused_entries: u64,
    /// Heartbeats too large for one datagram, sent through renet's slicing channel
    /// instead (0 while the snapshot budgets fit the datagram, see `SessionConfig`).
    pub sliced_heartbeats: u64,
}

/// One peer of a session.
pub struct Session {
    cfg: SessionConfig,
    me: PeerId,
    name: String,
    addr: SocketAddr,
    secret: [u8; 32],
    authority: authority::Authority,
    phase: Phase,
    roster: Roster,
    store: Store,
    links: Links,
    peers: BTreeMap<PeerId, PeerState>,
    contact_id: Option<PeerId>,
    pending: BTreeMap<PeerId, membership::Pending>,
    banned: BTreeMap<PeerId, Duration>,
    events: VecDeque<SessionEvent>,
    now: Duration,
    next_heartbeat: Duration,
    next_reliable_flush: Duration,
    /// When the host next dials a former member, and the last one it dialed.
    next_reunite: Duration,
    reunite_cursor: Option<PeerId>,
    max_epoch_seen: u64,
    fwd_seq: u64,
    seen: BTreeSet<(PeerId, u64)>,
    seen_order: VecDeque<(PeerId, u64)>,
    store_dirty: bool,
    last_rejoin_ask: Option<Duration>,
    rejected: u64,
    relayed: u64,
    hb_interval: Duration,
    backlog: BTreeMap<PeerId, VecDeque<(Channel, Message)>>,
    overflowed: BTreeSet<PeerId>,
    replication: Replication,
    /// Every member ever seen: its latest admission (join order, incarnation) and the
    /// address it was admitted with, for dialing. See [`Newest`].
    newest: BTreeMap<PeerId, Newest>,
    heartbeats_sent: u64,
    roster_changed_at: Duration,
    /// Our suspects when we last looked (a new one is told to every peer at once).
    told_suspects: Vec<PeerId>,
    flood: flood::FloodGuard,
    rate_limited: u64,
    stale_claims: u64,
    /// The paths a driver's NAT traversal chose under direct links, by session address
    /// (see [`Session::set_direct_path`]).
    direct_paths: BTreeMap<SocketAddr, LinkPath>,
}

/// The netcode protocol id for a session: different sessions and versions never link.
pub fn protocol_id(session_id: u64) -> u64 {
    session_id.rotate_left(8) ^ PROTOCOL_VERSION
}

/// What every member of a session shares: the id that keeps sessions apart and the
/// key that encrypts and authenticates every link (an invite code carries both).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Session id, mixed into netcode's protocol id.
    pub id: u64,
    /// Netcode private key: connect tokens are made with it.
    pub key: [u8; 32],
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// How one peer takes part: its tuning, its display name, its listen address, the session.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// Session tuning.
    pub config: SessionConfig,
    /// Display name (cut to [`crate::protocol::MAX_NAME_BYTES`]).
    pub name: String,
    /// The address this peer listens on (what other peers dial).
    pub addr: SocketAddr,
    /// The session's id and key.
    pub session: SessionKey,
}

impl Session {
    fn new(setup: PeerSetup, me: PeerId, secret: [u8; 32], now: Duration, phase: Phase) -> Self {
        let PeerSetup {
            config: cfg,
            mut name,
            addr,
            session,
        } = setup;
        let links = Links::new(me, addr, session.key, protocol_id(session.id), &cfg, now);
        let authority = authority::Authority::new(SeatKey::from_secret(&secret), session.id, now);
        let cfg_interval = cfg.heartbeat_interval;
        let mut cut = crate::protocol::MAX_NAME_BYTES.min(name.len());
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        Session {
            cfg,
            me,
            name,
            addr,
            secret,
            authority,
            phase,
            roster: Roster::default(),
            store: Store::default(),
            links,
            peers: BTreeMap::new(),
            contact_id: None,
            pending: BTreeMap::new(),
            banned: BTreeMap::new(),
            events: VecDeque::new(),
            now,
            next_heartbeat: now,
            next_reliable_flush: now,
            next_reunite: now,
            reunite_cursor: None,
            max_epoch_seen: 0,
            fwd_seq: 0,
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
            store_dirty: false,
            last_rejoin_ask: None,
            rejected: 0,
            relayed: 0,
            hb_interval: cfg_interval,
            backlog: BTreeMap::new(),
            overflowed: BTreeSet::new(),
            replication: Replication::default(),
            newest: BTreeMap::new(),
            heartbeats_sent: 0,
            roster_changed_at: now,
            told_suspects: Vec::new(),
            flood: flood::FloodGuard::default(),
            rate_limited: 0,
            stale_claims: 0,
            direct_paths: BTreeMap::new(),
        }
    }

    /// Creates a new session with this peer as its first member and host.
    /// `rng` supplies the peer id and rejoin secret (seed it for reproducible runs).
    pub fn create(setup: PeerSetup, now: Duration, rng: &mut StdRng) -> Self {
        Self::create_with(setup, Credentials::generate(rng), now)
    }

    /// Creates a new session hosted by the seat whose `credentials` the caller drew
    /// ([`Credentials::generate`]).
    pub fn create_with(setup: PeerSetup, credentials: Credentials, now: Duration) -> Self {
        let Credentials { peer: me, secret } = credentials;
        let addr = setup.addr;
        let mut s = Session::new(setup, me, secret, now, Phase::Member);
        s.roster = Roster {
            epoch: 1,
            version: 1,
            host: me,
            next_join_seq: 1,
            members: Vec::new(),
            backed: true,
            prev_term: None,
        };
        s.roster.upsert(Member {
            id: me,
            name: s.name.clone(),
            addr,
            join_seq: 0,
            incarnation: 0,
            status: crate::roster::MemberStatus::Active,
            key: s.authority.key.public(),
            proof_ms: 0,
        });
        s.max_epoch_seen = 1;
        s.events.push_back(SessionEvent::Joined {
            peer: me,
            rejoined: false,
        });
        s
    }

    /// Joins an existing session through any of its members (`contacts`, tried in turn).
    pub fn join(
        setup: PeerSetup,
        contacts: Vec<SocketAddr>,
        now: Duration,
        rng: &mut StdRng,
    ) -> Result<Self, SessionError> {
        let (me, secret) = fresh_identity(rng);
        Self::start_joining(setup, Credentials { peer: me, secret }, contacts, now, false)
    }

    /// Joins as a new seat whose `credentials` the caller drew
    /// ([`Credentials::generate`]): for a driver that must name itself before the
    /// session starts (to a rendezvous service).
    pub fn join_with(
        setup: PeerSetup,
        credentials: Credentials,
        contacts: Vec<SocketAddr>,
        now: Duration,
    ) -> Result<Self, SessionError> {
        credentials.check()?;
        Self::start_joining(setup, credentials, contacts, now, false)
    }

    /// Takes an old seat back after a crash, through any live member.
    pub fn rejoin(
        setup: PeerSetup,
        credentials: Credentials,
        contacts: Vec<SocketAddr>,
        now: Duration,
    ) -> Result<Self, SessionError> {
        Self::start_joining(setup, credentials, contacts, now, true)
    }

    fn start_joining(
        setup: PeerSetup,
        credentials: Credentials,
        contacts: Vec<SocketAddr>,
        now: Duration,
        rejoin: bool,
    ) -> Result<Self, SessionError> {
        let first = *contacts.first().ok_or(SessionError::NoContact)?;
        let phase = Phase::Joining {
            contacts,
            next: 1,
            started: now,
            rejoin,
        };
        let mut s = Session::new(setup, credentials.peer, credentials.secret, now, phase);
        s.links.dial(CONTACT, first);
        Ok(s)
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Takes the datagrams to put on the wire.
    pub fn drain_transmits(&mut self, into: &mut Vec<Transmit>) {
        self.links.drain_transmits(into);
    }

    /// Feeds one datagram received on this peer's address.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &mut [u8]) {
        if matches!(self.phase, Phase::Left) {
            return;
        }
        self.links.handle_datagram(from, bytes);
    }

    /// Sends `bytes` as they are on the direct link to `peer` (reliable-ordered channel),
    /// bypassing the protocol: for tests and tools that play a misbehaving peer. Returns
    /// whether the bytes were queued.
    pub fn send_raw(&mut self, peer: PeerId, bytes: Vec<u8>) -> bool {
        self.links.send(peer, Channel::ReliableOrdered, bytes, true)
    }

    /// Writes this peer's own entry and replicates it.
    pub fn set_own(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), SessionError> {
        self.write(Scope::Peer(self.me), key, value)
    }

    /// Writes a shared entry (host only) and replicates it.
    pub fn set_shared(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), SessionError> {
        if !self.is_host() {
            return Err(SessionError::NotHost);
        }
        self.write(Scope::Shared, key, value)
    }

    fn write(&mut self, scope: Scope, key: &str, value: Option<Vec<u8>>) -> Result<(), SessionError> {
        if !self.in_session() {
            return Err(SessionError::NotInSession);
        }
        if key.len() > crate::protocol::MAX_KEY_BYTES {
            return Err(SessionError::TooLarge("key"));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.len() > crate::protocol::MAX_VALUE_BYTES)
        {
            return Err(SessionError::TooLarge("value"));
        }
        let entry = self
            .store
            .write(scope, key, value, self.roster.epoch, &self.authority.key);
        let msg = Message::Update {
            scope,
            key: key.to_owned(),
            entry,
        };
        self.broadcast(&msg);
        Ok(())
    }

    /// Leaves gracefully: a host hands its role over first, so nobody waits.
    pub fn leave(&mut self, now: Duration) {
        if !self.in_session() {
            self.phase = Phase::Left;
            return;
        }
        self.now = now.max(self.now);
        if self.is_host() {
            self.hand_over();
        }
        self.broadcast(&Message::Leave);
        self.phase = Phase::Leaving {
            until: now + self.cfg.leave_linger,
        };
        self.links.flush(true);
    }

    /// Advances the session to `now`: processes what arrived, detects failures,
    /// elects, relays, and queues heartbeats.
    pub fn update(&mut self, now: Duration) {
        self.now = now.max(self.now);
        let now = self.now;
        self.hb_interval = self.compute_heartbeat_interval();
        self.links.update(self.now);
        while let Some(ev) = self.links.poll_event() {
            self.on_link_event(ev);
        }
        self.receive_all();
        let mut flush_all = false;
        match self.phase.clone() {
            Phase::Joining { started, .. } if now >= started + self.cfg.join_timeout => self.retry_join(),
            Phase::Member => {
                self.detect_failures();
                self.host_duties();
                self.contact_duties();
                self.keep_seat();
                self.redial();
                self.reunite();
                self.flush_backlog();
                if self.store_dirty && self.is_host() {
                    self.store_dirty = false;
                    let msg = Message::StoreSync(self.store.clone());
                    self.broadcast(&msg);
                }
                // A new suspicion goes to every peer at once: the others' evidence is what
                // declares a member down, and side links beat slowly while settled.
                let suspects = self.suspects();
                let news = suspects.iter().any(|p| !self.told_suspects.contains(p));
                self.told_suspects = suspects;
                if now >= self.next_heartbeat || news {
                    self.next_heartbeat = now + self.heartbeat_interval();
                    self.send_heartbeats(news);
                }
                if now >= self.next_reliable_flush {
                    self.next_reliable_flush = now + self.cfg.reliable_flush_interval;
                    flush_all = true;
                }
            }
            Phase::Leaving { until } if now >= until => {
                let linked: Vec<PeerId> = self.links.linked().collect();
                for p in linked {
                    self.links.disconnect(p);
                }
                self.phase = Phase::Left;
                self.events.push_back(SessionEvent::Left);
            }
            _ => {}
        }
        self.banned.retain(|_, until| *until > now);
        let joining = matches!(self.phase, Phase::Joining { .. } | Phase::Leaving { .. });
        self.links.flush(flush_all || joining);
    }

    /// The heartbeat interval: the configured one, stretched in a large mesh so that the
    /// packets per second stay within `heartbeat_budget_pps`.
    pub fn heartbeat_interval(&self) -> Duration {
        self.hb_interval
    }

    fn compute_heartbeat_interval(&self) -> Duration {
        let links = self.roster.active().count().saturating_sub(1).max(1) as f64;
        let budget = Duration::from_secs_f64(links / self.cfg.heartbeat_budget_pps.max(1.0));
        self.cfg.heartbeat_interval.max(budget)
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        log::trace!("{} {:?} link event {ev:?}", self.me, self.now);
        match ev {
            LinkEvent::Connected(peer) => {
                self.replication.reset_link(peer);
                if self.banned.contains_key(&peer) {
                    self.links.disconnect(peer);
                    return;
                }
                let incarnation = self.roster.get(peer).map(|m| m.incarnation);
                let st = self.peers.entry(peer).or_insert_with(|| PeerState::new(self.now));
                st.link_incarnation = incarnation;
                let hello = Message::Hello { peer: self.me };
                self.send_direct(peer, Channel::ReliableOrdered, &hello);
                if peer == CONTACT {
                    if let Phase::Joining { rejoin, .. } = self.phase {
                        self.send_join_request(CONTACT, rejoin);
                    }
                } else if self.in_session() {
                    self.send_heartbeat_to(peer);
                }
            }
            LinkEvent::Disconnected(peer) | LinkEvent::DialFailed(peer) => {
                self.replication.reset_link(peer);
                self.flood.forget(peer);
                if peer == CONTACT && matches!(self.phase, Phase::Joining { .. }) {
                    self.next_contact();
                }
            }
        }
    }

    /// Whether to decode a message from `peer` (see [`flood`]); false drops it unread.
    fn within_rate(&mut self, peer: PeerId) -> bool {
        match self.flood.admit(peer, self.now, &self.cfg) {
            flood::Admit::Yes => true,
            flood::Admit::Drop => {
                self.rate_limited += 1;
                false
            }
            flood::Admit::Expel => {
                self.rate_limited += 1;
                self.flood.forget(peer);
                self.misbehaved(peer, "flooded us with messages".into());
                false
            }
        }
    }

    fn receive_all(&mut self) {
        // Heartbeats (with state) bypass renet: one datagram each.
        while let Some((peer, bytes)) = self.links.receive_datagram() {
            if !self.links.is_linked(peer) || !self.within_rate(peer) {
                continue;
            }
            match Message::decode_heartbeat(&bytes) {
                Ok(msg) => self.handle_message(peer, peer, msg, true),
                Err(e) => self.misbehaved(peer, format!("{e}")),
            }
        }
        for peer in self.links.take_received() {
            for channel in [
                Channel::ReliableOrdered,
                Channel::ReliableUnordered,
                Channel::Unreliable,
            ] {
                while let Some(bytes) = self.links.receive(peer, channel) {
                    if !self.links.is_linked(peer) {
                        break;
                    }
                    if !self.within_rate(peer) {
                        continue;
                    }
                    match Message::decode(&bytes) {
                        Ok(msg) => self.handle_message(peer, peer, msg, true),
                        Err(e) => self.misbehaved(peer, format!("{e}")),
                    }
                }
            }
        }
    }

    /// Drops a peer that sent what no honest peer sends, without disturbing the others.
    fn misbehaved(&mut self, peer: PeerId, reason: String) {
        log::debug!("{} drops {peer}: {reason}", self.me);
        self.rejected += 1;
        self.links.disconnect(peer);
        self.banned.insert(peer, self.now + self.cfg.rejoin_grace);
        self.events.push_back(SessionEvent::PeerMisbehaved { peer, reason });
        if self.is_host() && peer != self.me && self.roster.remove(peer).is_some() {
            self.roster.version += 1;
            self.events.push_back(SessionEvent::PeerLeft {
                peer,
                reason: LeaveReason::Expelled,
            });
            self.broadcast_roster();
        }
    }

    fn handle_message(&mut self, link: PeerId, origin: PeerId, msg: Message, direct: bool) {
        if !matches!(msg, Message::Heartbeat { .. } | Message::Update { .. }) {
            log::trace!("{} {:?} <- {origin} via {link}: {msg:?}", self.me, self.now);
        }
        if direct && link != CONTACT {
            self.peers
                .entry(origin)
                .or_insert_with(|| PeerState::new(self.now))
                .heard_direct(self.now, &msg);
        } else if let Some(st) = self.peers.get_mut(&origin) {
            st.last_any = Some(self.now);
        }
        if link == CONTACT
            && !matches!(
                msg,
                Message::Hello { .. } | Message::Welcome { .. } | Message::Refused { .. }
            )
        {
            return; // Until we are welcomed, the rest of the session's traffic is not ours.
        }
        match msg {
            Message::Hello { peer } => {
                if link == CONTACT {
                    self.contact_id = Some(peer);
                } else if peer != link {
                    self.misbehaved(link, format!("said hello as {peer}"));
                }
            }
            // (The suspects were taken by `heard_direct` above.)
            Message::Heartbeat {
                digest,
                acks,
                own,
                shared,
                held_ms,
                ..
            } => {
                self.on_heartbeat(link, origin, digest);
                if direct && link != CONTACT && (own.is_some() || shared.is_some() || acks.iter().any(Option::is_some))
                {
                    let from_host = origin == self.roster.host;
                    let heartbeat = Incoming {
                        own: own.as_deref(),
                        shared: shared.as_deref(),
                        acks,
                        held_ms,
                    };
                    let result = self.replication.incoming(origin, from_host, heartbeat, self.now);
                    if let Err(e) = result {
                        log::debug!("{} rejects a snapshot from {origin}: {e}", self.me);
                        self.rejected += 1;
                    }
                }
            }
            Message::FullShared { snapshot } => {
                if direct && link != CONTACT {
                    let from_host = origin == self.roster.host;
                    if let Err(e) = self.replication.incoming_full(origin, from_host, &snapshot) {
                        log::debug!("{} rejects a full snapshot from {origin}: {e}", self.me);
                        self.rejected += 1;
                    }
                }
            }
            Message::Join { name, key, proof } => {
                let request = membership::Request {
                    name,
                    key,
                    proof,
                    rejoin: false,
                    store: Store::default(),
                };
                self.on_join(link, request)
            }
            Message::Rejoin {
                name,
                key,
                proof,
                store,
            } => {
                let request = membership::Request {
                    name,
                    key,
                    proof,
                    rejoin: true,
                    store,
                };
                self.on_join(link, request)
            }
            Message::Admit {
                name,
                key,
                proof,
                rejoin,
                store,
            } => {
                let request = membership::Request {
                    name,
                    key,
                    proof,
                    rejoin,
                    store,
                };
                self.on_admit(origin, request)
            }
            Message::Admitted {
                peer,
                result,
                roster,
                store,
            } => self.on_admitted(origin, peer, result, roster, store),
            Message::Welcome { roster, store } => self.on_welcome(link, roster, store),
            Message::Refused { reason } => {
                if matches!(self.phase, Phase::Joining { .. }) {
                    self.phase = Phase::Refused(reason);
                    self.events.push_back(SessionEvent::JoinRefused(reason));
                    self.links.disconnect(link);
                }
            }
            Message::Roster(roster) => self.offer_roster(origin, roster),
            Message::StoreSync(store) => {
                self.accept_store(link, store);
            }
            Message::StoreRequest => self.on_store_request(origin),
            Message::Update { scope, key, entry } => {
                if let Scope::Peer(owner) = scope
                    && owner != origin
                {
                    return self.misbehaved(link, format!("wrote an entry of {owner}"));
                }
                self.accept_entry(link, scope, key, entry);
            }
            Message::Leave => self.on_leave(origin),
            msg @ Message::Forward { .. } => {
                if !direct {
                    return self.misbehaved(link, "nested forward".into());
                }
                self.on_forward(link, msg)
            }
        }
    }
}

/// A new seat: a random secret, and the id its signing key owns.
fn fresh_identity(rng: &mut StdRng) -> (PeerId, [u8; 32]) {
    loop {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let id = SeatKey::from_secret(&secret).peer();
        if id != CONTACT {
            return (id, secret);
        }
    }
}

/// A seeded generator for [`Session::host`] and [`Session::join`].
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[cfg(test)]
mod link_path_tests {
    use super::LinkPath;

    #[test]
    fn a_direct_path_is_lan_on_local_addresses_and_internet_elsewhere() {
        for (addr, path) in [
            ("10.1.0.2:5000", LinkPath::Lan),
            ("192.168.1.7:5000", LinkPath::Lan),
            ("127.0.0.1:5000", LinkPath::Lan),
            ("169.254.3.4:5000", LinkPath::Lan),
            ("[fd00::1]:5000", LinkPath::Lan),
            ("[fe80::1]:5000", LinkPath::Lan),
            ("198.51.100.11:5000", LinkPath::Internet),
            ("[2001:db8::1]:5000", LinkPath::Internet),
        ] {
            assert_eq!(LinkPath::direct_to(addr.parse().unwrap()), path, "{addr}");
        }
    }
}
