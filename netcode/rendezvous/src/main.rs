//! `netcode-rendezvous --listen 0.0.0.0:7777`: the rendezvous service on one UDP port.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use netcode_rendezvous::{Server, ServerConfig};

/// How often members that went quiet are forgotten.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
/// How often the service logs its counters.
const REPORT_EVERY: Duration = Duration::from_secs(60);
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
    /// Print every refused datagram (debug log).
    #[arg(long)]
    verbose: bool,
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
    match run(&args) {
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
    let cfg = ServerConfig {
        member_ttl: Duration::from_secs(args.member_ttl),
        max_sessions: args.max_sessions,
        ..ServerConfig::default()
    };
    let mut server = Server::new(cfg);
    let start = Instant::now();
    let (mut next_expire, mut next_report) = (EXPIRE_EVERY, REPORT_EVERY);
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
            server.expire(now);
            next_expire = now + EXPIRE_EVERY;
        }
        if now >= next_report {
            log::info!("{:?}", server.stats());
            next_report = now + REPORT_EVERY;
        }
    }
}
