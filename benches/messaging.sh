#!/usr/bin/env bash
# Messaging and scripting side by side: redis-server and strata-server (no persistence on
# either), the same redis-benchmark client, runs interleaved per workload (redis, strata,
# redis, strata...), median ratio strata/redis over ROUNDS. Then the memory a stream entry
# costs in each.
#
#   bash benches/messaging.sh               # ROUNDS=3, CLIENTS=50
#   ROUNDS=5 N=400000 bash benches/messaging.sh
#   P=16 MEM=0 bash benches/messaging.sh    # pipelined, without the memory phase
#
# Workloads:
#   publish_1     PUBLISH to a channel with 1 subscriber (a redis-cli reading the channel)
#   publish_100   PUBLISH to a channel with 100 subscribers
#   xadd          XADD s * f v (auto IDs)
#   xreadgroup    XREADGROUP GROUP g c COUNT 1 STREAMS s > on a prefilled stream
#   xack          XACK s g <random delivered ID>
#   evalsha       the Redlock release script (GET, compare, DEL) by SHA
# Needs redis-server, redis-cli, redis-benchmark and python3.
set -euo pipefail
# Workload commands hold `*` (XADD auto IDs): no globbing.
set -f
cd "$(dirname "$0")/.."
cargo build --release -p strata-server
BIN="$PWD/target/release/strata-server"
ROUNDS="${ROUNDS:-3}"
N="${N:-200000}"
CLIENTS="${CLIENTS:-50}"
PIPELINE="${P:-1}"
OUT="${OUT_DIR:-target/bench/messaging-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
RPORT=7640
SPORT=7641
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/r" "$work/s"
redis-server --port $RPORT --dir "$work/r" --save "" --appendonly no >"$OUT/redis.log" 2>&1 &
pids+=($!)
"$BIN" --port $SPORT --dir "$work/s" --save "" --appendonly no >"$OUT/strata.log" 2>&1 &
pids+=($!)
for port in $RPORT $SPORT; do
  for _ in $(seq 1 200); do redis-cli -p $port PING >/dev/null 2>&1 && break; sleep 0.05; done
done

# Subscribers: one on ch1, a hundred on ch100, on each server.
for port in $RPORT $SPORT; do
  redis-cli -p $port SUBSCRIBE ch1 >/dev/null &
  pids+=($!)
  python3 - "$port" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
socks = []
for _ in range(100):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"SUBSCRIBE ch100\r\n")
    socks.append(s)
import selectors
sel = selectors.DefaultSelector()
for s in socks:
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        try:
            if not key.fileobj.recv(1 << 16):
                sys.exit(0)
        except BlockingIOError:
            pass
EOF
  pids+=($!)
done
sleep 1

RELEASE='if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end'

setup() { # port workload
  local port=$1 w=$2 c="redis-cli -p $1"
  case $w in
    xadd) $c DEL s >/dev/null ;;
    xreadgroup|xack)
      $c DEL s >/dev/null
      python3 - "$port" "$N" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
buf = bytearray()
for i in range(1, n + 1):
    buf += b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$%d\r\n%d-0\r\n$1\r\nf\r\n$1\r\nv\r\n" % (len(str(i)) + 2, i)
s.sendall(bytes(buf))
got = 0
data = b""
while got < n:
    data += s.recv(1 << 20)
    got = data.count(b"\r\n")
EOF
      $c XGROUP CREATE s g 0 >/dev/null
      if [ "$w" = xack ]; then $c XREADGROUP GROUP g c STREAMS s ">" >/dev/null; fi
      ;;
    evalsha) $c SET lock tok >/dev/null; $c SCRIPT LOAD "$RELEASE" >/dev/null ;;
  esac
}

cmd_of() {
  local w=$1 sha
  case $w in
    publish_1) echo "PUBLISH ch1 hello" ;;
    publish_100) echo "PUBLISH ch100 hello" ;;
    xadd) echo "XADD s * f v" ;;
    xreadgroup) echo "XREADGROUP GROUP g c COUNT 1 STREAMS s >" ;;
    xack) echo "XACK s g __rand_int__-0" ;;
    evalsha)
      sha=$(printf '%s' "$RELEASE" | sha1sum | cut -d' ' -f1)
      echo "EVALSHA $sha 1 lock other"
      ;;
  esac
}

run() { # port workload -> ops/s
  local port=$1 w=$2 n=$N
  # XACK draws IDs 1..N (most calls ack an entry still pending early on).
  redis-benchmark -p "$port" -c "$CLIENTS" -P "$PIPELINE" -n "$n" -r "$N" --csv $(cmd_of "$w") 2>/dev/null |
    awk -F'","' 'NR==2 {gsub(/"/, "", $2); print $2}'
}

printf "workload\tredis ops/s\tstrata ops/s\tratio\n" | tee "$OUT/table.tsv"
for w in publish_1 publish_100 xadd xreadgroup xack evalsha; do
  ratios=()
  rs=()
  ss=()
  for _ in $(seq 1 "$ROUNDS"); do
    setup $RPORT $w
    r=$(run $RPORT $w)
    setup $SPORT $w
    s=$(run $SPORT $w)
    rs+=("$r")
    ss+=("$s")
    ratios+=("$(python3 -c "print(round($s / $r, 3))")")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf "%s\t%s\t%s\t%s\n" "$w" "$(med "${rs[@]}")" "$(med "${ss[@]}")" "$(med "${ratios[@]}")" | tee -a "$OUT/table.tsv"
done

# Memory per stream entry: 1,000,000 XADDs of a two-field entry, used_memory before and after.
if [ "${MEM:-1}" = 1 ]; then
python3 - $RPORT $SPORT <<'EOF' | tee "$OUT/stream-memory.txt"
import socket, sys

def cmd(s, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

def used(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(cmd(s, "INFO", "memory"))
    data = b""
    while b"used_memory:" not in data or not data.endswith(b"\r\n"):
        data += s.recv(65536)
    for line in data.split(b"\r\n"):
        if line.startswith(b"used_memory:"):
            return int(line.split(b":")[1])

n = 1_000_000
for name, port in (("redis", int(sys.argv[1])), ("strata", int(sys.argv[2]))):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(cmd(s, "DEL", "mem"))
    s.recv(100)
    before = used(port)
    batch = 10_000
    for start in range(0, n, batch):
        buf = b"".join(cmd(s, "XADD", "mem", "*", "user", "u%d" % i, "action", "login")
                       for i in range(start, start + batch))
        s.sendall(buf)
        got = 0
        data = b""
        while data.count(b"\r\n") < batch:
            data += s.recv(1 << 20)
    after = used(port)
    print(f"{name}: {(after - before) / n:.1f} bytes per stream entry "
          f"(XADD mem * user u<i> action login, {n} entries)")
EOF
fi
echo "results in $OUT"
