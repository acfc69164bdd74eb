//! Placeholder until the F3 overlay lands.
use bevy::prelude::*;
/// The F3 overlay.
pub struct OverlayPlugin;
impl Plugin for OverlayPlugin {
    fn build(&self, _app: &mut App) {}
}
