#!/usr/bin/env python3
"""Check that differential case files are deterministic.

Runs each case file against two fresh redis-servers (ports 7431-7449),
implementing the same directives as tests/differential.rs, and reports every
line where the two servers disagree. A line where two identical servers
disagree is nondeterministic and must be fixed (or marked !type / !ignore).

Usage: check_cases.py [-v] [--skew MS] [FILE.txt ...]
  -v         print the transcript (command and reply) of the first server
  --skew MS  sleep MS milliseconds before each command on the second server,
             to expose replies that depend on elapsed time
With no FILE, every *.txt next to this script is checked.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PORTS = list(range(7431, 7450))
MAX_LEN = 1 << 30


# ---------------------------------------------------------------- RESP reader

class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by server")
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 2:]
                return out
            self._fill()

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        out, tail = self.buf[:n], self.buf[n:n + 2]
        if tail != b"\r\n":
            raise ValueError("bulk payload not followed by CRLF")
        self.buf = self.buf[n + 2:]
        return out

    def length(self, text):
        n = int(text)
        if n > MAX_LEN:
            raise ValueError("length too large: %d" % n)
        return n

    def reply(self):
        """Returns a (tag, value) tuple; aggregates hold lists of tuples."""
        ln = self.line()
        tag, rest = ln[:1], ln[1:]
        if tag == b"+":
            return ("+", rest)
        if tag == b"-":
            return ("-", rest)
        if tag == b":":
            return (":", int(rest))
        if tag in (b"$", b"!", b"="):
            if rest == b"?":
                return (tag.decode(), self._streamed_string())
            n = int(rest)
            if n < 0:
                return (tag.decode(), None)
            return (tag.decode(), self.exact(self.length(rest)))
        if tag in (b"*", b"~", b">"):
            if rest == b"?":
                return (tag.decode(), self._streamed_items())
            n = int(rest)
            if n < 0:
                return (tag.decode(), None)
            return (tag.decode(), [self.reply() for _ in range(self.length(rest))])
        if tag in (b"%", b"|"):
            if rest == b"?":
                items = self._streamed_items()
                pairs = list(zip(items[0::2], items[1::2]))
            else:
                n = self.length(rest)
                pairs = [(self.reply(), self.reply()) for _ in range(n)]
            if tag == b"|":
                return ("|", (pairs, self.reply()))
            return ("%", pairs)
        if tag == b"_":
            return ("_", None)
        if tag == b",":
            return (",", rest)
        if tag == b"#":
            return ("#", rest == b"t")
        if tag == b"(":
            return ("(", rest)
        raise ValueError("unknown RESP type byte in %r" % ln)

    def _streamed_string(self):
        out = b""
        while True:
            ln = self.line()
            if ln[:1] != b";":
                raise ValueError("bad streamed string chunk %r" % ln)
            n = self.length(ln[1:])
            if n == 0:
                return out
            out += self.exact(n)

    def _streamed_items(self):
        items = []
        while True:
            while not self.buf:
                self._fill()
            if self.buf[:1] == b".":
                if self.line() != b".":
                    raise ValueError("bad end of streamed aggregate")
                return items
            items.append(self.reply())


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = Reader(self.sock)

    def cmd(self, args):
        self.sock.sendall(encode(args))
        return self.reader.reply()

    def raw(self, data):
        self.sock.sendall(data)
        return self.reader.reply()

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- rendering

def quote(b):
    out = ['"']
    for c in b:
        ch = chr(c)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\x%02x" % c)
    out.append('"')
    return "".join(out)


def render(r):
    tag, v = r
    if tag == "+":
        return v.decode("latin-1")
    if tag == "-":
        return "(error) " + v.decode("latin-1")
    if tag == ":":
        return "(integer) %d" % v
    if tag == "$":
        return "(nil)" if v is None else quote(v)
    if tag == "!":
        return "(nil)" if v is None else "(blob error) " + quote(v)
    if tag == "=":
        return "(nil)" if v is None else "(verbatim) " + quote(v)
    if tag in ("*", "~", ">"):
        if v is None:
            return "(nil array)"
        prefix = {"*": "", "~": "~", ">": ">"}[tag]
        return prefix + "[" + ", ".join(render(x) for x in v) + "]"
    if tag == "%":
        return "{" + ", ".join("%s => %s" % (render(k), render(x)) for k, x in v) + "}"
    if tag == "|":
        pairs, inner = v
        return "|{" + ", ".join("%s => %s" % (render(k), render(x)) for k, x in pairs) + "} " + render(inner)
    if tag == "_":
        return "(null)"
    if tag == ",":
        return "(double) " + v.decode("latin-1")
    if tag == "#":
        return "(true)" if v else "(false)"
    if tag == "(":
        return "(big number) " + v.decode("latin-1")
    return repr(r)


# ---------------------------------------------------------------- line parser

def parse_line(line):
    """Split a command line like redis-cli (sdssplitargs)."""
    args = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise ValueError("unterminated double quote in %r" % line)
                c = line[i]
                hexd = line[i + 2:i + 4]
                if (c == "\\" and line[i + 1:i + 2] == "x" and len(hexd) == 2
                        and all(h in "0123456789abcdefABCDEF" for h in hexd)):
                    cur.append(int(hexd, 16))
                    i += 3
                elif c == "\\" and i + 1 < n:
                    i += 1
                    e = line[i]
                    cur += {"n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "a": b"\a"}.get(
                        e, e.encode("latin-1"))
                elif c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space in %r" % line)
                    i += 1
                    break
                else:
                    cur += c.encode("latin-1")
            elif insq:
                if i >= n:
                    raise ValueError("unterminated single quote in %r" % line)
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    i += 1
                    cur += b"'"
                elif c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise ValueError("closing quote must be followed by a space in %r" % line)
                    i += 1
                    break
                else:
                    cur += c.encode("latin-1")
            else:
                if i >= n:
                    break
                c = line[i]
                if c.isspace():
                    break
                if c == '"':
                    inq = True
                elif c == "'":
                    insq = True
                else:
                    cur += c.encode("latin-1")
            i += 1
        args.append(bytes(cur))


# ---------------------------------------------------------------- servers

class RedisServer:
    def __init__(self, port):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="strata-check-")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                c = Client(port)
                r = c.cmd([b"PING"])
                c.close()
                if r == ("+", b"PONG"):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("redis-server on port %d did not start" % port)
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_ports(k):
    out = [p for p in PORTS if port_free(p)][:k]
    if len(out) < k:
        raise RuntimeError("not enough free ports in 7431-7449")
    return out


# ---------------------------------------------------------------- runner

class Side:
    def __init__(self, port):
        self.port = port
        self.clients = {}
        self.cur = 0

    def client(self):
        if self.cur not in self.clients:
            self.clients[self.cur] = Client(self.port)
        return self.clients[self.cur]

    def close(self):
        for c in self.clients.values():
            c.close()


def sort_key(r):
    return render(r)


def normalize(r, mode):
    if mode == "type":
        return ("type", r[0])
    if mode == "sorted" and r[0] in ("*", "~", ">") and r[1] is not None:
        return (r[0], sorted(r[1], key=sort_key))
    return r


def scan_all(side, args):
    """Iterates a SCAN-family command to cursor 0; returns the sorted union."""
    name = args[0].upper() if args else b""
    if name in (b"SCAN", b"SSCAN", b"HSCAN", b"ZSCAN"):
        cmd = args[:1] if name == b"SCAN" else args[:2]
        rest = args[1:] if name == b"SCAN" else args[2:]
    else:
        cmd, rest, name = [b"SCAN"], args, b"SCAN"
    paired = name in (b"HSCAN", b"ZSCAN")
    cursor = b"0"
    seen = {}
    for _ in range(100000):
        r = side.client().cmd(cmd + [cursor] + rest)
        if r[0] != "*" or r[1] is None or len(r[1]) != 2 or r[1][0][0] != "$" or r[1][1][0] != "*":
            return r
        cursor = r[1][0][1]
        items = r[1][1][1]
        if paired:
            items = [("*", items[i:i + 2]) for i in range(0, len(items), 2)]
        for it in items:
            seen[render(it)] = it
        if cursor == b"0":
            return ("*", [seen[k] for k in sorted(seen)])
    return ("-", b"scan did not terminate")


def time_dependent(args, reply):
    """Flags replies that depend on the clock even when both servers agree."""
    name = args[0].upper() if args else b""
    if name in (b"TTL", b"PTTL") and reply[0] == ":" and reply[1] >= 0:
        return "remaining TTL depends on elapsed time"
    if name in (b"TIME", b"INFO", b"LASTSAVE") or (
            name == b"OBJECT" and len(args) > 1 and args[1].upper() in (b"IDLETIME", b"FREQ")):
        return "reply depends on the clock"
    return None


def run_file(path, ports, verbose, skew):
    servers = [RedisServer(p) for p in ports]
    sides = [Side(p) for p in ports]
    mismatches = []
    lines = 0
    try:
        mode = None
        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("!"):
                    word, _, arg = line[1:].partition(" ")
                    arg = arg.strip()
                    if word == "sleep":
                        time.sleep(int(arg) / 1000.0)
                        continue
                    if word in ("ignore", "type", "sorted"):
                        if mode is not None:
                            raise ValueError("%s:%d a second modifier before a command" % (path, lineno))
                        mode = word
                        continue
                    if word == "needs":
                        # Both sides are redis-server here: a line Strata cannot run yet
                        # still has to be deterministic on Redis.
                        continue
                    if word == "client":
                        n = int(arg)
                        assert 0 <= n <= 3, "%s:%d client out of range" % (path, lineno)
                        for s in sides:
                            s.cur = n
                        continue
                    if word in ("resp3", "resp2"):
                        args, how = [b"HELLO", b"3" if word == "resp3" else b"2"], "type"
                        send = "cmd"
                    elif word == "scanall":
                        args, how, send = parse_line(arg), mode, "scanall"
                    elif word == "inline":
                        args, how, send = arg.encode("latin-1") + b"\r\n", mode, "raw"
                    else:
                        raise ValueError("%s:%d unknown directive %r" % (path, lineno, line))
                else:
                    args, how, send = parse_line(line), mode, "cmd"
                mode = None
                lines += 1
                replies = []
                for i, s in enumerate(sides):
                    if i > 0 and skew:
                        time.sleep(skew / 1000.0)
                    if send == "cmd":
                        replies.append(s.client().cmd(args))
                    elif send == "raw":
                        replies.append(s.client().raw(args))
                    else:
                        replies.append(scan_all(s, args))
                if verbose:
                    print("%4d %-8s %s\n     -> %s" % (lineno, "[" + how + "]" if how else "", line,
                                                       render(replies[0])))
                if how == "ignore":
                    continue
                lint = time_dependent(args, replies[0]) if send == "cmd" and how != "type" else None
                if lint:
                    mismatches.append("%s:%d %s\n  %s (mark it !type or !ignore)" % (
                        os.path.basename(path), lineno, line, lint))
                a, b = (normalize(r, how) for r in replies)
                if a != b:
                    mismatches.append("%s:%d %s\n  a: %s\n  b: %s" % (
                        os.path.basename(path), lineno, line, render(replies[0]), render(replies[1])))
        if mode is not None:
            raise ValueError("%s: a modifier at the end of the file applies to nothing" % path)
    finally:
        for s in sides:
            s.close()
        for srv in servers:
            srv.stop()
    return lines, mismatches


def main():
    argv = sys.argv[1:]
    verbose = False
    skew = 0
    files = []
    while argv:
        a = argv.pop(0)
        if a == "-v":
            verbose = True
        elif a == "--skew":
            skew = int(argv.pop(0))
        else:
            files.append(a)
    if not files:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "*.txt")))
    total = 0
    bad = []
    for path in files:
        ports = pick_ports(2)
        n, mm = run_file(path, ports, verbose, skew)
        total += n
        print("%-20s %4d commands, %d disagreements" % (os.path.basename(path), n, len(mm)))
        bad.extend(mm)
    print("total: %d commands" % total)
    for m in bad:
        print(m)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
