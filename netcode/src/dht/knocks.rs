//! The host's reading of the knock item while the session accepts joiners: fast for a
//! while after anything happened (hosting, accepting again, a membership change, a knock),
//! slowly otherwise, so that an idle session costs a few gets a minute.

use std::collections::VecDeque;
use std::time::Duration;

use super::item::DhtRequest;
use super::keys::DhtKeys;
use super::publish::{PublisherEvent, REQUEST_TIMEOUT};
use super::record::{DhtStats, Knock};
use crate::protocol::Candidates;

/// The knock item is read this often during [`FAST_WINDOW`].
pub const KNOCK_POLL_FAST: Duration = Duration::from_secs(2);
/// And this often otherwise.
pub const KNOCK_POLL_SLOW: Duration = Duration::from_secs(20);
/// How long the fast rate lasts after the session starts hosting or accepting, changes its
/// members, or sees a knock: friends join soon after the code is shared, and together.
pub const FAST_WINDOW: Duration = Duration::from_secs(180);
/// Join attempts remembered (their nonces), so that a repeated knock is reported once.
const REMEMBERED_JOINS: usize = 64;

/// The host's reader of the knock item.
#[derive(Debug, Default)]
pub(crate) struct KnockReader {
    /// What starts its log lines (its publisher's tag).
    pub(super) tag: crate::LogTag,
    in_flight: Option<(u64, Duration)>,
    next_poll: Duration,
    fast_until: Duration,
    seen_seq: Option<i64>,
    joins: VecDeque<([u8; 16], u64, Candidates)>,
}

impl KnockReader {
    /// Reads fast from now on, for [`FAST_WINDOW`].
    pub(crate) fn hurry(&mut self, now: Duration) {
        self.fast_until = now + FAST_WINDOW;
        self.next_poll = self.next_poll.min(now + KNOCK_POLL_FAST);
    }

    /// A get of the knock item, when one is due.
    pub(crate) fn poll(
        &mut self,
        keys: &DhtKeys,
        accepting: bool,
        now: Duration,
        next_id: &mut u64,
    ) -> Option<DhtRequest> {
        if !accepting || self.in_flight.is_some() || now < self.next_poll {
            return None;
        }
        let interval = if now < self.fast_until {
            KNOCK_POLL_FAST
        } else {
            KNOCK_POLL_SLOW
        };
        self.next_poll = now + interval;
        let id = *next_id;
        *next_id += 1;
        self.in_flight = Some((id, now));
        Some(DhtRequest::Get {
            id,
            item: keys.knock.clone(),
            newer_than: self.seen_seq,
        })
    }

    /// Whether `id` names our get.
    pub(crate) fn owns(&self, id: u64) -> bool {
        self.in_flight.is_some_and(|(want, _)| want == id)
    }

    /// Takes our get's answer: a new join attempt's fresh knock is reported, and a repeat
    /// with other candidates; a repeat with the same is not, and one dated no later than
    /// the newest seen of its join is counted replayed.
    pub(crate) fn got(
        &mut self,
        keys: &DhtKeys,
        found: Option<&(i64, Vec<u8>)>,
        accepting: bool,
        now: Duration,
        unix_ms: u64,
        stats: &mut DhtStats,
    ) -> Option<PublisherEvent> {
        self.in_flight = None;
        let (seq, value) = found?;
        self.seen_seq = Some(*seq);
        let knock = match Knock::open(keys, value, unix_ms) {
            Ok(knock) => knock,
            Err(error) => {
                log::debug!("{} dht: a knock (seq {seq}) is refused: {error}", self.tag);
                stats.refused(&error);
                return None;
            }
        };
        if let Some((_, at, candidates)) = self.joins.iter_mut().find(|(nonce, ..)| *nonce == knock.nonce) {
            if knock.at <= *at {
                log::debug!(
                    "{} dht: a knock replayed (dated {} ms, seen {} ms)",
                    self.tag,
                    knock.at,
                    at
                );
                stats.replayed += 1;
                return None;
            }
            *at = knock.at;
            if *candidates == knock.candidates {
                return None;
            }
            // The joiner learnt more of its addresses (STUN or its router answered late).
            candidates.clone_from(&knock.candidates);
        } else {
            if self.joins.len() == REMEMBERED_JOINS {
                self.joins.pop_front();
            }
            self.joins.push_back((knock.nonce, knock.at, knock.candidates.clone()));
        }
        self.hurry(now);
        accepting.then_some(PublisherEvent::Knock {
            candidates: knock.candidates,
            at_ms: knock.at,
        })
    }

    /// Forgets a get the client never answered.
    pub(crate) fn forget_lost(&mut self, now: Duration) {
        if self.in_flight.is_some_and(|(_, sent)| now >= sent + REQUEST_TIMEOUT) {
            self.in_flight = None;
        }
    }

    /// When the next get is due, or our get is given up.
    pub(crate) fn poll_timeout(&self, accepting: bool) -> Option<Duration> {
        match self.in_flight {
            Some((_, sent)) => Some(sent + REQUEST_TIMEOUT),
            None => accepting.then_some(self.next_poll),
        }
    }
}
