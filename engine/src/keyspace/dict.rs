//! The hash table that holds one database's keys, built the way Redis's `dict.c` is.
//!
//! Why not `std::collections::HashMap`: Redis semantics depend on details a general-purpose map
//! hides. SCAN needs a stateless cursor that survives resizes; eviction and active expiry need
//! cheap random sampling of buckets; and a resize must never stall the server for the time it takes
//! to move millions of keys. So, like Redis:
//!
//! - Chained buckets, power-of-two table sizes, load factor 1 before growing and a 10% fill floor
//!   below which [`Dict::shrink_if_needed`] halves (or more) the table.
//! - Two tables: a resize allocates the second one and moves buckets across a few at a time
//!   (one bucket per insert, remove or `get_mut`, plus whatever the caller drives through
//!   [`Dict::rehash_step`]). Lookups check both tables; new keys go into the new one.
//! - SCAN walks bucket indexes in *reverse-binary* order (increment the reversed cursor). A bucket of
//!   a table of size 2^n splits into buckets of a larger table that differ only in their high bits,
//!   and those high bits are exactly the ones a reversed increment varies first. So the set of hash
//!   values already covered by a cursor is a prefix in that order whatever the table size is, and
//!   every key present for the whole scan is returned at least once across any number of grows and
//!   shrinks (a shrink may return some keys twice).

use std::hash::BuildHasher;
use std::mem;

/// Size of the first table, allocated on first insert (Redis's `DICT_HT_INITIAL_SIZE`).
const INITIAL_SIZE: usize = 4;
/// Shrink when fewer than this percent of buckets would be used (Redis's `HASHTABLE_MIN_FILL`).
const MIN_FILL_PERCENT: usize = 10;
/// A rehash step of `n` buckets gives up after visiting `n * 10` empty buckets, so one step is
/// bounded work even when the old table is sparse.
const EMPTY_VISITS_PER_STEP: usize = 10;
/// `sample` visits at most this many buckets per requested key.
const SAMPLE_VISITS_PER_KEY: usize = 10;
/// `random_entry` probes random buckets this many times before falling back to a linear walk, so a
/// very sparse table or a poor random source cannot make it spin forever. With the 10% fill floor
/// the fallback is reached with probability below 0.9^256.
const RANDOM_PROBES: usize = 256;

type Link<V> = Option<Box<Node<V>>>;

/// One entry. Three words plus the value: the boxed key (pointer + length) and the chain link.
struct Node<V> {
    key: Box<[u8]>,
    value: V,
    next: Link<V>,
}

/// One bucket array. `used` counts the nodes chained from it.
struct Table<V> {
    buckets: Box<[Link<V>]>,
    used: usize,
}

impl<V> Table<V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new().into_boxed_slice(),
            used: 0,
        }
    }

    fn with_size(size: usize) -> Self {
        Table {
            buckets: (0..size).map(|_| None).collect(),
            used: 0,
        }
    }

    fn size(&self) -> usize {
        self.buckets.len()
    }

    /// Only meaningful for an allocated table (size a power of two).
    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }

    /// The bucket a hash falls in; always `< size()` because the size is a power of two.
    fn index(&self, hash: u64) -> usize {
        (hash & self.mask()) as usize
    }

    fn head(&self, hash: u64) -> Option<&Node<V>> {
        self.buckets
            .get(self.index(hash))
            .and_then(|link| link.as_deref())
    }
}

impl<V> Drop for Table<V> {
    /// The default drop glue would recurse once per node of a chain; a single chain can hold every
    /// key (a degenerate hasher), so unlink nodes one at a time instead.
    fn drop(&mut self) {
        for bucket in self.buckets.iter_mut() {
            free_chain(bucket.take());
        }
    }
}

fn free_chain<V>(mut link: Link<V>) {
    while let Some(mut node) = link {
        link = node.next.take();
    }
}

fn find_in_chain<'a, V>(mut cur: Option<&'a Node<V>>, key: &[u8]) -> Option<&'a Node<V>> {
    while let Some(node) = cur {
        if *node.key == *key {
            return Some(node);
        }
        cur = node.next.as_deref();
    }
    None
}

fn find_in_chain_mut<'a, V>(
    mut cur: Option<&'a mut Node<V>>,
    key: &[u8],
) -> Option<&'a mut Node<V>> {
    while let Some(node) = cur {
        if *node.key == *key {
            return Some(node);
        }
        cur = node.next.as_deref_mut();
    }
    None
}

/// Detaches the node holding `key` from the chain starting at `head`; its `next` is cleared.
fn unlink<V>(head: &mut Link<V>, key: &[u8]) -> Option<Box<Node<V>>> {
    let mut cur = head;
    loop {
        let found = match cur.as_deref() {
            None => return None,
            Some(node) => *node.key == *key,
        };
        if found {
            // `cur` was just seen to be `Some`, so `take()` yields the node.
            let mut node = cur.take()?;
            *cur = node.next.take();
            return Some(node);
        }
        // Same: `cur` is `Some` here, so `?` never returns.
        cur = &mut cur.as_mut()?.next;
    }
}

fn visit_chain<V>(link: &Link<V>, f: &mut impl FnMut(&[u8], &V)) {
    for (key, value) in (Chain {
        next: link.as_deref(),
    }) {
        f(key, value);
    }
}

/// Walks one bucket's chain.
struct Chain<'a, V> {
    next: Option<&'a Node<V>>,
}

impl<'a, V> Iterator for Chain<'a, V> {
    type Item = (&'a [u8], &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.next?;
        self.next = node.next.as_deref();
        Some((&node.key, &node.value))
    }
}

/// The table size for `wanted` slots: the next power of two, never below [`INITIAL_SIZE`].
fn table_size_for(wanted: usize) -> usize {
    if wanted <= INITIAL_SIZE {
        return INITIAL_SIZE;
    }
    wanted
        .checked_next_power_of_two()
        .unwrap_or(1 << (usize::BITS - 1))
}

fn hash_of<S: BuildHasher>(hasher: &S, key: &[u8]) -> u64 {
    hasher.hash_one(key)
}

/// A chained hash table with incremental rehashing and a resize-proof SCAN cursor.
pub struct Dict<V, S> {
    /// `tables[0]` is the live table; `tables[1]` is allocated only while rehashing into it.
    tables: [Table<V>; 2],
    /// Next bucket of `tables[0]` to move; `None` when not rehashing. Buckets of `tables[0]` below
    /// it are always empty.
    rehash_idx: Option<usize>,
    hasher: S,
}

impl<V, S: BuildHasher> Dict<V, S> {
    pub fn with_hasher(hasher: S) -> Self {
        Dict {
            tables: [Table::empty(), Table::empty()],
            rehash_idx: None,
            hasher,
        }
    }

    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn hash_key(&self, key: &[u8]) -> u64 {
        hash_of(&self.hasher, key)
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Tables that may hold entries: both while rehashing, otherwise only the first.
    fn live_tables(&self) -> &[Table<V>] {
        if self.is_rehashing() {
            &self.tables
        } else {
            &self.tables[..1]
        }
    }

    fn find(&self, key: &[u8]) -> Option<&Node<V>> {
        if self.is_empty() {
            return None;
        }
        let hash = self.hash_key(key);
        self.live_tables()
            .iter()
            .filter(|table| table.size() > 0)
            .find_map(|table| find_in_chain(table.head(hash), key))
    }

    fn find_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Node<V>> {
        let count = if self.is_rehashing() { 2 } else { 1 };
        for table in self.tables[..count].iter_mut() {
            if table.size() == 0 {
                continue;
            }
            let idx = table.index(hash);
            if let Some(node) = find_in_chain_mut(table.buckets[idx].as_deref_mut(), key) {
                return Some(node);
            }
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|node| &node.value)
    }

    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        self.find(key).map(|node| (&*node.key, &node.value))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step(1);
        let hash = self.hash_key(key);
        self.find_mut(hash, key).map(|node| &mut node.value)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Inserts or replaces; returns the old value if the key existed (the stored key is kept).
    pub fn insert(&mut self, key: Box<[u8]>, value: V) -> Option<V> {
        self.rehash_step(1);
        self.expand_if_needed();
        let hash = self.hash_key(&key);
        if let Some(node) = self.find_mut(hash, &key) {
            return Some(mem::replace(&mut node.value, value));
        }
        // While rehashing, new keys go to the new table so the old one only ever drains.
        let table = if self.is_rehashing() {
            &mut self.tables[1]
        } else {
            &mut self.tables[0]
        };
        let idx = table.index(hash);
        let next = table.buckets[idx].take();
        table.buckets[idx] = Some(Box::new(Node { key, value, next }));
        table.used += 1;
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        if self.is_empty() {
            return None;
        }
        self.rehash_step(1);
        let hash = self.hash_key(key);
        let count = if self.is_rehashing() { 2 } else { 1 };
        for table in self.tables[..count].iter_mut() {
            if table.size() == 0 {
                continue;
            }
            let idx = table.index(hash);
            if let Some(node) = unlink(&mut table.buckets[idx], key) {
                table.used -= 1;
                let Node {
                    key,
                    value,
                    next: _,
                } = *node;
                // The old table's last entry gone: the resize is done now, not at the next
                // write (a table nobody writes again would keep its old array meanwhile).
                if self.is_rehashing() && self.tables[0].used == 0 {
                    self.rehash_step(0);
                }
                return Some((key, value));
            }
        }
        None
    }

    /// Frees both tables; chains are unlinked iteratively by `Table`'s `Drop`.
    pub fn clear(&mut self) {
        self.tables = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Grows at load factor 1, as Redis does when resizing is allowed: to the next power of two
    /// that holds one more entry than now.
    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let table = &self.tables[0];
        if table.size() == 0 {
            self.resize(INITIAL_SIZE);
        } else if table.used >= table.size() {
            self.resize(table.used.saturating_add(1));
        }
    }

    /// Starts moving to a table of `table_size_for(wanted)` buckets. Does nothing while a rehash is
    /// in progress, if the new table could not hold the current entries, or if the size is unchanged.
    fn resize(&mut self, wanted: usize) {
        if self.is_rehashing() || self.tables[0].used > wanted {
            return;
        }
        let size = table_size_for(wanted);
        if size == self.tables[0].size() {
            return;
        }
        if self.tables[0].used == 0 {
            // Nothing to move (first allocation, or shrinking an emptied table): swap in directly.
            self.tables[0] = Table::with_size(size);
            return;
        }
        self.tables[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    /// Shrinks the table when it is under 10% full (Redis's HASHTABLE_MIN_FILL rule), starting an incremental rehash.
    pub fn shrink_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let table = &self.tables[0];
        let size = table.size();
        if size > INITIAL_SIZE && table.used.saturating_mul(100) / size < MIN_FILL_PERCENT {
            self.resize(table.used.max(INITIAL_SIZE));
        }
    }

    /// Do up to `n` bucket moves of incremental rehashing; returns true if rehashing is still in progress.
    pub fn rehash_step(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n.saturating_mul(EMPTY_VISITS_PER_STEP);
        let [old, new] = &mut self.tables;
        for _ in 0..n {
            if old.used == 0 {
                break;
            }
            // `old.used > 0` and every bucket below `idx` is empty, so a non-empty bucket exists at
            // or after `idx`: the indexing below stays in bounds.
            while old.buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut chain = old.buckets[idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let slot = new.index(hash_of(&self.hasher, &node.key));
                node.next = new.buckets[slot].take();
                new.buckets[slot] = Some(node);
                old.used -= 1;
                new.used += 1;
            }
            idx += 1;
        }
        if old.used == 0 {
            self.tables[0] = mem::replace(&mut self.tables[1], Table::empty());
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Redis dictScan: visits every entry of the bucket(s) addressed by `cursor` (in both tables while
    /// rehashing, smaller table first, then all expansions of that bucket in the larger table),
    /// calls f(key, value) for each, and returns the next cursor (0 when the scan is complete).
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        // The cursor comes from a client; it is only ever used masked by a table's size.
        let mut v = cursor;
        if !self.is_rehashing() {
            let table = &self.tables[0];
            let mask = table.mask();
            visit_chain(&table.buckets[(v & mask) as usize], &mut f);
            return next_cursor(v, mask);
        }
        let [a, b] = &self.tables;
        let (small, large) = if a.size() <= b.size() { (a, b) } else { (b, a) };
        let (small_mask, large_mask) = (small.mask(), large.mask());
        visit_chain(&small.buckets[(v & small_mask) as usize], &mut f);
        // Every bucket of the large table that the small bucket expands to: they share the low
        // (small-mask) bits and differ in the bits in between, which the reversed increment walks
        // through until it carries into the small-mask bits.
        loop {
            visit_chain(&large.buckets[(v & large_mask) as usize], &mut f);
            v = next_cursor(v, large_mask);
            if v & (small_mask ^ large_mask) == 0 {
                break;
            }
        }
        v
    }

    /// The bucket at a virtual position: `tables[0]` first, then `tables[1]`.
    fn virtual_bucket(&self, pos: usize) -> Option<&Node<V>> {
        let [a, b] = &self.tables;
        match a.buckets.get(pos) {
            Some(link) => link.as_deref(),
            None => b
                .buckets
                .get(pos - a.size())
                .and_then(|link| link.as_deref()),
        }
    }

    /// A random entry, choosing a random non-empty bucket then a random element of its chain
    /// (like dictGetRandomKey); None if empty. `rand` is a source of random u64s supplied by the caller.
    pub fn random_entry(&self, rand: &mut impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        if self.is_empty() {
            return None;
        }
        // While rehashing, buckets of the old table below `rehash_idx` are known to be empty, so
        // they are left out of the range.
        let (start, end) = match self.rehash_idx {
            Some(idx) => (idx, self.tables[0].size() + self.tables[1].size()),
            None => (0, self.tables[0].size()),
        };
        let span = end - start;
        let mut head = None;
        let mut pos = start;
        for _ in 0..RANDOM_PROBES {
            pos = start + (rand() % span as u64) as usize;
            head = self.virtual_bucket(pos);
            if head.is_some() {
                break;
            }
        }
        if head.is_none() {
            head = (0..span).find_map(|k| self.virtual_bucket(start + (pos - start + k) % span));
        }
        let head = head?;
        let len = Chain { next: Some(head) }.count();
        let pick = (rand() % len as u64) as usize;
        Chain { next: Some(head) }.nth(pick)
    }

    /// Up to `count` entries from a random starting bucket walking forward (like dictGetSomeKeys),
    /// bounded work (at most count*10 buckets visited); used for eviction and active-expiry sampling.
    /// An entry may be reported more than once when the walk jumps to a new random bucket.
    pub fn sample(
        &self,
        count: usize,
        rand: &mut impl FnMut() -> u64,
        mut f: impl FnMut(&[u8], &V),
    ) {
        let count = count.min(self.len());
        if count == 0 {
            return;
        }
        let tables = self.live_tables();
        let max_size = tables.iter().map(Table::size).max().unwrap_or(0);
        let max_mask = max_size.wrapping_sub(1);
        let mut visits_left = count.saturating_mul(SAMPLE_VISITS_PER_KEY);
        let mut i = (rand() as usize) & max_mask;
        let mut empty_run = 0usize;
        let mut stored = 0usize;
        while stored < count && visits_left > 0 {
            for (t, table) in tables.iter().enumerate() {
                if let Some(rehash_idx) = self.rehash_idx {
                    if t == 0 && i < rehash_idx {
                        // Old-table buckets below `rehash_idx` are empty. If the new table is too
                        // small to have bucket `i` either, skip ahead to the first one that may not be.
                        if i >= self.tables[1].size() {
                            i = rehash_idx;
                        } else {
                            continue;
                        }
                    }
                }
                if i >= table.size() || visits_left == 0 {
                    continue;
                }
                visits_left -= 1;
                match table.buckets[i].as_deref() {
                    None => {
                        // A long run of empty buckets: jump somewhere else rather than crawl.
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            i = (rand() as usize) & max_mask;
                            empty_run = 0;
                        }
                    }
                    Some(head) => {
                        empty_run = 0;
                        for (key, value) in (Chain { next: Some(head) }) {
                            f(key, value);
                            stored += 1;
                            if stored == count {
                                return;
                            }
                        }
                    }
                }
            }
            i = (i + 1) & max_mask;
        }
    }

    /// Every entry exactly once, also mid-rehash (an entry lives in exactly one table).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.tables
            .iter()
            .flat_map(|table| table.buckets.iter())
            .flat_map(|link| Chain {
                next: link.as_deref(),
            })
    }

    /// Bytes used by the bucket arrays and the nodes themselves (not the keys' or values' heap data):
    /// buckets * size_of pointer + len * size_of::<Node<V>>(), for memory accounting.
    pub fn overhead_bytes(&self) -> usize {
        let buckets = self.tables[0].size() + self.tables[1].size();
        buckets * mem::size_of::<Link<V>>() + self.len() * mem::size_of::<Node<V>>()
    }

    /// Keys and values by mutable reference, for bulk updates.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&[u8], &mut V)) {
        for table in self.tables.iter_mut() {
            for bucket in table.buckets.iter_mut() {
                let mut cur = bucket.as_deref_mut();
                while let Some(node) = cur {
                    f(&node.key, &mut node.value);
                    cur = node.next.as_deref_mut();
                }
            }
        }
    }

    /// Removes every entry for which f returns false (used by FLUSH-like and expiry sweeps).
    /// Chain order is preserved; removed nodes are freed one at a time.
    pub fn retain(&mut self, mut f: impl FnMut(&[u8], &mut V) -> bool) {
        for table in self.tables.iter_mut() {
            let mut removed = 0usize;
            for bucket in table.buckets.iter_mut() {
                let mut rest = bucket.take();
                let mut tail = bucket;
                while let Some(mut node) = rest {
                    rest = node.next.take();
                    if f(&node.key, &mut node.value) {
                        tail = &mut tail.insert(node).next;
                    } else {
                        removed += 1;
                    }
                }
            }
            table.used -= removed;
        }
    }
}

/// Advances a SCAN cursor over a table with `mask`: set the bits above the mask so the increment
/// carries straight through them, then add one to the bit-reversed value.
fn next_cursor(v: u64, mask: u64) -> u64 {
    let v = v | !mask;
    v.reverse_bits().wrapping_add(1).reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;
    use std::collections::{HashMap, HashSet};
    use std::hash::Hasher;

    /// xorshift64: deterministic, so failures reproduce.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// FNV-1a with a final avalanche, so table indexes (low bits) are well spread and stable.
    #[derive(Clone, Copy, Default)]
    struct FixedState;
    struct FixedHasher(u64);

    impl Hasher for FixedHasher {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        fn finish(&self) -> u64 {
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    impl BuildHasher for FixedState {
        type Hasher = FixedHasher;
        fn build_hasher(&self) -> FixedHasher {
            FixedHasher(0xcbf2_9ce4_8422_2325)
        }
    }

    /// Every key hashes to 0: one chain holds everything.
    #[derive(Clone, Copy, Default)]
    struct ConstState;
    struct ConstHasher;

    impl Hasher for ConstHasher {
        fn write(&mut self, _bytes: &[u8]) {}
        fn finish(&self) -> u64 {
            0
        }
    }

    impl BuildHasher for ConstState {
        type Hasher = ConstHasher;
        fn build_hasher(&self) -> ConstHasher {
            ConstHasher
        }
    }

    fn key(i: u64) -> Box<[u8]> {
        format!("key:{i}").into_bytes().into_boxed_slice()
    }

    fn collect_keys<V, S: BuildHasher>(d: &Dict<V, S>) -> Vec<Vec<u8>> {
        d.iter().map(|(k, _)| k.to_vec()).collect()
    }

    #[test]
    fn insert_get_remove_replace_100k() {
        let mut d: Dict<u64, RandomState> = Dict::with_hasher(RandomState::new());
        let mut model: HashMap<Vec<u8>, u64> = HashMap::new();
        const N: u64 = 100_000;
        for i in 0..N {
            assert_eq!(d.insert(key(i), i), None);
            model.insert(key(i).to_vec(), i);
        }
        assert_eq!(d.len(), N as usize);
        for i in 0..N {
            assert_eq!(d.get(&key(i)), Some(&i), "key {i}");
            assert!(d.contains_key(&key(i)));
        }
        assert_eq!(d.get(b"missing"), None);
        // Replace the even keys: the old value comes back and the count does not change.
        for i in (0..N).step_by(2) {
            assert_eq!(d.insert(key(i), i + N), Some(i));
            model.insert(key(i).to_vec(), i + N);
        }
        assert_eq!(d.len(), N as usize);
        // get_mut on every third key.
        for i in (0..N).step_by(3) {
            let v = d.get_mut(&key(i)).expect("present");
            *v += 1;
            *model.get_mut(&key(i)[..]).expect("model") += 1;
        }
        // Remove every fifth key, twice (the second time finds nothing).
        for i in (0..N).step_by(5) {
            let (k, v) = d.remove(&key(i)).expect("present");
            assert_eq!(&*k, &*key(i));
            assert_eq!(Some(v), model.remove(&key(i)[..]));
            assert_eq!(d.remove(&key(i)), None);
        }
        assert_eq!(d.len(), model.len());
        for (k, v) in &model {
            assert_eq!(d.get(k), Some(v));
            let (sk, sv) = d.get_key_value(k).expect("present");
            assert_eq!((sk, sv), (&k[..], v));
        }
        let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
        for (k, v) in d.iter() {
            assert!(
                seen.insert(k.to_vec(), *v).is_none(),
                "iter yielded a key twice"
            );
        }
        assert_eq!(seen, model);
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.get(&key(1)), None);
        assert_eq!(d.overhead_bytes(), 0);
        assert_eq!(d.insert(key(1), 1), None);
        assert_eq!(d.get(&key(1)), Some(&1));
    }

    #[test]
    fn empty_dict_allocates_nothing() {
        let mut d: Dict<u32, FixedState> = Dict::with_hasher(FixedState);
        assert_eq!(d.overhead_bytes(), 0);
        assert_eq!(d.tables[0].size(), 0);
        assert_eq!(d.get(b"a"), None);
        assert_eq!(d.get_mut(b"a"), None);
        assert_eq!(d.remove(b"a"), None);
        assert!(!d.rehash_step(10));
        d.shrink_if_needed();
        assert_eq!(d.tables[0].size(), 0);
        d.insert(key(0), 0);
        assert_eq!(d.tables[0].size(), INITIAL_SIZE);
    }

    #[test]
    fn grows_at_load_factor_one() {
        let mut d: Dict<u32, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..4 {
            d.insert(key(i), 0);
        }
        assert_eq!(d.tables[0].size(), 4);
        assert!(!d.is_rehashing());
        // used (4) >= size (4): the fifth insert starts a rehash into 8 buckets.
        d.insert(key(4), 0);
        assert!(d.is_rehashing());
        assert_eq!(d.tables[1].size(), 8);
        while d.rehash_step(1) {}
        assert_eq!(d.tables[0].size(), 8);
        assert_eq!(d.tables[1].size(), 0);
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn grow_and_shrink_with_rehash_in_progress() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        let mut saw_rehash_on_grow = false;
        for i in 0..10_000u64 {
            d.insert(key(i), i);
            if d.is_rehashing() {
                saw_rehash_on_grow = true;
                // Everything inserted so far is reachable while split over two tables.
                if i % 97 == 0 {
                    for j in 0..=i {
                        assert_eq!(d.get(&key(j)), Some(&j));
                    }
                    assert_eq!(d.iter().count(), d.len());
                }
            }
        }
        assert!(saw_rehash_on_grow);
        while d.rehash_step(100) {}
        let grown = d.tables[0].size();
        assert_eq!(grown, 16_384);

        // Delete down to under 10% fill, then shrink.
        for i in 200..10_000u64 {
            assert_eq!(d.remove(&key(i)).map(|(_, v)| v), Some(i));
        }
        while d.rehash_step(100) {}
        d.shrink_if_needed();
        assert!(d.is_rehashing(), "shrink must start an incremental rehash");
        assert_eq!(d.tables[1].size(), 256);
        // Mutate while the shrink is in progress: new keys go to the new table, old keys are found
        // in either table, removals work in both.
        for i in 10_000..10_050u64 {
            d.insert(key(i), i);
        }
        assert!(d.is_rehashing());
        for i in 0..100u64 {
            assert_eq!(d.remove(&key(i)).map(|(_, v)| v), Some(i));
        }
        for i in (100..200u64).chain(10_000..10_050) {
            assert_eq!(d.get(&key(i)), Some(&i));
            *d.get_mut(&key(i)).expect("present") += 1;
        }
        assert_eq!(d.iter().count(), d.len());
        while d.rehash_step(1) {}
        assert!(!d.is_rehashing());
        assert_eq!(d.tables[0].size(), 256);
        assert_eq!(d.len(), 150);
        for i in (100..200u64).chain(10_000..10_050) {
            assert_eq!(d.get(&key(i)), Some(&(i + 1)));
        }
        for i in 0..100u64 {
            assert_eq!(d.get(&key(i)), None);
        }
        // A full table is left alone.
        d.shrink_if_needed();
        assert!(!d.is_rehashing());
    }

    #[test]
    fn rehash_step_visits_bounded_empty_buckets() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..5_000u64 {
            d.insert(key(i), i);
        }
        while d.rehash_step(100) {}
        for i in 10..5_000u64 {
            d.remove(&key(i));
        }
        while d.rehash_step(100) {}
        d.shrink_if_needed();
        assert!(d.is_rehashing());
        // With 10 keys in 8192 buckets one step of one bucket stops after at most 10 empty visits.
        let before = d.rehash_idx.expect("rehashing");
        d.rehash_step(1);
        if let Some(after) = d.rehash_idx {
            assert!(
                after - before <= EMPTY_VISITS_PER_STEP + 1,
                "{before} -> {after}"
            );
        }
    }

    #[test]
    fn iter_count_equals_len_mid_rehash() {
        let mut d: Dict<u64, RandomState> = Dict::with_hasher(RandomState::new());
        let mut checked = 0;
        for i in 0..3_000u64 {
            d.insert(key(i), i);
            if d.is_rehashing() {
                let keys = collect_keys(&d);
                assert_eq!(keys.len(), d.len());
                let unique: HashSet<_> = keys.into_iter().collect();
                assert_eq!(unique.len(), d.len(), "iter yielded duplicates mid-rehash");
                checked += 1;
            }
        }
        assert!(checked > 0, "never observed a rehash");
    }

    fn scan_all<V, S: BuildHasher>(d: &Dict<V, S>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            cursor = d.scan(cursor, |k, _| out.push(k.to_vec()));
            calls += 1;
            assert!(calls <= 1 << 20, "scan does not terminate");
            if cursor == 0 {
                return out;
            }
        }
    }

    #[test]
    fn scan_of_empty_dict_returns_zero() {
        let mut d: Dict<u32, FixedState> = Dict::with_hasher(FixedState);
        let mut n = 0;
        assert_eq!(d.scan(0, |_, _| n += 1), 0);
        assert_eq!(d.scan(12345, |_, _| n += 1), 0);
        // Allocated but emptied.
        d.insert(key(1), 1);
        d.remove(&key(1));
        assert_eq!(d.scan(0, |_, _| n += 1), 0);
        assert_eq!(n, 0);
    }

    #[test]
    fn scan_of_static_dict_returns_each_key_exactly_once() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..1_000u64 {
            d.insert(key(i), i);
        }
        for rehashing in [true, false] {
            if !rehashing {
                while d.rehash_step(100) {}
            } else {
                // Push just past a grow so the scan below runs over two tables.
                let mut i = 1_000u64;
                while !d.is_rehashing() {
                    d.insert(key(i), i);
                    i += 1;
                }
            }
            assert_eq!(d.is_rehashing(), rehashing);
            let keys = scan_all(&d);
            let unique: HashSet<_> = keys.iter().cloned().collect();
            assert_eq!(keys.len(), d.len(), "rehashing={rehashing}");
            assert_eq!(unique.len(), d.len(), "rehashing={rehashing}");
        }
        // A garbage cursor (clients send anything) neither panics nor runs forever.
        let mut cursor = u64::MAX;
        let mut calls = 0;
        while cursor != 0 {
            cursor = d.scan(cursor, |_, _| {});
            calls += 1;
            assert!(calls <= d.tables[0].size());
        }
    }

    /// The SCAN guarantee: while keys are inserted and deleted so that the table grows and shrinks
    /// several times during one scan, every key present from the first call to the last is returned.
    #[test]
    fn scan_guarantee_across_grows_and_shrinks() {
        let mut total_grows = 0;
        let mut total_shrinks = 0;
        for seed in 1..=12u64 {
            let (grows, shrinks, rehashing_calls) =
                scan_guarantee_case(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            assert!(
                grows >= 2 && shrinks >= 2,
                "seed {seed}: {grows} grows, {shrinks} shrinks"
            );
            assert!(
                rehashing_calls > 0,
                "seed {seed}: no scan call ran mid-rehash"
            );
            total_grows += grows;
            total_shrinks += shrinks;
        }
        assert!(
            total_grows >= 24 && total_shrinks >= 24,
            "{total_grows} grows, {total_shrinks} shrinks"
        );
    }

    fn scan_guarantee_case(seed: u64) -> (usize, usize, usize) {
        const STABLE: u64 = 40;
        let mut rng = XorShift(seed | 1);
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        let mut next_id = 0u64;
        // Keys that may be deleted; ids below STABLE are never deleted.
        let mut churn: Vec<u64> = Vec::new();
        for _ in 0..600 {
            d.insert(key(next_id), next_id);
            if next_id >= STABLE {
                churn.push(next_id);
            }
            next_id += 1;
        }
        let at_start: HashSet<u64> = (0..next_id).collect();
        let mut deleted: HashSet<u64> = HashSet::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();

        // Oscillate between a random high and low mark so resizes happen at varied sizes, and
        // shrinks go down several powers of two at once.
        let mut growing = true;
        let mut high = 1_000 + rng.below(5_000);
        let mut low = STABLE as usize + rng.below(300);
        let mut size = d.tables[0].size();
        let (mut grows, mut shrinks, mut rehashing_calls) = (0, 0, 0);
        let mut cursor = 0u64;
        let mut calls = 0;
        loop {
            if d.is_rehashing() {
                rehashing_calls += 1;
            }
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
            });
            calls += 1;
            assert!(calls < 1_000_000, "scan did not terminate");
            if cursor == 0 {
                break;
            }
            let ops = 1 + rng.below(60);
            for _ in 0..ops {
                if growing && d.len() > high {
                    growing = false;
                    low = STABLE as usize + rng.below(300);
                } else if !growing && d.len() < low {
                    growing = true;
                    high = 1_000 + rng.below(5_000);
                }
                let roll = rng.below(100);
                if (growing && roll < 85) || (!growing && roll < 15) || churn.is_empty() {
                    d.insert(key(next_id), next_id);
                    churn.push(next_id);
                    next_id += 1;
                } else {
                    let victim = churn.swap_remove(rng.below(churn.len()));
                    assert_eq!(d.remove(&key(victim)).map(|(_, v)| v), Some(victim));
                    deleted.insert(victim);
                }
                if rng.below(8) == 0 {
                    d.shrink_if_needed();
                }
                if rng.below(16) == 0 {
                    d.rehash_step(1 + rng.below(4));
                }
                if rng.below(100) == 0 {
                    // Like Redis's cron, finish a rehash outright, so some resizes complete
                    // entirely between two scan calls.
                    while d.rehash_step(100) {}
                }
                let now = d.tables[0].size();
                if now > size {
                    grows += 1;
                } else if now < size {
                    shrinks += 1;
                }
                size = now;
            }
        }
        for id in at_start.difference(&deleted) {
            assert!(
                seen.contains(&key(*id)[..]),
                "seed {seed:#x}: key {id} present for the whole scan was never returned"
            );
        }
        // And nothing returned that never existed.
        for k in &seen {
            let s = std::str::from_utf8(k).expect("utf8 key");
            let id: u64 = s.trim_start_matches("key:").parse().expect("numeric id");
            assert!(id < next_id);
        }
        (grows, shrinks, rehashing_calls)
    }

    /// A resize that completes entirely between two scan calls, at many cursor positions: a big
    /// shrink (4096 -> 64 buckets) and a big grow (64 -> 4096).
    #[test]
    fn scan_guarantee_when_a_resize_completes_between_calls() {
        for shrink in [true, false] {
            for first_calls in [
                1usize, 2, 3, 5, 17, 40, 41, 100, 500, 1000, 2047, 3000, 4000,
            ] {
                let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
                let small = 50u64;
                let big = 4_000u64;
                let start = if shrink { big } else { small };
                for i in 0..start {
                    d.insert(key(i), i);
                }
                while d.rehash_step(100) {}
                let mut seen = HashSet::new();
                let mut cursor = 0;
                for _ in 0..first_calls {
                    cursor = d.scan(cursor, |k, _| {
                        seen.insert(k.to_vec());
                    });
                    if cursor == 0 {
                        break;
                    }
                }
                if cursor == 0 {
                    continue;
                }
                if shrink {
                    for i in small..big {
                        d.remove(&key(i));
                    }
                    while d.rehash_step(100) {}
                    d.shrink_if_needed();
                    assert!(d.is_rehashing());
                } else {
                    for i in small..big {
                        d.insert(key(i), i);
                    }
                }
                while d.rehash_step(100) {}
                assert_eq!(d.tables[0].size(), if shrink { 64 } else { 4_096 });
                let mut calls = 0;
                while cursor != 0 {
                    cursor = d.scan(cursor, |k, _| {
                        seen.insert(k.to_vec());
                    });
                    calls += 1;
                    assert!(calls <= 4_096);
                }
                for i in 0..small {
                    assert!(
                        seen.contains(&key(i)[..]),
                        "shrink={shrink} first_calls={first_calls}: key {i} missed"
                    );
                }
            }
        }
    }

    #[test]
    fn random_entry_and_sample_return_existing_keys() {
        let mut rng = XorShift(0x1234_5678);
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        let mut r = || rng.next();
        assert!(d.random_entry(&mut r).is_none());
        let mut n = 0;
        d.sample(10, &mut r, |_, _| n += 1);
        assert_eq!(n, 0);

        let mut checked_rehashing = false;
        for i in 0..5_000u64 {
            d.insert(key(i), i);
            if i % 50 == 0 || d.is_rehashing() {
                checked_rehashing |= d.is_rehashing();
                let (k, v) = d.random_entry(&mut r).expect("non-empty");
                assert_eq!(d.get(k), Some(v));
                assert!(*v <= i);
                let mut got = 0;
                d.sample(16, &mut r, |k, v| {
                    assert!(*v <= i);
                    assert_eq!(&*key(*v), k);
                    got += 1;
                });
                assert!(got <= 16);
            }
        }
        assert!(checked_rehashing);
        // Shrinking rehash too: delete most keys and sample mid-shrink.
        for i in 100..5_000u64 {
            d.remove(&key(i));
        }
        while d.rehash_step(100) {}
        d.shrink_if_needed();
        assert!(d.is_rehashing());
        let mut total = 0;
        for _ in 0..200 {
            let (_, v) = d.random_entry(&mut r).expect("non-empty");
            assert!(*v < 100);
            d.sample(5, &mut r, |_, v| {
                assert!(*v < 100);
                total += 1;
            });
        }
        assert!(
            total > 0,
            "sample never returned anything from a non-empty dict"
        );
    }

    #[test]
    fn random_entry_reaches_every_key() {
        let mut rng = XorShift(99);
        let mut r = || rng.next();
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..8u64 {
            d.insert(key(i), i);
        }
        let mut seen = HashSet::new();
        for _ in 0..2_000 {
            seen.insert(*d.random_entry(&mut r).expect("non-empty").1);
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn random_entry_reaches_keys_in_both_tables_mid_rehash() {
        let mut rng = XorShift(7);
        let mut r = || rng.next();
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..5u64 {
            d.insert(key(i), i);
        }
        // The fifth insert started a grow; it sits in the new table, most others in the old one.
        assert!(d.is_rehashing());
        assert!(d.tables[0].used > 0 && d.tables[1].used > 0);
        let mut seen = HashSet::new();
        for _ in 0..2_000 {
            seen.insert(*d.random_entry(&mut r).expect("non-empty").1);
        }
        assert_eq!(seen.len(), 5);
    }

    /// Emptying a table mid-shrink finishes the shrink: nothing else may touch the table
    /// again to move its (empty) old buckets, and the old array would stay allocated.
    #[test]
    fn emptying_a_table_mid_resize_finishes_the_resize() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..1_000u64 {
            d.insert(key(i), i);
        }
        while d.rehash_step(100) {}
        let mut seen_resizing = false;
        for i in 0..1_000u64 {
            d.remove(&key(i));
            d.shrink_if_needed();
            seen_resizing |= d.is_rehashing();
        }
        assert!(seen_resizing, "the removals never started a shrink");
        assert!(d.is_empty());
        assert!(!d.is_rehashing());
        assert!(d.tables[0].size() <= INITIAL_SIZE);
    }

    #[test]
    fn sample_work_is_bounded() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..1_000u64 {
            d.insert(key(i), i);
        }
        while d.rehash_step(100) {}
        assert_eq!(d.tables[0].size(), 1_024);
        // Keep one key whose bucket is far from bucket 0.
        let far = (0..1_000u64)
            .find(|i| d.tables[0].index(d.hash_key(&key(*i))) > 100)
            .expect("some key hashes past bucket 100");
        d.retain(|k, _| *k == *key(far));
        assert_eq!(d.len(), 1);
        // A source stuck at 0 keeps sending the walk back to bucket 0; only the visit budget
        // (count * 10 buckets) ends the call.
        let mut rand_calls = 0;
        let mut stuck = || {
            rand_calls += 1;
            assert!(rand_calls < 100, "sample kept going past its visit budget");
            0u64
        };
        let mut got = 0;
        d.sample(1, &mut stuck, |_, _| got += 1);
        assert_eq!(got, 0);
        // With a real source it does find the key sometimes.
        let mut rng = XorShift(3);
        let mut r = || rng.next();
        let mut found = 0;
        for _ in 0..2_000 {
            d.sample(1, &mut r, |k, _| {
                assert_eq!(k, &*key(far));
                found += 1;
            });
        }
        assert!(found > 0);
    }

    #[test]
    fn random_entry_terminates_with_a_degenerate_source() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..1_000u64 {
            d.insert(key(i), i);
        }
        while d.rehash_step(100) {}
        for i in 1..1_000u64 {
            d.remove(&key(i));
        }
        // One key in 1024 buckets and a "random" source that always says 0: bucket 0 is most
        // likely empty, and the fallback walk must still find the key.
        let mut zero = || 0u64;
        assert_eq!(d.random_entry(&mut zero).map(|(_, v)| *v), Some(0));
    }

    #[test]
    fn overhead_bytes_counts_buckets_and_nodes() {
        assert_eq!(mem::size_of::<Link<u64>>(), mem::size_of::<usize>());
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..5u64 {
            d.insert(key(i), i);
        }
        assert!(d.is_rehashing());
        let expected = (4 + 8) * mem::size_of::<usize>() + 5 * mem::size_of::<Node<u64>>();
        assert_eq!(d.overhead_bytes(), expected);
    }

    #[test]
    fn for_each_mut_and_retain() {
        let mut d: Dict<u64, FixedState> = Dict::with_hasher(FixedState);
        for i in 0..1_000u64 {
            d.insert(key(i), i);
            if i == 600 {
                assert!(d.is_rehashing() || d.tables[0].size() > 0);
            }
        }
        // Force a rehash in progress so both tables are touched.
        let mut i = 1_000u64;
        while !d.is_rehashing() {
            d.insert(key(i), i);
            i += 1;
        }
        let len = d.len();
        let mut visited = 0;
        d.for_each_mut(|k, v| {
            assert_eq!(&*key(*v), k);
            *v *= 10;
            visited += 1;
        });
        assert_eq!(visited, len);
        d.retain(|_, v| {
            *v += 1;
            (*v / 10) % 2 == 0
        });
        assert_eq!(d.len(), len.div_ceil(2));
        assert_eq!(d.iter().count(), d.len());
        for j in 0..i {
            let expected = if j % 2 == 0 { Some(j * 10 + 1) } else { None };
            assert_eq!(d.get(&key(j)).copied(), expected, "key {j}");
        }
        while d.rehash_step(10) {}
        assert_eq!(d.iter().count(), d.len());
        d.retain(|_, _| false);
        assert!(d.is_empty());
        assert_eq!(d.iter().count(), 0);
    }

    #[test]
    fn constant_hasher_still_correct() {
        let mut d: Dict<u64, ConstState> = Dict::with_hasher(ConstState);
        for i in 0..2_000u64 {
            d.insert(key(i), i);
        }
        for i in (0..2_000u64).step_by(3) {
            assert_eq!(d.remove(&key(i)).map(|(_, v)| v), Some(i));
        }
        for i in 0..2_000u64 {
            assert_eq!(
                d.get(&key(i)).copied(),
                if i % 3 == 0 { None } else { Some(i) }
            );
        }
        assert_eq!(scan_all(&d).len(), d.len());
    }

    /// Builds a dict whose single bucket chains `n` nodes, without the O(n^2) cost of inserting
    /// them one by one through the duplicate check.
    fn one_long_chain(n: u64) -> Dict<u64, ConstState> {
        let mut d: Dict<u64, ConstState> = Dict::with_hasher(ConstState);
        d.insert(key(0), 0);
        let table = &mut d.tables[0];
        for i in 1..n {
            let next = table.buckets[0].take();
            table.buckets[0] = Some(Box::new(Node {
                key: key(i),
                value: i,
                next,
            }));
            table.used += 1;
        }
        d
    }

    /// Runs `f` on a thread with a small stack, so a recursive drop would overflow it for certain.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("thread panicked");
    }

    #[test]
    fn dropping_a_long_chain_does_not_overflow_the_stack() {
        on_small_stack(|| {
            let d = one_long_chain(200_000);
            assert_eq!(d.len(), 200_000);
            assert_eq!(d.get(&key(0)), Some(&0));
            drop(d);
        });
        on_small_stack(|| {
            let mut d = one_long_chain(200_000);
            d.clear();
            assert!(d.is_empty());
        });
        on_small_stack(|| {
            // Growing moves the whole chain in one rehash step; retain then drops most of it.
            let mut d = one_long_chain(200_000);
            d.insert(key(200_000), 200_000);
            while d.rehash_step(1) {}
            assert_eq!(d.len(), 200_001);
            d.retain(|_, v| *v % 1000 == 0);
            assert_eq!(d.len(), 201);
            assert_eq!(d.remove(&key(5_000)).map(|(_, v)| v), Some(5_000));
        });
    }
}
