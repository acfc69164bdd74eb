//! A deterministic simulation of whole sessions: many [`Session`]s in one process on a
//! [`SimNetwork`] with a virtual clock. The packets are the real encrypted netcode ones.
//!
//! Peers are addressed by *index*: the order in which the simulation started them
//! (index 0 creates the session). A small built-in workload writes state all the time
//! (each peer its `score`, the host a `clock` and new `pickup-N` entries), so that the
//! checks can tell whether anything replicated was lost.

pub mod arena;
mod memory;
mod metrics;
mod net;
mod writes;

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::session::{Credentials, PeerSetup, Session, SessionEvent, SessionKey};
use crate::store::Scope;
use crate::{PeerId, SessionConfig};

pub use memory::{MEMORY_JOIN_TIMEOUT, MemoryNet, MemoryPeer};
pub use metrics::{Metrics, Report};
pub use net::{Datagram, LinkConditions, NetStats, SimNetwork};
pub use writes::WriteOutcome;

/// Key of each peer's own counter in the built-in workload.
pub const SCORE_KEY: &str = "score";
/// Arena scene: shared objects are checked against the truth every this many scene ticks
/// (every tick: every phase of the send cycle is sampled).
const OBJECT_SAMPLE_TICKS: u32 = 1;
/// Key of the host's clock in the built-in workload.
pub const CLOCK_KEY: &str = "clock";
/// Prefix of the host's pickups in the built-in workload.
pub const PICKUP_PREFIX: &str = "pickup-";

/// Setup of a simulation. Every field's default is in its doc.
#[derive(Debug, Clone)]
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
    /// Whether the built-in workload writes state. Default: true.
    pub workload: bool,
    /// Interval of workload writes (scores, clock). Default: 250 ms.
    pub write_interval: Duration,
    /// Interval between new pickups written by the host. Default: 1 s.
    pub pickup_interval: Duration,
    /// What the peers play. Default: [`Scene::Store`].
    pub scene: Scene,
}

/// What the simulated peers do besides the built-in store workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    /// Nothing but the store workload.
    Store,
    /// The arena ([`arena`]): every peer moves its player, the host owns `objects` shared
    /// objects (half idle), all replicated as delta snapshots.
    Arena {
        /// Shared objects the host owns.
        objects: usize,
    },
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
            workload: true,
            write_interval: Duration::from_millis(250),
            pickup_interval: Duration::from_secs(1),
            scene: Scene::Store,
        }
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
    next_write: Duration,
    next_pickup: Duration,
    scene_tick: u32,
    next_naive: Duration,
    session_since: Duration,
    /// Arena scene: the shared objects this node moves while it hosts.
    hosted_objects: Option<Vec<u32>>,
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
    /// What the arena scene measured (empty for other scenes).
    pub arena: arena::ArenaMeasure,
}

impl Sim {
    /// Starts a simulation: peer 0 creates the session, the others join through it.
    pub fn new(cfg: SimConfig) -> Self {
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
            arena: arena::ArenaMeasure::default(),
            cfg,
        };
        for i in 0..sim.cfg.peers {
            let at = sim.cfg.join_spacing * i as u32;
            sim.schedule_node(at);
        }
        sim
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
            next_write: at,
            next_pickup: at,
            scene_tick: u32::MAX,
            next_naive: at,
            session_since: at,
            hosted_objects: None,
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
        }
    }

    fn start_node(&mut self, i: usize) {
        let addr = self.nodes[i].addr;
        let mut rng = StdRng::seed_from_u64(self.rng.random());
        let setup = self.setup(i, addr);
        let session = if i == 0 && self.nodes.iter().all(|n| n.session.is_none()) {
            let s = Session::create(setup, self.now, &mut rng);
            self.metrics.first_term(s.roster().epoch, s.peer_id());
            Some(s)
        } else {
            let contacts = self.random_contacts(i);
            Session::join(setup, contacts, self.now, &mut rng).ok()
        };
        if let Some(mut s) = session {
            if let Scene::Arena { .. } = self.cfg.scene {
                s.set_schema(arena::schema());
            }
            self.net.attach(addr);
            self.nodes[i].credentials = Some(s.credentials());
            self.nodes[i].session = Some(s);
            self.nodes[i].status = NodeStatus::Running;
        }
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
        if let Ok(mut s) = s {
            if let Scene::Arena { .. } = self.cfg.scene {
                s.set_schema(arena::schema());
            }
            self.net.attach(addr);
            let node = &mut self.nodes[i];
            node.addr = addr;
            node.session = Some(s);
            node.session_since = self.now;
            node.hosted_objects = None;
            node.status = NodeStatus::Running;
            self.metrics.restarted(creds.peer, self.now);
        }
    }

    /// Arena scene: sets the shared objects node `i` moves while it hosts (by default the
    /// creator's `0..objects`, and a new host's its replica's), e.g. ids no formula gives.
    pub fn set_hosted_objects(&mut self, i: usize, ids: Vec<u32>) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.hosted_objects = Some(ids);
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
    }

    /// Ends the partition.
    pub fn heal_partition(&mut self) {
        self.net.heal_partition();
    }

    /// Runs for `secs` simulated seconds.
    pub fn run_for_secs(&mut self, secs: f64) {
        let until = self.now + Duration::from_secs_f64(secs);
        self.run_until(until);
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
            }
        }
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            self.workload(i);
            self.play_arena(i);
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

    fn workload(&mut self, i: usize) {
        if !self.cfg.workload {
            return;
        }
        let now = self.now;
        let (write_interval, pickup_interval) = (self.cfg.write_interval, self.cfg.pickup_interval);
        let node = &mut self.nodes[i];
        let Some(s) = node.session.as_mut() else { return };
        if !s.in_session() || now < node.next_write {
            return;
        }
        node.next_write = now + write_interval;
        let me = s.peer_id();
        let host = s.is_host();
        let writer = (i, node.session_since);
        let score = read_u64(s.store().get(Scope::Peer(me), SCORE_KEY)) + 1;
        let mut writes = vec![(Scope::Peer(me), SCORE_KEY.to_owned(), score.to_le_bytes().to_vec())];
        if host {
            writes.push((
                Scope::Shared,
                CLOCK_KEY.to_owned(),
                (now.as_millis() as u64).to_le_bytes().to_vec(),
            ));
            if now >= node.next_pickup {
                node.next_pickup = now + pickup_interval;
                let n = s
                    .store()
                    .scope(Scope::Shared)
                    .filter(|(k, _)| k.starts_with(PICKUP_PREFIX))
                    .count();
                writes.push((Scope::Shared, format!("{PICKUP_PREFIX}{n}"), vec![1]));
            }
        }
        for (scope, key, value) in writes {
            let before = s.store().entry(scope, &key).cloned();
            let written = match scope {
                Scope::Shared => s.set_shared(&key, Some(value)),
                Scope::Peer(_) => s.set_own(&key, Some(value)),
            };
            if written.is_ok()
                && let Some(e) = s.store().entry(scope, &key)
            {
                self.metrics.wrote(writer, host, before.as_ref(), (scope, &key, e));
            }
        }
    }

    fn play_arena(&mut self, i: usize) {
        let Scene::Arena { objects } = self.cfg.scene else {
            return;
        };
        let now = self.now;
        let tick = arena::tick_at(now);
        let peers: Vec<(usize, PeerId)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(j, n)| *j != i && n.session.as_ref().is_some_and(Session::in_session))
            .filter_map(|(j, n)| n.session.as_ref().map(|s| (j, s.peer_id())))
            .collect();
        let node = &mut self.nodes[i];
        let Some(s) = node.session.as_mut() else { return };
        if !s.in_session() {
            return;
        }
        let host = s.is_host();
        if node.scene_tick != tick {
            node.scene_tick = tick;
            s.publish_own(arena::own_snapshot(i, tick));
            if host {
                // The objects: the session's creator spawns them; a new host takes the ones
                // its replica holds, ids and all, at its promotion.
                let ids = node.hosted_objects.get_or_insert_with(|| match s.shared_state() {
                    Some((_, replica)) => replica.entities.keys().copied().collect(),
                    None => (0..objects as u32).collect(),
                });
                let _ = s.publish_shared(arena::shared_snapshot_of(ids.iter().copied(), tick));
            } else {
                node.hosted_objects = None;
            }
            // Render every remote player at the scene rate and compare with the truth.
            for (j, peer) in &peers {
                if let Some(snapshot) = s.remote_state(*peer) {
                    self.arena.receive(i, *peer, snapshot, now);
                }
                self.arena.render(i, *peer, *j, now);
            }
            if !host
                && tick.is_multiple_of(OBJECT_SAMPLE_TICKS)
                && let Some((_, shared)) = s.shared_state()
            {
                self.arena.objects(shared, now);
            }
        }
        if now >= node.next_naive {
            node.next_naive = now + s.heartbeat_interval();
            let receivers = s.roster().active().count().saturating_sub(1) as u64;
            let size = arena::naive_bytes(i, host.then_some(objects), now.as_secs_f64()) as u64;
            self.arena.naive_bytes += size * receivers;
        }
        let stats = s.replication_stats();
        (self.arena).count_naive_same_rate(node.addr, i, objects, stats, now.as_secs_f64());
    }

    /// Running nodes that are in the session.
    pub fn live_indices(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].session.as_ref().is_some_and(Session::in_session))
            .collect()
    }

    /// Peer ids of the running nodes that are in the session.
    pub fn live_peers(&self) -> Vec<PeerId> {
        self.live_indices()
            .iter()
            .filter_map(|i| self.session(*i).map(Session::peer_id))
            .collect()
    }

    /// Distinct hosts the live peers follow.
    pub fn hosts(&self) -> Vec<PeerId> {
        let mut hosts: Vec<PeerId> = self
            .live_indices()
            .iter()
            .filter_map(|i| self.session(*i).and_then(Session::host))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The host every live peer agrees on, if they agree and it is live itself.
    pub fn consensus_host(&self) -> Option<PeerId> {
        match self.hosts().as_slice() {
            [h] if self.live_peers().contains(h) => Some(*h),
            _ => None,
        }
    }

    /// Whether every live peer holds the same roster.
    pub fn roster_agree(&self) -> bool {
        let live = self.live_indices();
        let Some(first) = live.first().and_then(|i| self.session(*i)) else {
            return true;
        };
        live.iter()
            .filter_map(|i| self.session(*i))
            .all(|s| s.roster() == first.roster())
    }

    /// Groups of live node indices that can reach each other on the network.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let live = self.live_indices();
        let mut comps: Vec<Vec<usize>> = Vec::new();
        let mut seen = vec![false; self.nodes.len()];
        for &start in &live {
            if seen[start] {
                continue;
            }
            let mut comp = vec![start];
            seen[start] = true;
            let mut k = 0;
            while k < comp.len() {
                let a = comp[k];
                for &b in &live {
                    if !seen[b] && self.net.connected(self.nodes[a].addr, self.nodes[b].addr) {
                        seen[b] = true;
                        comp.push(b);
                    }
                }
                k += 1;
            }
            comp.sort();
            comps.push(comp);
        }
        comps
    }

    /// Replicated state lost: entries that some live peer lacks or holds at an older
    /// version than was once held by every live peer, plus acknowledged workload writes
    /// that no live process ever held (see [`WriteOutcome`]).
    pub fn state_lost(&self) -> usize {
        self.metrics.state_lost(self)
    }

    /// What became of the workload's writes, judged against the peers live now.
    pub fn write_outcome(&self) -> WriteOutcome {
        self.metrics.write_outcome(self)
    }

    /// Entries that some live peer lacks or holds older than all live peers once held.
    pub fn committed_reverted(&self) -> usize {
        self.metrics.committed_reverted(self)
    }

    /// Sum of the sessions' traffic and rejection counters.
    pub fn total_rejected(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.session.as_ref())
            .map(|s| s.stats().rejected_messages)
            .sum()
    }

    /// The summary of the run so far.
    pub fn report(&self, wall_seconds: f64) -> Report {
        let mut report = self.metrics.report(self, wall_seconds);
        if let Scene::Arena { .. } = self.cfg.scene {
            let node_seconds = self.metrics.node_seconds().max(f64::EPSILON);
            report.naive_bytes_per_peer_per_s = Some(self.arena.naive_bytes as f64 / node_seconds);
            report.naive_same_rate_bytes_per_peer_per_s = Some(self.arena.naive_same_rate_bytes as f64 / node_seconds);
            report.interp_error_p99_pct = Some(self.arena.interp_error_p99_pct());
            report.object_error_p99_pct = Some(self.arena.object_error_p99_pct());
            let host = self.consensus_host().and_then(|h| self.index_of(h));
            report.host_sent_bytes_per_s = host.and_then(|i| {
                let node = &self.nodes[i];
                let up = self.now.saturating_sub(node.session_since).as_secs_f64();
                node.session
                    .as_ref()
                    .map(|s| s.stats().bytes_sent as f64 / up.max(f64::EPSILON))
            });
            let sessions = self.nodes.iter().filter_map(|n| n.session.as_ref());
            let (payload, wire) = sessions.fold((0u64, 0u64), |(p, w), s| {
                (p + s.replication_stats().payload_bytes_sent, w + s.stats().bytes_sent)
            });
            report.overhead_share = (wire > 0).then(|| 1.0 - payload as f64 / wire as f64);
        }
        report
    }

    /// Drains nothing but lets tests see the events a node produced (recorded in metrics).
    pub fn events_of(&self, peer: PeerId) -> Vec<(Duration, SessionEvent)> {
        self.metrics
            .events
            .iter()
            .filter(|(_, p, _)| *p == peer)
            .map(|(t, _, e)| (*t, e.clone()))
            .collect()
    }
}

/// Reads a little-endian counter written by the workload (0 when absent or malformed).
pub fn read_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}
