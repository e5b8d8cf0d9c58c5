//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH. A
//! script holds the engine's exclusive gate (its table flags) while it runs, so it is atomic;
//! its writes are committed as one log record, at a clock frozen at its start, as Redis does.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_engine::effect::Effects;
use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;

use super::{execute_queued, flag, subcommand, table, Call};
use crate::client::Client;
use crate::scripting::{sha1_hex, Kill, Outcome};
use crate::server::Server;

pub fn eval(call: &mut Call) -> Reply {
    run(call, false, false)
}

pub fn evalsha(call: &mut Call) -> Reply {
    run(call, true, false)
}

pub fn eval_ro(call: &mut Call) -> Reply {
    run(call, false, true)
}

pub fn evalsha_ro(call: &mut Call) -> Reply {
    run(call, true, true)
}

fn run(call: &mut Call, by_sha: bool, read_only: bool) -> Reply {
    let args = call.args;
    let (keys, argv) = match keys_and_args(args, error::NOT_INTEGER) {
        Ok(split) => split,
        Err(e) => return Reply::Error(e),
    };
    let (sha, body) = if by_sha {
        (String::from_utf8_lossy(&args[1]).to_ascii_lowercase(), None)
    } else {
        (sha1_hex(&args[1]), Some(&args[1]))
    };
    run_atomically(call, read_only, |scripts, exec| {
        scripts.run(&sha, body, keys, argv, exec)
    })
}

/// EVAL's and FCALL's `numkeys key... arg...` from argument 2: the keys and the arguments.
/// `not_integer` is the error for a count that is not an integer (the two commands word it
/// differently).
fn keys_and_args(args: &[Bytes], not_integer: CmdError) -> Result<(&[Bytes], &[Bytes]), CmdError> {
    let n = number::parse_i64(&args[2]).ok_or(not_integer)?;
    if n < 0 {
        return Err(error::NUMKEYS_NEGATIVE);
    }
    if n as usize > args.len() - 3 {
        return Err(error::NUMKEYS_TOO_MANY);
    }
    Ok(args[3..].split_at(n as usize))
}

/// Runs a script or function: its commands go through [`script_command`] into one record
/// committed at the end, at a clock frozen at its start, and a SELECT inside does not change
/// the caller's database.
fn run_atomically(
    call: &mut Call,
    read_only: bool,
    go: impl FnOnce(&crate::scripting::Scripts, &mut dyn FnMut(Vec<Bytes>) -> Reply) -> Outcome,
) -> Reply {
    let srv = call.srv;
    let client = &mut *call.client;
    let db = client.db;
    let mut effects = Effects {
        list: Vec::new(),
        deferred: true,
        now: Some(srv.engine.now_ms()),
        cmd: "",
        new_keys: false,
    };
    let outcome = {
        let mut exec = |words: Vec<Bytes>| -> Reply {
            script_command(srv, client, &words, &mut effects, read_only)
        };
        go(&srv.scripts, &mut exec)
    };
    srv.engine.commit(&mut effects.list);
    client.db = db;
    client.info.db.store(db, Ordering::Relaxed);
    match outcome {
        Outcome::Ok(r) => r,
        Outcome::Err(e) => Reply::Error(CmdError::owned(e)),
    }
}

/// One `redis.call`: Redis's checks for commands called from scripts, then the command, under
/// the gate the script holds and into the script's effects.
fn script_command(
    srv: &Server,
    client: &mut Client,
    args: &[Bytes],
    effects: &mut Effects,
    read_only: bool,
) -> Reply {
    let Some(cmd) = table::lookup(&args[0]) else {
        return Reply::Error(error::SCRIPT_UNKNOWN_COMMAND);
    };
    if !cmd.arity_ok(args.len()) {
        return Reply::Error(error::SCRIPT_WRONG_ARITY);
    }
    if cmd.has(flag::NOSCRIPT) {
        return Reply::Error(error::SCRIPT_NOT_ALLOWED);
    }
    if cmd.has(flag::WRITE) {
        if read_only {
            return Reply::Error(error::SCRIPT_READ_ONLY);
        }
        srv.scripts.note_write();
        if let Some(err) = srv.durability.error() {
            return Reply::Error(CmdError::owned(format!(
                "MISCONF Errors writing to the AOF file: {err}"
            )));
        }
    }
    client.in_script = true;
    let reply = execute_queued(srv, client, args, effects);
    client.in_script = false;
    reply
}

/// What a command gets while a script has been running longer than `busy-reply-threshold`:
/// -BUSY, except SCRIPT KILL (which asks the script to stop) and SHUTDOWN NOSAVE. None when
/// no script is that busy.
pub fn while_busy(srv: &Server, cmd: &super::Cmd, args: &[Bytes]) -> Option<Reply> {
    let ran = srv.scripts.busy_for()?;
    if ran < srv.config.get_u64("busy-reply-threshold") {
        return None;
    }
    let word = |i: usize, w: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
    if cmd.name == "script" && word(1, b"KILL") {
        return Some(kill(srv));
    }
    if cmd.name == "shutdown" && args[1..].iter().any(|a| a.eq_ignore_ascii_case(b"NOSAVE")) {
        tracing::warn!("User requested shutdown while a script was running...");
        srv.prepare_exit();
        std::process::exit(0);
    }
    Some(Reply::Error(error::BUSY_SCRIPT))
}

fn kill(srv: &Server) -> Reply {
    match srv.scripts.kill() {
        Kill::Killed => {
            tracing::warn!("Script killed by user with SCRIPT KILL");
            Reply::Ok
        }
        Kill::NotBusy => Reply::Error(error::NOTBUSY),
        Kill::Unkillable => Reply::Error(error::UNKILLABLE),
    }
}

fn script_kill(call: &mut Call) -> Reply {
    kill(call.srv)
}

pub fn script(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("load", 3, load),
            ("exists", -3, exists),
            ("flush", -2, flush),
            ("kill", 2, script_kill),
            ("help", 2, help),
        ],
    )
}

fn load(call: &mut Call) -> Reply {
    match call.srv.scripts.load(&call.args[2]) {
        Ok(sha) => Reply::Bulk(Bytes::from(sha)),
        Err(e) => Reply::Error(CmdError::owned(e)),
    }
}

fn exists(call: &mut Call) -> Reply {
    Reply::Array(
        call.args[2..]
            .iter()
            .map(|s| Reply::Int(call.srv.scripts.exists(s) as i64))
            .collect(),
    )
}

fn flush(call: &mut Call) -> Reply {
    match call.args.len() {
        2 => {}
        3 if call.arg(2).eq_ignore_ascii_case(b"ASYNC")
            || call.arg(2).eq_ignore_ascii_case(b"SYNC") => {}
        _ => return Reply::Error(error::SCRIPT_FLUSH_SYNTAX),
    }
    call.srv.scripts.flush();
    Reply::Ok
}

fn help(_call: &mut Call) -> Reply {
    super::connection::help_reply(
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    )
}

// ------------------------------------------------------------------ functions

pub fn fcall(call: &mut Call) -> Reply {
    run_function(call, false)
}

pub fn fcall_ro(call: &mut Call) -> Reply {
    run_function(call, true)
}

fn run_function(call: &mut Call, ro_command: bool) -> Reply {
    let srv = call.srv;
    srv.scripts.sync_functions(&srv.engine.functions);
    let args = call.args;
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let (keys, argv) = match keys_and_args(args, error::BAD_NUMKEYS) {
        Ok(split) => split,
        Err(e) => return Reply::Error(e),
    };
    let Some(writes) = srv.scripts.function_writes(&name) else {
        return Reply::Error(error::FUNCTION_NOT_FOUND);
    };
    if ro_command && writes {
        return Reply::Error(error::FCALL_RO_WRITE);
    }
    run_atomically(call, !writes, |scripts, exec| {
        scripts.fcall(&name, keys, argv, exec)
    })
}

pub fn function(call: &mut Call) -> Reply {
    call.srv.scripts.sync_functions(&call.srv.engine.functions);
    subcommand(
        call,
        &[
            ("load", -3, function_load),
            ("delete", 3, function_delete),
            ("flush", -2, function_flush),
            ("list", -2, function_list),
            ("dump", 2, function_dump),
            ("restore", -3, function_restore),
            ("stats", 2, function_stats),
            ("kill", 2, script_kill),
            ("help", 2, function_help),
        ],
    )
}

/// Logs a change to the libraries and notes the engine's new version as compiled.
fn log_functions(call: &mut Call, effects: Vec<strata_engine::effect::Effect>) {
    let mut list = effects;
    call.srv.engine.commit(&mut list);
    call.srv
        .scripts
        .functions_synced(call.srv.engine.functions.version());
}

fn function_load(call: &mut Call) -> Reply {
    let args = call.args;
    let (replace, code) = match args.len() {
        3 => (false, &args[2]),
        4 if args[2].eq_ignore_ascii_case(b"REPLACE") => (true, &args[3]),
        4 => {
            return Reply::Error(CmdError::owned(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(&args[2])
            )))
        }
        _ => return Reply::Error(error::SYNTAX),
    };
    match call.srv.scripts.function_load(code, replace) {
        Ok(name) => {
            call.srv.engine.functions.put(code);
            log_functions(
                call,
                vec![strata_engine::effect::Effect::FunctionLoad {
                    code: code.to_vec(),
                }],
            );
            Reply::Bulk(Bytes::from(name))
        }
        Err(e) => Reply::Error(CmdError::owned(e)),
    }
}

fn function_delete(call: &mut Call) -> Reply {
    let name = String::from_utf8_lossy(&call.args[2]).into_owned();
    if !call.srv.scripts.function_delete(&name) {
        return Reply::Error(error::LIBRARY_NOT_FOUND);
    }
    call.srv.engine.functions.delete(&name);
    log_functions(
        call,
        vec![strata_engine::effect::Effect::FunctionDelete {
            name: name.into_bytes(),
        }],
    );
    Reply::Ok
}

fn function_flush(call: &mut Call) -> Reply {
    match call.args.len() {
        2 => {}
        3 if call.arg(2).eq_ignore_ascii_case(b"ASYNC")
            || call.arg(2).eq_ignore_ascii_case(b"SYNC") => {}
        _ => return Reply::Error(error::FUNCTION_FLUSH_SYNTAX),
    }
    call.srv.scripts.function_flush();
    call.srv.engine.functions.flush();
    log_functions(call, vec![strata_engine::effect::Effect::FunctionFlush]);
    Reply::Ok
}

fn function_list(call: &mut Call) -> Reply {
    let args = call.args;
    let mut pattern = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        if args[i].eq_ignore_ascii_case(b"WITHCODE") && !with_code {
            with_code = true;
            i += 1;
        } else if args[i].eq_ignore_ascii_case(b"LIBRARYNAME")
            && pattern.is_none()
            && i + 1 < args.len()
        {
            pattern = Some(&args[i + 1][..]);
            i += 2;
        } else {
            return Reply::Error(CmdError::owned(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    call.srv.scripts.function_list(pattern, with_code)
}

/// FUNCTION DUMP's payload: Strata's own format (Redis's is an RDB fragment): magic, then
/// each library as a 4-byte little-endian length and its source, then a CRC32C of it all.
const DUMP_MAGIC: &[u8] = b"STRATAFN1";

fn function_dump(call: &mut Call) -> Reply {
    let mut out = DUMP_MAGIC.to_vec();
    for (_, code) in call.srv.engine.functions.all() {
        out.extend_from_slice(&(code.len() as u32).to_le_bytes());
        out.extend_from_slice(&code);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Reply::Bulk(Bytes::from(out))
}

fn parse_dump(b: &[u8]) -> Option<Vec<Bytes>> {
    let body = b.strip_prefix(DUMP_MAGIC)?;
    if body.len() < 4 {
        return None;
    }
    let (body, crc) = body.split_at(body.len() - 4);
    if crc32c::crc32c(&b[..b.len() - 4]) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut libs = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        libs.push(Bytes::copy_from_slice(rest.get(4..4 + n)?));
        rest = &rest[4 + n..];
    }
    Some(libs)
}

fn function_restore(call: &mut Call) -> Reply {
    let args = call.args;
    let policy = match args.len() {
        3 => "APPEND".to_string(),
        4 => String::from_utf8_lossy(&args[3]).to_ascii_uppercase(),
        _ => return Reply::Error(error::SYNTAX),
    };
    if !["APPEND", "REPLACE", "FLUSH"].contains(&policy.as_str()) {
        return Reply::Error(error::FUNCTION_RESTORE_POLICY);
    }
    let Some(libs) = parse_dump(&args[2]) else {
        return Reply::Error(error::FUNCTION_PAYLOAD);
    };
    let srv = call.srv;
    // Check everything against a copy first: a restore applies whole or not at all.
    let mut names = Vec::new();
    for code in &libs {
        match strata_engine::functions::metadata(code) {
            Ok((_, n)) => names.push(n),
            Err(e) => return Reply::Error(CmdError::owned(e)),
        }
    }
    if policy == "APPEND" {
        let existing: Vec<String> = srv
            .engine
            .functions
            .all()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if let Some(n) = names.iter().find(|n| existing.contains(n)) {
            return Reply::Error(CmdError::owned(format!("ERR Library {n} already exists")));
        }
    }
    let before = srv.engine.functions.all();
    let mut effects = Vec::new();
    if policy == "FLUSH" {
        srv.scripts.function_flush();
        srv.engine.functions.flush();
        effects.push(strata_engine::effect::Effect::FunctionFlush);
    }
    for code in &libs {
        if let Err(e) = srv.scripts.function_load(code, true) {
            // Put back what was there.
            srv.scripts.function_flush();
            srv.engine.functions.flush();
            for (_, c) in &before {
                srv.engine.functions.put(c);
            }
            srv.scripts.sync_functions(&srv.engine.functions);
            return Reply::Error(CmdError::owned(e));
        }
        srv.engine.functions.put(code);
        effects.push(strata_engine::effect::Effect::FunctionLoad {
            code: code.to_vec(),
        });
    }
    log_functions(call, effects);
    Reply::Ok
}

fn function_stats(call: &mut Call) -> Reply {
    let (libs, funcs) = call.srv.scripts.function_counts();
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Reply::Map(vec![
        (bulk("running_script"), Reply::Nil),
        (
            bulk("engines"),
            Reply::Map(vec![(
                bulk("LUA"),
                Reply::Map(vec![
                    (bulk("libraries_count"), Reply::Int(libs as i64)),
                    (bulk("functions_count"), Reply::Int(funcs as i64)),
                ]),
            )]),
        ),
    ])
}

fn function_help(_call: &mut Call) -> Reply {
    super::connection::help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    )
}
