//! The subcommands behind the command line ([`crate::cli`]): `run`,
//! `diff`, `conform`, `check`, `gen` and `zoo`. Each returns the process
//! exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use nscheck_model::Dialect;

use crate::backend::{self, BackendKind};
use crate::conform::{Budget, Campaign, Progress, Report, Stats, campaign};
use crate::fuzz_campaign::FuzzCampaign;
use crate::generate::{Target, generate_for};
use crate::ops::{Failure, OpStats};
use crate::run::{RunError, run_partial};
use crate::script::load_script;

mod survey;
use survey::{diff_external, is_external, survey};

/// A backend of `kind` for the command line (the linux backend's agent is
/// this very executable).
fn make(kind: BackendKind, dialect: Dialect) -> Result<Box<dyn backend::Backend>, RunError> {
    backend::make(kind, dialect, None).map_err(RunError::cannot_start)
}

/// [`load_script`] for a command: its error is the script error.
fn load(file: &Path) -> Result<crate::script::Script, RunError> {
    Ok(load_script(file)?)
}

/// `nscheck run --backend BACKEND FILE`: the script's trace, printed up to
/// the error that stopped it, if any.
pub fn run(file: &Path, kind: BackendKind, dialect: Dialect) -> i32 {
    let result = load(file).and_then(|script| {
        let mut b = make(kind, dialect)?;
        Ok(run_partial(&script, b.as_mut()))
    });
    // The trace up to an error is printed too: nothing is lost.
    let (trace, error) = result.unwrap_or_else(|e| (Default::default(), Some(e)));
    let _ = std::io::stdout().lock().write_all(trace.text().as_bytes());
    match error {
        None => 0,
        Some(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// An indicatif bar over cases or seconds.
pub(crate) struct Bar {
    pub(crate) bar: ProgressBar,
    by_time: bool,
}

impl Bar {
    pub(crate) fn new(budget: Budget) -> Bar {
        let (len, by_time) = match budget {
            Budget::Cases(n) => (n, false),
            Budget::Time(t) => (t.as_secs().max(1), true),
        };
        let bar = ProgressBar::new(len);
        let unit = if by_time { "s" } else { " cases" };
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}}{unit} {{msg}}"
            ))
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bar { bar, by_time }
    }
}

impl Progress for Bar {
    fn case_done(&mut self, case: u64, stats: &Stats, elapsed: Duration) {
        if self.by_time {
            self.bar.set_position(elapsed.as_secs());
        } else {
            self.bar.set_position(case);
        }
        let rate = stats.statements as f64 / elapsed.as_secs_f64().max(1e-9);
        let classes = match stats.classes {
            0 => String::new(),
            n => format!(" in {n} classes"),
        };
        self.bar.set_message(format!(
            "{case} cases, {} statements, {rate:.0} stmt/s, {} divergences{classes}",
            stats.statements, stats.divergences
        ));
    }

    fn shrinking(&mut self, case: u64) {
        self.bar
            .set_message(format!("case {case} diverges: shrinking..."));
    }
}

/// Prints a campaign's summary and returns the exit code.
fn summarize(seed: u64, report: &Report) -> i32 {
    let s = &report.stats;
    println!(
        "\nnscheck conform: seed {seed}, {} cases, {} statements in {:.1} s ({:.0} statements/s)",
        s.cases,
        s.statements,
        report.elapsed.as_secs_f64(),
        s.statements as f64 / report.elapsed.as_secs_f64().max(1e-9)
    );
    println!("\n{}", s.table());
    match &report.found {
        None => {
            println!("divergences: 0");
            0
        }
        Some((case, path, d)) => {
            println!(
                "divergences: 1 (case {case}), shrunk and saved to {}",
                path.display()
            );
            println!("{d}");
            println!("\nreplay: cargo run --release -- diff {}", path.display());
            1
        }
    }
}

/// `nscheck conform`: model against the kernel over generated scripts.
pub fn conform(seed: u64, budget: Budget, regressions: PathBuf) -> i32 {
    conform_against(BackendKind::Linux, seed, budget, Some(regressions), None)
}

/// `nscheck conform --backend KIND`: model against `kind` (the kernel,
/// possibly under `--wrap`, or gVisor) over generated scripts: until the
/// first divergence against Linux, or a survey of divergence classes
/// ([`survey`]) against another implementation or with `report`.
pub fn conform_against(
    kind: BackendKind,
    seed: u64,
    budget: Budget,
    regressions: Option<PathBuf>,
    report: Option<PathBuf>,
) -> i32 {
    // A report that cannot be written is a mistake of the command line:
    // say so before the campaign, not after it.
    if let Some(path) = &report
        && let Err(e) = std::fs::write(path, "")
    {
        eprintln!("nscheck: --report {}: cannot write: {e}", path.display());
        return 2;
    }
    // Fail early, with the reason, where the backend cannot run.
    if let Err(e) = make(kind, Dialect::Mainline) {
        eprintln!("nscheck: {e}");
        return e.exit_code();
    }
    if report.is_some() || is_external(kind) {
        return survey(
            kind,
            seed,
            budget,
            regressions.as_deref(),
            report.as_deref(),
        );
    }
    let c = Campaign {
        seed,
        budget,
        regressions: regressions.unwrap_or_else(|| PathBuf::from("corpus/regressions")),
    };
    let mut bar = Bar::new(budget);
    let mut linux = || backend::make(kind, Dialect::Mainline, None);
    let result = campaign(&c, &mut linux, &mut bar);
    bar.bar.finish_and_clear();
    match result {
        Ok(report) => summarize(seed, &report),
        Err(e) => {
            eprintln!("nscheck: {e}");
            e.exit_code()
        }
    }
}

/// `nscheck diff --backend BACKEND FILE`: the script on the model and on
/// the other backend in lockstep ([`crate::ops::lockstep`]), compared; or,
/// against another implementation than Linux, the whole traces with queue
/// ids normalized ([`diff_external`]).
pub fn diff(file: &Path, against: BackendKind, dialect: Dialect) -> i32 {
    if is_external(against) && dialect == Dialect::Mainline {
        return diff_external(file, against);
    }
    let result = load(file).and_then(|script| {
        crate::ops::lockstep_in(&script, dialect, &mut || {
            backend::make(against, dialect, None)
        })
    });
    let name = against.name();
    match result {
        Ok((trace, None)) => {
            print!("{}", trace.text());
            println!("# model and {name} agree ({} lines)", trace.lines.len());
            0
        }
        Ok((trace, Some(m))) => {
            print!("{}", trace.text());
            println!("# model and {name} differ at {m}");
            1
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// `nscheck check`: the default campaign. The first half of the time goes
/// to the conformance campaign (model against the kernel, as `conform`),
/// the second half to differential fuzzing of the model against the
/// concurrent implementation ([`check_ops`](crate::ops::check_ops) over
/// seeded op sequences, rule-steered when `steer`). Where the kernel
/// backend cannot run, the whole time goes to the second.
pub fn check(seed: u64, time: u64, regressions: PathBuf, steer: bool) -> i32 {
    let half = Duration::from_secs(time) / 2;
    let fuzz_time = match make(BackendKind::Linux, Dialect::Mainline) {
        Ok(_) => {
            let code = conform(seed, Budget::Time(half), regressions.clone());
            if code != 0 {
                return code;
            }
            Duration::from_secs(time) - half
        }
        Err(e) => {
            println!(
                "nscheck check: the linux backend cannot run here ({e}); model against concurrent only"
            );
            Duration::from_secs(time)
        }
    };
    fuzz_concurrent(seed, fuzz_time, &regressions, steer)
}

/// Differential fuzzing of the model against the concurrent implementation
/// for `time`: a [`FuzzCampaign`] of `seed`, rule-steered when `steer`.
fn fuzz_concurrent(seed: u64, time: Duration, regressions: &Path, steer: bool) -> i32 {
    let bar = Bar::new(Budget::Time(time)).bar;
    let start = Instant::now();
    let mut total = OpStats::default();
    let mut case = 0u64;
    let mut found = None;
    let mut campaign = FuzzCampaign::new(seed, steer, time);
    let mut make = |dialect| backend::make(BackendKind::Concurrent, dialect, None);
    while let Some(checked) = campaign.check(BackendKind::Concurrent, &mut make) {
        match checked.result {
            Ok(stats) => total.merge(&stats),
            Err(Failure::Unavailable(why)) => {
                bar.finish_and_clear();
                eprintln!("nscheck: the concurrent backend: {why}");
                return 3;
            }
            Err(Failure::Diverged(f)) => {
                found = Some((checked.dialect, checked.input, f));
                break;
            }
        }
        case += 1;
        if case.is_multiple_of(64) {
            let elapsed = start.elapsed().as_secs_f64().max(1e-9);
            bar.set_position(start.elapsed().as_secs());
            bar.set_message(format!(
                "{}: {case} inputs, {} ops, {:.0} execs/s, {:.0}% ok, 0 divergences",
                checked.dialect,
                total.ops,
                case as f64 / elapsed,
                100.0 * total.success_share()
            ));
        }
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    println!(
        "\nnscheck check: model against concurrent, seed {seed}: {case} inputs, {} ops, \
         {} statements in {elapsed:.1} s ({:.0} execs/s, {:.1} statements per input)",
        total.ops,
        total.stats.statements,
        case as f64 / elapsed,
        total.stats.statements as f64 / case.max(1) as f64
    );
    println!("{}", campaign.summary());
    println!(
        "successful calls: {:.1}%\n\n{}",
        100.0 * total.success_share(),
        total.stats.table()
    );
    match found {
        None => {
            println!("divergences: 0");
            0
        }
        Some((dialect, input, f)) => {
            println!("divergences: 1 ({dialect}, {input})\n{f}");
            match f.save(regressions) {
                Ok(path) => {
                    println!("saved to {}", path.display());
                    println!("\nreplay: {}", f.replay_command(&path));
                }
                Err(e) => println!("cannot save it: {e}"),
            }
            1
        }
    }
}

/// `nscheck gen`: prints generated scripts (for another implementation
/// than Linux with `external`).
pub fn gen_scripts(seed: u64, first: u64, count: u64, external: bool) -> i32 {
    let target = if external {
        Target::External
    } else {
        Target::Linux
    };
    for case in first..first + count {
        print!("{}", generate_for(seed, case, target));
    }
    0
}

/// `nscheck zoo`: the kill matrix ([`crate::zoo`]) on standard output;
/// 0 when every mutant is killed, every scenario fails against some mutant
/// and the unmutated implementation passes; 1 otherwise; 2 for an
/// unreadable results file; 3 without the feature `mutants`. The fuzzing
/// column runs the rule-steered stream of `nscheck check` when `steer`.
pub fn zoo(seed: u64, time: u64, results: &[PathBuf], steer: bool) -> i32 {
    let mut columns = Vec::new();
    for path in results {
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| crate::zoo::parse_results(&text));
        match parsed {
            Ok(col) => columns.push(col),
            Err(e) => {
                eprintln!("nscheck zoo: {}: {e}", path.display());
                return 2;
            }
        }
    }
    zoo_with(seed, Duration::from_secs(time), columns, steer)
}

#[cfg(feature = "mutants")]
fn zoo_with(seed: u64, time: Duration, mut columns: Vec<crate::zoo::Column>, steer: bool) -> i32 {
    let (fuzz, baseline) = crate::zoo::fuzz_column(seed, time, steer);
    columns.insert(0, fuzz);
    match crate::zoo::corpus_column(Path::new("corpus")) {
        Ok(corpus) => columns.insert(1, corpus),
        Err(e) => println!("zoo: no corpus column: {e} (run from the repository's root)"),
    }
    let (table, mut problems) = crate::zoo::report(&crate::zoo::mutants(), &columns);
    problems.extend(baseline);
    println!("{table}");
    for p in &problems {
        println!("zoo: {p}");
    }
    i32::from(!problems.is_empty())
}

#[cfg(not(feature = "mutants"))]
fn zoo_with(_: u64, _: Duration, _: Vec<crate::zoo::Column>, _: bool) -> i32 {
    eprintln!(
        "nscheck zoo: this nscheck was built without the deliberate bugs; run \
         `cargo run --release --features mutants -- zoo`, or ci/zoo.sh for the whole matrix"
    );
    3
}

/// Turns the CLI's budget options into a [`Budget`].
pub fn budget(cases: Option<u64>, time: Option<u64>, default_time: u64) -> Budget {
    match cases {
        Some(n) => Budget::Cases(n),
        None => Budget::Time(Duration::from_secs(time.unwrap_or(default_time))),
    }
}
