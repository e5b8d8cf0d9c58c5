//! List commands, blocking forms included.

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;
use strata_engine::types::list::{self as l, LposOpts};
use strata_engine::types::{exists_as, Kind};

use super::{block, mpop_count, optional_count, parse_int, Call};
use crate::blocking::parse_timeout;

handlers!(
    lpush, rpush, lpushx, rpushx, lpop, rpop, llen, lindex, lset, lrange, ltrim, lrem, linsert,
    lpos, lmove, rpoplpush, lmpop, blpop, brpop, blmove, brpoplpush, blmpop,
);

/// `numkeys key... ` at `at`: the keys and the index after them (LMPOP, ZMPOP, SINTERCARD...).
pub fn numkeys(args: &[Bytes], at: usize) -> Result<(&[Bytes], usize), CmdError> {
    let n = number::parse_i64(&args[at])
        .filter(|&n| n > 0)
        .ok_or(error::NUMKEYS_POSITIVE)? as u64;
    if n > (args.len() - at - 1) as u64 {
        return Err(error::NUMKEYS_TOO_MANY);
    }
    let end = at + 1 + n as usize;
    Ok((&args[at + 1..end], end))
}

/// LEFT or RIGHT.
fn side(a: &[u8]) -> Result<bool, CmdError> {
    if a.eq_ignore_ascii_case(b"LEFT") {
        Ok(true)
    } else if a.eq_ignore_ascii_case(b"RIGHT") {
        Ok(false)
    } else {
        Err(error::SYNTAX)
    }
}

mod imp {
    use super::*;

    fn push(call: &mut Call, left: bool, x: bool) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        l::push(&mut call.cx(), &k, &args[2..], left, x).map(Reply::Int)
    }

    pub fn lpush(call: &mut Call) -> Result<Reply, CmdError> {
        push(call, true, false)
    }

    pub fn rpush(call: &mut Call) -> Result<Reply, CmdError> {
        push(call, false, false)
    }

    pub fn lpushx(call: &mut Call) -> Result<Reply, CmdError> {
        push(call, true, true)
    }

    pub fn rpushx(call: &mut Call) -> Result<Reply, CmdError> {
        push(call, false, true)
    }

    fn pop(call: &mut Call, left: bool) -> Result<Reply, CmdError> {
        if call.args.len() > 3 {
            return Err(CmdError::wrong_arity(&call.name()));
        }
        let count = optional_count(call.args, 2)?;
        let k = call.arg(1).clone();
        l::pop(&mut call.cx(), &k, left, count)
    }

    pub fn lpop(call: &mut Call) -> Result<Reply, CmdError> {
        pop(call, true)
    }

    pub fn rpop(call: &mut Call) -> Result<Reply, CmdError> {
        pop(call, false)
    }

    pub fn llen(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        l::llen(&mut call.cx(), &k).map(Reply::Int)
    }

    // LINDEX and LSET look the key up before reading the index, as Redis does.
    pub fn lindex(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        if !exists_as(&mut call.cx(), &k, Kind::List)? {
            return l::lindex(&mut call.cx(), &k, 0);
        }
        let i = parse_int(call.arg(2))?;
        l::lindex(&mut call.cx(), &k, i)
    }

    pub fn lset(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, e) = (call.arg(1).clone(), call.arg(3).clone());
        if !exists_as(&mut call.cx(), &k, Kind::List)? {
            return Err(error::NO_SUCH_KEY);
        }
        let i = parse_int(call.arg(2))?;
        l::lset(&mut call.cx(), &k, i, &e)
    }

    pub fn lrange(call: &mut Call) -> Result<Reply, CmdError> {
        let (s, e) = (parse_int(call.arg(2))?, parse_int(call.arg(3))?);
        let k = call.arg(1).clone();
        l::lrange(&mut call.cx(), &k, s, e)
    }

    pub fn ltrim(call: &mut Call) -> Result<Reply, CmdError> {
        let (s, e) = (parse_int(call.arg(2))?, parse_int(call.arg(3))?);
        let k = call.arg(1).clone();
        l::ltrim(&mut call.cx(), &k, s, e)
    }

    pub fn lrem(call: &mut Call) -> Result<Reply, CmdError> {
        let n = parse_int(call.arg(2))?;
        let (k, e) = (call.arg(1).clone(), call.arg(3).clone());
        l::lrem(&mut call.cx(), &k, n, &e).map(Reply::Int)
    }

    pub fn linsert(call: &mut Call) -> Result<Reply, CmdError> {
        let before = match call.upper(2).as_str() {
            "BEFORE" => true,
            "AFTER" => false,
            _ => return Err(error::SYNTAX),
        };
        let (k, p, e) = (
            call.arg(1).clone(),
            call.arg(3).clone(),
            call.arg(4).clone(),
        );
        l::linsert(&mut call.cx(), &k, before, &p, &e).map(Reply::Int)
    }

    pub fn lpos(call: &mut Call) -> Result<Reply, CmdError> {
        let mut o = LposOpts {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        let mut i = 3;
        while i < call.args.len() {
            if i + 1 >= call.args.len() {
                return Err(error::SYNTAX);
            }
            let v = call.arg(i + 1);
            match call.upper(i).as_str() {
                "RANK" => {
                    let r = number::parse_i64(v).ok_or(error::NOT_INTEGER)?;
                    if r == i64::MIN {
                        return Err(error::RANGE_LONG);
                    }
                    if r == 0 {
                        return Err(error::RANK_ZERO);
                    }
                    o.rank = r;
                }
                "COUNT" => {
                    o.count = Some(
                        number::parse_i64(v)
                            .filter(|&n| n >= 0)
                            .ok_or(error::COUNT_NEGATIVE)? as usize,
                    )
                }
                "MAXLEN" => {
                    o.maxlen = number::parse_i64(v)
                        .filter(|&n| n >= 0)
                        .ok_or(error::MAXLEN_NEGATIVE)? as usize
                }
                _ => return Err(error::SYNTAX),
            }
            i += 2;
        }
        let (k, e) = (call.arg(1).clone(), call.arg(2).clone());
        l::lpos(&mut call.cx(), &k, &e, o)
    }

    pub fn lmove(call: &mut Call) -> Result<Reply, CmdError> {
        let (from, to) = (side(call.arg(3))?, side(call.arg(4))?);
        let (s, d) = (call.arg(1).clone(), call.arg(2).clone());
        l::lmove(&mut call.cx(), &s, &d, from, to)
    }

    pub fn rpoplpush(call: &mut Call) -> Result<Reply, CmdError> {
        let (s, d) = (call.arg(1).clone(), call.arg(2).clone());
        l::lmove(&mut call.cx(), &s, &d, false, true)
    }

    /// `numkeys key... LEFT|RIGHT [COUNT n]` from `at` (LMPOP, BLMPOP).
    fn mpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], bool, usize), CmdError> {
        let (keys, i) = numkeys(args, at)?;
        let left = side(args.get(i).ok_or(error::SYNTAX)?)?;
        Ok((keys, left, mpop_count(args, i + 1)?))
    }

    pub fn lmpop(call: &mut Call) -> Result<Reply, CmdError> {
        let (keys, left, count) = mpop_args(call.args, 1)?;
        l::lmpop(&mut call.cx(), keys, left, count)
    }

    fn bpop(call: &mut Call, left: bool) -> Result<Reply, CmdError> {
        let n = call.args.len();
        let timeout = parse_timeout(&call.args[n - 1])?;
        let keys = &call.args[1..n - 1];
        match l::lmpop(&mut call.cx(), keys, left, 1)? {
            // [key, [element]] becomes [key, element].
            Reply::Array(mut v) if v.len() == 2 => {
                let elem = match v.pop() {
                    Some(Reply::Array(mut e)) if !e.is_empty() => e.remove(0),
                    other => other.unwrap_or(Reply::Nil),
                };
                v.push(elem);
                Ok(Reply::Array(v))
            }
            _ => Ok(block(call, keys, timeout, Reply::NilArray)),
        }
    }

    pub fn blpop(call: &mut Call) -> Result<Reply, CmdError> {
        bpop(call, true)
    }

    pub fn brpop(call: &mut Call) -> Result<Reply, CmdError> {
        bpop(call, false)
    }

    fn bmove(call: &mut Call, from: bool, to: bool, timeout_at: usize) -> Result<Reply, CmdError> {
        let timeout = parse_timeout(&call.args[timeout_at])?;
        let (s, d) = (call.arg(1).clone(), call.arg(2).clone());
        match l::lmove(&mut call.cx(), &s, &d, from, to)? {
            // Inside MULTI or a script: a null bulk string; on timeout: a null array (Redis).
            Reply::Nil if call.effects.deferred => Ok(Reply::Nil),
            Reply::Nil => Ok(block(call, &[s], timeout, Reply::NilArray)),
            r => Ok(r),
        }
    }

    pub fn blmove(call: &mut Call) -> Result<Reply, CmdError> {
        let (from, to) = (side(call.arg(3))?, side(call.arg(4))?);
        bmove(call, from, to, 5)
    }

    pub fn brpoplpush(call: &mut Call) -> Result<Reply, CmdError> {
        bmove(call, false, true, 3)
    }

    pub fn blmpop(call: &mut Call) -> Result<Reply, CmdError> {
        let timeout = parse_timeout(call.arg(1))?;
        let (keys, left, count) = mpop_args(call.args, 2)?;
        match l::lmpop(&mut call.cx(), keys, left, count)? {
            Reply::NilArray => Ok(block(call, keys, timeout, Reply::NilArray)),
            r => Ok(r),
        }
    }
}
