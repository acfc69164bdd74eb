//! An in-memory DHT with BEP44's rules for mutable items, for tests: it keeps the highest
//! sequence number, refuses a put whose `cas` is not the stored sequence number
//! (`CasMismatch`, checked first as BEP44 nodes do) or whose sequence number is lower
//! (`NewerExists`; an equal one only with the same value), and answers each request after
//! a delay of virtual time, applying it then (so that two writers can race).

use std::collections::HashMap;
use std::time::Duration;

use super::item::{DhtReply, DhtRequest, ItemKey, MAX_VALUE, PutFailure};

/// The fake DHT.
#[derive(Debug)]
pub(crate) struct FakeDht {
    items: HashMap<ItemKey, (i64, Vec<u8>)>,
    /// Requests in flight: when they are answered, by whom (an index the caller chooses).
    pending: Vec<(Duration, usize, DhtRequest)>,
    /// How long each request takes.
    pub(crate) delay: Duration,
    /// No node answers: puts fail with `NoNodes`, gets find nothing.
    pub(crate) silent: bool,
}

impl FakeDht {
    pub(crate) fn new(delay: Duration) -> Self {
        Self {
            items: HashMap::new(),
            pending: Vec::new(),
            delay,
            silent: false,
        }
    }

    /// Sends `request` on behalf of `owner`.
    pub(crate) fn submit(&mut self, owner: usize, request: DhtRequest, now: Duration) {
        self.pending.push((now + self.delay, owner, request));
    }

    /// When the next answer is due.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        self.pending.iter().map(|(due, ..)| *due).min()
    }

    /// Applies the requests due by `now`, in the order they were sent, and answers them.
    pub(crate) fn deliver(&mut self, now: Duration) -> Vec<(usize, DhtReply)> {
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(at, ..)| *at <= now);
        self.pending = later;
        due.into_iter()
            .map(|(_, owner, request)| (owner, self.apply(request)))
            .collect()
    }

    fn apply(&mut self, request: DhtRequest) -> DhtReply {
        let took = self.delay;
        match request {
            DhtRequest::Put {
                id,
                item,
                seq,
                cas,
                value,
            } => {
                let stored = self.items.get(&item);
                let outcome = if value.len() > MAX_VALUE {
                    Err(PutFailure::TooLarge)
                } else if self.silent {
                    Err(PutFailure::NoNodes)
                } else if cas.is_some_and(|cas| stored.is_some_and(|(s, _)| *s != cas)) {
                    Err(PutFailure::CasMismatch)
                } else if stored.is_some_and(|(s, v)| *s > seq || (*s == seq && *v != value)) {
                    Err(PutFailure::NewerExists)
                } else {
                    self.items.insert(item, (seq, value));
                    Ok(())
                };
                DhtReply::Put { id, outcome, took }
            }
            DhtRequest::Get { id, item, newer_than } => {
                let stored = self.items.get(&item).filter(|_| !self.silent).cloned();
                let found = super::client::newest(stored, newer_than);
                DhtReply::Got { id, found, took }
            }
        }
    }

    /// Stores `value` under `item` as a node that ignores the rules would (an attacker's
    /// or a replaying node's answer).
    pub(crate) fn plant(&mut self, item: &ItemKey, seq: i64, value: Vec<u8>) {
        self.items.insert(item.clone(), (seq, value));
    }

    /// What `item` holds.
    pub(crate) fn stored(&self, item: &ItemKey) -> Option<&(i64, Vec<u8>)> {
        self.items.get(item)
    }
}
