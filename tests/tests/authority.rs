//! Authority on every write path: only the host writes shared entries, only a peer writes
//! its own, and a seat is taken back only by whoever holds its key. Each test plays one
//! member that holds the session key (it is in the session) and misuses it.

use netcode::identity::{SeatKey, SeatProof};
use netcode::protocol::Message;
use netcode::sim::Sim;
use netcode::store::{Entry, Store, Version};
use netcode::{PeerId, Scope};
use netcode_tests::{form, misbehaved, roles, seat_key, sim};

/// A shared key that no honest peer of the simulator writes.
const PLANTED: &str = "planted";

fn id(sim: &Sim, i: usize) -> PeerId {
    sim.session(i).unwrap().peer_id()
}

fn refused_at(sim: &Sim, i: usize) -> u64 {
    sim.session(i).unwrap().stats().refused_entries
}

/// A session of four, formed and playing, with the epoch it is in.
fn playing(seed: u64) -> (Sim, u64) {
    let mut sim = sim(4, seed, 20, 2, 0.0);
    form(&mut sim, 5.0);
    sim.run_for_secs(1.0);
    let epoch = sim.session(0).unwrap().roster().epoch;
    (sim, epoch)
}

/// A shared entry sealed by `signer` in `term`, far ahead of any honest version.
fn planted(signer: &SeatKey, term: u64) -> Entry {
    let version = Version {
        epoch: term,
        n: 1 << 40,
    };
    Entry::sealed(Scope::Shared, PLANTED, version, Some(vec![6; 8]), signer, term)
}

/// Nobody planted anything, the host is the same and every live peer agrees on the roster.
fn undisturbed(sim: &Sim, host_peer: PeerId, except: usize) {
    for i in sim.live_indices() {
        let s = sim.session(i).unwrap();
        assert_eq!(s.store().get(Scope::Shared, PLANTED), None, "node {i}: nothing planted");
        if i != except {
            assert_eq!(s.current_host(), Some(host_peer), "node {i}: same host");
        }
    }
    assert_eq!(sim.state_lost(), 0);
}

#[test]
fn a_shared_write_from_a_non_host_is_refused_and_counted() {
    let (mut sim, epoch) = playing(61);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim) = (id(&sim, host_i), id(&sim, victim_i));
    // Sealed with its own key, in the current term: well formed, but not the host's.
    let own_seal = Message::Update {
        scope: Scope::Shared,
        key: PLANTED.into(),
        entry: planted(&seat_key(&sim, rogue_i), epoch),
    };
    let bytes = own_seal.encode().unwrap();
    let rogue = sim.session_mut(rogue_i).unwrap();
    assert!(rogue.send_raw(victim, bytes.clone()) && rogue.send_raw(host_peer, bytes));
    sim.run_for_secs(1.0);
    assert!(
        refused_at(&sim, victim_i) >= 1 && refused_at(&sim, host_i) >= 1,
        "refused and counted"
    );
    undisturbed(&sim, host_peer, usize::MAX);
    // The host's own seal, copied onto another value: a seal that does not hold.
    let clock = sim
        .session(host_i)
        .unwrap()
        .store()
        .entry(Scope::Shared, "clock")
        .unwrap()
        .clone();
    let mut tampered = clock.clone();
    tampered.value = Some(vec![0; 8]);
    let copied_seal = Message::Update {
        scope: Scope::Shared,
        key: "clock".into(),
        entry: Entry {
            version: Version {
                n: clock.version.n + 1000,
                ..clock.version
            },
            ..tampered
        },
    };
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(victim, copied_seal.encode().unwrap())
    );
    sim.run_for_secs(1.0);
    let rogue = id(&sim, rogue_i);
    assert!(
        misbehaved(&sim, victim, rogue),
        "a forged seal cannot be honest: dropped"
    );
    let seen = sim
        .session(victim_i)
        .unwrap()
        .store()
        .entry(Scope::Shared, "clock")
        .unwrap()
        .version;
    assert!(seen.n < clock.version.n + 1000, "the forged clock was not applied");
    undisturbed(&sim, host_peer, rogue_i);
}

#[test]
fn a_store_sync_from_a_non_host_plants_nothing() {
    let (mut sim, epoch) = playing(62);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim) = (id(&sim, host_i), id(&sim, victim_i));
    // A store with a shared entry under the rogue's own seal: refused, counted.
    let mut store = Store::default();
    let entry = planted(&seat_key(&sim, rogue_i), epoch);
    store_put(&mut store, Scope::Shared, PLANTED, entry);
    let sync = Message::StoreSync(store).encode().unwrap();
    let rogue = sim.session_mut(rogue_i).unwrap();
    assert!(rogue.send_raw(victim, sync.clone()) && rogue.send_raw(host_peer, sync));
    sim.run_for_secs(1.0);
    assert!(refused_at(&sim, victim_i) >= 1 && refused_at(&sim, host_i) >= 1);
    undisturbed(&sim, host_peer, usize::MAX);
    // A store that rewrites the victim's score under the rogue's seal: forged, dropped.
    let score = Version { epoch, n: 1 << 40 };
    let forged = Entry::sealed(
        Scope::Peer(victim),
        "score",
        score,
        Some(vec![0; 8]),
        &seat_key(&sim, rogue_i),
        epoch,
    );
    let mut store = Store::default();
    store_put(&mut store, Scope::Peer(victim), "score", forged);
    let sync = Message::StoreSync(store).encode().unwrap();
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(host_peer, sync));
    sim.run_for_secs(1.0);
    let rogue = id(&sim, rogue_i);
    assert!(misbehaved(&sim, host_peer, rogue), "the host dropped the forger");
    for i in sim.live_indices() {
        let n = sim
            .session(i)
            .unwrap()
            .store()
            .entry(Scope::Peer(victim), "score")
            .map(|e| e.version.n);
        assert!(
            n.is_some_and(|n| n < 1 << 40),
            "node {i}: the victim's score is its own"
        );
    }
    assert!(sim.session(host_i).unwrap().roster().get(rogue).is_none(), "expelled");
    undisturbed(&sim, host_peer, rogue_i);
}

/// Puts an entry into a store that a peer will send.
fn store_put(store: &mut Store, scope: Scope, key: &str, entry: Entry) {
    store.merge_entry(scope, key.into(), entry);
}

/// A rejoin request for node `i`'s own seat, signed now, carrying `store`.
fn rejoin_of(sim: &Sim, i: usize, store: Store) -> Message {
    let s = sim.session(i).unwrap();
    let key = seat_key(sim, i);
    let at = sim.now().as_millis() as u64;
    let proof = SeatProof::sign(&key, s.session_id(), s.peer_id(), s.local_addr(), at);
    Message::Rejoin {
        name: "rogue".into(),
        key: key.public(),
        proof,
        store,
    }
}

#[test]
fn a_rejoin_that_brings_a_forged_store_plants_nothing() {
    let (mut sim, epoch) = playing(63);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim) = (id(&sim, host_i), id(&sim, victim_i));
    // Its own seat, properly proven, but the store it brings holds a shared entry under its
    // own seal: the host refuses that entry and counts it.
    let mut store = Store::default();
    store_put(
        &mut store,
        Scope::Shared,
        PLANTED,
        planted(&seat_key(&sim, rogue_i), epoch),
    );
    let msg = rejoin_of(&sim, rogue_i, store).encode().unwrap();
    let refused_before = refused_at(&sim, host_i);
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(victim, msg));
    sim.run_for_secs(1.5);
    assert!(
        refused_at(&sim, host_i) > refused_before,
        "the host refused the planted entry"
    );
    undisturbed(&sim, host_peer, usize::MAX);
    // A store with another peer's entry under its seal: the contact refuses the request.
    let version = Version { epoch, n: 1 << 40 };
    let forged = Entry::sealed(
        Scope::Peer(host_peer),
        "score",
        version,
        Some(vec![0; 8]),
        &seat_key(&sim, rogue_i),
        epoch,
    );
    let mut store = Store::default();
    store_put(&mut store, Scope::Peer(host_peer), "score", forged);
    let msg = rejoin_of(&sim, rogue_i, store).encode().unwrap();
    let refused_before = refused_at(&sim, victim_i);
    assert!(sim.session_mut(rogue_i).unwrap().send_raw(victim, msg));
    sim.run_for_secs(1.5);
    assert!(refused_at(&sim, victim_i) > refused_before, "the contact counted it");
    for i in sim.live_indices() {
        let n = sim
            .session(i)
            .unwrap()
            .store()
            .entry(Scope::Peer(host_peer), "score")
            .map(|e| e.version.n);
        assert!(n.is_some_and(|n| n < 1 << 40), "node {i}: the host's score is its own");
    }
    undisturbed(&sim, host_peer, usize::MAX);
}

/// An admission request for `victim`'s seat at `addr`, as a contact passes it to the host.
fn admit(proof: SeatProof, key: [u8; 32]) -> Vec<u8> {
    let msg = Message::Admit {
        name: "thief".into(),
        key,
        proof,
        rejoin: true,
        store: Store::default(),
    };
    msg.encode().unwrap()
}

#[test]
fn a_member_cannot_steal_another_members_seat() {
    let (mut sim, _) = playing(64);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim, rogue) = (id(&sim, host_i), id(&sim, victim_i), id(&sim, rogue_i));
    let before = sim.session(host_i).unwrap().roster().get(victim).unwrap().clone();
    let session_id = sim.session(host_i).unwrap().session_id();
    let elsewhere = sim.session(rogue_i).unwrap().local_addr();
    let at = sim.now().as_millis() as u64;
    // The victim's public key is in every roster; a proof of its seat needs its secret.
    let proof = SeatProof::sign(&seat_key(&sim, rogue_i), session_id, victim, elsewhere, at);
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, admit(proof, before.key))
    );
    sim.run_for_secs(1.5);
    assert!(
        misbehaved(&sim, host_peer, rogue),
        "a forged seat proof gets its bearer dropped"
    );
    let after = sim.session(host_i).unwrap().roster().get(victim).unwrap().clone();
    assert_eq!(after, before, "the seat stays with its owner, at its address");
    assert!(sim.session(host_i).unwrap().roster().get(rogue).is_none(), "expelled");
    for i in sim.live_indices().into_iter().filter(|i| *i != rogue_i) {
        assert!(sim.session(i).unwrap().in_session(), "node {i} plays on");
    }
    undisturbed(&sim, host_peer, rogue_i);
}

#[test]
fn a_replayed_rejoin_is_refused() {
    let (mut sim, _) = playing(65);
    let (host_i, rogue_i, victim_i) = roles(&sim);
    let (host_peer, victim) = (id(&sim, host_i), id(&sim, victim_i));
    let victim_key = seat_key(&sim, victim_i);
    let session_id = sim.session(host_i).unwrap().session_id();
    // The victim crashes and takes its seat back (the rogue, its contact or a relay, sees
    // the proof it sends).
    let creds = sim.session(victim_i).unwrap().credentials();
    sim.crash(victim_i);
    sim.run_for_secs(2.0);
    sim.restart_with(victim_i, creds);
    sim.run_for_secs(2.0);
    let seat = sim.session(host_i).unwrap().roster().get(victim).unwrap().clone();
    assert!(seat.is_active() && seat.incarnation == 1, "rejoined: {seat:?}");
    let seen = SeatProof::sign(&victim_key, session_id, victim, seat.addr, seat.proof_ms);
    // Replayed as it was: admitted already, nothing changes.
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, admit(seen, seat.key))
    );
    sim.run_for_secs(1.0);
    assert_eq!(
        sim.session(host_i).unwrap().roster().get(victim),
        Some(&seat),
        "a replay changes nothing"
    );
    // The victim crashes and rejoins again; the old proof is now older than the seat's.
    sim.crash(victim_i);
    sim.run_for_secs(2.0);
    sim.restart_with(victim_i, creds);
    sim.run_for_secs(2.0);
    let newer = sim.session(host_i).unwrap().roster().get(victim).unwrap().clone();
    assert!(newer.is_active() && newer.incarnation == 2 && newer.proof_ms > seat.proof_ms);
    assert!(
        sim.session_mut(rogue_i)
            .unwrap()
            .send_raw(host_peer, admit(seen, seat.key))
    );
    sim.run_for_secs(1.0);
    assert_eq!(
        sim.session(host_i).unwrap().roster().get(victim),
        Some(&newer),
        "the stale proof is refused"
    );
    assert!(sim.session(victim_i).unwrap().in_session(), "the owner plays on");
    undisturbed(&sim, host_peer, usize::MAX);
}
