#!/usr/bin/env bash
# Memory of the cold tier: RAM per cold key, and RSS while keys spill continuously.
#
# One strata-server with --cold-tier yes, maxmemory MAXMEM (64mb), cold-tier-cache-size
# CACHE (64mb), allkeys-lru, no persistence. KEYS (10M) keys of 14 bytes with VALUE-byte
# (32) values are written pipelined; RSS is sampled every second meanwhile. Then every key
# is spilled (DEBUG TIER SPILL-ALL) and RocksDB compacted, and the memory is read again.
#
#   bash benches/tiering-memory.sh
#   KEYS=2000000 bash benches/tiering-memory.sh
#
# Reports: peak RSS during the load against (maxmemory + cache) x 1.1; Strata's own RAM per
# cold key (used_memory with every key cold, minus the empty server's, per key); RocksDB's
# per-key memory (table readers and pinned filter/index blocks, per key); RSS per key.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p strata-server --example zipfget
BIN="$PWD/target/release/strata-server"
GEN="$PWD/target/release/examples/zipfget"
KEYS="${KEYS:-10000000}"
VALUE="${VALUE:-32}"
MAXMEM="${MAXMEM:-67108864}"
CACHE="${CACHE:-67108864}"
PORT=7670
OUT="${OUT_DIR:-target/bench/tiering-memory-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
field() { redis-cli -p $PORT INFO all | tr -d '\r' | awk -F: -v f="$2" '$1==f {print $2}'; }

"$BIN" --port $PORT --dir "$work" --appendonly no --save "" --logfile "$work/log" \
  --cold-tier yes --maxmemory "$MAXMEM" --cold-tier-cache-size "$CACHE" \
  --maxmemory-policy allkeys-lru --enable-debug-command yes &
pid=$!
for _ in $(seq 1 300); do redis-cli -p $PORT PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
used0=$(field $PORT used_memory)
rss0=$(ps -o rss= -p $pid | tr -d ' ')
anon0=$(awk '$1=="RssAnon:"{print $2}' /proc/$pid/status)
# Each sample: total RSS, then its private (anonymous) part, in kB. The rest of RSS is
# file-backed: the executable's code pages (about 13 MB here, most of them touched by
# RocksDB's static initializers at start), shared and droppable by the kernel.
( while kill -0 $pid 2>/dev/null; do
    awk '$1=="VmRSS:"{r=$2} $1=="RssAnon:"{a=$2} END{print r, a}' /proc/$pid/status 2>/dev/null
    sleep 1
  done ) > "$OUT/rss.txt" &
sampler=$!
start=$(date +%s)
"$GEN" load $PORT "$KEYS" "$VALUE"
end=$(date +%s)
kill $sampler 2>/dev/null || true
peak=$(awk '{print $1}' "$OUT/rss.txt" | sort -n | tail -1)
peak_anon=$(awk '{print $2}' "$OUT/rss.txt" | sort -n | tail -1)
redis-cli -p $PORT INFO all | tr -d '\r' > "$OUT/info-after-load.txt"
redis-cli -p $PORT DEBUG TIER SPILL-ALL > /dev/null
redis-cli -p $PORT DEBUG TIER COMPACT > /dev/null
sleep 2
redis-cli -p $PORT INFO all | tr -d '\r' > "$OUT/info-all-cold.txt"
used1=$(field $PORT used_memory)
rss1=$(ps -o rss= -p $pid | tr -d ' ')
cold=$(field $PORT cold_keys)
readers=$(field $PORT rocksdb_table_readers)
pinned=$(field $PORT rocksdb_block_cache_pinned)
cache=$(field $PORT rocksdb_block_cache)
disk=$(field $PORT cold_disk_bytes)
python3 - <<EOF | tee "$OUT/summary.txt"
keys, cold = $KEYS, $cold
maxmem, cachecfg = $MAXMEM, $CACHE
print(f"{keys:,} keys of 14 + $VALUE bytes loaded in {$end - $start} s; cold_keys {cold:,}; cold data on disk {$disk/1048576:.0f} MB")
print(f"peak RSS during the load: {$peak/1024:.0f} MB, of it private (anonymous) memory {$peak_anon/1024:.0f} MB; bound (maxmemory + cache) x 1.1 = {(maxmem + cachecfg) * 1.1 / 1048576:.0f} MB")
print(f"empty server: RSS {$rss0/1024:.0f} MB, private {$anon0/1024:.0f} MB")
print(f"Strata RAM per cold key (used_memory all cold - empty): {($used1 - $used0) / cold:.2f} B")
print(f"RocksDB table readers + pinned blocks per cold key: {($readers + $pinned) / cold:.2f} B (block cache in use {$cache/1048576:.0f} MB)")
print(f"RSS per key over the empty server, all cold: {($rss1 - $rss0) * 1024 / cold:.2f} B")
EOF
echo "raw results in $OUT"
