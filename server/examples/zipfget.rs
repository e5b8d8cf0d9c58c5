//! A load generator for the tiering benchmark (`benches/tiering.sh`): loads N keys, then
//! reads them with Zipf-distributed key choice, which redis-benchmark cannot do.
//!
//! ```text
//! zipfget load PORT KEYS VALUE_BYTES
//! zipfget get PORT KEYS SECONDS CONNECTIONS PIPELINE ZIPF_S [SEED]
//! ```
//!
//! `get` runs CONNECTIONS connections spread over 4 threads, each sending PIPELINE GETs at a
//! time, and prints one line: `ops_per_sec p50_us p99_us hits misses`. Latency is per
//! pipelined batch, from its first write to its last reply.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREADS: usize = 4;

fn key(i: u64) -> String {
    format!("key:{i:010}")
}

fn connect(port: u16) -> (BufReader<TcpStream>, TcpStream) {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).ok();
    (BufReader::new(s.try_clone().expect("clone")), s)
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply; returns whether it was a non-nil bulk string (a hit).
fn reply(r: &mut BufReader<TcpStream>, line: &mut String) -> bool {
    line.clear();
    r.read_line(line).expect("read a reply");
    match line.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = line[1..].trim().parse().expect("bulk length");
            if n < 0 {
                return false;
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf).expect("bulk body");
            true
        }
        Some(b'+') | Some(b':') => true,
        _ => panic!("unexpected reply {line:?}"),
    }
}

fn load(port: u16, keys: u64, bytes: usize) {
    let (mut r, mut w) = connect(port);
    let value = vec![b'v'; bytes];
    let mut line = String::new();
    let started = Instant::now();
    let mut i = 0;
    while i < keys {
        let mut out = Vec::new();
        let end = (i + 1000).min(keys);
        for k in i..end {
            command(&mut out, &[b"SET", key(k).as_bytes(), &value]);
        }
        w.write_all(&out).expect("write");
        for _ in i..end {
            reply(&mut r, &mut line);
        }
        i = end;
    }
    eprintln!(
        "loaded {keys} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A Zipf sampler over `0..n` with exponent `s`: the cumulative distribution, searched.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / (i as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, u: f64) -> u64 {
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Scatters Zipf ranks over the key space, so the hot keys are not the first ones loaded.
    fn scatter(rank: u64, n: u64) -> u64 {
        rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n
    }
}

#[allow(clippy::too_many_arguments)]
fn get(port: u16, keys: u64, secs: u64, conns: usize, pipeline: usize, s: f64, seed: u64) {
    let zipf = Arc::new(Zipf::new(keys, s));
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU64::new(0));
    let misses = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (zipf, stop, hits, misses) =
                (zipf.clone(), stop.clone(), hits.clone(), misses.clone());
            let mine = conns / THREADS + usize::from(t < conns % THREADS);
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let mut cs: Vec<_> = (0..mine).map(|_| connect(port)).collect();
                let mut lat = Vec::new();
                let mut line = String::new();
                let mut ops = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    for (_, w) in cs.iter_mut() {
                        let mut out = Vec::new();
                        for _ in 0..pipeline {
                            let k = Rng::scatter(zipf.sample(rng.unit()), keys);
                            command(&mut out, &[b"GET", key(k).as_bytes()]);
                        }
                        w.write_all(&out).expect("write");
                    }
                    for (r, _) in cs.iter_mut() {
                        for _ in 0..pipeline {
                            if reply(r, &mut line) {
                                hits.fetch_add(1, Ordering::Relaxed);
                            } else {
                                misses.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    lat.push(t0.elapsed().as_micros() as u64);
                    ops += (pipeline * cs.len()) as u64;
                }
                (ops, lat)
            })
        })
        .collect();
    // A second of warm-up, not counted.
    std::thread::sleep(Duration::from_secs(1));
    let h0 = hits.load(Ordering::Relaxed) + misses.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let done = hits.load(Ordering::Relaxed) + misses.load(Ordering::Relaxed) - h0;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in threads {
        let (_, l) = t.join().expect("a client thread");
        lat.extend(l);
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{:.0} {} {} {} {}",
        done as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        hits.load(Ordering::Relaxed),
        misses.load(Ordering::Relaxed)
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| -> u64 { a.get(i).and_then(|s| s.parse().ok()).expect("a number") };
    match a.get(1).map(String::as_str) {
        Some("load") => load(n(2) as u16, n(3), n(4) as usize),
        Some("get") => get(
            n(2) as u16,
            n(3),
            n(4),
            n(5) as usize,
            n(6) as usize,
            a.get(7)
                .and_then(|s| s.parse().ok())
                .expect("zipf exponent"),
            a.get(8).and_then(|s| s.parse().ok()).unwrap_or(42),
        ),
        _ => {
            eprintln!("usage: zipfget load PORT KEYS VALUE_BYTES | get PORT KEYS SECONDS CONNECTIONS PIPELINE ZIPF_S [SEED]");
            std::process::exit(2);
        }
    }
}
