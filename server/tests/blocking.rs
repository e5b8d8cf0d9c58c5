//! Blocking list and sorted-set commands against redis-server: the same multi-connection
//! scenario (wake-ups by pushes, FIFO order among waiters, timeouts, MULTI/EXEC and scripts
//! as wakers and as non-blocking contexts, CLIENT UNBLOCK, disconnects, errors) runs on both
//! servers and every reply must match.

mod common;

use std::time::{Duration, Instant};

use common::{run, RawClient, Resp, Server};

fn info_int(c: &mut RawClient, field: &str) -> i64 {
    let text = match run(c, "INFO clients") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO answered {}", other.render()),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

/// Waits (bounded) until `n` clients are blocked.
fn until_blocked(c: &mut RawClient, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_int(c, "blocked_clients") != n {
        assert!(Instant::now() < deadline, "never {n} blocked clients");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |label: &str, r: Resp| out.push(format!("{label}: {}", r.render()));
    let mut c1 = RawClient::connect(port);
    let mut c2 = RawClient::connect(port);
    let mut c3 = RawClient::connect(port);

    log("timeout", run(&mut c1, "BLPOP none1 none2 0.05"));

    c1.send_raw(b"BLPOP q 5\r\n");
    until_blocked(&mut c2, 1);
    log("push", run(&mut c2, "RPUSH q a b"));
    log("woken", c1.read_reply());
    log("left", run(&mut c2, "LRANGE q 0 -1"));

    // First come, first served.
    c1.send_raw(b"BRPOP f 5\r\n");
    until_blocked(&mut c2, 1);
    c3.send_raw(b"BRPOP f 5\r\n");
    until_blocked(&mut c2, 2);
    log("push x", run(&mut c2, "RPUSH f x"));
    log("first", c1.read_reply());
    log("push y", run(&mut c2, "RPUSH f y"));
    log("second", c3.read_reply());

    // Two elements at once serve two waiters.
    c1.send_raw(b"BLPOP two 5\r\n");
    until_blocked(&mut c2, 1);
    c3.send_raw(b"BLPOP two 5\r\n");
    until_blocked(&mut c2, 2);
    log("push two", run(&mut c2, "RPUSH two 1 2"));
    log("c1", c1.read_reply());
    log("c3", c3.read_reply());

    c1.send_raw(b"BRPOPLPUSH src dst 5\r\n");
    until_blocked(&mut c2, 1);
    log("lpush src", run(&mut c2, "LPUSH src v"));
    log("moved", c1.read_reply());
    log("dst", run(&mut c2, "LRANGE dst 0 -1"));
    log(
        "blmove timeout",
        run(&mut c1, "BLMOVE src dst LEFT RIGHT 0.05"),
    );

    c1.send_raw(b"BLMPOP 5 2 a b LEFT COUNT 2\r\n");
    until_blocked(&mut c2, 1);
    log("rpush b", run(&mut c2, "RPUSH b 1 2 3"));
    log("blmpop", c1.read_reply());

    c1.send_raw(b"BZPOPMIN z 5\r\n");
    until_blocked(&mut c2, 1);
    log("zadd", run(&mut c2, "ZADD z 1.5 m"));
    log("bzpopmin", c1.read_reply());
    c1.send_raw(b"BZMPOP 5 1 z2 MAX\r\n");
    until_blocked(&mut c2, 1);
    log("zadd z2", run(&mut c2, "ZADD z2 2 n 3 o"));
    log("bzmpop", c1.read_reply());
    log("bzpopmax ready", run(&mut c2, "BZPOPMAX z2 1"));

    // Inside MULTI a blocking command does not block.
    run(&mut c1, "MULTI");
    run(&mut c1, "BLPOP emptyq 0");
    log("exec", run(&mut c1, "EXEC"));

    // A transaction and a script wake waiters.
    c1.send_raw(b"BLPOP m 5\r\n");
    until_blocked(&mut c2, 1);
    run(&mut c2, "MULTI");
    run(&mut c2, "RPUSH m z");
    log("exec push", run(&mut c2, "EXEC"));
    log("woken by exec", c1.read_reply());
    c1.send_raw(b"BLPOP s2 5\r\n");
    until_blocked(&mut c2, 1);
    log(
        "script push",
        run(&mut c2, "EVAL \"return redis.call('rpush', 's2', 'q')\" 0"),
    );
    log("woken by script", c1.read_reply());
    log(
        "blpop in script",
        run(
            &mut c2,
            "EVAL \"return redis.call('blpop', 'nothing', 0)\" 0",
        ),
    );

    // Data arriving in another database: MOVE, COPY ... DB, SWAPDB.
    run(&mut c1, "SELECT 1");
    c1.send_raw(b"BLPOP mv cp 5\r\n");
    until_blocked(&mut c2, 1);
    run(&mut c2, "RPUSH mv a");
    log("move", run(&mut c2, "MOVE mv 1"));
    log("woken by move", c1.read_reply());
    c1.send_raw(b"BLPOP mv cp 5\r\n");
    until_blocked(&mut c2, 1);
    run(&mut c2, "RPUSH cp b");
    log("copy", run(&mut c2, "COPY cp cp DB 1"));
    log("woken by copy", c1.read_reply());
    run(&mut c1, "SELECT 2");
    c1.send_raw(b"BLPOP sw 5\r\n");
    until_blocked(&mut c2, 1);
    run(&mut c2, "RPUSH sw c");
    log("swapdb", run(&mut c2, "SWAPDB 0 2"));
    log("woken by swapdb", c1.read_reply());
    log("swap back", run(&mut c2, "SWAPDB 0 2"));
    run(&mut c1, "SELECT 0");

    // CLIENT UNBLOCK.
    let id = match run(&mut c1, "CLIENT ID") {
        Resp::Int(n) => n,
        other => panic!("CLIENT ID answered {}", other.render()),
    };
    c1.send_raw(b"BLPOP u 0\r\n");
    until_blocked(&mut c2, 1);
    log(
        "unblock error",
        run(&mut c2, &format!("CLIENT UNBLOCK {id} ERROR")),
    );
    log("unblocked", c1.read_reply());
    c1.send_raw(b"BLPOP u 0\r\n");
    until_blocked(&mut c2, 1);
    log(
        "unblock timeout",
        run(&mut c2, &format!("CLIENT UNBLOCK {id}")),
    );
    log("timed out", c1.read_reply());
    log("unblock nobody", run(&mut c2, "CLIENT UNBLOCK 999999"));
    log(
        "unblock bad",
        run(&mut c2, &format!("CLIENT UNBLOCK {id} LATER")),
    );

    // A client that disconnects while blocked takes nothing.
    let mut gone = RawClient::connect(port);
    gone.send_raw(b"BLPOP d 0\r\n");
    until_blocked(&mut c2, 1);
    drop(gone);
    until_blocked(&mut c2, 0);
    log("push after disconnect", run(&mut c2, "RPUSH d 1"));
    log("still there", run(&mut c2, "LLEN d"));

    // Errors.
    run(&mut c2, "SET str x");
    for line in [
        "BLPOP k notanumber",
        "BLPOP k -1",
        "BLPOP k inf",
        "BLPOP str 1",
        "BLPOP",
        "BLMPOP 1 0 a LEFT",
        "BLMPOP 1 1 a UP",
        "BZMPOP 1 1 z MIDDLE",
        "BLMOVE a b UP DOWN 1",
    ] {
        log(line, run(&mut c2, line));
    }
    out
}

#[test]
fn blocking_commands_match_redis() {
    let strata = Server::strata(&[]);
    let got = scenario(strata.port);
    let Some(redis) = Server::redis(&[]) else {
        eprintln!("redis-server not installed: checked strata alone");
        return;
    };
    let want = scenario(redis.port);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w, "strata differs from redis-server");
    }
    assert_eq!(got.len(), want.len());
}

/// XREAD and XREADGROUP with BLOCK: `$` means entries added after the call, every XREAD
/// waiter sees a new entry while XREADGROUP waiters share them, MULTI and scripts wake
/// readers, and a blocked group reader learns that its group or stream went away.
fn stream_scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |label: &str, r: Resp| out.push(format!("{label}: {}", r.render()));
    let mut c1 = RawClient::connect(port);
    let mut c2 = RawClient::connect(port);
    let mut c3 = RawClient::connect(port);

    log("timeout", run(&mut c1, "XREAD BLOCK 50 STREAMS none $"));

    c1.send_raw(b"XREAD BLOCK 5000 STREAMS s $\r\n");
    until_blocked(&mut c2, 1);
    log("add", run(&mut c2, "XADD s 1-0 a 1"));
    log("woken", c1.read_reply());

    // Every XREAD waiter gets the entry.
    c1.send_raw(b"XREAD BLOCK 5000 STREAMS s $\r\n");
    until_blocked(&mut c2, 1);
    c3.send_raw(b"XREAD BLOCK 5000 STREAMS s $\r\n");
    until_blocked(&mut c2, 2);
    log("add 2", run(&mut c2, "XADD s 2-0 a 2"));
    log("first reader", c1.read_reply());
    log("second reader", c3.read_reply());

    // An explicit ID; writes to other keys do not end the wait.
    c1.send_raw(b"XREAD BLOCK 5000 STREAMS s 2-0\r\n");
    until_blocked(&mut c2, 1);
    log("other key", run(&mut c2, "SET other 1"));
    log("add 3", run(&mut c2, "XADD s 3-0 a 3"));
    log("after 2-0", c1.read_reply());

    // `$` on two streams, one of them missing.
    c1.send_raw(b"XREAD COUNT 5 BLOCK 5000 STREAMS s nosuch $ $\r\n");
    until_blocked(&mut c2, 1);
    log("create", run(&mut c2, "XADD nosuch 7-0 n 1"));
    log("new stream", c1.read_reply());

    // Consumer groups: waiters share the entries, first come first served.
    log("group", run(&mut c2, "XGROUP CREATE s g $"));
    c1.send_raw(b"XREADGROUP GROUP g alice BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 1);
    c3.send_raw(b"XREADGROUP GROUP g bob BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 2);
    log("add 4", run(&mut c2, "XADD s 4-0 a 4"));
    log("alice", c1.read_reply());
    log("add 5", run(&mut c2, "XADD s 5-0 a 5"));
    log("bob", c3.read_reply());
    log("pending", run(&mut c2, "XPENDING s g"));

    // A transaction adding two entries serves a COUNT 2 reader at once; a script wakes too.
    c1.send_raw(b"XREADGROUP GROUP g alice COUNT 2 BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 1);
    run(&mut c2, "MULTI");
    run(&mut c2, "XADD s 6-0 a 6");
    run(&mut c2, "XADD s 7-0 a 7");
    log("exec", run(&mut c2, "EXEC"));
    log("two at once", c1.read_reply());
    c1.send_raw(b"XREAD BLOCK 5000 STREAMS s $\r\n");
    until_blocked(&mut c2, 1);
    log(
        "script",
        run(
            &mut c2,
            "EVAL \"return redis.call('XADD', KEYS[1], '8-0', 'a', '8')\" 1 s",
        ),
    );
    log("woken by script", c1.read_reply());

    // Timeouts create no consumer; NOACK readers leave nothing pending.
    log(
        "group timeout",
        run(&mut c1, "XREADGROUP GROUP g carol BLOCK 50 STREAMS s >"),
    );
    log("consumers", run(&mut c2, "XINFO GROUPS s"));
    c1.send_raw(b"XREADGROUP GROUP g dave NOACK BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 1);
    log("add 9", run(&mut c2, "XADD s 9-0 a 9"));
    log("noack", c1.read_reply());
    log("pending after noack", run(&mut c2, "XPENDING s g"));

    // The group or the stream goes away under a blocked reader.
    c1.send_raw(b"XREADGROUP GROUP g alice BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 1);
    log("destroy", run(&mut c2, "XGROUP DESTROY s g"));
    log("group gone", c1.read_reply());
    run(&mut c2, "XGROUP CREATE s g $");
    c1.send_raw(b"XREADGROUP GROUP g alice BLOCK 5000 STREAMS s >\r\n");
    until_blocked(&mut c2, 1);
    log("del", run(&mut c2, "DEL s"));
    log("stream gone", c1.read_reply());

    // CLIENT UNBLOCK, and no blocking inside MULTI.
    let id = match run(&mut c1, "CLIENT ID") {
        Resp::Int(i) => i,
        other => panic!("CLIENT ID answered {}", other.render()),
    };
    c1.send_raw(b"XREAD BLOCK 0 STREAMS s $\r\n");
    until_blocked(&mut c2, 1);
    log(
        "unblock",
        run(&mut c2, &format!("CLIENT UNBLOCK {id} TIMEOUT")),
    );
    log("unblocked", c1.read_reply());
    run(&mut c1, "MULTI");
    run(&mut c1, "XREAD BLOCK 0 STREAMS s $");
    log("in multi", run(&mut c1, "EXEC"));
    out
}

#[test]
fn blocking_stream_reads_match_redis() {
    let strata = Server::strata(&[]);
    let got = stream_scenario(strata.port);
    let Some(redis) = Server::redis(&[]) else {
        eprintln!("redis-server not installed: checked strata alone");
        return;
    };
    let want = stream_scenario(redis.port);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w, "strata differs from redis-server");
    }
    assert_eq!(got.len(), want.len());
}
