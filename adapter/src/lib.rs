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
use nscheck_concurrent::ipc::{self, Ctl};
use nscheck_model::{Detail, Errno, MsgInfo, MsgSet, MsqidDs, Outcome, Syscall};

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

/// Runs one IPC call on the calling thread. Integer arguments of type `int`
/// keep their low 32 bits, as at the system-call boundary.
///
/// # Panics
///
/// On a call that is not `msgget`, `msgsnd`, `msgrcv` or `msgctl`.
pub fn run_ipc(task: &Task, call: &Syscall) -> Outcome {
    match *call {
        Syscall::Msgget { key, msgflg } => {
            outcome(ipc::msgget(task, key as i32, msgflg as i32), |id| {
                Outcome::val(id.into())
            })
        }
        Syscall::Msgsnd {
            msqid,
            mtype,
            ref text,
            msgflg,
        } => outcome(
            ipc::msgsnd(task, msqid as i32, mtype, text, msgflg as i32),
            |()| Outcome::val(0),
        ),
        Syscall::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            msgflg,
        } => outcome(
            ipc::msgrcv(task, msqid as i32, msgsz, msgtyp, msgflg as i32),
            |m| {
                Outcome::with(
                    m.text.len() as i64,
                    Detail::Msg {
                        mtype: m.mtype,
                        text: m.text,
                    },
                )
            },
        ),
        Syscall::Msgctl { msqid, cmd, set } => {
            let set = set.map(|s: MsgSet| ipc::MsgSet {
                msg_qbytes: s.msg_qbytes,
                uid: s.uid,
                gid: s.gid,
                mode: s.mode,
            });
            outcome(
                ipc::msgctl(task, msqid as i32, cmd as i32, set.as_ref()),
                |c| match c {
                    Ctl::Done => Outcome::val(0),
                    Ctl::Stat(ret, s) => Outcome::with(ret, Detail::Stat(model_stat(&s))),
                    Ctl::Info(ret, i) => Outcome::with(ret, Detail::Info(model_info(&i))),
                },
            )
        }
        _ => unreachable!("only IPC calls run on task threads"),
    }
}
