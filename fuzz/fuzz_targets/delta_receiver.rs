//! `netcode::snapshot::delta::DeltaReceiver::decode` fed a stream of packets, as one
//! link's own or shared stream arrives: each packet is a 2-byte little-endian length and
//! that many bytes, so later packets can be deltas against earlier ones the receiver kept.
//!
//! Checks: it never panics and stays within the allocation limits; a snapshot returned as
//! the newest has a tick above every earlier one and becomes `last_tick`; a late (`None`)
//! or refused packet leaves `last_tick` as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::snapshot::delta::DeltaReceiver;

fuzz_target!(|data: &[u8]| {
    let schema = netcode_fuzz::schema();
    let mut receiver = DeltaReceiver::default();
    for packet in netcode_fuzz::packets(data) {
        let before = receiver.last_tick();
        match receiver.decode(&schema, packet) {
            Ok(Some(snapshot)) => {
                assert!(before.is_none_or(|t| snapshot.tick > t), "newest is not newer");
                assert_eq!(receiver.last_tick(), Some(snapshot.tick));
            }
            Ok(None) => {
                assert!(before.is_some(), "a first snapshot reported as late");
                assert_eq!(receiver.last_tick(), before);
            }
            Err(_) => assert_eq!(receiver.last_tick(), before),
        }
    }
});
