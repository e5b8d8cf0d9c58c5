//! Model-based property tests of the collection types: random hash, list, set and sorted-set
//! operations run against the engine and against plain std collections must give the same
//! replies and the same final state, while tiny encoding thresholds push values back and forth
//! between their packed and large forms; and the logged effects, encoded and decoded, must
//! replay into a fresh engine to exactly that state (the WAL's determinism invariant), also
//! for SPOP, whose choice is random.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::ctx::Ctx;
use strata_engine::effect::{self, Effect, Effects};
use strata_engine::error::{self, CmdError};
use strata_engine::reply::Reply;
use strata_engine::types::zset::{AddFlags, Range, ScoreBound};
use strata_engine::types::{hash, list, set, zset};
use strata_engine::{EffectSink, Engine, EngineConfig};

#[derive(Debug, Clone)]
enum Op {
    HSet(u8, Vec<(u8, u8)>),
    HDel(u8, Vec<u8>),
    HGet(u8, u8),
    HLen(u8),
    HIncrBy(u8, u8, i8),
    Push(u8, bool, Vec<u8>),
    Pop(u8, bool, u8),
    LRange(u8, i8, i8),
    LSet(u8, i8, u8),
    LRem(u8, i8, u8),
    LInsert(u8, bool, u8, u8),
    LTrim(u8, i8, i8),
    LMove(u8, u8, bool, bool),
    SAdd(u8, Vec<u8>),
    SRem(u8, Vec<u8>),
    SCard(u8),
    SPop(u8, u8),
    ZAdd(u8, Vec<(i8, u8)>),
    ZRem(u8, Vec<u8>),
    ZIncrBy(u8, i8, u8),
    ZRange(u8),
    ZPopMin(u8, u8),
    ZRemRangeByScore(u8, i8, i8),
    ZRank(u8, u8),
}

/// Element pool: small integers (intset-friendly), short words, and a long one that is over
/// the tiny value limits below.
fn elem(i: u8) -> Vec<u8> {
    match i % 12 {
        0..=4 => (i % 12).to_string().into_bytes(),
        5..=10 => format!("e{}", i % 12).into_bytes(),
        _ => b"a-rather-long-element".to_vec(),
    }
}

fn key(k: u8) -> Vec<u8> {
    format!("k{}", k % 6).into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..6;
    let e = 0u8..12;
    let es = proptest::collection::vec(0u8..12, 1..5);
    prop_oneof![
        (
            k.clone(),
            proptest::collection::vec((0u8..12, 0u8..12), 1..4)
        )
            .prop_map(|(k, p)| Op::HSet(k, p)),
        (k.clone(), es.clone()).prop_map(|(k, f)| Op::HDel(k, f)),
        (k.clone(), e.clone()).prop_map(|(k, f)| Op::HGet(k, f)),
        k.clone().prop_map(Op::HLen),
        (k.clone(), e.clone(), any::<i8>()).prop_map(|(k, f, b)| Op::HIncrBy(k, f, b)),
        (k.clone(), any::<bool>(), es.clone()).prop_map(|(k, l, v)| Op::Push(k, l, v)),
        (k.clone(), any::<bool>(), 0u8..4).prop_map(|(k, l, n)| Op::Pop(k, l, n)),
        (k.clone(), -6i8..6, -6i8..6).prop_map(|(k, s, e)| Op::LRange(k, s, e)),
        (k.clone(), -6i8..6, e.clone()).prop_map(|(k, i, v)| Op::LSet(k, i, v)),
        (k.clone(), -2i8..3, e.clone()).prop_map(|(k, n, v)| Op::LRem(k, n, v)),
        (k.clone(), any::<bool>(), e.clone(), e.clone())
            .prop_map(|(k, b, p, v)| Op::LInsert(k, b, p, v)),
        (k.clone(), -6i8..6, -6i8..6).prop_map(|(k, s, e)| Op::LTrim(k, s, e)),
        (k.clone(), k.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(a, b, f, t)| Op::LMove(a, b, f, t)),
        (k.clone(), es.clone()).prop_map(|(k, m)| Op::SAdd(k, m)),
        (k.clone(), es.clone()).prop_map(|(k, m)| Op::SRem(k, m)),
        k.clone().prop_map(Op::SCard),
        (k.clone(), 0u8..4).prop_map(|(k, n)| Op::SPop(k, n)),
        (
            k.clone(),
            proptest::collection::vec((-3i8..4, 0u8..12), 1..4)
        )
            .prop_map(|(k, p)| Op::ZAdd(k, p)),
        (k.clone(), es).prop_map(|(k, m)| Op::ZRem(k, m)),
        (k.clone(), -3i8..4, e.clone()).prop_map(|(k, b, m)| Op::ZIncrBy(k, b, m)),
        k.clone().prop_map(Op::ZRange),
        (k.clone(), 0u8..4).prop_map(|(k, n)| Op::ZPopMin(k, n)),
        (k.clone(), -3i8..4, -3i8..4).prop_map(|(k, a, b)| Op::ZRemRangeByScore(k, a, b)),
        (k, e).prop_map(|(k, m)| Op::ZRank(k, m)),
    ]
}

// ------------------------------------------------------------------ the model

#[derive(Debug, Clone, PartialEq)]
enum MVal {
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, f64>),
}

type Model = BTreeMap<Vec<u8>, MVal>;

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

fn zorder(z: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

/// Redis's inclusive range normalization.
fn range(s: i64, e: i64, n: usize) -> Option<(usize, usize)> {
    let n = n as i64;
    let s = if s < 0 { (n + s).max(0) } else { s };
    let e = if e < 0 { n + e } else { e.min(n - 1) };
    (s <= e && s < n).then_some((s as usize, e as usize))
}

fn wrong() -> Reply {
    Reply::Error(error::WRONGTYPE)
}

/// Runs an op on the model. SPOP's reply comes from the engine (its choice is random); the
/// model checks it is a valid choice and applies it.
fn model_run(m: &mut Model, op: &Op, engine_reply: &Reply) -> Reply {
    macro_rules! get {
        ($k:expr, $variant:ident, $new:expr) => {{
            match m.get(&$k) {
                Some(MVal::$variant(_)) | None => {}
                Some(_) => return wrong(),
            }
            match m.entry($k.clone()).or_insert_with(|| MVal::$variant($new)) {
                MVal::$variant(v) => v,
                _ => unreachable!(),
            }
        }};
    }
    macro_rules! peek {
        ($k:expr, $variant:ident) => {{
            match m.get(&$k) {
                Some(MVal::$variant(v)) => Some(v),
                None => None,
                Some(_) => return wrong(),
            }
        }};
    }
    let r = match op {
        Op::HSet(k, pairs) => {
            let h = get!(key(*k), Hash, BTreeMap::new());
            let mut n = 0;
            for (f, v) in pairs {
                if h.insert(elem(*f), elem(*v)).is_none() {
                    n += 1;
                }
            }
            Reply::Int(n)
        }
        Op::HDel(k, fs) => match peek!(key(*k), Hash) {
            None => Reply::Int(0),
            Some(_) => {
                let h = get!(key(*k), Hash, BTreeMap::new());
                let mut n = 0;
                for f in fs {
                    if h.remove(&elem(*f)).is_some() {
                        n += 1;
                    }
                }
                Reply::Int(n)
            }
        },
        Op::HGet(k, f) => peek!(key(*k), Hash)
            .and_then(|h| h.get(&elem(*f)))
            .map_or(Reply::Nil, |v| bulk(v)),
        Op::HLen(k) => Reply::Int(peek!(key(*k), Hash).map_or(0, |h| h.len()) as i64),
        Op::HIncrBy(k, f, by) => {
            let cur = match peek!(key(*k), Hash).and_then(|h| h.get(&elem(*f))) {
                None => 0,
                Some(v) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(i) if i.to_string().as_bytes() == &v[..] => i,
                    _ => return Reply::Error(error::HASH_NOT_INTEGER),
                },
            };
            let new = cur + *by as i64;
            let h = get!(key(*k), Hash, BTreeMap::new());
            h.insert(elem(*f), new.to_string().into_bytes());
            Reply::Int(new)
        }
        Op::Push(k, left, vs) => {
            let l = get!(key(*k), List, VecDeque::new());
            for v in vs {
                if *left {
                    l.push_front(elem(*v));
                } else {
                    l.push_back(elem(*v));
                }
            }
            Reply::Int(l.len() as i64)
        }
        Op::Pop(k, left, n) => match peek!(key(*k), List) {
            None => Reply::NilArray,
            Some(_) if *n == 0 => Reply::Array(vec![]),
            Some(_) => {
                let l = get!(key(*k), List, VecDeque::new());
                let mut out = vec![];
                for _ in 0..*n {
                    let e = if *left { l.pop_front() } else { l.pop_back() };
                    match e {
                        Some(e) => out.push(bulk(&e)),
                        None => break,
                    }
                }
                Reply::Array(out)
            }
        },
        Op::LRange(k, s, e) => {
            let l = peek!(key(*k), List);
            match l.and_then(|l| range(*s as i64, *e as i64, l.len()).map(|r| (l, r))) {
                None => Reply::Array(vec![]),
                Some((l, (s, e))) => Reply::bulk_array(l.range(s..=e).map(|x| &x[..])),
            }
        }
        Op::LSet(k, i, v) => match peek!(key(*k), List) {
            None => Reply::Error(error::NO_SUCH_KEY),
            Some(l) => {
                let n = l.len() as i64;
                let i = if *i < 0 { n + *i as i64 } else { *i as i64 };
                if i < 0 || i >= n {
                    Reply::Error(error::INDEX_OUT_OF_RANGE)
                } else {
                    get!(key(*k), List, VecDeque::new())[i as usize] = elem(*v);
                    Reply::Ok
                }
            }
        },
        Op::LRem(k, n, v) => match peek!(key(*k), List) {
            None => Reply::Int(0),
            Some(_) => {
                let l = get!(key(*k), List, VecDeque::new());
                let v = elem(*v);
                let limit = if *n == 0 {
                    usize::MAX
                } else {
                    n.unsigned_abs() as usize
                };
                let idx: Vec<usize> = if *n >= 0 {
                    (0..l.len()).filter(|&i| l[i] == v).take(limit).collect()
                } else {
                    (0..l.len())
                        .rev()
                        .filter(|&i| l[i] == v)
                        .take(limit)
                        .collect()
                };
                let mut sorted = idx.clone();
                sorted.sort_unstable();
                for i in sorted.iter().rev() {
                    l.remove(*i);
                }
                Reply::Int(idx.len() as i64)
            }
        },
        Op::LInsert(k, before, p, v) => match peek!(key(*k), List) {
            None => Reply::Int(0),
            Some(l) => match l.iter().position(|x| *x == elem(*p)) {
                None => Reply::Int(-1),
                Some(at) => {
                    let l = get!(key(*k), List, VecDeque::new());
                    l.insert(if *before { at } else { at + 1 }, elem(*v));
                    Reply::Int(l.len() as i64)
                }
            },
        },
        Op::LTrim(k, s, e) => {
            if let Some(l) = peek!(key(*k), List) {
                let kept: VecDeque<Vec<u8>> = match range(*s as i64, *e as i64, l.len()) {
                    None => VecDeque::new(),
                    Some((s, e)) => l.range(s..=e).cloned().collect(),
                };
                m.insert(key(*k), MVal::List(kept));
            }
            Reply::Ok
        }
        Op::LMove(a, b, from_left, to_left) => {
            let src = peek!(key(*a), List).cloned();
            let Some(mut src) = src else {
                return Reply::Nil;
            };
            peek!(key(*b), List);
            let e = if *from_left {
                src.pop_front()
            } else {
                src.pop_back()
            }
            .unwrap();
            m.insert(key(*a), MVal::List(src));
            let d = get!(key(*b), List, VecDeque::new());
            if *to_left {
                d.push_front(e.clone());
            } else {
                d.push_back(e.clone());
            }
            bulk(&e)
        }
        Op::SAdd(k, ms) => {
            let s = get!(key(*k), Set, BTreeSet::new());
            Reply::Int(ms.iter().filter(|x| s.insert(elem(**x))).count() as i64)
        }
        Op::SRem(k, ms) => match peek!(key(*k), Set) {
            None => Reply::Int(0),
            Some(_) => {
                let s = get!(key(*k), Set, BTreeSet::new());
                Reply::Int(ms.iter().filter(|x| s.remove(&elem(**x))).count() as i64)
            }
        },
        Op::SCard(k) => Reply::Int(peek!(key(*k), Set).map_or(0, |s| s.len()) as i64),
        Op::SPop(k, n) => match peek!(key(*k), Set) {
            None => Reply::Set(vec![]),
            Some(s) => {
                let want = (*n as usize).min(s.len());
                let Reply::Set(got) = engine_reply else {
                    return Reply::Error(CmdError::new("ERR engine did not answer a set"));
                };
                let mut s = s.clone();
                for g in got {
                    let Reply::Bulk(b) = g else {
                        return Reply::Error(CmdError::new("ERR not a bulk"));
                    };
                    if !s.remove(&b[..]) {
                        return Reply::Error(CmdError::new("ERR popped a non-member"));
                    }
                }
                if got.len() != want {
                    return Reply::Error(CmdError::new("ERR popped the wrong number"));
                }
                m.insert(key(*k), MVal::Set(s));
                engine_reply.clone()
            }
        },
        Op::ZAdd(k, pairs) => {
            let z = get!(key(*k), ZSet, BTreeMap::new());
            let mut n = 0;
            for (s, mbr) in pairs {
                if z.insert(elem(*mbr), *s as f64).is_none() {
                    n += 1;
                }
            }
            Reply::Int(n)
        }
        Op::ZRem(k, ms) => match peek!(key(*k), ZSet) {
            None => Reply::Int(0),
            Some(_) => {
                let z = get!(key(*k), ZSet, BTreeMap::new());
                Reply::Int(ms.iter().filter(|x| z.remove(&elem(**x)).is_some()).count() as i64)
            }
        },
        Op::ZIncrBy(k, by, mbr) => {
            let z = get!(key(*k), ZSet, BTreeMap::new());
            let s = z.entry(elem(*mbr)).or_insert(0.0);
            *s += *by as f64;
            Reply::Double(*s)
        }
        Op::ZRange(k) => match peek!(key(*k), ZSet) {
            None => Reply::Array(vec![]),
            Some(z) => Reply::Pairs(
                zorder(z)
                    .into_iter()
                    .map(|(m, s)| (bulk(&m), Reply::Double(s)))
                    .collect(),
            ),
        },
        Op::ZPopMin(k, n) => match peek!(key(*k), ZSet) {
            None => Reply::Array(vec![]),
            Some(z) => {
                let popped: Vec<(Vec<u8>, f64)> = zorder(z).into_iter().take(*n as usize).collect();
                let z = get!(key(*k), ZSet, BTreeMap::new());
                for (m, _) in &popped {
                    z.remove(m);
                }
                Reply::Pairs(
                    popped
                        .iter()
                        .map(|(m, s)| (bulk(m), Reply::Double(*s)))
                        .collect(),
                )
            }
        },
        Op::ZRemRangeByScore(k, a, b) => match peek!(key(*k), ZSet) {
            None => Reply::Int(0),
            Some(_) => {
                let z = get!(key(*k), ZSet, BTreeMap::new());
                let before = z.len();
                z.retain(|_, s| !(*s >= *a as f64 && *s <= *b as f64));
                Reply::Int((before - z.len()) as i64)
            }
        },
        Op::ZRank(k, mbr) => match peek!(key(*k), ZSet) {
            None => Reply::Nil,
            Some(z) => zorder(z)
                .iter()
                .position(|(m, _)| *m == elem(*mbr))
                .map_or(Reply::Nil, |i| Reply::Int(i as i64)),
        },
    };
    // Redis deletes a collection when its last element goes.
    m.retain(|_, v| match v {
        MVal::Hash(h) => !h.is_empty(),
        MVal::List(l) => !l.is_empty(),
        MVal::Set(s) => !s.is_empty(),
        MVal::ZSet(z) => !z.is_empty(),
    });
    r
}

// ------------------------------------------------------------------ the engine

#[derive(Default)]
struct Recorder(Arc<Mutex<Vec<Effect>>>);

impl EffectSink for Recorder {
    fn append(&self, effects: &[Effect]) {
        self.0.lock().unwrap().extend_from_slice(effects);
    }
}

/// An engine with tiny encoding thresholds, so a few elements cross them both ways.
fn engine(sink: Option<Box<dyn EffectSink>>) -> Arc<Engine> {
    let eng = Engine::open(
        EngineConfig {
            databases: 1,
            shards: 4,
            ..Default::default()
        },
        sink,
    );
    let c = &eng.config;
    c.hash_max_listpack_entries.store(3, Ordering::Relaxed);
    c.hash_max_listpack_value.store(8, Ordering::Relaxed);
    c.set_max_intset_entries.store(3, Ordering::Relaxed);
    c.set_max_listpack_entries.store(3, Ordering::Relaxed);
    c.set_max_listpack_value.store(8, Ordering::Relaxed);
    c.zset_max_listpack_entries.store(3, Ordering::Relaxed);
    c.zset_max_listpack_value.store(8, Ordering::Relaxed);
    c.list_max_listpack_size.store(3, Ordering::Relaxed);
    eng
}

fn bytes_of(v: &[u8]) -> Vec<Bytes> {
    v.iter().map(|e| Bytes::from(elem(*e))).collect()
}

fn run(eng: &Engine, op: &Op) -> Reply {
    let mut effects = Effects::default();
    let cx = &mut Ctx::new(eng, 0, &mut effects);
    let int = |r: Result<i64, CmdError>| r.map(Reply::Int);
    let r = match op {
        Op::HSet(k, pairs) => {
            let args: Vec<Bytes> = pairs
                .iter()
                .flat_map(|(f, v)| [Bytes::from(elem(*f)), Bytes::from(elem(*v))])
                .collect();
            int(hash::hset(cx, &key(*k), &args))
        }
        Op::HDel(k, fs) => int(hash::hdel(cx, &key(*k), &bytes_of(fs))),
        Op::HGet(k, f) => hash::hget(cx, &key(*k), &elem(*f)),
        Op::HLen(k) => int(hash::hlen(cx, &key(*k))),
        Op::HIncrBy(k, f, by) => int(hash::hincrby(cx, &key(*k), &elem(*f), *by as i64)),
        Op::Push(k, left, vs) => int(list::push(cx, &key(*k), &bytes_of(vs), *left, false)),
        Op::Pop(k, left, n) => list::pop(cx, &key(*k), *left, Some(*n as usize)),
        Op::LRange(k, s, e) => list::lrange(cx, &key(*k), *s as i64, *e as i64),
        Op::LSet(k, i, v) => list::lset(cx, &key(*k), *i as i64, &elem(*v)),
        Op::LRem(k, n, v) => int(list::lrem(cx, &key(*k), *n as i64, &elem(*v))),
        Op::LInsert(k, b, p, v) => int(list::linsert(cx, &key(*k), *b, &elem(*p), &elem(*v))),
        Op::LTrim(k, s, e) => list::ltrim(cx, &key(*k), *s as i64, *e as i64),
        Op::LMove(a, b, f, t) => list::lmove(cx, &key(*a), &key(*b), *f, *t),
        Op::SAdd(k, ms) => int(set::sadd(cx, &key(*k), &bytes_of(ms))),
        Op::SRem(k, ms) => int(set::srem(cx, &key(*k), &bytes_of(ms))),
        Op::SCard(k) => int(set::scard(cx, &key(*k))),
        Op::SPop(k, n) => set::spop(cx, &key(*k), Some(*n as usize)),
        Op::ZAdd(k, pairs) => {
            let p: Vec<(f64, Bytes)> = pairs
                .iter()
                .map(|(s, m)| (*s as f64, Bytes::from(elem(*m))))
                .collect();
            zset::zadd(cx, &key(*k), &p, AddFlags::default())
        }
        Op::ZRem(k, ms) => int(zset::zrem(cx, &key(*k), &bytes_of(ms))),
        Op::ZIncrBy(k, by, m) => {
            let f = AddFlags {
                incr: true,
                ..Default::default()
            };
            zset::zadd(cx, &key(*k), &[(*by as f64, Bytes::from(elem(*m)))], f)
        }
        Op::ZRange(k) => zset::zrange(cx, &key(*k), &Range::Rank(0, -1), false, None, true),
        Op::ZPopMin(k, n) => zset::zpop(cx, &key(*k), false, Some(*n as usize)),
        Op::ZRemRangeByScore(k, a, b) => int(zset::zremrange(
            cx,
            &key(*k),
            &Range::Score(
                ScoreBound {
                    v: *a as f64,
                    ex: false,
                },
                ScoreBound {
                    v: *b as f64,
                    ex: false,
                },
            ),
        )),
        Op::ZRank(k, m) => zset::zrank(cx, &key(*k), &elem(*m), false, false),
    };
    r.unwrap_or_else(Reply::Error)
}

/// The model's state in the engine's dump form (see `Value::canonical`).
fn model_dump(m: &Model) -> Vec<(usize, Vec<u8>, Vec<u8>, u64)> {
    m.iter()
        .map(|(k, v)| {
            let mut out = vec![0xff];
            let mut put = |b: &[u8]| {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            };
            let kind = match v {
                MVal::Hash(h) => {
                    for (f, x) in h {
                        put(f);
                        put(x);
                    }
                    1
                }
                MVal::List(l) => {
                    for e in l {
                        put(e);
                    }
                    2
                }
                MVal::Set(s) => {
                    for e in s {
                        put(e);
                    }
                    3
                }
                MVal::ZSet(z) => {
                    for (mbr, s) in zorder(z) {
                        put(&mbr);
                        put(&s.to_bits().to_le_bytes());
                    }
                    4
                }
            };
            out.insert(1, kind);
            (0, k.clone(), out, 0)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn collections_match_model_and_replay_rebuilds_state(ops in proptest::collection::vec(op(), 1..120)) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let eng = engine(Some(Box::new(Recorder(log.clone()))));
        let mut model = Model::new();
        for (i, op) in ops.iter().enumerate() {
            let got = run(&eng, op);
            let want = model_run(&mut model, op, &got);
            prop_assert_eq!(&got, &want, "op #{} {:?}", i, op);
        }
        let state = eng.dump();
        prop_assert_eq!(&state, &model_dump(&model));

        // Encode every effect as the WAL will, decode it, and replay into a fresh engine.
        let replica = engine(None);
        for e in log.lock().unwrap().iter() {
            let mut buf = Vec::new();
            effect::encode(e, &mut buf);
            let (d, used) = effect::decode(&buf).expect("decodes");
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(&d, e);
            replica.apply(&d).expect("replays");
        }
        prop_assert_eq!(replica.dump(), state);
    }
}
