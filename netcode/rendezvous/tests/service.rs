//! The rendezvous service as its users meet it: peers register and learn each other and
//! their reflexive addresses; a joiner makes both sides punch; strangers, forgers and
//! replays get nothing and change nothing; floods and full tables do not stop registered
//! sessions; members expire. The last test runs the real program on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netcode::PeerId;
use netcode::rendezvous::{Frame, Listed, Request, SessionSigner};
use netcode_rendezvous::{Server, ServerConfig};

const T0: u64 = 1_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

fn frames(out: &[(SocketAddr, Vec<u8>)]) -> Vec<(SocketAddr, Frame)> {
    out.iter()
        .map(|(to, b)| (*to, Frame::decode(b).expect("decodes")))
        .collect()
}

fn members_of(frame: &Frame) -> Vec<Listed> {
    match frame {
        Frame::Members { members, .. } => members.clone(),
        other => panic!("not a member list: {other:?}"),
    }
}

struct Peer {
    signer: SessionSigner,
    id: PeerId,
    at: SocketAddr,
    nonce: u64,
}

impl Peer {
    fn new(key: u8, id: u64, at: &str) -> Self {
        Peer {
            signer: SessionSigner::new(&[key; 32]),
            id: PeerId(id),
            at: addr(at),
            nonce: 0,
        }
    }

    fn ask(&mut self, server: &mut Server, secs: u64, body: Request) -> Vec<(SocketAddr, Frame)> {
        self.nonce += 1;
        let bytes = self
            .signer
            .request(self.id, T0 + secs * 1000, self.nonce, body)
            .encode()
            .unwrap();
        frames(&server.handle(self.at, &bytes, Duration::from_secs(secs), T0 + secs * 1000))
    }
}

fn register() -> Request {
    Request::Register {
        addr: None,
        relay_token: 0,
        candidates: vec![addr("192.168.1.10:5000")],
    }
}

#[test]
fn peers_learn_each_other_and_their_reflexive_addresses() {
    let mut server = Server::new(ServerConfig::default());
    let mut host = Peer::new(7, 1, "198.51.100.1:40001");
    let mut joiner = Peer::new(7, 2, "203.0.113.9:51000");
    let first = host.ask(&mut server, 0, register());
    assert_eq!(first.len(), 1);
    let Frame::Members { observed, members, .. } = &first[0].1 else {
        panic!()
    };
    assert_eq!((*observed, members.len()), (host.at, 0), "the address the service saw");
    let out = joiner.ask(
        &mut server,
        1,
        Request::Join {
            addr: None,
            relay_token: 0,
            candidates: vec![addr("10.0.0.5:5000")],
        },
    );
    // The joiner gets the host with its reflexive and LAN addresses ...
    let listed = members_of(&out[0].1);
    assert_eq!(out[0].0, joiner.at);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].peer, listed[0].observed), (host.id, host.at));
    assert_eq!(listed[0].candidates, vec![addr("192.168.1.10:5000")]);
    // ... and the host is told to punch towards the joiner.
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].0, host.at);
    let Frame::Punch { peer, .. } = &out[1].1 else {
        panic!("{:?}", out[1])
    };
    assert_eq!((peer.peer, peer.observed), (joiner.id, joiner.at));
    let stats = server.stats();
    assert_eq!((stats.sessions, stats.members, stats.accepted), (1, 2, 2));
    // A probe is answered with the address it came from, no session needed.
    let probe = Frame::Probe { nonce: 77 }.encode().unwrap();
    let out = frames(&server.handle(addr("192.0.2.3:999"), &probe, Duration::from_secs(2), T0));
    assert_eq!(
        out[0].1,
        Frame::Observed {
            nonce: 77,
            addr: addr("192.0.2.3:999")
        }
    );
}

#[test]
fn strangers_forgers_and_replays_get_nothing_and_change_nothing() {
    let mut server = Server::new(ServerConfig::default());
    let mut host = Peer::new(7, 1, "198.51.100.1:40001");
    host.ask(&mut server, 0, register());
    let before = server.stats();
    // A stranger with another key talks about another session, never this one.
    let mut stranger = Peer::new(9, 5, "192.0.2.66:1000");
    let out = stranger.ask(
        &mut server,
        1,
        Request::Join {
            addr: None,
            relay_token: 0,
            candidates: vec![],
        },
    );
    assert!(members_of(&out[0].1).is_empty(), "the stranger's own empty session");
    assert_eq!(out.len(), 1, "nobody of the real session is told to punch");
    // A forged request: the session's public key with a signature made by another key.
    let Frame::Signed { signed, sig } = stranger.signer.request(PeerId(5), T0 + 2000, 1, Request::Leave) else {
        panic!()
    };
    let forged = Frame::Signed {
        signed: netcode::rendezvous::Signed {
            session: host.signer.public(),
            peer: host.id,
            ..signed
        },
        sig,
    };
    let out = server.handle(
        stranger.at,
        &forged.encode().unwrap(),
        Duration::from_secs(2),
        T0 + 2000,
    );
    assert!(out.is_empty());
    assert_eq!(server.stats().bad_signatures, 1);
    // A replay of the host's request from another address (a redirection) does nothing.
    let bytes = host
        .signer
        .request(host.id, T0 + 3000, 99, register())
        .encode()
        .unwrap();
    server.handle(host.at, &bytes, Duration::from_secs(3), T0 + 3000);
    let out = server.handle(addr("192.0.2.66:1000"), &bytes, Duration::from_secs(3), T0 + 3100);
    assert!(out.is_empty(), "replayed");
    // An old request (past the clock window) does nothing either.
    let old = host
        .signer
        .request(host.id, T0 - 60_000, 100, Request::Leave)
        .encode()
        .unwrap();
    assert!(
        server
            .handle(host.at, &old, Duration::from_secs(4), T0 + 4000)
            .is_empty()
    );
    // The session is as it was: the host, at its own address.
    let mut check = Peer::new(7, 3, "198.51.100.77:1");
    let listed = members_of(&check.ask(&mut server, 5, register())[0].1);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].peer, listed[0].observed), (host.id, host.at));
    let stats = server.stats();
    assert_eq!(stats.replayed_or_stale, 2);
    assert_eq!(
        stats.sessions,
        before.sessions + 1,
        "the stranger's session, nothing else"
    );
    // Garbage and netcode packets are not rendezvous frames.
    assert!(
        server
            .handle(host.at, &[0x11, 0, 0], Duration::from_secs(5), T0)
            .is_empty()
    );
    assert_eq!(server.stats().malformed, 1);
}

#[test]
fn a_flood_from_one_source_does_not_stop_registered_sessions() {
    let mut server = Server::new(ServerConfig::default());
    let mut host = Peer::new(7, 1, "198.51.100.1:40001");
    host.ask(&mut server, 0, register());
    let flooder = addr("192.0.2.66:1000");
    let probe = Frame::Probe { nonce: 1 }.encode().unwrap();
    let answered = (0..10_000)
        .filter(|_| !server.handle(flooder, &probe, Duration::from_secs(1), T0).is_empty())
        .count();
    assert_eq!(answered, 40, "the burst, then nothing within the same second");
    assert_eq!(server.stats().rate_limited, 10_000 - 40);
    // The session goes on: its member keeps registering and is answered.
    let mut joiner = Peer::new(7, 2, "203.0.113.9:51000");
    let out = joiner.ask(
        &mut server,
        1,
        Request::Join {
            addr: None,
            relay_token: 0,
            candidates: vec![],
        },
    );
    assert_eq!(members_of(&out[0].1).len(), 1);
    assert!(!host.ask(&mut server, 2, register()).is_empty());
}

#[test]
fn tables_are_bounded_and_members_expire() {
    let cfg = ServerConfig {
        max_sessions: 3,
        max_members: 2,
        member_ttl: Duration::from_secs(10),
        ..ServerConfig::default()
    };
    let mut server = Server::new(cfg);
    for k in 0..5u8 {
        let mut p = Peer::new(k, 1, &format!("198.51.100.{}:1", k + 1));
        p.ask(&mut server, 0, register());
    }
    assert_eq!(server.stats().sessions, 3);
    assert_eq!(server.stats().full, 2);
    let mut third = Peer::new(0, 3, "198.51.100.50:1");
    let mut second = Peer::new(0, 2, "198.51.100.51:1");
    assert!(!second.ask(&mut server, 1, register()).is_empty());
    assert!(third.ask(&mut server, 1, register()).is_empty(), "the session is full");
    // Quiet members expire; a session with none left is forgotten.
    second.ask(&mut server, 9, register());
    server.expire(Duration::from_secs(15), T0 + 15_000);
    let stats = server.stats();
    assert_eq!((stats.sessions, stats.members), (1, 1), "{stats:?}");
    server.expire(Duration::from_secs(30), T0 + 30_000);
    assert_eq!(server.stats().sessions, 0);
}

#[test]
fn a_large_session_is_listed_in_frames_that_fit_a_datagram() {
    let cfg = ServerConfig::default();
    let mut server = Server::new(cfg);
    let lan: Vec<SocketAddr> = (0..8).map(|i| addr(&format!("[2001:db8::{i}]:5000"))).collect();
    for id in 1..=32u64 {
        let mut p = Peer::new(7, id, &format!("[2001:db8:1::{id}]:4000"));
        let out = p.ask(
            &mut server,
            0,
            Request::Register {
                addr: None,
                relay_token: 0,
                candidates: lan.clone(),
            },
        );
        let listed: usize = out.iter().map(|(_, f)| members_of(f).len()).sum();
        assert_eq!(listed, id as usize - 1, "every other member, over {} frames", out.len());
    }
}

#[test]
fn the_program_answers_on_loopback() {
    use std::io::{BufRead, BufReader};
    let bin = env!("CARGO_BIN_EXE_netcode-rendezvous");
    let mut child = std::process::Command::new(bin)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    // It says where it listens (port 0: any free port), then one line per session.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("a first log line");
    let listen: SocketAddr = first.rsplit(' ').next().and_then(|a| a.parse().ok()).expect(&first);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let signer = SessionSigner::new(&[7; 32]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let request = signer.request(PeerId(1), now, 1, register()).encode().unwrap();
    let mut answer = None;
    let mut buf = [0u8; 2048];
    for _ in 0..25 {
        socket.send_to(&request, listen).unwrap();
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            answer = Some(Frame::decode(&buf[..n]).unwrap());
            break;
        }
    }
    let registered = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let Some(Frame::Members { observed, members, .. }) = answer else {
        panic!("no answer from {listen}")
    };
    assert_eq!(observed, socket.local_addr().unwrap());
    assert!(members.is_empty());
    assert!(
        registered.contains(&format!("session {} registered by {}", signer.id(), PeerId(1))),
        "{registered}"
    );
}

/// A relay frame from `from` in session `key` to member `to`, with the relay token the
/// tests register with.
fn relay(key: u8, from: u64, to: u64, payload: Vec<u8>) -> Vec<u8> {
    relay_with(key, from, to, 0, payload)
}

fn relay_with(key: u8, from: u64, to: u64, token: u64, payload: Vec<u8>) -> Vec<u8> {
    Frame::Relay {
        session: SessionSigner::new(&[key; 32]).id(),
        from: PeerId(from),
        to: PeerId(to),
        token,
        payload,
    }
    .encode()
    .unwrap()
}

#[test]
fn the_relay_forwards_between_members_only_from_their_addresses_and_within_a_cap() {
    let cfg = ServerConfig {
        relay_bytes_per_session: 10_000.0,
        relay_burst_bytes: 10_000.0,
        ..ServerConfig::default()
    };
    let mut server = Server::new(cfg);
    let mut a = Peer::new(7, 1, "198.51.100.11:40001");
    let mut b = Peer::new(7, 2, "198.51.100.12:40002");
    a.ask(&mut server, 0, register());
    b.ask(&mut server, 0, register());
    let t = Duration::from_secs(1);
    // A member's datagram goes to the other member, as it was: the service only wraps it.
    let out = frames(&server.handle(a.at, &relay(7, 1, 2, vec![0xAB; 500]), t, T0));
    assert_eq!(
        out,
        vec![(
            b.at,
            Frame::Relayed {
                session: a.signer.id(),
                from: a.id,
                payload: vec![0xAB; 500]
            }
        )]
    );
    // Refused: from an address that is not the sender's, without its relay token, back to
    // its sender, to no member, for a session nobody registered, or naming a member of another session.
    let refused = [
        server.handle(addr("203.0.113.66:1"), &relay(7, 1, 2, vec![1; 10]), t, T0),
        server.handle(a.at, &relay_with(7, 1, 2, 0xBAD, vec![1; 10]), t, T0),
        server.handle(a.at, &relay(7, 1, 1, vec![1; 10]), t, T0),
        server.handle(a.at, &relay(7, 1, 99, vec![1; 10]), t, T0),
        server.handle(a.at, &relay(8, 1, 2, vec![1; 10]), t, T0),
    ];
    assert!(refused.iter().all(Vec::is_empty));
    // The cap: 10 000 bytes of burst, then only what the rate refills.
    let mut relayed = 0;
    for _ in 0..100 {
        relayed += server.handle(a.at, &relay(7, 1, 2, vec![2; 1000]), t, T0).len();
    }
    assert_eq!(relayed, 9, "the burst left after the first 500 bytes");
    let stats = server.stats();
    assert_eq!((stats.relayed, stats.relayed_bytes), (10, 9_500));
    assert_eq!(stats.relay_refused, 5 + 91);
    // Relay frames do not spend the sender's request budget: it still registers.
    assert_eq!(a.ask(&mut server, 1, register()).len(), 1);
    assert_eq!(server.stats().rate_limited, 0);
    // They have a budget of their own per source: a flood of them is cut unread.
    for _ in 0..5000 {
        server.handle(addr("203.0.113.66:1"), &relay(7, 1, 2, vec![1; 10]), t, T0);
    }
    // (Its burst is 2000, less the one refused frame it sent above.)
    assert_eq!(server.stats().rate_limited, 5000 - 1999);
}

#[test]
fn members_are_listed_the_most_recently_heard_first() {
    let mut server = Server::new(ServerConfig::default());
    let mut crashed = Peer::new(7, 1, "198.51.100.11:40001");
    let mut live = Peer::new(7, 9, "198.51.100.12:40002");
    let mut joiner = Peer::new(7, 5, "198.51.100.13:40003");
    crashed.ask(&mut server, 0, register());
    live.ask(&mut server, 0, register());
    live.ask(&mut server, 20, register());
    let out = joiner.ask(
        &mut server,
        21,
        Request::Join {
            addr: Some(addr("198.51.100.13:40003")),
            relay_token: 0,
            candidates: vec![],
        },
    );
    let order: Vec<PeerId> = members_of(&out[0].1).iter().map(|m| m.peer).collect();
    assert_eq!(order, vec![live.id, crashed.id]);
    // What a member says it is known by is listed as its session address.
    let Frame::Punch { peer, .. } = &out[1].1 else { panic!() };
    assert_eq!(peer.session_addr(), addr("198.51.100.13:40003"));
}
