//! A replicated key-value store for the facts a game must not lose (scores, the round
//! clock, pickups): host-authoritative shared entries plus each peer's own entries. Entries
//! merge last-writer-wins by [`Version`], so any copy can be merged into any other in any
//! order and replicas converge. Every entry carries its writer's [`Seal`], so whoever
//! relays a store cannot change it: the session checks seals on every path that merges
//! (`docs/design.md`, "Authority").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PeerId;
use crate::bounds::{MAX_KEY_BYTES, MAX_STORE_ENTRIES, MAX_VALUE_BYTES, ProtocolError, check};
use crate::identity::{Seal, SeatKey};

/// Who is authoritative for an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Shared state, written by the host of the moment (pickups, scores, match clock).
    Shared,
    /// State owned by one peer (its player), kept while its seat is held.
    Peer(PeerId),
}

/// Write order of an entry: a later epoch wins, then a higher counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Host epoch the writer was in.
    pub epoch: u64,
    /// Per-entry write counter.
    pub n: u64,
}

/// A versioned, sealed value; `None` is a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Write order.
    pub version: Version,
    /// The value, or `None` when deleted.
    pub value: Option<Vec<u8>>,
    /// The writer's signature over scope, key, version and value (for a shared entry: the
    /// host's, in the term it wrote or took the entry over).
    pub seal: Seal,
}

impl Entry {
    fn wins_over(&self, other: &Entry) -> bool {
        (self.version, &self.value) > (other.version, &other.value)
    }

    /// An entry for `scope`/`key`, sealed by `signer` in host term `term` (what a write does).
    pub fn sealed(
        scope: Scope,
        key: &str,
        version: Version,
        value: Option<Vec<u8>>,
        signer: &SeatKey,
        term: u64,
    ) -> Self {
        let seal = Seal::sign(signer, term, &Entry::content(scope, key, version, value.as_deref()));
        Entry { version, value, seal }
    }

    /// The bytes a seal signs: scope, key, version and value.
    pub(crate) fn content(scope: Scope, key: &str, version: Version, value: Option<&[u8]>) -> Vec<u8> {
        // Encoding plain data into a vector cannot fail.
        bincode::serde::encode_to_vec((scope, key, version, value), bincode::config::standard()).unwrap_or_default()
    }

    /// Whether the seal holds for this entry under `scope` and `key`.
    pub fn seal_holds(&self, scope: Scope, key: &str) -> bool {
        self.seal
            .verify(&Entry::content(scope, key, self.version, self.value.as_deref()))
    }
}

/// The replicated store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Store {
    entries: BTreeMap<(Scope, String), Entry>,
}

impl Store {
    /// Reads a live value.
    pub fn get(&self, scope: Scope, key: &str) -> Option<&[u8]> {
        self.entries
            .get(&(scope, key.to_owned()))
            .and_then(|e| e.value.as_deref())
    }

    /// Reads an entry with its version (deletions included).
    pub fn entry(&self, scope: Scope, key: &str) -> Option<&Entry> {
        self.entries.get(&(scope, key.to_owned()))
    }

    /// All entries, deletions included, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Scope, &str, &Entry)> {
        self.entries.iter().map(|((s, k), e)| (s, k.as_str(), e))
    }

    /// Live entries of one scope.
    pub fn scope(&self, scope: Scope) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .filter(move |((s, _), _)| *s == scope)
            .filter_map(|((_, k), e)| e.value.as_deref().map(|v| (k.as_str(), v)))
    }

    /// Number of entries (deletions included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes locally, returning the entry to replicate. `epoch` is the writer's epoch, the
    /// term it seals in.
    pub(crate) fn write(
        &mut self,
        scope: Scope,
        key: &str,
        value: Option<Vec<u8>>,
        epoch: u64,
        signer: &SeatKey,
    ) -> Entry {
        let n = self.entry(scope, key).map_or(0, |e| e.version.n) + 1;
        let prev_epoch = self.entry(scope, key).map_or(0, |e| e.version.epoch);
        let version = Version {
            epoch: epoch.max(prev_epoch),
            n,
        };
        let entry = Entry::sealed(scope, key, version, value, signer, epoch);
        self.entries.insert((scope, key.to_owned()), entry.clone());
        entry
    }

    /// Seals every shared entry anew with `signer` in `term` (a new host vouches for the
    /// shared state it continues); returns how many changed.
    pub(crate) fn reseal_shared(&mut self, signer: &SeatKey, term: u64) -> usize {
        let public = signer.public();
        let mut changed = 0;
        for ((scope, key), entry) in self.entries.iter_mut() {
            if *scope == Scope::Shared && (entry.seal.key != public || entry.seal.term != term) {
                let content = Entry::content(*scope, key, entry.version, entry.value.as_deref());
                entry.seal = Seal::sign(signer, term, &content);
                changed += 1;
            }
        }
        changed
    }

    /// Whether merging `entry` would change the store.
    pub(crate) fn would_change(&self, scope: Scope, key: &str, entry: &Entry) -> bool {
        self.entries
            .get(&(scope, key.to_owned()))
            .is_none_or(|current| entry.wins_over(current))
    }

    /// Takes `entry`'s seal for ours if it is the same write (version and value).
    pub(crate) fn replace_seal(&mut self, scope: Scope, key: &str, entry: &Entry) {
        if let Some(mine) = self.entries.get_mut(&(scope, key.to_owned()))
            && mine.version == entry.version
            && mine.value == entry.value
        {
            mine.seal = entry.seal;
        }
    }

    /// Removes the entries `drop` picks; returns how many went.
    pub(crate) fn remove_where(&mut self, mut drop: impl FnMut(Scope, &str, &Entry) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(scope, key), entry| !drop(*scope, key, entry));
        before - self.entries.len()
    }

    /// Takes the entries out, in key order.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (Scope, String, Entry)> {
        self.entries.into_iter().map(|((s, k), e)| (s, k, e))
    }

    /// Merges one entry into this copy, last writer wins by version (seals are not checked
    /// here: a session checks them on every path that merges what a peer sent); returns
    /// whether it changed the store.
    pub fn merge_entry(&mut self, scope: Scope, key: String, entry: Entry) -> bool {
        match self.entries.get(&(scope, key.clone())) {
            Some(current) if !entry.wins_over(current) => false,
            _ => {
                self.entries.insert((scope, key), entry);
                true
            }
        }
    }

    /// Merges a whole store, seals unchecked; returns whether anything changed.
    #[cfg(test)]
    pub(crate) fn merge(&mut self, other: Store) -> bool {
        let mut changed = false;
        for ((scope, key), entry) in other.entries {
            changed |= self.merge_entry(scope, key, entry);
        }
        changed
    }

    /// Whether `self` holds every entry of `other` at the same or a later version.
    pub fn covers(&self, other: &Store) -> bool {
        other
            .entries
            .iter()
            .all(|(k, e)| self.entries.get(k).is_some_and(|mine| mine.version >= e.version))
    }

    /// Checks the bounds of a store received from the network.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check(self.entries.len() <= MAX_STORE_ENTRIES, "too many store entries")?;
        for ((_, key), entry) in &self.entries {
            check(key.len() <= MAX_KEY_BYTES, "key too long")?;
            check(
                entry.value.as_ref().is_none_or(|v| v.len() <= MAX_VALUE_BYTES),
                "value too large",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_order_independent() {
        let key = SeatKey::from_secret(&[1; 32]);
        let mut a = Store::default();
        let mut b = Store::default();
        a.write(Scope::Shared, "clock", Some(vec![1]), 0, &key);
        let e2 = a.write(Scope::Shared, "clock", Some(vec![2]), 0, &key);
        assert!(e2.seal_holds(Scope::Shared, "clock"));
        assert!(!e2.seal_holds(Scope::Shared, "clack"), "the key is sealed");
        b.write(Scope::Shared, "clock", Some(vec![9]), 1, &key);
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b.clone();
        ba.merge(a.clone());
        assert_eq!(ab, ba);
        assert_eq!(ab.get(Scope::Shared, "clock"), Some(&[9u8][..]), "later epoch wins");
        assert!(
            !ab.merge_entry(Scope::Shared, "clock".into(), e2),
            "older write is ignored"
        );
    }
}
