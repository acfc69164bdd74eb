//! Path probes and their replies (`netcode::traversal::probe`), and what a peer's
//! `Traversal` makes of them and of the rendezvous service's answers: fed a stream of
//! datagrams. The input is packets, each a 2-byte little-endian length and that many
//! bytes (`netcode_fuzz::packets`); a packet's first byte is a control byte
//! (`netcode_fuzz::Step`): which of eight sources sends it (source 0 is the peer's
//! rendezvous service), how far the clock moves first, and the mode:
//!
//! - 0: the rest as it is (a probe with a forged tag, a rendezvous frame, a session
//!   datagram, noise);
//! - 1: the rest as a probe's body, sealed with the session's probe key: what only a member
//!   can send, so that the body decoder behind the tag is fuzzed too;
//! - 2: a reply, sealed, to the newest probe the peer sent to that source (sender and
//!   address from the rest), or with the flag a new probe from a member;
//! - 3: the rest as a rendezvous frame, made to name the peer's session (and an
//!   `Observed` to answer its newest question), as its service would send it.
//!
//! Checks: it never panics and stays within the allocation limits; a probe opens only with
//! its session's key, and an opened probe seals again to one that opens to it; everything
//! the peer sends is one of its probes (opening with the key, from itself), a rendezvous
//! frame that decodes, or a session datagram; a relayed datagram comes out only for a
//! member the service listed or that probed.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use netcode::PeerId;
use netcode::rendezvous::{Frame, SessionSigner, is_rendezvous};
use netcode::traversal::probe::{PROBE_MAGIC, Probe, ProbeKey, is_probe};
use netcode::traversal::{Incoming, Traversal, TraversalConfig};
use netcode_fuzz::{Step, source};
use sha2::{Digest, Sha256};

const SESSION_KEY: [u8; 32] = [1; 32];
const ME: PeerId = PeerId(1);

/// A probe's bytes around any `body`, with a valid tag: what `ProbeKey::seal` does around
/// the bincode of a `Probe` (checked against it on every input).
fn seal_body(body: &[u8]) -> Vec<u8> {
    let key: [u8; 32] = Sha256::new()
        .chain_update(b"netcode path probe key v1")
        .chain_update(SESSION_KEY)
        .finalize()
        .into();
    let mut out = PROBE_MAGIC.to_vec();
    out.push(1);
    out.extend_from_slice(body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    out
}

/// What the peer sent: its newest probe to each address, its newest question to the
/// service.
#[derive(Default)]
struct Sent {
    probes: Vec<(SocketAddr, Probe)>,
    asked: Option<u64>,
}

impl Sent {
    /// Checks what the peer sends, and keeps what a reply needs.
    fn look_at(&mut self, key: &ProbeKey, out: &mut Vec<(SocketAddr, Vec<u8>)>) {
        let session = SessionSigner::new(&SESSION_KEY).id();
        for (to, bytes) in out.drain(..) {
            if is_probe(&bytes) {
                let p = key.open(&bytes).expect("our probe opens");
                assert_eq!((p.sender, p.session), (ME, session), "a probe not of ours");
                self.probes.retain(|(a, _)| *a != to);
                self.probes.push((to, p));
            } else if is_rendezvous(&bytes) {
                match Frame::decode(&bytes).expect("our rendezvous frame decodes") {
                    Frame::Probe { nonce } => self.asked = Some(nonce),
                    Frame::Signed { signed, sig } => {
                        assert_eq!(signed.peer, ME);
                        signed.verify(&sig, signed.at_ms).expect("our request verifies");
                    }
                    Frame::Relay { from, .. } => assert_eq!(from, ME),
                    f => panic!("a peer sent {f:?}"),
                }
            }
        }
    }
}

fn peer_of(rest: &[u8], at: usize) -> PeerId {
    PeerId(u64::from(rest.get(at).copied().unwrap_or(2) % 4 + 1))
}

fuzz_target!(|data: &[u8]| {
    let key = ProbeKey::new(&SESSION_KEY);
    let session = SessionSigner::new(&SESSION_KEY).id();
    let service = source(0);
    let me_addr: SocketAddr = "10.0.0.1:4000".parse().expect("address");
    let cfg = TraversalConfig::default().rendezvous(vec![service]);
    let mut t = Traversal::new(cfg, &SESSION_KEY, ME, vec![me_addr], 7);
    t.set_addr(me_addr);
    t.ask_observed();
    t.join(Duration::ZERO);
    let mut now = Duration::ZERO;
    let mut out = Vec::new();
    t.drain(&mut out);
    let mut sent = Sent::default();
    sent.look_at(&key, &mut out);
    // Every member the service listed or that probed (an over-estimate).
    let mut members: Vec<PeerId> = Vec::new();
    for packet in netcode_fuzz::packets(data) {
        let Some((step, rest)) = Step::split(packet) else {
            continue;
        };
        now += step.advance;
        let bytes = match step.mode {
            0 => rest.to_vec(),
            1 => {
                let sealed = seal_body(rest);
                if let Some(p) = key.open(&sealed) {
                    assert_eq!(key.open(&key.seal(&p)), Some(p), "open(seal(p)) != p");
                }
                sealed
            }
            2 => {
                let reply_to = sent.probes.iter().find(|(a, _)| *a == step.from).map(|(_, p)| p.nonce);
                let p = Probe {
                    session,
                    sender: peer_of(rest, 0),
                    sender_addr: source(rest.get(1).copied().unwrap_or(0)),
                    nonce: u64::from(rest.get(2).copied().unwrap_or(0)),
                    reply_to: if step.flag { None } else { reply_to },
                };
                key.seal(&p)
            }
            _ => {
                let Ok(mut frame) = Frame::decode(rest) else { continue };
                match &mut frame {
                    Frame::Observed { nonce, .. } => *nonce = sent.asked.unwrap_or(*nonce),
                    Frame::Members { session: s, .. }
                    | Frame::Punch { session: s, .. }
                    | Frame::Relayed { session: s, .. }
                    | Frame::Relay { session: s, .. } => *s = session,
                    Frame::Probe { .. } | Frame::Signed { .. } => {}
                }
                match &frame {
                    Frame::Members { members: listed, .. } => members.extend(listed.iter().map(|l| l.peer)),
                    Frame::Punch { peer, .. } => members.push(peer.peer),
                    _ => {}
                }
                let Ok(bytes) = frame.encode() else { continue };
                bytes
            }
        };
        if is_probe(&bytes)
            && let Some(p) = key.open(&bytes)
        {
            members.push(p.sender);
        }
        match t.receive(step.from, &bytes, now) {
            Incoming::Relayed(_, payload) => {
                let Ok(Frame::Relayed { from, .. }) = Frame::decode(&bytes) else {
                    panic!("relayed out of no relay frame");
                };
                assert!(members.contains(&from), "relayed for {from}, never listed nor probing");
                assert!(bytes.len() > payload.len());
            }
            Incoming::Session(_) => assert!(!is_probe(&bytes) && !is_rendezvous(&bytes)),
            Incoming::Consumed => {}
        }
        t.update(now, |p| p == PeerId(2));
        // With the flag, the rest of a mode-0 packet is also a session datagram the peer
        // sends (to a member's session address, through whatever path it has).
        if step.flag && step.mode == 0 && !is_probe(rest) && !is_rendezvous(rest) {
            t.send(source(rest.first().copied().unwrap_or(0)), rest.to_vec());
        }
        t.drain(&mut out);
        sent.look_at(&key, &mut out);
    }
});
