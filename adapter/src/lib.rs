//! The one translation between the model's types and the concurrent
//! implementation's API.
//!
//! The harness's concurrent backend and the loom and shuttle checks both run
//! [`Syscall`]s on `nscheck-concurrent` and compare the [`Outcome`]s with the
//! model's; this crate is where a call becomes an implementation call and a
//! result becomes a model result, so that the two never drift apart. Like
//! them, it is a check: it knows both the model and the implementation,
//! which never know each other.

#![forbid(unsafe_code)]

use nscheck_concurrent::Task;
use nscheck_concurrent::ipc::{self, Ctl, MsgSysctl, Received};
use nscheck_concurrent::proc::ParkedWait;
use nscheck_model::{Detail, Errno, MsgInfo, MsgSet, MsqidDs, Outcome, Syscall, Sysctl};

mod task;

pub use task::{TaskStep, pid_sysctl, start_task};

/// The model's `struct msqid64_ds` for the implementation's.
pub fn model_stat(s: &ipc::QueueStat) -> MsqidDs {
    MsqidDs {
        key: s.key,
        uid: s.uid,
        gid: s.gid,
        cuid: s.cuid,
        cgid: s.cgid,
        mode: s.mode,
        seq: s.seq,
        qnum: s.qnum,
        cbytes: s.cbytes,
        qbytes: s.qbytes,
        lspid: s.lspid,
        lrpid: s.lrpid,
    }
}

/// The model's `struct msginfo` for the implementation's.
pub fn model_info(i: &ipc::MsgInfo) -> MsgInfo {
    MsgInfo {
        msgpool: i.msgpool,
        msgmap: i.msgmap,
        msgmax: i.msgmax,
        msgmnb: i.msgmnb,
        msgmni: i.msgmni,
        msgssz: i.msgssz,
        msgtql: i.msgtql,
        msgseg: i.msgseg,
    }
}

/// The model's errno for the implementation's.
pub fn errno(e: nscheck_concurrent::Errno) -> Errno {
    Errno::from_number(e.number()).expect("the model knows every errno the implementation returns")
}

/// The model's outcome for an implementation result: `ok` maps a success.
pub fn outcome<T>(
    r: Result<T, nscheck_concurrent::Errno>,
    ok: impl FnOnce(T) -> Outcome,
) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(e) => Outcome::err(errno(e)),
    }
}

/// The implementation's name for a msg sysctl; `None` for the PID
/// sysctls, which are task calls ([`pid_sysctl`]).
pub fn msg_sysctl(name: Sysctl) -> Option<MsgSysctl> {
    match name {
        Sysctl::Msgmax => Some(MsgSysctl::Msgmax),
        Sysctl::Msgmnb => Some(MsgSysctl::Msgmnb),
        Sysctl::Msgmni => Some(MsgSysctl::Msgmni),
        Sysctl::MsgNextId => Some(MsgSysctl::MsgNextId),
        Sysctl::NsLastPid | Sysctl::PidMax => None,
    }
}

/// Whether `call` is an IPC call: `msgget`, `msgsnd`, `msgrcv`,
/// `msgctl`, or a read or write of a msg sysctl. [`start_ipc`] and
/// [`run_ipc`] take these and no others; [`start_task`] takes the rest.
pub fn is_ipc(call: &Syscall) -> bool {
    match *call {
        Syscall::Msgget { .. }
        | Syscall::Msgsnd { .. }
        | Syscall::Msgrcv { .. }
        | Syscall::Msgctl { .. } => true,
        Syscall::Sysctl { name, .. } => msg_sysctl(name).is_some(),
        _ => false,
    }
}

/// Runs one IPC call on the calling thread, sleeping there if it sleeps.
/// Integer arguments of type `int` keep their low 32 bits, as at the
/// system-call boundary.
///
/// # Panics
///
/// On a call that is not [`is_ipc`].
pub fn run_ipc(task: &Task, call: &Syscall) -> Outcome {
    match start_ipc(task, call) {
        Started::Done(o) => o,
        Started::Parked(p) => p.wait(),
    }
}

/// How an IPC call began: it finished, or it sleeps.
#[derive(Debug)]
pub enum Started {
    /// The call finished without sleeping.
    Done(Outcome),
    /// The call's task is registered as a sleeper.
    Parked(ParkedCall),
}

/// A sleeping `msgsnd` or `msgrcv` ([`ipc::Parked`]) or `waitpid`
/// ([`ParkedWait`]), with results in the model's terms.
#[derive(Debug)]
pub enum ParkedCall {
    /// A sender that waits for room.
    Snd(ipc::Parked<()>),
    /// A receiver that waits for a message.
    Rcv(ipc::Parked<Received>),
    /// A parent that waits for its child to be reapable.
    Wait(ParkedWait),
}

impl ParkedCall {
    /// Sleeps until the call ends.
    pub fn wait(self) -> Outcome {
        match self {
            ParkedCall::Snd(p) => snd_outcome(p.wait()),
            ParkedCall::Rcv(p) => rcv_outcome(p.wait()),
            ParkedCall::Wait(p) => wait_outcome(p.wait()),
        }
    }

    /// The outcome, if a waker has ended the call.
    pub fn poll(&self) -> Option<Outcome> {
        match self {
            ParkedCall::Snd(p) => p.poll().map(snd_outcome),
            ParkedCall::Rcv(p) => p.poll().map(rcv_outcome),
            ParkedCall::Wait(p) => p.poll().map(wait_outcome),
        }
    }

    /// Ends the call as a fatal signal does.
    pub fn cancel(self) -> Outcome {
        match self {
            ParkedCall::Snd(p) => snd_outcome(p.cancel()),
            ParkedCall::Rcv(p) => rcv_outcome(p.cancel()),
            ParkedCall::Wait(p) => wait_outcome(p.cancel()),
        }
    }
}

fn snd_outcome(r: Result<(), nscheck_concurrent::Errno>) -> Outcome {
    outcome(r, |()| Outcome::val(0))
}

fn wait_outcome(r: Result<i64, nscheck_concurrent::Errno>) -> Outcome {
    outcome(r, Outcome::val)
}

fn rcv_outcome(r: Result<Received, nscheck_concurrent::Errno>) -> Outcome {
    outcome(r, |m| {
        Outcome::with(
            m.text.len() as i64,
            Detail::Msg {
                mtype: m.mtype,
                text: m.text,
            },
        )
    })
}

/// A started `msgsnd` or `msgrcv` in the model's terms.
fn started<T>(
    s: ipc::Started<T>,
    done: fn(Result<T, nscheck_concurrent::Errno>) -> Outcome,
    parked: fn(ipc::Parked<T>) -> ParkedCall,
) -> Started {
    match s {
        ipc::Started::Done(r) => Started::Done(done(r)),
        ipc::Started::Parked(p) => Started::Parked(parked(p)),
    }
}

/// Starts one IPC call on the calling thread: a call that would sleep
/// registers its task as a sleeper and returns [`Started::Parked`]. Integer
/// arguments of type `int` keep their low 32 bits, as at the system-call
/// boundary. A msg sysctl is read or written in the task's IPC namespace,
/// with the task's credentials.
///
/// # Panics
///
/// On a call that is not [`is_ipc`].
pub fn start_ipc(task: &Task, call: &Syscall) -> Started {
    match *call {
        Syscall::Msgget { key, msgflg } => Started::Done(outcome(
            ipc::msgget(task, key as i32, msgflg as i32),
            |id| Outcome::val(id.into()),
        )),
        Syscall::Msgsnd {
            msqid,
            mtype,
            ref text,
            msgflg,
        } => started(
            ipc::start_msgsnd(task, msqid as i32, mtype, text, msgflg as i32),
            snd_outcome,
            ParkedCall::Snd,
        ),
        Syscall::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            msgflg,
        } => started(
            ipc::start_msgrcv(task, msqid as i32, msgsz, msgtyp, msgflg as i32),
            rcv_outcome,
            ParkedCall::Rcv,
        ),
        Syscall::Msgctl { msqid, cmd, set } => {
            let set = set.map(|s: MsgSet| ipc::MsgSet {
                msg_qbytes: s.msg_qbytes,
                uid: s.uid,
                gid: s.gid,
                mode: s.mode,
            });
            Started::Done(outcome(
                ipc::msgctl(task, msqid as i32, cmd as i32, set.as_ref()),
                |c| match c {
                    Ctl::Done => Outcome::val(0),
                    Ctl::Stat(ret, s) => Outcome::with(ret, Detail::Stat(model_stat(&s))),
                    Ctl::Info(ret, i) => Outcome::with(ret, Detail::Info(model_info(&i))),
                },
            ))
        }
        Syscall::Sysctl { name, value } => {
            let name = msg_sysctl(name).expect("only msg sysctls reach the implementation");
            Started::Done(match value {
                None => Outcome::val(task.ipc_ns.sysctl(name)),
                Some(v) => outcome(task.ipc_ns.write_sysctl(&task.cred, name, v), |()| {
                    Outcome::val(0)
                }),
            })
        }
        _ => unreachable!("only IPC calls reach the implementation"),
    }
}
