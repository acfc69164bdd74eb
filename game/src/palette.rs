//! The players' colours, shared by the arena and the network overlay.

use bevy::prelude::*;
use netcode::{PeerId, Session};

/// Player colours, by join order.
const COLOURS: [(f32, f32, f32); 8] = [
    (0.35, 0.75, 1.0),
    (1.0, 0.45, 0.45),
    (0.5, 0.95, 0.5),
    (1.0, 0.8, 0.3),
    (0.85, 0.5, 1.0),
    (0.3, 0.95, 0.9),
    (1.0, 0.6, 0.85),
    (0.9, 0.9, 0.9),
];

/// A member's colour: by its join order in the roster (the first colour when unknown).
pub fn peer_colour(session: &Session, peer: PeerId) -> Color {
    let seq = session.roster().get(peer).map_or(0, |m| m.join_seq as usize);
    let (r, g, b) = COLOURS[seq % COLOURS.len()];
    Color::srgb(r, g, b)
}
