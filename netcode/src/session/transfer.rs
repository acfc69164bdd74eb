//! Whole stores in transfer: a welcome's store and full syncs move as pieces of at most
//! [`STORE_PIECE_BYTES`] (any piece merges on its own, in any order: entries are
//! last-writer-wins and each carries its seal), queued per peer and handed to the link
//! only while its channel has room beside a reserve for control, so a store at capacity
//! never overfills a channel and never needs one message larger than the wire limit.
//! Renet acknowledges and resends each piece; a transfer whose link went away is dropped
//! and its receiver asks again (a welcome's receiver the host, see [`Receiving`]).
//!
//! The newcomer's side: a welcome says how many pieces follow; the newcomer is in (the
//! `Joined` event, [`Session::receiving_store`] false) once the last one arrived, or
//! after a stall of `contact_timeout`, when it asks the host for its store instead.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::{Session, SessionEvent};
use crate::PeerId;
use crate::link::Channel;
use crate::protocol::{Message, STORE_PIECE_BYTES};
use crate::roster::Member;
use crate::store::{ENTRY_OVERHEAD_BYTES, Scope, Store};

/// What a peer still has to send: pieces waiting for room on the link.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    out: BTreeMap<PeerId, Outgoing>,
}

#[derive(Debug, Default)]
struct Outgoing {
    /// Pieces of a welcome, for the ordered channel (they follow the welcome itself).
    welcome: VecDeque<Message>,
    /// Pieces of full syncs, for the unordered channel.
    sync: VecDeque<Message>,
    /// A sync was asked for while one was still queued: send the whole store again once
    /// that one is out (it may have left before the change that asked).
    again: bool,
}

/// A newcomer waiting for the pieces that follow its welcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receiving {
    from: PeerId,
    left: u32,
    last: Duration,
    rejoined: bool,
}

/// Upper bound of a piece's encoded size (see [`ENTRY_OVERHEAD_BYTES`]).
fn piece_size(msg: &Message) -> usize {
    match msg {
        Message::StoreSync(store) | Message::StorePiece(store) => store
            .iter()
            .map(|(_, key, e)| ENTRY_OVERHEAD_BYTES + key.len() + e.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
            .saturating_add(16),
        _ => STORE_PIECE_BYTES,
    }
}

impl Session {
    /// Queues our whole store for `peer`, in pieces (a sync: the unordered channel).
    pub(crate) fn send_store(&mut self, peer: PeerId) {
        if peer == self.me {
            return;
        }
        let out = self.transfers.out.entry(peer).or_default();
        if !out.sync.is_empty() {
            out.again = true;
            return;
        }
        out.sync
            .extend(self.store.pieces(None).into_iter().map(Message::StoreSync));
        // What the link takes now leaves now, as a single message did.
        self.pump_sync(peer, self.cfg.channel_memory_bytes / 4);
    }

    /// Queues our whole store for every active member.
    pub(crate) fn broadcast_store(&mut self) {
        let targets: Vec<PeerId> = self.roster.active().map(|m| m.id).filter(|p| *p != self.me).collect();
        for p in targets {
            self.send_store(p);
        }
    }

    /// Welcomes an admitted newcomer: the roster and the first piece of our store (its own
    /// entries first) at once, the other pieces as the link takes them.
    pub(crate) fn send_welcome(&mut self, peer: PeerId) {
        let mut pieces = self.store.pieces(Some(Scope::Peer(peer))).into_iter();
        let first = pieces.next().unwrap_or_default();
        let rest: VecDeque<Message> = pieces.map(Message::StorePiece).collect();
        let msg = Message::Welcome {
            roster: self.signed_roster(),
            store: first,
            more: u32::try_from(rest.len()).unwrap_or(u32::MAX),
        };
        self.links.make_redundant(peer);
        self.send_direct(peer, Channel::ReliableOrdered, &msg);
        self.counters.store_pieces_sent += 1;
        // A newer welcome replaces what is left of an older one (the same piece order).
        self.transfers.out.entry(peer).or_default().welcome = rest;
        self.pump_welcome(peer, self.cfg.channel_memory_bytes / 4);
    }

    /// Hands queued pieces to the links while their channels have room, keeping a quarter
    /// of each channel's memory for everything else.
    pub(crate) fn pump_transfers(&mut self) {
        let reserve = self.cfg.channel_memory_bytes / 4;
        let peers: Vec<PeerId> = self.transfers.out.keys().copied().collect();
        for peer in peers {
            self.pump_welcome(peer, reserve);
            self.pump_sync(peer, reserve);
            let done = self
                .transfers
                .out
                .get(&peer)
                .is_none_or(|o| o.welcome.is_empty() && o.sync.is_empty() && !o.again);
            if done {
                self.transfers.out.remove(&peer);
            }
        }
    }

    fn pump_welcome(&mut self, peer: PeerId, reserve: usize) {
        if !self.links.is_linked(peer) {
            // The newcomer went away: what is left of its welcome goes with it.
            if let Some(o) = self.transfers.out.get_mut(&peer) {
                o.welcome.clear();
            }
            return;
        }
        while let Some(msg) = self.transfers.out.get(&peer).and_then(|o| o.welcome.front()) {
            if self.links.room(peer, Channel::ReliableOrdered) < piece_size(msg) + reserve {
                return;
            }
            let Some(msg) = self.transfers.out.get_mut(&peer).and_then(|o| o.welcome.pop_front()) else {
                return;
            };
            self.send_direct(peer, Channel::ReliableOrdered, &msg);
            self.counters.store_pieces_sent += 1;
        }
    }

    /// A sync goes on the direct link only: relayed, the pieces of several members' syncs
    /// would fill the relay's channel to the receiver (seen after a heal at capacity), and
    /// the relay cannot tell them to wait. Without a direct link the pieces wait for one.
    fn pump_sync(&mut self, peer: PeerId, reserve: usize) {
        if !self.roster.get(peer).is_some_and(Member::is_active) {
            self.transfers.out.remove(&peer);
            return;
        }
        if !self.links.is_linked(peer) {
            return;
        }
        loop {
            let Some(out) = self.transfers.out.get_mut(&peer) else {
                return;
            };
            if out.sync.is_empty() && std::mem::take(&mut out.again) {
                out.sync
                    .extend(self.store.pieces(None).into_iter().map(Message::StoreSync));
            }
            let Some(msg) = out.sync.front() else { return };
            if self.links.room(peer, Channel::ReliableUnordered) < piece_size(msg) + reserve {
                return;
            }
            let Some(msg) = out.sync.pop_front() else { return };
            self.send_direct(peer, Channel::ReliableUnordered, &msg);
            self.counters.store_pieces_sent += 1;
        }
    }

    /// Expects `more` pieces after a welcome from `from`; without any, the newcomer is in.
    pub(crate) fn expect_pieces(&mut self, from: PeerId, more: u32, rejoined: bool) {
        if more == 0 {
            self.receiving = None;
            self.events.push_back(SessionEvent::Joined {
                peer: self.me,
                rejoined,
            });
            return;
        }
        self.receiving = Some(Receiving {
            from,
            left: more,
            last: self.now,
            rejoined,
        });
    }

    /// A piece that follows a welcome, from `link`.
    pub(crate) fn on_store_piece(&mut self, link: PeerId, store: Store) {
        self.counters.store_pieces_received += 1;
        self.accept_store(link, store);
        let Some(r) = self.receiving.as_mut().filter(|r| r.from == link) else {
            return;
        };
        r.left = r.left.saturating_sub(1);
        r.last = self.now;
        if r.left == 0 {
            let rejoined = r.rejoined;
            self.receiving = None;
            self.events.push_back(SessionEvent::Joined {
                peer: self.me,
                rejoined,
            });
        }
    }

    /// A welcome's pieces that stopped coming (the contact crashed mid-transfer): the
    /// newcomer is in, and asks the host for its store.
    pub(crate) fn check_receiving(&mut self) {
        let Some(r) = self.receiving else { return };
        if self.now < r.last + self.cfg.contact_timeout && self.links.is_linked(r.from) {
            return;
        }
        log::debug!("{} got no more store pieces from {}: asks the host", self.tag, r.from);
        self.receiving = None;
        self.events.push_back(SessionEvent::Joined {
            peer: self.me,
            rejoined: r.rejoined,
        });
        let host = self.roster.host;
        if host != self.me {
            self.send_to(host, Channel::ReliableOrdered, &Message::StoreRequest);
        }
    }

    /// Whether this peer, admitted, still waits for pieces of the store its welcome
    /// announced: it counts as joined (its `Joined` event) once they arrived.
    pub fn receiving_store(&self) -> bool {
        self.receiving.is_some()
    }
}
