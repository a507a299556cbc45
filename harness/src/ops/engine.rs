//! The engine: the model and another backend in lockstep, compared after
//! every statement.
//!
//! Two drivers share one comparison and one rule for when the IPC state
//! need not be compared ([`reads_only`], extended by `writes_nothing` for
//! lowered calls): [`Lockstep`] drives two [`Session`]s through a script
//! and compares trace lines (`nscheck diff`, reports, the regression
//! tests); [`run_lowered`], the fast path of [`check_ops`](super::check_ops),
//! gives both backends the lowered calls and compares results and events
//! as values, with one bookkeeping ([`Book`]) of the tasks.

use nscheck_model::abi::{IPC_INFO, IPC_STAT, MSG_INFO, MSG_STAT, MSG_STAT_ANY};
use nscheck_model::{Dialect, DigestWords, Event, Ret, Step, Syscall, Sysctl, TaskId};

use super::input::{MAX_OPS, Op};
use super::lower::{Book, Low, Lowering};
use super::print::FILE;
use crate::backend::model::ModelBackend;
use crate::backend::{Backend, BackendError, BackendKind, MakeBackend};
use crate::conform::{self, Divergence};
use crate::run::{Record, RunError, Session, Trace};
use crate::script::{Script, Stmt};

/// How the two backends parted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A trace line differs.
    Trace(Divergence),
    /// The traces agree, but the state after statement `statement`
    /// (1-based) does not: the IPC state digest, or the pids tasks see.
    State {
        statement: usize,
        model: Vec<String>,
        other: Vec<String>,
    },
    /// One backend stopped with an error at statement `statement` and the
    /// other did not, or with another error.
    Error {
        statement: usize,
        model: Option<String>,
        other: Option<String>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "(no error)".into());
        match self {
            Mismatch::Trace(d) => write!(f, "{d}"),
            Mismatch::State {
                statement,
                model,
                other,
            } => {
                let d = conform::first_difference(model, other).expect("the digests differ");
                let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "(none)".into());
                write!(
                    f,
                    "the state after statement {statement}:\n  model: {}\n  other: {}",
                    show(&d.expected),
                    show(&d.actual)
                )
            }
            Mismatch::Error {
                statement,
                model,
                other,
            } => write!(
                f,
                "statement {statement} stops a backend:\n  model: {}\n  other: {}",
                show(model),
                show(other)
            ),
        }
    }
}

/// Why a lockstep step did not go through.
#[derive(Debug)]
pub enum Stop {
    /// The backends disagree.
    Mismatch(Mismatch),
    /// Both backends stopped with the same error (e.g. a script error of a
    /// shrinking candidate): nothing to compare.
    Both(RunError),
    /// The other backend cannot run here.
    Unavailable(String),
}

/// Two sessions driven statement by statement: the model and another
/// backend.
#[derive(Debug)]
pub struct Lockstep<'a> {
    pub model: Session<'a>,
    pub other: Session<'a>,
    statements: usize,
}

impl<'a> Lockstep<'a> {
    /// Sessions that format trace lines, for reports.
    pub fn new(file: &str, model: &'a mut dyn Backend, other: &'a mut dyn Backend) -> Lockstep<'a> {
        Lockstep {
            model: Session::new(file, model),
            other: Session::new(file, other),
            statements: 0,
        }
    }

    /// Runs `stmt` on both and compares the new trace lines, then the
    /// digests, unless `stmt` only reads ([`reads_only`]; the next digest,
    /// or [`Lockstep::check_state`] at the end, covers it).
    pub fn step(&mut self, stmt: &Stmt) -> Result<(), Stop> {
        self.statements += 1;
        let n = self.statements;
        let start = self.model.lines().len();
        let rm = self.model.exec(stmt);
        let ro = self.other.exec(stmt);
        let call = match (rm, ro) {
            (_, Err(RunError::Unavailable(why))) | (Err(RunError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(call), Ok(_)) => call,
            (Err(a), Err(b)) if a.to_string() == b.to_string() => return Err(Stop::Both(a)),
            (a, b) => {
                return Err(Stop::Mismatch(Mismatch::Error {
                    statement: n,
                    model: a.err().map(|e| e.to_string()),
                    other: b.err().map(|e| e.to_string()),
                }));
            }
        };
        let (m, o) = (&self.model.lines()[start..], &self.other.lines()[start..]);
        if let Some(mut d) = conform::first_difference(m, o) {
            d.index += start;
            return Err(Stop::Mismatch(Mismatch::Trace(d)));
        }
        // A `pidof` statement makes no call: it only reads.
        if call.as_ref().is_none_or(reads_only) {
            return Ok(());
        }
        self.check_state()
    }

    /// Compares the digests of the two backends now.
    pub fn check_state(&mut self) -> Result<(), Stop> {
        let n = self.statements;
        let digest = |s: &mut Session<'_>| match s.digest() {
            Ok(d) => Ok(d),
            Err(e) => Err(digest_failed(e, n)),
        };
        if let (Some(model), Some(other)) = (digest(&mut self.model)?, digest(&mut self.other)?)
            && model != other
        {
            return Err(Stop::Mismatch(Mismatch::State {
                statement: n,
                model: model.lines(),
                other: other.lines(),
            }));
        }
        Ok(())
    }
}

/// Why a comparison stopped when a digest after statement `n` failed.
fn digest_failed(e: BackendError, n: usize) -> Stop {
    match e {
        BackendError::Unavailable(why) => Stop::Unavailable(why),
        e => Stop::Mismatch(Mismatch::Error {
            statement: n,
            model: None,
            other: Some(format!("the digest failed: {e}")),
        }),
    }
}

/// Runs `script` on the model and on a backend from `make` in lockstep:
/// the model's trace, and the first mismatch if any.
pub fn lockstep(
    script: &Script,
    make: &mut MakeBackend<'_>,
) -> Result<(Trace, Option<Mismatch>), RunError> {
    lockstep_in(script, Dialect::Mainline, make)
}

/// [`lockstep`] with the model following `dialect` (the other backend
/// from `make` must follow it too).
pub fn lockstep_in(
    script: &Script,
    dialect: Dialect,
    make: &mut MakeBackend<'_>,
) -> Result<(Trace, Option<Mismatch>), RunError> {
    let mut model = ModelBackend::new(dialect);
    let mut other = make().map_err(RunError::cannot_start)?;
    let mut ls = Lockstep::new(&script.file, &mut model, other.as_mut());
    let mut end = Ok(());
    for stmt in &script.stmts {
        end = ls.step(stmt);
        if end.is_err() {
            break;
        }
    }
    match end.and_then(|()| ls.check_state()) {
        Ok(()) => Ok((ls.model.into_trace(), None)),
        Err(Stop::Mismatch(m)) => Ok((ls.model.into_trace(), Some(m))),
        Err(Stop::Both(e)) => Err(e),
        Err(Stop::Unavailable(why)) => Err(RunError::Unavailable(why)),
    }
}

/// Lowers `ops` and runs them on the model (following `dialect`) and on a
/// backend from `make` in lockstep ([`Check`]), the lowering's choices made
/// for `against`: the
/// number of statements and the calls that finished; or why it stopped,
/// with the script of the statements made so far.
pub(super) fn run_lowered(
    ops: &[Op],
    dialect: Dialect,
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Result<(usize, Vec<Record>), (Stop, Script)> {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(dialect);
    let mut other = make().map_err(|e| (Stop::Unavailable(e.to_string()), lower.script(&[])))?;
    let mut ck = Check::new(&mut model, other.as_mut());
    let mut lows: Vec<Low> = Vec::with_capacity(ops.len().min(MAX_OPS) + 1);
    let mut run = || -> Result<(), Stop> {
        if let Some(low) = lower.prologue() {
            let step = ck.step(&low, lows.len() + 1);
            lows.push(low);
            step?;
        }
        for op in ops {
            let model = &mut *ck.model;
            let mut pidof =
                |viewer, target| model.pidof(viewer, target).expect("the model's pidof");
            let Some(low) = lower.lower(op, &ck.book, &mut pidof) else {
                continue;
            };
            let step = ck.step(&low, lows.len() + 1);
            if let Ok(step) = &step {
                lower.observe(&low, &ck.book, step);
            }
            lows.push(low);
            step?;
        }
        // The end: compare the state once more (the last statements may
        // have been reads, or failed), and how every task sees every other.
        ck.check_state(lows.len())?;
        ck.check_pids(lows.len())
    };
    match run() {
        Ok(()) => Ok((lows.len(), ck.book.records)),
        Err(stop) => Err((stop, lower.script(&lows))),
    }
}

/// How many tasks look at every task's pid at the end of a lowered run:
/// more than a lowered script makes, but for a recipe's hundreds of forks.
const PID_VIEWERS: usize = 48;

/// The model and another backend driven call by call, compared after
/// every call: the fast path of [`check_ops`](super::check_ops). It does
/// what [`Lockstep`] does, without scripts or trace lines: both backends
/// get the lowered call ([`Low`]), their results and events are compared
/// as values, and one bookkeeping ([`Book`]) follows the tasks. Any
/// difference stops it; the report comes from running the script through
/// [`lockstep`] again.
struct Check<'a> {
    model: &'a mut dyn Backend,
    other: &'a mut dyn Backend,
    book: Book,
    /// The digests' buffers, reused from one comparison to the next.
    digests: (DigestWords, DigestWords),
}

impl<'a> Check<'a> {
    fn new(model: &'a mut dyn Backend, other: &'a mut dyn Backend) -> Check<'a> {
        Check {
            model,
            other,
            book: Book::new(),
            // Room for a few namespaces of a dozen queues: no growth.
            digests: (
                DigestWords::with_capacity(512),
                DigestWords::with_capacity(512),
            ),
        }
    }

    /// Runs statement number `n` (`low`) on both backends and compares
    /// their results and events, then their digests unless the call
    /// provably changed no IPC state ([`writes_nothing`]). The model's
    /// result.
    fn step(&mut self, low: &Low, n: usize) -> Result<Step, Stop> {
        let differ = |what: &str, model: String, other: String| {
            Stop::Mismatch(Mismatch::Trace(Divergence {
                index: n - 1,
                expected: Some(format!("statement {n}: {what} {model}")),
                actual: Some(format!("statement {n}: {what} {other}")),
            }))
        };
        let rm = self.model.call(low.task, &low.call);
        let ro = self.other.call(low.task, &low.call);
        let step = match (rm, ro) {
            (_, Err(BackendError::Unavailable(why))) | (Err(BackendError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(m), Ok(o)) if m == o => m,
            (Err(m), Err(o)) if m == o => {
                return Err(Stop::Both(RunError::Failed {
                    file: FILE.to_string(),
                    line: n,
                    msg: m.to_string(),
                }));
            }
            (m, o) => return Err(differ("returned", format!("{m:?}"), format!("{o:?}"))),
        };
        let em = self.model.take_events();
        let eo = self.other.take_events();
        let events = match (em, eo) {
            (_, Err(BackendError::Unavailable(why))) | (Err(BackendError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(m), Ok(o)) if m == o => m,
            (m, o) => return Err(differ("caused", format!("{m:?}"), format!("{o:?}"))),
        };
        if let Err(e) = self.book.apply(low, &step, &events) {
            return Err(Stop::Mismatch(Mismatch::Error {
                statement: n,
                model: Some(e.clone()),
                other: Some(e),
            }));
        }
        if !writes_nothing(&low.call, &step, &events) {
            self.check_state(n)?;
        }
        Ok(step)
    }

    /// Compares how tasks see each other's pids (`pidof`) on the two
    /// backends after statement `n`: the pid numbers no call returned.
    /// Every task is looked at by each of the first [`PID_VIEWERS`] tasks
    /// (all of them, unless a recipe made hundreds); the lines are written
    /// only for a report.
    fn check_pids(&mut self, n: usize) -> Result<(), Stop> {
        let tasks = self.book.task_count();
        let viewers = tasks.min(PID_VIEWERS);
        let view = |b: &mut dyn Backend| -> Result<Vec<i64>, Stop> {
            let mut nrs = Vec::with_capacity(viewers * tasks);
            for v in (0..viewers).map(TaskId) {
                for t in (0..tasks).map(TaskId) {
                    nrs.push(b.pidof(v, t).map_err(|e| digest_failed(e, n))?);
                }
            }
            Ok(nrs)
        };
        let (model, other) = (view(self.model)?, view(self.other)?);
        if model != other {
            let lines = |nrs: Vec<i64>| {
                nrs.into_iter()
                    .enumerate()
                    .map(|(i, nr)| {
                        format!("task #{} sees task #{} as pid {nr}", i / tasks, i % tasks)
                    })
                    .collect()
            };
            return Err(Stop::Mismatch(Mismatch::State {
                statement: n,
                model: lines(model),
                other: lines(other),
            }));
        }
        Ok(())
    }

    /// Compares the digests of the two backends after statement `n`.
    fn check_state(&mut self, n: usize) -> Result<(), Stop> {
        let (dm, d_o) = &mut self.digests;
        let digest = |b: &mut dyn Backend, d: &mut DigestWords| match b.digest_words(d) {
            Ok(taken) => Ok(taken),
            Err(e) => Err(digest_failed(e, n)),
        };
        if !(digest(self.model, dm)? && digest(self.other, d_o)?) {
            return Ok(());
        }
        if dm.words() != d_o.words() {
            return Err(Stop::Mismatch(Mismatch::State {
                statement: n,
                model: dm.digest().lines(),
                other: d_o.digest().lines(),
            }));
        }
        Ok(())
    }
}

/// Whether a call that had `step` and caused `events` provably changed no
/// IPC state, so that the digest after it may wait for the next statement
/// that may write (or the end of the check): a read ([`reads_only`]);
/// a call that never reaches the IPC code (`fork`, credentials); or a call
/// that failed at once and woke or killed nobody (every call checks its
/// errors before it changes anything; should the implementation change
/// something all the same, the next digest shows it).
fn writes_nothing(call: &Syscall, step: &Step, events: &[Event]) -> bool {
    reads_only(call)
        || matches!(
            call,
            Syscall::Fork
                | Syscall::Setuid { .. }
                | Syscall::Setgid { .. }
                | Syscall::Capdrop { .. }
                | Syscall::Setsid
                | Syscall::Setpgid { .. }
                | Syscall::Waitpid { .. }
                | Syscall::Sysctl {
                    name: Sysctl::NsLastPid | Sysctl::PidMax,
                    ..
                }
        )
        || (events.is_empty() && matches!(step, Step::Done(o) if matches!(o.ret, Ret::Err(_))))
}

/// **The** rule for a call that only reads: `IPC_STAT`, `MSG_STAT`,
/// `MSG_STAT_ANY`, `IPC_INFO`, `MSG_INFO`, a sysctl read, or a pid query
/// (`pidof` is no call, and reads only too). After such a call neither
/// driver compares the IPC state; the next comparison covers it.
pub fn reads_only(call: &Syscall) -> bool {
    match *call {
        Syscall::Msgctl { cmd, .. } => {
            matches!(
                cmd,
                IPC_STAT | MSG_STAT | MSG_STAT_ANY | IPC_INFO | MSG_INFO
            )
        }
        Syscall::Sysctl { value, .. } => value.is_none(),
        Syscall::Getpid | Syscall::Getppid | Syscall::Getsid { .. } | Syscall::Getpgid { .. } => {
            true
        }
        _ => false,
    }
}
