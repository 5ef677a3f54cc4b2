//! The protobuf wire format, as much of it as ONNX needs: varints, 32-bit floats and
//! length-delimited fields (strings, bytes, nested messages).
//!
//! A field is a key `(number << 3) | wire_type` as a varint, then its value: wire type 0 a
//! varint, 2 a varint length and that many bytes, 5 four little-endian bytes. Repeated fields
//! are written one entry per key (proto2's unpacked form, which every reader accepts).

/// Wire type of a varint value.
pub(crate) const VARINT: u8 = 0;
/// Wire type of a length-delimited value.
pub(crate) const LEN: u8 = 2;
/// Wire type of a 32-bit value.
pub(crate) const I32: u8 = 5;

/// A message being written: its encoded fields, in the order they were added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Msg(Vec<u8>);

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An `int64` (negative values as their two's complement, ten bytes).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Msg {
        self.key(field, VARINT);
        varint(&mut self.0, v as u64);
        self
    }

    /// A `float`.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Msg {
        self.key(field, I32);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Msg {
        self.key(field, LEN);
        varint(&mut self.0, v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    /// A `string` field.
    pub fn str(&mut self, field: u32, v: &str) -> &mut Msg {
        self.bytes(field, v.as_bytes())
    }

    /// A nested message.
    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.0)
    }
}

/// Append `v` as a base-128 varint, low bits first, the high bit of each byte set while more
/// follow.
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(v: u64) -> Vec<u8> {
        let mut out = vec![];
        varint(&mut out, v);
        out
    }

    /// The examples of the protobuf encoding guide.
    #[test]
    fn varints_as_the_guide_writes_them() {
        assert_eq!(encoded(0), [0x00]);
        assert_eq!(encoded(1), [0x01]);
        assert_eq!(encoded(127), [0x7f]);
        assert_eq!(encoded(128), [0x80, 0x01]);
        assert_eq!(encoded(150), [0x96, 0x01]);
        assert_eq!(encoded(300), [0xac, 0x02]);
        assert_eq!(encoded(u64::MAX).len(), 10);
    }

    #[test]
    fn fields_carry_their_key() {
        let mut m = Msg::new();
        m.int(1, 150).str(2, "testing").float(3, 1.0);
        let mut want = vec![0x08, 0x96, 0x01, 0x12, 0x07];
        want.extend_from_slice(b"testing");
        want.extend_from_slice(&[0x1d, 0x00, 0x00, 0x80, 0x3f]);
        assert_eq!(m.into_bytes(), want);
    }

    #[test]
    fn negative_ints_take_ten_bytes() {
        let mut m = Msg::new();
        m.int(1, -1);
        let bytes = m.into_bytes();
        assert_eq!(bytes.len(), 11);
        assert_eq!(bytes[10], 0x01);
    }

    #[test]
    fn nested_messages_are_length_prefixed() {
        let mut inner = Msg::new();
        inner.int(1, 150);
        let mut outer = Msg::new();
        outer.msg(3, &inner);
        assert_eq!(outer.into_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }
}
