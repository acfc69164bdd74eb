//! Invite codes: one copy-pasteable string that holds where to reach a session and the key
//! that opens it.
//!
//! A code is `nc1-` followed by the Crockford base32 (lowercase, no padding) of: the format
//! version (1 byte), the session id (8), the session key (32), the number of addresses (1)
//! and each address (a family byte, then 4 or 16 address bytes and a 2-byte port); in
//! version 2, then the number of rendezvous services (1) and their addresses; in version 3,
//! the rendezvous services (their number may be 0), then the number of public addresses of
//! the first member (1 to [`MAX_PUBLIC`]) and those addresses; then the first 4 bytes of the
//! SHA-256 of all that. A code is written in the oldest version that holds it (version 1
//! without services or public addresses), so older builds read what they can use. Whoever holds the code holds the key: it is a
//! secret to share with friends, not to post. A changed character fails the checksum; a
//! code for a session that ended decodes, but nobody answers it (the transport reports
//! that when it gives up).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::key::SessionKey;

/// What every code starts with (the `1` is the format version).
pub const PREFIX: &str = "nc1-";
/// The format version byte of a code that names no rendezvous service.
const VERSION: u8 = 1;
/// The format version byte of a code that names rendezvous services.
const VERSION_RENDEZVOUS: u8 = 2;
/// The format version byte of a code that names public addresses of its first member.
const VERSION_PUBLIC: u8 = 3;
/// The format version byte of a code that says its session is published on the DHT.
const VERSION_FLAGS: u8 = 4;
/// Flag bit of a version 4 code: the session's members publish it on the Mainline DHT.
const FLAG_DHT: u8 = 1;
/// Most public addresses a code may name.
pub const MAX_PUBLIC: usize = 4;
/// Most addresses a code may list.
pub const MAX_ADDRS: usize = 8;
/// Most rendezvous services a code may name.
pub const MAX_RENDEZVOUS: usize = 4;
/// Longest code accepted (a code with [`MAX_ADDRS`] IPv6 addresses is shorter).
pub const MAX_CODE_CHARS: usize = 512;
/// Checksum bytes at the end of a code.
const CHECKSUM_BYTES: usize = 4;
/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const FAMILY_V4: u8 = 4;
const FAMILY_V6: u8 = 6;

/// Why a string is not an invite code. Displayed as `invite code is invalid: ...`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InviteError {
    /// It does not start with [`PREFIX`].
    #[error("invite code is invalid: it should start with `{PREFIX}`")]
    Prefix,
    /// Longer than [`MAX_CODE_CHARS`].
    #[error("invite code is invalid: too long")]
    TooLong,
    /// A character outside the code's alphabet.
    #[error("invite code is invalid: unexpected character {0:?}")]
    Character(char),
    /// Cut short or with bytes left over.
    #[error("invite code is invalid: {0}")]
    Malformed(&'static str),
    /// The checksum does not match: a typo or a tampered code.
    #[error("invite code is invalid: checksum mismatch (a typo, or the code was changed)")]
    Checksum,
    /// Made by a newer (or unknown) version of the format.
    #[error("invite code is invalid: unknown format version {0}")]
    Version(u8),
    /// Lists no address, or more than [`MAX_ADDRS`].
    #[error("invite code is invalid: it lists {0} addresses (1 to {MAX_ADDRS} expected)")]
    Addresses(usize),
    /// Names no rendezvous service in version 2, or more than [`MAX_RENDEZVOUS`].
    #[error("invite code is invalid: it names {0} rendezvous services (1 to {MAX_RENDEZVOUS} expected)")]
    Rendezvous(usize),
    /// Names no public address in version 3, or more than [`MAX_PUBLIC`].
    #[error("invite code is invalid: it names {0} public addresses (1 to {MAX_PUBLIC} expected)")]
    Public(usize),
}

/// A decoded invite: the members to contact, the rendezvous services that know the
/// session's current members, and the session's id and key.
#[derive(Clone, PartialEq, Eq)]
pub struct Invite {
    /// Addresses of members to join through, tried in turn (after the members a
    /// rendezvous service lists). May be empty when `rendezvous` is not.
    pub addrs: Vec<SocketAddr>,
    /// Rendezvous services to ask for the members and to punch through NATs with.
    pub rendezvous: Vec<SocketAddr>,
    /// Where the first of `addrs` is reachable from the internet (the mapping its router
    /// keeps for its game socket, told by STUN servers, when it is the same for every
    /// destination, or a port its router maps): a joiner dials these first. At most
    /// [`MAX_PUBLIC`]; empty when unknown.
    pub public: Vec<SocketAddr>,
    /// The session's id and key.
    pub session: SessionKey,
    /// Whether the session's members publish it on the BitTorrent Mainline DHT (the host
    /// played online): a joiner then also looks it up there (unless told `--no-dht`).
    pub dht: bool,
}

impl fmt::Debug for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invite")
            .field("addrs", &self.addrs)
            .field("rendezvous", &self.rendezvous)
            .field("public", &self.public)
            .field("session", &self.session)
            .field("dht", &self.dht)
            .finish()
    }
}

impl Invite {
    /// The code for this invite. Addresses beyond [`MAX_ADDRS`] are left out.
    pub fn encode(&self) -> String {
        let rendezvous = &self.rendezvous[..self.rendezvous.len().min(MAX_RENDEZVOUS)];
        let addrs = &self.addrs[..self.addrs.len().min(MAX_ADDRS)];
        let public = if addrs.is_empty() {
            &[][..]
        } else {
            &self.public[..self.public.len().min(MAX_PUBLIC)]
        };
        let version = if self.dht {
            VERSION_FLAGS
        } else if !public.is_empty() {
            VERSION_PUBLIC
        } else if !rendezvous.is_empty() {
            VERSION_RENDEZVOUS
        } else {
            VERSION
        };
        let mut bytes = vec![version];
        bytes.extend_from_slice(&self.session.id.to_le_bytes());
        bytes.extend_from_slice(&self.session.key);
        write_addrs(&mut bytes, addrs);
        if version != VERSION {
            write_addrs(&mut bytes, rendezvous);
        }
        if version >= VERSION_PUBLIC {
            write_addrs(&mut bytes, public);
        }
        if version == VERSION_FLAGS {
            bytes.push(FLAG_DHT);
        }
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        format!("{PREFIX}{}", base32(&bytes))
    }

    /// Decodes a code (surrounding whitespace and letter case are forgiven).
    pub fn decode(code: &str) -> Result<Invite, InviteError> {
        let code = code.trim();
        if code.len() > MAX_CODE_CHARS {
            return Err(InviteError::TooLong);
        }
        let lower = code.to_ascii_lowercase();
        let body = lower.strip_prefix(PREFIX).ok_or(InviteError::Prefix)?;
        let bytes = unbase32(body)?;
        if bytes.len() < 1 + CHECKSUM_BYTES {
            return Err(InviteError::Malformed("too short"));
        }
        let (payload, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        if checksum(payload) != sum {
            return Err(InviteError::Checksum);
        }
        let mut r = Reader(payload);
        let version = r.take(1)?[0];
        if ![VERSION, VERSION_RENDEZVOUS, VERSION_PUBLIC, VERSION_FLAGS].contains(&version) {
            return Err(InviteError::Version(version));
        }
        let id = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let key: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
        let addrs = r.addrs()?;
        let rendezvous = if version == VERSION {
            Vec::new()
        } else {
            let services = r.addrs()?;
            let least = usize::from(version == VERSION_RENDEZVOUS);
            if services.len() < least || services.len() > MAX_RENDEZVOUS {
                return Err(InviteError::Rendezvous(services.len()));
            }
            services
        };
        let public = if version >= VERSION_PUBLIC {
            let public = r.addrs()?;
            // Version 3 exists for its public addresses; version 4 may have none.
            if (version == VERSION_PUBLIC && public.is_empty()) || public.len() > MAX_PUBLIC {
                return Err(InviteError::Public(public.len()));
            }
            public
        } else {
            Vec::new()
        };
        // Unknown flag bits are for later versions of the format: ignored.
        let dht = version == VERSION_FLAGS && r.take(1)?[0] & FLAG_DHT != 0;
        let least = usize::from(rendezvous.is_empty() || !public.is_empty());
        if addrs.len() < least || addrs.len() > MAX_ADDRS {
            return Err(InviteError::Addresses(addrs.len()));
        }
        if !r.0.is_empty() {
            return Err(InviteError::Malformed("bytes left over"));
        }
        Ok(Invite {
            addrs,
            rendezvous,
            public,
            session: SessionKey { id, key },
            dht,
        })
    }
}

/// A count byte, then each address: a family byte, 4 or 16 address bytes, a 2-byte port.
fn write_addrs(bytes: &mut Vec<u8>, addrs: &[SocketAddr]) {
    bytes.push(addrs.len() as u8);
    for addr in addrs {
        match addr.ip() {
            IpAddr::V4(ip) => {
                bytes.push(FAMILY_V4);
                bytes.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                bytes.push(FAMILY_V6);
                bytes.extend_from_slice(&ip.octets());
            }
        }
        bytes.extend_from_slice(&addr.port().to_le_bytes());
    }
}

impl fmt::Display for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Invite {
    type Err = InviteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Invite::decode(s)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// What [`write_addrs`] wrote (at most [`MAX_ADDRS`]).
    fn addrs(&mut self) -> Result<Vec<SocketAddr>, InviteError> {
        let count = usize::from(self.take(1)?[0]);
        if count > MAX_ADDRS {
            return Err(InviteError::Addresses(count));
        }
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            let ip = match self.take(1)?[0] {
                FAMILY_V4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(self.take(4)?).expect("4 bytes"))),
                FAMILY_V6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(self.take(16)?).expect("16 bytes"))),
                _ => return Err(InviteError::Malformed("unknown address family")),
            };
            let port = u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
            if port == 0 {
                return Err(InviteError::Malformed("port 0"));
            }
            addrs.push(SocketAddr::new(ip, port));
        }
        Ok(addrs)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], InviteError> {
        if self.0.len() < n {
            return Err(InviteError::Malformed("cut short"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::digest(bytes);
    digest[..CHECKSUM_BYTES].try_into().expect("4 bytes")
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

fn unbase32(text: &str) -> Result<Vec<u8>, InviteError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.chars() {
        // Crockford: o reads as 0, i and l as 1.
        let c = match c {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        let v = ALPHABET
            .iter()
            .position(|a| char::from(*a) == c)
            .ok_or(InviteError::Character(c))?;
        acc = ((acc << 5) | v as u32) & 0xFFFF;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // What is left is the encoder's zero padding, shorter than one character.
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return Err(InviteError::Malformed("stray characters at the end"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Invite {
        Invite {
            addrs: vec!["192.168.1.20:40001".parse().unwrap(), "[::1]:9".parse().unwrap()],
            rendezvous: Vec::new(),
            public: Vec::new(),
            session: SessionKey {
                id: 0x1234_5678_9abc_def0,
                key: [7; 32],
            },
            dht: false,
        }
    }

    #[test]
    fn codes_round_trip_and_forgive_case_and_spaces() {
        let code = invite().encode();
        assert!(code.starts_with(PREFIX));
        assert_eq!(Invite::decode(&code).unwrap(), invite());
        assert_eq!(
            Invite::decode(&format!("  {}\n", code.to_uppercase())).unwrap(),
            invite()
        );
    }

    #[test]
    fn codes_name_rendezvous_services_and_may_then_list_no_member() {
        let with = Invite {
            rendezvous: vec!["203.0.113.5:7777".parse().unwrap()],
            ..invite()
        };
        let code = with.encode();
        assert_eq!(Invite::decode(&code).unwrap(), with);
        assert_ne!(code, invite().encode());
        let only = Invite {
            addrs: Vec::new(),
            ..with.clone()
        };
        assert_eq!(Invite::decode(&only.encode()).unwrap(), only);
        let none = Invite {
            addrs: Vec::new(),
            ..invite()
        };
        assert_eq!(Invite::decode(&none.encode()), Err(InviteError::Addresses(0)));
        // Version 1 codes (no rendezvous) still read as before.
        assert_eq!(
            Invite::decode(&invite().encode()).unwrap().rendezvous,
            Vec::<SocketAddr>::new()
        );
    }

    #[test]
    fn codes_name_public_addresses_of_their_first_member_with_or_without_services() {
        let public = vec!["198.51.100.11:5000".parse().unwrap()];
        let direct = Invite {
            public: public.clone(),
            ..invite()
        };
        // Version 4: the session is on the DHT, with or without public addresses.
        for on_dht in [
            Invite { dht: true, ..invite() },
            Invite {
                dht: true,
                ..direct.clone()
            },
        ] {
            let code = on_dht.encode();
            assert_eq!(Invite::decode(&code).unwrap(), on_dht);
            assert!(Invite::decode(&code).unwrap().dht);
        }
        assert!(
            !Invite::decode(&direct.encode()).unwrap().dht,
            "older codes are not on the DHT"
        );
        let code = direct.encode();
        assert_eq!(Invite::decode(&code).unwrap(), direct);
        let both = Invite {
            rendezvous: vec!["203.0.113.5:7777".parse().unwrap()],
            ..direct.clone()
        };
        assert_eq!(Invite::decode(&both.encode()).unwrap(), both);
        // Public addresses belong to the first member: without one they are left out.
        let orphan = Invite {
            addrs: Vec::new(),
            rendezvous: vec!["203.0.113.5:7777".parse().unwrap()],
            public,
            ..invite()
        };
        assert_eq!(
            Invite::decode(&orphan.encode()).unwrap().public,
            Vec::<SocketAddr>::new()
        );
        // A version 3 code whose public list is empty is refused, as one with too many.
        let mut bytes = vec![VERSION_PUBLIC];
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(&[1; 32]);
        write_addrs(&mut bytes, &invite().addrs);
        write_addrs(&mut bytes, &[]);
        write_addrs(&mut bytes, &[]);
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum);
        let code = format!("{PREFIX}{}", base32(&bytes));
        assert_eq!(Invite::decode(&code), Err(InviteError::Public(0)));
    }

    #[test]
    fn every_changed_character_is_caught() {
        let code = invite().encode();
        for i in PREFIX.len()..code.len() {
            let mut chars: Vec<char> = code.chars().collect();
            chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
            let tampered: String = chars.into_iter().collect();
            let err = Invite::decode(&tampered).unwrap_err();
            assert!(err.to_string().starts_with("invite code is invalid: "), "{err}");
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for s in [
            "",
            "nc1-",
            "hello",
            "nc1-!!!",
            "nc1-0",
            &"nc1-".repeat(200),
            "nc1-zzzzzzzzzzzzzzzz",
        ] {
            assert!(Invite::decode(s).is_err(), "{s}");
        }
        // Cut short anywhere.
        let code = invite().encode();
        for n in 0..code.len() {
            assert!(Invite::decode(&code[..n]).is_err());
        }
    }
}
