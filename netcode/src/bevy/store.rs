//! The replicated store as a typed system param.

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::NetPeer;
use super::messages::{NetError, StoreChanged};
use super::session::RESERVED_PREFIX;
use crate::{PeerId, Scope, Session};

/// Typed access to the session's replicated store: serde values under string keys,
/// either shared (written by the host of the moment, kept through migrations) or one
/// peer's own (kept while its seat is held). Values travel as bincode.
///
/// Reads give `None` without a session or entry, and [`NetError::Decode`] when the
/// entry holds another type. Writes fail with a typed [`NetError`]. A [`super::StoreChanged`]
/// message follows every change, here or from the network.
#[derive(SystemParam)]
pub struct NetStore<'w> {
    peer: Option<ResMut<'w, NetPeer>>,
    changed: MessageWriter<'w, StoreChanged>,
}

fn encode<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, NetError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| NetError::Encode {
        key: key.to_owned(),
        source: std::sync::Arc::new(e),
    })
}

fn check_key(key: &str) -> Result<(), NetError> {
    if key.starts_with(RESERVED_PREFIX) {
        Err(NetError::ReservedKey(key.to_owned()))
    } else {
        Ok(())
    }
}

impl NetStore<'_> {
    /// Whether this peer hosts (only the host writes shared entries).
    pub fn is_host(&self) -> bool {
        self.peer.as_ref().is_some_and(|p| p.session().is_host())
    }

    /// Session time now, once there is a session.
    pub fn now(&self) -> Option<std::time::Duration> {
        self.peer.as_ref().map(|p| p.now())
    }

    /// The session, for its roster and figures (a system with a `NetStore` cannot also
    /// take `Res<NetPeer>`).
    pub fn session(&self) -> Option<&Session> {
        self.peer.as_ref().map(|p| p.session())
    }

    /// This peer's id, once there is a session.
    pub fn me(&self) -> Option<PeerId> {
        self.peer.as_ref().map(|p| p.session().peer_id())
    }

    /// The entry of `scope` under `key`, decoded as `T`.
    pub fn get<T: DeserializeOwned>(&self, scope: Scope, key: &str) -> Result<Option<T>, NetError> {
        let Some(peer) = self.peer.as_ref() else {
            return Ok(None);
        };
        let Some(bytes) = peer.session().store().get(scope, key) else {
            return Ok(None);
        };
        bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map(|(value, _)| Some(value))
            .map_err(|e| NetError::Decode {
                key: key.to_owned(),
                source: std::sync::Arc::new(e),
            })
    }

    /// The shared entry under `key`; `None` when absent or of another type (see
    /// [`NetStore::get`] for the error).
    pub fn shared<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.get(Scope::Shared, key).ok().flatten()
    }

    /// `peer`'s own entry under `key`; `None` when absent or of another type.
    pub fn own<T: DeserializeOwned>(&self, peer: PeerId, key: &str) -> Option<T> {
        self.get(Scope::Peer(peer), key).ok().flatten()
    }

    /// The keys of `scope`'s entries (the plugin's own keys left out).
    pub fn keys(&self, scope: Scope) -> Vec<String> {
        let Some(peer) = self.peer.as_ref() else {
            return Vec::new();
        };
        peer.session()
            .store()
            .scope(scope)
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    /// Writes a shared entry (the host only: [`crate::SessionError::NotHost`] otherwise).
    pub fn set_shared<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), NetError> {
        check_key(key)?;
        let bytes = encode(key, value)?;
        self.write(Scope::Shared, key, Some(bytes))
    }

    /// Removes a shared entry (the host only).
    pub fn remove_shared(&mut self, key: &str) -> Result<(), NetError> {
        check_key(key)?;
        self.write(Scope::Shared, key, None)
    }

    /// Writes this peer's own entry.
    pub fn set_own<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), NetError> {
        check_key(key)?;
        let bytes = encode(key, value)?;
        self.write_own(key, Some(bytes))
    }

    /// Removes this peer's own entry.
    pub fn remove_own(&mut self, key: &str) -> Result<(), NetError> {
        check_key(key)?;
        self.write_own(key, None)
    }

    fn write_own(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), NetError> {
        let me = self.me().ok_or(NetError::NoSession)?;
        self.write(Scope::Peer(me), key, value)
    }

    /// Writes an entry and tells the game (the session reports remote changes only).
    fn write(&mut self, scope: Scope, key: &str, value: Option<Vec<u8>>) -> Result<(), NetError> {
        let peer = self.peer.as_mut().ok_or(NetError::NoSession)?;
        let session = peer.session_mut();
        match scope {
            Scope::Shared => session.set_shared(key, value)?,
            Scope::Peer(_) => session.set_own(key, value)?,
        }
        self.changed.write(StoreChanged {
            scope,
            key: key.to_owned(),
        });
        Ok(())
    }
}
