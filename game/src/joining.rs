//! The joining screen: while a join the menu started sets up (asking the router, the
//! rendezvous service, punching, being let in), the window shows its phase ("Joining:
//! punching through your router... Esc to cancel"). Esc gives the join up at once and goes
//! back to the menu with the name and code kept; a failure goes back with its words; once
//! in, the window turns into the game.

use bevy::prelude::*;
use netcode::bevy::NetPeer;

use crate::menu::Menu;
use crate::menu_view::MenuRoot;
use crate::net::NetArgs;

/// A join the menu started, until it is in (then the game has it), given up or failed.
#[derive(Resource)]
pub struct Joining {
    peer: Option<NetPeer>,
    net: NetArgs,
}

impl Joining {
    /// The joining screen of `peer`, started with `net`.
    pub fn new(peer: NetPeer, net: NetArgs) -> Self {
        Joining { peer: Some(peer), net }
    }
}

#[derive(Component)]
pub(crate) struct JoiningText;

/// Polls the join every frame and shows its phase; Esc cancels it.
pub fn joining(
    mut commands: Commands,
    mut joining: ResMut<Joining>,
    mut menu: ResMut<Menu>,
    keys: Res<ButtonInput<KeyCode>>,
    mut text: Query<(Entity, &mut Text), With<JoiningText>>,
    menu_root: Query<Entity, With<MenuRoot>>,
) {
    let Some(peer) = joining.peer.as_mut() else { return };
    let words = if keys.just_pressed(KeyCode::Escape) {
        peer.cancel();
        Some(None)
    } else {
        match peer.poll() {
            Err(e) => {
                peer.cancel();
                Some(Some(e.to_string()))
            }
            Ok(()) => None,
        }
    };
    let in_session = peer.session().in_session() && peer.join_phase().is_none();
    let phase = peer.join_phase();
    if words.is_some() || in_session {
        for (entity, _) in &text {
            commands.entity(entity).despawn();
        }
        commands.remove_resource::<Joining>();
    }
    if let Some(error) = words {
        menu.back_from_joining(error);
        return;
    }
    if in_session && let Some(peer) = joining.peer.take() {
        crate::play::start_session(&mut commands, peer, joining.net.clone(), false);
        commands.remove_resource::<Menu>();
        for entity in &menu_root {
            commands.entity(entity).despawn();
        }
        return;
    }
    let line = match phase {
        Some(p) => format!("Joining: {p}...\n\nEsc to cancel"),
        None => "Joining...\n\nEsc to cancel".to_string(),
    };
    match text.single_mut() {
        Ok((_, mut t)) => **t = line,
        Err(_) => {
            commands.spawn((
                Text::new(line),
                TextFont {
                    font_size: bevy::text::FontSize::Px(30.0),
                    ..default()
                },
                Node {
                    position_type: PositionType::Absolute,
                    left: Val::Px(120.0),
                    top: Val::Px(200.0),
                    ..default()
                },
                JoiningText,
            ));
        }
    }
}
