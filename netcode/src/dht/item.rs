//! The contract between the sans-IO DHT logic and the DHT client: the address of a BEP44
//! mutable item, and the requests and replies that travel between the two.

use std::time::Duration;

/// Bytes of an item's salt.
pub(crate) const SALT_BYTES: usize = 16;
/// Most bytes of an item's value: DHT nodes refuse more (and the refusal comes back as a
/// timeout, not an error, so sizes are checked before a put).
pub(crate) const MAX_VALUE: usize = 1000;

/// Where a BEP44 mutable item lives: the ed25519 key that signs it (as its 32-byte seed)
/// and its salt. The DHT target is the SHA-1 of the public key and the salt.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ItemKey {
    /// The ed25519 signing key's seed.
    pub(crate) seed: [u8; 32],
    /// The item's salt.
    pub(crate) salt: [u8; SALT_BYTES],
}

impl std::fmt::Debug for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemKey")
            .field("seed", &"<redacted>")
            .field("salt", &self.salt)
            .finish()
    }
}

/// What the DHT logic asks the client to do. `id` comes back in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DhtRequest {
    /// Store `value` (at most [`MAX_VALUE`] bytes) under `item` with sequence number `seq`;
    /// with `cas`, only where the stored item's sequence number is `cas`.
    Put {
        /// Names the reply.
        id: u64,
        /// Where.
        item: ItemKey,
        /// BEP44 sequence number: nodes keep the highest.
        seq: i64,
        /// Compare-and-swap: the sequence number the writer last saw.
        cas: Option<i64>,
        /// The (sealed) value.
        value: Vec<u8>,
    },
    /// The most recent value stored under `item` (only one newer than `newer_than`).
    Get {
        /// Names the reply.
        id: u64,
        /// Where.
        item: ItemKey,
        /// Only items with a higher sequence number.
        newer_than: Option<i64>,
    },
}

impl DhtRequest {
    /// Its id (a driver that shares one client between two users marks theirs).
    pub(crate) fn id_mut(&mut self) -> &mut u64 {
        match self {
            DhtRequest::Put { id, .. } | DhtRequest::Get { id, .. } => id,
        }
    }
}

impl DhtReply {
    /// Its id (the request's).
    pub(crate) fn id_mut(&mut self) -> &mut u64 {
        match self {
            DhtReply::Put { id, .. } | DhtReply::Got { id, .. } => id,
        }
    }
}

/// Why a put did not store its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutFailure {
    /// The stored item's sequence number is not the `cas` given (another writer won).
    CasMismatch,
    /// A node holds an item with a higher sequence number.
    NewerExists,
    /// No DHT node answered (none known, or all silent until the request timeout).
    NoNodes,
    /// The value is over [`MAX_VALUE`] bytes (checked before sending).
    TooLarge,
}

/// What the client answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DhtReply {
    /// A put finished.
    Put {
        /// The request's id.
        id: u64,
        /// Stored, or why not.
        outcome: Result<(), PutFailure>,
        /// How long the put took.
        took: Duration,
    },
    /// A get finished.
    Got {
        /// The request's id.
        id: u64,
        /// The most recent item found: its sequence number and value (unverified bytes
        /// from the network: the logic opens them).
        found: Option<(i64, Vec<u8>)>,
        /// How long the get took.
        took: Duration,
    },
}
