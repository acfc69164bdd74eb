//! A session event as one flat, serializable record: the shape in which programs print
//! events as JSON lines (the game's headless mode, the `peer` example), named in one place
//! so that scripts and tests read the same words from every program.

use serde::Serialize;

use super::types::{LeaveReason, SessionEvent};

/// One session event as a flat record. Serialized (with `serde_json`, say), it reads
/// `{"event":"host_changed","old":"…","new":"…","epoch":2}`: absent fields are left out.
/// Peer ids are written as their 16 hex digits ([`crate::PeerId`]'s `Display`).
///
/// A program adds what only it knows (display names, the pause it measured, the link's
/// path) to the serialized object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// What happened: `joined` (this peer, `rejoined` tells whether it took an old seat
    /// back), `refused`, `peer_joined`, `peer_away`, `rejoined` (another member took its
    /// seat back), `peer_left`, `host_changed`, `link_changed` or `peer_misbehaved`.
    pub event: &'static str,
    /// The peer the event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// `joined`: whether this peer took its old seat back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejoined: Option<bool>,
    /// `joined` and `rejoined`: whether the event is about this peer itself.
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub own: Option<bool>,
    /// `refused`, `peer_left`, `peer_misbehaved`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `host_changed`: the host before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// `host_changed`: the host now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// `host_changed`: the new host's epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// `link_changed`: the link's state word ([`crate::Link::word`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// `link_changed`: the link's path word ([`crate::Link::path_word`]), absent while down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'static str>,
}

impl EventRecord {
    /// A record with only the event's word.
    fn named(event: &'static str) -> Self {
        EventRecord {
            event,
            peer: None,
            rejoined: None,
            own: None,
            reason: None,
            old: None,
            new: None,
            epoch: None,
            state: None,
            path: None,
        }
    }

    /// The record of `event`; `None` for the events programs do not print (store changes,
    /// which are many, this peer's own completed leave, and a join's progress).
    pub fn of(event: &SessionEvent) -> Option<Self> {
        let about = |word, peer: &crate::PeerId| EventRecord {
            peer: Some(peer.to_string()),
            ..EventRecord::named(word)
        };
        Some(match event {
            SessionEvent::Joined { peer, rejoined } => EventRecord {
                rejoined: Some(*rejoined),
                own: Some(true),
                ..about("joined", peer)
            },
            SessionEvent::JoinRefused(refusal) => EventRecord {
                reason: Some(refusal.to_string()),
                ..EventRecord::named("refused")
            },
            SessionEvent::PeerJoined { peer } => about("peer_joined", peer),
            SessionEvent::PeerAway { peer } => about("peer_away", peer),
            SessionEvent::PeerRejoined { peer } => EventRecord {
                own: Some(false),
                ..about("rejoined", peer)
            },
            SessionEvent::PeerLeft { peer, reason } => EventRecord {
                reason: Some(leave_word(*reason).to_owned()),
                ..about("peer_left", peer)
            },
            SessionEvent::HostChanged { old, new, epoch } => EventRecord {
                old: Some(old.to_string()),
                new: Some(new.to_string()),
                epoch: Some(*epoch),
                ..EventRecord::named("host_changed")
            },
            SessionEvent::LinkChanged { peer, link } => EventRecord {
                state: Some(link.word()),
                path: link.path_word(),
                ..about("link_changed", peer)
            },
            SessionEvent::PeerMisbehaved { peer, reason } => EventRecord {
                reason: Some(reason.to_string()),
                ..about("peer_misbehaved", peer)
            },
            SessionEvent::StoreChanged { .. } | SessionEvent::Left | SessionEvent::JoinProgress(_) => return None,
        })
    }
}

/// Why a member left, as a word: `goodbye`, `expired` or `expelled`.
fn leave_word(reason: LeaveReason) -> &'static str {
    match reason {
        LeaveReason::Graceful => "goodbye",
        LeaveReason::Expired => "expired",
        LeaveReason::Expelled => "expelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use crate::{Link, Relayer};

    #[test]
    fn every_printed_event_has_its_word_and_fields() {
        let (a, b) = (PeerId(0xa), PeerId(0xb));
        let joined = EventRecord::of(&SessionEvent::Joined {
            peer: a,
            rejoined: true,
        })
        .unwrap();
        assert_eq!(
            (joined.event, joined.rejoined, joined.own),
            ("joined", Some(true), Some(true))
        );
        assert_eq!(joined.peer.as_deref(), Some("000000000000000a"));
        let back = EventRecord::of(&SessionEvent::PeerRejoined { peer: b }).unwrap();
        assert_eq!((back.event, back.own, back.rejoined), ("rejoined", Some(false), None));
        let host = EventRecord::of(&SessionEvent::HostChanged {
            old: a,
            new: b,
            epoch: 3,
        })
        .unwrap();
        assert_eq!((host.event, host.epoch, host.peer), ("host_changed", Some(3), None));
        assert_eq!(host.new.as_deref(), Some("000000000000000b"));
        let link = EventRecord::of(&SessionEvent::LinkChanged {
            peer: b,
            link: Link::Relayed(Relayer::Service),
        })
        .unwrap();
        assert_eq!(
            (link.event, link.state, link.path),
            ("link_changed", Some("relayed"), Some("service"))
        );
        let left = EventRecord::of(&SessionEvent::PeerLeft {
            peer: b,
            reason: LeaveReason::Expelled,
        })
        .unwrap();
        assert_eq!((left.event, left.reason.as_deref()), ("peer_left", Some("expelled")));
        assert_eq!(EventRecord::of(&SessionEvent::Left), None);
    }

    /// What a script reads: the JSON, with `self` renamed and absent fields left out.
    #[test]
    fn the_json_lines_carry_only_the_events_fields() {
        let (a, b) = (PeerId(0xa), PeerId(0xb));
        let json = |ev: SessionEvent| serde_json::to_value(EventRecord::of(&ev).unwrap()).unwrap();
        assert_eq!(
            json(SessionEvent::Joined {
                peer: a,
                rejoined: true
            }),
            serde_json::json!({ "event": "joined", "peer": "000000000000000a", "rejoined": true, "self": true })
        );
        assert_eq!(
            json(SessionEvent::HostChanged {
                old: a,
                new: b,
                epoch: 2
            }),
            serde_json::json!({ "event": "host_changed", "old": "000000000000000a", "new": "000000000000000b",
                                "epoch": 2 })
        );
        assert_eq!(
            json(SessionEvent::PeerLeft {
                peer: b,
                reason: LeaveReason::Graceful
            }),
            serde_json::json!({ "event": "peer_left", "peer": "000000000000000b", "reason": "goodbye" })
        );
    }
}
