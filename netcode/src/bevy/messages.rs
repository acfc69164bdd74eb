//! The messages the plugin sends, and its error type.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bevy_ecs::prelude::*;
use bincode::error::{DecodeError, EncodeError};
use thiserror::Error;

use crate::config::ConfigError;
use crate::invite::InviteError;
use crate::protocol::Refusal;
use crate::transport::{JoinHint, TransportError};
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
/// [`super::NetStore`]'s calls. Every cause is kept typed: match on the variant, and on
/// the [`TransportError`] inside [`NetError::Network`].
#[derive(Message, Debug, Clone, Error)]
#[non_exhaustive]
pub enum NetError {
    /// Nobody let us in in time (see [`TransportError::JoinTimedOut`]).
    #[error(
        "no member of the session answered at {} within {secs} s: {hint}",
        crate::transport::list(addrs)
    )]
    JoinTimedOut {
        /// The addresses tried, in order.
        addrs: Vec<SocketAddr>,
        /// How long we tried.
        secs: u64,
        /// What the addresses tried tell about why, and what would help.
        hint: JoinHint,
    },
    /// A member refused us.
    #[error("the session refused us: {0}")]
    Refused(Refusal),
    /// The invite code does not decode (said only of a code: nothing else is reported
    /// as an invalid code).
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// The session refused a call of the driver (a seat whose secret does not match its
    /// id, a join with no contact): not a store write, which fails with [`NetError::Store`].
    #[error(transparent)]
    Session(SessionError),
    /// The network failed (the socket, a rendezvous service, the DHT, a STUN server, a
    /// saved seat): the transport's error, whole (shared, as an `io::Error` cannot be cloned).
    #[error(transparent)]
    Network(Arc<TransportError>),
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
    #[error("store value of {key:?} does not encode: {source}")]
    Encode {
        /// The entry.
        key: String,
        /// Why.
        source: Arc<EncodeError>,
    },
    /// An entry holds bytes that do not decode as the type asked for.
    #[error("store entry {key:?} does not decode as {ty}: {source}")]
    Decode {
        /// The entry.
        key: String,
        /// The type asked for (`std::any::type_name`).
        ty: &'static str,
        /// Why.
        source: Arc<DecodeError>,
    },
    /// No session: the game has not inserted a [`super::NetPeer`].
    #[error("no session")]
    NoSession,
    /// A configuration that cannot work: the peer's options (when it was made), or a
    /// [`super::NetConfig`] the game set (refused: the plugin keeps the last valid one).
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
}

impl From<TransportError> for NetError {
    /// Keeps the kind: a join that timed out, a refusal, a bad code and a session error
    /// have their own variants; every other failure is [`NetError::Network`], whole.
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::JoinTimedOut { addrs, secs, hint } => NetError::JoinTimedOut { addrs, secs, hint },
            TransportError::Refused(reason) => NetError::Refused(reason),
            TransportError::Invite(e) => NetError::Invite(e),
            TransportError::Session(SessionError::Config(e)) | TransportError::Config(e) => NetError::Config(e),
            TransportError::Session(e) => NetError::Session(e),
            other => NetError::Network(Arc::new(other)),
        }
    }
}

impl From<SessionError> for NetError {
    fn from(e: SessionError) -> Self {
        NetError::Store(e)
    }
}
