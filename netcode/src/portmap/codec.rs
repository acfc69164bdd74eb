//! The wire formats of NAT-PMP (RFC 6886) and PCP (RFC 6887), as much of them as a client
//! mapping one UDP port needs: NAT-PMP's external-address and UDP-mapping requests and
//! their answers, PCP's MAP request and its answer.
//!
//! Everything that arrives is untrusted: the decoders check the length, version and
//! opcode before reading a field, and return a typed [`CodecError`] for anything else.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// The port PCP and NAT-PMP servers listen on.
pub const SERVER_PORT: u16 = 5351;
/// NAT-PMP's version number.
pub const NATPMP_VERSION: u8 = 0;
/// PCP's version number.
pub const PCP_VERSION: u8 = 2;
/// Largest answer decoded (PCP's limit, RFC 6887 section 7).
pub const MAX_ANSWER_BYTES: usize = 1100;
/// Bytes of a PCP MAP request (24 header + 36 payload).
pub const PCP_MAP_BYTES: usize = 60;
/// A PCP MAP request's nonce.
pub type Nonce = [u8; 12];

const NATPMP_OP_ADDRESS: u8 = 0;
const NATPMP_OP_MAP_UDP: u8 = 1;
const PCP_OP_MAP: u8 = 1;
const RESPONSE_BIT: u8 = 0x80;
const PROTOCOL_UDP: u8 = 17;

/// Why bytes are not a usable port-mapping answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Shorter than the answer it claims to be.
    #[error("{len} bytes: shorter than a {what} answer ({need})")]
    Short {
        /// What it looked like.
        what: &'static str,
        /// The datagram's length.
        len: usize,
        /// The bytes such an answer needs.
        need: usize,
    },
    /// Longer than [`MAX_ANSWER_BYTES`].
    #[error("{len} bytes: longer than a port-mapping answer may be ({MAX_ANSWER_BYTES})")]
    Long {
        /// The datagram's length.
        len: usize,
    },
    /// Neither NAT-PMP's version 0 nor PCP's version 2.
    #[error("version {version} is neither NAT-PMP (0) nor PCP (2)")]
    Version {
        /// The first byte.
        version: u8,
    },
    /// Not an answer to the request it is read as (a request, or another opcode).
    #[error("opcode byte {opcode:#04x} is not the answer expected")]
    Opcode {
        /// The second byte.
        opcode: u8,
    },
    /// A PCP MAP answer for another protocol than UDP.
    #[error("a PCP MAP answer for protocol {protocol}, not UDP")]
    Protocol {
        /// The protocol number.
        protocol: u8,
    },
}

/// NAT-PMP's answer to an external-address request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmpAddress {
    /// Result code (0: success).
    pub result: u16,
    /// Seconds since the server's mappings were last reset.
    pub epoch: u32,
    /// The router's external address.
    pub external: Ipv4Addr,
}

/// NAT-PMP's answer to a UDP mapping request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmpMapping {
    /// Result code (0: success).
    pub result: u16,
    /// Seconds since the server's mappings were last reset.
    pub epoch: u32,
    /// The internal port the mapping is for.
    pub internal_port: u16,
    /// The external port granted.
    pub external_port: u16,
    /// Lease granted, in seconds (0: deleted).
    pub lifetime: u32,
}

/// A NAT-PMP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PmpAnswer {
    /// To an external-address request.
    Address(PmpAddress),
    /// To a UDP mapping request.
    Mapping(PmpMapping),
}

/// A PCP answer to a MAP request (or a NAT-PMP server's "unsupported version").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcpAnswer {
    /// A version-0 answer: the server speaks NAT-PMP only (its result code).
    NatPmpOnly {
        /// The NAT-PMP result code (1: unsupported version).
        result: u16,
    },
    /// A PCP MAP answer.
    Map(PcpMap),
    /// A PCP answer with an error and no MAP payload (a short error answer).
    Error {
        /// The result code.
        result: u8,
    },
}

/// A PCP MAP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcpMap {
    /// Result code (0: success).
    pub result: u8,
    /// Lease granted, in seconds (on an error: how long the error holds).
    pub lifetime: u32,
    /// Seconds since the server's mappings were last reset.
    pub epoch: u32,
    /// The nonce of the request answered.
    pub nonce: Nonce,
    /// The internal port the mapping is for.
    pub internal_port: u16,
    /// The external port granted.
    pub external_port: u16,
    /// The external address granted (IPv4 as an IPv4-mapped IPv6 address).
    pub external: Ipv6Addr,
}

/// NAT-PMP: asks for the router's external address (2 bytes).
pub fn pmp_address_request() -> [u8; 2] {
    [NATPMP_VERSION, NATPMP_OP_ADDRESS]
}

/// NAT-PMP: asks to map UDP `internal_port`, preferably to `external_port`, for
/// `lifetime` seconds (0 deletes the mapping; then `external_port` must be 0).
pub fn pmp_map_request(internal_port: u16, external_port: u16, lifetime: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0] = NATPMP_VERSION;
    b[1] = NATPMP_OP_MAP_UDP;
    b[4..6].copy_from_slice(&internal_port.to_be_bytes());
    b[6..8].copy_from_slice(&external_port.to_be_bytes());
    b[8..12].copy_from_slice(&lifetime.to_be_bytes());
    b
}

/// PCP: a MAP request for UDP `internal_port` of `client` (the address the request is sent
/// from), preferably to `external_port`, for `lifetime` seconds (0 deletes it).
pub fn pcp_map_request(
    client: Ipv4Addr,
    nonce: &Nonce,
    internal_port: u16,
    external_port: u16,
    lifetime: u32,
) -> [u8; PCP_MAP_BYTES] {
    let mut b = [0u8; PCP_MAP_BYTES];
    b[0] = PCP_VERSION;
    b[1] = PCP_OP_MAP;
    b[4..8].copy_from_slice(&lifetime.to_be_bytes());
    b[8..24].copy_from_slice(&client.to_ipv6_mapped().octets());
    b[24..36].copy_from_slice(nonce);
    b[36] = PROTOCOL_UDP;
    b[40..42].copy_from_slice(&internal_port.to_be_bytes());
    b[42..44].copy_from_slice(&external_port.to_be_bytes());
    // Suggested external address: the unspecified IPv4 address (::ffff:0.0.0.0).
    b[44..60].copy_from_slice(&Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets());
    b
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn check_len(bytes: &[u8], what: &'static str, need: usize) -> Result<(), CodecError> {
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(CodecError::Long { len: bytes.len() });
    }
    if bytes.len() < need {
        return Err(CodecError::Short {
            what,
            len: bytes.len(),
            need,
        });
    }
    Ok(())
}

/// Decodes a NAT-PMP answer (to an external-address or a UDP mapping request).
pub fn decode_pmp(bytes: &[u8]) -> Result<PmpAnswer, CodecError> {
    check_len(bytes, "NAT-PMP", 8)?;
    if bytes[0] != NATPMP_VERSION {
        return Err(CodecError::Version { version: bytes[0] });
    }
    let result = u16_at(bytes, 2);
    let epoch = u32_at(bytes, 4);
    match bytes[1] {
        op if op == RESPONSE_BIT | NATPMP_OP_ADDRESS => {
            check_len(bytes, "NAT-PMP address", 12)?;
            let external = Ipv4Addr::new(bytes[8], bytes[9], bytes[10], bytes[11]);
            Ok(PmpAnswer::Address(PmpAddress {
                result,
                epoch,
                external,
            }))
        }
        op if op == RESPONSE_BIT | NATPMP_OP_MAP_UDP => {
            check_len(bytes, "NAT-PMP mapping", 16)?;
            Ok(PmpAnswer::Mapping(PmpMapping {
                result,
                epoch,
                internal_port: u16_at(bytes, 8),
                external_port: u16_at(bytes, 10),
                lifetime: u32_at(bytes, 12),
            }))
        }
        opcode => Err(CodecError::Opcode { opcode }),
    }
}

/// Decodes an answer to a PCP MAP request: a PCP MAP answer, a PCP error without payload,
/// or a NAT-PMP server's version-0 answer (it does not speak PCP).
pub fn decode_pcp(bytes: &[u8]) -> Result<PcpAnswer, CodecError> {
    check_len(bytes, "PCP", 4)?;
    match bytes[0] {
        NATPMP_VERSION => {
            // RFC 6887 section 9: a NAT-PMP server answers with its own header.
            if bytes[1] & RESPONSE_BIT == 0 {
                return Err(CodecError::Opcode { opcode: bytes[1] });
            }
            return Ok(PcpAnswer::NatPmpOnly {
                result: u16_at(bytes, 2),
            });
        }
        PCP_VERSION => {}
        version => return Err(CodecError::Version { version }),
    }
    if bytes[1] != RESPONSE_BIT | PCP_OP_MAP {
        return Err(CodecError::Opcode { opcode: bytes[1] });
    }
    check_len(bytes, "PCP", 24)?;
    let result = bytes[3];
    if bytes.len() < PCP_MAP_BYTES {
        if result != 0 {
            return Ok(PcpAnswer::Error { result });
        }
        check_len(bytes, "PCP MAP", PCP_MAP_BYTES)?;
    }
    let protocol = bytes[36];
    if protocol != PROTOCOL_UDP {
        return Err(CodecError::Protocol { protocol });
    }
    let nonce: Nonce = bytes[24..36].try_into().unwrap_or_default();
    let external: [u8; 16] = bytes[44..60].try_into().unwrap_or_default();
    Ok(PcpAnswer::Map(PcpMap {
        result,
        lifetime: u32_at(bytes, 4),
        epoch: u32_at(bytes, 8),
        nonce,
        internal_port: u16_at(bytes, 40),
        external_port: u16_at(bytes, 42),
        external: Ipv6Addr::from(external),
    }))
}

/// A NAT-PMP mapping answer as a server sends it (tests, fuzzing seeds).
#[cfg(any(test, feature = "test-util"))]
pub fn pmp_map_answer(m: &PmpMapping) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[1] = RESPONSE_BIT | NATPMP_OP_MAP_UDP;
    b[2..4].copy_from_slice(&m.result.to_be_bytes());
    b[4..8].copy_from_slice(&m.epoch.to_be_bytes());
    b[8..10].copy_from_slice(&m.internal_port.to_be_bytes());
    b[10..12].copy_from_slice(&m.external_port.to_be_bytes());
    b[12..16].copy_from_slice(&m.lifetime.to_be_bytes());
    b
}

/// A NAT-PMP external-address answer as a server sends it (tests, fuzzing seeds).
#[cfg(any(test, feature = "test-util"))]
pub fn pmp_address_answer(a: &PmpAddress) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[1] = RESPONSE_BIT | NATPMP_OP_ADDRESS;
    b[2..4].copy_from_slice(&a.result.to_be_bytes());
    b[4..8].copy_from_slice(&a.epoch.to_be_bytes());
    b[8..12].copy_from_slice(&a.external.octets());
    b
}

/// A PCP MAP answer as a server sends it (tests, fuzzing seeds).
#[cfg(any(test, feature = "test-util"))]
pub fn pcp_map_answer(m: &PcpMap) -> [u8; PCP_MAP_BYTES] {
    let mut b = [0u8; PCP_MAP_BYTES];
    b[0] = PCP_VERSION;
    b[1] = RESPONSE_BIT | PCP_OP_MAP;
    b[3] = m.result;
    b[4..8].copy_from_slice(&m.lifetime.to_be_bytes());
    b[8..12].copy_from_slice(&m.epoch.to_be_bytes());
    b[24..36].copy_from_slice(&m.nonce);
    b[36] = PROTOCOL_UDP;
    b[40..42].copy_from_slice(&m.internal_port.to_be_bytes());
    b[42..44].copy_from_slice(&m.external_port.to_be_bytes());
    b[44..60].copy_from_slice(&m.external.octets());
    b
}
