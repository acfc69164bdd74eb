//! A simple AI for `--bot`: it heads for the nearest orb and dashes into a player that
//! comes close. It sees what a player sees: the orbs and the other players as replicated.

use bevy::prelude::*;
use netcode::bevy::{NetOwned, NetRemote};

use crate::arena::{Orb, Player, PlayerInput};

/// Distance under which a bot dashes at another player.
const DASH_RANGE: f32 = 3.0;

/// This frame's input for a bot (runs in [`crate::arena::ArenaSet::Input`]).
pub fn steer(
    mut input: ResMut<PlayerInput>,
    me: Query<&Player, With<NetOwned>>,
    others: Query<&Player, With<NetRemote>>,
    orbs: Query<&Orb>,
) {
    let Ok(me) = me.single() else {
        *input = PlayerInput::default();
        return;
    };
    let toward = |x: f32, y: f32| [x - me.x, y - me.y];
    let d2 = |v: &[f32; 2]| v[0] * v[0] + v[1] * v[1];
    let orb = orbs
        .iter()
        .map(|o| toward(o.x, o.y))
        .min_by(|a, b| d2(a).total_cmp(&d2(b)));
    let near = others
        .iter()
        .map(|p| toward(p.x, p.y))
        .find(|v| d2(v) < DASH_RANGE * DASH_RANGE);
    *input = match (near, orb) {
        (Some(v), _) => PlayerInput { dir: v, dash: true },
        (None, Some(v)) => PlayerInput { dir: v, dash: false },
        (None, None) => PlayerInput::default(),
    };
}
