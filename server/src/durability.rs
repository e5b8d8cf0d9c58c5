//! The write-ahead log as the server runs it: recovery at startup, the engine's effect sink,
//! and the wait that keeps a reply from going out before its write is on disk under
//! `appendfsync always`.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use strata_engine::effect::Effect;
use strata_engine::wal::{self, Fsync, Wal};
use strata_engine::{EffectSink, Engine};

thread_local! {
    /// The sequence number of the last commit this thread logged since the connection loop
    /// last looked (see [`take_last_seq`]).
    static LAST_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// The last sequence number this thread logged since the previous call, 0 if none.
pub fn take_last_seq() -> u64 {
    LAST_SEQ.with(|c| c.replace(0))
}

pub struct Durability {
    pub dir: PathBuf,
    pub base: String,
    wal: OnceLock<Wal>,
    /// Woken by the writer thread after every fsync (or failure).
    notify: Arc<tokio::sync::Notify>,
}

impl Durability {
    pub fn new(dir: PathBuf, base: String) -> Arc<Durability> {
        Arc::new(Durability {
            dir,
            base,
            wal: OnceLock::new(),
            notify: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Replays the log into `engine`, then opens a new segment for writing. Called before the
    /// server accepts connections; an error names the damaged file and what to do.
    pub fn recover_and_open(&self, engine: &Engine) -> Result<wal::Recovered, String> {
        let started = std::time::Instant::now();
        let r = wal::recover(&self.dir, &self.base, |_, effects| {
            for e in &effects {
                engine.apply(e).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if let Some((path, offset)) = &r.truncated {
            tracing::warn!(
                "!!! Warning: the write-ahead log {} ended in an incomplete record (a write cut \
                 short by a crash); truncated it at offset {offset}, after the last complete record",
                path.display()
            );
        }
        let notify = self.notify.clone();
        let w = Wal::open_shared(
            &self.dir,
            &self.base,
            engine.config.appendfsync.clone(),
            r.last_index,
            r.last_seq,
            Box::new(move |_| notify.notify_waiters()),
        )
        .map_err(|e| format!("cannot open the write-ahead log in {}: {e}", self.dir.display()))?;
        tracing::info!(
            records = r.records,
            segments = r.segments,
            seconds = started.elapsed().as_secs_f64(),
            "DB loaded from the write-ahead log"
        );
        let _ = self.wal.set(w);
        Ok(r)
    }

    pub fn wal(&self) -> Option<&Wal> {
        self.wal.get()
    }

    /// The log's write or fsync error, which stops writes.
    pub fn error(&self) -> Option<String> {
        self.wal.get().and_then(|w| w.error())
    }

    /// Waits until commit `seq` may be acknowledged: on disk (fdatasync) under `appendfsync
    /// always`; written to the file otherwise, so a crash of the process alone never loses an
    /// acknowledged write (as Redis writes its AOF before replying). False when the log failed:
    /// the caller must not acknowledge the write.
    pub async fn wait_durable(&self, seq: u64, mode: Fsync) -> bool {
        let Some(w) = self.wal.get() else {
            return true;
        };
        loop {
            let notified = self.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let done = if mode == Fsync::Always {
                w.synced()
            } else {
                w.written()
            };
            if done >= seq {
                return true;
            }
            if w.error().is_some() {
                return false;
            }
            notified.await;
        }
    }

    /// Writes and syncs everything logged, for a clean shutdown.
    pub fn close(&self) {
        if let Some(w) = self.wal.get() {
            w.close();
        }
    }
}

/// The engine's effect sink: each commit becomes one log record.
pub struct WalSink(pub Arc<Durability>);

impl EffectSink for WalSink {
    fn append(&self, effects: &[Effect]) {
        if let Some(w) = self.0.wal.get() {
            let seq = w.append(effects);
            LAST_SEQ.with(|c| c.set(seq));
        }
    }
}
