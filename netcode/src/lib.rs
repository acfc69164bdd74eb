//! # netcode: peer-to-peer game sessions that survive their host
//!
//! A full mesh of [renet](https://docs.rs/renet) links (encrypted and authenticated by
//! renetcode) in which one peer holds the *host* role, and that role moves to a
//! survivor, by rule and with no pause a player notices, when the host crashes or leaves.
//!
//! The core is sans-IO: a [`Session`] takes time and datagrams and returns datagrams and
//! [`SessionEvent`]s. The deterministic [`sim`] network drives many sessions in one
//! process with a virtual clock and seeded faults.
//!
//! ## Quick start
//!
//! ```
//! use netcode::sim::{Sim, SimConfig};
//!
//! // Four peers on a simulated network; the host crashes; a survivor takes over.
//! let mut sim = Sim::new(SimConfig::default().peers(4).seed(7));
//! sim.run_for_secs(2.0);
//! let host = sim.consensus_host().expect("one host");
//! sim.crash_peer(host);
//! sim.run_for_secs(2.0);
//! let new_host = sim.consensus_host().expect("a new host");
//! assert_ne!(new_host, host);
//! assert_eq!(sim.live_peers().len(), 3);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "bevy"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// `docs/library.md`'s examples, compiled and run as doctests (the other files under `docs/`
/// hold no Rust blocks: their commands are `sh` and `text` blocks).
#[cfg(all(doctest, feature = "bevy"))]
#[doc = include_str!("../../docs/library.md")]
struct LibraryDoctests;

/// Declares a function public with the `test-util` feature (tests that play a misbehaving
/// peer and the fuzz targets reach the wire model through it) and crate-private without,
/// so that a game never sees it.
macro_rules! test_hook {
    ($(#[$m:meta])* fn $name:ident $($rest:tt)*) => {
        #[cfg(any(test, feature = "test-util"))]
        $(#[$m])*
        pub fn $name $($rest)*
        #[cfg(not(any(test, feature = "test-util")))]
        $(#[$m])*
        pub(crate) fn $name $($rest)*
    };
}
pub(crate) use test_hook;

#[cfg(feature = "bevy")]
pub mod bevy;
pub(crate) mod bounds;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conditions;
pub mod config;
pub mod dht;
pub mod identity;
pub mod invite;
pub(crate) mod key;
pub mod lan;
pub(crate) mod link;
mod log_tag;
pub(crate) mod loss;
pub mod portmap;
/// The wire model (messages, bounds, the heartbeat frame): public only with the `test-util`
/// feature, for tests that play a misbehaving peer and for the fuzz targets; a game never
/// sees it (what it needs is re-exported: [`Refusal`] and the bounds in [`limits`]).
#[cfg(any(test, feature = "test-util"))]
pub mod protocol;
#[cfg(not(any(test, feature = "test-util")))]
pub(crate) mod protocol;
pub mod reach;
pub mod rendezvous;
pub mod roster;
pub mod session;
pub mod sim;
pub mod snapshot;
pub mod store;
pub mod stun;
pub mod transport;
pub mod traversal;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The DHT's sealed values and their keys, for the fuzz targets (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod dht_values {
    pub use crate::dht::keys::DhtKeys;
    pub use crate::dht::record::{
        ItemKind, Knock, MAX_PLAIN, MemberRecord, NONCE_BYTES, OpenError, SessionRecord, seal_plain,
    };
}

pub use config::{ConfigError, SessionConfig};
pub use link::{Channel, Transmit};
pub use log_tag::LogTag;
pub use protocol::Refusal;

/// The protocol's bounds a game meets: names, store keys and values, members, and the
/// store's capacities (a write past them fails with a typed error).
pub mod limits {
    pub use crate::bounds::{
        Capacity, MAX_GAME_MESSAGE_BYTES, MAX_KEY_BYTES, MAX_MEMBERS, MAX_NAME_BYTES, MAX_STORE_ENTRIES,
        MAX_VALUE_BYTES, OWN_CAPACITY, ProtocolError, SHARED_CAPACITY, STORE_CAPACITY,
    };
}
pub use reach::{DirectPath, Link, Relayer};
/// What a test peer's heartbeats say of whom it hears (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub use session::Testimony;
pub use session::{
    Credentials, EntryForgery, EventRecord, GameMessage, JoinPhase, LeaveReason, Malformed, MessageError, Misbehaviour,
    PeerSetup, RosterForgery, Session, SessionError, SessionEvent, SessionKey, SessionStats, Target,
};
pub use store::{Scope, Store};

/// A peer's identity: random, 64-bit, kept across rejoins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
