//! Snapshot replication. So far: how fields are quantised and bit-packed ([`quant`]) and
//! tick-numbered delta snapshots against each receiver's acknowledged baseline ([`delta`]).
//! Wiring them into the session (replacing the store's wire format), interpolation and the
//! replication API come next.

pub mod delta;
pub mod quant;
