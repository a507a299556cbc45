//! The survey of another implementation: every distinct way it differs from
//! Linux 6.18 (the model), each with a minimal script.
//!
//! [`compare`] runs one script on the model and on the implementation and
//! gives the [`Verdict`] of [`classes`](super::classes) on the normalized
//! traces; `nscheck diff` uses it for an external implementation too, so a
//! class's script replays as the survey saw it. [`survey`] runs the
//! generated scripts for an external implementation
//! ([`Target::External`]) until the budget is spent and counts the cases of
//! each class; it shrinks the first case of each new class at once to a
//! script of the same class ([`super::shrink`]) and runs the shrunk script
//! twice more: a class whose two runs differ is nondeterministic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nscheck_model::Dialect;

use super::classes::{Class, End, Kind, Verdict, classify, normalize, plausible};
use super::slice::slice;
use super::{Budget, Divergence, Progress, Stats, shrink};
use crate::backend::MakeBackend;
use crate::backend::linux::MISSING;
use crate::backend::model::ModelBackend;
use crate::generate::{Target, generate_for};
use crate::run::{RunError, Session, Trace, run, run_partial};
use crate::script::Script;

/// One script on the model and on the implementation.
#[derive(Debug)]
pub struct Comparison {
    /// The model's trace.
    pub model: Trace,
    /// The model's trace lines, normalized.
    pub model_lines: Vec<String>,
    /// The implementation's trace, up to where it stopped.
    pub other: Trace,
    /// The implementation's trace lines, normalized, up to where it stopped.
    pub other_lines: Vec<String>,
    /// How the implementation's run ended.
    pub end: End,
    /// The error that stopped it, as the command line shows it.
    pub error: Option<String>,
    pub verdict: Verdict,
    /// The statement (0-based) whose model trace lines hold the first
    /// difference (the last statement where there is none, or where the
    /// implementation's trace is the longer one).
    pub statement: usize,
}

impl Comparison {
    /// Where the traces part: the normalized lines (the implementation's
    /// error where it stopped there).
    pub fn divergence(&self) -> Option<Divergence> {
        let Verdict::Diverge { index, .. } = &self.verdict else {
            return None;
        };
        let actual = match self.other_lines.get(*index) {
            Some(l) => Some(l.clone()),
            None => self.error.clone(),
        };
        Some(Divergence {
            index: *index,
            expected: self.model_lines.get(*index).cloned(),
            actual,
        })
    }

    /// The class of the divergence, if any.
    pub fn class(&self) -> Option<&Class> {
        match &self.verdict {
            Verdict::Diverge { class, .. } => Some(class),
            _ => None,
        }
    }
}

/// The implementation's run of `script`: its trace, how it ended, and
/// the error as text. Only a backend that cannot run here is an error.
fn run_other(
    script: &Script,
    make: &mut MakeBackend<'_>,
) -> Result<(Trace, End, Option<String>), RunError> {
    let mut other = make().map_err(RunError::cannot_start)?;
    let (trace, error) = run_partial(script, other.as_mut());
    let text = error.as_ref().map(ToString::to_string);
    let end = match error {
        None => End::Complete,
        Some(RunError::Unavailable(why)) => return Err(RunError::Unavailable(why)),
        Some(RunError::Script(e)) => match e.msg.strip_prefix(MISSING) {
            Some(what) => End::Missing(what.to_string()),
            None => End::Refused(e.to_string()),
        },
        Some(RunError::Failed { msg, .. }) => End::Failed(msg),
    };
    Ok((trace, end, text))
}

/// Runs `script` on the model and on a backend from `make` and classifies
/// the difference. A script the model cannot run is an error (it is
/// wrong), and so is a backend that cannot run here.
pub fn compare(script: &Script, make: &mut MakeBackend<'_>) -> Result<Comparison, RunError> {
    let mut backend = ModelBackend::new(Dialect::Mainline);
    let mut session = Session::new(&script.file, &mut backend);
    // The number of trace lines after each statement.
    let mut ends = Vec::with_capacity(script.stmts.len());
    for stmt in &script.stmts {
        session.exec(stmt)?;
        ends.push(session.lines().len());
    }
    let model = session.into_trace();
    let model_lines = normalize(&model.lines);
    let (other, end, error) = run_other(script, make)?;
    let other_lines = normalize(&other.lines);
    let verdict = classify(&model_lines, &other_lines, &end);
    let statement = match &verdict {
        Verdict::Diverge { index, .. } => ends.iter().position(|&n| n > *index),
        _ => None,
    };
    Ok(Comparison {
        model,
        model_lines,
        other,
        other_lines,
        end,
        error,
        statement: statement.unwrap_or(script.stmts.len().saturating_sub(1)),
        verdict,
    })
}

/// A class the survey found.
#[derive(Clone, Debug)]
pub struct Found {
    pub class: Class,
    /// How many generated scripts fell into it.
    pub cases: u64,
    /// The first of them.
    pub first_case: u64,
    /// That case's script, shrunk to the same class.
    pub script: Script,
    /// Where the shrunk script diverges.
    pub divergence: Option<Divergence>,
}

/// What a survey found.
#[derive(Debug)]
pub struct Surveyed {
    pub stats: Stats,
    /// The classes, in the order they were first seen.
    pub classes: Vec<Found>,
    /// The whole time.
    pub elapsed: Duration,
    /// The part of it spent shrinking.
    pub shrinking: Duration,
}

/// How long the shrinking of one class may go on; past it, the script is
/// as small as it got.
const SHRINK_TIME: Duration = Duration::from_secs(60);

/// Runs the scripts for an external implementation of campaign `seed`
/// against backends from `make` until `budget` is spent; the first script
/// of each new class is shrunk at once, and the time that takes counts.
pub fn survey(
    seed: u64,
    budget: Budget,
    make: &mut MakeBackend<'_>,
    progress: &mut dyn Progress,
) -> Result<Surveyed, RunError> {
    let start = Instant::now();
    let mut shrinking = Duration::ZERO;
    let mut stats = Stats::default();
    let mut classes: Vec<Found> = Vec::new();
    // Each signature's place in `classes`.
    let mut places: BTreeMap<String, usize> = BTreeMap::new();
    let mut case = 0u64;
    loop {
        match budget {
            Budget::Cases(n) if case >= n => break,
            Budget::Time(t) if start.elapsed() >= t => break,
            _ => {}
        }
        let src = generate_for(seed, case, Target::External);
        let script = Script::parse(&format!("seed {seed} case {case}"), &src)?;
        let c = compare(&script, make)?;
        stats.add(&script, &c.model.records);
        match &c.verdict {
            Verdict::Agree => {}
            Verdict::Skip(why) => {
                stats.skipped += 1;
                stats.last_skip = Some(why.clone());
            }
            Verdict::Diverge { class, .. } => {
                stats.divergences += 1;
                match places.get(&class.signature) {
                    Some(&i) => classes[i].cases += 1,
                    None => {
                        progress.shrinking(case);
                        let t = Instant::now();
                        let found = shrink_class(class.clone(), case, &script, &c, make)?;
                        shrinking += t.elapsed();
                        places.insert(class.signature.clone(), classes.len());
                        classes.push(found);
                        stats.classes = classes.len() as u64;
                    }
                }
            }
        }
        case += 1;
        progress.case_done(case, &stats, start.elapsed());
    }
    Ok(Surveyed {
        stats,
        classes,
        elapsed: start.elapsed(),
        shrinking,
    })
}

/// Shrinks `script` (case `case`, compared as `c`) to a smaller one of the
/// same class, and tells whether two runs of the shrunk script on the
/// implementation differ. The statements after the one where the traces
/// part go first, since they cannot change those lines; then those that
/// one does not need by its names ([`slice`]); then [`shrink`] goes on
/// for at most [`SHRINK_TIME`], running on the implementation only the
/// candidates whose model trace may give the class ([`plausible`]).
fn shrink_class(
    mut class: Class,
    case: u64,
    script: &Script,
    c: &Comparison,
    make: &mut MakeBackend<'_>,
) -> Result<Found, RunError> {
    let deadline = Instant::now() + SHRINK_TIME;
    // The last comparison that gave the class, to count as a run of the
    // shrunk script if it was one.
    let mut last: Option<(String, Comparison)> = None;
    let mut same = |s: &Script| {
        if Instant::now() >= deadline || !model_lines(s).is_some_and(|m| plausible(&m, &class)) {
            return false;
        }
        match compare(s, make) {
            Ok(c) if c.class() == Some(&class) => {
                last = Some((s.to_source(), c));
                true
            }
            _ => false,
        }
    };
    // Each guess is checked by one run; a backend failure's cut is not,
    // as it cannot change the lines before the failure, and such a
    // failure (a call that hangs, say) is shrunk no further than its
    // slice, since each run of it takes the backend's whole timeout.
    let mut small = script.clone();
    small.stmts.truncate(c.statement + 1);
    let failed = matches!(c.end, End::Failed(_));
    let sliced = renumber(slice(&small, c.statement.min(small.stmts.len() - 1)));
    small = renumber(small);
    if small.stmts.len() == script.stmts.len() || !(failed || same(&small)) {
        small = script.clone();
    }
    if sliced.stmts.len() < small.stmts.len() && same(&sliced) {
        small = sliced;
    }
    if !failed {
        small = shrink(&small, &mut same);
    }
    // Two runs of the shrunk script: where it diverges, and whether the
    // implementation gives it the same trace twice.
    let first = match last {
        Some((src, c)) if src == small.to_source() => c,
        _ => compare(&small, make)?,
    };
    let second = compare(&small, make)?;
    if (&first.other_lines, &first.end) != (&second.other_lines, &second.end) {
        class.kind = Kind::Nondeterministic;
    }
    Ok(Found {
        class,
        cases: 1,
        first_case: case,
        divergence: first.divergence(),
        script: small,
    })
}

/// `script` with its statements on consecutive lines, as its text gives
/// them (so that an error names the line of the shrunk script).
fn renumber(script: Script) -> Script {
    Script::parse(&script.file, &script.to_source()).unwrap_or(script)
}

/// The model's normalized trace of `script`, if it runs.
fn model_lines(script: &Script) -> Option<Vec<String>> {
    let trace = run(script, &mut ModelBackend::new(Dialect::Mainline)).ok()?;
    Some(normalize(&trace.lines))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use nscheck_model::{Event, Outcome, Step, Syscall, TaskId};

    use super::*;
    use crate::backend::{Backend, BackendError};

    /// The model, but `getpid()` returns `pid`.
    struct OtherPid {
        model: ModelBackend,
        pid: i64,
    }

    impl Backend for OtherPid {
        fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
            match call {
                Syscall::Getpid => Ok(Step::Done(Outcome::val(self.pid))),
                _ => self.model.call(task, call),
            }
        }

        fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
            self.model.take_events()
        }

        fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
            self.model.pidof(viewer, target)
        }
    }

    /// Shrinks the class of `src` against backends whose `getpid()` gives
    /// `pid(n)` in their `n`th run.
    fn shrunk(src: &str, pid: impl Fn(i64) -> i64) -> Found {
        let runs = Cell::new(0);
        let mut make = || -> Result<Box<dyn Backend>, BackendError> {
            runs.set(runs.get() + 1);
            Ok(Box::new(OtherPid {
                model: ModelBackend::new(Dialect::Mainline),
                pid: pid(runs.get()),
            }))
        };
        let script = Script::parse("t", src).unwrap();
        let c = compare(&script, &mut make).unwrap();
        let class = c.class().expect("a divergence").clone();
        shrink_class(class, 7, &script, &c, &mut make).unwrap()
    }

    const SRC: &str = "q = msgget(IPC_PRIVATE, 0600)\n\
                       c = fork()\n\
                       c: getppid()\n\
                       getpid()\n\
                       msgctl(q, IPC_RMID)\n";

    #[test]
    fn a_wrong_result_is_shrunk_to_its_statement() {
        let f = shrunk(SRC, |_| 5);
        assert_eq!(f.class.kind, Kind::Wrong);
        assert_eq!(
            f.class.signature,
            "getpid(): linux N, impl N; differs: value"
        );
        assert_eq!(f.script.to_source(), "getpid()\n");
        assert_eq!((f.cases, f.first_case), (1, 7));
        let d = f.divergence.expect("where it diverges");
        assert_eq!(d.expected.as_deref(), Some("t0: getpid() = 1"));
        assert_eq!(d.actual.as_deref(), Some("t0: getpid() = 5"));
    }

    #[test]
    fn a_result_that_changes_from_run_to_run_is_nondeterministic() {
        let f = shrunk(SRC, |n| 100 + n);
        assert_eq!(f.class.kind, Kind::Nondeterministic);
        assert_eq!(f.script.to_source(), "getpid()\n");
    }
}
