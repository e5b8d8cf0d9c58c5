#!/usr/bin/env bash
# Runs every test: the cargo workspace tests (unit, integration, differential against a real
# redis-server, property tests), then the seed acceptance suite against a freshly started
# release strata-server. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${STRATA_SHARED:-../shared}"

# The differential tests need redis-server: fail rather than skip when it is missing.
export STRATA_REQUIRE_REDIS="${STRATA_REQUIRE_REDIS:-1}"
mkdir -p target
cargo clippy --release --all-targets -- -D warnings
cargo test --release --workspace 2>&1 | tee target/cargo-test.log
cargo build --release -p strata-server

# Acceptance tests to leave out, by name (space-separated): .ci/run lists the ones whose
# commands belong to issues not built yet.
kexpr=""
for t in ${STRATA_ACCEPTANCE_DESELECT:-}; do kexpr="${kexpr:+$kexpr and }not $t"; done
select_args=()
if [ -n "$kexpr" ]; then select_args=(-k "$kexpr"); fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
datadir=$(mktemp -d)
./target/release/strata-server --port "$port" --dir "$datadir" --logfile "$datadir/server.log" &
server_pid=$!
cleanup() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$datadir"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),0.2); s.sendall(b'PING\r\n'); sys.exit(0 if s.recv(16).startswith(b'+PONG') else 1)" 2>/dev/null; then break; fi
  sleep 0.05
done
REDIS_URL="redis://127.0.0.1:$port/0" python3 -m pytest -q "${select_args[@]}" -p no:cacheprovider \
  "$SHARED/acceptance/seed_patterns.py"
