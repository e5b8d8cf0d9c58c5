//! JSON documents and FT.* search against the real server binary: RedisJSON's replies, KNN
//! recall against brute force, indexes that follow every change to their documents (update,
//! delete, expiry, rename, flush, the cold tier, restart, kill -9), and bad input refused.

mod common;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{run, start_in, Proc, RawClient, Resp, Server};
use rand::{Rng, SeedableRng};

/// Starts the server on `dir` (kept across restarts) and waits, bounded, for PING.
fn start(dir: &Path, extra: &[&str]) -> Proc {
    start_in(dir, extra, None)
}

fn bulk(r: Resp) -> String {
    match r {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk string, got {}", other.render()),
    }
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(n) => n,
        other => panic!("expected an integer, got {}", other.render()),
    }
}

fn err(r: Resp) -> String {
    match r {
        Resp::Error(e) => String::from_utf8_lossy(&e).into_owned(),
        other => panic!("expected an error, got {}", other.render()),
    }
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn cos_dist(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    1.0 - dot / (na * nb)
}

/// FT.INFO's field as text (RESP2: a flat array of names and values).
fn info(c: &mut RawClient, idx: &str, field: &str) -> String {
    let Resp::Array(Some(items)) = c.cmd(&[b"FT.INFO", idx.as_bytes()]) else {
        panic!("FT.INFO failed");
    };
    for p in items.chunks(2) {
        if matches!(&p[0], Resp::Bulk(Some(b)) if b == field.as_bytes()) {
            return match &p[1] {
                Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
                Resp::Int(n) => n.to_string(),
                other => other.render(),
            };
        }
    }
    panic!("FT.INFO has no {field}");
}

fn wait_indexed(c: &mut RawClient, idx: &str, docs: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if info(c, idx, "indexing") == "0"
            && info(c, idx, "num_docs").parse::<usize>().unwrap() >= docs
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{idx} never indexed {docs} documents"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The ids of an FT.SEARCH reply (RESP2), in order, with NOCONTENT.
fn ids(r: Resp) -> Vec<String> {
    let Resp::Array(Some(items)) = r else {
        panic!("FT.SEARCH answered {}", r.render());
    };
    items[1..]
        .iter()
        .map(|i| match i {
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("unexpected {}", other.render()),
        })
        .collect()
}

fn knn_ids(c: &mut RawClient, idx: &str, filter: &str, k: usize, q: &[f32]) -> Vec<String> {
    let query = format!("{filter}=>[KNN {k} @v $q AS d]");
    let k_s = k.to_string();
    ids(c.cmd(&[
        b"FT.SEARCH",
        idx.as_bytes(),
        query.as_bytes(),
        b"PARAMS",
        b"2",
        b"q",
        &blob(q),
        b"SORTBY",
        b"d",
        b"NOCONTENT",
        b"LIMIT",
        b"0",
        k_s.as_bytes(),
        b"DIALECT",
        b"2",
    ]))
}

fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

#[test]
fn json_commands_reply_as_redisjson() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    let r = |c: &mut RawClient, line: &str| run(c, line);
    assert_eq!(
        r(
            &mut c,
            r#"JSON.SET d $ '{"a":1,"b":{"c":[1,2,3],"s":"hi"},"t":true,"f":1.5}'"#
        ),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        bulk(r(&mut c, "JSON.GET d")),
        r#"{"a":1,"b":{"c":[1,2,3],"s":"hi"},"t":true,"f":1.5}"#
    );
    assert_eq!(bulk(r(&mut c, "JSON.GET d $.b.c[1]")), "[2]");
    assert_eq!(bulk(r(&mut c, "JSON.GET d .b.s")), r#""hi""#);
    assert_eq!(bulk(r(&mut c, "JSON.GET d $..c")), "[[1,2,3]]");
    assert_eq!(
        bulk(r(&mut c, "JSON.GET d $.a $.nope")),
        r#"{"$.a":[1],"$.nope":[]}"#
    );
    assert_eq!(
        bulk(r(&mut c, "JSON.GET d INDENT .. NEWLINE | SPACE _ $.b.c")),
        "[|..[|....1,|....2,|....3|..]|]"
    );
    assert_eq!(
        err(r(&mut c, "JSON.GET d .nope")),
        "ERR Path '.nope' does not exist"
    );
    assert_eq!(r(&mut c, "JSON.GET missing"), Resp::Bulk(None));
    assert_eq!(r(&mut c, "TYPE d"), Resp::Simple("ReJSON-RL".into()));
    assert_eq!(r(&mut c, "JSON.TYPE d .f"), Resp::Simple("number".into()));
    assert_eq!(r(&mut c, "JSON.TYPE d $.a").render(), r#"["integer"]"#);
    assert_eq!(bulk(r(&mut c, "JSON.NUMINCRBY d $.a 2")), "[3]");
    assert_eq!(bulk(r(&mut c, "JSON.NUMINCRBY d .f 1")), "2.5");
    assert_eq!(
        bulk(r(&mut c, "JSON.NUMINCRBY d $.* 1")),
        "[4,null,null,3.5]"
    );
    assert_eq!(
        err(r(&mut c, "JSON.NUMINCRBY d .t 1")),
        "WRONGTYPE wrong type of path value - expected a number but found boolean"
    );
    assert_eq!(
        r(&mut c, "JSON.ARRAPPEND d $.b.c 4 5").render(),
        "[(integer) 5]"
    );
    assert_eq!(int(r(&mut c, "JSON.ARRLEN d .b.c")), 5);
    assert_eq!(int(r(&mut c, "JSON.ARRINSERT d .b.c 0 0")), 6);
    assert_eq!(bulk(r(&mut c, "JSON.ARRPOP d .b.c")), "5");
    assert_eq!(int(r(&mut c, "JSON.ARRINDEX d .b.c 3")), 3);
    assert_eq!(int(r(&mut c, "JSON.ARRTRIM d .b.c 1 2")), 2);
    assert_eq!(bulk(r(&mut c, "JSON.GET d .b.c")), "[1,2]");
    assert_eq!(int(r(&mut c, r#"JSON.STRAPPEND d .b.s '" there"'"#)), 8);
    assert_eq!(int(r(&mut c, "JSON.STRLEN d .b.s")), 8);
    assert_eq!(r(&mut c, "JSON.OBJKEYS d .b").render(), r#"["c", "s"]"#);
    assert_eq!(r(&mut c, "JSON.OBJLEN d $").render(), "[(integer) 4]");
    assert_eq!(int(r(&mut c, "JSON.OBJLEN d")), 4);
}

#[test]
fn json_writes_follow_redisjson_rules() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    let r = |c: &mut RawClient, line: &str| run(c, line);
    assert_eq!(
        err(r(&mut c, "JSON.SET n $.a 1")),
        "ERR new objects must be created at the root"
    );
    assert_eq!(r(&mut c, "JSON.SET n $ 1 XX"), Resp::Bulk(None));
    assert_eq!(
        r(&mut c, r#"JSON.SET n $ '{"x":{}}' NX"#),
        Resp::Simple("OK".into())
    );
    assert_eq!(r(&mut c, "JSON.SET n $ 2 NX"), Resp::Bulk(None));
    assert_eq!(
        r(&mut c, "JSON.SET n $.x.y 7"),
        Resp::Simple("OK".into()),
        "a final member is created"
    );
    assert_eq!(
        r(&mut c, "JSON.SET n $.q.y 7"),
        Resp::Bulk(None),
        "but not its parents"
    );
    assert!(err(r(&mut c, "JSON.SET n $ '{bad'")).contains("line 1 column"));
    assert!(err(r(&mut c, "JSON.GET n $[")).contains("JSON Path error"));
    assert_eq!(r(&mut c, "JSON.TOGGLE n $.x.y").render(), "[(nil)]");
    assert_eq!(
        r(
            &mut c,
            r#"JSON.MERGE n $ '{"x":{"y":null,"z":[1]},"w":"new"}'"#
        ),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        bulk(r(&mut c, "JSON.GET n")),
        r#"{"x":{"z":[1]},"w":"new"}"#
    );
    assert_eq!(int(r(&mut c, "JSON.CLEAR n $.x")), 1);
    assert_eq!(int(r(&mut c, "JSON.DEL n $.w")), 1);
    assert_eq!(bulk(r(&mut c, "JSON.GET n")), r#"{"x":{}}"#);
    r(&mut c, "SET str v");
    assert_eq!(
        err(r(&mut c, "JSON.GET str")),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        r(&mut c, "JSON.MGET n str nokey $.x").render(),
        r#"["[{}]", (nil), (nil)]"#
    );
    assert_eq!(int(r(&mut c, "JSON.DEL n")), 1);
    assert_eq!(int(r(&mut c, "EXISTS n")), 0);
    // A TTL survives writes to the document, as it does for RedisJSON.
    r(&mut c, r#"JSON.SET t $ '{"a":1}'"#);
    r(&mut c, "EXPIRE t 100");
    r(&mut c, "JSON.NUMINCRBY t $.a 1");
    assert!(int(r(&mut c, "TTL t")) > 0);
}

#[test]
fn json_documents_survive_restart_and_log_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let p = start(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        let mut c = RawClient::connect(p.port);
        run(&mut c, r#"JSON.SET a $ '{"n":1,"l":["x"],"o":{"k":null}}'"#);
        run(&mut c, "SAVE");
        run(&mut c, "JSON.NUMINCRBY a $.n 41");
        run(&mut c, r#"JSON.ARRAPPEND a $.l '"y"'"#);
        run(&mut c, r#"JSON.SET b $ '[1.25,-3,"é"]'"#);
        run(&mut c, "EXPIRE b 1000");
    } // kill -9
    let p = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        bulk(run(&mut c, "JSON.GET a")),
        r#"{"n":42,"l":["x","y"],"o":{"k":null}}"#
    );
    assert_eq!(bulk(run(&mut c, "JSON.GET b")), r#"[1.25,-3,"é"]"#);
    assert!(int(run(&mut c, "TTL b")) > 900);
}

/// A HASH index of `n` random unit vectors of `dim` components under `pre`.
fn load_vectors(
    c: &mut RawClient,
    idx: &str,
    pre: &str,
    algo: &str,
    n: usize,
    dim: usize,
    seed: u64,
) -> Vec<Vec<f32>> {
    let create = format!(
        "FT.CREATE {idx} ON HASH PREFIX 1 {pre} SCHEMA tag TAG num NUMERIC v VECTOR {algo} 6 TYPE FLOAT32 DIM {dim} DISTANCE_METRIC COSINE"
    );
    assert_eq!(run(c, &create), Resp::Simple("OK".into()));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut vecs = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for i in 0..n {
        let v = random_unit(&mut rng, dim);
        let key = format!("{pre}{i}");
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        buf.extend(common::encode_command(&[
            b"HSET",
            key.as_bytes(),
            b"v",
            &blob(&v),
            b"tag",
            tag.as_bytes(),
            b"num",
            (i % 100).to_string().as_bytes(),
        ]));
        vecs.push(v);
        if (i + 1) % 500 == 0 || i + 1 == n {
            c.send_raw(&buf);
            buf.clear();
            for _ in 0..((i % 500) + 1) {
                assert_eq!(c.read_reply(), Resp::Int(3));
            }
        }
    }
    vecs
}

fn brute(vecs: &[(usize, &Vec<f32>)], q: &[f32], k: usize, pre: &str) -> Vec<String> {
    let mut d: Vec<(f64, usize)> = vecs.iter().map(|(i, v)| (cos_dist(q, v), *i)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter()
        .take(k)
        .map(|(_, i)| format!("{pre}{i}"))
        .collect()
}

#[test]
fn knn_recall_against_brute_force_and_filters_always_hold() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    let (n, dim) = (10_000, 32);
    let vecs = load_vectors(&mut c, "h", "h:", "HNSW", n, dim, 7);
    wait_indexed(&mut c, "h", n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let all: Vec<(usize, &Vec<f32>)> = vecs.iter().enumerate().collect();
    let (mut hit, mut want) = (0, 0);
    for _ in 0..50 {
        let q = random_unit(&mut rng, dim);
        let got = knn_ids(&mut c, "h", "*", 10, &q);
        let exact = brute(&all, &q, 10, "h:");
        want += exact.len();
        hit += got.iter().filter(|g| exact.contains(g)).count();
    }
    let recall = hit as f64 / want as f64;
    eprintln!("HNSW recall@10 at the default EF_RUNTIME: {recall}");
    assert!(recall >= 0.95, "recall@10 = {recall}");
    // Hybrid: every result satisfies the filter, and they are the filtered exact top 10.
    let odd_small: Vec<(usize, &Vec<f32>)> = all
        .iter()
        .filter(|(i, _)| i % 2 == 1 && i % 100 < 10)
        .cloned()
        .collect();
    for _ in 0..10 {
        let q = random_unit(&mut rng, dim);
        let got = knn_ids(&mut c, "h", "(@tag:{odd} @num:[0 (10])", 10, &q);
        for g in &got {
            let i: usize = g[2..].parse().unwrap();
            assert!(i % 2 == 1 && i % 100 < 10, "{g} breaks the filter");
        }
        assert_eq!(got, brute(&odd_small, &q, 10, "h:"));
    }
    // FLAT is exact.
    let vecs = load_vectors(&mut c, "f", "f:", "FLAT", 2_000, 8, 3);
    wait_indexed(&mut c, "f", 2_000);
    let all: Vec<(usize, &Vec<f32>)> = vecs.iter().enumerate().collect();
    for _ in 0..10 {
        let q = random_unit(&mut rng, 8);
        assert_eq!(knn_ids(&mut c, "f", "*", 10, &q), brute(&all, &q, 10, "f:"));
    }
}

#[test]
fn search_replies_have_redisearch_s_shape() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    run(
        &mut c,
        "FT.CREATE t ON HASH PREFIX 1 p: SCHEMA title TEXT tags TAG SEPARATOR , n NUMERIC SORTABLE",
    );
    run(&mut c, "HSET p:1 title 'hello world' tags a,b n 3");
    run(&mut c, "HSET p:2 title 'hello there' tags b n 1");
    run(&mut c, "HSET p:3 title 'goodbye world' tags c n 2");
    run(&mut c, "HSET other:1 title 'hello world'");
    wait_indexed(&mut c, "t", 3);
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t hello NOCONTENT SORTBY n")),
        ["p:2", "p:1"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t @tags:{b} NOCONTENT SORTBY n DESC")),
        ["p:1", "p:2"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t '@n:[(1 3]' NOCONTENT SORTBY n")),
        ["p:3", "p:1"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t 'hello -world' NOCONTENT")),
        ["p:2"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t '\"hello world\"' NOCONTENT")),
        ["p:1"]
    );
    assert_eq!(
        ids(run(
            &mut c,
            "FT.SEARCH t 'good* | hello' NOCONTENT SORTBY n"
        )),
        ["p:2", "p:3", "p:1"]
    );
    // Stop words are left out of queries: "there" adds nothing to a union, and alone
    // matches nothing.
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t 'good* | there' NOCONTENT")),
        ["p:3"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t 'there' NOCONTENT")),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t 'the world' NOCONTENT SORTBY n")),
        ["p:3", "p:1"]
    );
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH t * NOCONTENT SORTBY n LIMIT 1 1")),
        ["p:3"]
    );
    let full = run(&mut c, "FT.SEARCH t '@n:[3 3]' RETURN 2 title n");
    assert_eq!(
        full.render(),
        r#"[(integer) 1, "p:1", ["title", "hello world", "n", "3"]]"#
    );
    assert_eq!(run(&mut c, "FT._LIST").render(), r#"["t"]"#);
    assert_eq!(
        run(&mut c, "FT.TAGVALS t tags").sorted().render(),
        r#"["a", "b", "c"]"#
    );
    let agg = run(
        &mut c,
        "FT.AGGREGATE t * GROUPBY 1 @tags REDUCE COUNT 0 AS k SORTBY 2 @k DESC",
    );
    assert!(
        agg.render().starts_with("[(integer) 3, [\"tags\", "),
        "{}",
        agg.render()
    );
    // RESP3: a map, as redis-py 8 expects.
    run(&mut c, "HELLO 3");
    match run(&mut c, "FT.SEARCH t '@n:[1 1]'") {
        Resp::Map(m) => {
            let keys: Vec<String> = m.iter().map(|(k, _)| k.render()).collect();
            assert!(
                keys.contains(&"\"total_results\"".to_string())
                    && keys.contains(&"\"results\"".to_string())
            );
        }
        other => panic!("RESP3 FT.SEARCH answered {}", other.render()),
    }
    assert!(matches!(run(&mut c, "FT.INFO t"), Resp::Map(_)));
}

/// FT.CREATE's FILTER decides which documents an index holds (any hash field, `@__key`, JSON
/// fields by name), and follows updates; FT.AGGREGATE's APPLY, FILTER and reducers compute as
/// RediSearch does.
#[test]
fn filters_and_aggregate_expressions() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    run(
        &mut c,
        "FT.CREATE f ON HASH PREFIX 1 b: FILTER \"@year > 2000 && @lang == 'en' && !startswith(@__key, 'b:x')\" SCHEMA title TEXT year NUMERIC",
    );
    run(&mut c, "HSET b:1 title one year 2005 lang en");
    run(&mut c, "HSET b:2 title two year 1999 lang en");
    run(&mut c, "HSET b:3 title three year 2010 lang fr");
    run(&mut c, "HSET b:x4 title four year 2020 lang en");
    run(&mut c, "HSET b:5 title five year 2021 lang en");
    wait_indexed(&mut c, "f", 2);
    let all = |c: &mut RawClient| ids(run(c, "FT.SEARCH f * NOCONTENT SORTBY year")).join(" ");
    assert_eq!(all(&mut c), "b:1 b:5");
    // An update that makes the filter false takes the document out, and back in.
    run(&mut c, "HSET b:5 lang de");
    run(&mut c, "HSET b:2 year 2001");
    assert_eq!(all(&mut c), "b:2 b:1");
    run(&mut c, "HSET b:5 lang en");
    assert_eq!(all(&mut c), "b:2 b:1 b:5");
    assert!(err(run(
        &mut c,
        "FT.CREATE g ON HASH FILTER '@a >' SCHEMA t TEXT"
    ))
    .contains("Syntax error"));
    assert!(err(run(
        &mut c,
        "FT.CREATE g ON HASH FILTER 'nosuch(@a)' SCHEMA t TEXT"
    ))
    .contains("unknown function"));

    // JSON: fields by their schema names.
    run(
        &mut c,
        "FT.CREATE j ON JSON PREFIX 1 j: FILTER '@price < 10' SCHEMA $.name AS name TAG $.price AS price NUMERIC",
    );
    run(&mut c, r#"JSON.SET j:1 $ '{"name":"a","price":5}'"#);
    run(&mut c, r#"JSON.SET j:2 $ '{"name":"b","price":50}'"#);
    wait_indexed(&mut c, "j", 1);
    assert_eq!(ids(run(&mut c, "FT.SEARCH j * NOCONTENT")), ["j:1"]);

    // FT.AGGREGATE: APPLY, FILTER, reducers.
    run(
        &mut c,
        "FT.CREATE s ON HASH PREFIX 1 s: SCHEMA shop TAG price NUMERIC SORTABLE",
    );
    for (i, (shop, price)) in [("x", 10), ("x", 30), ("y", 5), ("y", 5), ("z", 7)]
        .iter()
        .enumerate()
    {
        run(&mut c, &format!("HSET s:{i} shop {shop} price {price}"));
    }
    wait_indexed(&mut c, "s", 5);
    let agg = run(
        &mut c,
        "FT.AGGREGATE s * GROUPBY 1 @shop REDUCE SUM 1 @price AS total REDUCE AVG 1 @price AS avg REDUCE MIN 1 @price REDUCE MAX 1 @price AS hi REDUCE COUNT_DISTINCT 1 @price AS kinds REDUCE COUNT 0 AS n SORTBY 2 @shop ASC",
    );
    assert_eq!(
        agg.render(),
        r#"[(integer) 3, ["shop", "x", "total", "40", "avg", "20", "__generated_aliasminprice", "10", "hi", "30", "kinds", "2", "n", "2"], ["shop", "y", "total", "10", "avg", "5", "__generated_aliasminprice", "5", "hi", "5", "kinds", "1", "n", "2"], ["shop", "z", "total", "7", "avg", "7", "__generated_aliasminprice", "7", "hi", "7", "kinds", "1", "n", "1"]]"#
    );
    let agg = run(
        &mut c,
        "FT.AGGREGATE s * GROUPBY 1 @shop REDUCE SUM 1 @price AS total APPLY '@total / 4' AS quarter APPLY 'upper(@shop)' AS up FILTER '@total >= 10' SORTBY 2 @quarter DESC",
    );
    assert_eq!(
        agg.render(),
        r#"[(integer) 2, ["shop", "x", "total", "40", "quarter", "10", "up", "X"], ["shop", "y", "total", "10", "quarter", "2.5", "up", "Y"]]"#
    );
    let agg = run(
        &mut c,
        "FT.AGGREGATE s '@shop:{x}' LOAD 1 @price APPLY '@price * 2 + 1' AS p2 SORTBY 2 @p2 ASC",
    );
    assert_eq!(
        agg.render(),
        r#"[(integer) 2, ["price", "10", "p2", "21"], ["price", "30", "p2", "61"]]"#
    );
    assert!(err(run(&mut c, "FT.AGGREGATE s * APPLY '@price *' AS x")).contains("Syntax error"));
    assert!(err(run(&mut c, "FT.AGGREGATE s * APPLY")).contains("APPLY"));
    let agg = run(
        &mut c,
        "FT.AGGREGATE s '@shop:{z}' LOAD 1 @price APPLY '@price+1'",
    );
    assert_eq!(
        agg.render(),
        r#"[(integer) 1, ["price", "7", "@price+1", "8"]]"#
    );
    assert!(err(run(
        &mut c,
        "FT.AGGREGATE s * GROUPBY 1 @shop REDUCE SUM 18446744073709551615 @price"
    ))
    .contains("REDUCE"));
    assert!(err(run(&mut c, "FT.AGGREGATE s * GROUPBY 1 @shop REDUCE SUM 0")).contains("SUM"));
    assert!(err(run(
        &mut c,
        "FT.AGGREGATE s * GROUPBY 1 @shop REDUCE QUANTILE 2 @price 0.5"
    ))
    .contains("QUANTILE"));
}

#[test]
fn bad_input_gets_clear_errors() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    run(&mut c, "FT.CREATE v ON HASH PREFIX 1 v: SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC L2 n NUMERIC");
    assert_eq!(
        err(run(&mut c, "FT.CREATE v SCHEMA a TEXT")),
        "Index already exists"
    );
    assert_eq!(err(run(&mut c, "FT.SEARCH nope *")), "nope: no such index");
    assert!(err(run(&mut c, "FT.SEARCH v * RETURN 18446744073709551614")).contains("RETURN"));
    assert!(err(run(&mut c, "FT.SEARCH v * PARAMS 18446744073709551614 a")).contains("PARAMS"));
    assert!(err(run(&mut c, "FT.AGGREGATE v * LOAD 18446744073709551615 @a")).contains("LOAD"));
    assert!(err(run(
        &mut c,
        "FT.CREATE z PREFIX 18446744073709551615 a SCHEMA t TEXT"
    ))
    .contains("PREFIX"));
    assert!(err(run(
        &mut c,
        "FT.CREATE z SCHEMA v VECTOR HNSW 18446744073709551614 TYPE FLOAT32"
    ))
    .contains("number of parameters"));
    let deep = format!("FT.SEARCH v '{}x'", "-".repeat(200_000));
    assert!(err(run(&mut c, &deep)).contains("nested"));
    assert_eq!(run(&mut c, "PING"), Resp::Simple("PONG".into()));
    assert_eq!(err(run(&mut c, "FT.INFO nope")), "Unknown index name");
    assert_eq!(err(run(&mut c, "FT.DROPINDEX nope")), "Unknown Index name");
    assert!(err(run(
        &mut c,
        "FT.CREATE w SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 4"
    ))
    .starts_with("Expected 6 parameters"));
    assert!(err(run(&mut c, "FT.SEARCH v '@n:[1'")).contains("Syntax error"));
    assert!(err(run(&mut c, "FT.SEARCH v @missing:{x}")).contains("Unknown field"));
    let q = |k: &str, v: &[u8]| {
        let query = format!("*=>[KNN {k} @v $q]");
        vec![
            b"FT.SEARCH".to_vec(),
            b"v".to_vec(),
            query.into_bytes(),
            b"PARAMS".to_vec(),
            b"2".to_vec(),
            b"q".to_vec(),
            v.to_vec(),
            b"DIALECT".to_vec(),
            b"2".to_vec(),
        ]
    };
    let send = |c: &mut RawClient, a: Vec<Vec<u8>>| {
        let refs: Vec<&[u8]> = a.iter().map(|x| &x[..]).collect();
        c.cmd(&refs)
    };
    assert_eq!(
        err(send(&mut c, q("3", &[0u8; 7]))),
        "Error parsing vector similarity query: query vector blob size (7) does not match index's expected size (16)."
    );
    assert!(err(send(&mut c, q("99999999999", &blob(&[1.0; 4])))).contains("K value"));
    assert!(err(send(&mut c, q("3", &blob(&[f32::NAN, 0.0, 0.0, 0.0])))).contains("NaN"));
    assert_eq!(int(send(&mut c, q("3", &blob(&[1.0; 4]))).pop_first()), 0);
    // Documents whose vector has the wrong size are not indexed, and are counted.
    c.cmd(&[b"HSET", b"v:bad", b"v", b"short"]);
    c.cmd(&[b"HSET", b"v:good", b"v", &blob(&[1.0, 0.0, 0.0, 0.0])]);
    wait_indexed(&mut c, "v", 1);
    // The cron's sync may be between the two documents when the good one is counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(&mut c, "v", "hash_indexing_failures") != "1" && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info(&mut c, "v", "hash_indexing_failures"), "1");
    assert_eq!(info(&mut c, "v", "num_docs"), "1");
    // Malformed JSON paths in a schema are refused.
    assert!(err(run(&mut c, "FT.CREATE j ON JSON SCHEMA $.[ AS x TEXT")).contains("JSONPath"));
}

trait PopFirst {
    fn pop_first(self) -> Resp;
}

impl PopFirst for Resp {
    fn pop_first(self) -> Resp {
        match self {
            Resp::Array(Some(mut v)) => v.remove(0),
            other => panic!("not an array: {}", other.render()),
        }
    }
}

/// Live documents by brute force, against what the index answers, after every kind of change.
#[test]
fn indexes_follow_updates_deletes_expiry_renames_flushes_and_the_cold_tier() {
    let s = Server::strata(&["--cold-tier", "yes"]);
    let mut c = s.client();
    let dim = 4;
    run(&mut c, "FT.CREATE j ON JSON PREFIX 1 d: SCHEMA $.n AS n NUMERIC $.v AS v VECTOR FLAT 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC L2");
    let set = |c: &mut RawClient, k: &str, n: i64, v: [f32; 4]| {
        let doc = format!(r#"{{"n":{n},"v":[{},{},{},{}]}}"#, v[0], v[1], v[2], v[3]);
        assert_eq!(
            c.cmd(&[b"JSON.SET", k.as_bytes(), b"$", doc.as_bytes()]),
            Resp::Simple("OK".into())
        );
    };
    for i in 0..20 {
        set(&mut c, &format!("d:{i}"), i, [i as f32, 0.0, 0.0, 0.0]);
    }
    let q = [0.0f32; 4];
    let all = |c: &mut RawClient| knn_ids(c, "j", "*", 100, &q);
    let expect = |live: &[i64]| live.iter().map(|i| format!("d:{i}")).collect::<Vec<_>>();
    assert_eq!(all(&mut c), expect(&(0..20).collect::<Vec<_>>()));
    // Update: d:0 moves to the far end.
    set(&mut c, "d:0", 0, [50.0, 0.0, 0.0, 0.0]);
    let mut live: Vec<i64> = (1..20).chain([0]).collect();
    assert_eq!(all(&mut c), expect(&live));
    // A numeric path update through another command.
    run(&mut c, "JSON.NUMINCRBY d:1 $.n 100");
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH j '@n:[100 200]' NOCONTENT")),
        ["d:1"]
    );
    // Delete, JSON.DEL at the root, UNLINK.
    run(&mut c, "DEL d:2");
    run(&mut c, "JSON.DEL d:3");
    run(&mut c, "UNLINK d:4");
    live.retain(|i| ![2, 3, 4].contains(i));
    assert_eq!(all(&mut c), expect(&live));
    // Expiry (lazy or active: the document leaves the index either way).
    run(&mut c, "PEXPIRE d:5 1");
    thread::sleep(Duration::from_millis(300));
    live.retain(|i| *i != 5);
    assert_eq!(all(&mut c), expect(&live));
    // Rename out of the prefix and back in under a new name.
    run(&mut c, "RENAME d:6 x:6");
    live.retain(|i| *i != 6);
    assert_eq!(all(&mut c), expect(&live));
    run(&mut c, "RENAME x:6 d:66");
    // Overwrite with another type.
    run(&mut c, "SET d:7 plain");
    live.retain(|i| *i != 7);
    let mut with_66 = expect(&live);
    with_66.insert(
        with_66.iter().position(|k| k == "d:8").unwrap(),
        "d:66".into(),
    );
    assert_eq!(all(&mut c), with_66);
    // Spilled to the cold tier: still searchable, content still returned.
    run(&mut c, "DEBUG TIER SPILL-ALL");
    assert_eq!(all(&mut c), with_66);
    let r = run(&mut c, "FT.SEARCH j '@n:[9 9]' RETURN 1 n");
    assert_eq!(r.render(), r#"[(integer) 1, "d:9", ["n", "9"]]"#);
    // FLUSHALL empties the index; new documents come back.
    run(&mut c, "FLUSHALL");
    assert_eq!(all(&mut c), Vec::<String>::new());
    set(&mut c, "d:1", 1, [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(all(&mut c), ["d:1"]);
    // DROPINDEX DD deletes the documents; without DD they stay.
    assert_eq!(run(&mut c, "FT.DROPINDEX j DD"), Resp::Simple("OK".into()));
    assert_eq!(int(run(&mut c, "EXISTS d:1")), 0);
    let _ = dim;
}

#[test]
fn definitions_and_documents_come_back_after_restart_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let vecs: Vec<Vec<f32>> = (0..300).map(|_| random_unit(&mut rng, 8)).collect();
    {
        let p = start(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        let mut c = RawClient::connect(p.port);
        run(&mut c, "FT.CREATE r ON HASH PREFIX 1 r: SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 8 DISTANCE_METRIC COSINE t TAG");
        for (i, v) in vecs.iter().enumerate() {
            c.cmd(&[
                b"HSET",
                format!("r:{i}").as_bytes(),
                b"v",
                &blob(v),
                b"t",
                b"x",
            ]);
            if i == 150 {
                run(&mut c, "BGSAVE");
            }
        }
        run(&mut c, "DEL r:0");
        run(&mut c, "FT.CREATE gone ON HASH SCHEMA t TAG");
        run(&mut c, "FT.DROPINDEX gone");
    } // kill -9
    let p = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = RawClient::connect(p.port);
    wait_indexed(&mut c, "r", 299);
    assert_eq!(run(&mut c, "FT._LIST").render(), r#"["r"]"#);
    assert_eq!(info(&mut c, "r", "num_docs"), "299");
    let all: Vec<(usize, &Vec<f32>)> = vecs.iter().enumerate().skip(1).collect();
    for _ in 0..10 {
        let q = random_unit(&mut rng, 8);
        assert_eq!(
            knn_ids(&mut c, "r", "@t:{x}", 5, &q),
            brute(&all, &q, 5, "r:")
        );
    }
}

#[test]
fn transactions_alter_and_deep_documents() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    run(&mut c, "FT.CREATE m ON HASH PREFIX 1 m: SCHEMA t TAG");
    // A search inside MULTI sees the transaction's own earlier writes.
    run(&mut c, "MULTI");
    run(&mut c, "HSET m:1 t a");
    run(&mut c, "FT.SEARCH m @t:{a} NOCONTENT");
    let r = run(&mut c, "EXEC");
    assert_eq!(r.render(), r#"[(integer) 1, [(integer) 1, "m:1"]]"#);
    // FT.ALTER keeps the documents (re-read with the new field).
    run(&mut c, "HSET m:2 t b n 5");
    assert_eq!(
        run(&mut c, "FT.ALTER m SCHEMA ADD n NUMERIC"),
        Resp::Simple("OK".into())
    );
    wait_indexed(&mut c, "m", 2);
    assert_eq!(
        ids(run(&mut c, "FT.SEARCH m '@n:[5 5]' NOCONTENT")),
        ["m:2"]
    );
    assert_eq!(ids(run(&mut c, "FT.SEARCH m @t:{a} NOCONTENT")), ["m:1"]);
    // A value nested under another may not make a document deeper than one that parses.
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        c.cmd(&[b"JSON.SET", b"j", b"$", deep.as_bytes()]),
        Resp::Simple("OK".into())
    );
    let r = c.cmd(&[b"JSON.SET", b"j", b"$[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", deep.as_bytes()]);
    assert!(err(r).contains("deeper"));
    assert_eq!(
        bulk(run(&mut c, "JSON.GET j")),
        deep,
        "the document is unchanged"
    );
}

fn dist(metric: &str, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        "L2" => a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum(),
        "IP" => {
            1.0 - a
                .iter()
                .zip(b)
                .map(|(x, y)| *x as f64 * *y as f64)
                .sum::<f64>()
        }
        _ => cos_dist(a, b),
    }
}

/// Clustered data (50 tight clusters), every metric, both algorithms: HNSW keeps recall@10 at
/// 0.95 or more, FLAT is exact, and the reported distances are the metric's.
#[test]
fn recall_holds_for_every_metric_on_clustered_data() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    let (n, dim) = (10_000, 16);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let centers: Vec<Vec<f32>> = (0..50).map(|_| random_unit(&mut rng, dim)).collect();
    let data: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let v: Vec<f32> = centers[i % 50]
                .iter()
                .map(|x| x + rng.gen_range(-0.05..0.05))
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    for (metric, algo) in [
        ("L2", "HNSW"),
        ("IP", "HNSW"),
        ("COSINE", "HNSW"),
        ("L2", "FLAT"),
        ("IP", "FLAT"),
    ] {
        let idx = format!("{metric}{algo}");
        let pre = format!("{idx}:");
        run(&mut c, "FLUSHALL");
        let create = format!(
            "FT.CREATE {idx} ON HASH PREFIX 1 {pre} SCHEMA v VECTOR {algo} 6 TYPE FLOAT32 DIM {dim} DISTANCE_METRIC {metric}"
        );
        assert_eq!(run(&mut c, &create), Resp::Simple("OK".into()));
        let mut buf = Vec::new();
        for (i, v) in data.iter().enumerate() {
            buf.extend(common::encode_command(&[
                b"HSET",
                format!("{pre}{i}").as_bytes(),
                b"v",
                &blob(v),
            ]));
        }
        c.send_raw(&buf);
        for _ in 0..n {
            assert_eq!(c.read_reply(), Resp::Int(1));
        }
        let (mut hit, mut want) = (0, 0);
        for _ in 0..30 {
            let q: Vec<f32> = data[rng.gen_range(0..n)]
                .iter()
                .map(|x| x + rng.gen_range(-0.02..0.02))
                .collect();
            let got = knn_ids(&mut c, &idx, "*", 10, &q);
            let mut exact: Vec<(f64, usize)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (dist(metric, &q, v), i))
                .collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let exact: Vec<String> = exact
                .iter()
                .take(10)
                .map(|(_, i)| format!("{pre}{i}"))
                .collect();
            want += 10;
            hit += got.iter().filter(|g| exact.contains(g)).count();
            if algo == "FLAT" {
                // Exact: the same ten (their order may differ where two distances round to
                // the same f32).
                let (mut g, mut e) = (got.clone(), exact.clone());
                g.sort();
                e.sort();
                assert_eq!(g, e, "{idx}");
            }
            // The reported distance is the metric's, to float precision.
            let r = c.cmd(&[
                b"FT.SEARCH",
                idx.as_bytes(),
                b"*=>[KNN 1 @v $q AS d]",
                b"PARAMS",
                b"2",
                b"q",
                &blob(&q),
                b"RETURN",
                b"1",
                b"d",
                b"DIALECT",
                b"2",
            ]);
            let Resp::Array(Some(items)) = r else {
                panic!()
            };
            let Resp::Array(Some(fields)) = &items[2] else {
                panic!()
            };
            let Resp::Bulk(Some(d)) = &fields[1] else {
                panic!()
            };
            let reported: f64 = String::from_utf8_lossy(d).parse().unwrap();
            let key = match &items[1] {
                Resp::Bulk(Some(k)) => String::from_utf8_lossy(k).into_owned(),
                _ => panic!(),
            };
            let i: usize = key[pre.len()..].parse().unwrap();
            assert!(
                (reported - dist(metric, &q, &data[i])).abs() < 1e-4,
                "{idx}: {reported}"
            );
        }
        let recall = hit as f64 / want as f64;
        assert!(recall >= 0.95, "{idx}: recall@10 = {recall}");
    }
}

/// Index `g` (prefix `g:`) answers KNN queries with recall@10 >= 0.95 against brute force over
/// the live documents, never returns a dead one, and finds the first 20 at their own vectors.
fn check_against_brute(
    c: &mut RawClient,
    vecs: &[Vec<f32>],
    live: &dyn Fn(usize) -> bool,
    rng: &mut rand::rngs::StdRng,
) {
    let all: Vec<(usize, &Vec<f32>)> = vecs.iter().enumerate().filter(|(i, _)| live(*i)).collect();
    let (mut hit, mut want) = (0, 0);
    for _ in 0..20 {
        let q = random_unit(rng, 8);
        let got = knn_ids(c, "g", "*", 10, &q);
        let exact = brute(&all, &q, 10, "g:");
        for g in &got {
            let i: usize = g[2..].parse().unwrap();
            assert!(live(i), "{g} was deleted");
        }
        assert_eq!(got.len(), 10);
        want += 10;
        hit += got.iter().filter(|g| exact.contains(g)).count();
    }
    assert!(
        hit as f64 / want as f64 >= 0.95,
        "recall {}",
        hit as f64 / want as f64
    );
    for (i, v) in vecs.iter().enumerate().filter(|(i, _)| live(*i)).take(20) {
        assert_eq!(knn_ids(c, "g", "*", 1, v), [format!("g:{i}")]);
    }
}

/// FT.INFO's (vector_docs_in_ram, vector_segments, vector_dead_entries) for index `g`.
fn layout(c: &mut RawClient) -> (usize, usize, usize) {
    let mut f = |n: &str| info(c, "g", n).parse::<usize>().unwrap();
    (
        f("vector_docs_in_ram"),
        f("vector_segments"),
        f("vector_dead_entries"),
    )
}

/// For each mapping of a segment file in process `pid`: "rr" when it is advised for random
/// reads (`MADV_RANDOM`), else "-".
fn segment_map_flags(pid: u32) -> Vec<&'static str> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut out = Vec::new();
    let mut in_segment = false;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if in_segment {
                out.push(if flags.split_whitespace().any(|f| f == "rr") {
                    "rr"
                } else {
                    "-"
                });
            }
        } else if line.contains('-') && line.split_whitespace().count() >= 5 {
            // A mapping's header line: "start-end perms offset dev inode [path]".
            in_segment = line.ends_with(".usearch");
        }
    }
    out
}

fn segment_files(dir: &Path) -> usize {
    dir.join("search")
        .read_dir()
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "usearch")
        })
        .count()
}

/// Waits until no merge runs, then gives FT.INFO's layout.
fn settled(c: &mut RawClient) -> (usize, usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info(c, "g", "vector_merging") != "0" {
        assert!(Instant::now() < deadline, "a merge never ended");
        thread::sleep(Duration::from_millis(20));
    }
    layout(c)
}

/// HNSW vectors leave RAM at every save as memory-mapped segments; updates leave dead entries
/// that searches skip; background merges rewrite mostly-dead segments and join segments of
/// similar size, so few remain; a kill -9 while they run loses nothing. Searches agree with
/// brute force after each step.
#[test]
fn vector_segments_follow_saves_updates_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(33);
    let mut vecs: Vec<Vec<f32>> = (0..2000).map(|_| random_unit(&mut rng, 8)).collect();
    let hset = |c: &mut RawClient, i: usize, v: &[f32]| {
        c.cmd(&[b"HSET", format!("g:{i}").as_bytes(), b"v", &blob(v)]);
    };
    let every = |_: usize| true;
    {
        let p = start(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        let mut c = RawClient::connect(p.port);
        run(&mut c, "FT.CREATE g ON HASH PREFIX 1 g: SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 8 DISTANCE_METRIC COSINE");
        for (i, v) in vecs.iter().enumerate() {
            hset(&mut c, i, v);
        }
        assert_eq!(layout(&mut c), (2000, 0, 0));
        assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
        assert_eq!(settled(&mut c), (0, 1, 0), "flushed to one segment");
        assert_eq!(segment_files(dir.path()), 1);
        assert_eq!(
            segment_map_flags(p.child.id()),
            vec!["rr"],
            "the segment is mapped once, advised for random reads"
        );
        check_against_brute(&mut c, &vecs, &every, &mut rng);

        // Updated documents: dead in the segment, new vectors in RAM.
        for (i, v) in vecs.iter_mut().enumerate().take(1200) {
            *v = random_unit(&mut rng, 8);
            hset(&mut c, i, v);
        }
        assert_eq!(layout(&mut c), (1200, 1, 1200));
        check_against_brute(&mut c, &vecs, &every, &mut rng);
        // The save flushes them; the first segment, mostly dead, is rewritten, and the two
        // (800 and 1,200 documents) are merged.
        assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
        assert_eq!(settled(&mut c), (0, 1, 0));
        check_against_brute(&mut c, &vecs, &every, &mut rng);
        assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
        assert_eq!(segment_files(dir.path()), 1, "merged segments' files went");

        // Small saves: segments of similar size are merged, so few remain.
        for round in 0..6 {
            for _ in 0..10 {
                let v = random_unit(&mut rng, 8);
                hset(&mut c, vecs.len(), &v);
                vecs.push(v);
            }
            assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
            let l = settled(&mut c);
            assert!(l.0 == 0 && l.1 <= 3, "round {round}: {l:?}");
            check_against_brute(&mut c, &vecs, &every, &mut rng);
        }

        // Most documents change, and the save starts merging: kill -9 then.
        for (i, v) in vecs.iter_mut().enumerate().skip(200).take(1500) {
            *v = random_unit(&mut rng, 8);
            hset(&mut c, i, v);
        }
        for i in 1900..1950 {
            c.cmd(&[b"DEL", format!("g:{i}").as_bytes()]);
        }
        assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
    } // kill -9
    let live = |i: usize| !(1900..1950).contains(&i);
    let p = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = RawClient::connect(p.port);
    let n = vecs.len() - 50;
    wait_indexed(&mut c, "g", n);
    assert_eq!(info(&mut c, "g", "num_docs"), n.to_string());
    check_against_brute(&mut c, &vecs, &live, &mut rng);
    assert_eq!(layout(&mut c).0, 0, "every vector mapped from disk");
    let log = fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("vectors loaded from disk"), "{log}");
}

/// The vector graphs saved with a snapshot are loaded at the next start and reconciled with
/// the documents: changed and deleted documents after the save are right, and a damaged graph
/// file only means a rebuild.
#[test]
fn saved_graphs_are_reused_and_reconciled_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut vecs: Vec<Vec<f32>> = (0..2000).map(|_| random_unit(&mut rng, 8)).collect();
    let check = check_against_brute;
    {
        let p = start(
            dir.path(),
            &["--appendonly", "yes", "--appendfsync", "always"],
        );
        let mut c = RawClient::connect(p.port);
        run(&mut c, "FT.CREATE g ON HASH PREFIX 1 g: SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 8 DISTANCE_METRIC COSINE");
        for (i, v) in vecs.iter().enumerate() {
            c.cmd(&[b"HSET", format!("g:{i}").as_bytes(), b"v", &blob(v)]);
        }
        assert_eq!(run(&mut c, "SAVE"), Resp::Simple("OK".into()));
        assert!(
            dir.path().join("search").read_dir().unwrap().count() >= 2,
            "graph files written"
        );
        // After the save: 100 documents change, 100 go.
        for (i, v) in vecs.iter_mut().enumerate().take(100) {
            *v = random_unit(&mut rng, 8);
            c.cmd(&[b"HSET", format!("g:{i}").as_bytes(), b"v", &blob(v)]);
            c.cmd(&[b"DEL", format!("g:{}", 1000 + i).as_bytes()]);
        }
    } // kill -9
    let live = |i: usize| !(1000..1100).contains(&i);
    {
        let p = start(dir.path(), &["--appendonly", "yes"]);
        let mut c = RawClient::connect(p.port);
        wait_indexed(&mut c, "g", 1900);
        assert_eq!(info(&mut c, "g", "num_docs"), "1900");
        check(&mut c, &vecs, &live, &mut rng);
        let log = fs::read_to_string(dir.path().join("server.log")).unwrap();
        assert!(log.contains("vectors loaded from disk"), "{log}");
    }
    // A damaged graph file: rebuilt from the documents, same answers.
    for e in dir.path().join("search").read_dir().unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "usearch") {
            let mut b = fs::read(&p).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0xff;
            fs::write(&p, b).unwrap();
        }
    }
    let p = start(dir.path(), &["--appendonly", "yes"]);
    let mut c = RawClient::connect(p.port);
    wait_indexed(&mut c, "g", 1900);
    assert_eq!(info(&mut c, "g", "num_docs"), "1900");
    check(&mut c, &vecs, &live, &mut rng);
    let log = fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("is damaged"), "{log}");
}
