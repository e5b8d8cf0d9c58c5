//! Streams: the data structure behind XADD, XRANGE, consumer groups and their pending entries
//! lists, with Redis 7's rules for IDs, trimming, delivery and claiming. This module is the
//! model only (no keyspace, no commands, no effects yet): entries in ID order, groups with
//! their last-delivered ID, PEL and consumers. Times are unix milliseconds passed in by the
//! caller, so the rules are deterministic and replayable.

use std::collections::BTreeMap;
use std::fmt;

pub mod nodes;
pub mod ops;

pub use nodes::{Entries, NodeLimits, Trim};

/// A stream entry ID: milliseconds and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID after this one, if any.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The ID before this one, if any.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses `ms-seq` or `ms` (the sequence then defaults to `missing_seq`), as range bounds
    /// and explicit IDs are written. Split at the first `-`; each half is read as Redis's
    /// `string2ull` reads it.
    pub fn parse(s: &[u8], missing_seq: u64) -> Option<StreamId> {
        let (ms, seq) = match s.iter().position(|&b| b == b'-') {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        let ms = crate::number::parse_u64_lenient(ms)?;
        let seq = match seq {
            Some(t) => crate::number::parse_u64_lenient(t)?,
            None => missing_seq,
        };
        Some(StreamId::new(ms, seq))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The ID an XADD asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewId {
    /// `*`: the current time, or after the last ID.
    Auto,
    /// `ms-*`: that millisecond, the next free sequence number.
    AutoSeq(u64),
    /// `ms-seq`.
    Explicit(StreamId),
}

impl NewId {
    pub fn parse(s: &[u8]) -> Option<NewId> {
        if s == b"*" {
            return Some(NewId::Auto);
        }
        if let Some(ms) = s.strip_suffix(b"-*") {
            let id = StreamId::parse(ms, 0)?;
            if ms.contains(&b'-') {
                return None;
            }
            return Some(NewId::AutoSeq(id.ms));
        }
        StreamId::parse(s, 0).map(NewId::Explicit)
    }
}

/// Why an XADD ID was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// Equal to or smaller than the top item (or 0-0).
    TooSmall,
    /// The stream's last ID is the largest possible one.
    Exhausted,
}

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Vec<u8>,
    /// When it was last delivered, unix ms.
    pub delivered_at: u64,
    pub deliveries: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Last time the consumer was seen (read or claimed), unix ms.
    pub seen_at: u64,
    /// Last time it successfully read or claimed something, unix ms.
    pub active_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub last_delivered: StreamId,
    /// Entries read by the group (Redis 7's lag bookkeeping), when known.
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    /// How many pending entries a consumer owns.
    pub fn consumer_pending(&self, name: &[u8]) -> usize {
        self.pel.values().filter(|p| p.consumer == name).count()
    }
}

pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stream {
    pub entries: Entries,
    /// The largest ID ever added (it stays when entries are deleted or trimmed).
    pub last_id: StreamId,
    /// The largest ID deleted by XDEL, Redis 7's `max-deleted-entry-id`.
    pub max_deleted: StreamId,
    /// Entries ever added, Redis 7's `entries-added`.
    pub entries_added: u64,
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// What XAUTOCLAIM returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next call should start (0-0 when the scan reached the end).
    pub next: StreamId,
    /// The claimed entries (with their fields, unless JUSTID).
    pub claimed: Vec<(StreamId, Fields)>,
    /// Pending entries whose stream entry no longer exists (removed from the PEL).
    pub deleted: Vec<StreamId>,
}

impl Stream {
    /// Heap bytes, estimated in time proportional to the groups and consumers (not the
    /// entries or pending entries, whose costs are kept or counted).
    pub fn heap_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                96 + name.len()
                    + g.pel.len() * 80
                    + g.consumers.keys().map(|c| 64 + c.len()).sum::<usize>()
            })
            .sum();
        64 + self.entries.heap_bytes() + groups
    }

    /// Everything but the entries, in a fixed order: for tests that compare two engines.
    pub fn canonical_meta(&self) -> impl std::fmt::Debug + '_ {
        (
            self.last_id,
            self.max_deleted,
            self.entries_added,
            &self.groups,
        )
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first live entry's ID (Redis's `first_id`), 0-0 when empty.
    pub fn first_id(&self) -> StreamId {
        self.entries.first().map_or(StreamId::MIN, |(id, _)| id)
    }

    /// The ID an XADD would get, without adding.
    pub fn next_id(&self, want: NewId, now_ms: u64) -> Result<StreamId, AddError> {
        let last = self.last_id;
        match want {
            NewId::Auto => {
                if now_ms > last.ms {
                    Ok(StreamId::new(now_ms, 0))
                } else {
                    last.next().ok_or(AddError::Exhausted)
                }
            }
            NewId::AutoSeq(ms) => {
                if ms > last.ms {
                    Ok(StreamId::new(ms, 0))
                } else if ms == last.ms {
                    if last.seq == u64::MAX {
                        Err(AddError::TooSmall)
                    } else {
                        Ok(StreamId::new(ms, last.seq + 1))
                    }
                } else {
                    Err(AddError::TooSmall)
                }
            }
            NewId::Explicit(id) => {
                if id == StreamId::MIN || id <= last {
                    Err(AddError::TooSmall)
                } else {
                    Ok(id)
                }
            }
        }
    }

    /// XADD: appends an entry; returns its ID.
    pub fn add(
        &mut self,
        want: NewId,
        fields: Fields,
        now_ms: u64,
        lim: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let id = self.next_id(want, now_ms)?;
        self.insert(id, &fields, lim);
        Ok(id)
    }

    /// Appends at a known ID (replay, or after [`Stream::next_id`]). An ID not above the
    /// last one is ignored (a damaged log cannot break the order).
    pub fn insert(&mut self, id: StreamId, fields: &Fields, lim: NodeLimits) {
        if id <= self.last_id {
            return;
        }
        self.entries.push(id, fields, lim);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// XRANGE (or XREVRANGE when `rev`): entries with `start <= id <= end`, at most `count`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, Fields)> {
        self.entries.range(start, end, count, rev)
    }

    /// XDEL: removes the entries; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut n = 0;
        for id in ids {
            if self.entries.delete(*id) {
                n += 1;
                self.max_deleted = self.max_deleted.max(*id);
            }
        }
        n
    }

    /// XTRIM (and XADD's trimming); returns how many entries went.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: usize) -> usize {
        self.entries.trim(how, approx, limit)
    }

    /// Whether an entry at or after `start` was deleted by XDEL (Redis's
    /// `streamRangeHasTombstones` with an open end).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.is_empty() || self.max_deleted == StreamId::MIN {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// How many entries precede `id` plus one, as far as it can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`); None when it cannot.
    pub fn entries_read_at(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            if id < first {
                return Some(self.entries_added - self.len() as u64);
            }
            if id == first {
                return Some(self.entries_added - self.len() as u64 + 1);
            }
        }
        None
    }

    /// XINFO GROUPS' `lag` of a group (None: unknown).
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_from(g.last_delivered) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.entries_read_at(g.last_delivered)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// XSETID: the new last ID must not be below the top entry.
    pub fn set_last_id(&mut self, id: StreamId) -> bool {
        if let Some((top, _)) = self.entries.last() {
            if id < top {
                return false;
            }
        }
        self.last_id = id;
        true
    }

    /// XGROUP CREATE: false if the group exists.
    pub fn create_group(&mut self, name: &[u8], last: StreamId, entries_read: Option<u64>) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups.insert(
            name.to_vec(),
            Group {
                last_delivered: last,
                entries_read,
                ..Group::default()
            },
        );
        true
    }

    /// XGROUP CREATECONSUMER (and the implicit creation by XREADGROUP/XCLAIM): true if it is
    /// new.
    pub fn create_consumer(&mut self, group: &[u8], name: &[u8], now_ms: u64) -> Option<bool> {
        let g = self.groups.get_mut(group)?;
        if g.consumers.contains_key(name) {
            return Some(false);
        }
        g.consumers.insert(
            name.to_vec(),
            Consumer {
                seen_at: now_ms,
                active_at: None,
            },
        );
        Some(true)
    }

    /// XGROUP DELCONSUMER: removes the consumer and its pending entries; returns how many
    /// pending entries it had (None: no such group).
    pub fn delete_consumer(&mut self, group: &[u8], name: &[u8]) -> Option<usize> {
        let g = self.groups.get_mut(group)?;
        if g.consumers.remove(name).is_none() {
            return Some(0);
        }
        let before = g.pel.len();
        g.pel.retain(|_, p| p.consumer != name);
        Some(before - g.pel.len())
    }

    /// XREADGROUP with `>`: delivers up to `count` entries after the group's last-delivered
    /// ID to `consumer`, adding them to the PEL unless `noack`. The group's entries-read
    /// counter follows Redis's rules.
    pub fn read_group_new(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        count: usize,
        noack: bool,
        now_ms: u64,
    ) -> Option<Vec<(StreamId, Fields)>> {
        let after = self.groups.get(group)?.last_delivered.next();
        let out = match after {
            Some(after) => self.entries.range(after, StreamId::MAX, count, false),
            None => Vec::new(),
        };
        // Redis 7.0 creates or refreshes the consumer only for a stream it serves.
        if out.is_empty() {
            return Some(out);
        }
        self.create_consumer(group, consumer, now_ms)?;
        for (id, _) in &out {
            let tomb = self.has_tombstones_from(*id);
            let estimate = self.entries_read_at(*id);
            let added = self.entries_added;
            let g = self.groups.get_mut(group)?;
            if *id > g.last_delivered {
                match g.entries_read {
                    Some(n) if !tomb => g.entries_read = Some(n + 1),
                    _ if added > 0 => g.entries_read = estimate,
                    _ => {}
                }
                g.last_delivered = *id;
            }
            if !noack {
                g.pel.insert(
                    *id,
                    Pending {
                        consumer: consumer.to_vec(),
                        delivered_at: now_ms,
                        deliveries: 1,
                    },
                );
            }
        }
        let c = self.groups.get_mut(group)?.consumers.get_mut(consumer)?;
        c.seen_at = now_ms;
        c.active_at = Some(now_ms);
        Some(out)
    }

    /// XREADGROUP with an ID: the consumer's own pending entries after `after`, up to `count`;
    /// entries deleted from the stream come back with no fields (None). Each one counts as
    /// delivered again.
    pub fn read_group_history(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        after: StreamId,
        count: usize,
        now_ms: u64,
    ) -> Option<Vec<(StreamId, Option<Fields>)>> {
        self.create_consumer(group, consumer, now_ms)?;
        let g = self.groups.get_mut(group)?;
        let mut out = Vec::new();
        for (id, p) in g.pel.range_mut(after..) {
            if *id == after || p.consumer != consumer {
                continue;
            }
            if out.len() >= count {
                break;
            }
            let fields = self.entries.get(*id);
            // A deleted entry is reported without fields and its counters stay.
            if fields.is_some() {
                p.delivered_at = now_ms;
                p.deliveries += 1;
            }
            out.push((*id, fields));
        }
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.seen_at = now_ms;
        }
        Some(out)
    }

    /// XACK: removes the IDs from the group's PEL; returns those that were pending.
    pub fn ack(&mut self, group: &[u8], ids: &[StreamId]) -> Option<Vec<StreamId>> {
        let g = self.groups.get_mut(group)?;
        Some(
            ids.iter()
                .filter(|id| g.pel.remove(id).is_some())
                .copied()
                .collect(),
        )
    }
}

/// XCLAIM's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimOpts {
    /// The new delivery time (IDLE or TIME), default now.
    pub delivered_at: Option<u64>,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub justid: bool,
}

/// What an XCLAIM or XAUTOCLAIM changed in a group's PEL, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimEffects {
    pub set: Vec<StreamId>,
    pub dropped: Vec<StreamId>,
}

impl Stream {
    /// Makes `consumer` own the pending entry `id` as a claim does; the consumer is created
    /// on first use (Redis 7.0 creates it only when something is claimed).
    fn take_over(
        g: &mut Group,
        id: StreamId,
        consumer: &[u8],
        delivered_at: u64,
        deliveries: Option<u64>,
        bump: bool,
        now_ms: u64,
    ) {
        let c = g.consumers.entry(consumer.to_vec()).or_default();
        c.seen_at = now_ms;
        c.active_at = Some(now_ms);
        if let Some(p) = g.pel.get_mut(&id) {
            p.consumer = consumer.to_vec();
            p.delivered_at = delivered_at;
            if let Some(n) = deliveries {
                p.deliveries = n;
            } else if bump {
                p.deliveries += 1;
            }
        }
    }

    /// XCLAIM: moves the pending `ids` idle for at least `min_idle` ms to `consumer`.
    /// FORCE also claims IDs that exist in the stream but are not pending. IDs pending but
    /// deleted from the stream are dropped from the PEL. Returns the claimed IDs and what
    /// changed (None: no such group).
    pub fn claim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        min_idle: u64,
        ids: &[StreamId],
        o: ClaimOpts,
        now_ms: u64,
    ) -> Option<(Vec<StreamId>, ClaimEffects)> {
        let g = self.groups.get_mut(group)?;
        let mut claimed = Vec::new();
        let mut fx = ClaimEffects::default();
        for &id in ids {
            if !self.entries.contains(id) {
                if g.pel.remove(&id).is_some() {
                    fx.dropped.push(id);
                }
                continue;
            }
            let forced = o.force && !g.pel.contains_key(&id);
            if forced {
                g.pel.insert(
                    id,
                    Pending {
                        consumer: Vec::new(),
                        delivered_at: now_ms,
                        deliveries: 1,
                    },
                );
            }
            let Some(p) = g.pel.get(&id) else {
                continue;
            };
            if !forced && min_idle > 0 && (now_ms as i64 - p.delivered_at as i64) < min_idle as i64
            {
                continue;
            }
            let at = o.delivered_at.unwrap_or(now_ms);
            Self::take_over(g, id, consumer, at, o.retry_count, !o.justid, now_ms);
            claimed.push(id);
            fx.set.push(id);
        }
        Some((claimed, fx))
    }

    /// XAUTOCLAIM: scans the PEL from `start`, claiming up to `count` entries idle for at
    /// least `min_idle` ms, looking at no more than `count * 10` pending entries; pending
    /// entries deleted from the stream are dropped (and count towards `count`), as in Redis.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &mut self,
        group: &[u8],
        consumer: &[u8],
        min_idle: u64,
        start: StreamId,
        count: usize,
        justid: bool,
        now_ms: u64,
    ) -> Option<AutoClaim> {
        let g = self.groups.get_mut(group)?;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let ids: Vec<StreamId> = g.pel.range(start..).map(|(id, _)| *id).collect();
        let mut it = ids.into_iter().peekable();
        while attempts > 0 && left > 0 {
            let Some(id) = it.next() else {
                break;
            };
            attempts -= 1;
            let Some(fields) = self.entries.get(id) else {
                g.pel.remove(&id);
                deleted.push(id);
                left -= 1;
                continue;
            };
            let p = g.pel.get(&id).expect("listed above");
            if min_idle > 0 && (now_ms as i64 - p.delivered_at as i64) < min_idle as i64 {
                continue;
            }
            Self::take_over(g, id, consumer, now_ms, None, !justid, now_ms);
            claimed.push((id, if justid { Vec::new() } else { fields }));
            left -= 1;
        }
        let next = it.next().unwrap_or(StreamId::MIN);
        Some(AutoClaim {
            next,
            claimed,
            deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &str) -> Fields {
        vec![(k.as_bytes().to_vec(), v.as_bytes().to_vec())]
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn ids_parse_and_print_like_redis() {
        assert_eq!(StreamId::parse(b"5-3", 0), Some(id(5, 3)));
        assert_eq!(StreamId::parse(b"5", 0), Some(id(5, 0)));
        assert_eq!(StreamId::parse(b"5", u64::MAX), Some(id(5, u64::MAX)));
        assert_eq!(
            StreamId::parse(b"18446744073709551615-18446744073709551615", 0),
            Some(StreamId::MAX)
        );
        // Redis's string2ull also takes a `+` and leading zeros.
        assert_eq!(StreamId::parse(b"+1-02", 0), Some(id(1, 2)));
        for bad in [
            &b""[..],
            b"-",
            b"5-",
            b"-5",
            b"a-1",
            b"1-b",
            b"1-2-3",
            b"18446744073709551616",
        ] {
            assert_eq!(
                StreamId::parse(bad, 0),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(id(1526919030474, 55).to_string(), "1526919030474-55");
        assert_eq!(NewId::parse(b"*"), Some(NewId::Auto));
        assert_eq!(NewId::parse(b"7-*"), Some(NewId::AutoSeq(7)));
        assert_eq!(NewId::parse(b"7-1-*"), None);
        assert_eq!(NewId::parse(b"7-2"), Some(NewId::Explicit(id(7, 2))));
        assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(id(2, 0).prev(), Some(id(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
    }

    const L: NodeLimits = NodeLimits {
        entries: 3,
        bytes: 0,
    };

    #[test]
    fn add_follows_redis_id_rules() {
        let mut s = Stream::default();
        assert_eq!(s.add(NewId::Auto, f("a", "1"), 1000, L), Ok(id(1000, 0)));
        // The clock went back: the sequence goes on.
        assert_eq!(s.add(NewId::Auto, f("a", "2"), 900, L), Ok(id(1000, 1)));
        assert_eq!(
            s.add(NewId::AutoSeq(1000), f("a", "3"), 0, L),
            Ok(id(1000, 2))
        );
        assert_eq!(
            s.add(NewId::AutoSeq(999), f("a", "4"), 0, L),
            Err(AddError::TooSmall)
        );
        assert_eq!(
            s.add(NewId::Explicit(id(1000, 2)), f("a", "4"), 0, L),
            Err(AddError::TooSmall)
        );
        assert_eq!(
            s.add(NewId::Explicit(id(2000, 5)), f("a", "4"), 0, L),
            Ok(id(2000, 5))
        );
        assert_eq!(
            s.add(NewId::AutoSeq(3000), f("a", "5"), 0, L),
            Ok(id(3000, 0))
        );
        assert_eq!(
            Stream::default().add(NewId::Explicit(id(0, 0)), f("a", "1"), 0, L),
            Err(AddError::TooSmall)
        );
        let mut full = Stream::default();
        full.insert(StreamId::MAX, &f("a", "1"), L);
        assert_eq!(
            full.add(NewId::Auto, f("a", "2"), 5, L),
            Err(AddError::Exhausted)
        );
        assert_eq!(s.len(), 5);
        assert_eq!(s.entries_added, 5);
    }

    #[test]
    fn ranges_deletes_and_trims() {
        let mut s = Stream::default();
        for i in 1..=10 {
            s.insert(id(i, 0), &f("n", &i.to_string()), L);
        }
        let ids = |v: Vec<(StreamId, Fields)>| v.into_iter().map(|(i, _)| i.ms).collect::<Vec<_>>();
        assert_eq!(
            ids(s.range(id(3, 0), id(5, 0), usize::MAX, false)),
            vec![3, 4, 5]
        );
        assert_eq!(ids(s.range(id(3, 0), id(9, 0), 2, true)), vec![9, 8]);
        assert!(s.range(id(5, 0), id(3, 0), usize::MAX, false).is_empty());
        assert_eq!(s.delete(&[id(2, 0), id(2, 0), id(99, 0)]), 1);
        assert_eq!(s.max_deleted, id(2, 0));
        assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 4);
        assert_eq!(s.first_id(), id(6, 0));
        assert_eq!(s.trim(Trim::MinId(id(8, 0)), false, 0), 2);
        assert_eq!(s.first_id(), id(8, 0));
        assert_eq!(s.last_id, id(10, 0));
        assert!(!s.set_last_id(id(9, 0)));
        assert!(s.set_last_id(id(20, 0)));
        assert_eq!(s.add(NewId::Auto, f("n", "x"), 5, L), Ok(id(20, 1)));
    }

    #[test]
    fn entries_read_and_lag_follow_redis() {
        let mut s = Stream::default();
        assert_eq!(s.entries_read_at(id(5, 0)), Some(0));
        for i in 1..=5 {
            s.insert(id(i, 0), &f("n", "v"), L);
        }
        assert_eq!(s.entries_read_at(id(5, 0)), Some(5));
        assert_eq!(s.entries_read_at(id(6, 0)), None);
        assert_eq!(s.entries_read_at(id(1, 0)), Some(1));
        assert_eq!(s.entries_read_at(id(0, 5)), Some(0));
        assert_eq!(s.entries_read_at(id(3, 0)), None);
        s.create_group(b"g", StreamId::MIN, None);
        let g = s.groups[&b"g"[..]].clone();
        assert_eq!(
            s.lag(&g),
            Some(5),
            "a group at 0-0 lags by the whole stream"
        );
        s.read_group_new(b"g", b"c", 2, false, 1).unwrap();
        let g = s.groups[&b"g"[..]].clone();
        assert_eq!(g.entries_read, Some(2));
        assert_eq!(s.lag(&g), Some(3));
        s.delete(&[id(4, 0)]);
        assert!(s.has_tombstones_from(id(3, 0)));
        assert!(!s.has_tombstones_from(id(5, 0)));
        let g = s.groups[&b"g"[..]].clone();
        assert_eq!(s.lag(&g), None);
    }

    #[test]
    fn consumer_groups_deliver_ack_and_claim() {
        let mut s = Stream::default();
        for i in 1..=5 {
            s.insert(id(i, 0), &f("order", &i.to_string()), L);
        }
        assert!(s.create_group(b"g", StreamId::MIN, Some(0)));
        assert!(!s.create_group(b"g", StreamId::MIN, None));
        // New entries, in order, into the PEL.
        let got = s.read_group_new(b"g", b"a", 3, false, 100).unwrap();
        assert_eq!(
            got.iter().map(|(i, _)| i.ms).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let got = s
            .read_group_new(b"g", b"b", usize::MAX, false, 110)
            .unwrap();
        assert_eq!(got.len(), 2);
        assert!(s
            .read_group_new(b"g", b"b", usize::MAX, false, 120)
            .unwrap()
            .is_empty());
        let g = &s.groups[&b"g"[..]];
        assert_eq!(g.pel.len(), 5);
        assert_eq!(g.entries_read, Some(5));
        assert_eq!(g.consumer_pending(b"a"), 3);
        assert_eq!(
            s.ack(b"g", &[id(1, 0), id(1, 0), id(9, 0)]),
            Some(vec![id(1, 0)])
        );
        // History: a's own pending entries, redelivered.
        let h = s
            .read_group_history(b"g", b"a", StreamId::MIN, usize::MAX, 200)
            .unwrap();
        assert_eq!(h.iter().map(|(i, _)| i.ms).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(s.groups[&b"g"[..]].pel[&id(2, 0)].deliveries, 2);
        // Deleted entries come back without fields in history, and are dropped by claims.
        s.delete(&[id(3, 0)]);
        let h = s
            .read_group_history(b"g", b"a", id(2, 0), usize::MAX, 210)
            .unwrap();
        assert_eq!(h, vec![(id(3, 0), None)]);
        // XCLAIM: only entries idle long enough.
        let (c, fx) = s
            .claim(
                b"g",
                b"c",
                50,
                &[id(2, 0), id(4, 0), id(3, 0)],
                ClaimOpts::default(),
                230,
            )
            .unwrap();
        assert_eq!(c, vec![id(4, 0)]);
        assert_eq!(fx.dropped, vec![id(3, 0)]);
        assert!(!s.groups[&b"g"[..]].pel.contains_key(&id(3, 0)));
        assert_eq!(s.groups[&b"g"[..]].pel[&id(4, 0)].consumer, b"c".to_vec());
        // Nothing claimed: no consumer created.
        s.claim(
            b"g",
            b"nobody",
            1 << 40,
            &[id(2, 0)],
            ClaimOpts::default(),
            240,
        )
        .unwrap();
        assert!(!s.groups[&b"g"[..]].consumers.contains_key(&b"nobody"[..]));
        // XAUTOCLAIM from 0-0 with a small idle threshold takes what is left of a and b.
        let ac = s
            .autoclaim(b"g", b"d", 10, StreamId::MIN, 10, false, 300)
            .unwrap();
        assert_eq!(
            ac.claimed.iter().map(|(i, _)| i.ms).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert_eq!(ac.next, StreamId::MIN);
        assert!(ac.deleted.is_empty());
        // COUNT 1: the cursor points at the next pending entry.
        let ac = s
            .autoclaim(b"g", b"e", 0, StreamId::MIN, 1, true, 400)
            .unwrap();
        assert_eq!(ac.claimed.len(), 1);
        assert_eq!(ac.next, id(4, 0));
        assert_eq!(s.delete_consumer(b"g", b"e"), Some(1));
        assert_eq!(s.delete_consumer(b"nosuch", b"e"), None);
        assert!(s.read_group_new(b"nosuch", b"x", 1, false, 1).is_none());
    }
}
