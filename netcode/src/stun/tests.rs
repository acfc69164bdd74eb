use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const TID: TransactionId = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// A header with `kind` and the attributes `attrs` (already padded).
fn message(kind: u16, attrs: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&TID);
    out.extend_from_slice(attrs);
    out
}

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

#[test]
fn a_binding_request_is_a_bare_header_with_the_cookie_and_our_transaction() {
    let req = binding_request(&TID);
    assert_eq!(req.len(), HEADER_BYTES);
    assert_eq!(&req[..8], &[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42]);
    assert_eq!(&req[8..], &TID);
    assert!(is_stun(&req));
    assert_eq!(transaction_of(&req), Some(TID));
    // A request is not an answer.
    assert_eq!(decode_response(&req), Err(StunError::NotBindingResponse { kind: 1 }));
}

#[test]
fn success_responses_round_trip_ipv4_and_ipv6() {
    for mapped in [
        addr("203.0.113.7:40001"),
        addr("[2001:db8::1:2]:65535"),
        addr("0.0.0.0:0"),
    ] {
        for plain in [false, true] {
            let bytes = binding_success(&TID, mapped, plain);
            assert!(is_stun(&bytes));
            let r = decode_response(&bytes).unwrap();
            assert_eq!(r.transaction, TID);
            assert_eq!(r.answer, Answer::Mapped(mapped), "{mapped} plain={plain}");
        }
    }
    let err = binding_error(&TID, 420);
    assert!(is_stun(&err));
    assert_eq!(decode_response(&err).unwrap().answer, Answer::Error(420));
}

#[test]
fn mapped_address_is_the_fallback_and_xor_mapped_wins() {
    let plain = attr(0x0001, &[0, 1, 0x1F, 0x90, 198, 51, 100, 9]);
    let only_plain = message(0x0101, &plain);
    assert_eq!(
        decode_response(&only_plain).unwrap().answer,
        Answer::Mapped(addr("198.51.100.9:8080"))
    );
    // XOR-MAPPED-ADDRESS after MAPPED-ADDRESS still wins; an unknown optional attribute
    // (SOFTWARE, 5 bytes padded to 8) is skipped.
    let xor = binding_success(&TID, addr("203.0.113.1:1234"), false)[HEADER_BYTES..].to_vec();
    let mut attrs = plain.clone();
    attrs.extend(attr(0x8022, b"coturn"));
    attrs.extend(xor);
    assert_eq!(
        decode_response(&message(0x0101, &attrs)).unwrap().answer,
        Answer::Mapped(addr("203.0.113.1:1234"))
    );
}

#[test]
fn malformed_answers_are_typed_errors() {
    let ok = binding_success(&TID, addr("203.0.113.7:40001"), true);
    for n in 0..ok.len() {
        assert!(decode_response(&ok[..n]).is_err(), "cut at {n}");
    }
    assert_eq!(decode_response(&ok[..10]), Err(StunError::Short { len: 10 }));
    let mut no_cookie = ok.clone();
    no_cookie[5] ^= 1;
    assert_eq!(decode_response(&no_cookie), Err(StunError::NotStun));
    let mut high_bits = ok.clone();
    high_bits[0] |= 0x80;
    assert_eq!(decode_response(&high_bits), Err(StunError::NotStun));
    let mut longer = ok.clone();
    longer.extend([0; 4]);
    assert!(matches!(decode_response(&longer), Err(StunError::Length { .. })));
    assert_eq!(decode_response(&message(0x0101, &[])), Err(StunError::NoAddress));
    // An attribute whose length runs past the end.
    let mut overrun = attr(0x0020, &[0; 8]);
    overrun[3] = 12;
    assert_eq!(
        decode_response(&message(0x0101, &overrun)),
        Err(StunError::AttributeOverrun {
            kind: 0x0020,
            at: 20,
            len: 12
        })
    );
    assert_eq!(
        decode_response(&message(0x0101, &attr(0x0020, &[0, 3, 0, 0, 1, 2, 3, 4]))),
        Err(StunError::BadFamily { family: 3 })
    );
    assert_eq!(
        decode_response(&message(0x0101, &attr(0x0020, &[0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]))),
        Err(StunError::BadAddress { kind: 0x0020, len: 12 })
    );
    assert_eq!(
        decode_response(&message(0x0101, &attr(0x7777, &[]))),
        Err(StunError::UnknownRequired { kind: 0x7777 })
    );
    assert_eq!(
        decode_response(&message(0x0111, &attr(0x0009, &[0, 0]))),
        Err(StunError::BadErrorCode { len: 2 })
    );
    let many: Vec<u8> = (0..=MAX_ATTRIBUTES).flat_map(|_| attr(0x8022, &[])).collect();
    assert_eq!(
        decode_response(&message(0x0101, &many)),
        Err(StunError::TooManyAttributes)
    );
    let huge = message(0x0101, &vec![0; MAX_MESSAGE_BYTES]);
    assert!(matches!(decode_response(&huge), Err(StunError::Long { .. })));
    // Every bit flip of a valid answer decodes or fails, never panics.
    for i in 0..ok.len() * 8 {
        let mut bent = ok.clone();
        bent[i / 8] ^= 1 << (i % 8);
        let _ = decode_response(&bent);
    }
}

/// Netcode packets: the first byte has the packet type (0 to 6) in its low nibble and
/// the sequence length (at most 8) in its high nibble, so the first two bits are often
/// zero; the cookie and the transaction id are what tell STUN apart.
#[test]
fn netcode_packets_are_not_stun_and_never_taken() {
    let server = addr("198.51.100.1:3478");
    let mut client = StunClient::new(
        StunConfig {
            servers: vec![server],
            ..StunConfig::default()
        },
        9,
    );
    client.start(Duration::ZERO);
    let mut state = 0x1234_5678_9abc_def0u64;
    for n in 0..20_000usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 20 + (n % 200);
        let mut bytes: Vec<u8> = (0..len).map(|i| (state >> ((i % 8) * 8)) as u8 ^ i as u8).collect();
        bytes[0] = ((n % 9) as u8) << 4 | (n % 7) as u8;
        assert!(!is_stun(&bytes), "packet {n} without the cookie");
        // Half of them even carry the cookie and a fitting length: STUN-shaped, yet the
        // transaction id is not ours, so they go on to the session.
        if n % 2 == 1 {
            bytes[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            let body = (len - 20) / 4 * 4;
            bytes.truncate(20 + body);
            bytes[2..4].copy_from_slice(&u16::try_from(body).unwrap().to_be_bytes());
            assert_eq!(
                is_stun(&bytes),
                bytes[0] < 0x40,
                "packet {n}: only the first two bits differ"
            );
        }
        assert!(!client.handle(server, &bytes, Duration::ZERO), "packet {n} taken");
    }
    assert_eq!(client.stats().answers, 0);
    assert_eq!(client.reflexive(), None);
}

/// A tiny STUN server: answers a binding request with where it came from, as mapped by a
/// NAT model (`nat(server) -> our address as that server sees it`).
fn respond(request: &[u8], seen: SocketAddr) -> Vec<u8> {
    assert!(is_stun(request));
    assert_eq!(&request[..2], &[0, 1], "a binding request");
    binding_success(&transaction_of(request).unwrap(), seen, false)
}

/// Runs `client` against servers on a virtual clock in 10 ms steps for `secs`: each
/// request reaches its server when `reaches(server, n)` (n: the request's number to that
/// server), and the answer is mapped by `nat`. Returns every send time per server.
fn run(
    client: &mut StunClient,
    secs: u64,
    reaches: impl Fn(SocketAddr, usize) -> bool,
    nat: impl Fn(SocketAddr) -> SocketAddr,
) -> Vec<(SocketAddr, Duration)> {
    let mut sends = Vec::new();
    let mut counts: std::collections::HashMap<SocketAddr, usize> = Default::default();
    client.start(Duration::ZERO);
    let mut now = Duration::ZERO;
    while now <= Duration::from_secs(secs) {
        client.update(now);
        while let Some((to, bytes)) = client.poll_transmit() {
            sends.push((to, now));
            let n = counts.entry(to).or_default();
            *n += 1;
            if reaches(to, *n) {
                let answer = respond(&bytes, nat(to));
                assert!(client.handle(to, &answer, now), "our answer is taken");
            }
        }
        now += Duration::from_millis(10);
    }
    sends
}

fn client(servers: &[&str]) -> StunClient {
    StunClient::new(
        StunConfig {
            servers: servers.iter().map(|s| addr(s)).collect(),
            ..StunConfig::default()
        },
        42,
    )
}

#[test]
fn two_servers_seeing_one_address_mean_endpoint_independent_mapping() {
    let mut c = client(&["198.51.100.1:3478", "198.51.100.2:3478"]);
    let sends = run(&mut c, 1, |_, _| true, |_| addr("203.0.113.5:50000"));
    assert_eq!(sends.len(), 2, "one request each, answered at once");
    assert!(c.done());
    assert_eq!(c.reflexive(), Some(addr("203.0.113.5:50000")));
    assert_eq!(c.mapping(), NatMapping::EndpointIndependent);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn two_servers_seeing_two_ports_mean_a_symmetric_nat() {
    let mut c = client(&["198.51.100.1:3478", "198.51.100.2:3478"]);
    // A new port per destination, as `MASQUERADE --random` makes.
    let nat = |server: SocketAddr| match server == addr("198.51.100.1:3478") {
        true => addr("203.0.113.5:50001"),
        false => addr("203.0.113.5:50002"),
    };
    run(&mut c, 1, |_, _| true, nat);
    assert_eq!(c.mapping(), NatMapping::EndpointDependent);
    let outcomes: Vec<_> = c.outcomes().collect();
    assert_eq!(outcomes.len(), 2);
    assert_ne!(outcomes[0].1, outcomes[1].1);
}

#[test]
fn one_server_or_one_answer_tells_no_mapping() {
    let mut c = client(&["198.51.100.1:3478"]);
    run(&mut c, 1, |_, _| true, |_| addr("203.0.113.5:50000"));
    assert_eq!(c.reflexive(), Some(addr("203.0.113.5:50000")));
    assert_eq!(c.mapping(), NatMapping::Unknown);
    let mut c = client(&["198.51.100.1:3478", "198.51.100.2:3478"]);
    run(
        &mut c,
        4,
        |s, _| s == addr("198.51.100.1:3478"),
        |_| addr("203.0.113.5:50000"),
    );
    assert_eq!(c.mapping(), NatMapping::Unknown);
    assert_eq!(c.outcomes().nth(1).unwrap().1, StunOutcome::Silent);
}

#[test]
fn a_silent_server_gets_retransmissions_at_250_750_1750_ms_and_is_given_up_at_3_s() {
    let mut c = client(&["198.51.100.1:3478"]);
    let sends = run(&mut c, 5, |_, _| false, |_| unreachable!());
    let at: Vec<u128> = sends.iter().map(|(_, t)| t.as_millis()).collect();
    assert_eq!(at, [0, 250, 750, 1750]);
    assert_eq!(c.outcomes().next().unwrap().1, StunOutcome::Silent);
    assert!(c.done());
    assert_eq!(c.reflexive(), None);
    assert_eq!(c.stats().requests_sent, 4);
}

#[test]
fn a_lost_request_is_answered_on_its_retransmission_with_the_same_transaction() {
    let mut c = client(&["198.51.100.1:3478"]);
    let sends = run(&mut c, 5, |_, n| n == 3, |_| addr("203.0.113.5:50000"));
    assert_eq!(sends.len(), 3, "answered on the third send, nothing after");
    assert_eq!(c.reflexive(), Some(addr("203.0.113.5:50000")));
}

#[test]
fn forged_answers_change_nothing() {
    let server = addr("198.51.100.1:3478");
    let mut c = client(&["198.51.100.1:3478"]);
    c.start(Duration::ZERO);
    let (_, request) = c.poll_transmit().unwrap();
    let tid = transaction_of(&request).unwrap();
    let mut other = tid;
    other[0] ^= 1;
    // Wrong transaction id, from the server.
    assert!(!c.handle(
        server,
        &binding_success(&other, addr("192.0.2.66:1"), false),
        Duration::ZERO
    ));
    // Right transaction id, from elsewhere.
    assert!(!c.handle(
        addr("192.0.2.66:3478"),
        &binding_success(&tid, addr("192.0.2.66:1"), false),
        Duration::ZERO
    ));
    assert_eq!(c.reflexive(), None);
    assert_eq!(c.stats().ignored, 2);
    assert!(!c.done());
    // The real one.
    assert!(c.handle(
        server,
        &binding_success(&tid, addr("203.0.113.5:50000"), false),
        Duration::ZERO
    ));
    assert_eq!(c.reflexive(), Some(addr("203.0.113.5:50000")));
    // An answer to a request before `start` again is no longer ours.
    c.start(Duration::from_secs(10));
    assert!(!c.handle(
        server,
        &binding_success(&tid, addr("192.0.2.66:1"), false),
        Duration::from_secs(10)
    ));
    assert_eq!(c.stats().ignored, 3);
}

#[test]
fn an_error_response_is_the_servers_answer() {
    let server = addr("198.51.100.1:3478");
    let mut c = client(&["198.51.100.1:3478"]);
    c.start(Duration::ZERO);
    let (_, request) = c.poll_transmit().unwrap();
    assert!(c.handle(
        server,
        &binding_error(&transaction_of(&request).unwrap(), 400),
        Duration::ZERO
    ));
    assert_eq!(c.outcomes().next().unwrap().1, StunOutcome::Refused(400));
    assert!(c.done());
    assert_eq!(c.reflexive(), None);
}

#[test]
fn transaction_ids_follow_the_seed_and_nothing_goes_out_by_default() {
    let ids = |seed| {
        let mut c = StunClient::new(
            StunConfig {
                servers: vec![addr("198.51.100.1:3478"), addr("198.51.100.2:3478")],
                ..StunConfig::default()
            },
            seed,
        );
        c.start(Duration::ZERO);
        let mut out = Vec::new();
        c.drain(&mut out);
        out.into_iter()
            .map(|(_, b)| transaction_of(&b).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(1), ids(1));
    assert_ne!(ids(1), ids(2));
    assert_ne!(ids(1)[0], ids(1)[1]);
    assert!(StunConfig::default().servers.is_empty());
    let mut idle = StunClient::new(StunConfig::default(), 1);
    idle.start(Duration::ZERO);
    assert_eq!(idle.poll_transmit(), None);
    assert!(idle.done());
}

#[test]
fn mapping_of_compares_servers_at_different_addresses() {
    let (s1, s2) = (addr("198.51.100.1:3478"), addr("198.51.100.2:3478"));
    let (a, b) = (addr("203.0.113.5:1"), addr("203.0.113.5:2"));
    assert_eq!(mapping_of([]), NatMapping::Unknown);
    assert_eq!(mapping_of([(s1, a)]), NatMapping::Unknown);
    assert_eq!(mapping_of([(s1, a), (s2, a)]), NatMapping::EndpointIndependent);
    assert_eq!(mapping_of([(s1, a), (s2, b)]), NatMapping::EndpointDependent);
}

/// An answer of Debian's coturn 4.6.1 (`turnserver -S`), recorded in the NAT lab: XOR-MAPPED-
/// ADDRESS, MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS and SOFTWARE (20 bytes).
#[test]
fn a_recorded_coturn_answer_decodes() {
    let hex = "010100482112a442f4cb92e66c686c2378505d530020000800018280e721c040000100080001a392c633640280\
               2b000800010d96c6336402802c000800010d97c633640380220014436f7475726e2d342e362e312027476f72737427";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    assert!(is_stun(&bytes));
    let r = decode_response(&bytes).unwrap();
    assert_eq!(r.answer, Answer::Mapped(addr("198.51.100.2:41874")));
    assert_eq!(r.transaction[..4], [0xf4, 0xcb, 0x92, 0xe6]);
}
