//! `--headless`: the same peer without a window, for tests, bots and always-on hosts. It
//! prints the session's events as JSON lines on stdout (`hosting` with the invite code,
//! `joined`, `peer_joined`, `peer_left`, `host_changed` with `pause_ms`, `rejoined`,
//! `round_end` with the scores, and a `status` line every second).

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netcode::{Session, SessionEvent};
use serde_json::{Value, json};

use crate::arena::{GameEvent, Input, Match};
use crate::net::{NetArgs, Start, event_json, links_json, name_of, pause_of};

/// Frames per second of the headless loop.
const FPS: f64 = 60.0;
/// Interval between status lines.
const STATUS_EVERY: Duration = Duration::from_secs(1);

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

/// Scores by peer id, for JSON.
pub fn scores_json(session: &Session, scores: &[(netcode::PeerId, u32)]) -> Value {
    let mut map = serde_json::Map::new();
    for (peer, score) in scores {
        map.insert(
            peer.to_string(),
            json!({ "name": name_of(session, *peer), "score": score }),
        );
    }
    Value::Object(map)
}

fn status(session: &Session, now: Duration) -> Value {
    let scores: Vec<_> = session
        .roster()
        .active()
        .map(|m| (m.id, Match::score(session, m.id)))
        .collect();
    let (round, left) =
        Match::round(session).map_or((0, 0), |(n, ends, _)| (n, ends.saturating_sub(now).as_millis() as u64));
    json!({ "event": "status", "peer": session.peer_id().to_string(),
            "host": session.host().map(|h| h.to_string()), "members": session.roster().active().count(),
            "round": round, "round_left_ms": left, "orbs": Match::orbs(session).len(),
            "scores": scores_json(session, &scores), "links": links_json(session) })
}

/// Runs a headless peer until it is killed, `frames` have passed, or it fails.
pub fn run(net: &NetArgs, start: &Start, bot: bool, frames: Option<u64>) -> Result<(), String> {
    let round_len = net.round_len()?;
    let rejoining = net.seat.as_ref().is_some_and(|p| p.exists());
    let mut peer = net.start(start)?;
    let mut lan = net.lan_announce()?;
    if matches!(start, Start::Host) && !rejoining {
        emit(json!({ "event": "hosting", "invite": peer.invite().encode(),
                     "peer": peer.session().peer_id().to_string(), "name": net.name }));
    }
    let mut game = Match::new(peer.session().peer_id().0, round_len);
    let frame = Duration::from_secs_f64(1.0 / FPS);
    let mut next = Instant::now();
    let mut last = Instant::now();
    let mut next_status = Instant::now() + STATUS_EVERY;
    let mut saved = None;
    let mut count = 0u64;
    // Work time per frame (everything but the sleep), for the status line.
    let mut work = Duration::ZERO;
    let mut worked_frames = 0u32;
    loop {
        let frame_start = Instant::now();
        peer.poll().map_err(|e| e.to_string())?;
        if let Some(lan) = lan.as_mut() {
            lan.tick(&peer);
        }
        while let Some(event) = peer.session_mut().poll_event() {
            let pause = pause_of(&peer, &event);
            if let Some(line) = event_json(peer.session(), &event, pause) {
                emit(line);
            }
            if event == SessionEvent::Left {
                return Ok(());
            }
        }
        let digest = peer.session().roster().digest();
        if peer.session().in_session() && saved != Some(digest) {
            net.save_seat(&peer)?;
            saved = Some(digest);
        }
        let now = peer.now();
        let dt = last.elapsed().as_secs_f32().min(0.1);
        last = Instant::now();
        let input = if bot {
            crate::bot::input(&game, peer.session(), now)
        } else {
            Input::default()
        };
        for event in game.step(peer.session_mut(), input, now, dt) {
            if let GameEvent::RoundEnd { round, scores } = event {
                emit(json!({ "event": "round_end", "round": round,
                             "scores": scores_json(peer.session(), &scores) }));
            }
        }
        if Instant::now() >= next_status && peer.session().in_session() {
            next_status += STATUS_EVERY;
            let mut line = status(peer.session(), now);
            let avg = work.as_secs_f64() * 1000.0 / f64::from(worked_frames.max(1));
            line["frame_work_ms"] = json!((avg * 1000.0).round() / 1000.0);
            (work, worked_frames) = (Duration::ZERO, 0);
            emit(line);
        }
        work += frame_start.elapsed();
        worked_frames += 1;
        count += 1;
        if frames.is_some_and(|n| count >= n) {
            return Ok(());
        }
        next += frame;
        let wait = next.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            next = Instant::now();
        }
        std::thread::sleep(wait);
    }
}
