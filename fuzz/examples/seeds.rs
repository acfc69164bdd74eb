//! Writes seed inputs for every fuzz target from valid encodings: messages of every kind,
//! heartbeat frames, full and delta snapshots, a receiver's packet stream, invite codes,
//! seat files, rendezvous frames, streams to the rendezvous service and to a peer's
//! traversal (probes, replies, the service's answers), and LAN beacons.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus` (run.sh does
//! it): one directory per target, files named `seed-*` (rewritten each time, never removed).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use netcode::identity::{SeatKey, SeatProof};
use netcode::invite::Invite;
use netcode::lan::Beacon;
use netcode::protocol::{Message, Refusal, TickAck};
use netcode::rendezvous::{Frame, Listed, Request, SessionSigner};
use netcode::roster::{Member, MemberStatus, Roster};
use netcode::snapshot::delta::{self, DeltaSender};
use netcode::store::{Entry, Scope, Version};
use netcode::transport::Seat;
use netcode::traversal::probe::{Probe, ProbeKey};
use netcode::{Credentials, PeerId, SessionKey, Store};
use netcode_fuzz::{Step, delta_input, packets_input, schema, source, world};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    fs::create_dir_all(&dir).expect("create corpus directory");
    fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
}

/// A store with entries of both scopes, sealed as their writers would seal them.
fn store() -> Store {
    let host = SeatKey::from_secret(&[1; 32]);
    let player = SeatKey::from_secret(&[2; 32]);
    let mut store = Store::default();
    let score = Entry::sealed(
        Scope::Shared,
        "score",
        Version { epoch: 1, n: 2 },
        Some(vec![7, 9]),
        &host,
        1,
    );
    store.merge_entry(Scope::Shared, "score".into(), score);
    let pos = Entry::sealed(
        Scope::Peer(player.peer()),
        "pos",
        Version { epoch: 0, n: 1 },
        None,
        &player,
        0,
    );
    store.merge_entry(Scope::Peer(player.peer()), "pos".into(), pos);
    store
}

fn roster() -> Roster {
    let member = |id: u64, addr: &str, away: bool| Member {
        id: PeerId(id),
        name: format!("player{id}"),
        addr: addr.parse().expect("address"),
        join_seq: id,
        incarnation: u32::from(away),
        status: if away {
            MemberStatus::Away {
                since: std::time::Duration::from_millis(1500),
            }
        } else {
            MemberStatus::Active
        },
        key: SeatKey::from_secret(&[id as u8; 32]).public(),
        proof_ms: 1000 * id,
    };
    Roster {
        epoch: 3,
        version: 7,
        host: PeerId(1),
        next_join_seq: 4,
        members: vec![
            member(1, "127.0.0.1:40001", false),
            member(2, "[::1]:40002", false),
            member(3, "10.0.0.3:40003", true),
        ],
        backed: true,
        expelled: vec![PeerId(9)],
        // New fields default, so that this file keeps compiling (it is not built in CI).
        ..Roster::default()
    }
}

fn messages() -> Vec<(&'static str, Message)> {
    let addr: SocketAddr = "127.0.0.1:40001".parse().expect("address");
    let schema = schema();
    let own = delta::encode(&schema, &world(5, 3), None).expect("encode");
    let shared = delta::encode(&schema, &world(6, 5), Some(&world(5, 5))).expect("encode");
    let inner = Message::Leave.encode().expect("encode");
    let newcomer = SeatKey::from_secret(&[4; 32]);
    let member = SeatKey::from_secret(&[1; 32]);
    vec![
        ("hello", Message::hello(&member, 7, PeerId(3))),
        (
            "heartbeat",
            Message::Heartbeat {
                digest: Some(roster().digest()),
                suspects: vec![PeerId(3)],
                acks: [Some(TickAck::of(5)), None],
                held_ms: 12,
                own: Some(own),
                shared: Some(shared),
            },
        ),
        (
            "heartbeat-empty",
            Message::Heartbeat {
                digest: None,
                suspects: Vec::new(),
                acks: [None, None],
                held_ms: 0,
                own: None,
                shared: None,
            },
        ),
        (
            "full-shared",
            Message::FullShared {
                snapshot: delta::encode(&schema, &world(9, 8), None).expect("encode"),
            },
        ),
        (
            "join",
            Message::Join {
                name: "newcomer".into(),
                key: newcomer.public(),
                proof: SeatProof::sign(&newcomer, 9, newcomer.peer(), addr, 1500),
            },
        ),
        (
            "rejoin",
            Message::Rejoin {
                name: "back".into(),
                key: newcomer.public(),
                proof: SeatProof::sign(&newcomer, 9, newcomer.peer(), "[::1]:9".parse().expect("address"), 2500),
                store: store(),
            },
        ),
        (
            "admit",
            Message::Admit {
                name: "newcomer".into(),
                key: newcomer.public(),
                proof: SeatProof::sign(&newcomer, 9, newcomer.peer(), addr, 1500),
                rejoin: false,
                store: store(),
            },
        ),
        ("store-request", Message::StoreRequest),
        (
            "admitted",
            Message::Admitted {
                peer: PeerId(4),
                result: Err(Refusal::Full),
                roster: roster(),
                store: store(),
            },
        ),
        (
            "welcome",
            Message::Welcome {
                roster: roster(),
                store: store(),
                more: 2,
            },
        ),
        (
            "refused",
            Message::Refused {
                reason: Refusal::WrongSecret,
            },
        ),
        ("roster", Message::Roster(roster())),
        ("store-sync", Message::StoreSync(store())),
        ("store-piece", Message::StorePiece(store())),
        (
            "update",
            Message::Update {
                scope: Scope::Peer(PeerId(2)),
                key: "pos".into(),
                entry: Entry::sealed(
                    Scope::Peer(PeerId(2)),
                    "pos",
                    Version { epoch: 3, n: 8 },
                    Some(vec![1, 2, 3, 4]),
                    &SeatKey::from_secret(&[2; 32]),
                    3,
                ),
            },
        ),
        ("leave", Message::Leave),
        (
            "candidates",
            Message::Candidates(netcode::protocol::Candidates {
                addrs: vec![
                    netcode::protocol::Candidate {
                        addr: "198.51.100.7:5000".parse().expect("address"),
                        kind: netcode::protocol::CandidateKind::Mapped,
                    },
                    netcode::protocol::Candidate {
                        addr,
                        kind: netcode::protocol::CandidateKind::Local,
                    },
                ],
                mapping: netcode::stun::NatMapping::EndpointIndependent,
            }),
        ),
        (
            "forward",
            Message::signed_forward(&member, 7, PeerId(3), 77, true, [0, 1], inner),
        ),
        (
            "game",
            Message::Game {
                kind: 3,
                seq: Some(12),
                bytes: b"fire".to_vec(),
            },
        ),
        ("game-ack", Message::GameAck { seqs: vec![1, 2, 40] }),
    ]
}

fn invites() -> Vec<Invite> {
    let addrs = |list: &[&str]| list.iter().map(|a| a.parse().expect("address")).collect();
    vec![
        Invite {
            addrs: addrs(&["192.168.1.20:40001"]),
            rendezvous: Vec::new(),
            public: addrs(&["198.51.100.11:40001"]),
            session: SessionKey { id: 1, key: [7; 32] },
            dht: false,
        },
        Invite {
            addrs: addrs(&["127.0.0.1:40001", "[::1]:9", "[2001:db8::1]:65535"]),
            rendezvous: addrs(&["203.0.113.7:7777"]),
            public: Vec::new(),
            session: SessionKey {
                id: u64::MAX,
                key: [0xa5; 32],
            },
            dht: false,
        },
        Invite {
            addrs: addrs(&["1.2.3.4:1"; 8]),
            rendezvous: Vec::new(),
            public: Vec::new(),
            session: SessionKey { id: 0, key: [0; 32] },
            dht: false,
        },
    ]
}

fn listed(peer: u64, at: u8, candidates: &[u8]) -> Listed {
    Listed {
        peer: PeerId(peer),
        observed: source(at),
        addr: Some(source(at)),
        candidates: candidates.iter().map(|&c| source(c)).collect(),
    }
}

/// Rendezvous frames of every kind, both ways.
fn frames() -> Vec<(&'static str, Frame)> {
    let signer = SessionSigner::new(&[1; 32]);
    let session = signer.id();
    let register = Request::Register {
        addr: Some(source(4)),
        relay_token: 5,
        candidates: vec![source(4), source(3)],
    };
    let join = Request::Join {
        addr: None,
        relay_token: 6,
        candidates: vec![source(5)],
    };
    vec![
        ("probe", Frame::Probe { nonce: 9 }),
        (
            "observed",
            Frame::Observed {
                nonce: 9,
                addr: source(3),
            },
        ),
        ("register", signer.request(PeerId(1), 1_790_000_000_000, 1, register)),
        ("join", signer.request(PeerId(2), 1_790_000_000_500, 2, join)),
        ("leave", signer.request(PeerId(2), 1_790_000_001_000, 3, Request::Leave)),
        (
            "members",
            Frame::Members {
                session,
                observed: source(2),
                members: vec![listed(2, 2, &[4, 3]), listed(3, 6, &[])],
            },
        ),
        (
            "punch",
            Frame::Punch {
                session,
                peer: listed(2, 2, &[5]),
            },
        ),
        (
            "relay",
            Frame::Relay {
                session,
                from: PeerId(1),
                to: PeerId(2),
                token: 5,
                payload: vec![0x11; 40],
            },
        ),
        (
            "relayed",
            Frame::Relayed {
                session,
                from: PeerId(2),
                payload: vec![0x22; 30],
            },
        ),
    ]
}

/// One stream packet: a control byte and the rest.
fn step(from: u8, mode: u8, flag: bool, advance: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![Step::control(from, mode, flag, advance)];
    p.extend_from_slice(rest);
    p
}

fn write_stream(out: &Path, target: &str, name: &str, steps: &[Vec<u8>]) {
    write(out, target, name, &packets_input(steps.iter().map(Vec::as_slice)));
}

/// Streams to the rendezvous service: two members register and join (signed again by
/// the target, mode 2), one relays to the other, one leaves, the tables expire.
fn service_streams(out: &Path) {
    let f: std::collections::HashMap<_, _> = frames()
        .into_iter()
        .map(|(n, f)| (n, f.encode().expect("encode")))
        .collect();
    let steps = [
        step(0, 0, false, 0, &f["probe"]),
        step(0, 2, false, 0, &f["register"]),
        step(2, 2, false, 1, &f["join"]),
        step(0, 0, false, 0, &f["relay"]),
        step(2, 2, false, 1, &f["leave"]),
        step(3, 3, true, 3, &f["register"]),
    ];
    write_stream(out, "rendezvous_service", "members", &steps);
    write_stream(
        out,
        "rendezvous_service",
        "noise",
        &[step(1, 0, false, 0, &f["members"]), step(1, 0, true, 2, &[0xFF, b'N'])],
    );
}

/// Streams to a peer's traversal: the service lists a member, which probes and answers.
fn traversal_streams(out: &Path) {
    let f: std::collections::HashMap<_, _> = frames()
        .into_iter()
        .map(|(n, f)| (n, f.encode().expect("encode")))
        .collect();
    let key = ProbeKey::new(&[1; 32]);
    let probe = Probe {
        session: SessionSigner::new(&[1; 32]).id(),
        sender: PeerId(2),
        sender_addr: source(2),
        nonce: 11,
        reply_to: None,
    };
    let sealed = key.seal(&probe);
    let body = &sealed[5..sealed.len() - 16];
    let steps = [
        step(0, 3, false, 0, &f["observed"]),
        step(0, 3, false, 0, &f["members"]),
        step(2, 0, false, 1, &[]),
        step(2, 2, false, 0, &[1, 2, 0]),
        step(2, 1, false, 0, body),
        step(4, 0, false, 0, &sealed),
        step(0, 3, false, 1, &f["punch"]),
        step(0, 3, false, 0, &f["relayed"]),
        step(2, 0, true, 0, b"a session datagram"),
        step(3, 0, false, 3, b"late"),
    ];
    write_stream(out, "traversal", "paths", &steps);
    write_stream(
        out,
        "traversal",
        "relayed",
        &[
            step(0, 3, false, 0, &f["members"]),
            step(0, 3, false, 2, &f["relayed"]),
            step(2, 0, true, 1, b"hi"),
        ],
    );
}

/// STUN answers for `stun_message`: control byte 1 (the client's transaction id is
/// spliced in, from the server asked) or 0, then a success (IPv4, IPv6, with and without
/// MAPPED-ADDRESS), an error response, a request.
fn stun_seeds(out: &Path) {
    use netcode::stun::{binding_error, binding_request, binding_success};
    let tid = [7u8; 12];
    let answers: [(&str, Vec<u8>); 5] = [
        ("v4", binding_success(&tid, "203.0.113.5:50000".parse().expect("address"), false)),
        ("v4plain", binding_success(&tid, "203.0.113.5:50000".parse().expect("address"), true)),
        ("v6", binding_success(&tid, "[2001:db8::5]:50000".parse().expect("address"), true)),
        ("error", binding_error(&tid, 400)),
        ("request", binding_request(&tid)),
    ];
    for (name, bytes) in answers {
        for control in [0u8, 1] {
            let mut input = vec![control];
            input.extend_from_slice(&bytes);
            write(out, "stun_message", &format!("{name}-{control}"), &input);
        }
    }
}

/// Session records and knocks for `dht_record`: control byte 0/1 (record/knock) with the
/// encoded value (the target seals it), 2/3 with the value sealed as a member seals it.
fn dht_seeds(out: &Path) {
    use netcode::dht_values::{DhtKeys, Knock, MemberRecord, SessionRecord};
    use netcode::protocol::{Candidate, CandidateKind, Candidates};
    use netcode::stun::NatMapping;

    let keys = DhtKeys::derive(&SessionKey { id: 7, key: [7; 32] });
    let candidates = |n: u8| Candidates {
        addrs: vec![
            Candidate {
                addr: SocketAddr::from(([203, 0, 113, n], 5000)),
                kind: CandidateKind::Reflexive,
            },
            Candidate {
                addr: "[fd00::1]:5000".parse().unwrap(),
                kind: CandidateKind::Local,
            },
        ],
        mapping: NatMapping::EndpointIndependent,
    };
    let record = SessionRecord {
        host: PeerId(1),
        epoch: 3,
        members: (1..=3)
            .map(|n| MemberRecord {
                id: PeerId(u64::from(n)),
                candidates: candidates(n),
            })
            .collect(),
        published_at: 1_800_000_000_000,
    };
    let knock = Knock {
        candidates: candidates(9),
        at: 1_800_000_000_000,
        nonce: [5; 16],
    };
    let with = |control: u8, bytes: Vec<u8>| [vec![control], bytes].concat();
    write(out, "dht_record", "record", &with(0, record.encode()));
    write(out, "dht_record", "knock", &with(1, knock.encode()));
    write(out, "dht_record", "record-sealed", &with(2, record.seal(&keys, [1; 12])));
    write(out, "dht_record", "knock-sealed", &with(3, knock.seal(&keys, [2; 12])));
}

/// Game messages for `net_message` (a type byte, then the bincode a `NetSender` sends) and
/// replicated components for `replicated_component` (a type byte, then their leaf values
/// as the plugin sends them, little-endian f32).
fn plugin_seeds(out: &Path) {
    use netcode::bevy::wire::{decode_leaves, decode_message, encode_leaves};
    use netcode_fuzz::game::{Chat, Homing, Knock, Mode, Spot};

    fn message<M: serde::Serialize>(which: u8, m: &M) -> Vec<u8> {
        let bytes = bincode::serde::encode_to_vec(m, bincode::config::standard()).expect("encode");
        [vec![which], bytes].concat()
    }
    let chats = [
        Chat::Say {
            text: "gg, again?".into(),
            to: Some(7),
        },
        Chat::Emote(3),
        Chat::Ready,
        Chat::Items(vec![(1, 2), (40, -1)]),
        Chat::Fire {
            at: [1.5, -2.25],
            power: 0.75,
        },
    ];
    for (i, chat) in chats.iter().enumerate() {
        let input = message(0, chat);
        assert_eq!(decode_message::<Chat>(&input[1..]).as_ref(), Some(chat), "seed chat-{i}");
        write(out, "net_message", &format!("chat-{i}"), &input);
    }
    let knock = Knock {
        peer: 0x1234_5678_9abc,
        dx: 3.0,
        dy: -1.0,
        seq: 12,
    };
    write(out, "net_message", "knock", &message(1, &knock));
    write(out, "net_message", "u64", &message(2, &u64::MAX));

    let leaves = |which: u8, values: Vec<f32>| {
        let mut input = vec![which];
        for v in values {
            input.extend_from_slice(&v.to_le_bytes());
        }
        input
    };
    let entity = |i| bevy_ecs::entity::Entity::from_raw_u32(i).expect("entity");
    let homing = Homing {
        pos: [3.5, -7.25],
        speed: 9,
        level: -3,
        armed: true,
        mode: Mode::Chase,
        target: entity(4),
        fallback: entity(200),
    };
    let named = |e: bevy_ecs::entity::Entity| (Some(PeerId(1)), e.index_u32());
    let values = encode_leaves(&homing, named).expect("encode");
    let resolve = |_, id| Some(entity(id));
    assert_eq!(decode_leaves::<Homing>(&values, resolve).expect("decode"), homing);
    write(out, "replicated_component", "homing", &leaves(0, values));
    // A shared-stream reference (no owner) and an unknown one.
    let shared = encode_leaves(&homing, |e| (None, e.index_u32() + 300)).expect("encode");
    write(out, "replicated_component", "homing-elsewhere", &leaves(0, shared));
    let spot = encode_leaves(&Spot(42.5), named).expect("encode");
    write(out, "replicated_component", "spot", &leaves(1, spot));
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let out = Path::new(&out);
    dht_seeds(out);
    plugin_seeds(out);
    let schema = schema();

    for (name, msg) in messages() {
        let bytes = msg.encode().expect("encode");
        assert_eq!(Message::decode(&bytes).expect("decode"), msg, "seed {name} round-trips");
        write(out, "protocol_message", name, &bytes);
    }

    for (name, msg) in messages() {
        if let Ok(frame) = msg.encode_heartbeat() {
            assert_eq!(
                Message::decode_heartbeat(&frame).expect("decode"),
                msg,
                "seed {name} round-trips"
            );
            write(out, "heartbeat_frame", name, &frame);
        }
    }

    for (name, frame) in frames() {
        let bytes = frame.encode().expect("encode");
        assert_eq!(Frame::decode(&bytes).expect("decode"), frame, "seed {name} round-trips");
        write(out, "rendezvous_frame", name, &bytes);
    }
    service_streams(out);
    traversal_streams(out);

    for (i, invite) in invites().into_iter().enumerate() {
        let beacon = Beacon {
            name: format!("host {i}"),
            players: i as u8 * 3 + 1,
            invite: invite.encode(),
        };
        let bytes = beacon.encode().expect("encode");
        assert_eq!(Beacon::decode(&bytes).expect("decode"), beacon);
        write(out, "lan_beacon", &format!("beacon{i}"), &bytes);
    }

    stun_seeds(out);

    for (n, entities) in [0u32, 1, 4, 9].into_iter().enumerate() {
        let full = delta::encode(&schema, &world(u32::MAX - n as u32, entities), None).expect("encode");
        write(out, "snapshot_full", &format!("world{entities}"), &full);
    }

    for (name, base, next) in [
        ("moved", world(100, 6), world(101, 6)),
        ("grown", world(100, 3), world(140, 8)),
        ("shrunk", world(65_530, 8), world(65_541, 2)),
        ("same", world(7, 5), {
            let mut w = world(7, 5);
            w.tick = 8;
            w
        }),
    ] {
        let full = delta::encode(&schema, &base, None).expect("encode");
        let d = delta::encode(&schema, &next, Some(&base)).expect("encode");
        assert_eq!(delta::decode(&schema, &d, Some(&base)).expect("decode"), next);
        write(out, "snapshot_delta", name, &delta_input(&full, &d));
    }

    // One link's stream: a full snapshot, then deltas against what was acknowledged.
    let mut sender = DeltaSender::default();
    let mut stream = Vec::new();
    for tick in 1..=6 {
        stream.push(sender.encode(&schema, &world(tick, 5 + tick % 3)).expect("encode"));
        if tick % 2 == 1 {
            sender.ack(tick);
        }
    }
    write(
        out,
        "delta_receiver",
        "stream",
        &packets_input(stream.iter().map(Vec::as_slice)),
    );
    let reordered = [&stream[0], &stream[2], &stream[1], &stream[4], &stream[3]];
    write(
        out,
        "delta_receiver",
        "reordered",
        &packets_input(reordered.map(|v| v.as_slice())),
    );

    for (i, invite) in invites().into_iter().enumerate() {
        let code = invite.encode();
        write(out, "invite_code", &format!("code{i}"), code.as_bytes());
        let seat = Seat {
            invite,
            credentials: Credentials {
                peer: SeatKey::from_secret(&[i as u8 * 40 + 3; 32]).peer(),
                secret: [i as u8 * 40 + 3; 32],
            },
        };
        write(out, "seat_file", &format!("seat{i}"), seat.to_string().as_bytes());
    }
    println!("seeds written under {}", out.display());
}
