//! Redis's value types, one module per type. A `Value` is what a key holds; its memory use is
//! reported per entry so `used_memory_dataset` and `MEMORY USAGE` stay honest.
//!
//! Strings and small collections are *flat*: one exactly sized allocation holding a four-byte
//! header (kind and encoding flags, then the 24-bit access clock) and the content. A small
//! collection's content is a packed entry list, Redis's listpack in spirit (see [`pack`]).
//! Collections that outgrow Redis's listpack thresholds move to a boxed [`Big`] structure with
//! Redis's complexity guarantees. Either way `Value` is sixteen bytes, so a table node stays in
//! jemalloc's 48-byte class.

pub mod bitmap;
pub mod hash;
pub mod hll;
pub mod json;
pub mod lcs;
pub mod list;
pub mod pack;
pub mod set;
pub mod skiplist;
pub mod sort;
pub mod stream;
pub mod string;
pub mod zset;

/// What a key holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Flat(Flat),
    Big(Box<Big>),
}

/// Redis's value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Hash,
    List,
    Set,
    ZSet,
    Stream,
    /// A JSON document (RedisJSON's module type).
    Json,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Stream => "stream",
            Kind::Json => "ReJSON-RL",
        }
    }
}

/// Strings up to this length are reported as `embstr` by OBJECT ENCODING, as Redis does.
pub const EMBSTR_MAX: usize = 44;

/// Bytes in front of a flat value's content: one byte of kind and encoding flags, then the
/// 24-bit access clock (Redis's LRU clock or LFU counter and decrement time). Keeping them in
/// the value's own allocation is what keeps the table node small.
pub const HEADER: usize = 4;
/// The content is a canonical decimal integer (OBJECT ENCODING `int`, like Redis's
/// OBJ_ENCODING_INT).
const FLAG_INT: u8 = 1;
/// The content was edited in place or built whole by a command that Redis stores as a raw
/// string (APPEND, SETRANGE, SETBIT, BITOP, PFADD): OBJECT ENCODING `raw` whatever its length.
const FLAG_RAW: u8 = 2;
/// The cold tier holds an identical copy ([`Value::has_cold`]).
const FLAG_COLD: u8 = 8;
/// [`FLAG_COLD`] for a large value: a bit of its access word above the 24-bit clock.
const BIG_COLD: u32 = 1 << 31;

/// What a flat value's content is: the high nibble of the first header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatKind {
    String = 0,
    /// Field, value, field, value... (`listpack`).
    HashPack = 1,
    /// Elements in order (`listpack`).
    ListPack = 2,
    /// Sorted 8-byte little-endian integers (`intset`).
    IntSet = 3,
    /// Members in insertion order (`listpack`).
    SetPack = 4,
    /// Member, score (8-byte f64), ordered by score then member (`listpack`).
    ZSetPack = 5,
    /// A JSON document in the binary form of [`json::encode`].
    Json = 6,
}

impl FlatKind {
    fn from_bits(b: u8) -> FlatKind {
        match b >> 4 {
            1 => FlatKind::HashPack,
            2 => FlatKind::ListPack,
            3 => FlatKind::IntSet,
            4 => FlatKind::SetPack,
            5 => FlatKind::ZSetPack,
            6 => FlatKind::Json,
            _ => FlatKind::String,
        }
    }
}

/// A flat value: header, then content, in one exactly sized allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Flat(Box<[u8]>);

/// The name the string commands use for a flat value.
pub type Str = Flat;

impl Flat {
    pub(crate) fn with_flags(content: &[u8], flags: u8) -> Flat {
        let mut v = Vec::with_capacity(HEADER + content.len());
        v.extend_from_slice(&[flags, 0, 0, 0]);
        v.extend_from_slice(content);
        Flat(v.into_boxed_slice())
    }

    /// An empty collection of the given flat kind (packs start with a zero entry count).
    pub fn new_collection(kind: FlatKind) -> Flat {
        let content: &[u8] = if kind == FlatKind::IntSet {
            &[]
        } else {
            &[0, 0, 0, 0]
        };
        Flat::with_flags(content, (kind as u8) << 4)
    }

    pub fn kind(&self) -> FlatKind {
        FlatKind::from_bits(self.0[0])
    }

    /// A flat value from its whole buffer, header included, as [`Flat::buf`] gave it (the
    /// cold tier stores flat values verbatim). None when the header names no flat kind.
    pub fn from_buf(buf: &[u8]) -> Option<Flat> {
        let first = *buf.first()?;
        if buf.len() < HEADER || first >> 4 > FlatKind::Json as u8 {
            return None;
        }
        Some(Flat(buf.into()))
    }

    fn flags(&self) -> u8 {
        self.0[0] & 0x0f
    }

    fn set_flags(&mut self, f: u8) {
        self.0[0] = (self.0[0] & 0xf0) | f;
    }

    pub fn content(&self) -> &[u8] {
        &self.0[HEADER..]
    }

    /// The whole buffer, header included (pack offsets count from its start).
    pub fn buf(&self) -> &[u8] {
        &self.0
    }

    /// Edits the whole buffer (header included) as a vector; it is stored back exactly sized.
    pub fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut v = std::mem::take(&mut self.0).into_vec();
        let r = f(&mut v);
        self.0 = v.into_boxed_slice();
        r
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

/// A collection too large for a flat encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Big {
    /// The access clock (as in a flat value's header).
    pub access: u32,
    pub data: BigData,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BigData {
    Hash(hash::HashTable),
    List(list::QuickList),
    Set(set::SetTable),
    ZSet(zset::SkipZSet),
    Stream(stream::Stream),
}

impl Value {
    pub fn big(data: BigData) -> Value {
        Value::Big(Box::new(Big { access: 0, data }))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Flat(f) => match f.kind() {
                FlatKind::String => Kind::String,
                FlatKind::HashPack => Kind::Hash,
                FlatKind::ListPack => Kind::List,
                FlatKind::IntSet | FlatKind::SetPack => Kind::Set,
                FlatKind::ZSetPack => Kind::ZSet,
                FlatKind::Json => Kind::Json,
            },
            Value::Big(b) => match b.data {
                BigData::Hash(_) => Kind::Hash,
                BigData::List(_) => Kind::List,
                BigData::Set(_) => Kind::Set,
                BigData::ZSet(_) => Kind::ZSet,
                BigData::Stream(_) => Kind::Stream,
            },
        }
    }

    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Flat(s) => match s.kind() {
                FlatKind::String if s.flags() & FLAG_INT != 0 => "int",
                FlatKind::String
                    if s.flags() & FLAG_RAW == 0 && s.content().len() <= EMBSTR_MAX =>
                {
                    "embstr"
                }
                FlatKind::String => "raw",
                FlatKind::IntSet => "intset",
                FlatKind::Json => "raw",
                _ => "listpack",
            },
            Value::Big(b) => match &b.data {
                BigData::Hash(h) if h.is_packed_ex() => "listpackex",
                BigData::Hash(_) | BigData::Set(_) => "hashtable",
                BigData::List(_) => "quicklist",
                BigData::ZSet(_) => "skiplist",
                BigData::Stream(_) => "stream",
            },
        }
    }

    /// A string value from client bytes, integer-encoded when the bytes are a canonical i64
    /// (so `GET` returns exactly the bytes that were set).
    pub fn from_bytes(b: &[u8]) -> Value {
        let int = b.len() <= 20 && crate::number::parse_i64(b).is_some();
        Value::Flat(Flat::with_flags(b, if int { FLAG_INT } else { 0 }))
    }

    /// A string stored whole but reported `raw`, as Redis creates BITOP and HyperLogLog results.
    pub fn raw_string(bytes: &[u8]) -> Value {
        Value::Flat(Flat::with_flags(bytes, FLAG_RAW))
    }

    /// A string that holds no integer encoding even when it looks like one (INCRBYFLOAT's result).
    pub fn plain_string(bytes: &[u8]) -> Value {
        Value::Flat(Flat::with_flags(bytes, 0))
    }

    pub fn from_int(i: i64) -> Value {
        Value::Flat(Flat::with_flags(
            itoa::Buffer::new().format(i).as_bytes(),
            FLAG_INT,
        ))
    }

    /// Heap bytes owned by the value (not counting the entry itself). Constant time: big
    /// collections keep a running count.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Flat(s) => s.0.len(),
            Value::Big(b) => {
                std::mem::size_of::<Big>()
                    + match &b.data {
                        BigData::Hash(h) => h.heap_bytes(),
                        BigData::List(l) => l.heap_bytes(),
                        BigData::Set(s) => s.heap_bytes(),
                        BigData::ZSet(z) => z.heap_bytes(),
                        BigData::Stream(s) => s.heap_bytes(),
                    }
            }
        }
    }

    /// Elements in a collection (1 for a string): what lazy freeing and SCAN's effort go by.
    pub fn elements(&self) -> usize {
        match self.kind() {
            Kind::String => 1,
            Kind::Hash => hash::len(self),
            Kind::List => list::len(self),
            Kind::Set => set::len(self),
            Kind::ZSet => zset::len(self),
            Kind::Stream => self.as_stream().map_or(0, stream::Stream::len),
            Kind::Json => 1,
        }
    }

    /// Whether this is a hash with field expiries (the active expiry cycle visits those).
    pub fn has_field_ttls(&self) -> bool {
        match self {
            Value::Big(b) => matches!(&b.data, BigData::Hash(h) if h.has_field_ttls()),
            Value::Flat(_) => false,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Flat(f) if f.kind() == FlatKind::String)
    }

    /// The string's bytes; None for other types.
    pub fn string_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Flat(s) if s.kind() == FlatKind::String => Some(s.content()),
            _ => None,
        }
    }

    pub fn as_str_mut(&mut self) -> Option<&mut Str> {
        match self {
            Value::Flat(s) if s.kind() == FlatKind::String => Some(s),
            _ => None,
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
            Value::Flat(s) => s.access(),
            Value::Big(b) => b.access & 0xff_ffff,
        }
    }

    pub fn set_access(&mut self, a: u32) {
        match self {
            Value::Flat(s) => s.set_access(a & 0xff_ffff),
            Value::Big(b) => b.access = (a & 0xff_ffff) | (b.access & BIG_COLD),
        }
    }

    /// Whether the cold tier holds an identical copy of this value (a clean shadow; see
    /// `tier`). Only the keyspace sets and clears it.
    pub fn has_cold(&self) -> bool {
        match self {
            Value::Flat(s) => s.0[0] & FLAG_COLD != 0,
            Value::Big(b) => b.access & BIG_COLD != 0,
        }
    }

    pub(crate) fn set_cold(&mut self, on: bool) {
        match self {
            Value::Flat(s) => {
                if on {
                    s.0[0] |= FLAG_COLD
                } else {
                    s.0[0] &= !FLAG_COLD
                }
            }
            Value::Big(b) => {
                if on {
                    b.access |= BIG_COLD
                } else {
                    b.access &= !BIG_COLD
                }
            }
        }
    }

    /// A canonical byte form of the content, for tests that compare two engines' states: a
    /// string's bytes, or for a collection 0xff, its type, then its elements in a fixed order.
    pub fn canonical(&self) -> Vec<u8> {
        if let Some(b) = self.string_bytes() {
            return b.to_vec();
        }
        let mut out = vec![0xff, self.kind() as u8];
        let mut put = |b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        match self.kind() {
            Kind::String => put(self.string_bytes().unwrap_or_default()),
            Kind::Hash => {
                let mut pairs = hash::pairs(self);
                pairs.sort();
                for (f, v) in pairs {
                    put(&f);
                    put(&v);
                }
            }
            Kind::List => {
                for e in list::elements(self) {
                    put(&e);
                }
            }
            Kind::Set => {
                let mut m = set::members(self);
                m.sort();
                for e in m {
                    put(&e);
                }
            }
            Kind::ZSet => {
                for (m, s) in zset::entries(self) {
                    put(&m);
                    put(&s.to_bits().to_le_bytes());
                }
            }
            Kind::Stream => {
                if let Some(s) = self.as_stream() {
                    put(format!("{:?}", s.canonical_meta()).as_bytes());
                    for (id, fields) in s.entries.all() {
                        put(id.to_string().as_bytes());
                        for (f, v) in fields {
                            put(&f);
                            put(&v);
                        }
                    }
                }
            }
            Kind::Json => {
                if let Value::Flat(f) = self {
                    put(f.content());
                }
            }
        }
        out
    }

    pub fn as_stream(&self) -> Option<&stream::Stream> {
        match self {
            Value::Big(b) => match &b.data {
                BigData::Stream(s) => Some(s),
                _ => None,
            },
            Value::Flat(_) => None,
        }
    }

    pub fn as_stream_mut(&mut self) -> Option<&mut stream::Stream> {
        match self {
            Value::Big(b) => match &mut b.data {
                BigData::Stream(s) => Some(s),
                _ => None,
            },
            Value::Flat(_) => None,
        }
    }
}

/// Redis's listpack and intset thresholds (`hash-max-listpack-entries` and friends), read
/// once per command.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    /// `list-max-listpack-size`: positive = entries per node, negative = -1..-5 for 4..64 KiB.
    pub list_size: i64,
    /// `stream-node-max-entries` and `stream-node-max-bytes`.
    pub stream_node: stream::NodeLimits,
}

/// The value at `key` for a read: None if missing, WRONGTYPE if it is another type.
pub(crate) fn read<'g>(
    g: &'g mut Guard<'_>,
    key: &[u8],
    kind: Kind,
) -> Result<Option<&'g Value>, CmdError> {
    match g.get(key) {
        None => Ok(None),
        Some(e) if e.value.kind() == kind => Ok(Some(&e.value)),
        Some(_) => Err(error::WRONGTYPE),
    }
}

/// The same check for a write: whether the key exists (no hit/miss accounting).
pub(crate) fn check_write(g: &mut Guard<'_>, key: &[u8], kind: Kind) -> Result<bool, CmdError> {
    match g.peek(key) {
        None => Ok(false),
        Some(e) if e.value.kind() == kind => Ok(true),
        Some(_) => Err(error::WRONGTYPE),
    }
}

/// Whether `key` exists as `kind`, WRONGTYPE if it holds another type: for commands that
/// look the key up before they read their other arguments, as Redis orders its checks.
pub fn exists_as(cx: &mut crate::ctx::Ctx, key: &[u8], kind: Kind) -> Result<bool, CmdError> {
    let mut g = cx.lock(&[key]);
    check_write(&mut g, key, kind)
}

/// Redis's strtod-based reading of a number (SORT weights, score bounds): leading spaces are
/// skipped and an empty string is 0, but nothing else may surround the number.
pub fn strtod(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace() && *c != 0x0b)?;
    crate::number::parse_f64(&b[start..]).filter(|v| !v.is_nan())
}

/// Deletes the key if its collection is now empty, logging the deletion, as every collection
/// write does (Redis never keeps an empty collection).
pub(crate) fn drop_if_empty(g: &mut Guard<'_>, key: &[u8]) {
    if g.peek(key).is_some_and(|e| e.value.elements() == 0) {
        g.remove(key);
        let db = g.db as u32;
        g.log(|| crate::effect::Effect::Del {
            db,
            key: key.to_vec(),
        });
    }
}

/// HSCAN, SSCAN and ZSCAN options.
#[derive(Debug, Clone, Copy)]
pub struct ScanOpts<'a> {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    /// HSCAN NOVALUES: fields only.
    pub novalues: bool,
}

impl ScanOpts<'_> {
    pub(crate) fn matches(&self, b: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::keyspace::pattern::glob_match(p, b, false))
    }
}

/// Scans a big collection's table Redis's way: stop after `count` elements or `10 * count`
/// buckets; `emit` filters and collects.
pub(crate) fn scan_dict<V, S: std::hash::BuildHasher>(
    d: &crate::keyspace::dict::Dict<V, S>,
    o: &ScanOpts,
    mut emit: impl FnMut(&[u8], &V) -> usize,
) -> u64 {
    let mut c = o.cursor;
    let mut got = 0;
    let mut budget = o.count.saturating_mul(10).max(1);
    loop {
        c = d.scan(c, |k, v| got += emit(k, v));
        budget -= 1;
        if c == 0 || got >= o.count || budget == 0 {
            return c;
        }
    }
}

/// The reply to a collection SCAN.
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(bytes::Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

pub(crate) fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(bytes::Bytes::copy_from_slice(b))
}

/// Random elements for SRANDMEMBER, SPOP, HRANDFIELD and ZRANDMEMBER with a count: distinct
/// ones for a positive count (all of them when it is at least `n`), possibly repeated ones for
/// a negative count. `one` draws a uniformly random element in O(1) where the encoding allows
/// (a table); without it, or when most elements are wanted, `all` lists them and they are
/// picked by index. `id` tells distinct elements apart.
pub(crate) fn sample<T: Clone>(
    n: usize,
    count: i64,
    one: Option<&mut dyn FnMut() -> Option<T>>,
    id: impl Fn(&T) -> &[u8],
    all: impl FnOnce() -> Vec<T>,
) -> Vec<T> {
    use rand::seq::SliceRandom;
    use rand::Rng;
    if n == 0 || count == 0 {
        return Vec::new();
    }
    let mut r = rng();
    if count < 0 {
        let k = count.unsigned_abs() as usize;
        return match one {
            Some(one) => (0..k).filter_map(|_| one()).collect(),
            None => {
                let all = all();
                (0..k)
                    .map(|_| all[r.gen_range(0..all.len())].clone())
                    .collect()
            }
        };
    }
    let k = count as usize;
    if k >= n {
        return all();
    }
    if let Some(one) = one {
        if k.saturating_mul(4) <= n {
            // Few of many: draw until `k` distinct ones (expected O(k)).
            let mut seen = std::collections::HashSet::with_capacity(k);
            let mut out = Vec::with_capacity(k);
            while out.len() < k {
                if let Some(x) = one() {
                    if seen.insert(id(&x).to_vec()) {
                        out.push(x);
                    }
                }
            }
            return out;
        }
    }
    let mut all = all();
    let (picked, _) = all.partial_shuffle(&mut r, k);
    picked.to_vec()
}

/// A random generator for SPOP, SRANDMEMBER and friends.
pub(crate) fn rng() -> rand::rngs::ThreadRng {
    rand::thread_rng()
}

/// Bytes a boxed byte string costs on the heap, for accounting.
pub(crate) fn boxed_bytes(len: usize) -> usize {
    len.div_ceil(8) * 8 + 16
}

use crate::error::{self, CmdError};
use crate::keyspace::Guard;
use crate::reply::Reply;

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
        assert_eq!(v.as_str_mut().unwrap().append(b"6"), 6);
        assert_eq!(v.string_bytes(), Some(&b"123456"[..]));
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.access(), 0x00ab_cdef);
        v.as_str_mut().unwrap().resize(8);
        assert_eq!(v.string_bytes(), Some(&b"123456\0\0"[..]));
        assert_eq!(Value::raw_string(b"ab").encoding(), "raw");
        assert_eq!(Value::plain_string(b"3").encoding(), "embstr");
    }
}
