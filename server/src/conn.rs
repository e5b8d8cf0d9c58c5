//! One task per connection: read into a buffer, parse every complete command, execute them as a
//! batch and answer them with one write.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use strata_engine::reply::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{Client, ClientInfo};
use crate::command;
use crate::resp::parse::Parser;
use crate::resp::{write_reply, Limits};
use crate::server::Server;

const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

pub async fn serve(srv: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    srv.stats.total_connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let keepalive = srv.config.get_u64("tcp-keepalive");
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    let password_set = !srv.config.get("requirepass").is_empty();
    if srv.config.get_bool("protected-mode") && !password_set && !peer.ip().is_loopback() {
        let _ = stream.write_all(DENIED.as_bytes()).await;
        return;
    }
    if srv.clients.count() >= srv.config.get_u64("maxclients") as usize {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let info = Arc::new(ClientInfo::new(
        srv.clients.next_id(),
        peer.to_string(),
        laddr,
    ));
    srv.clients.add(info.clone());
    let mut client = Client::new(info.clone(), !password_set);
    let _ = run(&srv, &mut stream, &mut client).await;
    command::transactions::unwatch_all(&srv, &mut client);
    command::pubsub::unsubscribe_all(&srv, &mut client);
    srv.clients.remove(client.id);
}

async fn run(srv: &Server, stream: &mut TcpStream, client: &mut Client) -> std::io::Result<()> {
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    let mut parser = Parser::default();
    // Created once: CLIENT KILL wakes it, and re-registering a waiter on every read would cost
    // a lock per request.
    let info = client.info.clone();
    let mut killed = std::pin::pin!(info.kill_signal.notified());
    // A blocking command that found nothing: its arguments, to run again when woken.
    let mut blocked_args: Option<Vec<bytes::Bytes>> = None;
    // Commands parsed but not run yet, in order (see `parse_ahead`).
    let mut parsed: VecDeque<Parsed> = VecDeque::new();
    // The last log sequence number this connection's writes reached, while replies wait. The
    // thread's own record (`take_last_seq`) is shared by its connections, and another one
    // may take it while this one awaits its cold reads.
    let mut unsynced = 0u64;
    loop {
        loop {
            if parsed.is_empty() {
                parse_ahead(srv, client, &mut parser, &mut rbuf, &mut parsed);
                // Inside MULTI the commands are only queued, until EXEC runs them all.
                if srv.engine.tier.is_some() && (client.multi.is_none() || runs_exec(&parsed)) {
                    unsynced = unsynced.max(crate::durability::take_last_seq());
                    prefetch_cold(srv, client, &parsed).await;
                    if client.info.killed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
            }
            let Some(next) = parsed.pop_front() else {
                break;
            };
            match next {
                Ok(args) => {
                    // Messages published before this command ran go out before its reply.
                    if let Some(s) = &client.subs {
                        s.mailbox.drain(&mut wbuf, client.proto);
                    }
                    let reply = command::execute(srv, client, &args);
                    if client.blocked.is_some() {
                        // Answered when the wait ends; later pipelined commands wait too.
                        blocked_args = Some(args);
                        break;
                    }
                    if reply.is_error() {
                        srv.stats.error_replies.fetch_add(1, Ordering::Relaxed);
                    }
                    write_reply(&mut wbuf, &reply, client.proto);
                    if client.close_after_reply {
                        break;
                    }
                }
                Err(e) => {
                    write_reply(
                        &mut wbuf,
                        &Reply::Error(strata_engine::error::CmdError::owned(e.0)),
                        client.proto,
                    );
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        // Under `appendfsync always` no reply leaves before the writes it acknowledges are on
        // disk; if the log failed, the connection closes unanswered rather than acknowledge.
        let seq = unsynced.max(crate::durability::take_last_seq());
        unsynced = 0;
        if seq > 0 {
            let mode = strata_engine::wal::Fsync::from_u8(
                srv.engine.config.appendfsync.load(Ordering::Relaxed),
            );
            // CLIENT KILL still reaches a connection waiting on the disk.
            let durable = tokio::select! {
                ok = srv.durability.wait_durable(seq, mode) => ok,
                _ = killed.as_mut() => false,
            };
            if !durable {
                return Ok(());
            }
        }
        // Pub/sub messages that arrived meanwhile go out with the replies.
        if let Some(s) = &client.subs {
            s.mailbox.drain(&mut wbuf, client.proto);
        }
        if !wbuf.is_empty() {
            srv.stats
                .net_output_bytes
                .fetch_add(wbuf.len() as u64, Ordering::Relaxed);
            // A client that stops reading blocks this write; CLIENT KILL and the output
            // buffer limits must still be able to close it.
            tokio::select! {
                r = stream.write_all(&wbuf) => r?,
                _ = &mut killed => return Ok(()),
            }
            wbuf.clear();
            if wbuf.capacity() > 1 << 20 {
                wbuf = BytesMut::with_capacity(16 * 1024);
            }
        }
        if client.close_after_reply {
            return Ok(());
        }
        if let Some(args) = blocked_args.take() {
            match wait_blocked(srv, stream, client, &args, &mut rbuf, killed.as_mut()).await? {
                Some(reply) => {
                    write_reply(&mut wbuf, &reply, client.proto);
                    // Back to the top: the commands pipelined behind it, then the write.
                    continue;
                }
                None => return Ok(()),
            }
        }
        if over_query_limit(srv, client, &rbuf) {
            return Ok(());
        }
        // A large argument grew the buffer: give the memory back once it is consumed, as
        // Redis shrinks an idle query buffer.
        if rbuf.is_empty() && rbuf.capacity() > 1 << 20 {
            rbuf = BytesMut::with_capacity(16 * 1024);
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        // As in Redis, `timeout` does not apply to pub/sub subscribers.
        let subscribed = client.subs.as_ref().is_some_and(|s| s.active());
        let timeout = if subscribed {
            0
        } else {
            srv.hot.timeout.load(Ordering::Relaxed)
        };
        let mailbox = client.subs.as_ref().map(|s| s.mailbox.clone());
        let message = async {
            match &mailbox {
                Some(m) => m.notify.notified().await,
                None => std::future::pending().await,
            }
        };
        let read = async {
            if timeout > 0 {
                match tokio::time::timeout(Duration::from_secs(timeout), stream.read_buf(&mut rbuf))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Ok(0),
                }
            } else {
                stream.read_buf(&mut rbuf).await
            }
        };
        // Reading is cancel-safe: bytes are only taken when the read completes.
        let n = tokio::select! {
            r = read => r?,
            _ = &mut killed => 0,
            _ = message => {
                if client.info.killed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                continue;
            }
        };
        if n == 0 || client.info.killed.load(Ordering::Relaxed) {
            return Ok(());
        }
        srv.stats
            .net_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Waits for a blocked command: until a write to one of its keys lets it run again with
/// success, its timeout, CLIENT UNBLOCK, a kill, or the connection closing (None: close).
/// Bytes that arrive meanwhile (pipelined commands) are kept for after.
async fn wait_blocked(
    srv: &Server,
    stream: &mut TcpStream,
    client: &mut Client,
    args: &[bytes::Bytes],
    rbuf: &mut BytesMut,
    mut killed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> std::io::Result<Option<Reply>> {
    let Some(mut b) = client.blocked.take() else {
        return Ok(None);
    };
    let rerun = b.rerun.take();
    let args = rerun.as_deref().unwrap_or(args);
    let waker = srv.blocking.register(client.id, b.db, &b.keys);
    // A write may have landed between the command finding nothing and this registration
    // (its earlier replies were being written): look once more before sleeping.
    waker.notify_one();
    let info = client.info.clone();
    info.unblock.store(0, Ordering::Relaxed);
    info.blocked.store(true, Ordering::Relaxed);
    let deadline = (b.timeout_ms > 0)
        .then(|| tokio::time::Instant::now() + Duration::from_millis(b.timeout_ms));
    let outcome = loop {
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = waker.notified() => {
                client.rerunning = true;
                let reply = command::execute(srv, client, args);
                client.rerunning = false;
                match client.blocked.take() {
                    // Someone else took it: wait on, still first in line.
                    Some(_) => continue,
                    None => break Some(reply),
                }
            }
            _ = timeout => break Some(b.on_timeout.clone()),
            _ = info.unblock_signal.notified() => {
                match info.unblock.swap(0, Ordering::Relaxed) {
                    2 => break Some(Reply::Error(strata_engine::error::UNBLOCKED)),
                    1 => break Some(b.on_timeout.clone()),
                    // A permit left by an unblock that came as an earlier wait ended.
                    _ => continue,
                }
            }
            _ = killed.as_mut() => break None,
            r = stream.read_buf(rbuf) => {
                if r? == 0 {
                    break None;
                }
                if over_query_limit(srv, client, rbuf) {
                    break None;
                }
            }
        }
    };
    info.blocked.store(false, Ordering::Relaxed);
    srv.blocking.unregister(client.id, b.db, &b.keys);
    // The data may be enough for the next client in line too.
    for k in &b.keys {
        srv.blocking.signal(b.db, k);
    }
    Ok(outcome)
}

/// Whether the unparsed input passed `client-query-buffer-limit` (the connection then closes).
fn over_query_limit(srv: &Server, client: &Client, rbuf: &BytesMut) -> bool {
    let over = rbuf.len() as u64 > srv.hot.query_buffer_limit.load(Ordering::Relaxed);
    if over {
        tracing::warn!(
            client = client.id,
            "closing client that reached max query buffer length"
        );
    }
    over
}

/// A command as parsed, or the protocol error that ends the connection.
type Parsed = Result<Vec<bytes::Bytes>, crate::resp::parse::ProtocolError>;

/// How many pipelined commands are parsed ahead of running them while keys are in the cold
/// tier: their cold reads then take one trip to the cold tier's reader threads together.
const PARSE_AHEAD: usize = 64;

/// Parses the complete commands at the front of `rbuf` into `parsed`: one, or up to
/// [`PARSE_AHEAD`] while the cold tier holds keys. A protocol error is queued after the
/// commands before it, which still run. Parsing stops after a command that may change how
/// the next is parsed, so the next is parsed after it runs, as Redis does: `AUTH`, `HELLO`
/// and `RESET` change the limits for unauthenticated clients, `CONFIG` changes
/// `proto-max-bulk-len`, and `EXEC` may run either. (Scripts may call neither.)
fn parse_ahead(
    srv: &Server,
    client: &Client,
    parser: &mut Parser,
    rbuf: &mut BytesMut,
    parsed: &mut VecDeque<Parsed>,
) {
    let ahead = match &srv.engine.tier {
        Some(t) if t.active() && client.authenticated => PARSE_AHEAD,
        _ => 1,
    };
    let limits = Limits {
        max_bulk_len: srv.engine.config.proto_max_bulk_len.load(Ordering::Relaxed),
        authenticated: client.authenticated,
    };
    while parsed.len() < ahead {
        match parser.parse(rbuf, &limits) {
            Ok(Some(args)) if args.is_empty() => {}
            Ok(Some(args)) => {
                let changes_parsing = [&b"auth"[..], b"hello", b"reset", b"config", b"exec"]
                    .iter()
                    .any(|n| args[0].eq_ignore_ascii_case(n));
                parsed.push_back(Ok(args));
                if changes_parsing {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                parsed.push_back(Err(e));
                return;
            }
        }
    }
}

/// Whether the parsed commands include an EXEC (parsing stops after one).
fn runs_exec(parsed: &VecDeque<Parsed>) -> bool {
    parsed.iter().filter_map(|p| p.as_ref().ok()).any(|args| {
        args.first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"exec"))
    })
}

/// With a cold tier: reads the cold keys of the parsed commands that would wait for the disk,
/// all in one job on the cold tier's reader threads, and keeps the values for the commands, which
/// fault their keys in on this I/O thread; this thread's other connections do not wait for
/// the disk meanwhile.
async fn prefetch_cold(srv: &Server, client: &Client, parsed: &VecDeque<Parsed>) {
    use strata_engine::tier::{stash_clear, Ahead, Fetched};
    // Read without I/O, and to read on a reader thread. Kept here, not in the thread's stash,
    // until the commands run: other connections of this thread probe while this one waits.
    let (mut done, mut reads) = (Vec::new(), Vec::new());
    // A transaction's queued commands run at its EXEC, which is among these.
    let queued = match &client.multi {
        Some(m) if !m.aborted => &m.queued[..],
        _ => &[],
    };
    // As many keys as the stash keeps: reads beyond that would be done again anyway.
    let keys = queued
        .iter()
        .chain(parsed.iter().filter_map(|p| p.as_ref().ok()))
        .flat_map(|args| {
            let spec = args.first().and_then(|a| command::table::lookup(a));
            spec.into_iter()
                .flat_map(|cmd| cmd.keys_in(args))
                .filter_map(|i| args.get(i))
        })
        .take(strata_engine::tier::STASH_MAX);
    for key in keys {
        // A batch that changes database (SELECT) reads the rest in the wrong one: only a
        // missed head start.
        match srv.engine.cold_prefetch(client.db, key) {
            Some(Ahead::Read(f)) => done.push(f),
            Some(Ahead::Disk(p)) => reads.push(p),
            None => {}
        }
    }
    if let (false, Some(tier)) = (reads.is_empty(), &srv.engine.tier) {
        let read = move || strata_engine::tier::Prefetch::run_all(reads);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if tier.readers.run(move || {
            let _ = tx.send(read());
        }) {
            if let Ok(fetched) = rx.await {
                done.extend(fetched);
            }
        }
    }
    // The commands use these reads instead of reading again.
    stash_clear();
    done.into_iter().for_each(Fetched::keep);
}
