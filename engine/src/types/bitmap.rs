//! Strings seen as arrays of bits: GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP and BITFIELD.
//!
//! Bit 0 is the most significant bit of byte 0, as in Redis, so a bitmap and the string that holds
//! it agree byte for byte. Bits past the end of a string read as zero. Everything here is a pure
//! function of its inputs: key lookup, type checks and effects belong to the caller.
//!
//! Offsets are bounded the way Redis bounds them: a bit offset is refused when its byte
//! (`offset >> 3`) would be at or past `proto-max-bulk-len` (512 MB unless configured), so an
//! accepted offset is below 2^32 by default and growing a string for it costs at most that much.

use bytes::Bytes;

use crate::error::{self, CmdError};
use crate::number::parse_i64;

/// `proto-max-bulk-len`'s default, the limit callers pass when the config does not override it.
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// GETBIT: the bit at `offset`, zero past the end of the string.
pub fn getbit(s: &[u8], offset: u64) -> u8 {
    bit_at(s, offset) as u8
}

/// Sets the bit, growing the string with zero bytes; returns the previous bit. Caller has already
/// checked offset < 2^32 (512MB) per proto-max-bulk-len, e.g. with [`parse_bit_offset`].
///
/// An offset whose byte index does not fit in `usize` (impossible after that check) leaves the
/// string untouched and returns 0 rather than panicking.
pub fn setbit(s: &mut Vec<u8>, offset: u64, on: bool) -> u8 {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return 0;
    };
    if s.len() <= byte {
        s.resize(byte + 1, 0);
    }
    let old = bit_at(s, offset) as u8;
    set_bit_at(s, offset, on);
    old
}

/// Parses a GETBIT/SETBIT offset: a non-negative integer whose byte lies below
/// `proto_max_bulk_len`. BITFIELD's `#N` form is handled by [`parse_bitfield`].
pub fn parse_bit_offset(arg: &[u8], proto_max_bulk_len: u64) -> Result<u64, CmdError> {
    parse_offset(arg, 0, proto_max_bulk_len)
}

/// Whether BITCOUNT and BITPOS ranges count bytes (the default) or bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeUnit {
    Byte,
    Bit,
}

impl RangeUnit {
    /// `BYTE` or `BIT`, any case; `None` means the caller replies with a syntax error. Like Redis
    /// (which compares C strings) the word ends at the first NUL byte.
    pub fn parse(arg: &[u8]) -> Option<RangeUnit> {
        let word = c_str(arg);
        if word.eq_ignore_ascii_case(b"byte") {
            Some(RangeUnit::Byte)
        } else if word.eq_ignore_ascii_case(b"bit") {
            Some(RangeUnit::Bit)
        } else {
            None
        }
    }
}

/// BITCOUNT key [start end [BYTE|BIT]] with Redis's negative-index and clamping rules.
///
/// A range with both ends negative and start after end counts nothing, even when clamping would
/// have turned it into a one-byte range (`BITCOUNT k -5 -10` is 0 on a 3-byte string).
pub fn bitcount(s: &[u8], range: Option<(i64, i64, RangeUnit)>) -> i64 {
    let Some((start, end, unit)) = range else {
        return popcount(s);
    };
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let Some((first, last)) = bit_span(s.len(), start, end, unit) else {
        return 0;
    };
    count_bits(s, first, last)
}

/// BITPOS key bit [start [end [BYTE|BIT]]] exactly as Redis (including the rule that looking for 0
/// with no explicit end returns the first bit past the string, and -1 cases).
///
/// `s` is an existing string, possibly empty. Redis answers a missing key differently from an
/// empty string (it ignores the range and replies 0 when looking for 0): use
/// [`bitpos_missing_key`] for that case.
pub fn bitpos(s: &[u8], bit: u8, start: Option<i64>, end: Option<i64>, unit: RangeUnit) -> i64 {
    let want_one = bit != 0;
    // An end without a start cannot come from the grammar; treat it as no range at all.
    let (start, end, end_given) = match (start, end) {
        (Some(start), Some(end)) => (start, end, true),
        // No end means "to the end of the string", in whichever unit.
        (Some(start), None) => (start, -1, false),
        (None, _) => (0, -1, false),
    };
    let Some((first, last)) = bit_span(s.len(), start, end, unit) else {
        return -1;
    };
    match first_bit(s, want_one, first, last) {
        Some(pos) => i64::try_from(pos).unwrap_or(-1),
        // Looking for a 1 that is not there, or for a 0 inside a range the client bounded.
        None if want_one || end_given => -1,
        // Without an explicit end the string is taken as zero-padded on the right.
        None => i64::try_from(last + 1).unwrap_or(-1),
    }
}

/// BITPOS on a key that does not exist: an endless run of zeros, whatever the range.
pub fn bitpos_missing_key(bit: u8) -> i64 {
    if bit != 0 {
        -1
    } else {
        0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    /// `AND`, `OR`, `XOR` or `NOT`, any case; `None` means a syntax error.
    pub fn parse(arg: &[u8]) -> Option<BitOp> {
        let word = c_str(arg);
        [
            (b"and".as_slice(), BitOp::And),
            (b"or", BitOp::Or),
            (b"xor", BitOp::Xor),
            (b"not", BitOp::Not),
        ]
        .into_iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|(_, op)| op)
    }
}

/// BITOP result for the source strings (missing keys passed as empty slices). Shorter sources are
/// zero-padded to the longest; an empty result means the destination is deleted. `Not` uses only
/// the first source (the caller refuses any other count).
pub fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let max_len = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let Some((first, rest)) = srcs.split_first() else {
        return Vec::new();
    };
    let mut out = vec![0u8; max_len];
    out[..first.len()].copy_from_slice(first);
    match op {
        BitOp::Not => out.iter_mut().for_each(|b| *b = !*b),
        BitOp::And => {
            for src in rest {
                out.iter_mut().zip(src.iter()).for_each(|(o, b)| *o &= b);
                out[src.len()..].fill(0);
            }
        }
        BitOp::Or => {
            for src in rest {
                out.iter_mut().zip(src.iter()).for_each(|(o, b)| *o |= b);
            }
        }
        BitOp::Xor => {
            for src in rest {
                out.iter_mut().zip(src.iter()).for_each(|(o, b)| *o ^= b);
            }
        }
    }
    out
}

/// What BITFIELD SET and INCRBY do when the result does not fit the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the low bits (two's complement for signed fields). The default.
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Leave the field alone and reply nil.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldOp {
    Get {
        signed: bool,
        bits: u8,
        offset: u64,
    },
    Set {
        signed: bool,
        bits: u8,
        offset: u64,
        value: i64,
        overflow: Overflow,
    },
    IncrBy {
        signed: bool,
        bits: u8,
        offset: u64,
        incr: i64,
        overflow: Overflow,
    },
}

/// BITFIELD / BITFIELD_RO: parse the arguments after the key into ops, with Redis's exact errors.
/// `#N` offsets multiply by the field width. Offsets are bounded by the default
/// `proto-max-bulk-len`; see [`parse_bitfield_with_limit`].
pub fn parse_bitfield(args: &[Bytes], readonly: bool) -> Result<Vec<BitfieldOp>, CmdError> {
    parse_bitfield_with_limit(args, readonly, DEFAULT_PROTO_MAX_BULK_LEN)
}

/// [`parse_bitfield`] with the server's configured `proto-max-bulk-len`.
///
/// Errors come in Redis's order: each op's type, then its offset, then its value, op by op; the
/// BITFIELD_RO refusal only once every op has parsed.
pub fn parse_bitfield_with_limit(
    args: &[Bytes],
    readonly: bool,
    proto_max_bulk_len: u64,
) -> Result<Vec<BitfieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut rest = args;
    while let Some((sub, after)) = rest.split_first() {
        let sub = c_str(sub);
        if sub.eq_ignore_ascii_case(b"overflow") {
            let Some((kind, after)) = after.split_first() else {
                return Err(error::SYNTAX);
            };
            let kind = c_str(kind);
            overflow = if kind.eq_ignore_ascii_case(b"wrap") {
                Overflow::Wrap
            } else if kind.eq_ignore_ascii_case(b"sat") {
                Overflow::Sat
            } else if kind.eq_ignore_ascii_case(b"fail") {
                Overflow::Fail
            } else {
                return Err(error::BITFIELD_OVERFLOW_TYPE);
            };
            rest = after;
            continue;
        }
        let is_get = sub.eq_ignore_ascii_case(b"get");
        let is_set = sub.eq_ignore_ascii_case(b"set");
        let is_incrby = sub.eq_ignore_ascii_case(b"incrby");
        let needed = if is_get { 2 } else { 3 };
        if !(is_get || is_set || is_incrby) || after.len() < needed {
            return Err(error::SYNTAX);
        }
        let (signed, bits) = parse_bitfield_type(&after[0])?;
        let offset = parse_offset(&after[1], bits, proto_max_bulk_len)?;
        let op = if is_get {
            BitfieldOp::Get {
                signed,
                bits,
                offset,
            }
        } else {
            let n = parse_i64(&after[2]).ok_or(error::NOT_INTEGER)?;
            if is_set {
                BitfieldOp::Set {
                    signed,
                    bits,
                    offset,
                    value: n,
                    overflow,
                }
            } else {
                BitfieldOp::IncrBy {
                    signed,
                    bits,
                    offset,
                    incr: n,
                    overflow,
                }
            }
        };
        ops.push(op);
        rest = &after[needed..];
    }
    if readonly && bitfield_writes(&ops) {
        return Err(error::BITFIELD_RO_GET_ONLY);
    }
    Ok(ops)
}

/// Whether any op writes (so the caller knows to create the key / log an effect).
pub fn bitfield_writes(ops: &[BitfieldOp]) -> bool {
    ops.iter().any(|op| !matches!(op, BitfieldOp::Get { .. }))
}

/// Runs ops in order against the string; each result is `Some(value)` or `None` (nil, for FAIL
/// overflow). SET answers the old value, INCRBY the new one.
///
/// Like Redis, when any op writes the string is first grown with zeros to cover the farthest bit
/// any writing op touches, even an op that FAIL later stops; reads never grow it. Ops are expected
/// to come from [`parse_bitfield`], whose offset bound keeps that growth within
/// `proto-max-bulk-len`.
pub fn bitfield_apply(s: &mut Vec<u8>, ops: &[BitfieldOp]) -> Vec<Option<i64>> {
    let farthest = ops
        .iter()
        .filter_map(|op| match *op {
            BitfieldOp::Get { .. } => None,
            BitfieldOp::Set { bits, offset, .. } | BitfieldOp::IncrBy { bits, offset, .. } => {
                Some(offset.saturating_add(u64::from(field_width(bits)) - 1))
            }
        })
        .max();
    if let Some(bytes) = farthest.and_then(|bit| usize::try_from(bit >> 3).ok()) {
        if s.len() <= bytes {
            s.resize(bytes + 1, 0);
        }
    }

    ops.iter()
        .map(|op| match *op {
            BitfieldOp::Get {
                signed,
                bits,
                offset,
            } => {
                let bits = field_width(bits);
                let raw = get_field(s, offset, bits);
                Some(if signed {
                    sign_extend(raw, bits)
                } else {
                    raw as i64
                })
            }
            BitfieldOp::Set {
                signed,
                bits,
                offset,
                value,
                overflow,
            } => write_field(s, signed, bits, offset, Change::Set(value), overflow),
            BitfieldOp::IncrBy {
                signed,
                bits,
                offset,
                incr,
                overflow,
            } => write_field(s, signed, bits, offset, Change::IncrBy(incr), overflow),
        })
        .collect()
}

/// A write to one field: SET replies with the old value, INCRBY with the new one.
#[derive(Clone, Copy)]
enum Change {
    Set(i64),
    IncrBy(i64),
}

/// Applies one SET or INCRBY to the (already grown) string; `None` when FAIL refused the write.
fn write_field(
    s: &mut [u8],
    signed: bool,
    bits: u8,
    offset: u64,
    change: Change,
    overflow: Overflow,
) -> Option<i64> {
    let bits = field_width(bits);
    let raw = get_field(s, offset, bits);
    let old = if signed {
        sign_extend(raw, bits)
    } else {
        raw as i64
    };
    let (base, incr) = match change {
        Change::Set(value) => (value, 0),
        Change::IncrBy(incr) => (old, incr),
    };
    let new = if signed {
        signed_store(base, incr, bits, overflow)?
    } else {
        unsigned_store(base as u64, incr, bits, overflow)? as i64
    };
    set_field(s, offset, bits, new as u64);
    Some(match change {
        Change::Set(_) => old,
        Change::IncrBy(_) => new,
    })
}

/// The result of `value + incr` in an unsigned field of `bits` bits under `overflow`. A SET of a
/// negative number arrives here as a huge `value` and so overflows upwards, as in Redis
/// (`SET u8 0 -1` saturates to 255).
fn unsigned_store(value: u64, incr: i64, bits: u8, overflow: Overflow) -> Option<u64> {
    let max = unsigned_max(bits);
    let sum = i128::from(value) + i128::from(incr);
    if value <= max && (0..=i128::from(max)).contains(&sum) {
        return Some(sum as u64);
    }
    match overflow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
        Overflow::Sat => Some(if value > max || sum > i128::from(max) {
            max
        } else {
            0
        }),
        Overflow::Fail => None,
    }
}

/// The result of `value + incr` in a signed field of `bits` bits under `overflow`.
///
/// The range test copies Redis's, quirk included: it computes `max - value` with wraparound, so a
/// SET of a value within 2^(bits-1) of i64::MIN into a field narrower than 64 bits counts as an
/// overflow upwards and SAT stores the maximum (`SET i8 0 -9223372036854775808` saturates to 127,
/// and `SET i63` of anything below -2^62 to 2^62 - 1). WRAP and FAIL are unaffected.
fn signed_store(value: i64, incr: i64, bits: u8, overflow: Overflow) -> Option<i64> {
    let max = signed_max(bits);
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let narrow = bits < 64;
    let limit = if value > max
        || (narrow && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr)
    {
        max
    } else if value < min
        || (narrow && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        min
    } else {
        return Some(value.wrapping_add(incr));
    };
    match overflow {
        Overflow::Wrap => Some(sign_extend((value as u64).wrapping_add(incr as u64), bits)),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    }
}

/// Parses `i<1..64>` or `u<1..63>` (u64 cannot be replied as a RESP integer).
fn parse_bitfield_type(arg: &[u8]) -> Result<(bool, u8), CmdError> {
    let arg = c_str(arg);
    let (signed, digits) = match arg.split_first() {
        Some((b'i', digits)) => (true, digits),
        Some((b'u', digits)) => (false, digits),
        _ => return Err(error::BITFIELD_TYPE),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(digits) {
        Some(n) if (1..=max).contains(&n) => Ok((signed, n as u8)),
        _ => Err(error::BITFIELD_TYPE),
    }
}

/// A bit offset; with `width > 0` (BITFIELD) `#N` means `N * width`. The multiplication wraps as
/// in Redis's C code, so a product past i64 either turns negative and is refused or lands on the
/// same small offset Redis would use.
fn parse_offset(arg: &[u8], width: u8, proto_max_bulk_len: u64) -> Result<u64, CmdError> {
    let (digits, scale) = match arg.split_first() {
        Some((b'#', digits)) if width > 0 => (digits, i64::from(width)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .ok_or(error::BIT_OFFSET)?
        .wrapping_mul(scale);
    match u64::try_from(offset) {
        Ok(offset) if (offset >> 3) < proto_max_bulk_len => Ok(offset),
        _ => Err(error::BIT_OFFSET),
    }
}

/// Redis compares keywords as C strings, so anything after a NUL byte is ignored.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    }
}

/// Field widths outside 1..=64 cannot come from the parser; clamp them so a hand-built op cannot
/// make a shift overflow.
fn field_width(bits: u8) -> u8 {
    bits.clamp(1, 64)
}

fn unsigned_max(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn signed_max(bits: u8) -> i64 {
    if bits >= 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    }
}

/// Reads the low `bits` bits of `raw` as a two's complement number.
fn sign_extend(raw: u64, bits: u8) -> i64 {
    if bits >= 64 {
        raw as i64
    } else {
        let shift = 64 - u32::from(bits);
        ((raw << shift) as i64) >> shift
    }
}

fn get_field(s: &[u8], offset: u64, bits: u8) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, j| {
        let bit = offset.checked_add(j).is_some_and(|pos| bit_at(s, pos));
        (acc << 1) | u64::from(bit)
    })
}

fn set_field(s: &mut [u8], offset: u64, bits: u8, value: u64) {
    for j in 0..u64::from(bits) {
        if let Some(pos) = offset.checked_add(j) {
            set_bit_at(s, pos, (value >> (u64::from(bits) - 1 - j)) & 1 == 1);
        }
    }
}

fn bit_at(s: &[u8], pos: u64) -> bool {
    usize::try_from(pos >> 3)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|byte| byte & (0x80 >> (pos & 7)) != 0)
}

/// Bits past the end of `s` are ignored: callers grow the string first.
fn set_bit_at(s: &mut [u8], pos: u64, on: bool) {
    if let Some(byte) = usize::try_from(pos >> 3).ok().and_then(|i| s.get_mut(i)) {
        let mask = 0x80u8 >> (pos & 7);
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn len_i64(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// Turns a client range into inclusive absolute bit positions inside the string, or `None` when
/// it selects nothing. Negative ends count from the end; both ends are clamped to the string.
fn bit_span(len: usize, start: i64, end: i64, unit: RangeUnit) -> Option<(u64, u64)> {
    let total = match unit {
        RangeUnit::Byte => len_i64(len),
        RangeUnit::Bit => len_i64(len).saturating_mul(8),
    };
    let resolve = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let start = resolve(start);
    let end = resolve(end).min(total - 1);
    if start > end {
        return None;
    }
    // Both are now in 0..total, so they are non-negative.
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        RangeUnit::Byte => (start * 8, end * 8 + 7),
        RangeUnit::Bit => (start, end),
    })
}

fn popcount(s: &[u8]) -> i64 {
    let (words, tail) = s.split_at(s.len() - s.len() % 8);
    let mut total: u64 = words
        .chunks_exact(8)
        .map(|w| u64::from(u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])).count_ones()))
        .sum();
    total += tail.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    i64::try_from(total).unwrap_or(i64::MAX)
}

/// Set bits between absolute bit positions `first` and `last`, inclusive, both inside `s`.
fn count_bits(s: &[u8], first: u64, last: u64) -> i64 {
    let (Ok(first_byte), Ok(last_byte)) = (usize::try_from(first >> 3), usize::try_from(last >> 3))
    else {
        return 0;
    };
    let Some(bytes) = s.get(first_byte..=last_byte) else {
        return 0;
    };
    let head_mask = 0xffu8 >> (first & 7);
    let tail_mask = 0xffu8 << (7 - (last & 7));
    let Some((&head, body)) = bytes.split_first() else {
        return 0;
    };
    match body.split_last() {
        None => i64::from((head & head_mask & tail_mask).count_ones()),
        Some((&tail, middle)) => {
            i64::from((head & head_mask).count_ones())
                + popcount(middle)
                + i64::from((tail & tail_mask).count_ones())
        }
    }
}

/// The first bit equal to `want_one` between absolute positions `first` and `last`, inclusive,
/// both inside `s`.
fn first_bit(s: &[u8], want_one: bool, first: u64, last: u64) -> Option<u64> {
    let first_byte = usize::try_from(first >> 3).ok()?;
    let last_byte = usize::try_from(last >> 3).ok()?;
    let bytes = s.get(first_byte..=last_byte)?;
    let head_mask = 0xffu8 >> (first & 7);
    let tail_mask = 0xffu8 << (7 - (last & 7));
    // Flip the bytes when looking for a 0 so the search is always for a 1.
    let probe = |i: usize, byte: u8| {
        let mut b = if want_one { byte } else { !byte };
        if i == 0 {
            b &= head_mask;
        }
        if i + 1 == bytes.len() {
            b &= tail_mask;
        }
        (b != 0).then(|| (i, b.leading_zeros()))
    };
    let skip = if want_one { 0x00 } else { 0xff };
    let found = match bytes.split_first() {
        None => None,
        Some((&head, rest)) => probe(0, head).or_else(|| {
            let (&tail, middle) = rest.split_last()?;
            match middle.iter().enumerate().find(|&(_, &b)| b != skip) {
                Some((i, &b)) => probe(i + 1, b),
                None => probe(bytes.len() - 1, tail),
            }
        }),
    };
    let (i, bit) = found?;
    Some((first_byte as u64 + i as u64) * 8 + u64::from(bit))
}

#[cfg(test)]
mod tests {
    //! Expected values were read from redis-server 7.0.15, not derived from this code.
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn run(s: &mut Vec<u8>, line: &str) -> Vec<Option<i64>> {
        let ops = parse_bitfield(&args(line), false).expect("ops parse");
        bitfield_apply(s, &ops)
    }

    type CountCase<'a> = (&'a [u8], Option<(i64, i64, RangeUnit)>, i64);
    type PosCase<'a> = (&'a [u8], u8, Option<i64>, Option<i64>, RangeUnit, i64);

    fn parse_err(line: &str, readonly: bool) -> String {
        parse_bitfield(&args(line), readonly)
            .expect_err("must fail")
            .0
            .into_owned()
    }

    #[test]
    fn setbit_and_getbit() {
        let mut s = Vec::new();
        assert_eq!(setbit(&mut s, 7, true), 0);
        assert_eq!(s, b"\x01");
        assert_eq!(setbit(&mut s, 7, true), 1);
        assert_eq!(setbit(&mut s, 7, false), 1);
        assert_eq!(s, b"\x00");
        assert_eq!(setbit(&mut s, 20, true), 0);
        assert_eq!(s, b"\x00\x00\x08");
        assert_eq!(getbit(&s, 20), 1);
        assert_eq!(getbit(&s, 21), 0);
        assert_eq!(getbit(&s, 4294967295), 0);
        assert_eq!(getbit(&s, u64::MAX), 0);
    }

    #[test]
    fn bit_offsets_are_bounded_by_proto_max_bulk_len() {
        let max = DEFAULT_PROTO_MAX_BULK_LEN;
        assert_eq!(parse_bit_offset(b"4294967295", max), Ok(4294967295));
        assert_eq!(parse_bit_offset(b"4294967296", max), Err(error::BIT_OFFSET));
        assert_eq!(parse_bit_offset(b"-1", max), Err(error::BIT_OFFSET));
        assert_eq!(parse_bit_offset(b"#1", max), Err(error::BIT_OFFSET));
        assert_eq!(parse_bit_offset(b"", max), Err(error::BIT_OFFSET));
        assert_eq!(
            parse_bit_offset(b"99999999999999999999", max),
            Err(error::BIT_OFFSET)
        );
    }

    #[test]
    fn bitcount_ranges() {
        use RangeUnit::{Bit, Byte};
        let foobar = b"foobar";
        let s = b"\x00\xff\xf0";
        let cases: &[CountCase] = &[
            (foobar, None, 26),
            (foobar, Some((0, 0, Byte)), 4),
            (foobar, Some((1, 1, Byte)), 6),
            (foobar, Some((5, 30, Bit)), 17),
            (foobar, Some((-1, -1, Byte)), 4),
            (foobar, Some((-3, -1, Bit)), 1),
            (foobar, Some((2, -3, Byte)), 9),
            (foobar, Some((10, 20, Byte)), 0),
            (foobar, Some((47, 100, Bit)), 0),
            (foobar, Some((48, 100, Bit)), 0),
            (s, Some((-5, -10, Byte)), 0),
            (s, Some((-10, -5, Byte)), 0),
            (s, Some((-1, -2, Byte)), 0),
            (s, Some((5, 10, Bit)), 3),
            (s, Some((i64::MIN, i64::MAX, Bit)), 12),
            (b"\xff\xff", Some((-5, -10, Byte)), 0),
            (b"\xff\xff", Some((-10, -5, Byte)), 8),
            (b"", None, 0),
            (b"", Some((0, -1, Byte)), 0),
            (b"", Some((-1, 0, Bit)), 0),
        ];
        for &(input, range, want) in cases {
            assert_eq!(bitcount(input, range), want, "{input:?} {range:?}");
        }
    }

    #[test]
    fn bitpos_cases() {
        use RangeUnit::{Bit, Byte};
        let s = b"\x00\xff\xf0";
        let ff = b"\xff\xff";
        let cases: &[PosCase] = &[
            (s, 1, None, None, Byte, 8),
            (s, 0, None, None, Byte, 0),
            (ff, 0, None, None, Byte, 16),
            (ff, 1, None, None, Byte, 0),
            (ff, 0, Some(1), None, Byte, 16),
            (ff, 0, Some(-1), None, Byte, 16),
            (ff, 0, Some(0), Some(-1), Byte, -1),
            (ff, 0, Some(2), None, Byte, -1),
            (ff, 0, Some(0), Some(15), Bit, -1),
            (ff, 0, Some(-3), Some(-1), Bit, -1),
            (s, 1, Some(2), Some(-1), Byte, 16),
            (s, 1, Some(7), Some(15), Bit, 8),
            (s, 0, Some(8), Some(15), Bit, -1),
            (s, 0, Some(10), Some(22), Bit, 20),
            (s, 0, Some(12), Some(23), Bit, 20),
            (s, 0, Some(9), Some(9), Bit, -1),
            (s, 1, Some(9), Some(9), Bit, 9),
            (s, 1, Some(-1), None, Byte, 16),
            (s, 0, Some(-100), Some(-50), Byte, 0),
            (s, 1, Some(-100), Some(-50), Byte, -1),
            (s, 0, Some(2), Some(1), Byte, -1),
            (s, 0, Some(3), None, Byte, -1),
            (s, 0, Some(100), Some(200), Bit, -1),
            (b"", 0, None, None, Byte, -1),
            (b"", 1, None, None, Byte, -1),
            (b"", 0, Some(0), Some(-1), Byte, -1),
            (b"", 0, Some(0), None, Byte, -1),
            (b"foobar", 0, Some(1), Some(1), Byte, 8),
        ];
        for &(input, bit, start, end, unit, want) in cases {
            assert_eq!(
                bitpos(input, bit, start, end, unit),
                want,
                "{input:?} {bit} {start:?} {end:?} {unit:?}"
            );
        }
        assert_eq!(bitpos_missing_key(0), 0);
        assert_eq!(bitpos_missing_key(1), -1);
    }

    #[test]
    fn bitop_pads_with_zeros() {
        let (a, b, c): (&[u8], &[u8], &[u8]) = (b"\x0f\xf0\xaa", b"\xff", b"\x55\x55\x55\x55");
        assert_eq!(bitop(BitOp::And, &[a, b, c]), b"\x05\x00\x00\x00");
        assert_eq!(bitop(BitOp::Or, &[a, b, c]), b"\xff\xf5\xff\x55");
        assert_eq!(bitop(BitOp::Xor, &[a, b, c]), b"\xa5\xa5\xff\x55");
        assert_eq!(bitop(BitOp::Not, &[a]), b"\xf0\x0f\x55");
        assert_eq!(bitop(BitOp::And, &[a, b""]), b"\x00\x00\x00");
        assert_eq!(bitop(BitOp::Or, &[b"", b""]), b"");
        assert_eq!(bitop(BitOp::Xor, &[a]), a);
        assert_eq!(bitop(BitOp::Not, &[]), b"");
        assert_eq!(BitOp::parse(b"xOr"), Some(BitOp::Xor));
        assert_eq!(BitOp::parse(b"nand"), None);
    }

    #[test]
    fn bitfield_get_set_incrby() {
        let mut f = Vec::new();
        let got = run(&mut f, "SET i8 0 -100 GET u8 0 GET i4 0 GET u4 4 INCRBY u2 100 1 GET u63 0 GET i64 0 GET i64 1");
        let want = [
            0,
            156,
            -7,
            12,
            1,
            5620492334958379008,
            -7205759403792793600,
            4035225266123964416,
        ];
        assert_eq!(got, want.map(Some));
        assert_eq!(f, b"\x9c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04");

        let mut w = Vec::new();
        let got = run(
            &mut w,
            "SET i64 3 -2 GET i64 3 GET u63 3 GET u63 4 GET i1 3 GET u1 66",
        );
        assert_eq!(
            got,
            [0, -2, 9223372036854775807, 9223372036854775806, -1, 0].map(Some)
        );
        assert_eq!(w, b"\x1f\xff\xff\xff\xff\xff\xff\xff\xc0");

        let mut x = Vec::new();
        let got = run(
            &mut x,
            "SET u8 #2 255 GET u8 #2 GET i64 #288230376151711745",
        );
        assert_eq!(got, [Some(0), Some(255), Some(0)]);
        assert_eq!(x, b"\x00\x00\xff");
    }

    #[test]
    fn bitfield_hash_offset_wraps_like_redis() {
        // #N * 64 past i64 wraps to offset 64 in Redis; * 8 past 2^64 wraps to offset 8.
        let mut y = b"\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08".to_vec();
        let got = run(
            &mut y,
            "GET i64 #288230376151711745 GET u8 #2305843009213693953",
        );
        assert_eq!(got, [Some(72623859790382856), Some(0)]);
        assert_eq!(
            parse_err("GET u8 #1152921504606846977", false),
            error::BIT_OFFSET.0
        );
        assert_eq!(
            parse_err("GET i64 #9223372036854775807", false),
            error::BIT_OFFSET.0
        );
    }

    #[test]
    fn bitfield_overflow_modes() {
        let mut g = Vec::new();
        let got = run(
            &mut g,
            "SET u8 0 -1 OVERFLOW SAT SET u8 8 -1 SET i8 16 200 SET i8 24 -200 \
             OVERFLOW WRAP SET i8 32 200 SET u8 40 300 SET i8 48 -129",
        );
        assert_eq!(got, [Some(0); 7]);
        assert_eq!(g, b"\xff\xff\x7f\x80\xc8\x2c\x7f");

        let mut h = Vec::new();
        let got = run(
            &mut h,
            "OVERFLOW SAT INCRBY u4 0 100 INCRBY u4 0 -100 INCRBY i4 4 7 INCRBY i4 4 2 INCRBY i4 4 -100 \
             OVERFLOW FAIL INCRBY u4 0 16 INCRBY u4 0 15 INCRBY u4 0 1 \
             OVERFLOW WRAP INCRBY u4 0 1 INCRBY i4 4 -9 INCRBY u63 8 -1",
        );
        let want = [
            Some(15),
            Some(0),
            Some(7),
            Some(7),
            Some(-8),
            None,
            Some(15),
            None,
            Some(0),
            Some(-1),
            Some(9223372036854775807),
        ];
        assert_eq!(got, want);
        assert_eq!(h, b"\x0f\xff\xff\xff\xff\xff\xff\xff\xfe");

        let mut i = Vec::new();
        let got = run(
            &mut i,
            "INCRBY i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW SAT INCRBY i64 0 1 \
             INCRBY i64 0 -9223372036854775808 OVERFLOW FAIL INCRBY i64 0 9223372036854775807 \
             INCRBY i64 0 -9223372036854775808 GET i64 0",
        );
        let want = [
            Some(i64::MAX),
            Some(i64::MIN),
            Some(i64::MIN + 1),
            Some(i64::MIN),
            Some(-1),
            None,
            Some(-1),
        ];
        assert_eq!(got, want);

        // Redis's signed range test wraps for values near i64::MIN: SAT stores the maximum.
        let mut q = Vec::new();
        let got = run(
            &mut q,
            "OVERFLOW SAT SET i16 0 -9223372036854775808 GET i16 0 \
             SET i63 16 -5000000000000000000 GET i63 16 \
             SET i63 16 -4611686018427387905 GET i63 16 \
             SET i8 80 -9223372036854775681 GET i8 80 SET i8 80 -9223372036854775680 GET i8 80 \
             OVERFLOW FAIL SET i8 80 -9223372036854775808 \
             OVERFLOW WRAP SET i8 80 -9223372036854775807 GET i8 80",
        );
        let max63 = 4611686018427387903;
        let want = [
            Some(0),
            Some(32767),
            Some(0),
            Some(max63),
            Some(max63),
            Some(max63),
            Some(0),
            Some(127),
            Some(127),
            Some(-128),
            None,
            Some(-128),
            Some(1),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn bitfield_growth() {
        // A write that FAIL refuses still grows the string to cover it.
        let mut n = Vec::new();
        assert_eq!(
            run(&mut n, "OVERFLOW FAIL SET i5 50 100 INCRBY u3 60 8"),
            [None, None]
        );
        assert_eq!(n, vec![0u8; 8]);
        let mut bf = Vec::new();
        assert_eq!(run(&mut bf, "OVERFLOW FAIL SET u8 100 -1"), [None]);
        assert_eq!(bf.len(), 14);
        // Reads never grow it.
        let mut m = Vec::new();
        let ops = parse_bitfield(&args("GET u8 1000"), true).expect("ops parse");
        assert!(!bitfield_writes(&ops));
        assert_eq!(bitfield_apply(&mut m, &ops), [Some(0)]);
        assert!(m.is_empty());
        assert!(parse_bitfield(&[], false)
            .expect("empty is fine")
            .is_empty());
    }

    #[test]
    fn bitfield_parse_errors() {
        let ty = error::BITFIELD_TYPE.0;
        for bad in ["u64", "i65", "i0", "I8", "i+8", "i08", "u99", "i-1", "x8"] {
            assert_eq!(parse_err(&format!("GET {bad} 0"), false), ty, "{bad}");
        }
        assert_eq!(
            parse_bitfield(
                &[
                    Bytes::from_static(b"GET"),
                    Bytes::from_static(b""),
                    Bytes::from_static(b"0")
                ],
                false
            )
            .map(|_| ()),
            Err(error::BITFIELD_TYPE)
        );
        let off = error::BIT_OFFSET.0;
        for bad in ["4294967296", "#536870912", "-1", "#-1", "#", "##1", "1.5"] {
            assert_eq!(parse_err(&format!("GET i8 {bad}"), false), off, "{bad}");
        }
        assert!(parse_bitfield(&args("GET i8 4294967295 GET i8 #536870911"), false).is_ok());
        let syntax = error::SYNTAX.0;
        for bad in [
            "GET i8",
            "OVERFLOW",
            "FOO",
            "SET u8 0",
            "INCRBY u8 0",
            "GET u8 0 GET",
        ] {
            assert_eq!(parse_err(bad, false), syntax, "{bad}");
        }
        assert_eq!(
            parse_err("OVERFLOW foo", false),
            error::BITFIELD_OVERFLOW_TYPE.0
        );
        assert_eq!(parse_err("SET i8 0 abc", true), error::NOT_INTEGER.0);
        assert_eq!(parse_err("SET i8 0 1 GET u99 0", true), ty);
        assert_eq!(
            parse_err("INCRBY i8 0 1", true),
            error::BITFIELD_RO_GET_ONLY.0
        );
        assert!(parse_bitfield(&args("OVERFLOW SAT GET u8 0"), true).is_ok());
        assert!(parse_bitfield(
            &args("get u8 0 set i8 0 1 incrby i8 0 1 overflow wrap"),
            false
        )
        .is_ok());
    }

    #[test]
    fn keywords_end_at_nul_like_redis() {
        let with_nul = [
            Bytes::from_static(b"GET\0z"),
            Bytes::from_static(b"u8\0z"),
            Bytes::from_static(b"0"),
            Bytes::from_static(b"OVERFLOW"),
            Bytes::from_static(b"SAT\0"),
        ];
        let ops = parse_bitfield(&with_nul, false).expect("ops parse");
        assert_eq!(
            ops,
            [BitfieldOp::Get {
                signed: false,
                bits: 8,
                offset: 0
            }]
        );
        assert_eq!(RangeUnit::parse(b"bit\0x"), Some(RangeUnit::Bit));
        assert_eq!(RangeUnit::parse(b"BYTE"), Some(RangeUnit::Byte));
        assert_eq!(RangeUnit::parse(b"bits"), None);
    }

    #[test]
    fn hand_built_ops_do_not_panic() {
        let mut s = b"\xff".to_vec();
        let ops = [
            BitfieldOp::Get {
                signed: true,
                bits: 0,
                offset: u64::MAX,
            },
            BitfieldOp::Get {
                signed: false,
                bits: 200,
                offset: u64::MAX - 3,
            },
            BitfieldOp::Set {
                signed: true,
                bits: 0,
                offset: 0,
                value: -5,
                overflow: Overflow::Sat,
            },
        ];
        let got = bitfield_apply(&mut s, &ops);
        assert_eq!(got.len(), 3);
    }
}
