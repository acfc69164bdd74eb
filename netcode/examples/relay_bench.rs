//! What relaying costs: a session in the simulator where one peer's direct links are all
//! cut but one, so that everything to and from it (heartbeats with state, the store
//! workload's writes) goes through a relay. Prints the messages relayed, how fast the
//! simulation ran, and the wall time per relayed message (which includes everything else
//! the simulation does, so compare it between builds, not as an absolute figure).
//!
//! ```text
//! cargo run --release -p netcode --example relay_bench -- --peers 8 --secs 60
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use netcode::sim::{LinkConditions, Scene, Sim, SimConfig};

#[derive(Debug, Parser)]
#[command(name = "relay_bench")]
struct Args {
    /// Peers in the session (node 0 is reached through node 1 only).
    #[arg(long, default_value_t = 8)]
    peers: usize,
    /// Simulated seconds with the cut links.
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.peers < 3 {
        return Err("--peers must be at least 3 (a peer, its relay and another)".into());
    }
    if !(args.secs.is_finite() && args.secs > 0.0) {
        return Err("--secs must be a positive number".into());
    }
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(args.peers)
            .seed(args.seed)
            .link(LinkConditions::default().latency(Duration::from_millis(20)))
            .scene(Scene::Store),
    );
    sim.run_for_secs(5.0);
    for j in 2..args.peers {
        sim.cut(0, j);
    }
    let relayed = |sim: &Sim| -> u64 {
        sim.live_indices()
            .into_iter()
            .filter_map(|i| sim.session(i))
            .map(|s| s.stats().relayed_messages)
            .sum()
    };
    let before = relayed(&sim);
    let started = Instant::now();
    sim.run_for(Duration::from_secs_f64(args.secs));
    let wall = started.elapsed().as_secs_f64();
    let n = relayed(&sim) - before;
    let report = sim.report(started.elapsed());
    println!(
        "peers {} · {:.0} simulated s · {n} messages relayed ({:.0}/s) · sim speed {:.1}x real time · {:.1} µs wall per relayed message · hosts {} · rosters agree {} · lost writes {}",
        args.peers,
        args.secs,
        n as f64 / args.secs,
        args.secs / wall,
        wall * 1e6 / n.max(1) as f64,
        report.final_hosts,
        report.roster_agree,
        report.writes_lost,
    );
    Ok(())
}
