//! The differential check and the conformance campaign.
//!
//! [`differential`] is the one checking function: it runs a script on two
//! backends and reports the first trace line where they differ. The campaign
//! generates scripts ([`crate::generate`]), checks each one, and on a divergence
//! shrinks the script ([`shrink`]) and stores it in `corpus/regressions/`.
//!
//! Against another implementation than Linux, the campaign is a survey
//! ([`survey`]): it goes on past the first divergence, sorts divergences
//! into classes ([`classes`]) and reports one shrunk script a class
//! ([`report`]).

pub mod classes;
pub mod report;
pub mod slice;
pub mod survey;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nscheck_model::{Dialect, Errno};

use crate::backend::{Backend, MakeBackend};
use crate::generate::generate;
use crate::run::{Record, RunError, Trace, run};
use crate::script::Script;

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The 0-based trace line.
    pub index: usize,
    /// That line on the reference backend (`None`: the trace ended).
    pub expected: Option<String>,
    /// That line on the checked backend.
    pub actual: Option<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "(end of trace)".into());
        write!(
            f,
            "trace line {}:\n  model: {}\n  other: {}",
            self.index + 1,
            show(&self.expected),
            show(&self.actual)
        )
    }
}

/// The verdict on one script.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The reference (model) trace.
    pub expected: Trace,
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
}

/// Runs `script` on `reference` and on `checked` and compares the traces.
pub fn differential(
    script: &Script,
    reference: &mut dyn Backend,
    checked: &mut dyn Backend,
) -> Result<Verdict, RunError> {
    let expected = run(script, reference)?;
    let actual = run(script, checked)?;
    Ok(Verdict {
        divergence: first_difference(&expected.lines, &actual.lines),
        expected,
    })
}

/// The first line where two traces differ.
pub fn first_difference(a: &[String], b: &[String]) -> Option<Divergence> {
    let n = a.len().max(b.len());
    (0..n).find(|&i| a.get(i) != b.get(i)).map(|i| Divergence {
        index: i,
        expected: a.get(i).cloned(),
        actual: b.get(i).cloned(),
    })
}

/// Shrinks a failing script: removes statements (halves, then quarters, down
/// to single lines) while `fails` still holds. `fails` must be false for a
/// script that does not parse or run, so only valid scripts are kept.
pub fn shrink(script: &Script, mut fails: impl FnMut(&Script) -> bool) -> Script {
    let mut cur = script.clone();
    let mut chunk = cur.stmts.len().div_ceil(2).max(1);
    loop {
        let mut progress = false;
        let mut start = 0;
        while start < cur.stmts.len() {
            let mut cand = cur.clone();
            let end = (start + chunk).min(cand.stmts.len());
            cand.stmts.drain(start..end);
            // Reparse so that statements that lost their bindings are rejected.
            let reparsed = Script::parse(&cur.file, &cand.to_source());
            match reparsed {
                Ok(c) if fails(&c) => {
                    cur = c;
                    progress = true;
                }
                _ => start += chunk,
            }
        }
        if chunk == 1 && !progress {
            return cur;
        }
        if !progress {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// Counts of finished calls, per call and per errno.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per call: (finished, succeeded).
    pub calls: BTreeMap<&'static str, (u64, u64)>,
    /// Per errno.
    pub errnos: BTreeMap<Errno, u64>,
    /// Statements run.
    pub statements: u64,
    /// Scripts run.
    pub cases: u64,
    /// Scripts the checked backend refused to run.
    pub skipped: u64,
    /// Why the last of them was refused.
    pub last_skip: Option<String>,
    /// Scripts that diverged.
    pub divergences: u64,
    /// Divergence classes seen (a survey's).
    pub classes: u64,
}

impl Stats {
    /// Adds the records of one trace.
    pub fn add(&mut self, script: &Script, records: &[Record]) {
        self.cases += 1;
        self.add_records(script.stmts.len() as u64, records);
    }

    /// Adds `statements` statements and the calls that finished in them.
    pub fn add_records(&mut self, statements: u64, records: &[Record]) {
        self.statements += statements;
        for r in records {
            let e = self.calls.entry(r.call).or_default();
            e.0 += 1;
            match r.errno {
                None => e.1 += 1,
                Some(errno) => *self.errnos.entry(errno).or_default() += 1,
            }
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &Stats) {
        for (call, (n, ok)) in &other.calls {
            let e = self.calls.entry(call).or_default();
            e.0 += n;
            e.1 += ok;
        }
        for (errno, n) in &other.errnos {
            *self.errnos.entry(*errno).or_default() += n;
        }
        self.statements += other.statements;
        self.cases += other.cases;
    }

    /// The summary tables.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<10} {:>10} {:>10} {:>10}\n",
            "call", "finished", "ok", "failed"
        );
        for (call, (n, ok)) in &self.calls {
            s += &format!("{call:<10} {n:>10} {ok:>10} {:>10}\n", n - ok);
        }
        s += &format!("\n{:<10} {:>10}\n", "errno", "count");
        for (e, n) in &self.errnos {
            s += &format!("{:<10} {n:>10}\n", e.name());
        }
        if let Some(why) = &self.last_skip {
            s += &format!(
                "\nskipped: {} scripts the other backend cannot run (last: {why})\n",
                self.skipped
            );
        }
        s
    }
}

/// How long a campaign runs.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// A number of cases.
    Cases(u64),
    /// A wall-clock limit.
    Time(Duration),
}

/// A campaign's settings.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub seed: u64,
    pub budget: Budget,
    /// Where a shrunk divergence is written.
    pub regressions: PathBuf,
}

/// What a campaign found.
#[derive(Debug)]
pub struct Report {
    pub stats: Stats,
    pub elapsed: Duration,
    /// The divergence found: the case number, the shrunk script's file and
    /// the divergence of the shrunk script.
    pub found: Option<(u64, PathBuf, Divergence)>,
}

/// Progress callbacks of a campaign.
pub trait Progress {
    /// Called after every case.
    fn case_done(&mut self, case: u64, stats: &Stats, elapsed: Duration);
    /// Called when shrinking starts.
    fn shrinking(&mut self, case: u64);
}

/// Runs a campaign: model against the backends made by `make`.
pub fn campaign(
    c: &Campaign,
    make: &mut MakeBackend<'_>,
    progress: &mut dyn Progress,
) -> Result<Report, RunError> {
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut case = 0u64;
    loop {
        match c.budget {
            Budget::Cases(n) if case >= n => break,
            Budget::Time(t) if start.elapsed() >= t => break,
            _ => {}
        }
        let src = generate(c.seed, case);
        let name = format!("seed {} case {case}", c.seed);
        let script = Script::parse(&name, &src)?;
        let mut model = crate::backend::model::ModelBackend::new(Dialect::Mainline);
        let mut other = make().map_err(RunError::cannot_start)?;
        let verdict = match differential(&script, &mut model, other.as_mut()) {
            Ok(v) => v,
            // A script the checked backend refuses (e.g. one that would leave
            // an unkillable process behind on the real kernel) is skipped and
            // counted, not a divergence.
            Err(RunError::Script(e)) => {
                stats.skipped += 1;
                stats.last_skip = Some(e.to_string());
                case += 1;
                progress.case_done(case, &stats, start.elapsed());
                continue;
            }
            Err(e) => return Err(e),
        };
        stats.add(&script, &verdict.expected.records);
        if verdict.divergence.is_some() {
            progress.shrinking(case);
            let mut still = |s: &Script| {
                let mut model = crate::backend::model::ModelBackend::new(Dialect::Mainline);
                match make() {
                    Ok(mut other) => differential(s, &mut model, other.as_mut())
                        .is_ok_and(|v| v.divergence.is_some()),
                    Err(_) => false,
                }
            };
            let small = shrink(&script, &mut still);
            let mut model = crate::backend::model::ModelBackend::new(Dialect::Mainline);
            let mut other = make().map_err(RunError::cannot_start)?;
            let d = differential(&small, &mut model, other.as_mut())?
                .divergence
                .or(verdict.divergence)
                .expect("a divergence");
            let path = write_conform_regression(&c.regressions, c.seed, case, &small, &d)
                .map_err(|e| RunError::Unavailable(format!("cannot write regression: {e}")))?;
            return Ok(Report {
                stats,
                elapsed: start.elapsed(),
                found: Some((case, path, d)),
            });
        }
        case += 1;
        progress.case_done(case, &stats, start.elapsed());
    }
    Ok(Report {
        stats,
        elapsed: start.elapsed(),
        found: None,
    })
}

/// Writes a shrunk divergent script with a header that explains it.
fn write_conform_regression(
    dir: &Path,
    seed: u64,
    case: u64,
    script: &Script,
    d: &Divergence,
) -> std::io::Result<PathBuf> {
    let how = format!("`nscheck conform --seed {seed}`, case {case}");
    write_regression(
        dir,
        &format!("conform-seed{seed}-case{case}"),
        &how,
        script,
        d,
    )
}

/// Writes the shrunk divergent `script` to `dir/NAME.nsc`, with a header
/// saying how it was found (`how`) and where the backends first differ.
pub fn write_regression(
    dir: &Path,
    name: &str,
    how: &str,
    script: &Script,
    d: &dyn std::fmt::Display,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.nsc"));
    let mut text = format!(
        "# Found by {how}, then shrunk.\n\
         # The model and the other backend first differ at {d}\n"
    )
    .lines()
    .map(|l| {
        if l.starts_with('#') {
            format!("{l}\n")
        } else {
            format!("# {l}\n")
        }
    })
    .collect::<String>();
    text += &script.to_source();
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_keeps_only_what_the_failure_needs() {
        let src = "q = msgget(IPC_PRIVATE, 0600)\ngetpid()\nmsgsnd(q, 1, \"a\", 0)\n\
                   getppid()\nmsgsnd(q, 2, \"b\", 0)\nsysctl(\"kernel.msgmax\")\n";
        let script = Script::parse("t", src).unwrap();
        // The "failure": a script that sends type 2.
        let small = shrink(&script, |s| s.to_source().contains("msgsnd(q, 2"));
        assert_eq!(
            small.to_source(),
            "q = msgget(IPC_PRIVATE, 0600)\nmsgsnd(q, 2, \"b\", 0)\n"
        );
    }

    #[test]
    fn first_difference_finds_the_line() {
        let a: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let b: Vec<String> = ["x", "Y"].map(String::from).to_vec();
        let d = first_difference(&a, &b).unwrap();
        assert_eq!(d.index, 1);
        assert_eq!(first_difference(&a, &a), None);
        let d = first_difference(&a, &a[..2]).unwrap();
        assert_eq!((d.index, d.actual), (2, None));
    }
}
