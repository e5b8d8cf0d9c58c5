//! WATCH: which clients watch which keys, and the flag that makes their EXEC fail once a watched
//! key changes. Writes pay one relaxed atomic load when nobody watches anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// One client's stake in one key.
struct Watcher {
    client: u64,
    dirty: Arc<AtomicBool>,
    /// The key was already logically expired when WATCH ran: its deletion by expiry is no change.
    expired_at_watch: bool,
}

/// What a FLUSHDB/SWAPDB does to one watched key (see [`WatchRegistry::touch_db`]).
#[derive(Debug, Clone, Copy)]
pub struct DbKeyState {
    /// The key was in the database's old contents (even if logically expired).
    pub in_emptied: bool,
    /// SWAPDB: the key is in the contents that replace them.
    pub in_replacement: bool,
    /// ... and is logically expired there.
    pub replacement_expired: bool,
}

/// A watched key: its database and name.
type WatchedKey = (usize, Box<[u8]>);

#[derive(Default)]
pub struct WatchRegistry {
    watchers: AtomicUsize,
    keys: Mutex<HashMap<WatchedKey, Vec<Watcher>>>,
}

impl WatchRegistry {
    pub fn watch(
        &self,
        db: usize,
        key: &[u8],
        client: u64,
        dirty: &Arc<AtomicBool>,
        expired: bool,
    ) {
        let mut keys = self.keys.lock();
        let list = keys.entry((db, key.into())).or_default();
        if list.iter().any(|w| w.client == client) {
            return;
        }
        list.push(Watcher {
            client,
            dirty: dirty.clone(),
            expired_at_watch: expired,
        });
        self.watchers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unwatch(&self, db: usize, key: &[u8], client: u64) {
        let mut keys = self.keys.lock();
        let k = (db, Box::<[u8]>::from(key));
        if let Some(list) = keys.get_mut(&k) {
            let before = list.len();
            list.retain(|w| w.client != client);
            self.watchers
                .fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                keys.remove(&k);
            }
        }
    }

    /// Whether `client`'s watch on the key started on an already expired key.
    pub fn expired_at_watch(&self, db: usize, key: &[u8], client: u64) -> bool {
        let keys = self.keys.lock();
        keys.get(&(db, key.into()))
            .and_then(|l| l.iter().find(|w| w.client == client))
            .is_some_and(|w| w.expired_at_watch)
    }

    /// A key changed: every client watching it will fail its EXEC.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.watchers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let keys = self.keys.lock();
        if let Some(list) = keys.get(&(db, key.into())) {
            for w in list {
                w.dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// A key was deleted because it expired: as `touch`, except for watchers who watched it
    /// already expired, for whom nothing changed.
    pub fn touch_expired(&self, db: usize, key: &[u8]) {
        if self.watchers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut keys = self.keys.lock();
        if let Some(list) = keys.get_mut(&(db, key.into())) {
            for w in list {
                if w.expired_at_watch {
                    w.expired_at_watch = false;
                } else {
                    w.dirty.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// A whole database changed (FLUSHDB, FLUSHALL, SWAPDB). For each watched key of `db`,
    /// `states` says whether it was in the emptied contents and what replaces it; the caller
    /// computes that under the shard locks *before* calling, so this never holds the registry
    /// lock and a shard lock at once in that order (the expiry path takes them the other way).
    /// The rules are Redis's touchAllWatchedKeysInDb.
    pub fn touch_db(&self, db: usize, states: &[(Box<[u8]>, DbKeyState)]) {
        if self.watchers.load(Ordering::Relaxed) == 0 || states.is_empty() {
            return;
        }
        let mut keys = self.keys.lock();
        for (key, st) in states {
            if !st.in_emptied && !st.in_replacement {
                continue;
            }
            let Some(list) = keys.get_mut(&(db, key.clone())) else {
                continue;
            };
            for w in list.iter_mut() {
                if w.expired_at_watch {
                    if !st.in_replacement {
                        // The already expired key is now gone: no logical change.
                        w.expired_at_watch = false;
                        continue;
                    }
                    if st.replacement_expired {
                        continue;
                    }
                } else if !st.in_emptied && st.replacement_expired {
                    // A missing key replaced by an expired one: still logically missing.
                    w.expired_at_watch = true;
                    continue;
                }
                w.dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The watched keys of one database (for FLUSH/SWAPDB to test before they change it).
    pub fn keys_in_db(&self, db: usize) -> Vec<Box<[u8]>> {
        if self.watchers.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        self.keys
            .lock()
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }
}
