//! Fuzz harnesses for Strata that run on the stable toolchain (cargo-fuzz needs nightly).
//!
//! A target is a function of one input, `fn(&[u8])`. It is deterministic (any choice it makes,
//! such as where to split a buffer, is derived from the input itself) and it panics only when it
//! has found a bug: a panic in the code under test, or a broken invariant that the target checks,
//! most often a disagreement with a small reference model written next to it.
//!
//! [`run`] feeds a target inputs derived from a seed: valid inputs from the target's generator,
//! mutations of them ([`mutate`]), random bytes and splices. When a target panics, `run` prints the
//! seed, the iteration and the input in hex, and [`replay`] runs that one input again.
//! `tests/fuzz.rs` drives every target for a bounded number of inputs; see README.md.

#![forbid(unsafe_code)]

pub mod bitfield;
pub mod effect;
pub mod glob;
pub mod hll;
pub mod input;
pub mod mutate;
pub mod resp;
pub mod snapshot;
pub mod wal;

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The RESP request parser, `strata_server::resp::parse_command`: fed whole, in chunks and byte
/// by byte, checked call by call and against a reference model of the grammar.
pub fn fuzz_resp_parser(data: &[u8]) {
    resp::check(data);
}

/// The effect codec, `strata_engine::effect::{decode, encode}`: decoding never over-reads, a
/// decoded record re-encodes to something that decodes to it, every proper prefix is truncated.
pub fn fuzz_effect_decoder(data: &[u8]) {
    effect::check(data);
}

/// HyperLogLog on arbitrary strings, `strata_engine::types::hll::{validate, add, count,
/// count_union, merge}`, checked against an independent register decoder.
pub fn fuzz_hll(data: &[u8]) {
    hll::check(data);
}

/// BITFIELD, `strata_engine::types::bitmap::{parse_bitfield_with_limit, bitfield_apply}`, with
/// a small `proto-max-bulk-len` and a bit-level model of every op.
pub fn fuzz_bitfield(data: &[u8]) {
    bitfield::check(data);
}

/// Glob matching, `strata_engine::keyspace::pattern::glob_match`, on patterns and strings of at
/// most 64 bytes, against a dynamic-programming model of Redis's `stringmatchlen`.
pub fn fuzz_glob(data: &[u8]) {
    glob::check(data);
}

/// A fuzz target and what [`run`] needs to make inputs for it.
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
    /// A valid (or at least well-framed) input, which mutations then damage.
    pub generate: fn(&mut SmallRng) -> Vec<u8>,
    /// Tokens the mutator inserts: the bytes this target's format gives meaning to.
    pub dictionary: &'static [&'static [u8]],
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
    /// How many inputs of the cheapest target one input of this target costs; [`run`] divides
    /// the requested number of inputs by it so every target gets a similar share of time.
    pub cost: u64,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "resp_parser",
        check: fuzz_resp_parser,
        generate: resp::generate,
        dictionary: resp::DICTIONARY,
        max_len: 8 * 1024,
        cost: 1,
    },
    Target {
        name: "effect_decoder",
        check: fuzz_effect_decoder,
        generate: effect::generate,
        dictionary: effect::DICTIONARY,
        max_len: 4 * 1024,
        cost: 1,
    },
    Target {
        name: "hll",
        check: fuzz_hll,
        generate: hll::generate,
        dictionary: hll::DICTIONARY,
        max_len: 40 * 1024,
        cost: 4,
    },
    Target {
        name: "bitfield",
        check: fuzz_bitfield,
        generate: bitfield::generate,
        dictionary: bitfield::DICTIONARY,
        max_len: 1024,
        cost: 1,
    },
    Target {
        name: "wal",
        check: wal::check,
        generate: wal::generate,
        dictionary: wal::DICTIONARY,
        max_len: 4 * 1024,
        cost: 2,
    },
    Target {
        name: "snapshot",
        check: snapshot::check,
        generate: snapshot::generate,
        dictionary: snapshot::DICTIONARY,
        max_len: 4 * 1024,
        cost: 4,
    },
    Target {
        name: "glob",
        check: fuzz_glob,
        generate: glob::generate,
        dictionary: glob::DICTIONARY,
        max_len: 256,
        cost: 1,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The input `run` gives `target` at `iteration` under `seed`. Each iteration has its own
/// generator, so one input can be rebuilt without replaying the ones before it.
pub fn input(target: &Target, seed: u64, iteration: u64) -> Vec<u8> {
    let stream = splitmix64(seed ^ fnv1a(target.name.as_bytes()));
    let mut rng = SmallRng::seed_from_u64(splitmix64(stream ^ splitmix64(iteration)));
    let mut data = match rng.gen_range(0..10) {
        0..=1 => (target.generate)(&mut rng),
        2..=7 => {
            let mut data = (target.generate)(&mut rng);
            for _ in 0..rng.gen_range(1..=4) {
                mutate::mutate(&mut rng, &mut data, target.dictionary, target.max_len);
            }
            data
        }
        8 => mutate::random_bytes(&mut rng, target.dictionary, 512),
        _ => {
            // A splice: the head of one valid input on the tail of another.
            let head = (target.generate)(&mut rng);
            let tail = (target.generate)(&mut rng);
            let cut_head = rng.gen_range(0..=head.len());
            let cut_tail = rng.gen_range(0..=tail.len());
            let mut data = head[..cut_head].to_vec();
            data.extend_from_slice(&tail[cut_tail..]);
            data
        }
    };
    data.truncate(target.max_len);
    data
}

/// Runs `target` on `inputs / target.cost` inputs (at least one) derived from `seed`. On a panic
/// it prints what is needed to reproduce it and re-raises the panic. Returns the inputs run.
pub fn run(target: &Target, seed: u64, inputs: u64) -> u64 {
    let count = (inputs / target.cost.max(1)).max(1);
    for iteration in 0..count {
        let data = input(target, seed, iteration);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.check)(&data)));
        if let Err(payload) = outcome {
            eprintln!(
                "\nstrata-fuzz: target `{}` failed on iteration {iteration} of {count} \
                 (STRATA_FUZZ_SEED={seed:#x})\ninput, {} bytes; replay it with:\n\
                 STRATA_FUZZ_REPLAY={}:{} cargo test -p strata-fuzz --test fuzz regressions_and_replay\n",
                target.name,
                data.len(),
                target.name,
                hex(&data),
            );
            panic::resume_unwind(payload);
        }
    }
    count
}

/// Runs one input given as `<target>:<hex>` (what [`run`] prints). A bug panics as it did in the
/// run; Err only for a malformed `spec`.
pub fn replay(spec: &str) -> Result<(), String> {
    let (name, hex_input) = spec
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("expected <target>:<hex>, got {spec:?}"))?;
    let target = target(name).ok_or_else(|| {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        format!("no target {name:?}; targets are {names:?}")
    })?;
    let data = unhex(hex_input).ok_or_else(|| format!("{hex_input:?} is not hex"))?;
    (target.check)(&data);
    Ok(())
}

/// Parses a seed written in decimal or as `0x` hex.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(digits) => u64::from_str_radix(digits, 16).ok(),
        None => s.parse().ok(),
    }
}

pub fn hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() & 1 == 1 {
        return None;
    }
    s.chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// Bytes as Rust would write them in a byte string, for assertion messages.
pub fn show(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() + 2);
    out.push('"');
    for &b in data {
        out.extend(std::ascii::escape_default(b).map(char::from));
    }
    out.push('"');
    out
}

/// A generator seeded by the input itself, for the choices a target makes (split points, cut
/// points), so that replaying an input replays those choices too.
pub(crate) fn input_rng(data: &[u8]) -> SmallRng {
    SmallRng::seed_from_u64(fnv1a(data))
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let data = [0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(hex(&data), "00017f80ff");
        assert_eq!(unhex(&hex(&data)), Some(data.to_vec()));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(""), Some(Vec::new()));
    }

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("0x2a"), Some(42));
        assert_eq!(parse_seed("nope"), None);
    }

    #[test]
    fn inputs_are_reproducible_and_bounded() {
        for t in TARGETS {
            for i in 0..50 {
                let a = input(t, 7, i);
                assert_eq!(a, input(t, 7, i), "{} iteration {i}", t.name);
                assert!(a.len() <= t.max_len, "{} iteration {i}", t.name);
            }
        }
    }
}
