#!/usr/bin/env bash
# Stress tests: nothing is lost, and no verdict depends on timing.
#
#   bash ci/stress.sh           the nightly form: 50 rounds, 10^6 messages
#   bash ci/stress.sh --short   the test command's form: 5 rounds, 10^5
#
# 1. Every conformance script runs on the Linux backend against the model
#    (`nscheck diff --backend linux`, which fails on the first differing
#    trace line), ROUNDS times, JOBS at a time (copies of one script side by
#    side), while HOGS busy loops keep every core loaded. The backend decides from kernel state when a call has
#    returned, is blocked or has died; a decision that leant on timing shows
#    up here as a divergence or a backend failure. Where the backend cannot
#    run (no namespaces), this part is skipped with the reason.
# 2. The concurrent implementation's stress test sends MESSAGES messages over
#    several queues and threads, and checks that none is lost or duplicated
#    and that msg_qnum, msg_cbytes and MSG_INFO are exact at quiescence
#    (concurrent/tests/threads.rs), in a release build.
#
# The environment may override ROUNDS, JOBS (default three per core), HOGS
# (default one more than the cores) and MESSAGES.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --short ]; then
  rounds=${ROUNDS:-5} messages=${MESSAGES:-100000}
else
  rounds=${ROUNDS:-50} messages=${MESSAGES:-1000000}
fi
jobs=${JOBS:-$((3 * $(nproc)))}
hogs=${HOGS:-$(($(nproc) + 1))}

hog_pids=()
stop_hogs() {
  for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_hogs EXIT

# NSCHECK_BIN runs another build of nscheck (an older one, to show that this
# test finds what it fixed).
if [ -n "${NSCHECK_BIN:-}" ]; then
  nscheck=$NSCHECK_BIN
else
  cargo build -p nscheck --locked --quiet
  nscheck=target/debug/nscheck
fi

scripts=(corpus/conformance/*.nsc)
# Exit code 3: the backend cannot run here; anything else but 0 is a failure.
probe_rc=0
probe=$("$nscheck" run --backend linux "${scripts[0]}" 2>&1 >/dev/null) || probe_rc=$?
if [ "$probe_rc" != 0 ] && [ "$probe_rc" != 3 ]; then
  echo "stress: the linux backend failed on ${scripts[0]}: $probe"
  exit 1
fi
if [ "$probe_rc" = 0 ]; then
  for _ in $(seq 1 "$hogs"); do
    (while :; do :; done) &
    hog_pids+=($!)
  done
  start=$(date +%s)
  logs=$(mktemp -d)
  # One run: `diff` against the model; a failing run keeps its output.
  run_one() {
    local n=$1 script=$2 log
    log="$logs/$n-$(basename "$script").log"
    if "$nscheck" diff --backend linux "$script" >"$log" 2>&1; then
      rm -f "$log"
    else
      echo "$script" >>"$logs/failed"
    fi
  }
  export -f run_one
  export nscheck logs
  # The copies of one script run side by side: they contend for the same
  # kernel paths (a namespace's death, a queue's wake-ups) at the same time.
  for s in "${scripts[@]}"; do for _ in $(seq 1 "$rounds"); do echo "$s"; done; done |
    awk '{ print NR, $0 }' |
    xargs -P "$jobs" -n 2 bash -c 'run_one "$@"' _
  stop_hogs
  hog_pids=()
  runs=$((rounds * ${#scripts[@]}))
  failed=0
  [ -f "$logs/failed" ] && failed=$(wc -l <"$logs/failed")
  echo "stress: linux backend: $runs runs of ${#scripts[@]} conformance scripts" \
    "($rounds rounds, $jobs at a time, $hogs busy loops): $failed failed, $(($(date +%s) - start)) s"
  if [ "$failed" != 0 ]; then
    sort "$logs/failed" | uniq -c
    tail -n 5 "$logs"/*.log | head -n 60
    exit 1
  fi
  rm -rf "$logs"
else
  echo "stress: linux backend skipped: $probe"
fi

start=$(date +%s)
NSCHECK_STRESS_MESSAGES=$messages cargo test --release --locked --quiet -p nscheck-concurrent \
  --test tests -- --exact threads::stress_many_senders_and_receivers_lose_nothing --nocapture |
  grep -E '^stress:|test result'
echo "stress: concurrent implementation: NSCHECK_STRESS_MESSAGES=$messages, $(($(date +%s) - start)) s (with the build)"
