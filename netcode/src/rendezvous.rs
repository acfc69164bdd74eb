//! The rendezvous protocol: what peers and the rendezvous service (`netcode-rendezvous`)
//! say to each other over the peers' game sockets, sans-IO.
//!
//! - Every frame starts with [`MAGIC`], whose first byte (`0xFF`) no netcode packet starts
//!   with (netcode's prefix byte is a packet type of 0 to 6 and a sequence length of at
//!   most 8), so one socket carries both and a peer tells them apart by the first byte.
//! - The service knows a session only by its [`RendezvousId`], derived from the session
//!   key, never the key. Each session also has a signing key derived from the session key;
//!   the id is the hash of its public half. Every request about a session is signed with it
//!   and dated, so the service can check it without holding any secret, a stranger cannot
//!   register, list, redirect or remove anything, and a replayed or reordered-older request
//!   is refused ([`ReplayGuard`]).
//! - What the service sends back (the address it saw, members, punch hints) is not signed:
//!   a forged hint can only send a peer's netcode handshake to an address that cannot
//!   complete it (the handshake needs the session key).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::PeerId;

/// First bytes of every rendezvous frame.
pub const MAGIC: [u8; 4] = [0xFF, b'N', b'C', b'R'];
/// Version of the rendezvous protocol (the byte after [`MAGIC`]).
pub const VERSION: u8 = 2;
/// Largest rendezvous frame other than a relay frame, in bytes (fits one datagram on any
/// path).
pub const MAX_FRAME_BYTES: usize = 1200;
/// Largest relay frame ([`Frame::Relay`], [`Frame::Relayed`]): a whole netcode packet (at
/// most 1300 bytes) and its wrapping, within one Ethernet-sized datagram.
pub const MAX_RELAY_FRAME_BYTES: usize = 1472;
/// Most candidate addresses one peer registers.
pub const MAX_CANDIDATES: usize = 8;
/// Most members one answer lists.
pub const MAX_LISTED: usize = 32;
/// How far a request's date may be from the service's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Domain tag of the session's rendezvous signing key.
const SIGNING_TAG: &[u8] = b"netcode rendezvous key v1";

/// How the service knows a session: 16 bytes of the hash of its rendezvous public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RendezvousId(pub [u8; 16]);

impl std::fmt::Display for RendezvousId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0[..6].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A session's rendezvous credentials, derived from its session key: the signing key of
/// its requests and the id the service knows it by.
#[derive(Clone)]
pub struct SessionSigner {
    key: SigningKey,
}

impl SessionSigner {
    /// The signer of the session whose netcode key is `session_key`.
    pub fn new(session_key: &[u8; 32]) -> Self {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(SIGNING_TAG)
            .chain_update(session_key)
            .finalize()
            .into();
        SessionSigner {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public key the service checks requests with.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The id the service knows this session by.
    pub fn id(&self) -> RendezvousId {
        id_of(&self.public())
    }

    /// A signed request about this session from `peer`, dated `at_ms` (the sender's UNIX
    /// time in ms) and made unique by `nonce`.
    pub fn request(&self, peer: PeerId, at_ms: u64, nonce: u64, body: Request) -> Frame {
        let signed = Signed {
            session: self.public(),
            peer,
            at_ms,
            nonce,
            body,
        };
        let sig = self.key.sign(&signed_bytes(&signed)).to_bytes();
        Frame::Signed {
            signed,
            sig: [sig[..32].try_into().expect("32"), sig[32..].try_into().expect("32")],
        }
    }
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionSigner({})", self.id())
    }
}

/// The id of the session whose rendezvous public key is `public`.
pub fn id_of(public: &[u8; 32]) -> RendezvousId {
    let hash = Sha256::digest(public);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    RendezvousId(id)
}

/// What a peer asks about its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// "I am in this session; reach me at these addresses" (the service adds the address it
    /// sees). Repeated as a keepalive; the answer lists the other members.
    Register {
        /// The address the peer is known by in its session (its roster address), when it
        /// is in one; the service lists it to others (default: the address it saw).
        addr: Option<SocketAddr>,
        /// A random number the peer's relay frames must carry: only the peer and the
        /// service know it, so nobody off the path can make the service relay in the
        /// peer's name by forging its source address.
        relay_token: u64,
        /// Interface addresses of the peer (LAN, IPv6 global).
        candidates: Vec<SocketAddr>,
    },
    /// "I want to connect to the session": the service lists the members and tells each of
    /// them to punch towards the asker's candidates.
    Join {
        /// The address the joiner will be known by in the session, as in `Register`.
        addr: Option<SocketAddr>,
        /// As in `Register`.
        relay_token: u64,
        /// Interface addresses of the joiner.
        candidates: Vec<SocketAddr>,
    },
    /// "I leave": forget me.
    Leave,
}

/// A signed, dated request about one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// The session's rendezvous public key (its id is [`id_of`] it).
    pub session: [u8; 32],
    /// Who asks.
    pub peer: PeerId,
    /// When, in the sender's UNIX ms.
    pub at_ms: u64,
    /// Makes the request unique within its date.
    pub nonce: u64,
    /// What it asks.
    pub body: Request,
}

/// One member as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The member.
    pub peer: PeerId,
    /// Where the service saw its requests come from (its reflexive address).
    pub observed: SocketAddr,
    /// The address it is known by in its session, if it said.
    pub addr: Option<SocketAddr>,
    /// The addresses it registered.
    pub candidates: Vec<SocketAddr>,
}

impl Listed {
    /// The address the member is known by in its session: the one it registered, else
    /// the one the service saw.
    pub fn session_addr(&self) -> SocketAddr {
        self.addr.unwrap_or(self.observed)
    }
}

/// One rendezvous frame, either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Peer to service: "what address do you see me at?" (no session, no signature).
    Probe {
        /// Echoed in the answer.
        nonce: u64,
    },
    /// Service to peer: the address a probe or request came from.
    Observed {
        /// The probe's nonce.
        nonce: u64,
        /// The sender's address as the service saw it.
        addr: SocketAddr,
    },
    /// Peer to service: a signed request about a session.
    Signed {
        /// The request.
        signed: Signed,
        /// Its ed25519 signature, in two halves.
        sig: [[u8; 32]; 2],
    },
    /// Service to peer: the other members of the session, the most recently heard first.
    Members {
        /// The session.
        session: RendezvousId,
        /// The asker's address as the service saw it.
        observed: SocketAddr,
        /// The other members.
        members: Vec<Listed>,
    },
    /// Service to peer: `peer` wants to connect; probe these addresses (and answer a probe
    /// at the address it came from).
    Punch {
        /// The session.
        session: RendezvousId,
        /// The member to reach.
        peer: Listed,
    },
    /// Peer to service, the last resort: "forward this datagram to `to`", for two members
    /// that reach each other neither directly nor through a third member. The service
    /// forwards only from a member's registered address, carrying the relay token of its
    /// signed registration, to another member of the same session, within a bandwidth cap
    /// per session. `payload` is a netcode packet (encrypted and authenticated end to
    /// end): the service cannot read or forge it.
    Relay {
        /// The session.
        session: RendezvousId,
        /// The sending member.
        from: PeerId,
        /// The member to forward to.
        to: PeerId,
        /// The sender's relay token (see [`Request::Register`]).
        token: u64,
        /// The datagram.
        payload: Vec<u8>,
    },
    /// Service to peer: a datagram `from` relayed.
    Relayed {
        /// The session.
        session: RendezvousId,
        /// The member that sent it.
        from: PeerId,
        /// The datagram.
        payload: Vec<u8>,
    },
}

/// The index bincode gives [`Frame::Relay`] (the byte after the version; see
/// [`is_relay`]).
const RELAY_TAG: u8 = 5;
/// The first byte of bincode's varints that take more than one byte.
const VARINT_LONG: u8 = 251;

/// Why bytes are not a rendezvous frame, or a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RendezvousError {
    /// Not a rendezvous frame at all (no magic): a netcode packet or noise.
    #[error("not a rendezvous frame")]
    NotRendezvous,
    /// A rendezvous frame of another version.
    #[error("rendezvous protocol version {0}, this is {VERSION}")]
    Version(u8),
    /// The frame does not decode, or breaks a bound.
    #[error("malformed rendezvous frame: {0}")]
    Malformed(&'static str),
    /// The signature does not hold for the session's key.
    #[error("the signature does not hold")]
    BadSignature,
    /// The request is dated too far from our clock.
    #[error("dated {0} ms from our clock")]
    Stale(u64),
    /// The same request was seen before.
    #[error("a replayed request")]
    Replayed,
}

/// Whether `bytes` start like a rendezvous frame (a cheap test for a shared socket).
pub fn is_rendezvous(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Whether `bytes` start like a [`Frame::Relay`], read from its first bytes without
/// decoding (the service meters relay frames apart from requests).
pub fn is_relay(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
        && bytes.get(MAGIC.len()) == Some(&VERSION)
        && bytes.get(MAGIC.len() + 1) == Some(&RELAY_TAG)
}

impl Frame {
    /// The frame's bytes: [`MAGIC`], [`VERSION`], then bincode.
    pub fn encode(&self) -> Result<Vec<u8>, RendezvousError> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        bincode::serde::encode_into_std_write(self, &mut out, config())
            .map_err(|_| RendezvousError::Malformed("does not encode"))?;
        if out.len() > self.max_bytes() {
            return Err(RendezvousError::Malformed("frame too large"));
        }
        Ok(out)
    }

    /// Decodes and bounds a frame from untrusted bytes (a signature is checked by
    /// [`Signed::verify`], not here).
    pub fn decode(bytes: &[u8]) -> Result<Frame, RendezvousError> {
        let rest = bytes.strip_prefix(&MAGIC).ok_or(RendezvousError::NotRendezvous)?;
        let (&version, body) = rest.split_first().ok_or(RendezvousError::Malformed("no version"))?;
        if version != VERSION {
            return Err(RendezvousError::Version(version));
        }
        if bytes.len() > MAX_RELAY_FRAME_BYTES {
            return Err(RendezvousError::Malformed("frame too large"));
        }
        // The kind is one byte (bincode's varint of a small index). bincode also reads a
        // longer form of the same number (251 and two bytes, ...), which would make a relay
        // frame that `is_relay` does not see; refused, so that the first bytes say the kind.
        if body.first().is_some_and(|&tag| tag >= VARINT_LONG) {
            return Err(RendezvousError::Malformed("kind not in its one-byte form"));
        }
        let (frame, used): (Frame, usize) = bincode::serde::decode_from_slice(body, config())
            .map_err(|_| RendezvousError::Malformed("does not decode"))?;
        if used != body.len() {
            return Err(RendezvousError::Malformed("trailing bytes"));
        }
        if bytes.len() > frame.max_bytes() {
            return Err(RendezvousError::Malformed("frame too large"));
        }
        frame.validate()?;
        Ok(frame)
    }

    /// The size bound of this kind of frame.
    fn max_bytes(&self) -> usize {
        match self {
            Frame::Relay { .. } | Frame::Relayed { .. } => MAX_RELAY_FRAME_BYTES,
            _ => MAX_FRAME_BYTES,
        }
    }

    fn validate(&self) -> Result<(), RendezvousError> {
        let too_many = |c: &Vec<SocketAddr>| c.len() > MAX_CANDIDATES;
        let bad = match self {
            Frame::Signed { signed, .. } => match &signed.body {
                Request::Register { candidates, .. } | Request::Join { candidates, .. } => too_many(candidates),
                Request::Leave => false,
            },
            Frame::Members { members, .. } => {
                members.len() > MAX_LISTED || members.iter().any(|m| too_many(&m.candidates))
            }
            Frame::Punch { peer, .. } => too_many(&peer.candidates),
            Frame::Probe { .. } | Frame::Observed { .. } | Frame::Relay { .. } | Frame::Relayed { .. } => false,
        };
        if bad {
            return Err(RendezvousError::Malformed("too many addresses"));
        }
        Ok(())
    }
}

impl Signed {
    /// The session this request is about.
    pub fn session_id(&self) -> RendezvousId {
        id_of(&self.session)
    }

    /// Checks `sig` against the session's key, and the date against `now_ms` (the
    /// checker's UNIX time in ms).
    pub fn verify(&self, sig: &[[u8; 32]; 2], now_ms: u64) -> Result<(), RendezvousError> {
        let skew = now_ms.abs_diff(self.at_ms);
        if skew > MAX_CLOCK_SKEW.as_millis() as u64 {
            return Err(RendezvousError::Stale(skew));
        }
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&sig[0]);
        bytes[32..].copy_from_slice(&sig[1]);
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        let key = VerifyingKey::from_bytes(&self.session).map_err(|_| RendezvousError::BadSignature)?;
        key.verify_strict(&signed_bytes(self), &sig)
            .map_err(|_| RendezvousError::BadSignature)
    }
}

/// The bytes a request's signature covers: a domain tag and the request's encoding.
fn signed_bytes(signed: &Signed) -> Vec<u8> {
    let mut out = b"netcode rendezvous request v1".to_vec();
    // A request that encoded once encodes again; an empty body never verifies.
    let _ = bincode::serde::encode_into_std_write(signed, &mut out, config());
    out
}

/// What a decode may claim in memory: bincode bounds the memory containers claim (an
/// address claims its in-memory size, not its wire size); the wire size is bounded by
/// [`MAX_FRAME_BYTES`] before decoding.
const DECODE_LIMIT: usize = 64 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Refuses a request seen before, or older than one already accepted from the same peer
/// of the same session: each (session, peer) may only move forward in (date, nonce). It
/// keeps one entry per sender, and forgets a sender once its newest request is past any
/// date the clock window accepts (so what it forgets can no longer be replayed: it would
/// be refused as stale).
#[derive(Debug, Default)]
pub struct ReplayGuard {
    newest: HashMap<(RendezvousId, PeerId), (u64, u64)>,
}

impl ReplayGuard {
    /// Accepts `signed` if it is newer than anything accepted from its sender (after its
    /// signature and date were checked).
    pub fn admit(&mut self, signed: &Signed) -> Result<(), RendezvousError> {
        let key = (signed.session_id(), signed.peer);
        let this = (signed.at_ms, signed.nonce);
        match self.newest.get(&key) {
            Some(newest) if *newest >= this => Err(RendezvousError::Replayed),
            _ => {
                self.newest.insert(key, this);
                Ok(())
            }
        }
    }

    /// Forgets the senders whose newest request is older than twice the clock window.
    pub fn prune(&mut self, now_ms: u64) {
        let window = 2 * MAX_CLOCK_SKEW.as_millis() as u64;
        self.newest.retain(|_, (at, _)| at.saturating_add(window) >= now_ms);
    }

    /// Senders remembered now.
    pub fn len(&self) -> usize {
        self.newest.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn frames_round_trip_and_start_unlike_any_netcode_packet() {
        let signer = SessionSigner::new(&[7; 32]);
        let frame = signer.request(
            PeerId(3),
            1_000,
            9,
            Request::Join {
                addr: None,
                relay_token: 0,
                candidates: vec![addr("10.0.0.2:4000")],
            },
        );
        let bytes = frame.encode().unwrap();
        assert!(is_rendezvous(&bytes));
        assert_eq!(Frame::decode(&bytes).unwrap(), frame);
        // netcode's prefix byte: a packet type 0..=6 in the low nibble, at most 8 sequence
        // bytes in the high one.
        assert!(bytes[0] > 0x86);
        for n in 0..bytes.len() {
            assert!(Frame::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        assert_eq!(Frame::decode(&[0x11, 2, 3]), Err(RendezvousError::NotRendezvous));
    }

    #[test]
    fn a_request_verifies_for_its_session_only_and_only_once() {
        let signer = SessionSigner::new(&[7; 32]);
        let Frame::Signed { signed, sig } = signer.request(PeerId(3), 50_000, 1, Request::Leave) else {
            panic!("signed");
        };
        assert_eq!(signed.session_id(), signer.id());
        assert_eq!(signed.verify(&sig, 50_010), Ok(()));
        assert!(matches!(
            signed.verify(&sig, 50_000 + 31_000),
            Err(RendezvousError::Stale(_))
        ));
        let moved = Signed {
            peer: PeerId(4),
            ..signed.clone()
        };
        assert_eq!(moved.verify(&sig, 50_010), Err(RendezvousError::BadSignature));
        let stranger = SessionSigner::new(&[8; 32]);
        let other = Signed {
            session: stranger.public(),
            ..signed.clone()
        };
        assert_eq!(other.verify(&sig, 50_010), Err(RendezvousError::BadSignature));
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.admit(&signed), Ok(()));
        assert_eq!(guard.admit(&signed), Err(RendezvousError::Replayed));
        let older = Signed {
            at_ms: 49_000,
            nonce: 7,
            ..signed.clone()
        };
        assert_eq!(
            guard.admit(&older),
            Err(RendezvousError::Replayed),
            "older than the newest"
        );
        assert_eq!(
            guard.admit(&Signed {
                nonce: 2,
                ..signed.clone()
            }),
            Ok(())
        );
        // Forgotten only once anything it could still refuse is stale anyway.
        guard.prune(50_000 + 60_000);
        assert_eq!(guard.len(), 1);
        guard.prune(50_000 + 60_001);
        assert!(guard.is_empty());
    }

    #[test]
    fn bounds_are_enforced() {
        let signer = SessionSigner::new(&[7; 32]);
        let many = (0..9).map(|i| addr(&format!("10.0.0.{i}:4000"))).collect();
        let frame = signer.request(
            PeerId(3),
            1,
            1,
            Request::Register {
                addr: None,
                relay_token: 0,
                candidates: many,
            },
        );
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION);
        bincode::serde::encode_into_std_write(&frame, &mut bytes, config()).unwrap();
        assert_eq!(
            Frame::decode(&bytes),
            Err(RendezvousError::Malformed("too many addresses"))
        );
        let mut other_version = bytes.clone();
        other_version[4] = 1;
        assert_eq!(Frame::decode(&other_version), Err(RendezvousError::Version(1)));
    }

    #[test]
    fn relay_frames_are_told_apart_unread_and_carry_a_whole_netcode_packet() {
        let id = SessionSigner::new(&[7; 32]).id();
        let relay = Frame::Relay {
            session: id,
            from: PeerId(1),
            to: PeerId(2),
            token: u64::MAX,
            payload: vec![0x11; 1300],
        };
        let bytes = relay.encode().unwrap();
        assert!(is_relay(&bytes));
        assert!(bytes.len() <= MAX_RELAY_FRAME_BYTES);
        assert_eq!(Frame::decode(&bytes).unwrap(), relay);
        let relayed = Frame::Relayed {
            session: id,
            from: PeerId(1),
            payload: vec![1; 10],
        };
        assert!(!is_relay(&relayed.encode().unwrap()));
        assert!(!is_relay(&Frame::Probe { nonce: 5 }.encode().unwrap()));
        let too_big = Frame::Relay {
            session: id,
            from: PeerId(1),
            to: PeerId(2),
            token: 1,
            payload: vec![0; MAX_RELAY_FRAME_BYTES],
        };
        assert!(too_big.encode().is_err());
        // Only relay frames may be that large.
        let members = Frame::Members {
            session: id,
            observed: addr("10.0.0.2:4000"),
            members: (0..20)
                .map(|i| Listed {
                    peer: PeerId(i),
                    observed: addr("[2001:db8::1]:4000"),
                    addr: None,
                    candidates: vec![addr("[2001:db8::2]:4000"); 2],
                })
                .collect(),
        };
        assert!(members.encode().is_err());
    }

    /// Found by the `rendezvous_frame` fuzz target: a relay frame whose kind was written in
    /// bincode's three-byte form (`fb 05 00`) decoded, while `is_relay` said it was none.
    #[test]
    fn a_kind_in_a_longer_form_is_refused_so_is_relay_never_misses_a_relay_frame() {
        let bytes = [
            0xff, 0x4e, 0x43, 0x52, 0x02, 0xfb, 0x05, 0x00, 0xfb, 0xd2, 0xfb, 0xfb, 0x00, 0xff, 0x4e, 0x43, 0x52, 0x02,
            0xfb, 0x01, 0x00, 0xfb, 0xd2, 0xfb, 0xfb, 0x00, 0x02, 0x05, 0x0e, 0x02, 0x05, 0x0e,
        ];
        assert!(!is_relay(&bytes));
        assert_eq!(
            Frame::decode(&bytes),
            Err(RendezvousError::Malformed("kind not in its one-byte form"))
        );
        // Every frame an encoder writes has its kind in one byte.
        let id = SessionSigner::new(&[7; 32]).id();
        let relay = Frame::Relay {
            session: id,
            from: PeerId(1),
            to: PeerId(2),
            token: 9,
            payload: vec![1, 2],
        };
        assert_eq!(relay.encode().unwrap()[MAGIC.len() + 1], RELAY_TAG);
    }
}
