//! The F3 overlay's geometry and its systems on odd data.
use netcode::sim::{LinkConditions, MemoryNet};

use super::*;

const BOX: Rect = Rect::new(0.0, 0.0, 200.0, 100.0);

fn series(samples: &[Sample]) -> VecDeque<Sample> {
    samples.iter().copied().collect()
}

fn migration(silent: Option<u64>, suspected: Option<u64>, claimed: u64, resumed: Option<u64>) -> Migration {
    let ms = Duration::from_millis;
    Migration {
        old: PeerId(1),
        new: PeerId(2),
        epoch: 3,
        silent: silent.map(ms),
        suspected: suspected.map(ms),
        declared: None,
        claimed: ms(claimed),
        resumed: resumed.map(ms),
    }
}

#[test]
fn overlay_nice_max_rounds_up_to_nice_values() {
    let values = [7.0, 10.0, 11.0, 21.0, 260.0, 0.3];
    let nice = [10.0, 10.0, 20.0, 25.0, 500.0, 0.5];
    for (v, n) in values.into_iter().zip(nice) {
        assert_eq!(nice_max(v), n, "{v}");
    }
    for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        assert_eq!(nice_max(bad), 1.0);
    }
}

#[test]
fn overlay_polyline_maps_time_to_x_and_clamps_values() {
    let s = series(&[(0.0, 50.0), (5.0, 500.0), (10.0, -3.0)]);
    let points = polyline(&s, (0.0, 10.0), BOX, 100.0);
    let expected = [Vec2::new(0.0, 50.0), Vec2::new(100.0, 100.0), Vec2::new(200.0, 0.0)];
    assert_eq!(points, expected, "newest at the right edge, y clamped");
    let newest = polyline(&series(&[(12.0, 1.0), (21.5, 2.0)]), (11.5, 21.5), BOX, 4.0);
    assert_eq!(newest.last(), Some(&Vec2::new(BOX.max.x, 50.0)));
    assert_eq!(polyline(&series(&[(4.0, 1.0)]), (0.0, 10.0), BOX, 2.0).len(), 1);
}

#[test]
fn overlay_polyline_and_max_skip_non_finite_and_out_of_range() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    let s = series(&[(-1.0, 9.0), (1.0, nan), (nan, 1.0), (2.0, inf), (3.0, 1.0), (11.0, 7.0)]);
    let points = polyline(&s, (0.0, 10.0), BOX, 2.0);
    assert_eq!(points.len(), 1);
    assert!(points[0].abs_diff_eq(Vec2::new(60.0, 50.0), 1e-3), "{points:?}");
    assert!(polyline(&s, (5.0, 5.0), BOX, 2.0).is_empty(), "empty time range");
    assert!(polyline(&s, (0.0, 10.0), BOX, nan).is_empty(), "bad y max");
    assert!(polyline(&VecDeque::new(), (0.0, 10.0), BOX, 2.0).is_empty());
    assert_eq!(series_max([&s, &series(&[(8.0, 0.5)])], (0.0, 10.0)), 1.0);
    assert_eq!(series_max([&VecDeque::new()], (0.0, 10.0)), 0.0);
}

#[test]
fn overlay_timeline_marks_ordered_left_to_right() {
    let m = migration(Some(1000), Some(1400), 1700, Some(1900));
    assert_eq!(row_span(&m), Duration::from_millis(900));
    let marks = timeline_marks(&m, row_span(&m), 90.0);
    let kinds: Vec<Milestone> = marks.iter().map(|(k, _)| *k).collect();
    use Milestone::{Claimed, Resumed, Silent, Suspected};
    assert_eq!(kinds, [Silent, Suspected, Claimed, Resumed]);
    let xs: Vec<f32> = marks.iter().map(|(_, x)| *x).collect();
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    assert_eq!(xs[0], 0.0);
    assert!((xs[3] - 90.0).abs() < 1e-3, "{xs:?}");
}

#[test]
fn overlay_timeline_handover_without_silent_still_draws() {
    let m = migration(None, None, 5000, Some(5050));
    let marks = timeline_marks(&m, Duration::from_millis(200), 100.0);
    assert_eq!(marks.len(), 2);
    assert_eq!(marks[0], (Milestone::Claimed, 0.0));
    assert_eq!(marks[1].0, Milestone::Resumed);
    assert!((marks[1].1 - 25.0).abs() < 1e-3, "shared scale: 50 of 200 ms");
    let alone = migration(None, None, 5000, None);
    assert_eq!(row_span(&alone), Duration::ZERO);
    assert_eq!(
        timeline_marks(&alone, Duration::ZERO, 100.0),
        [(Milestone::Claimed, 0.0)]
    );
    let late = timeline_marks(&migration(Some(0), None, 4000, None), Duration::from_secs(1), 100.0);
    assert!(late.iter().all(|(_, x)| (0.0..=100.0).contains(x)), "clamped: {late:?}");
    assert_eq!(format_ms(Duration::from_millis(212)), "212 ms");
    assert_eq!(format_ms(Duration::from_millis(1340)), "1.3 s");
}

/// The texts of the visible pooled labels.
fn shown_texts(app: &mut App) -> Vec<String> {
    let mut query = app.world_mut().query::<(&Text2d, &Visibility)>();
    let visible = query.iter(app.world()).filter(|(_, v)| **v != Visibility::Hidden);
    visible.map(|(t, _)| t.0.clone()).collect()
}

#[test]
fn overlay_systems_draw_nothing_offline_and_survive_odd_data() {
    use bevy::gizmos::{config::GizmoConfigStore, gizmos::GizmoStorage};
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, OverlayPlugin))
        .init_resource::<GizmoStorage<DefaultGizmoConfigGroup, ()>>();
    let mut store = GizmoConfigStore::default();
    store.insert(GizmoConfig::default(), DefaultGizmoConfigGroup);
    app.insert_resource(store);
    app.insert_resource(OverlayShown(true));
    app.update();
    assert!(shown_texts(&mut app).is_empty(), "no NetPeer: nothing drawn");
    app.insert_resource(NetPeer::new(MemoryNet::new(1, LinkConditions::default()).host("mira")));
    app.update();
    let texts = shown_texts(&mut app);
    assert!(texts.iter().any(|t| t == "no host change yet"), "zero peers: {texts:?}");
    let mut history = NetHistory::default();
    let odd = series(&[(1.0, f64::NAN), (2.0, f64::INFINITY), (f64::NAN, 3.0), (9.5, 40.0)]);
    let peer = history.peers.entry(PeerId(9)).or_default();
    (peer.rtt_ms, peer.loss_pct, peer.kbps_up) = (odd.clone(), odd, series(&[(9.5, 2.0)]));
    history.last = Some(Duration::from_secs(10));
    let mut timeline = MigrationTimeline::default();
    timeline.migrations.push_back(migration(None, None, 5000, Some(5050)));
    app.insert_resource(history).insert_resource(timeline);
    app.update();
    let texts = shown_texts(&mut app);
    assert!(texts.iter().any(|t| t.ends_with("(epoch 3)")), "{texts:?}");
    assert!(texts.iter().any(|t| t == "pause 50 ms"), "{texts:?}");
    assert!(texts.iter().any(|t| t.ends_with(" 40")), "current rtt: {texts:?}");
    app.insert_resource(OverlayShown(false));
    app.update();
    assert!(shown_texts(&mut app).is_empty(), "hidden");
    let mut background = app.world_mut().query_filtered::<&Visibility, With<OverlayBackground>>();
    assert_eq!(background.single(app.world()).ok(), Some(&Visibility::Hidden));
}
