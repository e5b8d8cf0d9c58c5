//! Effects: what a write did, in the deterministic form a write-ahead log records and replays.
//!
//! Effects are not requests. A relative TTL is logged as an absolute unix time in milliseconds,
//! INCRBYFLOAT as the value it produced, a lazily expired key as a `Del`; replaying the effects of
//! a command on the state it ran against yields exactly the state it produced, whatever the clock
//! or the random generator say at replay time.
//!
//! The binary encoding is a frozen on-disk format: every tag below is written once and pinned by
//! the golden test at the bottom of this file (see docs/formats.md).

use crate::error::CmdError;

/// An absolute expiry in unix milliseconds; 0 means "no expiry".
pub type ExpireAt = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Replace the key with a string value. `keep_ttl` keeps the key's current expiry (and then
    /// `expire_at` is ignored); otherwise the expiry becomes `expire_at`.
    Set {
        db: u32,
        key: Vec<u8>,
        value: Vec<u8>,
        expire_at: ExpireAt,
        keep_ttl: bool,
    },
    Del {
        db: u32,
        key: Vec<u8>,
    },
    /// Set an absolute expiry; a time in the past deletes the key.
    Expire {
        db: u32,
        key: Vec<u8>,
        at: ExpireAt,
    },
    Persist {
        db: u32,
        key: Vec<u8>,
    },
    /// RENAME: the destination is replaced, the source's TTL moves with it.
    Rename {
        db: u32,
        src: Vec<u8>,
        dst: Vec<u8>,
    },
    /// COPY: the destination exists only if `replace` was given.
    Copy {
        src_db: u32,
        src: Vec<u8>,
        dst_db: u32,
        dst: Vec<u8>,
        replace: bool,
    },
    Move {
        db: u32,
        key: Vec<u8>,
        dst_db: u32,
    },
    SwapDb {
        a: u32,
        b: u32,
    },
    FlushDb {
        db: u32,
    },
    FlushAll,
    /// Integer increment of a string that holds an integer (missing key = 0), TTL kept.
    IncrBy {
        db: u32,
        key: Vec<u8>,
        by: i64,
    },
    /// Append to a string (missing key = empty), TTL kept.
    Append {
        db: u32,
        key: Vec<u8>,
        data: Vec<u8>,
    },
    /// Overwrite bytes at `offset`, zero-padding as SETRANGE does, TTL kept.
    SetRange {
        db: u32,
        key: Vec<u8>,
        offset: u64,
        data: Vec<u8>,
    },
}

/// The effects of the command (or transaction) being executed. `deferred` is set while a
/// MULTI/EXEC or script runs, so its effects are committed as one unit at its end.
#[derive(Debug, Default)]
pub struct Effects {
    pub list: Vec<Effect>,
    pub deferred: bool,
    /// The clock a transaction runs at: Redis freezes time for a whole MULTI/EXEC, so a key
    /// cannot expire between two of its commands. None = read the clock per command.
    pub now: Option<u64>,
}

/// Frozen record tags. Never renumber; add new ones at the end.
pub mod tag {
    pub const SET: u8 = 1;
    pub const DEL: u8 = 2;
    pub const EXPIRE: u8 = 3;
    pub const PERSIST: u8 = 4;
    pub const RENAME: u8 = 5;
    pub const COPY: u8 = 6;
    pub const MOVE: u8 = 7;
    pub const SWAPDB: u8 = 8;
    pub const FLUSHDB: u8 = 9;
    pub const FLUSHALL: u8 = 10;
    pub const INCRBY: u8 = 11;
    pub const APPEND: u8 = 12;
    pub const SETRANGE: u8 = 13;
}

/// Appends the encoding of `e` to `out`.
pub fn encode(e: &Effect, out: &mut Vec<u8>) {
    use Effect::*;
    match e {
        Set {
            db,
            key,
            value,
            expire_at,
            keep_ttl,
        } => {
            out.push(tag::SET);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_bytes(out, value);
            put_varint(out, *expire_at);
            out.push(*keep_ttl as u8);
        }
        Del { db, key } => {
            out.push(tag::DEL);
            put_varint(out, *db as u64);
            put_bytes(out, key);
        }
        Expire { db, key, at } => {
            out.push(tag::EXPIRE);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_varint(out, *at);
        }
        Persist { db, key } => {
            out.push(tag::PERSIST);
            put_varint(out, *db as u64);
            put_bytes(out, key);
        }
        Rename { db, src, dst } => {
            out.push(tag::RENAME);
            put_varint(out, *db as u64);
            put_bytes(out, src);
            put_bytes(out, dst);
        }
        Copy {
            src_db,
            src,
            dst_db,
            dst,
            replace,
        } => {
            out.push(tag::COPY);
            put_varint(out, *src_db as u64);
            put_bytes(out, src);
            put_varint(out, *dst_db as u64);
            put_bytes(out, dst);
            out.push(*replace as u8);
        }
        Move { db, key, dst_db } => {
            out.push(tag::MOVE);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_varint(out, *dst_db as u64);
        }
        SwapDb { a, b } => {
            out.push(tag::SWAPDB);
            put_varint(out, *a as u64);
            put_varint(out, *b as u64);
        }
        FlushDb { db } => {
            out.push(tag::FLUSHDB);
            put_varint(out, *db as u64);
        }
        FlushAll => out.push(tag::FLUSHALL),
        IncrBy { db, key, by } => {
            out.push(tag::INCRBY);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_varint(out, zigzag(*by));
        }
        Append { db, key, data } => {
            out.push(tag::APPEND);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_bytes(out, data);
        }
        SetRange {
            db,
            key,
            offset,
            data,
        } => {
            out.push(tag::SETRANGE);
            put_varint(out, *db as u64);
            put_bytes(out, key);
            put_varint(out, *offset);
            put_bytes(out, data);
        }
    }
}

/// Decodes one effect from the front of `buf`, returning it and the bytes consumed. Lengths are
/// checked against the buffer before anything is allocated, so hostile input cannot make it
/// allocate more than `buf.len()`.
pub fn decode(buf: &[u8]) -> Result<(Effect, usize), DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let e = match r.u8()? {
        tag::SET => Effect::Set {
            db: r.db()?,
            key: r.bytes()?,
            value: r.bytes()?,
            expire_at: r.varint()?,
            keep_ttl: r.bool()?,
        },
        tag::DEL => Effect::Del {
            db: r.db()?,
            key: r.bytes()?,
        },
        tag::EXPIRE => Effect::Expire {
            db: r.db()?,
            key: r.bytes()?,
            at: r.varint()?,
        },
        tag::PERSIST => Effect::Persist {
            db: r.db()?,
            key: r.bytes()?,
        },
        tag::RENAME => Effect::Rename {
            db: r.db()?,
            src: r.bytes()?,
            dst: r.bytes()?,
        },
        tag::COPY => Effect::Copy {
            src_db: r.db()?,
            src: r.bytes()?,
            dst_db: r.db()?,
            dst: r.bytes()?,
            replace: r.bool()?,
        },
        tag::MOVE => Effect::Move {
            db: r.db()?,
            key: r.bytes()?,
            dst_db: r.db()?,
        },
        tag::SWAPDB => Effect::SwapDb {
            a: r.db()?,
            b: r.db()?,
        },
        tag::FLUSHDB => Effect::FlushDb { db: r.db()? },
        tag::FLUSHALL => Effect::FlushAll,
        tag::INCRBY => Effect::IncrBy {
            db: r.db()?,
            key: r.bytes()?,
            by: unzigzag(r.varint()?),
        },
        tag::APPEND => Effect::Append {
            db: r.db()?,
            key: r.bytes()?,
            data: r.bytes()?,
        },
        tag::SETRANGE => Effect::SetRange {
            db: r.db()?,
            key: r.bytes()?,
            offset: r.varint()?,
            data: r.bytes()?,
        },
        t => return Err(DecodeError::UnknownTag(t)),
    };
    Ok((e, r.pos))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    UnknownTag(u8),
    BadVarint,
    BadBool,
    BadDb,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("record truncated"),
            DecodeError::UnknownTag(t) => write!(f, "unknown effect tag {t}"),
            DecodeError::BadVarint => f.write_str("malformed varint"),
            DecodeError::BadBool => f.write_str("malformed boolean"),
            DecodeError::BadDb => f.write_str("database index out of range"),
        }
    }
}

impl From<DecodeError> for CmdError {
    fn from(e: DecodeError) -> CmdError {
        CmdError::owned(format!("ERR corrupt effect: {e}"))
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let part = (b & 0x7f) as u64;
            if shift == 63 && part > 1 {
                return Err(DecodeError::BadVarint);
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint)
    }

    fn db(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.varint()?).map_err(|_| DecodeError::BadDb)
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadBool),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.varint()?;
        let rest = self.buf.len() - self.pos;
        if len > rest as u64 {
            return Err(DecodeError::Truncated);
        }
        let len = len as usize;
        let b = self.buf[self.pos..self.pos + len].to_vec();
        self.pos += len;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_kinds() -> Vec<Effect> {
        vec![
            Effect::Set {
                db: 3,
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                expire_at: 1_700_000_000_000,
                keep_ttl: false,
            },
            Effect::Del {
                db: 0,
                key: b"gone".to_vec(),
            },
            Effect::Expire {
                db: 1,
                key: b"k".to_vec(),
                at: 42,
            },
            Effect::Persist {
                db: 1,
                key: b"k".to_vec(),
            },
            Effect::Rename {
                db: 2,
                src: b"a".to_vec(),
                dst: b"b".to_vec(),
            },
            Effect::Copy {
                src_db: 0,
                src: b"a".to_vec(),
                dst_db: 5,
                dst: b"b".to_vec(),
                replace: true,
            },
            Effect::Move {
                db: 0,
                key: b"a".to_vec(),
                dst_db: 15,
            },
            Effect::SwapDb { a: 0, b: 1 },
            Effect::FlushDb { db: 9 },
            Effect::FlushAll,
            Effect::IncrBy {
                db: 0,
                key: b"n".to_vec(),
                by: i64::MIN,
            },
            Effect::Append {
                db: 0,
                key: b"s".to_vec(),
                data: b"xyz".to_vec(),
            },
            Effect::SetRange {
                db: 0,
                key: b"s".to_vec(),
                offset: 1 << 40,
                data: vec![0, 255],
            },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for e in all_kinds() {
            let mut buf = Vec::new();
            encode(&e, &mut buf);
            let (d, used) = decode(&buf).expect("decodes");
            assert_eq!(d, e);
            assert_eq!(used, buf.len());
        }
    }

    /// Pins the frozen wire format: changing a tag or a field order breaks this test.
    #[test]
    fn golden_encoding() {
        let mut buf = Vec::new();
        encode(
            &Effect::Set {
                db: 1,
                key: b"k".to_vec(),
                value: b"vv".to_vec(),
                expire_at: 300,
                keep_ttl: true,
            },
            &mut buf,
        );
        assert_eq!(buf, [1, 1, 1, b'k', 2, b'v', b'v', 0xac, 0x02, 1]);
        let tags: Vec<u8> = all_kinds()
            .iter()
            .map(|e| {
                let mut b = Vec::new();
                encode(e, &mut b);
                b[0]
            })
            .collect();
        assert_eq!(tags, (1..=13).collect::<Vec<u8>>());
        buf.clear();
        encode(
            &Effect::IncrBy {
                db: 0,
                key: vec![],
                by: -1,
            },
            &mut buf,
        );
        assert_eq!(buf, [11, 0, 0, 1]);
    }

    #[test]
    fn truncated_and_hostile_input_is_refused() {
        let mut buf = Vec::new();
        encode(&all_kinds()[0], &mut buf);
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        // a declared length of 2^62 must not allocate
        assert_eq!(
            decode(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode(&[200]), Err(DecodeError::UnknownTag(200)));
        assert_eq!(
            decode(&[2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::BadVarint)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
