//! Integration tests of the collection types for what the differential suite
//! cannot pin. That suite compares replies with redis-server 7.0.15, so it
//! cannot check behaviour added later: ZRANK/ZREVRANK WITHSCORE (7.2), hash
//! field expiration (7.4), the 7.2 encodings of small lists and sets and the
//! 7.2 bound on LPOS RANK. It also runs one client against a quiet server,
//! so it does not reach fields expiring over time, deleting a huge set while
//! another client waits, encodings changing at configured thresholds, WATCH
//! and MULTI with collections, or a whole family answering WRONGTYPE.
//!
//! The expected replies are those of Redis 7.2/7.4 as written down in
//! `tests/cases_7x.md`, sections 1 to 4. Strata deliberately keeps 7.0's
//! `%.17g` double replies, so no score used here prints differently under
//! the two (10, 0.5, -inf and 1.5e20 print the same).
//!
//! Every test starts its own `strata-server` on a free loopback port. Waits
//! are bounded by a deadline; nothing asserts that something is fast.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_reply, encode_command, run, RawClient, Resp, Server};

/// 2100-01-01T00:00:00Z in unix seconds: field expiry times this far ahead
/// make every reply independent of the clock.
const Y2100: &str = "4102444800";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SYNTAX: &str = "ERR syntax error";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const NEGATIVE_EXPIRE: &str = "ERR invalid expire time, must be >= 0";
const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
/// The numfields error of HEXPIRE, HPEXPIRE, HEXPIREAT and HPEXPIREAT.
const HEXPIRE_NUMFIELDS: &str = "ERR Parameter `numFields` should be greater than 0";
/// The numfields error of HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME and HPERSIST.
const HTTL_NUMFIELDS: &str = "ERR Number of fields must be a positive integer";
const NUMFIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
const LPOS_RANK_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// Longest wait for the server to expire a field on its own.
const ACTIVE_EXPIRY_PATIENCE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(20);

// ------------------------------------------------------------------ helpers

fn simple(text: &str) -> Resp {
    Resp::Simple(text.as_bytes().to_vec())
}

fn ok() -> Resp {
    simple("OK")
}

fn error(text: &str) -> Resp {
    Resp::Error(text.as_bytes().to_vec())
}

fn wrongtype() -> Resp {
    error(WRONGTYPE)
}

fn arity(command: &str) -> Resp {
    error(&format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

fn invalid_expire_time(command: &str) -> Resp {
    error(&format!("ERR invalid expire time in '{command}' command"))
}

fn int(n: i64) -> Resp {
    Resp::Int(n)
}

fn bulk(text: &str) -> Resp {
    Resp::Bulk(Some(text.as_bytes().to_vec()))
}

fn nil() -> Resp {
    Resp::Bulk(None)
}

fn nil_array() -> Resp {
    Resp::Array(None)
}

fn double(text: &str) -> Resp {
    Resp::Double(text.as_bytes().to_vec())
}

fn array(items: Vec<Resp>) -> Resp {
    Resp::Array(Some(items))
}

/// An array of integers, the reply of every field-expiry command.
fn ints(values: &[i64]) -> Resp {
    array(values.iter().map(|&n| Resp::Int(n)).collect())
}

fn bulks(values: &[&str]) -> Resp {
    array(values.iter().map(|v| bulk(v)).collect())
}

/// Sends a command given as separate arguments (for values with spaces or
/// built at run time) and reads its reply.
fn cmd<S: AsRef<[u8]>>(c: &mut RawClient, args: &[S]) -> Resp {
    let args: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
    c.cmd(&args)
}

/// Runs each line in order and compares its reply.
fn check(c: &mut RawClient, steps: &[(&str, Resp)]) {
    for (line, want) in steps {
        assert_reply!(run(c, line), *want, "{line}");
    }
}

fn integer(reply: Resp, what: &str) -> i64 {
    match reply {
        Resp::Int(n) => n,
        other => panic!("{what}: expected an integer, got {}", other.render()),
    }
}

/// The one integer in a one-element array (HTTL and friends on one field).
fn single_int(reply: Resp, what: &str) -> i64 {
    match reply {
        Resp::Array(Some(items)) if items.len() == 1 => integer(items[0].clone(), what),
        other => panic!(
            "{what}: expected one integer in an array, got {}",
            other.render()
        ),
    }
}

fn encoding(c: &mut RawClient, key: &str) -> String {
    match cmd(c, &["OBJECT", "ENCODING", key]) {
        Resp::Bulk(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        other => panic!("OBJECT ENCODING {key}: {}", other.render()),
    }
}

fn assert_encoding(c: &mut RawClient, key: &str, want: &str, when: &str) {
    assert_eq!(encoding(c, key), want, "OBJECT ENCODING {key} {when}");
}

/// Field-value pairs of a RESP2 HGETALL or WITHSCORES reply, sorted, so two
/// hashes compare equal whatever their encoding's order.
fn pairs(reply: Resp, what: &str) -> Vec<(Resp, Resp)> {
    match reply {
        Resp::Array(Some(items)) if items.len() % 2 == 0 => {
            let mut pairs: Vec<(Resp, Resp)> = items
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            pairs.sort();
            pairs
        }
        other => panic!(
            "{what}: expected a flat array of pairs, got {}",
            other.render()
        ),
    }
}

fn bulk_pairs(items: &[(&str, &str)]) -> Vec<(Resp, Resp)> {
    let mut pairs: Vec<(Resp, Resp)> = items.iter().map(|(k, v)| (bulk(k), bulk(v))).collect();
    pairs.sort();
    pairs
}

fn hello3(c: &mut RawClient) {
    let reply = run(c, "HELLO 3");
    assert!(
        matches!(reply, Resp::Map(_)),
        "HELLO 3 must answer with a map, got {}",
        reply.render()
    );
}

fn config_set(c: &mut RawClient, name: &str, value: &str) {
    assert_reply!(
        cmd(c, &["CONFIG", "SET", name, value]),
        ok(),
        "CONFIG SET {name} {value}"
    );
}

/// Polls `done` until it holds, failing after `patience`.
fn wait_for(what: &str, patience: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {patience:?}");
        thread::sleep(POLL);
    }
}

/// Sends `count` commands made by `command(i)` in pipelined batches and
/// requires the reply to command `i` to be `expected(i)`.
fn pipelined(
    c: &mut RawClient,
    count: usize,
    command: impl Fn(usize) -> Vec<String>,
    expected: impl Fn(usize) -> Resp,
) {
    const BATCH: usize = 100;
    let mut sent = 0;
    while sent < count {
        let batch = BATCH.min(count - sent);
        let mut bytes = Vec::new();
        for i in sent..sent + batch {
            let args = command(i);
            let args: Vec<&[u8]> = args.iter().map(String::as_bytes).collect();
            bytes.extend(encode_command(&args));
        }
        c.send_raw(&bytes);
        for i in sent..sent + batch {
            assert_reply!(c.read_reply(), expected(i), "pipelined command {i}");
        }
        sent += batch;
    }
}

/// `name key ...` adding the `per_command` generated elements of chunk `i`
/// (`m<n>`), each preceded by `<n>` when `numbered` (HSET field value, ZADD
/// score member).
fn bulk_add(name: &str, key: &str, i: usize, per_command: usize, numbered: bool) -> Vec<String> {
    let mut args = vec![name.to_string(), key.to_string()];
    for n in i * per_command..(i + 1) * per_command {
        if numbered {
            args.push(n.to_string());
        }
        args.push(format!("m{n}"));
    }
    args
}

// ------------------------------------------------------------------ ZRANK WITHSCORE (7.2)

/// RESP2: WITHSCORE adds the score as a bulk string; a missing member or
/// key is a nil array with WITHSCORE and a nil bulk without.
#[test]
fn zrank_withscore_resp2_replies_rank_and_bulk_score() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let rank = |r: i64, s: &str| array(vec![int(r), bulk(s)]);
    check(
        &mut c,
        &[
            ("ZADD zr 10 x 20 y 30 z", int(3)),
            ("ZRANK zr x WITHSCORE", rank(0, "10")),
            ("ZRANK zr y WITHSCORE", rank(1, "20")),
            ("ZRANK zr z withscore", rank(2, "30")),
            ("ZREVRANK zr x WITHSCORE", rank(2, "10")),
            ("ZREVRANK zr z WITHSCORE", rank(0, "30")),
            ("ZRANK zr x", int(0)),
            ("ZREVRANK zr x", int(2)),
            ("ZRANK zr foo WITHSCORE", nil_array()),
            ("ZREVRANK zr foo WITHSCORE", nil_array()),
            ("ZRANK nokey x WITHSCORE", nil_array()),
            ("ZREVRANK nokey x WITHSCORE", nil_array()),
            ("ZRANK zr foo", nil()),
            ("ZRANK nokey x", nil()),
        ],
    );
}

/// RESP3: the score is a double and a missing member or key is a null.
#[test]
fn zrank_withscore_resp3_replies_rank_and_double_score() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    hello3(&mut c);
    let rank = |r: i64, s: &str| array(vec![int(r), double(s)]);
    check(
        &mut c,
        &[
            ("ZADD zr 10 x 20 y 30 z", int(3)),
            ("ZRANK zr x WITHSCORE", rank(0, "10")),
            ("ZRANK zr y WITHSCORE", rank(1, "20")),
            ("ZRANK zr z withscore", rank(2, "30")),
            ("ZREVRANK zr x WITHSCORE", rank(2, "10")),
            ("ZREVRANK zr z WITHSCORE", rank(0, "30")),
            ("ZRANK zr foo WITHSCORE", Resp::Null),
            ("ZREVRANK zr foo WITHSCORE", Resp::Null),
            ("ZRANK nokey x WITHSCORE", Resp::Null),
            ("ZRANK zr foo", Resp::Null),
            ("ZADD zr 0.5 p -inf q", int(2)),
            ("ZRANK zr q WITHSCORE", rank(0, "-inf")),
            ("ZRANK zr p WITHSCORE", rank(1, "0.5")),
            ("ZREVRANK zr q WITHSCORE", rank(4, "-inf")),
        ],
    );
}

/// A 4th argument other than WITHSCORE is a syntax error (even on a key of
/// another type), a 5th is an arity error, and a string key is WRONGTYPE.
#[test]
fn zrank_withscore_option_errors() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("ZADD zr 10 x 20 y 30 z", int(3)),
            ("ZRANK zr x WITHSCORES", error(SYNTAX)),
            ("ZRANK zr x BADOPT", error(SYNTAX)),
            ("ZREVRANK zr x BADOPT", error(SYNTAX)),
            ("ZRANK zr x WITHSCORE extra", arity("zrank")),
            ("ZREVRANK zr x WITHSCORE extra", arity("zrevrank")),
            ("ZRANK zr", arity("zrank")),
            ("SET s v", ok()),
            ("ZRANK s x WITHSCORE", wrongtype()),
            ("ZREVRANK s x WITHSCORE", wrongtype()),
            ("ZRANK s x BADOPT", error(SYNTAX)),
        ],
    );
}

/// Listpack and skiplist sorted sets give the same WITHSCORE replies,
/// including after adding 0.5 and -inf and after removing a member.
#[test]
fn zrank_withscore_is_the_same_for_listpack_and_skiplist() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let rank = |r: i64, s: &str| array(vec![int(r), bulk(s)]);
    for want in ["listpack", "skiplist"] {
        if want == "skiplist" {
            config_set(&mut c, "zset-max-listpack-entries", "0");
        }
        // Each case starts again from the same three members:
        // (change, query, its reply, ZREVRANK of x afterwards).
        let cases = [
            ("ZADD zr 0.5 p", "ZRANK zr p WITHSCORE", rank(0, "0.5"), 2),
            ("ZADD zr -inf q", "ZRANK zr q WITHSCORE", rank(0, "-inf"), 2),
            (
                "ZADD zr 1.5e20 r",
                "ZREVRANK zr r WITHSCORE",
                rank(0, "1.5e+20"),
                3,
            ),
            ("ZREM zr y", "ZRANK zr z WITHSCORE", rank(1, "30"), 1),
        ];
        for (change, query, expected, x_revrank) in cases {
            run(&mut c, "DEL zr");
            assert_reply!(run(&mut c, "ZADD zr 10 x 20 y 30 z"), int(3));
            assert_encoding(&mut c, "zr", want, "after ZADD");
            assert_reply!(run(&mut c, change), int(1), "{change} ({want})");
            assert_reply!(
                run(&mut c, query),
                expected,
                "{query} after {change} ({want})"
            );
            assert_reply!(
                run(&mut c, "ZREVRANK zr x WITHSCORE"),
                rank(x_revrank, "10"),
                "ZREVRANK zr x WITHSCORE after {change} ({want})"
            );
        }
    }
}

// ------------------------------------------------------------------ HEXPIRE family (7.4)

/// NX/XX/GT/LT follow the condition table (no TTL counts as infinite), one
/// reply per field in request order, and -2 for a missing field.
#[test]
fn hexpire_conditions_follow_the_nx_xx_gt_lt_table() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET h f1 v1 f2 v2 f3 v3", int(3)),
            ("HEXPIREAT h 4102444800 FIELDS 2 f1 f2", ints(&[1, 1])),
            (
                "HEXPIREAT h 4102444800 NX FIELDS 3 f1 f2 f3",
                ints(&[0, 0, 1]),
            ),
            (
                "HEXPIREAT h 4102444900 XX FIELDS 2 f1 nofield",
                ints(&[1, -2]),
            ),
            ("HEXPIREAT h 4102444850 GT FIELDS 2 f1 f2", ints(&[0, 1])),
            ("HEXPIREAT h 4102444000 LT FIELDS 1 f3", ints(&[1])),
            ("HPEXPIREAT h 4102444800500 FIELDS 1 f3", ints(&[1])),
            (
                "HEXPIRETIME h FIELDS 4 f1 f2 f3 nofield",
                ints(&[4102444900, 4102444850, 4102444801, -2]),
            ),
            (
                "HPEXPIRETIME h FIELDS 2 f3 f1",
                ints(&[4102444800500, 4102444900000]),
            ),
            // A field without a TTL: XX and GT fail, LT and NX set.
            ("HSET n a 1 b 2", int(2)),
            ("HEXPIREAT n 4102444800 XX FIELDS 1 a", ints(&[0])),
            ("HEXPIREAT n 4102444800 GT FIELDS 1 a", ints(&[0])),
            ("HEXPIREAT n 4102444800 LT FIELDS 1 a", ints(&[1])),
            ("HEXPIREAT n 4102444800 nx FIELDS 1 b", ints(&[1])),
            (
                "HEXPIRETIME n FIELDS 2 a b",
                ints(&[4102444800, 4102444800]),
            ),
            // The condition word and FIELDS are case-insensitive.
            ("HEXPIREAT n 4102444801 gt fields 2 a b", ints(&[1, 1])),
            ("HEXPIREAT n 4102444801 Lt Fields 2 a b", ints(&[0, 0])),
            (
                "HEXPIRETIME n FIELDS 2 a b",
                ints(&[4102444801, 4102444801]),
            ),
        ],
    );
}

/// Time 0 or in the past deletes the field (2), unless the condition fails
/// first (0, field kept); deleting the last field deletes the key.
#[test]
fn hexpire_in_the_past_deletes_fields_and_an_emptied_key() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET h f1 v1 f2 v2 f3 v3", int(3)),
            ("HEXPIRE h 0 FIELDS 1 f1", ints(&[2])),
            ("HEXISTS h f1", int(0)),
            ("HLEN h", int(2)),
            ("HEXPIREAT h 1 FIELDS 1 nofield", ints(&[-2])),
            ("HPEXPIRE h 0 FIELDS 3 f2 nofield f2", ints(&[2, -2, -2])),
            ("HPEXPIREAT h 1 FIELDS 1 f3", ints(&[2])),
            ("EXISTS h", int(0)),
            ("HSET n a 1", int(1)),
            ("HEXPIRE n 0 XX FIELDS 1 a", ints(&[0])),
            ("HEXPIRE n 0 GT FIELDS 1 a", ints(&[0])),
            ("HEXISTS n a", int(1)),
            ("HEXPIRE n 0 LT FIELDS 1 a", ints(&[2])),
            ("EXISTS n", int(0)),
            // A field with a TTL: NX and GT fail before the time is looked at.
            ("HSET t a 1", int(1)),
            ("HEXPIREAT t 4102444800 FIELDS 1 a", ints(&[1])),
            ("HEXPIRE t 0 NX FIELDS 1 a", ints(&[0])),
            ("HEXPIRE t 0 GT FIELDS 1 a", ints(&[0])),
            ("HEXPIRETIME t FIELDS 1 a", ints(&[4102444800])),
            ("HEXPIRE t 0 XX FIELDS 1 a", ints(&[2])),
            ("EXISTS t", int(0)),
        ],
    );
}

/// On a missing key every form answers -2 per field and creates nothing.
#[test]
fn hexpire_on_a_missing_key_answers_minus_two_per_field() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HEXPIRE nokey 100 FIELDS 2 a b", ints(&[-2, -2])),
            ("HPEXPIRE nokey 100 FIELDS 1 a", ints(&[-2])),
            ("HEXPIREAT nokey 4102444800 NX FIELDS 1 a", ints(&[-2])),
            ("HPEXPIREAT nokey 1 FIELDS 3 a b c", ints(&[-2, -2, -2])),
            ("EXISTS nokey", int(0)),
            ("DBSIZE", int(0)),
        ],
    );
}

/// The absolute time may reach 2^46-1 ms and no further; each command names
/// itself in the error; a rejected command changes nothing.
#[test]
fn hexpire_time_limits() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET h f2 v", int(1)),
            ("HPEXPIREAT h 70368744177663 FIELDS 1 f2", ints(&[1])),
            ("HPEXPIRETIME h FIELDS 1 f2", ints(&[70368744177663])),
            (
                "HPEXPIREAT h 70368744177664 FIELDS 1 f2",
                invalid_expire_time("hpexpireat"),
            ),
            ("HEXPIREAT h 70368744177 FIELDS 1 f2", ints(&[1])),
            ("HPEXPIRETIME h FIELDS 1 f2", ints(&[70368744177000])),
            (
                "HEXPIREAT h 70368744178 FIELDS 1 f2",
                invalid_expire_time("hexpireat"),
            ),
            (
                "HEXPIRE h 70368744178 FIELDS 1 f2",
                invalid_expire_time("hexpire"),
            ),
            (
                "HPEXPIRE h 70368744177663 FIELDS 1 f2",
                invalid_expire_time("hpexpire"),
            ),
            (
                "HEXPIRE h 9223372036854775807 FIELDS 1 f2",
                invalid_expire_time("hexpire"),
            ),
            ("HEXPIRE h -1 FIELDS 1 f2", error(NEGATIVE_EXPIRE)),
            ("HPEXPIRE h -1 FIELDS 1 f2", error(NEGATIVE_EXPIRE)),
            ("HEXPIREAT h -1 FIELDS 1 f2", error(NEGATIVE_EXPIRE)),
            ("HPEXPIREAT h -1 FIELDS 1 f2", error(NEGATIVE_EXPIRE)),
            ("HEXPIRE h abc FIELDS 1 f2", error(NOT_AN_INTEGER)),
            ("HEXPIRE h 1.5 FIELDS 1 f2", error(NOT_AN_INTEGER)),
            (
                "HEXPIRE h 9223372036854775808 FIELDS 1 f2",
                error(NOT_AN_INTEGER),
            ),
            ("HPEXPIRETIME h FIELDS 1 f2", ints(&[70368744177000])),
        ],
    );
}

/// Argument errors in their documented order: time, FIELDS keyword (one
/// condition word at most), numfields range, numfields count.
#[test]
fn hexpire_argument_errors() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET h f2 v f3 v", int(2)),
            ("HEXPIRE h 10 FIELD 1 f2", error(FIELDS_MISSING)),
            ("HEXPIRE h 10 NX XX FIELDS 1 f2", error(FIELDS_MISSING)),
            ("HEXPIRE h 10 BOGUS FIELDS 1 f2", error(FIELDS_MISSING)),
            ("HEXPIRE h 10 1 f2 f3", error(FIELDS_MISSING)),
            ("HEXPIRE h 10 FIELDS 0 f2", error(HEXPIRE_NUMFIELDS)),
            ("HEXPIRE h 10 FIELDS -1 f2", error(HEXPIRE_NUMFIELDS)),
            ("HEXPIRE h 10 FIELDS abc f2", error(HEXPIRE_NUMFIELDS)),
            (
                "HEXPIRE h 10 FIELDS 9223372036854775808 f2",
                error(HEXPIRE_NUMFIELDS),
            ),
            ("HEXPIRE h 10 FIELDS 2 f2", error(NUMFIELDS_MISMATCH)),
            ("HEXPIRE h 10 FIELDS 1 f2 f3", error(NUMFIELDS_MISMATCH)),
            ("HEXPIRE h 10 NX FIELDS 3 f2 f3", error(NUMFIELDS_MISMATCH)),
            // The time is checked before the words after it.
            ("HEXPIRE h -1 FIELD 1 f2", error(NEGATIVE_EXPIRE)),
            ("HEXPIRE h abc FIELD 1 f2", error(NOT_AN_INTEGER)),
            (
                "HEXPIRE h 70368744178 FIELD 1 f2",
                invalid_expire_time("hexpire"),
            ),
            // The same checks on a missing key, before its -2 replies.
            ("HEXPIRE nokey -1 FIELDS 1 a", error(NEGATIVE_EXPIRE)),
            ("HEXPIRE nokey 10 FIELDS 0 a", error(HEXPIRE_NUMFIELDS)),
            ("HEXPIRE nokey 10 FIELDS 2 a", error(NUMFIELDS_MISMATCH)),
            // Nothing above set a TTL.
            ("HTTL h FIELDS 2 f2 f3", ints(&[-1, -1])),
        ],
    );
}

/// Too few arguments is an arity error naming the command.
#[test]
fn hexpire_arity_errors() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HEXPIRE h 10 FIELDS 1", arity("hexpire")),
            ("HPEXPIRE h 10 FIELDS 1", arity("hpexpire")),
            ("HEXPIREAT h 10 FIELDS 1", arity("hexpireat")),
            ("HPEXPIREAT h 10 FIELDS 1", arity("hpexpireat")),
            ("HEXPIRE h", arity("hexpire")),
        ],
    );
}

/// A key of another type is WRONGTYPE before any argument is parsed (the
/// first check in `hexpireGenericCommand`).
#[test]
fn hexpire_checks_the_type_before_the_arguments() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET s v"), ok());
    for line in [
        "HEXPIRE s 10 FIELDS 1 f",
        "HPEXPIRE s 10 FIELDS 1 f",
        "HEXPIREAT s 10 FIELDS 1 f",
        "HPEXPIREAT s 10 FIELDS 1 f",
        "HEXPIRE s abc FIELDS 1 f",
        "HEXPIRE s -1 FIELDS 1 f",
        "HEXPIRE s 70368744178 FIELDS 1 f",
        "HEXPIRE s 10 FIELD 1 f",
        "HEXPIRE s 10 FIELDS 0 f",
        "HEXPIRE s 10 FIELDS 2 f",
    ] {
        assert_reply!(run(&mut c, line), wrongtype(), "{line}");
    }
    assert_reply!(run(&mut c, "GET s"), bulk("v"));
}

// ------------------------------------------------------------------ HTTL family and HPERSIST (7.4)

/// HEXPIRETIME rounds up to whole seconds, HPEXPIRETIME is exact; -1 for a
/// field without TTL, -2 for a missing field or key.
#[test]
fn hexpiretime_and_hpexpiretime_report_absolute_times() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET p a 1 b 2 c 3", int(3)),
            ("HEXPIREAT p 4102444800 FIELDS 1 a", ints(&[1])),
            ("HPEXPIREAT p 4102444800001 FIELDS 1 b", ints(&[1])),
            (
                "HEXPIRETIME p FIELDS 4 a b c nofield",
                ints(&[4102444800, 4102444801, -1, -2]),
            ),
            (
                "HPEXPIRETIME p FIELDS 2 a b",
                ints(&[4102444800000, 4102444800001]),
            ),
            ("HPEXPIRETIME p FIELDS 2 c nofield", ints(&[-1, -2])),
            ("HEXPIRETIME nokey FIELDS 2 a b", ints(&[-2, -2])),
            ("HPEXPIRETIME nokey FIELDS 1 a", ints(&[-2])),
        ],
    );
}

/// HTTL (rounded up) and HPTTL count down from the time set; -1 and -2 as
/// for the absolute forms.
#[test]
fn httl_and_hpttl_report_the_remaining_time() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET p a 1 b 2 c 3", int(3)),
            ("HEXPIRE p 100 FIELDS 1 a", ints(&[1])),
            ("HPEXPIRE p 100500 FIELDS 1 b", ints(&[1])),
            ("HTTL p FIELDS 2 c nofield", ints(&[-1, -2])),
            ("HPTTL p FIELDS 2 c nofield", ints(&[-1, -2])),
            ("HTTL nokey FIELDS 2 a b", ints(&[-2, -2])),
            ("HPTTL nokey FIELDS 1 a", ints(&[-2])),
        ],
    );
    let httl = single_int(run(&mut c, "HTTL p FIELDS 1 a"), "HTTL a");
    let hpttl = single_int(run(&mut c, "HPTTL p FIELDS 1 a"), "HPTTL a");
    assert!((1..=100).contains(&httl), "HTTL of a 100 s field: {httl}");
    assert!(
        (1..=100_000).contains(&hpttl),
        "HPTTL of a 100 s field: {hpttl}"
    );
    assert!(httl * 1000 >= hpttl, "HTTL rounds up: {httl} s, {hpttl} ms");
    // 100500 ms rounds up to 101 s while more than 100 s are left.
    let hpttl = single_int(run(&mut c, "HPTTL p FIELDS 1 b"), "HPTTL b");
    let httl = single_int(run(&mut c, "HTTL p FIELDS 1 b"), "HTTL b");
    assert!(
        (1..=100_500).contains(&hpttl),
        "HPTTL of a 100500 ms field: {hpttl}"
    );
    if hpttl > 100_100 {
        assert_eq!(httl, 101, "HTTL of a field with {hpttl} ms left");
    }
}

/// HPERSIST answers 1 (TTL removed), -1 (no TTL), -2 (no field or key).
#[test]
fn hpersist_removes_field_ttls() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET p a 1 b 2 c 3", int(3)),
            ("HEXPIREAT p 4102444800 FIELDS 1 a", ints(&[1])),
            ("HPEXPIREAT p 4102444800001 FIELDS 1 b", ints(&[1])),
            ("HPERSIST p FIELDS 4 a b c nofield", ints(&[1, 1, -1, -2])),
            ("HPERSIST p FIELDS 1 a", ints(&[-1])),
            ("HEXPIRETIME p FIELDS 2 a b", ints(&[-1, -1])),
            ("HTTL p FIELDS 1 b", ints(&[-1])),
            ("HPERSIST nokey FIELDS 1 a", ints(&[-2])),
            ("EXISTS nokey", int(0)),
        ],
    );
    assert_eq!(
        pairs(run(&mut c, "HGETALL p"), "HGETALL p"),
        bulk_pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME and HPERSIST share their argument
/// errors (numfields has its own message, unlike HEXPIRE's) and arity.
#[test]
fn httl_family_argument_errors() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "HSET p a 1 b 2"), int(2));
    for name in ["HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME", "HPERSIST"] {
        let lower = name.to_ascii_lowercase();
        let cases = [
            (format!("{name} p 1 a b"), error(FIELDS_MISSING)),
            (format!("{name} p FIELD 1 a"), error(FIELDS_MISSING)),
            (format!("{name} nokey FIELD 1 a"), error(FIELDS_MISSING)),
            (format!("{name} p FIELDS 0 a"), error(HTTL_NUMFIELDS)),
            (format!("{name} p FIELDS -1 a"), error(HTTL_NUMFIELDS)),
            (format!("{name} p FIELDS x a"), error(HTTL_NUMFIELDS)),
            (format!("{name} nokey FIELDS 0 a"), error(HTTL_NUMFIELDS)),
            (format!("{name} p FIELDS 2 a"), error(NUMFIELDS_MISMATCH)),
            (format!("{name} p FIELDS 1 a b"), error(NUMFIELDS_MISMATCH)),
            (
                format!("{name} nokey FIELDS 2 a"),
                error(NUMFIELDS_MISMATCH),
            ),
            (format!("{name} p fields 1 a"), ints(&[-1])),
            (format!("{name} p FIELDS 1"), arity(&lower)),
            (format!("{name} p FIELDS"), arity(&lower)),
        ];
        for (line, want) in cases {
            assert_reply!(run(&mut c, &line), want, "{line}");
        }
    }
}

/// A key of another type is WRONGTYPE before FIELDS and numfields are
/// looked at (the first check in `httlGenericCommand` and `hpersistCommand`).
#[test]
fn httl_family_checks_the_type_before_the_arguments() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET s v"), ok());
    for name in ["HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME", "HPERSIST"] {
        for args in ["FIELDS 1 a", "FIELD 1 a", "FIELDS 0 a", "FIELDS 2 a"] {
            let line = format!("{name} s {args}");
            assert_reply!(run(&mut c, &line), wrongtype(), "{line}");
        }
    }
}

/// Under RESP3 the field-expiry commands answer the same arrays of integers.
#[test]
fn field_expiry_replies_are_integer_arrays_in_resp3() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    hello3(&mut c);
    check(
        &mut c,
        &[
            ("HSET p a 1 b 2 c 3", int(3)),
            ("HEXPIREAT p 4102444800 FIELDS 2 a nofield", ints(&[1, -2])),
            (
                "HEXPIRETIME p FIELDS 3 a c nofield",
                ints(&[4102444800, -1, -2]),
            ),
            ("HPEXPIRETIME p FIELDS 1 a", ints(&[4102444800000])),
            ("HTTL p FIELDS 2 c nofield", ints(&[-1, -2])),
            ("HEXPIRE nokey 10 FIELDS 2 a b", ints(&[-2, -2])),
            ("HPERSIST p FIELDS 3 a c nofield", ints(&[1, -1, -2])),
            ("HEXPIRE p 0 FIELDS 1 b", ints(&[2])),
        ],
    );
}

// ------------------------------------------------------------------ field TTL lifetime

/// HSET and HMSET of a field replace it and clear its TTL; other fields keep
/// theirs.
#[test]
fn hset_and_hmset_clear_a_field_ttl() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET t a 1 b 2 c 3", int(3)),
            ("HEXPIREAT t 4102444800 FIELDS 3 a b c", ints(&[1, 1, 1])),
            ("HSET t a 10", int(0)),
            ("HMSET t b 20", ok()),
            ("HEXPIRETIME t FIELDS 3 a b c", ints(&[-1, -1, 4102444800])),
            ("HMGET t a b c", bulks(&["10", "20", "3"])),
        ],
    );
}

/// HINCRBY and HINCRBYFLOAT change the value and keep the TTL; HSETNX on an
/// existing field changes nothing.
#[test]
fn hincrby_and_hincrbyfloat_keep_a_field_ttl() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET t c 3 d 1", int(2)),
            ("HEXPIREAT t 4102444800 FIELDS 2 c d", ints(&[1, 1])),
            ("HINCRBY t c 5", int(8)),
            ("HEXPIRETIME t FIELDS 1 c", ints(&[4102444800])),
            ("HINCRBYFLOAT t c 1.5", bulk("9.5")),
            ("HEXPIRETIME t FIELDS 1 c", ints(&[4102444800])),
            ("HGET t c", bulk("9.5")),
            ("HSETNX t d other", int(0)),
            ("HGET t d", bulk("1")),
            ("HEXPIRETIME t FIELDS 1 d", ints(&[4102444800])),
        ],
    );
}

/// HDEL removes the field with its TTL: setting it again has no TTL.
#[test]
fn hdel_removes_the_field_and_its_ttl() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET t a 1 b 2", int(2)),
            ("HEXPIREAT t 4102444800 FIELDS 1 a", ints(&[1])),
            ("HDEL t a", int(1)),
            ("HTTL t FIELDS 1 a", ints(&[-2])),
            ("HSET t a 1", int(1)),
            ("HEXPIRETIME t FIELDS 1 a", ints(&[-1])),
        ],
    );
}

/// A listpack hash that gets a field TTL is "listpackex", and stays so after
/// HPERSIST.
#[test]
fn a_small_hash_with_a_field_ttl_is_listpackex() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "HSET t a 1 b 2 c 3"), int(3));
    assert_encoding(&mut c, "t", "listpack", "before any TTL");
    assert_reply!(run(&mut c, "HEXPIRE nokey 100 FIELDS 1 a"), ints(&[-2]));
    assert_reply!(run(&mut c, "HEXPIRE t 100 FIELDS 1 nofield"), ints(&[-2]));
    assert_encoding(&mut c, "t", "listpack", "after HEXPIRE of a missing field");
    assert_reply!(
        cmd(&mut c, &["HEXPIREAT", "t", Y2100, "FIELDS", "1", "b"]),
        ints(&[1])
    );
    assert_encoding(&mut c, "t", "listpackex", "after HEXPIREAT");
    assert_reply!(run(&mut c, "HPERSIST t FIELDS 1 b"), ints(&[1]));
    assert_encoding(&mut c, "t", "listpackex", "after HPERSIST");
    assert_eq!(
        pairs(run(&mut c, "HGETALL t"), "HGETALL t"),
        bulk_pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
}

/// A listpackex hash becomes "hashtable" at its 513th field and keeps every
/// field's TTL.
#[test]
fn listpackex_becomes_hashtable_past_512_fields() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "HSET g f0 v0"), int(1));
    assert_reply!(
        cmd(&mut c, &["HEXPIREAT", "g", Y2100, "FIELDS", "1", "f0"]),
        ints(&[1])
    );
    let mut args = vec!["HSET".to_string(), "g".to_string()];
    for i in 1..512 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    assert_reply!(cmd(&mut c, &args), int(511));
    assert_encoding(&mut c, "g", "listpackex", "with 512 fields");
    assert_reply!(run(&mut c, "HSET g f512 v512"), int(1));
    assert_encoding(&mut c, "g", "hashtable", "with 513 fields");
    check(
        &mut c,
        &[
            ("HLEN g", int(513)),
            (
                "HEXPIRETIME g FIELDS 3 f0 f1 f512",
                ints(&[4102444800, -1, -1]),
            ),
            ("HGET g f0", bulk("v0")),
            ("HEXPIREAT g 4102444900 FIELDS 1 f300", ints(&[1])),
            (
                "HEXPIRETIME g FIELDS 2 f300 f0",
                ints(&[4102444900, 4102444800]),
            ),
        ],
    );
}

/// A listpackex hash becomes "hashtable" when it gets a value over 64 bytes
/// (64 bytes is still fine), keeping its TTLs.
#[test]
fn listpackex_becomes_hashtable_with_a_long_value() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "HSET t a 1"), int(1));
    assert_reply!(
        cmd(&mut c, &["HEXPIREAT", "t", Y2100, "FIELDS", "1", "a"]),
        ints(&[1])
    );
    let at_limit = "x".repeat(64);
    let over = "y".repeat(65);
    assert_reply!(cmd(&mut c, &["HSET", "t", "b", at_limit.as_str()]), int(1));
    assert_encoding(&mut c, "t", "listpackex", "with a 64-byte value");
    assert_reply!(cmd(&mut c, &["HSET", "t", "c", over.as_str()]), int(1));
    assert_encoding(&mut c, "t", "hashtable", "with a 65-byte value");
    check(
        &mut c,
        &[
            ("HEXPIRETIME t FIELDS 3 a b c", ints(&[4102444800, -1, -1])),
            ("HLEN t", int(3)),
        ],
    );
    assert_reply!(run(&mut c, "HGET t c"), bulk(&over));
}

// ------------------------------------------------------------------ field expiry over time

/// A field past its TTL is gone from every read, in a listpackex hash and
/// in a hashtable hash; the other fields stay.
#[test]
fn expired_fields_are_gone_from_every_read() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let long = "x".repeat(70);
    assert_reply!(run(&mut c, "HSET lp a 1 b 2 c 3"), int(3));
    assert_reply!(
        cmd(
            &mut c,
            &[
                "HSET",
                "ht",
                "a",
                "1",
                "b",
                "2",
                "c",
                "3",
                "long",
                long.as_str()
            ]
        ),
        int(4)
    );
    assert_encoding(&mut c, "ht", "hashtable", "with a 70-byte value");
    assert_reply!(run(&mut c, "HPEXPIRE lp 50 FIELDS 1 b"), ints(&[1]));
    assert_reply!(run(&mut c, "HPEXPIRE ht 50 FIELDS 2 b long"), ints(&[1, 1]));
    assert_encoding(&mut c, "lp", "listpackex", "with a field TTL");
    thread::sleep(Duration::from_millis(300));

    for key in ["lp", "ht"] {
        let steps = [
            (format!("HGET {key} b"), nil()),
            (format!("HEXISTS {key} b"), int(0)),
            (format!("HMGET {key} a b"), array(vec![bulk("1"), nil()])),
            (format!("HSTRLEN {key} b"), int(0)),
            (format!("HTTL {key} FIELDS 1 b"), ints(&[-2])),
            (format!("HPERSIST {key} FIELDS 1 b"), ints(&[-2])),
            (format!("HLEN {key}"), int(2)),
            (format!("EXISTS {key}"), int(1)),
        ];
        for (line, want) in steps {
            assert_reply!(run(&mut c, &line), want, "{line}");
        }
        assert_eq!(
            pairs(run(&mut c, &format!("HGETALL {key}")), "HGETALL"),
            bulk_pairs(&[("a", "1"), ("c", "3")]),
            "HGETALL {key}"
        );
        assert_reply!(
            run(&mut c, &format!("HKEYS {key}")).sorted(),
            bulks(&["a", "c"]),
            "HKEYS {key}"
        );
        assert_reply!(
            run(&mut c, &format!("HVALS {key}")).sorted(),
            bulks(&["1", "3"]),
            "HVALS {key}"
        );
        assert_reply!(
            run(&mut c, &format!("HRANDFIELD {key} 10")).sorted(),
            bulks(&["a", "c"]),
            "HRANDFIELD {key} 10"
        );
    }
    assert_reply!(run(&mut c, "HSTRLEN ht long"), int(0));
}

/// A hash whose only field expires is deleted by the server without any
/// client reading it (only DBSIZE is polled).
#[test]
fn a_hash_whose_last_field_expires_is_deleted_unread() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET solo only 1", int(1)),
            ("HPEXPIRE solo 50 FIELDS 1 only", ints(&[1])),
        ],
    );
    wait_for(
        "the hash whose only field expired is deleted",
        ACTIVE_EXPIRY_PATIENCE,
        || integer(run(&mut c, "DBSIZE"), "DBSIZE") == 0,
    );
    assert_reply!(run(&mut c, "EXISTS solo"), int(0));
}

// ------------------------------------------------------------------ 7.2 encodings and LPOS

/// A small list is "listpack"; past 8 KiB it is "quicklist"; trimmed to 5
/// elements it is "listpack" again, with the same elements.
#[test]
fn lists_are_listpack_until_8_kib_and_again_when_trimmed() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "RPUSH l a b c"), int(3));
    assert_encoding(&mut c, "l", "listpack", "with 3 elements");

    let value = "v".repeat(100);
    let mut args = vec!["RPUSH".to_string(), "big".to_string()];
    args.extend((0..100).map(|i| format!("{i:03}{}", &value[3..])));
    assert_reply!(cmd(&mut c, &args), int(100));
    assert_encoding(&mut c, "big", "quicklist", "with 100 elements of 100 bytes");
    assert_reply!(run(&mut c, "LTRIM big 0 4"), ok());
    assert_reply!(run(&mut c, "LLEN big"), int(5));
    assert_encoding(&mut c, "big", "listpack", "after LTRIM to 5 elements");
    let first_five: Vec<&str> = args[2..7].iter().map(String::as_str).collect();
    assert_reply!(run(&mut c, "LRANGE big 0 -1"), bulks(&first_five));
}

/// A small set of strings is "listpack" and SMEMBERS lists it in insertion
/// order.
#[test]
fn small_string_sets_are_listpack_in_insertion_order() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SADD s c a b"), int(3));
    assert_encoding(&mut c, "s", "listpack", "with 3 strings");
    assert_reply!(run(&mut c, "SMEMBERS s"), bulks(&["c", "a", "b"]));
}

/// An intset that gets a string member becomes "listpack", the integers
/// first in their order, then the string.
#[test]
fn an_intset_given_a_string_becomes_listpack() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SADD i 1 2 3"), int(3));
    assert_encoding(&mut c, "i", "intset", "with 3 integers");
    assert_reply!(run(&mut c, "SADD i x"), int(1));
    assert_encoding(&mut c, "i", "listpack", "after adding a string");
    assert_reply!(run(&mut c, "SMEMBERS i"), bulks(&["1", "2", "3", "x"]));
}

/// LPOS RANK accepts +-(2^63-1) but not -2^63, and not 0.
#[test]
fn lpos_rank_minimum_is_out_of_range() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("RPUSH p a b c", int(3)),
            ("LPOS p c RANK -9223372036854775808", error(LPOS_RANK_RANGE)),
            (
                "LPOS p c RANK 0",
                error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ),
            ),
            ("LPOS p c RANK -9223372036854775807", nil()),
            ("LPOS p c RANK 9223372036854775807", nil()),
            ("LPOS p c RANK -1", int(2)),
        ],
    );
}

// ------------------------------------------------------------------ big deletes

/// DEL of a 2,000,000-member set answers 1 and removes it, and a second
/// client sent PING while the DEL was in flight is answered.
#[test]
fn del_of_a_two_million_member_set_keeps_other_clients_served() {
    const MEMBERS: usize = 2_000_000;
    const PER_SADD: usize = 1_000;
    let server = Server::strata(&[]);
    let mut a = server.client();
    let mut b = server.client();
    pipelined(
        &mut a,
        MEMBERS / PER_SADD,
        |i| bulk_add("SADD", "big", i, PER_SADD, false),
        |_| int(PER_SADD as i64),
    );
    assert_reply!(run(&mut a, "SCARD big"), int(MEMBERS as i64));

    a.send_raw(&encode_command(&[b"DEL", b"big"]));
    assert_reply!(run(&mut b, "PING"), simple("PONG"), "PING during DEL");
    assert_reply!(a.read_reply(), int(1), "DEL big");
    check(
        &mut b,
        &[
            ("EXISTS big", int(0)),
            ("SCARD big", int(0)),
            ("DBSIZE", int(0)),
            ("PING", simple("PONG")),
        ],
    );
    assert_reply!(
        run(&mut a, "SADD big again"),
        int(1),
        "the name is free again"
    );
}

/// UNLINK of a big hash, sorted set and list counts all three and removes
/// them, and a second client sent PING while it was in flight is answered.
#[test]
fn unlink_of_big_collections_keeps_other_clients_served() {
    const ELEMENTS: usize = 200_000;
    const PER_COMMAND: usize = 1_000;
    const COMMANDS: usize = ELEMENTS / PER_COMMAND;
    let server = Server::strata(&[]);
    let mut a = server.client();
    let mut b = server.client();
    let added = |_: usize| int(PER_COMMAND as i64);
    pipelined(
        &mut a,
        COMMANDS,
        |i| bulk_add("HSET", "bh", i, PER_COMMAND, true),
        added,
    );
    pipelined(
        &mut a,
        COMMANDS,
        |i| bulk_add("ZADD", "bz", i, PER_COMMAND, true),
        added,
    );
    pipelined(
        &mut a,
        COMMANDS,
        |i| bulk_add("RPUSH", "bl", i, PER_COMMAND, false),
        |i| int(((i + 1) * PER_COMMAND) as i64),
    );
    let total = int(ELEMENTS as i64);
    check(
        &mut a,
        &[
            ("HLEN bh", total.clone()),
            ("ZCARD bz", total.clone()),
            ("LLEN bl", total),
        ],
    );

    a.send_raw(&encode_command(&[b"UNLINK", b"bh", b"bz", b"bl", b"nokey"]));
    assert_reply!(run(&mut b, "PING"), simple("PONG"), "PING during UNLINK");
    assert_reply!(a.read_reply(), int(3), "UNLINK bh bz bl nokey");
    check(
        &mut b,
        &[
            ("EXISTS bh bz bl", int(0)),
            ("DBSIZE", int(0)),
            ("PING", simple("PONG")),
        ],
    );
}

// ------------------------------------------------------------------ encodings at configured thresholds

/// With hash-max-listpack-entries 4 a hash is "listpack" at 4 fields and
/// "hashtable" at 5, and stays so at 4 again; its pairs are unchanged by
/// the conversion.
#[test]
fn hash_converts_to_hashtable_past_the_entries_limit() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    config_set(&mut c, "hash-max-listpack-entries", "4");
    assert_reply!(run(&mut c, "HSET h a 1 b 2 c 3 d 4"), int(4));
    assert_encoding(&mut c, "h", "listpack", "with 4 fields");
    let before = pairs(run(&mut c, "HGETALL h"), "HGETALL h");
    assert_eq!(
        before,
        bulk_pairs(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
    );

    assert_reply!(run(&mut c, "HSET h e 5"), int(1));
    assert_encoding(&mut c, "h", "hashtable", "with 5 fields");
    let mut grown = before.clone();
    grown.push((bulk("e"), bulk("5")));
    grown.sort();
    assert_eq!(
        pairs(run(&mut c, "HGETALL h"), "HGETALL h"),
        grown,
        "HGETALL after the conversion"
    );
    check(
        &mut c,
        &[
            ("HMGET h a d e", bulks(&["1", "4", "5"])),
            ("HLEN h", int(5)),
            ("HDEL h e", int(1)),
        ],
    );
    assert_encoding(&mut c, "h", "hashtable", "after HDEL back to 4 fields");
    assert_eq!(
        pairs(run(&mut c, "HGETALL h"), "HGETALL h"),
        before,
        "HGETALL after HDEL"
    );
}

/// With zset-max-listpack-entries 4 a sorted set is "listpack" at 4 members
/// and "skiplist" at 5, and stays so at 4 again; ranges and ranks are
/// unchanged by the conversion.
#[test]
fn zset_converts_to_skiplist_past_the_entries_limit() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    config_set(&mut c, "zset-max-listpack-entries", "4");
    assert_reply!(run(&mut c, "ZADD z 1 a 2 b 3 c 4 d"), int(4));
    assert_encoding(&mut c, "z", "listpack", "with 4 members");
    let before = run(&mut c, "ZRANGE z 0 -1 WITHSCORES");
    assert_reply!(before, bulks(&["a", "1", "b", "2", "c", "3", "d", "4"]));
    let before_rank = run(&mut c, "ZRANK z c WITHSCORE");
    assert_reply!(before_rank, array(vec![int(2), bulk("3")]));

    assert_reply!(run(&mut c, "ZADD z 5 e"), int(1));
    assert_encoding(&mut c, "z", "skiplist", "with 5 members");
    check(
        &mut c,
        &[
            (
                "ZRANGE z 0 -1 WITHSCORES",
                bulks(&["a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]),
            ),
            ("ZRANK z c WITHSCORE", before_rank.clone()),
            ("ZRANGEBYSCORE z (1 3", bulks(&["b", "c"])),
            ("ZREVRANGE z 0 0 WITHSCORES", bulks(&["e", "5"])),
            ("ZREM z e", int(1)),
        ],
    );
    assert_encoding(&mut c, "z", "skiplist", "after ZREM back to 4 members");
    assert_reply!(run(&mut c, "ZRANGE z 0 -1 WITHSCORES"), before);
    assert_reply!(run(&mut c, "ZRANK z c WITHSCORE"), before_rank);
}

/// With set-max-intset-entries 4 an integer set is "intset" (in numeric
/// order) at 4 members and "hashtable" at 5, and stays so at 4 again.
#[test]
fn intset_converts_to_hashtable_past_the_intset_limit() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    config_set(&mut c, "set-max-intset-entries", "4");
    assert_reply!(run(&mut c, "SADD si 4 1 3 2"), int(4));
    assert_encoding(&mut c, "si", "intset", "with 4 integers");
    let before = run(&mut c, "SMEMBERS si");
    assert_reply!(before, bulks(&["1", "2", "3", "4"]));

    assert_reply!(run(&mut c, "SADD si 5"), int(1));
    assert_encoding(&mut c, "si", "hashtable", "with 5 integers");
    assert_reply!(
        run(&mut c, "SMEMBERS si").sorted(),
        bulks(&["1", "2", "3", "4", "5"])
    );
    check(
        &mut c,
        &[
            ("SISMEMBER si 5", int(1)),
            ("SCARD si", int(5)),
            ("SREM si 5", int(1)),
        ],
    );
    assert_encoding(&mut c, "si", "hashtable", "after SREM back to 4");
    assert_reply!(run(&mut c, "SMEMBERS si").sorted(), before);
}

/// With set-max-listpack-entries 4 a set of strings is "listpack" (in
/// insertion order) at 4 members and "hashtable" at 5, and stays so at 4.
#[test]
fn string_set_converts_to_hashtable_past_the_entries_limit() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    config_set(&mut c, "set-max-listpack-entries", "4");
    assert_reply!(run(&mut c, "SADD ss d a c b"), int(4));
    assert_encoding(&mut c, "ss", "listpack", "with 4 strings");
    assert_reply!(run(&mut c, "SMEMBERS ss"), bulks(&["d", "a", "c", "b"]));

    assert_reply!(run(&mut c, "SADD ss e"), int(1));
    assert_encoding(&mut c, "ss", "hashtable", "with 5 strings");
    assert_reply!(
        run(&mut c, "SMEMBERS ss").sorted(),
        bulks(&["a", "b", "c", "d", "e"])
    );
    check(
        &mut c,
        &[
            ("SMISMEMBER ss a e x", ints(&[1, 1, 0])),
            ("SREM ss e", int(1)),
        ],
    );
    assert_encoding(&mut c, "ss", "hashtable", "after SREM back to 4");
    assert_reply!(
        run(&mut c, "SMEMBERS ss").sorted(),
        bulks(&["a", "b", "c", "d"])
    );
}

/// With list-max-listpack-size 4 a list is "listpack" at 4 elements,
/// "quicklist" at 5, still "quicklist" at 4 again and "listpack" once at
/// half the limit; its elements are unchanged by each conversion.
#[test]
fn list_converts_to_quicklist_past_the_size_limit_and_back() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    config_set(&mut c, "list-max-listpack-size", "4");
    assert_reply!(run(&mut c, "RPUSH l 1 2 3 4"), int(4));
    assert_encoding(&mut c, "l", "listpack", "with 4 elements");
    let before = run(&mut c, "LRANGE l 0 -1");
    assert_reply!(before, bulks(&["1", "2", "3", "4"]));

    assert_reply!(run(&mut c, "RPUSH l 5"), int(5));
    assert_encoding(&mut c, "l", "quicklist", "with 5 elements");
    check(
        &mut c,
        &[
            ("LRANGE l 0 -1", bulks(&["1", "2", "3", "4", "5"])),
            ("LINDEX l -1", bulk("5")),
            ("LPOS l 3", int(2)),
            ("RPOP l", bulk("5")),
        ],
    );
    assert_encoding(&mut c, "l", "quicklist", "back at 4 elements");
    assert_reply!(run(&mut c, "LRANGE l 0 -1"), before);
    assert_reply!(run(&mut c, "RPOP l 2"), bulks(&["4", "3"]));
    assert_encoding(&mut c, "l", "listpack", "at 2 elements");
    assert_reply!(run(&mut c, "LRANGE l 0 -1"), bulks(&["1", "2"]));
}

// ------------------------------------------------------------------ transactions

/// WATCH on a list is broken by another client's LPUSH (EXEC answers a nil
/// array and runs nothing), also when the list did not exist yet; without
/// interference the transaction runs.
#[test]
fn watch_on_a_list_is_broken_by_another_clients_lpush() {
    let server = Server::strata(&[]);
    let mut a = server.client();
    let mut b = server.client();
    let queued = simple("QUEUED");

    check(&mut a, &[("RPUSH wl x", int(1)), ("WATCH wl", ok())]);
    assert_reply!(run(&mut b, "LPUSH wl y"), int(2));
    check(
        &mut a,
        &[
            ("MULTI", ok()),
            ("RPOP wl", queued.clone()),
            ("EXEC", nil_array()),
            ("LRANGE wl 0 -1", bulks(&["y", "x"])),
        ],
    );

    check(
        &mut a,
        &[
            ("WATCH wl", ok()),
            ("MULTI", ok()),
            ("RPOP wl", queued.clone()),
            ("EXEC", array(vec![bulk("x")])),
        ],
    );

    assert_reply!(run(&mut a, "WATCH newlist"), ok());
    assert_reply!(run(&mut b, "LPUSH newlist y"), int(1));
    check(
        &mut a,
        &[
            ("MULTI", ok()),
            ("LPUSH newlist z", queued),
            ("EXEC", nil_array()),
            ("LRANGE newlist 0 -1", bulks(&["y"])),
        ],
    );
}

/// A MULTI of LPUSH, RPOP, ZADD and HSET answers every command in order and
/// runs as one step: a client polling meanwhile never sees a transaction
/// half done (each of those transactions removes what it added).
#[test]
fn multi_with_collection_commands_runs_atomically() {
    const ROUNDS: usize = 300;
    /// Upper bound on the observer's polling, should the writer fail.
    const OBSERVER_LIMIT: Duration = Duration::from_secs(60);
    let server = Server::strata(&[]);
    let port = server.port;
    let mut c = server.client();
    let queued = simple("QUEUED");
    check(
        &mut c,
        &[
            ("MULTI", ok()),
            ("LPUSH tl a b c", queued.clone()),
            ("RPOP tl", queued.clone()),
            ("ZADD tz 1 m", queued.clone()),
            ("HSET th f v", queued.clone()),
            ("LRANGE tl 0 -1", queued.clone()),
            (
                "EXEC",
                array(vec![int(3), bulk("a"), int(1), int(1), bulks(&["c", "b"])]),
            ),
            ("LRANGE tl 0 -1", bulks(&["c", "b"])),
            ("ZSCORE tz m", bulk("1")),
            ("HGET th f", bulk("v")),
        ],
    );

    let transaction = [
        encode_command(&[b"MULTI"]),
        encode_command(&[b"LPUSH", b"q", b"a", b"b"]),
        encode_command(&[b"RPOP", b"q"]),
        encode_command(&[b"ZADD", b"qz", b"1", b"m"]),
        encode_command(&[b"HSET", b"qh", b"f", b"v"]),
        encode_command(&[b"RPOP", b"q"]),
        encode_command(&[b"ZREM", b"qz", b"m"]),
        encode_command(&[b"HDEL", b"qh", b"f"]),
        encode_command(&[b"EXEC"]),
    ]
    .concat();
    let exec_reply = array(vec![
        int(2),
        bulk("a"),
        int(1),
        int(1),
        bulk("b"),
        int(1),
        int(1),
    ]);
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let observer = scope.spawn(|| {
            let mut o = RawClient::connect(port);
            let deadline = Instant::now() + OBSERVER_LIMIT;
            let mut polls = 0u64;
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                assert_reply!(
                    run(&mut o, "EXISTS q qz qh"),
                    int(0),
                    "a transaction seen half done (poll {polls})"
                );
                polls += 1;
            }
        });
        let mut w = RawClient::connect(port);
        for round in 0..ROUNDS {
            w.send_raw(&transaction);
            assert_reply!(w.read_reply(), ok(), "MULTI, round {round}");
            for _ in 0..7 {
                assert_reply!(w.read_reply(), simple("QUEUED"), "round {round}");
            }
            assert_reply!(w.read_reply(), exec_reply, "EXEC, round {round}");
        }
        done.store(true, Ordering::Relaxed);
        observer.join().expect("the observer thread panicked");
    });
    assert_reply!(run(&mut c, "EXISTS q qz qh"), int(0));
}

// ------------------------------------------------------------------ WRONGTYPE

/// Every collection family (and SORT) refuses a string key with WRONGTYPE,
/// for reads and writes, and leaves the string and the destinations alone.
#[test]
fn collection_commands_on_a_string_are_wrongtype() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET str v"), ok());
    for line in [
        // hashes
        "HSET str f v",
        "HGET str f",
        "HGETALL str",
        "HLEN str",
        "HINCRBY str f 1",
        "HDEL str f",
        "HEXPIRE str 10 FIELDS 1 f",
        "HTTL str FIELDS 1 f",
        "HPERSIST str FIELDS 1 f",
        // lists
        "LPUSH str a",
        "RPOP str",
        "LRANGE str 0 -1",
        "LLEN str",
        "LPOS str a",
        "LINSERT str BEFORE a b",
        "LMOVE str dst LEFT RIGHT",
        // sets
        "SADD str a",
        "SMEMBERS str",
        "SISMEMBER str a",
        "SCARD str",
        "SINTERCARD 1 str",
        "SUNIONSTORE dst str",
        "SMOVE str dst a",
        // sorted sets
        "ZADD str 1 a",
        "ZRANGE str 0 -1",
        "ZSCORE str a",
        "ZRANK str a WITHSCORE",
        "ZINCRBY str 1 a",
        "ZCARD str",
        "ZPOPMIN str",
        // SORT
        "SORT str",
        "SORT_RO str",
    ] {
        assert_reply!(run(&mut c, line), wrongtype(), "{line}");
    }
    check(&mut c, &[("GET str", bulk("v")), ("EXISTS dst", int(0))]);
}

/// String commands refuse a hash, list, set or sorted set with WRONGTYPE
/// (MGET answers nil for them), and the collections are unchanged.
#[test]
fn string_commands_on_collections_are_wrongtype() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    check(
        &mut c,
        &[
            ("HSET h f v", int(1)),
            ("RPUSH l a", int(1)),
            ("SADD s a", int(1)),
            ("ZADD z 1 a", int(1)),
        ],
    );
    for key in ["h", "l", "s", "z"] {
        for command in [
            "GET {}",
            "GETDEL {}",
            "GETEX {}",
            "GETRANGE {} 0 -1",
            "STRLEN {}",
            "APPEND {} x",
            "SETRANGE {} 0 x",
            "GETSET {} x",
            "INCR {}",
            "DECRBY {} 2",
            "INCRBYFLOAT {} 1",
            "SETBIT {} 0 1",
        ] {
            let line = command.replace("{}", key);
            assert_reply!(run(&mut c, &line), wrongtype(), "{line}");
        }
    }
    check(
        &mut c,
        &[
            ("MGET h l s z", array(vec![nil(), nil(), nil(), nil()])),
            ("TYPE h", simple("hash")),
            ("TYPE l", simple("list")),
            ("TYPE s", simple("set")),
            ("TYPE z", simple("zset")),
            ("HGET h f", bulk("v")),
            ("LRANGE l 0 -1", bulks(&["a"])),
            ("SMEMBERS s", bulks(&["a"])),
            ("ZRANGE z 0 -1 WITHSCORES", bulks(&["a", "1"])),
        ],
    );
}
