//! The simulated session as a Bevy resource: advancing it in real time, the keyboard
//! actions that inject faults, and the de-duplicated log of membership events.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bevy::prelude::*;
use netcode::sim::{NodeStatus, Sim};
use netcode::{PeerId, Scope, Session, SessionEvent};

/// Longest simulated step taken for one frame, so a stalled frame never fast-forwards.
const MAX_FRAME_STEP: Duration = Duration::from_millis(100);
/// Every live peer adds one to its replicated score this often, so the panel shows
/// whether state survives crashes and migrations.
const SCORE_INTERVAL: Duration = Duration::from_millis(250);
/// Store key of each peer's score (its own scope), a little-endian `u64`.
const SCORE_KEY: &str = "score";
/// Membership events kept for the panel.
const LOG_LEN: usize = 8;
/// Reports of the same change by different peers within this window count as one entry.
const DEDUP_WINDOW: Duration = Duration::from_secs(3);

/// The running simulation, advanced by [`advance_sim`] every frame.
#[derive(Resource)]
pub struct SimState {
    /// The simulation itself.
    pub sim: Sim,
    /// Simulated time the clock should have reached (real time, with capped steps).
    target: Duration,
    /// When the peers next add to their scores.
    next_score: Duration,
    /// Display names of every peer ever seen (crashed peers drop out of rosters).
    names: HashMap<PeerId, String>,
    /// Recent membership changes, oldest first.
    pub log: VecDeque<LogEntry>,
    /// How many of `sim.metrics.events` were already read into `log`.
    events_read: usize,
    /// What the last key press did, for the panel.
    pub last_action: String,
    /// State of the generator that picks which peer `C` crashes.
    rng: u64,
}

/// One membership change as shown in the panel.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Simulated time of the first report.
    pub at: Duration,
    /// What changed.
    pub change: Change,
    /// How many peers reported it.
    pub reports: usize,
}

/// The membership changes the panel lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new member joined.
    Joined(PeerId),
    /// A member dropped; its seat is held.
    Away(PeerId),
    /// A dropped member took its seat back.
    Rejoined(PeerId),
    /// A member left the roster.
    Left(PeerId),
    /// The host role moved.
    Host {
        /// Previous host.
        old: PeerId,
        /// New host.
        new: PeerId,
        /// Epoch of the new host.
        epoch: u64,
    },
}

impl Change {
    /// The membership change an event reports, if any.
    fn from_event(ev: &SessionEvent) -> Option<Change> {
        match *ev {
            SessionEvent::PeerJoined { peer } => Some(Change::Joined(peer)),
            SessionEvent::PeerAway { peer } => Some(Change::Away(peer)),
            SessionEvent::PeerRejoined { peer } => Some(Change::Rejoined(peer)),
            SessionEvent::PeerLeft { peer, .. } => Some(Change::Left(peer)),
            SessionEvent::HostChanged { old, new, epoch } => Some(Change::Host { old, new, epoch }),
            _ => None,
        }
    }
}

impl SimState {
    /// Wraps a freshly started simulation; `seed` drives the choice of crashed peers.
    pub fn new(sim: Sim, seed: u64) -> Self {
        SimState {
            sim,
            target: Duration::ZERO,
            next_score: Duration::ZERO,
            names: HashMap::new(),
            log: VecDeque::new(),
            events_read: 0,
            last_action: "none yet".to_owned(),
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Advances the simulation by `dt` of real time (capped at [`MAX_FRAME_STEP`]).
    pub fn advance(&mut self, dt: Duration) {
        self.target += dt.min(MAX_FRAME_STEP);
        while self.next_score < self.target {
            self.sim.run_until(self.next_score);
            self.add_scores();
            self.next_score += SCORE_INTERVAL;
        }
        self.sim.run_until(self.target);
        self.learn_names();
        self.read_events();
    }

    /// Every peer in the session adds one to its score (written through the simulator, so
    /// its checks count a score that never reached everyone).
    fn add_scores(&mut self) {
        for i in self.sim.live_indices() {
            let Some(peer) = self.sim.session(i).map(Session::peer_id) else {
                continue;
            };
            let score = self.score_at(i, peer) + 1;
            // A refused write (the peer left meanwhile) is skipped: the next one comes soon.
            let _ = self
                .sim
                .write(i, Scope::Peer(peer), SCORE_KEY, Some(score.to_le_bytes().to_vec()));
        }
    }

    /// Records the display name of every member any live peer knows.
    fn learn_names(&mut self) {
        for node in self.sim.nodes() {
            let Some(s) = node.session.as_ref() else {
                continue;
            };
            for m in &s.roster().members {
                self.names.entry(m.id).or_insert_with(|| m.name.clone());
            }
        }
    }

    /// Moves new membership events from the metrics into the log, merging the reports
    /// of one change by several peers.
    fn read_events(&mut self) {
        let events = &self.sim.metrics.events;
        for (at, _, ev) in &events[self.events_read.min(events.len())..] {
            let Some(change) = Change::from_event(ev) else {
                continue;
            };
            let dup = self.log.iter_mut().rev().find(|e| {
                e.change == change || matches!((e.change, change), (Change::Host { epoch: a, .. }, Change::Host { epoch: b, .. }) if a == b)
            });
            match dup {
                Some(entry) if at.saturating_sub(entry.at) < DEDUP_WINDOW => entry.reports += 1,
                _ => {
                    self.log.push_back(LogEntry {
                        at: *at,
                        change,
                        reports: 1,
                    });
                    if self.log.len() > LOG_LEN {
                        self.log.pop_front();
                    }
                }
            }
        }
        self.events_read = events.len();
    }

    /// The display name of a peer (its roster name, else its node, else its id).
    pub fn name(&self, peer: PeerId) -> String {
        if let Some(name) = self.names.get(&peer) {
            return name.clone();
        }
        match self.node_of(peer) {
            Some(i) => format!("peer{i}"),
            None => format!("{peer}"),
        }
    }

    /// Index of the node that runs (or ran) `peer`.
    pub fn node_of(&self, peer: PeerId) -> Option<usize> {
        self.sim
            .nodes()
            .iter()
            .position(|n| n.credentials.is_some_and(|c| c.peer == peer))
    }

    /// The host: the one live peers agree on, else the first any of them follows.
    pub fn current_host(&self) -> Option<PeerId> {
        self.sim.consensus_host().or_else(|| self.sim.hosts().first().copied())
    }

    /// The session whose view the panel shows: the host's, else any live one.
    pub fn view(&self) -> Option<&Session> {
        let host = self
            .current_host()
            .and_then(|h| self.sim.index_of(h))
            .and_then(|i| self.sim.session(i));
        host.or_else(|| self.sim.live_indices().first().and_then(|i| self.sim.session(*i)))
    }

    /// The score of `peer` as the replicated store holds it (its own copy first).
    pub fn score(&self, peer: PeerId) -> u64 {
        let own = self.sim.index_of(peer).and_then(|i| self.sim.session(i));
        own.or_else(|| self.view()).map_or(0, |s| read_score(s, peer))
    }

    /// The score of `peer` as node `i` holds it.
    fn score_at(&self, i: usize, peer: PeerId) -> u64 {
        self.sim.session(i).map_or(0, |s| read_score(s, peer))
    }

    /// A pseudo-random number (splitmix64) for picking victims.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Simulated time as seconds, for the messages.
    fn now_secs(&self) -> f64 {
        self.sim.now().as_secs_f64()
    }

    /// `K`: crashes the host.
    pub fn crash_host(&mut self) {
        self.last_action = match self.current_host() {
            Some(h) => {
                self.sim.crash_peer(h);
                format!("{:.2}s crashed host {}", self.now_secs(), self.name(h))
            }
            None => "K: no host to crash".to_owned(),
        };
    }

    /// `C`: crashes a random live peer that is not a host.
    pub fn crash_random(&mut self) {
        let hosts = self.sim.hosts();
        let candidates: Vec<usize> = self
            .sim
            .live_indices()
            .into_iter()
            .filter(|i| self.sim.session(*i).is_some_and(|s| !hosts.contains(&s.peer_id())))
            .collect();
        self.last_action = if candidates.is_empty() {
            "C: no non-host peer to crash".to_owned()
        } else {
            let i = candidates[(self.next_random() % candidates.len() as u64) as usize];
            self.sim.crash(i);
            format!("{:.2}s crashed peer{i}", self.now_secs())
        };
    }

    /// `R`: restarts every crashed peer; each rejoins with its saved secret.
    pub fn restart_crashed(&mut self) {
        let crashed: Vec<usize> = (0..self.sim.nodes().len())
            .filter(|i| self.sim.nodes()[*i].status == NodeStatus::Crashed)
            .collect();
        for &i in &crashed {
            self.sim.restart(i);
        }
        self.last_action = if crashed.is_empty() {
            "R: no crashed peer".to_owned()
        } else {
            let list: Vec<String> = crashed.iter().map(|i| format!("peer{i}")).collect();
            format!("{:.2}s restarted {}", self.now_secs(), list.join(", "))
        };
    }

    /// `J`: a new peer joins.
    pub fn add_peer(&mut self) {
        let i = self.sim.add_peer();
        self.last_action = format!("{:.2}s peer{i} joins", self.now_secs());
    }

    /// `L`: the host leaves gracefully.
    pub fn host_leaves(&mut self) {
        self.last_action = match self.current_host().and_then(|h| self.sim.index_of(h)) {
            Some(i) => {
                self.sim.leave(i);
                format!("{:.2}s host peer{i} leaves", self.now_secs())
            }
            None => "L: no host to leave".to_owned(),
        };
    }
}

/// Advances the simulation by the frame's real time.
pub fn advance_sim(time: Res<Time<Real>>, mut state: ResMut<SimState>) {
    let dt = time.delta();
    state.advance(dt);
}

/// Maps the keys to faults: K, C, R, J, L (see the panel); Esc quits.
pub fn handle_keys(keys: Res<ButtonInput<KeyCode>>, mut state: ResMut<SimState>, mut exit: MessageWriter<AppExit>) {
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::Success);
    }
    if keys.just_pressed(KeyCode::KeyK) {
        state.crash_host();
    }
    if keys.just_pressed(KeyCode::KeyC) {
        state.crash_random();
    }
    if keys.just_pressed(KeyCode::KeyR) {
        state.restart_crashed();
    }
    if keys.just_pressed(KeyCode::KeyJ) {
        state.add_peer();
    }
    if keys.just_pressed(KeyCode::KeyL) {
        state.host_leaves();
    }
}

/// The score of `peer` in `session`'s store (0 when absent or malformed).
fn read_score(session: &Session, peer: PeerId) -> u64 {
    let bytes = session.store().get(Scope::Peer(peer), SCORE_KEY);
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcode::sim::SimConfig;

    /// One 60 Hz frame.
    const FRAME: Duration = Duration::from_millis(16);

    fn run(state: &mut SimState, secs: u32) {
        for _ in 0..secs * 60 {
            state.advance(FRAME);
        }
    }

    /// The view's peers count their scores up through the simulator, the scores survive a
    /// host crash and a restart, and the simulator saw no write go missing.
    #[test]
    fn scores_climb_and_survive_a_host_crash() {
        let sim = Sim::new(SimConfig::default().peers(3).seed(11));
        let mut state = SimState::new(sim, 11);
        run(&mut state, 3);
        let peers = state.sim.live_peers();
        assert_eq!(peers.len(), 3);
        // About 4 writes a second from the moment each one joined.
        assert!(
            peers.iter().all(|p| state.score(*p) >= 8),
            "{:?}",
            peers.iter().map(|p| state.score(*p)).collect::<Vec<_>>()
        );
        let host = state.current_host().expect("a host");
        let before = state.score(host);
        state.crash_host();
        run(&mut state, 3);
        assert_ne!(state.current_host(), Some(host), "a survivor hosts");
        assert_eq!(state.score(host), before, "the crashed host's score is kept, not reset");
        state.restart_crashed();
        run(&mut state, 3);
        assert!(
            state.score(host) > before,
            "back in its seat, it counts on from its score"
        );
        let outcome = state.sim.write_outcome();
        assert!(outcome.recorded > 50, "{outcome:?}");
        assert_eq!((outcome.lost, outcome.discarded), (0, 0), "{outcome:?}");
    }
}
