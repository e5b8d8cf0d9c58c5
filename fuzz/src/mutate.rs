//! The mutator: small, blind edits that turn a valid input into the near-misses parsers get wrong.
//!
//! Besides the classic byte-level edits (bit flips, inserts, deletes, truncation, duplication) it
//! has two format-aware ones: rewriting a RESP length field (`*N` or `$N`) to a huge, negative or
//! malformed number, and overwriting bytes with a long varint, which is how a corrupt or hostile
//! effect record declares an absurd length.

use rand::rngs::SmallRng;
use rand::Rng;

/// Bytes that mean something to at least one target, used when a mutation needs "some byte".
const INTERESTING: &[u8] = b"\x00\x01\x7f\x80\xff\r\n*$-+0129 \t\"'\\x\x0b\x0c[]^?#";

/// Replacements for the digits of a RESP count or length.
const LENGTHS: &[&[u8]] = &[
    b"400000000",
    b"536870912",
    b"536870913",
    b"1048576",
    b"1048577",
    b"-1",
    b"-2",
    b"0",
    b"00",
    b"01",
    b"-0",
    b"+1",
    b"1",
    b"2",
    b"16",
    b"17",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"99999999999999999999999",
    b"",
    b" 1",
    b"1 ",
    b"1\x00",
];

/// Applies one random edit to `data`, then cuts it to `max_len` bytes.
pub fn mutate(rng: &mut SmallRng, data: &mut Vec<u8>, dictionary: &[&[u8]], max_len: usize) {
    match rng.gen_range(0..12) {
        0..=1 => flip_bit(rng, data),
        2 => set_byte(rng, data),
        3 => {
            let at = rng.gen_range(0..=data.len());
            let n = rng.gen_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| some_byte(rng)).collect();
            data.splice(at..at, bytes);
        }
        4 => insert_token(rng, data, dictionary),
        5 => delete_range(rng, data),
        6 => {
            let at = rng.gen_range(0..=data.len());
            data.truncate(at);
        }
        7 => duplicate_range(rng, data),
        8..=9 => rewrite_length(rng, data),
        10 => overwrite_varint(rng, data),
        _ => {
            // A run of one byte: long lines, long digit strings, long quoted strings.
            let at = rng.gen_range(0..=data.len());
            let n = rng.gen_range(1..=64);
            let b = some_byte(rng);
            data.splice(at..at, vec![b; n]);
        }
    }
    data.truncate(max_len);
}

/// Random bytes and dictionary tokens, up to `max_len` bytes.
pub fn random_bytes(rng: &mut SmallRng, dictionary: &[&[u8]], max_len: usize) -> Vec<u8> {
    let target = rng.gen_range(0..=max_len);
    let mut out = Vec::with_capacity(target);
    while out.len() < target {
        if !dictionary.is_empty() && rng.gen_bool(0.3) {
            out.extend_from_slice(dictionary[rng.gen_range(0..dictionary.len())]);
        } else {
            out.push(some_byte(rng));
        }
    }
    out.truncate(target);
    out
}

/// Half the time a byte from [`INTERESTING`], otherwise any byte.
fn some_byte(rng: &mut SmallRng) -> u8 {
    if rng.gen_bool(0.5) {
        INTERESTING[rng.gen_range(0..INTERESTING.len())]
    } else {
        rng.gen()
    }
}

fn flip_bit(rng: &mut SmallRng, data: &mut [u8]) {
    if data.is_empty() {
        return;
    }
    let at = rng.gen_range(0..data.len());
    data[at] ^= 1 << rng.gen_range(0..8);
}

fn set_byte(rng: &mut SmallRng, data: &mut Vec<u8>) {
    if data.is_empty() {
        data.push(some_byte(rng));
        return;
    }
    let at = rng.gen_range(0..data.len());
    data[at] = some_byte(rng);
}

fn insert_token(rng: &mut SmallRng, data: &mut Vec<u8>, dictionary: &[&[u8]]) {
    let at = rng.gen_range(0..=data.len());
    let token: &[u8] = if dictionary.is_empty() {
        LENGTHS[rng.gen_range(0..LENGTHS.len())]
    } else {
        dictionary[rng.gen_range(0..dictionary.len())]
    };
    data.splice(at..at, token.iter().copied());
}

fn delete_range(rng: &mut SmallRng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let start = rng.gen_range(0..data.len());
    let end = (start + rng.gen_range(1..=16)).min(data.len());
    data.drain(start..end);
}

/// Copies a range of the input to another place in it (a repeated frame, a doubled header).
fn duplicate_range(rng: &mut SmallRng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let start = rng.gen_range(0..data.len());
    let end = (start + rng.gen_range(1..=64)).min(data.len());
    let copy = data[start..end].to_vec();
    let at = rng.gen_range(0..=data.len());
    data.splice(at..at, copy);
}

/// Replaces the number after a `*` or `$` with one from [`LENGTHS`] or a random one; when the
/// input has no such field, writes a whole new header somewhere.
fn rewrite_length(rng: &mut SmallRng, data: &mut Vec<u8>) {
    let fields: Vec<usize> = data
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'*' || c == b'$')
        .map(|(i, _)| i)
        .collect();
    let replacement = if rng.gen_bool(0.7) {
        LENGTHS[rng.gen_range(0..LENGTHS.len())].to_vec()
    } else {
        let n: i64 = match rng.gen_range(0..3) {
            0 => rng.gen_range(-3..100),
            1 => rng.gen_range(0..1_000_000_000),
            _ => rng.gen(),
        };
        n.to_string().into_bytes()
    };
    if fields.is_empty() {
        let at = rng.gen_range(0..=data.len());
        let mut header = vec![if rng.gen_bool(0.5) { b'*' } else { b'$' }];
        header.extend_from_slice(&replacement);
        header.extend_from_slice(b"\r\n");
        data.splice(at..at, header);
        return;
    }
    let marker = fields[rng.gen_range(0..fields.len())];
    let start = marker + 1;
    let mut end = start;
    if data.get(end) == Some(&b'-') {
        end += 1;
    }
    while data.get(end).is_some_and(u8::is_ascii_digit) {
        end += 1;
    }
    data.splice(start..end, replacement);
}

/// Writes a varint of 1 to 10 bytes at a random place: mostly continuation bytes, so it decodes
/// to a huge number or runs past the 64-bit limit.
fn overwrite_varint(rng: &mut SmallRng, data: &mut Vec<u8>) {
    let n = rng.gen_range(1..=10);
    let mut varint: Vec<u8> = (0..n - 1)
        .map(|_| if rng.gen_bool(0.8) { 0xff } else { 0x80 })
        .collect();
    varint.push(rng.gen());
    let at = rng.gen_range(0..=data.len());
    let end = (at + varint.len()).min(data.len());
    data.splice(at..end, varint);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_respect_the_length_cap() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut data = b"*1\r\n$3\r\nGET\r\n".to_vec();
        for _ in 0..2000 {
            mutate(&mut rng, &mut data, &[b"*"], 64);
            assert!(data.len() <= 64);
        }
    }

    #[test]
    fn length_rewrite_replaces_the_whole_number() {
        let mut rng = SmallRng::seed_from_u64(3);
        let sevens = [b'7'; 24];
        for _ in 0..200 {
            let mut data = b"$".to_vec();
            data.extend_from_slice(&sevens);
            data.extend_from_slice(b"\r\n");
            rewrite_length(&mut rng, &mut data);
            assert_eq!(data[0], b'$');
            assert!(data.ends_with(b"\r\n"), "{data:?}");
            // No replacement has 20 sevens in a row, so any such run is a leftover digit.
            assert!(!data.windows(20).any(|w| w == &sevens[..20]), "{data:?}");
        }
    }
}
