#!/usr/bin/env bash
# The shuttle scenarios of nscheck-loom-tests: the loom catalogue at a larger
# scale (IPC: 4 workers, 20+ calls; pid: thread 0 and 2 workers, 5 calls
# each, in trees of up to 3 levels; tasks: 4 tasks, 3 of them racing),
# each scenario under shuttle's PCT scheduler
# (depth 3) and its random scheduler, both with a fixed seed, every
# execution's history checked for linearizability against the model; plus
# one run per (scenario, mutant) that must fail and print its schedule, and
# a replay of two such schedules that must fail the same way.
#
# Then the generated scenarios (loom-tests/src/generated.rs: 2 or 3 workers
# and thread 0, 1 to 3 calls a worker on one or two queues, sleeping calls
# included, thread 0 removing the queues): NSCHECK_GEN_CASES cases (default
# 200) of seed NSCHECK_GEN_SEED (default 1), NSCHECK_GEN_ITERATIONS
# executions per scheduler and case (default 50), every history judged
# against the model; a failing case prints its script and the
# NSCHECK_GEN_REPLAY line that replays it with the printed schedule
# (test generated_replay). The same cases run against every race mutant
# (generated_catches_races), and the lock-section table (lock_sections:
# which scenarios, with the gap-closing LOCK_SCENARIOS, made two threads
# contend for each lock site of concurrent/, NSCHECK_LOCK_ITERATIONS
# executions a scheduler, default 100)
# is printed and written to target/lock-sections.md.
#
# NSCHECK_SHUTTLE_ITERATIONS is the budget: executions per scheduler and
# scenario (default 2000). Measured on the 2-core machine at 2000: about
# 25 s for the IPC scenarios and 60 s for the pid scenarios (3 to 10 s a
# scenario and scheduler) with the build cached; the generated cases about
# 15 s (20,000 executions), generated_catches_races 15 s, lock_sections
# 22 to 26 s; the whole script 3 min 27 s with clippy and the build cached.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUSTFLAGS="--cfg nscheck_shuttle"
export CARGO_TARGET_DIR=target/shuttle
export NSCHECK_SHUTTLE_ITERATIONS=${NSCHECK_SHUTTLE_ITERATIONS:-2000}
export NSCHECK_GEN_SEED=${NSCHECK_GEN_SEED:-1}
export NSCHECK_GEN_CASES=${NSCHECK_GEN_CASES:-200}
export NSCHECK_GEN_ITERATIONS=${NSCHECK_GEN_ITERATIONS:-50}

cargo clippy -p nscheck-loom-tests --all-targets --locked -- -D warnings
cargo test --release -p nscheck-loom-tests --locked -- --nocapture
