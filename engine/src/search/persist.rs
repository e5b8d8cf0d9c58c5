//! Vector graphs on disk: after every snapshot each index's HNSW graphs are saved beside it,
//! with the document ids they use; at startup they are loaded back instead of rebuilt.
//!
//! The files only spare work; they are never trusted for content. The backfill that follows
//! every start re-reads every document: a document whose vector is unchanged keeps its place in
//! the loaded graph, a changed one is re-inserted, and graph entries no document claims are
//! removed. So a graph saved a little before or after the snapshot's cut (or older, if a save
//! failed) still ends exactly right, and a missing, damaged or foreign file only means a full
//! rebuild.
//!
//! Files, in `<dir>/search/`, named after the index name in hex:
//! - `<name>.map`: `STRATAVM`, format version (u32 LE), a hash of the index definition (u64
//!   LE), the number of vector fields saved, then per field its position (u32), file length
//!   (u64) and CRC32C (u32) of its graph file; then the document count (u64) and per document
//!   its id (u64) and key (u32 length, bytes); last, the CRC32C of everything before it.
//! - `<name>.<field position>.usearch`: usearch's own serialization of that field's graph.
//!
//! A graph file is checked against its length and checksum before usearch reads it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{FieldType, Index};

const MAGIC: &[u8; 8] = b"STRATAVM";
const VERSION: u32 = 1;

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn dir_of(snapshot_dir: &Path) -> PathBuf {
    snapshot_dir.join("search")
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

/// Saves the graphs of every index that has HNSW fields. Errors are returned for the log;
/// a failed save only costs a rebuild at the next start.
pub fn save_all(indexes: &[std::sync::Arc<Index>], snapshot_dir: &Path) -> io::Result<usize> {
    let dir = dir_of(snapshot_dir);
    fs::create_dir_all(&dir)?;
    let mut saved = 0;
    let mut keep: Vec<PathBuf> = Vec::new();
    for idx in indexes {
        let name = hex(&idx.def.read().name);
        let hash = def_hash(idx);
        let st = idx.state.read();
        let fields: Vec<usize> = st
            .vectors
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().filter(|v| v.hnsw().is_some()).map(|_| i))
            .collect();
        if fields.is_empty() {
            continue;
        }
        let mut head = Vec::new();
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&hash.to_le_bytes());
        head.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        let mut renames = Vec::new();
        for &f in &fields {
            let path = dir.join(format!("{name}.{f}.usearch"));
            let tmp = path.with_extension("usearch.tmp");
            let graph = st.vectors[f].as_ref().and_then(|v| v.hnsw());
            let Some(graph) = graph else { continue };
            let tmp_s = tmp
                .to_str()
                .ok_or_else(|| io::Error::other("path is not UTF-8"))?;
            graph
                .save(tmp_s)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let bytes = fs::read(&tmp)?;
            head.extend_from_slice(&(f as u32).to_le_bytes());
            head.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            head.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
            renames.push((tmp, path));
        }
        head.extend_from_slice(&(st.docs.len() as u64).to_le_bytes());
        for (id, d) in &st.docs {
            head.extend_from_slice(&id.to_le_bytes());
            head.extend_from_slice(&(d.key.len() as u32).to_le_bytes());
            head.extend_from_slice(&d.key);
        }
        drop(st);
        let crc = crc32c::crc32c(&head);
        head.extend_from_slice(&crc.to_le_bytes());
        let map = dir.join(format!("{name}.map"));
        let map_tmp = map.with_extension("map.tmp");
        let mut f = fs::File::create(&map_tmp)?;
        f.write_all(&head)?;
        f.sync_all()?;
        for (tmp, path) in renames {
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &path)?;
            keep.push(path);
        }
        fs::rename(&map_tmp, &map)?;
        keep.push(map);
        saved += 1;
    }
    // Files of dropped indexes go.
    for e in fs::read_dir(&dir)? {
        let p = e?.path();
        if !keep.contains(&p) {
            let _ = fs::remove_file(&p);
        }
    }
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
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

/// Loads the saved graphs of `idx` into its (empty) state, for the backfill to reconcile.
/// Returns how many documents the graphs hold; an error leaves the index empty (rebuilt in
/// full by the backfill).
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
    let nfields = r.u32().ok_or_else(bad)? as usize;
    let mut files = Vec::new();
    for _ in 0..nfields.min(1024) {
        let f = r.u32().ok_or_else(bad)? as usize;
        let len = r.u64().ok_or_else(bad)?;
        let crc = r.u32().ok_or_else(bad)?;
        files.push((f, len, crc));
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
    let mut st = idx.state.write();
    for &(f, len, crc) in &files {
        let path = dir.join(format!("{name}.{f}.usearch"));
        let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() as u64 != len || crc32c::crc32c(&bytes) != crc {
            return Err(format!("{} is damaged", path.display()));
        }
        let Some(Some(vs)) = st.vectors.get_mut(f) else {
            return Err("graph for a field that is not a vector field".into());
        };
        if !matches!(
            idx.def.read().fields.get(f).map(|x| &x.ty),
            Some(FieldType::Vector(_))
        ) {
            return Err("graph for a field that is not a vector field".into());
        }
        vs.load_graph(&path, ids.values().copied())?;
    }
    st.next_id = ids.values().copied().max().unwrap_or(0) + 1;
    let loaded = ids.len();
    st.preloaded = ids;
    Ok(loaded)
}
