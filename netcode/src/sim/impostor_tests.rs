//! A member with two spare sockets tries to splice a link between two others: it dials X
//! claiming to be Y and Y claiming to be X, and hands each the hello the other says to
//! "it". Neither victim greets a dialer that has not proved its seat, so there is nothing
//! to hand on: both impostor links close unproven, nobody is blamed, nothing is taken in.

use std::net::SocketAddr;

use super::{Sim, SimConfig};
use crate::PeerId;
use crate::config::SessionConfig;
use crate::key::protocol_id;
use crate::link::{Channel, LinkEvent, LinkKey, Links};
use crate::protocol::Message;
use crate::session::SessionEvent;

/// One spare socket of the rogue: a link endpoint under a borrowed id.
struct Impostor {
    links: Links,
    /// The id it claims and the member it dials.
    victim: PeerId,
    /// Hellos the dialed member sent it (what it would hand on to the other victim).
    hellos: Vec<Vec<u8>>,
}

impl Impostor {
    fn dialing(sim: &mut Sim, claims: PeerId, victim: PeerId, at: SocketAddr) -> Impostor {
        let addr = sim.fresh_addr();
        sim.net.attach(addr);
        let cfg = SessionConfig::default();
        let mut links = Links::new(claims, addr, sim.key, protocol_id(sim.session_id), &cfg, sim.now);
        links.dial(victim, at);
        Impostor {
            links,
            victim,
            hellos: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.links.local_addr()
    }
}

/// One step of the simulation with the impostors on the wire; each hands on at once what
/// its partner received from the member it dials. Returns how many hellos it handed on.
fn step(sim: &mut Sim, imps: &mut [Impostor; 2]) -> usize {
    sim.step();
    let now = sim.now;
    for mut dg in std::mem::take(&mut sim.strays) {
        if let Some(imp) = imps.iter_mut().find(|i| i.addr() == dg.to) {
            imp.links.handle_datagram(dg.from, &mut dg.bytes);
        }
    }
    for imp in imps.iter_mut() {
        imp.links.update(now);
        let victim = imp.victim;
        while let Some(ev) = imp.links.poll_event() {
            if ev == LinkEvent::Connected(LinkKey::Peer(victim)) {
                // A payload confirms the link to the accepting side, which may then speak;
                // a raw datagram before a hello is dropped unread.
                imp.links.skip_greeting(victim);
                imp.links.send_datagram(victim, &[1]);
            }
        }
        while let Some(bytes) = imp.links.receive(victim, Channel::ReliableOrdered) {
            if matches!(Message::decode(&bytes), Ok(Message::Hello { .. })) {
                imp.hellos.push(bytes);
            }
        }
    }
    let mut handed = 0;
    for (from, to) in [(0, 1), (1, 0)] {
        let relayed = std::mem::take(&mut imps[from].hellos);
        for hello in relayed {
            handed += 1;
            let victim = imps[to].victim;
            imps[to].links.send_before_greeting(victim, hello);
            // What the splice was for: speaking as the other victim.
            let leave = Message::Leave.encode().unwrap();
            imps[to].links.send(victim, Channel::ReliableOrdered, leave, true);
        }
    }
    let mut out = Vec::new();
    for imp in imps.iter_mut() {
        imp.links.flush(true);
        imp.links.drain_transmits(&mut out);
    }
    for t in out {
        sim.net.send(now, t.from, t.to, t.bytes);
    }
    handed
}

#[test]
fn a_member_cannot_splice_a_link_between_two_others() {
    let mut sim = Sim::new(SimConfig {
        peers: 4,
        seed: 31,
        ..SimConfig::default()
    });
    sim.run_for_secs(3.0);
    assert_eq!(sim.live_indices().len(), 4);
    let host = sim.consensus_host().expect("a host");
    let ids: Vec<PeerId> = (0..4).map(|i| sim.session(i).unwrap().peer_id()).collect();
    let members: Vec<usize> = (0..4).filter(|i| ids[*i] != host).collect();
    let (x, y) = (members[0], members[1]);
    let (x_addr, y_addr) = (sim.nodes[x].addr, sim.nodes[y].addr);
    // X and Y cannot reach each other (as behind two strict NATs): they talk through a
    // relay, and neither holds a netcode connection of the other that would refuse the
    // impostors' dials.
    sim.cut(x, y);
    sim.run_for_secs(8.0);
    assert_ne!(
        sim.session(x).unwrap().link(ids[y]),
        crate::Link::Direct(crate::DirectPath::Lan),
        "relayed"
    );
    let events_before = sim.metrics.events.len();
    let mut imps = [
        Impostor::dialing(&mut sim, ids[y], ids[x], x_addr),
        Impostor::dialing(&mut sim, ids[x], ids[y], y_addr),
    ];
    let mut spliced = 0;
    let mut linked = [false; 2];
    let until = sim.now + std::time::Duration::from_secs(12);
    while sim.now < until {
        spliced += step(&mut sim, &mut imps);
        for (n, imp) in imps.iter().enumerate() {
            linked[n] |= imp.links.is_linked(imp.victim);
        }
    }
    assert_eq!(linked, [true; 2], "both impostors got a netcode connection");
    assert_eq!(spliced, 0, "a victim greeted a dialer that proved nothing");
    // Unconfirmed (the impostor never gets to say anything) and unproven, each closed.
    for imp in &imps {
        assert!(
            !imp.links.is_linked(imp.victim),
            "the victim closed the impostor's link"
        );
    }
    let since: Vec<_> = sim.metrics.events[events_before..]
        .iter()
        .filter(|(_, _, e)| {
            matches!(
                e,
                SessionEvent::PeerLeft { .. } | SessionEvent::PeerMisbehaved { .. } | SessionEvent::HostChanged { .. }
            )
        })
        .collect();
    assert!(since.is_empty(), "nobody left, was blamed or took over: {since:?}");
    assert_eq!(sim.consensus_host(), Some(host));
    assert!(sim.roster_agree());
    for i in 0..4 {
        let roster = sim.session(i).unwrap().roster();
        assert!(
            [x, y]
                .iter()
                .all(|v| roster.get(ids[*v]).is_some_and(|m| m.is_active())),
            "node {i} holds both victims"
        );
    }
}
