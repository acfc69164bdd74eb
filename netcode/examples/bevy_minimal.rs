//! A headless Bevy app on netcode's plugin: each peer moves its own square (a replicated
//! component), a member greets the host with a game message and the host welcomes it to
//! everyone, the host counts seconds in the shared store, and when it leaves another peer
//! is promoted and counts on (`OnEnter(NetState::Hosting)`). Its test runs two of these
//! apps on the in-memory network (`cargo test -p netcode --features bevy --example ...`).
//!
//! ```text
//! cargo run -p netcode --features bevy --example bevy_minimal -- host
//! cargo run -p netcode --features bevy --example bevy_minimal -- join CODE
//! ```

use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::time::common_conditions::on_timer;
use netcode::bevy::{DEFAULT_TICK_HZ, FromPeer, NetError, NetMessageAppExt, NetOwned, NetPeer, NetSender};
use netcode::bevy::{NetState, NetStore, NetcodePlugin, ReplicateAppExt, is_host};
use netcode::{Channel, PeerId, invite::Invite, transport::PeerOptions};
use serde::{Deserialize, Serialize};

/// A square's position: any serde type of fixed shape replicates.
#[derive(Component, Clone, Copy, Serialize, Deserialize)]
struct Square {
    x: f32,
    y: f32,
}

/// A game message: any serde type, registered with its channel.
#[derive(Serialize, Deserialize)]
enum Chat {
    Hello,
    Welcome(PeerId),
}

/// Seconds the session has run, counted by whoever hosts (a shared store entry).
const UPTIME: &str = "uptime";

/// What this peer saw, one line each (printed; the test reads them).
#[derive(Resource, Default)]
struct Seen(Vec<String>);

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let peer = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["host"] => NetPeer::host(PeerOptions::default()),
        ["join", code] => Invite::decode(code)
            .map_err(NetError::from)
            .and_then(|invite| NetPeer::join(&invite, PeerOptions::default())),
        _ => return AppExit::error(),
    };
    let Ok(peer) = peer.inspect_err(|e| eprintln!("{e}")) else {
        return AppExit::error();
    };
    if let Some(invite) = peer.invite().filter(|_| peer.session().is_host()) {
        println!("join with: cargo run -p netcode --features bevy --example bevy_minimal -- join {invite}");
    }
    game().insert_resource(peer).run()
}

/// The game, without its network peer (a real one in `main`, an in-memory one in the test).
fn game() -> App {
    let tick = Duration::from_secs_f64(1.0 / DEFAULT_TICK_HZ);
    let mut app = App::new();
    app.add_plugins(MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(tick)))
        .add_plugins(NetcodePlugin)
        .replicate::<Square>()
        .add_net_message::<Chat>(Channel::ReliableOrdered)
        .init_resource::<Seen>()
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((Square { x: 0.0, y: 0.0 }, NetOwned { id: 0 }));
        })
        .add_systems(OnEnter(NetState::Hosting), |mut seen: ResMut<Seen>| {
            say(&mut seen, "we host".into())
        })
        .add_systems(OnEnter(NetState::Member), |mut net: NetSender| {
            net.to_host(&Chat::Hello).unwrap_or_else(|e| eprintln!("{e}"));
        })
        .add_systems(Update, (move_square, chat))
        .add_systems(
            Update,
            count_uptime.run_if(is_host).run_if(on_timer(Duration::from_secs(1))),
        );
    app
}

fn say(seen: &mut Seen, line: String) {
    println!("{line}");
    seen.0.push(line);
}

/// Our square goes round a circle of radius 10 every 10 s.
fn move_square(time: Res<Time>, mut squares: Query<&mut Square, With<NetOwned>>) {
    let angle = time.elapsed_secs() * std::f32::consts::TAU / 10.0;
    for mut square in &mut squares {
        (square.x, square.y) = (10.0 * angle.cos(), 10.0 * angle.sin());
    }
}

/// The host counts whole seconds in the store; the count survives a host change.
fn count_uptime(mut store: NetStore, mut seen: ResMut<Seen>) {
    let uptime = store.shared::<u32>(UPTIME).ok().flatten().unwrap_or(0) + 1;
    store.set_shared(UPTIME, &uptime).unwrap_or_else(|e| eprintln!("{e}"));
    say(&mut seen, format!("uptime {uptime}"));
}

/// The host welcomes whoever greets it, to everyone; everyone says what it hears.
fn chat(mut heard: MessageReader<FromPeer<Chat>>, mut net: NetSender, mut seen: ResMut<Seen>) {
    for FromPeer { from, message } in heard.read() {
        match message {
            Chat::Hello => {
                say(&mut seen, format!("{from} says hello"));
                net.to_all(&Chat::Welcome(*from)).unwrap_or_else(|e| eprintln!("{e}"));
            }
            Chat::Welcome(peer) => say(&mut seen, format!("{from} welcomes {peer}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use netcode::bevy::{NetRemote, testing::TestSession};
    use netcode::sim::LinkConditions;

    use super::*;

    #[test]
    fn a_message_each_way_the_store_and_a_promotion() {
        let mut s = TestSession::new(7, LinkConditions::default());
        let (host, guest) = (s.host(game(), "host"), s.join(game(), "guest").unwrap());
        let (h, g) = (s.peer_id(host).unwrap(), s.peer_id(guest).unwrap());
        let saw =
            |s: &TestSession, i, line: &str| s.app(i).unwrap().world().resource::<Seen>().0.contains(&line.into());
        s.run(Duration::from_millis(3500));
        assert!(saw(&s, host, &format!("{g} says hello")) && saw(&s, guest, &format!("{h} welcomes {g}")));
        let world = s.app_mut(guest).unwrap().world_mut();
        let remote = world.query::<&NetRemote>().iter(world).any(|r| r.owner == Some(h));
        let counted = (1..).take_while(|n| saw(&s, host, &format!("uptime {n}"))).count();
        assert!(remote && counted >= 3, "the host's square replicated, 3 s counted");
        s.leave(host);
        assert!(s.run_until(Duration::from_secs(5), |s| s.state(guest) == Some(NetState::Hosting)));
        s.run(Duration::from_millis(1500));
        // Promoted, the guest counts on from the count the store kept.
        assert!(saw(&s, guest, "we host") && saw(&s, guest, &format!("uptime {}", counted + 1)));
    }
}
