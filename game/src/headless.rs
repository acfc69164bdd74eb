//! `--headless`: the same game without a window, for tests, bots and always-on hosts: the
//! app of the window with `MinimalPlugins` instead of `DefaultPlugins`. It prints the
//! session's events as JSON lines on stdout ([`netcode::EventRecord`]'s words: `hosting`
//! with the invite code, `joined` with `rejoined: true` when it took its seat back,
//! `peer_joined`, `peer_left`, `host_changed` with `pause_ms`, `rejoined` for another
//! member back in its seat, `round_end` with the scores, and a `status` line every second).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bevy::app::ScheduleRunnerPlugin;
use bevy::ecs::schedule::SingleThreadedExecutor;
use bevy::prelude::*;
use netcode::bevy::{HostChanged, NetError, NetEvent, NetPeer, NetStoreRead, NetcodePlugin};
use netcode::{PeerId, Session, SessionEvent};
use serde_json::{Value, json};

use crate::arena::{self, ArenaPlugin, ArenaSet, GameEvent, Orb, ROUND_KEY, Round};
use crate::net::{Fault, Keeper, NetArgs, Start, event_json, keep_session, links_json, name_of};

/// Frames per second of the headless loop.
const FPS: f64 = 60.0;
/// Interval between status lines.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Exit code of a peer that failed (after its `error` line).
const FAILED: u8 = 2;

/// Prints one JSON line with the UNIX time in ms.
pub fn emit(mut line: Value) {
    if let Value::Object(map) = &mut line {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        map.insert("t_ms".into(), json!(ms));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints a failure on stderr and as an `error` line.
pub fn emit_error(message: &str) {
    eprintln!("game: {message}");
    emit(json!({ "event": "error", "message": message }));
}

/// Scores by peer id, for JSON.
pub fn scores_json(session: &Session, scores: &[(PeerId, u32)]) -> Value {
    let mut map = serde_json::Map::new();
    for (peer, score) in scores {
        map.insert(
            peer.to_string(),
            json!({ "name": name_of(session, *peer), "score": score }),
        );
    }
    Value::Object(map)
}

/// The script of a headless run: frames to run, status timing, work time per frame.
#[derive(Resource)]
struct Run {
    /// Quit after this many frames.
    frames: Option<u64>,
    /// Frames run so far.
    count: u64,
    /// When the next status line is due.
    next_status: Instant,
    /// When this frame started.
    frame_start: Instant,
    /// Work time (all but the runner's sleep) since the last status line, and its frames.
    work: Duration,
    worked_frames: u32,
}

/// Runs a headless peer until it is killed, `frames` have passed, or it fails; an error
/// that stops it from starting is returned (a later one was reported as it happened, and
/// gives the exit code).
pub fn run(net: &NetArgs, start: &Start, bot: bool, frames: Option<u64>) -> Result<ExitCode, String> {
    let round_len = net.round_len()?;
    let rejoining = net.seat.as_ref().is_some_and(|p| p.exists());
    let mut peer = net.start(start)?;
    let keeper = Keeper::new(net.clone())?;
    if matches!(start, Start::Host) && !rejoining {
        NetArgs::settle_host(&mut peer)?;
        let invite = peer.invite().map(|i| i.encode());
        emit(json!({ "event": "hosting", "invite": invite,
                     "peer": peer.session().peer_id().to_string(), "name": net.name }));
    }
    let mut app = App::new();
    app.add_plugins(MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(1.0 / FPS))))
        .add_plugins((NetcodePlugin, ArenaPlugin { round_len }))
        .add_message::<Fault>()
        .insert_resource(peer)
        .insert_resource(keeper)
        .insert_resource(Run {
            frames,
            count: 0,
            next_status: Instant::now() + STATUS_EVERY,
            frame_start: Instant::now(),
            work: Duration::ZERO,
            worked_frames: 0,
        })
        .add_systems(First, start_frame)
        .add_systems(Update, (keep_session, report_events, report_rounds, status).chain())
        .add_systems(Last, end_frame);
    if bot {
        app.add_systems(Update, crate::bot::steer.in_set(ArenaSet::Input));
    }
    single_threaded(&mut app);
    Ok(match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    })
}

/// Runs every schedule on the main thread: a headless peer's frame is a fraction of a
/// millisecond of work, less than what waking the task pool's threads for it costs (several
/// peers share a machine's cores in `game bench` and on an always-on host).
fn single_threaded(app: &mut App) {
    let mut schedules = app.world_mut().resource_mut::<Schedules>();
    for (_, schedule) in schedules.iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
}

fn start_frame(mut run: ResMut<Run>) {
    run.frame_start = Instant::now();
}

/// Adds this frame's work time and quits after `--frames`.
fn end_frame(mut run: ResMut<Run>, mut exit: MessageWriter<AppExit>) {
    let spent = run.frame_start.elapsed();
    run.work += spent;
    run.worked_frames += 1;
    run.count += 1;
    if run.frames.is_some_and(|n| run.count >= n) {
        exit.write(AppExit::Success);
    }
}

/// Prints the session's events; quits when we left, fails on an error.
fn report_events(
    net: Res<NetPeer>,
    mut events: MessageReader<NetEvent>,
    mut host_changes: MessageReader<HostChanged>,
    mut errors: MessageReader<NetError>,
    mut faults: MessageReader<Fault>,
    mut exit: MessageWriter<AppExit>,
) {
    let pauses: BTreeMap<u64, Duration> = host_changes.read().map(|h| (h.epoch, h.pause)).collect();
    for NetEvent(event) in events.read() {
        let pause = match event {
            SessionEvent::HostChanged { epoch, .. } => pauses.get(epoch).copied().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if let Some(line) = event_json(net.session(), event, pause) {
            emit(line);
        }
        if *event == SessionEvent::Left {
            exit.write(AppExit::Success);
        }
    }
    let failures = errors.read().map(ToString::to_string);
    if let Some(message) = failures.chain(faults.read().map(|f| f.0.clone())).next() {
        emit_error(&message);
        exit.write(AppExit::from_code(FAILED));
    }
}

/// Prints each round's end.
fn report_rounds(net: Res<NetPeer>, mut events: MessageReader<GameEvent>) {
    for event in events.read() {
        if let GameEvent::RoundEnd { round, scores } = event {
            emit(json!({ "event": "round_end", "round": round,
                         "scores": scores_json(net.session(), scores) }));
        }
    }
}

/// A `status` line every second while in the session.
fn status(mut run: ResMut<Run>, store: NetStoreRead, orbs: Query<(), With<Orb>>) {
    let Some(session) = store.session().filter(|s| s.in_session()) else {
        return;
    };
    if Instant::now() < run.next_status {
        return;
    }
    run.next_status += STATUS_EVERY;
    let scores: Vec<_> = session
        .roster()
        .active()
        .map(|m| (m.id, arena::points(store.shared(&arena::score_key(m.id)))))
        .collect();
    let now_ms = store.now().unwrap_or_default().as_millis() as u64;
    let (round, left) =
        arena::read(store.shared::<Round>(ROUND_KEY)).map_or((0, 0), |r| (r.n, r.ends_ms.saturating_sub(now_ms)));
    let avg = run.work.as_secs_f64() * 1000.0 / f64::from(run.worked_frames.max(1));
    (run.work, run.worked_frames) = (Duration::ZERO, 0);
    emit(json!({ "event": "status", "peer": session.peer_id().to_string(),
            "host": session.current_host().map(|h| h.to_string()), "members": session.roster().active().count(),
            "round": round, "round_left_ms": left, "orbs": orbs.iter().count(),
            "scores": scores_json(session, &scores), "links": links_json(session),
            "frame_work_ms": (avg * 1000.0).round() / 1000.0 }));
}
