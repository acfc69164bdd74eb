//! Properties of quantisation, bit packing and delta snapshots: round trips are exact (or
//! within half a step), and any bytes decode to values or errors, never a panic.

use std::collections::BTreeMap;

use netcode::snapshot::delta::{self, EntityState, Schema, Snapshot};
use netcode::snapshot::quant::{BitReader, BitWriter, Quant};
use proptest::prelude::*;

fn schema() -> Schema {
    let mut s = Schema::default();
    let pos = Quant::new(-50.0, 50.0, 0.01).unwrap();
    s.add_kind(vec![pos, pos]).unwrap();
    s.add_kind(vec![Quant::angle(9).unwrap()]).unwrap();
    s
}

fn snapshot(tick: u32) -> impl Strategy<Value = Snapshot> {
    prop::collection::btree_map(
        0u32..40,
        prop_oneof![
            (0u32..=10_000, 0u32..=10_000).prop_map(|(x, y)| EntityState {
                kind: 0,
                codes: vec![x, y]
            }),
            (0u32..512).prop_map(|a| EntityState {
                kind: 1,
                codes: vec![a]
            }),
        ],
        0..30,
    )
    .prop_map(move |entities: BTreeMap<u32, EntityState>| Snapshot { tick, entities })
}

proptest! {
    // Seeded: the same cases every run (see `netcode_tests::proptest_config`).
    #![proptest_config(netcode_tests::proptest_config(256))]

    #[test]
    fn round_trip_within_half_a_step(v in -60.0f32..60.0, step in 0.001f32..1.0) {
        let q = Quant::new(-50.0, 50.0, step).unwrap();
        let mut w = BitWriter::new();
        w.write(q.encode(v), q.bits());
        let bytes = w.finish();
        let back = BitReader::new(&bytes).read_quant(&q).unwrap();
        let expected = v.clamp(-50.0, 50.0);
        prop_assert!((back - expected).abs() <= q.max_error() * 1.001 + 1e-4, "{} -> {}", v, back);
    }

    #[test]
    fn packed_sequences_round_trip(values in prop::collection::vec((any::<u32>(), 1u32..=32), 0..64)) {
        let mut w = BitWriter::new();
        for (v, bits) in &values {
            w.write(*v, *bits);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for (v, bits) in &values {
            let mask = if *bits == 32 { u32::MAX } else { (1 << bits) - 1 };
            prop_assert_eq!(r.read(*bits).unwrap(), v & mask);
        }
        prop_assert!(r.remaining_bits() < 8);
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let q = Quant::new(-50.0, 50.0, 0.01).unwrap();
        let mut r = BitReader::new(&bytes);
        while let Ok(v) = r.read_quant(&q) {
            prop_assert!((-50.0..=50.0).contains(&v));
        }
    }

    #[test]
    fn deltas_round_trip_exactly(base in snapshot(1), next in snapshot(2)) {
        let schema = schema();
        let full = delta::encode(&schema, &next, None).unwrap();
        prop_assert_eq!(&delta::decode(&schema, &full, None).unwrap(), &next);
        let d = delta::encode(&schema, &next, Some(&base)).unwrap();
        prop_assert_eq!(&delta::decode(&schema, &d, Some(&base)).unwrap(), &next);
    }

    #[test]
    fn any_bytes_are_a_snapshot_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256), base in snapshot(1)) {
        let schema = schema();
        let _ = delta::decode(&schema, &bytes, None);
        let _ = delta::decode(&schema, &bytes, Some(&base));
    }

    #[test]
    fn budgeted_deltas_fit_and_decode_to_what_the_sender_recorded(
        base in snapshot(1),
        next in snapshot(2),
        budget in 20usize..300,
        start in 0u32..40,
    ) {
        let schema = schema();
        let delta::Encoded { bytes, effective, .. } =
            delta::encode_within(&schema, &next, Some(&base), budget, start).unwrap();
        // The header and the removals always go; beyond them the budget holds.
        let mut removals_only = base.clone();
        removals_only.tick = next.tick;
        removals_only.entities.retain(|id, _| next.entities.contains_key(id));
        let mandatory = delta::encode(&schema, &removals_only, Some(&base)).unwrap().len();
        prop_assert!(bytes.len() <= budget.max(mandatory), "{} bytes for a budget of {}", bytes.len(), budget);
        prop_assert_eq!(&delta::decode(&schema, &bytes, Some(&base)).unwrap(), &effective);
    }
}
