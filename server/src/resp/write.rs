//! The reply writer: one function turns a protocol-neutral `Reply` into RESP2 or RESP3 bytes.

use bytes::{BufMut, BytesMut};
use strata_engine::number::format_double;
use strata_engine::reply::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

fn put_int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    out.put_u8(prefix);
    out.put_slice(itoa::Buffer::new().format(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, b: &[u8]) {
    put_int_line(out, b'$', b.len() as i64);
    out.put_slice(b);
    out.put_slice(b"\r\n");
}

/// Error text never contains CR or LF: they would break the frame.
fn put_error(out: &mut BytesMut, msg: &str) {
    out.put_u8(b'-');
    for &c in msg.as_bytes() {
        out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
    }
    out.put_slice(b"\r\n");
}

pub fn write_reply(out: &mut BytesMut, r: &Reply, proto: Proto) {
    let v3 = proto == Proto::Resp3;
    match r {
        Reply::Ok => out.put_slice(b"+OK\r\n"),
        Reply::Status(s) => {
            out.put_u8(b'+');
            out.put_slice(s.as_bytes());
            out.put_slice(b"\r\n");
        }
        Reply::StatusOwned(s) => {
            out.put_u8(b'+');
            out.put_slice(s.as_bytes());
            out.put_slice(b"\r\n");
        }
        Reply::Int(i) => put_int_line(out, b':', *i),
        Reply::Bulk(b) => put_bulk(out, b),
        Reply::Nil if v3 => out.put_slice(b"_\r\n"),
        Reply::Nil => out.put_slice(b"$-1\r\n"),
        Reply::NilArray if v3 => out.put_slice(b"_\r\n"),
        Reply::NilArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            put_int_line(out, b'*', items.len() as i64);
            for i in items {
                write_reply(out, i, proto);
            }
        }
        Reply::Set(items) => {
            put_int_line(out, if v3 { b'~' } else { b'*' }, items.len() as i64);
            for i in items {
                write_reply(out, i, proto);
            }
        }
        Reply::Map(pairs) => {
            if v3 {
                put_int_line(out, b'%', pairs.len() as i64);
            } else {
                put_int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (k, v) in pairs {
                write_reply(out, k, proto);
                write_reply(out, v, proto);
            }
        }
        Reply::Pairs(pairs) => {
            if v3 {
                put_int_line(out, b'*', pairs.len() as i64);
                for (k, v) in pairs {
                    put_int_line(out, b'*', 2);
                    write_reply(out, k, proto);
                    write_reply(out, v, proto);
                }
            } else {
                put_int_line(out, b'*', 2 * pairs.len() as i64);
                for (k, v) in pairs {
                    write_reply(out, k, proto);
                    write_reply(out, v, proto);
                }
            }
        }
        Reply::Double(d) => {
            let s = format_double(*d);
            if v3 {
                out.put_u8(b',');
                out.put_slice(s.as_bytes());
                out.put_slice(b"\r\n");
            } else {
                put_bulk(out, s.as_bytes());
            }
        }
        Reply::Bool(b) if v3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => put_int_line(out, b':', *b as i64),
        Reply::Verbatim(fmt, text) if v3 => {
            put_int_line(out, b'=', (text.len() + 4) as i64);
            out.put_slice(fmt.as_bytes());
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Reply::Verbatim(_, text) => put_bulk(out, text),
        Reply::Error(e) => put_error(out, e.as_str()),
        Reply::Encoded(b) => out.put_slice(b),
        Reply::Push(items) => {
            put_int_line(out, if v3 { b'>' } else { b'*' }, items.len() as i64);
            for i in items {
                write_reply(out, i, proto);
            }
        }
        Reply::Many(replies) => {
            for r in replies {
                write_reply(out, r, proto);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn enc(r: &Reply, p: Proto) -> Vec<u8> {
        let mut b = BytesMut::new();
        write_reply(&mut b, r, p);
        b.to_vec()
    }

    #[test]
    fn resp2_and_resp3_shapes() {
        let m = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, Proto::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Proto::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Nil, Proto::Resp2), b"$-1\r\n");
        assert_eq!(enc(&Reply::NilArray, Proto::Resp2), b"*-1\r\n");
        assert_eq!(enc(&Reply::Nil, Proto::Resp3), b"_\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp3), b",1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Proto::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), Proto::Resp2), b":1\r\n");
        assert_eq!(
            enc(&Reply::Set(vec![Reply::Int(1)]), Proto::Resp3),
            b"~1\r\n:1\r\n"
        );
        assert_eq!(
            enc(&Reply::Verbatim("txt", Bytes::from("hi")), Proto::Resp3),
            b"=6\r\ntxt:hi\r\n"
        );
        assert_eq!(
            enc(
                &Reply::Error(strata_engine::error::CmdError::owned("ERR a\r\nb".into())),
                Proto::Resp2
            ),
            b"-ERR a  b\r\n"
        );
    }
}
