//! Opt-in extras that need system packages: sound (feature `audio`, ALSA: `libasound2-dev`)
//! and gamepads (feature `gamepad`, udev: `libudev-dev`). Without the features these are
//! no-ops, so the default build needs no `-dev` package.

use bevy::prelude::*;

/// What just happened to this player, for the sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// Our score went up (an orb).
    Pickup,
    /// Our score went down (a dash hit us).
    Hit,
    /// We dashed.
    Dash,
    /// A round ended.
    RoundEnd,
    /// The host changed.
    HostChanged,
}

/// Cues of this frame, played by [`play_cues`] when sound is built in.
#[derive(Resource, Default)]
pub struct Cues(pub Vec<Cue>);

/// Loads the sounds.
#[cfg(feature = "audio")]
pub fn setup(mut commands: Commands, assets: Res<AssetServer>) {
    commands.insert_resource(Sounds {
        pickup: assets.load("sounds/pickup.wav"),
        hit: assets.load("sounds/hit.wav"),
        dash: assets.load("sounds/dash.wav"),
        round_end: assets.load("sounds/round_end.wav"),
        host_changed: assets.load("sounds/host_changed.wav"),
    });
}

/// Nothing to load (no sound built in).
#[cfg(not(feature = "audio"))]
pub fn setup() {}

/// The sound effects.
#[cfg(feature = "audio")]
#[derive(Resource)]
pub struct Sounds {
    pickup: Handle<AudioSource>,
    hit: Handle<AudioSource>,
    dash: Handle<AudioSource>,
    round_end: Handle<AudioSource>,
    host_changed: Handle<AudioSource>,
}

/// Plays this frame's cues (and forgets them).
#[cfg(feature = "audio")]
pub fn play_cues(mut commands: Commands, mut cues: ResMut<Cues>, sounds: Option<Res<Sounds>>) {
    let Some(s) = sounds else { return };
    for cue in cues.0.drain(..) {
        let handle = match cue {
            Cue::Pickup => &s.pickup,
            Cue::Hit => &s.hit,
            Cue::Dash => &s.dash,
            Cue::RoundEnd => &s.round_end,
            Cue::HostChanged => &s.host_changed,
        };
        commands.spawn((AudioPlayer::new(handle.clone()), PlaybackSettings::DESPAWN));
    }
}

/// Forgets this frame's cues (no sound built in).
#[cfg(not(feature = "audio"))]
pub fn play_cues(mut cues: ResMut<Cues>) {
    cues.0.clear();
}

/// The first gamepad's left stick and South button (A / cross) as movement and dash.
#[cfg(feature = "gamepad")]
pub fn gamepad_input(pads: &Query<&Gamepad>) -> Option<([f32; 2], bool)> {
    let pad = pads.iter().next()?;
    let stick = pad.left_stick();
    Some(([stick.x, stick.y], pad.just_pressed(GamepadButton::South)))
}
