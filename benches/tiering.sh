#!/usr/bin/env bash
# Larger than RAM: the same dataset read with Zipf-distributed GETs from three servers,
#   ram     strata-server, everything in RAM (maxmemory 0)
#   tiered  strata-server --cold-tier yes, maxmemory = HOT_PCT% (10) of what `ram` uses for
#           the dataset, allkeys-lfu (so about 90% of the keys live in the cold tier)
#   redis   redis-server, everything in RAM
# and the ratios tiered/ram and tiered/redis. Runs are interleaved (ram, tiered, redis, ...)
# per pipeline depth, ROUNDS times; the median is reported. No persistence on any server.
# Before the rounds the tiered server serves WARM (60) seconds of the same reads, so the
# rounds see its hot tier settled (frequency-based admission needs a key read a few times
# before it earns RAM); WARM=0 measures from right after the load.
#
#   bash benches/tiering.sh                      # KEYS=2000000 VALUE=200 ZIPF=0.99
#   KEYS=500000 SECS=5 ROUNDS=1 bash benches/tiering.sh
#   HOT_PCT=25 bash benches/tiering.sh           # maxmemory a quarter of the dataset
#
# The load generator is server/examples/zipfget.rs (redis-benchmark has no Zipf key choice).
# Also reported: the tiered server's hot hit ratio, cold read latency percentiles, cold keys,
# RAM per cold key (RSS difference over the cold keys) and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p strata-server --example zipfget
BIN="$PWD/target/release/strata-server"
GEN="$PWD/target/release/examples/zipfget"
KEYS="${KEYS:-2000000}"
VALUE="${VALUE:-200}"
ZIPF="${ZIPF:-0.99}"
SECS="${SECS:-10}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-50}"
OUT="${OUT_DIR:-target/bench/tiering-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_ping() {
  for _ in $(seq 1 600); do
    if redis-cli -p "$1" PING 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "server on $1 did not start" >&2
  exit 1
}
field() { redis-cli -p "$1" INFO all | tr -d '\r' | awk -F: -v f="$2" '$1==f {print $2}'; }
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }

RAM=7660 TIER=7661 REDIS=7662
mkdir -p "$work/ram" "$work/tier" "$work/redis"
"$BIN" --port $RAM --dir "$work/ram" --appendonly no --save "" --logfile "$work/ram/log" &
pids+=($!); ram_pid=$!
redis-server --port $REDIS --dir "$work/redis" --save "" --appendonly no --logfile "$work/redis/log" &
pids+=($!)
wait_ping $RAM; wait_ping $REDIS
"$GEN" load $RAM "$KEYS" "$VALUE"
"$GEN" load $REDIS "$KEYS" "$VALUE"
dataset=$(field $RAM used_memory)
HOT_PCT="${HOT_PCT:-10}"
max=$((dataset * HOT_PCT / 100))
echo "dataset: $KEYS keys of $VALUE bytes, used_memory $dataset in RAM; tiered maxmemory $max" | tee "$OUT/summary.txt"

"$BIN" --port $TIER --dir "$work/tier" --appendonly no --save "" --logfile "$work/tier/log" \
  --cold-tier yes --maxmemory "$max" --maxmemory-policy allkeys-lfu &
pids+=($!); tier_pid=$!
wait_ping $TIER
rss_before=$(rss_kb $tier_pid)
"$GEN" load $TIER "$KEYS" "$VALUE"
redis-cli -p $TIER INFO tiering | tr -d '\r' > "$OUT/tiering-after-load.txt"
cold=$(field $TIER cold_keys)
rss_loaded=$(rss_kb $tier_pid)
echo "tiered after load: cold_keys $cold, hot_keys $(field $TIER hot_keys), used_memory $(field $TIER used_memory), RSS $((rss_loaded / 1024)) MB, rocksdb_memory $(field $TIER rocksdb_memory)" | tee -a "$OUT/summary.txt"

WARM="${WARM:-60}"
[[ $WARM =~ ^[0-9]+$ ]] || { echo "WARM must be a number of seconds" >&2; exit 1; }
if [ "$WARM" -gt 0 ]; then
  "$GEN" get $TIER "$KEYS" "$WARM" "$CONNS" 16 "$ZIPF" 1 > /dev/null
  echo "tiered warmed for $WARM s: hot_hit_ratio $(field $TIER hot_hit_ratio) since start" | tee -a "$OUT/summary.txt"
fi
printf "P\tround\tserver\tops\tp50_us\tp99_us\thits\tmisses\tcold_reads\n" > "$OUT/raw.tsv"
for P in 1 16; do
  for r in $(seq 1 "$ROUNDS"); do
    for s in ram tiered redis; do
      case $s in ram) port=$RAM;; tiered) port=$TIER;; redis) port=$REDIS;; esac
      cr0=0; [ $s = tiered ] && cr0=$(field $TIER cold_reads)
      line=$("$GEN" get $port "$KEYS" "$SECS" "$CONNS" "$P" "$ZIPF" $((r * 7 + P)))
      cr1=0; [ $s = tiered ] && cr1=$(field $TIER cold_reads)
      printf "%s\t%s\t%s\t%s\t%s\n" "$P" "$r" "$s" "$(echo "$line" | tr ' ' '\t')" $((${cr1:?} - ${cr0:?})) >> "$OUT/raw.tsv"
      echo "P=$P round $r $s: $line"
    done
    redis-cli -p $TIER INFO tiering | tr -d '\r' > "$OUT/tiering-P$P-r$r.txt"
  done
done
peak=$(awk '/VmHWM/ {print $2}' /proc/$tier_pid/status)

python3 - "$OUT" "$max" "$cold" "$rss_before" "$rss_loaded" "$peak" <<'EOF' | tee -a "$OUT/summary.txt"
import sys, statistics, csv, glob
out, maxmem, cold, rss0, rss1, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
rows = list(csv.DictReader(open(f"{out}/raw.tsv"), delimiter="\t"))
print("| P | ram ops/s | tiered ops/s | redis ops/s | tiered/ram | tiered/redis | p99 ram / tiered / redis (us) |")
print("|---|---|---|---|---|---|---|")
for p in ("1", "16"):
    med = {}
    p99 = {}
    for s in ("ram", "tiered", "redis"):
        rs = [r for r in rows if r["P"] == p and r["server"] == s]
        med[s] = statistics.median(float(r["ops"]) for r in rs)
        p99[s] = statistics.median(float(r["p99_us"]) for r in rs)
    rounds = sorted(set(r["round"] for r in rows if r["P"] == p))
    def ratio(a, b):
        vals = []
        for rd in rounds:
            x = [float(r["ops"]) for r in rows if r["P"] == p and r["round"] == rd and r["server"] == a]
            y = [float(r["ops"]) for r in rows if r["P"] == p and r["round"] == rd and r["server"] == b]
            vals.append(x[0] / y[0])
        return statistics.median(vals)
    print(f"| {p} | {med['ram']:,.0f} | {med['tiered']:,.0f} | {med['redis']:,.0f} | {ratio('tiered','ram'):.2f} | {ratio('tiered','redis'):.2f} | {p99['ram']:.0f} / {p99['tiered']:.0f} / {p99['redis']:.0f} |")
for p in ("1", "16"):
    rs = [r for r in rows if r["P"] == p and r["server"] == "tiered"]
    # hits and misses count every reply of the run (its second of warm-up too), as the
    # cold_reads difference does.
    hit = [1 - float(r["cold_reads"]) / (float(r["hits"]) + float(r["misses"])) for r in rs]
    print(f"tiered hot hit ratio during the -P {p} rounds: " + " / ".join(f"{h:.3f}" for h in hit))
last = sorted(glob.glob(f"{out}/tiering-P16-r*.txt"))[-1]
info = dict(l.split(":", 1) for l in open(last).read().split("\n") if ":" in l)
print(f"tiered: hot_hit_ratio {info['hot_hit_ratio']}, cold read latency p50/p99/p999 {info['cold_read_latency_p50_us']}/{info['cold_read_latency_p99_us']}/{info['cold_read_latency_p999_us']} us, "
      f"promotions {info['promotions']}, admission_rejects {info['admission_rejects']}, spills {info['spills']}")
print(f"tiered RSS: {rss1/1024:.0f} MB after load, peak {peak/1024:.0f} MB; maxmemory {maxmem/1048576:.0f} MB + rocksdb_memory {int(info['rocksdb_memory'])/1048576:.0f} MB")
EOF
echo "raw results in $OUT"
