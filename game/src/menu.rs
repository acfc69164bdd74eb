//! The menu, when the game starts without a subcommand: type a name and an invite code,
//! then host or join; or join a game announced on your network. A host plays at once;
//! a join shows its phase on the joining screen (`crate::joining`, Esc gives it up) until
//! it is in. Nothing here waits: the session's setup advances every frame.

use std::process::ExitCode;
use std::time::SystemTime;

use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use netcode::bevy::NetPeer;

use crate::arena;
use crate::net::{NetArgs, Start};

/// The menu: type a name and an invite code, then host or join; or join a game on your
/// network.
#[derive(Resource, Default)]
pub(crate) struct Menu {
    name: String,
    code: String,
    field: usize,
    error: Option<String>,
    /// Hears the games announced on the local networks (none if the port is taken).
    lan: Option<netcode::lan::Listener>,
    /// The games heard lately.
    games: Vec<netcode::lan::LanGame>,
    /// A join the joining screen shows (`crate::joining`): the menu waits, its name and
    /// code kept, until the join is in, given up or failed.
    starting: bool,
}

impl Menu {
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
        .add_systems(Update, menu.run_if(resource_exists::<Menu>))
        // After the menu: the Esc that cancels a join must not also quit from the menu.
        .add_systems(
            Update,
            crate::joining::joining
                .run_if(resource_exists::<crate::joining::Joining>)
                .after(menu),
        );
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

/// Starts the session the menu chose, at once (a bad code fails here).
fn start_from_menu(m: &Menu, choice: &MenuChoice) -> Result<Started, String> {
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
        // STUN servers of the environment, if any; the menu does not offer online play
        // (public servers) yet.
        stun: std::env::var("NETCODE_STUN")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        online: false,
        port_mapping: false,
        no_port_mapping: false,
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
    let peer = net.start(&start)?;
    Ok(Started {
        peer,
        hosting: matches!(start, Start::Host),
        net,
    })
}

/// Hands the window over: a host to the game at once, a joiner to the joining screen
/// until it is in.
fn enter_game(commands: &mut Commands, m: &mut Menu, started: Started) {
    let Started { peer, net, hosting } = started;
    if !hosting {
        commands.insert_resource(crate::joining::Joining::new(peer, net));
        m.starting = true;
        return;
    }
    if let Some(invite) = peer.invite() {
        println!("invite code: {}", invite.encode());
    }
    crate::play::start_session(commands, peer, net, false);
    commands.remove_resource::<Menu>();
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
    if m.starting {
        // The joining screen has the window (and Esc).
        if let Ok(mut t) = text.single_mut() {
            t.clear();
        }
        return;
    }
    typing(&mut m, &mut typed, &keys);
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
    if let Some(choice) = menu_choice(&keys, ctrl, &m) {
        m.error = None;
        match start_from_menu(&m, &choice) {
            Ok(started) => {
                enter_game(&mut commands, &mut m, started);
                if let Ok(mut t) = text.single_mut() {
                    t.clear();
                }
                return;
            }
            Err(e) => m.error = Some(e),
        }
    }
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::Success);
    }
    if let Ok(mut t) = text.single_mut() {
        **t = menu_text(&m);
    }
}

/// What the player types into the name or code field (Tab switches, Backspace erases).
fn typing(m: &mut Menu, typed: &mut MessageReader<KeyboardInput>, keys: &ButtonInput<KeyCode>) {
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
}

/// The menu's text.
fn menu_text(m: &Menu) -> String {
    let mark = |i: usize| if m.field == i { ">" } else { " " };
    format!(
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
        m.error.as_deref().unwrap_or(""),
        lan_list(m)
    )
}
