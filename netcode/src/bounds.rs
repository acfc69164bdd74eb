//! The bounds every message respects and the wire layer's error: shared by the protocol
//! and by the types it carries (the roster, the store), so that neither imports the other.

use thiserror::Error;

/// Largest message a peer accepts on any channel, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Longest display name, in bytes.
pub const MAX_NAME_BYTES: usize = 32;
/// Longest store key, in bytes.
pub const MAX_KEY_BYTES: usize = 64;
/// Largest store value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most members a roster may list (netcode's own limit is 1024 clients per server).
pub const MAX_MEMBERS: usize = 256;
/// Most entries a replica takes from the network, however merged: twice
/// [`STORE_CAPACITY`]'s entries, the headroom for writers of different scopes that write
/// at once at the edge of the capacity (each checks its own view). Nothing honest goes
/// beyond it.
pub const MAX_STORE_ENTRIES: usize = 2 * STORE_CAPACITY.entries;
/// What the shared scope holds at most (the host's writes): 1024 entries, 128 KiB of keys
/// and values.
pub const SHARED_CAPACITY: Capacity = Capacity {
    entries: 1024,
    bytes: 128 * 1024,
};
/// What each peer's own scope holds at most: 64 entries, 8 KiB of keys and values.
pub const OWN_CAPACITY: Capacity = Capacity {
    entries: 64,
    bytes: 8 * 1024,
};
/// What the whole store holds at most, every scope together: 2048 entries, 256 KiB of keys
/// and values (about 480 KiB on the wire with the seals).
pub const STORE_CAPACITY: Capacity = Capacity {
    entries: 2048,
    bytes: 256 * 1024,
};
/// Most bytes of one piece of a store in transfer (estimated wire size of its entries, see
/// `Store::wire_size`): far under [`MAX_MESSAGE_BYTES`] and a renet channel's memory, so
/// that a store at capacity moves as about 16 pieces.
pub const STORE_PIECE_BYTES: usize = 32 * 1024;
/// Largest encoded snapshot stream in one message, in bytes.
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024;
/// Largest game message (`Session::send_message`), in bytes: an event, not a level (bulk
/// state belongs in the store or the snapshots). Renet slices it into 1200-byte pieces.
pub const MAX_GAME_MESSAGE_BYTES: usize = 16 * 1024;
/// Most game message acknowledgements in one [`crate::protocol::Message::GameAck`].
pub const MAX_GAME_ACKS: usize = 1024;
/// Most hops a relayed message may take.
pub const MAX_HOPS: u8 = 2;

/// A store's limits: entries (deletions count: they stay as tombstones) and bytes (keys
/// plus values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Most entries.
    pub entries: usize,
    /// Most bytes of keys and values.
    pub bytes: usize,
}

/// Errors of the wire layer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes are not a valid message.
    #[error("undecodable message: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The message could not be encoded.
    #[error("unencodable message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Bytes were left over after the message.
    #[error("{0} trailing bytes after message")]
    Trailing(usize),
    /// The message decoded but breaks a bound.
    #[error("invalid message: {0}")]
    Invalid(&'static str),
}

pub(crate) fn check(ok: bool, what: &'static str) -> Result<(), ProtocolError> {
    if ok { Ok(()) } else { Err(ProtocolError::Invalid(what)) }
}

pub(crate) fn check_name(name: &str) -> Result<(), ProtocolError> {
    check(name.len() <= MAX_NAME_BYTES, "name too long")
}
