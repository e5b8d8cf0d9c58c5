//! Configuration: redis.conf syntax, the same directive names as Redis, overridden by
//! `--directive value` command-line flags, and CONFIG GET/SET/RESETSTAT/REWRITE at run time.
//!
//! Every directive is one row of `DIRECTIVES`; values are kept in their canonical text form
//! (memory sizes as plain byte counts, booleans as yes/no) so CONFIG GET prints what Redis prints.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use parking_lot::RwLock;
use strata_engine::error::CmdError;
use strata_engine::keyspace::evict::Policy;
use strata_engine::keyspace::pattern::glob_match;
use strata_engine::Engine;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Memory {
        min: u64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// `save`: pairs of seconds and changes, or empty.
    SavePoints,
    /// `client-output-buffer-limit`: groups of class, hard, soft, seconds. Setting some
    /// classes keeps the others.
    OutputLimits,
    /// `notify-keyspace-events`: class characters, shown in Redis's canonical order.
    KeyspaceEvents,
}

pub struct Directive {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub mutable: bool,
    /// Pushes a new value into the engine where the engine needs it.
    pub apply: Option<fn(&Engine, &str)>,
}

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];
const I32MAX: i64 = i32::MAX as i64;

fn num(v: &str) -> u64 {
    v.parse().unwrap_or(0)
}

pub static DIRECTIVES: &[Directive] = &[
    Directive {
        name: "port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "6379",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "bind",
        kind: Kind::Str,
        default: "127.0.0.1",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "dir",
        kind: Kind::Str,
        default: "./data",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "requirepass",
        kind: Kind::Str,
        default: "",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "protected-mode",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "databases",
        kind: Kind::Int {
            min: 1,
            max: I32MAX,
        },
        default: "16",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "shards",
        kind: Kind::Int { min: 1, max: 4096 },
        default: "256",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "timeout",
        kind: Kind::Int {
            min: 0,
            max: I32MAX,
        },
        default: "0",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "tcp-keepalive",
        kind: Kind::Int {
            min: 0,
            max: I32MAX,
        },
        default: "300",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "loglevel",
        kind: Kind::Enum(LOGLEVELS),
        default: "notice",
        mutable: true,
        apply: Some(|_, v| {
            if let Some(reload) = LOG_RELOAD.get() {
                reload(v);
            }
        }),
    },
    Directive {
        name: "logfile",
        kind: Kind::Str,
        default: "",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "maxclients",
        kind: Kind::Int {
            min: 1,
            max: I32MAX,
        },
        default: "10000",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "maxmemory",
        kind: Kind::Memory { min: 0 },
        default: "0",
        mutable: true,
        apply: Some(|e, v| e.config.maxmemory.store(num(v), Ordering::Relaxed)),
    },
    Directive {
        name: "maxmemory-policy",
        kind: Kind::Enum(POLICIES),
        default: "noeviction",
        mutable: true,
        apply: Some(|e, v| {
            let p = Policy::parse(v).unwrap_or(Policy::NoEviction);
            e.config
                .maxmemory_policy
                .store(p.to_u8(), Ordering::Relaxed)
        }),
    },
    Directive {
        name: "cold-tier",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "cold-tier-dir",
        kind: Kind::Str,
        default: "cold",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "cold-tier-max-size",
        kind: Kind::Memory { min: 0 },
        default: "0",
        mutable: true,
        apply: Some(|e, v| {
            if let Some(t) = &e.tier {
                t.max_size.store(num(v), Ordering::Relaxed)
            }
        }),
    },
    Directive {
        name: "cold-tier-max-value-size",
        kind: Kind::Memory { min: 0 },
        default: "0",
        mutable: true,
        apply: Some(|e, v| {
            if let Some(t) = &e.tier {
                t.max_value.store(num(v), Ordering::Relaxed)
            }
        }),
    },
    Directive {
        name: "cold-tier-cache-size",
        kind: Kind::Memory { min: 1024 * 1024 },
        default: "67108864",
        mutable: true,
        apply: Some(|e, v| {
            if let Some(t) = &e.tier {
                t.store.set_cache_capacity(num(v) as usize)
            }
        }),
    },
    Directive {
        name: "cold-tier-admission",
        kind: Kind::Enum(&["tinylfu", "always"]),
        default: "tinylfu",
        mutable: true,
        apply: Some(|e, v| {
            if let (Some(t), Some(a)) = (&e.tier, strata_engine::tier::Admission::parse(v)) {
                t.set_admission(a)
            }
        }),
    },
    Directive {
        name: "maxmemory-samples",
        kind: Kind::Int {
            min: 1,
            max: I32MAX,
        },
        default: "5",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .maxmemory_samples
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "lfu-log-factor",
        kind: Kind::Int {
            min: 0,
            max: I32MAX,
        },
        default: "10",
        mutable: true,
        apply: Some(|e, v| e.config.lfu_log_factor.store(num(v), Ordering::Relaxed)),
    },
    Directive {
        name: "lfu-decay-time",
        kind: Kind::Int {
            min: 0,
            max: I32MAX,
        },
        default: "1",
        mutable: true,
        apply: Some(|e, v| e.config.lfu_decay_time.store(num(v), Ordering::Relaxed)),
    },
    Directive {
        name: "proto-max-bulk-len",
        kind: Kind::Memory { min: 1024 * 1024 },
        default: "536870912",
        mutable: true,
        apply: Some(|e, v| e.config.proto_max_bulk_len.store(num(v), Ordering::Relaxed)),
    },
    Directive {
        name: "client-query-buffer-limit",
        kind: Kind::Memory { min: 1024 * 1024 },
        default: "1073741824",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "io-threads",
        kind: Kind::Int { min: 0, max: 128 },
        default: "0",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "hz",
        kind: Kind::Int { min: 1, max: 500 },
        default: "10",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "activerehashing",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "hash-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "512",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .hash_max_listpack_entries
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "hash-max-listpack-value",
        kind: Kind::Memory { min: 0 },
        default: "64",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .hash_max_listpack_value
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "set-max-intset-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "512",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .set_max_intset_entries
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "set-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .set_max_listpack_entries
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "set-max-listpack-value",
        kind: Kind::Memory { min: 0 },
        default: "64",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .set_max_listpack_value
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "stream-node-max-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "100",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .stream_node_max_entries
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "stream-node-max-bytes",
        kind: Kind::Memory { min: 0 },
        default: "4096",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .stream_node_max_bytes
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "zset-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .zset_max_listpack_entries
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "zset-max-listpack-value",
        kind: Kind::Memory { min: 0 },
        default: "64",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .zset_max_listpack_value
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "list-max-listpack-size",
        kind: Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        default: "-2",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .list_max_listpack_size
                .store(v.parse().unwrap_or(-2), Ordering::Relaxed)
        }),
    },
    Directive {
        name: "busy-reply-threshold",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "5000",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "notify-keyspace-events",
        kind: Kind::KeyspaceEvents,
        default: "",
        mutable: true,
        apply: Some(|e, v| {
            e.config.notify_flags.store(
                strata_engine::notify::parse_flags(v).unwrap_or(0),
                Ordering::Relaxed,
            )
        }),
    },
    Directive {
        name: "client-output-buffer-limit",
        kind: Kind::OutputLimits,
        default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "save",
        kind: Kind::SavePoints,
        default: "3600 1 300 100 60 10000",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "dbfilename",
        kind: Kind::Str,
        default: "dump.strata",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "appendonly",
        kind: Kind::Bool,
        // Unlike Redis (no): a session store should not lose a second of writes by default.
        default: "yes",
        // CONFIG SET turns the log on and off (the command does it: it needs the server).
        mutable: true,
        apply: None,
    },
    Directive {
        name: "appendfsync",
        kind: Kind::Enum(&["always", "everysec", "no"]),
        default: "everysec",
        mutable: true,
        apply: Some(|e, v| {
            let f =
                strata_engine::wal::Fsync::parse(v).unwrap_or(strata_engine::wal::Fsync::EverySec);
            e.config.appendfsync.store(f as u8, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "auto-aof-rewrite-percentage",
        kind: Kind::Int {
            min: 0,
            max: I32MAX,
        },
        default: "100",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "auto-aof-rewrite-min-size",
        kind: Kind::Memory { min: 0 },
        default: "67108864",
        mutable: true,
        apply: None,
    },
    Directive {
        name: "appenddirname",
        kind: Kind::Str,
        default: "appendonlydir",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "appendfilename",
        kind: Kind::Str,
        default: "appendonly.aof",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "hll-sparse-max-bytes",
        kind: Kind::Memory { min: 0 },
        default: "3000",
        mutable: true,
        apply: Some(|e, v| {
            e.config
                .hll_sparse_max_bytes
                .store(num(v) as usize, Ordering::Relaxed)
        }),
    },
    Directive {
        name: "daemonize",
        kind: Kind::Enum(&["no"]),
        default: "no",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "pidfile",
        kind: Kind::Str,
        default: "",
        mutable: false,
        apply: None,
    },
    Directive {
        name: "enable-debug-command",
        kind: Kind::Enum(&["no", "yes", "local"]),
        default: "no",
        mutable: false,
        apply: None,
    },
];

/// Swaps the log filter; installed by `main` once logging is set up.
type LogReload = Box<dyn Fn(&str) + Send + Sync>;
static LOG_RELOAD: std::sync::OnceLock<LogReload> = std::sync::OnceLock::new();

pub fn set_log_reload(f: LogReload) {
    let _ = LOG_RELOAD.set(f);
}

/// Redis's log levels as a tracing filter (`verbose` and `notice` both show info).
pub fn log_filter(level: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level {
        "debug" => LevelFilter::DEBUG,
        "warning" => LevelFilter::WARN,
        "nothing" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

pub fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Parses Redis's memory notation: `1k` = 1000, `1kb` = 1024, likewise m/mb and g/gb.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (digits, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| lower.strip_suffix(suf).map(|d| (d.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = digits.parse().ok().filter(|_| !digits.starts_with('+'))?;
    n.checked_mul(mul)
}

/// Checks a value against its directive and returns the canonical form.
pub fn canonical(d: &Directive, value: &str) -> Result<String, String> {
    match d.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if n >= min && n <= max => Ok(n.to_string()),
            Ok(_) => Err(format!(
                "argument must be between {min} and {max} inclusive"
            )),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        },
        Kind::Memory { min } => match parse_memory(value) {
            Some(n) if n >= min && n <= i64::MAX as u64 => Ok(n.to_string()),
            Some(_) => Err(format!(
                "argument must be between {min} and {} inclusive",
                i64::MAX
            )),
            None => Err("argument must be a memory value".into()),
        },
        Kind::Enum(options) => options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(value))
            .map(|o| o.to_string())
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    options.join(", ")
                )
            }),
        Kind::Str => Ok(value.to_string()),
        Kind::SavePoints => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            Ok(words.join(" "))
        }
        Kind::KeyspaceEvents => strata_engine::notify::parse_flags(value)
            .map(strata_engine::notify::flags_to_string)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        Kind::OutputLimits => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if words.is_empty() || !words.len().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let mut out = Vec::new();
            for g in words.chunks_exact(4) {
                let class = match g[0].to_ascii_lowercase().as_str() {
                    "normal" => "normal",
                    "replica" | "slave" => "slave",
                    "pubsub" => "pubsub",
                    _ => {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        )
                    }
                };
                let hard = parse_memory(g[1]);
                let soft = parse_memory(g[2]);
                let secs = g[3].parse::<u64>().ok();
                let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                };
                out.push(format!("{class} {hard} {soft} {secs}"));
            }
            Ok(out.join(" "))
        }
    }
}

/// `client-output-buffer-limit` after setting the classes in `new` over `old`, in Redis's order.
fn merge_output_limits(old: &str, new: &str) -> String {
    let groups = |s: &str| -> Vec<Vec<String>> {
        let w: Vec<String> = s.split_whitespace().map(String::from).collect();
        w.chunks_exact(4).map(|c| c.to_vec()).collect()
    };
    let mut all = groups(old);
    for g in groups(new) {
        match all.iter_mut().find(|o| o[0] == g[0]) {
            Some(o) => *o = g,
            None => all.push(g),
        }
    }
    all.iter()
        .map(|g| g.join(" "))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stores a canonical value, merging the classes of `client-output-buffer-limit`.
fn store(values: &mut BTreeMap<&'static str, String>, d: &Directive, v: String) {
    let v = match d.kind {
        Kind::OutputLimits => merge_output_limits(values.get(d.name).map_or("", |s| s), &v),
        _ => v,
    };
    values.insert(d.name, v);
}

pub struct Config {
    values: RwLock<BTreeMap<&'static str, String>>,
    /// The file the server was started with, for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
}

impl Config {
    /// Builds the configuration from an optional redis.conf-syntax file and then the
    /// command-line `(name, value)` overrides.
    pub fn load(
        file: Option<&std::path::Path>,
        overrides: &[(String, String)],
    ) -> Result<Config, String> {
        let mut values: BTreeMap<&'static str, String> = DIRECTIVES
            .iter()
            .map(|d| (d.name, d.default.to_string()))
            .collect();
        let mut set = |name: &str, value: &str, origin: &str| -> Result<(), String> {
            let d =
                directive(name).ok_or_else(|| format!("{origin}: unknown directive '{name}'"))?;
            let v = canonical(d, value).map_err(|e| format!("{origin}: '{name}' {e}"))?;
            store(&mut values, d, v);
            Ok(())
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for (lineno, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let words = crate::resp::parse::split_args(line.as_bytes()).ok_or_else(|| {
                    format!("{}:{}: unbalanced quotes", path.display(), lineno + 1)
                })?;
                let words: Vec<String> = words
                    .into_iter()
                    .map(|w| String::from_utf8_lossy(&w).into_owned())
                    .collect();
                let (name, rest) = words.split_first().ok_or("empty line")?;
                set(
                    name,
                    &rest.join(" "),
                    &format!("{}:{}", path.display(), lineno + 1),
                )?;
            }
        }
        for (name, value) in overrides {
            set(name, value, "command line")?;
        }
        Ok(Config {
            values: RwLock::new(values),
            file: file.map(|p| p.to_path_buf()),
        })
    }

    pub fn get(&self, name: &str) -> String {
        self.values.read().get(name).cloned().unwrap_or_default()
    }

    pub fn get_u64(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// Pushes every engine-relevant value into the engine (at startup).
    pub fn apply_all(&self, eng: &Engine) {
        for d in DIRECTIVES {
            if let Some(apply) = d.apply {
                apply(eng, &self.get(d.name));
            }
        }
    }

    /// CONFIG GET: every directive matching any of the patterns.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(&'static str, String)> {
        let values = self.values.read();
        values
            .iter()
            .filter(|(name, _)| {
                patterns
                    .iter()
                    .any(|p| glob_match(p, name.as_bytes(), true))
            })
            .map(|(n, v)| (*n, v.clone()))
            .collect()
    }

    /// CONFIG SET of several pairs, all or nothing, with Redis's error texts.
    pub fn set_many(&self, eng: &Engine, pairs: &[(String, String)]) -> Result<(), CmdError> {
        let mut staged = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let Some(d) = directive(name) else {
                return Err(CmdError::config_unknown_option(name));
            };
            let fail = |why: &str| CmdError::config_set_failed(name, why);
            if !d.mutable {
                return Err(fail("can't set immutable config"));
            }
            if staged
                .iter()
                .any(|(s, _): &(&Directive, String)| s.name == d.name)
            {
                return Err(fail("duplicate parameter"));
            }
            let v = canonical(d, value).map_err(|e| fail(&e))?;
            staged.push((d, v));
        }
        let mut values = self.values.write();
        for (d, v) in staged {
            if let Some(apply) = d.apply {
                apply(eng, &v);
            }
            store(&mut values, d, v);
        }
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the config file with the current values of the directives
    /// that differ from their defaults, keeping comments and unknown lines.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let values = self.values.read();
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        for line in old.lines() {
            let name = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            match directive(&name) {
                Some(d) if !line.trim_start().starts_with('#') => {
                    if written.insert(d.name) {
                        out.push_str(&format!("{} {}\n", d.name, quote(&values[d.name])));
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        for d in DIRECTIVES {
            if !written.contains(d.name) && values[d.name] != d.default {
                out.push_str(&format!("{} {}\n", d.name, quote(&values[d.name])));
            }
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }
}

fn quote(v: &str) -> String {
    if v.is_empty() || v.contains(' ') {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_notation() {
        assert_eq!(parse_memory("4gb"), Some(4 << 30));
        assert_eq!(parse_memory("64mb"), Some(64 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("abc"), None);
        assert_eq!(parse_memory("99999999999gb"), None);
    }

    #[test]
    fn set_validates_like_redis() {
        let cfg = Config::load(None, &[]).unwrap();
        let eng = Engine::open(Default::default(), None);
        let err = cfg
            .set_many(&eng, &[("maxmemory-policy".into(), "foo".into())])
            .unwrap_err();
        assert!(err.as_str().starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru"));
        assert_eq!(
            cfg.set_many(&eng, &[("foo".into(), "1".into())])
                .unwrap_err()
                .as_str(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        cfg.set_many(&eng, &[("maxmemory".into(), "4gb".into())])
            .unwrap();
        assert_eq!(cfg.get("maxmemory"), (4u64 << 30).to_string());
        assert_eq!(eng.config.maxmemory.load(Ordering::Relaxed), 4 << 30);
        // all or nothing
        assert!(cfg
            .set_many(
                &eng,
                &[
                    ("maxmemory".into(), "1mb".into()),
                    ("databases".into(), "3".into())
                ]
            )
            .is_err());
        assert_eq!(cfg.get("maxmemory"), (4u64 << 30).to_string());
    }
}
