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
/// Most entries a full store may carry.
pub const MAX_STORE_ENTRIES: usize = 4096;
/// Largest encoded snapshot stream in one message, in bytes.
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024;
/// Most hops a relayed message may take.
pub const MAX_HOPS: u8 = 2;

/// Errors of the wire layer.
#[derive(Debug, Error)]
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
