//! Taking in what the links deliver: link events, the rate limit, decoding, and handing
//! each message to the part of the session that owns it.

use super::{LeaveReason, Misbehaviour, Phase, Session, SessionEvent, flood, membership};
use crate::PeerId;
use crate::link::{Channel, LinkEvent, LinkKey};
use crate::protocol::Message;
use crate::snapshot::replicate::Incoming;
use crate::store::{Scope, Store};

use super::PeerState;

impl Session {
    pub(super) fn on_link_event(&mut self, ev: LinkEvent) {
        log::trace!("{} {:?} link event {ev:?}", self.tag, self.now);
        match ev {
            LinkEvent::Connected(LinkKey::Contact) => {
                // Our hello names the contact, whose id we learn from its own hello; the
                // request carries a proof of its own.
                self.contact_state = Some(PeerState::new(self.now));
                if let Phase::Joining { rejoin, .. } = self.phase {
                    self.send_join_request(LinkKey::Contact, rejoin);
                }
            }
            LinkEvent::Connected(LinkKey::Peer(peer)) => {
                self.replication.reset_link(peer);
                if self.banned.contains_key(&peer) {
                    self.links.disconnect(peer);
                    return;
                }
                let incarnation = self.roster.get(peer).map(|m| m.incarnation);
                let st = self.peers.entry(peer).or_insert_with(|| PeerState::new(self.now));
                st.link_incarnation = incarnation;
                // The dialer proves itself first; we answer a dialer once it has.
                if self.links.dialed(peer) {
                    self.greet(peer);
                }
            }
            LinkEvent::Disconnected(LinkKey::Contact) | LinkEvent::DialFailed(LinkKey::Contact) => {
                if matches!(self.phase, Phase::Joining { .. }) {
                    self.next_contact();
                }
            }
            LinkEvent::Disconnected(LinkKey::Peer(peer)) | LinkEvent::DialFailed(LinkKey::Peer(peer)) => {
                self.replication.reset_link(peer);
                self.flood.forget(peer);
            }
        }
    }

    /// Whether to decode a message from `peer` (see [`flood`]); false drops it unread.
    fn within_rate(&mut self, peer: PeerId) -> bool {
        match self.flood.admit(peer, self.now, &self.cfg) {
            flood::Admit::Yes => true,
            flood::Admit::Drop => {
                self.counters.rate_limited += 1;
                false
            }
            flood::Admit::Expel => {
                self.counters.rate_limited += 1;
                self.flood.forget(peer);
                self.misbehaved(peer, Misbehaviour::Flooded);
                false
            }
        }
    }

    pub(super) fn receive_all(&mut self) {
        // Heartbeats (with state) bypass renet: one datagram each. One that overtook its
        // link's hello is dropped (the next one follows at the send rate).
        while let Some((key, bytes)) = self.links.receive_datagram() {
            if self.links.is_proven(key) {
                let decoded = Message::decode_heartbeat(&bytes);
                self.take_in(key, decoded);
            }
        }
        for key in self.links.take_received() {
            for channel in [
                Channel::ReliableOrdered,
                Channel::ReliableUnordered,
                Channel::Unreliable,
            ] {
                // Until the hello (first on the ordered channel) proves the link, the other
                // channels wait in renet.
                if channel != Channel::ReliableOrdered && !self.links.is_proven(key) {
                    break;
                }
                while let Some(bytes) = self.links.receive(key, channel) {
                    if !self.links.is_linked(key) {
                        break;
                    }
                    let decoded = Message::decode(&bytes);
                    self.take_in(key, decoded);
                }
            }
        }
    }

    /// One decoded (or undecodable) message from a link: a member's, within its rate, to
    /// [`Session::handle_message`] once the link is proven ([`Session::take_unproven`]
    /// before); the contact's to [`Session::on_contact_message`].
    fn take_in(&mut self, key: LinkKey, decoded: Result<Message, crate::protocol::ProtocolError>) {
        if !self.links.is_linked(key) {
            return;
        }
        match key {
            LinkKey::Contact => match decoded {
                Ok(msg) => self.on_contact_message(msg),
                Err(e) => {
                    // No id to ban yet: drop the contact and try the next one.
                    log::debug!("{} drops its contact: {e}", self.tag);
                    self.counters.rejected_messages += 1;
                    self.next_contact();
                }
            },
            LinkKey::Peer(peer) if !self.links.is_proven(peer) => self.take_unproven(peer, decoded),
            LinkKey::Peer(peer) if self.within_rate(peer) => match decoded {
                Ok(msg) => self.handle_message(peer, peer, msg, true),
                Err(e) => {
                    log::debug!("{} cannot read a message from {peer}: {e}", self.tag);
                    self.misbehaved(peer, Misbehaviour::Malformed((&e).into()));
                }
            },
            LinkKey::Peer(_) => {}
        }
    }

    /// A message on a link whose remote end has not proven yet that it is `peer`: its
    /// hello, or a join or rejoin request (which carries a proof of its own). Anything else
    /// closes the link, without blaming `peer`: anyone can claim an id.
    fn take_unproven(&mut self, peer: PeerId, decoded: Result<Message, crate::protocol::ProtocolError>) {
        match decoded {
            Ok(hello @ Message::Hello { .. }) => {
                if matches!(hello, Message::Hello { peer: claimed, .. } if claimed == peer)
                    && hello.hello_holds(self.authority.session_id, self.me)
                {
                    self.links.prove(peer);
                    self.greet(peer);
                } else {
                    self.refuse_link(peer, "a hello that does not prove the seat");
                }
            }
            // (Not evidence that `peer` is alive: nothing proved it is `peer` yet.)
            Ok(msg @ (Message::Join { .. } | Message::Rejoin { .. })) => self.on_admission(peer, peer, msg),
            Ok(_) => self.refuse_link(peer, "spoke before proving its seat"),
            Err(_) => self.refuse_link(peer, "garbage before proving its seat"),
        }
    }

    /// Closes a link whose remote end did not prove the seat it claims.
    pub(super) fn refuse_link(&mut self, peer: PeerId, reason: &str) {
        log::debug!("{} closes a link claiming to be {peer}: {reason}", self.tag);
        self.counters.refused_links += 1;
        self.links.disconnect(peer);
    }

    /// Our hello to `peer`: our seat's key and a signature naming both ends of the link.
    pub(super) fn hello_to(&self, peer: PeerId) -> Message {
        Message::hello(&self.authority.key, self.authority.session_id, peer)
    }

    /// Our hello on the link to `peer`, once, then the heartbeat a new link gets: at once
    /// on a link we dialed, on a link we accepted only once the dialer proved its seat
    /// (its hello, or a join or rejoin request whose proof holds). See [`crate::link`]'s
    /// greeting for why.
    pub(super) fn greet(&mut self, peer: PeerId) {
        let Ok(hello) = self.hello_to(peer).encode() else {
            self.counters.unsent_messages += 1;
            return;
        };
        if self.links.greet(peer, hello) && self.in_session() {
            self.send_heartbeat_to(peer);
        }
    }

    /// What the contact of a join says before we are in: its proven id, then the welcome
    /// or the refusal (the rest of the session's traffic is not ours yet).
    fn on_contact_message(&mut self, msg: Message) {
        if let Some(st) = self.contact_state.as_mut() {
            st.last_any = Some(self.now);
        }
        match msg {
            Message::Hello { peer, .. } if self.contact_id.is_none() => {
                if msg.hello_holds(self.authority.session_id, self.me) {
                    self.contact_id = Some(peer);
                    self.links.prove(LinkKey::Contact);
                    let hello = self.hello_to(peer);
                    self.send_direct(LinkKey::Contact, Channel::ReliableOrdered, &hello);
                } else {
                    log::debug!("{} drops its contact: a hello that does not prove its seat", self.tag);
                    self.counters.refused_links += 1;
                    self.next_contact();
                }
            }
            Message::Welcome { roster, store, more } if self.contact_id.is_some() => {
                self.on_welcome(LinkKey::Contact, roster, store, more)
            }
            Message::Refused { reason } => self.refused(LinkKey::Contact, reason),
            _ => {}
        }
    }

    /// Our join was refused: we stop.
    fn refused(&mut self, link: LinkKey, reason: crate::protocol::Refusal) {
        if matches!(self.phase, Phase::Joining { .. }) {
            self.phase = Phase::Refused(reason);
            self.events.push_back(SessionEvent::JoinRefused(reason));
            self.links.disconnect(link);
        }
    }

    /// Drops a peer that sent what no honest peer sends, without disturbing the others.
    pub(super) fn misbehaved(&mut self, peer: PeerId, reason: Misbehaviour) {
        log::debug!("{} drops {peer}: {reason}", self.tag);
        self.counters.rejected_messages += 1;
        self.links.disconnect(peer);
        self.banned.insert(peer, self.now + self.cfg.rejoin_grace);
        self.events.push_back(SessionEvent::PeerMisbehaved { peer, reason });
        if self.is_host() && peer != self.me && self.roster.expel(peer) {
            self.roster.version += 1;
            self.events.push_back(SessionEvent::PeerLeft {
                peer,
                reason: LeaveReason::Expelled,
            });
            self.broadcast_roster();
        }
    }

    pub(super) fn handle_message(&mut self, link: PeerId, origin: PeerId, msg: Message, direct: bool) {
        if !matches!(
            msg,
            Message::Heartbeat { .. } | Message::Update { .. } | Message::Game { .. }
        ) {
            log::trace!("{} {:?} <- {origin} via {link}: {msg:?}", self.tag, self.now);
        }
        self.heard(origin, &msg, direct);
        match msg {
            // The link is proven already (see `take_unproven`); a second hello must hold too.
            Message::Hello { peer, .. } => {
                if peer != link || !msg.hello_holds(self.authority.session_id, self.me) {
                    self.misbehaved(link, Misbehaviour::ForgedHello { claimed: peer });
                }
            }
            // (The suspects were taken by `heard_direct` above.)
            Message::Heartbeat {
                digest,
                acks,
                own,
                shared,
                held_ms,
                ..
            } => {
                self.on_heartbeat(origin, digest);
                // On the origin's own link, or in a forward it signed (a member with no
                // link to us sends its state through a relay: see `send_heartbeats`).
                if own.is_some() || shared.is_some() || acks.iter().any(Option::is_some) {
                    let heartbeat = Incoming {
                        own: own.as_deref(),
                        shared: shared.as_deref(),
                        acks,
                        held_ms,
                    };
                    self.on_state(origin, heartbeat);
                }
            }
            Message::FullShared { snapshot } => self.on_full_shared(origin, &snapshot),
            msg @ (Message::Join { .. }
            | Message::Rejoin { .. }
            | Message::Admit { .. }
            | Message::Admitted { .. }
            | Message::Welcome { .. }
            | Message::Refused { .. }) => self.on_admission(link, origin, msg),
            Message::Roster(roster) => self.offer_roster(origin, roster),
            Message::StoreSync(store) => {
                self.counters.store_pieces_received += 1;
                self.accept_store(link, store);
            }
            Message::StorePiece(store) => self.on_store_piece(link, store),
            Message::StoreRequest => self.on_store_request(origin),
            Message::Update { scope, key, entry } => {
                if let Scope::Peer(owner) = scope
                    && owner != origin
                {
                    return self.misbehaved(link, Misbehaviour::WroteAnothersEntry { owner });
                }
                self.accept_entry(link, scope, key, entry);
            }
            Message::Leave => self.on_leave(origin),
            Message::Candidates(c) => self.on_candidates(origin, c),
            Message::Game { kind, seq, bytes } => self.on_game(origin, kind, seq, bytes),
            Message::GameAck { seqs } => self.on_game_ack(origin, &seqs),
            msg @ Message::Forward { .. } => {
                if !direct {
                    return self.misbehaved(link, Misbehaviour::NestedForward);
                }
                self.on_forward(link, msg)
            }
        }
    }

    /// The messages of a join or rejoin: the request, its forwarding to the host, the
    /// host's verdict, the welcome or the refusal.
    fn on_admission(&mut self, link: PeerId, origin: PeerId, msg: Message) {
        match msg {
            Message::Join { name, key, proof } => {
                let store = Store::default();
                self.on_join(
                    link,
                    membership::Request {
                        name,
                        key,
                        proof,
                        rejoin: false,
                        store,
                    },
                )
            }
            Message::Rejoin {
                name,
                key,
                proof,
                store,
            } => self.on_join(
                link,
                membership::Request {
                    name,
                    key,
                    proof,
                    rejoin: true,
                    store,
                },
            ),
            Message::Admit {
                name,
                key,
                proof,
                rejoin,
                store,
            } => self.on_admit(
                origin,
                membership::Request {
                    name,
                    key,
                    proof,
                    rejoin,
                    store,
                },
            ),
            Message::Admitted {
                peer,
                result,
                roster,
                store,
            } => self.on_admitted(origin, peer, result, roster, store),
            Message::Welcome { roster, store, more } => self.on_welcome(LinkKey::Peer(link), roster, store, more),
            Message::Refused { reason } => self.refused(LinkKey::Peer(link), reason),
            _ => {}
        }
    }

    /// Liveness: what arrived directly from `origin` (or through a relay).
    fn heard(&mut self, origin: PeerId, msg: &Message, direct: bool) {
        if direct {
            self.peers
                .entry(origin)
                .or_insert_with(|| PeerState::new(self.now))
                .heard_direct(self.now, msg);
        } else if let Some(st) = self.peers.get_mut(&origin) {
            st.last_any = Some(self.now);
        }
    }

    /// Snapshot state from a heartbeat of `origin`.
    fn on_state(&mut self, origin: PeerId, heartbeat: Incoming<'_>) {
        let from_host = origin == self.roster.host;
        if let Err(e) = self.replication.incoming(origin, from_host, heartbeat, self.now) {
            log::debug!("{} rejects a snapshot from {origin}: {e}", self.tag);
            self.counters.rejected_messages += 1;
        }
    }

    /// The host's whole shared stream from `origin`.
    fn on_full_shared(&mut self, origin: PeerId, snapshot: &[u8]) {
        let from_host = origin == self.roster.host;
        if let Err(e) = self.replication.incoming_full(origin, from_host, snapshot) {
            log::debug!("{} rejects a full snapshot from {origin}: {e}", self.tag);
            self.counters.rejected_messages += 1;
        }
    }
}
