//! Replicated components: registration, publishing, and the remote entities.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::time::Duration;

use bevy_app::{App, PostUpdate, PreUpdate};
use bevy_ecs::component::Mutable;
use bevy_ecs::prelude::*;

use super::{NetConfig, NetPeer, NetState, NetcodePlugin, Outbox, Registry, Step, TICK_HZ};
use crate::PeerId;
use crate::snapshot::delta::Snapshot;
use crate::snapshot::interp::{InterpConfig, Interpolate, InterpolationBuffer};
use crate::snapshot::quant::Quant;

/// A component that travels in the session's snapshots, quantised field by field.
///
/// Register it with [`ReplicateAppExt::replicate`]; every peer must register the same
/// components with the same kinds and fields.
pub trait Replicate: Component<Mutability = Mutable> + Sized {
    /// Its entity kind in the session's schema: unique per component, the same on every
    /// peer (kinds are small numbers: the schema holds every id up to the largest).
    const KIND: u8;

    /// How each value travels (range and resolution), in the order of [`Self::to_values`].
    fn fields() -> Vec<Quant>;

    /// The values to send, one per field.
    fn to_values(&self) -> Vec<f32>;

    /// The component from received (or interpolated) values; `None` leaves the entity as
    /// it is.
    fn from_values(values: &[f32]) -> Option<Self>;

    /// The values at fraction `t` between two received states (`t` beyond 1 extrapolates
    /// a little when a snapshot is late). Default: linear, field by field; override it for
    /// angles, which should turn the short way across the wrap.
    fn interpolate(from: &[f32], to: &[f32], t: f32) -> Vec<f32> {
        from.iter().zip(to).map(|(a, b)| a + (b - a) * t).collect()
    }
}

/// Marks an entity this peer owns: its replicated component goes in this peer's own
/// stream, under `id` (unique among this peer's entities).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetOwned {
    /// The entity's id in this peer's stream.
    pub id: u32,
}

/// Marks a shared entity (pickups, the ball, the match clock): its replicated component
/// goes in the shared stream while this peer hosts, under `id` (unique among the shared
/// entities).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetShared {
    /// The entity's id in the shared stream.
    pub id: u32,
}

/// Marks an entity spawned from another peer's snapshots; the plugin updates its
/// replicated component (interpolated) and despawns it when it leaves the stream or its
/// owner leaves the roster.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetRemote {
    /// The member whose own stream it comes from, or `None` for the shared stream.
    pub owner: Option<PeerId>,
    /// Its id in that stream.
    pub id: u32,
}

/// Registers replicated components.
pub trait ReplicateAppExt {
    /// Registers `C` in the session's schema and adds its systems: [`NetOwned`] and
    /// [`NetShared`] entities with `C` are published, remote ones spawned as [`NetRemote`].
    ///
    /// # Panics
    ///
    /// Without [`NetcodePlugin`] added first, when another component has the same
    /// [`Replicate::KIND`], or when `C::fields()` is empty.
    fn replicate<C: Replicate>(&mut self) -> &mut Self;
}

impl ReplicateAppExt for App {
    fn replicate<C: Replicate>(&mut self) -> &mut Self {
        assert!(
            self.is_plugin_added::<NetcodePlugin>(),
            "add NetcodePlugin before replicate::<{}>()",
            std::any::type_name::<C>()
        );
        let fields = C::fields();
        assert!(!fields.is_empty(), "{} has no fields", std::any::type_name::<C>());
        let mut registry = self.world_mut().resource_mut::<Registry>();
        let name = std::any::type_name::<C>();
        match registry.kinds.get(&C::KIND) {
            Some((other, _)) if *other == name => return self,
            Some((other, _)) => panic!("{name} and {other} both claim replicated kind {}", C::KIND),
            None => {}
        }
        registry.kinds.insert(C::KIND, (name, fields));
        registry.rebuild();
        self.add_systems(PreUpdate, apply_remote::<C>.in_set(Step::Apply))
            .add_systems(PostUpdate, collect::<C>.in_set(Step::Collect))
    }
}

/// Field values, blended by `C`'s [`Replicate::interpolate`].
struct Values<C>(Vec<f32>, PhantomData<fn() -> C>);

impl<C> Clone for Values<C> {
    fn clone(&self) -> Self {
        Values(self.0.clone(), PhantomData)
    }
}

impl<C: Replicate> Interpolate for Values<C> {
    fn interpolate(&self, other: &Self, t: f32) -> Self {
        Values(C::interpolate(&self.0, &other.0, t), PhantomData)
    }
}

/// The interpolation state of one remote entity.
#[derive(Component)]
struct Track<C: Replicate> {
    buffer: InterpolationBuffer<Values<C>>,
    cfg: InterpConfig,
    /// The peer whose stream the samples came from (the host, for shared entities).
    source: Option<PeerId>,
    last_tick: Option<u32>,
}

impl<C: Replicate> Track<C> {
    fn new(cfg: &InterpConfig) -> Self {
        Track {
            buffer: InterpolationBuffer::new(cfg.clone()),
            cfg: cfg.clone(),
            source: None,
            last_tick: None,
        }
    }

    /// Adds the state of `tick` from `source`'s stream; a new source, or ticks that went
    /// back (a restarted process), start the buffer afresh.
    fn push(&mut self, source: PeerId, tick: u32, now: Duration, values: Vec<f32>) {
        if self.source != Some(source) || self.last_tick.is_some_and(|t| tick < t) {
            self.buffer = InterpolationBuffer::new(self.cfg.clone());
            self.last_tick = None;
        }
        if self.last_tick == Some(tick) {
            return;
        }
        self.source = Some(source);
        self.last_tick = Some(tick);
        let sent = Duration::from_secs_f64(f64::from(tick) / TICK_HZ);
        self.buffer.push(sent, now, Values(values, PhantomData), false);
    }
}

/// Spawns, updates and despawns the [`NetRemote`] entities of `C`, and hands shared
/// entities over when the host role moves.
fn apply_remote<C: Replicate>(
    mut commands: Commands,
    net: Res<NetPeer>,
    config: Res<NetConfig>,
    registry: Res<Registry>,
    state: Res<NetState>,
    mut remote: Query<(Entity, &NetRemote, &mut C, &mut Track<C>)>,
    shared: Query<(Entity, &NetShared), With<C>>,
) {
    let session = net.session();
    let now = net.now();
    let me = session.peer_id();
    let hosting = session.is_host();
    // The host role came here: continue the shared entities with the same ids.
    let mut promoted = BTreeSet::new();
    if hosting {
        for (entity, r, ..) in &remote {
            if r.owner.is_none() {
                promoted.insert(entity);
                commands
                    .entity(entity)
                    .remove::<(NetRemote, Track<C>)>()
                    .insert(NetShared { id: r.id });
            }
        }
    }
    // The host role went away: follow the new host's shared stream.
    if state.demoted {
        for (entity, s) in &shared {
            commands
                .entity(entity)
                .remove::<NetShared>()
                .insert((NetRemote { owner: None, id: s.id }, Track::<C>::new(&config.interp)));
        }
    }
    if !config.receive_state {
        return;
    }
    let mut streams: Vec<(Option<PeerId>, PeerId, &Snapshot)> = session
        .roster()
        .members
        .iter()
        .filter(|m| m.id != me)
        .filter_map(|m| session.remote_state(m.id).map(|s| (Some(m.id), m.id, s)))
        .collect();
    if state.apply_shared
        && let Some((origin, snapshot)) = session.shared_state()
    {
        streams.push((None, origin, snapshot));
    }
    let index: HashMap<(Option<PeerId>, u32), Entity> = remote
        .iter()
        .filter(|(e, ..)| !promoted.contains(e))
        .map(|(e, r, ..)| ((r.owner, r.id), e))
        .collect();
    let mut seen = BTreeSet::new();
    for (owner, source, snapshot) in streams {
        for (&id, entity_state) in snapshot.entities.iter().filter(|(_, e)| e.kind == C::KIND) {
            let Ok(values) = registry.schema.values(entity_state) else {
                continue;
            };
            seen.insert((owner, id));
            if let Some(&entity) = index.get(&(owner, id)) {
                if let Ok((.., mut track)) = remote.get_mut(entity) {
                    track.push(source, snapshot.tick, now, values);
                }
            } else if let Some(component) = C::from_values(&values) {
                let mut track = Track::<C>::new(&config.interp);
                track.push(source, snapshot.tick, now, values);
                commands.spawn((component, NetRemote { owner, id }, track));
            }
        }
    }
    for (entity, r, mut component, track) in &mut remote {
        if promoted.contains(&entity) {
            continue;
        }
        let gone = match r.owner {
            Some(owner) => session.roster().get(owner).is_none() || !seen.contains(&(r.owner, r.id)),
            None => state.apply_shared && !seen.contains(&(None, r.id)),
        };
        if gone {
            commands.entity(entity).despawn();
        } else if let Some(values) = track.buffer.sample(now)
            && let Some(value) = C::from_values(&values.0)
        {
            *component = value;
        }
    }
}

/// Gathers the [`NetOwned`] and (as host) [`NetShared`] entities of `C` for this
/// frame's snapshots.
fn collect<C: Replicate>(
    registry: Res<Registry>,
    mut outbox: ResMut<Outbox>,
    own: Query<(&NetOwned, &C)>,
    shared: Query<(&NetShared, &C)>,
) {
    if outbox.tick.is_none() {
        return;
    }
    let mut failed = false;
    for (owned, component) in &own {
        match registry.schema.entity(C::KIND, &component.to_values()) {
            Ok(e) => {
                outbox.own.insert(owned.id, e);
            }
            Err(_) => failed = true,
        }
    }
    if outbox.shared_due {
        for (s, component) in &shared {
            match registry.schema.entity(C::KIND, &component.to_values()) {
                Ok(e) => {
                    outbox.shared.insert(s.id, e);
                }
                Err(_) => failed = true,
            }
        }
    }
    if failed && !outbox.warned.contains(&C::KIND) {
        outbox.warned.push(C::KIND);
        log::warn!(
            "{}::to_values gave a different number of values than fields(): not sent",
            std::any::type_name::<C>()
        );
    }
}
