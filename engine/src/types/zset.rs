//! Sorted sets: a packed member/score list ordered by score while small (`listpack`), a
//! member table plus an order-statistic skip list beyond (`skiplist`), so ranks and rank
//! ranges cost O(log n) as in Redis.

use std::cmp::Ordering;

use bytes::Bytes;
use rand::Rng;

use super::pack;
use super::skiplist::SkipList;
use super::{
    bulk, check_write, drop_if_empty, read, BigData, Flat, FlatKind, Kind, Limits, ScanOpts, Value,
};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::keyspace::dict::Dict;
use crate::keyspace::{Guard, Hasher, Ttl};
use crate::reply::Reply;

/// A sorted set's large form: member -> score, and the order.
pub struct SkipZSet {
    dict: Dict<f64, Hasher>,
    sl: SkipList,
    content: usize,
}

impl SkipZSet {
    pub fn new() -> SkipZSet {
        SkipZSet {
            dict: Dict::with_hasher(Hasher::default()),
            sl: SkipList::new(),
            content: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        self.dict.get(m).copied()
    }

    /// Sets a member's score, adding it if new.
    pub fn set(&mut self, m: &[u8], score: f64) {
        match self.dict.get_mut(m) {
            Some(s) => {
                let old = *s;
                *s = score;
                if old != score || old.is_sign_negative() != score.is_sign_negative() {
                    self.sl.update_score(old, m, score);
                }
            }
            None => {
                self.content += super::boxed_bytes(m.len());
                self.dict.insert(m.into(), score);
                self.sl.insert(score, m.into());
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.dict.remove(m) {
            Some((k, s)) => {
                self.content -= super::boxed_bytes(k.len());
                self.sl.remove(s, m);
                self.dict.shrink_if_needed();
                true
            }
            None => false,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.dict.overhead_bytes() + self.content + self.sl.heap_bytes()
    }
}

impl Default for SkipZSet {
    fn default() -> Self {
        SkipZSet::new()
    }
}

impl Clone for SkipZSet {
    fn clone(&self) -> Self {
        let mut z = SkipZSet::new();
        for (s, m) in self.sl.iter_from(0) {
            z.set(m, s);
        }
        z
    }
}

impl PartialEq for SkipZSet {
    fn eq(&self, o: &Self) -> bool {
        self.len() == o.len() && self.sl.iter_from(0).all(|(s, m)| o.score(m) == Some(s))
    }
}

impl std::fmt::Debug for SkipZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SkipZSet({} members)", self.len())
    }
}

fn cmp(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

fn score_of(b: &[u8]) -> f64 {
    f64::from_le_bytes(b.try_into().expect("8-byte score"))
}

// ------------------------------------------------------------------ an ordered view

/// Read access to either encoding by rank.
enum View<'a> {
    Flat(Vec<(&'a [u8], f64)>),
    Big(&'a SkipZSet),
}

impl<'a> View<'a> {
    fn of(v: &'a Value) -> View<'a> {
        match v {
            Value::Flat(f) => View::Flat(
                pack::pairs(f.buf())
                    .map(|(_, m, s)| (m, score_of(s)))
                    .collect(),
            ),
            Value::Big(b) => match &b.data {
                BigData::ZSet(z) => View::Big(z),
                _ => View::Flat(Vec::new()),
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            View::Flat(v) => v.len(),
            View::Big(z) => z.len(),
        }
    }

    fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            View::Flat(v) => v.partition_point(|(m, s)| before(*s, m)),
            View::Big(z) => z.sl.partition_point(before),
        }
    }

    /// Elements from rank `start` forward (or backward when `rev`).
    fn iter(&self, start: usize, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            View::Flat(v) => {
                if rev {
                    let end = (start + 1).min(v.len());
                    Box::new(v[..end].iter().rev().map(|(m, s)| (*m, *s)))
                } else {
                    Box::new(v.iter().skip(start).map(|(m, s)| (*m, *s)))
                }
            }
            View::Big(z) => {
                if rev {
                    Box::new(z.sl.iter_rev_from(start).map(|(s, m)| (m, s)))
                } else {
                    Box::new(z.sl.iter_from(start).map(|(s, m)| (m, s)))
                }
            }
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            View::Flat(v) => v.iter().find(|(x, _)| *x == m).map(|(_, s)| *s),
            View::Big(z) => z.score(m),
        }
    }

    fn rank(&self, m: &[u8]) -> Option<(usize, f64)> {
        match self {
            View::Flat(v) => v.iter().position(|(x, _)| *x == m).map(|i| (i, v[i].1)),
            View::Big(z) => {
                let s = z.score(m)?;
                z.sl.rank(s, m).map(|r| (r, s))
            }
        }
    }
}

// ------------------------------------------------------------------ both encodings

/// Redis's zsetTypeCreate: packed when the expected size and longest member fit.
pub fn create(size_hint: usize, max_len: usize, lim: &Limits) -> Value {
    if size_hint <= lim.zset_entries && max_len <= lim.zset_value {
        Value::Flat(Flat::new_collection(FlatKind::ZSetPack))
    } else {
        Value::big(BigData::ZSet(SkipZSet::new()))
    }
}

pub fn len(v: &Value) -> usize {
    match v {
        Value::Flat(f) => pack::count(f.buf()),
        Value::Big(b) => match &b.data {
            BigData::ZSet(z) => z.len(),
            _ => 0,
        },
    }
}

pub fn score(v: &Value, m: &[u8]) -> Option<f64> {
    View::of(v).score(m)
}

/// Members with scores, in order.
pub fn entries(v: &Value) -> Vec<(Vec<u8>, f64)> {
    let view = View::of(v);
    view.iter(0, false).map(|(m, s)| (m.to_vec(), s)).collect()
}

fn to_big(v: &mut Value) -> &mut SkipZSet {
    if let Value::Flat(f) = v {
        let mut z = SkipZSet::new();
        for (_, m, s) in pack::pairs(f.buf()) {
            z.set(m, score_of(s));
        }
        let access = f.access();
        *v = Value::big(BigData::ZSet(z));
        v.set_access(access);
    }
    match v {
        Value::Big(b) => match &mut b.data {
            BigData::ZSet(z) => z,
            _ => unreachable!("a zset"),
        },
        Value::Flat(_) => unreachable!("converted"),
    }
}

fn pack_remove(f: &mut Flat, m: &[u8]) -> bool {
    let Some(off) = pack::pairs(f.buf())
        .find(|(_, x, _)| *x == m)
        .map(|(o, _, _)| o)
    else {
        return false;
    };
    f.edit(|b| {
        pack::remove(b, off, 2);
        let n = pack::count(b) - 1;
        pack::set_count(b, n);
    });
    true
}

/// Sets a member's score (adding it if new), converting a pack that would grow past the
/// thresholds, as Redis's zsetAdd does.
pub fn set(v: &mut Value, m: &[u8], score: f64, lim: &Limits) {
    if let Value::Flat(f) = v {
        // A listpack stores the score as text, and Redis's -0 reads back as 0 there.
        let score = if score == 0.0 { 0.0 } else { score };
        let existed = pack_remove(f, m);
        if existed || (pack::count(f.buf()) < lim.zset_entries && m.len() <= lim.zset_value) {
            let at = pack::pairs(f.buf())
                .find(|(_, x, s)| cmp((score_of(s), x), (score, m)) == Ordering::Greater)
                .map(|(o, _, _)| o);
            f.edit(|b| {
                let at = at.unwrap_or(b.len());
                pack::insert(b, at, &[m, &score.to_le_bytes()]);
                let n = pack::count(b) + 1;
                pack::set_count(b, n);
            });
            return;
        }
    }
    to_big(v).set(m, score);
}

pub fn remove(v: &mut Value, m: &[u8]) -> bool {
    match v {
        Value::Flat(f) => pack_remove(f, m),
        Value::Big(_) => to_big(v).remove(m),
    }
}

/// Removes ranks `start..end` (exclusive), returning the removed members.
fn remove_ranks(v: &mut Value, start: usize, end: usize) -> Vec<Vec<u8>> {
    if start >= end {
        return Vec::new();
    }
    match v {
        Value::Flat(f) => {
            let ms: Vec<Vec<u8>> = pack::pairs(f.buf())
                .skip(start)
                .take(end - start)
                .map(|(_, m, _)| m.to_vec())
                .collect();
            let first = pack::pairs(f.buf()).nth(start).map(|(o, _, _)| o);
            if let Some(off) = first {
                let n = ms.len();
                f.edit(|b| {
                    pack::remove(b, off, 2 * n);
                    let c = pack::count(b) - n;
                    pack::set_count(b, c);
                });
            }
            ms
        }
        Value::Big(_) => {
            let z = to_big(v);
            let mut out = Vec::with_capacity(end - start);
            let mut gone = Vec::new();
            z.sl.remove_range(start, end - 1, |_, m| gone.push(m));
            for m in gone {
                if let Some((k, _)) = z.dict.remove(&m) {
                    z.content -= super::boxed_bytes(k.len());
                }
                out.push(m.into_vec());
            }
            z.dict.shrink_if_needed();
            out
        }
    }
}

/// Redis's zsetConvertToListpackIfNeeded for a freshly built result.
fn maybe_pack(v: &mut Value, lim: &Limits) {
    if let Value::Big(b) = v {
        if let BigData::ZSet(z) = &b.data {
            if z.len() <= lim.zset_entries
                && z.sl.iter_from(0).all(|(_, m)| m.len() <= lim.zset_value)
            {
                let mut out = Value::Flat(Flat::new_collection(FlatKind::ZSetPack));
                for (s, m) in z.sl.iter_from(0) {
                    set(&mut out, m, s, lim);
                }
                *v = out;
            }
        }
    }
}

// ------------------------------------------------------------------ ranges

/// A score bound: value and whether it is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub v: f64,
    pub ex: bool,
}

/// A lexicographic bound: `-`, `+`, `[x` or `(x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

pub fn parse_score_bound(b: &[u8]) -> Result<ScoreBound, CmdError> {
    let (ex, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    // Redis reads a bound with plain strtod: leading spaces pass, and nothing at all is 0.
    let v = super::strtod(rest).ok_or(error::MIN_MAX_NOT_FLOAT)?;
    Ok(ScoreBound { v, ex })
}

pub fn parse_lex_bound(b: &[u8]) -> Result<LexBound, CmdError> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if b.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(b[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Excl(b[1..].to_vec())),
        _ => Err(error::MIN_MAX_NOT_LEX),
    }
}

/// What a range selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// Ranks, Redis-normalized (negative from the end).
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// The ranks `[start, end)` a score or lex range covers.
fn bounds(view: &View, r: &Range) -> (usize, usize) {
    match r {
        Range::Rank(..) => unreachable!("rank ranges are normalized elsewhere"),
        Range::Score(min, max) => {
            let start = view.partition_point(|s, _| if min.ex { s <= min.v } else { s < min.v });
            let end = view.partition_point(|s, _| if max.ex { s < max.v } else { s <= max.v });
            (start, end.max(start))
        }
        Range::Lex(min, max) => {
            let start = view.partition_point(|_, m| match min {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Incl(x) => m < &x[..],
                LexBound::Excl(x) => m <= &x[..],
            });
            let end = view.partition_point(|_, m| match max {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Incl(x) => m <= &x[..],
                LexBound::Excl(x) => m < &x[..],
            });
            (start, end.max(start))
        }
    }
}

/// Redis's rank normalization: Some((start, end)) inclusive or None when empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
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

/// The selected elements, in reply order.
fn select<'a>(
    view: &'a View,
    r: &Range,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Vec<(&'a [u8], f64)> {
    let n = view.len();
    if let Range::Rank(a, b) = r {
        let Some((s, e)) = rank_range(*a, *b, n) else {
            return Vec::new();
        };
        let count = e - s + 1;
        return if rev {
            view.iter(n - 1 - s, true).take(count).collect()
        } else {
            view.iter(s, false).take(count).collect()
        };
    }
    let (start, end) = bounds(view, r);
    let (offset, count) = limit.unwrap_or((0, -1));
    if offset < 0 || start >= end {
        return Vec::new();
    }
    let avail = end - start;
    let offset = offset as usize;
    if offset >= avail {
        return Vec::new();
    }
    let take = if count < 0 {
        avail - offset
    } else {
        (count as usize).min(avail - offset)
    };
    if rev {
        view.iter(end - 1 - offset, true).take(take).collect()
    } else {
        view.iter(start + offset, false).take(take).collect()
    }
}

fn with_scores(items: &[(&[u8], f64)], withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .iter()
                .map(|(m, s)| (bulk(m), Reply::Double(*s)))
                .collect(),
        )
    } else {
        Reply::bulk_array(items.iter().map(|(m, _)| *m))
    }
}

// ------------------------------------------------------------------ logging

fn read_zset<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    read(g, key, Kind::ZSet)
}

fn log_add(g: &mut Guard<'_>, key: &[u8], pairs: Vec<(Vec<u8>, f64)>) {
    if pairs.is_empty() {
        return;
    }
    let db = g.db as u32;
    g.log(|| Effect::ZAdd {
        db,
        key: key.to_vec(),
        pairs,
    });
}

fn log_rem(g: &mut Guard<'_>, key: &[u8], members: Vec<Vec<u8>>) {
    if members.is_empty() {
        return;
    }
    let db = g.db as u32;
    g.log(|| Effect::ZRem {
        db,
        key: key.to_vec(),
        members,
    });
}

// ------------------------------------------------------------------ commands

/// ZADD flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// ZADD (and ZINCRBY, as ZADD INCR). `pairs` holds parsed scores and members.
pub fn zadd(
    cx: &mut Ctx,
    key: &[u8],
    pairs: &[(f64, Bytes)],
    f: AddFlags,
) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    let nil = || if f.incr { Reply::Nil } else { Reply::Int(0) };
    if !check_write(&mut g, key, Kind::ZSet)? {
        if f.xx {
            return Ok(nil());
        }
        let maxlen = pairs.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
        g.set(key, create(pairs.len(), maxlen, &lim), Ttl::Clear);
    } else if pairs.len() > lim.zset_entries {
        // Redis 7.2's zsetTypeMaybeConvert: more pairs than a listpack may hold converts first.
        g.modify(key, |v| {
            to_big(v);
        });
    }
    let mut added = 0;
    let mut updated = 0;
    let mut logged = Vec::new();
    let mut incr_result = None;
    let mut nan = false;
    g.modify(key, |v| {
        for (sc, m) in pairs {
            let cur = score(v, m);
            let new = match cur {
                Some(c) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr { c + sc } else { *sc };
                    if new.is_nan() {
                        nan = true;
                        return;
                    }
                    if (f.gt && new <= c) || (f.lt && new >= c) {
                        continue;
                    }
                    if new != c {
                        set(v, m, new, &lim);
                        updated += 1;
                        logged.push((m.to_vec(), new));
                    }
                    new
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    set(v, m, *sc, &lim);
                    added += 1;
                    logged.push((m.to_vec(), *sc));
                    *sc
                }
            };
            incr_result = Some(new);
        }
    });
    log_add(&mut g, key, logged);
    drop_if_empty(&mut g, key);
    if nan {
        return Err(error::SCORE_NAN);
    }
    Ok(if f.incr {
        incr_result.map_or(Reply::Nil, Reply::Double)
    } else {
        Reply::Int(if f.ch { added + updated } else { added })
    })
}

pub fn zrem(cx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::ZSet)? {
        return Ok(0);
    }
    let mut removed = Vec::new();
    g.modify(key, |v| {
        for m in members {
            if remove(v, m) {
                removed.push(m.to_vec());
            }
        }
    });
    let n = removed.len() as i64;
    log_rem(&mut g, key, removed);
    drop_if_empty(&mut g, key);
    Ok(n)
}

pub fn zcard(cx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_zset(&mut g, key)?.map_or(0, len) as i64)
}

pub fn zscore(cx: &mut Ctx, key: &[u8], m: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_zset(&mut g, key)?
        .and_then(|v| score(v, m))
        .map_or(Reply::Nil, Reply::Double))
}

pub fn zmscore(cx: &mut Ctx, key: &[u8], ms: &[Bytes]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_zset(&mut g, key)?;
    let view = v.map(View::of);
    Ok(Reply::Array(
        ms.iter()
            .map(|m| {
                view.as_ref()
                    .and_then(|w| w.score(m))
                    .map_or(Reply::Nil, Reply::Double)
            })
            .collect(),
    ))
}

/// ZRANK/ZREVRANK, with WITHSCORE (Redis 7.2) a [rank, score] pair.
pub fn zrank(
    cx: &mut Ctx,
    key: &[u8],
    m: &[u8],
    rev: bool,
    withscore: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let nil = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let Some(v) = read_zset(&mut g, key)? else {
        return Ok(nil);
    };
    let view = View::of(v);
    let Some((r, s)) = view.rank(m) else {
        return Ok(nil);
    };
    let r = if rev { view.len() - 1 - r } else { r } as i64;
    Ok(if withscore {
        Reply::Array(vec![Reply::Int(r), Reply::Double(s)])
    } else {
        Reply::Int(r)
    })
}

/// ZCOUNT and ZLEXCOUNT.
pub fn zcount(cx: &mut Ctx, key: &[u8], r: &Range) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_zset(&mut g, key)? else {
        return Ok(0);
    };
    let (s, e) = bounds(&View::of(v), r);
    Ok((e - s) as i64)
}

/// ZRANGE in all its forms (and the legacy ZRANGEBYSCORE & co.).
pub fn zrange(
    cx: &mut Ctx,
    key: &[u8],
    r: &Range,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_zset(&mut g, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let view = View::of(v);
    Ok(with_scores(&select(&view, r, rev, limit), withscores))
}

/// ZRANGESTORE: the stored result's size.
pub fn zrangestore(
    cx: &mut Ctx,
    dst: &[u8],
    src: &[u8],
    r: &Range,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[src, dst]);
    let items: Vec<(Vec<u8>, f64)> = match read_zset(&mut g, src)? {
        None => Vec::new(),
        Some(v) => {
            let view = View::of(v);
            select(&view, r, rev, limit)
                .into_iter()
                .map(|(m, s)| (m.to_vec(), s))
                .collect()
        }
    };
    Ok(store(&mut g, dst, items, &lim) as i64)
}

/// Replaces `dst` with a sorted set of `items` (deleting it when empty), logging both steps.
fn store(g: &mut Guard<'_>, dst: &[u8], items: Vec<(Vec<u8>, f64)>, lim: &Limits) -> usize {
    let db = g.db as u32;
    let existed = g.remove(dst).is_some();
    if existed || !items.is_empty() {
        g.log(|| Effect::Del {
            db,
            key: dst.to_vec(),
        });
    }
    if items.is_empty() {
        return 0;
    }
    let maxlen = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut v = create(items.len(), maxlen, lim);
    for (m, s) in &items {
        set(&mut v, m, *s, lim);
    }
    maybe_pack(&mut v, lim);
    let n = len(&v);
    g.set(dst, v, Ttl::Clear);
    log_add(g, dst, items);
    n
}

/// ZREMRANGEBYRANK/SCORE/LEX: how many were removed.
pub fn zremrange(cx: &mut Ctx, key: &[u8], r: &Range) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::ZSet)? {
        return Ok(0);
    }
    let removed = g
        .modify(key, |v| {
            let (s, e) = match r {
                Range::Rank(a, b) => match rank_range(*a, *b, len(v)) {
                    None => return Vec::new(),
                    Some((s, e)) => (s, e + 1),
                },
                _ => bounds(&View::of(v), r),
            };
            remove_ranks(v, s, e)
        })
        .unwrap_or_default();
    let n = removed.len() as i64;
    log_rem(&mut g, key, removed);
    drop_if_empty(&mut g, key);
    Ok(n)
}

/// Pops up to `count` lowest (or highest) from a sorted set the guard holds.
pub(crate) fn pop_locked(
    g: &mut Guard<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Vec<u8>, f64)> {
    let items: Vec<(Vec<u8>, f64)> = match g.peek(key) {
        None => return Vec::new(),
        Some(e) => {
            let view = View::of(&e.value);
            let n = view.len();
            if n == 0 {
                return Vec::new();
            }
            let it = if max {
                view.iter(n - 1, true)
            } else {
                view.iter(0, false)
            };
            it.take(count).map(|(m, s)| (m.to_vec(), s)).collect()
        }
    };
    g.modify(key, |v| {
        for (m, _) in &items {
            remove(v, m);
        }
    });
    log_rem(g, key, items.iter().map(|(m, _)| m.clone()).collect());
    drop_if_empty(g, key);
    items
}

/// ZPOPMIN/ZPOPMAX. Without a count a flat [member, score]; with one, pairs.
pub fn zpop(cx: &mut Ctx, key: &[u8], max: bool, count: Option<usize>) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::ZSet)? {
        return Ok(Reply::Array(Vec::new()));
    }
    let items = pop_locked(&mut g, key, max, count.unwrap_or(1));
    Ok(match count {
        None => Reply::Array(
            items
                .iter()
                .flat_map(|(m, s)| [bulk(m), Reply::Double(*s)])
                .collect(),
        ),
        Some(_) => Reply::Pairs(
            items
                .iter()
                .map(|(m, s)| (bulk(m), Reply::Double(*s)))
                .collect(),
        ),
    })
}

/// ZMPOP: [key, [[member, score], ...]] from the first non-empty sorted set, or a nil array.
pub fn zmpop(cx: &mut Ctx, keys: &[Bytes], max: bool, count: usize) -> Result<Reply, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    for k in &refs {
        if !check_write(&mut g, k, Kind::ZSet)? {
            continue;
        }
        let items = pop_locked(&mut g, k, max, count);
        return Ok(Reply::Array(vec![
            bulk(k),
            Reply::Array(
                items
                    .iter()
                    .map(|(m, s)| Reply::Array(vec![bulk(m), Reply::Double(*s)]))
                    .collect(),
            ),
        ]));
    }
    Ok(Reply::NilArray)
}

pub fn zrandmember(
    cx: &mut Ctx,
    key: &[u8],
    count: Option<i64>,
    withscores: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_zset(&mut g, key)?;
    let Some(count) = count else {
        return Ok(match v {
            None => Reply::Nil,
            Some(v) => sample(v, 1).first().map_or(Reply::Nil, |(m, _)| bulk(m)),
        });
    };
    let Some(v) = v else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = sample(v, count);
    let items: Vec<(&[u8], f64)> = picks.iter().map(|(m, s)| (&m[..], *s)).collect();
    Ok(with_scores(&items, withscores))
}

/// Random members with their scores (see [`super::sample`]).
fn sample(v: &Value, count: i64) -> Vec<(Vec<u8>, f64)> {
    let mut rng = super::rng();
    let table = match v {
        Value::Big(b) => match &b.data {
            BigData::ZSet(z) => Some(z),
            _ => None,
        },
        Value::Flat(_) => None,
    };
    let mut one = table.map(|z| {
        move || {
            z.dict
                .random_entry(&mut || rng.gen())
                .map(|(k, s)| (k.to_vec(), *s))
        }
    });
    super::sample(
        len(v),
        count,
        one.as_mut()
            .map(|f| f as &mut dyn FnMut() -> Option<(Vec<u8>, f64)>),
        |p: &(Vec<u8>, f64)| &p.0[..],
        || entries(v),
    )
}

pub fn zscan(cx: &mut Ctx, key: &[u8], o: &ScanOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let mut items = Vec::new();
    let Some(v) = read_zset(&mut g, key)? else {
        return Ok(super::scan_reply(0, items));
    };
    let mut push = |m: &[u8], s: f64| {
        if o.matches(m) {
            items.push(bulk(m));
            items.push(Reply::Bulk(Bytes::from(crate::number::format_double(s))));
            1
        } else {
            0
        }
    };
    let next = match v {
        Value::Flat(f) => {
            for (_, m, s) in pack::pairs(f.buf()) {
                push(m, score_of(s));
            }
            0
        }
        Value::Big(b) => match &b.data {
            BigData::ZSet(z) => super::scan_dict(&z.dict, o, |m, s| push(m, *s)),
            _ => 0,
        },
    };
    Ok(super::scan_reply(next, items))
}

/// ZUNION/ZINTER/ZDIFF aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZOp {
    Union,
    Inter,
    Diff,
}

/// An input of ZUNION & co.: a sorted set or a plain set (every score 1).
/// Aggregates two scores; a NaN sum (inf + -inf) counts as 0, as in Redis.
fn combine(agg: Aggregate, a: f64, b: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let s = a + b;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

/// An input of ZUNION & co.: a sorted set, or a plain set whose every score is 1.
enum Input<'a> {
    Z(View<'a>),
    S(&'a Value),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Z(v) => v.len(),
            Input::S(v) => super::set::len(v),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Input::Z(v) => v.iter(0, false).for_each(|(m, s)| f(m, s)),
            Input::S(v) => super::set::for_each(v, |m| f(m, 1.0)),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Z(v) => v.score(m),
            Input::S(v) => super::set::contains(v, m).then_some(1.0),
        }
    }
}

/// The operation's result, sorted by score then member. Inputs are borrowed, not copied; a
/// missing key is an empty input. As Redis does, union and intersection visit the inputs
/// from the smallest up (which decides the order floating-point sums are taken in), and an
/// intersection stops once it has `limit` members (0 = no limit).
fn zop_compute(
    g: &mut Guard<'_>,
    keys: &[&[u8]],
    weights: &[f64],
    agg: Aggregate,
    op: ZOp,
    limit: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    for k in keys {
        if let Some(e) = g.peek(k) {
            if !matches!(e.value.kind(), Kind::ZSet | Kind::Set) {
                return Err(error::WRONGTYPE);
            }
        }
    }
    let entries_found = g.get_many(keys);
    let mut inputs: Vec<(Option<Input>, f64)> = entries_found
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let w = weights.get(i).copied().unwrap_or(1.0);
            let inp = e.map(|e| match e.value.kind() {
                Kind::ZSet => Input::Z(View::of(&e.value)),
                _ => Input::S(&e.value),
            });
            (inp, w)
        })
        .collect();
    if op != ZOp::Diff {
        inputs.sort_by_key(|(i, _)| i.as_ref().map_or(0, |i| i.len()));
    }
    let weighted = |w: f64, s: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        ZOp::Union => {
            let mut acc: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
            for (inp, w) in &inputs {
                if let Some(inp) = inp {
                    inp.for_each(|m, s| {
                        let s = weighted(*w, s);
                        match acc.get_mut(m) {
                            Some(a) => *a = combine(agg, *a, s),
                            None => {
                                acc.insert(m.to_vec(), s);
                            }
                        }
                    });
                }
            }
            out.extend(acc);
        }
        ZOp::Inter => {
            if inputs.iter().any(|(i, _)| i.is_none()) {
                return Ok(Vec::new());
            }
            let (first, rest) = inputs.split_first().expect("at least one key");
            let (Some(first), w0) = first else {
                return Ok(Vec::new());
            };
            let mut done = false;
            first.for_each(|m, s| {
                if done {
                    return;
                }
                let mut total = weighted(*w0, s);
                for (inp, w) in rest {
                    match inp.as_ref().and_then(|i| i.score(m)) {
                        Some(s2) => total = combine(agg, total, weighted(*w, s2)),
                        None => return,
                    }
                }
                out.push((m.to_vec(), total));
                done = limit > 0 && out.len() >= limit;
            });
        }
        ZOp::Diff => {
            let Some((Some(first), _)) = inputs.first() else {
                return Ok(Vec::new());
            };
            first.for_each(|m, s| {
                if !inputs[1..]
                    .iter()
                    .any(|(i, _)| i.as_ref().is_some_and(|i| i.score(m).is_some()))
                {
                    out.push((m.to_vec(), s));
                }
            });
        }
    }
    out.sort_by(|a, b| cmp((a.1, &a.0), (b.1, &b.0)));
    Ok(out)
}

pub fn zop(
    cx: &mut Ctx,
    keys: &[Bytes],
    weights: &[f64],
    agg: Aggregate,
    op: ZOp,
    withscores: bool,
) -> Result<Reply, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    let out = zop_compute(&mut g, &refs, weights, agg, op, 0)?;
    let items: Vec<(&[u8], f64)> = out.iter().map(|(m, s)| (&m[..], *s)).collect();
    Ok(with_scores(&items, withscores))
}

pub fn zop_store(
    cx: &mut Ctx,
    dst: &[u8],
    keys: &[Bytes],
    weights: &[f64],
    agg: Aggregate,
    op: ZOp,
) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    refs.push(dst);
    let mut g = cx.lock(&refs);
    refs.pop();
    let out = zop_compute(&mut g, &refs, weights, agg, op, 0)?;
    Ok(store(&mut g, dst, out, &lim) as i64)
}

/// ZINTERCARD: the intersection's size, stopping at `limit` (0 = none).
pub fn zintercard(cx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<i64, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    let out = zop_compute(&mut g, &refs, &[], Aggregate::Sum, ZOp::Inter, limit)?;
    Ok(out.len() as i64)
}

// ------------------------------------------------------------------ replay

pub(crate) fn apply_add(g: &mut Guard<'_>, key: &[u8], pairs: &[(Vec<u8>, f64)], lim: &Limits) {
    match g.peek(key) {
        Some(e) if e.value.kind() != Kind::ZSet => return,
        Some(_) => {}
        None => {
            let maxlen = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            g.set(key, create(pairs.len(), maxlen, lim), Ttl::Clear);
        }
    }
    g.modify(key, |v| {
        for (m, s) in pairs {
            set(v, m, *s, lim);
        }
    });
}

pub(crate) fn apply_rem(g: &mut Guard<'_>, key: &[u8], members: &[Vec<u8>]) {
    if g.peek(key).is_some_and(|e| e.value.kind() != Kind::ZSet) {
        return;
    }
    g.modify(key, |v| {
        for m in members {
            remove(v, m);
        }
    });
    drop_if_empty(g, key);
}
