//! Two real `Peer`s on loopback that cannot reach each other (each drops what it sends to
//! the other's address) play through the rendezvous service's relay, and the service
//! carries only netcode ciphertext: no name, no store value, no heartbeat in the clear.
//! And `netcheck` tells which rendezvous service answers, and in how long.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netcode::rendezvous::Frame;
use netcode::transport::{Advice, NetcheckOptions, Peer, PeerOptions, netcheck};
use netcode::traversal::TraversalConfig;
use netcode::{Link, Relayer, Scope};
use netcode_rendezvous::{Server, ServerConfig};

/// A name and a store value that must never cross the relay readable.
const NAME: &str = "Mira-plaintext-mark";
const VALUE: &[u8] = b"store-value-in-the-clear-0451";

/// The service on a loopback socket in a thread; every payload it relayed.
struct Service {
    addr: SocketAddr,
    relayed: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

fn service() -> Service {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binds");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let addr = socket.local_addr().expect("address");
    let relayed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, done) = (relayed.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut server = Server::new(ServerConfig::default());
        let start = Instant::now();
        let mut buf = [0u8; 2048];
        while !done.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            for (to, bytes) in server.handle(from, &buf[..n], start.elapsed(), unix_ms) {
                if let Ok(Frame::Relayed { payload, .. }) = Frame::decode(&bytes) {
                    seen.lock().unwrap().push(payload);
                }
                let _ = socket.send_to(&bytes, to);
            }
        }
    });
    Service { addr, relayed, stop }
}

fn options(service: SocketAddr, name: &str) -> PeerOptions {
    PeerOptions::default()
        .name(name.into())
        .bind("127.0.0.1:0".parse().unwrap())
        .traversal(TraversalConfig::default().rendezvous(vec![service]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn peers_with_no_path_play_through_the_service_which_sees_only_ciphertext() {
    let svc = service();
    let mut host = Peer::host(options(svc.addr, NAME)).expect("hosts");
    let invite = host.invite();
    assert_eq!(invite.rendezvous, vec![svc.addr]);
    let mut guest = Peer::join(&invite, options(svc.addr, "Juno")).expect("asks the service");
    // No direct path either way.
    let (h, g) = (host.local_addr(), guest.local_addr());
    host.transport_mut().block(g);
    guest.transport_mut().block(h);
    let host_id = host.session().peer_id();
    host.session_mut()
        .set_own("note", Some(VALUE.to_vec()))
        .expect("writes");
    let deadline = Instant::now() + Duration::from_secs(15);
    let arrived = loop {
        host.poll().expect("host polls");
        guest.poll().expect("guest polls");
        let got = guest.session().store().get(Scope::Peer(host_id), "note") == Some(VALUE);
        let guest_id = guest.session().peer_id();
        if got
            && guest.session().link(host_id) == Link::Relayed(Relayer::Service)
            && host.session().link(guest_id) == Link::Relayed(Relayer::Service)
        {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // A second of play over the relay.
    let play = Instant::now();
    while arrived && play.elapsed() < Duration::from_secs(1) {
        host.poll().expect("host polls");
        guest.poll().expect("guest polls");
        std::thread::sleep(Duration::from_millis(2));
    }
    svc.stop.store(true, Ordering::Relaxed);
    assert!(
        arrived,
        "joined {}, link {}",
        guest.session().in_session(),
        guest.session().link(host_id),
    );
    assert_eq!(guest.session().link(host_id).to_string(), "relayed (service)");
    assert_eq!(
        host.session().link(guest.session().peer_id()),
        Link::Relayed(Relayer::Service)
    );
    let relayed = svc.relayed.lock().unwrap();
    assert!(
        relayed.len() > 40,
        "the session went through the relay: {}",
        relayed.len()
    );
    for payload in relayed.iter() {
        assert!(!contains(payload, NAME.as_bytes()), "a name in the clear");
        assert!(!contains(payload, VALUE), "a store value in the clear");
        // A netcode packet: its prefix byte has the packet type (0 to 6) in the low nibble.
        assert!(payload[0] & 0x0F <= 6, "not a netcode packet: {:02x}", payload[0]);
    }
}

#[test]
fn netcheck_tells_which_rendezvous_service_answers_and_its_round_trip() {
    let svc = service();
    // Bound, never read: a service that is down (or an address that is wrong).
    let silent = UdpSocket::bind("127.0.0.1:0").expect("binds");
    let silent_addr = silent.local_addr().expect("address");
    let started = Instant::now();
    let report = netcheck(
        &NetcheckOptions::default()
            .bind("127.0.0.1:0".parse().unwrap())
            .rendezvous(vec![svc.addr, silent_addr])
            .rendezvous_timeout(Duration::from_millis(500)),
    )
    .expect("checks");
    let took = started.elapsed();
    svc.stop.store(true, Ordering::Relaxed);
    let [up, down] = report.rendezvous.as_slice() else {
        panic!("two services: {report:?}")
    };
    assert_eq!((up.service, up.answered), (svc.addr, true), "{report}");
    assert_eq!(
        up.observed,
        Some(report.local[0]),
        "it saw the check's socket: {report}"
    );
    let rtt = up.rtt_ms.expect("a round trip");
    assert!((0.0..500.0).contains(&rtt), "within the wait: {rtt} ms");
    assert_eq!((down.service, down.answered, down.rtt_ms), (silent_addr, false, None));
    assert_eq!(report.advice, Advice::ServiceSilent);
    // Given up after the 500 ms wait (a loaded machine may add a little).
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    let text = report.to_string();
    assert!(text.contains(&format!("rendezvous {}: answers in", svc.addr)), "{text}");
    assert!(text.contains(&format!("rendezvous {silent_addr}: no answer")), "{text}");
    let json = serde_json::to_value(&report).expect("JSON");
    assert_eq!(json["rendezvous"][0]["answered"], true, "{json}");
    assert!(json["rendezvous"][0]["rtt_ms"].is_number(), "{json}");
    assert_eq!(json["rendezvous"][1]["answered"], false, "{json}");
    assert_eq!(json["advice"], "service-silent", "{json}");
    // Only the services named are asked: none named, none reported.
    let none = netcheck(&NetcheckOptions::default().bind("127.0.0.1:0".parse().unwrap())).expect("checks");
    assert!(none.rendezvous.is_empty());
    assert_eq!(none.advice, Advice::NoServer);
}
