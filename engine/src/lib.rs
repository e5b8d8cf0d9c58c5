//! Strata's engine: the keyspace, Redis's value types and the effects a write-ahead log records.
//! No networking and no RESP here: another program could embed this crate.
//!
//! [`Engine::open`] is the one entry point. Commands lock the shards of their keys through
//! [`Engine::lock`], which hands out a [`keyspace::Guard`]; the guard records each write's
//! [`effect::Effect`] and passes it to the [`EffectSink`] before the locks are released.

#![deny(unsafe_code)] // allowed in search::mapped alone (see there)

pub mod ctx;
pub mod db;
pub mod effect;
pub mod error;
pub mod functions;
pub mod keyspace;
pub mod notify;
pub mod number;
pub mod reply;
pub mod search;
pub mod snapshot;
pub mod tier;
pub mod types;
pub mod wal;

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use effect::{Effect, Effects};
use keyspace::evict::{AccessClock, Policy};
use keyspace::watch::WatchRegistry;
use keyspace::{Db, Guard};

/// Where committed effects go: the write-ahead log, or a test's recorder.
pub trait EffectSink: Send + Sync {
    fn append(&self, effects: &[Effect]);

    /// Whether effects are wanted now (the log can be turned off at run time). Changes only
    /// under the exclusive gate, so a write is either wholly recorded or not at all.
    fn enabled(&self) -> bool {
        true
    }
}

/// Settings the engine needs, most of them changeable at run time by CONFIG SET.
pub struct EngineConfig {
    pub databases: usize,
    /// Shards per database; rounded up to a power of two.
    pub shards: usize,
    pub maxmemory: AtomicU64,
    pub maxmemory_policy: AtomicU8,
    pub maxmemory_samples: AtomicUsize,
    pub lfu_log_factor: AtomicU64,
    pub lfu_decay_time: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub hll_sparse_max_bytes: AtomicUsize,
    pub hash_max_listpack_entries: AtomicUsize,
    pub hash_max_listpack_value: AtomicUsize,
    pub set_max_intset_entries: AtomicUsize,
    pub set_max_listpack_entries: AtomicUsize,
    pub set_max_listpack_value: AtomicUsize,
    pub zset_max_listpack_entries: AtomicUsize,
    pub zset_max_listpack_value: AtomicUsize,
    pub list_max_listpack_size: AtomicI64,
    pub stream_node_max_entries: AtomicUsize,
    pub stream_node_max_bytes: AtomicUsize,
    /// `notify-keyspace-events` as [`notify::class`] bits.
    pub notify_flags: std::sync::atomic::AtomicU32,
    /// `appendfsync` as a `wal::Fsync` number; the log's writer reads it.
    pub appendfsync: Arc<AtomicU8>,
    /// The cold tier, when `cold-tier yes` opened one.
    pub tier: Option<Arc<tier::Tier>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            databases: 16,
            shards: 256,
            maxmemory: AtomicU64::new(0),
            maxmemory_policy: AtomicU8::new(Policy::NoEviction.to_u8()),
            maxmemory_samples: AtomicUsize::new(5),
            lfu_log_factor: AtomicU64::new(10),
            lfu_decay_time: AtomicU64::new(1),
            proto_max_bulk_len: AtomicU64::new(512 * 1024 * 1024),
            hll_sparse_max_bytes: AtomicUsize::new(types::hll::HLL_SPARSE_MAX_BYTES_DEFAULT),
            hash_max_listpack_entries: AtomicUsize::new(512),
            hash_max_listpack_value: AtomicUsize::new(64),
            set_max_intset_entries: AtomicUsize::new(512),
            set_max_listpack_entries: AtomicUsize::new(128),
            set_max_listpack_value: AtomicUsize::new(64),
            zset_max_listpack_entries: AtomicUsize::new(128),
            zset_max_listpack_value: AtomicUsize::new(64),
            list_max_listpack_size: AtomicI64::new(-2),
            stream_node_max_entries: AtomicUsize::new(100),
            stream_node_max_bytes: AtomicUsize::new(4096),
            notify_flags: std::sync::atomic::AtomicU32::new(0),
            appendfsync: Arc::new(AtomicU8::new(wal::Fsync::EverySec as u8)),
            tier: None,
        }
    }
}

/// A counter written by many threads: one cache line per stripe, so counting on the hot path
/// does not bounce a shared line between cores; reads sum the stripes.
#[derive(Default)]
pub struct Counter([crossbeam::utils::CachePadded<AtomicU64>; 8]);

const GATE_STRIPES: usize = 8;

/// How long a command spins for the gate before it sleeps. The gate is mostly held for one
/// command (a script, EXEC) of a few microseconds: waiting that out by spinning saves the two
/// context switches a sleep and a wake-up cost, which otherwise dominate a stream of scripts
/// from two I/O threads.
const GATE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Tries `take` until it succeeds or [`GATE_SPIN`] has passed.
fn spin_for<T>(mut take: impl FnMut() -> Option<T>) -> Option<T> {
    let mut start = None;
    for i in 0u32.. {
        if let Some(g) = take() {
            return Some(g);
        }
        if i % 32 == 31 {
            let t0 = *start.get_or_insert_with(std::time::Instant::now);
            if t0.elapsed() >= GATE_SPIN {
                return None;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    None
}

/// A small per-thread number, for picking a stripe.
fn thread_stripe() -> usize {
    thread_local! {
        static STRIPE: usize = {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            NEXT.fetch_add(1, Ordering::Relaxed)
        };
    }
    STRIPE.with(|s| *s)
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.0[thread_stripe() % 8].fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn reset(&self) {
        for c in &self.0 {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Counters reported by INFO stats. Keyspace hits, misses and expirations are counted per
/// shard (under its lock) and summed by [`Engine::keyspace_stats`].
#[derive(Default)]
pub struct Stats {
    pub evicted_keys: AtomicU64,
    /// Changes since the last save (`rdb_changes_since_last_save`).
    pub dirty: Counter,
}

/// Summed per-shard counters.
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

pub struct Engine {
    pub(crate) dbs: Box<[Db]>,
    /// Ordinary commands run under the shared side; MULTI/EXEC and whole-keyspace changes
    /// (FLUSHALL, SWAPDB, MOVE) under the exclusive side, which makes them atomic. Striped:
    /// a reader locks one stripe (its thread's), a writer all of them, so readers on different
    /// cores never write to the same cache line.
    gate: [crossbeam::utils::CachePadded<RwLock<()>>; GATE_STRIPES],
    pub config: EngineConfig,
    pub stats: Stats,
    pub watch: WatchRegistry,
    /// FUNCTION libraries' sources.
    pub functions: functions::Libraries,
    sink: Option<Box<dyn EffectSink>>,
    /// Where keyspace notifications go, once the server installs it.
    notifier: std::sync::OnceLock<Box<dyn notify::Notifier>>,
    pub(crate) expire_rotor: AtomicUsize,
    /// Where the next tick of active rehashing starts (`Engine::active_rehash`).
    pub(crate) rehash_rotor: AtomicUsize,
    /// Eviction candidates kept between evictions (see `keyspace::evict`).
    pub(crate) evict_pool: parking_lot::Mutex<keyspace::evict::EvictPool>,
    /// A background snapshot's copy-on-first-write state (see `snapshot::Background`).
    pub(crate) snap: snapshot::Hook,
    /// The cold tier (see [`tier`]), when there is one.
    pub tier: Option<Arc<tier::Tier>>,
    /// How much memory the process uses (the server's allocator counter), for spilling while
    /// loading.
    memory_probe: std::sync::OnceLock<fn() -> usize>,
    /// FT.* indexes (see [`search`]).
    pub search: search::Search,
}

impl Engine {
    pub fn open(mut config: EngineConfig, sink: Option<Box<dyn EffectSink>>) -> Arc<Engine> {
        config.databases = config.databases.clamp(1, 1 << 20);
        config.shards = config.shards.clamp(1, 1 << 12).next_power_of_two();
        let tier = config.tier.clone();
        let dbs = (0..config.databases)
            .map(|_| Db::new(config.shards, tier.as_ref()))
            .collect();
        let slots = config.databases * config.shards;
        Arc::new(Engine {
            dbs,
            gate: Default::default(),
            config,
            stats: Stats::default(),
            watch: WatchRegistry::default(),
            functions: functions::Libraries::default(),
            sink,
            notifier: std::sync::OnceLock::new(),
            expire_rotor: AtomicUsize::new(0),
            rehash_rotor: AtomicUsize::new(0),
            evict_pool: parking_lot::Mutex::new(keyspace::evict::EvictPool::new()),
            snap: snapshot::Hook::new(slots),
            tier,
            memory_probe: std::sync::OnceLock::new(),
            search: search::Search::default(),
        })
    }

    /// Installs how the engine reads the memory in use (once).
    pub fn set_memory_probe(&self, probe: fn() -> usize) {
        let _ = self.memory_probe.set(probe);
    }

    /// With a cold tier and `maxmemory`, the largest value a write may make, in the bytes it
    /// takes in RAM (`cold-tier-max-value-size`, or half of `maxmemory`): a value is spilled
    /// and read back whole, so one larger than RAM could not be held.
    pub fn max_value_bytes(&self) -> Option<usize> {
        let t = self.tier.as_ref()?;
        let max = self.config.maxmemory.load(Ordering::Relaxed) as usize;
        if max == 0 {
            return None;
        }
        Some(match t.max_value.load(Ordering::Relaxed) as usize {
            0 => max / 2,
            v => v,
        })
    }

    /// The bytes a key takes in RAM, hot or cold (what MEMORY USAGE answers), without
    /// touching it or bringing it into RAM; 0 when absent.
    pub fn key_bytes(&self, db: usize, key: &[u8]) -> usize {
        let Some(d) = self.dbs.get(db) else {
            return 0;
        };
        let s = d.shards[d.shard_of(key)].lock();
        if let Some(e) = s.get(key) {
            return keyspace::entry_bytes(key.len(), e);
        }
        let Some(t) = self.tier.as_ref().filter(|_| s.cold > 0) else {
            return 0;
        };
        // The header alone, without copying the value; from memory if it can be.
        let stored = tier::cold::cold_key(s.ns, s.dict.hash_key(key), key);
        t.store
            .read_counted(&stored, &t.stats.sync_reads, tier::codec::hot_bytes)
            .ok()
            .flatten()
            .unwrap_or(0) as usize
    }

    /// Memory that eviction does not count (Redis's `mem_not_counted_for_evict`): the cold
    /// tier's writes waiting for its writer thread. They leave RAM as the writer catches up,
    /// so counting them would spill far more keys than needed.
    pub fn not_counted_for_evict(&self) -> usize {
        self.tier.as_ref().map_or(0, |t| t.store.behind().bytes())
    }

    /// With a cold tier, spills keys until memory is under `maxmemory` (while a snapshot or
    /// the log is loaded, when no command is there to do it). Bounded like the command path.
    pub fn spill_to_limit(&self) {
        let max = self.config.maxmemory.load(Ordering::Relaxed) as usize;
        let (Some(t), Some(probe)) = (&self.tier, self.memory_probe.get()) else {
            return;
        };
        // Never delete while loading: a full cold tier leaves the rest in RAM.
        if max == 0 || t.full() {
            return;
        }
        // The file's buffers count against the limit too, so the keys in RAM at the first
        // spill are not what the hot tier will hold: a sketch made now has the size set when
        // the tier was opened (from `maxmemory`).
        t.sketch();
        for _ in 0..1_000_000 {
            if probe().saturating_sub(self.not_counted_for_evict()) <= max
                || !self.evict_one_or_wait()
            {
                return;
            }
        }
    }

    /// Loading a snapshot with the cold tier on: while RAM is over `maxmemory`, moves `key`,
    /// whose effects have all been applied, to the cold tier. Only a finished key may move:
    /// its later effects would not look for it there (see `Effects::new_keys`). Loading gives
    /// every key the same access history, so the key just loaded is as good a victim as any,
    /// and taking it costs no sampling. A full cold tier, or a writer that stays behind,
    /// leaves the key in RAM.
    pub(crate) fn spill_loaded(&self, db: usize, key: &[u8]) {
        let max = self.config.maxmemory.load(Ordering::Relaxed) as usize;
        // (A database out of range is the load's error to report.)
        let (Some(t), Some(probe), Some(_)) =
            (&self.tier, self.memory_probe.get(), self.dbs.get(db))
        else {
            return;
        };
        if max == 0 || t.full() || probe().saturating_sub(self.not_counted_for_evict()) <= max {
            return;
        }
        // Sized from `maxmemory`, as in `spill_to_limit` (so `spill_key` sizes nothing).
        t.sketch();
        let behind = t.store.behind();
        if behind.is_full() && !behind.wait_for_room(tier::behind::FULL_WAIT) {
            return;
        }
        self.spill_key(db, key);
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    pub fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The collection encoding thresholds, as configured now.
    pub fn limits(&self) -> types::Limits {
        let c = &self.config;
        let u = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        types::Limits {
            hash_entries: u(&c.hash_max_listpack_entries),
            hash_value: u(&c.hash_max_listpack_value),
            set_intset_entries: u(&c.set_max_intset_entries),
            set_entries: u(&c.set_max_listpack_entries),
            set_value: u(&c.set_max_listpack_value),
            zset_entries: u(&c.zset_max_listpack_entries),
            zset_value: u(&c.zset_max_listpack_value),
            list_size: c.list_max_listpack_size.load(Ordering::Relaxed),
            stream_node: types::stream::NodeLimits {
                entries: u(&c.stream_node_max_entries),
                bytes: u(&c.stream_node_max_bytes),
            },
        }
    }

    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.config.maxmemory_policy.load(Ordering::Relaxed))
    }

    pub fn access_clock(&self) -> AccessClock {
        self.access_clock_at(self.now_ms())
    }

    /// The access clock at `now` (unix ms): seconds for LRU, minutes for LFU's decay.
    pub fn access_clock_at(&self, now: u64) -> AccessClock {
        AccessClock {
            lfu: self.policy().is_lfu(),
            secs: ((now / 1000) & 0xff_ffff) as u32,
            mins: (now / 60_000) as u16,
            log_factor: self.config.lfu_log_factor.load(Ordering::Relaxed) as u32,
            decay_time: self.config.lfu_decay_time.load(Ordering::Relaxed) as u32,
        }
    }

    pub fn gate_shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate[thread_stripe() % GATE_STRIPES].read()
    }

    /// Locks every stripe, in order, so no shared holder remains.
    pub fn gate_exclusive(&self) -> Vec<RwLockWriteGuard<'_, ()>> {
        self.gate.iter().map(|g| g.write()).collect()
    }

    /// [`Engine::gate_shared`], giving up after `wait` (a long script may hold the gate; the
    /// caller then answers -BUSY rather than wait).
    pub fn gate_shared_for(&self, wait: std::time::Duration) -> Option<RwLockReadGuard<'_, ()>> {
        let g = &self.gate[thread_stripe() % GATE_STRIPES];
        spin_for(|| g.try_read()).or_else(|| g.try_read_for(wait))
    }

    /// [`Engine::gate_exclusive`], giving up after `wait` for any stripe (releasing those
    /// taken).
    pub fn gate_exclusive_for(
        &self,
        wait: std::time::Duration,
    ) -> Option<Vec<RwLockWriteGuard<'_, ()>>> {
        let mut held = Vec::with_capacity(self.gate.len());
        for g in self.gate.iter() {
            held.push(spin_for(|| g.try_write()).or_else(|| g.try_write_for(wait))?);
        }
        Some(held)
    }

    /// Locks the shards holding `keys` in database `db`. The caller must hold the gate.
    pub fn lock<'a>(&'a self, db: usize, keys: &[&[u8]], effects: &'a mut Effects) -> Guard<'a> {
        Guard::new(self, db, keys, effects)
    }

    /// Whether effects are being recorded (a WAL or a test recorder is attached).
    /// Installs where keyspace notifications go (once).
    pub fn set_notifier(&self, n: Box<dyn notify::Notifier>) {
        let _ = self.notifier.set(n);
    }

    /// Whether any keyspace notification is on (`notify-keyspace-events` has K or E and a
    /// class): writes then build their effects to name the events.
    pub fn notifying(&self) -> bool {
        let f = self.config.notify_flags.load(Ordering::Relaxed);
        f & (notify::class::KEYSPACE | notify::class::KEYEVENT) != 0
            && f & !(notify::class::KEYSPACE | notify::class::KEYEVENT) != 0
    }

    /// Publishes one event if its class is on.
    pub fn notify(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        let f = self.config.notify_flags.load(Ordering::Relaxed);
        if f & class == 0 || f & (notify::class::KEYSPACE | notify::class::KEYEVENT) == 0 {
            return;
        }
        if let Some(n) = self.notifier.get() {
            n.notify(db, event, key, f);
        }
    }

    /// Publishes the events of one effect of command `cmd`.
    pub fn notify_effect(&self, cmd: &str, e: &effect::Effect) {
        for (class, event, db, key) in notify::events(cmd, e) {
            self.notify(db as usize, class, event, key);
        }
    }

    pub fn has_sink(&self) -> bool {
        self.sink.as_ref().is_some_and(|s| s.enabled())
    }

    /// Whether writes must build their effects: a sink logs them, or search indexes follow
    /// the keys they name.
    pub fn recording(&self) -> bool {
        self.has_sink() || self.search.active()
    }

    /// Hands effects to the sink and counts them as changes since the last save.
    pub fn commit(&self, effects: &mut Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        self.stats.dirty.add(effects.len() as u64);
        if self.search.active() {
            self.search.note(effects);
        }
        if let Some(sink) = &self.sink {
            sink.append(effects);
        }
        effects.clear();
    }

    pub fn keyspace_stats(&self) -> KeyspaceStats {
        let mut st = KeyspaceStats {
            hits: 0,
            misses: 0,
            expired: 0,
        };
        for s in self.dbs.iter().flat_map(|d| d.shards.iter()) {
            let s = s.lock();
            st.hits += s.hits;
            st.misses += s.misses;
            st.expired += s.expired;
        }
        st
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.stats.evicted_keys.store(0, Ordering::Relaxed);
        for s in self.dbs.iter().flat_map(|d| d.shards.iter()) {
            let mut s = s.lock();
            s.hits = 0;
            s.misses = 0;
            s.expired = 0;
        }
    }

    /// Sum of per-entry accounting over all shards (`used_memory_dataset`).
    pub fn dataset_bytes(&self) -> usize {
        self.dbs
            .iter()
            .flat_map(|d| d.shards.iter())
            .map(|s| s.lock().used)
            .sum()
    }
}
