//! Candidates through the mesh, in the simulator: a member's announcement reaches another
//! through a relaying member as the announcer's own, a relay cannot plant candidates of
//! another member, and a late change is announced again.

use crate::link::Channel;
use crate::protocol::{Candidate, CandidateKind, Candidates, Message};
use crate::session::{MemberCandidates, SessionEvent};
use crate::sim::{Sim, SimConfig};
use crate::stun::NatMapping;

fn candidates(addrs: &[(&str, CandidateKind)], mapping: NatMapping) -> Candidates {
    Candidates {
        addrs: addrs
            .iter()
            .map(|(a, kind)| Candidate {
                addr: a.parse().unwrap(),
                kind: *kind,
            })
            .collect(),
        mapping,
    }
}

/// A settled four-peer session two of whose non-hosts cannot reach each other (two
/// strict NATs): another member relays between them. (sim, host, b, c) as node indices.
fn relayed_trio() -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new(SimConfig {
        peers: 4,
        seed: 31,
        ..SimConfig::default()
    });
    sim.run_for_secs(3.0);
    let host = sim.consensus_host().expect("a host");
    let h = sim.index_of(host).unwrap();
    let others: Vec<usize> = (0..4).filter(|i| *i != h).collect();
    let (b, c) = (others[0], others[1]);
    sim.cut(b, c);
    sim.run_for_secs(8.0);
    let id_c = sim.session(c).unwrap().peer_id();
    assert_ne!(
        sim.session(b).unwrap().link(id_c),
        crate::Link::Direct(crate::DirectPath::Lan),
        "b has no link of its own to c"
    );
    for i in 0..4 {
        sim.session_mut(i).unwrap().take_candidates();
    }
    (sim, h, b, c)
}

fn taken(sim: &mut Sim, i: usize) -> Vec<MemberCandidates> {
    sim.session_mut(i).unwrap().take_candidates()
}

#[test]
fn candidates_reach_a_member_through_a_relay_as_the_announcers_own() {
    let (mut sim, h, b, c) = relayed_trio();
    let ours = candidates(
        &[
            ("198.51.100.20:41000", CandidateKind::Reflexive),
            ("10.2.0.2:5000", CandidateKind::Local),
        ],
        NatMapping::EndpointIndependent,
    );
    let (id_b, addr_b) = {
        let s = sim.session(b).unwrap();
        (s.peer_id(), s.local_addr())
    };
    sim.session_mut(b).unwrap().set_candidates(ours.clone());
    sim.run_for_secs(0.5);
    let at_c = taken(&mut sim, c);
    assert_eq!(
        at_c,
        vec![MemberCandidates {
            peer: id_b,
            addr: addr_b,
            candidates: ours.clone(),
        }],
        "c has b's candidates, relayed by a member"
    );
    let at_h = taken(&mut sim, h);
    assert_eq!(at_h.len(), 1, "the host has them too: {at_h:?}");
    // Nothing is announced again while nothing changes.
    sim.run_for_secs(2.0);
    assert!(taken(&mut sim, c).is_empty());
    // A late candidate (a port mapping that answered late) is announced to everyone.
    let mut later = ours;
    later.addrs.insert(
        0,
        Candidate {
            addr: "198.51.100.20:5000".parse().unwrap(),
            kind: CandidateKind::Mapped,
        },
    );
    sim.session_mut(b).unwrap().set_candidates(later.clone());
    sim.run_for_secs(0.5);
    let at_c = taken(&mut sim, c);
    assert_eq!(at_c.len(), 1, "{at_c:?}");
    assert_eq!(at_c[0].candidates, later);
    assert!(at_c[0].candidates.has_mapped());
}

#[test]
fn a_relaying_member_cannot_plant_another_members_candidates() {
    let (mut sim, h, b, c) = relayed_trio();
    let (id_b, id_c) = (sim.session(b).unwrap().peer_id(), sim.session(c).unwrap().peer_id());
    let id_h = sim.session(h).unwrap().peer_id();
    let planted = candidates(&[("203.0.113.66:6666", CandidateKind::Mapped)], NatMapping::Unknown);
    // The host says them on its own link: they are the host's, not b's.
    let host = sim.session_mut(h).unwrap();
    host.send_direct(id_c, Channel::ReliableOrdered, &Message::Candidates(planted.clone()));
    sim.run_for_secs(0.5);
    let at_c = taken(&mut sim, c);
    assert!(at_c.iter().all(|m| m.peer == id_h), "{at_c:?}");
    assert!(at_c.iter().all(|m| m.peer != id_b));
    // It forwards them as if from b: its own signature under b's name does not hold.
    let host = sim.session_mut(h).unwrap();
    let inner = Message::Candidates(planted).encode().unwrap();
    let mut forged = host.signed_forward(id_c, true, inner);
    if let Message::Forward { origin, .. } = &mut forged {
        *origin = id_b;
    }
    host.send_direct(id_c, Channel::ReliableOrdered, &forged);
    sim.run_for_secs(0.5);
    assert!(taken(&mut sim, c).iter().all(|m| m.peer != id_b), "nothing of b's");
    let blamed = sim
        .events_of(id_c)
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::PeerMisbehaved { peer, .. } if *peer == id_h));
    assert!(blamed, "c dropped the host's link for the forgery");
}
