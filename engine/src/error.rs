//! Every error a client can see, with Redis 7.2's exact wording. Keep all error text here so
//! replies stay byte-identical to redis-server and a reviewer can diff them in one place.

use std::borrow::Cow;
use std::fmt;

/// A client error: the text after the leading `-` of a RESP error, without the CRLF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub const fn new(s: &'static str) -> CmdError {
        CmdError(Cow::Borrowed(s))
    }

    pub fn owned(s: String) -> CmdError {
        CmdError(Cow::Owned(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The error code: the first word, e.g. `WRONGTYPE` or `ERR`.
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("")
    }

    pub fn wrong_arity(cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }

    /// Redis builds this text with C string formatting: each argument is cut at a NUL byte,
    /// the argument list stops growing at 128 bytes, and CR/LF become spaces.
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> CmdError {
        let mut list: Vec<u8> = Vec::new();
        for a in args {
            if list.len() >= 128 {
                break;
            }
            let room = 128 - list.len();
            let a = c_str(a);
            list.push(b'\'');
            list.extend_from_slice(&a[..a.len().min(room)]);
            list.extend_from_slice(b"' ");
        }
        let name = c_str(name);
        let mut s = b"ERR unknown command '".to_vec();
        s.extend_from_slice(&name[..name.len().min(128)]);
        s.extend_from_slice(b"', with args beginning with: ");
        s.extend_from_slice(&list);
        for c in s.iter_mut() {
            if *c == b'\r' || *c == b'\n' {
                *c = b' ';
            }
        }
        CmdError::owned(String::from_utf8_lossy(&s).into_owned())
    }

    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            printable_trunc(sub, 128),
            cmd.to_ascii_uppercase()
        ))
    }

    pub fn invalid_expire(cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR invalid expire time in '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }
}

/// The bytes a C `%s` would print: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// Redis prints unknown names with non-printable bytes escaped and long names cut short.
fn printable_trunc(b: &[u8], max: usize) -> String {
    let cut = &b[..b.len().min(max)];
    let mut s = String::with_capacity(cut.len());
    for &c in cut {
        match c {
            b'\n' | b'\r' => s.push(' '),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmdError {}

pub const WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::new("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::new("ERR value is not a valid float");
pub const OVERFLOW: CmdError = CmdError::new("ERR increment or decrement would overflow");
pub const INCR_NAN_INF: CmdError = CmdError::new("ERR increment would produce NaN or Infinity");
pub const SYNTAX: CmdError = CmdError::new("ERR syntax error");
pub const NO_SUCH_KEY: CmdError = CmdError::new("ERR no such key");
pub const OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range, must be positive");
pub const INDEX_OUT_OF_RANGE: CmdError = CmdError::new("ERR index out of range");
pub const DB_INDEX_OUT_OF_RANGE: CmdError = CmdError::new("ERR DB index is out of range");
pub const INVALID_DB_INDEX: CmdError = CmdError::new("ERR invalid DB index");
pub const SAME_OBJECT: CmdError = CmdError::new("ERR source and destination objects are the same");
pub const STRING_TOO_LONG: CmdError =
    CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const BIT_OFFSET: CmdError = CmdError::new("ERR bit offset is not an integer or out of range");
pub const BIT_VALUE: CmdError = CmdError::new("ERR bit is not an integer or out of range");
pub const NOAUTH: CmdError = CmdError::new("NOAUTH Authentication required.");
pub const WRONGPASS: CmdError =
    CmdError::new("WRONGPASS invalid username-password pair or user is disabled.");
pub const OOM: CmdError = CmdError::new("OOM command not allowed when used memory > 'maxmemory'.");
pub const EXEC_WITHOUT_MULTI: CmdError = CmdError::new("ERR EXEC without MULTI");
pub const DISCARD_WITHOUT_MULTI: CmdError = CmdError::new("ERR DISCARD without MULTI");
pub const MULTI_NESTED: CmdError = CmdError::new("ERR MULTI calls can not be nested");
pub const WATCH_IN_MULTI: CmdError = CmdError::new("ERR WATCH inside MULTI is not allowed");
pub const EXECABORT: CmdError =
    CmdError::new("EXECABORT Transaction discarded because of previous errors.");
pub const HLL_WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const HLL_INVALID: CmdError = CmdError::new("INVALIDOBJ Corrupted HLL object detected");
pub const TIMEOUT_NEGATIVE: CmdError = CmdError::new("ERR timeout is negative");
pub const BITFIELD_TYPE: CmdError = CmdError::new(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
pub const BITFIELD_OVERFLOW_TYPE: CmdError = CmdError::new("ERR Invalid OVERFLOW type specified");
pub const BITFIELD_RO_GET_ONLY: CmdError =
    CmdError::new("ERR BITFIELD_RO only supports the GET subcommand");
pub const BITPOS_BIT: CmdError = CmdError::new("ERR The bit argument must be 1 or 0.");
pub const BITOP_NOT_ONE_KEY: CmdError =
    CmdError::new("ERR BITOP NOT must be called with a single source key.");
pub const LCS_NOT_STRING: CmdError =
    CmdError::new("ERR The specified keys must contain string values");
pub const LCS_LEN_AND_IDX: CmdError =
    CmdError::new("ERR If you want both the length and indexes, please just use IDX.");
pub const LCS_TOO_LONG: CmdError = CmdError::new("ERR String too long for LCS");
pub const LCS_OVER_BULK_LEN: CmdError =
    CmdError::new("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
pub const LCS_ALLOC_FAILED: CmdError =
    CmdError::new("ERR Insufficient memory, failed allocating transient memory for LCS");
