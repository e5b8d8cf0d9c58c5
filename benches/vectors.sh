#!/usr/bin/env bash
# Vector search: KNN-10 queries per second and recall@10 of FT.SEARCH over RESP, against raw
# usearch in process on the same data with the same HNSW parameters (M 16, EF_CONSTRUCTION
# 200, Strata's default EF_RUNTIME), plus insert throughput and the server's memory; then
# again after SAVE, with the graph memory-mapped from its segment file (heap vs page cache).
#
#   bash benches/vectors.sh                      # 100k x 128-d, 500 queries, 4 connections,
#                                                # 3 alternating 5 s rounds per side
#   VECTORS=1000000 bash benches/vectors.sh      # the 1M case (needs several GB and time)
#
# One strata-server without persistence; the load generator is server/examples/vecbench.rs,
# which prints key=value lines (saved under target/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p strata-server --example vecbench
BIN="$PWD/target/release/strata-server"
GEN="$PWD/target/release/examples/vecbench"
VECTORS="${VECTORS:-100000}"
DIM="${DIM:-128}"
QUERIES="${QUERIES:-500}"
CONNS="${CONNS:-4}"
SECONDS_EACH="${SECONDS_EACH:-5}"
ROUNDS="${ROUNDS:-3}"
PORT=7671
OUT="${OUT_DIR:-target/bench/vectors-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$BIN" --port $PORT --dir "$work" --appendonly no --save "" --logfile "$work/log" &
pid=$!
for _ in $(seq 1 300); do redis-cli -p $PORT PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
"$GEN" $PORT "$VECTORS" "$DIM" "$QUERIES" "$CONNS" "$SECONDS_EACH" "$ROUNDS" | tee "$OUT/result.txt"
