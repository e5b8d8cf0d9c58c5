//! Hostile input to the collection commands: thousands of random commands of every collection
//! family, with arguments drawn from a pool of extreme and malformed values (huge and negative
//! counts, i64 limits, NaN and infinities, empty strings, bad bounds), against one server.
//! Every command must get a reply, the server must stay up, and its memory accounting must
//! stay consistent (the dataset bytes INFO reports equal the sum of MEMORY USAGE over the keys).

mod common;

use common::{Resp, Server};

/// A small deterministic generator (xorshift64*), so a failure reproduces from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const COMMANDS: &[&str] = &[
    "HSET",
    "HSETNX",
    "HGET",
    "HMGET",
    "HDEL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HRANDFIELD",
    "HSCAN",
    "HEXPIRE",
    "HPEXPIRE",
    "HPEXPIREAT",
    "HTTL",
    "HPERSIST",
    "HGETALL",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LINDEX",
    "LSET",
    "LRANGE",
    "LTRIM",
    "LREM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "LMPOP",
    "SADD",
    "SREM",
    "SPOP",
    "SRANDMEMBER",
    "SMOVE",
    "SINTER",
    "SINTERCARD",
    "SUNIONSTORE",
    "SDIFF",
    "SSCAN",
    "SMEMBERS",
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGE",
    "ZRANGESTORE",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANK",
    "ZREVRANK",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYLEX",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZMPOP",
    "ZRANDMEMBER",
    "ZUNIONSTORE",
    "ZINTER",
    "ZDIFF",
    "ZINTERCARD",
    "ZSCAN",
    "SORT",
    "SORT_RO",
    "OBJECT",
    "DEL",
    "UNLINK",
    "COPY",
    "RENAME",
    "TYPE",
];

const KEYS: &[&str] = &["h", "l", "s", "z", "str", "{t}a", "{t}b"];

/// Arguments: extremes, options, malformed numbers and ordinary values.
const ARGS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "-3",
    "10",
    "100",
    "1000",
    "-1000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775807",
    "4294967296",
    "-4294967295",
    "1.5",
    "-0",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "1e308",
    "1e400",
    "0x10",
    "",
    " ",
    "abc",
    "(1",
    "(",
    "[a",
    "(b",
    "-",
    "+",
    "[",
    "*",
    "a*",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "COUNT",
    "MAXLEN",
    "LIMIT",
    "WITHSCORES",
    "WITHSCORE",
    "WITHVALUES",
    "BYSCORE",
    "BYLEX",
    "REV",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "FIELDS",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "MATCH",
    "NOVALUES",
    "BY",
    "GET",
    "#",
    "STORE",
    "ALPHA",
    "DESC",
    "ENCODING",
    "a",
    "b",
    "c",
    "field",
    "value",
    "h",
    "l",
    "s",
    "z",
    "{t}a",
    "{t}b",
];

fn random_command(r: &mut Rng) -> Vec<Vec<u8>> {
    let mut args: Vec<Vec<u8>> = vec![r.pick(COMMANDS).as_bytes().to_vec()];
    // Most commands take a key first; OBJECT a subcommand; LMPOP and friends a numkeys.
    args.push(r.pick(KEYS).as_bytes().to_vec());
    let n = (r.next() % 7) as usize;
    for _ in 0..n {
        if r.next().is_multiple_of(4) {
            args.push(r.pick(KEYS).as_bytes().to_vec());
        } else {
            args.push(r.pick(ARGS).as_bytes().to_vec());
        }
    }
    args
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(i) => i,
        other => panic!("expected an integer, got {}", other.render()),
    }
}

/// INFO memory's used_memory_dataset must equal the sum of MEMORY USAGE over every key
/// (both come from the same per-entry accounting; a drift means a write path forgot it).
fn check_accounting(c: &mut common::RawClient) {
    let Resp::Array(Some(keys)) = c.cmd(&[b"KEYS", b"*"]) else {
        panic!("KEYS did not answer an array");
    };
    let mut sum = 0;
    for k in keys {
        let Resp::Bulk(Some(k)) = k else { continue };
        if let Resp::Int(n) = c.cmd(&[b"MEMORY", b"USAGE", &k]) {
            sum += n;
        }
    }
    let info = match c.cmd(&[b"INFO", b"memory"]) {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO answered {}", other.render()),
    };
    let dataset: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_dataset:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory_dataset in INFO memory");
    assert_eq!(
        dataset, sum,
        "dataset accounting drifted from the keys' sizes"
    );
}

#[test]
fn random_hostile_collection_commands_never_break_the_server() {
    let server = Server::strata(&[]);
    let mut c = server.client();
    let seed = std::env::var("STRATA_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c011_ec71_0115u64);
    let mut r = Rng(seed | 1);
    // Seed each type with some content so commands meet real values of every encoding.
    c.cmd(&[b"HSET", b"h", b"a", b"1", b"b", b"2"]);
    c.cmd(&[b"RPUSH", b"l", b"a", b"b", b"c", b"a"]);
    c.cmd(&[b"SADD", b"s", b"1", b"2", b"a"]);
    c.cmd(&[b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c"]);
    c.cmd(&[b"SET", b"str", b"x"]);
    for i in 0..20_000 {
        let args = random_command(&mut r);
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let reply = c.try_cmd(&refs);
        assert!(
            reply.is_ok(),
            "no reply to command #{i} {} (seed {seed})\nlog:\n{}",
            common::show_command(&args),
            server.log()
        );
        if i % 2000 == 0 {
            check_accounting(&mut c);
            // Refill, so later commands still meet collections.
            c.cmd(&[b"RPUSH", b"l", b"x", b"y"]);
            c.cmd(&[b"ZADD", b"z", b"5", b"e"]);
        }
    }
    // Still serving, on this connection and a new one.
    assert_eq!(c.cmd(&[b"PING"]), Resp::Simple(b"PONG".to_vec()));
    let mut other = server.client();
    assert!(int(other.cmd(&[b"DBSIZE"])) >= 0);
    check_accounting(&mut other);
}
