//! Snapshot replication in the arena scene: own streams and the host's shared stream reach
//! everyone as deltas; shared state from a non-host is refused; after a migration the new
//! host continues the shared entities with the same ids.

use std::time::Duration;

use netcode::protocol::Message;
use netcode::sim::arena::{self, SIM_HZ};
use netcode::sim::{Scene, Sim, SimConfig};
use netcode::snapshot::delta::{self, Snapshot};
use netcode_tests::{form, host, link};

const OBJECTS: usize = 16;
/// netcode's largest packet (renetcode's `NETCODE_MAX_PACKET_BYTES`).
const NETCODE_MAX_PACKET_BYTES: usize = 1300;

fn arena_sim(peers: usize, seed: u64, loss: f64) -> Sim {
    Sim::new(
        SimConfig::default()
            .peers(peers)
            .seed(seed)
            .link(link(30, 10, loss))
            .scene(Scene::Arena { objects: OBJECTS }),
    )
}

fn now_tick(sim: &Sim) -> u32 {
    arena::tick_at(sim.now())
}

#[test]
fn every_peer_holds_every_stream_fresh() {
    let mut sim = arena_sim(5, 41, 0.05);
    form(&mut sim, 5.0);
    sim.run_for_secs(3.0);
    let h = host(&sim);
    let fresh = (0.3 * SIM_HZ) as u32;
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        for j in sim.live_indices().into_iter().filter(|j| *j != i) {
            let peer = sim.session(j).unwrap().peer_id();
            let remote = s
                .remote_state(peer)
                .unwrap_or_else(|| panic!("{i} has no state of {j}"));
            assert!(
                now_tick(&sim) - remote.tick <= fresh,
                "stale: {} vs {}",
                remote.tick,
                now_tick(&sim)
            );
            assert_eq!(remote.entities.len(), 1);
        }
        if s.peer_id() != h {
            let (origin, shared) = s.shared_state().expect("shared state");
            assert_eq!(origin, h);
            assert_eq!(shared.entities.len(), OBJECTS);
            assert!(now_tick(&sim) - shared.tick <= fresh);
        }
        assert_eq!(s.replication_stats().rejected, 0);
    }
    let report = sim.report(Duration::from_secs(1));
    // This scene (5 peers, 16 objects, 30 ms ± 10, 5% loss, seed 41) measured 0.166 % of
    // the arena on 2026-12-06; the bound is that plus 20 %.
    let interp = report.interp_error_p99_pct.unwrap();
    println!("interpolation error p99 {interp:.3} % of the arena");
    assert!(interp <= 0.20, "{report:?}");
    assert!(report.naive_bytes_per_peer_per_s.unwrap() > 0.0);
}

#[test]
fn shared_state_from_a_non_host_is_refused() {
    let mut sim = arena_sim(4, 42, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let h = host(&sim);
    let rogue_i = sim
        .live_indices()
        .into_iter()
        .find(|i| sim.session(*i).unwrap().peer_id() != h)
        .unwrap();
    let victim_i = sim
        .live_indices()
        .into_iter()
        .find(|i| *i != rogue_i && sim.session(*i).unwrap().peer_id() != h)
        .unwrap();
    let victim = sim.session(victim_i).unwrap().peer_id();
    let fake = arena::shared_snapshot(OBJECTS, 1);
    let bytes = delta::encode(&arena::schema(), &fake, None).unwrap();
    let msg = Message::Heartbeat {
        digest: Some(sim.session(rogue_i).unwrap().roster().digest()),
        suspects: Vec::new(),
        acks: [None, None],
        held_ms: 0,
        own: None,
        shared: Some(bytes),
    };
    let before = sim.session(victim_i).unwrap().replication_stats().rejected;
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(victim, msg.encode().unwrap())
    );
    sim.run_for_secs(0.5);
    let s = sim.session(victim_i).unwrap();
    assert_eq!(s.replication_stats().rejected, before + 1, "counted");
    assert_eq!(s.shared_state().unwrap().0, h, "never applied");
}

/// Object ids no formula gives: a new host can only continue them from its replica.
const SCATTERED_IDS: [u32; 8] = [3, 17, 42, 99, 250, 1001, 4096, 65_537];

#[test]
fn new_host_continues_the_shared_entities() {
    let mut sim = arena_sim(5, 43, 0.02);
    form(&mut sim, 5.0);
    let old = host(&sim);
    sim.set_hosted_objects(sim.index_of(old).unwrap(), SCATTERED_IDS.to_vec());
    sim.run_for_secs(2.0);
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        if s.peer_id() != old {
            let (_, replica) = s.shared_state().expect("a replica of the shared stream");
            assert_eq!(replica.entities.keys().copied().collect::<Vec<_>>(), SCATTERED_IDS);
        }
    }
    sim.crash_peer(old);
    sim.run_for_secs(2.0);
    let new = host(&sim);
    assert_ne!(new, old);
    let tick = now_tick(&sim);
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        if s.peer_id() == new {
            continue;
        }
        let (origin, shared) = s.shared_state().unwrap();
        assert_eq!(origin, new, "shared state now comes from the new host");
        assert_eq!(
            shared.entities.keys().copied().collect::<Vec<_>>(),
            SCATTERED_IDS,
            "the same entity ids, taken from the new host's replica"
        );
        assert!(
            tick - shared.tick <= (0.3 * SIM_HZ) as u32,
            "fresh: tick {} at {tick}",
            shared.tick
        );
    }
}

#[test]
fn a_world_larger_than_a_datagram_is_spread_over_ticks() {
    let objects = 600;
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(3)
            .seed(44)
            .link(link(30, 0, 0.0))
            .scene(Scene::Arena { objects }),
    );
    form(&mut sim, 5.0);
    sim.run_for_secs(3.0);
    let h = host(&sim);
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        if s.peer_id() != h {
            let (_, shared) = s.shared_state().expect("shared state");
            assert_eq!(shared.entities.len(), objects, "all objects arrived, spread over ticks");
        }
        assert_eq!(s.replication_stats().rejected, 0);
    }
    // Every heartbeat still fits one datagram: none went through renet's slicing, and no
    // datagram is over netcode's largest packet.
    for i in sim.live_indices() {
        assert_eq!(sim.session(i).unwrap().stats().sliced_heartbeats, 0, "peer {i}");
    }
    let largest = sim.network_mut().stats().largest_datagram;
    assert!(largest <= NETCODE_MAX_PACKET_BYTES, "largest datagram {largest} bytes");
    // And the budget is what spreads the world: the host's datagrams are full ones.
    assert!(
        largest > NETCODE_MAX_PACKET_BYTES * 3 / 4,
        "largest datagram {largest} bytes"
    );
}

#[test]
fn a_budget_over_the_datagram_is_seen_as_sliced_heartbeats() {
    // The check above can fail: an own-stream budget over one datagram and a stream that
    // changes everywhere every tick make heartbeats that go through renet's slicing, and
    // the counter sees them.
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(2)
            .seed(45)
            .link(link(30, 0, 0.0))
            .session(netcode::SessionConfig::default().own_budget_bytes(3_000)),
    );
    form(&mut sim, 5.0);
    let schema = arena::schema();
    for i in sim.live_indices() {
        sim.session_mut(i).unwrap().set_schema(arena::schema());
    }
    for tick in 0..120u32 {
        let jump = |id: u32, k: f32| ((id as f32 * k + tick as f32 * 13.7) % 90.0) - 45.0;
        let entities = (0..300u32)
            .map(|id| {
                (
                    id,
                    schema
                        .entity(arena::OBJECT, &[jump(id, 7.3), jump(id, 3.9), 0.5])
                        .unwrap(),
                )
            })
            .collect();
        sim.session_mut(0).unwrap().publish_own(Snapshot { tick, entities });
        sim.step();
    }
    let stats = sim.session(0).unwrap().stats();
    assert!(stats.sliced_heartbeats > 0, "{stats:?}");
}

/// Most bytes ours may send per peer against the naive full snapshots at the same per-stream
/// rates: docs/figures.md publishes 0.57 on this scene. The goal, half, needs fewer bytes per
/// datagram (see docs/figures.md, "Bandwidth and snapshots"); this bound keeps what is reached.
const SAME_RATE_SHARE: f64 = 0.59;

#[test]
fn the_arena_costs_under_three_fifths_of_naive_snapshots_at_the_same_rates() {
    // The benchmark scene of the issue (netsim --scene arena --peers 8 --loss 0.05 --jitter 20
    // --duration 60): 8 peers, 64 objects.
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(8)
            .seed(1)
            .link(link(20, 20, 0.05))
            .scene(Scene::Arena { objects: 64 }),
    );
    form(&mut sim, 5.0);
    sim.run_for_secs(60.0);
    let r = sim.report(Duration::from_secs(1));
    let sent = r.sent_bytes_per_peer_per_s;
    let (naive, same_rate) = (
        r.naive_bytes_per_peer_per_s.unwrap(),
        r.naive_same_rate_bytes_per_peer_per_s.unwrap(),
    );
    println!("sent {sent:.0} B/s, naive at the same rates {same_rate:.0} B/s, at 30 Hz {naive:.0} B/s");
    assert!(
        sent <= same_rate * SAME_RATE_SHARE,
        "sent {sent:.0} B/s, naive at the same rates {same_rate:.0} B/s"
    );
    // docs/figures.md ("Bandwidth and snapshots") publishes this run (8 peers): each bound is the
    // published figure plus about 20 %, so that a regression fails here, not in a reader's
    // hands (measured 2026-12-06: 5,334 B/s, 0.206 of naive at 30 Hz, host 16,506 B/s,
    // interpolation 0.125 %, objects 0.198 %). The goals in docs/figures.md (12 KiB/s per peer,
    // 32 KiB/s for the host, under 1 % error) are far above.
    let host = r.host_sent_bytes_per_s.unwrap();
    let (interp, object) = (r.interp_error_p99_pct.unwrap(), r.object_error_p99_pct.unwrap());
    println!("host {host:.0} B/s, interpolation error p99 {interp:.3} %, object error p99 {object:.3} %");
    // Against full snapshots at 30 Hz on every stream (deltas and our slower side links and
    // shared stream together): published 0.21, bound 0.25.
    assert!(
        sent <= naive * 0.25,
        "sent {sent:.0} B/s, naive at 30 Hz {naive:.0} B/s"
    );
    // Published 5.3 KB/s per peer, bound 6.4 KB/s.
    assert!(sent <= 6_400.0, "sent {sent:.0} B/s per peer");
    // Published 16.5 KB/s, bound 19.8 KB/s.
    assert!(host <= 19_800.0, "host sent {host:.0} B/s");
    // Published 0.13 % of the arena, bound 0.16 %.
    assert!(interp <= 0.16, "{r:?}");
    // Published 0.20 %, bound 0.24 %.
    assert!(object <= 0.24, "{r:?}");
}

#[test]
fn idle_links_trade_heartbeats_and_nothing_else() {
    // Renet acks every packet, acks included: two idle connections would trade ack packets
    // forever. Only heartbeats should cross an idle link.
    let mut sim = arena_sim(2, 45, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let before = sim.network_mut().stats().sent;
    sim.run_for_secs(10.0);
    let sent = sim.network_mut().stats().sent - before;
    let heartbeats = 2.0 * 10.0 / netcode::SessionConfig::default().heartbeat_interval.as_secs_f64();
    assert!(
        (sent as f64) < heartbeats * 1.05,
        "{sent} datagrams in 10 s, {heartbeats:.0} heartbeats"
    );
}

#[test]
fn a_late_joiner_gets_the_whole_world_reliably_then_deltas() {
    // Under heavy loss a spread unreliable world would take many rounds to arrive whole;
    // the reliable full snapshot brings every object at once.
    let objects = 600;
    let mut sim = Sim::new(
        SimConfig::default()
            .peers(3)
            .seed(46)
            .link(link(30, 5, 0.2))
            .scene(Scene::Arena { objects }),
    );
    form(&mut sim, 10.0);
    sim.run_for_secs(1.0);
    let late = sim.add_peer();
    let deadline = sim.now() + Duration::from_secs(10);
    while !sim.session(late).is_some_and(|s| s.in_session()) {
        assert!(sim.now() < deadline, "the late joiner never got in");
        sim.run_for_secs(0.05);
    }
    sim.run_for_secs(1.5);
    let h = host(&sim);
    let s = sim.session(late).unwrap();
    let (origin, shared) = s.shared_state().expect("the world arrived");
    assert_eq!(origin, h);
    assert_eq!(shared.entities.len(), objects, "whole");
    assert!(
        now_tick(&sim) - shared.tick <= (0.5 * SIM_HZ) as u32,
        "and deltas follow"
    );
    assert_eq!(s.replication_stats().rejected, 0);
}

#[test]
fn round_trips_are_measured_from_snapshot_acks() {
    // 30 ms each way: the round trip is 60 ms (the time an ack waited for the peer's next
    // heartbeat is told and taken off; the estimate keeps the smallest samples).
    let mut sim = arena_sim(3, 47, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(3.0);
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        for m in s.roster().active().filter(|m| m.id != s.peer_id()) {
            let rtt = s.rtt(m.id).expect("measured").as_secs_f64();
            assert!((0.05..0.075).contains(&rtt), "{i} -> {}: {rtt}", m.id);
        }
    }
}

#[test]
/// Two members between which no datagram passes (two routers no punch gets through) see
/// each other's state through the member both reach: their heartbeats, state and all, go
/// in forwards they sign. Before, a relayed heartbeat carried no state, and on renet's
/// unreliable channel it waited for a flush that seldom came.
fn two_members_with_no_link_see_each_others_state_through_a_member_both_reach() {
    let mut sim = arena_sim(3, 47, 0.0);
    sim.cut(1, 2); // no datagram ever passes between 1 and 2, as between two routers no punch passes
    form(&mut sim, 5.0);
    sim.run_for_secs(3.0);
    let fresh = (0.3 * SIM_HZ) as u32;
    for (i, j) in [(1, 2), (2, 1)] {
        let s = sim.session(i).unwrap();
        let peer = sim.session(j).unwrap().peer_id();
        assert_eq!(
            s.link(peer),
            netcode::Link::Relayed(netcode::Relayer::Member),
            "{i} reaches {j} through the member"
        );
        let remote = s
            .remote_state(peer)
            .unwrap_or_else(|| panic!("{i} has no state of {j}"));
        assert!(
            now_tick(&sim) - remote.tick <= fresh,
            "{i}'s state of {j} is stale: {} vs {}",
            remote.tick,
            now_tick(&sim)
        );
        assert_eq!(remote.entities.len(), 1);
        assert_eq!(s.replication_stats().rejected, 0);
    }
}
