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
use crate::types::stream::StreamId;

/// A pending entry as logged: ID, consumer, last delivery (unix ms), delivery count.
pub type PelEntry = (StreamId, Vec<u8>, u64, u64);

/// An absolute expiry in unix milliseconds; 0 means "no expiry".
pub type ExpireAt = u64;

#[derive(Debug, Clone, PartialEq)]
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
    /// Set hash fields (creating the hash); a replaced value loses its field expiry.
    HSet {
        db: u32,
        key: Vec<u8>,
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Delete hash fields; the key goes with its last field.
    HDel {
        db: u32,
        key: Vec<u8>,
        fields: Vec<Vec<u8>>,
    },
    /// Set (absolute unix ms) or clear (0) the expiry of hash fields.
    HExpire {
        db: u32,
        key: Vec<u8>,
        fields: Vec<(Vec<u8>, u64)>,
    },
    /// Push onto a list's head (`left`) or tail, creating it.
    ListPush {
        db: u32,
        key: Vec<u8>,
        left: bool,
        elems: Vec<Vec<u8>>,
    },
    /// Pop `count` elements from a list's head or tail (the popped values are implied by the
    /// state, so they are not logged); the key goes when the list is empty.
    ListPop {
        db: u32,
        key: Vec<u8>,
        left: bool,
        count: u64,
    },
    /// LSET with a normalized (non-negative) index.
    ListSet {
        db: u32,
        key: Vec<u8>,
        index: u64,
        elem: Vec<u8>,
    },
    /// LTRIM with its arguments (deterministic given the state).
    ListTrim {
        db: u32,
        key: Vec<u8>,
        start: i64,
        end: i64,
    },
    ListRem {
        db: u32,
        key: Vec<u8>,
        count: i64,
        elem: Vec<u8>,
    },
    ListInsert {
        db: u32,
        key: Vec<u8>,
        before: bool,
        pivot: Vec<u8>,
        elem: Vec<u8>,
    },
    /// Add set members (creating the set). SPOP and friends log the members they removed.
    SAdd {
        db: u32,
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    SRem {
        db: u32,
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    /// Set members' absolute scores (creating the sorted set); ZINCRBY logs the result.
    ZAdd {
        db: u32,
        key: Vec<u8>,
        pairs: Vec<(Vec<u8>, f64)>,
    },
    ZRem {
        db: u32,
        key: Vec<u8>,
        members: Vec<Vec<u8>>,
    },
    /// XADD: append an entry at this ID (creating the stream).
    XAdd {
        db: u32,
        key: Vec<u8>,
        id: StreamId,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A trim (XTRIM, XADD's MAXLEN/MINID): remove the stream's first `count` entries.
    XTrim {
        db: u32,
        key: Vec<u8>,
        count: u64,
    },
    XDel {
        db: u32,
        key: Vec<u8>,
        ids: Vec<StreamId>,
    },
    /// A stream's counters (creating an empty stream): XSETID, MKSTREAM, snapshots.
    XSetId {
        db: u32,
        key: Vec<u8>,
        last: StreamId,
        entries_added: u64,
        max_deleted: StreamId,
    },
    /// Create a consumer group or set its last-delivered ID and entries-read counter.
    XGroupSet {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
        last: StreamId,
        entries_read: Option<u64>,
    },
    XGroupDestroy {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
    },
    /// Create a consumer or set its seen and active times (unix ms).
    XConsumerSet {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
        consumer: Vec<u8>,
        seen_at: u64,
        active_at: Option<u64>,
    },
    /// Delete a consumer and its pending entries.
    XConsumerDel {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
        consumer: Vec<u8>,
    },
    /// Set pending entries: owner, last delivery time (unix ms), delivery count.
    XPelSet {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
        entries: Vec<PelEntry>,
    },
    XPelDel {
        db: u32,
        key: Vec<u8>,
        group: Vec<u8>,
        ids: Vec<StreamId>,
    },
    /// FUNCTION LOAD (and RESTORE): add or replace the library this source names.
    FunctionLoad {
        code: Vec<u8>,
    },
    FunctionDelete {
        name: Vec<u8>,
    },
    FunctionFlush,
    /// Replace the key with a JSON document (the binary form of `types::json::encode`),
    /// keeping its TTL; a new key has none.
    JsonSet {
        db: u32,
        key: Vec<u8>,
        doc: Vec<u8>,
    },
    /// FT.CREATE (and FT.ALTER, logged as the whole new definition): the index name, then
    /// the arguments that define it. Replaces an index of that name.
    SearchDefine {
        args: Vec<Vec<u8>>,
    },
    /// FT.DROPINDEX (the documents' deletion, with DD, is logged as `Del`s).
    SearchDrop {
        name: Vec<u8>,
    },
}

impl Effect {
    /// The key an effect that changes one key of one database changes (None for MOVE,
    /// which changes two databases).
    pub fn key(&self) -> Option<&[u8]> {
        use Effect::*;
        match self {
            Set { key, .. }
            | Del { key, .. }
            | Expire { key, .. }
            | Persist { key, .. }
            | IncrBy { key, .. }
            | Append { key, .. }
            | SetRange { key, .. }
            | HSet { key, .. }
            | HDel { key, .. }
            | HExpire { key, .. }
            | ListPush { key, .. }
            | ListPop { key, .. }
            | ListSet { key, .. }
            | ListTrim { key, .. }
            | ListRem { key, .. }
            | ListInsert { key, .. }
            | SAdd { key, .. }
            | SRem { key, .. }
            | ZAdd { key, .. }
            | ZRem { key, .. }
            | XAdd { key, .. }
            | XTrim { key, .. }
            | XDel { key, .. }
            | XSetId { key, .. }
            | XGroupSet { key, .. }
            | XGroupDestroy { key, .. }
            | XConsumerSet { key, .. }
            | XConsumerDel { key, .. }
            | XPelSet { key, .. }
            | XPelDel { key, .. }
            | JsonSet { key, .. } => Some(key),
            Rename { .. } | Copy { .. } | Move { .. } | SwapDb { .. } | FlushDb { .. } => None,
            FlushAll => None,
            FunctionLoad { .. } | FunctionDelete { .. } | FunctionFlush => None,
            SearchDefine { .. } | SearchDrop { .. } => None,
        }
    }

    /// The database an effect touches first (its only one, for all but COPY, MOVE and
    /// SWAPDB), None for FLUSHALL.
    pub fn db(&self) -> Option<u32> {
        use Effect::*;
        match self {
            FlushAll
            | FunctionLoad { .. }
            | FunctionDelete { .. }
            | FunctionFlush
            | SearchDefine { .. }
            | SearchDrop { .. } => None,
            SwapDb { a, .. } => Some(*a),
            Copy { src_db, .. } => Some(*src_db),
            Set { db, .. }
            | Del { db, .. }
            | Expire { db, .. }
            | Persist { db, .. }
            | Rename { db, .. }
            | Move { db, .. }
            | FlushDb { db }
            | IncrBy { db, .. }
            | Append { db, .. }
            | SetRange { db, .. }
            | HSet { db, .. }
            | HDel { db, .. }
            | HExpire { db, .. }
            | ListPush { db, .. }
            | ListPop { db, .. }
            | ListSet { db, .. }
            | ListTrim { db, .. }
            | ListRem { db, .. }
            | ListInsert { db, .. }
            | SAdd { db, .. }
            | SRem { db, .. }
            | ZAdd { db, .. }
            | ZRem { db, .. }
            | XAdd { db, .. }
            | XTrim { db, .. }
            | XDel { db, .. }
            | XSetId { db, .. }
            | XGroupSet { db, .. }
            | XGroupDestroy { db, .. }
            | XConsumerSet { db, .. }
            | XConsumerDel { db, .. }
            | XPelSet { db, .. }
            | XPelDel { db, .. }
            | JsonSet { db, .. } => Some(*db),
        }
    }
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
    /// The command running (lowercase; `container|sub` for subcommands that need telling
    /// apart), which keyspace notifications name their events after.
    pub cmd: &'static str,
    /// Set while a snapshot loads: the keys the effects name are not in the cold tier, so
    /// locking them skips the lookup there (and the admission sketch's record). A snapshot
    /// names each key once, with its effects together, and loading moves a key to the cold
    /// tier only after its last effect (`snapshot::load_from`).
    pub new_keys: bool,
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
    pub const HSET: u8 = 14;
    pub const HDEL: u8 = 15;
    pub const HEXPIRE: u8 = 16;
    pub const LIST_PUSH: u8 = 17;
    pub const LIST_POP: u8 = 18;
    pub const LIST_SET: u8 = 19;
    pub const LIST_TRIM: u8 = 20;
    pub const LIST_REM: u8 = 21;
    pub const LIST_INSERT: u8 = 22;
    pub const SADD: u8 = 23;
    pub const SREM: u8 = 24;
    pub const ZADD: u8 = 25;
    pub const ZREM: u8 = 26;
    pub const XADD: u8 = 27;
    pub const XTRIM: u8 = 28;
    pub const XDEL: u8 = 29;
    pub const XSETID: u8 = 30;
    pub const XGROUP_SET: u8 = 31;
    pub const XGROUP_DESTROY: u8 = 32;
    pub const XCONSUMER_SET: u8 = 33;
    pub const XCONSUMER_DEL: u8 = 34;
    pub const XPEL_SET: u8 = 35;
    pub const XPEL_DEL: u8 = 36;
    pub const FUNCTION_LOAD: u8 = 37;
    pub const FUNCTION_DELETE: u8 = 38;
    pub const FUNCTION_FLUSH: u8 = 39;
    pub const JSON_SET: u8 = 40;
    pub const SEARCH_DEFINE: u8 = 41;
    pub const SEARCH_DROP: u8 = 42;
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
        HSet { db, key, pairs } => {
            head(out, tag::HSET, *db, key);
            put_varint(out, pairs.len() as u64);
            for (f, v) in pairs {
                put_bytes(out, f);
                put_bytes(out, v);
            }
        }
        HDel { db, key, fields } => {
            head(out, tag::HDEL, *db, key);
            put_list(out, fields);
        }
        HExpire { db, key, fields } => {
            head(out, tag::HEXPIRE, *db, key);
            put_varint(out, fields.len() as u64);
            for (f, at) in fields {
                put_bytes(out, f);
                put_varint(out, *at);
            }
        }
        ListPush {
            db,
            key,
            left,
            elems,
        } => {
            head(out, tag::LIST_PUSH, *db, key);
            out.push(*left as u8);
            put_list(out, elems);
        }
        ListPop {
            db,
            key,
            left,
            count,
        } => {
            head(out, tag::LIST_POP, *db, key);
            out.push(*left as u8);
            put_varint(out, *count);
        }
        ListSet {
            db,
            key,
            index,
            elem,
        } => {
            head(out, tag::LIST_SET, *db, key);
            put_varint(out, *index);
            put_bytes(out, elem);
        }
        ListTrim {
            db,
            key,
            start,
            end,
        } => {
            head(out, tag::LIST_TRIM, *db, key);
            put_varint(out, zigzag(*start));
            put_varint(out, zigzag(*end));
        }
        ListRem {
            db,
            key,
            count,
            elem,
        } => {
            head(out, tag::LIST_REM, *db, key);
            put_varint(out, zigzag(*count));
            put_bytes(out, elem);
        }
        ListInsert {
            db,
            key,
            before,
            pivot,
            elem,
        } => {
            head(out, tag::LIST_INSERT, *db, key);
            out.push(*before as u8);
            put_bytes(out, pivot);
            put_bytes(out, elem);
        }
        SAdd { db, key, members } => {
            head(out, tag::SADD, *db, key);
            put_list(out, members);
        }
        SRem { db, key, members } => {
            head(out, tag::SREM, *db, key);
            put_list(out, members);
        }
        ZAdd { db, key, pairs } => {
            head(out, tag::ZADD, *db, key);
            put_varint(out, pairs.len() as u64);
            for (m, sc) in pairs {
                put_bytes(out, m);
                out.extend_from_slice(&sc.to_bits().to_le_bytes());
            }
        }
        ZRem { db, key, members } => {
            head(out, tag::ZREM, *db, key);
            put_list(out, members);
        }
        XAdd {
            db,
            key,
            id,
            fields,
        } => {
            head(out, tag::XADD, *db, key);
            put_id(out, *id);
            put_varint(out, fields.len() as u64);
            for (f, v) in fields {
                put_bytes(out, f);
                put_bytes(out, v);
            }
        }
        XTrim { db, key, count } => {
            head(out, tag::XTRIM, *db, key);
            put_varint(out, *count);
        }
        XDel { db, key, ids } => {
            head(out, tag::XDEL, *db, key);
            put_ids(out, ids);
        }
        XSetId {
            db,
            key,
            last,
            entries_added,
            max_deleted,
        } => {
            head(out, tag::XSETID, *db, key);
            put_id(out, *last);
            put_varint(out, *entries_added);
            put_id(out, *max_deleted);
        }
        XGroupSet {
            db,
            key,
            group,
            last,
            entries_read,
        } => {
            head(out, tag::XGROUP_SET, *db, key);
            put_bytes(out, group);
            put_id(out, *last);
            put_opt(out, *entries_read);
        }
        XGroupDestroy { db, key, group } => {
            head(out, tag::XGROUP_DESTROY, *db, key);
            put_bytes(out, group);
        }
        XConsumerSet {
            db,
            key,
            group,
            consumer,
            seen_at,
            active_at,
        } => {
            head(out, tag::XCONSUMER_SET, *db, key);
            put_bytes(out, group);
            put_bytes(out, consumer);
            put_varint(out, *seen_at);
            put_opt(out, *active_at);
        }
        XConsumerDel {
            db,
            key,
            group,
            consumer,
        } => {
            head(out, tag::XCONSUMER_DEL, *db, key);
            put_bytes(out, group);
            put_bytes(out, consumer);
        }
        XPelSet {
            db,
            key,
            group,
            entries,
        } => {
            head(out, tag::XPEL_SET, *db, key);
            put_bytes(out, group);
            put_varint(out, entries.len() as u64);
            for (id, consumer, at, n) in entries {
                put_id(out, *id);
                put_bytes(out, consumer);
                put_varint(out, *at);
                put_varint(out, *n);
            }
        }
        XPelDel {
            db,
            key,
            group,
            ids,
        } => {
            head(out, tag::XPEL_DEL, *db, key);
            put_bytes(out, group);
            put_ids(out, ids);
        }
        FunctionLoad { code } => {
            out.push(tag::FUNCTION_LOAD);
            put_bytes(out, code);
        }
        FunctionDelete { name } => {
            out.push(tag::FUNCTION_DELETE);
            put_bytes(out, name);
        }
        FunctionFlush => out.push(tag::FUNCTION_FLUSH),
        JsonSet { db, key, doc } => {
            head(out, tag::JSON_SET, *db, key);
            put_bytes(out, doc);
        }
        SearchDefine { args } => {
            out.push(tag::SEARCH_DEFINE);
            put_varint(out, args.len() as u64);
            for a in args {
                put_bytes(out, a);
            }
        }
        SearchDrop { name } => {
            out.push(tag::SEARCH_DROP);
            put_bytes(out, name);
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_varint(out, id.ms);
    put_varint(out, id.seq);
}

fn put_ids(out: &mut Vec<u8>, ids: &[StreamId]) {
    put_varint(out, ids.len() as u64);
    for id in ids {
        put_id(out, *id);
    }
}

/// An optional count: 0 for none, else the value plus one.
fn put_opt(out: &mut Vec<u8>, v: Option<u64>) {
    put_varint(out, v.map_or(0, |n| n.saturating_add(1)));
}

fn head(out: &mut Vec<u8>, tag: u8, db: u32, key: &[u8]) {
    out.push(tag);
    put_varint(out, db as u64);
    put_bytes(out, key);
}

fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    put_varint(out, items.len() as u64);
    for i in items {
        put_bytes(out, i);
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
        tag::HSET => {
            let (db, key) = (r.db()?, r.bytes()?);
            let n = r.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.bytes()?, r.bytes()?));
            }
            Effect::HSet { db, key, pairs }
        }
        tag::HDEL => Effect::HDel {
            db: r.db()?,
            key: r.bytes()?,
            fields: r.list()?,
        },
        tag::HEXPIRE => {
            let (db, key) = (r.db()?, r.bytes()?);
            let n = r.count()?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.bytes()?, r.varint()?));
            }
            Effect::HExpire { db, key, fields }
        }
        tag::LIST_PUSH => Effect::ListPush {
            db: r.db()?,
            key: r.bytes()?,
            left: r.bool()?,
            elems: r.list()?,
        },
        tag::LIST_POP => Effect::ListPop {
            db: r.db()?,
            key: r.bytes()?,
            left: r.bool()?,
            count: r.varint()?,
        },
        tag::LIST_SET => Effect::ListSet {
            db: r.db()?,
            key: r.bytes()?,
            index: r.varint()?,
            elem: r.bytes()?,
        },
        tag::LIST_TRIM => Effect::ListTrim {
            db: r.db()?,
            key: r.bytes()?,
            start: unzigzag(r.varint()?),
            end: unzigzag(r.varint()?),
        },
        tag::LIST_REM => Effect::ListRem {
            db: r.db()?,
            key: r.bytes()?,
            count: unzigzag(r.varint()?),
            elem: r.bytes()?,
        },
        tag::LIST_INSERT => Effect::ListInsert {
            db: r.db()?,
            key: r.bytes()?,
            before: r.bool()?,
            pivot: r.bytes()?,
            elem: r.bytes()?,
        },
        tag::SADD => Effect::SAdd {
            db: r.db()?,
            key: r.bytes()?,
            members: r.list()?,
        },
        tag::SREM => Effect::SRem {
            db: r.db()?,
            key: r.bytes()?,
            members: r.list()?,
        },
        tag::ZADD => {
            let (db, key) = (r.db()?, r.bytes()?);
            let n = r.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.bytes()?;
                let s = f64::from_bits(r.u64_le()?);
                if s.is_nan() {
                    return Err(DecodeError::BadScore);
                }
                pairs.push((m, s));
            }
            Effect::ZAdd { db, key, pairs }
        }
        tag::ZREM => Effect::ZRem {
            db: r.db()?,
            key: r.bytes()?,
            members: r.list()?,
        },
        tag::XADD => {
            let (db, key, id) = (r.db()?, r.bytes()?, r.id()?);
            let n = r.count()?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((r.bytes()?, r.bytes()?));
            }
            Effect::XAdd {
                db,
                key,
                id,
                fields,
            }
        }
        tag::XTRIM => Effect::XTrim {
            db: r.db()?,
            key: r.bytes()?,
            count: r.varint()?,
        },
        tag::XDEL => Effect::XDel {
            db: r.db()?,
            key: r.bytes()?,
            ids: r.ids()?,
        },
        tag::XSETID => Effect::XSetId {
            db: r.db()?,
            key: r.bytes()?,
            last: r.id()?,
            entries_added: r.varint()?,
            max_deleted: r.id()?,
        },
        tag::XGROUP_SET => Effect::XGroupSet {
            db: r.db()?,
            key: r.bytes()?,
            group: r.bytes()?,
            last: r.id()?,
            entries_read: r.opt()?,
        },
        tag::XGROUP_DESTROY => Effect::XGroupDestroy {
            db: r.db()?,
            key: r.bytes()?,
            group: r.bytes()?,
        },
        tag::XCONSUMER_SET => Effect::XConsumerSet {
            db: r.db()?,
            key: r.bytes()?,
            group: r.bytes()?,
            consumer: r.bytes()?,
            seen_at: r.varint()?,
            active_at: r.opt()?,
        },
        tag::XCONSUMER_DEL => Effect::XConsumerDel {
            db: r.db()?,
            key: r.bytes()?,
            group: r.bytes()?,
            consumer: r.bytes()?,
        },
        tag::XPEL_SET => {
            let (db, key, group) = (r.db()?, r.bytes()?, r.bytes()?);
            let n = r.count()?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push((r.id()?, r.bytes()?, r.varint()?, r.varint()?));
            }
            Effect::XPelSet {
                db,
                key,
                group,
                entries,
            }
        }
        tag::XPEL_DEL => Effect::XPelDel {
            db: r.db()?,
            key: r.bytes()?,
            group: r.bytes()?,
            ids: r.ids()?,
        },
        tag::FUNCTION_LOAD => Effect::FunctionLoad { code: r.bytes()? },
        tag::FUNCTION_DELETE => Effect::FunctionDelete { name: r.bytes()? },
        tag::FUNCTION_FLUSH => Effect::FunctionFlush,
        tag::JSON_SET => Effect::JsonSet {
            db: r.db()?,
            key: r.bytes()?,
            doc: r.bytes()?,
        },
        tag::SEARCH_DEFINE => {
            let n = r.count()?;
            let mut args = Vec::with_capacity(n);
            for _ in 0..n {
                args.push(r.bytes()?);
            }
            Effect::SearchDefine { args }
        }
        tag::SEARCH_DROP => Effect::SearchDrop { name: r.bytes()? },
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
    BadScore,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("record truncated"),
            DecodeError::UnknownTag(t) => write!(f, "unknown effect tag {t}"),
            DecodeError::BadVarint => f.write_str("malformed varint"),
            DecodeError::BadBool => f.write_str("malformed boolean"),
            DecodeError::BadDb => f.write_str("database index out of range"),
            DecodeError::BadScore => f.write_str("score is NaN"),
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

/// LEB128, the effects' and the stream nodes' integer encoding.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint length, then the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
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

    /// An element count, refused when the rest of the buffer could not hold that many
    /// (every element takes at least one byte), so a hostile count allocates nothing.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }

    fn list(&mut self) -> Result<Vec<Vec<u8>>, DecodeError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.bytes()?);
        }
        Ok(v)
    }

    fn u64_le(&mut self) -> Result<u64, DecodeError> {
        let b = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or(DecodeError::Truncated)?;
        self.pos += 8;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn id(&mut self) -> Result<StreamId, DecodeError> {
        Ok(StreamId::new(self.varint()?, self.varint()?))
    }

    fn ids(&mut self) -> Result<Vec<StreamId>, DecodeError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.id()?);
        }
        Ok(v)
    }

    fn opt(&mut self) -> Result<Option<u64>, DecodeError> {
        Ok(self.varint()?.checked_sub(1))
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
            Effect::HSet {
                db: 0,
                key: b"h".to_vec(),
                pairs: vec![(b"f".to_vec(), b"v".to_vec()), (vec![], vec![1])],
            },
            Effect::HDel {
                db: 1,
                key: b"h".to_vec(),
                fields: vec![b"f".to_vec()],
            },
            Effect::HExpire {
                db: 0,
                key: b"h".to_vec(),
                fields: vec![(b"f".to_vec(), 1_700_000_000_000), (b"g".to_vec(), 0)],
            },
            Effect::ListPush {
                db: 0,
                key: b"l".to_vec(),
                left: true,
                elems: vec![b"a".to_vec(), b"b".to_vec()],
            },
            Effect::ListPop {
                db: 0,
                key: b"l".to_vec(),
                left: false,
                count: 3,
            },
            Effect::ListSet {
                db: 0,
                key: b"l".to_vec(),
                index: 7,
                elem: b"x".to_vec(),
            },
            Effect::ListTrim {
                db: 0,
                key: b"l".to_vec(),
                start: -5,
                end: i64::MAX,
            },
            Effect::ListRem {
                db: 0,
                key: b"l".to_vec(),
                count: -2,
                elem: b"x".to_vec(),
            },
            Effect::ListInsert {
                db: 0,
                key: b"l".to_vec(),
                before: true,
                pivot: b"p".to_vec(),
                elem: b"e".to_vec(),
            },
            Effect::SAdd {
                db: 0,
                key: b"s".to_vec(),
                members: vec![b"1".to_vec(), b"m".to_vec()],
            },
            Effect::SRem {
                db: 0,
                key: b"s".to_vec(),
                members: vec![b"m".to_vec()],
            },
            Effect::ZAdd {
                db: 0,
                key: b"z".to_vec(),
                pairs: vec![
                    (b"a".to_vec(), 1.5),
                    (b"b".to_vec(), f64::NEG_INFINITY),
                    (b"c".to_vec(), -0.0),
                ],
            },
            Effect::ZRem {
                db: 0,
                key: b"z".to_vec(),
                members: vec![b"a".to_vec()],
            },
            Effect::XAdd {
                db: 1,
                key: b"s".to_vec(),
                id: StreamId::new(1700000000000, 3),
                fields: vec![(b"f".to_vec(), b"v".to_vec()), (vec![], vec![])],
            },
            Effect::XTrim {
                db: 0,
                key: b"s".to_vec(),
                count: 7,
            },
            Effect::XDel {
                db: 0,
                key: b"s".to_vec(),
                ids: vec![StreamId::new(1, 1), StreamId::MAX],
            },
            Effect::XSetId {
                db: 0,
                key: b"s".to_vec(),
                last: StreamId::new(9, 9),
                entries_added: 12,
                max_deleted: StreamId::new(5, 0),
            },
            Effect::XGroupSet {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                last: StreamId::new(3, 0),
                entries_read: None,
            },
            Effect::XGroupDestroy {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
            },
            Effect::XConsumerSet {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                seen_at: 1700000000000,
                active_at: Some(0),
            },
            Effect::XConsumerDel {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
            },
            Effect::XPelSet {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                entries: vec![(StreamId::new(3, 0), b"c".to_vec(), 17, 2)],
            },
            Effect::XPelDel {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                ids: vec![StreamId::new(3, 0)],
            },
            Effect::FunctionLoad {
                code: b"#!lua name=l\n".to_vec(),
            },
            Effect::FunctionDelete {
                name: b"l".to_vec(),
            },
            Effect::FunctionFlush,
            Effect::JsonSet {
                db: 3,
                key: b"j".to_vec(),
                doc: vec![8, 0],
            },
            Effect::SearchDefine {
                args: vec![
                    b"idx".to_vec(),
                    b"SCHEMA".to_vec(),
                    b"t".to_vec(),
                    b"TEXT".to_vec(),
                ],
            },
            Effect::SearchDrop {
                name: b"idx".to_vec(),
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
        assert_eq!(tags, (1..=42).collect::<Vec<u8>>());
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
        buf.clear();
        encode(
            &Effect::ZAdd {
                db: 2,
                key: b"z".to_vec(),
                pairs: vec![(b"m".to_vec(), 1.0)],
            },
            &mut buf,
        );
        assert_eq!(
            buf,
            [25, 2, 1, b'z', 1, 1, b'm', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
        );
        buf.clear();
        encode(
            &Effect::ListPush {
                db: 0,
                key: b"l".to_vec(),
                left: false,
                elems: vec![b"ab".to_vec()],
            },
            &mut buf,
        );
        assert_eq!(buf, [17, 0, 1, b'l', 0, 1, 2, b'a', b'b']);
        buf.clear();
        encode(
            &Effect::XAdd {
                db: 0,
                key: b"s".to_vec(),
                id: StreamId::new(300, 1),
                fields: vec![(b"f".to_vec(), b"v".to_vec())],
            },
            &mut buf,
        );
        assert_eq!(buf, [27, 0, 1, b's', 0xac, 0x02, 1, 1, 1, b'f', 1, b'v']);
        buf.clear();
        encode(
            &Effect::XPelSet {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                entries: vec![(StreamId::new(2, 0), b"c".to_vec(), 5, 1)],
            },
            &mut buf,
        );
        assert_eq!(buf, [35, 0, 1, b's', 1, b'g', 1, 2, 0, 1, b'c', 5, 1]);
        buf.clear();
        encode(
            &Effect::XGroupSet {
                db: 0,
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                last: StreamId::new(1, 2),
                entries_read: Some(0),
            },
            &mut buf,
        );
        assert_eq!(buf, [31, 0, 1, b's', 1, b'g', 1, 2, 1]);
    }

    #[test]
    fn hostile_counts_allocate_nothing() {
        // SADD with a declared member count of 2^40 and nothing behind it.
        assert_eq!(
            decode(&[23, 0, 1, b's', 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]),
            Err(DecodeError::Truncated)
        );
        // ZADD with a NaN score.
        let mut buf = vec![25, 0, 1, b'z', 1, 1, b'm'];
        buf.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        assert_eq!(decode(&buf), Err(DecodeError::BadScore));
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
