//! Lua scripting against redis-server: every reply of a list of EVAL/EVALSHA/SCRIPT calls
//! (conversions both ways, errors with their script and line, read-only scripts, the script
//! cache, KEYS/ARGV) must be byte-identical. Then a script's writes as one logged record.

mod common;

use common::{run, Resp, Server};

const CASES: &[&str] = &[
    "SET k v",
    "EVAL \"return redis.call('set', KEYS[1], ARGV[1])\" 1 s hello",
    "EVAL \"return redis.call('get', KEYS[1])\" 1 s",
    "EVAL \"return {1, 2.9, 'x', false, true, {ok='FINE'}, nil, 5}\" 0",
    "EVAL \"return {1, {2, {3, 'deep'}}}\" 0",
    "EVAL \"return 3.99\" 0",
    "EVAL \"return -2.5\" 0",
    "EVAL \"return true\" 0",
    "EVAL \"return false\" 0",
    "EVAL \"return nil\" 0",
    "EVAL \"return 'str'\" 0",
    "EVAL \"return {err='custom failure'}\" 0",
    "EVAL \"return redis.error_reply('MY bad')\" 0",
    "EVAL \"return redis.status_reply('GOOD')\" 0",
    "EVAL \"return redis.sha1hex('abc')\" 0",
    "EVAL \"return redis.call('incr', KEYS[1])\" 1 k",
    "EVAL \"local a = 1\nreturn redis.call('incr', KEYS[1])\" 1 k",
    "EVAL \"return redis.pcall('incr', KEYS[1])\" 1 k",
    "EVAL \"return redis.call('nosuch')\" 0",
    "EVAL \"return redis.call('get')\" 0",
    "EVAL \"return redis.call('multi')\" 0",
    "EVAL \"return redis.call('get', {})\" 0",
    "EVAL \"return redis.call()\" 0",
    "EVAL \"x = 5\" 0",
    "EVAL \"return undefined_name\" 0",
    "EVAL \"return (\" 0",
    "EVAL \"error('plain')\" 0",
    "EVAL_RO \"return redis.call('set', 'a', 'b')\" 0",
    "EVAL_RO \"return redis.call('get', KEYS[1])\" 1 s",
    "EVAL \"return 1\" -1",
    "EVAL \"return 1\" 2 a",
    "EVAL \"return 1\" notanumber",
    "EVAL \"return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}\" 2 k1 k2 a1 a2",
    "EVAL \"redis.call('del', 'L'); redis.call('rpush', 'L', 'a', 'b', 'c'); return redis.call('lrange', 'L', 0, -1)\" 0",
    "EVAL \"redis.call('hset', 'H', 'f', 'v'); return redis.call('hgetall', 'H')\" 0",
    "EVAL \"redis.call('zadd', 'Z', 1.5, 'm'); return redis.call('zrange', 'Z', 0, -1, 'WITHSCORES')\" 0",
    "EVAL \"return redis.call('incrbyfloat', 'F', 0.1)\" 0",
    "EVAL \"return redis.call('get', 'missing')\" 0",
    "EVAL \"return redis.call('hgetall', 'missing')\" 0",
    "EVAL \"return redis.call('set', 'n', 42)\" 0",
    "EVAL \"return redis.call('get', 'n')\" 0",
    "EVAL \"return redis.call('type', 'n')\" 0",
    "EVAL \"return redis.call('ping')\" 0",
    "EVAL \"redis.call('select', 1); redis.call('set', 'db1key', 'x'); return redis.call('dbsize')\" 0",
    "EXISTS db1key",
    "EVAL \"return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}\" 0",
    "EVAL \"return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8)}\" 0",
    "EVAL \"return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1.5), bit.tobit(2.5), bit.bswap(0x12345678)}\" 0",
    "EVAL \"return {bit.tohex(255), bit.tohex(-1, 4), bit.tohex(0x1234abcd, -8), bit.tohex(1, 2)}\" 0",
    "SCRIPT LOAD \"return 'loaded'\"",
    "EVALSHA 3cb4b7f2d1f4eee4ad6ab3ec3c2b5f06d3b4b2f1 0",
    "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
    "SCRIPT EXISTS ffffffffffffffffffffffffffffffffffffffff",
    "SCRIPT LOAD \"return (\"",
    "SCRIPT FLUSH BAD",
    "SCRIPT FLUSH",
    "SCRIPT NOSUCH",
];

#[test]
fn scripting_matches_redis() {
    let Some(redis) = Server::redis(&[]) else {
        eprintln!("redis-server not installed: skipping the scripting differential test");
        return;
    };
    let strata = Server::strata(&[]);
    let mut r = redis.client();
    let mut s = strata.client();
    // The loaded script's SHA, as both compute it.
    let sha = match run(&mut r, "SCRIPT LOAD \"return 'loaded'\"") {
        Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap(),
        other => panic!("SCRIPT LOAD answered {}", other.render()),
    };
    for case in CASES {
        let line = case.replace("3cb4b7f2d1f4eee4ad6ab3ec3c2b5f06d3b4b2f1", &sha);
        let want = run(&mut r, &line);
        let got = run(&mut s, &line);
        assert_eq!(
            got.render(),
            want.render(),
            "{line}: strata differs from redis-server"
        );
    }
    for line in [
        format!("SCRIPT EXISTS {sha} ffffffffffffffffffffffffffffffffffffffff"),
        format!("EVALSHA {sha} 0"),
        format!("EVALSHA {} 0", sha.to_uppercase()),
    ] {
        assert_eq!(
            run(&mut s, &line).render(),
            run(&mut r, &line).render(),
            "{line}"
        );
    }
}

/// A script's writes are one commit: replayed together after a restart, at the script's
/// clock.
#[test]
fn a_scripts_writes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap().to_string();
    let extra = ["--dir", dir_arg.as_str(), "--appendfsync", "always"];
    let strata = Server::strata(&extra);
    let mut c = strata.client();
    assert_eq!(
        run(
            &mut c,
            "EVAL \"redis.call('set', KEYS[1], ARGV[1], 'PX', 100000); redis.call('rpush', KEYS[2], 'a', 'b'); return redis.call('incr', KEYS[3])\" 3 s l n v"
        ),
        Resp::Int(1)
    );
    drop(c);
    drop(strata);
    let strata = Server::strata(&extra);
    let mut c = strata.client();
    assert_eq!(run(&mut c, "GET s"), Resp::Bulk(Some(b"v".to_vec())));
    assert_eq!(run(&mut c, "LLEN l"), Resp::Int(2));
    assert_eq!(run(&mut c, "GET n"), Resp::Bulk(Some(b"1".to_vec())));
    assert!(matches!(run(&mut c, "PTTL s"), Resp::Int(t) if t > 90_000));
}

/// A script that never ends: past `busy-reply-threshold` other clients get -BUSY, SCRIPT KILL
/// stops it (its caller gets the kill error), and a script that has written cannot be
/// killed, only SHUTDOWN NOSAVE ends it. Run on both servers; the replies must match.
fn busy_scenario(srv: &Server) -> Vec<String> {
    let mut out = Vec::new();
    let mut admin = srv.client();
    let _ = run(&mut admin, "CONFIG SET busy-reply-threshold 100");
    out.push(run(&mut admin, "SCRIPT KILL").render());
    let port = srv.port;
    let looping = std::thread::spawn(move || {
        let mut c = common::RawClient::connect(port);
        run(&mut c, "EVAL \"local i = 0 while true do i = i + 1 end\" 0").render()
    });
    // Wait (bounded) until the others are refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = run(&mut admin, "PING");
        if r.is_error() {
            out.push(r.render());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never BUSY");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    out.push(run(&mut admin, "GET k").render());
    out.push(run(&mut admin, "SCRIPT KILL").render());
    out.push(looping.join().unwrap());
    out.push(run(&mut admin, "PING").render());
    out
}

#[test]
fn a_runaway_script_gets_busy_replies_and_script_kill() {
    let strata = Server::strata(&[]);
    let got = busy_scenario(&strata);
    if let Some(redis) = Server::redis(&[]) {
        let want = busy_scenario(&redis);
        assert_eq!(got, want);
    }
    assert!(
        got[4].contains("Script killed by user with SCRIPT KILL"),
        "{got:?}"
    );
}

#[test]
fn a_script_that_wrote_cannot_be_killed_but_shutdown_nosave_ends_it() {
    let strata = Server::strata(&["--busy-reply-threshold", "100"]);
    let port = strata.port;
    let looping = std::thread::spawn(move || {
        let mut c = common::RawClient::connect(port);
        c.try_cmd(&[
            b"EVAL",
            b"redis.call('set', 'w', '1') while true do end",
            b"0",
        ])
        .is_err()
    });
    let mut admin = strata.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !run(&mut admin, "PING").is_error() {
        assert!(std::time::Instant::now() < deadline, "never BUSY");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(run(&mut admin, "SCRIPT KILL")
        .render()
        .contains("UNKILLABLE"));
    let _ = admin.try_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    // The server is gone: the script's caller sees its connection close.
    assert!(looping.join().unwrap());
}

/// Hostile scripts end in errors, and the server goes on: unbounded recursion, unbounded
/// memory, errors inside pcall, wrong arguments to redis.call.
#[test]
fn hostile_scripts_fail_cleanly() {
    let strata = Server::strata(&[]);
    let mut c = strata.client();
    for script in [
        "local function f(n) return f(n + 1) + 1 end return f(1)",
        "local t = {} local s = string.rep('x', 1048576) for i = 1, 100000 do t[i] = s .. i end return #t",
        "return string.rep('x', 1073741824)",
        "return redis.call('set')",
        "return redis.call('get', nil)",
        "return redis.call('eval', 'return 1', 0)",
        "return redis.call('subscribe', 'x')",
        "return cmsgpack.unpack(string.rep(string.char(145), 1000000))",
        "return cmsgpack.unpack(string.char(221, 255, 255, 255, 255))",
        "return cjson.decode(string.rep('[', 100000))",
        "local t = {} local c = t for i = 1, 5000 do c[1] = {} c = c[1] end return cjson.encode(t)",
        "return struct.unpack('c999999999', 'x')",
        "return struct.pack('i40', 1)",
    ] {
        let r = run(&mut c, &format!("EVAL \"{script}\" 0"));
        assert!(r.is_error(), "{script}: {}", r.render());
    }
    assert_eq!(
        run(&mut c, "EVAL \"return {pcall(error, 'x')}\" 0").render(),
        run(&mut c, "EVAL \"return {false, 'x'}\" 0").render()
    );
    assert_eq!(run(&mut c, "PING"), Resp::Simple(b"PONG".to_vec()));
    assert_eq!(run(&mut c, "EVAL \"return 1\" 0"), Resp::Int(1));
}

/// A runaway script that catches the kill error with pcall is still stopped by SCRIPT KILL,
/// and the next script runs normally.
#[test]
fn script_kill_gets_past_pcall() {
    let strata = Server::strata(&["--busy-reply-threshold", "100"]);
    let port = strata.port;
    let looping = std::thread::spawn(move || {
        let mut c = common::RawClient::connect(port);
        run(
            &mut c,
            "EVAL \"while true do pcall(function() while true do end end) end\" 0",
        )
        .render()
    });
    let mut admin = strata.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !run(&mut admin, "PING").is_error() {
        assert!(std::time::Instant::now() < deadline, "never BUSY");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(run(&mut admin, "SCRIPT KILL"), Resp::Simple(b"OK".to_vec()));
    let r = looping.join().unwrap();
    assert!(r.contains("Script killed by user"), "{r}");
    assert_eq!(
        run(
            &mut admin,
            "EVAL \"local n = 0 for i = 1, 300000 do n = n + i end return n\" 0"
        ),
        Resp::Int(45000150000)
    );
}
