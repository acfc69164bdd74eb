//! Figures of NAT traversal in the lab (needs root, like the `nat_lab` tests):
//!
//! - time from starting `peer join` to playing (the link to the host up on its path),
//!   p50 and max over `--runs` runs, with `--latency` ms added to everything each peer
//!   sends, for two port-restricted homes, a port-restricted and a symmetric home, two
//!   symmetric homes, a full-cone and a symmetric home, a router that accepts unsolicited
//!   input and a port-restricted one, and two players in one home; a run that never
//!   connects counts as a failure, not as a time;
//! - the share of those links on a direct path, per pair of NAT types;
//! - the migration pause of 4 players in 3 homes when the host is killed (SIGKILL);
//! - the rendezvous service's CPU and memory with `--sessions` sessions of 4 members
//!   registered and renewing every 2 s, from a load machine on the lab's internet with 150
//!   source addresses (the service and the load generator as the tests build them: the dev
//!   profile, opt-level 1, the curve arithmetic at opt-level 3).
//!
//! `cargo bench --profile dev -p netcode-tests --bench nat_lab -- --runs 10 --latency 30`

use std::time::Duration;

use netcode_procs::{PeerProc, unix_ms};
use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, lab_or_skip, machine_ns, service_addr};

/// One pair to measure: the host's home and NAT, the guest's.
struct Pair {
    name: &'static str,
    host: Nat,
    guest: Option<Nat>,
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peer(lab: &Lab, k: u8, i: u8, args: &[&str], latency: &str) -> PeerProc {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--port", GAME_PORT, "--sim-latency", latency]);
    lab.peer(&machine_ns(k, i), &all)
}

/// One run: (ms from `peer join` to playing, the path), or why it failed.
fn run(pair: &Pair, latency: &str) -> Result<(u64, String), String> {
    let mut lab = lab_or_skip("nat_lab bench").ok_or("the lab cannot run here")?;
    lab.home(1, pair.host);
    let (gk, gi) = match pair.guest {
        Some(nat) => {
            lab.home(2, nat);
            (2, 0)
        }
        None => {
            lab.machine(1, 1);
            (1, 1)
        }
    };
    let _service = lab.start_service();
    let svc = service_addr();
    let mut host = peer(&lab, 1, 0, &["host", "--rendezvous", &svc], latency);
    let (code, host_id) = netcode_procs::hosting(&mut host, STEP).ok_or("no invite")?;
    let started = unix_ms();
    let mut guest = peer(&lab, gk, gi, &["join", &code], latency);
    let up = guest.wait_for(STEP, |v| {
        v["event"] == "status"
            && v["links"][host_id.as_str()]["state"] == "direct"
            && !v["links"][host_id.as_str()]["path"].is_null()
    });
    let up = up.ok_or_else(|| guest.failure("never playing"))?;
    let path = up["links"][host_id.as_str()]["path"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The moment the link came up on that path (status lines come every 100 ms).
    let at = guest
        .lines
        .iter()
        .find(|v| v["event"] == "link_changed" && v["state"] == "direct" && v["path"] == path.as_str())
        .and_then(|v| v["t_ms"].as_u64())
        .unwrap_or(up["t_ms"].as_u64().unwrap_or(u64::MAX));
    Ok((at.saturating_sub(started), path))
}

/// One migration: 4 players in 3 homes, the host killed; the longest pause a survivor saw.
fn migration(latency: &str) -> Result<u64, String> {
    let mut lab = lab_or_skip("nat_lab bench").ok_or("the lab cannot run here")?;
    for k in 1..=3 {
        lab.home(k, Nat::PortRestricted);
    }
    lab.machine(1, 1);
    let _service = lab.start_service();
    let svc = service_addr();
    let mut host = peer(&lab, 1, 0, &["host", "--rendezvous", &svc], latency);
    let (code, host_id) = netcode_procs::hosting(&mut host, STEP).ok_or("no invite")?;
    let mut players: Vec<PeerProc> = [(1, 1), (2, 0), (3, 0)]
        .iter()
        .map(|&(k, i)| peer(&lab, k, i, &["join", &code], latency))
        .collect();
    for p in players.iter_mut() {
        p.wait_for(STEP, |v| netcode_procs::settled(v, Some(&host_id), 4, &[]))
            .ok_or_else(|| p.failure("never in the session"))?;
    }
    std::thread::sleep(Duration::from_secs(1));
    host.kill();
    let mut pause = 0;
    for p in players.iter_mut() {
        let v = p
            .wait_for(STEP, |v| v["event"] == "host_changed")
            .ok_or_else(|| p.failure("no host change"))?;
        pause = pause.max(v["pause_ms"].as_f64().unwrap_or(f64::MAX) as u64);
    }
    Ok(pause)
}

/// CPU seconds (user + system) and resident bytes of process `pid`.
fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15 (in clock ticks, 100 a second).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks as f64 / 100.0, rss_kb * 1024))
}

/// Load sources on the lab's internet: 198.51.100.100 and up.
const LOAD_FIRST: &str = "198.51.100.100";
/// How many.
const LOAD_IPS: u32 = 150;

/// The service under `sessions` sessions of 4 members: its CPU share while they renew,
/// its memory before and after.
fn service_load(sessions: u64) -> Result<String, String> {
    let mut lab = lab_or_skip("nat_lab bench").ok_or("the lab cannot run here")?;
    lab.add_ns("load");
    lab.veth("inet", "pl", "load", "eth0");
    lab.exec("inet", &["ip", "link", "set", "pl", "master", "br0"]);
    let first: std::net::Ipv4Addr = LOAD_FIRST.parse().expect("an address");
    for i in 0..LOAD_IPS {
        let ip = std::net::Ipv4Addr::from(u32::from(first) + i);
        lab.exec("load", &["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
    }
    let load = netcode_tests::workspace_program("examples/load", &["-p", "netcode-rendezvous", "--example", "load"]);
    let service = lab.start_service();
    let pid = service.pid().ok_or("no service")?;
    let (cpu0, rss0) = usage(pid).ok_or("cannot read the service's /proc")?;
    let started = std::time::Instant::now();
    let rounds = 10;
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("load")])
        .arg(&load)
        .args([
            "--target",
            &service_addr(),
            "--from",
            LOAD_FIRST,
            "--ips",
            &LOAD_IPS.to_string(),
        ])
        .args([
            "--sessions",
            &sessions.to_string(),
            "--members",
            "4",
            "--rounds",
            &rounds.to_string(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let (cpu1, rss1) = usage(pid).ok_or("cannot read the service's /proc")?;
    let log = service.stop();
    if std::env::var_os("NAT_LAB_VERBOSE").is_some() {
        eprintln!("{log}");
    }
    let stat = |name: &str| netcode_tests::lab::service_stat(&log, name);
    Ok(format!(
        "{sessions} sessions x 4 members renewing every 2 s for {secs:.0} s: CPU {:.1}% of a core, RSS {:.1} MB idle -> {:.1} MB ({:.0} B per member); service saw {} sessions, {} members, {} accepted, {} rate-limited; load: {}",
        (cpu1 - cpu0) / secs * 100.0,
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6,
        rss1.saturating_sub(rss0) as f64 / (sessions * 4) as f64,
        stat("sessions"),
        stat("members"),
        stat("accepted"),
        stat("rate_limited"),
        String::from_utf8_lossy(&out.stdout).trim(),
    ))
}

fn p50_max(mut v: Vec<u64>) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.sort_unstable();
    format!("p50 {} ms, max {} ms", v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    if lab_or_skip("nat_lab bench").is_none() {
        return;
    }
    let runs = arg("--runs", 10);
    let sessions = arg("--sessions", 1000);
    if std::env::args().any(|a| a == "--service-only") {
        match service_load(sessions) {
            Ok(line) => println!("{line}"),
            Err(e) => println!("service load failed: {e}"),
        }
        return;
    }
    let latency = arg("--latency", 30).to_string();
    println!("NAT lab, {runs} runs per pair, {latency} ms added to what each peer sends");
    let pairs = [
        Pair {
            name: "port-restricted / port-restricted",
            host: Nat::PortRestricted,
            guest: Some(Nat::PortRestricted),
        },
        Pair {
            name: "port-restricted / symmetric",
            host: Nat::PortRestricted,
            guest: Some(Nat::Symmetric),
        },
        Pair {
            name: "symmetric / symmetric",
            host: Nat::Symmetric,
            guest: Some(Nat::Symmetric),
        },
        Pair {
            name: "full cone / symmetric",
            host: Nat::FullCone,
            guest: Some(Nat::Symmetric),
        },
        Pair {
            name: "accepting router / port-restricted",
            host: Nat::AcceptingPortRestricted,
            guest: Some(Nat::PortRestricted),
        },
        Pair {
            name: "same home (LAN)",
            host: Nat::PortRestricted,
            guest: None,
        },
    ];
    for pair in &pairs {
        let (mut times, mut paths, mut failures) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            match run(pair, &latency) {
                Ok((ms, path)) => {
                    times.push(ms);
                    paths.push(path);
                }
                Err(e) => failures.push(e),
            }
        }
        let direct = paths.iter().filter(|p| *p == "internet" || *p == "lan").count();
        let mut kinds = paths.clone();
        kinds.sort();
        kinds.dedup();
        println!(
            "{:36} join to playing {}; connected {}/{runs}; direct {direct}/{runs}; paths {kinds:?}",
            pair.name,
            p50_max(times),
            paths.len(),
        );
        for f in failures {
            println!("  failed: {}", f.lines().next().unwrap_or_default());
        }
    }
    let migrations = runs.div_ceil(3);
    let (mut pauses, mut failed) = (Vec::new(), 0);
    for _ in 0..migrations {
        match migration(&latency) {
            Ok(ms) => pauses.push(ms),
            Err(e) => {
                failed += 1;
                println!("  migration failed: {}", e.lines().next().unwrap_or_default());
            }
        }
    }
    println!(
        "{:36} migration pause (longest survivor) {}; completed {}/{migrations}",
        "4 players in 3 homes, host killed",
        p50_max(pauses),
        migrations - failed
    );
    match service_load(sessions) {
        Ok(line) => println!("rendezvous service: {line}"),
        Err(e) => println!("rendezvous service load failed: {e}"),
    }
}
