//! The session's public types: how peers are reached, what it reports, its errors, a
//! seat's credentials, its counters and a peer's setup.

use std::net::SocketAddr;

use rand::rngs::StdRng;
use thiserror::Error;

use super::{Misbehaviour, fresh_identity};
use crate::PeerId;
use crate::config::{ConfigError, SessionConfig};
use crate::identity::SeatKey;
use crate::key::SessionKey;
use crate::protocol::Refusal;
use crate::reach::Link;
use crate::store::{Limit, Scope};

/// Why a peer left the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveReason {
    /// It said goodbye.
    Graceful,
    /// Its seat was held for the grace period and released.
    Expired,
    /// It misbehaved and was expelled.
    Expelled,
}

/// Where a join stands before the session admits it, in the order a join goes through
/// them (a step that is not needed is skipped): what the player waits for. A driver that
/// runs the steps before admission (the UDP [`crate::transport::Peer`]) reports each as a
/// [`SessionEvent::JoinProgress`] and through `Peer::join_phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum JoinPhase {
    /// Asking the home router to map the game port (PCP, NAT-PMP, UPnP-IGD).
    Mapping,
    /// Asking where the internet sees this peer (a rendezvous service, STUN servers).
    AskingStun,
    /// Asking the rendezvous services for the session's members.
    LookingUp,
    /// Punching through the routers towards the members listed.
    Punching,
    /// Asking a member to let us in, and receiving the session's state.
    Admitting,
}

impl JoinPhase {
    /// The phase as one word, for JSON lines and logs.
    pub fn word(self) -> &'static str {
        match self {
            JoinPhase::Mapping => "mapping",
            JoinPhase::AskingStun => "asking_stun",
            JoinPhase::LookingUp => "looking_up",
            JoinPhase::Punching => "punching",
            JoinPhase::Admitting => "admitting",
        }
    }
}

impl std::fmt::Display for JoinPhase {
    /// What the player is waiting for, in a player's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinPhase::Mapping => "asking your router to open a port",
            JoinPhase::AskingStun => "asking where the internet sees you",
            JoinPhase::LookingUp => "looking up the players of this game",
            JoinPhase::Punching => "punching through your router",
            JoinPhase::Admitting => "asking the players to let you in",
        })
    }
}

/// What a session reports to the game.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// This peer is in the session.
    Joined {
        /// Our id (the old one after a rejoin).
        peer: PeerId,
        /// Whether we took an old seat back.
        rejoined: bool,
    },
    /// This peer's join or rejoin was refused.
    JoinRefused(Refusal),
    /// A new member joined.
    PeerJoined {
        /// The newcomer.
        peer: PeerId,
    },
    /// A member dropped; its seat is held.
    PeerAway {
        /// The member.
        peer: PeerId,
    },
    /// A dropped member took its seat back.
    PeerRejoined {
        /// The member.
        peer: PeerId,
    },
    /// A member left the roster.
    PeerLeft {
        /// The member.
        peer: PeerId,
        /// Goodbye, seat released, or expelled.
        reason: LeaveReason,
    },
    /// The host changed (migration, handover or partition merge).
    HostChanged {
        /// The host before.
        old: PeerId,
        /// The host now.
        new: PeerId,
        /// The new host's epoch.
        epoch: u64,
    },
    /// How we reach a peer changed (its state, or the path under it).
    LinkChanged {
        /// The peer.
        peer: PeerId,
        /// Direct (lan, internet, mapped), relayed (by a member, by a service) or down.
        link: Link,
    },
    /// A store entry changed (locally or from the network).
    StoreChanged {
        /// Shared, or whose.
        scope: Scope,
        /// The entry's key.
        key: String,
    },
    /// A peer sent something no honest peer sends; its link was dropped.
    PeerMisbehaved {
        /// The offender.
        peer: PeerId,
        /// What it did.
        reason: Misbehaviour,
    },
    /// This peer's graceful leave completed.
    Left,
    /// A join moved on to this phase (reported by the driver that runs the steps before
    /// admission: see [`JoinPhase`]).
    JoinProgress(JoinPhase),
}

/// Errors of the session API.
#[derive(Debug, Clone, Error, PartialEq)]
#[non_exhaustive]
pub enum SessionError {
    /// Only the host writes shared entries.
    #[error("only the host writes shared entries")]
    NotHost,
    /// Entries of another peer are that peer's to write.
    #[error("only a peer writes its own entries")]
    NotOwner,
    /// The session is not joined (yet, or any more).
    #[error("not in a session")]
    NotInSession,
    /// A key or value breaks the protocol's bounds.
    #[error("entry too large: {0}")]
    TooLarge(&'static str),
    /// The write would take a scope, or the whole store, past its capacity
    /// (`limits::SHARED_CAPACITY`, `OWN_CAPACITY`, `STORE_CAPACITY`): nothing was written.
    /// Overwriting an entry with a value no larger, or deleting one, still works.
    #[error("store full: the write would take {0} past its capacity")]
    StoreFull(Limit),
    /// No contact address was given.
    #[error("no contact address to join through")]
    NoContact,
    /// The credentials' secret does not own their peer id (a damaged seat file).
    #[error("the seat's secret does not match its peer id")]
    SeatMismatch,
    /// The session's configuration cannot work (checked once, when the session is made).
    #[error("invalid session configuration: {0}")]
    Config(#[from] ConfigError),
}

/// What a peer needs to take its seat back after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    /// The identity to reclaim.
    pub peer: PeerId,
    /// The secret generated when the seat was made; the seat's signing key derives from
    /// it (and the peer id from that key). It never leaves the peer.
    pub secret: [u8; 32],
}

impl Credentials {
    /// A new seat's identity and secret, from the operating system's randomness (what
    /// [`super::Session::host`] and [`super::Session::join`] draw).
    pub fn generate() -> Credentials {
        Self::draw(&mut rand::make_rng())
    }

    /// A new seat drawn from `rng`: the simulator's, seeded, for reproducible runs.
    pub(crate) fn draw(rng: &mut StdRng) -> Credentials {
        let (peer, secret) = fresh_identity(rng);
        Credentials { peer, secret }
    }

    /// Checks that the secret owns the peer id.
    pub fn check(&self) -> Result<(), SessionError> {
        if SeatKey::from_secret(&self.secret).peer() == self.peer {
            Ok(())
        } else {
            Err(SessionError::SeatMismatch)
        }
    }
}

/// Counters a session keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Datagram bytes sent.
    pub bytes_sent: u64,
    /// Datagram bytes received.
    pub bytes_received: u64,
    /// Messages rejected as malformed or impossible.
    pub rejected_messages: u64,
    /// Messages relayed for other peers.
    pub relayed_messages: u64,
    /// Messages dropped unread because their sender went over the rate limit.
    pub rate_limited: u64,
    /// Rosters refused because they claim an older host epoch than ours (answered with
    /// ours: a peer back from a partition may honestly hold one).
    pub stale_claims: u64,
    /// Store entries refused by the authority rules: a seal that does not hold or an own
    /// entry sealed by another peer (its sender dropped), or a shared entry sealed by no
    /// host we accept now (see `docs/design.md`, "Authority").
    pub refused_entries: u64,
    /// Heartbeats too large for one datagram, sent through renet's slicing channel
    /// instead (0 while the snapshot budgets fit the datagram, see `SessionConfig`).
    pub sliced_heartbeats: u64,
    /// Relayed messages refused though their signature held: replayed, sent to an
    /// earlier incarnation of either side, or from an origin not in our roster yet.
    /// (A forward whose signature does not hold gets its relay dropped, and counts in
    /// `rejected_messages`.)
    pub refused_forwards: u64,
    /// Rosters refused because no signature we can check vouches for them: a handover
    /// signed by a host we never followed (its successor's own copy follows). A roster
    /// whose signature does not hold gets its sender dropped instead.
    pub refused_rosters: u64,
    /// Links closed because their first message did not prove the seat they claimed
    /// (the seat itself is not blamed: anyone can claim an id).
    pub refused_links: u64,
    /// Messages this peer could not send: one that did not encode (none can: every
    /// message is bounded under the wire limit, a store travels in pieces) or that a link
    /// would not take (its channel full). 0 in every test; a test at store capacity checks it.
    pub unsent_messages: u64,
    /// Store pieces sent (whole stores in transfer: welcomes, syncs), and pieces received.
    pub store_pieces_sent: u64,
    /// Store pieces received (see `store_pieces_sent`).
    pub store_pieces_received: u64,
    /// Reliable game messages to the host sent again to the next host, because the one
    /// they went to lost the role before acknowledging them (`Session::send_message`).
    pub messages_resent: u64,
    /// Game messages dropped here: received ones the game did not take in time (over
    /// `MAX_INBOX`), and messages to the host no longer kept for a next host (over
    /// `MAX_UNACKED`).
    pub messages_dropped: u64,
}

/// How one peer takes part: its tuning, its display name, its listen address, the session.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// Session tuning.
    pub config: SessionConfig,
    /// Display name (cut to [`crate::protocol::MAX_NAME_BYTES`]).
    pub name: String,
    /// The address this peer listens on (what other peers dial).
    pub addr: SocketAddr,
    /// The session's id and key.
    pub session: SessionKey,
    /// Public addresses of members, as (session address, public address): from an invite
    /// code's public addresses of its first member ([`crate::invite::Invite::public`]).
    /// A dial to such a member goes to its public address first. Usually empty.
    pub public: Vec<(SocketAddr, SocketAddr)>,
}
