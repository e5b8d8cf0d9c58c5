//! The vector search benchmark (`benches/vectors.sh`): KNN-10 queries per second and
//! recall@10 of Strata's FT.SEARCH over RESP, against raw usearch in this process on the same
//! data with the same HNSW parameters, plus insert throughput of both.
//!
//! ```text
//! vecbench PORT VECTORS DIM QUERIES CONNECTIONS SECONDS [ROUNDS] [SEED]
//! ```
//!
//! Queries per second are measured in ROUNDS (default 3) alternating rounds of SECONDS each,
//! usearch then Strata, and the ratio reported is the median of the rounds' ratios: this
//! machine's speed drifts by up to 30% over minutes, and alternating puts both sides under
//! the same drift.
//!
//! After the in-RAM measurements it sends `SAVE`, which moves the graph out of the heap into a
//! memory-mapped segment file, and measures again: queries per second and recall from the
//! mapped file, and the server's resident memory split into heap (`RssAnon`) and file pages
//! (`RssFile`, page cache the kernel can take back), read from `/proc`.
//!
//! Prints `key=value` lines. Vectors are unit vectors clustered around 1,000 random centres
//! (FLOAT32, COSINE), queries lie near random data points; HNSW with M 16, EF_CONSTRUCTION
//! 200 and Strata's default EF_RUNTIME, which usearch is given too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const M: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const EF_RUNTIME: usize = strata_engine::search::DEFAULT_EF_RUNTIME;
const K: usize = 10;

fn unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The exact top-K (cosine on unit vectors: the largest dot products).
fn truth(data: &[Vec<f32>], q: &[f32]) -> Vec<u64> {
    let mut d: Vec<(f32, u64)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (-v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u64))
        .collect();
    d.select_nth_unstable_by(K, |a, b| a.0.total_cmp(&b.0));
    d.truncate(K);
    d.into_iter().map(|x| x.1).collect()
}

fn recall(found: &[Vec<u64>], exact: &[Vec<u64>]) -> f64 {
    let hits: usize = found
        .iter()
        .zip(exact)
        .map(|(f, e)| f.iter().filter(|x| e.contains(x)).count())
        .sum();
    hits as f64 / (exact.len() * K) as f64
}

/// Runs `one(thread, query_index)` from `threads` threads for `secs`; returns queries/s.
fn timed(threads: usize, queries: usize, secs: f64, one: impl Fn(usize, usize) + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (stop, done, one) = (&stop, &done, &one);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    one(t, i % queries);
                    i += threads;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Alternating query rounds of raw usearch and Strata.
struct Rounds {
    usearch: Vec<f64>,
    strata: Vec<f64>,
}

impl Rounds {
    fn run(rounds: usize, usearch: &dyn Fn() -> f64, strata: &dyn Fn() -> f64) -> Rounds {
        let mut r = Rounds {
            usearch: Vec::new(),
            strata: Vec::new(),
        };
        for _ in 0..rounds.max(1) {
            r.usearch.push(usearch());
            r.strata.push(strata());
        }
        r
    }

    fn print(&self, prefix: &str) {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratios: Vec<f64> = self
            .strata
            .iter()
            .zip(&self.usearch)
            .map(|(s, u)| s / u)
            .collect();
        println!("{prefix}usearch_qps_rounds={}", list(&self.usearch));
        println!("{prefix}strata_qps_rounds={}", list(&self.strata));
        println!("{prefix}usearch_qps={:.0}", median(&self.usearch));
        println!("{prefix}strata_qps={:.0}", median(&self.strata));
        println!("{prefix}qps_ratio={:.3}", median(&ratios));
    }
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

#[derive(Debug)]
enum Resp {
    /// A status or an integer.
    Other,
    Error(String),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        }
    }

    fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).expect("write");
    }

    fn read(&mut self) -> Resp {
        let mut line = String::new();
        self.r.read_line(&mut line).expect("read");
        let rest = line[1..].trim_end().to_string();
        match line.as_bytes()[0] {
            b'+' | b':' => Resp::Other,
            b'-' => Resp::Error(rest),
            b'$' => {
                let n: i64 = rest.parse().expect("len");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut b = vec![0; n as usize + 2];
                self.r.read_exact(&mut b).expect("bulk");
                b.truncate(n as usize);
                Resp::Bulk(Some(b))
            }
            b'*' => {
                let n: i64 = rest.parse().expect("len");
                Resp::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            c => panic!("unexpected reply type {}", c as char),
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        self.send(args);
        self.read()
    }
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let Resp::Bulk(Some(b)) = c.cmd(&[b"INFO", section.as_bytes()]) else {
        panic!("INFO");
    };
    String::from_utf8_lossy(&b)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// The server's resident anonymous and file-backed memory, in bytes (Linux).
fn rss_split(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("RssAnon:"), kb("RssFile:"))
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 7 {
        eprintln!("usage: vecbench PORT VECTORS DIM QUERIES CONNECTIONS SECONDS [ROUNDS] [SEED]");
        std::process::exit(2);
    }
    let port: u16 = a[1].parse().expect("port");
    let (n, dim, nq, conns): (usize, usize, usize, usize) = (
        a[2].parse().unwrap(),
        a[3].parse().unwrap(),
        a[4].parse().unwrap(),
        a[5].parse().unwrap(),
    );
    let secs: f64 = a[6].parse().unwrap();
    let rounds: usize = a.get(7).map_or(3, |s| s.parse().unwrap());
    let seed: u64 = a.get(8).map_or(42, |s| s.parse().unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Embedding-like data: points around 1,000 random centres, queries near random points.
    // (Uniformly random 128-d vectors have no neighbourhood structure: every point is about as
    // far as any other, and no approximate index reaches a useful recall on them.)
    let centres: Vec<Vec<f32>> = (0..1000).map(|_| unit(&mut rng, dim)).collect();
    let near = |rng: &mut rand::rngs::StdRng, c: &[f32], spread: f32| -> Vec<f32> {
        let v: Vec<f32> = c
            .iter()
            .map(|x| x + rng.gen_range(-spread..spread))
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    let data: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let c = rng.gen_range(0..centres.len());
            near(&mut rng, &centres[c], 0.1)
        })
        .collect();
    let queries: Vec<Vec<f32>> = (0..nq)
        .map(|_| {
            let p = rng.gen_range(0..n);
            near(&mut rng, &data[p], 0.05)
        })
        .collect();
    let t = Instant::now();
    let exact: Vec<Vec<u64>> = queries.iter().map(|q| truth(&data, q)).collect();
    eprintln!("ground truth in {:.1} s", t.elapsed().as_secs_f64());

    // Raw usearch, in process.
    let opts = usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::Cos,
        quantization: usearch::ScalarKind::F32,
        connectivity: M,
        expansion_add: EF_CONSTRUCTION,
        expansion_search: EF_RUNTIME,
        multi: false,
    };
    let idx = usearch::Index::new(&opts).expect("usearch index");
    idx.reserve_capacity_and_threads(n, conns.max(1))
        .expect("reserve");
    let t = Instant::now();
    for (i, v) in data.iter().enumerate() {
        idx.add(i as u64, v).expect("add");
    }
    let usearch_insert = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("usearch: {n} inserts in {:.1} s", t.elapsed().as_secs_f64());
    let found: Vec<Vec<u64>> = queries
        .iter()
        .map(|q| idx.search(q, K).expect("search").keys)
        .collect();
    let usearch_recall = recall(&found, &exact);
    let usearch_mem = idx.memory_usage();
    let usearch_round = || {
        timed(conns, nq, secs, |_, i| {
            idx.search(&queries[i], K).expect("search");
        })
    };

    // Strata over RESP.
    let mut c = Conn::new(port);
    let _ = c.cmd(&[b"FT.DROPINDEX", b"vb"]);
    let _ = c.cmd(&[b"FLUSHALL"]);
    let pid = info_field(&mut c, "server", "process_id");
    let (anon_before, _) = rss_split(&pid);
    let create = format!(
        "FT.CREATE vb ON HASH PREFIX 1 vb: SCHEMA v VECTOR HNSW 12 TYPE FLOAT32 DIM {dim} DISTANCE_METRIC COSINE M {M} EF_CONSTRUCTION {EF_CONSTRUCTION} INITIAL_CAP {n}"
    );
    let args: Vec<&[u8]> = create.split(' ').map(|s| s.as_bytes()).collect();
    if let Resp::Error(e) = c.cmd(&args) {
        panic!("FT.CREATE: {e}");
    }
    let t = Instant::now();
    for chunk in data.chunks(1000).enumerate() {
        let (base, vs) = chunk;
        for (j, v) in vs.iter().enumerate() {
            let key = format!("vb:{}", base * 1000 + j);
            c.send(&[b"HSET", key.as_bytes(), b"v", &blob(v)]);
        }
        for _ in vs {
            c.read();
        }
    }
    let strata_insert = n as f64 / t.elapsed().as_secs_f64();
    eprintln!("strata: {n} inserts in {:.1} s", t.elapsed().as_secs_f64());

    let search = |c: &mut Conn, q: &[f32]| -> Vec<u64> {
        let Resp::Array(items) = c.cmd(&[
            b"FT.SEARCH",
            b"vb",
            b"*=>[KNN 10 @v $q]",
            b"PARAMS",
            b"2",
            b"q",
            &blob(q),
            b"NOCONTENT",
            b"DIALECT",
            b"2",
        ]) else {
            panic!("FT.SEARCH");
        };
        items[1..]
            .iter()
            .filter_map(|r| match r {
                Resp::Bulk(Some(k)) => std::str::from_utf8(&k[3..]).ok()?.parse().ok(),
                _ => None,
            })
            .collect()
    };
    let found: Vec<Vec<u64>> = queries.iter().map(|q| search(&mut c, q)).collect();
    let strata_recall = recall(&found, &exact);
    let pool: Vec<parking_lot::Mutex<Conn>> = (0..conns)
        .map(|_| parking_lot::Mutex::new(Conn::new(port)))
        .collect();
    let pool = Arc::new(pool);
    let strata_round = || {
        timed(conns, nq, secs, |t, i| {
            search(&mut pool[t].lock(), &queries[i]);
        })
    };
    let in_ram = Rounds::run(rounds, &usearch_round, &strata_round);
    let (anon_ram, file_ram) = rss_split(&pid);

    // The same index after SAVE: its graph mapped from a segment file.
    let t = Instant::now();
    if let Resp::Error(e) = c.cmd(&[b"SAVE"]) {
        panic!("SAVE: {e}");
    }
    let save_secs = t.elapsed().as_secs_f64();
    let (anon_saved, file_saved) = rss_split(&pid);
    let found: Vec<Vec<u64>> = queries.iter().map(|q| search(&mut c, q)).collect();
    let mapped_recall = recall(&found, &exact);
    let mapped = Rounds::run(rounds, &usearch_round, &strata_round);
    let (anon_mapped, file_mapped) = rss_split(&pid);
    println!(
        "vectors={n} dim={dim} queries={nq} connections={conns} ef_runtime={EF_RUNTIME} rounds={rounds} seconds_each={secs}"
    );
    println!("usearch_insert_per_sec={usearch_insert:.0}");
    println!("strata_insert_per_sec={strata_insert:.0}");
    println!("usearch_recall_at_10={usearch_recall:.4}");
    println!("strata_recall_at_10={strata_recall:.4}");
    in_ram.print("");
    println!("usearch_index_bytes={usearch_mem}");
    println!(
        "strata_heap_growth_bytes={}",
        anon_ram.saturating_sub(anon_before)
    );
    println!("in_ram_rss_anon={anon_ram} in_ram_rss_file={file_ram}");
    println!("save_seconds={save_secs:.2}");
    println!("after_save_rss_anon={anon_saved} after_save_rss_file={file_saved}");
    println!("mapped_recall_at_10={mapped_recall:.4}");
    mapped.print("mapped_");
    println!(
        "after_mapped_queries_rss_anon={anon_mapped} after_mapped_queries_rss_file={file_mapped}"
    );
}
