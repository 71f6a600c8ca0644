//! Protocol Buffers' wire format, the writing side: enough to encode the messages TensorBoard
//! reads (`Event`, `Summary`, `HistogramProto`, `GraphDef`, `TensorProto`) and ONNX's.
//!
//! A message is a sequence of fields, each a key (`field number << 3 | wire type`, as a
//! varint) and a value:
//!
//! | wire type | value | used for |
//! |---|---|---|
//! | 0 varint | 7 bits a byte, low first, high bit = more | `int64`, `uint64`, `bool`, enums |
//! | 1 fixed64 | 8 bytes, little-endian | `double` |
//! | 2 length-delimited | varint length, then the bytes | `string`, `bytes`, messages, packed repeated |
//! | 5 fixed32 | 4 bytes, little-endian | `float` |
//!
//! (<https://protobuf.dev/programming-guides/encoding/>.) Written by hand rather than with
//! `prost`: the messages are few and fixed, and a derive crate with its code generation would
//! cost the two-core build more than these hundred lines.
//!
//! ```
//! use minibatch::io::protobuf::Message;
//! // The spec's example: field 1 set to 150.
//! let mut m = Message::new();
//! m.varint(1, 150);
//! assert_eq!(m.bytes(), &[0x08, 0x96, 0x01]);
//! ```

/// A message being encoded: its bytes so far. Fields are written in the order called.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    buf: Vec<u8>,
}

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Message::default()
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded bytes, taken.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Empties the message, keeping its buffer (for a message encoded again and again).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// An `int64`, `uint64`, `int32` (non-negative), `bool` or enum field. A negative `int64`
    /// is `v as u64` (ten bytes), as protobuf encodes it.
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, VARINT);
        self.raw_varint(v);
        self
    }

    /// A `double` field.
    pub fn double(&mut self, field: u32, v: f64) -> &mut Self {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `float` field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `bytes` field.
    pub fn bytes_field(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LENGTH_DELIMITED);
        self.raw_varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes_field(field, v.as_bytes())
    }

    /// A sub-message field.
    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes_field(field, &m.buf)
    }

    /// A packed `repeated double` field (nothing for no values, as protobuf writes it).
    pub fn packed_doubles(&mut self, field: u32, values: &[f64]) -> &mut Self {
        self.packed_fixed(field, values.iter().map(|v| v.to_le_bytes()))
    }

    /// A packed `repeated float` field (nothing for no values).
    pub fn packed_floats(&mut self, field: u32, values: &[f32]) -> &mut Self {
        self.packed_fixed(field, values.iter().map(|v| v.to_le_bytes()))
    }

    /// A packed field of fixed-width values, each `N` little-endian bytes.
    fn packed_fixed<const N: usize>(
        &mut self,
        field: u32,
        values: impl ExactSizeIterator<Item = [u8; N]>,
    ) -> &mut Self {
        if values.len() == 0 {
            return self;
        }
        self.key(field, LENGTH_DELIMITED);
        self.raw_varint((N * values.len()) as u64);
        values.for_each(|v| self.buf.extend_from_slice(&v));
        self
    }

    /// A packed `repeated int64` field (nothing for no values).
    pub fn packed_varints(&mut self, field: u32, values: &[i64]) -> &mut Self {
        if values.is_empty() {
            return self;
        }
        let mut body = Message::new();
        values.iter().for_each(|&v| body.raw_varint(v as u64));
        self.bytes_field(field, &body.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::Message;

    /// The encodings the protobuf documentation spells out.
    #[test]
    fn encodes_as_the_spec_shows() {
        let mut m = Message::new();
        m.varint(1, 150);
        assert_eq!(m.bytes(), [0x08, 0x96, 0x01]);
        let mut m = Message::new();
        m.string(2, "testing");
        assert_eq!(m.bytes(), [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']);
        // A negative int64: ten bytes.
        let mut m = Message::new();
        m.varint(1, -2i64 as u64);
        assert_eq!(m.bytes(), [0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        // Packed repeated int32 [3, 270, 86942] as field 4.
        let mut m = Message::new();
        m.packed_varints(4, &[3, 270, 86942]);
        assert_eq!(m.bytes(), [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05]);
        // A double and a float: fixed64 and fixed32, little-endian.
        let mut m = Message::new();
        m.double(1, 1.0).float(2, 1.0);
        assert_eq!(m.bytes(), [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x15, 0, 0, 0x80, 0x3f]);
        // A sub-message: field 3 holding the first example.
        let mut inner = Message::new();
        inner.varint(1, 150);
        let mut m = Message::new();
        m.message(3, &inner);
        assert_eq!(m.bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }
}
