//! `netcode::snapshot::delta::decode(schema, bytes, Some(baseline))`: a delta snapshot
//! against a baseline. The input is a 2-byte little-endian length, a full snapshot of that
//! many bytes (decoded into the baseline; inputs whose baseline part does not decode are
//! skipped) and then the delta bytes under test.
//!
//! Checks: it never panics and stays within the allocation limits; a decoded delta's tick
//! is the baseline's plus the header's age; it re-encodes against the same baseline (a
//! full one: with none) and decodes to an equal snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::snapshot::delta::{self, Header};

fuzz_target!(|data: &[u8]| {
    let Some((baseline, bytes)) = netcode_fuzz::split_delta_input(data) else {
        return;
    };
    let schema = netcode_fuzz::schema();
    let Ok(snapshot) = delta::decode(&schema, bytes, Some(&baseline)) else {
        return;
    };
    // A full snapshot ignores the baseline, and so does its re-encoding (against the
    // baseline it could list more than `MAX_ENTITIES` changes and removals).
    let against = match delta::peek_header(bytes) {
        Ok(Header::Delta { baseline_low, age }) => {
            assert_eq!(baseline_low, baseline.tick as u16, "delta names another baseline");
            assert_eq!(
                snapshot.tick,
                baseline.tick.wrapping_add(age),
                "tick is not baseline + age"
            );
            Some(&baseline)
        }
        Ok(Header::Full { tick }) => {
            assert_eq!(snapshot.tick, tick);
            None
        }
        Err(e) => panic!("decoded, yet the header does not: {e}"),
    };
    let bytes = delta::encode(&schema, &snapshot, against).expect("a decoded snapshot re-encodes");
    let again = delta::decode(&schema, &bytes, against).expect("a re-encoded snapshot decodes");
    assert_eq!(again, snapshot, "decode(encode(s, b), b) != s");
});
