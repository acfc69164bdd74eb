//! `netcode_rendezvous::Server::handle` fed a stream of datagrams: the rendezvous service,
//! which anyone on the internet can send to. The input is packets, each a 2-byte
//! little-endian length and that many bytes (`netcode_fuzz::packets`); a packet's first
//! byte is a control byte (`netcode_fuzz::Step`): which of eight sources sends it, how far
//! the clock moves first, whether the service expires its tables first (the flag), and
//! (the mode) whether the rest is sent as it is (0, 1) or, when it decodes as a signed
//! request, signed again by one of two sessions (2, 3) and dated within the clock window,
//! so that the fuzzer reaches what the service does with valid requests (registrations,
//! joins, leaves, relaying between members) and not only its refusals.
//!
//! Checks: it never panics and stays within the allocation limits; every answer goes to a
//! source that sent something, decodes, and is a frame the service sends (`Observed`,
//! `Members`, `Punch`, `Relayed`); the tables stay within the configured caps.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use netcode::rendezvous::{Frame, SessionSigner};
use netcode_fuzz::Step;
use netcode_rendezvous::{Server, ServerConfig};

/// The service's wall clock at its monotonic zero (in 2026), in UNIX ms.
const EPOCH_MS: u64 = 1_790_000_000_000;

fuzz_target!(|data: &[u8]| {
    // Small caps, so that inputs reach them.
    let cfg = ServerConfig {
        max_sessions: 2,
        max_members: 3,
        max_sources: 3,
        ..ServerConfig::default()
    };
    let (max_sessions, max_members) = (cfg.max_sessions, cfg.max_members);
    let mut server = Server::new(cfg);
    let signers = [SessionSigner::new(&[1; 32]), SessionSigner::new(&[2; 32])];
    let mut now = Duration::ZERO;
    let mut heard = Vec::new();
    for packet in netcode_fuzz::packets(data) {
        let Some((step, rest)) = Step::split(packet) else {
            continue;
        };
        now += step.advance;
        let unix_ms = EPOCH_MS + now.as_millis() as u64;
        if step.flag {
            server.expire(now, unix_ms);
        }
        let bytes = match (step.mode, Frame::decode(rest)) {
            (2 | 3, Ok(Frame::Signed { signed, .. })) => {
                // Dated within 30 s either side of the service's clock.
                let at_ms = unix_ms - 30_000 + signed.at_ms % 60_001;
                let signer = &signers[usize::from(step.mode - 2)];
                match signer.request(signed.peer, at_ms, signed.nonce, signed.body).encode() {
                    Ok(bytes) => bytes,
                    Err(_) => continue,
                }
            }
            _ => rest.to_vec(),
        };
        if !heard.contains(&step.from) {
            heard.push(step.from);
        }
        for (to, reply) in server.handle(step.from, &bytes, now, unix_ms) {
            assert!(heard.contains(&to), "an answer to {to}, which sent nothing");
            let frame = Frame::decode(&reply).expect("an answer decodes");
            assert!(
                matches!(
                    frame,
                    Frame::Observed { .. } | Frame::Members { .. } | Frame::Punch { .. } | Frame::Relayed { .. }
                ),
                "the service sent {frame:?}"
            );
        }
        let stats = server.stats();
        assert!(stats.sessions <= max_sessions, "{stats:?}");
        assert!(stats.members <= max_sessions * max_members, "{stats:?}");
    }
});
