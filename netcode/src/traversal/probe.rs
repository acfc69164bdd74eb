//! Path probes: the datagrams two peers trade to open and prove a path between them.
//!
//! A probe starts with [`PROBE_MAGIC`] (`0xFF` first, like a rendezvous frame, so no
//! netcode packet starts like it) and carries an HMAC-SHA256 tag made with a key derived
//! from the session key: only members of the session can make one, so a stranger cannot
//! point a peer's path somewhere else. A reply echoes the nonce of the probe it answers,
//! and a peer only believes replies to nonces it sent lately.

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PeerId;
use crate::rendezvous::RendezvousId;

/// First bytes of every probe.
pub const PROBE_MAGIC: [u8; 4] = [0xFF, b'N', b'C', b'P'];
/// Version of the probe format (the byte after [`PROBE_MAGIC`]).
const PROBE_VERSION: u8 = 1;
/// Tag bytes kept of the HMAC.
const TAG_BYTES: usize = 16;
/// Largest probe accepted.
const MAX_PROBE_BYTES: usize = 256;
/// Domain tag of the probe key.
const KEY_TAG: &[u8] = b"netcode path probe key v1";

/// What a probe says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The session (a probe of another session is ignored).
    pub session: RendezvousId,
    /// Who sends it.
    pub sender: PeerId,
    /// The address the sender is known by in the session.
    pub sender_addr: SocketAddr,
    /// Unique per probe sent.
    pub nonce: u64,
    /// For a reply: the nonce of the probe it answers.
    pub reply_to: Option<u64>,
}

/// Makes and checks probes of one session.
#[derive(Clone)]
pub struct ProbeKey {
    key: [u8; 32],
}

impl std::fmt::Debug for ProbeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProbeKey(..)")
    }
}

impl ProbeKey {
    /// The probe key of the session whose netcode key is `session_key`.
    pub fn new(session_key: &[u8; 32]) -> Self {
        ProbeKey {
            key: Sha256::new()
                .chain_update(KEY_TAG)
                .chain_update(session_key)
                .finalize()
                .into(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// The probe's bytes: magic, version, bincode, tag.
    pub fn seal(&self, probe: &Probe) -> Vec<u8> {
        let mut out = PROBE_MAGIC.to_vec();
        out.push(PROBE_VERSION);
        // A fixed-size struct always encodes.
        let _ = bincode::serde::encode_into_std_write(probe, &mut out, bincode::config::standard());
        let tag = self.mac().chain_update(&out).finalize().into_bytes();
        out.extend_from_slice(&tag[..TAG_BYTES]);
        out
    }

    /// The probe in `bytes` if they are one of this session with a valid tag.
    pub fn open(&self, bytes: &[u8]) -> Option<Probe> {
        if !is_probe(bytes) || bytes.len() > MAX_PROBE_BYTES || bytes.len() < PROBE_MAGIC.len() + 1 + TAG_BYTES {
            return None;
        }
        if bytes[PROBE_MAGIC.len()] != PROBE_VERSION {
            return None;
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG_BYTES);
        self.mac().chain_update(body).verify_truncated_left(tag).ok()?;
        let (probe, used): (Probe, usize) =
            bincode::serde::decode_from_slice(&body[PROBE_MAGIC.len() + 1..], bincode::config::standard()).ok()?;
        (used == body.len() - PROBE_MAGIC.len() - 1).then_some(probe)
    }
}

/// Whether `bytes` start like a probe.
pub fn is_probe(bytes: &[u8]) -> bool {
    bytes.starts_with(&PROBE_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            session: RendezvousId([3; 16]),
            sender: PeerId(9),
            sender_addr: "198.51.100.11:5000".parse().unwrap(),
            nonce: 77,
            reply_to: Some(76),
        }
    }

    #[test]
    fn a_probe_opens_with_its_session_key_only_and_unchanged() {
        let key = ProbeKey::new(&[1; 32]);
        let bytes = key.seal(&probe());
        assert!(is_probe(&bytes));
        assert!(!crate::rendezvous::is_rendezvous(&bytes));
        assert_eq!(key.open(&bytes), Some(probe()));
        assert_eq!(ProbeKey::new(&[2; 32]).open(&bytes), None, "another session's key");
        for i in 0..bytes.len() {
            let mut bent = bytes.clone();
            bent[i] ^= 0x40;
            assert_eq!(key.open(&bent), None, "byte {i} changed");
        }
        for n in 0..bytes.len() {
            assert_eq!(key.open(&bytes[..n]), None, "cut at {n}");
        }
    }
}
