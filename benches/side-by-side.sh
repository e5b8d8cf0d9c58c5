#!/usr/bin/env bash
# Side-by-side benchmark: redis-server and strata-server on this machine, same client, same run.
# Throughput ratios come from ../shared/bench/resp-bench.sh (runs interleaved per workload,
# median of ROUNDS), bytes per key from ../shared/bench/mem-recovery.py.
#
#   bash benches/side-by-side.sh                 # default suite (SET/GET/INCR/MSET at -P 1 and -P 16)
#   SUITE=p16 ROUNDS=5 bash benches/side-by-side.sh
#   MEM=0 bash benches/side-by-side.sh           # skip the bytes-per-key phase
#
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${STRATA_SHARED:-../shared}"
cargo build --release -p strata-server
BIN="$PWD/target/release/strata-server"
OUT="${OUT_DIR:-target/bench/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"

SUITE="${SUITE:-set_p1,get_p1,incr_p1,mset_p1,set_p16,get_p16,incr_p16,mset_p16,set_d1k_p16,get_d1k_p16}" \
ROUNDS="${ROUNDS:-3}" OUT_DIR="$OUT/resp" \
  bash "$SHARED/bench/resp-bench.sh" \
  'redis=cmd:redis-server --port {PORT} --dir {DIR} --save "" --appendonly no' \
  "strata=cmd:$BIN --port {PORT} --dir {DIR} --save \"\" --appendonly no"

if [ "${MEM:-1}" = 1 ]; then
  for target in "redis-server --port {PORT} --dir {DIR} --save \"\" --appendonly no" "$BIN --port {PORT} --dir {DIR} --save \"\" --appendonly no"; do
    python3 "$SHARED/bench/mem-recovery.py" --server-cmd "$target" --phases strings --port 7620 | tee -a "$OUT/memory.txt"
  done
fi
echo "results in $OUT"
