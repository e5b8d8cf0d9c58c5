//! Pub/sub against redis-server: one scenario of several connections (subscribe, pattern and
//! shard subscriptions, publishing, the RESP2 subscribed-mode rules, RESP3 pushes, PUBSUB
//! introspection, RESET and errors) runs on both servers and every reply must be
//! byte-identical. Then what only Strata is asked here: a subscriber that stops reading is
//! disconnected at `client-output-buffer-limit pubsub`, and PUBLISH never waits for it.

mod common;

use std::time::{Duration, Instant};

use common::{run, RawClient, Resp, Server};

/// Runs the scenario against the server on `port`; returns every reply, rendered.
fn scenario(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |label: &str, r: Resp| out.push(format!("{label}: {}", r.render()));
    let mut sub = RawClient::connect(port);
    let mut psub = RawClient::connect(port);
    let mut publ = RawClient::connect(port);

    sub.send_raw(b"SUBSCRIBE news sport news\r\n");
    for _ in 0..3 {
        log("subscribe", sub.read_reply());
    }
    psub.send_raw(b"PSUBSCRIBE h?llo n*\r\n");
    for _ in 0..2 {
        log("psubscribe", psub.read_reply());
    }
    log("publish news", run(&mut publ, "PUBLISH news first"));
    log("publish hello", run(&mut publ, "PUBLISH hello second"));
    log("publish nobody", run(&mut publ, "PUBLISH quiet third"));
    log("sub gets", sub.read_reply());
    // The pattern subscriber gets news (n*) then hello (h?llo), in publish order.
    log("psub gets", psub.read_reply());
    log("psub gets", psub.read_reply());
    // RESP2 subscribed mode: only pub/sub commands, PING, QUIT and RESET.
    log("get while subscribed", run(&mut sub, "GET k"));
    log("ping while subscribed", run(&mut sub, "PING"));
    log("ping msg while subscribed", run(&mut sub, "PING hi"));
    log(
        "pubsub channels",
        run(&mut publ, "PUBSUB CHANNELS").sorted(),
    );
    log("pubsub channels n*", run(&mut publ, "PUBSUB CHANNELS n*"));
    log(
        "pubsub numsub",
        run(&mut publ, "PUBSUB NUMSUB news sport quiet"),
    );
    log("pubsub numsub none", run(&mut publ, "PUBSUB NUMSUB"));
    log("pubsub numpat", run(&mut publ, "PUBSUB NUMPAT"));
    log("unsubscribe news", run(&mut sub, "UNSUBSCRIBE news"));
    log("unsubscribe rest", run(&mut sub, "UNSUBSCRIBE"));
    log("unsubscribe again", run(&mut sub, "UNSUBSCRIBE"));
    log("get after", run(&mut sub, "GET k"));
    log("ping after", run(&mut sub, "PING"));
    log("punsubscribe one", run(&mut psub, "PUNSUBSCRIBE n*"));
    log("punsubscribe unknown", run(&mut psub, "PUNSUBSCRIBE never"));
    log("reset", run(&mut psub, "RESET"));
    log("get after reset", run(&mut psub, "GET k"));
    log("numpat after reset", run(&mut publ, "PUBSUB NUMPAT"));

    // RESP3: confirmations and messages are pushes, and other commands still work.
    let mut r3 = RawClient::connect(port);
    let _ = run(&mut r3, "HELLO 3");
    log("resp3 subscribe", run(&mut r3, "SUBSCRIBE r3"));
    log("resp3 get", run(&mut r3, "GET k"));
    log("resp3 ping", run(&mut r3, "PING"));
    log("publish r3", run(&mut publ, "PUBLISH r3 pushed"));
    log("resp3 message", r3.read_reply());
    log("resp3 unsubscribe", run(&mut r3, "UNSUBSCRIBE r3"));

    // Shard channels.
    let mut ssub = RawClient::connect(port);
    log("ssubscribe", run(&mut ssub, "SSUBSCRIBE orders"));
    log("spublish", run(&mut publ, "SPUBLISH orders o1"));
    log("spublish nobody", run(&mut publ, "SPUBLISH empty o2"));
    log("publish to shard name", run(&mut publ, "PUBLISH orders o3"));
    log("smessage", ssub.read_reply());
    log("shardchannels", run(&mut publ, "PUBSUB SHARDCHANNELS"));
    log(
        "shardnumsub",
        run(&mut publ, "PUBSUB SHARDNUMSUB orders empty"),
    );
    log("sunsubscribe", run(&mut ssub, "SUNSUBSCRIBE"));

    // Errors.
    for line in [
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "PUBLISH onlychannel",
        "SPUBLISH onlychannel",
        "PUBSUB",
        "PUBSUB NUMPAT extra",
        "PUBSUB CHANNELS a b",
        "PUBSUB NOSUCH",
    ] {
        log(line, run(&mut publ, line));
    }
    out
}

#[test]
fn pubsub_matches_redis() {
    let Some(redis) = Server::redis(&[]) else {
        eprintln!("redis-server not installed: skipping the pub/sub differential test");
        return;
    };
    let strata = Server::strata(&[]);
    let want = scenario(redis.port);
    let got = scenario(strata.port);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w, "strata differs from redis-server");
    }
    assert_eq!(got.len(), want.len());
}

/// A subscriber that never reads: its queued messages pass the hard limit, the server drops
/// it, and PUBLISH went on answering at once all along.
#[test]
fn a_subscriber_that_stops_reading_is_disconnected_at_the_limit() {
    let strata = Server::strata(&["--client-output-buffer-limit", "pubsub 1mb 256kb 60"]);
    let mut slow = RawClient::connect(strata.port);
    run(&mut slow, "SUBSCRIBE firehose");
    let mut publ = strata.client();
    let payload = "x".repeat(16 * 1024);
    let started = Instant::now();
    let mut dropped_at = None;
    for i in 0..2000 {
        match run(&mut publ, &format!("PUBLISH firehose {payload}")) {
            Resp::Int(1) => {}
            Resp::Int(0) => {
                dropped_at = Some(i);
                break;
            }
            other => panic!("PUBLISH answered {}", other.render()),
        }
    }
    let dropped_at = dropped_at.expect("the slow subscriber was never dropped");
    // The socket buffers hold some; the 1 MB limit holds the rest: well under 2000 × 16 KB.
    assert!(
        dropped_at < 1000,
        "dropped only after {dropped_at} messages"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "PUBLISH waited on the subscriber"
    );
    // The slow connection is closed: reading drains what was sent, then hits the end (not a
    // read timeout).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match slow.try_read_reply() {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "the subscriber was not closed: {e}"
                );
                break;
            }
        }
        assert!(Instant::now() < deadline, "the subscriber was not closed");
    }
    assert!(strata.log().contains("output buffer limits"));
    assert_eq!(
        run(&mut publ, "PUBSUB NUMSUB firehose"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"firehose".to_vec())),
            Resp::Int(0)
        ]))
    );
}

#[test]
fn output_buffer_limit_config_keeps_the_other_classes() {
    let strata = Server::strata(&[]);
    let mut c = strata.client();
    assert_eq!(
        run(
            &mut c,
            "CONFIG SET client-output-buffer-limit \"pubsub 1mb 512kb 10\""
        ),
        Resp::Simple(b"OK".to_vec())
    );
    assert_eq!(
        run(&mut c, "CONFIG GET client-output-buffer-limit"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"client-output-buffer-limit".to_vec())),
            Resp::Bulk(Some(
                b"normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 10".to_vec()
            )),
        ]))
    );
    for bad in ["pubsub 1mb 1mb", "nosuch 1 1 1", "pubsub x 1 1"] {
        assert!(
            run(
                &mut c,
                &format!("CONFIG SET client-output-buffer-limit \"{bad}\"")
            )
            .is_error(),
            "{bad} accepted"
        );
    }
}
