//! What a simulation measures: migration pauses (completed or not), rejoin times, false
//! migrations, lost state (reverted entries and lost writes), traffic. `docs/design.md`
//! ("What the simulator measures") says exactly what each measure counts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use super::Sim;
use super::writes::{Holder, LivePeer, WriteLedger, WriteOutcome};
use crate::PeerId;
use crate::session::{Session, SessionEvent};
use crate::store::{Entry, Scope, Version};

/// How often the set of committed entries is refreshed.
const COMMIT_SAMPLE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
struct PendingMigration {
    start: Duration,
    old_host: PeerId,
}

#[derive(Debug, Clone)]
struct PendingRejoin {
    peer: PeerId,
    start: Duration,
}

/// Measurements of a simulation.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Every event every peer reported (store changes left out), with time and peer.
    pub events: Vec<(Duration, PeerId, SessionEvent)>,
    /// Pause of each completed migration (host lost to all survivors agreeing). The
    /// migrations still pending are in [`Metrics::incomplete_migrations`].
    pub migration_pauses: Vec<Duration>,
    /// Time of each completed rejoin (restart to back in with old id and state).
    pub rejoin_times: Vec<Duration>,
    /// Time of each completed late join ([`Sim::add_peer`] to its `Joined` event, which
    /// comes once the whole store its welcome announced arrived).
    pub join_times: Vec<Duration>,
    /// Late joins started and not (yet) in, by peer, with their start.
    pending_joins: BTreeMap<PeerId, Duration>,
    /// Host changes, one per distinct (epoch, new host): two sides electing different
    /// hosts at the same epoch are two changes.
    pub host_changes: BTreeSet<(u64, PeerId)>,
    /// Host changes while the old host was alive and the new host could reach it.
    pub false_migrations: u64,
    /// When each false migration was seen: (time, epoch, old host, new host).
    pub false_migration_log: Vec<(Duration, u64, PeerId, PeerId)>,
    first_term: Option<(u64, PeerId)>,
    pending_migrations: Vec<PendingMigration>,
    pending_rejoins: Vec<PendingRejoin>,
    unchecked_changes: Vec<(u64, PeerId, PeerId)>,
    committed: BTreeMap<(Scope, String), Version>,
    writes: WriteLedger,
    crashed_scores: BTreeMap<PeerId, Duration>,
    next_commit_sample: Duration,
    node_seconds: f64,
    partition: PartitionFlaps,
}

/// Host changes while the network is split: how often a peer's host changes under it
/// (every `HostChanged` any peer reports counts, its own election included), per peer in
/// the session and minute of partition. A stable split costs each peer of the side without
/// the host one change; a flapping one, one every few seconds.
#[derive(Debug, Default, Clone)]
struct PartitionFlaps {
    since: Option<Duration>,
    /// Seconds of partition times the peers in the session, summed over the ticks.
    peer_seconds: f64,
    host_changes: u64,
    /// Whether any partition happened.
    seen: bool,
}

/// The summary `netsim --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Peers started at the beginning.
    pub peers: usize,
    /// The seed.
    pub seed: u64,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// Simulated seconds per wall second.
    pub sim_speed: f64,
    /// Distinct hosts among live peers at the end.
    pub final_hosts: usize,
    /// Whether all live peers hold the same roster.
    pub roster_agree: bool,
    /// Host changes (distinct epoch and new host).
    pub migrations: usize,
    /// Host losses whose survivors had not all agreed on a live host and heard each other
    /// again by the end of the run (their pause counts to the end in the pause figures).
    pub migrations_incomplete: usize,
    /// Host changes while the old host was alive and the new host could reach it.
    pub false_migrations: u64,
    /// Longest migration pause, in ms (an incomplete one counts to the end of the run).
    pub migration_pause_ms_max: f64,
    /// Median migration pause, in ms (an incomplete one counts to the end of the run).
    pub migration_pause_ms_p50: f64,
    /// Completed rejoins.
    pub rejoins: usize,
    /// Restarts not back in the session with their id and score by the end of the run
    /// (their time counts to the end in the rejoin figures).
    pub rejoins_incomplete: usize,
    /// Median rejoin, in ms (an incomplete one counts to the end of the run).
    pub rejoin_ms_p50: f64,
    /// Longest rejoin, in ms (an incomplete one counts to the end of the run).
    pub rejoin_ms_max: f64,
    /// Completed late joins ([`Sim::add_peer`], `netsim --join-at`; none: the join fields
    /// are left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joins: Option<usize>,
    /// Late joins not in by the end of the run (their time counts to the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joins_incomplete: Option<usize>,
    /// Median late join, in ms: from the start of the process to its `Joined` event,
    /// the whole store received (an incomplete one counts to the end of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_ms_p50: Option<f64>,
    /// Longest late join, in ms (an incomplete one counts to the end of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_ms_max: Option<f64>,
    /// Messages the live peers could not send (`SessionStats::unsent_messages`): 0.
    pub unsent_messages: u64,
    /// `committed_reverted + writes_lost`: must be 0 wherever a live peer could have kept
    /// the state.
    pub state_lost: usize,
    /// Entries, counted once per live peer, missing or older there than a version every
    /// live peer once held.
    pub committed_reverted: usize,
    /// Workload writes made.
    pub writes_recorded: u64,
    /// Acknowledged writes (applied on the host, or held by a peer besides the writer)
    /// that no process live at the end ever held.
    pub writes_lost: u64,
    /// Acknowledged writes a live process once held that no live peer holds at the end
    /// (a split-off side's shared writes, dropped when the sides merge).
    pub writes_discarded: u64,
    /// Datagram bytes sent per running peer per second.
    pub sent_bytes_per_peer_per_s: f64,
    /// Live peers at the end.
    pub live_peers: usize,
    /// `HostChanged` events peers reported while the network was split (absent when no
    /// partition happened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_host_changes: Option<u64>,
    /// Minutes of partition times the peers in the session (absent when no partition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_peer_minutes: Option<f64>,
    /// `partition_host_changes / partition_peer_minutes`: how often, per minute of a
    /// partition, a peer's host changes (absent when no partition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_host_changes_per_peer_min: Option<f64>,
    /// Arena scene: the same scene as full bincode snapshots every send tick, per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naive_bytes_per_peer_per_s: Option<f64>,
    /// Arena scene: the naive full bincode snapshots at the same per-stream rates as ours
    /// (a message of a stream each time we sent that stream on a link), per peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naive_same_rate_bytes_per_peer_per_s: Option<f64>,
    /// Arena scene: 99th percentile of rendered-versus-true remote player position, in
    /// percent of the arena width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interp_error_p99_pct: Option<f64>,
    /// Arena scene: 99th percentile distance between a peer's latest copy of a moving
    /// shared object and its true position (latency and spreading included), in percent
    /// of the arena width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_error_p99_pct: Option<f64>,
    /// Arena scene: bytes the final host sent per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_sent_bytes_per_s: Option<f64>,
    /// Arena scene: part of the wire bytes that is not snapshot payload (headers,
    /// encryption, acks, heartbeats, control).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead_share: Option<f64>,
}

/// The running peers in the session, each with its process identity.
fn live_peers(sim: &Sim) -> Vec<LivePeer<'_>> {
    sim.live_indices()
        .into_iter()
        .filter_map(|i| sim.session(i).map(|s| ((i, sim.nodes[i].session_since), s)))
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(values: &[Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort();
    let idx = ((v.len() - 1) as f64 * p).round() as usize;
    ms(v[idx])
}

impl Metrics {
    pub(super) fn host_lost(&mut self, now: Duration, old_host: PeerId) {
        self.pending_migrations.push(PendingMigration { start: now, old_host });
    }

    pub(super) fn crashed(&mut self, peer: PeerId, now: Duration) {
        self.crashed_scores.insert(peer, now);
    }

    pub(super) fn late_join(&mut self, peer: PeerId, now: Duration) {
        self.pending_joins.insert(peer, now);
    }

    /// Late joins not (yet) in, with their time so far.
    pub fn incomplete_joins(&self, now: Duration) -> Vec<Duration> {
        self.pending_joins.values().map(|t| now.saturating_sub(*t)).collect()
    }

    pub(super) fn restarted(&mut self, peer: PeerId, now: Duration) {
        self.pending_rejoins.push(PendingRejoin { peer, start: now });
    }

    /// Records a write `writer` just applied through [`Sim::write`] (see [`super::writes`]).
    pub(super) fn wrote(
        &mut self,
        writer: Holder,
        on_host: bool,
        before: Option<&Entry>,
        entry: (Scope, &str, &Entry),
    ) {
        self.writes.record(writer, on_host, before, entry);
    }

    /// Host losses not (yet) followed by a completed migration, with their pause so far.
    pub fn incomplete_migrations(&self, now: Duration) -> Vec<Duration> {
        self.pending_migrations
            .iter()
            .map(|m| now.saturating_sub(m.start))
            .collect()
    }

    /// Restarts not (yet) followed by a completed rejoin, with their time so far.
    pub fn incomplete_rejoins(&self, now: Duration) -> Vec<Duration> {
        self.pending_rejoins
            .iter()
            .map(|r| now.saturating_sub(r.start))
            .collect()
    }

    /// The session's first term (epoch and host): a peer going back to it (an unbacked
    /// claim withdrawn) is no host change.
    pub(super) fn first_term(&mut self, epoch: u64, host: PeerId) {
        self.first_term = Some((epoch, host));
    }

    /// The network was split (again) at `now`.
    pub(super) fn partition_started(&mut self, now: Duration) {
        self.partition.since.get_or_insert(now);
        self.partition.seen = true;
    }

    /// The network is whole again.
    pub(super) fn partition_ended(&mut self) {
        self.partition.since = None;
    }

    /// Host changes per peer and minute of partition so far (see [`Report`]), with the
    /// changes and the peer-minutes; `None` before any partition.
    pub fn partition_flaps(&self) -> Option<(u64, f64, f64)> {
        let p = &self.partition;
        p.seen.then(|| {
            let minutes = p.peer_seconds / 60.0;
            let rate = if minutes > 0.0 {
                p.host_changes as f64 / minutes
            } else {
                0.0
            };
            (p.host_changes, minutes, rate)
        })
    }

    pub(super) fn on_event(&mut self, now: Duration, peer: PeerId, ev: &SessionEvent) {
        if self.partition.since.is_some() && matches!(ev, SessionEvent::HostChanged { .. }) {
            self.partition.host_changes += 1;
        }
        if let SessionEvent::HostChanged { old, new, epoch } = ev
            && self.first_term != Some((*epoch, *new))
            && self.host_changes.insert((*epoch, *new))
        {
            self.unchecked_changes.push((*epoch, *old, *new));
        }
        if let SessionEvent::Joined { .. } = ev
            && let Some(start) = self.pending_joins.remove(&peer)
        {
            self.join_times.push(now.saturating_sub(start));
        }
        if !matches!(ev, SessionEvent::StoreChanged { .. }) {
            self.events.push((now, peer, ev.clone()));
        }
    }

    /// Called after every step.
    pub(super) fn observe(&mut self, sim: &Sim) {
        let now = sim.now;
        self.node_seconds +=
            sim.cfg.tick.as_secs_f64() * sim.nodes.iter().filter(|n| n.session.is_some()).count() as f64;
        let live = sim.live_indices();
        let sessions: Vec<&Session> = live.iter().filter_map(|i| sim.session(*i)).collect();
        if self.partition.since.is_some() {
            let members = sessions.iter().filter(|s| s.in_session()).count();
            self.partition.peer_seconds += sim.cfg.tick.as_secs_f64() * members as f64;
        }
        self.check_false_migrations(sim);
        self.complete_migrations(sim, &sessions, now);
        self.complete_rejoins(sim, now);
        self.commit(sim, &sessions, now);
    }

    fn check_false_migrations(&mut self, sim: &Sim) {
        // False migrations: the old host was alive and the new one could reach it (the
        // side of a split without the host electing its own is what the rules say).
        for (epoch, old, new) in std::mem::take(&mut self.unchecked_changes) {
            if let (Some(i), Some(j)) = (sim.index_of(old), sim.index_of(new))
                && sim.session(i).is_some_and(Session::in_session)
                && sim.components().iter().any(|c| c.contains(&i) && c.contains(&j))
            {
                self.false_migrations += 1;
                self.false_migration_log.push((sim.now, epoch, old, new));
            }
        }
    }

    fn complete_migrations(&mut self, sim: &Sim, sessions: &[&Session], now: Duration) {
        // Migrations complete when every survivor follows one new live host and hears
        // every other survivor again (nothing to work out while none is pending).
        if self.pending_migrations.is_empty() {
            return;
        }
        let window = sim.cfg.session.suspect_after;
        let hosts = sim.hosts();
        let agreed = match hosts.as_slice() {
            [h] => sim.live_peers().contains(h).then_some(*h),
            _ => None,
        };
        let all_hear = || {
            sessions.iter().all(|a| {
                sessions.iter().filter(|b| b.peer_id() != a.peer_id()).all(|b| {
                    a.last_heard(b.peer_id())
                        .is_some_and(|t| now.saturating_sub(t) <= window)
                })
            })
        };
        if let Some(h) = agreed
            && all_hear()
        {
            let pauses: Vec<Duration> = self
                .pending_migrations
                .iter()
                .filter(|m| m.old_host != h)
                .map(|m| now - m.start)
                .collect();
            self.migration_pauses.extend(pauses);
            self.pending_migrations.retain(|m| m.old_host == h);
        }
    }

    fn complete_rejoins(&mut self, sim: &Sim, now: Duration) {
        // Rejoins complete when the peer is back with its old id and every entry of its own
        // that the session had committed (the workload's score, say).
        let committed = &self.committed;
        let mut done = Vec::new();
        self.pending_rejoins.retain(|r| {
            let Some(i) = sim.index_of(r.peer) else { return true };
            let Some(s) = sim.session(i) else { return true };
            let own = Scope::Peer(r.peer);
            let restored = committed
                .iter()
                .filter(|((scope, _), _)| *scope == own)
                .all(|((_, key), v)| s.store().entry(own, key).is_some_and(|e| e.version >= *v));
            if s.in_session() && restored {
                done.push(now - r.start);
                false
            } else {
                true
            }
        });
        self.rejoin_times.extend(done);
    }

    fn commit(&mut self, sim: &Sim, sessions: &[&Session], now: Duration) {
        // The ledger: who holds each open write; settled writes are committed.
        let live_peers = live_peers(sim);
        for (scope, key, version) in self.writes.observe(&live_peers, now) {
            let v = self.committed.entry((scope, key)).or_default();
            *v = (*v).max(version);
        }

        // Committed entries: held by every live peer at some sample.
        if now >= self.next_commit_sample && !sessions.is_empty() {
            self.next_commit_sample = now + COMMIT_SAMPLE;
            let first = sessions[0].store();
            for (scope, key, entry) in first.iter() {
                let held_by_all = sessions
                    .iter()
                    .all(|s| s.store().entry(*scope, key).is_some_and(|e| e.version >= entry.version));
                if held_by_all {
                    let v = self.committed.entry((*scope, key.to_owned())).or_default();
                    *v = (*v).max(entry.version);
                }
            }
        }
    }

    /// Reverted committed entries plus lost writes.
    pub(super) fn state_lost(&self, sim: &Sim) -> usize {
        self.committed_reverted(sim) + self.write_outcome(sim).lost as usize
    }

    /// What became of the recorded writes, judged against the peers live now.
    pub(super) fn write_outcome(&self, sim: &Sim) -> WriteOutcome {
        self.writes.outcome(&live_peers(sim))
    }

    /// The writes [`Metrics::write_outcome`] counts as lost.
    pub(super) fn lost_writes(&self, sim: &Sim) -> Vec<super::LostWrite> {
        self.writes.lost(&live_peers(sim))
    }

    /// Entries, once per live peer, missing or older than a version all live peers held.
    pub(super) fn committed_reverted(&self, sim: &Sim) -> usize {
        self.reverted_entries(sim).len()
    }

    /// What [`Metrics::committed_reverted`] counts: (node, scope, key, committed version,
    /// the version the node holds).
    pub(super) fn reverted_entries(&self, sim: &Sim) -> Vec<(usize, Scope, String, Version, Option<Version>)> {
        let mut out = Vec::new();
        for i in sim.live_indices() {
            let Some(s) = sim.session(i) else { continue };
            for ((scope, key), v) in &self.committed {
                let held = s.store().entry(*scope, key).map(|e| e.version);
                if held.is_none_or(|h| h < *v) {
                    out.push((i, *scope, key.clone(), *v, held));
                }
            }
        }
        out
    }

    /// Seconds of running peers so far (the denominator of per-peer rates).
    #[cfg(any(test, feature = "test-util"))]
    pub(super) fn node_seconds(&self) -> f64 {
        self.node_seconds
    }

    pub(super) fn report(&self, sim: &Sim, wall_seconds: f64) -> Report {
        let sim_seconds = sim.now.as_secs_f64();
        let bytes: u64 = sim.net.stats().bytes_sent;
        let mut pauses = self.migration_pauses.clone();
        pauses.extend(self.incomplete_migrations(sim.now));
        let writes = self.write_outcome(sim);
        let mut rejoin_times = self.rejoin_times.clone();
        rejoin_times.extend(self.incomplete_rejoins(sim.now));
        let committed_reverted = self.committed_reverted(sim);
        let flaps = self.partition_flaps();
        let mut join_times = self.join_times.clone();
        join_times.extend(self.incomplete_joins(sim.now));
        let late = !join_times.is_empty();
        let unsent_messages = sim
            .live_indices()
            .into_iter()
            .filter_map(|i| sim.session(i))
            .map(|s| s.stats().unsent_messages)
            .sum();
        Report {
            peers: sim.cfg.peers,
            seed: sim.cfg.seed,
            sim_seconds,
            wall_seconds,
            sim_speed: if wall_seconds > 0.0 {
                sim_seconds / wall_seconds
            } else {
                0.0
            },
            final_hosts: sim.hosts().len(),
            roster_agree: sim.roster_agree(),
            migrations: self.host_changes.len(),
            migrations_incomplete: self.pending_migrations.len(),
            false_migrations: self.false_migrations,
            migration_pause_ms_max: percentile(&pauses, 1.0),
            migration_pause_ms_p50: percentile(&pauses, 0.5),
            rejoins: self.rejoin_times.len(),
            rejoins_incomplete: self.pending_rejoins.len(),
            rejoin_ms_p50: percentile(&rejoin_times, 0.5),
            rejoin_ms_max: percentile(&rejoin_times, 1.0),
            joins: late.then_some(self.join_times.len()),
            joins_incomplete: late.then_some(self.pending_joins.len()),
            join_ms_p50: late.then(|| percentile(&join_times, 0.5)),
            join_ms_max: late.then(|| percentile(&join_times, 1.0)),
            unsent_messages,
            state_lost: committed_reverted + writes.lost as usize,
            committed_reverted,
            writes_recorded: writes.recorded,
            writes_lost: writes.lost,
            writes_discarded: writes.discarded,
            sent_bytes_per_peer_per_s: if self.node_seconds > 0.0 {
                bytes as f64 / self.node_seconds
            } else {
                0.0
            },
            live_peers: sim.live_indices().len(),
            partition_host_changes: flaps.map(|f| f.0),
            partition_peer_minutes: flaps.map(|f| f.1),
            partition_host_changes_per_peer_min: flaps.map(|f| f.2),
            naive_bytes_per_peer_per_s: None,
            naive_same_rate_bytes_per_peer_per_s: None,
            interp_error_p99_pct: None,
            host_sent_bytes_per_s: None,
            object_error_p99_pct: None,
            overhead_share: None,
        }
    }
}
