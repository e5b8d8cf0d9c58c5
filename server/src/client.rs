//! Per-connection state, and the registry CLIENT LIST/KILL and INFO clients read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::resp::Proto;

/// What other connections may read or change about a client (CLIENT LIST, CLIENT KILL).
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<Option<String>>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Queued commands while in MULTI, -1 otherwise.
    pub multi: AtomicI64,
    /// The last command, and its subcommand when it had one (CLIENT LIST shows `client|list`).
    pub last_cmd: Mutex<(&'static str, Option<&'static str>)>,
    /// Milliseconds since `created` of the last command.
    pub last_interaction: AtomicU64,
    pub watching: AtomicUsize,
    pub no_evict: AtomicBool,
    pub no_touch: AtomicBool,
    pub killed: AtomicBool,
    pub kill_signal: Notify,
    /// Channel, pattern and shard-channel subscriptions (CLIENT LIST sub/psub/ssub).
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub ssub: AtomicUsize,
    /// Waiting in a blocking command (CLIENT UNBLOCK may end the wait).
    pub blocked: AtomicBool,
    /// CLIENT UNBLOCK: 1 = as if timed out, 2 = with an error.
    pub unblock: std::sync::atomic::AtomicU8,
    pub unblock_signal: Notify,
}

impl ClientInfo {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            multi: AtomicI64::new(-1),
            last_cmd: Mutex::new(("NULL", None)),
            last_interaction: AtomicU64::new(0),
            watching: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            ssub: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            unblock: std::sync::atomic::AtomicU8::new(0),
            unblock_signal: Notify::new(),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_signal.notify_one();
    }

    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction.load(Ordering::Relaxed)) / 1000
    }

    /// One CLIENT LIST line, with Redis 7.2's fields.
    pub fn list_line(&self) -> String {
        let mut flags = String::new();
        if self.multi.load(Ordering::Relaxed) >= 0 {
            flags.push('x');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            flags.push('e');
        }
        if self.no_touch.load(Ordering::Relaxed) {
            flags.push('T');
        }
        let (sub, psub, ssub) = (
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
            self.ssub.load(Ordering::Relaxed),
        );
        if sub + psub + ssub > 0 {
            flags.push('P');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={sub} psub={psub} ssub={ssub} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name.lock().as_deref().unwrap_or(""),
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            flags,
            self.db.load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            match *self.last_cmd.lock() {
                (cmd, Some(sub)) => format!("{cmd}|{}", sub.to_ascii_lowercase()),
                (cmd, None) => cmd.to_string(),
            },
            self.resp.load(Ordering::Relaxed),
            self.lib_name.lock(),
            self.lib_ver.lock(),
        )
    }
}

#[derive(Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, info: Arc<ClientInfo>) {
        self.clients.lock().insert(info.id, info);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }
}

/// A MULTI in progress.
#[derive(Default)]
pub struct Multi {
    pub queued: Vec<Vec<Bytes>>,
    /// With a cold tier's value limit: how much the queued commands may add to each key, so
    /// a transaction cannot grow a value past the limit a command at a time.
    pub grown: std::collections::HashMap<Bytes, usize>,
    /// A queued command was refused (unknown, wrong arity, OOM): EXEC will reply EXECABORT.
    pub aborted: bool,
}

/// State the connection task owns.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    pub authenticated: bool,
    pub multi: Option<Multi>,
    pub watched: Vec<(usize, Bytes)>,
    pub watch_dirty: Arc<AtomicBool>,
    pub no_touch: bool,
    pub close_after_reply: bool,
    pub info: Arc<ClientInfo>,
    /// Pub/sub subscriptions and the mailbox messages arrive in, once the client subscribes.
    pub subs: Option<Box<crate::pubsub::Subscriptions>>,
    /// Set by a blocking command that found nothing: the connection waits, then runs the
    /// command again.
    pub blocked: Option<crate::blocking::Blocked>,
    /// A script is running this client's commands (XREAD BLOCK refuses to run there).
    pub in_script: bool,
    /// A blocked command is running again after a wake-up (XREADGROUP then reports a
    /// vanished stream or group as Redis reports it to a blocked reader).
    pub rerunning: bool,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            id: info.id,
            db: 0,
            proto: Proto::Resp2,
            authenticated,
            multi: None,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            no_touch: false,
            close_after_reply: false,
            info,
            subs: None,
            blocked: None,
            in_script: false,
            rerunning: false,
        }
    }
}
