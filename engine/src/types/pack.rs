//! Packed entry lists: the flat encoding of small hashes, lists, sets and sorted sets.
//!
//! After a flat value's header comes a 4-byte little-endian element count, then the entries,
//! each a LEB128 length followed by its bytes. Hashes and sorted sets store pairs (field then
//! value; member then the score as 8 little-endian bytes), and their count is of pairs. The
//! functions here take the whole buffer, header included, and offsets count from its start.
//!
//! Like Redis's listpack, every edit moves the bytes after it: fine for the small collections
//! this encoding is kept for (Redis's `*-max-listpack-*` thresholds bound them).

use super::HEADER;

/// Offset of the first entry.
pub const START: usize = HEADER + 4;

pub fn count(buf: &[u8]) -> usize {
    let mut c = [0u8; 4];
    c.copy_from_slice(&buf[HEADER..START]);
    u32::from_le_bytes(c) as usize
}

pub fn set_count(buf: &mut [u8], n: usize) {
    buf[HEADER..START].copy_from_slice(&(n as u32).to_le_bytes());
}

/// The entry at `off` and the offset just past it.
pub fn read(buf: &[u8], off: usize) -> (&[u8], usize) {
    let mut len = 0usize;
    let mut shift = 0;
    let mut i = off;
    loop {
        let b = buf[i];
        i += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&buf[i..i + len], i + len)
}

/// Bytes an entry of `len` bytes takes.
pub fn encoded_len(len: usize) -> usize {
    let mut n = 1;
    let mut l = len >> 7;
    while l > 0 {
        n += 1;
        l >>= 7;
    }
    n + len
}

pub fn encode(out: &mut Vec<u8>, e: &[u8]) {
    let mut l = e.len();
    while l >= 0x80 {
        out.push((l as u8 & 0x7f) | 0x80);
        l >>= 7;
    }
    out.push(l as u8);
    out.extend_from_slice(e);
}

/// Entries from `START`, each with its offset.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.off >= self.buf.len() {
            return None;
        }
        let at = self.off;
        let (e, next) = read(self.buf, at);
        self.off = next;
        Some((at, e))
    }
}

pub fn iter(buf: &[u8]) -> Iter<'_> {
    Iter { buf, off: START }
}

/// Pairs from `START`: (offset of the first, first, second).
pub fn pairs(buf: &[u8]) -> impl Iterator<Item = (usize, &[u8], &[u8])> + '_ {
    let mut it = iter(buf);
    std::iter::from_fn(move || {
        let (off, a) = it.next()?;
        let (_, b) = it.next()?;
        Some((off, a, b))
    })
}

/// Inserts entries at `off`.
pub fn insert(v: &mut Vec<u8>, off: usize, entries: &[&[u8]]) {
    let mut bytes = Vec::with_capacity(entries.iter().map(|e| encoded_len(e.len())).sum());
    for e in entries {
        encode(&mut bytes, e);
    }
    v.splice(off..off, bytes);
}

/// Removes `n` consecutive entries starting at `off`.
pub fn remove(v: &mut Vec<u8>, off: usize, n: usize) {
    let mut end = off;
    for _ in 0..n {
        end = read(v, end).1;
    }
    v.drain(off..end);
}

/// Replaces the entry at `off`.
pub fn replace(v: &mut Vec<u8>, off: usize, e: &[u8]) {
    let end = read(v, off).1;
    let mut bytes = Vec::with_capacity(encoded_len(e.len()));
    encode(&mut bytes, e);
    v.splice(off..end, bytes);
}

/// A buffer with `header` (flags byte and access clock) and the given entries.
pub fn build<'a>(
    header: [u8; HEADER],
    count: usize,
    entries: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&header);
    v.extend_from_slice(&(count as u32).to_le_bytes());
    for e in entries {
        encode(&mut v, e);
    }
    v
}

/// The size Redis's listpack would give an entry (encoding plus back-length), which drives
/// the list conversions `list-max-listpack-size` controls.
pub fn redis_entry_size(e: &[u8]) -> usize {
    let enc = match (e.len() <= 20)
        .then(|| crate::number::parse_i64(e))
        .flatten()
    {
        Some(v) if (0..=127).contains(&v) => 1,
        Some(v) if (-4096..=4095).contains(&v) => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => 4,
        Some(v) if i32::try_from(v).is_ok() => 5,
        Some(_) => 9,
        None if e.len() < 64 => 1 + e.len(),
        None if e.len() < 4096 => 2 + e.len(),
        None => 5 + e.len(),
    };
    let back = match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    enc + back
}

/// Redis's listpack header and terminator bytes.
pub const REDIS_LP_OVERHEAD: usize = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_edit() {
        let long = vec![7u8; 300];
        let mut v = build([0; HEADER], 3, [&b"a"[..], b"", &long].into_iter());
        assert_eq!(count(&v), 3);
        let got: Vec<&[u8]> = iter(&v).map(|(_, e)| e).collect();
        assert_eq!(got, vec![&b"a"[..], b"", &long[..]]);
        let second = iter(&v).nth(1).unwrap().0;
        replace(&mut v, second, b"xyz");
        insert(&mut v, START, &[b"first"]);
        set_count(&mut v, 4);
        let got: Vec<&[u8]> = iter(&v).map(|(_, e)| e).collect();
        assert_eq!(got, vec![&b"first"[..], b"a", b"xyz", &long[..]]);
        let a = iter(&v).nth(1).unwrap().0;
        remove(&mut v, a, 2);
        let got: Vec<&[u8]> = iter(&v).map(|(_, e)| e).collect();
        assert_eq!(got, vec![&b"first"[..], &long[..]]);
        assert_eq!(encoded_len(300), 302);
        assert_eq!(encoded_len(127), 128);
    }

    #[test]
    fn redis_sizes() {
        assert_eq!(redis_entry_size(b"5"), 2);
        assert_eq!(redis_entry_size(b"1000"), 3);
        assert_eq!(redis_entry_size(b"hello"), 7);
        assert_eq!(redis_entry_size(&[b'x'; 100]), 103);
        assert_eq!(redis_entry_size(b"-9223372036854775808"), 10);
    }
}
