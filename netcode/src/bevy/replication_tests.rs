//! Replication options on the in-memory network: entity references mapped to the
//! receiver's entities, and interpolation per component (snapped, or the game's own).

use std::time::Duration;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use super::replication::{REF_LEAVES, WireRef, ref_fields};
use super::testing::TestSession;
use super::*;
use crate::PeerId;
use crate::sim::LinkConditions;

#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Spot(f32);

/// What a homing orb chases, and a second reference beside it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Chases {
    #[entities]
    #[serde(with = "entity_ref")]
    target: Entity,
    speed: u8,
    #[entities]
    #[serde(with = "entity_ref")]
    fallback: Entity,
}

/// Degrees in `0..360`: crossing 359 to 1 is two degrees, not 358.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Heading(f32);

/// The same angle, blended linearly (the default): it swings the long way.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bearing(f32);

/// A value shown as received, never blended.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Level(f32);

/// The short way from `a` to `b`.
fn turn(a: &Heading, b: &Heading, t: f32) -> Heading {
    let d = (b.0 - a.0 + 540.0).rem_euclid(360.0) - 180.0;
    Heading((a.0 + d * t).rem_euclid(360.0))
}

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .replicate::<Spot>()
        .replicate::<Chases>()
        .replicate_as(Replication::<Heading>::new().interpolation(Interpolation::With(turn)))
        .replicate::<Bearing>()
        .replicate_as(Replication::<Level>::new().interpolation(Interpolation::Snap));
    app
}

fn pair(seed: u64) -> TestSession {
    let mut s = TestSession::new(seed, LinkConditions::default());
    s.host(app(), "host");
    s.join(app(), "guest").unwrap();
    assert!(s.run_until(Duration::from_secs(5), |s| s.state(1) == Some(NetState::Member)));
    s
}

fn world(s: &mut TestSession, i: usize) -> &mut World {
    s.app_mut(i).unwrap().world_mut()
}

/// App `i`'s entity with `marker`.
fn find<M: Component + PartialEq>(s: &mut TestSession, i: usize, marker: M) -> Option<Entity> {
    let w = world(s, i);
    w.query::<(Entity, &M)>()
        .iter(w)
        .find(|(_, m)| **m == marker)
        .map(|(e, _)| e)
}

#[test]
fn a_reference_travels_as_its_entitys_identity() {
    let me = PeerId(0x0123_4567_89ab_cdef);
    let owned = WireRef::of(me, Some(&NetOwned { id: 7 }), None, None);
    assert_eq!(owned.target(), Some((Some(me), 7)));
    let shared = WireRef::of(me, None, Some(&NetShared { id: 9 }), None);
    assert_eq!(shared.target(), Some((None, 9)));
    let other = NetRemote {
        owner: Some(PeerId(u64::MAX)),
        id: 3,
    };
    assert_eq!(
        WireRef::of(me, None, None, Some(&other)).target(),
        Some((Some(PeerId(u64::MAX)), 3))
    );
    assert_eq!(WireRef::of(me, None, None, None).target(), None);
    assert_eq!(ref_fields(2).len(), 2 * REF_LEAVES);
    assert_eq!(ref_fields(1)[0].path, "entity_refs.0.stream");
}

#[test]
fn references_arrive_as_the_receivers_entities_and_wait_for_theirs() {
    let mut s = pair(31);
    let (host_id, guest_id) = (s.peer_id(0).unwrap(), s.peer_id(1).unwrap());
    let guest_player = world(&mut s, 1).spawn((Spot(1.0), NetOwned { id: 1 })).id();
    let host_player = world(&mut s, 0).spawn((Spot(2.0), NetOwned { id: 1 })).id();
    // Not replicated yet: no replicated component.
    let late = world(&mut s, 0).spawn(NetOwned { id: 2 }).id();
    let local_only = world(&mut s, 0).spawn_empty().id();
    s.run(Duration::from_millis(500));
    let guest_on_host = find(
        &mut s,
        0,
        NetRemote {
            owner: Some(guest_id),
            id: 1,
        },
    )
    .expect("the host sees the guest's player");
    let host_w = world(&mut s, 0);
    let chase = |target, fallback| Chases {
        target,
        speed: 3,
        fallback,
    };
    host_w.spawn((chase(host_player, local_only), NetShared { id: 5 }));
    host_w.spawn((chase(guest_on_host, late), NetShared { id: 6 }));
    s.run(Duration::from_millis(500));
    let host_on_guest = find(
        &mut s,
        1,
        NetRemote {
            owner: Some(host_id),
            id: 1,
        },
    )
    .expect("the guest sees the host's player");
    let orb = |s: &mut TestSession, id| {
        let e = find(s, 1, NetRemote { owner: None, id }).expect("the orb");
        *world(s, 1).get::<Chases>(e).expect("with its Chases")
    };
    // The host's player is a remote entity here; the guest's own is its own entity; a
    // reference to an entity that is not replicated is a placeholder.
    assert_eq!(orb(&mut s, 5), chase(host_on_guest, Entity::PLACEHOLDER));
    assert_eq!(orb(&mut s, 6), chase(guest_player, Entity::PLACEHOLDER));
    // The late entity gets a replicated component: the reference finds it once it arrives.
    world(&mut s, 0).entity_mut(late).insert(Spot(3.0));
    s.run(Duration::from_millis(500));
    let late_on_guest = find(
        &mut s,
        1,
        NetRemote {
            owner: Some(host_id),
            id: 2,
        },
    )
    .expect("the late entity arrived");
    assert_eq!(orb(&mut s, 6), chase(guest_player, late_on_guest));
    let e = find(&mut s, 1, NetRemote { owner: None, id: 6 }).unwrap();
    assert_eq!(
        world(&mut s, 1).get::<Newest<Chases>>(e).unwrap().0,
        chase(guest_player, late_on_guest)
    );
}

#[test]
fn interpolation_is_chosen_per_component() {
    let mut s = pair(32);
    let host_e = world(&mut s, 0)
        .spawn((Heading(350.0), Bearing(350.0), Level(0.0), NetOwned { id: 1 }))
        .id();
    s.run(Duration::from_millis(300));
    let (mut headings, mut bearings) = (Vec::new(), Vec::new());
    let (mut snapped, mut trailed) = (0, 0);
    // 31 degrees per second from 350, across 0, to 20.
    for step in 0..60 {
        let deg = (350.0 + 0.5 * step as f32).rem_euclid(360.0);
        world(&mut s, 0)
            .entity_mut(host_e)
            .insert((Heading(deg), Bearing(deg), Level(step as f32)));
        s.step();
        let w = world(&mut s, 1);
        let mut q = w.query::<(&Heading, &Bearing, &Level, &Newest<Level>, &Newest<Bearing>)>();
        let Ok((h, b, l, newest_l, newest_b)) = q.single(w) else {
            continue;
        };
        headings.push(h.0);
        bearings.push(b.0);
        assert_eq!(*l, newest_l.0, "a snapped component shows the newest state");
        snapped += 1;
        if *b != newest_b.0 {
            trailed += 1;
        }
    }
    assert!(snapped > 50 && trailed > 50, "{snapped} {trailed}");
    let short_way = |d: &f32| *d >= 349.0 || *d <= 21.0;
    assert!(
        headings.iter().all(short_way),
        "the own blend turns the short way: {headings:?}"
    );
    assert!(headings.iter().any(|d| *d > 359.0) && headings.iter().any(|d| *d < 1.0));
    assert!(
        bearings.iter().any(|d| !short_way(d)),
        "a linear angle swings the long way: {bearings:?}"
    );
}

#[test]
fn references_in_shared_entities_survive_a_host_migration() {
    let mut s = TestSession::new(33, LinkConditions::default());
    s.host(app(), "host");
    for name in ["a", "b"] {
        s.join(app(), name).unwrap();
    }
    assert!(s.run_until(Duration::from_secs(5), |s| {
        (1..3).all(|i| s.state(i) == Some(NetState::Member))
    }));
    let a_id = s.peer_id(1).unwrap();
    let a_player = world(&mut s, 1).spawn((Spot(1.0), NetOwned { id: 1 })).id();
    s.run(Duration::from_millis(500));
    let a_marker = NetRemote {
        owner: Some(a_id),
        id: 1,
    };
    let a_on_host = find(&mut s, 0, a_marker).expect("the host sees a's player");
    let chase = |target| Chases {
        target,
        speed: 2,
        fallback: Entity::PLACEHOLDER,
    };
    world(&mut s, 0).spawn((chase(a_on_host), NetShared { id: 5 }));
    s.run(Duration::from_millis(500));
    s.crash(0);
    assert!(s.run_until(Duration::from_secs(5), |s| {
        (1..3).any(|i| s.state(i) == Some(NetState::Hosting))
    }));
    // The new host publishes the orb from its own entity; the other follows its stream.
    s.run(Duration::from_secs(1));
    let new_host = (1..3).find(|i| s.state(*i) == Some(NetState::Hosting)).unwrap();
    let orb_on = |s: &mut TestSession, i: usize| {
        let w = world(s, i);
        let shared = w
            .query::<(&NetShared, &Chases)>()
            .iter(w)
            .find(|(n, _)| n.id == 5)
            .map(|(_, c)| *c);
        let remote = w
            .query::<(&NetRemote, &Chases)>()
            .iter(w)
            .find(|(r, _)| **r == NetRemote { owner: None, id: 5 })
            .map(|(_, c)| *c);
        shared.or(remote).expect("the orb")
    };
    let b_has = find(&mut s, 2, a_marker).expect("b sees a's player");
    assert_eq!(orb_on(&mut s, 1), chase(a_player), "a's own player, on a");
    assert_eq!(orb_on(&mut s, 2), chase(b_has), "a's player as b sees it, on b");
    let w = world(&mut s, new_host);
    assert_eq!(w.query::<&NetShared>().iter(w).count(), 1, "the new host owns the orb");
}
