//! The command table and dispatch. One table (in `table.rs`) gives every command its name,
//! arity, flags, key positions and ACL categories; dispatch, arity errors, MULTI queueing and
//! `COMMAND` all read it. The handlers live one file per family.

/// Defines the table's handlers from `imp::name` functions that return a `Result`, turning an
/// error into an error reply (for the families written that way).
macro_rules! handlers {
    ($($name:ident),* $(,)?) => {
        $(pub fn $name(call: &mut Call) -> Reply {
            imp::$name(call).unwrap_or_else(Reply::Error)
        })*
    };
}

pub mod bitmaps;
pub mod connection;
pub mod hashes;
pub mod hll;
pub mod json;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod search;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod table;
pub mod transactions;
pub mod zsets;

use bytes::Bytes;
use strata_engine::ctx::Ctx;
use strata_engine::effect::Effects;
use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;

use crate::client::Client;
use crate::server::Server;

pub type Handler = fn(&mut Call) -> Reply;

/// Command flags, as in Redis's command table.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLE_KEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    /// Runs even inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    pub const TX_CONTROL: u32 = 1 << 24;
    /// Needs the engine's exclusive gate (touches several databases or the whole keyspace).
    pub const EXCLUSIVE: u32 = 1 << 25;

    pub const NAMES: [(u32, &str); 17] = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub struct Cmd {
    pub name: &'static str,
    /// Redis's arity: positive = exact argument count (name included), negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    /// Negative counts from the end (-1 = last argument).
    pub last_key: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
}

impl Cmd {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Positions of the key arguments in a whole command (name first), for COMMAND GETKEYS:
    /// the key spec, or for commands with movable keys (a `numkeys` argument, SORT's STORE)
    /// the positions that argument gives.
    pub fn keys_in(&self, args: &[Bytes]) -> Vec<usize> {
        if !self.has(flag::MOVABLE_KEYS) {
            return self.key_positions(args.len());
        }
        let numkeys = |at: usize| -> Vec<usize> {
            let n = args
                .get(at)
                .and_then(|a| number::parse_i64(a))
                .filter(|&n| n > 0 && (n as usize) < args.len() - at)
                .unwrap_or(0) as usize;
            (at + 1..at + 1 + n).collect()
        };
        match self.name {
            "zunionstore" | "zinterstore" | "zdiffstore" => {
                let mut v = vec![1];
                v.extend(numkeys(2));
                v
            }
            "sort" => {
                let mut v = vec![1];
                let store = args
                    .iter()
                    .enumerate()
                    .skip(2)
                    .find(|(_, a)| a.eq_ignore_ascii_case(b"STORE"))
                    .map(|(i, _)| i + 1)
                    .filter(|&i| i < args.len());
                v.extend(store);
                v
            }
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
            | "bzmpop" => numkeys(2),
            "xread" | "xreadgroup" => {
                // The keys are the first half of what follows STREAMS (XREADGROUP's group
                // and consumer names come first, and may be called STREAMS themselves).
                let from = if self.name == "xread" { 1 } else { 4 };
                let Some(at) = args
                    .iter()
                    .skip(from)
                    .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))
                    .map(|p| p + from)
                else {
                    return Vec::new();
                };
                let n = (args.len() - at - 1) / 2;
                (at + 1..at + 1 + n).collect()
            }
            _ => numkeys(1),
        }
    }

    /// Positions of the key arguments, from the key spec.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        if self.first_key <= 0 || argc == 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1) as usize;
        (self.first_key as usize..=last.max(0) as usize)
            .step_by(step)
            .filter(|&i| i < argc)
            .collect()
    }
}

/// One command being executed.
pub struct Call<'a> {
    pub srv: &'a Server,
    pub client: &'a mut Client,
    pub args: &'a [Bytes],
    pub effects: &'a mut Effects,
}

impl<'a> Call<'a> {
    pub fn cx(&mut self) -> Ctx<'_> {
        let mut cx = Ctx::new(&self.srv.engine, self.client.db, self.effects);
        cx.touch = !self.client.no_touch;
        cx
    }

    pub fn arg(&self, i: usize) -> &Bytes {
        &self.args[i]
    }

    /// The argument as an ASCII-uppercased string, for option matching.
    pub fn upper(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.args[i]).to_ascii_uppercase()
    }

    pub fn int(&self, i: usize) -> Result<i64, CmdError> {
        parse_int(&self.args[i])
    }

    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_lowercase()
    }
}

/// Redis's getIntFromObjectOrReply: an integer that must also fit in a C int.
pub fn parse_int32(b: &[u8]) -> Result<i32, CmdError> {
    let v = number::parse_i64(b).ok_or(error::NOT_INTEGER)?;
    i32::try_from(v).map_err(|_| error::NOT_INT32)
}

/// The optional count of LPOP, SPOP, ZPOPMIN and friends at argument `at`: a non-negative
/// integer, anything else "value is out of range, must be positive".
pub fn optional_count(args: &[Bytes], at: usize) -> Result<Option<usize>, CmdError> {
    args.get(at)
        .map(|a| {
            number::parse_i64(a)
                .filter(|&n| n >= 0)
                .map(|n| n as usize)
                .ok_or(error::OUT_OF_RANGE)
        })
        .transpose()
}

/// LMPOP and ZMPOP's `[COUNT n]` from argument `i`: at most once, n > 0, 1 without it.
/// A blocking command found nothing: inside MULTI/EXEC or a script it answers `on_timeout` at
/// once (as Redis does); otherwise the connection waits on `keys` and runs the command again.
pub fn block(call: &mut Call, keys: &[Bytes], timeout_ms: u64, on_timeout: Reply) -> Reply {
    block_rerun(call, keys, timeout_ms, on_timeout, None)
}

/// [`block`], running `rerun` instead of the command's own arguments when woken (XREAD
/// resolves `$` to IDs first, so it sees what is added while it waits).
pub fn block_rerun(
    call: &mut Call,
    keys: &[Bytes],
    timeout_ms: u64,
    on_timeout: Reply,
    rerun: Option<Vec<Bytes>>,
) -> Reply {
    if call.effects.deferred {
        return on_timeout;
    }
    call.client.blocked = Some(crate::blocking::Blocked {
        keys: keys.to_vec(),
        db: call.client.db,
        timeout_ms,
        on_timeout,
        rerun,
    });
    // Not sent: the connection answers once the wait ends.
    Reply::NilArray
}

pub fn mpop_count(args: &[Bytes], mut i: usize) -> Result<usize, CmdError> {
    let mut count = None;
    while i < args.len() {
        if !args[i].eq_ignore_ascii_case(b"COUNT") || count.is_some() || i + 1 >= args.len() {
            return Err(error::SYNTAX);
        }
        count = Some(
            number::parse_i64(&args[i + 1])
                .filter(|&n| n > 0)
                .ok_or(error::COUNT_POSITIVE)? as usize,
        );
        i += 2;
    }
    Ok(count.unwrap_or(1))
}

/// A SCAN cursor, read as Redis's strtoul does ("-1" is 2^64-1).
pub fn parse_cursor(a: &[u8]) -> Result<u64, CmdError> {
    number::parse_u64(a)
        .or_else(|| number::parse_i64(a).map(|v| v as u64))
        .ok_or(error::INVALID_CURSOR)
}

pub fn parse_int(b: &[u8]) -> Result<i64, CmdError> {
    number::parse_i64(b).ok_or(error::NOT_INTEGER)
}

/// Runs `f`, turning an error into an error reply.
pub fn reply(r: Result<Reply, CmdError>) -> Reply {
    r.unwrap_or_else(Reply::Error)
}

/// Dispatches a subcommand: `subs` lists (name, arity, handler) with Redis's subcommand arity
/// rules (arity counts the command and subcommand).
pub fn subcommand(call: &mut Call, subs: &[(&'static str, i32, Handler)]) -> Reply {
    let cmd = call.name();
    let sub = call.upper(1);
    for (name, arity, h) in subs {
        if name.eq_ignore_ascii_case(&sub) {
            call.client.info.last_cmd.lock().1 = Some(name);
            let argc = call.args.len() as i32;
            let ok = if *arity >= 0 {
                argc == *arity
            } else {
                argc >= -*arity
            };
            if !ok {
                return Reply::Error(CmdError::wrong_subcommand_arity(&cmd, &sub));
            }
            return h(call);
        }
    }
    Reply::Error(CmdError::unknown_subcommand(&call.args[1], &cmd))
}

use std::sync::atomic::Ordering;
use strata_engine::effect::Effects as EffectList;

/// Executes one parsed command for a client: lookup, arity, authentication, MULTI queueing,
/// maxmemory, the engine gate, then the handler.
pub fn execute(srv: &Server, client: &mut Client, args: &[Bytes]) -> Reply {
    srv.stats.total_commands.add(1);
    let Some(cmd) = table::lookup(&args[0]) else {
        flag_multi_abort(client);
        return Reply::Error(CmdError::unknown_command(&args[0], &args[1..]));
    };
    *client.info.last_cmd.lock() = (cmd.name, None);
    if !cmd.arity_ok(args.len()) {
        return reject(srv, client, cmd, CmdError::wrong_arity(cmd.name));
    }
    if !client.authenticated && !cmd.has(flag::NO_AUTH) {
        return reject(srv, client, cmd, error::NOAUTH);
    }
    // A RESP2 connection with subscriptions only takes pub/sub commands, PING, QUIT and RESET.
    if client.proto == crate::resp::Proto::Resp2
        && client.subs.as_ref().is_some_and(|s| s.active())
        && !matches!(
            cmd.name,
            "subscribe"
                | "ssubscribe"
                | "psubscribe"
                | "unsubscribe"
                | "sunsubscribe"
                | "punsubscribe"
                | "ping"
                | "quit"
                | "reset"
        )
    {
        return reject(srv, client, cmd, CmdError::subscribed_context(cmd.name));
    }
    if !cmd.has(flag::LOADING) && srv.loading.load(Ordering::Relaxed) {
        return reject(srv, client, cmd, error::LOADING);
    }
    if client.multi.is_some() && cmd.has(flag::NO_MULTI) {
        flag_multi_abort(client);
        return Reply::Error(error::NOT_IN_MULTI);
    }
    // While a script runs past `busy-reply-threshold`, only SCRIPT KILL and SHUTDOWN NOSAVE
    // are served; everything else gets -BUSY, as in Redis. They run without the gate (the
    // script holds it).
    if let Some(r) = scripting::while_busy(srv, cmd, args) {
        return r;
    }
    // The gate is taken before eviction, so eviction never interleaves with a transaction.
    // Waiting for it gives up, with -BUSY, once a script holding it has run too long.
    let _gate_x: Vec<_>;
    let _gate_s;
    let wait = std::time::Duration::from_millis(20);
    // Inside MULTI an exclusive command is only queued; EXEC itself takes the exclusive side.
    if cmd.has(flag::EXCLUSIVE) && (client.multi.is_none() || cmd.has(flag::TX_CONTROL)) {
        _gate_x = loop {
            if let Some(g) = srv.engine.gate_exclusive_for(wait) {
                break g;
            }
            if let Some(r) = scripting::while_busy(srv, cmd, args) {
                return r;
            }
        };
    } else {
        _gate_s = loop {
            if let Some(g) = srv.engine.gate_shared_for(wait) {
                break g;
            }
            if let Some(r) = scripting::while_busy(srv, cmd, args) {
                return r;
            }
        };
    }
    // With a cold tier, a value is spilled and read back whole: a write that could make one
    // larger than `cold-tier-max-value-size` is refused, before it grows RSS past the bound.
    let mut grows = None;
    if cmd.has(flag::DENYOOM) {
        if let Some(limit) = srv.engine.max_value_bytes() {
            let queued = client.multi.as_ref().map(|m| &m.grown);
            match value_too_large(srv, client.db, cmd, args, limit, queued) {
                Ok(add) => grows = Some(add),
                Err(err) => return reject(srv, client, cmd, err),
            }
        }
    }
    // Over maxmemory, Redis refuses commands that may grow memory, and inside MULTI refuses to
    // queue anything at all (EXEC, DISCARD, QUIT and RESET excepted); EXEC is refused when it
    // holds such a command.
    let max_set = srv.engine.config.maxmemory.load(Ordering::Relaxed) > 0;
    if max_set && !srv.enforce_maxmemory() {
        let in_multi = client.multi.is_some();
        let refuse = match cmd.name {
            "exec" => client.multi.as_ref().is_some_and(|m| {
                m.queued
                    .iter()
                    .any(|a| table::lookup(&a[0]).is_some_and(|c| c.has(flag::DENYOOM)))
            }),
            "discard" | "quit" | "reset" => false,
            _ => in_multi || cmd.has(flag::DENYOOM),
        };
        if refuse {
            if in_multi && cmd.name != "exec" {
                flag_multi_abort(client);
            }
            return reject(srv, client, cmd, error::OOM);
        }
    }
    // A failed write-ahead log stops writes (reads go on), as Redis's MISCONF does.
    if cmd.has(flag::WRITE) && client.multi.is_none() {
        if let Some(err) = srv.durability.error() {
            return Reply::Error(CmdError::owned(format!(
                "MISCONF Errors writing to the AOF file: {err}"
            )));
        }
    }
    if client.multi.is_some() && !cmd.has(flag::TX_CONTROL) {
        if let Some(m) = client.multi.as_mut() {
            if let Some(add) = grows {
                for i in cmd.keys_in(args) {
                    if let Some(k) = args.get(i) {
                        *m.grown.entry(k.clone()).or_default() += add;
                    }
                }
            }
            m.queued.push(args.to_vec());
            client
                .info
                .multi
                .store(m.queued.len() as i64, Ordering::Relaxed);
        }
        return Reply::Status("QUEUED");
    }
    let mut effects = EffectList {
        cmd: cmd.name,
        ..EffectList::default()
    };
    let mut call = Call {
        srv,
        client,
        args,
        effects: &mut effects,
    };
    let reply = (cmd.handler)(&mut call);
    // The indexes see this command's writes before its reply goes out (still under the gate).
    srv.engine.search.sync(&srv.engine);
    wake_blocked(srv, client, cmd, args);
    reply
}

/// After a write: the first client blocked on each of its keys tries again. A blocking
/// command that found nothing (and so changed nothing) wakes no one, itself included.
fn wake_blocked(srv: &Server, client: &Client, cmd: &Cmd, args: &[Bytes]) {
    let db = client.db;
    if cmd.has(flag::WRITE) && client.blocked.is_none() && srv.blocking.any() {
        for i in cmd.keys_in(args) {
            srv.blocking.signal(db, &args[i]);
        }
    }
}

/// Runs a queued command inside EXEC: the caller holds the exclusive gate and defers effects.
pub fn execute_queued(
    srv: &Server,
    client: &mut Client,
    args: &[Bytes],
    effects: &mut EffectList,
) -> Reply {
    srv.stats.total_commands.add(1);
    match table::lookup(&args[0]) {
        Some(cmd) => {
            let outer = std::mem::replace(&mut effects.cmd, cmd.name);
            let mut call = Call {
                srv,
                client,
                args,
                effects,
            };
            let reply = (cmd.handler)(&mut call);
            effects.cmd = outer;
            wake_blocked(srv, client, cmd, args);
            reply
        }
        None => Reply::Error(CmdError::unknown_command(&args[0], &args[1..])),
    }
}

/// With a cold tier, whether a write could make a value larger than `limit` bytes in RAM. The
/// estimate for a key is the RAM its keys take now (a store command's sources included, each
/// key once), plus what transactions queued before it may add, plus its arguments; for the
/// commands that write at an offset, the end of the write instead of the arguments, and for
/// the plain overwrites their largest value alone. On success, returns what the command may
/// add to each of its keys (for a transaction's later commands). Not caught: keys a command
/// does not declare (SORT's BY and GET, keys a script computes).
fn value_too_large(
    srv: &Server,
    db: usize,
    cmd: &Cmd,
    args: &[Bytes],
    limit: usize,
    queued: Option<&std::collections::HashMap<Bytes, usize>>,
) -> Result<usize, CmdError> {
    let too_large = |n: usize| {
        if n > limit {
            Err(value_limit_error(limit))
        } else {
            Ok(())
        }
    };
    let int = |a: Option<&Bytes>| {
        a.and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0) as usize
    };
    let before = |k: &Bytes| {
        srv.engine.key_bytes(db, k) + queued.and_then(|q| q.get(k)).copied().unwrap_or(0)
    };
    match cmd.name {
        // Overwrites: what a key holds now does not count, and each key gets one value.
        "set" | "setex" | "psetex" | "setnx" | "getset" => {
            let v = args.iter().skip(1).map(|a| a.len()).max().unwrap_or(0);
            too_large(v)?;
            return Ok(v);
        }
        "mset" | "msetnx" => {
            let v = args[1..]
                .chunks(2)
                .map(|p| p.iter().map(|a| a.len()).sum::<usize>())
                .max()
                .unwrap_or(0);
            too_large(v)?;
            return Ok(v);
        }
        // One document per triple, merged into what the key holds.
        "json.mset" => {
            let mut most = 0;
            for t in args[1..].chunks(3) {
                let add: usize = t[1..].iter().map(|a| a.len()).sum();
                too_large(before(&t[0]).saturating_add(add))?;
                most = most.max(add);
            }
            return Ok(most);
        }
        // Writes at an offset: the string ends at the write's end or where it ended.
        "setrange" | "setbit" | "bitfield" => {
            let end = match cmd.name {
                "setrange" if args.get(3).is_some_and(|v| v.is_empty()) => 0,
                "setrange" => int(args.get(2)).saturating_add(args.get(3).map_or(0, |v| v.len())),
                "setbit" => int(args.get(2)) / 8 + 1,
                _ => bitfield_end(args),
            };
            too_large(end)?;
            too_large(before(&args[1]).max(end))?;
            return Ok(end);
        }
        _ => {}
    }
    let add: usize = args[1..].iter().map(|a| a.len()).sum();
    too_large(add)?;
    let mut keys: Vec<&Bytes> = cmd
        .keys_in(args)
        .iter()
        .filter_map(|&i| args.get(i))
        .collect();
    keys.sort();
    keys.dedup();
    let mut estimate = add;
    for k in keys {
        estimate = estimate.saturating_add(before(k));
        too_large(estimate)?;
    }
    Ok(add)
}

/// Where a BITFIELD's writes (SET, INCRBY) end, in bytes: offsets are bits, or a multiple of
/// the type's width with `#`.
fn bitfield_end(args: &[Bytes]) -> usize {
    let mut end = 0usize;
    let mut i = 2;
    while i < args.len() {
        let op = &args[i];
        if (op.eq_ignore_ascii_case(b"set") || op.eq_ignore_ascii_case(b"incrby"))
            && i + 2 < args.len()
        {
            let bits = std::str::from_utf8(&args[i + 1][1.min(args[i + 1].len())..])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0);
            let off = std::str::from_utf8(&args[i + 2]).unwrap_or("");
            let off = match off.strip_prefix('#') {
                Some(n) => n.parse::<usize>().unwrap_or(0).saturating_mul(bits),
                None => off.parse::<usize>().unwrap_or(0),
            };
            end = end.max(off.saturating_add(bits) / 8 + 1);
            i += 4;
        } else if op.eq_ignore_ascii_case(b"get") {
            i += 3;
        } else {
            i += 2;
        }
    }
    end
}

fn value_limit_error(limit: usize) -> CmdError {
    CmdError::owned(format!(
        "OOM command not allowed: the value could exceed cold-tier-max-value-size ({limit} bytes), the largest value the cold tier holds"
    ))
}

/// Refuses a command before it runs. A refused EXEC discards the transaction, and its error
/// says so, as in Redis.
fn reject(srv: &Server, client: &mut Client, cmd: &Cmd, e: CmdError) -> Reply {
    if cmd.name == "exec" {
        client.multi = None;
        client.info.multi.store(-1, Ordering::Relaxed);
        transactions::unwatch_all(srv, client);
        return Reply::Error(CmdError::execabort_because(&e));
    }
    flag_multi_abort(client);
    Reply::Error(e)
}

fn flag_multi_abort(client: &mut Client) {
    if let Some(m) = client.multi.as_mut() {
        m.aborted = true;
    }
}
