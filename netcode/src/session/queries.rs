//! What a game reads from a session, and the snapshot publishing calls.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Credentials, Phase, Session, SessionError, SessionStats};
use crate::PeerId;
use crate::protocol::Refusal;
use crate::roster::Roster;
use crate::snapshot::ReplicationStats;
use crate::snapshot::delta::{Schema, Snapshot};
use crate::snapshot::replicate::Stream;
use crate::store::Store;

impl Session {
    /// This peer's id.
    pub fn peer_id(&self) -> PeerId {
        self.me
    }

    /// What starts this session's log lines: the session and this peer, by the first
    /// bytes of their ids (for a game's own logs of the same session).
    pub fn log_tag(&self) -> crate::LogTag {
        self.tag
    }

    /// Whether this peer refuses `peer`'s links (it misbehaved, or the host expelled it).
    #[cfg(test)]
    pub(crate) fn bans(&self, peer: PeerId) -> bool {
        self.banned.contains_key(&peer)
    }

    /// The credentials to keep for a rejoin after a crash.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            peer: self.me,
            secret: self.secret,
        }
    }

    /// Whom a restarted process of this seat should ask to take it back, best first: the
    /// host (unless it is us), then the other active members in succession order, so that
    /// whoever hosts when the seat comes back is most likely asked first. A host admits a
    /// rejoin itself; any other contact passes it on, two more hops (see `docs/design.md`,
    /// "Membership, join and rejoin").
    pub fn rejoin_contacts(&self) -> Vec<SocketAddr> {
        let roster = &self.roster;
        let mut others: Vec<_> = roster.active().filter(|m| m.id != self.me).collect();
        others.sort_by_key(|m| (m.id != roster.host, m.join_seq, m.id.0));
        others.into_iter().map(|m| m.addr).collect()
    }

    /// The session's id (what seat proofs are bound to).
    pub fn session_id(&self) -> u64 {
        self.authority.session_id
    }

    /// The address this peer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether this peer is a member of a session (joined and not left).
    pub fn in_session(&self) -> bool {
        self.phase == Phase::Member
    }

    /// Whether this peer is still trying to get in (joining or taking its seat back).
    pub fn is_joining(&self) -> bool {
        matches!(self.phase, Phase::Joining { .. })
    }

    /// Whether the graceful leave completed.
    pub fn has_left(&self) -> bool {
        self.phase == Phase::Left
    }

    /// Why the join was refused, if it was.
    pub fn refusal(&self) -> Option<Refusal> {
        match self.phase {
            Phase::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// The host as this peer knows it (`None` before joining).
    pub fn current_host(&self) -> Option<PeerId> {
        self.in_session().then_some(self.roster.host)
    }

    /// Whether this peer is the host.
    pub fn is_host(&self) -> bool {
        self.in_session() && self.roster.host == self.me
    }

    /// The current host epoch.
    pub fn epoch(&self) -> u64 {
        self.roster.epoch
    }

    /// The roster as this peer knows it.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The replicated store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Traffic and rejection counters.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            bytes_sent: self.links.bytes_sent,
            bytes_received: self.links.bytes_received,
            refused_entries: self.authority.refused_entries,
            sliced_heartbeats: self.links.sliced,
            ..self.counters
        }
    }

    /// When anything (direct or relayed) last arrived from `peer`.
    pub fn last_heard(&self, peer: PeerId) -> Option<Duration> {
        self.peers.get(&peer).and_then(|p| p.last_any)
    }

    /// Round-trip time to `peer`: measured from the acknowledgements of our snapshots
    /// while we publish any (they flow on every heartbeat), else renet's estimate of the
    /// direct link (which only moves while reliable messages flow).
    pub fn rtt(&self, peer: PeerId) -> Option<Duration> {
        self.replication
            .rtt(peer)
            .or_else(|| self.links.rtt(peer).map(|s| Duration::from_secs_f64(s.max(0.0))))
    }

    /// Packet loss from `peer` toward us on the direct link, as a fraction of its last
    /// 128 datagrams (counted from their netcode sequence numbers, so snapshots and
    /// heartbeats count too); `None` before anything arrived on the link.
    pub fn packet_loss(&self, peer: PeerId) -> Option<f64> {
        self.links.packet_loss(peer)
    }

    /// Bytes sent to and received from `peer` on the direct link since it came up, as
    /// sealed datagrams on the wire (snapshots, heartbeats and messages); `None` while
    /// there is no direct link. Rates are the differences over time.
    pub fn link_bytes(&self, peer: PeerId) -> Option<(u64, u64)> {
        self.links.link_bytes(peer)
    }

    /// The members this peer suspects now: nothing arrived from them directly for longer
    /// than the adaptive window (they may be declared gone soon).
    pub fn suspected(&self) -> Vec<PeerId> {
        self.suspects()
    }

    /// Declares the entity kinds and field quantisation of the replicated snapshots.
    pub fn set_schema(&mut self, schema: Schema) {
        self.replication.schema = schema;
    }

    /// Publishes the state of the entities this peer owns (its player); it travels with
    /// the next heartbeats, delta-encoded per receiver.
    pub fn publish_own(&mut self, snapshot: Snapshot) {
        self.replication.publish(Stream::Own, snapshot);
    }

    /// Publishes the shared entities (host only): pickups, scores, the match clock. A world
    /// whose whole snapshot (what a late joiner gets in one reliable message) would exceed
    /// `protocol::MAX_SNAPSHOT_BYTES` is refused with [`SessionError::TooLarge`].
    pub fn publish_shared(&mut self, snapshot: Snapshot) -> Result<(), SessionError> {
        if !self.is_host() {
            return Err(SessionError::NotHost);
        }
        let full = crate::snapshot::delta::encode(&self.replication.schema, &snapshot, None)
            .map_err(|_| SessionError::TooLarge("shared snapshot"))?;
        if full.len() > crate::protocol::MAX_SNAPSHOT_BYTES {
            return Err(SessionError::TooLarge("shared snapshot"));
        }
        self.replication.publish(Stream::Shared, snapshot);
        Ok(())
    }

    /// The latest own-entity snapshot received from `peer` (kept while its seat is held).
    pub fn remote_state(&self, peer: PeerId) -> Option<&Snapshot> {
        self.replication.remote.get(&peer)
    }

    /// The latest shared snapshot and the host that sent it: a new host continues the
    /// shared entities from here, with the same ids.
    pub fn shared_state(&self) -> Option<(PeerId, &Snapshot)> {
        self.replication.shared_state.as_ref().map(|(p, s)| (*p, s))
    }

    /// Snapshot replication counters.
    pub fn replication_stats(&self) -> ReplicationStats {
        self.replication.stats
    }
}
