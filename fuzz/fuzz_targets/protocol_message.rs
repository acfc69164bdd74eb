//! `netcode::protocol::Message::decode` on arbitrary bytes: the decoder of every datagram
//! and reliable message a peer receives (heartbeats included: they are a `Message`).
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

fuzz_target!(|data: &[u8]| {
    check(data);
});
