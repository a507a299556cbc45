//! `waitpid(pid, 0)` for one child: reap it if it is a zombie whose exit
//! is over, else sleep until it is.
//!
//! A call starts ([`System::start_waitpid`]) and either ends or parks
//! ([`ParkedWait`]). A parked waiter looks again with
//! [`ParkedWait::poll`]; a thread that may block calls
//! [`ParkedWait::wait`], which runs the same `poll` each time
//! `wait_chldexit` moves (an exit, a release, or a process group or
//! session left may each let it reap), so both forms run the same code.

use std::fmt;

use crate::errno::Errno;
use crate::proc::{ProcId, State, System, TaskList};
use crate::sync::Arc;

/// How a `waitpid` began.
#[derive(Debug)]
pub enum Waited {
    /// The call ended: the reaped child's pid as the caller sees it, or
    /// the error.
    Done(Result<i64, Errno>),
    /// The child is still running (or its exit is pending): the caller
    /// sleeps.
    Parked(ParkedWait),
}

/// A `waitpid` asleep until its child can be reaped.
#[must_use]
pub struct ParkedWait {
    sys: Arc<System>,
    waiter: ProcId,
    child: ProcId,
}

impl fmt::Debug for ParkedWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParkedWait")
            .field("waiter", &self.waiter)
            .field("child", &self.child)
            .finish()
    }
}

impl System {
    /// `waitpid(pid, 0)` by `task` for its child numbered `pid` in its
    /// namespace (`pid` > 0): ECHILD if there is none. (An associated
    /// function, not a method, because loom's `Arc` cannot be a receiver.)
    pub fn start_waitpid(sys: &Arc<System>, task: ProcId, pid: i64) -> Waited {
        let tl = sys.read();
        let child = tl
            .find_task(task, pid)
            .filter(|&c| tl.nodes[c].parent == Some(task));
        let Some(child) = child else {
            return Waited::Done(Err(Errno::ECHILD));
        };
        drop(tl);
        let parked = ParkedWait {
            sys: sys.clone(),
            waiter: task,
            child,
        };
        match parked.poll() {
            Some(r) => Waited::Done(r),
            None => Waited::Parked(parked),
        }
    }

    /// `waitpid(pid, 0)`, sleeping on the calling thread.
    pub fn waitpid(sys: &Arc<System>, task: ProcId, pid: i64) -> Result<i64, Errno> {
        match System::start_waitpid(sys, task, pid) {
            Waited::Done(r) => r,
            Waited::Parked(p) => p.wait(),
        }
    }
}

impl TaskList {
    /// Whether `child` can be reaped now: a zombie whose exit is over.
    fn reapable(&self, child: ProcId) -> bool {
        self.nodes[child].state == State::Zombie && !self.exit_pending(child)
    }
}

impl ParkedWait {
    /// The call's result if it can end now: the child reaped, or `EINTR`
    /// if the waiter was killed. The call is over once this returns
    /// `Some`.
    pub fn poll(&self) -> Option<Result<i64, Errno>> {
        let ready = |tl: &TaskList| {
            tl.nodes[self.waiter].state != State::Running || tl.reapable(self.child)
        };
        if !ready(&self.sys.read()) {
            return None;
        }
        let mut tl = self.sys.write();
        if !ready(&tl) {
            return None;
        }
        if tl.nodes[self.waiter].state != State::Running {
            return Some(Err(Errno::EINTR));
        }
        let pid = tl.pidof(self.waiter, self.child);
        self.sys.release(&mut tl, self.child);
        drop(tl);
        self.sys.notify_waiters();
        Some(Ok(pid))
    }

    /// Sleeps until the call ends.
    pub fn wait(self) -> Result<i64, Errno> {
        loop {
            let seen = self.sys.chld_generation();
            if let Some(r) = self.poll() {
                return r;
            }
            self.sys.wait_chld(seen);
        }
    }

    /// Ends the call as a fatal signal does.
    pub fn cancel(self) -> Result<i64, Errno> {
        Err(Errno::EINTR)
    }
}
