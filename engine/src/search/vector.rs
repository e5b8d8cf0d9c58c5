//! The vectors of one VECTOR field: an HNSW graph (usearch) or a flat list searched exactly.
//!
//! Distances are RediSearch's: COSINE is `1 - cos`, L2 the squared Euclidean distance, IP
//! `1 - dot`. Keys are the index's document ids.

use std::collections::{HashMap, HashSet};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

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

/// One field's vectors.
pub struct Vectors {
    pub params: Params,
    /// FLAT: every vector by document id.
    flat: HashMap<u64, Vec<f32>>,
    /// HNSW: the document ids in the graph (the graph holds their vectors).
    ids: HashSet<u64>,
    hnsw: Option<Index>,
    /// A search with its own EF_RUNTIME changes the graph's setting: it runs alone (write
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

impl Vectors {
    pub fn new(params: Params) -> Result<Vectors, String> {
        let hnsw = match params.algo {
            Algo::Flat => None,
            Algo::Hnsw => {
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
                idx.reserve_capacity_and_threads(
                    params.initial_cap.clamp(64, MAX_EAGER_CAPACITY),
                    HNSW_THREADS,
                )
                .map_err(|e| e.to_string())?;
                Some(idx)
            }
        };
        Ok(Vectors {
            params,
            flat: HashMap::new(),
            ids: HashSet::new(),
            hnsw,
            ef_gate: parking_lot::RwLock::new(()),
        })
    }

    /// The HNSW graph, for saving.
    pub fn hnsw(&self) -> Option<&Index> {
        self.hnsw.as_ref()
    }

    /// Replaces the graph with one saved by [`persist`](super::persist); `ids` are the
    /// document ids its map names.
    pub fn load_graph(
        &mut self,
        path: &std::path::Path,
        ids: impl Iterator<Item = u64>,
    ) -> Result<(), String> {
        let h = self.hnsw.as_ref().ok_or("not an HNSW field")?;
        let p = path.to_str().ok_or("path is not UTF-8")?;
        h.load(p).map_err(|e| e.to_string())?;
        if h.dimensions() != self.params.dim {
            return Err("graph of another dimension".into());
        }
        h.reserve_capacity_and_threads(h.size().max(64) * 2, HNSW_THREADS)
            .map_err(|e| e.to_string())?;
        self.ids = ids.filter(|id| h.contains(*id)).collect();
        if self.ids.len() != h.size() {
            return Err("graph holds entries its map does not name".into());
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        match self.hnsw {
            Some(_) => self.ids.len(),
            None => self.flat.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector of document `id`.
    pub fn get(&self, id: u64) -> Option<Vec<f32>> {
        match &self.hnsw {
            None => self.flat.get(&id).cloned(),
            Some(h) => {
                if !self.ids.contains(&id) {
                    return None;
                }
                let mut v = vec![0f32; self.params.dim];
                (h.get(id, &mut v).ok()? == 1).then_some(v)
            }
        }
    }

    /// The distance from `q` to document `id`'s vector.
    fn distance_to(&self, q: &[f32], id: u64) -> Option<f32> {
        match &self.hnsw {
            None => self
                .flat
                .get(&id)
                .map(|v| distance(self.params.metric, q, v)),
            Some(_) => self.get(id).map(|v| distance(self.params.metric, q, &v)),
        }
    }

    /// Adds or replaces the vector of document `id`.
    pub fn put(&mut self, id: u64, v: Vec<f32>) -> Result<(), String> {
        let Some(h) = &self.hnsw else {
            self.flat.insert(id, v);
            return Ok(());
        };
        if self.ids.contains(&id) {
            h.remove(id).map_err(|e| e.to_string())?;
            self.ids.remove(&id);
        }
        if h.size() + 1 > h.capacity() {
            let cap = (h.capacity() * 2).max(64);
            h.reserve_capacity_and_threads(cap, HNSW_THREADS)
                .map_err(|e| e.to_string())?;
        }
        h.add(id, &v).map_err(|e| e.to_string())?;
        self.ids.insert(id);
        Ok(())
    }

    pub fn remove(&mut self, id: u64) {
        match &self.hnsw {
            None => {
                self.flat.remove(&id);
            }
            Some(h) => {
                if self.ids.remove(&id) {
                    let _ = h.remove(id);
                }
            }
        }
    }

    /// Bytes held: the vectors (in the graph for HNSW, which holds them itself).
    pub fn memory(&self) -> usize {
        self.flat.len() * (self.params.dim * 4 + 48)
            + self.ids.len() * 16
            + self.hnsw.as_ref().map_or(0, |h| h.memory_usage())
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
        let exact = match (&self.hnsw, candidates) {
            (None, _) => true,
            (Some(_), Some(c)) => c <= 4 * k.max(256),
            (Some(_), None) => self.len() <= k * 4,
        };
        let mut out: Vec<(u64, f32)> = if exact {
            let mut all: Vec<(u64, f32)> = match &self.hnsw {
                None => self
                    .flat
                    .iter()
                    .filter(|(id, _)| allowed.is_none_or(|f| f(**id)))
                    .map(|(id, v)| (*id, distance(metric, q, v)))
                    .collect(),
                Some(_) => self
                    .ids
                    .iter()
                    .filter(|id| allowed.is_none_or(|f| f(**id)))
                    .filter_map(|id| self.distance_to(q, *id).map(|d| (*id, d)))
                    .collect(),
            };
            all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        } else {
            let h = self.hnsw.as_ref().ok_or("no graph")?;
            let search = || match allowed {
                None => h.search(q, k),
                Some(f) => h.filtered_search(q, k, f),
            };
            // usearch widens the search to k by itself when k > EF_RUNTIME.
            let found = match ef.filter(|&e| e != self.params.ef_runtime) {
                None => {
                    let _shared = self.ef_gate.read();
                    search()
                }
                Some(e) => {
                    let _alone = self.ef_gate.write();
                    h.change_expansion_search(e);
                    let r = search();
                    h.change_expansion_search(self.params.ef_runtime);
                    r
                }
            };
            let m = found.map_err(|e| format!("vector search failed: {e}"))?;
            // Exact distances for what the graph found, so HNSW and FLAT report alike.
            let mut r: Vec<(u64, f32)> = m
                .keys
                .iter()
                .filter_map(|id| self.distance_to(q, *id).map(|d| (*id, d)))
                .collect();
            r.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
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

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(DType::F32.decode(&[0; 7], 2), None);
    }
}
