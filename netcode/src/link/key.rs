//! Whom a link goes to, and what happened to it.

use crate::PeerId;

/// Whom a link goes to: a member, or the contact a newcomer dials before it learns the
/// contact's id (from its `Hello`; the link is then re-keyed to that id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum LinkKey {
    /// The contact of a join, id unknown yet.
    Contact,
    /// A member.
    Peer(PeerId),
}

impl From<PeerId> for LinkKey {
    fn from(peer: PeerId) -> Self {
        LinkKey::Peer(peer)
    }
}

impl LinkKey {
    /// The member, unless this is the contact.
    pub(crate) fn peer(self) -> Option<PeerId> {
        match self {
            LinkKey::Peer(p) => Some(p),
            LinkKey::Contact => None,
        }
    }
}

impl std::fmt::Display for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkKey::Peer(p) => write!(f, "{p}"),
            LinkKey::Contact => f.write_str("contact"),
        }
    }
}

/// Something that happened to a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    Connected(LinkKey),
    Disconnected(LinkKey),
    DialFailed(LinkKey),
}
