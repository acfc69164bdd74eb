//! How one replicated component travels and is shown: its quantisation and
//! interpolation ([`Replication`]), and the entity references it holds ([`entity_ref`]).
//!
//! An `Entity` means nothing on another peer, so a reference travels as the network
//! identity of the entity it names: the stream it is in (a peer's own, or the shared one)
//! and its id there, the identity [`NetOwned`], [`NetShared`] and [`NetRemote`] carry.
//! Before a component is flattened, the plugin walks its entities with Bevy's
//! `Component::map_entities` (the `#[entities]` fields of `#[derive(Component)]`, the
//! same hook as scenes and `bevy_replicon`'s `MapEntities`): each one becomes a slot
//! number, and the slots' identities travel after the component's own fields. The
//! receiver walks the decoded component the same way and puts its own entity of each
//! identity in place: the [`NetRemote`] entity, or its own [`NetOwned`] / [`NetShared`]
//! entity when the reference names one of them. A reference to an entity that is not
//! replicated, or not here (yet), arrives as `Entity::PLACEHOLDER`; the plugin resolves
//! the references every frame, so it becomes the entity once that arrives.

use std::sync::Arc;

use bevy_ecs::entity::EntityMapper;
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use super::replicate::Replicated;
use super::{NetOwned, NetRemote, NetShared};
use crate::PeerId;
use crate::snapshot::flat::{self, FieldInfo};
use crate::snapshot::interp::Interpolate;
use crate::snapshot::quant::Quant;

/// How the receiver shows a remote component between the states it received.
pub enum Interpolation<C> {
    /// Field by field: floats blended linearly, integers, bools and enums snapped to the
    /// nearer state (the default).
    Linear,
    /// No interpolation: the newest state received, at once.
    Snap,
    /// The game's own blend: `blend(a, b, t)` is the state at fraction `t` from `a` to
    /// `b` (0 = `a`, 1 = `b`; a little past 1 while the buffer extrapolates). For an
    /// angle, say, that must take the short way round.
    With(fn(&C, &C, f32) -> C),
}

impl<C> Clone for Interpolation<C> {
    fn clone(&self) -> Self {
        match self {
            Interpolation::Linear => Interpolation::Linear,
            Interpolation::Snap => Interpolation::Snap,
            Interpolation::With(f) => Interpolation::With(*f),
        }
    }
}

/// How a replicated component travels and is shown, for
/// [`super::ReplicateAppExt::replicate_as`]: quantisation per field and interpolation.
pub struct Replication<C> {
    pub(super) quantise: Vec<(String, Quant)>,
    pub(super) interpolation: Interpolation<C>,
}

impl<C> Default for Replication<C> {
    fn default() -> Self {
        Replication {
            quantise: Vec::new(),
            interpolation: Interpolation::Linear,
        }
    }
}

impl<C> Replication<C> {
    /// Every field quantised by default ([`flat::default_quant`]), interpolated linearly.
    pub fn new() -> Self {
        Self::default()
    }

    /// Quantises the field at `path` (`"x"`, `"pos.0"`, `"inner.speed"`) by `quant`.
    pub fn quantise(mut self, path: &str, quant: Quant) -> Self {
        self.quantise.push((path.to_owned(), quant));
        self
    }

    /// Shows remote states with `interpolation` (default [`Interpolation::Linear`]).
    pub fn interpolation(mut self, interpolation: Interpolation<C>) -> Self {
        self.interpolation = interpolation;
        self
    }
}

/// How an `Entity` field of a replicated component is written:
/// `#[serde(with = "netcode::bevy::entity_ref")]` beside `#[entities]`.
///
/// ```
/// use bevy_ecs::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// /// Which player a homing orb chases.
/// #[derive(Component, Serialize, Deserialize, Clone)]
/// struct Chases {
///     #[entities]
///     #[serde(with = "netcode::bevy::entity_ref")]
///     player: Entity,
///     speed: f32,
/// }
/// ```
///
/// It writes the slot the plugin put in place of the entity (a small number): the field
/// only means something inside a replicated component, whose entities the plugin maps
/// (`#[entities]`, or `#[component(map_entities)]`). Written anywhere else, an entity
/// whose index is above 255 fails to serialise.
pub mod entity_ref {
    use bevy_ecs::entity::Entity;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};

    /// Writes the entity's slot.
    pub fn serialize<S: Serializer>(entity: &Entity, serializer: S) -> Result<S::Ok, S::Error> {
        let slot = u8::try_from(entity.index_u32())
            .map_err(|_| ser::Error::custom("an Entity field travels only in a replicated component"))?;
        slot.serialize(serializer)
    }

    /// Reads a slot back as the plugin's stand-in entity for it.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Entity, D::Error> {
        let slot = u8::deserialize(deserializer)?;
        Entity::from_raw_u32(u32::from(slot)).ok_or_else(|| de::Error::custom("no entity for this slot"))
    }
}

/// The stand-in entity of slot `slot`.
fn token(slot: usize) -> Entity {
    u32::try_from(slot)
        .ok()
        .and_then(Entity::from_raw_u32)
        .unwrap_or(Entity::PLACEHOLDER)
}

/// Which stream a referenced entity is in.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Stream {
    /// Not a replicated entity: arrives as `Entity::PLACEHOLDER`.
    #[default]
    None,
    /// A peer's own stream.
    Peer,
    /// The shared stream.
    Shared,
}

/// A reference as it travels: the entity's stream and id (a peer id in four 16-bit
/// leaves, since a leaf holds integers up to 2^24 exactly).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WireRef {
    stream: Stream,
    peer: [u16; 4],
    id: u32,
}

impl WireRef {
    /// The identity of an entity from its markers, if it is replicated.
    pub(super) fn of(
        me: PeerId,
        owned: Option<&NetOwned>,
        shared: Option<&NetShared>,
        remote: Option<&NetRemote>,
    ) -> Self {
        let (stream, peer, id) = match (owned, shared, remote) {
            (Some(o), ..) => (Stream::Peer, me, o.id),
            (_, Some(s), _) => (Stream::Shared, PeerId(0), s.id),
            (.., Some(NetRemote { owner: Some(p), id })) => (Stream::Peer, *p, *id),
            (.., Some(NetRemote { owner: None, id })) => (Stream::Shared, PeerId(0), *id),
            _ => return WireRef::default(),
        };
        let b = peer.0.to_le_bytes();
        let peer = std::array::from_fn(|i| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
        WireRef { stream, peer, id }
    }

    /// The (owner, id) it names: the owner is `None` for the shared stream.
    pub(super) fn target(&self) -> Option<(Option<PeerId>, u32)> {
        let mut b = [0u8; 8];
        for (i, half) in self.peer.iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&half.to_le_bytes());
        }
        match self.stream {
            Stream::None => None,
            Stream::Peer => Some((Some(PeerId(u64::from_le_bytes(b))), self.id)),
            Stream::Shared => Some((None, self.id)),
        }
    }
}

/// Leaves of one [`WireRef`]: the stream, four for the peer, the id.
pub(super) const REF_LEAVES: usize = 6;

/// The leaves of the references of a component with `slots` entity fields, named
/// `entity_refs.K.…` (they join the schema and its fingerprint).
pub(super) fn ref_fields(slots: usize) -> Vec<FieldInfo> {
    let one = flat::shape::<WireRef>().unwrap_or_default();
    (0..slots)
        .flat_map(|k| {
            one.iter().map(move |f| FieldInfo {
                path: format!("entity_refs.{k}.{}", f.path),
                leaf: f.leaf.clone(),
            })
        })
        .collect()
}

/// Counts the entities a mapper is asked for.
#[derive(Default)]
struct Counter(usize);

impl EntityMapper for Counter {
    fn get_mapped(&mut self, _: Entity) -> Entity {
        self.0 += 1;
        token(self.0 - 1)
    }

    fn set_mapped(&mut self, _: Entity, _: Entity) {}
}

/// How many entity references `C` holds (walked on a probe value built from zeros; 0
/// when none can be built). A fixed shape has a fixed number.
pub(super) fn slots<C: Replicated>(leaves: usize) -> usize {
    let Ok(mut probe) = flat::from_values::<C>(&vec![0.0; leaves]) else {
        return 0;
    };
    let mut counter = Counter::default();
    <C as Component>::map_entities(&mut probe, &mut counter);
    counter.0
}

/// The sender's mapper: each entity becomes the next slot, its identity noted.
struct ToWire<F> {
    identity: F,
    refs: Vec<WireRef>,
}

impl<F: FnMut(Entity) -> WireRef> EntityMapper for ToWire<F> {
    fn get_mapped(&mut self, entity: Entity) -> Entity {
        self.refs.push((self.identity)(entity));
        token(self.refs.len() - 1)
    }

    fn set_mapped(&mut self, _: Entity, _: Entity) {}
}

/// The receiver's mapper: each slot becomes the entity here of its identity.
struct FromWire<'a, F> {
    refs: &'a [WireRef],
    resolve: F,
}

impl<F: FnMut(WireRef) -> Option<Entity>> EntityMapper for FromWire<'_, F> {
    fn get_mapped(&mut self, slot: Entity) -> Entity {
        let wire = self.refs.get(slot.index_u32() as usize).copied();
        wire.and_then(&mut self.resolve).unwrap_or(Entity::PLACEHOLDER)
    }

    fn set_mapped(&mut self, _: Entity, _: Entity) {}
}

/// `component`'s leaves, then its `slots` references (each entity named by `identity`).
pub(super) fn encode<C: Replicated>(
    component: &C,
    slots: usize,
    identity: impl FnMut(Entity) -> WireRef,
) -> Result<Vec<f32>, flat::FlatError> {
    if slots == 0 {
        return flat::to_values(component);
    }
    let mut mapped = component.clone();
    let mut mapper = ToWire {
        identity,
        refs: Vec::new(),
    };
    <C as Component>::map_entities(&mut mapped, &mut mapper);
    let mut values = flat::to_values(&mapped)?;
    mapper.refs.resize(slots, WireRef::default());
    for r in &mapper.refs[..slots] {
        values.extend(flat::to_values(r)?);
    }
    Ok(values)
}

/// A component from its leaves (`leaves` of its own, then the references), its entity
/// fields resolved to the entities here by `resolve`.
pub(super) fn decode<C: Replicated>(
    values: &[f32],
    leaves: usize,
    slots: usize,
    resolve: impl FnMut(WireRef) -> Option<Entity>,
) -> Result<C, flat::FlatError> {
    let expected = leaves + slots * REF_LEAVES;
    if values.len() != expected {
        return Err(flat::FlatError::Length {
            expected,
            got: values.len(),
        });
    }
    let mut component = flat::from_values::<C>(&values[..leaves])?;
    if slots > 0 {
        let refs: Vec<WireRef> = values[leaves..]
            .chunks(REF_LEAVES)
            .map(|c| flat::from_values(c).unwrap_or_default())
            .collect();
        <C as Component>::map_entities(&mut component, &mut FromWire { refs: &refs, resolve });
    }
    Ok(component)
}

/// `C` from the leaf values of a peer's snapshot, as the plugin decodes them: `C`'s own
/// leaves, then its entity references (as many as registration counts), each resolved by
/// `resolve` from the (owner, id) it names (no owner: the shared stream). For the
/// `replicated_component` fuzz target.
#[cfg(feature = "test-util")]
pub fn decode_leaves<C: Replicated>(
    values: &[f32],
    mut resolve: impl FnMut(Option<PeerId>, u32) -> Option<Entity>,
) -> Result<C, flat::FlatError> {
    let leaves = flat::shape::<C>()?.len();
    let slots = slots::<C>(leaves);
    decode::<C>(values, leaves, slots, |wire: WireRef| {
        wire.target().and_then(|(owner, id)| resolve(owner, id))
    })
}

/// The leaf values `component` travels as, each entity it refers to named by `identity` as
/// a peer's remote entity (owner, id): the inverse of [`decode_leaves`].
#[cfg(feature = "test-util")]
pub fn encode_leaves<C: Replicated>(
    component: &C,
    mut identity: impl FnMut(Entity) -> (Option<PeerId>, u32),
) -> Result<Vec<f32>, flat::FlatError> {
    let leaves = flat::shape::<C>()?.len();
    encode(component, slots::<C>(leaves), |entity| {
        let (owner, id) = identity(entity);
        WireRef::of(PeerId(0), None, None, Some(&NetRemote { owner, id }))
    })
}

/// A component's own blend over its leaves (for [`Interpolation::With`]).
pub(super) type Blend = Arc<dyn Fn(&[f32], &[f32], f32) -> Option<Vec<f32>> + Send + Sync>;

/// The blend of [`Interpolation::With`] over the first `leaves` values.
pub(super) fn blend_of<C: Replicated>(f: fn(&C, &C, f32) -> C, leaves: usize) -> Blend {
    Arc::new(move |a: &[f32], b: &[f32], t: f32| {
        let a = flat::from_values::<C>(a.get(..leaves)?).ok()?;
        let b = flat::from_values::<C>(b.get(..leaves)?).ok()?;
        flat::to_values(&f(&a, &b, t)).ok()
    })
}

/// Field values of one state, blended field by field (discrete fields snap to the nearer
/// state), or by the component's own blend over its leaves.
#[derive(Clone)]
pub(super) struct Values {
    pub(super) values: Vec<f32>,
    pub(super) discrete: Arc<[bool]>,
    pub(super) blend: Option<Blend>,
}

impl Interpolate for Values {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        let mut values: Vec<f32> = self
            .values
            .iter()
            .zip(&other.values)
            .enumerate()
            .map(|(i, (a, b))| {
                if self.discrete.get(i).copied().unwrap_or(true) {
                    if t < 0.5 { *a } else { *b }
                } else {
                    a + (b - a) * t
                }
            })
            .collect();
        if let Some(own) = self.blend.as_ref().and_then(|f| f(&self.values, &other.values, t)) {
            let n = own.len().min(values.len());
            values[..n].copy_from_slice(&own[..n]);
        }
        Values {
            values,
            discrete: self.discrete.clone(),
            blend: self.blend.clone(),
        }
    }
}
