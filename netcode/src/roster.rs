//! Session membership: who is in, in which join order, who hosts, in which epoch.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::PeerId;
use crate::bounds::{MAX_MEMBERS, ProtocolError, check, check_name};
use crate::identity::{PublicKey, SeatKey, Signature, Statement};

/// Whether a member is playing or its seat is held for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    /// In the session and reachable (as far as the host knows).
    Active,
    /// Dropped; its seat, entities and score are held until `since + rejoin_grace`.
    Away {
        /// When the host marked it away (session clock).
        since: Duration,
    },
}

/// One member of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Stable identity, kept across rejoins.
    pub id: PeerId,
    /// Display name.
    pub name: String,
    /// Where the member listens for links.
    pub addr: SocketAddr,
    /// Position in the succession order: lower hosts first. A rejoin gets a fresh (last) one.
    pub join_seq: u64,
    /// Rises each time the member rejoins after a crash.
    pub incarnation: u32,
    /// Active or away.
    pub status: MemberStatus,
    /// The public half of the seat's signing key (the member's id is derived from it):
    /// what its seat proofs and its store entries are checked against.
    pub key: PublicKey,
    /// Date (ms, the signer's clock) of the seat proof this admission was made with: a
    /// rejoin must bring a later one, so an old proof cannot be replayed.
    pub proof_ms: u64,
}

impl Member {
    /// Whether the member is active.
    pub fn is_active(&self) -> bool {
        self.status == MemberStatus::Active
    }
}

/// Compact summary of a roster, carried by every heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RosterDigest {
    /// Host term; rises on every host change.
    pub epoch: u64,
    /// Bumped by the host on every membership change within an epoch.
    pub version: u64,
    /// The host of this epoch.
    pub host: PeerId,
    /// The host's position in the succession order (tie-break between equal epochs).
    pub host_join_seq: u64,
    /// See [`Roster::backed`].
    pub backed: bool,
}

impl RosterDigest {
    /// Which of two claims wins: a backed one over one that is not (a peer that was cut
    /// off and named itself host does not take the session over when it comes back);
    /// then the higher epoch; at equal epoch the earlier-joined host; with the same host,
    /// the higher version.
    pub fn cmp_claim(&self, other: &RosterDigest) -> Ordering {
        self.backed
            .cmp(&other.backed)
            .then_with(|| self.epoch.cmp(&other.epoch))
            .then_with(|| other.host_join_seq.cmp(&self.host_join_seq))
            .then_with(|| other.host.0.cmp(&self.host.0))
            .then_with(|| self.version.cmp(&other.version))
    }
}

/// The session's membership list, authored by the host. Two rosters are equal when they
/// say the same, whoever signed them (a handover and its new host's copy of it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Roster {
    /// Host term.
    pub epoch: u64,
    /// Version within the epoch.
    pub version: u64,
    /// Current host.
    pub host: PeerId,
    /// Next join order to hand out.
    pub next_join_seq: u64,
    /// Members sorted by id.
    pub members: Vec<Member>,
    /// Whether the host term was claimed (or has since admitted members) with more members
    /// active than held away: true for the session's first host and after an ordinary
    /// migration, false when a peer cut off from most of the session names itself host.
    /// An unbacked claim loses to a backed one whatever the epochs.
    pub backed: bool,
    /// The host term this one succeeded, as (epoch, host): a member that held exactly that
    /// term follows an ordinary succession; anything else (a merge, a missed term) makes it
    /// drop the shared entries the new host does not vouch for.
    pub prev_term: Option<(u64, PeerId)>,
    /// Members a host removed for misbehaving and no host has admitted since, oldest
    /// first, at most [`MAX_MEMBERS`]. A member that sees an active member leave the roster
    /// within one host term reports it expelled (and refuses its links, as the host does)
    /// when it is listed here, and gone of its own accord otherwise: a member that never
    /// heard the leaver's goodbye (no link to it yet) learns from the roster why it went.
    pub expelled: Vec<PeerId>,
    /// The host's signature over everything above (for a handover: the signature of the
    /// host that handed over). Members pass the host's roster on unchanged; nobody else
    /// can write one (`docs/design.md`, "Authority").
    pub signature: Option<Signature>,
}

impl PartialEq for Roster {
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be forgotten here.
        let Roster {
            epoch,
            version,
            host,
            next_join_seq,
            members,
            backed,
            prev_term,
            expelled,
            signature: _,
        } = self;
        (
            *epoch,
            *version,
            *host,
            *next_join_seq,
            members,
            *backed,
            *prev_term,
            expelled,
        ) == (
            other.epoch,
            other.version,
            other.host,
            other.next_join_seq,
            &other.members,
            other.backed,
            other.prev_term,
            &other.expelled,
        )
    }
}

impl Eq for Roster {}

impl Roster {
    /// The bytes a roster's signature covers: all of it but the signature.
    fn signed_body(&self) -> Vec<u8> {
        let body = (
            self.epoch,
            self.version,
            self.host,
            self.next_join_seq,
            &self.members,
            self.backed,
            self.prev_term,
            &self.expelled,
        );
        // Encoding plain data into a vector cannot fail.
        bincode::serde::encode_to_vec(body, bincode::config::standard()).unwrap_or_default()
    }

    crate::test_hook! {
        /// Signs the roster as it stands with `key`, for session `session_id`, unless `key`
        /// signed exactly this roster already.
        fn sign(&mut self, key: &SeatKey, session_id: u64) {
            if !self.signed_by(&key.public(), session_id) {
                let body = self.signed_body();
                let sig = key.sign_statement(Statement::Roster, session_id, &body);
                self.signature = Some(sig);
            }
        }
    }

    /// Whether `key` signed this roster, as it stands, for session `session_id`.
    pub(crate) fn signed_by(&self, key: &PublicKey, session_id: u64) -> bool {
        self.signature
            .is_some_and(|sig| Statement::Roster.verify(key, session_id, &self.signed_body(), &sig))
    }

    /// Looks a member up.
    pub fn get(&self, id: PeerId) -> Option<&Member> {
        self.members
            .binary_search_by_key(&id, |m| m.id)
            .ok()
            .map(|i| &self.members[i])
    }

    crate::test_hook! {
        /// Looks a member up, mutably.
        fn get_mut(&mut self, id: PeerId) -> Option<&mut Member> {
            match self.members.binary_search_by_key(&id, |m| m.id) {
                Ok(i) => Some(&mut self.members[i]),
                Err(_) => None,
            }
        }
    }

    crate::test_hook! {
        /// Inserts or replaces a member, keeping the list sorted.
        fn upsert(&mut self, member: Member) {
            // Admitted again (after its ban ran out): a later leave is its own.
            self.expelled.retain(|p| *p != member.id);
            match self.members.binary_search_by_key(&member.id, |m| m.id) {
                Ok(i) => self.members[i] = member,
                Err(i) => self.members.insert(i, member),
            }
        }
    }

    crate::test_hook! {
        /// Removes a member.
        fn remove(&mut self, id: PeerId) -> Option<Member> {
            match self.members.binary_search_by_key(&id, |m| m.id) {
                Ok(i) => Some(self.members.remove(i)),
                Err(_) => None,
            }
        }
    }

    /// Removes a member for misbehaving and lists it among [`Roster::expelled`] (the
    /// oldest listed drops out past [`MAX_MEMBERS`]); false, and no change, when it is no
    /// member.
    pub(crate) fn expel(&mut self, id: PeerId) -> bool {
        if self.remove(id).is_none() {
            return false;
        }
        self.expelled.push(id);
        if self.expelled.len() > MAX_MEMBERS {
            self.expelled.remove(0);
        }
        true
    }

    /// Active members.
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.is_active())
    }

    /// The summary heartbeats carry.
    pub fn digest(&self) -> RosterDigest {
        RosterDigest {
            epoch: self.epoch,
            version: self.version,
            host: self.host,
            host_join_seq: self.get(self.host).map_or(u64::MAX, |m| m.join_seq),
            backed: self.backed,
        }
    }

    /// Whether more members are active than held away (see [`Roster::backed`]).
    pub fn majority_active(&self) -> bool {
        let active = self.active().count();
        active > self.members.len() - active
    }

    /// Election by rule: the active member with the earliest join order among those
    /// `is_live` accepts.
    pub fn successor(&self, mut is_live: impl FnMut(PeerId) -> bool) -> Option<PeerId> {
        self.active()
            .filter(|m| is_live(m.id))
            .min_by_key(|m| (m.join_seq, m.id.0))
            .map(|m| m.id)
    }

    /// Checks the bounds of a roster received from the network.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check(self.members.len() <= MAX_MEMBERS, "too many members")?;
        check(self.members.windows(2).all(|w| w[0].id < w[1].id), "members not sorted")?;
        check(self.expelled.len() <= MAX_MEMBERS, "too many expelled members")?;
        for m in &self.members {
            check_name(&m.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, join_seq: u64) -> Member {
        Member {
            id: PeerId(id),
            name: format!("p{id}"),
            addr: "127.0.0.1:1".parse().unwrap(),
            join_seq,
            incarnation: 0,
            status: MemberStatus::Active,
            key: [0; 32],
            proof_ms: 0,
        }
    }

    #[test]
    fn successor_is_earliest_live_join() {
        let mut r = Roster::default();
        r.upsert(member(30, 2));
        r.upsert(member(10, 0));
        r.upsert(member(20, 1));
        assert_eq!(r.successor(|_| true), Some(PeerId(10)));
        assert_eq!(r.successor(|p| p != PeerId(10)), Some(PeerId(20)));
        r.get_mut(PeerId(20)).unwrap().status = MemberStatus::Away { since: Duration::ZERO };
        assert_eq!(r.successor(|p| p != PeerId(10)), Some(PeerId(30)));
    }

    #[test]
    fn claims_order_by_epoch_then_join_order() {
        let a = RosterDigest {
            epoch: 3,
            version: 0,
            host: PeerId(1),
            host_join_seq: 5,
            backed: true,
        };
        let b = RosterDigest {
            epoch: 2,
            version: 9,
            host: PeerId(2),
            host_join_seq: 0,
            backed: true,
        };
        assert_eq!(a.cmp_claim(&b), Ordering::Greater);
        let c = RosterDigest {
            epoch: 3,
            version: 0,
            host: PeerId(2),
            host_join_seq: 1,
            backed: true,
        };
        assert_eq!(c.cmp_claim(&a), Ordering::Greater, "earlier join order wins a tie");
        // A peer that was cut off and named itself host, however late its epoch, loses
        // to the claim that most of the session backs.
        let lonely = RosterDigest {
            epoch: 9,
            backed: false,
            ..a
        };
        assert_eq!(b.cmp_claim(&lonely), Ordering::Greater, "backed beats unbacked");
    }

    #[test]
    fn an_expelled_member_is_listed_until_admitted_again() {
        let mut r = Roster::default();
        r.upsert(member(10, 0));
        r.upsert(member(20, 1));
        assert!(!r.expel(PeerId(30)), "no member: nothing listed");
        assert!(r.expel(PeerId(20)));
        assert_eq!((r.get(PeerId(20)), r.expelled.clone()), (None, vec![PeerId(20)]));
        r.upsert(member(20, 2));
        assert!(r.expelled.is_empty(), "admitted again");
        for id in 0..=MAX_MEMBERS as u64 {
            r.upsert(member(100 + id, id));
            r.expel(PeerId(100 + id));
        }
        assert_eq!(r.expelled.len(), MAX_MEMBERS);
        assert_eq!(r.expelled[0], PeerId(101), "the oldest dropped out");
        assert!(r.validate().is_ok());
    }

    #[test]
    fn a_roster_is_backed_by_more_active_than_away() {
        let mut r = Roster::default();
        r.upsert(member(10, 0));
        r.upsert(member(20, 1));
        assert!(r.majority_active());
        r.get_mut(PeerId(20)).unwrap().status = MemberStatus::Away { since: Duration::ZERO };
        assert!(!r.majority_active(), "one of two away: not a majority");
        r.upsert(member(30, 2));
        assert!(r.majority_active());
    }
}
