//! The implementation's task half (`nscheck_concurrent::proc::System`) with
//! one task per thread, its calls recorded as a history ([`Recorder`]) and
//! judged against the model's kernel ([`ModelSpec`]), as the harness's
//! concurrent backend runs them (`nscheck_adapter::start_task`).

use nscheck_adapter::{Started, start_task};
use nscheck_concurrent::proc::System;
use nscheck_concurrent::sync::Arc;
use nscheck_model::{Outcome, Syscall, TaskId};

use crate::lin;
use crate::model::ModelSpec;
use crate::recorder::Recorder;

/// The tasks and the history of one execution. Clone it into each thread.
#[derive(Clone, Debug)]
pub struct TaskWorld {
    sys: Arc<System>,
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

    /// Checks that the history is linearizable with respect to the model;
    /// panics with the history and the rejection if not.
    pub fn check_linearizable(&self) {
        let h = self.rec.history();
        let spec = ModelSpec::new(self.threads, &self.prelude);
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

/// Runs `call` for task `t{thread}` to its end (a parked `waitpid` is
/// waited for). A call that kills tasks is out of scope: the model's
/// specification refuses it.
fn run(sys: &Arc<System>, thread: usize, call: &Syscall) -> Outcome {
    let step = start_task(sys, TaskId(thread), call).expect("a modelled call");
    assert!(step.killed.is_empty(), "{call:?} killed {:?}", step.killed);
    match step.started {
        Started::Done(o) => o,
        Started::Parked(p) => p.wait(),
    }
}
