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
    let Some(n) = number::parse_i64(&args[2]) else {
        return Reply::Error(error::NOT_INTEGER);
    };
    if n < 0 {
        return Reply::Error(error::NUMKEYS_NEGATIVE);
    }
    if n as usize > args.len() - 3 {
        return Reply::Error(error::NUMKEYS_TOO_MANY);
    }
    let n = n as usize;
    let (keys, argv) = args[3..].split_at(n);
    let (sha, body) = if by_sha {
        (String::from_utf8_lossy(&args[1]).to_ascii_lowercase(), None)
    } else {
        (sha1_hex(&args[1]), Some(&args[1]))
    };
    let srv = call.srv;
    let client = &mut *call.client;
    let db = client.db;
    let mut effects = Effects {
        list: Vec::new(),
        deferred: true,
        now: Some(srv.engine.now_ms()),
        cmd: "",
    };
    let outcome = {
        let mut exec = |words: Vec<Bytes>| -> Reply {
            script_command(srv, client, &words, &mut effects, read_only)
        };
        srv.scripts.run(&sha, body, keys, argv, &mut exec)
    };
    srv.engine.commit(&mut effects.list);
    // SELECT inside a script does not change the caller's database.
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
