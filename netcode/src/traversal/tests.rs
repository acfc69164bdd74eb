//! Traversal between two peers over a scripted network: which wire address reaches whom,
//! and the address the receiver sees a datagram from.

use super::*;

const KEY: [u8; 32] = [5; 32];
const SERVICE: &str = "203.0.113.1:7777";
const STEP: Duration = Duration::from_millis(10);

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A peer: its traversal, its session address, its LAN address.
struct Side {
    t: Traversal,
    addr: SocketAddr,
    lan: SocketAddr,
}

fn side(peer: u64, public: &str, lan: &str, key: &[u8; 32]) -> Side {
    let cfg = TraversalConfig {
        rendezvous: vec![a(SERVICE)],
        ..TraversalConfig::default()
    };
    let mut t = Traversal::new(cfg, key, PeerId(peer), vec![a(lan)], peer << 32);
    t.set_addr(a(public));
    Side {
        t,
        addr: a(public),
        lan: a(lan),
    }
}

fn listed(s: &Side, peer: u64) -> Listed {
    Listed {
        peer: PeerId(peer),
        observed: s.addr,
        addr: Some(s.addr),
        candidates: vec![s.lan],
    }
}

/// Which wire destinations reach the other side, and as what source it sees the sender.
#[derive(Clone, Copy)]
enum Net {
    /// Each reaches the other at its public (session) address.
    Internet,
    /// Same home: only LAN addresses work (no hairpinning).
    Lan,
    /// Nothing gets through.
    Cut,
}

/// Runs both sides for `steps`, delivering by `net`; returns what went to the service.
fn run(x: &mut Side, y: &mut Side, net: Net, steps: u32, now: &mut Duration, relays: bool) -> Vec<Vec<u8>> {
    let mut to_service = Vec::new();
    for _ in 0..steps {
        *now += STEP;
        for turn in 0..2 {
            let (from, to) = if turn == 0 {
                (&mut *x, &mut *y)
            } else {
                (&mut *y, &mut *x)
            };
            from.t.update(*now, |_| relays);
            let mut wire = Vec::new();
            from.t.drain(&mut wire);
            for (dest, bytes) in wire {
                if dest == a(SERVICE) {
                    to_service.push(bytes);
                    continue;
                }
                let seen = match net {
                    Net::Internet if dest == to.addr => from.addr,
                    Net::Lan if dest == to.lan => from.lan,
                    _ => continue,
                };
                let _ = to.t.receive(seen, &bytes, *now);
            }
        }
    }
    to_service
}

fn pair(net: Net) -> (Side, Side, Duration) {
    let (mut x, mut y) = match net {
        Net::Lan => (
            side(1, "198.51.100.11:40001", "10.1.0.2:5000", &KEY),
            side(2, "198.51.100.11:40002", "10.1.0.3:5000", &KEY),
        ),
        _ => (
            side(1, "198.51.100.11:5000", "10.1.0.2:5000", &KEY),
            side(2, "198.51.100.12:5000", "10.2.0.2:5000", &KEY),
        ),
    };
    let now = Duration::from_secs(1000);
    x.t.learn(&listed(&y, 2), now);
    y.t.learn(&listed(&x, 1), now);
    (x, y, now)
}

#[test]
fn members_punch_and_take_the_path_that_answered() {
    let (mut x, mut y, mut now) = pair(Net::Internet);
    assert_eq!(x.t.path(y.addr), None);
    run(&mut x, &mut y, Net::Internet, 3, &mut now, false);
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Internet)));
    assert_eq!(y.t.path(x.addr), Some(Route::Direct(DirectPath::Internet)));
    x.t.send(y.addr, vec![1, 2, 3]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    assert_eq!(wire, vec![(y.addr, vec![1, 2, 3])]);
    assert_eq!(y.t.receive(x.addr, &[1, 2, 3], now), Incoming::Session(x.addr));
}

#[test]
fn players_in_one_home_take_the_lan_path_and_what_waited_goes_out_on_it() {
    let (mut x, mut y, mut now) = pair(Net::Lan);
    // Sent before any path is known: to the session address (no hairpin: lost), and kept.
    x.t.send(y.addr, vec![9; 4]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    assert!(wire.contains(&(y.addr, vec![9; 4])));
    run(&mut x, &mut y, Net::Lan, 3, &mut now, false);
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Lan)));
    // The session sees the LAN sender as its session address.
    assert_eq!(y.t.receive(x.lan, &[7], now), Incoming::Session(x.addr));
    x.t.send(y.addr, vec![8]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    assert!(wire.contains(&(y.lan, vec![8])), "{wire:?}");
    assert_eq!(x.t.stats().paths_chosen, 1);
}

#[test]
fn probes_of_another_session_or_bent_ones_change_nothing() {
    let (mut x, _, now) = pair(Net::Internet);
    let mut stranger = side(3, "198.51.100.66:5000", "10.6.0.2:5000", &[6; 32]);
    stranger.t.learn(&listed(&x, 1), now);
    stranger.t.update(now, |_| false);
    let mut wire = Vec::new();
    stranger.t.drain(&mut wire);
    assert!(!wire.is_empty());
    for (_, bytes) in &wire {
        assert_eq!(x.t.receive(stranger.addr, bytes, now), Incoming::Consumed);
    }
    assert_eq!(x.t.stats().probes_received, 0);
    assert_eq!(x.t.remotes.len(), 1, "the stranger was not taken for a member");
    // A rendezvous frame from anyone but our service is ignored too.
    let members = Frame::Members {
        session: x.t.session,
        observed: a("1.2.3.4:5"),
        members: vec![listed(&stranger, 3)],
    };
    let bytes = members.encode().unwrap();
    assert_eq!(x.t.receive(stranger.addr, &bytes, now), Incoming::Consumed);
    assert_eq!(x.t.remotes.len(), 1);
    assert_eq!(x.t.observed(), None);
}

#[test]
fn with_no_direct_path_the_service_relays_unless_a_member_does() {
    let (mut x, mut y, mut now) = pair(Net::Cut);
    for s in [&mut x, &mut y] {
        // An answer to no question of ours is ignored; the answer to ours is taken.
        let stray = Frame::Observed {
            nonce: 1,
            addr: a("192.0.2.66:1"),
        };
        s.t.receive(a(SERVICE), &stray.encode().unwrap(), now);
        assert_eq!(s.t.observed(), None);
        s.t.ask_observed();
        let seen = Frame::Observed {
            nonce: *s.t.asked.back().unwrap(),
            addr: s.addr,
        };
        s.t.receive(a(SERVICE), &seen.encode().unwrap(), now);
        assert_eq!(s.t.observed(), Some(s.addr));
    }
    // A member relays: the service is not asked, however long it takes.
    run(&mut x, &mut y, Net::Cut, 300, &mut now, true);
    assert_eq!(x.t.path(y.addr), None);
    // Nobody relays: after `service_relay_after`, the service does.
    let mut to_service = Vec::new();
    for _ in 0..200 {
        to_service.extend(run(&mut x, &mut y, Net::Cut, 1, &mut now, false));
        if x.t.path(y.addr).is_some() {
            break;
        }
    }
    assert_eq!(x.t.path(y.addr), Some(Route::Service));
    x.t.send(y.addr, vec![0x42; 30]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    let (dest, frame) = wire.pop().unwrap();
    assert_eq!(dest, a(SERVICE));
    let Ok(Frame::Relay { to, payload, .. }) = Frame::decode(&frame) else {
        panic!("a relay frame")
    };
    assert_eq!((to, payload.clone()), (PeerId(2), vec![0x42; 30]));
    let relayed = Frame::Relayed {
        session: y.t.session,
        from: PeerId(1),
        payload,
    };
    assert_eq!(
        y.t.receive(a(SERVICE), &relayed.encode().unwrap(), now),
        Incoming::Relayed(x.addr, vec![0x42; 30])
    );
    assert_eq!(y.t.path(x.addr), Some(Route::Service), "answers the same way");
    // A direct path found later wins over the relay.
    run(&mut x, &mut y, Net::Internet, 150, &mut now, false);
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Internet)));
}

#[test]
fn a_quiet_path_is_dropped_and_punched_again_and_keepalives_hold_a_live_one() {
    let (mut x, mut y, mut now) = pair(Net::Internet);
    run(&mut x, &mut y, Net::Internet, 3, &mut now, false);
    // 20 s with nothing but keepalives: the path holds.
    run(&mut x, &mut y, Net::Internet, 2000, &mut now, true);
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Internet)));
    let sent = x.t.stats().probes_sent;
    assert!(sent < 40, "keepalives every 2 s, not a flood: {sent}");
    // The path dies: after `path_timeout` it is dropped, and probing is fast again.
    run(&mut x, &mut y, Net::Cut, 600, &mut now, true);
    assert_eq!(x.t.path(y.addr), None);
    let before = x.t.stats().probes_sent;
    run(&mut x, &mut y, Net::Cut, 10, &mut now, true);
    assert!(x.t.stats().probes_sent > before, "punching again");
    run(&mut x, &mut y, Net::Internet, 20, &mut now, true);
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Internet)));
}

#[test]
fn a_replayed_reply_from_elsewhere_does_not_take_the_path() {
    let (mut x, mut y, mut now) = pair(Net::Internet);
    // Capture y's replies to x as an eavesdropper would.
    let mut replies = Vec::new();
    for _ in 0..3 {
        now += STEP;
        x.t.update(now, |_| false);
        let mut wire = Vec::new();
        x.t.drain(&mut wire);
        for (dest, bytes) in wire {
            if dest == y.addr {
                y.t.receive(x.addr, &bytes, now);
            }
        }
        let mut back = Vec::new();
        y.t.drain(&mut back);
        for (dest, bytes) in back {
            if dest == x.addr {
                replies.push(bytes.clone());
                x.t.receive(y.addr, &bytes, now);
            }
        }
    }
    assert_eq!(x.t.path(y.addr), Some(Route::Direct(DirectPath::Internet)));
    // Replayed from a LAN address (which would win over an internet path), at once and
    // later: neither moves the path, nor keeps a dead one alive.
    let attacker = a("192.168.0.66:4000");
    for bytes in &replies {
        assert_eq!(x.t.receive(attacker, bytes, now), Incoming::Consumed);
    }
    x.t.send(y.addr, vec![1]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    assert!(wire.contains(&(y.addr, vec![1])), "{wire:?}");
    for _ in 0..10 {
        now += Duration::from_secs(1);
        for bytes in &replies {
            x.t.receive(y.addr, bytes, now);
        }
        x.t.update(now, |_| true);
    }
    assert_eq!(x.t.path(y.addr), None, "replays do not keep a path alive");
}

#[test]
fn member_lists_after_the_join_are_not_kept() {
    let (mut x, y, now) = pair(Net::Internet);
    let members = Frame::Members {
        session: x.t.session,
        observed: x.addr,
        members: vec![listed(&y, 2)],
    }
    .encode()
    .unwrap();
    x.t.join(now);
    x.t.receive(a(SERVICE), &members, now);
    x.t.receive(a(SERVICE), &members, now);
    assert_eq!(x.t.listed().map(<[Listed]>::len), Some(1), "one entry per member");
    x.t.start_registering(now);
    for _ in 0..100 {
        x.t.receive(a(SERVICE), &members, now);
    }
    assert_eq!(
        x.t.listed().map(<[Listed]>::len),
        Some(1),
        "registrations' answers are not kept"
    );
}
