//! TinyLFU admission: how often a key has been asked for lately, in a few bits per key, so
//! a key read once (a scan) cannot push out keys read again and again.
//!
//! A count-min sketch of 4-bit counters, four per key, all in one 64-byte block (one cache
//! miss per access), as Caffeine lays it out. In front of it a doorkeeper, a small bloom
//! filter: a key's first access only sets its doorkeeper bits, so keys seen once never
//! reach the counters. After `sample` recorded accesses every counter is halved and the
//! doorkeeper cleared (aging), so the sketch follows what is popular now. Counters are
//! atomics updated with relaxed operations: concurrent access may lose an increment, which
//! an estimate tolerates.

use std::sync::atomic::{AtomicU64, Ordering};

/// Words per block: 8 × 8 bytes, one cache line.
const BLOCK_WORDS: usize = 8;
/// Each counter is 4 bits and saturates here.
const MAX_COUNT: u64 = 15;
/// Halves every counter of a word at once.
const HALF_MASK: u64 = 0x7777_7777_7777_7777;

/// A frequency sketch with a doorkeeper.
pub struct FrequencySketch {
    table: Box<[AtomicU64]>,
    block_mask: usize,
    door: Box<[AtomicU64]>,
    door_mask: u64,
    /// Accesses recorded since the last aging.
    size: AtomicU64,
    /// Aging happens after this many.
    sample: u64,
}

/// Spreads a key hash so the block choice, the counters and the doorkeeper bits use
/// independent bits.
fn rehash(h: u64) -> u64 {
    let mut x = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 32;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^ (x >> 29)
}

impl FrequencySketch {
    /// A sketch sized for about `capacity` keys (at least 1024): 4 bits × 4 per key at
    /// half a word per key, and a doorkeeper of 8 bits per key.
    pub fn new(capacity: usize) -> FrequencySketch {
        let capacity = capacity.max(1024);
        let words = (capacity / 2).next_power_of_two().max(BLOCK_WORDS);
        let blocks = words / BLOCK_WORDS;
        let door_bits = (capacity * 8).next_power_of_two();
        FrequencySketch {
            table: (0..words).map(|_| AtomicU64::new(0)).collect(),
            block_mask: blocks - 1,
            door: (0..door_bits / 64).map(|_| AtomicU64::new(0)).collect(),
            door_mask: door_bits as u64 - 1,
            size: AtomicU64::new(0),
            sample: 10 * capacity as u64,
        }
    }

    /// A sketch for `keys` distinct keys that ages after `sample` accesses (TinyLFU's rule
    /// of thumb: ten times the number of entries the cache holds).
    pub fn with_sample(keys: usize, sample: u64) -> FrequencySketch {
        let mut s = FrequencySketch::new(keys);
        s.sample = sample.max(1);
        s
    }

    /// Heap bytes (charged to the hot tier's memory).
    pub fn heap_bytes(&self) -> usize {
        (self.table.len() + self.door.len()) * 8
    }

    /// The word and nibble of counter `i` (0..4) of a rehashed key.
    fn slot(&self, h: u64, i: u32) -> (usize, u32) {
        let block = (h as usize) & self.block_mask;
        let word = block * BLOCK_WORDS + (i as usize) * 2 + ((h >> (32 + i)) & 1) as usize;
        let nibble = ((h >> (40 + 4 * i)) & 15) as u32;
        (word, nibble)
    }

    /// The doorkeeper word of a rehashed key and its two bits in it. Both bits in one word
    /// make a doorkeeper access one cache miss, not two, for a slightly higher false
    /// positive rate (a blocked bloom filter).
    fn door_slot(&self, h: u64) -> (usize, u64) {
        let d = (h ^ 0x5BD1_E995).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        let d = d ^ (d >> 33);
        let word = (d & (self.door_mask >> 6)) as usize;
        let bits = (1u64 << ((d >> 52) & 63)) | (1u64 << ((d >> 58) & 63));
        (word, bits)
    }

    fn door_contains(&self, h: u64) -> bool {
        let (word, bits) = self.door_slot(h);
        self.door[word].load(Ordering::Relaxed) & bits == bits
    }

    /// Sets the doorkeeper bits; true if they were all set already.
    fn door_put(&self, h: u64) -> bool {
        let (word, bits) = self.door_slot(h);
        let w = &self.door[word];
        // Set already (a key asked for again): read, and leave the line unwritten.
        w.load(Ordering::Relaxed) & bits == bits
            || w.fetch_or(bits, Ordering::Relaxed) & bits == bits
    }

    /// Records one access to the key with hash `key_hash`.
    pub fn record(&self, key_hash: u64) {
        let h = rehash(key_hash);
        if self.door_put(h) {
            let mut added = false;
            for i in 0..4 {
                let (w, n) = self.slot(h, i);
                let shift = 4 * n;
                let r = self.table[w].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    ((v >> shift) & 15 < MAX_COUNT).then(|| v + (1 << shift))
                });
                added |= r.is_ok();
            }
            if !added {
                // Every counter was saturated: nothing to count, no step towards aging.
                return;
            }
        }
        if self.size.fetch_add(1, Ordering::Relaxed) + 1 >= self.sample {
            self.age();
        }
    }

    /// The estimated recent frequency of a key: 0 to 16.
    pub fn frequency(&self, key_hash: u64) -> u8 {
        let h = rehash(key_hash);
        let counted = (0..4)
            .map(|i| {
                let (w, n) = self.slot(h, i);
                (self.table[w].load(Ordering::Relaxed) >> (4 * n)) & 15
            })
            .min()
            .unwrap_or(0) as u8;
        counted + self.door_contains(h) as u8
    }

    /// Halves every counter and clears the doorkeeper.
    fn age(&self) {
        let mut odd = 0u64;
        for w in self.table.iter() {
            let v = w.load(Ordering::Relaxed);
            odd += (v & 0x1111_1111_1111_1111).count_ones() as u64;
            w.store((v >> 1) & HALF_MASK, Ordering::Relaxed);
        }
        for d in self.door.iter() {
            d.store(0, Ordering::Relaxed);
        }
        let size = self.size.load(Ordering::Relaxed);
        self.size
            .store(size.saturating_sub(odd / 4) / 2, Ordering::Relaxed);
    }
}

/// TinyLFU's rule: a candidate gets in only if it has been asked for more often lately
/// than the key it would push out.
pub fn admit(sketch: &FrequencySketch, candidate: u64, victim: u64) -> bool {
    sketch.frequency(candidate) > sketch.frequency(victim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_saturate_and_age() {
        let s = FrequencySketch::new(1024);
        assert_eq!(s.frequency(42), 0);
        s.record(42);
        assert_eq!(
            s.frequency(42),
            1,
            "the first access only passes the doorkeeper"
        );
        for _ in 0..5 {
            s.record(42);
        }
        assert_eq!(s.frequency(42), 6);
        for _ in 0..100 {
            s.record(42);
        }
        assert_eq!(
            s.frequency(42),
            16,
            "15 in the counters, 1 from the doorkeeper"
        );
        s.age();
        assert_eq!(s.frequency(42), 7, "halved, doorkeeper cleared");
        assert!(s.heap_bytes() >= 512 * 8);
    }

    #[test]
    fn one_hit_keys_do_not_reach_the_counters() {
        let s = FrequencySketch::new(4096);
        for k in 0..4096u64 {
            s.record(k);
        }
        let hot = 1_000_000u64;
        for _ in 0..10 {
            s.record(hot);
        }
        // A key seen once estimates at most a little above 1 (collisions), the hot one high.
        let max_cold = (0..4096u64).map(|k| s.frequency(k)).max().unwrap_or(0);
        assert!(max_cold <= 3, "{max_cold}");
        assert!(s.frequency(hot) >= 9);
        assert!(admit(&s, hot, 7));
        assert!(!admit(&s, 7, hot));
    }

    #[test]
    fn aging_happens_after_the_sample() {
        let s = FrequencySketch::new(1024);
        for _ in 0..14 {
            s.record(1);
        }
        let before = s.frequency(1);
        // Enough accesses to other keys (none saturating: saturated counts do not advance
        // aging, as in Caffeine) to trigger an aging.
        for k in 0..(s.sample * 2) {
            s.record(1000 + (k % 5000));
        }
        assert!(s.frequency(1) < before, "{} !< {before}", s.frequency(1));
    }
}
