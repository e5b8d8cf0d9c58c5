//! Vector graphs on disk. An HNSW field keeps new vectors in a graph in RAM; after every
//! snapshot that graph is written to a file and mapped back read-only as a *segment* (see
//! `mapped`), so the heap holds only what changed since the last save. At startup the segments are
//! mapped again instead of rebuilt.
//!
//! The files only spare work; they are never trusted for content. The backfill that follows
//! every start re-reads every document: a document whose vector is unchanged keeps its entry, a
//! changed one is re-inserted, and entries no document claims go. So graphs saved a little
//! before or after the snapshot's cut (or older, if a save failed) still end exactly right, and
//! a missing, damaged or foreign file only means a full rebuild.
//!
//! Segments never change. A document updated or deleted after its segment was written leaves a
//! dead entry there, which searches skip. After a save, a background thread merges segments
//! (see [`Vectors::plan_merge`]): it builds the merged graph without the index locked, writes
//! it, and swaps it in for its sources; the next save's map names it.
//!
//! Files, in `<dir>/search/`, named after the index name in hex:
//! - `<name>.map`: `STRATAVM`, format version (u32 LE), a hash of the index definition (u64
//!   LE), the number of vector fields saved; per field its position (u32) and segment count
//!   (u32), and per segment its number (u32), file length (u64), CRC32C (u32), document count
//!   (u64) and those document ids (u64 each); then the document count (u64) and per document
//!   its id (u64) and key (u32 length, bytes); last, the CRC32C of everything before it.
//! - `<name>.<field position>.<segment number>.usearch`: usearch's own serialization of that
//!   segment's graph, written once and never changed.
//!
//! A segment file is checked against its length and checksum before it is mapped.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{RwLockUpgradableReadGuard, RwLockWriteGuard};

use super::vector::{file_crc, Vectors};
use super::{FieldType, Index};

const MAGIC: &[u8; 8] = b"STRATAVM";
const VERSION: u32 = 2;

/// Held by a save for its whole run, and by a merge while it writes and installs its file:
/// a save never deletes a merged file it did not see installed.
static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn files_lock() -> std::sync::MutexGuard<'static, ()> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn dir_of(snapshot_dir: &Path) -> PathBuf {
    snapshot_dir.join("search")
}

fn segment_path(dir: &Path, name: &str, field: usize, seq: u32) -> PathBuf {
    dir.join(format!("{name}.{field}.{seq}.usearch"))
}

/// A hash of what the graphs depend on: the definition's arguments.
fn def_hash(idx: &Index) -> u64 {
    let def = idx.def.read();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for a in std::iter::once(def.name.as_bytes()).chain(def.args.iter().map(|a| &a[..])) {
        for &b in a.iter().chain(&[0xffu8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// Flushes every HNSW field's graph in RAM to a new segment and writes the index's map.
/// Returns the files the map names, or None when the index has no HNSW field.
fn save_one(idx: &Arc<Index>, dir: &Path) -> io::Result<Option<Vec<PathBuf>>> {
    let name = hex(&idx.def.read().name);
    let hash = def_hash(idx);
    let fail = |e: String| io::Error::other(e);
    // Writes to the index wait while its graphs are written, so what is written is what the
    // segments then hold. Searches go on, except those that must first apply a pending write
    // (an FT read applies the writes queued before it).
    let st = idx.state.upgradable_read();
    let fields: Vec<usize> = st
        .vectors
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().filter(|v| v.is_hnsw()).map(|_| i))
        .collect();
    if fields.is_empty() {
        return Ok(None);
    }
    let mut written = Vec::new();
    for &f in &fields {
        let Some(vs) = &st.vectors[f] else { continue };
        let path = segment_path(dir, &name, f, vs.next_seq());
        if let Some((len, crc)) = vs.write_mem(&path).map_err(fail)? {
            written.push((f, path, len, crc));
        }
    }
    // The segment files' names are durable before a map names them.
    sync_dir(dir)?;
    let mut st = RwLockUpgradableReadGuard::upgrade(st);
    for (f, path, len, crc) in written {
        if let Some(vs) = st.vectors[f].as_mut() {
            vs.adopt(&path, len, crc).map_err(fail)?;
        }
    }
    let st = RwLockWriteGuard::downgrade(st);
    let mut head = Vec::new();
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&hash.to_le_bytes());
    head.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    let mut files = Vec::new();
    for &f in &fields {
        let Some(vs) = &st.vectors[f] else { continue };
        let mut by_seg: HashMap<u32, Vec<u64>> = HashMap::new();
        for (id, seq) in vs.locations() {
            by_seg.entry(seq).or_default().push(id);
        }
        head.extend_from_slice(&(f as u32).to_le_bytes());
        head.extend_from_slice(&(vs.segments().len() as u32).to_le_bytes());
        let mut named = 0;
        for seg in vs.segments() {
            let ids = by_seg.get(&seg.seq).map_or(&[][..], |v| &v[..]);
            named += ids.len();
            head.extend_from_slice(&seg.seq.to_le_bytes());
            head.extend_from_slice(&seg.len.to_le_bytes());
            head.extend_from_slice(&seg.crc.to_le_bytes());
            head.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                head.extend_from_slice(&id.to_le_bytes());
            }
            files.push(seg.path.clone());
        }
        if named != vs.len() {
            return Err(fail("a vector in RAM after the flush".into()));
        }
    }
    // Documents the startup backfill has not confirmed yet are named too: their segment
    // entries are still in use.
    let docs = st.docs.iter().map(|(id, d)| (*id, &d.key));
    let pending = st.preloaded.iter().map(|(k, id)| (*id, k));
    head.extend_from_slice(&((st.docs.len() + st.preloaded.len()) as u64).to_le_bytes());
    for (id, key) in docs.chain(pending) {
        head.extend_from_slice(&id.to_le_bytes());
        head.extend_from_slice(&(key.len() as u32).to_le_bytes());
        head.extend_from_slice(key);
    }
    drop(st);
    let crc = crc32c::crc32c(&head);
    head.extend_from_slice(&crc.to_le_bytes());
    let map = dir.join(format!("{name}.map"));
    let map_tmp = map.with_extension("map.tmp");
    let mut f = fs::File::create(&map_tmp)?;
    f.write_all(&head)?;
    f.sync_all()?;
    fs::rename(&map_tmp, &map)?;
    files.push(map);
    spawn_merges(idx, dir);
    Ok(Some(files))
}

/// Merges the segments [`Vectors::plan_merge`] chooses, one merge at a time, on a thread of
/// its own (one per index): the merged graph is built with no lock held, then written and
/// swapped in for its sources.
fn spawn_merges(idx: &Arc<Index>, dir: &Path) {
    if idx.compacting.swap(true, Ordering::AcqRel) {
        return;
    }
    let (owned, dir) = (idx.clone(), dir.to_path_buf());
    let spawned = std::thread::Builder::new()
        .name("strata-vec-merge".into())
        .spawn(move || {
            let idx = owned;
            while !idx.dropped.load(Ordering::Relaxed) {
                let planned = {
                    let mut st = idx.state.write();
                    st.vectors
                        .iter_mut()
                        .enumerate()
                        .find_map(|(f, vs)| Some((f, vs.as_mut()?.plan_merge()?)))
                };
                let Some((f, plan)) = planned else { break };
                let (params, input) = {
                    let st = idx.state.read();
                    match &st.vectors[f] {
                        Some(vs) => (vs.params.clone(), vs.merge_input(&plan)),
                        None => break,
                    }
                };
                let ids: Vec<u64> = input.iter().map(|x| x.0).collect();
                let path = segment_path(&dir, &hex(&idx.def.read().name), f, plan.seq);
                let done = Vectors::build_graph(&params, &input).and_then(|g| {
                    drop(input);
                    let _files = files_lock();
                    let (len, crc) = Vectors::write_graph(&g, &path)?;
                    drop(g);
                    let mut st = idx.state.write();
                    match st.vectors[f].as_mut() {
                        Some(vs) => vs.install_merge(&plan, &path, len, crc, &ids),
                        None => Ok(()),
                    }
                });
                if let Err(e) = done {
                    super::tracing_free_log(&format!("merging vector segments failed: {e}"));
                    if let Some(vs) = idx.state.write().vectors[f].as_mut() {
                        vs.abandon_merge();
                    }
                    let _ = fs::remove_file(&path);
                    break;
                }
            }
            idx.compacting.store(false, Ordering::Release);
        });
    if spawned.is_err() {
        idx.compacting.store(false, Ordering::Release);
    }
}

/// Saves the graphs of every index that has HNSW fields, after a snapshot. Errors are returned
/// for the log; a failed save only costs a rebuild at the next start.
pub fn save_all(indexes: &[Arc<Index>], snapshot_dir: &Path) -> io::Result<usize> {
    let dir = dir_of(snapshot_dir);
    fs::create_dir_all(&dir)?;
    let _files = files_lock();
    let mut saved = 0;
    let mut keep: HashSet<PathBuf> = HashSet::new();
    let mut first_err = None;
    for idx in indexes {
        // Segments mapped now stay, whatever happens to this save.
        for vs in idx.state.read().vectors.iter().flatten() {
            keep.extend(vs.segments().iter().map(|s| s.path.clone()));
        }
        match save_one(idx, &dir) {
            Ok(Some(files)) => {
                keep.extend(files);
                saved += 1;
            }
            Ok(None) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    sync_dir(&dir)?;
    // Files of dropped indexes and merged segments go.
    for e in fs::read_dir(&dir)? {
        let p = e?.path();
        if !keep.contains(&p) {
            let _ = fs::remove_file(&p);
        }
    }
    let _ = sync_dir(&dir);
    Ok(saved)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.i.checked_add(n).filter(|&e| e <= self.b.len())?;
        let s = &self.b[self.i..end];
        self.i = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

struct SavedSegment {
    seq: u32,
    len: u64,
    crc: u32,
    ids: Vec<u64>,
}

/// Maps the saved segments of `idx` into its (empty) state, for the backfill to reconcile.
/// Returns how many documents the map names; an error may leave the index half loaded (the
/// caller resets it, and the backfill rebuilds it in full).
pub fn load(idx: &Index, snapshot_dir: &Path) -> Result<usize, String> {
    let dir = dir_of(snapshot_dir);
    let name = hex(&idx.def.read().name);
    let map = match fs::read(dir.join(format!("{name}.map"))) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e.to_string()),
    };
    if map.len() < 4 {
        return Err("map file truncated".into());
    }
    let (body, crc) = map.split_at(map.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err("map file checksum mismatch".into());
    }
    let mut r = Reader { b: body, i: 0 };
    let bad = || "map file malformed".to_string();
    if r.take(8) != Some(&MAGIC[..]) || r.u32() != Some(VERSION) {
        return Err("not a graph map of this version".into());
    }
    if r.u64() != Some(def_hash(idx)) {
        return Err("the index definition changed since the graphs were saved".into());
    }
    let nfields = r.u32().ok_or_else(bad)?;
    let mut fields: Vec<(usize, Vec<SavedSegment>)> = Vec::new();
    for _ in 0..nfields {
        let f = r.u32().ok_or_else(bad)? as usize;
        let nsegs = r.u32().ok_or_else(bad)?;
        let mut segs = Vec::new();
        for _ in 0..nsegs {
            let seq = r.u32().ok_or_else(bad)?;
            let len = r.u64().ok_or_else(bad)?;
            let crc = r.u32().ok_or_else(bad)?;
            let n = r.u64().ok_or_else(bad)?;
            let mut ids = Vec::new();
            for _ in 0..n {
                ids.push(r.u64().ok_or_else(bad)?);
            }
            segs.push(SavedSegment { seq, len, crc, ids });
        }
        fields.push((f, segs));
    }
    let n = r.u64().ok_or_else(bad)?;
    let mut ids: HashMap<Bytes, u64> = HashMap::new();
    for _ in 0..n {
        let id = r.u64().ok_or_else(bad)?;
        let klen = r.u32().ok_or_else(bad)? as usize;
        let key = Bytes::copy_from_slice(r.take(klen).ok_or_else(bad)?);
        ids.insert(key, id);
    }
    if r.i != body.len() {
        return Err(bad());
    }
    let known: HashSet<u64> = ids.values().copied().collect();
    let mut st = idx.state.write();
    for (f, segs) in &fields {
        let is_vector = matches!(
            idx.def.read().fields.get(*f).map(|x| &x.ty),
            Some(FieldType::Vector(_))
        );
        let Some(Some(vs)) = st.vectors.get_mut(*f).filter(|_| is_vector) else {
            return Err("graph for a field that is not a vector field".into());
        };
        for s in segs {
            if s.ids.iter().any(|id| !known.contains(id)) {
                return Err("a segment names a document the map does not".into());
            }
            let path = segment_path(&dir, &name, *f, s.seq);
            let found = file_crc(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if found != (s.len, s.crc) {
                return Err(format!("{} is damaged", path.display()));
            }
            vs.attach(s.seq, &path, s.len, s.crc, &s.ids)?;
        }
    }
    st.next_id = ids.values().copied().max().unwrap_or(0) + 1;
    let loaded = ids.len();
    st.preloaded = ids;
    Ok(loaded)
}
