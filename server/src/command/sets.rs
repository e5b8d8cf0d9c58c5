//! Set commands.

use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;
use strata_engine::types::set::{self as s, SetOp};

use super::hashes::{random_count, scan_command};
use super::lists::numkeys;
use super::{optional_count, Call};

handlers!(
    sadd,
    srem,
    smembers,
    sismember,
    smismember,
    scard,
    smove,
    spop,
    srandmember,
    sscan,
    sinter,
    sunion,
    sdiff,
    sinterstore,
    sunionstore,
    sdiffstore,
    sintercard,
);

mod imp {
    use super::*;

    pub fn sadd(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        s::sadd(&mut call.cx(), &k, &args[2..]).map(Reply::Int)
    }

    pub fn srem(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        s::srem(&mut call.cx(), &k, &args[2..]).map(Reply::Int)
    }

    pub fn smembers(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        s::smembers(&mut call.cx(), &k)
    }

    pub fn sismember(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, m) = (call.arg(1).clone(), call.arg(2).clone());
        s::sismember(&mut call.cx(), &k, &m).map(Reply::Int)
    }

    pub fn smismember(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        s::smismember(&mut call.cx(), &k, &args[2..])
    }

    pub fn scard(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        s::scard(&mut call.cx(), &k).map(Reply::Int)
    }

    pub fn smove(call: &mut Call) -> Result<Reply, CmdError> {
        let (a, b, m) = (
            call.arg(1).clone(),
            call.arg(2).clone(),
            call.arg(3).clone(),
        );
        s::smove(&mut call.cx(), &a, &b, &m).map(Reply::Int)
    }

    pub fn spop(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 3 {
            return Err(error::SYNTAX);
        }
        let count = optional_count(call.args, 2)?;
        let k = call.arg(1).clone();
        s::spop(&mut call.cx(), &k, count)
    }

    pub fn srandmember(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 3 {
            return Err(error::SYNTAX);
        }
        let count = match call.args.get(2) {
            None => None,
            Some(a) => Some(random_count(a, false)?),
        };
        let k = call.arg(1).clone();
        s::srandmember(&mut call.cx(), &k, count)
    }

    pub fn sscan(call: &mut Call) -> Result<Reply, CmdError> {
        scan_command(call, strata_engine::types::Kind::Set, false, s::sscan)
    }

    fn op(call: &mut Call, op: SetOp) -> Result<Reply, CmdError> {
        let args = call.args;
        s::setop(&mut call.cx(), &args[1..], op)
    }

    fn store(call: &mut Call, op: SetOp) -> Result<Reply, CmdError> {
        let (d, args) = (call.arg(1).clone(), call.args);
        s::setop_store(&mut call.cx(), &d, &args[2..], op).map(Reply::Int)
    }

    pub fn sinter(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, SetOp::Inter)
    }

    pub fn sunion(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, SetOp::Union)
    }

    pub fn sdiff(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, SetOp::Diff)
    }

    pub fn sinterstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, SetOp::Inter)
    }

    pub fn sunionstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, SetOp::Union)
    }

    pub fn sdiffstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, SetOp::Diff)
    }

    pub fn sintercard(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let (keys, i) = numkeys(args, 1)?;
        let limit = card_limit(args, i)?;
        s::sintercard(&mut call.cx(), keys, limit).map(Reply::Int)
    }
}

/// SINTERCARD and ZINTERCARD's `[LIMIT n]` from `i`.
pub fn card_limit(args: &[bytes::Bytes], mut i: usize) -> Result<usize, CmdError> {
    let mut limit = 0;
    while i < args.len() {
        if !args[i].eq_ignore_ascii_case(b"LIMIT") || i + 1 >= args.len() {
            return Err(error::SYNTAX);
        }
        limit = number::parse_i64(&args[i + 1])
            .filter(|&n| n >= 0)
            .ok_or(error::LIMIT_NEGATIVE)? as usize;
        i += 2;
    }
    Ok(limit)
}
