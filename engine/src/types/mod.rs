//! Redis's value types, one module per type. A `Value` is what a key holds; its memory use is
//! reported per entry so `used_memory_dataset` and `MEMORY USAGE` stay honest.

pub mod bitmap;
pub mod hll;
pub mod lcs;
pub mod string;

/// What a key holds. Sixteen bytes, so a table node (key, value, expiry, chain link) fits
/// jemalloc's 48-byte class; later types add boxed variants, which keep that size.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str),
}

/// Strings up to this length are reported as `embstr` by OBJECT ENCODING, as Redis does.
pub const EMBSTR_MAX: usize = 44;

/// Bytes in front of a string's content: one byte of encoding flags, then the 24-bit access
/// clock (Redis's LRU clock or LFU counter and decrement time). Keeping them in the value's
/// own allocation is what keeps the table node small.
const HEADER: usize = 4;
/// The content is a canonical decimal integer (OBJECT ENCODING `int`, like Redis's
/// OBJ_ENCODING_INT).
const FLAG_INT: u8 = 1;
/// The content was edited in place or built whole by a command that Redis stores as a raw
/// string (APPEND, SETRANGE, SETBIT, BITOP, PFADD): OBJECT ENCODING `raw` whatever its length.
const FLAG_RAW: u8 = 2;

/// A string value: header, then content, in one exactly sized allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Str(Box<[u8]>);

impl Str {
    fn with_flags(content: &[u8], flags: u8) -> Str {
        let mut v = Vec::with_capacity(HEADER + content.len());
        v.extend_from_slice(&[flags, 0, 0, 0]);
        v.extend_from_slice(content);
        Str(v.into_boxed_slice())
    }

    fn flags(&self) -> u8 {
        self.0[0]
    }

    fn set_flags(&mut self, f: u8) {
        self.0[0] = f;
    }

    pub fn content(&self) -> &[u8] {
        &self.0[HEADER..]
    }

    /// The content for an in-place edit; the string becomes `raw`.
    pub fn content_mut(&mut self) -> &mut [u8] {
        self.set_flags(FLAG_RAW);
        &mut self.0[HEADER..]
    }

    /// Grows (zero-filled) or shrinks the content to `len` bytes, reallocating exactly; the
    /// string becomes `raw`. jemalloc grows in place within a size class, and its classes grow
    /// geometrically, so repeated growth costs amortized constant time per byte.
    pub fn resize(&mut self, len: usize) {
        let mut v = std::mem::take(&mut self.0).into_vec();
        let want = HEADER + len;
        if want > v.len() {
            v.reserve_exact(want - v.len());
        }
        v.resize(want, 0);
        self.0 = v.into_boxed_slice();
        self.set_flags(FLAG_RAW);
    }

    pub fn append(&mut self, data: &[u8]) -> usize {
        let old = self.content().len();
        self.resize(old + data.len());
        self.0[HEADER + old..].copy_from_slice(data);
        old + data.len()
    }

    pub fn access(&self) -> u32 {
        u32::from_le_bytes([self.0[1], self.0[2], self.0[3], 0])
    }

    pub fn set_access(&mut self, a: u32) {
        let b = a.to_le_bytes();
        self.0[1..HEADER].copy_from_slice(&b[..3]);
    }
}

impl Value {
    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.flags() & FLAG_INT != 0 => "int",
            Value::Str(s) if s.flags() & FLAG_RAW == 0 && s.content().len() <= EMBSTR_MAX => {
                "embstr"
            }
            Value::Str(_) => "raw",
        }
    }

    /// A string value from client bytes, integer-encoded when the bytes are a canonical i64
    /// (so `GET` returns exactly the bytes that were set).
    pub fn from_bytes(b: &[u8]) -> Value {
        let int = b.len() <= 20 && crate::number::parse_i64(b).is_some();
        Value::Str(Str::with_flags(b, if int { FLAG_INT } else { 0 }))
    }

    /// A string stored whole but reported `raw`, as Redis creates BITOP and HyperLogLog results.
    pub fn raw_string(bytes: &[u8]) -> Value {
        Value::Str(Str::with_flags(bytes, FLAG_RAW))
    }

    /// A string that holds no integer encoding even when it looks like one (INCRBYFLOAT's result).
    pub fn plain_string(bytes: &[u8]) -> Value {
        Value::Str(Str::with_flags(bytes, 0))
    }

    pub fn from_int(i: i64) -> Value {
        Value::Str(Str::with_flags(
            itoa::Buffer::new().format(i).as_bytes(),
            FLAG_INT,
        ))
    }

    /// Heap bytes owned by the value (not counting the entry itself).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.0.len(),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_))
    }

    /// The string's bytes; None for non-string types.
    pub fn string_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s.content()),
        }
    }

    pub fn as_str_mut(&mut self) -> Option<&mut Str> {
        match self {
            Value::Str(s) => Some(s),
        }
    }

    /// The integer a string holds, if it is one (what INCR accepts).
    pub fn as_i64(&self) -> Option<i64> {
        let b = self.string_bytes()?;
        if b.len() > 20 {
            return None;
        }
        crate::number::parse_i64(b)
    }

    /// The access clock (LRU seconds, or the LFU counter and its decrement time).
    pub fn access(&self) -> u32 {
        match self {
            Value::Str(s) => s.access(),
        }
    }

    pub fn set_access(&mut self, a: u32) {
        match self {
            Value::Str(s) => s.set_access(a & 0xff_ffff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_sized_values() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<crate::keyspace::Entry>(), 24);
    }

    #[test]
    fn encodings_and_edits() {
        let mut v = Value::from_bytes(b"12345");
        assert_eq!(v.encoding(), "int");
        assert_eq!(v.as_i64(), Some(12345));
        assert_eq!(Value::from_bytes(b"012").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).encoding(), "raw");
        v.set_access(0x00ab_cdef);
        let Value::Str(s) = &mut v;
        assert_eq!(s.append(b"6"), 6);
        assert_eq!(v.string_bytes(), Some(&b"123456"[..]));
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.access(), 0x00ab_cdef);
        let Value::Str(s) = &mut v;
        s.resize(8);
        assert_eq!(v.string_bytes(), Some(&b"123456\0\0"[..]));
        assert_eq!(Value::raw_string(b"ab").encoding(), "raw");
        assert_eq!(Value::plain_string(b"3").encoding(), "embstr");
    }
}
