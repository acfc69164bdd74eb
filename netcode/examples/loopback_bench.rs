//! Host migration and rejoin on real processes over loopback UDP.
//!
//! ```text
//! cargo run --release -p netcode --example loopback_bench -- --runs 10 --json
//! cargo run --release -p netcode --example loopback_bench -- --runs 10 --sim-latency 100 --sim-loss 0.1
//! ```
//!
//! Each run starts `--peers` peer processes (this program re-executed as `peer`), forms a
//! session through an invite code, kills the host with SIGKILL, waits until every survivor
//! agrees on the new host and hears fresh state from every other survivor, then restarts
//! the killed process from its seat file and waits until it is back with its old PeerId
//! and score. Prints one summary (one JSON line with `--json`).

use std::time::Duration;

use clap::Parser;
use serde_json::json;

#[path = "support/peer_main.rs"]
mod peer_main;
use netcode_procs as procs;

/// Longest wait for one step of a run.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(name = "loopback_bench")]
struct Args {
    /// Runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Peer processes per run.
    #[arg(long, default_value_t = 5)]
    peers: usize,
    /// Conditioner on every peer: added one-way latency, in ms.
    #[arg(long, default_value_t = 0.0)]
    sim_latency: f64,
    /// Conditioner on every peer: jitter (±), in ms.
    #[arg(long, default_value_t = 0.0)]
    sim_jitter: f64,
    /// Conditioner on every peer: loss probability per datagram.
    #[arg(long, default_value_t = 0.0)]
    sim_loss: f64,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
}

fn percentile(v: &[u64], q: f64) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(0)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).is_some_and(|a| a == "peer") {
        let cli = <peer_main::PeerCli as Parser>::parse_from(&argv[1..]);
        if let Err(e) = peer_main::run(cli) {
            println!("{}", json!({ "event": "error", "message": e }));
            std::process::exit(2);
        }
        return;
    }
    let args = Args::parse();
    if let Err(e) = bench(&args) {
        eprintln!("loopback_bench: {e}");
        std::process::exit(2);
    }
}

fn bench(args: &Args) -> Result<(), String> {
    if !(3..=16).contains(&args.peers) {
        return Err(format!("--peers must be within 3..=16, got {}", args.peers));
    }
    if args.runs == 0 || args.runs > 1000 {
        return Err(format!("--runs must be within 1..=1000, got {}", args.runs));
    }
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let extra: Vec<String> = [
        ("--sim-latency", args.sim_latency),
        ("--sim-jitter", args.sim_jitter),
        ("--sim-loss", args.sim_loss),
    ]
    .iter()
    .flat_map(|(k, v)| [k.to_string(), v.to_string()])
    .collect();
    let scenario = procs::Scenario {
        peers: args.peers,
        extra,
        step_timeout: STEP_TIMEOUT,
    };
    let (mut migrations, mut rejoins, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.runs {
        match procs::kill_host_and_rejoin(&program, &["peer".to_string()], &scenario) {
            Ok(o) => {
                migrations.push(o.migration_ms);
                rejoins.push(o.rejoin_ms);
                if !args.json {
                    println!("run {run}: migration {} ms, rejoin {} ms", o.migration_ms, o.rejoin_ms);
                }
            }
            Err(e) => {
                if !args.json {
                    println!("run {run}: FAILED: {e}");
                }
                failures.push(e);
            }
        }
    }
    let summary = json!({
        "runs": args.runs,
        "runs_ok": migrations.len(),
        "peers": args.peers,
        "sim_latency_ms": args.sim_latency,
        "sim_jitter_ms": args.sim_jitter,
        "sim_loss": args.sim_loss,
        "migration_ms_p50": percentile(&migrations, 0.5),
        "migration_ms_max": migrations.iter().max().copied().unwrap_or(0),
        "rejoin_ms_p50": percentile(&rejoins, 0.5),
        "rejoin_ms_max": rejoins.iter().max().copied().unwrap_or(0),
        "failures": failures,
    });
    println!("{summary}");
    Ok(())
}
