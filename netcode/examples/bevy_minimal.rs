//! A headless Bevy app on netcode's plugin: each peer moves its own square in a circle
//! (an owned, replicated entity); the host keeps a shared counter in the store and a
//! shared marker entity; when the host quits, another peer takes over both
//! (`OnEnter(NetState::Hosting)`). A member greets the host with a game message when it
//! is in; the host answers everyone with another.
//!
//! ```text
//! cargo run -p netcode --features bevy --example bevy_minimal -- host
//! cargo run -p netcode --features bevy --example bevy_minimal -- join CODE
//! ```

use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use bevy::time::common_conditions::on_timer;
use netcode::Channel;
use netcode::bevy::{
    DEFAULT_TICK_HZ, FromPeer, HostChanged, NetError, NetMessageAppExt, NetOwned, NetPeer, NetRemote, NetSender,
    NetShared, NetState, NetStore, NetcodePlugin, ReplicateAppExt, StoreChanged, is_host,
};
use netcode::invite::Invite;
use netcode::transport::PeerOptions;
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
    Welcome(netcode::PeerId),
}

/// Seconds the session has run, counted by whoever hosts (shared store entry).
const UPTIME: &str = "uptime";

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let peer = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["host"] => NetPeer::host(PeerOptions::default()),
        ["join", code] => Invite::decode(code)
            .map_err(NetError::from)
            .and_then(|invite| NetPeer::join(&invite, PeerOptions::default())),
        _ => {
            eprintln!("usage: bevy_minimal host | bevy_minimal join CODE");
            return AppExit::error();
        }
    };
    let Ok(peer) = peer.inspect_err(|e| eprintln!("{e}")) else {
        return AppExit::error();
    };
    if let Some(invite) = peer.invite().filter(|_| peer.session().is_host()) {
        println!("hosting; join with:\n  cargo run -p netcode --features bevy --example bevy_minimal -- join {invite}");
    }
    App::new()
        .add_plugins(
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
                1.0 / DEFAULT_TICK_HZ,
            ))),
        )
        .add_plugins(NetcodePlugin)
        .replicate::<Square>()
        .add_net_message::<Chat>(Channel::ReliableOrdered)
        .insert_resource(peer)
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((Square { x: 0.0, y: 0.0 }, NetOwned { id: 0 }));
        })
        .add_systems(OnEnter(NetState::Hosting), take_over)
        .add_systems(OnEnter(NetState::Member), |mut net: NetSender| {
            net.to_host(&Chat::Hello).unwrap_or_else(|e| eprintln!("{e}"));
        })
        .add_systems(
            Update,
            (
                move_square,
                count_uptime.run_if(is_host).run_if(on_timer(Duration::from_secs(1))),
                chat,
                print_news,
                print_remote.run_if(on_timer(Duration::from_secs(1))),
            ),
        )
        .run()
}

/// Hosting (from the start, or promoted): make sure the shared marker exists.
fn take_over(mut commands: Commands, marker: Query<(), With<NetShared>>) {
    println!("we host now");
    if marker.is_empty() {
        commands.spawn((Square { x: 0.0, y: 0.0 }, NetShared { id: 1 }));
    }
}

/// Our square goes round a circle of radius 10 every 10 s.
fn move_square(time: Res<Time>, mut squares: Query<&mut Square, With<NetOwned>>) {
    let angle = time.elapsed_secs() * std::f32::consts::TAU / 10.0;
    for mut square in &mut squares {
        *square = Square {
            x: 10.0 * angle.cos(),
            y: 10.0 * angle.sin(),
        };
    }
}

/// The host counts whole seconds in the store; the count survives a host change.
fn count_uptime(mut store: NetStore) {
    let uptime = store.shared::<u32>(UPTIME).ok().flatten().unwrap_or(0) + 1;
    store.set_shared(UPTIME, &uptime).unwrap_or_else(|e| eprintln!("{e}"));
}

/// The host welcomes whoever greets it, to everyone; everyone prints what it hears.
fn chat(mut heard: MessageReader<FromPeer<Chat>>, mut net: NetSender) {
    for FromPeer { from, message } in heard.read() {
        match message {
            Chat::Hello => {
                println!("{from} says hello");
                net.to_all(&Chat::Welcome(*from)).unwrap_or_else(|e| eprintln!("{e}"));
            }
            Chat::Welcome(peer) => println!("{from} welcomes {peer}"),
        }
    }
}

fn print_news(
    mut host: MessageReader<HostChanged>,
    mut errors: MessageReader<NetError>,
    mut changed: MessageReader<StoreChanged>,
    store: NetStore,
    mut exit: MessageWriter<AppExit>,
) {
    host.read()
        .for_each(|m| println!("{} hosts now (after {:?})", m.new, m.pause));
    if changed.read().any(|c| c.key == UPTIME) {
        match store.shared::<u32>(UPTIME) {
            Ok(uptime) => println!("uptime {} s", uptime.unwrap_or(0)),
            Err(e) => eprintln!("{e}"),
        }
    }
    for e in errors.read() {
        eprintln!("{e}");
        exit.write(AppExit::error());
    }
}

/// Once a second: the remote squares we see.
fn print_remote(squares: Query<(&NetRemote, &Square)>) {
    for (r, s) in &squares {
        let owner = r.owner.map_or("shared".to_string(), |o| o.to_string());
        println!("  {owner}#{} at ({:6.2}, {:6.2})", r.id, s.x, s.y);
    }
}
