//! Crash points against the write-ahead log, in process: random writes run on an engine whose
//! effects go to a real log under `appendfsync always`; the log is then cut at a random byte
//! (what a crash leaves when the last write was torn) and recovered into a fresh engine. The
//! recovered state must be exactly the state after some prefix of the writes, and that prefix
//! must include every write that was synced before the cut point.

use std::fs;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use strata_engine::ctx::Ctx;
use strata_engine::effect::{Effect, Effects};
use strata_engine::keyspace::Ttl;
use strata_engine::types::string::{self, Cond, SetOpts};
use strata_engine::types::{hash, list, set, zset};
use strata_engine::wal::{self, Fsync, Wal};
use strata_engine::{EffectSink, Engine, EngineConfig};

struct Sink(Arc<Wal>);

impl EffectSink for Sink {
    fn append(&self, effects: &[Effect]) {
        self.0.append(effects);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Incr(u8, i8),
    Push(u8, u8),
    HSet(u8, u8, u8),
    SAdd(u8, u8),
    ZAdd(u8, i8, u8),
    Del(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        (8u8..10, any::<i8>()).prop_map(|(k, b)| Op::Incr(k, b)),
        (10u8..12, any::<u8>()).prop_map(|(k, v)| Op::Push(k, v)),
        (12u8..14, 0u8..6, any::<u8>()).prop_map(|(k, f, v)| Op::HSet(k, f, v)),
        (14u8..16, 0u8..20).prop_map(|(k, m)| Op::SAdd(k, m)),
        (16u8..18, any::<i8>(), 0u8..6).prop_map(|(k, s, m)| Op::ZAdd(k, s, m)),
        (0u8..18).prop_map(Op::Del),
    ]
}

fn run(eng: &Engine, op: &Op) {
    let mut effects = Effects::default();
    let cx = &mut Ctx::new(eng, 0, &mut effects);
    let key = |k: &u8| format!("key{k}").into_bytes();
    let b = |v: &u8| Bytes::from(format!("v{v}"));
    let _ = match op {
        Op::Set(k, v) => {
            let opts = SetOpts {
                cond: Cond::Always,
                get: false,
                ttl: Ttl::Clear,
            };
            string::set(cx, &key(k), &b(v), opts).map(|_| ())
        }
        Op::Incr(k, by) => string::incr_by(cx, &key(k), *by as i64).map(|_| ()),
        Op::Push(k, v) => list::push(cx, &key(k), &[b(v)], false, false).map(|_| ()),
        Op::HSet(k, f, v) => hash::hset(cx, &key(k), &[b(f), b(v)]).map(|_| ()),
        Op::SAdd(k, m) => set::sadd(cx, &key(k), &[b(m)]).map(|_| ()),
        Op::ZAdd(k, s, m) => {
            zset::zadd(cx, &key(k), &[(*s as f64, b(m))], Default::default()).map(|_| ())
        }
        Op::Del(k) => {
            strata_engine::keyspace::keys::del(cx, &[Bytes::from(key(k))]);
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_cut_log_recovers_a_prefix_that_keeps_every_synced_write(
        ops in proptest::collection::vec(op(), 1..60),
        cut in any::<proptest::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let w = Arc::new(Wal::open(dir.path(), "log", Fsync::Always, 0, 0, Box::new(|_| {})).unwrap());
        let eng = Engine::open(EngineConfig { databases: 1, shards: 4, ..Default::default() }, Some(Box::new(Sink(w.clone()))));
        // The state after each write, with the log's last sequence number then.
        let mut states = vec![(0u64, eng.dump())];
        for op in &ops {
            run(&eng, op);
            states.push((w.last_seq(), eng.dump()));
        }
        w.close();
        let seg = wal::segments(dir.path(), "log").unwrap().pop().unwrap().1;
        let len = fs::metadata(&seg).unwrap().len() as usize;
        // A crash keeps everything synced before it and may tear the write in flight: cut
        // anywhere from the header on.
        let at = wal::FILE_HEADER + cut.index(len - wal::FILE_HEADER + 1);
        fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(at as u64).unwrap();

        let fresh = Engine::open(EngineConfig { databases: 1, shards: 4, ..Default::default() }, None);
        let r = wal::recover(dir.path(), "log", |_, effects| {
            for e in &effects {
                fresh.apply(e).map_err(|e| e.to_string())?;
            }
            Ok(())
        }).expect("a cut log recovers");
        // The recovered state is the state right after the last recovered record.
        let want = states.iter().rev().find(|(seq, _)| *seq <= r.last_seq).unwrap();
        prop_assert_eq!(&fresh.dump(), &want.1);
        // Nothing whole was lost: every record that fits before the cut came back.
        let data = fs::read(&seg).unwrap();
        let whole = wal::scan(&data).records.len() as u64;
        prop_assert_eq!(r.records, whole);
        if at == len {
            prop_assert_eq!(r.last_seq, w.last_seq());
        }
    }
}
