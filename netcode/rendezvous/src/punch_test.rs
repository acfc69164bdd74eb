//! `netcode-rendezvous punch-test`: can two machines reach each other directly through
//! their NATs, with this service's help? Each side registers (or joins) a session, learns
//! the other's addresses, and sends probes to them from the one socket it registered with;
//! a probe that arrives from the other side is a direct path. Prints JSON lines.
//!
//! It is what a group runs before playing, and what the NAT lab in `tests/` runs inside
//! its namespaces.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netcode::PeerId;
use netcode::rendezvous::{Frame, Request, SessionSigner};

/// How often probes go to every known address of the other side.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How often the session registration is renewed (also a keepalive of the NAT mapping).
const REGISTER_EVERY: Duration = Duration::from_secs(2);
/// How long one receive waits.
const RECV_WAIT: Duration = Duration::from_millis(20);

/// What to try.
#[derive(Debug, Clone)]
pub struct PunchTest {
    /// The rendezvous service.
    pub server: SocketAddr,
    /// The session key both sides share.
    pub key: [u8; 32],
    /// This side's id.
    pub peer: PeerId,
    /// Join (the other side is told to punch) instead of only registering.
    pub join: bool,
    /// How long to try.
    pub duration: Duration,
    /// Local address to bind (port 0: any).
    pub bind: SocketAddr,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn emit(v: serde_line::Line) {
    println!("{}", v.0);
}

/// Tiny JSON lines without a JSON dependency: the values are numbers and addresses.
mod serde_line {
    pub struct Line(pub String);

    pub fn event(name: &str, fields: &[(&str, String)]) -> Line {
        let mut s = format!("{{\"event\":\"{name}\"");
        for (k, v) in fields {
            s.push_str(&format!(",\"{k}\":\"{v}\""));
        }
        s.push('}');
        Line(s)
    }
}

/// Runs the test; returns the peers reached directly.
pub fn run(t: &PunchTest) -> Result<BTreeSet<PeerId>, String> {
    let socket = UdpSocket::bind(t.bind).map_err(|e| format!("cannot bind {}: {e}", t.bind))?;
    socket.set_read_timeout(Some(RECV_WAIT)).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let signer = SessionSigner::new(&t.key);
    let start = Instant::now();
    let (mut nonce, mut next_register, mut next_probe) = (0u64, Duration::ZERO, Duration::ZERO);
    let mut targets: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut direct = BTreeSet::new();
    let mut buf = [0u8; 2048];
    emit(serde_line::event(
        "started",
        &[("local", local.to_string()), ("peer", t.peer.to_string())],
    ));
    let candidates: Vec<SocketAddr> = Some(local).filter(|a| !a.ip().is_unspecified()).into_iter().collect();
    while start.elapsed() < t.duration {
        let now = start.elapsed();
        if now >= next_register {
            nonce += 1;
            let body = if t.join && nonce == 1 {
                Request::Join {
                    addr: None,
                    relay_token: 0,
                    candidates: candidates.clone(),
                }
            } else {
                Request::Register {
                    addr: None,
                    relay_token: 0,
                    candidates: candidates.clone(),
                }
            };
            let frame = signer.request(t.peer, unix_ms(), nonce, body);
            let bytes = frame.encode().map_err(|e| e.to_string())?;
            socket.send_to(&bytes, t.server).map_err(|e| e.to_string())?;
            next_register = now + REGISTER_EVERY;
        }
        if now >= next_probe {
            let probe = Frame::Probe { nonce: t.peer.0 }.encode().map_err(|e| e.to_string())?;
            for to in &targets {
                let _ = socket.send_to(&probe, to);
            }
            next_probe = now + PROBE_EVERY;
        }
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        match Frame::decode(&buf[..n]) {
            Ok(Frame::Members { observed, members, .. }) if from == t.server => {
                emit(serde_line::event("observed", &[("addr", observed.to_string())]));
                for m in members {
                    targets.insert(m.observed);
                    targets.extend(m.candidates);
                }
            }
            Ok(Frame::Punch { peer, .. }) if from == t.server => {
                emit(serde_line::event(
                    "punch",
                    &[("peer", peer.peer.to_string()), ("at", peer.observed.to_string())],
                ));
                targets.insert(peer.observed);
                targets.extend(peer.candidates);
            }
            Ok(Frame::Probe { nonce }) if from != t.server => {
                // Latching: answer at the address the probe came from.
                targets.insert(from);
                let reply = Frame::Observed { nonce, addr: from }
                    .encode()
                    .map_err(|e| e.to_string())?;
                let _ = socket.send_to(&reply, from);
                if direct.insert(PeerId(nonce)) {
                    let ms = start.elapsed().as_millis().to_string();
                    emit(serde_line::event(
                        "direct",
                        &[
                            ("peer", PeerId(nonce).to_string()),
                            ("from", from.to_string()),
                            ("ms", ms),
                        ],
                    ));
                }
            }
            _ => {}
        }
    }
    let reached: Vec<String> = direct.iter().map(ToString::to_string).collect();
    emit(serde_line::event("done", &[("direct", reached.join(","))]));
    Ok(direct)
}
