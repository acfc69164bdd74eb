//! What the simulated peers do besides being members (feature `test-util`): the store
//! workload (scores and a clock in the replicated store) and the arena scene (moving
//! players and host-owned objects as delta snapshots).

use super::*;
use crate::PeerId;
use crate::session::Session;
use crate::store::Scope;

/// Key of each peer's own counter in the built-in workload.
pub const SCORE_KEY: &str = "score";
/// Key of the host's clock in the built-in workload.
pub const CLOCK_KEY: &str = "clock";
/// Prefix of the host's pickups in the built-in workload.
pub const PICKUP_PREFIX: &str = "pickup-";
/// Interval of the store workload's writes (scores, clock).
const WRITE_INTERVAL: Duration = Duration::from_millis(250);
/// Interval between new pickups written by the host in the store workload.
const PICKUP_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes (key plus value) of each entry [`Sim::fill_store`] writes.
pub const FILL_ENTRY_BYTES: usize = 128;
/// Arena scene: shared objects are checked against the truth every this many scene ticks
/// (every tick: every phase of the send cycle is sampled).
const OBJECT_SAMPLE_TICKS: u32 = 1;

/// What the simulated peers do by themselves, besides being members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scene {
    /// Nothing: the test drives the sessions (as without the `test-util` feature).
    #[default]
    Idle,
    /// The store workload: every peer counts its own `score` up every 250 ms, the host
    /// writes its `clock` as often and a new `pickup-N` entry every second.
    Store,
    /// The arena ([`arena`]): every peer moves its player, the host owns `objects` shared
    /// objects (half idle), all replicated as delta snapshots.
    Arena {
        /// Shared objects the host owns.
        objects: usize,
    },
}

impl Scene {
    /// A session that starts or restarts, readied for this scene (the arena's schema).
    pub(super) fn prepared(self, mut session: Session) -> Session {
        if let Scene::Arena { .. } = self {
            session.set_schema(arena::schema());
        }
        session
    }
}

/// What one node's scene remembers between steps.
#[derive(Debug, Clone)]
pub(super) struct NodePlay {
    /// When the workload writes next.
    next_write: Duration,
    /// When the host writes its next pickup.
    next_pickup: Duration,
    /// The arena tick last played (`u32::MAX` before the first).
    scene_tick: u32,
    /// When the naive-baseline bytes are counted next.
    next_naive: Duration,
    /// Arena scene: the shared objects this node moves while it hosts.
    pub(super) hosted_objects: Option<Vec<u32>>,
}

impl NodePlay {
    /// A node that starts playing at `at`.
    pub(super) fn starting(at: Duration) -> Self {
        NodePlay {
            next_write: at,
            next_pickup: at,
            scene_tick: u32::MAX,
            next_naive: at,
            hosted_objects: None,
        }
    }
}

/// Reads a little-endian counter written by the workload (0 when absent or malformed).
pub fn read_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

impl Sim {
    /// Arena scene: sets the shared objects node `i` moves while it hosts (by default the
    /// creator's `0..objects`, and a new host's its replica's), e.g. ids no formula gives.
    pub fn set_hosted_objects(&mut self, i: usize, ids: Vec<u32>) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.play.hosted_objects = Some(ids);
        }
    }

    /// Fills the store to capacity through [`Sim::write`] (so the metrics follow every
    /// write): the host's shared scope, then every live member's own scope, with entries of
    /// [`FILL_ENTRY_BYTES`] (key plus value), each scope until a write is refused as
    /// [`SessionError::StoreFull`]. Returns how many writes it made.
    pub fn fill_store(&mut self) -> usize {
        let mut written = 0;
        let live = self.live_indices();
        let host = live
            .iter()
            .copied()
            .find(|i| self.session(*i).is_some_and(Session::is_host));
        let writers = host.map(|h| (h, Scope::Shared)).into_iter().chain(
            live.iter()
                .filter_map(|i| Some((*i, Scope::Peer(self.session(*i)?.peer_id())))),
        );
        for (i, scope) in writers.collect::<Vec<_>>() {
            for n in 0.. {
                let key = format!("fill-{n:05}");
                let value = vec![n as u8; FILL_ENTRY_BYTES - key.len()];
                match self.write(i, scope, &key, Some(value)) {
                    Ok(()) => written += 1,
                    Err(_) => break,
                }
            }
        }
        written
    }

    pub(super) fn workload(&mut self, i: usize) {
        if self.cfg.scene != Scene::Store {
            return;
        }
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(s) = node.session.as_mut() else { return };
        if !s.in_session() || now < node.play.next_write {
            return;
        }
        node.play.next_write = now + WRITE_INTERVAL;
        let me = s.peer_id();
        let host = s.is_host();
        let score = read_u64(s.store().get(Scope::Peer(me), SCORE_KEY)) + 1;
        let mut writes = vec![(Scope::Peer(me), SCORE_KEY.to_owned(), score.to_le_bytes().to_vec())];
        if host {
            writes.push((
                Scope::Shared,
                CLOCK_KEY.to_owned(),
                (now.as_millis() as u64).to_le_bytes().to_vec(),
            ));
            if now >= node.play.next_pickup {
                node.play.next_pickup = now + PICKUP_INTERVAL;
                let n = s
                    .store()
                    .scope(Scope::Shared)
                    .filter(|(k, _)| k.starts_with(PICKUP_PREFIX))
                    .count();
                writes.push((Scope::Shared, format!("{PICKUP_PREFIX}{n}"), vec![1]));
            }
        }
        for (scope, key, value) in writes {
            // A refused write (too large, not the host any more) is simply not counted.
            let _ = self.write(i, scope, &key, Some(value));
        }
    }

    pub(super) fn play_arena(&mut self, i: usize) {
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
        if node.play.scene_tick != tick {
            node.play.scene_tick = tick;
            s.publish_own(arena::own_snapshot(i, tick));
            if host {
                // The objects: the session's creator spawns them; a new host takes the ones
                // its replica holds, ids and all, at its promotion.
                let ids = node.play.hosted_objects.get_or_insert_with(|| match s.shared_state() {
                    Some((_, replica)) => replica.entities.keys().copied().collect(),
                    None => (0..objects as u32).collect(),
                });
                let _ = s.publish_shared(arena::shared_snapshot_of(ids.iter().copied(), tick));
            } else {
                node.play.hosted_objects = None;
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
        if now >= node.play.next_naive {
            node.play.next_naive = now + s.heartbeat_interval();
            let receivers = s.roster().active().count().saturating_sub(1) as u64;
            let size = arena::naive_bytes(i, host.then_some(objects), now.as_secs_f64()) as u64;
            self.arena.naive_bytes += size * receivers;
        }
        let stats = s.replication_stats();
        (self.arena).count_naive_same_rate(node.addr, i, objects, stats, now.as_secs_f64());
    }

    /// The report with the arena scene's figures (unchanged for other scenes).
    pub(super) fn with_arena_figures(&self, mut report: Report) -> Report {
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
}
