//! The plugin while a join sets up over real UDP: `NetState::Joining` with its
//! `JoinPhase` sub state, and a cancel back to `Offline`.

use std::net::UdpSocket;
use std::time::Duration;

use bevy_app::prelude::*;
use bevy_state::prelude::State;

use super::*;
use crate::SessionKey;
use crate::transport::PeerOptions;

#[test]
fn joining_shows_its_phase_and_a_cancel_returns_offline() {
    // A rendezvous service that never answers: the join stays in its first phase.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let invite = Invite {
        addrs: Vec::new(),
        rendezvous: vec![silent.local_addr().unwrap()],
        public: Vec::new(),
        session: SessionKey { id: 5, key: [4; 32] },
        dht: false,
    };
    let options = PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..PeerOptions::default()
    };
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin));
    app.insert_resource(NetPeer::join(&invite, options).unwrap());
    for _ in 0..3 {
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
    let world = app.world();
    assert_eq!(*world.resource::<State<NetState>>().get(), NetState::Joining);
    assert_eq!(
        world.get_resource::<State<JoinPhase>>().map(|s| *s.get()),
        Some(JoinPhase::AskingStun)
    );
    assert_eq!(world.resource::<NetPeer>().join_phase(), Some(JoinPhase::AskingStun));
    app.world_mut().resource_mut::<NetPeer>().cancel();
    app.update();
    app.update();
    let world = app.world();
    assert_eq!(*world.resource::<State<NetState>>().get(), NetState::Offline);
    assert!(
        world.get_resource::<State<JoinPhase>>().is_none(),
        "no phase once offline"
    );
}
