//! The long-running subcommands: `conform`, `check`, `diff` and `gen`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use nscheck_model::Dialect;

use crate::backend::BackendKind;
use crate::backend::model::ModelBackend;
use crate::cli::{load_script, make_backend};
use crate::conform::{Budget, Campaign, Progress, Report, Stats, campaign, differential};
use crate::generate::generate;

/// An indicatif bar over cases or seconds.
struct Bar {
    bar: ProgressBar,
    by_time: bool,
}

impl Bar {
    fn new(budget: Budget) -> Bar {
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
        self.bar.set_message(format!(
            "{case} cases, {} statements, {rate:.0} stmt/s, 0 divergences",
            stats.statements
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
    let c = Campaign {
        seed,
        budget,
        regressions,
    };
    // Fail early, with the reason, where the kernel backend cannot run.
    if let Err(e) = make_backend(BackendKind::Linux, Dialect::Mainline) {
        eprintln!("nscheck: {e}");
        return e.exit_code();
    }
    let mut bar = Bar::new(budget);
    let mut make = || make_backend(BackendKind::Linux, Dialect::Mainline);
    let result = campaign(&c, &mut make, &mut bar);
    bar.bar.finish_and_clear();
    match result {
        Ok(report) => summarize(seed, &report),
        Err(e) => {
            eprintln!("nscheck: {e}");
            e.exit_code()
        }
    }
}

/// `nscheck diff FILE`: the script on the model and on the kernel, compared.
pub fn diff(file: &Path) -> i32 {
    let result = load_script(file).and_then(|script| {
        let mut model = ModelBackend::new(Dialect::Mainline);
        let mut linux = make_backend(BackendKind::Linux, Dialect::Mainline)?;
        differential(&script, &mut model, linux.as_mut())
    });
    match result {
        Ok(v) => match v.divergence {
            None => {
                print!("{}", v.expected.text());
                println!("# model and linux agree ({} lines)", v.expected.lines.len());
                0
            }
            Some(d) => {
                println!("# model and linux differ at {d}");
                1
            }
        },
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// `nscheck gen`: prints generated scripts.
pub fn gen_scripts(seed: u64, first: u64, count: u64) -> i32 {
    for case in first..first + count {
        print!("{}", generate(seed, case));
    }
    0
}

/// Turns the CLI's budget options into a [`Budget`].
pub fn budget(cases: Option<u64>, time: Option<u64>, default_time: u64) -> Budget {
    match cases {
        Some(n) => Budget::Cases(n),
        None => Budget::Time(Duration::from_secs(time.unwrap_or(default_time))),
    }
}
