//! `netcode::protocol::Message::decode` and `Message::decode_heartbeat` on arbitrary bytes:
//! the decoders of every reliable message and every heartbeat datagram a peer receives.
//!
//! Checks: it never panics and stays within the allocation limits; a message it accepts
//! passes `validate`, re-encodes, and decodes again to an equal message (bytes need not be
//! identical: only the value is compared). A `Forward`'s inner bytes are decoded too, as
//! the relay does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::protocol::Message;
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fn check(data: &[u8]) {
    let Ok(msg) = Message::decode(data) else { return };
    msg.validate().expect("a decoded message is valid");
    let bytes = msg.encode().expect("a decoded message re-encodes");
    let again = Message::decode(&bytes).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "decode(encode(m)) != m");
    if let Message::Forward { inner, .. } = &msg {
        check(inner);
    }
}

fn check_heartbeat(data: &[u8]) {
    let Ok(msg) = Message::decode_heartbeat(data) else { return };
    msg.validate().expect("a decoded heartbeat is valid");
    let frame = msg.encode_heartbeat().expect("a decoded heartbeat re-encodes");
    let again = Message::decode_heartbeat(&frame).expect("a re-encoded heartbeat decodes");
    assert_eq!(again, msg, "decode_heartbeat(encode_heartbeat(m)) != m");
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check_heartbeat(data);
});
