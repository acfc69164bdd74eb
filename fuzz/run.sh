#!/usr/bin/env bash
# Fuzzes every decoder of untrusted bytes for a fixed time each, one target after the
# other, and prints per target the executions run and the crashes found (docs/fuzzing.md).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Stable Rust: libFuzzer's coverage instrumentation needs no nightly flag, the address
# sanitizer does, so targets run with `--sanitizer none`. Installs cargo-fuzz when missing.
# Builds go to $CARGO_TARGET_DIR (default ~/.cache/netcode-fuzz-target), outside the clone.
# Exits 1 when any target crashed (the input is saved under fuzz/artifacts/TARGET/).
set -euo pipefail

SECONDS_PER_TARGET=${1:-60}
shift || true
case $SECONDS_PER_TARGET in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

ALL_TARGETS=(protocol_message heartbeat_frame snapshot_full snapshot_delta delta_receiver invite_code seat_file
  rendezvous_frame rendezvous_service traversal lan_beacon stun_message pcp_answer natpmp_answer dht_record
  net_message replicated_component)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

RSS_LIMIT_MB=512    # libFuzzer stops a run whose resident memory passes this
MALLOC_LIMIT_MB=16  # one allocation; enforced by netcode_fuzz::MAX_ALLOC_BYTES (see lib.rs)
MAX_LEN=4096        # largest input libFuzzer generates
TIMEOUT_S=10        # one input running longer than this is a crash (a hang)

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/netcode-fuzz-target}
export RUST_BACKTRACE=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (from crates.io source)"
  cargo install cargo-fuzz --locked
fi

echo "== seeds (valid encodings) into fuzz/corpus"
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

echo "== building ${#TARGETS[@]} targets (sanitizer none, debug assertions and overflow checks on)"
for t in "${TARGETS[@]}"; do
  cargo fuzz build --sanitizer none --debug-assertions "$t"
done

mkdir -p fuzz/logs
summary=()
total_crashes=0
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  log="fuzz/logs/$t.log"
  echo "== $t: ${SECONDS_PER_TARGET}s (log: $log)"
  start=$(date +%s)
  set +e
  cargo fuzz run --sanitizer none --debug-assertions "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" \
    -malloc_limit_mb="$MALLOC_LIMIT_MB" -max_len="$MAX_LEN" -timeout="$TIMEOUT_S" \
    -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then
    execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
  fi
  fuzzed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  crashes=$(( $(find "fuzz/artifacts/$t" -type f | wc -l) - before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # stopped abnormally without an artifact: count it, the log says why
  fi
  total_crashes=$((total_crashes + crashes))
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  summary+=("$(printf '%-18s %7s %6ss %12s %8s %8s' "$t" "${fuzzed:-?}s" "$elapsed" "${execs:-?}" "$corpus" "$crashes")")
  if [ "$crashes" -gt 0 ]; then
    grep -A 1 -E "panicked at|==netcode-fuzz==" "$log" | head -n 4 || true
    grep -E "ERROR: libFuzzer|Test unit written to" "$log" | head -n 2 || true
  fi
done

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), rustc $(rustc --version | cut -d' ' -f2), ${SECONDS_PER_TARGET}s per target)"
printf '%-18s %7s %7s %12s %8s %8s\n' target fuzzed wall executions corpus crashes
printf '%s\n' "${summary[@]}"
if [ "$total_crashes" -gt 0 ]; then
  echo "crashes saved under fuzz/artifacts/; reproduce one (see docs/fuzzing.md):"
  echo "  cargo fuzz run --sanitizer none --debug-assertions TARGET fuzz/artifacts/TARGET/FILE"
  exit 1
fi
