//! The implementation's task half (`nscheck_concurrent::proc::System`) with
//! one task per thread, its calls recorded as a history ([`Recorder`]) and
//! judged against the model's kernel ([`ModelSpec`]), as the harness's
//! concurrent backend runs them (`nscheck_adapter::start_task`, and
//! `start_ipc` in the task's IPC context for the IPC calls). A task that
//! an init's exit kills ends the call it sleeps in on its own thread
//! (`Parked::wait` returns when the sleeper is killed, as `cancel` does).

use std::sync::Mutex as StdMutex;

use nscheck_adapter::{Started, is_ipc, start_ipc, start_task};
use nscheck_concurrent::Cred;
use nscheck_concurrent::proc::{Creds, System};
use nscheck_concurrent::sync::Arc;
use nscheck_model::{Dialect, Outcome, Syscall, TaskId};

use crate::lin;
use crate::model::ModelSpec;
use crate::recorder::Recorder;

/// The tasks and the history of one execution. Clone it into each thread.
#[derive(Clone, Debug)]
pub struct TaskWorld {
    sys: Arc<System>,
    dialect: Dialect,
    threads: usize,
    prelude: Vec<(usize, Syscall)>,
    rec: Recorder<Syscall, Outcome>,
    /// What [`TaskWorld::observe`] saw, in order. A `std` mutex, like the
    /// recorder's, so that it adds no interleavings.
    seen: std::sync::Arc<StdMutex<Vec<Seen>>>,
}

/// What another thread reads of a task through the task half's public
/// readers, one lock hold each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// `System::creds`: every id and both capability sets.
    Creds(Creds),
    /// `System::ipc_task`: the credentials the IPC checks look at, and the
    /// IPC namespace, by its index in `System::ipc_namespaces`.
    Ipc(Cred, usize),
}

/// A task's state as its readers can see it: the [`Read`]s it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    creds: Creds,
    ipc: (Cred, usize),
}

impl View {
    /// Whether `read` shows this state.
    fn shows(&self, read: &Read) -> bool {
        match *read {
            Read::Creds(c) => c == self.creds,
            Read::Ipc(c, ns) => (c, ns) == self.ipc,
        }
    }
}

/// One read by [`TaskWorld::observe`]: the reader and the task, how many
/// calls of the task had returned when the read began, what it read, and
/// how many calls of the task had been invoked when it ended.
#[derive(Clone, Copy, Debug)]
struct Seen {
    reader: usize,
    task: usize,
    returned: usize,
    read: Read,
    invoked: usize,
}

impl TaskWorld {
    /// `t0` of `sys` forks `threads - 1` children, so that thread `i` is
    /// task `t{i}` with pid `i + 1`, then each `(thread, call)` of
    /// `prelude` runs in order and must succeed: the state
    /// [`ModelSpec::new`] starts from. None of this is recorded.
    pub fn new(sys: Arc<System>, threads: usize, prelude: &[(usize, Syscall)]) -> TaskWorld {
        TaskWorld::with_dialect(sys, Dialect::Mainline, threads, prelude)
    }

    /// As [`TaskWorld::new`], judged against the model's kernel of
    /// `dialect` (`sys` follows that dialect's pid design, whose pids are
    /// its own under a historical one).
    pub fn with_dialect(
        sys: Arc<System>,
        dialect: Dialect,
        threads: usize,
        prelude: &[(usize, Syscall)],
    ) -> TaskWorld {
        for i in 1..threads {
            let pid = run(&sys, 0, &Syscall::Fork);
            // A historical dialect numbers its pids its own way.
            if dialect == Dialect::Mainline {
                assert_eq!(pid, Outcome::val(i as i64 + 1), "pid of t{i}");
            } else {
                assert!(pid.errno().is_none(), "fork of t{i}: {pid:?}");
            }
        }
        for (thread, call) in prelude {
            let o = run(&sys, *thread, call);
            assert!(o.errno().is_none(), "prelude t{thread} {call:?}: {o:?}");
        }
        TaskWorld {
            sys,
            dialect,
            threads,
            prelude: prelude.to_vec(),
            rec: Recorder::default(),
            seen: Default::default(),
        }
    }

    /// Thread `thread` makes `call`; the call and its result are recorded.
    pub fn call(&self, thread: usize, call: Syscall) -> Outcome {
        self.rec
            .record(thread, call, |call| run(&self.sys, thread, call))
    }

    /// Stamps the invocation of `call` by `thread` now; the call runs and
    /// returns when [`Invoked::finish`] is called, on the thread that runs
    /// the task. A task's call that an init's exit may kill is stamped so
    /// before the exit's thread starts: the model refuses a call made by a
    /// task already dead, which the implementation cannot refuse (the task's
    /// thread does not know it was killed).
    pub fn invoke(&self, thread: usize, call: Syscall) -> Invoked {
        let (slot, call) = self.rec.invoke(thread, call);
        Invoked {
            world: self.clone(),
            thread,
            slot,
            call,
        }
    }

    /// Task `t{task}`'s pid as `t{viewer}` sees it (not recorded).
    pub fn pid(&self, viewer: usize, task: usize) -> i64 {
        self.sys.pidof(viewer, task)
    }

    /// Thread `reader` reads task `t{task}`'s credentials, then its IPC
    /// context, as a driver or a `/proc` reader would while the task runs;
    /// [`TaskWorld::check_reads`] judges what it saw.
    pub fn observe(&self, reader: usize, task: usize) {
        let reads: [fn(&System, usize) -> Read; 2] = [
            |sys, task| Read::Creds(sys.creds(task)),
            |sys, task| {
                let ctx = sys.ipc_task(task);
                Read::Ipc(ctx.cred, ipc_index(sys, &ctx.ipc_ns))
            },
        ];
        for read in reads {
            let (_, returned) = self.rec.counts(task);
            let read = read(&self.sys, task);
            let (invoked, _) = self.rec.counts(task);
            let seen = Seen {
                reader,
                task,
                returned,
                read,
                invoked,
            };
            self.seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(seen);
        }
    }

    /// The state task `t{task}` is in now, as [`TaskWorld::observe`] reads
    /// it; for a run with no other thread, which gives the states a task
    /// goes through.
    pub fn view(&self, task: usize) -> View {
        let ctx = self.sys.ipc_task(task);
        View {
            creds: self.sys.creds(task),
            ipc: (ctx.cred, ipc_index(&self.sys, &ctx.ipc_ns)),
        }
    }

    /// Checks what [`TaskWorld::observe`] saw of task `t{task}`, which
    /// went through `states` (the state before its first call, then after
    /// each): each read shows the state after `k` of its calls, where `k`
    /// is at least the calls that had returned when the read began, at
    /// most those invoked when it ended, and never less than for an earlier
    /// read of the same reader (a reader's reads are in order, and a task's
    /// state only moves forward). Panics with the reads if not.
    pub fn check_reads(&self, task: usize, states: &[View]) {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut at = std::collections::BTreeMap::new();
        for s in seen.iter().filter(|s| s.task == task) {
            let from = (*at.get(&s.reader).unwrap_or(&0)).max(s.returned);
            let to = s.invoked.min(states.len() - 1);
            match (from..=to).find(|&k| states[k].shows(&s.read)) {
                Some(k) => {
                    at.insert(s.reader, k);
                }
                None => panic!(
                    "t{} read {:?} of t{task} after {from} to {to} of its calls, \
                     a state it never had then\nreads: {seen:#?}\nstates: {states:#?}\nhistory:\n{}",
                    s.reader,
                    s.read,
                    lin::render(&self.rec.history())
                ),
            }
        }
    }

    /// Checks that the history is linearizable with respect to the model;
    /// panics with the history and the rejection if not.
    pub fn check_linearizable(&self) {
        let h = self.rec.history();
        let spec = ModelSpec::with_dialect(self.dialect, self.threads, &self.prelude);
        if let Err(r) = lin::check_apart(&spec, &h) {
            panic!(
                "the history is not linearizable against the model\nhistory:\n{}{r}",
                lin::render(&h)
            );
        }
    }
}

impl TaskWorld {
    /// Gives back every number of the first namespace (those of every
    /// task, and of every process group and session, are there), so that
    /// the pids and the namespaces, which hold each other until then, are
    /// dropped with the machine (loom reports what is never dropped as a
    /// leak). The tasks keep their `StructPid`s, whose numbers no longer
    /// count: nothing runs on the machine afterwards.
    pub fn release(&self) {
        let root = self.sys.struct_pid(0).ns().clone();
        for nr in 1..=RELEASED {
            if let Some(pid) = root.find_pid(nr) {
                while pid.links() > 0 && !pid.unlink() {}
            }
        }
    }
}

/// The numbers [`TaskWorld::release`] gives back: more than a scenario
/// uses.
const RELEASED: i64 = 64;

/// The index of `ns` among the machine's IPC namespaces.
fn ipc_index(sys: &System, ns: &Arc<nscheck_concurrent::IpcNamespace>) -> usize {
    sys.ipc_namespaces()
        .iter()
        .position(|n| Arc::ptr_eq(n, ns))
        .expect("a namespace of the machine")
}

/// A call whose invocation is stamped ([`TaskWorld::invoke`]) and which
/// has not run yet.
#[derive(Debug)]
pub struct Invoked {
    world: TaskWorld,
    thread: usize,
    slot: usize,
    call: Syscall,
}

impl Invoked {
    /// Runs the call to its end and stamps its response.
    pub fn finish(self) -> Outcome {
        let ret = self.run();
        self.respond(ret.clone());
        ret
    }

    /// Runs the call to its end, without stamping its response yet.
    pub fn run(&self) -> Outcome {
        run(&self.world.sys, self.thread, &self.call)
    }

    /// Stamps the response now, with the result [`Invoked::run`] gave.
    pub fn respond(self, ret: Outcome) {
        self.world.rec.respond(self.slot, ret);
    }
}

/// Runs `call` for task `t{thread}` to its end (a parked call is waited
/// for): an IPC call in the IPC context the task half gives the task now.
/// The tasks a call kills end their own calls (a killed sleeper's `wait`
/// returns), so nothing is left to do for them here.
fn run(sys: &Arc<System>, thread: usize, call: &Syscall) -> Outcome {
    let started = if is_ipc(call) {
        start_ipc(&sys.ipc_task(thread), call)
    } else {
        start_task(sys, TaskId(thread), call)
            .expect("a modelled call")
            .started
    };
    match started {
        Started::Done(o) => o,
        Started::Parked(p) => p.wait(),
    }
}

// The machine's locks are loom's or shuttle's in those builds, which only
// run inside their checkers.
#[cfg(all(test, not(any(nscheck_loom, nscheck_shuttle))))]
mod tests {
    use super::*;

    /// `check_reads` takes a read of a state the task was in during the
    /// read, and refuses one of a state it was not in then.
    #[test]
    fn a_read_must_show_a_state_of_its_window() {
        let w = TaskWorld::new(System::new(), 2, &[]);
        let before = w.view(1);
        w.call(1, Syscall::Setgid { gid: 1000 });
        let after = w.view(1);
        assert_ne!(before, after);
        w.observe(0, 1);
        w.check_reads(1, &[before, after]);
        let refused = |states: [View; 2]| {
            let w = w.clone();
            let check = std::panic::AssertUnwindSafe(move || w.check_reads(1, &states));
            std::panic::catch_unwind(check).is_err()
        };
        // A state the task never had.
        assert!(refused([before, before]));
        // A state it had only before the read began.
        assert!(refused([after, before]));
        w.release();
    }
}
