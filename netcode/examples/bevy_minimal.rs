//! A headless Bevy app on netcode's plugin: each peer moves its own square in a circle
//! (an owned, replicated entity); the host keeps a shared counter in the store and a
//! shared marker entity; when the host quits, another peer takes over both
//! (`OnEnter(NetState::Hosting)`).
//!
//! ```text
//! cargo run -p netcode --features bevy --example bevy_minimal -- host
//! cargo run -p netcode --features bevy --example bevy_minimal -- join CODE
//! ```

use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use netcode::bevy::{
    DEFAULT_TICK_HZ, HostChanged, NetError, NetOwned, NetPeer, NetRemote, NetShared, NetState, NetStore, NetcodePlugin,
    ReplicateAppExt, StoreChanged, is_host,
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
    let peer = match peer {
        Ok(peer) => peer,
        Err(e) => {
            eprintln!("{e}");
            return AppExit::error();
        }
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
        .insert_resource(peer)
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((Square { x: 0.0, y: 0.0 }, NetOwned { id: 0 }));
        })
        .add_systems(OnEnter(NetState::Hosting), take_over)
        .add_systems(
            Update,
            (move_square, count_uptime.run_if(is_host), print_news, print_remote),
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
fn count_uptime(time: Res<Time>, mut last: Local<f32>, mut store: NetStore) {
    if time.elapsed_secs() - *last < 1.0 {
        return;
    }
    *last = time.elapsed_secs();
    let uptime = store.shared::<u32>(UPTIME).unwrap_or(0) + 1;
    if let Err(e) = store.set_shared(UPTIME, &uptime) {
        eprintln!("{e}");
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
        println!("uptime {} s", store.shared::<u32>(UPTIME).unwrap_or(0));
    }
    for e in errors.read() {
        eprintln!("{e}");
        exit.write(AppExit::error());
    }
}

/// Once a second: the remote squares we see.
fn print_remote(time: Res<Time>, mut next: Local<f32>, squares: Query<(&NetRemote, &Square)>) {
    if time.elapsed_secs() < *next {
        return;
    }
    *next = time.elapsed_secs() + 1.0;
    for (r, s) in &squares {
        let owner = r.owner.map_or("shared".to_string(), |o| o.to_string());
        println!("  {owner}#{} at ({:6.2}, {:6.2})", r.id, s.x, s.y);
    }
}
