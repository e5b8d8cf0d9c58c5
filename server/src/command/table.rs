//! The one command table. Arity, flags, key positions and ACL categories follow Redis 7.2's
//! `commands/*.json`.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::flag::*;
use super::{
    bitmaps, connection, hashes, hll, json, keys, lists, pubsub, scripting, search, server, sets,
    sort, streams, strings, transactions, zsets, Cmd, Handler,
};

#[allow(clippy::too_many_arguments)]
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    acl: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Cmd {
    Cmd {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        acl,
        group,
        since,
        summary,
        handler,
    }
}

const NOKEY: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);

const W: u32 = WRITE | DENYOOM;
const WF: u32 = WRITE | DENYOOM | FAST;
const R: u32 = READONLY;
const RF: u32 = READONLY | FAST;

const STR_R: &[&str] = &["@read", "@string", "@fast"];
const STR_W: &[&str] = &["@write", "@string", "@fast"];
const STR_WS: &[&str] = &["@write", "@string", "@slow"];
const STR_RS: &[&str] = &["@read", "@string", "@slow"];
const KS_W: &[&str] = &["@keyspace", "@write", "@fast"];
const KS_WS: &[&str] = &["@keyspace", "@write", "@slow"];
const KS_R: &[&str] = &["@keyspace", "@read", "@fast"];
const KS_RS: &[&str] = &["@keyspace", "@read", "@slow", "@dangerous"];
const BIT_W: &[&str] = &["@write", "@bitmap", "@slow"];
const BIT_R: &[&str] = &["@read", "@bitmap", "@slow"];
const HLL_W: &[&str] = &["@write", "@hyperloglog", "@slow"];
const HLL_F: &[&str] = &["@write", "@hyperloglog", "@fast"];
const CONN: &[&str] = &["@fast", "@connection"];
const CONN_S: &[&str] = &["@slow", "@connection"];
const TX: &[&str] = &["@fast", "@transaction"];
const TX_S: &[&str] = &["@slow", "@transaction"];
const ADM: &[&str] = &["@admin", "@slow", "@dangerous"];
const H_W: &[&str] = &["@write", "@hash", "@fast"];
const H_R: &[&str] = &["@read", "@hash", "@fast"];
const H_RS: &[&str] = &["@read", "@hash", "@slow"];
const L_W: &[&str] = &["@write", "@list", "@fast"];
const L_WS: &[&str] = &["@write", "@list", "@slow"];
const L_R: &[&str] = &["@read", "@list", "@fast"];
const L_RS: &[&str] = &["@read", "@list", "@slow"];
const S_W: &[&str] = &["@write", "@set", "@fast"];
const S_WS: &[&str] = &["@write", "@set", "@slow"];
const S_R: &[&str] = &["@read", "@set", "@fast"];
const S_RS: &[&str] = &["@read", "@set", "@slow"];
const Z_W: &[&str] = &["@write", "@sortedset", "@fast"];
const Z_WS: &[&str] = &["@write", "@sortedset", "@slow"];
const Z_R: &[&str] = &["@read", "@sortedset", "@fast"];
const Z_RS: &[&str] = &["@read", "@sortedset", "@slow"];
const MK: u32 = MOVABLE_KEYS;
const L_WS_B: &[&str] = &["@write", "@list", "@slow", "@blocking"];
const Z_WS_B: &[&str] = &["@write", "@sortedset", "@slow", "@blocking"];
const SCR: &[&str] = &["@slow", "@scripting"];
const PS_S: &[&str] = &["@pubsub", "@slow"];
const PS_F: &[&str] = &["@pubsub", "@fast"];
const X_W: &[&str] = &["@write", "@stream", "@fast"];
const X_WS: &[&str] = &["@write", "@stream", "@slow"];
const X_R: &[&str] = &["@read", "@stream", "@fast"];
const X_RS: &[&str] = &["@read", "@stream", "@slow"];
const K2: (i32, i32, i32) = (2, 2, 1);
const KMGET: (i32, i32, i32) = (1, -2, 1);
const KMSET: (i32, i32, i32) = (1, -1, 3);
const J_W: &[&str] = &["@write", "@json", "@slow"];
const J_R: &[&str] = &["@read", "@json", "@slow"];
const FT_W: &[&str] = &["@write", "@search", "@slow"];
const FT_R: &[&str] = &["@read", "@search", "@slow"];

pub static COMMANDS: &[Cmd] = &[
    // connection
    c("ping", -1, FAST, NOKEY, CONN, "connection", "1.0.0", "Returns the server's liveliness response.", connection::ping),
    c("echo", 2, FAST, NOKEY, CONN, "connection", "1.0.0", "Returns the given string.", connection::echo),
    c("quit", -1, ALLOW_BUSY | NO_AUTH | LOADING | STALE | FAST | TX_CONTROL, NOKEY, CONN, "connection", "1.0.0", "Closes the connection.", connection::quit),
    c("reset", 1, NO_AUTH | LOADING | STALE | FAST | TX_CONTROL, NOKEY, CONN, "connection", "6.2.0", "Resets the connection.", connection::reset),
    c("select", 2, LOADING | STALE | FAST, NOKEY, CONN, "connection", "1.0.0", "Changes the selected database.", connection::select),
    c("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NOKEY, CONN, "connection", "6.0.0", "Handshakes with the Redis server.", connection::hello),
    c("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NOKEY, CONN, "connection", "1.0.0", "Authenticates the connection.", connection::auth),
    c("client", -2, NOSCRIPT | LOADING | STALE, NOKEY, CONN_S, "connection", "2.4.0", "A container for client connection commands.", connection::client),
    // pub/sub
    c("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEY, PS_S, "pubsub", "2.0.0", "Listens for messages published to channels.", pubsub::subscribe),
    c("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEY, PS_S, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", pubsub::unsubscribe),
    c("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEY, PS_S, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", pubsub::psubscribe),
    c("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NOKEY, PS_S, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", pubsub::punsubscribe),
    c("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, KALL, PS_S, "pubsub", "7.0.0", "Listens for messages published to shard channels.", pubsub::ssubscribe),
    c("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, KALL, PS_S, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", pubsub::sunsubscribe),
    c("publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, NOKEY, PS_F, "pubsub", "2.0.0", "Posts a message to a channel.", pubsub::publish),
    c("spublish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, K1, PS_F, "pubsub", "7.0.0", "Post a message to a shard channel", pubsub::spublish),
    c("pubsub", -2, NOKEY_FLAGS, NOKEY, &["@slow"], "pubsub", "2.8.0", "A container for Pub/Sub commands.", pubsub::pubsub),
    // scripting: a script holds the exclusive gate while it runs
    c("eval", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "2.6.0", "Executes a server-side Lua script.", scripting::eval),
    c("evalsha", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", scripting::evalsha),
    c("eval_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", scripting::eval_ro),
    c("evalsha_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", scripting::evalsha_ro),
    c("fcall", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "7.0.0", "Invokes a function.", scripting::fcall),
    c("fcall_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | MK | EXCLUSIVE, NOKEY, SCR, "scripting", "7.0.0", "Invokes a read-only function.", scripting::fcall_ro),
    c("function", -2, NOSCRIPT | EXCLUSIVE, NOKEY, &["@slow"], "scripting", "7.0.0", "A container for function commands.", scripting::function),
    c("script", -2, NOKEY_FLAGS, NOKEY, &["@slow"], "scripting", "2.6.0", "A container for Lua scripts management commands.", scripting::script),
    // server
    c("info", -1, LOADING | STALE, NOKEY, &["@slow", "@dangerous"], "server", "1.0.0", "Returns information and statistics about the server.", server::info),
    c("dbsize", 1, RF, NOKEY, &["@keyspace", "@read", "@fast"], "server", "1.0.0", "Returns the number of keys in the database.", server::dbsize),
    c("flushdb", -1, WRITE | EXCLUSIVE, NOKEY, KS_RS, "server", "1.0.0", "Removes all keys from the current database.", server::flushdb),
    c("flushall", -1, WRITE | EXCLUSIVE, NOKEY, KS_RS, "server", "1.0.0", "Removes all keys from all databases.", server::flushall),
    c("swapdb", 3, WRITE | FAST | EXCLUSIVE, NOKEY, &["@keyspace", "@write", "@fast", "@dangerous"], "server", "4.0.0", "Swaps two Redis databases.", server::swapdb),
    c("save", 1, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, NOKEY, ADM, "server", "1.0.0", "Synchronously saves the database(s) to disk.", server::save),
    c("bgsave", -1, ADMIN | NOSCRIPT | EXCLUSIVE, NOKEY, ADM, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", server::bgsave),
    c("bgrewriteaof", 1, ADMIN | NOSCRIPT | EXCLUSIVE, NOKEY, ADM, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk.", server::bgrewriteaof),
    c("lastsave", 1, LOADING | STALE | FAST, NOKEY, &["@admin", "@fast", "@dangerous"], "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", server::lastsave),
    c("time", 1, LOADING | STALE | FAST, NOKEY, &["@fast"], "server", "2.6.0", "Returns the server time.", server::time),
    c("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | EXCLUSIVE, NOKEY, ADM, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", server::shutdown),
    c("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, NOKEY, ADM, "server", "1.0.0", "A container for debugging commands.", server::debug),
    c("config", -2, NOKEY_FLAGS | EXCLUSIVE, NOKEY, &["@slow"], "server", "2.0.0", "A container for server configuration commands.", server::config),
    c("command", -1, LOADING | STALE, NOKEY, &["@slow", "@connection"], "server", "2.8.13", "Returns detailed information about all commands.", server::command),
    c("memory", -2, 0, NOKEY, &["@slow"], "server", "4.0.0", "A container for memory diagnostics commands.", server::memory),
    c("cluster", -2, 0, NOKEY, &["@slow"], "cluster", "3.0.0", "A container for Redis Cluster commands.", server::cluster),
    // keys
    c("del", -2, WRITE, KALL, KS_WS, "generic", "1.0.0", "Deletes one or more keys.", keys::del),
    c("unlink", -2, WRITE | FAST, KALL, KS_W, "generic", "4.0.0", "Asynchronously deletes one or more keys.", keys::del),
    c("exists", -2, RF, KALL, KS_R, "generic", "1.0.0", "Determines whether one or more keys exist.", keys::exists),
    c("type", 2, RF, K1, KS_R, "generic", "1.0.0", "Determines the type of value stored at a key.", keys::type_),
    c("rename", 3, WRITE, K12, KS_WS, "generic", "1.0.0", "Renames a key and overwrites the destination.", keys::rename),
    c("renamenx", 3, WRITE | FAST, K12, KS_W, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", keys::renamenx),
    c("copy", -3, W | EXCLUSIVE, K12, KS_WS, "generic", "6.2.0", "Copies the value of a key to a new key.", keys::copy),
    c("move", 3, WRITE | FAST | EXCLUSIVE, K1, KS_W, "generic", "1.0.0", "Moves a key to another database.", keys::move_),
    c("expire", -3, WRITE | FAST, K1, KS_W, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", keys::expire),
    c("pexpire", -3, WRITE | FAST, K1, KS_W, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", keys::pexpire),
    c("expireat", -3, WRITE | FAST, K1, KS_W, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", keys::expireat),
    c("pexpireat", -3, WRITE | FAST, K1, KS_W, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", keys::pexpireat),
    c("ttl", 2, RF, K1, KS_R, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", keys::ttl),
    c("pttl", 2, RF, K1, KS_R, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", keys::pttl),
    c("expiretime", 2, RF, K1, KS_R, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", keys::expiretime),
    c("pexpiretime", 2, RF, K1, KS_R, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", keys::pexpiretime),
    c("persist", 2, WRITE | FAST, K1, KS_W, "generic", "2.2.0", "Removes the expiration time of a key.", keys::persist),
    c("keys", 2, R | EXCLUSIVE, NOKEY, KS_RS, "generic", "1.0.0", "Returns all key names that match a pattern.", keys::keys),
    c("scan", -2, R, NOKEY, &["@keyspace", "@read", "@slow"], "generic", "2.8.0", "Iterates over the key names in the database.", keys::scan),
    c("randomkey", 1, R, NOKEY, &["@keyspace", "@read", "@slow"], "generic", "1.0.0", "Returns a random key name from the database.", keys::randomkey),
    c("touch", -2, RF, KALL, KS_R, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", keys::touch),
    c("object", -2, 0, NOKEY, &["@slow"], "generic", "2.2.3", "A container for object introspection commands.", keys::object),
    // strings
    c("set", -3, W, K1, STR_WS, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", strings::set),
    c("get", 2, RF, K1, STR_R, "string", "1.0.0", "Returns the string value of a key.", strings::get),
    c("getex", -2, WRITE | FAST, K1, STR_W, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", strings::getex),
    c("getdel", 2, WRITE | FAST, K1, STR_W, "string", "6.2.0", "Returns the string value of a key after deleting the key.", strings::getdel),
    c("getset", 3, WF, K1, STR_W, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", strings::getset),
    c("setnx", 3, WF, K1, STR_W, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", strings::setnx),
    c("setex", 4, W, K1, STR_WS, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", strings::setex),
    c("psetex", 4, W, K1, STR_WS, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", strings::psetex),
    c("mset", -3, W, (1, -1, 2), STR_WS, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", strings::mset),
    c("msetnx", -3, W, (1, -1, 2), STR_WS, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", strings::msetnx),
    c("mget", -2, RF, KALL, STR_R, "string", "1.0.0", "Atomically returns the string values of one or more keys.", strings::mget),
    c("incr", 2, WF, K1, STR_W, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::incr),
    c("decr", 2, WF, K1, STR_W, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", strings::decr),
    c("incrby", 3, WF, K1, STR_W, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrby),
    c("decrby", 3, WF, K1, STR_W, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", strings::decrby),
    c("incrbyfloat", 3, WF, K1, STR_W, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", strings::incrbyfloat),
    c("append", 3, WF, K1, STR_W, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", strings::append),
    c("strlen", 2, RF, K1, STR_R, "string", "2.2.0", "Returns the length of a string value.", strings::strlen),
    c("setrange", 4, W, K1, STR_WS, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", strings::setrange),
    c("getrange", 4, R, K1, STR_RS, "string", "2.4.0", "Returns a substring of the string stored at a key.", strings::getrange),
    c("substr", 4, R, K1, STR_RS, "string", "1.0.0", "Returns a substring from a string value.", strings::getrange),
    c("lcs", -3, R, K12, STR_RS, "string", "7.0.0", "Finds the longest common substring.", strings::lcs),
    // bitmaps
    c("setbit", 4, W, K1, BIT_W, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", bitmaps::setbit),
    c("getbit", 3, RF, K1, &["@read", "@bitmap", "@fast"], "bitmap", "2.2.0", "Returns a bit value by offset.", bitmaps::getbit),
    c("bitcount", -2, R, K1, BIT_R, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", bitmaps::bitcount),
    c("bitpos", -3, R, K1, BIT_R, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", bitmaps::bitpos),
    c("bitop", -4, W, (2, -1, 1), BIT_W, "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", bitmaps::bitop),
    c("bitfield", -2, W, K1, BIT_W, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", bitmaps::bitfield),
    c("bitfield_ro", -2, RF, K1, &["@read", "@bitmap", "@fast"], "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", bitmaps::bitfield_ro),
    // hyperloglog
    c("pfadd", -2, WF, K1, HLL_F, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", hll::pfadd),
    c("pfcount", -2, R | MAY_REPLICATE, KALL, &["@read", "@hyperloglog", "@slow"], "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", hll::pfcount),
    c("pfmerge", -2, W, KALL, HLL_W, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", hll::pfmerge),
    // hashes
    c("hset", -4, WF, K1, H_W, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", hashes::hset),
    c("hmset", -4, WF, K1, H_W, "hash", "2.0.0", "Sets the values of multiple fields.", hashes::hmset),
    c("hsetnx", 4, WF, K1, H_W, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", hashes::hsetnx),
    c("hget", 3, RF, K1, H_R, "hash", "2.0.0", "Returns the value of a field in a hash.", hashes::hget),
    c("hmget", -3, RF, K1, H_R, "hash", "2.0.0", "Returns the values of all fields in a hash.", hashes::hmget),
    c("hgetall", 2, R, K1, H_RS, "hash", "2.0.0", "Returns all fields and values in a hash.", hashes::hgetall),
    c("hkeys", 2, R, K1, H_RS, "hash", "2.0.0", "Returns all fields in a hash.", hashes::hkeys),
    c("hvals", 2, R, K1, H_RS, "hash", "2.0.0", "Returns all values in a hash.", hashes::hvals),
    c("hdel", -3, WRITE | FAST, K1, H_W, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hashes::hdel),
    c("hlen", 2, RF, K1, H_R, "hash", "2.0.0", "Returns the number of fields in a hash.", hashes::hlen),
    c("hexists", 3, RF, K1, H_R, "hash", "2.0.0", "Determines whether a field exists in a hash.", hashes::hexists),
    c("hstrlen", 3, RF, K1, H_R, "hash", "3.2.0", "Returns the length of the value of a field.", hashes::hstrlen),
    c("hincrby", 4, WF, K1, H_W, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrby),
    c("hincrbyfloat", 4, WF, K1, H_W, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hashes::hincrbyfloat),
    c("hrandfield", -2, R, K1, H_RS, "hash", "6.2.0", "Returns one or more random fields from a hash.", hashes::hrandfield),
    c("hscan", -3, R, K1, H_RS, "hash", "2.8.0", "Iterates over fields and values of a hash.", hashes::hscan),
    c("hexpire", -6, WF, K1, H_W, "hash", "7.4.0", "Set expiry for hash field using relative time to expire (seconds)", hashes::hexpire),
    c("hpexpire", -6, WF, K1, H_W, "hash", "7.4.0", "Set expiry for hash field using relative time to expire (milliseconds)", hashes::hpexpire),
    c("hexpireat", -6, WF, K1, H_W, "hash", "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (seconds)", hashes::hexpireat),
    c("hpexpireat", -6, WF, K1, H_W, "hash", "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (milliseconds)", hashes::hpexpireat),
    c("httl", -5, RF, K1, H_R, "hash", "7.4.0", "Returns the TTL in seconds of a hash field.", hashes::httl),
    c("hpttl", -5, RF, K1, H_R, "hash", "7.4.0", "Returns the TTL in milliseconds of a hash field.", hashes::hpttl),
    c("hexpiretime", -5, RF, K1, H_R, "hash", "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in seconds.", hashes::hexpiretime),
    c("hpexpiretime", -5, RF, K1, H_R, "hash", "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in msec.", hashes::hpexpiretime),
    c("hpersist", -5, WRITE | FAST, K1, H_W, "hash", "7.4.0", "Removes the expiration time for each specified field", hashes::hpersist),
    // lists
    c("lpush", -3, WF, K1, L_W, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", lists::lpush),
    c("rpush", -3, WF, K1, L_W, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", lists::rpush),
    c("lpushx", -3, WF, K1, L_W, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", lists::lpushx),
    c("rpushx", -3, WF, K1, L_W, "list", "2.2.0", "Appends an element to a list only when the list exists.", lists::rpushx),
    c("lpop", -2, WRITE | FAST, K1, L_W, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", lists::lpop),
    c("rpop", -2, WRITE | FAST, K1, L_W, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", lists::rpop),
    c("llen", 2, RF, K1, L_R, "list", "1.0.0", "Returns the length of a list.", lists::llen),
    c("lindex", 3, R, K1, L_RS, "list", "1.0.0", "Returns an element from a list by its index.", lists::lindex),
    c("lset", 4, W, K1, L_WS, "list", "1.0.0", "Sets the value of an element in a list by its index.", lists::lset),
    c("lrange", 4, R, K1, L_RS, "list", "1.0.0", "Returns a range of elements from a list.", lists::lrange),
    c("ltrim", 4, WRITE, K1, L_WS, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", lists::ltrim),
    c("lrem", 4, WRITE, K1, L_WS, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", lists::lrem),
    c("linsert", 5, W, K1, L_WS, "list", "2.2.0", "Inserts an element before or after another element in a list.", lists::linsert),
    c("lpos", -3, R, K1, L_RS, "list", "6.0.6", "Returns the index of matching elements in a list.", lists::lpos),
    c("lmove", 5, W, K12, L_WS, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", lists::lmove),
    c("rpoplpush", 3, W, K12, L_WS, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", lists::rpoplpush),
    c("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), L_WS_B, "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blpop),
    c("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), L_WS_B, "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpop),
    c("blmove", 6, W | NOSCRIPT | BLOCKING, K12, L_WS_B, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", lists::blmove),
    c("brpoplpush", 4, W | NOSCRIPT | BLOCKING, K12, L_WS_B, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", lists::brpoplpush),
    c("blmpop", -5, WRITE | NOSCRIPT | BLOCKING | MK, NOKEY, L_WS_B, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", lists::blmpop),
    c("lmpop", -4, WRITE | MK, NOKEY, L_WS, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", lists::lmpop),
    // sets
    c("sadd", -3, WF, K1, S_W, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", sets::sadd),
    c("srem", -3, WRITE | FAST, K1, S_W, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", sets::srem),
    c("smembers", 2, R, K1, S_RS, "set", "1.0.0", "Returns all members of a set.", sets::smembers),
    c("sismember", 3, RF, K1, S_R, "set", "1.0.0", "Determines whether a member belongs to a set.", sets::sismember),
    c("smismember", -3, RF, K1, S_R, "set", "6.2.0", "Determines whether multiple members belong to a set.", sets::smismember),
    c("scard", 2, RF, K1, S_R, "set", "1.0.0", "Returns the number of members in a set.", sets::scard),
    c("smove", 4, WRITE | FAST, K12, S_W, "set", "1.0.0", "Moves a member from one set to another.", sets::smove),
    c("spop", -2, WRITE | FAST, K1, S_W, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", sets::spop),
    c("srandmember", -2, R, K1, S_RS, "set", "1.0.0", "Get one or multiple random members from a set", sets::srandmember),
    c("sscan", -3, R, K1, S_RS, "set", "2.8.0", "Iterates over members of a set.", sets::sscan),
    c("sinter", -2, R, KALL, S_RS, "set", "1.0.0", "Returns the intersect of multiple sets.", sets::sinter),
    c("sunion", -2, R, KALL, S_RS, "set", "1.0.0", "Returns the union of multiple sets.", sets::sunion),
    c("sdiff", -2, R, KALL, S_RS, "set", "1.0.0", "Returns the difference of multiple sets.", sets::sdiff),
    c("sinterstore", -3, W, KALL, S_WS, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", sets::sinterstore),
    c("sunionstore", -3, W, KALL, S_WS, "set", "1.0.0", "Stores the union of multiple sets in a key.", sets::sunionstore),
    c("sdiffstore", -3, W, KALL, S_WS, "set", "1.0.0", "Stores the difference of multiple sets in a key.", sets::sdiffstore),
    c("sintercard", -3, R | MK, NOKEY, S_RS, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", sets::sintercard),
    // sorted sets
    c("zadd", -4, WF, K1, Z_W, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zsets::zadd),
    c("zincrby", 4, WF, K1, Z_W, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", zsets::zincrby),
    c("zrem", -3, WRITE | FAST, K1, Z_W, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zsets::zrem),
    c("zcard", 2, RF, K1, Z_R, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", zsets::zcard),
    c("zscore", 3, RF, K1, Z_R, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", zsets::zscore),
    c("zmscore", -3, RF, K1, Z_R, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", zsets::zmscore),
    c("zrank", -3, RF, K1, Z_R, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zsets::zrank),
    c("zrevrank", -3, RF, K1, Z_R, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zsets::zrevrank),
    c("zcount", 4, RF, K1, Z_R, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zsets::zcount),
    c("zlexcount", 4, RF, K1, Z_R, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zsets::zlexcount),
    c("zrange", -4, R, K1, Z_RS, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", zsets::zrange),
    c("zrangestore", -5, W, K12, Z_WS, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", zsets::zrangestore),
    c("zrangebyscore", -4, R, K1, Z_RS, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", zsets::zrangebyscore),
    c("zrevrangebyscore", -4, R, K1, Z_RS, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zsets::zrevrangebyscore),
    c("zrangebylex", -4, R, K1, Z_RS, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", zsets::zrangebylex),
    c("zrevrangebylex", -4, R, K1, Z_RS, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zsets::zrevrangebylex),
    c("zrevrange", -4, R, K1, Z_RS, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zsets::zrevrange),
    c("zremrangebyrank", 4, WRITE, K1, Z_WS, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zsets::zremrangebyrank),
    c("zremrangebyscore", 4, WRITE, K1, Z_WS, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zsets::zremrangebyscore),
    c("zremrangebylex", 4, WRITE, K1, Z_WS, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zsets::zremrangebylex),
    c("zpopmin", -2, WRITE | FAST, K1, Z_W, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmin),
    c("zpopmax", -2, WRITE | FAST, K1, Z_W, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zsets::zpopmax),
    c("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), Z_WS_B, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzpopmin),
    c("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), Z_WS_B, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", zsets::bzpopmax),
    c("bzmpop", -5, WRITE | NOSCRIPT | BLOCKING | MK, NOKEY, Z_WS_B, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", zsets::bzmpop),
    c("zmpop", -4, WRITE | MK, NOKEY, Z_WS, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zsets::zmpop),
    c("zrandmember", -2, R, K1, Z_RS, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", zsets::zrandmember),
    c("zscan", -3, R, K1, Z_RS, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", zsets::zscan),
    c("zunion", -3, R | MK, NOKEY, Z_RS, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", zsets::zunion),
    c("zinter", -3, R | MK, NOKEY, Z_RS, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", zsets::zinter),
    c("zdiff", -3, R | MK, NOKEY, Z_RS, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", zsets::zdiff),
    c("zunionstore", -4, W | MK, K1, Z_WS, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", zsets::zunionstore),
    c("zinterstore", -4, W | MK, K1, Z_WS, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", zsets::zinterstore),
    c("zdiffstore", -4, W | MK, K1, Z_WS, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", zsets::zdiffstore),
    c("zintercard", -3, R | MK, NOKEY, Z_RS, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", zsets::zintercard),
    // streams
    c("xadd", -5, WF, K1, X_W, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", streams::xadd),
    c("xlen", 2, RF, K1, X_R, "stream", "5.0.0", "Return the number of messages in a stream.", streams::xlen),
    c("xrange", -4, R, K1, X_RS, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", streams::xrange),
    c("xrevrange", -4, R, K1, X_RS, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", streams::xrevrange),
    c("xdel", -3, WRITE | FAST, K1, X_W, "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", streams::xdel),
    c("xtrim", -4, WRITE, K1, X_WS, "stream", "5.0.0", "Deletes messages from the beginning of a stream.", streams::xtrim),
    c("xsetid", -3, WF, K1, X_W, "stream", "5.0.0", "An internal command for replicating stream values.", streams::xsetid),
    c("xread", -4, R | BLOCKING | MK, NOKEY, &["@read", "@stream", "@slow", "@blocking"], "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", streams::xread),
    c("xreadgroup", -7, WRITE | BLOCKING | MK, NOKEY, &["@write", "@stream", "@slow", "@blocking"], "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", streams::xreadgroup),
    c("xack", -4, WRITE | FAST, K1, X_W, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", streams::xack),
    c("xpending", -3, R, K1, X_RS, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", streams::xpending),
    c("xclaim", -6, WRITE | FAST, K1, X_W, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", streams::xclaim),
    c("xautoclaim", -6, WRITE | FAST, K1, X_W, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", streams::xautoclaim),
    c("xgroup", -2, WRITE, K2, &["@slow"], "stream", "5.0.0", "A container for consumer groups commands.", streams::xgroup),
    c("xinfo", -2, 0, K2, &["@slow"], "stream", "5.0.0", "A container for stream introspection commands.", streams::xinfo),
    // sort
    c("sort", -2, W | MK | EXCLUSIVE, K1, &["@write", "@set", "@sortedset", "@list", "@slow", "@dangerous"], "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", sort::sort),
    c("sort_ro", -2, R | EXCLUSIVE, K1, &["@read", "@set", "@sortedset", "@list", "@slow", "@dangerous"], "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", sort::sort_ro),
    // transactions
    c("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, NOKEY, TX, "transactions", "1.2.0", "Starts a transaction.", transactions::multi),
    c("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | TX_CONTROL | EXCLUSIVE, NOKEY, TX_S, "transactions", "1.2.0", "Executes all commands in a transaction.", transactions::exec),
    c("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, NOKEY, TX, "transactions", "2.0.0", "Discards a transaction.", transactions::discard),
    c("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, KALL, TX, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", transactions::watch),
    c("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NOKEY, TX, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", transactions::unwatch),
    // JSON documents (RedisJSON)
    c("json.set", -4, W, K1, J_W, "json", "2.0.0", "Sets or updates the JSON value at a path.", json::json_set),
    c("json.get", -2, R, K1, J_R, "json", "2.0.0", "Gets the value at one or more paths in JSON serialized form.", json::json_get),
    c("json.mget", -3, R, KMGET, J_R, "json", "2.0.0", "Returns the values at a path from one or more keys.", json::json_mget),
    c("json.mset", -4, W, KMSET, J_W, "json", "2.0.0", "Sets or updates the JSON value of one or more keys.", json::json_mset),
    c("json.del", -2, WRITE, K1, J_W, "json", "2.0.0", "Deletes a value.", json::json_del),
    c("json.forget", -2, WRITE, K1, J_W, "json", "2.0.0", "Deletes a value.", json::json_del),
    c("json.type", -2, R, K1, J_R, "json", "2.0.0", "Returns the type of the JSON value at a path.", json::json_type),
    c("json.numincrby", 4, W, K1, J_W, "json", "2.0.0", "Increments the numeric value at a path by a value.", json::json_numincrby),
    c("json.nummultby", 4, W, K1, J_W, "json", "2.0.0", "Multiplies the numeric value at a path by a value.", json::json_nummultby),
    c("json.strappend", -3, W, K1, J_W, "json", "2.0.0", "Appends a string to the JSON strings at a path.", json::json_strappend),
    c("json.strlen", -2, R, K1, J_R, "json", "2.0.0", "Returns the length of the JSON string at a path.", json::json_strlen),
    c("json.arrappend", -4, W, K1, J_W, "json", "2.0.0", "Appends one or more JSON values to the arrays at a path.", json::json_arrappend),
    c("json.arrinsert", -5, W, K1, J_W, "json", "2.0.0", "Inserts JSON values into the arrays at a path before an index.", json::json_arrinsert),
    c("json.arrlen", -2, R, K1, J_R, "json", "2.0.0", "Returns the length of the arrays at a path.", json::json_arrlen),
    c("json.arrpop", -2, WRITE, K1, J_W, "json", "2.0.0", "Removes and returns the element at an index in the arrays at a path.", json::json_arrpop),
    c("json.arrtrim", 5, WRITE, K1, J_W, "json", "2.0.0", "Trims the arrays at a path to a range.", json::json_arrtrim),
    c("json.arrindex", -4, R, K1, J_R, "json", "2.0.0", "Returns the index of the first occurrence of a value in the arrays at a path.", json::json_arrindex),
    c("json.objkeys", -2, R, K1, J_R, "json", "2.0.0", "Returns the keys of the objects at a path.", json::json_objkeys),
    c("json.objlen", -2, R, K1, J_R, "json", "2.0.0", "Returns the number of keys of the objects at a path.", json::json_objlen),
    c("json.toggle", 3, W, K1, J_W, "json", "2.0.0", "Toggles the boolean values at a path.", json::json_toggle),
    c("json.clear", -2, WRITE, K1, J_W, "json", "2.0.0", "Clears the arrays and objects, and zeroes the numbers, at a path.", json::json_clear),
    c("json.merge", 4, W, K1, J_W, "json", "2.0.0", "Merges a JSON value into the values at a path (RFC 7396).", json::json_merge),
    // search (RediSearch)
    c("ft.create", -2, W, NOKEY, FT_W, "search", "2.0.0", "Creates an index with the given schema.", search::ft_create),
    c("ft.alter", -3, W, NOKEY, FT_W, "search", "2.0.0", "Adds fields to an index's schema.", search::ft_alter),
    c("ft.dropindex", -2, WRITE, NOKEY, FT_W, "search", "2.0.0", "Deletes an index, and with DD its documents.", search::ft_dropindex),
    c("ft.search", -3, R, NOKEY, FT_R, "search", "2.0.0", "Searches an index with a query.", search::ft_search),
    c("ft.aggregate", -3, R, NOKEY, FT_R, "search", "2.0.0", "Runs a query and groups, sorts and limits its results.", search::ft_aggregate),
    c("ft.info", 2, R, NOKEY, FT_R, "search", "2.0.0", "Returns information and statistics on an index.", search::ft_info),
    c("ft._list", 1, R, NOKEY, FT_R, "search", "2.0.0", "Returns the names of all indexes.", search::ft_list),
    c("ft.tagvals", 3, R, NOKEY, FT_R, "search", "2.0.0", "Returns the distinct values of a TAG field.", search::ft_tagvals),
];

const NOKEY_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Cmd> {
    type Map = HashMap<Vec<u8>, &'static Cmd, foldhash::fast::FixedState>;
    static MAP: OnceLock<Map> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        COMMANDS
            .iter()
            .map(|c| (c.name.as_bytes().to_vec(), c))
            .collect()
    });
    if name.len() > 32 {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    map.get(&lower[..]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(seen.insert(c.name), "duplicate {}", c.name);
            assert!(c.arity != 0);
        }
        assert!(lookup(b"GeT").is_some());
        assert!(lookup(b"nosuch").is_none());
    }

    #[test]
    fn key_positions_follow_key_specs() {
        let mset = lookup(b"mset").unwrap();
        assert_eq!(mset.key_positions(5), vec![1, 3]);
        let bitop = lookup(b"bitop").unwrap();
        assert_eq!(bitop.key_positions(5), vec![2, 3, 4]);
        assert_eq!(lookup(b"get").unwrap().key_positions(2), vec![1]);
        let args = |s: &str| -> Vec<bytes::Bytes> {
            s.split(' ')
                .map(|w| bytes::Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let zu = lookup(b"zunionstore").unwrap();
        assert_eq!(
            zu.keys_in(&args("zunionstore d 2 a b WEIGHTS 1 2")),
            vec![1, 3, 4]
        );
        let lm = lookup(b"lmpop").unwrap();
        assert_eq!(lm.keys_in(&args("lmpop 2 a b LEFT")), vec![2, 3]);
        assert_eq!(lm.keys_in(&args("lmpop 9 a LEFT")), Vec::<usize>::new());
        let sort = lookup(b"sort").unwrap();
        assert_eq!(sort.keys_in(&args("sort l BY w_* STORE dst")), vec![1, 5]);
    }
}
