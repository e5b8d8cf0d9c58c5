//! SORT and SORT_RO over lists, sets and sorted sets, with BY and GET patterns (`*` replaced
//! by the element, `->field` reading a hash field), LIMIT, ALPHA, DESC and STORE.
//!
//! Patterns name keys that are only known once the elements are, so SORT runs under the
//! engine's exclusive gate (like KEYS) and locks one shard at a time.

use std::cmp::Ordering;

use super::{bulk, hash, list, set, zset, Kind, Value};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::error::{self, CmdError};
use crate::reply::Reply;

#[derive(Debug, Clone, Default)]
pub struct SortOpts {
    pub by: Option<Vec<u8>>,
    pub limit: Option<(i64, i64)>,
    pub get: Vec<Vec<u8>>,
    pub desc: bool,
    pub alpha: bool,
    pub store: Option<Vec<u8>>,
}

/// Redis's lookupKeyByPattern: the string (or hash field) the pattern names for `elem`.
fn lookup(cx: &mut Ctx, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| p + star + 1)
        .filter(|&p| p + 2 < pattern.len());
    let key_pat = match arrow {
        Some(p) => &pattern[..p],
        None => pattern,
    };
    let mut key = Vec::with_capacity(key_pat.len() + elem.len());
    key.extend_from_slice(&key_pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&key_pat[star + 1..]);
    let mut g = cx.lock(&[&key]);
    let e = g.get(&key)?;
    match arrow {
        Some(p) => {
            if e.value.kind() != Kind::Hash {
                return None;
            }
            hash::get(&e.value, &pattern[p + 2..]).map(|v| v.to_vec())
        }
        None => e.value.string_bytes().map(|b| b.to_vec()),
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

pub fn sort(cx: &mut Ctx, key: &[u8], o: &SortOpts) -> Result<Reply, CmdError> {
    // The elements, in the value's own order.
    let (kind, mut elems) = {
        let mut g = cx.lock(&[key]);
        match g.get(key) {
            None => (None, Vec::new()),
            Some(e) => {
                let v: &Value = &e.value;
                match v.kind() {
                    Kind::List => (Some(Kind::List), list::elements(v)),
                    Kind::Set => (Some(Kind::Set), set::members(v)),
                    Kind::ZSet => (
                        Some(Kind::ZSet),
                        zset::entries(v).into_iter().map(|(m, _)| m).collect(),
                    ),
                    _ => return Err(error::WRONGTYPE),
                }
            }
        }
    };
    let mut dontsort = o.by.as_ref().is_some_and(|b| !b.contains(&b'*'));
    let mut alpha = o.alpha;
    let mut by = o.by.clone();
    // A set's order is arbitrary: stored results are sorted so they are reproducible.
    if dontsort && kind == Some(Kind::Set) && o.store.is_some() {
        dontsort = false;
        alpha = true;
        by = None;
    }
    // A list or sorted set read without sorting keeps its order, reversed for DESC.
    if dontsort && matches!(kind, Some(Kind::ZSet | Kind::List)) && o.desc {
        elems.reverse();
    }
    let n = elems.len() as i64;
    let (mut start, mut end) = match o.limit {
        None => (0, n - 1),
        Some((off, cnt)) => {
            let s = off.max(0);
            let e = if cnt < 0 {
                n - 1
            } else {
                s.saturating_add(cnt) - 1
            };
            (s, e)
        }
    };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    if end >= n {
        end = n - 1;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    if !dontsort {
        let mut bad = false;
        for it in items.iter_mut() {
            let byval = match &by {
                Some(p) => lookup(cx, p, &it.elem),
                None => Some(it.elem.clone()),
            };
            if alpha {
                if by.is_some() {
                    it.cmp = byval;
                }
            } else if let Some(b) = byval {
                match super::strtod(&b) {
                    Some(s) => it.score = s,
                    None => bad = true,
                }
            }
        }
        if bad {
            return Err(error::SORT_NOT_DOUBLE);
        }
        let by_set = by.is_some();
        items.sort_by(|a, b| {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by_set {
                match (&a.cmp, &b.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    let picked: &[Item] = if start <= end && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for it in picked {
        if o.get.is_empty() {
            out.push(Some(it.elem.clone()));
        }
        for p in &o.get {
            out.push(lookup(cx, p, &it.elem));
        }
    }
    let Some(dst) = &o.store else {
        return Ok(Reply::Array(
            out.iter()
                .map(|v| v.as_ref().map_or(Reply::Nil, |b| bulk(b)))
                .collect(),
        ));
    };
    let lim = cx.eng.limits();
    let mut g = cx.lock(&[dst]);
    let db = g.db as u32;
    let existed = g.remove(dst).is_some();
    if existed || !out.is_empty() {
        g.log(|| Effect::Del {
            db,
            key: dst.clone(),
        });
    }
    if !out.is_empty() {
        let elems: Vec<&[u8]> = out.iter().map(|v| v.as_deref().unwrap_or(b"")).collect();
        list::push_locked(&mut g, dst, false, &elems, &lim);
    }
    Ok(Reply::Int(out.len() as i64))
}
