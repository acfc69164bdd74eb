//! Per-link snapshot streams of one session: every peer publishes a stream of the entities
//! it owns; the host also publishes the shared stream. Each stream is delta-encoded per
//! receiver against what that receiver acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::delta::{DeltaReceiver, DeltaSender, Header, Schema, Snapshot, SnapshotError, peek_header};
use crate::PeerId;
use crate::protocol::TickAck;

/// How long a reliable full shared snapshot may go unacknowledged before it is sent again.
const FULL_SNAPSHOT_RETRY: Duration = Duration::from_secs(1);

/// Round-trip samples kept per peer (the smallest is the estimate).
const RTT_SAMPLES: usize = 16;
/// Own-stream send times kept per peer.
const RTT_SENT_KEPT: usize = 64;

/// Round trips measured from snapshot acknowledgements: when each tick of our own stream
/// went to a peer, and when the peer acknowledged it, less how long the peer says the
/// snapshot waited for its next heartbeat; the smallest of the recent samples is the
/// estimate (queueing only ever adds).
#[derive(Debug, Default)]
struct RttProbe {
    sent: VecDeque<(u32, Duration)>,
    acked: Option<u32>,
    samples: VecDeque<Duration>,
}

impl RttProbe {
    fn sent(&mut self, tick: u32, now: Duration) {
        if self.sent.back().is_some_and(|(t, _)| *t == tick) {
            return;
        }
        self.sent.push_back((tick, now));
        if self.sent.len() > RTT_SENT_KEPT {
            self.sent.pop_front();
        }
    }

    fn acked(&mut self, tick: u32, now: Duration, held: Duration) {
        if self.acked.is_some_and(|a| tick <= a) {
            return;
        }
        self.acked = Some(tick);
        if let Some((_, at)) = self.sent.iter().find(|(t, _)| *t == tick) {
            self.samples.push_back(now.saturating_sub(*at).saturating_sub(held));
            if self.samples.len() > RTT_SAMPLES {
                self.samples.pop_front();
            }
        }
    }

    fn estimate(&self) -> Option<Duration> {
        self.samples.iter().min().copied()
    }
}

/// Which of a sender's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stream {
    /// Entities the sender owns (its player).
    Own,
    /// Shared entities (only the host sends these).
    Shared,
}

/// Most bytes of each stream per heartbeat (see [`crate::SessionConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budgets {
    pub(crate) own: usize,
    pub(crate) shared: usize,
    /// Whether the shared stream goes this time (see `SessionConfig::shared_interval`).
    pub(crate) shared_due: bool,
    /// Whether the peer is known to be in the session (it sent a heartbeat), and so can take
    /// a full snapshot (a joiner ignores state until its welcome).
    pub(crate) welcomed: bool,
}

/// What goes to one peer at one send tick.
pub(crate) struct Outgoing {
    /// Our own stream, delta-encoded for that peer.
    pub(crate) own: Option<Vec<u8>>,
    /// The shared stream (when we host).
    pub(crate) shared: Option<Vec<u8>>,
    /// The whole shared stream, for the reliable channel, to a peer that has no baseline.
    pub(crate) full_shared: Option<Vec<u8>>,
    /// Our acknowledgements of its own and shared streams.
    pub(crate) acks: [Option<TickAck>; 2],
    /// How long the own-stream snapshot we acknowledge has waited here, in ms.
    pub(crate) held_ms: u8,
}

/// The snapshot part of a heartbeat that arrived (see `protocol::Message::Heartbeat`).
pub(crate) struct Incoming<'a> {
    pub(crate) own: Option<&'a [u8]>,
    pub(crate) shared: Option<&'a [u8]>,
    pub(crate) acks: [Option<TickAck>; 2],
    pub(crate) held_ms: u8,
}

/// Counters of snapshot replication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    /// Snapshots decoded and applied.
    pub applied: u64,
    /// Snapshots rejected (malformed, unknown baseline, shared state from a non-host).
    pub rejected: u64,
    /// Snapshot payload bytes sent (before renet and netcode headers).
    pub payload_bytes_sent: u64,
    /// Own-stream messages sent (one per heartbeat that carried it, per peer).
    pub own_sent: u64,
    /// Shared-stream messages sent (deltas and reliable full snapshots, per peer).
    pub shared_sent: u64,
}

/// The replication state of one session.
#[derive(Debug, Default)]
pub(crate) struct Replication {
    pub(crate) schema: Schema,
    own: Option<Snapshot>,
    shared: Option<Snapshot>,
    senders: BTreeMap<(PeerId, Stream), DeltaSender>,
    receivers: BTreeMap<(PeerId, Stream), DeltaReceiver>,
    /// Latest own-stream snapshot of every peer (kept while its seat is held).
    pub(crate) remote: BTreeMap<PeerId, Snapshot>,
    /// Latest shared snapshot and the host that sent it.
    pub(crate) shared_state: Option<(PeerId, Snapshot)>,
    pub(crate) stats: ReplicationStats,
    /// When the last reliable full shared snapshot went to each peer.
    full_sent_at: BTreeMap<PeerId, Duration>,
    /// Round trips per peer, from acknowledgements of our own stream.
    rtt: BTreeMap<PeerId, RttProbe>,
    /// The newest own-stream tick of each peer and when it arrived (for `held_ms`).
    own_arrived: BTreeMap<PeerId, (u32, Duration)>,
}

impl Replication {
    pub(crate) fn publish(&mut self, stream: Stream, snapshot: Snapshot) {
        match stream {
            Stream::Own => self.own = Some(snapshot),
            Stream::Shared => self.shared = Some(snapshot),
        }
    }

    /// The encoded streams for `peer` (own, and shared when `host`), and our acks of its
    /// streams.
    pub(crate) fn outgoing(&mut self, peer: PeerId, host: bool, budgets: Budgets, now: Duration) -> Outgoing {
        let own = self.own.as_ref().and_then(|snapshot| {
            let sender = self.senders.entry((peer, Stream::Own)).or_default();
            let bytes = encode_logged(sender.encode_within(&self.schema, snapshot, budgets.own))?;
            self.rtt.entry(peer).or_default().sent(snapshot.tick, now);
            Some(bytes)
        });
        let mut full_shared = None;
        let shared = match self.shared.as_ref() {
            Some(snapshot) if host => {
                let sender = self.senders.entry((peer, Stream::Shared)).or_default();
                let retry = sender.awaiting_full()
                    && self
                        .full_sent_at
                        .get(&peer)
                        .is_none_or(|t| now >= *t + FULL_SNAPSHOT_RETRY);
                if !budgets.welcomed {
                    None
                } else if sender.is_fresh() || retry {
                    // A peer with nothing of ours gets the whole world reliably first (again
                    // if it never acknowledged it: it may have come before its welcome).
                    full_shared = encode_logged(sender.encode_full(&self.schema, snapshot));
                    self.full_sent_at.insert(peer, now);
                    None
                } else if budgets.shared_due && !sender.awaiting_full() {
                    encode_logged(sender.encode_within(&self.schema, snapshot, budgets.shared))
                } else {
                    None
                }
            }
            _ => None,
        };
        let sizes = [&own, &shared, &full_shared].map(|b| b.as_ref().map_or(0, Vec::len));
        self.stats.payload_bytes_sent += sizes.iter().sum::<usize>() as u64;
        self.stats.own_sent += u64::from(own.is_some());
        self.stats.shared_sent += u64::from(shared.is_some() || full_shared.is_some());
        let ack = |s: Stream| {
            self.receivers
                .get(&(peer, s))
                .and_then(DeltaReceiver::last_tick)
                .map(TickAck::of)
        };
        let held_ms = self
            .own_arrived
            .get(&peer)
            .map_or(0, |(_, at)| now.saturating_sub(*at).as_millis().min(255) as u8);
        Outgoing {
            own,
            shared,
            full_shared,
            held_ms,
            acks: [ack(Stream::Own), ack(Stream::Shared)],
        }
    }

    /// Applies what `peer` sent in a heartbeat; `peer_is_host` decides whether its shared
    /// stream counts.
    pub(crate) fn incoming(
        &mut self,
        peer: PeerId,
        peer_is_host: bool,
        heartbeat: Incoming<'_>,
        now: Duration,
    ) -> Result<(), SnapshotError> {
        let Incoming {
            own,
            shared,
            acks,
            held_ms,
        } = heartbeat;
        for (stream, ack) in [(Stream::Own, acks[0]), (Stream::Shared, acks[1])] {
            if let (Some(ack), Some(sender)) = (ack, self.senders.get_mut(&(peer, stream))) {
                let tick = sender.sent_ticks().rev().find(|t| ack.matches(*t));
                if let Some(tick) = tick {
                    sender.ack(tick);
                    if stream == Stream::Own {
                        let held = Duration::from_millis(u64::from(held_ms));
                        self.rtt.entry(peer).or_default().acked(tick, now, held);
                    }
                }
            }
        }
        let mut result = Ok(());
        if let Some(bytes) = own {
            match self
                .receivers
                .entry((peer, Stream::Own))
                .or_default()
                .decode(&self.schema, bytes)
            {
                Ok(s) => {
                    self.stats.applied += 1;
                    if let Some(s) = s {
                        self.own_arrived.insert(peer, (s.tick, now));
                        self.remote.insert(peer, s);
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        if let Some(bytes) = shared {
            if !peer_is_host {
                result = Err(SnapshotError::NotOwner);
            } else {
                match self
                    .receivers
                    .entry((peer, Stream::Shared))
                    .or_default()
                    .decode(&self.schema, bytes)
                {
                    Ok(s) => {
                        self.stats.applied += 1;
                        if let Some(s) = s {
                            self.shared_state = Some((peer, s));
                        }
                    }
                    Err(e) => result = Err(e),
                }
            }
        }
        if result.is_err() {
            self.stats.rejected += 1;
        }
        result
    }

    /// The round trip to `peer` measured from snapshot acknowledgements, if any yet.
    pub(crate) fn rtt(&self, peer: PeerId) -> Option<Duration> {
        self.rtt.get(&peer).and_then(RttProbe::estimate)
    }

    /// Applies a whole shared snapshot `peer` sent reliably (see [`Outgoing::full_shared`]).
    pub(crate) fn incoming_full(
        &mut self,
        peer: PeerId,
        peer_is_host: bool,
        bytes: &[u8],
    ) -> Result<(), SnapshotError> {
        let result = if !peer_is_host {
            Err(SnapshotError::NotOwner)
        } else if !matches!(peek_header(bytes), Ok(Header::Full { .. })) {
            Err(SnapshotError::NotFull)
        } else {
            let receiver = self.receivers.entry((peer, Stream::Shared)).or_default();
            receiver.decode(&self.schema, bytes).map(|s| {
                if let Some(s) = s {
                    self.shared_state = Some((peer, s));
                }
            })
        };
        match result {
            Ok(()) => self.stats.applied += 1,
            Err(_) => self.stats.rejected += 1,
        }
        result
    }

    /// Forgets the link state with `peer` (a new link starts with full snapshots).
    pub(crate) fn reset_link(&mut self, peer: PeerId) {
        self.full_sent_at.remove(&peer);
        self.rtt.remove(&peer);
        self.own_arrived.remove(&peer);
        for stream in [Stream::Own, Stream::Shared] {
            self.senders.remove(&(peer, stream));
            self.receivers.remove(&(peer, stream));
        }
    }

    /// Forgets everything about a peer that left the roster.
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.reset_link(peer);
        self.remote.remove(&peer);
    }
}

/// The bytes, or `None` with a warning (our own state failed to encode: a game bug, not
/// a remote peer's).
fn encode_logged(result: Result<Vec<u8>, SnapshotError>) -> Option<Vec<u8>> {
    result.inspect_err(|e| log::warn!("cannot encode snapshot: {e}")).ok()
}
