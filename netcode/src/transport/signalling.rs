//! The driver's half of signalling through the session: our candidates into the session
//! (announced to the members), the members' out of it into the traversal, and how the
//! session reaches each member into the traversal (see `session/signalling.rs` and
//! `traversal/mesh.rs`).

use std::net::SocketAddr;
use std::time::Duration;

use super::UdpTransport;
use crate::portmap::PortMapper;
use crate::protocol::{Candidate, CandidateKind, Candidates, MAX_ANNOUNCED};
use crate::session::Session;
use crate::stun::{NatMapping, StunClient};

/// One step of the exchange, each poll after the session's update and before the
/// traversal's. Our candidates are announced only once the internet told us something of
/// ourselves (a reflexive address or a mapped port: online play, `--stun`,
/// `--port-mapping`): on a LAN the session addresses are all there is, and nothing is
/// sent.
pub(super) fn exchange(transport: &mut UdpTransport, session: &mut Session, now: Duration) {
    let own = own_candidates(transport);
    let mapped = transport.portmap().and_then(PortMapper::mapping).is_some();
    let mapping = transport.stun().map_or(NatMapping::Unknown, StunClient::mapping);
    let Some(t) = transport.traversal_mut() else { return };
    t.set_nat(mapping, mapped);
    if let Some(own) = own {
        session.set_candidates(own);
    }
    for m in session.take_candidates() {
        t.learn_member(&m, now);
    }
    t.note_links(now, |p| session.reach(p));
}

/// Our candidates (the mapped port, the reflexive address, the interface addresses) and
/// NAT mapping behaviour, once the internet told us something of ourselves (a reflexive
/// address or a mapped port); `None` before (on a LAN the session addresses are all
/// there is).
pub(super) fn own_candidates(transport: &UdpTransport) -> Option<Candidates> {
    let mapped = transport.portmap().and_then(PortMapper::mapping).map(|m| m.external);
    let reflexive = transport.stun().and_then(StunClient::reflexive);
    if mapped.is_none() && reflexive.is_none() {
        return None;
    }
    let mapping = transport.stun().map_or(NatMapping::Unknown, StunClient::mapping);
    let mut addrs: Vec<Candidate> = Vec::new();
    let mut add = |addr: SocketAddr, kind| {
        if addrs.len() < MAX_ANNOUNCED && !addrs.iter().any(|c| c.addr == addr) {
            addrs.push(Candidate { addr, kind });
        }
    };
    if let Some(a) = mapped {
        add(a, CandidateKind::Mapped);
    }
    if let Some(a) = reflexive {
        add(a, CandidateKind::Reflexive);
    }
    for a in transport.traversal().map_or(&[][..], |t| t.candidates()) {
        if !a.ip().is_unspecified() && a.port() != 0 {
            add(*a, CandidateKind::Local);
        }
    }
    Some(Candidates { addrs, mapping })
}
