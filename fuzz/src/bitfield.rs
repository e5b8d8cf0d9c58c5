//! Target: BITFIELD, `strata_engine::types::bitmap::{parse_bitfield_with_limit, bitfield_apply}`.
//!
//! The input becomes a `proto-max-bulk-len` of 1 to 64 bytes (so no offset can make the string
//! grow far), a BITFIELD_RO flag, a starting string, and a stream of arguments: mostly
//! well-formed GET/SET/INCRBY/OVERFLOW groups whose types, offsets and numbers sit on the edges,
//! mixed with stray and malformed tokens. [`check`] then checks:
//! - parsing: BITFIELD_RO accepts exactly the read-only argument lists BITFIELD accepts, and
//!   otherwise fails the same way; every parsed op has a legal type and an offset within the limit;
//! - applying: ops applied one at a time give the same replies and string as all at once; reads
//!   change nothing; the string grows only to cover written fields; and each op agrees with a
//!   bit-level model (bits outside the field never change; a result that fits is stored exactly;
//!   WRAP keeps the low bits, SAT stores an end of the range, FAIL replies nil and stores nothing).

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::error::BITFIELD_RO_GET_ONLY;
use strata_engine::types::bitmap::{
    bitfield_apply, bitfield_writes, parse_bitfield_with_limit, BitfieldOp, Overflow,
};

use crate::input::Input;
use crate::show;

/// Arguments per BITFIELD call, at most.
const MAX_ARGS: usize = 40;

pub const DICTIONARY: &[&[u8]] = &[b"\x00", b"\x03", b"\x09", b"\x0b", b"\xff"];

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let limit = 1 + u64::from(input.byte() % 64);
    let readonly = input.byte() & 1 == 1;
    let initial_len = usize::from(input.byte() % 48);
    let initial = input.bytes(initial_len).to_vec();
    let mut args = Vec::new();
    while !input.is_empty() && args.len() < MAX_ARGS {
        push_tokens(&mut input, limit, &mut args);
    }

    let parsed = parse_bitfield_with_limit(&args, false, limit);
    if readonly {
        let parsed_ro = parse_bitfield_with_limit(&args, true, limit);
        match (&parsed, &parsed_ro) {
            (Ok(ops), Ok(ops_ro)) => {
                assert_eq!(ops, ops_ro, "BITFIELD_RO parsed differently");
                assert!(!bitfield_writes(ops), "BITFIELD_RO accepted a write");
            }
            (Ok(ops), Err(e)) => {
                assert_eq!(
                    *e, BITFIELD_RO_GET_ONLY,
                    "BITFIELD_RO refused valid arguments"
                );
                assert!(bitfield_writes(ops), "BITFIELD_RO refused a read-only call");
            }
            (Err(e), Err(e_ro)) => assert_eq!(e, e_ro, "BITFIELD_RO failed differently"),
            (Err(e), Ok(_)) => panic!("BITFIELD_RO accepted what BITFIELD refuses with {e:?}"),
        }
    }
    let Ok(ops) = parsed else {
        return;
    };

    for op in &ops {
        let (signed, bits, offset) = field_of(op);
        let widest = if signed { 64 } else { 63 };
        assert!(
            (1..=widest).contains(&bits),
            "parsed a field of {bits} bits: {op:?}"
        );
        assert!(
            offset >> 3 < limit,
            "parsed offset {offset} past proto-max-bulk-len {limit}"
        );
    }

    let mut whole = initial.clone();
    let replies = bitfield_apply(&mut whole, &ops);
    assert_eq!(replies.len(), ops.len(), "one reply per op");

    let mut stepwise = initial.clone();
    for (op, &reply) in ops.iter().zip(&replies) {
        let before = stepwise.clone();
        let single = bitfield_apply(&mut stepwise, std::slice::from_ref(op));
        assert_eq!(
            single,
            [reply],
            "{op:?} alone replies differently than in the batch"
        );
        check_op(op, &before, &stepwise, reply);
    }
    assert!(
        stepwise == whole,
        "ops one by one leave {}, all at once {}",
        show(&stepwise),
        show(&whole)
    );
    if !bitfield_writes(&ops) {
        assert!(whole == initial, "read-only ops changed the string");
    }
    assert!(
        whole.len() <= initial.len().max(limit as usize + 8),
        "the string grew to {} bytes under proto-max-bulk-len {limit}",
        whole.len()
    );
}

fn field_of(op: &BitfieldOp) -> (bool, u8, u64) {
    match *op {
        BitfieldOp::Get {
            signed,
            bits,
            offset,
        }
        | BitfieldOp::Set {
            signed,
            bits,
            offset,
            ..
        }
        | BitfieldOp::IncrBy {
            signed,
            bits,
            offset,
            ..
        } => (signed, bits, offset),
    }
}

/// Checks one op against the bit-level model, given the string before and after it.
fn check_op(op: &BitfieldOp, before: &[u8], after: &[u8], reply: Option<i64>) {
    let (signed, bits, offset) = field_of(op);
    let old = read_field(before, offset, bits, signed);
    let (base, incr, overflow, is_set) = match *op {
        BitfieldOp::Get { .. } => {
            assert!(after == before, "GET changed the string");
            assert_eq!(reply, Some(old as i64), "{op:?} read the wrong value");
            return;
        }
        BitfieldOp::Set {
            value, overflow, ..
        } => (i128::from(value), 0, overflow, true),
        BitfieldOp::IncrBy { incr, overflow, .. } => (old, i128::from(incr), overflow, false),
    };

    let last_bit = offset + u64::from(bits) - 1;
    let needed = (last_bit >> 3) as usize + 1;
    assert_eq!(
        after.len(),
        before.len().max(needed),
        "{op:?} did not grow the string to cover the field"
    );
    for pos in 0..after.len() as u64 * 8 {
        if pos < offset || pos > last_bit {
            assert_eq!(
                bit(after, pos),
                bit(before, pos),
                "{op:?} changed bit {pos}, outside its field"
            );
        }
    }

    let stored = read_field(after, offset, bits, signed);
    let (lo, hi) = field_range(signed, bits);
    let exact = base + incr;
    // SET replies with the old value, INCRBY with the new one.
    let expected_reply = |new: i128| Some((if is_set { old } else { new }) as i64);
    if (lo..=hi).contains(&exact) {
        assert_eq!(stored, exact, "{op:?} stored a wrong in-range value");
        assert_eq!(reply, expected_reply(exact), "{op:?} replied wrongly");
        return;
    }
    match overflow {
        Overflow::Wrap => {
            let mask = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            let low_bits = (base as i64 as u64).wrapping_add(incr as i64 as u64) & mask;
            assert_eq!(
                raw_field(after, offset, bits),
                low_bits,
                "{op:?} WRAP did not keep the low bits"
            );
            assert_eq!(reply, expected_reply(stored), "{op:?} replied wrongly");
        }
        Overflow::Sat => {
            assert!(
                stored == lo || stored == hi,
                "{op:?} SAT stored {stored}, not an end of [{lo}, {hi}]"
            );
            assert_eq!(reply, expected_reply(stored), "{op:?} replied wrongly");
        }
        Overflow::Fail => {
            assert_eq!(reply, None, "{op:?} FAIL did not reply nil");
            assert_eq!(stored, old, "{op:?} FAIL changed the field");
        }
    }
}

/// Bit `pos` of `s`, most significant bit of byte 0 first; zero past the end.
fn bit(s: &[u8], pos: u64) -> bool {
    usize::try_from(pos >> 3)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|b| b & (0x80 >> (pos & 7)) != 0)
}

fn raw_field(s: &[u8], offset: u64, bits: u8) -> u64 {
    (0..u64::from(bits)).fold(0, |acc, j| (acc << 1) | u64::from(bit(s, offset + j)))
}

fn read_field(s: &[u8], offset: u64, bits: u8, signed: bool) -> i128 {
    let raw = i128::from(raw_field(s, offset, bits));
    if signed && (raw >> (bits - 1)) & 1 == 1 {
        raw - (1i128 << bits)
    } else {
        raw
    }
}

fn field_range(signed: bool, bits: u8) -> (i128, i128) {
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Turning input bytes into arguments

fn push_tokens(input: &mut Input<'_>, limit: u64, args: &mut Vec<Bytes>) {
    match input.byte() % 16 {
        0..=2 => {
            args.push(keyword(input, b"get"));
            args.push(type_token(input));
            args.push(offset_token(input, limit));
        }
        3..=5 => {
            args.push(keyword(input, b"set"));
            args.push(type_token(input));
            args.push(offset_token(input, limit));
            args.push(integer_token(input));
        }
        6..=8 => {
            args.push(keyword(input, b"incrby"));
            args.push(type_token(input));
            args.push(offset_token(input, limit));
            args.push(integer_token(input));
        }
        9..=10 => {
            const KINDS: &[&[u8]] = &[b"wrap", b"sat", b"fail", b"saturate"];
            args.push(keyword(input, b"overflow"));
            let kind = KINDS[usize::from(input.byte()) % KINDS.len()];
            args.push(keyword(input, kind));
        }
        11 => args.push(type_token(input)),
        12 => args.push(offset_token(input, limit)),
        13 => args.push(integer_token(input)),
        14 => {
            const WORDS: &[&[u8]] = &[b"get", b"set", b"incrby", b"overflow", b"wrap", b"fail"];
            let word = WORDS[usize::from(input.byte()) % WORDS.len()];
            args.push(keyword(input, word));
        }
        _ => {
            let len = usize::from(input.byte() % 8);
            args.push(Bytes::copy_from_slice(input.bytes(len)));
        }
    }
}

/// `word` in some mix of cases; sometimes with a NUL and junk after it (Redis compares keywords
/// as C strings), sometimes misspelt.
fn keyword(input: &mut Input<'_>, word: &[u8]) -> Bytes {
    let style = input.byte();
    let mut out: Vec<u8> = word
        .iter()
        .enumerate()
        .map(|(i, &c)| match style & 3 {
            0 => c.to_ascii_lowercase(),
            1 => c.to_ascii_uppercase(),
            _ if (i + usize::from(style >> 2)) & 1 == 0 => c.to_ascii_uppercase(),
            _ => c,
        })
        .collect();
    if style & 0x10 != 0 {
        out.extend_from_slice(b"\0junk");
    }
    if style & 0xe0 == 0xe0 {
        out.pop();
    }
    Bytes::from(out)
}

fn type_token(input: &mut Input<'_>) -> Bytes {
    const ODD: &[&[u8]] = &[
        b"", b"i", b"u", b"x8", b"i08", b"u-1", b"I8", b"U8", b"i8\0x", b"i+8", b"u64", b"i65",
        b"i0", b"u0", b"i64", b"u63",
    ];
    let kind = input.byte();
    let n = input.byte();
    if kind & 7 == 0 {
        return Bytes::from_static(ODD[usize::from(n) % ODD.len()]);
    }
    let sign = if kind & 8 == 0 { 'i' } else { 'u' };
    Bytes::from(format!("{sign}{}", n % 70))
}

fn offset_token(input: &mut Input<'_>, limit: u64) -> Bytes {
    const ODD: &[&[u8]] = &[
        b"",
        b"#",
        b"#-1",
        b"-0",
        b"01",
        b"+5",
        b"5\0",
        b"#0",
        b"99999999999999999999",
        b"9223372036854775807",
        b"18446744073709551615",
        b"#9223372036854775807",
        b"#4611686018427387904",
        b"#2305843009213693952",
        b"#1152921504606846976",
        b"#-9223372036854775808",
    ];
    let kind = input.byte();
    let n = u64::from(input.u16());
    let bits = limit * 8;
    let text = match kind & 7 {
        0..=3 => (n % (bits + 64)).to_string(),
        4 => format!("#{}", n % (bits / 4 + 8)),
        5 => format!("-{}", n % 100 + 1),
        6 => return Bytes::from_static(ODD[(n as usize) % ODD.len()]),
        _ => (input.u64() >> (n % 64)).to_string(),
    };
    Bytes::from(text)
}

fn integer_token(input: &mut Input<'_>) -> Bytes {
    const EDGES: &[i64] = &[
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
        0,
        -1,
        1,
        127,
        128,
        -128,
        -129,
        255,
        256,
        32_767,
        65_535,
        1 << 31,
        1 << 32,
        1 << 62,
        -(1 << 62),
    ];
    const ODD: &[&[u8]] = &[
        b"",
        b"1.5",
        b"+1",
        b"-0",
        b"01",
        b"9223372036854775808",
        b"-9223372036854775809",
        b" 1",
        b"0x10",
        b"1\0",
    ];
    let kind = input.byte();
    let value: i64 = match kind & 7 {
        0 => EDGES[usize::from(input.byte()) % EDGES.len()],
        1..=3 => i64::from(input.byte() as i8),
        4..=5 => input.u64() as i64,
        6 => return Bytes::from_static(ODD[usize::from(input.byte()) % ODD.len()]),
        _ => (input.u64() as i64) >> (input.byte() % 64),
    };
    Bytes::from(value.to_string())
}

/// Random bytes: every byte string is a meaningful input here.
pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.gen_range(3..200);
    (0..len).map(|_| rng.gen()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_reads_fields_msb_first() {
        let s = [0b1010_0000, 0xff];
        assert_eq!(read_field(&s, 0, 3, false), 0b101);
        assert_eq!(read_field(&s, 0, 3, true), -3);
        assert_eq!(read_field(&s, 8, 8, true), -1);
        assert_eq!(read_field(&s, 12, 8, false), 0xf0);
        assert_eq!(
            field_range(true, 64),
            (i128::from(i64::MIN), i128::from(i64::MAX))
        );
        assert_eq!(field_range(false, 63), (0, i128::from(i64::MAX)));
    }

    #[test]
    fn hand_written_calls_pass() {
        use rand::SeedableRng;
        // proto-max-bulk-len 8, BITFIELD, empty string; then the tokens
        // `SET u8 #1 -1` (WRAP stores 255) and `get i8 8` (reads it back as -1).
        let data = [7, 0, 0, 3, 1, 9, 8, 4, 1, 0, 0, 4, 0, 0, 1, 8, 0, 8, 0];
        check(&data);
        let args: Vec<Bytes> = ["SET", "u8", "#1", "-1", "get", "i8", "8"]
            .iter()
            .map(|a| Bytes::from(a.as_bytes().to_vec()))
            .collect();
        let ops = parse_bitfield_with_limit(&args, false, 8).expect("parses");
        let mut s = Vec::new();
        assert_eq!(bitfield_apply(&mut s, &ops), [Some(0), Some(-1)]);
        assert_eq!(s, [0, 255]);

        let mut rng = SmallRng::seed_from_u64(4);
        for _ in 0..300 {
            check(&generate(&mut rng));
        }
    }
}
