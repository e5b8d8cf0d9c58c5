//! Durability of the write-ahead log against the real server binary: restarts after `kill -9`
//! keep every acknowledged write under `appendfsync always`, every value type comes back, a
//! torn tail is cut and logged, damage before the tail refuses to start, and SHUTDOWN flushes
//! under `everysec`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    failed_to_bind, info_field, run, server_log, spawn_in, start_in, Proc, RawClient, Resp,
};

/// A strata-server on a data directory the test keeps across restarts.
fn spawn(dir: &Path, extra: &[&str]) -> (Child, u16) {
    spawn_in(dir, extra, None)
}

fn start(dir: &Path, extra: &[&str]) -> Proc {
    start_in(dir, extra, None)
}

/// Starts the server expecting it to refuse: returns its exit status text and log.
fn start_fails(dir: &Path) -> String {
    let mut logged = log(dir).len();
    let (mut child, _) = spawn(dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(!status.success(), "expected a refusal, got {status}");
            let text = log(dir);
            // Another process took the port: not the refusal looked for.
            if failed_to_bind(text.get(logged..).unwrap_or("")) && Instant::now() < deadline {
                logged = text.len();
                child = spawn(dir, &[]).0;
                continue;
            }
            return text;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a corrupt log; log:\n{}", log(dir));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn log(dir: &Path) -> String {
    server_log(dir)
}

fn kill9(p: Proc) {
    drop(p); // Child::kill is SIGKILL on Unix.
}

fn wal_segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("appendonlydir"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "wal"));
    v.sort();
    v
}

/// Reads that show the whole state the writes below build.
const PROBES: &[&str] = &[
    "GET s",
    "GET n",
    "HGETALL h",
    "HPEXPIRETIME h FIELDS 2 f1 f2",
    "LRANGE l 0 -1",
    "OBJECT ENCODING l",
    "SMEMBERS si",
    "SMEMBERS ss",
    "ZRANGE z 0 -1 WITHSCORES",
    "PEXPIRETIME s",
    "GET renamed",
    "EXISTS gone",
    "LRANGE big 0 2",
    "LLEN big",
    "ZCARD bigz",
    "GET tx1",
    "GET tx2",
    "DBSIZE",
];

/// The probes' replies; HGETALL sorted, since a table's order is per process.
fn probe(c: &mut RawClient) -> Vec<Resp> {
    PROBES
        .iter()
        .map(|p| {
            let r = run(c, p);
            if p.starts_with("HGETALL") {
                r.sorted()
            } else {
                r
            }
        })
        .collect()
}

#[test]
fn every_type_survives_kill_9_under_always() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    for line in [
        "SET s hello PXAT 4102444800000",
        "SET n 10",
        "INCRBY n 5",
        "APPEND s -world",
        "HSET h f1 a f2 b f3 c",
        "HINCRBY h f3x 7",
        "HPEXPIREAT h 4102444800123 FIELDS 1 f1",
        "RPUSH l a b c d",
        "LPOP l",
        "LINSERT l BEFORE c x",
        "LSET l 0 first",
        "SADD si 3 1 2",
        "SADD ss b a c",
        "SREM ss a",
        "ZADD z 1 a 2 b 3 c",
        "ZINCRBY z 10 a",
        "ZREM z b",
        "SET torename v",
        "RENAME torename renamed",
        "SET gone x",
        "DEL gone",
        "MULTI",
        "SET tx1 one",
        "SET tx2 two",
        "EXEC",
    ] {
        run(&mut c, line);
    }
    for i in 0..300 {
        run(&mut c, &format!("RPUSH big element-{i}"));
        run(&mut c, &format!("ZADD bigz {i} m{i}"));
    }
    let before = probe(&mut c);
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(probe(&mut c), before, "log:\n{}", log(dir.path()));
    // And again, under everysec: an acknowledged write is in the file before its reply, so a
    // crash of the process alone loses nothing; the restarted server logs to a new segment,
    // and both segments replay.
    run(&mut c, "SET after restart");
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        run(&mut c, "GET after"),
        Resp::Bulk(Some(b"restart".to_vec()))
    );
    assert!(wal_segments(dir.path()).len() >= 2);
    assert!(log(dir.path()).contains("DB loaded from the write-ahead log"));
}

#[test]
fn acknowledged_writes_survive_kill_9_under_always() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let p = start(dir.path(), &["--appendfsync", "always"]);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let stop = stop.clone();
                let port = p.port;
                thread::spawn(move || {
                    let mut c = RawClient::connect(port);
                    let key = format!("counter:{w}");
                    // The last value the server acknowledged.
                    let mut acked = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        match c.try_cmd(&[b"INCR", key.as_bytes()]) {
                            Ok(Resp::Int(n)) => acked = n,
                            _ => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(150 + 100 * round));
        kill9(p);
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<i64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        let p = start(dir.path(), &[]);
        let mut c = RawClient::connect(p.port);
        for (w, a) in acked.iter().enumerate() {
            let got = match run(&mut c, &format!("GET counter:{w}")) {
                Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                Resp::Bulk(None) => 0,
                other => panic!("GET answered {}", other.render()),
            };
            // Every acknowledged increment is there; at most the one in flight beyond it.
            assert!(
                got >= *a && got <= a + 1,
                "round {round} writer {w}: acknowledged {a}, recovered {got}"
            );
        }
        assert!(acked.iter().sum::<i64>() > 0, "the writers never got going");
    }
}

#[test]
fn a_torn_tail_is_cut_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..20 {
        run(&mut c, &format!("SET k{i} v{i}"));
    }
    kill9(p);
    // A crash in the middle of the next append: half a record header at the end.
    let seg = wal_segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    data.extend_from_slice(&[42, 0, 0, 0, 21, 0, 0]);
    fs::write(&seg, &data).unwrap();
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "DBSIZE"), Resp::Int(20));
    assert_eq!(run(&mut c, "GET k19"), Resp::Bulk(Some(b"v19".to_vec())));
    let l = log(dir.path());
    assert!(l.contains("truncated it at offset"), "log:\n{l}");
}

#[test]
fn damage_before_the_tail_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..20 {
        run(&mut c, &format!("SET key{i} value{i}"));
    }
    kill9(p);
    let seg = wal_segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x04;
    fs::write(&seg, &data).unwrap();
    let l = start_fails(dir.path());
    assert!(l.contains("is corrupt at offset"), "log:\n{l}");
    assert!(
        l.contains(&seg.display().to_string()),
        "the message names the file:\n{l}"
    );
}

#[test]
fn shutdown_flushes_everything_under_everysec() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "everysec"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..500 {
        run(&mut c, &format!("SADD s m{i}"));
    }
    let _ = c.try_cmd(&[b"SHUTDOWN"]);
    let mut p = p;
    let _ = p.child.wait();
    drop(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "SCARD s"), Resp::Int(500));
    let info = match run(&mut c, "INFO persistence") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO answered {}", other.render()),
    };
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
}

#[test]
fn save_then_the_log_after_it_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..50 {
        run(&mut c, &format!("HSET h{} f {i}", i % 5));
        run(&mut c, &format!("RPUSH l {i}"));
    }
    run(&mut c, "SET n 10");
    run(&mut c, "EXPIREAT n 4102444800");
    assert_eq!(run(&mut c, "SAVE"), Resp::Simple(b"OK".to_vec()));
    // The segments the snapshot covers are gone; one fresh segment remains.
    assert_eq!(wal_segments(dir.path()).len(), 1);
    assert!(dir.path().join("dump.strata").exists());
    // Writes after the snapshot go to the log; non-idempotent ones must not be applied twice.
    run(&mut c, "INCRBY n 5");
    run(&mut c, "RPUSH l after");
    run(&mut c, "DEL h0");
    let before: Vec<Resp> = [
        "GET n",
        "EXPIRETIME n",
        "LRANGE l 0 -1",
        "HGETALL h3",
        "EXISTS h0",
        "DBSIZE",
    ]
    .iter()
    .map(|l| run(&mut c, l))
    .collect();
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    let after: Vec<Resp> = [
        "GET n",
        "EXPIRETIME n",
        "LRANGE l 0 -1",
        "HGETALL h3",
        "EXISTS h0",
        "DBSIZE",
    ]
    .iter()
    .map(|l| run(&mut c, l))
    .collect();
    assert_eq!(after, before, "log:\n{}", log(dir.path()));
    assert_eq!(run(&mut c, "GET n"), Resp::Bulk(Some(b"15".to_vec())));
    // A second SAVE after the restart covers the new segments too.
    assert_eq!(run(&mut c, "SAVE"), Resp::Simple(b"OK".to_vec()));
    assert_eq!(wal_segments(dir.path()).len(), 1);
    match run(&mut c, "LASTSAVE") {
        Resp::Int(t) => assert!(t > 1_700_000_000),
        other => panic!("LASTSAVE answered {}", other.render()),
    }
}

#[test]
fn a_snapshot_alone_restores_without_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendonly", "no"]);
    let mut c = RawClient::connect(p.port);
    run(&mut c, "SADD s a b c");
    run(&mut c, "ZADD z 1 x 2 y");
    run(&mut c, "SAVE");
    run(&mut c, "SET lost yes");
    kill9(p);
    let p = start(dir.path(), &["--appendonly", "no"]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "SCARD s"), Resp::Int(3));
    assert_eq!(run(&mut c, "ZSCORE z y"), Resp::Bulk(Some(b"2".to_vec())));
    // Without the log, writes after the snapshot are lost, as with Redis's RDB alone.
    assert_eq!(run(&mut c, "EXISTS lost"), Resp::Int(0));
    assert!(wal_segments(dir.path()).is_empty());
}

#[test]
fn a_damaged_snapshot_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    for i in 0..30 {
        run(&mut c, &format!("SET key{i} value{i}"));
    }
    run(&mut c, "SAVE");
    kill9(p);
    let snap = dir.path().join("dump.strata");
    let mut data = fs::read(&snap).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x20;
    fs::write(&snap, &data).unwrap();
    let l = start_fails(dir.path());
    assert!(l.contains("is damaged at offset"), "log:\n{l}");
}

#[test]
fn shutdown_save_writes_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendonly", "no"]);
    let mut c = RawClient::connect(p.port);
    run(&mut c, "RPUSH q a b c");
    let _ = c.try_cmd(&[b"SHUTDOWN", b"SAVE"]);
    let mut p = p;
    let _ = p.child.wait();
    drop(p);
    let p = start(dir.path(), &["--appendonly", "no"]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "LLEN q"), Resp::Int(3));
}

#[test]
fn bgsave_under_concurrent_writes_then_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..2000 {
        run(&mut c, &format!("SET key:{i} {i}"));
        run(&mut c, &format!("HSET h:{} f{i} {i}", i % 10));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let port = p.port;
        thread::spawn(move || {
            let mut c = RawClient::connect(port);
            let mut acked = 0i64;
            while !stop.load(Ordering::Relaxed) {
                match c.try_cmd(&[b"INCR", b"during"]) {
                    Ok(Resp::Int(n)) => acked = n,
                    _ => break,
                }
            }
            acked
        })
    };
    assert_eq!(
        run(&mut c, "BGSAVE"),
        Resp::Simple(b"Background saving started".to_vec())
    );
    wait_saves_done(&mut c);
    assert_eq!(
        info_field(&mut c, "rdb_last_bgsave_status").unwrap_or_default(),
        "ok"
    );
    assert!(dir.path().join("dump.strata").exists());
    // The segments before the cut are gone; the ones after it remain.
    assert_eq!(wal_segments(dir.path()).len(), 1);
    thread::sleep(Duration::from_millis(50));
    kill9(p);
    stop.store(true, Ordering::Relaxed);
    let acked = writer.join().unwrap();
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        run(&mut c, "GET key:1999"),
        Resp::Bulk(Some(b"1999".to_vec()))
    );
    assert_eq!(run(&mut c, "HLEN h:3"), Resp::Int(200));
    let during = match run(&mut c, "GET during") {
        Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
        other => panic!("GET answered {}", other.render()),
    };
    assert!(
        during >= acked && during <= acked + 1,
        "acknowledged {acked}, recovered {during}"
    );
}

#[test]
fn bgrewriteaof_drops_the_covered_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "everysec"]);
    let mut c = RawClient::connect(p.port);
    for i in 0..300 {
        run(&mut c, &format!("RPUSH l {i}"));
    }
    assert_eq!(
        run(&mut c, "BGREWRITEAOF"),
        Resp::Simple(b"Background append only file rewriting started".to_vec())
    );
    wait_saves_done(&mut c);
    assert_eq!(wal_segments(dir.path()).len(), 1);
    run(&mut c, "RPUSH l tail");
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "LLEN l"), Resp::Int(301));
    assert_eq!(
        run(&mut c, "LINDEX l -1"),
        Resp::Bulk(Some(b"tail".to_vec()))
    );
}

#[test]
fn save_points_take_background_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendonly", "no", "--save", "1 3"]);
    let mut c = RawClient::connect(p.port);
    run(&mut c, "SET a 1");
    run(&mut c, "SET b 2");
    run(&mut c, "SET c 3");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("dump.strata").exists() {
        assert!(
            Instant::now() < deadline,
            "no snapshot after the save point; log:\n{}",
            log(dir.path())
        );
        thread::sleep(Duration::from_millis(50));
    }
    wait_saves_done(&mut c);
    assert_eq!(
        info_field(&mut c, "rdb_changes_since_last_save").unwrap_or_default(),
        "0"
    );
    assert_eq!(
        run(&mut c, "CONFIG GET save"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"save".to_vec())),
            Resp::Bulk(Some(b"1 3".to_vec())),
        ]))
    );
    assert!(run(&mut c, "CONFIG SET save \"1 2 3\"").is_error());
    assert_eq!(
        run(&mut c, "CONFIG SET save \"\""),
        Resp::Simple(b"OK".to_vec())
    );
    kill9(p);
    let p = start(dir.path(), &["--appendonly", "no"]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        run(&mut c, "MGET a b c"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"1".to_vec())),
            Resp::Bulk(Some(b"2".to_vec())),
            Resp::Bulk(Some(b"3".to_vec())),
        ]))
    );
}

/// Waits (bounded) until no background save or rewrite runs.
fn wait_saves_done(c: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "rdb_bgsave_in_progress").unwrap_or_default() != "0"
        || info_field(c, "aof_rewrite_in_progress").unwrap_or_default() != "0"
        || info_field(c, "aof_rewrite_scheduled").unwrap_or_default() != "0"
    {
        assert!(
            Instant::now() < deadline,
            "a background save never finished"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn int_of(r: Resp) -> i64 {
    match r {
        Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse().unwrap(),
        Resp::Bulk(None) => 0,
        Resp::Int(n) => n,
        other => panic!("expected a number, got {}", other.render()),
    }
}

/// Several clients append consecutive numbers to their own lists under `always`; the server
/// is killed at varying moments, some during a BGSAVE or BGREWRITEAOF, and restarted on the
/// same directory, round after round. After every restart each list must be exactly 1..n
/// with n at least the last acknowledged number and at most one more: a per-client prefix
/// of what was issued, with no holes and no value never written.
#[test]
fn kill_9_rounds_during_snapshots_keep_a_prefix_of_every_client() {
    kill_9_rounds(false);
}

/// The same rounds with the cold tier on, a memory limit just above what the server uses at
/// start (so the lists and the padding keep spilling) and a thread moving every key to the
/// cold tier every few milliseconds: tiering must not change what a crash loses.
#[test]
fn kill_9_rounds_with_keys_moving_between_tiers_keep_a_prefix_of_every_client() {
    kill_9_rounds(true);
}

fn kill_9_rounds(tiered: bool) {
    const WRITERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut next = [1i64; WRITERS];
    let mut acked = [0i64; WRITERS];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..8 {
        let mut args = vec!["--appendfsync", "always"];
        if tiered {
            args.extend([
                "--cold-tier",
                "yes",
                "--enable-debug-command",
                "yes",
                "--maxmemory-policy",
                "allkeys-lru",
            ]);
        }
        let p = start(dir.path(), &args);
        let mut c = RawClient::connect(p.port);
        if tiered {
            let used: u64 = info_field(&mut c, "used_memory")
                .unwrap_or_default()
                .parse()
                .unwrap();
            run(
                &mut c,
                &format!("CONFIG SET maxmemory {}", used + 256 * 1024),
            );
        }
        for w in 0..WRITERS {
            let items = match run(&mut c, &format!("LRANGE q:{w} 0 -1")) {
                Resp::Array(Some(items)) => items,
                other => panic!("LRANGE answered {}", other.render()),
            };
            let got: Vec<i64> = items.into_iter().map(int_of).collect();
            let n = got.len() as i64;
            assert_eq!(
                got,
                (1..=n).collect::<Vec<_>>(),
                "round {round} writer {w}: not a prefix; log:\n{}",
                log(dir.path())
            );
            assert!(
                n >= acked[w] && n <= acked[w] + 1,
                "round {round} writer {w}: acknowledged {}, recovered {n}",
                acked[w]
            );
            next[w] = n + 1;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let stop = stop.clone();
                let port = p.port;
                let mut i = next[w];
                thread::spawn(move || {
                    let mut c = RawClient::connect(port);
                    let key = format!("q:{w}");
                    let mut last = i - 1;
                    while !stop.load(Ordering::Relaxed) {
                        let v = i.to_string();
                        match c.try_cmd(&[b"RPUSH", key.as_bytes(), v.as_bytes()]) {
                            Ok(Resp::Int(_)) => last = i,
                            _ => break,
                        }
                        i += 1;
                    }
                    last
                })
            })
            .collect();
        let spiller = tiered.then(|| {
            let stop = stop.clone();
            let port = p.port;
            thread::spawn(move || {
                let mut c = RawClient::connect(port);
                while !stop.load(Ordering::Relaxed) {
                    if c.try_cmd(&[b"DEBUG", b"TIER", b"SPILL-ALL"]).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(3));
                }
            })
        });
        // Some bulk so a snapshot takes a moment, then a snapshot of one kind or the other
        // (or none), and the kill at a varying moment after it.
        for i in 0..500 {
            run(&mut c, &format!("SET pad:{round}:{i} {}", "x".repeat(100)));
        }
        match rand(3) {
            0 => assert!(!run(&mut c, "BGSAVE").is_error()),
            1 => assert!(!run(&mut c, "BGREWRITEAOF").is_error()),
            _ => {}
        }
        thread::sleep(Duration::from_millis(rand(200)));
        if tiered {
            let spills: u64 = info_field(&mut c, "spills")
                .unwrap_or_default()
                .parse()
                .unwrap();
            assert!(spills > 0, "round {round}: nothing was spilled");
        }
        kill9(p);
        stop.store(true, Ordering::Relaxed);
        for (w, t) in writers.into_iter().enumerate() {
            acked[w] = t.join().unwrap();
        }
        if let Some(t) = spiller {
            t.join().unwrap();
        }
    }
    assert!(
        acked.iter().all(|&a| a > 0),
        "the writers never got going: {acked:?}"
    );
}

/// `CONFIG SET appendonly yes` on a server started without the log: the log is opened and
/// rewritten at once, so after a kill -9 everything written before and after comes back.
/// Turning it off flushes it; a SAVE with the log off removes the stale segments.
#[test]
fn appendonly_turns_on_and_off_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendonly", "no", "--save", ""]);
    let mut c = RawClient::connect(p.port);
    run(&mut c, "SET before on");
    assert_eq!(info_field(&mut c, "aof_enabled").unwrap_or_default(), "0");
    assert!(wal_segments(dir.path()).is_empty());
    assert_eq!(
        run(&mut c, "CONFIG SET appendonly yes"),
        Resp::Simple(b"OK".to_vec())
    );
    assert_eq!(info_field(&mut c, "aof_enabled").unwrap_or_default(), "1");
    wait_saves_done(&mut c);
    assert_eq!(info_field(&mut c, "aof_rewrites").unwrap_or_default(), "1");
    run(&mut c, "SET after on");
    kill9(p);
    // Started with the log on (as CONFIG REWRITE would have recorded it).
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        run(&mut c, "MGET before after"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"on".to_vec())),
            Resp::Bulk(Some(b"on".to_vec())),
        ]))
    );
    assert_eq!(
        run(&mut c, "CONFIG SET appendonly no"),
        Resp::Simple(b"OK".to_vec())
    );
    assert_eq!(info_field(&mut c, "aof_enabled").unwrap_or_default(), "0");
    run(&mut c, "SET unlogged 1");
    assert!(!wal_segments(dir.path()).is_empty());
    assert_eq!(run(&mut c, "SAVE"), Resp::Simple(b"OK".to_vec()));
    assert!(
        wal_segments(dir.path()).is_empty(),
        "the stale log outlived a snapshot taken with the log off"
    );
    // On again: numbering continues after the snapshot, so its records are all replayed.
    run(&mut c, "CONFIG SET appendonly yes");
    wait_saves_done(&mut c);
    run(&mut c, "SET last 1");
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "DBSIZE"), Resp::Int(4));
    assert_eq!(run(&mut c, "GET last"), Resp::Bulk(Some(b"1".to_vec())));
}

/// `auto-aof-rewrite-percentage` and `-min-size`: once the log outgrows the last snapshot by
/// the percentage, a rewrite starts on its own and the log shrinks.
#[test]
fn the_log_is_rewritten_when_it_outgrows_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(
        dir.path(),
        &[
            "--save",
            "",
            "--auto-aof-rewrite-percentage",
            "100",
            "--auto-aof-rewrite-min-size",
            "64kb",
        ],
    );
    let mut c = RawClient::connect(p.port);
    let value = "v".repeat(200);
    // ~100 KB of log over one key set: more than the minimum, and no snapshot yet.
    for round in 0..5 {
        for i in 0..100 {
            run(&mut c, &format!("SET k:{i} {round}{value}"));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "aof_rewrites").unwrap_or_default() == "0" {
        assert!(
            Instant::now() < deadline,
            "no automatic rewrite; INFO aof_current_size {}",
            info_field(&mut c, "aof_current_size").unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(20));
    }
    wait_saves_done(&mut c);
    let base: u64 = info_field(&mut c, "aof_base_size")
        .unwrap_or_default()
        .parse()
        .unwrap();
    let current: u64 = info_field(&mut c, "aof_current_size")
        .unwrap_or_default()
        .parse()
        .unwrap();
    assert!(
        base > 0 && current < 2 * base,
        "base {base}, current {current}"
    );
    // Below the growth threshold nothing more happens.
    run(&mut c, "SET small 1");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut c, "aof_rewrites").unwrap_or_default(), "1");
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "DBSIZE"), Resp::Int(101));
    assert_eq!(
        run(&mut c, "GET k:7"),
        Resp::Bulk(Some(format!("4{value}").into_bytes()))
    );
}

/// A log that cannot be written (here the file-size limit, `ulimit -f`, with SIGXFSZ
/// ignored, so writes fail with EFBIG as on a full disk) stops writes with -MISCONF while
/// reads go on; under `always` nothing unsynced is acknowledged, and a restart without the
/// limit recovers every acknowledged write.
#[test]
fn a_failing_log_stops_writes_with_misconf() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_in(
        dir.path(),
        &["--appendfsync", "always"],
        Some("trap '' XFSZ; ulimit -f 64"),
    );
    let mut c = RawClient::connect(p.port);
    let value = "v".repeat(100);
    let mut acked = 0;
    let mut refused = None;
    for i in 1..10_000 {
        match c.try_cmd(&[b"SET", format!("k:{i}").as_bytes(), value.as_bytes()]) {
            Ok(Resp::Simple(_)) => acked = i,
            Ok(other) => {
                refused = Some(other.render());
                break;
            }
            Err(_) => break,
        }
    }
    assert!(acked > 100, "only {acked} writes before the failure");
    assert!(acked < 9_999, "the log never failed");
    if let Some(r) = refused {
        assert!(r.contains("MISCONF"), "refused with {r}");
    }
    let mut c = RawClient::connect(p.port);
    let r = run(&mut c, "SET after failure");
    assert!(
        r.is_error()
            && r.render()
                .contains("MISCONF Errors writing to the AOF file"),
        "{}",
        r.render()
    );
    assert_eq!(
        run(&mut c, "GET k:1"),
        Resp::Bulk(Some(value.clone().into_bytes()))
    );
    assert_eq!(
        info_field(&mut c, "aof_last_write_status").unwrap_or_default(),
        "err"
    );
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    let n = int_of(run(&mut c, "DBSIZE"));
    assert!(
        n >= acked && n <= acked + 1,
        "acknowledged {acked}, recovered {n}; log:\n{}",
        log(dir.path())
    );
    assert_eq!(run(&mut c, "EXISTS after"), Resp::Int(0));
}

/// Everything about a stream that a client can see, times included (XINFO STREAM FULL shows
/// delivery and seen times as absolute unix milliseconds).
fn stream_probe(c: &mut RawClient, key: &str) -> Vec<Resp> {
    let replies = vec![
        run(c, &format!("XINFO STREAM {key} FULL COUNT 0")),
        run(c, &format!("XINFO GROUPS {key}")),
        run(c, &format!("XRANGE {key} - +")),
        run(c, &format!("XPENDING {key} g1")),
        run(c, &format!("TYPE {key}")),
    ];
    for r in &replies {
        assert!(!matches!(r, Resp::Error(_)), "probe failed: {}", r.render());
    }
    replies
}

/// Builds a stream with deleted and trimmed entries, two groups, consumers, pending entries
/// (delivered, redelivered, claimed, acknowledged) and counters set by XSETID.
fn build_stream(c: &mut RawClient, key: &str) {
    for i in 1..=250 {
        run(c, &format!("XADD {key} {i}-0 n {i} pad p{i}"));
    }
    for line in [
        "XADD {k} 251-0 other field",
        "XDEL {k} 3-0 100-0 200-0",
        "XTRIM {k} MAXLEN 240",
        "XGROUP CREATE {k} g1 0",
        "XGROUP CREATE {k} g2 $ ENTRIESREAD 7",
        "XREADGROUP GROUP g1 alice COUNT 5 STREAMS {k} >",
        "XREADGROUP GROUP g1 bob COUNT 3 STREAMS {k} >",
        "XREADGROUP GROUP g1 alice STREAMS {k} 0",
        "XACK {k} g1 12-0",
        "XCLAIM {k} g1 carol 0 13-0 RETRYCOUNT 9 JUSTID",
        "XAUTOCLAIM {k} g1 dave 0 0 COUNT 1",
        "XGROUP CREATECONSUMER {k} g2 erin",
        "XREADGROUP GROUP g1 frank NOACK COUNT 2 STREAMS {k} >",
        "XGROUP DELCONSUMER {k} g1 bob",
        "XSETID {k} 300-0 ENTRIESADDED 400 MAXDELETEDID 250-0",
    ] {
        let line = line.replace("{k}", key);
        assert!(!matches!(run(c, &line), Resp::Error(_)), "{line} failed");
    }
}

#[test]
fn stream_groups_survive_kill_9_and_snapshots_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    build_stream(&mut c, "jobs");
    // An empty stream with a group (MKSTREAM) persists too.
    run(&mut c, "XGROUP CREATE empty g1 $ MKSTREAM");
    let before = stream_probe(&mut c, "jobs");
    let empty = stream_probe(&mut c, "empty");
    // From the log alone.
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        stream_probe(&mut c, "jobs"),
        before,
        "log:\n{}",
        log(dir.path())
    );
    assert_eq!(stream_probe(&mut c, "empty"), empty);
    // From a snapshot (the log it covers is dropped), then a log written after it.
    assert_eq!(run(&mut c, "SAVE"), Resp::Simple(b"OK".to_vec()));
    run(&mut c, "BGREWRITEAOF");
    wait_saves_done(&mut c);
    run(&mut c, "XADD jobs 301-0 after snapshot");
    run(&mut c, "XREADGROUP GROUP g2 erin STREAMS jobs >");
    let after = stream_probe(&mut c, "jobs");
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        stream_probe(&mut c, "jobs"),
        after,
        "log:\n{}",
        log(dir.path())
    );
    assert_eq!(stream_probe(&mut c, "empty"), empty);
    drop(p);
}

#[test]
fn function_libraries_survive_restarts_and_round_trip_through_dump() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path(), &["--appendfsync", "always"]);
    let mut c = RawClient::connect(p.port);
    let lib = |name: &str, f: &str, body: &str| {
        format!("FUNCTION LOAD \"#!lua name={name}\\nredis.register_function('{f}', function(keys, args) {body} end)\"")
    };
    for line in [
        lib("counter", "bump", "return redis.call('INCR', keys[1])"),
        lib("gone", "old", "return 1"),
        "FUNCTION DELETE gone".to_string(),
    ] {
        assert!(!run(&mut c, &line).is_error(), "{line}");
    }
    assert_eq!(run(&mut c, "FCALL bump 1 n"), Resp::Int(1));
    // From the log.
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(
        run(&mut c, "FCALL bump 1 n"),
        Resp::Int(2),
        "log:\n{}",
        log(dir.path())
    );
    assert!(run(&mut c, "FCALL old 0").is_error());
    // From a snapshot.
    run(&mut c, "BGREWRITEAOF");
    wait_saves_done(&mut c);
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "FCALL bump 1 n"), Resp::Int(3));
    // DUMP, FLUSH, RESTORE.
    let dump = match run(&mut c, "FUNCTION DUMP") {
        Resp::Bulk(Some(b)) => b,
        other => panic!("DUMP answered {}", other.render()),
    };
    assert_eq!(run(&mut c, "FUNCTION FLUSH"), Resp::Simple(b"OK".to_vec()));
    assert!(run(&mut c, "FCALL bump 1 n").is_error());
    let restored = c.cmd(&[b"FUNCTION", b"RESTORE", &dump]);
    assert_eq!(restored, Resp::Simple(b"OK".to_vec()));
    let again = c.cmd(&[b"FUNCTION", b"RESTORE", &dump]);
    assert!(again.is_error(), "APPEND onto the same library must fail");
    assert_eq!(
        c.cmd(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]),
        Resp::Simple(b"OK".to_vec())
    );
    let mut bad = dump.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(c.cmd(&[b"FUNCTION", b"RESTORE", &bad]).is_error());
    assert_eq!(run(&mut c, "FCALL bump 1 n"), Resp::Int(4));
    kill9(p);
    let p = start(dir.path(), &[]);
    let mut c = RawClient::connect(p.port);
    assert_eq!(run(&mut c, "FCALL bump 1 n"), Resp::Int(5));
    drop(p);
}
