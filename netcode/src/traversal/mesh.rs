//! Candidates learned through the session (the mesh as signalling channel, see
//! `session/signalling.rs`), our own NAT's behaviour, and the decisions they feed: when
//! to punch towards a member, which kind a chosen path is, and when punching is hopeless.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Remote, Traversal};
use crate::PeerId;
use crate::protocol::CandidateKind;
use crate::reach::{DirectPath, Reach};
use crate::session::MemberCandidates;
use crate::stun::NatMapping;

/// How long after a member's candidates arrive the punch starts: time for the session's
/// own dial on the member's session address to answer (a LAN, a host whose router maps
/// its port), so that a member reached that way gets no probe at all. Both ends wait the
/// same, so they still punch together.
pub(super) const MESH_GRACE: Duration = Duration::from_millis(200);

/// How many times a punch ([`Traversal::punch_towards`]) is sent again.
pub(super) const PUNCH_REPEATS: u8 = 4;
/// How far apart.
pub(super) const PUNCH_EVERY: Duration = Duration::from_millis(500);
/// Most addresses with punches to repeat (the oldest are dropped).
const MAX_PUNCH_TARGETS: usize = 32;

/// Punches still to be sent again: (address, when next, how many left).
#[derive(Debug, Default)]
pub(super) struct Punches(Vec<(SocketAddr, Duration, u8)>);

impl Punches {
    fn schedule(&mut self, addrs: &[SocketAddr], now: Duration) {
        for a in addrs {
            self.0.retain(|(b, ..)| b != a);
            if self.0.len() == MAX_PUNCH_TARGETS {
                self.0.remove(0);
            }
            self.0.push((*a, now + PUNCH_EVERY, PUNCH_REPEATS));
        }
    }

    fn due(&mut self, now: Duration) -> Vec<SocketAddr> {
        let mut due = Vec::new();
        for (a, next, left) in &mut self.0 {
            if now >= *next && *left > 0 {
                due.push(*a);
                *left -= 1;
                *next = now + PUNCH_EVERY;
            }
        }
        self.0.retain(|(_, _, left)| *left > 0);
        due
    }
}

/// What a member announced through the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Announced {
    /// Its NAT's mapping behaviour.
    pub(super) mapping: NatMapping,
    /// The ports its router maps for it.
    pub(super) mapped: Vec<SocketAddr>,
}

/// Our own NAT's behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct OwnNat {
    mapping: NatMapping,
    mapped: bool,
}

/// Whether no punch between us and a member can work: both NATs map per destination
/// (symmetric) and neither router maps a port. Unknown behaviour is not hopeless.
pub(super) fn hopeless(own: OwnNat, them: Option<&Announced>) -> bool {
    them.is_some_and(|a| {
        own.mapping == NatMapping::EndpointDependent
            && !own.mapped
            && a.mapping == NatMapping::EndpointDependent
            && a.mapped.is_empty()
    })
}

/// Whether a member with no direct path of ours gets no probe now: one learned through the
/// session while the session reaches it on its own (its session address answers) or
/// before [`MESH_GRACE`] is over.
pub(super) fn quiet(r: &Remote, now: Duration) -> bool {
    r.mesh.is_some() && r.service.is_none() && (r.session_direct || now < r.punch_since)
}

/// The kind of a direct path to `path`: a port the member's router maps, else by address.
pub(super) fn path_kind(r: &Remote, path: SocketAddr) -> DirectPath {
    if r.mesh.as_ref().is_some_and(|a| a.mapped.contains(&path)) {
        DirectPath::Mapped
    } else {
        DirectPath::to(path)
    }
}

impl Traversal {
    /// Our NAT's mapping behaviour (from STUN) and whether our router maps our port: with
    /// a member's announced behaviour, whether a punch can work at all.
    pub fn set_nat(&mut self, mapping: NatMapping, mapped: bool) {
        self.nat = OwnNat { mapping, mapped };
    }

    /// How the session reaches each member now (`reach(peer)`): a member it hears directly
    /// on its session address needs no probe, and a member still in the session is not
    /// forgotten though no datagram of its own arrives (a member relays for it).
    pub(crate) fn note_links(&mut self, now: Duration, reach: impl Fn(PeerId) -> Reach) {
        for r in self.remotes.values_mut() {
            let state = reach(r.peer);
            r.session_direct = state == Reach::Own;
            if state != Reach::Down {
                r.seen = now;
            }
        }
    }

    /// Sends an empty datagram to each of `addrs` (a joiner's candidates, from its knock
    /// on the DHT): our router then lets in what the joiner sends from there (it dials us
    /// already). Not a probe: a probe would make the joiner's traversal take our public
    /// address for a path to our session address and hand our answers to its session
    /// under that address, which its dial to our public address does not expect. The
    /// receiver drops it ([`Traversal::receive`]).
    ///
    /// Sent at once and [`PUNCH_REPEATS`] times more, [`PUNCH_EVERY`] apart: one empty
    /// datagram lost (or a router slow to take its mapping) would otherwise cost the join
    /// a whole knock round.
    pub(crate) fn punch_towards(&mut self, addrs: &[SocketAddr], now: Duration) {
        for a in addrs {
            self.out.push((*a, Vec::new()));
        }
        self.punches.schedule(addrs, now);
    }

    /// The repeats of [`Traversal::punch_towards`] that are due.
    pub(super) fn repeat_punches(&mut self, now: Duration) {
        for a in self.punches.due(now) {
            self.out.push((a, Vec::new()));
        }
    }

    /// Learns the candidates a member announced through the session (its own: the
    /// session checked that) and starts punching towards them, after [`MESH_GRACE`],
    /// unless a direct path is known already.
    pub fn learn_member(&mut self, m: &MemberCandidates, now: Duration) {
        if m.peer == self.me || Some(m.addr) == self.addr {
            return;
        }
        let ipv4 = self.addr.is_none_or(|a| a.is_ipv4());
        let Some(r) = self.remote(m.addr, m.peer, now) else {
            return;
        };
        for c in m.candidates.addrs.iter().filter(|c| c.addr.is_ipv4() == ipv4) {
            r.add_candidate(c.addr);
        }
        let mapped = m
            .candidates
            .addrs
            .iter()
            .filter(|c| c.kind == CandidateKind::Mapped)
            .map(|c| c.addr)
            .collect();
        r.mesh = Some(Announced {
            mapping: m.candidates.mapping,
            mapped,
        });
        r.seen = now;
        if r.direct.is_none() {
            r.punch_since = now + MESH_GRACE;
            r.next_probe = r.punch_since;
        }
        log::debug!(
            "{} {} announced {:?} through the session",
            self.tag,
            m.peer,
            m.candidates
        );
    }
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
