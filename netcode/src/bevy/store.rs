//! The replicated store as typed system params: [`NetStore`] reads and writes,
//! [`NetStoreRead`] only reads (so systems that only read run in parallel).

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
/// Reads give `Ok(None)` without a session or entry, and [`NetError::Decode`] (naming
/// the key and the type asked for) when the entry holds bytes that do not decode as that
/// type. Writes fail with a typed [`NetError`]. A [`super::StoreChanged`] message follows
/// every change, here or from the network.
///
/// It takes the [`NetPeer`] mutably: a system that only reads takes [`NetStoreRead`].
#[derive(SystemParam)]
pub struct NetStore<'w> {
    peer: Option<ResMut<'w, NetPeer>>,
    changed: MessageWriter<'w, StoreChanged>,
}

/// Read-only access to the replicated store: the reads of [`NetStore`], over
/// `Res<NetPeer>`, so systems holding it run beside each other and beside `Res<NetPeer>`.
#[derive(SystemParam)]
pub struct NetStoreRead<'w> {
    peer: Option<Res<'w, NetPeer>>,
}

/// The reads both params share, over the peer they hold.
mod read {
    use super::*;

    pub(super) fn get<T: DeserializeOwned>(
        peer: Option<&NetPeer>,
        scope: Scope,
        key: &str,
    ) -> Result<Option<T>, NetError> {
        let Some(bytes) = peer.and_then(|p| p.session().store().get(scope, key)) else {
            return Ok(None);
        };
        match bincode::serde::decode_from_slice(bytes, bincode::config::standard()) {
            Ok((value, used)) if used == bytes.len() => Ok(Some(value)),
            Ok((_, used)) => Err(NetError::Decode {
                key: key.to_owned(),
                ty: std::any::type_name::<T>(),
                source: std::sync::Arc::new(bincode::error::DecodeError::OtherString(format!(
                    "{} bytes left over after {used}",
                    bytes.len() - used
                ))),
            }),
            Err(e) => Err(NetError::Decode {
                key: key.to_owned(),
                ty: std::any::type_name::<T>(),
                source: std::sync::Arc::new(e),
            }),
        }
    }

    pub(super) fn keys(peer: Option<&NetPeer>, scope: Scope) -> Vec<String> {
        let Some(peer) = peer else {
            return Vec::new();
        };
        peer.session()
            .store()
            .scope(scope)
            .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX))
            .map(|(k, _)| k.to_owned())
            .collect()
    }
}

/// The read methods, the same on [`NetStore`] and [`NetStoreRead`].
macro_rules! reads {
    ($param:ident) => {
        impl $param<'_> {
            fn peer(&self) -> Option<&NetPeer> {
                self.peer.as_deref()
            }

            /// Whether this peer hosts (only the host writes shared entries).
            pub fn is_host(&self) -> bool {
                self.peer().is_some_and(|p| p.session().is_host())
            }

            /// Session time now, once there is a session.
            pub fn now(&self) -> Option<std::time::Duration> {
                self.peer().map(|p| p.now())
            }

            /// The session, for its roster and figures.
            pub fn session(&self) -> Option<&Session> {
                self.peer().map(|p| p.session())
            }

            /// This peer's id, once there is a session.
            pub fn me(&self) -> Option<PeerId> {
                self.peer().map(|p| p.session().peer_id())
            }

            /// The entry of `scope` under `key`, decoded as `T`: `Ok(None)` when there is
            /// no such entry (or no session), [`NetError::Decode`] when it is not a `T`.
            pub fn get<T: DeserializeOwned>(&self, scope: Scope, key: &str) -> Result<Option<T>, NetError> {
                read::get(self.peer(), scope, key)
            }

            /// The shared entry under `key` (see [`Self::get`]).
            pub fn shared<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, NetError> {
                self.get(Scope::Shared, key)
            }

            /// `peer`'s own entry under `key` (see [`Self::get`]).
            pub fn own<T: DeserializeOwned>(&self, peer: PeerId, key: &str) -> Result<Option<T>, NetError> {
                self.get(Scope::Peer(peer), key)
            }

            /// The keys of `scope`'s entries (the plugin's own keys left out).
            pub fn keys(&self, scope: Scope) -> Vec<String> {
                read::keys(self.peer(), scope)
            }
        }
    };
}

reads!(NetStore);
reads!(NetStoreRead);

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
