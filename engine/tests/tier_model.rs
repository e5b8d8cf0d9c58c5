//! Model-based property test of the cold tier: random writes are applied to two engines, one
//! all in RAM (the model) and one with a cold tier, while keys of the second are spilled,
//! faulted in and read through at random. Both must always hold the same dataset, whatever
//! tier each key is in: the same values and expiries, DBSIZE, KEYS, a full SCAN, RANDOMKEY
//! membership, and a snapshot that loads back to the same state.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use strata_engine::effect::{Effect, Effects};
use strata_engine::tier::Tier;
use strata_engine::{Engine, EngineConfig};

const DBS: usize = 2;
const FAR: u64 = 4_102_444_800_000;

#[derive(Debug, Clone)]
enum Op {
    Write(Effect),
    SpillKey(usize, u8),
    SpillAll,
    Read(usize, u8),
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn write() -> impl Strategy<Value = Effect> {
    let db = 0..DBS as u32;
    let k = 0u8..6;
    let small = proptest::collection::vec(any::<u8>(), 0..6);
    prop_oneof![
        (db.clone(), k.clone(), small.clone(), any::<bool>()).prop_map(|(db, k, v, ttl)| {
            Effect::Set {
                db,
                key: key(k),
                value: v,
                expire_at: if ttl { FAR } else { 0 },
                keep_ttl: false,
            }
        }),
        (db.clone(), k.clone(), small.clone()).prop_map(|(db, k, v)| Effect::Append {
            db,
            key: key(k),
            data: v
        }),
        (db.clone(), k.clone()).prop_map(|(db, k)| Effect::Del { db, key: key(k) }),
        (db.clone(), k.clone()).prop_map(|(db, k)| Effect::Expire {
            db,
            key: key(k),
            at: FAR - 1
        }),
        (db.clone(), k.clone()).prop_map(|(db, k)| Effect::Persist { db, key: key(k) }),
        // Collections: a few elements (listpack) or many (the large encodings).
        (db.clone(), k.clone(), 1usize..300).prop_map(|(db, k, n)| Effect::HSet {
            db,
            key: key(k),
            pairs: (0..n)
                .map(|i| (format!("f{i}").into_bytes(), b"v".to_vec()))
                .collect()
        }),
        (db.clone(), k.clone(), 1usize..300, any::<bool>()).prop_map(|(db, k, n, left)| {
            Effect::ListPush {
                db,
                key: key(k),
                left,
                elems: (0..n).map(|i| format!("e{i}").into_bytes()).collect(),
            }
        }),
        (db.clone(), k.clone(), 1usize..300).prop_map(|(db, k, n)| Effect::SAdd {
            db,
            key: key(k),
            members: (0..n).map(|i| format!("{}", i * 7).into_bytes()).collect()
        }),
        (db.clone(), k.clone(), 1usize..200).prop_map(|(db, k, n)| Effect::ZAdd {
            db,
            key: key(k),
            pairs: (0..n)
                .map(|i| (format!("m{i}").into_bytes(), i as f64))
                .collect()
        }),
        (db.clone(), k.clone(), k.clone()).prop_map(|(db, a, b)| Effect::Rename {
            db,
            src: key(a),
            dst: key(b)
        }),
        (db.clone(), k.clone(), db.clone(), k.clone(), any::<bool>()).prop_map(
            |(src_db, a, dst_db, b, replace)| Effect::Copy {
                src_db,
                src: key(a),
                dst_db,
                dst: key(b),
                replace
            }
        ),
        (db.clone(), k.clone()).prop_map(|(db, k)| Effect::Move {
            db,
            key: key(k),
            dst_db: (db + 1) % DBS as u32
        }),
        db.clone().prop_map(|db| Effect::FlushDb { db }),
        Just(Effect::SwapDb { a: 0, b: 1 }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => write().prop_map(Op::Write),
        3 => (0..DBS, 0u8..6).prop_map(|(db, k)| Op::SpillKey(db, k)),
        1 => Just(Op::SpillAll),
        3 => (0..DBS, 0u8..6).prop_map(|(db, k)| Op::Read(db, k)),
    ]
}

fn engines(dir: &std::path::Path) -> (Arc<Engine>, Arc<Engine>) {
    let config = || EngineConfig {
        databases: DBS,
        shards: 2,
        ..Default::default()
    };
    let plain = Engine::open(config(), None);
    let tier = Arc::new(Tier::open(&dir.join("cold"), 8 << 20, 1024).unwrap());
    let tiered = Engine::open(
        EngineConfig {
            tier: Some(tier),
            ..config()
        },
        None,
    );
    (plain, tiered)
}

fn scan_all(eng: &Engine, db: usize) -> BTreeSet<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    for _ in 0..10_000 {
        let (next, keys) = eng.scan(db, cursor, 3, None, None);
        seen.extend(keys.iter().map(|k| k.to_vec()));
        cursor = next;
        if cursor == 0 {
            return seen;
        }
    }
    panic!("SCAN did not return to cursor 0");
}

fn same_state(plain: &Engine, tiered: &Engine) {
    assert_eq!(plain.dump(), tiered.dump());
    for db in 0..DBS {
        assert_eq!(plain.dbsize(db), tiered.dbsize(db), "DBSIZE of db {db}");
        let mut a: Vec<_> = plain.keys(db, b"*").into_iter().collect();
        let mut b: Vec<_> = tiered.keys(db, b"*").into_iter().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "KEYS of db {db}");
        let all: BTreeSet<Vec<u8>> = a.iter().map(|k| k.to_vec()).collect();
        assert_eq!(scan_all(tiered, db), all, "SCAN of db {db}");
        match tiered.random_key(db) {
            Some(k) => assert!(all.contains(k.as_ref())),
            None => assert!(all.is_empty()),
        }
        let info = tiered.db_info(db);
        assert_eq!(info.keys, plain.db_info(db).keys);
        assert_eq!(info.expires, plain.db_info(db).expires);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn both_tiers_together_hold_what_ram_alone_would(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let (plain, tiered) = engines(dir.path());
        for (i, op) in ops.iter().enumerate() {
            if i % 8 == 7 {
                same_state(&plain, &tiered);
            }
            match op {
                Op::Write(e) => {
                    plain.apply(e).unwrap();
                    tiered.apply(e).unwrap();
                }
                Op::SpillKey(db, k) => {
                    tiered.spill_key(*db, &key(*k));
                }
                Op::SpillAll => {
                    tiered.spill_all();
                }
                Op::Read(db, k) => {
                    let k = key(*k);
                    let mut fx = Effects::default();
                    let mut g = tiered.lock(*db, &[&k], &mut fx);
                    let _ = g.get(&k);
                }
            }
        }
        same_state(&plain, &tiered);
        let (hot, cold) = tiered.tier_keys();
        prop_assert_eq!(hot + cold, (0..DBS).map(|d| plain.dbsize(d)).sum::<usize>());
        // A snapshot of both tiers loads back to the same dataset.
        let path = dir.path().join("snap");
        strata_engine::snapshot::save(&tiered, &path, 1).unwrap();
        let loaded = Engine::open(EngineConfig { databases: DBS, shards: 2, ..Default::default() }, None);
        strata_engine::snapshot::load(&loaded, &path).unwrap();
        prop_assert_eq!(loaded.dump(), plain.dump());
    }
}

#[test]
fn a_spilled_key_reads_back_and_a_read_through_leaves_it_cold_under_pressure() {
    let dir = tempfile::tempdir().unwrap();
    let (_, eng) = engines(dir.path());
    let set = |k: &str, v: &str| {
        eng.apply(&Effect::Set {
            db: 0,
            key: k.into(),
            value: v.into(),
            expire_at: 0,
            keep_ttl: false,
        })
        .unwrap()
    };
    set("a", "1");
    assert!(eng.spill_key(0, b"a"));
    assert!(!eng.spill_key(0, b"a"), "already cold");
    assert_eq!(eng.tier_keys(), (0, 1));
    // Keys in RAM, each asked for a few times.
    for i in 0..40 {
        let k = format!("h{i}");
        set(&k, "v");
        for _ in 0..5 {
            let mut fx = Effects::default();
            let mut g = eng.lock(0, &[k.as_bytes()], &mut fx);
            assert!(g.get(k.as_bytes()).is_some());
        }
    }
    assert_eq!(eng.tier_keys(), (40, 1));
    assert_eq!(eng.dbsize(0), 41);
    let t = eng.tier.clone().unwrap();
    // Under pressure, a key asked for once does not beat the keys already in RAM.
    t.pressure.store(true, std::sync::atomic::Ordering::Relaxed);
    {
        let mut fx = Effects::default();
        let mut g = eng.lock(0, &[b"a"], &mut fx);
        assert_eq!(
            g.get(b"a")
                .and_then(|e| e.value.string_bytes().map(|b| b.to_vec())),
            Some(b"1".to_vec())
        );
    }
    assert_eq!(
        eng.tier_keys(),
        (40, 1),
        "a read-through leaves the key cold"
    );
    // Asked for often, it earns its place.
    for _ in 0..20 {
        let mut fx = Effects::default();
        let mut g = eng.lock(0, &[b"a"], &mut fx);
        assert!(g.get(b"a").is_some());
    }
    assert_eq!(eng.tier_keys(), (41, 0));
    assert!(
        t.stats
            .admission_rejects
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // A promoted key is a clean shadow: spilling it again writes nothing.
    let spills = t.stats.spills.load(std::sync::atomic::Ordering::Relaxed);
    assert!(eng.spill_key(0, b"a"));
    assert_eq!(
        t.stats.spills.load(std::sync::atomic::Ordering::Relaxed),
        spills
    );
    // A write deletes the cold copy first, so a later spill writes the new value.
    {
        let mut fx = Effects::default();
        let mut g = eng.lock(0, &[b"a"], &mut fx);
        g.modify(b"a", |v| {
            *v = strata_engine::types::Value::from_bytes(b"new")
        });
    }
    assert!(eng.spill_key(0, b"a"));
    let mut fx = Effects::default();
    let mut g = eng.lock(0, &[b"a"], &mut fx);
    assert_eq!(
        g.get(b"a")
            .and_then(|e| e.value.string_bytes().map(|b| b.to_vec())),
        Some(b"new".to_vec())
    );
}

/// Sets `k` of database 0 to "v", as a replayed write.
fn set_v(eng: &Engine, k: &str) {
    eng.apply(&Effect::Set {
        db: 0,
        key: k.into(),
        value: "v".into(),
        expire_at: 0,
        keep_ttl: false,
    })
    .unwrap()
}

/// Reads `k` of database 0 as a command would (faulting it in if cold); it must exist.
fn read_present(eng: &Engine, k: &str) {
    let mut fx = Effects::default();
    let mut g = eng.lock(0, &[k.as_bytes()], &mut fx);
    assert!(g.get(k.as_bytes()).is_some());
}

/// `k`'s hash in its table, what the admission sketch counts it under. Locking a cold key
/// faults it in: hash keys while they are hot.
fn key_hash(eng: &Engine, k: &str) -> u64 {
    let mut fx = Effects::default();
    let h = eng.lock(0, &[k.as_bytes()], &mut fx).hash_of(k.as_bytes());
    h
}

/// Under pressure a faulted key is compared with the last key eviction spilled: it stays
/// in RAM only if the sketch counts it more often than that victim.
#[test]
fn admission_compares_a_faulted_key_with_the_last_victim_spilled() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let (_, eng) = engines(dir.path());
    let t = tier_of(&eng);
    let set = |k: &str| set_v(&eng, k);
    let read = |k: &str| read_present(&eng, k);
    let hash = |k: &str| key_hash(&eng, k);
    set("a");
    assert!(eng.spill_key(0, b"a"));
    let hot: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
    for k in &hot {
        set(k);
        for _ in 0..5 {
            read(k);
        }
    }
    // Hashed now: locking a cold key would fault it in.
    let hashes: Vec<u64> = hot.iter().map(|k| hash(k)).collect();
    let nobody = hash("nobody");
    assert_eq!(
        t.last_victim(),
        None,
        "a spill by hand is not eviction's choice"
    );
    t.pressure.store(true, Relaxed);
    assert!(eng.evict_one());
    let (hot_now, _) = eng.tier_keys();
    assert!(hot_now < 40, "eviction spilled some keys");
    let victim = t.last_victim().expect("eviction notes its victim");
    assert!(hashes.contains(&victim));
    // Read once, `a` is less frequent than the victim (read five times): it goes back.
    let rejects = t.stats.admission_rejects.load(Relaxed);
    read("a");
    assert_eq!(t.stats.admission_rejects.load(Relaxed), rejects + 1);
    assert_eq!(eng.tier_keys(), (hot_now, 41 - hot_now));
    // Against a victim never asked for, the same key (now read twice) stays.
    t.note_victim(nobody);
    let promotions = t.stats.promotions.load(Relaxed);
    read("a");
    assert_eq!(t.stats.promotions.load(Relaxed), promotions + 1);
    assert_eq!(eng.tier_keys(), (hot_now + 1, 40 - hot_now));
}

/// The last victim does not keep keys out for good: read again itself, it is judged
/// against a few keys of its shard, and after `VICTIM_USES` decisions without a newer
/// victim (memory within 5% of the limit, where rejected reads free nothing and eviction
/// may not run) the same sample takes over.
#[test]
fn a_victim_read_again_or_gone_stale_does_not_keep_keys_out() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let (_, eng) = engines(dir.path());
    let t = tier_of(&eng);
    let set = |k: &str| set_v(&eng, k);
    let read = |k: &str| read_present(&eng, k);
    let hash = |k: &str| key_hash(&eng, k);
    let promotions = || t.stats.promotions.load(Relaxed);
    // The sketch counts reads once something has spilled.
    set("z");
    assert!(eng.spill_key(0, b"z"));
    // Hot keys asked for twice each; `a` ten times, then spilled; `v` twenty times (the
    // sketch's most); `b` never, then spilled.
    for i in 0..40 {
        let k = format!("h{i}");
        set(&k);
        read(&k);
        read(&k);
    }
    for (k, n) in [("a", 10), ("v", 20), ("b", 0)] {
        set(k);
        for _ in 0..n {
            read(k);
        }
    }
    let (ha, hv) = (hash("a"), hash("v"));
    assert!(eng.spill_key(0, b"a") && eng.spill_key(0, b"b"));
    t.pressure.store(true, Relaxed);
    // `a` was the victim: read again, it beats the hot keys it is now compared with.
    t.note_victim(ha);
    let before = promotions();
    read("a");
    assert_eq!(
        promotions(),
        before + 1,
        "the victim read again is admitted"
    );
    // Against `v`, `b` cannot win (both end at the sketch's most); once `v` has served
    // its decisions, `b` is compared with the hot keys and gets in.
    t.note_victim(hv);
    let before = promotions();
    let mut reads = 0;
    while promotions() == before && reads < 2 * strata_engine::tier::VICTIM_USES {
        read("b");
        reads += 1;
    }
    assert_eq!(
        promotions(),
        before + 1,
        "admitted once the victim went stale"
    );
    assert!(
        reads > 20,
        "while the victim stands, a key no more frequent stays out ({reads} reads)"
    );
    assert_eq!(
        reads,
        strata_engine::tier::VICTIM_USES + 1,
        "the victim serves its decisions, then the sample decides"
    );
    // A flush forgets the victim: its hash names no key of the new table.
    t.note_victim(hv);
    eng.flushall(false, &mut Effects::default());
    assert_eq!(t.last_victim(), None);
}

/// Sets key `k` of database 0 to `v`, as a replayed write.
fn set_k(eng: &Engine, v: &str) {
    eng.apply(&Effect::Set {
        db: 0,
        key: b"k".to_vec(),
        value: v.into(),
        expire_at: 0,
        keep_ttl: false,
    })
    .unwrap()
}

/// Key `k` of database 0 as a command reads it (faulting it in when cold).
fn read_k(eng: &Engine) -> Option<Vec<u8>> {
    let mut fx = Effects::default();
    let mut g = eng.lock(0, &[b"k"], &mut fx);
    g.get(b"k")
        .and_then(|e| e.value.string_bytes().map(|b| b.to_vec()))
}

/// A value read ahead by the prefetch probe is used by the next fault-in only while nothing
/// in its shard's cold tier has changed: a write in between makes it stale, and it is not used.
#[test]
fn a_value_read_ahead_is_not_used_once_the_key_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, eng) = engines(dir.path());
    let set = |v: &str| set_k(&eng, v);
    let read = || read_k(&eng);
    set("old");
    assert!(eng.spill_key(0, b"k"));
    strata_engine::tier::stash_clear();
    // Probed while cold: the value is in the memtable, so it is read ahead and kept.
    keep_read(eng.cold_prefetch(0, b"k"));
    // Then changed and spilled again by another thread (whose fault-in cannot see this
    // thread's read-ahead) before the command that probed runs.
    std::thread::scope(|s| {
        s.spawn(|| {
            set("new");
            assert!(eng.spill_key(0, b"k"));
        });
    });
    assert_eq!(read(), Some(b"new".to_vec()));
    // Unchanged, the read-ahead value is the one used.
    assert!(eng.spill_key(0, b"k"));
    strata_engine::tier::stash_clear();
    keep_read(eng.cold_prefetch(0, b"k"));
    let used = || {
        tier_of(&eng)
            .stats
            .reads_ahead_used
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = used();
    assert_eq!(read(), Some(b"new".to_vec()));
    assert_eq!(used(), before + 1);
}

/// Keeps a read the probe did without I/O for the next fault-in.
fn keep_read(ahead: Option<strata_engine::tier::Ahead>) {
    match ahead {
        Some(strata_engine::tier::Ahead::Read(f)) => f.keep(),
        _ => panic!("expected a read done in memory"),
    }
}

fn tier_of(eng: &Engine) -> Arc<Tier> {
    eng.tier.clone().unwrap()
}

/// A read the prefetch did on a thread that may block comes back to the command's thread
/// under the same rule: stale once the key's shard changed after the key was found cold.
#[test]
fn a_value_prefetched_from_disk_is_not_used_once_the_key_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, eng) = engines(dir.path());
    let set = |v: &str| set_k(&eng, v);
    let read = || read_k(&eng);
    let tier = eng.tier.clone().unwrap();
    set("old");
    assert!(eng.spill_key(0, b"k"));
    // Out of the memtable into a table file whose blocks are not cached: reading needs I/O.
    tier.store.compact();
    strata_engine::tier::stash_clear();
    let Some(strata_engine::tier::Ahead::Disk(p)) = eng.cold_prefetch(0, b"k") else {
        panic!("expected a read that needs the disk");
    };
    let fetched = p.run().expect("the read");
    std::thread::scope(|s| {
        s.spawn(|| {
            set("new");
            assert!(eng.spill_key(0, b"k"));
        });
    });
    fetched.keep();
    assert_eq!(read(), Some(b"new".to_vec()));
}

/// Spills of other keys in the same shard, which go on all the time under memory pressure,
/// leave a read-ahead usable: only a write in the key's own stripe (1 in 64 of the shard's
/// keys) makes it stale.
#[test]
fn a_value_read_ahead_survives_spills_of_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let tier = Arc::new(Tier::open(&dir.path().join("cold"), 8 << 20, 1024).unwrap());
    let eng = Engine::open(
        EngineConfig {
            shards: 1,
            tier: Some(tier.clone()),
            ..Default::default()
        },
        None,
    );
    let used = || {
        tier.stats
            .reads_ahead_used
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    set_k(&eng, "v");
    let trials = 20;
    let before = used();
    for i in 0..trials {
        assert!(eng.spill_key(0, b"k"));
        strata_engine::tier::stash_clear();
        keep_read(eng.cold_prefetch(0, b"k"));
        let other = format!("other:{i}");
        eng.apply(&Effect::Set {
            db: 0,
            key: other.clone().into_bytes(),
            value: "x".into(),
            expire_at: 0,
            keep_ttl: false,
        })
        .unwrap();
        assert!(eng.spill_key(0, other.as_bytes()));
        assert_eq!(read_k(&eng), Some(b"v".to_vec()));
    }
    // With one counter per shard this is 0; with 64 stripes, 20 less the trials whose other
    // key shares the stripe (each 1 in 64).
    assert!(used() - before >= 15, "{} of {trials}", used() - before);
}

/// Loading a snapshot larger than `maxmemory` moves each key to the cold tier once all its
/// effects are applied, and never looks a key up there (it cannot be cold before it is
/// loaded). Memory is short all along here, and each hash of 3000 fields is three effects: a
/// key moved before its last effect would come back incomplete.
#[test]
fn a_snapshot_larger_than_ram_loads_into_the_cold_tier_without_looking_keys_up_there() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let (plain, tiered) = engines(dir.path());
    for i in 0..300u32 {
        plain
            .apply(&Effect::Set {
                db: i % 2,
                key: format!("s{i}").into_bytes(),
                value: vec![b'v'; 100],
                expire_at: if i % 3 == 0 { FAR } else { 0 },
                keep_ttl: false,
            })
            .unwrap();
    }
    for h in 0..3 {
        let pairs = (0..3000)
            .map(|f| (format!("f{f}").into_bytes(), vec![b'x'; 100]))
            .collect();
        plain
            .apply(&Effect::HSet {
                db: 0,
                key: format!("h{h}").into_bytes(),
                pairs,
            })
            .unwrap();
    }
    let path = dir.path().join("snap");
    strata_engine::snapshot::save(&plain, &path, 1).unwrap();
    tiered.config.maxmemory.store(1, Relaxed);
    tiered.set_memory_probe(|| usize::MAX / 2);
    strata_engine::snapshot::load(&tiered, &path).unwrap();
    let stats = &tiered.tier.as_ref().unwrap().stats;
    assert_eq!(stats.cold_misses.load(Relaxed), 0, "a key was looked for");
    assert_eq!(stats.cold_reads.load(Relaxed), 0, "a key was read back");
    assert_eq!(tiered.tier_keys(), (0, 303));
    assert_eq!(tiered.dump(), plain.dump());
}
