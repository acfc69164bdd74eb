//! The STUN wire format (RFC 8489), as much of it as a binding client needs: a Binding
//! request (a bare 20-byte header), and the decoder of the answers to one (a success
//! response with XOR-MAPPED-ADDRESS or MAPPED-ADDRESS, or an error response).
//!
//! Everything that arrives is untrusted: the decoder checks every length, walks at most
//! [`MAX_ATTRIBUTES`] attributes, and returns a typed [`StunError`] for anything else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

/// The magic cookie, bytes 4..8 of every STUN message since RFC 5389.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Bytes of a STUN header: type, length, cookie, transaction id.
pub const HEADER_BYTES: usize = 20;
/// Most attributes read from one message (a binding response has two to six).
pub const MAX_ATTRIBUTES: usize = 32;
/// Largest message decoded (RFC 8489 keeps STUN over UDP under the path MTU).
pub const MAX_MESSAGE_BYTES: usize = 1280;

/// Binding request (method 0x001, class request).
const BINDING_REQUEST: u16 = 0x0001;
/// Binding success response.
const BINDING_SUCCESS: u16 = 0x0101;
/// Binding error response.
const BINDING_ERROR: u16 = 0x0111;

const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// Comprehension-required attributes a response may carry that change nothing for a
/// binding client: RFC 3489's RESPONSE-ADDRESS, CHANGE-REQUEST, SOURCE-ADDRESS,
/// CHANGED-ADDRESS, then USERNAME, MESSAGE-INTEGRITY, UNKNOWN-ATTRIBUTES, REALM, NONCE,
/// MESSAGE-INTEGRITY-SHA256, PASSWORD-ALGORITHM, USERHASH.
const KNOWN_REQUIRED: [u16; 12] = [
    0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0008, 0x000A, 0x0014, 0x0015, 0x001C, 0x001D, 0x001E,
];

const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;

/// A STUN transaction id: 96 bits chosen by the client.
pub type TransactionId = [u8; 12];

/// Why bytes are not a usable answer to a binding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StunError {
    /// Shorter than a header.
    #[error("{len} bytes: shorter than a STUN header ({HEADER_BYTES})")]
    Short {
        /// The datagram's length.
        len: usize,
    },
    /// Longer than [`MAX_MESSAGE_BYTES`].
    #[error("{len} bytes: longer than a STUN message may be here ({MAX_MESSAGE_BYTES})")]
    Long {
        /// The datagram's length.
        len: usize,
    },
    /// The first two bits are not zero or the magic cookie is missing.
    #[error("not a STUN message (first bits or magic cookie)")]
    NotStun,
    /// The header's length field disagrees with the datagram (or is not a multiple of 4).
    #[error("the header says {declared} bytes of attributes, the datagram has {actual}")]
    Length {
        /// The header's length field.
        declared: usize,
        /// Bytes after the header.
        actual: usize,
    },
    /// A STUN message, but neither a binding success nor a binding error response.
    #[error("message type {kind:#06x} is not an answer to a binding request")]
    NotBindingResponse {
        /// The message type.
        kind: u16,
    },
    /// An attribute's length runs past the end of the message.
    #[error("attribute {kind:#06x} at offset {at} claims {len} bytes, past the end")]
    AttributeOverrun {
        /// The attribute type.
        kind: u16,
        /// Its offset in the message.
        at: usize,
        /// Its length field.
        len: usize,
    },
    /// Fewer than 4 bytes left where an attribute header should be.
    #[error("{left} stray bytes after the last attribute")]
    Trailing {
        /// The bytes left.
        left: usize,
    },
    /// More than [`MAX_ATTRIBUTES`].
    #[error("more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    /// A comprehension-required attribute this client does not know (RFC 8489 says to
    /// discard such a response).
    #[error("unknown comprehension-required attribute {kind:#06x}")]
    UnknownRequired {
        /// The attribute type.
        kind: u16,
    },
    /// An address attribute of the wrong length for its family.
    #[error("address attribute {kind:#06x} has {len} bytes, wrong for its family")]
    BadAddress {
        /// The attribute type.
        kind: u16,
        /// Its length.
        len: usize,
    },
    /// An address family other than IPv4 (1) or IPv6 (2).
    #[error("address family {family:#04x} is neither IPv4 nor IPv6")]
    BadFamily {
        /// The family byte.
        family: u8,
    },
    /// An ERROR-CODE attribute shorter than 4 bytes.
    #[error("an ERROR-CODE attribute of {len} bytes")]
    BadErrorCode {
        /// Its length.
        len: usize,
    },
    /// A success response without a mapped address.
    #[error("a binding success response without a mapped address")]
    NoAddress,
}

/// What an answer to a binding request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Success: where the server saw the request come from.
    Mapped(SocketAddr),
    /// An error response, with its code (class * 100 + number; 0 when it had none).
    Error(u16),
}

/// A decoded answer and the transaction it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The transaction id of the request it answers.
    pub transaction: TransactionId,
    /// What it says.
    pub answer: Answer,
}

/// The cheap check a socket's demultiplexer makes first: the first two bits are zero,
/// bytes 4..8 hold the magic cookie, and the length field is a multiple of 4 and equals
/// the bytes after the header. A netcode packet passes it only by a 1 in 2^32 chance (its
/// bytes 4..8 are a sequence number or ciphertext); the client then also needs the
/// transaction id it sent and the server's address, so a netcode packet is never taken.
pub fn is_stun(bytes: &[u8]) -> bool {
    if bytes.len() < HEADER_BYTES || bytes[0] & 0xC0 != 0 || read_u32(bytes, 4) != MAGIC_COOKIE {
        return false;
    }
    let declared = usize::from(read_u16(bytes, 2));
    declared % 4 == 0 && declared == bytes.len() - HEADER_BYTES
}

/// The transaction id of a message that passed [`is_stun`] (or any 20 bytes or more).
pub fn transaction_of(bytes: &[u8]) -> Option<TransactionId> {
    bytes.get(8..HEADER_BYTES)?.try_into().ok()
}

/// A Binding request with this transaction id: a bare header (no attributes; no
/// FINGERPRINT, which only matters where STUN shares a socket with other STUN usages).
pub fn binding_request(transaction: &TransactionId) -> Vec<u8> {
    header(BINDING_REQUEST, 0, transaction)
}

/// Decodes an answer to a binding request: the transaction id, and the mapped address
/// (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS) or the error code.
pub fn decode_response(bytes: &[u8]) -> Result<Response, StunError> {
    if bytes.len() < HEADER_BYTES {
        return Err(StunError::Short { len: bytes.len() });
    }
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(StunError::Long { len: bytes.len() });
    }
    if bytes[0] & 0xC0 != 0 || read_u32(bytes, 4) != MAGIC_COOKIE {
        return Err(StunError::NotStun);
    }
    let declared = usize::from(read_u16(bytes, 2));
    let actual = bytes.len() - HEADER_BYTES;
    if declared != actual || declared % 4 != 0 {
        return Err(StunError::Length { declared, actual });
    }
    let kind = read_u16(bytes, 0);
    if kind != BINDING_SUCCESS && kind != BINDING_ERROR {
        return Err(StunError::NotBindingResponse { kind });
    }
    let transaction = transaction_of(bytes).ok_or(StunError::Short { len: bytes.len() })?;
    let mut xor_mapped = None;
    let mut mapped = None;
    let mut error = None;
    for attr in attributes(bytes) {
        let (kind, value) = attr?;
        match kind {
            ATTR_XOR_MAPPED_ADDRESS => xor_mapped = xor_mapped.or(Some(address(kind, value, Some(&transaction))?)),
            ATTR_MAPPED_ADDRESS => mapped = mapped.or(Some(address(kind, value, None)?)),
            ATTR_ERROR_CODE => error = error.or(Some(error_code(value)?)),
            k if k < 0x8000 && !KNOWN_REQUIRED.contains(&k) => return Err(StunError::UnknownRequired { kind: k }),
            _ => {}
        }
    }
    let answer = if kind == BINDING_ERROR {
        Answer::Error(error.unwrap_or(0))
    } else {
        Answer::Mapped(xor_mapped.or(mapped).ok_or(StunError::NoAddress)?)
    };
    Ok(Response { transaction, answer })
}

/// The attributes after the header: (type, value without padding), each bounded.
fn attributes(bytes: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), StunError>> {
    let mut at = HEADER_BYTES;
    let mut count = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= bytes.len() {
            return None;
        }
        let step = next_attribute(bytes, at, count);
        match &step {
            Ok((next, _, _)) => {
                at = *next;
                count += 1;
            }
            Err(_) => failed = true,
        }
        Some(step.map(|(_, kind, value)| (kind, value)))
    })
}

/// The attribute at `at` (the `count`-th): where the next one starts, its type, its value.
fn next_attribute(bytes: &[u8], at: usize, count: usize) -> Result<(usize, u16, &[u8]), StunError> {
    if count >= MAX_ATTRIBUTES {
        return Err(StunError::TooManyAttributes);
    }
    let left = bytes.len() - at;
    if left < 4 {
        return Err(StunError::Trailing { left });
    }
    let kind = read_u16(bytes, at);
    let len = usize::from(read_u16(bytes, at + 2));
    let start = at + 4;
    let padded = len.div_ceil(4) * 4;
    if padded > bytes.len() - start {
        return Err(StunError::AttributeOverrun { kind, at, len });
    }
    Ok((start + padded, kind, &bytes[start..start + len]))
}

/// A (XOR-)MAPPED-ADDRESS value: reserved byte, family, port, address; XORed with the
/// cookie (and for IPv6 the transaction id) when `xor` holds the transaction id.
fn address(kind: u16, value: &[u8], xor: Option<&TransactionId>) -> Result<SocketAddr, StunError> {
    let bad = StunError::BadAddress { kind, len: value.len() };
    if value.len() < 4 {
        return Err(bad);
    }
    let family = value[1];
    let mut port = read_u16(value, 2);
    let mut mask = [0u8; 16];
    if let Some(tid) = xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        mask[4..].copy_from_slice(tid);
    }
    let ip = match (family, value.len()) {
        (FAMILY_IPV4, 8) => {
            let mut b = [0u8; 4];
            for (i, o) in b.iter_mut().enumerate() {
                *o = value[4 + i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (FAMILY_IPV6, 20) => {
            let mut b = [0u8; 16];
            for (i, o) in b.iter_mut().enumerate() {
                *o = value[4 + i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        (FAMILY_IPV4 | FAMILY_IPV6, _) => return Err(bad),
        (family, _) => return Err(StunError::BadFamily { family }),
    };
    Ok(SocketAddr::new(ip, port))
}

/// An ERROR-CODE value: 2 reserved bytes, class (3 bits), number, reason phrase.
fn error_code(value: &[u8]) -> Result<u16, StunError> {
    if value.len() < 4 {
        return Err(StunError::BadErrorCode { len: value.len() });
    }
    Ok(u16::from(value[2] & 0x07) * 100 + u16::from(value[3]))
}

fn header(kind: u16, len: u16, transaction: &TransactionId) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES + usize::from(len));
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction);
    out
}

fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A binding success response saying `mapped` (XOR-MAPPED-ADDRESS, and MAPPED-ADDRESS
/// too when `plain` is set), as a server writes it: for test responders (feature
/// `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub fn binding_success(transaction: &TransactionId, mapped: SocketAddr, plain: bool) -> Vec<u8> {
    let mut attrs = Vec::new();
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(transaction);
    let xored = match mapped.ip() {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| {
            v4.octets()[i] ^ mask[i]
        }))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| {
            v6.octets()[i] ^ mask[i]
        }))),
    };
    let xport = mapped.port() ^ (MAGIC_COOKIE >> 16) as u16;
    push_address(&mut attrs, ATTR_XOR_MAPPED_ADDRESS, SocketAddr::new(xored, xport));
    if plain {
        push_address(&mut attrs, ATTR_MAPPED_ADDRESS, mapped);
    }
    let len = u16::try_from(attrs.len()).expect("two addresses fit");
    let mut out = header(BINDING_SUCCESS, len, transaction);
    out.extend_from_slice(&attrs);
    out
}

/// A binding error response with `code` (e.g. 400), as a server writes it (feature
/// `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub fn binding_error(transaction: &TransactionId, code: u16) -> Vec<u8> {
    let reason = b"Bad Request";
    let value_len = 4 + reason.len();
    let padded = value_len.div_ceil(4) * 4;
    let mut out = header(BINDING_ERROR, u16::try_from(4 + padded).expect("small"), transaction);
    out.extend_from_slice(&ATTR_ERROR_CODE.to_be_bytes());
    out.extend_from_slice(&u16::try_from(value_len).expect("small").to_be_bytes());
    out.extend_from_slice(&[
        0,
        0,
        u8::try_from(code / 100).unwrap_or(7) & 0x07,
        u8::try_from(code % 100).unwrap_or(0),
    ]);
    out.extend_from_slice(reason);
    out.resize(HEADER_BYTES + 4 + padded, 0);
    out
}

#[cfg(any(test, feature = "test-util"))]
fn push_address(out: &mut Vec<u8>, kind: u16, addr: SocketAddr) {
    out.extend_from_slice(&kind.to_be_bytes());
    let (family, ip): (u8, Vec<u8>) = match addr.ip() {
        IpAddr::V4(v4) => (FAMILY_IPV4, v4.octets().to_vec()),
        IpAddr::V6(v6) => (FAMILY_IPV6, v6.octets().to_vec()),
    };
    out.extend_from_slice(&u16::try_from(4 + ip.len()).expect("small").to_be_bytes());
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&addr.port().to_be_bytes());
    out.extend_from_slice(&ip);
}
