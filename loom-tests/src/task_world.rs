//! The implementation's task half (`nscheck_concurrent::proc::System`) with
//! one task per thread, its calls recorded as a history ([`Recorder`]) and
//! judged against the model's kernel ([`ModelSpec`]), as the harness's
//! concurrent backend runs them (`nscheck_adapter::start_task`, and
//! `start_ipc` in the task's IPC context for the IPC calls). A task that
//! an init's exit kills ends the call it sleeps in on its own thread
//! (`Parked::wait` returns when the sleeper is killed, as `cancel` does).

use nscheck_adapter::{Started, is_ipc, start_ipc, start_task};
use nscheck_concurrent::proc::System;
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
    /// `dialect` (`sys` follows that dialect's pid design).
    pub fn with_dialect(
        sys: Arc<System>,
        dialect: Dialect,
        threads: usize,
        prelude: &[(usize, Syscall)],
    ) -> TaskWorld {
        for i in 1..threads {
            let pid = run(&sys, 0, &Syscall::Fork);
            assert_eq!(pid, Outcome::val(i as i64 + 1), "pid of t{i}");
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

    /// The machine.
    pub fn system(&self) -> &Arc<System> {
        &self.sys
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
