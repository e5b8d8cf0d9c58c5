//! Generic key commands: DEL, EXISTS, TYPE, RENAME, COPY, MOVE, the EXPIRE family, TTL, KEYS,
//! SCAN, RANDOMKEY, TOUCH, OBJECT.

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::keyspace::keys::{self as k, ExpireCond, ObjectField, TtlKind};
use strata_engine::number;
use strata_engine::reply::Reply;

use super::connection::help_reply;
use super::{reply, subcommand, Call};

pub fn del(call: &mut Call) -> Reply {
    let keys = &call.args[1..];
    Reply::Int(k::del(&mut call.cx(), keys))
}

pub fn exists(call: &mut Call) -> Reply {
    let keys = &call.args[1..];
    Reply::Int(k::exists(&mut call.cx(), keys))
}

pub fn touch(call: &mut Call) -> Reply {
    let keys = &call.args[1..];
    Reply::Int(k::touch(&mut call.cx(), keys))
}

pub fn type_(call: &mut Call) -> Reply {
    let key = call.arg(1).clone();
    k::type_of(&mut call.cx(), &key)
}

pub fn rename(call: &mut Call) -> Reply {
    let (src, dst) = (call.arg(1).clone(), call.arg(2).clone());
    reply(k::rename(&mut call.cx(), &src, &dst, false).map(|_| Reply::Ok))
}

pub fn renamenx(call: &mut Call) -> Reply {
    let (src, dst) = (call.arg(1).clone(), call.arg(2).clone());
    reply(k::rename(&mut call.cx(), &src, &dst, true).map(|done| Reply::Int(done as i64)))
}

fn db_index(call: &Call, b: &[u8]) -> Result<usize, CmdError> {
    let n = super::parse_int32(b)?;
    if n < 0 || n as usize >= call.srv.engine.databases() {
        return Err(error::DB_INDEX_OUT_OF_RANGE);
    }
    Ok(n as usize)
}

pub fn copy(call: &mut Call) -> Reply {
    let (src, dst) = (call.arg(1).clone(), call.arg(2).clone());
    let mut db = call.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < call.args.len() {
        match call.upper(i).as_str() {
            "REPLACE" => replace = true,
            "DB" if i + 1 < call.args.len() => {
                match db_index(call, call.arg(i + 1)) {
                    Ok(d) => db = d,
                    Err(e) => return Reply::Error(e),
                }
                i += 1;
            }
            _ => return Reply::Error(error::SYNTAX),
        }
        i += 1;
    }
    let r = k::copy_to_db(&mut call.cx(), &src, db, &dst, replace, false);
    // Clients blocked on the copy in another database try again.
    if matches!(r, Ok(1)) && db != call.client.db {
        call.srv.blocking.signal(db, &dst);
    }
    reply(r.map(Reply::Int))
}

pub fn move_(call: &mut Call) -> Reply {
    let key = call.arg(1).clone();
    let db = match db_index(call, call.arg(2)) {
        Ok(d) => d,
        Err(e) => return Reply::Error(e),
    };
    if db == call.client.db {
        return Reply::Error(error::SAME_OBJECT);
    }
    let r = k::copy_to_db(&mut call.cx(), &key, db, &key, false, true);
    if matches!(r, Ok(1)) {
        call.srv.blocking.signal(db, &key);
    }
    reply(r.map(Reply::Int))
}

/// The EXPIRE family: `unit_ms` is 1000 for seconds; `absolute` for the *AT forms.
fn expire_generic(call: &mut Call, unit_ms: i64, absolute: bool) -> Reply {
    let key = call.arg(1).clone();
    let mut cond = ExpireCond::default();
    for i in 3..call.args.len() {
        match call.upper(i).as_str() {
            "NX" => cond.nx = true,
            "XX" => cond.xx = true,
            "GT" => cond.gt = true,
            "LT" => cond.lt = true,
            _ => return Reply::Error(CmdError::unsupported_option(call.arg(i))),
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Reply::Error(error::EXPIRE_NX_AND_OTHERS);
    }
    if cond.gt && cond.lt {
        return Reply::Error(error::EXPIRE_GT_AND_LT);
    }
    // The options are checked before the number, as Redis does.
    let Ok(mut when) = call.int(2) else {
        return Reply::Error(error::NOT_INTEGER);
    };
    let name = call.name();
    let invalid = || Reply::Error(CmdError::invalid_expire(&name));
    if unit_ms == 1000 {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return invalid();
        }
        when *= 1000;
    }
    if !absolute {
        match when.checked_add(call.srv.engine.now_ms() as i64) {
            Some(w) => when = w,
            None => return invalid(),
        }
    }
    let at = when.max(0) as u64;
    Reply::Int(k::expire(&mut call.cx(), &key, at, cond))
}

pub fn expire(call: &mut Call) -> Reply {
    expire_generic(call, 1000, false)
}
pub fn pexpire(call: &mut Call) -> Reply {
    expire_generic(call, 1, false)
}
pub fn expireat(call: &mut Call) -> Reply {
    expire_generic(call, 1000, true)
}
pub fn pexpireat(call: &mut Call) -> Reply {
    expire_generic(call, 1, true)
}

fn ttl_generic(call: &mut Call, kind: TtlKind) -> Reply {
    let key = call.arg(1).clone();
    Reply::Int(k::ttl(&mut call.cx(), &key, kind))
}

pub fn ttl(call: &mut Call) -> Reply {
    ttl_generic(call, TtlKind::Secs)
}
pub fn pttl(call: &mut Call) -> Reply {
    ttl_generic(call, TtlKind::Millis)
}
pub fn expiretime(call: &mut Call) -> Reply {
    ttl_generic(call, TtlKind::AtSecs)
}
pub fn pexpiretime(call: &mut Call) -> Reply {
    ttl_generic(call, TtlKind::AtMillis)
}

pub fn persist(call: &mut Call) -> Reply {
    let key = call.arg(1).clone();
    Reply::Int(k::persist(&mut call.cx(), &key))
}

pub fn keys(call: &mut Call) -> Reply {
    let keys = call.srv.engine.keys(call.client.db, call.arg(1));
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

pub fn scan(call: &mut Call) -> Reply {
    let cursor = match super::parse_cursor(call.arg(1)) {
        Ok(c) => c,
        Err(e) => return Reply::Error(e),
    };
    let mut count = 10usize;
    let mut pat: Option<Bytes> = None;
    let mut ty: Option<Bytes> = None;
    let mut i = 2;
    while i < call.args.len() {
        if i + 1 >= call.args.len() {
            return Reply::Error(error::SYNTAX);
        }
        match call.upper(i).as_str() {
            "COUNT" => match number::parse_i64(call.arg(i + 1)) {
                Some(n) if n >= 1 => count = n as usize,
                Some(_) => return Reply::Error(error::SYNTAX),
                None => return Reply::Error(error::NOT_INTEGER),
            },
            "MATCH" => pat = Some(call.arg(i + 1).clone()),
            "TYPE" => ty = Some(call.arg(i + 1).clone()),
            _ => return Reply::Error(error::SYNTAX),
        }
        i += 2;
    }
    let pat = pat.filter(|p| &p[..] != b"*");
    let (next, keys) =
        call.srv
            .engine
            .scan(call.client.db, cursor, count, pat.as_deref(), ty.as_deref());
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

pub fn randomkey(call: &mut Call) -> Reply {
    Reply::bulk_opt(call.srv.engine.random_key(call.client.db))
}

pub fn object(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("ENCODING", 3, |c| object_field(c, ObjectField::Encoding)),
            ("FREQ", 3, |c| object_field(c, ObjectField::Freq)),
            ("IDLETIME", 3, |c| object_field(c, ObjectField::IdleTime)),
            ("REFCOUNT", 3, |c| object_field(c, ObjectField::RefCount)),
            ("HELP", 2, |_| {
                help_reply(
                    "OBJECT",
                    &[
                        "ENCODING <key>",
                        "    Return the kind of internal representation used in order to store the value",
                        "    associated with a <key>.",
                        "FREQ <key>",
                        "    Return the access frequency index of the <key>. The returned integer is",
                        "    proportional to the logarithm of the recent access frequency of the key.",
                        "IDLETIME <key>",
                        "    Return the idle time of the <key>, that is the approximated number of",
                        "    seconds elapsed since the last access to the key.",
                        "REFCOUNT <key>",
                        "    Return the number of references of the value associated with the specified",
                        "    <key>.",
                    ],
                )
            }),
        ],
    )
}

fn object_field(call: &mut Call, f: ObjectField) -> Reply {
    let key = call.arg(2).clone();
    reply(k::object(&mut call.cx(), &key, f))
}
