//! Whole-database operations: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, KEYS, SCAN, RANDOMKEY, the
//! INFO keyspace figures, and replaying effects.

use bytes::Bytes;
use rand::Rng;

use crate::ctx::Ctx;
use crate::effect::{Effect, Effects};
use crate::keyspace::watch::DbKeyState;
use crate::keyspace::{pattern, Ttl};
use crate::types::Value;
use crate::Engine;

/// Per-database figures for INFO keyspace.
pub struct DbInfo {
    pub keys: usize,
    pub expires: usize,
}

impl Engine {
    pub fn dbsize(&self, db: usize) -> usize {
        self.dbs[db].len()
    }

    pub fn db_info(&self, db: usize) -> DbInfo {
        let mut info = DbInfo {
            keys: 0,
            expires: 0,
        };
        for s in self.dbs[db].shards.iter() {
            let s = s.lock();
            info.keys += s.len() + s.cold;
            info.expires += s.volatile() + s.cold_volatile;
        }
        info
    }

    /// Empties one database. With `lazy`, the old contents are freed on another thread.
    /// Call under the exclusive gate.
    pub fn flushdb(&self, db: usize, lazy: bool, effects: &mut Effects) {
        self.touch_watched_db(db, None);
        let mut old = Vec::with_capacity(self.dbs[db].shards.len());
        for (si, s) in self.dbs[db].shards.iter().enumerate() {
            let mut s = s.lock();
            self.before_shard_write(db, si, &s);
            old.push(s.clear());
        }
        free(old, lazy);
        effects.list.push(Effect::FlushDb { db: db as u32 });
        if !effects.deferred {
            self.commit(&mut effects.list);
        }
    }

    pub fn flushall(&self, lazy: bool, effects: &mut Effects) {
        let mut old = Vec::new();
        for db in 0..self.dbs.len() {
            self.touch_watched_db(db, None);
            for (si, s) in self.dbs[db].shards.iter().enumerate() {
                let mut s = s.lock();
                self.before_shard_write(db, si, &s);
                old.push(s.clear());
            }
        }
        free(old, lazy);
        effects.list.push(Effect::FlushAll);
        if !effects.deferred {
            self.commit(&mut effects.list);
        }
    }

    /// Swaps two databases' contents. Call under the exclusive gate.
    pub fn swapdb(&self, a: usize, b: usize, effects: &mut Effects) {
        if a != b {
            self.touch_watched_db(a, Some(b));
            self.touch_watched_db(b, Some(a));
            for (si, (sa, sb)) in self.dbs[a]
                .shards
                .iter()
                .zip(self.dbs[b].shards.iter())
                .enumerate()
            {
                let (mut ga, mut gb) = (sa.lock(), sb.lock());
                self.before_shard_write(a, si, &ga);
                self.before_shard_write(b, si, &gb);
                std::mem::swap(&mut *ga, &mut *gb);
                // The occupancy flags belong to the slots, not to the contents.
                std::mem::swap(&mut ga.occupied, &mut gb.occupied);
                std::mem::swap(&mut ga.db_occupied, &mut gb.db_occupied);
                ga.set_occupied(true);
                gb.set_occupied(true);
            }
        }
        effects.list.push(Effect::SwapDb {
            a: a as u32,
            b: b as u32,
        });
        if !effects.deferred {
            self.commit(&mut effects.list);
        }
    }

    /// Flags WATCHers of keys of `db` that exist in it (or in `other`, which replaces it, for
    /// SWAPDB). Key states are read under the shard locks first, and the registry is updated
    /// after, so no shard lock is held while the registry lock is (active expiry takes a shard
    /// lock and then the registry).
    fn touch_watched_db(&self, db: usize, other: Option<usize>) {
        let watched = self.watch.keys_in_db(db);
        if watched.is_empty() {
            return;
        }
        let now = self.now_ms();
        let state = |d: usize, k: &[u8]| -> (bool, bool) {
            let s = self.dbs[d].shards[self.dbs[d].shard_of(k)].lock();
            match s.get(k) {
                Some(e) => (true, e.is_expired(now)),
                None => s.cold_stored(k).map_or((false, false), |v| {
                    (true, crate::tier::codec::is_expired(&v, now))
                }),
            }
        };
        let states: Vec<(Box<[u8]>, DbKeyState)> = watched
            .into_iter()
            .map(|k| {
                let (in_emptied, _) = state(db, &k);
                let (in_replacement, replacement_expired) =
                    other.map_or((false, false), |o| state(o, &k));
                (
                    k,
                    DbKeyState {
                        in_emptied,
                        in_replacement,
                        replacement_expired,
                    },
                )
            })
            .collect();
        self.watch.touch_db(db, &states);
    }

    /// KEYS: every live key matching the pattern.
    pub fn keys(&self, db: usize, pat: &[u8]) -> Vec<Bytes> {
        let now = self.now_ms();
        let all = pat == b"*";
        let mut out = Vec::new();
        for s in self.dbs[db].shards.iter() {
            let s = s.lock();
            for (k, e) in s.dict.iter() {
                if !e.is_expired(now) && (all || pattern::glob_match(pat, k, false)) {
                    out.push(Bytes::copy_from_slice(k));
                }
            }
            s.cold_range(0, None, now, |k, _| {
                if all || pattern::glob_match(pat, k, false) {
                    out.push(Bytes::copy_from_slice(k));
                }
            });
        }
        out
    }

    /// SCAN: the cursor's low bits pick the shard, the rest is that shard's table cursor, so
    /// Redis's guarantee holds per shard and therefore for the whole database: a key present
    /// for the whole scan is returned at least once.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        pat: Option<&[u8]>,
        type_name: Option<&[u8]>,
    ) -> (u64, Vec<Bytes>) {
        let shards = &self.dbs[db].shards;
        let bits = shards.len().trailing_zeros();
        let mask = (shards.len() - 1) as u64;
        let mut si = (cursor & mask) as usize;
        let mut c = cursor >> bits;
        let now = self.now_ms();
        let mut out = Vec::new();
        let mut budget = count.max(1).saturating_mul(10);
        loop {
            {
                let s = shards[si].lock();
                // An empty shard costs nothing, so a small database is scanned in one call
                // however many shards it has, as Redis scans a small table.
                if s.is_empty() && s.cold == 0 {
                    c = 0;
                }
                let wanted = |k: &[u8], kind: crate::types::Kind| {
                    pat.is_none_or(|p| pattern::glob_match(p, k, false))
                        && type_name.is_none_or(|t| kind.name().as_bytes().eq_ignore_ascii_case(t))
                };
                while !s.is_empty() || s.cold > 0 {
                    let from = c;
                    c = s.dict.scan(c, |k, e| {
                        if !e.is_expired(now) && wanted(k, e.value.kind()) {
                            out.push(Bytes::copy_from_slice(k));
                        }
                    });
                    // The cold keys the same step covers: those whose hashes the table's
                    // cursor passed over (see `tier::cold`).
                    let to = (c != 0).then(|| c.reverse_bits());
                    s.cold_range(from.reverse_bits(), to, now, |k, kind| {
                        if wanted(k, kind) {
                            out.push(Bytes::copy_from_slice(k));
                        }
                    });
                    budget = budget.saturating_sub(1);
                    if c == 0 || out.len() >= count || budget == 0 {
                        break;
                    }
                }
            }
            if c == 0 {
                si += 1;
                if si == shards.len() {
                    return (0, out);
                }
            }
            if out.len() >= count || budget == 0 {
                return ((c << bits) | si as u64, out);
            }
        }
    }

    /// RANDOMKEY: a random live key, or None when the database is empty.
    pub fn random_key(&self, db: usize) -> Option<Bytes> {
        let shards = &self.dbs[db].shards;
        let mut rng = rand::thread_rng();
        let now = self.now_ms();
        // Bounded: a database where every sampled key has expired answers None like an empty one.
        for _ in 0..100 {
            let sizes: Vec<(usize, usize)> = shards
                .iter()
                .map(|s| {
                    let s = s.lock();
                    (s.len(), s.cold)
                })
                .collect();
            let total: usize = sizes.iter().map(|(h, c)| h + c).sum();
            if total == 0 {
                return None;
            }
            let mut r = rng.gen_range(0..total);
            let si = sizes.iter().position(|&(h, c)| {
                if r < h + c {
                    true
                } else {
                    r -= h + c;
                    false
                }
            })?;
            let s = shards[si].lock();
            if r >= sizes[si].0 {
                // A cold key: the first stored at or after a random hash.
                if let Some(k) = s.random_cold(rng.gen(), now) {
                    return Some(Bytes::from(k));
                }
                continue;
            }
            let mut next = || rng.gen::<u64>();
            if let Some((k, e)) = s.dict.random_entry(&mut next) {
                if !e.is_expired(now) {
                    return Some(Bytes::copy_from_slice(k));
                }
            }
        }
        None
    }

    /// Replays one logged effect. Replay produces no new effects.
    /// Fails, changing nothing, when the effect names a database this engine does not have
    /// (a log written with more `databases` than the server now has).
    pub fn apply(&self, e: &Effect) -> Result<(), crate::effect::DecodeError> {
        self.apply_with(e, false)
    }

    /// [`Engine::apply`] for a snapshot's effects, whose key is not in the cold tier (see
    /// [`Effects::new_keys`]).
    pub(crate) fn apply_new_key(&self, e: &Effect) -> Result<(), crate::effect::DecodeError> {
        self.apply_with(e, true)
    }

    fn apply_with(&self, e: &Effect, new_keys: bool) -> Result<(), crate::effect::DecodeError> {
        use crate::keyspace::keys;
        use crate::types::string;
        // Replay runs at a frozen clock of 0, so nothing expires while the log is applied: a
        // key's expiry is replayed from its logged `Del`, never from the wall clock (which would
        // let a later write recreate an expired key without its TTL).
        let mut scratch = Effects {
            list: Vec::new(),
            deferred: true,
            now: Some(0),
            cmd: "",
            new_keys,
        };
        let n = self.dbs.len();
        let check = |d: &u32| (*d as usize) < n;
        let dbs_ok = match e {
            Effect::Copy { src_db, dst_db, .. } => check(src_db) && check(dst_db),
            Effect::Move { db, dst_db, .. } => check(db) && check(dst_db),
            Effect::SwapDb { a, b } => check(a) && check(b),
            Effect::FlushAll
            | Effect::FunctionLoad { .. }
            | Effect::FunctionDelete { .. }
            | Effect::FunctionFlush
            | Effect::SearchDefine { .. }
            | Effect::SearchDrop { .. } => true,
            _ => e.db().is_some_and(|d| check(&d)),
        };
        if !dbs_ok {
            return Err(crate::effect::DecodeError::BadDb);
        }
        let db_of = |d: u32| d as usize;
        match e {
            Effect::Set {
                db,
                key,
                value,
                expire_at,
                keep_ttl,
            } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let mut g = cx.lock(&[key]);
                let ttl = if *keep_ttl {
                    Ttl::Keep
                } else if *expire_at != 0 {
                    Ttl::At(*expire_at)
                } else {
                    Ttl::Clear
                };
                g.set(key, Value::from_bytes(value), ttl);
            }
            Effect::Del { db, key } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                cx.lock(&[key]).remove(key);
            }
            Effect::Expire { db, key, at } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                cx.lock(&[key]).set_expire(key, *at);
            }
            Effect::Persist { db, key } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                cx.lock(&[key]).set_expire(key, 0);
            }
            Effect::Rename { db, src, dst } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let _ = keys::rename(&mut cx, src, dst, false);
            }
            Effect::Copy {
                src_db,
                src,
                dst_db,
                dst,
                replace,
            } => {
                let mut cx = Ctx::new(self, db_of(*src_db), &mut scratch);
                let _ = keys::copy_to_db(&mut cx, src, db_of(*dst_db), dst, *replace, false);
            }
            Effect::Move { db, key, dst_db } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let _ = keys::copy_to_db(&mut cx, key, db_of(*dst_db), key, false, true);
            }
            Effect::SwapDb { a, b } => self.swapdb(db_of(*a), db_of(*b), &mut scratch),
            Effect::FlushDb { db } => self.flushdb(db_of(*db), false, &mut scratch),
            Effect::FlushAll => self.flushall(false, &mut scratch),
            Effect::FunctionLoad { code } => {
                self.functions.put(code);
            }
            Effect::FunctionDelete { name } => {
                self.functions.delete(&String::from_utf8_lossy(name));
            }
            Effect::FunctionFlush => self.functions.flush(),
            Effect::IncrBy { db, key, by } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let _ = string::incr_by(&mut cx, key, *by);
            }
            Effect::Append { db, key, data } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let _ = string::append(&mut cx, key, data);
            }
            Effect::SetRange {
                db,
                key,
                offset,
                data,
            } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let _ = string::setrange(&mut cx, key, *offset as i64, data);
            }
            Effect::HSet { db, key, pairs } => {
                let lim = self.limits();
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                let mut g = cx.lock(&[key]);
                if g.peek(key)
                    .is_none_or(|e| e.value.kind() == crate::types::Kind::Hash)
                {
                    crate::types::hash::apply_set(&mut g, key, pairs, &lim);
                }
            }
            Effect::HDel { db, key, fields } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::hash::apply_del(&mut cx.lock(&[key]), key, fields);
            }
            Effect::HExpire { db, key, fields } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::hash::apply_expire(&mut cx.lock(&[key]), key, fields);
            }
            Effect::ListPush { db, .. }
            | Effect::ListPop { db, .. }
            | Effect::ListSet { db, .. }
            | Effect::ListTrim { db, .. }
            | Effect::ListRem { db, .. }
            | Effect::ListInsert { db, .. } => {
                let lim = self.limits();
                let key = match e {
                    Effect::ListPush { key, .. }
                    | Effect::ListPop { key, .. }
                    | Effect::ListSet { key, .. }
                    | Effect::ListTrim { key, .. }
                    | Effect::ListRem { key, .. }
                    | Effect::ListInsert { key, .. } => key,
                    _ => unreachable!(),
                };
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::list::apply(&mut cx.lock(&[key]), e, &lim);
            }
            Effect::SAdd { db, key, members } => {
                let lim = self.limits();
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::set::apply_add(&mut cx.lock(&[key]), key, members, &lim);
            }
            Effect::SRem { db, key, members } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::set::apply_rem(&mut cx.lock(&[key]), key, members);
            }
            Effect::ZAdd { db, key, pairs } => {
                let lim = self.limits();
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::zset::apply_add(&mut cx.lock(&[key]), key, pairs, &lim);
            }
            Effect::ZRem { db, key, members } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::zset::apply_rem(&mut cx.lock(&[key]), key, members);
            }
            Effect::XAdd { db, key, .. }
            | Effect::XTrim { db, key, .. }
            | Effect::XDel { db, key, .. }
            | Effect::XSetId { db, key, .. }
            | Effect::XGroupSet { db, key, .. }
            | Effect::XGroupDestroy { db, key, .. }
            | Effect::XConsumerSet { db, key, .. }
            | Effect::XConsumerDel { db, key, .. }
            | Effect::XPelSet { db, key, .. }
            | Effect::XPelDel { db, key, .. } => {
                let lim = self.limits().stream_node;
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::stream::ops::apply(&mut cx.lock(&[key]), e, lim);
            }
            Effect::JsonSet { db, key, doc } => {
                let mut cx = Ctx::new(self, db_of(*db), &mut scratch);
                crate::types::json::apply_set(&mut cx.lock(&[key]), key, doc);
            }
            Effect::SearchDefine { args } => {
                // A definition this build refuses (it was accepted when logged) is skipped
                // rather than failing the whole load.
                if let Some((name, rest)) = args.split_first() {
                    let rest: Vec<bytes::Bytes> = rest
                        .iter()
                        .map(|a| bytes::Bytes::copy_from_slice(a))
                        .collect();
                    let name = String::from_utf8_lossy(name);
                    if let Ok(def) = crate::search::Def::parse(&name, &rest) {
                        let _ = self.search.define(def, true);
                    }
                }
            }
            Effect::SearchDrop { name } => {
                self.search.drop_index(&String::from_utf8_lossy(name));
            }
        }
        Ok(())
    }

    /// Every live key with its value and expiry, sorted: for tests that compare two engines.
    pub fn dump(&self) -> Vec<(usize, Vec<u8>, Vec<u8>, u64)> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for (i, d) in self.dbs.iter().enumerate() {
            for s in d.shards.iter() {
                let s = s.lock();
                for (k, e) in s.dict.iter() {
                    if !e.is_expired(now) {
                        let v = e.value.canonical();
                        out.push((i, k.to_vec(), v, e.expire_at));
                    }
                }
                let _ = s.for_each_cold(self, |k, e| {
                    if !e.is_expired(now) {
                        out.push((i, k.to_vec(), e.value.canonical(), e.expire_at));
                    }
                    true
                });
            }
        }
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }
}

fn free<T: Send + 'static>(old: T, lazy: bool) {
    if lazy {
        std::thread::spawn(move || drop(old));
    } else {
        drop(old);
    }
}
