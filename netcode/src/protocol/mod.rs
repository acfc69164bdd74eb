//! Wire messages exchanged between peers, and their hostile-input-safe codec.
//!
//! Every message is bincode 2 (serde) with a hard size limit on decode, trailing bytes
//! rejected, and a semantic validation pass ([`Message::validate`]) that bounds every
//! string and collection. A decoder never panics on any input. Heartbeats, which travel
//! beside renet once per link and send tick, have a compact frame of their own
//! ([`Message::encode_heartbeat`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod candidates;
mod datagram;
mod relayed;

pub use candidates::{Candidate, CandidateKind, Candidates, MAX_ANNOUNCED};

use crate::PeerId;
use crate::identity::{PublicKey, SeatProof, Signature};
use crate::roster::{Roster, RosterDigest};
use crate::store::{Entry, Scope, Store};

pub use crate::bounds::{
    MAX_GAME_ACKS, MAX_GAME_MESSAGE_BYTES, MAX_HOPS, MAX_KEY_BYTES, MAX_MEMBERS, MAX_MESSAGE_BYTES, MAX_NAME_BYTES,
    MAX_SNAPSHOT_BYTES, MAX_VALUE_BYTES, ProtocolError, STORE_PIECE_BYTES,
};
pub(crate) use crate::bounds::{check, check_name};

/// Why a join or rejoin was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum Refusal {
    /// The rejoin secret does not match the seat's.
    #[error("wrong rejoin secret")]
    WrongSecret,
    /// The seat was released (grace period over) or never existed.
    #[error("no seat is held for this peer")]
    NoSeat,
    /// Another live member already uses this peer id.
    #[error("peer id already in use")]
    IdTaken,
    /// The session is full.
    #[error("session is full")]
    Full,
    /// The request was malformed.
    #[error("malformed request")]
    Malformed,
    /// This peer was expelled for misbehaving.
    #[error("expelled from the session")]
    Expelled,
    /// The seat proof is too old, dated in the future, or older than the one the seat was
    /// last admitted with (a replay).
    #[error("stale seat proof (check the clock)")]
    StaleProof,
}

/// An acknowledged snapshot tick, by its low 16 bits: two bytes on the wire where a full
/// tick would take three to five. The sender resolves it against the few snapshots it
/// still keeps, which span far fewer than 65 536 ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickAck([u8; 2]);

impl TickAck {
    /// The acknowledgement of `tick`.
    pub fn of(tick: u32) -> Self {
        TickAck((tick as u16).to_le_bytes())
    }

    /// Whether this acknowledges `tick`.
    pub fn matches(self, tick: u32) -> bool {
        self == TickAck::of(tick)
    }
}

/// A message between two peers. (Fields are described with each variant.)
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// First message on every member link: who I am, proven with my seat's key (whose
    /// hash is my id) by a signature naming both ends of the link
    /// ([`crate::identity::Statement::Hello`]). Until it arrives nothing else on the link
    /// is taken in but a join or rejoin request, which carries a proof of its own.
    Hello {
        peer: PeerId,
        key: PublicKey,
        sig: Signature,
    },
    /// Sent at the send rate to every linked peer: liveness evidence and, riding on it,
    /// the snapshot streams (the sender's own entities, the shared ones when it hosts, and
    /// its acknowledgements of our two streams).
    Heartbeat {
        /// The sender's view of the roster (every few heartbeats, and after each change).
        digest: Option<RosterDigest>,
        /// Members the sender has not heard directly within its suspicion window.
        suspects: Vec<PeerId>,
        /// Newest ticks the sender decoded of our own and shared streams.
        acks: [Option<TickAck>; 2],
        /// How long the own-stream snapshot acknowledged in `acks[0]` waited at the sender
        /// before this heartbeat, in ms (at most 255): what a round trip measured from that
        /// ack must not count.
        held_ms: u8,
        /// The sender's own stream, delta-encoded for us.
        own: Option<Vec<u8>>,
        /// The shared stream (only from the host), delta-encoded for us.
        shared: Option<Vec<u8>>,
    },
    /// The host's whole shared stream, sent reliably (renet splits it when large) to a
    /// peer it has no acknowledged baseline with: a late joiner, or everyone after a
    /// migration. Deltas follow once it is acknowledged.
    FullShared { snapshot: Vec<u8> },
    /// A newcomer asks its contact to be admitted: its seat's public key and a proof,
    /// signed with that key, of the seat and the address it listens on.
    Join {
        name: String,
        key: PublicKey,
        proof: SeatProof,
    },
    /// A restarted peer asks its contact for its old seat back, proving it holds the seat's
    /// key (the secret itself never leaves the peer), with the replica it still holds.
    Rejoin {
        name: String,
        key: PublicKey,
        proof: SeatProof,
        store: Store,
    },
    /// A contact asks the host to admit a newcomer or rejoiner, passing its proof on
    /// unchanged: the host checks it again.
    Admit {
        name: String,
        key: PublicKey,
        proof: SeatProof,
        rejoin: bool,
        store: Store,
    },
    /// The host's answer to an [`Message::Admit`].
    Admitted {
        peer: PeerId,
        result: Result<(), Refusal>,
        roster: Roster,
        store: Store,
    },
    /// The contact welcomes an admitted newcomer with the session's state: the roster, the
    /// first piece of the store (the newcomer's own entries first) and how many
    /// [`Message::StorePiece`]s follow on the same ordered channel.
    Welcome { roster: Roster, store: Store, more: u32 },
    /// The contact refuses a newcomer.
    Refused { reason: Refusal },
    /// The full roster, pushed by whoever holds a better one.
    Roster(Roster),
    /// A piece of a store (at most `STORE_PIECE_BYTES`: a whole store travels as several),
    /// merged entry by entry (last writer wins by version; seals checked).
    StoreSync(Store),
    /// Asks the host for its whole store (a member that dropped entries no host vouches
    /// for after a merge of split sessions).
    StoreRequest,
    /// One store write.
    Update { scope: Scope, key: String, entry: Entry },
    /// The sender leaves the session gracefully.
    Leave,
    /// A message relayed on behalf of `origin` towards `dest`, signed by `origin`'s seat
    /// key over everything but `ttl` ([`crate::identity::Statement::Relayed`]): a relay can
    /// drop or delay it, never forge or alter it. `seq` counts `origin`'s forwards to
    /// `dest`; `incarnations` are `origin`'s and `dest`'s as `origin` knew them, so that a
    /// forward cannot be replayed to either side's next incarnation.
    Forward {
        origin: PeerId,
        dest: PeerId,
        ttl: u8,
        seq: u64,
        reliable: bool,
        incarnations: [u32; 2],
        inner: Vec<u8>,
        sig: Signature,
    },
    /// A piece of the store that follows a [`Message::Welcome`] (its `more` counts them),
    /// merged like a [`Message::StoreSync`]; the newcomer is in once the last one arrived.
    StorePiece(Store),
    /// The sender's candidate addresses and NAT mapping behaviour (the session is the
    /// signalling channel of NAT traversal). Taken only as the sender's own: from its
    /// proven link, or in a forward it signed; a relay cannot plant another's.
    Candidates(Candidates),
    /// A game's own message (`docs/design.md`, "Game messages"): `kind` is the game's
    /// registered type number, `bytes` its encoding (at most [`MAX_GAME_MESSAGE_BYTES`]).
    /// `seq` is set on a reliable message to the host: the receiver acknowledges it with a
    /// [`Message::GameAck`], and the sender sends it again to the next host until one does.
    Game {
        kind: u16,
        seq: Option<u64>,
        bytes: Vec<u8>,
    },
    /// The receiver of [`Message::Game`]s with a `seq` acknowledges them (at most
    /// [`MAX_GAME_ACKS`] in one).
    GameAck { seqs: Vec<u64> },
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>()
}

impl Message {
    /// Encodes the message.
    pub fn encode(&self) -> Result<Vec<u8>, ProtocolError> {
        Ok(bincode::serde::encode_to_vec(self, config())?)
    }

    /// Decodes and validates a message from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtocolError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(ProtocolError::Invalid("message too large"));
        }
        let (msg, used): (Message, usize) = bincode::serde::decode_from_slice(bytes, config())?;
        if used != bytes.len() {
            return Err(ProtocolError::Trailing(bytes.len() - used));
        }
        msg.validate()?;
        Ok(msg)
    }

    /// Checks every bound a well-behaved peer respects.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        match self {
            Message::Hello { .. } | Message::Leave | Message::Refused { .. } | Message::StoreRequest => Ok(()),
            Message::Heartbeat {
                suspects, own, shared, ..
            } => {
                check(suspects.len() <= MAX_MEMBERS, "too many suspects")?;
                check(
                    own.as_ref().is_none_or(|b| b.len() <= MAX_SNAPSHOT_BYTES)
                        && shared.as_ref().is_none_or(|b| b.len() <= MAX_SNAPSHOT_BYTES),
                    "snapshot too large",
                )
            }
            Message::FullShared { snapshot } => check(snapshot.len() <= MAX_SNAPSHOT_BYTES, "snapshot too large"),
            Message::Join { name, .. } => check_name(name),
            Message::Rejoin { name, store, .. } => {
                check_name(name)?;
                store.validate()
            }
            Message::Admit { name, store, .. } => {
                check_name(name)?;
                store.validate()
            }
            Message::Admitted { roster, store, .. } => {
                roster.validate()?;
                store.validate()
            }
            Message::Welcome { roster, store, .. } => {
                roster.validate()?;
                store.validate()
            }
            Message::Roster(roster) => roster.validate(),
            Message::StoreSync(store) | Message::StorePiece(store) => store.validate(),
            Message::Update { key, entry, .. } => {
                check(key.len() <= MAX_KEY_BYTES, "key too long")?;
                check(
                    entry.value.as_ref().is_none_or(|v| v.len() <= MAX_VALUE_BYTES),
                    "value too large",
                )
            }
            Message::Candidates(c) => c.validate(),
            Message::Game { bytes, .. } => check(bytes.len() <= MAX_GAME_MESSAGE_BYTES, "game message too large"),
            Message::GameAck { seqs } => check(seqs.len() <= MAX_GAME_ACKS, "too many acknowledgements"),
            Message::Forward { ttl, inner, .. } => {
                check(*ttl <= MAX_HOPS, "too many hops")?;
                check(inner.len() <= MAX_MESSAGE_BYTES, "forwarded message too large")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_garbage() {
        let m = Message::Heartbeat {
            digest: Some(RosterDigest::default()),
            suspects: vec![PeerId(7)],
            acks: [Some(TickAck::of(3)), None],
            held_ms: 7,
            own: Some(vec![1, 2, 3]),
            shared: None,
        };
        let bytes = m.encode().unwrap();
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        // Trailing bytes are refused.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(Message::decode(&longer), Err(ProtocolError::Trailing(1))));
        // Every prefix is an error, never a panic.
        for n in 0..bytes.len() {
            assert!(Message::decode(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn huge_length_prefix_is_refused_without_allocating() {
        // Variant 3 (Join) with a name claiming 2^60 bytes.
        let bytes = [3u8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x10];
        assert!(Message::decode(&bytes).is_err());
    }
}
