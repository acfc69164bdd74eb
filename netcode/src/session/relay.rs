//! Routing: direct sends, relays through a third peer (origin-tagged, de-duplicated,
//! bounded hops), a backlog for members without a route yet, and heartbeats.

use std::time::Duration;

use super::forwarding::Freshness;
use super::liveness::PeerState;
use super::{DIGEST_EVERY, Misbehaviour, Session};
use crate::PeerId;
use crate::link::LinkKey;
use crate::link::{Channel, MAX_RAW_BYTES};
use crate::protocol::Message;
use crate::roster::{Member, RosterDigest};
use crate::snapshot::replicate::Budgets;

/// How long we have tracked a member before our state goes to it through a relay while
/// we have no link with it: time for a newcomer's links to form (a punch through two
/// routers took under 0.5 s in the NAT lab).
const UNLINKED_STATE_AFTER: Duration = Duration::from_secs(2);

impl Session {
    /// A [`Message::Forward`] that arrived on our link with `link`. Whoever relays or takes
    /// it first checks that its origin signed it: no honest peer hands on one that does not
    /// hold, so `link` is dropped for it. A forward to us is then checked against the
    /// origin's replay window (`docs/design.md`, "Authority").
    pub(super) fn on_forward(&mut self, link: PeerId, msg: Message) {
        let Message::Forward { origin, dest, seq, .. } = msg else {
            return;
        };
        if origin == self.me {
            return;
        }
        let Some(key) = self.roster.get(origin).map(|m| m.key) else {
            // An origin we do not know yet (its admission has not reached us): nothing to
            // check its signature against.
            self.counters.refused_forwards += 1;
            return;
        };
        if !msg.forward_holds(&key, self.authority.session_id) {
            return self.misbehaved(link, Misbehaviour::UnsignedForward { origin });
        }
        // A relay takes each forward once (remembered only once its signature held, so a
        // forgery cannot use up a genuine forward's number); a forward to us meets the
        // origin's replay window instead, which counts what it refuses.
        if dest != self.me && !self.forwarding.first_sight(origin, dest, seq) {
            return;
        }
        let Message::Forward {
            ttl,
            reliable,
            incarnations,
            inner,
            ..
        } = &msg
        else {
            return;
        };
        if dest == self.me {
            return self.take_forward(link, origin, seq, *incarnations, inner);
        }
        if *ttl > 0 && self.links.is_linked(dest) {
            self.counters.relayed_messages += 1;
            let channel = if *reliable {
                Channel::ReliableOrdered
            } else {
                Channel::Unreliable
            };
            let mut fwd = msg;
            if let Message::Forward { ttl, .. } = &mut fwd {
                *ttl -= 1;
            }
            self.send_direct(dest, channel, &fwd);
        }
    }

    /// A forward to us whose signature held: taken if it was sent to this incarnation of
    /// ours by the current (or a later) one of its origin, and not taken before.
    fn take_forward(&mut self, link: PeerId, origin: PeerId, seq: u64, incarnations: [u32; 2], inner: &[u8]) {
        let known = self.roster.get(origin).map_or(0, |m| m.incarnation);
        let fresh = incarnations[1] == self.incarnation()
            && incarnations[0] >= known
            && self.forwarding.freshness(origin, incarnations, seq) == Freshness::Fresh;
        if !fresh {
            log::debug!(
                "{} refuses a replayed or stale forward from {origin} via {link}",
                self.tag
            );
            self.counters.refused_forwards += 1;
            return;
        }
        match Message::decode(inner) {
            Ok(Message::Forward { .. } | Message::Join { .. } | Message::Rejoin { .. } | Message::Hello { .. }) => {
                self.misbehaved(origin, Misbehaviour::ForwardedLinkLocal)
            }
            // The origin signed it: what it says is the origin's, and so is the blame.
            Ok(msg) => self.handle_message(origin, origin, msg, false),
            Err(e) => {
                log::debug!("{} cannot read a message {origin} relayed: {e}", self.tag);
                self.misbehaved(origin, Misbehaviour::RelayedMalformed((&e).into()))
            }
        }
    }

    /// Our incarnation, as the roster holds it.
    pub(super) fn incarnation(&self) -> u32 {
        self.roster.get(self.me).map_or(0, |m| m.incarnation)
    }

    pub(super) fn send_direct(&mut self, peer: impl Into<LinkKey>, channel: Channel, msg: &Message) {
        let peer = peer.into();
        match msg.encode() {
            Ok(bytes) => {
                // Control leaves at once; so do the host's writes (a host that dies right
                // after writing would take them along: they are what `writes_lost`
                // counts). A member's writes and heartbeats ride the send cadence.
                let urgent = match msg {
                    Message::Update { .. } => self.is_host(),
                    Message::Heartbeat { .. } | Message::GameAck { .. } => false,
                    Message::Forward { reliable, .. } => *reliable,
                    _ => true,
                };
                if !self.links.send(peer, channel, bytes, urgent) {
                    log::debug!("{} could not queue a message for {peer} at {:?}", self.tag, self.now);
                    self.counters.unsent_messages += 1;
                }
            }
            Err(e) => {
                log::warn!("{} cannot encode a message for {peer}: {e}", self.tag);
                self.counters.unsent_messages += 1;
            }
        }
    }

    /// Sends to a member directly, or through a relay when its direct link is down.
    pub(super) fn send_to(&mut self, peer: PeerId, channel: Channel, msg: &Message) {
        if peer == self.me {
            return;
        }
        let direct_ok = self
            .peers
            .get(&peer)
            .is_some_and(|st| st.direct_ok(self.now, self.bounds_for(peer)));
        if self.links.is_linked(peer) && direct_ok {
            return self.send_direct(peer, channel, msg);
        }
        if let Some(via) = self.relay_for(peer) {
            let Ok(inner) = msg.encode() else {
                self.counters.unsent_messages += 1;
                return;
            };
            let fwd = self.signed_forward(peer, channel != Channel::Unreliable, inner);
            return self.send_direct(via, channel, &fwd);
        }
        if self.links.is_linked(peer) {
            self.send_direct(peer, channel, msg);
        } else if channel != Channel::Unreliable && self.roster.get(peer).is_some_and(Member::is_active) {
            // No route yet (a newcomer still linking, a link being re-made): keep it.
            self.forwarding.hold(peer, channel, msg.clone());
        }
    }

    /// Our message `inner` to `dest`, signed for a relay to carry.
    pub(super) fn signed_forward(&mut self, dest: PeerId, reliable: bool, inner: Vec<u8>) -> Message {
        let seq = self.forwarding.next_seq(dest);
        let incarnations = [self.incarnation(), self.roster.get(dest).map_or(0, |m| m.incarnation)];
        let auth = &self.authority;
        Message::signed_forward(&auth.key, auth.session_id, dest, seq, reliable, incarnations, inner)
    }

    /// Sends what waited for a route to members that have one now.
    pub(super) fn flush_backlog(&mut self) {
        let ready: Vec<PeerId> = self
            .forwarding
            .waiting()
            .filter(|p| self.links.is_linked(*p) || self.relay_for(*p).is_some())
            .collect();
        for peer in ready {
            let (overflowed, waiting) = self.forwarding.take(peer);
            if overflowed {
                // Too much piled up: the full state replaces the lost part.
                self.send_store(peer);
            }
            for (channel, msg) in waiting {
                self.send_to(peer, channel, &msg);
            }
        }
    }

    /// Forgets what waited for a member the session gave up on.
    pub(crate) fn drop_backlog(&mut self, peer: PeerId) {
        self.forwarding.forget(peer);
    }

    /// Sends to every active member but this one.
    pub(super) fn broadcast(&mut self, msg: &Message) {
        let targets: Vec<PeerId> = self.roster.active().map(|m| m.id).filter(|p| *p != self.me).collect();
        let channel = reliable_channel(msg);
        for p in targets {
            self.send_to(p, channel, msg);
        }
    }

    /// Sends the heartbeats that are due: every link at its own rate (see
    /// [`Session::link_interval`]), or all of them at once when `all`.
    pub(super) fn send_heartbeats(&mut self, all: bool) {
        self.heartbeats_sent += 1;
        let now = self.now;
        // Half a base interval of slack, so that a side link's beat falls on the base tick
        // nearest its due time instead of the one after.
        let slack = self.heartbeat_interval() / 2;
        let targets: Vec<PeerId> = self
            .links
            .linked()
            .filter_map(LinkKey::peer)
            .filter(|p| all || self.peers.get(p).is_none_or(|st| st.next_heartbeat <= now))
            .collect();
        // What every heartbeat of this round shares (suspects, digest) and whether the
        // session is unsettled: sending changes neither, so they are worked out once.
        let template = self.heartbeat();
        let unsettled = self.unsettled();
        for p in &targets {
            let due = now + self.link_interval(*p, unsettled).saturating_sub(slack);
            self.peers
                .entry(*p)
                .or_insert_with(|| PeerState::new(now))
                .next_heartbeat = due;
            let hb = self.with_state(*p, template.clone());
            self.send_unreliable(*p, &hb);
        }
        // Members we cannot hear directly, and members that say they cannot hear us, get
        // our heartbeat through a relay: our own word that we are alive, which a member's
        // vouching for us does not replace for long (see `liveness`). One we have no link
        // with at all gets our state in it too: a member between two routers that no punch
        // passes sees the other's play through the member both reach.
        let me = self.me;
        let mut relayed = self.suspects();
        let suspecting_us: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(p, st)| st.suspects.contains(&me) && !relayed.contains(p))
            .filter(|(p, _)| self.roster.get(**p).is_some_and(Member::is_active))
            .map(|(p, _)| *p)
            .collect();
        relayed.extend(suspecting_us);
        for p in relayed {
            let Some(via) = self.relay_for(p) else { continue };
            let settled = self
                .peers
                .get(&p)
                .is_some_and(|st| self.now >= st.since + UNLINKED_STATE_AFTER);
            if self.links.is_linked(p) || !settled {
                let hb = self.heartbeat();
                self.send_to(p, Channel::Unreliable, &hb);
            } else {
                // A member we have had no link with for a while: our state goes along,
                // and it leaves with this round (on renet's unreliable channel nothing
                // else flushes it; a relayed heartbeat to a member we still have a link
                // with, or a newcomer, rides whatever flushes that link next, as it always
                // did; see design.md, "Relay").
                let hb = self.with_state(p, self.heartbeat());
                self.send_to(p, Channel::Unreliable, &hb);
                self.links.flush_soon(via);
            }
        }
    }

    /// Heartbeat `hb` for `p` with what the replication has for it (our own stream, the
    /// shared one when we host and it is due, the acks); the host's full shared snapshot
    /// goes beside it when `p` needs one.
    fn with_state(&mut self, p: PeerId, mut hb: Message) -> Message {
        if !self.roster.get(p).is_some_and(Member::is_active) {
            return hb;
        }
        let (now, host) = (self.now, self.is_host());
        let shared_every = self.cfg.shared_interval.saturating_sub(self.heartbeat_interval() / 2);
        let st = self.peers.entry(p).or_insert_with(|| PeerState::new(now));
        let shared_due = host && st.next_shared <= now;
        let welcomed = st.last_heartbeat.is_some_and(|t| t >= st.since);
        if shared_due {
            st.next_shared = now + shared_every;
        }
        let budgets = Budgets {
            own: self.cfg.own_budget_bytes,
            shared: self.cfg.shared_budget_bytes,
            shared_due,
            welcomed,
        };
        let out = self.replication.outgoing(p, host, budgets, now);
        if let Message::Heartbeat {
            acks,
            own,
            shared,
            held_ms,
            ..
        } = &mut hb
        {
            (*acks, *own, *shared, *held_ms) = (out.acks, out.own, out.shared, out.held_ms);
        }
        if let Some(snapshot) = out.full_shared {
            let msg = Message::FullShared { snapshot };
            self.send_to(p, reliable_channel(&msg), &msg);
        }
        hb
    }

    /// A heartbeat; the roster digest (it only serves anti-entropy) rides on every
    /// [`DIGEST_EVERY`]th one, and on all of them while we suspect anyone or for a while
    /// after the roster changed, so that a migration spreads at full speed.
    pub(super) fn heartbeat(&self) -> Message {
        let suspects = self.suspects();
        #[cfg(any(test, feature = "test-util"))]
        let suspects = match self.testimony {
            super::Testimony::Honest => suspects,
            super::Testimony::HearsEveryone => Vec::new(),
            super::Testimony::HearsNobody => self.roster.active().map(|m| m.id).filter(|p| *p != self.me).collect(),
        };
        let unsettled = !suspects.is_empty() || self.roster_recently_changed();
        let digest = (unsettled || self.heartbeats_sent.is_multiple_of(DIGEST_EVERY)).then(|| self.roster.digest());
        Message::Heartbeat {
            digest,
            suspects,
            acks: [None, None],
            held_ms: 0,
            own: None,
            shared: None,
        }
    }

    pub(super) fn send_heartbeat_to(&mut self, peer: PeerId) {
        let hb = self.heartbeat();
        self.send_unreliable(peer, &hb);
    }

    /// One datagram beside renet when it fits (no renet header, no ack packet); renet's
    /// unreliable channel (which slices) otherwise.
    fn send_unreliable(&mut self, peer: PeerId, msg: &Message) {
        let frame = msg.encode_heartbeat().ok().filter(|f| f.len() <= MAX_RAW_BYTES);
        if let Some(frame) = &frame
            && self.links.send_datagram(peer, frame)
        {
            return;
        }
        // Too large for one datagram, or the link cannot take raw datagrams yet (an
        // accepted link before the dialer's first payload): renet's channel, which slices.
        if frame.is_none() {
            self.links.sliced += 1;
        }
        match msg.encode() {
            Ok(bytes) => {
                if !self.links.send(peer, Channel::Unreliable, bytes, true) {
                    self.counters.unsent_messages += 1;
                }
            }
            Err(e) => {
                log::warn!("{} cannot encode a heartbeat for {peer}: {e}", self.tag);
                self.counters.unsent_messages += 1;
            }
        }
    }

    pub(super) fn on_heartbeat(&mut self, origin: PeerId, digest: Option<RosterDigest>) {
        let Some(digest) = digest else { return };
        if self.implausible_epoch(digest.epoch) {
            let reason = Misbehaviour::ImplausibleEpoch {
                claimed: digest.epoch,
                ours: self.roster.epoch,
            };
            return self.misbehaved(origin, reason);
        }
        self.max_epoch_seen = self.max_epoch_seen.max(digest.epoch);
        if self.in_session() && self.claim_beats(&self.roster.digest(), &digest, origin) {
            self.push_roster(origin);
        }
    }
}

/// The reliable channel a message takes: full store syncs merge in any order, so they need
/// no ordering (and do not hold up control behind a large transfer); the rest is ordered.
pub(super) fn reliable_channel(msg: &Message) -> Channel {
    match msg {
        Message::StoreSync(_) | Message::FullShared { .. } => Channel::ReliableUnordered,
        Message::StorePiece(_) => Channel::ReliableOrdered,
        _ => Channel::ReliableOrdered,
    }
}
