//! Joining and rejoining: asking a contact, trying the next one, taking the welcome,
//! and asking back in when our own seat was given up.

use std::net::SocketAddr;
use std::time::Duration;

use super::millis;
use crate::PeerId;
use crate::identity::SeatProof;
use crate::link::Channel;
use crate::link::LinkKey;
use crate::protocol::Message;
use crate::roster::{MemberStatus, Roster};
use crate::session::{Phase, Session};
use crate::store::{Scope, Store};

/// Most contacts a join tries (the code's addresses, the DHT record's, punches'): a bound
/// on what unsolicited empty datagrams can add.
const MAX_CONTACTS: usize = 32;

impl Session {
    pub(in crate::session) fn send_join_request(&mut self, contact: LinkKey, rejoin: bool) {
        let auth = &self.authority;
        let proof = SeatProof::sign(&auth.key, auth.session_id, self.me, self.addr, millis(self.now));
        let (name, key) = (self.name.clone(), auth.key.public());
        let msg = if rejoin {
            Message::Rejoin {
                name,
                key,
                proof,
                // One piece, our own entries first (the host gets the rest by sync).
                store: self.store.pieces(Some(Scope::Peer(self.me))).swap_remove(0),
            }
        } else {
            Message::Join { name, key, proof }
        };
        self.links.make_redundant(contact);
        self.send_direct(contact, Channel::ReliableOrdered, &msg);
    }

    /// Adds addresses of members to join through, tried in turn after those known; the
    /// first contact is dialed at once when there was none. Ignored unless joining.
    pub fn add_contacts(&mut self, more: impl IntoIterator<Item = SocketAddr>, now: Duration) {
        self.now = now.max(self.now);
        let me = self.addr;
        let Phase::Joining {
            contacts,
            next,
            started,
            ..
        } = &mut self.phase
        else {
            return;
        };
        let first = contacts.is_empty();
        for a in more {
            if a != me && !contacts.contains(&a) {
                contacts.push(a);
            }
        }
        if first && let Some(addr) = contacts.first().copied() {
            *next = 1;
            *started = self.now;
            log::debug!("{}: joining: asking {addr} first", self.me);
            self.links.dial(LinkKey::Contact, addr);
        }
    }

    /// Makes `addr` the address this peer is known by (where a rendezvous service sees
    /// it), while nobody can know the old one: a host alone in its session, or a joiner
    /// that has dialed nobody yet, with no link either way. Whether it is `addr` now.
    pub fn readdress(&mut self, addr: SocketAddr) -> bool {
        if addr == self.addr {
            return true;
        }
        let alone = match &self.phase {
            Phase::Joining { contacts, .. } => contacts.is_empty(),
            Phase::Member => self.is_host() && self.roster.members.len() == 1,
            _ => false,
        };
        if !alone || !self.links.is_idle() {
            return false;
        }
        self.addr = addr;
        self.links.readdress(addr);
        if let Some(mut own) = self.roster.get(self.me).cloned() {
            own.addr = addr;
            self.roster.upsert(own);
        }
        true
    }

    /// No answer in time: ask again on a live link (proving our identity with the secret,
    /// in case the first request was admitted), or move on to the next contact.
    pub(in crate::session) fn retry_join(&mut self) {
        let Phase::Joining { contacts, next, .. } = self.phase.clone() else {
            return;
        };
        if contacts.is_empty() {
            // Still waiting for contacts (`Session::join_later`): nothing to retry.
            if let Phase::Joining { started, .. } = &mut self.phase {
                *started = self.now;
            }
            return;
        }
        if self.links.is_linked(LinkKey::Contact) {
            self.phase = Phase::Joining {
                contacts,
                next,
                started: self.now,
                rejoin: true,
            };
            self.send_join_request(LinkKey::Contact, true);
        } else {
            self.next_contact();
        }
    }

    /// Notes that the member known at `session` (its home-network address) is reached
    /// from the internet at `public`, as a DHT record says: a dial to either names both
    /// in its token, so that the member's server takes it (see `link/dial.rs`).
    pub(crate) fn add_public(&mut self, session: SocketAddr, public: SocketAddr) {
        self.links.add_public(session, public);
    }

    /// A member opened its router for us at `addr` (it punched towards us after reading
    /// our knock on the DHT): when `addr` is one of our contacts (or a new one, up to
    /// [`MAX_CONTACTS`]) and not the one dialed now, it is dialed now (the turn of each contact is a contact timeout long, and the
    /// punch comes a few seconds into the join, while another contact has its turn).
    pub(crate) fn contact_opened(&mut self, addr: SocketAddr) {
        let Phase::Joining { contacts, next, .. } = &mut self.phase else {
            return;
        };
        let i = match contacts.iter().position(|c| *c == addr) {
            Some(i) => i,
            // A member behind a router that maps each destination to another port punched
            // from a port no record names: that port is open to us alone, so it becomes a
            // contact (its token names the other contacts and the members' session addresses,
            // see `link/dial.rs`).
            None if contacts.len() < MAX_CONTACTS => {
                self.links.add_punched(addr, contacts.clone());
                contacts.push(addr);
                contacts.len() - 1
            }
            None => return,
        };
        let dialing = (*next + contacts.len() - 1) % contacts.len();
        if i == dialing || self.links.is_linked(LinkKey::Contact) {
            return;
        }
        *next = i;
        log::debug!("{}: joining: {addr} opened its router for us", self.me);
        self.next_contact();
    }

    /// Gives up on the current contact and dials the next one.
    pub(in crate::session) fn next_contact(&mut self) {
        let Phase::Joining {
            contacts, next, rejoin, ..
        } = self.phase.clone()
        else {
            return;
        };
        self.links.disconnect(LinkKey::Contact);
        self.contact_id = None;
        let Some(&addr) = contacts.get(next % contacts.len().max(1)) else {
            return;
        };
        self.phase = Phase::Joining {
            contacts,
            next: next + 1,
            started: self.now,
            rejoin,
        };
        log::debug!("{}: joining: no answer in time, asking {addr}", self.me);
        self.links.dial(LinkKey::Contact, addr);
    }

    pub(in crate::session) fn on_welcome(&mut self, link: LinkKey, roster: Roster, store: Store, more: u32) {
        let Phase::Joining { rejoin, .. } = self.phase else {
            return;
        };
        let Some(me) = roster.get(self.me) else { return };
        if !me.is_active() || me.key != self.authority.key.public() {
            return;
        }
        if self.vouch(&roster) != super::vouching::Vouch::Signed {
            // Not the host's word: a contact cannot welcome us into a roster of its own.
            self.counters.refused_rosters += 1;
            return;
        }
        let sender = match link {
            LinkKey::Contact => match self.contact_id {
                Some(contact) => contact,
                None => return, // (its hello comes first, proving its id)
            },
            LinkKey::Peer(peer) => peer,
        };
        if link == LinkKey::Contact {
            let contact = sender;
            self.links.rekey(LinkKey::Contact, contact);
            let mut st = self
                .contact_state
                .take()
                .unwrap_or_else(|| crate::session::PeerState::new(self.now));
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
        // In once the pieces that follow the welcome are here too.
        self.expect_pieces(sender, more, rejoin);
        self.counters.store_pieces_received += 1;
        self.accept_store(sender, store);
        let now = self.now;
        for m in self.roster.active() {
            self.peers
                .entry(m.id)
                .or_insert_with(|| crate::session::PeerState::new(now));
        }
    }

    /// While the roster holds us away (or dropped us), keep asking for the seat back through
    /// the host or any member we are linked to (a request can be lost or refused in the
    /// middle of a merge).
    pub(in crate::session) fn keep_seat(&mut self) {
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
    pub(in crate::session) fn ask_back(&mut self, via: PeerId, rejoin: bool) {
        // The request goes on a direct link (a contact checks the link it came on); without
        // one it would be dropped unsent: `keep_seat` asks through a linked member instead.
        if !self.links.is_linked(via) {
            return;
        }
        if self
            .timers
            .rejoin_asked
            .is_some_and(|t| self.now < t + self.cfg.roster_push_interval)
        {
            return;
        }
        self.timers.rejoin_asked = Some(self.now);
        self.send_join_request(LinkKey::Peer(via), rejoin);
    }
}
