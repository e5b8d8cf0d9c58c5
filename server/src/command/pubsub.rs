//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. Confirmations are push messages in RESP3 and
//! arrays in RESP2, one per channel, as Redis sends them.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_engine::reply::Reply;

use super::{subcommand, Call};
use crate::client::Client;
use crate::pubsub::{Kind, Subscriptions};
use crate::server::Server;

pub fn subscribe(call: &mut Call) -> Reply {
    add(call, Kind::Channel)
}

pub fn psubscribe(call: &mut Call) -> Reply {
    add(call, Kind::Pattern)
}

pub fn ssubscribe(call: &mut Call) -> Reply {
    add(call, Kind::Shard)
}

pub fn unsubscribe(call: &mut Call) -> Reply {
    remove(call, Kind::Channel)
}

pub fn punsubscribe(call: &mut Call) -> Reply {
    remove(call, Kind::Pattern)
}

pub fn sunsubscribe(call: &mut Call) -> Reply {
    remove(call, Kind::Shard)
}

fn confirm(word: &'static str, name: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk_str(word),
        name.map_or(Reply::Nil, Reply::Bulk),
        Reply::Int(count as i64),
    ])
}

fn add(call: &mut Call, kind: Kind) -> Reply {
    let c = &mut *call.client;
    let info = c.info.clone();
    let subs = c
        .subs
        .get_or_insert_with(|| Box::new(Subscriptions::new(info)));
    let mut out = Vec::with_capacity(call.args.len() - 1);
    for name in &call.args[1..] {
        if subs.add(kind, name) {
            call.srv.pubsub.subscribe(kind, name, &subs.mailbox);
        }
        out.push(confirm(
            kind.words().0,
            Some(name.clone()),
            subs.count(kind),
        ));
    }
    publish_counts(c);
    Reply::Many(out)
}

fn remove(call: &mut Call, kind: Kind) -> Reply {
    let c = &mut *call.client;
    let word = kind.words().1;
    let Some(subs) = c.subs.as_mut() else {
        if call.args.len() == 1 {
            return confirm(word, None, 0);
        }
        return Reply::Many(
            call.args[1..]
                .iter()
                .map(|n| confirm(word, Some(n.clone()), 0))
                .collect(),
        );
    };
    let names = if call.args.len() == 1 {
        subs.names(kind)
    } else {
        call.args[1..].to_vec()
    };
    if names.is_empty() {
        return confirm(word, None, subs.count(kind));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if subs.remove(kind, &name) {
            call.srv.pubsub.unsubscribe(kind, &name, c.id);
        }
        out.push(confirm(word, Some(name), subs.count(kind)));
    }
    publish_counts(c);
    Reply::Many(out)
}

/// CLIENT LIST's sub/psub/ssub fields.
fn publish_counts(c: &Client) {
    let (s, p, ss) = c.subs.as_ref().map_or((0, 0, 0), |s| {
        (
            s.len(Kind::Channel),
            s.len(Kind::Pattern),
            s.len(Kind::Shard),
        )
    });
    c.info.sub.store(s, Ordering::Relaxed);
    c.info.psub.store(p, Ordering::Relaxed);
    c.info.ssub.store(ss, Ordering::Relaxed);
}

/// Drops every subscription of a client (RESET, disconnect).
pub fn unsubscribe_all(srv: &Server, c: &mut Client) {
    if let Some(subs) = c.subs.take() {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in subs.names(kind) {
                srv.pubsub.unsubscribe(kind, &name, c.id);
            }
        }
    }
    publish_counts(c);
}

pub fn publish(call: &mut Call) -> Reply {
    Reply::Int(call.srv.pubsub.publish(call.arg(1), call.arg(2)) as i64)
}

pub fn spublish(call: &mut Call) -> Reply {
    Reply::Int(call.srv.pubsub.spublish(call.arg(1), call.arg(2)) as i64)
}

pub fn pubsub(call: &mut Call) -> Reply {
    subcommand(
        call,
        &[
            ("channels", -2, channels),
            ("numsub", -2, numsub),
            ("numpat", 2, numpat),
            ("shardchannels", -2, shardchannels),
            ("shardnumsub", -2, shardnumsub),
            ("help", 2, help),
        ],
    )
}

fn list_names(call: &mut Call, kind: Kind) -> Reply {
    if call.args.len() > 3 {
        return Reply::Error(strata_engine::error::CmdError::subcommand_syntax(
            &call.args[1],
            "pubsub",
        ));
    }
    let pattern = call.args.get(2).map(|p| p.as_ref());
    Reply::Array(
        call.srv
            .pubsub
            .names(kind, pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    )
}

fn channels(call: &mut Call) -> Reply {
    list_names(call, Kind::Channel)
}

fn shardchannels(call: &mut Call) -> Reply {
    list_names(call, Kind::Shard)
}

fn counts(call: &mut Call, kind: Kind) -> Reply {
    let mut out = Vec::with_capacity(2 * (call.args.len() - 2));
    for name in &call.args[2..] {
        out.push(Reply::Bulk(name.clone()));
        out.push(Reply::Int(call.srv.pubsub.count(kind, name) as i64));
    }
    Reply::Array(out)
}

fn numsub(call: &mut Call) -> Reply {
    counts(call, Kind::Channel)
}

fn shardnumsub(call: &mut Call) -> Reply {
    counts(call, Kind::Shard)
}

fn numpat(call: &mut Call) -> Reply {
    Reply::Int(call.srv.pubsub.len(Kind::Pattern) as i64)
}

fn help(_call: &mut Call) -> Reply {
    super::connection::help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
