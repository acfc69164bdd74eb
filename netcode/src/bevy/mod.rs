//! # Bevy integration (feature `bevy`)
//!
//! A thin plugin in the style of `bevy_renet`: the game starts a session with a driver
//! (the UDP [`crate::transport::Peer`], or a [`crate::sim::MemoryPeer`]
//! on the simulator's in-memory network) and inserts it as the [`NetPeer`] resource;
//! [`NetcodePlugin`] then drives it every frame:
//!
//! - **Replication by type.** [`ReplicateAppExt::replicate`] registers any component that
//!   is `Serialize + DeserializeOwned` and of a fixed shape (numbers, bools, fieldless
//!   enums, structs, tuples and arrays of them). Entities marked [`NetOwned`] travel in
//!   this peer's stream, entities marked [`NetShared`] in the host's shared stream; every
//!   other peer sees them as [`NetRemote`] entities, interpolated, with the newest state
//!   received beside it in [`Newest`]. Any number of replicated components per entity;
//!   quantisation per field with [`ReplicateAppExt::replicate_with`].
//! - **Game messages by type.** [`NetMessageAppExt::add_net_message`] registers any serde
//!   type on a [`crate::Channel`]; [`NetSender`] sends it to the host, to everyone or to
//!   one member, and it arrives as [`FromPeer`] messages carrying the sender's id.
//! - **The replicated store** as a system param, [`NetStore`]: typed serde values, shared
//!   (written by the host) or one peer's own; [`StoreChanged`] when an entry changes.
//! - **The session as Bevy [`States`]**: [`NetState`] is `Offline`, `Joining`, `Member`,
//!   `Hosting` or `Reconnecting`, so `OnEnter(NetState::Hosting)` handles a promotion;
//!   while `Joining`, the sub state [`JoinPhase`] tells what the join waits for (mapping,
//!   asking STUN, looking up, punching, admitting). [`NetPeer::host`] and
//!   [`NetPeer::join`] return at once; [`NetPeer::cancel`] gives a join up.
//! - **Messages** for what happens ([`SelfJoined`], [`PeerJoined`], [`PeerAway`],
//!   [`PeerRejoined`], [`PeerLeft`], [`HostChanged`], [`LinkChanged`], [`StoreChanged`],
//!   every session event as [`NetEvent`]), and failures as the typed [`NetError`].
//! - **Figures**: [`NetStats`] now, [`NetHistory`] over the last seconds (rtt, loss and
//!   kbps per peer), and [`MigrationTimeline`]: for each host change, when the old host
//!   went silent, was suspected, declared gone, when the new host claimed and state resumed.
//!
//! Every system runs in [`NetSet::Receive`] (`PreUpdate`) or [`NetSet::Send`]
//! (`PostUpdate`) and only while [`NetPeer`] exists; removing it despawns the remote
//! entities. Add the plugin after `DefaultPlugins` or `MinimalPlugins`.
//!
//! ## Quick start
//!
//! ```
//! use bevy_app::prelude::*;
//! use bevy_ecs::prelude::*;
//! use netcode::bevy::{NetOwned, NetPeer, NetStore, NetcodePlugin, ReplicateAppExt};
//! use netcode::sim::{LinkConditions, MemoryNet};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Serialize, Deserialize, Clone, Copy)]
//! struct Pos { x: f32, y: f32 }
//!
//! fn score(mut store: NetStore) {
//!     if store.is_host() {
//!         store.set_shared("round", &1u32).expect("the host writes shared entries");
//!     }
//! }
//!
//! // On the real network: `NetPeer::new(Peer::host(PeerOptions::default())?)`.
//! let net = MemoryNet::new(7, LinkConditions::default());
//! let mut app = App::new();
//! app.add_plugins((::bevy::MinimalPlugins, NetcodePlugin))
//!     .replicate::<Pos>()
//!     .add_systems(Update, score)
//!     .insert_resource(NetPeer::new(net.host("mira")));
//! app.world_mut().spawn((Pos { x: 1.0, y: 2.0 }, NetOwned { id: 1 }));
//! app.update();
//! ```

#[cfg(feature = "bevy_diagnostic")]
mod diagnostics;
#[cfg(test)]
mod error_tests;
#[cfg(test)]
mod joining_tests;
#[cfg(test)]
mod lifecycle_tests;
mod messages;
mod net_message;
#[cfg(test)]
mod net_message_tests;
mod replicate;
mod replication;
#[cfg(test)]
mod replication_tests;
mod session;
mod stats;
mod store;
pub mod testing;
#[cfg(test)]
mod tests;
mod timeline;

/// The plugin's decoders of what peers send (a game message's bytes, a replicated
/// component's leaf values), for the fuzz targets (feature `test-util`); a game never sees
/// them.
#[cfg(feature = "test-util")]
pub mod wire {
    pub use super::net_message::decode as decode_message;
    pub use super::replication::{decode_leaves, encode_leaves};
}

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bevy_app::{App, Plugin, PostUpdate, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_state::app::{AppExtStates, StatesPlugin};
use bevy_state::prelude::States;
use bevy_state::state::{FreelyMutableState, SubStates};

use crate::JoinPhase;
use crate::invite::Invite;
use crate::snapshot::interp::InterpConfig;
use crate::transport::{Driver, Peer, PeerOptions, Seat};

pub use crate::session::Target;
#[cfg(feature = "bevy_diagnostic")]
pub use diagnostics::NetDiagnostics;
pub use messages::{
    HostChanged, LinkChanged, NetError, NetEvent, PeerAway, PeerJoined, PeerLeft, PeerRejoined, SelfJoined,
    StoreChanged,
};
pub use net_message::{FromPeer, NetMessage, NetMessageAppExt, NetSender, SendError};
pub use replicate::{MAX_ENTITY_ID, NetOwned, NetRemote, NetShared, Newest, ReplicateAppExt, Replicated};
pub use replication::{Interpolation, Replication, entity_ref};
pub use stats::{NetHistory, NetStats, PeerHistory, PeerNetStats, Sample};
pub use store::{NetStore, NetStoreRead};
pub use timeline::{MIGRATIONS_KEPT, Migration, MigrationTimeline};

/// The session on its network: insert it once the driver is ready (after
/// [`Peer::host`], [`Peer::join`], [`Peer::rejoin`], or a [`crate::sim::MemoryNet`]
/// call); every system of the plugin runs only while it exists.
#[derive(Resource)]
pub struct NetPeer(Box<dyn Driver>);

impl NetPeer {
    /// Wraps a driver.
    pub fn new(driver: impl Driver) -> Self {
        NetPeer(Box::new(driver))
    }

    /// Hosts a new session on a UDP socket ([`Peer::host`]), at once.
    pub fn host(options: PeerOptions) -> Result<Self, NetError> {
        Ok(Self::new(Peer::host(options)?))
    }

    /// Joins the session of an invite code on a UDP socket ([`Peer::join`]): returns at
    /// once; insert it, and [`NetState::Joining`] (with its [`JoinPhase`]) lasts until a
    /// member admits us.
    pub fn join(invite: &Invite, options: PeerOptions) -> Result<Self, NetError> {
        Ok(Self::new(Peer::join(invite, options)?))
    }

    /// Takes a saved seat back on a UDP socket ([`Peer::rejoin`]).
    pub fn rejoin(seat: &Seat, options: PeerOptions) -> Result<Self, NetError> {
        Ok(Self::new(Peer::rejoin(seat, options)?))
    }

    /// The invite code of the session, on a UDP socket.
    pub fn invite(&self) -> Option<Invite> {
        self.udp().map(Peer::invite)
    }

    /// What to save to take this seat back after a crash, on a UDP socket.
    pub fn seat(&self) -> Option<Seat> {
        self.udp().map(Peer::seat)
    }

    /// Gives a join up at once, whatever its phase ([`Driver::leave`]: the port mapping
    /// is deleted and nothing more is sent); [`NetState`] turns `Offline`. In the session,
    /// it leaves gracefully.
    pub fn cancel(&mut self) {
        self.0.leave();
    }

    /// Where the join stands while [`NetState::Joining`] (also the sub state
    /// `State<JoinPhase>`).
    pub fn join_phase(&self) -> Option<JoinPhase> {
        self.0.join_phase()
    }

    /// The UDP peer, when the driver is one (for its invite code and seat).
    pub fn udp(&self) -> Option<&Peer> {
        self.0.as_any().downcast_ref::<Peer>()
    }

    /// The UDP peer, mutably, when the driver is one.
    pub fn udp_mut(&mut self) -> Option<&mut Peer> {
        self.0.as_any_mut().downcast_mut::<Peer>()
    }
}

impl Deref for NetPeer {
    type Target = dyn Driver;

    fn deref(&self) -> &(dyn Driver + 'static) {
        &*self.0
    }
}

impl DerefMut for NetPeer {
    fn deref_mut(&mut self) -> &mut (dyn Driver + 'static) {
        &mut *self.0
    }
}

/// What the plugin does each frame. Every field's default is in its doc; change it at
/// any time (`tick_hz` only before the session starts: every peer must use the same).
#[derive(Resource, Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// Snapshot ticks per second: a snapshot's tick counts these since the peer started,
    /// and receivers time their interpolation by it. Part of the schema every peer must
    /// share. Default: 60.
    pub tick_hz: f64,
    /// Snapshots published per second (at most `tick_hz`). Default: 60.
    pub send_hz: f64,
    /// Publish the replicated components of [`NetOwned`] (and, as host, [`NetShared`])
    /// entities. Default: true.
    pub send_state: bool,
    /// Spawn and update [`NetRemote`] entities from the snapshots received. Default: true.
    pub receive_state: bool,
    /// Interpolation of remote entities (applies to entities spawned after a change).
    /// Default: [`InterpConfig::default`].
    pub interp: InterpConfig,
    /// How long every other member must be unreachable before the state turns
    /// [`NetState::Reconnecting`]. Default: 1 s.
    pub reconnecting_after: Duration,
    /// Interval between two samples of [`NetHistory`]. Default: 100 ms.
    pub history_every: Duration,
    /// How far back [`NetHistory`] reaches. Default: 10 s.
    pub history_span: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            tick_hz: DEFAULT_TICK_HZ,
            send_hz: DEFAULT_TICK_HZ,
            send_state: true,
            receive_state: true,
            interp: InterpConfig::default(),
            reconnecting_after: Duration::from_secs(1),
            history_every: Duration::from_millis(100),
            history_span: Duration::from_secs(10),
        }
    }
}

impl NetConfig {
    /// Checks the configuration: rates are finite and at least one per second, the send
    /// rate is not above the tick rate, intervals are above zero, and the interpolation's
    /// tuning holds ([`InterpConfig::validate`]). The plugin checks each change of the
    /// resource, once; a change that fails is reported as [`NetError::Config`] and undone.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        use crate::config::{above_zero, at_least, not_below};
        at_least("tick_hz", self.tick_hz, 1.0)?;
        at_least("send_hz", self.send_hz, 1.0)?;
        not_below("tick_hz", self.tick_hz, "send_hz", self.send_hz)?;
        above_zero("history_every", self.history_every)?;
        self.interp.validate()
    }
}

crate::config::setters!(NetConfig {
    tick_hz: f64,
    send_hz: f64,
    send_state: bool,
    receive_state: bool,
    interp: InterpConfig,
    reconnecting_after: Duration,
    history_every: Duration,
    history_span: Duration,
});

/// Default of [`NetConfig::tick_hz`] and [`NetConfig::send_hz`].
pub use crate::snapshot::DEFAULT_TICK_HZ;

/// Where this peer stands in a session, as Bevy state.
#[derive(States, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NetState {
    /// No [`NetPeer`], or the session was left.
    #[default]
    Offline,
    /// Joining (or taking a seat back), not admitted yet.
    Joining,
    /// A member; another peer hosts.
    Member,
    /// This peer hosts the session.
    Hosting,
    /// A member cut off from every other member for [`NetConfig::reconnecting_after`].
    Reconnecting,
}

/// Where a join stands, as a Bevy sub state of [`NetState::Joining`]: `State<JoinPhase>`
/// exists only while joining, so `OnEnter(JoinPhase::Punching)` and
/// `Option<Res<State<JoinPhase>>>` show the player what the join waits for.
impl States for JoinPhase {
    const DEPENDENCY_DEPTH: usize = <NetState as States>::DEPENDENCY_DEPTH + 1;
}

impl FreelyMutableState for JoinPhase {}

impl SubStates for JoinPhase {
    type SourceStates = NetState;

    fn should_exist(source: NetState) -> Option<Self> {
        (source == NetState::Joining).then_some(JoinPhase::Admitting)
    }
}

/// The plugin's system sets; order game systems against them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetSet {
    /// In `PreUpdate`: receive, send messages, refresh the figures, apply remote state.
    Receive,
    /// In `PostUpdate`: publish replicated state, then send it.
    Send,
}

/// Steps inside the public sets (replicated components add systems to them).
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Poll,
    Spawn,
    Apply,
    Begin,
    Collect,
    Flush,
}

/// Drives a [`NetPeer`]: see the [module docs](self).
#[derive(Debug, Default, Clone, Copy)]
pub struct NetcodePlugin;

impl Plugin for NetcodePlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<StatesPlugin>() {
            app.add_plugins(StatesPlugin);
        }
        app.init_resource::<NetConfig>()
            .init_state::<NetState>()
            .add_sub_state::<JoinPhase>()
            .add_message::<SelfJoined>()
            .add_message::<PeerJoined>()
            .add_message::<PeerAway>()
            .add_message::<PeerRejoined>()
            .add_message::<PeerLeft>()
            .add_message::<HostChanged>()
            .add_message::<LinkChanged>()
            .add_message::<StoreChanged>()
            .add_message::<NetError>()
            .add_message::<NetEvent>()
            .configure_sets(PreUpdate, NetSet::Receive.run_if(resource_exists::<NetPeer>))
            .configure_sets(PostUpdate, NetSet::Send.run_if(resource_exists::<NetPeer>))
            .configure_sets(
                PreUpdate,
                (Step::Poll, Step::Spawn, Step::Apply).chain().in_set(NetSet::Receive),
            )
            .configure_sets(
                PostUpdate,
                (Step::Begin, Step::Collect, Step::Flush).chain().in_set(NetSet::Send),
            );
        session::build(app);
        net_message::build(app);
        replicate::build(app);
        stats::build(app);
        timeline::build(app);
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
