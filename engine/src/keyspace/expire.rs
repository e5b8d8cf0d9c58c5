//! Active expiry: keys nobody reads again must still be reclaimed.
//!
//! Redis samples its separate `expires` dictionary. Strata keeps the expiry inside the entry
//! (no second table, no second copy of the key), so instead each shard walks its table with a
//! SCAN cursor a slice at a time and deletes expired keys it meets; a shard without TTLs is
//! skipped outright. Like Redis, a tick has a time budget, and a shard where many of the checked
//! keys had expired is walked further in the same tick.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::effect::Effect;
use crate::Engine;

/// Buckets visited per step of the walk in one shard.
const BUCKETS_PER_STEP: usize = 64;
/// Cold keys whose headers one tick reads in one shard.
const COLD_PER_TICK: usize = 256;
/// Buckets one step of active rehashing moves before it looks at the clock (Redis: 100).
const REHASH_STEP: usize = 100;

impl Engine {
    /// Runs one active-expiry tick within `budget`. Returns the number of keys deleted.
    pub fn active_expire_cycle(&self, budget: Duration) -> usize {
        let start = Instant::now();
        let mut deleted = 0;
        let nshards = self.dbs.first().map_or(0, |d| d.shards.len());
        let first = self.expire_rotor.fetch_add(1, Ordering::Relaxed);
        for step in 0..self.dbs.len() * nshards {
            if start.elapsed() >= budget {
                break;
            }
            let n = (first + step) % (self.dbs.len() * nshards);
            let (db, si) = (n / nshards, n % nshards);
            deleted += self.expire_shard(db, si, start, budget);
        }
        deleted
    }

    /// Moves the buckets of resizing shard tables within `budget` (Redis's `activerehashing`):
    /// a table only rehashes a bucket per write otherwise, so one that stops being written
    /// mid-resize (a shrink after most keys spilled or were deleted) would keep both tables
    /// allocated, and sampling for eviction would crawl its empty old buckets. True when every
    /// table it could lock is done resizing.
    pub fn active_rehash(&self, budget: Duration) -> bool {
        let start = Instant::now();
        let nshards = self.dbs.first().map_or(0, |d| d.shards.len());
        let total = self.dbs.len() * nshards;
        // Each tick starts where the last one ran out of time.
        let first = self.rehash_rotor.load(Ordering::Relaxed);
        for step in 0..total {
            let n = (first + step) % total;
            let (db, si) = (n / nshards, n % nshards);
            if !self.dbs[db].maybe_occupied(si) {
                continue;
            }
            if start.elapsed() >= budget {
                self.rehash_rotor.store(n, Ordering::Relaxed);
                return false;
            }
            // A shard in use is left for the next tick (its own writes rehash it meanwhile).
            let Some(mut shard) = self.dbs[db].shards[si].try_lock() else {
                continue;
            };
            while shard.dict.rehash_step(REHASH_STEP) {
                if start.elapsed() >= budget {
                    self.rehash_rotor.store(n, Ordering::Relaxed);
                    return false;
                }
            }
        }
        true
    }

    /// Reclaims expired keys of the cold tier, walking a shard's cold keys a slice per tick
    /// from where the last tick stopped. Each is deleted and its `Del` logged, exactly as a
    /// hot key's expiry is, so replay never depends on when a key left RAM.
    fn expire_cold(&self, db: usize, shard: &mut crate::keyspace::Shard) -> usize {
        let Some(t) = shard.tier.clone() else {
            return 0;
        };
        if shard.cold_volatile == 0 {
            return 0;
        }
        let now = self.now_ms();
        let mut expired: Vec<Vec<u8>> = Vec::new();
        let mut seen = 0;
        let mut next = None;
        let r = t.store.range(shard.ns, shard.cold_cursor, None, |k, v| {
            seen += 1;
            if seen > COLD_PER_TICK {
                next = Some(shard.dict.hash_key(k).reverse_bits());
                return false;
            }
            if crate::tier::codec::is_expired(v, now) && shard.dict.get(k).is_none() {
                expired.push(k.to_vec());
            }
            true
        });
        if let Err(e) = r {
            t.error("walking cold keys for expiry", e);
            return 0;
        }
        let mut effects = Vec::with_capacity(expired.len());
        for k in &expired {
            let hash = shard.dict.hash_key(k);
            shard.bump_cold_epoch(hash);
            if let Err(e) = t.store.delete(shard.ns, hash, k) {
                t.error("deleting an expired cold key", e);
                continue;
            }
            shard.cold -= 1;
            shard.cold_volatile = shard.cold_volatile.saturating_sub(1);
            shard.expired += 1;
            self.watch.touch_expired(db, k);
            self.notify(db, crate::notify::class::EXPIRED, "expired", k);
            effects.push(Effect::Del {
                db: db as u32,
                key: k.clone(),
            });
        }
        // Resume where the slice stopped, or from the start once the walk reached the end.
        shard.cold_cursor = next.unwrap_or(0);
        let n = effects.len();
        self.commit(&mut effects);
        n
    }

    fn expire_shard(&self, db: usize, si: usize, start: Instant, budget: Duration) -> usize {
        // Under the shared gate, so nothing expires while a transaction (which holds the gate
        // exclusively and runs at a frozen clock) is in progress.
        let _gate = self.gate_shared();
        let mut shard = self.dbs[db].shards[si].lock();
        self.before_shard_write(db, si, &shard);
        let mut deleted = self.expire_cold(db, &mut shard);
        loop {
            if (shard.volatile == 0 && shard.hfe == 0) || shard.is_empty() {
                return deleted;
            }
            let now = self.now_ms();
            let mut checked = 0usize;
            let mut expired: Vec<Box<[u8]>> = Vec::new();
            let mut with_fields: Vec<Box<[u8]>> = Vec::new();
            let mut cursor = shard.expire_cursor;
            for _ in 0..BUCKETS_PER_STEP {
                cursor = shard.dict.scan(cursor, |k, e| {
                    if e.expire_at != 0 {
                        checked += 1;
                        if e.is_expired(now) {
                            expired.push(k.into());
                            return;
                        }
                    }
                    if e.value.has_field_ttls() {
                        with_fields.push(k.into());
                    }
                });
                if cursor == 0 {
                    break;
                }
            }
            shard.expire_cursor = cursor;
            let mut effects = Vec::with_capacity(expired.len());
            for k in expired.iter() {
                shard.remove(k);
                self.watch.touch_expired(db, k);
                self.notify(db, crate::notify::class::EXPIRED, "expired", k);
                effects.push(Effect::Del {
                    db: db as u32,
                    key: k.to_vec(),
                });
            }
            let before = effects.len();
            for k in with_fields.iter() {
                deleted += crate::types::hash::expire_fields(&mut shard, db, k, now, &mut effects);
                if shard.get(k).is_none() {
                    self.watch.touch_expired(db, k);
                } else {
                    self.watch.touch(db, k);
                }
            }
            if self.notifying() {
                for e in &effects[before..] {
                    self.notify_effect("", e);
                }
            }
            deleted += expired.len();
            shard.expired += expired.len() as u64;
            self.commit(&mut effects);
            // Keep going in this shard only while it is worth it (over 10% of checked keys had
            // expired, as Redis's ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE) and time remains.
            let worth_it = checked > 0 && expired.len() * 10 > checked;
            if !worth_it || cursor == 0 || start.elapsed() >= budget {
                return deleted;
            }
        }
    }
}
