//! String commands: option parsing, then the engine's string operations.

use strata_engine::error::{self, CmdError};
use strata_engine::keyspace::Ttl;
use strata_engine::number;
use strata_engine::reply::Reply;
use strata_engine::types::string::{self as s, Cond, GetExOpt, LcsOpts, SetOpts};

use super::{reply, Call};

/// Turns an EX/PX/EXAT/PXAT argument into an absolute unix-ms deadline with Redis's checks.
fn deadline(call: &Call, arg: &[u8], unit_ms: i64, absolute: bool) -> Result<u64, CmdError> {
    let v = number::parse_i64(arg).ok_or(error::NOT_INTEGER)?;
    let invalid = || CmdError::invalid_expire(&call.name());
    if v <= 0 {
        return Err(invalid());
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(call.srv.engine.now_ms() as i64)
            .ok_or_else(invalid)?
    };
    Ok(at as u64)
}

/// SET and GETEX options, parsed like Redis's parseExtendedStringArgumentsOrReply: an option
/// may repeat (the last expiry wins) but may not contradict another, and the expiry's number
/// is checked only once every option has been read.
struct ExtendedOpts {
    cond: Cond,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    /// EX, PX, EXAT or PXAT, with its argument.
    expire: Option<(&'static str, usize)>,
}

fn extended_opts(call: &Call, first: usize, for_set: bool) -> Result<ExtendedOpts, CmdError> {
    let mut o = ExtendedOpts {
        cond: Cond::Always,
        get: false,
        keep_ttl: false,
        persist: false,
        expire: None,
    };
    let mut i = first;
    while i < call.args.len() {
        let opt = call.upper(i);
        let has_next = i + 1 < call.args.len();
        let other_expire = |kind: &str| o.expire.is_some_and(|(k, _)| k != kind);
        match opt.as_str() {
            "NX" if for_set && o.cond != Cond::Xx => o.cond = Cond::Nx,
            "XX" if for_set && o.cond != Cond::Nx => o.cond = Cond::Xx,
            "GET" if for_set => o.get = true,
            "KEEPTTL" if for_set && !o.persist && o.expire.is_none() => o.keep_ttl = true,
            "PERSIST" if !for_set && !o.keep_ttl && o.expire.is_none() => o.persist = true,
            "EX" | "PX" | "EXAT" | "PXAT" if has_next && !o.keep_ttl && !o.persist => {
                let kind = match opt.as_str() {
                    "EX" => "EX",
                    "PX" => "PX",
                    "EXAT" => "EXAT",
                    _ => "PXAT",
                };
                if other_expire(kind) {
                    return Err(error::SYNTAX);
                }
                o.expire = Some((kind, i + 1));
                i += 1;
            }
            _ => return Err(error::SYNTAX),
        }
        i += 1;
    }
    Ok(o)
}

impl ExtendedOpts {
    fn deadline(&self, call: &Call) -> Result<Option<u64>, CmdError> {
        match self.expire {
            None => Ok(None),
            Some((kind, at)) => {
                let unit = if kind.starts_with('E') { 1000 } else { 1 };
                deadline(call, call.arg(at), unit, kind.ends_with("AT")).map(Some)
            }
        }
    }
}

/// Parses SET's options (from argument 3 on).
fn set_opts(call: &Call) -> Result<SetOpts, CmdError> {
    let o = extended_opts(call, 3, true)?;
    let ttl = match o.deadline(call)? {
        Some(at) => Ttl::At(at),
        None if o.keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    Ok(SetOpts {
        cond: o.cond,
        get: o.get,
        ttl,
    })
}

pub fn set(call: &mut Call) -> Reply {
    let opts = match set_opts(call) {
        Ok(o) => o,
        Err(e) => return Reply::Error(e),
    };
    let (k, v) = (call.arg(1).clone(), call.arg(2).clone());
    reply(s::set(&mut call.cx(), &k, &v, opts))
}

pub fn setnx(call: &mut Call) -> Reply {
    let (k, v) = (call.arg(1).clone(), call.arg(2).clone());
    let opts = SetOpts {
        cond: Cond::Nx,
        get: false,
        ttl: Ttl::Clear,
    };
    reply(s::set(&mut call.cx(), &k, &v, opts).map(|r| Reply::Int((r == Reply::Ok) as i64)))
}

fn setex_generic(call: &mut Call, unit: i64) -> Reply {
    let at = match deadline(call, call.arg(2), unit, false) {
        Ok(a) => a,
        Err(e) => return Reply::Error(e),
    };
    let (k, v) = (call.arg(1).clone(), call.arg(3).clone());
    reply(s::set(
        &mut call.cx(),
        &k,
        &v,
        SetOpts {
            cond: Cond::Always,
            get: false,
            ttl: Ttl::At(at),
        },
    ))
}

pub fn setex(call: &mut Call) -> Reply {
    setex_generic(call, 1000)
}

pub fn psetex(call: &mut Call) -> Reply {
    setex_generic(call, 1)
}

pub fn getset(call: &mut Call) -> Reply {
    let (k, v) = (call.arg(1).clone(), call.arg(2).clone());
    reply(s::set(
        &mut call.cx(),
        &k,
        &v,
        SetOpts {
            cond: Cond::Always,
            get: true,
            ttl: Ttl::Clear,
        },
    ))
}

pub fn get(call: &mut Call) -> Reply {
    let k = call.arg(1).clone();
    reply(s::get(&mut call.cx(), &k))
}

pub fn getex(call: &mut Call) -> Reply {
    // Option syntax is checked first, the expiry's number only once the key is known to hold a
    // string (Redis's order).
    let opts = match extended_opts(call, 2, false) {
        Ok(o) => o,
        Err(e) => return Reply::Error(e),
    };
    let opt = match opts.deadline(call) {
        Ok(Some(at)) => Ok(GetExOpt::At(at)),
        Ok(None) if opts.persist => Ok(GetExOpt::Persist),
        Ok(None) => Ok(GetExOpt::None),
        Err(e) => Err(e),
    };
    let k = call.arg(1).clone();
    reply(s::getex(&mut call.cx(), &k, opt))
}

pub fn getdel(call: &mut Call) -> Reply {
    let k = call.arg(1).clone();
    reply(s::getdel(&mut call.cx(), &k))
}

pub fn mget(call: &mut Call) -> Reply {
    let keys = &call.args[1..];
    s::mget(&mut call.cx(), keys)
}

fn mset_generic(call: &mut Call, nx: bool) -> Reply {
    if call.args.len().is_multiple_of(2) {
        return Reply::Error(CmdError::wrong_arity(&call.name()));
    }
    let pairs = &call.args[1..];
    let done = s::mset(&mut call.cx(), pairs, nx);
    if nx {
        Reply::Int(done as i64)
    } else {
        Reply::Ok
    }
}

pub fn mset(call: &mut Call) -> Reply {
    mset_generic(call, false)
}

pub fn msetnx(call: &mut Call) -> Reply {
    mset_generic(call, true)
}

fn incr_generic(call: &mut Call, by: i64) -> Reply {
    let k = call.arg(1).clone();
    reply(s::incr_by(&mut call.cx(), &k, by))
}

pub fn incr(call: &mut Call) -> Reply {
    incr_generic(call, 1)
}

pub fn decr(call: &mut Call) -> Reply {
    incr_generic(call, -1)
}

pub fn incrby(call: &mut Call) -> Reply {
    match call.int(2) {
        Ok(by) => incr_generic(call, by),
        Err(e) => Reply::Error(e),
    }
}

pub fn decrby(call: &mut Call) -> Reply {
    match call.int(2) {
        Ok(i64::MIN) => Reply::Error(error::DECR_OVERFLOW),
        Ok(by) => incr_generic(call, -by),
        Err(e) => Reply::Error(e),
    }
}

pub fn incrbyfloat(call: &mut Call) -> Reply {
    let Some(by) = number::LongDouble::parse(call.arg(2)) else {
        return Reply::Error(error::NOT_FLOAT);
    };
    let k = call.arg(1).clone();
    reply(s::incr_by_float(&mut call.cx(), &k, by))
}

pub fn append(call: &mut Call) -> Reply {
    let (k, v) = (call.arg(1).clone(), call.arg(2).clone());
    reply(s::append(&mut call.cx(), &k, &v))
}

pub fn strlen(call: &mut Call) -> Reply {
    let k = call.arg(1).clone();
    reply(s::strlen(&mut call.cx(), &k))
}

pub fn setrange(call: &mut Call) -> Reply {
    let Ok(off) = call.int(2) else {
        return Reply::Error(error::NOT_INTEGER);
    };
    let (k, v) = (call.arg(1).clone(), call.arg(3).clone());
    reply(s::setrange(&mut call.cx(), &k, off, &v))
}

pub fn getrange(call: &mut Call) -> Reply {
    let (Ok(a), Ok(b)) = (call.int(2), call.int(3)) else {
        return Reply::Error(error::NOT_INTEGER);
    };
    let k = call.arg(1).clone();
    reply(s::getrange(&mut call.cx(), &k, a, b))
}

pub fn lcs(call: &mut Call) -> Reply {
    let mut o = LcsOpts {
        len: false,
        idx: false,
        min_match_len: 0,
        with_match_len: false,
    };
    let mut i = 3;
    while i < call.args.len() {
        match call.upper(i).as_str() {
            "LEN" => o.len = true,
            "IDX" => o.idx = true,
            "WITHMATCHLEN" => o.with_match_len = true,
            "MINMATCHLEN" if i + 1 < call.args.len() => {
                match call.int(i + 1) {
                    Ok(n) => o.min_match_len = n.max(0) as usize,
                    Err(e) => return Reply::Error(e),
                }
                i += 1;
            }
            _ => return Reply::Error(error::SYNTAX),
        }
        i += 1;
    }
    if o.len && o.idx {
        return Reply::Error(error::LCS_LEN_AND_IDX);
    }
    let (a, b) = (call.arg(1).clone(), call.arg(2).clone());
    reply(s::lcs(&mut call.cx(), &a, &b, &o))
}
