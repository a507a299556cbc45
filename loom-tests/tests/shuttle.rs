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

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Instant;

use common::generated::run_generated as generated_case;
use common::{SCENARIOS, Scale, Scenario, scenario};
use nscheck_concurrent::mutants::Mutant;
use nscheck_concurrent::sync::contention;
use nscheck_loom_tests::generated::{self, Generated};
use nscheck_loom_tests::lock_sections::Hits;
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
    run_under(sched, iterations(), move || run(LARGE, mutant));
}

/// Runs `body` for `n` executions under `sched`, with the fixed seed.
fn run_under(sched: Sched, n: usize, body: impl Fn() + Send + Sync + 'static) {
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
/// followed by `:replay` (then the schedule is in [`SCHEDULE`]); or
/// `generated:Mutant`, the generated cases against the mutant.
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
    if parts[0] == "generated" {
        let mutant = common::mutant_named(parts[1]);
        generated_suite(
            Some(mutant),
            gen_cases(),
            gen_iterations(),
            &mut BTreeMap::new(),
        );
        return;
    }
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

/// The generated cases as one scenario of the bug zoo's shuttle column:
/// its child runs every case ([`generated_suite`]) against the mutant.
const GENERATED: Scenario = Scenario {
    name: "generated",
    run: |_, _| unreachable!("the zoo runs the generated cases in a child"),
    half: common::Half::Ipc,
    catches: common::GENERATED_ONLY,
};

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
    common::zoo("shuttle", &budget, &[GENERATED], |s, m| {
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

/// The seed of the generated scenarios (`NSCHECK_GEN_SEED`, default
/// [`generated::DEFAULT_SEED`]).
fn gen_seed() -> u64 {
    env_or("NSCHECK_GEN_SEED", generated::DEFAULT_SEED)
}

/// How many generated cases a run takes (`NSCHECK_GEN_CASES`).
fn gen_cases() -> u64 {
    env_or("NSCHECK_GEN_CASES", DEFAULT_GEN_CASES)
}

/// Executions per scheduler and generated case (`NSCHECK_GEN_ITERATIONS`).
fn gen_iterations() -> usize {
    env_or("NSCHECK_GEN_ITERATIONS", DEFAULT_GEN_ITERATIONS)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Generated cases a run takes unless `NSCHECK_GEN_CASES` says otherwise.
const DEFAULT_GEN_CASES: u64 = 200;

/// Executions per scheduler and generated case unless
/// `NSCHECK_GEN_ITERATIONS` says otherwise.
const DEFAULT_GEN_ITERATIONS: usize = 50;

/// Runs generated case `g` against `mutant` for `n` executions under
/// `sched`. Panics (after shuttle printed the failing schedule) on a
/// failure.
fn explore_generated(g: &Generated, mutant: Option<Mutant>, sched: Sched, n: usize) {
    let g = g.clone();
    run_under(sched, n, move || generated_case(&g, mutant));
}

/// The line a failing generated case prints before its script, then the
/// command that replays it: `seed:case:mutant` (`-` for none).
const GEN_FAILED: &str = "generated case failed; replay with";

/// Runs the generated cases `0..cases` of the seed against `mutant`, each
/// under PCT and then the random scheduler for `n` executions, adding
/// each case's contention log to `hits` (one entry per case whose threads
/// contended). On a failure prints the case's script and how to replay it
/// (shuttle prints the schedule), then panics again.
fn generated_suite(
    mutant: Option<Mutant>,
    cases: u64,
    n: usize,
    hits: &mut BTreeMap<String, Hits>,
) {
    let seed = gen_seed();
    for case in 0..cases {
        let g = generated::generate(seed, case);
        for sched in [Sched::Pct, Sched::Random] {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                explore_generated(&g, mutant, sched, n)
            }));
            if let Err(e) = run {
                let m = mutant.map_or("-".to_string(), |m| format!("{m:?}"));
                eprintln!(
                    "{GEN_FAILED} NSCHECK_GEN_REPLAY={seed}:{case}:{m} NSCHECK_SHUTTLE_SCHEDULE=<the schedule above> \
                     cargo test --release -p nscheck-loom-tests --test shuttle -- --exact generated_replay ({sched:?})\n{g}"
                );
                std::panic::resume_unwind(e);
            }
        }
        let log = contention::take();
        if !log.is_empty() {
            hits.insert(format!("gen {seed}:{case:04}"), log);
        }
    }
}

/// The generated scenarios: [`gen_cases`] cases of [`gen_seed`], each run
/// for [`gen_iterations`] executions under PCT and then the random
/// scheduler, every history judged against the model.
#[test]
fn generated() {
    let (cases, n) = (gen_cases(), gen_iterations());
    let start = Instant::now();
    generated_suite(None, cases, n, &mut BTreeMap::new());
    eprintln!(
        "shuttle generated: seed {}, {cases} cases, {} executions in {:.2?}",
        gen_seed(),
        cases * 2 * n as u64,
        start.elapsed()
    );
}

/// Replays one execution of a generated case: `NSCHECK_GEN_REPLAY` is
/// `seed:case:mutant` (the mutant's name, or `-` for none) and
/// `NSCHECK_SHUTTLE_SCHEDULE` the schedule shuttle printed, as the failure
/// says. Does nothing when `NSCHECK_GEN_REPLAY` is unset.
#[test]
fn generated_replay() {
    let Ok(what) = std::env::var("NSCHECK_GEN_REPLAY") else {
        return;
    };
    let (g, mutant) = replay_target(&what);
    let schedule = std::env::var(SCHEDULE).expect("the schedule to replay");
    eprint!("{g}");
    shuttle::replay(move || generated_case(&g, mutant), &schedule);
}

/// The case and mutant `seed:case:mutant` names.
fn replay_target(what: &str) -> (Generated, Option<Mutant>) {
    let parts: Vec<&str> = what.split(':').collect();
    let [seed, case, mutant] = parts[..] else {
        panic!("NSCHECK_GEN_REPLAY={what}: expected seed:case:mutant");
    };
    let g = generated::generate(seed.parse().expect("a seed"), case.parse().expect("a case"));
    let mutant = (mutant != "-").then(|| common::mutant_named(mutant));
    (g, mutant)
}

/// The generated cases against each race mutant of the msg half
/// (`Mutant::RACES`) but those only a killed task shows
/// ([`common::KILL_RACES`]: no generated case kills a task), each in a
/// child process: which mutants they catch, in which case and how fast;
/// the first catch's printed schedule must replay to the same failure
/// through [`generated_replay`].
#[test]
fn generated_catches_races() {
    let mut replayed = false;
    let mut missed = Vec::new();
    for &m in Mutant::RACES
        .iter()
        .filter(|m| !common::KILL_RACES.contains(m))
    {
        let start = Instant::now();
        let out = child(&format!("generated:{m:?}"), None);
        let took = start.elapsed();
        if out.status.success() {
            eprintln!("shuttle generated: {m:?} survived in {took:.2?}");
            missed.push(m);
            continue;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (replay, script) = stderr
            .split_once(GEN_FAILED)
            .map(|(_, rest)| {
                let (line, script) = rest.split_once('\n').unwrap_or((rest, ""));
                (line.trim().to_string(), script.to_string())
            })
            .unwrap_or_else(|| panic!("generated {m:?}: no case printed:\n{stderr}"));
        let target = replay
            .split_whitespace()
            .find_map(|w| w.strip_prefix("NSCHECK_GEN_REPLAY="))
            .expect("the case to replay");
        let case: String = script.lines().take(1).collect();
        eprintln!(
            "shuttle generated catches {m:?} in {took:.2?} ({case}): {}",
            common::zoo_why(&stderr)
        );
        if replayed {
            continue;
        }
        let schedule = schedule_of(&stderr).expect("shuttle printed the schedule");
        let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
        cmd.args(["--exact", "generated_replay", "--nocapture"])
            .env("NSCHECK_GEN_REPLAY", target)
            .env(SCHEDULE, &schedule)
            .env("RUST_BACKTRACE", "0");
        let again = cmd.output().expect("the replay runs");
        assert!(
            !again.status.success(),
            "generated {m:?}: the replay passed"
        );
        // The replay prints no replay line of its own.
        let panic_of = |s: &str| {
            failure(s)
                .split(GEN_FAILED)
                .next()
                .map(|p| p.trim().to_string())
        };
        assert_eq!(
            panic_of(&stderr),
            panic_of(&String::from_utf8_lossy(&again.stderr)),
            "generated {m:?}: the replay failed differently"
        );
        eprintln!(
            "shuttle generated {m:?}: NSCHECK_GEN_REPLAY={target} and the schedule reproduce it"
        );
        replayed = true;
    }
    let must: Vec<_> = missed
        .iter()
        .filter(|m| common::GENERATED_ONLY.contains(m))
        .collect();
    assert!(must.is_empty(), "the generated cases missed {must:?}");
}

/// Executions per scheduler and scenario of the lock-section table's runs
/// (`NSCHECK_LOCK_ITERATIONS`).
const DEFAULT_LOCK_ITERATIONS: usize = 100;

/// The lock-section table: every scenario of the catalogue and of
/// `LOCK_SCENARIOS`, and every generated case, is run again, for `NSCHECK_LOCK_ITERATIONS` executions
/// a scheduler (default [`DEFAULT_LOCK_ITERATIONS`]; the generated cases a
/// quarter of it), recording where a thread found a lock held by another
/// (`nscheck_concurrent::sync::contention`). Prints the table (Markdown)
/// and writes it to `target/lock-sections.md`; a section no scenario
/// contends is listed as a gap.
#[test]
fn lock_sections() {
    let n = env_or("NSCHECK_LOCK_ITERATIONS", DEFAULT_LOCK_ITERATIONS);
    let start = Instant::now();
    contention::take();
    let mut runs: BTreeMap<String, Hits> = BTreeMap::new();
    for s in SCENARIOS.iter().chain(common::LOCK_SCENARIOS) {
        let run = s.run;
        for sched in [Sched::Pct, Sched::Random] {
            run_under(sched, n, move || run(LARGE, None));
        }
        runs.insert(s.name.to_string(), contention::take());
    }
    let mut generated = BTreeMap::new();
    generated_suite(None, gen_cases(), (n / 4).max(1), &mut generated);
    // One column for all generated cases, naming the first few that
    // contended each section.
    let mut all: Hits = BTreeMap::new();
    let mut first: BTreeMap<(&'static str, u32), Vec<String>> = BTreeMap::new();
    for (case, hits) in &generated {
        for (&site, &k) in hits {
            *all.entry(site).or_default() += k;
            first.entry(site).or_default().push(case.clone());
        }
    }
    runs.insert(format!("generated (seed {})", gen_seed()), all);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sections = nscheck_loom_tests::lock_sections::sections(&root);
    let mut table = nscheck_loom_tests::lock_sections::table(&sections, &runs);
    table.push_str("\nGenerated cases that contended each section (first three):\n");
    for ((file, line), cases) in &first {
        let few: Vec<&str> = cases.iter().take(3).map(String::as_str).collect();
        table.push_str(&format!("- {file}:{line}: {}\n", few.join(", ")));
    }
    println!("{table}");
    let out = root.join("target/lock-sections.md");
    std::fs::write(&out, &table).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    eprintln!(
        "shuttle lock_sections: {} scenarios and {} generated cases in {:.2?}, table in {}",
        SCENARIOS.len() + common::LOCK_SCENARIOS.len(),
        gen_cases(),
        start.elapsed(),
        out.display()
    );
}
