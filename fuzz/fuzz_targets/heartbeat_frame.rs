//! `netcode::protocol::Message::decode_heartbeat` on arbitrary bytes: the heartbeat
//! datagram frame (`protocol/datagram.rs`), the one message a peer decodes beside renet,
//! once per link and send tick. Its own target (`protocol_message` tries the same decoder
//! on bincode messages), so that the corpus grows from frames, which start with a flags
//! byte rather than bincode's enum tag.
//!
//! Checks: it never panics and stays within the allocation limits; an accepted frame is a
//! heartbeat that passes `validate`, re-encodes to a frame no longer than the input (absent
//! fields cost nothing) and decodes again to an equal heartbeat; the frame and the reliable
//! encoding (`Message::encode`) carry the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::protocol::Message;
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::decode_heartbeat(data) else {
        return;
    };
    assert!(
        matches!(msg, Message::Heartbeat { .. }),
        "a frame decoded to another message"
    );
    msg.validate().expect("a decoded heartbeat is valid");
    let frame = msg.encode_heartbeat().expect("a decoded heartbeat re-encodes");
    assert!(frame.len() <= data.len(), "re-encoding grew the frame");
    let again = Message::decode_heartbeat(&frame).expect("a re-encoded heartbeat decodes");
    assert_eq!(again, msg, "decode_heartbeat(encode_heartbeat(m)) != m");
    let reliable = msg.encode().expect("a decoded heartbeat encodes as a message");
    assert_eq!(
        Message::decode(&reliable).expect("and decodes"),
        msg,
        "the two encodings disagree"
    );
});
