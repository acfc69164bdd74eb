//! The two values stored on the DHT, sealed: the session record (who hosts, at which epoch,
//! and every member's candidates) and a joiner's knock (its candidates). Encoded with
//! bincode (bounded), sealed with ChaCha20-Poly1305 under the session's sealing key with the
//! item's kind and salt as associated data, so a value cannot be moved to another item or
//! session; checked for freshness on opening.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use thiserror::Error;

use super::item::MAX_VALUE;
use super::keys::DhtKeys;
use crate::PeerId;
use crate::bounds::MAX_MEMBERS;
use crate::protocol::{CandidateKind, Candidates};

/// Bytes of the random nonce in front of a sealed value.
pub const NONCE_BYTES: usize = 12;
/// Bytes of the Poly1305 tag at its end.
pub const TAG_BYTES: usize = 16;
/// Most bytes of an encoded value before sealing.
pub const MAX_PLAIN: usize = MAX_VALUE - NONCE_BYTES - TAG_BYTES;
/// Oldest session record accepted: the life of an item on BEP44 nodes (~2 h). The host
/// refreshes every [`super::publish::REFRESH`] (30 min), so an older record can only come
/// from a session nobody publishes any more, or from a replay.
pub const RECORD_MAX_AGE_MS: u64 = 2 * 3600 * 1000;
/// Oldest knock accepted: a joiner repeats its knock every few seconds, but the host's and
/// the joiner's clocks may differ by up to [`CLOCK_SKEW_MS`]; a knock replayed within this
/// window only makes the host probe a stale address for one burst.
pub const KNOCK_MAX_AGE_MS: u64 = 5 * 60 * 1000;
/// How far in the future a value may be dated (two home computers' clocks).
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// Associated data's label (a new format changes it: old readers see a bad seal).
const AAD_LABEL: &[u8] = b"netcode dht v1";

/// What an item holds: its kind is sealed into the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// The session record.
    Record = 0,
    /// A joiner's knock.
    Knock = 1,
}

/// One member as the record lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// The member.
    pub id: PeerId,
    /// Where it may be reached (and its NAT's mapping behaviour).
    pub candidates: Candidates,
}

/// The session record: what a joiner needs to reach the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The host when it was published.
    pub host: PeerId,
    /// The host's epoch.
    pub epoch: u64,
    /// The members, the host first; always lists the host.
    pub members: Vec<MemberRecord>,
    /// When it was published (unix ms).
    pub published_at: u64,
}

/// A joiner's knock: where the members should punch towards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knock {
    /// The joiner's candidates.
    pub candidates: Candidates,
    /// When it was put (unix ms).
    pub at: u64,
    /// Names the join attempt: the same in each repeat of one join.
    pub nonce: [u8; 16],
}

/// Why a value from the DHT was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Shorter than a nonce and a tag.
    #[error("{len} bytes, shorter than any sealed value ({min})")]
    TooShort {
        /// Its length.
        len: usize,
        /// The least a sealed value has.
        min: usize,
    },
    /// The seal does not open: forged, another session's, or another item's value.
    #[error("the seal does not open ({len} bytes): forged, or another session's or item's")]
    BadSeal {
        /// Its length.
        len: usize,
    },
    /// Sealed with our key, but not a value of this kind (a member's bug or a newer format).
    #[error("sealed but undecodable ({len} bytes)")]
    Undecodable {
        /// The opened length.
        len: usize,
    },
    /// Dated too long ago, or too far in the future.
    #[error("stale: dated {at_ms} ms, now {now_ms} ms")]
    Stale {
        /// Its date (unix ms).
        at_ms: u64,
        /// Our clock (unix ms).
        now_ms: u64,
    },
    /// Older than the newest value already accepted for this item.
    #[error("replayed: dated {at_ms} ms, newest accepted {newest_ms} ms")]
    Replayed {
        /// Its date (unix ms).
        at_ms: u64,
        /// The newest accepted (unix ms).
        newest_ms: u64,
    },
}

/// What the DHT side of a session did and refused: the lead reports these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhtStats {
    /// Gets sent.
    pub gets: u64,
    /// Puts sent.
    pub puts: u64,
    /// Values that were not sealed by a member (too short or bad seal).
    pub forged: u64,
    /// Values sealed by a member but undecodable.
    pub undecodable: u64,
    /// Values out of their freshness window.
    pub stale: u64,
    /// Values older than one already accepted (or a knock seen already, dated no later).
    pub replayed: u64,
    /// Puts that lost a race (CAS mismatch or a newer item), each followed by a re-read.
    pub lost_races: u64,
}

impl DhtStats {
    /// Counts a refused value.
    pub(crate) fn refused(&mut self, error: &OpenError) {
        match error {
            OpenError::TooShort { .. } | OpenError::BadSeal { .. } => self.forged += 1,
            OpenError::Undecodable { .. } => self.undecodable += 1,
            OpenError::Stale { .. } => self.stale += 1,
            OpenError::Replayed { .. } => self.replayed += 1,
        }
    }
}

/// Bincode's limit counts the memory a decoder claims for its containers (their in-memory
/// size), not input bytes: 64 KiB lets a full record decode; the input is under
/// [`MAX_VALUE`] bytes anyway.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 * 1024 }>()
}

fn aad(kind: ItemKind, keys: &DhtKeys) -> Vec<u8> {
    let salt = match kind {
        ItemKind::Record => keys.record.salt,
        ItemKind::Knock => keys.knock.salt,
    };
    let mut aad = AAD_LABEL.to_vec();
    aad.push(kind as u8);
    aad.extend_from_slice(&salt);
    aad
}

fn cipher(keys: &DhtKeys) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(&keys.seal))
}

/// Seals `plain` for the item `kind`: the nonce, then the ciphertext and its tag.
fn seal(keys: &DhtKeys, kind: ItemKind, plain: &[u8], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
    let aad = aad(kind, keys);
    let sealed = cipher(keys)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
        .expect("ChaCha20-Poly1305 seals any message under 256 GiB");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Seals any bytes as a member would seal a value of `kind`: for the fuzz targets, to reach
/// the decoder behind the seal (feature `test-util`).
#[cfg(feature = "test-util")]
pub fn seal_plain(keys: &DhtKeys, kind: ItemKind, plain: &[u8], nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
    seal(keys, kind, plain, nonce)
}

fn open<T: DeserializeOwned>(keys: &DhtKeys, kind: ItemKind, bytes: &[u8]) -> Result<T, OpenError> {
    let min = NONCE_BYTES + TAG_BYTES;
    if bytes.len() < min {
        return Err(OpenError::TooShort { len: bytes.len(), min });
    }
    if bytes.len() > MAX_VALUE {
        return Err(OpenError::BadSeal { len: bytes.len() });
    }
    let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
    let aad = aad(kind, keys);
    let plain = cipher(keys)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &aad })
        .map_err(|_| OpenError::BadSeal { len: bytes.len() })?;
    let undecodable = OpenError::Undecodable { len: plain.len() };
    match bincode::serde::decode_from_slice::<T, _>(&plain, config()) {
        Ok((value, used)) if used == plain.len() => Ok(value),
        _ => Err(undecodable),
    }
}

fn fresh(at_ms: u64, now_ms: u64, max_age_ms: u64) -> Result<(), OpenError> {
    if at_ms > now_ms.saturating_add(CLOCK_SKEW_MS) || at_ms < now_ms.saturating_sub(max_age_ms) {
        return Err(OpenError::Stale { at_ms, now_ms });
    }
    Ok(())
}

fn encoded_len(record: &SessionRecord) -> usize {
    bincode::serde::encode_to_vec(record, bincode::config::standard()).map_or(usize::MAX, |v| v.len())
}

impl SessionRecord {
    /// Whether it keeps every bound: the host listed, no member twice, at most
    /// [`MAX_MEMBERS`], every member's candidates valid.
    pub fn is_valid(&self) -> bool {
        let mut ids: Vec<PeerId> = self.members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        self.members.len() <= MAX_MEMBERS
            && ids.len() == self.members.len()
            && ids.binary_search(&self.host).is_ok()
            && self.members.iter().all(|m| m.candidates.validate().is_ok())
    }

    /// The record cut down to fit one DHT value: first the non-host members' local
    /// candidates (from the member with the most candidates), then non-host members (those
    /// with no candidate left first, then the last listed), then the host's local
    /// candidates. The host and its mapped and reflexive candidates always stay (8 IPv6
    /// candidates are under 200 bytes).
    pub fn fitted(mut self) -> Self {
        let host = self.host;
        while encoded_len(&self) > MAX_PLAIN {
            let has_local = |m: &MemberRecord| m.candidates.addrs.iter().any(|c| c.kind == CandidateKind::Local);
            if let Some(m) = self
                .members
                .iter_mut()
                .filter(|m| m.id != host && has_local(m))
                .max_by_key(|m| m.candidates.addrs.len())
            {
                drop_last_local(&mut m.candidates);
            } else if let Some(i) = self
                .members
                .iter()
                .rposition(|m| m.id != host && m.candidates.addrs.is_empty())
                .or_else(|| self.members.iter().rposition(|m| m.id != host))
            {
                self.members.remove(i);
            } else if let Some(m) = self.members.iter_mut().find(|m| m.id == host && has_local(m)) {
                drop_last_local(&mut m.candidates);
            } else {
                break;
            }
        }
        self
    }

    /// The value before sealing (bincode).
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, config()).unwrap_or_default()
    }

    /// The sealed value (fit it with [`SessionRecord::fitted`] first).
    pub fn seal(&self, keys: &DhtKeys, nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        seal(keys, ItemKind::Record, &self.encode(), nonce)
    }

    /// Opens a value found under the record item: sealed by a member for this item, valid,
    /// dated within [`RECORD_MAX_AGE_MS`] (and [`CLOCK_SKEW_MS`] ahead), and no older than
    /// `newest_ms`, the newest record already accepted.
    pub fn open(keys: &DhtKeys, bytes: &[u8], now_ms: u64, newest_ms: Option<u64>) -> Result<Self, OpenError> {
        let record: Self = open(keys, ItemKind::Record, bytes)?;
        if !record.is_valid() {
            return Err(OpenError::Undecodable { len: bytes.len() });
        }
        fresh(record.published_at, now_ms, RECORD_MAX_AGE_MS)?;
        if let Some(newest_ms) = newest_ms.filter(|&n| record.published_at < n) {
            return Err(OpenError::Replayed {
                at_ms: record.published_at,
                newest_ms,
            });
        }
        Ok(record)
    }
}

fn drop_last_local(candidates: &mut Candidates) {
    if let Some(i) = candidates.addrs.iter().rposition(|c| c.kind == CandidateKind::Local) {
        candidates.addrs.remove(i);
    }
}

impl Knock {
    /// The value before sealing (bincode).
    pub fn encode(&self) -> Vec<u8> {
        bincode::serde::encode_to_vec(self, config()).unwrap_or_default()
    }

    /// The sealed value.
    pub fn seal(&self, keys: &DhtKeys, nonce: [u8; NONCE_BYTES]) -> Vec<u8> {
        seal(keys, ItemKind::Knock, &self.encode(), nonce)
    }

    /// Opens a value found under the knock item: sealed by a key holder for this item,
    /// valid candidates, dated within [`KNOCK_MAX_AGE_MS`] (and [`CLOCK_SKEW_MS`] ahead).
    /// Replays of a join's knock are the host's to tell (it remembers nonces).
    pub fn open(keys: &DhtKeys, bytes: &[u8], now_ms: u64) -> Result<Self, OpenError> {
        let knock: Self = open(keys, ItemKind::Knock, bytes)?;
        if knock.candidates.validate().is_err() {
            return Err(OpenError::Undecodable { len: bytes.len() });
        }
        fresh(knock.at, now_ms, KNOCK_MAX_AGE_MS)?;
        Ok(knock)
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
