//! Simulated dropped peers: each scenario asserts outcomes on the deterministic network.

use std::time::Duration;

use netcode::protocol::Refusal;
use netcode::sim::SCORE_KEY;
use netcode::{Credentials, Link, PeerId, Relayer, Scope, SessionEvent};
use netcode_tests::{assert_healthy, form, host, non_host, score_seen_by, sim, successor};

/// Upper bound on the migration pause after a host crash at 8 peers, 40 ms ± 10, 5% loss:
/// docs/figures.md publishes p50 315 ms, max 345 ms over 20 seeds for that scenario
/// (re-measured 2026-12-06 after issue 22; this seed measured 370 ms then, one of the 20 runs
/// of a distribution docs/figures.md states by its max); the bound is that max plus 20 %. (The
/// goal, 500 ms, is a promise to players; a regression toward it should fail a test.)
const PAUSE_LIMIT: Duration = Duration::from_millis(415);

#[test]
fn host_crash_migrates_to_the_earliest_joined_survivor() {
    let mut sim = sim(8, 11, 40, 10, 0.05);
    form(&mut sim, 5.0);
    sim.run_for_secs(2.0);
    let old = host(&sim);
    let expected = successor(&sim, old);
    sim.crash_peer(old);
    sim.run_for_secs(3.0);
    assert_healthy(&sim, 7);
    assert_eq!(host(&sim), expected, "election by rule: earliest join order");
    assert_eq!(sim.metrics.migration_pauses.len(), 1);
    println!("migration pause {:?}", sim.metrics.migration_pauses);
    assert!(
        sim.metrics.migration_pauses[0] <= PAUSE_LIMIT,
        "pause {:?}",
        sim.metrics.migration_pauses
    );
    // The new host keeps writing the shared state it continued from its replica.
    let i = sim.index_of(expected).expect("new host runs");
    let pickups_before = sim.session(i).unwrap().store().scope(Scope::Shared).count();
    sim.run_for_secs(2.0);
    let pickups_after = sim.session(i).unwrap().store().scope(Scope::Shared).count();
    assert!(
        pickups_after > pickups_before,
        "shared state goes on growing after the migration"
    );
    assert_eq!(sim.state_lost(), 0);
}

#[test]
fn host_and_successor_crash_together() {
    let mut sim = sim(6, 12, 30, 5, 0.02);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let old = host(&sim);
    let next = successor(&sim, old);
    sim.crash_peer(old);
    sim.crash_peer(next);
    sim.run_for_secs(3.0);
    assert_healthy(&sim, 4);
    let new = host(&sim);
    assert!(new != old && new != next);
    let roster = sim.session(sim.index_of(new).unwrap()).unwrap().roster();
    assert_eq!(
        roster.successor(|p| p != old && p != next),
        Some(new),
        "the third in line hosts"
    );
}

#[test]
fn three_of_eight_crash() {
    let mut sim = sim(8, 13, 30, 5, 0.02);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let old = host(&sim);
    let victims: Vec<usize> = sim
        .live_indices()
        .into_iter()
        .filter(|i| sim.session(*i).unwrap().peer_id() != old)
        .take(2)
        .collect();
    sim.crash_peer(old);
    for v in victims {
        sim.crash(v);
    }
    sim.run_for_secs(3.0);
    assert_healthy(&sim, 5);
    // Every survivor sees the three as away (seats held), none as gone.
    let i = sim.live_indices()[0];
    let roster = sim.session(i).unwrap().roster();
    assert_eq!(roster.members.iter().filter(|m| !m.is_active()).count(), 3);
    assert_eq!(roster.members.len(), 8);
}

#[test]
fn graceful_host_leave_hands_over_without_a_pause() {
    let mut sim = sim(6, 14, 30, 0, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let old = host(&sim);
    let expected = successor(&sim, old);
    let i = sim.index_of(old).unwrap();
    sim.leave(i);
    sim.run_for_secs(2.0);
    assert_healthy(&sim, 5);
    assert_eq!(host(&sim), expected);
    let pause = sim.metrics.migration_pauses[0];
    // One message latency (30 ms) plus a tick: no failure detection involved.
    assert!(pause <= Duration::from_millis(60), "handover pause {pause:?}");
    let survivor = sim.live_indices()[0];
    let roster = sim.session(survivor).unwrap().roster();
    assert!(roster.get(old).is_none(), "a graceful leaver holds no seat");
    let events = sim.events_of(sim.session(survivor).unwrap().peer_id());
    assert!(events.iter().any(
        |(_, e)| matches!(e, SessionEvent::PeerLeft { peer, reason: netcode::LeaveReason::Graceful } if *peer == old)
    ));
}

#[test]
fn partition_four_four_then_heal() {
    let mut sim = sim(8, 15, 20, 5, 0.01);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    sim.partition(&[vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    sim.run_for_secs(3.0);
    // During the split each side plays on with its own host.
    let comps = sim.components();
    assert_eq!(comps.len(), 2);
    for comp in &comps {
        let mut hosts: Vec<_> = comp
            .iter()
            .filter_map(|i| sim.session(*i).and_then(|s| s.current_host()))
            .collect();
        hosts.dedup();
        assert_eq!(hosts.len(), 1, "one host per side");
    }
    sim.heal_partition();
    sim.run_for_secs(6.0);
    assert_healthy(&sim, 8);
    let i = sim.live_indices()[0];
    assert!(
        sim.session(i).unwrap().roster().members.iter().all(|m| m.is_active()),
        "everyone is back in"
    );
}

/// A partition longer than the seat grace: each side releases the other's seats, so no
/// roster lists the other side any more. The hosts keep looking for former members, and
/// once the network is back the two sessions become one again, with every score.
#[test]
fn a_partition_longer_than_the_seat_grace_still_heals_into_one_session() {
    let mut sim = sim(5, 16, 20, 5, 0.01);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let scores: Vec<(PeerId, u64)> = sim
        .live_indices()
        .into_iter()
        .map(|i| {
            let p = sim.session(i).unwrap().peer_id();
            (p, score_seen_by(&sim, i, p))
        })
        .collect();
    sim.partition(&[vec![0, 1], vec![2, 3, 4]]);
    let grace = sim.config().session.rejoin_grace.as_secs_f64();
    sim.run_for_secs(grace + 10.0);
    let (a, b) = (sim.session(0).unwrap(), sim.session(2).unwrap());
    assert!(a.roster().get(b.peer_id()).is_none(), "the seats were released");
    assert!(b.roster().get(a.peer_id()).is_none(), "on both sides");
    assert_ne!(a.current_host(), b.current_host(), "two sessions meanwhile");
    sim.heal_partition();
    // The hosts try one former member every `reunite_interval` (5 s).
    sim.run_for_secs(15.0);
    assert_healthy(&sim, 5);
    let i = sim.live_indices()[0];
    let roster = sim.session(i).unwrap().roster().clone();
    assert_eq!(roster.active().count(), 5, "everyone is back in one roster");
    for (peer, before) in scores {
        assert!(score_seen_by(&sim, i, peer) >= before, "{peer}'s score survived");
    }
}

/// One player's network drops for two seconds (a Wi-Fi hiccup); it is the host's successor,
/// so it would claim as soon as it declares the host down. But it hears none of the others
/// either: it is cut off, not the host gone, so it waits for the session (shown as
/// `Reconnecting`) instead of naming itself host; when it comes back it takes its seat
/// back under the host everyone else kept, and nobody saw a host change.
#[test]
fn a_peer_cut_off_for_a_moment_does_not_take_the_host_away() {
    let mut sim = sim(5, 18, 30, 5, 0.01);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let h = host(&sim);
    let cut = non_host(&sim);
    let cut_peer = sim.session(cut).unwrap().peer_id();
    assert_eq!(
        cut_peer,
        netcode_tests::successor(&sim, h),
        "the successor itself is cut off"
    );
    let others: Vec<usize> = (0..5).filter(|i| *i != cut).collect();
    sim.partition(&[vec![cut], others]);
    sim.run_for_secs(2.0);
    let alone = sim.session(cut).unwrap();
    assert_eq!(alone.current_host(), Some(h), "alone, it names nobody host");
    assert_eq!(alone.link(h), Link::Down, "it knows the host is out of reach");
    sim.heal_partition();
    sim.run_for_secs(5.0);
    assert_healthy(&sim, 5);
    assert_eq!(host(&sim), h, "the session kept its host");
    assert!(sim.metrics.host_changes.is_empty(), "no host change anywhere");
    let roster = sim.session(cut).unwrap().roster().clone();
    assert!(
        roster.get(cut_peer).is_some_and(|m| m.is_active()),
        "and the peer is back in"
    );
}

#[test]
fn heavy_loss_and_jitter_cause_no_false_migration() {
    let mut sim = sim(8, 16, 20, 100, 0.20);
    form(&mut sim, 10.0);
    sim.run_for_secs(60.0);
    assert_healthy(&sim, 8);
    assert_eq!(sim.metrics.host_changes.len(), 0, "no host change at all");
    assert_eq!(sim.metrics.false_migrations, 0);
}

#[test]
fn crash_then_rejoin_restores_id_and_score() {
    let mut sim = sim(5, 17, 30, 5, 0.02);
    form(&mut sim, 5.0);
    sim.run_for_secs(2.0);
    let host_peer = host(&sim);
    let victim = non_host(&sim);
    let peer = sim.session(victim).unwrap().peer_id();
    let observer = sim.index_of(host_peer).unwrap();
    // What the others hold of its score (its very last write may still be in flight).
    let score_before = score_seen_by(&sim, observer, peer);
    assert!(score_before > 0);
    sim.crash(victim);
    sim.run_for_secs(1.0);
    assert!(
        score_seen_by(&sim, observer, peer) >= score_before,
        "survivors hold the replica"
    );
    sim.restart(victim);
    sim.run_for_secs(2.0);
    assert_healthy(&sim, 5);
    let s = sim.session(victim).unwrap();
    assert_eq!(s.peer_id(), peer, "same identity");
    assert!(
        score_seen_by(&sim, victim, peer) > score_before,
        "score restored and growing"
    );
    let roster = s.roster();
    let me = roster.get(peer).unwrap();
    assert!(me.is_active());
    assert_eq!(me.incarnation, 1);
    assert_eq!(
        roster.members.iter().map(|m| m.join_seq).max(),
        Some(me.join_seq),
        "a rejoiner goes last in line"
    );
    assert_eq!(sim.metrics.rejoin_times.len(), 1);
    // 5 peers, 30 ms ± 5, 2% loss, seed 17: measured 190 ms on 2026-12-06, bound that plus
    // 20 % (the rejoin figure in docs/figures.md, p50 255 ms, is for 8 peers at 40 ms).
    let rejoin = sim.metrics.rejoin_times[0];
    println!("rejoin {rejoin:?}");
    assert!(rejoin <= Duration::from_millis(228), "rejoin {rejoin:?}");
}

/// A peer that comes back after its seat expired is admitted as a new member, at a new
/// address. Everyone must dial it there, not at the address of the incarnation they knew
/// (found by the soak: such a peer stayed relayed for good, and later split the session).
#[test]
fn a_peer_back_after_its_seat_expired_is_dialed_at_its_new_address() {
    let mut sim = sim(5, 23, 30, 5, 0.01);
    form(&mut sim, 5.0);
    let h = host(&sim);
    // The highest id: every other peer is the one that dials it.
    let victim = sim
        .live_indices()
        .into_iter()
        .filter(|i| sim.session(*i).unwrap().peer_id() != h)
        .max_by_key(|i| sim.session(*i).unwrap().peer_id())
        .unwrap();
    let peer = sim.session(victim).unwrap().peer_id();
    // One quick rejoin first: its incarnation is then 1, which a host that admits it
    // afresh (incarnation 0) must not take for newer.
    sim.crash(victim);
    sim.run_for_secs(1.0);
    sim.restart(victim);
    sim.run_for_secs(3.0);
    let old = sim.session(victim).unwrap().roster().get(peer).unwrap().clone();
    assert_eq!(old.incarnation, 1);
    let grace = sim.config().session.rejoin_grace.as_secs_f64();
    sim.crash(victim);
    sim.run_for_secs(grace + 5.0);
    let host_roster = sim.session(sim.index_of(h).unwrap()).unwrap().roster();
    assert!(host_roster.get(peer).is_none(), "the seat expired");
    sim.restart(victim);
    sim.run_for_secs(5.0);
    assert_healthy(&sim, 5);
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        if i != victim {
            assert!(s.link(peer).is_direct(), "{} links directly", s.peer_id());
        }
    }
    let me = sim.session(victim).unwrap().roster().get(peer).unwrap().clone();
    assert_ne!(me.addr, old.addr, "the restarted peer listens elsewhere");
    assert!(
        me.incarnation > old.incarnation,
        "a later incarnation than the expired one"
    );
}

#[test]
fn wrong_rejoin_secret_is_refused_and_nobody_notices() {
    let mut sim = sim(4, 18, 20, 0, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let host_peer = host(&sim);
    let victim = non_host(&sim);
    let real = sim.nodes()[victim].credentials.unwrap();
    sim.crash(victim);
    sim.run_for_secs(1.0);
    let roster_before = sim.session(sim.index_of(host_peer).unwrap()).unwrap().roster().clone();
    let impostor = Credentials {
        peer: real.peer,
        secret: [7; 32],
    };
    sim.restart_with(victim, impostor);
    sim.run_for_secs(2.0);
    let s = sim.session(victim).unwrap();
    assert_eq!(s.refusal(), Some(Refusal::WrongSecret));
    assert!(!s.in_session());
    assert_eq!(host(&sim), host_peer, "the session did not notice");
    let roster_after = sim.session(sim.index_of(host_peer).unwrap()).unwrap().roster();
    assert_eq!(
        roster_after, &roster_before,
        "the seat is still held for the real owner"
    );
    assert!(!roster_after.get(real.peer).unwrap().is_active());
}

#[test]
fn late_join_mid_session_gets_roster_and_state() {
    let mut sim = sim(4, 19, 30, 5, 0.02);
    form(&mut sim, 5.0);
    sim.run_for_secs(3.0);
    let late = sim.add_peer();
    sim.run_for_secs(3.0);
    assert_healthy(&sim, 5);
    let s = sim.session(late).unwrap();
    let pickups = s
        .store()
        .scope(Scope::Shared)
        .filter(|(k, _)| k.starts_with(netcode::sim::PICKUP_PREFIX))
        .count();
    assert!(
        pickups >= 5,
        "the newcomer received the shared state: {pickups} pickups"
    );
    let roster = s.roster();
    assert_eq!(roster.active().count(), 5);
    for other in sim.live_indices() {
        let p = sim.session(other).unwrap().peer_id();
        if p != s.peer_id() {
            assert!(s.link(p).is_direct(), "linked directly to every member");
        }
    }
}

#[test]
fn crash_during_a_migration() {
    let mut sim = sim(7, 20, 40, 10, 0.02);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let old = host(&sim);
    let next = successor(&sim, old);
    sim.crash_peer(old);
    // The successor dies while the survivors are still detecting the first crash.
    sim.run_for_secs(0.12);
    sim.crash_peer(next);
    sim.run_for_secs(4.0);
    assert_healthy(&sim, 5);
    let new = host(&sim);
    assert!(new != old && new != next);
}

#[test]
fn cut_link_is_relayed_by_a_third_peer() {
    let mut sim = sim(4, 21, 20, 0, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (a, b) = (1, 2);
    let pa = sim.session(a).unwrap().peer_id();
    let pb = sim.session(b).unwrap().peer_id();
    sim.cut(a, b);
    sim.run_for_secs(2.0);
    assert_eq!(sim.session(a).unwrap().link(pb), Link::Relayed(Relayer::Member));
    assert_eq!(sim.session(b).unwrap().link(pa), Link::Relayed(Relayer::Member));
    let seen = score_seen_by(&sim, a, pb);
    sim.run_for_secs(2.0);
    assert!(
        score_seen_by(&sim, a, pb) > seen,
        "b's updates reach a through the relay"
    );
    assert_healthy(&sim, 4);
    assert_eq!(sim.metrics.host_changes.len(), 0);
    sim.heal(a, b);
    sim.run_for_secs(3.0);
    assert!(sim.session(a).unwrap().link(pb).is_direct());
    let relayed: u64 = (0..4)
        .filter_map(|i| sim.session(i))
        .map(|s| s.stats().relayed_messages)
        .sum();
    assert!(relayed > 0);
}

#[test]
fn same_seed_same_run_event_for_event() {
    let run = |seed| {
        let mut s = sim(6, seed, 30, 10, 0.05);
        s.run_for_secs(2.0);
        let h = host(&s);
        s.crash_peer(h);
        s.run_for_secs(2.0);
        s.metrics.events.clone()
    };
    let a = run(5);
    assert!(a.len() > 20);
    assert_eq!(a, run(5));
    assert_ne!(a, run(6));
}

#[test]
fn garbage_datagrams_disturb_nobody() {
    let mut sim = sim(4, 22, 20, 0, 0.0);
    form(&mut sim, 5.0);
    let attacker: std::net::SocketAddr = "10.9.9.9:666".parse().unwrap();
    sim.network_mut().attach(attacker);
    let targets: Vec<_> = sim.nodes().iter().map(|n| n.addr).collect();
    let mut x: u32 = 1;
    for round in 0..200u32 {
        for to in &targets {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let len = (x % 1400) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|k| (x.rotate_left(k as u32 % 31) as u8) ^ round as u8)
                .collect();
            let now = sim.now();
            sim.network_mut().send(now, attacker, *to, bytes);
        }
        sim.step();
    }
    sim.run_for_secs(1.0);
    assert_healthy(&sim, 4);
    assert_eq!(sim.metrics.host_changes.len(), 0);
    let i = sim.live_indices()[0];
    assert!(
        sim.session(i)
            .unwrap()
            .store()
            .get(Scope::Peer(sim.session(i).unwrap().peer_id()), SCORE_KEY)
            .is_some()
    );
}
