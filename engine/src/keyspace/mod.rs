//! The keyspace: databases split into shards, each a lock around a hash table of entries.
//!
//! A key's shard is chosen by its cluster slot, so a `{hash tag}` keeps related keys together.
//! Commands reach keys only through a [`Guard`], which locks the shards of the keys a command
//! names (in ascending shard order, so two multi-key commands never deadlock), expires keys
//! lazily on access, keeps memory accounting and WATCH in step with every change, and records the
//! effects a write-ahead log will need. Values are reached only through the guard, never by a
//! reference that outlives it: that is what lets a later cold tier fault values in.

pub mod dict;
pub mod evict;
pub mod expire;
pub mod keys;
pub mod pattern;
pub mod slot;
pub mod watch;

use std::sync::atomic::Ordering;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use crate::effect::{Effect, Effects};
use crate::types::Value;
use crate::Engine;

pub type Hasher = foldhash::fast::RandomState;

/// One key's data: its value (which also carries the access clock) and its absolute expiry
/// (unix ms, 0 = none). 24 bytes, so the table node is 48.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: u64,
}

impl Entry {
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }
}

/// Bytes an entry costs beyond its key and value heap data: the table node and its bucket.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 3 * std::mem::size_of::<usize>();

pub fn entry_bytes(key_len: usize, e: &Entry) -> usize {
    ENTRY_OVERHEAD + key_len + e.value.heap_bytes()
}

pub struct Shard {
    pub(crate) dict: dict::Dict<Entry, Hasher>,
    /// Keys with an expiry (INFO keyspace `expires=`).
    pub(crate) volatile: usize,
    /// Hashes with field expiries, which the active expiry cycle also visits.
    pub(crate) hfe: usize,
    /// Sum of `entry_bytes` over the shard.
    pub(crate) used: usize,
    /// Where the active expiry cycle resumes its walk.
    pub(crate) expire_cursor: u64,
    /// INFO stats counted under the shard lock, so hot paths touch no shared cache line.
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) expired: u64,
    /// Keys held only in the cold tier (shadows of hot keys not counted).
    pub(crate) cold: usize,
    /// Of those, keys with an expiry.
    pub(crate) cold_volatile: usize,
    /// Where active expiry resumes its walk of the cold keys (a reversed hash).
    pub(crate) cold_cursor: u64,
    /// Counters bumped by every write to this shard's part of the cold tier, one per stripe of
    /// keys (by hash), so a value read ahead (the prefetch probe) is used only if nothing of
    /// its stripe changed since. Striped because spills go on all the time under memory
    /// pressure: with one counter, most reads ahead were stale before their command ran.
    cold_epochs: Box<[u64; EPOCH_STRIPES]>,
    /// This shard's namespace in the cold tier; a flush gives it a new one.
    pub(crate) ns: u32,
    pub(crate) tier: Option<std::sync::Arc<crate::tier::Tier>>,
    /// Set when a key is added; cleared by the eviction walk when it finds the shard empty.
    /// Read without the lock, so eviction skips empty shards (and databases) cheaply. It
    /// belongs to the shard's slot in its database: SWAPDB swaps it back.
    pub(crate) occupied: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// How many of its database's shards have `occupied` set (changed only as a flag flips,
    /// under that shard's lock).
    pub(crate) db_occupied: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Stripes of [`Shard::cold_epoch`].
const EPOCH_STRIPES: usize = 64;

fn stripe(hash: u64) -> usize {
    // The top bits: the table's bucket index uses the low ones.
    (hash >> 58) as usize % EPOCH_STRIPES
}

impl Shard {
    pub(crate) fn new(
        tier: Option<std::sync::Arc<crate::tier::Tier>>,
        occupied: std::sync::Arc<std::sync::atomic::AtomicBool>,
        db_occupied: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> Shard {
        Shard {
            occupied,
            db_occupied,
            dict: dict::Dict::with_hasher(Hasher::default()),
            volatile: 0,
            hfe: 0,
            used: 0,
            expire_cursor: 0,
            hits: 0,
            misses: 0,
            expired: 0,
            cold: 0,
            cold_volatile: 0,
            cold_cursor: 0,
            cold_epochs: Box::new([0; EPOCH_STRIPES]),
            ns: tier.as_ref().map_or(0, |t| t.new_ns()),
            tier,
        }
    }

    /// Sets or clears the occupancy flag, keeping the database's count in step. Call with
    /// the shard locked.
    pub(crate) fn set_occupied(&self, on: bool) {
        if self.occupied.swap(on, Ordering::Relaxed) != on {
            if on {
                self.db_occupied.fetch_add(1, Ordering::Relaxed);
            } else {
                self.db_occupied.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Keys held only in the cold tier.
    pub fn cold(&self) -> usize {
        self.cold
    }

    /// The cold-tier write counter of the stripe of keys whose table hash is `hash`.
    pub(crate) fn cold_epoch(&self, hash: u64) -> u64 {
        self.cold_epochs[stripe(hash)]
    }

    /// Records a write to the cold copy of a key whose table hash is `hash`.
    pub(crate) fn bump_cold_epoch(&mut self, hash: u64) {
        self.cold_epochs[stripe(hash)] += 1;
    }

    /// Deletes the cold copy of a hot key that has one, before the key changes.
    fn drop_cold_copy(&mut self, key: &[u8]) {
        let hash = self.dict.hash_key(key);
        self.bump_cold_epoch(hash);
        if let Some(t) = &self.tier {
            if let Err(e) = t.store.delete(self.ns, hash, key) {
                t.error("deleting a cold copy", e);
            }
        }
    }

    /// The cold tier's copy of a key that is not hot, as stored (header and body).
    pub(crate) fn cold_stored(&self, key: &[u8]) -> Option<Vec<u8>> {
        let t = self.tier.as_ref()?;
        if self.cold == 0 || self.dict.get(key).is_some() {
            return None;
        }
        match t.store.get(self.ns, self.dict.hash_key(key), key) {
            Ok(v) => v,
            Err(e) => {
                t.error("reading a cold key", e);
                None
            }
        }
    }

    /// Visits the keys held only in the cold tier, decoded, in stored order; `f` returns false
    /// to stop. A value that cannot be decoded is an error: a snapshot must not skip keys.
    pub(crate) fn for_each_cold(
        &self,
        eng: &Engine,
        mut f: impl FnMut(&[u8], Entry) -> bool,
    ) -> Result<(), String> {
        let Some(t) = &self.tier else {
            return Ok(());
        };
        if self.cold == 0 {
            return Ok(());
        }
        let mut bad = None;
        t.store
            .range(self.ns, 0, None, |k, v| {
                if self.dict.get(k).is_some() {
                    return true;
                }
                match crate::tier::codec::decode(v, eng) {
                    Ok(e) => f(k, e),
                    Err(e) => {
                        bad = Some(e);
                        false
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        bad.map_or(Ok(()), Err)
    }

    /// Visits the live (unexpired) keys held only in the cold tier whose reversed hashes are
    /// in `[from, to)` (to the end when `to` is None), with their types, reading headers only.
    pub(crate) fn cold_range(
        &self,
        from: u64,
        to: Option<u64>,
        now: u64,
        mut f: impl FnMut(&[u8], crate::types::Kind),
    ) {
        let Some(t) = &self.tier else {
            return;
        };
        if self.cold == 0 {
            return;
        }
        let r = t.store.range(self.ns, from, to, |k, v| {
            if !crate::tier::codec::is_expired(v, now) && self.dict.get(k).is_none() {
                if let Some(kind) = crate::tier::codec::kind(v) {
                    f(k, kind);
                }
            }
            true
        });
        if let Err(e) = r {
            t.error("reading a range of cold keys", e);
        }
    }

    /// A live cold-only key at or after reversed hash `rhash` (wrapping), if one is found
    /// within a few tries.
    pub(crate) fn random_cold(&self, rhash: u64, now: u64) -> Option<Vec<u8>> {
        let t = self.tier.as_ref()?;
        if self.cold == 0 {
            return None;
        }
        let mut found = None;
        let mut tries = 0;
        let mut visit = |k: &[u8], v: &[u8], found: &mut Option<Vec<u8>>| {
            tries += 1;
            if !crate::tier::codec::is_expired(v, now) && self.dict.get(k).is_none() {
                *found = Some(k.to_vec());
                return false;
            }
            tries < 16
        };
        let mut r = t
            .store
            .range(self.ns, rhash, None, |k, v| visit(k, v, &mut found));
        if r.is_ok() && found.is_none() && rhash != 0 {
            r = t
                .store
                .range(self.ns, 0, Some(rhash), |k, v| visit(k, v, &mut found));
        }
        if let Err(e) = r {
            t.error("reading a random cold key", e);
        }
        found
    }

    /// Brings a cold key into the table as a clean shadow (its cold copy stays). Call with the
    /// shard's snapshot state taken care of. Returns whether the key was cold.
    pub(crate) fn fault_in(&mut self, key: &[u8], eng: &Engine) -> bool {
        let Some(t) = self.tier.clone() else {
            return false;
        };
        if self.cold == 0 || self.dict.get(key).is_some() {
            return false;
        }
        let t0 = std::time::Instant::now();
        let hash = self.dict.hash_key(key);
        let cold_key = crate::tier::cold::cold_key(self.ns, hash, key);
        // The connection may have read it a moment ago (its prefetch probe), with nothing in
        // this shard's cold tier changed since.
        let stored = match crate::tier::stash_take(&cold_key, self.cold_epoch(hash)) {
            Some(v) => {
                t.stats.reads_ahead_used.fetch_add(1, Ordering::Relaxed);
                v
            }
            None => match t
                .store
                .read_counted(&cold_key, &t.stats.sync_reads, <[u8]>::to_vec)
            {
                Ok(v) => v,
                Err(e) => {
                    t.error("reading a cold key", e);
                    None
                }
            },
        };
        t.read_latency.record(t0.elapsed());
        let Some(stored) = stored else {
            t.stats.cold_misses.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        t.stats.cold_reads.fetch_add(1, Ordering::Relaxed);
        let mut e = match crate::tier::codec::decode(&stored, eng) {
            Ok(e) => e,
            Err(err) => {
                t.error("decoding a cold value", err);
                return false;
            }
        };
        e.value.set_cold(true);
        self.cold -= 1;
        if e.expire_at != 0 {
            self.cold_volatile = self.cold_volatile.saturating_sub(1);
        }
        self.insert(key, e);
        true
    }

    /// Moves a hot key to the cold tier: a shadow is just dropped, anything else is written
    /// first. Logs nothing (the log already holds the key). Returns the bytes freed, or None
    /// when the key is not hot or the write failed.
    pub(crate) fn spill(&mut self, key: &[u8]) -> Option<usize> {
        let t = self.tier.clone()?;
        let e = self.dict.get(key)?;
        let bytes = entry_bytes(key.len(), e);
        if e.value.has_cold() {
            t.stats.clean_drops.fetch_add(1, Ordering::Relaxed);
        } else {
            let stored = crate::tier::codec::encode(e, bytes);
            let hash = self.dict.hash_key(key);
            self.bump_cold_epoch(hash);
            if !t.active() {
                t.spilled.store(true, Ordering::Relaxed);
            }
            let len = stored.len();
            if let Err(err) = t.store.put(self.ns, hash, key, stored) {
                t.error("spilling a key", err);
                return None;
            }
            t.stats.spills.fetch_add(1, Ordering::Relaxed);
            t.stats
                .spilled_bytes
                .fetch_add(len as u64, Ordering::Relaxed);
        }
        let e = self.take(key)?;
        self.cold += 1;
        if e.expire_at != 0 {
            self.cold_volatile += 1;
        }
        crate::keyspace::keys::free_value(e.value);
        Some(bytes)
    }

    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn volatile(&self) -> usize {
        self.volatile
    }

    pub fn used(&self) -> usize {
        self.used
    }

    pub(crate) fn insert(&mut self, key: &[u8], entry: Entry) {
        if !self.occupied.load(Ordering::Relaxed) {
            self.set_occupied(true);
        }
        self.used += entry_bytes(key.len(), &entry);
        if entry.expire_at != 0 {
            self.volatile += 1;
        }
        if entry.value.has_field_ttls() {
            self.hfe += 1;
        }
        if let Some(old) = self.dict.get_mut(key) {
            let old = std::mem::replace(old, entry);
            if old.value.has_cold() {
                self.drop_cold_copy(key);
            }
            self.forget(key.len(), &old);
        } else {
            self.dict.insert(key.into(), entry);
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let mut e = self.take(key)?;
        if e.value.has_cold() {
            self.drop_cold_copy(key);
            e.value.set_cold(false);
        }
        Some(e)
    }

    /// Takes a hot entry out of the table and its accounting (a cold copy is the caller's).
    fn take(&mut self, key: &[u8]) -> Option<Entry> {
        let (k, e) = self.dict.remove(key)?;
        self.forget(k.len(), &e);
        self.dict.shrink_if_needed();
        Some(e)
    }

    fn forget(&mut self, key_len: usize, e: &Entry) {
        self.used = self.used.saturating_sub(entry_bytes(key_len, e));
        if e.expire_at != 0 {
            self.volatile = self.volatile.saturating_sub(1);
        }
        if e.value.has_field_ttls() {
            self.hfe = self.hfe.saturating_sub(1);
        }
    }

    /// Applies `f` to the entry, keeping the accounting right whatever `f` changes.
    pub(crate) fn update<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        if self.dict.get(key)?.value.has_cold() {
            // The change may make the copy stale: it goes first.
            self.drop_cold_copy(key);
            if let Some(e) = self.dict.get_mut(key) {
                e.value.set_cold(false);
            }
        }
        let e = self.dict.get_mut(key)?;
        let before = entry_bytes(key.len(), e);
        let had_ttl = e.expire_at != 0;
        let had_hfe = e.value.has_field_ttls();
        let r = f(e);
        match (had_hfe, e.value.has_field_ttls()) {
            (false, true) => self.hfe += 1,
            (true, false) => self.hfe = self.hfe.saturating_sub(1),
            _ => {}
        }
        let after = entry_bytes(key.len(), e);
        let has_ttl = e.expire_at != 0;
        self.used = (self.used + after).saturating_sub(before);
        match (had_ttl, has_ttl) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile = self.volatile.saturating_sub(1),
            _ => {}
        }
        Some(r)
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.dict.get(key)
    }

    pub(crate) fn clear(&mut self) -> dict::Dict<Entry, Hasher> {
        if let Some(t) = &self.tier {
            // The table's hasher is replaced: the victim's hash would name no key.
            t.forget_victim();
            t.store.delete_ns(self.ns);
            self.ns = t.new_ns();
            self.cold_epochs.iter_mut().for_each(|e| *e += 1);
            self.cold = 0;
            self.cold_volatile = 0;
            self.cold_cursor = 0;
        }
        self.volatile = 0;
        self.hfe = 0;
        self.used = 0;
        self.expire_cursor = 0;
        std::mem::replace(&mut self.dict, dict::Dict::with_hasher(Hasher::default()))
    }
}

/// A database: a fixed, power-of-two number of shards.
pub struct Db {
    pub(crate) shards: Box<[Mutex<Shard>]>,
    /// Each shard's `occupied` flag, readable without its lock.
    pub(crate) occupied: Box<[std::sync::Arc<std::sync::atomic::AtomicBool>]>,
    /// How many of those are set: 0 lets eviction skip the whole database.
    pub(crate) occupied_shards: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Db {
    pub(crate) fn new(shards: usize, tier: Option<&std::sync::Arc<crate::tier::Tier>>) -> Db {
        let occupied: Box<[_]> = (0..shards).map(|_| Default::default()).collect();
        let occupied_shards = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Db {
            shards: occupied
                .iter()
                .map(|o| {
                    Mutex::new(Shard::new(
                        tier.cloned(),
                        std::sync::Arc::clone(o),
                        occupied_shards.clone(),
                    ))
                })
                .collect(),
            occupied,
            occupied_shards,
        }
    }

    /// Whether shard `si` may hold keys (false only when it was found empty since the last
    /// insert).
    pub(crate) fn maybe_occupied(&self, si: usize) -> bool {
        self.occupied[si].load(Ordering::Relaxed)
    }

    pub fn shard_of(&self, key: &[u8]) -> usize {
        slot::key_slot(key) as usize & (self.shards.len() - 1)
    }

    /// Keys in both tiers.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.len() + s.cold
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tries this many times, with a CPU pause between tries, before a contended shard lock puts
/// the thread to sleep. Shard locks are held for about a microsecond, so on a hot key (every
/// worker thread hitting one shard) a short spin usually wins the lock without the two
/// futex system calls and the context switch that parking costs.
const SHARD_SPIN: u32 = 64;

fn lock_shard(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    for _ in 0..SHARD_SPIN {
        if let Some(g) = m.try_lock() {
            return g;
        }
        std::hint::spin_loop();
    }
    m.lock()
}

/// How a write treats the key's existing expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Keep the expiry the key had (SET KEEPTTL, SETRANGE, INCR...).
    Keep,
    /// The new value has no expiry (a plain SET).
    Clear,
    /// Expire at this unix time in ms.
    At(u64),
}

/// Locked access to the keys of one command in one database.
pub struct Guard<'a> {
    pub(crate) eng: &'a Engine,
    pub db: usize,
    pub now: u64,
    /// Whether reads update the access clock (CLIENT NO-TOUCH turns it off).
    pub touch: bool,
    effects: &'a mut Effects,
    locks: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    /// Keys this command faulted in from the cold tier (shard, key): admission decides at
    /// the end whether those only read stay in RAM.
    faulted: SmallVec<[(usize, Box<[u8]>); 0]>,
}

impl<'a> Guard<'a> {
    pub(crate) fn new(
        eng: &'a Engine,
        db: usize,
        keys: &[&[u8]],
        effects: &'a mut Effects,
    ) -> Guard<'a> {
        let d = &eng.dbs[db];
        let mut idx: SmallVec<[usize; 4]> = keys.iter().map(|k| d.shard_of(k)).collect();
        idx.sort_unstable();
        idx.dedup();
        let mut locks: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]> = idx
            .into_iter()
            .map(|i| (i, lock_shard(&d.shards[i])))
            .collect();
        // A background snapshot must see these shards as they were before this command.
        for (i, s) in locks.iter() {
            eng.before_shard_write(db, *i, s);
        }
        let mut faulted = SmallVec::new();
        if let Some(t) = eng
            .tier
            .as_ref()
            .filter(|t| t.active() && !effects.new_keys)
        {
            // Every key the command names is in RAM before it runs.
            for k in keys {
                let i = d.shard_of(k);
                let Some(pos) = locks.iter().position(|(s, _)| *s == i) else {
                    continue;
                };
                let shard = &mut locks[pos].1;
                t.sketch().record(shard.dict.hash_key(k));
                if shard.fault_in(k, eng) {
                    faulted.push((i, Box::from(*k)));
                }
            }
        }
        let now = effects.now.unwrap_or_else(|| eng.now_ms());
        Guard {
            eng,
            db,
            now,
            touch: true,
            effects,
            locks,
            faulted,
        }
    }

    /// At the end of a command: each key it faulted in and only read stays in RAM if
    /// admission lets it, or is dropped again (its cold copy is still current).
    fn settle_faulted(&mut self) {
        let Some(t) = self.eng.tier.clone() else {
            return;
        };
        for (i, key) in std::mem::take(&mut self.faulted) {
            let Some(pos) = self.locks.iter().position(|(s, _)| *s == i) else {
                continue;
            };
            let shard = &mut self.locks[pos].1;
            if !shard.dict.get(&key).is_some_and(|e| e.value.has_cold()) {
                // Written, deleted or expired: it is an ordinary hot key (or gone) now.
                continue;
            }
            if admit(&t, shard, &key) {
                t.stats.promotions.fetch_add(1, Ordering::Relaxed);
            } else {
                t.stats.admission_rejects.fetch_add(1, Ordering::Relaxed);
                shard.spill(&key);
            }
        }
    }

    fn shard(&mut self, key: &[u8]) -> &mut Shard {
        if self.locks.len() == 1 {
            debug_assert_eq!(self.locks[0].0, self.eng.dbs[self.db].shard_of(key));
            return &mut self.locks[0].1;
        }
        let i = self.eng.dbs[self.db].shard_of(key);
        let pos = self
            .locks
            .iter()
            .position(|(s, _)| *s == i)
            .expect("command touched a key its key spec did not declare");
        &mut self.locks[pos].1
    }

    /// Deletes the key if its TTL has passed, logging the deletion like Redis propagates a DEL.
    /// Returns true when the key is (now) absent.
    fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let now = self.now;
        let shard = self.shard(key);
        match shard.get(key) {
            None => true,
            Some(e) if e.is_expired(now) => {
                shard.remove(key);
                shard.expired += 1;
                let db = self.db as u32;
                self.log_quiet(Effect::Del {
                    db,
                    key: key.to_vec(),
                });
                self.eng.watch.touch_expired(self.db, key);
                self.eng
                    .notify(self.db, crate::notify::class::EXPIRED, "expired", key);
                true
            }
            Some(_) => false,
        }
    }

    /// The key's hash in its shard's table (what the admission sketch counts it under).
    pub fn hash_of(&mut self, key: &[u8]) -> u64 {
        self.shard(key).dict.hash_key(key)
    }

    /// Looks a key up for reading: expires it lazily, counts a keyspace hit or miss and updates
    /// its access clock.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        let touch = self.touch;
        self.lookup(key, touch)
    }

    /// A read lookup that counts a hit or miss but leaves the access clock alone (TYPE, TTL,
    /// OBJECT, EXISTS use it, as in Redis).
    pub fn get_notouch(&mut self, key: &[u8]) -> Option<&Entry> {
        self.lookup(key, false)
    }

    fn lookup(&mut self, key: &[u8], touch: bool) -> Option<&Entry> {
        if self.expire_if_needed(key) {
            self.shard(key).misses += 1;
            self.eng
                .notify(self.db, crate::notify::class::KEY_MISS, "keymiss", key);
            return None;
        }
        let clock = if touch {
            Some(self.eng.access_clock_at(self.now))
        } else {
            None
        };
        let shard = self.shard(key);
        shard.hits += 1;
        let e = shard.dict.get_mut(key)?;
        if let Some(clock) = clock {
            // The access clock has no bearing on the entry's size: no accounting needed.
            e.value.set_access(clock.touched(e.value.access()));
        }
        Some(e)
    }

    /// Looks several keys up together for a command that combines their values (SINTER,
    /// ZUNION...): each is expired lazily and counted as `get` does, then all are borrowed at
    /// once, so nothing has to be copied.
    pub fn get_many(&mut self, keys: &[&[u8]]) -> Vec<Option<&Entry>> {
        for k in keys {
            let _ = self.get(k);
        }
        keys.iter().map(|k| self.shard_ref(k).get(k)).collect()
    }

    fn shard_ref(&self, key: &[u8]) -> &Shard {
        let i = self.eng.dbs[self.db].shard_of(key);
        let pos = self
            .locks
            .iter()
            .position(|(s, _)| *s == i)
            .expect("command touched a key its key spec did not declare");
        &self.locks[pos].1
    }

    /// Looks a key up for writing: lazy expiry, no hit/miss accounting.
    pub fn peek(&mut self, key: &[u8]) -> Option<&Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        self.shard(key).get(key)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// Stores a value, replacing whatever the key held.
    pub fn set(&mut self, key: &[u8], mut value: Value, ttl: Ttl) {
        let now = self.now;
        let clock = self.eng.access_clock_at(now);
        let notifying = self.eng.notifying();
        let shard = self.shard(key);
        // Under an LFU policy an overwritten key keeps its counter (touched by this write), as
        // Redis's dbOverwrite keeps the old object's; otherwise the value starts afresh.
        let access = match shard.get(key).filter(|e| clock.lfu && !e.is_expired(now)) {
            Some(e) => clock.touched(e.value.access()),
            None => clock.new_entry(),
        };
        let expire_at = match ttl {
            Ttl::Keep => shard
                .get(key)
                .filter(|e| !e.is_expired(now))
                .map_or(0, |e| e.expire_at),
            Ttl::Clear => 0,
            Ttl::At(t) => t,
        };
        value.set_access(access);
        // A value copied from a shadowed key (COPY, MOVE, RENAME) has no copy of its own.
        value.set_cold(false);
        // Only looked for when a notification may be published (a lookup per write).
        let new = notifying && shard.get(key).is_none();
        shard.insert(key, Entry { value, expire_at });
        self.eng.watch.touch(self.db, key);
        if new {
            self.eng
                .notify(self.db, crate::notify::class::NEW, "new", key);
        }
    }

    /// Removes a live key; an already expired key counts as absent (and is expired).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.expire_if_needed(key) {
            return None;
        }
        let e = self.shard(key).remove(key);
        if e.is_some() {
            self.eng.watch.touch(self.db, key);
        }
        e
    }

    /// Changes a live key's value in place; the closure sees the value only while the shard is locked.
    pub fn modify<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        if self.expire_if_needed(key) {
            return None;
        }
        // A write is an access, as Redis's lookupKeyWrite counts it; and a closure that replaces
        // the value must not reset the key's access clock.
        let clock = self.eng.access_clock_at(self.now);
        let touch = self.touch;
        let r = self.shard(key).update(key, |e| {
            let access = e.value.access();
            let r = f(&mut e.value);
            e.value
                .set_access(if touch { clock.touched(access) } else { access });
            r
        });
        if r.is_some() {
            self.eng.watch.touch(self.db, key);
        }
        r
    }

    /// Sets or clears (0) a live key's expiry. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        if self.expire_if_needed(key) {
            return false;
        }
        let done = self.shard(key).update(key, |e| e.expire_at = at).is_some();
        if done {
            self.eng.watch.touch(self.db, key);
        }
        done
    }

    /// Records an effect for the write-ahead log. The effect is built only when something will
    /// read it (a sink is installed); otherwise the write is just counted as a change.
    pub fn log(&mut self, e: impl FnOnce() -> Effect) {
        if self.eng.notifying() {
            let e = e();
            self.eng.notify_effect(self.effects.cmd, &e);
            self.log_quiet(e);
        } else if self.eng.recording() {
            self.effects.list.push(e());
        } else {
            self.eng.stats.dirty.add(1);
        }
    }

    /// Logs an effect whose event the caller publishes itself (an expiry).
    fn log_quiet(&mut self, e: Effect) {
        if self.eng.recording() {
            self.effects.list.push(e);
        } else {
            self.eng.stats.dirty.add(1);
        }
    }
}

/// TinyLFU admission of a faulted key: free while memory is not short; under pressure, only
/// if it has been asked for more often lately than the last key eviction spilled, which
/// stands for the key it would push out. Without a victim that stands (none yet, or it has
/// served [`crate::tier::VICTIM_USES`] decisions, or it is the key itself), the least
/// frequent of a few keys of the shard stands in.
fn admit(t: &crate::tier::Tier, shard: &Shard, key: &[u8]) -> bool {
    if t.admission() == crate::tier::Admission::Always || !t.pressure.load(Ordering::Relaxed) {
        return true;
    }
    let hash = shard.dict.hash_key(key);
    let candidate = t.sketch().frequency(hash);
    // The victim itself, read again, is judged against others.
    if let Some(v) = t.last_victim().filter(|&v| v != hash) {
        return candidate > t.sketch().frequency(v);
    }
    let mut victim: Option<u8> = None;
    let mut rng = rand::thread_rng();
    let mut next = || rand::Rng::gen::<u64>(&mut rng);
    shard.dict.sample(5, &mut next, |k, _| {
        if k != key {
            let f = t.sketch().frequency(shard.dict.hash_key(k));
            victim = Some(victim.map_or(f, |v| v.min(f)));
        }
    });
    victim.is_none_or(|v| candidate > v)
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.faulted.is_empty() {
            self.settle_faulted();
        }
        // Effects reach the log while the shards are still locked, so two writes to one key are
        // logged in the order they were applied.
        if !self.effects.deferred {
            self.eng.commit(&mut self.effects.list);
        }
    }
}
