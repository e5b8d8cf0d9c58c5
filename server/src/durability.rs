//! The write-ahead log as the server runs it: recovery at startup, the engine's effect sink,
//! and the wait that keeps a reply from going out before its write is on disk under
//! `appendfsync always`.

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Records up to `covered` are already in the loaded snapshot and are skipped.
    pub fn recover_and_open(
        &self,
        engine: &Engine,
        covered: u64,
    ) -> Result<wal::Recovered, String> {
        let started = std::time::Instant::now();
        let r = wal::recover(&self.dir, &self.base, |seq, effects| {
            if seq <= covered {
                return Ok(());
            }
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
            // Numbering goes on after the snapshot even when no segment is left.
            r.last_seq.max(covered),
            Box::new(move |_| notify.notify_waiters()),
        )
        .map_err(|e| {
            format!(
                "cannot open the write-ahead log in {}: {e}",
                self.dir.display()
            )
        })?;
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

/// The snapshot file: `dbfilename` in `dir`.
pub fn snapshot_path(config: &crate::config::Config) -> PathBuf {
    PathBuf::from(config.get("dir")).join(config.get("dbfilename"))
}

/// Startup: the snapshot (if any), then the log after it. Runs before the cron starts and
/// while clients get -LOADING.
pub fn load_at_startup(srv: &crate::server::Server) -> Result<(), String> {
    let path = snapshot_path(&srv.config);
    let mut covered = 0;
    if path.exists() {
        let started = std::time::Instant::now();
        let l = strata_engine::snapshot::load(&srv.engine, &path)?;
        covered = l.seq;
        tracing::info!(
            keys = l.keys,
            seq = l.seq,
            seconds = started.elapsed().as_secs_f64(),
            "DB loaded from the snapshot {}",
            path.display()
        );
    }
    if let Some(d) = &srv.durability {
        d.recover_and_open(&srv.engine, covered)?;
    }
    Ok(())
}

/// SAVE: writes the snapshot, then drops the log segments it covers. The caller holds the
/// engine's exclusive gate, so no write runs meanwhile and the log's last number is the cut.
pub fn save(srv: &crate::server::Server) -> Result<(), String> {
    if srv.saves.in_progress.load(Ordering::Acquire) {
        return Err("Background save already in progress".into());
    }
    let path = snapshot_path(&srv.config);
    let wal = srv.durability.as_ref().and_then(|d| d.wal());
    let seq = wal.map_or(0, |w| w.last_seq());
    let started = std::time::Instant::now();
    let keys = strata_engine::snapshot::save(&srv.engine, &path, seq).map_err(|e| {
        format!(
            "Failed opening the snapshot file {} for saving: {e}",
            path.display()
        )
    })?;
    if let (Some(d), Some(w)) = (&srv.durability, wal) {
        let first_kept = w.roll()?;
        for (index, p) in wal::segments(&d.dir, &d.base).map_err(|e| e.to_string())? {
            if index < first_kept {
                std::fs::remove_file(&p)
                    .map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
            }
        }
    }
    srv.engine.stats.dirty.reset();
    srv.saves.saved_now();
    tracing::info!(
        keys,
        seq,
        seconds = started.elapsed().as_secs_f64(),
        "DB saved on disk"
    );
    Ok(())
}

/// Snapshot bookkeeping shared with the background save's thread.
pub struct SaveState {
    /// Unix time of the last successful save (the start time until then), for LASTSAVE.
    pub last_save: AtomicU64,
    pub in_progress: AtomicBool,
    /// The running background save was asked for by BGREWRITEAOF.
    pub rewrite: AtomicBool,
    pub last_ok: AtomicBool,
    /// Unix time of the last attempt started by the `save` points.
    pub last_try: AtomicU64,
}

impl SaveState {
    pub fn new(now: u64) -> SaveState {
        SaveState {
            last_save: AtomicU64::new(now),
            in_progress: AtomicBool::new(false),
            rewrite: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_try: AtomicU64::new(0),
        }
    }

    fn saved_now(&self) {
        self.last_save.store(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Ordering::Relaxed,
        );
    }
}

/// The cron's check of the `save` points: starts a background save when, for some point,
/// at least `changes` writes happened in the last `seconds` since the last save. After a
/// failed save it waits 5 seconds before trying again, as Redis does.
pub fn maybe_save(srv: &crate::server::Server) {
    if srv.saves.in_progress.load(Ordering::Acquire) || srv.loading.load(Ordering::Relaxed) {
        return;
    }
    let points = srv.config.get("save");
    let words: Vec<u64> = points
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let since = now.saturating_sub(srv.saves.last_save.load(Ordering::Relaxed));
    let dirty = srv.engine.stats.dirty.get();
    let due = words
        .chunks_exact(2)
        .any(|p| dirty >= p[1] && since >= p[0]);
    let retry_ok = srv.saves.last_ok.load(Ordering::Relaxed)
        || now.saturating_sub(srv.saves.last_try.load(Ordering::Relaxed)) >= 5;
    if due && retry_ok {
        srv.saves.last_try.store(now, Ordering::Relaxed);
        let _gate = srv.engine.gate_exclusive();
        if let Err(e) = bgsave(srv, false) {
            tracing::warn!("Background saving could not start: {e}");
        }
    }
}

/// BGSAVE (and BGREWRITEAOF): cuts the dataset at the log's current number and starts the
/// background snapshot; when it is on disk, the log segments it covers are dropped. The
/// caller holds the exclusive gate for the cut only.
pub fn bgsave(srv: &crate::server::Server, rewrite: bool) -> Result<(), String> {
    if srv.saves.in_progress.load(Ordering::Acquire) {
        return Err(if rewrite {
            "Background append only file rewriting already in progress".into()
        } else {
            "Background save already in progress".into()
        });
    }
    let path = snapshot_path(&srv.config);
    let wal = srv.durability.as_ref().and_then(|d| d.wal());
    let seq = wal.map_or(0, |w| w.last_seq());
    // Records up to the cut are in segments below this index once the log rolls here.
    let first_kept = match wal {
        Some(w) => Some(w.roll()?),
        None => None,
    };
    let dirty_at_cut = srv.engine.stats.dirty.get();
    let job = srv
        .engine
        .bgsave(path.clone(), seq)
        .map_err(|e| format!("Can't start the background save: {e}"))?;
    srv.saves.in_progress.store(true, Ordering::Release);
    srv.saves.rewrite.store(rewrite, Ordering::Relaxed);
    let saves = srv.saves.clone();
    let durability = srv.durability.clone();
    let engine = srv.engine.clone();
    let started = std::time::Instant::now();
    std::thread::Builder::new()
        .name("strata-bgsave-wait".into())
        .spawn(move || {
            let r = job
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the save thread panicked")));
            match r {
                Ok(keys) => {
                    if let (Some(d), Some(first_kept)) = (&durability, first_kept) {
                        if let Ok(segs) = wal::segments(&d.dir, &d.base) {
                            for (index, p) in segs {
                                if index < first_kept {
                                    let _ = std::fs::remove_file(&p);
                                }
                            }
                        }
                    }
                    let now = engine.stats.dirty.get();
                    engine.stats.dirty.reset();
                    engine.stats.dirty.add(now.saturating_sub(dirty_at_cut));
                    saves.saved_now();
                    saves.last_ok.store(true, Ordering::Relaxed);
                    tracing::info!(
                        keys,
                        seq,
                        seconds = started.elapsed().as_secs_f64(),
                        "Background saving terminated with success"
                    );
                }
                Err(e) => {
                    saves.last_ok.store(false, Ordering::Relaxed);
                    tracing::warn!("Background saving error: {e}");
                }
            }
            saves.in_progress.store(false, Ordering::Release);
        })
        .map_err(|e| e.to_string())?;
    tracing::info!("Background saving started");
    Ok(())
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
