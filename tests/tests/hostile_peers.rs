//! Hostile input: decoders never panic, and a member that sends garbage or impossible claims
//! is dropped without disturbing the others.

use netcode::identity::{SeatKey, SeatProof};
use netcode::protocol::Message;
use netcode::store::{Entry, Version};
use netcode::{LeaveReason, Misbehaviour, PeerId, Scope, SessionEvent};
use netcode_tests::{form, host, misbehaved, roles, seat_key, sim};
use proptest::prelude::*;

/// Whether no peer but `outcast` reported a host change (an expelled peer, cut off from
/// everyone, may elect itself in its own bubble; the banned links keep it there).
fn no_host_change_except(sim: &netcode::sim::Sim, outcast: PeerId) -> bool {
    !sim.metrics
        .events
        .iter()
        .any(|(_, p, e)| *p != outcast && matches!(e, SessionEvent::HostChanged { .. }))
}

#[test]
fn garbage_from_a_member_gets_it_expelled_by_the_host() {
    let mut sim = sim(5, 31, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (host_i, rogue_i, _) = roles(&sim);
    let host_peer = sim.session(host_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, vec![0xFF; 40]));
    sim.run_for_secs(2.0);
    assert!(misbehaved(&sim, host_peer, rogue), "the host saw the garbage");
    assert!(sim.total_rejected() >= 1);
    let survivors: Vec<usize> = sim.live_indices().into_iter().filter(|i| *i != rogue_i).collect();
    for i in &survivors {
        let s = sim.session(*i).unwrap();
        assert!(s.roster().get(rogue).is_none(), "expelled from every roster");
        assert_eq!(s.current_host(), Some(host_peer), "nobody else noticed: same host");
    }
    // The host itself reports the expulsion as such.
    let host_events = sim.events_of(host_peer);
    assert!(
        host_events.iter().any(
            |(_, e)| matches!(e, SessionEvent::PeerLeft { peer, reason: LeaveReason::Expelled } if *peer == rogue)
        )
    );
    assert!(no_host_change_except(&sim, rogue), "no survivor saw a host change");
    assert_eq!(sim.state_lost(), 0);
}

#[test]
fn forged_entry_of_another_peer_is_refused_and_not_applied() {
    let mut sim = sim(4, 32, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let victim = sim.session(victim_i).unwrap().peer_id();
    let host_peer = sim.session(host_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    let forged = Message::Update {
        scope: Scope::Peer(victim),
        key: "score".into(),
        entry: Entry::sealed(
            Scope::Peer(victim),
            "score",
            Version { epoch: 99, n: 1 },
            Some(vec![0; 8]),
            &seat_key(&sim, rogue_i),
            99,
        ),
    };
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, forged.encode().unwrap())
    );
    sim.run_for_secs(1.0);
    assert!(misbehaved(&sim, host_peer, rogue));
    let stored = sim
        .session(host_i)
        .unwrap()
        .store()
        .entry(Scope::Peer(victim), "score")
        .unwrap()
        .version;
    assert!(stored.epoch < 99, "the forged write was not applied");
    // The others play on with the same host and one roster (without the forger).
    let others: Vec<usize> = sim.live_indices().into_iter().filter(|i| *i != rogue_i).collect();
    assert_eq!(others.len(), 3);
    let roster = sim.session(others[0]).unwrap().roster().clone();
    for i in &others {
        let s = sim.session(*i).unwrap();
        assert_eq!(s.current_host(), Some(host_peer));
        assert_eq!(s.roster(), &roster);
    }
    assert!(roster.get(rogue).is_none(), "the forger was expelled");
    assert!(no_host_change_except(&sim, rogue), "no survivor saw a host change");
}

#[test]
fn garbage_to_a_non_host_is_handled_locally() {
    let mut sim = sim(4, 33, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let victim = sim.session(victim_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    // A huge length prefix: must fail on the limit, not allocate.
    let bytes = vec![2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(victim, bytes));
    sim.run_for_secs(2.0);
    assert!(misbehaved(&sim, victim, rogue));
    assert_eq!(sim.consensus_host(), sim.session(host_i).map(|s| s.peer_id()));
    assert_eq!(sim.metrics.host_changes.len(), 0, "no migration");
    assert_eq!(sim.state_lost(), 0);
    assert!(sim.live_indices().len() == 4 && sim.roster_agree());
}

proptest! {
    // Seeded: the same cases every run (see `netcode_tests::proptest_config`).
    #![proptest_config(netcode_tests::proptest_config(256))]

    #[test]
    fn decoding_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn decoding_mutated_messages_never_panics(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let key = SeatKey::from_secret(&[3; 32]);
        let proof = SeatProof::sign(&key, 1, key.peer(), "10.0.0.1:5000".parse().unwrap(), 0);
        let msg = Message::Join { name: "mallory".into(), key: key.public(), proof };
        let mut bytes = msg.encode().unwrap();
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        if let Ok(decoded) = Message::decode(&bytes) {
            prop_assert!(decoded.validate().is_ok());
        }
    }
}

#[test]
fn a_flooding_member_is_rate_limited_then_expelled_and_nobody_else_notices() {
    let mut sim = sim(5, 35, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (host_i, rogue_i, other_i) = roles(&sim);
    let host_peer = sim.session(host_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    // Well-formed but pointless messages, far faster than any honest peer: every 5 ms step,
    // 100 more (20 000 a second) for three seconds.
    let session_id = sim.session(rogue_i).unwrap().session_id();
    let hello = Message::hello(&seat_key(&sim, rogue_i), session_id, host_peer)
        .encode()
        .unwrap();
    for _ in 0..600 {
        for _ in 0..100 {
            let _ = sim.session_mut(rogue_i).unwrap().send_raw(host_peer, hello.clone());
        }
        sim.step();
    }
    sim.run_for_secs(1.0);
    let host = sim.session(host_i).unwrap();
    assert!(host.stats().rate_limited > 1000, "{:?}", host.stats());
    assert!(misbehaved(&sim, host_peer, rogue), "the flood got it dropped");
    assert!(host.roster().get(rogue).is_none(), "and expelled");
    let other = sim.session(other_i).unwrap();
    assert_eq!(other.current_host(), Some(host_peer));
    assert_eq!(other.stats().rate_limited, 0, "the others never saw it");
    assert!(no_host_change_except(&sim, rogue));
    assert_eq!(sim.state_lost(), 0);
}

/// A member's roster that names itself host, at `epoch`.
fn claim_as(sim: &netcode::sim::Sim, rogue_i: usize, epoch: u64) -> Vec<u8> {
    let s = sim.session(rogue_i).unwrap();
    let mut roster = s.roster().clone();
    roster.epoch = epoch;
    roster.version = 0;
    roster.host = s.peer_id();
    Message::Roster(roster).encode().unwrap()
}

#[test]
fn a_host_claim_with_a_far_future_epoch_gets_its_sender_dropped() {
    let mut sim = sim(5, 36, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let (host_i, rogue_i, other_i) = roles(&sim);
    let host_peer = sim.session(host_i).unwrap().peer_id();
    let other = sim.session(other_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    let epoch = sim.session(host_i).unwrap().epoch();
    // Past any number of elections: it would make the forger host for good.
    let forged = claim_as(&sim, rogue_i, epoch + 1_000_000);
    for to in [host_peer, other] {
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(to, forged.clone()));
    }
    sim.run_for_secs(2.0);
    assert!(misbehaved(&sim, host_peer, rogue), "the host refused the claim");
    assert!(misbehaved(&sim, other, rogue), "so did the member");
    // The cause is typed: the claimed epoch and ours, as fields.
    let causes: Vec<Misbehaviour> = sim
        .events_of(other)
        .into_iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::PeerMisbehaved { peer, reason } if peer == rogue => Some(reason),
            _ => None,
        })
        .collect();
    let expected = Misbehaviour::ImplausibleEpoch {
        claimed: epoch + 1_000_000,
        ours: epoch,
    };
    assert!(
        !causes.is_empty() && causes.iter().all(|c| *c == expected),
        "{causes:?}"
    );
    let survivors: Vec<usize> = sim.live_indices().into_iter().filter(|i| *i != rogue_i).collect();
    assert_eq!(survivors.len(), 4);
    for i in &survivors {
        let s = sim.session(*i).unwrap();
        assert_eq!(s.current_host(), Some(host_peer), "same host");
        assert_eq!(s.epoch(), epoch, "same epoch: the forged one was not adopted");
        assert!(s.roster().get(rogue).is_none(), "the forger was expelled");
    }
    assert!(no_host_change_except(&sim, rogue), "no survivor saw a host change");
    assert_eq!(sim.state_lost(), 0);
}

#[test]
fn a_host_claim_with_a_stale_epoch_is_refused_and_answered() {
    let mut sim = sim(5, 37, 20, 2, 0.0);
    form(&mut sim, 5.0);
    // One migration first, so that an older epoch exists to claim.
    let first = host(&sim);
    sim.crash_peer(first);
    sim.run_for_secs(3.0);
    let (host_i, rogue_i, other_i) = roles(&sim);
    let host_peer = sim.session(host_i).unwrap().peer_id();
    let rogue = sim.session(rogue_i).unwrap().peer_id();
    let other = sim.session(other_i).unwrap().peer_id();
    let epoch = sim.session(host_i).unwrap().epoch();
    assert!(epoch >= 2);
    let stale = claim_as(&sim, rogue_i, epoch - 1);
    for to in [host_peer, other] {
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(to, stale.clone()));
    }
    sim.run_for_secs(2.0);
    for i in [host_i, other_i] {
        let s = sim.session(i).unwrap();
        assert_eq!(s.stats().stale_claims, 1, "counted at {}", s.peer_id());
        assert_eq!(s.current_host(), Some(host_peer), "not adopted");
    }
    // A peer back from a partition may hold such a roster honestly: it is answered with
    // the current one, not dropped, and everyone (the sender too) follows the same host.
    assert!(!misbehaved(&sim, host_peer, rogue));
    assert!(sim.roster_agree());
    assert_eq!(sim.consensus_host(), Some(host_peer));
    assert_eq!(sim.session(rogue_i).unwrap().epoch(), epoch);
    assert_eq!(sim.state_lost(), 0);
}

/// Oversized input, two ways: a message larger than any the protocol allows (refused before
/// decoding), and a well-formed one whose field is over its bound (refused by validation).
/// Either way the sender is dropped and the session plays on.
#[test]
fn oversized_messages_get_their_sender_dropped() {
    use netcode::protocol::{MAX_MESSAGE_BYTES, MAX_VALUE_BYTES};
    for (case, seed) in [("huge", 38), ("field", 39)] {
        let mut sim = sim(4, seed, 20, 2, 0.0);
        form(&mut sim, 5.0);
        sim.run_for_secs(1.0);
        let (host_i, rogue_i, _) = roles(&sim);
        let host_peer = sim.session(host_i).unwrap().peer_id();
        let rogue = sim.session(rogue_i).unwrap().peer_id();
        let bytes = match case {
            "huge" => vec![7; MAX_MESSAGE_BYTES + 1],
            _ => Message::Update {
                scope: Scope::Peer(rogue),
                key: "score".into(),
                entry: Entry::sealed(
                    Scope::Peer(rogue),
                    "score",
                    Version { epoch: 1, n: 1 << 20 },
                    Some(vec![1; MAX_VALUE_BYTES * 4]),
                    &seat_key(&sim, rogue_i),
                    1,
                ),
            }
            .encode()
            .unwrap(),
        };
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, bytes), "{case}");
        sim.run_for_secs(3.0);
        assert!(misbehaved(&sim, host_peer, rogue), "{case}: refused and dropped");
        let host = sim.session(host_i).unwrap();
        assert!(host.stats().rejected_messages >= 1, "{case}: counted");
        assert!(host.roster().get(rogue).is_none(), "{case}: expelled");
        let value = host.store().get(Scope::Peer(rogue), "score").map(<[u8]>::len);
        assert!(value.is_none_or(|n| n <= MAX_VALUE_BYTES), "{case}: never applied");
        assert!(no_host_change_except(&sim, rogue), "{case}: nobody else noticed");
        assert_eq!(sim.state_lost(), 0, "{case}");
    }
}
