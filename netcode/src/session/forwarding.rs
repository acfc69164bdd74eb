//! Relay bookkeeping: the sequence numbers of our forwards, the forwards already seen (so
//! a message relayed along two paths is taken once), and the reliable messages waiting for
//! a route to a member.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::PeerId;
use crate::link::Channel;
use crate::protocol::Message;

/// How many relayed message ids each peer remembers for de-duplication.
pub(super) const SEEN_FORWARDS: usize = 4096;
/// Most reliable messages kept for a member without a route; past that it gets a full sync.
pub(super) const MAX_BACKLOG: usize = 1024;

/// Messages waiting for a route to one member.
pub(super) type Backlog = VecDeque<(Channel, Message)>;

/// The relay state of one session.
#[derive(Debug, Default)]
pub(super) struct Forwarding {
    /// Sequence number of our last forward.
    seq: u64,
    /// Forwards seen, by origin and sequence number, and the order they came in.
    seen: BTreeSet<(PeerId, u64)>,
    seen_order: VecDeque<(PeerId, u64)>,
    /// Reliable messages for members without a route yet.
    backlog: BTreeMap<PeerId, Backlog>,
    /// Members whose backlog overflowed (they get the whole store instead).
    overflowed: BTreeSet<PeerId>,
}

impl Forwarding {
    /// The sequence number of our next forward.
    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether this forward is new (and remembers it); the oldest of more than
    /// [`SEEN_FORWARDS`] are forgotten.
    pub(super) fn first_sight(&mut self, origin: PeerId, seq: u64) -> bool {
        if !self.seen.insert((origin, seq)) {
            return false;
        }
        self.seen_order.push_back((origin, seq));
        if self.seen_order.len() > SEEN_FORWARDS
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Keeps a message for a member without a route; a backlog past [`MAX_BACKLOG`] is
    /// dropped and the member marked for a full sync.
    pub(super) fn hold(&mut self, peer: PeerId, channel: Channel, msg: Message) {
        let queue = self.backlog.entry(peer).or_default();
        if queue.len() >= MAX_BACKLOG {
            queue.clear();
            self.overflowed.insert(peer);
        }
        queue.push_back((channel, msg));
    }

    /// Members with messages waiting.
    pub(super) fn waiting(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.backlog.keys().copied()
    }

    /// Takes what waited for `peer`: whether its backlog overflowed, and the messages.
    pub(super) fn take(&mut self, peer: PeerId) -> (bool, Backlog) {
        let overflowed = self.overflowed.remove(&peer);
        (overflowed, self.backlog.remove(&peer).unwrap_or_default())
    }

    /// Forgets what waited for `peer`.
    pub(super) fn forget(&mut self, peer: PeerId) {
        self.backlog.remove(&peer);
        self.overflowed.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_count_up_from_one() {
        let mut f = Forwarding::default();
        assert_eq!((f.next_seq(), f.next_seq()), (1, 2));
    }

    #[test]
    fn a_forward_is_taken_once_and_the_oldest_are_forgotten() {
        let mut f = Forwarding::default();
        assert!(f.first_sight(PeerId(1), 7));
        assert!(!f.first_sight(PeerId(1), 7), "a duplicate");
        assert!(f.first_sight(PeerId(2), 7), "another origin");
        for seq in 0..SEEN_FORWARDS as u64 {
            f.first_sight(PeerId(3), seq);
        }
        assert_eq!(f.seen.len(), SEEN_FORWARDS);
        assert!(
            f.first_sight(PeerId(1), 7),
            "forgotten after {SEEN_FORWARDS} newer ones"
        );
    }

    #[test]
    fn a_backlog_keeps_order_and_an_overflow_asks_for_a_full_sync() {
        let mut f = Forwarding::default();
        f.hold(PeerId(1), Channel::ReliableOrdered, Message::Leave);
        f.hold(PeerId(1), Channel::ReliableUnordered, Message::StoreRequest);
        assert_eq!(f.waiting().collect::<Vec<_>>(), vec![PeerId(1)]);
        let (overflowed, queue) = f.take(PeerId(1));
        assert!(!overflowed);
        assert_eq!(
            queue.into_iter().collect::<Vec<_>>(),
            vec![
                (Channel::ReliableOrdered, Message::Leave),
                (Channel::ReliableUnordered, Message::StoreRequest)
            ]
        );
        for _ in 0..=MAX_BACKLOG {
            f.hold(PeerId(2), Channel::ReliableOrdered, Message::Leave);
        }
        let (overflowed, queue) = f.take(PeerId(2));
        assert!(
            overflowed && queue.len() == 1,
            "cleared at the limit, then the newest kept"
        );
        f.hold(PeerId(3), Channel::ReliableOrdered, Message::Leave);
        f.forget(PeerId(3));
        assert_eq!(f.waiting().count(), 0);
    }
}
