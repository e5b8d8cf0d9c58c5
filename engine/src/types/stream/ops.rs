//! The stream commands over the keyspace: each takes its parsed arguments, changes the stream
//! under the key's shard lock, logs what it changed as effects and returns the reply. Replay
//! (`apply`) and the snapshot form (`key_effects`) are here too, so the effects a command
//! logs and the code that replays them sit side by side.

use bytes::Bytes;

use super::{ClaimOpts, Fields, Group, NewId, Pending, Stream, StreamId, Trim};
use crate::ctx::Ctx;
use crate::effect::{Effect, PelEntry};
use crate::error::{self, CmdError};
use crate::keyspace::{Guard, Ttl};
use crate::reply::Reply;
use crate::types::{check_write, read, BigData, Kind, Value};

/// XADD's and XTRIM's trimming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimArgs {
    pub how: Trim,
    pub approx: bool,
    /// Most entries removed (0 = no limit).
    pub limit: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct AddArgs {
    pub nomkstream: bool,
    pub id: NewId,
    pub trim: Option<TrimArgs>,
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(Bytes::from(id.to_string()))
}

fn fields_reply(fields: Fields) -> Reply {
    let mut v = Vec::with_capacity(fields.len() * 2);
    for (f, val) in fields {
        v.push(Reply::Bulk(Bytes::from(f)));
        v.push(Reply::Bulk(Bytes::from(val)));
    }
    Reply::Array(v)
}

/// One entry as Redis replies it: `[id, [field, value, ...]]`.
pub fn entry_reply(id: StreamId, fields: Fields) -> Reply {
    Reply::Array(vec![id_reply(id), fields_reply(fields)])
}

fn entries_reply(entries: Vec<(StreamId, Fields)>) -> Reply {
    Reply::Array(
        entries
            .into_iter()
            .map(|(id, f)| entry_reply(id, f))
            .collect(),
    )
}

fn new_stream() -> Value {
    Value::big(BigData::Stream(Stream::default()))
}

fn stream_of(v: &mut Value) -> &mut Stream {
    v.as_stream_mut()
        .expect("the key was checked to hold a stream")
}

fn read_stream<'g>(g: &'g mut Guard<'_>, key: &[u8]) -> Result<Option<&'g Stream>, CmdError> {
    Ok(read(g, key, Kind::Stream)?.and_then(Value::as_stream))
}

/// Parses a strict ID (no `-`/`+`): `ms` or `ms-seq`.
pub fn parse_strict_id(b: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(b, 0).ok_or(error::STREAM_ID_INVALID)
}

/// Parses a range bound: `-`, `+`, an ID, or (when `exclusive_ok`) `(ID`. Returns the bound
/// and whether it is exclusive; `missing_seq` fills an ID given as milliseconds only.
pub fn parse_range_id(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    let (b, ex) = match b.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (b, false),
    };
    let id = match b {
        // After `(` the ID is read strictly: `(-` and `(+` are invalid, as in Redis.
        b"-" | b"+" if ex => return Err(error::STREAM_ID_INVALID),
        b"-" => StreamId::MIN,
        b"+" => StreamId::MAX,
        _ => StreamId::parse(b, missing_seq).ok_or(error::STREAM_ID_INVALID)?,
    };
    Ok((id, ex))
}

/// The lower bound of an interval (XRANGE, XPENDING, XAUTOCLAIM): `-`, an ID (a missing
/// sequence is 0), or `(ID`, exclusive, which starts at the next ID.
pub fn range_start(b: &[u8]) -> Result<StreamId, CmdError> {
    match parse_range_id(b, 0)? {
        (id, true) => id.next().ok_or(error::RANGE_START_INVALID),
        (id, false) => Ok(id),
    }
}

/// The upper bound of an interval: `+`, an ID (a missing sequence is the largest), or
/// `(ID`, exclusive, which ends at the ID before.
pub fn range_end(b: &[u8]) -> Result<StreamId, CmdError> {
    match parse_range_id(b, u64::MAX)? {
        (id, true) => id.prev().ok_or(error::RANGE_END_INVALID),
        (id, false) => Ok(id),
    }
}

fn log_trim(g: &mut Guard<'_>, key: &[u8], removed: usize) {
    if removed > 0 {
        let db = g.db as u32;
        g.log(|| Effect::XTrim {
            db,
            key: key.to_vec(),
            count: removed as u64,
        });
    }
}

pub fn xadd(cx: &mut Ctx, key: &[u8], a: &AddArgs, fields: Fields) -> Result<Reply, CmdError> {
    let lim = cx.eng.limits().stream_node;
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Stream)? {
        if a.nomkstream {
            return Ok(Reply::Nil);
        }
        g.set(key, new_stream(), Ttl::Clear);
    }
    let now = g.now;
    let added = g
        .modify(key, |v| {
            let s = stream_of(v);
            if s.last_id == StreamId::MAX {
                return Err(error::STREAM_EXHAUSTED);
            }
            let id = s.next_id(a.id, now).map_err(|e| match e {
                super::AddError::TooSmall => error::XADD_ID_TOO_SMALL,
                super::AddError::Exhausted => error::STREAM_EXHAUSTED,
            })?;
            s.insert(id, &fields, lim);
            let removed = a.trim.map_or(0, |t| s.trim(t.how, t.approx, t.limit));
            Ok((id, removed))
        })
        .expect("the stream exists");
    let (id, removed) = added?;
    let db = g.db as u32;
    g.log(|| Effect::XAdd {
        db,
        key: key.to_vec(),
        id,
        fields,
    });
    log_trim(&mut g, key, removed);
    Ok(id_reply(id))
}

pub fn xlen(cx: &mut Ctx, key: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_stream(&mut g, key)?.map_or(0, |s| s.len() as i64))
}

/// XRANGE and XREVRANGE; `count` None = no COUNT given.
pub fn xrange(
    cx: &mut Ctx,
    key: &[u8],
    start: StreamId,
    end: StreamId,
    count: Option<usize>,
    rev: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(s) = read_stream(&mut g, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == Some(0) {
        return Ok(Reply::NilArray);
    }
    let count = count.unwrap_or(usize::MAX);
    let (lo, hi) = if rev { (end, start) } else { (start, end) };
    Ok(entries_reply(s.range(lo, hi, count, rev)))
}

pub fn xdel(cx: &mut Ctx, key: &[u8], ids: &[StreamId]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Stream)? {
        return Ok(0);
    }
    let deleted: Vec<StreamId> = g
        .modify(key, |v| {
            let s = stream_of(v);
            ids.iter()
                .copied()
                .filter(|id| s.delete(&[*id]) == 1)
                .collect()
        })
        .unwrap_or_default();
    if !deleted.is_empty() {
        let db = g.db as u32;
        let n = deleted.len();
        g.log(|| Effect::XDel {
            db,
            key: key.to_vec(),
            ids: deleted,
        });
        return Ok(n as i64);
    }
    Ok(0)
}

pub fn xtrim(cx: &mut Ctx, key: &[u8], t: TrimArgs) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Stream)? {
        return Ok(0);
    }
    let removed = g
        .modify(key, |v| stream_of(v).trim(t.how, t.approx, t.limit))
        .unwrap_or(0);
    log_trim(&mut g, key, removed);
    Ok(removed as i64)
}

fn log_counters(g: &mut Guard<'_>, key: &[u8]) {
    let db = g.db as u32;
    let Some(s) = g.peek(key).and_then(|e| e.value.as_stream()) else {
        return;
    };
    let (last, entries_added, max_deleted) = (s.last_id, s.entries_added, s.max_deleted);
    g.log(|| Effect::XSetId {
        db,
        key: key.to_vec(),
        last,
        entries_added,
        max_deleted,
    });
}

pub fn xsetid(
    cx: &mut Ctx,
    key: &[u8],
    id: StreamId,
    entries_added: Option<u64>,
    max_deleted: Option<StreamId>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Stream)? {
        return Err(error::NO_SUCH_KEY);
    }
    g.modify(key, |v| {
        let s = stream_of(v);
        if let Some((top, _)) = s.entries.last() {
            if id < top {
                return Err(error::XSETID_BELOW_TOP);
            }
            if entries_added.is_some_and(|n| (s.len() as u64) > n) {
                return Err(error::XSETID_ENTRIES_ADDED_SMALL);
            }
        }
        if id < s.max_deleted {
            return Err(error::XSETID_BELOW_MAX_DELETED);
        }
        s.last_id = id;
        if let Some(n) = entries_added {
            s.entries_added = n;
        }
        if let Some(m) = max_deleted.filter(|m| *m != StreamId::MIN) {
            s.max_deleted = m;
        }
        Ok(())
    })
    .expect("the stream exists")?;
    log_counters(&mut g, key);
    Ok(Reply::Ok)
}

// ------------------------------------------------------------------ consumer groups

/// Where XGROUP CREATE and SETID put the group: `$` or an ID (still unparsed: Redis checks
/// the key before it parses the ID). SETID also takes `-` and `+`; CREATE does not.
#[derive(Debug, Clone, Copy)]
pub enum GroupStart<'a> {
    Last,
    Id(&'a [u8]),
}

impl<'a> GroupStart<'a> {
    /// The argument as given: `$` or an ID.
    pub fn of(arg: &'a [u8]) -> GroupStart<'a> {
        if arg == b"$" {
            GroupStart::Last
        } else {
            GroupStart::Id(arg)
        }
    }

    fn resolve(self, s: &Stream, strict: bool) -> Result<StreamId, CmdError> {
        match self {
            GroupStart::Last => Ok(s.last_id),
            GroupStart::Id(b) if strict => parse_strict_id(b),
            GroupStart::Id(b) => match parse_range_id(b, 0)? {
                (id, false) => Ok(id),
                (_, true) => Err(error::STREAM_ID_INVALID),
            },
        }
    }
}

/// The group of the stream at `key`, if both exist.
fn group_in<'g>(g: &'g mut Guard<'_>, key: &[u8], group: &[u8]) -> Option<&'g Group> {
    g.peek(key)
        .and_then(|e| e.value.as_stream())
        .and_then(|s| s.groups.get(group))
}

fn log_group(g: &mut Guard<'_>, key: &[u8], group: &[u8]) {
    let db = g.db as u32;
    let Some(grp) = group_in(g, key, group) else {
        return;
    };
    let (last, entries_read) = (grp.last_delivered, grp.entries_read);
    g.log(|| Effect::XGroupSet {
        db,
        key: key.to_vec(),
        group: group.to_vec(),
        last,
        entries_read,
    });
}

fn consumer_exists(g: &mut Guard<'_>, key: &[u8], group: &[u8], consumer: &[u8]) -> bool {
    group_in(g, key, group).is_some_and(|grp| grp.consumers.contains_key(consumer))
}

/// Logs the consumer; one that did not exist before was created implicitly (XREADGROUP,
/// XCLAIM, XAUTOCLAIM), which Redis announces as `xgroup-createconsumer`.
fn log_new_consumer(g: &mut Guard<'_>, key: &[u8], group: &[u8], consumer: &[u8], existed: bool) {
    if !existed && consumer_exists(g, key, group, consumer) {
        g.eng.notify(
            g.db,
            crate::notify::class::STREAM,
            "xgroup-createconsumer",
            key,
        );
    }
    log_consumer(g, key, group, consumer);
}

fn log_consumer(g: &mut Guard<'_>, key: &[u8], group: &[u8], consumer: &[u8]) {
    let db = g.db as u32;
    let Some(c) = group_in(g, key, group).and_then(|grp| grp.consumers.get(consumer)) else {
        return;
    };
    let (seen_at, active_at) = (c.seen_at, c.active_at);
    g.log(|| Effect::XConsumerSet {
        db,
        key: key.to_vec(),
        group: group.to_vec(),
        consumer: consumer.to_vec(),
        seen_at,
        active_at,
    });
}

fn log_pel(g: &mut Guard<'_>, key: &[u8], group: &[u8], ids: &[StreamId]) {
    if ids.is_empty() {
        return;
    }
    let db = g.db as u32;
    let Some(grp) = group_in(g, key, group) else {
        return;
    };
    let entries: Vec<PelEntry> = ids
        .iter()
        .filter_map(|id| {
            grp.pel
                .get(id)
                .map(|p| (*id, p.consumer.clone(), p.delivered_at, p.deliveries))
        })
        .collect();
    g.log(|| Effect::XPelSet {
        db,
        key: key.to_vec(),
        group: group.to_vec(),
        entries,
    });
}

fn log_pel_del(g: &mut Guard<'_>, key: &[u8], group: &[u8], ids: Vec<StreamId>) {
    if ids.is_empty() {
        return;
    }
    let db = g.db as u32;
    g.log(|| Effect::XPelDel {
        db,
        key: key.to_vec(),
        group: group.to_vec(),
        ids,
    });
}

pub fn xgroup_create(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    start: GroupStart,
    mkstream: bool,
    entries_read: Option<u64>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let exists = check_write(&mut g, key, Kind::Stream)?;
    if !exists && !mkstream {
        return Err(error::XGROUP_KEY_REQUIRED);
    }
    let id = match (exists, start) {
        (false, GroupStart::Last) => StreamId::MIN,
        (false, GroupStart::Id(b)) => parse_strict_id(b)?,
        (true, s) => {
            let st = g.peek(key).and_then(|e| e.value.as_stream());
            s.resolve(st.expect("checked above"), true)?
        }
    };
    if !exists {
        g.set(key, new_stream(), Ttl::Clear);
        log_counters(&mut g, key);
    }
    let created = g
        .modify(key, |v| stream_of(v).create_group(group, id, entries_read))
        .unwrap_or(false);
    if !created {
        return Err(error::BUSYGROUP);
    }
    log_group(&mut g, key, group);
    Ok(Reply::Ok)
}

/// The stream for an XGROUP subcommand that needs the key and the group to exist.
fn group_target(g: &mut Guard<'_>, key: &[u8], group: &[u8]) -> Result<(), CmdError> {
    if !check_write(g, key, Kind::Stream)? {
        return Err(error::XGROUP_KEY_REQUIRED);
    }
    let has = g
        .peek(key)
        .and_then(|e| e.value.as_stream())
        .is_some_and(|s| s.groups.contains_key(group));
    if has {
        Ok(())
    } else {
        Err(CmdError::nogroup(group, key))
    }
}

pub fn xgroup_setid(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    start: GroupStart,
    entries_read: Option<u64>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    group_target(&mut g, key, group)?;
    let id = start.resolve(
        g.peek(key)
            .and_then(|e| e.value.as_stream())
            .expect("checked"),
        false,
    )?;
    g.modify(key, |v| {
        if let Some(grp) = stream_of(v).groups.get_mut(group) {
            grp.last_delivered = id;
            grp.entries_read = entries_read;
        }
    });
    log_group(&mut g, key, group);
    Ok(Reply::Ok)
}

pub fn xgroup_destroy(cx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !check_write(&mut g, key, Kind::Stream)? {
        return Err(error::XGROUP_KEY_REQUIRED);
    }
    let gone = g
        .modify(key, |v| stream_of(v).groups.remove(group).is_some())
        .unwrap_or(false);
    if gone {
        let db = g.db as u32;
        g.log(|| Effect::XGroupDestroy {
            db,
            key: key.to_vec(),
            group: group.to_vec(),
        });
    }
    Ok(gone as i64)
}

pub fn xgroup_createconsumer(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    group_target(&mut g, key, group)?;
    let now = g.now;
    let created = g
        .modify(key, |v| stream_of(v).create_consumer(group, consumer, now))
        .flatten()
        .unwrap_or(false);
    if created {
        log_consumer(&mut g, key, group, consumer);
    }
    Ok(created as i64)
}

pub fn xgroup_delconsumer(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    group_target(&mut g, key, group)?;
    let existed =
        group_in(&mut g, key, group).is_some_and(|grp| grp.consumers.contains_key(consumer));
    let pending = g
        .modify(key, |v| stream_of(v).delete_consumer(group, consumer))
        .flatten()
        .unwrap_or(0);
    if existed {
        let db = g.db as u32;
        g.log(|| Effect::XConsumerDel {
            db,
            key: key.to_vec(),
            group: group.to_vec(),
            consumer: consumer.to_vec(),
        });
    }
    Ok(pending as i64)
}

// ------------------------------------------------------------------ reading

/// The streams a read served: each key with its entries reply.
pub type Served = Vec<(Bytes, Reply)>;

/// XREAD without blocking. `ids` are the arguments as given (`$`, an ID); each key is
/// checked, then its ID read, in order, as Redis does. Returns, for each stream with
/// entries after its ID, `[key, entries]` (None when there are none: the caller blocks or
/// replies nil), and the IDs resolved (`$` = the stream's last ID), for a blocked read to
/// run again with.
pub fn xread(
    cx: &mut Ctx,
    keys: &[Bytes],
    ids: &[Bytes],
    count: usize,
) -> Result<(Option<Served>, Vec<StreamId>), CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    let mut from = Vec::with_capacity(keys.len());
    for (k, id) in keys.iter().zip(ids) {
        let s = read_stream(&mut g, k)?;
        from.push(match &id[..] {
            b"$" => s.map_or(StreamId::MIN, |s| s.last_id),
            b">" => return Err(error::XREAD_GT_ONLY_GROUP),
            _ => parse_strict_id(id)?,
        });
    }
    let mut out = Vec::new();
    for (k, after) in keys.iter().zip(&from) {
        let Some(s) = read_stream(&mut g, k)? else {
            continue;
        };
        let Some(start) = after.next() else {
            continue;
        };
        let got = s.range(start, StreamId::MAX, count, false);
        if !got.is_empty() {
            out.push((k.clone(), entries_reply(got)));
        }
    }
    Ok(((!out.is_empty()).then_some(out), from))
}

/// Whether the stream at `key` has `group`; WRONGTYPE for another type. XACK, XCLAIM and
/// friends look this up before they read their other arguments.
pub fn group_exists(cx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<bool, CmdError> {
    let mut g = cx.lock(&[key]);
    Ok(read_stream(&mut g, key)?.is_some_and(|s| s.groups.contains_key(group)))
}

/// XREADGROUP without blocking. `ids` as given: `>` for new entries, an ID for the
/// consumer's history. A stream read with `>` that has nothing new is left out; a history
/// read always answers (maybe with no entries). None when nothing was answered.
pub fn xreadgroup(
    cx: &mut Ctx,
    group: &[u8],
    consumer: &[u8],
    keys: &[Bytes],
    ids: &[Bytes],
    count: usize,
    noack: bool,
) -> Result<Option<Served>, CmdError> {
    let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let mut g = cx.lock(&refs);
    // Every key, group and ID is checked before anything is read.
    let mut from = Vec::with_capacity(keys.len());
    for (k, id) in keys.iter().zip(ids) {
        let has = read_stream(&mut g, k)?.is_some_and(|s| s.groups.contains_key(group));
        if !has {
            return Err(CmdError::nogroup_read(k, group));
        }
        from.push(match &id[..] {
            b">" => None,
            b"$" => return Err(error::XREADGROUP_DOLLAR),
            _ => Some(parse_strict_id(id)?),
        });
    }
    let now = g.now;
    let mut out = Vec::new();
    for (k, from) in keys.iter().zip(from) {
        match from {
            None => {
                let existed = consumer_exists(&mut g, k, group, consumer);
                let got = g
                    .modify(k, |v| {
                        stream_of(v).read_group_new(group, consumer, count, noack, now)
                    })
                    .flatten()
                    .unwrap_or_default();
                if got.is_empty() {
                    continue;
                }
                log_new_consumer(&mut g, k, group, consumer, existed);
                log_group(&mut g, k, group);
                if !noack {
                    let ids: Vec<StreamId> = got.iter().map(|(id, _)| *id).collect();
                    log_pel(&mut g, k, group, &ids);
                }
                out.push((k.clone(), entries_reply(got)));
            }
            Some(after) => {
                let existed = consumer_exists(&mut g, k, group, consumer);
                let got = g
                    .modify(k, |v| {
                        stream_of(v).read_group_history(group, consumer, after, count, now)
                    })
                    .flatten()
                    .unwrap_or_default();
                log_new_consumer(&mut g, k, group, consumer, existed);
                let ids: Vec<StreamId> = got
                    .iter()
                    .filter(|(_, f)| f.is_some())
                    .map(|(id, _)| *id)
                    .collect();
                log_pel(&mut g, k, group, &ids);
                let entries = got
                    .into_iter()
                    .map(|(id, f)| match f {
                        Some(f) => entry_reply(id, f),
                        None => Reply::Array(vec![id_reply(id), Reply::NilArray]),
                    })
                    .collect();
                out.push((k.clone(), Reply::Array(entries)));
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

// ------------------------------------------------------------------ pending entries

/// The group of a stream for XACK, XPENDING, XCLAIM and XAUTOCLAIM; NOGROUP when the key
/// or the group is missing.
fn group_of<'s>(s: Option<&'s Stream>, key: &[u8], group: &[u8]) -> Result<&'s Group, CmdError> {
    s.and_then(|s| s.groups.get(group))
        .ok_or_else(|| CmdError::nogroup_key(key, group))
}

pub fn xack(cx: &mut Ctx, key: &[u8], group: &[u8], ids: &[StreamId]) -> Result<i64, CmdError> {
    let mut g = cx.lock(&[key]);
    if !read_stream(&mut g, key)?.is_some_and(|s| s.groups.contains_key(group)) {
        return Ok(0);
    }
    let acked = g
        .modify(key, |v| stream_of(v).ack(group, ids))
        .flatten()
        .unwrap_or_default();
    let n = acked.len() as i64;
    log_pel_del(&mut g, key, group, acked);
    Ok(n)
}

/// XPENDING's extended form.
#[derive(Debug, Clone, Copy)]
pub struct PendingRange<'a> {
    pub min_idle: u64,
    pub start: StreamId,
    pub end: StreamId,
    pub count: usize,
    pub consumer: Option<&'a [u8]>,
}

/// XPENDING key group: the summary.
pub fn xpending_summary(cx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let s = read_stream(&mut g, key)?;
    let grp = group_of(s, key, group)?;
    if grp.pel.is_empty() {
        return Ok(Reply::Array(vec![
            Reply::Int(0),
            Reply::Nil,
            Reply::Nil,
            Reply::NilArray,
        ]));
    }
    let first = *grp.pel.keys().next().expect("not empty");
    let last = *grp.pel.keys().next_back().expect("not empty");
    let mut per: std::collections::BTreeMap<&[u8], i64> = std::collections::BTreeMap::new();
    for p in grp.pel.values() {
        *per.entry(&p.consumer).or_default() += 1;
    }
    let consumers = per
        .into_iter()
        .map(|(c, n)| {
            Reply::Array(vec![
                Reply::Bulk(Bytes::copy_from_slice(c)),
                Reply::Bulk(Bytes::from(n.to_string())),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::Int(grp.pel.len() as i64),
        id_reply(first),
        id_reply(last),
        Reply::Array(consumers),
    ]))
}

pub fn xpending_range(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    r: PendingRange,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    let s = read_stream(&mut g, key)?;
    let grp = group_of(s, key, group)?;
    let mut out = Vec::new();
    if r.start <= r.end {
        for (id, p) in grp.pel.range(r.start..=r.end) {
            if out.len() >= r.count {
                break;
            }
            if r.consumer.is_some_and(|c| c != &p.consumer[..]) {
                continue;
            }
            let idle = now.saturating_sub(p.delivered_at);
            if r.min_idle > 0 && idle < r.min_idle {
                continue;
            }
            out.push(Reply::Array(vec![
                id_reply(*id),
                Reply::Bulk(Bytes::copy_from_slice(&p.consumer)),
                Reply::Int(idle as i64),
                Reply::Int(p.deliveries as i64),
            ]));
        }
    }
    Ok(Reply::Array(out))
}

/// XCLAIM: `last_id` is the LASTID option (the group's last-delivered ID moves up to it).
#[allow(clippy::too_many_arguments)]
pub fn xclaim(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    ids: &[StreamId],
    o: ClaimOpts,
    last_id: Option<StreamId>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    group_of(read_stream(&mut g, key)?, key, group)?;
    if let Some(l) = last_id {
        let moved = g
            .modify(key, |v| {
                let grp = stream_of(v).groups.get_mut(group).expect("checked");
                let up = l > grp.last_delivered;
                if up {
                    grp.last_delivered = l;
                }
                up
            })
            .unwrap_or(false);
        if moved {
            log_group(&mut g, key, group);
        }
    }
    let existed = consumer_exists(&mut g, key, group, consumer);
    let (claimed, fx) = g
        .modify(key, |v| {
            stream_of(v).claim(group, consumer, min_idle, ids, o, now)
        })
        .flatten()
        .unwrap_or_default();
    log_pel_del(&mut g, key, group, fx.dropped);
    if !claimed.is_empty() {
        log_new_consumer(&mut g, key, group, consumer, existed);
        log_pel(&mut g, key, group, &fx.set);
    }
    let s = read_stream(&mut g, key)?.expect("checked");
    let replies = claimed
        .into_iter()
        .map(|id| {
            if o.justid {
                id_reply(id)
            } else {
                entry_reply(id, s.entries.get(id).unwrap_or_default())
            }
        })
        .collect();
    Ok(Reply::Array(replies))
}

#[allow(clippy::too_many_arguments)]
pub fn xautoclaim(
    cx: &mut Ctx,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    start: StreamId,
    count: usize,
    justid: bool,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    group_of(read_stream(&mut g, key)?, key, group)?;
    let existed = consumer_exists(&mut g, key, group, consumer);
    let ac = g
        .modify(key, |v| {
            stream_of(v).autoclaim(group, consumer, min_idle, start, count, justid, now)
        })
        .flatten()
        .expect("checked");
    log_pel_del(&mut g, key, group, ac.deleted.clone());
    if !ac.claimed.is_empty() {
        log_new_consumer(&mut g, key, group, consumer, existed);
        let ids: Vec<StreamId> = ac.claimed.iter().map(|(id, _)| *id).collect();
        log_pel(&mut g, key, group, &ids);
    }
    let claimed = ac
        .claimed
        .into_iter()
        .map(|(id, f)| {
            if justid {
                id_reply(id)
            } else {
                entry_reply(id, f)
            }
        })
        .collect();
    Ok(Reply::Array(vec![
        id_reply(ac.next),
        Reply::Array(claimed),
        Reply::Array(ac.deleted.into_iter().map(id_reply).collect()),
    ]))
}

// ------------------------------------------------------------------ XINFO

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn opt_int(v: Option<u64>) -> Reply {
    v.map_or(Reply::Nil, |n| Reply::Int(n as i64))
}

fn group_summary(s: &Stream, name: &[u8], grp: &Group) -> Reply {
    Reply::Map(vec![
        (bulk("name"), Reply::Bulk(Bytes::copy_from_slice(name))),
        (bulk("consumers"), Reply::Int(grp.consumers.len() as i64)),
        (bulk("pending"), Reply::Int(grp.pel.len() as i64)),
        (bulk("last-delivered-id"), id_reply(grp.last_delivered)),
        (bulk("entries-read"), opt_int(grp.entries_read)),
        (bulk("lag"), opt_int(s.lag(grp))),
    ])
}

pub fn xinfo_groups(cx: &mut Ctx, key: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let s = read_stream(&mut g, key)?.ok_or(error::NO_SUCH_KEY)?;
    Ok(Reply::Array(
        s.groups
            .iter()
            .map(|(n, grp)| group_summary(s, n, grp))
            .collect(),
    ))
}

pub fn xinfo_consumers(cx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    let s = read_stream(&mut g, key)?.ok_or(error::NO_SUCH_KEY)?;
    let grp = s
        .groups
        .get(group)
        .ok_or_else(|| CmdError::nogroup(group, key))?;
    Ok(Reply::Array(
        grp.consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(Bytes::copy_from_slice(name))),
                    (
                        bulk("pending"),
                        Reply::Int(grp.consumer_pending(name) as i64),
                    ),
                    (
                        bulk("idle"),
                        Reply::Int(now.saturating_sub(c.seen_at) as i64),
                    ),
                ])
            })
            .collect(),
    ))
}

/// XINFO STREAM, or with FULL its entries (up to `count`, 0 = all) and groups in detail.
pub fn xinfo_stream(cx: &mut Ctx, key: &[u8], full: Option<usize>) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let now = g.now;
    let s = read_stream(&mut g, key)?.ok_or(error::NO_SUCH_KEY)?;
    let nodes = s.entries.nodes() as i64;
    let mut m = vec![
        (bulk("length"), Reply::Int(s.len() as i64)),
        (bulk("radix-tree-keys"), Reply::Int(nodes)),
        (bulk("radix-tree-nodes"), Reply::Int(nodes + 1)),
        (bulk("last-generated-id"), id_reply(s.last_id)),
        (bulk("max-deleted-entry-id"), id_reply(s.max_deleted)),
        (bulk("entries-added"), Reply::Int(s.entries_added as i64)),
        (bulk("recorded-first-entry-id"), id_reply(s.first_id())),
    ];
    let Some(count) = full else {
        m.push((bulk("groups"), Reply::Int(s.groups.len() as i64)));
        let edge =
            |e: Option<(StreamId, Fields)>| e.map_or(Reply::Nil, |(id, f)| entry_reply(id, f));
        m.push((bulk("first-entry"), edge(s.entries.first())));
        m.push((bulk("last-entry"), edge(s.entries.last())));
        return Ok(Reply::Map(m));
    };
    let limit = if count == 0 { usize::MAX } else { count };
    m.push((
        bulk("entries"),
        entries_reply(s.range(StreamId::MIN, StreamId::MAX, limit, false)),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, grp)| {
            let pel = grp
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(Bytes::copy_from_slice(&p.consumer)),
                        Reply::Int(p.delivered_at as i64),
                        Reply::Int(p.deliveries as i64),
                    ])
                })
                .collect();
            let consumers = grp
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let own: Vec<Reply> = grp
                        .pel
                        .iter()
                        .filter(|(_, p)| p.consumer == *cname)
                        .take(limit)
                        .map(|(id, p)| {
                            Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(p.delivered_at as i64),
                                Reply::Int(p.deliveries as i64),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(Bytes::copy_from_slice(cname))),
                        (bulk("seen-time"), Reply::Int(c.seen_at as i64)),
                        (
                            bulk("pel-count"),
                            Reply::Int(grp.consumer_pending(cname) as i64),
                        ),
                        (bulk("pending"), Reply::Array(own)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (bulk("name"), Reply::Bulk(Bytes::copy_from_slice(name))),
                (bulk("last-delivered-id"), id_reply(grp.last_delivered)),
                (bulk("entries-read"), opt_int(grp.entries_read)),
                (bulk("lag"), opt_int(s.lag(grp))),
                (bulk("pel-count"), Reply::Int(grp.pel.len() as i64)),
                (bulk("pending"), Reply::Array(pel)),
                (bulk("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    let _ = now;
    m.push((bulk("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

// ------------------------------------------------------------------ replay and snapshots

/// Replays a stream effect. Effects on a key that holds another type are ignored.
pub(crate) fn apply(g: &mut Guard<'_>, e: &Effect, lim: super::NodeLimits) {
    let key: &[u8] = match e {
        Effect::XAdd { key, .. }
        | Effect::XTrim { key, .. }
        | Effect::XDel { key, .. }
        | Effect::XSetId { key, .. }
        | Effect::XGroupSet { key, .. }
        | Effect::XGroupDestroy { key, .. }
        | Effect::XConsumerSet { key, .. }
        | Effect::XConsumerDel { key, .. }
        | Effect::XPelSet { key, .. }
        | Effect::XPelDel { key, .. } => key,
        _ => return,
    };
    match g.peek(key) {
        Some(en) if en.value.kind() != Kind::Stream => return,
        Some(_) => {}
        None => {
            if !matches!(e, Effect::XAdd { .. } | Effect::XSetId { .. }) {
                return;
            }
            g.set(key, new_stream(), Ttl::Clear);
        }
    }
    g.modify(key, |v| {
        let s = stream_of(v);
        match e {
            Effect::XAdd { id, fields, .. } => s.insert(*id, fields, lim),
            Effect::XTrim { count, .. } => s.entries.remove_first(*count as usize),
            Effect::XDel { ids, .. } => {
                s.delete(ids);
            }
            Effect::XSetId {
                last,
                entries_added,
                max_deleted,
                ..
            } => {
                s.last_id = *last;
                s.entries_added = *entries_added;
                s.max_deleted = *max_deleted;
            }
            Effect::XGroupSet {
                group,
                last,
                entries_read,
                ..
            } => {
                let grp = s.groups.entry(group.clone()).or_default();
                grp.last_delivered = *last;
                grp.entries_read = *entries_read;
            }
            Effect::XGroupDestroy { group, .. } => {
                s.groups.remove(group);
            }
            Effect::XConsumerSet {
                group,
                consumer,
                seen_at,
                active_at,
                ..
            } => {
                if let Some(grp) = s.groups.get_mut(group) {
                    let c = grp.consumers.entry(consumer.clone()).or_default();
                    c.seen_at = *seen_at;
                    c.active_at = *active_at;
                }
            }
            Effect::XConsumerDel {
                group, consumer, ..
            } => {
                s.delete_consumer(group, consumer);
            }
            Effect::XPelSet { group, entries, .. } => {
                if let Some(grp) = s.groups.get_mut(group) {
                    for (id, consumer, at, n) in entries {
                        grp.consumers.entry(consumer.clone()).or_default();
                        grp.pel.insert(
                            *id,
                            Pending {
                                consumer: consumer.clone(),
                                delivered_at: *at,
                                deliveries: *n,
                            },
                        );
                    }
                }
            }
            Effect::XPelDel { group, ids, .. } => {
                if let Some(grp) = s.groups.get_mut(group) {
                    for id in ids {
                        grp.pel.remove(id);
                    }
                }
            }
            _ => {}
        }
    });
}

/// The effects that recreate a stream, in chunks of about `chunk` items: its entries, its
/// counters (after the entries, whose insertion moves them), then each group with its
/// consumers and pending entries.
pub fn key_effects(db: u32, key: &[u8], s: &Stream, chunk: usize) -> Vec<Vec<Effect>> {
    let k = || key.to_vec();
    let mut out: Vec<Vec<Effect>> = Vec::new();
    let mut batch = Vec::new();
    for (id, fields) in s.entries.all() {
        batch.push(Effect::XAdd {
            db,
            key: k(),
            id,
            fields,
        });
        if batch.len() >= chunk {
            out.push(std::mem::take(&mut batch));
        }
    }
    batch.push(Effect::XSetId {
        db,
        key: k(),
        last: s.last_id,
        entries_added: s.entries_added,
        max_deleted: s.max_deleted,
    });
    out.push(std::mem::take(&mut batch));
    for (name, grp) in &s.groups {
        let mut batch = vec![Effect::XGroupSet {
            db,
            key: k(),
            group: name.clone(),
            last: grp.last_delivered,
            entries_read: grp.entries_read,
        }];
        for (cname, c) in &grp.consumers {
            batch.push(Effect::XConsumerSet {
                db,
                key: k(),
                group: name.clone(),
                consumer: cname.clone(),
                seen_at: c.seen_at,
                active_at: c.active_at,
            });
        }
        out.push(batch);
        let pel: Vec<PelEntry> = grp
            .pel
            .iter()
            .map(|(id, p)| (*id, p.consumer.clone(), p.delivered_at, p.deliveries))
            .collect();
        for c in pel.chunks(chunk.max(1)) {
            out.push(vec![Effect::XPelSet {
                db,
                key: k(),
                group: name.clone(),
                entries: c.to_vec(),
            }]);
        }
    }
    out
}
