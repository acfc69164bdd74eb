//! Membership: join, rejoin, admission, roster authority, election by rule, handover.

use std::time::Duration;

use super::authority::Verdict;
use super::{CONTACT, LeaveReason, Phase, Session, SessionEvent};
use crate::PeerId;
use crate::identity::{PublicKey, SeatProof};
use crate::link::Channel;
use crate::protocol::{Message, Refusal};
use crate::roster::{Member, MemberStatus, Roster};
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
    pub(super) fn send_join_request(&mut self, contact: PeerId, rejoin: bool) {
        let auth = &self.authority;
        let proof = SeatProof::sign(&auth.key, auth.session_id, self.me, self.addr, millis(self.now));
        let (name, key) = (self.name.clone(), auth.key.public());
        let msg = if rejoin {
            Message::Rejoin {
                name,
                key,
                proof,
                store: self.store.clone(),
            }
        } else {
            Message::Join { name, key, proof }
        };
        self.links.make_redundant(contact);
        self.send_direct(contact, Channel::ReliableOrdered, &msg);
    }

    /// No answer in time: ask again on a live link (proving our identity with the secret,
    /// in case the first request was admitted), or move on to the next contact.
    pub(super) fn retry_join(&mut self) {
        let Phase::Joining { contacts, next, .. } = self.phase.clone() else {
            return;
        };
        if self.links.is_linked(CONTACT) {
            self.phase = Phase::Joining {
                contacts,
                next,
                started: self.now,
                rejoin: true,
            };
            self.send_join_request(CONTACT, true);
        } else {
            self.next_contact();
        }
    }

    /// Gives up on the current contact and dials the next one.
    pub(super) fn next_contact(&mut self) {
        let Phase::Joining {
            contacts, next, rejoin, ..
        } = self.phase.clone()
        else {
            return;
        };
        self.links.disconnect(CONTACT);
        let addr = contacts[next % contacts.len()];
        self.phase = Phase::Joining {
            contacts,
            next: next + 1,
            started: self.now,
            rejoin,
        };
        self.links.dial(CONTACT, addr);
    }

    /// A newcomer or a rejoiner on link `link` asks us, its contact, to be admitted. We check
    /// its seat proof and the seals of the store it brings before passing it to the host.
    pub(super) fn on_join(&mut self, link: PeerId, mut request: Request) {
        if !self.in_session() {
            return;
        }
        if let Err(reason) = self.check_proof(link, &request) {
            if reason == Refusal::WrongSecret {
                self.counters.rejected_messages += 1;
                self.events.push_back(SessionEvent::PeerMisbehaved {
                    peer: link,
                    reason: "a seat proof that does not hold".into(),
                });
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
    fn check_proof(&self, peer: PeerId, request: &Request) -> Result<(), Refusal> {
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

    fn refuse(&mut self, link: PeerId, reason: Refusal) {
        self.send_direct(link, Channel::ReliableOrdered, &Message::Refused { reason });
    }

    /// Forwards pending admissions to the host (again, after a host change).
    pub(super) fn contact_duties(&mut self) {
        let host = self.roster.host;
        let ids: Vec<PeerId> = self.pending.keys().copied().collect();
        for peer in ids {
            let p = self.pending[&peer].clone();
            if self.now > p.since + self.cfg.join_timeout || !self.links.is_linked(peer) {
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
    fn trust_link(&mut self, peer: PeerId, rejoin: bool) {
        let next = self.next_incarnation(peer, rejoin);
        if let Some(st) = self.peers.get_mut(&peer) {
            st.link_incarnation = Some(next);
        }
    }

    /// The incarnation `peer` gets when admitted now: the next one for a rejoin, the same
    /// for a retried join, and for a new member one past any we saw (its seat expired).
    fn next_incarnation(&self, peer: PeerId, rejoin: bool) -> u32 {
        match self.roster.get(peer) {
            Some(m) => m.incarnation + u32::from(rejoin),
            None => self.newest.get(&peer).map_or(0, |n| n.incarnation + 1),
        }
    }

    fn answer_newcomer(&mut self, peer: PeerId, result: Result<(), Refusal>) {
        match result {
            Ok(()) => {
                if let Some(st) = self.peers.get_mut(&peer) {
                    st.link_incarnation = self.roster.get(peer).map(|m| m.incarnation);
                    st.down_since = None;
                }
                let msg = Message::Welcome {
                    roster: self.roster.clone(),
                    store: self.store.clone(),
                };
                self.links.make_redundant(peer);
                self.send_direct(peer, Channel::ReliableOrdered, &msg);
            }
            Err(reason) => self.refuse(peer, reason),
        }
    }

    /// The host's side of admission; `from` handed us the request (the newcomer itself
    /// when we are its contact).
    fn admit(&mut self, from: PeerId, request: Request) -> Result<(), Refusal> {
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
    pub(super) fn on_admit(&mut self, contact: PeerId, request: Request) {
        if !self.is_host() {
            return; // The contact asks the new host once it knows it.
        }
        let peer = request.proof.peer;
        // An honest contact checked the proof's signature (its date it may judge with
        // another clock): a signature that does not hold was forged on the way.
        let owner = self.roster.get(peer).map_or(request.key, |m| m.key);
        if !request.proof.verify(&owner, self.authority.session_id) {
            return self.misbehaved(contact, format!("passed on a forged seat proof for {peer}"));
        }
        let result = self.admit(contact, request);
        let msg = Message::Admitted {
            peer,
            result,
            roster: self.roster.clone(),
            store: self.store.clone(),
        };
        self.links.make_redundant(contact);
        self.send_to(contact, Channel::ReliableOrdered, &msg);
        if result.is_ok() {
            self.broadcast_roster();
        }
    }

    pub(super) fn on_admitted(
        &mut self,
        from: PeerId,
        peer: PeerId,
        result: Result<(), Refusal>,
        roster: Roster,
        store: Store,
    ) {
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

    pub(super) fn on_welcome(&mut self, link: PeerId, roster: Roster, store: Store) {
        let Phase::Joining { rejoin, .. } = self.phase else {
            return;
        };
        let Some(me) = roster.get(self.me) else { return };
        if !me.is_active() || me.key != self.authority.key.public() {
            return;
        }
        let sender = if link == CONTACT {
            self.contact_id.unwrap_or(roster.host)
        } else {
            link
        };
        if link == CONTACT {
            let contact = sender;
            self.links.rekey(CONTACT, contact);
            let mut st = self
                .peers
                .remove(&CONTACT)
                .unwrap_or_else(|| super::PeerState::new(self.now));
            st.link_incarnation = roster.get(contact).map(|m| m.incarnation);
            st.last_direct = Some(self.now);
            st.last_any = Some(self.now);
            self.peers.insert(contact, st);
        }
        self.max_epoch_seen = self.max_epoch_seen.max(roster.epoch);
        for m in &roster.members {
            self.remember(m);
        }
        let old = std::mem::replace(&mut self.roster, roster);
        self.phase = Phase::Member;
        self.on_term_change(&old);
        self.events.push_back(SessionEvent::Joined {
            peer: self.me,
            rejoined: rejoin,
        });
        self.accept_store(sender, store);
        let now = self.now;
        for m in self.roster.active() {
            self.peers.entry(m.id).or_insert_with(|| super::PeerState::new(now));
        }
    }

    /// Sends our roster to a peer that holds a worse one (rate-limited).
    pub(super) fn push_roster(&mut self, peer: PeerId) {
        let now = self.now;
        let interval = self.cfg.roster_push_interval;
        let st = self.peers.entry(peer).or_insert_with(|| super::PeerState::new(now));
        if st.last_push.is_some_and(|t| now < t + interval) {
            return;
        }
        st.last_push = Some(now);
        let msg = Message::Roster(self.roster.clone());
        self.send_to(peer, Channel::ReliableOrdered, &msg);
    }

    pub(super) fn broadcast_roster(&mut self) {
        let msg = Message::Roster(self.roster.clone());
        let targets: Vec<PeerId> = self
            .roster
            .members
            .iter()
            .map(|m| m.id)
            .chain(self.links.linked())
            .filter(|p| *p != self.me && *p != CONTACT)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for p in targets {
            self.send_to(p, Channel::ReliableOrdered, &msg);
        }
    }

    /// Considers a roster another peer holds: a better claim is adopted, a worse one
    /// (stale epoch) is ignored and answered with ours.
    pub(super) fn offer_roster(&mut self, from: PeerId, roster: Roster) {
        if !self.in_session() {
            return;
        }
        let theirs = roster.digest();
        if self.implausible_epoch(theirs.epoch) {
            let reason = format!("claimed host epoch {} (ours {})", theirs.epoch, self.roster.epoch);
            return self.misbehaved(from, reason);
        }
        self.max_epoch_seen = self.max_epoch_seen.max(theirs.epoch);
        let mine = self.roster.digest();
        let my_host_dead = self.is_down(mine.host);
        let their_host_dead = self.is_down(theirs.host);
        // A live host's claim of the same or a later term also wins over ours when our host
        // is gone, even if ours looks better (an unbacked successor after a crash of most
        // of the session is still the successor).
        let better = theirs.cmp_claim(&mine).is_gt()
            || (theirs.epoch >= mine.epoch && theirs.host != mine.host && my_host_dead && !their_host_dead);
        if !better {
            if theirs.epoch < mine.epoch {
                self.counters.stale_claims += 1;
            }
            if mine.cmp_claim(&theirs).is_gt() {
                self.push_roster(from);
            }
            return;
        }
        let old = std::mem::replace(&mut self.roster, roster);
        self.emit_roster_diff(&old);
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
            let msg = Message::StoreSync(self.store.clone());
            let host = self.roster.host;
            self.send_to(host, Channel::ReliableUnordered, &msg);
        }
        if self.is_down(self.roster.host) {
            self.elect();
        }
    }

    /// Whether a claimed epoch jumps further past every epoch we saw than elections could
    /// have taken it (see [`crate::SessionConfig::max_epoch_leap`]). Only a member knows the
    /// session's epoch; a joiner takes its contact's word.
    pub(super) fn implausible_epoch(&self, epoch: u64) -> bool {
        let seen = self.max_epoch_seen.max(self.roster.epoch);
        self.in_session() && epoch > seen.saturating_add(self.cfg.max_epoch_leap)
    }

    /// While the roster holds us away (or dropped us), keep asking for the seat back through
    /// the host or any member we are linked to (a request can be lost or refused in the
    /// middle of a merge).
    pub(super) fn keep_seat(&mut self) {
        let me = self.roster.get(self.me).map(|m| m.status);
        if me == Some(MemberStatus::Active) {
            return;
        }
        let host = self.roster.host;
        let via = if self.links.is_linked(host) {
            Some(host)
        } else {
            self.roster
                .active()
                .map(|m| m.id)
                .find(|p| *p != self.me && self.links.is_linked(*p))
        };
        if let Some(via) = via {
            self.ask_back(via, me.is_some());
        }
    }

    /// After a partition merge we may find ourselves away or dropped: take the seat back.
    fn ask_back(&mut self, via: PeerId, rejoin: bool) {
        if self
            .last_rejoin_ask
            .is_some_and(|t| self.now < t + self.cfg.roster_push_interval)
        {
            return;
        }
        self.last_rejoin_ask = Some(self.now);
        self.send_join_request(via, rejoin);
    }

    /// Events for what changed between `old` and the current roster; drops links to
    /// members that rejoined as a new incarnation.
    pub(super) fn emit_roster_diff(&mut self, old: &Roster) {
        self.roster_changed_at = self.now;
        // Remember the latest admission (and address) of every member we ever saw: a
        // member that rejoined while a partition kept the winning side from hearing of it
        // is still listed under its old address there, and must be dialed at the new one.
        let listed: Vec<Member> = old.members.iter().chain(&self.roster.members).cloned().collect();
        for m in &listed {
            self.remember(m);
        }
        let mut stale = Vec::new();
        let mut gone = Vec::new();
        for m in &self.roster.members {
            if m.id == self.me {
                continue;
            }
            let ev = match old.get(m.id) {
                None if m.is_active() => Some(SessionEvent::PeerJoined { peer: m.id }),
                Some(o) if m.incarnation > o.incarnation && m.is_active() => {
                    Some(SessionEvent::PeerRejoined { peer: m.id })
                }
                Some(o) if o.is_active() && !m.is_active() => Some(SessionEvent::PeerAway { peer: m.id }),
                Some(o) if !o.is_active() && m.is_active() => Some(SessionEvent::PeerRejoined { peer: m.id }),
                _ => None,
            };
            if let Some(SessionEvent::PeerAway { .. }) = ev {
                // Its old link belongs to an incarnation the session gave up on; a fresh
                // link (redial, rejoin) must replace it, or netcode would keep the stale
                // slot alive and ignore the new connection.
                gone.push(m.id);
            }
            if let Some(ev) = ev {
                self.events.push_back(ev);
            }
            let st = self
                .peers
                .entry(m.id)
                .or_insert_with(|| super::PeerState::new(self.now));
            if m.is_active() && st.link_incarnation.is_some_and(|i| i < m.incarnation) {
                stale.push(m.id);
            }
            if m.is_active()
                && old
                    .get(m.id)
                    .is_none_or(|o| !o.is_active() || o.incarnation < m.incarnation)
            {
                st.since = self.now;
                st.down_since = None;
                st.left = false;
                st.last_dial = None;
                st.last_any = None;
                st.last_direct = None;
                // A heartbeat of the same tick predates the new incarnation: settle anew.
                st.last_heartbeat = None;
            }
        }
        // The same host's next roster: a member it dropped was dropped on purpose. A roster
        // of another term (a migration, or the winner of a merge) may just not know a member
        // that the losing side held; that one rejoins, and must not find itself refused.
        let same_term = old.epoch == self.roster.epoch && old.host == self.roster.host;
        for m in &old.members {
            if m.id != self.me && self.roster.get(m.id).is_none() {
                let left = self.peers.get(&m.id).is_some_and(|st| st.left);
                let expelled = same_term && m.is_active() && !left;
                if expelled {
                    // Refuse its links too, so that it cannot come back through us.
                    self.banned.insert(m.id, self.now + self.cfg.rejoin_grace);
                }
                let reason = if self.banned.contains_key(&m.id) {
                    LeaveReason::Expelled
                } else if m.is_active() {
                    LeaveReason::Graceful
                } else {
                    LeaveReason::Expired
                };
                self.events.push_back(SessionEvent::PeerLeft { peer: m.id, reason });
                self.replication.forget(m.id);
                // A member that another term's roster does not know (we just adopted the
                // winner of a merge) keeps its link: through it we tell it of that roster,
                // and it rejoins.
                if same_term || left || self.banned.contains_key(&m.id) {
                    gone.push(m.id);
                }
            }
        }
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
        if old.host != self.roster.host {
            self.events.push_back(SessionEvent::HostChanged {
                old: old.host,
                new: self.roster.host,
                epoch: self.roster.epoch,
            });
        }
        self.on_term_change(old);
    }

    /// Election by rule: when the host is down, the earliest-joined live member claims.
    pub(super) fn elect(&mut self) {
        if !self.in_session() || !self.is_down(self.roster.host) {
            return;
        }
        let me = self.me;
        let successor = self.roster.successor(|p| p == me || !self.is_down(p));
        if successor == Some(me) {
            self.claim_host(me);
        }
    }

    /// Writes a new-epoch roster with `host` as host, marking every member we consider
    /// down as away, and announces it.
    fn claim_host(&mut self, host: PeerId) {
        let old = self.roster.clone();
        self.roster.prev_term = Some((old.epoch, old.host));
        self.roster.epoch = self.max_epoch_seen.max(self.roster.epoch) + 1;
        self.max_epoch_seen = self.roster.epoch;
        self.roster.host = host;
        self.roster.version = 0;
        let down = self.active_but_down();
        for p in down {
            self.set_away(p);
        }
        self.roster.backed = self.roster.majority_active() && self.heard_by_majority_since(old.host);
        log::debug!(
            "{} announces host {host} in epoch {} (backed: {})",
            self.me,
            self.roster.epoch,
            self.roster.backed
        );
        // The successor continues from its replica and shares it once, so that survivors
        // that missed the old host's last writes catch up.
        self.store_dirty = true;
        self.emit_roster_diff(&old);
        self.broadcast_roster();
    }

    /// Whether we heard from more of the roster (ourselves included) than we did not, after
    /// `old_host` fell silent. Survivors of a host crash hear each other after it; a peer
    /// cut off from everyone (a successor on flaky Wi-Fi) heard the others fall silent at
    /// the same time as the host, and its claim is not backed, however many it has not yet
    /// declared down.
    fn heard_by_majority_since(&self, old_host: PeerId) -> bool {
        let host_last = self.peers.get(&old_host).and_then(|st| st.last_any);
        let heard = 1 + self
            .roster
            .members
            .iter()
            .filter(|m| m.id != self.me && m.id != old_host)
            .filter(|m| {
                let last = self.peers.get(&m.id).and_then(|st| st.last_any);
                last.is_some_and(|t| host_last.is_none_or(|h| t > h))
            })
            .count();
        heard > self.roster.members.len().saturating_sub(heard)
    }

    /// Active members of the roster that we consider down.
    fn active_but_down(&self) -> Vec<PeerId> {
        self.roster
            .active()
            .map(|m| m.id)
            .filter(|p| self.is_down(*p))
            .collect()
    }

    fn set_away(&mut self, peer: PeerId) {
        let now = self.now;
        if let Some(m) = self.roster.get_mut(peer)
            && m.is_active()
        {
            m.status = MemberStatus::Away { since: now };
            log::debug!("{} marks {peer} away", self.me);
        }
    }

    pub(super) fn mark_away(&mut self, peer: PeerId) {
        let old = self.roster.clone();
        let left = self.peers.get(&peer).is_some_and(|st| st.left);
        if left {
            self.roster.remove(peer);
        } else {
            self.set_away(peer);
        }
        if self.roster != old {
            self.roster.version += 1;
            self.emit_roster_diff(&old);
            self.broadcast_roster();
        }
    }

    /// The host marks down members away, releases expired seats and confirms leaves.
    pub(super) fn host_duties(&mut self) {
        self.elect();
        if !self.is_host() {
            return;
        }
        let now = self.now;
        let grace = self.cfg.rejoin_grace;
        let old = self.roster.clone();
        let down = self.active_but_down();
        for p in down {
            if self.peers.get(&p).is_some_and(|st| st.left) {
                self.roster.remove(p);
            } else {
                self.set_away(p);
            }
        }
        self.roster.members.retain(|m| match m.status {
            MemberStatus::Active => true,
            MemberStatus::Away { since } => now < since + grace,
        });
        if self.roster != old {
            self.roster.version += 1;
            self.emit_roster_diff(&old);
            self.broadcast_roster();
        }
        self.sync_newcomers();
    }

    /// Sends our whole store once to every member that heard us in a new incarnation:
    /// updates that reached it before its welcome were not applied (a joiner ignores session
    /// traffic until then), and an entry that did not change again would have stayed stale.
    fn sync_newcomers(&mut self) {
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
            let msg = Message::StoreSync(self.store.clone());
            self.send_to(peer, super::relay::reliable_channel(&msg), &msg);
        }
    }

    /// A graceful leave of the host: the successor gets the role before we go.
    pub(super) fn hand_over(&mut self) {
        let me = self.me;
        let Some(successor) = self.roster.successor(|p| p != me && !self.is_down(p)) else {
            return;
        };
        // One roster: the successor hosts a new epoch, we are gone, members we consider
        // down are away. Receivers accept it as the host's own handover.
        let old = self.roster.clone();
        self.roster.prev_term = Some((old.epoch, old.host));
        self.roster.epoch = self.max_epoch_seen.max(self.roster.epoch) + 1;
        self.max_epoch_seen = self.roster.epoch;
        self.roster.host = successor;
        self.roster.version = 0;
        for p in self.active_but_down() {
            self.set_away(p);
        }
        self.roster.remove(me);
        self.roster.backed = self.roster.majority_active();
        self.emit_roster_diff(&old);
        self.broadcast_roster();
    }

    pub(super) fn on_leave(&mut self, peer: PeerId) {
        let now = self.now;
        let st = self.peers.entry(peer).or_insert_with(|| super::PeerState::new(now));
        st.left = true;
        st.down_since = Some(now);
        if self.roster.host == peer {
            self.elect();
        } else if self.is_host() {
            self.mark_away(peer);
        }
    }
}
