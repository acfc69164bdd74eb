//! The member side of DHT discovery: the host publishes the session record and, while the
//! session accepts joiners, polls the knock item. Sans-IO: fed the session's facts, the
//! virtual clock and the wall clock's unix ms, it emits [`DhtRequest`]s and takes
//! [`DhtReply`]s (see `docs/design.md`, "Discovery on the Mainline DHT").

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::item::{DhtReply, DhtRequest, PutFailure};
use super::keys::DhtKeys;
use super::knocks::KnockReader;
use super::record::{DhtStats, MemberRecord, SessionRecord};
use crate::PeerId;
use crate::protocol::Candidates;

/// Least time between two puts of the record: changes within it are coalesced into one.
pub const MIN_PUT_INTERVAL: Duration = Duration::from_secs(5);
/// The record is put again this long after the last put: BEP44 nodes drop an item after
/// about 2 hours, and nodes come and go, so 4 times within an item's life.
pub const REFRESH: Duration = Duration::from_secs(30 * 60);
/// After a put no node stored, or a read that found no node, the next try waits this long.
pub const RETRY: Duration = Duration::from_secs(10);
/// A request the client never answered is forgotten after this long (its own timeout is
/// seconds).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// BEP44 sequence numbers are `epoch << EPOCH_SHIFT` plus a count of the epoch's puts, so
/// that nodes keep a higher epoch's record whatever the order of the puts.
pub const EPOCH_SHIFT: u32 = 24;

/// What the session tells the publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    /// This member.
    pub me: PeerId,
    /// The current host.
    pub host: PeerId,
    /// The host's epoch.
    pub epoch: u64,
    /// The members and their candidates (the host among them).
    pub members: Vec<MemberRecord>,
    /// Whether the session takes joiners (the host then polls the knock item).
    pub accepting: bool,
}

impl SessionFacts {
    fn is_host(&self) -> bool {
        self.me == self.host
    }
}

/// What the publisher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherEvent {
    /// A joiner knocked: punch towards these candidates.
    Knock {
        /// The joiner's candidates.
        candidates: Candidates,
        /// When it knocked (its clock, unix ms).
        at_ms: u64,
    },
    /// The DHT holds a record of a higher epoch (or of another host at ours, written
    /// first): we stop publishing until our own facts change.
    Superseded {
        /// Its epoch.
        epoch: u64,
        /// Its host.
        host: PeerId,
    },
    /// Our record was stored.
    Published {
        /// Its sequence number.
        seq: i64,
        /// Members it lists (fewer than the session's when they did not fit).
        members: usize,
        /// Its sealed size.
        bytes: usize,
    },
}

/// What the DHT holds under the record item, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// Read it before writing.
    Unknown,
    /// Nothing there.
    Empty,
    /// An item: its sequence number and, when it opened, its epoch and host.
    Item { seq: i64, owner: Option<(u64, PeerId)> },
}

#[derive(Debug, Clone, Copy)]
enum InFlight {
    Read {
        id: u64,
        sent: Duration,
    },
    Write {
        id: u64,
        sent: Duration,
        seq: i64,
        generation: u64,
        members: usize,
        bytes: usize,
        published_at: u64,
    },
}

/// The host's side: publishes the session record and reads joiners' knocks.
#[derive(Debug)]
pub struct Publisher {
    keys: DhtKeys,
    rng: StdRng,
    facts: Option<SessionFacts>,
    next_id: u64,
    view: View,
    in_flight: Option<InFlight>,
    /// Bumped on each change of what the record says.
    generation: u64,
    published: Option<u64>,
    last_put: Option<Duration>,
    retry_at: Duration,
    refresh_at: Duration,
    yielded: bool,
    newest_ms: Option<u64>,
    knocks: KnockReader,
    /// What starts its log lines (see [`Publisher::set_log_tag`]).
    tag: crate::LogTag,
    events: VecDeque<PublisherEvent>,
    stats: DhtStats,
}

impl Publisher {
    /// Starts its log lines with the session's tag ([`crate::Session::log_tag`]).
    pub(crate) fn set_log_tag(&mut self, tag: crate::LogTag) {
        self.tag = tag;
        self.knocks.tag = tag;
    }

    /// A publisher for the session whose keys are `keys`; `seed` seeds the seals' nonces
    /// (draw it at random).
    pub fn new(keys: DhtKeys, seed: u64) -> Self {
        Self {
            keys,
            rng: StdRng::seed_from_u64(seed),
            facts: None,
            next_id: 0,
            view: View::Unknown,
            in_flight: None,
            generation: 0,
            published: None,
            last_put: None,
            retry_at: Duration::ZERO,
            refresh_at: Duration::ZERO,
            yielded: false,
            newest_ms: None,
            knocks: KnockReader::default(),
            tag: crate::LogTag::default(),
            events: VecDeque::new(),
            stats: DhtStats::default(),
        }
    }

    /// The session's facts now. A change of host or epoch makes the record be read again
    /// before it is written; a change of what the record says makes it be put (at most
    /// every [`MIN_PUT_INTERVAL`]); both, and joiners being accepted again, make the knock
    /// item polled fast for a while.
    pub fn set_facts(&mut self, facts: SessionFacts, now: Duration) {
        let old = self.facts.replace(facts);
        let new = self.facts.as_ref().expect("just set");
        let role = old
            .as_ref()
            .is_none_or(|o| (o.host, o.epoch, o.me) != (new.host, new.epoch, new.me));
        let content = role || old.as_ref().is_some_and(|o| o.members != new.members);
        let opened = new.accepting && old.as_ref().is_none_or(|o| !o.accepting);
        if role {
            self.view = View::Unknown;
            self.yielded = false;
            self.retry_at = now;
        }
        if content {
            self.generation += 1;
        }
        if new.is_host() && (content || opened) {
            self.knocks.hurry(now);
        }
    }

    /// The next request for the DHT client, if one is due.
    pub fn poll_request(&mut self, now: Duration, unix_ms: u64) -> Option<DhtRequest> {
        self.forget_lost(now);
        let facts = self.facts.as_ref().filter(|f| f.is_host())?;
        if let Some(request) = self.knocks.poll(&self.keys, facts.accepting, now, &mut self.next_id) {
            self.stats.gets += 1;
            return Some(request);
        }
        if self.in_flight.is_some() || self.yielded || now < self.retry_at {
            return None;
        }
        let id = self.next_id;
        match self.view {
            View::Unknown => {
                self.next_id += 1;
                self.stats.gets += 1;
                self.in_flight = Some(InFlight::Read { id, sent: now });
                Some(DhtRequest::Get {
                    id,
                    item: self.keys.record.clone(),
                    newer_than: None,
                })
            }
            View::Empty | View::Item { .. } => {
                if now < self.put_due() {
                    return None;
                }
                self.next_id += 1;
                Some(self.put(id, now, unix_ms))
            }
        }
    }

    /// When a put is due: a change not yet published or the refresh, and not before
    /// [`MIN_PUT_INTERVAL`] after the last put.
    fn put_due(&self) -> Duration {
        let earliest = self.last_put.map_or(Duration::ZERO, |t| t + MIN_PUT_INTERVAL);
        let wanted = if self.published == Some(self.generation) {
            self.refresh_at
        } else {
            Duration::ZERO
        };
        earliest.max(wanted).max(self.retry_at)
    }

    fn put(&mut self, id: u64, now: Duration, unix_ms: u64) -> DhtRequest {
        let facts = self.facts.as_ref().expect("only a host puts");
        let mut members: Vec<MemberRecord> = facts.members.iter().filter(|m| m.id == facts.host).cloned().collect();
        members.extend(facts.members.iter().filter(|m| m.id != facts.host).cloned());
        if members.is_empty() {
            members.push(MemberRecord {
                id: facts.host,
                candidates: Candidates::default(),
            });
        }
        let record = SessionRecord {
            host: facts.host,
            epoch: facts.epoch,
            members,
            published_at: unix_ms,
        }
        .fitted();
        let value = record.seal(&self.keys, self.rng.random());
        let base = i64::try_from(facts.epoch.min(u64::MAX >> (EPOCH_SHIFT + 1)) << EPOCH_SHIFT).unwrap_or(i64::MAX);
        let (seq, cas) = match self.view {
            View::Item { seq, .. } => (base.max(seq.saturating_add(1)), Some(seq)),
            _ => (base, None),
        };
        self.stats.puts += 1;
        self.last_put = Some(now);
        self.in_flight = Some(InFlight::Write {
            id,
            sent: now,
            seq,
            generation: self.generation,
            members: record.members.len(),
            bytes: value.len(),
            published_at: unix_ms,
        });
        DhtRequest::Put {
            id,
            item: self.keys.record.clone(),
            seq,
            cas,
            value,
        }
    }

    /// Takes the client's answer to one of our requests (others are ignored).
    pub fn handle_reply(&mut self, reply: DhtReply, now: Duration, unix_ms: u64) {
        let id = match &reply {
            DhtReply::Put { id, .. } | DhtReply::Got { id, .. } => *id,
        };
        if let DhtReply::Got { found, .. } = &reply
            && self.knocks.owns(id)
        {
            let accepting = self.facts.as_ref().is_some_and(|f| f.is_host() && f.accepting);
            if let Some(event) = self
                .knocks
                .got(&self.keys, found.as_ref(), accepting, now, unix_ms, &mut self.stats)
            {
                self.events.push_back(event);
            }
            return;
        }
        match (self.in_flight, reply) {
            (Some(InFlight::Read { id: want, .. }), DhtReply::Got { id, found, .. }) if id == want => {
                self.in_flight = None;
                self.read(found, unix_ms);
            }
            (Some(InFlight::Write { id: want, .. }), DhtReply::Put { id, outcome, .. }) if id == want => {
                let Some(InFlight::Write {
                    seq,
                    generation,
                    members,
                    bytes,
                    published_at,
                    ..
                }) = self.in_flight.take()
                else {
                    unreachable!("matched above")
                };
                self.written(outcome, now, seq, generation, (members, bytes, published_at));
            }
            _ => log::debug!("{} dht: a reply to no request of ours ({id})", self.tag),
        }
    }

    fn read(&mut self, found: Option<(i64, Vec<u8>)>, unix_ms: u64) {
        let Some((seq, value)) = found else {
            self.view = View::Empty;
            return;
        };
        let owner = match SessionRecord::open(&self.keys, &value, unix_ms, self.newest_ms) {
            Ok(record) => {
                self.newest_ms = self.newest_ms.max(Some(record.published_at));
                Some((record.epoch, record.host))
            }
            Err(error) => {
                log::debug!(
                    "{} dht: the stored session record (seq {seq}) is refused: {error}",
                    self.tag
                );
                self.stats.refused(&error);
                None
            }
        };
        self.view = View::Item { seq, owner };
        let Some(facts) = &self.facts else { return };
        if let Some((epoch, host)) = owner
            && (epoch > facts.epoch || (epoch == facts.epoch && host != facts.host))
        {
            log::info!(
                "{} dht: the session record names host {host} at epoch {epoch}: not overwriting it",
                self.tag
            );
            self.yielded = true;
            self.events.push_back(PublisherEvent::Superseded { epoch, host });
        }
    }

    fn written(
        &mut self,
        outcome: Result<(), PutFailure>,
        now: Duration,
        seq: i64,
        generation: u64,
        (members, bytes, published_at): (usize, usize, u64),
    ) {
        match outcome {
            Ok(()) => {
                let me = self.facts.as_ref().map(|f| (f.epoch, f.host));
                self.view = View::Item { seq, owner: me };
                self.published = Some(generation);
                self.newest_ms = self.newest_ms.max(Some(published_at));
                self.refresh_at = now + REFRESH;
                self.events.push_back(PublisherEvent::Published { seq, members, bytes });
            }
            Err(PutFailure::CasMismatch | PutFailure::NewerExists) => {
                log::debug!(
                    "{} dht: another writer got there first (seq {seq}): reading again",
                    self.tag
                );
                self.stats.lost_races += 1;
                self.view = View::Unknown;
            }
            Err(failure @ (PutFailure::NoNodes | PutFailure::TooLarge)) => {
                log::debug!(
                    "{} dht: the session record was not stored ({failure:?}): again in {RETRY:?}",
                    self.tag
                );
                self.retry_at = now + RETRY;
            }
        }
    }

    /// Forgets a request the client never answered.
    fn forget_lost(&mut self, now: Duration) {
        if let Some(InFlight::Read { sent, .. } | InFlight::Write { sent, .. }) = self.in_flight
            && now >= sent + REQUEST_TIMEOUT
        {
            self.in_flight = None;
            self.view = View::Unknown;
        }
        self.knocks.forget_lost(now);
    }

    /// The next thing the publisher reports.
    pub fn poll_event(&mut self) -> Option<PublisherEvent> {
        self.events.pop_front()
    }

    /// When [`Publisher::poll_request`] may have something next (`None`: nothing until the
    /// facts change or a reply comes).
    pub fn poll_timeout(&self) -> Option<Duration> {
        let facts = self.facts.as_ref().filter(|f| f.is_host())?;
        let knocks = self.knocks.poll_timeout(facts.accepting);
        let record = match self.in_flight {
            Some(InFlight::Read { sent, .. } | InFlight::Write { sent, .. }) => Some(sent + REQUEST_TIMEOUT),
            None if self.yielded => None,
            None if self.view == View::Unknown => Some(self.retry_at),
            None => Some(self.put_due()),
        };
        [knocks, record].into_iter().flatten().min()
    }

    /// What it sent and refused.
    pub fn stats(&self) -> DhtStats {
        self.stats
    }
}
