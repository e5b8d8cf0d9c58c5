//! Secondary indexes over hashes and JSON documents (FT.*): TEXT, TAG, NUMERIC and VECTOR
//! fields, kept in step with the keyspace.
//!
//! An index is defined by its FT.CREATE arguments, which are logged ([`Effect::SearchDefine`])
//! and written at the head of every snapshot, so definitions survive restarts like FUNCTION
//! libraries do. The indexed content lives in memory and is rebuilt from the documents after
//! a restart (a background backfill, as FT.CREATE on an existing keyspace does).
//!
//! Maintenance follows the effects: every committed effect names the keys it changed
//! ([`Search::note`]); the keys are queued and re-read, under their shard lock, before the
//! command that wrote them replies and before any search ([`Search::sync`]). Re-reading the
//! current value makes the update idempotent, whatever order two writers' syncs run in.
//! Like RediSearch, only database 0 is indexed.

pub mod expr;
mod mapped;
pub mod persist;
pub mod query;
pub mod vector;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::Value as J;

use crate::effect::{Effect, Effects};
use crate::types::json::{self, path::Path as JPath};
use crate::types::{hash, Kind, Value};
use crate::Engine;
use query::{Knn, Node};
use vector::{Algo, DType, Metric, Params, Vectors};

/// Where documents come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Hash,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Text {
        weight: f64,
    },
    Tag {
        separator: char,
        case_sensitive: bool,
    },
    Numeric,
    Vector(Params),
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "TEXT",
            FieldType::Tag { .. } => "TAG",
            FieldType::Numeric => "NUMERIC",
            FieldType::Vector(_) => "VECTOR",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The hash field or JSON path the value is read from.
    pub identifier: String,
    /// The name queries use (the AS alias, or the identifier).
    pub name: String,
    pub ty: FieldType,
    pub sortable: bool,
    pub json_path: Option<JPath>,
}

/// An index definition, with the FT.CREATE arguments it was made from (after the name).
#[derive(Debug, Clone)]
pub struct Def {
    pub name: String,
    pub on: On,
    pub prefixes: Vec<Bytes>,
    pub fields: Vec<Field>,
    pub stopwords: HashSet<String>,
    /// FILTER: only documents for which it is true are indexed.
    pub filter: Option<expr::Expr>,
    pub args: Vec<Bytes>,
}

/// RediSearch's default English stop words.
const STOPWORDS: &[&str] = &[
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// EF_RUNTIME when a schema gives none. RediSearch's is 10; usearch's graph needs more for
/// recall@10 of 0.95 on hard (high intrinsic dimension) data.
pub const DEFAULT_EF_RUNTIME: usize = 100;

/// Most fields one index may have.
const MAX_FIELDS: usize = 1024;
/// Largest DIM accepted.
const MAX_DIM: usize = 32_768;

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn num_arg(b: Option<&Bytes>) -> Option<usize> {
    std::str::from_utf8(b?).ok()?.parse().ok()
}

impl Def {
    /// Parses FT.CREATE's arguments after the index name.
    pub fn parse(name: &str, args: &[Bytes]) -> Result<Def, String> {
        let mut def = Def {
            name: name.to_string(),
            on: On::Hash,
            prefixes: Vec::new(),
            fields: Vec::new(),
            stopwords: STOPWORDS.iter().map(|s| s.to_string()).collect(),
            filter: None,
            args: args.to_vec(),
        };
        let mut i = 0;
        while i < args.len() {
            let opt = upper(&args[i]);
            i += 1;
            match opt.as_str() {
                "ON" => {
                    def.on = match args.get(i).map(|a| upper(a)).as_deref() {
                        Some("HASH") => On::Hash,
                        Some("JSON") => On::Json,
                        _ => return Err("Invalid index type: expected HASH or JSON".into()),
                    };
                    i += 1;
                }
                "PREFIX" => {
                    let n = num_arg(args.get(i))
                        .filter(|&n| n <= args.len())
                        .ok_or("Bad arguments for PREFIX: expected a number")?;
                    if i + 1 + n > args.len() {
                        return Err("Bad arguments for PREFIX".into());
                    }
                    def.prefixes.extend(args[i + 1..i + 1 + n].iter().cloned());
                    i += 1 + n;
                }
                "STOPWORDS" => {
                    let n = num_arg(args.get(i))
                        .filter(|&n| n <= args.len())
                        .ok_or("Bad arguments for STOPWORDS: expected a number")?;
                    if i + 1 + n > args.len() {
                        return Err("Bad arguments for STOPWORDS".into());
                    }
                    def.stopwords = args[i + 1..i + 1 + n]
                        .iter()
                        .map(|w| text(w).to_lowercase())
                        .collect();
                    i += 1 + n;
                }
                "LANGUAGE" | "SCORE" | "TEMPORARY" | "MAXTEXTFIELDS_" => {
                    if opt == "LANGUAGE"
                        && args
                            .get(i)
                            .is_some_and(|l| !l.eq_ignore_ascii_case(b"english"))
                    {
                        return Err("Only LANGUAGE english is supported".into());
                    }
                    if opt == "TEMPORARY" {
                        return Err("TEMPORARY indexes are not supported".into());
                    }
                    i += 1;
                }
                "MAXTEXTFIELDS" | "NOOFFSETS" | "NOHL" | "NOFIELDS" | "NOFREQS"
                | "SKIPINITIALSCAN" => {}
                "FILTER" => {
                    let e = args.get(i).ok_or("Bad arguments for FILTER")?;
                    def.filter = Some(expr::Expr::parse(&text(e))?);
                    i += 1;
                }
                "LANGUAGE_FIELD" | "SCORE_FIELD" | "PAYLOAD_FIELD" => {
                    return Err(format!("{opt} is not supported"));
                }
                "SCHEMA" => {
                    def.add_fields(&args[i..])?;
                    i = args.len();
                }
                _ => return Err(format!("Unknown argument `{}`", text(&args[i - 1]))),
            }
        }
        if def.fields.is_empty() {
            return Err("No fields defined".into());
        }
        if def.prefixes.is_empty() {
            def.prefixes.push(Bytes::new());
        }
        Ok(def)
    }

    /// Parses schema fields (FT.CREATE's SCHEMA, FT.ALTER's SCHEMA ADD).
    pub fn add_fields(&mut self, a: &[Bytes]) -> Result<(), String> {
        let mut i = 0;
        while i < a.len() {
            let identifier = text(&a[i]);
            i += 1;
            let mut name = identifier.clone();
            if a.get(i).is_some_and(|t| t.eq_ignore_ascii_case(b"AS")) {
                name = a
                    .get(i + 1)
                    .map(|n| text(n))
                    .ok_or("Missing alias after AS")?;
                i += 2;
            }
            let Some(t) = a.get(i) else {
                return Err(format!("Field `{identifier}` does not have a type"));
            };
            i += 1;
            let ty = match upper(t).as_str() {
                "TEXT" => {
                    let mut weight = 1.0;
                    if a.get(i).is_some_and(|t| t.eq_ignore_ascii_case(b"WEIGHT")) {
                        weight = a
                            .get(i + 1)
                            .and_then(|w| std::str::from_utf8(w).ok()?.parse().ok())
                            .ok_or("Bad WEIGHT")?;
                        i += 2;
                    }
                    FieldType::Text { weight }
                }
                "TAG" => {
                    let mut separator = ',';
                    let mut case_sensitive = false;
                    loop {
                        match a.get(i).map(|t| upper(t)).as_deref() {
                            Some("SEPARATOR") => {
                                let s = a.get(i + 1).ok_or("Missing SEPARATOR")?;
                                if s.len() != 1 {
                                    return Err("Tag separator must be a single character".into());
                                }
                                separator = s[0] as char;
                                i += 2;
                            }
                            Some("CASESENSITIVE") => {
                                case_sensitive = true;
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    FieldType::Tag {
                        separator,
                        case_sensitive,
                    }
                }
                "NUMERIC" => FieldType::Numeric,
                "VECTOR" => {
                    let (p, used) = parse_vector(&a[i..])?;
                    i += used;
                    FieldType::Vector(p)
                }
                "GEO" | "GEOSHAPE" => return Err(format!("{} fields are not supported", upper(t))),
                _ => return Err(format!("Invalid field type for field `{identifier}`")),
            };
            let mut sortable = false;
            loop {
                match a.get(i).map(|t| upper(t)).as_deref() {
                    Some("SORTABLE") => {
                        sortable = true;
                        i += 1;
                        if a.get(i).is_some_and(|t| t.eq_ignore_ascii_case(b"UNF")) {
                            i += 1;
                        }
                    }
                    Some(
                        "NOINDEX" | "NOSTEM" | "PHONETIC_" | "INDEXEMPTY" | "INDEXMISSING"
                        | "WITHSUFFIXTRIE",
                    ) => i += 1,
                    _ => break,
                }
            }
            if self.fields.iter().any(|f| f.name == name) {
                return Err("Duplicate field in schema".into());
            }
            let json_path = match self.on {
                On::Json => Some(
                    JPath::parse(identifier.as_bytes())
                        .map_err(|e| format!("Invalid JSONPath `{identifier}`: {e}"))?,
                ),
                On::Hash => None,
            };
            self.fields.push(Field {
                identifier,
                name,
                ty,
                sortable,
                json_path,
            });
            if self.fields.len() > MAX_FIELDS {
                return Err("Too many fields".into());
            }
        }
        Ok(())
    }

    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    fn matches_key(&self, key: &[u8]) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p))
    }
}

/// `VECTOR {FLAT|HNSW} n attr value...`: the parameters and how many arguments they took.
fn parse_vector(a: &[Bytes]) -> Result<(Params, usize), String> {
    let algo = match a.first().map(|t| upper(t)).as_deref() {
        Some("FLAT") => Algo::Flat,
        Some("HNSW") => Algo::Hnsw,
        _ => return Err("Bad arguments for vector similarity algorithm".into()),
    };
    let n = num_arg(a.get(1))
        .filter(|&n| n <= a.len())
        .ok_or("Bad arguments for vector similarity number of parameters")?;
    if n % 2 != 0 {
        return Err(format!(
            "Bad number of arguments for vector similarity index: got {n} but expected even number"
        ));
    }
    if a.len() < 2 + n {
        return Err(format!("Expected {n} parameters but got {}", a.len() - 2));
    }
    let algo_name = if algo == Algo::Flat { "FLAT" } else { "HNSW" };
    let bad = |what: &str| format!("Bad arguments for vector similarity {algo_name} index {what}");
    let (mut dtype, mut dim, mut metric) = (None, None, None);
    let mut p = Params {
        algo,
        dtype: DType::F32,
        dim: 0,
        metric: Metric::Cosine,
        m: 16,
        ef_construction: 200,
        ef_runtime: DEFAULT_EF_RUNTIME,
        initial_cap: 1024,
    };
    for pair in a[2..2 + n].chunks(2) {
        let v = &pair[1];
        let num = |what: &str| -> Result<usize, String> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| bad(what))
        };
        match upper(&pair[0]).as_str() {
            "TYPE" => {
                dtype = Some(match upper(v).as_str() {
                    "FLOAT32" => DType::F32,
                    "FLOAT64" => DType::F64,
                    "FLOAT16" => DType::F16,
                    _ => return Err(bad("type")),
                })
            }
            "DIM" => {
                let d = num("dim")?;
                if d == 0 || d > MAX_DIM {
                    return Err(bad("dim"));
                }
                dim = Some(d);
            }
            "DISTANCE_METRIC" => {
                metric = Some(match upper(v).as_str() {
                    "COSINE" => Metric::Cosine,
                    "L2" => Metric::L2,
                    "IP" => Metric::Ip,
                    _ => return Err(bad("metric")),
                })
            }
            "INITIAL_CAP" => p.initial_cap = num("initial cap")?.min(1 << 24),
            "M" if algo == Algo::Hnsw => p.m = num("m")?.clamp(2, 512),
            "EF_CONSTRUCTION" if algo == Algo::Hnsw => {
                p.ef_construction = num("efConstruction")?.clamp(1, 4096)
            }
            "EF_RUNTIME" if algo == Algo::Hnsw => p.ef_runtime = num("efRuntime")?.clamp(1, 4096),
            "EPSILON" if algo == Algo::Hnsw => {}
            "BLOCK_SIZE" if algo == Algo::Flat => {}
            other => return Err(format!("Bad arguments for algorithm {algo_name}: {other}")),
        }
    }
    let missing = |what: &str| {
        format!("Missing mandatory parameter: cannot create {algo_name} index without specifying {what} argument")
    };
    p.dtype = dtype.ok_or_else(|| missing("TYPE"))?;
    p.dim = dim.ok_or_else(|| missing("DIM"))?;
    p.metric = metric.ok_or_else(|| missing("DISTANCE_METRIC"))?;
    Ok((p, 2 + n))
}

/// One field's value in one document.
#[derive(Debug, Clone, PartialEq)]
enum FieldVal {
    Missing,
    Text(Vec<String>),
    Tags(Vec<String>),
    Nums(Vec<f64>),
    Vector,
}

#[derive(Debug, Clone)]
struct Doc {
    key: Bytes,
    vals: Vec<FieldVal>,
}

/// What an index holds. Document ids grow with every (re)index, as RediSearch's do.
struct State {
    ids: HashMap<Bytes, u64>,
    docs: BTreeMap<u64, Doc>,
    next_id: u64,
    /// Per field: the vectors of VECTOR fields.
    vectors: Vec<Option<Vectors>>,
    failures: u64,
    /// Documents per word, for scoring (IDF).
    df: HashMap<String, u64>,
    /// Graph entries loaded from disk at startup (see [`persist`]), by key, that the backfill
    /// has not confirmed yet.
    preloaded: HashMap<Bytes, u64>,
}

impl State {
    /// Removes document `id`'s vectors from every vector field.
    fn drop_vectors(&mut self, id: u64) {
        for v in self.vectors.iter_mut().flatten() {
            v.remove(id);
        }
    }
}

/// An empty vector store per VECTOR field of `def` (None for the other fields).
fn new_vectors(def: &Def) -> Result<Vec<Option<Vectors>>, String> {
    def.fields
        .iter()
        .map(|f| match &f.ty {
            FieldType::Vector(p) => Vectors::new(p.clone()).map(Some),
            _ => Ok(None),
        })
        .collect()
}

pub struct Index {
    pub def: RwLock<Def>,
    state: RwLock<State>,
    /// A backfill is running.
    pub indexing: AtomicBool,
    /// Keys the backfill has visited (FT.INFO's percent_indexed).
    pub scanned: AtomicU64,
    pub dropped: AtomicBool,
    pub uses: AtomicU64,
    /// A thread is merging vector segments (see [`persist`]).
    compacting: AtomicBool,
}

impl Index {
    fn new(def: Def) -> Result<Index, String> {
        let vectors = new_vectors(&def)?;
        Ok(Index {
            def: RwLock::new(def),
            state: RwLock::new(State {
                ids: HashMap::new(),
                docs: BTreeMap::new(),
                next_id: 1,
                vectors,
                failures: 0,
                df: HashMap::new(),
                preloaded: HashMap::new(),
            }),
            indexing: AtomicBool::new(false),
            scanned: AtomicU64::new(0),
            dropped: AtomicBool::new(false),
            uses: AtomicU64::new(0),
            compacting: AtomicBool::new(false),
        })
    }

    pub fn num_docs(&self) -> usize {
        self.state.read().docs.len()
    }

    pub fn max_doc_id(&self) -> u64 {
        self.state.read().next_id - 1
    }

    pub fn failures(&self) -> u64 {
        self.state.read().failures
    }

    pub fn vector_bytes(&self) -> usize {
        self.state
            .read()
            .vectors
            .iter()
            .flatten()
            .map(|v| v.memory())
            .sum()
    }

    /// Over all HNSW fields: vectors in RAM, mapped segments, dead entries in segments, and
    /// the segments' bytes on disk.
    /// A background merge of vector segments is running.
    pub fn merging(&self) -> bool {
        self.compacting.load(Ordering::Acquire)
    }

    pub fn vector_layout(&self) -> (usize, usize, usize, u64) {
        let st = self.state.read();
        let mut out = (0, 0, 0, 0);
        for vs in st.vectors.iter().flatten().filter(|v| v.is_hnsw()) {
            let (ram, segs, dead) = vs.layout();
            out.0 += ram;
            out.1 += segs;
            out.2 += dead;
            out.3 += vs.disk_bytes();
        }
        out
    }

    pub fn num_terms(&self) -> usize {
        self.state.read().df.len()
    }

    /// Every document key.
    pub fn keys(&self) -> Vec<Bytes> {
        self.state
            .read()
            .docs
            .values()
            .map(|d| d.key.clone())
            .collect()
    }

    /// The distinct values of a TAG field.
    pub fn tag_values(&self, field: usize) -> Vec<String> {
        let st = self.state.read();
        let mut out: Vec<String> = st
            .docs
            .values()
            .flat_map(|d| match &d.vals[field] {
                FieldVal::Tags(t) => t.clone(),
                _ => Vec::new(),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn clear(&self) {
        let mut st = self.state.write();
        let ids: Vec<u64> = st
            .docs
            .keys()
            .chain(st.preloaded.values())
            .copied()
            .collect();
        for id in ids {
            st.drop_vectors(id);
        }
        st.docs.clear();
        st.ids.clear();
        st.df.clear();
        st.preloaded.clear();
    }

    /// Empties the index and its graphs (a graph file that failed to load half-way).
    fn reset(&self) -> Result<(), String> {
        let def = self.def.read();
        let mut st = self.state.write();
        st.vectors = new_vectors(&def)?;
        st.docs.clear();
        st.ids.clear();
        st.df.clear();
        st.preloaded.clear();
        Ok(())
    }

    /// After a full backfill: graph entries loaded from disk that no document claimed go.
    fn finish_reconcile(&self) {
        let mut st = self.state.write();
        let left: Vec<u64> = st.preloaded.drain().map(|(_, id)| id).collect();
        for id in left {
            st.drop_vectors(id);
        }
    }

    /// Indexes `value` as the document at `key` (None removes it). The caller holds the key's
    /// shard lock, so two updates of one key apply in the order they happened.
    fn update(&self, key: &[u8], value: Option<&Value>) {
        let def = self.def.read();
        let extracted = value.and_then(|v| extract(&def, key, v));
        let mut st = self.state.write();
        if let Some(old) = st.ids.remove(key) {
            if let Some(d) = st.docs.remove(&old) {
                forget_terms(&mut st.df, &d);
            }
            st.drop_vectors(old);
        }
        // A document whose graph entries were loaded from disk keeps them when its vectors
        // are the same; otherwise they go.
        let mut reuse = st.preloaded.remove(key);
        if let Some(old) = reuse {
            let same = match &extracted {
                Some(Ok((_, vecs))) => {
                    let given: Vec<usize> = vecs.iter().map(|(f, _)| *f).collect();
                    vecs.iter().all(|(f, v)| {
                        st.vectors[*f]
                            .as_ref()
                            .and_then(|vs| vs.get(old))
                            .as_deref()
                            == Some(&v[..])
                    }) && st.vectors.iter().enumerate().all(|(f, vs)| {
                        given.contains(&f) || vs.as_ref().is_none_or(|vs| vs.get(old).is_none())
                    })
                }
                _ => false,
            };
            if !same {
                st.drop_vectors(old);
                reuse = None;
            }
        }
        let Some(extracted) = extracted else {
            return;
        };
        let (vals, vecs) = match extracted {
            Ok(x) => x,
            Err(()) => {
                st.failures += 1;
                return;
            }
        };
        // A reused id keeps its graph entries; a new one gets the vectors.
        let id = match reuse {
            Some(id) => id,
            None => {
                let id = st.next_id;
                st.next_id += 1;
                for (fi, v) in vecs {
                    if let Some(Some(vs)) = st.vectors.get_mut(fi) {
                        if vs.put(id, v).is_err() {
                            st.failures += 1;
                        }
                    }
                }
                id
            }
        };
        let key = Bytes::copy_from_slice(key);
        let doc = Doc {
            key: key.clone(),
            vals,
        };
        learn_terms(&mut st.df, &doc);
        st.ids.insert(key, id);
        st.docs.insert(id, doc);
    }
}

fn doc_words(d: &Doc) -> HashSet<&str> {
    d.vals
        .iter()
        .flat_map(|v| match v {
            FieldVal::Text(w) => w.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

fn learn_terms(df: &mut HashMap<String, u64>, d: &Doc) {
    for w in doc_words(d) {
        *df.entry(w.to_string()).or_insert(0) += 1;
    }
}

fn forget_terms(df: &mut HashMap<String, u64>, d: &Doc) {
    for w in doc_words(d) {
        if let Some(n) = df.get_mut(w) {
            *n -= 1;
            if *n == 0 {
                df.remove(w);
            }
        }
    }
}

type Extracted = Result<(Vec<FieldVal>, Vec<(usize, Vec<f32>)>), ()>;

/// The indexed values of a document; None when the value is not of the index's kind,
/// Err when a field holds something its type cannot index (an indexing failure).
fn extract(def: &Def, key: &[u8], v: &Value) -> Option<Extracted> {
    use expr::Val;
    let key_val = || Some(Val::Str(String::from_utf8_lossy(key).into()));
    match (def.on, v.kind()) {
        (On::Hash, Kind::Hash) => {
            if let Some(f) = &def.filter {
                // Any field of the hash, not only the schema's.
                let get = |p: &str| match p {
                    "__key" => key_val(),
                    _ => hash::get(v, p.as_bytes())
                        .map(|b| Val::Str(String::from_utf8_lossy(b).into())),
                };
                if !f.eval(&get).truthy() {
                    return None;
                }
            }
            Some(extract_hash(def, v))
        }
        (On::Json, Kind::Json) => {
            let d = json::doc(v)?;
            if let Some(f) = &def.filter {
                // Schema fields by name, their first match.
                let get = |p: &str| {
                    if p == "__key" {
                        return key_val();
                    }
                    let (_, field) = def.field(p)?;
                    let found = json::select(&d, field.json_path.as_ref()?);
                    Some(match found.first()? {
                        J::String(s) => Val::Str(s.clone()),
                        J::Number(n) => Val::Num(n.as_f64()?),
                        J::Null => Val::Null,
                        other => Val::Str(other.to_string()),
                    })
                };
                if !f.eval(&get).truthy() {
                    return None;
                }
            }
            Some(extract_json(def, &d))
        }
        _ => None,
    }
}

fn tags_of(s: &str, separator: char, case_sensitive: bool) -> Vec<String> {
    s.split(separator)
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(|t| {
            if case_sensitive {
                t.to_string()
            } else {
                t.to_lowercase()
            }
        })
        .collect()
}

fn extract_hash(def: &Def, v: &Value) -> Extracted {
    let mut vals = Vec::with_capacity(def.fields.len());
    let mut vecs = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        let Some(raw) = hash::get(v, f.identifier.as_bytes()) else {
            vals.push(FieldVal::Missing);
            continue;
        };
        vals.push(match &f.ty {
            FieldType::Text { .. } => {
                FieldVal::Text(query::tokenize(&String::from_utf8_lossy(raw)))
            }
            FieldType::Tag {
                separator,
                case_sensitive,
            } => FieldVal::Tags(tags_of(
                &String::from_utf8_lossy(raw),
                *separator,
                *case_sensitive,
            )),
            FieldType::Numeric => {
                let n = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|n| !n.is_nan())
                    .ok_or(())?;
                FieldVal::Nums(vec![n])
            }
            FieldType::Vector(p) => {
                let v = p.dtype.decode(raw, p.dim).ok_or(())?;
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(());
                }
                vecs.push((i, v));
                FieldVal::Vector
            }
        });
    }
    Ok((vals, vecs))
}

fn extract_json(def: &Def, d: &J) -> Extracted {
    let mut vals = Vec::with_capacity(def.fields.len());
    let mut vecs = Vec::new();
    for (i, f) in def.fields.iter().enumerate() {
        let Some(p) = &f.json_path else {
            vals.push(FieldVal::Missing);
            continue;
        };
        let found = json::select(d, p);
        if found.is_empty() || found.iter().all(|v| v.is_null()) {
            vals.push(FieldVal::Missing);
            continue;
        }
        // A single match that is an array counts as its elements (RediSearch indexes
        // `$.tags` holding ["a","b"] as two tags).
        let flat: Vec<&J> = if found.len() == 1 && !matches!(f.ty, FieldType::Vector(_)) {
            match found[0] {
                J::Array(a) => a.iter().collect(),
                other => vec![other],
            }
        } else {
            found.clone()
        };
        vals.push(match &f.ty {
            FieldType::Text { .. } => {
                let mut words = Vec::new();
                for v in flat {
                    match v {
                        J::String(s) => words.extend(query::tokenize(s)),
                        J::Null => {}
                        _ => return Err(()),
                    }
                }
                FieldVal::Text(words)
            }
            FieldType::Tag {
                separator,
                case_sensitive,
            } => {
                let mut tags = Vec::new();
                for v in flat {
                    match v {
                        J::String(s) => tags.extend(tags_of(s, *separator, *case_sensitive)),
                        J::Bool(b) => tags.push(b.to_string()),
                        J::Number(n) => tags.push(n.to_string()),
                        J::Null => {}
                        _ => return Err(()),
                    }
                }
                FieldVal::Tags(tags)
            }
            FieldType::Numeric => {
                let mut nums = Vec::new();
                for v in flat {
                    match v {
                        J::Number(n) => nums.push(n.as_f64().ok_or(())?),
                        J::Null => {}
                        _ => return Err(()),
                    }
                }
                FieldVal::Nums(nums)
            }
            FieldType::Vector(p) => {
                let J::Array(a) = found[0] else {
                    return Err(());
                };
                if a.len() != p.dim {
                    return Err(());
                }
                let mut v = Vec::with_capacity(p.dim);
                for x in a {
                    let x = x.as_f64().ok_or(())? as f32;
                    if !x.is_finite() {
                        return Err(());
                    }
                    v.push(x);
                }
                vecs.push((i, v));
                FieldVal::Vector
            }
        });
    }
    Ok((vals, vecs))
}

// ---- queries ----------------------------------------------------------------------------------

/// One result: the document, its key, and its score (TF-IDF, or the vector distance).
#[derive(Debug, Clone)]
pub struct Hit {
    pub key: Bytes,
    pub score: f64,
    /// The KNN distance, when the query had a vector clause.
    pub distance: Option<f32>,
    /// Sort values of the document's fields, by field position.
    sort: Vec<Option<SortVal>>,
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortVal {
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone)]
pub struct SortBy {
    pub field: String,
    pub asc: bool,
}

/// What FT.SEARCH asks for, after parsing.
pub struct Request {
    pub query: query::Query,
    pub sort: Option<SortBy>,
    pub offset: usize,
    pub limit: usize,
}

pub struct Found {
    pub total: usize,
    pub hits: Vec<Hit>,
}

impl Index {
    /// Runs a query. Errors are RediSearch's messages (without "ERR ").
    pub fn search(&self, req: &Request) -> Result<Found, String> {
        self.uses.fetch_add(1, Ordering::Relaxed);
        let def = self.def.read();
        check_fields(&def, &req.query.filter)?;
        // Stop words are left out of the query; a query of nothing but stop words matches
        // nothing.
        let Some(filter) = without_stopwords(&def, &req.query.filter) else {
            return Ok(Found {
                total: 0,
                hits: Vec::new(),
            });
        };
        let st = self.state.read();
        let n_docs = st.docs.len().max(1) as f64;
        let sort_field = match &req.sort {
            Some(s) => match def.field(&s.field) {
                Some((i, _)) => Some(i),
                None if req
                    .query
                    .knn
                    .as_ref()
                    .is_some_and(|k| k.score_name == s.field) =>
                {
                    None
                }
                None => return Err(format!("Property `{}` not loaded nor in schema", s.field)),
            },
            None => None,
        };
        let make_hit = |id: &u64, d: &Doc, score: f64, distance: Option<f32>| Hit {
            key: d.key.clone(),
            score,
            distance,
            sort: sort_field
                .map(|i| match &d.vals[i] {
                    FieldVal::Nums(n) => n.first().map(|x| SortVal::Num(*x)),
                    FieldVal::Text(w) => Some(SortVal::Str(w.join(" "))),
                    FieldVal::Tags(t) => t.first().map(|x| SortVal::Str(x.clone())),
                    _ => None,
                })
                .into_iter()
                .chain(std::iter::once(Some(SortVal::Num(*id as f64))))
                .collect(),
        };
        let mut hits: Vec<Hit> = match &req.query.knn {
            None => st
                .docs
                .iter()
                .filter(|(_, d)| eval(&def, &filter, d))
                .map(|(id, d)| {
                    let score = tfidf(&def, &filter, d, &st.df, n_docs);
                    make_hit(id, d, score, None)
                })
                .collect(),
            Some(knn) => {
                let found = self.knn(&def, &st, knn, &filter)?;
                found
                    .into_iter()
                    .filter_map(|(id, dist)| {
                        st.docs
                            .get(&id)
                            .map(|d| make_hit(&id, d, dist as f64, Some(dist)))
                    })
                    .collect()
            }
        };
        let total = hits.len();
        match (&req.sort, sort_field) {
            (Some(s), Some(_)) => {
                hits.sort_by(|a, b| {
                    let o = cmp_sort(&a.sort[0], &b.sort[0]);
                    let o = if s.asc { o } else { o.reverse() };
                    o.then_with(|| cmp_sort(&a.sort[1], &b.sort[1]))
                });
            }
            (Some(s), None) => {
                // SORTBY the distance.
                hits.sort_by(|a, b| {
                    let o = a.score.total_cmp(&b.score);
                    let o = if s.asc { o } else { o.reverse() };
                    o.then_with(|| cmp_sort(&a.sort[0], &b.sort[0]))
                });
            }
            (None, _) if req.query.knn.is_some() => {} // nearest first already
            (None, _) => hits.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| cmp_sort(&a.sort[0], &b.sort[0]))
            }),
        }
        let hits = hits.into_iter().skip(req.offset).take(req.limit).collect();
        Ok(Found { total, hits })
    }

    fn knn(
        &self,
        def: &Def,
        st: &State,
        knn: &Knn,
        filter: &Node,
    ) -> Result<Vec<(u64, f32)>, String> {
        let Some((fi, f)) = def.field(&knn.field) else {
            return Err(format!("Unknown field `{}`", knn.field));
        };
        let FieldType::Vector(p) = &f.ty else {
            return Err(format!("Expected a vector field, got `{}`", knn.field));
        };
        let expect = p.dim * p.dtype.size();
        let Some(q) = p.dtype.decode(&knn.vector, p.dim) else {
            return Err(format!(
                "Error parsing vector similarity query: query vector blob size ({}) does not match index's expected size ({expect}).",
                knn.vector.len()
            ));
        };
        if q.iter().any(|x| !x.is_finite()) {
            return Err("Error parsing vector similarity query: query vector holds NaN or infinite components".into());
        }
        let Some(Some(vs)) = st.vectors.get(fi) else {
            return Ok(Vec::new());
        };
        if *filter == Node::All {
            return vs.knn(&q, knn.k, None, None, knn.ef_runtime);
        }
        let allowed: HashSet<u64> = st
            .docs
            .iter()
            .filter(|(_, d)| eval(def, filter, d))
            .map(|(id, _)| *id)
            .collect();
        let admit = |id: u64| allowed.contains(&id);
        vs.knn(&q, knn.k, Some(&admit), Some(allowed.len()), knn.ef_runtime)
    }
}

/// The query without its stop words, as RediSearch drops them; None when nothing is left.
fn without_stopwords(def: &Def, n: &Node) -> Option<Node> {
    let many = |v: &[Node], make: fn(Vec<Node>) -> Node| {
        let mut v: Vec<Node> = v.iter().filter_map(|n| without_stopwords(def, n)).collect();
        match v.len() {
            0 => None,
            1 => v.pop(),
            _ => Some(make(v)),
        }
    };
    match n {
        Node::Term {
            word,
            prefix: false,
            ..
        } if def.stopwords.contains(word) => None,
        Node::Phrase { field, words } => {
            let words: Vec<String> = words
                .iter()
                .filter(|w| !def.stopwords.contains(*w))
                .cloned()
                .collect();
            (!words.is_empty()).then(|| Node::Phrase {
                field: field.clone(),
                words,
            })
        }
        Node::And(v) => many(v, Node::And),
        Node::Or(v) => many(v, Node::Or),
        Node::Not(n) => without_stopwords(def, n).map(|n| Node::Not(Box::new(n))),
        other => Some(other.clone()),
    }
}

fn cmp_sort(a: &Option<SortVal>, b: &Option<SortVal>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Some(x), Some(y)) => x.partial_cmp(y).unwrap_or(Equal),
        (Some(_), None) => Less,
        (None, Some(_)) => Greater,
        (None, None) => Equal,
    }
}

/// Fields a query names must exist with a type that supports the operator.
fn check_fields(def: &Def, n: &Node) -> Result<(), String> {
    let need = |name: &str, ok: fn(&FieldType) -> bool, what: &str| -> Result<(), String> {
        match def.field(name) {
            None => Err(format!("Unknown field at offset 0 near {name}")),
            Some((_, f)) if !ok(&f.ty) => Err(format!("Field `{name}` is not a {what} field")),
            _ => Ok(()),
        }
    };
    match n {
        Node::All => Ok(()),
        Node::And(v) | Node::Or(v) => v.iter().try_for_each(|n| check_fields(def, n)),
        Node::Not(n) => check_fields(def, n),
        Node::Term { field: Some(f), .. } | Node::Phrase { field: Some(f), .. } => {
            need(f, |t| matches!(t, FieldType::Text { .. }), "TEXT")
        }
        Node::Term { .. } | Node::Phrase { .. } => Ok(()),
        Node::Tag { field, .. } => need(field, |t| matches!(t, FieldType::Tag { .. }), "TAG"),
        Node::Range { field, .. } => need(field, |t| matches!(t, FieldType::Numeric), "NUMERIC"),
    }
}

fn text_fields<'a>(
    def: &'a Def,
    d: &'a Doc,
    field: &'a Option<String>,
) -> impl Iterator<Item = &'a [String]> + 'a {
    def.fields
        .iter()
        .zip(&d.vals)
        .filter_map(move |(f, v)| match v {
            FieldVal::Text(w) if field.as_ref().is_none_or(|n| *n == f.name) => Some(&w[..]),
            _ => None,
        })
}

fn eval(def: &Def, n: &Node, d: &Doc) -> bool {
    match n {
        Node::All => true,
        Node::And(v) => v.iter().all(|n| eval(def, n, d)),
        Node::Or(v) => v.iter().any(|n| eval(def, n, d)),
        Node::Not(n) => !eval(def, n, d),
        Node::Term {
            field,
            word,
            prefix,
        } => text_fields(def, d, field).any(|ws| {
            ws.iter().any(|w| {
                if *prefix {
                    w.starts_with(word.as_str())
                } else {
                    w == word
                }
            })
        }),
        Node::Phrase { field, words } => {
            let words: Vec<&String> = words
                .iter()
                .filter(|w| !def.stopwords.contains(*w))
                .collect();
            if words.is_empty() {
                return true;
            }
            text_fields(def, d, field).any(|ws| {
                let ws: Vec<&String> = ws.iter().filter(|w| !def.stopwords.contains(*w)).collect();
                ws.windows(words.len()).any(|win| win == &words[..])
            })
        }
        Node::Tag { field, values } => {
            let Some((i, f)) = def.field(field) else {
                return false;
            };
            let cs = matches!(
                f.ty,
                FieldType::Tag {
                    case_sensitive: true,
                    ..
                }
            );
            let FieldVal::Tags(tags) = &d.vals[i] else {
                return false;
            };
            values.iter().any(|v| {
                let v = if cs { v.clone() } else { v.to_lowercase() };
                match v.strip_suffix('*') {
                    Some(p) => tags.iter().any(|t| t.starts_with(p)),
                    None => tags.contains(&v),
                }
            })
        }
        Node::Range {
            field,
            lo,
            lo_excl,
            hi,
            hi_excl,
        } => {
            let Some((i, _)) = def.field(field) else {
                return false;
            };
            let FieldVal::Nums(ns) = &d.vals[i] else {
                return false;
            };
            ns.iter().any(|x| {
                (if *lo_excl { x > lo } else { x >= lo })
                    && (if *hi_excl { x < hi } else { x <= hi })
            })
        }
    }
}

/// RediSearch's default scorer, TF-IDF: per query word, its frequency in the document's text
/// times the log of its inverse document frequency, normalised by the document's length.
fn tfidf(def: &Def, n: &Node, d: &Doc, df: &HashMap<String, u64>, n_docs: f64) -> f64 {
    let mut words = Vec::new();
    collect_words(n, &mut words);
    if words.is_empty() {
        return 1.0;
    }
    let all: Vec<&String> = text_fields(def, d, &None).flatten().collect();
    if all.is_empty() {
        return 0.0;
    }
    let mut s = 0.0;
    for w in words {
        let tf = all.iter().filter(|x| ***x == *w).count() as f64;
        let idf = (1.0 + n_docs / df.get(w).copied().unwrap_or(1).max(1) as f64).log2();
        s += tf * idf;
    }
    s / all.len() as f64
}

fn collect_words<'a>(n: &'a Node, out: &mut Vec<&'a String>) {
    match n {
        Node::And(v) | Node::Or(v) => v.iter().for_each(|n| collect_words(n, out)),
        Node::Term { word, .. } => out.push(word),
        Node::Phrase { words, .. } => out.extend(words),
        _ => {}
    }
}

// ---- the registry -----------------------------------------------------------------------------

/// Every index, and the keys waiting to be re-read.
#[derive(Default)]
pub struct Search {
    indexes: RwLock<BTreeMap<String, Arc<Index>>>,
    active: AtomicBool,
    pending: Mutex<Vec<Bytes>>,
    has_pending: AtomicBool,
    /// A FLUSHDB, SWAPDB or load replaced database 0: rebuild everything at the next sync.
    rebuild: AtomicBool,
    /// Held while queued keys are re-read, so a caller of [`Search::sync`] returns only once
    /// every write queued before it is indexed, by itself or by whoever took the queue.
    syncing: Mutex<()>,
}

impl Search {
    /// Whether any index exists (writes then record the effects that name their keys).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indexes.read().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.indexes.read().keys().cloned().collect()
    }

    /// The definitions, as effects (a snapshot starts with them).
    pub fn definition_effects(&self) -> Vec<Effect> {
        self.indexes
            .read()
            .values()
            .map(|i| define_effect(&i.def.read()))
            .collect()
    }

    /// Adds an index, or replaces one of that name when `replace` (FT.ALTER, replay). It
    /// starts empty; [`Search::backfill`] fills it.
    pub fn define(&self, def: Def, replace: bool) -> Result<Arc<Index>, String> {
        let name = def.name.clone();
        let idx = Arc::new(Index::new(def)?);
        let mut all = self.indexes.write();
        if !replace && all.contains_key(&name) {
            return Err("Index already exists".into());
        }
        if let Some(old) = all.insert(name, idx.clone()) {
            old.dropped.store(true, Ordering::Relaxed);
        }
        self.active.store(true, Ordering::Relaxed);
        Ok(idx)
    }

    pub fn drop_index(&self, name: &str) -> Option<Arc<Index>> {
        let mut all = self.indexes.write();
        let old = all.remove(name);
        if let Some(o) = &old {
            o.dropped.store(true, Ordering::Relaxed);
        }
        self.active.store(!all.is_empty(), Ordering::Relaxed);
        old
    }

    /// Records the keys of database 0 that committed effects changed.
    pub fn note(&self, effects: &[Effect]) {
        let mut keys: Vec<Bytes> = Vec::new();
        for e in effects {
            match e {
                Effect::Rename { db: 0, src, dst } => {
                    keys.push(Bytes::copy_from_slice(src));
                    keys.push(Bytes::copy_from_slice(dst));
                }
                Effect::Copy { dst_db: 0, dst, .. } => keys.push(Bytes::copy_from_slice(dst)),
                Effect::Move { db, key, dst_db } if *db == 0 || *dst_db == 0 => {
                    keys.push(Bytes::copy_from_slice(key))
                }
                Effect::FlushAll | Effect::FlushDb { db: 0 } => {
                    for i in self.indexes.read().values() {
                        i.clear();
                    }
                }
                Effect::SwapDb { a, b } if *a == 0 || *b == 0 => {
                    self.rebuild.store(true, Ordering::Relaxed);
                    self.has_pending.store(true, Ordering::Release);
                }
                Effect::Persist { .. } => {}
                e => {
                    if e.db() == Some(0) {
                        if let Some(k) = effect_key(e) {
                            keys.push(Bytes::copy_from_slice(k));
                        }
                    }
                }
            }
        }
        if !keys.is_empty() {
            self.pending.lock().extend(keys);
            self.has_pending.store(true, Ordering::Release);
        }
    }

    /// Re-reads the keys written since the last sync and updates the indexes. The caller holds
    /// the engine gate and no shard lock.
    pub fn sync(&self, eng: &Engine) {
        if !self.has_pending.load(Ordering::Acquire) {
            return;
        }
        let _one_at_a_time = self.syncing.lock();
        if !self.has_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        if self.rebuild.swap(false, Ordering::Relaxed) {
            let all: Vec<Arc<Index>> = self.indexes.read().values().cloned().collect();
            for i in &all {
                i.clear();
                fill(eng, i);
            }
        }
        let keys = std::mem::take(&mut *self.pending.lock());
        if keys.is_empty() {
            return;
        }
        let all: Vec<Arc<Index>> = self.indexes.read().values().cloned().collect();
        for k in keys {
            reindex(eng, &all, &k);
        }
    }

    /// Indexes the existing keys of database 0 for `idx` on a thread of its own, as
    /// RediSearch's background scan does (FT.INFO shows `indexing` meanwhile).
    pub fn backfill(eng: &Arc<Engine>, idx: Arc<Index>) {
        idx.indexing.store(true, Ordering::Relaxed);
        let eng = eng.clone();
        let spawned = std::thread::Builder::new()
            .name("ft-backfill".into())
            .spawn({
                let idx = idx.clone();
                move || {
                    fill_batches(&eng, &idx);
                    idx.indexing.store(false, Ordering::Relaxed);
                }
            });
        if spawned.is_err() {
            idx.indexing.store(false, Ordering::Relaxed);
        }
    }

    /// Indexes the existing keys for every index (after a restart), starting from the graphs
    /// saved beside the snapshot in `dir` when they are there and sound.
    pub fn backfill_all(eng: &Arc<Engine>, dir: Option<&std::path::Path>) {
        let all: Vec<Arc<Index>> = eng.search.indexes.read().values().cloned().collect();
        for i in all {
            if let Some(dir) = dir {
                let name = i.def.read().name.clone();
                match persist::load(&i, dir) {
                    Ok(0) => {}
                    Ok(n) => tracing_free_log(&format!(
                        "index {name}: {n} documents' vectors loaded from disk"
                    )),
                    Err(e) => {
                        tracing_free_log(&format!(
                            "index {name}: vector graphs not loaded ({e}); rebuilding"
                        ));
                        let _ = i.reset();
                    }
                }
            }
            Search::backfill(eng, i);
        }
    }

    /// Saves the vector graphs of every index beside the snapshot in `dir` (after a
    /// successful snapshot). Returns how many indexes were saved.
    pub fn save_graphs(&self, dir: &std::path::Path) -> std::io::Result<usize> {
        let all: Vec<Arc<Index>> = self.indexes.read().values().cloned().collect();
        persist::save_all(&all, dir)
    }
}

pub fn define_effect(def: &Def) -> Effect {
    let mut args = vec![def.name.as_bytes().to_vec()];
    args.extend(def.args.iter().map(|a| a.to_vec()));
    Effect::SearchDefine { args }
}

/// The key an effect on one key changed.
fn effect_key(e: &Effect) -> Option<&[u8]> {
    use Effect::*;
    Some(match e {
        Set { key, .. }
        | Del { key, .. }
        | Expire { key, .. }
        | IncrBy { key, .. }
        | Append { key, .. }
        | SetRange { key, .. }
        | HSet { key, .. }
        | HDel { key, .. }
        | HExpire { key, .. }
        | JsonSet { key, .. } => key,
        _ => return None,
    })
}

/// Updates every index whose prefixes cover `key` from the key's current value.
fn reindex(eng: &Engine, all: &[Arc<Index>], key: &[u8]) {
    let wanted: Vec<&Arc<Index>> = all
        .iter()
        .filter(|i| i.def.read().matches_key(key))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut effects = Effects::default();
    let mut g = eng.lock(0, &[key], &mut effects);
    let v = g.peek(key).map(|e| e.value.clone());
    for i in wanted {
        i.update(key, v.as_ref());
    }
    drop(g);
}

/// The whole backfill in one go (SWAPDB, FLUSHDB replacing database 0 under the gate).
fn fill(eng: &Engine, idx: &Arc<Index>) {
    let mut cursor = 0;
    loop {
        let (next, keys) = eng.scan(0, cursor, 1000, None, None);
        let one = [idx.clone()];
        for k in keys {
            reindex(eng, &one, &k);
        }
        if next == 0 {
            idx.finish_reconcile();
            return;
        }
        cursor = next;
    }
}

fn fill_batches(eng: &Engine, idx: &Arc<Index>) {
    let mut cursor = 0;
    idx.scanned.store(0, Ordering::Relaxed);
    loop {
        if idx.dropped.load(Ordering::Relaxed) {
            return;
        }
        let _gate = eng.gate_shared();
        let (next, keys) = eng.scan(0, cursor, 256, None, None);
        let one = [idx.clone()];
        idx.scanned.fetch_add(keys.len() as u64, Ordering::Relaxed);
        for k in keys {
            reindex(eng, &one, &k);
        }
        if next == 0 {
            idx.finish_reconcile();
            return;
        }
        cursor = next;
    }
}

/// The engine has no logger of its own: startup messages about indexes go to standard error,
/// which the server's log captures.
fn tracing_free_log(msg: &str) {
    eprintln!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn parses_the_seed_schema() {
        let d = Def::parse(
            "doc_idx",
            &args("ON JSON PREFIX 1 doc: SCHEMA $.content AS content TEXT WEIGHT 1.0 $.user_id AS user_id NUMERIC $.embedding AS embedding VECTOR HNSW 10 TYPE FLOAT32 DIM 1536 DISTANCE_METRIC COSINE M 16 EF_CONSTRUCTION 200"),
        )
        .unwrap();
        assert_eq!(d.on, On::Json);
        assert_eq!(d.prefixes, vec![Bytes::from_static(b"doc:")]);
        assert_eq!(d.fields.len(), 3);
        let FieldType::Vector(p) = &d.fields[2].ty else {
            panic!()
        };
        assert_eq!(
            (p.dim, p.metric, p.algo, p.m),
            (1536, Metric::Cosine, Algo::Hnsw, 16)
        );
    }

    #[test]
    fn bad_schemas_get_redisearch_s_errors() {
        let e = |s: &str| Def::parse("i", &args(s)).unwrap_err();
        assert_eq!(
            e("SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 8"),
            "Expected 6 parameters but got 4"
        );
        assert_eq!(
            e("SCHEMA v VECTOR HNSW 4 TYPE FLOAT32 DIM 8"),
            "Missing mandatory parameter: cannot create HNSW index without specifying DISTANCE_METRIC argument"
        );
        assert_eq!(
            e("SCHEMA v VECTOR HNSW 3 TYPE FLOAT32 DIM"),
            "Bad number of arguments for vector similarity index: got 3 but expected even number"
        );
        assert_eq!(
            e("SCHEMA v VECTOR FOO 2 DIM 1"),
            "Bad arguments for vector similarity algorithm"
        );
        assert_eq!(e("SCHEMA a TEXT a TEXT"), "Duplicate field in schema");
        assert_eq!(e("SCHEMA a"), "Field `a` does not have a type");
        assert_eq!(e("SCHEMA a BLOB"), "Invalid field type for field `a`");
        assert!(e("SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 0 DISTANCE_METRIC L2").contains("dim"));
    }
}
