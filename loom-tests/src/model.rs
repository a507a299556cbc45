//! The model as a [`Spec`]: thread `i` of a history is the model's task
//! `t{i}`, forked from `t0` before the history starts.
//!
//! One result the sequential model cannot give by itself: `EIDRM` from a
//! call that does not sleep (a send that fits, a receive with
//! `IPC_NOWAIT`, `IPC_STAT`, `IPC_SET`). Linux returns it when the call found
//! the queue and `IPC_RMID` removed it before the call took the queue lock
//! (`ipc_valid_object` after `ipc_lock_object`; B9), and so does the
//! implementation. Such a call is linearized as overtaken ([`Spec::stall`]):
//! it starts at a point where its queue exists, changes nothing, and
//! returns `EIDRM` at the step that removes the queue, exactly like a
//! sleeper woken by `IPC_RMID`.
//!
//! And one the model leaves out: the result of a call its task was killed
//! in. The model's killed task never returns from the call it sleeps in;
//! the implementation's call ends with `EINTR` (`Parked::cancel`, as a
//! fatal signal ends it), unless a waker ended it first. So a task that
//! the model kills while one of its calls sleeps completes that call with
//! `EINTR` at the step that kills it. A task killed while running simply
//! makes no more calls (the model refuses them).

use std::collections::BTreeSet;

use nscheck_model::{Detail, Dialect, Errno, Event, Kernel, Outcome, Ret, Step, Syscall, TaskId};

use crate::lin::Spec;

/// The model kernel with one task per thread.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    kernel: Kernel,
    /// Overtaken calls: the thread and the queue whose removal ends them.
    stalled: Vec<(usize, i64)>,
    /// The threads whose call sleeps in the model.
    asleep: BTreeSet<usize>,
}

impl ModelSpec {
    /// A fresh mainline kernel whose `t0` has forked `threads - 1` children,
    /// so that thread `i` is task `t{i}` with pid `i + 1`. Then each
    /// `(thread, call)` of `prelude` is run, in order (e.g. `setuid`); each
    /// must return at once.
    pub fn new(threads: usize, prelude: &[(usize, Syscall)]) -> ModelSpec {
        ModelSpec::with_dialect(Dialect::Mainline, threads, prelude)
    }

    /// As [`ModelSpec::new`], for a kernel of `dialect` (whose pids are
    /// its own under a historical one).
    pub fn with_dialect(
        dialect: Dialect,
        threads: usize,
        prelude: &[(usize, Syscall)],
    ) -> ModelSpec {
        let mut kernel = Kernel::new(dialect);
        for i in 1..threads {
            let step = kernel.call(TaskId(0), &Syscall::Fork).expect("fork");
            // A historical dialect numbers its pids its own way.
            if dialect == Dialect::Mainline {
                assert_eq!(step, Step::Done(Outcome::val(i as i64 + 1)), "pid of t{i}");
            } else {
                assert!(
                    matches!(&step, Step::Done(o) if o.errno().is_none()),
                    "fork of t{i}: {step:?}"
                );
            }
        }
        for (thread, call) in prelude {
            match kernel.call(TaskId(*thread), call) {
                Ok(Step::Done(o)) if o.errno().is_none() => {}
                other => panic!("prelude t{thread} {call:?}: {other:?}"),
            }
        }
        ModelSpec {
            kernel,
            stalled: Vec::new(),
            asleep: BTreeSet::new(),
        }
    }

    /// Whether the queue `msqid` exists, as `thread` sees it (by
    /// `MSG_STAT_ANY`, which changes nothing).
    fn exists(&mut self, thread: usize, msqid: i64) -> bool {
        let probe = Syscall::Msgctl {
            msqid: msqid & 0x7fff,
            cmd: MSG_STAT_ANY,
            set: None,
        };
        let step = self.kernel.call(TaskId(thread), &probe);
        debug_assert!(self.kernel.take_events().is_empty());
        matches!(
            step,
            Ok(Step::Done(Outcome { ret: Ret::Val(id), detail: Detail::Stat(_) })) if id == msqid
        )
    }
}

/// `MSG_STAT_ANY`.
const MSG_STAT_ANY: i64 = 13;

/// The queue a call addresses, if it can return `EIDRM`.
fn target(call: &Syscall) -> Option<i64> {
    match *call {
        Syscall::Msgsnd { msqid, .. } | Syscall::Msgrcv { msqid, .. } => Some(msqid),
        Syscall::Msgctl { msqid, cmd, .. } if [1, 2].contains(&cmd) => Some(msqid),
        _ => None,
    }
}

impl Spec for ModelSpec {
    type Call = Syscall;
    type Ret = Outcome;

    fn step(
        &mut self,
        thread: usize,
        call: &Syscall,
        resumed: &mut Vec<(usize, Outcome)>,
    ) -> Result<Option<Outcome>, String> {
        let step = self
            .kernel
            .call(TaskId(thread), call)
            .map_err(|e| e.to_string())?;
        for ev in self.kernel.take_events() {
            match ev {
                Event::Resumed { task, outcome } => {
                    self.asleep.remove(&task.0);
                    resumed.push((task.0, outcome));
                }
                Event::Killed { task } => {
                    if self.asleep.remove(&task.0) {
                        resumed.push((task.0, Outcome::err(Errno::EINTR)));
                    }
                }
            }
        }
        for (t, msqid) in std::mem::take(&mut self.stalled) {
            if self.exists(t, msqid) {
                self.stalled.push((t, msqid));
            } else {
                resumed.push((t, Outcome::err(Errno::EIDRM)));
            }
        }
        Ok(match step {
            Step::Done(o) => Some(o),
            Step::Blocked => {
                self.asleep.insert(thread);
                None
            }
        })
    }

    fn key(&self) -> String {
        // `asleep` follows from the kernel's state.
        format!("{:?} {:?}", self.stalled, self.kernel)
    }

    fn stall(&mut self, thread: usize, call: &Syscall, ret: &Outcome) -> bool {
        let Some(msqid) = target(call) else {
            return false;
        };
        if ret.errno() != Some(Errno::EIDRM) || !self.exists(thread, msqid) {
            return false;
        }
        self.stalled.push((thread, msqid));
        true
    }
}
