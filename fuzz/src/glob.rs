//! Target: glob matching, `strata_engine::keyspace::pattern::{glob_match, literal_prefix}`.
//!
//! The input becomes a nocase flag, a pattern and a string of at most [`MAX_LEN`] bytes each,
//! drawn mostly from small alphabets so that `*`, `?`, sets, ranges and escapes meet matching
//! bytes often. [`check`] compares `glob_match` with [`reference`], a dynamic-programming model
//! of Redis's `stringmatchlen` (so it also bounds the work: the model is polynomial, and the
//! target would hang on a pattern that sent `glob_match` exponential), and checks
//! `literal_prefix`, literal patterns, fully escaped patterns and the lone `*`.

use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::keyspace::pattern::{glob_match, literal_prefix};

use crate::input::Input;
use crate::show;

/// Longest pattern and string.
pub const MAX_LEN: usize = 64;

const PATTERN_ALPHABET: &[u8] = b"**??[[]]^-\\abcABzZ";
const STRING_ALPHABET: &[u8] = b"abcABzZ-]^\\*?[";
/// Bytes an input byte of 200 or more stands for: NUL, high bytes (ranges compare them as
/// signed `char`s), blanks and digits.
const OTHER_BYTES: &[u8] = b"\x00\x01\x7f\x80\xa3\xc0\xdf\xfe\xff \t09Tt";

pub const DICTIONARY: &[&[u8]] = &[b"\x00", b"\x01", b"\x02", b"\x04", b"\xc8", b"\xff"];

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let nocase = input.byte() & 1 == 1;
    let pattern_len = usize::from(input.byte()) % (MAX_LEN + 1);
    let pattern: Vec<u8> = input
        .bytes(pattern_len)
        .iter()
        .map(|&b| byte_for(PATTERN_ALPHABET, b))
        .collect();
    let string: Vec<u8> = input
        .bytes(MAX_LEN)
        .iter()
        .map(|&b| byte_for(STRING_ALPHABET, b))
        .collect();

    let matched = glob_match(&pattern, &string, nocase);
    assert_eq!(
        matched,
        reference(&pattern, &string, nocase),
        "glob_match({}, {}, nocase: {nocase})",
        show(&pattern),
        show(&string)
    );

    let prefix = literal_prefix(&pattern);
    assert!(
        pattern.starts_with(prefix),
        "literal_prefix is not a prefix"
    );
    if matched {
        let head = string.get(..prefix.len());
        assert!(
            head.is_some_and(|h| same_bytes(h, prefix, nocase)),
            "{} matched {} without its literal prefix {}",
            show(&pattern),
            show(&string),
            show(prefix)
        );
    }
    if prefix.len() == pattern.len() {
        assert_eq!(
            matched,
            same_bytes(&pattern, &string, nocase),
            "a pattern without special bytes must match only itself"
        );
    }

    let escaped: Vec<u8> = string.iter().flat_map(|&c| [b'\\', c]).collect();
    assert!(
        glob_match(&escaped, &string, false),
        "the fully escaped {} does not match itself",
        show(&string)
    );
    assert_eq!(
        glob_match(b"*", &string, nocase),
        !string.is_empty(),
        "`*` must match exactly the non-empty strings"
    );
}

fn byte_for(alphabet: &[u8], b: u8) -> u8 {
    if b < 200 {
        alphabet[usize::from(b) % alphabet.len()]
    } else {
        OTHER_BYTES[usize::from(b - 200) % OTHER_BYTES.len()]
    }
}

/// The input byte that [`byte_for`] turns into `c`, if there is one.
fn code_for(alphabet: &[u8], c: u8) -> Option<u8> {
    if let Some(i) = alphabet.iter().position(|&x| x == c) {
        return Some(i as u8);
    }
    OTHER_BYTES
        .iter()
        .position(|&x| x == c)
        .map(|i| 200 + i as u8)
}

/// The input for which [`check`] matches `pattern` against `string`; None when they are too
/// long or hold a byte the input cannot express.
pub fn encode(pattern: &[u8], string: &[u8], nocase: bool) -> Option<Vec<u8>> {
    if pattern.len() > MAX_LEN || string.len() > MAX_LEN {
        return None;
    }
    let mut out = vec![u8::from(nocase), pattern.len() as u8];
    for &c in pattern {
        out.push(code_for(PATTERN_ALPHABET, c)?);
    }
    for &c in string {
        out.push(code_for(STRING_ALPHABET, c)?);
    }
    Some(out)
}

fn same_bytes(a: &[u8], b: &[u8], nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model

/// Redis's `stringmatchlen` (util.c) as a table instead of backtracking. Its quirks are kept:
/// matching stops when the string is used up (then only `*`s may remain), so `*` never matches
/// the empty string; `[` without `]` takes the rest of the pattern as its set; range ends compare
/// as signed C `char`s and, with nocase, through glibc's `tolower`; an escaped byte in a set is
/// compared without folding. Redis 7's nesting limit and its "skip longer matches" shortcut
/// change no result for patterns this short, so the table has neither.
pub fn reference(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    if string.is_empty() {
        return pattern.is_empty();
    }
    let mut table = Table {
        pattern,
        string,
        nocase,
        matches: vec![vec![false; string.len() + 1]; pattern.len() + 1],
        any_later: vec![vec![false; string.len() + 1]; pattern.len() + 1],
    };
    for i in (0..string.len()).rev() {
        for p in (0..=pattern.len()).rev() {
            let m = table.step(p, i);
            table.matches[p][i] = m;
            table.any_later[p][i] = m || table.any_later[p][i + 1];
        }
    }
    table.matches[0][0]
}

struct Table<'a> {
    pattern: &'a [u8],
    string: &'a [u8],
    nocase: bool,
    /// `matches[p][i]`: a fresh match of `pattern[p..]` against the non-empty `string[i..]`.
    matches: Vec<Vec<bool>>,
    /// `any_later[p][i]`: `matches[p][j]` for some `j >= i` (what a `*` before `p` tries).
    any_later: Vec<Vec<bool>>,
}

impl Table<'_> {
    /// The pattern byte at `p`, or the C string's terminating 0 past the end.
    fn byte(&self, p: usize) -> u8 {
        self.pattern.get(p).copied().unwrap_or(0)
    }

    /// Whether `pattern[p..]` matches `string[i..]` (with `i > 0` just consumed): once the
    /// string is used up, only `*`s may be left.
    fn then(&self, mut p: usize, i: usize) -> bool {
        if i == self.string.len() {
            while self.byte(p) == b'*' {
                p += 1;
            }
            p == self.pattern.len()
        } else {
            self.matches[p][i]
        }
    }

    fn step(&self, p: usize, i: usize) -> bool {
        let (pattern, c) = (self.pattern, self.string[i]);
        if p == pattern.len() {
            return false;
        }
        match pattern[p] {
            b'*' => {
                let mut last_star = p;
                while self.byte(last_star + 1) == b'*' {
                    last_star += 1;
                }
                if last_star + 1 == pattern.len() {
                    return true;
                }
                self.any_later[last_star + 1][i]
            }
            b'?' => self.then(p + 1, i + 1),
            b'[' => match set_end(pattern, p, c, self.nocase) {
                Some(end) => self.then(end + 1, i + 1),
                None => false,
            },
            first => {
                let (literal, next) = if first == b'\\' && pattern.len() - p >= 2 {
                    (pattern[p + 1], p + 2)
                } else {
                    (first, p + 1)
                };
                same_bytes(&[literal], &[c], self.nocase) && self.then(next, i + 1)
            }
        }
    }
}

/// Reads the set opening at `pattern[open] == '['` against byte `c`: Some(index of the set's last
/// byte) when `c` is in it (after `^`), None when not.
fn set_end(pattern: &[u8], open: usize, c: u8, nocase: bool) -> Option<usize> {
    let byte = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let mut p = open + 1;
    let negate = byte(p) == b'^';
    if negate {
        p += 1;
    }
    let mut hit = false;
    let end = loop {
        let left = pattern.len() - p;
        let first = byte(p);
        if first == b'\\' && left >= 2 {
            hit |= byte(p + 1) == c;
            p += 2;
        } else if first == b']' {
            break p;
        } else if left == 0 {
            // No `]`: the set ends with the pattern.
            break p - 1;
        } else if left >= 3 && byte(p + 1) == b'-' {
            let (mut lo, mut hi) = (c_char(first), c_char(byte(p + 2)));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let mut x = c_char(c);
            if nocase {
                lo = glibc_tolower(lo);
                hi = glibc_tolower(hi);
                x = glibc_tolower(x);
            }
            hit |= (lo..=hi).contains(&x);
            p += 3;
        } else {
            hit |= same_bytes(&[first], &[c], nocase);
            p += 1;
        }
    };
    (hit != negate).then_some(end)
}

/// A byte as x86-64's signed `char`, widened to `int`.
fn c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// glibc `tolower` in the "C" locale: ASCII capitals fold; a negative `char` other than EOF (-1)
/// comes back as its unsigned value.
fn glibc_tolower(c: i32) -> i32 {
    match c {
        65..=90 => c + 32,
        -128..=-2 => c + 256,
        _ => c,
    }
}

// ---------------------------------------------------------------------------------------------
// The generator

pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    if rng.gen_bool(0.2) {
        // Backtracking bait: `*a*a...*a*b` against a run of `a`s.
        let mut pattern = b"*a".repeat(rng.gen_range(1..MAX_LEN / 2));
        pattern.push(b'b');
        let string = vec![b'a'; rng.gen_range(0..=MAX_LEN)];
        if let Some(input) = encode(&pattern, &string, rng.gen()) {
            return input;
        }
    }
    // Short patterns hit the interesting cases far more often.
    let mut out = vec![rng.gen::<u8>()];
    let pattern_len: u8 = rng.gen_range(0..=16);
    out.push(pattern_len);
    out.extend((0..pattern_len).map(|_| rng.gen::<u8>()));
    let string_len = rng.gen_range(0..=16);
    out.extend((0..string_len).map(|_| rng.gen::<u8>()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_agrees_with_redis_examples() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"*", b"", false),
            (b"*", b"a", true),
            (b"h?llo", b"hello", true),
            (b"h[^e]llo", b"hallo", true),
            (b"h[^e]llo", b"hello", false),
            (b"h[a-b]llo", b"hbllo", true),
            (b"[z-a]", b"m", true),
            (b"[abc", b"c", true),
            (b"[]", b"a", false),
            (b"[^]", b"a", true),
            (b"a\\", b"a\\", true),
            (b"\\*", b"*", true),
            (b"*a*a*a*b", b"aaaaaaaaaaaaaaaaaaaa", false),
            (b"a*", b"a", true),
            (b"[a-\xff]", b"0", true),
            (b"[a-\xff]", b"b", false),
        ];
        for &(pattern, string, want) in cases {
            assert_eq!(reference(pattern, string, false), want, "{}", show(pattern));
            assert_eq!(
                glob_match(pattern, string, false),
                want,
                "{}",
                show(pattern)
            );
        }
        assert!(reference(b"HELLO", b"hello", true));
        assert!(!reference(b"[Z-a]", b"m", true));
        let input = encode(b"[^a-]\\\xff", b"b-\xa3", true).expect("encodable");
        let mut decoded = Input::new(&input);
        assert_eq!(decoded.byte(), 1);
        assert_eq!(decoded.byte(), 7);
        let pattern: Vec<u8> = decoded
            .bytes(7)
            .iter()
            .map(|&b| byte_for(PATTERN_ALPHABET, b))
            .collect();
        let string: Vec<u8> = decoded
            .rest()
            .iter()
            .map(|&b| byte_for(STRING_ALPHABET, b))
            .collect();
        assert_eq!(pattern, b"[^a-]\\\xff");
        assert_eq!(string, b"b-\xa3");
    }

    #[test]
    fn generated_inputs_pass() {
        use rand::SeedableRng;
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..2000 {
            check(&generate(&mut rng));
        }
    }
}
