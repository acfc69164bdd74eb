//! `netcode::rendezvous::Frame::decode` on arbitrary bytes: every rendezvous frame, as a
//! peer receives the service's answers (observed address, members, punch hints, relayed
//! datagrams) and as the service receives requests. Anyone on the path, or anyone who
//! knows a peer's address, can send these.
//!
//! Checks: it never panics and stays within the allocation limits; an accepted frame is
//! within its kind's size bound, re-encodes and decodes again to an equal frame; the cheap
//! `is_relay` test agrees with the decoded kind; a signed request's signature check
//! (`Signed::verify`, with keys and signatures from the input) returns without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::rendezvous::{Frame, MAX_FRAME_BYTES, MAX_RELAY_FRAME_BYTES, is_relay, is_rendezvous};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::decode(data) else {
        return;
    };
    assert!(is_rendezvous(data));
    let relay = matches!(frame, Frame::Relay { .. });
    assert_eq!(is_relay(data), relay, "is_relay disagrees with the decoded kind");
    let bound = match frame {
        Frame::Relay { .. } | Frame::Relayed { .. } => MAX_RELAY_FRAME_BYTES,
        _ => MAX_FRAME_BYTES,
    };
    assert!(data.len() <= bound, "a frame over its bound decoded");
    let bytes = frame.encode().expect("a decoded frame re-encodes");
    let again = Frame::decode(&bytes).expect("a re-encoded frame decodes");
    assert_eq!(again, frame, "decode(encode(f)) != f");
    if let Frame::Signed { signed, sig } = &frame {
        // At its own date (then only the signature decides) and far from it (stale).
        let _ = signed.verify(sig, signed.at_ms);
        let _ = signed.verify(sig, signed.at_ms.wrapping_add(1 << 40));
        let _ = signed.session_id();
    }
});
