//! JSON.* commands (RedisJSON 2): argument parsing here, the work in
//! `strata_engine::types::json`.

use bytes::Bytes;
use strata_engine::error::{self, CmdError};
use strata_engine::reply::Reply;
use strata_engine::types::json::{self as j, path::Path, Cond, Format, Kind2};

use super::{parse_int, Call};

handlers!(
    json_set,
    json_get,
    json_mget,
    json_mset,
    json_del,
    json_type,
    json_numincrby,
    json_nummultby,
    json_strappend,
    json_strlen,
    json_arrappend,
    json_arrinsert,
    json_arrlen,
    json_arrpop,
    json_arrtrim,
    json_arrindex,
    json_objkeys,
    json_objlen,
    json_toggle,
    json_clear,
    json_merge,
);

/// The optional path at `i` (RedisJSON's default is the legacy root).
fn path_at(call: &Call, i: usize) -> Result<Path, CmdError> {
    match call.args.get(i) {
        Some(p) => j::parse_path(p),
        None => Ok(Path::root_legacy()),
    }
}

mod imp {
    use super::*;

    pub fn json_set(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let v = j::parse_json(call.arg(3))?;
        let cond = match call.args.len() {
            4 => Cond::Always,
            5 => match call.upper(4).as_str() {
                "NX" => Cond::Nx,
                "XX" => Cond::Xx,
                _ => return Err(error::SYNTAX),
            },
            _ => return Err(error::SYNTAX),
        };
        j::set(&mut call.cx(), &k, &p, v, cond)
    }

    pub fn json_mset(call: &mut Call) -> Result<Reply, CmdError> {
        if !(call.args.len() - 1).is_multiple_of(3) {
            return Err(CmdError::wrong_arity("json.mset"));
        }
        // Everything is parsed before anything is written.
        let mut items = Vec::new();
        for t in call.args[1..].chunks(3) {
            items.push((t[0].clone(), j::parse_path(&t[1])?, j::parse_json(&t[2])?));
        }
        for (k, p, v) in items {
            if let Reply::Error(e) = j::set(&mut call.cx(), &k, &p, v, Cond::Always)? {
                return Err(e);
            }
        }
        Ok(Reply::Ok)
    }

    pub fn json_get(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        let mut f = Format::default();
        let mut paths = Vec::new();
        let mut i = 2;
        while i < call.args.len() {
            let opt = call.upper(i);
            let slot = match opt.as_str() {
                "INDENT" => Some(&mut f.indent),
                "NEWLINE" => Some(&mut f.newline),
                "SPACE" => Some(&mut f.space),
                _ => None,
            };
            match slot {
                Some(s) if i + 1 < call.args.len() => {
                    *s = String::from_utf8_lossy(&call.args[i + 1]).to_string();
                    i += 2;
                }
                Some(_) => return Err(error::SYNTAX),
                None => {
                    paths.push(j::parse_path(&call.args[i])?);
                    i += 1;
                }
            }
        }
        j::get_cmd(&mut call.cx(), &k, &paths, &f)
    }

    pub fn json_mget(call: &mut Call) -> Result<Reply, CmdError> {
        let n = call.args.len();
        let p = j::parse_path(&call.args[n - 1])?;
        let keys: Vec<Bytes> = call.args[1..n - 1].to_vec();
        j::mget(&mut call.cx(), &keys, &p)
    }

    pub fn json_del(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 3 {
            return Err(CmdError::wrong_arity(&call.name()));
        }
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::del(&mut call.cx(), &k, &p)
    }

    pub fn json_type(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::type_cmd(&mut call.cx(), &k, &p)
    }

    pub fn json_numincrby(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p, by) = (
            call.arg(1).clone(),
            j::parse_path(call.arg(2))?,
            call.arg(3).clone(),
        );
        j::numop(&mut call.cx(), &k, &p, &by, false)
    }

    pub fn json_nummultby(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p, by) = (
            call.arg(1).clone(),
            j::parse_path(call.arg(2))?,
            call.arg(3).clone(),
        );
        j::numop(&mut call.cx(), &k, &p, &by, true)
    }

    pub fn json_strappend(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        let (p, v) = match call.args.len() {
            3 => (Path::root_legacy(), call.arg(2).clone()),
            4 => (j::parse_path(call.arg(2))?, call.arg(3).clone()),
            _ => return Err(CmdError::wrong_arity("json.strappend")),
        };
        j::strappend(&mut call.cx(), &k, &p, &v)
    }

    pub fn json_strlen(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::len(&mut call.cx(), &k, &p, Kind2::Str)
    }

    pub fn json_arrlen(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::len(&mut call.cx(), &k, &p, Kind2::Arr)
    }

    pub fn json_objlen(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::len(&mut call.cx(), &k, &p, Kind2::Obj)
    }

    pub fn json_objkeys(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        j::objkeys(&mut call.cx(), &k, &p)
    }

    fn values(args: &[Bytes]) -> Result<Vec<j::Json>, CmdError> {
        args.iter().map(|a| j::parse_json(a)).collect()
    }

    pub fn json_arrappend(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let vals = values(&call.args[3..])?;
        j::arrappend(&mut call.cx(), &k, &p, &vals)
    }

    pub fn json_arrinsert(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let idx = parse_int(call.arg(3))?;
        let vals = values(&call.args[4..])?;
        j::arrinsert(&mut call.cx(), &k, &p, idx, &vals)
    }

    pub fn json_arrpop(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 4 {
            return Err(CmdError::wrong_arity("json.arrpop"));
        }
        let (k, p) = (call.arg(1).clone(), path_at(call, 2)?);
        let idx = match call.args.get(3) {
            Some(a) => parse_int(a)?,
            None => -1,
        };
        j::arrpop(&mut call.cx(), &k, &p, idx)
    }

    pub fn json_arrtrim(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let (s, e) = (parse_int(call.arg(3))?, parse_int(call.arg(4))?);
        j::arrtrim(&mut call.cx(), &k, &p, s, e)
    }

    pub fn json_arrindex(call: &mut Call) -> Result<Reply, CmdError> {
        if call.args.len() > 6 {
            return Err(CmdError::wrong_arity("json.arrindex"));
        }
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let v = j::parse_json(call.arg(3))?;
        let start = call
            .args
            .get(4)
            .map(|a| parse_int(a))
            .transpose()?
            .unwrap_or(0);
        let stop = call
            .args
            .get(5)
            .map(|a| parse_int(a))
            .transpose()?
            .unwrap_or(0);
        j::arrindex(&mut call.cx(), &k, &p, &v, start, stop)
    }

    pub fn json_toggle(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        j::toggle(&mut call.cx(), &k, &p)
    }

    pub fn json_clear(call: &mut Call) -> Result<Reply, CmdError> {
        let k = call.arg(1).clone();
        let p = match call.args.get(2) {
            Some(p) => j::parse_path(p)?,
            None => j::parse_path(b"$")?,
        };
        j::clear(&mut call.cx(), &k, &p)
    }

    pub fn json_merge(call: &mut Call) -> Result<Reply, CmdError> {
        let (k, p) = (call.arg(1).clone(), j::parse_path(call.arg(2))?);
        let v = j::parse_json(call.arg(3))?;
        j::merge(&mut call.cx(), &k, &p, v)
    }
}
