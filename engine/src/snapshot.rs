//! Snapshots: the whole dataset at one write-ahead-log sequence number, as effects that
//! recreate it.
//!
//! A snapshot file is a header (magic `STRATASN`, format version u32 LE, the log sequence
//! number S it is taken at u64 LE, key count u64 LE, CRC32C of those 28 bytes), then records
//! framed exactly as the log's (length, number, payload CRC, header CRC, payload), numbered
//! from 1, and last an end record with no effects. A record's payload is a codec byte (0:
//! raw, 1: lz4 block preceded by its u32 LE raw length) around a log payload: the effects that
//! rebuild a run of keys, about [`BLOCK`] bytes of them (`Set`; `HSet`, `ListPush`, `SAdd`,
//! `ZAdd` of at most [`CHUNK`] elements; then `Expire` and `HExpire`). The snapshot at S plus
//! the log records after S is the whole state.
//!
//! Files are written to a temporary name, fsynced, renamed over the old snapshot, and the
//! directory fsynced, so a crash leaves either the old snapshot or the new one.
//!
//! This version is taken under the engine's exclusive gate (SAVE blocks, as Redis's does).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::Mutex;

use crate::keyspace::Shard;

use crate::effect::Effect;
use crate::types::{hash, list, set, zset, BigData, Kind, Value};
use crate::wal::frame;
use crate::Engine;

pub const MAGIC: &[u8; 8] = b"STRATASN";
pub const VERSION: u32 = 2;
pub const HEADER: usize = 32;
/// Elements per effect for big collections.
pub const CHUNK: usize = 1024;
/// Encoded effects per record, before compression: small keys share records, and lz4 gets
/// enough to work on.
pub const BLOCK: usize = 64 * 1024;
const CODEC_RAW: u8 = 0;
const CODEC_LZ4: u8 = 1;

/// Packs effects into record payloads of about [`BLOCK`] bytes, lz4-compressed.
#[derive(Default)]
pub struct Blocks {
    buf: Vec<u8>,
    count: u64,
    /// Finished payloads, ready to be framed.
    pub done: Vec<Vec<u8>>,
}

impl Blocks {
    pub fn push(&mut self, chunks: Vec<Vec<Effect>>) {
        for e in chunks.iter().flatten() {
            crate::effect::encode(e, &mut self.buf);
            self.count += 1;
        }
        if self.buf.len() >= BLOCK {
            self.finish();
        }
    }

    /// Ends the current block, if it holds anything.
    pub fn finish(&mut self) {
        if self.count == 0 {
            return;
        }
        let mut raw = Vec::with_capacity(self.buf.len() + 10);
        let mut n = self.count;
        while n >= 0x80 {
            raw.push((n as u8) | 0x80);
            n >>= 7;
        }
        raw.push(n as u8);
        raw.extend_from_slice(&self.buf);
        self.buf.clear();
        self.count = 0;
        self.done.push(compress(&raw));
    }
}

/// A record payload holding `raw` (a log payload): lz4 when that is smaller.
fn compress(raw: &[u8]) -> Vec<u8> {
    let packed = lz4_flex::block::compress(raw);
    if packed.len() + 4 < raw.len() && raw.len() <= u32::MAX as usize {
        let mut out = Vec::with_capacity(packed.len() + 5);
        out.push(CODEC_LZ4);
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        out.extend_from_slice(&packed);
        out
    } else {
        let mut out = Vec::with_capacity(raw.len() + 1);
        out.push(CODEC_RAW);
        out.extend_from_slice(raw);
        out
    }
}

/// The effects in a record payload. The raw length of a compressed block is checked against
/// what lz4 can expand to (255 bytes per input byte) before anything is allocated.
pub fn decode_record(p: &[u8]) -> Result<Vec<Effect>, String> {
    match p.split_first() {
        Some((&CODEC_RAW, raw)) => crate::wal::decode_payload(raw),
        Some((&CODEC_LZ4, rest)) if rest.len() >= 4 => {
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4")) as usize;
            let packed = &rest[4..];
            if len > packed.len().saturating_mul(255) + 16 {
                return Err(format!(
                    "compressed block claims {len} bytes from {}",
                    packed.len()
                ));
            }
            let raw = lz4_flex::block::decompress(packed, len)
                .map_err(|e| format!("compressed block is damaged: {e}"))?;
            if raw.len() != len {
                return Err("compressed block has the wrong length".into());
            }
            crate::wal::decode_payload(&raw)
        }
        Some((c, _)) => Err(format!("unknown record codec {c}")),
        None => Err("empty record".into()),
    }
}

fn header(seq: u64, keys: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&seq.to_le_bytes());
    h[20..28].copy_from_slice(&keys.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The effects that recreate one key in database `db`, in chunks.
pub fn key_effects(db: u32, key: &[u8], v: &Value, expire_at: u64) -> Vec<Vec<Effect>> {
    let k = || key.to_vec();
    let mut out: Vec<Vec<Effect>> = Vec::new();
    match v.kind() {
        Kind::String => out.push(vec![Effect::Set {
            db,
            key: k(),
            value: v.string_bytes().unwrap_or_default().to_vec(),
            expire_at,
            keep_ttl: false,
        }]),
        Kind::Hash => {
            let pairs = hash::pairs(v);
            for c in pairs.chunks(CHUNK) {
                out.push(vec![Effect::HSet {
                    db,
                    key: k(),
                    pairs: c.to_vec(),
                }]);
            }
            if let Value::Big(b) = v {
                if let BigData::Hash(h) = &b.data {
                    let ttls: Vec<(Vec<u8>, u64)> = pairs
                        .iter()
                        .filter_map(|(f, _)| h.field_ttl(f).map(|at| (f.clone(), at)))
                        .collect();
                    for c in ttls.chunks(CHUNK) {
                        out.push(vec![Effect::HExpire {
                            db,
                            key: k(),
                            fields: c.to_vec(),
                        }]);
                    }
                }
            }
        }
        Kind::List => {
            for c in list::elements(v).chunks(CHUNK) {
                out.push(vec![Effect::ListPush {
                    db,
                    key: k(),
                    left: false,
                    elems: c.to_vec(),
                }]);
            }
        }
        Kind::Set => {
            for c in set::members(v).chunks(CHUNK) {
                out.push(vec![Effect::SAdd {
                    db,
                    key: k(),
                    members: c.to_vec(),
                }]);
            }
        }
        Kind::ZSet => {
            for c in zset::entries(v).chunks(CHUNK) {
                out.push(vec![Effect::ZAdd {
                    db,
                    key: k(),
                    pairs: c.to_vec(),
                }]);
            }
        }
        Kind::Stream => {
            if let Some(s) = v.as_stream() {
                out.extend(crate::types::stream::ops::key_effects(db, key, s, CHUNK));
            }
        }
        Kind::Json => out.push(vec![Effect::JsonSet {
            db,
            key: k(),
            doc: crate::types::json::binary(v).unwrap_or_default().to_vec(),
        }]),
    }
    if expire_at != 0 && v.kind() != Kind::String {
        out.push(vec![Effect::Expire {
            db,
            key: k(),
            at: expire_at,
        }]);
    }
    out
}

/// The FUNCTION libraries and the search index definitions, as effects (a snapshot starts
/// with them).
fn library_effects(eng: &Engine) -> Vec<Vec<Effect>> {
    eng.functions
        .all()
        .into_iter()
        .map(|(_, code)| {
            vec![Effect::FunctionLoad {
                code: code.to_vec(),
            }]
        })
        .chain(eng.search.definition_effects().into_iter().map(|e| vec![e]))
        .collect()
}

/// Writes the dataset to `path` as taken at log sequence `seq`. The caller holds the engine's
/// exclusive gate, so the dataset does not change meanwhile. Returns the number of keys.
pub fn save(eng: &Engine, path: &Path, seq: u64) -> io::Result<u64> {
    let libraries = library_effects(eng);
    write_file(path, seq, |out| {
        out.blocks.push(libraries);
        out.write_done()?;
        for (db, d) in eng.dbs.iter().enumerate() {
            for s in d.shards.iter() {
                let s = s.lock();
                for (k, e) in s.dict.iter() {
                    out.keys += 1;
                    out.blocks
                        .push(key_effects(db as u32, k, &e.value, e.expire_at));
                    out.write_done()?;
                }
                let mut failed = Ok(());
                s.for_each_cold(eng, |k, e| {
                    out.keys += 1;
                    out.blocks
                        .push(key_effects(db as u32, k, &e.value, e.expire_at));
                    failed = out.write_done();
                    failed.is_ok()
                })
                .map_err(io::Error::other)?;
                failed?;
            }
        }
        Ok(())
    })
}

/// A snapshot file being written: effects are packed into blocks (small keys share records,
/// since a record's 20-byte header would otherwise cost more than a short key and value),
/// and finished blocks are framed and written in order.
struct Writer {
    w: BufWriter<File>,
    n: u64,
    keys: u64,
    blocks: Blocks,
    frame: Vec<u8>,
}

impl Writer {
    fn write_payload(&mut self, payload: &[u8]) -> io::Result<()> {
        self.n += 1;
        self.frame.clear();
        frame(self.n, payload, &mut self.frame);
        self.w.write_all(&self.frame)
    }

    /// Writes the blocks finished so far.
    fn write_done(&mut self) -> io::Result<()> {
        for p in std::mem::take(&mut self.blocks.done) {
            self.write_payload(&p)?;
        }
        Ok(())
    }
}

/// Writes a snapshot at `seq` to `path` with what `fill` pushes: to a temporary file first,
/// then the end record, the header with the key count, fsync, rename, and the directory's
/// fsync. The temporary file is removed on failure. Returns the number of keys.
fn write_file(
    path: &Path,
    seq: u64,
    fill: impl FnOnce(&mut Writer) -> io::Result<()>,
) -> io::Result<u64> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        "temp-{}.{}",
        std::process::id(),
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("snapshot")
    ));
    let result = (|| {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)?;
        let mut out = Writer {
            w: BufWriter::with_capacity(1 << 20, file),
            n: 0,
            keys: 0,
            blocks: Blocks::default(),
            frame: Vec::new(),
        };
        // The key count is known only at the end: a placeholder header now, rewritten then.
        out.w.write_all(&header(seq, 0))?;
        fill(&mut out)?;
        out.blocks.finish();
        out.write_done()?;
        out.write_payload(&compress(&crate::wal::encode_payload(&[])))?;
        let mut file = out.w.into_inner().map_err(|e| e.into_error())?;
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header(seq, out.keys))?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(out.keys)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What a loaded snapshot held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub seq: u64,
    pub keys: u64,
}

/// Loads the snapshot at `path` into `eng` (which should be empty). Any damage refuses, with
/// a message naming the file, the offset and what to do. The file is read twice, a buffer at
/// a time (first to check every record, then to apply them), never held in memory whole: a
/// dataset larger than RAM has a snapshot larger than RAM.
pub fn load(eng: &Engine, path: &Path) -> Result<Loaded, String> {
    let cannot = |e: io::Error| format!("cannot read the snapshot {}: {e}", path.display());
    // Both passes read this one open file, whatever is renamed over its path meanwhile.
    let file = File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    let open = || {
        let mut f = file.try_clone().map_err(cannot)?;
        f.seek(SeekFrom::Start(0)).map_err(cannot)?;
        Ok(BufReader::with_capacity(1 << 20, f))
    };
    load_from(eng, open, len, &path.display().to_string())
}

/// A snapshot file's bytes, made of `records` (each a list of effects) at sequence `seq`:
/// what [`save`] writes for them, for tests and the fuzz harness.
pub fn encode_image(seq: u64, keys: u64, records: &[Vec<Effect>]) -> Vec<u8> {
    let mut out = header(seq, keys).to_vec();
    for (i, r) in records.iter().enumerate() {
        frame(
            i as u64 + 1,
            &compress(&crate::wal::encode_payload(r)),
            &mut out,
        );
    }
    let end = compress(&crate::wal::encode_payload(&[]));
    frame(records.len() as u64 + 1, &end, &mut out);
    out
}

/// [`load`] from the file's bytes; `name` is what error messages call it.
pub fn load_image(eng: &Engine, data: &[u8], name: &str) -> Result<Loaded, String> {
    load_from(eng, || Ok(data), data.len() as u64, name)
}

/// Reads `buf.len()` bytes, or fewer at the end of the input: how many.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Why reading a snapshot's records stopped at an offset: the file is damaged there, or it
/// could not be read (which says nothing about the file).
enum Stop {
    Damaged(usize, String),
    Io(usize, io::Error),
}

/// Reads the records after the header from `r`, checking each as the log's reader does (the
/// header's checksum, a length within the `len` bytes of the file, the payload's checksum,
/// numbers from 1), and hands each payload with its offset to `f`, whose errors are damage.
/// Returns the offset of the end of the file.
fn read_records(
    r: &mut impl Read,
    len: u64,
    mut f: impl FnMut(usize, &[u8]) -> Result<(), String>,
) -> Result<usize, Stop> {
    use crate::wal::RECORD_HEADER;
    let (mut off, mut expect) = (HEADER, 1u64);
    let mut head = [0u8; RECORD_HEADER];
    let mut record = Vec::new();
    let io = |off: usize| move |e: io::Error| Stop::Io(off, e);
    let damaged = |off: usize, why: &str| Stop::Damaged(off, why.to_string());
    loop {
        match read_up_to(r, &mut head).map_err(io(off))? {
            0 => return Ok(off),
            n if n < RECORD_HEADER => return Err(damaged(off, "record header cut short")),
            _ => {}
        }
        // The length, from a header whose own checksum holds, bounds what is read next.
        let (size, _, _) = crate::wal::record_header(&head)
            .ok_or_else(|| damaged(off, "record header checksum mismatch"))?;
        if (off + RECORD_HEADER) as u64 + size as u64 > len {
            return Err(damaged(off, "record cut short"));
        }
        record.clear();
        record.extend_from_slice(&head);
        record.resize(RECORD_HEADER + size, 0);
        if read_up_to(r, &mut record[RECORD_HEADER..]).map_err(io(off))? < size {
            return Err(damaged(off, "record cut short"));
        }
        // The rest as the log's reader checks it: the payload's checksum, the number.
        let (seq, payload, _) =
            crate::wal::read_record(&record, 0, expect).map_err(|w| Stop::Damaged(off, w))?;
        f(off, payload).map_err(|w| Stop::Damaged(off, w))?;
        expect = seq.wrapping_add(1);
        off += RECORD_HEADER + size;
    }
}

/// Loads a snapshot of `len` bytes, which `open` reads from its start.
fn load_from<R: Read + Send>(
    eng: &Engine,
    open: impl Fn() -> Result<R, String>,
    len: u64,
    name: &str,
) -> Result<Loaded, String> {
    let bad = |offset: usize, what: &str| {
        format!(
            "the snapshot {name} is damaged at offset {offset}: {what}. Restore it from a \
             backup, or move it away to start from the write-ahead log alone (which then lacks \
             what the snapshot covered)"
        )
    };
    let mut r = open()?;
    let mut data = [0u8; HEADER];
    let got = read_up_to(&mut r, &mut data)
        .map_err(|e| format!("cannot read the snapshot {name}: {e}"))?;
    if got < HEADER
        || &data[..8] != MAGIC
        || crc32c::crc32c(&data[..28]) != u32::from_le_bytes(data[28..32].try_into().expect("4"))
    {
        return Err(bad(0, "bad header (magic or checksum)"));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4"));
    if version != VERSION {
        return Err(bad(
            8,
            &format!("format version {version}, this build reads {VERSION}"),
        ));
    }
    let seq = u64::from_le_bytes(data[12..20].try_into().expect("8"));
    let keys = u64::from_le_bytes(data[20..28].try_into().expect("8"));
    // Records are checked exactly as the log's are; the whole file must be sound and end with
    // the empty end record. A damaged snapshot is refused before anything is applied: the
    // checksums are verified in a first pass.
    let stopped = |s: Stop| match s {
        Stop::Damaged(off, why) => bad(off, &why),
        Stop::Io(off, e) => format!("cannot read the snapshot {name} at offset {off}: {e}"),
    };
    let end = read_records(&mut r, len, |_, _| Ok(())).map_err(stopped)?;
    drop(r);
    let mut r = open()?;
    let mut skip = [0u8; HEADER];
    if read_up_to(&mut r, &mut skip).map_err(|e| format!("cannot read the snapshot {name}: {e}"))?
        < HEADER
        || skip != data
    {
        return Err(format!("the snapshot {name} changed while it was loaded"));
    }
    // Two stages on two threads: one reads, decompresses and decodes records, the other
    // applies them, in file order.
    let (tx, rx) = channel::bounded::<(usize, Vec<Effect>)>(64);
    let (ended, failure, decoded) = std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            read_records(&mut r, len, |at, payload| {
                let effects = decode_record(payload)?;
                // A closed channel means the applier stopped on an error of its own.
                let _ = tx.send((at, effects));
                Ok(())
            })
        });
        let mut ended = false;
        let mut failure = None;
        // The key whose effects are being applied. A key's effects are consecutive (`Blocks`
        // keeps them in one record, but nothing here relies on that); once the next key's
        // begin, a dataset larger than RAM moves it to the cold tier if memory is short. So no key is looked for in the cold tier while
        // loading: it cannot be there yet.
        let mut loading: Option<(u32, Vec<u8>)> = None;
        'records: for (at, effects) in rx.iter() {
            if ended {
                failure = Some(bad(at, "records after the end record"));
                break;
            }
            ended = effects.is_empty();
            for e in &effects {
                let applied = match (e.db(), e.key()) {
                    (Some(db), Some(key)) => {
                        if loading
                            .as_ref()
                            .is_none_or(|(d, k)| *d != db || k.as_slice() != key)
                        {
                            if let Some((d, k)) = loading.replace((db, key.to_vec())) {
                                eng.spill_loaded(d as usize, &k);
                            }
                        }
                        eng.apply_new_key(e)
                    }
                    _ => eng.apply(e),
                };
                if let Err(e) = applied {
                    failure = Some(bad(at, &format!("a record names an impossible state: {e}")));
                    break 'records;
                }
            }
        }
        if let Some((d, k)) = loading {
            eng.spill_loaded(d as usize, &k);
        }
        eng.spill_to_limit();
        drop(rx);
        let decoded = decoder
            .join()
            .unwrap_or_else(|_| Err(Stop::Damaged(HEADER, "the decoder panicked".into())));
        (ended, failure, decoded)
    });
    if let Some(f) = failure {
        return Err(f);
    }
    decoded.map_err(stopped)?;
    if !ended {
        return Err(bad(
            end,
            "the end record is missing (the file was cut short)",
        ));
    }
    Ok(Loaded { seq, keys })
}

// ------------------------------------------------------------------ background snapshots

/// Copy-on-first-write state of a background snapshot. While one runs, the first write to
/// each shard after the cut serializes that shard first (under its lock), and a sweeper
/// serializes the shards nobody wrote to. Every shard is serialized exactly once, as it was
/// at the cut: no fork, and no copy of the dataset beyond the shards in flight to the file.
/// One serialized shard: its key count and the effects that rebuild its keys.
/// Kept as finished, compressed record payloads, so a shard waiting for the file costs about
/// its compressed size.
type ShardImage = (usize, io::Result<Vec<Vec<u8>>>);

pub struct Hook {
    active: AtomicBool,
    /// One flag per (database, shard): still to be serialized.
    pending: Box<[AtomicBool]>,
    tx: Mutex<Option<Sender<ShardImage>>>,
}

impl Hook {
    pub(crate) fn new(slots: usize) -> Hook {
        Hook {
            active: AtomicBool::new(false),
            pending: (0..slots).map(|_| AtomicBool::new(false)).collect(),
            tx: Mutex::new(None),
        }
    }

    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }
}

impl Engine {
    /// Call with a shard's lock held, before changing it: while a background snapshot runs,
    /// serializes the shard if it still holds its state at the cut.
    pub(crate) fn before_shard_write(&self, db: usize, si: usize, shard: &Shard) {
        if !self.snap.active.load(Ordering::Acquire) {
            return;
        }
        let slot = db * self.dbs[0].shards.len() + si;
        if !self.snap.pending[slot].swap(false, Ordering::AcqRel) {
            return;
        }
        let mut blocks = Blocks::default();
        let mut keys = 0usize;
        for (k, e) in shard.dict.iter() {
            keys += 1;
            blocks.push(key_effects(db as u32, k, &e.value, e.expire_at));
        }
        // Cold keys change only under the shard's lock, after this call: the cold tier holds
        // them as they were at the cut.
        let cold = shard.for_each_cold(self, |k, e| {
            keys += 1;
            blocks.push(key_effects(db as u32, k, &e.value, e.expire_at));
            true
        });
        blocks.finish();
        if let Some(tx) = self.snap.tx.lock().as_ref() {
            // A snapshot missing cold keys must not replace the last good one.
            let image = cold
                .map(|()| blocks.done)
                .map_err(|e| io::Error::other(format!("reading the cold tier: {e}")));
            let _ = tx.send((keys, image));
        }
    }

    /// Starts a background snapshot of the dataset as it is now, at log sequence `seq`, into
    /// `path`. Call under the exclusive gate (the cut). The returned thread ends with the
    /// number of keys saved.
    pub fn bgsave(
        self: &Arc<Engine>,
        path: PathBuf,
        seq: u64,
    ) -> io::Result<JoinHandle<io::Result<u64>>> {
        if self.snap.active.load(Ordering::Acquire) {
            return Err(io::Error::other("a background save is already in progress"));
        }
        let (tx, rx) = channel::unbounded();
        *self.snap.tx.lock() = Some(tx);
        for p in self.snap.pending.iter() {
            p.store(true, Ordering::Release);
        }
        self.snap.active.store(true, Ordering::Release);
        let eng = self.clone();
        // The libraries as they are at the cut.
        let libraries = library_effects(self);
        std::thread::Builder::new()
            .name("strata-bgsave".into())
            .spawn(move || {
                let r = eng.bgsave_run(&path, seq, rx, libraries);
                eng.snap.active.store(false, Ordering::Release);
                *eng.snap.tx.lock() = None;
                r
            })
    }

    fn bgsave_run(
        &self,
        path: &Path,
        seq: u64,
        rx: Receiver<ShardImage>,
        libraries: Vec<Vec<Effect>>,
    ) -> io::Result<u64> {
        let total = self.snap.pending.len();
        write_file(path, seq, |out| {
            out.blocks.push(libraries);
            out.write_done()?;
            let mut done = 0usize;
            let take = |out: &mut Writer, done: &mut usize, (keys, payloads): ShardImage| {
                out.keys += keys as u64;
                *done += 1;
                payloads?.iter().try_for_each(|p| out.write_payload(p))
            };
            // Sweep the shards nobody has written to yet, writing out what arrives meanwhile.
            for (db, d) in self.dbs.iter().enumerate() {
                for (si, s) in d.shards.iter().enumerate() {
                    {
                        let s = s.lock();
                        self.before_shard_write(db, si, &s);
                    }
                    while let Ok(m) = rx.try_recv() {
                        take(out, &mut done, m)?;
                    }
                }
            }
            while done < total {
                let m = rx
                    .recv()
                    .map_err(|_| io::Error::other("snapshot channel closed"))?;
                take(out, &mut done, m)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Ctx;
    use crate::effect::Effects;
    use crate::EngineConfig;
    use bytes::Bytes;

    fn engine() -> std::sync::Arc<Engine> {
        Engine::open(
            EngineConfig {
                databases: 2,
                shards: 4,
                ..Default::default()
            },
            None,
        )
    }

    fn b(s: String) -> Bytes {
        Bytes::from(s)
    }

    #[test]
    fn every_type_round_trips_including_big_collections_and_ttls() {
        let eng = engine();
        let mut fx = Effects::default();
        for db in 0..2 {
            let cx = &mut Ctx::new(&eng, db, &mut fx);
            let n = 3000 + db * 10;
            let many: Vec<Bytes> = (0..n).map(|i| b(format!("e{i}"))).collect();
            list::push(cx, b"list", &many, false, false).unwrap();
            set::sadd(cx, b"set", &many).unwrap();
            set::sadd(cx, b"ints", &[b("3".into()), b("1".into())]).unwrap();
            let pairs: Vec<Bytes> = (0..n)
                .flat_map(|i| [b(format!("f{i}")), b(format!("v{i}"))])
                .collect();
            hash::hset(cx, b"hash", &pairs).unwrap();
            hash::hset(cx, b"small", &[b("a".into()), b("1".into())]).unwrap();
            hash::hexpire(
                cx,
                b"small",
                4_102_444_800_000,
                hash::FieldCond::Always,
                &[b("a".into())],
            )
            .unwrap();
            let scored: Vec<(f64, Bytes)> = (0..n)
                .map(|i| (i as f64 / 3.0, b(format!("m{i}"))))
                .collect();
            zset::zadd(cx, b"zset", &scored, Default::default()).unwrap();
            crate::types::string::set(
                cx,
                b"str",
                b"value",
                crate::types::string::SetOpts {
                    cond: crate::types::string::Cond::Always,
                    get: false,
                    ttl: crate::keyspace::Ttl::At(4_102_444_800_000),
                },
            )
            .unwrap();
            crate::keyspace::keys::expire(cx, b"list", 4_102_444_900_000, Default::default());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        assert_eq!(save(&eng, &path, 42).unwrap(), 14);
        let fresh = engine();
        let l = load(&fresh, &path).unwrap();
        assert_eq!(l, Loaded { seq: 42, keys: 14 });
        assert_eq!(fresh.dump(), eng.dump());
        // Encodings follow from the same thresholds.
        let mut fx = Effects::default();
        let cx = &mut Ctx::new(&fresh, 0, &mut fx);
        let enc = |cx: &mut Ctx, k: &[u8]| {
            crate::keyspace::keys::object(cx, k, crate::keyspace::keys::ObjectField::Encoding)
                .unwrap()
        };
        assert_eq!(
            enc(cx, b"small"),
            crate::reply::Reply::Bulk(Bytes::from_static(b"listpackex"))
        );
        assert_eq!(
            enc(cx, b"ints"),
            crate::reply::Reply::Bulk(Bytes::from_static(b"intset"))
        );
    }

    #[test]
    fn a_background_snapshot_holds_the_state_at_its_cut_whatever_follows() {
        for round in 0..20 {
            let eng = Engine::open(
                EngineConfig {
                    databases: 3,
                    shards: 16,
                    ..Default::default()
                },
                None,
            );
            let mut fx = Effects::default();
            for db in 0..3 {
                let cx = &mut Ctx::new(&eng, db, &mut fx);
                for i in 0..400 {
                    let k = format!("k{i}");
                    set::sadd(
                        cx,
                        k.as_bytes(),
                        &[b(format!("m{i}")), b(format!("n{round}"))],
                    )
                    .unwrap();
                    list::push(
                        cx,
                        format!("l{}", i % 7).as_bytes(),
                        &[b(format!("e{i}"))],
                        false,
                        false,
                    )
                    .unwrap();
                }
            }
            let at_cut = eng.dump();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bg");
            let job = eng.bgsave(path.clone(), 99).unwrap();
            // Writes racing the sweep: changes, deletions, a flush and a swap.
            for db in 0..3 {
                let cx = &mut Ctx::new(&eng, db, &mut fx);
                for i in (0..400).step_by(3) {
                    let k = format!("k{i}");
                    set::sadd(cx, k.as_bytes(), &[b("new".into())]).unwrap();
                    crate::keyspace::keys::del(cx, &[b(format!("k{}", i + 1))]);
                }
            }
            eng.flushdb(1, false, &mut fx);
            eng.swapdb(0, 2, &mut fx);
            assert_eq!(job.join().unwrap().unwrap(), 3 * 407);
            let fresh = Engine::open(
                EngineConfig {
                    databases: 3,
                    shards: 16,
                    ..Default::default()
                },
                None,
            );
            assert_eq!(load(&fresh, &path).unwrap().seq, 99);
            assert_eq!(fresh.dump(), at_cut, "round {round}");
            assert!(!eng.snap.active());
        }
    }

    #[test]
    fn golden_snapshot_bytes() {
        let set = Effect::Set {
            db: 0,
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            expire_at: 0,
            keep_ttl: false,
        };
        let image = encode_image(7, 1, &[vec![set]]);
        let hex: String = image.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN);
        let eng = engine();
        let l = load_image(&eng, &image, "golden").unwrap();
        assert_eq!(l, Loaded { seq: 7, keys: 1 });
    }

    const GOLDEN: &str = "535452415441534e020000000700000000000000010000000000000090e991950a0000000100000000000000690e354abc988d9200010100016b01760000020000000200000000000000d27761f1ca682ade0000";

    #[test]
    fn compressed_blocks_round_trip_and_hostile_ones_are_refused() {
        let effects: Vec<Effect> = (0..500)
            .map(|i| Effect::Set {
                db: 0,
                key: format!("key:{i:06}").into_bytes(),
                value: vec![b'x'; 100],
                expire_at: 0,
                keep_ttl: false,
            })
            .collect();
        let raw = crate::wal::encode_payload(&effects);
        let p = compress(&raw);
        assert_eq!(p[0], CODEC_LZ4);
        assert!(p.len() * 4 < raw.len(), "{} of {}", p.len(), raw.len());
        assert_eq!(decode_record(&p).unwrap(), effects);
        // A claimed length beyond what lz4 can expand to is refused before allocating.
        let mut huge = p.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(&huge).unwrap_err().contains("claims"));
        let mut short = p.clone();
        short[1..5].copy_from_slice(&((raw.len() - 1) as u32).to_le_bytes());
        assert!(decode_record(&short).is_err());
        assert!(decode_record(&[9, 1, 2]).unwrap_err().contains("codec"));
        assert!(decode_record(&[]).is_err());
        assert!(decode_record(&p[..p.len() - 3]).is_err());
        // Incompressible payloads are stored raw.
        let tiny = compress(&crate::wal::encode_payload(&[]));
        assert_eq!(tiny, vec![CODEC_RAW, 0]);
    }

    #[test]
    fn damage_and_truncation_are_refused() {
        let eng = engine();
        let mut fx = Effects::default();
        let cx = &mut Ctx::new(&eng, 0, &mut fx);
        for i in 0..50 {
            set::sadd(cx, format!("k{i}").as_bytes(), &[b(format!("m{i}"))]).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap");
        save(&eng, &path, 1).unwrap();
        let clean = fs::read(&path).unwrap();
        for i in (0..clean.len()).step_by(7) {
            let mut data = clean.clone();
            data[i] ^= 0x08;
            fs::write(&path, &data).unwrap();
            assert!(load(&engine(), &path).is_err(), "flip at {i} accepted");
        }
        for cut in [1, 5, 20, clean.len() / 2] {
            fs::write(&path, &clean[..clean.len() - cut]).unwrap();
            assert!(load(&engine(), &path).is_err(), "cut {cut} accepted");
        }
    }
}
