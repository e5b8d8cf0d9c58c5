//! The write-ahead log as the server runs it: recovery at startup, the engine's effect sink,
//! the wait that keeps a reply from going out before its write is on disk under
//! `appendfsync always`, turning the log on and off at run time (`CONFIG SET appendonly`),
//! and snapshots (SAVE, BGSAVE, BGREWRITEAOF, `save` points, automatic rewrites).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};

use parking_lot::RwLock;
use strata_engine::effect::Effect;
use strata_engine::wal::{self, Fsync, Wal};
use strata_engine::{EffectSink, Engine};

use crate::server::Server;

thread_local! {
    /// The sequence number of the last commit this thread logged since the connection loop
    /// last looked (see [`take_last_seq`]).
    static LAST_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// The last sequence number this thread logged since the previous call, 0 if none.
pub fn take_last_seq() -> u64 {
    LAST_SEQ.with(|c| c.replace(0))
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct Durability {
    /// The log's directory (`dir`/`appenddirname`) and file base name (`appendfilename`).
    pub dir: PathBuf,
    pub base: String,
    /// Whether commits are logged (`appendonly`). Changed only under the engine's exclusive
    /// gate, so no write is half logged.
    on: AtomicBool,
    wal: RwLock<Option<Arc<Wal>>>,
    /// `appendfsync`, shared with the engine's config and every log opened.
    fsync: Arc<AtomicU8>,
    /// Connections waiting for their commit to be synced (or for a stalled sync to end).
    waiters: Arc<Waiters>,
    /// The highest sequence number of the loaded snapshot and of every log this process has
    /// closed: a snapshot taken with the log off is numbered with it, and a log turned on
    /// continues after it, so recovery never skips a record it needs.
    floor: AtomicU64,
}

impl Durability {
    pub fn new(dir: PathBuf, base: String, on: bool, fsync: Arc<AtomicU8>) -> Arc<Durability> {
        Arc::new(Durability {
            dir,
            base,
            on: AtomicBool::new(on),
            wal: RwLock::new(None),
            fsync,
            waiters: Arc::new(Waiters::default()),
            floor: AtomicU64::new(0),
        })
    }

    /// Whether `appendonly` is on.
    pub fn enabled(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Replays the log into `engine`, then opens a new segment for writing. Called at startup
    /// with `appendonly yes`; an error names the damaged file and what to do. Records up to
    /// `covered` are already in the loaded snapshot and are skipped.
    pub fn recover_and_open(&self, engine: &Engine, covered: u64) -> Result<(), String> {
        let started = std::time::Instant::now();
        let r = wal::recover(&self.dir, &self.base, |seq, effects| {
            if seq <= covered {
                return Ok(());
            }
            for e in &effects {
                engine.apply(e).map_err(|e| e.to_string())?;
            }
            engine.spill_to_limit();
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
        // Numbering goes on after the snapshot even when no segment is left.
        self.floor
            .fetch_max(r.last_seq.max(covered), Ordering::AcqRel);
        self.open(r.last_index)?;
        tracing::info!(
            records = r.records,
            segments = r.segments,
            seconds = started.elapsed().as_secs_f64(),
            "DB loaded from the write-ahead log"
        );
        Ok(())
    }

    /// Opens a new segment after `last_index`, numbering from the floor.
    fn open(&self, last_index: u64) -> Result<(), String> {
        let waiters = self.waiters.clone();
        let w = Wal::open_shared(
            &self.dir,
            &self.base,
            self.fsync.clone(),
            last_index,
            self.floor.load(Ordering::Acquire),
            Box::new(move |synced| waiters.wake_upto(synced)),
        )
        .map_err(|e| {
            format!(
                "cannot open the write-ahead log in {}: {e}",
                self.dir.display()
            )
        })?;
        *self.wal.write() = Some(Arc::new(w));
        self.on.store(true, Ordering::Release);
        Ok(())
    }

    /// CONFIG SET appendonly yes: starts a new log after the existing segments, which are
    /// removed: they describe a history the dataset has moved on from while the log was off.
    /// The caller holds the exclusive gate and then starts a rewrite, whose snapshot makes the
    /// new log whole. Until it lands, a crash loses what the old snapshot lacks, as in Redis.
    pub fn turn_on(&self) -> Result<(), String> {
        if self.enabled() {
            return Ok(());
        }
        let stale = self.stale_segments()?;
        let last_index = stale.last().map_or(0, |(i, _)| *i);
        for (_, p) in &stale {
            std::fs::remove_file(p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
        }
        self.open(last_index)
    }

    /// CONFIG SET appendonly no: writes and syncs what is logged, then stops logging. The
    /// caller holds the exclusive gate.
    pub fn turn_off(&self) {
        if let Some(w) = self.wal() {
            // No write runs meanwhile (the gate): everything logged is on disk before the
            // waiters are told the log is gone.
            w.close();
            self.floor.fetch_max(w.last_seq(), Ordering::AcqRel);
        }
        self.on.store(false, Ordering::Release);
        *self.wal.write() = None;
        self.waiters.wake_upto(u64::MAX);
    }

    /// Whether the log directory holds any segment (startup then has something to replay).
    pub fn has_segments(&self) -> bool {
        !self.stale_segments().unwrap_or_default().is_empty()
    }

    fn stale_segments(&self) -> Result<Vec<(u64, PathBuf)>, String> {
        match wal::segments(&self.dir, &self.base) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("cannot list {}: {e}", self.dir.display())),
        }
    }

    pub fn wal(&self) -> Option<Arc<Wal>> {
        self.wal.read().clone()
    }

    /// The last sequence number logged, or the floor when the log is off: the number a
    /// snapshot taken now carries.
    pub fn last_seq(&self) -> u64 {
        match self.wal.read().as_ref() {
            Some(w) => w.last_seq(),
            None => self.floor.load(Ordering::Acquire),
        }
    }

    /// Called after a snapshot is loaded at startup.
    pub fn loaded_snapshot(&self, seq: u64) {
        self.floor.fetch_max(seq, Ordering::AcqRel);
    }

    /// The log's write or fsync error, which stops writes.
    pub fn error(&self) -> Option<String> {
        self.wal.read().as_ref().and_then(|w| w.error())
    }

    /// Bytes in the log's segment files (`aof_current_size` less the snapshot).
    pub fn log_bytes(&self) -> u64 {
        self.stale_segments()
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Ends the current segment and returns the index below which every segment holds only
    /// records logged before now: a snapshot taken now covers those segments. With the log
    /// off, every existing segment is stale.
    fn cut(&self) -> Result<u64, String> {
        match self.wal() {
            Some(w) => w.roll(),
            None => Ok(self.stale_segments()?.last().map_or(0, |(i, _)| *i) + 1),
        }
    }

    /// Removes the segments below `first_kept`, which a snapshot on disk now covers.
    fn drop_covered(&self, first_kept: u64) -> Result<(), String> {
        for (index, p) in self.stale_segments()? {
            if index < first_kept {
                std::fs::remove_file(&p)
                    .map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
            }
        }
        Ok(())
    }

    /// Waits until commit `seq` may be acknowledged: on disk (fdatasync by the log's sync
    /// thread) under `appendfsync always`; otherwise written to the file, here and now, so a
    /// crash of the process alone never loses an acknowledged write (as Redis writes its AOF
    /// before replying). False when the log failed: the caller must not acknowledge the write.
    pub async fn wait_durable(&self, seq: u64, mode: Fsync) -> bool {
        // The log the commit went to: if it is turned off meanwhile, its own state (flushed on
        // the way out, or failed) still decides.
        let Some(w) = self.wal() else {
            return true;
        };
        let fsync = || Fsync::from_u8(self.fsync.load(Ordering::Relaxed));
        if mode != Fsync::Always {
            return self.wait_written(&w, seq, fsync() == Fsync::EverySec).await;
        }
        // None: CONFIG SET appendfsync moved away from `always` while waiting, and the write
        // alone is then enough.
        let synced = self
            .wait_for(seq, || {
                if w.synced() >= seq {
                    Some(Some(true))
                } else if w.error().is_some() {
                    Some(Some(false))
                } else if fsync() != Fsync::Always {
                    Some(None)
                } else {
                    None
                }
            })
            .await;
        match synced {
            Some(ok) => ok,
            None => self.wait_written(&w, seq, false).await,
        }
    }

    /// Sleeps until `ready` answers, woken by the syncs that reach `seq`. Registered, then
    /// checked again: a sync that ended in between is not missed.
    async fn wait_for<T>(&self, seq: u64, ready: impl Fn() -> Option<T>) -> T {
        std::future::poll_fn(|cx| {
            if let Some(r) = ready() {
                return Poll::Ready(r);
            }
            self.waiters.add(seq, cx.waker());
            match ready() {
                Some(r) => Poll::Ready(r),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// `everysec` and `no`: the commit is written to the file here and now (one write for
    /// everything pending). Under `everysec`, a stalled fsync holds the reply until it ends, so
    /// the writes at risk stay within about two seconds, as Redis delays its writes.
    async fn wait_written(&self, w: &Arc<Wal>, seq: u64, everysec: bool) -> bool {
        if w.written() < seq {
            w.write_out();
        }
        if w.written() < seq {
            return false;
        }
        if everysec {
            // Woken when the sync ends (any sync's end wakes number 0) or fails.
            self.wait_for(0, || {
                (!w.sync_stalled() || w.error().is_some()).then_some(())
            })
            .await;
        }
        true
    }

    /// Wakes every waiter to look again (CONFIG SET appendfsync, appendonly).
    pub fn wake_all(&self) {
        self.waiters.wake_upto(u64::MAX);
    }

    /// Writes and syncs everything logged, for a clean shutdown.
    pub fn close(&self) {
        if let Some(w) = self.wal() {
            w.close();
        }
    }
}

/// Connections waiting on the log, each with the sequence number it needs synced. Only the
/// ones a sync satisfies are woken: waking every waiter after every sync cost more than the
/// writes themselves.
#[derive(Default)]
struct Waiters(parking_lot::Mutex<Vec<(u64, Waker)>>);

impl Waiters {
    fn add(&self, seq: u64, waker: &Waker) {
        self.0.lock().push((seq, waker.clone()));
    }

    /// Wakes everyone waiting for `synced` or less (`u64::MAX`: everyone, to look again).
    fn wake_upto(&self, synced: u64) {
        let mut ready = Vec::new();
        {
            let mut list = self.0.lock();
            let mut i = 0;
            while i < list.len() {
                if list[i].0 <= synced {
                    ready.push(list.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
        }
        for w in ready {
            w.wake();
        }
    }
}

/// The snapshot file: `dbfilename` in `dir`.
pub fn snapshot_path(config: &crate::config::Config) -> PathBuf {
    PathBuf::from(config.get("dir")).join(config.get("dbfilename"))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Startup: the snapshot (if any), then, with `appendonly yes`, the log after it. Runs before
/// the cron starts and while clients get -LOADING.
pub fn load_at_startup(srv: &Server) -> Result<(), String> {
    let path = snapshot_path(&srv.config);
    let mut covered = 0;
    if path.exists() {
        let started = std::time::Instant::now();
        let l = strata_engine::snapshot::load(&srv.engine, &path)?;
        covered = l.seq;
        srv.durability.loaded_snapshot(l.seq);
        srv.saves
            .base_size
            .store(file_len(&path), Ordering::Relaxed);
        tracing::info!(
            keys = l.keys,
            seq = l.seq,
            seconds = started.elapsed().as_secs_f64(),
            "DB loaded from the snapshot {}",
            path.display()
        );
    }
    if srv.durability.enabled() {
        srv.durability.recover_and_open(&srv.engine, covered)?;
    }
    // Index definitions came back with the data; their content is rebuilt from it, starting
    // from the vector graphs saved with the last snapshot.
    strata_engine::search::Search::backfill_all(&srv.engine, path.parent());
    Ok(())
}

/// SAVE: writes the snapshot, then drops the log segments it covers. The caller holds the
/// engine's exclusive gate, so no write runs meanwhile and the log's last number is the cut.
pub fn save(srv: &Server) -> Result<(), String> {
    if srv.saves.in_progress.load(Ordering::Acquire) {
        return Err("Background save already in progress".into());
    }
    let path = snapshot_path(&srv.config);
    let d = &srv.durability;
    let seq = d.last_seq();
    let started = std::time::Instant::now();
    let keys = strata_engine::snapshot::save(&srv.engine, &path, seq).map_err(|e| {
        format!(
            "Failed opening the snapshot file {} for saving: {e}",
            path.display()
        )
    })?;
    let first_kept = d.cut()?;
    d.drop_covered(first_kept)?;
    save_graphs(&srv.engine, &path);
    srv.engine.stats.dirty.reset();
    srv.saves.saved_now(file_len(&path));
    tracing::info!(
        keys,
        seq,
        seconds = started.elapsed().as_secs_f64(),
        "DB saved on disk"
    );
    Ok(())
}

/// Saves the search indexes' vector graphs beside a snapshot just written. A failure is
/// logged and costs only a rebuild at the next start.
fn save_graphs(engine: &strata_engine::Engine, snapshot: &Path) {
    if !engine.search.active() {
        return;
    }
    if let Some(dir) = snapshot.parent() {
        if let Err(e) = engine.search.save_graphs(dir) {
            tracing::warn!("saving the vector graphs failed: {e}");
        }
    }
}

/// Snapshot bookkeeping shared with the background save's thread.
pub struct SaveState {
    /// Unix time of the last successful save (the start time until then), for LASTSAVE.
    pub last_save: AtomicU64,
    pub in_progress: AtomicBool,
    /// The running background save was asked for by BGREWRITEAOF (or turning the log on).
    pub rewrite: AtomicBool,
    /// BGSAVE SCHEDULE / BGREWRITEAOF arrived while another save ran: start one when it ends.
    pub bgsave_scheduled: AtomicBool,
    pub rewrite_scheduled: AtomicBool,
    pub last_ok: AtomicBool,
    /// Unix time of the last attempt started by the `save` points.
    pub last_try: AtomicU64,
    /// Size of the last snapshot written or loaded: `aof_base_size`, the base of the growth
    /// that `auto-aof-rewrite-percentage` measures.
    pub base_size: AtomicU64,
    /// Unix time the running background save started, and how long the last one took.
    pub started_at: AtomicU64,
    pub last_secs: AtomicU64,
    pub rewrites: AtomicU64,
}

impl SaveState {
    pub fn new(now: u64) -> SaveState {
        SaveState {
            last_save: AtomicU64::new(now),
            in_progress: AtomicBool::new(false),
            rewrite: AtomicBool::new(false),
            bgsave_scheduled: AtomicBool::new(false),
            rewrite_scheduled: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_try: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            started_at: AtomicU64::new(0),
            last_secs: AtomicU64::new(u64::MAX),
            rewrites: AtomicU64::new(0),
        }
    }

    fn saved_now(&self, size: u64) {
        self.last_save.store(unix_now(), Ordering::Relaxed);
        self.base_size.store(size, Ordering::Relaxed);
    }
}

/// The cron's persistence duties: a scheduled BGSAVE or rewrite once nothing else runs; the
/// `save` points (a background save when, for some point, at least `changes` writes happened
/// in the last `seconds`; after a failure, not again for 5 seconds, as Redis); and the
/// automatic rewrite when the log has grown by `auto-aof-rewrite-percentage` of the last
/// snapshot and is over `auto-aof-rewrite-min-size`.
pub fn cron(srv: &Server) {
    let st = &srv.saves;
    if st.in_progress.load(Ordering::Acquire) || srv.loading.load(Ordering::Relaxed) {
        return;
    }
    let start = |rewrite: bool, why: &str| {
        let _gate = srv.engine.gate_exclusive();
        st.last_try.store(unix_now(), Ordering::Relaxed);
        if let Err(e) = bgsave(srv, rewrite) {
            tracing::warn!("Background saving ({why}) could not start: {e}");
        }
    };
    if st.rewrite_scheduled.swap(false, Ordering::AcqRel) {
        return start(true, "scheduled rewrite");
    }
    if st.bgsave_scheduled.swap(false, Ordering::AcqRel) {
        return start(false, "scheduled");
    }
    let now = unix_now();
    let retry_ok = st.last_ok.load(Ordering::Relaxed)
        || now.saturating_sub(st.last_try.load(Ordering::Relaxed)) >= 5;
    if !retry_ok {
        return;
    }
    let since = now.saturating_sub(st.last_save.load(Ordering::Relaxed));
    let dirty = srv.engine.stats.dirty.get();
    let points: Vec<u64> = srv
        .config
        .get("save")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if points
        .chunks_exact(2)
        .any(|p| dirty >= p[1] && since >= p[0])
    {
        return start(false, "save point");
    }
    let perc = srv.config.get_u64("auto-aof-rewrite-percentage");
    if perc > 0 && srv.durability.enabled() {
        let base = st.base_size.load(Ordering::Relaxed);
        let current = base + srv.durability.log_bytes();
        let growth = (current * 100 / base.max(1)).saturating_sub(100);
        if current > srv.config.get_u64("auto-aof-rewrite-min-size") && growth >= perc {
            tracing::info!("Starting automatic rewriting of the log on {growth}% growth");
            start(true, "automatic rewrite");
        }
    }
}

/// BGSAVE (and BGREWRITEAOF): cuts the dataset at the log's current number and starts the
/// background snapshot; when it is on disk, the log segments it covers are dropped. The
/// caller holds the exclusive gate for the cut only.
pub fn bgsave(srv: &Server, rewrite: bool) -> Result<(), String> {
    let st = &srv.saves;
    if st.in_progress.load(Ordering::Acquire) {
        return Err(if rewrite {
            "Background append only file rewriting already in progress".into()
        } else {
            "Background save already in progress".into()
        });
    }
    let path = snapshot_path(&srv.config);
    let d = srv.durability.clone();
    let seq = d.last_seq();
    // Records up to the cut are in segments below this index.
    let first_kept = d.cut()?;
    let dirty_at_cut = srv.engine.stats.dirty.get();
    let job = srv
        .engine
        .bgsave(path.clone(), seq)
        .map_err(|e| format!("Can't start the background save: {e}"))?;
    st.in_progress.store(true, Ordering::Release);
    st.rewrite.store(rewrite, Ordering::Relaxed);
    st.started_at.store(unix_now(), Ordering::Relaxed);
    let saves = srv.saves.clone();
    let engine = srv.engine.clone();
    let started = std::time::Instant::now();
    std::thread::Builder::new()
        .name("strata-bgsave-wait".into())
        .spawn(move || {
            let r = job
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the save thread panicked")))
                .map_err(|e| e.to_string())
                .and_then(|keys| d.drop_covered(first_kept).map(|()| keys));
            match r {
                Ok(keys) => {
                    save_graphs(&engine, &path);
                    let now = engine.stats.dirty.get();
                    engine.stats.dirty.reset();
                    engine.stats.dirty.add(now.saturating_sub(dirty_at_cut));
                    saves.saved_now(file_len(&path));
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
            if rewrite {
                saves.rewrites.fetch_add(1, Ordering::Relaxed);
            }
            saves
                .last_secs
                .store(started.elapsed().as_secs(), Ordering::Relaxed);
            saves.in_progress.store(false, Ordering::Release);
        })
        .map_err(|e| e.to_string())?;
    tracing::info!("Background saving started");
    Ok(())
}

/// CONFIG SET appendonly: turning the log on starts a rewrite (scheduled if a save runs), as
/// Redis does; turning it off flushes and closes it. The caller holds the exclusive gate.
pub fn set_appendonly(srv: &Server, on: bool) -> Result<(), String> {
    let d = &srv.durability;
    if on == d.enabled() {
        return Ok(());
    }
    if srv.loading.load(Ordering::Acquire) {
        return Err("the dataset is still loading".into());
    }
    if !on {
        d.turn_off();
        tracing::info!("The write-ahead log is off");
        return Ok(());
    }
    d.turn_on()?;
    tracing::info!("The write-ahead log is on; rewriting it");
    if srv.saves.in_progress.load(Ordering::Acquire) {
        srv.saves.rewrite_scheduled.store(true, Ordering::Release);
        return Ok(());
    }
    bgsave(srv, true)
}

/// The engine's effect sink: each commit becomes one log record.
pub struct WalSink(pub Arc<Durability>);

impl EffectSink for WalSink {
    fn enabled(&self) -> bool {
        self.0.enabled()
    }

    fn append(&self, effects: &[Effect]) {
        if let Some(w) = self.0.wal.read().as_ref() {
            let seq = w.append(effects);
            LAST_SEQ.with(|c| c.set(seq));
        }
    }
}
