//! The `struct` library scripts get in Redis (Roberto Ierusalimschy's struct 0.2):
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` and `struct.size(fmt)`.
//! Formats: `>` `<` endianness, `!n` alignment, `x` padding, `b B h H l L T i I[n]`
//! integers, `f d` floats, `s` zero-terminated and `c[n]` fixed strings (`c0` takes its
//! length from the previous integer when unpacking).

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

/// Largest integer size.
const MAXINTSIZE: usize = 32;
const NATIVE_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

enum Item {
    Int { size: usize, signed: bool },
    Float,
    Double,
    Zstr,
    Fixed(usize),
    Pad,
    Endian(bool),
    Align(usize),
    Skip,
}

/// Reads one format item at `*i`; its size is the item's size for alignment.
fn next_item(fmt: &[u8], i: &mut usize) -> mlua::Result<(Item, usize)> {
    let c = fmt[*i];
    *i += 1;
    let num = |i: &mut usize, default: usize| -> usize {
        let start = *i;
        while *i < fmt.len() && fmt[*i].is_ascii_digit() {
            *i += 1;
        }
        if start == *i {
            default
        } else {
            std::str::from_utf8(&fmt[start..*i])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        }
    };
    Ok(match c {
        b'b' => (
            Item::Int {
                size: 1,
                signed: true,
            },
            1,
        ),
        b'B' => (
            Item::Int {
                size: 1,
                signed: false,
            },
            1,
        ),
        b'h' => (
            Item::Int {
                size: 2,
                signed: true,
            },
            2,
        ),
        b'H' => (
            Item::Int {
                size: 2,
                signed: false,
            },
            2,
        ),
        b'l' => (
            Item::Int {
                size: 8,
                signed: true,
            },
            8,
        ),
        b'L' | b'T' => (
            Item::Int {
                size: 8,
                signed: false,
            },
            8,
        ),
        b'i' | b'I' => {
            let n = num(i, 4);
            if n > MAXINTSIZE {
                return Err(err(format!(
                    "integral size {n} is larger than limit of {MAXINTSIZE}"
                )));
            }
            (
                Item::Int {
                    size: n,
                    signed: c == b'i',
                },
                n,
            )
        }
        b'f' => (Item::Float, 4),
        b'd' => (Item::Double, 8),
        b's' => (Item::Zstr, 0),
        b'c' => (Item::Fixed(num(i, 1)), 1),
        b'x' => (Item::Pad, 1),
        b'>' => (Item::Endian(false), 0),
        b'<' => (Item::Endian(true), 0),
        b'=' => (Item::Endian(cfg!(target_endian = "little")), 0),
        b'!' => (Item::Align(num(i, NATIVE_ALIGN)), 0),
        b' ' => (Item::Skip, 0),
        other => {
            return Err(err(format!(
                "bad argument #1 to '{{fn}}' (invalid format option '{}')",
                other as char
            )))
        }
    })
}

fn padding(h: &Header, pos: usize, size: usize) -> usize {
    let align = size.min(h.align);
    if align <= 1 || size == 0 {
        return 0;
    }
    (align - (pos & (align - 1))) & (align - 1)
}

fn number(v: &Value, n: usize) -> mlua::Result<f64> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Number(f) => Ok(*f),
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes())
            .trim()
            .parse()
            .map_err(|_| {
                err(format!(
                    "bad argument #{n} to 'pack' (number expected, got string)"
                ))
            }),
        other => Err(err(format!(
            "bad argument #{n} to 'pack' (number expected, got {})",
            other.type_name()
        ))),
    }
}

fn pack(lua: &Lua, (fmt, args): (mlua::String, Variadic<Value>)) -> mlua::Result<mlua::String> {
    let fmt = fmt.as_bytes().to_vec();
    let mut h = Header {
        little: cfg!(target_endian = "little"),
        align: 1,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 0usize;
    let mut i = 0;
    let take = |arg: &mut usize| -> mlua::Result<Value> {
        let v = args.get(*arg).cloned().ok_or_else(|| {
            err(format!(
                "bad argument #{} to 'pack' (value expected)",
                *arg + 2
            ))
        })?;
        *arg += 1;
        Ok(v)
    };
    while i < fmt.len() {
        let (item, size) = next_item(&fmt, &mut i)?;
        let pad = padding(&h, out.len(), size);
        out.resize(out.len() + pad, 0);
        match item {
            Item::Int { size, signed: _ } => {
                let v = take(&mut arg)?;
                let n = number(&v, arg + 1)?;
                let x = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for (k, b) in bytes.iter_mut().enumerate() {
                    *b = if k < 8 {
                        (x >> (8 * k)) as u8
                    } else if n < 0.0 {
                        0xff
                    } else {
                        0
                    };
                }
                if !h.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            Item::Float => {
                let n = number(&take(&mut arg)?, arg + 1)? as f32;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            Item::Double => {
                let n = number(&take(&mut arg)?, arg + 1)?;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
            }
            Item::Zstr | Item::Fixed(_) => {
                let v = take(&mut arg)?;
                let s = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(n) => n.to_string().into_bytes(),
                    Value::Number(n) => n.to_string().into_bytes(),
                    other => {
                        return Err(err(format!(
                            "bad argument #{} to 'pack' (string expected, got {})",
                            arg + 1,
                            other.type_name()
                        )))
                    }
                };
                match item {
                    Item::Zstr => {
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Fixed(n) => {
                        let n = if n == 0 { s.len() } else { n };
                        if s.len() < n {
                            return Err(err(format!(
                                "bad argument #{} to 'pack' (string too short)",
                                arg + 1
                            )));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    _ => unreachable!(),
                }
            }
            Item::Pad => out.push(0),
            Item::Endian(l) => h.little = l,
            Item::Align(n) => {
                if n == 0 || n & (n - 1) != 0 {
                    return Err(err("alignment must be power of 2"));
                }
                h.align = n;
            }
            Item::Skip => {}
        }
    }
    lua.create_string(&out)
}

fn unpack(
    lua: &Lua,
    (fmt, data, init): (mlua::String, mlua::String, Option<i64>),
) -> mlua::Result<Variadic<Value>> {
    let fmt = fmt.as_bytes().to_vec();
    let data = data.as_bytes().to_vec();
    let mut pos = match init {
        Some(p) if p >= 1 => (p - 1) as usize,
        Some(_) => {
            return Err(err(
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ))
        }
        None => 0,
    };
    let mut h = Header {
        little: cfg!(target_endian = "little"),
        align: 1,
    };
    let mut out = Variadic::new();
    let mut last_int: Option<f64> = None;
    let short = || err("bad argument #2 to 'unpack' (data string too short)");
    let mut i = 0;
    while i < fmt.len() {
        let (item, size) = next_item(&fmt, &mut i)?;
        pos += padding(&h, pos, size);
        match item {
            Item::Int { size, signed } => {
                let b = data.get(pos..pos + size).ok_or_else(short)?;
                let mut x: u64 = 0;
                for k in 0..size.min(8) {
                    let byte = if h.little { b[k] } else { b[size - 1 - k] };
                    x |= (byte as u64) << (8 * k);
                }
                let v = if signed && size < 8 {
                    let shift = 64 - 8 * size as u32;
                    (((x << shift) as i64) >> shift) as f64
                } else if signed {
                    x as i64 as f64
                } else {
                    x as f64
                };
                last_int = Some(v);
                out.push(Value::Number(v));
                pos += size;
            }
            Item::Float => {
                let b: [u8; 4] = data
                    .get(pos..pos + 4)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| short())?;
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f as f64));
                pos += 4;
            }
            Item::Double => {
                let b: [u8; 8] = data
                    .get(pos..pos + 8)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| short())?;
                let f = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(f));
                pos += 8;
            }
            Item::Zstr => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| err("unfinished string in data"))?;
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            Item::Fixed(n) => {
                let n = if n == 0 {
                    let l = last_int
                        .take()
                        .ok_or_else(|| err("format 'c0' needs a previous size"))?;
                    // The size read before is consumed, not returned.
                    out.pop();
                    l.max(0.0) as usize
                } else {
                    n
                };
                let b = data.get(pos..pos + n).ok_or_else(short)?;
                out.push(Value::String(lua.create_string(b)?));
                pos += n;
            }
            Item::Pad => pos += 1,
            Item::Endian(l) => h.little = l,
            Item::Align(n) => {
                if n == 0 || n & (n - 1) != 0 {
                    return Err(err("alignment must be power of 2"));
                }
                h.align = n;
            }
            Item::Skip => {}
        }
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(out)
}

fn size(_: &Lua, fmt: mlua::String) -> mlua::Result<f64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let (item, sz) = next_item(&fmt, &mut i)?;
        pos += padding(&h, pos, sz);
        match item {
            Item::Int { size, .. } => pos += size,
            Item::Float => pos += 4,
            Item::Double => pos += 8,
            Item::Zstr => {
                return Err(err(
                    "bad argument #1 to 'size' (option 's' has no fixed size)",
                ))
            }
            Item::Fixed(0) => {
                return Err(err(
                    "bad argument #1 to 'size' (option 'c0' has no fixed size)",
                ))
            }
            Item::Fixed(n) => pos += n,
            Item::Pad => pos += 1,
            Item::Endian(l) => h.little = l,
            Item::Align(n) => h.align = n.max(1),
            Item::Skip => {}
        }
    }
    Ok(pos as f64)
}

/// Builds the `struct` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let named = |name: &'static str, e: mlua::Error| match e {
        mlua::Error::RuntimeError(m) => mlua::Error::RuntimeError(m.replace("{fn}", name)),
        other => other,
    };
    t.raw_set(
        "pack",
        lua.create_function(move |lua, a| {
            located(lua, pack(lua, a).map_err(|e| named("pack", e)))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(move |lua, a| {
            located(lua, unpack(lua, a).map_err(|e| named("unpack", e)))
        })?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(move |lua, a| {
            located(lua, size(lua, a).map_err(|e| named("size", e)))
        })?,
    )?;
    Ok(t)
}
