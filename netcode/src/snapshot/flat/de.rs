//! The deserializing half of the flat codec: one machine that either probes a type's
//! shape (recording each leaf, answering with zeros) or reads a value from leaf values.

use serde::de::value::U32Deserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{EXACT_INT_LIMIT, FieldInfo, FlatError, Leaf};

/// One step of a leaf's path: a struct field's name or a tuple/array index.
#[derive(Debug, Clone, Copy)]
enum Segment {
    Field(&'static str),
    Index(usize),
}

/// Where the leaf values come from.
#[derive(Debug)]
enum Mode<'v> {
    /// Learning the shape: every leaf is recorded and answered with zero, except the enum
    /// occurrence `pick.0` (counted in order), which is answered with variant `pick.1`.
    Probe {
        leaves: Vec<FieldInfo>,
        pick: Option<(usize, u32)>,
        enums: usize,
    },
    /// Reading a value. Past the end of `values` leaves read as zero, so that the number of
    /// leaves the type really has can still be counted for the length error.
    Read { values: &'v [f32], next: usize },
}

/// The serde deserializer of the flat codec.
#[derive(Debug)]
pub(super) struct Machine<'v> {
    mode: Mode<'v>,
    path: Vec<Segment>,
}

impl<'v> Machine<'v> {
    /// A probe; `pick` makes the given enum occurrence choose the given variant.
    pub(super) fn probe(pick: Option<(usize, u32)>) -> Self {
        Machine {
            mode: Mode::Probe {
                leaves: Vec::new(),
                pick,
                enums: 0,
            },
            path: Vec::new(),
        }
    }

    /// A reader of `values`.
    pub(super) fn read(values: &'v [f32]) -> Self {
        Machine {
            mode: Mode::Read { values, next: 0 },
            path: Vec::new(),
        }
    }

    /// The leaves a probe recorded (none for a reader).
    pub(super) fn into_leaves(self) -> Vec<FieldInfo> {
        match self.mode {
            Mode::Probe { leaves, .. } => leaves,
            Mode::Read { .. } => Vec::new(),
        }
    }

    /// Checks that a reader consumed exactly its values.
    pub(super) fn finish(&self) -> Result<(), FlatError> {
        match self.mode {
            Mode::Read { values, next } if next != values.len() => Err(FlatError::Length {
                expected: next,
                got: values.len(),
            }),
            _ => Ok(()),
        }
    }

    /// The current path, segments joined by '.'.
    fn path_string(path: &[Segment]) -> String {
        let parts: Vec<String> = path
            .iter()
            .map(|segment| match segment {
                Segment::Field(name) => (*name).to_owned(),
                Segment::Index(index) => index.to_string(),
            })
            .collect();
        parts.join(".")
    }

    /// The next leaf's value: recorded and answered by a probe, taken by a reader.
    fn leaf(&mut self, leaf: Leaf) -> Result<f32, FlatError> {
        let Machine { mode, path } = self;
        match mode {
            Mode::Probe { leaves, pick, enums } => {
                let mut value = 0.0;
                if let Leaf::Variant { .. } = leaf {
                    if let Some((occurrence, variant)) = *pick
                        && occurrence == *enums
                    {
                        value = variant as f32;
                    }
                    *enums += 1;
                }
                leaves.push(FieldInfo {
                    path: Self::path_string(path),
                    leaf,
                });
                Ok(value)
            }
            Mode::Read { values, next } => {
                let value = values.get(*next).copied().unwrap_or(0.0);
                *next += 1;
                Ok(value)
            }
        }
    }

    /// `value` rounded to a whole number within `min..=max`.
    fn whole(&self, value: f32, min: i128, max: i128) -> Result<i128, FlatError> {
        if !value.is_finite() {
            return Err(FlatError::NotFinite {
                path: Self::path_string(&self.path),
                value,
            });
        }
        // Saturates only beyond ±2^127, which no supported type holds.
        let whole = value.round() as i128;
        if whole < min || whole > max {
            return Err(self.out_of_range(value));
        }
        Ok(whole)
    }

    /// The out-of-range error of `value` at the current path.
    fn out_of_range(&self, value: f32) -> FlatError {
        FlatError::OutOfRange {
            path: Self::path_string(&self.path),
            value,
        }
    }

    /// The next leaf as an integer of the type of `min` and `max`.
    fn int<T>(&mut self, min: T, max: T) -> Result<T, FlatError>
    where
        T: Copy + Into<i128> + TryFrom<i128>,
    {
        let (lo, hi) = (min.into(), max.into());
        let leaf = Leaf::Int {
            min: (lo as f64).max(-EXACT_INT_LIMIT),
            max: (hi as f64).min(EXACT_INT_LIMIT),
        };
        let value = self.leaf(leaf)?;
        let whole = self.whole(value, lo, hi)?;
        T::try_from(whole).map_err(|_| self.out_of_range(value))
    }

    /// The next leaf as a bool (a value that rounds to 0 or 1).
    fn bool(&mut self) -> Result<bool, FlatError> {
        let value = self.leaf(Leaf::Bool)?;
        Ok(self.whole(value, 0, 1)? == 1)
    }

    /// The next leaf as the index of one of `count` unit variants.
    fn variant(&mut self, count: u32) -> Result<u32, FlatError> {
        let value = self.leaf(Leaf::Variant { count })?;
        let index = self.whole(value, 0, i128::from(count) - 1)?;
        u32::try_from(index).map_err(|_| self.out_of_range(value))
    }

    /// Runs `visit` with `segment` appended to the path.
    fn at<R>(&mut self, segment: Segment, visit: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(segment);
        let result = visit(self);
        self.path.pop();
        result
    }
}

/// The elements of a struct (named by `names`) or of a tuple, tuple struct or array.
struct Elements<'a, 'v> {
    machine: &'a mut Machine<'v>,
    names: Option<&'static [&'static str]>,
    len: usize,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, '_> {
    type Error = FlatError;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, FlatError> {
        if self.index >= self.len {
            return Ok(None);
        }
        let segment = match self.names.and_then(|names| names.get(self.index)) {
            Some(name) => Segment::Field(name),
            None => Segment::Index(self.index),
        };
        self.index += 1;
        self.machine.at(segment, |machine| seed.deserialize(machine)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len.saturating_sub(self.index))
    }
}

/// The variant choice of a fieldless enum of `count` variants.
struct Choice<'a, 'v> {
    machine: &'a mut Machine<'v>,
    count: u32,
}

impl<'de> de::EnumAccess<'de> for Choice<'_, '_> {
    type Error = FlatError;
    type Variant = UnitOnly;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, UnitOnly), FlatError> {
        let index = self.machine.variant(self.count)?;
        let tag: U32Deserializer<FlatError> = index.into_deserializer();
        Ok((seed.deserialize(tag)?, UnitOnly))
    }
}

/// The content of a chosen variant: only unit variants are supported.
struct UnitOnly;

/// What a data-carrying variant is reported as.
const DATA_VARIANT: &str = "enum variant with data";

impl<'de> de::VariantAccess<'de> for UnitOnly {
    type Error = FlatError;

    fn unit_variant(self) -> Result<(), FlatError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _seed: S) -> Result<S::Value, FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }
}

/// Deserializer methods that read one integer leaf of their type.
macro_rules! ints {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FlatError> {
            visitor.$visit(self.int(<$ty>::MIN, <$ty>::MAX)?)
        }
    )*};
}

/// Deserializer methods for what the flat codec does not support.
macro_rules! unsupported {
    ($($method:ident => $what:literal),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FlatError> {
            Err(FlatError::Unsupported { what: $what })
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Machine<'_> {
    type Error = FlatError;

    ints! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    unsupported! {
        deserialize_any => "self-describing data",
        deserialize_i128 => "128-bit integer",
        deserialize_u128 => "128-bit integer",
        deserialize_char => "char",
        deserialize_str => "string",
        deserialize_string => "string",
        deserialize_bytes => "byte string",
        deserialize_byte_buf => "byte string",
        deserialize_option => "option",
        deserialize_seq => "sequence of unknown length",
        deserialize_map => "map",
        deserialize_identifier => "identifier",
        deserialize_ignored_any => "ignored value",
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_bool(self.bool()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_f32(self.leaf(Leaf::Float)?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_f64(f64::from(self.leaf(Leaf::Float)?))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FlatError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, FlatError> {
        visitor.visit_seq(Elements {
            machine: self,
            names: None,
            len,
            index: 0,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, FlatError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FlatError> {
        visitor.visit_seq(Elements {
            machine: self,
            names: Some(fields),
            len: fields.len(),
            index: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FlatError> {
        let count = u32::try_from(variants.len()).map_err(|_| FlatError::Unsupported {
            what: "enum with over 2^32 variants",
        })?;
        if count == 0 {
            return Err(FlatError::Unsupported {
                what: "enum without variants",
            });
        }
        visitor.visit_enum(Choice { machine: self, count })
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}
