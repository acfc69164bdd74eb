//! A deterministic simulation of whole sessions: many [`Session`]s in one process on a
//! [`SimNetwork`] with a virtual clock. The packets are the real encrypted netcode ones.
//!
//! Peers are addressed by *index*: the order in which the simulation started them
//! (index 0 creates the session). Between steps a test drives them through [`Sim::write`]
//! (writes the metrics follow) and [`Sim::session_mut`] (snapshots, anything else), and
//! breaks things with [`Sim::crash`], [`Sim::partition`] and the [`SimNetwork`]; the
//! [`Metrics`] count the migrations, rejoins and writes that completed and the ones that
//! never did.
//!
//! With the `test-util` feature the simulator also plays scenes of its own: a built-in
//! workload that writes state all the time (each peer its `score`, the host a `clock` and
//! new `pickup-N` entries), so that the checks can tell whether anything replicated was
//! lost, and the `arena` scene of moving players and host-owned objects. They are the
//! project's test and benchmark fixtures (`netsim`, the tests crate), not part of a game's API.

#[cfg(any(test, feature = "test-util"))]
pub mod arena;
mod memory;
mod metrics;
mod net;
mod queries;
#[cfg(any(test, feature = "test-util"))]
mod scenes;
mod writes;

#[cfg(test)]
mod impostor_tests;
#[cfg(test)]
mod leave_tests;

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::config::{ConfigError, setters};
use crate::session::{Credentials, PeerSetup, Session, SessionError, SessionKey};
use crate::store::Scope;
use crate::{PeerId, SessionConfig};

pub use memory::{MEMORY_JOIN_TIMEOUT, MemoryNet, MemoryPeer};
pub use metrics::{Metrics, Report};
pub use net::{Datagram, LinkConditions, NetStats, SimNetwork};
pub use writes::{LostWrite, WriteOutcome};

#[cfg(any(test, feature = "test-util"))]
pub use scenes::{CLOCK_KEY, FILL_ENTRY_BYTES, PICKUP_PREFIX, SCORE_KEY, Scene, read_u64};

/// Setup of a simulation. Every field's default is in its doc; build one with the
/// setters: `SimConfig::default().peers(4).seed(7)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// Peers started at the beginning. Default: 4.
    pub peers: usize,
    /// Seed of every random choice (network and identities). Default: 1.
    pub seed: u64,
    /// Conditions of every link. Default: [`LinkConditions::default`] (20 ms, lossless).
    pub link: LinkConditions,
    /// Session tuning of every peer. Default: [`SessionConfig::default`].
    pub session: SessionConfig,
    /// Simulation step. Default: 5 ms.
    pub tick: Duration,
    /// Delay between two initial joins. Default: 50 ms.
    pub join_spacing: Duration,
    /// What the peers play by themselves (feature `test-util`). Default: [`Scene::Idle`],
    /// as without the feature.
    #[cfg(any(test, feature = "test-util"))]
    pub scene: Scene,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            peers: 4,
            seed: 1,
            link: LinkConditions::default(),
            session: SessionConfig::default(),
            tick: Duration::from_millis(5),
            join_spacing: Duration::from_millis(50),
            #[cfg(any(test, feature = "test-util"))]
            scene: Scene::Idle,
        }
    }
}

setters!(SimConfig {
    peers: usize,
    seed: u64,
    link: LinkConditions,
    session: SessionConfig,
    tick: Duration,
    join_spacing: Duration,
});

#[cfg(any(test, feature = "test-util"))]
impl SimConfig {
    /// Sets `scene` (see the field).
    #[must_use]
    pub fn scene(mut self, scene: Scene) -> Self {
        self.scene = scene;
        self
    }
}

/// What the simulation knows of one peer process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// Not started yet (initial join scheduled).
    Scheduled,
    /// Running (joining or in the session).
    Running,
    /// Crashed silently; may be restarted.
    Crashed,
    /// Left gracefully (or is flushing its last messages).
    Left,
}

/// One simulated peer process.
pub struct Node {
    /// The running session, if the process is up.
    pub session: Option<Session>,
    /// Process state.
    pub status: NodeStatus,
    /// Its current address (a restarted process gets a new one).
    pub addr: SocketAddr,
    /// Credentials saved for a rejoin.
    pub credentials: Option<Credentials>,
    start_at: Duration,
    session_since: Duration,
    /// What this node's scene remembers between steps.
    #[cfg(any(test, feature = "test-util"))]
    play: scenes::NodePlay,
    /// Whom a restart asks first: the seat's contacts when it crashed, as a real process
    /// saves them ([`Session::rejoin_contacts`]).
    seat_contacts: Vec<SocketAddr>,
}

/// A running simulation.
pub struct Sim {
    cfg: SimConfig,
    now: Duration,
    net: SimNetwork,
    rng: StdRng,
    nodes: Vec<Node>,
    next_port: u16,
    key: [u8; 32],
    session_id: u64,
    /// Measurements so far.
    pub metrics: Metrics,
    /// What the arena scene measured (empty for other scenes; feature `test-util`).
    #[cfg(any(test, feature = "test-util"))]
    pub arena: arena::ArenaMeasure,
    /// Datagrams to addresses no node holds, for a test's own endpoints to take.
    #[cfg(test)]
    strays: Vec<Datagram>,
}

impl Sim {
    /// Starts a simulation: peer 0 creates the session, the others join through it.
    ///
    /// # Panics
    ///
    /// With a session configuration that cannot work; [`Sim::try_new`] returns its
    /// [`ConfigError`] instead.
    pub fn new(cfg: SimConfig) -> Self {
        match Self::try_new(cfg) {
            Ok(sim) => sim,
            Err(e) => panic!("Sim::new: {e}"),
        }
    }

    /// A simulation of `cfg`, or why its session configuration cannot work.
    pub fn try_new(cfg: SimConfig) -> Result<Self, ConfigError> {
        cfg.session.validate()?;
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut key = [0u8; 32];
        rng.fill(&mut key[..]);
        let session_id = rng.random();
        let net = SimNetwork::new(rng.random(), cfg.link.clone());
        let mut sim = Sim {
            now: Duration::ZERO,
            net,
            rng,
            nodes: Vec::new(),
            next_port: 1,
            key,
            session_id,
            metrics: Metrics::default(),
            #[cfg(any(test, feature = "test-util"))]
            arena: arena::ArenaMeasure::default(),
            #[cfg(test)]
            strays: Vec::new(),
            cfg,
        };
        for i in 0..sim.cfg.peers {
            let at = sim.cfg.join_spacing * i as u32;
            sim.schedule_node(at);
        }
        Ok(sim)
    }

    fn fresh_addr(&mut self) -> SocketAddr {
        let port = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(1);
        SocketAddr::from(([10, 0, (port >> 8) as u8, (port & 0xff) as u8], 5000))
    }

    fn schedule_node(&mut self, at: Duration) -> usize {
        let addr = self.fresh_addr();
        self.nodes.push(Node {
            session: None,
            status: NodeStatus::Scheduled,
            addr,
            credentials: None,
            start_at: at,
            session_since: at,
            #[cfg(any(test, feature = "test-util"))]
            play: scenes::NodePlay::starting(at),
            seat_contacts: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Adds a peer that joins now through a random live member (a late join).
    pub fn add_peer(&mut self) -> usize {
        let now = self.now;
        self.schedule_node(now)
    }

    /// The simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The network (to change conditions per link).
    pub fn network_mut(&mut self) -> &mut SimNetwork {
        &mut self.net
    }

    /// All nodes, by index.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The session of node `i`, if it runs.
    pub fn session(&self, i: usize) -> Option<&Session> {
        self.nodes.get(i)?.session.as_ref()
    }

    /// The session of node `i`, mutably.
    pub fn session_mut(&mut self, i: usize) -> Option<&mut Session> {
        self.nodes.get_mut(i)?.session.as_mut()
    }

    /// Index of the running node with this peer id.
    pub fn index_of(&self, peer: PeerId) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.session.as_ref().is_some_and(|s| s.peer_id() == peer))
    }

    fn random_contacts(&mut self, except: usize) -> Vec<SocketAddr> {
        let mut live: Vec<SocketAddr> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| *i != except && n.session.as_ref().is_some_and(Session::in_session))
            .map(|(_, n)| n.addr)
            .collect();
        // Fisher-Yates with the simulation's seeded generator.
        for i in (1..live.len()).rev() {
            let j = self.rng.random_range(0..=i);
            live.swap(i, j);
        }
        live
    }

    fn setup(&self, i: usize, addr: SocketAddr) -> PeerSetup {
        PeerSetup {
            config: self.cfg.session.clone(),
            name: format!("peer{i}"),
            addr,
            session: SessionKey {
                id: self.session_id,
                key: self.key,
            },
            public: Vec::new(),
        }
    }

    fn start_node(&mut self, i: usize) {
        let addr = self.nodes[i].addr;
        let mut rng = StdRng::seed_from_u64(self.rng.random());
        let setup = self.setup(i, addr);
        let session = if i == 0 && self.nodes.iter().all(|n| n.session.is_none()) {
            let s = Session::host_with(setup, Credentials::draw(&mut rng), self.now)
                .expect("the configuration was checked in Sim::try_new");
            self.metrics.first_term(s.roster().epoch, s.peer_id());
            Some(s)
        } else {
            let contacts = self.random_contacts(i);
            Session::join_with(setup, Credentials::draw(&mut rng), contacts, self.now).ok()
        };
        if let Some(s) = session {
            if i >= self.cfg.peers {
                self.metrics.late_join(s.peer_id(), self.now);
            }
            #[cfg(any(test, feature = "test-util"))]
            let s = self.cfg.scene.prepared(s);
            self.net.attach(addr);
            self.nodes[i].credentials = Some(s.credentials());
            self.nodes[i].session = Some(s);
            self.nodes[i].status = NodeStatus::Running;
        }
    }

    /// Writes an entry as node `i` (its own entries, or shared ones while it hosts) and
    /// records the write, so that [`Sim::write_outcome`] and the report count whether it
    /// reached every live peer or was lost.
    pub fn write(&mut self, i: usize, scope: Scope, key: &str, value: Option<Vec<u8>>) -> Result<(), SessionError> {
        let node = self.nodes.get_mut(i).ok_or(SessionError::NotInSession)?;
        let writer = (i, node.session_since);
        let s = node.session.as_mut().ok_or(SessionError::NotInSession)?;
        let before = s.store().entry(scope, key).cloned();
        match scope {
            Scope::Shared => s.set_shared(key, value)?,
            Scope::Peer(peer) if peer == s.peer_id() => s.set_own(key, value)?,
            Scope::Peer(_) => return Err(SessionError::NotOwner),
        }
        if let Some(e) = s.store().entry(scope, key) {
            self.metrics
                .wrote(writer, s.is_host(), before.as_ref(), (scope, key, e));
        }
        Ok(())
    }

    /// Crashes node `i` silently (no goodbye, no flush).
    pub fn crash(&mut self, i: usize) {
        let Some(node) = self.nodes.get_mut(i) else { return };
        if node.session.is_none() {
            return;
        }
        let was_host = node.session.as_ref().is_some_and(Session::is_host);
        let peer = node.session.as_ref().map(Session::peer_id);
        node.seat_contacts = node.session.as_ref().map(Session::rejoin_contacts).unwrap_or_default();
        node.session = None;
        node.status = NodeStatus::Crashed;
        let addr = node.addr;
        self.net.detach(addr);
        if let (true, Some(peer)) = (was_host, peer) {
            self.metrics.host_lost(self.now, peer);
        }
        if let Some(peer) = peer {
            self.metrics.crashed(peer, self.now);
        }
    }

    /// Crashes the node running `peer`.
    pub fn crash_peer(&mut self, peer: PeerId) {
        if let Some(i) = self.index_of(peer) {
            self.crash(i);
        }
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        let Some(node) = self.nodes.get_mut(i) else { return };
        let Some(s) = node.session.as_mut() else { return };
        let was_host = s.is_host();
        let peer = s.peer_id();
        s.leave(now);
        node.status = NodeStatus::Left;
        if was_host {
            self.metrics.host_lost(now, peer);
        }
    }

    /// Restarts a crashed node as a new process (new address) that rejoins with its
    /// saved credentials through the contacts its seat saved, then random live members.
    pub fn restart(&mut self, i: usize) {
        if self.nodes.get(i).is_none_or(|n| n.status != NodeStatus::Crashed) {
            return;
        }
        let Some(creds) = self.nodes[i].credentials else { return };
        self.restart_with(i, creds);
    }

    /// Restarts a crashed node rejoining with the given credentials (a wrong secret
    /// here shows what an impostor gets).
    pub fn restart_with(&mut self, i: usize, creds: Credentials) {
        let addr = self.fresh_addr();
        // The seat's saved contacts first (some may be gone), then live members at random
        // (a real seat lists at most eight; the simulation makes sure someone answers).
        let mut contacts = self.nodes[i].seat_contacts.clone();
        for c in self.random_contacts(i) {
            if !contacts.contains(&c) {
                contacts.push(c);
            }
        }
        let s = Session::rejoin(self.setup(i, addr), creds, contacts, self.now);
        if let Ok(s) = s {
            #[cfg(any(test, feature = "test-util"))]
            let s = self.cfg.scene.prepared(s);
            self.net.attach(addr);
            let node = &mut self.nodes[i];
            node.addr = addr;
            node.session = Some(s);
            node.session_since = self.now;
            #[cfg(any(test, feature = "test-util"))]
            {
                node.play.hosted_objects = None;
            }
            node.status = NodeStatus::Running;
            self.metrics.restarted(creds.peer, self.now);
        }
    }

    /// Cuts the link between nodes `a` and `b`.
    pub fn cut(&mut self, a: usize, b: usize) {
        let (x, y) = (self.nodes[a].addr, self.nodes[b].addr);
        self.net.cut(x, y);
    }

    /// Heals the link between nodes `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) {
        let (x, y) = (self.nodes[a].addr, self.nodes[b].addr);
        self.net.heal(x, y);
    }

    /// Splits the nodes into groups that cannot reach each other.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        let groups: Vec<Vec<SocketAddr>> = groups
            .iter()
            .map(|g| g.iter().filter_map(|i| self.nodes.get(*i).map(|n| n.addr)).collect())
            .collect();
        self.net.partition(&groups);
        self.metrics.partition_started(self.now);
    }

    /// Ends the partition.
    pub fn heal_partition(&mut self) {
        self.net.heal_partition();
        self.metrics.partition_ended();
    }

    /// Runs for `duration` of simulated time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    /// Runs for `secs` simulated seconds (shorthand for [`Sim::run_for`] in tests).
    pub fn run_for_secs(&mut self, secs: f64) {
        self.run_for(Duration::from_secs_f64(secs));
    }

    /// Runs until the simulated time reaches `until`.
    pub fn run_until(&mut self, until: Duration) {
        while self.now < until {
            self.step();
        }
    }

    /// Advances one tick.
    pub fn step(&mut self) {
        self.now += self.cfg.tick;
        let now = self.now;
        for i in 0..self.nodes.len() {
            if self.nodes[i].status == NodeStatus::Scheduled && self.nodes[i].start_at <= now {
                self.start_node(i);
            }
        }
        while let Some(mut dg) = self.net.pop_due(now) {
            if let Some(node) = self.nodes.iter_mut().find(|n| n.addr == dg.to)
                && let Some(s) = node.session.as_mut()
            {
                s.handle_datagram(dg.from, &mut dg.bytes);
                continue;
            }
            #[cfg(test)]
            self.strays.push(dg);
        }
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            #[cfg(any(test, feature = "test-util"))]
            {
                self.workload(i);
                self.play_arena(i);
            }
            let Some(s) = self.nodes[i].session.as_mut() else {
                continue;
            };
            s.update(now);
            s.drain_transmits(&mut out);
            while let Some(ev) = s.poll_event() {
                let peer = s.peer_id();
                self.metrics.on_event(now, peer, &ev);
            }
            if s.has_left() {
                let addr = self.nodes[i].addr;
                self.nodes[i].session = None;
                self.net.detach(addr);
            }
        }
        for t in out {
            self.net.send(now, t.from, t.to, t.bytes);
        }
        let mut metrics = std::mem::take(&mut self.metrics);
        metrics.observe(self);
        self.metrics = metrics;
    }
}
