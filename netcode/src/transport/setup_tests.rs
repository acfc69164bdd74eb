//! Setup that never blocks: `Peer::join` returns at once, its phases advance in `poll`,
//! failures are typed, a join can be cancelled. A rendezvous service is played by a
//! socket on loopback that this test reads (or never reads).

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use super::tests::poll_until;
use super::*;
use crate::invite::Invite;
use crate::rendezvous::{Frame, Listed, Request};
use crate::{JoinPhase, SessionEvent, SessionKey};

fn loopback() -> PeerOptions {
    PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..PeerOptions::default()
    }
}

/// A socket that plays a rendezvous service: bound on loopback, non-blocking.
fn service() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// An invite to a session nobody hosts, through the service at `svc` only.
fn invite_through(svc: SocketAddr) -> Invite {
    Invite {
        addrs: Vec::new(),
        rendezvous: vec![svc],
        public: Vec::new(),
        session: SessionKey { id: 77, key: [9; 32] },
        dht: false,
    }
}

/// Every frame waiting at the service, with its sender.
fn frames(socket: &UdpSocket) -> Vec<(SocketAddr, Frame)> {
    let mut buf = [0u8; 2048];
    let mut out = Vec::new();
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        if let Ok(f) = Frame::decode(&buf[..n]) {
            out.push((from, f));
        }
    }
    out
}

/// Answers what the service received: where it sees the asker (at `seen`, else where it
/// came from), and (when `members` is given) the members of the session a join asks for.
fn answer(socket: &UdpSocket, seen: Option<SocketAddr>, members: Option<&[Listed]>) {
    for (from, frame) in frames(socket) {
        let reply = match frame {
            Frame::Probe { nonce } => Some(Frame::Observed {
                nonce,
                addr: seen.unwrap_or(from),
            }),
            Frame::Signed { signed, .. } if matches!(signed.body, Request::Join { .. }) => {
                members.map(|m| Frame::Members {
                    session: signed.session_id(),
                    observed: from,
                    members: m.to_vec(),
                })
            }
            _ => None,
        };
        if let Some(bytes) = reply.and_then(|r| r.encode().ok()) {
            socket.send_to(&bytes, from).unwrap();
        }
    }
}

/// The join phases a peer reported as events so far.
fn phases(peer: &mut Peer) -> Vec<JoinPhase> {
    std::iter::from_fn(|| peer.session_mut().poll_event())
        .filter_map(|e| match e {
            SessionEvent::JoinProgress(p) => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn a_join_returns_at_once_and_a_silent_service_is_a_typed_error_after_its_timeout() {
    let (_silent, svc) = service();
    let options = PeerOptions {
        rendezvous_timeout: Duration::from_millis(300),
        ..loopback()
    };
    let started = Instant::now();
    let mut guest = Peer::join(&invite_through(svc), options).unwrap();
    let returned = started.elapsed();
    eprintln!("Peer::join returned after {returned:?}");
    // Binding and the first question: about 1 ms here (loaded machine: at most 5).
    assert!(returned < Duration::from_millis(50), "returned after {returned:?}");
    assert_eq!(guest.join_phase(), Some(JoinPhase::AskingStun));
    assert!(guest.session().is_joining() && guest.setting_up());
    let err = loop {
        if let Err(e) = guest.poll() {
            break e;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "never gave up");
        std::thread::sleep(Duration::from_millis(2));
    };
    let waited = started.elapsed();
    assert!(
        matches!(
            &err,
            TransportError::RendezvousSilent { addrs, question: RendezvousQuestion::Address, .. } if *addrs == [svc]
        ),
        "{err}"
    );
    // The configured 300 ms, plus a poll or two.
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
    assert!(err.to_string().contains("did not answer where it sees us"), "{err}");
    assert_eq!(phases(&mut guest), [JoinPhase::AskingStun]);
}

#[test]
fn the_phases_follow_the_service_and_the_punching_into_the_session() {
    let mut host = Peer::host(loopback()).unwrap();
    let (svc_socket, svc) = service();
    let listed = [Listed {
        peer: host.session().peer_id(),
        observed: host.session().local_addr(),
        addr: Some(host.session().local_addr()),
        candidates: Vec::new(),
    }];
    let mut invite = host.invite();
    invite.addrs.clear();
    invite.rendezvous = vec![svc];
    let mut guest = Peer::join(&invite, loopback()).unwrap();
    let mut seen = Vec::new();
    let joined = poll_until(&mut [&mut host, &mut guest], 10, |p| {
        answer(&svc_socket, None, Some(&listed));
        if let Some(phase) = p[1].join_phase()
            && seen.last() != Some(&phase)
        {
            seen.push(phase);
        }
        p[1].session().in_session() && p[1].join_phase().is_none()
    });
    assert!(joined, "joined; phases {seen:?}");
    let expected = [
        JoinPhase::AskingStun,
        JoinPhase::LookingUp,
        JoinPhase::Punching,
        JoinPhase::Admitting,
    ];
    assert_eq!(seen, expected);
    assert_eq!(phases(&mut guest), expected, "the same phases as events");
    assert_eq!(guest.session().current_host(), Some(host.session().peer_id()));
    // The guest is known by the address the service saw (its own, on loopback).
    assert_eq!(guest.session().local_addr(), guest.local_addr());
}

#[test]
fn a_host_takes_the_address_the_service_sees_while_alone() {
    let (svc_socket, svc) = service();
    let options = PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        traversal: crate::traversal::TraversalConfig {
            rendezvous: vec![svc],
            ..crate::traversal::TraversalConfig::default()
        },
        ..PeerOptions::default()
    };
    let started = Instant::now();
    let mut host = Peer::host(options).unwrap();
    assert!(started.elapsed() < Duration::from_millis(50), "returned at once");
    assert!(host.session().in_session() && host.setting_up());
    assert_eq!(host.join_phase(), None, "a host is in its session from the start");
    // Where its router maps it (a documentation address: nothing is sent there).
    let public: SocketAddr = "198.51.100.7:4000".parse().unwrap();
    let settled = poll_until(&mut [&mut host], 3, |p| {
        answer(&svc_socket, Some(public), None);
        !p[0].setting_up()
    });
    assert!(settled, "the host's address settled");
    assert_eq!(host.session().local_addr(), public);
    assert_eq!(host.invite().addrs[0], public);
    let me = host.session().peer_id();
    assert_eq!(host.session().roster().get(me).map(|m| m.addr), Some(public));
    assert_eq!(host.session().roster().active().count(), 1);
}

#[test]
fn a_join_cancelled_mid_lookup_returns_at_once_and_sends_nothing_more() {
    let (svc_socket, svc) = service();
    let mut guest = Peer::join(&invite_through(svc), loopback()).unwrap();
    // The service tells where it sees us, but never lists the members.
    let looking = poll_until(&mut [&mut guest], 3, |p| {
        answer(&svc_socket, None, None);
        p[0].join_phase() == Some(JoinPhase::LookingUp)
    });
    assert!(looking, "in the lookup");
    std::thread::sleep(Duration::from_millis(50));
    frames(&svc_socket);
    let started = Instant::now();
    guest.leave();
    assert!(started.elapsed() < Duration::from_millis(50), "returned at once");
    assert_eq!(guest.join_phase(), None);
    assert!(!guest.setting_up() && !guest.session().is_joining());
    // Polling on (a game keeps its loop running) sends nothing more.
    poll_until(&mut [&mut guest], 1, |_| false);
    let after = frames(&svc_socket);
    let leaves = after
        .iter()
        .filter(|(_, f)| matches!(f, Frame::Signed { signed, .. } if signed.body == Request::Leave))
        .count();
    assert_eq!(leaves, 1, "the service that listed us hears it once");
    assert_eq!(after.len(), 1, "and nothing else: {after:?}");
}
