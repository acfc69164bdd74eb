//! Admitting newcomers: as their contact (checking the seat proof, asking the host,
//! answering) and as the host (the admission itself, syncing newcomers).

use super::{Pending, Request, millis};
use crate::PeerId;
use crate::link::Channel;
use crate::protocol::{Message, Refusal};
use crate::roster::{Member, MemberStatus, Roster};
use crate::session::Session;
use crate::session::authority::Verdict;
use crate::store::{Scope, Store};

impl Session {
    /// A newcomer or a rejoiner on link `link` asks us, its contact, to be admitted. We check
    /// its seat proof and the seals of the store it brings before passing it to the host.
    pub(in crate::session) fn on_join(&mut self, link: PeerId, mut request: Request) {
        if !self.in_session() {
            return;
        }
        if let Err(reason) = self.check_proof(link, &request) {
            if reason == Refusal::WrongSecret {
                // Counted, but not reported as the seat's misbehaviour: whoever sent it
                // did not prove it holds the seat it names.
                log::debug!("{} refuses a request for seat {link}: {reason}", self.tag);
                self.counters.rejected_messages += 1;
            }
            return self.refuse(link, reason);
        }
        let forged = request
            .store
            .iter()
            .any(|(scope, key, entry)| matches!(self.judge_entry(*scope, key, entry), Verdict::Forged(_)));
        if forged {
            self.counters.rejected_messages += 1;
            self.authority.refused_entries += 1;
            return self.refuse(link, Refusal::Malformed);
        }
        // The requester proved its seat: our hello (naming it) may go out now.
        self.greet(link);
        // No seat (never admitted, or released): the request makes a fresh member.
        request.rejoin &= self.roster.get(link).is_some();
        let rejoin = request.rejoin;
        let pending = Pending {
            request,
            since: self.now,
            asked: None,
        };
        self.pending.insert(link, pending);
        // The roster announcing the new incarnation may reach us (pushed by any member)
        // before the host's answer: our link to the newcomer must not look stale then.
        self.trust_link(link, rejoin);
        self.contact_duties();
    }

    /// Whether `request` proves seat `peer`: its key owns the id (and is the seat's key if
    /// the roster holds one), the proof is signed with it, dated within
    /// `seat_proof_window` of our clock, and not older than the seat's last admission.
    pub(in crate::session) fn check_proof(&self, peer: PeerId, request: &Request) -> Result<(), Refusal> {
        let proof = &request.proof;
        if proof.peer != peer {
            return Err(Refusal::Malformed);
        }
        let seat = self.roster.get(peer);
        if seat.is_some_and(|m| m.key != request.key) || !proof.verify(&request.key, self.authority.session_id) {
            return Err(Refusal::WrongSecret);
        }
        let now = millis(self.now);
        let window = millis(self.cfg.seat_proof_window);
        if proof.at_ms.abs_diff(now) > window || seat.is_some_and(|m| proof.at_ms < m.proof_ms) {
            return Err(Refusal::StaleProof);
        }
        Ok(())
    }

    /// Refuses a join or rejoin request on `link`: ahead of our hello, which a requester
    /// that did not prove its seat never gets.
    pub(in crate::session) fn refuse(&mut self, link: PeerId, reason: Refusal) {
        let sent = Message::Refused { reason }
            .encode()
            .is_ok_and(|bytes| self.links.send_before_greeting(link, bytes));
        if !sent {
            self.counters.unsent_messages += 1;
        }
    }

    /// Forwards pending admissions to the host (again, after a host change).
    pub(in crate::session) fn contact_duties(&mut self) {
        let host = self.roster.host;
        let ids: Vec<PeerId> = self.pending.keys().copied().collect();
        for peer in ids {
            let p = self.pending[&peer].clone();
            if self.now > p.since + self.cfg.contact_timeout || !self.links.is_linked(peer) {
                self.pending.remove(&peer);
                continue;
            }
            if host == self.me {
                self.pending.remove(&peer);
                self.trust_link(peer, p.request.rejoin);
                let result = self.admit(peer, p.request);
                self.answer_newcomer(peer, result);
                if result.is_ok() {
                    self.broadcast_roster();
                }
            } else if p.asked != Some(host) && !self.is_down(host) {
                let Request {
                    name,
                    key,
                    proof,
                    rejoin,
                    store,
                } = p.request;
                let msg = Message::Admit {
                    name,
                    key,
                    proof,
                    rejoin,
                    store,
                };
                self.links.make_redundant(host);
                self.send_to(host, Channel::ReliableOrdered, &msg);
                if let Some(entry) = self.pending.get_mut(&peer) {
                    entry.asked = Some(host);
                }
            }
        }
    }

    /// Marks our link to an admitted newcomer as belonging to its coming incarnation.
    pub(in crate::session) fn trust_link(&mut self, peer: PeerId, rejoin: bool) {
        let next = self.next_incarnation(peer, rejoin);
        if let Some(st) = self.peers.get_mut(&peer) {
            st.link_incarnation = Some(next);
        }
    }

    /// The incarnation `peer` gets when admitted now: the next one for a rejoin, the same
    /// for a retried join, and for a new member one past any we saw (its seat expired).
    pub(in crate::session) fn next_incarnation(&self, peer: PeerId, rejoin: bool) -> u32 {
        match self.roster.get(peer) {
            Some(m) => m.incarnation + u32::from(rejoin),
            None => self.newest.get(&peer).map_or(0, |n| n.incarnation + 1),
        }
    }

    pub(in crate::session) fn answer_newcomer(&mut self, peer: PeerId, result: Result<(), Refusal>) {
        match result {
            Ok(()) => {
                if let Some(st) = self.peers.get_mut(&peer) {
                    st.link_incarnation = self.roster.get(peer).map(|m| m.incarnation);
                    st.down_since = None;
                }
                self.send_welcome(peer);
            }
            Err(reason) => self.refuse(peer, reason),
        }
    }

    /// The host's side of admission; `from` handed us the request (the newcomer itself
    /// when we are its contact).
    pub(in crate::session) fn admit(&mut self, from: PeerId, request: Request) -> Result<(), Refusal> {
        let peer = request.proof.peer;
        if self.banned.contains_key(&peer) {
            return Err(Refusal::Expelled);
        }
        self.check_proof(peer, &request)?;
        let Request {
            name,
            key,
            proof,
            rejoin,
            store,
        } = request;
        let addr = proof.addr;
        let join_seq = self.roster.next_join_seq;
        let member = match (self.roster.get(peer).cloned(), rejoin) {
            (None, true) => return Err(Refusal::NoSeat),
            // The same proof again (a contact asking a new host, a replay): admitted already.
            (Some(m), true) if proof.at_ms == m.proof_ms => {
                return if m.is_active() && m.addr == addr {
                    Ok(())
                } else {
                    Err(Refusal::StaleProof)
                };
            }
            (Some(m), true) => Member {
                name,
                addr,
                join_seq,
                incarnation: m.incarnation + 1,
                status: MemberStatus::Active,
                proof_ms: proof.at_ms,
                ..m
            },
            (Some(m), false) if m.key == key && m.is_active() => return Ok(()), // a retried join
            (Some(_), false) => return Err(Refusal::IdTaken),
            (None, false) if self.roster.active().count() >= self.cfg.max_peers => return Err(Refusal::Full),
            // A member whose seat expired comes back as a new member, but as a later
            // incarnation than any we saw: links and replicas of the old one are stale.
            (None, false) => Member {
                id: peer,
                name,
                addr,
                join_seq,
                incarnation: self.next_incarnation(peer, false),
                status: MemberStatus::Active,
                key,
                proof_ms: proof.at_ms,
            },
        };
        let old = self.roster.clone();
        self.roster.next_join_seq += 1;
        self.roster.upsert(member);
        self.roster.version += 1;
        // A host that named itself while cut off is backed once the members come back.
        self.roster.backed |= self.roster.majority_active();
        if let Some(st) = self.peers.get_mut(&peer) {
            st.down_since = None;
            st.left = false;
            st.since = self.now;
        }
        self.emit_roster_diff(&old);
        self.accept_store(from, store);
        // The caller answers the contact first, then announces the roster, so that the
        // contact knows its link to the newcomer is not a stale one.
        Ok(())
    }

    /// The host's answer to a contact's [`Message::Admit`].
    pub(in crate::session) fn on_admit(&mut self, contact: PeerId, request: Request) {
        if !self.is_host() {
            return; // The contact asks the new host once it knows it.
        }
        let peer = request.proof.peer;
        // An honest contact checked the proof's signature (its date it may judge with
        // another clock): a signature that does not hold was forged on the way.
        let owner = self.roster.get(peer).map_or(request.key, |m| m.key);
        if !request.proof.verify(&owner, self.authority.session_id) {
            return self.misbehaved(contact, crate::session::Misbehaviour::ForgedSeatProof { peer });
        }
        let result = self.admit(contact, request);
        // One piece, the newcomer's own entries first: the contact welcomes it with its
        // own replica, and we sync the newcomer once it is in (`sync_newcomers`).
        let store = self.store.pieces(Some(Scope::Peer(peer))).swap_remove(0);
        let msg = Message::Admitted {
            peer,
            result,
            roster: self.signed_roster(),
            store,
        };
        self.links.make_redundant(contact);
        self.send_to(contact, Channel::ReliableOrdered, &msg);
        if result.is_ok() {
            self.broadcast_roster();
        }
    }

    pub(in crate::session) fn on_admitted(
        &mut self,
        from: PeerId,
        peer: PeerId,
        result: Result<(), Refusal>,
        roster: Roster,
        store: Store,
    ) {
        if from != self.roster.host {
            // Only the host admits. (An answer of a former host: the request went to the
            // new host again when the host changed.)
            log::debug!("{} ignores an admission answer from {from}, not the host", self.tag);
            return;
        }
        let pending = self.pending.get(&peer).map(|p| p.request.rejoin);
        if let (Some(rejoin), Ok(())) = (pending, result) {
            // Our link to the newcomer is its new incarnation, not a stale one.
            self.trust_link(peer, rejoin);
            if let (Some(st), Some(m)) = (self.peers.get_mut(&peer), roster.get(peer)) {
                st.link_incarnation = Some(m.incarnation);
            }
        }
        self.offer_roster(from, roster);
        self.accept_store(from, store);
        if self.pending.remove(&peer).is_some() {
            self.answer_newcomer(peer, result);
        }
    }

    /// Sends our whole store once to every member that heard us in a new incarnation:
    /// updates that reached it before its welcome were not applied (a joiner ignores session
    /// traffic until then), and an entry that did not change again would have stayed stale.
    pub(in crate::session) fn sync_newcomers(&mut self) {
        let targets: Vec<(PeerId, u32)> = self
            .roster
            .active()
            .filter(|m| m.id != self.me)
            .filter_map(|m| {
                let st = self.peers.get(&m.id)?;
                let welcomed = st.last_heartbeat.is_some_and(|t| t >= st.since);
                (welcomed && st.store_synced != Some(m.incarnation)).then_some((m.id, m.incarnation))
            })
            .collect();
        for (peer, incarnation) in targets {
            if let Some(st) = self.peers.get_mut(&peer) {
                st.store_synced = Some(incarnation);
            }
            self.send_store(peer);
        }
    }
}
