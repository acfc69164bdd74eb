//! `game soak`: headless bot players on loopback for minutes, one of them killed with
//! SIGKILL and restarted from its seat file every few seconds. Checks that nobody panics,
//! that every restarted player rejoins, and that all players agree on the scores at the
//! end. Prints one JSON line.

use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Value, json};

use netcode_procs as procs;

use procs::PeerProc;

/// Longest wait for a restarted player to rejoin.
const REJOIN_WAIT: Duration = Duration::from_secs(15);
/// Largest difference between two players' views of one score at the end (an orb picked
/// up a moment ago may not have reached everyone).
const SCORE_SLACK: u64 = 2;
/// How long the scores may take to agree at the end.
const CONVERGE_WAIT: Duration = Duration::from_secs(10);

fn args(dir: &std::path::Path, i: usize, command: &[String]) -> Vec<String> {
    let mut a = command.to_vec();
    a.extend(["--headless", "--bot", "--bind", "127.0.0.1", "--name"].map(String::from));
    a.push(format!("bot{i}"));
    a.push("--seat".into());
    a.push(dir.join(format!("bot{i}.seat")).display().to_string());
    a
}

/// Runs the soak.
pub fn run(players: usize, minutes: f64, every: f64) -> Result<Value, String> {
    if !(3..=16).contains(&players) || !(0.1..=120.0).contains(&minutes) || !(2.0..=600.0).contains(&every) {
        return Err("--players 3..=16, --minutes 0.1..=120, --every 2..=600".into());
    }
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = procs::temp_dir("soak");
    let mut procs =
        vec![PeerProc::spawn("bot0", &program, &args(&dir, 0, &["host".into()])).map_err(|e| e.to_string())?];
    let (code, _) = procs::hosting(&mut procs[0], REJOIN_WAIT).ok_or("the host printed no invite")?;
    for i in 1..players {
        let join = ["join".to_string(), code.clone()];
        procs.push(PeerProc::spawn(&format!("bot{i}"), &program, &args(&dir, i, &join)).map_err(|e| e.to_string())?);
    }
    for p in procs.iter_mut().skip(1) {
        p.wait_for(REJOIN_WAIT, |v| v["event"] == "joined")
            .ok_or_else(|| p.failure("never joined"))?;
    }
    let mut rng = rand::rng();
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let (mut kills, mut rejoined, mut failures) = (0u32, 0u32, Vec::new());
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs_f64(every));
        let i = rng.random_range(0..players);
        procs[i].kill();
        kills += 1;
        // Restarted from its seat file; the command does not matter then.
        let again = ["host".to_string()];
        procs[i] = PeerProc::spawn(&format!("bot{i}"), &program, &args(&dir, i, &again)).map_err(|e| e.to_string())?;
        match procs[i].wait_for(REJOIN_WAIT, |v| v["event"] == "joined" && v["rejoined"] == true) {
            Some(_) => rejoined += 1,
            None => failures.push(procs[i].failure("did not rejoin")),
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let mut panics = 0;
    for p in &mut procs {
        if !p.running() {
            failures.push(p.failure("exited"));
        }
        let err = p.failure("");
        if err.contains("panicked") {
            panics += 1;
        }
    }
    // The bots keep playing, and each prints its view once a second at its own moment: the
    // views must agree at some moment within the wait (a stale copy never would).
    let deadline = Instant::now() + CONVERGE_WAIT;
    let mut disagreements = score_disagreements(&mut procs);
    while !disagreements.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        disagreements = score_disagreements(&mut procs);
    }
    let mismatches = disagreements.len();
    failures.extend(disagreements);
    for p in &mut procs {
        p.kill();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(
        json!({ "players": players, "minutes": minutes, "kill_every_s": every, "kills": kills,
               "rejoined": rejoined, "panics": panics, "score_mismatches": mismatches,
               "ok": kills == rejoined && panics == 0 && mismatches == 0 && failures.is_empty(),
               "failures": failures }),
    )
}

/// Every score on which the players' latest status lines disagree by more than
/// [`SCORE_SLACK`] (or that some player does not know at all).
fn score_disagreements(procs: &mut [PeerProc]) -> Vec<String> {
    let views: Vec<Value> = procs
        .iter_mut()
        .filter_map(|p| p.last_status().map(|s| s["scores"].clone()))
        .collect();
    let Some(first) = views.first().and_then(Value::as_object) else {
        return vec!["no status line at the end".into()];
    };
    let mut out = Vec::new();
    for (peer, entry) in first {
        let seen: Vec<u64> = views.iter().filter_map(|v| v[peer]["score"].as_u64()).collect();
        let (lo, hi) = (seen.iter().min(), seen.iter().max());
        if seen.len() != views.len() || hi.zip(lo).is_some_and(|(h, l)| h - l > SCORE_SLACK) {
            out.push(format!("scores of {peer} ({}): {seen:?}", entry["name"]));
        }
    }
    out
}
