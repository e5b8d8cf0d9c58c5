//! JSON documents: RedisJSON's commands over a compact binary document.
//!
//! A document is a flat value ([`FlatKind::Json`]) whose content is the binary form written by
//! [`encode`]: a tag byte per node, varint lengths, integers as zigzag varints and floats as
//! eight bytes. Reading it back is a walk over bytes, never a text parse. A command decodes
//! the document into a `serde_json` tree, works on it with [`path`], and when it changed
//! stores the new binary form and logs it whole as [`Effect::JsonSet`], which keeps the key's
//! TTL.
//!
//! Replies follow RedisJSON 2: a path in the legacy syntax answers with its first match, a
//! JSONPath (`$...`) with an array of every match (with `nil` where a match has the wrong
//! type).

pub mod path;

pub use serde_json::Value as Json;

use bytes::Bytes;
use serde_json::{Map, Number, Value as J};

use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::CmdError;
use crate::keyspace::{Guard, Ttl};
use crate::reply::Reply;
use crate::types::{Flat, FlatKind, Kind, Value};
use path::{get, get_mut, Loc, Path, Seg};

const T_NULL: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_UINT: u8 = 4;
const T_FLOAT: u8 = 5;
const T_STR: u8 = 6;
const T_ARR: u8 = 7;
const T_OBJ: u8 = 8;

/// Deepest document accepted (serde_json's own parser stops at 128 too).
pub const MAX_DEPTH: usize = 128;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends the binary form of `v`.
pub fn encode(v: &J, out: &mut Vec<u8>) {
    match v {
        J::Null => out.push(T_NULL),
        J::Bool(false) => out.push(T_FALSE),
        J::Bool(true) => out.push(T_TRUE),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(T_INT);
                put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
            } else if let Some(u) = n.as_u64() {
                out.push(T_UINT);
                out.extend_from_slice(&u.to_le_bytes());
            } else {
                out.push(T_FLOAT);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
            }
        }
        J::String(s) => {
            out.push(T_STR);
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        J::Array(a) => {
            out.push(T_ARR);
            put_varint(out, a.len() as u64);
            for e in a {
                encode(e, out);
            }
        }
        J::Object(m) => {
            out.push(T_OBJ);
            put_varint(out, m.len() as u64);
            for (k, e) in m {
                put_varint(out, k.len() as u64);
                out.extend_from_slice(k.as_bytes());
                encode(e, out);
            }
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let c = self.byte()?;
            n |= ((c & 0x7f) as u64) << shift;
            if c & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn take(&mut self, n: u64) -> Option<&[u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.i.checked_add(n).filter(|&e| e <= self.b.len())?;
        let s = &self.b[self.i..end];
        self.i = end;
        Some(s)
    }

    fn str(&mut self) -> Option<String> {
        let n = self.varint()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn node(&mut self, depth: usize) -> Option<J> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match self.byte()? {
            T_NULL => J::Null,
            T_FALSE => J::Bool(false),
            T_TRUE => J::Bool(true),
            T_INT => {
                let z = self.varint()?;
                J::from(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            T_UINT => J::from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            T_FLOAT => J::Number(Number::from_f64(f64::from_le_bytes(
                self.take(8)?.try_into().ok()?,
            ))?),
            T_STR => J::String(self.str()?),
            T_ARR => {
                let n = self.varint()?;
                // Every element takes at least a byte: a count larger than what is left is
                // damage, not a reason to allocate.
                if n > (self.b.len() - self.i) as u64 {
                    return None;
                }
                let mut a = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    a.push(self.node(depth + 1)?);
                }
                J::Array(a)
            }
            T_OBJ => {
                let n = self.varint()?;
                if n > (self.b.len() - self.i) as u64 {
                    return None;
                }
                let mut m = Map::with_capacity(n as usize);
                for _ in 0..n {
                    let k = self.str()?;
                    let v = self.node(depth + 1)?;
                    m.insert(k, v);
                }
                J::Object(m)
            }
            _ => return None,
        })
    }
}

/// The document a binary form holds; None when the bytes are damaged.
pub fn decode(b: &[u8]) -> Option<J> {
    let mut r = Reader { b, i: 0 };
    let v = r.node(0)?;
    (r.i == b.len()).then_some(v)
}

/// A value holding `doc`.
pub fn to_value(doc: &J) -> Value {
    let mut content = Vec::new();
    encode(doc, &mut content);
    Value::Flat(Flat::with_flags(&content, (FlatKind::Json as u8) << 4))
}

/// A value from a binary form logged or stored earlier; None when it is damaged.
pub fn value_from_binary(b: &[u8]) -> Option<Value> {
    decode(b)?;
    Some(Value::Flat(Flat::with_flags(
        b,
        (FlatKind::Json as u8) << 4,
    )))
}

/// The binary form a JSON value holds.
pub fn binary(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Flat(f) if f.kind() == FlatKind::Json => Some(f.content()),
        _ => None,
    }
}

/// The document a JSON value holds.
pub fn doc(v: &Value) -> Option<J> {
    decode(binary(v)?)
}

// ---- errors -----------------------------------------------------------------------------

/// What RedisJSON answers when a command that needs a document finds no key.
const NO_KEY: CmdError =
    CmdError::new("ERR could not perform this operation on a key that doesn't exist");

fn path_missing(p: &Path) -> CmdError {
    CmdError::owned(format!("ERR Path '{}' does not exist", p.text))
}

fn expected(what: &str, found: &J) -> CmdError {
    CmdError::owned(format!(
        "WRONGTYPE wrong type of path value - expected {what} but found {}",
        type_name(found)
    ))
}

pub fn parse_path(b: &[u8]) -> Result<Path, CmdError> {
    Path::parse(b).map_err(|e| CmdError::owned(format!("ERR JSON Path error: {e}")))
}

/// Parses a JSON text argument as RedisJSON does (serde_json's message).
pub fn parse_json(b: &[u8]) -> Result<J, CmdError> {
    serde_json::from_slice(b).map_err(|e| CmdError::owned(format!("ERR {e}")))
}

/// RedisJSON's type names.
pub fn type_name(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "boolean",
        J::Number(n) if n.is_f64() => "number",
        J::Number(_) => "integer",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}

// ---- serialization ----------------------------------------------------------------------

/// JSON.GET's FORMAT options: indentation, newline and the space after a colon.
#[derive(Debug, Default, Clone)]
pub struct Format {
    pub indent: String,
    pub newline: String,
    pub space: String,
}

impl Format {
    fn plain(&self) -> bool {
        self.indent.is_empty() && self.newline.is_empty() && self.space.is_empty()
    }
}

pub fn to_text(v: &J, f: &Format) -> String {
    if f.plain() {
        return v.to_string();
    }
    let mut out = String::new();
    write_formatted(v, f, 0, &mut out);
    out
}

fn write_formatted(v: &J, f: &Format, level: usize, out: &mut String) {
    let line = |out: &mut String, level: usize| {
        out.push_str(&f.newline);
        for _ in 0..level {
            out.push_str(&f.indent);
        }
    };
    match v {
        J::Array(a) if !a.is_empty() => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                line(out, level + 1);
                write_formatted(e, f, level + 1, out);
            }
            line(out, level);
            out.push(']');
        }
        J::Object(m) if !m.is_empty() => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                line(out, level + 1);
                out.push_str(&J::String(k.clone()).to_string());
                out.push(':');
                out.push_str(&f.space);
                write_formatted(e, f, level + 1, out);
            }
            line(out, level);
            out.push('}');
        }
        _ => out.push_str(&v.to_string()),
    }
}

// ---- reading and writing documents under a guard ---------------------------------------

/// The document at `key` for a read: None when missing, WRONGTYPE for another type.
fn read_doc(g: &mut Guard<'_>, key: &[u8]) -> Result<Option<J>, CmdError> {
    match crate::types::read(g, key, Kind::Json)? {
        None => Ok(None),
        Some(v) => doc(v)
            .map(Some)
            .ok_or(CmdError::new("ERR the stored JSON document is damaged")),
    }
}

fn write_doc_check(g: &mut Guard<'_>, key: &[u8]) -> Result<Option<J>, CmdError> {
    if !crate::types::check_write(g, key, Kind::Json)? {
        return Ok(None);
    }
    let v = g.peek(key).map(|e| &e.value);
    Ok(v.and_then(doc))
}

/// Stores `doc` at `key` (created without a TTL, or replaced keeping its TTL) and logs it.
/// Nesting depth of a document (a scalar is 0).
fn depth(v: &J) -> usize {
    match v {
        J::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        J::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn store(g: &mut Guard<'_>, key: &[u8], d: &J) -> Result<(), CmdError> {
    // A value nested under another can make a document deeper than any that parses.
    if depth(d) > MAX_DEPTH {
        return Err(CmdError::owned(format!(
            "ERR the document would nest deeper than {MAX_DEPTH} levels"
        )));
    }
    let value = to_value(d);
    let bin = binary(&value).unwrap_or_default().to_vec();
    if g.peek(key).is_some() {
        g.modify(key, |v| *v = value);
    } else {
        g.set(key, value, Ttl::Clear);
    }
    let db = g.db as u32;
    g.log(|| Effect::JsonSet {
        db,
        key: key.to_vec(),
        doc: bin,
    });
    Ok(())
}

/// Replays a logged document: replaces the value, keeping the TTL.
pub(crate) fn apply_set(g: &mut Guard<'_>, key: &[u8], bin: &[u8]) {
    if let Some(v) = value_from_binary(bin) {
        if g.peek(key).is_some() {
            g.modify(key, |old| *old = v);
        } else {
            g.set(key, v, Ttl::Clear);
        }
    }
}

/// Runs `f` on the document at `key` for a write; stores it when `f` reports a change.
/// Returns None when the key does not exist.
fn update<R>(
    cx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(&mut J) -> Result<(R, bool), CmdError>,
) -> Result<Option<R>, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(mut d) = write_doc_check(&mut g, key)? else {
        return Ok(None);
    };
    let (r, changed) = f(&mut d)?;
    if changed {
        store(&mut g, key, &d)?;
    }
    Ok(Some(r))
}

fn bulk_text(v: &J) -> Reply {
    Reply::Bulk(Bytes::from(v.to_string()))
}

// ---- commands -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cond {
    Always,
    Nx,
    Xx,
}

/// JSON.SET key path value [NX|XX].
pub fn set(cx: &mut Ctx, key: &[u8], p: &Path, value: J, cond: Cond) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(mut d) = write_doc_check(&mut g, key)? else {
        if !p.is_root() {
            return Err(CmdError::new("ERR new objects must be created at the root"));
        }
        if cond == Cond::Xx {
            return Ok(Reply::Nil);
        }
        store(&mut g, key, &value)?;
        return Ok(Reply::Ok);
    };
    let locs = p.eval(&d);
    if !locs.is_empty() {
        if cond == Cond::Nx {
            return Ok(Reply::Nil);
        }
        for l in &locs {
            if let Some(n) = get_mut(&mut d, l) {
                *n = value.clone();
            }
        }
        store(&mut g, key, &d)?;
        return Ok(Reply::Ok);
    }
    if cond == Cond::Xx {
        return Ok(Reply::Nil);
    }
    // Nothing matched: a final member name is created in every parent object.
    let Some((parent, name)) = p.parent_and_key() else {
        return Ok(Reply::Nil);
    };
    let parents = parent.eval(&d);
    let mut added = false;
    for l in &parents {
        if let Some(J::Object(m)) = get_mut(&mut d, l) {
            m.insert(name.clone(), value.clone());
            added = true;
        }
    }
    if !added {
        return Ok(if p.legacy {
            Reply::Error(path_missing(p))
        } else {
            Reply::Nil
        });
    }
    store(&mut g, key, &d)?;
    Ok(Reply::Ok)
}

/// JSON.GET key [paths...] with formatting.
pub fn get_cmd(cx: &mut Ctx, key: &[u8], paths: &[Path], f: &Format) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(d) = read_doc(&mut g, key)? else {
        return Ok(Reply::Nil);
    };
    drop(g);
    let text = render_paths(&d, paths, f)?;
    Ok(Reply::Bulk(Bytes::from(text)))
}

/// What JSON.GET and JSON.MGET return for `paths` of one document.
fn render_paths(d: &J, paths: &[Path], f: &Format) -> Result<String, CmdError> {
    let one = |p: &Path| -> Result<J, CmdError> {
        let locs = p.eval(d);
        if p.legacy {
            locs.first()
                .and_then(|l| get(d, l))
                .cloned()
                .ok_or_else(|| path_missing(p))
        } else {
            Ok(J::Array(
                locs.iter().filter_map(|l| get(d, l)).cloned().collect(),
            ))
        }
    };
    match paths {
        [] => Ok(to_text(d, f)),
        [p] => Ok(to_text(&one(p)?, f)),
        _ => {
            // Several paths: an object keyed by path. With any JSONPath among them, every
            // value is an array of matches.
            let all_legacy = paths.iter().all(|p| p.legacy);
            let mut m = Map::new();
            for p in paths {
                let v = if all_legacy || !p.legacy {
                    one(p)?
                } else {
                    let q = Path {
                        legacy: false,
                        ..p.clone()
                    };
                    one(&q)?
                };
                m.insert(p.text.clone(), v);
            }
            Ok(to_text(&J::Object(m), f))
        }
    }
}

/// JSON.MGET key... path.
pub fn mget(cx: &mut Ctx, keys: &[Bytes], p: &Path) -> Result<Reply, CmdError> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let mut g = cx.lock(&[k]);
        let d = match g.get(k) {
            Some(e) if e.value.kind() == Kind::Json => doc(&e.value),
            _ => None,
        };
        drop(g);
        out.push(match d {
            None => Reply::Nil,
            Some(d) => match render_paths(&d, std::slice::from_ref(p), &Format::default()) {
                Ok(t) => Reply::Bulk(Bytes::from(t)),
                Err(_) => Reply::Nil,
            },
        });
    }
    Ok(Reply::Array(out))
}

/// JSON.DEL / JSON.FORGET key [path].
pub fn del(cx: &mut Ctx, key: &[u8], p: &Path) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(mut d) = write_doc_check(&mut g, key)? else {
        return Ok(Reply::Int(0));
    };
    if p.is_root() {
        g.remove(key);
        let db = g.db as u32;
        g.log(|| Effect::Del {
            db,
            key: key.to_vec(),
        });
        return Ok(Reply::Int(1));
    }
    let mut locs = p.eval(&d);
    // Children before parents, higher indexes before lower: each removal leaves the other
    // locations valid.
    locs.sort();
    locs.dedup();
    let mut n = 0;
    for l in locs.iter().rev() {
        let Some((last, parent)) = l.split_last() else {
            continue;
        };
        let removed = match (get_mut(&mut d, parent), last) {
            (Some(J::Object(m)), Seg::Key(k)) => m.shift_remove(k).is_some(),
            (Some(J::Array(a)), Seg::Idx(i)) if *i < a.len() => {
                a.remove(*i);
                true
            }
            _ => false,
        };
        n += removed as i64;
    }
    if n > 0 {
        store(&mut g, key, &d)?;
    }
    Ok(Reply::Int(n))
}

/// Applies `f` to each match of a path in a readable document: for JSONPath an array of
/// per-match replies, for a legacy path the first match's reply (or an error).
fn per_match_read(
    cx: &mut Ctx,
    key: &[u8],
    p: &Path,
    f: impl Fn(&J) -> Result<Reply, CmdError>,
) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(d) = read_doc(&mut g, key)? else {
        if p.legacy {
            return Ok(Reply::Nil);
        }
        return Err(NO_KEY);
    };
    drop(g);
    let locs = p.eval(&d);
    if p.legacy {
        let v = locs
            .first()
            .and_then(|l| get(&d, l))
            .ok_or_else(|| path_missing(p))?;
        return f(v);
    }
    Ok(Reply::Array(
        locs.iter()
            .filter_map(|l| get(&d, l))
            .map(|v| f(v).unwrap_or(Reply::Nil))
            .collect(),
    ))
}

/// JSON.TYPE key [path].
pub fn type_cmd(cx: &mut Ctx, key: &[u8], p: &Path) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(d) = read_doc(&mut g, key)? else {
        return Ok(if p.legacy {
            Reply::Nil
        } else {
            Reply::Array(vec![])
        });
    };
    drop(g);
    let locs = p.eval(&d);
    if p.legacy {
        return Ok(locs
            .first()
            .and_then(|l| get(&d, l))
            .map_or(Reply::Nil, |v| Reply::Status(type_name(v))));
    }
    Ok(Reply::Array(
        locs.iter()
            .filter_map(|l| get(&d, l))
            .map(|v| Reply::bulk_str(type_name(v)))
            .collect(),
    ))
}

/// JSON.STRLEN, JSON.ARRLEN, JSON.OBJLEN.
pub fn len(cx: &mut Ctx, key: &[u8], p: &Path, of: Kind2) -> Result<Reply, CmdError> {
    per_match_read(cx, key, p, |v| match (of, v) {
        (Kind2::Str, J::String(s)) => Ok(Reply::Int(s.chars().count() as i64)),
        (Kind2::Arr, J::Array(a)) => Ok(Reply::Int(a.len() as i64)),
        (Kind2::Obj, J::Object(m)) => Ok(Reply::Int(m.len() as i64)),
        _ => Err(expected(of.name(), v)),
    })
}

/// The container kinds of the length commands.
#[derive(Debug, Clone, Copy)]
pub enum Kind2 {
    Str,
    Arr,
    Obj,
}

impl Kind2 {
    fn name(self) -> &'static str {
        match self {
            Kind2::Str => "string",
            Kind2::Arr => "array",
            Kind2::Obj => "object",
        }
    }
}

/// JSON.OBJKEYS key [path].
pub fn objkeys(cx: &mut Ctx, key: &[u8], p: &Path) -> Result<Reply, CmdError> {
    per_match_read(cx, key, p, |v| match v {
        J::Object(m) => Ok(Reply::Array(m.keys().map(|k| Reply::bulk_str(k)).collect())),
        _ => Err(expected("object", v)),
    })
}

/// Applies `f` to each match for a write. `f` returns the match's reply, or None for a match
/// of the wrong type (`nil` in a JSONPath reply, an error for a legacy path).
fn per_match_write(
    cx: &mut Ctx,
    key: &[u8],
    p: &Path,
    wrong: &'static str,
    f: impl Fn(&mut J) -> Result<Option<Reply>, CmdError>,
) -> Result<Reply, CmdError> {
    let r = update(cx, key, |d| {
        let locs = p.eval(d);
        if p.legacy && locs.is_empty() {
            return Err(path_missing(p));
        }
        let mut replies = Vec::with_capacity(locs.len());
        let mut changed = false;
        for l in &locs {
            let Some(n) = get_mut(d, l) else { continue };
            match f(n)? {
                Some(r) => {
                    changed = true;
                    replies.push(r);
                }
                None if p.legacy => return Err(expected(wrong, n)),
                None => replies.push(Reply::Nil),
            }
            if p.legacy {
                break;
            }
        }
        let reply = if p.legacy {
            replies.pop().unwrap_or(Reply::Nil)
        } else {
            Reply::Array(replies)
        };
        Ok((reply, changed))
    })?;
    match r {
        Some(r) => Ok(r),
        None => Err(NO_KEY),
    }
}

fn add_numbers(a: &Number, b: &Number, mul: bool) -> Result<Number, CmdError> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        let r = if mul {
            x.checked_mul(y)
        } else {
            x.checked_add(y)
        };
        if let Some(r) = r {
            return Ok(Number::from(r));
        }
    }
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    let r = if mul { x * y } else { x + y };
    Number::from_f64(r).ok_or(CmdError::new("ERR result is not a number"))
}

/// JSON.NUMINCRBY / JSON.NUMMULTBY key path number.
pub fn numop(cx: &mut Ctx, key: &[u8], p: &Path, by: &[u8], mul: bool) -> Result<Reply, CmdError> {
    let by = match parse_json(by)? {
        J::Number(n) => n,
        other => return Err(expected("a number", &other)),
    };
    let mut g = cx.lock(&[key]);
    let Some(mut d) = write_doc_check(&mut g, key)? else {
        return Err(NO_KEY);
    };
    let locs = p.eval(&d);
    if p.legacy && locs.is_empty() {
        return Err(path_missing(p));
    }
    let mut results = Vec::new();
    for l in &locs {
        let Some(n) = get_mut(&mut d, l) else {
            continue;
        };
        match n {
            J::Number(x) => {
                let r = add_numbers(x, &by, mul)?;
                *n = J::Number(r.clone());
                results.push(J::Number(r));
            }
            other if p.legacy => return Err(expected("a number", other)),
            _ => results.push(J::Null),
        }
        if p.legacy {
            break;
        }
    }
    if results.iter().any(|r| !r.is_null()) {
        store(&mut g, key, &d)?;
    }
    Ok(if p.legacy {
        bulk_text(&results[0])
    } else {
        bulk_text(&J::Array(results))
    })
}

/// JSON.STRAPPEND key [path] value (a JSON string).
pub fn strappend(cx: &mut Ctx, key: &[u8], p: &Path, value: &[u8]) -> Result<Reply, CmdError> {
    let add = match parse_json(value)? {
        J::String(s) => s,
        other => return Err(expected("string", &other)),
    };
    per_match_write(cx, key, p, "string", |n| match n {
        J::String(s) => {
            s.push_str(&add);
            Ok(Some(Reply::Int(s.chars().count() as i64)))
        }
        _ => Ok(None),
    })
}

/// JSON.ARRAPPEND key path value...
pub fn arrappend(cx: &mut Ctx, key: &[u8], p: &Path, values: &[J]) -> Result<Reply, CmdError> {
    per_match_write(cx, key, p, "array", |n| match n {
        J::Array(a) => {
            a.extend(values.iter().cloned());
            Ok(Some(Reply::Int(a.len() as i64)))
        }
        _ => Ok(None),
    })
}

/// JSON.ARRINSERT key path index value...
pub fn arrinsert(
    cx: &mut Ctx,
    key: &[u8],
    p: &Path,
    index: i64,
    values: &[J],
) -> Result<Reply, CmdError> {
    per_match_write(cx, key, p, "array", |n| match n {
        J::Array(a) => {
            let len = a.len() as i64;
            let at = if index < 0 { len + index } else { index };
            if at < 0 || at > len {
                return Err(CmdError::new("ERR index out of bounds"));
            }
            let at = at as usize;
            a.splice(at..at, values.iter().cloned());
            Ok(Some(Reply::Int(a.len() as i64)))
        }
        _ => Ok(None),
    })
}

/// JSON.ARRPOP key [path [index]].
pub fn arrpop(cx: &mut Ctx, key: &[u8], p: &Path, index: i64) -> Result<Reply, CmdError> {
    let r = update(cx, key, |d| {
        let locs = p.eval(d);
        if p.legacy && locs.is_empty() {
            return Err(path_missing(p));
        }
        let mut replies = Vec::new();
        let mut changed = false;
        for l in &locs {
            let Some(n) = get_mut(d, l) else { continue };
            let r = match n {
                J::Array(a) if a.is_empty() => Reply::Nil,
                J::Array(a) => {
                    let len = a.len() as i64;
                    let at = if index < 0 { len + index } else { index }.clamp(0, len - 1);
                    changed = true;
                    bulk_text(&a.remove(at as usize))
                }
                other if p.legacy => return Err(expected("array", other)),
                _ => Reply::Nil,
            };
            replies.push(r);
            if p.legacy {
                break;
            }
        }
        let reply = if p.legacy {
            replies.pop().unwrap_or(Reply::Nil)
        } else {
            Reply::Array(replies)
        };
        Ok((reply, changed))
    })?;
    Ok(r.unwrap_or(if p.legacy {
        Reply::Nil
    } else {
        Reply::NilArray
    }))
}

/// JSON.ARRTRIM key path start stop.
pub fn arrtrim(
    cx: &mut Ctx,
    key: &[u8],
    p: &Path,
    start: i64,
    stop: i64,
) -> Result<Reply, CmdError> {
    per_match_write(cx, key, p, "array", |n| match n {
        J::Array(a) => {
            let len = a.len() as i64;
            let s = if start < 0 {
                (len + start).max(0)
            } else {
                start
            };
            let e = if stop < 0 {
                len + stop
            } else {
                stop.min(len - 1)
            };
            if s >= len || s > e {
                a.clear();
            } else {
                a.truncate(e as usize + 1);
                a.drain(..s as usize);
            }
            Ok(Some(Reply::Int(a.len() as i64)))
        }
        _ => Ok(None),
    })
}

/// JSON.ARRINDEX key path value [start [stop]].
pub fn arrindex(
    cx: &mut Ctx,
    key: &[u8],
    p: &Path,
    value: &J,
    start: i64,
    stop: i64,
) -> Result<Reply, CmdError> {
    per_match_read(cx, key, p, |v| match v {
        J::Array(a) => {
            let len = a.len() as i64;
            let s = if start < 0 {
                (len + start).max(0)
            } else {
                start.min(len)
            };
            let e = if stop == 0 {
                len
            } else if stop < 0 {
                (len + stop).max(0)
            } else {
                stop.min(len)
            };
            let found = (s..e).find(|&i| a[i as usize] == *value);
            Ok(Reply::Int(found.unwrap_or(-1)))
        }
        _ => Err(expected("array", v)),
    })
}

/// JSON.TOGGLE key path.
pub fn toggle(cx: &mut Ctx, key: &[u8], p: &Path) -> Result<Reply, CmdError> {
    let legacy = p.legacy;
    per_match_write(cx, key, p, "bool", |n| match n {
        J::Bool(b) => {
            *b = !*b;
            Ok(Some(if legacy {
                Reply::bulk_str(if *b { "true" } else { "false" })
            } else {
                Reply::Int(*b as i64)
            }))
        }
        _ => Ok(None),
    })
}

/// JSON.CLEAR key [path]: empties arrays and objects, sets numbers to 0.
pub fn clear(cx: &mut Ctx, key: &[u8], p: &Path) -> Result<Reply, CmdError> {
    let r = update(cx, key, |d| {
        let mut n = 0;
        for l in p.eval(d) {
            match get_mut(d, &l) {
                Some(J::Array(a)) if !a.is_empty() => a.clear(),
                Some(J::Object(m)) if !m.is_empty() => m.clear(),
                Some(J::Number(x)) => *x = Number::from(0),
                Some(J::Array(_) | J::Object(_)) => {}
                _ => continue,
            }
            n += 1;
        }
        Ok((n, n > 0))
    })?;
    Ok(Reply::Int(r.unwrap_or(0)))
}

/// RFC 7396 merge: objects merge member by member, `null` deletes, anything else replaces.
fn merge_patch(target: &mut J, patch: &J) {
    match patch {
        J::Object(pm) => {
            if !target.is_object() {
                *target = J::Object(Map::new());
            }
            let J::Object(tm) = target else { return };
            for (k, v) in pm {
                if v.is_null() {
                    tm.shift_remove(k);
                } else {
                    merge_patch(tm.entry(k.clone()).or_insert(J::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// JSON.MERGE key path value.
pub fn merge(cx: &mut Ctx, key: &[u8], p: &Path, patch: J) -> Result<Reply, CmdError> {
    let mut g = cx.lock(&[key]);
    let Some(mut d) = write_doc_check(&mut g, key)? else {
        if !p.is_root() {
            return Err(CmdError::new("ERR new objects must be created at the root"));
        }
        let mut d = J::Null;
        merge_patch(&mut d, &patch);
        store(&mut g, key, &d)?;
        return Ok(Reply::Ok);
    };
    let locs = p.eval(&d);
    if locs.is_empty() {
        // A missing final member is created, as JSON.SET would.
        let Some((parent, name)) = p.parent_and_key() else {
            return Ok(Reply::Ok);
        };
        if patch.is_null() {
            return Ok(Reply::Ok);
        }
        let mut added = false;
        for l in parent.eval(&d) {
            if let Some(J::Object(m)) = get_mut(&mut d, &l) {
                let mut v = J::Null;
                merge_patch(&mut v, &patch);
                m.insert(name.clone(), v);
                added = true;
            }
        }
        if added {
            store(&mut g, key, &d)?;
        }
        return Ok(Reply::Ok);
    }
    if patch.is_null() {
        // Merging null at a path deletes what it selects.
        drop(g);
        del(cx, key, p)?;
        return Ok(Reply::Ok);
    }
    for l in &locs {
        if let Some(n) = get_mut(&mut d, l) {
            merge_patch(n, &patch);
        }
    }
    store(&mut g, key, &d)?;
    Ok(Reply::Ok)
}

/// The values a search index reads from a JSON document at `path` (first match for a legacy
/// path, every match for a JSONPath).
pub fn select<'a>(d: &'a J, p: &Path) -> Vec<&'a J> {
    let locs: Vec<Loc> = p.eval(d);
    let take = if p.legacy { 1 } else { usize::MAX };
    locs.iter().take(take).filter_map(|l| get(d, l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_form_round_trips_every_node_type() {
        let d = json!({"s": "hé", "i": -5, "u": u64::MAX, "f": 1.5, "z": 0.0, "b": [true, false, null],
                       "o": {"nested": [1, [2, {"x": {}}]]}, "e": [], "big": 1e300});
        let mut b = Vec::new();
        encode(&d, &mut b);
        let back = decode(&b).unwrap();
        assert_eq!(back, d);
        assert_eq!(
            back.to_string(),
            d.to_string(),
            "member order and number forms kept"
        );
    }

    #[test]
    fn damaged_binary_forms_are_refused() {
        let mut b = Vec::new();
        encode(&json!({"a": [1, 2, "x"]}), &mut b);
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_none(), "truncated at {cut}");
        }
        assert!(decode(&[T_ARR, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_none());
        assert!(decode(&[99]).is_none());
        let mut deep = [T_ARR, 1].repeat(MAX_DEPTH + 2);
        deep.push(T_NULL);
        assert!(decode(&deep).is_none());
    }

    #[test]
    fn formatting_follows_indent_newline_space() {
        let d = json!({"a": [1, 2], "b": {}});
        let f = Format {
            indent: "\t".into(),
            newline: "\n".into(),
            space: " ".into(),
        };
        assert_eq!(
            to_text(&d, &f),
            "{\n\t\"a\": [\n\t\t1,\n\t\t2\n\t],\n\t\"b\": {}\n}"
        );
        assert_eq!(to_text(&d, &Format::default()), r#"{"a":[1,2],"b":{}}"#);
    }

    #[test]
    fn merge_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }
}
