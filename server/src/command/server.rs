//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, TIME, SHUTDOWN, DEBUG, CONFIG,
//! COMMAND, MEMORY, CLUSTER.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::keyspace::keys as k;
use strata_engine::keyspace::pattern::glob_match;
use strata_engine::number;
use strata_engine::reply::Reply;

use super::connection::help_reply;
use super::table::{lookup, COMMANDS};
use super::{flag, subcommand, Call, Cmd};

pub fn info(call: &mut Call) -> Reply {
    let sections: Vec<String> = call.args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    Reply::Verbatim("txt", Bytes::from(crate::info::render(call.srv, &sections)))
}

pub fn dbsize(call: &mut Call) -> Reply {
    Reply::Int(call.srv.engine.dbsize(call.client.db) as i64)
}

/// FLUSHDB/FLUSHALL's optional ASYNC|SYNC.
fn flush_mode(call: &Call) -> Result<bool, CmdError> {
    match call.args.len() {
        1 => Ok(false),
        2 => match call.upper(1).as_str() {
            "ASYNC" => Ok(true),
            "SYNC" => Ok(false),
            _ => Err(error::SYNTAX),
        },
        _ => Err(error::SYNTAX),
    }
}

pub fn flushdb(call: &mut Call) -> Reply {
    match flush_mode(call) {
        Ok(lazy) => {
            call.srv.engine.flushdb(call.client.db, lazy, call.effects);
            Reply::Ok
        }
        Err(e) => Reply::Error(e),
    }
}

pub fn flushall(call: &mut Call) -> Reply {
    match flush_mode(call) {
        Ok(lazy) => {
            call.srv.engine.flushall(lazy, call.effects);
            Reply::Ok
        }
        Err(e) => Reply::Error(e),
    }
}

pub fn swapdb(call: &mut Call) -> Reply {
    let n = call.srv.engine.databases() as i64;
    let Some(a) = number::parse_i64(call.arg(1)).filter(|v| i32::try_from(*v).is_ok()) else {
        return Reply::Error(error::INVALID_FIRST_DB);
    };
    let Some(b) = number::parse_i64(call.arg(2)).filter(|v| i32::try_from(*v).is_ok()) else {
        return Reply::Error(error::INVALID_SECOND_DB);
    };
    if a < 0 || a >= n || b < 0 || b >= n {
        return Reply::Error(error::DB_INDEX_OUT_OF_RANGE);
    }
    call.srv.engine.swapdb(a as usize, b as usize, call.effects);
    // Both databases have new contents: every client blocked in them tries again.
    call.srv.blocking.signal_db(a as usize);
    call.srv.blocking.signal_db(b as usize);
    Reply::Ok
}

pub fn time(_call: &mut Call) -> Reply {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(d.as_secs().to_string())),
        Reply::Bulk(Bytes::from(d.subsec_micros().to_string())),
    ])
}

/// SAVE: a snapshot of the whole dataset, taken under the exclusive gate (the dispatcher holds
/// it: SAVE blocks every other command, as Redis's does).
pub fn save(call: &mut Call) -> Reply {
    match crate::durability::save(call.srv) {
        Ok(()) => Reply::Ok,
        Err(e) => {
            tracing::warn!("{e}");
            Reply::Error(CmdError::owned(format!("ERR {e}")))
        }
    }
}

/// BGSAVE [SCHEDULE]: a snapshot taken in the background (the cut is made under the exclusive
/// gate, which the dispatcher holds).
pub fn bgsave(call: &mut Call) -> Reply {
    if call.args.len() > 2
        || (call.args.len() == 2 && !call.arg(1).eq_ignore_ascii_case(b"SCHEDULE"))
    {
        return Reply::Error(error::SYNTAX);
    }
    let st = &call.srv.saves;
    if st.in_progress.load(Ordering::Acquire) {
        if st.rewrite.load(Ordering::Relaxed) {
            if call.args.len() == 2 {
                st.bgsave_scheduled.store(true, Ordering::Release);
                return Reply::Status("Background saving scheduled");
            }
            return Reply::Error(error::BGSAVE_AOF_ACTIVE);
        }
        return Reply::Error(error::BGSAVE_IN_PROGRESS);
    }
    match crate::durability::bgsave(call.srv, false) {
        Ok(()) => Reply::Status("Background saving started"),
        Err(e) => Reply::Error(CmdError::owned(format!("ERR {e}"))),
    }
}

/// BGREWRITEAOF: a background snapshot that then drops the log segments it covers; scheduled
/// for when a running BGSAVE ends.
pub fn bgrewriteaof(call: &mut Call) -> Reply {
    let st = &call.srv.saves;
    if st.in_progress.load(Ordering::Acquire) && !st.rewrite.load(Ordering::Relaxed) {
        st.rewrite_scheduled.store(true, Ordering::Release);
        return Reply::Status("Background append only file rewriting scheduled");
    }
    match crate::durability::bgsave(call.srv, true) {
        Ok(()) => Reply::Status("Background append only file rewriting started"),
        Err(e) => Reply::Error(CmdError::owned(format!("ERR {e}"))),
    }
}

pub fn lastsave(call: &mut Call) -> Reply {
    Reply::Int(call.srv.saves.last_save.load(Ordering::Relaxed) as i64)
}

pub fn shutdown(call: &mut Call) -> Reply {
    let mut abort = false;
    let mut save = false;
    let mut nosave = false;
    for i in 1..call.args.len() {
        match call.upper(i).as_str() {
            "SAVE" => save = true,
            "NOSAVE" => nosave = true,
            "NOW" | "FORCE" => {}
            "ABORT" => abort = true,
            _ => return Reply::Error(error::SYNTAX),
        }
    }
    if abort {
        return Reply::Error(error::NO_SHUTDOWN);
    }
    if save && nosave {
        return Reply::Error(error::SYNTAX);
    }
    tracing::warn!("User requested shutdown...");
    // SHUTDOWN holds the exclusive gate (its table flags), as SAVE does.
    if save {
        if let Err(e) = crate::durability::save(call.srv) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
            return Reply::Error(CmdError::owned(
                "ERR Errors trying to SHUTDOWN. Check logs.".to_string(),
            ));
        }
    }
    call.srv.prepare_exit();
    tracing::warn!("Strata is now ready to exit, bye bye...");
    std::process::exit(0);
}

fn debug_allowed(call: &Call) -> bool {
    match call.srv.config.get("enable-debug-command").as_str() {
        "yes" => true,
        "local" => {
            call.client.info.addr.starts_with("127.") || call.client.info.addr.starts_with("[::1]")
        }
        _ => false,
    }
}

pub fn debug(call: &mut Call) -> Reply {
    if !debug_allowed(call) {
        return Reply::Error(error::DEBUG_NOT_ALLOWED);
    }
    subcommand(
        call,
        &[
            ("SLEEP", 3, debug_sleep),
            ("TIER", -3, debug_tier),
            ("HELP", 2, |_| {
                help_reply(
                    "DEBUG",
                    &[
                        "SLEEP <seconds>",
                        "    Stop the server for <seconds>. Decimals allowed.",
                        "TIER SPILL <key>",
                        "    Move a key of the current database to the cold tier.",
                        "TIER SPILL-ALL",
                        "    Move every key in RAM to the cold tier.",
                        "TIER COMPACT",
                        "    Compact the cold tier's RocksDB.",
                    ],
                )
            }),
        ],
    )
}

/// DEBUG TIER: moves keys between the tiers on demand, for tests.
fn debug_tier(call: &mut Call) -> Reply {
    let eng = &call.srv.engine;
    if eng.tier.is_none() {
        return Reply::Error(CmdError::owned(
            "ERR the cold tier is off (cold-tier no)".into(),
        ));
    }
    let sub = call.arg(2).to_ascii_uppercase();
    // A key being loaded must not move before its last effects (see `Effects::new_keys`).
    if sub != b"COMPACT" && call.srv.loading.load(Ordering::Acquire) {
        return Reply::Error(error::LOADING);
    }
    match (sub.as_slice(), call.args.len()) {
        (b"SPILL", 4) => Reply::Int(eng.spill_key(call.client.db, call.arg(3)) as i64),
        (b"SPILL-ALL", 3) => Reply::Int(eng.spill_all() as i64),
        (b"COMPACT", 3) => {
            if let Some(t) = &eng.tier {
                t.store.compact();
            }
            Reply::Ok
        }
        _ => Reply::Error(CmdError::owned(
            "ERR unknown DEBUG TIER subcommand or wrong number of arguments".into(),
        )),
    }
}

fn debug_sleep(call: &mut Call) -> Reply {
    let secs = number::parse_f64(call.arg(2)).unwrap_or(0.0);
    if secs > 0.0 && secs.is_finite() {
        std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
    }
    Reply::Ok
}

pub fn config(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("GET", -3, config_get),
            ("SET", -4, config_set),
            ("RESETSTAT", 2, config_resetstat),
            ("REWRITE", 2, config_rewrite),
            ("HELP", 2, |_| {
                help_reply(
                    "CONFIG",
                    &[
                        "GET <pattern>",
                        "    Return parameters matching the glob-like <pattern> and their values.",
                        "SET <directive> <value>",
                        "    Set the configuration <directive> to <value>.",
                        "RESETSTAT",
                        "    Reset statistics reported by the INFO command.",
                        "REWRITE",
                        "    Rewrite the configuration file.",
                    ],
                )
            }),
        ],
    )
}

fn config_get(call: &mut Call) -> Reply {
    let pats: Vec<&[u8]> = call.args[2..].iter().map(|a| a.as_ref()).collect();
    let pairs = call.srv.config.matching(&pats);
    Reply::Map(
        pairs
            .into_iter()
            .map(|(n, v)| (Reply::bulk_str(n), Reply::Bulk(Bytes::from(v))))
            .collect(),
    )
}

fn config_set(call: &mut Call) -> Reply {
    if !call.args.len().is_multiple_of(2) {
        return Reply::Error(CmdError::wrong_arity("config|set"));
    }
    let pairs: Vec<(String, String)> = call.args[2..]
        .chunks_exact(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).into_owned(),
                String::from_utf8_lossy(&p[1]).into_owned(),
            )
        })
        .collect();
    let srv = call.srv;
    if let Err(e) = srv.config.set_many(&srv.engine, &pairs) {
        return Reply::Error(e);
    }
    srv.refresh_hot();
    // A waiter under `always` re-reads appendfsync when woken.
    srv.durability.wake_all();
    // appendonly needs the server, not just the engine: the log is opened (and rewritten) or
    // closed here. CONFIG holds the exclusive gate (its table flags), so no write is in flight.
    let on = srv.config.get_bool("appendonly");
    if on != srv.durability.enabled() {
        if let Err(e) = crate::durability::set_appendonly(srv, on) {
            tracing::warn!("Unable to turn on the write-ahead log: {e}");
            let _ = srv
                .config
                .set_many(&srv.engine, &[("appendonly".into(), "no".into())]);
            return Reply::Error(CmdError::config_set_failed(
                "appendonly",
                error::AOF_ON_FAILED,
            ));
        }
    }
    Reply::Ok
}

fn config_resetstat(call: &mut Call) -> Reply {
    call.srv.stats.reset();
    call.srv.engine.reset_stats();
    Reply::Ok
}

fn config_rewrite(call: &mut Call) -> Reply {
    match call.srv.config.rewrite() {
        Ok(()) => Reply::Ok,
        Err(e) if call.srv.config.file.is_none() => Reply::Error(CmdError::err(&e)),
        Err(e) => Reply::Error(CmdError::config_rewrite_failed(&e)),
    }
}

fn command_info_reply(c: &Cmd) -> Reply {
    let flags = flag::NAMES
        .iter()
        .filter(|(f, _)| c.flags & f != 0)
        .map(|(_, n)| Reply::Status(n))
        .collect();
    Reply::Array(vec![
        Reply::bulk_str(c.name),
        Reply::Int(c.arity as i64),
        Reply::Set(flags),
        Reply::Int(c.first_key as i64),
        Reply::Int(c.last_key as i64),
        Reply::Int(c.step as i64),
        Reply::Set(c.acl.iter().map(|a| Reply::Status(a)).collect()),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command_docs_reply(c: &Cmd) -> Reply {
    Reply::Map(vec![
        (Reply::bulk_str("summary"), Reply::bulk_str(c.summary)),
        (Reply::bulk_str("since"), Reply::bulk_str(c.since)),
        (Reply::bulk_str("group"), Reply::bulk_str(c.group)),
    ])
}

pub fn command(call: &mut Call) -> Reply {
    if call.args.len() == 1 {
        return Reply::Array(COMMANDS.iter().map(command_info_reply).collect());
    }
    subcommand(
        call,
        &[
            ("COUNT", 2, |_| Reply::Int(COMMANDS.len() as i64)),
            ("INFO", -2, |c| {
                if c.args.len() == 2 {
                    return Reply::Array(COMMANDS.iter().map(command_info_reply).collect());
                }
                Reply::Array(
                    c.args[2..]
                        .iter()
                        .map(|n| lookup(n).map_or(Reply::Nil, command_info_reply))
                        .collect(),
                )
            }),
            ("DOCS", -2, |c| {
                let docs: Vec<(Reply, Reply)> = if c.args.len() == 2 {
                    COMMANDS
                        .iter()
                        .map(|cmd| (Reply::bulk_str(cmd.name), command_docs_reply(cmd)))
                        .collect()
                } else {
                    c.args[2..]
                        .iter()
                        .filter_map(|n| lookup(n))
                        .map(|cmd| (Reply::bulk_str(cmd.name), command_docs_reply(cmd)))
                        .collect()
                };
                Reply::Map(docs)
            }),
            ("LIST", -2, command_list),
            ("GETKEYS", -3, command_getkeys),
            ("HELP", 2, |_| {
                help_reply(
                    "COMMAND",
                    &[
                        "(no subcommand)",
                        "    Return details about all Redis commands.",
                        "COUNT",
                        "    Return the total number of commands in this Redis server.",
                        "LIST",
                        "    Return a list of all commands in this Redis server.",
                        "INFO [<command-name> ...]",
                        "    Return details about multiple Redis commands.",
                        "DOCS [<command-name> ...]",
                        "    Return documentation details about multiple Redis commands.",
                        "GETKEYS <full-command>",
                        "    Return the keys from a full Redis command.",
                    ],
                )
            }),
        ],
    )
}

fn command_list(call: &mut Call) -> Reply {
    let filter: Box<dyn Fn(&Cmd) -> bool> = match call.args.len() {
        2 => Box::new(|_| true),
        5 if call.upper(2) == "FILTERBY" => {
            let v = call.arg(4).clone();
            match call.upper(3).as_str() {
                "MODULE" => Box::new(|_| false),
                "ACLCAT" => {
                    let cat = format!("@{}", String::from_utf8_lossy(&v).to_ascii_lowercase());
                    Box::new(move |c: &Cmd| c.acl.contains(&cat.as_str()))
                }
                "PATTERN" => Box::new(move |c: &Cmd| glob_match(&v, c.name.as_bytes(), true)),
                _ => return Reply::Error(error::SYNTAX),
            }
        }
        _ => return Reply::Error(error::SYNTAX),
    };
    Reply::Array(
        COMMANDS
            .iter()
            .filter(|c| filter(c))
            .map(|c| Reply::bulk_str(c.name))
            .collect(),
    )
}

fn command_getkeys(call: &mut Call) -> Reply {
    let Some(cmd) = lookup(call.arg(2)) else {
        return Reply::Error(error::INVALID_COMMAND);
    };
    let args = &call.args[2..];
    if !cmd.arity_ok(args.len()) {
        return Reply::Error(error::GETKEYS_ARITY);
    }
    let pos = cmd.keys_in(args);
    if pos.is_empty() {
        return Reply::Error(error::NO_KEY_ARGUMENTS);
    }
    Reply::Array(
        pos.into_iter()
            .map(|i| Reply::Bulk(args[i].clone()))
            .collect(),
    )
}

pub fn memory(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("USAGE", -3, memory_usage),
            ("STATS", 2, |c| {
                let used = c.srv.used_memory() as i64;
                let dataset = c.srv.engine.dataset_bytes() as i64;
                Reply::Map(vec![
                    (
                        Reply::bulk_str("peak.allocated"),
                        Reply::Int(c.srv.stats.peak_memory.load(Ordering::Relaxed) as i64),
                    ),
                    (Reply::bulk_str("total.allocated"), Reply::Int(used)),
                    (Reply::bulk_str("dataset.bytes"), Reply::Int(dataset)),
                    (
                        Reply::bulk_str("keys.count"),
                        Reply::Int(
                            (0..c.srv.engine.databases())
                                .map(|d| c.srv.engine.dbsize(d) as i64)
                                .sum(),
                        ),
                    ),
                ])
            }),
            ("DOCTOR", 2, |_| {
                Reply::Verbatim("txt", Bytes::from_static(b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."))
            }),
            ("MALLOC-STATS", 2, |_| {
                // jemalloc's own report, as Redis prints it, then glibc's part (RocksDB).
                let mut text = crate::alloc::jemalloc_report();
                text.extend_from_slice(
                    format!(
                        "glibc malloc (the cold tier's C++): in use {}\n",
                        crate::alloc::glibc_in_use()
                    )
                    .as_bytes(),
                );
                Reply::Verbatim("txt", Bytes::from(text))
            }),
            ("PURGE", 2, |_| Reply::Ok),
            ("HELP", 2, |_| {
                help_reply(
                    "MEMORY",
                    &[
                        "DOCTOR",
                        "    Return memory problems reports.",
                        "MALLOC-STATS",
                        "    Return internal statistics report from the memory allocator.",
                        "PURGE",
                        "    Attempt to purge dirty pages for reclamation by the allocator.",
                        "STATS",
                        "    Return information about the memory usage of the server.",
                        "USAGE <key> [SAMPLES <count>]",
                        "    Return memory in bytes used by <key> and its value.",
                    ],
                )
            }),
        ],
    )
}

fn memory_usage(call: &mut Call) -> Reply {
    match call.args.len() {
        3 => {}
        5 if call.upper(3) == "SAMPLES" => match number::parse_i64(call.arg(4)) {
            None => return Reply::Error(error::NOT_INTEGER),
            Some(n) if n < 0 => return Reply::Error(error::SYNTAX),
            Some(_) => {}
        },
        _ => return Reply::Error(error::SYNTAX),
    }
    let key = call.arg(2).clone();
    k::memory_usage(&mut call.cx(), &key)
}

pub fn cluster(_call: &mut Call) -> Reply {
    Reply::Error(error::CLUSTER_DISABLED)
}
