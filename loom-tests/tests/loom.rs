//! The scenario catalogue (`common/mod.rs`) under loom: every interleaving
//! up to the preemption bound, each execution's history judged against the
//! model.
//!
//! Run with `ci/loom.sh`, or:
//! `RUSTFLAGS="--cfg nscheck_loom" CARGO_TARGET_DIR=target/loom cargo test --release -p nscheck-loom-tests`
//!
//! The preemption bound is 2 unless `LOOM_MAX_PREEMPTIONS` says otherwise
//! (e.g. `LOOM_MAX_PREEMPTIONS=3` for a deeper, slower run). A lost
//! wake-up shows as loom's deadlock panic: every thread blocked.

#![cfg(nscheck_loom)]

#[macro_use]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{SCENARIOS, SMALL, Scenario, scenario};
use nscheck_concurrent::mutants::Mutant;
use nscheck_loom_tests::generated;

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

/// Explores `s` against `mutant` with loom; returns the number of
/// executions. Panics (with loom's or the checker's message) on a failure.
fn explore(s: &'static Scenario, mutant: Option<Mutant>) -> usize {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    let run = s.run;
    b.check(move || {
        count.fetch_add(1, Ordering::Relaxed);
        run(SMALL, mutant);
    });
    n.load(Ordering::Relaxed)
}

/// Explores the unmutated implementation and reports the cost.
fn passes(name: &str) {
    let s = scenario(name);
    let start = Instant::now();
    let n = explore(s, None);
    eprintln!(
        "loom {name}: {n} executions in {:.2?} (bound {})",
        start.elapsed(),
        bound()
    );
}

scenario_tests!();

/// The scenarios of `LOCK_SCENARIOS`, which only contend lock sections
/// that the catalogue does not (no mutant lives there, so the bug zoo
/// leaves them out): each explored at the bound, judged like the
/// catalogue's.
#[test]
fn lock_scenarios() {
    for s in common::LOCK_SCENARIOS {
        let start = Instant::now();
        let n = explore(s, None);
        eprintln!(
            "loom {}: {n} executions in {:.2?} (bound {})",
            s.name,
            start.elapsed(),
            bound()
        );
    }
}

/// The environment variable that makes [`mutant_child`] run a scenario
/// against a mutant: `scenario:Mutant`.
const CHILD: &str = "NSCHECK_LOOM_MUTANT";

/// Runs the scenario and mutant named by `NSCHECK_LOOM_MUTANT`, without
/// catching the failure; does nothing when it is unset. [`catches`] runs
/// this test in a child process of the test binary.
#[test]
fn mutant_child() {
    let Ok(what) = std::env::var(CHILD) else {
        return;
    };
    let (name, mutant) = what.split_once(':').expect("scenario:Mutant");
    let mutant = common::mutant_named(mutant);
    explore(scenario(name), Some(mutant));
}

/// The command that explores `name` against `mutant` in a child process
/// (the test binary running [`mutant_child`]).
fn child(name: &str, mutant: Mutant) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", "mutant_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{name}:{mutant:?}"))
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// The preemption bound in force, for reports.
fn bound() -> String {
    std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or(DEFAULT_PREEMPTIONS.to_string())
}

/// Explores `name` against `mutant`, which must fail; prints the failure.
///
/// The exploration runs in a child process (the test binary running
/// [`mutant_child`]): a loom deadlock panic unwinds through threads that
/// still hold loom objects, whose destructors panic again, and that
/// aborts the process, so it cannot be caught in this one.
fn catches(name: &str, mutant: Mutant) {
    let s = scenario(name);
    assert!(
        s.catches.contains(&mutant),
        "{name} does not list {mutant:?}"
    );
    let start = Instant::now();
    let out = child(name, mutant).output().expect("the child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failure: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            // Leave out backtraces: loom's deadlock panic aborts with one.
            let t = l.trim_start();
            !(l.starts_with("note:")
                || l.starts_with("stack backtrace")
                || t.starts_with("at ")
                || t.split_once(':')
                    .is_some_and(|(n, _)| n.parse::<u32>().is_ok()))
        })
        .take(60)
        .collect();
    assert!(
        !out.status.success(),
        "loom {name}: the mutant {mutant:?} survived\n{stderr}"
    );
    assert!(
        stderr.contains("deadlock")
            || stderr.contains("not linearizable")
            || stderr.contains("MSG_INFO says")
            || stderr.contains("taken and published differ")
            || stderr.contains("a number of a live pid"),
        "loom {name}: {mutant:?} failed for an unexpected reason:\n{stderr}"
    );
    eprintln!(
        "loom {name} catches {mutant:?} in {:.2?} ({}):\n{}\n",
        start.elapsed(),
        out.status,
        failure.join("\n")
    );
}

mutant_tests!();

/// The bug zoo's loom column (`ci/zoo.sh`): with `NSCHECK_ZOO_OUT` set,
/// explores every scenario against every mutant, each in a child process,
/// and writes whether it failed and how long it took
/// ([`common::zoo`]). Does nothing otherwise.
#[test]
fn zoo() {
    common::zoo(
        "loom",
        &format!("preemption bound {}", bound()),
        &[],
        |s, m| {
            let start = Instant::now();
            let (status, stderr) = common::run_limited(child(s.name, m), common::ZOO_RUN_LIMIT);
            let took = start.elapsed();
            match status {
                Some(st) if !st.success() => common::ZooRun {
                    caught: true,
                    took,
                    why: common::zoo_why(&stderr),
                },
                Some(_) => common::ZooRun {
                    caught: false,
                    took,
                    why: String::new(),
                },
                None => common::ZooRun {
                    caught: false,
                    took,
                    why: "timed out".into(),
                },
            }
        },
    );
}

/// How many generated cases loom explores (`NSCHECK_GEN_LOOM_CASES`).
const DEFAULT_GEN_LOOM_CASES: usize = 12;

/// How many cases of the seed loom scans for small ones.
const GEN_SCAN: u64 = 500;

/// The smallest generated scenarios (`nscheck_loom_tests::generated`: two
/// workers of at most two calls, one queue; the first
/// `NSCHECK_GEN_LOOM_CASES` such cases among the first [`GEN_SCAN`] of
/// seed `NSCHECK_GEN_SEED`), each explored at the preemption bound like
/// the catalogue's, thread 0 removing the queue without yielding first.
#[test]
fn generated() {
    let seed = std::env::var("NSCHECK_GEN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(generated::DEFAULT_SEED);
    let count = std::env::var("NSCHECK_GEN_LOOM_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_GEN_LOOM_CASES);
    let (mut total, all) = (0, Instant::now());
    for mut g in generated::small_cases(seed, GEN_SCAN, count) {
        g.yields = 0;
        let mut b = loom::model::Builder::new();
        if b.preemption_bound.is_none() {
            b.preemption_bound = Some(DEFAULT_PREEMPTIONS);
        }
        let n = Arc::new(AtomicUsize::new(0));
        let count = n.clone();
        let start = Instant::now();
        let case = g.clone();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.check(move || {
                count.fetch_add(1, Ordering::Relaxed);
                common::generated::run_generated(&case, None);
            })
        }));
        if let Err(e) = run {
            eprint!("loom: this generated case failed\n{g}");
            std::panic::resume_unwind(e);
        }
        let n = n.load(Ordering::Relaxed);
        total += n;
        eprintln!(
            "loom generated seed {seed} case {}: {n} executions in {:.2?} (bound {})",
            g.case,
            start.elapsed(),
            bound()
        );
    }
    eprintln!(
        "loom generated: {count} cases, {total} executions in {:.2?}",
        all.elapsed()
    );
}
