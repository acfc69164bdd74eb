//! The serializing half of the flat codec: a serializer that appends one number per leaf.

use serde::Serialize;
use serde::ser::{self, Impossible};

use super::FlatError;

/// What a data-carrying variant is reported as.
const DATA_VARIANT: &str = "enum variant with data";

/// The serde serializer of the flat codec: collects leaf values in order.
#[derive(Debug, Default)]
pub(super) struct Flattener {
    /// The values so far.
    pub(super) values: Vec<f32>,
}

impl Flattener {
    /// Appends one leaf.
    fn push(&mut self, value: f32) -> Result<(), FlatError> {
        self.values.push(value);
        Ok(())
    }
}

/// Serializer methods that append one integer leaf (exact within ±2^24, rounded to the
/// nearest f32 beyond).
macro_rules! ints {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<(), FlatError> {
            self.push(v as f32)
        }
    )*};
}

impl ser::Serializer for &mut Flattener {
    type Ok = ();
    type Error = FlatError;
    type SerializeSeq = Impossible<(), FlatError>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), FlatError>;
    type SerializeMap = Impossible<(), FlatError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), FlatError>;

    ints! { serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64 }
    ints! { serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64 }

    fn serialize_bool(self, v: bool) -> Result<(), FlatError> {
        self.push(f32::from(u8::from(v)))
    }

    fn serialize_i128(self, _v: i128) -> Result<(), FlatError> {
        Err(FlatError::Unsupported {
            what: "128-bit integer",
        })
    }

    fn serialize_u128(self, _v: u128) -> Result<(), FlatError> {
        Err(FlatError::Unsupported {
            what: "128-bit integer",
        })
    }

    fn serialize_f32(self, v: f32) -> Result<(), FlatError> {
        self.push(v)
    }

    fn serialize_f64(self, v: f64) -> Result<(), FlatError> {
        self.push(v as f32)
    }

    fn serialize_char(self, _v: char) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: "char" })
    }

    fn serialize_str(self, _v: &str) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: "string" })
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: "byte string" })
    }

    fn serialize_none(self) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: "option" })
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: "option" })
    }

    fn serialize_unit(self) -> Result<(), FlatError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), FlatError> {
        Ok(())
    }

    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> Result<(), FlatError> {
        self.push(index as f32)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result<(), FlatError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, FlatError> {
        Err(FlatError::Unsupported {
            what: "sequence of unknown length",
        })
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self, FlatError> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, FlatError> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, FlatError> {
        Err(FlatError::Unsupported { what: "map" })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, FlatError> {
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, FlatError> {
        Err(FlatError::Unsupported { what: DATA_VARIANT })
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeTuple for &mut Flattener {
    type Ok = ();
    type Error = FlatError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlatError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), FlatError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Flattener {
    type Ok = ();
    type Error = FlatError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), FlatError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), FlatError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Flattener {
    type Ok = ();
    type Error = FlatError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, _key: &'static str, value: &T) -> Result<(), FlatError> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), FlatError> {
        Ok(())
    }
}
