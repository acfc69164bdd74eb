//! The F3 network overlay: line graphs of rtt, loss and kbps per peer over the last
//! seconds, and a timeline of the last host changes, drawn with gizmos in the right-hand
//! strip of the window, with `Text2d` labels from a pool of entities.

use std::collections::VecDeque;
use std::time::Duration;

use bevy::prelude::*;
use bevy::sprite::Anchor;
use bevy::text::FontSize;
use netcode::bevy::{Migration, MigrationTimeline, NetConfig, NetHistory, NetPeer, Sample};
use netcode::{PeerId, Session};

use crate::palette::peer_colour;

/// The strip the overlay covers (world units: 1 per logical px, camera at the origin).
const PANEL: Rect = Rect::new(335.0, -350.0, 630.0, 300.0);
/// Inner margin of the strip, and the left and right edges of what is drawn in it.
const PAD: f32 = 8.0;
const LEFT: f32 = PANEL.min.x + PAD;
const RIGHT: f32 = PANEL.max.x - PAD;
/// Height of one text line, and the label font size (px).
const LINE: f32 = 14.0;
const FONT_PX: f32 = 12.0;
/// Height of a graph's box, the gap under it, and the gap between two graphs.
const GRAPH_HEIGHT: f32 = 104.0;
const VALUES_GAP: f32 = 4.0;
const GRAPH_GAP: f32 = 8.0;
/// Slots for the current values under a graph, and the characters of a name in one.
const VALUE_COLUMNS: usize = 3;
const VALUE_ROWS: usize = 2;
const SLOT_NAME_CHARS: usize = 4;
/// Characters of a name in a timeline row.
const ROW_NAME_CHARS: usize = 8;
/// Smallest y-axis maximum of the rtt (ms), loss (%) and kbps graphs.
const RTT_FLOOR_MS: f64 = 10.0;
const LOSS_FLOOR_PCT: f64 = 1.0;
const KBPS_FLOOR: f64 = 1.0;
/// Opacity of the `kbps_up` lines (`kbps_down` is opaque).
const UP_ALPHA: f32 = 0.4;
/// History span when there is no [`NetConfig`].
const DEFAULT_SPAN: Duration = Duration::from_secs(10);
/// Host changes shown, the height of one, and the length of a milestone tick (above the
/// bar for every other milestone, below for the rest, so ticks at one time all show).
const TIMELINE_ROWS: usize = 3;
const ROW_HEIGHT: f32 = 34.0;
const TICK_HALF: f32 = 7.0;
/// Room right of a timeline bar for its pause text (`not resumed yet`).
const PAUSE_TEXT_WIDTH: f32 = 116.0;
/// Smallest span of the timeline's shared scale (keeps a zero-length change drawable).
const MIN_TIMELINE_SPAN: Duration = Duration::from_millis(50);
/// Legend entries per row, the gap between a legend tick and its name, its half height.
const LEGEND_COLUMNS: usize = 3;
const LEGEND_TEXT_GAP: f32 = 6.0;
const LEGEND_TICK_HALF: f32 = 4.0;
/// Depth of the background and of the labels (the arena is at z <= 3; gizmos draw on top).
const BACKGROUND_Z: f32 = 10.0;
const TEXT_Z: f32 = 11.0;
/// Offset of a graph's y-axis maximum label from the box's top left corner.
const Y_MAX_OFFSET: Vec2 = Vec2::new(2.0, -1.0);

const BACKGROUND: Color = Color::srgba(0.02, 0.03, 0.05, 0.8);
const FRAME: Color = Color::srgba(0.7, 0.75, 0.8, 0.6);
const GRID: Color = Color::srgba(0.6, 0.65, 0.7, 0.2);
const BAR: Color = Color::srgba(0.6, 0.65, 0.7, 0.5);
const PAUSE: Color = Color::srgb(0.95, 0.95, 0.95);
const TEXT: Color = Color::srgb(0.88, 0.9, 0.93);
const FAINT: Color = Color::srgb(0.6, 0.63, 0.68);

/// Whether the overlay is shown; F3 toggles it.
#[derive(Resource, Default)]
pub struct OverlayShown(pub bool);

/// The F3 network overlay. Reads [`NetPeer`], [`NetHistory`], [`NetConfig`] and
/// [`MigrationTimeline`] when present (draws nothing without a [`NetPeer`]); runs in
/// `Update`. Needs a `Camera2d` at the origin, 1 world unit per logical px.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OverlayShown>()
            .init_resource::<OverlayLabels>()
            .add_systems(Startup, spawn_background)
            .add_systems(Update, (toggle, draw, sync_labels).chain());
    }
}

/// One text label: position, text, colour, anchor.
type Label = (Vec2, String, Color, Anchor);

/// The labels of this frame, filled by [`draw`] (none when not drawn), shown by
/// [`sync_labels`].
#[derive(Resource, Default)]
struct OverlayLabels(Vec<Label>);

/// A pooled label entity: shows the label of this index.
#[derive(Component)]
struct OverlayText(usize);

/// The translucent background of the strip.
#[derive(Component)]
struct OverlayBackground;

/// The milestones of a host change, in their usual order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Milestone {
    Silent,
    Suspected,
    Declared,
    Claimed,
    Resumed,
}

impl Milestone {
    const ALL: [Milestone; 5] = [
        Self::Silent,
        Self::Suspected,
        Self::Declared,
        Self::Claimed,
        Self::Resumed,
    ];

    /// Its legend name and marker colour.
    fn style(self) -> (&'static str, Color) {
        match self {
            Self::Silent => ("silent", Color::srgb(0.65, 0.65, 0.7)),
            Self::Suspected => ("suspected", Color::srgb(1.0, 0.85, 0.2)),
            Self::Declared => ("declared", Color::srgb(1.0, 0.45, 0.2)),
            Self::Claimed => ("claimed", Color::srgb(0.35, 0.6, 1.0)),
            Self::Resumed => ("resumed", Color::srgb(0.3, 1.0, 0.45)),
        }
    }

    /// When it happened in `m`, if it did.
    fn time(self, m: &Migration) -> Option<Duration> {
        match self {
            Self::Silent => m.silent,
            Self::Suspected => m.suspected,
            Self::Declared => m.declared,
            Self::Claimed => Some(m.claimed),
            Self::Resumed => m.resumed,
        }
    }
}

/// The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least `v` (1 when `v`
/// is not a positive finite number).
fn nice_max(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|nice| *nice >= v)
        .unwrap_or(10.0 * power)
}

/// Whether a sample is finite and in the time range.
fn usable((t, v): &Sample, (t0, t1): (f64, f64)) -> bool {
    t.is_finite() && v.is_finite() && (t0..=t1).contains(t)
}

/// The largest usable value of `series` (0 without one).
fn series_max<'a>(series: impl IntoIterator<Item = &'a VecDeque<Sample>>, range: (f64, f64)) -> f64 {
    let values = series.into_iter().flatten().filter(|s| usable(s, range));
    values.fold(0.0, |max, (_, v)| max.max(*v))
}

/// The points of `samples` in `rect`: time `t0` at the left edge, `t1` at the right, 0 at
/// the bottom and `y_max` at the top. Samples out of the time range or not finite are
/// skipped, values are clamped to the box.
fn polyline(samples: &VecDeque<Sample>, (t0, t1): (f64, f64), rect: Rect, y_max: f64) -> Vec<Vec2> {
    let span = t1 - t0;
    if !(span > 0.0 && span.is_finite() && y_max > 0.0 && y_max.is_finite()) {
        return Vec::new();
    }
    let point = |(t, v): &Sample| {
        let x = rect.min.x + ((t - t0) / span) as f32 * rect.width();
        Vec2::new(x, rect.min.y + (v / y_max).clamp(0.0, 1.0) as f32 * rect.height())
    };
    samples.iter().filter(|s| usable(s, (t0, t1))).map(point).collect()
}

/// From the earliest milestone of `m` to the latest.
fn row_span(m: &Migration) -> Duration {
    let times = || Milestone::ALL.into_iter().filter_map(|k| k.time(m));
    let (first, last) = (times().min(), times().max());
    first.zip(last).map_or(Duration::ZERO, |(a, b)| b.saturating_sub(a))
}

/// The milestones `m` has, each at its offset from the earliest one, `span` to `width`
/// (clamped to `0..=width`).
fn timeline_marks(m: &Migration, span: Duration, width: f32) -> Vec<(Milestone, f32)> {
    let times = Milestone::ALL.into_iter().filter_map(|k| k.time(m).map(|t| (k, t)));
    let marks: Vec<_> = times.collect();
    let Some(start) = marks.iter().map(|(_, t)| *t).min() else {
        return Vec::new();
    };
    let span = span.as_secs_f64().max(f64::EPSILON);
    let x = |t: Duration| (t.saturating_sub(start).as_secs_f64() / span).clamp(0.0, 1.0) as f32 * width;
    marks.into_iter().map(|(k, t)| (k, x(t))).collect()
}

/// A duration as `212 ms` or `1.3 s`.
fn format_ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A member's name, cut to `chars` (its id when not in the roster).
fn name(session: &Session, peer: PeerId, chars: usize) -> String {
    let member = session.roster().get(peer);
    let full = member.map_or_else(|| peer.to_string(), |m| m.name.clone());
    full.chars().take(chars).collect()
}

/// The newest finite value of a series with `decimals` decimals, `-` without one.
fn current(series: &VecDeque<Sample>, decimals: usize) -> String {
    let newest = series.iter().rev().map(|(_, v)| *v).find(|v| v.is_finite());
    newest.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// Gizmos and labels of this frame.
struct Canvas<'a, 'w, 's> {
    gizmos: &'a mut Gizmos<'w, 's>,
    labels: &'a mut Vec<Label>,
}

impl Canvas<'_, '_, '_> {
    /// A label with its top left corner at `pos`.
    fn text(&mut self, pos: Vec2, text: impl Into<String>, colour: Color) {
        self.anchored(pos, Anchor::TOP_LEFT, text, colour);
    }

    /// A label anchored at `pos`.
    fn anchored(&mut self, pos: Vec2, anchor: Anchor, text: impl Into<String>, colour: Color) {
        self.labels.push((pos, text.into(), colour, anchor));
    }

    /// A line.
    fn line(&mut self, a: Vec2, b: Vec2, colour: Color) {
        self.gizmos.line_2d(a, b, colour);
    }
}

/// One graph: its titles, y-axis floor, lines and current values.
#[derive(Default)]
struct Graph<'a> {
    title: &'static str,
    right: String,
    floor: f64,
    lines: Vec<(&'a VecDeque<Sample>, Color)>,
    values: Vec<(String, Color)>,
}

impl Graph<'_> {
    fn new(title: &'static str, floor: f64) -> Self {
        let graph = Graph::default();
        Graph { title, floor, ..graph }
    }
}

/// The rtt, loss and kbps graphs of `history`.
fn graphs<'a>(session: &Session, history: &'a NetHistory) -> [Graph<'a>; 3] {
    let mut rtt = Graph::new("rtt ms", RTT_FLOOR_MS);
    let mut loss = Graph::new("loss %", LOSS_FLOOR_PCT);
    let mut kbps = Graph::new("kbps up/dn (faint: up)", KBPS_FLOOR);
    let (up, down) = (current(&history.kbps_up, 0), current(&history.kbps_down, 0));
    kbps.right = format!("me {up}/{down}");
    for (peer, h) in &history.peers {
        let (colour, who) = (peer_colour(session, *peer), name(session, *peer, SLOT_NAME_CHARS));
        if session.roster().get(*peer).is_some_and(|m| !m.is_active()) {
            // Its seat is held: its figures stopped when it went silent.
            for graph in [&mut rtt, &mut loss, &mut kbps] {
                graph.values.push((format!("{who} away"), colour));
            }
            continue;
        }
        rtt.lines.push((&h.rtt_ms, colour));
        rtt.values.push((format!("{who} {}", current(&h.rtt_ms, 0)), colour));
        loss.lines.push((&h.loss_pct, colour));
        loss.values.push((format!("{who} {}", current(&h.loss_pct, 1)), colour));
        kbps.lines.push((&h.kbps_down, colour));
        kbps.lines.push((&h.kbps_up, colour.with_alpha(UP_ALPHA)));
        let (up, down) = (current(&h.kbps_up, 0), current(&h.kbps_down, 0));
        kbps.values.push((format!("{who} {up}/{down}"), colour));
    }
    [rtt, loss, kbps]
}

/// Draws a graph whose title row starts at `top`; returns the top of what follows.
fn draw_graph(canvas: &mut Canvas, graph: &Graph, range: (f64, f64), top: f32) -> f32 {
    canvas.text(Vec2::new(LEFT, top), graph.title, TEXT);
    canvas.anchored(Vec2::new(RIGHT, top), Anchor::TOP_RIGHT, graph.right.clone(), TEXT);
    let rect = Rect::new(LEFT, top - LINE - GRAPH_HEIGHT, RIGHT, top - LINE);
    let y_max = nice_max(series_max(graph.lines.iter().map(|(s, _)| *s), range).max(graph.floor));
    canvas.gizmos.rect_2d(rect.center(), rect.size(), FRAME);
    let mid = rect.center().y;
    canvas.line(Vec2::new(LEFT, mid), Vec2::new(RIGHT, mid), GRID);
    canvas.text(Vec2::new(LEFT, rect.max.y) + Y_MAX_OFFSET, format!("{y_max}"), FAINT);
    for (series, colour) in &graph.lines {
        let points = polyline(series, range, rect, y_max);
        canvas.gizmos.linestrip_2d(points, *colour);
    }
    let slot = (RIGHT - LEFT) / VALUE_COLUMNS as f32;
    for (i, (text, colour)) in graph.values.iter().take(VALUE_COLUMNS * VALUE_ROWS).enumerate() {
        let (col, row) = ((i % VALUE_COLUMNS) as f32, (i / VALUE_COLUMNS) as f32);
        let pos = Vec2::new(LEFT + col * slot, rect.min.y - VALUES_GAP - row * LINE);
        canvas.text(pos, text.clone(), *colour);
    }
    rect.min.y - VALUES_GAP - VALUE_ROWS as f32 * LINE - GRAPH_GAP
}

/// Draws the last host changes from `top`, newest first, on a shared scale.
fn draw_timeline<'a>(canvas: &mut Canvas, session: &Session, timeline: Option<&'a MigrationTimeline>, top: f32) {
    canvas.text(Vec2::new(LEFT, top), "host changes", TEXT);
    let newest = |t: &'a MigrationTimeline| t.migrations.iter().rev().take(TIMELINE_ROWS);
    let rows: Vec<&Migration> = timeline.into_iter().flat_map(newest).collect();
    if rows.is_empty() {
        canvas.text(Vec2::new(LEFT, top - LINE), "no host change yet", FAINT);
        return;
    }
    let longest = rows.iter().map(|m| row_span(m)).max().unwrap_or_default();
    let span = longest.max(MIN_TIMELINE_SPAN);
    let scale = format!("scale {}", format_ms(span));
    canvas.anchored(Vec2::new(RIGHT, top), Anchor::TOP_RIGHT, scale, FAINT);
    let mut y = top - LINE;
    for m in rows {
        draw_row(canvas, session, m, span, y);
        y -= ROW_HEIGHT;
    }
    draw_legend(canvas, y);
}

/// Draws one host change from `top`: its label, then its bar, pause and milestones, and
/// the pause as text right of the bar.
fn draw_row(canvas: &mut Canvas, session: &Session, m: &Migration, span: Duration, top: f32) {
    let pause = m.pause().map(|p| format!("pause {}", format_ms(p)));
    let pause = pause.unwrap_or_else(|| "not resumed yet".to_owned());
    let old = name(session, m.old, ROW_NAME_CHARS);
    let new = name(session, m.new, ROW_NAME_CHARS);
    canvas.text(
        Vec2::new(LEFT, top),
        format!("{old} -> {new} (epoch {})", m.epoch),
        TEXT,
    );
    let bar_y = top - LINE - TICK_HALF;
    canvas.anchored(Vec2::new(RIGHT, bar_y), Anchor::CENTER_RIGHT, pause, TEXT);
    let marks = timeline_marks(m, span, RIGHT - LEFT - PAUSE_TEXT_WIDTH);
    let x_of = |k: Milestone| marks.iter().find(|(mk, _)| *mk == k).map(|(_, x)| *x);
    let at = |k: Milestone| x_of(k).map(|x| Vec2::new(LEFT + x, bar_y));
    let xs = || marks.iter().map(|(_, x)| LEFT + x);
    let (first, last) = (xs().fold(RIGHT, f32::min), xs().fold(LEFT, f32::max));
    canvas.line(Vec2::new(first, bar_y), Vec2::new(last, bar_y), BAR);
    let pause_from = at(Milestone::Silent).or(at(Milestone::Claimed));
    if let (Some(a), Some(b)) = (pause_from, at(Milestone::Resumed)) {
        canvas.line(a, b, PAUSE);
    }
    for (k, x) in &marks {
        let above = matches!(k, Milestone::Silent | Milestone::Declared | Milestone::Resumed);
        let side = if above { Vec2::Y } else { Vec2::NEG_Y };
        let at = Vec2::new(LEFT + x, bar_y);
        canvas.line(at, at + side * TICK_HALF, k.style().1);
    }
}

/// The milestone colours, from `top`.
fn draw_legend(canvas: &mut Canvas, top: f32) {
    let slot = (RIGHT - LEFT) / LEGEND_COLUMNS as f32;
    for (i, k) in Milestone::ALL.into_iter().enumerate() {
        let (col, row) = ((i % LEGEND_COLUMNS) as f32, (i / LEGEND_COLUMNS) as f32);
        let mid = Vec2::new(LEFT + col * slot, top - (row + 0.5) * LINE);
        let (label, colour) = k.style();
        let half = Vec2::Y * LEGEND_TICK_HALF;
        canvas.line(mid - half, mid + half, colour);
        canvas.anchored(mid + Vec2::X * LEGEND_TEXT_GAP, Anchor::CENTER_LEFT, label, colour);
    }
}

/// F3 shows or hides the overlay.
fn toggle(keys: Option<Res<ButtonInput<KeyCode>>>, mut shown: ResMut<OverlayShown>) {
    if keys.is_some_and(|k| k.just_pressed(KeyCode::F3)) {
        shown.0 = !shown.0;
    }
}

/// Draws the graphs and the timeline, and collects this frame's labels.
fn draw(
    shown: Res<OverlayShown>,
    net: Option<Res<NetPeer>>,
    history: Option<Res<NetHistory>>,
    timeline: Option<Res<MigrationTimeline>>,
    config: Option<Res<NetConfig>>,
    mut gizmos: Gizmos,
    mut labels: ResMut<OverlayLabels>,
) {
    labels.0.clear();
    let (true, Some(net)) = (shown.0, net) else {
        return;
    };
    let session = net.session();
    let empty = NetHistory::default();
    let history = history.as_deref().unwrap_or(&empty);
    let span = config.map_or(DEFAULT_SPAN, |c| c.history_span).as_secs_f64();
    let end = history.last.unwrap_or_else(|| net.now()).as_secs_f64();
    let (gizmos, labels) = (&mut gizmos, &mut labels.0);
    let mut canvas = Canvas { gizmos, labels };
    let mut top = PANEL.max.y - PAD;
    for graph in graphs(session, history) {
        top = draw_graph(&mut canvas, &graph, (end - span, end), top);
    }
    draw_timeline(&mut canvas, session, timeline.as_deref(), top);
}

/// A pooled label's text, place, colour, anchor and visibility.
type PooledText<'a> = (
    &'a OverlayText,
    &'a mut Text2d,
    &'a mut Transform,
    &'a mut TextColor,
    &'a mut Anchor,
    &'a mut Visibility,
);

/// Shows this frame's labels on the pooled `Text2d` entities (hiding the rest; changing
/// only what differs), spawning more when needed, and the background when there are any.
fn sync_labels(
    mut commands: Commands,
    labels: Res<OverlayLabels>,
    mut pool: Query<PooledText, Without<OverlayBackground>>,
    mut background: Query<&mut Visibility, With<OverlayBackground>>,
) {
    let shown = if labels.0.is_empty() {
        Visibility::Hidden
    } else {
        Visibility::Inherited
    };
    for mut visibility in &mut background {
        visibility.set_if_neq(shown);
    }
    let mut size = 0;
    for (OverlayText(i), mut text, mut transform, mut colour, mut anchor, mut visibility) in &mut pool {
        size = size.max(i + 1);
        let Some((pos, label, label_colour, label_anchor)) = labels.0.get(*i) else {
            visibility.set_if_neq(Visibility::Hidden);
            continue;
        };
        if text.0 != *label {
            text.0.clone_from(label);
        }
        transform.set_if_neq(Transform::from_translation(pos.extend(TEXT_Z)));
        colour.set_if_neq(TextColor(*label_colour));
        anchor.set_if_neq(*label_anchor);
        visibility.set_if_neq(Visibility::Inherited);
    }
    for (i, (pos, label, colour, anchor)) in labels.0.iter().enumerate().skip(size) {
        commands.spawn((
            OverlayText(i),
            Text2d::new(label.clone()),
            TextFont::from_font_size(FontSize::Px(FONT_PX)),
            TextColor(*colour),
            *anchor,
            Transform::from_translation(pos.extend(TEXT_Z)),
        ));
    }
}

/// Spawns the hidden background of the strip.
fn spawn_background(mut commands: Commands) {
    let sprite = Sprite::from_color(BACKGROUND, PANEL.size());
    let at = Transform::from_translation(PANEL.center().extend(BACKGROUND_Z));
    commands.spawn((OverlayBackground, sprite, at, Visibility::Hidden));
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
