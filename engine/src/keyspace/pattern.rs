//! Redis's glob patterns (`stringmatchlen` in util.c), byte for byte: KEYS, SCAN MATCH,
//! PSUBSCRIBE and CONFIG GET all match with it, so every quirk is visible to clients:
//!
//! - The match loop stops as soon as the string is used up, so `*`, `**` and `*?` do not match
//!   the empty string (KEYS and SCAN special-case the exact pattern `*` before matching; a
//!   PSUBSCRIBE `*` really does miss a PUBLISH to the empty channel).
//! - `[` without `]` takes the rest of the pattern as its set (`[abc` matches `c`); `[]` matches
//!   nothing and `[^]` any one byte; `\` escapes inside and outside sets, and a trailing `\` is
//!   a literal backslash.
//! - Range ends compare as C `char`, which is signed on x86-64: `[a-\xff]` is the range from -1
//!   to 'a', so it matches '0' but not 'b' or 0x80. Reversed ranges (`[z-a]`) are swapped first,
//!   and with `nocase` the ends are lowercased after the swap (so `[Z-a]` matches nothing) by
//!   glibc's `tolower`, which turns a negative `char` back into its unsigned value.
//! - `nocase` folds ASCII letters only, and never applies to an escaped byte inside a set.
//! - At most 1000 nested `*` (Redis 7's guard): deeper patterns fail to match. A failed `*`
//!   tells every enclosing `*` to stop trying longer prefixes, which keeps hostile patterns such
//!   as `*a*a*a*a*b` linear-ish instead of exponential, with the same results.
//!
//! Expected booleans in the tests come from redis-server 7.0.15 (`SET` the string in an empty
//! server, then `KEYS pattern`, or `CONFIG GET` for `nocase`).

/// Redis 7 refuses to recurse through more nested `*` than this.
const MAX_NESTING: u32 = 1000;

/// Redis glob matching (stringmatchlen) used by KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET:
/// `*`, `?`, `[abc]`, `[^a-c]`, `[a-z]` (including reversed ranges like [z-a]), `\` escapes, and
/// the nocase flag; bounded recursion/backtracking so a hostile pattern like
/// "*a*a*a*a*a*a*a*a*b" against a long string cannot take exponential time (Redis 7 added a
/// nesting limit / skipLongerMatches: match its results).
///
/// This is `stringmatchlen` itself: callers that special-case the pattern `*` (KEYS, SCAN) must
/// do so before calling, as Redis does, because `glob_match(b"*", b"", _)` is false.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_at(pattern, s, nocase, &mut skip_longer, 0)
}

/// True when the pattern can only match keys with one literal prefix (used to skip work):
/// returns that prefix.
///
/// The bytes before the first `*`, `?`, `[` or `\`: every string a case-sensitive match
/// accepts starts with them (the whole pattern when it has no special byte, which then
/// matches only itself). Empty when the pattern starts with a special byte. With `nocase` the
/// prefix holds only up to ASCII case.
pub fn literal_prefix(pattern: &[u8]) -> &[u8] {
    let end = pattern
        .iter()
        .position(|&c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
        .unwrap_or(pattern.len());
    &pattern[..end]
}

/// The pattern byte at `i`, or 0 past the end: Redis patterns are NUL-terminated strings and
/// `stringmatchlen` reads that terminator in a few places, so this keeps its decisions.
fn at(pattern: &[u8], i: usize) -> u8 {
    pattern.get(i).copied().unwrap_or(0)
}

/// glibc's `tolower` in the "C" locale on a byte already widened to a signed C int: ASCII
/// letters fold, and a negative `char` other than -1 (EOF) comes back as its unsigned byte
/// value (`tolower(-93) == 163`). That last quirk decides nocase ranges with bytes >= 0x80:
/// CONFIG GET `[T-\xa3]` does not match `t` in redis-server.
fn c_tolower(c: i32) -> i32 {
    match c {
        65..=90 => c + 32,
        -128..=-2 => c + 256,
        _ => c,
    }
}

fn same_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_at(pat: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let (mut p, mut i) = (0usize, 0usize);
    while p < pat.len() && i < s.len() {
        match pat[p] {
            b'*' => {
                while at(pat, p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while i < s.len() {
                    if match_at(&pat[p + 1..], &s[i..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    i += 1;
                }
                // The rest of the pattern matches nowhere in the rest of the string, so no
                // enclosing `*` can succeed by consuming more either.
                *skip_longer = true;
                return false;
            }
            b'?' => i += 1,
            b'[' => {
                p += 1;
                let negate = at(pat, p) == b'^';
                if negate {
                    p += 1;
                }
                let c = s[i];
                let mut matched = false;
                loop {
                    let left = pat.len() - p;
                    let first = at(pat, p);
                    if first == b'\\' && left >= 2 {
                        p += 1;
                        if at(pat, p) == c {
                            matched = true;
                        }
                    } else if first == b']' {
                        break;
                    } else if left == 0 {
                        // Unclosed set: step back onto its last byte, which ends the pattern.
                        p -= 1;
                        break;
                    } else if left >= 3 && at(pat, p + 1) == b'-' {
                        // C compares `char`s, signed on x86-64.
                        let mut start = i32::from(first as i8);
                        let mut end = i32::from(at(pat, p + 2) as i8);
                        let mut x = i32::from(c as i8);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            x = c_tolower(x);
                        }
                        p += 2;
                        if x >= start && x <= end {
                            matched = true;
                        }
                    } else if same_byte(first, c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                i += 1;
            }
            first => {
                let literal = if first == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pat[p]
                } else {
                    first
                };
                if !same_byte(literal, s[i], nocase) {
                    return false;
                }
                i += 1;
            }
        }
        p += 1;
        if i == s.len() {
            while at(pat, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == pat.len() && i == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, string, does `KEYS pattern` return the key) — every row checked against
    /// redis-server 7.0.15 with the string as the only key.
    const KEYS_GOLDEN: &[(&[u8], &[u8], bool)] = &[
        // Plain, `?`, `*`.
        (b"", b"", true),
        (b"", b"a", false),
        (b"a", b"", false),
        (b"hello", b"hello", true),
        (b"hello", b"hell", false),
        (b"hell", b"hello", false),
        (b"h?llo", b"hello", true),
        (b"h?llo", b"hllo", false),
        (b"?", b"", false),
        (b"h*llo", b"heeeello", true),
        (b"h*llo", b"hllo", true),
        (b"h*", b"h", true),
        (b"*o", b"hello", true),
        (b"*x", b"hello", false),
        (b"a*", b"a", true),
        (b"a**", b"a", true),
        (b"**", b"", false),
        (b"*?", b"", false),
        (b"*a", b"", false),
        (b"**a**b**", b"xaxbx", true),
        (b"*?*?*", b"a", false),
        (b"*?*?*", b"ab", true),
        // Sets.
        (b"h[ae]llo", b"hello", true),
        (b"h[ae]llo", b"hallo", true),
        (b"h[ae]llo", b"hillo", false),
        (b"h[^e]llo", b"hallo", true),
        (b"h[^e]llo", b"hello", false),
        (b"h[a-b]llo", b"hbllo", true),
        (b"h[a-b]llo", b"hcllo", false),
        (b"[z-a]", b"m", true),
        (b"[^a-c]", b"d", true),
        (b"[^a-c]", b"b", false),
        (b"[]", b"]", false),
        (b"[]]", b"]", false),
        (b"[^]", b"x", true),
        (b"[\\]]", b"]", true),
        (b"[", b"[", false),
        (b"[", b"a", false),
        (b"[^", b"a", true),
        (b"[^", b"", false),
        (b"[abc", b"c", true),
        (b"[^a", b"a", false),
        (b"[^a", b"b", true),
        (b"[a-", b"-", true),
        (b"[a-", b"b", false),
        (b"a[", b"a", false),
        (b"[\\", b"\\", true),
        (b"[\\", b"[", false),
        (b"[a\\", b"\\", true),
        (b"[a\\", b"a", true),
        // Escapes.
        (b"\\", b"\\", true),
        (b"a\\", b"a\\", true),
        (b"h\\*llo", b"h*llo", true),
        (b"h\\*llo", b"hello", false),
        (b"\\?", b"?", true),
        (b"\\?", b"a", false),
        // Bytes that are not UTF-8, and signed `char` ranges.
        (b"[a-\xff]", b"0", true),
        (b"[a-\xff]", b"b", false),
        (b"[a-\xff]", b"\x80", false),
        (b"[\x80-\xff]", b"\x90", true),
        (b"*\x00", b"a\x00", true),
        (b"\xc3\xa9*", b"\xc3\xa9t\xc3\xa9", true),
        (b"?", b"\xff", true),
    ];

    #[test]
    fn matches_redis_keys() {
        for &(pattern, s, want) in KEYS_GOLDEN {
            assert_eq!(
                glob_match(pattern, s, false),
                want,
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(s)
            );
        }
        assert!(KEYS_GOLDEN.len() >= 40);
    }

    #[test]
    fn nocase_matches_redis_config_get() {
        // CONFIG GET matches parameter names with nocase; results from redis-server 7.0.15.
        let name = b"maxmemory";
        for (pattern, want) in [
            (&b"MAXMEMORY"[..], true),
            (b"MaxMem*", true),
            (b"[L-M]axmemory", true),
            (b"[m-l]axmemory", true),
            (b"[Z-a]axmemory", false),
            (b"[\\M]axmemory", false),
            (b"[\\m]axmemory", true),
        ] {
            assert_eq!(
                glob_match(pattern, name, true),
                want,
                "{:?}",
                String::from_utf8_lossy(pattern)
            );
        }
        assert!(!glob_match(b"MAXMEMORY", name, false));
        // Ranges with bytes >= 0x80 under nocase: glibc's tolower makes them unsigned again.
        for (pattern, want) in [
            (&b"[T-\xa3]ls-port"[..], false),
            (b"[\xa3-T]ls-port", false),
            (b"[\xa3-z]ls-port", false),
            (b"[\xa3-\x7f]ls-port", false),
            (b"[\x01-\xa3]ls-port", false),
            (b"tls-por[^\xd4]", true),
            (b"TLS-POR[\xd4]", false),
        ] {
            assert_eq!(
                glob_match(pattern, b"tls-port", true),
                want,
                "{:?}",
                String::from_utf8_lossy(pattern)
            );
        }
        // Without nocase the same signed range does match: [-93, 122] holds 't'.
        assert!(glob_match(b"[\xa3-z]ls-port", b"tls-port", false));
    }

    #[test]
    fn nesting_limit_matches_redis() {
        // From redis-server: 1000 nested `*` still match, 1001 do not; a trailing `*` needs
        // no recursion and so does not count.
        let a1000 = vec![b'a'; 1000];
        let a1001 = vec![b'a'; 1001];
        assert!(glob_match(&b"*a".repeat(1000), &a1000, false));
        assert!(!glob_match(&b"*a".repeat(1001), &a1001, false));
        assert!(!glob_match(&b"*a".repeat(1001), &vec![b'a'; 1500], false));
        assert!(glob_match(&b"a*".repeat(1001), &a1001, false));
    }

    #[test]
    fn hostile_pattern_gives_up_quickly() {
        // Exponential without the skip-longer-matches rule; Redis answers false at once.
        let s = vec![b'a'; 5000];
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", &s, false));
        let mut t = s.clone();
        t.push(b'b');
        assert!(glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", &t, false));
    }

    #[test]
    fn never_panics_on_odd_patterns() {
        let bytes = [b'*', b'?', b'[', b']', b'^', b'-', b'\\', b'a', 0, 0xff];
        let strings: [&[u8]; 5] = [b"", b"a", b"-", b"\\", b"a]\xff"];
        // Every pattern of up to 4 bytes from the alphabet above.
        let mut pattern = Vec::new();
        for len in 0..=4u32 {
            for n in 0..bytes.len().pow(len) {
                pattern.clear();
                let mut k = n;
                for _ in 0..len {
                    pattern.push(bytes[k % bytes.len()]);
                    k /= bytes.len();
                }
                for s in strings {
                    let _ = glob_match(&pattern, s, false);
                    let _ = glob_match(&pattern, s, true);
                }
            }
        }
    }

    #[test]
    fn literal_prefix_stops_at_special_bytes() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"user:1"), b"user:1");
        assert_eq!(literal_prefix(b"a?c"), b"a");
        assert_eq!(literal_prefix(b"ab[c]"), b"ab");
        assert_eq!(literal_prefix(b"ab\\*"), b"ab");
        assert_eq!(literal_prefix(b"*"), b"");
        assert_eq!(literal_prefix(b""), b"");
        // Every key the pattern matches starts with the prefix.
        for &(pattern, s, want) in KEYS_GOLDEN {
            if want {
                assert!(s.starts_with(literal_prefix(pattern)));
            }
        }
    }
}
