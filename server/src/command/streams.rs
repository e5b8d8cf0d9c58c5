//! Stream commands: XADD, XRANGE and friends, consumer groups, XREAD/XREADGROUP (blocking
//! too) and XINFO. Arguments are read in Redis 7.0's order, so the first error a command
//! meets is the one Redis reports.

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;
use strata_engine::types::stream::ops::{
    self as x, parse_strict_id, range_end, range_start, AddArgs, GroupStart, PendingRange, TrimArgs,
};
use strata_engine::types::stream::{ClaimOpts, NewId, StreamId, Trim};
use strata_engine::types::{exists_as, Kind};

use super::connection::help_reply;
use super::{block_rerun, reply, subcommand, Call};
use crate::resp::Proto;

handlers!(
    xadd, xlen, xrange, xrevrange, xdel, xtrim, xsetid, xread, xreadgroup, xack, xpending, xclaim,
    xautoclaim,
);

/// Redis's getLongLongFromObjectOrReply.
fn long(b: &[u8]) -> Result<i64, CmdError> {
    number::parse_i64(b).ok_or(error::NOT_INTEGER)
}

/// The trimming options XADD and XTRIM share, from argument 2. For XADD, parsing stops at
/// the entry ID (returned with its position); XTRIM takes options only.
struct Parsed {
    trim: Option<TrimArgs>,
    nomkstream: bool,
    id: Option<(NewId, usize)>,
}

fn parse_add_or_trim(call: &Call, xadd: bool) -> Result<Parsed, CmdError> {
    let args = call.args;
    let mut how: Option<Trim> = None;
    let mut approx = false;
    let mut limit: Option<i64> = None;
    let mut nomkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if xadd && &a[..] == b"*" {
            id = Some((NewId::Auto, i));
            break;
        }
        let is_maxlen = a.eq_ignore_ascii_case(b"MAXLEN");
        if (is_maxlen || a.eq_ignore_ascii_case(b"MINID")) && more >= 1 {
            if how.is_some() {
                return Err(error::XTRIM_BOTH);
            }
            approx = false;
            let next = &args[i + 1];
            if more >= 2 && (&next[..] == b"~" || &next[..] == b"=") {
                approx = &next[..] == b"~";
                i += 1;
            }
            let v = &args[i + 1];
            how = Some(if is_maxlen {
                let n = long(v)?;
                if n < 0 {
                    return Err(error::XMAXLEN_NEGATIVE);
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(v)?)
            });
            i += 2;
            continue;
        }
        if a.eq_ignore_ascii_case(b"LIMIT") && more >= 1 {
            let n = long(&args[i + 1])?;
            if n < 0 {
                return Err(error::XLIMIT_NEGATIVE);
            }
            limit = Some(n);
            i += 2;
            continue;
        }
        if xadd && a.eq_ignore_ascii_case(b"NOMKSTREAM") {
            nomkstream = true;
            i += 1;
            continue;
        }
        if xadd {
            id = Some((NewId::parse(a).ok_or(error::STREAM_ID_INVALID)?, i));
            break;
        }
        return Err(error::SYNTAX);
    }
    if limit.is_some_and(|n| n != 0) && how.is_none() {
        return Err(error::XLIMIT_NO_STRATEGY);
    }
    if !xadd && how.is_none() {
        return Err(error::XTRIM_NO_STRATEGY);
    }
    if limit.is_some() && !approx {
        return Err(error::XLIMIT_NOT_APPROX);
    }
    let limit = match limit {
        Some(n) => n as usize,
        None if approx => {
            let per = call.srv.engine.limits().stream_node.entries as i64;
            match per.saturating_mul(100) {
                n if n <= 0 => 10_000,
                n if n > 1_000_000 => 1_000_000,
                n => n as usize,
            }
        }
        None => 0,
    };
    Ok(Parsed {
        trim: how.map(|how| TrimArgs { how, approx, limit }),
        nomkstream,
        id,
    })
}

/// Reads XREAD's, XREADGROUP's and XCLAIM's `ms` arguments.
fn block_ms(b: &[u8]) -> Result<u64, CmdError> {
    let n = number::parse_i64(b).ok_or(error::XREAD_TIMEOUT_INVALID)?;
    if n < 0 {
        return Err(error::TIMEOUT_NEGATIVE);
    }
    Ok(n as u64)
}

/// XREAD/XREADGROUP's reply: an array of `[key, entries]` in RESP2, a map in RESP3.
fn streams_reply(call: &Call, streams: Vec<(Bytes, Reply)>) -> Reply {
    if call.client.proto == Proto::Resp3 {
        Reply::Map(
            streams
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            streams
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

struct ReadArgs {
    count: usize,
    block: Option<u64>,
    noack: bool,
    group: Option<(Bytes, Bytes)>,
    /// Where the keys start; the IDs follow them.
    streams_at: usize,
}

fn parse_read(call: &Call, group_cmd: bool) -> Result<ReadArgs, CmdError> {
    let args = call.args;
    let mut r = ReadArgs {
        count: 0,
        block: None,
        noack: false,
        group: None,
        streams_at: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"BLOCK") && more >= 1 {
            if call.client.in_script {
                return Err(CmdError::owned(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(&args[0])
                )));
            }
            r.block = Some(block_ms(&args[i + 1])?);
            i += 2;
        } else if a.eq_ignore_ascii_case(b"COUNT") && more >= 1 {
            r.count = long(&args[i + 1])?.max(0) as usize;
            i += 2;
        } else if a.eq_ignore_ascii_case(b"STREAMS") && more >= 1 {
            if !more.is_multiple_of(2) {
                return Err(error::XREAD_UNBALANCED);
            }
            r.streams_at = i + 1;
            break;
        } else if a.eq_ignore_ascii_case(b"GROUP") && more >= 2 {
            if !group_cmd {
                return Err(error::XREAD_GROUP_OPTION);
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if a.eq_ignore_ascii_case(b"NOACK") {
            if !group_cmd {
                return Err(error::XREAD_NOACK_GROUP);
            }
            r.noack = true;
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
    }
    if r.streams_at == 0 {
        return Err(error::SYNTAX);
    }
    if group_cmd && r.group.is_none() {
        return Err(error::XREADGROUP_MISSING_GROUP);
    }
    Ok(r)
}

/// XCLAIM and XAUTOCLAIM's min-idle-time: an integer, negative read as 0.
fn min_idle(b: &[u8], err: CmdError) -> Result<u64, CmdError> {
    Ok(number::parse_i64(b).ok_or(err)?.max(0) as u64)
}

mod imp {
    use super::*;

    pub fn xadd(call: &mut Call) -> Result<Reply, CmdError> {
        let p = parse_add_or_trim(call, true)?;
        let args = call.args;
        let Some((id, at)) = p.id else {
            return Err(CmdError::wrong_arity("xadd"));
        };
        let rest = &args[at + 1..];
        if rest.len() < 2 || rest.len() % 2 == 1 {
            return Err(CmdError::wrong_arity("xadd"));
        }
        if id == NewId::Explicit(StreamId::MIN) {
            return Err(error::XADD_ID_ZERO);
        }
        let fields = rest
            .chunks(2)
            .map(|c| (c[0].to_vec(), c[1].to_vec()))
            .collect();
        let a = AddArgs {
            nomkstream: p.nomkstream,
            id,
            trim: p.trim,
        };
        let k = call.arg(1).clone();
        x::xadd(&mut call.cx(), &k, &a, fields)
    }

    pub fn xlen(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        x::xlen(&mut call.cx(), &k).map(Reply::Int)
    }

    fn range(call: &mut Call, rev: bool) -> Result<Reply, CmdError> {
        let args = call.args;
        let (lo_arg, hi_arg) = if rev {
            (&args[3], &args[2])
        } else {
            (&args[2], &args[3])
        };
        let start = range_start(lo_arg)?;
        let end = range_end(hi_arg)?;
        let mut count = None;
        let mut i = 4;
        while i < args.len() {
            if args[i].eq_ignore_ascii_case(b"COUNT") && i + 1 < args.len() {
                count = Some(long(&args[i + 1])?.max(0) as usize);
                i += 2;
            } else {
                return Err(error::SYNTAX);
            }
        }
        let k = call.arg(1).clone();
        let (lo, hi) = if rev { (end, start) } else { (start, end) };
        x::xrange(&mut call.cx(), &k, lo, hi, count, rev)
    }

    pub fn xrange(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, false)
    }

    pub fn xrevrange(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, true)
    }

    pub fn xdel(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        if !exists_as(&mut call.cx(), &k, Kind::Stream)? {
            return Ok(Reply::Int(0));
        }
        let ids = call.args[2..]
            .iter()
            .map(|a| parse_strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        x::xdel(&mut call.cx(), &k, &ids).map(Reply::Int)
    }

    pub fn xtrim(call: &mut Call) -> Result<Reply, CmdError> {
        let p = parse_add_or_trim(call, false)?;
        let k = call.arg(1).clone();
        let t = p.trim.expect("XTRIM requires a strategy");
        x::xtrim(&mut call.cx(), &k, t).map(Reply::Int)
    }

    pub fn xsetid(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let id = parse_strict_id(&args[2])?;
        let mut added = None;
        let mut max_del = None;
        let mut i = 3;
        while i < args.len() {
            let more = i + 1 < args.len();
            if args[i].eq_ignore_ascii_case(b"ENTRIESADDED") && more {
                let n = long(&args[i + 1])?;
                if n < 0 {
                    return Err(error::XSETID_ENTRIES_ADDED_NEGATIVE);
                }
                added = Some(n as u64);
            } else if args[i].eq_ignore_ascii_case(b"MAXDELETEDID") && more {
                let m = parse_strict_id(&args[i + 1])?;
                if id < m {
                    return Err(error::XSETID_BELOW_ARG_MAX_DELETED);
                }
                max_del = Some(m);
            } else {
                return Err(error::SYNTAX);
            }
            i += 2;
        }
        let k = call.arg(1).clone();
        x::xsetid(&mut call.cx(), &k, id, added, max_del)
    }

    pub fn xread(call: &mut Call) -> Result<Reply, CmdError> {
        let r = parse_read(call, false)?;
        let args = call.args;
        let n = (args.len() - r.streams_at) / 2;
        let keys = &args[r.streams_at..r.streams_at + n];
        let ids = &args[r.streams_at + n..];
        let count = if r.count == 0 { usize::MAX } else { r.count };
        let (got, from) = x::xread(&mut call.cx(), keys, ids, count)?;
        if let Some(streams) = got {
            return Ok(streams_reply(call, streams));
        }
        let Some(timeout) = r.block else {
            return Ok(Reply::NilArray);
        };
        // Woken, the command runs again: with `$` resolved to the IDs it had now, so entries
        // added meanwhile are seen.
        let mut rerun = args[..r.streams_at + n].to_vec();
        rerun.extend(from.iter().map(|id| Bytes::from(id.to_string())));
        Ok(block_rerun(
            call,
            keys,
            timeout,
            Reply::NilArray,
            Some(rerun),
        ))
    }

    pub fn xreadgroup(call: &mut Call) -> Result<Reply, CmdError> {
        let r = parse_read(call, true)?;
        let args = call.args;
        let n = (args.len() - r.streams_at) / 2;
        let keys = &args[r.streams_at..r.streams_at + n];
        let ids = &args[r.streams_at + n..];
        let (group, consumer) = r.group.clone().expect("checked by parse_read");
        let count = if r.count == 0 { usize::MAX } else { r.count };
        let got = match x::xreadgroup(&mut call.cx(), &group, &consumer, keys, ids, count, r.noack)
        {
            // Woken after the stream or the group went away.
            Err(e) if call.client.rerunning && e.code() == "NOGROUP" => {
                for k in keys {
                    if !exists_as(&mut call.cx(), k, Kind::Stream)? {
                        return Err(error::XREADGROUP_KEY_GONE);
                    }
                }
                return Err(error::XREADGROUP_GROUP_GONE);
            }
            r => r?,
        };
        if let Some(streams) = got {
            return Ok(streams_reply(call, streams));
        }
        let Some(timeout) = r.block else {
            return Ok(Reply::NilArray);
        };
        Ok(block_rerun(call, keys, timeout, Reply::NilArray, None))
    }

    pub fn xack(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, g) = (call.arg(1).clone(), call.arg(2).clone());
        if !x::group_exists(&mut call.cx(), &k, &g)? {
            return Ok(Reply::Int(0));
        }
        let ids = call.args[3..]
            .iter()
            .map(|a| parse_strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        x::xack(&mut call.cx(), &k, &g, &ids).map(Reply::Int)
    }

    pub fn xpending(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let argc = args.len();
        if argc != 3 && !(6..=9).contains(&argc) {
            return Err(error::SYNTAX);
        }
        let (k, g) = (call.arg(1).clone(), call.arg(2).clone());
        if argc == 3 {
            return x::xpending_summary(&mut call.cx(), &k, &g);
        }
        let mut at = 3;
        let mut idle = 0;
        if args[3].eq_ignore_ascii_case(b"IDLE") {
            idle = long(&args[4])?.max(0) as u64;
            if argc < 8 {
                return Err(error::SYNTAX);
            }
            at += 2;
        }
        let count = long(&args[at + 2])?.max(0) as usize;
        let start = range_start(&args[at])?;
        let end = range_end(&args[at + 1])?;
        let consumer = args.get(at + 3).map(|c| &c[..]);
        let r = PendingRange {
            min_idle: idle,
            start,
            end,
            count,
            consumer,
        };
        x::xpending_range(&mut call.cx(), &k, &g, r)
    }

    pub fn xclaim(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let (k, g, c) = (
            call.arg(1).clone(),
            call.arg(2).clone(),
            call.arg(3).clone(),
        );
        if !x::group_exists(&mut call.cx(), &k, &g)? {
            return Err(CmdError::nogroup_key(&k, &g));
        }
        let idle = min_idle(&args[4], error::XCLAIM_MIN_IDLE)?;
        let mut i = 5;
        let mut ids = Vec::new();
        while i < args.len() {
            match parse_strict_id(&args[i]) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            i += 1;
        }
        let now = call.srv.engine.now_ms();
        let mut o = ClaimOpts::default();
        let mut delivered: Option<i64> = None;
        let mut last_id = None;
        while i < args.len() {
            let a = &args[i];
            let more = i + 1 < args.len();
            if a.eq_ignore_ascii_case(b"FORCE") {
                o.force = true;
            } else if a.eq_ignore_ascii_case(b"JUSTID") {
                o.justid = true;
            } else if a.eq_ignore_ascii_case(b"IDLE") && more {
                let ms = number::parse_i64(&args[i + 1]).ok_or(error::XCLAIM_IDLE)?;
                delivered = Some((now as i64).saturating_sub(ms));
                i += 1;
            } else if a.eq_ignore_ascii_case(b"TIME") && more {
                delivered = Some(number::parse_i64(&args[i + 1]).ok_or(error::XCLAIM_TIME)?);
                i += 1;
            } else if a.eq_ignore_ascii_case(b"RETRYCOUNT") && more {
                let n = number::parse_i64(&args[i + 1]).ok_or(error::XCLAIM_RETRYCOUNT)?;
                o.retry_count = Some(n as u64);
                i += 1;
            } else if a.eq_ignore_ascii_case(b"LASTID") && more {
                last_id = Some(parse_strict_id(&args[i + 1])?);
                i += 1;
            } else {
                return Err(CmdError::owned(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(a)
                )));
            }
            i += 1;
        }
        o.delivered_at = Some(match delivered {
            Some(t) if t >= 0 && t as u64 <= now => t as u64,
            _ => now,
        });
        x::xclaim(&mut call.cx(), &k, &g, &c, idle, &ids, o, last_id)
    }

    pub fn xautoclaim(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let idle = min_idle(&args[4], error::XAUTOCLAIM_MIN_IDLE)?;
        let start = range_start(&args[5])?;
        let mut count = 100usize;
        let mut justid = false;
        let mut i = 6;
        while i < args.len() {
            let a = &args[i];
            if a.eq_ignore_ascii_case(b"COUNT") && i + 1 < args.len() {
                let n = number::parse_i64(&args[i + 1])
                    .filter(|n| (1..=i64::MAX / 10).contains(n))
                    .ok_or(error::XAUTOCLAIM_COUNT)?;
                count = n as usize;
                i += 2;
            } else if a.eq_ignore_ascii_case(b"JUSTID") {
                justid = true;
                i += 1;
            } else {
                return Err(error::SYNTAX);
            }
        }
        let (k, g, c) = (
            call.arg(1).clone(),
            call.arg(2).clone(),
            call.arg(3).clone(),
        );
        if !x::group_exists(&mut call.cx(), &k, &g)? {
            return Err(CmdError::nogroup_key(&k, &g));
        }
        x::xautoclaim(&mut call.cx(), &k, &g, &c, idle, start, count, justid)
    }
}

// ------------------------------------------------------------------ XGROUP and XINFO

pub fn xgroup(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("CREATE", -5, |c| {
                c.effects.cmd = "xgroup|create";
                reply(group_create(c))
            }),
            ("SETID", -5, |c| {
                c.effects.cmd = "xgroup|setid";
                reply(group_setid(c))
            }),
            ("DESTROY", 4, |c| {
                let (k, g) = (c.arg(2).clone(), c.arg(3).clone());
                reply(x::xgroup_destroy(&mut c.cx(), &k, &g).map(Reply::Int))
            }),
            ("CREATECONSUMER", 5, |c| {
                c.effects.cmd = "xgroup|createconsumer";
                let (k, g, n) = (c.arg(2).clone(), c.arg(3).clone(), c.arg(4).clone());
                reply(x::xgroup_createconsumer(&mut c.cx(), &k, &g, &n).map(Reply::Int))
            }),
            ("DELCONSUMER", 5, |c| {
                let (k, g, n) = (c.arg(2).clone(), c.arg(3).clone(), c.arg(4).clone());
                reply(x::xgroup_delconsumer(&mut c.cx(), &k, &g, &n).map(Reply::Int))
            }),
            ("HELP", 2, |_| {
                help_reply(
                    "XGROUP",
                    &[
                        "CREATE <key> <groupname> <id|$> [option]",
                        "    Create a new consumer group. Options are:",
                        "    * MKSTREAM",
                        "      Create the empty stream if it does not exist.",
                        "    * ENTRIESREAD entries_read",
                        "      Set the group's entries_read counter (internal use).",
                        "CREATECONSUMER <key> <groupname> <consumer>",
                        "    Create a new consumer in the specified group.",
                        "DELCONSUMER <key> <groupname> <consumer>",
                        "    Remove the specified consumer.",
                        "DESTROY <key> <groupname>",
                        "    Remove the specified group.",
                        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                        "    Set the current group ID and entries_read counter.",
                    ],
                )
            }),
        ],
    )
}

/// XGROUP CREATE/SETID's options from argument 5: MKSTREAM (CREATE only) and ENTRIESREAD.
fn group_options(call: &Call, create: bool) -> Result<(bool, Option<u64>), CmdError> {
    let args = call.args;
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < args.len() {
        if create && args[i].eq_ignore_ascii_case(b"MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if args[i].eq_ignore_ascii_case(b"ENTRIESREAD") && i + 1 < args.len() {
            let n = long(&args[i + 1])?;
            if n < -1 {
                return Err(error::ENTRIESREAD_INVALID);
            }
            entries_read = (n >= 0).then_some(n as u64);
            i += 2;
        } else {
            return Err(CmdError::subcommand_syntax(&args[1], "XGROUP"));
        }
    }
    Ok((mkstream, entries_read))
}

fn group_create(call: &mut Call) -> Result<Reply, CmdError> {
    if call.args.len() > 8 {
        return Err(CmdError::subcommand_syntax(&call.args[1], "XGROUP"));
    }
    let (mkstream, entries_read) = group_options(call, true)?;
    let (k, g, id) = (
        call.arg(2).clone(),
        call.arg(3).clone(),
        call.arg(4).clone(),
    );
    x::xgroup_create(
        &mut call.cx(),
        &k,
        &g,
        GroupStart::of(&id),
        mkstream,
        entries_read,
    )
}

fn group_setid(call: &mut Call) -> Result<Reply, CmdError> {
    let argc = call.args.len();
    if argc != 5 && argc != 7 {
        return Err(CmdError::subcommand_syntax(&call.args[1], "XGROUP"));
    }
    let (_, entries_read) = group_options(call, false)?;
    let (k, g, id) = (
        call.arg(2).clone(),
        call.arg(3).clone(),
        call.arg(4).clone(),
    );
    x::xgroup_setid(&mut call.cx(), &k, &g, GroupStart::of(&id), entries_read)
}

pub fn xinfo(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("CONSUMERS", 4, |c| {
                let (k, g) = (c.arg(2).clone(), c.arg(3).clone());
                reply(x::xinfo_consumers(&mut c.cx(), &k, &g))
            }),
            ("GROUPS", 3, |c| {
                let k = c.arg(2).clone();
                reply(x::xinfo_groups(&mut c.cx(), &k))
            }),
            ("STREAM", -3, |c| reply(info_stream(c))),
            ("HELP", 2, |_| {
                help_reply(
                    "XINFO",
                    &[
                        "CONSUMERS <key> <groupname>",
                        "    Show consumers of <groupname>.",
                        "GROUPS <key>",
                        "    Show the stream consumer groups.",
                        "STREAM <key> [FULL [COUNT <count>]",
                        "    Show information about the stream.",
                    ],
                )
            }),
        ],
    )
}

fn info_stream(call: &mut Call) -> Result<Reply, CmdError> {
    let args = call.args;
    let full = match args.len() {
        3 => None,
        4 if args[3].eq_ignore_ascii_case(b"FULL") => Some(10),
        6 if args[3].eq_ignore_ascii_case(b"FULL") && args[4].eq_ignore_ascii_case(b"COUNT") => {
            let n = long(&args[5])?;
            Some(if n < 0 { 10 } else { n as usize })
        }
        _ => return Err(CmdError::subcommand_syntax(&args[1], "XINFO")),
    };
    let k = call.arg(2).clone();
    x::xinfo_stream(&mut call.cx(), &k, full)
}
