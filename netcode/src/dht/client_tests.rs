//! The DHT client against a private DHT on 127.0.0.1 (every node and client on a port the
//! system picks): nothing here is sent anywhere else.

use std::net::UdpSocket;

use super::*;
use crate::dht::testnet::DhtTestnet;

/// The request timeout of these tests (a put or get on a testnet waits out about one).
const TIMEOUT: Duration = Duration::from_millis(200);

fn key() -> ItemKey {
    let mut rng: StdRng = rand::make_rng();
    ItemKey {
        seed: rng.random(),
        salt: rng.random(),
    }
}

fn config(bootstrap: &[String]) -> DhtConfig {
    DhtConfig {
        bootstrap: bootstrap.to_vec(),
        request_timeout: TIMEOUT,
        bind: Ipv4Addr::LOCALHOST,
        port: 0,
    }
}

/// Waits for the reply to `id` (polling, as a game's frame would), or panics after `limit`.
fn reply(client: &DhtClient, id: u64, limit: Duration) -> DhtReply {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(r) = client.poll_replies().into_iter().find(|r| match r {
            DhtReply::Put { id: i, .. } | DhtReply::Got { id: i, .. } => *i == id,
        }) {
            return r;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no reply to {id} within {limit:?}");
}

fn put(
    client: &DhtClient,
    id: u64,
    item: &ItemKey,
    seq: i64,
    cas: Option<i64>,
    value: &[u8],
) -> (Result<(), PutFailure>, Duration) {
    client.submit(DhtRequest::Put {
        id,
        item: item.clone(),
        seq,
        cas,
        value: value.to_vec(),
    });
    match reply(client, id, Duration::from_secs(10)) {
        DhtReply::Put { outcome, took, .. } => (outcome, took),
        other => panic!("not a put's reply: {other:?}"),
    }
}

fn get(client: &DhtClient, id: u64, item: &ItemKey, newer_than: Option<i64>) -> (Option<(i64, Vec<u8>)>, Duration) {
    client.submit(DhtRequest::Get {
        id,
        item: item.clone(),
        newer_than,
    });
    match reply(client, id, Duration::from_secs(10)) {
        DhtReply::Got { found, took, .. } => (found, took),
        other => panic!("not a get's reply: {other:?}"),
    }
}

#[test]
fn items_are_put_and_got_and_stale_writes_refused_on_a_private_dht() {
    let net = DhtTestnet::start(16, Ipv4Addr::LOCALHOST, TIMEOUT).unwrap();
    let writer = DhtClient::new(config(net.bootstrap())).unwrap();
    let reader = DhtClient::new(config(net.bootstrap())).unwrap();
    let item = key();
    let (stored, put_took) = put(&writer, 1, &item, 1, None, b"first");
    assert_eq!(stored, Ok(()));
    let (found, get_took) = get(&reader, 2, &item, None);
    assert_eq!(found, Some((1, b"first".to_vec())));
    eprintln!("testnet of 16, timeout {TIMEOUT:?}: put {put_took:?}, get {get_took:?}");
    assert_eq!(
        put(&writer, 3, &item, 2, Some(1), b"second").0,
        Ok(()),
        "CAS on what it saw"
    );
    assert_eq!(
        put(&writer, 4, &item, 3, Some(1), b"late").0,
        Err(PutFailure::CasMismatch),
        "CAS on a superseded seq"
    );
    assert_eq!(
        put(&reader, 5, &item, 1, None, b"old").0,
        Err(PutFailure::NewerExists),
        "a lower seq"
    );
    assert_eq!(get(&reader, 6, &item, None).0, Some((2, b"second".to_vec())));
    assert_eq!(get(&reader, 7, &item, Some(2)).0, None, "nothing newer than 2");
    assert_eq!(get(&reader, 8, &key(), None).0, None, "an item nobody put");
    assert!(reader.nodes_known() > 0, "the testnet's nodes answered");
    let (w, r) = (writer.stats(), reader.stats());
    assert_eq!((w.puts, w.gets, r.puts, r.gets), (3, 0, 1, 4));
    assert!(w.queries_per_minute() > 0.0);
}

#[test]
fn a_value_over_the_limit_is_refused_without_sending() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = DhtClient::new(config(&[silent.local_addr().unwrap().to_string()])).unwrap();
    let item = key();
    let (outcome, took) = put(&client, 1, &item, 1, None, &[0; MAX_VALUE + 1]);
    assert_eq!((outcome, took), (Err(PutFailure::TooLarge), Duration::ZERO));
    assert_eq!(client.stats().puts, 0, "nothing was sent");
}

/// Bootstrap nodes that never answer: a put ends `NoNodes` and a get finds nothing, each
/// within about the request timeout, while `submit` and `poll_replies` never block.
#[test]
fn silent_bootstrap_nodes_give_no_nodes_within_the_timeout_without_blocking() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client = DhtClient::new(config(&[silent.local_addr().unwrap().to_string()])).unwrap();
    let item = key();
    let started = Instant::now();
    client.submit(DhtRequest::Put {
        id: 1,
        item: item.clone(),
        seq: 1,
        cas: None,
        value: b"v".to_vec(),
    });
    client.submit(DhtRequest::Get {
        id: 2,
        item,
        newer_than: None,
    });
    let submitted = started.elapsed();
    let polled = Instant::now();
    assert!(client.poll_replies().is_empty());
    let polled = polled.elapsed();
    eprintln!("two submits took {submitted:?}, a poll {polled:?}");
    // Measured: two submits 125 µs, a poll 0.3 µs (debug build, busy 2-core machine); the
    // bound is the brief's generous one, as µs figures are scheduling noise here.
    assert!(submitted < Duration::from_millis(5), "submit blocked {submitted:?}");
    assert!(polled < Duration::from_millis(5), "poll blocked {polled:?}");
    let mut replies = Vec::new();
    while replies.len() < 2 && started.elapsed() < Duration::from_secs(5) {
        replies.extend(client.poll_replies());
        std::thread::sleep(Duration::from_millis(5));
    }
    let done = started.elapsed();
    eprintln!("silent bootstrap, timeout {TIMEOUT:?}: replies after {done:?}: {replies:?}");
    assert!(replies.contains(&DhtReply::Got {
        id: 2,
        found: None,
        took: took_of(&replies, 2),
    }));
    assert!(replies.contains(&DhtReply::Put {
        id: 1,
        outcome: Err(PutFailure::NoNodes),
        took: took_of(&replies, 1),
    }));
    // Measured: both after 0.36 s (the bootstrap node's request timed out, then mainline's
    // 50 ms reads); +25 %.
    assert!(done < Duration::from_millis(450), "{done:?}");
    assert_eq!(client.nodes_known(), 0, "nobody answered");
}

fn took_of(replies: &[DhtReply], id: u64) -> Duration {
    replies
        .iter()
        .find_map(|r| match r {
            DhtReply::Put { id: i, took, .. } | DhtReply::Got { id: i, took, .. } if *i == id => Some(*took),
            _ => None,
        })
        .unwrap_or_default()
}

/// Dropping a client returns at once, even with a query running, and an idle client's
/// socket is free again soon after.
#[test]
fn drop_is_prompt() {
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let bootstrap = [silent.local_addr().unwrap().to_string()];
    let busy = DhtClient::new(config(&bootstrap)).unwrap();
    busy.submit(DhtRequest::Get {
        id: 1,
        item: key(),
        newer_than: None,
    });
    std::thread::sleep(Duration::from_millis(20)); // a worker is inside the query
    let started = Instant::now();
    drop(busy);
    let busy_drop = started.elapsed();
    let idle = DhtClient::new(config(&bootstrap)).unwrap();
    let port = idle.local_addr().port();
    let started = Instant::now();
    drop(idle);
    let idle_drop = started.elapsed();
    let mut freed = None;
    while started.elapsed() < Duration::from_secs(2) {
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            freed = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("drop: busy {busy_drop:?}, idle {idle_drop:?}, socket freed after {freed:?}");
    // Measured: drops 3-150 µs (no join: the bound is the one `submit` has, as µs figures
    // are scheduling noise on a shared machine); the socket freed after 57 ms (mainline's
    // node thread ends at its next 50 ms socket read), bound +40 %.
    assert!(busy_drop < Duration::from_millis(5), "{busy_drop:?}");
    assert!(idle_drop < Duration::from_millis(5), "{idle_drop:?}");
    assert!(freed.is_some_and(|t| t < Duration::from_millis(80)), "{freed:?}");
}

#[test]
fn configurations_are_checked_once_at_start() {
    let start = |c: DhtConfig| DhtClient::new(c).map(|_| ()).unwrap_err();
    assert!(
        matches!(start(DhtConfig::default()), DhtError::NoBootstrap),
        "the default names no node"
    );
    assert!(matches!(start(config(&[" ".into()])), DhtError::NoBootstrap));
    assert!(matches!(
        start(config(&["10.0.0.1".into()])),
        DhtError::BadBootstrap { .. }
    ));
    assert!(matches!(
        start(config(&["10.0.0.1:port".into()])),
        DhtError::BadBootstrap { .. }
    ));
    // IPv6 only: mainline speaks IPv4 (an address, so no name is looked up).
    assert!(matches!(
        start(config(&["[::1]:6881".into()])),
        DhtError::Unresolvable { .. }
    ));
    let zero = DhtConfig {
        request_timeout: Duration::ZERO,
        ..config(&["127.0.0.1:9".into()])
    };
    assert!(matches!(start(zero), DhtError::ZeroTimeout));
    let taken = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let clash = DhtConfig {
        port: taken.local_addr().unwrap().port(),
        ..config(&["127.0.0.1:9".into()])
    };
    assert!(matches!(start(clash), DhtError::Bind { .. }));
}

#[test]
fn no_public_node_is_named_by_default() {
    let d = DhtConfig::default();
    assert!(d.bootstrap.is_empty());
    assert_eq!(
        (d.bind, d.port, d.request_timeout),
        (Ipv4Addr::UNSPECIFIED, 0, Duration::from_secs(2))
    );
    // Only `public()` names them (it resolves nothing by itself).
    assert_eq!(DhtConfig::public().bootstrap, PUBLIC_BOOTSTRAP);
    assert!(PUBLIC_BOOTSTRAP.contains(&"router.bittorrent.com:6881"));
}

/// `netcheck` with a DHT: the testnet answers, with its lookup time; a silent bootstrap
/// node is reported silent, with advice.
#[test]
fn netcheck_says_whether_the_dht_answers() {
    use crate::transport::{Advice, NetcheckOptions, netcheck};
    let net = DhtTestnet::start(12, Ipv4Addr::LOCALHOST, TIMEOUT).unwrap();
    let options = |dht: DhtConfig| NetcheckOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        dht: Some(dht),
        ..NetcheckOptions::default()
    };
    let report = netcheck(&options(config(net.bootstrap()))).unwrap();
    let d = &report.dht;
    eprintln!("netcheck on a testnet of 12: {d:?}");
    assert!(d.asked && d.answered && d.nodes > 0 && d.error.is_none(), "{d:?}");
    assert!(d.lookup_ms.is_some_and(|ms| ms > 0.0));
    assert_eq!(report.advice, Advice::NoServer, "the DHT answering changes no advice");
    assert!(report.to_string().contains("nodes answered a lookup in"), "{report}");
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let report = netcheck(&options(config(&[silent.local_addr().unwrap().to_string()]))).unwrap();
    assert!(
        report.dht.asked && !report.dht.answered && report.dht.nodes == 0,
        "{:?}",
        report.dht
    );
    assert_eq!(report.advice, Advice::DhtSilent);
    assert!(report.to_string().contains("DHT: no node answered"), "{report}");
    let none = netcheck(&NetcheckOptions {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..NetcheckOptions::default()
    })
    .unwrap();
    assert!(!none.dht.asked, "no DHT chosen, none asked");
    assert!(none.to_string().contains("DHT: not asked"), "{none}");
}
