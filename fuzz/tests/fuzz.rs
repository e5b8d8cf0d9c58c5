//! Runs every fuzz target for a bounded number of inputs, then the directed cases and the
//! property tests of the round trips.
//!
//! - `STRATA_FUZZ_ITERS`: inputs per target (default 50000 in a release build, 5000 in a debug
//!   build; the HLL target runs a quarter of that, its inputs cost that much more).
//! - `STRATA_FUZZ_SEED`: the seed, decimal or `0x` hex (default [`DEFAULT_SEED`]).
//! - `STRATA_FUZZ_REPLAY=<target>:<hex>`: `regressions_and_replay` also runs that one input, as
//!   printed by a failing run.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use strata_engine::effect::{decode, encode, Effect};
use strata_engine::types::hll::new_sparse;
use strata_fuzz::{glob, hll, resp};
use strata_server::resp::parse::{parse_command, Limits, INLINE_MAX};

const DEFAULT_SEED: u64 = 0x5354_5241_5441_0001;

fn iterations() -> u64 {
    let default = if cfg!(debug_assertions) {
        5_000
    } else {
        50_000
    };
    match std::env::var("STRATA_FUZZ_ITERS") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("STRATA_FUZZ_ITERS={v:?} is not a number")),
        Err(_) => default,
    }
}

fn seed() -> u64 {
    match std::env::var("STRATA_FUZZ_SEED") {
        Ok(v) => strata_fuzz::parse_seed(&v)
            .unwrap_or_else(|| panic!("STRATA_FUZZ_SEED={v:?} is not a number")),
        Err(_) => DEFAULT_SEED,
    }
}

fn fuzz(name: &str) {
    let target = strata_fuzz::target(name).expect("a target by that name");
    let ran = strata_fuzz::run(target, seed(), iterations());
    eprintln!("strata-fuzz: {name}: {ran} inputs passed");
}

#[test]
fn resp_parser() {
    fuzz("resp_parser");
}

#[test]
fn effect_decoder() {
    fuzz("effect_decoder");
}

#[test]
fn hll() {
    fuzz("hll");
}

#[test]
fn bitfield() {
    fuzz("bitfield");
}

#[test]
fn glob() {
    fuzz("glob");
}

#[test]
fn wal() {
    fuzz("wal");
}

#[test]
fn snapshot() {
    fuzz("snapshot");
}

// ---------------------------------------------------------------------------------------------
// Directed cases

/// A truncated sparse HLL whose last opcode, an XZERO, lost its second byte: it still covers
/// exactly 16384 registers when that byte reads as 0, as Redis reads it.
fn hll_with_truncated_xzero() -> Vec<u8> {
    let mut v = b"HYLL\x01".to_vec();
    v.extend_from_slice(&[0; 10]);
    v.push(0x80);
    v.extend_from_slice(&[0x40, 0xfe, 0x7f]);
    v
}

fn dense_hll(len: usize) -> Vec<u8> {
    let mut v = b"HYLL\x00".to_vec();
    v.resize(len, 0);
    v
}

/// Inputs worth keeping: each pins an edge case or once found a bug. Append the input a failing
/// run prints here once the bug is fixed.
#[test]
fn regressions_and_replay() {
    let elements: Vec<Vec<u8>> = (0..16).map(|i| format!("e{i}").into_bytes()).collect();
    let fixed: Vec<(&str, Vec<u8>)> = vec![
        ("resp_parser", b"*1\r\n$400000000\r\nab".to_vec()),
        ("resp_parser", b"*99999999999\r\n".to_vec()),
        ("resp_parser", b"*-9223372036854775808\r\n*0\r\n".to_vec()),
        ("resp_parser", b"*1048577\r\n".to_vec()),
        ("resp_parser", b"*1048576\r\n$1\r\na\r\n".to_vec()),
        ("resp_parser", b"\r\n\n  \r\n*2\r\n$1\r\na".to_vec()),
        (
            "resp_parser",
            b"*1\r\n$3\r\nabcXY*1\r\n$1\r\na\r\n".to_vec(),
        ),
        ("resp_parser", b"*1\r\n$01\r\na\r\n".to_vec()),
        ("resp_parser", b"*1\r\n$-0\r\n".to_vec()),
        ("resp_parser", b"*1\rx\r\n$1\r\na\r\n".to_vec()),
        ("resp_parser", b"*2\r\n$1\r\na\r\nb".to_vec()),
        (
            "resp_parser",
            b"SET k \"a\\x4\" '\\'' \"\\\"\" \"\\xZZ\"\r\n".to_vec(),
        ),
        ("resp_parser", b"\"unterminated\r\n".to_vec()),
        ("resp_parser", b"'a'b\r\n".to_vec()),
        ("resp_parser", b"$3\r\nfoo\r\n".to_vec()),
        ("effect_decoder", Vec::new()),
        (
            "effect_decoder",
            vec![1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f],
        ),
        (
            "effect_decoder",
            vec![
                2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,
            ],
        ),
        ("effect_decoder", vec![2, 0x80, 0x80, 0x00, 0x01, b'k']),
        (
            "effect_decoder",
            vec![7, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10],
        ),
        ("effect_decoder", vec![10, 10, 10, 0xee]),
        (
            "hll",
            hll::frame(0xff, 3000, 16, &[new_sparse()], &elements),
        ),
        (
            "hll",
            hll::frame(0x07, 3000, 16, &[hll_with_truncated_xzero()], &elements),
        ),
        (
            "hll",
            hll::frame(
                0x03,
                0,
                16,
                &[dense_hll(12304), hll_with_truncated_xzero()],
                &elements,
            ),
        ),
        (
            "hll",
            hll::frame(
                0x01,
                3000,
                4,
                &[dense_hll(12303), b"HYLL".to_vec()],
                &elements,
            ),
        ),
        (
            "bitfield",
            vec![7, 0, 0, 3, 1, 9, 8, 4, 1, 0, 0, 4, 0, 0, 1, 8, 0, 8, 0],
        ),
        (
            "glob",
            glob::encode(b"*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &[b'a'; 64], false).expect("encodable"),
        ),
        (
            "glob",
            glob::encode(b"[\xff-a]\\", b"0\\", true).expect("encodable"),
        ),
    ];
    for (name, input) in &fixed {
        let target = strata_fuzz::target(name).expect("a target by that name");
        (target.check)(input);
    }
    if let Ok(spec) = std::env::var("STRATA_FUZZ_REPLAY") {
        strata_fuzz::replay(&spec).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Known bug: `split_args` (server/src/resp/parse.rs) never returns on an unquoted NUL byte.
/// Until it is fixed this fails with `NUL_HANG_GUARD`'s message (src/resp.rs) instead of hanging;
/// after the fix it expects Redis's reading, which ends the line at the NUL.
#[test]
fn inline_command_with_a_nul_byte() {
    strata_fuzz::fuzz_resp_parser(b"GET a\0b\r\n");
}

/// Known divergence from Redis: `sdssplitargs` takes a vertical tab (0x0b) as a blank (C
/// `isspace`); `split_args` uses `u8::is_ascii_whitespace`, which leaves it out, so Strata reads
/// `\x0bPING` as one word and refuses `"a"\x0b` as unbalanced quotes.
#[test]
fn inline_vertical_tab_is_a_blank() {
    strata_fuzz::fuzz_resp_parser(b"\x0bPING\r\n");
    strata_fuzz::fuzz_resp_parser(b"ECHO \"a\"\x0b\r\n");
}

#[test]
fn generated_pipelines_parse_to_their_commands() {
    use rand::SeedableRng;
    let limits = Limits {
        max_bulk_len: resp::DEFAULT_MAX_BULK_LEN,
        authenticated: true,
    };
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed());
    for _ in 0..2_000 {
        let pipeline = resp::generate_pipeline(&mut rng);
        let mut buf = BytesMut::from(&pipeline.bytes[..]);
        let mut commands = Vec::new();
        loop {
            match parse_command(&mut buf, &limits) {
                Ok(Some(args)) => {
                    commands.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                }
                Ok(None) => break,
                Err(e) => panic!("{e:?} on {}", strata_fuzz::show(&pipeline.bytes)),
            }
        }
        assert!(buf.is_empty(), "{}", strata_fuzz::show(&pipeline.bytes));
        assert_eq!(
            commands,
            pipeline.commands,
            "{}",
            strata_fuzz::show(&pipeline.bytes)
        );
    }
}

/// The parser sees only what is in the buffer: a declared length must not reserve it.
#[test]
fn declared_lengths_are_not_allocated() {
    let limits = Limits {
        max_bulk_len: resp::DEFAULT_MAX_BULK_LEN,
        authenticated: true,
    };
    let header = b"*1\r\n$400000000\r\nabc";
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(header);
    assert_eq!(parse_command(&mut buf, &limits), Ok(None));
    assert_eq!(&buf[..], &header[..]);
    assert!(
        buf.capacity() <= 4 * 1024,
        "capacity grew to {} bytes",
        buf.capacity()
    );
    // The payload trickles in: still nothing reserved beyond what arrived.
    for _ in 0..20 {
        buf.extend_from_slice(&[b'x'; 100]);
        assert_eq!(parse_command(&mut buf, &limits), Ok(None));
    }
    assert_eq!(buf.len(), header.len() + 2_000);
    assert!(
        buf.capacity() <= 16 * 1024,
        "capacity grew to {} bytes for {} buffered",
        buf.capacity(),
        buf.len()
    );

    let mut buf = BytesMut::from(&b"*1048576\r\n$536870912\r\n"[..]);
    assert_eq!(parse_command(&mut buf, &limits), Ok(None));
    assert!(buf.capacity() <= 4 * 1024);
}

/// Lines longer than INLINE_MAX, where the "too big" limits apply: compared with the reference,
/// and fed in chunks.
#[test]
fn lines_past_inline_max() {
    fn long(prefix: &[u8], n: usize, suffix: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.resize(prefix.len() + n, b'7');
        v.extend_from_slice(suffix);
        v
    }
    let inputs = [
        long(b"", INLINE_MAX + 10, b""),
        long(b"", INLINE_MAX + 10, b"\r\n"),
        long(b"", INLINE_MAX - 10, b"\r\n"),
        long(b"*", INLINE_MAX + 10, b""),
        long(b"*", INLINE_MAX + 10, b"\r\n"),
        long(b"*1\r\n$", INLINE_MAX + 10, b""),
        long(b"*1\r\n$", INLINE_MAX + 10, b"\r\n"),
        long(b"*1\r\n$100000\r\n", 100_000, b"\r\n"),
    ];
    for input in &inputs {
        strata_fuzz::fuzz_resp_parser(input);
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn blob() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..48)
}

fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![
        (any::<u32>(), blob(), blob(), any::<u64>(), any::<bool>()).prop_map(
            |(db, key, value, expire_at, keep_ttl)| Effect::Set {
                db,
                key,
                value,
                expire_at,
                keep_ttl
            }
        ),
        (any::<u32>(), blob()).prop_map(|(db, key)| Effect::Del { db, key }),
        (any::<u32>(), blob(), any::<u64>()).prop_map(|(db, key, at)| Effect::Expire {
            db,
            key,
            at
        }),
        (any::<u32>(), blob()).prop_map(|(db, key)| Effect::Persist { db, key }),
        (any::<u32>(), blob(), blob()).prop_map(|(db, src, dst)| Effect::Rename { db, src, dst }),
        (any::<u32>(), blob(), any::<u32>(), blob(), any::<bool>()).prop_map(
            |(src_db, src, dst_db, dst, replace)| Effect::Copy {
                src_db,
                src,
                dst_db,
                dst,
                replace
            }
        ),
        (any::<u32>(), blob(), any::<u32>()).prop_map(|(db, key, dst_db)| Effect::Move {
            db,
            key,
            dst_db
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Effect::SwapDb { a, b }),
        any::<u32>().prop_map(|db| Effect::FlushDb { db }),
        Just(Effect::FlushAll),
        (any::<u32>(), blob(), any::<i64>()).prop_map(|(db, key, by)| Effect::IncrBy {
            db,
            key,
            by
        }),
        (any::<u32>(), blob(), blob()).prop_map(|(db, key, data)| Effect::Append { db, key, data }),
        (any::<u32>(), blob(), any::<u64>(), blob()).prop_map(|(db, key, offset, data)| {
            Effect::SetRange {
                db,
                key,
                offset,
                data,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// encode then decode is the identity, record by record through a log of several.
    #[test]
    fn effects_round_trip(effects in proptest::collection::vec(effect(), 1..8)) {
        let mut log = Vec::new();
        let mut ends = Vec::new();
        for e in &effects {
            encode(e, &mut log);
            ends.push(log.len());
        }
        let mut start = 0;
        for (e, &end) in effects.iter().zip(&ends) {
            prop_assert_eq!(decode(&log[start..]), Ok((e.clone(), end - start)));
            strata_fuzz::fuzz_effect_decoder(&log[start..end]);
            start = end;
        }
    }

    /// Parsing `*N\r\n$len\r\narg\r\n...` gives back exactly the arguments, whole or split.
    #[test]
    fn encoded_commands_parse_back(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
        cut in any::<proptest::sample::Index>(),
    ) {
        let limits = Limits { max_bulk_len: resp::DEFAULT_MAX_BULK_LEN, authenticated: true };
        let mut frame = Vec::new();
        resp::encode_multibulk(&args, &mut frame);
        let want: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.clone())).collect();

        let mut buf = BytesMut::from(&frame[..]);
        prop_assert_eq!(parse_command(&mut buf, &limits), Ok(Some(want.clone())));
        prop_assert!(buf.is_empty());

        let at = cut.index(frame.len());
        let mut buf = BytesMut::from(&frame[..at]);
        prop_assert_eq!(parse_command(&mut buf, &limits), Ok(None));
        prop_assert_eq!(buf.len(), at);
        buf.extend_from_slice(&frame[at..]);
        prop_assert_eq!(parse_command(&mut buf, &limits), Ok(Some(want)));
        prop_assert!(buf.is_empty());
    }
}
