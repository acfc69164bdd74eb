//! The write ledger: every write recorded through [`super::Sim::write`] (the built-in
//! workload's among them), which peer processes have held it since, and whether it
//! survived.
//!
//! A peer *holds* a write when its store has the entry at exactly the write's version and
//! value. A later write of the same entry *supersedes* it only when its writer held this
//! write (or a successor of it) when it wrote: the workload reads before it writes, so the
//! later value carries the earlier one on; the superseded write leaves the ledger. A later
//! write by someone who never had it (a new host writing `pickup-5` again) does not: the
//! earlier write stays open and is judged at the end. A write is *acknowledged* when its
//! writer was the host when it wrote (applied on the host) or when another peer has held
//! it. Once every live peer holds a write it is *settled*: it leaves the ledger and joins
//! the committed entries, whose reversion [`super::Metrics`] checks.
//!
//! At the end of a run an open acknowledged write is
//! - *lost* when none of the processes that held it is still live (it died with them);
//! - *discarded* when some process that held it is live but no live peer holds it any
//!   more: a later write by someone who never had it replaced it (a new host that had not
//!   received its predecessor's last `clock`), or the sides of a split merged and the
//!   shared writes of one side were dropped.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::session::Session;
use crate::store::{Entry, Scope, Version};

/// One peer process: its node index and when its session started (a restarted process
/// is another holder).
pub(super) type Holder = (usize, Duration);

/// A live peer process and its session, as the ledger looks at it.
pub(super) type LivePeer<'a> = (Holder, &'a Session);

#[derive(Debug, Clone)]
struct Write {
    scope: Scope,
    key: String,
    version: Version,
    value: Option<Vec<u8>>,
    writer: Holder,
    on_host: bool,
    holders: BTreeSet<Holder>,
}

impl Write {
    fn held_by(&self, s: &Session) -> bool {
        s.store()
            .entry(self.scope, &self.key)
            .is_some_and(|e| e.version == self.version && e.value == self.value)
    }

    fn acknowledged(&self) -> bool {
        self.on_host || self.holders.iter().any(|h| *h != self.writer)
    }
}

/// What became of the recorded writes at some moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Writes recorded.
    pub recorded: u64,
    /// Acknowledged writes that no live process ever held.
    pub lost: u64,
    /// Acknowledged writes a live process held that no live peer holds any more.
    pub discarded: u64,
}

/// Every recorded write not yet held by every live peer.
#[derive(Debug, Default)]
pub(super) struct WriteLedger {
    open: Vec<Write>,
    recorded: u64,
}

impl WriteLedger {
    /// Records a write its writer just applied to its own store; `before` is the entry
    /// the writer held before writing (the open write it supersedes, if it is one).
    pub(super) fn record(
        &mut self,
        writer: Holder,
        on_host: bool,
        before: Option<&Entry>,
        entry: (Scope, &str, &Entry),
    ) {
        let (scope, key, entry) = entry;
        self.recorded += 1;
        if let Some(before) = before {
            self.open.retain(|w| {
                !(w.scope == scope && w.key == key && w.version == before.version && w.value == before.value)
            });
        }
        self.open.push(Write {
            scope,
            key: key.to_owned(),
            version: entry.version,
            value: entry.value.clone(),
            writer,
            on_host,
            holders: BTreeSet::from([writer]),
        });
    }

    /// Notes who holds each open write now; returns the writes every live peer holds
    /// (settled, removed from the ledger).
    pub(super) fn observe(&mut self, live: &[LivePeer<'_>]) -> Vec<(Scope, String, Version)> {
        let mut settled = Vec::new();
        self.open.retain_mut(|w| {
            let mut all = !live.is_empty();
            for (holder, s) in live {
                if w.held_by(s) {
                    w.holders.insert(*holder);
                } else {
                    all = false;
                }
            }
            if all {
                settled.push((w.scope, std::mem::take(&mut w.key), w.version));
            }
            !all
        });
        settled
    }

    /// What became of the writes, judged against the peers live now.
    pub(super) fn outcome(&self, live: &[LivePeer<'_>]) -> WriteOutcome {
        let mut out = WriteOutcome {
            recorded: self.recorded,
            ..WriteOutcome::default()
        };
        for w in self.open.iter().filter(|w| w.acknowledged()) {
            let holder_live = live.iter().any(|(h, _)| w.holders.contains(h));
            if !holder_live {
                out.lost += 1;
            } else if !live.iter().any(|(_, s)| w.held_by(s)) {
                out.discarded += 1;
            }
        }
        out
    }
}
