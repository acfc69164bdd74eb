//! The text panel (session state, membership events, keys) and the color legend.

use bevy::prelude::*;
use netcode::sim::NodeStatus;

use crate::simulation::{Change, SimState};
use crate::view::{CRASHED, DIRECT, DOWN, GOLD, RELAYED};

/// Width of the text panel, in logical pixels.
const PANEL_WIDTH: f32 = 460.0;

/// The text panel.
#[derive(Component)]
pub struct Panel;

/// Creates the panel and the legend.
pub fn setup(mut commands: Commands) {
    let font = |px: f32| TextFont {
        font_size: FontSize::Px(px),
        ..default()
    };
    commands.spawn((
        Panel,
        Text::new(""),
        font(15.0),
        TextColor(Color::srgb(0.9, 0.92, 0.95)),
        Node {
            position_type: PositionType::Absolute,
            top: px(10),
            left: px(10),
            width: px(PANEL_WIDTH),
            padding: UiRect::all(px(12)),
            ..default()
        },
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.55)),
    ));
    commands
        .spawn((
            Text::new("links: "),
            font(15.0),
            Node {
                position_type: PositionType::Absolute,
                bottom: px(10),
                right: px(14),
                ..default()
            },
        ))
        .with_children(|legend| {
            for (word, color) in [
                ("direct  ", DIRECT),
                ("relayed  ", RELAYED),
                ("down", DOWN),
                ("    gold ring: host  ", GOLD),
                ("grey: crashed", CRASHED),
            ] {
                legend.spawn((TextSpan::new(word), font(15.0), TextColor(color)));
            }
        });
}

/// Rewrites the panel: session state, recent membership events, last migration pause, keys.
pub fn update_panel(state: Res<SimState>, mut panel: Query<&mut Text, With<Panel>>) {
    let Ok(mut text) = panel.single_mut() else {
        return;
    };
    let content = panel_text(&state);
    if text.0 != content {
        text.0 = content;
    }
}

/// The panel's content.
fn panel_text(state: &SimState) -> String {
    let sim = &state.sim;
    let nodes = sim.nodes();
    let epoch = state.view().map_or(0, |s| s.epoch());
    let host = match (sim.consensus_host(), sim.hosts().as_slice()) {
        (Some(h), _) => state.name(h),
        (None, []) => "none".to_owned(),
        (None, hosts) => {
            let names: Vec<String> = hosts.iter().map(|h| state.name(*h)).collect();
            format!("migrating ({})", names.join(" / "))
        }
    };
    let crashed = nodes.iter().filter(|n| n.status == NodeStatus::Crashed).count();
    let pauses = &sim.metrics.migration_pauses;
    let pause = pauses
        .last()
        .map_or("none yet".to_owned(), |p| format!("{:.0} ms", p.as_secs_f64() * 1000.0));
    let mut out = format!(
        "netcode session   t = {:.1} s\n\n\
         epoch          {epoch}\n\
         host           {host}\n\
         live peers     {} of {} ({crashed} crashed)\n\
         last migration {pause} ({} so far)\n\
         last key       {}\n\n\
         membership events (xN: reported by N peers)\n",
        sim.now().as_secs_f64(),
        sim.live_indices().len(),
        nodes.len(),
        pauses.len(),
        state.last_action,
    );
    if state.log.is_empty() {
        out.push_str("  (none yet)\n");
    }
    for entry in &state.log {
        let what = match entry.change {
            Change::Joined(p) => format!("{} joined", state.name(p)),
            Change::Away(p) => format!("{} away", state.name(p)),
            Change::Rejoined(p) => format!("{} rejoined", state.name(p)),
            Change::Left(p) => format!("{} left", state.name(p)),
            Change::Host { old, new, epoch } => {
                format!("host {} -> {} (epoch {epoch})", state.name(old), state.name(new))
            }
        };
        out.push_str(&format!(
            "{:>7.2}s {what}  x{}\n",
            entry.at.as_secs_f64(),
            entry.reports
        ));
    }
    out.push_str(
        "\nkeys\n\
         K    crash the host\n\
         C    crash a random non-host peer\n\
         R    restart (rejoin) crashed peers\n\
         J    a new peer joins\n\
         L    the host leaves gracefully\n\
         Esc  quit",
    );
    out
}
