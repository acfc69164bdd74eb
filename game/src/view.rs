//! Drawing the session: one disc and label per peer on a ring, a line per pair of live
//! peers colored by link state, a gold ring around the host, and the text panel.

use std::f32::consts::{FRAC_PI_2, TAU};

use bevy::prelude::*;
use netcode::LinkState;
use netcode::sim::{Node as SimNode, NodeStatus};

use crate::simulation::{Change, SimState};

/// Center of the ring of peers, in world units (right of the panel).
const RING_CENTER: Vec2 = Vec2::new(220.0, -10.0);
/// Radius of the ring of peers.
const RING_RADIUS: f32 = 230.0;
/// Largest radius of a peer's disc.
const DISC_RADIUS: f32 = 26.0;
/// Gap between a disc and the end of a link line.
const LINE_GAP: f32 = 4.0;
/// Width of the text panel, in logical pixels.
const PANEL_WIDTH: f32 = 460.0;

/// Color of a direct link.
const DIRECT: Color = Color::srgb(0.2, 0.85, 0.3);
/// Color of a relayed link.
const RELAYED: Color = Color::srgb(0.95, 0.85, 0.2);
/// Color of a link that is down.
const DOWN: Color = Color::srgb(0.95, 0.25, 0.2);
/// Color of the ring around the host.
const GOLD: Color = Color::srgb(1.0, 0.78, 0.1);

/// How a peer looks, from its process and session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Not started yet.
    Scheduled,
    /// Started, not in the session yet.
    Joining,
    /// In the session.
    Live,
    /// Its join or rejoin was refused.
    Refused,
    /// Crashed.
    Crashed,
    /// Left gracefully.
    Left,
}

impl Look {
    /// Every look, in the order of [`Palette::materials`].
    const ALL: [Look; 6] = [Look::Scheduled, Look::Joining, Look::Live, Look::Refused, Look::Crashed, Look::Left];

    /// The look of a node.
    fn of(node: &SimNode) -> Look {
        match (node.status, node.session.as_ref()) {
            (NodeStatus::Scheduled, _) => Look::Scheduled,
            (NodeStatus::Crashed, _) => Look::Crashed,
            (NodeStatus::Left, _) => Look::Left,
            (NodeStatus::Running, Some(s)) if s.in_session() => Look::Live,
            (NodeStatus::Running, Some(s)) if s.refusal().is_some() => Look::Refused,
            (NodeStatus::Running, _) => Look::Joining,
        }
    }

    /// Fill color of the disc.
    fn fill(self) -> Color {
        match self {
            Look::Scheduled => Color::srgb(0.15, 0.16, 0.2),
            Look::Joining => Color::srgb(0.25, 0.4, 0.6),
            Look::Live => Color::srgb(0.2, 0.55, 0.95),
            Look::Refused => Color::srgb(0.5, 0.2, 0.25),
            Look::Crashed => Color::srgb(0.35, 0.35, 0.37),
            Look::Left => Color::srgb(0.22, 0.22, 0.24),
        }
    }

    /// Color of the label text.
    fn text(self) -> Color {
        match self {
            Look::Live | Look::Joining => Color::srgb(0.92, 0.94, 0.98),
            _ => Color::srgb(0.55, 0.56, 0.6),
        }
    }

    /// Status word in the label (empty when live).
    fn word(self) -> &'static str {
        match self {
            Look::Scheduled => "starting",
            Look::Joining => "joining",
            Look::Live => "",
            Look::Refused => "refused",
            Look::Crashed => "CRASHED",
            Look::Left => "left",
        }
    }
}

/// The disc mesh and one material per [`Look`].
#[derive(Resource)]
pub struct Palette {
    /// Unit-radius circle, scaled per peer.
    disc: Handle<Mesh>,
    /// Materials in the order of [`Look::ALL`].
    materials: Vec<Handle<ColorMaterial>>,
}

impl Palette {
    /// The material of a look.
    fn material(&self, look: Look) -> Handle<ColorMaterial> {
        let i = Look::ALL.iter().position(|l| *l == look).unwrap_or(0);
        self.materials[i].clone()
    }
}

/// The disc of node `.0`.
#[derive(Component)]
pub struct PeerDisc(usize);

/// The label of node `.0`.
#[derive(Component)]
pub struct PeerLabel(usize);

/// The text panel.
#[derive(Component)]
pub struct Panel;

/// Where node `i` of `n` sits: its center, its outward direction and its disc radius.
fn slot(i: usize, n: usize) -> (Vec2, Vec2, f32) {
    let n = n.max(1);
    let angle = FRAC_PI_2 - TAU * i as f32 / n as f32;
    let dir = Vec2::from_angle(angle);
    let radius = DISC_RADIUS.min(RING_RADIUS * (TAU / n as f32 / 2.0).sin() * 0.6);
    (RING_CENTER + dir * RING_RADIUS, dir, radius)
}

/// Creates the camera, the palette, the panel and the legend.
pub fn setup(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
    mut gizmo_store: ResMut<GizmoConfigStore>,
) {
    commands.spawn(Camera2d);
    gizmo_store.config_mut::<DefaultGizmoConfigGroup>().0.line.width = 3.0;
    commands.insert_resource(Palette {
        disc: meshes.add(Circle::new(1.0)),
        materials: Look::ALL.iter().map(|l| materials.add(ColorMaterial::from_color(l.fill()))).collect(),
    });
    let font = |px: f32| TextFont { font_size: FontSize::Px(px), ..default() };
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
            Node { position_type: PositionType::Absolute, bottom: px(10), right: px(14), ..default() },
        ))
        .with_children(|legend| {
            for (word, color) in [
                ("direct  ", DIRECT),
                ("relayed  ", RELAYED),
                ("down", DOWN),
                ("    gold ring: host  ", GOLD),
                ("grey: crashed", Look::Crashed.fill()),
            ] {
                legend.spawn((TextSpan::new(word), font(15.0), TextColor(color)));
            }
        });
}

/// Spawns, places and colors each peer's disc and label.
pub fn sync_peers(
    mut commands: Commands,
    state: Res<SimState>,
    palette: Res<Palette>,
    mut spawned: Local<usize>,
    mut discs: Query<(&PeerDisc, &mut Transform, &mut MeshMaterial2d<ColorMaterial>), Without<PeerLabel>>,
    mut labels: Query<(&PeerLabel, &mut Transform, &mut Text2d, &mut TextColor), Without<PeerDisc>>,
) {
    let nodes = state.sim.nodes();
    for i in *spawned..nodes.len() {
        commands.spawn((PeerDisc(i), Mesh2d(palette.disc.clone()), MeshMaterial2d(palette.material(Look::Scheduled))));
        commands.spawn((
            PeerLabel(i),
            Text2d::new(""),
            TextFont { font_size: FontSize::Px(15.0), ..default() },
            TextLayout::justify(Justify::Center),
        ));
    }
    *spawned = nodes.len();
    for (disc, mut transform, mut material) in &mut discs {
        let Some(node) = nodes.get(disc.0) else { continue };
        let (center, _, radius) = slot(disc.0, nodes.len());
        *transform = Transform::from_translation(center.extend(0.0)).with_scale(Vec3::new(radius, radius, 1.0));
        let handle = palette.material(Look::of(node));
        if material.0 != handle {
            material.0 = handle;
        }
    }
    for (label, mut transform, mut text, mut color) in &mut labels {
        let Some(node) = nodes.get(label.0) else { continue };
        let (center, dir, radius) = slot(label.0, nodes.len());
        let at = center + dir * (radius + 30.0);
        *transform = Transform::from_translation(at.extend(1.0));
        let look = Look::of(node);
        let content = label_text(&state, label.0, look);
        if text.0 != content {
            text.0 = content;
        }
        if color.0 != look.text() {
            color.0 = look.text();
        }
    }
}

/// The two lines under a peer: name (and host mark), then score or status.
fn label_text(state: &SimState, i: usize, look: Look) -> String {
    let node = &state.sim.nodes()[i];
    let Some(peer) = node.credentials.map(|c| c.peer) else { return format!("peer{i}\n{}", look.word()) };
    let host = node.session.as_ref().is_some_and(|s| s.is_host());
    let name = format!("{}{}", state.name(peer), if host { " [host]" } else { "" });
    let score = state.score(peer);
    match look {
        Look::Live => format!("{name}\nscore {score}"),
        _ => format!("{name}\n{} - {score}", look.word()),
    }
}

/// Draws the links between live peers and the ring around the host.
pub fn draw_links(state: Res<SimState>, mut gizmos: Gizmos) {
    let sim = &state.sim;
    let n = sim.nodes().len();
    let live = sim.live_indices();
    for (k, &a) in live.iter().enumerate() {
        for &b in &live[k + 1..] {
            let (Some(sa), Some(sb)) = (sim.session(a), sim.session(b)) else { continue };
            // The worse of the two views (Direct < Relayed < Down).
            let link = sa.link_state(sb.peer_id()).max(sb.link_state(sa.peer_id()));
            let color = match link {
                LinkState::Direct => DIRECT,
                LinkState::Relayed => RELAYED,
                LinkState::Down => DOWN,
            };
            let ((pa, _, ra), (pb, _, rb)) = (slot(a, n), slot(b, n));
            let dir = (pb - pa).normalize_or_zero();
            gizmos.line_2d(pa + dir * (ra + LINE_GAP), pb - dir * (rb + LINE_GAP), color);
        }
    }
    for i in live {
        if sim.session(i).is_some_and(|s| s.is_host()) {
            let (center, _, radius) = slot(i, n);
            gizmos.circle_2d(center, radius + 7.0, GOLD).resolution(48);
            gizmos.circle_2d(center, radius + 10.0, GOLD).resolution(48);
        }
    }
}

/// Rewrites the panel: session state, recent membership events, last migration pause, keys.
pub fn update_panel(state: Res<SimState>, mut panel: Query<&mut Text, With<Panel>>) {
    let Ok(mut text) = panel.single_mut() else { return };
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
    let pause = pauses.last().map_or("none yet".to_owned(), |p| format!("{:.0} ms", p.as_secs_f64() * 1000.0));
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
        out.push_str(&format!("{:>7.2}s {what}  x{}\n", entry.at.as_secs_f64(), entry.reports));
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
