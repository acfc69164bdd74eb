//! A game's own messages, by type: registration ([`NetMessageAppExt::add_net_message`]),
//! sending through [`NetSender`], receiving as [`FromPeer`] Bevy messages; and the store
//! types a game declares ([`NetMessageAppExt::register_store`]). Both enter the schema
//! fingerprint checked at join.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use bevy_app::{App, PreUpdate};
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::session::Received;
use super::{NetPeer, NetSet, NetcodePlugin};
use crate::session::{MessageError, Target};
use crate::{Channel, PeerId, Session};

/// What a game message is: any serde type (sent as bincode). Implemented for every such
/// type.
pub trait NetMessage: Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> NetMessage for T {}

/// A game message of type `M` received from another member (or from this peer itself: a
/// message to the host while it hosts, or to itself).
#[derive(Message, Debug, Clone, PartialEq)]
pub struct FromPeer<M: NetMessage> {
    /// Who sent it: its proven link, or its own signature through a relay.
    pub from: PeerId,
    /// The message.
    pub message: M,
}

/// Why [`NetSender`] did not send a message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendError {
    /// No session, or not in it (joining, left).
    #[error("not in a session")]
    Offline,
    /// Its encoding is over the limit ([`crate::protocol::MAX_GAME_MESSAGE_BYTES`]).
    #[error("a {message} of {size} bytes is over the limit of {max}")]
    TooLarge {
        /// The message's type.
        message: &'static str,
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The peer named is not an active member.
    #[error("{peer} is not an active member")]
    UnknownPeer {
        /// The target.
        peer: PeerId,
    },
    /// The type was not registered with [`NetMessageAppExt::add_net_message`].
    #[error("{message} is not registered as a game message (add_net_message)")]
    Unregistered {
        /// The message's type.
        message: &'static str,
    },
    /// The value does not encode (a serde error of the type's own).
    #[error("a {message} does not encode")]
    Encode {
        /// The message's type.
        message: &'static str,
        /// Why.
        #[source]
        source: bincode::error::EncodeError,
    },
}

/// The registered message types (in order: their kinds) and store types: what the
/// schema fingerprint covers beside the replicated components.
#[derive(Resource, Default)]
pub(super) struct Declared {
    /// Each message type's name and channel, by kind.
    messages: Vec<(&'static str, Channel)>,
    /// Each message type's kind.
    kinds: HashMap<TypeId, u16>,
    /// Each store type's key prefix and name.
    stores: Vec<(String, &'static str)>,
}

impl Declared {
    /// The schema's fingerprint: the components' one (`components`) when nothing is
    /// declared (as before messages existed), else a digest of it and every declared
    /// type's name, channel or key prefix, in order.
    pub(super) fn fingerprint(&self, components: u64) -> u64 {
        if self.messages.is_empty() && self.stores.is_empty() {
            return components;
        }
        let mut hash = Sha256::new();
        hash.update(b"netcode-bevy-declared-1");
        hash.update(components.to_le_bytes());
        for (name, channel) in &self.messages {
            hash.update(b"message\0");
            hash.update(short(name).as_bytes());
            hash.update([channel.id()]);
        }
        for (prefix, name) in &self.stores {
            hash.update(b"store\0");
            hash.update(prefix.as_bytes());
            hash.update(b"\0");
            hash.update(short(name).as_bytes());
        }
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// A type's name without its module path (the game and its tests are different crates).
fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// The kind of `M`.
#[derive(Resource)]
struct KindOf<M> {
    kind: u16,
    _type: PhantomData<fn() -> M>,
}

/// What arrived this frame, by kind, until each type's system takes its own.
#[derive(Resource, Default)]
struct Arrived(BTreeMap<u16, Vec<(PeerId, Vec<u8>)>>);

/// Registers game message types and store types.
pub trait NetMessageAppExt {
    /// Registers `M` as a game message sent on `channel`: send it with [`NetSender`],
    /// read it as [`FromPeer<M>`] messages. Kinds are numbered in registration order, so
    /// every peer registers the same types in the same order (checked at join:
    /// [`super::NetError::SchemaMismatch`]).
    ///
    /// # Panics
    ///
    /// Without [`NetcodePlugin`] added first, or after 65 536 types: programming errors,
    /// found at startup.
    fn add_net_message<M: NetMessage>(&mut self, channel: Channel) -> &mut Self;

    /// Declares that the store entries whose keys start with `key_prefix` hold `T`s: the
    /// declaration enters the schema checked at join, so a peer whose game reads them as
    /// another type is told at join instead of failing to decode them later.
    fn register_store<T: Serialize + DeserializeOwned + 'static>(&mut self, key_prefix: &str) -> &mut Self;
}

pub(super) fn build(app: &mut App) {
    app.init_resource::<Declared>()
        .init_resource::<Arrived>()
        .add_systems(PreUpdate, take_arrived.after(Received).in_set(NetSet::Receive));
}

impl NetMessageAppExt for App {
    fn add_net_message<M: NetMessage>(&mut self, channel: Channel) -> &mut Self {
        let name = std::any::type_name::<M>();
        assert!(
            self.is_plugin_added::<NetcodePlugin>(),
            "add NetcodePlugin before add_net_message::<{name}>()"
        );
        if self.world().contains_resource::<KindOf<M>>() {
            return self;
        }
        let mut declared = self.world_mut().resource_mut::<Declared>();
        let kind = u16::try_from(declared.messages.len()).unwrap_or_else(|_| panic!("more than 65 536 message types"));
        declared.messages.push((name, channel));
        declared.kinds.insert(TypeId::of::<M>(), kind);
        self.insert_resource(KindOf::<M> {
            kind,
            _type: PhantomData,
        })
        .add_message::<FromPeer<M>>()
        .add_systems(PreUpdate, deliver::<M>.after(take_arrived).in_set(NetSet::Receive))
    }

    fn register_store<T: Serialize + DeserializeOwned + 'static>(&mut self, key_prefix: &str) -> &mut Self {
        assert!(
            self.is_plugin_added::<NetcodePlugin>(),
            "add NetcodePlugin before register_store::<{}>()",
            std::any::type_name::<T>()
        );
        let entry = (key_prefix.to_owned(), std::any::type_name::<T>());
        let mut declared = self.world_mut().resource_mut::<Declared>();
        if !declared.stores.contains(&entry) {
            declared.stores.push(entry);
        }
        self
    }
}

/// Takes what the session received and sorts it by kind; a kind nobody registered is
/// dropped (logged at debug with its sender: a peer of another version, or a bad one).
fn take_arrived(mut net: ResMut<NetPeer>, declared: Res<Declared>, mut arrived: ResMut<Arrived>) {
    arrived.0.clear();
    let session = net.session_mut();
    while let Some(m) = session.receive_message() {
        if usize::from(m.kind) < declared.messages.len() {
            arrived.0.entry(m.kind).or_default().push((m.from, m.bytes));
        } else {
            log::debug!(
                "{}: message of unknown kind {} from {}",
                session.peer_id(),
                m.kind,
                m.from
            );
        }
    }
}

/// Decodes the messages of `M`'s kind into [`FromPeer<M>`]; one that does not decode is
/// dropped (logged at debug with its sender).
fn deliver<M: NetMessage>(
    net: Res<NetPeer>,
    kind: Res<KindOf<M>>,
    mut arrived: ResMut<Arrived>,
    mut out: MessageWriter<FromPeer<M>>,
) {
    let Some(list) = arrived.0.remove(&kind.kind) else {
        return;
    };
    for (from, bytes) in list {
        match decode::<M>(&bytes) {
            Some(message) => {
                out.write(FromPeer { from, message });
            }
            None => log::debug!(
                "{}: a {} from {from} does not decode",
                net.session().peer_id(),
                std::any::type_name::<M>()
            ),
        }
    }
}

crate::test_hook! {
    /// `M` from untrusted bytes: the whole of them, within the message bound (public with
    /// `test-util` as `bevy::wire::decode_message`, for the `net_message` fuzz target).
    fn decode<M: NetMessage>(bytes: &[u8]) -> Option<M> {
        let config = bincode::config::standard().with_limit::<{ crate::protocol::MAX_GAME_MESSAGE_BYTES }>();
        match bincode::serde::decode_from_slice::<M, _>(bytes, config) {
            Ok((m, used)) if used == bytes.len() => Some(m),
            _ => None,
        }
    }
}

/// Sends game messages of any registered type ([`NetMessageAppExt::add_net_message`]),
/// each on its type's channel: to the host, to everyone, or to one member. A message to
/// the host while this peer hosts, or to this peer, arrives here as a [`FromPeer`] next
/// frame. (It holds the [`NetPeer`] mutably, as [`super::NetStore`] does: a system that
/// needs both hands what it sends to a system of its own.)
#[derive(SystemParam)]
pub struct NetSender<'w> {
    peer: Option<ResMut<'w, NetPeer>>,
    declared: Res<'w, Declared>,
}

impl NetSender<'_> {
    /// To the host of the moment; a reliable one reaches whoever hosts next if the host
    /// changes before it acknowledged it (`docs/design.md`, "Game messages").
    pub fn to_host<M: NetMessage>(&mut self, message: &M) -> Result<(), SendError> {
        self.send(Target::Host, message)
    }

    /// To every other member.
    pub fn to_all<M: NetMessage>(&mut self, message: &M) -> Result<(), SendError> {
        self.send(Target::All, message)
    }

    /// To one member.
    pub fn to_peer<M: NetMessage>(&mut self, peer: PeerId, message: &M) -> Result<(), SendError> {
        self.send(Target::Peer(peer), message)
    }

    /// To `target`.
    pub fn send<M: NetMessage>(&mut self, target: Target, message: &M) -> Result<(), SendError> {
        let name = std::any::type_name::<M>();
        let kind = *self
            .declared
            .kinds
            .get(&TypeId::of::<M>())
            .ok_or(SendError::Unregistered { message: name })?;
        let channel = self.declared.messages[usize::from(kind)].1;
        let bytes = bincode::serde::encode_to_vec(message, bincode::config::standard())
            .map_err(|source| SendError::Encode { message: name, source })?;
        let peer = self.peer.as_mut().ok_or(SendError::Offline)?;
        peer.session_mut()
            .send_message(target, channel, kind, bytes)
            .map_err(|e| match e {
                MessageError::TooLarge { size, max } => SendError::TooLarge {
                    message: name,
                    size,
                    max,
                },
                MessageError::NotInSession => SendError::Offline,
                MessageError::UnknownPeer { peer } => SendError::UnknownPeer { peer },
            })
    }

    /// The session (a system with a `NetSender` cannot also take `Res<NetPeer>`).
    pub fn session(&self) -> Option<&Session> {
        self.peer.as_ref().map(|p| p.session())
    }
}
