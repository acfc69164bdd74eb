//! The host role: election by rule when the host is down, claiming it, marking members
//! away, the host's duties, handing over on leave.

use crate::PeerId;
use crate::roster::MemberStatus;
use crate::session::Session;

impl Session {
    /// Election by rule: when the host is down, the earliest-joined live member claims,
    /// unless it is [cut off](Session::cut_off) from the whole session.
    pub(in crate::session) fn elect(&mut self) {
        if !self.in_session() || !self.is_down(self.roster.host) {
            return;
        }
        let me = self.me;
        let successor = self.roster.successor(|p| p == me || !self.is_down(p));
        if successor == Some(me) && !self.cut_off() {
            self.claim_host(me);
        }
    }

    /// Whether we are cut off from the session rather than its host gone: besides the host
    /// there are active members, none of them tells us (in a fresh heartbeat on our own
    /// link) that the host is silent to it too, and the last we heard of anyone is less
    /// than `rejoin_grace` ago (the session holds our seat that long). Survivors of a host
    /// crash hear each other say so within a heartbeat of declaring it down; a member whose
    /// own network failed hears nobody, and the last heartbeats it got, from before, still
    /// heard the host. It cannot tell that from all the others failing at once; the first
    /// is far likelier, and a claim would host nobody: it waits (`Reconnecting`), and
    /// hosts what is left only once the session would have released its seat.
    pub(in crate::session) fn cut_off(&self) -> bool {
        let host = self.roster.host;
        let mut others = self
            .roster
            .active()
            .map(|m| m.id)
            .filter(|p| *p != self.me && *p != host)
            .peekable();
        if others.peek().is_none() || others.any(|p| self.agrees_host_silent(p, host)) {
            return false;
        }
        let last = self
            .roster
            .members
            .iter()
            .filter(|m| m.id != self.me)
            .filter_map(|m| self.peers.get(&m.id)?.last_any)
            .max();
        last.is_some_and(|t| self.now < t + self.cfg.rejoin_grace)
    }

    /// Writes a new-epoch roster with `host` as host, marking every member we consider
    /// down as away, and announces it.
    pub(in crate::session) fn claim_host(&mut self, host: PeerId) {
        let old = self.roster.clone();
        self.roster.prev_term = Some((old.epoch, old.host));
        self.roster.epoch = self.max_epoch_seen.max(self.roster.epoch) + 1;
        self.max_epoch_seen = self.roster.epoch;
        self.roster.host = host;
        self.roster.version = 0;
        let down = self.active_but_down();
        for p in down {
            self.set_away(p);
        }
        self.roster.backed = self.roster.majority_active() && self.heard_by_majority_since(old.host);
        log::debug!(
            "{} announces host {host} in epoch {} (backed: {})",
            self.tag,
            self.roster.epoch,
            self.roster.backed
        );
        // The successor continues from its replica and shares it once, so that survivors
        // that missed the old host's last writes catch up.
        self.store_dirty = true;
        self.emit_roster_diff(&old);
        self.broadcast_roster();
    }

    /// Whether we heard from more of the roster (ourselves included) than we did not, after
    /// `old_host` fell silent. Survivors of a host crash hear each other after it; a peer
    /// cut off from everyone (a successor on flaky Wi-Fi) heard the others fall silent at
    /// the same time as the host, and its claim is not backed, however many it has not yet
    /// declared down.
    pub(in crate::session) fn heard_by_majority_since(&self, old_host: PeerId) -> bool {
        let host_last = self.peers.get(&old_host).and_then(|st| st.last_any);
        let heard = 1 + self
            .roster
            .members
            .iter()
            .filter(|m| m.id != self.me && m.id != old_host)
            .filter(|m| {
                let last = self.peers.get(&m.id).and_then(|st| st.last_any);
                last.is_some_and(|t| host_last.is_none_or(|h| t > h))
            })
            .count();
        heard > self.roster.members.len().saturating_sub(heard)
    }

    /// Active members of the roster that we consider down.
    pub(in crate::session) fn active_but_down(&self) -> Vec<PeerId> {
        self.roster
            .active()
            .map(|m| m.id)
            .filter(|p| self.is_down(*p))
            .collect()
    }

    pub(in crate::session) fn set_away(&mut self, peer: PeerId) {
        let now = self.now;
        if let Some(m) = self.roster.get_mut(peer)
            && m.is_active()
        {
            m.status = MemberStatus::Away { since: now };
            log::debug!("{} marks {peer} away", self.tag);
        }
    }

    pub(in crate::session) fn mark_away(&mut self, peer: PeerId) {
        let old = self.roster.clone();
        let left = self.peers.get(&peer).is_some_and(|st| st.left);
        if left {
            self.roster.remove(peer);
        } else {
            self.set_away(peer);
        }
        if self.roster != old {
            self.roster.version += 1;
            self.emit_roster_diff(&old);
            self.broadcast_roster();
        }
    }

    /// The host marks down members away, releases expired seats and confirms leaves.
    pub(in crate::session) fn host_duties(&mut self) {
        self.elect();
        if !self.is_host() {
            return;
        }
        let now = self.now;
        let grace = self.cfg.rejoin_grace;
        let old = self.roster.clone();
        let down = self.active_but_down();
        for p in down {
            if self.peers.get(&p).is_some_and(|st| st.left) {
                self.roster.remove(p);
            } else {
                self.set_away(p);
            }
        }
        self.roster.members.retain(|m| match m.status {
            MemberStatus::Active => true,
            MemberStatus::Away { since } => now < since + grace,
        });
        if self.roster != old {
            self.roster.version += 1;
            self.emit_roster_diff(&old);
            self.broadcast_roster();
        }
        self.sync_newcomers();
    }

    /// A graceful leave of the host: the successor gets the role before we go.
    pub(in crate::session) fn hand_over(&mut self) {
        let me = self.me;
        let Some(successor) = self.roster.successor(|p| p != me && !self.is_down(p)) else {
            return;
        };
        // One roster: the successor hosts a new epoch, we are gone, members we consider
        // down are away. Receivers accept it as the host's own handover.
        let old = self.roster.clone();
        self.roster.prev_term = Some((old.epoch, old.host));
        self.roster.epoch = self.max_epoch_seen.max(self.roster.epoch) + 1;
        self.max_epoch_seen = self.roster.epoch;
        self.roster.host = successor;
        self.roster.version = 0;
        for p in self.active_but_down() {
            self.set_away(p);
        }
        self.roster.remove(me);
        self.roster.backed = self.roster.majority_active();
        // Signed by us: the members that follow us take our word for our successor.
        self.roster.sign(&self.authority.key, self.authority.session_id);
        self.emit_roster_diff(&old);
        self.broadcast_roster();
    }

    pub(in crate::session) fn on_leave(&mut self, peer: PeerId) {
        let now = self.now;
        let st = self
            .peers
            .entry(peer)
            .or_insert_with(|| crate::session::PeerState::new(now));
        st.left = true;
        st.down_since = Some(now);
        if self.roster.host == peer {
            self.elect();
        } else if self.is_host() {
            self.mark_away(peer);
        }
    }
}
