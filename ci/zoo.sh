#!/usr/bin/env bash
# The bug zoo's kill matrix: every deliberate bug of the concurrent
# implementation (`concurrent/src/mutants.rs`: the msg mutants of
# Mutant::ALL and Mutant::RACES, the task half's Mutant::TASKS, the pid
# allocator's Mutant::PID and Mutant::PID_RACES) against every checker,
# with the time to detection.
#
#   1. loom: every scenario of nscheck-loom-tests against every mutant, at
#      the preemption bound of ci/loom.sh (LOOM_MAX_PREEMPTIONS, default 2);
#   2. shuttle: the same at the budget of ci/shuttle.sh
#      (NSCHECK_SHUTTLE_ITERATIONS executions per scheduler, default 2000;
#      PCT, then the random scheduler if PCT misses);
#   3. fuzzing and corpus: `nscheck zoo`, check_ops over the seeded inputs
#      of `nscheck check` (msg and pid ops; seed NSCHECK_ZOO_SEED, default
#      1) for at most NSCHECK_ZOO_SECONDS a mutant (default 60), and the
#      conformance and dialect scripts of corpus/ (the dialect ones in
#      mainline, flat2007 and openvz2006); it also reads the results of 1
#      and 2 and prints the one combined table (Markdown).
#
# The steps run one after the other, so that their timings do not disturb
# each other. The table also goes to target/zoo/matrix.md. The script fails
# unless every mutant is caught by at least one checker, every loom and
# shuttle scenario fails against at least one mutant, and the unmutated
# implementation passes the fuzzing inputs that caught the mutants.
# Measured on the 2-core machine: about 16 minutes with the builds cached
# (each survivor costs a whole budget: 60 s of fuzzing, every scenario's
# full exploration).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
out="$PWD/target/zoo"
mkdir -p "$out"
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

step "loom column"
(
  export RUSTFLAGS="--cfg nscheck_loom" CARGO_TARGET_DIR=target/loom
  export NSCHECK_ZOO_OUT="$out/loom.tsv"
  cargo test --release -p nscheck-loom-tests --test loom --locked -- --exact zoo --nocapture
)

step "shuttle column"
(
  export RUSTFLAGS="--cfg nscheck_shuttle" CARGO_TARGET_DIR=target/shuttle
  export NSCHECK_SHUTTLE_ITERATIONS=${NSCHECK_SHUTTLE_ITERATIONS:-2000}
  export NSCHECK_ZOO_OUT="$out/shuttle.tsv"
  cargo test --release -p nscheck-loom-tests --test shuttle --locked -- --exact zoo --nocapture
)

step "fuzzing column and the matrix"
# Its own target directory: the feature `mutants` would otherwise replace
# the ordinary release build of nscheck.
export CARGO_TARGET_DIR=target/zoo
cargo build --release -p nscheck --features mutants --locked
{
  echo "Kill matrix of the bug zoo: ci/zoo.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo
  target/zoo/release/nscheck zoo --seed "${NSCHECK_ZOO_SEED:-1}" \
    --time "${NSCHECK_ZOO_SECONDS:-60}" \
    --results "$out/loom.tsv" --results "$out/shuttle.tsv"
} | tee "$out/matrix.md"
