//! `netcode::stun::decode_response` and `StunClient::handle` on arbitrary bytes: answers
//! to our STUN binding requests arrive on the game socket, where anyone who knows the
//! peer's address (or sits on the path) can send a datagram.
//!
//! Input: a control byte, then the datagram. With the control byte's low bit set, the
//! datagram's header gets the cookie, a fitting length and the transaction id of the
//! request the client has out, so the client's path behind the demultiplexer is reached;
//! bit 1 chooses whether it comes from the server asked or from elsewhere.
//!
//! Checks: no panic, within the allocation limits; an accepted answer passed `is_stun`,
//! is at most `MAX_MESSAGE_BYTES`, and its mapped address re-encodes (as a server writes
//! it) to bytes that decode to the same answer; the client takes a datagram only when it
//! is STUN with its transaction id from the server it asked, and then what it learned is
//! what the decoder read; a datagram from elsewhere changes nothing.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use netcode::stun::{
    Answer, HEADER_BYTES, MAGIC_COOKIE, MAX_MESSAGE_BYTES, StunClient, StunConfig, StunOutcome, binding_success,
    decode_response, is_stun, transaction_of,
};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let server: SocketAddr = "198.51.100.1:3478".parse().expect("address");
    let stranger: SocketAddr = "192.0.2.9:3478".parse().expect("address");
    let mut client = StunClient::new(
        StunConfig::default().servers(vec![server]),
        u64::from(control),
    );
    client.start(Duration::ZERO);
    let (_, request) = client.poll_transmit().expect("a request");
    let mut bytes = rest.to_vec();
    if control & 1 == 1 && bytes.len() >= HEADER_BYTES {
        bytes[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        bytes[8..HEADER_BYTES].copy_from_slice(&request[8..HEADER_BYTES]);
        if let Ok(len) = u16::try_from((bytes.len() - HEADER_BYTES) & !3) {
            bytes.truncate(HEADER_BYTES + usize::from(len));
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
        }
    }
    let decoded = decode_response(&bytes);
    if let Ok(response) = decoded {
        assert!(is_stun(&bytes), "decoded without passing is_stun");
        assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(Some(response.transaction), transaction_of(&bytes));
        if let Answer::Mapped(addr) = response.answer {
            let again = decode_response(&binding_success(&response.transaction, addr, true)).expect("re-encoded");
            assert_eq!(again, response, "decode(encode(a)) != a");
        }
    }
    let from = if control & 2 == 0 { server } else { stranger };
    let taken = client.handle(from, &bytes, Duration::from_millis(10));
    let ours = is_stun(&bytes) && transaction_of(&bytes) == transaction_of(&request) && from == server;
    assert_eq!(taken, ours, "taken {taken}, ours {ours}");
    let outcome = client.outcomes().next().expect("one server").1;
    match (taken, decoded) {
        (true, Ok(r)) => match r.answer {
            Answer::Mapped(a) => assert_eq!(outcome, StunOutcome::Reflexive(a)),
            Answer::Error(code) => assert_eq!(outcome, StunOutcome::Refused(code)),
        },
        _ => assert_eq!(outcome, StunOutcome::Pending, "changed by a datagram not taken or not decoded"),
    }
});
