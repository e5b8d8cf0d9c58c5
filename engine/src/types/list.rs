//! Lists: a packed element list while small (`listpack`), a ring buffer of elements once the
//! packed size passes `list-max-listpack-size` (`quicklist`), and back to packed when it
//! shrinks below half of that, following Redis 7.2's conversion rules. Pushes and pops at
//! either end of a large list are O(1); LINDEX and LSET are O(1) too (Redis's are O(n)).

use std::collections::VecDeque;

use bytes::Bytes;

use super::pack;
use super::{bulk, check_write, drop_if_empty, read, BigData, Flat, FlatKind, Kind, Limits, Value};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::keyspace::{Guard, Ttl};
use crate::reply::Reply;

/// A large list. `lp` tracks the size Redis's listpack would have, which decides when the
/// list converts back to the packed form.
#[derive(Clone, PartialEq, Default)]
pub struct QuickList {
    items: VecDeque<Box<[u8]>>,
    content: usize,
    lp: usize,
}

impl std::fmt::Debug for QuickList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuickList({} elements)", self.items.len())
    }
}

impl QuickList {
    pub fn new() -> QuickList {
        QuickList {
            items: VecDeque::new(),
            content: 0,
            lp: pack::REDIS_LP_OVERHEAD,
        }
    }

    fn from_pack(buf: &[u8]) -> QuickList {
        let mut q = QuickList::new();
        for (_, e) in pack::iter(buf) {
            q.push(false, e);
        }
        q
    }

    fn to_pack(&self, access: u32) -> Flat {
        let a = access.to_le_bytes();
        let header = [(FlatKind::ListPack as u8) << 4, a[0], a[1], a[2]];
        let b = pack::build(header, self.items.len(), self.items.iter().map(|e| &**e));
        Flat(b.into_boxed_slice())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn account_add(&mut self, e: &[u8]) {
        self.content += super::boxed_bytes(e.len());
        self.lp += pack::redis_entry_size(e);
    }

    fn account_sub(&mut self, e: &[u8]) {
        self.content -= super::boxed_bytes(e.len());
        self.lp -= pack::redis_entry_size(e);
    }

    pub fn push(&mut self, left: bool, e: &[u8]) {
        self.account_add(e);
        if left {
            self.items.push_front(e.into());
        } else {
            self.items.push_back(e.into());
        }
    }

    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        let e = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }?;
        self.account_sub(&e);
        Some(e)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|e| &**e)
    }

    fn set(&mut self, i: usize, e: &[u8]) {
        let old = std::mem::replace(&mut self.items[i], e.into());
        self.account_sub(&old);
        self.account_add(e);
    }

    fn insert(&mut self, i: usize, e: &[u8]) {
        self.account_add(e);
        self.items.insert(i, e.into());
    }

    /// Keeps only `start..end`.
    fn keep(&mut self, start: usize, end: usize) {
        let tail: Vec<_> = self.items.drain(end.min(self.items.len())..).collect();
        let head: Vec<_> = self.items.drain(..start.min(self.items.len())).collect();
        for e in tail.iter().chain(head.iter()) {
            self.account_sub(e);
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|e| &**e)
    }

    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * 16 + self.content
    }
}

/// Redis's quicklistNodeLimit: the size and count limits of one node.
fn node_limit(fill: i64) -> (usize, usize) {
    const LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    if fill >= 0 {
        (usize::MAX, if fill == 0 { 1 } else { fill as usize })
    } else {
        let i = ((-fill - 1) as usize).min(LEVELS.len() - 1);
        (LEVELS[i], usize::MAX)
    }
}

/// Redis's quicklistNodeExceedsLimit.
fn exceeds(fill: i64, size: usize, count: usize) -> bool {
    let (sz, cnt) = node_limit(fill);
    if sz != usize::MAX {
        size > sz
    } else {
        size > 8192 || count > cnt
    }
}

/// Whether a large list is small enough to go back to the packed form (half the limits).
fn fits_packed_when_shrinking(fill: i64, q: &QuickList) -> bool {
    let (sz, cnt) = node_limit(fill);
    let sz = if sz == usize::MAX { sz } else { sz / 2 };
    let cnt = if cnt == usize::MAX { cnt } else { cnt / 2 };
    q.lp <= sz && q.len() <= cnt
}

pub fn empty() -> Value {
    Value::Flat(Flat::new_collection(FlatKind::ListPack))
}

pub fn len(v: &Value) -> usize {
    match v {
        Value::Flat(f) => pack::count(f.buf()),
        Value::Big(b) => match &b.data {
            BigData::List(q) => q.len(),
            _ => 0,
        },
    }
}

/// The elements from `start` on, in order.
fn iter_from(v: &Value, start: usize) -> Box<dyn Iterator<Item = &[u8]> + '_> {
    match v {
        Value::Flat(f) => Box::new(pack::iter(f.buf()).skip(start).map(|(_, e)| e)),
        Value::Big(b) => match &b.data {
            BigData::List(q) => Box::new(q.items.range(start.min(q.len())..).map(|e| &**e)),
            _ => Box::new(std::iter::empty()),
        },
    }
}

fn index(v: &Value, i: usize) -> Option<&[u8]> {
    match v {
        Value::Big(b) => match &b.data {
            BigData::List(q) => q.get(i),
            _ => None,
        },
        Value::Flat(_) => iter_from(v, i).next(),
    }
}

pub fn elements(v: &Value) -> Vec<Vec<u8>> {
    iter_from(v, 0).map(|e| e.to_vec()).collect()
}

/// Runs `f` on the list as a [`QuickList`], then settles the encoding: a packed list converts
/// to the large form when `add` (bytes, count) would take it past the node limit (checked
/// before the change, as Redis does); a large one converts back when it has shrunk to half.
fn with_list<R>(
    v: &mut Value,
    lim: &Limits,
    add: (usize, usize),
    f: impl FnOnce(&mut QuickList) -> R,
) -> R {
    match v {
        Value::Flat(fl) => {
            let buf = fl.buf();
            let mut q = QuickList::from_pack(buf);
            let grow = add.1 > 0 && exceeds(lim.list_size, q.lp + add.0, q.len() + add.1);
            let r = f(&mut q);
            let access = fl.access();
            if grow {
                *v = Value::big(BigData::List(q));
                v.set_access(access);
            } else {
                *v = Value::Flat(q.to_pack(access));
            }
            r
        }
        Value::Big(b) => {
            let access = b.access;
            let BigData::List(q) = &mut b.data else {
                unreachable!("a list")
            };
            let r = f(q);
            if add.1 == 0 && fits_packed_when_shrinking(lim.list_size, q) {
                let flat = q.to_pack(access);
                *v = Value::Flat(flat);
            }
            r
        }
    }
}

/// Fast path for pushes onto a large list: no decoding, no conversion.
fn push_all(v: &mut Value, lim: &Limits, left: bool, elems: &[&[u8]]) -> usize {
    if let Value::Big(b) = v {
        if let BigData::List(q) = &mut b.data {
            for e in elems {
                q.push(left, e);
            }
            return q.len();
        }
    }
    let bytes = elems.iter().map(|e| e.len()).sum();
    with_list(v, lim, (bytes, elems.len()), |q| {
        for e in elems {
            q.push(left, e);
        }
        q.len()
    })
}

/// Pops up to `n` elements from one end; a large list stays large unless it shrank enough.
fn pop_n(v: &mut Value, lim: &Limits, left: bool, n: usize) -> Vec<Box<[u8]>> {
    if let Value::Big(b) = v {
        if let BigData::List(q) = &mut b.data {
            let out: Vec<_> = (0..n).map_while(|_| q.pop(left)).collect();
            if fits_packed_when_shrinking(lim.list_size, q) {
                with_list(v, lim, (0, 0), |_| ());
            }
            return out;
        }
    }
    with_list(v, lim, (0, 0), |q| {
        (0..n).map_while(|_| q.pop(left)).collect()
    })
}

/// Redis's index normalization: negative counts from the end.
fn norm(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

fn read_list<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    read(g, key, Kind::List)
}

fn log_pop(g: &mut Guard<'_>, key: &[u8], left: bool, count: usize) {
    let db = g.db as u32;
    g.log(|| Effect::ListPop {
        db,
        key: key.to_vec(),
        left,
        count: count as u64,
    });
}

// ------------------------------------------------------------------ commands

/// LPUSH/RPUSH (and the X forms, which need the list to exist). The new length, 0 when an X
/// form found no list.
pub fn push(
    cx: &mut Ctx,
    key: &[u8],
    elems: &[Bytes],
    left: bool,
    only_existing: bool,
) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        if only_existing {
            return Ok(0);
        }
        g.set(key, empty(), Ttl::Clear);
    }
    let refs: Vec<&[u8]> = elems.iter().map(|e| &e[..]).collect();
    let n = g
        .modify(key, |v| push_all(v, &lim, left, &refs))
        .unwrap_or(0);
    let db = g.db as u32;
    g.log(|| Effect::ListPush {
        db,
        key: key.to_vec(),
        left,
        elems: elems.iter().map(|e| e.to_vec()).collect(),
    });
    Ok(n as i64)
}

/// Pops from a list the guard already holds: what LPOP, LMPOP and LMOVE share. None when the
/// key is missing (the caller has checked its type).
pub(crate) fn pop_locked(
    g: &mut Guard<'_>,
    key: &[u8],
    left: bool,
    count: usize,
    lim: &Limits,
) -> Option<Vec<Box<[u8]>>> {
    let out = pop_keep(g, key, left, count, lim)?;
    drop_if_empty(g, key);
    Some(out)
}

/// Pops and logs, leaving an emptied list in place (LMOVE onto the same key refills it, and
/// replay relies on the logged `Del` rather than deleting by itself).
fn pop_keep(
    g: &mut Guard<'_>,
    key: &[u8],
    left: bool,
    count: usize,
    lim: &Limits,
) -> Option<Vec<Box<[u8]>>> {
    g.peek(key)?;
    let out = g.modify(key, |v| pop_n(v, lim, left, count))?;
    log_pop(g, key, left, out.len());
    Some(out)
}

/// LPOP/RPOP. Without a count: one element or nil; with one: an array, or a nil array when the
/// key is missing.
pub fn pop(cx: &mut Ctx, key: &[u8], left: bool, count: Option<usize>) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    }
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let out = pop_locked(&mut g, key, left, count.unwrap_or(1), &lim).unwrap_or_default();
    Ok(match count {
        None => out.first().map_or(Reply::Nil, |e| bulk(e)),
        Some(_) => Reply::Array(out.iter().map(|e| bulk(e)).collect()),
    })
}

pub fn llen(cx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_list(&mut g, key)?.map_or(0, len) as i64)
}

pub fn lindex(cx: &mut Ctx, key: &[u8], i: i64) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_list(&mut g, key)? else {
        return Ok(Reply::Nil);
    };
    Ok(norm(i, len(v))
        .and_then(|i| index(v, i))
        .map_or(Reply::Nil, bulk))
}

pub fn lset(cx: &mut Ctx, key: &[u8], i: i64, elem: &[u8]) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        return Err(error::NO_SUCH_KEY);
    }
    let n = g.peek(key).map_or(0, |e| len(&e.value));
    let idx = norm(i, n).ok_or(error::INDEX_OUT_OF_RANGE)?;
    g.modify(key, |v| {
        with_list(v, &lim, (elem.len(), 1), |q| q.set(idx, elem));
        // A large element may have grown a packed list past its limit only after the
        // replacement; and a small one may let a large list shrink back.
        if let Value::Big(_) = v {
            with_list(v, &lim, (0, 0), |_| ());
        }
    });
    let db = g.db as u32;
    g.log(|| Effect::ListSet {
        db,
        key: key.to_vec(),
        index: idx as u64,
        elem: elem.to_vec(),
    });
    Ok(Reply::Ok)
}

/// Redis's range clamping for LRANGE and LTRIM: Some((start, end)) inclusive, or None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let l = len as i64;
    let mut s = if start < 0 {
        l.saturating_add(start)
    } else {
        start
    };
    let mut e = if end < 0 { l.saturating_add(end) } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= l {
        return None;
    }
    if e >= l {
        e = l - 1;
    }
    Some((s as usize, e as usize))
}

pub fn lrange(cx: &mut Ctx, key: &[u8], start: i64, end: i64) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_list(&mut g, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match clamp_range(start, end, len(v)) {
        None => Reply::Array(Vec::new()),
        Some((s, e)) => {
            let items: Vec<&[u8]> = iter_from(v, s).take(e - s + 1).collect();
            Reply::bulk_array(items.into_iter())
        }
    })
}

pub fn ltrim(cx: &mut Ctx, key: &[u8], start: i64, end: i64) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        return Ok(Reply::Ok);
    }
    g.modify(key, |v| {
        let n = len(v);
        with_list(v, &lim, (0, 0), |q| match clamp_range(start, end, n) {
            None => q.keep(0, 0),
            Some((s, e)) => q.keep(s, e + 1),
        })
    });
    let db = g.db as u32;
    g.log(|| Effect::ListTrim {
        db,
        key: key.to_vec(),
        start,
        end,
    });
    drop_if_empty(&mut g, key);
    Ok(Reply::Ok)
}

/// LREM: removes up to |count| matches from the head (count > 0), the tail (< 0) or all (0).
pub fn lrem(cx: &mut Ctx, key: &[u8], count: i64, elem: &[u8]) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        return Ok(0);
    }
    let removed = g
        .modify(key, |v| with_list(v, &lim, (0, 0), |q| rem(q, count, elem)))
        .unwrap_or(0);
    if removed > 0 {
        let db = g.db as u32;
        g.log(|| Effect::ListRem {
            db,
            key: key.to_vec(),
            count,
            elem: elem.to_vec(),
        });
        drop_if_empty(&mut g, key);
    }
    Ok(removed as i64)
}

/// LREM in one pass: the first |count| matches from the head (count > 0) or the tail (< 0),
/// or all of them (0).
fn rem(q: &mut QuickList, count: i64, elem: &[u8]) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    // From the tail: skip the matches that come before the last `limit` ones.
    let mut skip = if count < 0 {
        q.iter()
            .filter(|e| *e == elem)
            .count()
            .saturating_sub(limit)
    } else {
        0
    };
    let mut removed = 0;
    let mut freed = Vec::new();
    q.items.retain(|e| {
        if &**e != elem || removed >= limit {
            return true;
        }
        if skip > 0 {
            skip -= 1;
            return true;
        }
        removed += 1;
        freed.push(e.len());
        false
    });
    for len in freed {
        q.content -= super::boxed_bytes(len);
        q.lp -= pack::redis_entry_size(elem);
    }
    removed
}

/// LINSERT: the new length, -1 when the pivot is missing, 0 when the key is.
pub fn linsert(
    cx: &mut Ctx,
    key: &[u8],
    before: bool,
    pivot: &[u8],
    elem: &[u8],
) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::List)? {
        return Ok(0);
    }
    let found = g
        .peek(key)
        .and_then(|e| iter_from(&e.value, 0).position(|x| x == pivot));
    let Some(at) = found else {
        return Ok(-1);
    };
    let n = g
        .modify(key, |v| {
            with_list(v, &lim, (elem.len(), 1), |q| {
                q.insert(if before { at } else { at + 1 }, elem);
                q.len()
            })
        })
        .unwrap_or(0);
    let db = g.db as u32;
    g.log(|| Effect::ListInsert {
        db,
        key: key.to_vec(),
        before,
        pivot: pivot.to_vec(),
        elem: elem.to_vec(),
    });
    Ok(n as i64)
}

/// LPOS options.
#[derive(Debug, Clone, Copy)]
pub struct LposOpts {
    pub rank: i64,
    pub count: Option<usize>,
    pub maxlen: usize,
}

pub fn lpos(cx: &mut Ctx, key: &[u8], elem: &[u8], o: LposOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let none = || {
        if o.count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        }
    };
    let Some(v) = read_list(&mut g, key)? else {
        return Ok(none());
    };
    let n = len(v);
    let want = match o.count {
        Some(0) => usize::MAX,
        Some(c) => c,
        None => 1,
    };
    // Matches to skip before the first reported one; rank is never 0 here.
    let mut skip = o.rank.unsigned_abs() - 1;
    let maxlen = if o.maxlen == 0 { usize::MAX } else { o.maxlen };
    let mut found = Vec::new();
    let mut visit = |i: usize, e: &[u8]| {
        if e == elem {
            if skip > 0 {
                skip -= 1;
            } else {
                found.push(Reply::Int(i as i64));
            }
        }
        found.len() < want
    };
    if o.rank > 0 {
        for (i, e) in iter_from(v, 0).enumerate().take(maxlen) {
            if !visit(i, e) {
                break;
            }
        }
    } else {
        let rev: Box<dyn Iterator<Item = &[u8]>> = match v {
            Value::Big(b) => match &b.data {
                BigData::List(q) => Box::new(q.iter().rev()),
                _ => Box::new(std::iter::empty()),
            },
            Value::Flat(_) => Box::new(iter_from(v, 0).collect::<Vec<_>>().into_iter().rev()),
        };
        for (i, e) in rev.enumerate().map(|(j, e)| (n - 1 - j, e)).take(maxlen) {
            if !visit(i, e) {
                break;
            }
        }
    }
    Ok(match o.count {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::Nil),
    })
}

/// LMOVE / RPOPLPUSH: pops from `src`'s `from_left` end and pushes onto `dst`'s `to_left` end.
pub fn lmove(
    cx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[src, dst]);
    if !check_write(&mut g, src, Kind::List)? {
        return Ok(Reply::Nil);
    }
    check_write(&mut g, dst, Kind::List)?;
    let popped = g.modify(src, |v| pop_n(v, &lim, from_left, 1));
    let Some(e) = popped.and_then(|mut v| v.pop()) else {
        return Ok(Reply::Nil);
    };
    // Logged push first, as Redis reports the push before the pop (replaying a push and then
    // the pop of the same element yields the same lists).
    push_locked(&mut g, dst, to_left, &[&e], &lim);
    log_pop(&mut g, src, from_left, 1);
    // Onto the same key it is a rotation: the key, and its TTL, stay.
    if src != dst {
        drop_if_empty(&mut g, src);
    }
    Ok(bulk(&e))
}

/// Pushes onto a list the guard holds, creating it (the caller has checked its type).
pub(crate) fn push_locked(
    g: &mut Guard<'_>,
    key: &[u8],
    left: bool,
    elems: &[&[u8]],
    lim: &Limits,
) {
    if g.peek(key).is_none() {
        g.set(key, empty(), Ttl::Clear);
    }
    g.modify(key, |v| push_all(v, lim, left, elems));
    let db = g.db as u32;
    g.log(|| Effect::ListPush {
        db,
        key: key.to_vec(),
        left,
        elems: elems.iter().map(|e| e.to_vec()).collect(),
    });
}

/// LMPOP: pops up to `count` from the first non-empty list: [key, [elements]] or a nil array.
pub fn lmpop(cx: &mut Ctx, keys: &[Bytes], left: bool, count: usize) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    for k in &refs {
        if !check_write(&mut g, k, Kind::List)? {
            continue;
        }
        let out = pop_locked(&mut g, k, left, count, &lim).unwrap_or_default();
        return Ok(Reply::Array(vec![
            bulk(k),
            Reply::Array(out.iter().map(|e| bulk(e)).collect()),
        ]));
    }
    Ok(Reply::NilArray)
}

// ------------------------------------------------------------------ replay

pub(crate) fn apply(g: &mut Guard<'_>, e: &Effect, lim: &Limits) {
    let key = match e {
        Effect::ListPush { key, .. }
        | Effect::ListPop { key, .. }
        | Effect::ListSet { key, .. }
        | Effect::ListTrim { key, .. }
        | Effect::ListRem { key, .. }
        | Effect::ListInsert { key, .. } => key,
        _ => return,
    };
    if g.peek(key).is_some_and(|e| e.value.kind() != Kind::List) {
        return;
    }
    match e {
        Effect::ListPush { left, elems, .. } => {
            let refs: Vec<&[u8]> = elems.iter().map(|e| &e[..]).collect();
            push_locked(g, key, *left, &refs, lim);
        }
        Effect::ListPop { left, count, .. } => {
            pop_keep(g, key, *left, *count as usize, lim);
        }
        Effect::ListSet { index, elem, .. } => {
            g.modify(key, |v| {
                if (*index as usize) < len(v) {
                    with_list(v, lim, (elem.len(), 1), |q| q.set(*index as usize, elem));
                }
            });
        }
        Effect::ListTrim { start, end, .. } => {
            g.modify(key, |v| {
                let n = len(v);
                with_list(v, lim, (0, 0), |q| match clamp_range(*start, *end, n) {
                    None => q.keep(0, 0),
                    Some((s, e)) => q.keep(s, e + 1),
                })
            });
        }
        Effect::ListRem { count, elem, .. } => {
            g.modify(key, |v| with_list(v, lim, (0, 0), |q| rem(q, *count, elem)));
        }
        Effect::ListInsert {
            before,
            pivot,
            elem,
            ..
        } => {
            g.modify(key, |v| {
                let found = iter_from(v, 0).position(|x| x == &pivot[..]);
                if let Some(at) = found {
                    with_list(v, lim, (elem.len(), 1), |q| {
                        q.insert(if *before { at } else { at + 1 }, elem)
                    });
                }
            });
        }
        _ => {}
    }
    // An emptied list is deleted by the `Del` the writer logged after it.
}
