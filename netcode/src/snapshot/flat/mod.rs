//! The flat codec: a serde value of a fixed shape as one number per leaf field, and back.
//!
//! Snapshots quantise numbers, not Rust values. [`to_values`] turns any `Serialize` value
//! whose shape does not depend on its contents (structs, tuples, fixed-size arrays,
//! newtypes, integers, floats, bools and fieldless enums, nested as deep as needed) into a
//! `Vec<f32>`, [`from_values`] rebuilds the value, and [`shape`] learns a type's leaves
//! (their paths and kinds) without an instance, by deserializing a probe. Each leaf then
//! travels quantised by a [`Quant`], [`default_quant`] when the game chooses none.
//!
//! Anything whose shape varies (strings, options, `Vec`s, maps, enums with data) is
//! [`FlatError::Unsupported`] from all three functions, never a panic.

mod de;
mod ser;

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::quant::Quant;
use de::Machine;
use ser::Flattener;

/// Largest magnitude up to which an f32 holds every integer exactly (2^24).
pub const EXACT_INT_LIMIT: f64 = (1u64 << f32::MANTISSA_DIGITS) as f64;

/// Range of a float leaf's default quantisation: `-DEFAULT_FLOAT_LIMIT..=DEFAULT_FLOAT_LIMIT`.
pub const DEFAULT_FLOAT_LIMIT: f32 = 1_000_000.0;

/// Resolution of a float leaf's default quantisation: 2 000 000 001 codes, 31 bits per value.
/// Beyond ±8192 the f32 itself is coarser than this step.
pub const DEFAULT_FLOAT_STEP: f32 = 0.001;

/// Resolution of every discrete leaf's default quantisation: whole numbers.
const WHOLE_STEP: f32 = 1.0;

/// What one leaf of a flat value is.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// f32 or f64 (an f64 travels as an f32).
    Float,
    /// An integer type; `min`/`max` are the type's range clipped to what an f32 holds
    /// exactly (±[`EXACT_INT_LIMIT`]).
    Int {
        /// The smallest value (the type's, or -2^24).
        min: f64,
        /// The largest value (the type's, or 2^24).
        max: f64,
    },
    /// bool (0 or 1).
    Bool,
    /// The variant index of a fieldless (unit-variant) enum: `0..count`.
    Variant {
        /// How many variants the enum has.
        count: u32,
    },
}

/// One leaf field: its path (e.g. "x", "pos.0", "inner.speed", "" for a bare f32) and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// Struct field names and tuple/array indices from the root, joined by '.'; newtypes
    /// add no segment.
    pub path: String,
    /// What the leaf is.
    pub leaf: Leaf,
}

/// Errors of the flat codec.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FlatError {
    /// A type whose shape is not fixed, or that has no number form (strings, byte strings,
    /// chars, options, sequences and maps, enums with data, 128-bit integers).
    #[error("{what} is not supported by the flat codec")]
    Unsupported {
        /// What was met.
        what: &'static str,
    },
    /// Not one value per leaf.
    #[error("expected {expected} values, got {got}")]
    Length {
        /// How many leaves the type has.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// NaN or an infinity where an integer, bool or variant index belongs.
    #[error("{value} at {} is not a finite number", at(.path))]
    NotFinite {
        /// The leaf's path.
        path: String,
        /// The value given.
        value: f32,
    },
    /// A number that, rounded, does not fit its integer type, is not 0 or 1 for a bool, or
    /// is not a variant index.
    #[error("{value} at {} is out of range", at(.path))]
    OutOfRange {
        /// The leaf's path.
        path: String,
        /// The value given.
        value: f32,
    },
    /// An error a `Serialize` or `Deserialize` implementation raised.
    #[error("{0}")]
    Custom(String),
}

/// A leaf's path for an error message.
fn at(path: &str) -> String {
    if path.is_empty() {
        "the root".to_owned()
    } else {
        format!("`{path}`")
    }
}

impl serde::ser::Error for FlatError {
    fn custom<T: Display>(msg: T) -> Self {
        FlatError::Custom(msg.to_string())
    }
}

impl serde::de::Error for FlatError {
    fn custom<T: Display>(msg: T) -> Self {
        FlatError::Custom(msg.to_string())
    }
}

/// The leaves of `T`, learned without an instance (by deserializing a probe).
///
/// The probe chooses variant 0 of every enum; each other variant is probed once more, so
/// an enum with any data-carrying variant is unsupported even when variant 0 is a unit.
pub fn shape<T: DeserializeOwned>() -> Result<Vec<FieldInfo>, FlatError> {
    let leaves = probe::<T>(None)?;
    let enum_counts = leaves.iter().filter_map(|field| match field.leaf {
        Leaf::Variant { count } => Some(count),
        _ => None,
    });
    for (occurrence, count) in enum_counts.enumerate() {
        for variant in 1..count {
            probe::<T>(Some((occurrence, variant)))?;
        }
    }
    Ok(leaves)
}

/// The leaves `T` reports when enum occurrence `pick.0` chooses variant `pick.1`.
fn probe<T: DeserializeOwned>(pick: Option<(usize, u32)>) -> Result<Vec<FieldInfo>, FlatError> {
    let mut machine = Machine::probe(pick);
    T::deserialize(&mut machine)?;
    Ok(machine.into_leaves())
}

/// The leaf values of `value`, in the order of [`shape::<T>()`](shape).
///
/// Integers beyond ±2^24 become the nearest f32; an f64 becomes the nearest f32.
pub fn to_values<T: Serialize>(value: &T) -> Result<Vec<f32>, FlatError> {
    let mut flattener = Flattener::default();
    value.serialize(&mut flattener)?;
    Ok(flattener.values)
}

/// The value from leaf values (integers are rounded to the nearest whole number; a bool is
/// value >= 0.5; a variant index is rounded and must be < count).
///
/// A rounded integer must fit its type (an i64 or u64 beyond ±2^24 is accepted if it does),
/// a bool must round to 0 or 1; floats pass through as they are, NaN included.
pub fn from_values<T: DeserializeOwned>(values: &[f32]) -> Result<T, FlatError> {
    let mut machine = Machine::read(values);
    let value = T::deserialize(&mut machine)?;
    machine.finish()?;
    Ok(value)
}

/// The quantisation of a leaf whose game chose none: a float within
/// ±[`DEFAULT_FLOAT_LIMIT`] to [`DEFAULT_FLOAT_STEP`], anything discrete over its whole
/// range in whole steps (an integer's range clipped to ±2^24, a variant index within
/// `0..count`, at least `0..=1`).
pub fn default_quant(leaf: &Leaf) -> Quant {
    let (min, max, step) = match *leaf {
        Leaf::Float => (-DEFAULT_FLOAT_LIMIT, DEFAULT_FLOAT_LIMIT, DEFAULT_FLOAT_STEP),
        Leaf::Int { min, max } => {
            let (min, max) = whole_range(min, max);
            (min, max, WHOLE_STEP)
        }
        Leaf::Bool => (0.0, 1.0, WHOLE_STEP),
        Leaf::Variant { count } => {
            let last = f64::from(count.saturating_sub(1)).clamp(1.0, EXACT_INT_LIMIT);
            (0.0, last as f32, WHOLE_STEP)
        }
    };
    // Every range above is finite, non-empty and at most 2^25 + 1 whole steps or
    // 2 * 10^9 float steps, which `Quant::new` always accepts.
    Quant::new(min, max, step).expect("default quantisations are valid")
}

/// The whole numbers within `[min, max]` and ±2^24, as a range `Quant::new` accepts
/// (at least one step wide; NaN bounds mean the limits).
fn whole_range(min: f64, max: f64) -> (f32, f32) {
    let limit = EXACT_INT_LIMIT;
    let lo = if min.is_nan() {
        -limit
    } else {
        min.clamp(-limit, limit).ceil()
    };
    let hi = if max.is_nan() {
        limit
    } else {
        max.clamp(-limit, limit).floor()
    };
    let (lo, hi) = match (hi > lo, lo < limit) {
        (true, _) => (lo, hi),
        (false, true) => (lo, lo + 1.0),
        (false, false) => (limit - 1.0, limit),
    };
    (lo as f32, hi as f32)
}

/// Whether a leaf takes discrete values (everything but [`Leaf::Float`]): the plugin
/// interpolates float leaves and snaps discrete ones.
pub fn is_discrete(leaf: &Leaf) -> bool {
    !matches!(leaf, Leaf::Float)
}

#[cfg(test)]
mod tests;
