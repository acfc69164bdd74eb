//! The arena's rules on the plugin, several Apps on the in-memory network with a virtual
//! clock (`netcode::bevy::testing`): bots play, the host scores, the round survives the
//! host, and every player sees the same round end.

use std::collections::BTreeSet;
use std::time::Duration;

use bevy::prelude::*;
use netcode::PeerId;
use netcode::bevy::testing::TestSession;
use netcode::bevy::{NetOwned, NetPeer, NetRemote, NetShared, NetState, NetcodePlugin};
use netcode::sim::LinkConditions;

use super::*;

/// Longest virtual wait of a step of a test.
const WAIT: Duration = Duration::from_secs(20);

/// The round ends this peer saw.
#[derive(Resource, Default)]
struct Seen(Vec<(u32, Vec<(PeerId, u32)>)>);

fn record(mut seen: ResMut<Seen>, mut events: MessageReader<GameEvent>) {
    for e in events.read() {
        if let GameEvent::RoundEnd { round, scores } = e {
            seen.0.push((*round, scores.clone()));
        }
    }
}

/// A headless game peer with a bot (`TestSession` runs its `Time` on the virtual clock).
fn bot_app(round_len: Duration) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetcodePlugin, ArenaPlugin { round_len }))
        .init_resource::<Seen>()
        .add_systems(Update, crate::bot::steer.in_set(ArenaSet::Input))
        .add_systems(Update, record.after(ArenaSet::Play));
    app
}

/// Three bots: a host and two members, all in.
fn three_bots(seed: u64, round_len: Duration) -> TestSession {
    let mut s = TestSession::new(seed, LinkConditions::default());
    s.host(bot_app(round_len), "host");
    for name in ["b", "c"] {
        s.join(bot_app(round_len), name).expect("joins");
    }
    let all_in = s.run_until(WAIT, |s| (1..3).all(|i| s.state(i) == Some(NetState::Member)));
    assert!(all_in, "both members joined");
    s
}

fn world(s: &mut TestSession, i: usize) -> &mut World {
    s.app_mut(i).expect("running").world_mut()
}

/// The shared store's view of app `i`: (round, every score by peer).
fn view(s: &mut TestSession, i: usize) -> (Option<Round>, Vec<(PeerId, u32)>) {
    let w = world(s, i);
    let net = w.resource::<NetPeer>();
    let session = net.session();
    let read = |key: &str| session.store().get(netcode::Scope::Shared, key).map(<[u8]>::to_vec);
    let decode = |bytes: Vec<u8>| bincode_u32(&bytes);
    let round = read(ROUND_KEY).and_then(|b| bincode_round(&b));
    let scores = session
        .roster()
        .active()
        .map(|m| (m.id, read(&score_key(m.id)).and_then(decode).unwrap_or(0)))
        .collect();
    (round, scores)
}

fn bincode_u32(bytes: &[u8]) -> Option<u32> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .ok()
        .map(|(v, _)| v)
}

fn bincode_round(bytes: &[u8]) -> Option<Round> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .ok()
        .map(|(v, _)| v)
}

fn total(scores: &[(PeerId, u32)]) -> u32 {
    scores.iter().map(|(_, s)| s).sum()
}

/// The orbs app `i` sees: shared ids (its own if it hosts, remote otherwise).
fn orb_ids(s: &mut TestSession, i: usize) -> BTreeSet<u32> {
    let w = world(s, i);
    let mut ids: BTreeSet<u32> = w
        .query_filtered::<&NetShared, With<Orb>>()
        .iter(w)
        .map(|s| s.id)
        .collect();
    ids.extend(w.query_filtered::<&NetRemote, With<Orb>>().iter(w).map(|r| r.id));
    ids
}

#[test]
fn bots_play_every_peer_sees_the_players_and_orbs_and_agrees_on_the_scores() {
    let mut s = three_bots(3, ROUND);
    s.run(Duration::from_secs(15));
    let host_orbs = orb_ids(&mut s, 0);
    assert_eq!(host_orbs.len(), BASE_ORBS + 3, "four plus one orb per player");
    for i in 0..3 {
        let w = world(&mut s, i);
        let players = w.query::<&Player>().iter(w).count();
        assert_eq!(players, 3, "app {i} sees every player");
    }
    s.run(Duration::from_secs(1));
    let scores: Vec<_> = (0..3).map(|i| view(&mut s, i).1).collect();
    assert!(total(&scores[0]) > 0, "the bots scored: {scores:?}");
    // An orb picked up in the last frames may not have reached everyone.
    for other in &scores[1..] {
        assert!(total(other).abs_diff(total(&scores[0])) <= 1, "{scores:?}");
    }
}

#[test]
fn the_round_its_scores_and_its_orbs_survive_a_host_crash() {
    let mut s = three_bots(5, ROUND);
    s.run(Duration::from_secs(10));
    let (round, before) = view(&mut s, 1);
    let round = round.expect("a round runs");
    let orbs_before = orb_ids(&mut s, 1);
    let host_id = world(&mut s, 0).resource::<NetPeer>().session().peer_id();
    s.crash(0);
    let promoted = s.run_until(WAIT, |s| (1..3).any(|i| s.state(i) == Some(NetState::Hosting)));
    assert!(promoted, "a survivor hosts");
    let new_host = (1..3).find(|i| s.state(*i) == Some(NetState::Hosting)).expect("host");
    let (after_round, after) = view(&mut s, new_host);
    assert_eq!(after_round, Some(round), "the same round, the same clock");
    let held: u32 = before.iter().filter(|(p, _)| *p == host_id).map(|(_, s)| s).sum();
    assert!(total(&after) + held >= total(&before), "{before:?} -> {after:?}");
    let kept = orb_ids(&mut s, new_host);
    assert!(
        orbs_before.intersection(&kept).count() > 0,
        "the orbs go on under their ids: {orbs_before:?} -> {kept:?}"
    );
    // The game goes on: the new host scores pickups.
    let start = total(&view(&mut s, new_host).1);
    s.run(Duration::from_secs(10));
    assert!(
        total(&view(&mut s, new_host).1) > start,
        "pickups go on after the migration"
    );
}

#[test]
fn every_player_sees_the_round_end_with_the_same_scores_and_the_next_round_starts() {
    let mut s = three_bots(7, Duration::from_secs(4));
    let ended = s.run_until(WAIT, |s| {
        (0..3).all(|i| s.app(i).is_some_and(|a| !a.world().resource::<Seen>().0.is_empty()))
    });
    assert!(ended, "every peer saw round 1 end");
    let results: Vec<_> = (0..3)
        .map(|i| world(&mut s, i).resource::<Seen>().0[0].clone())
        .collect();
    assert_eq!(results[0].0, 1);
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    assert!(total(&results[0].1) > 0, "round 1 scored: {results:?}");
    let (round, scores) = view(&mut s, 2);
    let round = round.expect("round 2");
    assert_eq!(round.n, 2);
    assert_eq!(total(&scores), 0, "scores reset for round 2");
    assert_eq!(round.len_ms, 4_000, "the same length");
}

#[test]
fn a_dash_into_a_player_knocks_it_back_on_its_own_screen() {
    // No bots: nobody moves unless the test says so.
    let plain = || {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, NetcodePlugin, ArenaPlugin { round_len: ROUND }));
        app
    };
    let mut s = TestSession::new(11, LinkConditions::default());
    s.host(plain(), "host");
    s.join(plain(), "victim").expect("joins");
    assert!(s.run_until(WAIT, |s| s.state(1) == Some(NetState::Member)));
    s.run(Duration::from_secs(1));
    let own = |s: &mut TestSession, i: usize| {
        let w = world(s, i);
        *w.query_filtered::<&Player, With<NetOwned>>()
            .single(w)
            .expect("our player")
    };
    let before = own(&mut s, 1);
    // The host's disc right beside the victim's, dashing into it along +x.
    {
        let w = world(&mut s, 0);
        let mut q = w.query_filtered::<&mut Player, With<NetOwned>>();
        let mut host = q.single_mut(w).expect("the host's player");
        (host.x, host.y) = (before.x - PLAYER_RADIUS, before.y);
        *w.resource_mut::<PlayerInput>() = PlayerInput {
            dir: [1.0, 0.0],
            dash: true,
        };
    }
    // Everything the victim hears of the host's judgement.
    world(&mut s, 1).init_resource::<Heard>();
    s.app_mut(1).unwrap().add_systems(Update, hear.after(ArenaSet::Play));
    s.step();
    *world(&mut s, 0).resource_mut::<PlayerInput>() = PlayerInput::default();
    s.run(Duration::from_secs(1));
    let after = own(&mut s, 1);
    let (host, victim) = (peer_of(&mut s, 0), peer_of(&mut s, 1));
    let heard = &world(&mut s, 1).resource::<Heard>().0;
    let hits: Vec<_> = heard.iter().filter(|e| matches!(e, GameEvent::Hit { .. })).collect();
    assert_eq!(
        hits,
        vec![&GameEvent::Hit { by: host, victim }],
        "the host's verdict, heard by the victim once"
    );
    let store = world(&mut s, 1).resource::<NetPeer>().session().store().clone();
    assert!(
        store
            .scope(netcode::Scope::Shared)
            .all(|(k, _)| !k.starts_with("knock:")),
        "a knockback is a message, not a store entry"
    );
    assert!(
        after.x > before.x + 1.0,
        "the victim was pushed on its own screen: {before:?} -> {after:?}"
    );
}

/// The pickups and hits one app heard.
#[derive(Resource, Default)]
struct Heard(Vec<GameEvent>);

fn hear(mut heard: ResMut<Heard>, mut events: MessageReader<GameEvent>) {
    heard.0.extend(
        events
            .read()
            .filter(|e| !matches!(e, GameEvent::RoundEnd { .. }))
            .cloned(),
    );
}

fn peer_of(s: &mut TestSession, i: usize) -> PeerId {
    world(s, i).resource::<NetPeer>().session().peer_id()
}

#[test]
fn a_knockback_from_a_player_who_does_not_host_is_ignored() {
    let plain = || {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, NetcodePlugin, ArenaPlugin { round_len: ROUND }));
        app
    };
    let mut s = TestSession::new(12, LinkConditions::default());
    s.host(plain(), "host");
    s.join(plain(), "rogue").expect("joins");
    s.join(plain(), "victim").expect("joins");
    assert!(s.run_until(WAIT, |s| (1..3).all(|i| s.state(i) == Some(NetState::Member))));
    s.run(Duration::from_secs(1));
    let victim = peer_of(&mut s, 2);
    let at = |s: &mut TestSession| {
        let w = world(s, 2);
        *w.query_filtered::<&Player, With<NetOwned>>()
            .single(w)
            .expect("our player")
    };
    let before = at(&mut s);
    let world1 = world(&mut s, 1);
    let mut state = bevy::ecs::system::SystemState::<NetSender>::new(world1);
    state
        .get_mut(world1)
        .expect("the plugin runs")
        .to_peer(victim, &Knock { dx: 20.0, dy: 20.0 })
        .expect("sent");
    s.run(Duration::from_secs(1));
    assert_eq!(at(&mut s), before, "not pushed by a player who does not host");
}
