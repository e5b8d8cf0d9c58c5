//! The cold tier's store: one RocksDB instance holding the values spilled out of RAM.
//!
//! The directory is scratch space. The write-ahead log and the snapshot stay the only source
//! of truth, so the store is wiped at every start, RocksDB's own log is off, and nothing here
//! is ever fsynced. Every shard of every database owns a *namespace*, a number never reused
//! within a process; a cold key is stored under
//!
//! `ns u32 BE · rhash u64 BE · key`
//!
//! where `rhash` is the bit-reversed hash the shard's table gives the key. A shard's table
//! SCAN visits hashes in exactly that order (see `keyspace::dict`), so one numeric cursor
//! covers both tiers, and FLUSHDB drops a shard's cold keys with one range deletion.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::behind;

use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, Options, ReadOptions, ReadTier, WriteOptions, DB,
};

/// Bytes before the key in a stored key.
pub const KEY_PREFIX: usize = 12;

/// The stored key of `key` in namespace `ns`, whose table hash is `hash`.
pub fn cold_key(ns: u32, hash: u64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(KEY_PREFIX + key.len());
    k.extend_from_slice(&ns.to_be_bytes());
    k.extend_from_slice(&hash.reverse_bits().to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The first stored key of namespace `ns` at reversed hash `rhash` or after it.
fn bound(ns: u32, rhash: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(KEY_PREFIX);
    k.extend_from_slice(&ns.to_be_bytes());
    k.extend_from_slice(&rhash.to_be_bytes());
    k
}

/// Where a namespace's keys end (exclusive): the next namespace's start.
fn ns_end(ns: u32) -> Vec<u8> {
    match ns.checked_add(1) {
        Some(n) => n.to_be_bytes().to_vec(),
        // The last namespace runs to the end of the key space.
        None => vec![0xff; 5],
    }
}

/// The user key inside a stored key.
pub fn user_key(stored: &[u8]) -> &[u8] {
    &stored[KEY_PREFIX.min(stored.len())..]
}

/// The bit-reversed hash inside a stored key.
pub fn stored_rhash(stored: &[u8]) -> u64 {
    stored
        .get(4..KEY_PREFIX)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8")))
}

/// Memory RocksDB uses, as its properties report it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    pub block_cache: u64,
    pub block_cache_pinned: u64,
    pub memtables: u64,
    pub table_readers: u64,
}

impl Memory {
    pub fn total(&self) -> u64 {
        // Memtables are charged to the block cache (the write buffer manager), so they are
        // already inside its usage.
        self.block_cache + self.table_readers
    }
}

/// The RocksDB instance, its block cache, and the write-behind that every write goes through
/// (see [`super::behind`]): callers never wait for a RocksDB write.
pub struct ColdStore {
    db: Arc<DB>,
    cache: parking_lot::Mutex<Cache>,
    path: PathBuf,
    behind: Arc<behind::Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

/// The write-behind's buffer: a sixteenth of the cache, within [1 MiB, 16 MiB].
fn behind_limit(cache_bytes: usize) -> usize {
    (cache_bytes / 16).clamp(1 << 20, 16 << 20)
}

pub type Error = rocksdb::Error;

impl ColdStore {
    /// Opens an empty store at `path`, removing whatever an earlier process left there.
    /// `cache_bytes` bounds the block cache, which memtables are charged to as well.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<ColdStore, String> {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| {
                format!(
                    "cannot clear the cold tier's directory {}: {e}",
                    path.display()
                )
            })?;
        }
        let cache_bytes = cache_bytes.max(1 << 20);
        // Fewer, larger shards than RocksDB's default 64: a shard must hold a partition or a
        // data block with room to spare.
        let mut lru = rocksdb::LruCacheOptions::default();
        lru.set_capacity(cache_bytes);
        lru.set_num_shard_bits(4);
        let cache = Cache::new_lru_cache_opts(&lru);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        // Small data blocks: a point read that misses the cache copies and checksums one
        // block out of the page cache, and at 16 KiB that was 8% of a cold read's CPU.
        table.set_block_size(4 << 10);
        // About 7 bits a key for a 1% false positive rate: what keeps a lookup of a key that
        // is not cold (a new key, most writes) off the disk.
        table.set_ribbon_filter(10.0);
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_optimize_filters_for_memory(true);
        // Filters and indexes in 4 KiB partitions under a small top level kept in the cache.
        // Whole, a large file's filter is hundreds of KiB: more than the cache shard it falls
        // in can hold beside anything else, so it was evicted and read again from disk by
        // nearly every lookup of a key that is not cold (every new key a write creates).
        table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_metadata_block_size(4096);
        table.set_pin_top_level_index_and_filter(true);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        // Values arrive lz4-compressed already.
        opts.set_compression_type(DBCompressionType::None);
        opts.set_max_background_jobs(2);
        opts.set_max_open_files(1024);
        // Compactions and flushes run all the time while keys spill: keep their read-ahead
        // and write buffers small, since their memory is outside the block cache's bound.
        opts.set_compaction_readahead_size(256 << 10);
        opts.set_writable_file_max_buffer_size(256 << 10);
        opts.set_level_compaction_dynamic_level_bytes(true);
        let memtable = (cache_bytes / 8).clamp(1 << 20, 16 << 20);
        opts.set_write_buffer_size(memtable);
        opts.set_max_write_buffer_number(3);
        // A bloom filter over whole keys in each memtable: most point reads look for a key
        // that is in an SST file (or nowhere), and the filter spares them the skiplist search,
        // which was the largest cost of a cold read.
        opts.set_memtable_prefix_bloom_ratio(0.1);
        opts.set_memtable_whole_key_filtering(true);
        let wbm = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
            cache_bytes / 4,
            true,
            cache.clone(),
        );
        opts.set_write_buffer_manager(&wbm);
        // Opened with its default column family named, for the handle batched reads need.
        let default =
            rocksdb::ColumnFamilyDescriptor::new(rocksdb::DEFAULT_COLUMN_FAMILY_NAME, opts.clone());
        let db = DB::open_cf_descriptors(&opts, path, [default]).map_err(|e| {
            format!(
                "cannot open the cold tier's RocksDB at {}: {e}",
                path.display()
            )
        })?;
        let db = Arc::new(db);
        let shared = behind::Shared::new(behind_limit(cache_bytes));
        let writer = {
            let (db, shared) = (db.clone(), shared.clone());
            std::thread::Builder::new()
                .name("strata-tier-writer".into())
                .spawn(move || {
                    let mut write = WriteOptions::default();
                    write.disable_wal(true);
                    behind::run(&db, &write, &shared);
                })
                .map_err(|e| format!("cannot start the cold tier's writer thread: {e}"))?
        };
        Ok(ColdStore {
            db,
            cache: parking_lot::Mutex::new(cache),
            path: path.to_path_buf(),
            behind: shared,
            writer: Some(writer),
        })
    }

    /// The write-behind: what waits to be written, and its counters.
    pub fn behind(&self) -> &behind::Shared {
        &self.behind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, ns: u32, hash: u64, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.get_stored(&cold_key(ns, hash, key))
    }

    /// Reads `stored`, the write-behind first, and hands the stored bytes to `f`. With
    /// `may_block` false the read stays in memory: None when it would need the disk (or met
    /// another error, which the blocking read meets again).
    fn read<T>(
        &self,
        stored: &[u8],
        may_block: bool,
        f: impl Fn(&[u8]) -> T,
    ) -> Option<Result<Option<T>, Error>> {
        if let Some(waiting) = self.behind.get(stored) {
            return Some(Ok(waiting.map(|v| f(&v))));
        }
        let mut ro = ReadOptions::default();
        if !may_block {
            ro.set_read_tier(ReadTier::BlockCache);
        }
        match self.db.get_pinned_opt(stored, &ro) {
            Ok(v) => Some(Ok(v.map(|v| f(&v)))),
            Err(_) if !may_block => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// The value under an already built stored key ([`cold_key`]).
    pub fn get_stored(&self, stored: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.read(stored, true, <[u8]>::to_vec)
            .expect("a blocking read answers")
    }

    /// Reads several stored keys at once, the write-behind first, the rest in one batched
    /// RocksDB lookup (which shares each file's filter and index work among the keys).
    pub fn get_many(&self, stored: &[&[u8]]) -> Vec<Result<Option<Vec<u8>>, Error>> {
        let mut out: Vec<Option<Result<Option<Vec<u8>>, Error>>> = stored
            .iter()
            .map(|k| self.behind.get(k).map(|v| Ok(v.map(|v| v.to_vec()))))
            .collect();
        let wanted: Vec<usize> = (0..stored.len()).filter(|&i| out[i].is_none()).collect();
        let cf = self.db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME);
        // One key: a plain lookup, which a batch of one only adds setting up to. (The
        // write-behind was looked at above.)
        let (true, Some(cf)) = (wanted.len() > 1, cf) else {
            for i in wanted {
                out[i] = Some(self.db.get_pinned(stored[i]).map(|v| v.map(|v| v.to_vec())));
            }
            return out.into_iter().flatten().collect();
        };
        let read = self.db.batched_multi_get_cf_opt(
            cf,
            wanted.iter().map(|&i| stored[i]),
            false,
            &ReadOptions::default(),
        );
        for (i, r) in wanted.into_iter().zip(read) {
            out[i] = Some(r.map(|v| v.map(|v| v.to_vec())));
        }
        out.into_iter()
            .map(|r| r.expect("every key answered"))
            .collect()
    }

    /// A memory-only read: `Some` with the value (itself None when absent) if no I/O was
    /// needed, None if reading it would need the disk.
    pub fn get_in_memory(&self, stored: &[u8]) -> Option<Option<Vec<u8>>> {
        self.read(stored, false, <[u8]>::to_vec)?.ok()
    }

    /// Reads `stored` from memory if it can, else from disk, counting the read that needed the
    /// disk in `sync_reads` (the caller runs on an I/O thread, with no prefetch to use).
    pub fn read_counted<T>(
        &self,
        stored: &[u8],
        sync_reads: &std::sync::atomic::AtomicU64,
        f: impl Fn(&[u8]) -> T,
    ) -> Result<Option<T>, Error> {
        if let Some(Ok(v)) = self.read(stored, false, &f) {
            return Ok(v);
        }
        sync_reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.read(stored, true, f).expect("a blocking read answers")
    }

    /// Stores a value, seen by reads at once and written to RocksDB by the writer thread.
    /// Fails only when the writer is too far behind (see [`behind::FULL_WAIT`]).
    pub fn put(&self, ns: u32, hash: u64, key: &[u8], value: Vec<u8>) -> Result<(), String> {
        self.behind.write(cold_key(ns, hash, key), Some(value))
    }

    pub fn delete(&self, ns: u32, hash: u64, key: &[u8]) -> Result<(), String> {
        self.behind.write(cold_key(ns, hash, key), None)
    }

    /// Drops every key of namespace `ns`.
    pub fn delete_ns(&self, ns: u32) {
        self.behind
            .delete_range(ns.to_be_bytes().to_vec(), ns_end(ns));
    }

    /// Waits until every write made so far is in RocksDB: false if that failed or took over
    /// 30 s (see [`behind::Shared::flush`]).
    pub fn flush(&self) -> bool {
        self.behind.flush()
    }

    /// Visits the keys of `ns` whose reversed hash is in `[from, to)` (to the namespace's end
    /// when `to` is None), in order, with their stored values. `f` returns false to stop.
    pub fn range(
        &self,
        ns: u32,
        from: u64,
        to: Option<u64>,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), Error> {
        let (lo, hi) = (
            bound(ns, from),
            match to {
                Some(t) => bound(ns, t),
                None => ns_end(ns),
            },
        );
        // The writes still waiting, taken before the iterator opens (see `behind`); where
        // both have a key, the waiting write is the newer.
        let overlay = self.behind.range(&lo, &hi);
        let mut waiting = overlay.ops.iter().peekable();
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(hi);
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek(&lo);
        loop {
            let disk = if it.valid() { it.key() } else { None };
            let take_waiting = match (waiting.peek(), disk) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((w, _)), Some(d)) => &w[..] <= d,
            };
            if take_waiting {
                let (k, v) = waiting.next().expect("peeked");
                if disk == Some(&k[..]) {
                    it.next();
                }
                if let Some(v) = v {
                    if !f(user_key(k), v) {
                        return Ok(());
                    }
                }
                continue;
            }
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !overlay.hides(k) && !f(user_key(k), v) {
                return Ok(());
            }
            it.next();
        }
        it.status()
    }

    /// Writes everything waiting, then compacts everything (DEBUG TIER COMPACT; tests).
    pub fn compact(&self) {
        let _ = self.flush();
        self.db.compact_range::<&[u8], &[u8]>(None, None);
    }

    fn prop(&self, name: &str) -> u64 {
        self.db.property_int_value(name).ok().flatten().unwrap_or(0)
    }

    pub fn memory(&self) -> Memory {
        let cache = self.cache.lock();
        Memory {
            block_cache: cache.get_usage() as u64,
            block_cache_pinned: cache.get_pinned_usage() as u64,
            memtables: self.prop("rocksdb.cur-size-all-mem-tables"),
            table_readers: self.prop("rocksdb.estimate-table-readers-mem"),
        }
    }

    /// Bytes of live SST files and memtables: what the cold tier holds on disk (or soon will).
    pub fn disk_bytes(&self) -> u64 {
        self.prop("rocksdb.live-sst-files-size")
            + self.prop("rocksdb.cur-size-all-mem-tables")
            + self.behind.bytes() as u64
    }

    pub fn set_cache_capacity(&self, bytes: usize) {
        let bytes = bytes.max(1 << 20);
        self.cache.lock().set_capacity(bytes);
        self.behind.set_limit(behind_limit(bytes));
    }
}

impl Drop for ColdStore {
    fn drop(&mut self) {
        self.behind.stop();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_namespace_then_reversed_hash() {
        let a = cold_key(1, 0b01, b"zz");
        let b = cold_key(1, 0b10, b"aa");
        // Reversed, hash 0b10 has its top bits smaller than 0b01's.
        assert!(b < a);
        assert!(cold_key(1, u64::MAX, b"x") < cold_key(2, 0, b"x"));
        assert_eq!(user_key(&a), b"zz");
        assert_eq!(stored_rhash(&a), 1u64.reverse_bits());
    }

    #[test]
    fn put_get_delete_range_and_namespace_drop() {
        let dir = tempfile::tempdir().unwrap();
        let s = ColdStore::open(&dir.path().join("cold"), 8 << 20).unwrap();
        for i in 0..100u64 {
            let key = format!("k{i}");
            s.put(
                7,
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                key.as_bytes(),
                b"v".to_vec(),
            )
            .unwrap();
        }
        s.put(8, 5, b"other", b"w".to_vec()).unwrap();
        assert_eq!(
            s.get(7, 3u64.wrapping_mul(0x9e37_79b9_7f4a_7c15), b"k3")
                .unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(s.get(7, 3, b"k3").unwrap(), None);
        // Two halves of the reversed-hash space cover the namespace exactly once.
        let mut seen = Vec::new();
        s.range(7, 0, Some(1 << 63), |k, _| {
            seen.push(k.to_vec());
            true
        })
        .unwrap();
        s.range(7, 1 << 63, None, |k, _| {
            seen.push(k.to_vec());
            true
        })
        .unwrap();
        seen.sort();
        assert_eq!(seen.len(), 100);
        s.delete(7, 0, b"k0").unwrap();
        assert_eq!(s.get(7, 0, b"k0").unwrap(), None);
        s.delete_ns(7);
        let mut left = 0;
        s.range(7, 0, None, |_, _| {
            left += 1;
            true
        })
        .unwrap();
        assert_eq!(left, 0);
        assert_eq!(s.get(8, 5, b"other").unwrap(), Some(b"w".to_vec()));
    }

    impl ColdStore {
        /// RocksDB's own answer, past the writes still waiting.
        fn get_written(&self, stored: &[u8]) -> Option<Vec<u8>> {
            self.db.get(stored).unwrap()
        }
    }

    fn all(s: &ColdStore, ns: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        s.range(ns, 0, None, |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
        out
    }

    /// Writes made while the writer thread is busy are seen at once by point and range reads,
    /// and all of them reach RocksDB in the end, the newest value of each key last.
    #[test]
    fn the_write_behind_never_hides_a_write_and_ends_with_the_newest_value() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let s = ColdStore::open(&dir.path().join("cold"), 8 << 20).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // The model: namespace 3's keys in stored order (hash = key number), and their values.
        let mut model: std::collections::BTreeMap<Vec<u8>, (u64, Vec<u8>)> = Default::default();
        for round in 0..20_000u32 {
            let n = rng.gen_range(0..500u64);
            let key = format!("key{n}").into_bytes();
            let stored = cold_key(3, n, &key);
            if rng.gen_bool(0.7) {
                let value = format!("v{round}")
                    .repeat(rng.gen_range(1..40))
                    .into_bytes();
                s.put(3, n, &key, value.clone()).unwrap();
                model.insert(stored.clone(), (n, value));
            } else {
                s.delete(3, n, &key).unwrap();
                model.remove(&stored);
            }
            assert_eq!(
                s.get(3, n, &key).unwrap(),
                model.get(&stored).map(|(_, v)| v.clone()),
                "round {round}"
            );
            if round % 997 == 0 {
                let want: Vec<_> = model
                    .values()
                    .map(|(n, v)| (format!("key{n}").into_bytes(), v.clone()))
                    .collect();
                assert_eq!(all(&s, 3), want, "round {round}");
                // Batched reads see what single reads see: waiting writes, written ones,
                // deletions, keys never written.
                let picked: Vec<Vec<u8>> = (0..8)
                    .map(|_| {
                        let n = rng.gen_range(0..600u64);
                        cold_key(3, n, format!("key{n}").as_bytes())
                    })
                    .collect();
                let keys: Vec<&[u8]> = picked.iter().map(|k| &k[..]).collect();
                let got: Vec<_> = s.get_many(&keys).into_iter().map(Result::unwrap).collect();
                assert_eq!(got.len(), keys.len());
                let want: Vec<_> = picked
                    .iter()
                    .map(|k| model.get(k).map(|(_, v)| v.clone()))
                    .collect();
                assert_eq!(got, want, "round {round}");
            }
        }
        s.flush();
        assert_eq!(s.behind().bytes(), 0, "written writes leave the buffer");
        // Out of the memtable into table files, for the batched read below.
        s.compact();
        let stored: Vec<Vec<u8>> = (0..500u64)
            .map(|n| cold_key(3, n, format!("key{n}").as_bytes()))
            .collect();
        let keys: Vec<&[u8]> = stored.iter().map(|k| &k[..]).collect();
        let got = s.get_many(&keys);
        assert_eq!(got.len(), stored.len());
        for (k, got) in stored.iter().zip(got) {
            assert_eq!(got.unwrap(), model.get(k).map(|(_, v)| v.clone()));
        }
        for n in 0..500u64 {
            let key = format!("key{n}").into_bytes();
            let stored = cold_key(3, n, &key);
            assert_eq!(
                s.get_written(&stored),
                model.get(&stored).map(|(_, v)| v.clone())
            );
        }
        // A dropped namespace is gone at once, waiting writes included.
        s.put(3, 1, b"late", b"x".to_vec()).unwrap();
        s.put(4, 1, b"other", b"y".to_vec()).unwrap();
        s.delete_ns(3);
        assert!(all(&s, 3).is_empty());
        assert_eq!(all(&s, 4).len(), 1);
        s.flush();
        assert!(all(&s, 3).is_empty());
        assert_eq!(
            s.get_written(&cold_key(4, 1, b"other")),
            Some(b"y".to_vec())
        );
    }

    /// A full buffer refuses a value at once (its caller may hold a shard lock) but never a
    /// deletion; waiting for room gives up when nothing drains it.
    #[test]
    fn a_full_write_behind_buffer_refuses_values_but_not_deletions() {
        // No writer thread drains this one.
        let sh = behind::Shared::new(16);
        sh.write(b"a".to_vec(), Some(vec![0; 32])).unwrap();
        assert!(sh.is_full());
        let e = sh.write(b"b".to_vec(), Some(vec![0; 8])).unwrap_err();
        assert!(e.contains("behind"), "{e}");
        sh.write(b"c".to_vec(), None).unwrap();
        assert_eq!(sh.get(b"c"), Some(None));
        assert_eq!(sh.get(b"b"), None);
        let t = std::time::Instant::now();
        assert!(!sh.wait_for_room(std::time::Duration::from_millis(50)));
        assert!(t.elapsed() >= std::time::Duration::from_millis(50));
    }

    /// A deleted range hides RocksDB's keys in it from point and range reads until it is
    /// written, while a write made after the deletion shows.
    #[test]
    fn a_deleted_range_hides_what_rocksdb_still_holds() {
        let sh = behind::Shared::new(1 << 20);
        sh.write(b"k1".to_vec(), Some(b"old".to_vec())).unwrap();
        sh.delete_range(b"k".to_vec(), b"l".to_vec());
        // The overlay's own entry went with the range.
        assert_eq!(sh.get(b"k1"), Some(None));
        assert_eq!(sh.get(b"k9"), Some(None));
        assert_eq!(sh.get(b"m"), None);
        sh.write(b"k2".to_vec(), Some(b"new".to_vec())).unwrap();
        assert_eq!(sh.get(b"k2").unwrap().as_deref(), Some(&b"new"[..]));
        let o = sh.range(b"a", b"z");
        assert_eq!(o.ops.len(), 1);
        assert!(o.hides(b"k7") && !o.hides(b"l0") && !o.hides(b"j"));
        assert!(sh.range(b"x", b"z").dropped.is_empty());
    }

    /// While RocksDB refuses writes, waiting values stay readable from the overlay, the tier
    /// reports the failure (and counts as full, so eviction stops spilling), and a flush
    /// returns instead of waiting for ever.
    #[test]
    fn failed_writes_keep_their_values_readable_and_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        {
            let mut o = Options::default();
            o.create_if_missing(true);
            DB::open(&o, &path).unwrap();
        }
        let db = Arc::new(DB::open_for_read_only(&Options::default(), &path, false).unwrap());
        let sh = behind::Shared::new(1 << 20);
        let writer = {
            let (db, sh) = (db.clone(), sh.clone());
            std::thread::spawn(move || behind::run(&db, &WriteOptions::default(), &sh))
        };
        sh.write(b"k".to_vec(), Some(b"v".to_vec())).unwrap();
        for _ in 0..500 {
            if sh.is_failing() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(sh.is_failing());
        assert!(sh.errors.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        assert!(sh.last_error.lock().is_some());
        assert_eq!(sh.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(!sh.flush());
        sh.stop();
        writer.join().unwrap();
    }

    #[test]
    fn opening_wipes_what_an_earlier_process_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cold");
        {
            let s = ColdStore::open(&path, 8 << 20).unwrap();
            s.put(1, 1, b"k", b"v".to_vec()).unwrap();
            s.flush();
        }
        let s = ColdStore::open(&path, 8 << 20).unwrap();
        assert_eq!(s.get(1, 1, b"k").unwrap(), None);
    }
}
