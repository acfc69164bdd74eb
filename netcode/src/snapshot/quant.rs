//! Quantisation and bit packing: how precisely a field travels, in how few bits.
//!
//! A [`Quant`] maps a float in `[min, max]` to an integer code of `step` resolution (a
//! position to 1/100 unit within the arena bounds, an angle to 9 or 10 bits); a
//! [`BitWriter`] packs codes back to back and a [`BitReader`] unpacks them, refusing
//! truncated input and codes no encoder can produce.

use thiserror::Error;

/// Widest code a field may use, in bits.
pub const MAX_BITS: u32 = 32;

/// Errors of quantised decoding: every one means the bytes did not come from an honest
/// encoder with the same schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QuantError {
    /// The input ended in the middle of a field.
    #[error("snapshot truncated")]
    Truncated,
    /// A code beyond the field's range.
    #[error("quantised value out of range")]
    OutOfRange,
    /// A field declared with an impossible range or resolution.
    #[error("invalid quantisation: {0}")]
    InvalidSpec(&'static str),
}

/// How a float field travels: clamped to `[min, max]` and rounded to multiples of `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    min: f32,
    max: f32,
    step: f32,
    max_code: u32,
    bits: u32,
    /// Whether values wrap around (angles) instead of being clamped.
    wrap: bool,
}

impl Quant {
    /// A field within `[min, max]` at `step` resolution (for example `-50.0, 50.0, 0.01`).
    pub fn new(min: f32, max: f32, step: f32) -> Result<Self, QuantError> {
        if !(min.is_finite() && max.is_finite() && step.is_finite()) || max <= min || step <= 0.0 {
            return Err(QuantError::InvalidSpec("needs finite min < max and step > 0"));
        }
        // Round a near-integer quotient instead of ceiling it, so that f32 rounding of
        // `step` (0.01 is 0.0099999998) does not add a code.
        let exact = (f64::from(max) - f64::from(min)) / f64::from(step);
        let codes = if (exact - exact.round()).abs() < 1e-3 {
            exact.round()
        } else {
            exact.ceil()
        };
        if codes >= f64::from(u32::MAX) {
            return Err(QuantError::InvalidSpec("more than 32 bits per value"));
        }
        let max_code = codes as u32;
        let bits = (u32::BITS - max_code.leading_zeros()).max(1);
        Ok(Quant {
            min,
            max,
            step,
            max_code,
            bits,
            wrap: false,
        })
    }

    /// An angle in radians (any value, wrapped to one turn) in `bits` bits.
    pub fn angle(bits: u32) -> Result<Self, QuantError> {
        if !(1..=24).contains(&bits) {
            return Err(QuantError::InvalidSpec("angle bits must be within 1..=24"));
        }
        let turns = (1u32 << bits) as f32;
        let step = std::f32::consts::TAU / turns;
        Ok(Quant {
            min: 0.0,
            max: std::f32::consts::TAU - step,
            step,
            max_code: (1 << bits) - 1,
            bits,
            wrap: true,
        })
    }

    /// Bits one value takes on the wire.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The largest error a value can have after a round trip (half a step).
    pub fn max_error(&self) -> f32 {
        self.step / 2.0
    }

    /// The code of a value (clamped into range, or wrapped for angles; NaN becomes `min`).
    pub fn encode(&self, value: f32) -> u32 {
        if value.is_nan() {
            return 0;
        }
        let v = if self.wrap {
            value.rem_euclid(std::f32::consts::TAU)
        } else {
            value
        };
        let code = ((f64::from(v) - f64::from(self.min)) / f64::from(self.step)).round();
        if self.wrap {
            (code as u64 % (u64::from(self.max_code) + 1)) as u32
        } else {
            code.clamp(0.0, f64::from(self.max_code)) as u32
        }
    }

    /// The value of a code; a code no encoder produces is an error.
    pub fn decode(&self, code: u32) -> Result<f32, QuantError> {
        if code > self.max_code {
            return Err(QuantError::OutOfRange);
        }
        let v = f64::from(self.min) + f64::from(code) * f64::from(self.step);
        Ok((v as f32).min(self.max))
    }
}

/// Packs codes of any width back to back.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    filled: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the low `bits` bits of `value` (`bits` at most [`MAX_BITS`]).
    pub fn write(&mut self, value: u32, bits: u32) {
        let bits = bits.min(MAX_BITS);
        let mask = if bits == 32 {
            u64::from(u32::MAX)
        } else {
            (1u64 << bits) - 1
        };
        self.acc |= (u64::from(value) & mask) << self.filled;
        self.filled += bits;
        while self.filled >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.filled -= 8;
        }
    }

    /// Appends one flag.
    pub fn write_bool(&mut self, flag: bool) {
        self.write(u32::from(flag), 1);
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.filled as usize
    }

    /// The packed bytes (the last one padded with zeros).
    pub fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// Unpacks what a [`BitWriter`] packed; never reads past its input.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    /// Reads `bits` bits (at most [`MAX_BITS`]).
    pub fn read(&mut self, bits: u32) -> Result<u32, QuantError> {
        let bits = bits.min(MAX_BITS) as usize;
        if self.pos + bits > self.bytes.len() * 8 {
            return Err(QuantError::Truncated);
        }
        let mut value = 0u64;
        for i in 0..bits {
            let bit = self.pos + i;
            value |= u64::from((self.bytes[bit / 8] >> (bit % 8)) & 1) << i;
        }
        self.pos += bits;
        Ok(value as u32)
    }

    /// Reads one flag.
    pub fn read_bool(&mut self) -> Result<bool, QuantError> {
        Ok(self.read(1)? == 1)
    }

    /// Reads a quantised value.
    pub fn read_quant(&mut self, quant: &Quant) -> Result<f32, QuantError> {
        quant.decode(self.read(quant.bits())?)
    }

    /// Bits left to read (padding included).
    pub fn remaining_bits(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_to_a_hundredth_within_the_arena() {
        let q = Quant::new(-50.0, 50.0, 0.01).unwrap();
        assert_eq!(q.bits(), 14, "10 001 codes fit in 14 bits");
        for v in [-50.0, -12.345, 0.0, 0.004, 33.333, 50.0] {
            let back = q.decode(q.encode(v)).unwrap();
            assert!((back - v).abs() <= q.max_error() + 1e-4, "{v} -> {back}");
        }
        assert!(
            (q.decode(q.encode(1e9)).unwrap() - 50.0).abs() <= q.max_error(),
            "clamped"
        );
        assert_eq!(q.decode(10_001), Err(QuantError::OutOfRange));
        assert!(Quant::new(1.0, 1.0, 0.1).is_err());
        assert!(Quant::new(0.0, 1.0, f32::NAN).is_err());
    }

    #[test]
    fn angles_wrap_around() {
        let q = Quant::angle(10).unwrap();
        assert_eq!(q.bits(), 10);
        let tau = std::f32::consts::TAU;
        for v in [0.0, 1.0, 3.1, 6.2, -0.5, 7.0] {
            let back = q.decode(q.encode(v)).unwrap();
            let diff = (back - v.rem_euclid(tau)).abs();
            assert!(diff.min(tau - diff) <= q.max_error() + 1e-4, "{v} -> {back}");
        }
    }

    #[test]
    fn bits_round_trip_and_truncation_is_an_error() {
        let mut w = BitWriter::new();
        w.write(5, 3);
        w.write_bool(true);
        w.write(0xABCDE, 20);
        w.write(u32::MAX, 32);
        assert_eq!(w.bit_len(), 56);
        let bytes = w.finish();
        assert_eq!(bytes.len(), 7);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read(3), Ok(5));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read(20), Ok(0xABCDE));
        assert_eq!(r.read(32), Ok(u32::MAX));
        assert_eq!(r.read(1), Err(QuantError::Truncated));
    }
}
