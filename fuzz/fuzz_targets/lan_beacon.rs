//! `netcode::lan::Beacon::decode` on arbitrary bytes: a LAN beacon, which any host on the
//! local network can broadcast to a menu listing "games on your network".
//!
//! Checks: it never panics and stays within the allocation limits; an accepted beacon
//! re-encodes (within the size bound) and decodes again to an equal beacon, and its
//! invite text goes through the invite decoder without a panic (the menu does that when
//! a player picks the game).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::invite::Invite;
use netcode::lan::{Beacon, LAN_MAGIC};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

fuzz_target!(|data: &[u8]| {
    let Ok(beacon) = Beacon::decode(data) else {
        return;
    };
    assert!(data.starts_with(&LAN_MAGIC), "a beacon without the magic");
    let bytes = beacon.encode().expect("a decoded beacon re-encodes");
    let again = Beacon::decode(&bytes).expect("a re-encoded beacon decodes");
    assert_eq!(again, beacon, "decode(encode(b)) != b");
    let _ = Invite::decode(&beacon.invite);
});
