//! Membership: the roster and who may change it. Joining ([`joining`]), admitting
//! ([`admitting`]) and the host role ([`election`]) each have their file; this one keeps
//! the requests they pass along and the roster's spread between members.

mod admitting;
mod diff;
mod election;
mod joining;
mod vouching;

use std::time::Duration;

use super::{LeaveReason, Misbehaviour, PeerState, Session, SessionEvent};
use crate::PeerId;
use crate::identity::{PublicKey, SeatProof};
use crate::link::Channel;
use crate::link::LinkKey;
use crate::protocol::Message;
use crate::roster::{Member, MemberStatus, Roster, RosterDigest};
use crate::store::Store;

/// A join or rejoin request as it travels from the newcomer through its contact to the host.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) name: String,
    pub(crate) key: PublicKey,
    pub(crate) proof: SeatProof,
    pub(crate) rejoin: bool,
    pub(crate) store: Store,
}

/// A newcomer waiting, at its contact, for the host's admission.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    request: Request,
    since: Duration,
    asked: Option<PeerId>,
}

/// Milliseconds on the session clock, as seat proofs are dated.
fn millis(t: Duration) -> u64 {
    u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
}

impl Session {
    /// Sends our roster to a peer that holds a worse one (rate-limited).
    pub(in crate::session) fn push_roster(&mut self, peer: PeerId) {
        let now = self.now;
        let interval = self.cfg.roster_push_interval;
        let st = self
            .peers
            .entry(peer)
            .or_insert_with(|| crate::session::PeerState::new(now));
        if st.last_push.is_some_and(|t| now < t + interval) {
            return;
        }
        st.last_push = Some(now);
        let msg = Message::Roster(self.signed_roster());
        self.send_to(peer, Channel::ReliableOrdered, &msg);
    }

    pub(in crate::session) fn broadcast_roster(&mut self) {
        let msg = Message::Roster(self.signed_roster());
        let targets: Vec<PeerId> = self
            .roster
            .members
            .iter()
            .map(|m| m.id)
            .chain(self.links.linked().filter_map(LinkKey::peer))
            .filter(|p| *p != self.me)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for p in targets {
            self.send_to(p, Channel::ReliableOrdered, &msg);
        }
    }

    /// Considers a roster another peer holds: a better claim is adopted, a worse one
    /// (stale epoch) is ignored and answered with ours.
    pub(in crate::session) fn offer_roster(&mut self, from: PeerId, roster: Roster) {
        if !self.in_session() {
            return;
        }
        let theirs = roster.digest();
        if self.implausible_epoch(theirs.epoch) {
            let reason = Misbehaviour::ImplausibleEpoch {
                claimed: theirs.epoch,
                ours: self.roster.epoch,
            };
            return self.misbehaved(from, reason);
        }
        self.max_epoch_seen = self.max_epoch_seen.max(theirs.epoch);
        let mine = self.roster.digest();
        if roster == self.roster && roster.signed_by(&self.host_key(), self.authority.session_id) {
            // The same roster under its own host's signature (ours came from a handover,
            // signed by the host before): keep that signature, which anyone can check.
            self.roster.signature = roster.signature;
            return;
        }
        if !self.claim_beats(&theirs, &mine, from) {
            if theirs.epoch < mine.epoch {
                self.counters.stale_claims += 1;
            }
            if self.claim_beats(&mine, &theirs, from) {
                self.push_roster(from);
            }
            return;
        }
        // We would adopt it: its host must vouch for it.
        match self.vouch(&roster) {
            vouching::Vouch::Signed => {}
            vouching::Vouch::Unknown => {
                self.counters.refused_rosters += 1;
                return;
            }
            vouching::Vouch::Forged(why) => return self.misbehaved(from, Misbehaviour::ForgedRoster(why)),
        }
        let old = std::mem::replace(&mut self.roster, roster);
        self.emit_roster_diff(&old);
        if self.roster.host == self.me && old.host != self.me {
            // Handed the role: the others get the roster under our own signature (those
            // that do not follow our predecessor cannot check its).
            self.broadcast_roster();
        }
        // Our former part of a split session follows us into the winner's roster.
        let strangers: Vec<PeerId> = old
            .members
            .iter()
            .map(|m| m.id)
            .filter(|p| *p != from && self.roster.get(*p).is_none() && self.links.is_linked(*p))
            .collect();
        for p in strangers {
            self.push_roster(p);
        }
        match self.roster.get(self.me).map(|m| m.status) {
            Some(MemberStatus::Active) => {}
            Some(MemberStatus::Away { .. }) => self.ask_back(from, true),
            None => self.ask_back(from, false),
        }
        if self.roster.host != old.host && self.roster.host != self.me {
            // Make sure the new host has everything we replicated.
            let host = self.roster.host;
            self.send_store(host);
        }
        if self.is_down(self.roster.host) {
            self.elect();
        }
    }

    /// Whether claim `a` beats claim `b`, as we see the two hosts and as `via` (the member
    /// that holds the other claim) tells us. [`RosterDigest::cmp_claim`] decides, except
    /// between two hosts of which we hold exactly one for gone ([`Session::holds_gone`]):
    /// - the live host's claim wins if its term is the same or later (a successor after a
    ///   crash, even unbacked: the session's backed term has no host left);
    /// - the gone host's claim never wins back a term at least as late as its own. A member
    ///   that has not yet noticed the host is gone still holds the old, backed roster and
    ///   pushes it; adopting it would bring back a host nobody hears, whose seats would
    ///   settle anew for `contact_timeout` before the election ran again: in a split, the
    ///   side without the host went back and forth between the old host and a new one every
    ///   few seconds.
    pub(in crate::session) fn claim_beats(&self, a: &RosterDigest, b: &RosterDigest, via: PeerId) -> bool {
        if a.host != b.host {
            match (self.holds_gone(a.host, via), self.holds_gone(b.host, via)) {
                (false, true) if a.epoch >= b.epoch => return true,
                (true, false) if a.epoch <= b.epoch => return false,
                _ => {}
            }
        }
        a.cmp_claim(b).is_gt()
    }

    /// Whether a claimed epoch jumps further past every epoch we saw than elections could
    /// have taken it (see [`crate::SessionConfig::max_epoch_leap`]). Only a member knows the
    /// session's epoch; a joiner takes its contact's word.
    pub(in crate::session) fn implausible_epoch(&self, epoch: u64) -> bool {
        let seen = self.max_epoch_seen.max(self.roster.epoch);
        self.in_session() && epoch > seen.saturating_add(self.cfg.max_epoch_leap)
    }

    /// Events for what changed between `old` and the current roster ([`diff`]); drops
    /// links to members that rejoined as a new incarnation.
    pub(in crate::session) fn emit_roster_diff(&mut self, old: &Roster) {
        self.timers.roster_changed = self.now;
        // Remember the latest admission (and address) of every member we ever saw: a
        // member that rejoined while a partition kept the winning side from hearing of it
        // is still listed under its old address there, and must be dialed at the new one.
        let listed: Vec<Member> = old.members.iter().chain(&self.roster.members).cloned().collect();
        for m in &listed {
            self.remember(m);
        }
        let d = diff::diff(old, &self.roster, self.me);
        self.events.extend(d.events.iter().cloned());
        // A member that went away: its old link belongs to an incarnation the session gave
        // up on; a fresh link (redial, rejoin) must replace it, or netcode would keep the
        // stale slot alive and ignore the new connection.
        let mut gone = d.away.clone();
        let stale = self.renew_peers(&d);
        gone.extend(self.report_removed(&d));
        for peer in gone {
            self.drop_backlog(peer);
            if self.links.is_linked_or_dialing(peer) {
                self.links.disconnect(peer);
            }
            if let Some(st) = self.peers.get_mut(&peer) {
                st.down_since.get_or_insert(self.now);
                st.last_direct = None;
            }
        }
        for peer in stale {
            self.links.disconnect(peer);
            if let Some(st) = self.peers.get_mut(&peer) {
                st.link_incarnation = None;
                st.last_direct = None;
            }
        }
        self.events.extend(d.host_changed);
        self.on_term_change(old);
    }

    /// Every listed member gets a liveness state; renewed ones start afresh. Returns the
    /// active members whose link is of an older incarnation.
    fn renew_peers(&mut self, d: &diff::RosterDiff) -> Vec<PeerId> {
        let now = self.now;
        let mut stale = Vec::new();
        for m in self.roster.members.iter().filter(|m| m.id != self.me) {
            let st = self.peers.entry(m.id).or_insert_with(|| PeerState::new(now));
            if m.is_active() && st.link_incarnation.is_some_and(|i| i < m.incarnation) {
                stale.push(m.id);
            }
            if d.renewed.contains(&m.id) {
                st.since = now;
                st.down_since = None;
                st.left = false;
                st.last_dial = None;
                st.last_any = None;
                st.last_direct = None;
                // A heartbeat of the same tick predates the new incarnation: settle anew.
                st.last_heartbeat = None;
            }
        }
        stale
    }

    /// Reports the members the roster dropped; returns those whose links go.
    fn report_removed(&mut self, d: &diff::RosterDiff) -> Vec<PeerId> {
        let mut gone = Vec::new();
        for &(peer, was_active) in &d.removed {
            // The same host's next roster: a member it dropped while active either said
            // goodbye (to the host, if not to us: we may have had no link to it yet) or was
            // expelled, and then the roster lists it among the expelled. A roster of another
            // term (a migration, or the winner of a merge) may just not know a member that
            // the losing side held; that one rejoins, and must not find itself refused.
            let left = self.peers.get(&peer).is_some_and(|st| st.left);
            let expelled = d.same_term && was_active && !left && self.roster.expelled.contains(&peer);
            if expelled {
                // Refuse its links too, so that it cannot come back through us.
                self.banned.insert(peer, self.now + self.cfg.rejoin_grace);
            }
            let reason = if self.banned.contains_key(&peer) {
                LeaveReason::Expelled
            } else if was_active {
                LeaveReason::Graceful
            } else {
                LeaveReason::Expired
            };
            self.events.push_back(SessionEvent::PeerLeft { peer, reason });
            self.replication.forget(peer);
            // A member that another term's roster does not know (we just adopted the
            // winner of a merge) keeps its link: through it we tell it of that roster,
            // and it rejoins.
            if d.same_term || left || self.banned.contains_key(&peer) {
                gone.push(peer);
            }
        }
        gone
    }
}
