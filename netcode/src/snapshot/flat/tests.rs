use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Basic {
    x: f32,
    alive: bool,
    hp: u8,
    dz: i16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    speed: f64,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pair(f32, u16);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Nested {
    pos: [f32; 3],
    inner: Inner,
    pair: (i8, bool),
    tagged: Pair,
    marker: Marker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Marker;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Mode {
    Idle,
    Walk,
    Run,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Moving {
    mode: Mode,
    heading: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meters(f32);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wrapped {
    range: Meters,
    id: u64,
}

/// Variant 0 is a unit, so only the probes of the other variants see the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shot {
    Miss,
    Hit(f32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Command {
    Move { x: f32 },
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Named {
    hp: u8,
    name: String,
}

fn paths(fields: &[FieldInfo]) -> Vec<&str> {
    fields.iter().map(|field| field.path.as_str()).collect()
}

fn int(min: f64, max: f64) -> Leaf {
    Leaf::Int { min, max }
}

#[test]
fn a_plain_struct_round_trips() {
    let fields = shape::<Basic>().unwrap();
    assert_eq!(paths(&fields), ["x", "alive", "hp", "dz"]);
    let leaves: Vec<Leaf> = fields.into_iter().map(|field| field.leaf).collect();
    assert_eq!(
        leaves,
        [Leaf::Float, Leaf::Bool, int(0.0, 255.0), int(-32768.0, 32767.0)]
    );

    let value = Basic {
        x: -3.25,
        alive: true,
        hp: 200,
        dz: -1234,
    };
    let values = to_values(&value).unwrap();
    assert_eq!(values, [-3.25, 1.0, 200.0, -1234.0]);
    assert_eq!(from_values::<Basic>(&values).unwrap(), value);

    // Quantised values come back slightly off: integers round, a bool is >= 0.5.
    let noisy = from_values::<Basic>(&[0.5, 0.4, 199.6, -1233.7]).unwrap();
    assert_eq!(
        noisy,
        Basic {
            x: 0.5,
            alive: false,
            hp: 200,
            dz: -1234
        }
    );
    assert!(from_values::<Basic>(&[0.0, 0.5, 0.0, 0.0]).unwrap().alive);
}

#[test]
fn nested_tuple_and_array_paths_are_named() {
    let fields = shape::<Nested>().unwrap();
    assert_eq!(
        paths(&fields),
        [
            "pos.0",
            "pos.1",
            "pos.2",
            "inner.speed",
            "inner.count",
            "pair.0",
            "pair.1",
            "tagged.0",
            "tagged.1"
        ]
    );
    assert_eq!(fields[3].leaf, Leaf::Float, "an f64 is a float leaf");
    assert_eq!(fields[4].leaf, int(0.0, EXACT_INT_LIMIT), "a u32 is clipped to ±2^24");

    let value = Nested {
        pos: [1.5, -2.0, 3.25],
        inner: Inner { speed: 7.5, count: 42 },
        pair: (-7, true),
        tagged: Pair(0.125, 65_535),
        marker: Marker,
    };
    let values = to_values(&value).unwrap();
    assert_eq!(values, [1.5, -2.0, 3.25, 7.5, 42.0, -7.0, 1.0, 0.125, 65_535.0]);
    assert_eq!(from_values::<Nested>(&values).unwrap(), value);
}

#[test]
fn bare_values_and_units() {
    assert_eq!(
        shape::<f32>().unwrap(),
        [FieldInfo {
            path: String::new(),
            leaf: Leaf::Float
        }]
    );
    assert_eq!(
        shape::<[u8; 2]>().unwrap()[1],
        FieldInfo {
            path: "1".into(),
            leaf: int(0.0, 255.0)
        }
    );
    assert_eq!(shape::<Marker>().unwrap(), []);
    assert_eq!(shape::<()>().unwrap(), []);
    assert_eq!(to_values(&Marker).unwrap(), Vec::<f32>::new());
    assert_eq!(from_values::<Marker>(&[]).unwrap(), Marker);
    assert_eq!(from_values::<[f32; 0]>(&[]).unwrap(), [0f32; 0]);
}

#[test]
fn a_fieldless_enum_is_one_variant_leaf() {
    let fields = shape::<Moving>().unwrap();
    assert_eq!(
        fields[0],
        FieldInfo {
            path: "mode".into(),
            leaf: Leaf::Variant { count: 3 }
        }
    );
    assert_eq!(fields[1].path, "heading");
    assert_eq!(
        shape::<Mode>().unwrap(),
        [FieldInfo {
            path: String::new(),
            leaf: Leaf::Variant { count: 3 }
        }]
    );

    for (mode, index) in [(Mode::Idle, 0.0), (Mode::Walk, 1.0), (Mode::Run, 2.0)] {
        let value = Moving { mode, heading: 0.75 };
        let values = to_values(&value).unwrap();
        assert_eq!(values, [index, 0.75]);
        assert_eq!(from_values::<Moving>(&values).unwrap(), value);
    }
    assert_eq!(from_values::<Mode>(&[1.3]).unwrap(), Mode::Walk, "indices round");
    assert!(matches!(
        from_values::<Moving>(&[3.0, 0.0]),
        Err(FlatError::OutOfRange { ref path, value }) if path == "mode" && value == 3.0
    ));
    assert!(matches!(
        from_values::<Mode>(&[-1.0]),
        Err(FlatError::OutOfRange { .. })
    ));
}

#[test]
fn a_newtype_adds_no_path_segment() {
    assert_eq!(
        shape::<Meters>().unwrap(),
        [FieldInfo {
            path: String::new(),
            leaf: Leaf::Float
        }]
    );
    let fields = shape::<Wrapped>().unwrap();
    assert_eq!(paths(&fields), ["range", "id"]);
    assert_eq!(
        fields[1].leaf,
        int(0.0, EXACT_INT_LIMIT),
        "a u64 is clipped to what an f32 holds"
    );
    assert_eq!(shape::<i64>().unwrap()[0].leaf, int(-EXACT_INT_LIMIT, EXACT_INT_LIMIT));

    let value = Wrapped {
        range: Meters(12.5),
        id: 9,
    };
    assert_eq!(to_values(&value).unwrap(), [12.5, 9.0]);
    assert_eq!(from_values::<Wrapped>(&[12.5, 9.0]).unwrap(), value);
    assert_eq!(from_values::<Meters>(&[4.0]).unwrap(), Meters(4.0));
    // Beyond 2^24 but within the type: accepted.
    assert_eq!(from_values::<u64>(&[1e10]).unwrap(), 10_000_000_000);
}

fn assert_unsupported<T>(value: &T, values: &[f32])
where
    T: Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = std::any::type_name::<T>();
    assert!(
        matches!(shape::<T>(), Err(FlatError::Unsupported { .. })),
        "shape of {name}"
    );
    assert!(
        matches!(to_values(value), Err(FlatError::Unsupported { .. })),
        "to_values of {name}"
    );
    let back = from_values::<T>(values);
    assert!(
        matches!(back, Err(FlatError::Unsupported { .. })),
        "from_values of {name}: {back:?}"
    );
}

#[test]
fn varying_shapes_are_unsupported_everywhere() {
    assert_unsupported(&String::from("hi"), &[0.0]);
    assert_unsupported(&vec![1.0f32, 2.0], &[1.0, 2.0]);
    assert_unsupported(&Some(1.0f32), &[1.0]);
    assert_unsupported(&Option::<f32>::None, &[]);
    assert_unsupported(&Shot::Hit(1.0), &[1.0, 1.0]);
    assert_unsupported(&Command::Move { x: 1.0 }, &[0.0, 1.0]);
    assert_unsupported(
        &Named {
            hp: 1,
            name: "a".into(),
        },
        &[1.0, 0.0],
    );
    assert_unsupported(&BTreeMap::from([(1u8, 2.0f32)]), &[1.0, 2.0]);
    assert_unsupported(&'x', &[120.0]);
    assert_unsupported(&7u128, &[7.0]);
    // The unit variant of a mixed enum still serializes, but its type has no flat shape.
    assert!(to_values(&Shot::Miss).is_ok());
    assert!(matches!(
        shape::<Shot>(),
        Err(FlatError::Unsupported { what }) if what == "enum variant with data"
    ));
}

#[test]
fn a_wrong_number_of_values_is_a_length_error() {
    let short = from_values::<Basic>(&[1.0, 0.0, 3.0]);
    assert_eq!(short, Err(FlatError::Length { expected: 4, got: 3 }));
    let long = from_values::<Basic>(&[1.0, 0.0, 3.0, 4.0, 5.0]);
    assert_eq!(long, Err(FlatError::Length { expected: 4, got: 5 }));
    assert_eq!(
        from_values::<Marker>(&[1.0]),
        Err(FlatError::Length { expected: 0, got: 1 })
    );
    assert_eq!(
        from_values::<Nested>(&[]),
        Err(FlatError::Length { expected: 9, got: 0 })
    );
}

#[test]
fn numbers_that_do_not_fit_are_typed_errors() {
    let out = from_values::<Basic>(&[0.0, 0.0, 256.0, 0.0]);
    assert_eq!(
        out,
        Err(FlatError::OutOfRange {
            path: "hp".into(),
            value: 256.0
        })
    );
    let out = from_values::<Basic>(&[0.0, 0.0, 0.0, -32_769.0]);
    assert_eq!(
        out,
        Err(FlatError::OutOfRange {
            path: "dz".into(),
            value: -32_769.0
        })
    );
    let out = from_values::<Basic>(&[0.0, 2.0, 0.0, 0.0]);
    assert_eq!(
        out,
        Err(FlatError::OutOfRange {
            path: "alive".into(),
            value: 2.0
        })
    );
    assert!(matches!(from_values::<u32>(&[-1.0]), Err(FlatError::OutOfRange { .. })));
    assert!(matches!(
        from_values::<i64>(&[f32::MAX]),
        Err(FlatError::OutOfRange { .. })
    ));

    let nan = from_values::<Basic>(&[0.0, 0.0, f32::NAN, 0.0]);
    assert!(matches!(nan, Err(FlatError::NotFinite { ref path, value }) if path == "hp" && value.is_nan()));
    let inf = from_values::<Nested>(&[0.0, 0.0, 0.0, 0.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0]);
    assert!(matches!(inf, Err(FlatError::NotFinite { ref path, .. }) if path == "inner.count"));
    assert!(matches!(
        from_values::<Mode>(&[f32::NAN]),
        Err(FlatError::NotFinite { .. })
    ));
    // Float leaves pass through whatever they are given.
    assert!(from_values::<f32>(&[f32::NAN]).unwrap().is_nan());
}

#[test]
fn errors_read_as_sentences_for_people() {
    let out = FlatError::OutOfRange {
        path: "hp".into(),
        value: 256.0,
    };
    assert_eq!(out.to_string(), "256 at `hp` is out of range");
    let nan = FlatError::NotFinite {
        path: String::new(),
        value: f32::NAN,
    };
    assert_eq!(nan.to_string(), "NaN at the root is not a finite number");
    assert_eq!(
        FlatError::Length { expected: 4, got: 3 }.to_string(),
        "expected 4 values, got 3"
    );
    assert_eq!(
        FlatError::Unsupported { what: "map" }.to_string(),
        "map is not supported by the flat codec"
    );
    let custom = <FlatError as serde::de::Error>::custom("bad input");
    assert_eq!(custom, FlatError::Custom("bad input".into()));
    assert_eq!(<FlatError as serde::ser::Error>::custom("oops").to_string(), "oops");
}

fn assert_round_trips(leaf: &Leaf, sample: f32) {
    let quant = default_quant(leaf);
    assert!(quant.bits() <= crate::snapshot::quant::MAX_BITS);
    let back = quant.decode(quant.encode(sample)).unwrap();
    assert!(
        (back - sample).abs() <= quant.max_error(),
        "{leaf:?}: {sample} -> {back}"
    );
    if is_discrete(leaf) {
        assert_eq!(back, sample, "{leaf:?}: a whole number comes back exactly");
    }
}

#[test]
fn default_quantisations_carry_every_leaf_kind() {
    let float = default_quant(&Leaf::Float);
    assert_eq!(float.bits(), 31, "±10^6 to a thousandth");
    assert!((float.max_error() - DEFAULT_FLOAT_STEP / 2.0).abs() < 1e-9);
    assert!(!is_discrete(&Leaf::Float));
    for sample in [-123.456, 0.0, 0.001, 4096.5] {
        assert_round_trips(&Leaf::Float, sample);
    }

    let u8_leaf = shape::<u8>().unwrap()[0].leaf.clone();
    assert_eq!(default_quant(&u8_leaf).bits(), 8);
    assert_round_trips(&u8_leaf, 255.0);
    let i64_leaf = shape::<i64>().unwrap()[0].leaf.clone();
    assert_eq!(default_quant(&i64_leaf).bits(), 26, "2^25 + 1 codes");
    assert_round_trips(&i64_leaf, -16_777_216.0);
    assert_round_trips(&i64_leaf, 1_234_567.0);

    assert_eq!(default_quant(&Leaf::Bool).bits(), 1);
    assert_round_trips(&Leaf::Bool, 1.0);
    assert_round_trips(&Leaf::Variant { count: 3 }, 2.0);
    assert_eq!(default_quant(&Leaf::Variant { count: 3 }).bits(), 2);
    assert_round_trips(&Leaf::Variant { count: 1 }, 0.0);
    assert!(is_discrete(&Leaf::Bool) && is_discrete(&Leaf::Variant { count: 1 }));

    // Leaves no type produces still get a usable quantisation, not a panic.
    for (leaf, lowest) in [
        (int(f64::NAN, f64::NAN), -16_777_216.0),
        (int(5.0, 5.0), 5.0),
        (int(1e30, 1e30), 16_777_215.0),
        (int(3.0, -3.0), 3.0),
        (Leaf::Variant { count: 0 }, 0.0),
        (Leaf::Variant { count: u32::MAX }, 0.0),
    ] {
        assert_eq!(default_quant(&leaf).decode(0), Ok(lowest), "{leaf:?}");
        assert_round_trips(&leaf, lowest);
        assert_round_trips(&leaf, lowest + 1.0);
    }
}
