//! Snapshot replication. So far: how fields are quantised and bit-packed ([`quant`]); the
//! delta snapshots that replace the store's wire format build on it.

pub mod quant;
