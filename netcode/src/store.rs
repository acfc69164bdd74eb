//! A minimal replicated key-value store: host-authoritative shared entries plus each
//! peer's own entries. Entries merge last-writer-wins by [`Version`], so any copy can be
//! merged into any other in any order and replicas converge (the snapshot layer replaces
//! this wire format later).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PeerId;
use crate::protocol::{MAX_KEY_BYTES, MAX_STORE_ENTRIES, MAX_VALUE_BYTES, ProtocolError, check};

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

/// A versioned value; `None` is a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Write order.
    pub version: Version,
    /// The value, or `None` when deleted.
    pub value: Option<Vec<u8>>,
}

impl Entry {
    fn wins_over(&self, other: &Entry) -> bool {
        (self.version, &self.value) > (other.version, &other.value)
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

    /// Writes locally, returning the entry to replicate. `epoch` is the writer's epoch.
    pub(crate) fn write(&mut self, scope: Scope, key: &str, value: Option<Vec<u8>>, epoch: u64) -> Entry {
        let n = self.entry(scope, key).map_or(0, |e| e.version.n) + 1;
        let prev_epoch = self.entry(scope, key).map_or(0, |e| e.version.epoch);
        let entry = Entry {
            version: Version {
                epoch: epoch.max(prev_epoch),
                n,
            },
            value,
        };
        self.entries.insert((scope, key.to_owned()), entry.clone());
        entry
    }

    /// Merges one entry; returns whether it changed the store.
    pub(crate) fn merge_entry(&mut self, scope: Scope, key: String, entry: Entry) -> bool {
        match self.entries.get(&(scope, key.clone())) {
            Some(current) if !entry.wins_over(current) => false,
            _ => {
                self.entries.insert((scope, key), entry);
                true
            }
        }
    }

    /// Merges a whole store; returns whether anything changed.
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
        let mut a = Store::default();
        let mut b = Store::default();
        a.write(Scope::Shared, "clock", Some(vec![1]), 0);
        let e2 = a.write(Scope::Shared, "clock", Some(vec![2]), 0);
        b.write(Scope::Shared, "clock", Some(vec![9]), 1);
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
