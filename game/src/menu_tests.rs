//! The menu, headless: keys and mouse presses, the focus, the fields, and the flags the
//! choice builds. Nothing here starts a network: the system that starts a session
//! (`menu_start`) is not in this app; the tests assert on the arguments it would start with.

use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::input::{ButtonState, InputPlugin};
use netcode::lan::{Beacon, LanGame};

use super::*;
use crate::menu_view::{ControlText, menu_games, menu_view, setup_menu};

/// The menu's app without a window nor the session's start.
fn menu_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, InputPlugin))
        .insert_resource(Menu {
            name: "Mira".into(),
            ..default()
        })
        .add_systems(Startup, setup_menu)
        .add_systems(Update, (menu_keys, menu_clicks, menu_view, menu_games).chain());
    app.update();
    app
}

fn menu(app: &App) -> &Menu {
    app.world().resource::<Menu>()
}

fn message(code: KeyCode, logical: Key, state: ButtonState) -> KeyboardInput {
    KeyboardInput {
        key_code: code,
        logical_key: logical,
        state,
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    }
}

/// Presses and releases keys, one frame each (with `held` down during the press).
fn keys(app: &mut App, held: Option<KeyCode>, pressed: &[(KeyCode, Key)]) {
    let held_key = |code| match code {
        KeyCode::ShiftLeft => Key::Shift,
        _ => Key::Control,
    };
    for (code, logical) in pressed {
        if let Some(h) = held {
            app.world_mut()
                .write_message(message(h, held_key(h), ButtonState::Pressed));
        }
        app.world_mut()
            .write_message(message(*code, logical.clone(), ButtonState::Pressed));
        app.update();
        if let Some(h) = held {
            app.world_mut()
                .write_message(message(h, held_key(h), ButtonState::Released));
        }
        app.world_mut()
            .write_message(message(*code, logical.clone(), ButtonState::Released));
        app.update();
    }
}

fn press(app: &mut App, code: KeyCode, logical: Key) {
    keys(app, None, &[(code, logical)]);
}

fn type_str(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::KeyA, Key::Character(c.to_string().into()));
    }
}

/// The mouse: sets `interaction` on the control, as Bevy UI does under the cursor.
fn mouse(app: &mut App, control: Control, interaction: Interaction) {
    let mut q = app.world_mut().query::<(&Control, &mut Interaction)>();
    let mut found = false;
    for (c, mut i) in q.iter_mut(app.world_mut()) {
        if *c == control {
            *i = interaction;
            found = true;
        }
    }
    assert!(found, "no {control:?} on screen");
    app.update();
}

/// What the control looks like: its background and border colours.
fn look(app: &mut App, control: Control) -> (Color, Color) {
    let mut q = app.world_mut().query::<(&Control, &BackgroundColor, &BorderColor)>();
    let found = q.iter(app.world()).find(|(c, ..)| **c == control);
    found.map(|(_, bg, border)| (bg.0, border.top)).expect("on screen")
}

/// The text a control shows.
fn shown(app: &mut App, control: Control) -> String {
    let mut q = app.world_mut().query::<(&ControlText, &Text)>();
    let found = q.iter(app.world()).find(|(c, _)| c.0 == control);
    found.map(|(_, t)| t.0.clone()).expect("on screen")
}

/// What the menu would start with for what was pressed.
fn chosen_args(app: &App) -> (NetArgs, Start) {
    let m = menu(app);
    let choice = m.chosen.expect("a choice");
    menu_args(m, &choice).expect("arguments")
}

#[test]
fn the_keyboard_types_a_name_moves_the_focus_and_presses_host_online() {
    let mut app = menu_app();
    assert_eq!(menu(&app).focus, Control::Name);
    for _ in 0..4 {
        press(&mut app, KeyCode::Backspace, Key::Backspace);
    }
    type_str(&mut app, "Ada L");
    assert_eq!(menu(&app).name, "Ada L");
    assert!(
        shown(&mut app, Control::Name).starts_with("Ada L"),
        "the field shows it"
    );
    // Tab: the code field takes what is typed; arrows and Shift+Tab go back and forth.
    press(&mut app, KeyCode::Tab, Key::Tab);
    type_str(&mut app, "x");
    assert_eq!((menu(&app).name.as_str(), menu(&app).code.as_str()), ("Ada L", "x"));
    press(&mut app, KeyCode::Backspace, Key::Backspace);
    press(&mut app, KeyCode::ArrowDown, Key::ArrowDown);
    assert_eq!(menu(&app).focus, Control::Join);
    press(&mut app, KeyCode::Tab, Key::Tab);
    assert_eq!(menu(&app).focus, Control::HostOnline);
    keys(&mut app, Some(KeyCode::ShiftLeft), &[(KeyCode::Tab, Key::Tab)]);
    assert_eq!(menu(&app).focus, Control::Join);
    press(&mut app, KeyCode::ArrowRight, Key::ArrowRight);
    assert_eq!(menu(&app).focus, Control::HostOnline);
    // The focused control wears the focus colour, the others not.
    let (_, focused) = look(&mut app, Control::HostOnline);
    let (_, other) = look(&mut app, Control::HostLan);
    assert_ne!(focused, other);
    assert!(menu(&app).chosen.is_none(), "nothing pressed yet");
    press(&mut app, KeyCode::Enter, Key::Enter);
    assert_eq!(menu(&app).chosen, Some(MenuChoice::HostOnline));
    let (net, start) = chosen_args(&app);
    assert!(matches!(start, Start::Host));
    assert!(net.online.online, "Host online: public STUN servers and port mapping");
    assert!(!net.lan);
    assert_eq!(net.name, "Ada L");
    // A second press while the first is starting does not choose again.
    press(&mut app, KeyCode::ArrowLeft, Key::ArrowLeft);
    press(&mut app, KeyCode::Space, Key::Space);
    assert_eq!(menu(&app).chosen, Some(MenuChoice::HostOnline));
}

#[test]
fn the_mouse_hovers_presses_host_on_this_network_and_a_listed_game() {
    let mut app = menu_app();
    let (plain, _) = look(&mut app, Control::HostLan);
    mouse(&mut app, Control::HostLan, Interaction::Hovered);
    let (hovered, _) = look(&mut app, Control::HostLan);
    assert_ne!(plain, hovered, "hovering lights the button up");
    assert!(menu(&app).chosen.is_none(), "hovering presses nothing");
    mouse(&mut app, Control::HostLan, Interaction::Pressed);
    assert_ne!(look(&mut app, Control::HostLan).0, hovered, "the pressed look");
    assert_eq!(menu(&app).focus, Control::HostLan, "a click focuses");
    let (net, start) = chosen_args(&app);
    assert!(matches!(start, Start::Host));
    assert!(net.lan, "Host on this network announces the game");
    assert!(!net.online.online, "and sends nothing to public servers");
    // A friend's game shows up; clicking it joins with its code.
    {
        let mut m = app.world_mut().resource_mut::<Menu>();
        m.chosen = None;
        m.games = vec![LanGame {
            from: "192.168.1.20".parse().unwrap(),
            beacon: Beacon {
                name: "Juno".into(),
                players: 2,
                invite: "nc1-juno".into(),
            },
        }];
    }
    // One frame lists it, the next writes its button's words.
    app.update();
    app.update();
    assert_eq!(
        shown(&mut app, Control::Game(0)),
        "Join Juno  (2 players, at 192.168.1.20)"
    );
    mouse(&mut app, Control::Game(0), Interaction::Pressed);
    assert_eq!(menu(&app).chosen, Some(MenuChoice::JoinLan(0)));
    let (net, start) = chosen_args(&app);
    assert!(
        matches!(start, Start::Join(ref code) if code == "nc1-juno"),
        "{start:?}"
    );
    assert!(!net.online.online && !net.lan);
    // The keyboard reaches the listed game too: after Host on this network.
    app.world_mut().resource_mut::<Menu>().chosen = None;
    mouse(&mut app, Control::HostLan, Interaction::None);
    mouse(&mut app, Control::Game(0), Interaction::None);
    app.world_mut().resource_mut::<Menu>().focus = Control::HostLan;
    press(&mut app, KeyCode::Tab, Key::Tab);
    assert_eq!(menu(&app).focus, Control::Game(0));
    press(&mut app, KeyCode::Tab, Key::Tab);
    assert_eq!(menu(&app).focus, Control::Name, "the focus wraps around");
}

#[test]
fn joining_with_a_typed_code_and_without_one() {
    let mut app = menu_app();
    // Clicking the code field focuses it; Enter with no code says what to do.
    mouse(&mut app, Control::Code, Interaction::Pressed);
    assert_eq!(menu(&app).focus, Control::Code);
    assert!(
        !shown(&mut app, Control::Code).starts_with("type or paste"),
        "focused: a caret, no placeholder"
    );
    assert!(shown(&mut app, Control::Join) == "Join");
    press(&mut app, KeyCode::Enter, Key::Enter);
    assert!(menu(&app).chosen.is_none());
    let error = menu(&app).error.clone().expect("an error in plain words");
    assert!(error.contains("invite code"), "{error}");
    let mut status = app.world_mut().query_filtered::<&Text, Without<ControlText>>();
    assert!(
        status.iter(app.world()).any(|t| t.0 == error),
        "shown under the buttons"
    );
    // A pasted code replaces what was typed; Enter in the field joins with it.
    type_str(&mut app, "junk");
    paste_text(&mut app.world_mut().resource_mut::<Menu>(), "  nc1-abc \n");
    assert_eq!(menu(&app).code, "nc1-abc");
    press(&mut app, KeyCode::Enter, Key::Enter);
    assert_eq!(menu(&app).chosen, Some(MenuChoice::Join));
    assert_eq!(menu(&app).error, None, "the error goes");
    let (net, start) = chosen_args(&app);
    assert!(matches!(start, Start::Join(ref code) if code == "nc1-abc"), "{start:?}");
    assert!(!net.online.online, "a joiner follows what the code says");
    // Ctrl+H hosts without online play.
    let mut app = menu_app();
    keys(
        &mut app,
        Some(KeyCode::ControlLeft),
        &[(KeyCode::KeyH, Key::Character("h".into()))],
    );
    assert_eq!(menu(&app).name, "Mira", "a shortcut is not text");
    let (net, start) = chosen_args(&app);
    assert!(matches!(start, Start::Host) && !net.online.online && !net.lan);
}
