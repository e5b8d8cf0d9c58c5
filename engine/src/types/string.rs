//! String commands: SET and friends, counters, ranges, bitmaps, HyperLogLog and LCS.
//! Each function takes its options already parsed and returns the reply.

use bytes::Bytes;

use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::keyspace::{Guard, Ttl};
use crate::number::LongDouble;
use crate::reply::Reply;
use crate::types::{Str, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Always,
    /// Only if the key does not exist.
    Nx,
    /// Only if the key exists.
    Xx,
}

#[derive(Debug, Clone, Copy)]
pub struct SetOpts {
    pub cond: Cond,
    pub get: bool,
    pub ttl: Ttl,
}

/// The string at `key` for a read: Ok(None) if missing, WRONGTYPE for another type.
fn read_string<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    match g.get(key) {
        None => Ok(None),
        Some(e) if e.value.is_string() => Ok(Some(&e.value)),
        Some(_) => Err(error::WRONGTYPE),
    }
}

/// The same check on the write path (no hit/miss accounting).
fn peek_string<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    match g.peek(key) {
        None => Ok(None),
        Some(e) if e.value.is_string() => Ok(Some(&e.value)),
        Some(_) => Err(error::WRONGTYPE),
    }
}

pub fn value_reply(v: &Value) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(v.string_bytes().unwrap_or_default()))
}

fn ttl_effect(ttl: Ttl) -> (u64, bool) {
    match ttl {
        Ttl::Keep => (0, true),
        Ttl::Clear => (0, false),
        Ttl::At(t) => (t, false),
    }
}

/// Stores a string and logs it.
fn store(g: &mut Guard<'_>, key: &[u8], value: &[u8], ttl: Ttl) {
    let (expire_at, keep_ttl) = ttl_effect(ttl);
    let db = g.db as u32;
    // A deadline already in the past still stores the key (Redis 7.0 does; it is then expired
    // on its next access and counted by DBSIZE until then).
    g.set(key, Value::from_bytes(value), ttl);
    g.log(|| Effect::Set {
        db,
        key: key.to_vec(),
        value: value.to_vec(),
        expire_at,
        keep_ttl,
    });
}

pub fn set(cx: &mut Ctx, key: &[u8], value: &[u8], opts: SetOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let old = if opts.get {
        peek_string(&mut g, key)?.map(value_reply)
    } else {
        None
    };
    let exists = if opts.get {
        old.is_some()
    } else {
        g.exists(key)
    };
    let go = match opts.cond {
        Cond::Always => true,
        Cond::Nx => !exists,
        Cond::Xx => exists,
    };
    if go {
        store(&mut g, key, value, opts.ttl);
    }
    Ok(match (opts.get, go) {
        (true, _) => old.unwrap_or(Reply::Nil),
        (false, true) => Reply::Ok,
        (false, false) => Reply::Nil,
    })
}

pub fn get(cx: &mut Ctx, key: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_string(&mut g, key)?.map_or(Reply::Nil, value_reply))
}

/// GETEX's expiry change.
#[derive(Debug, Clone, Copy)]
pub enum GetExOpt {
    None,
    At(u64),
    Persist,
}

pub fn getex(cx: &mut Ctx, key: &[u8], opt: Result<GetExOpt, CmdError>) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_string(&mut g, key)? else {
        return Ok(Reply::Nil);
    };
    let opt = opt?;
    let reply = value_reply(v);
    let db = g.db as u32;
    match opt {
        GetExOpt::None => {}
        GetExOpt::At(t) if t <= g.now => {
            g.remove(key);
            g.log(|| Effect::Del {
                db,
                key: key.to_vec(),
            });
        }
        GetExOpt::At(t) => {
            g.set_expire(key, t);
            g.log(|| Effect::Expire {
                db,
                key: key.to_vec(),
                at: t,
            });
        }
        GetExOpt::Persist => {
            if g.peek(key).is_some_and(|e| e.expire_at != 0) {
                g.set_expire(key, 0);
                g.log(|| Effect::Persist {
                    db,
                    key: key.to_vec(),
                });
            }
        }
    }
    Ok(reply)
}

pub fn getdel(cx: &mut Ctx, key: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_string(&mut g, key)? else {
        return Ok(Reply::Nil);
    };
    let reply = value_reply(v);
    g.remove(key);
    let db = g.db as u32;
    g.log(|| Effect::Del {
        db,
        key: key.to_vec(),
    });
    Ok(reply)
}

pub fn mget(cx: &mut Ctx, keys: &[Bytes]) -> Reply {
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
    let mut g = cx.lock(&refs);
    Reply::Array(
        refs.iter()
            .map(|k| match g.get(k) {
                Some(e) if e.value.is_string() => value_reply(&e.value),
                _ => Reply::Nil,
            })
            .collect(),
    )
}

/// MSET and MSETNX. Returns false (and sets nothing) when `nx` and any key exists.
pub fn mset(cx: &mut Ctx, pairs: &[Bytes], nx: bool) -> bool {
    let keys: Vec<&[u8]> = pairs.iter().step_by(2).map(|k| k.as_ref()).collect();
    let mut g = cx.lock(&keys);
    if nx && keys.iter().any(|k| g.exists(k)) {
        return false;
    }
    for kv in pairs.chunks_exact(2) {
        store(&mut g, &kv[0], &kv[1], Ttl::Clear);
    }
    true
}

/// INCR, DECR, INCRBY, DECRBY.
pub fn incr_by(cx: &mut Ctx, key: &[u8], by: i64) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let cur = match peek_string(&mut g, key)? {
        None => 0,
        Some(v) => v.as_i64().ok_or(error::NOT_INTEGER)?,
    };
    let new = cur.checked_add(by).ok_or(error::OVERFLOW)?;
    if g.modify(key, |v| *v = Value::from_int(new)).is_none() {
        g.set(key, Value::from_int(new), Ttl::Clear);
    }
    let db = g.db as u32;
    g.log(|| Effect::IncrBy {
        db,
        key: key.to_vec(),
        by,
    });
    Ok(Reply::Int(new))
}

/// INCRBYFLOAT in 80-bit long double arithmetic, exactly as Redis computes and prints it.
pub fn incr_by_float(cx: &mut Ctx, key: &[u8], by: LongDouble) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let cur = match peek_string(&mut g, key)? {
        None => LongDouble::from_i64(0),
        Some(v) => {
            LongDouble::parse(v.string_bytes().unwrap_or_default()).ok_or(error::NOT_FLOAT)?
        }
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(error::INCR_NAN_INF);
    }
    let text = new.format_human();
    // Logged as the resulting value, so replay does not redo floating-point arithmetic. The
    // value stays a string even when it looks like an integer, as Redis keeps it (a replayed
    // SET may encode it as an integer, as Redis's own AOF replay does).
    let db = g.db as u32;
    g.set(key, Value::plain_string(text.as_bytes()), Ttl::Keep);
    g.log(|| Effect::Set {
        db,
        key: key.to_vec(),
        value: text.as_bytes().to_vec(),
        expire_at: 0,
        keep_ttl: true,
    });
    Ok(Reply::Bulk(Bytes::from(text.into_bytes())))
}

fn max_len(cx_max: u64, len: u64) -> Result<(), CmdError> {
    if len > cx_max {
        Err(error::STRING_TOO_LONG)
    } else {
        Ok(())
    }
}

pub fn append(cx: &mut Ctx, key: &[u8], data: &[u8]) -> Result<Reply, CmdError> {
    let limit = cx
        .eng
        .config
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut g = cx.lock(&[key]);
    let len = match peek_string(&mut g, key)? {
        None => {
            g.set(key, Value::from_bytes(data), Ttl::Clear);
            data.len()
        }
        Some(v) => {
            let cur = v.string_bytes().map_or(0, |b| b.len());
            max_len(limit, (cur + data.len()) as u64)?;
            g.modify(key, |v| v.as_str_mut().map_or(0, |s| s.append(data)))
                .unwrap_or(0)
        }
    };
    let db = g.db as u32;
    g.log(|| Effect::Append {
        db,
        key: key.to_vec(),
        data: data.to_vec(),
    });
    Ok(Reply::Int(len as i64))
}

pub fn strlen(cx: &mut Ctx, key: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(Reply::Int(match read_string(&mut g, key)? {
        None => 0,
        Some(v) => v.string_bytes().map_or(0, |b| b.len()) as i64,
    }))
}

/// Writes `data` at `offset`, zero-padding, creating the key if needed. The caller has checked
/// the size limit. Returns the new length.
fn write_at(g: &mut Guard<'_>, key: &[u8], offset: usize, data: &[u8]) -> usize {
    let end = offset + data.len();
    let apply = |s: &mut Str| {
        if s.content().len() < end {
            s.resize(end);
        }
        s.content_mut()[offset..end].copy_from_slice(data);
        s.content().len()
    };
    match g.modify(key, |v| v.as_str_mut().map(apply)) {
        Some(Some(n)) => n,
        _ => {
            let mut v = Value::raw_string(&[]);
            let n = v.as_str_mut().map_or(0, apply);
            g.set(key, v, Ttl::Clear);
            n
        }
    }
}

pub fn setrange(cx: &mut Ctx, key: &[u8], offset: i64, data: &[u8]) -> Result<Reply, CmdError> {
    let limit = cx
        .eng
        .config
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut g = cx.lock(&[key]);
    if offset < 0 {
        return Err(error::OFFSET_OUT_OF_RANGE);
    }
    let cur = peek_string(&mut g, key)?.map(|v| v.string_bytes().map_or(0, |b| b.len()));
    if data.is_empty() {
        return Ok(Reply::Int(cur.unwrap_or(0) as i64));
    }
    max_len(limit, offset as u64 + data.len() as u64)?;
    let n = write_at(&mut g, key, offset as usize, data);
    let db = g.db as u32;
    g.log(|| Effect::SetRange {
        db,
        key: key.to_vec(),
        offset: offset as u64,
        data: data.to_vec(),
    });
    Ok(Reply::Int(n as i64))
}

pub fn getrange(cx: &mut Ctx, key: &[u8], start: i64, end: i64) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_string(&mut g, key)? else {
        return Ok(Reply::bulk_str(""));
    };
    let s = v.string_bytes().unwrap_or_default();
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk_str(""));
    }
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk_str(""));
    }
    Ok(Reply::Bulk(Bytes::copy_from_slice(
        &s[start as usize..=end as usize],
    )))
}

// ---- bitmaps ----

use crate::types::bitmap;

/// Largest bit offset a string may reach under proto-max-bulk-len.
fn max_bit(cx: &Ctx) -> u64 {
    cx.eng
        .config
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_mul(8)
}

pub fn setbit(cx: &mut Ctx, key: &[u8], offset: u64, on: bool) -> Result<Reply, CmdError> {
    if offset >= max_bit(cx) {
        return Err(error::BIT_OFFSET);
    }
    let mut g = cx.lock(&[key]);
    let byte = (offset / 8) as usize;
    let mask = 0x80u8 >> (offset % 8);
    let current = peek_string(&mut g, key)?
        .and_then(|v| v.string_bytes().unwrap_or_default().get(byte).copied());
    if let Some(b) = current {
        if (b & mask != 0) == on {
            // The bit already has that value: like Redis, no write, no WATCH touch, no change
            // counted.
            return Ok(Reply::Int(on as i64));
        }
    }
    // Sets the bit in place (growing the string with zero bytes); returns (previous bit, new byte).
    let apply = |s: &mut Str| {
        if s.content().len() <= byte {
            s.resize(byte + 1);
        }
        let b = &mut s.content_mut()[byte];
        let prev = (*b & mask != 0) as u8;
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
        (prev, *b)
    };
    let (prev, new_byte) = match g.modify(key, |v| v.as_str_mut().map(apply)) {
        Some(Some(r)) => r,
        _ => {
            let mut v = Value::raw_string(&[]);
            let r = v.as_str_mut().map_or((0, 0), apply);
            g.set(key, v, Ttl::Clear);
            r
        }
    };
    let db = g.db as u32;
    g.log(|| Effect::SetRange {
        db,
        key: key.to_vec(),
        offset: byte as u64,
        data: vec![new_byte],
    });
    Ok(Reply::Int(prev as i64))
}

pub fn getbit(cx: &mut Ctx, key: &[u8], offset: u64) -> Result<Reply, CmdError> {
    if offset >= max_bit(cx) {
        return Err(error::BIT_OFFSET);
    }
    let mut g = cx.lock(&[key]);
    let bit = read_string(&mut g, key)?.map_or(0, |v| {
        bitmap::getbit(v.string_bytes().unwrap_or_default(), offset)
    });
    Ok(Reply::Int(bit as i64))
}

/// BITCOUNT. Redis looks the key up before it parses the range, so a missing key answers 0
/// even for a malformed range: `range` carries the parse result to apply in that order.
pub fn bitcount(
    cx: &mut Ctx,
    key: &[u8],
    range: Result<Option<(i64, i64, bitmap::RangeUnit)>, CmdError>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_string(&mut g, key)? else {
        return Ok(Reply::Int(0));
    };
    let n = bitmap::bitcount(v.string_bytes().unwrap_or_default(), range?);
    Ok(Reply::Int(n))
}

pub fn bitpos(
    cx: &mut Ctx,
    key: &[u8],
    bit: u8,
    range: Result<(Option<i64>, Option<i64>, bitmap::RangeUnit), CmdError>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let pos = match read_string(&mut g, key)? {
        None => bitmap::bitpos_missing_key(bit),
        Some(v) => {
            let (start, end, unit) = range?;
            bitmap::bitpos(v.string_bytes().unwrap_or_default(), bit, start, end, unit)
        }
    };
    Ok(Reply::Int(pos))
}

pub fn bitop(
    cx: &mut Ctx,
    op: bitmap::BitOp,
    dest: &[u8],
    srcs: &[Bytes],
) -> Result<Reply, CmdError> {
    let mut keys: Vec<&[u8]> = srcs.iter().map(|k| k.as_ref()).collect();
    keys.push(dest);
    let mut g = cx.lock(&keys);
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(srcs.len());
    for k in srcs {
        values.push(match peek_string(&mut g, k)? {
            None => Vec::new(),
            Some(v) => v.string_bytes().unwrap_or_default().to_vec(),
        });
    }
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    let out = bitmap::bitop(op, &refs);
    let db = g.db as u32;
    let n = out.len();
    if out.is_empty() {
        if g.remove(dest).is_some() {
            g.log(|| Effect::Del {
                db,
                key: dest.to_vec(),
            });
        }
    } else {
        g.log(|| Effect::Set {
            db,
            key: dest.to_vec(),
            value: out.clone(),
            expire_at: 0,
            keep_ttl: false,
        });
        g.set(dest, Value::raw_string(&out), Ttl::Clear);
    }
    Ok(Reply::Int(n as i64))
}

pub fn bitfield(cx: &mut Ctx, key: &[u8], ops: &[bitmap::BitfieldOp]) -> Result<Reply, CmdError> {
    let writes = bitmap::bitfield_writes(ops);
    let mut g = cx.lock(&[key]);
    let cur = if writes {
        peek_string(&mut g, key)?
    } else {
        read_string(&mut g, key)?
    };
    let mut raw = cur
        .map(|v| v.string_bytes().unwrap_or_default().to_vec())
        .unwrap_or_default();
    let before = raw.clone();
    let results = bitmap::bitfield_apply(&mut raw, ops);
    if writes && raw != before {
        // Log the span of bytes that changed, as a SETRANGE.
        let first = raw
            .iter()
            .zip(before.iter().chain(std::iter::repeat(&0)))
            .position(|(a, b)| a != b);
        let first = first.unwrap_or(before.len().min(raw.len()));
        let last = raw.len();
        let data = raw[first..last].to_vec();
        let db = g.db as u32;
        if g.modify(key, |v| *v = Value::raw_string(&raw)).is_none() {
            g.set(key, Value::raw_string(&raw), Ttl::Clear);
        }
        g.log(|| Effect::SetRange {
            db,
            key: key.to_vec(),
            offset: first as u64,
            data,
        });
    }
    Ok(Reply::Array(
        results
            .into_iter()
            .map(|r| r.map_or(Reply::Nil, Reply::Int))
            .collect(),
    ))
}

// ---- HyperLogLog ----

use crate::types::hll;

fn hll_bytes(g: &mut Guard<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    match peek_string(g, key)? {
        None => Ok(None),
        Some(v) => {
            let b = v.string_bytes().unwrap_or_default().to_vec();
            hll::validate(&b)?;
            Ok(Some(b))
        }
    }
}

fn hll_store(g: &mut Guard<'_>, key: &[u8], bytes: Vec<u8>) {
    let db = g.db as u32;
    g.log(|| Effect::Set {
        db,
        key: key.to_vec(),
        value: bytes.clone(),
        expire_at: 0,
        keep_ttl: true,
    });
    if g.modify(key, |v| *v = Value::raw_string(&bytes)).is_none() {
        g.set(key, Value::raw_string(&bytes), Ttl::Clear);
    }
}

pub fn pfadd(cx: &mut Ctx, key: &[u8], elements: &[Bytes]) -> Result<Reply, CmdError> {
    let sparse_max = cx
        .eng
        .config
        .hll_sparse_max_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut g = cx.lock(&[key]);
    let (mut h, created) = match hll_bytes(&mut g, key)? {
        Some(b) => (b, false),
        None => (hll::new_sparse(), true),
    };
    let els: Vec<&[u8]> = elements.iter().map(|e| e.as_ref()).collect();
    let changed = hll::add(&mut h, &els, sparse_max)?;
    if changed || created {
        hll_store(&mut g, key, h);
    }
    Ok(Reply::Int((changed || created) as i64))
}

pub fn pfcount(cx: &mut Ctx, keys: &[Bytes]) -> Result<Reply, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_ref()).collect();
    let mut g = cx.lock(&refs);
    if refs.len() == 1 {
        let key = refs[0];
        let Some(mut h) = hll_bytes(&mut g, key)? else {
            return Ok(Reply::Int(0));
        };
        let (n, changed) = hll::count(&mut h)?;
        if changed {
            // Only the cached cardinality changed: store it without counting a write, as Redis
            // does, but keep the log in step with the bytes.
            hll_store(&mut g, key, h);
        }
        return Ok(Reply::Int(n as i64));
    }
    let mut all = Vec::with_capacity(refs.len());
    for k in &refs {
        if let Some(h) = hll_bytes(&mut g, k)? {
            all.push(h);
        }
    }
    let views: Vec<&[u8]> = all.iter().map(|h| h.as_slice()).collect();
    Ok(Reply::Int(hll::count_union(&views)? as i64))
}

pub fn pfmerge(cx: &mut Ctx, dest: &[u8], srcs: &[Bytes]) -> Result<Reply, CmdError> {
    let sparse_max = cx
        .eng
        .config
        .hll_sparse_max_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut keys: Vec<&[u8]> = srcs.iter().map(|k| k.as_ref()).collect();
    keys.push(dest);
    let mut g = cx.lock(&keys);
    let d = hll_bytes(&mut g, dest)?;
    let mut all = Vec::with_capacity(srcs.len());
    for k in srcs {
        if let Some(h) = hll_bytes(&mut g, k)? {
            all.push(h);
        }
    }
    let views: Vec<&[u8]> = all.iter().map(|h| h.as_slice()).collect();
    let merged = hll::merge(d.as_deref(), &views, sparse_max)?;
    hll_store(&mut g, dest, merged);
    Ok(Reply::Ok)
}

// ---- LCS ----

pub struct LcsOpts {
    pub len: bool,
    pub idx: bool,
    pub min_match_len: usize,
    pub with_match_len: bool,
}

pub fn lcs(cx: &mut Ctx, a: &[u8], b: &[u8], opts: &LcsOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[a, b]);
    let mut fetch = |k: &[u8]| -> Result<Vec<u8>, CmdError> {
        match g.get(k) {
            None => Ok(Vec::new()),
            Some(e) => match e.value.string_bytes() {
                Some(s) => Ok(s.to_vec()),
                None => Err(error::LCS_NOT_STRING),
            },
        }
    };
    let sa = fetch(a)?;
    let sb = fetch(b)?;
    drop(g);
    let limit = cx
        .eng
        .config
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    let r = crate::types::lcs::lcs_with_limit(&sa, &sb, opts.idx, opts.min_match_len, limit)?;
    if opts.idx {
        let matches = r
            .matches
            .iter()
            .map(|m| {
                let mut item = vec![
                    Reply::Array(vec![Reply::Int(m.a.0 as i64), Reply::Int(m.a.1 as i64)]),
                    Reply::Array(vec![Reply::Int(m.b.0 as i64), Reply::Int(m.b.1 as i64)]),
                ];
                if opts.with_match_len {
                    item.push(Reply::Int(m.len as i64));
                }
                Reply::Array(item)
            })
            .collect();
        return Ok(Reply::Map(vec![
            (Reply::bulk_str("matches"), Reply::Array(matches)),
            (Reply::bulk_str("len"), Reply::Int(r.len as i64)),
        ]));
    }
    if opts.len {
        return Ok(Reply::Int(r.len as i64));
    }
    Ok(Reply::Bulk(Bytes::from(r.lcs)))
}
