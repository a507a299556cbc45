//! A task: its `struct pid` and the pids it links to, its namespaces, its
//! parent, its state and its credentials.
//!
//! This file holds the data; the calls that change it (`fork`, `exit`,
//! `setsid`, `setuid`, …) are specified in `kernel.rs`, and the msg calls
//! read a task's credentials ([`Cred`]) for their permission checks.

use crate::abi::{CAP_CHECKPOINT_RESTORE, CAP_LAST_CAP, CAP_SYS_ADMIN};
use crate::pid::{NsId, PidId};
use crate::syscall::TaskId;

/// Whether a task runs, is a zombie, or is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Zombie,
    Reaped,
}

/// One task of the modelled system.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    /// `PIDTYPE_PID` (and `TGID`: every task is a single-threaded process).
    pub pid: PidId,
    /// `PIDTYPE_PGID`.
    pub pgrp: PidId,
    /// `PIDTYPE_SID`.
    pub session: PidId,
    /// `signal->leader`: the task made its session with `setsid`.
    pub session_leader: bool,
    /// `nsproxy->pid_ns_for_children`.
    pub ns_for_children: NsId,
    /// `real_parent`; `None` for `t0`, whose parent is outside the script.
    pub parent: Option<TaskId>,
    /// Its IPC namespace, by index in creation order.
    pub ipc_ns: usize,
    pub cred: Cred,
    pub state: State,
}

/// A task's credentials and capabilities.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cred {
    pub uid: i64,
    pub euid: i64,
    pub suid: i64,
    pub gid: i64,
    pub egid: i64,
    pub sgid: i64,
    /// The effective capability set, one bit per capability.
    pub caps: u64,
    /// The bounding set.
    pub bounding: u64,
}

impl Cred {
    /// Root with every capability, as `t0` starts.
    pub fn root() -> Cred {
        let all = (1u64 << (CAP_LAST_CAP + 1)) - 1;
        Cred {
            uid: 0,
            euid: 0,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            caps: all,
            bounding: all,
        }
    }

    /// Whether the effective set holds `cap`.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }

    /// `checkpoint_restore_ns_capable`: `CAP_SYS_ADMIN` or
    /// `CAP_CHECKPOINT_RESTORE`, as `ns_last_pid`, `msg_next_id` and
    /// `set_tid` require.
    pub fn checkpoint_restore(&self) -> bool {
        self.capable(CAP_SYS_ADMIN) || self.capable(CAP_CHECKPOINT_RESTORE)
    }
}
