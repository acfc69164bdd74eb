//! `netcode::dht_values`: a session record and a joiner's knock opened from arbitrary
//! bytes, as they come from DHT nodes anyone can run. Input: a control byte, then the
//! value. Bit 0 chooses the item (record or knock); with bit 1 the rest is opened as it
//! is (what a stranger or a node can plant); without it, it is first sealed with the
//! session's key as a member would seal it, so that the decoder and the checks behind the
//! seal are reached.
//!
//! Checks: no panic, within the allocation limits; a value that is not sealed with the
//! session's key never opens; one refused only as stale opens at its own date; whatever
//! opens is valid, seals again to a value of at most 1000 bytes (records after fitting)
//! that opens to the same, and cannot be opened as the other item.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::SessionKey;
use netcode::dht_values::{DhtKeys, ItemKind, Knock, NONCE_BYTES, OpenError, SessionRecord, seal_plain};
// Its global allocator enforces the allocation limit.
use netcode_fuzz as _;

const NOW: u64 = 1_800_000_000_000;
const MAX_VALUE: usize = 1000;

/// Opens at `NOW`, or at the value's own date when that was its only fault.
fn open_at_its_date<T>(open: impl Fn(u64) -> Result<T, OpenError>) -> Result<T, OpenError> {
    match open(NOW) {
        Err(OpenError::Stale { at_ms, .. }) => open(at_ms),
        other => other,
    }
}

fn check_record(keys: &DhtKeys, value: &[u8]) -> bool {
    let Ok(record) = open_at_its_date(|now| SessionRecord::open(keys, value, now, None)) else {
        return false;
    };
    assert!(record.is_valid(), "an opened record is valid");
    let at = record.published_at;
    let again = record.seal(keys, [9; NONCE_BYTES]);
    assert_eq!(SessionRecord::open(keys, &again, at, None), Ok(record.clone()), "seal(open(v)) opens to the same");
    assert!(Knock::open(keys, &again, at).is_err(), "a record does not open as a knock");
    let fitted = record.fitted();
    assert!(fitted.seal(keys, [9; NONCE_BYTES]).len() <= MAX_VALUE, "a fitted record fits");
    assert!(fitted.is_valid(), "a fitted record is valid");
    true
}

fn check_knock(keys: &DhtKeys, value: &[u8]) -> bool {
    let Ok(knock) = open_at_its_date(|now| Knock::open(keys, value, now)) else {
        return false;
    };
    let again = knock.seal(keys, [9; NONCE_BYTES]);
    assert!(again.len() <= MAX_VALUE, "a knock fits");
    assert_eq!(Knock::open(keys, &again, knock.at), Ok(knock.clone()), "seal(open(v)) opens to the same");
    assert!(SessionRecord::open(keys, &again, knock.at, None).is_err(), "a knock does not open as a record");
    true
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let keys = DhtKeys::derive(&SessionKey { id: 7, key: [7; 32] });
    let knock = control & 1 == 1;
    let kind = if knock { ItemKind::Knock } else { ItemKind::Record };
    let value = if control & 2 == 2 {
        rest.to_vec()
    } else {
        seal_plain(&keys, kind, rest, [control; NONCE_BYTES])
    };
    let opened = if knock { check_knock(&keys, &value) } else { check_record(&keys, &value) };
    if opened && control & 2 == 2 {
        // Only a value sealed with this session's key opens: another session's never does.
        let stranger = DhtKeys::derive(&SessionKey { id: 7, key: [8; 32] });
        assert!(!check_record(&stranger, &value) && !check_knock(&stranger, &value));
    }
});
