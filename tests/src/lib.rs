//! Shared helpers of the cross-crate integration tests (simulated dropped peers).
#![forbid(unsafe_code)]

pub mod lab;

use std::time::Duration;

use netcode::sim::{LinkConditions, Scene, Sim, SimConfig};
use netcode::{PeerId, Scope, SessionEvent};

/// Links with `latency_ms` one-way latency, `jitter_ms` jitter and `loss` independent loss.
pub fn link(latency_ms: u64, jitter_ms: u64, loss: f64) -> LinkConditions {
    LinkConditions::default()
        .latency(Duration::from_millis(latency_ms))
        .jitter(Duration::from_millis(jitter_ms))
        .loss(loss)
}

/// A simulation of `peers` peers running the store workload on [`link`]s.
pub fn sim(peers: usize, seed: u64, latency_ms: u64, jitter_ms: u64, loss: f64) -> Sim {
    let link = link(latency_ms, jitter_ms, loss);
    Sim::new(
        SimConfig::default()
            .peers(peers)
            .seed(seed)
            .link(link)
            .scene(Scene::Store),
    )
}

/// Runs until every started peer is in the session, or panics after `limit_secs`.
pub fn form(sim: &mut Sim, limit_secs: f64) {
    let deadline = sim.now() + Duration::from_secs_f64(limit_secs);
    while sim.now() < deadline {
        sim.run_for_secs(0.1);
        let all_in = sim
            .nodes()
            .iter()
            .all(|n| n.session.as_ref().is_some_and(|s| s.in_session()));
        if all_in && sim.roster_agree() && sim.consensus_host().is_some() {
            return;
        }
    }
    panic!(
        "session did not form within {limit_secs} s: {} of {} in",
        sim.live_indices().len(),
        sim.nodes().len()
    );
}

/// The current consensus host, or a panic naming what the peers follow.
pub fn host(sim: &Sim) -> PeerId {
    sim.consensus_host()
        .unwrap_or_else(|| panic!("no single live host: peers follow {:?}", sim.hosts()))
}

/// The member that would succeed `host` by the election rule, as the host's roster says.
pub fn successor(sim: &Sim, host: PeerId) -> PeerId {
    let i = sim.index_of(host).expect("host runs");
    let roster = sim.session(i).expect("host session").roster();
    roster.successor(|p| p != host).expect("a successor exists")
}

/// Asserts the end state every scenario must reach: one live host everybody follows,
/// one roster, nothing replicated lost.
pub fn assert_healthy(sim: &Sim, live: usize) {
    assert_eq!(sim.live_indices().len(), live, "live peers");
    assert_eq!(sim.hosts().len(), 1, "exactly one host, got {:?}", sim.hosts());
    assert!(sim.consensus_host().is_some(), "the host is live");
    assert!(sim.roster_agree(), "all live peers hold the same roster");
    assert_eq!(sim.state_lost(), 0, "no replicated state lost");
}

/// Node indices of the host and of two other members (the tests that play a misbehaving
/// member: the host, the rogue, its victim).
pub fn roles(sim: &Sim) -> (usize, usize, usize) {
    let host_i = sim.index_of(host(sim)).expect("the host runs");
    let others: Vec<usize> = sim.live_indices().into_iter().filter(|i| *i != host_i).collect();
    (host_i, others[0], others[1])
}

/// Whether the peer `at` reported `offender` as misbehaving.
pub fn misbehaved(sim: &Sim, at: PeerId, offender: PeerId) -> bool {
    sim.events_of(at)
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::PeerMisbehaved { peer, .. } if *peer == offender))
}

/// The signing key of node `i`'s seat (tests play a member that misuses its own key).
pub fn seat_key(sim: &Sim, i: usize) -> netcode::identity::SeatKey {
    let secret = sim.session(i).expect("a live node").credentials().secret;
    netcode::identity::SeatKey::from_secret(&secret)
}

/// The score (workload counter) of `peer` as node `at` sees it.
pub fn score_seen_by(sim: &Sim, at: usize, peer: PeerId) -> u64 {
    let s = sim.session(at).expect("session runs");
    netcode::sim::read_u64(s.store().get(Scope::Peer(peer), netcode::sim::SCORE_KEY))
}

/// Index of a live peer that does not host (the first one).
pub fn non_host(sim: &Sim) -> usize {
    let h = host(sim);
    sim.live_indices()
        .into_iter()
        .find(|i| sim.session(*i).is_some_and(|s| s.peer_id() != h))
        .expect("a live non-host peer")
}

/// A program of the workspace next to the running test binary (`target/<profile>/<path>`),
/// brought up to date with `cargo build <build_args>` first (a no-op when it is fresh).
pub fn workspace_program(path: &str, build_args: &[&str]) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let bin = profile_dir.join(format!("{path}{}", std::env::consts::EXE_SUFFIX));
    // Always ask cargo: a program left by an earlier build would test stale code (cargo
    // does nothing when it is fresh).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .arg("build")
        .args(build_args)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build {build_args:?} failed");
    assert!(bin.exists(), "no program at {}", bin.display());
    bin
}

/// `name` from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Property-test settings: `cases` cases (or `PROPTEST_CASES`) from a fixed seed (or
/// `PROPTEST_RNG_SEED`), so that a run is the same every time unless asked otherwise.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: env_or("PROPTEST_CASES", cases),
        rng_seed: proptest::test_runner::RngSeed::Fixed(env_or("PROPTEST_RNG_SEED", 1)),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
