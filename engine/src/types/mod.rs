//! Redis's value types, one module per type. A `Value` is what a key holds; its memory use is
//! reported per entry so `used_memory_dataset` and `MEMORY USAGE` stay honest.

pub mod bitmap;
pub mod hll;
pub mod lcs;
pub mod string;

/// What a key holds. Strings that are canonical decimal integers are kept as `Int`, like Redis's
/// `OBJ_ENCODING_INT`, which saves the heap allocation for counters.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Raw(Vec<u8>),
    Int(i64),
}

/// Strings up to this length are reported as `embstr` by OBJECT ENCODING, as Redis does.
pub const EMBSTR_MAX: usize = 44;

impl Value {
    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Raw(_) | Value::Int(_) => "string",
        }
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            // A string written whole (SET and friends) is stored with exact capacity; one edited
            // in place (APPEND, SETRANGE, SETBIT) keeps spare capacity, and Redis reports such
            // strings as raw whatever their length.
            Value::Raw(v) if v.len() <= EMBSTR_MAX && v.capacity() == v.len() => "embstr",
            Value::Raw(_) => "raw",
        }
    }

    /// Builds a string value from client bytes, choosing the integer encoding when the bytes are
    /// a canonical i64 (so `GET` returns exactly the bytes that were set).
    pub fn from_bytes(b: &[u8]) -> Value {
        if b.len() <= 20 {
            if let Some(i) = crate::number::parse_i64(b) {
                return Value::Int(i);
            }
        }
        Value::Raw(b.to_vec())
    }

    /// Heap bytes owned by the value (not counting the entry itself).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Raw(v) => v.capacity(),
            Value::Int(_) => 0,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Raw(_) | Value::Int(_))
    }

    /// The string's bytes (integers are formatted); None for non-string types.
    pub fn string_bytes(&self) -> Option<std::borrow::Cow<'_, [u8]>> {
        match self {
            Value::Raw(v) => Some(std::borrow::Cow::Borrowed(v)),
            Value::Int(i) => Some(std::borrow::Cow::Owned(
                itoa::Buffer::new().format(*i).as_bytes().to_vec(),
            )),
        }
    }

    /// Turns a string value into raw bytes for in-place edits (APPEND, SETRANGE, SETBIT).
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        if let Value::Int(i) = *self {
            *self = Value::Raw(itoa::Buffer::new().format(i).as_bytes().to_vec());
        }
        match self {
            Value::Raw(v) => Some(v),
            Value::Int(_) => None,
        }
    }

    /// A copy that reports the same encoding (COPY duplicates raw strings as raw, as Redis does).
    pub fn duplicate(&self) -> Value {
        match self {
            Value::Raw(v) if v.capacity() > v.len() => Value::raw_string(v.clone()),
            other => other.clone(),
        }
    }

    /// A string value that reports the `raw` encoding (BITOP and HyperLogLog results are
    /// created that way in Redis).
    pub fn raw_string(mut bytes: Vec<u8>) -> Value {
        if bytes.capacity() == bytes.len() {
            bytes.reserve(1);
        }
        Value::Raw(bytes)
    }
}
