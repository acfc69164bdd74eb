//! Who a peer is, provably: a signing key per seat, the proof a joiner or rejoiner gives
//! for its seat, and the seal on every replicated store entry.
//!
//! Every member shares the session key (it opens the encrypted links), so the session key
//! proves nothing about *which* member sent something. Each seat therefore has its own
//! ed25519 key, derived from the seat's rejoin secret, and its [`PeerId`] is derived from the
//! public half: a member cannot claim an id without holding the matching secret, and the
//! secret itself never leaves the peer that holds it.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PeerId;

/// Domain tag of a seat key derived from a rejoin secret.
const SEAT_KEY_TAG: &[u8] = b"netcode seat key v1";
/// Domain tag of a seat proof.
const SEAT_PROOF_TAG: &[u8] = b"netcode seat proof v1";
/// Domain tag of a store entry's seal.
const ENTRY_TAG: &[u8] = b"netcode store entry v1";

/// What a seat signs besides its proofs and seals, each under a domain tag of its own, so
/// that a signature made for one kind of statement never passes for another
/// (`docs/design.md`, "Authority").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statement {
    /// "This message to that member is mine": a message sent through a relay.
    Relayed,
    /// "This link is mine": the first message on a link, naming both ends.
    Hello,
    /// "This is the session's membership": a roster, signed by its host.
    Roster,
}

impl Statement {
    fn tag(self) -> &'static [u8] {
        match self {
            Statement::Relayed => b"netcode relayed message v1",
            Statement::Hello => b"netcode link hello v1",
            Statement::Roster => b"netcode roster v1",
        }
    }

    fn bytes(self, session_id: u64, body: &[u8]) -> Vec<u8> {
        let tag = self.tag();
        let mut bytes = Vec::with_capacity(tag.len() + 8 + body.len());
        bytes.extend_from_slice(tag);
        bytes.extend_from_slice(&session_id.to_le_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    /// Whether `key` signed `body` as this statement in session `session_id`.
    pub(crate) fn verify(self, key: &PublicKey, session_id: u64, body: &[u8], sig: &Signature) -> bool {
        verify(key, &self.bytes(session_id, body), sig)
    }
}

/// The public half of a seat's signing key, as rosters and seals carry it.
pub type PublicKey = [u8; 32];

/// An ed25519 signature (64 bytes, as two halves: serde derives arrays up to 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature([[u8; 32]; 2]);

impl Signature {
    fn from_dalek(sig: ed25519_dalek::Signature) -> Self {
        let bytes = sig.to_bytes();
        let mut halves = [[0u8; 32]; 2];
        halves[0].copy_from_slice(&bytes[..32]);
        halves[1].copy_from_slice(&bytes[32..]);
        Signature(halves)
    }

    fn to_dalek(self) -> ed25519_dalek::Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&self.0[0]);
        bytes[32..].copy_from_slice(&self.0[1]);
        ed25519_dalek::Signature::from_bytes(&bytes)
    }
}

/// A seat's signing key. Derived from the rejoin secret, so a restarted process that kept
/// its seat file holds it again.
#[derive(Clone)]
pub struct SeatKey(SigningKey);

impl std::fmt::Debug for SeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SeatKey").field(&self.peer()).finish()
    }
}

impl SeatKey {
    /// The key of the seat whose rejoin secret is `secret`.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(SEAT_KEY_TAG)
            .chain_update(secret)
            .finalize()
            .into();
        SeatKey(SigningKey::from_bytes(&seed))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.0.verifying_key().to_bytes()
    }

    /// The id this key owns.
    pub fn peer(&self) -> PeerId {
        peer_of(&self.public())
    }

    fn sign(&self, bytes: &[u8]) -> Signature {
        Signature::from_dalek(self.0.sign(bytes))
    }

    /// Signs `body` as `what` in session `session_id`.
    pub(crate) fn sign_statement(&self, what: Statement, session_id: u64, body: &[u8]) -> Signature {
        let bytes = what.bytes(session_id, body);
        let sig = self.sign(&bytes);
        // Our own signature holds: checking it again (a roster we pass on) costs no curve
        // arithmetic.
        verified::insert(verified::digest(&self.public(), &bytes, &sig));
        sig
    }
}

/// The [`PeerId`] that a public key owns: the first 8 bytes of its SHA-256. Forging a seat
/// would need a key whose hash starts with the victim's 64 bits.
pub fn peer_of(key: &PublicKey) -> PeerId {
    let hash = Sha256::digest(key);
    let mut id = [0u8; 8];
    id.copy_from_slice(&hash[..8]);
    PeerId(u64::from_le_bytes(id))
}

fn verify(key: &PublicKey, bytes: &[u8], sig: &Signature) -> bool {
    let digest = verified::digest(key, bytes, sig);
    if verified::contains(&digest) {
        return true;
    }
    let ok = VerifyingKey::from_bytes(key).is_ok_and(|k| k.verify_strict(bytes, &sig.to_dalek()).is_ok());
    if ok {
        verified::insert(digest);
    }
    ok
}

/// Signatures this process has verified, by a SHA-256 digest of (key, message, signature).
///
/// The same sealed entry reaches a peer along several paths (the writer's update, a relay,
/// a new host's store, a welcome), and the simulator runs every simulated peer in one
/// process, where each receiver checks the same seal. SHA-256 is collision resistant, so a
/// digest in the set proves that exact triple verified before: skipping the curve
/// arithmetic (about 50 µs) changes no verdict. Only successes are kept; the set is bounded
/// and forgets its oldest half when full.
mod verified {
    use std::collections::{HashSet, VecDeque};
    use std::sync::{Mutex, OnceLock, PoisonError};

    use sha2::{Digest, Sha256};

    use super::{PublicKey, Signature};

    /// Most digests kept (32 bytes each, twice: 512 KiB at most).
    const CAPACITY: usize = 8192;

    #[derive(Default)]
    struct Set {
        members: HashSet<[u8; 32]>,
        order: VecDeque<[u8; 32]>,
    }

    fn set() -> &'static Mutex<Set> {
        static SET: OnceLock<Mutex<Set>> = OnceLock::new();
        SET.get_or_init(Mutex::default)
    }

    pub(super) fn digest(key: &PublicKey, bytes: &[u8], sig: &Signature) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(key);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
        h.update(sig.0[0]);
        h.update(sig.0[1]);
        h.finalize().into()
    }

    pub(super) fn contains(digest: &[u8; 32]) -> bool {
        set()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .members
            .contains(digest)
    }

    pub(super) fn insert(digest: [u8; 32]) {
        let mut set = set().lock().unwrap_or_else(PoisonError::into_inner);
        if set.members.len() >= CAPACITY {
            for _ in 0..CAPACITY / 2 {
                if let Some(old) = set.order.pop_front() {
                    set.members.remove(&old);
                }
            }
        }
        if set.members.insert(digest) {
            set.order.push_back(digest);
        }
    }
}

/// A joiner's or rejoiner's signed statement: "seat `peer` is mine, reach me at `addr`",
/// dated so that nobody can replay it later. Admitting peers check the date against
/// their clock ([`crate::SessionConfig::seat_proof_window`]) and against the date of the
/// seat's last admission, which the roster records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatProof {
    /// The seat.
    pub peer: PeerId,
    /// Where its holder listens.
    pub addr: std::net::SocketAddr,
    /// When it was signed (session clock, ms).
    pub at_ms: u64,
    /// By the seat's key.
    pub sig: Signature,
}

impl SeatProof {
    /// Signs, with `key`, a claim to seat `peer` in session `session_id`.
    pub fn sign(key: &SeatKey, session_id: u64, peer: PeerId, addr: std::net::SocketAddr, at_ms: u64) -> Self {
        let sig = key.sign(&seat_bytes(session_id, peer, addr, at_ms));
        SeatProof { peer, addr, at_ms, sig }
    }

    /// Whether `key` owns the seat and signed this proof for session `session_id`.
    pub fn verify(&self, key: &PublicKey, session_id: u64) -> bool {
        peer_of(key) == self.peer
            && verify(
                key,
                &seat_bytes(session_id, self.peer, self.addr, self.at_ms),
                &self.sig,
            )
    }
}

fn seat_bytes(session_id: u64, peer: PeerId, addr: std::net::SocketAddr, at_ms: u64) -> Vec<u8> {
    let mut bytes = SEAT_PROOF_TAG.to_vec();
    bytes.extend_from_slice(&session_id.to_le_bytes());
    bytes.extend_from_slice(&peer.0.to_le_bytes());
    bytes.extend_from_slice(addr.to_string().as_bytes());
    bytes.extend_from_slice(&at_ms.to_le_bytes());
    bytes
}

/// Who vouches for a store entry: the signer's public key, the host term it signed in, and
/// the signature over the entry's scope, key, version and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Seal {
    /// The signer's public key (its id is [`peer_of`] it).
    pub key: PublicKey,
    /// The host epoch the signer was in.
    pub term: u64,
    /// The signature.
    pub sig: Signature,
}

impl Seal {
    /// Seals `content` (the entry's canonical bytes) with `key` in `term`.
    pub(crate) fn sign(key: &SeatKey, term: u64, content: &[u8]) -> Self {
        let sig = key.sign(&entry_bytes(term, content));
        Seal {
            key: key.public(),
            term,
            sig,
        }
    }

    /// The signer's id.
    pub fn signer(&self) -> PeerId {
        peer_of(&self.key)
    }

    /// Whether the signature over `content` holds.
    pub(crate) fn verify(&self, content: &[u8]) -> bool {
        verify(&self.key, &entry_bytes(self.term, content), &self.sig)
    }
}

fn entry_bytes(term: u64, content: &[u8]) -> Vec<u8> {
    let mut bytes = ENTRY_TAG.to_vec();
    bytes.extend_from_slice(&term.to_le_bytes());
    bytes.extend_from_slice(content);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_signature_vouches_for_its_exact_message_only() {
        let key = SeatKey::from_secret(&[3; 32]);
        let seal = Seal::sign(&key, 4, b"score=7");
        assert!(seal.verify(b"score=7"), "verified, then remembered");
        assert!(seal.verify(b"score=7"), "remembered");
        assert!(
            !seal.verify(b"score=8"),
            "another message under the remembered signature"
        );
        let other = SeatKey::from_secret(&[5; 32]);
        let moved = Seal {
            key: other.public(),
            ..seal
        };
        assert!(!moved.verify(b"score=7"), "the remembered signature under another key");
        let later = Seal { term: 5, ..seal };
        assert!(!later.verify(b"score=7"), "the remembered signature in another term");
    }

    #[test]
    fn a_proof_holds_only_for_its_key_session_and_statement() {
        let key = SeatKey::from_secret(&[1; 32]);
        let other = SeatKey::from_secret(&[2; 32]);
        let addr = "10.0.0.1:5000".parse().unwrap();
        let proof = SeatProof::sign(&key, 7, key.peer(), addr, 1000);
        assert!(proof.verify(&key.public(), 7));
        let theft = SeatProof::sign(&other, 7, key.peer(), addr, 1000);
        assert!(
            !theft.verify(&key.public(), 7),
            "signed by a key that does not own the seat"
        );
        assert!(!theft.verify(&other.public(), 7), "a key owns only its own id");
        assert!(!proof.verify(&other.public(), 7), "another seat's key");
        assert!(!proof.verify(&key.public(), 8), "another session");
        let moved = SeatProof {
            addr: "10.0.0.2:5000".parse().unwrap(),
            ..proof
        };
        assert!(!moved.verify(&key.public(), 7), "the address is signed");
        let later = SeatProof { at_ms: 2000, ..proof };
        assert!(!later.verify(&key.public(), 7), "the date is signed");
    }

    #[test]
    fn a_statement_holds_only_for_its_kind_session_body_and_key() {
        let key = SeatKey::from_secret(&[6; 32]);
        let sig = key.sign_statement(Statement::Relayed, 7, b"leave");
        assert!(Statement::Relayed.verify(&key.public(), 7, b"leave", &sig));
        assert!(
            !Statement::Hello.verify(&key.public(), 7, b"leave", &sig),
            "another kind"
        );
        assert!(
            !Statement::Roster.verify(&key.public(), 7, b"leave", &sig),
            "another kind"
        );
        assert!(
            !Statement::Relayed.verify(&key.public(), 8, b"leave", &sig),
            "another session"
        );
        assert!(
            !Statement::Relayed.verify(&key.public(), 7, b"leaves", &sig),
            "another body"
        );
        let other = SeatKey::from_secret(&[7; 32]).public();
        assert!(!Statement::Relayed.verify(&other, 7, b"leave", &sig), "another key");
    }

    #[test]
    fn a_seal_covers_its_content_and_term() {
        let key = SeatKey::from_secret(&[3; 32]);
        let seal = Seal::sign(&key, 4, b"content");
        assert_eq!(seal.signer(), key.peer());
        assert!(seal.verify(b"content"));
        assert!(!seal.verify(b"contents"));
        assert!(!Seal { term: 5, ..seal }.verify(b"content"));
        assert!(
            !Seal {
                key: SeatKey::from_secret(&[4; 32]).public(),
                ..seal
            }
            .verify(b"content")
        );
    }
}
