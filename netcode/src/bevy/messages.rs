//! The messages the plugin sends, and its error type.

use std::time::Duration;

use bevy_ecs::prelude::*;
use thiserror::Error;

use crate::protocol::Refusal;
use crate::transport::TransportError;
use crate::{LeaveReason, Link, PeerId, Scope, SessionError, SessionEvent};

/// This peer is in the session: the host accepted it, or it created the session.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfJoined {
    /// Our id (the old one after a rejoin).
    pub peer: PeerId,
    /// Whether we took a held seat back.
    pub rejoined: bool,
}

/// Another peer joined the session.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerJoined {
    /// The newcomer.
    pub peer: PeerId,
}

/// A member dropped; its seat (and its last state) is held for the rejoin grace period.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAway {
    /// The member.
    pub peer: PeerId,
}

/// A dropped member took its seat back.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRejoined {
    /// The member.
    pub peer: PeerId,
}

/// A member left the roster (its [`super::NetRemote`] entities are despawned).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLeft {
    /// The member.
    pub peer: PeerId,
    /// Goodbye, seat released, or expelled.
    pub reason: LeaveReason,
}

/// The host changed (migration, handover or partition merge).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChanged {
    /// The host before.
    pub old: PeerId,
    /// The host now.
    pub new: PeerId,
    /// The new host's epoch.
    pub epoch: u64,
    /// How long the old host had been silent when the change arrived here (zero when
    /// unknown, or when the old host was this peer).
    pub pause: Duration,
}

/// How this peer reaches another changed.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkChanged {
    /// The peer.
    pub peer: PeerId,
    /// Direct (lan, internet, mapped), relayed (by a member, by a service) or down.
    pub link: Link,
}

/// A store entry changed, here or from the network (read it with [`super::NetStore`]).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct StoreChanged {
    /// Shared, or whose.
    pub scope: Scope,
    /// The entry's key.
    pub key: String,
}

/// Every [`SessionEvent`] as it came (refusals, misbehaving peers, our own completed
/// leave, and those the other messages already report).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct NetEvent(pub SessionEvent);

/// What went wrong, as a message (sent once per distinct failure) and as the error of
/// [`super::NetStore`]'s calls.
#[derive(Message, Debug, Clone, PartialEq, Eq, Error)]
pub enum NetError {
    /// Nobody let us in in time.
    #[error("{0}")]
    JoinTimedOut(String),
    /// A member refused us.
    #[error("the session refused us: {0}")]
    Refused(Refusal),
    /// The network failed (the socket, a rendezvous service).
    #[error("{0}")]
    Network(String),
    /// The host's game registers other replicated components than ours: we left.
    #[error(
        "this game replicates other components than the host's (schema {ours:016x}, the host's {theirs:016x}): \
         are both running the same version?"
    )]
    SchemaMismatch {
        /// Our schema's fingerprint.
        ours: u64,
        /// The host's.
        theirs: u64,
    },
    /// The session refused a store write.
    #[error("store: {0}")]
    Store(SessionError),
    /// A key the plugin keeps for itself (it starts with `netcode.`).
    #[error("store key {0:?} is reserved for the plugin")]
    ReservedKey(String),
    /// A value does not encode.
    #[error("store value of {key:?} does not encode: {why}")]
    Encode {
        /// The entry.
        key: String,
        /// Why.
        why: String,
    },
    /// An entry holds bytes that do not decode as the type asked for.
    #[error("store entry {key:?} does not decode as {ty}: {why}")]
    Decode {
        /// The entry.
        key: String,
        /// The type asked for (`std::any::type_name`).
        ty: &'static str,
        /// Why.
        why: String,
    },
    /// No session: the game has not inserted a [`super::NetPeer`].
    #[error("no session")]
    NoSession,
}

impl From<TransportError> for NetError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::JoinTimedOut { .. } => NetError::JoinTimedOut(e.to_string()),
            TransportError::Refused(reason) => NetError::Refused(reason),
            TransportError::Session(e) => NetError::Store(e),
            other => NetError::Network(other.to_string()),
        }
    }
}

impl From<SessionError> for NetError {
    fn from(e: SessionError) -> Self {
        NetError::Store(e)
    }
}
