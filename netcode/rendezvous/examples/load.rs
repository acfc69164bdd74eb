//! What the rendezvous service costs at scale: registers `--sessions` sessions of
//! `--members` members each (every member from its own address, as peers behind their own
//! NATs are), then renews every registration `--rounds` times, as peers do every few
//! seconds, and prints the CPU time per request and the memory the tables hold, as JSON.
//!
//! `cargo run --release -p netcode-rendezvous --example load -- --sessions 1000`
//!
//! It drives the service's core in this process (no socket: the figures are the service's
//! own work, signature checks included, not the kernel's), with requests signed beforehand.
//!
//! With `--target HOST:PORT` it is a load generator for a running service instead: it
//! sends the same registrations over UDP from `--ips` consecutive source addresses starting
//! at `--from` (the NAT lab gives its load machine that many), renewing each every 2 s for
//! `--rounds` rounds, and whoever runs it reads the service's CPU and memory.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use netcode::PeerId;
use netcode::rendezvous::{Request, SessionSigner};
use netcode_rendezvous::{Server, ServerConfig};

/// How often a peer renews its registration, as the figures assume it.
const RENEW_EVERY_SECS: f64 = 2.0;
/// The service's clock for the dated requests (UNIX ms).
const NOW_MS: u64 = 1_000_000_000;

#[derive(Parser, Debug)]
struct Args {
    /// Sessions to register.
    #[arg(long, default_value_t = 1000)]
    sessions: u32,
    /// Members per session.
    #[arg(long, default_value_t = 4)]
    members: u32,
    /// Renewals of every registration after the first.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Send to the service at this address over UDP instead of driving it in-process.
    #[arg(long)]
    target: Option<SocketAddr>,
    /// With `--target`: the first source address.
    #[arg(long, default_value = "127.0.0.1")]
    from: Ipv4Addr,
    /// With `--target`: how many consecutive source addresses to send from.
    #[arg(long, default_value_t = 1)]
    ips: u32,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The load generator: every member registers, then renews every [`RENEW_EVERY_SECS`],
/// spread evenly over each period, from `--ips` sockets; requests are signed when sent
/// (the service checks their dates against its clock).
fn send_load(args: &Args, target: SocketAddr, signers: &[SessionSigner]) -> std::io::Result<()> {
    let sockets: Vec<std::net::UdpSocket> = (0..args.ips.max(1))
        .map(|i| {
            let s = std::net::UdpSocket::bind((Ipv4Addr::from(u32::from(args.from) + i), 0))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let members = args.sessions * args.members;
    let period = Duration::from_secs_f64(RENEW_EVERY_SECS);
    let started = Instant::now();
    let (mut sent, mut answers) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    for r in 0..=args.rounds {
        let round_start = started + period * r;
        for n in 0..members {
            let due = round_start + period.mul_f64(f64::from(n) / f64::from(members));
            while Instant::now() < due {
                for s in &sockets {
                    while s.recv_from(&mut buf).is_ok() {
                        answers += 1;
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let (s, m) = (n / args.members, n % args.members);
            let body = Request::Register {
                addr: None,
                relay_token: 0,
                candidates: vec![SocketAddr::from((Ipv4Addr::new(192, 168, 1, 2), 5000))],
            };
            let frame = signers[s as usize].request(PeerId(u64::from(m) + 1), unix_ms(), u64::from(r) + 1, body);
            let socket = &sockets[(n % args.ips.max(1)) as usize];
            if let Ok(bytes) = frame.encode()
                && socket.send_to(&bytes, target).is_ok()
            {
                sent += 1;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for s in &sockets {
        while s.recv_from(&mut buf).is_ok() {
            answers += 1;
        }
    }
    println!(
        "{{\"target\":\"{target}\",\"members\":{members},\"sent\":{sent},\"answers\":{answers},\"secs\":{:.1}}}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let args = Args::parse();
    let cfg = ServerConfig {
        max_sessions: args.sessions as usize,
        // One address per member: no source shares a bucket, so nothing is rate limited.
        ..ServerConfig::default()
    };
    let signers: Vec<SessionSigner> = (0..args.sessions)
        .map(|s| {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&s.to_le_bytes());
            SessionSigner::new(&key)
        })
        .collect();
    if let Some(target) = args.target {
        if let Err(e) = send_load(&args, target, &signers) {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
        return;
    }
    let addr = |s: u32, m: u32| {
        let n = s * args.members + m;
        SocketAddr::from((Ipv4Addr::from(0x0A00_0000 + n), 40_000))
    };
    // Sign everything first: the service's cost is what is measured.
    let rounds: Vec<Vec<(SocketAddr, Vec<u8>)>> = (0..=args.rounds)
        .map(|r| {
            let mut batch = Vec::new();
            for (s, signer) in signers.iter().enumerate() {
                for m in 0..args.members {
                    let body = Request::Register {
                        addr: None,
                        relay_token: 0,
                        candidates: vec![SocketAddr::from((Ipv4Addr::new(192, 168, 1, 2), 5000))],
                    };
                    let at = NOW_MS + u64::from(r) * 2000;
                    let frame = signer.request(PeerId(u64::from(m) + 1), at, u64::from(r) + 1, body);
                    batch.push((addr(s as u32, m), frame.encode().expect("encodes")));
                }
            }
            batch
        })
        .collect();
    let rss_before = rss_bytes();
    let mut server = Server::new(cfg);
    let mut replies = 0usize;
    let started = Instant::now();
    for (r, batch) in rounds.iter().enumerate() {
        let now = Duration::from_secs(2 * r as u64);
        for (from, bytes) in batch {
            replies += server.handle(*from, bytes, now, NOW_MS + r as u64 * 2000).len();
        }
    }
    let cpu = started.elapsed();
    let requests = rounds.iter().map(Vec::len).sum::<usize>();
    let stats = server.stats();
    let per_request_us = cpu.as_secs_f64() * 1e6 / requests as f64;
    let members = f64::from(args.sessions * args.members);
    let rss_after = rss_bytes();
    println!(
        "{{\"sessions\":{},\"members\":{},\"requests\":{requests},\"replies\":{replies},\"accepted\":{},\"cpu_us_per_request\":{per_request_us:.1},\"core_share_at_renewal_rate\":{:.3},\"rss_growth_bytes\":{},\"rss_bytes_per_member\":{:.0}}}",
        stats.sessions,
        stats.members,
        stats.accepted,
        per_request_us * 1e-6 * members / RENEW_EVERY_SECS,
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) as f64 / members,
    );
    assert_eq!(stats.accepted as usize, requests, "every request accepted: {stats:?}");
}
