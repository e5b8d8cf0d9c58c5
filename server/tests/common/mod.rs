//! Shared helpers for the integration tests: starting `strata-server` and
//! `redis-server` on free loopback ports, a raw RESP2/RESP3 client, and a
//! command-line splitter that behaves like redis-cli.
//!
//! Every test binary that says `mod common;` compiles this file, and each
//! uses a different part of it.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Longest bulk string or aggregate the reader accepts.
pub const MAX_LEN: usize = 1 << 30;
/// Longest line (type byte to CRLF) the reader accepts.
const MAX_LINE: u64 = 1 << 20;
/// Deepest nesting of aggregates the reader accepts.
const MAX_DEPTH: usize = 128;
/// How long a server may take to answer its first PING.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const STARTUP_POLL: Duration = Duration::from_millis(20);
/// How many times a server is started on a fresh port when it exits early
/// (another process may have taken the port between `free_port` and bind).
const START_ATTEMPTS: usize = 3;
/// Read timeout of a `RawClient`.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_NAME: &str = "server.log";

/// A loopback port that was free a moment ago, and that this process has not handed out
/// before (the kernel may give two tests starting servers at once the same one).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local address of a bound listener")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no loopback port this process has not used already");
}

/// A server process on 127.0.0.1, killed (and waited for) on drop.
pub struct Server {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `strata-server` with a fresh data directory; `extra` are more
    /// `--name value` flags.
    pub fn strata(extra: &[&str]) -> Server {
        let program = OsStr::new(env!("CARGO_BIN_EXE_strata-server"));
        let server = Server::launch(program, extra, |port, dir| {
            vec![
                "--port".into(),
                port.to_string().into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.into(),
            ]
        });
        server.expect("the strata-server binary built by cargo is missing")
    }

    /// Starts `strata-server` with `config` as its configuration file (the
    /// first argument, as redis-server takes it), then the same flags as
    /// `strata`, which override the file, then `extra`.
    pub fn strata_with_config(config: &std::path::Path, extra: &[&str]) -> Server {
        let program = OsStr::new(env!("CARGO_BIN_EXE_strata-server"));
        let config = OsString::from(config);
        let server = Server::launch(program, extra, |port, dir| {
            vec![
                config.clone(),
                "--port".into(),
                port.to_string().into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.into(),
            ]
        });
        server.expect("the strata-server binary built by cargo is missing")
    }

    /// Starts the real `redis-server`, without persistence, in a fresh
    /// directory. Returns None when it is not installed, unless the
    /// environment variable `STRATA_REQUIRE_REDIS` is set.
    pub fn redis(extra: &[&str]) -> Option<Server> {
        let server = Server::launch(OsStr::new("redis-server"), extra, |port, dir| {
            vec![
                "--port".into(),
                port.to_string().into(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                "".into(),
                "--appendonly".into(),
                "no".into(),
                "--dir".into(),
                dir.into(),
            ]
        });
        if server.is_none() && redis_required() {
            panic!(
                "redis-server is not on PATH, but STRATA_REQUIRE_REDIS is set: \
                 install redis-server (7.x) or unset STRATA_REQUIRE_REDIS"
            );
        }
        server
    }

    /// A new raw connection to this server.
    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port)
    }

    /// Everything the server has written to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(self._dir.path())
    }

    /// Starts `program` with `base(port, dir)` followed by `extra` and waits
    /// until it answers PING. None when the program does not exist; panics,
    /// with the server's log, when it does not come up.
    fn launch(
        program: &OsStr,
        extra: &[&str],
        base: impl Fn(u16, &std::path::Path) -> Vec<OsString>,
    ) -> Option<Server> {
        let name = program.to_string_lossy().into_owned();
        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("strata-test-")
                .tempdir()
                .expect("create a temporary directory");
            let port = free_port();
            let mut args = base(port, dir.path());
            args.extend(extra.iter().map(OsString::from));
            let log = File::create(dir.path().join(LOG_NAME)).expect("create the server log");
            let log_err = log.try_clone().expect("clone the server log handle");
            let mut command = Command::new(program);
            command
                .args(&args)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err);
            let mut server = Server {
                port,
                child: match command.spawn() {
                    Ok(child) => child,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
                    Err(e) => panic!("cannot start {name}: {e}"),
                },
                _dir: dir,
            };
            match server.wait_ready() {
                Startup::Ready => return Some(server),
                Startup::Exited(status) => {
                    let _ = writeln!(
                        failures,
                        "attempt {attempt}: {name} on port {port} exited with {status}; log:\n{}",
                        server.log()
                    );
                }
                Startup::TimedOut => panic!(
                    "{name} on port {port} did not answer PING within {STARTUP_TIMEOUT:?}; \
                     args {args:?}; log:\n{}",
                    server.log()
                ),
            }
        }
        panic!("{name} did not start after {START_ATTEMPTS} attempts:\n{failures}");
    }

    fn wait_ready(&mut self) -> Startup {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Startup::Exited(status.to_string());
            }
            if answers_ping(self.port) {
                // The answer could come from another process on a reused
                // port: it counts only while our child runs and holds the port.
                match self.child.try_wait() {
                    Ok(Some(status)) => return Startup::Exited(status.to_string()),
                    _ if owns_port(self.child.id(), self.port) => return Startup::Ready,
                    // Another test's server answered: ours, still starting,
                    // will fail to bind and exit, and is started again.
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                return Startup::TimedOut;
            }
            thread::sleep(STARTUP_POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Startup {
    Ready,
    Exited(String),
    TimedOut,
}

fn redis_required() -> bool {
    std::env::var_os("STRATA_REQUIRE_REDIS").is_some_and(|v| !v.is_empty() && v != "0")
}

fn read_log(dir: &std::path::Path) -> String {
    match fs::read(dir.join(LOG_NAME)) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(no log: {e})"),
    }
}

/// Whether process `pid` holds a listening TCP socket on `port`, read from
/// Linux's /proc (true where that cannot be read). `free_port` can hand one
/// port to two tests starting servers at once; the server that binds it first
/// answers both tests' PINGs while the other is still starting (Strata binds
/// after opening its data), so a PING answer alone does not say whose it is.
pub fn owns_port(pid: u32, port: u16) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    let sockets: Vec<String> = fds
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?;
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        // sl local_address rem_address st ... inode: state 0A is LISTEN.
        let listening = text.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() > 9
                && f[3] == "0A"
                && f[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                    == Some(port)
                && sockets.iter().any(|s| s == f[9])
        });
        if listening {
            return true;
        }
    }
    !readable
}

/// True when a PING on a new connection gets `+PONG` within half a second,
/// or `-NOAUTH` from a server started with `--requirepass`.
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .is_err()
    {
        return false;
    }
    let mut writer = &stream;
    if writer.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut line = Vec::new();
    let mut reader = BufReader::new(&stream).take(64);
    reader.read_until(b'\n', &mut line).is_ok()
        && (line == b"+PONG\r\n" || line.starts_with(b"-NOAUTH "))
}

// ------------------------------------------------------------------ client

/// A blocking RESP connection that sends exactly what it is given and reads
/// replies one at a time, without interpreting them.
pub struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    /// Connects to 127.0.0.1:`port`; panics when that fails.
    pub fn connect(port: u16) -> RawClient {
        RawClient::try_connect(port)
            .unwrap_or_else(|e| panic!("cannot connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(RawClient {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends `args` as a RESP array of bulk strings and reads one reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("command {} failed: {e}", show_command(args)))
    }

    pub fn try_cmd(&mut self, args: &[&[u8]]) -> io::Result<Resp> {
        self.try_send_raw(&encode_command(args))?;
        self.try_read_reply()
    }

    /// Sends bytes as they are (inline commands, malformed frames, pipelines).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes)
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Reads the next reply (or push message).
    pub fn read_reply(&mut self) -> Resp {
        self.try_read_reply()
            .unwrap_or_else(|e| panic!("reading a reply failed: {e}"))
    }

    pub fn try_read_reply(&mut self) -> io::Result<Resp> {
        read_resp(&mut self.reader)
    }
}

/// A command as a RESP array of bulk strings.
/// Sends a command written like a redis-cli line and reads its reply.
pub fn run(client: &mut RawClient, line: &str) -> Resp {
    let args = parse_line(line);
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    client.cmd(&args)
}

/// `assert_eq!` for replies: a failure shows both sides as redis-cli prints
/// them, which reads better than their bytes.
#[allow(unused_macros)]
macro_rules! assert_reply {
    ($actual:expr, $expected:expr $(,)?) => {
        assert_reply!($actual, $expected, "unexpected reply")
    };
    ($actual:expr, $expected:expr, $($context:tt)+) => {{
        let actual = &$actual;
        let expected = &$expected;
        assert!(
            actual == expected,
            "{}\n   got: {}\n  want: {}",
            format_args!($($context)+),
            actual.render(),
            expected.render()
        );
    }};
}
#[allow(unused_imports)]
pub(crate) use assert_reply;

pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A command for messages: words separated by spaces, quoted when needed.
pub fn show_command<A: AsRef<[u8]>>(args: &[A]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            let a = a.as_ref();
            let plain = !a.is_empty()
                && a.iter()
                    .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
            if plain {
                String::from_utf8_lossy(a).into_owned()
            } else {
                quote(a)
            }
        })
        .collect();
    words.join(" ")
}

// ------------------------------------------------------------------ RESP

/// One RESP2 or RESP3 reply, kept exactly as sent (doubles and big numbers
/// as their text), so two replies are equal when their bytes are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text`
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$n` (None for `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*n` (None for `*-1`)
    Array(Option<Vec<Resp>>),
    /// `_`
    Null,
    /// `,text`
    Double(Vec<u8>),
    /// `#t` / `#f`
    Bool(bool),
    /// `!n`
    BlobError(Vec<u8>),
    /// `=n`, including the three-letter format and the colon
    Verbatim(Vec<u8>),
    /// `(digits`
    BigNum(Vec<u8>),
    /// `%n`
    Map(Vec<(Resp, Resp)>),
    /// `~n`
    Set(Vec<Resp>),
    /// `>n`
    Push(Vec<Resp>),
    /// `|n` attributes, followed by the reply they describe
    Attribute(Vec<(Resp, Resp)>, Box<Resp>),
}

impl Resp {
    /// The RESP type byte this reply was sent with.
    pub fn type_tag(&self) -> char {
        match self {
            Resp::Simple(_) => '+',
            Resp::Error(_) => '-',
            Resp::Int(_) => ':',
            Resp::Bulk(_) => '$',
            Resp::Array(_) => '*',
            Resp::Null => '_',
            Resp::Double(_) => ',',
            Resp::Bool(_) => '#',
            Resp::BlobError(_) => '!',
            Resp::Verbatim(_) => '=',
            Resp::BigNum(_) => '(',
            Resp::Map(_) => '%',
            Resp::Set(_) => '~',
            Resp::Push(_) => '>',
            Resp::Attribute(..) => '|',
        }
    }

    /// The same reply with the elements of a top-level array, set or push
    /// in a canonical order; other replies unchanged.
    pub fn sorted(&self) -> Resp {
        fn sort(items: &[Resp]) -> Vec<Resp> {
            let mut items = items.to_vec();
            items.sort();
            items
        }
        match self {
            Resp::Array(Some(items)) => Resp::Array(Some(sort(items))),
            Resp::Set(items) => Resp::Set(sort(items)),
            Resp::Push(items) => Resp::Push(sort(items)),
            other => other.clone(),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Resp::Error(_) | Resp::BlobError(_))
    }

    /// A one-line, redis-cli-like rendering for messages.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match self {
            Resp::Simple(text) => out.push_str(&escape(text)),
            Resp::Error(text) => {
                out.push_str("(error) ");
                out.push_str(&escape(text));
            }
            Resp::Int(n) => {
                let _ = write!(out, "(integer) {n}");
            }
            Resp::Bulk(None) => out.push_str("(nil)"),
            Resp::Bulk(Some(bytes)) => out.push_str(&quote(bytes)),
            Resp::Array(None) => out.push_str("(nil array)"),
            Resp::Array(Some(items)) => render_list(out, "", items),
            Resp::Null => out.push_str("(null)"),
            Resp::Double(text) => {
                out.push_str("(double) ");
                out.push_str(&escape(text));
            }
            Resp::Bool(b) => out.push_str(if *b { "(true)" } else { "(false)" }),
            Resp::BlobError(bytes) => {
                out.push_str("(blob error) ");
                out.push_str(&quote(bytes));
            }
            Resp::Verbatim(bytes) => {
                out.push_str("(verbatim) ");
                out.push_str(&quote(bytes));
            }
            Resp::BigNum(text) => {
                out.push_str("(big number) ");
                out.push_str(&escape(text));
            }
            Resp::Map(pairs) => render_pairs(out, "", pairs),
            Resp::Set(items) => render_list(out, "~", items),
            Resp::Push(items) => render_list(out, ">", items),
            Resp::Attribute(pairs, reply) => {
                render_pairs(out, "|", pairs);
                out.push(' ');
                reply.render_into(out);
            }
        }
    }
}

fn render_list(out: &mut String, prefix: &str, items: &[Resp]) {
    out.push_str(prefix);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        item.render_into(out);
    }
    out.push(']');
}

fn render_pairs(out: &mut String, prefix: &str, pairs: &[(Resp, Resp)]) {
    out.push_str(prefix);
    out.push('{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        key.render_into(out);
        out.push_str(" => ");
        value.render_into(out);
    }
    out.push('}');
}

/// Bytes as printable text: `\n \r \t \" \\` and `\xHH` for the rest.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// Bytes as a double-quoted string, like redis-cli prints a bulk reply.
pub fn quote(bytes: &[u8]) -> String {
    format!("\"{}\"", escape(bytes))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads one complete reply.
pub fn read_resp<R: BufRead>(reader: &mut R) -> io::Result<Resp> {
    read_value(reader, 0)
}

fn read_value<R: BufRead>(reader: &mut R, depth: usize) -> io::Result<Resp> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!("reply nested deeper than {MAX_DEPTH}")));
    }
    let line = read_line(reader)?;
    let (&tag, rest) = line
        .split_first()
        .ok_or_else(|| invalid("empty line".to_string()))?;
    let rest = rest.to_vec();
    match tag {
        b'+' => Ok(Resp::Simple(rest)),
        b'-' => Ok(Resp::Error(rest)),
        b':' => Ok(Resp::Int(parse_int(&rest)?)),
        b',' => Ok(Resp::Double(rest)),
        b'(' => Ok(Resp::BigNum(rest)),
        b'_' if rest.is_empty() => Ok(Resp::Null),
        b'#' => match rest.as_slice() {
            b"t" => Ok(Resp::Bool(true)),
            b"f" => Ok(Resp::Bool(false)),
            other => Err(invalid(format!("bad boolean {}", quote(other)))),
        },
        b'$' | b'!' | b'=' => {
            let payload = if rest == b"?" {
                Some(read_streamed_string(reader)?)
            } else {
                read_length(&rest)?
                    .map(|n| read_payload(reader, n))
                    .transpose()?
            };
            match (tag, payload) {
                (b'$', payload) => Ok(Resp::Bulk(payload)),
                (b'!', Some(payload)) => Ok(Resp::BlobError(payload)),
                (b'=', Some(payload)) => Ok(Resp::Verbatim(payload)),
                _ => Err(invalid(format!(
                    "negative length after {}",
                    char::from(tag)
                ))),
            }
        }
        b'*' | b'~' | b'>' => {
            let items = if rest == b"?" {
                Some(read_streamed_items(reader, depth)?)
            } else {
                match read_length(&rest)? {
                    None => None,
                    Some(n) => Some(read_items(reader, n, depth)?),
                }
            };
            match (tag, items) {
                (b'*', items) => Ok(Resp::Array(items)),
                (b'~', Some(items)) => Ok(Resp::Set(items)),
                (b'>', Some(items)) => Ok(Resp::Push(items)),
                _ => Err(invalid(format!(
                    "negative length after {}",
                    char::from(tag)
                ))),
            }
        }
        b'%' | b'|' => {
            let flat = if rest == b"?" {
                read_streamed_items(reader, depth)?
            } else {
                let n = read_length(&rest)?
                    .ok_or_else(|| invalid(format!("negative length after {}", char::from(tag))))?;
                let n = n
                    .checked_mul(2)
                    .ok_or_else(|| invalid("map too large".to_string()))?;
                read_items(reader, n, depth)?
            };
            let mut chunks = flat.chunks_exact(2);
            let pairs: Vec<(Resp, Resp)> = chunks
                .by_ref()
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            if !chunks.remainder().is_empty() {
                return Err(invalid("map with an odd number of elements".to_string()));
            }
            if tag == b'%' {
                Ok(Resp::Map(pairs))
            } else {
                let reply = read_value(reader, depth + 1)?;
                Ok(Resp::Attribute(pairs, Box::new(reply)))
            }
        }
        other => Err(invalid(format!(
            "unknown RESP type byte {} in line {}",
            quote(&[other]),
            quote(&line)
        ))),
    }
}

/// A line without its CRLF.
fn read_line<R: BufRead>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(invalid(format!(
            "line not terminated by CRLF: {}",
            quote(&line)
        )));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_int(text: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad integer {}", quote(text))))
}

/// A declared length: None for -1, an error when negative otherwise or too large.
fn read_length(text: &[u8]) -> io::Result<Option<usize>> {
    let n = parse_int(text)?;
    if n == -1 {
        return Ok(None);
    }
    match usize::try_from(n) {
        Ok(n) if n <= MAX_LEN => Ok(Some(n)),
        _ => Err(invalid(format!("length {n} out of range"))),
    }
}

fn read_payload<R: BufRead>(reader: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut payload = vec![0; n + 2];
    reader.read_exact(&mut payload)?;
    if !payload.ends_with(b"\r\n") {
        return Err(invalid("bulk payload not followed by CRLF".to_string()));
    }
    payload.truncate(n);
    Ok(payload)
}

fn read_items<R: BufRead>(reader: &mut R, n: usize, depth: usize) -> io::Result<Vec<Resp>> {
    let mut items = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        items.push(read_value(reader, depth + 1)?);
    }
    Ok(items)
}

/// `$?` followed by `;n` chunks and a final `;0`.
fn read_streamed_string<R: BufRead>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = read_line(reader)?;
        let n = match line.split_first() {
            Some((b';', n)) => read_length(n)?,
            _ => None,
        };
        match n {
            Some(0) => return Ok(out),
            Some(n) if out.len() + n <= MAX_LEN => out.extend(read_payload(reader, n)?),
            _ => {
                return Err(invalid(format!(
                    "bad streamed string chunk {}",
                    quote(&line)
                )))
            }
        }
    }
}

/// Elements of a streamed aggregate up to its `.` terminator.
fn read_streamed_items<R: BufRead>(reader: &mut R, depth: usize) -> io::Result<Vec<Resp>> {
    let mut items = Vec::new();
    loop {
        let next = reader.fill_buf()?;
        if next.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if next[0] == b'.' {
            let line = read_line(reader)?;
            if line != b"." {
                return Err(invalid(format!(
                    "bad aggregate terminator {}",
                    quote(&line)
                )));
            }
            return Ok(items);
        }
        if items.len() >= MAX_LEN {
            return Err(invalid("streamed aggregate too long".to_string()));
        }
        items.push(read_value(reader, depth + 1)?);
    }
}

// ------------------------------------------------------------------ command lines

/// Splits a command line like redis-cli: words separated by whitespace;
/// "double quotes" with `\n \r \t \b \a \" \\ \xHH` escapes; 'single quotes'
/// where only `\'` is special. Panics on unbalanced quotes.
pub fn parse_line(line: &str) -> Vec<Vec<u8>> {
    try_parse_line(line).unwrap_or_else(|e| panic!("cannot split {line:?}: {e}"))
}

/// Like `parse_line`, with an error for unbalanced quotes or a closing quote
/// that is not followed by whitespace.
pub fn try_parse_line(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(args);
        }
        let mut word = Vec::new();
        let mut quote_mode = Quote::Bare;
        loop {
            let c = bytes.get(i).copied();
            match quote_mode {
                Quote::Bare => match c {
                    None => break,
                    Some(c) if is_space(c) => break,
                    Some(b'"') => quote_mode = Quote::Double,
                    Some(b'\'') => quote_mode = Quote::Single,
                    Some(c) => word.push(c),
                },
                Quote::Double => match c {
                    None => return Err("unbalanced double quote".to_string()),
                    Some(b'\\')
                        if bytes.get(i + 1) == Some(&b'x') && hex_pair(bytes, i + 2).is_some() =>
                    {
                        word.extend(hex_pair(bytes, i + 2));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        i += 1;
                        word.push(match bytes[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        closing_quote(bytes, i)?;
                        i += 1;
                        break;
                    }
                    Some(c) => word.push(c),
                },
                Quote::Single => match c {
                    None => return Err("unbalanced single quote".to_string()),
                    Some(b'\\') if bytes.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        word.push(b'\'');
                    }
                    Some(b'\'') => {
                        closing_quote(bytes, i)?;
                        i += 1;
                        break;
                    }
                    Some(c) => word.push(c),
                },
            }
            i += 1;
        }
        args.push(word);
    }
}

#[derive(Clone, Copy)]
enum Quote {
    Bare,
    Double,
    Single,
}

/// Whitespace as C's isspace() sees it.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let pair = bytes.get(at..at + 2)?;
    let text = std::str::from_utf8(pair).ok()?;
    if !pair.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

/// A closing quote must end the word.
fn closing_quote(bytes: &[u8], at: usize) -> Result<(), String> {
    match bytes.get(at + 1) {
        Some(&next) if !is_space(next) => Err(format!(
            "closing quote at byte {at} must be followed by a space"
        )),
        _ => Ok(()),
    }
}

/// A `strata-server` on a data directory that outlives it (restart and crash tests). Its
/// output goes to `<dir>/server.log`; dropping it kills it with SIGKILL.
pub struct Proc {
    pub child: Child,
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the servers started on `dir` have logged.
pub fn server_log(dir: &std::path::Path) -> String {
    fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// Spawns `strata-server --appendonly yes` on `dir` and a free port, through
/// `sh -c "<prelude>; exec ..."` when a prelude is given (to set limits such as `ulimit -f` on
/// the server alone). Does not wait for it.
pub fn spawn_in(dir: &std::path::Path, extra: &[&str], prelude: Option<&str>) -> (Child, u16) {
    let port = free_port();
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("open the log");
    let mut command = match prelude {
        Some(p) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("{p}; exec \"$0\" \"$@\"")])
                .arg(env!("CARGO_BIN_EXE_strata-server"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_strata-server")),
    };
    let child = command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(["--appendonly", "yes"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log"))
        .stderr(log)
        .spawn()
        .expect("start strata-server");
    (child, port)
}

/// [`spawn_in`], then waits (bounded) until the server answers PING on a port
/// it holds; started again on another port when another process took its port.
pub fn start_in(dir: &std::path::Path, extra: &[&str], prelude: Option<&str>) -> Proc {
    let mut logged = server_log(dir).len();
    let (mut child, mut port) = spawn_in(dir, extra, prelude);
    let mut attempts = 1;
    let mut deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = server_log(dir);
            if attempts < START_ATTEMPTS && failed_to_bind(log.get(logged..).unwrap_or("")) {
                attempts += 1;
                logged = log.len();
                (child, port) = spawn_in(dir, extra, prelude);
                deadline = Instant::now() + Duration::from_secs(30);
                continue;
            }
            panic!("strata-server exited with {status}; log:\n{log}");
        }
        if let Ok(mut c) = RawClient::try_connect(port) {
            if matches!(c.try_cmd(&[b"PING"]), Ok(Resp::Simple(_))) && owns_port(child.id(), port) {
                return Proc { child, port };
            }
        }
        assert!(
            Instant::now() < deadline,
            "no PING answer; log:\n{}",
            server_log(dir)
        );
        thread::sleep(STARTUP_POLL);
    }
}

/// Whether a server's log says it could not bind its port.
pub fn failed_to_bind(log: &str) -> bool {
    log.contains("Could not create server TCP listening socket")
}

/// A field of `INFO all`.
pub fn info_field(c: &mut RawClient, field: &str) -> Option<String> {
    let text = match run(c, "INFO all") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO answered {}", other.render()),
    };
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}
