//! FT.* commands (RediSearch 2.8's replies, RESP2 and RESP3): argument parsing and reply
//! shapes here, indexes and queries in `strata_engine::search`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use strata_engine::ctx::Ctx;
use strata_engine::effect::{Effect, Effects};
use strata_engine::error::CmdError;
use strata_engine::reply::Reply;
use strata_engine::search::expr::{render, Expr, Val};
use strata_engine::search::{self, query, Def, FieldType, Hit, Index, On, Request, Search, SortBy};
use strata_engine::types::json::{self as j, path::Path as JPath};
use strata_engine::types::{hash, Kind};

use super::Call;
use crate::resp::Proto;

handlers!(
    ft_create,
    ft_search,
    ft_info,
    ft_dropindex,
    ft_list,
    ft_alter,
    ft_tagvals,
    ft_aggregate
);

/// RediSearch's errors carry no "ERR" prefix.
fn fail(msg: impl Into<String>) -> CmdError {
    CmdError::owned(msg.into())
}

fn unknown_index() -> CmdError {
    fail("Unknown index name")
}

fn index(call: &Call, i: usize) -> Result<Arc<Index>, CmdError> {
    let name = String::from_utf8_lossy(call.arg(i)).to_string();
    call.srv.engine.search.get(&name).ok_or_else(unknown_index)
}

/// The index a query runs on (FT.SEARCH and FT.AGGREGATE word a missing one differently).
fn query_index(call: &Call) -> Result<Arc<Index>, CmdError> {
    let name = String::from_utf8_lossy(call.arg(1)).to_string();
    call.srv
        .engine
        .search
        .get(&name)
        .ok_or_else(|| fail(format!("{name}: no such index")))
}

/// Brings the indexes up to date before a read. Inside MULTI/EXEC or a script the
/// transaction's own earlier writes are not committed yet: they are noted first, so the
/// read sees them as Redis's modules do.
fn sync_for_read(call: &mut Call) {
    let eng = &call.srv.engine;
    if call.effects.deferred && eng.search.active() {
        eng.search.note(&call.effects.list);
    }
    eng.search.sync(eng);
}

fn commit(call: &mut Call, e: Effect) {
    call.srv.engine.commit(&mut vec![e]);
}

pub use strata_engine::search::expr::format_number as format_score;

fn parse_usize(b: &[u8]) -> Option<usize> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

mod imp {
    use super::*;

    pub fn ft_create(call: &mut Call) -> Result<Reply, CmdError> {
        if call.client.db != 0 {
            return Err(fail("Cannot create index on db != 0"));
        }
        let name = String::from_utf8_lossy(call.arg(1)).to_string();
        let eng = &call.srv.engine;
        if eng.search.get(&name).is_some() {
            return Err(fail("Index already exists"));
        }
        let def = Def::parse(&name, &call.args[2..]).map_err(fail)?;
        let skip_scan = call.args[2..]
            .iter()
            .take_while(|a| !a.eq_ignore_ascii_case(b"SCHEMA"))
            .any(|a| a.eq_ignore_ascii_case(b"SKIPINITIALSCAN"));
        let effect = search::define_effect(&def);
        let idx = eng.search.define(def, false).map_err(fail)?;
        commit(call, effect);
        if !skip_scan {
            Search::backfill(&call.srv.engine, idx);
        }
        Ok(Reply::Ok)
    }

    pub fn ft_alter(call: &mut Call) -> Result<Reply, CmdError> {
        let idx = index(call, 1)?;
        let mut i = 2;
        let mut skip_scan = false;
        if call
            .args
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"SKIPINITIALSCAN"))
        {
            skip_scan = true;
            i += 1;
        }
        if !(call
            .args
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"SCHEMA"))
            && call
                .args
                .get(i + 1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"ADD")))
        {
            return Err(fail("Unknown argument: expected SCHEMA ADD"));
        }
        let mut def = idx.def.read().clone();
        def.add_fields(&call.args[i + 2..]).map_err(fail)?;
        if !def.args.iter().any(|a| a.eq_ignore_ascii_case(b"SCHEMA")) {
            def.args.push(Bytes::from_static(b"SCHEMA"));
        }
        def.args.extend(call.args[i + 2..].iter().cloned());
        let effect = search::define_effect(&def);
        // The altered index starts empty and is filled again, SKIPINITIALSCAN or not: its
        // documents are re-read with the new schema.
        let _ = skip_scan;
        let idx = call.srv.engine.search.define(def, true).map_err(fail)?;
        commit(call, effect);
        Search::backfill(&call.srv.engine, idx);
        Ok(Reply::Ok)
    }

    pub fn ft_dropindex(call: &mut Call) -> Result<Reply, CmdError> {
        let name = String::from_utf8_lossy(call.arg(1)).to_string();
        let dd = match call.args.get(2) {
            None => false,
            Some(a) if a.eq_ignore_ascii_case(b"DD") && call.args.len() == 3 => true,
            Some(_) => return Err(fail("Unknown argument")),
        };
        let eng = call.srv.engine.clone();
        let Some(idx) = eng.search.drop_index(&name) else {
            return Err(fail("Unknown Index name"));
        };
        commit(
            call,
            Effect::SearchDrop {
                name: name.into_bytes(),
            },
        );
        if dd {
            for k in idx.keys() {
                let mut cx = Ctx::new(&eng, 0, call.effects);
                let mut g = cx.lock(&[&k]);
                if g.remove(&k).is_some() {
                    g.log(|| Effect::Del {
                        db: 0,
                        key: k.to_vec(),
                    });
                }
            }
        }
        Ok(Reply::Ok)
    }

    pub fn ft_list(call: &mut Call) -> Result<Reply, CmdError> {
        Ok(Reply::Set(
            call.srv
                .engine
                .search
                .names()
                .iter()
                .map(|n| Reply::bulk_str(n))
                .collect(),
        ))
    }

    pub fn ft_tagvals(call: &mut Call) -> Result<Reply, CmdError> {
        sync_for_read(call);
        let idx = index(call, 1)?;
        let field = String::from_utf8_lossy(call.arg(2)).to_string();
        let pos = {
            let def = idx.def.read();
            match def.field(&field) {
                Some((i, f)) if matches!(f.ty, FieldType::Tag { .. }) => i,
                _ => return Err(fail(format!("No such field `{field}`"))),
            }
        };
        Ok(Reply::Set(
            idx.tag_values(pos)
                .iter()
                .map(|t| Reply::bulk_str(t))
                .collect(),
        ))
    }

    pub fn ft_info(call: &mut Call) -> Result<Reply, CmdError> {
        sync_for_read(call);
        let idx = index(call, 1)?;
        let resp3 = call.client.proto == Proto::Resp3;
        let def = idx.def.read();
        let s = Reply::bulk_str;
        let attrs: Vec<Reply> = def
            .fields
            .iter()
            .map(|f| {
                let mut kv = vec![
                    (s("identifier"), s(&f.identifier)),
                    (s("attribute"), s(&f.name)),
                    (s("type"), s(f.ty.name())),
                ];
                match &f.ty {
                    FieldType::Text { weight } => kv.push((s("WEIGHT"), s(&format_score(*weight)))),
                    FieldType::Tag { separator, .. } => {
                        kv.push((s("SEPARATOR"), s(&separator.to_string())))
                    }
                    FieldType::Numeric => {}
                    FieldType::Vector(p) => {
                        kv.push((
                            s("algorithm"),
                            s(if p.algo == search::vector::Algo::Flat {
                                "FLAT"
                            } else {
                                "HNSW"
                            }),
                        ));
                        kv.push((s("data_type"), s(p.dtype.name())));
                        kv.push((s("dim"), Reply::Int(p.dim as i64)));
                        kv.push((s("distance_metric"), s(p.metric.name())));
                    }
                }
                let mut flags = Vec::new();
                if f.sortable {
                    flags.push(s("SORTABLE"));
                }
                if resp3 {
                    kv.push((s("flags"), Reply::Array(flags)));
                    Reply::Map(kv)
                } else {
                    let mut flat: Vec<Reply> = kv.into_iter().flat_map(|(k, v)| [k, v]).collect();
                    flat.extend(flags);
                    Reply::Array(flat)
                }
            })
            .collect();
        let n_docs = idx.num_docs();
        let dbsize = call.srv.engine.dbsize(0).max(1) as f64;
        let indexing = idx.indexing.load(Ordering::Relaxed);
        let pct = if indexing {
            (idx.scanned.load(Ordering::Relaxed) as f64 / dbsize).min(0.99)
        } else {
            1.0
        };
        let mb = |b: usize| Reply::Double(b as f64 / (1024.0 * 1024.0));
        let definition = Reply::Map(vec![
            (
                s("key_type"),
                s(match def.on {
                    On::Hash => "HASH",
                    On::Json => "JSON",
                }),
            ),
            (
                s("prefixes"),
                Reply::Array(
                    def.prefixes
                        .iter()
                        .map(|p| Reply::Bulk(p.clone()))
                        .collect(),
                ),
            ),
            (s("default_score"), Reply::Double(1.0)),
        ]);
        let (in_ram, segments, dead, disk) = idx.vector_layout();
        Ok(Reply::Map(vec![
            (s("index_name"), s(&def.name)),
            (s("index_options"), Reply::Array(vec![])),
            (s("index_definition"), definition),
            (s("attributes"), Reply::Array(attrs)),
            (s("num_docs"), Reply::Double(n_docs as f64)),
            (s("max_doc_id"), Reply::Double(idx.max_doc_id() as f64)),
            (s("num_terms"), Reply::Double(idx.num_terms() as f64)),
            (
                s("num_records"),
                Reply::Double(n_docs as f64 * def.fields.len() as f64),
            ),
            (s("inverted_sz_mb"), mb(0)),
            (s("vector_index_sz_mb"), mb(idx.vector_bytes())),
            // Strata's own: where HNSW vectors are (see the README's vector search section).
            (s("vector_disk_sz_mb"), mb(disk as usize)),
            (s("vector_docs_in_ram"), Reply::Int(in_ram as i64)),
            (s("vector_segments"), Reply::Int(segments as i64)),
            (s("vector_dead_entries"), Reply::Int(dead as i64)),
            (s("vector_merging"), Reply::Int(idx.merging() as i64)),
            (
                s("hash_indexing_failures"),
                Reply::Double(idx.failures() as f64),
            ),
            (s("indexing"), Reply::Double(indexing as u8 as f64)),
            (s("percent_indexed"), Reply::Double(pct)),
            (
                s("number_of_uses"),
                Reply::Int(idx.uses.load(Ordering::Relaxed) as i64),
            ),
            (s("cleaning"), Reply::Int(0)),
        ]))
    }

    /// FT.SEARCH's options after the query.
    struct Opts {
        no_content: bool,
        with_scores: bool,
        ret: Option<Vec<(String, String)>>,
        sort: Option<SortBy>,
        offset: usize,
        limit: usize,
        params: HashMap<String, Bytes>,
        filters: Vec<query::Node>,
        in_keys: Option<Vec<Bytes>>,
    }

    fn parse_opts(a: &[Bytes]) -> Result<Opts, CmdError> {
        let mut o = Opts {
            no_content: false,
            with_scores: false,
            ret: None,
            sort: None,
            offset: 0,
            limit: 10,
            params: HashMap::new(),
            filters: Vec::new(),
            in_keys: None,
        };
        let mut i = 0;
        let bad = |what: &str| fail(format!("Bad arguments for {what}"));
        let number = |i: usize, what: &str| -> Result<usize, CmdError> {
            a.get(i)
                .and_then(|n| parse_usize(n))
                .ok_or_else(|| bad(what))
        };
        // A count of the arguments that follow: never more than there are.
        let count = |i: usize, what: &str| -> Result<usize, CmdError> {
            number(i, what).and_then(|n| if n <= a.len() { Ok(n) } else { Err(bad(what)) })
        };
        while i < a.len() {
            let opt = String::from_utf8_lossy(&a[i]).to_ascii_uppercase();
            i += 1;
            match opt.as_str() {
                "NOCONTENT" => o.no_content = true,
                "WITHSCORES" => o.with_scores = true,
                "VERBATIM" | "NOSTOPWORDS" | "WITHSORTKEYS" | "EXPLAINSCORE" | "INORDER" => {}
                "DIALECT" | "TIMEOUT" | "SLOP" => {
                    number(i, &opt)?;
                    i += 1;
                }
                "LANGUAGE" => {
                    if !a.get(i).is_some_and(|l| l.eq_ignore_ascii_case(b"english")) {
                        return Err(fail("Only LANGUAGE english is supported"));
                    }
                    i += 1;
                }
                "LIMIT" => {
                    o.offset = number(i, "LIMIT")?;
                    o.limit = number(i + 1, "LIMIT")?;
                    i += 2;
                }
                "RETURN" => {
                    let n = count(i, "RETURN")?;
                    let end = i + 1 + n;
                    if end > a.len() {
                        return Err(bad("RETURN"));
                    }
                    let mut fields = Vec::new();
                    let mut k = i + 1;
                    while k < end {
                        let name = String::from_utf8_lossy(&a[k]).to_string();
                        let name = name.strip_prefix('@').unwrap_or(&name).to_string();
                        if k + 2 < end + 1
                            && a.get(k + 1).is_some_and(|x| x.eq_ignore_ascii_case(b"AS"))
                            && k + 2 < end
                        {
                            fields.push((name, String::from_utf8_lossy(&a[k + 2]).to_string()));
                            k += 3;
                        } else {
                            fields.push((name.clone(), name));
                            k += 1;
                        }
                    }
                    o.ret = Some(fields);
                    i = end;
                }
                "SORTBY" => {
                    let f = a.get(i).ok_or_else(|| bad("SORTBY"))?;
                    let f = String::from_utf8_lossy(f).to_string();
                    let mut s = SortBy {
                        field: f.strip_prefix('@').unwrap_or(&f).to_string(),
                        asc: true,
                    };
                    i += 1;
                    match a
                        .get(i)
                        .map(|x| String::from_utf8_lossy(x).to_ascii_uppercase())
                        .as_deref()
                    {
                        Some("ASC") => i += 1,
                        Some("DESC") => {
                            s.asc = false;
                            i += 1;
                        }
                        _ => {}
                    }
                    if a.get(i)
                        .is_some_and(|x| x.eq_ignore_ascii_case(b"WITHCOUNT"))
                    {
                        i += 1;
                    }
                    o.sort = Some(s);
                }
                "PARAMS" => {
                    let n = count(i, "PARAMS")?;
                    if n % 2 != 0 || i + 1 + n > a.len() {
                        return Err(bad("PARAMS"));
                    }
                    for p in a[i + 1..i + 1 + n].chunks(2) {
                        o.params
                            .insert(String::from_utf8_lossy(&p[0]).to_string(), p[1].clone());
                    }
                    i += 1 + n;
                }
                "FILTER" => {
                    let f = a.get(i).ok_or_else(|| bad("FILTER"))?;
                    let (lo, hi) = (
                        a.get(i + 1).ok_or_else(|| bad("FILTER"))?,
                        a.get(i + 2).ok_or_else(|| bad("FILTER"))?,
                    );
                    let q = format!(
                        "@{}:[{} {}]",
                        String::from_utf8_lossy(f),
                        String::from_utf8_lossy(lo),
                        String::from_utf8_lossy(hi)
                    );
                    let node = query::parse(q.as_bytes(), &HashMap::new())
                        .map_err(fail)?
                        .filter;
                    o.filters.push(node);
                    i += 3;
                }
                "INKEYS" => {
                    let n = count(i, "INKEYS")?;
                    if i + 1 + n > a.len() {
                        return Err(bad("INKEYS"));
                    }
                    o.in_keys = Some(a[i + 1..i + 1 + n].to_vec());
                    i += 1 + n;
                }
                _ => {
                    return Err(fail(format!(
                        "Unknown argument `{}` at position {}",
                        String::from_utf8_lossy(&a[i - 1]),
                        i + 1
                    )))
                }
            }
        }
        Ok(o)
    }

    /// The text a field of a loaded document returns as.
    fn json_field_text(v: &serde_json::Value) -> Bytes {
        match v {
            serde_json::Value::String(s) => Bytes::from(s.clone()),
            other => Bytes::from(other.to_string()),
        }
    }

    /// Whether a hit's key still exists (a read, so a key past its TTL expires here).
    fn live(call: &mut Call, key: &Bytes) -> bool {
        let eng = call.srv.engine.clone();
        let mut scratch = Effects::default();
        let mut cx = Ctx::new(&eng, 0, &mut scratch);
        let mut g = cx.lock(&[key]);
        g.peek(key).is_some()
    }

    /// The fields a hit returns: RETURN's, or the whole document, with the KNN distance.
    fn load(
        call: &mut Call,
        idx: &Index,
        hit: &Hit,
        ret: &Option<Vec<(String, String)>>,
        score_name: Option<&str>,
    ) -> Option<Vec<(Bytes, Bytes)>> {
        let eng = call.srv.engine.clone();
        let mut scratch = Effects::default();
        let mut cx = Ctx::new(&eng, 0, &mut scratch);
        let mut g = cx.lock(&[&hit.key]);
        let v = g.peek(&hit.key)?.value.clone();
        drop(g);
        let def = idx.def.read();
        let doc = if v.kind() == Kind::Json {
            j::doc(&v)
        } else {
            None
        };
        let dist = || hit.distance.map(|d| Bytes::from(format_score(d as f64)));
        let mut out = Vec::new();
        match ret {
            None => {
                if let (Some(n), Some(d)) = (score_name, dist()) {
                    out.push((Bytes::from(n.to_string()), d));
                }
                match def.on {
                    On::Hash => {
                        for (f, val) in hash::pairs(&v) {
                            out.push((Bytes::from(f), Bytes::from(val)));
                        }
                    }
                    On::Json => {
                        if let Some(d) = &doc {
                            out.push((Bytes::from_static(b"$"), Bytes::from(d.to_string())));
                        }
                    }
                }
            }
            Some(fields) => {
                for (name, alias) in fields {
                    if score_name == Some(name.as_str()) {
                        if let Some(d) = dist() {
                            out.push((Bytes::from(alias.clone()), d));
                        }
                        continue;
                    }
                    let val = match def.on {
                        On::Hash => {
                            let ident = def
                                .field(name)
                                .map_or(name.as_str(), |(_, f)| f.identifier.as_str());
                            hash::get(&v, ident.as_bytes()).map(Bytes::copy_from_slice)
                        }
                        On::Json => doc.as_ref().and_then(|d| {
                            let path = match def.field(name) {
                                Some((_, f)) => f.json_path.clone(),
                                None if name.starts_with('$') => JPath::parse(name.as_bytes()).ok(),
                                None => None,
                            }?;
                            let found = j::select(d, &path);
                            match found.len() {
                                0 => None,
                                1 => Some(json_field_text(found[0])),
                                _ if path.legacy => Some(json_field_text(found[0])),
                                _ => Some(Bytes::from(
                                    serde_json::Value::Array(found.into_iter().cloned().collect())
                                        .to_string(),
                                )),
                            }
                        }),
                    };
                    if let Some(val) = val {
                        out.push((Bytes::from(alias.clone()), val));
                    }
                }
            }
        }
        Some(out)
    }

    pub fn ft_search(call: &mut Call) -> Result<Reply, CmdError> {
        sync_for_read(call);
        let idx = query_index(call)?;
        let opts = parse_opts(&call.args[3..])?;
        let mut q = query::parse(call.arg(2), &opts.params).map_err(fail)?;
        if !opts.filters.is_empty() {
            let mut all = vec![q.filter];
            all.extend(opts.filters.iter().cloned());
            q.filter = query::Node::And(all);
        }
        let score_name = q.knn.as_ref().map(|k| k.score_name.clone());
        let req = Request {
            query: q,
            sort: opts.sort.clone(),
            // INKEYS filters after the query, so the window is applied here.
            offset: if opts.in_keys.is_some() {
                0
            } else {
                opts.offset
            },
            limit: if opts.in_keys.is_some() {
                usize::MAX
            } else {
                opts.limit
            },
        };
        let found = idx.search(&req).map_err(fail)?;
        let (total, hits) = match &opts.in_keys {
            None => (found.total, found.hits),
            Some(keys) => {
                let hits: Vec<Hit> = found
                    .hits
                    .into_iter()
                    .filter(|h| keys.contains(&h.key))
                    .collect();
                let total = hits.len();
                (
                    total,
                    hits.into_iter()
                        .skip(opts.offset)
                        .take(opts.limit)
                        .collect(),
                )
            }
        };
        let resp3 = call.client.proto == Proto::Resp3;
        let mut rows = Vec::with_capacity(hits.len());
        for h in &hits {
            let fields = if opts.no_content {
                live(call, &h.key).then(Vec::new)
            } else {
                load(call, &idx, h, &opts.ret, score_name.as_deref())
            };
            // A document that expired or went away since the query ran is left out.
            let Some(fields) = fields else { continue };
            rows.push((h, fields));
        }
        if resp3 {
            let s = Reply::bulk_str;
            let results = rows
                .into_iter()
                .map(|(h, fields)| {
                    let mut m = vec![(s("id"), Reply::Bulk(h.key.clone()))];
                    if opts.with_scores {
                        m.push((s("score"), Reply::Double(h.score)));
                    }
                    if !opts.no_content {
                        m.push((
                            s("extra_attributes"),
                            Reply::Map(
                                fields
                                    .into_iter()
                                    .map(|(k, v)| (Reply::Bulk(k), Reply::Bulk(v)))
                                    .collect(),
                            ),
                        ));
                    }
                    m.push((s("values"), Reply::Array(vec![])));
                    Reply::Map(m)
                })
                .collect();
            return Ok(Reply::Map(vec![
                (s("attributes"), Reply::Array(vec![])),
                (s("format"), s("STRING")),
                (s("results"), Reply::Array(results)),
                (s("total_results"), Reply::Int(total as i64)),
                (s("warning"), Reply::Array(vec![])),
            ]));
        }
        let mut out = vec![Reply::Int(total as i64)];
        for (h, fields) in rows {
            out.push(Reply::Bulk(h.key.clone()));
            if opts.with_scores {
                out.push(Reply::bulk_str(&format_score(h.score)));
            }
            if !opts.no_content {
                out.push(Reply::Array(
                    fields
                        .into_iter()
                        .flat_map(|(k, v)| [Reply::Bulk(k), Reply::Bulk(v)])
                        .collect(),
                ));
            }
        }
        Ok(Reply::Array(out))
    }

    /// FT.AGGREGATE idx query [LOAD n @f...] [GROUPBY n @f... [REDUCE COUNT 0 [AS name]]...]
    /// [SORTBY n @f [ASC|DESC]... [MAX m]] [LIMIT offset num] [PARAMS n k v...] [DIALECT d].
    pub fn ft_aggregate(call: &mut Call) -> Result<Reply, CmdError> {
        sync_for_read(call);
        let idx = query_index(call)?;
        let a = &call.args[3..];
        let bad = |what: &str| fail(format!("Bad arguments for {what}"));
        // First pass: PARAMS, needed before the query is parsed.
        let mut params = HashMap::new();
        let mut k = 0;
        while k < a.len() {
            if a[k].eq_ignore_ascii_case(b"PARAMS") {
                let n = a
                    .get(k + 1)
                    .and_then(|n| parse_usize(n))
                    .filter(|&n| n <= a.len())
                    .ok_or_else(|| bad("PARAMS"))?;
                if n % 2 != 0 || k + 2 + n > a.len() {
                    return Err(bad("PARAMS"));
                }
                for p in a[k + 2..k + 2 + n].chunks(2) {
                    params.insert(String::from_utf8_lossy(&p[0]).to_string(), p[1].clone());
                }
            }
            k += 1;
        }
        let q = query::parse(call.arg(2), &params).map_err(fail)?;
        let found = idx
            .search(&Request {
                query: q,
                sort: None,
                offset: 0,
                limit: usize::MAX,
            })
            .map_err(fail)?;
        // Rows of loaded fields.
        let mut load_fields: Vec<String> = Vec::new();
        let mut load_all = false;
        let mut steps: Vec<Step> = Vec::new();
        let mut i = 0;
        let field_name = |b: &Bytes| -> String {
            let s = String::from_utf8_lossy(b).to_string();
            s.strip_prefix('@').unwrap_or(&s).to_string()
        };
        while i < a.len() {
            let opt = String::from_utf8_lossy(&a[i]).to_ascii_uppercase();
            i += 1;
            match opt.as_str() {
                "LOAD" => {
                    if a.get(i).is_some_and(|x| &x[..] == b"*") {
                        load_all = true;
                        i += 1;
                        continue;
                    }
                    let n = a
                        .get(i)
                        .and_then(|n| parse_usize(n))
                        .filter(|&n| n <= a.len())
                        .ok_or_else(|| bad("LOAD"))?;
                    if i + 1 + n > a.len() {
                        return Err(bad("LOAD"));
                    }
                    load_fields.extend(a[i + 1..i + 1 + n].iter().map(field_name));
                    i += 1 + n;
                }
                "GROUPBY" => {
                    let n = a
                        .get(i)
                        .and_then(|n| parse_usize(n))
                        .filter(|&n| n <= a.len())
                        .ok_or_else(|| bad("GROUPBY"))?;
                    if i + 1 + n > a.len() {
                        return Err(bad("GROUPBY"));
                    }
                    let by: Vec<String> = a[i + 1..i + 1 + n].iter().map(field_name).collect();
                    load_fields.extend(by.iter().cloned());
                    i += 1 + n;
                    let mut reducers = Vec::new();
                    while a.get(i).is_some_and(|x| x.eq_ignore_ascii_case(b"REDUCE")) {
                        let f = a
                            .get(i + 1)
                            .map(|x| String::from_utf8_lossy(x).to_ascii_uppercase())
                            .ok_or_else(|| bad("REDUCE"))?;
                        let nargs = a
                            .get(i + 2)
                            .and_then(|n| parse_usize(n))
                            .filter(|&n| n <= a.len() && i + 3 + n <= a.len())
                            .ok_or_else(|| bad("REDUCE"))?;
                        let kind = match f.as_str() {
                            "COUNT" => Reduce::Count,
                            "COUNT_DISTINCT" | "COUNT_DISTINCTISH" => Reduce::CountDistinct,
                            "SUM" => Reduce::Sum,
                            "MIN" => Reduce::Min,
                            "MAX" => Reduce::Max,
                            "AVG" => Reduce::Avg,
                            "FIRST_VALUE" => Reduce::First,
                            _ => return Err(fail(format!("Unsupported reducer `{f}`"))),
                        };
                        let want = usize::from(kind != Reduce::Count);
                        if nargs != want {
                            return Err(bad(&f));
                        }
                        let field = a.get(i + 3).filter(|_| want == 1).map(field_name);
                        if let Some(x) = &field {
                            load_fields.push(x.clone());
                        }
                        i += 3 + nargs;
                        let mut name = format!(
                            "__generated_alias{}{}",
                            f,
                            field.clone().unwrap_or_default()
                        )
                        .to_ascii_lowercase();
                        if a.get(i).is_some_and(|x| x.eq_ignore_ascii_case(b"AS")) {
                            name = a
                                .get(i + 1)
                                .map(|x| String::from_utf8_lossy(x).to_string())
                                .ok_or_else(|| bad("AS"))?;
                            i += 2;
                        }
                        reducers.push(Reducer { kind, field, name });
                    }
                    steps.push(Step::Group(by, reducers));
                }
                "SORTBY" => {
                    let n = a
                        .get(i)
                        .and_then(|n| parse_usize(n))
                        .filter(|&n| n <= a.len())
                        .ok_or_else(|| bad("SORTBY"))?;
                    if i + 1 + n > a.len() {
                        return Err(bad("SORTBY"));
                    }
                    let mut keys = Vec::new();
                    let list = &a[i + 1..i + 1 + n];
                    let mut k = 0;
                    while k < list.len() {
                        let f = field_name(&list[k]);
                        let mut asc = true;
                        if let Some(d) = list.get(k + 1) {
                            if d.eq_ignore_ascii_case(b"DESC") {
                                asc = false;
                                k += 1;
                            } else if d.eq_ignore_ascii_case(b"ASC") {
                                k += 1;
                            }
                        }
                        keys.push((f, asc));
                        k += 1;
                    }
                    i += 1 + n;
                    let mut max = usize::MAX;
                    if a.get(i).is_some_and(|x| x.eq_ignore_ascii_case(b"MAX")) {
                        max = a
                            .get(i + 1)
                            .and_then(|n| parse_usize(n))
                            .ok_or_else(|| bad("MAX"))?;
                        i += 2;
                    }
                    steps.push(Step::Sort(keys, max));
                }
                "APPLY" | "FILTER" => {
                    let text = a.get(i).ok_or_else(|| bad(&opt))?;
                    let text = String::from_utf8_lossy(text).to_string();
                    let e = Expr::parse(&text).map_err(fail)?;
                    e.props(&mut load_fields);
                    i += 1;
                    if opt == "FILTER" {
                        steps.push(Step::Filter(e));
                        continue;
                    }
                    // Without AS, the expression's text names the result.
                    let mut name = text;
                    if a.get(i).is_some_and(|x| x.eq_ignore_ascii_case(b"AS")) {
                        name = a.get(i + 1).map(field_name).ok_or_else(|| bad("AS"))?;
                        i += 2;
                    }
                    steps.push(Step::Apply(e, name));
                }
                "LIMIT" => {
                    let off = a
                        .get(i)
                        .and_then(|n| parse_usize(n))
                        .ok_or_else(|| bad("LIMIT"))?;
                    let num = a
                        .get(i + 1)
                        .and_then(|n| parse_usize(n))
                        .ok_or_else(|| bad("LIMIT"))?;
                    steps.push(Step::Limit(off, num));
                    i += 2;
                }
                "PARAMS" => {
                    let n = a.get(i).and_then(|n| parse_usize(n)).unwrap_or(0);
                    i += 1 + n;
                }
                "DIALECT" | "TIMEOUT" => i += 1,
                "VERBATIM" => {}
                _ => {
                    return Err(fail(format!(
                        "Unknown argument `{}`",
                        String::from_utf8_lossy(&a[i - 1])
                    )))
                }
            }
        }
        // LOAD * loads whole documents (every hash field, or `$`).
        let ret: Option<Vec<(String, String)>> =
            (!load_all).then(|| load_fields.iter().map(|f| (f.clone(), f.clone())).collect());
        let mut rows: Vec<Vec<(String, Bytes)>> = Vec::new();
        for h in &found.hits {
            if let Some(fields) = load(call, &idx, h, &ret, None) {
                rows.push(
                    fields
                        .into_iter()
                        .map(|(k, v)| (String::from_utf8_lossy(&k).to_string(), v))
                        .collect(),
                );
            }
        }
        for step in steps {
            rows = step.run(rows);
        }
        let resp3 = call.client.proto == Proto::Resp3;
        let s = Reply::bulk_str;
        if resp3 {
            let results = rows
                .iter()
                .map(|r| {
                    Reply::Map(vec![
                        (
                            s("extra_attributes"),
                            Reply::Map(
                                r.iter()
                                    .map(|(k, v)| (s(k), Reply::Bulk(v.clone())))
                                    .collect(),
                            ),
                        ),
                        (s("values"), Reply::Array(vec![])),
                    ])
                })
                .collect();
            return Ok(Reply::Map(vec![
                (s("attributes"), Reply::Array(vec![])),
                (s("format"), s("STRING")),
                (s("results"), Reply::Array(results)),
                (s("total_results"), Reply::Int(rows.len() as i64)),
                (s("warning"), Reply::Array(vec![])),
            ]));
        }
        let mut out = vec![Reply::Int(rows.len() as i64)];
        for r in rows {
            out.push(Reply::Array(
                r.into_iter()
                    .flat_map(|(k, v)| [s(&k), Reply::Bulk(v)])
                    .collect(),
            ));
        }
        Ok(Reply::Array(out))
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Reduce {
        Count,
        CountDistinct,
        Sum,
        Min,
        Max,
        Avg,
        First,
    }

    struct Reducer {
        kind: Reduce,
        field: Option<String>,
        name: String,
    }

    impl Reducer {
        /// The reducer's value over one group's rows.
        fn over(&self, rows: &[&Row]) -> Bytes {
            let vals: Vec<&Bytes> = match &self.field {
                Some(f) => rows.iter().filter_map(|r| get(r, f)).collect(),
                None => Vec::new(),
            };
            let nums = || {
                vals.iter()
                    .filter_map(|v| std::str::from_utf8(v).ok()?.trim().parse::<f64>().ok())
            };
            let n = match self.kind {
                Reduce::Count => rows.len() as f64,
                Reduce::CountDistinct => vals.iter().collect::<HashSet<_>>().len() as f64,
                Reduce::Sum => nums().sum(),
                // A group without numbers gives 0, as RediSearch's MIN and MAX do.
                Reduce::Min => nums().reduce(f64::min).unwrap_or(0.0),
                Reduce::Max => nums().reduce(f64::max).unwrap_or(0.0),
                Reduce::Avg => {
                    let (sum, count) = nums().fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
                    sum / count as f64
                }
                Reduce::First => return vals.first().map(|v| (*v).clone()).unwrap_or_default(),
            };
            Bytes::from(format_score(n))
        }
    }

    /// A row's properties for expressions.
    fn row_val(r: &Row, p: &str) -> Option<Val> {
        get(r, p).map(|v| Val::Str(String::from_utf8_lossy(v).into()))
    }

    enum Step {
        Group(Vec<String>, Vec<Reducer>),
        Apply(Expr, String),
        Filter(Expr),
        Sort(Vec<(String, bool)>, usize),
        Limit(usize, usize),
    }

    type Row = Vec<(String, Bytes)>;

    fn get<'a>(r: &'a Row, f: &str) -> Option<&'a Bytes> {
        r.iter().find(|(k, _)| k == f).map(|(_, v)| v)
    }

    impl Step {
        fn run(self, rows: Vec<Row>) -> Vec<Row> {
            match self {
                Step::Group(by, reducers) => {
                    // Groups in the order first seen.
                    let mut groups: Vec<(Vec<Option<Bytes>>, Vec<&Row>)> = Vec::new();
                    let mut at: HashMap<Vec<Option<Bytes>>, usize> = HashMap::new();
                    for r in &rows {
                        let key: Vec<Option<Bytes>> =
                            by.iter().map(|f| get(r, f).cloned()).collect();
                        match at.get(&key) {
                            Some(&g) => groups[g].1.push(r),
                            None => {
                                at.insert(key.clone(), groups.len());
                                groups.push((key, vec![r]));
                            }
                        }
                    }
                    groups
                        .into_iter()
                        .map(|(key, members)| {
                            let mut row: Row = by
                                .iter()
                                .zip(key)
                                .map(|(f, v)| (f.clone(), v.unwrap_or_default()))
                                .collect();
                            for red in &reducers {
                                row.push((red.name.clone(), red.over(&members)));
                            }
                            row
                        })
                        .collect()
                }
                Step::Apply(e, name) => rows
                    .into_iter()
                    .map(|mut r| {
                        let v = e.eval(&|p| row_val(&r, p));
                        r.retain(|(k, _)| *k != name);
                        if v != Val::Null {
                            r.push((name.clone(), Bytes::from(render(&v))));
                        }
                        r
                    })
                    .collect(),
                Step::Filter(e) => rows
                    .into_iter()
                    .filter(|r| e.eval(&|p| row_val(r, p)).truthy())
                    .collect(),
                Step::Sort(keys, max) => {
                    let mut rows = rows;
                    rows.sort_by(|a, b| {
                        for (f, asc) in &keys {
                            let (x, y) = (get(a, f), get(b, f));
                            let nx =
                                x.and_then(|v| std::str::from_utf8(v).ok()?.parse::<f64>().ok());
                            let ny =
                                y.and_then(|v| std::str::from_utf8(v).ok()?.parse::<f64>().ok());
                            let o = match (nx, ny) {
                                (Some(p), Some(q)) => p.total_cmp(&q),
                                _ => x.cmp(&y),
                            };
                            let o = if *asc { o } else { o.reverse() };
                            if o != std::cmp::Ordering::Equal {
                                return o;
                            }
                        }
                        std::cmp::Ordering::Equal
                    });
                    rows.truncate(max);
                    rows
                }
                Step::Limit(off, num) => rows.into_iter().skip(off).take(num).collect(),
            }
        }
    }
}
