//! `netcode::snapshot::delta::decode(schema, bytes, None)` on arbitrary bytes: a snapshot
//! with no baseline, as a heartbeat's stream or a reliable full shared snapshot arrives.
//!
//! Checks: it never panics and stays within the allocation limits; `peek_header` agrees
//! with a successful decode (a full snapshot of that tick); every decoded entity's values
//! convert back through the schema; the snapshot re-encodes as a full snapshot that
//! decodes to an equal one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcode::snapshot::delta::{self, Header};

fuzz_target!(|data: &[u8]| {
    let schema = netcode_fuzz::schema();
    let header = delta::peek_header(data);
    let Ok(snapshot) = delta::decode(&schema, data, None) else {
        return;
    };
    assert_eq!(
        header,
        Ok(Header::Full { tick: snapshot.tick }),
        "header disagrees with decode"
    );
    for entity in snapshot.entities.values() {
        schema.values(entity).expect("decoded codes are in range");
    }
    let bytes = delta::encode(&schema, &snapshot, None).expect("a decoded snapshot re-encodes");
    let again = delta::decode(&schema, &bytes, None).expect("a re-encoded snapshot decodes");
    assert_eq!(again, snapshot, "decode(encode(s)) != s");
});
