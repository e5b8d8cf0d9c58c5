//! Protocol-neutral reply data. The engine answers with these; the server's RESP writer turns
//! them into RESP2 or RESP3 bytes, so no engine code knows which protocol a client speaks.

use bytes::Bytes;

use crate::error::CmdError;

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A simple string such as `+PONG` or `+QUEUED`.
    Status(&'static str),
    /// A simple string built at run time (`TYPE`, `OBJECT ENCODING` replies).
    StatusOwned(String),
    Int(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1`) in RESP2, `_` in RESP3.
    Nil,
    /// The null array (`*-1`) in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3; a flat array of alternating keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Pairs such as member and score: an array of two-element arrays in RESP3, a flat array
    /// in RESP2 (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// A set in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3; a bulk string formatted as Redis formats doubles in RESP2.
    Double(f64),
    /// A boolean in RESP3; the integer 1 or 0 in RESP2.
    Bool(bool),
    /// A verbatim string (`=` with a three-letter format) in RESP3; a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    Error(CmdError),
    /// An out-of-band message (pub/sub): a push (`>`) in RESP3, an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies to one command, written one after another (SUBSCRIBE to several
    /// channels confirms each).
    Many(Vec<Reply>),
    /// An array of bulk strings already in wire form (identical in RESP2 and RESP3): one
    /// buffer instead of an allocation per element, for LRANGE and friends.
    Encoded(Bytes),
}

impl Reply {
    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulk_opt(b: Option<impl Into<Bytes>>) -> Reply {
        match b {
            Some(b) => Reply::Bulk(b.into()),
            None => Reply::Nil,
        }
    }

    /// An array of bulk strings, encoded once.
    pub fn bulk_array<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Reply {
        let mut out = Vec::with_capacity(16 + items.len() * 16);
        let mut num = itoa::Buffer::new();
        out.push(b'*');
        out.extend_from_slice(num.format(items.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        for it in items {
            out.push(b'$');
            out.extend_from_slice(num.format(it.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(it);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Encoded(Bytes::from(out))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<CmdError> for Reply {
    fn from(e: CmdError) -> Reply {
        Reply::Error(e)
    }
}

impl From<Result<Reply, CmdError>> for Reply {
    fn from(r: Result<Reply, CmdError>) -> Reply {
        r.unwrap_or_else(Reply::Error)
    }
}
