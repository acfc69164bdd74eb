//! A headless Bevy app on netcode: each side moves its own square in a circle and prints,
//! once a second, where it sees the others' squares.
//!
//! ```text
//! cargo run -p netcode --features bevy --example bevy_minimal -- host
//! cargo run -p netcode --features bevy --example bevy_minimal -- join CODE
//! ```

use std::time::Duration;

use bevy::app::ScheduleRunnerPlugin;
use bevy::prelude::*;
use netcode::bevy::{
    HostChanged, NetError, NetOwned, NetPeer, NetRemote, NetcodePlugin, PeerJoined, PeerLeft, Replicate,
    ReplicateAppExt, SelfJoined,
};
use netcode::invite::Invite;
use netcode::snapshot::quant::Quant;
use netcode::transport::{Peer, PeerOptions, TransportError};

/// A square's position, to 1/100 unit within ±50.
#[derive(Component, Clone, Copy)]
struct Square {
    x: f32,
    y: f32,
}

impl Replicate for Square {
    const KIND: u8 = 0;
    fn fields() -> Vec<Quant> {
        let q = Quant::new(-50.0, 50.0, 0.01).expect("valid range");
        vec![q, q]
    }
    fn to_values(&self) -> Vec<f32> {
        vec![self.x, self.y]
    }
    fn from_values(v: &[f32]) -> Option<Self> {
        Some(Square {
            x: *v.first()?,
            y: *v.get(1)?,
        })
    }
}

/// Where on the circle our square starts (the host at 0, a guest opposite).
#[derive(Resource)]
struct Phase(f32);

fn main() -> AppExit {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started: Result<(Peer, f32), TransportError> = match args[..] {
        ["host"] => Peer::host(PeerOptions::default()).map(|p| (p, 0.0)),
        ["join", code] => Invite::decode(code)
            .map_err(TransportError::from)
            .and_then(|invite| Peer::join(&invite, PeerOptions::default()))
            .map(|p| (p, std::f32::consts::PI)),
        _ => {
            eprintln!("usage: bevy_minimal host | bevy_minimal join CODE");
            return AppExit::error();
        }
    };
    let (peer, phase) = match started {
        Ok(started) => started,
        Err(e) => {
            eprintln!("{e}");
            return AppExit::error();
        }
    };
    if peer.session().is_host() {
        println!(
            "hosting; join with:\n  cargo run -p netcode --features bevy --example bevy_minimal -- join {}",
            peer.invite()
        );
    }
    App::new()
        .add_plugins(MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(1.0 / 60.0))))
        .add_plugins(NetcodePlugin)
        .replicate::<Square>()
        .insert_resource(NetPeer(peer))
        .insert_resource(Phase(phase))
        .add_systems(Startup, |mut commands: Commands| {
            commands.spawn((Square { x: 0.0, y: 0.0 }, NetOwned { id: 0 }));
        })
        .add_systems(Update, (move_square, print_news, print_remote))
        .run()
}

/// Our square goes round a circle of radius 10 every 10 s.
fn move_square(time: Res<Time>, phase: Res<Phase>, mut squares: Query<&mut Square, With<NetOwned>>) {
    let angle = phase.0 + time.elapsed_secs() * std::f32::consts::TAU / 10.0;
    for mut square in &mut squares {
        *square = Square {
            x: 10.0 * angle.cos(),
            y: 10.0 * angle.sin(),
        };
    }
}

fn print_news(
    mut joined: MessageReader<SelfJoined>,
    mut peers: MessageReader<PeerJoined>,
    mut left: MessageReader<PeerLeft>,
    mut host: MessageReader<HostChanged>,
    mut errors: MessageReader<NetError>,
    mut exit: MessageWriter<AppExit>,
) {
    joined.read().for_each(|m| println!("in the session as {}", m.peer));
    peers.read().for_each(|m| println!("{} joined", m.peer));
    left.read().for_each(|m| println!("{} left ({:?})", m.peer, m.reason));
    host.read()
        .for_each(|m| println!("{} hosts now (after {:?})", m.new, m.pause));
    for e in errors.read() {
        eprintln!("{}", e.message);
        exit.write(AppExit::error());
    }
}

/// Once a second: the remote squares we see.
fn print_remote(time: Res<Time>, mut next: Local<f32>, squares: Query<(&NetRemote, &Square)>) {
    if time.elapsed_secs() < *next {
        return;
    }
    *next = time.elapsed_secs() + 1.0;
    let seen: Vec<String> = squares
        .iter()
        .map(|(r, s)| match r.owner {
            Some(owner) => format!("{owner}#{} at ({:6.2}, {:6.2})", r.id, s.x, s.y),
            None => format!("shared#{} at ({:6.2}, {:6.2})", r.id, s.x, s.y),
        })
        .collect();
    println!(
        "remote squares: {}",
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        }
    );
}
