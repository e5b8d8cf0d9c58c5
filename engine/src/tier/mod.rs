//! Tiering: RAM holds the hot keys, a RocksDB cold tier the rest (`cold-tier yes`).
//!
//! A key is hot (in its shard's table) or cold (in [`cold::ColdStore`] under its shard's
//! namespace), and a hot key may also keep an identical cold copy (a *clean shadow*, flagged
//! on its value), so dropping it from RAM again costs no write. Any change to a shadowed key
//! deletes the copy first, so a cold copy is never stale. What moves keys:
//!
//! - **Spill**: when memory is over `maxmemory`, the eviction policy's victim is written to
//!   the cold tier instead of being deleted (a shadow is just dropped). Nothing is logged: the
//!   write-ahead log and snapshots stay the only source of truth, and the cold tier is rebuilt
//!   from them at every start.
//! - **Fault**: a command's declared keys are looked up in the cold tier when they are not hot,
//!   and faulted into RAM as shadows before the command runs, so every command works the same
//!   on a cold key.
//! - **Admission**: at the end of the command, TinyLFU ([`sketch`]) decides whether a faulted
//!   key that was only read stays in RAM: under memory pressure it must have been asked for
//!   more often lately than a key it would push out. Otherwise it is dropped again (a
//!   read-through), so a one-off scan of cold keys does not flush the hot set.
//!
//! Reads of the cold tier run on the thread executing the command, while it holds the key's
//! shard lock (a RocksDB point lookup: a memtable probe and a filter check, then a block from
//! the cache). A read that would need the disk is done ahead of the command on a thread that
//! may block ([`crate::Engine::cold_prefetch`]), so the command finds the block in memory.

pub mod behind;
pub mod codec;
pub mod cold;
pub mod readers;
pub mod simulate;
pub mod sketch;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Counters for INFO's `# Tiering` section.
#[derive(Default)]
pub struct TierStats {
    pub spills: AtomicU64,
    pub spilled_bytes: AtomicU64,
    pub clean_drops: AtomicU64,
    pub promotions: AtomicU64,
    pub admission_rejects: AtomicU64,
    pub cold_reads: AtomicU64,
    pub cold_misses: AtomicU64,
    /// Cold reads done ahead on a reader thread: those that needed the disk, and all of
    /// them while an I/O thread skips its memory-only probes (see [`probe_first`]).
    pub prefetches: AtomicU64,
    /// Cold reads that needed the disk on the thread running the command, for want of a
    /// prefetch (inside MULTI/EXEC and scripts, undeclared keys, a prefetch gone stale).
    pub sync_reads: AtomicU64,
    /// Fault-ins that used a value read ahead (in memory or by a prefetch) instead of reading.
    pub reads_ahead_used: AtomicU64,
    pub errors: AtomicU64,
}

/// A latency histogram of atomic buckets: bucket `i` counts samples below `2^(i/4)` µs
/// (four buckets per doubling), so percentiles are within 19%.
pub struct Histogram {
    buckets: [AtomicU64; 96],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Histogram {
    fn bucket(us: f64) -> usize {
        if us <= 1.0 {
            return 0;
        }
        ((us.log2() * 4.0).ceil() as usize).min(95)
    }

    pub fn record(&self, d: std::time::Duration) {
        let us = d.as_secs_f64() * 1e6;
        self.buckets[Self::bucket(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The upper bound, in µs, of the bucket holding the `p`-th percentile (0 when empty).
    pub fn percentile(&self, p: f64) -> f64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return 2f64.powf(i as f64 / 4.0);
            }
        }
        2f64.powf(95.0 / 4.0)
    }

    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Whether a faulted key that was only read stays in RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// TinyLFU: under memory pressure, only if it beats a key it would push out.
    TinyLfu = 0,
    /// Always (benchmarks, and to see what admission buys).
    Always = 1,
}

impl Admission {
    pub fn parse(s: &str) -> Option<Admission> {
        match s.to_ascii_lowercase().as_str() {
            "tinylfu" => Some(Admission::TinyLfu),
            "always" => Some(Admission::Always),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Admission::TinyLfu => "tinylfu",
            Admission::Always => "always",
        }
    }
}

/// Values a connection read from the cold tier just before running its commands (its read
/// ahead), each with its key's cold-tier write counter at the time (`Shard::cold_epoch`):
/// the command's fault-in uses one instead of reading again if the counter has not moved.
/// Per thread, since the commands run on the connection's thread; refilled just before a
/// connection runs a batch, so it holds the keys of one batch of pipelined commands (at most
/// [`STASH_MAX`]), keyed by stored key, with the epoch and the value read.
type Stash =
    std::collections::HashMap<Vec<u8>, (u64, Option<Vec<u8>>), foldhash::fast::RandomState>;

/// Keys a stash keeps: those of up to 64 pipelined commands, or of one `EXEC` or `MGET`. Keys
/// past these are read on the I/O thread when their command runs.
pub const STASH_MAX: usize = 1024;

thread_local! {
    static STASH: std::cell::RefCell<Stash> = std::cell::RefCell::new(Stash::default());
}

/// This thread's memory-only probes (see [`probe_first`]): how many were made and how many
/// found they needed the disk, halved now and then so they follow the workload; and a tick.
#[derive(Clone, Copy)]
struct Probes {
    made: u32,
    missed: u32,
    tick: u32,
}

thread_local! {
    static PROBES: std::cell::Cell<Probes> =
        const { std::cell::Cell::new(Probes { made: 0, missed: 0, tick: 0 }) };
}

/// Whether a cold read ahead should first try memory only (a memtable, the block cache, the
/// filters) before going to a reader thread. A probe that misses costs most of a RocksDB
/// lookup on the I/O thread, then the reader does that lookup again: while most of this
/// thread's recent probes missed (reads of keys spread over more data than the cache holds),
/// reads go to a reader straight away, and only every 16th probes, to notice a change.
pub(crate) fn probe_first() -> bool {
    PROBES.with(|p| {
        let mut x = p.get();
        x.tick = x.tick.wrapping_add(1);
        p.set(x);
        x.missed * 2 <= x.made || x.tick % 16 == 0
    })
}

/// Records a probe's outcome.
pub(crate) fn probe_done(missed: bool) {
    PROBES.with(|p| {
        let mut x = p.get();
        x.made += 1;
        x.missed += missed as u32;
        if x.made >= 256 {
            x.made /= 2;
            x.missed /= 2;
        }
        p.set(x);
    })
}

/// Forgets what the last probe read, and the memory a large batch's reads took.
pub fn stash_clear() {
    STASH.with(|s| {
        let mut s = s.borrow_mut();
        if s.capacity() > 64 {
            *s = Stash::default();
        } else {
            s.clear();
        }
    });
}

pub(crate) fn stash_put(epoch: u64, stored_key: Vec<u8>, value: Option<Vec<u8>>) {
    STASH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < STASH_MAX {
            s.insert(stored_key, (epoch, value));
        }
    });
}

/// The probe's read of `stored_key`, if it was made at `epoch`: Some(None) means absent.
pub(crate) fn stash_take(stored_key: &[u8], epoch: u64) -> Option<Option<Vec<u8>>> {
    STASH.with(|s| {
        let (at, value) = s.borrow_mut().remove(stored_key)?;
        (at == epoch).then_some(value)
    })
}

/// What [`crate::Engine::cold_prefetch`] found for a cold key.
pub enum Ahead {
    /// Read already, without I/O: keep it for the command.
    Read(Fetched),
    /// Needs the disk: run it on a reader thread first.
    Disk(Prefetch),
}

/// A cold read that would wait for the disk, to be done on a thread that may block
/// ([`crate::Engine::cold_prefetch`]).
pub struct Prefetch {
    tier: std::sync::Arc<Tier>,
    stored: Vec<u8>,
    /// The key's `Shard::cold_epoch` when it was found cold.
    epoch: u64,
}

impl Prefetch {
    pub(crate) fn new(tier: std::sync::Arc<Tier>, stored: Vec<u8>, epoch: u64) -> Prefetch {
        Prefetch {
            tier,
            stored,
            epoch,
        }
    }

    /// Reads the values of several prefetches (of one tier) in one batched lookup. A read
    /// that failed is left out: the command's own read meets the error again and reports it.
    pub fn run_all(reads: Vec<Prefetch>) -> Vec<Fetched> {
        let Some(tier) = reads.first().map(|p| p.tier.clone()) else {
            return Vec::new();
        };
        tier.stats
            .prefetches
            .fetch_add(reads.len() as u64, Ordering::Relaxed);
        let keys: Vec<&[u8]> = reads.iter().map(|p| &p.stored[..]).collect();
        let values = tier.store.get_many(&keys);
        reads
            .into_iter()
            .zip(values)
            .filter_map(|(p, v)| {
                Some(Fetched {
                    epoch: p.epoch,
                    stored: p.stored,
                    value: v.ok()?,
                })
            })
            .collect()
    }

    /// Reads the value (its block lands in RocksDB's block cache too). None on an error,
    /// which the command's own read meets again and reports.
    pub fn run(self) -> Option<Fetched> {
        Prefetch::run_all(vec![self]).pop()
    }
}

/// What a [`Prefetch`] read, to hand to the command that wanted it.
pub struct Fetched {
    epoch: u64,
    stored: Vec<u8>,
    value: Option<Vec<u8>>,
}

impl Fetched {
    pub(crate) fn new(epoch: u64, stored: Vec<u8>, value: Option<Vec<u8>>) -> Fetched {
        Fetched {
            epoch,
            stored,
            value,
        }
    }

    /// Keeps the read for the command's fault-in, on the I/O thread that will run it: used
    /// only if nothing in the key's stripe of its shard moved between tiers since the key was
    /// found cold (`Shard::cold_epoch`).
    pub fn keep(self) {
        stash_put(self.epoch, self.stored, self.value);
    }
}

/// How many admission decisions one victim serves for (see [`Tier::last_victim`]). In the
/// Zipf read benchmark a limit of 256 was reached in the steady state, and the sample then
/// decided often (15% fewer reads a second); at 4096 admissions came out as without a limit.
pub const VICTIM_USES: u32 = 4096;

/// The most keys an admission sketch is sized for (about 300 MB of sketch).
const SKETCH_MAX_KEYS: usize = 1 << 26;

/// Reader threads: one per core of the machine this was measured on.
const READERS: usize = 2;

pub struct Tier {
    pub store: cold::ColdStore,
    /// Where cold reads that may wait for the disk run.
    pub readers: readers::Readers,
    next_ns: AtomicU32,
    /// The admission sketch, made when first needed (see [`Tier::sketch`]).
    sketch: std::sync::OnceLock<sketch::FrequencySketch>,
    /// The keys a sketch made without [`Tier::size_sketch`] is sized for.
    sketch_keys: usize,
    admission: AtomicU8,
    /// Bytes of cold data beyond which nothing more spills (0 = no limit).
    pub max_size: AtomicU64,
    /// The largest value a write may make, in RAM bytes (0 = half of `maxmemory`).
    pub max_value: AtomicU64,
    /// Set while memory is over the limit: admission then has to choose.
    pub pressure: AtomicBool,
    /// The hash of the key eviction spilled last, and whether there is one: admission
    /// compares a faulted key with it (see [`Tier::note_victim`]).
    victim: AtomicU64,
    victim_known: AtomicBool,
    /// Admission decisions made against the current victim.
    victim_uses: AtomicU32,
    /// Set by the first spill: until then commands skip the tier's work (the sketch, the
    /// cold lookups) entirely, so a server that never spills pays nothing for it.
    pub spilled: AtomicBool,
    pub stats: TierStats,
    pub read_latency: Histogram,
    /// The last RocksDB error, for INFO.
    pub last_error: parking_lot::Mutex<Option<String>>,
}

impl Tier {
    /// Opens the cold tier at `path` (wiped first). A sketch that nothing sized first (see
    /// [`Tier::size_sketch`]) is sized for `keys` hot keys.
    pub fn open(path: &Path, cache_bytes: usize, keys: usize) -> Result<Tier, String> {
        Ok(Tier {
            store: cold::ColdStore::open(path, cache_bytes)?,
            readers: readers::Readers::start(READERS)?,
            next_ns: AtomicU32::new(1),
            sketch: std::sync::OnceLock::new(),
            sketch_keys: keys,
            admission: AtomicU8::new(Admission::TinyLfu as u8),
            max_size: AtomicU64::new(0),
            max_value: AtomicU64::new(0),
            pressure: AtomicBool::new(false),
            victim: AtomicU64::new(0),
            victim_known: AtomicBool::new(false),
            victim_uses: AtomicU32::new(0),
            spilled: AtomicBool::new(false),
            stats: TierStats::default(),
            read_latency: Histogram::default(),
            last_error: parking_lot::Mutex::new(None),
        })
    }

    /// Records the key eviction just spilled (by its hash in the sketch). Admission compares
    /// each faulted key with the last one: eviction picks the least frequent of what it
    /// samples, so the last victim stands for the next, and one sketch lookup replaces a
    /// fresh sample of keys per cold read.
    pub fn note_victim(&self, hash: u64) {
        self.victim.store(hash, Ordering::Relaxed);
        self.victim_uses.store(0, Ordering::Relaxed);
        self.victim_known.store(true, Ordering::Release);
    }

    /// Forgets the last victim (its hash means nothing once its table is gone).
    pub fn forget_victim(&self) {
        self.victim_known.store(false, Ordering::Release);
    }

    /// The hash of the key eviction spilled last, if any, while it still stands for the
    /// next one: for [`VICTIM_USES`] admission decisions. Rejected reads free no memory, so
    /// between 95% and 100% of `maxmemory` eviction may not run for a long time, and a
    /// victim read often since (say, by being faulted in again and again) must not keep
    /// every other key out meanwhile.
    pub fn last_victim(&self) -> Option<u64> {
        if !self.victim_known.load(Ordering::Acquire)
            || self.victim_uses.fetch_add(1, Ordering::Relaxed) >= VICTIM_USES
        {
            return None;
        }
        Some(self.victim.load(Ordering::Relaxed))
    }

    /// The admission sketch. Nothing records into it before the first spill, so it is made
    /// then, sized for the keys in RAM at that moment ([`Tier::size_sketch`]): a server whose
    /// data fits in `maxmemory` does not pay for one sized for what `maxmemory` could hold
    /// (at 100 bytes a key, 5 to 10% of `maxmemory`, 320 MB at 4 GB).
    pub fn sketch(&self) -> &sketch::FrequencySketch {
        self.sketch
            .get_or_init(|| sketch::FrequencySketch::new(self.sketch_keys.min(SKETCH_MAX_KEYS)))
    }

    /// Makes the sketch for about `keys` keys, unless it is made already. Called before the
    /// first spill with the number of keys then in RAM, which is the number the hot tier
    /// holds (TinyLFU sizes its sketch by the cache's entries). `keys` is asked only then.
    ///
    /// Its table is sized for a quarter more keys than that, and it ages after 40 times as
    /// many accesses. In the simulator (`examples/admission.rs`) the age matters more than
    /// the width: at 10 times the hit rates on stationary Zipf traces fell by 2 to 6 points,
    /// while a table 1.25 rather than 8 times the cache's size cost at most one point.
    pub fn size_sketch(&self, keys: impl FnOnce() -> usize) {
        if self.sketch.get().is_none() {
            // Threads that reach the first spill together may each count, but only one
            // allocates (no caller holds a shard lock before the first spill).
            let hot = keys().clamp(1024, SKETCH_MAX_KEYS);
            self.sketch.get_or_init(|| {
                sketch::FrequencySketch::with_sample(hot + hot / 4, hot as u64 * 40)
            });
        }
    }

    /// A key's estimated frequency (`OBJECT FREQ`): 0 before the sketch is made.
    pub fn frequency(&self, hash: u64) -> u8 {
        self.sketch.get().map_or(0, |s| s.frequency(hash))
    }

    /// Heap bytes of the sketch (0 before it is made).
    pub fn sketch_bytes(&self) -> usize {
        self.sketch.get().map_or(0, |s| s.heap_bytes())
    }

    /// Whether anything was ever spilled.
    pub fn active(&self) -> bool {
        self.spilled.load(Ordering::Relaxed)
    }

    /// A namespace no shard has had in this process.
    pub(crate) fn new_ns(&self) -> u32 {
        self.next_ns.fetch_add(1, Ordering::Relaxed)
    }

    pub fn admission(&self) -> Admission {
        if self.admission.load(Ordering::Relaxed) == Admission::Always as u8 {
            Admission::Always
        } else {
            Admission::TinyLfu
        }
    }

    pub fn set_admission(&self, a: Admission) {
        self.admission.store(a as u8, Ordering::Relaxed);
    }

    /// Whether nothing more can spill: the cold tier has reached `cold-tier-max-size`, or its
    /// writes are failing (eviction then follows cache mode's rules until they succeed).
    pub fn full(&self) -> bool {
        let max = self.max_size.load(Ordering::Relaxed);
        self.store.behind().is_failing() || (max != 0 && self.store.disk_bytes() >= max)
    }

    pub(crate) fn error(&self, what: &str, e: impl std::fmt::Display) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(format!("{what}: {e}"));
    }

    /// Errors so far: the tier's own, and failed batches of the writer thread.
    pub fn errors(&self) -> u64 {
        self.stats.errors.load(Ordering::Relaxed)
            + self.store.behind().errors.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> &'static str {
        if self.last_error.lock().is_some() || self.store.behind().is_failing() {
            "error"
        } else if self.full() {
            "full"
        } else {
            "ok"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_stop_while_they_miss_and_resume_once_they_hit() {
        // A fresh thread: no history, so it probes.
        std::thread::spawn(|| {
            assert!((0..32).all(|_| probe_first()));
            (0..100).for_each(|_| probe_done(true));
            let probed = (0..160).filter(|_| probe_first()).count();
            assert_eq!(probed, 10, "only every 16th while probes miss");
            // The workload changes: probes that are still made now hit.
            (0..300).for_each(|_| probe_done(false));
            assert!((0..32).all(|_| probe_first()));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn histogram_percentiles_fall_in_the_right_bucket() {
        let h = Histogram::default();
        assert_eq!(h.percentile(99.0), 0.0);
        for _ in 0..99 {
            h.record(std::time::Duration::from_micros(10));
        }
        h.record(std::time::Duration::from_millis(5));
        let p50 = h.percentile(50.0);
        assert!((10.0..=12.0).contains(&p50), "{p50}");
        let p999 = h.percentile(99.9);
        assert!((5000.0..=6000.0).contains(&p999), "{p999}");
    }
}
