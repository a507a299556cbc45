//! The scenario catalogue (`common/mod.rs`) at a larger scale under
//! shuttle: four worker threads and twenty or more calls a scenario, each
//! scenario run under the PCT scheduler and then the random scheduler, both
//! seeded, each execution's history judged against the model.
//!
//! Run with `ci/shuttle.sh`, or:
//! `RUSTFLAGS="--cfg nscheck_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --release -p nscheck-loom-tests --test shuttle`
//!
//! The budget is `NSCHECK_SHUTTLE_ITERATIONS` executions per scheduler and
//! scenario (default [`DEFAULT_ITERATIONS`]); the seeds are fixed, so a run
//! is reproducible. On a failure shuttle prints the failing schedule;
//! `shuttle::replay` of that string reproduces it, which
//! `a_failing_schedule_replays` demonstrates on a mutant.

#![cfg(all(nscheck_shuttle, not(nscheck_loom)))]

#[macro_use]
mod common;

use std::process::{Command, Output};
use std::time::Instant;

use common::{SCENARIOS, Scale, Scenario, scenario};
use nscheck_concurrent::mutants::Mutant;
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, Runner};

/// The shuttle instance of every scenario.
const LARGE: Scale = Scale {
    workers: 4,
    rounds: 5,
};

/// Executions per scheduler and scenario unless `NSCHECK_SHUTTLE_ITERATIONS`
/// says otherwise.
const DEFAULT_ITERATIONS: usize = 2000;

/// The seed of both schedulers.
const SEED: u64 = 0x006e_7363_6865_636b;

/// PCT's bug depth: how many priority change points an execution has.
const PCT_DEPTH: usize = 3;

fn iterations() -> usize {
    std::env::var("NSCHECK_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

/// Which scheduler explores.
#[derive(Clone, Copy, Debug)]
enum Sched {
    Pct,
    Random,
}

/// Runs `s` against `mutant` for the budget under `sched`. Panics (after
/// shuttle printed the failing schedule) on a failure.
fn explore(s: &'static Scenario, mutant: Option<Mutant>, sched: Sched) {
    let run = s.run;
    let body = move || run(LARGE, mutant);
    let n = iterations();
    match sched {
        Sched::Pct => Runner::new(
            PctScheduler::new_from_seed(SEED, PCT_DEPTH, n),
            Config::new(),
        )
        .run(body),
        Sched::Random => {
            Runner::new(RandomScheduler::new_from_seed(SEED, n), Config::new()).run(body)
        }
    };
}

/// Runs the unmutated implementation under both schedulers and reports the
/// cost.
fn passes(name: &str) {
    let s = scenario(name);
    for sched in [Sched::Pct, Sched::Random] {
        let start = Instant::now();
        explore(s, None, sched);
        eprintln!(
            "shuttle {name} {sched:?}: {} executions in {:.2?}",
            iterations(),
            start.elapsed()
        );
    }
}

scenario_tests!();

/// What the child test runs: `scenario:Mutant:Pct|Random`, optionally
/// followed by `:replay` (then the schedule is in [`SCHEDULE`]).
const CHILD: &str = "NSCHECK_SHUTTLE_MUTANT";
/// The schedule a replaying child replays.
const SCHEDULE: &str = "NSCHECK_SHUTTLE_SCHEDULE";

/// Runs what [`CHILD`] names without catching the failure; does nothing
/// when it is unset. The mutant tests run this test in a child process, so
/// that shuttle's panic hook (installed once per process) prints each
/// failing schedule and a failure cannot disturb other tests.
#[test]
fn mutant_child() {
    let Ok(what) = std::env::var(CHILD) else {
        return;
    };
    let parts: Vec<&str> = what.split(':').collect();
    let s = scenario(parts[0]);
    let mutant = common::mutant_named(parts[1]);
    let sched = if parts[2] == "Pct" {
        Sched::Pct
    } else {
        Sched::Random
    };
    if parts.get(3) == Some(&"replay") {
        let schedule = std::env::var(SCHEDULE).expect("the schedule to replay");
        let run = s.run;
        shuttle::replay(move || run(LARGE, Some(mutant)), &schedule);
    } else {
        explore(s, Some(mutant), sched);
    }
}

/// The command that runs [`mutant_child`] on `what` in a child process.
fn child_command(what: &str, schedule: Option<&str>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args(["--exact", "mutant_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, what)
        .env("RUST_BACKTRACE", "0");
    if let Some(s) = schedule {
        cmd.env(SCHEDULE, s);
    }
    cmd
}

fn child(what: &str, schedule: Option<&str>) -> Output {
    child_command(what, schedule)
        .output()
        .expect("the child runs")
}

/// The failing schedule shuttle printed: the lines between the two lines
/// holding a lone `"` after `failing schedule:`, joined.
fn schedule_of(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines().skip_while(|l| *l != "failing schedule:");
    lines.next()?;
    (lines.next()? == "\"").then_some(())?;
    let schedule: String = lines.take_while(|l| *l != "\"").collect();
    (!schedule.is_empty()).then_some(schedule)
}

/// The failure message: the panic's first line and what follows, up to the
/// schedule.
fn failure(stderr: &str) -> String {
    stderr
        .lines()
        .skip_while(|l| !l.contains("panicked at"))
        .take_while(|l| *l != "failing schedule:" && *l != "Task failed, serializing schedule")
        .take(40)
        .map(|l| match l.find("panicked at") {
            // The thread's id differs from run to run.
            Some(i) => &l[i..],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `name` against `mutant` (under PCT, then under the random
/// scheduler if PCT misses it), which must fail and print its schedule.
/// Returns the scheduler and the schedule.
fn catches(name: &str, mutant: Mutant) -> (Sched, String) {
    let s = scenario(name);
    assert!(
        s.catches.contains(&mutant),
        "{name} does not list {mutant:?}"
    );
    for sched in [Sched::Pct, Sched::Random] {
        let start = Instant::now();
        let out = child(&format!("{name}:{mutant:?}:{sched:?}"), None);
        if out.status.success() {
            eprintln!(
                "shuttle {name} {sched:?}: {mutant:?} survived {} executions",
                iterations()
            );
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let schedule = schedule_of(&stderr)
            .unwrap_or_else(|| panic!("{name} {mutant:?}: no schedule printed:\n{stderr}"));
        eprintln!(
            "shuttle {name} {sched:?} catches {mutant:?} in {:.2?}:\n{}\nfailing schedule: {schedule}\n",
            start.elapsed(),
            failure(&stderr)
        );
        return (sched, schedule);
    }
    panic!("shuttle {name}: the mutant {mutant:?} survived both schedulers");
}

mutant_tests!();

/// A failure's printed schedule, passed to `shuttle::replay`, fails the
/// same way again: here the lost wake-up (B8) and the copy aliasing (B17).
#[test]
fn a_failing_schedule_replays() {
    for (name, mutant) in [
        ("full_queue", Mutant::LostWakeup),
        ("copy_vs_receive", Mutant::CopyAliasing),
    ] {
        let (sched, schedule) = catches(name, mutant);
        let first = child(&format!("{name}:{mutant:?}:{sched:?}"), None);
        let again = child(
            &format!("{name}:{mutant:?}:{sched:?}:replay"),
            Some(&schedule),
        );
        assert!(
            !again.status.success(),
            "{name} {mutant:?}: the replay passed"
        );
        let (first, again) = (
            String::from_utf8_lossy(&first.stderr),
            String::from_utf8_lossy(&again.stderr),
        );
        assert_eq!(
            failure(&first),
            failure(&again),
            "{name} {mutant:?}: the replay failed differently"
        );
        eprintln!(
            "shuttle {name} {mutant:?}: replaying {schedule} reproduces\n{}\n",
            failure(&again)
        );
    }
}

/// The bug zoo's shuttle column (`ci/zoo.sh`): with `NSCHECK_ZOO_OUT` set,
/// runs every scenario against every mutant as [`catches`] does (under
/// PCT, then under the random scheduler if PCT misses it), each in a child
/// process, and writes whether it failed and how long it took, both
/// schedulers' runs included ([`common::zoo`]). Does nothing otherwise.
#[test]
fn zoo() {
    let budget = format!(
        "{} executions a scheduler, PCT depth {PCT_DEPTH} then random",
        iterations()
    );
    common::zoo("shuttle", &budget, |s, m| {
        let start = Instant::now();
        for sched in [Sched::Pct, Sched::Random] {
            let (status, stderr) = common::run_limited(
                child_command(&format!("{}:{m:?}:{sched:?}", s.name), None),
                common::ZOO_RUN_LIMIT,
            );
            match status {
                Some(st) if !st.success() => {
                    return common::ZooRun {
                        caught: true,
                        took: start.elapsed(),
                        why: format!("{} ({sched:?})", common::zoo_why(&stderr)),
                    };
                }
                Some(_) => {}
                None => {
                    return common::ZooRun {
                        caught: false,
                        took: start.elapsed(),
                        why: format!("timed out ({sched:?})"),
                    };
                }
            }
        }
        common::ZooRun {
            caught: false,
            took: start.elapsed(),
            why: String::new(),
        }
    });
}
