//! A replicated key-value store for the facts a game must not lose (scores, the round
//! clock, pickups): host-authoritative shared entries plus each peer's own entries. Entries
//! merge last-writer-wins by [`Version`], so any copy can be merged into any other in any
//! order and replicas converge. Every entry carries its writer's [`Seal`], so whoever
//! relays a store cannot change it: the session checks seals on every path that merges
//! (`docs/design.md`, "Authority").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PeerId;
use crate::bounds::{
    Capacity, MAX_KEY_BYTES, MAX_STORE_ENTRIES, MAX_VALUE_BYTES, OWN_CAPACITY, ProtocolError, SHARED_CAPACITY,
    STORE_CAPACITY, STORE_PIECE_BYTES, check,
};
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

/// Most bytes an entry adds to an encoded store besides its key and value: scope, the
/// key's and value's lengths, version and seal (32-byte key, term, 64-byte signature), each
/// varint at its longest. [`Store::pieces`] splits by this bound, so a piece's encoding
/// never exceeds [`STORE_PIECE_BYTES`].
pub const ENTRY_OVERHEAD_BYTES: usize = 140;

/// What a store or one of its scopes holds: entries (deletions included) and bytes of keys
/// and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Entries, deletions included.
    pub entries: usize,
    /// Bytes of keys and values.
    pub bytes: usize,
}

impl Usage {
    fn of(key: &str, entry: &Entry) -> usize {
        key.len() + entry.value.as_ref().map_or(0, Vec::len)
    }

    fn within(self, cap: Capacity) -> bool {
        self.entries <= cap.entries && self.bytes <= cap.bytes
    }
}

/// Which limit a write would cross (see [`crate::limits::SHARED_CAPACITY`],
/// [`crate::limits::OWN_CAPACITY`], [`crate::limits::STORE_CAPACITY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The shared scope's.
    Shared,
    /// The writer's own scope's.
    Own,
    /// The whole store's.
    Store,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::Shared => "the shared scope",
            Limit::Own => "this peer's own scope",
            Limit::Store => "the store",
        })
    }
}

/// The capacity of one scope.
pub fn capacity_of(scope: Scope) -> Capacity {
    match scope {
        Scope::Shared => SHARED_CAPACITY,
        Scope::Peer(_) => OWN_CAPACITY,
    }
}

/// The replicated store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Entries", into = "Entries")]
pub struct Store {
    entries: BTreeMap<(Scope, String), Entry>,
    /// What each scope holds (kept with every change; not on the wire).
    usage: BTreeMap<Scope, Usage>,
    /// What the whole store holds.
    total: Usage,
}

/// A store as it travels: its entries only.
#[derive(Serialize, Deserialize)]
struct Entries(BTreeMap<(Scope, String), Entry>);

impl From<Entries> for Store {
    fn from(Entries(entries): Entries) -> Self {
        let mut store = Store::default();
        for ((scope, key), entry) in entries {
            store.insert(scope, key, entry);
        }
        store
    }
}

impl From<Store> for Entries {
    fn from(store: Store) -> Self {
        Entries(store.entries)
    }
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

    /// Puts `entry` in, keeping the usage figures.
    fn insert(&mut self, scope: Scope, key: String, entry: Entry) {
        let added = Usage::of(&key, &entry);
        let key_len = key.len();
        let usage = self.usage.entry(scope).or_default();
        let (entries, removed) = match self.entries.insert((scope, key), entry) {
            Some(old) => (0, key_len + old.value.as_ref().map_or(0, Vec::len)),
            None => (1, 0),
        };
        for u in [usage, &mut self.total] {
            u.entries += entries;
            u.bytes = (u.bytes + added).saturating_sub(removed);
        }
    }

    /// What `scope` holds.
    pub fn usage(&self, scope: Scope) -> Usage {
        self.usage.get(&scope).copied().unwrap_or_default()
    }

    /// What the whole store holds.
    pub fn total(&self) -> Usage {
        self.total
    }

    /// What `scope` and the whole store would hold after `entry` replaced `key`'s entry.
    fn usage_after(&self, scope: Scope, key: &str, value: Option<&[u8]>) -> (Usage, Usage) {
        let new = key.len() + value.map_or(0, <[u8]>::len);
        let (entries, old) = match self.entries.get(&(scope, key.to_owned())) {
            Some(e) => (0, Usage::of(key, e)),
            None => (1, 0),
        };
        let after = |u: Usage| Usage {
            entries: u.entries + entries,
            bytes: (u.bytes + new).saturating_sub(old),
        };
        (after(self.usage(scope)), after(self.total))
    }

    /// Which limit writing `value` under `scope`/`key` would cross, if any: the scope's
    /// capacity or the whole store's. A write that changes nothing's size (an existing
    /// entry with a value no larger) is always allowed.
    pub fn would_overflow(&self, scope: Scope, key: &str, value: Option<&[u8]>) -> Option<Limit> {
        let (scope_after, total_after) = self.usage_after(scope, key, value);
        let grows = |before: Usage, after: Usage| after.entries > before.entries || after.bytes > before.bytes;
        if grows(self.usage(scope), scope_after) && !scope_after.within(capacity_of(scope)) {
            return Some(match scope {
                Scope::Shared => Limit::Shared,
                Scope::Peer(_) => Limit::Own,
            });
        }
        if grows(self.total, total_after) && !total_after.within(STORE_CAPACITY) {
            return Some(Limit::Store);
        }
        None
    }

    /// Whether merging `entry` would take this replica past what any honest peer
    /// holds: its scope past its capacity, or the replica past [`MAX_STORE_ENTRIES`] or
    /// twice [`STORE_CAPACITY`]'s bytes (the headroom for writers racing at the edge).
    pub(crate) fn merge_overflows(&self, scope: Scope, key: &str, entry: &Entry) -> bool {
        let (scope_after, total_after) = self.usage_after(scope, key, entry.value.as_deref());
        let hard = Capacity {
            entries: MAX_STORE_ENTRIES,
            bytes: 2 * STORE_CAPACITY.bytes,
        };
        let grows = total_after.entries > self.total.entries || total_after.bytes > self.total.bytes;
        grows && !(scope_after.within(capacity_of(scope)) && total_after.within(hard))
    }

    /// The store in pieces of at most [`STORE_PIECE_BYTES`] encoded, in key order, with the
    /// entries of `first` (a newcomer's own scope: what it needs before anything else) at
    /// the head of the first piece. Any piece merges on its own, in any order.
    pub fn pieces(&self, first: Option<Scope>) -> Vec<Store> {
        let head = self.entries.iter().filter(|((s, _), _)| Some(*s) == first);
        let rest = self.entries.iter().filter(|((s, _), _)| Some(*s) != first);
        let mut pieces = vec![Store::default()];
        let mut size = 0;
        for ((scope, key), entry) in head.chain(rest) {
            let cost = ENTRY_OVERHEAD_BYTES + Usage::of(key, entry);
            if size + cost > STORE_PIECE_BYTES && size > 0 {
                pieces.push(Store::default());
                size = 0;
            }
            size += cost;
            if let Some(piece) = pieces.last_mut() {
                piece.insert(*scope, key.clone(), entry.clone());
            }
        }
        pieces
    }

    /// The entries of one scope, as a store of their own (a scope's capacity fits one
    /// piece: a rejoiner's own entries ride in its request).
    pub fn only(&self, scope: Scope) -> Store {
        let mut out = Store::default();
        for ((s, k), e) in self.entries.iter().filter(|((s, _), _)| *s == scope) {
            out.insert(*s, k.clone(), e.clone());
        }
        out
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
        self.insert(scope, key.to_owned(), entry.clone());
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
        let removed = before - self.entries.len();
        if removed > 0 {
            let entries = std::mem::take(&mut self.entries);
            *self = Store::from(Entries(entries));
        }
        removed
    }

    /// Takes the entries out, in key order.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (Scope, String, Entry)> {
        self.entries.into_iter().map(|((s, k), e)| (s, k, e))
    }

    crate::test_hook! {
        /// Merges one entry into this copy, last writer wins by version (seals are not
        /// checked here: a session checks them on every path that merges what a peer sent);
        /// returns whether it changed the store. Public with `test-util` only.
        fn merge_entry(&mut self, scope: Scope, key: String, entry: Entry) -> bool {
            match self.entries.get(&(scope, key.clone())) {
                Some(current) if !entry.wins_over(current) => false,
                _ => {
                    self.insert(scope, key, entry);
                    true
                }
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

    /// Checks the bounds of a store received from the network: every scope within its
    /// capacity, the whole within [`MAX_STORE_ENTRIES`] (a message carries one piece, far
    /// less: see [`Store::pieces`]).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check(self.entries.len() <= MAX_STORE_ENTRIES, "too many store entries")?;
        check(
            self.usage.iter().all(|(scope, u)| u.within(capacity_of(*scope))),
            "a store scope over its capacity",
        )?;
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

    #[test]
    fn usage_follows_every_change_and_the_wire_round_trip() {
        let key = SeatKey::from_secret(&[2; 32]);
        let mut s = Store::default();
        s.write(Scope::Shared, "a", Some(vec![0; 10]), 1, &key);
        s.write(Scope::Shared, "a", Some(vec![0; 4]), 1, &key);
        s.write(Scope::Shared, "b", None, 1, &key);
        assert_eq!(
            s.usage(Scope::Shared),
            Usage {
                entries: 2,
                bytes: 1 + 4 + 1
            }
        );
        assert_eq!(s.total(), s.usage(Scope::Shared));
        let bytes = bincode::serde::encode_to_vec(&s, bincode::config::standard()).unwrap();
        let (back, _): (Store, usize) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, s, "usage is rebuilt on decode");
        s.remove_where(|_, k, _| k == "a");
        assert_eq!(s.total(), Usage { entries: 1, bytes: 1 });
    }

    #[test]
    fn the_limits_refuse_growth_and_allow_overwrites() {
        let key = SeatKey::from_secret(&[3; 32]);
        let me = Scope::Peer(key.peer());
        let mut s = Store::default();
        for n in 0..OWN_CAPACITY.entries {
            assert_eq!(s.would_overflow(me, &format!("k{n:02}"), Some(&[1])), None);
            s.write(me, &format!("k{n:02}"), Some(vec![1]), 1, &key);
        }
        assert_eq!(s.would_overflow(me, "new", Some(&[1])), Some(Limit::Own));
        assert_eq!(s.would_overflow(me, "k00", Some(&[2])), None, "same size overwrite");
        assert_eq!(s.would_overflow(me, "k00", None), None, "a deletion");
        assert_eq!(s.would_overflow(me, "k00", Some(&[0; 1024])), None, "within 8 KiB");
        assert_eq!(s.would_overflow(Scope::Shared, "x", Some(&[0; 1024])), None);
    }

    #[test]
    fn pieces_are_bounded_complete_and_start_with_the_first_scope() {
        let key = SeatKey::from_secret(&[4; 32]);
        let other = SeatKey::from_secret(&[5; 32]);
        let mut s = Store::default();
        for n in 0..1000 {
            s.write(Scope::Shared, &format!("s{n:04}"), Some(vec![7; 200]), 1, &key);
        }
        for n in 0..20 {
            s.write(
                Scope::Peer(other.peer()),
                &format!("o{n}"),
                Some(vec![8; 300]),
                1,
                &other,
            );
        }
        let pieces = s.pieces(Some(Scope::Peer(other.peer())));
        assert!(pieces.len() > 5);
        assert_eq!(
            pieces[0].usage(Scope::Peer(other.peer())).entries,
            20,
            "own entries first"
        );
        let mut merged = Store::default();
        for p in &pieces {
            let len = bincode::serde::encode_to_vec(p, bincode::config::standard())
                .unwrap()
                .len();
            assert!(len <= STORE_PIECE_BYTES, "piece of {len} bytes");
            merged.merge(p.clone());
        }
        assert_eq!(merged, s);
        assert_eq!(
            Store::default().pieces(None),
            vec![Store::default()],
            "an empty store is one piece"
        );
    }
}
