//! Per-link snapshot streams of one session: every peer publishes a stream of the entities
//! it owns; the host also publishes the shared stream. Each stream is delta-encoded per
//! receiver against what that receiver acknowledged.

use std::collections::BTreeMap;

use super::delta::{DeltaReceiver, DeltaSender, Schema, Snapshot, SnapshotError};
use crate::PeerId;
use crate::protocol::TickAck;

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
}

/// What goes to one peer at one send tick.
pub(crate) struct Outgoing {
    /// Our own stream, delta-encoded for that peer.
    pub(crate) own: Option<Vec<u8>>,
    /// The shared stream (when we host).
    pub(crate) shared: Option<Vec<u8>>,
    /// Our acknowledgements of its own and shared streams.
    pub(crate) acks: [Option<TickAck>; 2],
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
    pub(crate) fn outgoing(&mut self, peer: PeerId, host: bool, budgets: Budgets) -> Outgoing {
        let mut encode = |stream: Stream, snapshot: Option<&Snapshot>| {
            let snapshot = snapshot?;
            let sender = self.senders.entry((peer, stream)).or_default();
            let budget = match stream {
                Stream::Own => budgets.own,
                Stream::Shared => budgets.shared,
            };
            match sender.encode_within(&self.schema, snapshot, budget) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    log::warn!("cannot encode snapshot: {e}");
                    None
                }
            }
        };
        let own = encode(Stream::Own, self.own.as_ref());
        let shared = if host && budgets.shared_due {
            encode(Stream::Shared, self.shared.as_ref())
        } else {
            None
        };
        self.stats.payload_bytes_sent +=
            (own.as_ref().map_or(0, Vec::len) + shared.as_ref().map_or(0, Vec::len)) as u64;
        let ack = |s: Stream| {
            self.receivers
                .get(&(peer, s))
                .and_then(DeltaReceiver::last_tick)
                .map(TickAck::of)
        };
        Outgoing {
            own,
            shared,
            acks: [ack(Stream::Own), ack(Stream::Shared)],
        }
    }

    /// Applies what `peer` sent; `peer_is_host` decides whether its shared stream counts.
    pub(crate) fn incoming(
        &mut self,
        peer: PeerId,
        peer_is_host: bool,
        own: Option<&[u8]>,
        shared: Option<&[u8]>,
        acks: [Option<TickAck>; 2],
    ) -> Result<(), SnapshotError> {
        for (stream, ack) in [(Stream::Own, acks[0]), (Stream::Shared, acks[1])] {
            if let (Some(ack), Some(sender)) = (ack, self.senders.get_mut(&(peer, stream))) {
                let tick = sender.sent_ticks().rev().find(|t| ack.matches(*t));
                if let Some(tick) = tick {
                    sender.ack(tick);
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

    /// Forgets the link state with `peer` (a new link starts with full snapshots).
    pub(crate) fn reset_link(&mut self, peer: PeerId) {
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
