//! Sets: sorted 64-bit integers while every member is one (`intset`), a packed member list
//! while small (`listpack`), a chained table beyond (`hashtable`), with Redis 7.2's
//! conversion rules, so OBJECT ENCODING and the order of small replies match.

use bytes::Bytes;
use rand::Rng;

use super::pack;
use super::{
    bulk, check_write, drop_if_empty, read, BigData, Flat, FlatKind, Kind, Limits, ScanOpts, Value,
    HEADER,
};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::keyspace::dict::Dict;
use crate::keyspace::{Guard, Hasher, Ttl};
use crate::number;
use crate::reply::Reply;

/// A set's table form.
pub struct SetTable {
    map: Dict<(), Hasher>,
    content: usize,
}

impl SetTable {
    pub fn new() -> SetTable {
        SetTable {
            map: Dict::with_hasher(Hasher::default()),
            content: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.map.contains_key(m)
    }

    pub fn insert(&mut self, m: &[u8]) -> bool {
        if self.map.contains_key(m) {
            return false;
        }
        self.content += super::boxed_bytes(m.len());
        self.map.insert(m.into(), ());
        true
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.map.remove(m) {
            Some((k, _)) => {
                self.content -= super::boxed_bytes(k.len());
                self.map.shrink_if_needed();
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.map.iter().map(|(k, _)| k)
    }

    pub fn heap_bytes(&self) -> usize {
        self.map.overhead_bytes() + self.content
    }
}

impl Default for SetTable {
    fn default() -> Self {
        SetTable::new()
    }
}

impl Clone for SetTable {
    fn clone(&self) -> Self {
        let mut s = SetTable::new();
        for m in self.iter() {
            s.insert(m);
        }
        s
    }
}

impl PartialEq for SetTable {
    fn eq(&self, o: &Self) -> bool {
        self.len() == o.len() && self.iter().all(|m| o.contains(m))
    }
}

impl std::fmt::Debug for SetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetTable({} members)", self.len())
    }
}

// ------------------------------------------------------------------ intset helpers

fn ints(buf: &[u8]) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
    buf[HEADER..]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
}

fn int_at(buf: &[u8], i: usize) -> i64 {
    let o = HEADER + i * 8;
    i64::from_le_bytes(buf[o..o + 8].try_into().expect("8 bytes"))
}

fn int_search(buf: &[u8], x: i64) -> Result<usize, usize> {
    let n = (buf.len() - HEADER) / 8;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match int_at(buf, mid).cmp(&x) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

/// An intset member: a canonical decimal i64.
fn as_int(m: &[u8]) -> Option<i64> {
    if m.len() > 20 {
        return None;
    }
    number::parse_i64(m)
}

fn digits(i: i64) -> usize {
    itoa::Buffer::new().format(i).len()
}

// ------------------------------------------------------------------ both encodings

/// Redis's setTypeCreate: the encoding a new set starts in, from its first member and the
/// number of members about to be added.
pub fn create(first: &[u8], size_hint: usize, lim: &Limits) -> Value {
    if as_int(first).is_some() && size_hint <= lim.set_intset_entries {
        Value::Flat(Flat::new_collection(FlatKind::IntSet))
    } else if size_hint <= lim.set_entries {
        Value::Flat(Flat::new_collection(FlatKind::SetPack))
    } else {
        Value::big(BigData::Set(SetTable::new()))
    }
}

/// An empty set in the intset encoding (how Redis starts a set-algebra result).
pub fn empty_intset() -> Value {
    Value::Flat(Flat::new_collection(FlatKind::IntSet))
}

pub fn len(v: &Value) -> usize {
    match v {
        Value::Flat(f) if f.kind() == FlatKind::IntSet => f.content().len() / 8,
        Value::Flat(f) => pack::count(f.buf()),
        Value::Big(b) => match &b.data {
            BigData::Set(s) => s.len(),
            _ => 0,
        },
    }
}

pub fn contains(v: &Value, m: &[u8]) -> bool {
    match v {
        Value::Flat(f) if f.kind() == FlatKind::IntSet => {
            as_int(m).is_some_and(|x| int_search(f.buf(), x).is_ok())
        }
        Value::Flat(f) => pack::iter(f.buf()).any(|(_, e)| e == m),
        Value::Big(b) => match &b.data {
            BigData::Set(s) => s.contains(m),
            _ => false,
        },
    }
}

/// Calls `f` with each member, in the encoding's order (intsets ascending).
pub fn for_each(v: &Value, mut f: impl FnMut(&[u8])) {
    match v {
        Value::Flat(fl) if fl.kind() == FlatKind::IntSet => {
            let mut b = itoa::Buffer::new();
            for x in ints(fl.buf()) {
                f(b.format(x).as_bytes());
            }
        }
        Value::Flat(fl) => pack::iter(fl.buf()).for_each(|(_, e)| f(e)),
        Value::Big(b) => {
            if let BigData::Set(s) = &b.data {
                s.iter().for_each(f)
            }
        }
    }
}

pub fn members(v: &Value) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(len(v));
    for_each(v, |m| out.push(m.to_vec()));
    out
}

fn to_table(v: &mut Value) {
    if let Value::Flat(f) = v {
        let mut s = SetTable::new();
        let access = f.access();
        for_each(v, |m| {
            s.insert(m);
        });
        *v = Value::big(BigData::Set(s));
        v.set_access(access);
    }
}

fn intset_to_pack(v: &mut Value) {
    let Value::Flat(f) = v else { return };
    let mut h = [0u8; HEADER];
    h.copy_from_slice(&f.buf()[..HEADER]);
    h[0] = (FlatKind::SetPack as u8) << 4;
    let n = len(v);
    let mut b = itoa::Buffer::new();
    let strs: Vec<Vec<u8>> = match v {
        Value::Flat(f) => ints(f.buf())
            .map(|x| b.format(x).as_bytes().to_vec())
            .collect(),
        Value::Big(_) => Vec::new(),
    };
    *v = Value::Flat(Flat(
        pack::build(h, n, strs.iter().map(|s| &s[..])).into_boxed_slice(),
    ));
}

/// Redis's setTypeMaybeConvert: before adding `size_hint` members, a small encoding that
/// could not hold them becomes a table.
pub fn maybe_convert(v: &mut Value, size_hint: usize, lim: &Limits) {
    if let Value::Flat(f) = v {
        let too_many = match f.kind() {
            FlatKind::IntSet => size_hint > lim.set_intset_entries,
            _ => size_hint > lim.set_entries,
        };
        if too_many {
            to_table(v);
        }
    }
}

/// Adds a member; true when it is new. Follows Redis's setTypeAdd conversions.
pub fn add(v: &mut Value, m: &[u8], lim: &Limits) -> bool {
    match v {
        Value::Big(b) => match &mut b.data {
            BigData::Set(s) => s.insert(m),
            _ => false,
        },
        Value::Flat(f) if f.kind() == FlatKind::IntSet => {
            if let Some(x) = as_int(m) {
                let Err(at) = int_search(f.buf(), x) else {
                    return false;
                };
                f.edit(|b| {
                    let o = HEADER + at * 8;
                    b.splice(o..o, x.to_le_bytes());
                });
                if len(v) > lim.set_intset_entries.min(1 << 30) {
                    to_table(v);
                }
                return true;
            }
            let n = f.content().len() / 8;
            let maxlen = ints(f.buf())
                .next()
                .into_iter()
                .chain(ints(f.buf()).next_back())
                .map(digits)
                .max()
                .unwrap_or(0);
            if n < lim.set_entries && m.len() <= lim.set_value && maxlen <= lim.set_value {
                intset_to_pack(v);
            } else {
                to_table(v);
            }
            add(v, m, lim)
        }
        Value::Flat(f) => {
            if pack::iter(f.buf()).any(|(_, e)| e == m) {
                return false;
            }
            if pack::count(f.buf()) < lim.set_entries && m.len() <= lim.set_value {
                f.edit(|b| {
                    let end = b.len();
                    pack::insert(b, end, &[m]);
                    let n = pack::count(b) + 1;
                    pack::set_count(b, n);
                });
                true
            } else {
                to_table(v);
                add(v, m, lim)
            }
        }
    }
}

pub fn remove(v: &mut Value, m: &[u8]) -> bool {
    match v {
        Value::Big(b) => match &mut b.data {
            BigData::Set(s) => s.remove(m),
            _ => false,
        },
        Value::Flat(f) if f.kind() == FlatKind::IntSet => {
            let Some(Ok(at)) = as_int(m).map(|x| int_search(f.buf(), x)) else {
                return false;
            };
            f.edit(|b| {
                let o = HEADER + at * 8;
                b.drain(o..o + 8);
            });
            true
        }
        Value::Flat(f) => {
            let Some(off) = pack::iter(f.buf()).find(|(_, e)| *e == m).map(|(o, _)| o) else {
                return false;
            };
            f.edit(|b| {
                pack::remove(b, off, 1);
                let n = pack::count(b) - 1;
                pack::set_count(b, n);
            });
            true
        }
    }
}

/// Members for SPOP and SRANDMEMBER with a count (see [`super::sample`]).
fn sample_members(v: &Value, count: i64) -> Vec<Vec<u8>> {
    let mut rng = super::rng();
    let mut draw = |s: &SetTable| {
        s.map
            .random_entry(&mut || rng.gen())
            .map(|(k, _)| k.to_vec())
    };
    let table = match v {
        Value::Big(b) => match &b.data {
            BigData::Set(s) => Some(s),
            _ => None,
        },
        Value::Flat(_) => None,
    };
    let mut one = table.map(|s| move || draw(s));
    super::sample(
        len(v),
        count,
        one.as_mut()
            .map(|f| f as &mut dyn FnMut() -> Option<Vec<u8>>),
        |m: &Vec<u8>| &m[..],
        || members(v),
    )
}

/// A uniformly random member.
fn random_member(v: &Value) -> Option<Vec<u8>> {
    let n = len(v);
    if n == 0 {
        return None;
    }
    match v {
        Value::Big(b) => match &b.data {
            BigData::Set(s) => {
                let mut rng = super::rng();
                s.map
                    .random_entry(&mut || rng.gen())
                    .map(|(k, _)| k.to_vec())
            }
            _ => None,
        },
        Value::Flat(_) => {
            let i = super::rng().gen_range(0..n);
            let mut out = None;
            let mut j = 0;
            for_each(v, |m| {
                if j == i {
                    out = Some(m.to_vec());
                }
                j += 1;
            });
            out
        }
    }
}

// ------------------------------------------------------------------ commands

fn read_set<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    read(g, key, Kind::Set)
}

fn log_add(g: &mut Guard<'_>, key: &[u8], members: Vec<Vec<u8>>) {
    if members.is_empty() {
        return;
    }
    let db = g.db as u32;
    g.log(|| Effect::SAdd {
        db,
        key: key.to_vec(),
        members,
    });
}

fn log_rem(g: &mut Guard<'_>, key: &[u8], members: Vec<Vec<u8>>) {
    if members.is_empty() {
        return;
    }
    let db = g.db as u32;
    g.log(|| Effect::SRem {
        db,
        key: key.to_vec(),
        members,
    });
}

/// Adds members to a set the guard holds, creating it Redis's way. Returns how many were new.
pub(crate) fn add_locked(g: &mut Guard<'_>, key: &[u8], members: &[&[u8]], lim: &Limits) -> usize {
    if members.is_empty() {
        return 0;
    }
    if g.peek(key).is_none() {
        g.set(key, create(members[0], members.len(), lim), Ttl::Clear);
    } else {
        g.modify(key, |v| maybe_convert(v, members.len(), lim));
    }
    let mut added = Vec::new();
    g.modify(key, |v| {
        for m in members {
            if add(v, m, lim) {
                added.push(m.to_vec());
            }
        }
    });
    let n = added.len();
    log_add(g, key, added);
    n
}

pub fn sadd(cx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    check_write(&mut g, key, Kind::Set)?;
    let refs: Vec<&[u8]> = members.iter().map(|m| &m[..]).collect();
    Ok(add_locked(&mut g, key, &refs, &lim) as i64)
}

pub fn srem(cx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Set)? {
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

pub fn smembers(cx: &mut Ctx, key: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let mut out = Vec::new();
    if let Some(v) = read_set(&mut g, key)? {
        out.reserve(len(v));
        for_each(v, |m| out.push(bulk(m)));
    }
    Ok(Reply::Set(out))
}

pub fn sismember(cx: &mut Ctx, key: &[u8], m: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_set(&mut g, key)?.is_some_and(|v| contains(v, m)) as i64)
}

pub fn smismember(cx: &mut Ctx, key: &[u8], ms: &[Bytes]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_set(&mut g, key)?;
    Ok(Reply::Array(
        ms.iter()
            .map(|m| Reply::Int(v.is_some_and(|v| contains(v, m)) as i64))
            .collect(),
    ))
}

pub fn scard(cx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_set(&mut g, key)?.map_or(0, len) as i64)
}

/// SMOVE: 1 when the member moved (or was already in both and is now only in the destination).
pub fn smove(cx: &mut Ctx, src: &[u8], dst: &[u8], m: &[u8]) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[src, dst]);
    // A missing source answers 0 before any type is checked, as in Redis.
    if g.peek(src).is_none() {
        return Ok(0);
    }
    check_write(&mut g, src, Kind::Set)?;
    check_write(&mut g, dst, Kind::Set)?;
    if src == dst {
        return Ok(g.peek(src).is_some_and(|e| contains(&e.value, m)) as i64);
    }
    if !g.modify(src, |v| remove(v, m)).unwrap_or(false) {
        return Ok(0);
    }
    log_rem(&mut g, src, vec![m.to_vec()]);
    drop_if_empty(&mut g, src);
    if g.peek(dst).is_none() {
        g.set(dst, create(m, 1, &lim), Ttl::Clear);
    }
    if g.modify(dst, |v| add(v, m, &lim)).unwrap_or(false) {
        log_add(&mut g, dst, vec![m.to_vec()]);
    }
    Ok(1)
}

/// SPOP: one member (or nil) without a count; with one, up to `count` distinct members.
pub fn spop(cx: &mut Ctx, key: &[u8], count: Option<usize>) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Set)? {
        return Ok(if count.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Nil
        });
    }
    let popped: Vec<Vec<u8>> = match count {
        None => g
            .peek(key)
            .and_then(|e| random_member(&e.value))
            .into_iter()
            .collect(),
        Some(c) => g
            .peek(key)
            .map(|e| sample_members(&e.value, c.min(i64::MAX as usize) as i64))
            .unwrap_or_default(),
    };
    g.modify(key, |v| {
        for m in &popped {
            remove(v, m);
        }
    });
    let reply: Vec<Reply> = popped.iter().map(|m| bulk(m)).collect();
    log_rem(&mut g, key, popped);
    drop_if_empty(&mut g, key);
    Ok(match count {
        None => reply.into_iter().next().unwrap_or(Reply::Nil),
        Some(_) => Reply::Set(reply),
    })
}

pub fn srandmember(cx: &mut Ctx, key: &[u8], count: Option<i64>) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_set(&mut g, key)?;
    let Some(count) = count else {
        return Ok(v.and_then(random_member).map_or(Reply::Nil, |m| bulk(&m)));
    };
    let Some(v) = v else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(
        sample_members(v, count).iter().map(|m| bulk(m)).collect(),
    ))
}

pub fn sscan(cx: &mut Ctx, key: &[u8], o: &ScanOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let mut items = Vec::new();
    let Some(v) = read_set(&mut g, key)? else {
        return Ok(super::scan_reply(0, items));
    };
    let next = match v {
        Value::Big(b) => match &b.data {
            BigData::Set(s) => super::scan_dict(&s.map, o, |m, _| {
                if o.matches(m) {
                    items.push(bulk(m));
                    1
                } else {
                    0
                }
            }),
            _ => 0,
        },
        Value::Flat(_) => {
            for_each(v, |m| {
                if o.matches(m) {
                    items.push(bulk(m))
                }
            });
            0
        }
    };
    Ok(super::scan_reply(next, items))
}

/// Set algebra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Computes the operation over the keys' sets into a new set value built as Redis builds it
/// (starting from an intset). Missing keys are empty sets. None for an empty result.
fn compute(
    g: &mut Guard<'_>,
    keys: &[&[u8]],
    op: SetOp,
    lim: &Limits,
) -> Result<Option<Value>, CmdError> {
    // Check every type first (Redis reports WRONGTYPE even after a missing key).
    for k in keys {
        check_write(g, k, Kind::Set)?;
    }
    let found = g.get_many(keys);
    let sets: Vec<Option<&Value>> = found.iter().map(|e| e.map(|e| &e.value)).collect();
    let mut out = empty_intset();
    match op {
        SetOp::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Ok(None);
            }
            let mut order: Vec<&Value> = sets.iter().flatten().copied().collect();
            order.sort_by_key(|v| len(v));
            let (first, rest) = order.split_first().expect("at least one key");
            for_each(first, |m| {
                if rest.iter().all(|o| contains(o, m)) {
                    add(&mut out, m, lim);
                }
            });
        }
        SetOp::Union => {
            for s in sets.iter().flatten() {
                for_each(s, |m| {
                    add(&mut out, m, lim);
                });
            }
        }
        SetOp::Diff => {
            let Some(first) = sets[0] else {
                return Ok(None);
            };
            for_each(first, |m| {
                if !sets[1..].iter().flatten().any(|o| contains(o, m)) {
                    add(&mut out, m, lim);
                }
            });
        }
    }
    Ok((len(&out) > 0).then_some(out))
}

pub fn setop(cx: &mut Ctx, keys: &[Bytes], op: SetOp) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    let mut out = Vec::new();
    if let Some(v) = compute(&mut g, &refs, op, &lim)? {
        for_each(&v, |m| out.push(bulk(m)));
    }
    Ok(Reply::Set(out))
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: the result's size.
pub fn setop_store(cx: &mut Ctx, dst: &[u8], keys: &[Bytes], op: SetOp) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    refs.push(dst);
    let mut g = cx.lock(&refs);
    refs.pop();
    let result = compute(&mut g, &refs, op, &lim)?;
    let db = g.db as u32;
    let existed = g.remove(dst).is_some();
    let Some(v) = result else {
        if existed {
            g.log(|| Effect::Del {
                db,
                key: dst.to_vec(),
            });
        }
        return Ok(0);
    };
    let n = len(&v);
    let ms = members(&v);
    g.set(dst, v, Ttl::Clear);
    g.log(|| Effect::Del {
        db,
        key: dst.to_vec(),
    });
    log_add(&mut g, dst, ms);
    Ok(n as i64)
}

/// SINTERCARD: the intersection's size, stopping at `limit` (0 = no limit).
pub fn sintercard(cx: &mut Ctx, keys: &[Bytes], limit: usize) -> Result<i64, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    for k in &refs {
        check_write(&mut g, k, Kind::Set)?;
    }
    let found = g.get_many(&refs);
    let Some(mut sets) = found
        .iter()
        .map(|e| e.map(|e| &e.value))
        .collect::<Option<Vec<&Value>>>()
    else {
        return Ok(0);
    };
    sets.sort_by_key(|v| len(v));
    let (first, rest) = sets.split_first().expect("at least one key");
    let mut n = 0usize;
    let mut done = false;
    for_each(first, |m| {
        if done {
            return;
        }
        if rest.iter().all(|o| contains(o, m)) {
            n += 1;
            done = limit > 0 && n >= limit;
        }
    });
    Ok(n as i64)
}

// ------------------------------------------------------------------ replay

pub(crate) fn apply_add(g: &mut Guard<'_>, key: &[u8], members: &[Vec<u8>], lim: &Limits) {
    if g.peek(key).is_some_and(|e| e.value.kind() != Kind::Set) {
        return;
    }
    let refs: Vec<&[u8]> = members.iter().map(|m| &m[..]).collect();
    add_locked(g, key, &refs, lim);
}

pub(crate) fn apply_rem(g: &mut Guard<'_>, key: &[u8], members: &[Vec<u8>]) {
    if g.peek(key).is_some_and(|e| e.value.kind() != Kind::Set) {
        return;
    }
    g.modify(key, |v| {
        for m in members {
            remove(v, m);
        }
    });
    drop_if_empty(g, key);
}

#[allow(dead_code)]
fn unused() -> CmdError {
    error::SYNTAX
}
