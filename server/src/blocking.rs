//! Clients blocked on keys (BLPOP and friends). A blocked client waits in a FIFO queue on
//! each of its keys; a write to a key wakes the first client waiting on it, which runs its
//! command again (and goes on waiting, still first, if another client took the data). No
//! polling: a client sleeps until a write to one of its keys, its timeout, CLIENT UNBLOCK, a
//! kill, or its connection closing.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use strata_engine::reply::Reply;

/// What a blocking command left for the connection when it found nothing to take.
pub struct Blocked {
    /// The keys to wait on, in the client's database.
    pub keys: Vec<Bytes>,
    pub db: usize,
    /// Milliseconds to wait; 0 waits for ever.
    pub timeout_ms: u64,
    /// The reply on timeout (or CLIENT UNBLOCK ... TIMEOUT).
    pub on_timeout: Reply,
    /// What to run when woken, if not the command as sent.
    pub rerun: Option<Vec<Bytes>>,
}

type Waiters = VecDeque<(u64, Arc<Notify>)>;

/// Every blocked client, by the keys it waits on.
#[derive(Default)]
pub struct Registry {
    keys: Mutex<HashMap<(usize, Bytes), Waiters>>,
    /// Blocked clients (INFO blocked_clients); writes skip the lock while it is 0.
    clients: AtomicUsize,
}

impl Registry {
    /// Queues `client` on every key; the returned Notify wakes it.
    pub fn register(&self, client: u64, db: usize, keys: &[Bytes]) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        let mut map = self.keys.lock();
        // Counted under the lock, so a signal that sees the queue also sees the count.
        self.clients.fetch_add(1, Ordering::AcqRel);
        for k in keys {
            let q = map.entry((db, k.clone())).or_default();
            if !q.iter().any(|(c, _)| *c == client) {
                q.push_back((client, n.clone()));
            }
        }
        n
    }

    pub fn unregister(&self, client: u64, db: usize, keys: &[Bytes]) {
        let mut map = self.keys.lock();
        for k in keys {
            let key = (db, k.clone());
            if let Some(q) = map.get_mut(&key) {
                q.retain(|(c, _)| *c != client);
                if q.is_empty() {
                    map.remove(&key);
                }
            }
        }
        self.clients.fetch_sub(1, Ordering::AcqRel);
    }

    /// A write touched `key`: wake the first client waiting on it.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if self.clients.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(q) = self.keys.lock().get(&(db, Bytes::copy_from_slice(key))) {
            wake_first(q);
        }
    }

    /// SWAPDB: wake the first client on every key of database `db`.
    pub fn signal_db(&self, db: usize) {
        if self.clients.load(Ordering::Acquire) == 0 {
            return;
        }
        for ((d, _), q) in self.keys.lock().iter() {
            if *d == db {
                wake_first(q);
            }
        }
    }

    pub fn any(&self) -> bool {
        self.clients.load(Ordering::Acquire) > 0
    }

    pub fn blocked_clients(&self) -> usize {
        self.clients.load(Ordering::Acquire)
    }

    /// Keys with at least one client waiting (INFO total_blocking_keys).
    pub fn blocking_keys(&self) -> usize {
        self.keys.lock().len()
    }
}

/// Wakes the client first in line on a key.
fn wake_first(q: &Waiters) {
    if let Some((_, n)) = q.front() {
        n.notify_one();
    }
}

/// A blocking command's timeout argument, in milliseconds, with Redis's errors.
pub fn parse_timeout(arg: &[u8]) -> Result<u64, strata_engine::error::CmdError> {
    use strata_engine::error;
    let s = std::str::from_utf8(arg).map_err(|_| error::TIMEOUT_NOT_FLOAT)?;
    let secs: f64 = s.trim().parse().map_err(|_| error::TIMEOUT_NOT_FLOAT)?;
    if secs.is_nan() || s.trim().is_empty() {
        return Err(error::TIMEOUT_NOT_FLOAT);
    }
    let ms = secs * 1000.0;
    // Redis 7.0 converts to a 64-bit integer: infinities and values past its range wrap to
    // negative, hence the same error.
    if secs < 0.0 || !ms.is_finite() || ms >= i64::MAX as f64 {
        return Err(error::TIMEOUT_NEGATIVE);
    }
    // A positive timeout below a millisecond still waits (Redis rounds up to 1 ms).
    Ok(if ms > 0.0 && ms < 1.0 { 1 } else { ms as u64 })
}
