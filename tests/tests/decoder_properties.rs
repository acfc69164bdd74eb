//! The decoders of what people paste or keep on disk (invite codes, saved seats), and of
//! the rendezvous frames and LAN beacons any host on a network can send, return a
//! value or an error for any input, never panic, and refuse a valid code with one character
//! changed; the heartbeat frame, the one datagram a peer decodes outside renet, likewise.
//! (Protocol messages in a session: `hostile_peers.rs`; snapshots: `snapshot_properties.rs`.)

use netcode::invite::Invite;
use netcode::protocol::{Message, TickAck};
use netcode::transport::Seat;
use netcode::{Credentials, PeerId, SessionKey};
use proptest::prelude::*;

fn invite() -> impl Strategy<Value = Invite> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec((any::<[u8; 4]>(), 1u16..), 1..=8),
        prop::collection::vec((any::<[u8; 4]>(), 1u16..), 0..=4),
    )
        .prop_map(|(id, key, addrs, rendezvous)| {
            let socket = |(ip, port): ([u8; 4], u16)| std::net::SocketAddr::from((ip, port));
            Invite {
                addrs: addrs.into_iter().map(socket).collect(),
                rendezvous: rendezvous.into_iter().map(socket).collect(),
                session: SessionKey { id, key },
            }
        })
}

fn heartbeat() -> impl Strategy<Value = Message> {
    (
        prop::collection::vec(any::<u64>().prop_map(PeerId), 0..4),
        any::<[Option<u32>; 2]>(),
        any::<u8>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
    )
        .prop_map(|(suspects, acks, held_ms, own, shared)| Message::Heartbeat {
            digest: None,
            suspects,
            acks: acks.map(|a| a.map(TickAck::of)),
            held_ms,
            own,
            shared,
        })
}

proptest! {
    // Seeded: the same cases every run (see `netcode_tests::proptest_config`).
    #![proptest_config(netcode_tests::proptest_config(256))]

    #[test]
    fn any_string_is_an_invite_or_an_error(s in ".{0,300}") {
        if let Err(e) = Invite::decode(&s) {
            prop_assert!(e.to_string().starts_with("invite code is invalid: "));
        }
    }

    #[test]
    fn invites_round_trip_and_one_changed_character_is_refused(
        inv in invite(),
        at in any::<prop::sample::Index>(),
        with in "[0-9a-z]",
    ) {
        let code = inv.encode();
        prop_assert_eq!(&Invite::decode(&code).unwrap(), &inv);
        let body = code.len() - netcode::invite::PREFIX.len();
        let i = netcode::invite::PREFIX.len() + at.index(body);
        let mut chars: Vec<char> = code.chars().collect();
        let new = with.chars().next().unwrap();
        // Crockford reads o as 0 and i, l as 1: those are the same character.
        let same = |c: char| match c { 'o' => '0', 'i' | 'l' => '1', c => c };
        prop_assume!(same(new) != same(chars[i]));
        chars[i] = new;
        let changed: String = chars.into_iter().collect();
        prop_assert!(Invite::decode(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn any_text_is_a_seat_or_an_error(s in "(invite|peer|secret|x)? ?[0-9a-z-]{0,80}(\n(invite|peer|secret) [0-9a-z-]{0,80}){0,4}") {
        let _ = s.parse::<Seat>();
    }

    #[test]
    fn seats_round_trip(inv in invite(), other in any::<u64>(), secret in any::<[u8; 32]>()) {
        let peer = netcode::identity::SeatKey::from_secret(&secret).peer();
        let seat = Seat { invite: inv, credentials: Credentials { peer, secret } };
        prop_assert_eq!(seat.to_string().parse::<Seat>().unwrap(), seat.clone());
        // A seat whose id its secret does not own is refused as damaged.
        prop_assume!(other != peer.0);
        let damaged = Seat { credentials: Credentials { peer: PeerId(other), secret }, ..seat };
        prop_assert!(damaged.to_string().parse::<Seat>().is_err());
    }

    #[test]
    fn any_bytes_are_a_heartbeat_frame_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(msg) = Message::decode_heartbeat(&bytes) {
            let again = Message::decode_heartbeat(&msg.encode_heartbeat().unwrap()).unwrap();
            prop_assert_eq!(again, msg);
        }
    }

    #[test]
    fn heartbeat_frames_round_trip(msg in heartbeat()) {
        let frame = msg.encode_heartbeat().unwrap();
        prop_assert!(frame.len() < msg.encode().unwrap().len(), "the frame is smaller");
        prop_assert_eq!(Message::decode_heartbeat(&frame).unwrap(), msg);
    }

    #[test]
    fn any_bytes_after_a_magic_are_a_rendezvous_frame_or_an_error(
        magic in 0..3usize,
        version in prop_oneof![Just(netcode::rendezvous::VERSION), any::<u8>()],
        body in prop::collection::vec(any::<u8>(), 0..1500),
    ) {
        // The three magics that share the game socket's first byte: rendezvous, probes, beacons.
        let magics = [netcode::rendezvous::MAGIC, [0xFF, b'N', b'C', b'P'], netcode::lan::LAN_MAGIC];
        let mut bytes = magics[magic].to_vec();
        bytes.push(version);
        bytes.extend_from_slice(&body);
        if let Ok(frame) = netcode::rendezvous::Frame::decode(&bytes) {
            prop_assert_eq!(netcode::rendezvous::Frame::decode(&frame.encode().unwrap()).unwrap(), frame);
        }
        if let Ok(beacon) = netcode::lan::Beacon::decode(&bytes) {
            prop_assert_eq!(netcode::lan::Beacon::decode(&beacon.encode().unwrap()).unwrap(), beacon);
        }
    }
}
