//! Game messages through the plugin, on the in-memory network.

use std::time::Duration;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemState;
use serde::{Deserialize, Serialize};

use super::testing::TestSession;
use super::*;
use crate::protocol::MAX_GAME_MESSAGE_BYTES;
use crate::sim::LinkConditions;
use crate::{Channel, PeerId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chat(String);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Fire {
    n: u32,
    angle: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Big(Vec<u8>);

/// Every message of type `M` one app received.
#[derive(Resource)]
struct Got<M>(Vec<(PeerId, M)>);

impl<M> Default for Got<M> {
    fn default() -> Self {
        Got(Vec::new())
    }
}

fn record<M: NetMessage + Clone>(mut got: ResMut<Got<M>>, mut r: MessageReader<FromPeer<M>>) {
    got.0.extend(r.read().map(|m| (m.from, m.message.clone())));
}

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
        .add_net_message::<Chat>(Channel::ReliableOrdered)
        .add_net_message::<Fire>(Channel::Unreliable)
        .add_net_message::<Big>(Channel::ReliableUnordered)
        .init_resource::<Got<Chat>>()
        .init_resource::<Got<Fire>>()
        .add_systems(Update, (record::<Chat>, record::<Fire>));
    app
}

fn peer_id(s: &TestSession, i: usize) -> PeerId {
    s.app(i).unwrap().world().resource::<NetPeer>().session().peer_id()
}

/// A host and two guests, all admitted, and a second for the guests to link to each
/// other (an unreliable message to a member without a route yet is dropped).
fn session(seed: u64) -> TestSession {
    let mut s = TestSession::new(seed, LinkConditions::default());
    s.host(app(), "host");
    for i in 0..2 {
        s.join(app(), &format!("guest{i}")).unwrap();
    }
    assert!(s.run_until(Duration::from_secs(5), |s| {
        (1..=2).all(|g| s.state(g) == Some(NetState::Member))
    }));
    s.run(Duration::from_secs(1));
    s
}

/// Runs `f` with a [`NetSender`] in app `i`.
fn send<T>(s: &mut TestSession, i: usize, f: impl FnOnce(&mut NetSender) -> T) -> T {
    with_sender(s.app_mut(i).unwrap().world_mut(), f)
}

fn with_sender<T>(world: &mut World, f: impl FnOnce(&mut NetSender) -> T) -> T {
    let mut state = SystemState::<NetSender>::new(world);
    let mut sender = state.get_mut(world).expect("the plugin is added");
    let out = f(&mut sender);
    state.apply(world);
    out
}

fn chats(s: &TestSession, i: usize) -> Vec<(PeerId, Chat)> {
    s.app(i).unwrap().world().resource::<Got<Chat>>().0.clone()
}

#[test]
fn messages_go_each_way_with_the_senders_id() {
    let mut s = session(31);
    let (host, g0, g1) = (peer_id(&s, 0), peer_id(&s, 1), peer_id(&s, 2));
    send(&mut s, 1, |m: &mut NetSender| m.to_host(&Chat("hi host".into()))).unwrap();
    send(&mut s, 0, |m: &mut NetSender| m.to_all(&Chat("hi all".into()))).unwrap();
    send(&mut s, 1, move |m: &mut NetSender| {
        m.to_peer(g1, &Fire { n: 1, angle: 0.5 })
    })
    .unwrap();
    s.run(Duration::from_millis(500));
    assert_eq!(chats(&s, 0), vec![(g0, Chat("hi host".into()))]);
    assert_eq!(chats(&s, 1), vec![(host, Chat("hi all".into()))]);
    assert_eq!(chats(&s, 2), vec![(host, Chat("hi all".into()))]);
    let fire = &s.app(2).unwrap().world().resource::<Got<Fire>>().0;
    assert_eq!(fire, &vec![(g0, Fire { n: 1, angle: 0.5 })]);
    assert!(s.app(0).unwrap().world().resource::<Got<Fire>>().0.is_empty());
    // The host's message to the host: here, next frame.
    send(&mut s, 0, |m: &mut NetSender| m.to_host(&Chat("me".into()))).unwrap();
    s.step();
    assert_eq!(chats(&s, 0).last(), Some(&(host, Chat("me".into()))));
}

#[test]
fn order_is_kept_on_a_reliable_ordered_channel() {
    let mut s = TestSession::new(
        32,
        LinkConditions {
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(20),
            loss: 0.1,
            ..LinkConditions::default()
        },
    );
    s.host(app(), "host");
    s.join(app(), "guest").unwrap();
    assert!(s.run_until(Duration::from_secs(10), |s| s.state(1) == Some(NetState::Member)));
    for round in 0..10 {
        send(&mut s, 1, move |m: &mut NetSender| {
            for n in 0..10 {
                m.to_host(&Chat(format!("{}", round * 10 + n))).unwrap();
            }
        });
        s.step();
    }
    s.run(Duration::from_secs(3));
    let got: Vec<String> = chats(&s, 0).into_iter().map(|(_, c)| c.0).collect();
    let want: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn a_message_too_big_or_without_a_session_is_a_typed_error() {
    let mut s = session(33);
    let too_big = Big(vec![7; MAX_GAME_MESSAGE_BYTES]);
    let err = send(&mut s, 1, move |m: &mut NetSender| m.to_host(&too_big)).unwrap_err();
    assert!(
        matches!(err, SendError::TooLarge { size, max, .. } if size > max && max == MAX_GAME_MESSAGE_BYTES),
        "{err}"
    );
    let err = send(&mut s, 1, |m: &mut NetSender| m.to_all(&7u8)).unwrap_err();
    assert!(matches!(err, SendError::Unregistered { message: "u8" }), "{err}");
    let stranger = PeerId(99);
    let err = send(&mut s, 1, move |m: &mut NetSender| {
        m.to_peer(stranger, &Chat("?".into()))
    })
    .unwrap_err();
    assert!(
        matches!(err, SendError::UnknownPeer { peer } if peer == stranger),
        "{err}"
    );
    // An app without a session.
    let mut lone = app();
    let err = with_sender(lone.world_mut(), |m: &mut NetSender| m.to_all(&Chat("anyone?".into()))).unwrap_err();
    assert!(matches!(err, SendError::Offline), "{err}");
}

#[test]
fn a_kind_that_does_not_decode_is_dropped_and_the_next_one_arrives() {
    let mut s = session(34);
    let g0 = peer_id(&s, 1);
    let world = s.app_mut(1).unwrap().world_mut();
    let mut peer = world.resource_mut::<NetPeer>();
    let session = peer.session_mut();
    // Kind 0 is Chat: these bytes are no Chat. Kind 40 is nobody's.
    session
        .send_message(Target::Host, Channel::ReliableOrdered, 0, vec![0xFF; 9])
        .unwrap();
    session
        .send_message(Target::Host, Channel::ReliableOrdered, 40, vec![1])
        .unwrap();
    send(&mut s, 1, |m: &mut NetSender| m.to_host(&Chat("after".into()))).unwrap();
    s.run(Duration::from_millis(500));
    assert_eq!(chats(&s, 0), vec![(g0, Chat("after".into()))]);
    assert_eq!(s.state(0), Some(NetState::Hosting));
    assert_eq!(s.state(1), Some(NetState::Member), "nobody is dropped for it");
}

#[test]
fn a_peer_with_other_message_or_store_types_gets_a_clear_error_at_join() {
    for other in [
        |app: &mut App| {
            app.add_net_message::<Chat>(Channel::ReliableOrdered)
                .add_net_message::<Big>(Channel::ReliableUnordered)
                .add_net_message::<Fire>(Channel::Unreliable);
        },
        |app: &mut App| {
            app.add_net_message::<Chat>(Channel::ReliableOrdered)
                .add_net_message::<Fire>(Channel::ReliableOrdered)
                .add_net_message::<Big>(Channel::ReliableUnordered);
        },
        |app: &mut App| {
            app.add_net_message::<Chat>(Channel::ReliableOrdered)
                .add_net_message::<Fire>(Channel::Unreliable)
                .add_net_message::<Big>(Channel::ReliableUnordered)
                .register_store::<u32>("score:");
        },
    ] {
        let mut s = TestSession::new(35, LinkConditions::default());
        s.host(app(), "host");
        let mut guest = App::new();
        guest.add_plugins((::bevy::MinimalPlugins, NetcodePlugin));
        other(&mut guest);
        guest.init_resource::<Errors>().add_systems(Update, errors);
        let g = s.join(guest, "other version").unwrap();
        s.run(Duration::from_secs(2));
        let seen = &s.app(g).unwrap().world().resource::<Errors>().0;
        assert!(matches!(seen[..], [NetError::SchemaMismatch { .. }]), "{seen:?}");
    }
    // The same declarations in the same order: admitted.
    let mut s = TestSession::new(36, LinkConditions::default());
    let with_store = || {
        let mut a = app();
        a.register_store::<u32>("score:");
        a
    };
    s.host(with_store(), "host");
    s.join(with_store(), "same").unwrap();
    s.run(Duration::from_secs(2));
    assert_eq!(s.state(1), Some(NetState::Member));
}

#[derive(Resource, Default)]
struct Errors(Vec<NetError>);

fn errors(mut seen: ResMut<Errors>, mut r: MessageReader<NetError>) {
    seen.0.extend(r.read().cloned());
}

#[test]
fn a_message_goes_through_a_relay_when_the_direct_link_is_cut() {
    let mut s = session(37);
    let (g0, g1) = (peer_id(&s, 1), peer_id(&s, 2));
    let addr = |s: &TestSession, i: usize| s.app(i).unwrap().world().resource::<NetPeer>().local_addr();
    let (a, b) = (addr(&s, 1), addr(&s, 2));
    s.net.with_network(|n| n.cut(a, b));
    assert!(s.run_until(Duration::from_secs(5), |s| {
        s.app(1).unwrap().world().resource::<NetPeer>().session().link(g1)
            == crate::Link::Relayed(crate::Relayer::Member)
    }));
    send(&mut s, 1, move |m: &mut NetSender| {
        m.to_peer(g1, &Chat("via host".into()))
    })
    .unwrap();
    send(&mut s, 1, move |m: &mut NetSender| {
        m.to_peer(g1, &Fire { n: 2, angle: 1.0 })
    })
    .unwrap();
    s.run(Duration::from_millis(300));
    assert_eq!(chats(&s, 2), vec![(g0, Chat("via host".into()))]);
    let fire = &s.app(2).unwrap().world().resource::<Got<Fire>>().0;
    assert_eq!(fire, &vec![(g0, Fire { n: 2, angle: 1.0 })], "an unreliable one too");
}

#[test]
fn a_message_to_a_host_that_crashes_reaches_the_next_host() {
    let mut s = session(38);
    let (g0, g1) = (peer_id(&s, 1), peer_id(&s, 2));
    // Both guests tell the host; it crashes before either message leaves.
    send(&mut s, 1, |m: &mut NetSender| m.to_host(&Chat("from g0".into()))).unwrap();
    send(&mut s, 2, |m: &mut NetSender| m.to_host(&Chat("from g1".into()))).unwrap();
    s.crash(0);
    assert!(s.run_until(Duration::from_secs(5), |s| {
        (1..=2).any(|i| s.state(i) == Some(NetState::Hosting))
    }));
    s.run(Duration::from_millis(500));
    let new_host = (1..=2).find(|i| s.state(*i) == Some(NetState::Hosting)).unwrap();
    let mut got = chats(&s, new_host);
    got.sort_by_key(|(from, _)| *from == g1);
    assert_eq!(
        got,
        vec![(g0, Chat("from g0".into())), (g1, Chat("from g1".into()))],
        "both, at the new host (its own too)"
    );
    let other = 3 - new_host;
    assert!(chats(&s, other).is_empty(), "nothing at the member that does not host");
}
