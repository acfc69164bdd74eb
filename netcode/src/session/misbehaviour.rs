//! What a peer did that no honest peer does: the typed cause of
//! [`SessionEvent::PeerMisbehaved`](super::SessionEvent::PeerMisbehaved).

use thiserror::Error;

use crate::PeerId;
use crate::bounds::ProtocolError;

/// Why a peer was dropped as misbehaving. Its `Display` is the sentence a log line says.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// It sent bytes that are no message, or a message past the protocol's bounds.
    #[error("sent {0}")]
    Malformed(Malformed),
    /// A message relayed from it does not decode (its own signature vouches for the bytes).
    #[error("relayed {0}")]
    RelayedMalformed(Malformed),
    /// It sent more messages than the flood limit allows for longer than allowed.
    #[error("flooded us with messages")]
    Flooded,
    /// It claimed a host epoch further past every epoch we saw than elections could take it.
    #[error("claimed host epoch {claimed} (ours {ours})")]
    ImplausibleEpoch {
        /// The epoch it claimed.
        claimed: u64,
        /// Ours when it claimed it.
        ours: u64,
    },
    /// It passed on a roster no host wrote.
    #[error("sent {0}")]
    ForgedRoster(RosterForgery),
    /// It passed on a join request with a seat proof that does not hold.
    #[error("passed on a forged seat proof for {peer}")]
    ForgedSeatProof {
        /// Whose seat the proof claims.
        peer: PeerId,
    },
    /// It relayed a message its origin did not sign.
    #[error("relayed a message {origin} did not sign")]
    UnsignedForward {
        /// The origin it named.
        origin: PeerId,
    },
    /// A forward from it carried a message that only travels on a direct link.
    #[error("forwarded a link-local message")]
    ForwardedLinkLocal,
    /// A forward inside a forward.
    #[error("sent a nested forward")]
    NestedForward,
    /// On a proven link, a hello that does not hold or names another peer.
    #[error("said hello as {claimed}")]
    ForgedHello {
        /// The peer the hello names.
        claimed: PeerId,
    },
    /// It wrote an entry in another peer's own scope.
    #[error("wrote an entry of {owner}")]
    WroteAnothersEntry {
        /// The owner of the scope.
        owner: PeerId,
    },
    /// It passed on a store entry no honest peer sends.
    #[error("sent {forgery} ({key:?})")]
    ForgedEntry {
        /// What is wrong with it.
        forgery: EntryForgery,
        /// The entry's key.
        key: String,
    },
}

/// What a malformed message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Malformed {
    /// Bytes that do not decode as a message.
    #[error("an undecodable message")]
    Undecodable,
    /// A message followed by bytes.
    #[error("a message with {bytes} trailing bytes")]
    Trailing {
        /// How many bytes followed it.
        bytes: usize,
    },
    /// A message that decodes but breaks a bound of the protocol.
    #[error("an invalid message: {0}")]
    Invalid(&'static str),
}

impl From<&ProtocolError> for Malformed {
    fn from(e: &ProtocolError) -> Self {
        match e {
            ProtocolError::Trailing(bytes) => Malformed::Trailing { bytes: *bytes },
            ProtocolError::Invalid(what) => Malformed::Invalid(what),
            _ => Malformed::Undecodable,
        }
    }
}

/// What is wrong with a forged roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RosterForgery {
    /// The roster does not list its own host.
    #[error("a roster without its host")]
    NoHost,
    /// The host's listed key does not own the host's id.
    #[error("a roster whose host key does not own its id")]
    HostKeyNotOwned,
    /// Its host did not sign it.
    #[error("a roster its host did not sign")]
    Unsigned,
    /// A handover from the host we follow, not signed by that host.
    #[error("a handover our host did not sign")]
    UnsignedHandover,
}

/// What is wrong with a forged store entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EntryForgery {
    /// Its seal does not hold.
    #[error("an entry whose seal does not hold")]
    BadSeal,
    /// An entry of another peer's own scope, sealed by someone else.
    #[error("an entry of another peer")]
    AnothersEntry,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_reads_as_a_sentence_and_keeps_its_fields() {
        let m = Misbehaviour::ImplausibleEpoch { claimed: 90, ours: 3 };
        assert_eq!(m.to_string(), "claimed host epoch 90 (ours 3)");
        let m = Misbehaviour::Malformed(Malformed::from(&ProtocolError::Trailing(4)));
        assert_eq!(m, Misbehaviour::Malformed(Malformed::Trailing { bytes: 4 }));
        assert_eq!(m.to_string(), "sent a message with 4 trailing bytes");
        let m = Misbehaviour::ForgedEntry {
            forgery: EntryForgery::BadSeal,
            key: "score".into(),
        };
        assert_eq!(m.to_string(), "sent an entry whose seal does not hold (\"score\")");
    }
}
