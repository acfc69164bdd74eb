//! The sans-IO session core: one state machine per peer.
//!
//! Time and datagrams go in ([`Session::handle_datagram`], [`Session::update`]); datagrams
//! and events come out ([`Session::drain_transmits`], [`Session::poll_event`]). It never
//! reads a clock or owns a socket.

mod authority;
mod dialing;
mod dispatch;
mod flood;
mod forwarding;
mod game;
mod liveness;
mod membership;
mod misbehaviour;
mod queries;
mod record;
mod relay;
mod signalling;
mod timers;
mod transfer;
mod types;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use crate::PeerId;
use crate::config::SessionConfig;
use crate::identity::SeatKey;
use crate::link::{LinkKey, Links, Transmit};
use crate::protocol::{Message, Refusal};
use crate::reach::Route;
use crate::roster::{Member, Roster};
use crate::snapshot::replicate::Replication;
use crate::store::{Scope, Store};

pub use crate::key::{SessionKey, protocol_id};
use dialing::Newest;
pub use game::{GameMessage, MAX_INBOX, MAX_UNACKED, MessageError, Target};
pub(crate) use liveness::PeerState;
pub use misbehaviour::{EntryForgery, Malformed, Misbehaviour, RosterForgery};
pub use record::EventRecord;
pub use signalling::MemberCandidates;
pub use types::{Credentials, JoinPhase, LeaveReason, PeerSetup, SessionError, SessionEvent, SessionStats};

/// One heartbeat in this many carries the roster digest (anti-entropy needs no more).
const DIGEST_EVERY: u64 = 4;
/// After a roster change every heartbeat carries the digest for this long.
const DIGEST_AFTER_CHANGE: Duration = Duration::from_secs(1);

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

/// One peer of a session.
pub struct Session {
    cfg: SessionConfig,
    me: PeerId,
    /// What starts this session's log lines (its id and ours).
    tag: crate::LogTag,
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
    /// Liveness of the link to the contact, until it is re-keyed to the contact's id.
    contact_state: Option<PeerState>,
    pending: BTreeMap<PeerId, membership::Pending>,
    banned: BTreeMap<PeerId, Duration>,
    events: VecDeque<SessionEvent>,
    now: Duration,
    /// The session's own deadlines.
    timers: timers::Timers,
    /// The former member the host dialed last.
    reunite_cursor: Option<PeerId>,
    max_epoch_seen: u64,
    forwarding: forwarding::Forwarding,
    store_dirty: bool,
    /// The counters this struct keeps itself (bytes, refused entries and sliced
    /// heartbeats are the links' and the authority's: see [`Session::stats`]).
    counters: SessionStats,
    hb_interval: Duration,
    replication: Replication,
    /// Every member ever seen: its latest admission (join order, incarnation) and the
    /// address it was admitted with, for dialing. See [`Newest`].
    newest: BTreeMap<PeerId, Newest>,
    heartbeats_sent: u64,
    /// Our suspects when we last looked (a new one is told to every peer at once).
    told_suspects: Vec<PeerId>,
    flood: flood::FloodGuard,
    /// The routes a driver's NAT traversal reported under our own links, by session
    /// address (see [`Session::route_changed`]).
    routes: BTreeMap<SocketAddr, Route>,
    /// Our candidates and the members' (NAT traversal's signalling through the mesh).
    signalling: signalling::Signalling,
    /// Whole stores on their way out, in pieces.
    transfers: transfer::Transfers,
    /// The pieces our welcome announced, while they arrive.
    receiving: Option<transfer::Receiving>,
    /// The game's own messages: received, waiting for an acknowledgement, owed one.
    game: game::GameMessages,
    /// What our heartbeats say of whom we hear (tests play a member that lies).
    #[cfg(any(test, feature = "test-util"))]
    testimony: Testimony,
}

/// What a member's heartbeats say of whom it hears directly: the truth, or one of the two
/// lies a test plays (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Testimony {
    /// Its suspects as they are.
    #[default]
    Honest,
    /// No suspects ever: it vouches for every member, a crashed one too.
    HearsEveryone,
    /// Every other member a suspect.
    HearsNobody,
}

impl Session {
    fn new(setup: PeerSetup, me: PeerId, secret: [u8; 32], now: Duration, phase: Phase) -> Self {
        let PeerSetup {
            config: cfg,
            mut name,
            addr,
            session,
            public,
        } = setup;
        let mut links = Links::new(me, addr, session.key, protocol_id(session.id), &cfg, now);
        links.set_log_tag(crate::LogTag::new(session.id, me));
        for (member, at) in public {
            links.add_public(member, at);
        }
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
            tag: crate::LogTag::new(session.id, me),
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
            contact_state: None,
            pending: BTreeMap::new(),
            banned: BTreeMap::new(),
            events: VecDeque::new(),
            now,
            timers: timers::Timers::new(now),
            reunite_cursor: None,
            max_epoch_seen: 0,
            forwarding: forwarding::Forwarding::default(),
            store_dirty: false,
            counters: SessionStats::default(),
            hb_interval: cfg_interval,
            replication: Replication::default(),
            newest: BTreeMap::new(),
            heartbeats_sent: 0,
            told_suspects: Vec::new(),
            flood: flood::FloodGuard::default(),
            routes: BTreeMap::new(),
            signalling: signalling::Signalling::default(),
            transfers: transfer::Transfers::default(),
            receiving: None,
            game: game::GameMessages::default(),
            #[cfg(any(test, feature = "test-util"))]
            testimony: Testimony::Honest,
        }
    }

    /// Creates a new session with this peer, a new seat, as its first member and host
    /// ([`Session::host_with`] for a seat drawn by the caller). Fails only with an
    /// invalid configuration ([`SessionError::Config`]).
    pub fn host(setup: PeerSetup, now: Duration) -> Result<Self, SessionError> {
        Self::host_with(setup, Credentials::generate(), now)
    }

    /// Creates a new session hosted by the seat whose `credentials` the caller drew
    /// ([`Credentials::generate`]).
    pub fn host_with(setup: PeerSetup, credentials: Credentials, now: Duration) -> Result<Self, SessionError> {
        setup.config.validate()?;
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
            expelled: Vec::new(),
            signature: None,
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
        Ok(s)
    }

    /// Joins an existing session as a new seat through any of its members (`contacts`,
    /// tried in turn).
    pub fn join(setup: PeerSetup, contacts: Vec<SocketAddr>, now: Duration) -> Result<Self, SessionError> {
        Self::start_joining(setup, Credentials::generate(), contacts, now, false)
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

    /// Joins (or, with `rejoin`, takes the seat of `credentials` back) once its contacts
    /// are known: for a driver that first asks a rendezvous service for the members. The
    /// session is joining from now on, dials nobody until [`Session::add_contacts`], and may
    /// change its address meanwhile ([`Session::readdress`]).
    pub fn join_later(
        setup: PeerSetup,
        credentials: Credentials,
        rejoin: bool,
        now: Duration,
    ) -> Result<Self, SessionError> {
        setup.config.validate()?;
        if !rejoin {
            credentials.check()?;
        }
        let phase = Phase::Joining {
            contacts: Vec::new(),
            next: 0,
            started: now,
            rejoin,
        };
        Ok(Session::new(setup, credentials.peer, credentials.secret, now, phase))
    }

    fn start_joining(
        setup: PeerSetup,
        credentials: Credentials,
        contacts: Vec<SocketAddr>,
        now: Duration,
        rejoin: bool,
    ) -> Result<Self, SessionError> {
        if contacts.is_empty() {
            return Err(SessionError::NoContact);
        }
        let mut s = Session::join_later(setup, credentials, rejoin, now)?;
        s.add_contacts(contacts, now);
        Ok(s)
    }

    /// Reports a step of the join that runs before admission (a driver's: see
    /// [`JoinPhase`]) as a [`SessionEvent::JoinProgress`]; ignored unless joining.
    pub fn report_join_phase(&mut self, phase: JoinPhase) {
        if self.is_joining() {
            self.events.push_back(SessionEvent::JoinProgress(phase));
        }
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
    /// bypassing the protocol: for tests and tools that play a misbehaving peer (feature
    /// `test-util`). Returns whether the bytes were queued.
    #[cfg(any(test, feature = "test-util"))]
    pub fn send_raw(&mut self, peer: PeerId, bytes: Vec<u8>) -> bool {
        self.links
            .send(peer, crate::link::Channel::ReliableOrdered, bytes, true)
    }

    /// Makes this peer's heartbeats lie about whom it hears (feature `test-util`).
    #[cfg(any(test, feature = "test-util"))]
    pub fn set_testimony(&mut self, testimony: Testimony) {
        self.testimony = testimony;
    }

    /// Writes this peer's own entry and replicates it. A write that would take our own
    /// scope or the whole store past its capacity fails with [`SessionError::StoreFull`].
    pub fn set_own(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), SessionError> {
        self.write(Scope::Peer(self.me), key, value)
    }

    /// Writes a shared entry (host only) and replicates it; [`SessionError::StoreFull`] as
    /// for [`Session::set_own`].
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
        if let Some(limit) = self.store.would_overflow(scope, key, value.as_deref()) {
            return Err(SessionError::StoreFull(limit));
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
            // A join given up: its dial stops (renetcode says so to the contact, once).
            self.links.disconnect(LinkKey::Contact);
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
        // A link that has not proven its seat in time is not the member it claims to be.
        let unproven: Vec<PeerId> = self
            .links
            .unproven_for(self.cfg.contact_timeout)
            .filter_map(LinkKey::peer)
            .collect();
        for peer in unproven {
            self.refuse_link(peer, "did not prove its seat in time");
        }
        let mut flush_all = false;
        match self.phase.clone() {
            Phase::Joining { started, .. } if now >= started + self.cfg.contact_timeout => self.retry_join(),
            Phase::Member => {
                self.detect_failures();
                self.host_duties();
                self.contact_duties();
                self.keep_seat();
                self.redial();
                self.reunite();
                self.flush_backlog();
                self.game_duties();
                self.announce_candidates();
                if self.store_dirty && self.is_host() {
                    self.store_dirty = false;
                    self.broadcast_store();
                }
                self.pump_transfers();
                self.check_receiving();
                // A new suspicion goes to every peer at once: the others' evidence is what
                // declares a member down, and side links beat slowly while settled.
                let suspects = self.suspects();
                let news = suspects.iter().any(|p| !self.told_suspects.contains(p));
                self.told_suspects = suspects;
                if now >= self.timers.heartbeat || news {
                    self.timers.heartbeat = now + self.heartbeat_interval();
                    self.send_heartbeats(news);
                }
                if now >= self.timers.reliable_flush {
                    self.timers.reliable_flush = now + self.cfg.reliable_flush_interval;
                    flush_all = true;
                }
            }
            Phase::Leaving { until } if now >= until => {
                let linked: Vec<LinkKey> = self.links.linked().collect();
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

    /// When this session next needs [`Session::update`] if no datagram arrives first: a
    /// driver may sleep (or wait on its socket) until then. Never later than 20 ms ahead
    /// (links keep their own cadence of keep-alives and resends), never in the past.
    pub fn poll_timeout(&self) -> Duration {
        let running = match &self.phase {
            Phase::Joining { started, .. } => timers::Running::Until(*started + self.cfg.contact_timeout),
            Phase::Leaving { until } => timers::Running::Until(*until),
            Phase::Member => timers::Running::Member { host: self.is_host() },
            Phase::Left | Phase::Refused(_) => timers::Running::Idle,
        };
        self.timers.next_due(self.now, running)
    }

    /// The heartbeat interval: the configured one, stretched in a large mesh so that the
    /// packets per second stay within `heartbeat_budget_pps`.
    pub fn heartbeat_interval(&self) -> Duration {
        self.hb_interval
    }

    fn compute_heartbeat_interval(&self) -> Duration {
        let links = self.roster.active().count().saturating_sub(1).max(1) as f64;
        let budget = Duration::from_secs_f64(links / self.cfg.heartbeat_budget_pps);
        self.cfg.heartbeat_interval.max(budget)
    }
}

/// A new seat: a random secret, and the id its signing key owns.
pub(crate) fn fresh_identity(rng: &mut StdRng) -> (PeerId, [u8; 32]) {
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    (SeatKey::from_secret(&secret).peer(), secret)
}
