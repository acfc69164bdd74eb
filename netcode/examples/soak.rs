//! Long soak in the simulator: many peers, random crashes, rejoins, partitions and loss
//! bursts for simulated minutes, over many seeds; at the end (faults healed, timeouts
//! passed) the invariants must hold: one host, agreed rosters, no replicated state lost,
//! no migration left incomplete. It reports the migrations, the false ones and the host
//! changes per peer and minute of partition beside them.
//!
//! ```text
//! cargo run --release -p netcode --example soak -- --peers 16 --minutes 30 --seeds 50 --json
//! ```

use std::time::Instant;

use clap::Parser;
use netcode::sim::{LinkConditions, NodeStatus, Scene, Sim, SimConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

/// Simulated seconds to form the session, and to settle after the last fault.
const FORM_SECS: f64 = 5.0;
const SETTLE_SECS: f64 = 60.0;
/// How long a partition lasts.
const PARTITION_SECS: f64 = 10.0;

#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Args {
    /// Peers.
    #[arg(long, default_value_t = 16)]
    peers: usize,
    /// Simulated minutes per seed.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seeds (first-seed, first-seed + 1, ...).
    #[arg(long, default_value_t = 50)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Independent loss probability per datagram, on every link, throughout.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Probability per datagram of entering a loss burst (mean 15 datagrams).
    #[arg(long, default_value_t = 0.002)]
    burst_loss: f64,
    /// Simulated seconds between two faults.
    #[arg(long, default_value_t = 20.0)]
    fault_every: f64,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
    /// Print every live peer's view when an invariant fails.
    #[arg(long)]
    verbose: bool,
    /// Print each fault and the hosts seen after it.
    #[arg(long)]
    trace: bool,
}

/// Peak resident memory of this process, in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one seed measured besides the invariants.
#[derive(Debug, Default)]
struct Figures {
    faults: u64,
    migrations: usize,
    migrations_incomplete: usize,
    false_migrations: u64,
    partition_host_changes: u64,
    partition_peer_minutes: f64,
}

/// One seed: returns what it measured and the invariant violations found.
fn run(args: &Args, seed: u64) -> (Figures, Vec<String>) {
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(args.peers)
            .seed(seed)
            .link(
                LinkConditions::default()
                    .latency(std::time::Duration::from_millis(30))
                    .jitter(std::time::Duration::from_millis(10))
                    .loss(args.loss)
                    .burst_loss(args.burst_loss)
                    .burst_len(15.0),
            )
            .scene(Scene::Store),
    );
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    sim.run_for_secs(FORM_SECS);
    let end = args.minutes * 60.0 - SETTLE_SECS;
    let mut t = FORM_SECS;
    let mut faults = 0;
    while t < end {
        let running: Vec<usize> = (0..sim.nodes().len())
            .filter(|i| sim.nodes()[*i].status == NodeStatus::Running)
            .collect();
        let crashed: Vec<usize> = (0..sim.nodes().len())
            .filter(|i| sim.nodes()[*i].status == NodeStatus::Crashed)
            .collect();
        let mut step = args.fault_every;
        match rng.random_range(0..3) {
            0 if running.len() > args.peers / 2 => {
                let i = running[rng.random_range(0..running.len())];
                if args.trace {
                    eprintln!("t={t:.0} crash {i}");
                }
                sim.crash(i)
            }
            1 if !crashed.is_empty() => {
                let i = crashed[rng.random_range(0..crashed.len())];
                if args.trace {
                    eprintln!("t={t:.0} restart {i}");
                }
                sim.restart(i)
            }
            _ => {
                let mut shuffled = running.clone();
                for i in (1..shuffled.len()).rev() {
                    shuffled.swap(i, rng.random_range(0..=i));
                }
                let cut = rng.random_range(1..shuffled.len().max(2));
                let (a, b) = shuffled.split_at(cut.min(shuffled.len()));
                if args.trace {
                    eprintln!("t={t:.0} partition {a:?} | {b:?}");
                }
                sim.partition(&[a.to_vec(), b.to_vec()]);
                sim.run_for_secs(PARTITION_SECS);
                sim.heal_partition();
                step -= PARTITION_SECS;
                t += PARTITION_SECS;
            }
        }
        faults += 1;
        sim.run_for_secs(step.max(1.0));
        t += step.max(1.0);
        if args.trace {
            let views: Vec<String> = sim
                .live_indices()
                .into_iter()
                .filter_map(|i| {
                    let s = sim.session(i)?;
                    Some(format!(
                        "{i}:{}/e{}/{}",
                        sim.index_of(s.current_host()?)?,
                        s.epoch(),
                        s.roster().members.len()
                    ))
                })
                .collect();
            eprintln!("t={t:.0} hosts {} [{}]", sim.hosts().len(), views.join(" "));
        }
    }
    // Heal: every crashed peer comes back, then the timeouts pass.
    sim.heal_partition();
    for i in 0..sim.nodes().len() {
        sim.restart(i);
    }
    sim.run_for_secs(SETTLE_SECS);
    let mut violations = Vec::new();
    if sim.consensus_host().is_none() {
        violations.push(format!("seed {seed}: no single host: {:?}", sim.hosts()));
        if args.verbose {
            for i in sim.live_indices() {
                let s = sim.session(i).expect("live");
                let links: Vec<String> = s
                    .roster()
                    .members
                    .iter()
                    .filter(|m| m.id != s.peer_id())
                    .map(|m| format!("{}:{:?}:{:?}", m.id, m.status, s.link(m.id)))
                    .collect();
                eprintln!(
                    "node {i} {} host {:?} epoch {} members {} [{}]",
                    s.peer_id(),
                    s.current_host(),
                    s.epoch(),
                    s.roster().members.len(),
                    links.join(" ")
                );
            }
        }
    }
    if !sim.roster_agree() {
        violations.push(format!("seed {seed}: rosters disagree"));
    }
    if sim.components().len() != 1 {
        violations.push(format!("seed {seed}: {} components", sim.components().len()));
    }
    if sim.state_lost() != 0 {
        let writes = sim.write_outcome();
        violations.push(format!(
            "seed {seed}: {} replicated values lost ({} committed entries reverted, {} recorded writes lost)",
            sim.state_lost(),
            sim.committed_reverted(),
            writes.lost
        ));
        if args.verbose {
            for w in sim.lost_writes().into_iter().take(60) {
                eprintln!(
                    "lost {:?}/{} {:?}: writer node {} (started {:?}), as host {}, {} holders",
                    w.scope, w.key, w.version, w.writer, w.writer_started, w.as_host, w.holders
                );
            }
            for (i, scope, key, committed, held) in sim.reverted_entries().into_iter().take(40) {
                eprintln!("node {i} {scope:?}/{key}: committed {committed:?}, holds {held:?}");
            }
        }
    }
    if args.verbose {
        for (at, epoch, old, new) in &sim.metrics.false_migration_log {
            let (o, n) = (sim.index_of(*old), sim.index_of(*new));
            eprintln!("false migration at {at:?}: epoch {epoch}, node {o:?} -> node {n:?}");
        }
    }
    let report = sim.report(std::time::Duration::ZERO);
    if report.migrations_incomplete != 0 {
        violations.push(format!(
            "seed {seed}: {} migrations incomplete",
            report.migrations_incomplete
        ));
    }
    let figures = Figures {
        faults,
        migrations: report.migrations,
        migrations_incomplete: report.migrations_incomplete,
        false_migrations: report.false_migrations,
        partition_host_changes: report.partition_host_changes.unwrap_or(0),
        partition_peer_minutes: report.partition_peer_minutes.unwrap_or(0.0),
    };
    (figures, violations)
}

fn main() {
    let args = Args::parse();
    let too_short = !args.minutes.is_finite() || args.minutes * 60.0 <= SETTLE_SECS + FORM_SECS;
    let probability = |p: f64| (0.0..=1.0).contains(&p);
    if !(2..=64).contains(&args.peers) || too_short || args.seeds == 0 {
        eprintln!("soak: --peers 2..=64, --minutes above 1.1 and --seeds at least 1");
        std::process::exit(2);
    }
    if !probability(args.loss) || !probability(args.burst_loss) {
        eprintln!("soak: --loss and --burst-loss are probabilities within 0..1");
        std::process::exit(2);
    }
    let started = Instant::now();
    let (mut total, mut violations) = (Figures::default(), Vec::new());
    for seed in args.first_seed..args.first_seed + args.seeds {
        let (f, v) = run(&args, seed);
        if !args.json {
            println!(
                "seed {seed}: {} faults, {} violations, {} migrations ({} incomplete, {} false), \
                 {} host changes in {:.1} peer-minutes of partition",
                f.faults,
                v.len(),
                f.migrations,
                f.migrations_incomplete,
                f.false_migrations,
                f.partition_host_changes,
                f.partition_peer_minutes
            );
        }
        total.faults += f.faults;
        total.migrations += f.migrations;
        total.migrations_incomplete += f.migrations_incomplete;
        total.false_migrations += f.false_migrations;
        total.partition_host_changes += f.partition_host_changes;
        total.partition_peer_minutes += f.partition_peer_minutes;
        violations.extend(v);
    }
    let peak = peak_rss_kib();
    let per_peer_min = total.partition_host_changes as f64 / total.partition_peer_minutes.max(1e-9);
    println!(
        "{}",
        json!({ "peers": args.peers, "minutes": args.minutes, "seeds": args.seeds,
                "loss": args.loss, "burst_loss": args.burst_loss, "faults": total.faults,
                "violations": violations.len(), "violation_list": violations,
                "migrations": total.migrations, "migrations_incomplete": total.migrations_incomplete,
                "false_migrations": total.false_migrations,
                "partition_host_changes": total.partition_host_changes,
                "partition_host_changes_per_peer_min": per_peer_min,
                "peak_rss_kib": peak, "peak_rss_kib_per_peer": peak.map(|p| p / args.peers as u64),
                "wall_seconds": started.elapsed().as_secs_f64().round() })
    );
}
