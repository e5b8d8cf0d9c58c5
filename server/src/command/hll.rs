//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE.

use strata_engine::reply::Reply;
use strata_engine::types::string as s;

use super::{reply, Call};

pub fn pfadd(call: &mut Call) -> Reply {
    let k = call.arg(1).clone();
    let els = &call.args[2..];
    reply(s::pfadd(&mut call.cx(), &k, els))
}

pub fn pfcount(call: &mut Call) -> Reply {
    let keys = &call.args[1..];
    reply(s::pfcount(&mut call.cx(), keys))
}

pub fn pfmerge(call: &mut Call) -> Reply {
    let dest = call.arg(1).clone();
    let srcs = &call.args[2..];
    reply(s::pfmerge(&mut call.cx(), &dest, srcs))
}
