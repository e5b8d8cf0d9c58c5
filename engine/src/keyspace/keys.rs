//! Commands that work on keys whatever their type: DEL, EXISTS, TYPE, the EXPIRE family, TTL,
//! RENAME, COPY, MOVE, TOUCH, OBJECT.

use bytes::Bytes;

use crate::ctx::Ctx;
use crate::effect::{Effect, Effects};
use crate::error::{self, CmdError};
use crate::keyspace::Ttl;
use crate::reply::Reply;

/// Values with more elements than this are dropped on the background freeing thread (Redis's
/// LAZYFREE_THRESHOLD).
const LAZYFREE_THRESHOLD: usize = 64;

/// Drops a value, on the background freeing thread when it is large.
pub fn free_value(v: crate::types::Value) {
    use std::sync::OnceLock;
    static FREER: OnceLock<crossbeam::channel::Sender<crate::types::Value>> = OnceLock::new();
    if v.elements() <= LAZYFREE_THRESHOLD {
        return;
    }
    let tx = FREER.get_or_init(|| {
        let (tx, rx) = crossbeam::channel::unbounded::<crate::types::Value>();
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                for v in rx {
                    drop(v);
                }
            })
            .expect("spawn the lazy free thread");
        tx
    });
    let _ = tx.send(v);
}

fn refs(keys: &[Bytes]) -> Vec<&[u8]> {
    keys.iter().map(|k| k.as_ref()).collect()
}

/// DEL and UNLINK. A collection of more than 64 elements is freed on a background thread
/// (as Redis's UNLINK does, and DEL too here), so deleting a key with millions of elements does
/// not stall the clients whose commands wait on this thread or this shard's lock.
pub fn del(cx: &mut Ctx, keys: &[Bytes]) -> i64 {
    let keys = refs(keys);
    let mut g = cx.lock(&keys);
    let db = g.db as u32;
    let mut n = 0;
    for k in keys {
        if let Some(e) = g.remove(k) {
            free_value(e.value);
            g.log(|| Effect::Del {
                db,
                key: k.to_vec(),
            });
            n += 1;
        }
    }
    n
}

pub fn exists(cx: &mut Ctx, keys: &[Bytes]) -> i64 {
    let keys = refs(keys);
    let mut g = cx.lock(&keys);
    keys.iter().filter(|k| g.get_notouch(k).is_some()).count() as i64
}

pub fn touch(cx: &mut Ctx, keys: &[Bytes]) -> i64 {
    let keys = refs(keys);
    let mut g = cx.lock(&keys);
    keys.iter().filter(|k| g.get(k).is_some()).count() as i64
}

pub fn type_of(cx: &mut Ctx, key: &[u8]) -> Reply {
    let mut g = cx.lock(&[key]);
    Reply::Status(g.get_notouch(key).map_or("none", |e| e.value.type_name()))
}

/// EXPIRE's NX/XX/GT/LT options; each that is set must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireCond {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with the deadline already made absolute (unix ms).
pub fn expire(cx: &mut Ctx, key: &[u8], at: u64, cond: ExpireCond) -> i64 {
    let mut g = cx.lock(&[key]);
    let Some(e) = g.peek(key) else { return 0 };
    let cur = e.expire_at;
    // No expiry counts as an infinite one for GT and LT.
    let refused = match (cur != 0, cond) {
        (true, ExpireCond { nx: true, .. }) => true,
        (false, ExpireCond { xx: true, .. }) | (false, ExpireCond { gt: true, .. }) => true,
        (true, ExpireCond { gt: true, .. }) => at <= cur,
        (true, ExpireCond { lt: true, .. }) => at >= cur,
        _ => false,
    };
    if refused {
        return 0;
    }
    let db = g.db as u32;
    if at <= g.now {
        g.remove(key);
        g.log(|| Effect::Del {
            db,
            key: key.to_vec(),
        });
    } else {
        g.set_expire(key, at);
        g.log(|| Effect::Expire {
            db,
            key: key.to_vec(),
            at,
        });
    }
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlKind {
    /// TTL: remaining seconds, rounded.
    Secs,
    /// PTTL: remaining milliseconds.
    Millis,
    /// EXPIRETIME: absolute unix seconds.
    AtSecs,
    /// PEXPIRETIME: absolute unix milliseconds.
    AtMillis,
}

pub fn ttl(cx: &mut Ctx, key: &[u8], kind: TtlKind) -> i64 {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    let Some(e) = g.get_notouch(key) else {
        return -2;
    };
    if e.expire_at == 0 {
        return -1;
    }
    let left = e.expire_at.saturating_sub(now) as i64;
    match kind {
        TtlKind::Secs => (left + 500) / 1000,
        TtlKind::Millis => left,
        TtlKind::AtSecs => ((e.expire_at + 500) / 1000) as i64,
        TtlKind::AtMillis => e.expire_at as i64,
    }
}

pub fn persist(cx: &mut Ctx, key: &[u8]) -> i64 {
    let mut g = cx.lock(&[key]);
    match g.peek(key) {
        Some(e) if e.expire_at != 0 => {
            g.set_expire(key, 0);
            let db = g.db as u32;
            g.log(|| Effect::Persist {
                db,
                key: key.to_vec(),
            });
            1
        }
        _ => 0,
    }
}

/// RENAME and RENAMENX. Ok(false) when `nx` and the destination exists.
pub fn rename(cx: &mut Ctx, src: &[u8], dst: &[u8], nx: bool) -> Result<bool, CmdError> {
    let mut g = cx.lock(&[src, dst]);
    if !g.exists(src) {
        return Err(error::NO_SUCH_KEY);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && g.exists(dst) {
        return Ok(false);
    }
    let Some(e) = g.remove(src) else {
        return Err(error::NO_SUCH_KEY);
    };
    let ttl = if e.expire_at != 0 {
        Ttl::At(e.expire_at)
    } else {
        Ttl::Clear
    };
    g.set(dst, e.value, ttl);
    let db = g.db as u32;
    g.log(|| Effect::Rename {
        db,
        src: src.to_vec(),
        dst: dst.to_vec(),
    });
    Ok(true)
}

/// COPY within the current database. Cross-database copies go through [`copy_to_db`].
pub fn copy(cx: &mut Ctx, src: &[u8], dst: &[u8], replace: bool) -> Result<i64, CmdError> {
    if src == dst {
        return Err(error::SAME_OBJECT);
    }
    let mut g = cx.lock(&[src, dst]);
    let Some(e) = g.peek(src) else { return Ok(0) };
    // A clone keeps the encoding flags, so a raw string is copied as raw, as in Redis.
    let e = e.clone();
    if g.exists(dst) {
        if !replace {
            return Ok(0);
        }
        g.remove(dst);
    }
    let ttl = if e.expire_at != 0 {
        Ttl::At(e.expire_at)
    } else {
        Ttl::Clear
    };
    g.set(dst, e.value, ttl);
    let db = g.db as u32;
    g.log(|| Effect::Copy {
        src_db: db,
        src: src.to_vec(),
        dst_db: db,
        dst: dst.to_vec(),
        replace,
    });
    Ok(1)
}

/// COPY ... DB n and MOVE: run under the exclusive gate, since they lock two databases.
pub fn copy_to_db(
    cx: &mut Ctx,
    src: &[u8],
    dst_db: usize,
    dst: &[u8],
    replace: bool,
    remove_src: bool,
) -> Result<i64, CmdError> {
    if dst_db == cx.db && src == dst {
        return Err(error::SAME_OBJECT);
    }
    if dst_db == cx.db {
        return copy(cx, src, dst, replace);
    }
    let eng = cx.eng;
    let src_db = cx.db;
    let now = cx.effects.now;
    let mut g = cx.lock(&[src]);
    let Some(e) = g.peek(src) else { return Ok(0) };
    // A clone keeps the encoding flags, so a raw string is copied as raw, as in Redis.
    let e = e.clone();
    let mut scratch = Effects {
        list: Vec::new(),
        deferred: true,
        now,
        cmd: "",
        new_keys: false,
    };
    let mut d = eng.lock(dst_db, &[dst], &mut scratch);
    if d.exists(dst) {
        if !replace {
            return Ok(0);
        }
        d.remove(dst);
    }
    let ttl = if e.expire_at != 0 {
        Ttl::At(e.expire_at)
    } else {
        Ttl::Clear
    };
    d.set(dst, e.value, ttl);
    drop(d);
    // Lazy expiries seen in the destination are logged before the copy itself.
    for eff in scratch.list.drain(..) {
        g.log(|| eff);
    }
    if remove_src {
        g.remove(src);
        g.log(|| Effect::Move {
            db: src_db as u32,
            key: src.to_vec(),
            dst_db: dst_db as u32,
        });
    } else {
        g.log(|| Effect::Copy {
            src_db: src_db as u32,
            src: src.to_vec(),
            dst_db: dst_db as u32,
            dst: dst.to_vec(),
            replace,
        });
    }
    Ok(1)
}

pub enum ObjectField {
    Encoding,
    IdleTime,
    Freq,
    RefCount,
}

pub fn object(cx: &mut Ctx, key: &[u8], field: ObjectField) -> Result<Reply, CmdError> {
    let eng = cx.eng;
    let clock = eng.access_clock();
    let mut g = cx.lock(&[key]);
    // With a cold tier, frequency is tracked whatever the policy: the admission sketch's
    // estimate of recent accesses (0 to 16) answers when Redis's LFU counter does not exist.
    let sketch = match (&eng.tier, &field) {
        (Some(t), ObjectField::Freq) if !clock.lfu => Some(t.frequency(g.hash_of(key))),
        _ => None,
    };
    let Some(e) = g.get_notouch(key) else {
        return Ok(Reply::Nil);
    };
    if let Some(f) = sketch {
        return Ok(Reply::Int(f as i64));
    }
    Ok(match field {
        ObjectField::Encoding => Reply::Bulk(Bytes::from_static(e.value.encoding().as_bytes())),
        ObjectField::RefCount => Reply::Int(1),
        ObjectField::IdleTime => {
            if clock.lfu {
                return Err(error::IDLETIME_UNDER_LFU);
            }
            Reply::Int(clock.idle_secs(e.value.access()) as i64)
        }
        ObjectField::Freq => {
            if !clock.lfu {
                return Err(error::FREQ_WITHOUT_LFU);
            }
            Reply::Int(clock.lfu_decayed(e.value.access()) as i64)
        }
    })
}

/// MEMORY USAGE: the entry's accounted bytes.
pub fn memory_usage(cx: &mut Ctx, key: &[u8]) -> Reply {
    let mut g = cx.lock(&[key]);
    match g.get_notouch(key) {
        None => Reply::Nil,
        Some(e) => Reply::Int(crate::keyspace::entry_bytes(key.len(), e) as i64),
    }
}

/// Whether a watched key is logically expired now (EXEC aborts if it expired after WATCH).
pub fn is_expired(cx: &mut Ctx, key: &[u8]) -> bool {
    let now = cx.eng.now_ms();
    let shard = cx.eng.dbs[cx.db].shard_of(key);
    let s = cx.eng.dbs[cx.db].shards[shard].lock();
    match s.get(key) {
        Some(e) => e.is_expired(now),
        None => s
            .cold_stored(key)
            .is_some_and(|v| crate::tier::codec::is_expired(&v, now)),
    }
}
