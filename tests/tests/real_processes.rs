//! Real peer processes on loopback (port 0): the `peer` example of `netcode`, driven as a
//! player would, killed with SIGKILL, restarted from its seat file.

use std::path::PathBuf;
use std::time::Duration;

use netcode_procs as procs;

use procs::{PeerProc, Scenario, hosting, joined, kill_host_and_rejoin};

const STEP: Duration = Duration::from_secs(30);

// Bounds near the loopback figures of docs/figures.md (release `loopback_bench`, 10 runs), about 3x
// their max for a noisy 2-core machine running a debug build.
/// No conditioner: migration max 159 ms published.
const PLAIN_MIGRATION_MS: u64 = 500;
/// No conditioner: rejoin max 14 ms published; the process start of a debug build on a
/// loaded machine is most of this margin (19 to 32 ms seen here).
const PLAIN_REJOIN_MS: u64 = 100;
/// 100 ms latency, 10% loss: migration max 652 ms published.
const LOSSY_MIGRATION_MS: u64 = 2_000;
/// 100 ms latency, 10% loss: rejoin max 873 ms published.
const LOSSY_REJOIN_MS: u64 = 2_600;

/// One scenario at a time: a few processes each, not a dozen competing for two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `peer` example, built next to this test (`cargo test --workspace` builds examples).
fn peer_binary() -> PathBuf {
    netcode_tests::workspace_program("examples/peer", &["-p", "netcode", "--example", "peer"])
}

#[test]
fn four_processes_survive_a_killed_host_and_it_takes_its_seat_back() {
    let _one_at_a_time = serial();
    let scenario = Scenario {
        peers: 4,
        extra: Vec::new(),
        step_timeout: STEP,
    };
    let outcome = kill_host_and_rejoin(&peer_binary(), &[], &scenario).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.migration_ms <= PLAIN_MIGRATION_MS, "{outcome:?}");
    assert!(outcome.rejoin_ms <= PLAIN_REJOIN_MS, "{outcome:?}");
}

#[test]
fn the_same_holds_under_100_ms_latency_and_10_percent_loss() {
    let _one_at_a_time = serial();
    let scenario = Scenario {
        peers: 4,
        extra: ["--sim-latency", "100", "--sim-loss", "0.1"].map(String::from).to_vec(),
        step_timeout: STEP,
    };
    let outcome = kill_host_and_rejoin(&peer_binary(), &[], &scenario).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.migration_ms <= LOSSY_MIGRATION_MS, "{outcome:?}");
    assert!(outcome.rejoin_ms <= LOSSY_REJOIN_MS, "{outcome:?}");
}

#[test]
fn a_wrong_invite_code_is_refused_clearly_and_the_session_does_not_notice() {
    let _one_at_a_time = serial();
    let bin = peer_binary();
    let local = ["--bind", "127.0.0.1"].map(String::from);
    let mut host = PeerProc::spawn("host", &bin, &[vec!["host".to_string()], local.to_vec()].concat()).unwrap();
    let (code, _) = hosting(&mut host, STEP).expect("invite");
    let mut guest = PeerProc::spawn(
        "guest",
        &bin,
        &[vec!["join".into(), code.clone()], local.to_vec()].concat(),
    )
    .unwrap();
    joined(&mut guest, STEP).expect("the right code works");

    // A changed character: refused at once, before any packet is sent.
    let mut chars: Vec<char> = code.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    let tampered: String = chars.into_iter().collect();
    let mut bad = PeerProc::spawn("bad", &bin, &[vec!["join".into(), tampered], local.to_vec()].concat()).unwrap();
    let (exit, stderr) = bad.wait_exit(STEP).expect("it exits");
    assert_eq!(exit, Some(2));
    assert!(stderr.contains("invite code is invalid: "), "{stderr}");

    // A well-formed code with the wrong key: nobody answers; a clear error after the timeout.
    let mut invite = netcode::invite::Invite::decode(&code).unwrap();
    invite.session.key[0] ^= 0xff;
    let args = [
        vec!["join".into(), invite.encode(), "--join-timeout".into(), "2".into()],
        local.to_vec(),
    ]
    .concat();
    let mut stranger = PeerProc::spawn("stranger", &bin, &args).unwrap();
    let (exit, stderr) = stranger.wait_exit(STEP).expect("it gives up");
    assert_eq!(exit, Some(2));
    assert!(
        stderr.contains("no member of the session answered") && stderr.contains("the code is not this session's"),
        "{stderr}"
    );

    // The session never noticed: two members, no misbehaviour, no host change.
    let status = host.last_status().expect("status");
    assert_eq!(status["members"], 2, "{status}");
    host.pump();
    for p in [&host, &guest] {
        let odd: Vec<_> = p
            .lines
            .iter()
            .filter(|v| {
                ["peer_misbehaved", "host_changed", "peer_left", "peer_joined"]
                    .contains(&v["event"].as_str().unwrap_or(""))
            })
            .filter(|v| p.name == "guest" || v["event"] != "peer_joined")
            .collect();
        assert!(odd.len() <= 1, "{}: {odd:?}", p.name);
        assert!(odd.iter().all(|v| v["event"] == "peer_joined"), "{}: {odd:?}", p.name);
    }
}
