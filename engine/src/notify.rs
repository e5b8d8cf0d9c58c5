//! Keyspace notifications (`notify-keyspace-events`): Redis's event classes and names.
//!
//! A write logs effects (see [`crate::effect`]); with notifications on, each effect is also
//! turned here into the event Redis would publish for the command that produced it, and
//! handed to the [`Notifier`] the server installed, inline and in order. Expiry, eviction,
//! new keys and read misses are reported where they happen.

use crate::effect::Effect;

/// Event classes, Redis's NOTIFY_* bits.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but key misses and new keys.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Where events go (the server publishes them on `__keyspace@<db>__:<key>` and
/// `__keyevent@<db>__:<event>`).
pub trait Notifier: Send + Sync {
    fn notify(&self, db: usize, event: &str, key: &[u8], flags: u32);
}

/// Parses a `notify-keyspace-events` value; None if it holds an unknown character.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => class::ALL,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// The canonical form CONFIG GET shows, in Redis's order.
pub fn flags_to_string(f: u32) -> String {
    let mut s = String::new();
    if f & class::ALL == class::ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Commands that store a computed result in a destination key: Redis reports the store, not
/// the deletion and refill our effects describe.
fn store_event(cmd: &str) -> Option<(u32, &'static str)> {
    Some(match cmd {
        "sinterstore" => (class::SET, "sinterstore"),
        "sunionstore" => (class::SET, "sunionstore"),
        "sdiffstore" => (class::SET, "sdiffstore"),
        "zunionstore" => (class::ZSET, "zunionstore"),
        "zinterstore" => (class::ZSET, "zinterstore"),
        "zdiffstore" => (class::ZSET, "zdiffstore"),
        "zrangestore" => (class::ZSET, "zrangestore"),
        "sort" => (class::LIST, "sortstore"),
        "georadius" | "georadiusbymember" | "geosearchstore" => (class::ZSET, "georadiusstore"),
        _ => return None,
    })
}

/// The events Redis publishes for one effect of command `cmd` (lowercase name), as
/// (class, event, db, key).
pub fn events<'e>(cmd: &str, e: &'e Effect) -> Vec<(u32, &'static str, u32, &'e [u8])> {
    use class::*;
    let mut out: Vec<(u32, &'static str, u32, &'e [u8])> = Vec::with_capacity(2);
    let store = store_event(cmd);
    match e {
        Effect::Set {
            db,
            key,
            expire_at,
            keep_ttl,
            ..
        } => {
            let ev = match cmd {
                "incrbyfloat" => "incrbyfloat",
                "restore" => "restore",
                "pfadd" | "pfmerge" | "pfcount" => "pfadd",
                "bitop" => "set",
                _ => "set",
            };
            if cmd == "pfcount" {
                // The cached cardinality is not a change a client made.
                return out;
            }
            out.push((STRING, ev, *db, key));
            if !*keep_ttl && *expire_at != 0 {
                out.push((GENERIC, "expire", *db, key));
            }
        }
        Effect::Del { db, key } => {
            if store.is_none() {
                out.push((GENERIC, "del", *db, key));
            }
        }
        Effect::Expire { db, key, .. } => out.push((GENERIC, "expire", *db, key)),
        Effect::Persist { db, key } => out.push((GENERIC, "persist", *db, key)),
        Effect::Rename { db, src, dst } => {
            out.push((GENERIC, "rename_from", *db, src));
            out.push((GENERIC, "rename_to", *db, dst));
        }
        Effect::Copy { dst_db, dst, .. } => out.push((GENERIC, "copy_to", *dst_db, dst)),
        Effect::Move { db, key, dst_db } => {
            out.push((GENERIC, "move_from", *db, key));
            out.push((GENERIC, "move_to", *dst_db, key));
        }
        Effect::SwapDb { .. } | Effect::FlushDb { .. } | Effect::FlushAll => {}
        Effect::IncrBy { db, key, .. } => out.push((STRING, "incrby", *db, key)),
        Effect::Append { db, key, .. } => out.push((STRING, "append", *db, key)),
        Effect::SetRange { db, key, .. } => {
            let ev = if matches!(cmd, "setbit" | "bitfield") {
                "setbit"
            } else {
                "setrange"
            };
            out.push((STRING, ev, *db, key));
        }
        Effect::HSet { db, key, .. } => {
            let ev = match cmd {
                "hincrby" => "hincrby",
                "hincrbyfloat" => "hincrbyfloat",
                _ => "hset",
            };
            out.push((HASH, ev, *db, key));
        }
        Effect::HDel { db, key, .. } => {
            let ev = if cmd == "hdel" { "hdel" } else { "hexpired" };
            out.push((HASH, ev, *db, key));
        }
        Effect::HExpire { db, key, fields } => {
            let ev = if fields.iter().all(|(_, at)| *at == 0) {
                "hpersist"
            } else {
                "hexpire"
            };
            out.push((HASH, ev, *db, key));
        }
        Effect::ListPush { db, key, left, .. } => {
            let ev = match store {
                Some((_, ev)) => ev,
                None if *left => "lpush",
                None => "rpush",
            };
            out.push((store.map_or(LIST, |s| s.0), ev, *db, key));
        }
        Effect::ListPop { db, key, left, .. } => {
            out.push((LIST, if *left { "lpop" } else { "rpop" }, *db, key))
        }
        Effect::ListSet { db, key, .. } => out.push((LIST, "lset", *db, key)),
        Effect::ListTrim { db, key, .. } => out.push((LIST, "ltrim", *db, key)),
        Effect::ListRem { db, key, .. } => out.push((LIST, "lrem", *db, key)),
        Effect::ListInsert { db, key, .. } => out.push((LIST, "linsert", *db, key)),
        Effect::SAdd { db, key, .. } => {
            let ev = store.map_or("sadd", |s| s.1);
            out.push((SET, ev, *db, key));
        }
        Effect::SRem { db, key, .. } => {
            let ev = if cmd == "spop" { "spop" } else { "srem" };
            out.push((SET, ev, *db, key));
        }
        Effect::ZAdd { db, key, .. } => {
            let ev = match (store, cmd) {
                (Some((_, ev)), _) => ev,
                (None, "zincrby") => "zincr",
                _ => "zadd",
            };
            out.push((store.map_or(ZSET, |s| s.0), ev, *db, key));
        }
        Effect::ZRem { db, key, .. } => {
            let ev = match cmd {
                "zpopmin" | "bzpopmin" => "zpopmin",
                "zpopmax" | "bzpopmax" => "zpopmax",
                "zremrangebyscore" => "zremrangebyscore",
                "zremrangebyrank" => "zremrangebyrank",
                "zremrangebylex" => "zremrangebylex",
                _ => "zrem",
            };
            out.push((ZSET, ev, *db, key));
        }
        Effect::XAdd { db, key, .. } => out.push((STREAM, "xadd", *db, key)),
        Effect::XTrim { db, key, .. } => out.push((STREAM, "xtrim", *db, key)),
        Effect::XDel { db, key, .. } => out.push((STREAM, "xdel", *db, key)),
        Effect::XSetId { db, key, .. } => {
            if cmd == "xsetid" {
                out.push((STREAM, "xsetid", *db, key));
            }
        }
        Effect::XGroupSet { db, key, .. } => {
            let ev = match cmd {
                "xgroup|create" => "xgroup-create",
                "xgroup|setid" => "xgroup-setid",
                _ => return out,
            };
            out.push((STREAM, ev, *db, key));
        }
        Effect::XGroupDestroy { db, key, .. } => out.push((STREAM, "xgroup-destroy", *db, key)),
        Effect::XConsumerSet { db, key, .. } => {
            if cmd == "xgroup|createconsumer" {
                out.push((STREAM, "xgroup-createconsumer", *db, key));
            }
        }
        Effect::XConsumerDel { db, key, .. } => out.push((STREAM, "xgroup-delconsumer", *db, key)),
        Effect::XPelSet { .. }
        | Effect::XPelDel { .. }
        | Effect::FunctionLoad { .. }
        | Effect::FunctionDelete { .. }
        | Effect::FunctionFlush
        | Effect::SearchDefine { .. }
        | Effect::SearchDrop { .. } => {}
        Effect::JsonSet { db, key, .. } => {
            // RedisJSON names its events after the command (json.set, json.del...).
            let ev = match cmd {
                "json.set" | "json.mset" => "json.set",
                "json.del" | "json.forget" => "json.del",
                "json.numincrby" => "json.numincrby",
                "json.nummultby" => "json.nummultby",
                "json.strappend" => "json.strappend",
                "json.arrappend" => "json.arrappend",
                "json.arrinsert" => "json.arrinsert",
                "json.arrpop" => "json.arrpop",
                "json.arrtrim" => "json.arrtrim",
                "json.toggle" => "json.toggle",
                "json.clear" => "json.clear",
                "json.merge" => "json.merge",
                _ => "json.set",
            };
            out.push((MODULE, ev, *db, key));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_like_redis() {
        assert_eq!(parse_flags(""), Some(0));
        assert_eq!(
            parse_flags("KEA").map(flags_to_string).as_deref(),
            Some("AKE")
        );
        assert_eq!(
            parse_flags("Ex").map(flags_to_string).as_deref(),
            Some("xE")
        );
        assert_eq!(
            parse_flags("g$lshzxetdKEmn")
                .map(flags_to_string)
                .as_deref(),
            Some("AKEm")
        );
        assert_eq!(parse_flags("Kq"), None);
    }

    #[test]
    fn effects_map_to_redis_event_names() {
        let e = Effect::Set {
            db: 0,
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expire_at: 5,
            keep_ttl: false,
        };
        let names: Vec<&str> = events("set", &e).iter().map(|x| x.1).collect();
        assert_eq!(names, ["set", "expire"]);
        let e = Effect::ListPop {
            db: 0,
            key: b"l".to_vec(),
            left: false,
            count: 1,
        };
        assert_eq!(events("lmove", &e)[0].1, "rpop");
        let e = Effect::Del {
            db: 0,
            key: b"d".to_vec(),
        };
        assert!(events("sinterstore", &e).is_empty());
        assert_eq!(events("lpop", &e)[0].1, "del");
    }
}
