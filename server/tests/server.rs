//! Integration tests of the running server for what the differential suite
//! cannot pin: malformed and hostile input, pipelining, limits, several
//! clients at once, configuration and the command table.
//!
//! Every test starts its own `strata-server` on a free loopback port. Waits
//! are bounded by a count and a deadline; nothing asserts that something is
//! fast, only that it happens and what it answers. The expected replies are
//! those of `redis-server` 7: run against redis-server 7.0.15 (started in
//! place of strata-server), every test passes except two that pin where
//! Strata chooses differently. A declared bulk is not reserved before its
//! data arrives, and `port` cannot be changed with CONFIG SET.
//!
//! A few tests pin Redis behaviour that Strata does not have yet; each says
//! so in its doc comment, with the commands that show the difference.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_reply, encode_command, free_port, owns_port, run, RawClient, Resp, Server};

const MB: u64 = 1024 * 1024;
const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// The start of HELLO's refusal (the end names the options, and differs
/// between Redis 7.0 and 7.2).
const HELLO_NOAUTH: &[u8] = b"NOAUTH HELLO must be called with the client already authenticated";
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
const STRING_TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
/// Longest wait for something the server does on its own (expiry, closing
/// a connection, freeing a client slot).
const PATIENCE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);
/// Longest wait for a server process that should refuse to start.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ helpers

fn ok() -> Resp {
    simple("OK")
}

fn pong() -> Resp {
    simple("PONG")
}

fn simple(text: &str) -> Resp {
    Resp::Simple(text.as_bytes().to_vec())
}

fn error(text: &str) -> Resp {
    Resp::Error(text.as_bytes().to_vec())
}

fn bulk(text: &str) -> Resp {
    Resp::Bulk(Some(text.as_bytes().to_vec()))
}

fn nil() -> Resp {
    Resp::Bulk(None)
}

fn array(items: Vec<Resp>) -> Resp {
    Resp::Array(Some(items))
}

/// The integer in an integer reply.
fn int(reply: Resp, what: &str) -> i64 {
    match reply {
        Resp::Int(n) => n,
        other => panic!("{what}: expected an integer, got {}", other.render()),
    }
}

/// The text of a bulk string or verbatim string reply.
fn text(reply: Resp, what: &str) -> String {
    match reply {
        Resp::Bulk(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        Resp::Verbatim(bytes) => {
            let body: &[u8] = bytes.strip_prefix(b"txt:").unwrap_or(&bytes);
            String::from_utf8_lossy(body).into_owned()
        }
        other => panic!("{what}: expected a string, got {}", other.render()),
    }
}

/// The value under `key` in a RESP3 map or a RESP2 flat key-value array.
fn field<'a>(reply: &'a Resp, key: &str) -> &'a Resp {
    let wanted = bulk(key);
    let found = match reply {
        Resp::Map(pairs) => pairs.iter().find(|(k, _)| *k == wanted).map(|(_, v)| v),
        Resp::Array(Some(items)) => items
            .chunks(2)
            .find(|pair| pair[0] == wanted)
            .and_then(|pair| pair.get(1)),
        _ => None,
    };
    found.unwrap_or_else(|| panic!("no {key:?} in {}", reply.render()))
}

/// One `name:value` line of an INFO section.
fn info_field(client: &mut RawClient, section: &str, name: &str) -> String {
    let body = text(client.cmd(&[b"INFO", section.as_bytes()]), "INFO");
    let prefix = format!("{name}:");
    body.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(|value| value.trim_end().to_string())
        .unwrap_or_else(|| panic!("INFO {section} has no {name}:\n{body}"))
}

fn info_u64(client: &mut RawClient, section: &str, name: &str) -> u64 {
    let value = info_field(client, section, name);
    value
        .parse()
        .unwrap_or_else(|_| panic!("INFO {name} is not a number: {value:?}"))
}

/// The value of one directive, from CONFIG GET in RESP2.
fn config_get(client: &mut RawClient, name: &str) -> String {
    let reply = client.cmd(&[b"CONFIG", b"GET", name.as_bytes()]);
    match &reply {
        Resp::Array(Some(items)) => match items.as_slice() {
            [key, value] if *key == bulk(name) => text(value.clone(), name),
            _ => panic!("CONFIG GET {name}: {}", reply.render()),
        },
        other => panic!("CONFIG GET {name}: {}", other.render()),
    }
}

fn config_set(client: &mut RawClient, name: &str, value: &str) -> Resp {
    client.cmd(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()])
}

/// True for the errors a read or write gets once the peer has closed.
fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Reads once more and requires the server to have closed the connection
/// (the read ends within the client's read timeout either way).
fn expect_closed(client: &mut RawClient, what: &str) {
    match client.try_read_reply() {
        Err(e) if is_closed(&e) => {}
        Err(e) => panic!("{what}: expected the server to close the connection, got: {e}"),
        Ok(reply) => panic!(
            "{what}: expected the connection to be closed, got {}",
            reply.render()
        ),
    }
}

/// The line of CLIENT LIST that describes client `id`.
fn client_line(list: &str, id: i64) -> String {
    let prefix = format!("id={id} ");
    list.lines()
        .find(|line| line.starts_with(prefix.as_str()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no client {id} in CLIENT LIST:\n{list}"))
}

/// The value of `name=` in a CLIENT LIST line.
fn client_field(line: &str, name: &str) -> String {
    let prefix = format!("{name}=");
    line.split(' ')
        .find_map(|word| word.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
}

/// Waits (bounded) until CLIENT LIST shows `count` connections.
fn wait_for_clients(client: &mut RawClient, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = text(run(client, "CLIENT LIST"), "CLIENT LIST");
        if list.lines().count() == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {count} clients after {PATIENCE:?}, CLIENT LIST shows:\n{list}"
        );
        thread::sleep(POLL);
    }
}

/// Fills the keyspace with 3 MB under `noeviction`, then sets `maxmemory`
/// 1 MB below what is used, so every write is refused and no single DEL can
/// bring memory back under the limit.
fn over_maxmemory(server: &Server) -> RawClient {
    let mut c = server.client();
    let value = vec![b'v'; 10 * 1024];
    for i in 0..300 {
        let key = format!("fill:{i}");
        assert_reply!(c.cmd(&[b"SET", key.as_bytes(), &value]), ok(), "SET {key}");
    }
    let used = info_u64(&mut c, "memory", "used_memory");
    let limit = (used - MB).to_string();
    assert_reply!(config_set(&mut c, "maxmemory", &limit), ok());
    assert_reply!(run(&mut c, "SET probe x"), error(OOM), "used_memory {used}");
    c
}

/// Runs strata-server with `args` and waits (bounded) for it to exit, as it
/// must when its configuration is invalid. Returns how it exited and
/// everything it printed.
fn run_strata_to_exit(args: &[OsString]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start strata-server: {e}"));
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(None) => thread::sleep(POLL),
            _ => break,
        }
    }
    let exited = matches!(child.try_wait(), Ok(Some(_)));
    if !exited {
        let _ = child.kill();
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for strata-server: {e}"));
    let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(
        exited,
        "strata-server {args:?} was still running after {EXIT_TIMEOUT:?}; output:\n{printed}"
    );
    (output.status, printed)
}

// ------------------------------------------------------------------ protocol

/// Each malformed frame gets Redis's exact protocol error, then only that
/// connection is closed: a client connected before it keeps working.
#[test]
fn malformed_frames_get_a_protocol_error_and_close_only_their_connection() {
    let server = Server::strata(&[]);
    let mut bystander = server.client();
    assert_reply!(run(&mut bystander, "SET bystander alive"), ok());

    let long_inline = vec![b'a'; 70 * 1024];
    let mut long_count = b"*".to_vec();
    long_count.resize(long_count.len() + 70 * 1024, b'1');
    let mut long_length = b"*1\r\n$".to_vec();
    long_length.resize(long_length.len() + 70 * 1024, b'1');
    let cases: [(&str, Vec<u8>, &str); 11] = [
        (
            "letters as a multibulk count",
            b"*abc\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            "a negative bulk length",
            b"*1\r\n$-5\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            "an argument that is not a bulk string",
            b"*1\r\nx\r\n".to_vec(),
            "ERR Protocol error: expected '$', got 'x'",
        ),
        (
            "an integer as an argument",
            b"*2\r\n$3\r\nGET\r\n:1\r\n".to_vec(),
            "ERR Protocol error: expected '$', got ':'",
        ),
        (
            "a bulk length one above the default proto-max-bulk-len",
            b"*1\r\n$536870913\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            "a multibulk count beyond any limit",
            b"*99999999999\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            "a 70 KB inline line without a newline",
            long_inline,
            "ERR Protocol error: too big inline request",
        ),
        (
            "a 70 KB multibulk count line",
            long_count,
            "ERR Protocol error: too big mbulk count string",
        ),
        (
            "a 70 KB bulk length line",
            long_length,
            "ERR Protocol error: too big bulk count string",
        ),
        (
            "an inline command with an unbalanced quote",
            b"SET k \"unbalanced\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            "an inline closing quote followed by a letter",
            b"SET k \"a\"b\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (label, frame, expected) in &cases {
        let mut bad = server.client();
        // The server may close before it has read the whole frame.
        let _ = bad.try_send_raw(frame);
        let reply = bad
            .try_read_reply()
            .unwrap_or_else(|e| panic!("{label}: no reply: {e}"));
        assert_reply!(reply, error(expected), "{label}");
        expect_closed(&mut bad, label);
        assert_reply!(run(&mut bystander, "PING"), pong(), "after {label}");
        assert_reply!(
            run(&mut bystander, "GET bystander"),
            bulk("alive"),
            "after {label}"
        );
    }

    // Commands before the bad frame in the same buffer are still answered.
    let mut bad = server.client();
    bad.send_raw(b"PING\r\n*abc\r\n");
    assert_reply!(bad.read_reply(), pong());
    assert_reply!(
        bad.read_reply(),
        error("ERR Protocol error: invalid multibulk length")
    );
    expect_closed(&mut bad, "a bad frame after a PING");

    assert_reply!(run(&mut bystander, "SET after all-of-it"), ok());
    assert_reply!(run(&mut bystander, "GET after"), bulk("all-of-it"));
}

/// A declared 500 MB bulk is not reserved while its data has not arrived.
/// Stricter than Redis: redis-server 7 reserves the declared length at once
/// (its used_memory jumps by 500 MB), so this test fails against it.
#[test]
fn a_declared_huge_bulk_is_not_allocated_up_front() {
    const LIMIT: u64 = 100 * MB;
    let server = Server::strata(&[]);
    let mut watcher = server.client();
    let before = info_u64(&mut watcher, "memory", "used_memory");
    assert!(before < LIMIT, "used_memory {before} before the test");

    let mut pending = server.client();
    pending.send_raw(b"*1\r\n$500000000\r\nabc");
    for sample in 0..10 {
        thread::sleep(Duration::from_millis(30));
        let used = info_u64(&mut watcher, "memory", "used_memory");
        assert!(
            used < LIMIT,
            "used_memory {used} (sample {sample}) while a 500 MB bulk is pending"
        );
    }
    drop(pending);
    assert_reply!(run(&mut watcher, "PING"), pong());
    assert_reply!(run(&mut watcher, "SET k v"), ok());
}

/// Redis 7 accepts multibulk counts up to 2^31-1 (the 1M limit is from Redis
/// 6 and older). Strata refuses more than 1048576 arguments:
/// `*1100000\r\n$3\r\nDEL\r\n...` gets `-ERR Protocol error: invalid
/// multibulk length` where redis-server 7 answers `:1`.
#[test]
fn multibulk_counts_above_a_million_are_accepted() {
    const ARGS: usize = 1_100_000;
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET k v"), ok());
    let mut frame = format!("*{ARGS}\r\n$3\r\nDEL\r\n").into_bytes();
    frame.extend(b"$1\r\nk\r\n".repeat(ARGS - 1));
    // A refusal closes the connection before the frame is all written.
    let _ = c.try_send_raw(&frame);
    let reply = c
        .try_read_reply()
        .unwrap_or_else(|e| panic!("no reply to DEL with {ARGS} arguments: {e}"));
    assert_reply!(reply, Resp::Int(1));
    assert_reply!(run(&mut c, "EXISTS k"), Resp::Int(0));
}

// ------------------------------------------------------------------ pipelining

#[test]
fn ten_thousand_pipelined_commands_are_answered_in_order() {
    const COMMANDS: i64 = 10_000;
    let server = Server::strata(&[]);
    let mut c = server.client();
    let pipeline = encode_command(&[b"INCR", b"pipelined"]).repeat(COMMANDS as usize);
    c.send_raw(&pipeline);
    for expected in 1..=COMMANDS {
        assert_reply!(c.read_reply(), Resp::Int(expected), "reply {expected}");
    }
    assert_reply!(run(&mut c, "GET pipelined"), bulk("10000"));
}

/// The parser waits for the rest of a frame wherever it is cut, including
/// between CR and LF and inside a bulk payload that itself contains CRLF.
#[test]
fn frames_cut_at_every_byte_still_parse() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let mut buffer = encode_command(&[b"SET", b"split", b"value"]);
    buffer.extend_from_slice(b"PING\r\n");
    buffer.extend(encode_command(&[b"ECHO", b"a\r\nb"]));
    buffer.extend_from_slice(b"GET split\r\n");
    let expected = [ok(), pong(), bulk("a\r\nb"), bulk("value")];

    for cut in 1..buffer.len() {
        c.send_raw(&buffer[..cut]);
        thread::sleep(Duration::from_millis(2));
        c.send_raw(&buffer[cut..]);
        for want in &expected {
            assert_reply!(&c.read_reply(), want, "buffer cut after byte {cut}");
        }
    }

    for byte in &buffer {
        c.send_raw(std::slice::from_ref(byte));
        thread::sleep(Duration::from_millis(1));
    }
    for want in &expected {
        assert_reply!(&c.read_reply(), want, "buffer sent one byte at a time");
    }
}

#[test]
fn inline_commands_work_and_empty_frames_get_no_reply() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    c.send_raw(b"PING\r\n");
    assert_reply!(c.read_reply(), pong());
    c.send_raw(b"SET a \"b c\"\r\nGET a\r\n");
    assert_reply!(c.read_reply(), ok());
    assert_reply!(c.read_reply(), bulk("b c"));
    c.send_raw(b"SET q 'it\\'s'\r\nGET q\r\n");
    assert_reply!(c.read_reply(), ok());
    assert_reply!(c.read_reply(), bulk("it's"));
    c.send_raw(b"SET x \"\\x41\\n\"\r\nGET x\r\n");
    assert_reply!(c.read_reply(), ok());
    assert_reply!(c.read_reply(), bulk("A\n"));
    c.send_raw(b"ECHO bare-newline\n");
    assert_reply!(c.read_reply(), bulk("bare-newline"));

    // Empty lines, blank lines, *0 and *-1 are skipped without a reply: the
    // first reply after them is the PING's.
    c.send_raw(b"\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n");
    assert_reply!(c.read_reply(), pong());
    assert_reply!(run(&mut c, "ECHO after"), bulk("after"));
}

// ------------------------------------------------------------------ RESP3

#[test]
fn hello_switches_between_resp2_and_resp3() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let id = int(run(&mut c, "CLIENT ID"), "CLIENT ID");

    let hello = run(&mut c, "HELLO 3");
    assert!(
        matches!(hello, Resp::Map(_)),
        "HELLO 3 must answer with a map, got {}",
        hello.render()
    );
    assert_reply!(field(&hello, "proto"), &Resp::Int(3));
    assert_reply!(field(&hello, "id"), &Resp::Int(id));
    assert_reply!(field(&hello, "server"), &bulk("redis"));
    assert_reply!(field(&hello, "mode"), &bulk("standalone"));
    assert_reply!(field(&hello, "role"), &bulk("master"));
    assert_reply!(run(&mut c, "GET missing"), Resp::Null);
    assert_reply!(
        run(&mut c, "CONFIG GET maxmemory"),
        Resp::Map(vec![(bulk("maxmemory"), bulk("0"))])
    );

    assert_reply!(
        run(&mut c, "HELLO 4"),
        error("NOPROTO unsupported protocol version")
    );
    assert_reply!(
        run(&mut c, "HELLO abc"),
        error("ERR Protocol version is not an integer or out of range")
    );
    assert_reply!(run(&mut c, "GET missing"), Resp::Null, "still RESP3");

    let hello = run(&mut c, "HELLO 2");
    assert!(
        matches!(hello, Resp::Array(Some(_))),
        "HELLO 2 must answer with an array, got {}",
        hello.render()
    );
    assert_reply!(field(&hello, "proto"), &Resp::Int(2));
    assert_reply!(field(&hello, "id"), &Resp::Int(id));
    assert_reply!(run(&mut c, "GET missing"), nil());
    assert_reply!(
        run(&mut c, "CONFIG GET maxmemory"),
        array(vec![bulk("maxmemory"), bulk("0")])
    );
}

// ------------------------------------------------------------------ auth

#[test]
fn requirepass_gates_every_command_until_auth() {
    let server = Server::strata(&["--requirepass", "secret"]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "PING"), error(NOAUTH));
    assert_reply!(run(&mut c, "GET k"), error(NOAUTH));
    assert_reply!(run(&mut c, "AUTH wrong"), error(WRONGPASS));
    assert_reply!(run(&mut c, "AUTH default wrong"), error(WRONGPASS));
    assert_reply!(run(&mut c, "AUTH nobody secret"), error(WRONGPASS));
    let refused = run(&mut c, "HELLO 3");
    assert!(
        matches!(&refused, Resp::Error(e) if e.starts_with(HELLO_NOAUTH)),
        "HELLO 3 before AUTH: {}",
        refused.render()
    );
    assert_reply!(run(&mut c, "AUTH secret"), ok());
    assert_reply!(run(&mut c, "PING"), pong());
    assert_reply!(run(&mut c, "SET k v"), ok());

    let mut with_user = server.client();
    assert_reply!(run(&mut with_user, "AUTH default secret"), ok());
    assert_reply!(run(&mut with_user, "GET k"), bulk("v"));

    let mut hello = server.client();
    let reply = run(&mut hello, "HELLO 3 AUTH default secret");
    assert_reply!(field(&reply, "proto"), &Resp::Int(3), "{}", reply.render());
    assert_reply!(run(&mut hello, "GET k"), bulk("v"));
    assert_reply!(run(&mut hello, "GET missing"), Resp::Null);

    // A failed HELLO AUTH changes neither the protocol nor the login.
    let mut refused = server.client();
    assert_reply!(
        run(&mut refused, "HELLO 3 AUTH default wrong"),
        error(WRONGPASS)
    );
    assert_reply!(run(&mut refused, "GET k"), error(NOAUTH));

    // RESET logs the connection out again.
    assert_reply!(run(&mut c, "RESET"), simple("RESET"));
    assert_reply!(run(&mut c, "PING"), error(NOAUTH));
    assert_reply!(run(&mut c, "GET k"), error(NOAUTH));
    assert_reply!(run(&mut c, "AUTH secret"), ok());
    assert_reply!(run(&mut c, "GET k"), bulk("v"));

    // QUIT needs no password.
    let mut leaving = server.client();
    assert_reply!(run(&mut leaving, "QUIT"), ok());
    expect_closed(&mut leaving, "QUIT before AUTH");
}

/// Redis refuses large frames from clients that have not authenticated yet,
/// so they cannot fill memory: more than 10 arguments or a bulk longer than
/// 16384 bytes is a protocol error. Strata waits for the rest of such a frame
/// instead: `*11\r\n` gets `-ERR Protocol error: unauthenticated multibulk
/// length` from redis-server and no reply from strata-server.
#[test]
fn unauthenticated_clients_cannot_send_large_frames() {
    let server = Server::strata(&["--requirepass", "secret"]);
    let mut many = server.client();
    many.send_raw(b"*11\r\n");
    assert_reply!(
        many.read_reply(),
        error("ERR Protocol error: unauthenticated multibulk length")
    );
    expect_closed(&mut many, "11 arguments before AUTH");

    let mut long = server.client();
    long.send_raw(b"*2\r\n$4\r\nECHO\r\n$16385\r\n");
    assert_reply!(
        long.read_reply(),
        error("ERR Protocol error: unauthenticated bulk length")
    );
    expect_closed(&mut long, "a 16385-byte bulk before AUTH");

    // Once authenticated there is no such limit.
    let mut c = server.client();
    assert_reply!(run(&mut c, "AUTH secret"), ok());
    assert_reply!(run(&mut c, "MSET a 1 b 2 c 3 d 4 e 5"), ok());
    let payload = vec![b'p'; 20_000];
    assert_reply!(
        c.cmd(&[b"ECHO", &payload]),
        Resp::Bulk(Some(payload.clone()))
    );
}

// ------------------------------------------------------------------ limits

#[test]
fn maxclients_refuses_the_connection_over_the_limit() {
    let server = Server::strata(&["--maxclients", "2"]);
    let mut first = server.client();
    assert_reply!(run(&mut first, "PING"), pong());
    // The connection that checked the server was up may still be counted.
    wait_for_clients(&mut first, 1);

    let mut second = server.client();
    assert_reply!(run(&mut second, "PING"), pong());
    let mut third = server.client();
    assert_reply!(
        third.read_reply(),
        error("ERR max number of clients reached")
    );
    expect_closed(&mut third, "the connection over maxclients");
    assert!(info_u64(&mut first, "stats", "rejected_connections") >= 1);
    assert_reply!(run(&mut first, "PING"), pong());

    // A closed connection frees its slot.
    drop(second);
    let deadline = Instant::now() + PATIENCE;
    let mut replacement = loop {
        let mut candidate = server.client();
        match candidate.try_cmd(&[b"PING"]) {
            Ok(reply) if reply == pong() => break candidate,
            outcome => {
                assert!(
                    Instant::now() < deadline,
                    "no slot was freed after a client left; last attempt: {outcome:?}"
                );
                thread::sleep(POLL);
            }
        }
    };
    assert_reply!(run(&mut replacement, "SET k v"), ok());

    // Raising the limit at run time lets one more in.
    assert_reply!(config_set(&mut first, "maxclients", "3"), ok());
    let mut another = server.client();
    assert_reply!(run(&mut another, "GET k"), bulk("v"));
}

#[test]
fn proto_max_bulk_len_bounds_every_argument() {
    let server = Server::strata(&["--proto-max-bulk-len", "1mb"]);
    let mut c = server.client();
    assert_eq!(config_get(&mut c, "proto-max-bulk-len"), "1048576");

    let at_limit = vec![b'p'; 1 << 20];
    assert_reply!(
        c.cmd(&[b"ECHO", &at_limit]),
        Resp::Bulk(Some(at_limit.clone()))
    );

    for length in ["1048577", "2097152"] {
        let mut bad = server.client();
        let frame = format!("*2\r\n$4\r\nECHO\r\n${length}\r\n");
        bad.send_raw(frame.as_bytes());
        assert_reply!(
            bad.read_reply(),
            error("ERR Protocol error: invalid bulk length"),
            "a bulk of {length} bytes"
        );
        expect_closed(&mut bad, "a bulk over proto-max-bulk-len");
        assert_reply!(run(&mut c, "PING"), pong());
    }

    // The limit can be raised at run time, but not below 1 MB.
    assert_reply!(config_set(&mut c, "proto-max-bulk-len", "2mb"), ok());
    let two_mb = vec![b'q'; 2 << 20];
    assert_reply!(c.cmd(&[b"ECHO", &two_mb]), Resp::Bulk(Some(two_mb.clone())));
    assert_reply!(
        config_set(&mut c, "proto-max-bulk-len", "1000"),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - \
             argument must be between 1048576 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(config_get(&mut c, "proto-max-bulk-len"), "2097152");
}

#[test]
fn client_query_buffer_limit_closes_the_flooding_client_only() {
    let server = Server::strata(&["--client-query-buffer-limit", "1mb"]);
    let mut bystander = server.client();
    assert_eq!(
        config_get(&mut bystander, "client-query-buffer-limit"),
        "1048576"
    );
    assert_reply!(run(&mut bystander, "SET bystander alive"), ok());

    // 3 MB of a 10 MB argument that never completes.
    let mut flood = server.client();
    flood.send_raw(b"*2\r\n$4\r\nECHO\r\n$10000000\r\n");
    let chunk = vec![b'q'; 64 * 1024];
    for _ in 0..48 {
        if flood.try_send_raw(&chunk).is_err() {
            break;
        }
    }
    expect_closed(&mut flood, "a client over client-query-buffer-limit");

    assert_reply!(run(&mut bystander, "PING"), pong());
    assert_reply!(run(&mut bystander, "GET bystander"), bulk("alive"));
    let half_mb = vec![b'h'; 512 * 1024];
    assert_reply!(
        bystander.cmd(&[b"ECHO", &half_mb]),
        Resp::Bulk(Some(half_mb.clone()))
    );
}

#[test]
fn timeout_closes_idle_clients_only() {
    let server = Server::strata(&["--timeout", "1"]);
    let mut idle = server.client();
    assert_reply!(run(&mut idle, "PING"), pong());

    // Half the timeout is not enough to be closed.
    let mut patient = server.client();
    thread::sleep(Duration::from_millis(400));
    assert_reply!(run(&mut patient, "PING"), pong());

    // A client that keeps talking stays, while `idle` stays silent.
    let mut busy = server.client();
    for round in 0..8 {
        thread::sleep(Duration::from_millis(300));
        assert_reply!(run(&mut busy, "PING"), pong(), "busy client, round {round}");
    }
    expect_closed(&mut idle, "a client idle for more than timeout");
    assert_reply!(run(&mut busy, "PING"), pong());
}

/// Redis closes a client idle for longer than `timeout` even inside MULTI
/// (only replicas, blocked and Pub/Sub clients are exempt). Strata exempts
/// MULTI: with `--timeout 1`, `MULTI` then 3 s of silence then `PING` gets
/// `+QUEUED` from strata-server; redis-server has closed the connection.
#[test]
fn timeout_also_closes_idle_clients_inside_multi() {
    let server = Server::strata(&["--timeout", "1"]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "MULTI"), ok());
    expect_closed(&mut c, "a client idle inside MULTI");
}

// ------------------------------------------------------------------ CLIENT

#[test]
fn client_ids_names_list_info_and_kill() {
    let server = Server::strata(&[]);
    let mut a = server.client();
    let mut b = server.client();
    let id_a = int(run(&mut a, "CLIENT ID"), "CLIENT ID");
    let id_b = int(run(&mut b, "CLIENT ID"), "CLIENT ID");
    assert_ne!(id_a, id_b);
    assert_eq!(int(run(&mut a, "CLIENT ID"), "CLIENT ID"), id_a, "stable");

    assert_reply!(run(&mut a, "CLIENT SETNAME alpha"), ok());
    assert_reply!(run(&mut a, "CLIENT GETNAME"), bulk("alpha"));
    assert_reply!(run(&mut b, "CLIENT GETNAME"), nil());
    assert_reply!(
        run(&mut a, "CLIENT SETNAME \"a b\""),
        error("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_reply!(run(&mut a, "CLIENT GETNAME"), bulk("alpha"));

    assert_reply!(run(&mut b, "GET nothing"), nil());
    let list = text(run(&mut a, "CLIENT LIST"), "CLIENT LIST");
    let line_a = client_line(&list, id_a);
    let line_b = client_line(&list, id_b);
    assert_eq!(client_field(&line_a, "name"), "alpha");
    assert_eq!(client_field(&line_b, "name"), "");
    assert_eq!(client_field(&line_b, "cmd"), "get");
    assert_eq!(client_field(&line_a, "db"), "0");

    let info = text(run(&mut a, "CLIENT INFO"), "CLIENT INFO");
    assert!(info.ends_with('\n'), "CLIENT INFO {info:?}");
    assert_eq!(info.lines().count(), 1, "CLIENT INFO {info:?}");
    assert_eq!(client_field(&info, "id"), id_a.to_string());
    assert_eq!(client_field(&info, "name"), "alpha");
    assert_eq!(client_field(&info, "flags"), "N");

    assert_reply!(run(&mut a, "CLIENT NO-EVICT on"), ok());
    let info = text(run(&mut a, "CLIENT INFO"), "CLIENT INFO");
    assert_eq!(client_field(&info, "flags"), "e");
    assert_reply!(
        run(&mut a, "CLIENT NO-EVICT maybe"),
        error("ERR syntax error")
    );
    assert_reply!(run(&mut a, "CLIENT NO-EVICT off"), ok());
    let info = text(run(&mut a, "CLIENT INFO"), "CLIENT INFO");
    assert_eq!(client_field(&info, "flags"), "N");

    // KILL ID skips the caller by default, kills the other exactly once.
    assert_reply!(run(&mut a, &format!("CLIENT KILL ID {id_a}")), Resp::Int(0));
    assert_reply!(run(&mut a, &format!("CLIENT KILL ID {id_b}")), Resp::Int(1));
    expect_closed(&mut b, "a client killed by ID");
    assert_reply!(run(&mut a, &format!("CLIENT KILL ID {id_b}")), Resp::Int(0));
    assert_reply!(
        run(&mut a, "CLIENT KILL ID 0"),
        error("ERR client-id should be greater than 0")
    );

    // The old form takes the address.
    let mut c = server.client();
    let info_c = text(run(&mut c, "CLIENT INFO"), "CLIENT INFO");
    let addr_c = client_field(&info_c, "addr");
    assert_reply!(run(&mut a, &format!("CLIENT KILL {addr_c}")), ok());
    expect_closed(&mut c, "a client killed by address");
    assert_reply!(
        run(&mut a, &format!("CLIENT KILL {addr_c}")),
        error("ERR No such client")
    );

    wait_for_clients(&mut a, 1);
    assert_reply!(run(&mut a, "PING"), pong());
}

/// Redis 7 reports a container command with its subcommand in `cmd=`:
/// `CLIENT LIST` shows `cmd=client|list` for the caller. Strata shows
/// `cmd=client`.
#[test]
fn client_list_names_the_subcommand_in_cmd() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let id = int(run(&mut c, "CLIENT ID"), "CLIENT ID");
    let list = text(run(&mut c, "CLIENT LIST"), "CLIENT LIST");
    assert_eq!(client_field(&client_line(&list, id), "cmd"), "client|list");
    let info = text(run(&mut c, "CLIENT INFO"), "CLIENT INFO");
    assert_eq!(client_field(&info, "cmd"), "client|info");
}

/// RESET makes the connection look new, which includes dropping its name.
/// Strata keeps it: `CLIENT SETNAME foo`, `RESET`, `CLIENT GETNAME` answers
/// `"foo"`; redis-server answers nil.
#[test]
fn reset_clears_the_client_state() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "CLIENT SETNAME foo"), ok());
    assert_reply!(run(&mut c, "SELECT 3"), ok());
    assert_reply!(run(&mut c, "SET in3 x"), ok());
    assert!(matches!(run(&mut c, "HELLO 3"), Resp::Map(_)));
    assert_reply!(run(&mut c, "MULTI"), ok());
    assert_reply!(run(&mut c, "RESET"), simple("RESET"));
    assert_reply!(run(&mut c, "GET in3"), nil(), "back in db 0, in RESP2");
    assert_reply!(run(&mut c, "EXEC"), error("ERR EXEC without MULTI"));
    assert_reply!(run(&mut c, "CLIENT GETNAME"), nil());
}

// ------------------------------------------------------------------ transactions

#[test]
fn watch_is_broken_by_writes_flushes_and_expiry() {
    let server = Server::strata(&[]);
    let mut a = server.client();
    let mut b = server.client();
    let queued = simple("QUEUED");

    // Another client's write aborts the transaction.
    assert_reply!(run(&mut a, "WATCH k"), ok());
    assert_reply!(run(&mut b, "SET k from-b"), ok());
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET k from-a"), queued);
    assert_reply!(run(&mut a, "EXEC"), Resp::Array(None));
    assert_reply!(run(&mut a, "GET k"), bulk("from-b"));

    // Without interference it runs.
    assert_reply!(run(&mut a, "WATCH k"), ok());
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET k from-a"), queued);
    assert_reply!(run(&mut a, "EXEC"), array(vec![ok()]));
    assert_reply!(run(&mut a, "GET k"), bulk("from-a"));

    // FLUSHALL from another client deletes the watched key.
    assert_reply!(run(&mut a, "WATCH k"), ok());
    assert_reply!(run(&mut b, "FLUSHALL"), ok());
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET k again"), queued);
    assert_reply!(run(&mut a, "EXEC"), Resp::Array(None));
    assert_reply!(run(&mut a, "GET k"), nil());

    // A watched key that expires counts as changed.
    assert_reply!(run(&mut a, "SET e v PX 100"), ok());
    assert_reply!(run(&mut a, "WATCH e"), ok());
    thread::sleep(Duration::from_millis(250));
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET other 1"), queued);
    assert_reply!(run(&mut a, "EXEC"), Resp::Array(None));
    assert_reply!(run(&mut a, "GET other"), nil());

    // UNWATCH forgets the change.
    assert_reply!(run(&mut a, "WATCH k"), ok());
    assert_reply!(run(&mut b, "SET k x"), ok());
    assert_reply!(run(&mut a, "UNWATCH"), ok());
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET k y"), queued);
    assert_reply!(run(&mut a, "EXEC"), array(vec![ok()]));

    // A write to the same name in another database is another key.
    assert_reply!(run(&mut a, "SELECT 1"), ok());
    assert_reply!(run(&mut a, "WATCH k"), ok());
    assert_reply!(run(&mut b, "SET k in-db-0"), ok());
    assert_reply!(run(&mut a, "MULTI"), ok());
    assert_reply!(run(&mut a, "SET k in-db-1"), queued);
    assert_reply!(run(&mut a, "EXEC"), array(vec![ok()]));
    assert_reply!(run(&mut a, "GET k"), bulk("in-db-1"));
    assert_reply!(run(&mut b, "GET k"), bulk("in-db-0"));
}

/// Four clients each run 200 `MULTI; INCR c; INCR c; GET c; EXEC`: no other
/// command lands inside a transaction.
#[test]
fn concurrent_transactions_do_not_interleave() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 200;
    let server = Server::strata(&[]);
    let port = server.port;
    let transaction = [
        encode_command(&[b"MULTI"]),
        encode_command(&[b"INCR", b"c"]),
        encode_command(&[b"INCR", b"c"]),
        encode_command(&[b"GET", b"c"]),
        encode_command(&[b"EXEC"]),
    ]
    .concat();
    let transaction = transaction.as_slice();

    let mut firsts: Vec<i64> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|worker| {
                scope.spawn(move || {
                    let mut c = RawClient::connect(port);
                    let mut firsts = Vec::with_capacity(ROUNDS);
                    for round in 0..ROUNDS {
                        let what = format!("worker {worker}, round {round}");
                        c.send_raw(transaction);
                        assert_reply!(c.read_reply(), ok(), "MULTI, {what}");
                        for _ in 0..3 {
                            assert_reply!(c.read_reply(), simple("QUEUED"), "{what}");
                        }
                        let reply = c.read_reply();
                        let Resp::Array(Some(items)) = &reply else {
                            panic!("EXEC, {what}: {}", reply.render());
                        };
                        let [Resp::Int(first), Resp::Int(second), Resp::Bulk(Some(got))] =
                            items.as_slice()
                        else {
                            panic!("EXEC, {what}: {}", reply.render());
                        };
                        assert_eq!(*second, first + 1, "EXEC, {what}: {}", reply.render());
                        assert_eq!(
                            got.as_slice(),
                            second.to_string().as_bytes(),
                            "EXEC, {what}: {}",
                            reply.render()
                        );
                        firsts.push(*first);
                    }
                    firsts
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a transaction thread panicked"))
            .collect()
    });

    firsts.sort_unstable();
    let every_odd: Vec<i64> = (0..(THREADS * ROUNDS) as i64).map(|i| 2 * i + 1).collect();
    assert_eq!(
        firsts, every_odd,
        "each transaction saw its own pair of INCRs"
    );
    let mut c = server.client();
    assert_reply!(run(&mut c, "GET c"), bulk("1600"));
}

// ------------------------------------------------------------------ expiry

/// Keys that are never read again still go away: active expiry.
#[test]
fn active_expiry_removes_keys_nobody_reads() {
    const KEYS: usize = 2000;
    let server = Server::strata(&[]);
    let mut c = server.client();
    let mut pipeline = Vec::new();
    for i in 0..KEYS {
        let key = format!("short-lived:{i}");
        pipeline.extend(encode_command(&[
            b"SET",
            key.as_bytes(),
            b"v",
            b"PX",
            b"100",
        ]));
    }
    c.send_raw(&pipeline);
    for i in 0..KEYS {
        assert_reply!(c.read_reply(), ok(), "SET {i}");
    }

    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = int(run(&mut c, "DBSIZE"), "DBSIZE");
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} keys still there {PATIENCE:?} after they expired"
        );
        thread::sleep(POLL);
    }
    let expired = info_u64(&mut c, "stats", "expired_keys");
    assert!(expired >= KEYS as u64, "expired_keys {expired}");
}

/// INFO memory's allocator overheads, under Redis's names and definitions: fragmentation in
/// jemalloc's runs (active - allocated), its resident pages beyond those (resident -
/// active), the rest of RSS (rss - resident), and RSS beyond used_memory. All from one reply,
/// which reads each figure once.
#[test]
fn info_memory_reports_the_allocator_overheads_as_redis_does() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    for i in 0..2000 {
        let v = "v".repeat(i % 300);
        c.cmd(&[b"SET", format!("k{i}").as_bytes(), v.as_bytes()]);
    }
    let body = text(c.cmd(&[b"INFO", b"memory"]), "INFO");
    let field = |name: &str| -> f64 {
        let prefix = format!("{name}:");
        body.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("INFO memory has no {name}:\n{body}"))
            .trim_end()
            .parse()
            .unwrap_or_else(|_| panic!("INFO {name} is not a number"))
    };
    let (allocated, active, resident) = (
        field("allocator_allocated"),
        field("allocator_active"),
        field("allocator_resident"),
    );
    let (rss, used) = (field("used_memory_rss"), field("used_memory"));
    assert!(allocated > 0.0 && active >= allocated && resident >= active);
    assert_eq!(field("allocator_frag_bytes"), active - allocated);
    assert_eq!(field("allocator_rss_bytes"), resident - active);
    assert_eq!(field("rss_overhead_bytes"), rss - resident);
    assert_eq!(field("mem_fragmentation_bytes"), rss - used);
    for (name, ratio) in [
        ("allocator_frag_ratio", active / allocated),
        ("allocator_rss_ratio", resident / active),
        ("rss_overhead_ratio", rss / resident),
        ("mem_fragmentation_ratio", rss / used),
    ] {
        let shown = field(name);
        assert!(
            (shown - ratio).abs() <= 0.005 + 1e-9,
            "{name} {shown} for {ratio}"
        );
    }
}

// ------------------------------------------------------------------ maxmemory

#[test]
fn eviction_holds_maxmemory_and_noeviction_refuses_writes() {
    let server = Server::strata(&["--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.client();
    let base = info_u64(&mut c, "memory", "used_memory");
    let maxmemory = base + 4 * MB;
    assert_reply!(
        config_set(&mut c, "maxmemory", &maxmemory.to_string()),
        ok()
    );

    // 20 MB of values into 4 MB: the oldest keys make room.
    let value = vec![b'v'; 10 * 1024];
    for i in 0..2000 {
        let key = format!("big:{i}");
        assert_reply!(c.cmd(&[b"SET", key.as_bytes(), &value]), ok(), "SET {key}");
    }
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 0, "evicted_keys {evicted}");
    let used = info_u64(&mut c, "memory", "used_memory");
    assert!(
        used <= maxmemory + MB,
        "used_memory {used} with maxmemory {maxmemory}"
    );
    let keys = int(run(&mut c, "DBSIZE"), "DBSIZE");
    assert!(keys < 2000, "{keys} keys left after eviction");
    assert_reply!(
        c.cmd(&[b"GET", b"big:1999"]),
        Resp::Bulk(Some(value.clone())),
        "the newest key survives LRU eviction"
    );

    // Under noeviction, 1 MB over the limit: writes fail, reads and deletes work.
    assert_reply!(config_set(&mut c, "maxmemory-policy", "noeviction"), ok());
    let used = info_u64(&mut c, "memory", "used_memory");
    assert_reply!(
        config_set(&mut c, "maxmemory", &(used - MB).to_string()),
        ok()
    );
    assert_reply!(c.cmd(&[b"SET", b"new", &value]), error(OOM));
    assert_reply!(run(&mut c, "SET small x"), error(OOM));
    assert_reply!(run(&mut c, "INCR counter"), error(OOM));
    assert_reply!(
        c.cmd(&[b"GET", b"big:1999"]),
        Resp::Bulk(Some(value.clone()))
    );
    assert_reply!(run(&mut c, "DEL big:1999"), Resp::Int(1));
    assert_reply!(run(&mut c, "EXISTS big:1999"), Resp::Int(0));
    assert_reply!(
        run(&mut c, "SET small x"),
        error(OOM),
        "one DEL frees 10 KB of 1 MB"
    );

    // Volatile policies have nothing to evict when no key has a TTL.
    for policy in ["volatile-ttl", "volatile-lru"] {
        assert_reply!(config_set(&mut c, "maxmemory-policy", policy), ok());
        assert_reply!(run(&mut c, "SET small x"), error(OOM), "{policy}");
    }

    assert_reply!(config_set(&mut c, "maxmemory", "0"), ok());
    assert_reply!(run(&mut c, "SET small x"), ok());
}

/// Every volatile policy evicts only keys with a TTL, and finds them even when they are a
/// handful among many keys without one (sampling alone would miss them and answer -OOM).
#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let server = Server::strata(&["--maxmemory-policy", policy]);
        let mut c = server.client();
        let value = vec![b'v'; 10 * 1024];
        for i in 0..100 {
            let key = format!("keep:{i}");
            assert_reply!(c.cmd(&[b"SET", key.as_bytes(), &value]), ok());
        }
        // Many small keys without a TTL, so that the volatile ones are rare in samples.
        for i in 0..5000 {
            run(&mut c, &format!("SET small:{i} x"));
        }
        let base = info_u64(&mut c, "memory", "used_memory");
        assert_reply!(
            config_set(&mut c, "maxmemory", &(base + MB).to_string()),
            ok()
        );
        // 3 MB of keys with a TTL into 1 MB of room.
        for i in 0..300 {
            let key = format!("temp:{i}");
            assert_reply!(
                c.cmd(&[b"SET", key.as_bytes(), &value, b"EX", b"1000"]),
                ok(),
                "{policy}: SET {key}"
            );
        }
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        assert!(evicted > 0, "{policy}: evicted_keys {evicted}");
        for i in 0..100 {
            let key = format!("keep:{i}");
            assert_reply!(
                c.cmd(&[b"EXISTS", key.as_bytes()]),
                Resp::Int(1),
                "{policy} evicted {key}, which has no TTL"
            );
        }
        assert_eq!(
            int(run(&mut c, "EXISTS small:0 small:4999"), "EXISTS"),
            2,
            "{policy}"
        );
    }
}

/// allkeys-lfu keeps the keys read often through a flood of keys written once, and
/// allkeys-random evicts whatever it meets, keys read often included.
#[test]
fn allkeys_lfu_keeps_what_is_read_often_and_random_does_not() {
    for (policy, keep_all) in [("allkeys-lfu", true), ("allkeys-random", false)] {
        let server = Server::strata(&["--maxmemory-policy", policy]);
        let mut c = server.client();
        let value = vec![b'v'; 10 * 1024];
        for i in 0..50 {
            let key = format!("hot:{i}");
            assert_reply!(c.cmd(&[b"SET", key.as_bytes(), &value]), ok());
        }
        for _ in 0..30 {
            for i in 0..50 {
                c.cmd(&[b"GET", format!("hot:{i}").as_bytes()]);
            }
        }
        let base = info_u64(&mut c, "memory", "used_memory");
        assert_reply!(
            config_set(&mut c, "maxmemory", &(base + MB).to_string()),
            ok()
        );
        for i in 0..1000 {
            let key = format!("flood:{i}");
            assert_reply!(c.cmd(&[b"SET", key.as_bytes(), &value]), ok(), "{policy}");
        }
        let hot: i64 = (0..50)
            .map(|i| int(c.cmd(&[b"EXISTS", format!("hot:{i}").as_bytes()]), "EXISTS"))
            .sum();
        if keep_all {
            assert_eq!(hot, 50, "{policy} evicted keys read 30 times");
        } else {
            assert!(hot < 50, "{policy} evicted none of the 50 older keys");
        }
        assert!(info_u64(&mut c, "stats", "evicted_keys") >= 900, "{policy}");
    }
}

/// Over `maxmemory`, Redis refuses to queue any command inside MULTI (a
/// queue grows without bound), not only the commands that add data. Strata
/// queues reads: `MULTI`, `GET fill:1` answers `+QUEUED` from strata-server
/// and `-OOM command not allowed...` from redis-server.
#[test]
fn over_maxmemory_nothing_is_queued_inside_multi() {
    let server = Server::strata(&[]);
    let mut c = over_maxmemory(&server);
    assert_reply!(run(&mut c, "MULTI"), ok());
    assert_reply!(run(&mut c, "SET k v"), error(OOM));
    assert_reply!(run(&mut c, "GET fill:1"), error(OOM));
    assert_reply!(run(&mut c, "EXEC"), error(EXECABORT));
    assert_reply!(run(&mut c, "EXISTS fill:1"), Resp::Int(1));
}

/// CLIENT NO-EVICT protects a connection from client eviction
/// (maxmemory-clients); it does not let its writes past `maxmemory`. Strata
/// lets them through: under noeviction over the limit, `CLIENT NO-EVICT on`
/// then `SET a b` answers `+OK` from strata-server and `-OOM ...` from
/// redis-server.
#[test]
fn client_no_evict_does_not_bypass_maxmemory() {
    let server = Server::strata(&[]);
    let mut c = over_maxmemory(&server);
    assert_reply!(run(&mut c, "CLIENT NO-EVICT on"), ok());
    assert_reply!(run(&mut c, "SET a b"), error(OOM));
    assert_reply!(run(&mut c, "APPEND fill:1 x"), error(OOM));
    assert_reply!(run(&mut c, "EXISTS a"), Resp::Int(0));
}

// ------------------------------------------------------------------ CONFIG

#[test]
fn config_get_and_set_are_all_or_nothing() {
    let server = Server::strata(&[]);
    let mut c = server.client();

    let all = run(&mut c, "CONFIG GET *");
    let Resp::Array(Some(items)) = &all else {
        panic!("CONFIG GET *: {}", all.render());
    };
    assert!(
        !items.is_empty() && items.chunks_exact(2).remainder().is_empty(),
        "CONFIG GET * must be name-value pairs: {}",
        all.render()
    );
    assert_reply!(field(&all, "maxmemory"), &bulk("0"));
    assert_reply!(field(&all, "port"), &bulk(&server.port.to_string()));
    assert_reply!(field(&all, "maxmemory-policy"), &bulk("noeviction"));
    let pair = run(&mut c, "CONFIG GET maxmemory port");
    assert_reply!(field(&pair, "maxmemory"), &bulk("0"));
    assert_reply!(field(&pair, "port"), &bulk(&server.port.to_string()));

    // Several pairs at once, with memory units.
    assert_reply!(
        run(
            &mut c,
            "CONFIG SET maxmemory 5mb maxmemory-policy ALLKEYS-LRU"
        ),
        ok()
    );
    assert_eq!(config_get(&mut c, "maxmemory"), "5242880");
    assert_eq!(config_get(&mut c, "maxmemory-policy"), "allkeys-lru");

    // One bad value leaves every value as it was.
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory 7mb timeout abc"),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - \
             argument couldn't be parsed into an integer"
        )
    );
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory 7mb maxmemory-policy bogus"),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
             argument(s) must be one of the following: volatile-lru, volatile-lfu, \
             volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        )
    );
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory -1"),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
             argument must be a memory value"
        )
    );
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory 1mb maxmemory 2mb"),
        error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
             duplicate parameter"
        )
    );
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory 7mb nosuchdirective 1"),
        error("ERR Unknown option or number of arguments for CONFIG SET - 'nosuchdirective'")
    );
    assert_reply!(
        run(&mut c, "CONFIG SET maxmemory"),
        error("ERR wrong number of arguments for 'config|set' command")
    );
    assert_eq!(config_get(&mut c, "maxmemory"), "5242880");
    assert_eq!(config_get(&mut c, "timeout"), "0");
    assert_eq!(config_get(&mut c, "maxmemory-policy"), "allkeys-lru");

    // Directives fixed at startup. Redis 7 can rebind `port` at run time;
    // Strata declares it immutable, as `databases` is in both.
    for (name, value) in [("databases", "3"), ("port", "7000")] {
        assert_reply!(
            config_set(&mut c, name, value),
            error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - \
                 can't set immutable config"
            ))
        );
    }
    assert_eq!(config_get(&mut c, "databases"), "16");
    assert_eq!(config_get(&mut c, "port"), server.port.to_string());
}

#[test]
fn config_rewrite_writes_the_running_values_to_the_file() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("strata.conf");
    fs::write(
        &path,
        "# written by config_rewrite_writes...\nmaxmemory 1mb\n",
    )
    .expect("write the config file");
    // The rewritten file names this server's data directory (`dir`), so it
    // stays up until the second server has started from the same file.
    let first = Server::strata_with_config(&path, &[]);
    let mut c = first.client();
    assert_eq!(config_get(&mut c, "maxmemory"), "1048576");
    assert_reply!(config_set(&mut c, "maxmemory", "10mb"), ok());
    assert_reply!(run(&mut c, "CONFIG REWRITE"), ok());
    let written = fs::read_to_string(&path).expect("read the rewritten config file");
    assert!(
        written.contains("# written by config_rewrite_writes..."),
        "comments are kept:\n{written}"
    );
    let lines: Vec<&str> = written
        .lines()
        .filter(|line| line.split_whitespace().next() == Some("maxmemory"))
        .collect();
    // Redis writes "10mb"; either spelling means 10485760 bytes.
    assert!(
        matches!(
            lines.as_slice(),
            ["maxmemory 10485760"] | ["maxmemory 10mb"]
        ),
        "one maxmemory line with the new value:\n{written}"
    );

    let second = Server::strata_with_config(&path, &[]);
    let mut c = second.client();
    assert_eq!(config_get(&mut c, "maxmemory"), "10485760");
    drop(first);
}

/// Redis's reply without a config file is `-ERR The server is running
/// without a config file`; Strata prefixes it with `Rewriting config file: `.
#[test]
fn config_rewrite_without_a_file_is_refused() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(
        run(&mut c, "CONFIG REWRITE"),
        error("ERR The server is running without a config file")
    );
}

#[test]
fn an_invalid_configuration_stops_startup_with_a_message() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("bad.conf");
    let port = free_port();
    fs::write(
        &path,
        format!("port {port}\nbind 127.0.0.1\nnosuchdirective 1\n"),
    )
    .expect("write the config file");
    let args: [OsString; 3] = [path.into(), "--dir".into(), dir.path().into()];
    let (status, printed) = run_strata_to_exit(&args);
    assert!(
        !status.success(),
        "exit status {status}; output:\n{printed}"
    );
    assert!(
        printed.contains("nosuchdirective"),
        "the message names the directive:\n{printed}"
    );

    let port = free_port().to_string();
    let args: [OsString; 8] = [
        "--port".into(),
        port.into(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.path().into(),
        "--maxmemory".into(),
        "lots".into(),
    ];
    let (status, printed) = run_strata_to_exit(&args);
    assert!(
        !status.success(),
        "exit status {status}; output:\n{printed}"
    );
    assert!(
        printed.contains("maxmemory"),
        "the message names the directive:\n{printed}"
    );
}

// ------------------------------------------------------------------ command table

#[test]
fn command_introspection_matches_the_table() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let all = run(&mut c, "COMMAND");
    let Resp::Array(Some(entries)) = &all else {
        panic!("COMMAND: {}", all.render());
    };
    assert_eq!(
        int(run(&mut c, "COMMAND COUNT"), "COMMAND COUNT"),
        entries.len() as i64
    );
    // Redis also lists subcommands (`config|get`), so only inclusion is checked.
    let listed: BTreeSet<Resp> = match run(&mut c, "COMMAND LIST") {
        Resp::Array(Some(names)) => names.into_iter().collect(),
        other => panic!("COMMAND LIST: {}", other.render()),
    };
    for entry in entries {
        let name = match entry {
            Resp::Array(Some(info)) => info.first(),
            _ => None,
        };
        let name = name.unwrap_or_else(|| panic!("COMMAND entry: {}", entry.render()));
        assert!(
            listed.contains(name),
            "COMMAND LIST lacks {}",
            name.render()
        );
    }

    let info = run(&mut c, "COMMAND INFO get");
    let Resp::Array(Some(infos)) = &info else {
        panic!("COMMAND INFO get: {}", info.render());
    };
    let [Resp::Array(Some(get))] = infos.as_slice() else {
        panic!("COMMAND INFO get: {}", info.render());
    };
    assert_eq!(get.first(), Some(&bulk("get")), "{}", info.render());
    assert_eq!(get.get(1), Some(&Resp::Int(2)), "arity: {}", info.render());
    assert_eq!(
        get.get(3),
        Some(&Resp::Int(1)),
        "first key: {}",
        info.render()
    );
    assert_eq!(
        get.get(4),
        Some(&Resp::Int(1)),
        "last key: {}",
        info.render()
    );
    assert_eq!(
        get.get(5),
        Some(&Resp::Int(1)),
        "key step: {}",
        info.render()
    );

    assert_reply!(
        run(&mut c, "COMMAND GETKEYS mset a 1 b 2"),
        array(vec![bulk("a"), bulk("b")])
    );
    assert_reply!(
        run(&mut c, "COMMAND GETKEYS nosuchcommand a"),
        error("ERR Invalid command specified")
    );

    let docs = run(&mut c, "COMMAND DOCS get");
    let summary = field(field(&docs, "get"), "summary");
    assert!(
        matches!(summary, Resp::Bulk(Some(words)) if !words.is_empty()),
        "COMMAND DOCS get: {}",
        docs.render()
    );

    // An unknown command inside MULTI aborts the whole transaction.
    assert_reply!(run(&mut c, "MULTI"), ok());
    assert_reply!(
        run(&mut c, "NOSUCHCOMMAND arg"),
        error("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'arg' ")
    );
    assert_reply!(run(&mut c, "SET queued v"), simple("QUEUED"));
    assert_reply!(run(&mut c, "EXEC"), error(EXECABORT));
    assert_reply!(run(&mut c, "GET queued"), nil());
}

/// Redis answers an unknown name in COMMAND INFO with a null bulk string
/// (`*1\r\n$-1\r\n`); Strata sends a null array (`*1\r\n*-1\r\n`).
#[test]
fn command_info_of_an_unknown_command_is_nil() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(
        run(&mut c, "COMMAND INFO nosuchcommand"),
        array(vec![nil()])
    );
    let both = run(&mut c, "COMMAND INFO get nosuchcommand");
    let Resp::Array(Some(items)) = &both else {
        panic!("COMMAND INFO get nosuchcommand: {}", both.render());
    };
    assert_eq!(items.len(), 2, "{}", both.render());
    assert_reply!(items[1], nil());
}

/// Commands whose arguments are subcommands, and commands that would end or
/// reset the connection if their arity check failed to stop them. The sweep
/// below skips them.
const ARITY_SWEEP_SKIP: [&str; 10] = [
    "client", "cluster", "command", "config", "debug", "memory", "object", "quit", "reset",
    "shutdown",
];

/// Every command in COMMAND refuses one argument more than its fixed arity,
/// or one fewer than its minimum, with Redis's arity error, before running.
#[test]
fn every_command_checks_its_arity() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET guard untouched"), ok());
    let all = run(&mut c, "COMMAND");
    let Resp::Array(Some(entries)) = &all else {
        panic!("COMMAND: {}", all.render());
    };
    let mut checked = BTreeSet::new();
    for entry in entries {
        let Resp::Array(Some(info)) = entry else {
            panic!("COMMAND entry: {}", entry.render());
        };
        let (Some(Resp::Bulk(Some(name))), Some(Resp::Int(arity))) = (info.first(), info.get(1))
        else {
            panic!("COMMAND entry: {}", entry.render());
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if ARITY_SWEEP_SKIP.contains(&name.as_str()) {
            continue;
        }
        let argc = match *arity {
            n if n > 0 => n + 1,
            n if n < -1 => -n - 1,
            _ => continue,
        };
        let mut args: Vec<&[u8]> = vec![name.as_bytes()];
        args.resize(argc as usize, b"x".as_slice());
        let expected = if name == "exec" {
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
                .to_string()
        } else {
            format!("ERR wrong number of arguments for '{name}' command")
        };
        assert_reply!(
            c.cmd(&args),
            error(&expected),
            "{name} (arity {arity}) with {argc} words"
        );
        checked.insert(name);
    }
    for name in ["get", "set", "exec", "mset", "setrange", "watch"] {
        assert!(
            checked.contains(name),
            "{name} was not checked: {checked:?}"
        );
    }
    assert_reply!(run(&mut c, "GET guard"), bulk("untouched"));
    assert_reply!(run(&mut c, "DBSIZE"), Resp::Int(1));
}

// ------------------------------------------------------------------ hostile arguments

/// Offsets, lengths and counts at the edges of i64 get Redis's errors (or
/// answers) and cost nothing; the server keeps answering afterwards.
#[test]
fn hostile_arguments_are_refused_without_harm() {
    let server = Server::strata(&["--proto-max-bulk-len", "1mb"]);
    let mut c = server.client();
    let steps = [
        ("SETRANGE big 2000000 x", error(STRING_TOO_BIG)),
        ("EXISTS big", Resp::Int(0)),
        ("SETRANGE big 1048575 x", Resp::Int(1_048_576)),
        ("APPEND big yy", error(STRING_TOO_BIG)),
        ("STRLEN big", Resp::Int(1_048_576)),
        ("SETRANGE big 9223372036854775807 x", error(STRING_TOO_BIG)),
        ("SETRANGE big -1 x", error("ERR offset is out of range")),
        ("SETBIT bits 4294967296 1", error(BIT_OFFSET)),
        ("SETBIT bits 8388608 1", error(BIT_OFFSET)),
        ("SETBIT bits -1 1", error(BIT_OFFSET)),
        ("SETBIT bits 8388607 1", Resp::Int(0)),
        ("STRLEN bits", Resp::Int(1_048_576)),
        ("SET s hello", ok()),
        (
            "GETRANGE s -9223372036854775808 9223372036854775807",
            bulk("hello"),
        ),
        (
            "GETRANGE s 9223372036854775807 -9223372036854775808",
            bulk(""),
        ),
        (
            "GETRANGE s 9223372036854775807 9223372036854775807",
            bulk(""),
        ),
        (
            "GETRANGE s -9223372036854775808 -9223372036854775808",
            bulk("h"),
        ),
        (
            "GETRANGE s 0 9223372036854775808",
            error("ERR value is not an integer or out of range"),
        ),
        (
            "BITCOUNT s -9223372036854775808 9223372036854775807",
            Resp::Int(21),
        ),
        (
            "BITPOS s 1 -9223372036854775808 9223372036854775807",
            Resp::Int(1),
        ),
        ("BITFIELD bf GET u8 #9223372036854775807", error(BIT_OFFSET)),
        ("BITFIELD bf SET u8 #4294967296 1", error(BIT_OFFSET)),
        ("BITFIELD bf GET i64 #-1", error(BIT_OFFSET)),
        (
            "BITFIELD bf INCRBY u8 9223372036854775807 1",
            error(BIT_OFFSET),
        ),
        ("BITFIELD_RO bf GET u8 #999999999999", error(BIT_OFFSET)),
        (
            "BITFIELD bf GET u64 0",
            error(
                "ERR Invalid bitfield type. Use something like i16 u8. \
                 Note that u64 is not supported but i64 is.",
            ),
        ),
        ("BITFIELD bf SET u8 #131071 255", array(vec![Resp::Int(0)])),
        ("STRLEN bf", Resp::Int(131_072)),
        ("SET n 9223372036854775807", ok()),
        ("INCR n", error("ERR increment or decrement would overflow")),
        ("SET n -9223372036854775808", ok()),
        ("DECR n", error("ERR increment or decrement would overflow")),
        (
            "DECRBY n -9223372036854775808",
            error("ERR decrement would overflow"),
        ),
        (
            "INCRBYFLOAT n inf",
            error("ERR increment would produce NaN or Infinity"),
        ),
        (
            "SET e v EX 9223372036854775807",
            error("ERR invalid expire time in 'set' command"),
        ),
        (
            "SET e v PX -1",
            error("ERR invalid expire time in 'set' command"),
        ),
        (
            "EXPIRE s 9223372036854775807",
            error("ERR invalid expire time in 'expire' command"),
        ),
        ("GET s", bulk("hello")),
        ("DBSIZE", Resp::Int(5)),
    ];
    for (line, expected) in &steps {
        assert_reply!(&run(&mut c, line), expected, "{line}");
    }

    // A pattern with many stars over keys that almost match completes.
    let prefix = "a".repeat(60);
    let mut pipeline = Vec::new();
    for i in 0..1000 {
        let key = format!("{prefix}{i}");
        pipeline.extend(encode_command(&[b"SET", key.as_bytes(), b"1"]));
    }
    c.send_raw(&pipeline);
    for i in 0..1000 {
        assert_reply!(c.read_reply(), ok(), "SET {i}");
    }
    assert_reply!(
        run(&mut c, "KEYS *a*a*a*a*a*a*a*a*a*a*b"),
        Resp::Array(Some(Vec::new()))
    );
    let Resp::Array(Some(ending_in_9)) = run(&mut c, "KEYS *a*a*a*a*a*a*a*a*a*a*9") else {
        panic!("KEYS did not answer with an array");
    };
    assert_eq!(ending_in_9.len(), 100);

    assert_reply!(run(&mut c, "PING"), pong());
    assert_reply!(run(&mut c, "DBSIZE"), Resp::Int(1005));
}

// ------------------------------------------------------------------ regressions

/// Time stands still inside MULTI/EXEC, as in Redis: a key that is live when the transaction
/// starts stays live for all of it, even if its deadline passes while it runs.
#[test]
fn time_is_frozen_inside_exec() {
    let server = Server::strata(&["--enable-debug-command", "yes"]);
    let mut c = server.client();
    assert_reply!(run(&mut c, "SET k v PX 300"), ok());
    assert_reply!(run(&mut c, "MULTI"), ok());
    run(&mut c, "GET k");
    run(&mut c, "DEBUG SLEEP 0.5");
    run(&mut c, "GET k");
    assert_reply!(run(&mut c, "EXEC"), array(vec![bulk("v"), ok(), bulk("v")]));
    assert_reply!(run(&mut c, "GET k"), nil());
}

/// FLUSHDB while clients WATCH keys and keys expire in the background must not deadlock
/// (the flush once held the WATCH registry while locking shards; the expiry cycle takes them
/// in the other order).
#[test]
fn flushdb_with_watchers_and_expiring_keys_does_not_hang() {
    let server = Server::strata(&["--hz", "500"]);
    let mut watcher = server.client();
    let mut watch: Vec<Vec<u8>> = vec![b"WATCH".to_vec()];
    watch.extend((0..20_000).map(|i| format!("w:{i}").into_bytes()));
    let refs: Vec<&[u8]> = watch.iter().map(|v| v.as_slice()).collect();
    assert_reply!(watcher.cmd(&refs), ok());
    let mut c = server.client();
    for round in 0..20 {
        let mut pipeline = Vec::new();
        for i in 0..100_000 {
            let key = format!("v:{i}");
            pipeline.extend_from_slice(
                format!(
                    "*5\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nx\r\n$2\r\nPX\r\n$2\r\n20\r\n",
                    key.len()
                )
                .as_bytes(),
            );
        }
        c.send_raw(&pipeline);
        for _ in 0..100_000 {
            c.read_reply();
        }
        thread::sleep(Duration::from_millis(25));
        // RawClient reads with a 10 s timeout: a deadlock fails here instead of hanging.
        assert_reply!(run(&mut c, "FLUSHDB"), ok(), "FLUSHDB in round {round}");
    }
    assert_reply!(run(&mut c, "PING"), pong());
}

/// A large argument grows the connection's read buffer and the log's write buffer; both give
/// the memory back once the command is done, or a connection that once sent a big value would
/// hold that much RAM (counted against maxmemory) for good.
#[test]
fn memory_taken_by_a_large_argument_is_given_back() {
    let s = Server::strata(&["--appendonly", "yes"]);
    let mut c = s.client();
    let used = |c: &mut RawClient| -> u64 {
        common::info_field(c, "used_memory")
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = used(&mut c);
    let big = vec![b'x'; 32 << 20];
    assert_eq!(c.cmd(&[b"SET", b"big", &big]), Resp::Simple(b"OK".to_vec()));
    assert_eq!(c.cmd(&[b"DEL", b"big"]), Resp::Int(1));
    // The log's two buffers take turns: two more writes pass through both.
    c.cmd(&[b"SET", b"a", b"1"]);
    c.cmd(&[b"SET", b"b", b"2"]);
    let after = used(&mut c);
    assert!(
        after < before + (4 << 20),
        "used_memory {before} before, {after} after"
    );
}

/// The harness's guard against a port handed to two tests at once: a PING answered on a
/// port counts as our server's only if our process holds that port. Before it, a test whose
/// server was still opening its data could take another test's server for its own (its own
/// then failed to bind), and the two tests' commands met on one server.
#[test]
fn a_ping_answer_counts_only_from_the_process_that_holds_the_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
    let port = listener.local_addr().expect("its address").port();
    assert!(
        owns_port(std::process::id(), port),
        "this process listens on {port}"
    );

    let mut other = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start sleep");
    let held = owns_port(other.id(), port);
    let _ = other.kill();
    let _ = other.wait();
    assert!(!held, "a process without the socket does not own {port}");
}

/// MEMORY MALLOC-STATS is jemalloc's own report, as in Redis, and shows the server runs with
/// one arena (`_rjem_malloc_conf` in main.rs: keys promoted from the cold tier spread over
/// several arenas' pages otherwise).
#[test]
fn malloc_stats_is_jemallocs_report_with_one_arena() {
    let s = Server::strata(&[]);
    let mut c = s.client();
    let text = match run(&mut c, "MEMORY MALLOC-STATS") {
        Resp::Bulk(Some(b)) | Resp::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("MEMORY MALLOC-STATS answered {}", other.render()),
    };
    assert!(text.contains("opt.narenas: 1\n"), "{text}");
    assert!(text.contains("Allocated: "), "{text}");
}
