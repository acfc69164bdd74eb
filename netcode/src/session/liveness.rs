//! Failure detection and routing: who is heard directly, who through a relay, who is gone.
//!
//! A member is *suspected* when nothing arrived from it directly within an adaptive window
//! and no relayed message from it arrived either. It is *declared down* only when, in
//! addition, every peer we still hear directly says (in its heartbeat) that it does not
//! hear it either: the peers that still reach each other agree.

use std::net::SocketAddr;
use std::time::Duration;

use super::{DIGEST_AFTER_CHANGE, Session, SessionEvent};
use crate::PeerId;
use crate::protocol::Message;
use crate::reach::{DirectPath, Link, Reach, Route};

/// Weight of a new sample in the inter-arrival averages.
const GAP_EWMA_WEIGHT: f64 = 0.1;
/// Deviations of inter-arrival time added to the mean for the suspicion window.
const GAP_DEVIATIONS: f64 = 4.0;

/// Heartbeat intervals a suspicion window spans at least.
const SUSPECT_INTERVALS: u32 = 3;

/// How many of the largest suspicion windows a member that nothing arrived from, by any
/// route, stays alive on another member's word alone. A member that is alive sends its
/// heartbeats through a relay to whoever cannot hear it, so its own word arrives; a
/// member that vouches for a crashed host cannot hold the session without one for longer.
const VOUCH_LIMIT_WINDOWS: u32 = 3;

/// Least and largest suspicion window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    min: Duration,
    max: Duration,
}

/// What one peer knows about another.
#[derive(Debug, Clone)]
pub(crate) struct PeerState {
    /// Last message that arrived on our own link from it.
    pub(crate) last_direct: Option<Duration>,
    /// Last message from it by any route.
    pub(crate) last_any: Option<Duration>,
    /// When we started tracking it (newcomers get time to link).
    pub(crate) since: Duration,
    gap_mean_ms: f64,
    gap_dev_ms: f64,
    /// `gap_mean + GAP_DEVIATIONS * gap_dev`, kept up to date on every heartbeat.
    adaptive: Duration,
    /// Its latest heartbeat's suspects, and when that heartbeat arrived.
    pub(crate) suspects: Vec<PeerId>,
    pub(crate) last_heartbeat: Option<Duration>,
    /// Declared down locally since.
    pub(crate) down_since: Option<Duration>,
    /// Its roster incarnation when our link to it came up.
    pub(crate) link_incarnation: Option<u32>,
    pub(crate) state: Option<Reach>,
    pub(crate) last_dial: Option<Duration>,
    pub(crate) last_push: Option<Duration>,
    /// When we last sent it our whole store on its request (while we host).
    pub(crate) last_store_answer: Option<Duration>,
    pub(crate) left: bool,
    /// When our next heartbeat to it is due.
    pub(crate) next_heartbeat: Duration,
    /// When our next shared snapshot to it is due (while we host).
    pub(crate) next_shared: Duration,
    /// The incarnation of it we sent our whole store to (while we host).
    pub(crate) store_synced: Option<u32>,
}

impl PeerState {
    pub(crate) fn new(now: Duration) -> Self {
        PeerState {
            last_direct: None,
            last_any: None,
            since: now,
            gap_mean_ms: 0.0,
            gap_dev_ms: 0.0,
            adaptive: Duration::ZERO,
            suspects: Vec::new(),
            last_heartbeat: None,
            down_since: None,
            link_incarnation: None,
            state: None,
            last_dial: None,
            last_push: None,
            last_store_answer: None,
            left: false,
            next_heartbeat: now,
            next_shared: now,
            store_synced: None,
        }
    }

    /// Something arrived on our own link from it. The suspicion window follows the gaps
    /// between its heartbeats only: they keep their cadence whatever else the link carries
    /// (a member relaying for others sends more, at other times, and would otherwise
    /// shrink the window it is judged by; see `docs/design.md`, "Relay").
    pub(crate) fn heard_direct(&mut self, now: Duration, msg: &Message) {
        self.last_direct = Some(now);
        self.last_any = Some(now);
        let Message::Heartbeat { suspects, .. } = msg else {
            return;
        };
        if let Some(prev) = self.last_heartbeat {
            let gap = now.saturating_sub(prev).as_secs_f64() * 1000.0;
            if self.gap_mean_ms == 0.0 {
                self.gap_mean_ms = gap;
            } else {
                let err = gap - self.gap_mean_ms;
                self.gap_mean_ms += GAP_EWMA_WEIGHT * err;
                self.gap_dev_ms += GAP_EWMA_WEIGHT * (err.abs() - self.gap_dev_ms);
            }
            let ms = (self.gap_mean_ms + GAP_DEVIATIONS * self.gap_dev_ms).clamp(0.0, 1e9);
            self.adaptive = Duration::from_micros((ms * 1000.0) as u64);
        }
        self.suspects.clone_from(suspects);
        self.last_heartbeat = Some(now);
    }

    /// The suspicion window: configured minimum, widened by measured jitter.
    pub(crate) fn window(&self, bounds: Bounds) -> Duration {
        self.adaptive.clamp(bounds.min, bounds.max)
    }

    pub(crate) fn direct_ok(&self, now: Duration, bounds: Bounds) -> bool {
        self.last_direct
            .is_some_and(|t| now.saturating_sub(t) < self.window(bounds))
    }

    fn relayed_ok(&self, now: Duration, bounds: Bounds) -> bool {
        self.last_any
            .is_some_and(|t| now.saturating_sub(t) < self.window(bounds))
    }

    /// Whether its latest heartbeat, fresh and on our own link, lists `peer` as a suspect:
    /// it still reaches us and agrees that `peer` is silent.
    pub(crate) fn agrees_silent(&self, peer: PeerId, now: Duration, bounds: Bounds) -> bool {
        self.direct_ok(now, bounds)
            && self
                .last_heartbeat
                .is_some_and(|t| now.saturating_sub(t) < self.window(bounds))
            && self.suspects.contains(&peer)
    }

    pub(crate) fn vouches_for(&self, peer: PeerId, now: Duration, bounds: Bounds) -> bool {
        self.direct_ok(now, bounds)
            && self
                .last_heartbeat
                .is_some_and(|t| now.saturating_sub(t) < self.window(bounds))
            && !self.suspects.contains(&peer)
    }
}

impl Session {
    /// The suspicion window bounds of `peer`: the configured minimum, and at least three
    /// intervals of the rate it beats at towards us when the session is settled (a side
    /// link's slower rate, or the host link's; both stretch in a large mesh).
    pub(crate) fn bounds_for(&self, peer: PeerId) -> Bounds {
        if self.pair_with(peer) {
            let window = self.cfg.pair_suspect_after.max(self.cfg.suspect_after);
            return Bounds {
                min: window,
                max: window,
            };
        }
        let interval = if self.is_host() || peer == self.roster.host {
            self.heartbeat_interval()
        } else {
            self.side_interval()
        };
        let min = self.cfg.suspect_after.max(interval * SUSPECT_INTERVALS);
        Bounds {
            min,
            max: self.cfg.suspect_max.max(min),
        }
    }

    /// Whether `peer` is the only other active member: nobody could corroborate its
    /// silence (see `SessionConfig::pair_suspect_after`).
    fn pair_with(&self, peer: PeerId) -> bool {
        let mut others = self.roster.active().map(|m| m.id).filter(|p| *p != self.me);
        others.next() == Some(peer) && others.next().is_none()
    }

    /// The interval of a side link (between two peers neither of which hosts).
    fn side_interval(&self) -> Duration {
        self.heartbeat_interval().max(self.cfg.side_heartbeat_interval)
    }

    /// Whether the roster changed within the last [`DIGEST_AFTER_CHANGE`].
    pub(super) fn roster_recently_changed(&self) -> bool {
        self.now < self.timers.roster_changed + DIGEST_AFTER_CHANGE
    }

    /// The interval of our heartbeats to `peer`: the full rate on links with the host and
    /// while the session is `unsettled` ([`Session::unsettled`], worked out once for a loop
    /// over the links), the side rate otherwise.
    pub(super) fn link_interval(&self, peer: PeerId, unsettled: bool) -> Duration {
        if unsettled || self.is_host() || peer == self.roster.host {
            self.heartbeat_interval()
        } else {
            self.side_interval()
        }
    }

    /// Whether the session is unsettled: someone is suspected, or the roster just changed.
    pub(super) fn unsettled(&self) -> bool {
        self.roster_recently_changed() || !self.suspects().is_empty()
    }

    /// Active members we have not heard directly within their window.
    pub(super) fn suspects(&self) -> Vec<PeerId> {
        self.roster
            .active()
            .map(|m| m.id)
            .filter(|p| {
                *p != self.me
                    && !self
                        .peers
                        .get(p)
                        .is_some_and(|st| st.direct_ok(self.now, self.bounds_for(*p)))
            })
            .collect()
    }

    /// A peer we hear directly that says it hears `peer` directly.
    pub(super) fn relay_for(&self, peer: PeerId) -> Option<PeerId> {
        self.roster
            .active()
            .map(|m| m.id)
            .filter(|q| *q != self.me && *q != peer && self.links.is_linked(*q))
            .find(|q| {
                self.peers
                    .get(q)
                    .is_some_and(|st| st.vouches_for(peer, self.now, self.bounds_for(*q)))
            })
    }

    /// How `peer` is reached now: the session's own reach of it put together with the
    /// route NAT traversal reported under our own link (see [`crate::reach`]).
    pub fn link(&self, peer: PeerId) -> Link {
        self.link_with(peer, self.reach(peer))
    }

    /// The link to `peer` with `reach`: on the route traversal reported for the address our
    /// link sends to (else its session address), else direct to that address (`mapped`
    /// when it is a port the member's router maps for it, as it announced).
    fn link_with(&self, peer: PeerId, reach: Reach) -> Link {
        let Some(session_addr) = self.roster.get(peer).map(|m| m.addr) else {
            return Link::Down;
        };
        let addr = self.links.addr_of(peer).unwrap_or(session_addr);
        let route = (self.routes.get(&addr).or_else(|| self.routes.get(&session_addr)))
            .copied()
            .or_else(|| {
                self.signalling
                    .is_mapped(peer, addr)
                    .then_some(Route::Direct(DirectPath::Mapped))
            });
        Link::of(reach, route, addr)
    }

    /// Tells the session that NAT traversal changed the route of our datagrams to the
    /// member at session address `addr` (`None`: no path of its own, the datagrams go to
    /// `addr`). A driver calls it on each change traversal reports, not each poll; a
    /// change the member's link shows is a [`SessionEvent::LinkChanged`].
    pub(crate) fn route_changed(&mut self, addr: SocketAddr, route: Option<Route>) {
        let member = self
            .roster
            .active()
            .find(|m| m.id != self.me && (m.addr == addr || self.links.addr_of(m.id) == Some(addr)))
            .map(|m| m.id);
        let before = member.map(|p| self.link(p));
        self.links.set_routed(addr, route.is_some());
        match route {
            Some(r) => self.routes.insert(addr, r),
            None => self.routes.remove(&addr),
        };
        if let (Some(peer), Some(before)) = (member, before) {
            self.link_may_have_changed(peer, before);
        }
    }

    /// Reports `peer`'s link as a [`SessionEvent::LinkChanged`] when it is no longer
    /// `before` (once its link was reported at all).
    pub(super) fn link_may_have_changed(&mut self, peer: PeerId, before: Link) {
        let link = self.link(peer);
        let settled = self.peers.get(&peer).is_some_and(|st| st.state.is_some());
        if link != before && settled {
            self.events.push_back(SessionEvent::LinkChanged { peer, link });
        }
    }

    /// What the session's own heartbeats say of `peer`: our link answers, a member
    /// relays, or neither.
    pub(crate) fn reach(&self, peer: PeerId) -> Reach {
        let Some(st) = self.peers.get(&peer) else {
            return Reach::Down;
        };
        if st.down_since.is_some() {
            Reach::Down
        } else if st.direct_ok(self.now, self.bounds_for(peer)) && self.links.is_linked(peer) {
            Reach::Own
        } else if st.relayed_ok(self.now, self.bounds_for(peer)) || self.relay_for(peer).is_some() {
            Reach::Relayed
        } else {
            Reach::Down
        }
    }

    pub(super) fn detect_failures(&mut self) {
        let members: Vec<PeerId> = self.roster.active().map(|m| m.id).filter(|p| *p != self.me).collect();
        for peer in members {
            let bounds = self.bounds_for(peer);
            let now = self.now;
            let st = self.peers.entry(peer).or_insert_with(|| PeerState::new(now));
            if st.left {
                continue;
            }
            // A member that has not yet sent a heartbeat as a member (it may still be
            // linking, or waiting for its welcome) gets time before it can be suspected.
            let settling = st.last_heartbeat.is_none_or(|t| t < st.since)
                && now.saturating_sub(st.since) < self.cfg.contact_timeout;
            let direct = st.direct_ok(now, bounds) && self.links.is_linked(peer);
            let relayed = st.relayed_ok(now, bounds);
            // (Never heard at all: counted from when we started tracking it.)
            let heard_lately = now.saturating_sub(st.last_any.unwrap_or(st.since)) < bounds.max * VOUCH_LIMIT_WINDOWS;
            let alive = settling || direct || relayed || (heard_lately && self.relay_for(peer).is_some());
            let state = if direct {
                Reach::Own
            } else if alive && !settling {
                Reach::Relayed
            } else {
                Reach::Down
            };
            let st = self.peers.get_mut(&peer).expect("inserted above");
            if st.state != Some(state) && !(settling && st.state.is_none()) {
                st.state = Some(state);
                let link = self.link_with(peer, state);
                self.events.push_back(SessionEvent::LinkChanged { peer, link });
            }
            let st = self.peers.get_mut(&peer).expect("inserted above");
            if !alive && st.down_since.is_none() {
                log::debug!(
                    "{} loses {peer}: last direct {:?}, last any {:?}, window {:?}, linked {}",
                    self.tag,
                    st.last_direct,
                    st.last_any,
                    st.window(bounds),
                    self.links.is_linked(peer)
                );
                self.declare_down(peer);
            } else if (direct || relayed) && st.down_since.is_some() {
                st.down_since = None;
                log::debug!("{} hears {peer} again", self.tag);
            }
        }
    }

    fn declare_down(&mut self, peer: PeerId) {
        log::debug!(
            "{} declares {peer} down (epoch {}) at {:?}",
            self.tag,
            self.roster.epoch,
            self.now
        );
        if let Some(st) = self.peers.get_mut(&peer) {
            st.down_since = Some(self.now);
        }
        // Free the netcode slot so that a restarted peer can link again at once.
        self.links.disconnect(peer);
        if peer == self.roster.host {
            self.elect();
        } else if self.is_host() {
            self.mark_away(peer);
        }
    }

    /// Whether `peer` reaches us directly and its latest heartbeat says that `host` is
    /// silent to it too.
    pub(super) fn agrees_host_silent(&self, peer: PeerId, host: PeerId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|st| st.agrees_silent(host, self.now, self.bounds_for(peer)))
    }

    /// Whether something from `peer` arrived within its window, by any route.
    pub(super) fn hears(&self, peer: PeerId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|st| st.relayed_ok(self.now, self.bounds_for(peer)))
    }

    /// Whether we hold `peer` for gone: declared down (or left), nothing from it has
    /// arrived since within its window, by any route, and `via` (the member whose roster or
    /// digest we are weighing) does not vouch for it in its latest heartbeat. A host we hold
    /// for gone cannot make its claim good against a live one's (see
    /// `Session::claim_beats`); a host we hear from again, or that the member telling us of
    /// it hears, can, though our roster may still hold it away (the old host after a split
    /// heals, the session's host for a peer that was cut off). A member that lists the host
    /// of its own roster as a suspect vouches for nothing: a stale roster's sender does.
    pub(super) fn holds_gone(&self, peer: PeerId, via: PeerId) -> bool {
        let vouched = via != peer
            && self
                .peers
                .get(&via)
                .is_some_and(|st| st.vouches_for(peer, self.now, self.bounds_for(via)));
        self.is_down(peer) && !self.hears(peer) && !vouched
    }

    pub(super) fn is_down(&self, peer: PeerId) -> bool {
        peer != self.me
            && self
                .peers
                .get(&peer)
                .is_some_and(|st| st.down_since.is_some() || st.left)
    }
}
