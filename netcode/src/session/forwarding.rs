//! Relay bookkeeping: the sequence numbers of our forwards, the forwards already seen (so
//! a message relayed along two paths is taken once), the replay window of each origin that
//! forwards to us, and the reliable messages waiting for a route to a member.

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

/// How far behind the newest forward from an origin an older one is still taken (once).
pub(super) const REPLAY_WINDOW: u64 = 1024;

/// The forwards one origin sent us, in one incarnation of each side: the newest sequence
/// number and which of the [`REPLAY_WINDOW`] before it arrived. A forward at or below the
/// window, or one seen already, is a replay (as IPsec and DTLS keep their windows).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReplayWindow {
    incarnations: [u32; 2],
    top: u64,
    /// Bit `i` of word `i / 64`: whether `top - i` arrived.
    seen: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl ReplayWindow {
    fn new(incarnations: [u32; 2], seq: u64) -> Self {
        let mut seen = [0; (REPLAY_WINDOW / 64) as usize];
        seen[0] = 1;
        ReplayWindow {
            incarnations,
            top: seq,
            seen,
        }
    }

    /// Takes `seq` if it is new: true then, false for a replay or one too old to tell.
    fn take(&mut self, seq: u64) -> bool {
        if seq > self.top {
            self.shift(seq - self.top);
            self.top = seq;
            self.seen[0] |= 1;
            return true;
        }
        let behind = self.top - seq;
        if behind >= REPLAY_WINDOW {
            return false;
        }
        let (word, bit) = ((behind / 64) as usize, behind % 64);
        let fresh = self.seen[word] & (1 << bit) == 0;
        self.seen[word] |= 1 << bit;
        fresh
    }

    /// Moves the window `by` numbers forward.
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.seen = [0; (REPLAY_WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        for i in (0..self.seen.len()).rev() {
            let from = i.checked_sub(words);
            let hi = from.map_or(0, |j| self.seen[j]);
            let lo = from.and_then(|j| j.checked_sub(1)).map_or(0, |j| self.seen[j]);
            self.seen[i] = if bits == 0 {
                hi
            } else {
                (hi << bits) | (lo >> (64 - bits))
            };
        }
    }
}

/// What the replay check says of a forward to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// New: take it.
    Fresh,
    /// Sent to an earlier incarnation of either side, or taken already: drop it.
    Replayed,
}

/// The relay state of one session.
#[derive(Debug, Default)]
pub(super) struct Forwarding {
    /// Sequence number of our last forward to each member.
    seqs: BTreeMap<PeerId, u64>,
    /// Forwards seen, by origin, destination and sequence number, and the order they came in.
    seen: BTreeSet<(PeerId, PeerId, u64)>,
    seen_order: VecDeque<(PeerId, PeerId, u64)>,
    /// What each origin forwarded to us.
    windows: BTreeMap<PeerId, ReplayWindow>,
    /// Reliable messages for members without a route yet.
    backlog: BTreeMap<PeerId, Backlog>,
    /// Members whose backlog overflowed (they get the whole store instead).
    overflowed: BTreeSet<PeerId>,
}

impl Forwarding {
    /// The sequence number of our next forward to `dest`.
    pub(super) fn next_seq(&mut self, dest: PeerId) -> u64 {
        let seq = self.seqs.entry(dest).or_default();
        *seq += 1;
        *seq
    }

    /// Whether a forward `origin` signed for us with `seq`, in `incarnations` (its own and
    /// ours, as it knew them), is new; only call it once the signature held. A later
    /// incarnation of either side starts a new window; an earlier one is a replay.
    pub(super) fn freshness(&mut self, origin: PeerId, incarnations: [u32; 2], seq: u64) -> Freshness {
        match self.windows.get_mut(&origin) {
            Some(w) if w.incarnations == incarnations => {
                if w.take(seq) {
                    Freshness::Fresh
                } else {
                    Freshness::Replayed
                }
            }
            Some(w) if incarnations[0] < w.incarnations[0] || incarnations[1] < w.incarnations[1] => {
                Freshness::Replayed
            }
            _ => {
                self.windows.insert(origin, ReplayWindow::new(incarnations, seq));
                Freshness::Fresh
            }
        }
    }

    /// Whether this forward is new here (and remembers it); the oldest of more than
    /// [`SEEN_FORWARDS`] are forgotten. A relay takes a message relayed along two paths once.
    pub(super) fn first_sight(&mut self, origin: PeerId, dest: PeerId, seq: u64) -> bool {
        if !self.seen.insert((origin, dest, seq)) {
            return false;
        }
        self.seen_order.push_back((origin, dest, seq));
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
    fn sequence_numbers_count_up_from_one_per_destination() {
        let mut f = Forwarding::default();
        assert_eq!((f.next_seq(PeerId(1)), f.next_seq(PeerId(1))), (1, 2));
        assert_eq!(f.next_seq(PeerId(2)), 1);
    }

    #[test]
    fn a_forward_is_taken_once_and_the_oldest_are_forgotten() {
        let mut f = Forwarding::default();
        assert!(f.first_sight(PeerId(1), PeerId(9), 7));
        assert!(!f.first_sight(PeerId(1), PeerId(9), 7), "a duplicate");
        assert!(f.first_sight(PeerId(2), PeerId(9), 7), "another origin");
        assert!(f.first_sight(PeerId(1), PeerId(8), 7), "another destination");
        for seq in 0..SEEN_FORWARDS as u64 {
            f.first_sight(PeerId(3), PeerId(9), seq);
        }
        assert_eq!(f.seen.len(), SEEN_FORWARDS);
        assert!(
            f.first_sight(PeerId(1), PeerId(9), 7),
            "forgotten after {SEEN_FORWARDS} newer ones"
        );
    }

    #[test]
    fn the_replay_window_takes_each_forward_once_in_any_order_within_it() {
        let mut f = Forwarding::default();
        let (o, inc) = (PeerId(1), [0, 0]);
        assert_eq!(f.freshness(o, inc, 10), Freshness::Fresh);
        assert_eq!(f.freshness(o, inc, 10), Freshness::Replayed, "the same again");
        assert_eq!(f.freshness(o, inc, 8), Freshness::Fresh, "late, within the window");
        assert_eq!(f.freshness(o, inc, 8), Freshness::Replayed);
        assert_eq!(f.freshness(o, inc, 200), Freshness::Fresh, "a jump");
        assert_eq!(f.freshness(o, inc, 9), Freshness::Fresh, "still within the window");
        assert_eq!(f.freshness(o, inc, 10), Freshness::Replayed, "kept across the jump");
        let far = 200 + REPLAY_WINDOW;
        assert_eq!(f.freshness(o, inc, far), Freshness::Fresh);
        assert_eq!(f.freshness(o, inc, 200), Freshness::Replayed, "fell out of the window");
        assert_eq!(f.freshness(o, inc, far - 1), Freshness::Fresh);
        assert_eq!(f.freshness(o, inc, far - 1), Freshness::Replayed);
        // Every shift keeps what arrived within the window.
        for seq in far + 1..far + 3 * REPLAY_WINDOW {
            assert_eq!(f.freshness(o, inc, seq), Freshness::Fresh);
            assert_eq!(f.freshness(o, inc, seq - 1), Freshness::Replayed);
            if seq % 7 == 0 && seq - 63 > far {
                assert_eq!(f.freshness(o, inc, seq - 63), Freshness::Replayed, "{seq}");
            }
        }
    }

    #[test]
    fn a_new_incarnation_opens_a_new_window_and_an_old_one_is_a_replay() {
        let mut f = Forwarding::default();
        let o = PeerId(1);
        assert_eq!(f.freshness(o, [0, 0], 500), Freshness::Fresh);
        assert_eq!(f.freshness(o, [1, 0], 1), Freshness::Fresh, "the origin restarted");
        assert_eq!(f.freshness(o, [0, 0], 501), Freshness::Replayed, "its former life");
        assert_eq!(f.freshness(o, [1, 1], 2), Freshness::Fresh, "we restarted");
        assert_eq!(
            f.freshness(o, [1, 0], 3),
            Freshness::Replayed,
            "sent to our former life"
        );
        assert_eq!(f.freshness(PeerId(2), [0, 0], 1), Freshness::Fresh, "another origin");
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
