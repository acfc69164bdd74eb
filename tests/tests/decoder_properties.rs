//! The decoders of what people paste or keep on disk (invite codes, saved seats), and of
//! the rendezvous frames and LAN beacons any host on a network can send, return a
//! value or an error for any input, never panic, and refuse a valid code with one character
//! changed; the heartbeat frame, the one datagram a peer decodes outside renet, likewise.
//! Valid rendezvous frames, path probes and beacons round-trip; a probe opens only with its
//! session's key and unchanged; the rendezvous service answers any datagram from anyone
//! with nothing or with frames that decode. STUN answers round-trip, a bent one decodes or
//! fails, and a STUN client takes no answer to a transaction it did not send.
//! (Protocol messages in a session: `hostile_peers.rs`; snapshots: `snapshot_properties.rs`.)

use std::net::SocketAddr;
use std::time::Duration;

use netcode::invite::Invite;
use netcode::lan::Beacon;
use netcode::protocol::{Message, TickAck};
use netcode::rendezvous::{Frame, Listed, RendezvousId, Request, SessionSigner, is_relay};
use netcode::stun::{Answer, StunClient, StunConfig, binding_success, decode_response, is_stun, transaction_of};
use netcode::transport::Seat;
use netcode::traversal::probe::{Probe, ProbeKey};
use netcode::{Credentials, PeerId, SessionKey};
use netcode_rendezvous::{Server, ServerConfig};
use proptest::prelude::*;

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(SocketAddr::from),
        (any::<[u16; 8]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn listed() -> impl Strategy<Value = Listed> {
    (
        any::<u64>(),
        addr(),
        prop::option::of(addr()),
        prop::collection::vec(addr(), 0..=8),
    )
        .prop_map(|(peer, observed, addr, candidates)| Listed {
            peer: PeerId(peer),
            observed,
            addr,
            candidates,
        })
}

/// Every kind of rendezvous frame, within the bounds an encoder keeps (a signed request
/// signed by a session of the strategy's choosing).
fn frame() -> impl Strategy<Value = Frame> {
    let id = any::<[u8; 16]>().prop_map(RendezvousId);
    let request = prop_oneof![
        (
            prop::option::of(addr()),
            any::<u64>(),
            prop::collection::vec(addr(), 0..=8)
        )
            .prop_map(|(addr, relay_token, candidates)| Request::Register {
                addr,
                relay_token,
                candidates
            }),
        (
            prop::option::of(addr()),
            any::<u64>(),
            prop::collection::vec(addr(), 0..=8)
        )
            .prop_map(|(addr, relay_token, candidates)| Request::Join {
                addr,
                relay_token,
                candidates
            }),
        Just(Request::Leave),
    ];
    prop_oneof![
        any::<u64>().prop_map(|nonce| Frame::Probe { nonce }),
        (any::<u64>(), addr()).prop_map(|(nonce, addr)| Frame::Observed { nonce, addr }),
        (any::<[u8; 32]>(), any::<u64>(), any::<u64>(), any::<u64>(), request).prop_map(
            |(key, peer, at_ms, nonce, body)| SessionSigner::new(&key).request(PeerId(peer), at_ms, nonce, body)
        ),
        (id.clone(), addr(), prop::collection::vec(listed(), 0..=4)).prop_map(|(session, observed, members)| {
            Frame::Members {
                session,
                observed,
                members,
            }
        }),
        (id.clone(), listed()).prop_map(|(session, peer)| Frame::Punch { session, peer }),
        (
            id.clone(),
            any::<(u64, u64, u64)>(),
            prop::collection::vec(any::<u8>(), 0..1300)
        )
            .prop_map(|(session, (from, to, token), payload)| Frame::Relay {
                session,
                from: PeerId(from),
                to: PeerId(to),
                token,
                payload
            }),
        (id, any::<u64>(), prop::collection::vec(any::<u8>(), 0..1300)).prop_map(|(session, from, payload)| {
            Frame::Relayed {
                session,
                from: PeerId(from),
                payload,
            }
        }),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    (
        any::<[u8; 16]>(),
        any::<u64>(),
        addr(),
        any::<u64>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(session, sender, sender_addr, nonce, reply_to)| Probe {
            session: RendezvousId(session),
            sender: PeerId(sender),
            sender_addr,
            nonce,
            reply_to,
        })
}

fn invite() -> impl Strategy<Value = Invite> {
    (
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec((any::<[u8; 4]>(), 1u16..), 1..=8),
        prop::collection::vec((any::<[u8; 4]>(), 1u16..), 0..=4),
        prop::collection::vec((any::<[u8; 4]>(), 1u16..), 0..=4),
    )
        .prop_map(|(id, key, addrs, rendezvous, public)| {
            let socket = |(ip, port): ([u8; 4], u16)| std::net::SocketAddr::from((ip, port));
            Invite {
                addrs: addrs.into_iter().map(socket).collect(),
                rendezvous: rendezvous.into_iter().map(socket).collect(),
                public: public.into_iter().map(socket).collect(),
                session: SessionKey { id, key },
                dht: false,
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

    #[test]
    fn rendezvous_frames_round_trip(frame in frame()) {
        // Members of a frame may not fit one datagram: then encoding refuses it.
        if let Ok(bytes) = frame.encode() {
            prop_assert_eq!(is_relay(&bytes), matches!(frame, Frame::Relay { .. }));
            prop_assert_eq!(Frame::decode(&bytes).unwrap(), frame);
        }
    }

    #[test]
    fn beacons_round_trip(name in ".{0,60}", players in any::<u8>(), invite in invite()) {
        let beacon = Beacon { name, players, invite: invite.encode() };
        let bytes = beacon.encode().unwrap();
        prop_assert_eq!(Beacon::decode(&bytes).unwrap(), beacon);
        for n in 0..bytes.len() {
            prop_assert!(Beacon::decode(&bytes[..n]).is_err(), "cut at {}", n);
        }
    }

    #[test]
    fn a_probe_opens_with_its_session_key_only_and_unchanged(
        p in probe(),
        key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        prop_assume!(key != other);
        let bytes = ProbeKey::new(&key).seal(&p);
        prop_assert_eq!(ProbeKey::new(&key).open(&bytes), Some(p));
        prop_assert_eq!(ProbeKey::new(&other).open(&bytes), None);
        let mut bent = bytes.clone();
        bent[at.index(bytes.len())] ^= flip;
        prop_assert_eq!(ProbeKey::new(&key).open(&bent), None);
    }

    #[test]
    fn any_bytes_after_the_probe_magic_open_to_nothing(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = netcode::traversal::probe::PROBE_MAGIC.to_vec();
        bytes.extend_from_slice(&body);
        // Without the key, no tag holds (a 2^-128 chance).
        prop_assert_eq!(ProbeKey::new(&[1; 32]).open(&bytes), None);
    }

    #[test]
    fn stun_answers_round_trip_and_any_bent_answer_is_an_answer_or_an_error(
        tid in any::<[u8; 12]>(),
        mapped in addr(),
        plain in any::<bool>(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = binding_success(&tid, mapped, plain);
        prop_assert!(is_stun(&bytes));
        let answer = decode_response(&bytes).unwrap();
        prop_assert_eq!(answer.answer, Answer::Mapped(mapped));
        prop_assert_eq!(answer.transaction, tid);
        let mut bent = bytes.clone();
        bent[at.index(bytes.len())] ^= flip;
        if let Ok(r) = decode_response(&bent) {
            prop_assert!(is_stun(&bent));
            prop_assert_eq!(Some(r.transaction), transaction_of(&bent));
        }
        prop_assert!(decode_response(&bytes[..cut.index(bytes.len())]).is_err());
    }

    #[test]
    fn the_stun_client_takes_only_its_own_answers(
        datagrams in prop::collection::vec(
            (any::<bool>(), prop_oneof![
                (any::<[u8; 12]>(), addr()).prop_map(|(t, a)| binding_success(&t, a, false)),
                prop::collection::vec(any::<u8>(), 0..200),
            ]),
            1..20,
        ),
    ) {
        let server: SocketAddr = "198.51.100.2:3478".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:3478".parse().unwrap();
        let mut client = StunClient::new(StunConfig::default().servers(vec![server]), 5);
        client.start(Duration::ZERO);
        for (from_server, bytes) in datagrams {
            let from = if from_server { server } else { stranger };
            // Random transaction ids: none is ours (a 2^-96 chance).
            prop_assert!(!client.handle(from, &bytes, Duration::ZERO));
        }
        prop_assert_eq!(client.reflexive(), None);
        prop_assert!(!client.done());
    }

    #[test]
    fn the_rendezvous_service_answers_any_datagram_with_frames_or_nothing(
        datagrams in prop::collection::vec(
            (0..4usize, prop_oneof![
                frame().prop_filter_map("fits a datagram", |f| f.encode().ok()),
                prop::collection::vec(any::<u8>(), 0..200),
            ]),
            1..20,
        ),
    ) {
        let sources: [SocketAddr; 4] =
            ["198.51.100.1:4000", "198.51.100.1:4001", "203.0.113.9:5000", "[2001:db8::5]:6000"]
                .map(|a| a.parse().unwrap());
        let mut server = Server::new(ServerConfig::default());
        for (i, (from, bytes)) in datagrams.into_iter().enumerate() {
            let now = Duration::from_millis(100 * i as u64);
            let unix_ms = 1_790_000_000_000 + now.as_millis() as u64;
            for (_, reply) in server.handle(sources[from], &bytes, now, unix_ms) {
                prop_assert!(Frame::decode(&reply).is_ok());
            }
        }
    }
}
