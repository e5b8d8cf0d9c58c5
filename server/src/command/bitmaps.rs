//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.

use std::sync::atomic::Ordering;

use strata_engine::error::{self, CmdError};
use strata_engine::reply::Reply;
use strata_engine::types::bitmap::{self, BitOp, RangeUnit};
use strata_engine::types::string as s;

use super::{reply, Call};

fn max_bulk(call: &Call) -> u64 {
    call.srv
        .engine
        .config
        .proto_max_bulk_len
        .load(Ordering::Relaxed)
}

pub fn setbit(call: &mut Call) -> Reply {
    let off = match bitmap::parse_bit_offset(call.arg(2), max_bulk(call)) {
        Ok(o) => o,
        Err(e) => return Reply::Error(e),
    };
    let on = match &call.arg(3)[..] {
        b"1" => true,
        b"0" => false,
        _ => return Reply::Error(error::BIT_VALUE),
    };
    let k = call.arg(1).clone();
    reply(s::setbit(&mut call.cx(), &k, off, on))
}

pub fn getbit(call: &mut Call) -> Reply {
    let off = match bitmap::parse_bit_offset(call.arg(2), max_bulk(call)) {
        Ok(o) => o,
        Err(e) => return Reply::Error(e),
    };
    let k = call.arg(1).clone();
    reply(s::getbit(&mut call.cx(), &k, off))
}

fn unit_at(call: &Call, i: usize) -> Result<RangeUnit, CmdError> {
    match call.args.get(i) {
        None => Ok(RangeUnit::Byte),
        Some(a) => RangeUnit::parse(a).ok_or(error::SYNTAX),
    }
}

fn bitcount_range(call: &Call) -> Result<Option<(i64, i64, RangeUnit)>, CmdError> {
    match call.args.len() {
        2 => Ok(None),
        4 | 5 => {
            let (start, end) = (call.int(2)?, call.int(3)?);
            // Redis answers 0 for this empty range before it looks at the unit.
            if start < 0 && end < 0 && start > end {
                return Ok(Some((start, end, RangeUnit::Byte)));
            }
            Ok(Some((start, end, unit_at(call, 4)?)))
        }
        _ => Err(error::SYNTAX),
    }
}

pub fn bitcount(call: &mut Call) -> Reply {
    let range = bitcount_range(call);
    let k = call.arg(1).clone();
    reply(s::bitcount(&mut call.cx(), &k, range))
}

fn bitpos_range(call: &Call) -> Result<(Option<i64>, Option<i64>, RangeUnit), CmdError> {
    if call.args.len() > 6 {
        return Err(error::SYNTAX);
    }
    let start = if call.args.len() > 3 {
        Some(call.int(3)?)
    } else {
        None
    };
    let end = if call.args.len() > 4 {
        Some(call.int(4)?)
    } else {
        None
    };
    Ok((start, end, unit_at(call, 5)?))
}

pub fn bitpos(call: &mut Call) -> Reply {
    let bit = match call.int(2) {
        Ok(b @ (0 | 1)) => b as u8,
        Ok(_) => return Reply::Error(error::BITPOS_BIT),
        Err(e) => return Reply::Error(e),
    };
    let range = bitpos_range(call);
    let k = call.arg(1).clone();
    reply(s::bitpos(&mut call.cx(), &k, bit, range))
}

pub fn bitop(call: &mut Call) -> Reply {
    let Some(op) = BitOp::parse(call.arg(1)) else {
        return Reply::Error(error::SYNTAX);
    };
    if matches!(op, BitOp::Not) && call.args.len() != 4 {
        return Reply::Error(error::BITOP_NOT_ONE_KEY);
    }
    let dest = call.arg(2).clone();
    let srcs = &call.args[3..];
    reply(s::bitop(&mut call.cx(), op, &dest, srcs))
}

fn bitfield_generic(call: &mut Call, readonly: bool) -> Reply {
    let ops = match bitmap::parse_bitfield_with_limit(&call.args[2..], readonly, max_bulk(call)) {
        Ok(o) => o,
        Err(e) => return Reply::Error(e),
    };
    let k = call.arg(1).clone();
    reply(s::bitfield(&mut call.cx(), &k, &ops))
}

pub fn bitfield(call: &mut Call) -> Reply {
    bitfield_generic(call, false)
}

pub fn bitfield_ro(call: &mut Call) -> Reply {
    bitfield_generic(call, true)
}
