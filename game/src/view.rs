//! Drawing the session: one disc and label per peer on a ring, a line per pair of live
//! peers colored by link state, and a gold ring around the host.

use std::f32::consts::{FRAC_PI_2, TAU};

use bevy::prelude::*;
use bevy::sprite::Anchor;
use netcode::Link;
use netcode::sim::{Node as SimNode, NodeStatus};

use crate::simulation::SimState;

/// Center of the ring of peers, in world units (right of the panel).
const RING_CENTER: Vec2 = Vec2::new(220.0, -10.0);
/// Radius of the ring of peers.
const RING_RADIUS: f32 = 230.0;
/// Largest radius of a peer's disc.
const DISC_RADIUS: f32 = 26.0;
/// Gap between a disc and the end of a link line.
const LINE_GAP: f32 = 4.0;
/// Above this many peers, labels shrink to one line and links get thinner.
const COMPACT_ABOVE: usize = 12;

/// Color of a direct link.
pub const DIRECT: Color = Color::srgb(0.2, 0.85, 0.3);
/// Color of a relayed link.
pub const RELAYED: Color = Color::srgb(0.95, 0.85, 0.2);
/// Color of a link that is down.
pub const DOWN: Color = Color::srgb(0.95, 0.25, 0.2);
/// Disc color of a crashed peer.
pub const CRASHED: Color = Color::srgb(0.35, 0.35, 0.37);
/// Color of the ring around the host.
pub const GOLD: Color = Color::srgb(1.0, 0.78, 0.1);

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
    const ALL: [Look; 6] = [
        Look::Scheduled,
        Look::Joining,
        Look::Live,
        Look::Refused,
        Look::Crashed,
        Look::Left,
    ];

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
            Look::Crashed => CRASHED,
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
            Look::Crashed => "crashed",
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

/// What [`sync_peers`] updates on a label.
type LabelParts = (
    &'static PeerLabel,
    &'static mut Transform,
    &'static mut Text2d,
    &'static mut TextColor,
    &'static mut Anchor,
    &'static mut TextLayout,
    &'static mut TextFont,
);

/// Where node `i` of `n` sits: its center, its outward direction and its disc radius.
fn slot(i: usize, n: usize) -> (Vec2, Vec2, f32) {
    let n = n.max(1);
    let angle = FRAC_PI_2 - TAU * i as f32 / n as f32;
    let dir = Vec2::from_angle(angle);
    let radius = DISC_RADIUS.min(RING_RADIUS * (TAU / n as f32 / 2.0).sin() * 0.6);
    (RING_CENTER + dir * RING_RADIUS, dir, radius)
}

/// Creates the camera and the palette.
pub fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    commands.spawn(Camera2d);
    commands.insert_resource(Palette {
        disc: meshes.add(Circle::new(1.0)),
        materials: Look::ALL
            .iter()
            .map(|l| materials.add(ColorMaterial::from_color(l.fill())))
            .collect(),
    });
}

/// Spawns, places and colors each peer's disc and label.
pub fn sync_peers(
    mut commands: Commands,
    state: Res<SimState>,
    palette: Res<Palette>,
    mut gizmo_store: ResMut<GizmoConfigStore>,
    mut spawned: Local<usize>,
    mut discs: Query<(&PeerDisc, &mut Transform, &mut MeshMaterial2d<ColorMaterial>), Without<PeerLabel>>,
    mut labels: Query<LabelParts, Without<PeerDisc>>,
) {
    let nodes = state.sim.nodes();
    for i in *spawned..nodes.len() {
        commands.spawn((
            PeerDisc(i),
            Mesh2d(palette.disc.clone()),
            MeshMaterial2d(palette.material(Look::Scheduled)),
        ));
        commands.spawn((
            PeerLabel(i),
            Text2d::new(""),
            TextFont {
                font_size: FontSize::Px(15.0),
                ..default()
            },
            TextLayout::justify(Justify::Center),
        ));
    }
    *spawned = nodes.len();
    let compact = nodes.len() > COMPACT_ABOVE;
    let line_width = if compact { 1.5 } else { 3.0 };
    if gizmo_store.config::<DefaultGizmoConfigGroup>().0.line.width != line_width {
        gizmo_store.config_mut::<DefaultGizmoConfigGroup>().0.line.width = line_width;
    }
    let font_size = FontSize::Px(if compact { 12.0 } else { 15.0 });
    for (disc, mut transform, mut material) in &mut discs {
        let Some(node) = nodes.get(disc.0) else {
            continue;
        };
        let (center, _, radius) = slot(disc.0, nodes.len());
        *transform = Transform::from_translation(center.extend(0.0)).with_scale(Vec3::new(radius, radius, 1.0));
        let handle = palette.material(Look::of(node));
        if material.0 != handle {
            material.0 = handle;
        }
    }
    place_labels(&state, &mut labels, compact, font_size);
}

/// Places, words and colours each peer's label.
fn place_labels(
    state: &SimState,
    labels: &mut Query<LabelParts, Without<PeerDisc>>,
    compact: bool,
    font_size: FontSize,
) {
    for (label, mut transform, mut text, mut color, mut anchor, mut layout, mut font) in labels.iter_mut() {
        let Some(node) = state.sim.nodes().get(label.0) else {
            continue;
        };
        let (center, dir, radius) = slot(label.0, state.sim.nodes().len());
        // Outside the ring, the text box touching the disc's outward side.
        // When crowded, every other label sits further out so neighbours do not overlap.
        let gap = if compact {
            8.0 + (label.0 % 2) as f32 * 16.0
        } else {
            16.0
        };
        let at = center + dir * (radius + gap);
        *transform = Transform::from_translation(at.extend(1.0));
        let new_anchor = Anchor(-dir / dir.abs().max_element().max(f32::EPSILON) * 0.5);
        if *anchor != new_anchor {
            *anchor = new_anchor;
        }
        let justify = match dir.x {
            x if x > 0.3 => Justify::Left,
            x if x < -0.3 => Justify::Right,
            _ => Justify::Center,
        };
        if layout.justify != justify {
            layout.justify = justify;
        }
        let look = Look::of(node);
        let content = label_text(state, label.0, look, compact);
        if font.font_size != font_size {
            font.font_size = font_size;
        }
        if text.0 != content {
            text.0 = content;
        }
        if color.0 != look.text() {
            color.0 = look.text();
        }
    }
}

/// A peer's label: name (and host mark), then score and status; one short line if `compact`.
fn label_text(state: &SimState, i: usize, look: Look, compact: bool) -> String {
    let node = &state.sim.nodes()[i];
    let sep = if compact { " " } else { "\n" };
    let Some(peer) = node.credentials.map(|c| c.peer) else {
        return format!("peer{i}{sep}{}", look.word());
    };
    let name = state.name(peer);
    let score = state.score(peer);
    let host = node.session.as_ref().is_some_and(|s| s.is_host());
    match (look, compact) {
        (Look::Live, true) => format!("{name} {score}"),
        (_, true) => format!("{name} {}", look.word()),
        (Look::Live, false) => {
            format!("{name}{}\nscore {score}", if host { " [host]" } else { "" })
        }
        (_, false) => format!("{name}\n{}, score {score}", look.word()),
    }
}

/// Draws the links between live peers and the ring around the host.
pub fn draw_links(state: Res<SimState>, mut gizmos: Gizmos) {
    let sim = &state.sim;
    let n = sim.nodes().len();
    let live = sim.live_indices();
    for (k, &a) in live.iter().enumerate() {
        for &b in &live[k + 1..] {
            let (Some(sa), Some(sb)) = (sim.session(a), sim.session(b)) else {
                continue;
            };
            // The worse of the two views (direct, then relayed, then down).
            let rank = |l: Link| match l {
                Link::Direct(_) => 0,
                Link::Relayed(_) => 1,
                _ => 2,
            };
            let link = rank(sa.link(sb.peer_id())).max(rank(sb.link(sa.peer_id())));
            let color = [DIRECT, RELAYED, DOWN][link];
            let ((pa, _, ra), (pb, _, rb)) = (slot(a, n), slot(b, n));
            let dir = (pb - pa).normalize_or_zero();
            gizmos.line_2d(pa + dir * (ra + LINE_GAP), pb - dir * (rb + LINE_GAP), color);
        }
    }
    for i in live {
        if sim.session(i).is_some_and(|s| s.is_host()) {
            let (center, _, radius) = slot(i, n);
            for extra in [6.0, 8.0, 10.0] {
                gizmos.circle_2d(center, radius + extra, GOLD).resolution(48);
            }
        }
    }
}
