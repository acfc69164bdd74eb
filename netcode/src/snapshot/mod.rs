//! Snapshot replication. So far: how fields are quantised and bit-packed ([`quant`]) and
//! tick-numbered delta snapshots against each receiver's acknowledged baseline ([`delta`]),
//! and the interpolation buffer remote entities are rendered from ([`interp`]). Wiring them
//! into the session (replacing the store's wire format) and the replication API come next.

pub mod delta;
pub mod flat;
pub mod interp;
pub mod quant;
pub(crate) mod replicate;

pub use replicate::ReplicationStats;
