#!/usr/bin/env bash
# The nightly tier: what is too slow for every change.
#
# - longer fuzzing of every cargo-fuzz target, under AddressSanitizer on a
#   nightly toolchain when one is installed (stable with --sanitizer none
#   otherwise), in fork mode with one job per core;
# - loom at preemption bound 3 (a truly unbounded run of these 4-thread
#   scenarios does not finish: at bound 3, copy_vs_receive alone takes about
#   119,000 executions and 2 minutes);
# - shuttle with a ten times larger budget, and 2000 generated cases of
#   the day's seed at 200 executions a scheduler each;
# - the bug zoo's kill matrix (ci/zoo.sh, about 13 minutes);
# - the stress tests (ci/stress.sh: every conformance script 50 times on the
#   Linux backend under CPU hogs, 10^6 messages through the concurrent
#   implementation);
# - a long conformance campaign against the real kernel.
#
# NSCHECK_NIGHTLY_FUZZ_SECONDS (default 1800) is the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
fuzz_seconds=${NSCHECK_NIGHTLY_FUZZ_SECONDS:-1800}
jobs=$(nproc)

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "fuzzing (${fuzz_seconds}s a target, ${jobs} jobs)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
toolchain=()
sanitizer=(--sanitizer none)
if rustup toolchain list | grep -q '^nightly'; then
  toolchain=(+nightly)
  sanitizer=()
fi
cargo build --release -p nscheck --locked
export NSCHECK_AGENT="$PWD/target/release/nscheck"
for target in $(cd fuzz && cargo fuzz list); do
  # New units go into the committed corpus directory; review and cmin them
  # before committing (see README, "Fuzzing").
  (cd fuzz && cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --jobs "$jobs" "$target" \
    "../corpus/$target" -- -max_total_time="$fuzz_seconds" -rss_limit_mb=4096)
done

step "loom, preemption bound 3"
LOOM_MAX_PREEMPTIONS=3 NSCHECK_GEN_LOOM_CASES=24 bash ci/loom.sh

step "shuttle, 20000 executions per scheduler and scenario, 2000 generated cases"
NSCHECK_SHUTTLE_ITERATIONS=20000 NSCHECK_GEN_SEED="$(date -u +%Y%m%d)" \
  NSCHECK_GEN_CASES=2000 NSCHECK_GEN_ITERATIONS=200 bash ci/shuttle.sh

step "bug zoo: the kill matrix"
bash ci/zoo.sh

step "stress: the Linux backend under load, 10^6 messages"
bash ci/stress.sh

step "conformance against the kernel, 30 minutes"
"$NSCHECK_AGENT" conform --seed "$(date -u +%Y%m%d)" --time 1800
