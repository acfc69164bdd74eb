//! Who vouches for a roster: its host's signature, or, for a handover, the signature of
//! the host we follow handing its role on. Members pass the host's roster on unchanged, so
//! a member can spread a roster but never write one in another's name
//! (`docs/design.md`, "Authority").

use crate::identity::peer_of;
use crate::roster::Roster;
use crate::session::{RosterForgery, Session};

/// What a roster's signature says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::session) enum Vouch {
    /// Signed by its host, or handed over by the host we follow.
    Signed,
    /// A handover signed by a host we do not follow (we cannot check it); honest peers may
    /// pass one on. Its new host's own copy follows.
    Unknown,
    /// No honest peer sends it.
    Forged(RosterForgery),
}

impl Session {
    /// The verdict on a roster from the network, by the rules in the module doc.
    pub(in crate::session) fn vouch(&self, roster: &Roster) -> Vouch {
        let session_id = self.authority.session_id;
        let Some(host) = roster.get(roster.host) else {
            return Vouch::Forged(RosterForgery::NoHost);
        };
        if peer_of(&host.key) != host.id {
            return Vouch::Forged(RosterForgery::HostKeyNotOwned);
        }
        if roster.signed_by(&host.key, session_id) {
            return Vouch::Signed;
        }
        let Some((_, before)) = roster.prev_term.filter(|_| roster.version == 0) else {
            return Vouch::Forged(RosterForgery::Unsigned);
        };
        let ours = (self.roster.epoch, self.roster.host);
        match self.roster.get(before).filter(|_| roster.prev_term == Some(ours)) {
            Some(m) if roster.signed_by(&m.key, session_id) => Vouch::Signed,
            Some(_) => Vouch::Forged(RosterForgery::UnsignedHandover),
            None => Vouch::Unknown,
        }
    }

    /// The public key of the host our roster names (zeros if it lists none).
    pub(in crate::session) fn host_key(&self) -> crate::identity::PublicKey {
        self.roster.get(self.roster.host).map_or([0; 32], |m| m.key)
    }

    /// Our roster as we send it: signed by us when we host it.
    pub(in crate::session) fn signed_roster(&mut self) -> Roster {
        if self.roster.host == self.me {
            self.roster.sign(&self.authority.key, self.authority.session_id);
        }
        self.roster.clone()
    }
}
