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

# Acceptance tests whose commands belong to issues not built yet (collections, messaging and
# scripting, durability, vector search). This list only shrinks.
DESELECT=(
  test_session_manager_create_get_roundtrip_with_ttl
  test_session_manager_touch_refreshes_ttl_and_last_seen
  test_session_manager_touch_on_missing_session_real_hset_semantics
  test_session_manager_invalidate
  test_rate_limit_allows_exactly_max_then_denies
  test_rate_limit_window_slides
  test_rate_limit_pipeline_replies
  test_data_structures_hash_ops
  test_data_structures_list_ops
  test_data_structures_set_ops
  test_data_structures_sorted_set_ops
  test_pubsub_async_subscriber_receives_published_message
  test_pubsub_fire_and_forget_without_subscribers
  test_pubsub_sync_subscribe_and_unsubscribe
  test_stream_group_create_mkstream_is_idempotent
  test_stream_consumer_group_processes_acks_and_leaves_failures_pending
  test_stream_xautoclaim_reclaims_failed_messages
  test_stream_xreadgroup_block_wakes_on_xadd
  test_stream_xreadgroup_block_times_out_empty
  test_redlock_acquire_and_release_on_three_nodes
  test_redlock_mutual_exclusion
  test_redlock_quorum_two_of_three
  test_redlock_release_script_compare_and_delete
  test_redlock_lock_expires_after_ttl
  test_redlock_threads_never_overlap
  test_redis_cli_bigkeys_memkeys
  test_persistence_config_round_trip
  test_pipeline_results_in_order
  test_pipeline_runtime_error_does_not_abort_other_commands
)
deselect_args=()
for t in "${DESELECT[@]}"; do deselect_args+=(--deselect "$SHARED/acceptance/seed_patterns.py::$t"); done

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
REDIS_URL="redis://127.0.0.1:$port/0" python3 -m pytest -q -m "not vector" -p no:cacheprovider \
  "${deselect_args[@]}" "$SHARED/acceptance/seed_patterns.py"
