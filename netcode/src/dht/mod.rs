//! Session discovery on the BitTorrent Mainline DHT (issue 24): sealed session records and
//! joiners' knocks stored as BEP44 mutable items, keyed from the session key.
//!
//! The logic that decides what to publish and when is sans-IO; it speaks to the DHT client
//! (its own socket and thread, see `docs/design.md`) through [`item::DhtRequest`] and
//! [`item::DhtReply`] only.

mod check;
pub mod client;
#[cfg(test)]
mod fake;
pub(crate) mod find;
pub(crate) mod item;
pub(crate) mod keys;
pub(crate) mod knocks;
pub(crate) mod publish;
pub(crate) mod record;
#[cfg(test)]
mod scenarios;
#[cfg(any(test, feature = "test-util"))]
pub mod testnet;

pub use check::DhtReport;
pub(crate) use check::check;
pub use client::{DhtClient, DhtConfig, DhtError, DhtStats, PUBLIC_BOOTSTRAP};
