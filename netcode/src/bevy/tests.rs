//! The plugin's tests: several apps in one process on the in-memory network (virtual
//! clock, deterministic), and a few over real UDP on loopback.

use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_state::prelude::OnEnter;
use serde::{Deserialize, Serialize};

use super::testing::TestSession;
use super::*;
use crate::sim::LinkConditions;
use crate::snapshot::quant::Quant;
use crate::transport::PeerOptions;
use crate::{DirectPath, LeaveReason, Link, PeerId, Scope};

#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Pos {
    pub(super) x: f32,
    pub(super) y: f32,
}

#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Mood {
    Calm,
    Angry,
}

#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Health(pub(super) u8);

/// Everything the plugin told one app.
#[derive(Resource, Default)]
pub(super) struct Seen {
    pub(super) self_joined: Vec<SelfJoined>,
    pub(super) peer_joined: Vec<PeerJoined>,
    pub(super) peer_left: Vec<PeerLeft>,
    pub(super) host_changed: Vec<HostChanged>,
    pub(super) store: Vec<StoreChanged>,
    pub(super) errors: Vec<NetError>,
    pub(super) entered_hosting: u32,
}

fn record(
    mut seen: ResMut<Seen>,
    mut a: MessageReader<SelfJoined>,
    mut b: MessageReader<PeerJoined>,
    mut c: MessageReader<PeerLeft>,
    mut d: MessageReader<HostChanged>,
    mut e: MessageReader<NetError>,
    mut f: MessageReader<StoreChanged>,
) {
    seen.self_joined.extend(a.read().copied());
    seen.peer_joined.extend(b.read().copied());
    seen.peer_left.extend(c.read().copied());
    seen.host_changed.extend(d.read().copied());
    seen.errors.extend(e.read().cloned());
    seen.store.extend(f.read().cloned());
}

/// Moves every owned square on a circle of radius 5 at 0.4 rad/s (2 units/s), by
/// session time (virtual on the in-memory network).
fn circle(net: Option<Res<NetPeer>>, mut squares: Query<&mut Pos, With<NetOwned>>) {
    let Some(net) = net else { return };
    let t = net.now().as_secs_f32() * 0.4;
    for mut p in &mut squares {
        *p = Pos {
            x: 5.0 * t.cos(),
            y: 5.0 * t.sin(),
        };
    }
}

fn quant() -> Quant {
    Quant::new(-50.0, 50.0, 0.01).unwrap()
}

pub(super) fn app() -> App {
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .replicate_with::<Pos>(&[("x", quant()), ("y", quant())])
        .replicate::<Mood>()
        .replicate::<Health>()
        .init_resource::<Seen>()
        .add_systems(Update, (record, circle))
        .add_systems(OnEnter(NetState::Hosting), |mut seen: ResMut<Seen>| {
            seen.entered_hosting += 1;
        });
    app
}

fn peer_id(session: &TestSession, i: usize) -> PeerId {
    session
        .app(i)
        .unwrap()
        .world()
        .resource::<NetPeer>()
        .session()
        .peer_id()
}

/// A remote entity and the components it has.
pub(super) type Remote = (NetRemote, Option<Pos>, Option<Mood>, Option<Health>);

pub(super) fn remotes(app: &mut App) -> Vec<Remote> {
    let mut q = app
        .world_mut()
        .query::<(&NetRemote, Option<&Pos>, Option<&Mood>, Option<&Health>)>();
    let mut out: Vec<_> = q
        .iter(app.world())
        .map(|(r, p, m, h)| (*r, p.copied(), m.copied(), h.copied()))
        .collect();
    out.sort_by_key(|(r, ..)| (r.owner, r.id));
    out
}

fn distance(a: Pos, b: Pos) -> f32 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// A host and `guests` guests on the in-memory network, all admitted.
pub(super) fn session(seed: u64, guests: usize) -> TestSession {
    let mut s = TestSession::new(seed, LinkConditions::default());
    s.host(app(), "host");
    for i in 0..guests {
        s.join(app(), &format!("guest{i}")).unwrap();
    }
    let all_in = s.run_until(Duration::from_secs(5), |s| {
        (1..=guests).all(|g| s.state(g) == Some(NetState::Member))
    });
    assert!(all_in, "every guest joined");
    s
}

#[test]
fn a_guest_sees_every_replicated_component_of_the_hosts_entity() {
    let mut s = session(1, 1);
    let (host_id, guest_id) = (peer_id(&s, 0), peer_id(&s, 1));
    let guest_seen = &s.app(1).unwrap().world().resource::<Seen>().self_joined;
    assert_eq!(
        guest_seen,
        &vec![SelfJoined {
            peer: guest_id,
            rejoined: false
        }]
    );
    assert_eq!(s.state(0), Some(NetState::Hosting));
    s.app_mut(0)
        .unwrap()
        .world_mut()
        .spawn((Pos { x: 5.0, y: 0.0 }, Mood::Angry, Health(77), NetOwned { id: 7 }));
    s.run(Duration::from_secs(1));
    let guest = s.app_mut(1).unwrap();
    let seen = remotes(guest);
    let [(r, Some(pos), Some(mood), Some(health))] = seen[..] else {
        panic!("one remote entity with all three components: {seen:?}")
    };
    assert_eq!(
        r,
        NetRemote {
            owner: Some(host_id),
            id: 7
        }
    );
    assert_eq!((mood, health), (Mood::Angry, Health(77)));
    // The interpolated position trails the newest one received, which trails the host's.
    let mut q = guest.world_mut().query::<&Newest<Pos>>();
    let newest = q.single(guest.world()).unwrap().0;
    let host_pos = {
        let host = s.app_mut(0).unwrap();
        let mut q = host.world_mut().query_filtered::<&Pos, With<NetOwned>>();
        *q.single(host.world()).unwrap()
    };
    assert!(distance(newest, host_pos) < 0.2, "{newest:?} vs {host_pos:?}");
    assert!(
        distance(pos, newest) > 0.01,
        "interpolation shows the past: {pos:?} {newest:?}"
    );
    assert!(distance(pos, host_pos) < 0.8, "{pos:?} vs {host_pos:?}");
    let stats = s.app(1).unwrap().world().resource::<NetStats>().clone();
    assert_eq!((stats.me, stats.host), (Some(guest_id), Some(host_id)));
    assert_eq!(stats.peers[0].link, Link::Direct(DirectPath::Lan));
    assert!(
        stats.bytes_down_per_sec > 0.0 && stats.peers[0].rtt.is_some(),
        "{stats:?}"
    );
    // The one link carries part of what the guest received since it started (the join
    // came before the link).
    let (up, down) = stats.peers[0].kbps.expect("linked");
    let total_kbps = stats.bytes_down_per_sec * 8.0 / 1000.0;
    assert!(up > 0.0 && down > 0.0 && down <= total_kbps, "{stats:?}");
    let history = s.app(1).unwrap().world().resource::<NetHistory>();
    let rtt = &history.peers[&host_id].rtt_ms;
    assert!(
        rtt.len() >= 5 && rtt.iter().all(|(_, ms)| *ms > 30.0 && *ms < 80.0),
        "{rtt:?}"
    );
}

#[test]
fn loss_is_measured_on_every_datagram_that_arrives() {
    for (seed, loss) in [(9, 0.0), (10, 0.1)] {
        let link = LinkConditions {
            loss,
            ..LinkConditions::default()
        };
        let mut s = TestSession::new(seed, link);
        s.host(app(), "host");
        s.join(app(), "guest").unwrap();
        assert!(s.run_until(Duration::from_secs(10), |s| s.state(1) == Some(NetState::Member)));
        s.run(Duration::from_secs(5));
        let stats = s.app(1).unwrap().world().resource::<NetStats>();
        let measured = stats.peers[0].loss.expect("linked");
        assert!(
            (measured - loss).abs() < 0.06,
            "{loss} on the link, {measured} measured"
        );
    }
}

#[test]
fn the_store_is_typed_and_announces_changes() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Round {
        n: u32,
        ends_ms: u64,
    }
    let mut s = session(2, 1);
    let guest_id = peer_id(&s, 1);
    let round = Round { n: 3, ends_ms: 9000 };
    let mut host = s.app_mut(0).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStore>::new(host);
    let mut store = state.get_mut(host).unwrap();
    store.set_shared("round", &round).unwrap();
    assert!(matches!(
        store.set_shared("netcode.schema", &1u8),
        Err(NetError::ReservedKey(key)) if key == "netcode.schema"
    ));
    host = s.app_mut(0).unwrap().world_mut();
    state.apply(host);
    s.run(Duration::from_millis(500));
    let guest = s.app_mut(1).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStore>::new(guest);
    let mut store = state.get_mut(guest).unwrap();
    assert_eq!(store.shared::<Round>("round").unwrap(), Some(round));
    assert_eq!(store.shared::<Round>("no such key").unwrap(), None);
    // Another type than the one written: an error naming the key and the type.
    let error = store.get::<[u64; 4]>(Scope::Shared, "round").unwrap_err();
    assert!(
        matches!(&error, NetError::Decode { key, ty, .. } if key == "round" && *ty == "[u64; 4]"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("\"round\" does not decode as [u64; 4]"),
        "{error}"
    );
    assert!(matches!(
        store.set_shared("round", &0u32),
        Err(NetError::Store(crate::SessionError::NotHost))
    ));
    store.set_own("name", &"juno".to_string()).unwrap();
    assert_eq!(store.keys(Scope::Shared), vec!["round".to_string()]);
    s.run(Duration::from_millis(500));
    let host = s.app_mut(0).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStore>::new(host);
    assert_eq!(
        state.get_mut(host).unwrap().own::<String>(guest_id, "name").unwrap(),
        Some("juno".to_string())
    );
    let mine = &s.app(0).unwrap().world().resource::<Seen>().store;
    assert!(
        mine.contains(&StoreChanged {
            scope: Scope::Shared,
            key: "round".into()
        }),
        "a local write: {mine:?}"
    );
    let changes = &s.app(1).unwrap().world().resource::<Seen>().store;
    assert!(
        changes.contains(&StoreChanged {
            scope: Scope::Shared,
            key: "round".into()
        }),
        "{changes:?}"
    );
    assert!(!changes.iter().any(|c| c.key.starts_with("netcode.")), "{changes:?}");
}

/// Writes `value` under `key` in App `i`'s own entries, through [`NetStore`] as a system
/// would.
pub(super) fn set_own(s: &mut TestSession, i: usize, key: &str, value: &str) {
    let world = s.app_mut(i).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStore>::new(world);
    state.get_mut(world).unwrap().set_own(key, &value.to_string()).unwrap();
    state.apply(world);
}

#[test]
fn a_read_only_store_reads_the_same_and_shares_the_peer() {
    let mut s = session(12, 1);
    let guest_id = peer_id(&s, 1);
    set_own(&mut s, 1, "name", "juno");
    let world = s.app_mut(1).unwrap().world_mut();
    let mut state = bevy_ecs::system::SystemState::<NetStoreRead>::new(world);
    let read = state.get(world).unwrap();
    assert_eq!(read.own::<String>(guest_id, "name").unwrap(), Some("juno".into()));
    assert_eq!(read.me(), Some(guest_id));
    assert!(!read.is_host());
    assert_eq!(read.keys(Scope::Peer(guest_id)), vec!["name".to_string()]);
    assert!(matches!(
        read.own::<u64>(guest_id, "name"),
        Err(NetError::Decode { ty: "u64", .. })
    ));
    // Readers do not exclude each other, nor `Res<NetPeer>`; the writer excludes both.
    let access = |world: &mut World, system: &mut dyn System<In = (), Out = ()>| system.initialize(world);
    let mut readers = [
        Box::new(IntoSystem::into_system(|_: NetStoreRead| {})) as Box<dyn System<In = (), Out = ()>>,
        Box::new(IntoSystem::into_system(|_: NetStoreRead, _: Res<NetPeer>| {})),
        Box::new(IntoSystem::into_system(|_: NetStore| {})),
    ];
    let [a, b, writer] = &mut readers;
    let (a, b, writer) = (
        access(world, &mut **a),
        access(world, &mut **b),
        access(world, &mut **writer),
    );
    assert!(a.is_compatible(&b));
    assert!(!writer.is_compatible(&a) && !writer.is_compatible(&b));
}

/// Three apps; the host, holding a shared entity, crashes.
fn crash_the_host(seed: u64) -> (TestSession, PeerId) {
    let mut s = session(seed, 2);
    let host_id = peer_id(&s, 0);
    s.app_mut(0)
        .unwrap()
        .world_mut()
        .spawn((Pos { x: -3.0, y: 4.0 }, Health(5), NetShared { id: 40 }));
    s.run(Duration::from_secs(1));
    s.crash(0);
    let took_over = s.run_until(Duration::from_secs(5), |s| {
        (1..3).any(|i| s.state(i) == Some(NetState::Hosting))
            && (1..3).all(|i| {
                s.app(i)
                    .unwrap()
                    .world()
                    .resource::<MigrationTimeline>()
                    .migrations
                    .back()
                    .is_some_and(|m| m.resumed.is_some())
            })
    });
    assert!(took_over, "a survivor hosts and both resumed");
    (s, host_id)
}

#[test]
fn a_crashed_host_is_replaced_and_the_new_one_continues_the_shared_entities() {
    let (mut s, old) = crash_the_host(3);
    let new = (1..3).find(|i| s.state(*i) == Some(NetState::Hosting)).unwrap();
    let other = 3 - new;
    assert_eq!(s.state(other), Some(NetState::Member));
    assert_eq!(s.app(new).unwrap().world().resource::<Seen>().entered_hosting, 1);
    let world = s.app_mut(new).unwrap().world_mut();
    let mut q = world.query_filtered::<(&NetShared, &Pos, &Health), Without<NetRemote>>();
    let (shared, pos, health) = q.single(world).unwrap();
    assert_eq!((shared.id, *health), (40, Health(5)));
    assert!(distance(*pos, Pos { x: -3.0, y: 4.0 }) < 0.011);
    // The other survivor follows the new host's shared stream, and sends to it.
    s.run(Duration::from_millis(500));
    let new_id = peer_id(&s, new);
    let to_new = s.app(other).unwrap().world().resource::<NetStats>().peers.clone();
    let to_new = to_new.iter().find(|p| p.peer == new_id).and_then(|p| p.kbps);
    assert!(to_new.is_some_and(|(up, down)| up > 1.0 && down > 1.0), "{to_new:?}");
    let seen = remotes(s.app_mut(other).unwrap());
    assert!(
        seen.iter()
            .any(|(r, _, _, h)| *r == NetRemote { owner: None, id: 40 } && *h == Some(Health(5))),
        "{seen:?}"
    );
    for i in [new, other] {
        let app = s.app(i).unwrap().world();
        let changes = &app.resource::<Seen>().host_changed;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].old, old);
        assert!(
            changes[0].pause > Duration::from_millis(100) && changes[0].pause < Duration::from_secs(2),
            "{changes:?}"
        );
        let m = app.resource::<MigrationTimeline>().migrations.back().unwrap().clone();
        assert_eq!(m.old, old);
        let (silent, claimed, resumed) = (m.silent.unwrap(), m.claimed, m.resumed.unwrap());
        assert!(silent < claimed && claimed <= resumed, "{m:?}");
        assert!(m.suspected.is_some_and(|t| silent < t && t <= claimed), "{m:?}");
        assert!(m.pause().unwrap() < Duration::from_secs(2), "{m:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_migration() {
    let timeline = |seed| {
        let (s, _) = crash_the_host(seed);
        (1..3)
            .map(|i| s.app(i).unwrap().world().resource::<MigrationTimeline>().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(timeline(4), timeline(4));
}

#[test]
fn a_graceful_handover_keeps_the_shared_entities() {
    let mut s = session(5, 1);
    let (host_id, guest_id) = (peer_id(&s, 0), peer_id(&s, 1));
    s.app_mut(0)
        .unwrap()
        .world_mut()
        .spawn((Pos { x: 1.0, y: 2.0 }, NetShared { id: 9 }));
    s.run(Duration::from_millis(500));
    s.app_mut(0).unwrap().world_mut().resource_mut::<NetPeer>().leave();
    assert!(s.run_until(Duration::from_secs(3), |s| s.state(1) == Some(NetState::Hosting)));
    s.run(Duration::from_millis(200));
    assert_eq!(s.state(0), Some(NetState::Offline));
    let guest = s.app(1).unwrap().world();
    let changes = &guest.resource::<Seen>().host_changed;
    assert_eq!((changes[0].old, changes[0].new), (host_id, guest_id));
    assert_eq!(
        guest.resource::<Seen>().peer_left,
        vec![PeerLeft {
            peer: host_id,
            reason: LeaveReason::Graceful
        }]
    );
    let m = guest.resource::<MigrationTimeline>().migrations.back().unwrap().clone();
    assert_eq!(m.suspected, None, "a handover is planned: {m:?}");
    let world = s.app_mut(1).unwrap().world_mut();
    let mut q = world.query::<&NetShared>();
    assert_eq!(q.iter(world).map(|n| n.id).collect::<Vec<_>>(), vec![9]);
}

#[test]
fn a_peer_with_other_components_gets_a_clear_error_at_join() {
    let mut s = TestSession::new(6, LinkConditions::default());
    s.host(app(), "host");
    let mut other = App::new();
    other
        .add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .replicate::<Pos>()
        .init_resource::<Seen>()
        .add_systems(Update, record);
    let guest = s.join(other, "old version").unwrap();
    s.run(Duration::from_secs(2));
    let errors = &s.app(guest).unwrap().world().resource::<Seen>().errors;
    assert!(matches!(errors[..], [NetError::SchemaMismatch { .. }]), "{errors:?}");
    assert!(errors[0].to_string().contains("same version"), "{}", errors[0]);
    assert_eq!(s.state(guest), Some(NetState::Offline));
}

#[test]
fn run_conditions_and_states_follow_the_session() {
    #[derive(Resource, Default)]
    struct Ran {
        host: u32,
        member: u32,
    }
    let with_counters = || {
        let mut a = app();
        a.init_resource::<Ran>()
            .add_systems(Update, (|mut r: ResMut<Ran>| r.host += 1).run_if(is_host))
            .add_systems(Update, (|mut r: ResMut<Ran>| r.member += 1).run_if(in_session));
        a
    };
    let mut offline = with_counters();
    offline.update();
    let ran = offline.world().resource::<Ran>();
    assert_eq!((ran.host, ran.member), (0, 0), "no peer, no session");
    let mut s = TestSession::new(7, LinkConditions::default());
    s.host(with_counters(), "host");
    s.step();
    assert_eq!(s.state(0), Some(NetState::Hosting));
    let guest = s.join(with_counters(), "guest").unwrap();
    s.step();
    assert_eq!(s.state(guest), Some(NetState::Joining));
    assert!(s.run_until(Duration::from_secs(3), |s| s.state(guest) == Some(NetState::Member)));
    let ran = s.app(guest).unwrap().world().resource::<Ran>();
    assert!(ran.member > 0 && ran.host == 0);
    // Cut off from the host: reconnecting, then (the host is gone for it) hosting alone.
    let (a, b) = (
        s.app(0).unwrap().world().resource::<NetPeer>().local_addr(),
        s.app(guest).unwrap().world().resource::<NetPeer>().local_addr(),
    );
    s.net.with_network(|n| n.cut(a, b));
    assert!(s.run_until(Duration::from_secs(5), |s| s.state(guest)
        == Some(NetState::Reconnecting)));
    s.app_mut(0).unwrap().world_mut().remove_resource::<NetPeer>();
    s.step();
    assert_eq!(s.state(0), Some(NetState::Offline));
    assert_eq!(s.app(0).unwrap().world().resource::<NetStats>(), &NetStats::default());
}

#[test]
fn a_join_nobody_answers_is_reported_once() {
    let s = TestSession::new(8, LinkConditions::default());
    let mut lonely = app();
    let contact = "10.9.9.9:7000".parse().unwrap();
    lonely.insert_resource(NetPeer::new(s.net.join("lonely", &[contact]).unwrap()));
    let mut apps = [lonely];
    let until = s.net.now() + crate::sim::MEMORY_JOIN_TIMEOUT + Duration::from_secs(1);
    while s.net.now() < until {
        apps[0].update();
        s.net.advance(Duration::from_millis(16));
    }
    let errors = &apps[0].world().resource::<Seen>().errors;
    assert!(matches!(errors[..], [NetError::JoinTimedOut { .. }]), "{errors:?}");
    assert!(apps[0].world().contains_resource::<NetPeer>(), "the game decides");
}

/// Updates every app, 2 ms apart, until `done` or `secs` pass (real UDP).
fn run_real(apps: &mut [&mut App], secs: f64, mut done: impl FnMut(&mut [&mut App]) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        for app in apps.iter_mut() {
            app.update();
        }
        if done(apps) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn loopback() -> PeerOptions {
    PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..PeerOptions::default()
    }
}

#[test]
fn over_udp_a_guest_joins_by_invite_and_sees_the_hosts_square() {
    let host_peer = Peer::host(loopback()).unwrap();
    let invite = host_peer.invite();
    let host_id = host_peer.session().peer_id();
    let mut host = app();
    host.insert_resource(NetPeer::new(host_peer));
    assert!(host.world().resource::<NetPeer>().udp().is_some());
    host.world_mut().spawn((Pos { x: 5.0, y: 0.0 }, NetOwned { id: 7 }));
    let mut guest = app();
    guest.insert_resource(NetPeer::new(Peer::join(&invite, loopback()).unwrap()));
    let seen = run_real(&mut [&mut host, &mut guest], 10.0, |apps| {
        remotes(apps[1]).iter().any(|(r, p, ..)| {
            *r == NetRemote {
                owner: Some(host_id),
                id: 7,
            } && p.is_some()
        })
    });
    assert!(seen, "{:?}", remotes(&mut guest));
    assert!(guest.world().resource::<Seen>().errors.is_empty());
}

#[test]
fn over_udp_a_failed_join_is_reported_once() {
    let host_peer = Peer::host(loopback()).unwrap();
    let mut invite = host_peer.invite();
    invite.session.key[0] ^= 1;
    let mut host = app();
    host.insert_resource(NetPeer::new(host_peer));
    let options = PeerOptions {
        join_timeout: Duration::from_millis(300),
        ..loopback()
    };
    let mut guest = app();
    guest.insert_resource(NetPeer::new(Peer::join(&invite, options).unwrap()));
    run_real(&mut [&mut host, &mut guest], 1.0, |_| false);
    let errors = &guest.world().resource::<Seen>().errors;
    assert!(matches!(errors[..], [NetError::JoinTimedOut { .. }]), "{errors:?}");
    assert!(
        errors[0].to_string().contains("no member of the session answered"),
        "{errors:?}"
    );
}

#[cfg(feature = "bevy_diagnostic")]
#[test]
fn diagnostics_are_recorded() {
    use bevy_diagnostic::DiagnosticsStore;
    let s = session(9, 1);
    let store = s.app(1).unwrap().world().resource::<DiagnosticsStore>();
    let peers = store.get(&NetDiagnostics::PEERS).and_then(|d| d.value());
    assert_eq!(peers, Some(1.0));
    let down = store.get(&NetDiagnostics::BYTES_DOWN).and_then(|d| d.value());
    assert!(down.is_some_and(|b| b > 0.0), "{down:?}");
}
