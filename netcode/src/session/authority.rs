//! Who may write what: every path that merges store state (an update, a store sync, the
//! store inside a rejoin, an admission or a welcome) checks each entry's seal here.
//!
//! - A peer's own entry must be sealed by that peer (its id is derived from the seal's key).
//! - A shared entry must be sealed by the host of the current term, or by the host of the
//!   term just before it for [`crate::SessionConfig::previous_term_grace`] after the change
//!   (its last writes, in flight or passed on by survivors). A host that merges such an entry
//!   seals it anew, so everything it hands on carries its own seal.
//!
//! A seal that does not hold, or an own entry sealed by someone else, cannot come from an
//! honest peer: the peer that handed it to us is dropped. A well-sealed shared entry from a
//! term we do not accept (the other side of a split session, an old host) is refused and
//! counted, since an honest peer may still hold one.

use std::time::Duration;

use super::{EntryForgery, Misbehaviour, Session, SessionEvent};
use crate::PeerId;
use crate::identity::SeatKey;
use crate::link::Channel;
use crate::protocol::Message;
use crate::roster::Roster;
use crate::store::{Entry, Scope, Store};

/// How often the host sends a member its whole store on request, at most.
const STORE_ANSWER_INTERVAL: Duration = Duration::from_secs(2);

/// What the authority rules say of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Merge it.
    Accept,
    /// Well sealed, but by no host we accept now: leave it out, count it.
    Refuse,
    /// No honest peer sends it.
    Forged(EntryForgery),
}

/// This peer's signing key and what it knows of host terms.
pub(crate) struct Authority {
    /// The seat's key: seals our writes and signs our seat proofs.
    pub(crate) key: SeatKey,
    /// The session id (seat proofs are bound to it).
    pub(crate) session_id: u64,
    /// The term before the current one, as (epoch, host), and since when it is the previous.
    prev_term: Option<(u64, PeerId)>,
    term_since: Duration,
    /// Entries refused (well sealed, no accepted term) or forged.
    pub(crate) refused_entries: u64,
    /// Whether we refused an entry sealed in a term later than ours (a host whose roster
    /// has not reached us yet): ask that host for its store once we follow it.
    refused_future: bool,
}

impl Authority {
    pub(crate) fn new(key: SeatKey, session_id: u64, now: Duration) -> Self {
        Authority {
            key,
            session_id,
            prev_term: None,
            term_since: now,
            refused_entries: 0,
            refused_future: false,
        }
    }
}

impl Session {
    /// The verdict on `entry` under `scope`/`key`, by the rules in the module doc.
    pub(crate) fn judge_entry(&self, scope: Scope, key: &str, entry: &Entry) -> Verdict {
        if !entry.seal_holds(scope, key) {
            return Verdict::Forged(EntryForgery::BadSeal);
        }
        let signer = entry.seal.signer();
        match scope {
            Scope::Peer(owner) if signer == owner => Verdict::Accept,
            Scope::Peer(_) => Verdict::Forged(EntryForgery::AnothersEntry),
            Scope::Shared => {
                let term = (entry.seal.term, signer);
                let current = (self.roster.epoch, self.roster.host);
                let grace = self.authority.term_since + self.cfg.previous_term_grace;
                if term == current || (self.authority.prev_term == Some(term) && self.now < grace) {
                    Verdict::Accept
                } else {
                    Verdict::Refuse
                }
            }
        }
    }

    /// Merges one entry that `link` handed us, by the authority rules; returns whether the
    /// store changed. A forged entry drops `link`.
    pub(crate) fn accept_entry(&mut self, link: PeerId, scope: Scope, key: String, mut entry: Entry) -> bool {
        if !self.store.would_change(scope, &key, &entry) {
            // The same write under the current host's seal replaces an older seal, so that
            // what we hand on later (to a joiner, to the next host) is vouched for now.
            let current = (entry.seal.term, entry.seal.signer()) == (self.roster.epoch, self.roster.host);
            let resealed = self
                .store
                .entry(scope, &key)
                .is_some_and(|mine| mine.seal != entry.seal);
            if scope == Scope::Shared && current && resealed && entry.seal_holds(scope, &key) {
                self.store.replace_seal(scope, &key, &entry);
            }
            return false;
        }
        match self.judge_entry(scope, &key, &entry) {
            Verdict::Accept => {}
            Verdict::Refuse => {
                log::debug!(
                    "{} refuses {key:?} sealed by {} in term {}",
                    self.tag,
                    entry.seal.signer(),
                    entry.seal.term
                );
                self.authority.refused_entries += 1;
                self.authority.refused_future |= entry.seal.term > self.roster.epoch;
                return false;
            }
            Verdict::Forged(forgery) => {
                self.authority.refused_entries += 1;
                self.misbehaved(link, Misbehaviour::ForgedEntry { forgery, key });
                return false;
            }
        }
        if self.store.merge_overflows(scope, &key, &entry) {
            // Past what any honest replica holds (see `Store::merge_overflows`).
            log::debug!("{} refuses {key:?} from {link}: the store would overflow", self.tag);
            self.authority.refused_entries += 1;
            return false;
        }
        if scope == Scope::Shared && self.is_host() {
            // What we hand on carries our seal: members accept only the current host's.
            let content = Entry::content(scope, &key, entry.version, entry.value.as_deref());
            entry.seal = crate::identity::Seal::sign(&self.authority.key, self.roster.epoch, &content);
        }
        let changed = self.store.merge_entry(scope, key.clone(), entry);
        if changed {
            self.events.push_back(SessionEvent::StoreChanged { scope, key });
        }
        changed
    }

    /// Merges a whole store that `link` handed us, entry by entry; returns whether the
    /// store changed. Stops at the first forged entry (its sender is dropped).
    pub(crate) fn accept_store(&mut self, link: PeerId, store: Store) -> bool {
        let mut changed = false;
        for (scope, key, entry) in store.into_entries() {
            changed |= self.accept_entry(link, scope, key, entry);
            if self.banned.contains_key(&link) {
                break;
            }
        }
        if changed && self.is_host() {
            self.store_dirty = true;
        }
        changed
    }

    /// Keeps the term bookkeeping current after the roster changed from `old`: a new host
    /// seals the shared state it continues; a member that did not follow an ordinary
    /// succession drops the shared entries the new host does not vouch for and asks it for
    /// its store.
    pub(crate) fn on_term_change(&mut self, old: &Roster) {
        let old_term = (old.epoch, old.host);
        let new_term = (self.roster.epoch, self.roster.host);
        if old_term == new_term {
            return;
        }
        let succession = old.epoch == 0 || self.roster.prev_term == Some(old_term);
        self.authority.prev_term = if succession && old.epoch != 0 {
            Some(old_term)
        } else {
            self.roster.prev_term
        };
        self.authority.term_since = self.now;
        if self.roster.host == self.me {
            let epoch = self.roster.epoch;
            self.store.reseal_shared(&self.authority.key, epoch);
            self.store_dirty = true;
            return;
        }
        let mut ask = std::mem::take(&mut self.authority.refused_future);
        if !succession {
            let dropped = self.drop_unvouched_entries();
            ask |= dropped > 0;
        }
        if ask {
            let host = self.roster.host;
            self.send_to(host, Channel::ReliableOrdered, &Message::StoreRequest);
        }
    }

    /// Drops the shared entries that neither the current host nor its predecessor sealed.
    fn drop_unvouched_entries(&mut self) -> usize {
        let current = (self.roster.epoch, self.roster.host);
        let prev = self.authority.prev_term;
        let mut dropped = Vec::new();
        self.store.remove_where(|scope, key, entry| {
            let term = (entry.seal.term, entry.seal.signer());
            let drop = scope == Scope::Shared && term != current && Some(term) != prev;
            if drop {
                dropped.push(key.to_owned());
            }
            drop
        });
        for key in &dropped {
            self.events.push_back(SessionEvent::StoreChanged {
                scope: Scope::Shared,
                key: key.clone(),
            });
        }
        if !dropped.is_empty() {
            log::debug!(
                "{} drops {} shared entries no host vouches for",
                self.tag,
                dropped.len()
            );
        }
        dropped.len()
    }

    /// The host answers a member's [`Message::StoreRequest`] with its whole store.
    pub(crate) fn on_store_request(&mut self, from: PeerId) {
        // The whole store for a few bytes: answered once per STORE_ANSWER_INTERVAL per
        // member, so that a member cannot make the host send it over and over.
        let now = self.now;
        let Some(st) = self.peers.get_mut(&from) else { return };
        if st.last_store_answer.is_some_and(|t| now < t + STORE_ANSWER_INTERVAL) {
            self.counters.rate_limited += 1;
            return;
        }
        st.last_store_answer = Some(now);
        if self.is_host() {
            self.send_store(from);
        }
    }
}
