//! Every error a client can see, with Redis 7.2's exact wording. Keep all error text here so
//! replies stay byte-identical to redis-server and a reviewer can diff them in one place.

use std::borrow::Cow;
use std::fmt;

/// A client error: the text after the leading `-` of a RESP error, without the CRLF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub const fn new(s: &'static str) -> CmdError {
        CmdError(Cow::Borrowed(s))
    }

    pub fn owned(s: String) -> CmdError {
        CmdError(Cow::Owned(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The error code: the first word, e.g. `WRONGTYPE` or `ERR`.
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("")
    }

    pub fn wrong_arity(cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }

    /// Redis builds this text with C string formatting: each argument is cut at a NUL byte,
    /// the argument list stops growing at 128 bytes, and CR/LF become spaces.
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> CmdError {
        let mut list: Vec<u8> = Vec::new();
        for a in args {
            if list.len() >= 128 {
                break;
            }
            let room = 128 - list.len();
            let a = c_str(a);
            list.push(b'\'');
            list.extend_from_slice(&a[..a.len().min(room)]);
            list.extend_from_slice(b"' ");
        }
        let name = c_str(name);
        let mut s = b"ERR unknown command '".to_vec();
        s.extend_from_slice(&name[..name.len().min(128)]);
        s.extend_from_slice(b"', with args beginning with: ");
        s.extend_from_slice(&list);
        for c in s.iter_mut() {
            if *c == b'\r' || *c == b'\n' {
                *c = b' ';
            }
        }
        CmdError::owned(String::from_utf8_lossy(&s).into_owned())
    }

    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            printable_trunc(sub, 128),
            cmd.to_ascii_uppercase()
        ))
    }

    /// A subcommand with arguments it does not take (Redis's generic subcommand error).
    pub fn subcommand_syntax(sub: &[u8], cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            printable_trunc(sub, 128),
            cmd.to_ascii_uppercase()
        ))
    }

    pub fn invalid_expire(cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR invalid expire time in '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }
}

/// The bytes a C `%s` would print: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// Redis prints unknown names with non-printable bytes escaped and long names cut short.
fn printable_trunc(b: &[u8], max: usize) -> String {
    let cut = &b[..b.len().min(max)];
    let mut s = String::with_capacity(cut.len());
    for &c in cut {
        match c {
            b'\n' | b'\r' => s.push(' '),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// Text of a client-supplied word inside an error, as Redis prints it.
fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl CmdError {
    pub fn hello_syntax(opt: &[u8]) -> CmdError {
        CmdError::owned(format!("ERR Syntax error in HELLO option '{}'", lossy(opt)))
    }

    pub fn unknown_client_type(t: &[u8]) -> CmdError {
        CmdError::owned(format!("ERR Unknown client type '{}'", lossy(t)))
    }

    pub fn no_such_user(u: &[u8]) -> CmdError {
        CmdError::owned(format!("ERR No such user '{}'", lossy(u)))
    }

    pub fn setinfo_bad_chars(attr: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            attr.to_ascii_lowercase()
        ))
    }

    pub fn unrecognized_option(o: &[u8]) -> CmdError {
        CmdError::owned(format!("ERR Unrecognized option '{}'", lossy(o)))
    }

    pub fn unsupported_option(o: &[u8]) -> CmdError {
        CmdError::owned(format!("ERR Unsupported option {}", lossy(o)))
    }

    pub fn wrong_subcommand_arity(cmd: &str, sub: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR wrong number of arguments for '{}|{}' command",
            cmd,
            sub.to_ascii_lowercase()
        ))
    }

    /// A refused EXEC: the transaction is discarded, and the reason follows (without `ERR`).
    pub fn execabort_because(e: &CmdError) -> CmdError {
        let msg = e.as_str().strip_prefix("ERR ").unwrap_or(e.as_str());
        CmdError::owned(format!("EXECABORT Transaction discarded because of: {msg}"))
    }

    pub fn config_unknown_option(name: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ))
    }

    pub fn subscribed_context(cmd: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ))
    }

    pub fn config_set_failed(name: &str, why: &str) -> CmdError {
        CmdError::owned(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    }

    pub fn config_rewrite_failed(why: &str) -> CmdError {
        CmdError::owned(format!("ERR Rewriting config file: {why}"))
    }

    /// An error whose whole text is `ERR <msg>`.
    pub fn err(msg: &str) -> CmdError {
        CmdError::owned(format!("ERR {msg}"))
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CmdError {}

pub const WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
pub const NOT_INTEGER: CmdError = CmdError::new("ERR value is not an integer or out of range");
pub const NOT_FLOAT: CmdError = CmdError::new("ERR value is not a valid float");
pub const OVERFLOW: CmdError = CmdError::new("ERR increment or decrement would overflow");
pub const INCR_NAN_INF: CmdError = CmdError::new("ERR increment would produce NaN or Infinity");
pub const SYNTAX: CmdError = CmdError::new("ERR syntax error");
pub const NO_SUCH_KEY: CmdError = CmdError::new("ERR no such key");
pub const OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range, must be positive");
pub const INDEX_OUT_OF_RANGE: CmdError = CmdError::new("ERR index out of range");
pub const DB_INDEX_OUT_OF_RANGE: CmdError = CmdError::new("ERR DB index is out of range");
pub const INVALID_DB_INDEX: CmdError = CmdError::new("ERR invalid DB index");
pub const SAME_OBJECT: CmdError = CmdError::new("ERR source and destination objects are the same");
pub const STRING_TOO_LONG: CmdError =
    CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
pub const BIT_OFFSET: CmdError = CmdError::new("ERR bit offset is not an integer or out of range");
pub const BIT_VALUE: CmdError = CmdError::new("ERR bit is not an integer or out of range");
pub const BGSAVE_IN_PROGRESS: CmdError = CmdError::new("ERR Background save already in progress");
pub const BGSAVE_AOF_ACTIVE: CmdError = CmdError::new(
    "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
);
pub const AOF_ON_FAILED: &str = "Unable to turn on AOF. Check server logs.";
pub const NUMKEYS_NEGATIVE: CmdError = CmdError::new("ERR Number of keys can't be negative");
pub const SCRIPT_UNKNOWN_COMMAND: CmdError =
    CmdError::new("ERR Unknown Redis command called from script");
pub const SCRIPT_WRONG_ARITY: CmdError =
    CmdError::new("ERR Wrong number of args calling Redis command from script");
pub const SCRIPT_NOT_ALLOWED: CmdError =
    CmdError::new("ERR This Redis command is not allowed from script");
pub const SCRIPT_READ_ONLY: CmdError =
    CmdError::new("ERR Write commands are not allowed from read-only scripts.");
pub const SCRIPT_FLUSH_SYNTAX: CmdError =
    CmdError::new("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
pub const BUSY_SCRIPT: CmdError = CmdError::new(
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
);
pub const NOTBUSY: CmdError = CmdError::new("NOTBUSY No scripts in execution right now.");
pub const UNKILLABLE: CmdError = CmdError::new(
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
);
pub const TIMEOUT_NOT_FLOAT: CmdError = CmdError::new("ERR timeout is not a float or out of range");
pub const UNBLOCKED: CmdError = CmdError::new("UNBLOCKED client unblocked via CLIENT UNBLOCK");
pub const NOAUTH: CmdError = CmdError::new("NOAUTH Authentication required.");
pub const WRONGPASS: CmdError =
    CmdError::new("WRONGPASS invalid username-password pair or user is disabled.");
pub const OOM: CmdError = CmdError::new("OOM command not allowed when used memory > 'maxmemory'.");
pub const EXEC_WITHOUT_MULTI: CmdError = CmdError::new("ERR EXEC without MULTI");
pub const DISCARD_WITHOUT_MULTI: CmdError = CmdError::new("ERR DISCARD without MULTI");
pub const MULTI_NESTED: CmdError = CmdError::new("ERR MULTI calls can not be nested");
pub const WATCH_IN_MULTI: CmdError = CmdError::new("ERR WATCH inside MULTI is not allowed");
pub const EXECABORT: CmdError =
    CmdError::new("EXECABORT Transaction discarded because of previous errors.");
pub const HLL_WRONGTYPE: CmdError =
    CmdError::new("WRONGTYPE Key is not a valid HyperLogLog string value.");
pub const HLL_INVALID: CmdError = CmdError::new("INVALIDOBJ Corrupted HLL object detected");
pub const TIMEOUT_NEGATIVE: CmdError = CmdError::new("ERR timeout is negative");
pub const BITFIELD_TYPE: CmdError = CmdError::new(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
pub const BITFIELD_OVERFLOW_TYPE: CmdError = CmdError::new("ERR Invalid OVERFLOW type specified");
pub const BITFIELD_RO_GET_ONLY: CmdError =
    CmdError::new("ERR BITFIELD_RO only supports the GET subcommand");
pub const BITPOS_BIT: CmdError = CmdError::new("ERR The bit argument must be 1 or 0.");
pub const BITOP_NOT_ONE_KEY: CmdError =
    CmdError::new("ERR BITOP NOT must be called with a single source key.");
pub const LCS_NOT_STRING: CmdError =
    CmdError::new("ERR The specified keys must contain string values");
pub const LCS_LEN_AND_IDX: CmdError =
    CmdError::new("ERR If you want both the length and indexes, please just use IDX.");
pub const LCS_TOO_LONG: CmdError = CmdError::new("ERR String too long for LCS");
pub const LCS_OVER_BULK_LEN: CmdError =
    CmdError::new("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
pub const LCS_ALLOC_FAILED: CmdError =
    CmdError::new("ERR Insufficient memory, failed allocating transient memory for LCS");
pub const INVALID_FIRST_DB: CmdError = CmdError::new("ERR invalid first DB index");
pub const INVALID_SECOND_DB: CmdError = CmdError::new("ERR invalid second DB index");
pub const NO_SHUTDOWN: CmdError = CmdError::new("ERR No shutdown in progress.");
pub const DEBUG_NOT_ALLOWED: CmdError = CmdError::new("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
pub const INVALID_COMMAND: CmdError = CmdError::new("ERR Invalid command specified");
pub const NO_KEY_ARGUMENTS: CmdError = CmdError::new("ERR The command has no key arguments");
pub const DECR_OVERFLOW: CmdError = CmdError::new("ERR decrement would overflow");
pub const INVALID_CURSOR: CmdError = CmdError::new("ERR invalid cursor");
pub const AUTH_WITHOUT_PASSWORD: CmdError = CmdError::new("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
pub const BAD_CLIENT_NAME: CmdError =
    CmdError::new("ERR Client names cannot contain spaces, newlines or special characters.");
pub const NOPROTO: CmdError = CmdError::new("NOPROTO unsupported protocol version");
pub const HELLO_NOAUTH: CmdError = CmdError::new("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
pub const INVALID_CLIENT_ID: CmdError = CmdError::new("ERR Invalid client ID");
pub const NO_SUCH_CLIENT: CmdError = CmdError::new("ERR No such client");
pub const CLIENT_ID_POSITIVE: CmdError = CmdError::new("ERR client-id should be greater than 0");
pub const NOT_INT32: CmdError =
    CmdError::new("ERR value is out of range, value must between -2147483648 and 2147483647");
pub const OFFSET_OUT_OF_RANGE: CmdError = CmdError::new("ERR offset is out of range");
pub const IDLETIME_UNDER_LFU: CmdError = CmdError::new("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
pub const FREQ_WITHOUT_LFU: CmdError = CmdError::new("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
pub const GETKEYS_ARITY: CmdError =
    CmdError::new("ERR Invalid number of arguments specified for command");
pub const CLUSTER_DISABLED: CmdError =
    CmdError::new("ERR This instance has cluster support disabled");
pub const EXPIRE_NX_AND_OTHERS: CmdError =
    CmdError::new("ERR NX and XX, GT or LT options at the same time are not compatible");
pub const EXPIRE_GT_AND_LT: CmdError =
    CmdError::new("ERR GT and LT options at the same time are not compatible");
pub const PROTO_NOT_INTEGER: CmdError =
    CmdError::new("ERR Protocol version is not an integer or out of range");
pub const HASH_NOT_INTEGER: CmdError = CmdError::new("ERR hash value is not an integer");
pub const HASH_NOT_FLOAT: CmdError = CmdError::new("ERR hash value is not a float");
pub const MIN_MAX_NOT_FLOAT: CmdError = CmdError::new("ERR min or max is not a float");
pub const MIN_MAX_NOT_LEX: CmdError = CmdError::new("ERR min or max not valid string range item");
pub const SCORE_NAN: CmdError = CmdError::new("ERR resulting score is not a number (NaN)");
pub const SORT_NOT_DOUBLE: CmdError =
    CmdError::new("ERR One or more scores can't be converted into double");
pub const NUMKEYS_POSITIVE: CmdError = CmdError::new("ERR numkeys should be greater than 0");
pub const NUMKEYS_TOO_MANY: CmdError =
    CmdError::new("ERR Number of keys can't be greater than number of args");
pub const LIMIT_NEGATIVE: CmdError = CmdError::new("ERR LIMIT can't be negative");
pub const COUNT_POSITIVE: CmdError = CmdError::new("ERR count should be greater than 0");
pub const FIELDS_MISSING: CmdError =
    CmdError::new("ERR Mandatory argument FIELDS is missing or not at the right position");
pub const NUMFIELDS_POSITIVE: CmdError =
    CmdError::new("ERR Number of fields must be a positive integer");
pub const NUMFIELDS_MISMATCH: CmdError =
    CmdError::new("ERR The `numfields` parameter must match the number of arguments");
pub const NUMFIELDS_GT_ZERO: CmdError =
    CmdError::new("ERR Parameter `numFields` should be greater than 0");
pub const HFE_NEGATIVE: CmdError = CmdError::new("ERR invalid expire time, must be >= 0");
pub const RANGE_LONG: CmdError = CmdError::new(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
);
pub const VALUE_OUT_OF_RANGE: CmdError = CmdError::new("ERR value is out of range");
pub const WEIGHT_NOT_FLOAT: CmdError = CmdError::new("ERR weight value is not a float");
pub const RANK_ZERO: CmdError = CmdError::new("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
pub const COUNT_NEGATIVE: CmdError = CmdError::new("ERR COUNT can't be negative");
pub const MAXLEN_NEGATIVE: CmdError = CmdError::new("ERR MAXLEN can't be negative");
pub const ZADD_XX_NX: CmdError =
    CmdError::new("ERR XX and NX options at the same time are not compatible");
pub const ZADD_GT_LT_NX: CmdError =
    CmdError::new("ERR GT, LT, and/or NX options at the same time are not compatible");
pub const ZADD_INCR_PAIR: CmdError =
    CmdError::new("ERR INCR option supports a single increment-element pair");
pub const ZRANGE_LIMIT: CmdError = CmdError::new(
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
);
pub const ZRANGE_WITHSCORES_BYLEX: CmdError =
    CmdError::new("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
pub const NAN_OR_INFINITY: CmdError = CmdError::new("ERR value is NaN or Infinity");
pub const LOADING: CmdError = CmdError::new("LOADING Redis is loading the dataset in memory");
pub const NOT_IN_MULTI: CmdError = CmdError::new("ERR Command not allowed inside a transaction");

// Streams.
pub const STREAM_ID_INVALID: CmdError =
    CmdError::new("ERR Invalid stream ID specified as stream command argument");
pub const XADD_ID_ZERO: CmdError =
    CmdError::new("ERR The ID specified in XADD must be greater than 0-0");
pub const XADD_ID_TOO_SMALL: CmdError = CmdError::new(
    "ERR The ID specified in XADD is equal or smaller than the target stream top item",
);
pub const STREAM_EXHAUSTED: CmdError =
    CmdError::new("ERR The stream has exhausted the last possible ID, unable to add more items");
pub const XMAXLEN_NEGATIVE: CmdError = CmdError::new("ERR The MAXLEN argument must be >= 0.");
pub const XLIMIT_NEGATIVE: CmdError = CmdError::new("ERR The LIMIT argument must be >= 0.");
pub const XLIMIT_NO_STRATEGY: CmdError =
    CmdError::new("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
pub const XTRIM_NO_STRATEGY: CmdError =
    CmdError::new("ERR syntax error, XTRIM must be called with a trimming strategy");
pub const XLIMIT_NOT_APPROX: CmdError =
    CmdError::new("ERR syntax error, LIMIT cannot be used without the special ~ option");
pub const RANGE_START_INVALID: CmdError = CmdError::new("ERR invalid start ID for the interval");
pub const RANGE_END_INVALID: CmdError = CmdError::new("ERR invalid end ID for the interval");
pub const XSETID_ENTRIES_ADDED_NEGATIVE: CmdError =
    CmdError::new("ERR entries_added must be positive");
pub const XSETID_BELOW_ARG_MAX_DELETED: CmdError = CmdError::new(
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
);
pub const XSETID_BELOW_MAX_DELETED: CmdError =
    CmdError::new("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
pub const XSETID_BELOW_TOP: CmdError =
    CmdError::new("ERR The ID specified in XSETID is smaller than the target stream top item");
pub const XSETID_ENTRIES_ADDED_SMALL: CmdError = CmdError::new(
    "ERR The entries_added specified in XSETID is smaller than the target stream length",
);
pub const XGROUP_KEY_REQUIRED: CmdError = CmdError::new("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
pub const BUSYGROUP: CmdError = CmdError::new("BUSYGROUP Consumer Group name already exists");
pub const ENTRIESREAD_INVALID: CmdError =
    CmdError::new("ERR value for ENTRIESREAD must be positive or -1");
pub const XREAD_UNBALANCED: CmdError = CmdError::new(
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
);
pub const XREAD_GT_ONLY_GROUP: CmdError = CmdError::new("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
pub const XREAD_NOACK_GROUP: CmdError = CmdError::new(
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
);
pub const XREADGROUP_MISSING_GROUP: CmdError =
    CmdError::new("ERR Missing GROUP option for XREADGROUP");
pub const XAUTOCLAIM_COUNT: CmdError = CmdError::new("ERR COUNT must be > 0");
pub const XCLAIM_MIN_IDLE: CmdError =
    CmdError::new("ERR Invalid min-idle-time argument for XCLAIM");
pub const XAUTOCLAIM_MIN_IDLE: CmdError =
    CmdError::new("ERR Invalid min-idle-time argument for XAUTOCLAIM");
pub const XCLAIM_IDLE: CmdError = CmdError::new("ERR Invalid IDLE option argument for XCLAIM");
pub const XCLAIM_TIME: CmdError = CmdError::new("ERR Invalid TIME option argument for XCLAIM");
pub const XCLAIM_RETRYCOUNT: CmdError =
    CmdError::new("ERR Invalid RETRYCOUNT option argument for XCLAIM");

impl CmdError {
    pub fn nogroup(group: &[u8], key: &[u8]) -> CmdError {
        CmdError::owned(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            lossy(group),
            lossy(key)
        ))
    }

    /// XREADGROUP's variant of NOGROUP.
    pub fn nogroup_read(key: &[u8], group: &[u8]) -> CmdError {
        CmdError::owned(format!(
            "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
            lossy(key),
            lossy(group)
        ))
    }

    /// XPENDING, XACK... with a missing key or group.
    pub fn nogroup_key(key: &[u8], group: &[u8]) -> CmdError {
        CmdError::owned(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            lossy(key),
            lossy(group)
        ))
    }
}
pub const XREADGROUP_DOLLAR: CmdError = CmdError::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
pub const XREAD_GROUP_OPTION: CmdError = CmdError::new(
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
);
pub const XTRIM_BOTH: CmdError =
    CmdError::new("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
pub const XREAD_TIMEOUT_INVALID: CmdError =
    CmdError::new("ERR timeout is not an integer or out of range");
pub const XREADGROUP_KEY_GONE: CmdError =
    CmdError::new("UNBLOCKED the stream key no longer exists");
pub const XREADGROUP_GROUP_GONE: CmdError =
    CmdError::new("NOGROUP the consumer group this client was blocked on no longer exists");
pub const FUNCTION_NOT_FOUND: CmdError = CmdError::new("ERR Function not found");
pub const FCALL_RO_WRITE: CmdError =
    CmdError::new("ERR Can not execute a script with write flag using *_ro command.");
pub const LIBRARY_NOT_FOUND: CmdError = CmdError::new("ERR Library not found");
pub const FUNCTION_FLUSH_SYNTAX: CmdError =
    CmdError::new("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
pub const FUNCTION_RESTORE_POLICY: CmdError = CmdError::new(
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
);
pub const FUNCTION_PAYLOAD: CmdError =
    CmdError::new("ERR DUMP payload version or checksum are wrong");
pub const BAD_NUMKEYS: CmdError = CmdError::new("ERR Bad number of keys provided");
