//! Hash commands, including Redis 7.4's field expiry (HEXPIRE and friends).

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::number::{self, LongDouble};
use strata_engine::reply::Reply;
use strata_engine::types::hash::{self as h, FieldCond, FieldTtlKind, Part};

use super::{parse_cursor, parse_int, Call};

handlers!(
    hset,
    hmset,
    hsetnx,
    hget,
    hmget,
    hgetall,
    hkeys,
    hvals,
    hdel,
    hlen,
    hexists,
    hstrlen,
    hincrby,
    hincrbyfloat,
    hrandfield,
    hscan,
    hexpire,
    hpexpire,
    hexpireat,
    hpexpireat,
    httl,
    hpttl,
    hexpiretime,
    hpexpiretime,
    hpersist,
);

/// SSCAN/HSCAN/ZSCAN, in Redis's order: the cursor, then the key (missing = an empty scan,
/// another type = WRONGTYPE), then the options; then `run` scans.
pub fn scan_command(
    call: &mut Call,
    kind: strata_engine::types::Kind,
    allow_novalues: bool,
    run: fn(
        &mut strata_engine::ctx::Ctx,
        &[u8],
        &strata_engine::types::ScanOpts,
    ) -> Result<Reply, CmdError>,
) -> Result<Reply, CmdError> {
    let (k, args) = (call.arg(1).clone(), call.args);
    let cursor = parse_cursor(&args[2])?;
    if !strata_engine::types::exists_as(&mut call.cx(), &k, kind)? {
        return Ok(Reply::Array(vec![
            Reply::bulk_str("0"),
            Reply::Array(Vec::new()),
        ]));
    }
    let o = scan_opts(args, cursor, allow_novalues)?;
    run(&mut call.cx(), &k, &o)
}

/// SSCAN/HSCAN/ZSCAN's options after the cursor; `novalues` is accepted only for HSCAN.
fn scan_opts(
    args: &[Bytes],
    cursor: u64,
    allow_novalues: bool,
) -> Result<strata_engine::types::ScanOpts<'_>, CmdError> {
    let mut o = strata_engine::types::ScanOpts {
        cursor,
        count: 10,
        pattern: None,
        novalues: false,
    };
    let mut i = 3;
    while i < args.len() {
        let opt = String::from_utf8_lossy(&args[i]).to_ascii_uppercase();
        if allow_novalues && opt == "NOVALUES" {
            o.novalues = true;
            i += 1;
            continue;
        }
        if i + 1 >= args.len() {
            return Err(error::SYNTAX);
        }
        match opt.as_str() {
            "COUNT" => match number::parse_i64(&args[i + 1]) {
                Some(n) if n >= 1 => o.count = n as usize,
                Some(_) => return Err(error::SYNTAX),
                None => return Err(error::NOT_INTEGER),
            },
            "MATCH" => {
                let p = &args[i + 1][..];
                o.pattern = (p != b"*").then_some(p);
            }
            _ => return Err(error::SYNTAX),
        }
        i += 2;
    }
    Ok(o)
}

/// `FIELDS numfields field...` starting at `at`: the fields. `bad_count` is the error for a
/// numfields that is not a positive integer (the HEXPIRE and HTTL families word it differently).
fn fields_arg(args: &[Bytes], at: usize, bad_count: CmdError) -> Result<&[Bytes], CmdError> {
    if at >= args.len() || !args[at].eq_ignore_ascii_case(b"FIELDS") {
        return Err(error::FIELDS_MISSING);
    }
    let n = args
        .get(at + 1)
        .and_then(|a| number::parse_i64(a))
        .filter(|&n| n >= 1)
        .ok_or(bad_count)?;
    let rest = args.len() - at - 2;
    if n as u64 != rest as u64 {
        return Err(error::NUMFIELDS_MISMATCH);
    }
    Ok(&args[at + 2..])
}

/// Most elements a negative HRANDFIELD, SRANDMEMBER or ZRANDMEMBER count may ask for.
const MAX_RANDOM_REPEATS: i64 = 10_000_000;

/// Largest absolute field expiry Redis 7.4 accepts (2^46 - 1 ms).
const HFE_MAX_ABS_MS: i64 = (1 << 46) - 1;

mod imp {
    use super::*;

    pub fn hset(call: &mut Call) -> Result<Reply, CmdError> {
        if !call.args.len().is_multiple_of(2) {
            return Err(CmdError::wrong_arity(&call.name()));
        }
        let (k, args) = (call.arg(1).clone(), call.args);
        h::hset(&mut call.cx(), &k, &args[2..]).map(Reply::Int)
    }

    pub fn hmset(call: &mut Call) -> Result<Reply, CmdError> {
        hset(call).map(|_| Reply::Ok)
    }

    pub fn hsetnx(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, f, v) = (
            call.arg(1).clone(),
            call.arg(2).clone(),
            call.arg(3).clone(),
        );
        h::hsetnx(&mut call.cx(), &k, &f, &v).map(Reply::Int)
    }

    pub fn hget(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, f) = (call.arg(1).clone(), call.arg(2).clone());
        h::hget(&mut call.cx(), &k, &f)
    }

    pub fn hmget(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        h::hmget(&mut call.cx(), &k, &args[2..])
    }

    fn part(call: &mut Call, p: Part) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        h::hgetall(&mut call.cx(), &k, p)
    }

    pub fn hgetall(call: &mut Call) -> Result<Reply, CmdError> {
        part(call, Part::All)
    }

    pub fn hkeys(call: &mut Call) -> Result<Reply, CmdError> {
        part(call, Part::Keys)
    }

    pub fn hvals(call: &mut Call) -> Result<Reply, CmdError> {
        part(call, Part::Values)
    }

    pub fn hdel(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, args) = (call.arg(1).clone(), call.args);
        h::hdel(&mut call.cx(), &k, &args[2..]).map(Reply::Int)
    }

    pub fn hlen(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        h::hlen(&mut call.cx(), &k).map(Reply::Int)
    }

    pub fn hexists(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, f) = (call.arg(1).clone(), call.arg(2).clone());
        h::hexists(&mut call.cx(), &k, &f).map(Reply::Int)
    }

    pub fn hstrlen(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, f) = (call.arg(1).clone(), call.arg(2).clone());
        h::hstrlen(&mut call.cx(), &k, &f).map(Reply::Int)
    }

    pub fn hincrby(call: &mut Call) -> Result<Reply, CmdError> {
        let by = parse_int(call.arg(3))?;
        let (k, f) = (call.arg(1).clone(), call.arg(2).clone());
        h::hincrby(&mut call.cx(), &k, &f, by).map(Reply::Int)
    }

    pub fn hincrbyfloat(call: &mut Call) -> Result<Reply, CmdError> {
        let by = LongDouble::parse(call.arg(3)).ok_or(error::NOT_FLOAT)?;
        if !by.is_finite() {
            return Err(error::NAN_OR_INFINITY);
        }
        let (k, f) = (call.arg(1).clone(), call.arg(2).clone());
        h::hincrbyfloat(&mut call.cx(), &k, &f, by)
    }

    pub fn hrandfield(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        if call.args.len() > 4
            || (call.args.len() == 4 && !call.arg(3).eq_ignore_ascii_case(b"WITHVALUES"))
        {
            return Err(error::SYNTAX);
        }
        let count = match call.args.get(2) {
            None => None,
            Some(a) => Some(random_count(a, call.args.len() == 4)?),
        };
        let withvalues = call.args.len() == 4;
        h::hrandfield(&mut call.cx(), &k, count, withvalues)
    }

    pub fn hscan(call: &mut Call) -> Result<Reply, CmdError> {
        scan_command(call, strata_engine::types::Kind::Hash, true, h::hscan)
    }

    fn expire_generic(call: &mut Call, unit_ms: i64, absolute: bool) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        h::check_type(&mut call.cx(), &k)?;
        let v = number::parse_i64(call.arg(2)).ok_or(error::NOT_INTEGER)?;
        if v < 0 {
            return Err(error::HFE_NEGATIVE);
        }
        let invalid = || CmdError::invalid_expire(&call.name());
        if v > HFE_MAX_ABS_MS / unit_ms {
            return Err(invalid());
        }
        let ms = v * unit_ms;
        let base = if absolute {
            0
        } else {
            call.srv.engine.now_ms() as i64
        };
        if base > HFE_MAX_ABS_MS - ms {
            return Err(invalid());
        }
        let at = (base + ms) as u64;
        let mut at_fields = 3;
        let cond = match call.args.get(3).map(|a| a.to_ascii_uppercase()) {
            Some(o) if o == b"NX" => FieldCond::Nx,
            Some(o) if o == b"XX" => FieldCond::Xx,
            Some(o) if o == b"GT" => FieldCond::Gt,
            Some(o) if o == b"LT" => FieldCond::Lt,
            _ => FieldCond::Always,
        };
        if cond != FieldCond::Always {
            at_fields = 4;
        }
        let fields = fields_arg(call.args, at_fields, error::NUMFIELDS_GT_ZERO)?;
        let k = call.arg(1).clone();
        h::hexpire(&mut call.cx(), &k, at.max(1), cond, fields)
    }

    pub fn hexpire(call: &mut Call) -> Result<Reply, CmdError> {
        expire_generic(call, 1000, false)
    }

    pub fn hpexpire(call: &mut Call) -> Result<Reply, CmdError> {
        expire_generic(call, 1, false)
    }

    pub fn hexpireat(call: &mut Call) -> Result<Reply, CmdError> {
        expire_generic(call, 1000, true)
    }

    pub fn hpexpireat(call: &mut Call) -> Result<Reply, CmdError> {
        expire_generic(call, 1, true)
    }

    fn ttl_generic(call: &mut Call, kind: FieldTtlKind) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        h::check_type(&mut call.cx(), &k)?;
        let fields = fields_arg(call.args, 2, error::NUMFIELDS_POSITIVE)?;
        let k = call.arg(1).clone();
        h::httl(&mut call.cx(), &k, kind, fields)
    }

    pub fn httl(call: &mut Call) -> Result<Reply, CmdError> {
        ttl_generic(call, FieldTtlKind::Ttl)
    }

    pub fn hpttl(call: &mut Call) -> Result<Reply, CmdError> {
        ttl_generic(call, FieldTtlKind::PTtl)
    }

    pub fn hexpiretime(call: &mut Call) -> Result<Reply, CmdError> {
        ttl_generic(call, FieldTtlKind::ExpireTime)
    }

    pub fn hpexpiretime(call: &mut Call) -> Result<Reply, CmdError> {
        ttl_generic(call, FieldTtlKind::PExpireTime)
    }

    pub fn hpersist(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        h::check_type(&mut call.cx(), &k)?;
        let fields = fields_arg(call.args, 2, error::NUMFIELDS_POSITIVE)?;
        let k = call.arg(1).clone();
        h::hpersist(&mut call.cx(), &k, fields)
    }
}

/// The count of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER: any i64 but i64::MIN, and with values
/// (pairs) no more than half that in magnitude when negative.
pub fn random_count(a: &[u8], pairs: bool) -> Result<i64, CmdError> {
    let v = number::parse_i64(a).ok_or(error::NOT_INTEGER)?;
    if v == i64::MIN {
        return Err(error::RANGE_LONG);
    }
    if pairs && v < -(i64::MAX / 2) {
        return Err(error::VALUE_OUT_OF_RANGE);
    }
    // Repeats are unbounded by the collection's size: cap them so a reply is never built
    // beyond what memory can hold.
    if v < -MAX_RANDOM_REPEATS {
        return Err(error::VALUE_OUT_OF_RANGE);
    }
    Ok(v)
}
