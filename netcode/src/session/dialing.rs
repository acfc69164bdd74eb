//! Dialing: links to the members we have none with (the lower id dials), the host's
//! search for former members after a long partition, and the latest known address of
//! every member ever seen.

use std::net::SocketAddr;
use std::time::Duration;

use super::{PeerState, Session};
use crate::PeerId;

impl Session {
    /// Links to members we have none with. The lower id dials, so a pair never races.
    pub(super) fn redial(&mut self) {
        let now = self.now;
        let grace = self.cfg.rejoin_grace;
        let targets: Vec<(PeerId, SocketAddr)> = self
            .roster
            .members
            .iter()
            .filter(|m| m.id != self.me && self.me < m.id)
            .filter(|m| match m.status {
                crate::roster::MemberStatus::Active => true,
                crate::roster::MemberStatus::Away { since } => now < since + grace,
            })
            .map(|m| {
                let newer = self.newest.get(&m.id).filter(|n| n.join_seq > m.join_seq);
                (m.id, newer.map_or(m.addr, |n| n.addr))
            })
            .collect();
        for (peer, addr) in targets {
            if self.links.is_linked_or_dialing(peer) || self.banned.contains_key(&peer) {
                continue;
            }
            let st = self.peers.entry(peer).or_insert_with(|| PeerState::new(now));
            if st.left || st.last_dial.is_some_and(|t| now < t + self.cfg.redial_interval) {
                continue;
            }
            st.last_dial = Some(now);
            self.links.dial(peer, addr);
        }
    }

    /// The host dials one former member that is in no roster of ours any more, if there is
    /// one: after a long partition, or a merge that went wrong, the two parts of a session
    /// have dropped each other, and nothing else would ever link them again. Once linked,
    /// the heartbeats' roster digests make the worse side adopt the better roster and
    /// rejoin.
    ///
    /// Only hosts dial, one peer every `reunite_interval`, round robin, whatever its id: a
    /// part's host may never have seen the other part's host (both were admitted in a race
    /// of joins), but each knows some members of the other part. If both dial each other
    /// at once, the newer link wins.
    pub(super) fn reunite(&mut self) {
        let now = self.now;
        if !self.is_host() || now < self.timers.reunite {
            return;
        }
        self.timers.reunite = now + self.cfg.reunite_interval;
        let window = self.cfg.reunite_window;
        let candidates: Vec<(PeerId, SocketAddr)> = self
            .newest
            .iter()
            .filter(|(id, n)| {
                **id != self.me
                    && self.roster.get(**id).is_none()
                    && now < n.listed_at + window
                    && !self.banned.contains_key(id)
                    && !self.links.is_linked_or_dialing(**id)
                    && !self.peers.get(id).is_some_and(|st| st.left)
            })
            .map(|(id, n)| (*id, n.addr))
            .collect();
        let after = self.reunite_cursor;
        let next = candidates
            .iter()
            .find(|(id, _)| after.is_none_or(|a| *id > a))
            .or_else(|| candidates.first())
            .copied();
        if let Some((peer, addr)) = next {
            self.reunite_cursor = Some(peer);
            log::debug!("{} looks for former member {peer} at {addr}", self.tag);
            self.links.dial(peer, addr);
        }
    }

    /// Records that a roster of ours lists `m` now, and its address if this is its latest
    /// admission that we know of.
    pub(super) fn remember(&mut self, m: &crate::roster::Member) {
        let seen = Newest::of(m, self.now);
        let known = self.newest.entry(m.id).or_insert(seen);
        if seen.join_seq > known.join_seq {
            *known = seen;
        }
        known.listed_at = self.now;
    }
}

/// The latest admission of a member that we know of. The join order grows with every
/// admission, a fresh join after an expired seat included, so it (and not the incarnation,
/// which a host that never saw the old seat starts again at 0) tells which address is current.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Newest {
    pub(crate) join_seq: u64,
    pub(crate) incarnation: u32,
    pub(crate) addr: SocketAddr,
    /// When a roster of ours last listed it.
    pub(crate) listed_at: Duration,
}

impl Newest {
    pub(super) fn of(m: &crate::roster::Member, now: Duration) -> Self {
        Newest {
            join_seq: m.join_seq,
            incarnation: m.incarnation,
            addr: m.addr,
            listed_at: now,
        }
    }
}
