//! Redis's number grammar and number printing, byte for byte.
//!
//! Redis parses integers with its own strict `string2ll`, doubles with libc `strtod` (through
//! `string2d`) and `INCRBYFLOAT`/`HINCRBYFLOAT` operands with `strtold` on x86-64's 80-bit long
//! double (through `string2ld`). It prints scores with `%.17g` and `INCRBYFLOAT` results with
//! `%.17Lf` and trailing zeros trimmed. Clients see every one of those quirks (`0x10` is a valid
//! float, `1e-400` is not, `12345.6` comes back from `INCRBYFLOAT k 0` as
//! `12345.59999999999999964`), so this module reproduces them exactly, including the
//! long-double arithmetic, in safe std-only Rust. Expected values in the tests come from
//! redis-server 7.0.15.

use std::cmp::Ordering;

/// `LONG_STR_SIZE` in Redis: `string2ll` refuses input of this many bytes or more.
const LONG_STR_SIZE: usize = 21;

/// `MAX_LONG_DOUBLE_CHARS` in Redis: `string2ld` refuses input of this many bytes or more.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Redis string2ll: strict decimal i64 — no leading '+', no spaces, no leading zeros (except "0"),
/// "-0" rejected, max 20 chars.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    match s.split_first() {
        Some((b'-', digits)) => {
            let magnitude = strict_magnitude(digits)?;
            if magnitude == i64::MIN.unsigned_abs() {
                Some(i64::MIN)
            } else {
                i64::try_from(magnitude).ok().map(|v| -v)
            }
        }
        _ => i64::try_from(strict_magnitude(s)?).ok(),
    }
}

/// Unsigned twin of [`parse_i64`]: the same strict grammar (no sign at all, no leading zeros,
/// at most 20 bytes), accepting `0..=u64::MAX`.
///
/// Redis has no strict unsigned parser of its own; where it parses unsigned 64-bit numbers
/// (stream IDs) it uses `string2ull`, which is [`parse_u64_lenient`].
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    strict_magnitude(s)
}

/// Redis `string2ull`, used for the two halves of a stream ID: [`parse_i64`] first (negative
/// values refused), then libc `strtoull` as a fallback, which also accepts leading whitespace,
/// a `+`, leading zeros and even a `-` after whitespace (`" -5"` is `2^64 - 5`).
/// The input is read as a C string: it ends at the first NUL byte.
pub fn parse_u64_lenient(s: &[u8]) -> Option<u64> {
    let s = match s.iter().position(|&c| c == 0) {
        Some(nul) => &s[..nul],
        None => s,
    };
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = s.get(i) {
        negative = sign == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// Digits `1-9` followed by digits `0-9`, as an overflow-checked u64.
fn strict_magnitude(digits: &[u8]) -> Option<u64> {
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v = u64::from(first - b'0');
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// `isspace()` in the C locale, which Redis runs in for character classes.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What Redis accepts as a double argument: `string2d`, i.e. the whole input must be one
/// `strtod` number. Accepted: decimal (`1`, `+1`, `01`, `.5`, `5.`, `1e5`), C99 hex floats
/// (`0x10`, `0x1p-3`), `inf`/`infinity` in any case and with a sign. Refused: empty input,
/// any whitespace, trailing junk (an embedded NUL is junk), every spelling of NaN, and numbers
/// whose magnitude overflows to infinity (`1e309`) or underflows to zero (`1e-400`; a nonzero
/// subnormal such as `4e-320` is fine).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    match lex_strtod(s)? {
        Lexeme::Inf { negative } => Some(signed_inf(negative)),
        Lexeme::Decimal {
            negative,
            int,
            frac,
            ..
        } => {
            let v = rust_parse_decimal(s)?;
            if v.is_infinite() {
                return None;
            }
            if v == 0.0 && has_nonzero_digit(int, frac) {
                return None;
            }
            Some(if negative { -v.abs() } else { v })
        }
        Lexeme::Hex {
            negative,
            int,
            frac,
            exp,
        } => {
            let (q, e2, sticky) = hex_to_binary(int, frac, exp);
            if q == 0 {
                return Some(signed_zero(negative));
            }
            match round_binary_glibc_hex(q, e2, sticky, F64) {
                Rounded::Finite { mant, lsb } => Some(f64_from_parts(negative, mant, lsb)),
                Rounded::Zero | Rounded::Overflow => None,
            }
        }
    }
}

/// Redis's d2string/%.17g for doubles in replies (ZSCORE etc.): "inf", "-inf", "nan" handling as
/// Redis, integers without ".0" where Redis prints them so, and 17 significant digits ("%.17g")
/// otherwise.
///
/// Exactly `%.17g` (correctly rounded, ties to even, `e+NN` exponents outside `1e-4..1e17`),
/// which is what Redis 7.0's `addReplyDouble` prints for RESP2 bulk strings and RESP3 doubles;
/// `d2string` agrees except that it never prints `-nan`. Zero keeps its sign (`-0`), as a
/// skiplist-encoded zset does; a listpack-encoded zset turns a stored `-0` into `0` before this
/// point, which is the zset's business.
pub fn format_double(v: f64) -> String {
    format_g(v, 17)
}

/// C's `%.<precision>g` (1 to 17 significant digits), with [`format_double`]'s texts for NaN, infinities and
/// signed zero.
pub fn format_g(v: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's exact formatting: `precision` significant digits, correctly rounded, ties to even.
    let sci = format!("{:.*e}", precision - 1, v.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = String::with_capacity(26);
    if v < 0.0 {
        out.push('-');
    }
    if (-4..precision as i32).contains(&exp) {
        let mut fixed: Vec<u8> = Vec::with_capacity(24);
        if exp >= 0 {
            let point = (exp as usize + 1).min(digits.len());
            fixed.extend_from_slice(&digits[..point]);
            fixed.push(b'.');
            fixed.extend_from_slice(&digits[point..]);
        } else {
            fixed.extend_from_slice(b"0.");
            fixed.resize(fixed.len() + (-exp - 1) as usize, b'0');
            fixed.extend_from_slice(&digits);
        }
        push_trimmed(&mut out, &fixed);
    } else {
        let mut sig: Vec<u8> = Vec::with_capacity(18);
        sig.extend_from_slice(&digits[..1.min(digits.len())]);
        sig.push(b'.');
        sig.extend_from_slice(&digits[1.min(digits.len())..]);
        push_trimmed(&mut out, &sig);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Appends `s` (ASCII digits with one '.') without the fraction's trailing zeros, and without
/// the '.' when no fraction digit is left: what `%g` and Redis's LD_STR_HUMAN trimming do.
fn push_trimmed(out: &mut String, s: &[u8]) {
    let mut end = s.len();
    if s.contains(&b'.') {
        while end > 0 && s[end - 1] == b'0' {
            end -= 1;
        }
        if end > 0 && s[end - 1] == b'.' {
            end -= 1;
        }
    }
    out.extend(s[..end].iter().map(|&c| char::from(c)));
}

/// Appends the decimal of i to buf without allocating.
pub fn push_i64(buf: &mut Vec<u8>, i: i64) {
    let mut digits = [0u8; 20];
    let mut pos = digits.len();
    let mut v = i.unsigned_abs();
    loop {
        pos -= 1;
        digits[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if i < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[pos..]);
}

// ---------------------------------------------------------------------------------------------
// The strtod grammar.

/// One complete `strtod` number. NaN is absent because every Redis caller refuses it.
#[derive(Debug, Clone, Copy)]
enum Lexeme<'a> {
    Inf {
        negative: bool,
    },
    /// `int.frac` × 10^`exp`; both digit runs may be empty, not both.
    Decimal {
        negative: bool,
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
    /// `0x int.frac` × 2^`exp` with hex digit runs.
    Hex {
        negative: bool,
        int: &'a [u8],
        frac: &'a [u8],
        exp: i64,
    },
}

/// Saturation bound for exponents: far beyond any representable magnitude, small enough that
/// adding digit counts to it cannot overflow an i64.
const EXP_LIMIT: i64 = 1 << 50;

/// Lexes `s` as `strtod` would and returns the number only if it spans all of `s` and `s` does
/// not start with whitespace (which `strtod` skips and Redis refuses). Junk after a number, an
/// incomplete exponent (`1e`, `0x1p`) and `0x` without digits all leave bytes unconsumed.
fn lex_strtod(s: &[u8]) -> Option<Lexeme<'_>> {
    let (negative, body) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Lexeme::Inf { negative });
    }
    let hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let (digits, is_digit, exp_char): (&[u8], fn(&u8) -> bool, u8) = if hex {
        (&body[2..], u8::is_ascii_hexdigit, b'p')
    } else {
        (body, u8::is_ascii_digit, b'e')
    };
    let int_len = digits.iter().take_while(|c| is_digit(c)).count();
    let int = &digits[..int_len];
    let mut rest = &digits[int_len..];
    let mut frac: &[u8] = &[];
    if let Some((b'.', after)) = rest.split_first() {
        let frac_len = after.iter().take_while(|c| is_digit(c)).count();
        frac = &after[..frac_len];
        rest = &after[frac_len..];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if let Some((&e, after)) = rest.split_first() {
        if e | 0x20 != exp_char {
            return None;
        }
        let (exp_negative, exp_digits) = match after.split_first() {
            Some((b'-', d)) => (true, d),
            Some((b'+', d)) => (false, d),
            _ => (false, after),
        };
        if exp_digits.is_empty() || !exp_digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &c in exp_digits {
            exp = (exp * 10 + i64::from(c - b'0')).min(EXP_LIMIT);
        }
        if exp_negative {
            exp = -exp;
        }
    }
    Some(if hex {
        Lexeme::Hex {
            negative,
            int,
            frac,
            exp,
        }
    } else {
        Lexeme::Decimal {
            negative,
            int,
            frac,
            exp,
        }
    })
}

/// Rust's correctly rounded decimal parser. Every `Lexeme::Decimal` is in its grammar.
fn rust_parse_decimal(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

fn has_nonzero_digit(int: &[u8], frac: &[u8]) -> bool {
    int.iter().chain(frac).any(|&c| c != b'0')
}

fn signed_inf(negative: bool) -> f64 {
    if negative {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    }
}

fn signed_zero(negative: bool) -> f64 {
    if negative {
        -0.0
    } else {
        0.0
    }
}

/// Significant digits of `int.frac` × 10^`exp`: the nonzero-led, nonzero-ended digit run as
/// (digit accessor range, decimal exponent of its last digit). `None` for zero.
struct SigDigits<'a> {
    int: &'a [u8],
    frac: &'a [u8],
    first: usize,
    last: usize,
    /// The number is the digits `first..=last` read as an integer, times 10^`exp10`.
    exp10: i64,
}

impl<'a> SigDigits<'a> {
    fn new(int: &'a [u8], frac: &'a [u8], exp: i64) -> Option<SigDigits<'a>> {
        let total = int.len() + frac.len();
        let digit = |i: usize| {
            if i < int.len() {
                int[i]
            } else {
                frac[i - int.len()]
            }
        };
        let first = (0..total).find(|&i| digit(i) != b'0')?;
        let last = (first..total).rev().find(|&i| digit(i) != b'0')?;
        let exp10 = (int.len() as i64 - 1 - last as i64).saturating_add(exp);
        Some(SigDigits {
            int,
            frac,
            first,
            last,
            exp10,
        })
    }

    fn digit(&self, i: usize) -> u8 {
        if i < self.int.len() {
            self.int[i] - b'0'
        } else {
            self.frac[i - self.int.len()] - b'0'
        }
    }

    fn count(&self) -> usize {
        self.last - self.first + 1
    }

    /// `m` such that the number lies in `[10^(m-1), 10^m)`.
    fn magnitude(&self) -> i64 {
        self.exp10.saturating_add(self.count() as i64)
    }
}

// ---------------------------------------------------------------------------------------------
// Correct rounding into a binary floating-point format.

/// A binary floating-point format: `precision` mantissa bits, the exponent of the least
/// significant bit of its smallest subnormal, and the power of two it must stay below.
#[derive(Debug, Clone, Copy)]
struct BinFormat {
    precision: u32,
    min_lsb: i64,
    max_exp: i64,
}

/// x87 80-bit extended precision: `long double` on x86-64 Linux, where redis-server runs.
const LD: BinFormat = BinFormat {
    precision: 64,
    min_lsb: -16445,
    max_exp: 16384,
};
const F64: BinFormat = BinFormat {
    precision: 53,
    min_lsb: -1074,
    max_exp: 1024,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounded {
    /// A nonzero value rounded to zero (`strtod` reports ERANGE).
    Zero,
    /// `mant` × 2^`lsb`; for normal numbers `mant` has exactly `precision` bits.
    Finite { mant: u64, lsb: i64 },
    /// Rounded to infinity (`strtod` reports ERANGE).
    Overflow,
}

/// Rounds the nonzero value (`q` + a fraction in (0, 1) if `sticky`) × 2^`e2` to `f`, to
/// nearest, ties to even. When `sticky` is set `q` must have at least `precision + 2` bits, so
/// the rounding bit is always known.
fn round_binary(q: u128, e2: i64, sticky: bool, f: BinFormat) -> Rounded {
    if q == 0 {
        return Rounded::Zero;
    }
    let bits = i64::from(128 - q.leading_zeros());
    let precision = i64::from(f.precision);
    let mut lsb = (e2 + bits - precision).max(f.min_lsb);
    let shift = lsb - e2;
    let mut mant: u128;
    if shift <= 0 {
        mant = q << (-shift);
    } else if shift > bits {
        mant = 0;
    } else {
        let round_bit = (q >> (shift - 1)) & 1 == 1;
        let below = q & ((1u128 << (shift - 1)) - 1) != 0 || sticky;
        mant = if shift >= 128 { 0 } else { q >> shift };
        if round_bit && (below || mant & 1 == 1) {
            mant += 1;
            if mant >> precision != 0 {
                mant >>= 1;
                lsb += 1;
            }
        }
    }
    if mant == 0 {
        return Rounded::Zero;
    }
    let top = lsb + i64::from(128 - mant.leading_zeros()) - 1;
    if top >= f.max_exp {
        return Rounded::Overflow;
    }
    Rounded::Finite {
        mant: mant as u64,
        lsb,
    }
}

/// [`round_binary`] as glibc's `strtod`/`strtold` round a hex float, which differs for
/// subnormal results: glibc first cuts the mantissa to `precision` bits (keeping a round bit and
/// a sticky bit), then shifts it onto the subnormal grid, and that second step forgets the first
/// round bit. So `0x1.0000000000000001p-16446` is refused by redis-server (rounds to zero) while
/// `0x1.00000000000000001p-16446` is accepted. Decimal input is rounded correctly by glibc.
fn round_binary_glibc_hex(q: u128, e2: i64, sticky: bool, f: BinFormat) -> Rounded {
    let bits = i64::from(128 - q.leading_zeros());
    let precision = i64::from(f.precision);
    let top = e2 + bits - 1;
    let min_normal = f.min_lsb + precision - 1;
    if q == 0 || bits <= precision || top >= min_normal {
        return round_binary(q, e2, sticky, f);
    }
    let drop = bits - precision;
    let window = q >> drop;
    let first_rest = q & ((1u128 << (drop - 1)) - 1) != 0 || sticky;
    let shift = min_normal - top;
    if shift > precision {
        return Rounded::Zero;
    }
    let round_bit = (window >> (shift - 1)) & 1 == 1;
    let below = window & ((1u128 << (shift - 1)) - 1) != 0 || first_rest;
    let mut mant = if shift >= 128 { 0 } else { window >> shift };
    if round_bit && (below || mant & 1 == 1) {
        mant += 1;
    }
    if mant == 0 {
        return Rounded::Zero;
    }
    Rounded::Finite {
        mant: mant as u64,
        lsb: f.min_lsb,
    }
}

/// Builds the f64 `mant` × 2^`lsb` produced by `round_binary(.., F64)`.
fn f64_from_parts(negative: bool, mant: u64, lsb: i64) -> f64 {
    let bits = if mant >> 52 != 0 {
        let biased = (lsb + 52 + 1023) as u64;
        (biased << 52) | (mant & ((1 << 52) - 1))
    } else {
        mant
    };
    let v = f64::from_bits(bits);
    if negative {
        -v
    } else {
        v
    }
}

/// `0x int.frac p exp` as (q, e2, sticky): the value is (q + sticky fraction) × 2^e2, with at
/// most 30 significant hex digits in `q` and the rest folded into `sticky`.
fn hex_to_binary(int: &[u8], frac: &[u8], exp: i64) -> (u128, i64, bool) {
    fn nibble(c: u8) -> u128 {
        u128::from(match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => 0,
        })
    }
    const MAX_SIG: u32 = 30;
    let (mut q, mut e2, mut sticky, mut sig) = (0u128, 0i64, false, 0u32);
    for &c in int {
        let d = nibble(c);
        if sig < MAX_SIG {
            q = (q << 4) | d;
            if q != 0 {
                sig += 1;
            }
        } else {
            e2 += 4;
            sticky |= d != 0;
        }
    }
    for &c in frac {
        let d = nibble(c);
        if sig < MAX_SIG {
            q = (q << 4) | d;
            e2 -= 4;
            if q != 0 {
                sig += 1;
            }
        } else {
            sticky |= d != 0;
        }
    }
    (q, e2.saturating_add(exp), sticky)
}

/// Converts `int.frac` × 10^`exp` to `f` exactly (what glibc's `strtold`/`strtod` do). `None`
/// for an exact zero.
fn decimal_to_binary(int: &[u8], frac: &[u8], exp: i64, f: BinFormat) -> Option<Rounded> {
    let d = SigDigits::new(int, frac, exp)?;
    // 10^(m-1) >= 2^max_exp certainly overflows; below 2^(min_lsb-1) everything rounds to 0.
    let mag = d.magnitude();
    let ten_to_max = (f.max_exp as f64 * std::f64::consts::LOG10_2).ceil() as i64 + 1;
    let ten_to_min = ((f.min_lsb - 1) as f64 * std::f64::consts::LOG10_2).floor() as i64;
    if mag > ten_to_max {
        return Some(Rounded::Overflow);
    }
    if mag < ten_to_min {
        return Some(Rounded::Zero);
    }
    let e10 = d.exp10;
    if d.count() <= 19 {
        let mut m: u64 = 0;
        for i in d.first..=d.last {
            m = m * 10 + u64::from(d.digit(i));
        }
        if (0..=27).contains(&e10) {
            // m × 5^e × 2^e, exact in 128 bits.
            let q = u128::from(m) * u128::from(5u64.pow(e10 as u32));
            return Some(round_binary(q, e10, false, f));
        }
        if (-25..0).contains(&e10) {
            // (m << k) / 5^n × 2^(-k-n): at least 69 quotient bits, so the sticky rule holds.
            let n = (-e10) as u32;
            let k = u128::from(m).leading_zeros();
            let num = u128::from(m) << k;
            let den = u128::from(5u64.pow(n));
            let (q, r) = (num / den, num % den);
            return Some(round_binary(q, e10 - i64::from(k), r != 0, f));
        }
    }
    let mut num = Big::default();
    let mut i = d.first;
    while i <= d.last {
        let end = (i + 9).min(d.last + 1);
        let mut chunk: u32 = 0;
        for j in i..end {
            chunk = chunk * 10 + u32::from(d.digit(j));
        }
        num.mul_add_small(10u32.pow((end - i) as u32), chunk);
        i = end;
    }
    if e10 >= 0 {
        num.mul_pow10(e10 as u64);
        let (q, shift, sticky) = num.top_128();
        return Some(round_binary(q, shift as i64, sticky, f));
    }
    let mut den = Big::from_u64(1);
    den.mul_pow10(e10.unsigned_abs());
    // Scale so that the quotient has 68 or 69 bits.
    let j = num.bit_len() as i64 - den.bit_len() as i64 - 68;
    if j >= 0 {
        den.shl(j as u64);
    } else {
        num.shl(j.unsigned_abs());
    }
    let (q, sticky) = num.div_to_u128(&den);
    Some(round_binary(q, j, sticky, f))
}

// ---------------------------------------------------------------------------------------------
// The 80-bit long double Redis computes INCRBYFLOAT and HINCRBYFLOAT in.

/// An x87 80-bit extended-precision number, the `long double` of redis-server on x86-64:
/// 64-bit mantissa, exponents down to 2^-16445 (subnormal) and below 2^16384.
///
/// INCRBYFLOAT is `string2ld(value) + string2ld(increment)` printed with `%.17Lf`; doing exactly
/// that gives Redis's replies byte for byte:
/// ```ignore
/// let sum = LongDouble::parse(current)? + LongDouble::parse(increment)?;
/// if !sum.is_finite() { /* ERR increment would produce NaN or Infinity */ }
/// let reply = sum.format_human();
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LongDouble(Ld);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ld {
    /// `mant` × 2^`lsb`; zero when `mant` is 0. Normal numbers have bit 63 of `mant` set;
    /// subnormals have `lsb == -16445`.
    Finite {
        negative: bool,
        mant: u64,
        lsb: i64,
    },
    Inf {
        negative: bool,
    },
    Nan,
}

impl LongDouble {
    /// Redis `string2ld`: `strtold` over the whole input, refusing empty input, input of 5120
    /// bytes or more, leading whitespace, trailing junk, NaN, and numbers that overflow or
    /// underflow to zero in long double. `inf` is accepted.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let (negative, rounded) = match lex_strtod(s)? {
            Lexeme::Inf { negative } => return Some(LongDouble(Ld::Inf { negative })),
            Lexeme::Decimal {
                negative,
                int,
                frac,
                exp,
            } => (negative, decimal_to_binary(int, frac, exp, LD)),
            Lexeme::Hex {
                negative,
                int,
                frac,
                exp,
            } => {
                let (q, e2, sticky) = hex_to_binary(int, frac, exp);
                (
                    negative,
                    (q != 0).then(|| round_binary_glibc_hex(q, e2, sticky, LD)),
                )
            }
        };
        match rounded {
            None => Some(LongDouble(Ld::Finite {
                negative,
                mant: 0,
                lsb: 0,
            })),
            Some(Rounded::Finite { mant, lsb }) => Some(LongDouble(Ld::Finite {
                negative,
                mant,
                lsb,
            })),
            Some(Rounded::Zero | Rounded::Overflow) => None,
        }
    }

    /// Exact: every i64 fits the 64-bit mantissa (an INT-encoded string's value).
    pub fn from_i64(i: i64) -> LongDouble {
        LongDouble::from_parts(i < 0, u128::from(i.unsigned_abs()), 0)
    }

    /// Exact: every f64 is a long double.
    pub fn from_f64(v: f64) -> LongDouble {
        if v.is_nan() {
            return LongDouble(Ld::Nan);
        }
        if v.is_infinite() {
            return LongDouble(Ld::Inf { negative: v < 0.0 });
        }
        let bits = v.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1 << 52) - 1);
        let (mant, lsb) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), biased - 1075)
        };
        LongDouble::from_parts(v.is_sign_negative(), u128::from(mant), lsb)
    }

    /// (`mant` × 2^`lsb`), which must be exactly representable.
    fn from_parts(negative: bool, mant: u128, lsb: i64) -> LongDouble {
        match round_binary(mant, lsb, false, LD) {
            Rounded::Finite { mant, lsb } => LongDouble(Ld::Finite {
                negative,
                mant,
                lsb,
            }),
            Rounded::Overflow => LongDouble(Ld::Inf { negative }),
            Rounded::Zero => LongDouble(Ld::Finite {
                negative,
                mant: 0,
                lsb: 0,
            }),
        }
    }

    pub fn is_finite(&self) -> bool {
        matches!(self.0, Ld::Finite { .. })
    }

    /// The nearest f64 (ties to even); infinite beyond f64's range.
    pub fn to_f64(&self) -> f64 {
        match self.0 {
            Ld::Nan => f64::NAN,
            Ld::Inf { negative } => signed_inf(negative),
            Ld::Finite {
                negative,
                mant,
                lsb,
            } => match round_binary(u128::from(mant), lsb, false, F64) {
                Rounded::Finite { mant, lsb } => f64_from_parts(negative, mant, lsb),
                Rounded::Zero => signed_zero(negative),
                Rounded::Overflow => signed_inf(negative),
            },
        }
    }

    /// Redis `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` (exact, ties to even), then trailing zeros
    /// and a bare '.' removed, and `-0` printed as `0`. Infinities print as `inf`/`-inf`.
    pub fn format_human(&self) -> String {
        let (negative, mant, lsb) = match self.0 {
            Ld::Nan => return "nan".to_string(),
            Ld::Inf { negative } => return if negative { "-inf" } else { "inf" }.to_string(),
            Ld::Finite {
                negative,
                mant,
                lsb,
            } => (negative, mant, lsb),
        };
        let mut out = String::new();
        if lsb >= 0 {
            if mant != 0 && negative {
                out.push('-');
            }
            if lsb < 64 {
                out.push_str(&(u128::from(mant) << lsb).to_string());
            } else {
                let mut big = Big::from_u64(mant);
                big.shl(lsb as u64);
                out.push_str(&big.to_decimal());
            }
            return out;
        }
        // value × 10^17 = mant × 10^17 / 2^s, rounded to an integer, ties to even.
        const SCALE: u128 = 100_000_000_000_000_000;
        let s = lsb.unsigned_abs();
        let scaled = u128::from(mant) * SCALE;
        let n = if s >= 128 {
            0
        } else {
            let q = scaled >> s;
            let rem = scaled & ((1u128 << s) - 1);
            let half = 1u128 << (s - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        };
        if n == 0 {
            return "0".to_string();
        }
        if negative {
            out.push('-');
        }
        out.push_str(&(n / SCALE).to_string());
        let frac = format!(".{:017}", n % SCALE);
        push_trimmed(&mut out, frac.as_bytes());
        out
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// `self + other` as the x87 unit computes it: exact sum rounded to 64 bits, ties to even;
    /// infinite on overflow, NaN for `inf + -inf`.
    fn add(self, other: LongDouble) -> LongDouble {
        let (a, b) = match (self.0, other.0) {
            (Ld::Nan, _) | (_, Ld::Nan) => return LongDouble(Ld::Nan),
            (Ld::Inf { negative: x }, Ld::Inf { negative: y }) if x != y => {
                return LongDouble(Ld::Nan)
            }
            (inf @ Ld::Inf { .. }, _) | (_, inf @ Ld::Inf { .. }) => return LongDouble(inf),
            (a, b) => (a, b),
        };
        let (
            Ld::Finite {
                negative: an,
                mant: am,
                lsb: al,
            },
            Ld::Finite {
                negative: bn,
                mant: bm,
                lsb: bl,
            },
        ) = (a, b)
        else {
            return LongDouble(Ld::Nan);
        };
        if am == 0 && bm == 0 {
            return LongDouble(Ld::Finite {
                negative: an && bn,
                mant: 0,
                lsb: 0,
            });
        }
        if am == 0 {
            return other;
        }
        if bm == 0 {
            return self;
        }
        // x is the operand with the larger lsb; for d >= 64 it is normal and much larger.
        let ((xn, xm, xl), (yn, ym, yl)) = if al >= bl {
            ((an, am, al), (bn, bm, bl))
        } else {
            ((bn, bm, bl), (an, am, al))
        };
        let d = xl - yl;
        let (x, y, lsb, sticky) = if d <= 63 {
            (u128::from(xm) << d, u128::from(ym), yl, false)
        } else {
            let drop = d - 63;
            let (y, lost) = if drop >= 64 {
                (0, true)
            } else {
                (u128::from(ym >> drop), ym & ((1u64 << drop) - 1) != 0)
            };
            (u128::from(xm) << 63, y, xl - 63, lost)
        };
        let (sum, negative) = if xn == yn {
            (x + y, xn)
        } else if x >= y {
            // With a sticky tail the true value is x - y - (a fraction in (0, 1)).
            (x - y - u128::from(sticky), xn)
        } else {
            (y - x, yn)
        };
        if sum == 0 && !sticky {
            return LongDouble(Ld::Finite {
                negative: false,
                mant: 0,
                lsb: 0,
            });
        }
        match round_binary(sum, lsb, sticky, LD) {
            Rounded::Finite { mant, lsb } => LongDouble(Ld::Finite {
                negative,
                mant,
                lsb,
            }),
            Rounded::Overflow => LongDouble(Ld::Inf { negative }),
            Rounded::Zero => LongDouble(Ld::Finite {
                negative,
                mant: 0,
                lsb: 0,
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Just enough unsigned big-integer arithmetic for exact decimal <-> long double conversion.

/// Little-endian 32-bit limbs with no zero limb on top (zero is the empty vector).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// self = self × m + a
    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u64) {
        while n >= 9 {
            self.mul_add_small(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.mul_add_small(10u32.pow(n as u32), 0);
        }
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => self.0.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    fn bit(&self, i: u64) -> u32 {
        let limb = (i / 32) as usize;
        self.0.get(limb).map_or(0, |&l| (l >> (i % 32)) & 1)
    }

    fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let limbs = (bits / 32) as usize;
        let rest = (bits % 32) as u32;
        if rest != 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - rest);
                *limb = (*limb << rest) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if limbs != 0 {
            let mut shifted = vec![0u32; limbs];
            shifted.extend_from_slice(&self.0);
            self.0 = shifted;
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let next = *limb & 1;
            *limb = (*limb >> 1) | (carry << 31);
            carry = next;
        }
        self.trim();
    }

    fn cmp_big(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// self -= other; requires self >= other.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let t = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(t < 0);
            *limb = (t + (borrow << 32)) as u32;
        }
        self.trim();
    }

    /// The top 128 bits as (q, shift, sticky): self = (q + fraction) × 2^shift.
    fn top_128(&self) -> (u128, u64, bool) {
        let len = self.bit_len();
        let shift = len.saturating_sub(128);
        let mut q = 0u128;
        for i in (shift..len).rev() {
            q = (q << 1) | u128::from(self.bit(i));
        }
        let below = (shift / 32) as usize;
        let mut sticky = self.0[..below.min(self.0.len())].iter().any(|&l| l != 0);
        for i in below as u64 * 32..shift {
            sticky |= self.bit(i) != 0;
        }
        (q, shift, sticky)
    }

    /// floor(self / den) and whether a remainder is left; the quotient must fit 128 bits.
    fn div_to_u128(mut self, den: &Big) -> (u128, bool) {
        if den.is_zero() {
            return (0, false);
        }
        let qbits = (self.bit_len() + 1).saturating_sub(den.bit_len()).min(128);
        let mut q = 0u128;
        if qbits > 0 {
            let mut t = den.clone();
            t.shl(qbits - 1);
            for i in (0..qbits).rev() {
                if self.cmp_big(&t) != Ordering::Less {
                    self.sub_assign(&t);
                    q |= 1u128 << i;
                }
                t.shr1();
            }
        }
        (q, !self.is_zero())
    }

    /// self = self / d, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn to_decimal(&self) -> String {
        let mut chunks = Vec::new();
        let mut v = self.clone();
        while !v.is_zero() {
            chunks.push(v.div_small(1_000_000_000));
        }
        let mut out = String::with_capacity(chunks.len() * 9 + 1);
        match chunks.pop() {
            None => out.push('0'),
            Some(top) => out.push_str(&top.to_string()),
        }
        for chunk in chunks.iter().rev() {
            out.push_str(&format!("{chunk:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SET k <s>; INCRBY k 0` on redis-server 7.0.15: the value, or None for
    /// "ERR value is not an integer or out of range".
    const STRING2LL_GOLDEN: &[(&[u8], Option<i64>)] = &[
        (b"1", Some(1)),
        (b"0", Some(0)),
        (b"-1", Some(-1)),
        (b"9223372036854775807", Some(i64::MAX)),
        (b"-9223372036854775808", Some(i64::MIN)),
        (b" 1", None),
        (b"1 ", None),
        (b"+1", None),
        (b"01", None),
        (b"00", None),
        (b"-0", None),
        (b"-09", None),
        (b"0x10", None),
        (b"", None),
        (b"-", None),
        (b"1.0", None),
        (b"1e3", None),
        (b"9223372036854775808", None),
        (b"-9223372036854775809", None),
        (b"18446744073709551616", None),
    ];

    #[test]
    fn parse_i64_matches_redis() {
        for &(s, want) in STRING2LL_GOLDEN {
            assert_eq!(parse_i64(s), want, "{:?}", String::from_utf8_lossy(s));
        }
        // Length limit: 21 bytes or more never parse, even as a valid-looking number.
        assert_eq!(parse_i64(b"-0000000000000000001"), None);
        assert_eq!(parse_i64(b"123456789012345678901"), None);
        assert_eq!(parse_i64(b"\xff1"), None);
    }

    #[test]
    fn parse_u64_is_strict() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"9223372036854775808"), Some(1 << 63));
        for bad in [
            &b"18446744073709551616"[..],
            b"-1",
            b"-0",
            b"+1",
            b"01",
            b" 1",
            b"1 ",
            b"",
            b"1.0",
        ] {
            assert_eq!(parse_u64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_u64_lenient_matches_redis_stream_ids() {
        // `XADD s 5-<seq> f v` on redis-server 7.0.15: the ID it created, or an error.
        let golden: &[(&[u8], Option<u64>)] = &[
            (b"1", Some(1)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b" -5", Some(18446744073709551611)),
            (b"-0", Some(0)),
            (b"\t7", Some(7)),
            (b" +7", Some(7)),
            (b"\x0b7", Some(7)),
            (b"-1", None),
            (b"+-1", None),
            (b"99999999999999999999", None),
            (b"", None),
        ];
        for &(s, want) in golden {
            assert_eq!(
                parse_u64_lenient(s),
                want,
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        // And as the milliseconds part (`XADD s <ms>-1`).
        assert_eq!(parse_u64_lenient(b" 5"), Some(5));
        assert_eq!(parse_u64_lenient(b"+5"), Some(5));
        assert_eq!(parse_u64_lenient(b"05"), Some(5));
        assert_eq!(parse_u64_lenient(b" "), None);
        assert_eq!(parse_u64_lenient(b"0x5"), None);
        assert_eq!(parse_u64_lenient(b"5 "), None);
        assert_eq!(parse_u64_lenient(b"18446744073709551616"), None);
    }

    /// `ZADD z <s> m; ZSCORE z m` on redis-server 7.0.15 with skiplist encoding: the score as
    /// printed, or None for "ERR value is not a valid float".
    const ZADD_GOLDEN: &[(&[u8], Option<&str>)] = &[
        (b"1", Some("1")),
        (b"+1", Some("1")),
        (b"01", Some("1")),
        (b"-0", Some("-0")),
        (b"0x10", Some("16")),
        (b"0X1p3", Some("8")),
        (b".5", Some("0.5")),
        (b"5.", Some("5")),
        (b"inf", Some("inf")),
        (b"+inf", Some("inf")),
        (b"-inf", Some("-inf")),
        (b"INF", Some("inf")),
        (b"Infinity", Some("inf")),
        (b"-infinity", Some("-inf")),
        (b"4e-320", Some("3.999955468730732e-320")),
        (b"2.4703282292062328e-324", Some("4.9406564584124654e-324")),
        (b"1e308", Some("1e+308")),
        (b"1.7976931348623158e308", Some("1.7976931348623157e+308")),
        (b"0e999999", Some("0")),
        (b"0.1", Some("0.10000000000000001")),
        (b"1e300", Some("1.0000000000000001e+300")),
        (b"3.0", Some("3")),
        (b"1e17", Some("1e+17")),
        (b"1e16", Some("10000000000000000")),
        (b"123456789012345678", Some("1.2345678901234568e+17")),
        (b"1e-5", Some("1.0000000000000001e-05")),
        (b"0.0001", Some("0.0001")),
        (b"0.00001234", Some("1.234e-05")),
        (b"1.5e-7", Some("1.4999999999999999e-07")),
        (b"-1.5e-7", Some("-1.4999999999999999e-07")),
        (b"2.5", Some("2.5")),
        (b"1e21", Some("1e+21")),
        (b"4503599627370497", Some("4503599627370497")),
        (b"0x1.0000000000001p0", Some("1.0000000000000002")),
        (b"0.30000000000000004", Some("0.30000000000000004")),
        (b"5e-324", Some("4.9406564584124654e-324")),
        (b"1e-4", Some("0.0001")),
        (b"0.001", Some("0.001")),
        (b"123.456", Some("123.456")),
        (b"-2.5e-300", Some("-2.5e-300")),
        (b"1.7976931348623157e308", Some("1.7976931348623157e+308")),
        // glibc's hex subnormal rounding (one ulp below the correctly rounded 2.18...43e-308).
        (b"0X7df5de27256dc6p-1077", Some("2.1896190628933938e-308")),
        (
            b"0x1.0000000000000001p-1075",
            Some("4.9406564584124654e-324"),
        ),
        (b" 1", None),
        (b"1 ", None),
        (b"0x", None),
        (b"1e", None),
        (b".", None),
        (b"nan", None),
        (b"NaN", None),
        (b"", None),
        (b"1e-400", None),
        (b"2.4703282292062327e-324", None),
        (b"1.7976931348623159e308", None),
        (b"1e309", None),
        (b"1e+", None),
        (b"0x1p", None),
        (b"-", None),
        (b"+", None),
        (b"infinit", None),
        (b"1_0", None),
        (b"\t1", None),
        (b"1\x00", None),
    ];

    #[test]
    fn parse_f64_and_format_double_match_redis_zadd_zscore() {
        for &(s, want) in ZADD_GOLDEN {
            let got = parse_f64(s).map(format_double);
            assert_eq!(got.as_deref(), want, "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn format_double_specials() {
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(-f64::NAN), "nan");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(0.0), "0");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(-3.0), "-3");
        // Exact ties round to even, as glibc's printf does.
        assert_eq!(format_double(1e15 + 0.125), "1000000000000000.1");
        assert_eq!(format_double(1e15 + 0.375), "1000000000000000.4");
    }

    /// `SET k <s>; INCRBYFLOAT k 0` on redis-server 7.0.15 (string2ld acceptance + LD_STR_HUMAN),
    /// None for "ERR value is not a valid float"; `inf` passes parsing and fails the NaN/Infinity
    /// check instead.
    const STRING2LD_GOLDEN: &[(&[u8], Option<&str>)] = &[
        (b"1", Some("1")),
        (b"+1", Some("1")),
        (b"01", Some("1")),
        (b"-0", Some("0")),
        (b"00012", Some("12")),
        (b"0x10", Some("16")),
        (b"0X1p3", Some("8")),
        (b"0x.8", Some("0.5")),
        (b"1e+5", Some("100000")),
        (b".5", Some("0.5")),
        (b"5.", Some("5")),
        (b"-.5", Some("-0.5")),
        (b"+.5e1", Some("5")),
        (
            b"1e0000000000000000000000000000000000010",
            Some("10000000000"),
        ),
        (b"12345.6", Some("12345.59999999999999964")),
        (b"1000.1", Some("1000.09999999999999998")),
        (b"9007199254740993", Some("9007199254740993")),
        (b"1e20", Some("100000000000000000000")),
        (b"1.1e25", Some("11000000000000000000000000")),
        (b"0.000003814697265625", Some("0.00000381469726562")),
        (b"0.0000038146972656250001", Some("0.00000381469726563")),
        (b"3.0e3", Some("3000")),
        (b"1e-400", Some("0")),
        (b"1e-4950", Some("0")),
        (b"1.9e-4951", Some("0")),
        (b"0e5000", Some("0")),
        (b"0.0e-99999", Some("0")),
        (b"0x1P-16445", Some("0")),
        (b"0x1.8P-16446", Some("0")),
        (b"0x1.00000000000000001p-16446", Some("0")),
        (b"0x1.000000000000001p-16446", Some("0")),
        (b"inf", Some("inf")),
        (b"+inf", Some("inf")),
        (b"-inf", Some("-inf")),
        (b"INF", Some("inf")),
        (b"Infinity", Some("inf")),
        (b" 1", None),
        (b"1 ", None),
        (b"0x", None),
        (b"0x1p", None),
        (b"1e", None),
        (b"1e+", None),
        (b".", None),
        (b"infinit", None),
        (b"nan", None),
        (b"NaN", None),
        (b"-nan", None),
        (b"nan(1)", None),
        (b"", None),
        (b"-", None),
        (b"+", None),
        (b"1e-4951", None),
        (b"1.8e-4951", None),
        (b"1e-5000", None),
        (b"1e5000", None),
        (b"1.2e4932", None),
        (b"1_0", None),
        (b"0x1P-16446", None),
        (b"0x1p16384", None),
        (b"0x1.ffffffffffffffffp16383", None),
        // glibc drops the first round bit on hex subnormals: this one rounds to zero.
        (b"0x1.0000000000000001p-16446", None),
    ];

    #[test]
    fn long_double_parse_and_format_match_redis() {
        for &(s, want) in STRING2LD_GOLDEN {
            let got = LongDouble::parse(s).map(|ld| ld.format_human());
            assert_eq!(got.as_deref(), want, "{:?}", String::from_utf8_lossy(s));
        }
        // Huge values print every integer digit, as `%.17Lf` does.
        let e400 = "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039\
            3639948483241605220940539273176162002958227772592557340238289765933406610177974474345461739\
            1786244811667497172377894382439159333804747067502624668440135923751360383034373548550524495\
            5964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591\
            362664138176309734806343732497430221946880";
        assert_eq!(
            LongDouble::parse(b"1e400")
                .map(|ld| ld.format_human())
                .as_deref(),
            Some(e400)
        );
        let max = LongDouble::parse(b"0x1.fffffffffffffffep16383").map(|ld| ld.format_human());
        assert_eq!(max.as_deref().map(str::len), Some(4933));
        assert!(max.as_deref().is_some_and(|m| m.starts_with("11897314953572317650212638530309702051690633222946242004403237338917370055229707226164102903365288828535456978074955773144274431536702884341981255738537436786735932007069732632019159182829615243655295106467910866143117906321697788388961347865606003991487534332114549111600886798451548665128523401497730376000091254793939662231513836224178385427439178381387178058894875405751682263476592355769748051137256490208848552224947913993775850260117735491800997962260268595085588836081598469002356451323465944763849398592764562845796617729304078066092291027150460853880879593277816229868275478307680800401506949423034117289577771003357140105597752421240573470073862516601108283791196230084692772009651535002084744707924438485459128867230006190851264721119513614675276335195629275979572502780029807959041931396030214709970352764674455309220226796562809914982320833296412410385092391847347861219216972105434842870483534081130425730022164213489173471742348007148807510020643905172342476560047217680964861079949434157034763206435586242074435044243805661360176088374781653890278095769759772868600714870282879555671414046326158326236027628963161739784842544868606099482708679680480787025118589308385465842230409088059962945945862019037660484467909260022254105307759010657606713472001258464069570302571389609837579989269545530523685607586831792231136395194688508807718721047052039575874800131431314442549439199401757531693393923668818561891299317291042529212368351599223220509980016771027840353601408292963981151228777681357060457893435354516965395612540488464471697868932116710872290880827783505182288576460622187397028516550837209923494833344352289847512327537266360662139022812647062340753520717240586650795182173034637826313533937067749019501978416904418247380631628285868577414325811653640402184027249133933209492194984224427304270198730445366203502623869578046820036014472919971230955300572061418669748528468561865148327159744812031219467516863793430961896151073300655524214851952017628585950910518394725028638716324941676138049963197914418702543027067584951920088379151694015817400467114778772014596444611752040594535047647218079757611117208462736392796003396704700376133745095531841500737964126050479232516613548412918842113408230154733047540670728187635036173329080059518963252070716739045477771296822652062256514399193768044002923809031124379126147762559646942219813751469670794468703580043925076594516183798118593920495440361149153107822510726914869798092409467721427270124043771874092167566136349389004512323516681460893224006979931760178053381918499819330084109859939387602926013909114145260037202848721324119554242821018312042161044674046216353369005836646065911562987647455250681450039329414041314954006776029510059622530228230036314738246810596484424413248645731374375950964161680480241293518762046681356368775328146755387988717718365128939471953350618850032676073543886733680020743878496570145760903498575712430451020387304948542567024793393228091105260415385289948492039910919461299124916332899179980943803378795220931314669461497059396641523759492858909604899161219449899863848370224866722491489246784102061833646274169695763076324802355879752452537370354338829608627534277400163334340550835370485073745448197547222289752810830208986826330202852599230841680545396879114182976299889645764827652875045628549242651652177507995162596692291149777889623566709566271384820181913483216879958636526376209782850700993372943967846398790249145142227425270063639423279984839767399871544185542015622441549266530145155046854892586202760857618371297633587612153825651296335381416639495165560002641591865548500570526114319529199188079545223946496276356301785808966922264062353828985358675959906470083856871238103295919264948462507689922584193054807636202150890221492205280698420183508405869384938154989094454619778930291135765167754062322782983140334732766039522316034228247175281818188443048809213219335508698733958612760736708666523755556758031714901084773200964243187800700087973460329062789435537435644488519071916164551411557619393996907674151564028265436640267600950875239455073415561358679330660317447209244465135323666476497354008519670407711036405381500734868917983640495706061895350050898409138268695350900667833244725787121966044152849248400418509328119089636341757398971665960007594878006191640948543387585206571165410722609962881501231443779440087493019447443307843889957018427100048083050121771235606228950762690428568000477188931580893585155938631766529480890312677470296625451108615489583950877967554641379448959605279752098748138397625785921057562844017593493241621483395653501891968113890918437957347032694063428900878058469403524534793980806742732362978871008671758025315613023560648787092598652884163509725295370911143172048877474055390540094253754241193179441751370646896438615177188498670103415325423859110896247108853858086888377772586485641459342621210866475884892600317623459607695088491496624441566044195520868119897702")));
        // Length limit: 5120 bytes or more are refused even when they are a number.
        let long = vec![b'1'; 5120];
        assert!(LongDouble::parse(&long).is_none());
        let mut almost = vec![b'0'; 5118];
        almost.push(b'7');
        assert_eq!(
            LongDouble::parse(&almost)
                .map(|ld| ld.format_human())
                .as_deref(),
            Some("7")
        );
    }

    /// `SET k <a>; INCRBYFLOAT k <b>` on redis-server 7.0.15; None is "ERR increment would
    /// produce NaN or Infinity".
    const INCRBYFLOAT_GOLDEN: &[(&[u8], &[u8], Option<&str>)] = &[
        (b"10.5", b"0.1", Some("10.6")),
        (b"0.1", b"0.2", Some("0.3")),
        (b"1", b"-1.1", Some("-0.1")),
        (b"5.0e3", b"2.0e2", Some("5200")),
        (b"3.0e3", b"0", Some("3000")),
        (b"12345.6", b"0", Some("12345.59999999999999964")),
        (b"-680.792", b"0.3", Some("-680.49199999999999999")),
        (b"-796.0512", b"-183.7", Some("-979.75120000000000003")),
        (b"594.35", b"-846.7", Some("-252.35000000000000003")),
        (b"9007199254740993", b"0", Some("9007199254740993")),
        (b"17179869184", b"1.5", Some("17179869185.5")),
        (b"17179869184", b"17179869184", Some("34359738368")),
        (b"0.024390243902439025", b"-0.024390243902439025", Some("0")),
        (b"0x10", b"0x.8", Some("16.5")),
        (b"-0", b"-0", Some("0")),
        (b"1e-20", b"0", Some("0")),
        (b"-1e-20", b"0", Some("0")),
        (b"1.5", b"1e-4950", Some("1.5")),
        (
            b"297949110000000000",
            b"-61.86",
            Some("297949109999999938.125"),
        ),
        (b"99999999999999999999", b"1", Some("100000000000000000000")),
        (b"0.1", b"-0.1", Some("0")),
        (b"1.18973149535723176502e4932", b"1e4932", None),
        (b"1", b"inf", None),
        (b"inf", b"-inf", None),
    ];

    #[test]
    fn long_double_add_matches_redis_incrbyfloat() {
        for &(a, b, want) in INCRBYFLOAT_GOLDEN {
            let (Some(x), Some(y)) = (LongDouble::parse(a), LongDouble::parse(b)) else {
                panic!("operands must parse: {a:?} {b:?}");
            };
            let sum = x + y;
            let got = sum.is_finite().then(|| sum.format_human());
            assert_eq!(
                got.as_deref(),
                want,
                "{:?} + {:?}",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            );
        }
        // An INT-encoded value enters as an exact integer.
        let half = LongDouble::parse(b"0.5").unwrap_or(LongDouble::from_i64(0));
        let big = LongDouble::from_i64(i64::MIN) + half;
        assert_eq!(big.format_human(), "-9223372036854775807.5");
        assert_eq!(
            LongDouble::from_f64(0.1).format_human(),
            "0.10000000000000001"
        );
        assert_eq!(LongDouble::parse(b"0.1").map(|ld| ld.to_f64()), Some(0.1));
    }

    #[test]
    fn push_i64_appends() {
        let mut buf = b"x".to_vec();
        for i in [0, 7, -7, 10, -10, i64::MAX, i64::MIN] {
            push_i64(&mut buf, i);
            buf.push(b',');
        }
        assert_eq!(
            buf,
            b"x0,7,-7,10,-10,9223372036854775807,-9223372036854775808,".to_vec()
        );
    }

    #[test]
    fn parsers_never_panic() {
        // Every input of up to 4 bytes from an alphabet of number-ish and hostile bytes.
        let alphabet = b"0159.eEpPxX+-infINFaty \t\x00\xff";
        let mut s = Vec::new();
        for len in 0..=4u32 {
            for n in 0..alphabet.len().pow(len) {
                s.clear();
                let mut k = n;
                for _ in 0..len {
                    s.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                let _ = parse_i64(&s);
                let _ = parse_u64(&s);
                let _ = parse_u64_lenient(&s);
                let _ = parse_f64(&s);
                if let Some(ld) = LongDouble::parse(&s) {
                    let _ = (ld + ld).format_human();
                }
            }
        }
        // Extreme exponents and digit runs.
        for s in [
            &b"1e99999999999999999999999999"[..],
            b"1e-99999999999999999999999999",
            b"0x1p99999999999999999999999999",
            b"0x1p-99999999999999999999999999",
            b"0x.00000000000000000000000000000000000000000000000000001p0",
            b"0.0000000000000000000000000000000000000000000000000000000000000000000001e-4900",
        ] {
            let _ = parse_f64(s);
            let _ = LongDouble::parse(s).map(|ld| ld.format_human());
        }
        let mut digits = vec![b'9'; 5000];
        digits.extend_from_slice(b"e-9000");
        assert!(LongDouble::parse(&digits).is_some());
    }
}
