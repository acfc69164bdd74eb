//! Driving the session: polling, messages, the [`NetState`], the schema check, and the
//! tick at which snapshots are published.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bevy_app::{App, PostUpdate, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use bevy_state::prelude::{NextState, State};

use super::messages::*;
use super::net_message::Declared;
use super::replicate::Registry;
use super::{NetConfig, NetPeer, NetRemote, NetState, Step};
use crate::snapshot::delta::{EntityState, Snapshot};
use crate::snapshot::interp::InterpolationBuffer;
use crate::transport::TransportError;
use crate::{JoinPhase, Link, PeerId, Scope, SessionEvent};

/// The shared store entry in which the host tells its schema's fingerprint.
pub(super) const SCHEMA_KEY: &str = "netcode.schema";
/// Prefix of the store keys the plugin keeps for itself.
pub(super) const RESERVED_PREFIX: &str = "netcode.";

/// The plugin's bookkeeping about the current [`NetPeer`].
#[derive(Resource, Default)]
pub(super) struct Book {
    /// Which peer it is about (its id and address): a replaced [`NetPeer`] starts afresh.
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
    pub(super) demoted: bool,
    /// The shared snapshot (origin, tick) current while we last hosted: not applied.
    shared_floor: Option<(PeerId, u32)>,
    /// Whether remote systems apply the current shared snapshot.
    pub(super) apply_shared: bool,
    /// Set when a new peer was attached: the remote entities of the old one go.
    pub(super) fresh: bool,
    /// The last poll failure reported, as it reads (a failure is reported again only when
    /// it changes).
    error: Option<String>,
    /// Since when no other member has been reachable.
    cut_off_since: Option<Duration>,
    /// Whether the host's schema differs from ours (we left).
    pub(super) mismatch: bool,
}

/// What the replicated components' systems gather for this frame's snapshots.
#[derive(Resource, Default)]
pub(super) struct Outbox {
    /// The tick to publish at, when one is due this frame.
    pub(super) tick: Option<u32>,
    /// Whether the shared stream is published too (we host).
    pub(super) shared_due: bool,
    pub(super) own: BTreeMap<u32, EntityState>,
    pub(super) shared: BTreeMap<u32, EntityState>,
}

/// The systems that poll the session and send its messages; figures follow it.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Received;

pub(super) fn build(app: &mut App) {
    app.init_resource::<Book>()
        .init_resource::<super::replicate::EmptyTrack>()
        .init_resource::<Outbox>()
        .add_systems(
            PreUpdate,
            (receive, check_schema, update_state)
                .chain()
                .in_set(Step::Poll)
                .in_set(Received),
        )
        .add_systems(PreUpdate, check_config.before(super::NetSet::Receive))
        .add_systems(
            PreUpdate,
            forget_peer
                .before(super::NetSet::Receive)
                .run_if(resource_removed::<NetPeer>),
        )
        .add_systems(PostUpdate, begin_send.in_set(Step::Begin))
        .add_systems(PostUpdate, (publish, flush).chain().in_set(Step::Flush));
}

/// Starts the bookkeeping afresh for a new peer, and makes sure its session has the
/// schema (every frame: a replaced [`NetPeer`] may have the same id and address).
fn attach(net: &mut NetPeer, book: &mut Book, registry: &Registry) {
    let key = (net.session().peer_id(), net.local_addr());
    if book.attached != Some(key) {
        *book = Book {
            attached: Some(key),
            start: net.now(),
            fresh: true,
            ..Book::default()
        };
    }
    net.session_mut().set_schema(registry.schema.clone());
}

/// Checks each change of [`NetConfig`], once: a configuration that cannot work is
/// reported as [`NetError::Config`] and replaced by the last valid one (the default at
/// first), so that no system ever runs on it.
fn check_config(
    mut config: ResMut<NetConfig>,
    mut valid: Local<Option<NetConfig>>,
    mut empty: ResMut<super::replicate::EmptyTrack>,
    mut errors: MessageWriter<NetError>,
) {
    if !config.is_changed() {
        return;
    }
    let checked = config
        .validate()
        .and_then(|()| InterpolationBuffer::new(config.interp.clone()));
    match checked {
        Ok(buffer) => {
            *valid = Some(config.clone());
            empty.0 = buffer;
        }
        Err(e) => {
            log::warn!("netcode: NetConfig refused: {e}");
            errors.write(NetError::Config(e));
            *config.bypass_change_detection() = valid.clone().unwrap_or_default();
        }
    }
}

/// Reports a poll failure once (until the poll succeeds or fails differently).
fn report(net: &NetPeer, book: &mut Book, result: Result<(), TransportError>, errors: &mut MessageWriter<NetError>) {
    match result {
        Ok(()) => book.error = None,
        Err(e) => {
            let error = NetError::from(e);
            let text = error.to_string();
            if book.error.as_ref() != Some(&text) {
                log::warn!("{} {text}", net.session().log_tag());
                errors.write(error);
                book.error = Some(text);
            }
        }
    }
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
    store: MessageWriter<'w, StoreChanged>,
    error: MessageWriter<'w, NetError>,
    event: MessageWriter<'w, NetEvent>,
}

/// Polls the peer and turns its events into messages.
fn receive(mut net: ResMut<NetPeer>, registry: Res<Registry>, mut book: ResMut<Book>, mut w: Writers) {
    attach(&mut net, &mut book, &registry);
    let result = net.poll();
    report(&net, &mut book, result, &mut w.error);
    let now = net.now();
    while let Some(event) = net.session_mut().poll_event() {
        match &event {
            &SessionEvent::Joined { peer, rejoined } => {
                w.joined.write(SelfJoined { peer, rejoined });
            }
            &SessionEvent::PeerJoined { peer } => {
                w.peer_joined.write(PeerJoined { peer });
            }
            &SessionEvent::PeerAway { peer } => {
                w.away.write(PeerAway { peer });
            }
            &SessionEvent::PeerRejoined { peer } => {
                w.rejoined.write(PeerRejoined { peer });
            }
            &SessionEvent::PeerLeft { peer, reason } => {
                w.left.write(PeerLeft { peer, reason });
            }
            &SessionEvent::HostChanged { old, new, epoch } => {
                let pause = net
                    .session()
                    .last_heard(old)
                    .map_or(Duration::ZERO, |t| now.saturating_sub(t));
                w.host.write(HostChanged { old, new, epoch, pause });
            }
            &SessionEvent::LinkChanged { peer, link } => {
                w.link.write(LinkChanged { peer, link });
            }
            SessionEvent::StoreChanged { scope, key } if !key.starts_with(RESERVED_PREFIX) => {
                w.store.write(StoreChanged {
                    scope: *scope,
                    key: key.clone(),
                });
            }
            _ => {}
        }
        w.event.write(NetEvent(event));
    }
    let session = net.session();
    let hosting = session.is_host();
    book.demoted = book.was_host && !hosting && session.in_session();
    book.was_host = hosting;
    let shared = session.shared_state().map(|(origin, s)| (origin, s.tick));
    if hosting {
        book.shared_floor = shared;
    }
    book.apply_shared = !hosting && shared.is_some() && shared != book.shared_floor && !book.mismatch;
}

/// The host tells its schema's fingerprint (the replicated components, the message and
/// store types); a member whose schema differs leaves with
/// [`NetError::SchemaMismatch`] instead of misreading snapshots.
fn check_schema(
    mut net: ResMut<NetPeer>,
    registry: Res<Registry>,
    declared: Res<Declared>,
    config: Res<NetConfig>,
    mut book: ResMut<Book>,
    mut errors: MessageWriter<NetError>,
) {
    let ours = declared.fingerprint(registry.fingerprint(config.tick_hz));
    let session = net.session();
    if !session.in_session() || book.mismatch {
        return;
    }
    let told = session.store().get(Scope::Shared, SCHEMA_KEY);
    let theirs = told.and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    if session.is_host() {
        if theirs != Some(ours)
            && let Err(e) = net
                .session_mut()
                .set_shared(SCHEMA_KEY, Some(ours.to_le_bytes().to_vec()))
        {
            log::debug!("schema fingerprint not written: {e}");
        }
        return;
    }
    if let Some(theirs) = theirs.filter(|t| *t != ours) {
        let error = NetError::SchemaMismatch { ours, theirs };
        log::warn!("{} {error}", net.session().log_tag());
        book.error = Some(error.to_string());
        errors.write(error);
        book.mismatch = true;
        net.leave();
    }
}

/// Silence from a member after which it counts as unheard for [`NetState::Reconnecting`]
/// (then [`NetConfig::reconnecting_after`] more), whatever its suspicion window.
const SILENT_AFTER: Duration = Duration::from_millis(500);

/// Moves [`NetState`] along with the session.
fn update_state(
    net: Res<NetPeer>,
    config: Res<NetConfig>,
    mut book: ResMut<Book>,
    state: Res<State<NetState>>,
    mut next: ResMut<NextState<NetState>>,
    mut phase: ResMut<NextState<JoinPhase>>,
    current_phase: Option<Res<State<JoinPhase>>>,
) {
    let session = net.session();
    let now = net.now();
    if let Some(p) = net.join_phase().filter(|_| session.is_joining())
        && current_phase.is_none_or(|c| *c.get() != p)
    {
        phase.set(p);
    }
    let others: Vec<PeerId> = session
        .roster()
        .active()
        .map(|m| m.id)
        .filter(|p| *p != session.peer_id())
        .collect();
    // Silent: declared down, or nothing heard for a moment (a session of two waits
    // `pair_suspect_after` before declaring its other member down).
    let silent = |p: &PeerId| {
        session.link(*p) == Link::Down
            || session
                .last_heard(*p)
                .is_none_or(|t| now.saturating_sub(t) >= SILENT_AFTER)
    };
    let cut_off = !others.is_empty() && others.iter().all(silent);
    book.cut_off_since = if cut_off && session.in_session() {
        Some(book.cut_off_since.unwrap_or(now))
    } else {
        None
    };
    let wanted = if session.is_joining() && !book.mismatch {
        NetState::Joining
    } else if !session.in_session() || book.mismatch {
        NetState::Offline
    } else if book
        .cut_off_since
        .is_some_and(|since| now.saturating_sub(since) >= config.reconnecting_after)
    {
        NetState::Reconnecting
    } else if session.is_host() {
        NetState::Hosting
    } else {
        NetState::Member
    };
    if *state.get() != wanted {
        next.set(wanted);
    }
}

/// Despawns the remote entities and forgets the peer once the game removed it.
fn forget_peer(
    mut commands: Commands,
    remote: Query<Entity, With<NetRemote>>,
    mut book: ResMut<Book>,
    mut next: ResMut<NextState<NetState>>,
) {
    for entity in &remote {
        commands.entity(entity).try_despawn();
    }
    *book = Book::default();
    next.set(NetState::Offline);
}

/// Decides whether a snapshot is due this frame (at the configured send rate).
fn begin_send(
    mut net: ResMut<NetPeer>,
    registry: Res<Registry>,
    config: Res<NetConfig>,
    mut book: ResMut<Book>,
    mut outbox: ResMut<Outbox>,
) {
    attach(&mut net, &mut book, &registry);
    outbox.tick = None;
    outbox.shared_due = false;
    outbox.own.clear();
    outbox.shared.clear();
    if !config.send_state || !net.session().in_session() || book.mismatch {
        return;
    }
    // Both rates were checked when set (`NetConfig::validate`): 1 <= send_hz <= tick_hz.
    let tick = (net.now().saturating_sub(book.start).as_secs_f64() * config.tick_hz) as u32;
    let every = (config.tick_hz / config.send_hz).round() as u32;
    if book.last_tick.is_some_and(|t| tick < t.saturating_add(every)) {
        return;
    }
    outbox.tick = Some(tick);
    outbox.shared_due = net.session().is_host();
}

/// Publishes what the replicated components gathered.
fn publish(mut net: ResMut<NetPeer>, mut book: ResMut<Book>, mut outbox: ResMut<Outbox>) {
    let Some(tick) = outbox.tick.take() else {
        return;
    };
    book.last_tick = Some(tick);
    let own = std::mem::take(&mut outbox.own);
    // An empty stream is published once, so that receivers despawn what it had.
    if !own.is_empty() || book.own_nonempty {
        book.own_nonempty = !own.is_empty();
        net.session_mut().publish_own(Snapshot { tick, entities: own });
    }
    let shared = std::mem::take(&mut outbox.shared);
    if outbox.shared_due && (!shared.is_empty() || book.shared_nonempty) {
        book.shared_nonempty = !shared.is_empty();
        if let Err(e) = net.session_mut().publish_shared(Snapshot { tick, entities: shared }) {
            log::debug!("shared snapshot not published: {e}");
        }
    }
}

/// Polls again, so that what was published leaves this frame.
fn flush(mut net: ResMut<NetPeer>, mut book: ResMut<Book>, mut errors: MessageWriter<NetError>) {
    let result = net.poll();
    report(&net, &mut book, result, &mut errors);
}
