#!/usr/bin/env bash
# The test command of the README: everything a change must pass.
#
# It installs what it needs (cargo-fuzz), so that it runs on a fresh machine,
# and it runs as root in CI, where the Linux backend's tests create real IPC
# and PID namespaces. The tiers, in order: formatting and clippy; a cargo-fuzz
# smoke run of every target on stable (NSCHECK_FUZZ_SECONDS a target, 60 by
# default; 0 skips it); the loom suite at preemption bound 2 and the shuttle
# suite at its fixed seed budget (release builds in their own target
# directories, see ci/loom.sh and ci/shuttle.sh); the short form of the
# stress tests (ci/stress.sh --short); and last `cargo test`:
# unit tests, corpus and regression replay, snapshots (insta in CI mode),
# bounded bolero runs, the mutant tests and the Linux backend's tests.
# ci/nightly.sh is the longer tier.
# The whole script takes well under 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
# A snapshot mismatch fails and writes nothing (insta's CI mode).
export INSTA_UPDATE=no
fuzz_seconds=${NSCHECK_FUZZ_SECONDS:-60}

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "rustfmt"
cargo fmt --all -- --check
(cd fuzz && cargo fmt --all -- --check)

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

if [ "$fuzz_seconds" != 0 ]; then
  step "cargo-fuzz smoke run (stable, --sanitizer none, ${fuzz_seconds}s a target)"
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
  # msg_kernel_diff drives the kernel through `nscheck __agent`; a shrunk
  # divergence goes to a scratch directory, not into the corpus.
  cargo build -p nscheck --locked
  export NSCHECK_AGENT="$PWD/target/debug/nscheck"
  NSCHECK_REGRESSIONS=$(mktemp -d)
  export NSCHECK_REGRESSIONS
  for target in $(cd fuzz && cargo fuzz list); do
    if [ "$target" = msg_kernel_diff ] &&
      ! "$NSCHECK_AGENT" diff corpus/regressions/mutant-cbytes-drift.nsc >/dev/null 2>&1; then
      echo "$target: skipped, the linux backend cannot run here"
      continue
    fi
    # The committed corpus is the seed; new units go to a scratch copy.
    scratch=$(mktemp -d)
    cp -r "corpus/$target/." "$scratch/" 2>/dev/null || true
    log=$(mktemp)
    if ! (cd fuzz && cargo fuzz run --sanitizer none "$target" "$scratch" -- \
      -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "fuzz target $target found a failure; its artifact is under fuzz/artifacts/$target/"
      ls "$NSCHECK_REGRESSIONS"/*.nsc 2>/dev/null && cat "$NSCHECK_REGRESSIONS"/*.nsc
      exit 1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" | sed "s/^/$target: /"
    rm -f "$log"
    rm -rf "$scratch"
  done
fi

step "loom, preemption bound 2"
bash ci/loom.sh

step "shuttle, fixed seeds and budget"
bash ci/shuttle.sh

step "stress, short form (the Linux backend under CPU hogs, 10^5 messages)"
bash ci/stress.sh --short

step "cargo test (unit, corpus replay, snapshots, bolero, mutants, Linux backend)"
# The gVisor backend's tests need runsc; where it cannot be installed or run
# they skip with the reason.
command -v runsc >/dev/null ||
  { apt-get install -y runsc >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }; } ||
  echo "runsc: not installed; the gVisor tests will skip"
# The closing line adds up every test binary's result line.
log=$(mktemp)
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
