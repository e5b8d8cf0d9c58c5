//! The write-ahead log: segmented append-only files of effect records.
//!
//! A segment is `<dir>/<base>.<index>.wal` (index zero-padded to six digits). It starts with a
//! 24-byte header: the magic `STRATAWL`, the format version (u32 LE), the sequence number of
//! its first record (u64 LE) and a CRC32C of those 20 bytes (u32 LE). Records follow, each the
//! effects of one commit (a command, or a whole MULTI/EXEC): payload length (u32 LE), sequence
//! number (u64 LE), CRC32C of the payload (u32 LE), CRC32C of the 16 bytes before it (u32 LE),
//! then the payload: an effect count (LEB128) and the effects in `effect::encode` form.
//! Sequence numbers rise by one from record to record, across segments. See docs/formats.md.
//!
//! The header has its own checksum so a damaged length can never pass for a write that was cut
//! short.
//!
//! One writer thread owns the open segment. Commits reach it through a channel in sequence
//! order; it writes everything that is waiting and, under `appendfsync always`, makes it
//! durable with one fdatasync, whose completion releases every commit in the batch (group
//! commit). Under `everysec` it syncs at most a second after a write, under `no` never.
//!
//! Recovery reads the segments in order. A damaged record at the very end of the last segment
//! (cut short, zero-filled, or failing its checksum with nothing after it) is a torn tail: the
//! segment is truncated to the last good record, and the log says where. Damage anywhere else
//! refuses to start, naming the file and offset.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::effect::{self, Effect};

pub const MAGIC: &[u8; 8] = b"STRATAWL";
pub const VERSION: u32 = 1;
/// Bytes of a segment header.
pub const FILE_HEADER: usize = 24;
/// Bytes in front of a record's payload.
pub const RECORD_HEADER: usize = 20;
/// A segment is closed and the next one opened once it grows past this.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// Largest payload a reader accepts (a commit's effects; a huge MULTI may approach it).
/// The largest record payload: what the u32 length field holds. A reader never allocates by
/// it (records are checked against the bytes actually present).
pub const MAX_PAYLOAD: usize = u32::MAX as usize;

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl Fsync {
    pub fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    pub fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// The file name of segment `index`.
pub fn segment_name(base: &str, index: u64) -> String {
    format!("{base}.{index:06}.wal")
}

/// The segments in `dir`, by index.
pub fn segments(dir: &Path, base: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let prefix = format!("{base}.");
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(index) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".wal"))
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((index, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// A segment header for a segment whose first record is `first_seq`.
pub fn file_header(first_seq: u64) -> [u8; FILE_HEADER] {
    let mut h = [0u8; FILE_HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..20]);
    h[20..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The payload of a record: the effect count, then the effects.
pub fn encode_payload(effects: &[Effect]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + effects.len() * 32);
    let mut n = effects.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    for e in effects {
        effect::encode(e, &mut out);
    }
    out
}

/// Appends a framed record to `out`.
pub fn frame(seq: u64, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let hcrc = crc32c::crc32c(&out[start..start + 16]);
    out.extend_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes a record's payload (see [`encode_payload`]).
pub fn decode_payload(p: &[u8]) -> Result<Vec<Effect>, String> {
    let mut n: u64 = 0;
    let mut pos = 0;
    let mut shift = 0;
    loop {
        let b = *p.get(pos).ok_or("effect count cut short")?;
        pos += 1;
        if shift >= 64 {
            return Err("effect count too long".into());
        }
        n |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    if n > (p.len() - pos) as u64 {
        return Err(format!("effect count {n} larger than the record"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (e, used) = effect::decode(&p[pos..]).map_err(|e| e.to_string())?;
        pos += used;
        out.push(e);
    }
    if pos != p.len() {
        return Err("bytes left over after the effects".into());
    }
    Ok(out)
}

/// Why the log cannot be loaded.
#[derive(Debug)]
pub enum WalError {
    Io(PathBuf, io::Error),
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    Apply {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

impl std::fmt::Display for WalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalError::Io(p, e) => write!(f, "cannot read the write-ahead log {}: {e}", p.display()),
            WalError::Corrupt { path, offset, what } => write!(
                f,
                "the write-ahead log {} is corrupt at offset {offset}: {what}. This is not a torn \
                 tail (valid data follows, or the file is not the last segment), so Strata will not \
                 guess. Restore the file from a backup, or truncate it at offset {offset} to keep \
                 only what precedes the damage (later writes are then lost), and start again",
                path.display()
            ),
            WalError::Apply { path, offset, what } => write!(
                f,
                "the write-ahead log {} cannot be replayed at offset {offset}: {what}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for WalError {}

/// What recovery found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub segments: usize,
    pub records: u64,
    /// The last sequence number replayed (0 for an empty log).
    pub last_seq: u64,
    /// The highest segment index (0 when there is none).
    pub last_index: u64,
    /// A torn tail that was cut off: the file and the offset it was truncated to.
    pub truncated: Option<(PathBuf, u64)>,
}

/// Replays every record in `dir` through `apply`, in order, repairing a torn tail.
pub fn recover(
    dir: &Path,
    base: &str,
    mut apply: impl FnMut(u64, Vec<Effect>) -> Result<(), String>,
) -> Result<Recovered, WalError> {
    let segs = segments(dir, base).map_err(|e| WalError::Io(dir.to_path_buf(), e))?;
    let mut r = Recovered::default();
    let count = segs.len();
    for (i, (index, path)) in segs.into_iter().enumerate() {
        let last = i + 1 == count;
        r.segments += 1;
        r.last_index = index;
        let data = fs::read(&path).map_err(|e| WalError::Io(path.clone(), e))?;
        let corrupt = |offset: usize, what: String| WalError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            what,
        };
        // The header: a crash while creating the last segment may leave it short or zeroed.
        let header_ok = data.len() >= FILE_HEADER
            && &data[..8] == MAGIC
            && crc32c::crc32c(&data[..20])
                == u32::from_le_bytes(data[20..24].try_into().expect("4"));
        if !header_ok {
            // A crash while creating the last segment may leave its header short or zeroed.
            if last && (data.len() < FILE_HEADER || data.iter().all(|&b| b == 0)) {
                truncate(&path, 0).map_err(|e| WalError::Io(path.clone(), e))?;
                r.truncated = Some((path.clone(), 0));
                continue;
            }
            return Err(corrupt(
                0,
                "bad segment header (magic, version or checksum)".into(),
            ));
        }
        let version = u32::from_le_bytes(data[8..12].try_into().expect("4"));
        if version != VERSION {
            return Err(corrupt(
                8,
                format!("format version {version}, this build reads {VERSION}"),
            ));
        }
        let first_seq = u64::from_le_bytes(data[12..20].try_into().expect("8"));
        if r.last_seq != 0 && first_seq != r.last_seq + 1 {
            return Err(corrupt(
                12,
                format!(
                    "segment starts at sequence {first_seq}, expected {}",
                    r.last_seq + 1
                ),
            ));
        }
        let mut off = FILE_HEADER;
        let mut expect = first_seq;
        while off < data.len() {
            match read_record(&data, off, expect) {
                Ok((seq, payload, next)) => {
                    let effects = decode_payload(payload).map_err(|w| corrupt(off, w))?;
                    apply(seq, effects).map_err(|what| WalError::Apply {
                        path: path.clone(),
                        offset: off as u64,
                        what,
                    })?;
                    r.records += 1;
                    r.last_seq = seq;
                    expect = seq + 1;
                    off = next;
                }
                Err(why) => {
                    if last && is_torn_tail(&data, off) {
                        truncate(&path, off as u64).map_err(|e| WalError::Io(path.clone(), e))?;
                        r.truncated = Some((path.clone(), off as u64));
                        break;
                    }
                    return Err(corrupt(off, why));
                }
            }
        }
    }
    Ok(r)
}

/// A record's header, once its own checksum holds: (payload length, sequence, payload CRC).
pub(crate) fn record_header(rest: &[u8]) -> Option<(usize, u64, u32)> {
    if rest.len() < RECORD_HEADER {
        return None;
    }
    let hcrc = u32::from_le_bytes(rest[16..20].try_into().expect("4"));
    if crc32c::crc32c(&rest[..16]) != hcrc {
        return None;
    }
    let len = u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
    let seq = u64::from_le_bytes(rest[4..12].try_into().expect("8"));
    let crc = u32::from_le_bytes(rest[12..16].try_into().expect("4"));
    Some((len, seq, crc))
}

/// A segment image read as the last segment is at recovery, without touching any file.
#[derive(Debug, Default)]
pub struct Scan {
    pub header_ok: bool,
    /// The records before any damage: sequence number and effects.
    pub records: Vec<(u64, Vec<Effect>)>,
    /// Where reading stopped early, and whether that is a torn tail (else: corruption).
    pub stop: Option<(usize, bool)>,
}

/// Reads a whole segment image from memory (the fuzz harness's entry point; recovery applies
/// the same rules to files).
pub fn scan(data: &[u8]) -> Scan {
    let mut s = Scan {
        header_ok: data.len() >= FILE_HEADER
            && &data[..8] == MAGIC
            && crc32c::crc32c(&data[..20])
                == u32::from_le_bytes(data[20..24].try_into().expect("4"))
            && u32::from_le_bytes(data[8..12].try_into().expect("4")) == VERSION,
        ..Scan::default()
    };
    if !s.header_ok {
        return s;
    }
    let mut expect = u64::from_le_bytes(data[12..20].try_into().expect("8"));
    let mut off = FILE_HEADER;
    while off < data.len() {
        match read_record(data, off, expect)
            .and_then(|(seq, p, next)| Ok((seq, decode_payload(p)?, next)))
        {
            Ok((seq, effects, next)) => {
                s.records.push((seq, effects));
                expect = seq.wrapping_add(1);
                off = next;
            }
            Err(_) => {
                s.stop = Some((off, is_torn_tail(data, off)));
                break;
            }
        }
    }
    s
}

/// Reads records from `data[start..]`, numbered from `first_seq`, handing each to `f`. Returns
/// the offset after the last one, or the offset of the first bad record and why (snapshots use
/// this; they tolerate no damage).
pub fn read_records(
    data: &[u8],
    start: usize,
    first_seq: u64,
    mut f: impl FnMut(u64, Vec<Effect>) -> Result<(), String>,
) -> Result<usize, (usize, String)> {
    read_raw_records(data, start, first_seq, |seq, payload| {
        f(seq, decode_payload(payload)?)
    })
}

/// [`read_records`] handing over each record's payload undecoded.
pub fn read_raw_records(
    data: &[u8],
    start: usize,
    first_seq: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<usize, (usize, String)> {
    let mut off = start;
    let mut expect = first_seq;
    while off < data.len() {
        let (seq, payload, next) = read_record(data, off, expect).map_err(|w| (off, w))?;
        f(seq, payload).map_err(|w| (off, w))?;
        expect = seq.wrapping_add(1);
        off = next;
    }
    Ok(off)
}

/// Reads the record at `off`: its sequence number, payload and the offset after it.
pub(crate) fn read_record(
    data: &[u8],
    off: usize,
    expect: u64,
) -> Result<(u64, &[u8], usize), String> {
    let rest = &data[off..];
    if rest.len() < RECORD_HEADER {
        return Err("record header cut short".into());
    }
    let (len, seq, crc) = record_header(rest).ok_or("record header checksum mismatch")?;
    if len > MAX_PAYLOAD {
        return Err(format!("record length {len} is implausible"));
    }
    if rest.len() < RECORD_HEADER + len {
        return Err("record cut short".into());
    }
    let payload = &rest[RECORD_HEADER..RECORD_HEADER + len];
    if crc32c::crc32c(payload) != crc {
        return Err("record checksum mismatch".into());
    }
    if seq != expect {
        return Err(format!("sequence {seq} where {expect} was expected"));
    }
    Ok((seq, payload, off + RECORD_HEADER + len))
}

/// Whether damage at `off` is a torn tail, the last write cut short: zeros to the end, a header
/// cut short, or a sound header whose record runs to or past the end of the file (its payload
/// then either incomplete or failing its checksum with nothing after it).
fn is_torn_tail(data: &[u8], off: usize) -> bool {
    let rest = &data[off..];
    if rest.len() < RECORD_HEADER || rest.iter().all(|&b| b == 0) {
        return true;
    }
    match record_header(rest) {
        None => false,
        Some((len, _, _)) => RECORD_HEADER.saturating_add(len) >= rest.len(),
    }
}

fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// ------------------------------------------------------------------ the writer

/// Shared state between the log's users and its sync thread.
pub struct WalState {
    /// Everything up to this sequence number is durable (fdatasync done).
    pub synced: AtomicU64,
    /// Everything up to this sequence number has been written to the file (it survives the
    /// process, though not yet a power loss).
    pub written: AtomicU64,
    /// The first write or fsync error, which stops the log.
    pub error: Mutex<Option<String>>,
    /// `appendfsync`, changeable at run time.
    pub fsync: Arc<AtomicU8>,
    /// When the running fdatasync started (milliseconds since the log opened, plus one), or 0
    /// when none runs: under `everysec` a sync stalled past [`STALL`] holds up replies.
    pub sync_started: AtomicU64,
}

/// Under `everysec`, how long an fsync may run before replies to new writes wait for it, so the
/// writes at risk stay within about two seconds (Redis's bound) however slow the disk gets.
pub const STALL: Duration = Duration::from_secs(1);

/// Records logged but not yet written, already framed, in sequence order.
struct Pending {
    buf: Vec<u8>,
    /// The last sequence number handed out.
    last: u64,
    /// Records in `buf`.
    count: u64,
}

/// The segment being written, and where the next one goes.
struct Files {
    seg: Segment,
    dir: PathBuf,
    base: String,
    index_next: u64,
    /// The emptied buffer of the previous write, reused by the next.
    spare: Vec<u8>,
}

struct Inner {
    opened: Instant,
    pending: Mutex<Pending>,
    files: Mutex<Files>,
    state: Arc<WalState>,
    stop: AtomicBool,
    /// Set by the first write or fsync error (mirrors `state.error`, without its lock).
    failed: AtomicBool,
    /// The sync thread is parked waiting for work: the next append under `always` wakes it
    /// (only that one: a wake-up per append would cost more than the writes).
    idle: AtomicBool,
    on_sync: Box<dyn Fn(u64) + Send + Sync>,
}

/// The open log. A commit is framed into a shared buffer under a short lock ([`Wal::append`]).
/// Whoever needs it written takes the whole buffer and writes it with one `write(2)`
/// ([`Wal::write_out`]): under `everysec` and `no` the connection does so before replying (a
/// page-cache write, as Redis writes its AOF from its event loop), so the records of every
/// connection that arrived meanwhile go out together. `fdatasync` only ever runs on the sync
/// thread: under `always` it writes and syncs everything pending, then again for whatever
/// arrived during that sync (group commit); under `everysec` once a second.
pub struct Wal {
    inner: Arc<Inner>,
    syncer: Mutex<Option<JoinHandle<()>>>,
}

impl Wal {
    /// Opens a new segment after `last_index`, continuing from sequence `last_seq`.
    /// `on_sync` runs after each sync with the number now synced (`u64::MAX` after an error),
    /// to wake waiters.
    pub fn open(
        dir: &Path,
        base: &str,
        fsync: Fsync,
        last_index: u64,
        last_seq: u64,
        on_sync: Box<dyn Fn(u64) + Send + Sync>,
    ) -> io::Result<Wal> {
        Wal::open_shared(
            dir,
            base,
            Arc::new(AtomicU8::new(fsync as u8)),
            last_index,
            last_seq,
            on_sync,
        )
    }

    /// [`Wal::open`] with the `appendfsync` setting shared with its owner, who may change it.
    pub fn open_shared(
        dir: &Path,
        base: &str,
        fsync: Arc<AtomicU8>,
        last_index: u64,
        last_seq: u64,
        on_sync: Box<dyn Fn(u64) + Send + Sync>,
    ) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let state = Arc::new(WalState {
            synced: AtomicU64::new(last_seq),
            written: AtomicU64::new(last_seq),
            error: Mutex::new(None),
            fsync,
            sync_started: AtomicU64::new(0),
        });
        let seg = Segment::create(dir, base, last_index + 1, last_seq + 1)?;
        let inner = Arc::new(Inner {
            opened: Instant::now(),
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(1 << 16),
                last: last_seq,
                count: 0,
            }),
            files: Mutex::new(Files {
                seg,
                dir: dir.to_path_buf(),
                base: base.to_string(),
                index_next: last_index + 2,
                spare: Vec::with_capacity(1 << 16),
            }),
            state,
            stop: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            on_sync,
        });
        let i = inner.clone();
        let syncer = std::thread::Builder::new()
            .name("wal-sync".into())
            .spawn(move || sync_loop(&i))?;
        Ok(Wal {
            inner,
            syncer: Mutex::new(Some(syncer)),
        })
    }

    /// Logs one commit; returns its sequence number. The payload is encoded outside the lock;
    /// numbering and framing happen together, so the file is in sequence order.
    pub fn append(&self, effects: &[Effect]) -> u64 {
        let payload = encode_payload(effects);
        if payload.len() > MAX_PAYLOAD {
            fail(
                &self.inner,
                format!(
                    "a commit of {} bytes is larger than a record can hold",
                    payload.len()
                ),
            );
        }
        let seq = {
            let mut p = self.inner.pending.lock().expect("wal lock");
            p.last += 1;
            let seq = p.last;
            // After a failure nothing more is written: records are numbered (their writers
            // are refused an acknowledgement) but not kept.
            if !self.inner.failed.load(Ordering::Acquire) {
                p.count += 1;
                frame(seq, &payload, &mut p.buf);
            }
            seq
        };
        if self.fsync() == Fsync::Always && self.inner.idle.swap(false, Ordering::AcqRel) {
            self.wake_syncer();
        }
        seq
    }

    fn fsync(&self) -> Fsync {
        Fsync::from_u8(self.inner.state.fsync.load(Ordering::Relaxed))
    }

    fn wake_syncer(&self) {
        if let Some(h) = self.syncer.lock().expect("wal syncer lock").as_ref() {
            h.thread().unpark();
        }
    }

    /// Writes everything logged so far to the file (no fsync). On return, every record
    /// appended before the call is written, unless the log failed.
    pub fn write_out(&self) {
        write_out(
            &self.inner,
            &mut self.inner.files.lock().expect("wal files lock"),
        );
    }

    /// The last sequence number handed out.
    pub fn last_seq(&self) -> u64 {
        self.inner.pending.lock().expect("wal lock").last
    }

    pub fn synced(&self) -> u64 {
        self.inner.state.synced.load(Ordering::Acquire)
    }

    pub fn written(&self) -> u64 {
        self.inner.state.written.load(Ordering::Acquire)
    }

    pub fn error(&self) -> Option<String> {
        self.inner
            .state
            .error
            .lock()
            .expect("wal error lock")
            .clone()
    }

    /// Whether an fdatasync has been running for longer than [`STALL`].
    pub fn sync_stalled(&self) -> bool {
        let started = self.inner.state.sync_started.load(Ordering::Acquire);
        started != 0
            && self.inner.opened.elapsed().as_millis() as u64 + 1
                > started + STALL.as_millis() as u64
    }

    pub fn set_fsync(&self, f: Fsync) {
        self.inner.state.fsync.store(f as u8, Ordering::Relaxed);
        self.wake_syncer();
    }

    /// Writes and syncs everything logged so far.
    pub fn flush(&self) {
        write_and_sync(&self.inner);
    }

    /// Ends the current segment and starts the next, returning the new segment's index: every
    /// record logged before the call is in a segment with a lower index (a snapshot that covers
    /// them can then drop those segments).
    pub fn roll(&self) -> Result<u64, String> {
        let inner = &self.inner;
        let mut f = inner.files.lock().expect("wal files lock");
        write_out(inner, &mut f);
        roll(inner, &mut f)
    }

    /// Flushes and stops the sync thread (clean shutdown).
    pub fn close(&self) {
        self.inner.stop.store(true, Ordering::Release);
        let h = self.syncer.lock().expect("wal syncer lock").take();
        if let Some(h) = h {
            h.thread().unpark();
            let _ = h.join();
        }
        write_and_sync(&self.inner);
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        if let Some(h) = self.syncer.lock().expect("wal syncer lock").take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

struct Segment {
    file: Arc<File>,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, base: &str, index: u64, first_seq: u64) -> io::Result<Segment> {
        let path = dir.join(segment_name(base, index));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        file.write_all(&file_header(first_seq))?;
        file.sync_all()?;
        sync_dir(dir)?;
        Ok(Segment {
            file: Arc::new(file),
            len: FILE_HEADER as u64,
        })
    }
}

fn failed(inner: &Inner) -> bool {
    inner.failed.load(Ordering::Acquire)
}

/// Takes everything pending and writes it with one call. The caller holds the files lock, so
/// writes reach the file in sequence order.
fn write_out(inner: &Inner, f: &mut Files) {
    let st = &inner.state;
    let (last, mut buf) = {
        let mut p = inner.pending.lock().expect("wal lock");
        if p.buf.is_empty() {
            return;
        }
        let spare = std::mem::take(&mut f.spare);
        p.count = 0;
        (p.last, std::mem::replace(&mut p.buf, spare))
    };
    if !failed(inner) {
        match (&*f.seg.file).write_all(&buf) {
            Ok(()) => {
                f.seg.len += buf.len() as u64;
                st.written.store(last, Ordering::Release);
            }
            // Nothing more is written after a failed write: the file may end in part of a
            // record, which recovery cuts as a torn tail.
            Err(e) => fail(inner, format!("write error: {e}")),
        }
    }
    buf.clear();
    // A large record grew the buffer: do not keep that memory for every later write.
    if buf.capacity() > 4 << 20 {
        buf = Vec::with_capacity(1 << 16);
    }
    f.spare = buf;
}

/// Syncs the file holding everything written so far. The fsync runs outside the files lock,
/// so writers go on meanwhile; what they write is covered by the next sync.
fn sync(inner: &Inner) {
    let st = &inner.state;
    let (file, upto) = {
        let f = inner.files.lock().expect("wal files lock");
        (f.seg.file.clone(), st.written.load(Ordering::Acquire))
    };
    if upto <= st.synced.load(Ordering::Acquire) || failed(inner) {
        return;
    }
    let started = inner.opened.elapsed().as_millis() as u64 + 1;
    st.sync_started.store(started, Ordering::Release);
    let r = file.sync_data();
    st.sync_started.store(0, Ordering::Release);
    match r {
        Ok(()) => {
            st.synced.fetch_max(upto, Ordering::AcqRel);
            (inner.on_sync)(upto);
        }
        Err(e) => fail(inner, format!("fsync error: {e}")),
    }
}

fn write_and_sync(inner: &Inner) {
    write_out(inner, &mut inner.files.lock().expect("wal files lock"));
    sync(inner);
}

/// Syncs the current segment and opens the next. The caller holds the files lock and has
/// written everything pending.
fn roll(inner: &Inner, f: &mut Files) -> Result<u64, String> {
    if let Some(e) = inner.state.error.lock().expect("wal error lock").clone() {
        return Err(e);
    }
    let st = &inner.state;
    let written = st.written.load(Ordering::Acquire);
    if let Err(e) = f.seg.file.sync_data() {
        let e = format!("fsync error: {e}");
        fail(inner, e.clone());
        return Err(e);
    }
    st.synced.fetch_max(written, Ordering::AcqRel);
    (inner.on_sync)(written);
    match Segment::create(&f.dir, &f.base, f.index_next, written + 1) {
        Ok(s) => {
            f.seg = s;
            f.index_next += 1;
            Ok(f.index_next - 1)
        }
        Err(e) => {
            let e = format!("cannot open a new segment: {e}");
            fail(inner, e.clone());
            Err(e)
        }
    }
}

/// Under `always`, how long the sync thread may wait for a batch to reach the size of the
/// previous one: clients answered by the last sync are sending their next writes, and
/// one fsync for all of them beats one for the first few and another for the rest.
const GATHER: Duration = Duration::from_micros(500);

fn sync_loop(inner: &Inner) {
    let st = &inner.state;
    let mut last_sync = Instant::now();
    let mut last_batch = 0u64;
    while !inner.stop.load(Ordering::Acquire) {
        let mode = Fsync::from_u8(st.fsync.load(Ordering::Relaxed));
        let pending = || inner.pending.lock().expect("wal lock").count;
        match mode {
            // After a failure nothing more is written or synced: wait to be stopped.
            Fsync::Always
                if !failed(inner)
                    && (pending() > 0
                        || st.written.load(Ordering::Acquire)
                            > st.synced.load(Ordering::Acquire)) =>
            {
                let deadline = Instant::now() + GATHER;
                while pending() < last_batch && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_micros(20));
                }
                last_batch = pending();
                write_and_sync(inner);
                last_sync = Instant::now();
            }
            Fsync::Always => {
                inner.idle.store(true, Ordering::Release);
                // An append between the check above and here finds `idle` set and unparks.
                // After a failure nothing is written again: rest until stopped.
                if pending() == 0 || failed(inner) {
                    std::thread::park_timeout(Duration::from_millis(100));
                }
                inner.idle.store(false, Ordering::Release);
            }
            Fsync::EverySec | Fsync::No => {
                let wait = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
                if !wait.is_zero() {
                    std::thread::park_timeout(wait);
                    continue;
                }
                // Records no connection wrote (the cron's expiries) are written here too.
                write_out(inner, &mut inner.files.lock().expect("wal files lock"));
                if mode == Fsync::EverySec {
                    sync(inner);
                }
                last_sync = Instant::now();
            }
        }
        let mut f = inner.files.lock().expect("wal files lock");
        if f.seg.len >= SEGMENT_BYTES && !failed(inner) {
            write_out(inner, &mut f);
            let _ = roll(inner, &mut f);
        }
    }
}

fn fail(inner: &Inner, what: String) {
    tracing_free_log(&what);
    let st = &inner.state;
    let mut e = st.error.lock().expect("wal error lock");
    if e.is_none() {
        *e = Some(what);
    }
    drop(e);
    inner.failed.store(true, Ordering::Release);
    // Everyone waiting looks again, and finds the error.
    (inner.on_sync)(u64::MAX);
}

/// The engine has no logging dependency: errors go to stderr and to `WalState::error`, which the
/// server reports.
fn tracing_free_log(what: &str) {
    eprintln!("write-ahead log: {what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> Effect {
        Effect::Set {
            db: 0,
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
            expire_at: 0,
            keep_ttl: false,
        }
    }

    fn write_log(dir: &Path, n: u64, fsync: Fsync) -> Recovered {
        let wal = Wal::open(dir, "log", fsync, 0, 0, Box::new(|_| {})).unwrap();
        for i in 0..n {
            let seq = wal.append(&[set(&format!("k{i}"), "v"), set("last", &i.to_string())]);
            assert_eq!(seq, i + 1);
        }
        wal.close();
        assert_eq!(wal.synced(), n);
        Recovered {
            last_seq: n,
            ..Default::default()
        }
    }

    /// Records as replayed: sequence number and effects.
    type Replayed = Vec<(u64, Vec<Effect>)>;

    fn replay(dir: &Path) -> Result<(Recovered, Replayed), WalError> {
        let mut got = Vec::new();
        let r = recover(dir, "log", |s, e| {
            got.push((s, e));
            Ok(())
        })?;
        Ok((r, got))
    }

    #[test]
    fn records_round_trip_in_order() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 50, Fsync::Always);
        let (r, got) = replay(d.path()).unwrap();
        assert_eq!(r.records, 50);
        assert_eq!(r.last_seq, 50);
        assert_eq!(r.truncated, None);
        assert_eq!(got[7].0, 8);
        assert_eq!(got[7].1, vec![set("k7", "v"), set("last", "7")]);
    }

    #[test]
    fn a_reopened_log_continues_the_sequence_in_a_new_segment() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 3, Fsync::EverySec);
        let (r, _) = replay(d.path()).unwrap();
        let wal = Wal::open(
            d.path(),
            "log",
            Fsync::No,
            r.last_index,
            r.last_seq,
            Box::new(|_| {}),
        )
        .unwrap();
        assert_eq!(wal.append(&[set("x", "y")]), 4);
        wal.close();
        let (r, got) = replay(d.path()).unwrap();
        assert_eq!((r.segments, r.records, r.last_seq), (2, 4, 4));
        assert_eq!(got[3].1, vec![set("x", "y")]);
    }

    #[test]
    fn golden_segment_bytes() {
        let d = tempfile::tempdir().unwrap();
        let wal = Wal::open(d.path(), "log", Fsync::Always, 0, 0, Box::new(|_| {})).unwrap();
        wal.append(&[Effect::Del {
            db: 0,
            key: b"k".to_vec(),
        }]);
        wal.close();
        let bytes = fs::read(d.path().join("log.000001.wal")).unwrap();
        let mut want = b"STRATAWL".to_vec();
        want.extend_from_slice(&[1, 0, 0, 0]);
        want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        want.extend_from_slice(&crc32c::crc32c(&want[..20]).to_le_bytes());
        let payload = [1u8, 2, 0, 1, b'k'];
        let h = want.len();
        want.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        want.extend_from_slice(&1u64.to_le_bytes());
        want.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        let hcrc = crc32c::crc32c(&want[h..h + 16]);
        want.extend_from_slice(&hcrc.to_le_bytes());
        want.extend_from_slice(&payload);
        assert_eq!(bytes, want);
    }

    fn last_segment(d: &Path) -> PathBuf {
        segments(d, "log").unwrap().last().unwrap().1.clone()
    }

    #[test]
    fn a_torn_tail_is_cut_back_to_the_last_whole_record() {
        for cut in 1..30 {
            let d = tempfile::tempdir().unwrap();
            write_log(d.path(), 10, Fsync::Always);
            let p = last_segment(d.path());
            let len = fs::metadata(&p).unwrap().len();
            let f = OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(len - cut).unwrap();
            let (r, got) = replay(d.path()).unwrap();
            assert_eq!(r.records, 9, "cut {cut}");
            assert!(r.truncated.is_some());
            assert_eq!(got.len(), 9);
            // Repaired: a second recovery finds nothing to cut.
            let (r2, _) = replay(d.path()).unwrap();
            assert_eq!((r2.records, r2.truncated), (9, None));
        }
    }

    #[test]
    fn zeros_and_a_bad_last_record_are_torn_tails() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 5, Fsync::Always);
        let p = last_segment(d.path());
        let mut data = fs::read(&p).unwrap();
        data.extend_from_slice(&[0u8; 100]);
        fs::write(&p, &data).unwrap();
        let (r, _) = replay(d.path()).unwrap();
        assert_eq!(r.records, 5);
        // Flip a bit in the last record's payload: its checksum fails and nothing follows.
        let mut data = fs::read(&p).unwrap();
        let n = data.len();
        data[n - 1] ^= 0x10;
        fs::write(&p, &data).unwrap();
        let (r, _) = replay(d.path()).unwrap();
        assert_eq!(r.records, 4);
    }

    #[test]
    fn a_flipped_bit_before_the_tail_refuses_to_start() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 10, Fsync::Always);
        let p = last_segment(d.path());
        let clean = fs::read(&p).unwrap();
        // Every bit of the first half of the file (header and early records).
        for i in 0..clean.len() / 2 {
            for bit in [0x01u8, 0x80] {
                let mut data = clean.clone();
                data[i] ^= bit;
                fs::write(&p, &data).unwrap();
                match replay(d.path()) {
                    Err(WalError::Corrupt { offset, .. }) => assert!(offset as usize <= i),
                    other => panic!("byte {i} bit {bit:#x}: expected corruption, got {other:?}"),
                }
            }
        }
        fs::write(&p, &clean).unwrap();
        assert_eq!(replay(d.path()).unwrap().0.records, 10);
    }

    #[test]
    fn damage_in_an_earlier_segment_is_never_a_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        write_log(d.path(), 3, Fsync::Always);
        let (r, _) = replay(d.path()).unwrap();
        let wal = Wal::open(
            d.path(),
            "log",
            Fsync::Always,
            r.last_index,
            r.last_seq,
            Box::new(|_| {}),
        )
        .unwrap();
        wal.append(&[set("x", "y")]);
        wal.close();
        let first = segments(d.path(), "log").unwrap()[0].1.clone();
        let len = fs::metadata(&first).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&first)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        assert!(matches!(replay(d.path()), Err(WalError::Corrupt { .. })));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let d = tempfile::tempdir().unwrap();
        let mut seed = 0x1234_5678_9abc_def1u64;
        for round in 0..300 {
            let mut data = file_header(1).to_vec();
            let n = (round * 7) % 200;
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                data.push(seed as u8);
            }
            fs::write(d.path().join("log.000001.wal"), &data).unwrap();
            let _ = replay(d.path());
        }
    }

    /// Under `everysec` nobody asks for a sync: the sync thread makes written records durable
    /// on its own, within about a second (bounded wait here), and writes records no
    /// connection wrote out; under `no` it writes them but never syncs.
    #[test]
    fn everysec_syncs_on_its_own_and_no_only_writes() {
        for mode in [Fsync::EverySec, Fsync::No] {
            let d = tempfile::tempdir().unwrap();
            let wal = Wal::open(d.path(), "log", mode, 0, 0, Box::new(|_| {})).unwrap();
            let a = wal.append(&[set("a", "1")]);
            wal.write_out();
            assert_eq!(wal.written(), a);
            // Not written out by anyone: the sync thread does it.
            let b = wal.append(&[set("b", "2")]);
            let deadline = Instant::now() + Duration::from_secs(10);
            let goal = |w: &Wal| match mode {
                Fsync::EverySec => w.synced() >= b,
                _ => w.written() >= b,
            };
            while !goal(&wal) {
                assert!(Instant::now() < deadline, "{mode:?}: never got to {b}");
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(!wal.sync_stalled());
            if mode == Fsync::No {
                std::thread::sleep(Duration::from_millis(1200));
                assert_eq!(
                    wal.synced(),
                    0,
                    "appendfsync no must leave syncing to the OS"
                );
            }
            wal.close();
            assert_eq!(wal.synced(), b);
        }
    }

    #[test]
    fn group_commit_syncs_concurrent_writers_together() {
        let d = tempfile::tempdir().unwrap();
        let syncs = Arc::new(AtomicU64::new(0));
        let s2 = syncs.clone();
        let wal = Arc::new(
            Wal::open(
                d.path(),
                "log",
                Fsync::Always,
                0,
                0,
                Box::new(move |_| {
                    s2.fetch_add(1, Ordering::Relaxed);
                }),
            )
            .unwrap(),
        );
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let seq = wal.append(&[set(&format!("t{t}:{i}"), "v")]);
                        while wal.synced() < seq {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        wal.close();
        let (r, _) = replay(d.path()).unwrap();
        assert_eq!(r.records, 1600);
        // Fewer fsyncs than records: waiting writers shared them.
        assert!(
            syncs.load(Ordering::Relaxed) < 1600,
            "no group commit happened"
        );
    }
}
