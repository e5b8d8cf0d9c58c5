#!/usr/bin/env bash
# Restart of a dataset larger than RAM: KEYS (4M) keys of VALUE (100) bytes are written to a
# strata-server, saved, and loaded back by three restarts of the same snapshot:
#   tiered  --cold-tier yes --maxmemory MAXMEM (64mb): what does not fit goes to the cold tier
#   ram     everything in RAM (maxmemory 0)
# and a redis-server loading an RDB of the same keys, all in RAM. Reported: the load time
# (the server's own log line for Strata; spawn to first PONG for both), the keys in RAM after
# the tiered restart, and its peak RSS.
#
#   bash benches/tiering-restart.sh
#   KEYS=1000000 MAXMEM=16mb bash benches/tiering-restart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p strata-server --example zipfget
BIN="$PWD/target/release/strata-server"
GEN="$PWD/target/release/examples/zipfget"
KEYS="${KEYS:-4000000}"
VALUE="${VALUE:-100}"
MAXMEM="${MAXMEM:-64mb}"
PORT=7695
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ready() {
  for _ in $(seq 1 6000); do
    redis-cli -p $PORT PING 2>/dev/null | grep -q PONG && return 0
    sleep 0.05
  done
  echo "no PONG from the server on $PORT" >&2
  exit 1
}
stop() { redis-cli -p $PORT SHUTDOWN NOSAVE >/dev/null 2>&1 || true; wait "$pid" 2>/dev/null || true; pid=""; }
field() { redis-cli -p $PORT INFO all | tr -d '\r' | awk -F: -v f="$1" '$1==f {print $2}'; }

mkdir -p "$work/strata" "$work/redis"
"$BIN" --port $PORT --dir "$work/strata" --appendonly no --save "" --logfile "$work/strata/log" &
pid=$!
ready
"$GEN" load $PORT "$KEYS" "$VALUE"
redis-cli -p $PORT SAVE >/dev/null
stop
redis-server --port $PORT --dir "$work/redis" --save "" --appendonly no --logfile "$work/redis/log" &
pid=$!
ready
"$GEN" load $PORT "$KEYS" "$VALUE"
redis-cli -p $PORT SAVE >/dev/null
stop
echo "$KEYS keys of $VALUE bytes; snapshot $(du -m "$work/strata/dump.strata" | cut -f1) MB, RDB $(du -m "$work/redis/dump.rdb" | cut -f1) MB"

restart() { # name, then the server's command line
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" &
  pid=$!
  ready
  t1=$(date +%s.%N)
  local loaded
  loaded=$(grep -ho "DB loaded from the snapshot.*seconds=[0-9.]*" "$work/strata/log" 2>/dev/null | tail -1 | sed 's/.*seconds=//')
  printf "%-7s spawn to PONG %.2f s" "$name" "$(echo "$t1 - $t0" | bc)"
  [ "$name" != redis ] && printf ", snapshot load %.2f s" "$loaded"
  if [ "$name" = tiered ]; then
    printf ", hot_keys %s, cold_keys %s, used_memory %s, peak RSS %s MB" "$(field hot_keys)" \
      "$(field cold_keys)" "$(field used_memory)" "$(($(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024))"
  fi
  echo
  stop
}
restart tiered "$BIN" --port $PORT --dir "$work/strata" --appendonly no --save "" \
  --logfile "$work/strata/log" --cold-tier yes --maxmemory "$MAXMEM" --maxmemory-policy allkeys-lru
restart ram "$BIN" --port $PORT --dir "$work/strata" --appendonly no --save "" --logfile "$work/strata/log"
restart redis redis-server --port $PORT --dir "$work/redis" --save "" --appendonly no --logfile "$work/redis/log"
