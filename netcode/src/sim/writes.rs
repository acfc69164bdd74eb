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
//! An acknowledged write that no live peer has held for a while ([`VANISHED_AFTER`], past
//! anything still on the wire) is judged then (it cannot come back: only a live peer could
//! hand it on), and any other open one at the end:
//! - *lost* when none of the processes that held it is still live (it died with them);
//! - *discarded* when some process that held it is live but moved on: a later write by
//!   someone who never had it replaced it (a new host that had not received its
//!   predecessor's last `clock`), or the sides of a split merged and the shared writes of
//!   one side were dropped. It stays discarded when those processes crash later (judged
//!   at the end instead, a long soak counted such writes as lost).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::session::Session;
use crate::store::{Entry, Scope, Version};

/// How long a write no live peer holds may still be on the wire (a crashed writer's last
/// datagram, a relay's resends) before it is judged lost or discarded.
const VANISHED_AFTER: Duration = Duration::from_secs(5);

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
    /// Since when no live peer holds it (it may still be on the wire).
    unheld_since: Option<Duration>,
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

/// A write counted as lost (see [`WriteOutcome::lost`]), for a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostWrite {
    /// The entry's scope.
    pub scope: Scope,
    /// The entry's key.
    pub key: String,
    /// The version written.
    pub version: Version,
    /// The writer's node.
    pub writer: usize,
    /// When the writer's process started.
    pub writer_started: Duration,
    /// Whether it wrote as the host.
    pub as_host: bool,
    /// How many processes held it.
    pub holders: usize,
}

/// Every recorded write not yet held by every live peer.
#[derive(Debug, Default)]
pub(super) struct WriteLedger {
    open: Vec<Write>,
    recorded: u64,
    /// Acknowledged writes that vanished (no live peer held them any more), judged when
    /// they vanished: lost, and discarded (see [`WriteOutcome`]).
    lost: Vec<Write>,
    discarded: u64,
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
            unheld_since: None,
        });
    }

    /// Notes who holds each open write now; returns the writes every live peer holds
    /// (settled, removed from the ledger). A write no live peer has held for
    /// [`VANISHED_AFTER`] is judged then (past anything still on the wire, it cannot come
    /// back: only a live peer could hand it on): lost if every process that held it is
    /// gone, discarded if one is live and moved on.
    pub(super) fn observe(&mut self, live: &[LivePeer<'_>], now: Duration) -> Vec<(Scope, String, Version)> {
        let mut settled = Vec::new();
        let mut vanished = Vec::new();
        self.open.retain_mut(|w| {
            let mut all = !live.is_empty();
            let mut any = false;
            for (holder, s) in live {
                if w.held_by(s) {
                    w.holders.insert(*holder);
                    any = true;
                } else {
                    all = false;
                }
            }
            if all {
                settled.push((w.scope, std::mem::take(&mut w.key), w.version));
            } else if any || live.is_empty() {
                w.unheld_since = None;
            } else if now.saturating_sub(*w.unheld_since.get_or_insert(now)) >= VANISHED_AFTER {
                vanished.push(w.clone());
                return false;
            }
            !all
        });
        for w in vanished.into_iter().filter(Write::acknowledged) {
            if live.iter().any(|(h, _)| w.holders.contains(h)) {
                self.discarded += 1;
            } else {
                self.lost.push(w);
            }
        }
        settled
    }

    /// What became of the writes, judged against the peers live now.
    pub(super) fn outcome(&self, live: &[LivePeer<'_>]) -> WriteOutcome {
        let mut out = WriteOutcome {
            recorded: self.recorded,
            lost: self.lost.len() as u64,
            discarded: self.discarded,
        };
        // Writes that vanished since the last observation.
        for w in self.open.iter().filter(|w| w.acknowledged()) {
            if !live.iter().any(|(_, s)| w.held_by(s)) {
                if live.iter().any(|(h, _)| w.holders.contains(h)) {
                    out.discarded += 1;
                } else {
                    out.lost += 1;
                }
            }
        }
        out
    }

    /// The writes [`WriteLedger::outcome`] counts as lost: (scope, key, version, writer,
    /// whether it wrote as host, how many processes held it).
    pub(super) fn lost(&self, live: &[LivePeer<'_>]) -> Vec<LostWrite> {
        let vanished_now = self.open.iter().filter(|w| {
            w.acknowledged()
                && !live.iter().any(|(_, s)| w.held_by(s))
                && !live.iter().any(|(h, _)| w.holders.contains(h))
        });
        self.lost
            .iter()
            .chain(vanished_now)
            .map(|w| LostWrite {
                scope: w.scope,
                key: w.key.clone(),
                version: w.version,
                writer: w.writer.0,
                writer_started: w.writer.1,
                as_host: w.on_host,
                holders: w.holders.len(),
            })
            .collect()
    }
}
