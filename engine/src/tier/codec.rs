//! How a value is stored in the cold tier: a fixed 24-byte header, then a body.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | format, `1` |
//! | 1 | 1 | type: 0 string, 1 hash, 2 list, 3 set, 4 zset, 5 stream |
//! | 2 | 1 | body: 0 a flat value's buffer verbatim, 1 the effects that rebuild a large value |
//! | 3 | 1 | body codec: 0 raw, 1 lz4 block (the raw length as u32 LE comes first) |
//! | 4 | 4 | access clock (LRU seconds or LFU counter and decay time), LE |
//! | 8 | 8 | expiry, unix ms LE, 0 = none |
//! | 16 | 8 | the bytes the entry took in RAM (`MEMORY USAGE` of a cold key), LE |
//!
//! A flat value (every string, and every collection small enough for a listpack or intset)
//! is its buffer as is, so its encoding and layout come back exactly. A large collection is
//! stored as the snapshot's effects for it (written for database 0 and an empty key) and is
//! rebuilt by replaying them in a scratch keyspace whose encoding limits are all zero, so it
//! comes back in its large encoding (`hashtable`, `quicklist`, `skiplist`...) whatever its size,
//! as it left: a collection that shrank stays in the encoding it had, as in Redis.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::effect::Effect;
use crate::keyspace::Entry;
use crate::types::{Flat, Kind, Value};
use crate::{Engine, EngineConfig};

pub const HEADER: usize = 24;
const FORMAT: u8 = 1;
const BODY_FLAT: u8 = 0;
const BODY_EFFECTS: u8 = 1;
const CODEC_RAW: u8 = 0;
const CODEC_LZ4: u8 = 1;
/// Bodies shorter than this are not worth compressing.
const COMPRESS_MIN: usize = 64;

fn kind_byte(k: Kind) -> u8 {
    match k {
        Kind::String => 0,
        Kind::Hash => 1,
        Kind::List => 2,
        Kind::Set => 3,
        Kind::ZSet => 4,
        Kind::Stream => 5,
        Kind::Json => 6,
    }
}

fn kind_of(b: u8) -> Option<Kind> {
    Some(match b {
        0 => Kind::String,
        1 => Kind::Hash,
        2 => Kind::List,
        3 => Kind::Set,
        4 => Kind::ZSet,
        5 => Kind::Stream,
        6 => Kind::Json,
        _ => return None,
    })
}

/// The stored form of an entry that took `hot_bytes` in RAM.
pub fn encode(e: &Entry, hot_bytes: usize) -> Vec<u8> {
    let (body_kind, body) = match &e.value {
        Value::Flat(f) => (BODY_FLAT, std::borrow::Cow::Borrowed(f.buf())),
        Value::Big(_) => {
            let mut raw = Vec::new();
            for c in crate::snapshot::key_effects(0, b"", &e.value, 0) {
                for eff in &c {
                    crate::effect::encode(eff, &mut raw);
                }
            }
            (BODY_EFFECTS, std::borrow::Cow::Owned(raw))
        }
    };
    let packed = (body.len() >= COMPRESS_MIN && body.len() <= u32::MAX as usize)
        .then(|| lz4_flex::block::compress(&body))
        .filter(|p| p.len() + 4 < body.len());
    let mut out = Vec::with_capacity(
        HEADER
            + body
                .len()
                .min(packed.as_ref().map_or(usize::MAX, |p| p.len() + 4)),
    );
    out.push(FORMAT);
    out.push(kind_byte(e.value.kind()));
    out.push(body_kind);
    out.push(if packed.is_some() {
        CODEC_LZ4
    } else {
        CODEC_RAW
    });
    out.extend_from_slice(&e.value.access().to_le_bytes());
    out.extend_from_slice(&e.expire_at.to_le_bytes());
    out.extend_from_slice(&(hot_bytes as u64).to_le_bytes());
    match packed {
        Some(p) => {
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&p);
        }
        None => out.extend_from_slice(&body),
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().expect("8")))
}

/// The expiry a stored value carries (unix ms, 0 = none), read from the header alone.
pub fn expire_at(stored: &[u8]) -> u64 {
    u64_at(stored, 8)
}

/// Whether a stored value has expired at `now` (unix ms): [`Entry::is_expired`]'s rule, read
/// from the header alone.
///
/// [`Entry::is_expired`]: crate::keyspace::Entry::is_expired
pub fn is_expired(stored: &[u8], now: u64) -> bool {
    let at = expire_at(stored);
    at != 0 && now > at
}

/// The type a stored value holds, read from the header alone.
pub fn kind(stored: &[u8]) -> Option<Kind> {
    kind_of(*stored.get(1)?)
}

/// What the entry took in RAM when it was spilled.
pub fn hot_bytes(stored: &[u8]) -> u64 {
    u64_at(stored, 16)
}

thread_local! {
    /// A one-key keyspace that rebuilds large values, its encoding limits all zero.
    static SCRATCH: RefCell<Option<Arc<Engine>>> = const { RefCell::new(None) };
}

fn scratch() -> Arc<Engine> {
    SCRATCH.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| {
                let eng = Engine::open(
                    EngineConfig {
                        databases: 1,
                        shards: 1,
                        ..Default::default()
                    },
                    None,
                );
                let c = &eng.config;
                for a in [
                    &c.hash_max_listpack_entries,
                    &c.set_max_intset_entries,
                    &c.set_max_listpack_entries,
                    &c.zset_max_listpack_entries,
                ] {
                    a.store(0, Ordering::Relaxed);
                }
                // One element per node is past the limit as soon as there are two.
                c.list_max_listpack_size.store(1, Ordering::Relaxed);
                eng
            })
            .clone()
    })
}

/// Rebuilds the entry a stored value holds. `live` supplies the stream node limits, so a
/// rebuilt stream cuts its nodes as the live keyspace would.
pub fn decode(stored: &[u8], live: &Engine) -> Result<Entry, String> {
    if stored.len() < HEADER || stored[0] != FORMAT {
        return Err("bad cold value header".into());
    }
    let kind = kind_of(stored[1]).ok_or("bad cold value type")?;
    let access = u32::from_le_bytes(stored[4..8].try_into().expect("4"));
    let expire_at = expire_at(stored);
    let rest = &stored[HEADER..];
    let body = match stored[3] {
        CODEC_RAW => std::borrow::Cow::Borrowed(rest),
        CODEC_LZ4 if rest.len() >= 4 => {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
            if len > (rest.len() - 4).saturating_mul(255) + 16 {
                return Err("cold value claims an impossible length".into());
            }
            let raw = lz4_flex::block::decompress(&rest[4..], len)
                .map_err(|e| format!("cold value is damaged: {e}"))?;
            std::borrow::Cow::Owned(raw)
        }
        _ => return Err("bad cold value codec".into()),
    };
    let mut value = match stored[2] {
        BODY_FLAT => Value::Flat(Flat::from_buf(&body).ok_or("bad flat cold value")?),
        BODY_EFFECTS => rebuild(&body, live)?,
        _ => return Err("bad cold value body".into()),
    };
    if value.kind() != kind {
        return Err("cold value type does not match its header".into());
    }
    value.set_access(access);
    Ok(Entry { value, expire_at })
}

fn rebuild(mut body: &[u8], live: &Engine) -> Result<Value, String> {
    let eng = scratch();
    let lim = &live.config;
    eng.config.stream_node_max_entries.store(
        lim.stream_node_max_entries.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    eng.config.stream_node_max_bytes.store(
        lim.stream_node_max_bytes.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    let clear = || {
        eng.dbs[0].shards[0].lock().clear();
    };
    clear();
    while !body.is_empty() {
        let (e, used) =
            crate::effect::decode(body).map_err(|e| format!("cold value is damaged: {e:?}"))?;
        body = &body[used..];
        let ok = matches!(e.db(), Some(0) | None)
            && !matches!(
                e,
                Effect::FlushAll | Effect::FlushDb { .. } | Effect::SwapDb { .. }
            );
        if !ok {
            clear();
            return Err("cold value holds a foreign effect".into());
        }
        if let Err(e) = eng.apply(&e) {
            clear();
            return Err(format!("cold value is damaged: {e:?}"));
        }
    }
    let entry = eng.dbs[0].shards[0].lock().remove(b"");
    clear();
    entry
        .map(|e| e.value)
        .ok_or_else(|| "cold value rebuilt nothing".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Ctx;

    fn round_trip(eng: &Engine, key: &[u8]) {
        let mut fx = crate::effect::Effects::default();
        let mut cx = Ctx::new(eng, 0, &mut fx);
        let mut g = cx.lock(&[key]);
        let e = g.peek(key).expect("key").clone();
        drop(g);
        let stored = encode(&e, 123);
        assert_eq!(hot_bytes(&stored), 123);
        assert_eq!(expire_at(&stored), e.expire_at);
        assert_eq!(kind(&stored), Some(e.value.kind()));
        let back = decode(&stored, eng).unwrap();
        assert_eq!(back.value.encoding(), e.value.encoding(), "{key:?}");
        assert_eq!(back.value.access(), e.value.access());
        assert_eq!(back.value.canonical(), e.value.canonical(), "{key:?}");
        assert_eq!(back.expire_at, e.expire_at);
    }

    #[test]
    fn every_type_and_encoding_survives_a_round_trip() {
        let eng = Engine::open(EngineConfig::default(), None);
        let k = |s: &str| s.as_bytes().to_vec();
        let set = |key: &str, v: &[u8], expire_at: u64| Effect::Set {
            db: 0,
            key: k(key),
            value: v.to_vec(),
            expire_at,
            keep_ttl: false,
        };
        let elems: Vec<Vec<u8>> = (0..2000).map(|i| k(&format!("e{i}"))).collect();
        let pairs = |n: usize| -> Vec<(Vec<u8>, Vec<u8>)> {
            (0..n).map(|i| (k(&format!("f{i}")), k("v"))).collect()
        };
        let scored = |n: usize| -> Vec<(Vec<u8>, f64)> {
            elems[..n]
                .iter()
                .enumerate()
                .map(|(i, e)| (e.clone(), i as f64))
                .collect()
        };
        let effects = vec![
            set("int", b"12345", 0),
            set("emb", b"hello", 4_000_000_000_000),
            set("raw", &[b'x'; 300], 0),
            Effect::HSet {
                db: 0,
                key: k("hs"),
                pairs: pairs(3),
            },
            Effect::HSet {
                db: 0,
                key: k("hb"),
                pairs: pairs(600),
            },
            Effect::ListPush {
                db: 0,
                key: k("ls"),
                left: false,
                elems: elems[..5].to_vec(),
            },
            Effect::ListPush {
                db: 0,
                key: k("lb"),
                left: false,
                elems: elems.clone(),
            },
            Effect::SAdd {
                db: 0,
                key: k("si"),
                members: (0..10).map(|i| k(&i.to_string())).collect(),
            },
            Effect::SAdd {
                db: 0,
                key: k("sp"),
                members: elems[..5].to_vec(),
            },
            Effect::SAdd {
                db: 0,
                key: k("sb"),
                members: elems.clone(),
            },
            Effect::ZAdd {
                db: 0,
                key: k("zp"),
                pairs: scored(5),
            },
            Effect::ZAdd {
                db: 0,
                key: k("zb"),
                pairs: scored(2000),
            },
        ];
        for e in &effects {
            eng.apply(e).unwrap();
        }
        // A large hash that shrank keeps its encoding, as in Redis.
        eng.apply(&Effect::HDel {
            db: 0,
            key: k("hb"),
            fields: (2..600).map(|i| k(&format!("f{i}"))).collect(),
        })
        .unwrap();
        for key in [
            "int", "emb", "raw", "hs", "hb", "ls", "lb", "si", "sp", "sb", "zp", "zb",
        ] {
            round_trip(&eng, key.as_bytes());
        }
    }

    #[test]
    fn golden_cold_value() {
        let mut value = Value::from_bytes(b"v");
        value.set_access(5);
        let stored = encode(
            &Entry {
                value,
                expire_at: 7,
            },
            100,
        );
        let hex: String = stored.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "01000000050000000700000000000000640000000000000000050000".to_string() + "76"
        );
    }

    #[test]
    fn damaged_values_are_refused() {
        let eng = Engine::open(EngineConfig::default(), None);
        assert!(decode(b"", &eng).is_err());
        assert!(decode(&[9; 30], &eng).is_err());
        let e = Entry {
            value: Value::from_bytes(&[b'a'; 500]),
            expire_at: 7,
        };
        let mut stored = encode(&e, 1);
        assert_eq!(stored[3], CODEC_LZ4);
        let n = stored.len();
        stored[n - 3] ^= 0xff;
        stored.truncate(n - 1);
        assert!(decode(&stored, &eng).is_err());
        // A string header over a list body.
        let mut lie = encode(
            &Entry {
                value: Value::from_bytes(b"x"),
                expire_at: 0,
            },
            1,
        );
        lie[1] = 2;
        assert!(decode(&lie, &eng).is_err());
    }
}
