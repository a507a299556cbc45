//! The task calls (everything [`is_ipc`](crate::is_ipc) does not take:
//! `fork`, `clone`, `unshare`, `exit`, `waitpid`, `getpid`, `getppid`,
//! sessions and process groups, credentials, the PID sysctls) on the
//! implementation's task half ([`System`]), in the model's terms.

use nscheck_concurrent::pid::AllocError;
use nscheck_concurrent::proc::{PidSysctl, System, Waited};
use nscheck_concurrent::sync::Arc;
use nscheck_model::abi::{CLONE_NEWIPC, CLONE_NEWPID};
use nscheck_model::{CallError, Outcome, Ret, Syscall, Sysctl, TaskId};

use crate::{ParkedCall, Started, errno, outcome};

/// How a task call began, and the tasks it killed (they were running), in
/// creation order.
#[derive(Debug)]
pub struct TaskStep {
    /// The call's result, or its parked `waitpid`.
    pub started: Started,
    /// The tasks the call killed: an init's `exit` kills its namespace.
    pub killed: Vec<TaskId>,
}

/// The implementation's name for a PID sysctl; `None` for the msg
/// sysctls.
pub fn pid_sysctl(name: Sysctl) -> Option<PidSysctl> {
    match name {
        Sysctl::NsLastPid => Some(PidSysctl::NsLastPid),
        Sysctl::PidMax => Some(PidSysctl::PidMax),
        Sysctl::Msgmax | Sysctl::Msgmnb | Sysctl::Msgmni | Sysctl::MsgNextId => None,
    }
}

/// Starts one task call of `task`, a running task that sleeps in no call:
/// a `waitpid` that would sleep comes back parked
/// ([`ParkedCall::Wait`]). A call the model refuses as not modelled
/// (clone or unshare flags other than `CLONE_NEWIPC` and `CLONE_NEWPID`, a
/// `waitpid` for a pid <= 0, a `set_tid` entry for the host's level) is
/// refused with the model's error.
///
/// # Panics
///
/// On an IPC call ([`is_ipc`](crate::is_ipc)).
pub fn start_task(sys: &Arc<System>, task: TaskId, call: &Syscall) -> Result<TaskStep, CallError> {
    let t = task.0;
    let done = |r: Result<i64, nscheck_concurrent::Errno>| outcome(r, Outcome::val);
    let mut killed = Vec::new();
    let outcome = match *call {
        Syscall::Fork => fork(sys, t, 0, &[])?,
        Syscall::Clone { flags, ref set_tid } => {
            if flags & !(CLONE_NEWIPC | CLONE_NEWPID) != 0 {
                return Err(CallError::Unsupported(
                    "clone flags other than CLONE_NEWIPC and CLONE_NEWPID",
                ));
            }
            fork(sys, t, flags, set_tid)?
        }
        Syscall::Unshare { flags } => {
            if flags & !(CLONE_NEWIPC | CLONE_NEWPID) != 0 {
                return Err(CallError::Unsupported(
                    "unshare flags other than CLONE_NEWIPC and CLONE_NEWPID",
                ));
            }
            done(sys.unshare(t, flags))
        }
        Syscall::Exit { .. } => {
            killed = sys.exit(t).into_iter().map(TaskId).collect();
            Outcome {
                ret: Ret::NoReturn,
                detail: Default::default(),
            }
        }
        Syscall::Waitpid { pid } => {
            if pid <= 0 {
                return Err(CallError::Unsupported("waitpid for a pid <= 0"));
            }
            match System::start_waitpid(sys, t, pid) {
                Waited::Done(r) => done(r),
                Waited::Parked(p) => {
                    return Ok(TaskStep {
                        started: Started::Parked(ParkedCall::Wait(p)),
                        killed,
                    });
                }
            }
        }
        Syscall::Getpid => Outcome::val(sys.getpid(t)),
        Syscall::Getppid => Outcome::val(sys.getppid(t)),
        Syscall::Setsid => done(sys.setsid(t)),
        Syscall::Getsid { pid } => done(sys.get_pgid_sid(t, pid, true)),
        Syscall::Getpgid { pid } => done(sys.get_pgid_sid(t, pid, false)),
        Syscall::Setpgid { pid, pgid } => done(sys.setpgid(t, pid, pgid)),
        Syscall::Setuid { uid } => done(sys.setuid(t, uid)),
        Syscall::Setgid { gid } => done(sys.setgid(t, gid)),
        Syscall::Capdrop { cap } => done(sys.capdrop(t, cap)),
        Syscall::Sysctl { name, value } => {
            let name = pid_sysctl(name).expect("msg sysctls are IPC calls");
            done(sys.pid_sysctl(t, name, value))
        }
        Syscall::Msgget { .. }
        | Syscall::Msgsnd { .. }
        | Syscall::Msgrcv { .. }
        | Syscall::Msgctl { .. } => unreachable!("IPC calls go to start_ipc"),
    };
    Ok(TaskStep {
        started: Started::Done(outcome),
        killed,
    })
}

/// `fork` or `clone3` with `flags` and `set_tid`.
fn fork(sys: &System, task: usize, flags: i64, set_tid: &[i64]) -> Result<Outcome, CallError> {
    match sys.fork(task, flags, set_tid) {
        Ok(pid) => Ok(Outcome::val(pid)),
        Err(AllocError::Errno(e)) => Ok(Outcome::err(errno(e))),
        Err(AllocError::HostLevel) => Err(CallError::Unsupported(
            "a set_tid entry for the host's PID namespace",
        )),
    }
}
