//! The windowed game: the arena's rules ([`crate::arena`]) on `netcode`'s Bevy plugin,
//! drawn. Players and orbs are the plugin's replicated entities with a sprite attached;
//! the HUD ([`crate::hud`]) reads the store and the network figures; the F3 overlay
//! ([`crate::overlay`]) draws the graphs and the migration timeline. Started from the
//! command line, or from the menu ([`crate::menu`]) when the game has no subcommand.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use bevy::log::LogPlugin;
use bevy::prelude::*;
use netcode::PeerId;
use netcode::bevy::{NetOwned, NetPeer, NetRemote, NetcodePlugin};

use crate::arena::{self, ArenaPlugin, ArenaSet, Orb, Player, PlayerInput};
use crate::hud::{Hud, HudPlugin};
use crate::net::{Fault, Keeper, NetArgs, Start, keep_session, name_of};
use crate::palette::peer_colour;

/// Pixels per world unit.
pub const SCALE: f32 = 16.0;
/// What the player's terminal shows of the libraries' logs: warnings and errors, not
/// the engine's start-up notes nor the transport's notes on ordinary disconnects
/// (`RUST_LOG` overrides it).
const LOG_FILTER: &str = "renetcode=off,renet=error,netcode=error,arboard=error";
const LOG_LEVEL: bevy::log::Level = bevy::log::Level::WARN;
/// Height of a player's name above its disc, and of the host's crown, in pixels.
const LABEL_ABOVE: f32 = 24.0;
const CROWN_ABOVE: f32 = 40.0;
/// Draw order of the floor, the orbs, the players, their labels and the crown.
const Z_FLOOR: f32 = -1.0;
const Z_ORB: f32 = 0.5;
const Z_PLAYER: f32 = 1.0;
const Z_LABEL: f32 = 1.0;
const Z_CROWN: f32 = 3.0;
/// How much lighter a dashing player's disc is.
const DASH_LIGHTER: f32 = 0.25;

/// The sprites (from `assets/`).
#[derive(Resource)]
struct Art {
    player: Handle<Image>,
    orb: Handle<Image>,
}

/// The name above a player's disc (a child of the player's entity).
#[derive(Component)]
struct NameTag;

/// The crown above the host's disc.
#[derive(Component)]
struct HostCrown;

/// The session's player whose disc this is.
fn owner(me: PeerId, remote: Option<&NetRemote>) -> Option<PeerId> {
    match remote {
        None => Some(me),
        Some(r) => r.owner,
    }
}

fn asset_root() -> String {
    format!("{}/../assets", env!("CARGO_MANIFEST_DIR"))
}

/// The logging of a window the player sees (the game, the simulation view): warnings and
/// errors that concern the player, [`LOG_FILTER`] for the libraries.
pub fn player_log() -> LogPlugin {
    LogPlugin {
        filter: format!("{},{LOG_FILTER}", bevy::log::DEFAULT_FILTER),
        level: LOG_LEVEL,
        ..default()
    }
}

/// The window app with the plugins of the game (the session comes later, as [`NetPeer`]).
pub fn base_app(title: &str, round_len: std::time::Duration) -> App {
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: title.to_string(),
                    resolution: (1280, 720).into(),
                    ..default()
                }),
                ..default()
            })
            .set(AssetPlugin {
                file_path: asset_root(),
                ..default()
            })
            .set(player_log()),
    )
    .add_plugins((
        NetcodePlugin,
        ArenaPlugin { round_len },
        HudPlugin,
        crate::overlay::OverlayPlugin,
    ))
    .add_message::<Fault>()
    .insert_resource(ClearColor(Color::srgb(0.04, 0.05, 0.07)))
    .init_resource::<crate::extras::Cues>()
    .add_systems(Startup, (camera, crate::extras::setup))
    .add_systems(
        Update,
        (
            setup.run_if(resource_exists::<Hud>.and_then(not(resource_exists::<Art>))),
            (keep_session, keyboard_input.in_set(ArenaSet::Input))
                .run_if(resource_exists::<Keeper>.and_then(resource_exists::<NetPeer>)),
            crate::bot::steer
                .in_set(ArenaSet::Input)
                .after(keyboard_input)
                .run_if(|hud: Option<Res<Hud>>| hud.is_some_and(|h| h.bot)),
            (attach_sprites, place_sprites, crate::extras::play_cues)
                .chain()
                .after(ArenaSet::Play)
                .run_if(resource_exists::<Art>.and_then(resource_exists::<NetPeer>)),
            crate::run_script,
        ),
    );
    app
}

/// What the window needs once a session is started: the session, its keeper, the HUD.
pub fn start_session(commands: &mut Commands, peer: NetPeer, net: NetArgs, bot: bool) {
    let invite = peer.invite().map(|i| i.encode()).unwrap_or_default();
    let keeper = Keeper::new(net.clone()).unwrap_or_else(|e| {
        eprintln!("game: cannot announce on your network ({e}); friends can still join with the code");
        Keeper::new(NetArgs { lan: false, ..net }).expect("no LAN announcer to fail")
    });
    commands.insert_resource(peer);
    commands.insert_resource(keeper);
    commands.insert_resource(Hud::new(invite, bot));
}

/// Hosts or joins, then opens the arena window.
pub fn run_window(net: NetArgs, start: Start, bot: bool, frames: Option<u64>, screenshot: Option<PathBuf>) -> ExitCode {
    let rejoining = net.seat.as_ref().is_some_and(|p| p.exists());
    let started = net.round_len().and_then(|len| Ok((len, net.start(&start)?)));
    let (round_len, mut peer) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("game: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(start, Start::Host) && !rejoining {
        if let Err(e) = NetArgs::settle_host(&mut peer) {
            eprintln!("game: {e}");
            return ExitCode::from(2);
        }
        let invite = peer.invite().map(|i| i.encode()).unwrap_or_default();
        println!("invite code: {invite}");
    }
    let opened = SystemTime::now();
    let built = crate::catch_build(|| {
        let mut app = base_app("netcode arena", round_len);
        app.insert_resource(crate::Script {
            frames,
            screenshot: screenshot.clone(),
            frame: 0,
            started: None,
        });
        start_session(&mut app.world_mut().commands(), peer, net, bot);
        app.world_mut().flush();
        app
    });
    match built {
        Ok(app) => crate::run_app(app, screenshot, opened),
        Err(why) => {
            eprintln!("game: cannot open a window ({why}); run without one with `--headless`");
            ExitCode::FAILURE
        }
    }
}

fn camera(mut commands: Commands) {
    commands.spawn(Camera2d);
}

/// Loads the art and lays the floor and the crown, once a session started.
fn setup(mut commands: Commands, assets: Res<AssetServer>) {
    let side = 2.0 * arena::HALF * SCALE;
    commands.spawn((
        Sprite {
            image: assets.load("sprites/arena.png"),
            custom_size: Some(Vec2::splat(side)),
            image_mode: SpriteImageMode::Tiled {
                tile_x: true,
                tile_y: true,
                stretch_value: 1.0,
            },
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, Z_FLOOR),
    ));
    commands.spawn((
        Sprite {
            image: assets.load("sprites/crown.png"),
            custom_size: Some(Vec2::new(24.0, 18.0)),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, Z_CROWN),
        Visibility::Hidden,
        HostCrown,
    ));
    commands.insert_resource(Art {
        player: assets.load("sprites/player.png"),
        orb: assets.load("sprites/orb.png"),
    });
}

/// Our keyboard (or gamepad, or the bot) as this frame's [`PlayerInput`].
fn keyboard_input(
    keys: Res<ButtonInput<KeyCode>>,
    hud: Option<Res<Hud>>,
    mut input: ResMut<PlayerInput>,
    #[cfg(feature = "gamepad")] pads: Query<&Gamepad>,
) {
    if hud.is_some_and(|h| h.bot) {
        return; // `bot::steer` sets it.
    }
    let axis = |neg: [KeyCode; 2], pos: [KeyCode; 2]| {
        f32::from(u8::from(keys.any_pressed(pos))) - f32::from(u8::from(keys.any_pressed(neg)))
    };
    *input = PlayerInput {
        dir: [
            axis(
                [KeyCode::KeyA, KeyCode::ArrowLeft],
                [KeyCode::KeyD, KeyCode::ArrowRight],
            ),
            axis([KeyCode::KeyS, KeyCode::ArrowDown], [KeyCode::KeyW, KeyCode::ArrowUp]),
        ],
        dash: keys.just_pressed(KeyCode::Space),
    };
    #[cfg(feature = "gamepad")]
    if let Some((dir, dash)) = crate::extras::gamepad_input(&pads)
        && (dir[0].abs() > 0.2 || dir[1].abs() > 0.2 || dash)
    {
        *input = PlayerInput {
            dir,
            dash: dash || input.dash,
        };
    }
}

/// Gives every new player and orb its sprite (and a player its name tag).
fn attach_sprites(
    mut commands: Commands,
    art: Res<Art>,
    players: Query<Entity, (With<Player>, Without<Sprite>)>,
    orbs: Query<Entity, (With<Orb>, Without<Sprite>)>,
) {
    for entity in &players {
        commands.entity(entity).insert((
            Sprite {
                image: art.player.clone(),
                custom_size: Some(Vec2::splat(2.0 * arena::PLAYER_RADIUS * SCALE)),
                ..default()
            },
            Transform::default(),
            Visibility::Hidden,
            children![(
                Text2d::new(""),
                TextFont {
                    font_size: bevy::text::FontSize::Px(14.0),
                    ..default()
                },
                Transform::from_xyz(0.0, LABEL_ABOVE, Z_LABEL),
                NameTag,
            )],
        ));
    }
    for entity in &orbs {
        commands.entity(entity).insert(Sprite {
            image: art.orb.clone(),
            custom_size: Some(Vec2::splat(4.0 * arena::ORB_RADIUS * SCALE)),
            ..default()
        });
    }
}

/// What [`place_sprites`] updates on a player.
type PlayerParts = (
    &'static Player,
    Option<&'static NetRemote>,
    &'static mut Transform,
    &'static mut Sprite,
    &'static mut Visibility,
    &'static Children,
);

/// Moves the sprites to the replicated positions; shows the active players only; puts
/// the crown on the host.
#[allow(clippy::type_complexity)]
fn place_sprites(
    net: Res<NetPeer>,
    mut players: Query<PlayerParts, (With<Sprite>, Or<(With<NetOwned>, With<NetRemote>)>)>,
    mut orbs: Query<(&Orb, &mut Transform), (With<Sprite>, Without<Player>)>,
    mut tags: Query<&mut Text2d, With<NameTag>>,
    mut crown: Query<(&mut Transform, &mut Visibility), (With<HostCrown>, Without<Player>, Without<Orb>)>,
) {
    let session = net.session();
    let to_px = |x: f32, y: f32| Vec2::new(x * SCALE, y * SCALE);
    let mut host_at = None;
    for (player, remote, mut tf, mut sprite, mut visible, children) in &mut players {
        let Some(peer) = owner(session.peer_id(), remote) else {
            continue;
        };
        let active = session.roster().get(peer).is_some_and(|m| m.is_active()) || remote.is_none();
        *visible = if active {
            Visibility::Visible
        } else {
            Visibility::Hidden
        };
        tf.translation = to_px(player.x, player.y).extend(Z_PLAYER);
        let colour = peer_colour(session, peer);
        sprite.color = if player.dashing {
            colour.lighter(DASH_LIGHTER)
        } else {
            colour
        };
        if session.current_host() == Some(peer) && active {
            host_at = Some(tf.translation.truncate());
        }
        for child in children {
            if let Ok(mut text) = tags.get_mut(*child) {
                let name = name_of(session, peer);
                if text.0 != name {
                    text.0 = name;
                }
            }
        }
    }
    for (orb, mut tf) in &mut orbs {
        tf.translation = to_px(orb.x, orb.y).extend(Z_ORB);
    }
    if let Ok((mut tf, mut visible)) = crown.single_mut() {
        match host_at {
            Some(at) => {
                tf.translation = (at + Vec2::new(0.0, CROWN_ABOVE)).extend(Z_CROWN);
                *visible = Visibility::Visible;
            }
            None => *visible = Visibility::Hidden,
        }
    }
}
