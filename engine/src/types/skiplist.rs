//! The ordered index of a large sorted set: Redis's zskiplist, with nodes kept in an arena.
//!
//! Elements are ordered by score, ties by member bytes, so ZRANGE, ZRANK and the score and lex
//! range commands all walk this one structure. Every link records its span (how many elements it
//! steps over), which is what makes rank lookups O(log n), as in Redis. Levels are drawn with
//! p = 1/4 up to 32, Redis's parameters, so the shape and the cost match a Redis skiplist of the
//! same size.
//!
//! Nodes live in a `Vec` and link by `u32` index instead of by pointer: no `unsafe`, links half
//! the size of pointers, and removed nodes leave slots that a free list hands to later inserts.
//! When most slots are free the arena is rebuilt in order and shrunk, so a set that grew once
//! and then emptied does not keep its peak memory.
//!
//! Scores are never NaN (the caller refuses them), so `<` and `==` give a total order in which
//! `-0.0 == 0.0`, as Redis's comparisons of doubles do; the stored score keeps its sign.

use smallvec::SmallVec;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::iter::FusedIterator;
use std::mem;

/// Redis's ZSKIPLIST_MAXLEVEL: enough for 4^32 elements.
const MAX_LEVEL: usize = 32;
/// The end of a chain, and the free list's end.
const NIL: u32 = u32::MAX;
/// The header node: it holds no element and owns `MAX_LEVEL` links.
const HEAD: u32 = 0;
/// The arena is rebuilt when it has more than this many slots and fewer than a quarter are live.
const COMPACT_MIN_SLOTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    forward: u32,
    /// Elements from this node to `forward`; to the end of the list when `forward` is NIL.
    span: u32,
    /// `forward`'s score (0 when NIL). A walk compares against it without loading the next
    /// node, so it misses the cache only on the steps it takes, not on the one that stops it.
    score: f64,
}

const UNLINKED: Level = Level {
    forward: NIL,
    span: 0,
    score: 0.0,
};

#[derive(Clone)]
struct Node {
    score: f64,
    member: Box<[u8]>,
    /// The previous element on level 0 (NIL for the first). A free slot keeps the next free
    /// slot here.
    backward: u32,
    /// Empty in a free slot, so a free slot owns no heap memory. Up to two levels (15 nodes
    /// in 16) live inline, so walking a level reads one cache line per node.
    levels: SmallVec<[Level; 2]>,
}

impl Node {
    fn free(next_free: u32) -> Node {
        Node {
            score: 0.0,
            member: Box::default(),
            backward: next_free,
            levels: SmallVec::new(),
        }
    }

    fn owned_bytes(&self) -> usize {
        let spilled = if self.levels.spilled() {
            self.levels.capacity() * mem::size_of::<Level>()
        } else {
            0
        };
        self.member.len() + spilled
    }
}

/// `(a_score, a_member)` sorts strictly before `(b_score, b_member)`.
fn precedes(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> bool {
    a_score < b_score || (a_score == b_score && a_member < b_member)
}

/// The sorted set's order index; the member -> score map lives beside it, with the caller.
#[derive(Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    /// Head of the free-slot list, chained through `Node::backward`.
    free: u32,
    /// The last element, NIL when empty.
    tail: u32,
    len: usize,
    /// Levels in use (at least 1); the header's links above it are unlinked.
    level: usize,
    /// Heap bytes owned by the nodes (level arrays and members), kept so `heap_bytes` is O(1).
    owned: usize,
    /// xorshift64* state for drawing levels. Seeded per list from the process's random hash keys,
    /// so a client cannot predict which inserts get tall nodes and skew the shape.
    rng: u64,
}

impl Default for SkipList {
    fn default() -> Self {
        SkipList::new()
    }
}

impl fmt::Debug for SkipList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipList")
            .field("len", &self.len)
            .field("level", &self.level)
            .field("slots", &self.nodes.len())
            .finish()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        SkipList::with_seed(seed)
    }

    fn with_seed(seed: u64) -> SkipList {
        let header = Node {
            score: 0.0,
            member: Box::default(),
            backward: NIL,
            levels: SmallVec::from_elem(UNLINKED, MAX_LEVEL),
        };
        let owned = header.owned_bytes();
        SkipList {
            nodes: vec![header],
            free: NIL,
            tail: NIL,
            len: 0,
            level: 1,
            owned,
            rng: seed | 1,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts an element that is not present.
    pub fn insert(&mut self, score: f64, member: Box<[u8]>) {
        debug_assert!(!score.is_nan());
        // The last node before the new element on each level, and its 1-based rank.
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let link = self.link(x, i);
                if link.forward == NIL || !self.link_precedes(link, score, &member) {
                    break;
                }
                rank[i] += link.span as usize;
                x = link.forward;
            }
            update[i] = x;
        }
        let level = self.random_level();
        for i in self.level..level {
            // update[i] is HEAD and rank[i] is 0 already; the header's new link spans everything.
            self.link_mut(HEAD, i).span = self.len as u32;
        }
        self.level = self.level.max(level);

        let x = self.alloc(score, member, level);
        for i in 0..level {
            let prev = self.link(update[i], i);
            let skipped = (rank[0] - rank[i]) as u32;
            *self.link_mut(x, i) = Level {
                forward: prev.forward,
                span: prev.span - skipped,
                score: prev.score,
            };
            *self.link_mut(update[i], i) = Level {
                forward: x,
                span: skipped + 1,
                score,
            };
        }
        for (i, &prev) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(prev, i).span += 1;
        }
        self.nodes[x as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        match self.link(x, 0).forward {
            NIL => self.tail = x,
            next => self.nodes[next as usize].backward = x,
        }
        self.len += 1;
    }

    /// Removes the element; returns its member box if it was present.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let update = self.predecessors(score, member);
        let x = self.link(update[0], 0).forward;
        if !self.holds(x, score, member) {
            return None;
        }
        let (_, member) = self.unlink(x, &update);
        self.compact_if_sparse();
        Some(member)
    }

    /// Changes an element's score (the element must be present with `old`), reusing the node when
    /// the order does not change (as Redis's zslUpdateScore does).
    pub fn update_score(&mut self, old: f64, member: &[u8], new: f64) {
        debug_assert!(!new.is_nan());
        let update = self.predecessors(old, member);
        let x = self.link(update[0], 0).forward;
        if !self.holds(x, old, member) {
            debug_assert!(false, "update_score of an element that is not present");
            return;
        }
        let back = self.nodes[x as usize].backward;
        let next = self.link(x, 0).forward;
        let after_back = back == NIL || self.node_precedes(back, new, member);
        let before_next = next == NIL || {
            let n = &self.nodes[next as usize];
            precedes(new, member, n.score, &n.member)
        };
        if after_back && before_next {
            self.nodes[x as usize].score = new;
            for (i, &prev) in update
                .iter()
                .enumerate()
                .take(self.nodes[x as usize].levels.len())
            {
                self.link_mut(prev, i).score = new;
            }
            return;
        }
        // The member's box moves to the new node; the slot is reused by the insert.
        let (_, boxed) = self.unlink(x, &update);
        self.insert(new, boxed);
    }

    /// 0-based rank of a present element, O(log n).
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                // Stop before the first element after the one sought.
                if link.forward == NIL
                    || link.score > score
                    || (link.score == score && *self.nodes[link.forward as usize].member > *member)
                {
                    break;
                }
                traversed += link.span as usize;
                x = link.forward;
            }
            // x is the last element at or before the one sought.
            if x != HEAD && self.holds(x, score, member) {
                return Some(traversed - 1);
            }
        }
        None
    }

    /// Element at a 0-based rank, O(log n).
    pub fn get(&self, rank: usize) -> Option<(f64, &[u8])> {
        match self.node_at(rank) {
            NIL => None,
            x => {
                let n = &self.nodes[x as usize];
                Some((n.score, &n.member))
            }
        }
    }

    /// The number of leading elements for which `before` is true. `before` must be monotone over
    /// the order (true...true false...false). O(log n). Used for score and lex range bounds, e.g.
    /// `partition_point(|s, _| s < min)`.
    pub fn partition_point(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut count = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.forward == NIL {
                    break;
                }
                let n = &self.nodes[link.forward as usize];
                if !before(n.score, &n.member) {
                    break;
                }
                count += link.span as usize;
                x = link.forward;
            }
        }
        count
    }

    /// Iterates forward from rank `start` (O(log n) to find the start, then O(1) per step);
    /// empty when `start` is past the end.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        let node = self.node_at(start);
        let remaining = if node == NIL { 0 } else { self.len - start };
        Iter {
            list: self,
            node,
            remaining,
        }
    }

    /// Iterates backward from rank `start` down to rank 0; empty when `start` is past the end.
    pub fn iter_rev_from(&self, start: usize) -> RevIter<'_> {
        let node = self.node_at(start);
        let remaining = if node == NIL { 0 } else { start + 1 };
        RevIter {
            list: self,
            node,
            remaining,
        }
    }

    /// Removes ranks start..=end (clamped), calling `f` with each removed (score, member), in
    /// order. O(log n + removed).
    pub fn remove_range(&mut self, start: usize, end: usize, mut f: impl FnMut(f64, Box<[u8]>)) {
        if start >= self.len || start > end {
            return;
        }
        let end = end.min(self.len - 1);
        // The predecessors of rank `start` stay the predecessors while its successors go.
        let mut update = [HEAD; MAX_LEVEL];
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.forward == NIL || traversed + link.span as usize > start {
                    break;
                }
                traversed += link.span as usize;
                x = link.forward;
            }
            update[i] = x;
        }
        let mut x = self.link(update[0], 0).forward;
        for _ in start..=end {
            let next = self.link(x, 0).forward;
            // Unlinked before `f` runs, so the list stays whole even if `f` panics.
            let (score, member) = self.unlink(x, &update);
            f(score, member);
            x = next;
        }
        self.compact_if_sparse();
    }

    /// Heap bytes used (arena, level arrays, member boxes), for memory accounting: an estimate of
    /// allocated bytes that grows and shrinks with the content.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * mem::size_of::<Node>() + self.owned
    }

    fn link(&self, x: u32, i: usize) -> Level {
        self.nodes[x as usize].levels[i]
    }

    fn link_mut(&mut self, x: u32, i: usize) -> &mut Level {
        &mut self.nodes[x as usize].levels[i]
    }

    /// Element `x` sorts strictly before `(score, member)`.
    fn node_precedes(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let n = &self.nodes[x as usize];
        precedes(n.score, &n.member, score, member)
    }

    /// The element `link` leads to sorts strictly before `(score, member)`; its member is read
    /// only when the scores tie.
    fn link_precedes(&self, link: Level, score: f64, member: &[u8]) -> bool {
        link.score < score
            || (link.score == score && *self.nodes[link.forward as usize].member < *member)
    }

    /// `x` is an element equal to `(score, member)`.
    fn holds(&self, x: u32, score: f64, member: &[u8]) -> bool {
        x != NIL && x != HEAD && {
            let n = &self.nodes[x as usize];
            n.score == score && *n.member == *member
        }
    }

    /// The last node strictly before `(score, member)` on each level in use.
    fn predecessors(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.forward == NIL || !self.link_precedes(link, score, member) {
                    break;
                }
                x = link.forward;
            }
            update[i] = x;
        }
        update
    }

    /// The node at a 0-based rank, NIL past the end.
    fn node_at(&self, rank: usize) -> u32 {
        if rank >= self.len {
            return NIL;
        }
        if rank + 1 == self.len {
            // ZREVRANGE, ZPOPMAX and friends start here.
            return self.tail;
        }
        let target = rank + 1;
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let link = self.link(x, i);
                if link.forward == NIL || traversed + link.span as usize > target {
                    break;
                }
                traversed += link.span as usize;
                x = link.forward;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    /// 1 plus one for each further level with probability 1/4, capped at `MAX_LEVEL`.
    fn random_level(&mut self) -> usize {
        let mut s = self.rng;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        self.rng = s;
        // xorshift64*'s high bits are its best: each pair of leading zeros is a 1/4 event.
        let r = s.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (1 + r.leading_zeros() as usize / 2).min(MAX_LEVEL)
    }

    fn alloc(&mut self, score: f64, member: Box<[u8]>, level: usize) -> u32 {
        let node = Node {
            score,
            member,
            backward: NIL,
            levels: SmallVec::from_elem(UNLINKED, level),
        };
        self.owned += node.owned_bytes();
        if self.free != NIL {
            let x = self.free;
            self.free = self.nodes[x as usize].backward;
            self.nodes[x as usize] = node;
            return x;
        }
        // Reaching 2^32 - 1 slots takes hundreds of gigabytes of members, far past any maxmemory.
        assert!(
            self.nodes.len() < NIL as usize,
            "sorted set exceeds 2^32 - 2 members"
        );
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    /// Unlinks element `x`, whose predecessors on each level are `update`, and frees its slot.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) -> (f64, Box<[u8]>) {
        for (i, &prev) in update.iter().enumerate().take(self.level) {
            let link = self.link(prev, i);
            if link.forward == x {
                let gone = self.link(x, i);
                *self.link_mut(prev, i) = Level {
                    forward: gone.forward,
                    span: link.span - 1 + gone.span,
                    score: gone.score,
                };
            } else {
                self.link_mut(prev, i).span -= 1;
            }
        }
        let back = self.nodes[x as usize].backward;
        match self.link(x, 0).forward {
            NIL => self.tail = back,
            next => self.nodes[next as usize].backward = back,
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
            *self.link_mut(HEAD, self.level) = UNLINKED;
        }
        self.len -= 1;
        let node = mem::replace(&mut self.nodes[x as usize], Node::free(self.free));
        self.free = x;
        self.owned -= node.owned_bytes();
        (node.score, node.member)
    }

    /// Rebuilds the arena in list order and releases its spare capacity once it is mostly free
    /// slots. Each rebuild follows at least three removals per remaining element, so its cost is
    /// amortized O(1) per removal.
    fn compact_if_sparse(&mut self) {
        let slots = self.nodes.len();
        if slots <= COMPACT_MIN_SLOTS || (self.len + 1) * 4 >= slots {
            return;
        }
        let mut new_index = vec![NIL; slots];
        let mut order = Vec::with_capacity(self.len + 1);
        let mut x = HEAD;
        while x != NIL {
            new_index[x as usize] = order.len() as u32;
            order.push(x);
            x = self.link(x, 0).forward;
        }
        let renumber = |x: u32| if x == NIL { NIL } else { new_index[x as usize] };
        let mut old = mem::take(&mut self.nodes);
        let mut nodes = Vec::with_capacity(order.len());
        for x in order {
            let mut node = mem::replace(&mut old[x as usize], Node::free(NIL));
            node.backward = renumber(node.backward);
            for link in node.levels.iter_mut() {
                link.forward = renumber(link.forward);
            }
            nodes.push(node);
        }
        self.nodes = nodes;
        self.free = NIL;
        self.tail = if self.len == 0 { NIL } else { self.len as u32 };
    }
}

/// Forward iteration from a rank; see [`SkipList::iter_from`].
#[derive(Clone)]
pub struct Iter<'a> {
    list: &'a SkipList,
    node: u32,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.node == NIL {
            return None;
        }
        let n = &self.list.nodes[self.node as usize];
        self.node = n.levels[0].forward;
        self.remaining -= 1;
        Some((n.score, &n.member))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}
impl FusedIterator for Iter<'_> {}

/// Backward iteration from a rank to the first element; see [`SkipList::iter_rev_from`].
#[derive(Clone)]
pub struct RevIter<'a> {
    list: &'a SkipList,
    node: u32,
    remaining: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.node == NIL {
            return None;
        }
        let n = &self.list.nodes[self.node as usize];
        self.node = n.backward;
        self.remaining -= 1;
        Some((n.score, &n.member))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RevIter<'_> {}
impl FusedIterator for RevIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn b(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    fn items(sl: &SkipList) -> Vec<(f64, Vec<u8>)> {
        sl.iter_from(0).map(|(s, m)| (s, m.to_vec())).collect()
    }

    fn members(sl: &SkipList) -> Vec<String> {
        sl.iter_from(0)
            .map(|(_, m)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    /// Checks every structural invariant: order, back links, tail, levels, spans, the free list
    /// and the owned-bytes counter.
    fn check(sl: &SkipList) {
        let mut order = vec![HEAD];
        let mut pos = vec![usize::MAX; sl.nodes.len()];
        pos[HEAD as usize] = 0;
        let mut prev = NIL;
        let mut x = sl.link(HEAD, 0).forward;
        while x != NIL {
            assert!(order.len() <= sl.len, "level 0 longer than len (a cycle?)");
            let n = &sl.nodes[x as usize];
            assert_eq!(n.backward, prev, "backward of slot {x}");
            if prev != NIL {
                let p = &sl.nodes[prev as usize];
                assert!(
                    precedes(p.score, &p.member, n.score, &n.member),
                    "order at slot {x}"
                );
            }
            assert!((1..=MAX_LEVEL).contains(&n.levels.len()));
            pos[x as usize] = order.len();
            order.push(x);
            prev = x;
            x = n.levels[0].forward;
        }
        assert_eq!(order.len(), sl.len + 1);
        assert_eq!(sl.tail, prev);
        let tallest = order[1..]
            .iter()
            .map(|&x| sl.nodes[x as usize].levels.len())
            .max();
        assert_eq!(sl.level, tallest.unwrap_or(1));
        for i in 0..MAX_LEVEL {
            if i >= sl.level {
                assert_eq!(sl.link(HEAD, i), UNLINKED, "header level {i}");
                continue;
            }
            let expected: Vec<u32> = order[1..]
                .iter()
                .copied()
                .filter(|&x| sl.nodes[x as usize].levels.len() > i)
                .collect();
            let mut seen = Vec::new();
            let mut x = HEAD;
            loop {
                let link = sl.link(x, i);
                let to = if link.forward == NIL {
                    sl.len
                } else {
                    pos[link.forward as usize]
                };
                assert_eq!(
                    link.span as usize,
                    to - pos[x as usize],
                    "span at level {i}, slot {x}"
                );
                if link.forward == NIL {
                    break;
                }
                let cached = link.score;
                let actual = sl.nodes[link.forward as usize].score;
                assert!(
                    cached == actual && cached.is_sign_negative() == actual.is_sign_negative(),
                    "cached score at level {i}, slot {x}"
                );
                seen.push(link.forward);
                x = link.forward;
            }
            assert_eq!(seen, expected, "chain at level {i}");
        }
        let mut free = 0;
        let mut x = sl.free;
        while x != NIL {
            assert!(free < sl.nodes.len(), "free list cycle");
            assert_eq!(pos[x as usize], usize::MAX, "free slot {x} is linked");
            assert!(
                sl.nodes[x as usize].levels.is_empty() && sl.nodes[x as usize].member.is_empty()
            );
            free += 1;
            x = sl.nodes[x as usize].backward;
        }
        assert_eq!(
            free + sl.len + 1,
            sl.nodes.len(),
            "slots neither live nor free"
        );
        let owned: usize = order
            .iter()
            .map(|&x| sl.nodes[x as usize].owned_bytes())
            .sum();
        assert_eq!(sl.owned, owned);
    }

    fn sample() -> SkipList {
        let mut sl = SkipList::with_seed(7);
        for (s, m) in [
            (2.0, "b"),
            (1.0, "z"),
            (2.0, "ab"),
            (2.0, "a"),
            (3.0, ""),
            (-1.0, "q"),
        ] {
            sl.insert(s, b(m));
        }
        check(&sl);
        sl
    }

    #[test]
    fn new_list_is_empty() {
        let sl = SkipList::default();
        check(&sl);
        assert!(sl.is_empty());
        assert_eq!(sl.len(), 0);
        assert_eq!(sl.get(0), None);
        assert_eq!(sl.rank(0.0, b""), None);
        assert_eq!(sl.partition_point(|_, _| true), 0);
        assert_eq!(sl.iter_from(0).count(), 0);
        assert_eq!(sl.iter_rev_from(0).count(), 0);
        assert!(sl.heap_bytes() >= MAX_LEVEL * mem::size_of::<Level>());
        assert_eq!(format!("{sl:?}"), "SkipList { len: 0, level: 1, slots: 1 }");
    }

    #[test]
    fn orders_by_score_then_member_bytes() {
        let sl = sample();
        assert_eq!(members(&sl), ["q", "z", "a", "ab", "b", ""]);
        assert_eq!(sl.len(), 6);
        assert_eq!(sl.get(2), Some((2.0, &b"a"[..])));
        assert_eq!(sl.get(5), Some((3.0, &b""[..])));
        assert_eq!(sl.get(6), None);
    }

    #[test]
    fn negative_zero_equals_zero_and_keeps_its_sign() {
        let mut sl = SkipList::with_seed(1);
        sl.insert(0.0, b("b"));
        sl.insert(-0.0, b("a"));
        sl.insert(0.0, b("c"));
        sl.insert(-0.0, b("d"));
        check(&sl);
        assert_eq!(members(&sl), ["a", "b", "c", "d"]);
        assert!(sl.get(0).unwrap().0.is_sign_negative());
        assert!(sl.get(1).unwrap().0.is_sign_positive());
        assert_eq!(sl.rank(0.0, b"a"), Some(0));
        assert_eq!(sl.rank(-0.0, b"c"), Some(2));
        assert_eq!(sl.partition_point(|s, _| s < 0.0), 0);
        assert_eq!(sl.partition_point(|s, _| s <= -0.0), 4);
        assert_eq!(sl.remove(-0.0, b"b").as_deref(), Some(&b"b"[..]));
        check(&sl);
        assert_eq!(members(&sl), ["a", "c", "d"]);
    }

    #[test]
    fn infinities_sort_at_the_ends() {
        let mut sl = SkipList::with_seed(2);
        sl.insert(f64::INFINITY, b("hi"));
        sl.insert(0.5, b("mid"));
        sl.insert(f64::NEG_INFINITY, b("lo"));
        sl.insert(f64::INFINITY, b("a"));
        check(&sl);
        assert_eq!(members(&sl), ["lo", "mid", "a", "hi"]);
        assert_eq!(sl.partition_point(|s, _| s < f64::INFINITY), 2);
        assert_eq!(sl.partition_point(|s, _| s <= f64::NEG_INFINITY), 1);
        assert_eq!(sl.rank(f64::INFINITY, b"hi"), Some(3));
    }

    #[test]
    fn remove_returns_the_member_box_only_when_present() {
        let mut sl = sample();
        assert_eq!(sl.remove(2.0, b"c"), None);
        assert_eq!(sl.remove(1.5, b"a"), None, "right member, wrong score");
        assert_eq!(sl.remove(2.0, b"ab").as_deref(), Some(&b"ab"[..]));
        check(&sl);
        assert_eq!(sl.remove(3.0, b"").as_deref(), Some(&b""[..]));
        assert_eq!(sl.remove(-1.0, b"q").as_deref(), Some(&b"q"[..]));
        check(&sl);
        assert_eq!(members(&sl), ["z", "a", "b"]);
        assert_eq!(
            sl.iter_rev_from(2)
                .map(|(_, m)| m.to_vec())
                .collect::<Vec<_>>(),
            [b"b", b"a", b"z"]
        );
        for (s, m) in [(1.0, "z"), (2.0, "a"), (2.0, "b")] {
            assert!(sl.remove(s, m.as_bytes()).is_some());
        }
        check(&sl);
        assert!(sl.is_empty());
        assert_eq!(sl.iter_rev_from(0).count(), 0);
    }

    #[test]
    fn update_score_keeps_the_slot_when_the_order_holds() {
        let mut sl = sample();
        let slot = |sl: &SkipList, m: &[u8]| {
            sl.nodes
                .iter()
                .position(|n| *n.member == *m && !n.levels.is_empty())
        };
        let before = slot(&sl, b"ab");
        let slot_z = slot(&sl, b"z").unwrap();
        sl.update_score(2.0, b"ab", 2.0);
        sl.update_score(1.0, b"z", 1.5);
        check(&sl);
        assert_eq!(
            slot(&sl, b"z"),
            Some(slot_z),
            "in place: still between q and a"
        );
        sl.update_score(1.5, b"z", 2.0); // ties with "a", "ab", "b", and sorts after them
        check(&sl);
        assert_eq!(members(&sl), ["q", "a", "ab", "b", "z", ""]);
        assert_eq!(slot(&sl, b"ab"), before);
        sl.update_score(2.0, b"z", -2.0);
        sl.update_score(3.0, b"", f64::NEG_INFINITY);
        sl.update_score(2.0, b"a", 9.0);
        check(&sl);
        assert_eq!(members(&sl), ["", "z", "q", "ab", "b", "a"]);
        assert_eq!(sl.get(5), Some((9.0, &b"a"[..])));
        assert_eq!(sl.nodes.len(), 7, "moved elements reuse their freed slots");
    }

    #[test]
    fn rank_and_get_agree_on_a_large_list() {
        let mut sl = SkipList::with_seed(3);
        for i in (0..5000).rev() {
            sl.insert(f64::from(i / 3), format!("m{i:05}").into_bytes().into());
        }
        check(&sl);
        assert!(sl.level > 3, "5000 elements should build several levels");
        for i in (0..5000).step_by(7) {
            let (s, m) = sl.get(i).unwrap();
            assert_eq!(m, format!("m{i:05}").as_bytes());
            assert_eq!(s, f64::from(i as u32 / 3));
            assert_eq!(sl.rank(s, m), Some(i));
        }
        assert_eq!(
            sl.rank(1.0, b"m00000"),
            None,
            "member present with another score"
        );
        assert_eq!(sl.rank(0.0, b"m00003"), None);
    }

    #[test]
    fn levels_follow_a_quarter_geometric_distribution() {
        let mut sl = SkipList::with_seed(6);
        for i in 0..100_000 {
            sl.insert(f64::from(i), Box::default());
        }
        let at_least = |k: usize| sl.nodes[1..].iter().filter(|n| n.levels.len() >= k).count();
        // Expected 25_000, 6_250 and 1_562; the bounds are several standard deviations wide.
        assert!((24_000..26_000).contains(&at_least(2)), "{}", at_least(2));
        assert!((5_800..6_700).contains(&at_least(3)), "{}", at_least(3));
        assert!((1_350..1_800).contains(&at_least(4)), "{}", at_least(4));
        assert!((7..=14).contains(&sl.level), "{}", sl.level);
    }

    #[test]
    fn partition_point_serves_score_and_lex_bounds() {
        let sl = sample();
        assert_eq!(sl.partition_point(|s, _| s < 2.0), 2);
        assert_eq!(sl.partition_point(|s, _| s <= 2.0), 5);
        assert_eq!(sl.partition_point(|s, _| s < -5.0), 0);
        assert_eq!(sl.partition_point(|_, _| true), 6);
        assert_eq!(sl.partition_point(|s, m| precedes(s, m, 2.0, b"ab")), 3);
        let mut lex = SkipList::with_seed(4);
        for m in ["c", "a", "", "ab", "b", "\u{7f}"] {
            lex.insert(0.0, b(m));
        }
        assert_eq!(lex.partition_point(|_, m| m < &b"ab"[..]), 2);
        assert_eq!(lex.partition_point(|_, m| m <= &b"ab"[..]), 3);
        assert_eq!(lex.partition_point(|_, m| m < &b""[..]), 0);
    }

    #[test]
    fn iterators_start_at_a_rank_and_know_their_length() {
        let sl = sample();
        let fwd: Vec<_> = sl.iter_from(3).map(|(_, m)| m.to_vec()).collect();
        assert_eq!(fwd, [&b"ab"[..], b"b", b""]);
        assert_eq!(sl.iter_from(3).len(), 3);
        let rev: Vec<_> = sl.iter_rev_from(2).map(|(_, m)| m.to_vec()).collect();
        assert_eq!(rev, [&b"a"[..], b"z", b"q"]);
        assert_eq!(sl.iter_rev_from(2).len(), 3);
        assert_eq!(sl.iter_rev_from(5).count(), 6);
        assert_eq!(sl.iter_from(6).len(), 0);
        assert_eq!(sl.iter_rev_from(6).count(), 0);
        let mut it = sl.iter_from(5);
        assert!(it.next().is_some());
        assert_eq!((it.next(), it.next(), it.len()), (None, None, 0));
    }

    #[test]
    fn remove_range_clamps_and_reports_in_order() {
        let mut sl = sample();
        let mut gone = Vec::new();
        sl.remove_range(1, 3, |s, m| gone.push((s, m)));
        check(&sl);
        assert_eq!(gone, [(1.0, b("z")), (2.0, b("a")), (2.0, b("ab"))]);
        assert_eq!(members(&sl), ["q", "b", ""]);
        sl.remove_range(2, 1, |_, _| panic!("start > end removes nothing"));
        sl.remove_range(3, 9, |_, _| panic!("start past the end removes nothing"));
        sl.remove_range(1, usize::MAX, |_, m| gone.push((0.0, m)));
        check(&sl);
        assert_eq!(members(&sl), ["q"]);
        assert_eq!(gone.len(), 5);
        sl.remove_range(0, 0, |_, _| {});
        check(&sl);
        assert!(sl.is_empty());
        assert_eq!(sl.tail, NIL);
    }

    #[test]
    fn freed_slots_are_reused_and_a_sparse_arena_shrinks() {
        let mut sl = SkipList::with_seed(5);
        let member = |i: u32| format!("{i:0100}").into_bytes().into_boxed_slice();
        for i in 0..100 {
            sl.insert(f64::from(i), member(i));
        }
        for i in (0..100).step_by(2) {
            sl.remove(f64::from(i), &member(i));
        }
        for i in (0..100).step_by(2) {
            sl.insert(f64::from(i), member(i));
        }
        check(&sl);
        assert_eq!(sl.nodes.len(), 101);

        let small = sl.heap_bytes();
        for i in 100..10_000 {
            sl.insert(f64::from(i), member(i));
        }
        let full = sl.heap_bytes();
        assert!(
            full > 10_000 * 100 && full > small * 50,
            "{small} -> {full}"
        );
        sl.remove_range(10, 9_989, |_, _| {});
        check(&sl);
        assert_eq!(members(&sl).len(), 20);
        assert!(
            sl.nodes.len() <= COMPACT_MIN_SLOTS + 1,
            "{} slots",
            sl.nodes.len()
        );
        assert!(
            sl.heap_bytes() < full / 100,
            "{full} -> {}",
            sl.heap_bytes()
        );
        for i in 0..10 {
            assert!(sl.remove(f64::from(i), &member(i)).is_some());
        }
        check(&sl);
        assert_eq!(sl.get(0), Some((9990.0, &member(9990)[..])));

        for i in 0..100 {
            sl.insert(f64::from(i), member(i));
        }
        sl.remove_range(0, usize::MAX, |_, _| {});
        check(&sl);
        assert_eq!((sl.nodes.len(), sl.nodes.capacity()), (1, 1));
        sl.insert(1.0, member(1));
        check(&sl);
        assert_eq!(sl.iter_rev_from(0).len(), 1);
    }

    #[test]
    fn clone_is_deep() {
        let mut sl = sample();
        let copy = sl.clone();
        sl.remove_range(0, usize::MAX, |_, _| {});
        sl.insert(1.0, b("new"));
        check(&copy);
        assert_eq!(members(&copy), ["q", "z", "a", "ab", "b", ""]);
        assert_eq!(members(&sl), ["new"]);
    }

    /// xorshift64: reproducible randomness for the model test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn score(&mut self) -> f64 {
            const SPECIAL: [f64; 8] = [
                f64::NEG_INFINITY,
                f64::INFINITY,
                0.0,
                -0.0,
                2.5,
                -1e300,
                5e-324,
                1.0,
            ];
            match self.below(3) {
                0 => SPECIAL[self.below(SPECIAL.len())],
                _ => self.below(9) as f64 - 4.0,
            }
        }

        /// Up to 6 bytes from {0x00, 'a', 'b', 0xff}: 5461 members, including the empty one, so
        /// equal scores are common and members are often prefixes of one another.
        fn member(&mut self) -> Vec<u8> {
            let len = self.below(7);
            (0..len)
                .map(|_| [0x00, b'a', b'b', 0xff][self.below(4)])
                .collect()
        }
    }

    fn model_cmp(a: &(f64, Vec<u8>), b: &(f64, Vec<u8>)) -> Ordering {
        a.0.partial_cmp(&b.0)
            .expect("no NaN")
            .then_with(|| a.1.cmp(&b.1))
    }

    fn compare(sl: &SkipList, model: &[(f64, Vec<u8>)], rng: &mut Rng) {
        check(sl);
        assert_eq!(sl.len(), model.len());
        assert_eq!(items(sl), model);
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(sl.rank(*s, m), Some(i));
            assert_eq!(sl.get(i), Some((*s, &m[..])));
        }
        let at = rng.below(model.len() + 2);
        let fwd: Vec<_> = sl.iter_from(at).map(|(s, m)| (s, m.to_vec())).collect();
        assert_eq!(fwd, model.get(at..).unwrap_or(&[]));
        let rev: Vec<_> = sl.iter_rev_from(at).map(|(s, m)| (s, m.to_vec())).collect();
        let want: Vec<_> = if at < model.len() {
            model[..=at].iter().rev().cloned().collect()
        } else {
            Vec::new()
        };
        assert_eq!(rev, want);
        for _ in 0..4 {
            let (t, tm) = (rng.score(), rng.member());
            let count =
                |f: &dyn Fn(f64, &[u8]) -> bool| model.iter().filter(|(s, m)| f(*s, m)).count();
            assert_eq!(sl.partition_point(|s, _| s < t), count(&|s, _| s < t));
            assert_eq!(sl.partition_point(|s, _| s <= t), count(&|s, _| s <= t));
            let pair = |s: f64, m: &[u8]| precedes(s, m, t, &tm);
            assert_eq!(sl.partition_point(pair), count(&pair));
        }
    }

    #[test]
    fn random_operations_match_a_sorted_vec() {
        for seed in [1u64, 0x9e37_79b9_7f4a_7c15, 42] {
            let mut rng = Rng(seed);
            let mut sl = SkipList::with_seed(seed);
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for step in 0..12_000 {
                // Alternate phases that grow the set to hundreds of elements and shrink it to
                // nothing, so levels rise and fall and the arena is compacted.
                let growing = (step / 3000) % 2 == 0;
                let op = rng.below(100);
                if op < if growing { 60 } else { 25 } {
                    let (score, member) = (rng.score(), rng.member());
                    match model.iter().position(|(_, m)| *m == member) {
                        Some(i) => {
                            sl.update_score(model[i].0, &member, score);
                            model[i].0 = score;
                        }
                        None => {
                            sl.insert(score, member.clone().into_boxed_slice());
                            model.push((score, member));
                        }
                    }
                    model.sort_by(model_cmp);
                } else if op < 75 {
                    if model.is_empty() {
                        assert_eq!(sl.remove(rng.score(), &rng.member()), None);
                    } else {
                        let (s, m) = model.remove(rng.below(model.len()));
                        assert_eq!(sl.remove(s, &m).as_deref(), Some(&m[..]));
                        assert_eq!(sl.remove(s, &m), None);
                    }
                } else if op < 95 {
                    if !model.is_empty() {
                        let i = rng.below(model.len());
                        let (old, new) = (model[i].0, rng.score());
                        sl.update_score(old, &model[i].1, new);
                        model[i].0 = new;
                        model.sort_by(model_cmp);
                    }
                } else {
                    let start = rng.below(model.len() + 3);
                    let end = match rng.below(10) {
                        0 if !growing => usize::MAX,
                        _ => start + rng.below(if growing { 4 } else { 12 }),
                    };
                    let mut gone = Vec::new();
                    sl.remove_range(start, end, |s, m| gone.push((s, m.into_vec())));
                    let want: Vec<_> = if start < model.len() {
                        model.drain(start..=end.min(model.len() - 1)).collect()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(gone, want);
                }
                if step % 5 == 0 {
                    compare(&sl, &model, &mut rng);
                }
            }
            compare(&sl, &model, &mut rng);
        }
    }
}
