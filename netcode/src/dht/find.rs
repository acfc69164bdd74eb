//! The joiner's side of DHT discovery: read the session record, report its members'
//! candidates, and knock (put its own candidates in the knock item) until admitted,
//! cancelled, or out of time. Sans-IO, like [`super::publish::Publisher`].

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use thiserror::Error;

use super::item::{DhtReply, DhtRequest, PutFailure};
use super::keys::DhtKeys;
use super::publish::REQUEST_TIMEOUT;
use super::record::{DhtStats, Knock, SessionRecord};
use crate::protocol::Candidates;

/// A get that found no usable record is sent again this long after it was sent.
pub const RETRY_GET: Duration = Duration::from_secs(2);
/// Once a record is found it is read again this often (only a newer one comes back): the
/// host may change while we knock.
pub const RECHECK: Duration = Duration::from_secs(10);
/// How long the first knock waits for our public candidates (STUN's answer, a mapped port):
/// a knock naming only home-network addresses has the host punch towards nothing, and the
/// next knock waits for the first one's put (2.1 s on the lab's DHT). A candidate that
/// comes sooner sends the knock at once ([`Finder::set_candidates`]).
pub const FIRST_KNOCK_WAIT: Duration = Duration::from_secs(1);
/// The knock is put again this often (a newer date, the same join nonce): another joiner
/// may have overwritten it, and DHT nodes come and go.
pub const KNOCK_REPEAT: Duration = Duration::from_secs(5);

/// Why a join through the DHT gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FindFailure {
    /// The DHT answered, but holds no usable record under the invite's key: nobody in the
    /// session publishes (it ended, or no member is online), or the code is not a session's.
    #[error("no session record under this invite after {gets} lookups in {secs} s: is any member online?")]
    NothingFound {
        /// Gets sent.
        gets: u64,
        /// Seconds tried.
        secs: u64,
    },
    /// The record was found and we knocked, but nobody let us in within the time.
    #[error("found the session (epoch {epoch}) and knocked {knocks} times in {secs} s, but no member answered")]
    NotAnswered {
        /// The newest record's epoch.
        epoch: u64,
        /// Knocks stored.
        knocks: u64,
        /// Seconds tried.
        secs: u64,
    },
    /// No DHT node answered: not reachable from here (no bootstrap node, or blocked).
    #[error("no DHT node answered in {secs} s")]
    DhtSilent {
        /// Seconds tried.
        secs: u64,
    },
}

/// What the finder reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinderEvent {
    /// A session record (the first, and each newer one): dial its members.
    Found(SessionRecord),
    /// It gave up.
    Failed(FindFailure),
}

/// The joiner's side.
#[derive(Debug)]
pub struct Finder {
    keys: DhtKeys,
    rng: StdRng,
    candidates: Candidates,
    nonce: [u8; 16],
    deadline: Duration,
    started: Duration,
    done: bool,
    next_id: u64,
    get: Option<(u64, Duration)>,
    next_get: Duration,
    record_seq: Option<i64>,
    newest: Option<(u64, u64)>,
    put: Option<(u64, Duration, i64)>,
    next_knock: Duration,
    knock_seq: i64,
    knocks_stored: u64,
    dht_answered: bool,
    no_nodes: bool,
    replies: u64,
    events: VecDeque<FinderEvent>,
    stats: DhtStats,
    /// What starts its log lines (see [`Finder::set_log_tag`]).
    tag: crate::LogTag,
}

impl Finder {
    /// Starts its log lines with the session's tag ([`crate::Session::log_tag`]).
    pub(crate) fn set_log_tag(&mut self, tag: crate::LogTag) {
        self.tag = tag;
    }

    /// Starts looking for the session whose keys are `keys` at `now`, knocking with
    /// `candidates` (ours: the game socket's; none yet makes the first knock wait for them,
    /// at most [`FIRST_KNOCK_WAIT`]), giving up after `timeout`; `seed` seeds the nonces
    /// (draw it at random).
    pub fn new(keys: DhtKeys, candidates: Candidates, now: Duration, timeout: Duration, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let first_knock = if candidates.addrs.is_empty() {
            now + FIRST_KNOCK_WAIT
        } else {
            now
        };
        Self {
            keys,
            nonce: rng.random(),
            rng,
            candidates,
            deadline: now + timeout,
            started: now,
            done: false,
            next_id: 0,
            get: None,
            next_get: now,
            record_seq: None,
            newest: None,
            put: None,
            next_knock: first_knock,
            knock_seq: 0,
            knocks_stored: 0,
            dht_answered: false,
            no_nodes: false,
            replies: 0,
            events: VecDeque::new(),
            stats: DhtStats::default(),
            tag: crate::LogTag::default(),
        }
    }

    /// Our candidates changed (STUN or the router answered late): the next knock says so.
    pub fn set_candidates(&mut self, candidates: Candidates, now: Duration) {
        if candidates != self.candidates {
            self.candidates = candidates;
            self.next_knock = self.next_knock.min(now);
        }
    }

    /// When it started looking.
    pub fn started(&self) -> Duration {
        self.started
    }

    /// We are in the session: nothing more is sent.
    pub fn admitted(&mut self) {
        self.done = true;
    }

    /// The join was given up: nothing more is sent.
    pub fn cancel(&mut self) {
        self.done = true;
    }

    /// Whether it is over (admitted, cancelled or failed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next request for the DHT client, if one is due. The first knock needs nothing
    /// from the record: it goes once our candidates are known (or [`FIRST_KNOCK_WAIT`]
    /// passed), whether the get of the record answered or not.
    pub fn poll_request(&mut self, now: Duration, unix_ms: u64) -> Option<DhtRequest> {
        self.check_deadline(now);
        if self.done {
            return None;
        }
        if self.get.is_some_and(|(_, sent)| now >= sent + REQUEST_TIMEOUT) {
            self.get = None;
        }
        if self.put.is_some_and(|(_, sent, _)| now >= sent + REQUEST_TIMEOUT) {
            self.put = None;
        }
        if self.get.is_none() && now >= self.next_get {
            let id = self.take_id();
            self.get = Some((id, now));
            self.next_get = now + if self.newest.is_some() { RECHECK } else { RETRY_GET };
            self.stats.gets += 1;
            return Some(DhtRequest::Get {
                id,
                item: self.keys.record.clone(),
                newer_than: self.record_seq,
            });
        }
        if self.put.is_none() && now >= self.next_knock {
            let id = self.take_id();
            let knock = Knock {
                candidates: self.candidates.clone(),
                at: unix_ms,
                nonce: self.nonce,
            };
            let seq = i64::try_from(unix_ms)
                .unwrap_or(i64::MAX)
                .max(self.knock_seq.saturating_add(1));
            self.knock_seq = seq;
            self.put = Some((id, now, seq));
            self.next_knock = now + KNOCK_REPEAT;
            self.stats.puts += 1;
            return Some(DhtRequest::Put {
                id,
                item: self.keys.knock.clone(),
                seq,
                cas: None,
                value: knock.seal(&self.keys, self.rng.random()),
            });
        }
        None
    }

    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Takes the client's answer to one of our requests (others are ignored).
    pub fn handle_reply(&mut self, reply: DhtReply, now: Duration, unix_ms: u64) {
        match reply {
            DhtReply::Got { id, found, .. } if self.get.is_some_and(|(want, _)| want == id) => {
                self.replies += 1;
                self.get = None;
                self.got(found, unix_ms);
            }
            DhtReply::Put { id, outcome, .. } if self.put.is_some_and(|(want, ..)| want == id) => {
                let Some((_, _, seq)) = self.put.take() else {
                    unreachable!("matched above")
                };
                self.replies += 1;
                match outcome {
                    Ok(()) => {
                        self.dht_answered = true;
                        self.knocks_stored += 1;
                    }
                    Err(PutFailure::NewerExists | PutFailure::CasMismatch) => {
                        // Another joiner's knock is dated later (its clock is ahead, at
                        // most CLOCK_SKEW_MS): ours goes out again at once, a minute later.
                        self.dht_answered = true;
                        self.knock_seq = seq.saturating_add(60_000);
                        self.next_knock = now;
                    }
                    Err(PutFailure::NoNodes | PutFailure::TooLarge) => self.no_nodes = true,
                }
            }
            _ => log::debug!("{} dht: a reply to no request of the finder's", self.tag),
        }
        self.check_deadline(now);
    }

    fn got(&mut self, found: Option<(i64, Vec<u8>)>, unix_ms: u64) {
        let Some((seq, value)) = found else { return };
        self.dht_answered = true;
        let newest_ms = self.newest.map(|(at, _)| at);
        // Only a higher number is asked for next, whether this one opened or not.
        self.record_seq = Some(seq);
        match SessionRecord::open(&self.keys, &value, unix_ms, newest_ms) {
            Ok(record) => {
                let fresh = newest_ms != Some(record.published_at);
                self.newest = Some((record.published_at, record.epoch));
                if fresh && !self.done {
                    self.events.push_back(FinderEvent::Found(record));
                }
            }
            Err(error) => {
                log::debug!("{} dht: a session record (seq {seq}) is refused: {error}", self.tag);
                self.stats.refused(&error);
            }
        }
    }

    fn check_deadline(&mut self, now: Duration) {
        if self.done || now < self.deadline {
            return;
        }
        self.done = true;
        let secs = (now - self.started).as_secs();
        let failure = match self.newest {
            Some((_, epoch)) => FindFailure::NotAnswered {
                epoch,
                knocks: self.knocks_stored,
                secs,
            },
            None if self.dht_answered || (!self.no_nodes && self.replies > 0) => FindFailure::NothingFound {
                gets: self.stats.gets,
                secs,
            },
            None => FindFailure::DhtSilent { secs },
        };
        log::info!("{} dht: join given up: {failure}", self.tag);
        self.events.push_back(FinderEvent::Failed(failure));
    }

    /// The next thing the finder reports.
    pub fn poll_event(&mut self) -> Option<FinderEvent> {
        self.events.pop_front()
    }

    /// When [`Finder::poll_request`] may have something next (`None` once it is over).
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.done {
            return None;
        }
        let get = match self.get {
            Some((_, sent)) => sent + REQUEST_TIMEOUT,
            None => self.next_get,
        };
        let knock = match self.put {
            Some((_, sent, _)) => sent + REQUEST_TIMEOUT,
            None => self.next_knock,
        };
        Some(get.min(knock).min(self.deadline))
    }

    /// What it sent and refused.
    pub fn stats(&self) -> DhtStats {
        self.stats
    }
}
