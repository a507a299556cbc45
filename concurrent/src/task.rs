//! Who is calling: the task context every call takes, and the per-task
//! parking spot that a sleeping call waits on.

use std::fmt;

use crate::errno::Errno;
use crate::ipc::{IpcNamespace, Received};
use crate::sync::{Arc, Condvar, Mutex, lock, wait};

/// `CAP_IPC_OWNER`: bypasses the permission bits of a queue.
pub const CAP_IPC_OWNER: u32 = 15;
/// `CAP_SYS_ADMIN`: may change and remove any queue.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_SYS_RESOURCE`: may raise `msg_qbytes` above `kernel.msgmnb`.
pub const CAP_SYS_RESOURCE: u32 = 24;
/// `CAP_CHECKPOINT_RESTORE`: may write `kernel.msg_next_id`.
pub const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// The credentials the IPC permission checks look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// The effective user id.
    pub euid: u32,
    /// The effective group id.
    pub egid: u32,
    /// The effective capability set, one bit per capability number.
    pub caps: u64,
}

impl Cred {
    /// Whether the effective set holds `cap`.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }
}

/// Watches tasks go to sleep and wake up.
///
/// A driver that runs each task on its own thread uses this to know, without
/// guessing from time, when a call has gone to sleep: `parked` is called by
/// the sleeping thread once it is registered as a sleeper (so any later
/// wake-up will find it), and `woken` is called by the waking thread before
/// the sleeper can observe its wake-up. Both are called with the queue lock
/// held, so for one queue they arrive in the order the events happened.
pub trait SleepObserver: Send + Sync {
    /// The task identified by `token` is now asleep in a call.
    fn parked(&self, token: u64);
    /// The task identified by `token` was woken and its call is finishing.
    fn woken(&self, token: u64);
}

/// How a sleeping call ended.
#[derive(Debug)]
pub(crate) enum Wakeup {
    /// A receive was handed a message.
    Msg(Received),
    /// A send was completed on the sender's behalf.
    Sent,
    /// The call failed, e.g. `EIDRM` or `E2BIG`.
    Err(Errno),
}

#[derive(Debug, Default)]
struct SleepState {
    /// Set by a waker; taken by the sleeper.
    wakeup: Option<Wakeup>,
    /// The task was killed: it must not sleep any more.
    killed: bool,
}

/// A task's parking spot. One task makes one call at a time, so one spot
/// serves all its calls. Wakers fill it in; the sleeper never needs the queue
/// lock to collect what it was given.
pub struct Sleeper {
    token: u64,
    observer: Option<Box<dyn SleepObserver>>,
    state: Mutex<SleepState>,
    cv: Condvar,
}

impl fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleeper")
            .field("token", &self.token)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl Sleeper {
    /// A parking spot for the task `token`, reported to `observer` if any.
    pub fn new(token: u64, observer: Option<Box<dyn SleepObserver>>) -> Sleeper {
        Sleeper {
            token,
            observer,
            state: Mutex::new(SleepState::default()),
            cv: Condvar::new(),
        }
    }

    /// Kills the task: a call asleep now, or later, returns `EINTR` after
    /// removing itself from its queue.
    pub fn kill(&self) {
        lock(&self.state).killed = true;
        self.cv.notify_all();
    }

    /// Whether the task may go to sleep (it was not killed).
    pub(crate) fn may_sleep(&self) -> bool {
        let mut s = lock(&self.state);
        s.wakeup = None;
        !s.killed
    }

    /// Tells the observer that this task is registered as a sleeper. The
    /// caller holds the queue lock.
    pub(crate) fn parked(&self) {
        if let Some(o) = &self.observer {
            o.parked(self.token);
        }
    }

    /// Ends the sleep with `wakeup`. The caller holds the queue lock.
    pub(crate) fn wake(&self, wakeup: Wakeup) {
        if let Some(o) = &self.observer {
            o.woken(self.token);
        }
        lock(&self.state).wakeup = Some(wakeup);
        self.cv.notify_one();
    }

    /// Sleeps until woken (`Some`) or killed (`None`).
    pub(crate) fn wait(&self) -> Option<Wakeup> {
        let mut s = lock(&self.state);
        loop {
            if let Some(w) = s.wakeup.take() {
                return Some(w);
            }
            if s.killed {
                return None;
            }
            s = wait(&self.cv, s);
        }
    }

    /// The wake-up a waker left, if any (after a kill, one that raced
    /// with it).
    pub(crate) fn take(&self) -> Option<Wakeup> {
        lock(&self.state).wakeup.take()
    }
}

/// A PID namespace, as the IPC code sees it: a number that tells it apart
/// from the others of the same machine.
pub type PidNsId = u64;

/// A task's `struct pid`: its number in every PID namespace it is visible
/// in, from the outermost (the machine's) to its own. The IPC code records
/// the last sender and receiver of a queue as one of these, and shows each
/// caller the number its own namespace gives (`pid_vnr`), or 0 where the
/// task is not visible.
#[derive(Debug, PartialEq, Eq)]
pub struct Pid {
    numbers: Vec<(PidNsId, i64)>,
}

impl Pid {
    /// A pid with `numbers`, outermost namespace first; the last is the
    /// task's own.
    ///
    /// # Panics
    ///
    /// If `numbers` is empty.
    pub fn new(numbers: Vec<(PidNsId, i64)>) -> Pid {
        assert!(
            !numbers.is_empty(),
            "a pid has a number in its own namespace"
        );
        Pid { numbers }
    }

    /// The pid `nr` of a machine with one PID namespace (number 0).
    pub fn single(nr: i64) -> Pid {
        Pid::new(vec![(0, nr)])
    }

    /// The task's number in its own namespace.
    pub fn nr(&self) -> i64 {
        self.numbers[self.numbers.len() - 1].1
    }

    /// The task's own namespace.
    pub fn ns(&self) -> PidNsId {
        self.numbers[self.numbers.len() - 1].0
    }

    /// The number namespace `ns` shows, 0 where the task is not visible
    /// there.
    pub fn nr_in(&self, ns: PidNsId) -> i64 {
        self.numbers
            .iter()
            .find(|&&(n, _)| n == ns)
            .map_or(0, |&(_, nr)| nr)
    }
}

/// The caller of a call: its pid, its credentials, its IPC namespace and
/// its parking spot.
#[derive(Clone, Debug)]
pub struct Task {
    /// The caller's tgid; recorded as `msg_lspid` and `msg_lrpid`. Its PID
    /// namespace is the one the caller sees other pids in.
    pub pid: Arc<Pid>,
    /// The caller's credentials.
    pub cred: Cred,
    /// The caller's IPC namespace.
    pub ipc_ns: Arc<IpcNamespace>,
    /// Where the caller sleeps.
    pub sleeper: Arc<Sleeper>,
}
