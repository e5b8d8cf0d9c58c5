//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, HELLO, AUTH, CLIENT.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::reply::Reply;

use super::{subcommand, Call};
use crate::resp::Proto;

pub fn ping(call: &mut Call) -> Reply {
    // Subscribed RESP2 connections get PING's answer as a message-shaped array.
    if call.client.proto == Proto::Resp2 && call.client.subs.as_ref().is_some_and(|s| s.active()) {
        let msg = call.args.get(1).cloned().unwrap_or_default();
        return match call.args.len() {
            1 | 2 => Reply::Array(vec![Reply::bulk_str("pong"), Reply::Bulk(msg)]),
            _ => Reply::Error(CmdError::wrong_arity("ping")),
        };
    }
    match call.args.len() {
        1 => Reply::Status("PONG"),
        2 => Reply::Bulk(call.arg(1).clone()),
        _ => Reply::Error(CmdError::wrong_arity("ping")),
    }
}

pub fn echo(call: &mut Call) -> Reply {
    Reply::Bulk(call.arg(1).clone())
}

pub fn quit(call: &mut Call) -> Reply {
    call.client.close_after_reply = true;
    Reply::Ok
}

pub fn reset(call: &mut Call) -> Reply {
    super::transactions::unwatch_all(call.srv, call.client);
    super::pubsub::unsubscribe_all(call.srv, call.client);
    let c = &mut *call.client;
    c.multi = None;
    c.info.multi.store(-1, Ordering::Relaxed);
    c.db = 0;
    c.info.db.store(0, Ordering::Relaxed);
    c.proto = Proto::Resp2;
    c.info.resp.store(2, Ordering::Relaxed);
    c.no_touch = false;
    c.info.no_touch.store(false, Ordering::Relaxed);
    c.info.no_evict.store(false, Ordering::Relaxed);
    c.authenticated = call.srv.config.get("requirepass").is_empty();
    *c.info.name.lock() = None;
    Reply::Status("RESET")
}

pub fn select(call: &mut Call) -> Reply {
    let db = match super::parse_int32(call.arg(1)) {
        Ok(d) => d,
        Err(e) => return Reply::Error(e),
    };
    if db < 0 || db as usize >= call.srv.engine.databases() {
        return Reply::Error(error::DB_INDEX_OUT_OF_RANGE);
    }
    call.client.db = db as usize;
    call.client.info.db.store(db as usize, Ordering::Relaxed);
    Reply::Ok
}

/// Checks a password for `user` against `requirepass` (the only user is "default").
fn check_auth(call: &Call, user: &[u8], pass: &[u8]) -> bool {
    let required = call.srv.config.get("requirepass");
    user == b"default" && (required.is_empty() || required.as_bytes() == pass)
}

pub fn auth(call: &mut Call) -> Reply {
    let (user, pass) = match call.args.len() {
        2 => (&b"default"[..], call.arg(1).as_ref()),
        3 => (call.arg(1).as_ref(), call.arg(2).as_ref()),
        _ => return Reply::Error(error::SYNTAX),
    };
    if call.args.len() == 2 && call.srv.config.get("requirepass").is_empty() {
        return Reply::Error(error::AUTH_WITHOUT_PASSWORD);
    }
    if check_auth(call, user, pass) {
        call.client.authenticated = true;
        Reply::Ok
    } else {
        Reply::Error(error::WRONGPASS)
    }
}

fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

const BAD_NAME: CmdError = error::BAD_CLIENT_NAME;

pub fn hello(call: &mut Call) -> Reply {
    let mut proto = None;
    let mut i = 1;
    if call.args.len() >= 2 {
        match call.int(1) {
            Ok(v) if v == 2 || v == 3 => proto = Some(v),
            Ok(_) => return Reply::Error(error::NOPROTO),
            Err(_) => return Reply::Error(error::PROTO_NOT_INTEGER),
        }
        i = 2;
    }
    let mut auth: Option<(Bytes, Bytes)> = None;
    let mut name: Option<Bytes> = None;
    while i < call.args.len() {
        let opt = call.upper(i);
        let left = call.args.len() - i - 1;
        if opt == "AUTH" && left >= 2 {
            auth = Some((call.arg(i + 1).clone(), call.arg(i + 2).clone()));
            i += 3;
        } else if opt == "SETNAME" && left >= 1 {
            name = Some(call.arg(i + 1).clone());
            i += 2;
        } else {
            return Reply::Error(CmdError::hello_syntax(call.arg(i)));
        }
    }
    if let Some((u, p)) = &auth {
        if !check_auth(call, u, p) {
            return Reply::Error(error::WRONGPASS);
        }
        call.client.authenticated = true;
    }
    if !call.client.authenticated {
        return Reply::Error(error::HELLO_NOAUTH);
    }
    if let Some(n) = &name {
        if !valid_name(n) {
            return Reply::Error(BAD_NAME);
        }
        *call.client.info.name.lock() = if n.is_empty() {
            None
        } else {
            Some(String::from_utf8_lossy(n).into_owned())
        };
    }
    if let Some(p) = proto {
        call.client.proto = if p == 3 { Proto::Resp3 } else { Proto::Resp2 };
        call.client.info.resp.store(p as u8, Ordering::Relaxed);
    }
    let proto_num = if call.client.proto == Proto::Resp3 {
        3
    } else {
        2
    };
    Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (
            Reply::bulk_str("version"),
            Reply::bulk_str(crate::REDIS_VERSION),
        ),
        (Reply::bulk_str("proto"), Reply::Int(proto_num)),
        (Reply::bulk_str("id"), Reply::Int(call.client.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ])
}

pub fn client(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("ID", 2, client_id),
            ("SETNAME", 3, client_setname),
            ("GETNAME", 2, client_getname),
            ("LIST", -2, client_list),
            ("INFO", 2, client_info),
            ("KILL", -3, client_kill),
            ("SETINFO", 4, client_setinfo),
            ("NO-EVICT", 3, client_no_evict),
            ("NO-TOUCH", 3, client_no_touch),
            ("UNBLOCK", -3, client_unblock),
            ("HELP", 2, client_help),
        ],
    )
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking wait; 1 if it was
/// blocked.
fn client_unblock(call: &mut Call) -> Reply {
    if call.args.len() > 4 {
        return Reply::Error(error::SYNTAX);
    }
    let Some(id) = strata_engine::number::parse_i64(call.arg(2)) else {
        return Reply::Error(error::NOT_INTEGER);
    };
    let how = match call.args.get(3) {
        None => 1,
        Some(a) if a.eq_ignore_ascii_case(b"TIMEOUT") => 1,
        Some(a) if a.eq_ignore_ascii_case(b"ERROR") => 2,
        Some(_) => {
            return Reply::Error(CmdError::owned(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into(),
            ))
        }
    };
    let target = call
        .srv
        .clients
        .all()
        .into_iter()
        .find(|c| c.id as i64 == id && c.blocked.load(Ordering::Relaxed));
    match target {
        Some(c) => {
            c.unblock.store(how, Ordering::Relaxed);
            c.unblock_signal.notify_one();
            Reply::Int(1)
        }
        None => Reply::Int(0),
    }
}

fn client_id(call: &mut Call) -> Reply {
    Reply::Int(call.client.id as i64)
}

fn client_setname(call: &mut Call) -> Reply {
    let n = call.arg(2).clone();
    if !valid_name(&n) {
        return Reply::Error(BAD_NAME);
    }
    *call.client.info.name.lock() = if n.is_empty() {
        None
    } else {
        Some(String::from_utf8_lossy(&n).into_owned())
    };
    Reply::Ok
}

fn client_getname(call: &mut Call) -> Reply {
    match call.client.info.name.lock().as_deref() {
        Some(n) => Reply::bulk_str(n),
        None => Reply::Nil,
    }
}

fn client_list(call: &mut Call) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < call.args.len() {
        match call.upper(i).as_str() {
            "TYPE" if i + 1 < call.args.len() => {
                let t = call.upper(i + 1);
                if !["NORMAL", "MASTER", "REPLICA", "SLAVE", "PUBSUB"].contains(&t.as_str()) {
                    return Reply::Error(CmdError::unknown_client_type(call.arg(i + 1)));
                }
                if t != "NORMAL" {
                    return Reply::Verbatim("txt", Bytes::new());
                }
                i += 2;
            }
            "ID" if i + 1 < call.args.len() => {
                let mut v = Vec::new();
                for a in &call.args[i + 1..] {
                    match strata_engine::number::parse_i64(a) {
                        Some(n) if n > 0 => v.push(n as u64),
                        _ => return Reply::Error(error::INVALID_CLIENT_ID),
                    }
                }
                ids = Some(v);
                i = call.args.len();
            }
            _ => return Reply::Error(error::SYNTAX),
        }
    }
    let mut out = String::new();
    for c in call.srv.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        out.push_str(&c.list_line());
        out.push('\n');
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

fn client_info(call: &mut Call) -> Reply {
    let mut line = call.client.info.list_line();
    line.push('\n');
    Reply::Verbatim("txt", Bytes::from(line))
}

fn client_kill(call: &mut Call) -> Reply {
    let all = call.srv.clients.all();
    // Old form: CLIENT KILL addr:port
    if call.args.len() == 3 {
        let addr = String::from_utf8_lossy(call.arg(2)).into_owned();
        return match all.iter().find(|c| c.addr == addr) {
            Some(c) => {
                c.kill();
                if c.id == call.client.id {
                    call.client.close_after_reply = true;
                }
                Reply::Ok
            }
            None => Reply::Error(error::NO_SUCH_CLIENT),
        };
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut maxage = None;
    let mut ty_normal = true;
    let mut i = 2;
    while i + 1 < call.args.len() {
        let val = call.arg(i + 1).clone();
        match call.upper(i).as_str() {
            "ID" => match strata_engine::number::parse_i64(&val) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Reply::Error(error::CLIENT_ID_POSITIVE),
            },
            "ADDR" => addr = Some(String::from_utf8_lossy(&val).into_owned()),
            "LADDR" => laddr = Some(String::from_utf8_lossy(&val).into_owned()),
            "USER" => {
                if &val[..] != b"default" {
                    return Reply::Error(CmdError::no_such_user(&val));
                }
            }
            "SKIPME" => match String::from_utf8_lossy(&val).to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return Reply::Error(error::SYNTAX),
            },
            "MAXAGE" => match strata_engine::number::parse_i64(&val) {
                Some(n) => maxage = Some(n),
                None => return Reply::Error(error::NOT_INTEGER),
            },
            "TYPE" => {
                let t = String::from_utf8_lossy(&val).to_ascii_lowercase();
                match t.as_str() {
                    "normal" => ty_normal = true,
                    "master" | "replica" | "slave" | "pubsub" => ty_normal = false,
                    _ => {
                        return Reply::Error(CmdError::unknown_client_type(t.as_bytes()));
                    }
                }
            }
            _ => return Reply::Error(error::SYNTAX),
        }
        i += 2;
    }
    if i != call.args.len() {
        return Reply::Error(error::SYNTAX);
    }
    let mut killed = 0;
    for c in all {
        if !ty_normal
            || id.is_some_and(|id| id != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
            || maxage.is_some_and(|m| (c.created.elapsed().as_secs() as i64) < m)
            || (skipme && c.id == call.client.id)
        {
            continue;
        }
        c.kill();
        if c.id == call.client.id {
            call.client.close_after_reply = true;
        }
        killed += 1;
    }
    Reply::Int(killed)
}

fn client_setinfo(call: &mut Call) -> Reply {
    let attr = call.upper(2);
    let val = call.arg(3).clone();
    if !valid_name(&val) {
        return Reply::Error(CmdError::setinfo_bad_chars(&attr));
    }
    let v = String::from_utf8_lossy(&val).into_owned();
    match attr.as_str() {
        "LIB-NAME" => *call.client.info.lib_name.lock() = v,
        "LIB-VER" => *call.client.info.lib_ver.lock() = v,
        _ => return Reply::Error(CmdError::unrecognized_option(call.arg(2))),
    }
    Reply::Ok
}

fn on_off(call: &Call) -> Option<bool> {
    match call.upper(2).as_str() {
        "ON" => Some(true),
        "OFF" => Some(false),
        _ => None,
    }
}

fn client_no_evict(call: &mut Call) -> Reply {
    let Some(v) = on_off(call) else {
        return Reply::Error(error::SYNTAX);
    };
    call.client.info.no_evict.store(v, Ordering::Relaxed);
    Reply::Ok
}

fn client_no_touch(call: &mut Call) -> Reply {
    let Some(v) = on_off(call) else {
        return Reply::Error(error::SYNTAX);
    };
    call.client.no_touch = v;
    call.client.info.no_touch.store(v, Ordering::Relaxed);
    Reply::Ok
}

fn client_help(_call: &mut Call) -> Reply {
    help_reply(
        "CLIENT",
        &[
            "ID",
            "    Return the ID of the current connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, USER, SKIPME (yes|no), MAXAGE, TYPE.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
        ],
    )
}

/// The shape of Redis's `<CMD> HELP` replies.
pub fn help_reply(cmd: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::StatusOwned(format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Reply::StatusOwned(l.to_string())));
    out.push(Reply::Status("HELP"));
    out.push(Reply::Status("    Prints this help."));
    Reply::Array(out)
}
