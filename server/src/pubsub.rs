//! Pub/sub: channels, patterns and shard channels. Each subscribed connection owns a mailbox;
//! PUBLISH puts the message in the mailbox of every receiver and wakes its connection, which
//! writes it out. PUBLISH never waits for a subscriber: a subscriber whose mailbox outgrows
//! `client-output-buffer-limit pubsub` (hard limit, or soft limit for longer than its
//! seconds) is disconnected and its queue dropped, as Redis does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use strata_engine::keyspace::pattern::glob_match;
use strata_engine::reply::Reply;
use tokio::sync::Notify;

use crate::client::ClientInfo;
use crate::resp::{write_reply, Proto};

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The reply's first word for a subscription and an unsubscription of this kind.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// A message on its way to one subscriber.
enum Message {
    Channel(Bytes, Bytes),
    Pattern(Bytes, Bytes, Bytes),
    Shard(Bytes, Bytes),
}

impl Message {
    /// What it costs in the output buffer (about its encoded size).
    fn size(&self) -> usize {
        32 + match self {
            Message::Channel(c, p) | Message::Shard(c, p) => c.len() + p.len(),
            Message::Pattern(pat, c, p) => pat.len() + c.len() + p.len(),
        }
    }

    fn reply(self) -> Reply {
        let b = Reply::Bulk;
        Reply::Push(match self {
            Message::Channel(c, p) => vec![Reply::bulk_str("message"), b(c), b(p)],
            Message::Pattern(pat, c, p) => vec![Reply::bulk_str("pmessage"), b(pat), b(c), b(p)],
            Message::Shard(c, p) => vec![Reply::bulk_str("smessage"), b(c), b(p)],
        })
    }
}

/// `client-output-buffer-limit` for the pubsub class: bytes, bytes, seconds (0 = none).
#[derive(Default)]
pub struct Limits {
    pub hard: AtomicU64,
    pub soft: AtomicU64,
    pub soft_secs: AtomicU64,
}

/// A subscriber's queue of messages not yet written to its socket.
pub struct Mailbox {
    queue: Mutex<VecDeque<Message>>,
    bytes: AtomicUsize,
    /// Woken when a message arrives (the permit is kept if the connection is busy).
    pub notify: Notify,
    info: Arc<ClientInfo>,
    /// Since when the queue has been over the soft limit.
    over_soft: Mutex<Option<Instant>>,
}

impl Mailbox {
    pub fn new(info: Arc<ClientInfo>) -> Arc<Mailbox> {
        Arc::new(Mailbox {
            queue: Mutex::new(VecDeque::new()),
            bytes: AtomicUsize::new(0),
            notify: Notify::new(),
            info,
            over_soft: Mutex::new(None),
        })
    }

    fn deliver(&self, m: Message, limits: &Limits) {
        if self.info.killed.load(Ordering::Relaxed) {
            return;
        }
        let size = m.size();
        let total = (self.bytes.fetch_add(size, Ordering::AcqRel) + size) as u64;
        self.queue.lock().push_back(m);
        let hard = limits.hard.load(Ordering::Relaxed);
        let soft = limits.soft.load(Ordering::Relaxed);
        let over = if hard > 0 && total > hard {
            true
        } else if soft > 0 && total > soft {
            let mut since = self.over_soft.lock();
            let start = *since.get_or_insert_with(Instant::now);
            start.elapsed().as_secs() >= limits.soft_secs.load(Ordering::Relaxed)
        } else {
            false
        };
        if over {
            tracing::warn!(
                client = self.info.id,
                addr = %self.info.addr,
                "Client scheduled to be closed ASAP for overcoming of output buffer limits."
            );
            self.queue.lock().clear();
            self.bytes.store(0, Ordering::Release);
            self.info.kill();
            return;
        }
        self.notify.notify_one();
    }

    /// Writes every queued message into `out`.
    pub fn drain(&self, out: &mut BytesMut, proto: Proto) {
        let taken = std::mem::take(&mut *self.queue.lock());
        if taken.is_empty() {
            return;
        }
        let mut freed = 0;
        for m in taken {
            freed += m.size();
            write_reply(out, &m.reply(), proto);
        }
        self.bytes.fetch_sub(freed, Ordering::AcqRel);
        *self.over_soft.lock() = None;
    }
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// Every subscription on the server.
#[derive(Default)]
pub struct Hub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard: RwLock<HashMap<Bytes, Subscribers>>,
    pub limits: Limits,
}

impl Hub {
    fn table(&self, kind: Kind) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    pub fn subscribe(&self, kind: Kind, name: &Bytes, mailbox: &Arc<Mailbox>) {
        self.table(kind)
            .write()
            .entry(name.clone())
            .or_default()
            .insert(mailbox.info.id, mailbox.clone());
    }

    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client: u64) {
        let mut t = self.table(kind).write();
        if let Some(subs) = t.get_mut(name) {
            subs.remove(&client);
            if subs.is_empty() {
                t.remove(name);
            }
        }
    }

    /// PUBLISH: to the channel's subscribers, then to every matching pattern's; returns the
    /// number of deliveries (a client subscribed both ways counts twice, as in Redis).
    pub fn publish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(channel) {
            for mb in subs.values() {
                mb.deliver(
                    Message::Channel(channel.clone(), payload.clone()),
                    &self.limits,
                );
                n += 1;
            }
        }
        for (pattern, subs) in self.patterns.read().iter() {
            if glob_match(pattern, channel, false) {
                for mb in subs.values() {
                    mb.deliver(
                        Message::Pattern(pattern.clone(), channel.clone(), payload.clone()),
                        &self.limits,
                    );
                    n += 1;
                }
            }
        }
        n
    }

    /// SPUBLISH: to the shard channel's subscribers.
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes) -> usize {
        let t = self.shard.read();
        let Some(subs) = t.get(channel) else {
            return 0;
        };
        for mb in subs.values() {
            mb.deliver(
                Message::Shard(channel.clone(), payload.clone()),
                &self.limits,
            );
        }
        subs.len()
    }

    /// Active channels (with at least one subscriber) matching `pattern`, if given.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.table(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.table(kind).read().get(name).map_or(0, |s| s.len())
    }

    /// Distinct names with subscribers (PUBSUB NUMPAT, INFO pubsub_channels).
    pub fn len(&self, kind: Kind) -> usize {
        self.table(kind).read().len()
    }
}

/// A connection's own subscriptions.
pub struct Subscriptions {
    pub mailbox: Arc<Mailbox>,
    channels: Vec<Bytes>,
    patterns: Vec<Bytes>,
    shard: Vec<Bytes>,
}

impl Subscriptions {
    pub fn new(info: Arc<ClientInfo>) -> Subscriptions {
        Subscriptions {
            mailbox: Mailbox::new(info),
            channels: Vec::new(),
            patterns: Vec::new(),
            shard: Vec::new(),
        }
    }

    fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscribe reply carries: channels and patterns together, or shard
    /// channels alone.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Whether any subscription is left (a RESP2 connection is in subscribed mode).
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// Records a subscription; false if it already existed.
    pub fn add(&mut self, kind: Kind, name: &Bytes) -> bool {
        let l = self.list(kind);
        if l.contains(name) {
            return false;
        }
        l.push(name.clone());
        true
    }

    /// Forgets a subscription; false if there was none.
    pub fn remove(&mut self, kind: Kind, name: &[u8]) -> bool {
        let l = self.list(kind);
        match l.iter().position(|n| n == name) {
            Some(i) => {
                l.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.clone(),
            Kind::Pattern => self.patterns.clone(),
            Kind::Shard => self.shard.clone(),
        }
    }

    pub fn len(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel => self.channels.len(),
            Kind::Pattern => self.patterns.len(),
            Kind::Shard => self.shard.len(),
        }
    }
}

/// Keyspace notifications: the engine's events published as Redis publishes them, on
/// `__keyspace@<db>__:<key>` (the event as message) and `__keyevent@<db>__:<event>` (the
/// key as message).
pub struct KeyspaceEvents(pub std::sync::Arc<Hub>);

impl strata_engine::notify::Notifier for KeyspaceEvents {
    fn notify(&self, db: usize, event: &str, key: &[u8], flags: u32) {
        use strata_engine::notify::class;
        if flags & class::KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            self.0
                .publish(&Bytes::from(ch), &Bytes::copy_from_slice(event.as_bytes()));
        }
        if flags & class::KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}");
            self.0
                .publish(&Bytes::from(ch), &Bytes::copy_from_slice(key));
        }
    }
}
