//! `netcode-rendezvous --listen 0.0.0.0:7777`: the rendezvous service on one UDP port.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use netcode::PeerId;
use netcode_rendezvous::punch_test::{self, PunchTest};
use netcode_rendezvous::{Server, ServerConfig};

/// How often members that went quiet are forgotten.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// Largest datagram read.
const RECV_BYTES: usize = 2048;

/// Where peers of netcode sessions find each other (never sees game traffic or keys).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:7777")]
    listen: SocketAddr,
    /// Seconds a member stays listed without a request.
    #[arg(long, default_value_t = 60)]
    member_ttl: u64,
    /// Most sessions kept at once.
    #[arg(long, default_value_t = 10_000)]
    max_sessions: usize,
    /// Bytes per second the last-resort relay forwards for one session.
    #[arg(long, default_value_t = 256 * 1024)]
    relay_bytes_per_session: u32,
    /// Seconds between the counters' log lines (sessions, members, relayed bytes, ...).
    #[arg(long, default_value_t = 60.0)]
    report_secs: f64,
    /// Print every refused datagram (debug log).
    #[arg(long)]
    verbose: bool,
    /// Instead of serving: a diagnostic.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check whether this machine and another reach each other directly through their NATs:
    /// run it on both with the same --key (one with --join); prints JSON lines.
    PunchTest {
        /// The rendezvous service.
        #[arg(long)]
        server: SocketAddr,
        /// The shared key, 64 hex digits.
        #[arg(long)]
        key: String,
        /// This side's id (any number, different on the two sides).
        #[arg(long)]
        peer: u64,
        /// Join (the other side is told to punch) instead of only registering.
        #[arg(long)]
        join: bool,
        /// Seconds to try.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Local address to bind.
        #[arg(long, default_value = "0.0.0.0:0")]
        bind: SocketAddr,
    },
}

fn parse_key(hex: &str) -> Result<[u8; 32], String> {
    let bytes: Result<Vec<u8>, _> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .map_or(Err(()), |h| u8::from_str_radix(h, 16).map_err(|_| ()))
        })
        .collect();
    bytes
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("--key must be 64 hex digits, got {:?}", hex))
}

/// Log lines on stderr: what concerns whoever runs the service.
struct StderrLog {
    level: log::LevelFilter,
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level && metadata.target().starts_with("netcode_rendezvous")
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let level = if args.verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    if log::set_logger(Box::leak(Box::new(StderrLog { level }))).is_ok() {
        log::set_max_level(level);
    }
    let result = match &args.command {
        Some(Command::PunchTest {
            server,
            key,
            peer,
            join,
            secs,
            bind,
        }) => parse_key(key).and_then(|key| {
            let duration =
                Duration::try_from_secs_f64(*secs).map_err(|_| format!("--secs {secs} is not a duration"))?;
            let test = PunchTest {
                server: *server,
                key,
                peer: PeerId(*peer),
                join: *join,
                duration,
                bind: *bind,
            };
            punch_test::run(&test).map(|_| ())
        }),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let socket = UdpSocket::bind(args.listen).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    socket
        .set_read_timeout(Some(EXPIRE_EVERY))
        .map_err(|e| format!("cannot set a read timeout: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    log::info!("netcode_rendezvous listening on {local}");
    let report_every = Duration::try_from_secs_f64(args.report_secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("--report-secs must be a positive number, got {}", args.report_secs))?;
    let cfg = ServerConfig {
        member_ttl: Duration::from_secs(args.member_ttl),
        max_sessions: args.max_sessions,
        relay_bytes_per_session: f64::from(args.relay_bytes_per_session),
        ..ServerConfig::default()
    };
    let mut server = Server::new(cfg);
    let start = Instant::now();
    let (mut next_expire, mut next_report) = (EXPIRE_EVERY, report_every);
    let mut buf = [0u8; RECV_BYTES];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                for (to, bytes) in server.handle(from, &buf[..n], start.elapsed(), unix_ms()) {
                    if let Err(e) = socket.send_to(&bytes, to) {
                        log::debug!("cannot send to {to}: {e}");
                    }
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => log::debug!("receive failed: {e}"),
        }
        let now = start.elapsed();
        if now >= next_expire {
            server.expire(now, unix_ms());
            next_expire = now + EXPIRE_EVERY;
        }
        if now >= next_report {
            log::info!("{:?}", server.stats());
            next_report = now + report_every;
        }
    }
}
