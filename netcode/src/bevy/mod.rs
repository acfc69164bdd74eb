//! # Bevy integration (feature `bevy`)
//!
//! A thin plugin in the style of `bevy_renet`: the game hosts or joins with a
//! [`Peer`] and inserts it as the [`NetPeer`] resource; [`NetcodePlugin`] then drives it
//! every frame and turns what happens into Bevy messages.
//!
//! - [`NetSet::Receive`] (in `PreUpdate`) polls the peer, turns every [`SessionEvent`]
//!   into messages ([`SelfJoined`], [`PeerJoined`], [`PeerAway`], [`PeerRejoined`],
//!   [`PeerLeft`], [`HostChanged`], [`LinkChanged`], and every event as it came in
//!   [`NetEvent`]), refreshes [`NetStats`] and applies remote state.
//! - [`NetSet::Send`] (in `PostUpdate`) publishes the replicated components of this
//!   peer's entities and polls again, so that they leave this frame.
//! - Poll failures (a join that timed out or was refused, a socket error) become a
//!   [`NetError`] message, sent (and logged at warn) once per distinct failure; the
//!   [`NetPeer`] stays until the game removes it.
//! - Run conditions [`is_host`] and [`in_session`].
//!
//! Every system runs only while [`NetPeer`] exists. Removing it despawns the
//! [`NetRemote`] entities.
//!
//! ## Replication
//!
//! A component that implements [`Replicate`] and is registered with
//! [`ReplicateAppExt::replicate`] travels in the session's quantised, delta-encoded
//! snapshots:
//!
//! - entities with [`NetOwned`] and the component go in this peer's own stream;
//! - entities with [`NetShared`] and the component go in the shared stream while this peer
//!   hosts (a non-host's `NetShared` entities are not sent);
//! - every other member's own entities, and the host's shared entities, appear here as
//!   entities with [`NetRemote`] and the component, interpolated between snapshots.
//!
//! One replicated component per entity: an entity's id travels with one kind. Ids are
//! chosen by the game and must be unique within their stream (the peer's own entities,
//! or the shared ones). Every peer must register the same components with the same
//! [`Replicate::KIND`] and fields.
//!
//! When the host role moves here, the shared entities this peer held as
//! `NetRemote { owner: None, .. }` become [`NetShared`] with the same ids, so the game
//! continues them; when it moves away, this peer's `NetShared` entities become
//! `NetRemote { owner: None, .. }` and follow the new host's stream.
//!
//! ## Example
//!
//! ```
//! use bevy_app::prelude::*;
//! use bevy_ecs::prelude::*;
//! use netcode::bevy::{NetOwned, NetPeer, NetcodePlugin, Replicate, ReplicateAppExt};
//! use netcode::snapshot::quant::Quant;
//! use netcode::transport::{Peer, PeerOptions};
//!
//! #[derive(Component, Clone, Copy)]
//! struct Pos {
//!     x: f32,
//!     y: f32,
//! }
//!
//! impl Replicate for Pos {
//!     const KIND: u8 = 0;
//!     fn fields() -> Vec<Quant> {
//!         let q = Quant::new(-50.0, 50.0, 0.01).unwrap();
//!         vec![q, q]
//!     }
//!     fn to_values(&self) -> Vec<f32> {
//!         vec![self.x, self.y]
//!     }
//!     fn from_values(v: &[f32]) -> Option<Self> {
//!         Some(Pos { x: *v.first()?, y: *v.get(1)? })
//!     }
//! }
//!
//! let mut app = App::new();
//! app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin)).replicate::<Pos>();
//! let options = PeerOptions { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
//! let peer = Peer::host(options).unwrap();
//! println!("invite: {}", peer.invite());
//! app.insert_resource(NetPeer(peer));
//! app.world_mut().spawn((Pos { x: 1.0, y: 2.0 }, NetOwned { id: 1 }));
//! app.update();
//! ```

mod replicate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bevy_app::{App, Plugin, PostUpdate, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use crate::snapshot::delta::{EntityState, Schema};
use crate::snapshot::interp::InterpConfig;
use crate::transport::{Peer, TransportError};
use crate::{LeaveReason, LinkState, PeerId, SessionEvent};

pub use replicate::{NetOwned, NetRemote, NetShared, Replicate, ReplicateAppExt};

/// Rate of the snapshot tick: a peer publishes at most this often, and a snapshot's tick
/// counts these since the peer started (receivers time their interpolation by it).
pub const TICK_HZ: f64 = 60.0;

/// The session, on its socket: insert it after [`Peer::host`], [`Peer::join`] or
/// [`Peer::rejoin`]; every system of the plugin runs only while it exists.
#[derive(Resource)]
pub struct NetPeer(pub Peer);

impl Deref for NetPeer {
    type Target = Peer;

    fn deref(&self) -> &Peer {
        &self.0
    }
}

impl DerefMut for NetPeer {
    fn deref_mut(&mut self) -> &mut Peer {
        &mut self.0
    }
}

/// What the plugin does each frame. Change it at any time.
#[derive(Resource, Debug, Clone)]
pub struct NetConfig {
    /// Publish the replicated components of [`NetOwned`] (and, as host, [`NetShared`])
    /// entities. Default: true.
    pub send_state: bool,
    /// Spawn and update [`NetRemote`] entities from the snapshots received. Default: true.
    pub receive_state: bool,
    /// Interpolation of remote entities (applies to entities spawned after a change).
    /// Default: [`InterpConfig::default`].
    pub interp: InterpConfig,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            send_state: true,
            receive_state: true,
            interp: InterpConfig::default(),
        }
    }
}

/// The plugin's system sets; order game systems against them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetSet {
    /// In `PreUpdate`: receive, emit messages, refresh [`NetStats`], apply remote state.
    Receive,
    /// In `PostUpdate`: publish replicated state, then send it.
    Send,
}

/// Steps inside the public sets (replicated components add systems to them).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Poll,
    Apply,
    Begin,
    Collect,
    Flush,
}

/// This peer is in the session: the host accepted it, or it created the session.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfJoined {
    /// Our id (the old one after a rejoin).
    pub peer: PeerId,
    /// Whether we took a held seat back ([`Peer::rejoin`]).
    pub rejoined: bool,
}

/// Another peer joined the session.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerJoined {
    /// The newcomer.
    pub peer: PeerId,
}

/// A member dropped; its seat (and its last state) is held for the rejoin grace period.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAway {
    /// The member.
    pub peer: PeerId,
}

/// A dropped member took its seat back.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRejoined {
    /// The member.
    pub peer: PeerId,
}

/// A member left the roster (its [`NetRemote`] entities are despawned).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLeft {
    /// The member.
    pub peer: PeerId,
    /// Goodbye, seat released, or expelled.
    pub reason: LeaveReason,
}

/// The host changed (migration, handover or partition merge).
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChanged {
    /// The host before.
    pub old: PeerId,
    /// The host now.
    pub new: PeerId,
    /// The new host's epoch.
    pub epoch: u64,
    /// How long the old host had been silent when the change arrived here (zero when
    /// unknown, or when the old host was this peer).
    pub pause: Duration,
}

/// How this peer reaches another changed.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkChanged {
    /// The peer.
    pub peer: PeerId,
    /// Direct, relayed or down.
    pub state: LinkState,
}

/// Polling the peer failed: the join timed out or was refused, or the socket failed.
/// Sent once per distinct failure; the [`NetPeer`] is left in place for the game to
/// remove.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    /// What went wrong, for people.
    pub message: String,
}

/// Every [`SessionEvent`] as it came (store changes, refusals, misbehaving peers, our
/// own completed leave, and those the other messages already report).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct NetEvent(pub SessionEvent);

/// Link figures of one other member, for a HUD.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerNetStats {
    /// The member.
    pub peer: PeerId,
    /// Its display name.
    pub name: String,
    /// Round-trip time of our direct link to it, if linked.
    pub rtt: Option<Duration>,
    /// Packet loss of that link, as a fraction, if linked.
    pub loss: Option<f64>,
    /// Direct, relayed or down.
    pub link: LinkState,
    /// Whether its seat is held for it (it dropped).
    pub away: bool,
}

/// Network figures, refreshed every frame in [`NetSet::Receive`].
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

/// Time constant of the byte-rate smoothing.
const RATE_SMOOTHING: Duration = Duration::from_secs(1);

/// The schema built from the registered components.
#[derive(Resource, Default)]
struct Registry {
    /// Kind → (component name, fields), as registered.
    kinds: BTreeMap<u8, (&'static str, Vec<crate::snapshot::quant::Quant>)>,
    /// The schema of those kinds (unregistered kind ids below the largest have no fields).
    schema: Schema,
}

impl Registry {
    fn rebuild(&mut self) {
        let mut schema = Schema::default();
        let last = self.kinds.keys().next_back().copied();
        for kind in 0..=last.map_or(-1, i32::from) {
            let fields = u8::try_from(kind)
                .ok()
                .and_then(|k| self.kinds.get(&k))
                .map(|(_, f)| f.clone())
                .unwrap_or_default();
            schema.add_kind(fields).expect("at most 256 kinds");
        }
        self.schema = schema;
    }
}

/// The plugin's bookkeeping about the current [`NetPeer`].
#[derive(Resource, Default)]
struct NetState {
    /// Which peer the schema was given to (its id and socket).
    attached: Option<(PeerId, SocketAddr)>,
    /// Session time of tick 0.
    start: Duration,
    /// Tick of the last snapshot published.
    last_tick: Option<u32>,
    /// Whether the last own / shared snapshot published had entities.
    own_nonempty: bool,
    shared_nonempty: bool,
    /// Whether we hosted at the last poll.
    was_host: bool,
    /// Set for one frame when the host role moved away from us.
    demoted: bool,
    /// The shared snapshot (origin, tick) current while we last hosted: not applied.
    shared_floor: Option<(PeerId, u32)>,
    /// Whether remote systems apply the current shared snapshot.
    apply_shared: bool,
    /// The last poll failure reported.
    error: Option<String>,
    /// Session time and byte counters at the last stats refresh.
    last_bytes: Option<(Duration, u64, u64)>,
}

/// What the replicated components' systems gather for this frame's snapshots.
#[derive(Resource, Default)]
struct Outbox {
    /// The tick to publish at, when one is due this frame.
    tick: Option<u32>,
    /// Whether the shared stream is published too (we host).
    shared_due: bool,
    own: BTreeMap<u32, EntityState>,
    shared: BTreeMap<u32, EntityState>,
    /// Kinds whose values failed to quantise (warned once).
    warned: Vec<u8>,
}

/// Drives a [`NetPeer`]: see the [module docs](self).
#[derive(Debug, Default, Clone, Copy)]
pub struct NetcodePlugin;

impl Plugin for NetcodePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<NetConfig>()
            .init_resource::<NetStats>()
            .init_resource::<Registry>()
            .init_resource::<NetState>()
            .init_resource::<Outbox>()
            .add_message::<SelfJoined>()
            .add_message::<PeerJoined>()
            .add_message::<PeerAway>()
            .add_message::<PeerRejoined>()
            .add_message::<PeerLeft>()
            .add_message::<HostChanged>()
            .add_message::<LinkChanged>()
            .add_message::<NetError>()
            .add_message::<NetEvent>()
            .configure_sets(PreUpdate, NetSet::Receive.run_if(resource_exists::<NetPeer>))
            .configure_sets(PostUpdate, NetSet::Send.run_if(resource_exists::<NetPeer>))
            .configure_sets(PreUpdate, (Step::Poll, Step::Apply).chain().in_set(NetSet::Receive))
            .configure_sets(
                PostUpdate,
                (Step::Begin, Step::Collect, Step::Flush).chain().in_set(NetSet::Send),
            )
            .add_systems(PreUpdate, (receive, refresh_stats).chain().in_set(Step::Poll))
            .add_systems(
                PreUpdate,
                forget_peer.before(NetSet::Receive).run_if(resource_removed::<NetPeer>),
            )
            .add_systems(PostUpdate, begin_send.in_set(Step::Begin))
            .add_systems(PostUpdate, (publish, flush).chain().in_set(Step::Flush));
        #[cfg(feature = "bevy_diagnostic")]
        diagnostics::register(app);
    }
}

/// Whether this peer hosts the session (false without a [`NetPeer`]).
pub fn is_host(peer: Option<Res<NetPeer>>) -> bool {
    peer.is_some_and(|p| p.session().is_host())
}

/// Whether this peer is a member of a session: joined, not left (false without a
/// [`NetPeer`]).
pub fn in_session(peer: Option<Res<NetPeer>>) -> bool {
    peer.is_some_and(|p| p.session().in_session())
}

/// The writers of every message the plugin sends.
#[derive(SystemParam)]
struct Writers<'w> {
    joined: MessageWriter<'w, SelfJoined>,
    peer_joined: MessageWriter<'w, PeerJoined>,
    away: MessageWriter<'w, PeerAway>,
    rejoined: MessageWriter<'w, PeerRejoined>,
    left: MessageWriter<'w, PeerLeft>,
    host: MessageWriter<'w, HostChanged>,
    link: MessageWriter<'w, LinkChanged>,
    error: MessageWriter<'w, NetError>,
    event: MessageWriter<'w, NetEvent>,
}

/// Starts the bookkeeping afresh for a new peer, and makes sure its session has the
/// schema (every frame: a replaced [`NetPeer`] may have the same id and address).
fn attach(net: &mut NetPeer, state: &mut NetState, registry: &Registry) {
    let key = (net.session().peer_id(), net.local_addr());
    if state.attached != Some(key) {
        *state = NetState {
            attached: Some(key),
            start: net.now(),
            ..NetState::default()
        };
    }
    net.session_mut().set_schema(registry.schema.clone());
}

/// Reports a poll failure once (until the poll succeeds or fails differently).
fn report(state: &mut NetState, result: Result<(), TransportError>, errors: &mut MessageWriter<NetError>) {
    match result {
        Ok(()) => state.error = None,
        Err(e) => {
            let message = e.to_string();
            if state.error.as_deref() != Some(message.as_str()) {
                log::warn!("netcode: {message}");
                errors.write(NetError {
                    message: message.clone(),
                });
                state.error = Some(message);
            }
        }
    }
}

/// Polls the peer and turns its events into messages.
fn receive(mut net: ResMut<NetPeer>, registry: Res<Registry>, mut state: ResMut<NetState>, mut w: Writers) {
    attach(&mut net, &mut state, &registry);
    let result = net.poll();
    report(&mut state, result, &mut w.error);
    let now = net.now();
    while let Some(event) = net.session_mut().poll_event() {
        match event {
            SessionEvent::Joined { peer, rejoined } => {
                w.joined.write(SelfJoined { peer, rejoined });
            }
            SessionEvent::PeerJoined { peer } => {
                w.peer_joined.write(PeerJoined { peer });
            }
            SessionEvent::PeerAway { peer } => {
                w.away.write(PeerAway { peer });
            }
            SessionEvent::PeerRejoined { peer } => {
                w.rejoined.write(PeerRejoined { peer });
            }
            SessionEvent::PeerLeft { peer, reason } => {
                w.left.write(PeerLeft { peer, reason });
            }
            SessionEvent::HostChanged { old, new, epoch } => {
                let pause = net
                    .session()
                    .last_heard(old)
                    .map_or(Duration::ZERO, |t| now.saturating_sub(t));
                w.host.write(HostChanged { old, new, epoch, pause });
            }
            SessionEvent::LinkChanged { peer, state } => {
                w.link.write(LinkChanged { peer, state });
            }
            _ => {}
        }
        w.event.write(NetEvent(event));
    }
    let session = net.session();
    let hosting = session.is_host();
    state.demoted = state.was_host && !hosting && session.in_session();
    state.was_host = hosting;
    let shared = session.shared_state().map(|(origin, s)| (origin, s.tick));
    if hosting {
        state.shared_floor = shared;
    }
    state.apply_shared = !hosting && shared.is_some() && shared != state.shared_floor;
}

/// Refreshes [`NetStats`].
fn refresh_stats(net: Res<NetPeer>, mut state: ResMut<NetState>, mut stats: ResMut<NetStats>) {
    let session = net.session();
    let me = session.peer_id();
    let now = net.now();
    let counters = session.stats();
    let (mut up, mut down) = (stats.bytes_up_per_sec, stats.bytes_down_per_sec);
    match state.last_bytes {
        Some((then, sent, received)) if now > then => {
            let dt = (now - then).as_secs_f64();
            let weight = 1.0 - (-dt / RATE_SMOOTHING.as_secs_f64()).exp();
            let rate = |after: u64, before: u64| after.saturating_sub(before) as f64 / dt;
            up += weight * (rate(counters.bytes_sent, sent) - up);
            down += weight * (rate(counters.bytes_received, received) - down);
        }
        Some(_) => return,
        None => (up, down) = (0.0, 0.0),
    }
    state.last_bytes = Some((now, counters.bytes_sent, counters.bytes_received));
    let peers = session
        .roster()
        .members
        .iter()
        .filter(|m| m.id != me)
        .map(|m| PeerNetStats {
            peer: m.id,
            name: m.name.clone(),
            rtt: session.rtt(m.id).map(|s| Duration::from_secs_f64(s.max(0.0))),
            loss: session.packet_loss(m.id),
            link: session.link_state(m.id),
            away: !m.is_active(),
        })
        .collect();
    *stats = NetStats {
        me: Some(me),
        host: session.host(),
        peers,
        bytes_up_per_sec: up,
        bytes_down_per_sec: down,
    };
}

/// Despawns the remote entities and forgets the peer once the game removed it.
fn forget_peer(
    mut commands: Commands,
    remote: Query<Entity, With<NetRemote>>,
    mut state: ResMut<NetState>,
    mut stats: ResMut<NetStats>,
) {
    for entity in &remote {
        commands.entity(entity).despawn();
    }
    *state = NetState::default();
    *stats = NetStats::default();
}

/// Decides whether a snapshot is due this frame (at most one per tick).
fn begin_send(
    mut net: ResMut<NetPeer>,
    registry: Res<Registry>,
    config: Res<NetConfig>,
    mut state: ResMut<NetState>,
    mut outbox: ResMut<Outbox>,
) {
    attach(&mut net, &mut state, &registry);
    outbox.tick = None;
    outbox.shared_due = false;
    outbox.own.clear();
    outbox.shared.clear();
    if !config.send_state || !net.session().in_session() {
        return;
    }
    let tick = (net.now().saturating_sub(state.start).as_secs_f64() * TICK_HZ) as u32;
    if state.last_tick.is_some_and(|t| tick <= t) {
        return;
    }
    outbox.tick = Some(tick);
    outbox.shared_due = net.session().is_host();
}

/// Publishes what the replicated components gathered.
fn publish(mut net: ResMut<NetPeer>, mut state: ResMut<NetState>, mut outbox: ResMut<Outbox>) {
    let Some(tick) = outbox.tick.take() else {
        return;
    };
    state.last_tick = Some(tick);
    let own = std::mem::take(&mut outbox.own);
    // An empty stream is published once, so that receivers despawn what it had.
    if !own.is_empty() || state.own_nonempty {
        state.own_nonempty = !own.is_empty();
        net.session_mut()
            .publish_own(crate::snapshot::delta::Snapshot { tick, entities: own });
    }
    let shared = std::mem::take(&mut outbox.shared);
    if outbox.shared_due && (!shared.is_empty() || state.shared_nonempty) {
        state.shared_nonempty = !shared.is_empty();
        let snapshot = crate::snapshot::delta::Snapshot { tick, entities: shared };
        if let Err(e) = net.session_mut().publish_shared(snapshot) {
            log::debug!("shared snapshot not published: {e}");
        }
    }
}

/// Polls again, so that what was published leaves this frame.
fn flush(mut net: ResMut<NetPeer>, mut state: ResMut<NetState>, mut errors: MessageWriter<NetError>) {
    let result = net.poll();
    report(&mut state, result, &mut errors);
}

#[cfg(feature = "bevy_diagnostic")]
pub use diagnostics::NetDiagnostics;

#[cfg(feature = "bevy_diagnostic")]
mod diagnostics {
    use bevy_app::{App, PreUpdate};
    use bevy_diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
    use bevy_ecs::prelude::*;

    use super::{NetPeer, NetStats, Step, refresh_stats};

    /// Bevy diagnostics the plugin records every frame from [`NetStats`] (feature
    /// `bevy_diagnostic`; add `DiagnosticsPlugin`, or use `DefaultPlugins`, to keep them).
    #[derive(Debug, Clone, Copy)]
    pub struct NetDiagnostics;

    impl NetDiagnostics {
        /// Mean round-trip time over the linked peers, in milliseconds.
        pub const RTT_MS: DiagnosticPath = DiagnosticPath::const_new("netcode/rtt_ms");
        /// Mean packet loss over the linked peers, in percent.
        pub const LOSS_PCT: DiagnosticPath = DiagnosticPath::const_new("netcode/loss_pct");
        /// Bytes per second sent.
        pub const BYTES_UP: DiagnosticPath = DiagnosticPath::const_new("netcode/bytes_up_per_sec");
        /// Bytes per second received.
        pub const BYTES_DOWN: DiagnosticPath = DiagnosticPath::const_new("netcode/bytes_down_per_sec");
        /// Other members in the roster.
        pub const PEERS: DiagnosticPath = DiagnosticPath::const_new("netcode/peers");
    }

    pub(super) fn register(app: &mut App) {
        app.register_diagnostic(Diagnostic::new(NetDiagnostics::RTT_MS).with_suffix("ms"))
            .register_diagnostic(Diagnostic::new(NetDiagnostics::LOSS_PCT).with_suffix("%"))
            .register_diagnostic(Diagnostic::new(NetDiagnostics::BYTES_UP).with_suffix("B/s"))
            .register_diagnostic(Diagnostic::new(NetDiagnostics::BYTES_DOWN).with_suffix("B/s"))
            .register_diagnostic(Diagnostic::new(NetDiagnostics::PEERS))
            .add_systems(
                PreUpdate,
                measure
                    .after(refresh_stats)
                    .in_set(Step::Poll)
                    .run_if(resource_exists::<NetPeer>),
            );
    }

    fn mean(values: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
        if n == 0 { 0.0 } else { sum / f64::from(n) }
    }

    fn measure(stats: Res<NetStats>, mut diagnostics: Diagnostics) {
        diagnostics.add_measurement(&NetDiagnostics::RTT_MS, || {
            mean(
                stats
                    .peers
                    .iter()
                    .filter_map(|p| p.rtt)
                    .map(|r| r.as_secs_f64() * 1000.0),
            )
        });
        diagnostics.add_measurement(&NetDiagnostics::LOSS_PCT, || {
            mean(stats.peers.iter().filter_map(|p| p.loss).map(|l| l * 100.0))
        });
        diagnostics.add_measurement(&NetDiagnostics::BYTES_UP, || stats.bytes_up_per_sec);
        diagnostics.add_measurement(&NetDiagnostics::BYTES_DOWN, || stats.bytes_down_per_sec);
        diagnostics.add_measurement(&NetDiagnostics::PEERS, || stats.peers.len() as f64);
    }
}
