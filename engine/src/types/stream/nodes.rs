//! A stream's entries, packed into nodes. Redis keeps a stream in listpacks of about a hundred
//! entries under a radix tree keyed by each listpack's first ID; this is the same idea over a
//! `BTreeMap`. A node is one byte buffer: the field names of its first entry (the *master*
//! fields), then its entries in ID order. An entry whose field names are the master's stores
//! only its values, and IDs are stored as deltas from the node's first ID, so a typical entry
//! costs a few bytes plus its values.
//!
//! Entry layout: `flags` (bit 0 deleted, bit 1 same fields as the master), varint ms delta,
//! varint seq (a delta when the ms delta is 0), then either the values (varint length and
//! bytes each) or a varint field count and field/value pairs. Deleting an entry sets its flag
//! in place, as Redis does; a node whose entries are all deleted is dropped. These bytes live
//! only in memory: snapshots and the log store entries as effects.

use std::collections::BTreeMap;

use super::{Fields, StreamId};
use crate::effect::{put_bytes, put_varint};

const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

/// How full a node may get before the next entry starts a new one
/// (`stream-node-max-entries` and `stream-node-max-bytes`; 0 = no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    pub entries: usize,
    pub bytes: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            entries: 100,
            bytes: 4096,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    buf: Vec<u8>,
    /// Where the entries start (after the master fields).
    body: u32,
    live: u32,
    deleted: u32,
}

/// One decoded entry header.
#[derive(Debug, Clone, Copy)]
struct Raw {
    id: StreamId,
    deleted: bool,
    /// Offset of the flags byte.
    at: usize,
    /// Offset of the values (or of the pair count).
    fields_at: usize,
    same: bool,
}

/// Reads node bytes this module wrote itself.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.buf[self.pos];
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = self.varint() as usize;
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        b
    }
}

impl Node {
    fn new(fields: &Fields) -> Node {
        let mut buf = Vec::new();
        put_varint(&mut buf, fields.len() as u64);
        for (f, _) in fields {
            put_bytes(&mut buf, f);
        }
        let body = buf.len() as u32;
        Node {
            buf,
            body,
            live: 0,
            deleted: 0,
        }
    }

    fn master_fields(&self) -> Vec<&[u8]> {
        let mut c = Cursor {
            buf: &self.buf,
            pos: 0,
        };
        let n = c.varint() as usize;
        (0..n).map(|_| c.bytes()).collect()
    }

    fn push(&mut self, first: StreamId, id: StreamId, fields: &Fields) {
        let same = {
            let m = self.master_fields();
            m.len() == fields.len() && m.iter().zip(fields).all(|(a, (b, _))| *a == &b[..])
        };
        let buf = &mut self.buf;
        buf.push(if same { SAME_FIELDS } else { 0 });
        let dms = id.ms - first.ms;
        put_varint(buf, dms);
        put_varint(buf, if dms == 0 { id.seq - first.seq } else { id.seq });
        if same {
            for (_, v) in fields {
                put_bytes(buf, v);
            }
        } else {
            put_varint(buf, fields.len() as u64);
            for (f, v) in fields {
                put_bytes(buf, f);
                put_bytes(buf, v);
            }
        }
        self.live += 1;
    }

    /// Every entry's header, deleted ones included, in ID order.
    fn raws(&self, first: StreamId) -> Vec<Raw> {
        let nmaster = Cursor {
            buf: &self.buf,
            pos: 0,
        }
        .varint() as usize;
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut c = Cursor {
            buf: &self.buf,
            pos: self.body as usize,
        };
        while c.pos < self.buf.len() {
            let at = c.pos;
            let flags = self.buf[at];
            c.pos += 1;
            let dms = c.varint();
            let s = c.varint();
            let id = if dms == 0 {
                StreamId::new(first.ms, first.seq + s)
            } else {
                StreamId::new(first.ms + dms, s)
            };
            let fields_at = c.pos;
            let same = flags & SAME_FIELDS != 0;
            let values = if same {
                nmaster
            } else {
                2 * c.varint() as usize
            };
            for _ in 0..values {
                c.bytes();
            }
            out.push(Raw {
                id,
                deleted: flags & DELETED != 0,
                at,
                fields_at,
                same,
            });
        }
        out
    }

    fn fields(&self, r: &Raw) -> Fields {
        let mut c = Cursor {
            buf: &self.buf,
            pos: r.fields_at,
        };
        if r.same {
            self.master_fields()
                .into_iter()
                .map(|f| (f.to_vec(), c.bytes().to_vec()))
                .collect()
        } else {
            let n = c.varint() as usize;
            (0..n)
                .map(|_| (c.bytes().to_vec(), c.bytes().to_vec()))
                .collect()
        }
    }

    fn mark_deleted(&mut self, r: &Raw) {
        self.buf[r.at] |= DELETED;
        self.live -= 1;
        self.deleted += 1;
    }

    fn is_full(&self, lim: NodeLimits) -> bool {
        (lim.bytes > 0 && self.buf.len() >= lim.bytes)
            || (lim.entries > 0 && (self.live + self.deleted) as usize >= lim.entries)
    }

    fn last_id(&self, first: StreamId) -> StreamId {
        self.raws(first).last().map_or(first, |r| r.id)
    }

    fn heap_bytes(&self) -> usize {
        // The map's share of a node (key, value, tree overhead) plus the buffer.
        64 + self.buf.capacity()
    }
}

/// How XTRIM and XADD trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries below this ID.
    MinId(StreamId),
}

/// A stream's entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries {
    nodes: BTreeMap<StreamId, Node>,
    len: usize,
    /// Heap bytes of every node but the last (which is still growing).
    sealed_bytes: usize,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Nodes (Redis's radix tree keys).
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.sealed_bytes + self.nodes.values().next_back().map_or(0, Node::heap_bytes)
    }

    /// Appends an entry; `id` must be above every ID in the stream.
    pub fn push(&mut self, id: StreamId, fields: &Fields, lim: NodeLimits) {
        let start_new = self
            .nodes
            .values()
            .next_back()
            .is_none_or(|n| n.is_full(lim));
        if start_new {
            if let Some(last) = self.nodes.values_mut().next_back() {
                last.buf.shrink_to_fit();
                self.sealed_bytes += last.heap_bytes();
            }
            self.nodes.insert(id, Node::new(fields));
        }
        let (first, node) = self.nodes.iter_mut().next_back().expect("a node");
        node.push(*first, id, fields);
        self.len += 1;
    }

    /// The node that would hold `id`.
    fn node_for(&self, id: StreamId) -> Option<(StreamId, &Node)> {
        self.nodes.range(..=id).next_back().map(|(k, n)| (*k, n))
    }

    pub fn get(&self, id: StreamId) -> Option<Fields> {
        let (first, node) = self.node_for(id)?;
        let r = node
            .raws(first)
            .into_iter()
            .find(|r| r.id == id && !r.deleted)?;
        Some(node.fields(&r))
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.node_for(id)
            .is_some_and(|(first, node)| node.raws(first).iter().any(|r| r.id == id && !r.deleted))
    }

    /// Deletes one entry; false if there was none.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(first) = self.node_for(id).map(|(f, _)| f) else {
            return false;
        };
        let is_last = self.nodes.keys().next_back() == Some(&first);
        let node = self.nodes.get_mut(&first).expect("found above");
        let Some(r) = node
            .raws(first)
            .into_iter()
            .find(|r| r.id == id && !r.deleted)
        else {
            return false;
        };
        node.mark_deleted(&r);
        self.len -= 1;
        if node.live == 0 {
            let bytes = node.heap_bytes();
            self.nodes.remove(&first);
            if is_last {
                // The node before becomes the growing one.
                if let Some(n) = self.nodes.values().next_back() {
                    self.sealed_bytes -= n.heap_bytes();
                }
            } else {
                self.sealed_bytes -= bytes;
            }
        }
        true
    }

    /// Entries with `start <= id <= end`, at most `count`, newest first when `rev`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, Fields)> {
        let mut out = Vec::new();
        if start > end || count == 0 {
            return out;
        }
        let from = self.node_for(start).map_or(start, |(f, _)| f);
        if rev {
            for (first, node) in self.nodes.range(from..=end).rev() {
                for r in node.raws(*first).iter().rev() {
                    if r.deleted || r.id > end {
                        continue;
                    }
                    if r.id < start {
                        return out;
                    }
                    out.push((r.id, node.fields(r)));
                    if out.len() >= count {
                        return out;
                    }
                }
            }
        } else {
            for (first, node) in self.nodes.range(from..=end) {
                for r in node.raws(*first) {
                    if r.deleted || r.id < start {
                        continue;
                    }
                    if r.id > end {
                        return out;
                    }
                    out.push((r.id, node.fields(&r)));
                    if out.len() >= count {
                        return out;
                    }
                }
            }
        }
        out
    }

    pub fn first(&self) -> Option<(StreamId, Fields)> {
        self.range(StreamId::MIN, StreamId::MAX, 1, false).pop()
    }

    pub fn last(&self) -> Option<(StreamId, Fields)> {
        self.range(StreamId::MIN, StreamId::MAX, 1, true).pop()
    }

    /// Every live entry, in order.
    pub fn all(&self) -> Vec<(StreamId, Fields)> {
        self.range(StreamId::MIN, StreamId::MAX, usize::MAX, false)
    }

    /// Trims from the front as Redis's `streamTrim` does: whole nodes while they fit; then,
    /// unless `approx`, entries inside the next node. `limit` (0 = none) bounds the entries
    /// removed. Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: usize) -> usize {
        let mut removed = 0usize;
        while let Some((&first, node)) = self.nodes.iter().next() {
            if let Trim::MaxLen(max) = how {
                if self.len as u64 <= max {
                    break;
                }
            }
            let live = node.live as usize;
            if limit > 0 && removed + live > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => (self.len - live) as u64 >= max,
                Trim::MinId(min) => node.last_id(first) < min,
            };
            if whole {
                let last = self.nodes.len() == 1;
                let n = self.nodes.remove(&first).expect("first node");
                if !last {
                    self.sealed_bytes -= n.heap_bytes();
                }
                self.len -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            let node = self.nodes.get_mut(&first).expect("first node");
            for r in node.raws(first) {
                if r.deleted {
                    continue;
                }
                let done = match how {
                    Trim::MaxLen(max) => self.len as u64 <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if done {
                    break;
                }
                node.mark_deleted(&r);
                self.len -= 1;
                removed += 1;
            }
            break;
        }
        removed
    }

    /// Removes the first `n` live entries (the replay of a logged trim).
    pub fn remove_first(&mut self, n: usize) {
        let keep = self.len.saturating_sub(n);
        self.trim(Trim::MaxLen(keep as u64), false, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
            .collect()
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    const SMALL: NodeLimits = NodeLimits {
        entries: 3,
        bytes: 0,
    };

    fn ids(v: &[(StreamId, Fields)]) -> Vec<u64> {
        v.iter().map(|(i, _)| i.ms).collect()
    }

    #[test]
    fn entries_round_trip_through_nodes() {
        let mut e = Entries::default();
        e.push(id(5, 0), &f(&[("a", "1"), ("b", "2")]), SMALL);
        e.push(id(5, 7), &f(&[("a", "3"), ("b", "4")]), SMALL);
        e.push(id(9, 1), &f(&[("x", "")]), SMALL);
        e.push(id(1 << 40, u64::MAX), &f(&[]), SMALL);
        assert_eq!(e.len(), 4);
        assert_eq!(e.nodes(), 2);
        assert_eq!(e.get(id(5, 7)), Some(f(&[("a", "3"), ("b", "4")])));
        assert_eq!(e.get(id(9, 1)), Some(f(&[("x", "")])));
        assert_eq!(e.get(id(1 << 40, u64::MAX)), Some(f(&[])));
        assert_eq!(e.get(id(5, 1)), None);
        let all = e.all();
        assert_eq!(
            all.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![id(5, 0), id(5, 7), id(9, 1), id(1 << 40, u64::MAX)]
        );
        assert_eq!(ids(&e.range(id(5, 1), id(9, 1), 10, true)), vec![9, 5]);
        assert_eq!(
            ids(&e.range(id(5, 1), id(1 << 41, 0), 2, false)),
            vec![5, 9]
        );
    }

    #[test]
    fn deletes_mark_and_drop_empty_nodes() {
        let mut e = Entries::default();
        for i in 1..=7 {
            e.push(id(i, 0), &f(&[("n", "v")]), SMALL);
        }
        assert_eq!(e.nodes(), 3);
        assert!(e.delete(id(2, 0)));
        assert!(!e.delete(id(2, 0)));
        assert!(!e.contains(id(2, 0)));
        assert!(e.delete(id(1, 0)));
        assert_eq!(e.nodes(), 3);
        assert!(e.delete(id(3, 0)));
        assert_eq!(e.nodes(), 2, "a node with only deleted entries goes");
        assert_eq!(ids(&e.all()), vec![4, 5, 6, 7]);
        assert!(e.delete(id(7, 0)));
        assert_eq!(e.nodes(), 1);
        e.push(id(8, 0), &f(&[("n", "v")]), SMALL);
        assert_eq!(e.nodes(), 2);
        // A deleted entry still counts towards its node's size, as in Redis.
        let mut d = Entries::default();
        d.push(id(1, 0), &f(&[("n", "v")]), SMALL);
        d.push(id(2, 0), &f(&[("n", "v")]), SMALL);
        assert!(d.delete(id(2, 0)));
        d.push(id(3, 0), &f(&[("n", "v")]), SMALL);
        d.push(id(4, 0), &f(&[("n", "v")]), SMALL);
        assert_eq!((d.len(), d.nodes()), (3, 2));
        assert_eq!(e.first().map(|x| x.0), Some(id(4, 0)));
        assert_eq!(e.last().map(|x| x.0), Some(id(8, 0)));
    }

    #[test]
    fn trims_like_redis() {
        let build = || {
            let mut e = Entries::default();
            for i in 1..=10 {
                e.push(id(i, 0), &f(&[("n", "v")]), SMALL);
            }
            e
        };
        // Approximate: whole nodes only.
        let mut e = build();
        assert_eq!(e.trim(Trim::MaxLen(5), true, 0), 3);
        assert_eq!(e.len(), 7);
        // Exact: whole nodes, then inside the next one.
        let mut e = build();
        assert_eq!(e.trim(Trim::MaxLen(5), false, 0), 5);
        assert_eq!(ids(&e.all()), vec![6, 7, 8, 9, 10]);
        let mut e = build();
        assert_eq!(e.trim(Trim::MinId(id(5, 0)), false, 0), 4);
        assert_eq!(e.first().map(|x| x.0), Some(id(5, 0)));
        let mut e = build();
        assert_eq!(e.trim(Trim::MinId(id(8, 0)), true, 0), 6);
        // LIMIT stops before a node that would pass it.
        let mut e = build();
        assert_eq!(e.trim(Trim::MaxLen(0), true, 4), 3);
        let mut e = build();
        e.remove_first(4);
        assert_eq!(ids(&e.all()), vec![5, 6, 7, 8, 9, 10]);
        e.remove_first(100);
        assert!(e.is_empty());
        assert_eq!(e.nodes(), 0);
        assert_eq!(e.heap_bytes(), 0);
    }

    #[test]
    fn accounting_follows_sealing_and_removal() {
        let mut e = Entries::default();
        for i in 1..=50 {
            e.push(id(i, 0), &f(&[("field", "value")]), SMALL);
        }
        let full = e.heap_bytes();
        assert!(full > 0);
        for i in 1..=50 {
            e.delete(id(i, 0));
        }
        assert_eq!(e.heap_bytes(), 0);
        assert_eq!(e.nodes(), 0);
    }
}
