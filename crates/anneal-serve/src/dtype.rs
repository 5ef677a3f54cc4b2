//! The Open Inference Protocol's tensor datatypes, decoded from little-endian bytes to the
//! f32 values the engine takes.

use crate::error::{ServeError, bad, truncate};

/// The datatypes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    Bf16,
    F32,
    F64,
}

impl DType {
    pub(crate) fn parse(s: &str) -> Result<DType, ServeError> {
        Ok(match s {
            "BOOL" => DType::Bool,
            "UINT8" => DType::U8,
            "UINT16" => DType::U16,
            "UINT32" => DType::U32,
            "UINT64" => DType::U64,
            "INT8" => DType::I8,
            "INT16" => DType::I16,
            "INT32" => DType::I32,
            "INT64" => DType::I64,
            "FP16" => DType::F16,
            "BF16" => DType::Bf16,
            "FP32" => DType::F32,
            "FP64" => DType::F64,
            "BYTES" => {
                return Err(bad(
                    "datatype BYTES cannot feed the numeric input; send FP32 (or another numeric type)",
                ));
            }
            other => {
                return Err(bad(format!(
                    "unknown datatype `{}`: expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64",
                    truncate(other)
                )));
            }
        })
    }

    pub(crate) fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 | DType::Bf16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// Little-endian element bytes to f32.
    pub(crate) fn decode(self, b: &[u8]) -> f32 {
        match self {
            DType::Bool | DType::U8 => f32::from(b[0]),
            DType::I8 => f32::from(b[0] as i8),
            DType::U16 => f32::from(u16::from_le_bytes([b[0], b[1]])),
            DType::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])),
            DType::F16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            DType::Bf16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            DType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::U64 => {
                u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            DType::I64 => {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            DType::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
        }
    }
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
