//! The `cmsgpack` library scripts get in Redis (lua-cmsgpack 0.4): `cmsgpack.pack(...)`
//! encodes each argument and concatenates them, `cmsgpack.unpack(s)` returns every value
//! it holds; `unpack_one` and `unpack_limit` read from an offset. Integral numbers pack as
//! the smallest integer encoding, others as float 32 when that is exact, else float 64; a
//! table whose keys are 1..n packs as an array, any other as a map.

use mlua::{Lua, Table, Value, Variadic};

fn err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// Re-raises a library error as Lua raises it, with the script's position in front.
fn located<T>(lua: &Lua, r: mlua::Result<T>) -> mlua::Result<T> {
    r.map_err(|e| match e {
        mlua::Error::RuntimeError(m) => super::lua_error(lua, m),
        other => other,
    })
}

const MAX_NESTING: usize = 16;

fn pack_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn pack_len(out: &mut Vec<u8>, len: usize, fix: (u8, usize), b16: u8, b32: u8) {
    if len < fix.1 {
        out.push(fix.0 | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn pack_value(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => pack_int(out, *i),
        Value::Number(n) => {
            if n.is_finite() && *n == n.trunc() && n.abs() < 9.2e18 {
                pack_int(out, *n as i64);
            } else if (*n as f32) as f64 == *n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(*n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() < 32 {
                out.push(0xa0 | b.len() as u8);
            } else if b.len() <= 0xff {
                out.extend_from_slice(&[0xd9, b.len() as u8]);
            } else if b.len() <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => {
            let len = t.raw_len();
            let mut count = 0usize;
            for pair in t.clone().pairs::<Value, Value>() {
                pair?;
                count += 1;
            }
            if count == len {
                pack_len(out, len, (0x90, 16), 0xdc, 0xdd);
                for i in 1..=len {
                    pack_value(out, &t.raw_get::<Value>(i)?, depth + 1)?;
                }
            } else {
                pack_len(out, count, (0x80, 16), 0xde, 0xdf);
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    pack_value(out, &k, depth + 1)?;
                    pack_value(out, &v, depth + 1)?;
                }
            }
        }
        // Nil, functions, userdata and tables nested too deep pack as nil.
        _ => out.push(0xc0),
    }
    Ok(())
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    /// Arrays and maps being read (bounded: hostile input must not exhaust the stack).
    depth: usize,
}

const MAX_UNPACK_DEPTH: usize = 1000;

impl Reader<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or_else(|| err("Missing bytes in input."))?;
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let t = self.take(1)?[0];
        let num = |v: f64| Value::Number(v);
        Ok(match t {
            0x00..=0x7f => num(t as f64),
            0x80..=0x8f => self.map(lua, (t & 0x0f) as usize)?,
            0x90..=0x9f => self.array(lua, (t & 0x0f) as usize)?,
            0xa0..=0xbf => self.string(lua, (t & 0x1f) as usize)?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.be(1)? as usize;
                self.string(lua, n)?
            }
            0xc5 | 0xda => {
                let n = self.be(2)? as usize;
                self.string(lua, n)?
            }
            0xc6 | 0xdb => {
                let n = self.be(4)? as usize;
                self.string(lua, n)?
            }
            0xca => num(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => num(f64::from_bits(self.be(8)?)),
            0xcc => num(self.be(1)? as f64),
            0xcd => num(self.be(2)? as f64),
            0xce => num(self.be(4)? as f64),
            0xcf => num(self.be(8)? as f64),
            0xd0 => num(self.be(1)? as u8 as i8 as f64),
            0xd1 => num(self.be(2)? as u16 as i16 as f64),
            0xd2 => num(self.be(4)? as u32 as i32 as f64),
            0xd3 => num(self.be(8)? as i64 as f64),
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(lua, n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(lua, n)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(lua, n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(lua, n)?
            }
            0xe0..=0xff => num(t as i8 as f64),
            _ => return Err(err("Bad data format in input.")),
        })
    }

    fn string(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        let b = self.take(n)?;
        Ok(Value::String(lua.create_string(b)?))
    }

    fn enter(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_UNPACK_DEPTH {
            return Err(err("Bad data format in input."));
        }
        Ok(())
    }

    fn array(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        self.enter()?;
        // Every element takes a byte: a count larger than the input is refused up front.
        if n > self.b.len() - self.pos {
            return Err(err("Missing bytes in input."));
        }
        let t = lua.create_table()?;
        for i in 1..=n {
            t.raw_set(i, self.value(lua)?)?;
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> mlua::Result<Value> {
        self.enter()?;
        if n > self.b.len() - self.pos {
            return Err(err("Missing bytes in input."));
        }
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.value(lua)?;
            let v = self.value(lua)?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        self.depth -= 1;
        Ok(Value::Table(t))
    }
}

/// Reads up to `limit` values (0 = all) from `offset`; with `with_offset`, the next offset
/// (-1 at the end) comes first, as unpack_one and unpack_limit return it.
fn unpack_from(
    lua: &Lua,
    s: &[u8],
    limit: usize,
    offset: usize,
    with_offset: bool,
) -> mlua::Result<Variadic<Value>> {
    let mut r = Reader {
        b: s,
        pos: offset,
        depth: 0,
    };
    let mut vals = Vec::new();
    while r.pos < s.len() && (limit == 0 || vals.len() < limit) {
        vals.push(r.value(lua)?);
    }
    let mut out = Variadic::new();
    if with_offset {
        let next = if r.pos >= s.len() { -1 } else { r.pos as i64 };
        out.push(Value::Number(next as f64));
    }
    out.extend(vals);
    Ok(out)
}

/// Builds the `cmsgpack` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return located(
                    lua,
                    Err(err(
                        "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                    )),
                );
            }
            let mut out = Vec::new();
            for a in args.iter() {
                located(lua, pack_value(&mut out, a, 0))?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            located(lua, unpack_from(lua, &s.as_bytes(), 0, 0, false))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, off): (mlua::String, Option<i64>)| {
            located(
                lua,
                unpack_from(
                    lua,
                    &s.as_bytes(),
                    1,
                    off.unwrap_or(0).max(0) as usize,
                    true,
                ),
            )
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, (s, limit, off): (mlua::String, i64, Option<i64>)| {
            located(
                lua,
                unpack_from(
                    lua,
                    &s.as_bytes(),
                    limit.max(0) as usize,
                    off.unwrap_or(0).max(0) as usize,
                    true,
                ),
            )
        })?,
    )?;
    Ok(t)
}
