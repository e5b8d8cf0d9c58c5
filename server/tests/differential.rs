//! Differential tests: the same commands against the real `redis-server` and
//! `strata-server`, replies compared byte for byte.
//!
//! Case files are `tests/cases/<family>.txt`. Each runs against a fresh pair
//! of servers. A line is a command split like redis-cli splits it (quotes and
//! `\xHH` escapes work); blank lines and lines starting with `#` are skipped.
//! Lines starting with `!` are directives:
//!
//! - `!sleep <ms>`: pause.
//! - `!client <n>`: later commands go to connection n (0 to 3) on both servers.
//! - `!resp3` / `!resp2`: send `HELLO 3` / `HELLO 2` on the current connection;
//!   only the reply's type is compared (server names and versions differ).
//! - `!ignore`: run the next command on both servers, compare nothing.
//! - `!type`: compare only the RESP type of the next reply.
//! - `!sorted`: sort the elements of the next reply (an array or set) first.
//! - `!scanall <args>`: iterate `SCAN 0 <args>` to cursor 0 on each server and
//!   compare the sorted union of what was returned; `!scanall SSCAN key ...`,
//!   `HSCAN` and `ZSCAN` work the same way.
//! - `!inline <text>`: send `<text>\r\n` as an inline command.
//! - `!needs <feature>`: the next command needs a feature Strata does not have yet (listed in
//!   `PENDING_FEATURES`); until it lands, that command is skipped on both servers. The list
//!   only shrinks: when a feature lands, its lines run and must match.
//!
//! `tests/cases/check_cases.py` runs a case file against two redis-servers to
//! prove it deterministic; run it after editing a case file.
//!
//! `randomized_strings_and_keys` generates string and key commands from a
//! seed (`STRATA_DIFF_SEED`, `STRATA_DIFF_STEPS`) and stops at the first
//! difference; `randomized_collections` does the same with hash, list, set and
//! sorted-set commands over a few shared keys (so WRONGTYPE paths are hit too).
//!
//! Without `redis-server` on PATH these tests print a notice and pass, unless
//! `STRATA_REQUIRE_REDIS` is set.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use common::{parse_line, read_resp, show_command, try_parse_line, RawClient, Resp, Server};

/// Connections per server a case file can use with `!client`.
const CLIENTS: usize = 4;
const SKIP_NOTICE: &str = "redis-server not found; skipping differential tests";
/// Most SCAN calls one `!scanall` makes before giving up.
const SCAN_MAX_CALLS: usize = 100_000;

// ------------------------------------------------------------------ comparing

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// Byte for byte.
    Exact,
    /// Not at all (the command still runs on both servers).
    Ignore,
    /// Only the RESP type.
    Type,
    /// Top-level elements in canonical order.
    Sorted,
    /// Integers: negative ones exactly, non-negative ones only as such (for
    /// TTL-like replies); other replies exactly.
    TtlClass,
}

impl Compare {
    fn agree(self, expected: &Resp, actual: &Resp) -> bool {
        match self {
            Compare::Exact => expected == actual,
            Compare::Ignore => true,
            Compare::Type => expected.type_tag() == actual.type_tag(),
            Compare::Sorted => expected.sorted() == actual.sorted(),
            Compare::TtlClass => match (expected, actual) {
                (Resp::Int(a), Resp::Int(b)) if *a >= 0 || *b >= 0 => *a >= 0 && *b >= 0,
                _ => expected == actual,
            },
        }
    }

    fn label(self) -> &'static str {
        match self {
            Compare::Exact => "",
            Compare::Ignore => " [ignore]",
            Compare::Type => " [type]",
            Compare::Sorted => " [sorted]",
            Compare::TtlClass => " [ttl class]",
        }
    }
}

// ------------------------------------------------------------------ servers

/// What one step sends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Send {
    Command(Vec<Vec<u8>>),
    Inline(Vec<u8>),
    ScanAll(Vec<Vec<u8>>),
}

impl Send {
    fn show(&self) -> String {
        match self {
            Send::Command(args) => show_command(args),
            Send::Inline(bytes) => format!("!inline {}", String::from_utf8_lossy(bytes).trim_end()),
            Send::ScanAll(args) => format!("!scanall {}", show_command(args))
                .trim_end()
                .to_string(),
        }
    }
}

/// One server and its lazily opened connections.
struct Side {
    port: u16,
    clients: Vec<Option<RawClient>>,
    current: usize,
}

impl Side {
    fn new(port: u16) -> Side {
        Side {
            port,
            clients: (0..CLIENTS).map(|_| None).collect(),
            current: 0,
        }
    }

    fn client(&mut self) -> io::Result<&mut RawClient> {
        let slot = &mut self.clients[self.current];
        if slot.is_none() {
            *slot = Some(RawClient::try_connect(self.port)?);
        }
        Ok(slot.as_mut().expect("the connection was opened above"))
    }

    fn run(&mut self, send: &Send) -> io::Result<Resp> {
        match send {
            Send::Command(args) => self.client()?.try_cmd(&as_slices(args)),
            Send::Inline(bytes) => {
                let client = self.client()?;
                client.try_send_raw(bytes)?;
                client.try_read_reply()
            }
            Send::ScanAll(args) => scan_all(self.client()?, args),
        }
    }
}

fn as_slices(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// Iterates a SCAN-family command from cursor 0 back to 0 and returns the
/// sorted, deduplicated union of the elements (field-value pairs for HSCAN
/// and ZSCAN). Any reply that is not a SCAN page is returned as it is.
fn scan_all(client: &mut RawClient, args: &[Vec<u8>]) -> io::Result<Resp> {
    let name = args
        .first()
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    let (prefix, rest, paired) = match name.as_slice() {
        b"SCAN" => (args[..1].to_vec(), &args[1..], false),
        b"SSCAN" | b"HSCAN" | b"ZSCAN" => {
            let split = args.len().min(2);
            (
                args[..split].to_vec(),
                &args[split..],
                name.as_slice() != b"SSCAN",
            )
        }
        _ => (vec![b"SCAN".to_vec()], args, false),
    };
    let mut cursor = b"0".to_vec();
    let mut seen = BTreeSet::new();
    for _ in 0..SCAN_MAX_CALLS {
        let mut call = as_slices(&prefix);
        call.push(&cursor);
        call.extend(rest.iter().map(Vec::as_slice));
        let reply = client.try_cmd(&call)?;
        let Resp::Array(Some(page)) = &reply else {
            return Ok(reply);
        };
        let [Resp::Bulk(Some(next)), Resp::Array(Some(items))] = page.as_slice() else {
            return Ok(reply);
        };
        if paired {
            seen.extend(items.chunks(2).map(|pair| Resp::Array(Some(pair.to_vec()))));
        } else {
            seen.extend(items.iter().cloned());
        }
        cursor = next.clone();
        if cursor == b"0" {
            return Ok(Resp::Array(Some(seen.into_iter().collect())));
        }
    }
    Ok(Resp::Error(b"scan did not return to cursor 0".to_vec()))
}

fn show_outcome(outcome: &io::Result<Resp>) -> String {
    match outcome {
        Ok(reply) => reply.render(),
        Err(e) => format!("<connection error: {e}>"),
    }
}

/// The last `n` lines of a server log.
fn log_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ------------------------------------------------------------------ case files

/// Features whose `!needs` lines are skipped for now (see the module comment).
const PENDING_FEATURES: &[&str] = &[];

#[derive(Debug, PartialEq, Eq)]
struct Step {
    line: usize,
    text: String,
    send: Send,
    compare: Compare,
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Step(Step),
    Sleep(Duration),
    Client(usize),
}

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("cases")
}

/// Parses a case file; panics with `file:line` on anything malformed.
fn parse_case_file(file: &str, source: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut pending: Option<(usize, Compare)> = None;
    let mut skip_next = false;
    for (index, raw) in source.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let at = || format!("{file}:{line}");
        let Some(directive) = text.strip_prefix('!') else {
            let args = try_parse_line(text).unwrap_or_else(|e| panic!("{}: {e}", at()));
            let compare = pending.take().map_or(Compare::Exact, |(_, c)| c);
            if std::mem::take(&mut skip_next) {
                continue;
            }
            items.push(Item::Step(Step {
                line,
                text: text.to_string(),
                send: Send::Command(args),
                compare,
            }));
            continue;
        };
        let (word, arg) = match directive.split_once(' ') {
            Some((word, arg)) => (word, arg.trim()),
            None => (directive, ""),
        };
        if word == "needs" {
            if arg.is_empty() {
                panic!("{}: !needs names a feature", at());
            }
            skip_next = PENDING_FEATURES.contains(&arg);
            continue;
        }
        let modifier = match word {
            "ignore" => Some(Compare::Ignore),
            "type" => Some(Compare::Type),
            "sorted" => Some(Compare::Sorted),
            _ => None,
        };
        if let Some(compare) = modifier {
            if let Some((first, _)) = pending {
                panic!(
                    "{}: a second modifier; the one on line {first} has no command yet",
                    at()
                );
            }
            pending = Some((line, compare));
            continue;
        }
        let send = match word {
            "sleep" => {
                let ms = arg
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: !sleep needs milliseconds", at()));
                items.push(Item::Sleep(Duration::from_millis(ms)));
                continue;
            }
            "client" => {
                let n = arg.parse().ok().filter(|n| *n < CLIENTS);
                let n = n.unwrap_or_else(|| panic!("{}: !client needs 0 to {}", at(), CLIENTS - 1));
                items.push(Item::Client(n));
                continue;
            }
            "resp3" | "resp2" => {
                let version: &[u8] = if word == "resp3" { b"3" } else { b"2" };
                pending = Some((line, Compare::Type));
                Send::Command(vec![b"HELLO".to_vec(), version.to_vec()])
            }
            "scanall" => {
                Send::ScanAll(try_parse_line(arg).unwrap_or_else(|e| panic!("{}: {e}", at())))
            }
            "inline" => Send::Inline(format!("{arg}\r\n").into_bytes()),
            _ => panic!("{}: unknown directive !{word}", at()),
        };
        let compare = pending.take().map_or(Compare::Exact, |(_, c)| c);
        if std::mem::take(&mut skip_next) {
            continue;
        }
        items.push(Item::Step(Step {
            line,
            text: text.to_string(),
            send,
            compare,
        }));
    }
    if let Some((first, _)) = pending {
        panic!("{file}:{first}: a modifier at the end of the file applies to nothing");
    }
    items
}

/// Runs one case file against fresh servers; panics listing every difference.
fn run_case_file(name: &str) {
    run_case_file_with(name, false);
}

/// [`run_case_file`] with Strata's cold tier on, and every key moved out of RAM after each
/// command (`DEBUG TIER SPILL-ALL` on a connection of its own), so every command finds its
/// keys cold and faults them in: replies must not change.
fn run_case_file_tiered(name: &str) {
    run_case_file_with(name, true);
}

fn run_case_file_with(name: &str, tiered: bool) {
    let Some(redis) = Server::redis(&[]) else {
        println!("{SKIP_NOTICE}");
        return;
    };
    let strata = if tiered {
        Server::strata(&["--cold-tier", "yes", "--enable-debug-command", "yes"])
    } else {
        Server::strata(&[])
    };
    let mut admin = tiered.then(|| strata.client());
    let file = format!("{name}.txt");
    let path = cases_dir().join(&file);
    let source =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let items = parse_case_file(&file, &source);

    let mut sides = [Side::new(redis.port), Side::new(strata.port)];
    let mut mismatches = Vec::new();
    let mut stopped = String::new();
    let mut commands = 0;
    for item in &items {
        let step = match item {
            Item::Sleep(pause) => {
                thread::sleep(*pause);
                continue;
            }
            Item::Client(n) => {
                for side in &mut sides {
                    side.current = *n;
                }
                continue;
            }
            Item::Step(step) => step,
        };
        commands += 1;
        let expected = sides[0].run(&step.send);
        let actual = sides[1].run(&step.send);
        if let Some(admin) = admin.as_mut() {
            let r = admin.cmd(&[b"DEBUG", b"TIER", b"SPILL-ALL"]);
            assert!(matches!(r, Resp::Int(_)), "DEBUG TIER SPILL-ALL: {r:?}");
        }
        let agree = match (&expected, &actual) {
            (Ok(a), Ok(b)) => step.compare.agree(a, b),
            _ => false,
        };
        if !agree {
            mismatches.push(format!(
                "{file}:{} {}{}\n  redis:  {}\n  strata: {}",
                step.line,
                step.text,
                step.compare.label(),
                show_outcome(&expected),
                show_outcome(&actual)
            ));
        }
        if expected.is_err() || actual.is_err() {
            stopped = format!(
                "\n\nstopped at {file}:{} after a connection error",
                step.line
            );
            break;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {commands} commands in {file} differ from redis-server:\n\n{}{stopped}\n\n\
         strata-server log (tail):\n{}",
        mismatches.len(),
        mismatches.join("\n\n"),
        log_tail(&strata.log(), 40)
    );
    println!(
        "{file}: {commands} commands agree with redis-server{}",
        if tiered {
            " (all keys cold between commands)"
        } else {
            ""
        }
    );
}

macro_rules! case_files {
    ($($name:ident),* $(,)?) => {
        /// Every case file, by stem; one test each in `cases`.
        const CASE_FILES: &[&str] = &[$(stringify!($name)),*];

        mod cases {
            $(
                #[test]
                fn $name() {
                    super::run_case_file(stringify!($name));
                }
            )*
        }

        /// Each case file again, with every key spilled to the cold tier between commands.
        mod cases_cold {
            $(
                #[test]
                fn $name() {
                    super::run_case_file_tiered(stringify!($name));
                }
            )*
        }
    };
}

case_files!(
    strings,
    bitmaps,
    hll,
    keys,
    transactions,
    connection,
    resp3,
    hashes,
    lists,
    sets,
    zsets,
    sort,
    streams,
    functions,
    scriptlibs
);

#[test]
fn every_case_file_has_a_test() {
    let mut on_disk: Vec<String> = fs::read_dir(cases_dir())
        .expect("read tests/cases")
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .map(|path| {
            path.file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASE_FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "add new case files to case_files! in tests/differential.rs"
    );
}

#[test]
fn every_case_file_parses() {
    let mut steps = 0;
    for name in CASE_FILES {
        let file = format!("{name}.txt");
        let source = fs::read_to_string(cases_dir().join(&file)).expect("read a case file");
        let items = parse_case_file(&file, &source);
        let here = items
            .iter()
            .filter(|item| matches!(item, Item::Step(_)))
            .count();
        assert!(here > 0, "{file} has no commands");
        steps += here;
    }
    assert!(steps >= 400, "the case files hold only {steps} commands");
}

#[test]
fn case_file_directives_parse() {
    let source =
        "# comment\n\n!client 2\n!sleep 15\n!type\nTTL k\n!sorted\nKEYS *\n!ignore\nTIME\n\
                  !resp3\n!scanall MATCH a*\n!inline PING\nSET \"a b\" '\\'x'\n";
    let items = parse_case_file("t.txt", source);
    let step = |line: usize, text: &str, send: Send, compare: Compare| {
        Item::Step(Step {
            line,
            text: text.to_string(),
            send,
            compare,
        })
    };
    let expected = vec![
        Item::Client(2),
        Item::Sleep(Duration::from_millis(15)),
        step(
            6,
            "TTL k",
            Send::Command(parse_line("TTL k")),
            Compare::Type,
        ),
        step(
            8,
            "KEYS *",
            Send::Command(parse_line("KEYS *")),
            Compare::Sorted,
        ),
        step(
            10,
            "TIME",
            Send::Command(parse_line("TIME")),
            Compare::Ignore,
        ),
        step(
            11,
            "!resp3",
            Send::Command(parse_line("HELLO 3")),
            Compare::Type,
        ),
        step(
            12,
            "!scanall MATCH a*",
            Send::ScanAll(parse_line("MATCH a*")),
            Compare::Exact,
        ),
        step(
            13,
            "!inline PING",
            Send::Inline(b"PING\r\n".to_vec()),
            Compare::Exact,
        ),
        step(
            14,
            "SET \"a b\" '\\'x'",
            Send::Command(parse_line("SET \"a b\" '\\'x'")),
            Compare::Exact,
        ),
    ];
    assert_eq!(items, expected);
}

#[test]
#[should_panic(expected = "t.txt:2: unknown directive !nosuch")]
fn case_file_unknown_directive_is_rejected() {
    parse_case_file("t.txt", "GET k\n!nosuch\n");
}

#[test]
#[should_panic(expected = "t.txt:1: unbalanced double quote")]
fn case_file_bad_quoting_is_rejected() {
    parse_case_file("t.txt", "SET k \"v\n");
}

#[test]
#[should_panic(expected = "t.txt:1: a modifier at the end of the file")]
fn case_file_dangling_modifier_is_rejected() {
    parse_case_file("t.txt", "!type\n");
}

// ------------------------------------------------------------------ randomized

const DEFAULT_SEED: u64 = 0x5354_5241_5441_0001;
const DEFAULT_STEPS: usize = 3000;
/// Commands shown before a difference.
const HISTORY: usize = 40;
/// Longest strings LCS is run on (redis allocates a table of len*len cells).
const LCS_MAX_LEN: i64 = 512;

/// splitmix64: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &["k0", "k1", "k2", "k3"];
const VALUES: &[&[u8]] = &[
    b"",
    b"0",
    b"1",
    b"-1",
    b"7",
    b"42",
    b"100",
    b"10000",
    b" 1",
    b"1 ",
    b"0x10",
    b"+1",
    b"-0",
    b"01",
    b"1e3",
    b"3.5",
    b"-2.25",
    b"inf",
    b"nan",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"abc",
    b"hello world",
    b"\x00\xff\r\n",
    b"foobar",
];
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "-3",
    "10",
    "64",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "abc",
    "",
    "1.5",
    " 1",
    "+2",
];
const INCREMENTS: &[&str] = &[
    "1",
    "-1",
    "5",
    "-5",
    "100",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "abc",
    "1.5",
    "",
    " 1",
    "+1",
];
const FLOAT_INCREMENTS: &[&str] = &[
    "0", "0.5", "-0.5", "1.25", "-2.75", "10", "1e2", "-1e2", "0x10", "inf", "-inf", "nan", "abc",
    "", " 1", "1 ", "3.0e0",
];
/// Relative expiry in seconds; no two of these (nor with the ms ones) are
/// close, so GT/LT never compare nearly equal times.
const SECONDS: &[&str] = &[
    "1000",
    "100000",
    "0",
    "-1",
    "-100",
    "abc",
    "1.5",
    "9223372036854775807",
];
const MILLIS: &[&str] = &[
    "3000000",
    "500000000",
    "0",
    "-1",
    "x",
    "9223372036854775807",
];
const UNIX_SECONDS: &[&str] = &[
    "1",
    "4102444800",
    "4102444900",
    "0",
    "-1",
    "abc",
    "9223372036854775807",
];
const UNIX_MILLIS: &[&str] = &[
    "1",
    "4102444800500",
    "4102444850000",
    "0",
    "x",
    "9223372036854775807",
];
const EXPIRE_FLAGS_ANY: &[&str] = &[
    "", "", "NX", "XX", "GT", "LT", "GT LT", "NX XX", "NX GT", "xx", "BADOPT",
];
const EXPIRE_FLAGS_NO_ORDER: &[&str] = &["", "", "NX", "XX", "NX XX", "nx", "BADOPT"];

enum Op {
    Command(Vec<Vec<u8>>, Compare),
    ScanAll(Vec<Vec<u8>>),
    /// LCS, run only when both strings are short.
    Lcs(Vec<Vec<u8>>),
}

fn words(text: &str) -> Vec<Vec<u8>> {
    text.split_whitespace()
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

fn key(rng: &mut Rng) -> Vec<u8> {
    rng.pick(KEYS).as_bytes().to_vec()
}

fn value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0..=6 => rng.pick(VALUES).to_vec(),
        7..=8 => {
            let len = 1 + rng.below(8);
            (0..len).map(|_| rng.pick(b"abxyz0123456789")).collect()
        }
        _ => vec![b'x'; rng.pick(&[20, 44, 45, 60, 100])],
    }
}

fn pick_word(rng: &mut Rng, pool: &[&str]) -> Vec<u8> {
    rng.pick(pool).as_bytes().to_vec()
}

/// 1 to `max` keys, repeats allowed.
fn some_keys(rng: &mut Rng, max: usize) -> Vec<Vec<u8>> {
    let n = 1 + rng.below(max);
    (0..n).map(|_| key(rng)).collect()
}

fn set_options(rng: &mut Rng, args: &mut Vec<Vec<u8>>) {
    for _ in 0..rng.below(4) {
        let option = match rng.below(12) {
            0 => words("NX"),
            1 => words("XX"),
            2..=3 => words("GET"),
            4 => words("KEEPTTL"),
            5..=6 => vec![b"EX".to_vec(), pick_word(rng, SECONDS)],
            7 => vec![b"PX".to_vec(), pick_word(rng, MILLIS)],
            8 => vec![b"EXAT".to_vec(), pick_word(rng, UNIX_SECONDS)],
            9 => vec![b"PXAT".to_vec(), pick_word(rng, UNIX_MILLIS)],
            10 => words(rng.pick(&["nx", "get", "keepttl", "ex"])),
            _ => words("BADOPT"),
        };
        args.extend(option);
    }
}

fn getex_options(rng: &mut Rng) -> Vec<Vec<u8>> {
    match rng.below(10) {
        0..=1 => Vec::new(),
        2 => words("PERSIST"),
        3 => vec![b"EX".to_vec(), pick_word(rng, SECONDS)],
        4 => vec![b"PX".to_vec(), pick_word(rng, MILLIS)],
        5 => vec![b"EXAT".to_vec(), pick_word(rng, UNIX_SECONDS)],
        6 => vec![b"PXAT".to_vec(), pick_word(rng, UNIX_MILLIS)],
        _ => words(rng.pick(&[
            "PERSIST PERSIST",
            "EX 10 PX 10",
            "KEEPTTL",
            "EX",
            "BADOPT",
            "EX 100 PERSIST",
        ])),
    }
}

/// Relative expiry with options; GT and LT only with times not in the future
/// (two future times set a moment apart compare differently on each server).
fn relative_expire(rng: &mut Rng) -> Vec<Vec<u8>> {
    let seconds = rng.chance(60);
    let amount = if seconds {
        rng.pick(SECONDS)
    } else {
        rng.pick(MILLIS)
    };
    let future = amount.parse::<i64>().is_ok_and(|n| n > 0);
    let flags = if future {
        rng.pick(EXPIRE_FLAGS_NO_ORDER)
    } else {
        rng.pick(EXPIRE_FLAGS_ANY)
    };
    let name: &[u8] = if seconds { b"EXPIRE" } else { b"PEXPIRE" };
    let mut args = vec![name.to_vec(), key(rng), amount.as_bytes().to_vec()];
    args.extend(words(flags));
    args
}

fn absolute_expire(rng: &mut Rng) -> Vec<Vec<u8>> {
    let seconds = rng.chance(50);
    let (name, amount) = if seconds {
        ("EXPIREAT", rng.pick(UNIX_SECONDS))
    } else {
        ("PEXPIREAT", rng.pick(UNIX_MILLIS))
    };
    let mut args = vec![
        name.as_bytes().to_vec(),
        key(rng),
        amount.as_bytes().to_vec(),
    ];
    args.extend(words(rng.pick(EXPIRE_FLAGS_ANY)));
    args
}

fn bitfield_ops(rng: &mut Rng) -> Vec<Vec<u8>> {
    const OPS: &[&str] = &[
        "GET u8 0",
        "GET i16 3",
        "GET u4 #1",
        "SET u8 8 255",
        "SET i5 2 -3",
        "INCRBY i5 100 1",
        "INCRBY u2 1 3",
        "OVERFLOW SAT",
        "OVERFLOW FAIL",
        "OVERFLOW WRAP",
        "GET u64 0",
        "GET i8 -1",
        "SET u8 0 abc",
    ];
    let mut args = Vec::new();
    for _ in 0..rng.below(4) {
        args.extend(words(rng.pick(OPS)));
    }
    args
}

/// One random command (string and generic key commands only).
fn generate(rng: &mut Rng) -> Op {
    let exact = |args: Vec<Vec<u8>>| Op::Command(args, Compare::Exact);
    let k = key(rng);
    match rng.below(95) {
        0..=9 => {
            let mut args = vec![b"SET".to_vec(), k, value(rng)];
            set_options(rng, &mut args);
            exact(args)
        }
        10..=15 => exact(vec![b"GET".to_vec(), k]),
        16..=17 => {
            let mut args = vec![b"GETEX".to_vec(), k];
            args.extend(getex_options(rng));
            exact(args)
        }
        18 => exact(vec![b"GETDEL".to_vec(), k]),
        19 => exact(vec![b"GETSET".to_vec(), k, value(rng)]),
        20 => exact(vec![b"SETNX".to_vec(), k, value(rng)]),
        21 => exact(vec![
            b"SETEX".to_vec(),
            k,
            pick_word(rng, SECONDS),
            value(rng),
        ]),
        22 => exact(vec![
            b"PSETEX".to_vec(),
            k,
            pick_word(rng, MILLIS),
            value(rng),
        ]),
        23..=25 => {
            let name: &[u8] = if rng.chance(70) { b"MSET" } else { b"MSETNX" };
            let mut args = vec![name.to_vec()];
            for _ in 0..1 + rng.below(3) {
                args.push(key(rng));
                args.push(value(rng));
            }
            if rng.chance(10) {
                args.pop();
            }
            exact(args)
        }
        26..=27 => {
            let mut args = vec![b"MGET".to_vec()];
            args.extend(some_keys(rng, 4));
            exact(args)
        }
        28..=31 => exact(vec![rng.pick(&["INCR", "DECR"]).as_bytes().to_vec(), k]),
        32..=34 => {
            let name = rng.pick(&["INCRBY", "DECRBY"]);
            exact(vec![
                name.as_bytes().to_vec(),
                k,
                pick_word(rng, INCREMENTS),
            ])
        }
        35..=36 => exact(vec![
            b"INCRBYFLOAT".to_vec(),
            k,
            pick_word(rng, FLOAT_INCREMENTS),
        ]),
        37..=39 => exact(vec![b"APPEND".to_vec(), k, value(rng)]),
        40..=41 => exact(vec![b"STRLEN".to_vec(), k]),
        42..=43 => {
            let offset = rng.pick(&["0", "1", "3", "10", "100", "-1", "536870912", "abc"]);
            exact(vec![
                b"SETRANGE".to_vec(),
                k,
                offset.as_bytes().to_vec(),
                value(rng),
            ])
        }
        44..=45 => {
            let name = rng.pick(&["GETRANGE", "GETRANGE", "SUBSTR"]);
            exact(vec![
                name.as_bytes().to_vec(),
                k,
                pick_word(rng, INTS),
                pick_word(rng, INTS),
            ])
        }
        46 => {
            let mut args = vec![b"LCS".to_vec(), k, key(rng)];
            args.extend(words(rng.pick(&[
                "",
                "LEN",
                "IDX",
                "IDX WITHMATCHLEN",
                "IDX MINMATCHLEN 2",
                "IDX MINMATCHLEN 2 WITHMATCHLEN",
                "LEN IDX",
                "MINMATCHLEN x",
                "BADOPT",
            ])));
            Op::Lcs(args)
        }
        47..=48 => {
            let offset = rng.pick(&[
                "0",
                "1",
                "7",
                "8",
                "15",
                "100",
                "1000",
                "-1",
                "4294967296",
                "x",
            ]);
            let bit = rng.pick(&["0", "1", "1", "2"]);
            exact(vec![
                b"SETBIT".to_vec(),
                k,
                offset.as_bytes().to_vec(),
                bit.as_bytes().to_vec(),
            ])
        }
        49 => exact(vec![
            b"GETBIT".to_vec(),
            k,
            pick_word(rng, &["0", "1", "7", "9", "100", "-1", "x"]),
        ]),
        50..=51 => {
            let mut args = vec![b"BITCOUNT".to_vec(), k];
            if rng.chance(60) {
                args.push(pick_word(rng, INTS));
                args.push(pick_word(rng, INTS));
                if rng.chance(50) {
                    args.push(pick_word(rng, &["BYTE", "BIT", "bit", "WORD"]));
                }
            }
            exact(args)
        }
        52 => {
            let mut args = vec![
                b"BITPOS".to_vec(),
                k,
                pick_word(rng, &["0", "1", "1", "0", "2", "x"]),
            ];
            for _ in 0..rng.below(3) {
                args.push(pick_word(rng, INTS));
            }
            if args.len() == 5 && rng.chance(50) {
                args.push(pick_word(rng, &["BYTE", "BIT"]));
            }
            exact(args)
        }
        53 => {
            let operation = rng.pick(&["AND", "OR", "XOR", "NOT", "NOT", "and", "NAND"]);
            let mut args = vec![b"BITOP".to_vec(), operation.as_bytes().to_vec(), k];
            args.extend(some_keys(rng, 3));
            exact(args)
        }
        54 => {
            let name = rng.pick(&["BITFIELD", "BITFIELD", "BITFIELD_RO"]);
            let mut args = vec![name.as_bytes().to_vec(), k];
            args.extend(bitfield_ops(rng));
            exact(args)
        }
        55..=57 => {
            let mut args = vec![rng.pick(&["DEL", "UNLINK"]).as_bytes().to_vec()];
            args.extend(some_keys(rng, 3));
            exact(args)
        }
        58..=60 => {
            let mut args = vec![rng.pick(&["EXISTS", "EXISTS", "TOUCH"]).as_bytes().to_vec()];
            args.extend(some_keys(rng, 4));
            exact(args)
        }
        61..=62 => exact(vec![b"TYPE".to_vec(), k]),
        63..=64 => exact(vec![
            rng.pick(&["RENAME", "RENAMENX"]).as_bytes().to_vec(),
            k,
            key(rng),
        ]),
        65..=66 => {
            let mut args = vec![b"COPY".to_vec(), k, key(rng)];
            args.extend(words(rng.pick(&[
                "",
                "",
                "REPLACE",
                "DB 1",
                "DB 0",
                "DB 1 REPLACE",
                "DB 16",
                "DB x",
                "DB",
            ])));
            exact(args)
        }
        67 => exact(vec![
            b"MOVE".to_vec(),
            k,
            pick_word(rng, &["0", "1", "1", "2", "16", "x"]),
        ]),
        68..=69 => exact(vec![
            b"SELECT".to_vec(),
            pick_word(rng, &["0", "1", "0", "1", "16", "x"]),
        ]),
        70 => exact(words(rng.pick(&[
            "SWAPDB 0 1",
            "SWAPDB 1 0",
            "SWAPDB 0 0",
            "SWAPDB 0 16",
            "SWAPDB a 1",
        ]))),
        71..=73 => exact(relative_expire(rng)),
        74..=75 => exact(absolute_expire(rng)),
        76..=78 => {
            let name = rng.pick(&["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
            Op::Command(vec![name.as_bytes().to_vec(), k], Compare::TtlClass)
        }
        79..=80 => exact(vec![b"PERSIST".to_vec(), k]),
        81..=82 => {
            if rng.chance(25) {
                exact(words("FLUSHDB"))
            } else {
                // DBSIZE counts keys whose deadline passed until active expiry (timed
                // differently on each server) removes them; KEYS, compared exactly, covers
                // the key set.
                Op::Command(words("DBSIZE"), Compare::Type)
            }
        }
        83..=84 => {
            let pattern = rng.pick(&["*", "k*", "k[01]", "k?", "*2*", "nomatch"]);
            Op::Command(
                vec![b"KEYS".to_vec(), pattern.as_bytes().to_vec()],
                Compare::Sorted,
            )
        }
        85 => Op::ScanAll(words(rng.pick(&[
            "",
            "MATCH k*",
            "COUNT 2",
            "MATCH k[0-1] COUNT 1",
            "TYPE string",
        ]))),
        86..=88 => exact(vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), k]),
        _ => malformed(rng),
    }
}

/// A generated command with arguments cut off, or its name in mixed case.
fn malformed(rng: &mut Rng) -> Op {
    match generate(rng) {
        Op::Command(mut args, compare) => {
            if rng.chance(50) {
                args[0] = args[0]
                    .iter()
                    .map(|b| {
                        if rng.chance(50) {
                            b.to_ascii_lowercase()
                        } else {
                            *b
                        }
                    })
                    .collect();
            } else {
                let keep = 1 + rng.below(args.len());
                args.truncate(keep);
            }
            Op::Command(args, compare)
        }
        other => other,
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text} is not a number")))
}

/// Drives both servers through the same random commands.
struct Random {
    sides: [Side; 2],
    history: VecDeque<String>,
    seed: u64,
    step: usize,
}

impl Random {
    /// Runs `send` on both servers; panics, with the recent history, when the
    /// replies differ. Returns redis' reply.
    fn check(&mut self, send: &Send, compare: Compare, strata_log: impl Fn() -> String) -> Resp {
        let text = format!("{}{}", send.show(), compare.label());
        let expected = self.sides[0]
            .run(send)
            .unwrap_or_else(|e| panic!("redis-server failed on {text}: {e}"));
        let actual = self.sides[1].run(send);
        let agree = matches!(&actual, Ok(reply) if compare.agree(&expected, reply));
        if !agree {
            let seed = self.seed;
            let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
            panic!(
                "randomized differential test: step {} differs (rerun with STRATA_DIFF_SEED={seed:#x})\n\
                 \x20 command: {text}\n  redis:   {}\n  strata:  {}\n\
                 last {} commands, with redis' replies:\n  {}\n\nstrata-server log (tail):\n{}",
                self.step,
                expected.render(),
                show_outcome(&actual),
                history.len(),
                history.join("\n  "),
                log_tail(&strata_log(), 40)
            );
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history
            .push_back(format!("{text}  -> {}", expected.render()));
        expected
    }
}

#[test]
fn randomized_strings_and_keys() {
    let Some(redis) = Server::redis(&[]) else {
        println!("{SKIP_NOTICE}");
        return;
    };
    let strata = Server::strata(&[]);
    let seed = env_number("STRATA_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let steps = env_number("STRATA_DIFF_STEPS").map_or(DEFAULT_STEPS, |n| n as usize);
    let mut rng = Rng(seed);
    let mut random = Random {
        sides: [Side::new(redis.port), Side::new(strata.port)],
        history: VecDeque::with_capacity(HISTORY),
        seed,
        step: 0,
    };
    let log = || strata.log();
    let mut commands = 0;
    for step in 0..steps {
        random.step = step;
        let (send, compare) = match generate(&mut rng) {
            Op::Command(args, compare) => (Send::Command(args), compare),
            Op::ScanAll(args) => (Send::ScanAll(args), Compare::Exact),
            Op::Lcs(args) => {
                let mut short = true;
                for name in &args[1..3] {
                    let probe = Send::Command(vec![b"STRLEN".to_vec(), name.clone()]);
                    let length = random.check(&probe, Compare::Exact, log);
                    commands += 1;
                    short &= matches!(length, Resp::Int(n) if n <= LCS_MAX_LEN);
                }
                if !short {
                    continue;
                }
                (Send::Command(args), Compare::Exact)
            }
        };
        random.check(&send, compare, log);
        commands += 1;
    }
    println!("randomized: {commands} commands agree (seed {seed:#x})");
}

// ------------------------------------------------------------------ self-tests

fn byte_words(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|w| w.to_vec()).collect()
}

#[test]
fn parse_line_splits_like_redis_cli() {
    assert_eq!(
        parse_line("  set  a   b "),
        byte_words(&[b"set", b"a", b"b"])
    );
    assert_eq!(
        parse_line(r#"set "a b" "x\x41\n\t\"\\""#),
        byte_words(&[b"set", b"a b", b"xA\n\t\"\\"])
    );
    assert_eq!(
        parse_line(r"set 'it\'s' 'a\nb'"),
        byte_words(&[b"set", b"it's", b"a\\nb"])
    );
    assert_eq!(parse_line(r#"a "" b"#), byte_words(&[b"a", b"", b"b"]));
    assert_eq!(parse_line(r#"a"b c" d"#), byte_words(&[b"ab c", b"d"]));
    assert_eq!(
        parse_line(r#""\x4g" "\xff\x00""#),
        byte_words(&[b"x4g", b"\xff\x00"])
    );
    assert_eq!(parse_line(""), Vec::<Vec<u8>>::new());
    assert!(try_parse_line(r#"set "abc"#).is_err());
    assert!(try_parse_line("set 'abc").is_err());
    assert!(try_parse_line(r#"set "a"b"#).is_err());
}

fn read_all(bytes: &[u8]) -> io::Result<Resp> {
    let mut reader = bytes;
    let reply = read_resp(&mut reader)?;
    assert!(reader.is_empty(), "bytes left after the reply: {reader:?}");
    Ok(reply)
}

fn bulk(text: &str) -> Resp {
    Resp::Bulk(Some(text.as_bytes().to_vec()))
}

fn simple(text: &str) -> Resp {
    Resp::Simple(text.as_bytes().to_vec())
}

#[test]
fn resp_reader_reads_every_type() {
    let cases: Vec<(&str, Resp)> = vec![
        ("+OK\r\n", simple("OK")),
        ("-ERR bad\r\n", Resp::Error(b"ERR bad".to_vec())),
        (":-5\r\n", Resp::Int(-5)),
        ("$3\r\nfoo\r\n", bulk("foo")),
        ("$0\r\n\r\n", bulk("")),
        ("$-1\r\n", Resp::Bulk(None)),
        (
            "*2\r\n:1\r\n$-1\r\n",
            Resp::Array(Some(vec![Resp::Int(1), Resp::Bulk(None)])),
        ),
        ("*0\r\n", Resp::Array(Some(Vec::new()))),
        ("*-1\r\n", Resp::Array(None)),
        ("_\r\n", Resp::Null),
        (",1.5\r\n", Resp::Double(b"1.5".to_vec())),
        ("#t\r\n", Resp::Bool(true)),
        ("#f\r\n", Resp::Bool(false)),
        ("!3\r\nbad\r\n", Resp::BlobError(b"bad".to_vec())),
        ("=7\r\ntxt:abc\r\n", Resp::Verbatim(b"txt:abc".to_vec())),
        (
            "(12345678901234567890\r\n",
            Resp::BigNum(b"12345678901234567890".to_vec()),
        ),
        (
            "%1\r\n+a\r\n:1\r\n",
            Resp::Map(vec![(simple("a"), Resp::Int(1))]),
        ),
        ("~1\r\n+a\r\n", Resp::Set(vec![simple("a")])),
        (
            ">2\r\n+m\r\n+x\r\n",
            Resp::Push(vec![simple("m"), simple("x")]),
        ),
        (
            "|1\r\n+k\r\n+v\r\n:5\r\n",
            Resp::Attribute(vec![(simple("k"), simple("v"))], Box::new(Resp::Int(5))),
        ),
        ("$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n", bulk("abc")),
        (
            "*?\r\n:1\r\n*?\r\n.\r\n.\r\n",
            Resp::Array(Some(vec![Resp::Int(1), Resp::Array(Some(Vec::new()))])),
        ),
        (
            "%?\r\n+a\r\n:1\r\n.\r\n",
            Resp::Map(vec![(simple("a"), Resp::Int(1))]),
        ),
    ];
    for (text, expected) in cases {
        let got = read_all(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(got, expected, "{text:?}");
    }
}

#[test]
fn resp_reader_refuses_malformed_replies() {
    let mut deep = b"*1\r\n".repeat(1000);
    deep.extend_from_slice(b":1\r\n");
    let mut bad: Vec<Vec<u8>> = [
        "",
        "+OK\n",
        "+OK",
        "?what\r\n",
        ":12x\r\n",
        "$3\r\nfoo",
        "$3\r\nfooXY",
        "$2000000000\r\n",
        "$-2\r\n",
        "*3\r\n:1\r\n",
        "%1\r\n+a\r\n",
        "~-1\r\n",
        "#x\r\n",
        "_x\r\n",
        "$?\r\n;2\r\nab\r\n",
        "*?\r\n:1\r\n",
    ]
    .iter()
    .map(|text| text.as_bytes().to_vec())
    .collect();
    bad.push(deep);
    for bytes in &bad {
        let outcome = read_all(bytes);
        assert!(
            outcome.is_err(),
            "{:?} was accepted as {outcome:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn comparisons_can_fail() {
    let pair = |a: &str, b: &str| Resp::Array(Some(vec![bulk(a), bulk(b)]));
    assert!(Compare::Exact.agree(&Resp::Int(1), &Resp::Int(1)));
    assert!(!Compare::Exact.agree(&Resp::Int(1), &Resp::Int(2)));
    assert!(!Compare::Exact.agree(&bulk("1"), &simple("1")));
    assert!(!Compare::Exact.agree(&Resp::Bulk(None), &Resp::Null));
    assert!(Compare::Type.agree(&bulk("a"), &Resp::Bulk(None)));
    assert!(!Compare::Type.agree(&bulk("a"), &simple("a")));
    assert!(Compare::Sorted.agree(&pair("a", "b"), &pair("b", "a")));
    assert!(!Compare::Sorted.agree(&pair("a", "b"), &pair("a", "a")));
    assert!(Compare::Sorted.agree(
        &Resp::Set(vec![bulk("x"), bulk("y")]),
        &Resp::Set(vec![bulk("y"), bulk("x")])
    ));
    assert!(!Compare::Sorted.agree(&pair("a", "b"), &Resp::Set(vec![bulk("a"), bulk("b")])));
    assert!(Compare::TtlClass.agree(&Resp::Int(1000), &Resp::Int(999)));
    assert!(Compare::TtlClass.agree(&Resp::Int(-2), &Resp::Int(-2)));
    assert!(!Compare::TtlClass.agree(&Resp::Int(-1), &Resp::Int(-2)));
    assert!(!Compare::TtlClass.agree(&Resp::Int(5), &Resp::Int(-1)));
    assert!(!Compare::TtlClass.agree(&Resp::Int(5), &bulk("5")));
    assert!(Compare::Ignore.agree(&Resp::Int(5), &bulk("5")));
}

#[test]
fn render_is_redis_cli_like() {
    let reply = Resp::Array(Some(vec![
        bulk("a\"b\n\x01"),
        Resp::Int(3),
        Resp::Bulk(None),
        Resp::Error(b"ERR x".to_vec()),
        Resp::Map(vec![(simple("k"), Resp::Double(b"1.5".to_vec()))]),
        Resp::Array(None),
        Resp::Null,
    ]));
    assert_eq!(
        reply.render(),
        r#"["a\"b\n\x01", (integer) 3, (nil), (error) ERR x, {k => (double) 1.5}, (nil array), (null)]"#
    );
}

#[test]
fn generator_is_deterministic() {
    let sample = |seed: u64| {
        let mut rng = Rng(seed);
        (0..200)
            .map(|_| match generate(&mut rng) {
                Op::Command(args, compare) => format!("{}{}", show_command(&args), compare.label()),
                Op::ScanAll(args) => format!("scan {}", show_command(&args)),
                Op::Lcs(args) => format!("lcs {}", show_command(&args)),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sample(7), sample(7));
    assert_ne!(sample(7), sample(8));
}

// ------------------------------------------------------------------ randomized collections

/// Elements for the collection generator: small integers (intsets), short words, one value
/// longer than the 64-byte listpack limit.
const ELEMS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-5",
    "10",
    "a",
    "b",
    "c",
    "dd",
    "e e",
    "",
    "a-value-that-is-longer-than-the-sixty-four-byte-listpack-limit-for-sure",
];
/// Scores whose sums print the same under Redis 7.0's %.17g and stay exact.
const SCORES: &[&str] = &[
    "0", "1", "-1", "2.5", "10", "-3.5", "100", "inf", "-inf", "0.5",
];
const CKEYS: &[&str] = &["c0", "c1", "c2", "c3", "c4"];
const INDEXES: &[&str] = &["0", "1", "-1", "2", "-2", "5", "-10", "100", "x"];

fn elem(rng: &mut Rng) -> Vec<u8> {
    rng.pick(ELEMS).as_bytes().to_vec()
}

fn elems(rng: &mut Rng, max: usize) -> Vec<Vec<u8>> {
    (0..1 + rng.below(max)).map(|_| elem(rng)).collect()
}

fn ckey(rng: &mut Rng) -> Vec<u8> {
    rng.pick(CKEYS).as_bytes().to_vec()
}

/// One random collection command. Replies whose order is hash-table order in Redis 7.0 (or
/// differs between 7.0 and 7.2) are compared sorted; random ones by type.
fn generate_collection(rng: &mut Rng) -> Op {
    use Compare::{Exact, Sorted, Type};
    let k = ckey(rng);
    let w = |s: &str| s.as_bytes().to_vec();
    let cmd = |name: &str, k: Vec<u8>, rest: Vec<Vec<u8>>| {
        let mut v = vec![name.as_bytes().to_vec(), k];
        v.extend(rest);
        v
    };
    let (args, compare) = match rng.below(48) {
        0..=3 => {
            let mut rest = Vec::new();
            for _ in 0..1 + rng.below(3) {
                rest.push(elem(rng));
                rest.push(elem(rng));
            }
            (cmd("HSET", k, rest), Exact)
        }
        4 => (cmd("HGET", k, vec![elem(rng)]), Exact),
        5 => (cmd("HDEL", k, elems(rng, 3)), Exact),
        6 => (cmd("HGETALL", k, vec![]), Sorted),
        7 => (
            cmd("HINCRBY", k, vec![elem(rng), w(rng.pick(INDEXES))]),
            Exact,
        ),
        8 => (cmd("HLEN", k, vec![]), Exact),
        9 => (cmd("HMGET", k, elems(rng, 3)), Exact),
        10..=12 => {
            let name = if rng.chance(50) { "LPUSH" } else { "RPUSH" };
            (cmd(name, k, elems(rng, 4)), Exact)
        }
        13 => {
            let name = if rng.chance(50) { "LPOP" } else { "RPOP" };
            let rest = if rng.chance(50) {
                vec![w(rng.pick(&["0", "1", "3", "-1"]))]
            } else {
                vec![]
            };
            (cmd(name, k, rest), Exact)
        }
        14 => (
            cmd(
                "LRANGE",
                k,
                vec![w(rng.pick(INDEXES)), w(rng.pick(INDEXES))],
            ),
            Exact,
        ),
        15 => (cmd("LINDEX", k, vec![w(rng.pick(INDEXES))]), Exact),
        16 => (cmd("LSET", k, vec![w(rng.pick(INDEXES)), elem(rng)]), Exact),
        17 => (
            cmd(
                "LREM",
                k,
                vec![w(rng.pick(&["0", "1", "-1", "2", "-2"])), elem(rng)],
            ),
            Exact,
        ),
        18 => {
            let where_ = w(rng.pick(&["BEFORE", "AFTER"]));
            (cmd("LINSERT", k, vec![where_, elem(rng), elem(rng)]), Exact)
        }
        19 => (
            cmd("LTRIM", k, vec![w(rng.pick(INDEXES)), w(rng.pick(INDEXES))]),
            Exact,
        ),
        20 => {
            let (a, b) = (
                w(rng.pick(&["LEFT", "RIGHT"])),
                w(rng.pick(&["LEFT", "RIGHT"])),
            );
            (cmd("LMOVE", k, vec![ckey(rng), a, b]), Exact)
        }
        21 => {
            let mut rest = vec![elem(rng)];
            if rng.chance(50) {
                rest.push(w("RANK"));
                rest.push(w(rng.pick(&["1", "-1", "2", "-2"])));
            }
            if rng.chance(30) {
                rest.push(w("COUNT"));
                rest.push(w(rng.pick(&["0", "1", "2"])));
            }
            (cmd("LPOS", k, rest), Exact)
        }
        22..=24 => (cmd("SADD", k, elems(rng, 4)), Exact),
        25 => (cmd("SREM", k, elems(rng, 3)), Exact),
        26 => (cmd("SMEMBERS", k, vec![]), Sorted),
        27 => (cmd("SISMEMBER", k, vec![elem(rng)]), Exact),
        28 => (cmd("SCARD", k, vec![]), Exact),
        29 => (cmd("SMOVE", k, vec![ckey(rng), elem(rng)]), Exact),
        30 => {
            let name = rng.pick(&["SINTER", "SUNION", "SDIFF"]);
            (cmd(name, k, vec![ckey(rng)]), Sorted)
        }
        31 => {
            let name = rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
            (cmd(name, k, vec![ckey(rng), ckey(rng)]), Exact)
        }
        32 => (cmd("SRANDMEMBER", k, vec![]), Type),
        33..=35 => {
            let mut rest = Vec::new();
            if rng.chance(20) {
                rest.push(w(rng.pick(&["NX", "XX", "GT", "LT", "CH"])));
            }
            for _ in 0..1 + rng.below(3) {
                rest.push(w(rng.pick(SCORES)));
                rest.push(elem(rng));
            }
            (cmd("ZADD", k, rest), Exact)
        }
        36 => (
            cmd("ZINCRBY", k, vec![w(rng.pick(SCORES)), elem(rng)]),
            Exact,
        ),
        37 => (cmd("ZREM", k, elems(rng, 3)), Exact),
        38 => {
            let mut rest = vec![w(rng.pick(INDEXES)), w(rng.pick(INDEXES))];
            if rng.chance(30) {
                rest.push(w("REV"));
            }
            if rng.chance(50) {
                rest.push(w("WITHSCORES"));
            }
            (cmd("ZRANGE", k, rest), Exact)
        }
        39 => {
            let lo = w(rng.pick(&["-inf", "0", "(0", "1", "(2.5", "-1"]));
            let hi = w(rng.pick(&["+inf", "10", "(10", "2.5", "0"]));
            let mut rest = vec![lo, hi, w("WITHSCORES")];
            if rng.chance(30) {
                rest.extend([
                    w("LIMIT"),
                    w(rng.pick(&["0", "1"])),
                    w(rng.pick(&["1", "2", "-1"])),
                ]);
            }
            (cmd("ZRANGEBYSCORE", k, rest), Exact)
        }
        40 => (cmd("ZRANK", k, vec![elem(rng)]), Exact),
        41 => (cmd("ZSCORE", k, vec![elem(rng)]), Exact),
        42 => (
            cmd(
                rng.pick(&["ZPOPMIN", "ZPOPMAX"]),
                k,
                vec![w(rng.pick(&["1", "2"]))],
            ),
            Exact,
        ),
        43 => (
            cmd(
                "ZREMRANGEBYRANK",
                k,
                vec![w(rng.pick(INDEXES)), w(rng.pick(INDEXES))],
            ),
            Exact,
        ),
        44 => {
            let name = rng.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
            (cmd(name, k, vec![w("2"), ckey(rng), ckey(rng)]), Exact)
        }
        45 => (cmd("ZCARD", k, vec![]), Exact),
        46 => (vec![w("DEL"), k], Exact),
        _ => (vec![w("TYPE"), k], Exact),
    };
    Op::Command(args, compare)
}

#[test]
fn randomized_collections() {
    let Some(redis) = Server::redis(&[]) else {
        println!("{SKIP_NOTICE}");
        return;
    };
    let strata = Server::strata(&[]);
    let seed = env_number("STRATA_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    let steps = env_number("STRATA_DIFF_STEPS").map_or(DEFAULT_STEPS * 2, |n| n as usize);
    let mut rng = Rng(seed ^ 0xc011_ec71);
    let mut random = Random {
        sides: [Side::new(redis.port), Side::new(strata.port)],
        history: VecDeque::with_capacity(HISTORY),
        seed,
        step: 0,
    };
    let log = || strata.log();
    for step in 0..steps {
        random.step = step;
        let Op::Command(args, compare) = generate_collection(&mut rng) else {
            unreachable!("the collection generator only makes commands")
        };
        random.check(&Send::Command(args), compare, log);
    }
    println!("randomized collections: {steps} commands agree (seed {seed:#x})");
}
