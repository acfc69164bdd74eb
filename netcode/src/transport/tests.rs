//! The transport on loopback: invites, relaying, clear errors, seats.

use std::time::Instant;

use super::*;
use crate::invite::Invite;
use crate::{Credentials, Link, PeerId, Relayer, Scope, SessionKey};

fn loopback() -> PeerOptions {
    PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..PeerOptions::default()
    }
}

/// Polls `peers` (2 ms apart) until `done` or `secs` pass; whether `done` was met.
pub(super) fn poll_until(peers: &mut [&mut Peer], secs: u64, mut done: impl FnMut(&[&mut Peer]) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        for p in peers.iter_mut() {
            p.poll().unwrap();
        }
        if done(peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn two_peers_meet_on_loopback_through_an_invite() {
    let mut host = Peer::host(loopback()).unwrap();
    let code = host.invite().encode();
    let mut guest = Peer::join(&Invite::decode(&code).unwrap(), loopback()).unwrap();
    let met = poll_until(&mut [&mut host, &mut guest], 10, |p| {
        p.iter()
            .all(|p| p.session().in_session() && p.session().roster().active().count() == 2)
    });
    assert!(met, "the guest joined");
    assert_eq!(guest.session().current_host(), Some(host.session().peer_id()));
}

#[test]
fn peers_that_cannot_reach_each_other_are_relayed() {
    let mut host = Peer::host(loopback()).unwrap();
    let invite = host.invite();
    let mut a = Peer::join(&invite, loopback()).unwrap();
    let mut c = Peer::join(&invite, loopback()).unwrap();
    let direct = |p: &[&mut Peer]| {
        p.iter().all(|x| {
            let s = x.session();
            s.in_session()
                && s.roster().active().count() == 3
                && s.roster()
                    .active()
                    .all(|m| m.id == s.peer_id() || s.link(m.id).is_direct())
        })
    };
    assert!(poll_until(&mut [&mut host, &mut a, &mut c], 10, direct), "mesh formed");
    let (a_addr, c_addr) = (a.session().local_addr(), c.session().local_addr());
    a.transport_mut().block(c_addr);
    c.transport_mut().block(a_addr);
    let (a_id, c_id) = (a.session().peer_id(), c.session().peer_id());
    let relayed = |p: &[&mut Peer]| {
        p[1].session().link(c_id) == Link::Relayed(Relayer::Member)
            && p[2].session().link(a_id) == Link::Relayed(Relayer::Member)
    };
    assert!(poll_until(&mut [&mut host, &mut a, &mut c], 10, relayed), "relayed");
    c.session_mut()
        .set_own("note", Some(b"through the host".to_vec()))
        .unwrap();
    let arrived = |p: &[&mut Peer]| p[1].session().store().get(Scope::Peer(c_id), "note").is_some();
    assert!(
        poll_until(&mut [&mut host, &mut a, &mut c], 10, arrived),
        "state crosses the relay"
    );
    for p in [&host, &a, &c] {
        assert_eq!(p.session().roster().active().count(), 3, "nobody was dropped");
    }
}

#[test]
fn a_wrong_key_times_out_with_a_clear_error() {
    let mut host = Peer::host(loopback()).unwrap();
    let mut invite = host.invite();
    invite.session.key[0] ^= 1;
    let options = PeerOptions {
        join_timeout: Duration::from_millis(800),
        ..loopback()
    };
    let mut guest = Peer::join(&invite, options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        host.poll().unwrap();
        if let Err(e) = guest.poll() {
            break e;
        }
        assert!(Instant::now() < deadline, "never gave up");
        std::thread::sleep(Duration::from_millis(2));
    };
    // (Loopback is no home network: the hint is the generic one.)
    assert!(
        matches!(
            err,
            TransportError::JoinTimedOut {
                hint: super::JoinHint::Unanswered,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().ends_with("the code is not this session's"), "{err}");
    assert_eq!(host.session().roster().active().count(), 1, "the host never saw it");
    assert_eq!(host.session().stats().rejected_messages, 0);
}

#[test]
fn a_stale_code_times_out_with_a_clear_error() {
    let host = Peer::host(loopback()).unwrap();
    let invite = host.invite();
    drop(host); // The session ended: its socket is closed.
    let options = PeerOptions {
        join_timeout: Duration::from_millis(500),
        ..loopback()
    };
    let mut guest = Peer::join(&invite, options).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let err = loop {
        if let Err(e) = guest.poll() {
            break e;
        }
        assert!(Instant::now() < deadline, "never gave up");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(matches!(err, TransportError::JoinTimedOut { .. }), "{err}");
    assert!(err.to_string().contains("the session may have ended"), "{err}");
}

#[test]
fn seats_round_trip_as_text() {
    let seat = Seat {
        invite: Invite {
            addrs: vec!["127.0.0.1:4000".parse().unwrap()],
            rendezvous: vec!["203.0.113.9:7777".parse().unwrap()],
            public: Vec::new(),
            session: SessionKey { id: 9, key: [3; 32] },
            dht: false,
        },
        credentials: Credentials {
            peer: crate::identity::SeatKey::from_secret(&[0x5a; 32]).peer(),
            secret: [0x5a; 32],
        },
    };
    assert_eq!(seat.to_string().parse::<Seat>().unwrap(), seat);
    let damaged = Seat {
        credentials: Credentials {
            peer: PeerId(0xabc),
            ..seat.credentials
        },
        ..seat.clone()
    };
    let err = damaged.to_string().parse::<Seat>().unwrap_err();
    assert!(matches!(err, TransportError::Seat(SeatError::Mismatch)), "{err}");
    assert!(err.to_string().contains("does not own the peer id"), "{err}");
    assert!(matches!(
        "".parse::<Seat>(),
        Err(TransportError::Seat(SeatError::Missing("peer")))
    ));
    assert!(matches!(
        format!("{seat}").replace("secret 5a", "secret zz").parse::<Seat>(),
        Err(TransportError::Seat(SeatError::Secret))
    ));
}

/// A damaged seat file is a seat error, not "invite code is invalid": the player typed no
/// code. Only a code the player gave is called invalid.
#[test]
fn only_an_invite_code_is_called_invalid() {
    let err = "invite nc1-00\npeer 1\n".parse::<Seat>().unwrap_err();
    assert!(
        matches!(err, TransportError::Seat(SeatError::Invite(InviteError::Malformed(_)))),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("saved seat is invalid: its invite line"),
        "{err}"
    );
    let typed = TransportError::from(Invite::decode("nc1-00").unwrap_err());
    assert!(typed.to_string().starts_with("invite code is invalid: "), "{typed}");
    let service = crate::transport::resolve_rendezvous("no port").unwrap_err();
    assert!(matches!(service, TransportError::BadRendezvous { .. }), "{service}");
    assert!(!service.to_string().contains("invite code"), "{service}");
}

#[test]
fn a_member_restarted_on_its_old_address_rejoins_while_the_others_still_redial_it() {
    let mut host = Peer::host(loopback()).unwrap();
    let invite = host.invite();
    let mut a = Peer::join(&invite, loopback()).unwrap();
    let mut b = Peer::join(&invite, loopback()).unwrap();
    let all_in = |p: &[&mut Peer]| {
        p.iter()
            .all(|x| x.session().in_session() && x.session().roster().active().count() == 3)
    };
    assert!(poll_until(&mut [&mut host, &mut a, &mut b], 10, all_in), "all in");
    // The member with the highest id restarts: every other member has a lower id, so
    // every other member keeps redialing its old address while its seat is held.
    let (victim, survivor) = if a.session().peer_id() > b.session().peer_id() {
        (a, b)
    } else {
        (b, a)
    };
    let mut survivor = survivor;
    let host_id = host.session().peer_id();
    let victim_id = victim.session().peer_id();
    let lower = host_id < victim_id;
    let (seat, old_addr) = (victim.seat(), victim.local_addr());
    drop(victim); // Its socket closes; no goodbye.
    let away = |p: &[&mut Peer]| p.iter().all(|x| !x.session().link(victim_id).is_direct());
    assert!(
        poll_until(&mut [&mut host, &mut survivor], 10, away),
        "the others notice"
    );
    // A second more, in which both redial it.
    poll_until(&mut [&mut host, &mut survivor], 1, |_| false);
    let options = PeerOptions {
        bind: old_addr,
        ..loopback()
    };
    let mut back = Peer::rejoin(&seat, options).unwrap();
    let rejoined = poll_until(&mut [&mut host, &mut survivor, &mut back], 8, |p| {
        p[2].session().in_session() && p[0].session().link(victim_id).is_direct()
    });
    assert!(
        rejoined,
        "rejoined on its old address (the host's id is lower: {lower})"
    );
    assert_eq!(back.session().peer_id(), victim_id);
}

#[test]
fn a_join_nobody_answered_says_what_would_help() {
    use super::JoinHint;
    let at = |s: &str| -> std::net::SocketAddr { s.parse().unwrap() };
    let home = [at("192.168.1.20:5000"), at("10.0.0.3:5000")];
    assert_eq!(JoinHint::for_addresses(&home, false), JoinHint::HomeNetworkOnly);
    assert_eq!(JoinHint::for_addresses(&home, true), JoinHint::Unanswered);
    let public = [at("198.51.100.11:5000"), at("10.0.0.3:5000")];
    assert_eq!(JoinHint::for_addresses(&public, false), JoinHint::PublicUnanswered);
    assert_eq!(JoinHint::for_addresses(&public, true), JoinHint::Unanswered);
    assert_eq!(JoinHint::for_addresses(&[], false), JoinHint::Unanswered);
    let loopback = [at("127.0.0.1:5000")];
    assert_eq!(JoinHint::for_addresses(&loopback, false), JoinHint::Unanswered);
    let text = JoinHint::PublicUnanswered.to_string();
    assert!(
        text.contains("maps ports") && text.contains("rendezvous service"),
        "{text}"
    );
    let err = super::TransportError::JoinTimedOut {
        addrs: home.to_vec(),
        secs: 10,
        hint: JoinHint::HomeNetworkOnly,
    };
    let text = err.to_string();
    assert!(
        text.starts_with("no member of the session answered at 192.168.1.20:5000, 10.0.0.3:5000 within 10 s: "),
        "{text}"
    );
    assert!(
        text.contains("rendezvous service") && !text.contains("invalid"),
        "{text}"
    );
}
