//! No member speaks for another: what a relaying member, or any member, could say in
//! another's name (a goodbye, the host's roster, an admission answer, a replayed relayed
//! message, a link under another's id, a word about who is alive) is refused, and the
//! others play on with the same host and roster. Each test plays one member that holds the
//! session key and misuses it (`docs/design.md`, "Authority").

use netcode::protocol::{Message, Refusal};
use netcode::sim::Sim;
use netcode::store::Store;
use netcode::{Credentials, PeerId, SessionEvent, Testimony};
use netcode_tests::{form, host, misbehaved, roles, seat_key, sim, successor};

fn id(sim: &Sim, i: usize) -> PeerId {
    sim.session(i).unwrap().peer_id()
}

fn session_id(sim: &Sim) -> u64 {
    let i = sim.live_indices()[0];
    sim.session(i).unwrap().session_id()
}

/// Whether any live peer reported `peer` as misbehaving.
fn blamed_anywhere(sim: &Sim, peer: PeerId) -> bool {
    sim.live_indices()
        .into_iter()
        .any(|i| misbehaved(sim, id(sim, i), peer))
}

/// No live peer but `except` reported a host change since the session formed.
fn no_host_change_except(sim: &Sim, except: Option<PeerId>) -> bool {
    !sim.metrics
        .events
        .iter()
        .any(|(_, p, e)| Some(*p) != except && matches!(e, SessionEvent::HostChanged { .. }))
}

/// Every live peer but `except` follows `host_peer` and holds `victim` active.
fn undisturbed(sim: &Sim, host_peer: PeerId, victim: PeerId, except: Option<usize>) {
    for i in sim.live_indices().into_iter().filter(|i| Some(*i) != except) {
        let s = sim.session(i).unwrap();
        assert_eq!(s.current_host(), Some(host_peer), "node {i}: same host");
        assert!(
            s.roster().get(victim).is_some_and(|m| m.is_active()),
            "node {i}: the victim still plays"
        );
    }
    assert!(sim.session(sim.index_of(victim).unwrap()).unwrap().in_session());
    assert_eq!(sim.state_lost(), 0);
}

/// A session of four, formed and playing.
fn playing(seed: u64) -> Sim {
    let mut sim = sim(4, seed, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    sim
}

/// A forward of `inner` from `origin` to `dest`, as `signer` signed it.
fn forward(sim: &Sim, signer: usize, origin: PeerId, dest: PeerId, seq: u64, inner: &Message) -> Message {
    let key = seat_key(sim, signer);
    let incarnations = [0, 0];
    let bytes = inner.encode().unwrap();
    let mut fwd = Message::signed_forward(&key, session_id(sim), dest, seq, true, incarnations, bytes);
    if let Message::Forward { origin: o, .. } = &mut fwd {
        *o = origin;
    }
    fwd
}

#[test]
fn a_relay_cannot_say_goodbye_for_another_member() {
    let mut sim = playing(71);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, rogue, victim) = (id(&sim, host_i), id(&sim, rogue_i), id(&sim, victim_i));
    // The attack that worked before: a goodbye "relayed" in the victim's name, to the host
    // and to the fourth member, signed by the relay itself.
    let fourth = sim
        .live_indices()
        .into_iter()
        .find(|i| ![host_i, rogue_i, victim_i].contains(i))
        .unwrap();
    for dest in [host_peer, id(&sim, fourth)] {
        let fwd = forward(&sim, rogue_i, victim, dest, 1, &Message::Leave);
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(dest, fwd.encode().unwrap()));
    }
    sim.run_for_secs(2.0);
    assert!(misbehaved(&sim, host_peer, rogue), "the forger is dropped by the host");
    assert!(misbehaved(&sim, id(&sim, fourth), rogue), "and by the other receiver");
    assert!(
        sim.session(host_i).unwrap().roster().get(rogue).is_none(),
        "and expelled"
    );
    assert!(!blamed_anywhere(&sim, victim), "the victim is not blamed");
    undisturbed(&sim, host_peer, victim, Some(rogue_i));
    assert!(no_host_change_except(&sim, Some(rogue)));
}

#[test]
fn a_relay_cannot_replay_what_a_member_sent_through_it() {
    let mut sim = playing(72);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, rogue, victim) = (id(&sim, host_i), id(&sim, rogue_i), id(&sim, victim_i));
    let refused = |sim: &Sim| sim.session(host_i).unwrap().stats().refused_forwards;
    // A message the victim really signed for the host (a store request: harmless), as a
    // relay would have carried it.
    let real = forward(&sim, victim_i, victim, host_peer, 1 << 20, &Message::StoreRequest);
    let bytes = real.encode().unwrap();
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, bytes.clone()));
    sim.run_for_secs(0.5);
    assert_eq!(refused(&sim), 0, "delivered once");
    for _ in 0..3 {
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, bytes.clone()));
        sim.run_for_secs(0.5);
    }
    assert_eq!(refused(&sim), 3, "every replay refused and counted");
    // Sent to an earlier incarnation of its destination: the host restarts and rejoins;
    // the old forward, shown to its new incarnation, is refused.
    let creds = sim.session(host_i).unwrap().credentials();
    sim.crash(host_i);
    sim.run_for_secs(3.0);
    sim.restart_with(host_i, creds);
    sim.run_for_secs(3.0);
    let back = sim.session(host_i).unwrap();
    assert!(back.in_session() && back.roster().get(host_peer).unwrap().incarnation >= 1);
    let before = refused(&sim);
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, bytes));
    sim.run_for_secs(0.5);
    assert_eq!(refused(&sim), before + 1, "stale incarnation refused");
    assert!(
        !blamed_anywhere(&sim, victim) && !blamed_anywhere(&sim, rogue),
        "a replay blames nobody"
    );
    assert_eq!(sim.hosts().len(), 1);
    assert!(sim.roster_agree());
}

#[test]
fn a_member_cannot_forge_the_hosts_roster() {
    let mut sim = playing(73);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, rogue, victim) = (id(&sim, host_i), id(&sim, rogue_i), id(&sim, victim_i));
    let other_i = sim
        .live_indices()
        .into_iter()
        .find(|i| ![host_i, rogue_i, victim_i].contains(i))
        .unwrap();
    let other = id(&sim, other_i);
    // The host's roster without the victim, one version later: it would win every
    // comparison, and the victim would be expelled everywhere. Sent as the host signed the
    // previous version, then re-signed by the rogue.
    let mut forged = sim.session(rogue_i).unwrap().roster().clone();
    forged.remove(victim);
    forged.version += 1;
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(other, Message::Roster(forged.clone()).encode().unwrap())
    );
    sim.run_for_secs(1.0);
    assert!(
        misbehaved(&sim, other, rogue),
        "a roster its host did not sign: dropped"
    );
    // Through a relay, in the rogue's own name: the same verdict at the host.
    forged.sign(&seat_key(&sim, rogue_i), session_id(&sim));
    let fwd = forward(&sim, rogue_i, rogue, host_peer, 1, &Message::Roster(forged));
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, fwd.encode().unwrap())
    );
    sim.run_for_secs(2.0);
    assert!(misbehaved(&sim, host_peer, rogue));
    assert!(!blamed_anywhere(&sim, victim));
    undisturbed(&sim, host_peer, victim, Some(rogue_i));
    assert!(no_host_change_except(&sim, Some(rogue)));
}

#[test]
fn only_the_host_answers_an_admission() {
    let mut sim = playing(74);
    let (host_i, rogue_i, _) = roles(&sim);
    let (host_peer, rogue) = (id(&sim, host_i), id(&sim, rogue_i));
    // A newcomer joins through a random member; the rogue tells every member, at every
    // step of the join, that the host refused it.
    let newcomer_i = sim.add_peer();
    sim.step();
    let newcomer = id(&sim, newcomer_i);
    let members: Vec<PeerId> = sim
        .live_indices()
        .into_iter()
        .filter(|i| ![rogue_i, newcomer_i].contains(i))
        .map(|i| id(&sim, i))
        .collect();
    let refusal = Message::Admitted {
        peer: newcomer,
        result: Err(Refusal::Full),
        roster: sim.session(rogue_i).unwrap().roster().clone(),
        store: Store::default(),
    }
    .encode()
    .unwrap();
    for _ in 0..400 {
        for m in &members {
            let _ = sim.session_mut(rogue_i).unwrap().send_raw(*m, refusal.clone());
        }
        sim.step();
    }
    let s = sim.session(newcomer_i).unwrap();
    assert!(s.in_session(), "admitted: {:?}", sim.events_of(newcomer));
    assert!(
        !sim.events_of(newcomer)
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::JoinRefused(_))),
        "never refused"
    );
    sim.run_for_secs(1.0);
    assert_eq!(sim.consensus_host(), Some(host_peer));
    assert!(sim.roster_agree());
    assert!(no_host_change_except(&sim, Some(rogue)));
}

#[test]
fn a_link_under_another_members_id_is_closed_and_that_member_is_not_blamed() {
    let mut sim = playing(75);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim) = (id(&sim, host_i), id(&sim, victim_i));
    // The rogue's process comes back claiming the victim's seat with its own secret: it
    // dials members as the victim (at a member that dialed the victim, a link under the
    // victim's id replaces that member's link) but cannot prove the seat.
    let secret = sim.session(rogue_i).unwrap().credentials().secret;
    sim.crash(rogue_i);
    sim.run_for_secs(0.1);
    sim.restart_with(rogue_i, Credentials { peer: victim, secret });
    // A link it displaced is re-made once the victim's side of it times out (5 s); the
    // victim is heard through a relay meanwhile.
    sim.run_for_secs(8.0);
    let impostor = sim.session(rogue_i);
    assert!(impostor.is_none_or(|s| !s.in_session()), "the impostor got nowhere");
    assert!(
        !blamed_anywhere(&sim, victim),
        "the claimed seat is not blamed: {:?}",
        sim.metrics
            .events
            .iter()
            .filter(|(_, _, e)| matches!(e, SessionEvent::PeerMisbehaved { .. }))
            .collect::<Vec<_>>()
    );
    for i in sim
        .live_indices()
        .into_iter()
        .filter(|i| ![rogue_i, victim_i].contains(i))
    {
        let s = sim.session(i).unwrap();
        assert_eq!(s.link(victim).word(), "direct", "node {i} hears the victim directly");
    }
    assert_eq!(sim.consensus_host(), Some(host_peer));
    assert!(no_host_change_except(&sim, None));
}

#[test]
fn a_member_vouching_for_a_crashed_host_delays_the_migration_a_moment_only() {
    let mut sim = playing(76);
    let host_peer = host(&sim);
    let host_i = sim.index_of(host_peer).unwrap();
    // A member that would not succeed the host (the successor must wait for it) says it
    // hears everyone, the crashed host too.
    let next = successor(&sim, host_peer);
    let rogue_i = sim
        .live_indices()
        .into_iter()
        .find(|i| ![host_peer, next].contains(&id(&sim, *i)))
        .unwrap();
    sim.session_mut(rogue_i)
        .unwrap()
        .set_testimony(Testimony::HearsEveryone);
    sim.run_for_secs(1.0);
    let crashed_at = sim.now();
    sim.crash(host_i);
    let mut migrated = None;
    while sim.now() < crashed_at + std::time::Duration::from_secs(6) {
        sim.run_for_secs(0.1);
        if sim.consensus_host().is_some_and(|h| h != host_peer) && sim.roster_agree() {
            migrated = Some(sim.now() - crashed_at);
            break;
        }
    }
    let pause = migrated.expect("migrated despite the false witness");
    // The vouch limit is three of the largest suspicion windows (1 s each by default),
    // after the last word from the host; then detection and the claim (~0.3 s).
    assert!(pause.as_secs_f64() < 3.0 + 0.3 + 0.5, "migrated after {pause:?}");
}

#[test]
fn a_member_suspecting_everyone_brings_nobody_down() {
    let mut sim = playing(77);
    let (host_i, rogue_i, _) = roles(&sim);
    let host_peer = id(&sim, host_i);
    sim.session_mut(rogue_i).unwrap().set_testimony(Testimony::HearsNobody);
    sim.run_for_secs(5.0);
    assert_eq!(sim.consensus_host(), Some(host_peer));
    assert!(sim.roster_agree());
    assert!(no_host_change_except(&sim, None));
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        assert_eq!(s.roster().active().count(), 4, "node {i}: nobody marked away");
    }
}

#[test]
fn store_requests_are_answered_at_a_bounded_rate() {
    let mut sim = playing(78);
    let (host_i, rogue_i, _) = roles(&sim);
    let (host_peer, rogue) = (id(&sim, host_i), id(&sim, rogue_i));
    let before = sim.session(host_i).unwrap().stats().rate_limited;
    let request = Message::StoreRequest.encode().unwrap();
    // Fifty requests within a second: one answer (a whole store each), the rest counted.
    for _ in 0..50 {
        assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, request.clone()));
        sim.run_for_secs(0.02);
    }
    sim.run_for_secs(0.2);
    let after = sim.session(host_i).unwrap().stats().rate_limited;
    assert_eq!(after - before, 49, "answered once");
    assert!(!misbehaved(&sim, host_peer, rogue), "asking is not misbehaving");
    assert!(sim.roster_agree());
}
