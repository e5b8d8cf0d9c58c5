//! The request parser: complete commands out of a connection's read buffer, or "need more".
//!
//! It never blocks and never trusts a length before bounding it: a multibulk count is limited
//! to INT_MAX (as Redis 7; 10 before authentication), a bulk length to `proto-max-bulk-len`, a line without CRLF to 64 KiB;
//! an inline command to 64 KiB. Errors carry Redis's exact protocol error text, and the caller
//! closes the connection after replying with it.

use bytes::{Bytes, BytesMut};

/// Redis's PROTO_INLINE_MAX_SIZE: the longest line (count, length or inline command).
pub const INLINE_MAX: usize = 64 * 1024;
/// The largest multibulk count Redis 7 accepts from a client (INT_MAX).
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(s: &str) -> ProtocolError {
        ProtocolError(format!("ERR Protocol error: {s}"))
    }
}

pub struct Limits {
    pub max_bulk_len: u64,
    /// Unauthenticated clients may send only small frames (Redis's 10 arguments of 16 KiB).
    pub authenticated: bool,
}

/// Parses one command from the front of `buf`. Ok(None) means the buffer holds no complete
/// command yet; consumed bytes are removed from `buf` only when a whole command is returned
/// (an empty inline line is consumed and skipped).
pub fn parse_command(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    Parser::default().parse(buf, limits)
}

/// Finds the CRLF-terminated line starting at `from`, returning the index of '\r'.
fn find_line(buf: &[u8], from: usize) -> Option<usize> {
    let slice = buf.get(from..)?;
    memchr_cr(slice).map(|i| from + i)
}

fn memchr_cr(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = s[i..].iter().position(|&c| c == b'\r') {
        let at = i + off;
        if at + 1 < s.len() {
            if s[at + 1] == b'\n' {
                return Some(at);
            }
            i = at + 1;
        } else {
            // '\r' is the last byte: the '\n' may still arrive.
            return None;
        }
    }
    None
}

/// Parses the decimal in a count or length line, as Redis's string2ll would.
fn parse_len(s: &[u8]) -> Option<i64> {
    strata_engine::number::parse_i64(s)
}

/// A multibulk frame whose arguments have not all arrived: the arguments already seen, so the
/// next read resumes where this one stopped instead of rescanning the frame.
struct Pending {
    count: usize,
    ranges: Vec<(usize, usize)>,
    pos: usize,
}

/// A connection's parser. Stateless between commands, but it remembers how far it got into an
/// incomplete multibulk frame, so a frame arriving in many small reads costs linear time.
#[derive(Default)]
pub struct Parser {
    pending: Option<Pending>,
}

impl Parser {
    /// As [`parse_command`], resuming a partly received frame.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.pending.is_some() {
            return self.resume(buf, limits);
        }
        loop {
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0] != b'*' {
                match parse_inline(buf)? {
                    Inline::Incomplete => return Ok(None),
                    Inline::Empty => continue,
                    Inline::Args(a) => return Ok(Some(a)),
                }
            }
            let Some(eol) = find_line(buf, 1) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::new("too big mbulk count string"));
                }
                return Ok(None);
            };
            let count = match parse_len(&buf[1..eol]) {
                Some(n) if n > 10 && !limits.authenticated => {
                    return Err(ProtocolError::new("unauthenticated multibulk length"))
                }
                Some(n) if n <= MULTIBULK_MAX => n,
                _ => return Err(ProtocolError::new("invalid multibulk length")),
            };
            if count <= 0 {
                let _ = buf.split_to(eol + 2);
                return Ok(Some(Vec::new()));
            }
            // Ranges of each argument inside the buffer; nothing is allocated per declared length.
            self.pending = Some(Pending {
                count: count as usize,
                ranges: Vec::with_capacity((count as usize).min(1024)),
                pos: eol + 2,
            });
            return self.resume(buf, limits);
        }
    }

    fn resume(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(p) = self.pending.as_mut() else {
            return Ok(None);
        };
        while p.ranges.len() < p.count {
            let pos = p.pos;
            if pos >= buf.len() {
                return Ok(None);
            }
            if buf[pos] != b'$' {
                self.pending = None;
                return Err(ProtocolError(format!(
                    "ERR Protocol error: expected '$', got '{}'",
                    buf[pos] as char
                )));
            }
            let Some(eol) = find_line(buf, pos + 1) else {
                if buf.len() - pos > INLINE_MAX {
                    self.pending = None;
                    return Err(ProtocolError::new("too big bulk count string"));
                }
                return Ok(None);
            };
            let len = match parse_len(&buf[pos + 1..eol]) {
                Some(n) if n > 16384 && !limits.authenticated => {
                    self.pending = None;
                    return Err(ProtocolError::new("unauthenticated bulk length"));
                }
                Some(n) if n >= 0 && (n as u64) <= limits.max_bulk_len => n as usize,
                _ => {
                    self.pending = None;
                    return Err(ProtocolError::new("invalid bulk length"));
                }
            };
            let start = eol + 2;
            let end = start + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            p.ranges.push((start, end));
            p.pos = end + 2;
        }
        let Some(p) = self.pending.take() else {
            return Ok(None);
        };
        let frame = buf.split_to(p.pos).freeze();
        Ok(Some(
            p.ranges
                .into_iter()
                .map(|(s, e)| frame.slice(s..e))
                .collect(),
        ))
    }
}

enum Inline {
    Incomplete,
    Empty,
    Args(Vec<Bytes>),
}

fn parse_inline(buf: &mut BytesMut) -> Result<Inline, ProtocolError> {
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(Inline::Incomplete);
    };
    if nl > INLINE_MAX {
        return Err(ProtocolError::new("too big inline request"));
    }
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    // Redis splits the line as a C string: nothing after a NUL byte counts.
    if let Some(nul) = text.iter().position(|&c| c == 0) {
        text = &text[..nul];
    }
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    let args =
        split_args(text).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    if args.is_empty() {
        return Ok(Inline::Empty);
    }
    Ok(Inline::Args(args.into_iter().map(Bytes::from).collect()))
}

/// C's isspace: space, \t, \n, \v, \f, \r.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits an inline command like Redis's sdssplitargs: spaces separate words, double quotes
/// allow `\n \r \t \b \a \\ \" \xHH` escapes, single quotes allow `\'`; a closing quote must be
/// followed by a space or the end. None for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    // Inside a word only these end it (a vertical tab or form feed does not).
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(c) = parse_command(&mut buf, &L)? {
            out.push(c);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_pipelines() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(
            cmds,
            vec![
                vec![Bytes::from("GET"), Bytes::from("k")],
                vec![Bytes::from("PING")]
            ]
        );
    }

    #[test]
    fn partial_frames_wait_for_more_at_every_cut() {
        let full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(parse_command(&mut buf, &L), Ok(None), "cut {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed at cut {cut}");
        }
    }

    #[test]
    fn inline_commands() {
        let cmds = parse_all(b"SET k \"a b\\x41\\n\"\r\n\r\nPING\n").unwrap();
        assert_eq!(
            cmds[0],
            vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("a bA\n")]
        );
        assert_eq!(cmds[1], vec![Bytes::from("PING")]);
        assert_eq!(
            parse_all(b"SET \"k\r\n").unwrap_err().0,
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            split_args(b"'it\\'s' x").unwrap(),
            vec![b"it's".to_vec(), b"x".to_vec()]
        );
        assert_eq!(split_args(b"\"a\"b"), None);
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        assert_eq!(
            parse_all(b"*99999999999999\r\n").unwrap_err().0,
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n").unwrap_err().0,
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\nx\r\n").unwrap_err().0,
            "ERR Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            parse_all(b"*abc\r\n").unwrap_err().0,
            "ERR Protocol error: invalid multibulk length"
        );
        let long = vec![b'a'; INLINE_MAX + 10];
        assert_eq!(
            parse_all(&long).unwrap_err().0,
            "ERR Protocol error: too big inline request"
        );
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; INLINE_MAX + 10]);
        assert_eq!(
            parse_all(&mb).unwrap_err().0,
            "ERR Protocol error: too big mbulk count string"
        );
        // A declared length waits for its data without reserving it.
        let mut buf = BytesMut::from(&b"*1\r\n$500000000\r\nab"[..]);
        assert_eq!(parse_command(&mut buf, &L), Ok(None));
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn empty_and_negative_multibulk_are_skipped() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\n").unwrap(),
            vec![Vec::<Bytes>::new(), Vec::new()]
        );
    }
}
