//! Figures of joining with the invite code alone (no rendezvous service), as online play
//! does it, in the NAT lab (needs root, coturn and miniupnpd, like the `nat_lab` tests):
//!
//! - for each pair of homes (the host's x the joiner's: full cone, port-restricted,
//!   symmetric), with and without miniupnpd on both routers: the time from starting the
//!   joiner's `peer join` to playing (admitted, and its link to the host up), p50 and max
//!   over `--runs` runs, the share of those links on a direct path, and the failed joins
//!   counted by the kind their error names (and the longest time to it). Host and joiner
//!   are the `peer` program (the library the game runs; the host prints its code again once
//!   STUN or the router changed it); both ask coturn (`--stun`, its two addresses) and their
//!   router (`--port-mapping`), as `--online` does, and add `--latency` ms to what they send;
//! - `peer netcheck` in each home type, beside what the lab built there.
//!
//! With `--dht`, the joins go through the lab's own Mainline DHT instead (`dht-testnet`, 24
//! nodes; no router maps ports, no rendezvous service): the same table for the routers
//! without mapping, and the DHT queries (gets and puts) the joiner made until it played.
//!
//! `sudo cargo bench --profile dev -p netcode-tests --bench lab_figures -- --runs 10 --latency 30`
//! `sudo cargo bench --profile dev -p netcode-tests --bench lab_figures -- --runs 10 --latency 30 --dht`
//! A bench, not a test: nothing here asserts a time.

use std::time::Instant;

use netcode_procs::{PeerProc, unix_ms};
use netcode_tests::lab::{GAME_PORT, Lab, Nat, STEP, lab_or_skip, public_code, stun_args};
use serde_json::Value;

/// A home as the lab builds it: its router's NAT, and whether the router maps ports.
#[derive(Clone, Copy)]
struct Home {
    nat: Nat,
    maps: bool,
}

impl Home {
    fn name(self) -> &'static str {
        match self.nat {
            Nat::FullCone => "full cone",
            Nat::PortRestricted => "port-restricted",
            Nat::Symmetric => "symmetric",
            Nat::AcceptingPortRestricted => "accepting",
        }
    }

    /// Builds it as home `k`; the daemon when the router maps ports (kept while it runs).
    fn build(self, lab: &mut Lab, k: u8) -> Option<netcode_tests::lab::Miniupnpd> {
        if self.maps {
            Some(lab.upnp_home_behind(k, self.nat, true, "").2)
        } else {
            lab.home(k, self.nat);
            None
        }
    }
}

/// How one join ended.
enum Outcome {
    /// Playing after this many ms, on this path (`direct` or not, as [`link_of`] reads it),
    /// after this many DHT queries of the joiner's (with `--dht`).
    Playing {
        ms: u64,
        direct: bool,
        path: String,
        queries: Option<u64>,
    },
    /// The joiner's error after this many ms: its kind ([`error_kind`]).
    Failed { ms: u64, kind: &'static str },
}

/// The state word and path of the link to `peer` in a `link_changed` or `status` line of the
/// `peer` program (the headless game prints the same), and whether that is a direct path. The one place that reads the programs'
/// link words: `direct` on `lan`, `internet` or `mapped`; `relayed` by a `member` or the `service`.
fn link_of(v: &Value, peer: &str) -> Option<(bool, String)> {
    let link = if v["event"] == "link_changed" {
        (v["peer"] == peer).then_some(v)?
    } else {
        v.get("links")?.get(peer)?
    };
    let (state, path) = (link["state"].as_str()?, link["path"].as_str().unwrap_or("none"));
    match state {
        "direct" => Some((true, path.to_string())),
        "relayed" => Some((false, format!("relayed by {path}"))),
        _ => None,
    }
}

/// The kind of a failed join, from the words of the joiner's error line.
fn error_kind(message: &str) -> &'static str {
    if message.contains("public address did not answer") {
        "timed out: public address unanswered"
    } else if message.contains("only home-network addresses") {
        "timed out: home-network addresses only"
    } else if message.contains("no member of the session answered") {
        "timed out"
    } else {
        "other error"
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One join of a `guest` home's player into a `host` home's session; `Err` when the lab
/// or the host failed (not a join outcome).
fn run(host: Home, guest: Home, latency: &str, dht: bool) -> Result<Outcome, String> {
    let mut lab = lab_or_skip("lab_figures").ok_or("the lab cannot run here")?;
    let _daemons = (host.build(&mut lab, 1), guest.build(&mut lab, 2));
    let _stun = lab.start_stun();
    let mut servers = stun_args();
    let _dht = dht.then(|| {
        let net = lab.start_dht_testnet();
        servers.extend(net.args(2));
        net
    });
    let common = ["--port", GAME_PORT, "--port-mapping", "--sim-latency", latency];
    let mut args = vec!["host", "--name", "host"];
    args.extend(common);
    args.extend(servers.iter().map(String::as_str));
    let mut hosting = lab.peer("h1", &args);
    let (first, host_id) = netcode_procs::hosting(&mut hosting, STEP).ok_or("no invite")?;
    let code = public_code(&mut hosting, &first, host.maps)?;
    let mut args = vec!["join", &code, "--name", "guest"];
    args.extend(common);
    args.extend(servers.iter().map(String::as_str));
    // From the joiner's start: taken once it is spawned (`Lab::peer` first asks cargo
    // whether the program is fresh, which is no part of joining).
    let mut joiner = lab.peer("h2", &args);
    let started = unix_ms();
    playing(&mut joiner, &host_id, started)
}

/// Waits for `joiner` to play (admitted and its link to `host_id` up) or to fail.
fn playing(joiner: &mut PeerProc, host_id: &str, started: u64) -> Result<Outcome, String> {
    let ms = |v: &Value| v["t_ms"].as_u64().unwrap_or(u64::MAX).saturating_sub(started);
    let ended = joiner.wait_for(STEP, |v| v["event"] == "joined" || v["event"] == "error");
    let ended = ended.ok_or_else(|| joiner.failure("neither joined nor failed"))?;
    if ended["event"] == "error" {
        // The error line has no time of its own: when it arrived (read every 5 ms).
        let kind = error_kind(ended["message"].as_str().unwrap_or_default());
        return Ok(Outcome::Failed {
            ms: unix_ms().saturating_sub(started),
            kind,
        });
    }
    let up = |v: &Value| link_of(v, host_id).is_some();
    let link = match joiner.lines.iter().find(|v| v["event"] == "link_changed" && up(v)) {
        Some(v) => v.clone(),
        None => joiner
            .wait_for(STEP, |v| {
                (v["event"] == "link_changed" || v["event"] == "status") && up(v)
            })
            .ok_or_else(|| joiner.failure("joined, but no link to the host"))?,
    };
    let (direct, path) = link_of(&link, host_id).unwrap_or_default();
    // The first status line from then on carries the joiner's DHT counters.
    let queries = joiner
        .wait_for(STEP, |v| v["event"] == "status")
        .and_then(|v| Some(v["dht"]["gets"].as_u64()? + v["dht"]["puts"].as_u64()?));
    Ok(Outcome::Playing {
        ms: ms(&ended).max(ms(&link)),
        direct,
        path,
        queries,
    })
}

/// p50 and max of `v`, or dashes.
fn p50_max(mut v: Vec<u64>) -> (String, String) {
    if v.is_empty() {
        return ("-".into(), "-".into());
    }
    v.sort_unstable();
    (format!("{} ms", v[v.len() / 2]), format!("{} ms", v[v.len() - 1]))
}

/// The table row of one pair over `runs` joins.
fn pair_row(host: Home, guest: Home, runs: u64, latency: &str, dht: bool) -> String {
    let (mut times, mut direct, mut paths, mut failed, mut failed_ms) = (Vec::new(), 0, Vec::new(), Vec::new(), 0);
    let mut queries = Vec::new();
    for _ in 0..runs {
        match run(host, guest, latency, dht) {
            Ok(Outcome::Playing {
                ms,
                direct: d,
                path,
                queries: q,
            }) => {
                times.push(ms);
                direct += u64::from(d);
                paths.push(path);
                queries.extend(q);
            }
            Ok(Outcome::Failed { ms, kind }) => {
                failed.push(kind.to_string());
                failed_ms = failed_ms.max(ms);
            }
            Err(e) => failed.push(format!("lab: {}", e.lines().next().unwrap_or_default())),
        }
    }
    let played = times.len();
    let (p50, max) = p50_max(times);
    queries.sort_unstable();
    let queries = match (queries.first(), queries.last()) {
        (Some(lo), Some(hi)) if dht => format!(" {lo}-{hi} |"),
        _ if dht => " - |".to_string(),
        _ => String::new(),
    };
    paths.sort();
    paths.dedup();
    failed.sort();
    let mut kinds: Vec<String> = Vec::new();
    for kind in &failed {
        let n = failed.iter().filter(|k| *k == kind).count();
        let item = format!("{n} {kind}");
        if !kinds.contains(&item) {
            kinds.push(item);
        }
    }
    let failures = if failed.is_empty() {
        "0".to_string()
    } else {
        format!("{} ({}; error within {failed_ms} ms)", failed.len(), kinds.join(", "))
    };
    format!(
        "| {} | {} | {} | {p50} | {max} | {played}/{runs} | {direct}/{runs} {paths:?} | {failures} |{queries}",
        host.name(),
        guest.name(),
        if host.maps { "yes" } else { "no" },
    )
}

/// `peer netcheck` (coturn, `--port-mapping`) in a home of each type, beside the
/// lab's truth.
fn netcheck_row(home: Home) -> String {
    let Some(mut lab) = lab_or_skip("lab_figures") else {
        return String::new();
    };
    let _daemon = home.build(&mut lab, 1);
    let _stun = lab.start_stun();
    let mut args = vec!["netcheck", "--port", GAME_PORT, "--port-mapping"];
    let servers = stun_args();
    args.extend(servers.iter().map(String::as_str));
    let started = Instant::now();
    let mut p = lab.peer("h1", &args);
    let Some(v) = p.wait_for(STEP, |v| v["event"] == "netcheck") else {
        return format!("| {} | no report: {} |", home.name(), p.failure("netcheck"));
    };
    let took = started.elapsed().as_millis();
    let truth_mapping = if home.nat == Nat::Symmetric {
        "endpoint-dependent"
    } else {
        "endpoint-independent"
    };
    let truth_advice = match (home.maps, home.nat) {
        (true, _) => "maps-ports",
        (false, Nat::Symmetric) => "symmetric",
        _ => "punchable",
    };
    let protocol = v["port_mapping"]["protocol"].as_str().unwrap_or("none");
    let right = v["mapping"] == truth_mapping && (protocol != "none") == home.maps && v["advice"] == truth_advice;
    format!(
        "| {} | {} | {truth_mapping}, {} | {}, {protocol}, {} | {} | {took} ms |",
        home.name(),
        if home.maps { "yes" } else { "no" },
        if home.maps { "maps" } else { "no mapping" },
        v["mapping"].as_str().unwrap_or("?"),
        v["advice"].as_str().unwrap_or("?"),
        if right { "yes" } else { "NO" },
    )
}

fn main() {
    if lab_or_skip("lab_figures").is_none() {
        return;
    }
    let runs = arg("--runs", 10);
    let latency = arg("--latency", 30).to_string();
    let dht = std::env::args().any(|a| a == "--dht");
    let nats = [Nat::FullCone, Nat::PortRestricted, Nat::Symmetric];
    if dht {
        println!("NAT lab, joins through the lab's Mainline DHT (24 nodes) and coturn, no rendezvous service,");
        println!("no router mapping ports, {runs} runs per pair, {latency} ms added to what each peer sends.\n");
        println!(
            "| host's home | joiner's home | routers map ports | join to playing p50 | max | playing | direct [paths] | failed joins | joiner's DHT queries |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for host in nats {
            for guest in nats {
                let row = pair_row(
                    Home { nat: host, maps: false },
                    Home {
                        nat: guest,
                        maps: false,
                    },
                    runs,
                    &latency,
                    true,
                );
                println!("{row}");
            }
        }
        return;
    }
    println!("NAT lab, joins with the invite code alone (no rendezvous service), {runs} runs per pair,");
    println!("{latency} ms added to what each peer sends; both peers ask coturn and their router.\n");
    println!(
        "| host's home | joiner's home | routers map ports | join to playing p50 | max | playing | direct [paths] | failed joins |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for maps in [true, false] {
        for host in nats {
            for guest in nats {
                let row = pair_row(
                    Home { nat: host, maps },
                    Home { nat: guest, maps },
                    runs,
                    &latency,
                    false,
                );
                println!("{row}");
            }
        }
    }
    println!("\n| home | router maps ports | lab's truth | netcheck: mapping, protocol, advice | right | took |");
    println!("|---|---|---|---|---|---|");
    for maps in [true, false] {
        for nat in nats {
            println!("{}", netcheck_row(Home { nat, maps }));
        }
    }
}
