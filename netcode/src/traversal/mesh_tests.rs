//! Punching towards candidates learned through the session: two members in two homes,
//! each known in the session by its LAN address, reachable only at what it announced.

use std::net::SocketAddr;
use std::time::Duration;

use super::super::{Traversal, TraversalConfig};
use crate::PeerId;
use crate::protocol::{Candidate, CandidateKind, Candidates};
use crate::reach::{DirectPath, Reach, Route};
use crate::session::MemberCandidates;
use crate::stun::NatMapping;

const KEY: [u8; 32] = [9; 32];
const SERVICE: &str = "203.0.113.1:7777";
const STEP: Duration = Duration::from_millis(10);

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A member: its traversal, its session (LAN) address, where the internet reaches it.
struct Side {
    t: Traversal,
    id: PeerId,
    lan: SocketAddr,
    public: SocketAddr,
    kind: CandidateKind,
    mapping: NatMapping,
}

fn side(peer: u64, lan: &str, public: &str, kind: CandidateKind, mapping: NatMapping, service: bool) -> Side {
    let cfg = TraversalConfig {
        rendezvous: if service { vec![a(SERVICE)] } else { Vec::new() },
        ..TraversalConfig::default()
    };
    let mut t = Traversal::new(cfg, &KEY, PeerId(peer), vec![a(lan)], peer << 32);
    t.set_addr(a(lan));
    t.set_nat(mapping, kind == CandidateKind::Mapped);
    if service {
        t.primary = Some(a(SERVICE));
    }
    Side {
        t,
        id: PeerId(peer),
        lan: a(lan),
        public: a(public),
        kind,
        mapping,
    }
}

fn announced(s: &Side) -> MemberCandidates {
    MemberCandidates {
        peer: s.id,
        addr: s.lan,
        candidates: Candidates {
            addrs: vec![
                Candidate {
                    addr: s.public,
                    kind: s.kind,
                },
                Candidate {
                    addr: s.lan,
                    kind: CandidateKind::Local,
                },
            ],
            mapping: s.mapping,
        },
    }
}

/// Runs both for `steps`: a datagram to the other's public address arrives from the
/// sender's public address, anything else is lost. `link` is how the session reaches the
/// other. Returns how many datagrams each sent.
fn run(x: &mut Side, y: &mut Side, steps: u32, now: &mut Duration, link: Reach) -> [usize; 2] {
    let mut sent = [0; 2];
    for _ in 0..steps {
        *now += STEP;
        for (turn, count) in sent.iter_mut().enumerate() {
            let (from, to) = if turn == 0 {
                (&mut *x, &mut *y)
            } else {
                (&mut *y, &mut *x)
            };
            from.t.note_links(*now, |_| link);
            from.t.update(*now, |_| false);
            let mut wire = Vec::new();
            from.t.drain(&mut wire);
            *count += wire.len();
            for (dest, bytes) in wire {
                if dest == to.public {
                    let _ = to.t.receive(from.public, &bytes, *now);
                }
            }
        }
    }
    sent
}

fn pair(xk: CandidateKind, xm: NatMapping, yk: CandidateKind, ym: NatMapping, service: bool) -> (Side, Side, Duration) {
    let mut x = side(1, "10.1.0.2:5000", "198.51.100.11:5000", xk, xm, service);
    let mut y = side(2, "10.2.0.2:5000", "198.51.100.12:41000", yk, ym, service);
    let now = Duration::from_secs(100);
    let (ax, ay) = (announced(&x), announced(&y));
    x.t.learn_member(&ay, now);
    y.t.learn_member(&ax, now);
    (x, y, now)
}

#[test]
fn members_punch_towards_what_they_announced_through_the_session() {
    use CandidateKind::*;
    let ei = NatMapping::EndpointIndependent;
    let (mut x, mut y, mut now) = pair(Reflexive, ei, Mapped, ei, false);
    // Nothing before the grace is over (the session's own dial may answer first).
    assert_eq!(run(&mut x, &mut y, 19, &mut now, Reach::Relayed), [0, 0]);
    run(&mut x, &mut y, 5, &mut now, Reach::Relayed);
    assert_eq!(
        x.t.path(y.lan),
        Some(Route::Direct(DirectPath::Mapped)),
        "y's router maps its port"
    );
    assert_eq!(y.t.path(x.lan), Some(Route::Direct(DirectPath::Internet)));
    // Session datagrams to y's session address go out on the path.
    x.t.send(y.lan, vec![7]);
    let mut wire = Vec::new();
    x.t.drain(&mut wire);
    assert_eq!(wire, vec![(y.public, vec![7])]);
}

#[test]
fn a_member_the_session_reaches_directly_gets_no_probe() {
    use CandidateKind::*;
    let ei = NatMapping::EndpointIndependent;
    let (mut x, mut y, mut now) = pair(Reflexive, ei, Reflexive, ei, false);
    assert_eq!(run(&mut x, &mut y, 500, &mut now, Reach::Own), [0, 0]);
    assert_eq!(x.t.path(y.lan), None);
}

#[test]
fn two_symmetric_nats_without_a_mapped_port_relay_at_once() {
    use CandidateKind::*;
    let sym = NatMapping::EndpointDependent;
    let ei = NatMapping::EndpointIndependent;
    let (mut x, mut y, mut now) = pair(Reflexive, sym, Reflexive, sym, true);
    run(&mut x, &mut y, 1, &mut now, Reach::Down);
    assert_eq!(x.t.path(y.lan), Some(Route::Service), "no wait for a hopeless punch");
    // One symmetric end, or a mapped port at either: the punch is given its time.
    for (yk, ym) in [(Reflexive, ei), (Mapped, sym)] {
        let (mut x, mut y, mut now) = pair(Reflexive, sym, yk, ym, true);
        run(&mut x, &mut y, 1, &mut now, Reach::Down);
        assert_eq!(x.t.path(y.lan), None, "{yk:?} {ym:?}");
    }
}

/// A punch towards a knock's candidates goes at once and `PUNCH_REPEATS` times more,
/// `PUNCH_EVERY` apart, then stops: one lost empty datagram no longer costs a join.
#[test]
fn a_punch_is_sent_again_a_few_times_then_no_more() {
    use super::{PUNCH_EVERY, PUNCH_REPEATS};
    let mut s = side(
        1,
        "10.1.0.2:5000",
        "198.51.100.11:5000",
        CandidateKind::Reflexive,
        NatMapping::EndpointIndependent,
        false,
    );
    let to = [a("198.51.100.12:5000"), a("10.2.0.2:5000")];
    let mut sent = Vec::new();
    s.t.punch_towards(&to, Duration::ZERO);
    let mut now = Duration::ZERO;
    while now <= PUNCH_EVERY * (u32::from(PUNCH_REPEATS) + 4) {
        s.t.update(now, |_| false);
        let mut out = Vec::new();
        s.t.drain(&mut out);
        sent.extend(
            out.into_iter()
                .filter(|(_, b)| b.is_empty())
                .map(|(addr, _)| (now, addr)),
        );
        now += STEP;
    }
    for addr in to {
        let times: Vec<Duration> = sent.iter().filter(|(_, b)| *b == addr).map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 1 + usize::from(PUNCH_REPEATS), "{addr}: {times:?}");
        assert!(times.windows(2).all(|w| w[1] - w[0] >= PUNCH_EVERY), "{times:?}");
    }
}
