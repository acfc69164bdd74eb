//! What changed between two rosters, as a pure value: the events a member reports and the
//! members whose state starts afresh. [`Session::emit_roster_diff`] applies it.
//!
//! [`Session::emit_roster_diff`]: crate::session::Session

use crate::PeerId;
use crate::roster::Roster;
use crate::session::SessionEvent;

/// The difference between an old roster and a new one, as `me` sees it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(in crate::session) struct RosterDiff {
    /// Members that joined, took their seat back or went away, in the new roster's order.
    pub(in crate::session) events: Vec<SessionEvent>,
    /// Members whose new admission starts afresh (new, back from away, or a newer
    /// incarnation), in the new roster's order.
    pub(in crate::session) renewed: Vec<PeerId>,
    /// Members that went away, in the new roster's order.
    pub(in crate::session) away: Vec<PeerId>,
    /// Members the new roster no longer lists, in the old roster's order, and whether
    /// they were active in it.
    pub(in crate::session) removed: Vec<(PeerId, bool)>,
    /// Whether both rosters are of one host's term (same host and epoch).
    pub(in crate::session) same_term: bool,
    /// The host change, if the host changed.
    pub(in crate::session) host_changed: Option<SessionEvent>,
}

/// Compares `old` with `new` for `me` (who reports nothing about itself).
pub(in crate::session) fn diff(old: &Roster, new: &Roster, me: PeerId) -> RosterDiff {
    let mut d = RosterDiff {
        same_term: old.epoch == new.epoch && old.host == new.host,
        ..RosterDiff::default()
    };
    for m in new.members.iter().filter(|m| m.id != me) {
        let before = old.get(m.id);
        let event = match before {
            None if m.is_active() => Some(SessionEvent::PeerJoined { peer: m.id }),
            Some(o) if m.incarnation > o.incarnation && m.is_active() => {
                Some(SessionEvent::PeerRejoined { peer: m.id })
            }
            Some(o) if o.is_active() && !m.is_active() => Some(SessionEvent::PeerAway { peer: m.id }),
            Some(o) if !o.is_active() && m.is_active() => Some(SessionEvent::PeerRejoined { peer: m.id }),
            _ => None,
        };
        if let Some(SessionEvent::PeerAway { .. }) = event {
            d.away.push(m.id);
        }
        d.events.extend(event);
        if m.is_active() && before.is_none_or(|o| !o.is_active() || o.incarnation < m.incarnation) {
            d.renewed.push(m.id);
        }
    }
    for m in old.members.iter().filter(|m| m.id != me) {
        if new.get(m.id).is_none() {
            d.removed.push((m.id, m.is_active()));
        }
    }
    if old.host != new.host {
        d.host_changed = Some(SessionEvent::HostChanged {
            old: old.host,
            new: new.host,
            epoch: new.epoch,
        });
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SeatKey;
    use crate::roster::{Member, MemberStatus};

    fn member(id: u64, incarnation: u32, active: bool) -> Member {
        Member {
            id: PeerId(id),
            name: format!("p{id}"),
            addr: "127.0.0.1:1".parse().unwrap(),
            join_seq: id,
            incarnation,
            status: if active {
                MemberStatus::Active
            } else {
                MemberStatus::Away {
                    since: std::time::Duration::ZERO,
                }
            },
            key: SeatKey::from_secret(&[id as u8; 32]).public(),
            proof_ms: 0,
        }
    }

    fn roster(host: u64, epoch: u64, members: Vec<Member>) -> Roster {
        Roster {
            epoch,
            version: 1,
            host: PeerId(host),
            next_join_seq: 10,
            members,
            backed: true,
            prev_term: None,
            expelled: Vec::new(),
            signature: None,
        }
    }

    #[test]
    fn joined_rejoined_away_and_removed_in_roster_order() {
        let me = PeerId(1);
        let old = roster(
            1,
            1,
            vec![
                member(1, 0, true),
                member(2, 0, true),
                member(3, 0, true),
                member(4, 0, false),
                member(5, 0, true),
            ],
        );
        let new = roster(
            1,
            1,
            vec![
                member(1, 0, true),
                member(2, 0, false),
                member(3, 1, true),
                member(4, 0, true),
                member(6, 0, true),
            ],
        );
        let d = diff(&old, &new, me);
        assert_eq!(
            d.events,
            vec![
                SessionEvent::PeerAway { peer: PeerId(2) },
                SessionEvent::PeerRejoined { peer: PeerId(3) },
                SessionEvent::PeerRejoined { peer: PeerId(4) },
                SessionEvent::PeerJoined { peer: PeerId(6) },
            ]
        );
        assert_eq!(d.away, vec![PeerId(2)]);
        assert_eq!(d.renewed, vec![PeerId(3), PeerId(4), PeerId(6)]);
        assert_eq!(d.removed, vec![(PeerId(5), true)]);
        assert!(d.same_term && d.host_changed.is_none());
    }

    #[test]
    fn a_new_host_is_a_new_term_and_nothing_is_said_about_me() {
        let old = roster(1, 1, vec![member(1, 0, true), member(2, 0, true)]);
        let new = roster(2, 2, vec![member(1, 0, false), member(2, 0, true)]);
        let d = diff(&old, &new, PeerId(1));
        assert!(d.events.is_empty() && d.away.is_empty(), "{d:?}");
        assert!(!d.same_term);
        assert_eq!(
            d.host_changed,
            Some(SessionEvent::HostChanged {
                old: PeerId(1),
                new: PeerId(2),
                epoch: 2
            })
        );
        assert_eq!(
            diff(&new, &new, PeerId(1)),
            RosterDiff {
                same_term: true,
                ..RosterDiff::default()
            }
        );
    }
}
