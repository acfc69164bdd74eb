//! `netsim`: run a simulated session with faults and print what happened.
//!
//! ```text
//! cargo run --release -p netcode --example netsim -- --peers 8 --latency 40 --jitter 10 \
//!     --loss 0.05 --crash-host-at 5 --duration 15 --json
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use netcode::sim::{LinkConditions, Report, Scene, Sim, SimConfig};
use netcode::{SessionConfig, SessionEvent};

/// Simulates a peer-to-peer session on a seeded in-memory network.
#[derive(Parser, Debug)]
#[command(name = "netsim", version, about)]
struct Args {
    /// Peers at the start.
    #[arg(long, default_value_t = 4)]
    peers: usize,
    /// Seed of every random choice: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// One-way latency of every link, in ms.
    #[arg(long, default_value_t = 20.0)]
    latency: f64,
    /// Jitter (± around the latency), in ms.
    #[arg(long, default_value_t = 0.0)]
    jitter: f64,
    /// Independent loss probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability per datagram of entering a loss burst.
    #[arg(long, default_value_t = 0.0)]
    burst_loss: f64,
    /// Probability of duplicating a datagram.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Probability of reordering a datagram.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// Crash whoever hosts at this time (seconds).
    #[arg(long)]
    crash_host_at: Vec<f64>,
    /// Crash peer I (index in join order) at SECS: `I@SECS`. Repeatable.
    #[arg(long, value_parser = parse_at)]
    crash: Vec<(usize, f64)>,
    /// Peer I leaves gracefully at SECS: `I@SECS`. Repeatable.
    #[arg(long, value_parser = parse_at)]
    leave: Vec<(usize, f64)>,
    /// Restart crashed peer I at SECS, rejoining with its saved secret: `I@SECS`.
    #[arg(long, value_parser = parse_at)]
    rejoin: Vec<(usize, f64)>,
    /// A new peer joins at SECS through a random member (a late join). Repeatable.
    #[arg(long)]
    join_at: Vec<f64>,
    /// Fill the store to capacity at SECS: the host's shared scope, then every member's own
    /// scope, with 128-byte entries until a write is refused as `StoreFull`.
    #[arg(long)]
    store_fill: Option<f64>,
    /// Split the peers: `0,1,2/3,4,5@FROM-TO` (seconds). Repeatable.
    #[arg(long, value_parser = parse_partition)]
    partition: Vec<Partition>,
    /// What the peers play: `store` (the replicated store workload) or `arena` (moving
    /// players and host-owned objects as delta snapshots).
    #[arg(long, default_value = "store", value_parser = ["store", "arena"])]
    scene: String,
    /// Arena scene: shared objects the host owns (half of them idle).
    #[arg(long, default_value_t = 64)]
    objects: usize,
    /// Snapshots (and heartbeats) per second on each link.
    #[arg(long, default_value_t = 30.0)]
    send_rate: f64,
    /// Heartbeat (and player state) rate on side links, between two peers neither of
    /// which hosts, in Hz.
    #[arg(long, default_value_t = 10.0)]
    side_rate: f64,
    /// Shared snapshots (the host's objects) per second to each peer.
    #[arg(long, default_value_t = 10.0)]
    shared_rate: f64,
    /// Run this many seeds (SEED, SEED+1, ...) and print one summary over all runs.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Print one JSON summary on the last line.
    #[arg(long)]
    json: bool,
    /// Print every membership event as it happens.
    #[arg(long)]
    verbose: bool,
}

#[derive(Debug, Clone)]
struct Partition {
    groups: Vec<Vec<usize>>,
    from: f64,
    to: f64,
}

fn parse_at(s: &str) -> Result<(usize, f64), String> {
    let (i, t) = s.split_once('@').ok_or_else(|| format!("expected I@SECS, got {s:?}"))?;
    let i = i.trim().parse().map_err(|e| format!("bad peer index {i:?}: {e}"))?;
    let t = parse_secs(t)?;
    Ok((i, t))
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let t: f64 = s.trim().parse().map_err(|e| format!("bad time {s:?}: {e}"))?;
    if t.is_finite() && t >= 0.0 {
        Ok(t)
    } else {
        Err(format!("time must be a non-negative number, got {s:?}"))
    }
}

fn parse_partition(s: &str) -> Result<Partition, String> {
    let (groups, times) = s
        .split_once('@')
        .ok_or_else(|| format!("expected GROUPS@FROM-TO, got {s:?}"))?;
    let (from, to) = times
        .split_once('-')
        .ok_or_else(|| format!("expected FROM-TO, got {times:?}"))?;
    let groups = groups
        .split('/')
        .map(|g| {
            g.split(',')
                .map(|i| {
                    i.trim()
                        .parse::<usize>()
                        .map_err(|e| format!("bad peer index {i:?}: {e}"))
                })
                .collect()
        })
        .collect::<Result<Vec<Vec<usize>>, String>>()?;
    let (from, to) = (parse_secs(from)?, parse_secs(to)?);
    if to < from {
        return Err(format!("partition ends before it starts: {times:?}"));
    }
    Ok(Partition { groups, from, to })
}

#[derive(Debug, Clone)]
enum Action {
    CrashHost,
    Crash(usize),
    Leave(usize),
    Rejoin(usize),
    Split(Vec<Vec<usize>>),
    Heal,
    Join,
    FillStore,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("netsim: {e}");
        std::process::exit(2);
    }
}

fn check_prob(name: &str, p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("--{name} must be within 0..1, got {p}"))
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.peers == 0 || args.peers > 256 {
        return Err(format!("--peers must be within 1..=256, got {}", args.peers));
    }
    for (name, p) in [
        ("loss", args.loss),
        ("burst-loss", args.burst_loss),
        ("duplicate", args.duplicate),
        ("reorder", args.reorder),
    ] {
        check_prob(name, p)?;
    }
    for v in [args.latency, args.jitter, args.duration] {
        if !v.is_finite() || v < 0.0 {
            return Err(format!("times must be non-negative numbers, got {v}"));
        }
    }
    let index_ok = |i: usize| {
        if i < args.peers {
            Ok(())
        } else {
            Err(format!("peer index {i} out of range (0..{})", args.peers))
        }
    };
    let mut actions: Vec<(f64, Action)> = Vec::new();
    actions.extend(args.crash_host_at.iter().map(|t| (*t, Action::CrashHost)));
    for (i, t) in &args.crash {
        index_ok(*i)?;
        actions.push((*t, Action::Crash(*i)));
    }
    for (i, t) in &args.leave {
        index_ok(*i)?;
        actions.push((*t, Action::Leave(*i)));
    }
    for (i, t) in &args.rejoin {
        index_ok(*i)?;
        actions.push((*t, Action::Rejoin(*i)));
    }
    for p in &args.partition {
        for g in &p.groups {
            for i in g {
                index_ok(*i)?;
            }
        }
        actions.push((p.from, Action::Split(p.groups.clone())));
        actions.push((p.to, Action::Heal));
    }
    actions.extend(args.join_at.iter().map(|t| (*t, Action::Join)));
    actions.extend(args.store_fill.iter().map(|t| (*t, Action::FillStore)));
    if actions.iter().any(|(t, _)| !t.is_finite() || *t < 0.0) {
        return Err("times must be non-negative numbers".into());
    }
    actions.sort_by(|a, b| a.0.total_cmp(&b.0));

    let link = LinkConditions::default()
        .latency(Duration::from_secs_f64(args.latency / 1000.0))
        .jitter(Duration::from_secs_f64(args.jitter / 1000.0))
        .loss(args.loss)
        .burst_loss(args.burst_loss)
        .duplicate(args.duplicate)
        .reorder(args.reorder);
    if !args.send_rate.is_finite() || !(1.0..=240.0).contains(&args.send_rate) {
        return Err(format!("--send-rate must be within 1..=240 Hz, got {}", args.send_rate));
    }
    if !args.side_rate.is_finite() || !(1.0..=240.0).contains(&args.side_rate) {
        return Err(format!("--side-rate must be within 1..=240 Hz, got {}", args.side_rate));
    }
    if !args.shared_rate.is_finite() || !(1.0..=240.0).contains(&args.shared_rate) {
        return Err(format!(
            "--shared-rate must be within 1..=240 Hz, got {}",
            args.shared_rate
        ));
    }
    if args.objects > 4000 {
        return Err(format!("--objects must be at most 4000, got {}", args.objects));
    }
    if args.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    if args.seeds == 1 {
        let (report, ..) = run_seed(&args, &actions, &link, args.seed);
        if args.json {
            println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
        } else {
            println!("{report:#?}");
        }
        return Ok(());
    }
    // Several seeds: one summary over all runs.
    let started = Instant::now();
    let mut pauses = Vec::new();
    let mut rejoins = Vec::new();
    let mut joins = Vec::new();
    let mut reports = Vec::new();
    for seed in args.seed..args.seed.saturating_add(args.seeds) {
        let (report, p, r, j) = run_seed(&args, &actions, &link, seed);
        pauses.extend(p);
        rejoins.extend(r);
        joins.extend(j);
        reports.push(report);
    }
    pauses.sort_by(f64::total_cmp);
    rejoins.sort_by(f64::total_cmp);
    joins.sort_by(f64::total_cmp);
    let pick = |v: &[f64], q: f64| {
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut summary = serde_json::json!({
        "runs": reports.len(),
        "peers": args.peers,
        "first_seed": args.seed,
        "sim_seconds": reports.iter().map(|r| r.sim_seconds).sum::<f64>(),
        "wall_seconds": started.elapsed().as_secs_f64(),
        "sim_speed": reports.iter().map(|r| r.sim_seconds).sum::<f64>() / started.elapsed().as_secs_f64().max(1e-9),
        "final_hosts_max": reports.iter().map(|r| r.final_hosts).max(),
        "roster_agree_all": reports.iter().all(|r| r.roster_agree),
        "migrations": reports.iter().map(|r| r.migrations).sum::<usize>(),
        "false_migrations": reports.iter().map(|r| r.false_migrations).sum::<u64>(),
        "migrations_incomplete": reports.iter().map(|r| r.migrations_incomplete).sum::<usize>(),
        "migration_pauses": pauses.len(),
        "migration_pause_ms_p50": pick(&pauses, 0.5),
        "migration_pause_ms_max": pick(&pauses, 1.0),
        "rejoins": reports.iter().map(|r| r.rejoins).sum::<usize>(),
        "rejoins_incomplete": reports.iter().map(|r| r.rejoins_incomplete).sum::<usize>(),
        "rejoin_ms_p50": pick(&rejoins, 0.5),
        "rejoin_ms_max": pick(&rejoins, 1.0),
        "state_lost": reports.iter().map(|r| r.state_lost).sum::<usize>(),
        "committed_reverted": reports.iter().map(|r| r.committed_reverted).sum::<usize>(),
        "writes_recorded": reports.iter().map(|r| r.writes_recorded).sum::<u64>(),
        "writes_lost": reports.iter().map(|r| r.writes_lost).sum::<u64>(),
        "writes_discarded": reports.iter().map(|r| r.writes_discarded).sum::<u64>(),
        "sent_bytes_per_peer_per_s": reports.iter().map(|r| r.sent_bytes_per_peer_per_s).sum::<f64>() / reports.len() as f64,
        "unsent_messages": reports.iter().map(|r| r.unsent_messages).sum::<u64>(),
    });
    // Host changes per peer and minute of partition, over every run's partitions.
    let changes: u64 = reports.iter().filter_map(|r| r.partition_host_changes).sum();
    let minutes: f64 = reports.iter().filter_map(|r| r.partition_peer_minutes).sum();
    if !args.partition.is_empty() {
        summary["partition_host_changes"] = changes.into();
        summary["partition_host_changes_per_peer_min"] = (changes as f64 / minutes.max(1e-9)).into();
    }
    if !joins.is_empty() {
        summary["joins"] = reports.iter().filter_map(|r| r.joins).sum::<usize>().into();
        summary["joins_incomplete"] = reports.iter().filter_map(|r| r.joins_incomplete).sum::<usize>().into();
        summary["join_ms_p50"] = pick(&joins, 0.5).into();
        summary["join_ms_max"] = pick(&joins, 1.0).into();
    }
    if args.json {
        println!("{summary}");
    } else {
        println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// One run with one seed: its report, its migration pauses, rejoin and late-join times (ms).
fn run_seed(
    args: &Args,
    actions: &[(f64, Action)],
    link: &LinkConditions,
    seed: u64,
) -> (Report, Vec<f64>, Vec<f64>, Vec<f64>) {
    let arena = args.scene == "arena";
    let session = SessionConfig::default()
        .heartbeat_interval(Duration::from_secs_f64(1.0 / args.send_rate))
        .side_heartbeat_interval(Duration::from_secs_f64(1.0 / args.side_rate))
        .shared_interval(Duration::from_secs_f64(1.0 / args.shared_rate));
    let cfg = SimConfig::default()
        .peers(args.peers)
        .seed(seed)
        .link(link.clone())
        .session(session)
        .scene(if arena {
            Scene::Arena { objects: args.objects }
        } else {
            Scene::Store
        });
    let started = Instant::now();
    let mut sim = Sim::new(cfg);
    let mut printed = 0;
    for (t, action) in actions.iter().cloned() {
        sim.run_until(Duration::from_secs_f64(t));
        printed = print_events(&sim, printed, args.verbose);
        if args.verbose {
            println!("{:>9.3}s  {action:?}", t);
        }
        match action {
            Action::CrashHost => {
                if let Some(h) = sim.consensus_host().or_else(|| sim.hosts().first().copied()) {
                    sim.crash_peer(h);
                }
            }
            Action::Crash(i) => sim.crash(i),
            Action::Leave(i) => sim.leave(i),
            Action::Rejoin(i) => sim.restart(i),
            Action::Split(groups) => sim.partition(&groups),
            Action::Heal => sim.heal_partition(),
            Action::Join => {
                sim.add_peer();
            }
            Action::FillStore => {
                let written = sim.fill_store();
                if args.verbose {
                    println!("{:>9.3}s  store filled: {written} writes", t);
                }
            }
        }
    }
    sim.run_until(Duration::from_secs_f64(args.duration));
    print_events(&sim, printed, args.verbose);
    let ms = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    // Unfinished migrations and rejoins count with their time to the end of the run.
    let mut pauses: Vec<f64> = ms(&sim.metrics.migration_pauses);
    pauses.extend(ms(&sim.metrics.incomplete_migrations(sim.now())));
    let mut rejoins: Vec<f64> = ms(&sim.metrics.rejoin_times);
    rejoins.extend(ms(&sim.metrics.incomplete_rejoins(sim.now())));
    let mut joins: Vec<f64> = ms(&sim.metrics.join_times);
    joins.extend(ms(&sim.metrics.incomplete_joins(sim.now())));
    (sim.report(started.elapsed()), pauses, rejoins, joins)
}

fn print_events(sim: &Sim, from: usize, verbose: bool) -> usize {
    let events = &sim.metrics.events;
    if verbose {
        for (t, peer, ev) in &events[from..] {
            if !matches!(ev, SessionEvent::LinkChanged { .. }) {
                println!("{:>9.3}s  {peer}  {ev:?}", t.as_secs_f64());
            }
        }
    }
    events.len()
}
