//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC runs under the engine's exclusive gate, so no other command interleaves with a
//! transaction, and its effects are committed together as one unit.

use std::sync::atomic::Ordering;

use strata_engine::ctx::Ctx;
use strata_engine::effect::Effects;
use strata_engine::error;
use strata_engine::keyspace::keys;
use strata_engine::reply::Reply;

use super::{execute_queued, Call};
use crate::client::{Client, Multi};
use crate::server::Server;

pub fn multi(call: &mut Call) -> Reply {
    if call.client.multi.is_some() {
        return Reply::Error(error::MULTI_NESTED);
    }
    call.client.multi = Some(Multi::default());
    call.client.info.multi.store(0, Ordering::Relaxed);
    Reply::Ok
}

pub fn discard(call: &mut Call) -> Reply {
    if call.client.multi.take().is_none() {
        return Reply::Error(error::DISCARD_WITHOUT_MULTI);
    }
    call.client.info.multi.store(-1, Ordering::Relaxed);
    unwatch_all(call.srv, call.client);
    Reply::Ok
}

/// Whether a WATCHed key changed, or expired after it was watched.
fn watch_broken(srv: &Server, client: &Client) -> bool {
    if client.watch_dirty.load(Ordering::Relaxed) {
        return true;
    }
    let mut scratch = Effects {
        list: Vec::new(),
        deferred: true,
        now: None,
        cmd: "",
        new_keys: false,
    };
    client.watched.iter().any(|(db, key)| {
        let mut cx = Ctx::new(&srv.engine, *db, &mut scratch);
        !srv.engine.watch.expired_at_watch(*db, key, client.id) && keys::is_expired(&mut cx, key)
    })
}

pub fn exec(call: &mut Call) -> Reply {
    let Some(m) = call.client.multi.take() else {
        return Reply::Error(error::EXEC_WITHOUT_MULTI);
    };
    call.client.info.multi.store(-1, Ordering::Relaxed);
    if m.aborted {
        unwatch_all(call.srv, call.client);
        return Reply::Error(error::EXECABORT);
    }
    if watch_broken(call.srv, call.client) {
        unwatch_all(call.srv, call.client);
        return Reply::NilArray;
    }
    // Watches are released before running, as in Redis, so the transaction's own writes
    // don't flag this client.
    unwatch_all(call.srv, call.client);
    let mut effects = Effects {
        list: Vec::new(),
        deferred: true,
        now: Some(call.srv.engine.now_ms()),
        cmd: "",
        new_keys: false,
    };
    let mut replies = Vec::with_capacity(m.queued.len());
    for args in &m.queued {
        replies.push(execute_queued(call.srv, call.client, args, &mut effects));
    }
    call.srv.engine.commit(&mut effects.list);
    Reply::Array(replies)
}

pub fn watch(call: &mut Call) -> Reply {
    if call.client.multi.is_some() {
        return Reply::Error(error::WATCH_IN_MULTI);
    }
    let db = call.client.db;
    for key in &call.args[1..] {
        if call
            .client
            .watched
            .iter()
            .any(|(d, k)| *d == db && k == key)
        {
            continue;
        }
        let mut scratch = Effects {
            list: Vec::new(),
            deferred: true,
            now: None,
            cmd: "",
            new_keys: false,
        };
        let expired = {
            let mut cx = Ctx::new(&call.srv.engine, db, &mut scratch);
            keys::is_expired(&mut cx, key)
        };
        call.srv
            .engine
            .watch
            .watch(db, key, call.client.id, &call.client.watch_dirty, expired);
        call.client.watched.push((db, key.clone()));
    }
    call.client
        .info
        .watching
        .store(call.client.watched.len(), Ordering::Relaxed);
    Reply::Ok
}

pub fn unwatch(call: &mut Call) -> Reply {
    unwatch_all(call.srv, call.client);
    Reply::Ok
}

pub fn unwatch_all(srv: &Server, client: &mut Client) {
    for (db, key) in client.watched.drain(..) {
        srv.engine.watch.unwatch(db, &key, client.id);
    }
    client.watch_dirty.store(false, Ordering::Relaxed);
    client.info.watching.store(0, Ordering::Relaxed);
}
