//! Sorted set commands.

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::number;
use strata_engine::reply::Reply;
use strata_engine::types::zset::{self as z, AddFlags, Aggregate, Range, ZOp};

use super::hashes::{random_count, scan_command};
use super::lists::numkeys;
use super::sets::card_limit;
use super::{mpop_count, optional_count, parse_int, Call};

handlers!(
    bzpopmin,
    bzpopmax,
    bzmpop,
    zadd,
    zincrby,
    zrem,
    zcard,
    zscore,
    zmscore,
    zrank,
    zrevrank,
    zcount,
    zlexcount,
    zrange,
    zrangestore,
    zrangebyscore,
    zrevrangebyscore,
    zrangebylex,
    zrevrangebylex,
    zrevrange,
    zremrangebyrank,
    zremrangebyscore,
    zremrangebylex,
    zpopmin,
    zpopmax,
    zmpop,
    zrandmember,
    zscan,
    zunion,
    zinter,
    zdiff,
    zunionstore,
    zinterstore,
    zdiffstore,
    zintercard,
);

fn score(a: &[u8]) -> Result<f64, CmdError> {
    number::parse_f64(a)
        .filter(|v| !v.is_nan())
        .ok_or(error::NOT_FLOAT)
}

/// How ZRANGE's start and stop are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// ZRANGE's arguments after the key: min, max and options from `at`.
struct RangeArgs {
    range: Range,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
}

/// Parses a ZRANGE-family range. `by` and `rev` are preset by the legacy commands; `opts`
/// says whether BYSCORE/BYLEX/REV may appear.
fn range_args(
    args: &[Bytes],
    at: usize,
    mut by: By,
    mut rev: bool,
    unified: bool,
    store: bool,
) -> Result<RangeArgs, CmdError> {
    let mut limit = None;
    let mut withscores = false;
    let mut i = at + 2;
    let mut by_given = false;
    while i < args.len() {
        let o = String::from_utf8_lossy(&args[i]).to_ascii_uppercase();
        if matches!(o.as_str(), "BYSCORE" | "BYLEX") && unified {
            if by_given {
                return Err(error::SYNTAX);
            }
            by_given = true;
        }
        match o.as_str() {
            "WITHSCORES" if !store => withscores = true,
            "LIMIT" if i + 2 < args.len() => {
                limit = Some((parse_int(&args[i + 1])?, parse_int(&args[i + 2])?));
                i += 2;
            }
            "BYSCORE" if unified => by = By::Score,
            "BYLEX" if unified => by = By::Lex,
            "REV" if unified && !rev => rev = true,
            _ => return Err(error::SYNTAX),
        }
        i += 1;
    }
    if limit.is_some() && by == By::Rank {
        return Err(error::ZRANGE_LIMIT);
    }
    if withscores && by == By::Lex {
        return Err(error::ZRANGE_WITHSCORES_BYLEX);
    }
    // With REV, the unified form takes max first; the legacy REV commands do too.
    let (lo, hi) = if rev && by != By::Rank {
        (&args[at + 1], &args[at])
    } else {
        (&args[at], &args[at + 1])
    };
    let range = match by {
        By::Rank => Range::Rank(parse_int(&args[at])?, parse_int(&args[at + 1])?),
        By::Score => Range::Score(z::parse_score_bound(lo)?, z::parse_score_bound(hi)?),
        By::Lex => Range::Lex(z::parse_lex_bound(lo)?, z::parse_lex_bound(hi)?),
    };
    Ok(RangeArgs {
        range,
        rev,
        limit,
        withscores,
    })
}

/// ZUNION/ZINTER/ZDIFF (and STORE) options after the keys.
struct OpArgs<'a> {
    keys: &'a [Bytes],
    weights: Vec<f64>,
    agg: Aggregate,
    withscores: bool,
}

/// The numkeys of ZUNION & co. and ZINTERCARD: the keys and the index after them.
fn zop_numkeys(args: &[Bytes], at: usize) -> Result<(&[Bytes], usize), CmdError> {
    let n = number::parse_i64(&args[at]).ok_or(error::NOT_INTEGER)?;
    if n < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(CmdError::owned(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(error::SYNTAX);
    }
    let end = at + 1 + n as usize;
    Ok((&args[at + 1..end], end))
}

fn op_args(args: &[Bytes], at: usize, op: ZOp, store: bool) -> Result<OpArgs<'_>, CmdError> {
    let (keys, _) = zop_numkeys(args, at)?;
    let n = keys.len() as i64;
    let mut o = OpArgs {
        keys,
        weights: Vec::new(),
        agg: Aggregate::Sum,
        withscores: false,
    };
    let mut i = at + 1 + n as usize;
    while i < args.len() {
        let w = String::from_utf8_lossy(&args[i]).to_ascii_uppercase();
        match w.as_str() {
            "WEIGHTS" if op != ZOp::Diff && i + (n as usize) < args.len() => {
                o.weights = args[i + 1..=i + n as usize]
                    .iter()
                    .map(|a| {
                        number::parse_f64(a)
                            .filter(|v| !v.is_nan())
                            .ok_or(error::WEIGHT_NOT_FLOAT)
                    })
                    .collect::<Result<_, _>>()?;
                i += n as usize;
            }
            "AGGREGATE" if op != ZOp::Diff && i + 1 < args.len() => {
                o.agg = match String::from_utf8_lossy(&args[i + 1])
                    .to_ascii_uppercase()
                    .as_str()
                {
                    "SUM" => Aggregate::Sum,
                    "MIN" => Aggregate::Min,
                    "MAX" => Aggregate::Max,
                    _ => return Err(error::SYNTAX),
                };
                i += 1;
            }
            "WITHSCORES" if !store => o.withscores = true,
            _ => return Err(error::SYNTAX),
        }
        i += 1;
    }
    Ok(o)
}

mod imp {
    use super::*;

    pub fn zadd(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let mut f = AddFlags::default();
        let mut i = 2;
        while i < args.len() {
            match String::from_utf8_lossy(&args[i])
                .to_ascii_uppercase()
                .as_str()
            {
                "NX" => f.nx = true,
                "XX" => f.xx = true,
                "GT" => f.gt = true,
                "LT" => f.lt = true,
                "CH" => f.ch = true,
                "INCR" => f.incr = true,
                _ => break,
            }
            i += 1;
        }
        let rest = &args[i..];
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(error::SYNTAX);
        }
        if f.nx && f.xx {
            return Err(error::ZADD_XX_NX);
        }
        if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
            return Err(error::ZADD_GT_LT_NX);
        }
        if f.incr && rest.len() > 2 {
            return Err(error::ZADD_INCR_PAIR);
        }
        let pairs = rest
            .chunks(2)
            .map(|p| Ok((score(&p[0])?, p[1].clone())))
            .collect::<Result<Vec<_>, CmdError>>()?;
        let k = call.arg(1).clone();
        if f.incr {
            // Notified as ZINCRBY is.
            call.effects.cmd = "zincrby";
        }
        z::zadd(&mut call.cx(), &k, &pairs, f)
    }

    pub fn zincrby(call: &mut Call) -> Result<Reply, CmdError> {
        let by = score(call.arg(2))?;
        let (k, m) = (call.arg(1).clone(), call.arg(3).clone());
        let f = AddFlags {
            incr: true,
            ..Default::default()
        };
        z::zadd(&mut call.cx(), &k, &[(by, m)], f)
    }

    pub fn zrem(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        z::zrem(&mut call.cx(), &k, &args[2..]).map(Reply::Int)
    }

    pub fn zcard(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        z::zcard(&mut call.cx(), &k).map(Reply::Int)
    }

    pub fn zscore(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, m) = (call.arg(1).clone(), call.arg(2).clone());
        z::zscore(&mut call.cx(), &k, &m)
    }

    pub fn zmscore(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        z::zmscore(&mut call.cx(), &k, &args[2..])
    }

    fn rank(call: &mut Call, rev: bool) -> Result<Reply, CmdError> {
        let withscore = match call.args.len() {
            n if n > 4 => return Err(CmdError::wrong_arity(&call.name())),
            3 => false,
            4 if call.arg(3).eq_ignore_ascii_case(b"WITHSCORE") => true,
            _ => return Err(error::SYNTAX),
        };
        let (k, m) = (call.arg(1).clone(), call.arg(2).clone());
        z::zrank(&mut call.cx(), &k, &m, rev, withscore)
    }

    pub fn zrank(call: &mut Call) -> Result<Reply, CmdError> {
        rank(call, false)
    }

    pub fn zrevrank(call: &mut Call) -> Result<Reply, CmdError> {
        rank(call, true)
    }

    pub fn zcount(call: &mut Call) -> Result<Reply, CmdError> {
        let r = Range::Score(
            z::parse_score_bound(call.arg(2))?,
            z::parse_score_bound(call.arg(3))?,
        );
        let k = call.arg(1).clone();
        z::zcount(&mut call.cx(), &k, &r).map(Reply::Int)
    }

    pub fn zlexcount(call: &mut Call) -> Result<Reply, CmdError> {
        let r = Range::Lex(
            z::parse_lex_bound(call.arg(2))?,
            z::parse_lex_bound(call.arg(3))?,
        );
        let k = call.arg(1).clone();
        z::zcount(&mut call.cx(), &k, &r).map(Reply::Int)
    }

    fn range(call: &mut Call, by: By, rev: bool, unified: bool) -> Result<Reply, CmdError> {
        let args = call.args;
        let r = range_args(args, 2, by, rev, unified, false)?;
        let k = call.arg(1).clone();
        z::zrange(&mut call.cx(), &k, &r.range, r.rev, r.limit, r.withscores)
    }

    pub fn zrange(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Rank, false, true)
    }

    pub fn zrangebyscore(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Score, false, false)
    }

    pub fn zrevrangebyscore(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Score, true, false)
    }

    pub fn zrangebylex(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Lex, false, false)
    }

    pub fn zrevrangebylex(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Lex, true, false)
    }

    pub fn zrevrange(call: &mut Call) -> Result<Reply, CmdError> {
        range(call, By::Rank, true, false)
    }

    pub fn zrangestore(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let r = range_args(args, 3, By::Rank, false, true, true)?;
        let (d, s) = (call.arg(1).clone(), call.arg(2).clone());
        z::zrangestore(&mut call.cx(), &d, &s, &r.range, r.rev, r.limit).map(Reply::Int)
    }

    fn remrange(call: &mut Call, by: By) -> Result<Reply, CmdError> {
        let (a, b) = (call.arg(2), call.arg(3));
        let r = match by {
            By::Rank => Range::Rank(parse_int(a)?, parse_int(b)?),
            By::Score => Range::Score(z::parse_score_bound(a)?, z::parse_score_bound(b)?),
            By::Lex => Range::Lex(z::parse_lex_bound(a)?, z::parse_lex_bound(b)?),
        };
        let k = call.arg(1).clone();
        z::zremrange(&mut call.cx(), &k, &r).map(Reply::Int)
    }

    pub fn zremrangebyrank(call: &mut Call) -> Result<Reply, CmdError> {
        remrange(call, By::Rank)
    }

    pub fn zremrangebyscore(call: &mut Call) -> Result<Reply, CmdError> {
        remrange(call, By::Score)
    }

    pub fn zremrangebylex(call: &mut Call) -> Result<Reply, CmdError> {
        remrange(call, By::Lex)
    }

    fn pop(call: &mut Call, max: bool) -> Result<Reply, CmdError> {
        if call.args.len() > 3 {
            return Err(error::SYNTAX);
        }
        let count = optional_count(call.args, 2)?;
        let k = call.arg(1).clone();
        z::zpop(&mut call.cx(), &k, max, count)
    }

    pub fn zpopmin(call: &mut Call) -> Result<Reply, CmdError> {
        pop(call, false)
    }

    pub fn zpopmax(call: &mut Call) -> Result<Reply, CmdError> {
        pop(call, true)
    }

    /// `numkeys key... MIN|MAX [COUNT n]` from `at` (ZMPOP, BZMPOP).
    fn mpop_args(args: &[Bytes], at: usize) -> Result<(&[Bytes], bool, usize), CmdError> {
        let (keys, i) = numkeys(args, at)?;
        let max = match args.get(i).map(|a| a.to_ascii_uppercase()) {
            Some(w) if w == b"MIN" => false,
            Some(w) if w == b"MAX" => true,
            _ => return Err(error::SYNTAX),
        };
        Ok((keys, max, mpop_count(args, i + 1)?))
    }

    pub fn zmpop(call: &mut Call) -> Result<Reply, CmdError> {
        let (keys, max, count) = mpop_args(call.args, 1)?;
        z::zmpop(&mut call.cx(), keys, max, count)
    }

    pub fn zrandmember(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 4
            || (call.args.len() == 4 && !call.arg(3).eq_ignore_ascii_case(b"WITHSCORES"))
        {
            return Err(error::SYNTAX);
        }
        let withscores = call.args.len() == 4;
        let count = match call.args.get(2) {
            None => None,
            Some(a) => Some(random_count(a, withscores)?),
        };
        let k = call.arg(1).clone();
        z::zrandmember(&mut call.cx(), &k, count, withscores)
    }

    pub fn zscan(call: &mut Call) -> Result<Reply, CmdError> {
        scan_command(call, strata_engine::types::Kind::ZSet, false, z::zscan)
    }

    fn op(call: &mut Call, op: ZOp) -> Result<Reply, CmdError> {
        let args = call.args;
        let o = op_args(args, 1, op, false)?;
        z::zop(&mut call.cx(), o.keys, &o.weights, o.agg, op, o.withscores)
    }

    fn store(call: &mut Call, op: ZOp) -> Result<Reply, CmdError> {
        let args = call.args;
        let o = op_args(args, 2, op, true)?;
        let d = call.arg(1).clone();
        z::zop_store(&mut call.cx(), &d, o.keys, &o.weights, o.agg, op).map(Reply::Int)
    }

    pub fn zunion(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, ZOp::Union)
    }

    pub fn zinter(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, ZOp::Inter)
    }

    pub fn zdiff(call: &mut Call) -> Result<Reply, CmdError> {
        op(call, ZOp::Diff)
    }

    pub fn zunionstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, ZOp::Union)
    }

    pub fn zinterstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, ZOp::Inter)
    }

    pub fn zdiffstore(call: &mut Call) -> Result<Reply, CmdError> {
        store(call, ZOp::Diff)
    }

    pub fn zintercard(call: &mut Call) -> Result<Reply, CmdError> {
        let args = call.args;
        let (keys, i) = zop_numkeys(args, 1)?;
        let limit = card_limit(args, i)?;
        z::zintercard(&mut call.cx(), keys, limit).map(Reply::Int)
    }

    fn bzpop(call: &mut Call, max: bool) -> Result<Reply, CmdError> {
        let n = call.args.len();
        let timeout = crate::blocking::parse_timeout(&call.args[n - 1])?;
        let keys = &call.args[1..n - 1];
        match z::zmpop(&mut call.cx(), keys, max, 1)? {
            // [key, [[member, score]]] becomes [key, member, score].
            Reply::Array(mut v) if v.len() == 2 => {
                if let Some(Reply::Array(mut items)) = v.pop() {
                    if let Some(Reply::Array(pair)) = items.pop() {
                        v.extend(pair);
                    }
                }
                Ok(Reply::Array(v))
            }
            _ => Ok(super::super::block(call, keys, timeout, Reply::NilArray)),
        }
    }

    pub fn bzpopmin(call: &mut Call) -> Result<Reply, CmdError> {
        bzpop(call, false)
    }

    pub fn bzpopmax(call: &mut Call) -> Result<Reply, CmdError> {
        bzpop(call, true)
    }

    pub fn bzmpop(call: &mut Call) -> Result<Reply, CmdError> {
        let timeout = crate::blocking::parse_timeout(call.arg(1))?;
        let (keys, max, count) = mpop_args(call.args, 2)?;
        match z::zmpop(&mut call.cx(), keys, max, count)? {
            Reply::NilArray => Ok(super::super::block(call, keys, timeout, Reply::NilArray)),
            r => Ok(r),
        }
    }
}
