//! Network figures: [`NetStats`] now, [`NetHistory`] over the last seconds.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bevy_app::{App, PreUpdate};
use bevy_ecs::prelude::*;

use super::{NetConfig, NetPeer, Step};
use crate::{Link, PeerId};

/// Time constant of the byte-rate smoothing.
const RATE_SMOOTHING: Duration = Duration::from_secs(1);
/// Bits per byte, and bits per kilobit (kbps figures).
const BITS_PER_BYTE: f64 = 8.0;
const BITS_PER_KILOBIT: f64 = 1000.0;

/// Link figures of one other member, for a HUD.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerNetStats {
    /// The member.
    pub peer: PeerId,
    /// Its display name.
    pub name: String,
    /// Round-trip time to it, if measured.
    pub rtt: Option<Duration>,
    /// Packet loss of the direct link, as a fraction, if linked.
    pub loss: Option<f64>,
    /// Kilobits per second sent to it and received from it on the direct link, if linked.
    pub kbps: Option<(f64, f64)>,
    /// Direct (lan, internet, mapped), relayed (by a member, by a service) or down.
    pub link: Link,
    /// Whether its seat is held for it (it dropped).
    pub away: bool,
}

/// Network figures, refreshed every frame in [`super::NetSet::Receive`].
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct NetStats {
    /// This peer's id (`None` without a [`NetPeer`]).
    pub me: Option<PeerId>,
    /// The host, once in the session.
    pub host: Option<PeerId>,
    /// Every other member of the roster, in roster order.
    pub peers: Vec<PeerNetStats>,
    /// Bytes per second this peer sends (all links, smoothed over about a second).
    pub bytes_up_per_sec: f64,
    /// Bytes per second this peer receives (all links, smoothed over about a second).
    pub bytes_down_per_sec: f64,
}

/// One sample of a graph: session time in seconds and the value.
pub type Sample = (f64, f64);

/// The graphs of one other member.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerHistory {
    /// Round-trip time, in ms.
    pub rtt_ms: VecDeque<Sample>,
    /// Packet loss, in percent.
    pub loss_pct: VecDeque<Sample>,
    /// Kilobits per second sent to it.
    pub kbps_up: VecDeque<Sample>,
    /// Kilobits per second received from it.
    pub kbps_down: VecDeque<Sample>,
}

/// The figures of the last [`NetConfig::history_span`], sampled every
/// [`NetConfig::history_every`]: what an overlay draws as line graphs.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct NetHistory {
    /// Per other member (members that left are dropped).
    pub peers: BTreeMap<PeerId, PeerHistory>,
    /// Kilobits per second this peer sends, all links.
    pub kbps_up: VecDeque<Sample>,
    /// Kilobits per second this peer receives, all links.
    pub kbps_down: VecDeque<Sample>,
    /// Session time of the newest sample.
    pub last: Option<Duration>,
}

/// Session time and byte counters at the last refresh: all links, and each direct link.
#[derive(Resource, Default)]
pub(super) struct ByteClock(Option<(Duration, u64, u64)>, BTreeMap<PeerId, (u64, u64)>);

pub(super) fn build(app: &mut App) {
    app.init_resource::<NetStats>()
        .init_resource::<NetHistory>()
        .init_resource::<ByteClock>()
        .add_systems(
            PreUpdate,
            (refresh_stats, sample_history)
                .chain()
                .in_set(Step::Poll)
                .after(super::session::Received),
        )
        .add_systems(PreUpdate, forget.run_if(resource_removed::<NetPeer>));
}

fn forget(mut stats: ResMut<NetStats>, mut history: ResMut<NetHistory>, mut clock: ResMut<ByteClock>) {
    *stats = NetStats::default();
    *history = NetHistory::default();
    clock.0 = None;
    clock.1.clear();
}

/// One step of an exponential moving average of a byte rate: from `before` to `after`
/// bytes over `dt` seconds, weighted by `weight`.
fn smooth(rate: f64, before: u64, after: u64, dt: f64, weight: f64) -> f64 {
    rate + weight * (after.saturating_sub(before) as f64 / dt - rate)
}

/// Refreshes [`NetStats`].
pub(super) fn refresh_stats(net: Res<NetPeer>, mut clock: ResMut<ByteClock>, mut stats: ResMut<NetStats>) {
    let session = net.session();
    let me = session.peer_id();
    let now = net.now();
    let counters = session.stats();
    let (mut up, mut down) = (stats.bytes_up_per_sec, stats.bytes_down_per_sec);
    let step = match clock.0 {
        Some((then, sent, received)) if now > then => {
            let dt = (now - then).as_secs_f64();
            let weight = 1.0 - (-dt / RATE_SMOOTHING.as_secs_f64()).exp();
            up = smooth(up, sent, counters.bytes_sent, dt, weight);
            down = smooth(down, received, counters.bytes_received, dt, weight);
            Some((dt, weight))
        }
        Some(_) => return,
        None => {
            (up, down) = (0.0, 0.0);
            None
        }
    };
    clock.0 = Some((now, counters.bytes_sent, counters.bytes_received));
    let kbps = |bytes: f64| bytes * BITS_PER_BYTE / BITS_PER_KILOBIT;
    let bytes_per_sec = |kbps: f64| kbps * BITS_PER_KILOBIT / BITS_PER_BYTE;
    let mut peers = Vec::new();
    let mut counted = BTreeMap::new();
    for m in session.roster().members.iter().filter(|m| m.id != me) {
        // Per-link rates, smoothed like the totals; a new link starts from zero.
        let bytes = session.link_bytes(m.id);
        let before = clock.1.get(&m.id).copied();
        let last = stats.peers.iter().find(|p| p.peer == m.id).and_then(|p| p.kbps);
        let rates = match (bytes, before, step) {
            (Some((s, r)), Some((s0, r0)), Some((dt, weight))) if s >= s0 && r >= r0 => {
                let (u, d) = last.map_or((0.0, 0.0), |(u, d)| (bytes_per_sec(u), bytes_per_sec(d)));
                Some((kbps(smooth(u, s0, s, dt, weight)), kbps(smooth(d, r0, r, dt, weight))))
            }
            (Some(_), ..) => Some((0.0, 0.0)),
            (None, ..) => None,
        };
        if let Some(b) = bytes {
            counted.insert(m.id, b);
        }
        peers.push(PeerNetStats {
            peer: m.id,
            name: m.name.clone(),
            rtt: session.rtt(m.id),
            loss: session.packet_loss(m.id),
            kbps: rates,
            link: session.link(m.id),
            away: !m.is_active(),
        });
    }
    clock.1 = counted;
    *stats = NetStats {
        me: Some(me),
        host: session.current_host(),
        peers,
        bytes_up_per_sec: up,
        bytes_down_per_sec: down,
    };
}

/// Appends a sample, dropping those older than `span`.
fn push(series: &mut VecDeque<Sample>, t: f64, value: f64, span: f64) {
    series.push_back((t, value));
    while series.front().is_some_and(|(s, _)| t - s > span) {
        series.pop_front();
    }
}

/// Samples [`NetStats`] into [`NetHistory`] every [`NetConfig::history_every`].
fn sample_history(net: Res<NetPeer>, config: Res<NetConfig>, stats: Res<NetStats>, mut history: ResMut<NetHistory>) {
    let now = net.now();
    if history.last.is_some_and(|t| now < t + config.history_every) {
        return;
    }
    history.last = Some(now);
    let (t, span) = (now.as_secs_f64(), config.history_span.as_secs_f64());
    let kbps = |bytes: f64| bytes * BITS_PER_BYTE / BITS_PER_KILOBIT;
    push(&mut history.kbps_up, t, kbps(stats.bytes_up_per_sec), span);
    push(&mut history.kbps_down, t, kbps(stats.bytes_down_per_sec), span);
    history.peers.retain(|p, _| stats.peers.iter().any(|s| s.peer == *p));
    for p in stats.peers.iter().filter(|p| !p.away) {
        let h = history.peers.entry(p.peer).or_default();
        if let Some(rtt) = p.rtt {
            push(&mut h.rtt_ms, t, rtt.as_secs_f64() * 1000.0, span);
        }
        if let Some(loss) = p.loss {
            push(&mut h.loss_pct, t, loss * 100.0, span);
        }
        if let Some((u, d)) = p.kbps {
            push(&mut h.kbps_up, t, u, span);
            push(&mut h.kbps_down, t, d, span);
        }
    }
}
