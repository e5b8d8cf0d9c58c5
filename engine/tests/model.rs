//! Model-based property tests of the keyspace: random operation sequences run against the engine
//! and against a plain `BTreeMap` model must give the same replies and the same final state; and
//! replaying the effects the engine logged into a fresh engine must rebuild exactly that state
//! (the WAL's determinism invariant).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::ctx::Ctx;
use strata_engine::effect::{Effect, Effects};
use strata_engine::keyspace::keys::{self, ExpireCond, TtlKind};
use strata_engine::keyspace::Ttl;
use strata_engine::number::LongDouble;
use strata_engine::reply::Reply;
use strata_engine::types::string::{self, Cond, SetOpts};
use strata_engine::{EffectSink, Engine, EngineConfig};

const DBS: usize = 3;
/// Far in the future, so no key expires while a case runs.
const FAR: u64 = 4_102_444_800_000;

#[derive(Debug, Clone)]
enum Op {
    Set {
        db: usize,
        key: u8,
        val: Vec<u8>,
        cond: u8,
        ttl: bool,
    },
    Get {
        db: usize,
        key: u8,
    },
    Del {
        db: usize,
        key: u8,
    },
    Append {
        db: usize,
        key: u8,
        val: Vec<u8>,
    },
    IncrBy {
        db: usize,
        key: u8,
        by: i64,
    },
    IncrByFloat {
        db: usize,
        key: u8,
        by: i8,
    },
    SetRange {
        db: usize,
        key: u8,
        off: u8,
        val: Vec<u8>,
    },
    Expire {
        db: usize,
        key: u8,
        secs: u16,
    },
    Persist {
        db: usize,
        key: u8,
    },
    Rename {
        db: usize,
        a: u8,
        b: u8,
    },
    Copy {
        db: usize,
        a: u8,
        to_db: usize,
        b: u8,
        replace: bool,
    },
    Move {
        db: usize,
        key: u8,
        to_db: usize,
    },
    FlushDb {
        db: usize,
    },
    SwapDb {
        a: usize,
        b: usize,
    },
    SetBit {
        db: usize,
        key: u8,
        off: u8,
        on: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let db = 0..DBS;
    let key = 0u8..6;
    let val = proptest::collection::vec(
        prop_oneof![Just(b'1'), Just(b'x'), Just(b'0'), any::<u8>()],
        0..6,
    );
    prop_oneof![
        4 => (db.clone(), key.clone(), val.clone(), 0u8..3, any::<bool>()).prop_map(|(db, key, val, cond, ttl)| Op::Set { db, key, val, cond, ttl }),
        3 => (db.clone(), key.clone()).prop_map(|(db, key)| Op::Get { db, key }),
        2 => (db.clone(), key.clone()).prop_map(|(db, key)| Op::Del { db, key }),
        2 => (db.clone(), key.clone(), val.clone()).prop_map(|(db, key, val)| Op::Append { db, key, val }),
        2 => (db.clone(), key.clone(), prop_oneof![Just(1i64), Just(-1), Just(i64::MAX), Just(i64::MIN), any::<i64>()]).prop_map(|(db, key, by)| Op::IncrBy { db, key, by }),
        1 => (db.clone(), key.clone(), any::<i8>()).prop_map(|(db, key, by)| Op::IncrByFloat { db, key, by }),
        1 => (db.clone(), key.clone(), 0u8..10, val.clone()).prop_map(|(db, key, off, val)| Op::SetRange { db, key, off, val }),
        1 => (db.clone(), key.clone(), 1u16..1000).prop_map(|(db, key, secs)| Op::Expire { db, key, secs }),
        1 => (db.clone(), key.clone()).prop_map(|(db, key)| Op::Persist { db, key }),
        1 => (db.clone(), key.clone(), key.clone()).prop_map(|(db, a, b)| Op::Rename { db, a, b }),
        1 => (db.clone(), key.clone(), db.clone(), key.clone(), any::<bool>()).prop_map(|(db, a, to_db, b, replace)| Op::Copy { db, a, to_db, b, replace }),
        1 => (db.clone(), key.clone(), db.clone()).prop_map(|(db, key, to_db)| Op::Move { db, key, to_db }),
        1 => db.clone().prop_map(|db| Op::FlushDb { db }),
        1 => (db.clone(), db.clone()).prop_map(|(a, b)| Op::SwapDb { a, b }),
        1 => (db.clone(), key.clone(), 0u8..40, any::<bool>()).prop_map(|(db, key, off, on)| Op::SetBit { db, key, off, on }),
    ]
}

fn name(k: u8) -> Vec<u8> {
    format!("key:{k}").into_bytes()
}

/// The model: (db, key) -> (value bytes, expire_at or 0).
type Model = BTreeMap<(usize, Vec<u8>), (Vec<u8>, u64)>;

#[derive(Default)]
struct Recorder(Arc<Mutex<Vec<Effect>>>);

impl EffectSink for Recorder {
    fn append(&self, effects: &[Effect]) {
        self.0.lock().unwrap().extend_from_slice(effects);
    }
}

fn engine(sink: Option<Box<dyn EffectSink>>) -> Arc<Engine> {
    Engine::open(
        EngineConfig {
            databases: DBS,
            shards: 4,
            ..Default::default()
        },
        sink,
    )
}

fn bulk(v: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(v))
}

/// Runs one op on the engine; returns its reply.
fn run(eng: &Engine, op: &Op) -> Reply {
    let mut effects = Effects::default();
    macro_rules! cx {
        ($db:expr) => {
            &mut Ctx::new(eng, $db, &mut effects)
        };
    }
    let r: Result<Reply, strata_engine::error::CmdError> = match op {
        Op::Set {
            db,
            key,
            val,
            cond,
            ttl,
        } => {
            let cond = [Cond::Always, Cond::Nx, Cond::Xx][*cond as usize];
            let ttl = if *ttl { Ttl::At(FAR) } else { Ttl::Clear };
            string::set(
                cx!(*db),
                &name(*key),
                val,
                SetOpts {
                    cond,
                    get: false,
                    ttl,
                },
            )
        }
        Op::Get { db, key } => string::get(cx!(*db), &name(*key)),
        Op::Del { db, key } => Ok(Reply::Int(keys::del(cx!(*db), &[Bytes::from(name(*key))]))),
        Op::Append { db, key, val } => string::append(cx!(*db), &name(*key), val),
        Op::IncrBy { db, key, by } => string::incr_by(cx!(*db), &name(*key), *by),
        Op::IncrByFloat { db, key, by } => {
            let inc = LongDouble::parse(format!("{}.5", by).as_bytes()).expect("valid float");
            string::incr_by_float(cx!(*db), &name(*key), inc)
        }
        Op::SetRange { db, key, off, val } => {
            string::setrange(cx!(*db), &name(*key), *off as i64, val)
        }
        Op::Expire { db, key, secs } => Ok(Reply::Int(keys::expire(
            cx!(*db),
            &name(*key),
            FAR + *secs as u64,
            ExpireCond::default(),
        ))),
        Op::Persist { db, key } => Ok(Reply::Int(keys::persist(cx!(*db), &name(*key)))),
        Op::Rename { db, a, b } => {
            keys::rename(cx!(*db), &name(*a), &name(*b), false).map(|_| Reply::Ok)
        }
        Op::Copy {
            db,
            a,
            to_db,
            b,
            replace,
        } => keys::copy_to_db(cx!(*db), &name(*a), *to_db, &name(*b), *replace, false)
            .map(Reply::Int),
        Op::Move { db, key, to_db } => {
            if db == to_db {
                return Reply::Error(strata_engine::error::SAME_OBJECT);
            }
            keys::copy_to_db(cx!(*db), &name(*key), *to_db, &name(*key), false, true)
                .map(Reply::Int)
        }
        Op::FlushDb { db } => {
            eng.flushdb(*db, false, &mut effects);
            Ok(Reply::Ok)
        }
        Op::SwapDb { a, b } => {
            eng.swapdb(*a, *b, &mut effects);
            Ok(Reply::Ok)
        }
        Op::SetBit { db, key, off, on } => string::setbit(cx!(*db), &name(*key), *off as u64, *on),
    };
    r.unwrap_or_else(Reply::Error)
}

/// The same op on the model.
fn model_run(m: &mut Model, op: &Op) -> Reply {
    match op {
        Op::Set {
            db,
            key,
            val,
            cond,
            ttl,
        } => {
            let k = (*db, name(*key));
            let exists = m.contains_key(&k);
            if (*cond == 1 && exists) || (*cond == 2 && !exists) {
                return Reply::Nil;
            }
            m.insert(k, (val.clone(), if *ttl { FAR } else { 0 }));
            Reply::Ok
        }
        Op::Get { db, key } => m
            .get(&(*db, name(*key)))
            .map_or(Reply::Nil, |(v, _)| bulk(v)),
        Op::Del { db, key } => Reply::Int(m.remove(&(*db, name(*key))).is_some() as i64),
        Op::Append { db, key, val } => {
            let e = m.entry((*db, name(*key))).or_insert((Vec::new(), 0));
            e.0.extend_from_slice(val);
            Reply::Int(e.0.len() as i64)
        }
        Op::IncrBy { db, key, by } => {
            let k = (*db, name(*key));
            let cur = match m.get(&k) {
                None => 0,
                Some((v, _)) => match strata_engine::number::parse_i64(v) {
                    Some(i) => i,
                    None => return Reply::Error(strata_engine::error::NOT_INTEGER),
                },
            };
            let Some(new) = cur.checked_add(*by) else {
                return Reply::Error(strata_engine::error::OVERFLOW);
            };
            let ttl = m.get(&k).map_or(0, |e| e.1);
            m.insert(k, (new.to_string().into_bytes(), ttl));
            Reply::Int(new)
        }
        Op::IncrByFloat { db, key, by } => {
            let k = (*db, name(*key));
            let cur = match m.get(&k) {
                None => LongDouble::from_i64(0),
                Some((v, _)) => match LongDouble::parse(v) {
                    Some(x) => x,
                    None => return Reply::Error(strata_engine::error::NOT_FLOAT),
                },
            };
            let inc = LongDouble::parse(format!("{}.5", by).as_bytes()).expect("valid float");
            let text = (cur + inc).format_human();
            let ttl = m.get(&k).map_or(0, |e| e.1);
            m.insert(k, (text.clone().into_bytes(), ttl));
            bulk(text.as_bytes())
        }
        Op::SetRange { db, key, off, val } => {
            let k = (*db, name(*key));
            if val.is_empty() {
                return Reply::Int(m.get(&k).map_or(0, |e| e.0.len() as i64));
            }
            let e = m.entry(k).or_insert((Vec::new(), 0));
            let end = *off as usize + val.len();
            if e.0.len() < end {
                e.0.resize(end, 0);
            }
            e.0[*off as usize..end].copy_from_slice(val);
            Reply::Int(e.0.len() as i64)
        }
        Op::Expire { db, key, secs } => match m.get_mut(&(*db, name(*key))) {
            Some(e) => {
                e.1 = FAR + *secs as u64;
                Reply::Int(1)
            }
            None => Reply::Int(0),
        },
        Op::Persist { db, key } => match m.get_mut(&(*db, name(*key))) {
            Some(e) if e.1 != 0 => {
                e.1 = 0;
                Reply::Int(1)
            }
            _ => Reply::Int(0),
        },
        Op::Rename { db, a, b } => match m.remove(&(*db, name(*a))) {
            None => Reply::Error(strata_engine::error::NO_SUCH_KEY),
            Some(v) => {
                m.insert((*db, name(*b)), v);
                Reply::Ok
            }
        },
        Op::Copy {
            db,
            a,
            to_db,
            b,
            replace,
        } => {
            if db == to_db && a == b {
                return Reply::Error(strata_engine::error::SAME_OBJECT);
            }
            let Some(v) = m.get(&(*db, name(*a))).cloned() else {
                return Reply::Int(0);
            };
            let dst = (*to_db, name(*b));
            if m.contains_key(&dst) && !replace {
                return Reply::Int(0);
            }
            m.insert(dst, v);
            Reply::Int(1)
        }
        Op::Move { db, key, to_db } => {
            if db == to_db {
                return Reply::Error(strata_engine::error::SAME_OBJECT);
            }
            let src = (*db, name(*key));
            let dst = (*to_db, name(*key));
            if !m.contains_key(&src) || m.contains_key(&dst) {
                return Reply::Int(0);
            }
            let v = m.remove(&src).expect("checked");
            m.insert(dst, v);
            Reply::Int(1)
        }
        Op::FlushDb { db } => {
            m.retain(|(d, _), _| d != db);
            Reply::Ok
        }
        Op::SwapDb { a, b } => {
            let old = std::mem::take(m);
            for ((d, k), v) in old {
                let d = if d == *a {
                    *b
                } else if d == *b {
                    *a
                } else {
                    d
                };
                m.insert((d, k), v);
            }
            Reply::Ok
        }
        Op::SetBit { db, key, off, on } => {
            let e = m.entry((*db, name(*key))).or_insert((Vec::new(), 0));
            let byte = *off as usize / 8;
            if e.0.len() <= byte {
                e.0.resize(byte + 1, 0);
            }
            let mask = 0x80u8 >> (off % 8);
            let prev = (e.0[byte] & mask != 0) as i64;
            if *on {
                e.0[byte] |= mask;
            } else {
                e.0[byte] &= !mask;
            }
            Reply::Int(prev)
        }
    }
}

fn model_dump(m: &Model) -> Vec<(usize, Vec<u8>, Vec<u8>, u64)> {
    m.iter()
        .map(|((d, k), (v, t))| (*d, k.clone(), v.clone(), *t))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model_and_replay_rebuilds_state(ops in proptest::collection::vec(op(), 1..80)) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let eng = engine(Some(Box::new(Recorder(log.clone()))));
        let mut model = Model::new();
        for (i, op) in ops.iter().enumerate() {
            let got = run(&eng, op);
            let want = model_run(&mut model, op);
            prop_assert_eq!(&got, &want, "op #{} {:?}", i, op);
        }
        let state = eng.dump();
        prop_assert_eq!(&state, &model_dump(&model));

        // Replay the logged effects into a fresh engine: same state, byte for byte.
        let replica = engine(None);
        for e in log.lock().unwrap().iter() {
            replica.apply(e).expect("replays");
        }
        prop_assert_eq!(replica.dump(), state);
    }

    #[test]
    fn effects_survive_encoding(ops in proptest::collection::vec(op(), 1..40)) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let eng = engine(Some(Box::new(Recorder(log.clone()))));
        for op in &ops {
            run(&eng, op);
        }
        let mut buf = Vec::new();
        for e in log.lock().unwrap().iter() {
            strata_engine::effect::encode(e, &mut buf);
        }
        let replica = engine(None);
        let mut pos = 0;
        while pos < buf.len() {
            let (e, used) = strata_engine::effect::decode(&buf[pos..]).expect("decodes");
            replica.apply(&e).expect("replays");
            pos += used;
        }
        prop_assert_eq!(replica.dump(), eng.dump());
    }
}

/// Expired keys stay expired through replay: the log holds absolute deadlines.
#[test]
fn replay_keeps_absolute_deadlines() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let eng = engine(Some(Box::new(Recorder(log.clone()))));
    let mut effects = Effects::default();
    let now = eng.now_ms();
    string::set(
        &mut Ctx::new(&eng, 0, &mut effects),
        b"soon",
        b"v",
        SetOpts {
            cond: Cond::Always,
            get: false,
            ttl: Ttl::At(now + 30),
        },
    )
    .unwrap();
    string::set(
        &mut Ctx::new(&eng, 0, &mut effects),
        b"later",
        b"v",
        SetOpts {
            cond: Cond::Always,
            get: false,
            ttl: Ttl::At(now + 3_600_000),
        },
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    let replica = engine(None);
    for e in log.lock().unwrap().iter() {
        replica.apply(e).expect("replays");
    }
    let mut effects = Effects::default();
    assert_eq!(
        string::get(&mut Ctx::new(&replica, 0, &mut effects), b"soon").unwrap(),
        Reply::Nil
    );
    assert_eq!(
        keys::ttl(
            &mut Ctx::new(&replica, 0, &mut effects),
            b"later",
            TtlKind::AtMillis
        ),
        (now + 3_600_000) as i64
    );
}

/// A lazily expired key is logged as a deletion, like Redis propagates DEL on expiry.
#[test]
fn lazy_expiry_is_logged_as_del() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let eng = engine(Some(Box::new(Recorder(log.clone()))));
    let mut effects = Effects::default();
    let now = eng.now_ms();
    string::set(
        &mut Ctx::new(&eng, 1, &mut effects),
        b"k",
        b"v",
        SetOpts {
            cond: Cond::Always,
            get: false,
            ttl: Ttl::At(now + 20),
        },
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(40));
    assert_eq!(
        string::get(&mut Ctx::new(&eng, 1, &mut effects), b"k").unwrap(),
        Reply::Nil
    );
    let log = log.lock().unwrap();
    assert_eq!(
        log.last(),
        Some(&Effect::Del {
            db: 1,
            key: b"k".to_vec()
        })
    );
}

/// Replay refuses an effect naming a database the engine does not have, instead of merging it
/// into another one.
#[test]
fn replay_refuses_unknown_databases() {
    let eng = engine(None);
    assert!(eng
        .apply(&Effect::Set {
            db: 7,
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expire_at: 0,
            keep_ttl: false
        })
        .is_err());
    assert!(eng.apply(&Effect::SwapDb { a: 0, b: 99 }).is_err());
    assert!(eng.dump().is_empty());
    assert!(eng
        .apply(&Effect::Set {
            db: 2,
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expire_at: 0,
            keep_ttl: false
        })
        .is_ok());
    assert_eq!(eng.dump().len(), 1);
}

/// Writes that replace a value in place (INCR, BITFIELD, PFADD) keep the key's access clock
/// current, so LRU eviction does not mistake a busy counter for an idle key.
#[test]
fn in_place_writes_keep_the_access_clock() {
    let eng = engine(None);
    let mut effects = Effects::default();
    string::incr_by(&mut Ctx::new(&eng, 0, &mut effects), b"counter", 1).unwrap();
    string::incr_by(&mut Ctx::new(&eng, 0, &mut effects), b"counter", 1).unwrap();
    string::append(&mut Ctx::new(&eng, 0, &mut effects), b"counter", b"0").unwrap();
    let idle = keys::object(
        &mut Ctx::new(&eng, 0, &mut effects),
        b"counter",
        keys::ObjectField::IdleTime,
    )
    .unwrap();
    assert!(matches!(idle, Reply::Int(0..=1)), "{idle:?}");
    let enc = keys::object(
        &mut Ctx::new(&eng, 0, &mut effects),
        b"counter",
        keys::ObjectField::Encoding,
    )
    .unwrap();
    assert_eq!(enc, Reply::Bulk(Bytes::from_static(b"raw")));
}
