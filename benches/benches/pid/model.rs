//! The baseline: the model's `Kernel` behind one mutex, driven through
//! `Kernel::call` as a script would drive it.
//!
//! The model keeps every task it ever made, and `exit`, `waitpid` and the
//! release of a task walk them all, so a long run would time that list
//! growing. Every [`RESET`] cycles, the kernel is therefore replaced by a
//! copy of the fresh world, under the lock and inside the timing (the copy
//! is part of the baseline's cost): the model then runs with at most
//! `RESET` tasks beyond the world's own, the size of a long script.

use std::sync::{Mutex, MutexGuard};

use nscheck_model::abi::CLONE_NEWPID;
use nscheck_model::{Dialect, Kernel, Outcome, Ret, Step, Syscall, TaskId};

use crate::{Ns, PidWorld, TARGETS};

/// The cycles between two resets of the kernel.
const RESET: u32 = 64;

/// The inits of the root, `A` and `B`, in the order of [`Ns`].
const INITS: [TaskId; 3] = [TaskId(0), TaskId(1), TaskId(2)];

/// The task whose number in `A` is `nr`: `A`'s init made the targets right
/// after the inits, so they are `t3` (number 2) onwards.
fn target(nr: i64) -> TaskId {
    TaskId(nr as usize + 1)
}

/// What the mutex guards.
#[derive(Debug)]
struct State {
    kernel: Kernel,
    /// Cycles since the last reset.
    cycles: u32,
}

/// `Mutex<Kernel>`, with the fresh world it resets to.
#[derive(Debug)]
pub struct MutexModel {
    state: Mutex<State>,
    fresh: Kernel,
}

/// `task` makes `call`, which must return a value.
fn val(kernel: &mut Kernel, task: TaskId, call: &Syscall) -> i64 {
    match kernel.call(task, call) {
        Ok(Step::Done(Outcome {
            ret: Ret::Val(v), ..
        })) => v,
        other => panic!("{call:?}: {other:?}"),
    }
}

impl MutexModel {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PidWorld for MutexModel {
    fn new() -> MutexModel {
        let mut k = Kernel::new(Dialect::Mainline);
        let newpid = Syscall::Clone {
            flags: CLONE_NEWPID,
            set_tid: Vec::new(),
        };
        for _ in [Ns::A, Ns::B] {
            val(&mut k, INITS[Ns::Root as usize], &newpid);
        }
        for nr in 2..TARGETS + 2 {
            assert_eq!(val(&mut k, INITS[Ns::A as usize], &Syscall::Fork), nr);
        }
        MutexModel {
            state: Mutex::new(State {
                kernel: k.clone(),
                cycles: 0,
            }),
            fresh: k,
        }
    }

    /// One lock for the three calls: the strongest form of the baseline
    /// (a lock per call would only add hand-overs).
    fn cycle(&self, ns: Ns) {
        let parent = INITS[ns as usize];
        let mut s = self.lock();
        if s.cycles == RESET {
            s.kernel.clone_from(&self.fresh);
            s.cycles = 0;
        }
        s.cycles += 1;
        let k = &mut s.kernel;
        let pid = val(k, parent, &Syscall::Fork);
        let child = TaskId(k.task_count() - 1);
        k.call(child, &Syscall::Exit { code: 0 }).expect("exit");
        assert_eq!(val(k, parent, &Syscall::Waitpid { pid }), pid);
    }

    /// The lookup is `getpgid(nr)` by `A`'s init (the model's
    /// `find_task_by_vpid`); the translations are `Kernel::pidof` and
    /// `Kernel::pid_numbers`. One lock for all four, as in `cycle`.
    fn lookup(&self, nr: i64) -> i64 {
        let a_init = INITS[Ns::A as usize];
        let t = target(nr);
        let mut s = self.lock();
        let k = &mut s.kernel;
        val(k, a_init, &Syscall::Getpgid { pid: nr });
        let nspid: i64 = k.pid_numbers(t).iter().map(|&(_, n)| n).sum();
        k.pidof(INITS[Ns::Root as usize], t) + k.pidof(a_init, t) + nspid
    }
}
