//! SORT and SORT_RO.

use strata_engine::error::{self, CmdError};
use strata_engine::reply::Reply;
use strata_engine::types::sort::{self as s, SortOpts};

use super::{parse_int, Call};

pub fn sort(call: &mut Call) -> Reply {
    run(call, false).unwrap_or_else(Reply::Error)
}

pub fn sort_ro(call: &mut Call) -> Reply {
    run(call, true).unwrap_or_else(Reply::Error)
}

fn run(call: &mut Call, ro: bool) -> Result<Reply, CmdError> {
    let args = call.args;
    let mut o = SortOpts::default();
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        match call.upper(i).as_str() {
            "ASC" => o.desc = false,
            "DESC" => o.desc = true,
            "ALPHA" => o.alpha = true,
            "LIMIT" if left >= 2 => {
                o.limit = Some((parse_int(&args[i + 1])?, parse_int(&args[i + 2])?));
                i += 2;
            }
            "STORE" if left >= 1 && !ro => {
                o.store = Some(args[i + 1].to_vec());
                i += 1;
            }
            "BY" if left >= 1 => {
                o.by = Some(args[i + 1].to_vec());
                i += 1;
            }
            "GET" if left >= 1 => {
                o.get.push(args[i + 1].to_vec());
                i += 1;
            }
            _ => return Err(error::SYNTAX),
        }
        i += 1;
    }
    let k = call.arg(1).clone();
    s::sort(&mut call.cx(), &k, &o)
}
