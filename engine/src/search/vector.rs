//! The vectors of one VECTOR field: an HNSW graph (usearch) or a flat list searched exactly.
//!
//! Distances are RediSearch's: COSINE is `1 - cos`, L2 the squared Euclidean distance, IP
//! `1 - dot`. Keys are the index's document ids.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::mapped::Mapped;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Cosine,
    L2,
    Ip,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "COSINE",
            Metric::L2 => "L2",
            Metric::Ip => "IP",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Flat,
    Hnsw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    F16,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::F16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "FLOAT32",
            DType::F64 => "FLOAT64",
            DType::F16 => "FLOAT16",
        }
    }

    /// The components of a little-endian blob of this type; None when its length is not
    /// `dim` components.
    pub fn decode(self, blob: &[u8], dim: usize) -> Option<Vec<f32>> {
        if blob.len() != dim * self.size() {
            return None;
        }
        Some(match self {
            DType::F32 => blob
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => blob
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            DType::F16 => blob
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        })
    }
}

/// IEEE 754 half precision to single.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The parameters of a VECTOR field.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub algo: Algo,
    pub dtype: DType,
    pub dim: usize,
    pub metric: Metric,
    pub m: usize,
    pub ef_construction: usize,
    pub ef_runtime: usize,
    pub initial_cap: usize,
}

/// Exact distance, accumulated in f64.
pub fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| {
                let d = *x as f64 - *y as f64;
                d * d
            })
            .sum::<f64>() as f32,
        Metric::Ip => {
            (1.0 - a
                .iter()
                .zip(b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>()) as f32
        }
        Metric::Cosine => {
            let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
            for (x, y) in a.iter().zip(b) {
                let (x, y) = (*x as f64, *y as f64);
                dot += x * y;
                na += x * x;
                nb += y * y;
            }
            if na == 0.0 || nb == 0.0 {
                return if na == nb { 0.0 } else { 1.0 };
            }
            (1.0 - dot / (na.sqrt() * nb.sqrt())) as f32
        }
    }
}

/// Where an HNSW field keeps a document's vector: the in-memory graph, or a segment (by its
/// number, from 1).
const IN_MEM: u32 = 0;

/// A graph saved to a file and mapped read-only (see `mapped`). Its vectors and links are
/// read from the page cache on demand: they take no heap, and the kernel keeps in RAM the pages
/// searches touch (the upper layers, visited by every search, and the hot part of the base
/// layer). A segment never changes: a document updated or deleted after the flush is a dead
/// entry, skipped by searches until a merge rewrites the segment without it.
pub struct Segment {
    pub seq: u32,
    graph: Mapped,
    pub path: PathBuf,
    /// File length and CRC32C, recorded in the index's map.
    pub len: u64,
    pub crc: u32,
    entries: usize,
    live: usize,
}

/// Segments to merge into a new one (see [`Vectors::plan_merge`]).
pub struct MergePlan {
    pub sources: Vec<u32>,
    pub seq: u32,
}

/// One field's vectors.
pub struct Vectors {
    pub params: Params,
    /// FLAT: every vector by document id.
    flat: HashMap<u64, Vec<f32>>,
    /// HNSW: where each document's vector is, `IN_MEM` or a segment number.
    loc: HashMap<u64, u32>,
    /// HNSW: the graph taking new vectors, in RAM until the next flush.
    mem: Option<Index>,
    segments: Vec<Segment>,
    next_seq: u32,
    /// A merge is being built.
    merging: bool,
    /// A search with its own EF_RUNTIME changes the graphs' setting: it runs alone (write
    /// side); every other search takes the read side.
    ef_gate: parking_lot::RwLock<()>,
}

/// usearch keeps a context per concurrent caller and refuses a caller when all are taken:
/// searches run in parallel (one per I/O thread, plus backfills and scripts), so there are
/// more than the server's threads.
const HNSW_THREADS: usize = 64;
/// Slots reserved when the index is created; it grows by doubling from there (INITIAL_CAP
/// above this is not allocated up front).
const MAX_EAGER_CAPACITY: usize = 1 << 16;

fn new_graph(params: &Params, capacity: usize) -> Result<Index, String> {
    let opts = IndexOptions {
        dimensions: params.dim,
        metric: match params.metric {
            Metric::Cosine => MetricKind::Cos,
            Metric::L2 => MetricKind::L2sq,
            Metric::Ip => MetricKind::IP,
        },
        quantization: ScalarKind::F32,
        connectivity: params.m,
        expansion_add: params.ef_construction,
        expansion_search: params.ef_runtime,
        multi: false,
    };
    let idx = Index::new(&opts).map_err(|e| e.to_string())?;
    idx.reserve_capacity_and_threads(capacity, HNSW_THREADS)
        .map_err(|e| e.to_string())?;
    Ok(idx)
}

/// The length and CRC32C of a file, read in pieces.
pub(super) fn file_crc(path: &Path) -> io::Result<(u64, u32)> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut len, mut crc) = (0u64, 0u32);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((len, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        len += n as u64;
    }
}

impl Vectors {
    pub fn new(params: Params) -> Result<Vectors, String> {
        let mem = match params.algo {
            Algo::Flat => None,
            Algo::Hnsw => Some(new_graph(
                &params,
                params.initial_cap.clamp(64, MAX_EAGER_CAPACITY),
            )?),
        };
        Ok(Vectors {
            params,
            flat: HashMap::new(),
            loc: HashMap::new(),
            mem,
            segments: Vec::new(),
            next_seq: 1,
            merging: false,
            ef_gate: parking_lot::RwLock::new(()),
        })
    }

    pub fn is_hnsw(&self) -> bool {
        self.mem.is_some()
    }

    pub fn len(&self) -> usize {
        match self.mem {
            Some(_) => self.loc.len(),
            None => self.flat.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The graph holding document `id`'s vector.
    fn graph_of(&self, id: u64) -> Option<&Index> {
        match *self.loc.get(&id)? {
            IN_MEM => self.mem.as_ref(),
            seq => self
                .segments
                .iter()
                .find(|s| s.seq == seq)
                .map(|s| s.graph.index()),
        }
    }

    /// The vector of document `id`.
    pub fn get(&self, id: u64) -> Option<Vec<f32>> {
        if self.mem.is_none() {
            return self.flat.get(&id).cloned();
        }
        let g = self.graph_of(id)?;
        let mut v = vec![0f32; self.params.dim];
        (g.get(id, &mut v).ok()? == 1).then_some(v)
    }

    /// The distance from `q` to document `id`'s vector.
    fn distance_to(&self, q: &[f32], id: u64) -> Option<f32> {
        match &self.mem {
            None => self
                .flat
                .get(&id)
                .map(|v| distance(self.params.metric, q, v)),
            Some(_) => self.get(id).map(|v| distance(self.params.metric, q, &v)),
        }
    }

    /// Adds the vector of document `id` (replacing the one it had).
    pub fn put(&mut self, id: u64, v: Vec<f32>) -> Result<(), String> {
        let Some(h) = &self.mem else {
            self.flat.insert(id, v);
            return Ok(());
        };
        if h.size() + 1 > h.capacity() {
            let cap = (h.capacity() * 2).max(64);
            h.reserve_capacity_and_threads(cap, HNSW_THREADS)
                .map_err(|e| e.to_string())?;
        }
        // The graph holds one vector per id: an old one in RAM goes first. One in a segment
        // is only dropped once the new one is in.
        if self.loc.get(&id) == Some(&IN_MEM) {
            self.remove(id);
        }
        let h = self.mem.as_ref().ok_or("no graph")?;
        h.add(id, &v).map_err(|e| e.to_string())?;
        if self.loc.contains_key(&id) {
            self.remove(id);
        }
        self.loc.insert(id, IN_MEM);
        Ok(())
    }

    pub fn remove(&mut self, id: u64) {
        if self.mem.is_none() {
            self.flat.remove(&id);
            return;
        }
        match self.loc.remove(&id) {
            None => {}
            Some(IN_MEM) => {
                if let Some(h) = &self.mem {
                    let _ = h.remove(id);
                }
            }
            Some(seq) => {
                if let Some(i) = self.segments.iter().position(|s| s.seq == seq) {
                    self.segments[i].live -= 1;
                    if self.segments[i].live == 0 {
                        self.segments.remove(i);
                    }
                }
            }
        }
    }

    /// Bytes of heap held: vectors and graph in RAM, and the document table. Segments' pages
    /// are file-backed and counted by [`disk_bytes`](Self::disk_bytes) instead.
    pub fn memory(&self) -> usize {
        self.flat.len() * (self.params.dim * 4 + 48)
            + self.loc.len() * 24
            + self.mem.as_ref().map_or(0, |h| h.memory_usage())
    }

    /// Bytes of the segments' files.
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// (documents in RAM, segments, dead entries in segments).
    pub fn layout(&self) -> (usize, usize, usize) {
        let in_mem = self.loc.values().filter(|&&l| l == IN_MEM).count();
        let dead = self.segments.iter().map(|s| s.entries - s.live).sum();
        (in_mem, self.segments.len(), dead)
    }

    /// The segments, for the index's map.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Where each document's vector is, for the index's map.
    pub fn locations(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.loc.iter().map(|(id, l)| (*id, *l))
    }

    /// Writes the in-memory graph to `path` (when it holds any vector), for
    /// [`adopt`](Self::adopt) to turn into a segment. Takes `&self`: searches go on meanwhile,
    /// and the caller keeps writers out until `adopt`.
    pub fn write_mem(&self, path: &Path) -> Result<Option<(u64, u32)>, String> {
        let Some(h) = &self.mem else { return Ok(None) };
        if !self.loc.values().any(|&l| l == IN_MEM) {
            return Ok(None);
        }
        Self::write_graph(h, path).map(Some)
    }

    /// The number the next segment gets.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Maps the file [`write_mem`](Self::write_mem) wrote as a new segment holding every
    /// vector of the in-memory graph, which starts over empty.
    pub fn adopt(&mut self, path: &Path, len: u64, crc: u32) -> Result<(), String> {
        let seq = self.next_seq;
        let graph = self.view(path)?;
        let fresh = new_graph(&self.params, 64)?;
        let mut live = 0;
        for l in self.loc.values_mut().filter(|l| **l == IN_MEM) {
            *l = seq;
            live += 1;
        }
        self.segments.push(Segment {
            seq,
            entries: graph.index().size().max(live),
            graph,
            path: path.to_path_buf(),
            len,
            crc,
            live,
        });
        self.next_seq += 1;
        self.mem = Some(fresh);
        Ok(())
    }

    fn view(&self, path: &Path) -> Result<Mapped, String> {
        let graph = Mapped::view(new_graph(&self.params, 64)?, path)?;
        if graph.index().dimensions() != self.params.dim {
            return Err("graph of another dimension".into());
        }
        Ok(graph)
    }

    /// At startup: maps a segment saved by an earlier run. `ids` are the documents whose
    /// vectors it holds (a map records them); an id the file lacks is refused.
    pub fn attach(
        &mut self,
        seq: u32,
        path: &Path,
        len: u64,
        crc: u32,
        ids: &[u64],
    ) -> Result<(), String> {
        if seq == IN_MEM || self.segments.iter().any(|s| s.seq == seq) {
            return Err("segment number used twice".into());
        }
        self.next_seq = self.next_seq.max(seq + 1);
        if ids.is_empty() {
            return Ok(());
        }
        let graph = self.view(path)?;
        if let Some(id) = ids.iter().find(|id| !graph.index().contains(**id)) {
            return Err(format!("segment lacks document {id}"));
        }
        for &id in ids {
            if self.loc.insert(id, seq).is_some() {
                return Err(format!("document {id} in two segments"));
            }
        }
        let entries = graph.index().size().max(ids.len());
        self.segments.push(Segment {
            seq,
            graph,
            path: path.to_path_buf(),
            len,
            crc,
            entries,
            live: ids.len(),
        });
        Ok(())
    }

    /// Chooses segments to merge into one, when no merge is under way: a segment more than
    /// half dead alone (rewritten without its dead entries), else the two smallest when the
    /// larger holds at most twice the smaller's documents. Each merge at least doubles the
    /// smaller side, so a field keeps about log2(documents / flush size) segments and each
    /// vector is re-inserted that many times at most.
    pub fn plan_merge(&mut self) -> Option<MergePlan> {
        if self.merging || self.mem.is_none() {
            return None;
        }
        let mut by_size: Vec<&Segment> = self.segments.iter().collect();
        by_size.sort_by_key(|s| (s.live, s.seq));
        let sources = match by_size.iter().find(|s| s.live * 2 < s.entries) {
            Some(s) => vec![s.seq],
            None if by_size.len() >= 2 && by_size[1].live <= 2 * by_size[0].live.max(1) => {
                vec![by_size[0].seq, by_size[1].seq]
            }
            None => return None,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.merging = true;
        Some(MergePlan { sources, seq })
    }

    /// The live documents of a plan's segments, with their vectors, for
    /// [`build_graph`](Self::build_graph) to run without the index locked.
    pub fn merge_input(&self, plan: &MergePlan) -> Vec<(u64, Vec<f32>)> {
        self.loc
            .iter()
            .filter(|(_, l)| plan.sources.contains(l))
            .filter_map(|(id, _)| Some((*id, self.get(*id)?)))
            .collect()
    }

    /// A graph of `input`, built without the index locked.
    pub fn build_graph(params: &Params, input: &[(u64, Vec<f32>)]) -> Result<Index, String> {
        let g = new_graph(params, input.len().max(64))?;
        for (id, v) in input {
            g.add(*id, v).map_err(|e| e.to_string())?;
        }
        Ok(g)
    }

    /// Writes a graph to `path` through a synced temporary file: the file's length and CRC32C.
    pub fn write_graph(g: &Index, path: &Path) -> Result<(u64, u32), String> {
        let tmp = path.with_extension("tmp");
        let s = tmp.to_str().ok_or("path is not UTF-8")?;
        g.save(s).map_err(|e| e.to_string())?;
        let io = |e: io::Error| format!("{}: {e}", tmp.display());
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        let sums = file_crc(&tmp).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(sums)
    }

    /// Maps a merged segment in place of its sources. Documents still in a source move to it;
    /// those updated or deleted while it was built are dead entries there.
    pub fn install_merge(
        &mut self,
        plan: &MergePlan,
        path: &Path,
        len: u64,
        crc: u32,
        ids: &[u64],
    ) -> Result<(), String> {
        self.merging = false;
        let graph = self.view(path)?;
        let mut live = 0;
        for id in ids {
            if let Some(l) = self.loc.get_mut(id) {
                if plan.sources.contains(l) {
                    *l = plan.seq;
                    live += 1;
                }
            }
        }
        // Every document of a source was in the input (a segment takes no new ones), so the
        // sources are empty now.
        self.segments.retain(|s| !plan.sources.contains(&s.seq));
        if live > 0 {
            self.segments.push(Segment {
                seq: plan.seq,
                entries: graph.index().size().max(ids.len()),
                graph,
                path: path.to_path_buf(),
                len,
                crc,
                live,
            });
        }
        Ok(())
    }

    /// A merge that failed: its sources stay as they are.
    pub fn abandon_merge(&mut self) {
        self.merging = false;
    }

    /// The `k` nearest documents to `q` among those `allowed` admits (all when None), nearest
    /// first, ties by id. `candidates` is how many documents `allowed` admits; `ef` overrides
    /// EF_RUNTIME for this search.
    pub fn knn(
        &self,
        q: &[f32],
        k: usize,
        allowed: Option<&dyn Fn(u64) -> bool>,
        candidates: Option<usize>,
        ef: Option<usize>,
    ) -> Result<Vec<(u64, f32)>, String> {
        let metric = self.params.metric;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        // A filter that admits few documents is searched exactly: a graph walk would have to
        // visit most of the graph to find k of them.
        let exact = match (&self.mem, candidates) {
            (None, _) => true,
            (Some(_), Some(c)) => c <= 4 * k.max(256),
            (Some(_), None) => self.len() <= k * 4,
        };
        let mut out: Vec<(u64, f32)> = if exact {
            let mut all: Vec<(u64, f32)> = match &self.mem {
                None => self
                    .flat
                    .iter()
                    .filter(|(id, _)| allowed.is_none_or(|f| f(**id)))
                    .map(|(id, v)| (*id, distance(metric, q, v)))
                    .collect(),
                Some(_) => self
                    .loc
                    .keys()
                    .filter(|id| allowed.is_none_or(|f| f(**id)))
                    .filter_map(|id| self.distance_to(q, *id).map(|d| (*id, d)))
                    .collect(),
            };
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        } else {
            let mem = self.mem.as_ref().ok_or("no graph")?;
            // Each graph with live entries is searched; a segment's dead entries are skipped
            // by the filter.
            let mut graphs: Vec<(&Index, u32, bool)> = vec![(mem, IN_MEM, true)];
            graphs.extend(
                self.segments
                    .iter()
                    .filter(|s| s.live > 0)
                    .map(|s| (s.graph.index(), s.seq, s.live == s.entries)),
            );
            let search_all = || -> Result<Vec<u64>, String> {
                let mut ids = Vec::new();
                for &(g, seq, whole) in &graphs {
                    if g.size() == 0 {
                        continue;
                    }
                    let m = if whole && allowed.is_none() {
                        g.search(q, k)
                    } else {
                        g.filtered_search(q, k, |id| {
                            (whole || self.loc.get(&id) == Some(&seq))
                                && allowed.is_none_or(|f| f(id))
                        })
                    };
                    ids.extend(m.map_err(|e| e.to_string())?.keys);
                }
                Ok(ids)
            };
            // usearch widens the search to k by itself when k > EF_RUNTIME.
            let found = match ef.filter(|&e| e != self.params.ef_runtime) {
                None => {
                    let _shared = self.ef_gate.read();
                    search_all()
                }
                Some(e) => {
                    let _alone = self.ef_gate.write();
                    let set = |n| {
                        graphs
                            .iter()
                            .for_each(|(g, _, _)| g.change_expansion_search(n))
                    };
                    set(e);
                    let r = search_all();
                    set(self.params.ef_runtime);
                    r
                }
            };
            let ids = found.map_err(|e| format!("vector search failed: {e}"))?;
            // Exact distances for what the graphs found, so HNSW and FLAT report alike.
            let mut r: Vec<(u64, f32)> = ids
                .iter()
                .filter_map(|id| self.distance_to(q, *id).map(|d| (*id, d)))
                .collect();
            r.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            r.dedup_by_key(|x| x.0);
            r
        };
        out.truncate(k);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(algo: Algo, metric: Metric) -> Params {
        Params {
            algo,
            dtype: DType::F32,
            dim: 4,
            metric,
            m: 16,
            ef_construction: 200,
            ef_runtime: 10,
            initial_cap: 8,
        }
    }

    #[test]
    fn distances_are_redisearch_s() {
        let a = [1.0, 0.0, 0.0, 0.0];
        let b = [0.0, 1.0, 0.0, 0.0];
        assert_eq!(distance(Metric::Cosine, &a, &a), 0.0);
        assert_eq!(distance(Metric::Cosine, &a, &b), 1.0);
        assert_eq!(distance(Metric::L2, &a, &b), 2.0);
        assert_eq!(distance(Metric::Ip, &a, &a), 0.0);
        assert_eq!(distance(Metric::Cosine, &[0.0; 4], &a), 1.0);
    }

    #[test]
    fn hnsw_and_flat_agree_and_replace_in_place() {
        for algo in [Algo::Flat, Algo::Hnsw] {
            let mut v = Vectors::new(params(algo, Metric::L2)).unwrap();
            for i in 0..200u64 {
                v.put(i, vec![i as f32, 0.0, 0.0, 0.0]).unwrap();
            }
            v.put(5, vec![100.5, 0.0, 0.0, 0.0]).unwrap();
            v.remove(7);
            let r = v.knn(&[6.0, 0.0, 0.0, 0.0], 3, None, None, None).unwrap();
            assert_eq!(
                r.iter().map(|x| x.0).collect::<Vec<_>>(),
                vec![6, 4, 8],
                "{algo:?}"
            );
            let even = |id: u64| id.is_multiple_of(2);
            let r = v
                .knn(&[6.0, 0.0, 0.0, 0.0], 2, Some(&even), Some(100), None)
                .unwrap();
            assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), vec![6, 4]);
            assert_eq!(v.len(), 199);
        }
    }

    fn ids(r: &[(u64, f32)]) -> Vec<u64> {
        r.iter().map(|x| x.0).collect()
    }

    fn flush(v: &mut Vectors, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.usearch", v.next_seq()));
        let (len, crc) = v.write_mem(&path).unwrap().expect("vectors in RAM");
        v.adopt(&path, len, crc).unwrap();
        path
    }

    /// Vectors flushed to a mapped segment answer as they did in RAM, together with newer ones;
    /// documents updated or deleted after the flush are never returned from the segment.
    #[test]
    fn segments_answer_with_the_graph_in_ram() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vectors::new(params(Algo::Hnsw, Metric::L2)).unwrap();
        let at = |x: f32| vec![x, 0.0, 0.0, 0.0];
        for i in 0..300u64 {
            v.put(i, at(i as f32)).unwrap();
        }
        v.remove(7);
        let path = flush(&mut v, dir.path());
        assert_eq!(v.layout(), (0, 1, 0));
        assert!(v.write_mem(&dir.path().join("x")).unwrap().is_none());
        for i in 300..400u64 {
            v.put(i, at(i as f32)).unwrap();
        }
        v.remove(10);
        v.put(20, at(1000.5)).unwrap();
        assert_eq!(v.layout(), (101, 1, 2));
        assert_eq!(v.get(5), Some(at(5.0)));
        assert_eq!(v.get(20), Some(at(1000.5)));
        assert_eq!(v.get(7), None);
        let knn = |v: &Vectors, x: f32, k| ids(&v.knn(&at(x), k, None, None, None).unwrap());
        assert_eq!(knn(&v, 7.2, 3), vec![8, 6, 9]);
        assert_eq!(knn(&v, 10.2, 2), vec![11, 9]);
        assert_eq!(knn(&v, 20.0, 2), vec![19, 21]);
        assert_eq!(knn(&v, 999.0, 1), vec![20]);
        assert_eq!(knn(&v, 299.6, 2), vec![300, 299]);
        let odd = |id: u64| id % 2 == 1;
        let r = v.knn(&at(20.0), 2, Some(&odd), Some(200), None).unwrap();
        assert_eq!(ids(&r), vec![19, 21]);
        assert_eq!(
            knn(&v, 7.2, 3),
            ids(&v.knn(&at(7.2), 3, None, None, Some(50)).unwrap())
        );

        // The same file mapped by a new store (a restart) holds the same documents.
        let mut w = Vectors::new(params(Algo::Hnsw, Metric::L2)).unwrap();
        let live: Vec<u64> = (0..300).filter(|i| ![7, 10, 20].contains(i)).collect();
        let (len, crc) = file_crc(&path).unwrap();
        w.attach(1, &path, len, crc, &live).unwrap();
        assert_eq!(w.len(), 297);
        assert_eq!(knn(&w, 10.2, 2), vec![11, 9]);
        assert!(w.attach(2, &path, len, crc, &[5]).is_err(), "5 is taken");
        let mut u = Vectors::new(params(Algo::Hnsw, Metric::L2)).unwrap();
        assert!(
            u.attach(1, &path, len, crc, &[7]).is_err(),
            "7 is not in the file"
        );

        // A segment mostly dead is rewritten without its dead entries; a document updated
        // while the merge is built stays dead in the result.
        for i in 100..260u64 {
            v.remove(i);
        }
        let plan = v.plan_merge().expect("mostly dead");
        assert_eq!(plan.sources, vec![1]);
        assert!(v.plan_merge().is_none(), "one merge at a time");
        let input = v.merge_input(&plan);
        assert_eq!(input.len(), 137);
        v.put(30, at(2000.5)).unwrap();
        let merged = dir.path().join("merged.usearch");
        let g = Vectors::build_graph(&v.params, &input).unwrap();
        let (len, crc) = Vectors::write_graph(&g, &merged).unwrap();
        let ids: Vec<u64> = input.iter().map(|x| x.0).collect();
        v.install_merge(&plan, &merged, len, crc, &ids).unwrap();
        assert_eq!(v.layout(), (102, 1, 1));
        assert_eq!(v.len(), 238);
        assert_eq!(knn(&v, 7.2, 3), vec![8, 6, 9]);
        assert_eq!(knn(&v, 50.2, 2), vec![50, 51]);
        assert_eq!(knn(&v, 170.0, 1), vec![99]);
        assert_eq!(knn(&v, 30.0, 2), vec![29, 31]);
        assert_eq!(knn(&v, 1999.0, 1), vec![30]);
        assert!(v.plan_merge().is_none(), "nothing left to merge");
    }

    /// Merging segments of similar size keeps their number logarithmic, and loses nothing.
    #[test]
    fn merges_keep_segments_few() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Vectors::new(params(Algo::Hnsw, Metric::Ip)).unwrap();
        let mut total = 0;
        for round in 0..40u64 {
            for i in 0..20 {
                let id = round * 1000 + i;
                v.put(id, vec![1.0, id as f32, 0.0, 0.0]).unwrap();
                total += 1;
            }
            flush(&mut v, dir.path());
            while let Some(plan) = v.plan_merge() {
                let input = v.merge_input(&plan);
                let ids: Vec<u64> = input.iter().map(|x| x.0).collect();
                let path = dir.path().join(format!("m{}.usearch", plan.seq));
                let g = Vectors::build_graph(&v.params, &input).unwrap();
                let (len, crc) = Vectors::write_graph(&g, &path).unwrap();
                v.install_merge(&plan, &path, len, crc, &ids).unwrap();
            }
            // Sizes at least double from one segment to the next.
            let mut sizes: Vec<usize> = v.segments().iter().map(|s| s.live).collect();
            sizes.sort();
            assert!(sizes.windows(2).all(|w| w[1] > 2 * w[0]), "{sizes:?}");
            assert_eq!(v.len(), total);
        }
        assert!(v.segments().len() <= 6, "{}", v.segments().len());
        for id in [0u64, 1019, 39_007] {
            assert_eq!(v.get(id).map(|x| x[1]), Some(id as f32));
        }
    }

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(DType::F32.decode(&[0; 7], 2), None);
    }
}
