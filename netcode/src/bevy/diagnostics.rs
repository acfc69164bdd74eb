//! Bevy diagnostics of the network figures (feature `bevy_diagnostic`).

use bevy_app::{App, PreUpdate};
use bevy_diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy_ecs::prelude::*;

use super::stats::refresh_stats;
use super::{NetPeer, NetStats, Step};

/// Bevy diagnostics the plugin records every frame from [`NetStats`] (feature
/// `bevy_diagnostic`; add `DiagnosticsPlugin`, or use `DefaultPlugins`, to keep them).
#[derive(Debug, Clone, Copy)]
pub struct NetDiagnostics;

impl NetDiagnostics {
    /// Mean round-trip time over the linked peers, in milliseconds.
    pub const RTT_MS: DiagnosticPath = DiagnosticPath::const_new("netcode/rtt_ms");
    /// Mean packet loss over the linked peers, in percent.
    pub const LOSS_PCT: DiagnosticPath = DiagnosticPath::const_new("netcode/loss_pct");
    /// Bytes per second sent.
    pub const BYTES_UP: DiagnosticPath = DiagnosticPath::const_new("netcode/bytes_up_per_sec");
    /// Bytes per second received.
    pub const BYTES_DOWN: DiagnosticPath = DiagnosticPath::const_new("netcode/bytes_down_per_sec");
    /// Other members in the roster.
    pub const PEERS: DiagnosticPath = DiagnosticPath::const_new("netcode/peers");
}

pub(super) fn register(app: &mut App) {
    app.register_diagnostic(Diagnostic::new(NetDiagnostics::RTT_MS).with_suffix("ms"))
        .register_diagnostic(Diagnostic::new(NetDiagnostics::LOSS_PCT).with_suffix("%"))
        .register_diagnostic(Diagnostic::new(NetDiagnostics::BYTES_UP).with_suffix("B/s"))
        .register_diagnostic(Diagnostic::new(NetDiagnostics::BYTES_DOWN).with_suffix("B/s"))
        .register_diagnostic(Diagnostic::new(NetDiagnostics::PEERS))
        .add_systems(
            PreUpdate,
            measure
                .after(refresh_stats)
                .in_set(Step::Poll)
                .run_if(resource_exists::<NetPeer>),
        );
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

fn measure(stats: Res<NetStats>, mut diagnostics: Diagnostics) {
    diagnostics.add_measurement(&NetDiagnostics::RTT_MS, || {
        mean(
            stats
                .peers
                .iter()
                .filter_map(|p| p.rtt)
                .map(|r| r.as_secs_f64() * 1000.0),
        )
    });
    diagnostics.add_measurement(&NetDiagnostics::LOSS_PCT, || {
        mean(stats.peers.iter().filter_map(|p| p.loss).map(|l| l * 100.0))
    });
    diagnostics.add_measurement(&NetDiagnostics::BYTES_UP, || stats.bytes_up_per_sec);
    diagnostics.add_measurement(&NetDiagnostics::BYTES_DOWN, || stats.bytes_down_per_sec);
    diagnostics.add_measurement(&NetDiagnostics::PEERS, || stats.peers.len() as f64);
}
