//! The real `redis` crate (a widely used Rust client) against strata-server: connection setup,
//! typed commands, pipelines, transactions and SCAN iteration work unmodified.

mod common;

use common::Server;
use redis::Commands;

fn connect(srv: &Server) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", srv.port)).expect("client");
    client.get_connection().expect("connect")
}

#[test]
fn typed_commands_pipelines_and_transactions() {
    let srv = Server::strata(&[]);
    let mut con = connect(&srv);
    let _: () = con.set("greeting", "hello").unwrap();
    let v: String = con.get("greeting").unwrap();
    assert_eq!(v, "hello");
    let n: i64 = con.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    let missing: Option<String> = con.get("nope").unwrap();
    assert_eq!(missing, None);
    let _: () = con.set_ex("temp", "v", 100).unwrap();
    let ttl: i64 = con.ttl("temp").unwrap();
    assert!((99..=100).contains(&ttl));

    let (a, b): (i64, i64) = redis::pipe()
        .incr("p", 1)
        .incr("p", 2)
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (1, 3));

    let (x, y): (i64, String) = redis::pipe()
        .atomic()
        .incr("t", 10)
        .set("t2", "done")
        .ignore()
        .get("t2")
        .query(&mut con)
        .unwrap();
    assert_eq!((x, y.as_str()), (10, "done"));

    let err = redis::cmd("LPUSH")
        .arg("greeting")
        .arg("x")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");

    let n: i64 = con
        .hset_multiple("h", &[("a", "1"), ("b", "2")])
        .map(|_: ()| 2)
        .unwrap();
    assert_eq!(n, 2);
    let all: std::collections::HashMap<String, String> = con.hgetall("h").unwrap();
    assert_eq!(all.get("b").map(String::as_str), Some("2"));
    let _: () = con.rpush("q", &["x", "y", "z"]).unwrap();
    let popped: Vec<String> = con.lpop("q", std::num::NonZeroUsize::new(2)).unwrap();
    assert_eq!(popped, ["x", "y"]);
    let _: () = con
        .zadd_multiple("board", &[(10, "ann"), (30, "bob"), (20, "cy")])
        .unwrap();
    let top: Vec<(String, f64)> = con.zrevrange_withscores("board", 0, 1).unwrap();
    assert_eq!(top, [("bob".to_string(), 30.0), ("cy".to_string(), 20.0)]);
}

#[test]
fn scan_iter_sees_every_key_once() {
    let srv = Server::strata(&[]);
    let mut con = connect(&srv);
    let mut pipe = redis::pipe();
    for i in 0..2_000 {
        pipe.set(format!("scan:{i}"), i).ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    let mut seen: Vec<String> = con.scan_match("scan:*").unwrap().collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 2_000);
}

#[test]
fn watch_aborts_a_transaction_a_second_client_invalidated() {
    let srv = Server::strata(&[]);
    let mut a = connect(&srv);
    let mut b = connect(&srv);
    let _: () = a.set("balance", 100).unwrap();
    let _: () = redis::cmd("WATCH").arg("balance").query(&mut a).unwrap();
    let _: () = b.set("balance", 50).unwrap();
    let res: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr("balance", 1)
        .query(&mut a)
        .unwrap();
    assert_eq!(res, None, "EXEC must fail after a watched key changed");
    let v: i64 = a.get("balance").unwrap();
    assert_eq!(v, 50);
}
