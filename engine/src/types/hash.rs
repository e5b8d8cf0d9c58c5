//! Hashes: a packed field/value list while small (`listpack`), a chained table once a field
//! or value is longer than `hash-max-listpack-value` or there are more than
//! `hash-max-listpack-entries` fields (`hashtable`), never back. Fields may carry their own
//! expiry (Redis 7.4's HEXPIRE family); a hash with such fields is kept as a table, expired
//! fields are removed before any command reads the hash, and the key goes with its last field.

use std::collections::HashMap;

use bytes::Bytes;
use rand::Rng;

use super::pack;
use super::{
    bulk, check_write, drop_if_empty, read, BigData, Flat, FlatKind, Kind, Limits, ScanOpts, Value,
};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::keyspace::dict::Dict;
use crate::keyspace::{Guard, Hasher, Ttl};
use crate::number::{self, LongDouble};
use crate::reply::Reply;

/// Field -> expiry time (unix ms), for the fields that have one.
type FieldTtls = HashMap<Box<[u8]>, u64, Hasher>;

/// A hash's table form.
pub struct HashTable {
    map: Dict<Box<[u8]>, Hasher>,
    /// Bytes of field and value data, for accounting.
    content: usize,
    /// Field expiry times (unix ms) for the fields that have one.
    ttl: Option<Box<FieldTtls>>,
    /// Redis would still keep this hash packed (it moved to the table only to carry field
    /// expiries): OBJECT ENCODING reports `listpackex`, as Redis 7.4 does.
    packed_ex: bool,
    /// No field expires before this (a lower bound; u64::MAX when none has a TTL), so reads
    /// skip the expiry scan until a field may actually be due.
    next_expiry: std::cell::Cell<u64>,
}

impl HashTable {
    pub fn new() -> HashTable {
        HashTable {
            map: Dict::with_hasher(Hasher::default()),
            content: 0,
            ttl: None,
            packed_ex: false,
            next_expiry: std::cell::Cell::new(u64::MAX),
        }
    }

    /// Whether Redis would report this hash as `listpackex`.
    pub fn is_packed_ex(&self) -> bool {
        self.packed_ex
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, f: &[u8]) -> Option<&[u8]> {
        self.map.get(f).map(|v| &**v)
    }

    /// Inserts or replaces; true when the field is new. Replacing a value clears its expiry,
    /// as HSET does in Redis 7.4.
    pub fn insert(&mut self, f: &[u8], v: &[u8]) -> bool {
        self.insert_keep_ttl(f, v, false)
    }

    /// Inserts or replaces, keeping a replaced field's expiry when `keep_ttl` (HINCRBY).
    pub fn insert_keep_ttl(&mut self, f: &[u8], v: &[u8], keep_ttl: bool) -> bool {
        self.content += super::boxed_bytes(v.len());
        match self.map.get_mut(f) {
            Some(old) => {
                self.content -= super::boxed_bytes(old.len());
                *old = v.into();
                if !keep_ttl {
                    self.clear_ttl(f);
                }
                false
            }
            None => {
                self.content += super::boxed_bytes(f.len());
                self.map.insert(f.into(), v.into());
                true
            }
        }
    }

    pub fn remove(&mut self, f: &[u8]) -> bool {
        match self.map.remove(f) {
            Some((k, v)) => {
                self.content -= super::boxed_bytes(k.len()) + super::boxed_bytes(v.len());
                self.clear_ttl(f);
                self.map.shrink_if_needed();
                true
            }
            None => false,
        }
    }

    fn clear_ttl(&mut self, f: &[u8]) {
        if let Some(t) = &mut self.ttl {
            t.remove(f);
            if t.is_empty() {
                self.ttl = None;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(k, v)| (k, &**v))
    }

    pub fn heap_bytes(&self) -> usize {
        self.map.overhead_bytes()
            + self.content
            + self.ttl.as_ref().map_or(0, |t| t.capacity() * 40)
    }

    pub fn has_field_ttls(&self) -> bool {
        self.ttl.is_some()
    }

    pub fn field_ttl(&self, f: &[u8]) -> Option<u64> {
        self.ttl.as_ref()?.get(f).copied()
    }

    /// Sets (at > 0) or clears (0) a present field's expiry.
    pub fn set_field_ttl(&mut self, f: &[u8], at: u64) {
        if at == 0 {
            self.clear_ttl(f);
            return;
        }
        let t = self.ttl.get_or_insert_with(Default::default);
        t.insert(f.into(), at);
        self.next_expiry.set(self.next_expiry.get().min(at));
    }

    /// Fields whose expiry is at or before `now`.
    pub fn expired_fields(&self, now: u64) -> Vec<Box<[u8]>> {
        match &self.ttl {
            Some(t) if self.next_expiry.get() <= now => {
                let mut next = u64::MAX;
                let mut out = Vec::new();
                for (f, &at) in t.iter() {
                    if at <= now {
                        out.push(f.clone());
                    } else {
                        next = next.min(at);
                    }
                }
                self.next_expiry.set(next);
                out
            }
            _ => Vec::new(),
        }
    }
}

impl Default for HashTable {
    fn default() -> Self {
        HashTable::new()
    }
}

impl Clone for HashTable {
    fn clone(&self) -> Self {
        let mut h = HashTable::new();
        for (f, v) in self.iter() {
            h.insert(f, v);
        }
        h.ttl = self.ttl.clone();
        h.packed_ex = self.packed_ex;
        h.next_expiry.set(self.next_expiry.get());
        h
    }
}

impl PartialEq for HashTable {
    fn eq(&self, o: &Self) -> bool {
        self.len() == o.len() && self.iter().all(|(f, v)| o.get(f) == Some(v))
    }
}

impl std::fmt::Debug for HashTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashTable({} fields)", self.len())
    }
}

// ------------------------------------------------------------------ both encodings

pub fn empty() -> Value {
    Value::Flat(Flat::new_collection(FlatKind::HashPack))
}

pub fn len(v: &Value) -> usize {
    match v {
        Value::Flat(f) => pack::count(f.buf()),
        Value::Big(b) => match &b.data {
            BigData::Hash(h) => h.len(),
            _ => 0,
        },
    }
}

pub fn get<'a>(v: &'a Value, field: &[u8]) -> Option<&'a [u8]> {
    match v {
        Value::Flat(f) => pack::pairs(f.buf())
            .find(|(_, k, _)| *k == field)
            .map(|(_, _, v)| v),
        Value::Big(b) => match &b.data {
            BigData::Hash(h) => h.get(field),
            _ => None,
        },
    }
}

/// Every field and value, in the encoding's order.
pub fn for_each<'a>(v: &'a Value, mut f: impl FnMut(&'a [u8], &'a [u8])) {
    match v {
        Value::Flat(fl) => pack::pairs(fl.buf()).for_each(|(_, k, v)| f(k, v)),
        Value::Big(b) => {
            if let BigData::Hash(h) = &b.data {
                h.iter().for_each(|(k, v)| f(k, v))
            }
        }
    }
}

pub fn pairs(v: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::with_capacity(len(v));
    for_each(v, |f, v| out.push((f.to_vec(), v.to_vec())));
    out
}

fn table_mut(v: &mut Value) -> Option<&mut HashTable> {
    match v {
        Value::Big(b) => match &mut b.data {
            BigData::Hash(h) => Some(h),
            _ => None,
        },
        Value::Flat(_) => None,
    }
}

/// Moves a packed hash to the table form (keeping its access clock).
pub fn convert(v: &mut Value) -> &mut HashTable {
    if let Value::Flat(f) = v {
        let mut h = HashTable::new();
        for (_, k, val) in pack::pairs(f.buf()) {
            h.insert(k, val);
        }
        let access = f.access();
        *v = Value::big(BigData::Hash(h));
        v.set_access(access);
    }
    table_mut(v).expect("a hash")
}

/// Moves a packed hash to the table form to give a field an expiry; it still reports
/// `listpackex` until it outgrows the listpack thresholds.
fn convert_for_ttl(v: &mut Value) -> &mut HashTable {
    let was_packed = matches!(v, Value::Flat(_));
    let h = convert(v);
    if was_packed {
        h.packed_ex = true;
    }
    h
}

/// Redis's hashTypeTryConversion: a packed hash becomes a table before a write that would
/// bring in too many fields or too long a string.
fn try_conversion(v: &mut Value, args: &[&[u8]], lim: &Limits) {
    let too_big =
        args.len() / 2 > lim.hash_entries || args.iter().any(|a| a.len() > lim.hash_value);
    match v {
        Value::Flat(_) if too_big => {
            convert(v);
        }
        Value::Big(_) if too_big => convert(v).packed_ex = false,
        _ => {}
    }
}

/// Sets a field; true when it is new. Converts after the write when the pack grows past
/// `hash-max-listpack-entries`.
pub fn set(v: &mut Value, field: &[u8], val: &[u8], lim: &Limits) -> bool {
    set_ttl_aware(v, field, val, lim, false)
}

/// [`set`], keeping a replaced field's expiry when `keep_ttl` (HINCRBY, HINCRBYFLOAT).
fn set_ttl_aware(v: &mut Value, field: &[u8], val: &[u8], lim: &Limits, keep_ttl: bool) -> bool {
    // Redis's hashTypeSet: a string too long for a listpack moves the hash to a table first.
    if matches!(v, Value::Flat(_)) && (field.len() > lim.hash_value || val.len() > lim.hash_value) {
        convert(v);
    }
    let new = match v {
        Value::Flat(f) => {
            let found = pack::pairs(f.buf())
                .find(|(_, k, _)| *k == field)
                .map(|(off, _, _)| off);
            f.edit(|b| match found {
                Some(off) => {
                    let voff = pack::read(b, off).1;
                    pack::replace(b, voff, val);
                    false
                }
                None => {
                    let end = b.len();
                    pack::insert(b, end, &[field, val]);
                    let n = pack::count(b) + 1;
                    pack::set_count(b, n);
                    true
                }
            })
        }
        Value::Big(_) => {
            let h = table_mut(v).expect("a hash");
            let new = h.insert_keep_ttl(field, val, keep_ttl);
            if h.packed_ex
                && (h.len() > lim.hash_entries
                    || field.len() > lim.hash_value
                    || val.len() > lim.hash_value)
            {
                h.packed_ex = false;
            }
            new
        }
    };
    if matches!(v, Value::Flat(_)) && len(v) > lim.hash_entries {
        convert(v);
    }
    new
}

pub fn remove(v: &mut Value, field: &[u8]) -> bool {
    match v {
        Value::Flat(f) => {
            let found = pack::pairs(f.buf())
                .find(|(_, k, _)| *k == field)
                .map(|(off, _, _)| off);
            match found {
                Some(off) => f.edit(|b| {
                    pack::remove(b, off, 2);
                    let n = pack::count(b) - 1;
                    pack::set_count(b, n);
                    true
                }),
                None => false,
            }
        }
        Value::Big(_) => table_mut(v).expect("a hash").remove(field),
    }
}

// ------------------------------------------------------------------ field expiry

/// Removes the hash's expired fields (logging them as HDEL, as Redis propagates them) and the
/// key if none is left. Every hash command calls this first.
fn purge(g: &mut Guard<'_>, key: &[u8]) {
    let now = g.now;
    let expired = match g.peek(key).map(|e| &e.value) {
        Some(Value::Big(b)) => match &b.data {
            BigData::Hash(h) if h.has_field_ttls() => h.expired_fields(now),
            _ => return,
        },
        _ => return,
    };
    if expired.is_empty() {
        return;
    }
    g.modify(key, |v| {
        for f in &expired {
            remove(v, f);
        }
    });
    let db = g.db as u32;
    g.log(|| Effect::HDel {
        db,
        key: key.to_vec(),
        fields: expired.iter().map(|f| f.to_vec()).collect(),
    });
    drop_if_empty(g, key);
}

/// Active expiry of a hash's fields, under the shard lock the expire cycle holds: removes the
/// expired fields (and the key with its last field), recording their effects. Returns 1 when
/// the key went away.
pub(crate) fn expire_fields(
    shard: &mut crate::keyspace::Shard,
    db: usize,
    key: &[u8],
    now: u64,
    effects: &mut Vec<Effect>,
) -> usize {
    let expired = match shard.get(key).map(|e| &e.value) {
        Some(Value::Big(b)) => match &b.data {
            BigData::Hash(h) => h.expired_fields(now),
            _ => return 0,
        },
        _ => return 0,
    };
    if expired.is_empty() {
        return 0;
    }
    let empty = shard
        .update(key, |e| {
            for f in &expired {
                remove(&mut e.value, f);
            }
            len(&e.value) == 0
        })
        .unwrap_or(false);
    effects.push(Effect::HDel {
        db: db as u32,
        key: key.to_vec(),
        fields: expired.iter().map(|f| f.to_vec()).collect(),
    });
    if empty {
        shard.remove(key);
        effects.push(Effect::Del {
            db: db as u32,
            key: key.to_vec(),
        });
        return 1;
    }
    0
}

fn read_hash<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Value>, CmdError> {
    purge(g, key);
    read(g, key, Kind::Hash)
}

/// Opens the hash for a write, creating an empty one if asked; Ok(false) when it is missing
/// and not created.
fn write_hash(g: &mut Guard<'_>, key: &[u8], create: bool) -> Result<bool, CmdError> {
    purge(g, key);
    if check_write(g, key, Kind::Hash)? {
        return Ok(true);
    }
    if create {
        g.set(key, empty(), Ttl::Clear);
    }
    Ok(create)
}

// ------------------------------------------------------------------ commands

/// HSET / HMSET: `args` alternates fields and values. Returns the number of new fields.
pub fn hset(cx: &mut Ctx, key: &[u8], args: &[Bytes]) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    write_hash(&mut g, key, true)?;
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let added = g
        .modify(key, |v| {
            try_conversion(v, &refs, &lim);
            refs.chunks(2).filter(|p| set(v, p[0], p[1], &lim)).count()
        })
        .unwrap_or(0);
    let db = g.db as u32;
    g.log(|| Effect::HSet {
        db,
        key: key.to_vec(),
        pairs: refs
            .chunks(2)
            .map(|p| (p[0].to_vec(), p[1].to_vec()))
            .collect(),
    });
    Ok(added as i64)
}

pub fn hsetnx(cx: &mut Ctx, key: &[u8], field: &[u8], val: &[u8]) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    if write_hash(&mut g, key, false)?
        && g.peek(key).is_some_and(|e| get(&e.value, field).is_some())
    {
        return Ok(0);
    }
    write_hash(&mut g, key, true)?;
    g.modify(key, |v| {
        try_conversion(v, &[field, val], &lim);
        set(v, field, val, &lim)
    });
    let db = g.db as u32;
    g.log(|| Effect::HSet {
        db,
        key: key.to_vec(),
        pairs: vec![(field.to_vec(), val.to_vec())],
    });
    Ok(1)
}

pub fn hget(cx: &mut Ctx, key: &[u8], field: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(match read_hash(&mut g, key)? {
        None => Reply::Nil,
        Some(v) => get(v, field).map_or(Reply::Nil, bulk),
    })
}

pub fn hmget(cx: &mut Ctx, key: &[u8], fields: &[Bytes]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_hash(&mut g, key)?;
    Ok(Reply::Array(
        fields
            .iter()
            .map(|f| v.and_then(|v| get(v, f)).map_or(Reply::Nil, bulk))
            .collect(),
    ))
}

/// What HGETALL, HKEYS and HVALS return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    Keys,
    Values,
}

pub fn hgetall(cx: &mut Ctx, key: &[u8], part: Part) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(v) = read_hash(&mut g, key)? else {
        return Ok(match part {
            Part::All => Reply::Map(Vec::new()),
            _ => Reply::Array(Vec::new()),
        });
    };
    let mut map = Vec::new();
    let mut arr = Vec::new();
    for_each(v, |f, val| match part {
        Part::All => map.push((bulk(f), bulk(val))),
        Part::Keys => arr.push(bulk(f)),
        Part::Values => arr.push(bulk(val)),
    });
    Ok(if part == Part::All {
        Reply::Map(map)
    } else {
        Reply::Array(arr)
    })
}

pub fn hdel(cx: &mut Ctx, key: &[u8], fields: &[Bytes]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !write_hash(&mut g, key, false)? {
        return Ok(0);
    }
    let mut removed = Vec::new();
    g.modify(key, |v| {
        for f in fields {
            if remove(v, f) {
                removed.push(f.to_vec());
            }
        }
    });
    let db = g.db as u32;
    let n = removed.len() as i64;
    if !removed.is_empty() {
        g.log(|| Effect::HDel {
            db,
            key: key.to_vec(),
            fields: removed,
        });
    }
    drop_if_empty(&mut g, key);
    Ok(n)
}

pub fn hlen(cx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_hash(&mut g, key)?.map_or(0, len) as i64)
}

pub fn hexists(cx: &mut Ctx, key: &[u8], field: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_hash(&mut g, key)?.is_some_and(|v| get(v, field).is_some()) as i64)
}

pub fn hstrlen(cx: &mut Ctx, key: &[u8], field: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_hash(&mut g, key)?
        .and_then(|v| get(v, field))
        .map_or(0, |v| v.len()) as i64)
}

/// Sets a field to a computed value keeping its expiry (HINCRBY, HINCRBYFLOAT), and logs it:
/// the HSET, then the kept expiry again, since a logged HSET clears it.
fn set_keeping_ttl(g: &mut Guard<'_>, key: &[u8], field: &[u8], val: &[u8], lim: &Limits) {
    let ttl = g
        .modify(key, |v| {
            set_ttl_aware(v, field, val, lim, true);
            table_mut(v).and_then(|h| h.field_ttl(field))
        })
        .flatten();
    let db = g.db as u32;
    g.log(|| Effect::HSet {
        db,
        key: key.to_vec(),
        pairs: vec![(field.to_vec(), val.to_vec())],
    });
    if let Some(at) = ttl {
        g.log(|| Effect::HExpire {
            db,
            key: key.to_vec(),
            fields: vec![(field.to_vec(), at)],
        });
    }
}

/// HINCRBY: the field's new value.
pub fn hincrby(cx: &mut Ctx, key: &[u8], field: &[u8], by: i64) -> Result<i64, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    let cur = if write_hash(&mut g, key, false)? {
        match g.peek(key).and_then(|e| get(&e.value, field)) {
            None => 0,
            Some(b) => (b.len() <= 20)
                .then(|| number::parse_i64(b))
                .flatten()
                .ok_or(error::HASH_NOT_INTEGER)?,
        }
    } else {
        0
    };
    let new = cur.checked_add(by).ok_or(error::OVERFLOW)?;
    let text = itoa::Buffer::new().format(new).as_bytes().to_vec();
    write_hash(&mut g, key, true)?;
    set_keeping_ttl(&mut g, key, field, &text, &lim);
    Ok(new)
}

/// HINCRBYFLOAT in long double arithmetic, as Redis computes and prints it.
pub fn hincrbyfloat(
    cx: &mut Ctx,
    key: &[u8],
    field: &[u8],
    by: LongDouble,
) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[key]);
    let cur = if write_hash(&mut g, key, false)? {
        match g.peek(key).and_then(|e| get(&e.value, field)) {
            None => LongDouble::from_i64(0),
            Some(b) => LongDouble::parse(b).ok_or(error::HASH_NOT_FLOAT)?,
        }
    } else {
        LongDouble::from_i64(0)
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(error::INCR_NAN_INF);
    }
    let text = new.format_human().into_bytes();
    write_hash(&mut g, key, true)?;
    set_keeping_ttl(&mut g, key, field, &text, &lim);
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// HRANDFIELD: without a count one field (or nil); with a count, distinct fields when it is
/// positive, possibly repeated ones when negative.
pub fn hrandfield(
    cx: &mut Ctx,
    key: &[u8],
    count: Option<i64>,
    withvalues: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let v = read_hash(&mut g, key)?;
    let Some(count) = count else {
        return Ok(match v {
            None => Reply::Nil,
            Some(v) => sample_pairs(v, 1)
                .first()
                .map_or(Reply::Nil, |(f, _)| bulk(f)),
        });
    };
    let Some(v) = v else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = sample_pairs(v, count);
    Ok(pick_reply(
        picks.iter().map(|(f, v)| (&f[..], &v[..])),
        withvalues,
    ))
}

/// Random fields with their values (see [`super::sample`]).
fn sample_pairs(v: &Value, count: i64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = super::rng();
    let table = match v {
        Value::Big(b) => match &b.data {
            BigData::Hash(h) => Some(h),
            _ => None,
        },
        Value::Flat(_) => None,
    };
    let mut one = table.map(|h| {
        move || {
            h.map
                .random_entry(&mut || rng.gen())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
        }
    });
    super::sample(
        len(v),
        count,
        one.as_mut()
            .map(|f| f as &mut dyn FnMut() -> Option<(Vec<u8>, Vec<u8>)>),
        |p: &(Vec<u8>, Vec<u8>)| &p.0[..],
        || pairs(v),
    )
}

fn pick_reply<'a>(it: impl Iterator<Item = (&'a [u8], &'a [u8])>, withvalues: bool) -> Reply {
    if withvalues {
        Reply::Pairs(it.map(|(f, v)| (bulk(f), bulk(v))).collect())
    } else {
        Reply::Array(it.map(|(f, _)| bulk(f)).collect())
    }
}

pub fn hscan(cx: &mut Ctx, key: &[u8], o: &ScanOpts) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let mut items = Vec::new();
    let Some(v) = read_hash(&mut g, key)? else {
        return Ok(super::scan_reply(0, items));
    };
    let mut push = |f: &[u8], val: &[u8]| {
        if o.matches(f) {
            items.push(bulk(f));
            if !o.novalues {
                items.push(bulk(val));
            }
            1
        } else {
            0
        }
    };
    let next = match v {
        Value::Flat(fl) => {
            for (_, f, val) in pack::pairs(fl.buf()) {
                push(f, val);
            }
            0
        }
        Value::Big(b) => match &b.data {
            BigData::Hash(h) => super::scan_dict(&h.map, o, |f, val| push(f, val)),
            _ => 0,
        },
    };
    Ok(super::scan_reply(next, items))
}

/// WRONGTYPE if the key holds another type: the field-expiry commands check the type before
/// their arguments, as Redis does.
pub fn check_type(cx: &mut Ctx, key: &[u8]) -> Result<(), CmdError> {
    let mut g = cx.lock(&[key]);
    check_write(&mut g, key, Kind::Hash).map(|_| ())
}

/// HEXPIRE and friends: how the new expiry must compare with the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// HEXPIRE/HPEXPIRE/HEXPIREAT/HPEXPIREAT with an absolute time in ms. Per field: -2 no such
/// field, 0 condition not met, 1 set, 2 deleted (time in the past).
pub fn hexpire(
    cx: &mut Ctx,
    key: &[u8],
    at: u64,
    cond: FieldCond,
    fields: &[Bytes],
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    if !write_hash(&mut g, key, false)? {
        return Ok(Reply::Array(
            fields.iter().map(|_| Reply::Int(-2)).collect(),
        ));
    }
    let now = g.now;
    let mut codes = Vec::with_capacity(fields.len());
    let mut deleted = Vec::new();
    let mut set_at = Vec::new();
    g.modify(key, |v| {
        for f in fields {
            if get(v, f).is_none() {
                codes.push(-2);
                continue;
            }
            let cur = match v {
                Value::Big(_) => table_mut(v).and_then(|h| h.field_ttl(f)),
                Value::Flat(_) => None,
            };
            // No expiry counts as infinite for GT and LT.
            let ok = match cond {
                FieldCond::Always => true,
                FieldCond::Nx => cur.is_none(),
                FieldCond::Xx => cur.is_some(),
                FieldCond::Gt => cur.is_some_and(|c| at > c),
                FieldCond::Lt => cur.is_none_or(|c| at < c),
            };
            if !ok {
                codes.push(0);
            } else if at <= now {
                remove(v, f);
                deleted.push(f.to_vec());
                codes.push(2);
            } else {
                convert_for_ttl(v).set_field_ttl(f, at);
                set_at.push((f.to_vec(), at));
                codes.push(1);
            }
        }
    });
    let db = g.db as u32;
    if !deleted.is_empty() {
        g.log(|| Effect::HDel {
            db,
            key: key.to_vec(),
            fields: deleted,
        });
    }
    if !set_at.is_empty() {
        g.log(|| Effect::HExpire {
            db,
            key: key.to_vec(),
            fields: set_at,
        });
    }
    drop_if_empty(&mut g, key);
    Ok(Reply::Array(codes.into_iter().map(Reply::Int).collect()))
}

/// HTTL and friends' unit and base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTtlKind {
    Ttl,
    PTtl,
    ExpireTime,
    PExpireTime,
}

/// Per field: -2 no such field, -1 no expiry, else the remaining time or the deadline.
pub fn httl(
    cx: &mut Ctx,
    key: &[u8],
    kind: FieldTtlKind,
    fields: &[Bytes],
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    let v = read_hash(&mut g, key)?;
    Ok(Reply::Array(
        fields
            .iter()
            .map(|f| {
                let Some(v) = v.filter(|v| get(v, f).is_some()) else {
                    return Reply::Int(-2);
                };
                let at = match v {
                    Value::Big(b) => match &b.data {
                        BigData::Hash(h) => h.field_ttl(f),
                        _ => None,
                    },
                    Value::Flat(_) => None,
                };
                Reply::Int(match (at, kind) {
                    (None, _) => -1,
                    (Some(at), FieldTtlKind::Ttl) => (at.saturating_sub(now) as i64 + 999) / 1000,
                    (Some(at), FieldTtlKind::PTtl) => at.saturating_sub(now) as i64,
                    (Some(at), FieldTtlKind::ExpireTime) => at.div_ceil(1000) as i64,
                    (Some(at), FieldTtlKind::PExpireTime) => at as i64,
                })
            })
            .collect(),
    ))
}

/// Per field: -2 no such field, -1 no expiry, 1 expiry removed.
pub fn hpersist(cx: &mut Ctx, key: &[u8], fields: &[Bytes]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    if !write_hash(&mut g, key, false)? {
        return Ok(Reply::Array(
            fields.iter().map(|_| Reply::Int(-2)).collect(),
        ));
    }
    let mut codes = Vec::with_capacity(fields.len());
    let mut cleared = Vec::new();
    g.modify(key, |v| {
        for f in fields {
            if get(v, f).is_none() {
                codes.push(-2);
                continue;
            }
            match table_mut(v) {
                Some(h) if h.field_ttl(f).is_some() => {
                    h.set_field_ttl(f, 0);
                    cleared.push((f.to_vec(), 0));
                    codes.push(1);
                }
                _ => codes.push(-1),
            }
        }
    });
    let db = g.db as u32;
    if !cleared.is_empty() {
        g.log(|| Effect::HExpire {
            db,
            key: key.to_vec(),
            fields: cleared,
        });
    }
    Ok(Reply::Array(codes.into_iter().map(Reply::Int).collect()))
}

// ------------------------------------------------------------------ replay

/// Replays HSET-like effects.
pub(crate) fn apply_set(g: &mut Guard<'_>, key: &[u8], pairs: &[(Vec<u8>, Vec<u8>)], lim: &Limits) {
    if g.peek(key).is_none() {
        g.set(key, empty(), Ttl::Clear);
    }
    g.modify(key, |v| {
        if v.kind() != Kind::Hash {
            return;
        }
        let refs: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
        try_conversion(v, &refs, lim);
        for (f, val) in pairs {
            set(v, f, val, lim);
        }
    });
}

pub(crate) fn apply_del(g: &mut Guard<'_>, key: &[u8], fields: &[Vec<u8>]) {
    g.modify(key, |v| {
        if v.kind() == Kind::Hash {
            for f in fields {
                remove(v, f);
            }
        }
    });
    drop_if_empty(g, key);
}

pub(crate) fn apply_expire(g: &mut Guard<'_>, key: &[u8], fields: &[(Vec<u8>, u64)]) {
    g.modify(key, |v| {
        if v.kind() != Kind::Hash {
            return;
        }
        for (f, at) in fields {
            if get(v, f).is_some() {
                convert_for_ttl(v).set_field_ttl(f, *at);
            }
        }
    });
}
