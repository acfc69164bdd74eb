//! What the menu looks like: a card with the name and code fields, the buttons, the
//! status line and the games on your network, in Bevy UI. The focused control has a bright
//! border (and a field its caret); the mouse brightens what it hovers and darkens what it
//! presses. The systems here only draw [`Menu`]; what a press does is in [`crate::menu`].

use bevy::prelude::*;

use crate::menu::{Control, Menu};

/// Colours of the card and its controls.
const SCREEN: Color = Color::srgb(0.04, 0.05, 0.07);
const CARD: Color = Color::srgb(0.09, 0.10, 0.13);
const FIELD: Color = Color::srgb(0.05, 0.06, 0.08);
const BUTTON: Color = Color::srgb(0.16, 0.19, 0.25);
const PRIMARY: Color = Color::srgb(0.15, 0.38, 0.62);
const FOCUS: Color = Color::srgb(0.45, 0.78, 1.0);
const EDGE: Color = Color::srgb(0.22, 0.25, 0.31);
const TEXT: Color = Color::srgb(0.92, 0.94, 0.97);
const DIM: Color = Color::srgb(0.55, 0.59, 0.66);
const ERROR: Color = Color::srgb(1.0, 0.48, 0.45);
/// How much lighter a hovered control is, and darker a pressed one.
const HOVER_LIGHTER: f32 = 0.06;
const PRESS_DARKER: f32 = 0.05;
/// Width of the labels before the fields.
const LABEL_WIDTH: f32 = 130.0;
/// Most games listed.
const MAX_GAMES: usize = 6;

/// The menu's whole screen (despawned when the game starts).
#[derive(Component)]
pub(crate) struct MenuRoot;

/// The text inside a control.
#[derive(Component)]
pub(crate) struct ControlText(pub(crate) Control);

/// The line under the buttons: what went wrong, or that the session is starting.
#[derive(Component)]
pub(crate) struct StatusLine;

/// Where the games on your network are listed.
#[derive(Component)]
pub(crate) struct GameList;

fn font(px: f32) -> TextFont {
    TextFont {
        font_size: FontSize::Px(px),
        ..default()
    }
}

/// A control's box: a field or a button.
fn control(c: Control, grow: bool) -> impl Bundle {
    let background = match c {
        Control::Name | Control::Code => FIELD,
        Control::HostOnline => PRIMARY,
        _ => BUTTON,
    };
    (
        Button,
        c,
        Node {
            padding: UiRect::axes(px(14), px(10)),
            border: UiRect::all(px(2)),
            border_radius: BorderRadius::all(px(6)),
            flex_grow: if grow { 1.0 } else { 0.0 },
            min_height: px(44),
            align_items: AlignItems::Center,
            justify_content: if c.is_field() {
                JustifyContent::FlexStart
            } else {
                JustifyContent::Center
            },
            ..default()
        },
        BackgroundColor(background),
        BorderColor::all(EDGE),
        children![(Text::new(label(c)), font(20.0), TextColor(TEXT), ControlText(c))],
    )
}

/// A button's words.
fn label(c: Control) -> &'static str {
    match c {
        Control::Join => "Join",
        Control::HostOnline => "Host online",
        Control::HostLan => "Host on this network",
        _ => "",
    }
}

/// A row: a label and its controls.
fn row(label: &'static str, controls: impl Bundle) -> impl Bundle {
    (
        Node {
            column_gap: px(10),
            align_items: AlignItems::Center,
            ..default()
        },
        children![
            (
                Text::new(label),
                font(19.0),
                TextColor(DIM),
                Node {
                    width: px(LABEL_WIDTH),
                    ..default()
                }
            ),
            controls
        ],
    )
}

/// A small grey line.
fn note(text: &'static str) -> impl Bundle {
    (Text::new(text), font(15.0), TextColor(DIM))
}

/// Spawns the menu's screen.
pub(crate) fn setup_menu(mut commands: Commands) {
    let card = (
        Node {
            flex_direction: FlexDirection::Column,
            row_gap: px(14),
            padding: UiRect::all(px(32)),
            width: px(760),
            border_radius: BorderRadius::all(px(14)),
            ..default()
        },
        BackgroundColor(CARD),
    );
    let buttons = (
        Node {
            column_gap: px(10),
            margin: UiRect::left(px(LABEL_WIDTH + 10.0)),
            ..default()
        },
        children![control(Control::HostOnline, true), control(Control::HostLan, true)],
    );
    commands.spawn((
        MenuRoot,
        Node {
            width: percent(100),
            height: percent(100),
            justify_content: JustifyContent::Center,
            align_items: AlignItems::Center,
            ..default()
        },
        BackgroundColor(SCREEN),
        children![(
            card,
            children![
                (Text::new("netcode arena"), font(40.0), TextColor(TEXT)),
                note("Host a game and give your friends its invite code, or join theirs."),
                row("Your name", control(Control::Name, true)),
                row(
                    "Invite code",
                    (
                        Node {
                            flex_grow: 1.0,
                            column_gap: px(10),
                            ..default()
                        },
                        children![control(Control::Code, true), control(Control::Join, false)],
                    )
                ),
                buttons,
                (
                    note(
                        "Host online: friends anywhere join with the code (asks public STUN servers and your router). \
                         Host on this network: friends on your Wi-Fi or LAN find it below."
                    ),
                    Node {
                        margin: UiRect::left(px(LABEL_WIDTH + 10.0)),
                        ..default()
                    },
                ),
                (Text::new(""), font(18.0), TextColor(ERROR), StatusLine, Node::default()),
                (Text::new("Games on your network"), font(19.0), TextColor(DIM)),
                (
                    GameList,
                    Node {
                        flex_direction: FlexDirection::Column,
                        row_gap: px(8),
                        ..default()
                    },
                ),
                note("Tab or arrows: move    Enter: press    Ctrl+V: paste    Ctrl+H: host without online play    Esc: quit"),
            ],
        )],
    ));
}

/// What a control's text shows: a field its content (with a caret when focused, its
/// placeholder when empty), a game its host and players.
fn control_text(m: &Menu, c: Control, caret: bool) -> (String, Color) {
    let (content, placeholder) = match c {
        Control::Name => (&m.name, "your name"),
        Control::Code => (&m.code, "type or paste the code (nc1-...)"),
        Control::Game(n) => {
            let Some(g) = m.games.get(n) else {
                return (String::new(), DIM);
            };
            let b = &g.beacon;
            let players = if b.players == 1 { "player" } else { "players" };
            return (
                format!("Join {}  ({} {players}, at {})", b.name, b.players, g.from),
                TEXT,
            );
        }
        other => return (label(other).to_string(), TEXT),
    };
    let focused = m.focus == c;
    // Long codes show their end, where the player types.
    let shown: String = {
        let chars: Vec<char> = content.chars().collect();
        let keep = 44;
        if chars.len() > keep {
            std::iter::once('…')
                .chain(chars[chars.len() - keep..].iter().copied())
                .collect()
        } else {
            content.clone()
        }
    };
    match (shown.is_empty(), focused) {
        (true, false) => (placeholder.to_string(), DIM),
        (_, true) => (format!("{shown}{}", if caret { "|" } else { " " }), TEXT),
        (false, false) => (shown, TEXT),
    }
}

/// A control's background: its own colour, lighter when hovered, darker when pressed.
fn background(c: Control, interaction: Interaction) -> Color {
    let base = match c {
        Control::Name | Control::Code => FIELD,
        Control::HostOnline => PRIMARY,
        _ => BUTTON,
    };
    match interaction {
        Interaction::Hovered => base.lighter(HOVER_LIGHTER),
        Interaction::Pressed => base.darker(PRESS_DARKER),
        Interaction::None => base,
    }
}

/// Draws the menu: the controls' looks and texts, the status line, the games.
pub(crate) fn menu_view(
    m: Res<Menu>,
    time: Res<Time>,
    mut controls: Query<(&Control, &Interaction, &mut BackgroundColor, &mut BorderColor)>,
    mut texts: Query<(&ControlText, &mut Text, &mut TextColor), Without<StatusLine>>,
    mut status: Query<(&mut Text, &mut TextColor), With<StatusLine>>,
) {
    for (c, interaction, mut bg, mut border) in &mut controls {
        bg.0 = background(*c, *interaction);
        *border = BorderColor::all(if m.focus == *c { FOCUS } else { EDGE });
    }
    let caret = time.elapsed_secs().fract() < 0.6;
    for (ControlText(c), mut text, mut colour) in &mut texts {
        let (shown, shade) = control_text(&m, *c, caret);
        if text.0 != shown {
            text.0 = shown;
        }
        colour.0 = shade;
    }
    if let Ok((mut text, mut colour)) = status.single_mut() {
        let (line, shade) = match (&m.error, m.is_starting() || m.chosen.is_some()) {
            (_, true) => ("Connecting...".to_string(), TEXT),
            (Some(e), false) => (e.clone(), ERROR),
            (None, false) => (String::new(), TEXT),
        };
        text.0 = line;
        colour.0 = shade;
    }
}

/// Rebuilds the list of games on your network when they change.
pub(crate) fn menu_games(
    mut commands: Commands,
    m: Res<Menu>,
    list: Query<Entity, With<GameList>>,
    mut listed: Local<Vec<(String, u8)>>,
    mut drawn: Local<bool>,
) {
    let games: Vec<(String, u8)> = m
        .games
        .iter()
        .take(MAX_GAMES)
        .map(|g| (g.beacon.invite.clone(), g.beacon.players))
        .collect();
    let Ok(list) = list.single() else { return };
    if *drawn && games == *listed {
        return;
    }
    commands.entity(list).despawn_children();
    if games.is_empty() {
        let none = if m.lan.is_some() {
            "none yet (a friend's \"Host on this network\" shows up here)"
        } else {
            "cannot listen (another game on this machine holds the port)"
        };
        commands.entity(list).with_child(note(none));
    }
    for n in 0..games.len() {
        commands.entity(list).with_child(control(Control::Game(n), false));
    }
    *listed = games;
    *drawn = true;
}
