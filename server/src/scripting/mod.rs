//! Lua scripting (EVAL and friends) on an embedded Lua 5.1, with Redis's script API.
//!
//! One Lua state serves the server; a script runs under the engine's exclusive gate, so it is
//! atomic, and its writes are logged as one record. Scripts are compiled once and kept by
//! their SHA1, as Redis keeps `f_<sha>`. Globals are read-only to scripts (Redis 7), `KEYS`
//! and `ARGV` are set for each call, and the libraries are Redis's: `bit`, `cjson`,
//! `cmsgpack` and `struct` (in the submodules), with `redis.setresp` choosing RESP2 or RESP3
//! conversions. FUNCTION libraries run on the same state, each loaded in its own environment.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value, Variadic};
use parking_lot::Mutex;
use strata_engine::reply::Reply;

mod cjson;
mod cmsgpack;
mod structlib;

/// What runs Lua for the server.
pub struct Scripts {
    inner: Mutex<State>,
    busy: Arc<Busy>,
}

/// The running script, as other connections see it (they may not touch the Lua state while
/// it runs).
#[derive(Default)]
struct Busy {
    /// Milliseconds since `epoch` when the running script started, plus one; 0 when none runs.
    since: AtomicU64,
    epoch: OnceInstant,
    /// SCRIPT KILL asked the running script to stop.
    kill: AtomicBool,
    /// The running script has written: it can no longer be killed.
    wrote: AtomicBool,
    /// The kill hook switched to every instruction; the next run restores the usual one.
    escalated: AtomicBool,
    /// `redis.setresp(3)`: replies reach the script in their RESP3 forms.
    resp3: AtomicBool,
}

/// An `Instant` fixed at first use.
#[derive(Default)]
struct OnceInstant(std::sync::OnceLock<Instant>);

impl OnceInstant {
    fn ms(&self) -> u64 {
        self.0.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

/// What SCRIPT KILL found.
pub enum Kill {
    Killed,
    NotBusy,
    Unkillable,
}

struct State {
    lua: Lua,
    /// Compiled scripts by lower-case hex SHA1.
    compiled: HashMap<String, Function>,
    /// The bodies, for SCRIPT EXISTS and EVALSHA.
    bodies: HashMap<String, Bytes>,
    /// `__strata_run(f)`: calls `f` and returns `true, result` or `false, {message, line}`.
    runner: Function,
    /// `__strata_fcall(f)`: the same for a function, called with KEYS and ARGV.
    fcaller: Function,
    /// FUNCTION libraries by name, and their functions by name.
    libraries: std::collections::BTreeMap<String, Library>,
    functions: HashMap<String, Func>,
    /// The engine's library version this state was built from.
    synced: u64,
}

/// A loaded library.
struct Library {
    code: Bytes,
    /// Its functions, in registration order.
    functions: Vec<String>,
}

/// A registered function.
struct Func {
    library: String,
    callback: Function,
    flags: Vec<String>,
    description: Option<String>,
}

/// The flags `redis.register_function` accepts.
const FUNCTION_FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// SHA1 of a script body, as lower-case hex.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

const PRELUDE: &str = r#"
local pcall, type, tostring, getinfo = pcall, type, tostring, debug.getinfo
local function where(e)
  local line = 0
  for level = 2, 30 do
    local info = getinfo(level, 'Sl')
    if not info then break end
    if info.source == '@user_script' or info.source == '@user_function' then
      line = info.currentline
      break
    end
  end
  if type(e) == 'table' and e.err then return {tostring(e.err), line} end
  return {tostring(e), line}
end
__strata_run = function(f)
  return xpcall(f, where)
end
__strata_fcall = function(f)
  return xpcall(function() return f(KEYS, ARGV) end, where)
end
-- Redis 7's pcall hands a script the text of a caught error: the `err` of an error table,
-- or the message of a failed redis.call.
local find, sub = string.find, string.sub
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' and e.err then return false, e.err end
  if type(e) == 'userdata' then
    local s = tostring(e)
    local cut = find(s, '\nstack traceback:', 1, true)
    if cut then s = sub(s, 1, cut - 1) end
    return false, s
  end
  return false, e
end
_G.pcall = function(f, ...) return caught(pcall(f, ...)) end
"#;

/// The kill check. Every 100k instructions, it stops the script if SCRIPT KILL asked. Once the
/// script is killed, it fires on every line and instruction, so a script that catches the
/// error with `pcall` meets it again outside (a loop's jump back is a line event).
fn install_hook(lua: &Lua, busy: Arc<Busy>, relentless: bool) {
    let triggers = if relentless {
        mlua::HookTriggers::new()
            .every_nth_instruction(1)
            .every_line()
    } else {
        mlua::HookTriggers::new().every_nth_instruction(100_000)
    };
    lua.set_hook(triggers, move |lua, debug| {
        // A script that wrote after SCRIPT KILL looked is no longer killed: stopping it
        // halfway would break its atomicity.
        if busy.kill.load(Ordering::Acquire) && !busy.wrote.load(Ordering::Acquire) {
            // Only in the script's own code: not in the error handler the kill runs.
            let own = matches!(
                debug.source().source.as_deref(),
                Some("@user_script") | Some("@user_function")
            );
            if relentless && !own {
                return Ok(mlua::VmState::Continue);
            }
            if !relentless {
                busy.escalated.store(true, Ordering::Release);
                install_hook(lua, busy.clone(), true);
            }
            return Err(mlua::Error::external(CallError(
                "ERR Script killed by user with SCRIPT KILL...".into(),
            )));
        }
        Ok(mlua::VmState::Continue)
    });
}

/// LuaBitOp's number to 32-bit conversion: round to nearest (ties to even), then modulo 2^32.
fn tobit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    n.round_ties_even().rem_euclid(4_294_967_296.0) as u64 as u32 as i32
}

/// The `bit` library (LuaBitOp 1.0, as Redis bundles it): 32-bit operations on Lua numbers.
fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let num = |v: &Value| -> mlua::Result<f64> {
        match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Number(n) => Ok(*n),
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes())
                .trim()
                .parse()
                .map_err(|_| mlua::Error::RuntimeError("bad argument (number expected)".into())),
            _ => Err(mlua::Error::RuntimeError(
                "bad argument (number expected)".into(),
            )),
        }
    };
    let out = |i: i32| Value::Number(i as f64);
    t.raw_set(
        "tobit",
        lua.create_function(move |_, x: Value| Ok(out(tobit(num(&x)?))))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(move |_, x: Value| Ok(out(!tobit(num(&x)?))))?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(move |_, x: Value| Ok(out(tobit(num(&x)?).swap_bytes())))?,
    )?;
    for (name, op) in [
        ("band", (|a, b| a & b) as fn(i32, i32) -> i32),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ] {
        t.raw_set(
            name,
            lua.create_function(move |_, args: Variadic<Value>| {
                let mut it = args.iter();
                let first = it.next().ok_or_else(|| {
                    mlua::Error::RuntimeError(
                        "bad argument #1 (number expected, got no value)".into(),
                    )
                })?;
                let mut acc = tobit(num(first)?);
                for a in it {
                    acc = op(acc, tobit(num(a)?));
                }
                Ok(out(acc))
            })?,
        )?;
    }
    for (name, op) in [
        (
            "lshift",
            (|x: i32, n: u32| ((x as u32) << n) as i32) as fn(i32, u32) -> i32,
        ),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ] {
        t.raw_set(
            name,
            lua.create_function(move |_, (x, n): (Value, Value)| {
                let shift = (tobit(num(&n)?) & 31) as u32;
                Ok(out(op(tobit(num(&x)?), shift)))
            })?,
        )?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(move |_, (x, n): (Value, Option<Value>)| {
            let x = tobit(num(&x)?) as u32;
            let n = match n {
                Some(v) => tobit(num(&v)?),
                None => 8,
            };
            let (upper, digits) = if n < 0 { (true, -n) } else { (false, n) };
            let digits = digits.clamp(1, 8) as usize;
            let masked = if digits == 8 {
                x
            } else {
                x & ((1u32 << (4 * digits)) - 1)
            };
            Ok(if upper {
                format!("{masked:0digits$X}")
            } else {
                format!("{masked:0digits$x}")
            })
        })?,
    )?;
    Ok(t)
}

thread_local! {
    /// The command path of the script running on this thread, for the lifetime of its run.
    static COMMAND_PATH: std::cell::Cell<Option<*mut (dyn FnMut(Vec<Bytes>) -> Reply + 'static)>> =
        const { std::cell::Cell::new(None) };
}

/// Points `redis.call` and `redis.pcall` at a run's command path; cleared on drop. The
/// functions themselves are created once: making two closures per run cost more than many
/// scripts' own work.
struct CommandPath(Option<*mut (dyn FnMut(Vec<Bytes>) -> Reply + 'static)>);

impl CommandPath {
    fn set(call: &mut dyn FnMut(Vec<Bytes>) -> Reply) -> CommandPath {
        let ptr: *mut (dyn FnMut(Vec<Bytes>) -> Reply + '_) = call;
        // SAFETY: the pointer is only used while this guard lives (it is cleared on drop),
        // and the guard lives inside the run that borrows `call`.
        let ptr: *mut (dyn FnMut(Vec<Bytes>) -> Reply + 'static) =
            unsafe { std::mem::transmute(ptr) };
        CommandPath(COMMAND_PATH.with(|c| c.replace(Some(ptr))))
    }
}

impl Drop for CommandPath {
    fn drop(&mut self) {
        COMMAND_PATH.with(|c| c.set(self.0));
    }
}

/// `redis.call` (`raise`) and `redis.pcall`: runs one command of the running script.
fn script_call(lua: &Lua, args: Variadic<Value>, busy: &Busy, raise: bool) -> mlua::Result<Value> {
    let Some(path) = COMMAND_PATH.with(|c| c.get()) else {
        return Err(mlua::Error::external(CallError(
            "ERR redis.call can only be used while a script runs".into(),
        )));
    };
    let reply = match words_of(&args) {
        // SAFETY: set by `CommandPath` for the run in progress on this thread; a command run
        // from a script cannot start another script, so the call is not re-entered.
        Ok(words) => unsafe { (*path)(words) },
        Err(e) => Reply::Error(strata_engine::error::CmdError::owned(e.into())),
    };
    match reply {
        Reply::Error(e) if raise => Err(mlua::Error::external(CallError(e.as_str().to_string()))),
        r => to_lua(lua, r, busy.resp3.load(Ordering::Acquire)),
    }
}

/// Clears the running-script mark however the script ends.
struct Running<'a>(&'a Busy);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.since.store(0, Ordering::Release);
        self.0.kill.store(false, Ordering::Release);
    }
}

/// A failed `redis.call`, raised into Lua: its text is the command's error reply.
#[derive(Debug)]
struct CallError(String);

/// An error raised from a library function as Lua's `luaL_error` raises it: prefixed with
/// the calling script's chunk and line (`user_script:3: ...`).
pub(crate) fn lua_error(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    let place = lua.inspect_stack(1).and_then(|d| {
        let src = d.source().short_src?.into_owned();
        Some(format!("{src}:{}: ", d.curr_line()))
    });
    mlua::Error::external(CallError(format!("{}{msg}", place.unwrap_or_default())))
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The most memory the Lua state may hold (scripts, their data and the compiled cache).
pub const LUA_MEMORY_LIMIT: usize = 512 << 20;

/// Runs last: from here on a script cannot create globals or read undefined ones.
const GUARD: &str = r#"
local error, tostring = error, tostring
setmetatable(_G, {
  __newindex = function()
    error("Attempt to modify a readonly table", 2)
  end,
  __index = function(_, name)
    error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
  end,
})
"#;

/// The outcome of a script.
pub enum Outcome {
    Ok(Reply),
    /// An error reply's text (without the leading `-`).
    Err(String),
}

impl Scripts {
    pub fn new() -> Scripts {
        let busy = Arc::new(Busy::default());
        let state = State::new(busy.clone()).expect("start the Lua interpreter");
        Scripts {
            inner: Mutex::new(state),
            busy,
        }
    }

    /// How long the running script has been running, if one is.
    pub fn busy_for(&self) -> Option<u64> {
        match self.busy.since.load(Ordering::Acquire) {
            0 => None,
            since => Some(self.busy.epoch.ms().saturating_sub(since - 1)),
        }
    }

    /// Marks the running script as having written (SCRIPT KILL then refuses).
    pub fn note_write(&self) {
        self.busy.wrote.store(true, Ordering::Release);
    }

    /// SCRIPT KILL.
    pub fn kill(&self) -> Kill {
        if self.busy_for().is_none() {
            return Kill::NotBusy;
        }
        if self.busy.wrote.load(Ordering::Acquire) {
            return Kill::Unkillable;
        }
        self.busy.kill.store(true, Ordering::Release);
        Kill::Killed
    }

    /// SCRIPT LOAD: compiles and keeps the script; returns its SHA1, or the compile error.
    pub fn load(&self, body: &Bytes) -> Result<String, String> {
        let mut st = self.inner.lock();
        let sha = sha1_hex(body);
        st.compile(&sha, body)?;
        Ok(sha)
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.inner.lock().bodies.contains_key(&sha)
    }

    /// INFO memory: bytes held by the Lua state, bytes of cached script bodies, and how many
    /// scripts are cached (zeros while a script runs: the state is busy).
    pub fn memory(&self) -> (usize, usize, usize) {
        match self.inner.try_lock() {
            Some(st) => (
                st.lua.used_memory(),
                st.bodies.values().map(|b| b.len()).sum(),
                st.bodies.len(),
            ),
            None => (0, 0, 0),
        }
    }

    pub fn flush(&self) {
        let mut st = self.inner.lock();
        st.compiled.clear();
        st.bodies.clear();
        st.lua.gc_collect().ok();
    }

    /// Runs a script known by `sha` (compiling `body` first when given). `call` runs one
    /// `redis.call`/`redis.pcall` command and returns its reply.
    pub fn run(
        &self,
        sha: &str,
        body: Option<&Bytes>,
        keys: &[Bytes],
        argv: &[Bytes],
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> Outcome {
        let mut st = self.inner.lock();
        if let Some(body) = body {
            if let Err(e) = st.compile(sha, body) {
                return Outcome::Err(e);
            }
        }
        let Some(f) = st.compiled.get(sha).cloned() else {
            return Outcome::Err("NOSCRIPT No matching script. Please use EVAL.".into());
        };
        let runner = st.runner.clone();
        self.execute(&st, runner, f, sha, "user_script", keys, argv, call)
    }

    /// Runs `f` through `caller` (the script or function runner) with KEYS, ARGV and
    /// redis.call in place, as one atomic, killable script. `label` names it in errors.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        st: &State,
        caller: Function,
        f: Function,
        label: &str,
        source: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> Outcome {
        let lua = st.lua.clone();
        if self.busy.escalated.swap(false, Ordering::AcqRel) {
            install_hook(&lua, self.busy.clone(), false);
        }
        self.busy.kill.store(false, Ordering::Release);
        self.busy.wrote.store(false, Ordering::Release);
        self.busy.resp3.store(false, Ordering::Release);
        self.busy
            .since
            .store(self.busy.epoch.ms() + 1, Ordering::Release);
        let _running = Running(&self.busy);
        let _path = CommandPath::set(call);
        let r = (|| {
            let g = lua.globals();
            g.raw_set("KEYS", seq(&lua, keys)?)?;
            g.raw_set("ARGV", seq(&lua, argv)?)?;
            caller.call::<(bool, Value)>(f)
        })();
        // Lua 5.1 has no emergency collection: garbage a failed script left near the memory
        // limit would make the next allocations fail. Collect while it is large.
        if lua.used_memory() > LUA_MEMORY_LIMIT / 8 {
            lua.gc_collect().ok();
        }
        match r {
            Ok((true, v)) => Outcome::Ok(from_lua(&v, 0)),
            Ok((false, Value::Table(t))) => {
                let msg: String = t.raw_get(1).unwrap_or_default();
                let line: i64 = t.raw_get(2).unwrap_or(0);
                Outcome::Err(script_error(&msg, label, source, line))
            }
            Ok((false, other)) => {
                Outcome::Err(script_error(&format!("{other:?}"), label, source, 0))
            }
            Err(e) => Outcome::Err(script_error(&e.to_string(), label, source, 0)),
        }
    }

    /// Rebuilds the compiled libraries when the engine's copy changed (recovery loaded
    /// them, or a replayed record did).
    pub fn sync_functions(&self, libs: &strata_engine::functions::Libraries) {
        let mut st = self.inner.lock();
        let v = libs.version();
        if st.synced == v {
            return;
        }
        st.libraries.clear();
        st.functions.clear();
        for (name, code) in libs.all() {
            if let Err(e) = st.install_library(&name, &code, true) {
                tracing::warn!(library = %name, "could not load function library: {e}");
            }
        }
        st.synced = v;
    }

    /// FUNCTION LOAD: compiles the library and registers its functions. Returns its name.
    pub fn function_load(&self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (_, name) = strata_engine::functions::metadata(code)?;
        let mut st = self.inner.lock();
        if !replace && st.libraries.contains_key(&name) {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        st.install_library(&name, code, replace)?;
        Ok(name)
    }

    /// Records that the engine's libraries are now at `version` (after this state changed
    /// them itself).
    pub fn functions_synced(&self, version: u64) {
        self.inner.lock().synced = version;
    }

    pub fn function_delete(&self, name: &str) -> bool {
        let mut st = self.inner.lock();
        let Some(lib) = st.libraries.remove(name) else {
            return false;
        };
        for f in lib.functions {
            st.functions.remove(&f.to_ascii_lowercase());
        }
        true
    }

    pub fn function_flush(&self) {
        let mut st = self.inner.lock();
        st.libraries.clear();
        st.functions.clear();
        st.lua.gc_collect().ok();
    }

    /// Whether the function exists, and whether it may write (no `no-writes` flag).
    pub fn function_writes(&self, name: &str) -> Option<bool> {
        let st = self.inner.lock();
        st.functions
            .get(&name.to_ascii_lowercase())
            .map(|f| !f.flags.iter().any(|x| x == "no-writes"))
    }

    /// FCALL: runs a registered function.
    pub fn fcall(
        &self,
        name: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> Outcome {
        let st = self.inner.lock();
        let Some(f) = st
            .functions
            .get(&name.to_ascii_lowercase())
            .map(|f| f.callback.clone())
        else {
            return Outcome::Err("ERR Function not found".into());
        };
        let caller = st.fcaller.clone();
        self.execute(&st, caller, f, name, "user_function", keys, argv, call)
    }

    /// FUNCTION LIST.
    pub fn function_list(&self, pattern: Option<&[u8]>, with_code: bool) -> Reply {
        let st = self.inner.lock();
        let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        let libs = st
            .libraries
            .iter()
            .filter(|(name, _)| {
                pattern.is_none_or(|p| {
                    strata_engine::keyspace::pattern::glob_match(p, name.as_bytes(), false)
                })
            })
            .map(|(name, lib)| {
                let functions = lib
                    .functions
                    .iter()
                    .filter_map(|f| st.functions.get(&f.to_ascii_lowercase()).map(|x| (f, x)))
                    .map(|(f, x)| {
                        Reply::Map(vec![
                            (bulk("name"), bulk(f)),
                            (
                                bulk("description"),
                                x.description.as_deref().map_or(Reply::Nil, bulk),
                            ),
                            (
                                bulk("flags"),
                                Reply::Set(
                                    x.flags
                                        .iter()
                                        .map(|s| Reply::StatusOwned(s.clone()))
                                        .collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut m = vec![
                    (bulk("library_name"), bulk(name)),
                    (bulk("engine"), bulk("LUA")),
                    (bulk("functions"), Reply::Array(functions)),
                ];
                if with_code {
                    m.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
                }
                Reply::Map(m)
            })
            .collect();
        Reply::Array(libs)
    }

    /// FUNCTION STATS' counts: libraries and functions.
    pub fn function_counts(&self) -> (usize, usize) {
        let st = self.inner.lock();
        (st.libraries.len(), st.functions.len())
    }
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts::new()
    }
}

/// Redis 7's script error: the error's text (with `ERR ` when it has no code of its own), then
/// which script and line.
fn script_error(msg: &str, label: &str, source: &str, line: i64) -> String {
    // A failed redis.call reaches here as mlua's error text, with a traceback after it.
    let msg = msg
        .split("\nstack traceback:")
        .next()
        .unwrap_or(msg)
        .trim_end();
    let first = msg.split(' ').next().unwrap_or("");
    let coded = !first.is_empty() && first.chars().all(|c| c.is_ascii_uppercase());
    let msg = if coded {
        msg.to_string()
    } else {
        format!("ERR {msg}")
    };
    format!("{msg} script: {label}, on @{source}:{line}.")
}

/// A `redis.call`'s arguments as command words.
fn words_of(args: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|a| match a {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => Ok(Bytes::from(i.to_string())),
            Value::Number(n) => Ok(Bytes::from(lua_number(*n))),
            _ => Err("ERR Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

fn seq(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(it)?)?;
    }
    Ok(t)
}

/// `{err = ...}` or `{ok = ...}`: how an error or status reply looks in Lua.
fn tagged(lua: &Lua, field: &str, text: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, text)?;
    Ok(Value::Table(t))
}

fn err_table(lua: &Lua, msg: &str) -> mlua::Result<Value> {
    tagged(lua, "err", msg)
}

/// A Lua number as Redis prints it for a command argument (`%.17g`, integers without a dot).
fn lua_number(n: f64) -> String {
    strata_engine::number::format_double(n)
}

/// A reply as Redis hands it to Lua: RESP2's conversions, or with `resp3` (after
/// `redis.setresp(3)`) RESP3's (`{map=...}`, `{set=...}`, `{double=...}`, booleans, nil).
fn to_lua(lua: &Lua, r: Reply, resp3: bool) -> mlua::Result<Value> {
    if resp3 {
        match r {
            Reply::Nil | Reply::NilArray => return Ok(Value::Nil),
            Reply::Bool(b) => return Ok(Value::Boolean(b)),
            Reply::Double(d) => return tagged(lua, "double", d),
            Reply::Map(pairs) => {
                let m = lua.create_table()?;
                for (k, v) in pairs {
                    m.raw_set(to_lua(lua, k, true)?, to_lua(lua, v, true)?)?;
                }
                return tagged(lua, "map", m);
            }
            Reply::Set(items) => {
                let m = lua.create_table()?;
                for it in items {
                    m.raw_set(to_lua(lua, it, true)?, true)?;
                }
                return tagged(lua, "set", m);
            }
            Reply::Pairs(pairs) => {
                let t = lua.create_table_with_capacity(pairs.len(), 0)?;
                for (i, (k, v)) in pairs.into_iter().enumerate() {
                    let p = lua.create_table_with_capacity(2, 0)?;
                    p.raw_set(1, to_lua(lua, k, true)?)?;
                    p.raw_set(2, to_lua(lua, v, true)?)?;
                    t.raw_set(i + 1, p)?;
                }
                return Ok(Value::Table(t));
            }
            Reply::Array(items) => {
                let t = lua.create_table_with_capacity(items.len(), 0)?;
                for (i, it) in items.into_iter().enumerate() {
                    t.raw_set(i + 1, to_lua(lua, it, true)?)?;
                }
                return Ok(Value::Table(t));
            }
            other => return to_lua(lua, other, false),
        }
    }
    Ok(match r {
        Reply::Ok => status(lua, "OK")?,
        Reply::Status(s) => status(lua, s)?,
        Reply::StatusOwned(s) => status(lua, &s)?,
        Reply::Int(i) => Value::Integer(i),
        Reply::Bulk(b) | Reply::Verbatim(_, b) => Value::String(lua.create_string(&b)?),
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Many(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, it, false)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, to_lua(lua, k, false)?)?;
                t.raw_set(2 * i + 2, to_lua(lua, v, false)?)?;
            }
            Value::Table(t)
        }
        Reply::Double(d) => {
            Value::String(lua.create_string(strata_engine::number::format_double(d))?)
        }
        Reply::Bool(b) => Value::Integer(b as i64),
        Reply::Error(e) => err_table(lua, e.as_str())?,
        Reply::Encoded(bytes) => {
            let t = lua.create_table()?;
            for (i, item) in decode_bulk_array(&bytes).into_iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(item)?)?;
            }
            Value::Table(t)
        }
    })
}

fn status(lua: &Lua, s: &str) -> mlua::Result<Value> {
    tagged(lua, "ok", s)
}

/// The elements of a pre-encoded array of bulk strings (`Reply::Encoded`).
fn decode_bulk_array(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let line = |from: usize| -> Option<(usize, usize)> {
        let end = from + b.get(from..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&b[from + 1..end])
            .ok()?
            .parse::<usize>()
            .ok()?;
        Some((n, end + 2))
    };
    let Some((count, mut at)) = line(0) else {
        return out;
    };
    for _ in 0..count {
        let Some((len, start)) = line(at) else {
            break;
        };
        let Some(item) = b.get(start..start + len) else {
            break;
        };
        out.push(item);
        at = start + len + 2;
    }
    out
}

/// A script's return value as a reply, as Redis converts it.
fn from_lua(v: &Value, depth: usize) -> Reply {
    match v {
        Value::Nil => Reply::Nil,
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(*n as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(strata_engine::error::CmdError::owned(
                    String::from_utf8_lossy(&e.as_bytes()).into_owned(),
                ));
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::StatusOwned(String::from_utf8_lossy(&s.as_bytes()).into_owned());
            }
            // RESP3 forms a script may return (converted for a RESP2 client on the way out).
            match t.raw_get::<Value>("double") {
                Ok(Value::Number(d)) => return Reply::Double(d),
                Ok(Value::Integer(i)) => return Reply::Double(i as f64),
                _ => {}
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                let mut pairs = Vec::new();
                for (k, v) in m.pairs::<Value, Value>().flatten() {
                    pairs.push((from_lua(&k, depth + 1), from_lua(&v, depth + 1)));
                }
                return Reply::Map(pairs);
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("set") {
                let items = m
                    .pairs::<Value, Value>()
                    .flatten()
                    .map(|(k, _)| from_lua(&k, depth + 1))
                    .collect();
                return Reply::Set(items);
            }
            if depth > 100 {
                return Reply::Error(strata_engine::error::CmdError::owned(
                    "ERR reached lua stack limit".into(),
                ));
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(from_lua(&v, depth + 1)),
                }
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}

impl State {
    fn new(busy: Arc<Busy>) -> mlua::Result<State> {
        // SAFETY: mlua calls the `debug` library unsafe because Lua code holding it can reach
        // into Rust callbacks' upvalues. Only the prelude's error handler keeps
        // `debug.getinfo`; the library is removed from the globals before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::default(),
            )
        };
        let g = lua.globals();
        for unsafe_fn in ["loadfile", "dofile"] {
            g.raw_set(unsafe_fn, Value::Nil)?;
        }
        let redis = lua.create_table()?;
        redis.raw_set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?,
        )?;
        for (name, field) in [("error_reply", "err"), ("status_reply", "ok")] {
            redis.raw_set(
                name,
                lua.create_function(move |lua, s: mlua::String| tagged(lua, field, s))?,
            )?;
        }
        redis.raw_set(
            "log",
            lua.create_function(|_, (_level, msg): (i64, mlua::String)| {
                tracing::info!("script: {}", String::from_utf8_lossy(&msg.as_bytes()));
                Ok(())
            })?,
        )?;
        // Replication controls have nothing to act on here: replicas do not exist.
        redis.raw_set("set_repl", lua.create_function(|_, _: Value| Ok(()))?)?;
        for (name, raise) in [("call", true), ("pcall", false)] {
            let b = busy.clone();
            redis.raw_set(
                name,
                lua.create_function(move |lua, args: Variadic<Value>| {
                    script_call(lua, args, &b, raise)
                })?,
            )?;
        }
        let resp = busy.clone();
        redis.raw_set(
            "setresp",
            lua.create_function(move |_, v: Value| {
                let n = match v {
                    Value::Integer(i) => i,
                    Value::Number(n) => n as i64,
                    _ => 0,
                };
                if n != 2 && n != 3 {
                    return Err(mlua::Error::external(CallError(
                        "ERR RESP version must be 2 or 3.".into(),
                    )));
                }
                resp.resp3.store(n == 3, Ordering::Release);
                Ok(())
            })?,
        )?;
        redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        for (name, v) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
            ("REPL_NONE", 0),
            ("REPL_SLAVE", 1),
            ("REPL_REPLICA", 1),
            ("REPL_AOF", 2),
            ("REPL_ALL", 3),
        ] {
            redis.raw_set(name, v)?;
        }
        g.raw_set("redis", redis)?;
        g.raw_set("bit", bit_library(&lua)?)?;
        g.raw_set("cjson", cjson::library(&lua)?)?;
        g.raw_set("cmsgpack", cmsgpack::library(&lua)?)?;
        g.raw_set("struct", structlib::library(&lua)?)?;
        lua.load(PRELUDE).set_name("=prelude").exec()?;
        let runner: Function = g.raw_get("__strata_run")?;
        g.raw_set("__strata_run", Value::Nil)?;
        let fcaller: Function = g.raw_get("__strata_fcall")?;
        g.raw_set("__strata_fcall", Value::Nil)?;
        g.raw_set("debug", Value::Nil)?;
        // Globals are read-only to scripts, as in Redis 7 (KEYS and ARGV are set with rawset).
        lua.load(GUARD).set_name("=guard").exec()?;
        // A script cannot take the server's memory: allocations past this fail in Lua.
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        install_hook(&lua, busy, false);
        Ok(State {
            lua,
            compiled: HashMap::new(),
            bodies: HashMap::new(),
            runner,
            fcaller,
            libraries: Default::default(),
            functions: HashMap::new(),
            synced: 0,
        })
    }

    /// Compiles a library and registers its functions, replacing the library of the same
    /// name if `replace`. Nothing changes on an error.
    fn install_library(&mut self, name: &str, code: &Bytes, replace: bool) -> Result<(), String> {
        let funcs = self.compile_library(code)?;
        if funcs.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for (f, _) in &funcs {
            if let Some(existing) = self.functions.get(&f.to_ascii_lowercase()) {
                if existing.library != name || !replace {
                    return Err(format!("ERR Function {f} already exists"));
                }
            }
        }
        if let Some(old) = self.libraries.remove(name) {
            for f in old.functions {
                self.functions.remove(&f.to_ascii_lowercase());
            }
        }
        let names = funcs.iter().map(|(f, _)| f.clone()).collect();
        for (f, mut func) in funcs {
            func.library = name.to_string();
            self.functions.insert(f.to_ascii_lowercase(), func);
        }
        self.libraries.insert(
            name.to_string(),
            Library {
                code: code.clone(),
                functions: names,
            },
        );
        Ok(())
    }

    /// Runs a library's code with `redis.register_function` available; returns what it
    /// registered, in order.
    fn compile_library(&self, code: &Bytes) -> Result<Vec<(String, Func)>, String> {
        let lua = &self.lua;
        let fail = |e: mlua::Error| -> String {
            let msg = match e {
                mlua::Error::SyntaxError { message, .. } => message,
                mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            let msg = msg.split("\nstack traceback:").next().unwrap_or("");
            format!("ERR Error registering functions: {msg}")
        };
        // The metadata line stays as an empty line, so line numbers match the source.
        let body = match code.iter().position(|&b| b == b'\n') {
            Some(at) => &code[at..],
            None => &b""[..],
        };
        let registered: std::cell::RefCell<Vec<(String, Func)>> = Default::default();
        lua.scope(|scope| {
            let register = scope.create_function(|_, args: Variadic<Value>| {
                let (name, callback, flags, description) =
                    register_args(&args).map_err(|e| mlua::Error::external(CallError(e)))?;
                let mut r = registered.borrow_mut();
                if r.iter().any(|(n, _)| *n == name) {
                    return Err(mlua::Error::external(CallError(
                        "ERR Function already exists in the library".into(),
                    )));
                }
                r.push((
                    name,
                    Func {
                        library: String::new(),
                        callback,
                        flags,
                        description,
                    },
                ));
                Ok(())
            })?;
            let env = lua.create_table()?;
            let meta = lua.create_table()?;
            meta.raw_set("__index", lua.globals())?;
            env.set_metatable(Some(meta));
            let redis = lua.create_table()?;
            let rmeta = lua.create_table()?;
            rmeta.raw_set("__index", lua.globals().raw_get::<Table>("redis")?)?;
            redis.set_metatable(Some(rmeta));
            redis.raw_set("register_function", register)?;
            env.raw_set("redis", redis)?;
            lua.load(body)
                .set_name("@user_function")
                .set_environment(env)
                .exec()
        })
        .map_err(fail)?;
        Ok(registered.into_inner())
    }

    fn compile(&mut self, sha: &str, body: &Bytes) -> Result<(), String> {
        if self.compiled.contains_key(sha) {
            return Ok(());
        }
        let f = self
            .lua
            .load(body.as_ref())
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("ERR Error compiling script (new function): {msg}")
            })?;
        self.compiled.insert(sha.to_string(), f);
        self.bodies.insert(sha.to_string(), body.clone());
        Ok(())
    }
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=..., callback=..., flags={...}, description=...}`.
fn register_args(
    args: &[Value],
) -> Result<(String, Function, Vec<String>, Option<String>), String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
        _ => None,
    };
    let (name, callback, flags, description) = match args {
        [Value::Table(t)] => {
            let mut name = None;
            let mut callback = None;
            let mut flags = Vec::new();
            let mut description = None;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                match text(&k).as_deref() {
                    Some("function_name") => {
                        name = Some(text(&v).ok_or("ERR function_name argument given to redis.register_function must be a string")?)
                    }
                    Some("callback") => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("ERR callback argument given to redis.register_function must be a function".into()),
                    },
                    Some("description") => {
                        description = Some(text(&v).ok_or("ERR description argument given to redis.register_function must be a string")?)
                    }
                    Some("flags") => {
                        let Value::Table(ft) = v else {
                            return Err("ERR flags argument to redis.register_function must be a table representing function flags".into());
                        };
                        for f in ft.sequence_values::<Value>() {
                            let f = f.map_err(|e| e.to_string())?;
                            match text(&f) {
                                Some(f) if FUNCTION_FLAGS.contains(&f.as_str()) => flags.push(f),
                                _ => return Err("ERR unknown flag given".into()),
                            }
                        }
                    }
                    _ => return Err("ERR unknown argument given to redis.register_function".into()),
                }
            }
            let name =
                name.ok_or("ERR redis.register_function must get a function name argument")?;
            let callback =
                callback.ok_or("ERR redis.register_function must get a callback argument")?;
            (name, callback, flags, description)
        }
        [n, Value::Function(f)] => (
            text(n).ok_or("ERR first argument to redis.register_function must be a string")?,
            f.clone(),
            Vec::new(),
            None,
        ),
        [_, _] => {
            return Err("ERR second argument to redis.register_function must be a function".into())
        }
        _ => return Err("ERR wrong number of arguments to redis.register_function".into()),
    };
    if !strata_engine::functions::valid_name(&name) {
        // Redis 7.0's wording (it names libraries here).
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    // Listed in Redis's order, whatever order they were given in.
    let flags = FUNCTION_FLAGS
        .iter()
        .filter(|f| flags.iter().any(|g| g == *f))
        .map(|f| f.to_string())
        .collect();
    Ok((name, callback, flags, description))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_format_like_printf_17g() {
        for (n, s) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (42.0, "42"),
            (-3.25, "-3.25"),
            (1e20, "1e+20"),
            (1.5e-7, "1.4999999999999999e-07"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
        ] {
            assert_eq!(super::lua_number(n), s, "{n}");
        }
    }
}
