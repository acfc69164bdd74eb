//! A peer's life through `TestSession`: Bevy time on the virtual clock, a graceful
//! leave, and a crashed member's new App taking its seat back through the plugin.

use std::time::Duration;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_time::Time;

use super::tests::{Pos, Seen, app, remotes, session, set_own};
use super::*;
use crate::{LeaveReason, Scope};

/// The seat messages one app saw.
#[derive(Resource, Default)]
struct Seats {
    away: Vec<PeerAway>,
    rejoined: Vec<PeerRejoined>,
}

fn seats(mut seen: ResMut<Seats>, mut away: MessageReader<PeerAway>, mut back: MessageReader<PeerRejoined>) {
    seen.away.extend(away.read().copied());
    seen.rejoined.extend(back.read().copied());
}

fn watched() -> App {
    let mut app = app();
    app.init_resource::<Seats>().add_systems(Update, seats);
    app
}

#[test]
fn bevy_time_follows_the_virtual_clock() {
    let mut s = session(21, 1);
    let start = s.net.now();
    let elapsed = |s: &testing::TestSession| s.app(1).unwrap().world().resource::<Time>().elapsed();
    let before = elapsed(&s);
    s.run(Duration::from_millis(800));
    // 50 frames of 16 ms: the App's clock moved exactly as the network's.
    assert_eq!(s.net.now() - start, Duration::from_millis(800));
    assert_eq!(elapsed(&s) - before, Duration::from_millis(800));
    let delta = s.app(1).unwrap().world().resource::<Time>().delta();
    assert_eq!(delta, testing::TEST_FRAME);
}

#[test]
fn a_member_that_leaves_goes_offline_and_the_others_release_its_seat() {
    let mut s = session(22, 2);
    let left = s.peer_id(2).unwrap();
    // At once, before the guests link to each other: a member without a link to the
    // leaver learns of the goodbye through the host, and reports a leave all the same.
    s.leave(2);
    assert!(s.run_until(Duration::from_secs(3), |s| s.state(2) == Some(NetState::Offline)));
    s.run(Duration::from_millis(300));
    for i in [0, 1] {
        let seen = &s.app(i).unwrap().world().resource::<Seen>().peer_left;
        assert_eq!(
            seen,
            &vec![PeerLeft {
                peer: left,
                reason: LeaveReason::Graceful
            }],
            "app {i}"
        );
    }
}

#[test]
fn a_crashed_member_rejoins_through_the_plugin_with_its_id_and_its_entries() {
    let mut s = testing::TestSession::new(23, crate::sim::LinkConditions::default());
    s.host(watched(), "host");
    s.join(watched(), "guest").unwrap();
    assert!(s.run_until(Duration::from_secs(5), |s| s.state(1) == Some(NetState::Member)));
    let (host_id, guest_id) = (s.peer_id(0).unwrap(), s.peer_id(1).unwrap());
    s.app_mut(0)
        .unwrap()
        .world_mut()
        .spawn((Pos { x: 1.0, y: 2.0 }, NetOwned { id: 3 }));
    set_own(&mut s, 1, "name", "juno");
    s.run(Duration::from_millis(500));
    // The guest's process dies; the host holds its seat.
    s.crash(1);
    let held = s.run_until(Duration::from_secs(5), |s| {
        s.app(0).unwrap().world().resource::<Seats>().away == vec![PeerAway { peer: guest_id }]
    });
    assert!(held, "the host holds the seat");
    // A new App takes it back from the seat, as App 1.
    s.rejoin(1, watched()).unwrap();
    assert_eq!(s.state(1), Some(NetState::Offline), "not updated yet");
    assert!(s.run_until(Duration::from_secs(5), |s| s.state(1) == Some(NetState::Member)));
    s.run(Duration::from_millis(500));
    let world = s.app(1).unwrap().world();
    assert_eq!(world.resource::<NetPeer>().session().peer_id(), guest_id);
    assert_eq!(
        world.resource::<Seen>().self_joined,
        vec![SelfJoined {
            peer: guest_id,
            rejoined: true
        }]
    );
    assert_eq!(
        s.app(0).unwrap().world().resource::<Seats>().rejoined,
        vec![PeerRejoined { peer: guest_id }]
    );
    // It sees the session: the host's entity and its own entry kept by the seat.
    let seen = remotes(s.app_mut(1).unwrap());
    assert!(
        seen.iter().any(|(r, p, ..)| *r
            == NetRemote {
                owner: Some(host_id),
                id: 3
            }
            && p.is_some()),
        "{seen:?}"
    );
    let world = s.app_mut(1).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStoreRead>::new(world);
    let store = state.get(world).unwrap();
    assert_eq!(
        store.get::<String>(Scope::Peer(guest_id), "name").unwrap(),
        Some("juno".into())
    );
}
