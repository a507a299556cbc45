#!/usr/bin/env bash
# Every loom test of the workspace, in loom's own target directory:
#
# - the scenarios of nscheck-loom-tests: every interleaving of each scenario
#   up to the preemption bound, each execution's history checked for
#   linearizability against the model (the IPC scenarios, and the task_*
#   scenario, which races task calls: tests/common/tasks.rs) or the pid
#   specification (the pid_* scenarios, which race the numbers of a tree of
#   PID namespaces: tests/common/pid.rs), plus one run per (scenario,
#   mutant) that must fail; each scenario prints its number of executions;
# - the smallest generated scenarios (loom-tests/src/generated.rs: two
#   workers of at most two calls on one queue, thread 0 removing it): the
#   first NSCHECK_GEN_LOOM_CASES (default 12) such cases of seed
#   NSCHECK_GEN_SEED (default 1), each explored at the bound (seed 1 at
#   bound 2: 327 to 546 executions a case, 4,977 in all, 3.5 s);
# - nscheck-concurrent's own loom test (concurrent/tests/loom.rs): the queue
#   protocol's hand-off, sleeping senders, removal racing a receiver and an
#   rfc2012 copy that may sleep racing a send and a receive, checked by
#   assertions.
#
# LOOM_MAX_PREEMPTIONS sets the bound (default 2; ci/nightly.sh passes 3 for
# a deeper, much slower run). loom reads an unset or empty bound as
# "unbounded", which these tests do not finish (concurrent's sleeping-senders
# test alone runs for many minutes), so this script always sets one.
# Measured on the 2-core machine at bound 2, with the build cached: about
# 80 s for nscheck-loom-tests (plus the mutant runs), of which the six pid
# scenarios and the task scenario take about 3 s (146 to 665 executions
# each, 1,963 in all; the counts follow the implementation's
# synchronization points, so they move when it changes); 0.3 s and 1,596
# executions for concurrent/tests/loom.rs (at bound 3: 1.6 s, 17,741).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never NO_COLOR=1
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUSTFLAGS="--cfg nscheck_loom"
export CARGO_TARGET_DIR=target/loom

cargo clippy -p nscheck-loom-tests -p nscheck-concurrent --all-targets --locked -- -D warnings
cargo test --release -p nscheck-loom-tests --locked -- --nocapture
# loom::model logs each test's number of executions at level info.
LOOM_LOG=loom::model=info cargo test --release -p nscheck-concurrent --test loom --locked \
  -- --nocapture --test-threads 1
# The pid half's loom checks are unit tests of the library
# (concurrent/src/pid/loom_checks.rs): 6 small races, 10 to 20 executions each.
LOOM_LOG=loom::model=info cargo test --release -p nscheck-concurrent --lib --locked \
  -- --nocapture --test-threads 1 pid::
