use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;

use super::*;
use crate::invite::Invite;
use crate::snapshot::quant::Quant;
use crate::transport::PeerOptions;

#[derive(Component, Debug, Clone, Copy, PartialEq)]
struct Pos {
    x: f32,
    y: f32,
}

impl Replicate for Pos {
    const KIND: u8 = 0;

    fn fields() -> Vec<Quant> {
        let q = Quant::new(-50.0, 50.0, 0.01).unwrap();
        vec![q, q]
    }

    fn to_values(&self) -> Vec<f32> {
        vec![self.x, self.y]
    }

    fn from_values(values: &[f32]) -> Option<Self> {
        Some(Pos {
            x: *values.first()?,
            y: *values.get(1)?,
        })
    }
}

/// Everything the plugin told one app.
#[derive(Resource, Default)]
struct Seen {
    self_joined: Vec<SelfJoined>,
    peer_joined: Vec<PeerJoined>,
    peer_left: Vec<PeerLeft>,
    host_changed: Vec<HostChanged>,
    errors: Vec<NetError>,
}

fn record(
    mut seen: ResMut<Seen>,
    mut a: MessageReader<SelfJoined>,
    mut b: MessageReader<PeerJoined>,
    mut c: MessageReader<PeerLeft>,
    mut d: MessageReader<HostChanged>,
    mut e: MessageReader<NetError>,
) {
    seen.self_joined.extend(a.read().copied());
    seen.peer_joined.extend(b.read().copied());
    seen.peer_left.extend(c.read().copied());
    seen.host_changed.extend(d.read().copied());
    seen.errors.extend(e.read().cloned());
}

/// Whether the owned squares move, and since when.
#[derive(Resource)]
struct Motion {
    start: Instant,
    moving: bool,
}

/// Moves every owned square on a circle of radius 5 at 0.4 rad/s (2 units/s).
fn circle(motion: Res<Motion>, mut squares: Query<&mut Pos, With<NetOwned>>) {
    if !motion.moving {
        return;
    }
    let t = motion.start.elapsed().as_secs_f32() * 0.4;
    for mut p in &mut squares {
        *p = Pos {
            x: 5.0 * t.cos(),
            y: 5.0 * t.sin(),
        };
    }
}

fn loopback() -> PeerOptions {
    PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..PeerOptions::default()
    }
}

fn app_with(peer: Peer) -> App {
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .replicate::<Pos>()
        .init_resource::<Seen>()
        .insert_resource(Motion {
            start: Instant::now(),
            moving: true,
        })
        .add_systems(Update, (record, circle))
        .insert_resource(NetPeer(peer));
    app
}

/// Updates every app, 2 ms apart, until `done` or `secs` pass.
fn run_until(apps: &mut [&mut App], secs: f64, mut done: impl FnMut(&mut [&mut App]) -> bool) -> bool {
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

fn peer_id(app: &App) -> PeerId {
    app.world().resource::<NetPeer>().session().peer_id()
}

fn owned_pos(app: &mut App) -> Pos {
    let mut q = app.world_mut().query_filtered::<&Pos, With<NetOwned>>();
    *q.single(app.world()).unwrap()
}

fn remotes(app: &mut App) -> Vec<(NetRemote, Pos)> {
    let mut q = app.world_mut().query::<(&NetRemote, &Pos)>();
    q.iter(app.world()).map(|(r, p)| (*r, *p)).collect()
}

fn distance(a: Pos, b: Pos) -> f32 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// A host app and a guest app that joined it through the host's invite.
fn pair() -> (App, App) {
    let host_peer = Peer::host(loopback()).unwrap();
    let code = host_peer.invite().encode();
    let mut host = app_with(host_peer);
    let guest_peer = Peer::join(&Invite::decode(&code).unwrap(), loopback()).unwrap();
    let mut guest = app_with(guest_peer);
    let met = run_until(&mut [&mut host, &mut guest], 10.0, |apps| {
        !apps[1].world().resource::<Seen>().self_joined.is_empty()
            && !apps[0].world().resource::<Seen>().peer_joined.is_empty()
    });
    assert!(met, "the guest joined and the host saw it");
    (host, guest)
}

#[test]
fn a_guest_joins_and_sees_the_hosts_square_move() {
    let (mut host, mut guest) = pair();
    let (host_id, guest_id) = (peer_id(&host), peer_id(&guest));
    let joined = guest.world().resource::<Seen>().self_joined[0];
    assert_eq!(
        joined,
        SelfJoined {
            peer: guest_id,
            rejoined: false
        }
    );
    assert_eq!(
        host.world().resource::<Seen>().peer_joined,
        vec![PeerJoined { peer: guest_id }]
    );
    assert_eq!(
        host.world().resource::<Seen>().self_joined,
        vec![SelfJoined {
            peer: host_id,
            rejoined: false
        }]
    );
    host.world_mut().spawn((Pos { x: 5.0, y: 0.0 }, NetOwned { id: 7 }));

    // The square shows up on the guest as a remote entity of the host's, near where the
    // host has it (it moves 2 units/s; interpolation shows it some tens of ms late).
    let close = run_until(&mut [&mut host, &mut guest], 10.0, |apps| {
        let target = owned_pos(apps[0]);
        match remotes(apps[1]).as_slice() {
            [(r, p)] => {
                *r == NetRemote {
                    owner: Some(host_id),
                    id: 7,
                } && distance(*p, target) < 0.8
            }
            _ => false,
        }
    });
    assert!(close, "remote square follows: {:?}", remotes(&mut guest));
    assert!(remotes(&mut host).is_empty(), "the guest owns nothing");

    // Stopped, it settles on the host's position, within the quantisation.
    host.world_mut().resource_mut::<Motion>().moving = false;
    run_until(&mut [&mut host, &mut guest], 0.5, |_| false);
    let [(_, seen)] = remotes(&mut guest)[..] else {
        panic!("one remote square")
    };
    let target = owned_pos(&mut host);
    assert!(distance(seen, target) < 0.011, "{seen:?} vs {target:?}");

    let stats = guest.world().resource::<NetStats>().clone();
    assert_eq!(stats.me, Some(guest_id));
    assert_eq!(stats.host, Some(host_id));
    assert_eq!(stats.peers.len(), 1);
    assert_eq!(stats.peers[0].peer, host_id);
    assert_eq!(stats.peers[0].link, LinkState::Direct);
    assert!(stats.peers[0].rtt.is_some(), "{stats:?}");
    assert!(
        stats.bytes_down_per_sec > 0.0 && stats.bytes_up_per_sec > 0.0,
        "{stats:?}"
    );
    assert!(guest.world().resource::<Seen>().errors.is_empty());
    assert!(host.world().resource::<Seen>().errors.is_empty());
}

#[test]
fn the_new_host_continues_the_shared_entities() {
    let (mut host, mut guest) = pair();
    let (host_id, guest_id) = (peer_id(&host), peer_id(&guest));
    host.world_mut().spawn((Pos { x: 5.0, y: 0.0 }, NetOwned { id: 1 }));
    host.world_mut().spawn((Pos { x: -3.0, y: 4.0 }, NetShared { id: 40 }));
    let replicated = run_until(&mut [&mut host, &mut guest], 10.0, |apps| remotes(apps[1]).len() == 2);
    assert!(replicated, "{:?}", remotes(&mut guest));
    let shared = remotes(&mut guest)
        .into_iter()
        .find(|(r, _)| r.owner.is_none())
        .expect("the shared square");
    assert_eq!(shared.0.id, 40);
    assert!(distance(shared.1, Pos { x: -3.0, y: 4.0 }) < 0.011);

    // The host leaves: the guest hosts, keeps the shared square as its own to run, and
    // drops the leaver's square.
    host.world_mut().resource_mut::<NetPeer>().leave();
    let took_over = run_until(&mut [&mut host, &mut guest], 10.0, |apps| {
        let world = apps[1].world_mut();
        let hosting = world.resource::<NetPeer>().session().is_host();
        let mut q = world.query::<(&NetShared, &Pos)>();
        hosting && q.iter(world).count() == 1 && remotes(apps[1]).is_empty()
    });
    assert!(took_over, "{:?}", remotes(&mut guest));
    let world = guest.world_mut();
    let mut q = world.query_filtered::<(&NetShared, &Pos), Without<NetRemote>>();
    let (s, p) = q.single(world).unwrap();
    assert_eq!(s.id, 40);
    assert!(distance(*p, Pos { x: -3.0, y: 4.0 }) < 0.011);
    let changes = &guest.world().resource::<Seen>().host_changed;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!((changes[0].old, changes[0].new), (host_id, guest_id));
    assert!(changes[0].pause < Duration::from_secs(1), "a handover: {changes:?}");
    let left = &guest.world().resource::<Seen>().peer_left;
    assert_eq!(
        left,
        &vec![PeerLeft {
            peer: host_id,
            reason: LeaveReason::Graceful
        }]
    );
}

#[test]
fn after_a_host_crash_the_pause_is_reported_and_the_survivor_hosts() {
    let (mut host, mut guest) = pair();
    let host_id = peer_id(&host);
    host.world_mut().spawn((Pos { x: 1.0, y: 2.0 }, NetShared { id: 9 }));
    let replicated = run_until(&mut [&mut host, &mut guest], 10.0, |apps| remotes(apps[1]).len() == 1);
    assert!(replicated);
    drop(host); // its socket closes without a goodbye
    let took_over = run_until(&mut [&mut guest], 10.0, |apps| {
        let world = apps[0].world_mut();
        let mut q = world.query::<&NetShared>();
        world.resource::<NetPeer>().session().is_host() && q.iter(world).count() == 1
    });
    assert!(took_over, "{:?}", remotes(&mut guest));
    let changes = &guest.world().resource::<Seen>().host_changed;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].old, host_id);
    assert!(
        changes[0].pause >= Duration::from_millis(100) && changes[0].pause < Duration::from_secs(3),
        "{changes:?}"
    );
}

#[derive(Resource, Default)]
struct Ran {
    host: u32,
    member: u32,
}

fn conditions_app() -> App {
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .init_resource::<Ran>()
        .init_resource::<Seen>()
        .add_systems(Update, record)
        .add_systems(Update, (|mut r: ResMut<Ran>| r.host += 1).run_if(is_host))
        .add_systems(Update, (|mut r: ResMut<Ran>| r.member += 1).run_if(in_session));
    app
}

#[test]
fn run_conditions_follow_the_session() {
    let mut host = conditions_app();
    host.update();
    let ran = host.world().resource::<Ran>();
    assert_eq!((ran.host, ran.member), (0, 0), "no peer, no session");

    let host_peer = Peer::host(loopback()).unwrap();
    let invite = host_peer.invite();
    host.insert_resource(NetPeer(host_peer));
    host.update();
    let ran = host.world().resource::<Ran>();
    assert_eq!((ran.host, ran.member), (1, 1), "a new session's creator hosts it");

    let mut guest = conditions_app();
    guest.insert_resource(NetPeer(Peer::join(&invite, loopback()).unwrap()));
    guest.update();
    assert_eq!(guest.world().resource::<Ran>().member, 0, "not yet admitted");
    let joined = run_until(&mut [&mut host, &mut guest], 10.0, |apps| {
        apps[1].world().resource::<Ran>().member > 0
    });
    assert!(joined);
    assert_eq!(guest.world().resource::<Ran>().host, 0, "a guest does not host");

    host.world_mut().remove_resource::<NetPeer>();
    let before = host.world().resource::<Ran>().host;
    host.update();
    assert_eq!(host.world().resource::<Ran>().host, before, "no peer, no host");
    assert_eq!(host.world().resource::<NetStats>(), &NetStats::default());
}

#[test]
fn a_failed_join_is_reported_once() {
    let host_peer = Peer::host(loopback()).unwrap();
    let mut invite = host_peer.invite();
    invite.session.key[0] ^= 1;
    let mut host = conditions_app();
    host.insert_resource(NetPeer(host_peer));
    let mut guest = conditions_app();
    let options = PeerOptions {
        join_timeout: Duration::from_millis(300),
        ..loopback()
    };
    guest.insert_resource(NetPeer(Peer::join(&invite, options).unwrap()));
    run_until(&mut [&mut host, &mut guest], 1.0, |_| false);
    let errors = &guest.world().resource::<Seen>().errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.starts_with("invite code is invalid"), "{errors:?}");
    assert!(guest.world().contains_resource::<NetPeer>(), "the game decides");
}

#[cfg(feature = "bevy_diagnostic")]
#[test]
fn diagnostics_are_recorded() {
    use bevy_diagnostic::DiagnosticsStore;
    let (mut host, mut guest) = pair();
    run_until(&mut [&mut host, &mut guest], 0.5, |_| false);
    let store = guest.world().resource::<DiagnosticsStore>();
    let peers = store.get(&NetDiagnostics::PEERS).and_then(|d| d.value());
    assert_eq!(peers, Some(1.0));
    let down = store.get(&NetDiagnostics::BYTES_DOWN).and_then(|d| d.value());
    assert!(down.is_some_and(|b| b > 0.0), "{down:?}");
    let rtt = store.get(&NetDiagnostics::RTT_MS).and_then(|d| d.value());
    assert!(rtt.is_some_and(|ms| ms >= 0.0), "{rtt:?}");
}
