//! Everything the DHT side of a session derives from its session key: where the session
//! record and the knocks live (their signing keys and salts) and the key that seals them.
//! Without the session key nobody can name the DHT targets, sign an item there, or read
//! one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::item::{ItemKey, SALT_BYTES};
use crate::key::SessionKey;

/// Labels of the derived keys: each is the HMAC message of one key, so no two are equal.
const RECORD_SEED: &[u8] = b"netcode dht v1 record seed";
const RECORD_SALT: &[u8] = b"netcode dht v1 record salt";
const KNOCK_SEED: &[u8] = b"netcode dht v1 knock seed";
const KNOCK_SALT: &[u8] = b"netcode dht v1 knock salt";
const SEAL: &[u8] = b"netcode dht v1 seal";

/// The DHT keys of one session.
#[derive(Clone, PartialEq, Eq)]
pub struct DhtKeys {
    /// The session record's item.
    pub(crate) record: ItemKey,
    /// The knock item: joiners leave their candidates there, the host reads it.
    pub(crate) knock: ItemKey,
    /// The ChaCha20-Poly1305 key that seals both items' values.
    pub(crate) seal: [u8; 32],
}

impl std::fmt::Debug for DhtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtKeys")
            .field("record", &self.record)
            .field("knock", &self.knock)
            .field("seal", &"<redacted>")
            .finish()
    }
}

/// HMAC-SHA256 keyed by the session key over a label and the session id.
fn derive(session: &SessionKey, label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&session.key).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(&session.id.to_le_bytes());
    mac.finalize().into_bytes().into()
}

fn salt(session: &SessionKey, label: &[u8]) -> [u8; SALT_BYTES] {
    let mut salt = [0; SALT_BYTES];
    salt.copy_from_slice(&derive(session, label)[..SALT_BYTES]);
    salt
}

impl DhtKeys {
    /// The keys of the session `session`.
    pub fn derive(session: &SessionKey) -> Self {
        Self {
            record: ItemKey {
                seed: derive(session, RECORD_SEED),
                salt: salt(session, RECORD_SALT),
            },
            knock: ItemKey {
                seed: derive(session, KNOCK_SEED),
                salt: salt(session, KNOCK_SALT),
            },
            seal: derive(session, SEAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: u64, byte: u8) -> SessionKey {
        SessionKey { id, key: [byte; 32] }
    }

    #[test]
    fn keys_depend_on_the_session_and_differ_from_each_other() {
        let a = DhtKeys::derive(&session(1, 7));
        assert_eq!(a, DhtKeys::derive(&session(1, 7)), "the same key gives the same items");
        for other in [session(2, 7), session(1, 8)] {
            let b = DhtKeys::derive(&other);
            assert_ne!(a.record, b.record);
            assert_ne!(a.knock, b.knock);
            assert_ne!(a.seal, b.seal);
        }
        let secrets = [a.record.seed, a.knock.seed, a.seal, session(1, 7).key];
        for (i, x) in secrets.iter().enumerate() {
            for y in &secrets[i + 1..] {
                assert_ne!(x, y, "no derived key equals another or the session key");
            }
        }
        assert_ne!(a.record.salt, a.knock.salt);
        assert!(!format!("{a:?}").contains("seal: ["), "the sealing key is not printed");
    }
}
