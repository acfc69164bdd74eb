//! The windowed game: the arena, the players, the orbs, the scoreboard (crown on the host,
//! ping and link state of each peer), the round clock, toasts when the host changes, an
//! F3 network overlay, and a small menu when started without a subcommand.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use netcode::transport::Peer;
use netcode::{LinkState, PeerId, SessionEvent};

use crate::arena::{self, GameEvent, Input, Match};
use crate::net::{NetArgs, Start, link_label, link_word, name_of, pause_of};

/// Pixels per world unit.
const SCALE: f32 = 16.0;
/// How long a toast stays.
const TOAST_SECS: f32 = 4.0;
/// Samples kept per graph of the F3 overlay (10 per second).
const GRAPH_SAMPLES: usize = 100;
/// Seconds without any other member reachable before "reconnecting..." shows.
const LOST_AFTER: f32 = 1.0;
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

/// The running game of this window.
#[derive(Resource)]
struct Game {
    peer: Peer,
    net: NetArgs,
    game: Match,
    bot: bool,
    invite: String,
    toasts: VecDeque<(String, f32)>,
    banner: Option<(String, f32)>,
    lost_for: f32,
    saved: Option<netcode::roster::RosterDigest>,
    overlay: bool,
    graphs: BTreeMap<PeerId, VecDeque<[f32; 2]>>,
    rates: VecDeque<[f32; 2]>,
    last_bytes: (u64, u64),
    graph_clock: f32,
    error: Option<String>,
    last_score: Option<u32>,
    /// `--lan`: the session's beacons on the local networks.
    lan: Option<crate::net::LanAnnounce>,
}

#[derive(Component)]
struct PlayerSprite(PeerId);
#[derive(Component)]
struct PlayerLabel(PeerId);
#[derive(Component)]
struct OrbSprite(u32);
#[derive(Component)]
struct Scoreboard;
#[derive(Component)]
struct Clock;
#[derive(Component)]
struct Toasts;
#[derive(Component)]
struct InviteText;
#[derive(Component)]
struct Overlay;
#[derive(Component)]
struct HostCrown;

/// The sprites and sounds (from `assets/`).
#[derive(Resource)]
struct Art {
    player: Handle<Image>,
    orb: Handle<Image>,
    crown: Handle<Image>,
}

fn asset_root() -> String {
    format!("{}/../assets", env!("CARGO_MANIFEST_DIR"))
}

fn base_app(title: &str) -> App {
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
            }),
    )
    .insert_resource(ClearColor(Color::srgb(0.04, 0.05, 0.07)));
    app
}

/// The game of a peer that just hosted or joined.
fn new_game(peer: Peer, net: NetArgs, bot: bool, invite: String, round_len: std::time::Duration) -> Game {
    let seed = peer.session().peer_id().0;
    let lan = net.lan_announce().unwrap_or_else(|e| {
        eprintln!("game: cannot announce on your network ({e}); friends can still join with the code");
        None
    });
    Game {
        peer,
        net,
        game: Match::new(seed, round_len),
        bot,
        invite,
        toasts: VecDeque::new(),
        banner: None,
        lost_for: 0.0,
        saved: None,
        overlay: false,
        graphs: BTreeMap::new(),
        rates: VecDeque::new(),
        last_bytes: (0, 0),
        graph_clock: 0.0,
        error: None,
        last_score: None,
        lan,
    }
}

/// The game's systems; they run once a [`Game`] exists (at once, or after the menu).
fn add_game_systems(app: &mut App) {
    app.init_resource::<crate::extras::Cues>()
        .add_systems(Startup, (camera, crate::extras::setup))
        .add_systems(
            Update,
            (
                setup.run_if(resource_exists::<Game>.and_then(not(resource_exists::<Art>))),
                (network, crate::extras::play_cues, sync_world, hud, overlay)
                    .run_if(resource_exists::<Game>.and_then(resource_exists::<Art>)),
                crate::run_script,
            )
                .chain(),
        );
}

/// Hosts or joins, then opens the arena window.
pub fn run_window(net: NetArgs, start: Start, bot: bool, frames: Option<u64>, screenshot: Option<PathBuf>) -> ExitCode {
    let rejoining = net.seat.as_ref().is_some_and(|p| p.exists());
    let round_len = match net.round_len() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("game: {e}");
            return ExitCode::from(2);
        }
    };
    let peer = match net.start(&start) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("game: {e}");
            return ExitCode::from(2);
        }
    };
    let invite = peer.invite().encode();
    if matches!(start, Start::Host) && !rejoining {
        println!("invite code: {invite}");
    }
    let started = SystemTime::now();
    let game = new_game(peer, net, bot, invite, round_len);
    let built = crate::catch_build(|| {
        let mut app = base_app("netcode arena");
        app.insert_resource(game).insert_resource(crate::Script {
            frames,
            screenshot: screenshot.clone(),
            frame: 0,
            started: None,
        });
        add_game_systems(&mut app);
        app
    });
    match built {
        Ok(app) => crate::run_app(app, screenshot, started),
        Err(why) => {
            eprintln!("game: cannot open a window ({why}); run without one with `--headless`");
            ExitCode::FAILURE
        }
    }
}

fn camera(mut commands: Commands) {
    commands.spawn(Camera2d);
}

fn setup(mut commands: Commands, assets: Res<AssetServer>) {
    let art = Art {
        player: assets.load("sprites/player.png"),
        orb: assets.load("sprites/orb.png"),
        crown: assets.load("sprites/crown.png"),
    };
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
        Transform::from_xyz(0.0, 0.0, -1.0),
    ));
    commands.spawn((
        Sprite {
            image: art.crown.clone(),
            custom_size: Some(Vec2::new(24.0, 18.0)),
            ..default()
        },
        Transform::from_xyz(0.0, 0.0, 3.0),
        Visibility::Hidden,
        HostCrown,
    ));
    commands.insert_resource(art);
    let text = |size: f32| TextFont {
        font_size: bevy::text::FontSize::Px(size),
        ..default()
    };
    commands.spawn((
        Text::new(""),
        text(18.0),
        Node {
            position_type: PositionType::Absolute,
            left: Val::Px(16.0),
            top: Val::Px(12.0),
            ..default()
        },
        Scoreboard,
    ));
    commands.spawn((
        Text::new(""),
        text(26.0),
        Node {
            position_type: PositionType::Absolute,
            right: Val::Px(16.0),
            top: Val::Px(12.0),
            ..default()
        },
        Clock,
    ));
    commands.spawn((
        Text::new(""),
        text(22.0),
        TextColor(Color::srgb(1.0, 0.9, 0.5)),
        Node {
            position_type: PositionType::Absolute,
            left: Val::Percent(30.0),
            top: Val::Px(60.0),
            ..default()
        },
        Toasts,
    ));
    commands.spawn((
        Text::new(""),
        text(14.0),
        TextColor(Color::srgb(0.7, 0.75, 0.8)),
        Node {
            position_type: PositionType::Absolute,
            left: Val::Px(16.0),
            bottom: Val::Px(10.0),
            ..default()
        },
        InviteText,
    ));
    commands.spawn((
        Text::new(""),
        text(14.0),
        TextColor(Color::srgb(0.6, 1.0, 0.7)),
        Node {
            position_type: PositionType::Absolute,
            right: Val::Px(16.0),
            bottom: Val::Px(40.0),
            ..default()
        },
        Overlay,
    ));
}

fn keyboard_input(keys: &ButtonInput<KeyCode>) -> Input {
    let axis = |neg: [KeyCode; 2], pos: [KeyCode; 2]| {
        f32::from(u8::from(keys.any_pressed(pos))) - f32::from(u8::from(keys.any_pressed(neg)))
    };
    Input {
        dir: [
            axis(
                [KeyCode::KeyA, KeyCode::ArrowLeft],
                [KeyCode::KeyD, KeyCode::ArrowRight],
            ),
            axis([KeyCode::KeyS, KeyCode::ArrowDown], [KeyCode::KeyW, KeyCode::ArrowUp]),
        ],
        dash: keys.just_pressed(KeyCode::Space),
    }
}

/// Polls the network, turns events into toasts, and steps the match.
fn network(
    mut g: ResMut<Game>,
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    mut exit: MessageWriter<AppExit>,
    mut cues: ResMut<crate::extras::Cues>,
    mut clipboard: ResMut<bevy::clipboard::Clipboard>,
    #[cfg(feature = "gamepad")] pads: Query<&Gamepad>,
) {
    use crate::extras::Cue;
    let g = &mut *g;
    if keys.just_pressed(KeyCode::KeyC) {
        let toast = match clipboard.set_text(g.invite.clone()) {
            Ok(()) => "invite code copied: paste it to your friends".to_string(),
            Err(e) => format!("cannot copy the invite code ({e}); it is printed in the terminal"),
        };
        g.toasts.push_back((toast, TOAST_SECS));
    }
    let dt = time.delta_secs().min(0.1);
    if keys.just_pressed(KeyCode::F3) {
        g.overlay = !g.overlay;
    }
    if keys.just_pressed(KeyCode::Escape) {
        g.peer.leave();
    }
    if let Some(lan) = g.lan.as_mut() {
        lan.tick(&g.peer);
    }
    if let Err(e) = g.peer.poll() {
        if g.error.is_none() {
            eprintln!("game: {e}");
            g.toasts.push_back((e.to_string(), 1e9));
        }
        g.error = Some(e.to_string());
        return;
    }
    while let Some(event) = g.peer.session_mut().poll_event() {
        let s = g.peer.session();
        let toast = match &event {
            SessionEvent::HostChanged { old, new, .. } => {
                cues.0.push(Cue::HostChanged);
                let pause = pause_of(&g.peer, &event).as_secs_f32();
                Some(format!(
                    "{} left: {} is hosting now, {pause:.2} s",
                    name_of(s, *old),
                    name_of(s, *new)
                ))
            }
            SessionEvent::PeerJoined { peer } => Some(format!("{} joined", name_of(s, *peer))),
            SessionEvent::PeerAway { peer } => Some(format!("{} dropped; their seat is held", name_of(s, *peer))),
            SessionEvent::PeerRejoined { peer } => Some(format!("{} is back", name_of(s, *peer))),
            SessionEvent::PeerLeft { peer, .. } => Some(format!("{} left", name_of(s, *peer))),
            SessionEvent::Joined { rejoined: true, .. } => Some("rejoined".to_string()),
            SessionEvent::Left => {
                exit.write(AppExit::Success);
                None
            }
            _ => None,
        };
        if let Some(t) = toast {
            g.toasts.push_back((t, TOAST_SECS));
        }
    }
    let digest = g.peer.session().roster().digest();
    if g.peer.session().in_session() && g.saved != Some(digest) {
        if let Err(e) = g.net.save_seat(&g.peer) {
            eprintln!("game: {e}");
        }
        g.saved = Some(digest);
    }
    let now = g.peer.now();
    let input = if g.bot {
        crate::bot::input(&g.game, g.peer.session(), now)
    } else {
        let input = keyboard_input(&keys);
        #[cfg(feature = "gamepad")]
        let input = match crate::extras::gamepad_input(&pads) {
            Some((dir, dash)) if dir[0].abs() > 0.2 || dir[1].abs() > 0.2 || dash => Input {
                dir,
                dash: dash || input.dash,
            },
            _ => input,
        };
        input
    };
    if input.dash {
        cues.0.push(Cue::Dash);
    }
    for event in g.game.step(g.peer.session_mut(), input, now, dt) {
        if let GameEvent::RoundEnd { round, scores } = event {
            cues.0.push(Cue::RoundEnd);
            let s = g.peer.session();
            let text = match scores.first() {
                Some((p, n)) => format!("Round {round}: {} wins with {n}!", name_of(s, *p)),
                None => format!("Round {round} is over"),
            };
            g.banner = Some((text, arena::INTERMISSION.as_secs_f32()));
        }
    }
    let me = g.peer.session().peer_id();
    let score = Match::score(g.peer.session(), me);
    match g.last_score.replace(score) {
        Some(before) if score > before => cues.0.push(Cue::Pickup),
        Some(before) if score < before && score > 0 => cues.0.push(Cue::Hit),
        _ => {}
    }
    // Are we cut off from everyone?
    let s = g.peer.session();
    let others: Vec<PeerId> = s
        .roster()
        .active()
        .map(|m| m.id)
        .filter(|p| *p != s.peer_id())
        .collect();
    let reachable = others.iter().any(|p| s.link_state(*p) != LinkState::Down);
    g.lost_for = if others.is_empty() || reachable {
        0.0
    } else {
        g.lost_for + dt
    };
    for t in g.toasts.iter_mut() {
        t.1 -= dt;
    }
    g.toasts.retain(|t| t.1 > 0.0);
    if let Some(b) = &mut g.banner {
        b.1 -= dt;
    }
    if g.banner.as_ref().is_some_and(|b| b.1 <= 0.0) {
        g.banner = None;
    }
    // Graph samples, ten a second.
    g.graph_clock += dt;
    if g.graph_clock >= 0.1 {
        let elapsed = g.graph_clock;
        g.graph_clock = 0.0;
        let stats = g.peer.session().stats();
        let (up, down) = (stats.bytes_sent - g.last_bytes.0, stats.bytes_received - g.last_bytes.1);
        g.last_bytes = (stats.bytes_sent, stats.bytes_received);
        let kbps = |b: u64| b as f32 * 8.0 / 1000.0 / elapsed;
        g.rates.push_back([kbps(up), kbps(down)]);
        if g.rates.len() > GRAPH_SAMPLES {
            g.rates.pop_front();
        }
        let s = g.peer.session();
        let samples: Vec<(PeerId, [f32; 2])> = others
            .iter()
            .map(|p| {
                let rtt = s.rtt(*p).map_or(0.0, |r| r as f32 * 1000.0);
                let loss = s.packet_loss(*p).map_or(0.0, |l| l as f32 * 100.0);
                (*p, [rtt, loss])
            })
            .collect();
        g.graphs.retain(|p, _| others.contains(p));
        for (p, v) in samples {
            let h = g.graphs.entry(p).or_default();
            h.push_back(v);
            if h.len() > GRAPH_SAMPLES {
                h.pop_front();
            }
        }
    }
}

fn colour(session: &netcode::Session, peer: PeerId) -> Color {
    let i = session.roster().get(peer).map_or(0, |m| m.join_seq as usize) % COLOURS.len();
    let (r, g, b) = COLOURS[i];
    Color::srgb(r, g, b)
}

/// Spawns, moves and despawns the sprites of players and orbs.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sync_world(
    mut commands: Commands,
    g: Res<Game>,
    art: Res<Art>,
    mut players: Query<(Entity, &PlayerSprite, &mut Transform, &mut Sprite), Without<HostCrown>>,
    mut labels: Query<(Entity, &PlayerLabel, &mut Transform, &mut Text2d), (Without<PlayerSprite>, Without<HostCrown>)>,
    orbs: Query<(Entity, &OrbSprite)>,
    mut crown: Query<(&mut Transform, &mut Visibility), With<HostCrown>>,
) {
    let s = g.peer.session();
    let now = g.peer.now();
    let views = g.game.players(s, now);
    let to_px = |p: [f32; 2]| Vec2::new(p[0] * SCALE, p[1] * SCALE);
    for (e, tag, mut tf, mut sprite) in &mut players {
        match views.iter().find(|v| v.peer == tag.0) {
            Some(v) => {
                tf.translation = to_px(v.pos).extend(1.0);
                let c = colour(s, v.peer);
                sprite.color = if v.dashing { c.lighter(0.25) } else { c };
            }
            None => commands.entity(e).despawn(),
        }
    }
    for (e, tag, mut tf, mut label) in &mut labels {
        match views.iter().find(|v| v.peer == tag.0) {
            Some(v) => {
                tf.translation = (to_px(v.pos) + Vec2::new(0.0, 24.0)).extend(2.0);
                let name = name_of(s, v.peer);
                if label.0 != name {
                    label.0 = name; // Our own name is known once we are in.
                }
            }
            None => commands.entity(e).despawn(),
        }
    }
    for v in &views {
        if !players.iter().any(|(_, t, ..)| t.0 == v.peer) {
            commands.spawn((
                Sprite {
                    image: art.player.clone(),
                    custom_size: Some(Vec2::splat(2.0 * arena::PLAYER_RADIUS * SCALE)),
                    color: colour(s, v.peer),
                    ..default()
                },
                Transform::from_translation(to_px(v.pos).extend(1.0)),
                PlayerSprite(v.peer),
            ));
            commands.spawn((
                Text2d::new(name_of(s, v.peer)),
                TextFont {
                    font_size: bevy::text::FontSize::Px(14.0),
                    ..default()
                },
                Transform::from_translation((to_px(v.pos) + Vec2::new(0.0, 24.0)).extend(2.0)),
                PlayerLabel(v.peer),
            ));
        }
    }
    if let Ok((mut tf, mut vis)) = crown.single_mut() {
        match s.host().and_then(|h| views.iter().find(|v| v.peer == h)) {
            Some(v) => {
                tf.translation = (to_px(v.pos) + Vec2::new(0.0, 40.0)).extend(3.0);
                *vis = Visibility::Visible;
            }
            None => *vis = Visibility::Hidden,
        }
    }
    let field = Match::orbs(s);
    for (e, tag) in &orbs {
        if !field.iter().any(|(id, _)| *id == tag.0) {
            commands.entity(e).despawn();
        }
    }
    for (id, pos) in field {
        if !orbs.iter().any(|(_, t)| t.0 == id) {
            commands.spawn((
                Sprite {
                    image: art.orb.clone(),
                    custom_size: Some(Vec2::splat(4.0 * arena::ORB_RADIUS * SCALE)),
                    ..default()
                },
                Transform::from_translation(to_px(pos).extend(0.5)),
                OrbSprite(id),
            ));
        }
    }
}

/// Scoreboard, clock, toasts, invite line.
#[allow(clippy::type_complexity)]
fn hud(
    g: Res<Game>,
    mut board: Query<&mut Text, (With<Scoreboard>, Without<Clock>, Without<Toasts>, Without<InviteText>)>,
    mut clock: Query<&mut Text, (With<Clock>, Without<Toasts>, Without<InviteText>)>,
    mut toasts: Query<&mut Text, (With<Toasts>, Without<InviteText>)>,
    mut invite: Query<&mut Text, With<InviteText>>,
) {
    let s = g.peer.session();
    let now = g.peer.now();
    if let Ok(mut text) = board.single_mut() {
        let mut rows: Vec<(u32, String)> = s
            .roster()
            .members
            .iter()
            .map(|m| {
                let score = Match::score(s, m.id);
                let crown = if s.host() == Some(m.id) { "[host] " } else { "       " };
                let link = if m.id == s.peer_id() {
                    "you".to_string()
                } else if !m.is_active() {
                    "away".to_string()
                } else {
                    let ping = s
                        .rtt(m.id)
                        .map_or(String::from("  - "), |r| format!("{:>3.0} ms", r * 1000.0));
                    format!("{ping} {}", link_label(s, m.id))
                };
                (score, format!("{crown}{:<12} {score:>3}   {link}", m.name))
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        **text = rows.into_iter().map(|r| r.1).collect::<Vec<_>>().join("\n");
    }
    if let Ok(mut text) = clock.single_mut() {
        **text = match Match::round(s) {
            Some((n, ends, len)) => {
                let left = ends.saturating_sub(now).as_secs();
                if left > len.as_secs() {
                    format!("next round in {}", left - len.as_secs())
                } else {
                    format!("Round {n}  {}:{:02}", left / 60, left % 60)
                }
            }
            None if !s.in_session() => "joining...".to_string(),
            None => String::new(),
        };
    }
    if let Ok(mut text) = toasts.single_mut() {
        let mut lines: Vec<String> = g.banner.iter().map(|b| b.0.clone()).collect();
        if g.lost_for > LOST_AFTER {
            lines.push("reconnecting...".to_string());
        }
        lines.extend(g.toasts.iter().map(|t| t.0.clone()));
        **text = lines.join("\n");
    }
    if let Ok(mut text) = invite.single_mut() {
        **text = format!(
            "invite: {}   (C copies it; WASD/arrows move, Space dash, F3 network, Esc leave)",
            g.invite
        );
    }
}

/// The F3 overlay: per peer, rtt and loss over the last ten seconds; our kbps up and down.
fn overlay(g: Res<Game>, mut text: Query<&mut Text, With<Overlay>>) {
    let Ok(mut text) = text.single_mut() else { return };
    if !g.overlay {
        text.clear();
        return;
    }
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let spark = |values: &mut dyn Iterator<Item = f32>| {
        let v: Vec<f32> = values.collect();
        let max = v.iter().copied().fold(1e-3, f32::max);
        let line: String = v
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(|x| BARS[((x / max) * 7.0).round().clamp(0.0, 7.0) as usize])
            .collect();
        (line, v.last().copied().unwrap_or(0.0), max)
    };
    let s = g.peer.session();
    let mut out = vec!["network (last 4 s)".to_string()];
    let (up, now_up, _) = spark(&mut g.rates.iter().map(|r| r[0]));
    let (down, now_down, _) = spark(&mut g.rates.iter().map(|r| r[1]));
    out.push(format!("up   {up} {now_up:>6.1} kbps"));
    out.push(format!("down {down} {now_down:>6.1} kbps"));
    for (peer, h) in &g.graphs {
        let (rtt, now_rtt, _) = spark(&mut h.iter().map(|v| v[0]));
        let (loss, now_loss, _) = spark(&mut h.iter().map(|v| v[1]));
        out.push(format!("{} ({})", name_of(s, *peer), link_word(s.link_state(*peer))));
        out.push(format!("  rtt  {rtt} {now_rtt:>5.0} ms"));
        out.push(format!("  loss {loss} {now_loss:>5.1} %"));
    }
    **text = out.join("\n");
}

/// The menu: type a name and an invite code, then host or join; or join a game on your
/// network.
#[derive(Resource, Default)]
struct Menu {
    name: String,
    code: String,
    field: usize,
    error: Option<String>,
    /// Hears the games announced on the local networks (none if the port is taken).
    lan: Option<netcode::lan::Listener>,
    /// The games heard lately.
    games: Vec<netcode::lan::LanGame>,
    /// A session being started in the background (asking a rendezvous service may take
    /// seconds; the window stays responsive meanwhile).
    starting: Option<std::sync::Mutex<std::sync::mpsc::Receiver<Result<Started, String>>>>,
}

/// A session the menu started, ready to play.
struct Started {
    peer: Peer,
    net: NetArgs,
    hosting: bool,
}

#[derive(Debug, Clone)]
enum MenuChoice {
    Host,
    /// Host and announce the game on the local networks.
    HostLan,
    Join,
    /// Join the Nth game heard on the network.
    JoinLan(usize),
}

/// Keys that join the games listed on the network (with Ctrl).
const LAN_KEYS: [KeyCode; 9] = [
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

#[derive(Component)]
struct MenuText;

/// Opens the menu window; after a choice, the game itself.
pub fn run_menu() -> ExitCode {
    let built = crate::catch_build(|| {
        let mut app = base_app("netcode arena");
        let lan_port = std::env::var("NETCODE_LAN_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(netcode::lan::DEFAULT_LAN_PORT);
        app.insert_resource(Menu {
            name: std::env::var("USER").unwrap_or_default(),
            lan: netcode::lan::Listener::bind(lan_port).ok(),
            ..default()
        })
        .insert_resource(crate::Script {
            frames: None,
            screenshot: None,
            frame: 0,
            started: None,
        })
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((
                Text::new(""),
                TextFont {
                    font_size: bevy::text::FontSize::Px(26.0),
                    ..default()
                },
                Node {
                    position_type: PositionType::Absolute,
                    left: Val::Px(120.0),
                    top: Val::Px(140.0),
                    ..default()
                },
                MenuText,
            ));
        })
        .add_systems(Update, menu.run_if(resource_exists::<Menu>));
        add_game_systems(&mut app);
        app
    });
    match built {
        Ok(app) => crate::run_app(app, None, SystemTime::now()),
        Err(why) => {
            eprintln!("game: cannot open a window ({why}); run without one with `--headless`");
            ExitCode::FAILURE
        }
    }
}

/// What the menu's Ctrl shortcuts chose this frame, if anything.
fn menu_choice(keys: &ButtonInput<KeyCode>, ctrl: bool, m: &Menu) -> Option<MenuChoice> {
    if !ctrl {
        return None;
    }
    let lan_key = LAN_KEYS.iter().position(|k| keys.just_pressed(*k));
    if keys.just_pressed(KeyCode::KeyH) {
        Some(MenuChoice::Host)
    } else if keys.just_pressed(KeyCode::KeyL) {
        Some(MenuChoice::HostLan)
    } else if keys.just_pressed(KeyCode::KeyJ) && !m.code.trim().is_empty() {
        Some(MenuChoice::Join)
    } else {
        lan_key.filter(|n| *n < m.games.len()).map(MenuChoice::JoinLan)
    }
}

/// The menu's "games on your network" lines.
fn lan_list(m: &Menu) -> String {
    if m.lan.is_none() {
        return "Games on your network: cannot listen (another game holds the port)".into();
    }
    if m.games.is_empty() {
        return "Games on your network: none yet".into();
    }
    let mut out = vec!["Games on your network:".to_string()];
    for (i, g) in m.games.iter().take(LAN_KEYS.len()).enumerate() {
        let b = &g.beacon;
        let players = if b.players == 1 { "player" } else { "players" };
        out.push(format!(
            "  Ctrl+{}: {} ({} {players}, at {})",
            i + 1,
            b.name,
            b.players,
            g.from
        ));
    }
    out.join("\n")
}

/// Starts the session the menu chose and hands the window over to the game.
fn start_from_menu(
    m: &Menu,
    choice: &MenuChoice,
) -> Result<std::sync::mpsc::Receiver<Result<Started, String>>, String> {
    let net = NetArgs {
        name: if m.name.trim().is_empty() {
            "player".into()
        } else {
            m.name.trim().chars().take(32).collect()
        },
        port: 0,
        bind: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        seat: None,
        round_secs: arena::ROUND.as_secs_f64(),
        sim_latency: 0.0,
        sim_jitter: 0.0,
        sim_loss: 0.0,
        // The menu hosts through the rendezvous service of the environment, if any; a
        // code to join names its own.
        rendezvous: std::env::var("NETCODE_RENDEZVOUS")
            .ok()
            .filter(|v| !v.trim().is_empty()),
        lan: matches!(choice, MenuChoice::HostLan),
        lan_port: netcode::lan::DEFAULT_LAN_PORT,
    };
    let start = match choice {
        MenuChoice::Host | MenuChoice::HostLan => Start::Host,
        MenuChoice::Join => Start::Join(m.code.trim().to_string()),
        MenuChoice::JoinLan(n) => {
            let game = m.games.get(*n).ok_or("that game is gone from your network")?;
            Start::Join(game.beacon.invite.clone())
        }
    };
    net.round_len()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = net.start(&start).map(|peer| Started {
            peer,
            hosting: matches!(start, Start::Host),
            net,
        });
        let _ = tx.send(started);
    });
    Ok(rx)
}

/// Hands the window over to the game once the session the menu started is ready;
/// whether it did.
fn enter_game(commands: &mut Commands, m: &mut Menu) -> bool {
    let Some(rx) = &m.starting else { return false };
    let received = match rx.lock() {
        Ok(rx) => rx.try_recv(),
        Err(_) => Err(std::sync::mpsc::TryRecvError::Disconnected),
    };
    let started = match received {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => {
            m.error = Some(e);
            m.starting = None;
            return false;
        }
        Err(std::sync::mpsc::TryRecvError::Empty) => return false,
        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
            m.error = Some("starting the session failed".into());
            m.starting = None;
            return false;
        }
    };
    let Started { peer, net, hosting } = started;
    let invite = peer.invite().encode();
    if hosting {
        println!("invite code: {invite}");
    }
    let round_len = net.round_len().unwrap_or(arena::ROUND);
    commands.insert_resource(new_game(peer, net, false, invite, round_len));
    commands.remove_resource::<Menu>();
    true
}

fn menu(
    mut commands: Commands,
    mut m: ResMut<Menu>,
    mut typed: MessageReader<KeyboardInput>,
    keys: Res<ButtonInput<KeyCode>>,
    mut clipboard: ResMut<bevy::clipboard::Clipboard>,
    mut text: Query<&mut Text, With<MenuText>>,
    mut exit: MessageWriter<AppExit>,
) {
    for ev in typed.read() {
        if !ev.state.is_pressed() {
            continue;
        }
        let field = m.field;
        let target = if field == 0 { &mut m.name } else { &mut m.code };
        match &ev.logical_key {
            // Ctrl+letter shortcuts are not text.
            Key::Character(_)
                if keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight])
                    || keys.any_just_released([KeyCode::ControlLeft, KeyCode::ControlRight]) => {}
            Key::Character(c) if target.len() < 300 => target.push_str(c),
            Key::Backspace => {
                target.pop();
            }
            Key::Tab => m.field = 1 - field,
            _ => {}
        }
    }
    // A quick Ctrl+key may press and release Ctrl within one frame.
    let ctrl_keys = [KeyCode::ControlLeft, KeyCode::ControlRight];
    let ctrl = keys.any_pressed(ctrl_keys) || keys.any_just_released(ctrl_keys);
    if ctrl
        && keys.just_pressed(KeyCode::KeyV)
        && let Some(Ok(text)) = clipboard.fetch_text().poll_result()
    {
        let text = text.trim().to_string();
        if text.starts_with("nc1-") {
            m.code = text.chars().take(300).collect();
            m.field = 1;
        } else if m.field == 0 {
            m.name = text.chars().take(32).collect();
        } else {
            m.code = text.chars().take(300).collect();
        }
    }
    if let Some(lan) = m.lan.as_mut() {
        m.games = lan.poll();
    }
    if enter_game(&mut commands, &mut m) {
        if let Ok(mut t) = text.single_mut() {
            t.clear();
        }
        return;
    }
    if m.starting.is_none()
        && let Some(choice) = menu_choice(&keys, ctrl, &m)
    {
        m.error = None;
        match start_from_menu(&m, &choice) {
            Ok(rx) => m.starting = Some(std::sync::Mutex::new(rx)),
            Err(e) => m.error = Some(e),
        }
    }
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::Success);
    }
    if let Ok(mut t) = text.single_mut() {
        let mark = |i: usize| if m.field == i { ">" } else { " " };
        **t = format!(
            "netcode arena\n\n{} Name:  {}\n{} Invite code:  {}\n{}\nTab: switch field    Ctrl+V: paste    Ctrl+J: Join    Esc: Quit\n\
             Ctrl+H: Host    Ctrl+L: Host and announce on your network\n\n\
             {}\n\n(or from a terminal: game host --name N | game join CODE | game lan)",
            mark(0),
            m.name,
            mark(1),
            if m.code.is_empty() {
                "(type or paste the code)"
            } else {
                &m.code
            },
            if m.starting.is_some() {
                "Connecting..."
            } else {
                m.error.as_deref().unwrap_or("")
            },
            lan_list(&m)
        );
    }
}
