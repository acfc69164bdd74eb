//! A simple AI for `--bot`: it heads for the nearest orb and dashes into a player that
//! comes close.

use std::time::Duration;

use netcode::Session;

use crate::arena::{Input, Match};

/// Distance under which a bot dashes at another player.
const DASH_RANGE: f32 = 3.0;

/// This frame's input for a bot.
pub fn input(game: &Match, session: &Session, now: Duration) -> Input {
    let me = game.position();
    let toward = |p: [f32; 2]| [p[0] - me[0], p[1] - me[1]];
    let d2 = |v: [f32; 2]| v[0] * v[0] + v[1] * v[1];
    let orb = Match::orbs(session)
        .into_iter()
        .map(|(_, p)| toward(p))
        .min_by(|a, b| d2(*a).total_cmp(&d2(*b)));
    let near = game
        .players(session, now)
        .into_iter()
        .filter(|p| p.peer != session.peer_id())
        .map(|p| toward(p.pos))
        .find(|v| d2(*v) < DASH_RANGE * DASH_RANGE);
    match (near, orb) {
        (Some(v), _) => Input { dir: v, dash: true },
        (None, Some(v)) => Input { dir: v, dash: false },
        (None, None) => Input::default(),
    }
}
