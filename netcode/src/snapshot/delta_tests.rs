use super::*;

fn schema() -> (Schema, u8) {
    let mut s = Schema::default();
    let pos = Quant::new(-50.0, 50.0, 0.01).unwrap();
    let kind = s.add_kind(vec![pos, pos, Quant::angle(9).unwrap()]).unwrap();
    (s, kind)
}

fn world(tick: u32, kind: u8, moving: u32, idle: u32) -> Snapshot {
    let mut entities = BTreeMap::new();
    for id in 0..moving + idle {
        let x = if id < moving { tick * 3 + id } else { id };
        entities.insert(
            id,
            EntityState {
                kind,
                codes: vec![x % 10_000, id, id % 512],
            },
        );
    }
    Snapshot { tick, entities }
}

#[test]
fn deltas_against_acked_baselines_round_trip_and_are_small() {
    let (schema, kind) = schema();
    let (mut tx, mut rx) = (DeltaSender::default(), DeltaReceiver::default());
    let full = tx.encode(&schema, &world(1, kind, 32, 32)).unwrap();
    assert_eq!(rx.decode(&schema, &full).unwrap(), Some(world(1, kind, 32, 32)));
    tx.ack(1);
    let delta = tx.encode(&schema, &world(2, kind, 32, 32)).unwrap();
    assert_eq!(rx.decode(&schema, &delta).unwrap(), Some(world(2, kind, 32, 32)));
    assert!(
        delta.len() * 2 < full.len(),
        "idle entities cost nothing: {} vs {}",
        delta.len(),
        full.len()
    );
    // Nothing changed at all: baseline flag, its low tick bits and age, two counts =
    // 1 + 16 + 6 + 2 * 6 = 35 bits.
    tx.ack(2);
    let mut same = world(2, kind, 32, 32);
    same.tick = 3;
    assert_eq!(tx.encode(&schema, &same).unwrap().len(), 5);
}

#[test]
fn a_large_world_is_spread_within_the_budget() {
    let (schema, kind) = schema();
    let (mut tx, mut rx) = (DeltaSender::default(), DeltaReceiver::default());
    let budget = 600;
    let mut got = Snapshot::default();
    for tick in 1..=40 {
        let world = world(tick, kind, 500, 0);
        let bytes = tx.encode_within(&schema, &world, budget).unwrap();
        assert!(bytes.len() <= budget, "{} bytes at tick {tick}", bytes.len());
        got = rx.decode(&schema, &bytes).unwrap().expect("in order");
        tx.ack(tick);
    }
    // Every entity arrived, and none is more than a few rounds old.
    assert_eq!(got.entities.len(), 500);
    let now = world(40, kind, 500, 0);
    let fresh = got
        .entities
        .iter()
        .filter(|(id, e)| now.entities.get(id) == Some(*e))
        .count();
    assert!(fresh > 0 && fresh < 500, "a round carries part of the world: {fresh}");
    // `world` writes x = 3 * tick + id: recover the tick each entity was last sent at.
    let oldest = got.entities.iter().map(|(id, e)| (e.codes[0] - id) / 3).min().unwrap();
    assert!(
        40 - oldest <= 10,
        "round robin: every entity updated within 10 rounds, oldest at {oldest}"
    );
}

#[test]
fn games_use_values_not_codes() {
    let (schema, kind) = schema();
    let e = schema.entity(kind, &[12.345, -7.0, 1.0]).unwrap();
    let back = schema.values(&e).unwrap();
    assert!((back[0] - 12.345).abs() <= 0.005 && (back[1] + 7.0).abs() <= 0.005);
    assert!(schema.entity(kind, &[1.0]).is_err(), "one value per field");
    assert!(schema.entity(9, &[1.0, 2.0, 3.0]).is_err(), "unknown kind");
}

#[test]
fn removed_entities_and_unknown_baselines() {
    let (schema, kind) = schema();
    let a = world(1, kind, 2, 2);
    let mut b = world(2, kind, 2, 2);
    b.entities.remove(&3);
    let bytes = encode(&schema, &b, Some(&a)).unwrap();
    assert_eq!(decode(&schema, &bytes, Some(&a)).unwrap(), b);
    assert_eq!(decode(&schema, &bytes, None), Err(SnapshotError::UnknownBaseline(1)));
    let mut rx = DeltaReceiver::default();
    assert_eq!(rx.decode(&schema, &bytes), Err(SnapshotError::UnknownBaseline(1)));
}

#[test]
fn hostile_snapshots_are_errors() {
    let (schema, kind) = schema();
    let bytes = encode(&schema, &world(1, kind, 3, 0), None).unwrap();
    for n in 0..bytes.len() {
        assert!(decode(&schema, &bytes[..n], None).is_err(), "truncated at {n}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode(&schema, &longer, None), Err(SnapshotError::Trailing));
    // An out-of-range position code (beyond 10 000) is refused.
    let mut bad = world(1, kind, 1, 0);
    bad.entities.get_mut(&0).unwrap().codes[0] = 16_000;
    let bytes = encode(&schema, &bad, None).unwrap();
    assert_eq!(
        decode(&schema, &bytes, None),
        Err(SnapshotError::Quant(QuantError::OutOfRange))
    );
}
