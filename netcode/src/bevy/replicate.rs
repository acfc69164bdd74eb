//! Replicated components: registration by type, publishing, and the remote entities.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bevy_app::{App, PostUpdate, PreUpdate};
use bevy_ecs::component::Mutable;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::replication::{self, Blend, Interpolation, Replication, Values, WireRef};
use super::session::{Book, Outbox};
use super::{NetConfig, NetPeer, NetcodePlugin, Step};
use crate::snapshot::delta::{EntityState, Schema, Snapshot};
use crate::snapshot::flat::{self, FieldInfo};
use crate::snapshot::interp::InterpolationBuffer;
use crate::snapshot::quant::Quant;
use crate::{PeerId, Session};

/// Bits of a snapshot entry's key that name the component kind (the rest is the entity's
/// id): up to 256 replicated component types, entity ids below 2^24.
const KIND_BITS: u32 = 8;
/// Entity ids must stay below this.
pub const MAX_ENTITY_ID: u32 = 1 << (32 - KIND_BITS);

/// What a replicated component is: a mutable component that serde reads and writes, of a
/// fixed shape (see [`crate::snapshot::flat`]). Implemented for every such type.
pub trait Replicated: Component<Mutability = Mutable> + Serialize + DeserializeOwned + Clone {}

impl<T: Component<Mutability = Mutable> + Serialize + DeserializeOwned + Clone> Replicated for T {}

/// Marks an entity this peer owns: its replicated components go in this peer's own
/// stream, under `id` (unique among this peer's entities, below [`MAX_ENTITY_ID`]).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetOwned {
    /// The entity's id in this peer's stream.
    pub id: u32,
}

/// Marks a shared entity (pickups, the ball): its replicated components go in the shared
/// stream while this peer hosts, under `id` (unique among the shared entities). When the
/// host role moves here, the shared entities seen as `NetRemote { owner: None, .. }`
/// become `NetShared` with the same ids, so the game continues them; when it moves away,
/// they turn back.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetShared {
    /// The entity's id in the shared stream.
    pub id: u32,
}

/// Marks an entity spawned from another peer's snapshots; the plugin updates its
/// replicated components (interpolated) and despawns it when it leaves the stream or its
/// owner leaves the roster.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetRemote {
    /// The member whose own stream it comes from, or `None` for the shared stream.
    pub owner: Option<PeerId>,
    /// Its id in that stream.
    pub id: u32,
}

/// The newest state of `C` received for a [`NetRemote`] entity, beside the interpolated
/// one in `C` (which trails it by the interpolation delay): a host judges hits by it.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Newest<C>(pub C);

/// Registers replicated components.
///
/// A component's `Entity` fields marked `#[entities]` (and written with
/// [`super::entity_ref`]) arrive as the receiver's entity of the same network identity:
/// see [`super::entity_ref`] for how to write such a field.
pub trait ReplicateAppExt {
    /// Registers `C` with the default quantisation of each field
    /// ([`flat::default_quant`]: floats to 1/1000 within ±1e6, integers, bools and
    /// fieldless enums exactly), interpolated linearly.
    ///
    /// # Panics
    ///
    /// Without [`NetcodePlugin`] added first, when `C`'s shape cannot travel (a `String`,
    /// a `Vec`, an `Option`...), or after 256 registered types. These are programming
    /// errors, found at startup; a peer registering other types than the host is an
    /// error at join ([`super::NetError::SchemaMismatch`]).
    fn replicate<C: Replicated>(&mut self) -> &mut Self {
        self.replicate_with::<C>(&[])
    }

    /// Registers `C`, quantising the fields named (by path: `"x"`, `"pos.0"`,
    /// `"inner.speed"`) as given and the others by default.
    ///
    /// # Panics
    ///
    /// As [`ReplicateAppExt::replicate`], and when a path names no field of `C`.
    fn replicate_with<C: Replicated>(&mut self, quantise: &[(&str, Quant)]) -> &mut Self {
        let replication = quantise
            .iter()
            .fold(Replication::new(), |r, (path, q)| r.quantise(path, *q));
        self.replicate_as::<C>(replication)
    }

    /// Registers `C` to travel and be shown as `replication` says: quantisation per
    /// field, and its [`Interpolation`] (linear, snapped to the newest state, or the
    /// game's own blend).
    ///
    /// # Panics
    ///
    /// As [`ReplicateAppExt::replicate_with`].
    fn replicate_as<C: Replicated>(&mut self, replication: Replication<C>) -> &mut Self;
}

/// One registered type.
struct Kind {
    name: &'static str,
    fields: Vec<FieldInfo>,
    quants: Vec<Quant>,
}

/// The registered types; their order gives their kinds.
#[derive(Resource, Default)]
pub(super) struct Registry {
    kinds: Vec<Kind>,
    pub(super) schema: Schema,
}

impl Registry {
    fn rebuild(&mut self) {
        let mut schema = Schema::default();
        for kind in &self.kinds {
            if let Err(e) = schema.add_kind(kind.quants.clone()) {
                panic!("{}: {e}", kind.name);
            }
        }
        self.schema = schema;
    }

    /// A digest of what travels: every type's short name, field paths and quantisation,
    /// and the tick rate.
    pub(super) fn fingerprint(&self, tick_hz: f64) -> u64 {
        let mut hash = Sha256::new();
        hash.update(b"netcode-bevy-schema-1");
        hash.update(tick_hz.to_le_bytes());
        for kind in &self.kinds {
            let short = kind.name.rsplit("::").next().unwrap_or(kind.name);
            hash.update(short.as_bytes());
            for (field, q) in kind.fields.iter().zip(&kind.quants) {
                hash.update(field.path.as_bytes());
                hash.update(format!("{q:?}").as_bytes());
            }
        }
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// The kind of `C`, its leaves (its own, then its entity references), and how it is
/// shown.
#[derive(Resource)]
struct KindOf<C> {
    kind: u8,
    /// Which leaves are discrete (snapped, not blended).
    discrete: Arc<[bool]>,
    /// Leaves of `C` itself.
    leaves: usize,
    /// Entity references it holds.
    slots: usize,
    interpolation: Interpolation<C>,
    blend: Option<Blend>,
}

impl<C: Replicated> KindOf<C> {
    fn values(&self, values: Vec<f32>) -> Values {
        Values {
            values,
            discrete: self.discrete.clone(),
            blend: self.blend.clone(),
        }
    }
}

/// The remote entities by (owner, id).
#[derive(Resource, Default)]
struct RemoteIndex(HashMap<(Option<PeerId>, u32), Entity>);

/// Kinds whose values failed to encode (warned once).
#[derive(Resource, Default)]
struct Warned(BTreeSet<u8>);

pub(super) fn build(app: &mut App) {
    app.init_resource::<Registry>()
        .init_resource::<RemoteIndex>()
        .init_resource::<Warned>()
        .add_systems(PreUpdate, sync_remote.in_set(Step::Spawn));
}

impl ReplicateAppExt for App {
    fn replicate_as<C: Replicated>(&mut self, replication: Replication<C>) -> &mut Self {
        let name = std::any::type_name::<C>();
        assert!(
            self.is_plugin_added::<NetcodePlugin>(),
            "add NetcodePlugin before replicate::<{name}>()"
        );
        if self.world().contains_resource::<KindOf<C>>() {
            return self;
        }
        let mut fields = flat::shape::<C>().unwrap_or_else(|e| panic!("{name} cannot be replicated: {e}"));
        assert!(!fields.is_empty(), "{name} has no fields to replicate");
        let leaves = fields.len();
        let slots = replication::slots::<C>(leaves);
        fields.extend(replication::ref_fields(slots));
        let mut quants: Vec<Quant> = fields.iter().map(|f| flat::default_quant(&f.leaf)).collect();
        for (path, q) in &replication.quantise {
            let Some(i) = fields.iter().position(|f| f.path == *path) else {
                let known: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
                panic!("{name} has no field {path:?} (its fields: {known:?})");
            };
            quants[i] = *q;
        }
        let discrete: Arc<[bool]> = fields.iter().map(|f| flat::is_discrete(&f.leaf)).collect();
        let mut registry = self.world_mut().resource_mut::<Registry>();
        let kind = u8::try_from(registry.kinds.len()).unwrap_or_else(|_| panic!("more than 256 replicated types"));
        registry.kinds.push(Kind { name, fields, quants });
        registry.rebuild();
        let blend = match replication.interpolation {
            Interpolation::With(f) => Some(replication::blend_of(f, leaves)),
            _ => None,
        };
        self.insert_resource(KindOf::<C> {
            kind,
            discrete,
            leaves,
            slots,
            interpolation: replication.interpolation,
            blend,
        })
        .add_systems(PreUpdate, apply_remote::<C>.in_set(Step::Apply))
        .add_systems(PostUpdate, collect::<C>.in_set(Step::Collect))
    }
}

/// A snapshot entry's key: the entity's id and the component's kind.
fn entry_key(id: u32, kind: u8) -> Option<u32> {
    (id < MAX_ENTITY_ID).then_some((id << KIND_BITS) | u32::from(kind))
}

/// The entity id and component kind of a snapshot entry's key.
fn split_key(key: u32) -> (u32, u8) {
    (key >> KIND_BITS, (key & ((1 << KIND_BITS) - 1)) as u8)
}

/// An empty interpolation buffer of the current tuning ([`NetConfig::interp`], checked
/// when it was set), which each remote component's [`Track`] starts from.
///
/// [`NetConfig::interp`]: super::NetConfig::interp
#[derive(Resource, Default)]
pub(super) struct EmptyTrack(pub(super) InterpolationBuffer<Values>);

/// The interpolation state of one remote component.
#[derive(Component)]
struct Track<C> {
    buffer: InterpolationBuffer<Values>,
    /// The newest state received (shown at once by [`Interpolation::Snap`]).
    newest: Option<Values>,
    /// The peer whose stream the samples came from (the host, for shared entities).
    source: Option<PeerId>,
    last_tick: Option<u32>,
    _type: PhantomData<fn() -> C>,
}

impl<C> Track<C> {
    fn new(empty: &EmptyTrack) -> Self {
        Track {
            buffer: empty.0.clone(),
            newest: None,
            source: None,
            last_tick: None,
            _type: PhantomData,
        }
    }

    /// Adds the state of `tick` from `source`'s stream (a new source, or ticks that went
    /// back, start the buffer afresh); whether it was new.
    fn push(&mut self, source: PeerId, tick: u32, sent: Duration, now: Duration, values: Values) -> bool {
        if self.source != Some(source) || self.last_tick.is_some_and(|t| tick < t) {
            self.buffer.clear();
            self.last_tick = None;
        }
        if self.last_tick == Some(tick) {
            return false;
        }
        self.source = Some(source);
        self.last_tick = Some(tick);
        self.newest = Some(values.clone());
        self.buffer.push(sent, now, values, false);
        true
    }

    /// The state to show now: interpolated, or the newest for [`Interpolation::Snap`].
    fn shown(&self, interpolation: &Interpolation<C>, now: Duration) -> Option<Values> {
        match interpolation {
            Interpolation::Snap => self.newest.clone(),
            _ => self.buffer.sample(now),
        }
    }
}

/// The streams applied this frame: (owner, source, snapshot); the owner is `None` for
/// the shared stream, whose source is the host that sent it.
fn streams<'a>(session: &'a Session, book: &Book) -> Vec<(Option<PeerId>, PeerId, &'a Snapshot)> {
    let me = session.peer_id();
    let mut out: Vec<_> = session
        .roster()
        .members
        .iter()
        .filter(|m| m.id != me)
        .filter_map(|m| session.remote_state(m.id).map(|s| (Some(m.id), m.id, s)))
        .collect();
    if book.apply_shared
        && let Some((origin, snapshot)) = session.shared_state()
    {
        out.push((None, origin, snapshot));
    }
    out
}

/// Hands shared entities over when the host role moves, spawns a [`NetRemote`] entity
/// for every (owner, id) in the streams, and despawns those gone.
fn sync_remote(
    mut commands: Commands,
    net: Res<NetPeer>,
    config: Res<NetConfig>,
    mut book: ResMut<Book>,
    mut index: ResMut<RemoteIndex>,
    remote: Query<(Entity, &NetRemote)>,
    shared: Query<(Entity, &NetShared)>,
) {
    if std::mem::take(&mut book.fresh) {
        for (entity, _) in &remote {
            commands.entity(entity).try_despawn();
        }
        index.0.clear();
    }
    let session = net.session();
    if session.is_host() {
        for (entity, r) in remote.iter().filter(|(_, r)| r.owner.is_none()) {
            index.0.remove(&(None, r.id));
            commands
                .entity(entity)
                .remove::<NetRemote>()
                .insert(NetShared { id: r.id });
        }
    }
    if book.demoted {
        for (entity, s) in &shared {
            index.0.insert((None, s.id), entity);
            commands
                .entity(entity)
                .remove::<NetShared>()
                .insert(NetRemote { owner: None, id: s.id });
        }
    }
    if !config.receive_state {
        return;
    }
    let present: BTreeSet<(Option<PeerId>, u32)> = streams(session, &book)
        .into_iter()
        .flat_map(|(owner, _, s)| s.entities.keys().map(move |k| (owner, split_key(*k).0)))
        .collect();
    index.0.retain(|(owner, id), entity| {
        let keep = match owner {
            Some(o) => session.roster().get(*o).is_some() && present.contains(&(*owner, *id)),
            None => session.is_host() || !book.apply_shared || present.contains(&(None, *id)),
        };
        if !keep {
            commands.entity(*entity).try_despawn();
        }
        keep
    });
    for (owner, id) in present {
        index
            .0
            .entry((owner, id))
            .or_insert_with(|| commands.spawn(NetRemote { owner, id }).id());
    }
}

/// The entities here by network identity: the remote ones, and this peer's own and
/// (while it hosts) shared ones, for resolving entity references.
#[derive(SystemParam)]
struct Identities<'w, 's> {
    index: Res<'w, RemoteIndex>,
    owned: Query<'w, 's, (Entity, &'static NetOwned)>,
    shared: Query<'w, 's, (Entity, &'static NetShared)>,
}

impl Identities<'_, '_> {
    /// A resolver of references for this frame (`None` when `C` holds none).
    fn resolver(&self, me: PeerId, hosting: bool, slots: usize) -> impl Fn(WireRef) -> Option<Entity> + '_ {
        let mine: HashMap<(Option<PeerId>, u32), Entity> = if slots == 0 {
            HashMap::new()
        } else {
            let owned = self.owned.iter().map(|(e, o)| ((Some(me), o.id), e));
            let shared = self.shared.iter().filter(|_| hosting).map(|(e, s)| ((None, s.id), e));
            owned.chain(shared).collect()
        };
        move |r: WireRef| {
            let target = r.target()?;
            mine.get(&target).or_else(|| self.index.0.get(&target)).copied()
        }
    }
}

/// Updates the components `C` of the [`NetRemote`] entities from the streams.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn apply_remote<C: Replicated>(
    mut commands: Commands,
    net: Res<NetPeer>,
    config: Res<NetConfig>,
    registry: Res<Registry>,
    kind: Res<KindOf<C>>,
    book: Res<Book>,
    empty: Res<EmptyTrack>,
    ids: Identities,
    mut tracked: Query<(&mut C, &mut Newest<C>, &mut Track<C>), With<NetRemote>>,
) {
    if !config.receive_state {
        return;
    }
    let session = net.session();
    let now = net.now();
    let tick_hz = config.tick_hz; // at least 1: `NetConfig::validate` checked it when set
    let resolve = ids.resolver(session.peer_id(), session.is_host(), kind.slots);
    let decode = |values: &[f32]| replication::decode::<C>(values, kind.leaves, kind.slots, &resolve);
    for (owner, source, snapshot) in streams(session, &book) {
        let sent = Duration::from_secs_f64(f64::from(snapshot.tick) / tick_hz);
        for (&key, state) in &snapshot.entities {
            let (id, k) = split_key(key);
            if k != kind.kind || state.kind != kind.kind {
                continue;
            }
            let Some(&entity) = ids.index.0.get(&(owner, id)) else {
                continue;
            };
            let Ok(values) = registry.schema.values(state) else {
                continue;
            };
            let Ok(value) = decode(&values) else {
                continue;
            };
            let values = kind.values(values);
            if let Ok((_, mut newest, mut track)) = tracked.get_mut(entity) {
                if track.push(source, snapshot.tick, sent, now, values) {
                    newest.0 = value;
                }
            } else {
                let mut track = Track::<C>::new(&empty);
                track.push(source, snapshot.tick, sent, now, values);
                commands
                    .entity(entity)
                    .try_insert((value.clone(), Newest(value), track));
            }
        }
    }
    for (mut component, _, track) in &mut tracked {
        if let Some(shown) = track.shown(&kind.interpolation, now)
            && let Ok(value) = decode(&shown.values)
        {
            *component = value;
        }
    }
}

/// One entity's component as a snapshot entry (its references named by `identity`).
fn entry<C: Replicated>(
    registry: &Registry,
    kind: &KindOf<C>,
    id: u32,
    component: &C,
    identity: impl FnMut(Entity) -> WireRef,
) -> Option<(u32, EntityState)> {
    let key = entry_key(id, kind.kind)?;
    let values = replication::encode(component, kind.slots, identity).ok()?;
    registry.schema.entity(kind.kind, &values).ok().map(|e| (key, e))
}

/// The markers that give an entity its network identity.
type Marks = (
    Option<&'static NetOwned>,
    Option<&'static NetShared>,
    Option<&'static NetRemote>,
);

/// Gathers the [`NetOwned`] and (as host) [`NetShared`] entities of `C` for this
/// frame's snapshots.
#[allow(clippy::too_many_arguments)]
fn collect<C: Replicated>(
    net: Res<NetPeer>,
    registry: Res<Registry>,
    kind: Res<KindOf<C>>,
    mut outbox: ResMut<Outbox>,
    mut warned: ResMut<Warned>,
    own: Query<(&NetOwned, &C)>,
    shared: Query<(&NetShared, &C)>,
    marks: Query<Marks>,
) {
    if outbox.tick.is_none() {
        return;
    }
    let me = net.session().peer_id();
    let identity = |e: Entity| {
        marks
            .get(e)
            .map_or(WireRef::default(), |(o, s, r)| WireRef::of(me, o, s, r))
    };
    let mut failed = false;
    for (owned, component) in &own {
        match entry(&registry, &kind, owned.id, component, identity) {
            Some((key, e)) => {
                outbox.own.insert(key, e);
            }
            None => failed = true,
        }
    }
    if outbox.shared_due {
        for (s, component) in &shared {
            match entry(&registry, &kind, s.id, component, identity) {
                Some((key, e)) => {
                    outbox.shared.insert(key, e);
                }
                None => failed = true,
            }
        }
    }
    if failed && warned.0.insert(kind.kind) {
        log::warn!(
            "{}: an entity was not sent (its id is not below {MAX_ENTITY_ID}, or a value does not encode)",
            std::any::type_name::<C>()
        );
    }
}
