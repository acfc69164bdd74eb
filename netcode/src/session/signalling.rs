//! The session as the signalling channel of NAT traversal: each member announces its own
//! candidate addresses and NAT mapping behaviour ([`Candidates`]) to every other member,
//! through the mesh (directly, or in a forward it signs when a member relays), again to
//! each newcomer or rejoiner, and again to everyone when they change (a STUN answer or a
//! port mapping that came late). What arrives is taken only as its sender's own: from
//! the sender's proven link, or a forward the sender signed, so a relaying member cannot
//! plant another's candidates. The driver hands our candidates in
//! ([`Session::set_candidates`]) and takes the members' out ([`Session::take_candidates`])
//! for its traversal, which punches at once: the newcomer and the members it is announced
//! to punch towards each other within a round trip through the mesh.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::Session;
use crate::PeerId;
use crate::link::Channel;
use crate::protocol::{CandidateKind, Candidates, Message};

/// Announcements from members kept until the driver takes them (the oldest go first).
const MAX_HEARD: usize = 64;

/// A member's announced candidates, as [`Session::take_candidates`] hands them over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCandidates {
    /// The member that announced them (its own, see the module docs).
    pub peer: PeerId,
    /// Its session address (what the session dials it at).
    pub addr: SocketAddr,
    /// What it announced.
    pub candidates: Candidates,
}

/// Our candidates, whom we told them, and what members told us.
#[derive(Debug, Default)]
pub(super) struct Signalling {
    own: Option<Candidates>,
    /// Members told our current candidates, with the incarnation of theirs we told.
    told: BTreeMap<PeerId, u32>,
    heard: VecDeque<MemberCandidates>,
    /// Each member's latest announcement (its mapped ports make a direct link to one of
    /// them read `mapped`; the DHT record lists them).
    announced: BTreeMap<PeerId, Candidates>,
}

impl Signalling {
    /// Whether `addr` is a port `peer`'s router maps for it (as it announced).
    pub(super) fn is_mapped(&self, peer: PeerId, addr: SocketAddr) -> bool {
        self.announced.get(&peer).is_some_and(|c| {
            c.addrs
                .iter()
                .any(|a| a.addr == addr && a.kind == CandidateKind::Mapped)
        })
    }
}

impl Session {
    /// What `peer` last announced of its candidates, if it did (our own for our id).
    pub(crate) fn announced(&self, peer: PeerId) -> Option<&Candidates> {
        if peer == self.me {
            return self.signalling.own.as_ref();
        }
        self.signalling.announced.get(&peer)
    }

    /// Sets our own candidates (interface addresses, the reflexive address a STUN server
    /// saw, the port the router maps) and NAT mapping behaviour: announced to every member
    /// when they change (none is sent while they are empty).
    pub fn set_candidates(&mut self, candidates: Candidates) {
        if self.signalling.own.as_ref() == Some(&candidates) {
            return;
        }
        if candidates.validate().is_err() {
            log::warn!(
                "{} our own candidates break the protocol's bounds: not announced",
                self.tag
            );
            return;
        }
        log::debug!("{} our candidates now {:?}", self.tag, candidates);
        self.signalling.own = Some(candidates);
        self.signalling.told.clear();
    }

    /// The members' announcements that arrived since the last call, oldest first.
    pub fn take_candidates(&mut self) -> Vec<MemberCandidates> {
        self.signalling.heard.drain(..).collect()
    }

    /// Tells our candidates to each active member not told them yet (in its current
    /// incarnation): a newcomer, a rejoiner, everyone after a change.
    pub(super) fn announce_candidates(&mut self) {
        let Some(own) = self.signalling.own.clone().filter(|c| !c.addrs.is_empty()) else {
            return;
        };
        let due: Vec<(PeerId, u32)> = self
            .roster
            .active()
            .filter(|m| m.id != self.me && self.signalling.told.get(&m.id) != Some(&m.incarnation))
            .map(|m| (m.id, m.incarnation))
            .collect();
        if due.is_empty() {
            return;
        }
        let active: Vec<PeerId> = self.roster.active().map(|m| m.id).collect();
        self.signalling.told.retain(|p, _| active.contains(p));
        let msg = Message::Candidates(own);
        for (peer, incarnation) in due {
            log::debug!("{} announces its candidates to {peer}", self.tag);
            self.send_to(peer, Channel::ReliableOrdered, &msg);
            self.signalling.told.insert(peer, incarnation);
        }
    }

    /// `origin` announced its candidates (`origin` is proven: its own link, or its
    /// signature on a forward).
    pub(super) fn on_candidates(&mut self, origin: PeerId, candidates: Candidates) {
        let Some(addr) = self
            .roster
            .get(origin)
            .filter(|m| m.is_active() && m.id != self.me)
            .map(|m| m.addr)
        else {
            log::debug!("{} candidates from {origin}, not an active member", self.tag);
            return;
        };
        let roster = &self.roster;
        self.signalling
            .announced
            .retain(|p, _| roster.get(*p).is_some_and(|m| m.is_active()));
        let before = self.link(origin);
        let first = self.signalling.announced.insert(origin, candidates.clone()).is_none();
        if first && self.signalling.told.remove(&origin).is_some() {
            // We announced ours to it before it announced its own: when it was still being
            // admitted, a relay may have had no link to it yet and dropped ours. Once more,
            // now that it speaks (once per member: it has ours, or hears them now).
            log::debug!("{}: {origin} announced first; ours go to it again", self.me);
        }
        self.link_may_have_changed(origin, before);
        let heard = &mut self.signalling.heard;
        heard.retain(|h| h.peer != origin);
        if heard.len() >= MAX_HEARD {
            heard.pop_front();
        }
        heard.push_back(MemberCandidates {
            peer: origin,
            addr,
            candidates,
        });
    }
}

#[cfg(test)]
#[path = "signalling_tests.rs"]
mod tests;
