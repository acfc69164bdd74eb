//! A game's own messages (`docs/design.md`, "Game messages"): opaque bytes with a kind
//! number, sent to the host, to everyone or to one member on a channel of the game's
//! choice, and received with the sender's id (its proven link, or its signature through a
//! relay). A reliable message to the host is acknowledged by its receiver and sent again
//! to the next host until one does, so it reaches whoever hosts next.

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use super::Session;
use crate::PeerId;
use crate::link::Channel;
use crate::protocol::{MAX_GAME_ACKS, MAX_GAME_MESSAGE_BYTES, Message};
use crate::roster::Member;

/// Most received messages kept until the game takes them ([`Session::receive_message`]);
/// past that the oldest are dropped (and counted in `SessionStats::messages_dropped`).
pub const MAX_INBOX: usize = 4096;
/// Most reliable messages to the host kept for resending until acknowledged; past that
/// the oldest is no longer resent to a next host (and counted in `messages_dropped`).
pub const MAX_UNACKED: usize = 1024;

/// Who a game message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// The host of the moment (this peer itself when it hosts: delivered here at once).
    /// Reliable ones reach whoever hosts next if the host changes before it acknowledges.
    Host,
    /// Every other active member.
    All,
    /// One member (this peer itself: delivered here at once).
    Peer(PeerId),
}

/// A game message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameMessage {
    /// Who sent it: the member whose proven link it came on, or whose signature it
    /// carried through a relay (a relay cannot speak for another).
    pub from: PeerId,
    /// The game's kind number (its registration order, in the Bevy plugin).
    pub kind: u16,
    /// The game's encoding of it.
    pub bytes: Vec<u8>,
}

/// Why a game message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Its bytes are over [`MAX_GAME_MESSAGE_BYTES`].
    #[error("a game message of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not in a session (joining, left, or never started).
    #[error("not in a session")]
    NotInSession,
    /// The target is not an active member of the roster.
    #[error("{peer} is not an active member")]
    UnknownPeer {
        /// The target.
        peer: PeerId,
    },
}

/// A reliable message to the host, kept until its receiver acknowledges it.
#[derive(Debug, Clone)]
struct Unacked {
    seq: u64,
    /// The host it was last sent to.
    to: PeerId,
    channel: Channel,
    kind: u16,
    bytes: Vec<u8>,
}

/// The game messages of one session: what arrived, what waits for an acknowledgement,
/// the acknowledgements we owe.
#[derive(Debug, Default)]
pub(super) struct GameMessages {
    inbox: VecDeque<GameMessage>,
    next_seq: u64,
    unacked: VecDeque<Unacked>,
    acks_owed: BTreeMap<PeerId, Vec<u64>>,
}

impl Session {
    /// Sends a game message of `kind` to `target` on `channel`. Reliable channels resend
    /// until the link acknowledges (and a reliable message to the host goes to the next
    /// host when the role moves before the host acknowledged it); ordered ones keep the
    /// order per sender and channel. A member whose direct link is down is reached
    /// through a relay. Fails at once when too large, not in a session, or the target is
    /// not a member; a message a link's full channel refuses is counted in
    /// `SessionStats::unsent_messages`.
    pub fn send_message(
        &mut self,
        target: Target,
        channel: Channel,
        kind: u16,
        bytes: Vec<u8>,
    ) -> Result<(), MessageError> {
        if bytes.len() > MAX_GAME_MESSAGE_BYTES {
            return Err(MessageError::TooLarge {
                size: bytes.len(),
                max: MAX_GAME_MESSAGE_BYTES,
            });
        }
        if !self.in_session() {
            return Err(MessageError::NotInSession);
        }
        match target {
            Target::Host => self.send_to_host(channel, kind, bytes),
            Target::All => {
                let msg = Message::Game { kind, seq: None, bytes };
                let targets: Vec<PeerId> = self.roster.active().map(|m| m.id).filter(|p| *p != self.me).collect();
                for p in targets {
                    self.send_to(p, channel, &msg);
                }
            }
            Target::Peer(peer) if peer == self.me => self.deliver(self.me, kind, bytes),
            Target::Peer(peer) => {
                if !self.roster.get(peer).is_some_and(Member::is_active) {
                    return Err(MessageError::UnknownPeer { peer });
                }
                self.send_to(peer, channel, &Message::Game { kind, seq: None, bytes });
            }
        }
        Ok(())
    }

    /// The next game message received, oldest first.
    pub fn receive_message(&mut self) -> Option<GameMessage> {
        self.game.inbox.pop_front()
    }

    fn send_to_host(&mut self, channel: Channel, kind: u16, bytes: Vec<u8>) {
        let host = self.roster.host;
        if host == self.me {
            return self.deliver(self.me, kind, bytes);
        }
        if channel == Channel::Unreliable {
            return self.send_to(host, channel, &Message::Game { kind, seq: None, bytes });
        }
        self.game.next_seq += 1;
        let seq = self.game.next_seq;
        let msg = Message::Game {
            kind,
            seq: Some(seq),
            bytes,
        };
        self.send_to(host, channel, &msg);
        let Message::Game { bytes, .. } = msg else { return };
        if self.game.unacked.len() >= MAX_UNACKED {
            self.game.unacked.pop_front();
            self.counters.messages_dropped += 1;
        }
        self.game.unacked.push_back(Unacked {
            seq,
            to: host,
            channel,
            kind,
            bytes,
        });
    }

    /// Keeps a received message for the game.
    fn deliver(&mut self, from: PeerId, kind: u16, bytes: Vec<u8>) {
        if self.game.inbox.len() >= MAX_INBOX {
            self.game.inbox.pop_front();
            self.counters.messages_dropped += 1;
        }
        self.game.inbox.push_back(GameMessage { from, kind, bytes });
    }

    /// A game message from `origin` (its proven link, or its signed forward).
    pub(super) fn on_game(&mut self, origin: PeerId, kind: u16, seq: Option<u64>, bytes: Vec<u8>) {
        if !self.in_session() {
            return;
        }
        if let Some(seq) = seq {
            self.game.acks_owed.entry(origin).or_default().push(seq);
        }
        self.deliver(origin, kind, bytes);
    }

    /// `origin` acknowledges our reliable messages to it as host.
    pub(super) fn on_game_ack(&mut self, origin: PeerId, seqs: &[u64]) {
        self.game.unacked.retain(|u| !(u.to == origin && seqs.contains(&u.seq)));
    }

    /// Each update: the acknowledgements we owe go out, and the reliable messages to a
    /// host that no longer hosts (unacknowledged) go to the one that does now.
    pub(super) fn game_duties(&mut self) {
        let owed = std::mem::take(&mut self.game.acks_owed);
        for (peer, seqs) in owed {
            for chunk in seqs.chunks(MAX_GAME_ACKS) {
                let ack = Message::GameAck { seqs: chunk.to_vec() };
                self.send_to(peer, Channel::ReliableUnordered, &ack);
            }
        }
        let host = self.roster.host;
        if !self.game.unacked.iter().any(|u| u.to != host) {
            return;
        }
        let moved: Vec<Unacked> = self.game.unacked.iter().filter(|u| u.to != host).cloned().collect();
        log::debug!(
            "{} sends {} unacknowledged messages to the new host {host}",
            self.me,
            moved.len()
        );
        self.counters.messages_resent += moved.len() as u64;
        if host == self.me {
            self.game.unacked.retain(|u| u.to == host);
            for u in moved {
                self.deliver(self.me, u.kind, u.bytes);
            }
            return;
        }
        for u in &mut self.game.unacked {
            u.to = host;
        }
        for u in moved {
            let msg = Message::Game {
                kind: u.kind,
                seq: Some(u.seq),
                bytes: u.bytes,
            };
            self.send_to(host, u.channel, &msg);
        }
    }
}
