//! The menu, when the game starts without a subcommand: a name and an invite code to type,
//! buttons to host online, host on this network or join, and the games announced on your
//! network, each a button. Everything works with the mouse (hover and press look, click)
//! and with the keyboard (Tab, Shift+Tab or the arrows move the focus, Enter or Space
//! presses, typing goes to the focused field). A host plays at once; a join shows its
//! phase on the joining screen (`crate::joining`, Esc gives it up) until it is in. Nothing
//! here waits: the session's setup advances every frame.

use std::process::ExitCode;
use std::time::SystemTime;

use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use netcode::bevy::NetPeer;
use netcode::cli::OnlineArgs;

use crate::arena;
use crate::menu_view::{MenuRoot, menu_games, menu_view, setup_menu};
use crate::net::{NetArgs, Start};

/// Longest name, in characters.
const NAME_CHARS: usize = 32;
/// Longest invite code accepted in the field, in characters.
const CODE_CHARS: usize = 300;

/// The menu: type a name and an invite code, then host or join; or join a game on your
/// network.
#[derive(Resource, Default)]
pub(crate) struct Menu {
    pub(crate) name: String,
    pub(crate) code: String,
    /// The control the keyboard acts on.
    pub(crate) focus: Control,
    /// What went wrong, in plain words (shown under the buttons).
    pub(crate) error: Option<String>,
    /// Hears the games announced on the local networks (none if the port is taken).
    pub(crate) lan: Option<netcode::lan::Listener>,
    /// The games heard lately.
    pub(crate) games: Vec<netcode::lan::LanGame>,
    /// What the player pressed, to start with the next frame.
    pub(crate) chosen: Option<MenuChoice>,
    /// A join the joining screen shows (`crate::joining`): the menu waits, hidden, its
    /// name and code kept, until the join is in, given up or failed.
    starting: bool,
}

impl Menu {
    /// Whether a join is being set up (the joining screen has the window).
    pub(crate) fn is_starting(&self) -> bool {
        self.starting
    }

    /// Back from the joining screen: a join given up (`None`) or failed (its words).
    pub(crate) fn back_from_joining(&mut self, error: Option<String>) {
        self.starting = false;
        self.error = error;
    }
}

/// A session the menu started, ready to play.
struct Started {
    peer: NetPeer,
    net: NetArgs,
    hosting: bool,
}

/// What the player chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MenuChoice {
    /// Host with nothing but the environment's services (Ctrl+H).
    Host,
    /// Host for friends anywhere: public STUN servers and port mapping.
    HostOnline,
    /// Host and announce the game on the local networks.
    HostLan,
    /// Join the session of the code typed.
    Join,
    /// Join the Nth game heard on the network.
    JoinLan(usize),
}

/// What the keyboard can focus and the mouse can press, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Component)]
pub(crate) enum Control {
    /// The name field.
    #[default]
    Name,
    /// The invite code field.
    Code,
    /// Join with the code.
    Join,
    /// Host online.
    HostOnline,
    /// Host on this network.
    HostLan,
    /// The Nth game on your network.
    Game(usize),
}

impl Control {
    /// Whether it is a text field.
    pub(crate) fn is_field(self) -> bool {
        matches!(self, Control::Name | Control::Code)
    }

    /// The control `step` places after this one (before, when negative), with `games`
    /// games listed; the order wraps around.
    fn moved(self, step: isize, games: usize) -> Control {
        let order = [
            Control::Name,
            Control::Code,
            Control::Join,
            Control::HostOnline,
            Control::HostLan,
        ];
        let all: Vec<Control> = order.into_iter().chain((0..games).map(Control::Game)).collect();
        let at = all.iter().position(|c| *c == self).unwrap_or(0) as isize;
        all[(at + step).rem_euclid(all.len() as isize) as usize]
    }
}

/// Opens the menu window; after a choice, the game itself. A scripted run quits after
/// `frames`, or saves a `screenshot` at that frame.
pub fn run_menu(frames: Option<u64>, screenshot: Option<std::path::PathBuf>) -> ExitCode {
    let started = SystemTime::now();
    let shot = screenshot.clone();
    let built = crate::catch_build(|| {
        let mut app = crate::play::base_app("netcode arena", arena::ROUND);
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
            frames,
            screenshot,
            frame: 0,
            started: None,
        })
        .add_systems(Startup, setup_menu)
        .add_systems(
            Update,
            (menu_keys, menu_clicks, menu_start, menu_view, menu_games)
                .chain()
                .distributive_run_if(resource_exists::<Menu>),
        )
        // After the menu: the Esc that cancels a join must not also quit from the menu.
        .add_systems(
            Update,
            crate::joining::joining
                .run_if(resource_exists::<crate::joining::Joining>)
                .after(menu_games),
        );
        app
    });
    match built {
        Ok(app) => crate::run_app(app, shot, started),
        Err(why) => {
            eprintln!("game: cannot open a window ({why}); run without one with `--headless`");
            ExitCode::FAILURE
        }
    }
}

/// The flags a choice plays with, and how it enters the session.
pub(crate) fn menu_args(m: &Menu, choice: &MenuChoice) -> Result<(NetArgs, Start), String> {
    let net = NetArgs {
        name: if m.name.trim().is_empty() {
            "player".into()
        } else {
            m.name.trim().chars().take(NAME_CHARS).collect()
        },
        port: 0,
        bind: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        seat: None,
        round_secs: arena::ROUND.as_secs_f64(),
        sim_latency: 0.0,
        sim_jitter: 0.0,
        sim_loss: 0.0,
        online: OnlineArgs {
            // The menu hosts through the rendezvous service of the environment, if any; a
            // code to join names its own.
            rendezvous: std::env::var("NETCODE_RENDEZVOUS")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            // STUN servers of the environment, if any (they replace the public ones).
            stun: std::env::var("NETCODE_STUN")
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            // Host online: the public STUN servers and port mapping. A joiner follows what
            // the code says.
            online: matches!(choice, MenuChoice::HostOnline),
            port_mapping: false,
            no_port_mapping: false,
            // DHT nodes of the environment, if any (they replace the public ones of
            // online play).
            dht_bootstrap: std::env::var("NETCODE_DHT_BOOTSTRAP")
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            no_dht: false,
        },
        lan: matches!(choice, MenuChoice::HostLan),
        lan_port: netcode::lan::DEFAULT_LAN_PORT,
    };
    let start = match choice {
        MenuChoice::Host | MenuChoice::HostOnline | MenuChoice::HostLan => Start::Host,
        MenuChoice::Join => Start::Join(m.code.trim().to_string()),
        MenuChoice::JoinLan(n) => {
            let game = m.games.get(*n).ok_or("that game is gone from your network")?;
            Start::Join(game.beacon.invite.clone())
        }
    };
    Ok((net, start))
}

/// Starts the session the menu chose, at once (a bad code fails here).
fn start_from_menu(m: &Menu, choice: &MenuChoice) -> Result<Started, String> {
    let (net, start) = menu_args(m, choice)?;
    net.round_len()?;
    let peer = net.start(&start)?;
    Ok(Started {
        peer,
        hosting: matches!(start, Start::Host),
        net,
    })
}

/// Hands the window over: a host to the game at once (whether it did), a joiner to the
/// joining screen until it is in.
fn enter_game(commands: &mut Commands, m: &mut Menu, started: Started) -> bool {
    let Started { peer, net, hosting } = started;
    if !hosting {
        commands.insert_resource(crate::joining::Joining::new(peer, net));
        m.starting = true;
        return false;
    }
    if let Some(invite) = peer.invite() {
        println!("invite code: {}", invite.encode());
    }
    crate::play::start_session(commands, peer, net, false);
    commands.remove_resource::<Menu>();
    true
}

/// Hears the games on the network and starts what the player chose: a host's window
/// turns into the game; a join's menu hides behind the joining screen until it is back.
fn menu_start(mut commands: Commands, mut m: ResMut<Menu>, mut root: Query<(Entity, &mut Visibility), With<MenuRoot>>) {
    if let Some(lan) = m.lan.as_mut() {
        m.games = lan.poll();
    }
    if !m.starting
        && let Some(choice) = m.chosen.take()
    {
        match start_from_menu(&m, &choice) {
            Ok(started) => {
                if enter_game(&mut commands, &mut m, started) {
                    for (entity, _) in &root {
                        commands.entity(entity).despawn();
                    }
                    return;
                }
            }
            Err(e) => m.error = Some(e),
        }
    }
    let shown = if m.starting {
        Visibility::Hidden
    } else {
        Visibility::Inherited
    };
    for (_, mut visibility) in &mut root {
        visibility.set_if_neq(shown);
    }
}

/// Presses `control`: a field takes the focus; a button chooses (unless a session is
/// already starting).
pub(crate) fn press(m: &mut Menu, control: Control) {
    m.focus = control;
    if m.starting || m.chosen.is_some() {
        return;
    }
    let choice = match control {
        Control::Name | Control::Code => return,
        Control::Join if m.code.trim().is_empty() => {
            m.error = Some("Type or paste an invite code first (Ctrl+V pastes).".into());
            m.focus = Control::Code;
            return;
        }
        Control::Join => MenuChoice::Join,
        Control::HostOnline => MenuChoice::HostOnline,
        Control::HostLan => MenuChoice::HostLan,
        Control::Game(n) if n < m.games.len() => MenuChoice::JoinLan(n),
        Control::Game(_) => return,
    };
    m.error = None;
    m.chosen = Some(choice);
}

/// A mouse press on a control focuses and presses it.
pub(crate) fn menu_clicks(mut m: ResMut<Menu>, clicked: Query<(&Interaction, &Control), Changed<Interaction>>) {
    for (interaction, control) in &clicked {
        if *interaction == Interaction::Pressed {
            press(&mut m, *control);
        }
    }
}

/// The keyboard: Tab, Shift+Tab and the arrows move the focus, Enter and Space press,
/// typing and Backspace edit the focused field, Ctrl+V pastes, Ctrl+H hosts without
/// online play, Esc quits.
pub(crate) fn menu_keys(
    mut m: ResMut<Menu>,
    mut typed: MessageReader<KeyboardInput>,
    keys: Res<ButtonInput<KeyCode>>,
    clipboard: Option<ResMut<bevy::clipboard::Clipboard>>,
    mut exit: MessageWriter<AppExit>,
) {
    // A quick Ctrl+key may press and release Ctrl within one frame.
    let held = |k: [KeyCode; 2]| keys.any_pressed(k) || keys.any_just_released(k);
    let ctrl = held([KeyCode::ControlLeft, KeyCode::ControlRight]);
    let shift = held([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if m.starting {
        // The joining screen has the keyboard (its Esc cancels the join, not the game).
        typed.clear();
        return;
    }
    let mut paste = false;
    for ev in typed.read() {
        if !ev.state.is_pressed() {
            continue;
        }
        let games = m.games.len();
        let field = m.focus.is_field();
        match &ev.logical_key {
            Key::Character(c) if ctrl => match c.to_lowercase().as_str() {
                "v" => paste = true,
                "h" if !m.starting && m.chosen.is_none() => {
                    m.error = None;
                    m.chosen = Some(MenuChoice::Host);
                }
                _ => {}
            },
            Key::Tab => m.focus = m.focus.moved(if shift { -1 } else { 1 }, games),
            Key::ArrowDown => m.focus = m.focus.moved(1, games),
            Key::ArrowUp => m.focus = m.focus.moved(-1, games),
            Key::ArrowRight if !field => m.focus = m.focus.moved(1, games),
            Key::ArrowLeft if !field => m.focus = m.focus.moved(-1, games),
            Key::Enter => match m.focus {
                Control::Name => m.focus = Control::Code,
                Control::Code => press(&mut m, Control::Join),
                other => press(&mut m, other),
            },
            Key::Space if !field => {
                let focus = m.focus;
                press(&mut m, focus);
            }
            Key::Space => type_text(&mut m, " "),
            Key::Character(c) => type_text(&mut m, c),
            Key::Backspace => {
                if let Some(text) = focused_text(&mut m) {
                    text.pop();
                }
            }
            Key::Escape => {
                exit.write(AppExit::Success);
            }
            _ => {}
        }
    }
    if paste
        && let Some(mut clipboard) = clipboard
        && let Some(Ok(text)) = clipboard.fetch_text().poll_result()
    {
        paste_text(&mut m, &text);
    }
}

/// The focused field's text, if a field has the focus.
fn focused_text(m: &mut Menu) -> Option<&mut String> {
    match m.focus {
        Control::Name => Some(&mut m.name),
        Control::Code => Some(&mut m.code),
        _ => None,
    }
}

/// Types `text` into the focused field (control characters are not text).
fn type_text(m: &mut Menu, text: &str) {
    let limit = if m.focus == Control::Name {
        NAME_CHARS
    } else {
        CODE_CHARS
    };
    if let Some(field) = focused_text(m) {
        for c in text.chars().filter(|c| !c.is_control()) {
            if field.chars().count() < limit {
                field.push(c);
            }
        }
    }
}

/// Pastes `text`: an invite code goes to the code field wherever the focus is; anything
/// else into the focused field.
pub(crate) fn paste_text(m: &mut Menu, text: &str) {
    let text = text.trim();
    if text.starts_with(netcode::invite::PREFIX) {
        m.focus = Control::Code;
        m.code.clear();
    }
    type_text(m, text);
}

#[cfg(test)]
#[path = "menu_tests.rs"]
mod tests;
