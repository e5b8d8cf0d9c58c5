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

use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, Options, ReadOptions, ReadTier, WriteBatch,
    WriteOptions, DB,
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

pub struct ColdStore {
    db: DB,
    cache: parking_lot::Mutex<Cache>,
    write: WriteOptions,
    path: PathBuf,
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
        let cache = Cache::new_lru_cache(cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_block_size(16 << 10);
        // About 7 bits a key for a 1% false positive rate: what keeps a lookup of a key that
        // is not cold (a new key, most writes) off the disk.
        table.set_ribbon_filter(10.0);
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_optimize_filters_for_memory(true);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        // Values arrive lz4-compressed already.
        opts.set_compression_type(DBCompressionType::None);
        opts.set_max_background_jobs(2);
        opts.set_max_open_files(1024);
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
        let db = DB::open(&opts, path).map_err(|e| {
            format!(
                "cannot open the cold tier's RocksDB at {}: {e}",
                path.display()
            )
        })?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(ColdStore {
            db,
            cache: parking_lot::Mutex::new(cache),
            write,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, ns: u32, hash: u64, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.get_stored(&cold_key(ns, hash, key))
    }

    /// The value under an already built stored key ([`cold_key`]).
    pub fn get_stored(&self, stored: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.db.get_pinned(stored)?.map(|v| v.to_vec()))
    }

    /// A memory-only read: `Some` with the value (itself None when absent) if no I/O was
    /// needed, None if reading it would need the disk.
    pub fn get_in_memory(&self, stored: &[u8]) -> Option<Option<Vec<u8>>> {
        let mut ro = ReadOptions::default();
        ro.set_read_tier(ReadTier::BlockCache);
        // An error is Incomplete (the block is not in memory), or anything else, which shows
        // again on the real read.
        self.db
            .get_pinned_opt(stored, &ro)
            .ok()
            .map(|v| v.map(|v| v.to_vec()))
    }

    pub fn put(&self, ns: u32, hash: u64, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.db.put_opt(cold_key(ns, hash, key), value, &self.write)
    }

    pub fn delete(&self, ns: u32, hash: u64, key: &[u8]) -> Result<(), Error> {
        self.db.delete_opt(cold_key(ns, hash, key), &self.write)
    }

    /// Drops every key of namespace `ns`.
    pub fn delete_ns(&self, ns: u32) -> Result<(), Error> {
        let mut b = WriteBatch::default();
        b.delete_range(ns.to_be_bytes().to_vec(), ns_end(ns));
        self.db.write_opt(b, &self.write)
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
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(match to {
            Some(t) => bound(ns, t),
            None => ns_end(ns),
        });
        let mut it = self.db.raw_iterator_opt(ro);
        it.seek(bound(ns, from));
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !f(user_key(k), v) {
                return Ok(());
            }
            it.next();
        }
        it.status()
    }

    /// Compacts everything (DEBUG TIER COMPACT; tests).
    pub fn compact(&self) {
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
        self.prop("rocksdb.live-sst-files-size") + self.prop("rocksdb.cur-size-all-mem-tables")
    }

    pub fn set_cache_capacity(&self, bytes: usize) {
        self.cache.lock().set_capacity(bytes.max(1 << 20));
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
                b"v",
            )
            .unwrap();
        }
        s.put(8, 5, b"other", b"w").unwrap();
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
        s.delete_ns(7).unwrap();
        let mut left = 0;
        s.range(7, 0, None, |_, _| {
            left += 1;
            true
        })
        .unwrap();
        assert_eq!(left, 0);
        assert_eq!(s.get(8, 5, b"other").unwrap(), Some(b"w".to_vec()));
    }

    #[test]
    fn opening_wipes_what_an_earlier_process_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cold");
        {
            let s = ColdStore::open(&path, 8 << 20).unwrap();
            s.put(1, 1, b"k", b"v").unwrap();
        }
        let s = ColdStore::open(&path, 8 << 20).unwrap();
        assert_eq!(s.get(1, 1, b"k").unwrap(), None);
    }
}
