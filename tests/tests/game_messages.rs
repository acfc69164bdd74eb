//! A game's own messages in the simulator (`docs/design.md`, "Game messages"): each way
//! with the sender's id, order on a reliable-ordered channel through loss, the size bound,
//! relayed when the direct link is down (and a relay cannot speak for another), a reliable
//! message to the host through a migration, a flood limited as other traffic is.

use netcode::protocol::{MAX_GAME_MESSAGE_BYTES, Message};
use netcode::sim::Sim;
use netcode::{Channel, GameMessage, Link, MessageError, PeerId, Relayer, Target};
use netcode_tests::{form, host, misbehaved, roles, seat_key, sim, successor};

fn id(sim: &Sim, i: usize) -> PeerId {
    sim.session(i).unwrap().peer_id()
}

/// Everything node `i` received so far.
fn received(sim: &mut Sim, i: usize) -> Vec<GameMessage> {
    let s = sim.session_mut(i).unwrap();
    std::iter::from_fn(|| s.receive_message()).collect()
}

fn send(sim: &mut Sim, i: usize, target: Target, channel: Channel, kind: u16, bytes: Vec<u8>) {
    sim.session_mut(i)
        .unwrap()
        .send_message(target, channel, kind, bytes)
        .expect("sent");
}

/// A session of four, formed and playing, on 20 ms links with `loss`.
fn playing(seed: u64, loss: f64) -> Sim {
    let mut sim = sim(4, seed, 20, 2, loss);
    form(&mut sim, 8.0);
    sim.run_for_secs(1.0);
    sim
}

#[test]
fn messages_go_each_way_with_the_senders_id() {
    let mut sim = playing(81, 0.0);
    let (host_i, a, b) = roles(&sim);
    let (host_peer, pa, pb) = (id(&sim, host_i), id(&sim, a), id(&sim, b));
    send(
        &mut sim,
        a,
        Target::Host,
        Channel::ReliableOrdered,
        1,
        b"to host".to_vec(),
    );
    send(
        &mut sim,
        host_i,
        Target::All,
        Channel::ReliableUnordered,
        2,
        b"to all".to_vec(),
    );
    send(&mut sim, a, Target::Peer(pb), Channel::Unreliable, 3, b"to b".to_vec());
    sim.run_for_secs(0.5);
    let at_host = received(&mut sim, host_i);
    assert_eq!(
        at_host,
        vec![GameMessage {
            from: pa,
            kind: 1,
            bytes: b"to host".to_vec()
        }]
    );
    for i in sim.live_indices().into_iter().filter(|i| *i != host_i) {
        let got = received(&mut sim, i);
        let from_host: Vec<_> = got.iter().filter(|m| m.kind == 2).collect();
        assert_eq!(from_host.len(), 1, "node {i}: the host's message to everyone");
        assert_eq!(from_host[0].from, host_peer);
        let to_b: Vec<_> = got.iter().filter(|m| m.kind == 3).collect();
        if i == b {
            assert_eq!(to_b.len(), 1);
            assert_eq!((to_b[0].from, to_b[0].bytes.as_slice()), (pa, &b"to b"[..]));
        } else {
            assert!(to_b.is_empty(), "node {i}: not for it");
        }
    }
    // To oneself (the host to the host, a member to itself): delivered here at once.
    send(&mut sim, host_i, Target::Host, Channel::ReliableOrdered, 4, vec![]);
    send(&mut sim, b, Target::Peer(pb), Channel::Unreliable, 5, vec![]);
    assert_eq!(received(&mut sim, host_i)[0].from, host_peer);
    assert_eq!(received(&mut sim, b)[0].from, pb);
}

#[test]
fn order_is_kept_per_sender_on_the_reliable_ordered_channel_through_loss() {
    let mut sim = playing(82, 0.1);
    let (host_i, a, b) = roles(&sim);
    for n in 0..200u32 {
        send(
            &mut sim,
            a,
            Target::Host,
            Channel::ReliableOrdered,
            7,
            n.to_le_bytes().to_vec(),
        );
        send(
            &mut sim,
            b,
            Target::Host,
            Channel::ReliableOrdered,
            7,
            n.to_le_bytes().to_vec(),
        );
        if n % 10 == 0 {
            sim.run_for_secs(0.02);
        }
    }
    sim.run_for_secs(3.0);
    let got = received(&mut sim, host_i);
    for sender in [a, b] {
        let from = id(&sim, sender);
        let numbers: Vec<u32> = got
            .iter()
            .filter(|m| m.from == from)
            .map(|m| u32::from_le_bytes(m.bytes[..4].try_into().unwrap()))
            .collect();
        assert_eq!(numbers, (0..200).collect::<Vec<_>>(), "all of {from}'s, in order, once");
    }
}

#[test]
fn a_message_over_the_bound_or_to_a_stranger_is_a_typed_error() {
    let mut sim = playing(83, 0.0);
    let (host_i, a, _) = roles(&sim);
    let s = sim.session_mut(a).unwrap();
    let too_big = vec![0; MAX_GAME_MESSAGE_BYTES + 1];
    assert_eq!(
        s.send_message(Target::Host, Channel::ReliableOrdered, 1, too_big),
        Err(MessageError::TooLarge {
            size: MAX_GAME_MESSAGE_BYTES + 1,
            max: MAX_GAME_MESSAGE_BYTES
        })
    );
    let stranger = PeerId(12345);
    assert_eq!(
        s.send_message(Target::Peer(stranger), Channel::Unreliable, 1, vec![1]),
        Err(MessageError::UnknownPeer { peer: stranger })
    );
    // The largest allowed arrives whole.
    let largest: Vec<u8> = (0..MAX_GAME_MESSAGE_BYTES).map(|i| i as u8).collect();
    send(&mut sim, a, Target::Host, Channel::ReliableOrdered, 1, largest.clone());
    sim.run_for_secs(1.0);
    assert_eq!(received(&mut sim, host_i)[0].bytes, largest);
    sim.leave(a);
    let s = sim.session_mut(a).unwrap();
    assert_eq!(
        s.send_message(Target::All, Channel::Unreliable, 1, vec![]),
        Err(MessageError::NotInSession)
    );
}

#[test]
fn a_message_is_relayed_when_the_direct_link_is_down() {
    let mut sim = playing(84, 0.0);
    let (_, a, b) = roles(&sim);
    let (pa, pb) = (id(&sim, a), id(&sim, b));
    sim.cut(a, b);
    sim.run_for_secs(2.0);
    assert_eq!(sim.session(a).unwrap().link(pb), Link::Relayed(Relayer::Member));
    let relayed_before: u64 = sim
        .live_indices()
        .iter()
        .map(|i| sim.session(*i).unwrap().stats().relayed_messages)
        .sum();
    for n in 0..20u8 {
        send(&mut sim, a, Target::Peer(pb), Channel::ReliableOrdered, 9, vec![n]);
    }
    sim.run_for_secs(1.0);
    let got = received(&mut sim, b);
    let from_a: Vec<u8> = got
        .iter()
        .filter(|m| m.kind == 9 && m.from == pa)
        .map(|m| m.bytes[0])
        .collect();
    assert_eq!(from_a, (0..20).collect::<Vec<_>>(), "through the relay, in order");
    let relayed: u64 = sim
        .live_indices()
        .iter()
        .map(|i| sim.session(*i).unwrap().stats().relayed_messages)
        .sum();
    assert!(relayed >= relayed_before + 20, "{relayed_before} -> {relayed}");
    // An unreliable one too.
    send(&mut sim, a, Target::Peer(pb), Channel::Unreliable, 10, vec![1]);
    sim.run_for_secs(0.2);
    assert_eq!(
        received(&mut sim, b)
            .iter()
            .filter(|m| m.kind == 10 && m.from == pa)
            .count(),
        1
    );
}

#[test]
fn a_relaying_member_cannot_send_a_message_in_anothers_name() {
    let mut sim = playing(85, 0.0);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, rogue, victim) = (id(&sim, host_i), id(&sim, rogue_i), id(&sim, victim_i));
    let session_id = sim.session(host_i).unwrap().session_id();
    let inner = Message::Game {
        kind: 1,
        seq: None,
        bytes: b"I resign".to_vec(),
    };
    // Signed by the rogue, claiming the victim as its origin.
    let mut fwd = Message::signed_forward(
        &seat_key(&sim, rogue_i),
        session_id,
        host_peer,
        1,
        true,
        [0, 0],
        inner.encode().unwrap(),
    );
    if let Message::Forward { origin, .. } = &mut fwd {
        *origin = victim;
    }
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, fwd.encode().unwrap())
    );
    sim.run_for_secs(1.0);
    assert!(
        received(&mut sim, host_i).iter().all(|m| m.from != victim),
        "nothing in the victim's name"
    );
    assert!(misbehaved(&sim, host_peer, rogue), "the forger is dropped");
    assert!(!misbehaved(&sim, host_peer, victim), "the victim is not blamed");
}

#[test]
fn a_reliable_message_to_a_host_that_crashes_reaches_the_next_host() {
    let mut sim = playing(86, 0.0);
    let old = host(&sim);
    let next = successor(&sim, old);
    let (host_i, next_i) = (sim.index_of(old).unwrap(), sim.index_of(next).unwrap());
    let sender = sim
        .live_indices()
        .into_iter()
        .find(|i| ![host_i, next_i].contains(i))
        .unwrap();
    let from = id(&sim, sender);
    // Acknowledged by the host that got them: not sent again after it crashes.
    send(&mut sim, sender, Target::Host, Channel::ReliableOrdered, 1, vec![0]);
    sim.run_for_secs(0.5);
    // Then five the host never gets: it crashes before they leave.
    for n in 1..=5u8 {
        send(&mut sim, sender, Target::Host, Channel::ReliableOrdered, 1, vec![n]);
    }
    send(&mut sim, sender, Target::Host, Channel::Unreliable, 2, vec![9]);
    sim.crash(host_i);
    sim.run_for_secs(5.0);
    assert_eq!(host(&sim), next, "migrated");
    let got = received(&mut sim, next_i);
    let numbers: Vec<u8> = got
        .iter()
        .filter(|m| m.from == from && m.kind == 1)
        .map(|m| m.bytes[0])
        .collect();
    assert_eq!(
        numbers,
        vec![1, 2, 3, 4, 5],
        "the unacknowledged ones, in order, at the new host"
    );
    assert!(
        got.iter().all(|m| m.kind != 2),
        "an unreliable one is lost with the host"
    );
    let stats = sim.session(sender).unwrap().stats();
    assert_eq!(stats.messages_resent, 5);
    // The new host acknowledges them: nothing is sent a third time.
    sim.run_for_secs(1.0);
    assert_eq!(sim.session(sender).unwrap().stats().messages_resent, 5);
}

#[test]
fn a_message_to_the_host_reaches_the_sender_itself_when_it_takes_over() {
    let mut sim = playing(87, 0.0);
    let old = host(&sim);
    let next = successor(&sim, old);
    let (host_i, next_i) = (sim.index_of(old).unwrap(), sim.index_of(next).unwrap());
    send(&mut sim, next_i, Target::Host, Channel::ReliableUnordered, 1, vec![7]);
    sim.crash(host_i);
    sim.run_for_secs(5.0);
    assert_eq!(host(&sim), next);
    let got = received(&mut sim, next_i);
    assert_eq!(
        got,
        vec![GameMessage {
            from: next,
            kind: 1,
            bytes: vec![7]
        }]
    );
}

#[test]
fn a_flood_of_messages_is_limited_and_the_flooder_expelled() {
    let mut sim = playing(88, 0.0);
    let (host_i, rogue_i, _) = roles(&sim);
    let (host_peer, rogue) = (id(&sim, host_i), id(&sim, rogue_i));
    let limit = netcode::SessionConfig::default().max_messages_per_sec;
    // Ten times the rate limit (2000 a second by default) for three seconds, 10 ms apart.
    let per_step = (limit * 10.0 / 100.0) as usize;
    let mut delivered = 0;
    let started = sim.now();
    for _ in 0..300 {
        if !sim.session(rogue_i).unwrap().in_session() {
            break;
        }
        for _ in 0..per_step {
            // (An expelled rogue's sends fail: it is out.)
            let _ = sim
                .session_mut(rogue_i)
                .unwrap()
                .send_message(Target::Host, Channel::Unreliable, 1, vec![0; 4]);
        }
        sim.run_for_secs(0.01);
        delivered += received(&mut sim, host_i).iter().filter(|m| m.from == rogue).count();
    }
    let secs = (sim.now() - started).as_secs_f64();
    let stats = sim.session(host_i).unwrap().stats();
    assert!(stats.rate_limited > 0, "dropped unread");
    assert!(misbehaved(&sim, host_peer, rogue), "expelled after flooding");
    assert!(sim.session(host_i).unwrap().roster().get(rogue).is_none());
    // What got through is within the bucket: its burst and its rate over the time (8368
    // measured with seed 88, the bound 10 000 is 1.2x that).
    let burst = netcode::SessionConfig::default().max_message_burst;
    let bound = burst + limit * secs;
    assert!(
        (delivered as f64) <= bound,
        "{delivered} delivered in {secs:.1} s, bound {bound}"
    );
}
