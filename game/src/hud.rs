//! The window's HUD: the scoreboard (the host marked, each peer's ping and link), the
//! round clock, toasts for what happens in the session (from the plugin's messages), the
//! winner banner, and the invite line. C copies the invite code, Esc leaves.

use std::collections::VecDeque;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use netcode::SessionEvent;
use netcode::bevy::{
    HostChanged, NetError, NetEvent, NetPeer, NetState, NetStats, NetStoreRead, PeerAway, PeerJoined, PeerLeft,
    PeerRejoined, SelfJoined,
};

use crate::arena::{self, GameEvent, PlayerInput, ROUND_KEY, Round};
use crate::extras::{Cue, Cues};
use crate::net::{Fault, link_label, name_of};

/// How long a toast stays, in seconds.
const TOAST_SECS: f32 = 4.0;
/// Text sizes of the scoreboard, the clock, the toasts and the invite line.
const BOARD_PX: f32 = 18.0;
const CLOCK_PX: f32 = 26.0;
const TOAST_PX: f32 = 22.0;
const INVITE_PX: f32 = 14.0;

/// The HUD's state; inserted when a session starts.
#[derive(Resource)]
pub struct Hud {
    /// The session's invite code.
    invite: String,
    /// An AI steers our player (`--bot`).
    pub bot: bool,
    /// Lines shown for a while, with their seconds left.
    toasts: VecDeque<(String, f32)>,
    /// The winner of the last round, with its seconds left.
    banner: Option<(String, f32)>,
    /// The failure shown (once) for good.
    error: Option<String>,
    /// Our score last frame (for the sounds).
    last_score: Option<u32>,
}

impl Hud {
    /// The HUD of a session with this invite code.
    pub fn new(invite: String, bot: bool) -> Self {
        Hud {
            invite,
            bot,
            toasts: VecDeque::new(),
            banner: None,
            error: None,
            last_score: None,
        }
    }

    fn toast(&mut self, text: String) {
        self.toasts.push_back((text, TOAST_SECS));
    }

    /// Shows a failure for good (the first one) and prints it once.
    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            eprintln!("game: {message}");
            self.toasts.push_back((message.clone(), f32::INFINITY));
            self.error = Some(message);
        }
    }
}

#[derive(Component)]
struct Scoreboard;
#[derive(Component)]
struct Clock;
#[derive(Component)]
struct Toasts;
#[derive(Component)]
struct InviteText;

/// The HUD's systems; they run while a [`Hud`] and a [`NetPeer`] exist.
pub struct HudPlugin;

impl Plugin for HudPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (
                spawn_ui.run_if(resource_added::<Hud>),
                (keys, news, sounds, refresh_invite, texts)
                    .chain()
                    .after(arena::ArenaSet::Play)
                    .run_if(resource_exists::<Hud>.and_then(resource_exists::<NetPeer>)),
            )
                .chain(),
        );
    }
}

/// The session's code, again every second: a host's names its public address once a STUN
/// server told it (`--online`, `--stun`).
fn refresh_invite(time: Res<Time>, peer: Res<NetPeer>, mut hud: ResMut<Hud>, mut since: Local<f32>) {
    *since += time.delta_secs();
    if *since < 1.0 {
        return;
    }
    *since = 0.0;
    if let Some(code) = peer.invite().map(|i| i.encode())
        && code != hud.invite
    {
        hud.invite = code;
    }
}

/// A text node at a corner of the window.
fn corner(px: f32, colour: Color, node: Node) -> impl Bundle {
    let font = TextFont {
        font_size: bevy::text::FontSize::Px(px),
        ..default()
    };
    (
        Text::new(""),
        font,
        TextColor(colour),
        Node {
            position_type: PositionType::Absolute,
            ..node
        },
    )
}

fn spawn_ui(mut commands: Commands, existing: Query<(), With<Scoreboard>>) {
    if !existing.is_empty() {
        return;
    }
    let white = Color::WHITE;
    let at = |left: Val, right: Val, top: Val, bottom: Val| Node {
        left,
        right,
        top,
        bottom,
        ..default()
    };
    let auto = Val::Auto;
    commands.spawn((corner(BOARD_PX, white, at(px(16), auto, px(12), auto)), Scoreboard));
    commands.spawn((corner(CLOCK_PX, white, at(auto, px(16), px(12), auto)), Clock));
    let gold = Color::srgb(1.0, 0.9, 0.5);
    commands.spawn((corner(TOAST_PX, gold, at(percent(30), auto, px(60), auto)), Toasts));
    let grey = Color::srgb(0.7, 0.75, 0.8);
    commands.spawn((corner(INVITE_PX, grey, at(px(16), auto, auto, px(10))), InviteText));
}

/// C copies the invite code; Esc leaves the session (the window closes once it is left).
fn keys(
    keys: Res<ButtonInput<KeyCode>>,
    mut hud: ResMut<Hud>,
    mut net: ResMut<NetPeer>,
    mut clipboard: ResMut<bevy::clipboard::Clipboard>,
) {
    if keys.just_pressed(KeyCode::KeyC) {
        let toast = match clipboard.set_text(hud.invite.clone()) {
            Ok(()) => "invite code copied: paste it to your friends".to_string(),
            Err(e) => format!("cannot copy the invite code ({e}); it is printed in the terminal"),
        };
        hud.toast(toast);
    }
    if keys.just_pressed(KeyCode::Escape) {
        net.leave();
    }
}

/// The messages the HUD turns into toasts.
#[derive(SystemParam)]
struct Messages<'w, 's> {
    joined: MessageReader<'w, 's, SelfJoined>,
    peer_joined: MessageReader<'w, 's, PeerJoined>,
    away: MessageReader<'w, 's, PeerAway>,
    back: MessageReader<'w, 's, PeerRejoined>,
    left: MessageReader<'w, 's, PeerLeft>,
    host: MessageReader<'w, 's, HostChanged>,
    errors: MessageReader<'w, 's, NetError>,
    faults: MessageReader<'w, 's, Fault>,
    events: MessageReader<'w, 's, NetEvent>,
    game: MessageReader<'w, 's, GameEvent>,
}

/// Toasts and the banner from this frame's messages; quits once we left.
fn news(
    mut hud: ResMut<Hud>,
    net: Res<NetPeer>,
    mut m: Messages,
    mut cues: ResMut<Cues>,
    mut exit: MessageWriter<AppExit>,
) {
    let s = net.session();
    let name = |p| name_of(s, p);
    if m.joined.read().any(|j| j.rejoined) {
        hud.toast("rejoined".into());
    }
    for j in m.peer_joined.read() {
        hud.toast(format!("{} joined", name(j.peer)));
    }
    for a in m.away.read() {
        hud.toast(format!("{} dropped; their seat is held", name(a.peer)));
    }
    for b in m.back.read() {
        hud.toast(format!("{} is back", name(b.peer)));
    }
    for l in m.left.read() {
        hud.toast(format!("{} left", name(l.peer)));
    }
    for h in m.host.read() {
        cues.0.push(Cue::HostChanged);
        let (old, new, pause) = (name(h.old), name(h.new), h.pause.as_secs_f32());
        hud.toast(format!("{old} left: {new} is hosting now, {pause:.2} s"));
    }
    let failures: Vec<String> = m.errors.read().map(ToString::to_string).collect();
    for failure in failures.into_iter().chain(m.faults.read().map(|f| f.0.clone())) {
        hud.fail(failure);
    }
    if m.events.read().any(|NetEvent(e)| *e == SessionEvent::Left) {
        exit.write(AppExit::Success);
    }
    for event in m.game.read() {
        if let GameEvent::RoundEnd { round, scores } = event {
            cues.0.push(Cue::RoundEnd);
            let text = match scores.first() {
                Some((p, n)) => format!("Round {round}: {} wins with {n}!", name(*p)),
                None => format!("Round {round} is over"),
            };
            hud.banner = Some((text, arena::INTERMISSION.as_secs_f32()));
        }
    }
}

/// The sounds of our own play: a dash, a point won or lost.
fn sounds(mut hud: ResMut<Hud>, store: NetStoreRead, input: Res<PlayerInput>, mut cues: ResMut<Cues>) {
    if input.dash {
        cues.0.push(Cue::Dash);
    }
    let Some(me) = store.me() else { return };
    let score = arena::points(store.shared(&arena::score_key(me)));
    match hud.last_score.replace(score) {
        Some(before) if score > before => cues.0.push(Cue::Pickup),
        Some(before) if score < before && score > 0 => cues.0.push(Cue::Hit),
        _ => {}
    }
}

/// The HUD's texts, one query per text node.
#[derive(SystemParam)]
#[allow(clippy::type_complexity)]
struct Texts<'w, 's> {
    board: Query<'w, 's, &'static mut Text, (With<Scoreboard>, Without<Clock>, Without<Toasts>, Without<InviteText>)>,
    clock: Query<'w, 's, &'static mut Text, (With<Clock>, Without<Toasts>, Without<InviteText>)>,
    toasts: Query<'w, 's, &'static mut Text, (With<Toasts>, Without<InviteText>)>,
    invite: Query<'w, 's, &'static mut Text, With<InviteText>>,
}

/// Scoreboard, clock, toasts and banner, invite line.
fn texts(
    time: Res<Time>,
    mut hud: ResMut<Hud>,
    stats: Res<NetStats>,
    store: NetStoreRead,
    state: Res<State<NetState>>,
    mut t: Texts,
) {
    let dt = time.delta_secs();
    for toast in hud.toasts.iter_mut() {
        toast.1 -= dt;
    }
    hud.toasts.retain(|t| t.1 > 0.0);
    if let Some(b) = &mut hud.banner {
        b.1 -= dt;
    }
    hud.banner = hud.banner.take().filter(|b| b.1 > 0.0);
    if let Ok(mut text) = t.board.single_mut() {
        set(&mut text, scoreboard(&stats, &store));
    }
    if let Ok(mut text) = t.clock.single_mut() {
        set(&mut text, clock(&store));
    }
    if let Ok(mut text) = t.toasts.single_mut() {
        let mut lines: Vec<String> = hud.banner.iter().map(|b| b.0.clone()).collect();
        if *state.get() == NetState::Reconnecting {
            lines.push("reconnecting...".to_string());
        }
        lines.extend(hud.toasts.iter().map(|t| t.0.clone()));
        set(&mut text, lines.join("\n"));
    }
    if let Ok(mut text) = t.invite.single_mut() {
        let line = format!(
            "invite: {}   (C copies it; WASD/arrows move, Space dash, F3 network, Esc leave)",
            hud.invite
        );
        set(&mut text, line);
    }
}

/// Replaces a text only when it changed (no relayout otherwise).
fn set(text: &mut Text, content: String) {
    if text.0 != content {
        text.0 = content;
    }
}

/// One row per member, best score first: host mark, name, score, ping and link.
fn scoreboard(stats: &NetStats, store: &NetStoreRead) -> String {
    let Some(s) = store.session() else {
        return String::new();
    };
    let mut rows: Vec<(u32, String)> = s
        .roster()
        .members
        .iter()
        .map(|m| {
            let score = arena::points(store.shared(&arena::score_key(m.id)));
            let crown = if s.current_host() == Some(m.id) {
                "[host] "
            } else {
                "       "
            };
            let link = if m.id == s.peer_id() {
                "you".to_string()
            } else if !m.is_active() {
                "away".to_string()
            } else {
                let rtt = stats.peers.iter().find(|p| p.peer == m.id).and_then(|p| p.rtt);
                let ping = rtt.map_or(String::from("  - "), |r| {
                    format!("{:>3.0} ms", r.as_secs_f64() * 1000.0)
                });
                format!("{ping} {}", link_label(s, m.id))
            };
            (score, format!("{crown}{:<12} {score:>3}   {link}", m.name))
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    rows.into_iter().map(|r| r.1).collect::<Vec<_>>().join("\n")
}

/// The round clock, or the wait before the next round.
fn clock(store: &NetStoreRead) -> String {
    let now_ms = store.now().unwrap_or_default().as_millis() as u64;
    match arena::read(store.shared::<Round>(ROUND_KEY)) {
        Some(r) => {
            let left = r.ends_ms.saturating_sub(now_ms) / 1000;
            let len = r.len_ms / 1000;
            if left > len {
                format!("next round in {}", left - len)
            } else {
                format!("Round {}  {}:{:02}", r.n, left / 60, left % 60)
            }
        }
        None if !store.session().is_some_and(|s| s.in_session()) => "joining...".to_string(),
        None => String::new(),
    }
}
