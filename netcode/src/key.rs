//! What every member of a session shares: its id and the key of every link.

/// Protocol version mixed into netcode's protocol id: peers of other versions never link.
const PROTOCOL_VERSION: u64 = 3;

/// The netcode protocol id for a session: different sessions and versions never link.
pub fn protocol_id(session_id: u64) -> u64 {
    session_id.rotate_left(8) ^ PROTOCOL_VERSION
}

/// What every member of a session shares: the id that keeps sessions apart and the
/// key that encrypts and authenticates every link (an invite code carries both).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Session id, mixed into netcode's protocol id.
    pub id: u64,
    /// Netcode private key: connect tokens are made with it.
    pub key: [u8; 32],
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}
