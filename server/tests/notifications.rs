//! Keyspace notifications against redis-server: a subscriber on `__key*@*__:*` records what
//! every command of one scenario publishes (events for every type, the generic ones,
//! expirations, key misses and new keys, the class filters), on both servers; every message
//! must be the same, in the same order.

mod common;

use std::time::Duration;

use common::{run, RawClient, Resp, Server};

/// Everything the subscriber received up to now: it sends PING and collects the messages
/// that arrive before the pong (the commands they belong to have already been answered).
fn drain(sub: &mut RawClient) -> Vec<String> {
    sub.send_raw(b"PING\r\n");
    let mut got = Vec::new();
    loop {
        let r = sub.read_reply();
        if let Resp::Array(Some(items)) = &r {
            if items.len() == 2 && items[0] == Resp::Bulk(Some(b"pong".to_vec())) {
                return got;
            }
        }
        got.push(r.render());
    }
}

fn scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = RawClient::connect(port);
    let mut sub = RawClient::connect(port);
    sub.send_raw(b"PSUBSCRIBE __key*@*__:*\r\n");
    sub.read_reply();
    let mut step = |c: &mut RawClient, sub: &mut RawClient, line: &str| {
        if line == "!sleep" {
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        let reply = run(c, line);
        out.push(format!("{line} -> {}", reply.render()));
        for m in drain(sub) {
            out.push(format!("    {m}"));
        }
    };
    for line in [
        "CONFIG SET notify-keyspace-events q",
        "CONFIG SET notify-keyspace-events KEA",
        "CONFIG GET notify-keyspace-events",
        // strings
        "SET s v",
        "SET s v EX 100",
        "SETEX s2 100 v",
        "MSET m1 1 m2 2",
        "INCR m1",
        "DECRBY m1 5",
        "INCRBYFLOAT m2 1.5",
        "APPEND s more",
        "SETRANGE s 1 xx",
        "SETBIT bits 3 1",
        "GETDEL s2",
        "GETEX s PERSIST",
        "GETEX s EX 50",
        "SET s v KEEPTTL",
        "SETNX s other",
        // generic
        "EXPIRE s 100",
        "PEXPIRE s 0",
        "PERSIST m1",
        "EXPIRE m1 100",
        "PERSIST m1",
        "RENAME m1 renamed",
        "COPY renamed copied",
        "MOVE copied 1",
        "DEL renamed nokey m2",
        "UNLINK bits",
        // lists
        "RPUSH l a b c",
        "LPUSH l z",
        "LPOP l",
        "RPOP l 2",
        "LSET l 0 x",
        "LINSERT l BEFORE x w",
        "LREM l 0 w",
        "LTRIM l 0 0",
        "LMOVE l l2 LEFT RIGHT",
        "RPOPLPUSH l2 l3",
        "LPUSHX nolist a",
        // sets
        "SADD st a b c",
        "SADD st a",
        "SREM st a",
        "SADD sp only",
        "SPOP sp",
        "SMOVE st st2 b",
        "SMOVE st st2 c",
        "SADD st3 x",
        "SINTERSTORE dst st2 st3",
        "SUNIONSTORE dst st2 st3",
        // hashes
        "HSET h f v g w",
        "HSETNX h f x",
        "HINCRBY h n 2",
        "HINCRBYFLOAT h fl 1.5",
        "HDEL h f g n fl",
        // sorted sets
        "ZADD z 1 a 2 b 3 c",
        "ZINCRBY z 5 a",
        "ZADD z INCR 1 b",
        "ZREM z c",
        "ZPOPMIN z",
        "ZADD z 1 x 2 y",
        "ZREMRANGEBYSCORE z 0 1",
        "ZREMRANGEBYRANK z 0 0",
        "ZUNIONSTORE zu 1 z",
        "ZRANGESTORE zr z 0 -1",
        // streams
        "XADD x 1-0 f v",
        "XADD x MAXLEN 1 2-0 f v",
        "XDEL x 2-0",
        "XSETID x 5-0",
        "XGROUP CREATE x g 0",
        "XGROUP CREATECONSUMER x g alice",
        "XGROUP SETID x g 0",
        "XGROUP DELCONSUMER x g alice",
        "XADD x 6-0 f v",
        "XREADGROUP GROUP g reader STREAMS x >",
        "XREADGROUP GROUP g reader STREAMS x 0",
        "XREADGROUP GROUP g historian STREAMS x 0",
        "XCLAIM x g claimer 0 6-0 JUSTID",
        "XAUTOCLAIM x g autoclaimer 0 0 JUSTID",
        "XAUTOCLAIM x g nobody 3600000 0 JUSTID",
        "XGROUP DESTROY x g",
        "XGROUP CREATE nx g $ MKSTREAM",
        "XTRIM x MAXLEN 0",
        // transactions and scripts publish per command
        "MULTI",
        "SET t1 a",
        "INCR t2",
        "EXEC",
        "EVAL \"redis.call('SET', KEYS[1], 'x'); return redis.call('DEL', KEYS[1])\" 1 sc",
        // expiry (lazily, when read)
        // One key at a time: active expiry may take it before the read does, and then the
        // order of two expirations would be the table's.
        "SET soon v PX 20",
        "!sleep",
        "GET soon",
        "HSET hsoon f v",
        "PEXPIRE hsoon 20",
        "!sleep",
        "EXISTS hsoon",
        // classes: only lists, key events only
        "CONFIG SET notify-keyspace-events El",
        "CONFIG GET notify-keyspace-events",
        "SET ignored 1",
        "RPUSH onlylists a",
        // key misses and new keys
        "CONFIG SET notify-keyspace-events Kmn",
        "CONFIG GET notify-keyspace-events",
        "GET missing",
        "SET brandnew 1",
        "SET brandnew 2",
        "CONFIG SET notify-keyspace-events Ex",
        "CONFIG GET notify-keyspace-events",
        "CONFIG SET notify-keyspace-events \"\"",
        "SET quiet 1",
    ] {
        step(&mut c, &mut sub, line);
    }
    out
}

#[test]
fn notifications_match_redis() {
    let strata = Server::strata(&[]);
    let got = scenario(strata.port);
    let Some(redis) = Server::redis(&[]) else {
        eprintln!("redis-server not installed: checked strata alone");
        return;
    };
    let want = scenario(redis.port);
    let mut diffs = Vec::new();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if w != g {
            diffs.push(format!("line {i}\n  redis:  {w}\n  strata: {g}"));
        }
    }
    assert!(
        diffs.is_empty() && got.len() == want.len(),
        "{} differences:\n{}\n\nredis:\n{}\n\nstrata:\n{}",
        diffs.len(),
        diffs.join("\n"),
        want.join("\n"),
        got.join("\n")
    );
}

/// Eviction publishes `evicted` (redis-server's memory figures differ from Strata's, so how
/// many keys go is not compared; that each eviction is announced is).
#[test]
fn evictions_are_announced() {
    let strata = Server::strata(&[]);
    let mut c = RawClient::connect(strata.port);
    let mut sub = RawClient::connect(strata.port);
    sub.send_raw(b"SUBSCRIBE __keyevent@0__:evicted\r\n");
    sub.read_reply();
    run(&mut c, "CONFIG SET notify-keyspace-events Ee");
    run(&mut c, "CONFIG SET maxmemory-policy allkeys-random");
    let used = match run(&mut c, "INFO memory") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("used_memory"),
        other => panic!("INFO answered {}", other.render()),
    };
    run(&mut c, &format!("CONFIG SET maxmemory {}", used + 200_000));
    let value = "x".repeat(1000);
    for i in 0..2000 {
        run(&mut c, &format!("SET k{i} {value}"));
    }
    // No limit before counting: no eviction can happen between the count and the messages.
    run(&mut c, "CONFIG SET maxmemory 0");
    let evicted = match run(&mut c, "INFO stats") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| {
                l.strip_prefix("evicted_keys:")
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| v.parse::<u64>().ok())
            .expect("evicted_keys"),
        other => panic!("INFO answered {}", other.render()),
    };
    assert!(evicted > 0, "nothing was evicted");
    let messages: Vec<String> = drain(&mut sub)
        .into_iter()
        .filter(|m| m.contains("evicted"))
        .collect();
    assert_eq!(
        messages.len() as u64,
        evicted,
        "{} messages",
        messages.len()
    );
}
