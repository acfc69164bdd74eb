//! STUN on the game socket, on loopback: in-process responders on port 0 answer binding
//! requests; nothing leaves the machine.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use super::tests::poll_until;
use super::*;
use crate::invite::Invite;
use crate::stun::{NatMapping, PUBLIC_STUN_SERVERS, StunConfig, StunOutcome, binding_success, is_stun, transaction_of};

/// A STUN server on a thread: answers each binding request with where it came from, as
/// `seen` rewrites it (`None`: never answers).
struct Responder {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn spawn(ip: &str, seen: Option<fn(SocketAddr) -> SocketAddr>) -> Responder {
        let socket = UdpSocket::bind((ip.parse::<std::net::IpAddr>().unwrap(), 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = socket.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !halt.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let bytes = &buf[..n];
                if !is_stun(bytes) || bytes[..2] != [0, 1] {
                    continue;
                }
                count.fetch_add(1, Ordering::Relaxed);
                if let (Some(seen), Some(tid)) = (seen, transaction_of(bytes)) {
                    let _ = socket.send_to(&binding_success(&tid, seen(from), false), from);
                }
            }
        });
        Responder {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn options(stun: &[&Responder]) -> PeerOptions {
    PeerOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        stun: StunConfig {
            servers: stun.iter().map(|r| r.addr).collect(),
            ..StunConfig::default()
        },
        ..PeerOptions::default()
    }
}

fn met(p: &[&mut Peer]) -> bool {
    p.iter()
        .all(|p| p.session().in_session() && p.session().roster().active().count() == 2)
}

#[test]
fn the_default_options_name_no_stun_server() {
    let options = PeerOptions::default();
    assert!(options.stun.servers.is_empty());
    assert!(options.traversal.rendezvous.is_empty());
    assert!(StunConfig::default().servers.is_empty());
    // The public list holds names, resolved only for online play; none is an address.
    assert!(PUBLIC_STUN_SERVERS.iter().all(|s| s.parse::<SocketAddr>().is_err()));
}

#[test]
fn a_host_learns_its_reflexive_address_and_mapping_from_two_servers_on_its_game_socket() {
    let same = |from: SocketAddr| from;
    let (one, two) = (
        Responder::spawn("127.0.0.1", Some(same)),
        Responder::spawn("127.0.0.2", Some(same)),
    );
    let mut host = Peer::host(options(&[&one, &two])).unwrap();
    let invite = Invite::decode(&host.invite().encode()).unwrap();
    let mut guest = Peer::join(&invite, options(&[])).unwrap();
    let learned = |p: &[&mut Peer]| met(p) && p[0].nat_mapping() != NatMapping::Unknown;
    assert!(
        poll_until(&mut [&mut host, &mut guest], 10, learned),
        "joined and learned"
    );
    // The servers saw the game socket itself (on loopback there is no NAT).
    assert_eq!(host.reflexive(), Some(host.local_addr()));
    assert_eq!(host.nat_mapping(), NatMapping::EndpointIndependent);
    let stun = host.transport().stun().unwrap();
    assert!(
        stun.outcomes()
            .all(|(_, o)| o == StunOutcome::Reflexive(host.local_addr()))
    );
    assert_eq!(stun.stats().ignored, 0);
    // Answered at once on loopback: one request each (a retransmission after 250 ms
    // only if this machine stalled a thread that long).
    assert!((1..=2).contains(&one.requests()) && (1..=2).contains(&two.requests()));
    assert_eq!(guest.reflexive(), None, "a peer without servers asks nobody");
    assert_eq!(guest.nat_mapping(), NatMapping::Unknown);
}

#[test]
fn servers_seeing_two_ports_tell_a_symmetric_nat() {
    let same = |from: SocketAddr| from;
    let other_port = |from: SocketAddr| SocketAddr::new(from.ip(), from.port().wrapping_add(1));
    let (one, two) = (
        Responder::spawn("127.0.0.1", Some(same)),
        Responder::spawn("127.0.0.2", Some(other_port)),
    );
    let mut host = Peer::host(options(&[&one, &two])).unwrap();
    let done = |p: &[&mut Peer]| p[0].nat_mapping() != NatMapping::Unknown;
    assert!(poll_until(&mut [&mut host], 5, done));
    assert_eq!(host.nat_mapping(), NatMapping::EndpointDependent);
    assert_eq!(host.reflexive(), Some(host.local_addr()), "the first server's answer");
}

#[test]
fn a_silent_stun_server_costs_a_lan_join_nothing() {
    let silent = Responder::spawn("127.0.0.1", None);
    let mut host = Peer::host(options(&[&silent])).unwrap();
    let mut guest = Peer::join(&host.invite(), options(&[&silent])).unwrap();
    assert!(poll_until(&mut [&mut host, &mut guest], 10, met), "joined");
    // Joined while both STUN clients still wait for an answer (they give up after 3 s):
    // setup waits for none (measured: 8 to 9 ms from `host` to both in session here).
    for p in [&host, &guest] {
        assert!(!p.transport().stun().unwrap().done(), "joined before STUN gave up");
    }
    // Both asked (the responder's thread may not have read the second request yet).
    assert!(
        poll_until(&mut [&mut host, &mut guest], 2, |_| silent.requests() >= 2),
        "both asked: {}",
        silent.requests()
    );
    assert_eq!(host.reflexive(), None);
    assert_eq!(host.nat_mapping(), NatMapping::Unknown);
}

#[test]
fn the_reflexive_address_becomes_a_traversal_candidate() {
    // A server reporting a NAT's public address (a documentation address nothing is sent to).
    let public = |_: SocketAddr| "203.0.113.9:40000".parse().unwrap();
    let stun = Responder::spawn("127.0.0.1", Some(public));
    // A rendezvous service that never answers: the host registers anyway, after its wait.
    let service = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut o = options(&[&stun]);
    o.traversal.rendezvous = vec![service.local_addr().unwrap()];
    o.rendezvous_timeout = Duration::from_millis(300);
    let mut host = Peer::host(o).unwrap();
    let shared = |p: &[&mut Peer]| {
        p[0].transport()
            .traversal()
            .is_some_and(|t| t.candidates().contains(&"203.0.113.9:40000".parse().unwrap()))
    };
    assert!(
        poll_until(&mut [&mut host], 5, shared),
        "the reflexive address is a candidate"
    );
    assert_eq!(host.reflexive(), Some("203.0.113.9:40000".parse().unwrap()));
}

#[test]
fn named_stun_servers_replace_the_public_ones_and_none_is_the_default() {
    // Only addresses here: a test resolves no public name and never chooses online play.
    let given = ["127.0.0.1:3478".to_string(), " 127.0.0.2:3479".to_string()];
    let want: Vec<SocketAddr> = vec!["127.0.0.1:3478".parse().unwrap(), "127.0.0.2:3479".parse().unwrap()];
    assert_eq!(stun_servers(&given, false).unwrap(), want);
    assert_eq!(
        stun_servers(&given, true).unwrap(),
        want,
        "--stun replaces the public servers"
    );
    assert_eq!(stun_servers(&[], false).unwrap(), Vec::<SocketAddr>::new());
    assert_eq!(stun_servers(&[String::new()], false).unwrap(), Vec::<SocketAddr>::new());
    let err = stun_servers(&["no port".to_string()], false).unwrap_err();
    assert!(
        matches!(err, TransportError::BadStunServer { ref text, .. } if text == "no port"),
        "{err}"
    );
}

#[test]
fn netcheck_reports_what_each_server_saw_and_advises() {
    let same = |from: SocketAddr| from;
    let public = |_: SocketAddr| "203.0.113.9:40000".parse().unwrap();
    let other_port = |_: SocketAddr| "203.0.113.9:40001".parse().unwrap();
    let check = |servers: &[&Responder]| {
        netcheck(&NetcheckOptions {
            bind: "127.0.0.1:0".parse().unwrap(),
            stun: StunConfig {
                servers: servers.iter().map(|r| r.addr).collect(),
                ..StunConfig::default()
            },
            port_mapping: false,
            ..NetcheckOptions::default()
        })
        .unwrap()
    };
    let (a, b) = (
        Responder::spawn("127.0.0.1", Some(same)),
        Responder::spawn("127.0.0.2", Some(same)),
    );
    let r = check(&[&a, &b]);
    assert_eq!(r.advice, Advice::NoNat, "{r}");
    assert_eq!(r.mapping, NatMapping::EndpointIndependent);
    assert_eq!(r.local, vec![r.reflexive.unwrap()]);
    let (c, d) = (
        Responder::spawn("127.0.0.1", Some(public)),
        Responder::spawn("127.0.0.2", Some(public)),
    );
    assert_eq!(check(&[&c, &d]).advice, Advice::Punchable);
    let e = Responder::spawn("127.0.0.2", Some(other_port));
    let r = check(&[&c, &e]);
    assert_eq!(r.advice, Advice::Symmetric);
    assert_eq!(r.stun[1].reflexive, Some("203.0.113.9:40001".parse().unwrap()));
    assert_eq!(check(&[&c]).advice, Advice::OneServer);
    assert_eq!(check(&[]).advice, Advice::NoServer);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["mapping"], "endpoint-dependent");
    assert_eq!(json["advice"], "symmetric");
    assert_eq!(json["stun"][0]["reflexive"], "203.0.113.9:40000");
    // Port mapping was not asked for: the report says nothing of it.
    assert_eq!(json["port_mapping"], serde_json::Value::Null);
    assert!(!r.to_string().contains("port mapping"));
    assert_eq!(
        Advice::MapsPorts.to_string(),
        "your router maps ports: friends can join you directly"
    );
}

#[test]
fn netcheck_with_a_silent_server_gives_up_and_says_so() {
    let silent = Responder::spawn("127.0.0.1", None);
    let r = netcheck(&NetcheckOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        stun: StunConfig {
            servers: vec![silent.addr],
            give_up_after: Duration::from_millis(300),
            ..StunConfig::default()
        },
        port_mapping: false,
        ..NetcheckOptions::default()
    })
    .unwrap();
    assert_eq!(r.advice, Advice::NoAnswer);
    assert_eq!(r.stun[0].reflexive, None);
    // Sent at 0 ms and (unless this thread was descheduled past the bound) 250 ms; the
    // schedule itself is pinned on a virtual clock in `stun::tests`, not here on the wall.
    assert!((1..=2).contains(&silent.requests()), "{}", silent.requests());
}
