//! Write-behind for the cold tier: every RocksDB write runs on one thread of its own.
//!
//! A spill, a deleted cold copy or a dropped namespace is recorded in an in-memory overlay
//! (sorted by stored key) and queued; the writer thread `strata-tier-writer` takes the queue
//! in batches, writes each batch as one `WriteBatch`, and only then removes what it wrote from
//! the overlay. Reads consult the overlay first, so they see every write the moment it is made:
//!
//! - A point read that finds no overlay entry reads RocksDB. An entry removed in between was
//!   written before it was removed, so RocksDB has it.
//! - A range read copies the overlay's part of the range first and opens its RocksDB iterator
//!   after, so an entry removed in between is in the copy. Callers hold the shard lock, the
//!   only way to queue writes to that shard's namespace, so no new entry can appear meanwhile.
//!
//! An entry replaced while its older value is being written keeps its place in the overlay and
//! is queued again when that write completes, so the newest value always reaches RocksDB last.
//! A failed write leaves its entries in the overlay (reads stay correct; nothing is lost) and
//! is retried after a pause; while batches fail, the tier counts as full, so eviction stops
//! spilling. The overlay's bytes are bounded: a value that finds it full is refused at once
//! (its caller may hold a shard lock), and eviction waits for room, holding no lock, with
//! [`Shared::wait_for_room`]. Keys and values are shared (`Arc`), so reads copy no bytes under
//! the overlay's lock.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rocksdb::{WriteBatch, WriteOptions, DB};

/// How long eviction waits for room in a full overlay before it gives up.
pub const FULL_WAIT: Duration = Duration::from_secs(2);
/// How long [`Shared::flush`] waits at most.
const FLUSH_WAIT: Duration = Duration::from_secs(30);
/// Writes the writer puts in one batch.
const BATCH: usize = 4096;
/// The pause before a failed batch is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// A write waiting in the overlay: a value, or None for a deletion.
struct Op {
    seq: u64,
    value: Option<Arc<[u8]>>,
}

type Key = Arc<[u8]>;

enum Item {
    /// Write the overlay's current op for this stored key (if it still has one).
    Key(Key),
    /// Delete every stored key in `[from, to)` (boxed: a queue slot is then as small as a
    /// key's, and ranges are rare).
    Range(Box<(Vec<u8>, Vec<u8>)>),
}

#[derive(Default)]
struct State {
    overlay: BTreeMap<Key, Op>,
    queue: VecDeque<Item>,
    next_seq: u64,
    /// Ranges deleted but not yet written: RocksDB's keys there are gone for readers.
    dropped: Vec<(Vec<u8>, Vec<u8>)>,
    /// The writer holds a batch it has not finished.
    busy: bool,
    stop: bool,
}

/// What the writer and its users share.
pub struct Shared {
    state: Mutex<State>,
    /// Signalled when there is work for the writer, or it should stop.
    work: Condvar,
    /// Signalled when the writer finishes a batch.
    done: Condvar,
    /// Bytes of the overlay's entries: their keys and values, and what each costs besides
    /// ([`ENTRY_OVERHEAD`]).
    bytes: AtomicUsize,
    /// Overlay entries and dropped ranges: reads skip the lock while it is 0 (every read of an
    /// idle tier).
    entries: AtomicUsize,
    limit: AtomicUsize,
    /// The last batch failed: set until one succeeds.
    failing: std::sync::atomic::AtomicBool,
    pub writes: AtomicU64,
    pub batches: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// What an overlay entry costs in RAM beyond its key's and value's bytes: two `Arc` headers
/// (16 bytes each), its slot in the B-tree (whose nodes are about two thirds full), its item
/// in the queue (which grows by doubling), and the allocator's rounding of the two
/// allocations. Counted, so that what eviction leaves out of `maxmemory` while the writer is
/// behind ([`Shared::bytes`]) is about what the overlay really holds: counting only the bytes
/// left it at a third of that with small values, and a server with every key spilled could
/// still be over `maxmemory` by the difference and refuse writes with -OOM.
const ENTRY_OVERHEAD: usize =
    2 * 16 + std::mem::size_of::<(Key, Op)>() * 3 / 2 + std::mem::size_of::<Item>() * 2 + 2 * 8;

fn entry_size(key: &[u8], op: &Op) -> usize {
    ENTRY_OVERHEAD + key.len() + op.value.as_ref().map_or(0, |v| v.len())
}

impl Shared {
    pub fn new(limit: usize) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            bytes: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
            failing: std::sync::atomic::AtomicBool::new(false),
            writes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// Bytes waiting to be written.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Whether a value written now would be refused for want of room.
    pub fn is_full(&self) -> bool {
        self.bytes() >= self.limit.load(Ordering::Relaxed)
    }

    /// Whether the last batch failed (the writer retries it).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Waits, for at most `wait`, until the overlay has room for a value; false if it has not
    /// (the writer is stuck or failing, or stopped). Call holding no shard lock.
    pub fn wait_for_room(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut st = self.state.lock();
        while self.is_full() {
            if st.stop || self.is_failing() {
                return false;
            }
            if self.done.wait_until(&mut st, deadline).timed_out() {
                return !self.is_full();
            }
        }
        true
    }

    /// Queues a write of `stored` (`None` deletes it). A value is refused at once when the
    /// overlay is full; a deletion never is (refusing one would leave a stale copy readable).
    /// Both fail once the writer has stopped.
    pub fn write(&self, stored: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), String> {
        if value.is_some() && self.is_full() {
            return Err("the cold tier's writer is behind (its buffer is full)".into());
        }
        let value: Option<Arc<[u8]>> = value.map(Into::into);
        let mut st = self.state.lock();
        if st.stop {
            return Err("the cold tier's writer has stopped".into());
        }
        st.next_seq += 1;
        let op = Op {
            seq: st.next_seq,
            value,
        };
        self.bytes
            .fetch_add(entry_size(&stored, &op), Ordering::Relaxed);
        match st.overlay.get_mut(stored.as_slice()) {
            Some(old) => {
                // Already queued, or being written (then queued again when that completes).
                self.bytes
                    .fetch_sub(entry_size(&stored, old), Ordering::Relaxed);
                *old = op;
            }
            None => {
                let key: Key = stored.into();
                st.overlay.insert(key.clone(), op);
                self.entries.fetch_add(1, Ordering::Relaxed);
                st.queue.push_back(Item::Key(key));
            }
        }
        drop(st);
        self.work.notify_one();
        Ok(())
    }

    /// Queues the deletion of every stored key in `[from, to)`, dropping the overlay's entries
    /// there at once.
    pub fn delete_range(&self, from: Vec<u8>, to: Vec<u8>) {
        let mut st = self.state.lock();
        let doomed: Vec<Key> = st
            .overlay
            .range::<[u8], _>(span(&from, &to))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            if let Some(op) = st.overlay.remove(&k) {
                self.bytes.fetch_sub(entry_size(&k, &op), Ordering::Release);
                self.entries.fetch_sub(1, Ordering::Release);
            }
        }
        st.dropped.push((from.clone(), to.clone()));
        self.entries.fetch_add(1, Ordering::Relaxed);
        st.queue.push_back(Item::Range(Box::new((from, to))));
        drop(st);
        self.work.notify_one();
    }

    /// The overlay's op for `stored`: `Some(value)` when a write is waiting (`Some(None)` for a
    /// deletion), None when RocksDB has the answer.
    pub fn get(&self, stored: &[u8]) -> Option<Option<Arc<[u8]>>> {
        if self.entries.load(Ordering::Acquire) == 0 {
            return None;
        }
        let st = self.state.lock();
        if let Some(op) = st.overlay.get(stored) {
            return Some(op.value.clone());
        }
        in_ranges(&st.dropped, stored).then_some(None)
    }

    /// What overlays RocksDB in `[from, to)`: the waiting ops in order, and the deleted
    /// ranges not yet written. Take this before opening the RocksDB iterator that it overlays
    /// (see the module's comment).
    pub fn range(&self, from: &[u8], to: &[u8]) -> Overlay {
        if self.entries.load(Ordering::Acquire) == 0 {
            return Overlay::default();
        }
        let st = self.state.lock();
        Overlay {
            ops: st
                .overlay
                .range::<[u8], _>(span(from, to))
                .map(|(k, op)| (k.clone(), op.value.clone()))
                .collect(),
            dropped: st
                .dropped
                .iter()
                .filter(|(a, b)| a.as_slice() < to && from < b.as_slice())
                .cloned()
                .collect(),
        }
    }

    /// Waits until the queue is written: false if batches fail, the writer stopped, or it did
    /// not empty within 30 s (new writes keep coming).
    pub fn flush(&self) -> bool {
        let deadline = Instant::now() + FLUSH_WAIT;
        let mut st = self.state.lock();
        while !st.queue.is_empty() || st.busy {
            if st.stop || self.is_failing() || Instant::now() >= deadline {
                return false;
            }
            self.done.wait_for(&mut st, RETRY);
        }
        true
    }

    /// Asks the writer to stop; what is still queued is not written (the store is scratch).
    pub fn stop(&self) {
        self.state.lock().stop = true;
        self.work.notify_all();
        self.done.notify_all();
    }
}

/// A snapshot of what overlays a range of RocksDB ([`Shared::range`]).
#[derive(Default)]
pub struct Overlay {
    /// Waiting writes, in key order: a value, or None for a deletion.
    pub ops: Vec<(Key, Option<Arc<[u8]>>)>,
    /// Deleted ranges not yet written.
    pub dropped: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Overlay {
    /// Whether RocksDB's copy of `stored` is deleted by a range not yet written.
    pub fn hides(&self, stored: &[u8]) -> bool {
        in_ranges(&self.dropped, stored)
    }
}

/// Whether `key` falls in one of the half-open `[from, to)` ranges.
fn in_ranges(ranges: &[(Vec<u8>, Vec<u8>)], key: &[u8]) -> bool {
    ranges
        .iter()
        .any(|(a, b)| a.as_slice() <= key && key < b.as_slice())
}

fn span<'a>(from: &'a [u8], to: &'a [u8]) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (Bound::Included(from), Bound::Excluded(to))
}

/// Marks the writer stopped when its loop ends, however it ends (a panic included), so nothing
/// waits for it in vain.
struct StopOnExit<'a>(&'a Shared);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The writer thread's loop: batches from the queue into RocksDB until told to stop.
pub fn run(db: &DB, write: &WriteOptions, sh: &Shared) {
    let _stop = StopOnExit(sh);
    loop {
        let mut st = sh.state.lock();
        while st.queue.is_empty() && !st.stop {
            sh.work.wait(&mut st);
        }
        if st.stop {
            return;
        }
        let n = st.queue.len().min(BATCH);
        let mut items: Vec<Item> = st.queue.drain(..n).collect();
        // Keys in order between range deletions (which must keep their place): RocksDB's
        // memtable then inserts each next to the one before instead of searching from its top.
        for run in items.split_mut(|i| matches!(i, Item::Range(_))) {
            run.sort_unstable_by(|a, b| match (a, b) {
                (Item::Key(a), Item::Key(b)) => a.cmp(b),
                _ => std::cmp::Ordering::Equal,
            });
        }
        let mut batch = WriteBatch::default();
        // What was written, with the seq of the op that was: removed after the write only if
        // no newer op replaced it meanwhile.
        let mut written: Vec<(usize, u64)> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Item::Key(k) => {
                    let Some(op) = st.overlay.get(k) else {
                        continue;
                    };
                    match &op.value {
                        Some(v) => batch.put(&k[..], &v[..]),
                        None => batch.delete(&k[..]),
                    }
                    written.push((i, op.seq));
                }
                Item::Range(r) => batch.delete_range(&r.0, &r.1),
            }
        }
        st.busy = true;
        drop(st);
        let r = db.write_opt(batch, write);
        let mut st = sh.state.lock();
        st.busy = false;
        match r {
            Ok(()) => {
                if sh.failing.swap(false, Ordering::Relaxed) {
                    *sh.last_error.lock() = None;
                }
                sh.batches.fetch_add(1, Ordering::Relaxed);
                for item in &items {
                    if let Item::Range(r) = item {
                        if let Some(i) = st.dropped.iter().position(|(a, b)| (a, b) == (&r.0, &r.1))
                        {
                            st.dropped.remove(i);
                            sh.entries.fetch_sub(1, Ordering::Release);
                        }
                    }
                }
                sh.writes.fetch_add(written.len() as u64, Ordering::Relaxed);
                for (i, seq) in written {
                    let Item::Key(k) = &items[i] else { continue };
                    match st.overlay.get(k) {
                        Some(op) if op.seq == seq => {
                            let op = st.overlay.remove(k).expect("present");
                            sh.bytes.fetch_sub(entry_size(k, &op), Ordering::Release);
                            sh.entries.fetch_sub(1, Ordering::Release);
                        }
                        // Replaced while being written: the newer op goes out again.
                        Some(_) => st.queue.push_back(Item::Key(k.clone())),
                        // Dropped with its namespace.
                        None => {}
                    }
                }
                drop(st);
                sh.done.notify_all();
            }
            Err(e) => {
                sh.failing.store(true, Ordering::Relaxed);
                sh.errors.fetch_add(1, Ordering::Relaxed);
                *sh.last_error.lock() = Some(format!("writing to the cold tier: {e}"));
                // Everything goes back in front, in its order, to be tried again.
                for item in items.into_iter().rev() {
                    st.queue.push_front(item);
                }
                drop(st);
                sh.done.notify_all();
                std::thread::sleep(RETRY);
            }
        }
    }
}
