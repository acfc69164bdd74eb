//! Snapshot replication: how fields are quantised and bit-packed ([`quant`]), tick-numbered
//! delta snapshots against each receiver's acknowledged baseline ([`delta`]), the
//! interpolation buffer remote entities are rendered from ([`interp`]), the serde codec
//! that flattens a game's components to fields ([`flat`]), and the per-peer streams the
//! session sends on its heartbeats (`replicate`).

pub mod delta;
pub mod flat;
pub mod interp;
pub mod quant;
pub(crate) mod replicate;

pub use replicate::ReplicationStats;

/// Snapshot ticks per second unless a game says otherwise: a snapshot's tick counts these
/// since its sender started, and receivers time their interpolation by it (the Bevy
/// plugin's default `tick_hz`, the `peer` example's and the simulator's arena scene's rate).
pub const DEFAULT_TICK_HZ: f64 = 60.0;
