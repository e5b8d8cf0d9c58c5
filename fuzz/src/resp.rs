//! Target: the RESP request parser, `strata_server::resp::parse_command`.
//!
//! [`check`] hands one input to the parser the way a connection's reads would: whole, in a few
//! random chunks, and (for short inputs) one byte at a time, each with Redis's default
//! `proto-max-bulk-len` and with a tiny one. It checks:
//! - every call: `Ok(Some)` consumes bytes, and its arguments add up to no more than it consumed;
//!   `Ok(None)` consumes nothing but blank inline lines (which the parser skips, as Redis does);
//!   the buffer is always exactly the input fed so far minus what was consumed;
//! - the outcome against [`reference`], a whole-buffer model of the grammar written separately:
//!   the same commands, the same protocol error (so `Err` only for frames that really are
//!   malformed), the same bytes left over when it waits for more;
//! - chunked feeding gives exactly what feeding the whole input gives.
//!
//! [`generate_pipeline`] writes valid pipelines (multibulk and inline commands with binary
//! arguments, blank lines, empty multibulks) together with the commands they hold.

use bytes::BytesMut;
use rand::rngs::SmallRng;
use rand::Rng;
use strata_server::resp::parse::{parse_command, Limits, ProtocolError, INLINE_MAX, MULTIBULK_MAX};

use crate::{input_rng, show};

/// `split_args` in server/src/resp/parse.rs never returns on an unquoted NUL byte: a NUL ends a
/// word but is not skipped as a blank, so it pushes empty arguments forever (a hang that also
/// eats all memory). While this is true, [`check`] refuses such inputs with a panic instead of
/// hanging. Once the parser reads an inline line as Redis does (as a C string: it ends at its
/// first NUL), set this to false: the reference below already expects that reading.
pub const NUL_HANG_GUARD: bool = false;

/// Redis's default `proto-max-bulk-len`.
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// A tiny `proto-max-bulk-len`, so refusing a bulk for its length is exercised too.
const SMALL_MAX_BULK_LEN: u64 = 16;
/// Inputs up to this long are also fed one byte at a time.
const BYTE_AT_A_TIME_MAX: usize = 96;

pub const DICTIONARY: &[&[u8]] = &[
    b"*",
    b"$",
    b"\r\n",
    b"\n",
    b"\r",
    b"*1\r\n",
    b"*2\r\n$3\r\nGET\r\n",
    b"$0\r\n\r\n",
    b"$-1\r\n",
    b"-1",
    b"0",
    b"\"",
    b"'",
    b"\\",
    b"\\x4",
    b"\\x41",
    b"\\'",
    b" ",
    b"\t",
    b"\x0b",
    b"\x0c",
];

/// One command: its arguments.
pub type Command = Vec<Vec<u8>>;

pub fn check(data: &[u8]) {
    for max_bulk_len in [DEFAULT_MAX_BULK_LEN, SMALL_MAX_BULK_LEN] {
        check_with_limit(data, max_bulk_len);
    }
}

fn check_with_limit(data: &[u8], max_bulk_len: u64) {
    let limits = Limits {
        max_bulk_len,
        authenticated: true,
    };
    let model = reference(data, max_bulk_len);
    if NUL_HANG_GUARD && model.nul_inline {
        panic!(
            "an inline command holds a NUL byte, and split_args (server/src/resp/parse.rs) never \
             returns on an unquoted NUL: it pushes empty arguments forever, so this input would \
             hang the parser and exhaust memory. Fix: read the inline line as a C string, as Redis \
             does (cut it at its first NUL before splitting), then set NUL_HANG_GUARD to false in \
             fuzz/src/resp.rs"
        );
    }
    let whole = feed(data, &[data.len()], &limits);
    compare_with_model(data, &whole, &model);

    let mut rng = input_rng(data);
    let one_cut = [rng.gen_range(0..=data.len()), data.len()];
    check_chunked(data, &one_cut, &limits, &whole);
    let mut cuts: Vec<usize> = (0..3).map(|_| rng.gen_range(0..=data.len())).collect();
    cuts.push(data.len());
    cuts.sort_unstable();
    check_chunked(data, &cuts, &limits, &whole);
    if data.len() <= BYTE_AT_A_TIME_MAX {
        let bytewise: Vec<usize> = (1..=data.len()).collect();
        check_chunked(data, &bytewise, &limits, &whole);
    }
}

/// What a connection would have seen.
#[derive(Debug)]
struct Run {
    commands: Vec<Command>,
    error: Option<ProtocolError>,
    /// The bytes left in the buffer (at the error, if there was one).
    rest: Vec<u8>,
}

/// Feeds `data` in chunks ending at `cuts` (ascending; the last is `data.len()`), parsing all it
/// can after each chunk, and checks the invariants every call must keep.
fn feed(data: &[u8], cuts: &[usize], limits: &Limits) -> Run {
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    for &cut in cuts {
        buf.extend_from_slice(&data[fed..cut]);
        fed = cut;
        loop {
            let before = buf.len();
            let result = parse_command(&mut buf, limits);
            let after = buf.len();
            assert!(
                after <= before,
                "parse_command grew the buffer from {before} to {after} bytes"
            );
            assert!(
                buf[..] == data[fed - after..fed],
                "the buffer is no longer the unparsed tail of the input: {}",
                show(&buf)
            );
            let consumed = &data[fed - before..fed - after];
            match result {
                Ok(Some(args)) => {
                    assert!(
                        !consumed.is_empty(),
                        "a command came back without consuming input; a connection would loop"
                    );
                    let arg_bytes: usize = args.iter().map(|a| a.len()).sum();
                    assert!(
                        arg_bytes <= consumed.len(),
                        "{arg_bytes} bytes of arguments out of {} bytes consumed",
                        consumed.len()
                    );
                    commands.push(args.iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => {
                    if !consumed.is_empty() {
                        let skipped = reference(consumed, limits.max_bulk_len);
                        assert!(
                            skipped.commands.is_empty() && skipped.end == End::Clean,
                            "Ok(None) consumed {} which is not just blank lines",
                            show(consumed)
                        );
                    }
                    break;
                }
                Err(e) => {
                    assert!(
                        e.0.starts_with("ERR Protocol error: "),
                        "unexpected error text {:?}",
                        e.0
                    );
                    return Run {
                        commands,
                        error: Some(e),
                        rest: buf.to_vec(),
                    };
                }
            }
        }
    }
    Run {
        commands,
        error: None,
        rest: buf.to_vec(),
    }
}

fn compare_with_model(data: &[u8], run: &Run, model: &Model) {
    assert_same_commands(&run.commands, &model.commands, "the reference");
    match &model.end {
        End::Malformed(expected) => assert_eq!(
            run.error.as_ref().map(|e| e.0.as_str()),
            Some(expected.as_str()),
            "after {} commands the reference finds a malformed frame at {}",
            model.commands.len(),
            show(&data[model.consumed..])
        ),
        End::Clean | End::Incomplete => {
            assert_eq!(
                run.error,
                None,
                "the parser refused a frame the reference accepts or waits for: {}",
                show(&data[model.consumed..])
            );
            assert!(
                run.rest[..] == data[model.consumed..],
                "the parser left {} unparsed, the reference {}",
                show(&run.rest),
                show(&data[model.consumed..])
            );
        }
    }
}

fn check_chunked(data: &[u8], cuts: &[usize], limits: &Limits, whole: &Run) {
    let run = feed(data, cuts, limits);
    assert_same_commands(&run.commands, &whole.commands, "feeding it whole");
    if data.len() <= INLINE_MAX {
        assert_eq!(
            run.error, whole.error,
            "chunks ending at {cuts:?} end differently from the whole input"
        );
    } else {
        // Past INLINE_MAX a partial line can trip a "too big" error where the whole line gives
        // another one; an error it must still be.
        assert_eq!(
            run.error.is_some(),
            whole.error.is_some(),
            "chunks ending at {cuts:?} end differently from the whole input"
        );
    }
    if whole.error.is_none() {
        assert!(
            run.rest == whole.rest,
            "chunks ending at {cuts:?} leave different bytes unparsed"
        );
    }
}

fn assert_same_commands(got: &[Command], want: &[Command], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "command #{i} differs from {what}: parser {}, expected {}",
            show_command(g),
            show_command(w)
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "the parser returned {} commands, {what} {}",
        got.len(),
        want.len()
    );
}

fn show_command(args: &[Vec<u8>]) -> String {
    let shown: Vec<String> = args.iter().map(|a| show(a)).collect();
    format!("[{}]", shown.join(", "))
}

// ---------------------------------------------------------------------------------------------
// The reference model

/// How the reference's reading of an input ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Every byte belongs to a complete command or a blank line.
    Clean,
    /// The input stops inside a frame: the parser must wait for more.
    Incomplete,
    /// A frame is malformed: the parser must fail with exactly this error.
    Malformed(String),
}

#[derive(Debug, Clone)]
pub struct Model {
    pub commands: Vec<Command>,
    /// How many bytes the parser has removed from its buffer by the time it returns `Ok(None)`:
    /// the complete commands and the blank lines.
    pub consumed: usize,
    pub end: End,
    /// Whether a line read as an inline command holds a NUL byte (see [`NUL_HANG_GUARD`]).
    pub nul_inline: bool,
}

enum Frame {
    Command(Command, usize),
    Blank(usize),
    Incomplete,
    Malformed(String),
}

fn malformed(what: &str) -> Frame {
    Frame::Malformed(format!("ERR Protocol error: {what}"))
}

/// Reads a whole buffer as the parser should, frame by frame. It is written from the grammar,
/// not from the parser: a frame starting with `*` is a multibulk (a count line, then that many
/// `$len` lines each followed by `len` bytes and two bytes that are skipped unchecked); anything
/// else is an inline command, one line split like Redis's `sdssplitargs`. Lines end at the first
/// CRLF (multibulk) or LF (inline); counts and lengths are Redis `string2ll` integers, a count
/// at most 1024*1024 (a count <= 0 is an empty command), a length within `max_bulk_len`; a line
/// that has not ended within INLINE_MAX bytes is "too big".
pub fn reference(data: &[u8], max_bulk_len: u64) -> Model {
    let mut model = Model {
        commands: Vec::new(),
        consumed: 0,
        end: End::Clean,
        nul_inline: false,
    };
    let mut pos = 0;
    while pos < data.len() {
        let frame = if data[pos] == b'*' {
            reference_multibulk(data, pos, max_bulk_len)
        } else {
            reference_inline(data, pos, &mut model.nul_inline)
        };
        match frame {
            Frame::Command(args, next) => {
                model.commands.push(args);
                pos = next;
            }
            Frame::Blank(next) => pos = next,
            Frame::Incomplete => {
                model.end = End::Incomplete;
                break;
            }
            Frame::Malformed(error) => {
                model.end = End::Malformed(error);
                break;
            }
        }
        model.consumed = pos;
    }
    model
}

fn reference_multibulk(data: &[u8], start: usize, max_bulk_len: u64) -> Frame {
    let Some(eol) = find_crlf(data, start + 1) else {
        return if data.len() - start > INLINE_MAX {
            malformed("too big mbulk count string")
        } else {
            Frame::Incomplete
        };
    };
    let count = match decimal(&data[start + 1..eol]) {
        Some(n) if n <= MULTIBULK_MAX => n,
        _ => return malformed("invalid multibulk length"),
    };
    let mut pos = eol + 2;
    let mut args = Vec::new();
    for _ in 0..count.max(0) {
        let Some(&marker) = data.get(pos) else {
            return Frame::Incomplete;
        };
        if marker != b'$' {
            return Frame::Malformed(format!(
                "ERR Protocol error: expected '$', got '{}'",
                char::from(marker)
            ));
        }
        let Some(eol) = find_crlf(data, pos + 1) else {
            return if data.len() - pos > INLINE_MAX {
                malformed("too big bulk count string")
            } else {
                Frame::Incomplete
            };
        };
        let len = match decimal(&data[pos + 1..eol]).and_then(|n| u64::try_from(n).ok()) {
            Some(n) if n <= max_bulk_len => n,
            _ => return malformed("invalid bulk length"),
        };
        let begin = eol + 2;
        // The payload, then the two bytes that should be CRLF.
        if ((data.len() - begin) as u64) < len + 2 {
            return Frame::Incomplete;
        }
        let end = begin + len as usize;
        args.push(data[begin..end].to_vec());
        pos = end + 2;
    }
    Frame::Command(args, pos)
}

fn reference_inline(data: &[u8], start: usize, nul_inline: &mut bool) -> Frame {
    let Some(newline) = data[start..].iter().position(|&c| c == b'\n') else {
        return if data.len() - start > INLINE_MAX {
            malformed("too big inline request")
        } else {
            Frame::Incomplete
        };
    };
    if newline > INLINE_MAX {
        return malformed("too big inline request");
    }
    let mut line = &data[start..start + newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    if line.contains(&0) {
        *nul_inline = true;
    }
    let next = start + newline + 1;
    match split_inline(line) {
        None => malformed("unbalanced quotes in request"),
        Some(args) if args.is_empty() => Frame::Blank(next),
        Some(args) => Frame::Command(args, next),
    }
}

/// The index of the first CRLF at or after `from`.
fn find_crlf(data: &[u8], from: usize) -> Option<usize> {
    let tail = data.get(from..)?;
    tail.windows(2)
        .position(|w| w[0] == b'\r' && w[1] == b'\n')
        .map(|i| from + i)
}

/// Redis's `string2ll`: an optional `-`, then decimal digits without a leading zero (`0` itself
/// is fine, `-0` is not), at most 20 bytes in all, within i64.
fn decimal(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut value: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i128::from(c - b'0');
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

/// C's `isspace` in the "C" locale, which `sdssplitargs` uses: note the vertical tab.
fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Redis's `sdssplitargs` on an inline line, which it reads as a C string (the line ends at its
/// first NUL). Words are separated by blanks (`isspace`); a word ends at a space, tab, CR or LF;
/// `"..."` takes the escapes `\xHH \n \r \t \b \a` and `\<any>`; `'...'` takes only `\'`; a
/// closing quote must be followed by a blank or the end. None for unbalanced quotes.
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match line.iter().position(|&c| c == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied();
    // A closing quote must be followed by a blank or the end of the line.
    let ends_quote_well = |i: usize| match at(i) {
        Some(c) => c_isspace(c),
        None => true,
    };
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(c_isspace) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut word = Vec::new();
        let mut quote = None;
        loop {
            match quote {
                None => match at(i) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(q @ (b'"' | b'\'')) => {
                        quote = Some(q);
                        i += 1;
                    }
                    Some(c) => {
                        word.push(c);
                        i += 1;
                    }
                },
                Some(b'"') => {
                    let c = at(i)?;
                    let hex_escape = c == b'\\'
                        && at(i + 1) == Some(b'x')
                        && at(i + 2).is_some_and(|h| h.is_ascii_hexdigit())
                        && at(i + 3).is_some_and(|h| h.is_ascii_hexdigit());
                    if hex_escape {
                        word.push((hex_value(line[i + 2]) << 4) | hex_value(line[i + 3]));
                        i += 4;
                    } else if c == b'\\' && i + 1 < line.len() {
                        word.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 2;
                    } else if c == b'"' {
                        if !ends_quote_well(i + 1) {
                            return None;
                        }
                        i += 1;
                        break;
                    } else {
                        word.push(c);
                        i += 1;
                    }
                }
                Some(_) => {
                    let c = at(i)?;
                    if c == b'\\' && at(i + 1) == Some(b'\'') {
                        word.push(b'\'');
                        i += 2;
                    } else if c == b'\'' {
                        if !ends_quote_well(i + 1) {
                            return None;
                        }
                        i += 1;
                        break;
                    } else {
                        word.push(c);
                        i += 1;
                    }
                }
            }
        }
        args.push(word);
    }
}

// ---------------------------------------------------------------------------------------------
// The generator

/// Bytes that make a valid pipeline, and the commands in it.
pub struct Pipeline {
    pub bytes: Vec<u8>,
    pub commands: Vec<Command>,
}

pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    generate_pipeline(rng).bytes
}

const NAMES: &[&[u8]] = &[
    b"GET", b"SET", b"PING", b"HSET", b"ZADD", b"MULTI", b"EXEC", b"CLIENT", b"set", b"pInG",
];

const TRICKY_ARGS: &[&[u8]] = &[
    b"*1\r\n$3\r\nGET\r\n",
    b"\r\n",
    b"\n",
    b"$-1",
    b"\"quoted\"",
    b"'",
    b"a b",
    b"\\x41",
    b"\x00",
    b"\x0b",
];

const BLANK_LINES: &[&[u8]] = &[b"\r\n", b"\n", b" \r\n", b"\t \n", b"\x0c\r\n"];

/// A pipeline of 1 to 8 frames: multibulk commands, inline commands, blank lines and empty
/// multibulks (`*0`, `*-1`, which the parser returns as commands without arguments).
pub fn generate_pipeline(rng: &mut SmallRng) -> Pipeline {
    let mut pipeline = Pipeline {
        bytes: Vec::new(),
        commands: Vec::new(),
    };
    for _ in 0..rng.gen_range(1..=8) {
        match rng.gen_range(0..20) {
            0..=11 => {
                let args = random_command(rng);
                encode_multibulk(&args, &mut pipeline.bytes);
                pipeline.commands.push(args);
            }
            12..=16 => {
                let args = random_command(rng);
                encode_inline(rng, &args, &mut pipeline.bytes);
                pipeline.commands.push(args);
            }
            17..=18 => pipeline
                .bytes
                .extend_from_slice(BLANK_LINES[rng.gen_range(0..BLANK_LINES.len())]),
            _ => {
                let count: i32 = rng.gen_range(-2..=0);
                pipeline
                    .bytes
                    .extend_from_slice(format!("*{count}\r\n").as_bytes());
                pipeline.commands.push(Vec::new());
            }
        }
    }
    pipeline
}

/// `*N\r\n` then `$len\r\narg\r\n` for each argument.
pub fn encode_multibulk(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn random_command(rng: &mut SmallRng) -> Command {
    let mut args = vec![NAMES[rng.gen_range(0..NAMES.len())].to_vec()];
    for _ in 0..rng.gen_range(0..6) {
        args.push(random_arg(rng));
    }
    args
}

fn random_arg(rng: &mut SmallRng) -> Vec<u8> {
    const WORD: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-";
    match rng.gen_range(0..8) {
        0 => Vec::new(),
        1..=3 => (0..rng.gen_range(1..12))
            .map(|_| WORD[rng.gen_range(0..WORD.len())])
            .collect(),
        4 => TRICKY_ARGS[rng.gen_range(0..TRICKY_ARGS.len())].to_vec(),
        5 => (0..rng.gen_range(100..1000)).map(|_| rng.gen()).collect(),
        _ => (0..rng.gen_range(1..24)).map(|_| rng.gen()).collect(),
    }
}

/// Writes `args` as an inline command that `sdssplitargs` reads back as exactly `args`: bare
/// words where possible, otherwise single or double quotes with escapes.
fn encode_inline(rng: &mut SmallRng, args: &[Vec<u8>], out: &mut Vec<u8>) {
    const SEPARATORS: &[&[u8]] = &[b" ", b"  ", b"\t", b" \t "];
    let mut line = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(SEPARATORS[rng.gen_range(0..SEPARATORS.len())]);
        }
        encode_inline_arg(rng, arg, &mut line);
    }
    // A line starting with '*' would be read as a multibulk.
    if line.first() == Some(&b'*') || rng.gen_bool(0.1) {
        line.insert(0, b' ');
    }
    if rng.gen_bool(0.1) {
        line.push(b' ');
    }
    let eol: &[u8] = if rng.gen_bool(0.8) { b"\r\n" } else { b"\n" };
    line.extend_from_slice(eol);
    out.extend_from_slice(&line);
}

fn encode_inline_arg(rng: &mut SmallRng, arg: &[u8], line: &mut Vec<u8>) {
    let bare_ok = !arg.is_empty()
        && arg
            .iter()
            .all(|&c| !c_isspace(c) && !matches!(c, b'"' | b'\'' | 0));
    let single_ok = !arg.iter().any(|&c| matches!(c, b'\'' | b'\\' | b'\n' | 0));
    match rng.gen_range(0..3) {
        0 if bare_ok => line.extend_from_slice(arg),
        1 if single_ok => {
            line.push(b'\'');
            line.extend_from_slice(arg);
            line.push(b'\'');
        }
        _ => {
            line.push(b'"');
            for &c in arg {
                match c {
                    b'"' => line.extend_from_slice(b"\\\""),
                    b'\\' => line.extend_from_slice(b"\\\\"),
                    b'\n' => line.extend_from_slice(b"\\n"),
                    b'\r' => line.extend_from_slice(b"\\r"),
                    0 => line.extend_from_slice(b"\\x00"),
                    b'\t' if rng.gen_bool(0.5) => line.extend_from_slice(b"\\t"),
                    _ if rng.gen_bool(0.2) => {
                        let escaped = if rng.gen_bool(0.5) {
                            format!("\\x{c:02x}")
                        } else {
                            format!("\\x{c:02X}")
                        };
                        line.extend_from_slice(escaped.as_bytes());
                    }
                    _ => line.push(c),
                }
            }
            line.push(b'"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn reference_reads_multibulk_like_redis() {
        let m = reference(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*0\r\n*1\r\n$2\r\nab",
            1 << 29,
        );
        assert_eq!(m.commands, vec![args(&["GET", "k"]), Vec::new()]);
        assert_eq!(m.end, End::Incomplete);
        assert_eq!(m.consumed, 24);
        let m = reference(b"*1\r\n$2\r\nab\r\n*x\r\n", 1 << 29);
        assert_eq!(
            m.end,
            End::Malformed("ERR Protocol error: invalid multibulk length".into())
        );
        let m = reference(b"*1\r\n$17\r\n", 16);
        assert_eq!(
            m.end,
            End::Malformed("ERR Protocol error: invalid bulk length".into())
        );
        assert_eq!(decimal(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(decimal(b"9223372036854775808"), None);
        assert_eq!(decimal(b"-0"), None);
        assert_eq!(decimal(b"01"), None);
    }

    #[test]
    fn reference_splits_inline_like_sdssplitargs() {
        assert_eq!(
            split_inline(b"SET k \"a b\\x41\\n\" 'it\\'s'"),
            Some(args(&["SET", "k", "a bA\n", "it's"]))
        );
        assert_eq!(split_inline(b"\x0b PING \x0c"), Some(args(&["PING"])));
        assert_eq!(split_inline(b"a\x0bb"), Some(args(&["a\x0bb"])));
        assert_eq!(split_inline(b"\"a\"b"), None);
        assert_eq!(split_inline(b"\"a\"\x0b"), Some(args(&["a"])));
        assert_eq!(split_inline(b"\"abc"), None);
        assert_eq!(split_inline(b"GET a\0b c"), Some(args(&["GET", "a"])));
        assert_eq!(split_inline(b"\"a\0\""), None);
        assert_eq!(split_inline(b"   "), Some(Vec::new()));
    }

    #[test]
    fn generated_pipelines_read_back_in_the_reference() {
        use rand::SeedableRng;
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..500 {
            let p = generate_pipeline(&mut rng);
            let m = reference(&p.bytes, DEFAULT_MAX_BULK_LEN);
            assert_eq!(m.end, End::Clean, "{}", show(&p.bytes));
            assert!(!m.nul_inline, "{}", show(&p.bytes));
            assert_eq!(m.commands, p.commands, "{}", show(&p.bytes));
        }
    }
}
