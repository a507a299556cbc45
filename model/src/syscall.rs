//! The calls every backend understands and the results they give.
//!
//! These types are the common language of the model, the concurrent
//! implementation (through the harness) and the real kernel. Arguments are
//! plain numbers, as at the system-call boundary: the harness has already
//! turned names into values.

use crate::abi::Errno;

/// A task, named by its creation index: `t0` is 0 and every successful
/// `fork` or `clone` takes the next number. Every backend numbers tasks this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub usize);

/// The per-namespace sysctls a script may read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sysctl {
    /// `kernel.msgmax`.
    Msgmax,
    /// `kernel.msgmnb`.
    Msgmnb,
    /// `kernel.msgmni`.
    Msgmni,
    /// `kernel.msg_next_id`.
    MsgNextId,
    /// `kernel.ns_last_pid`.
    NsLastPid,
    /// `kernel.pid_max`.
    PidMax,
}

impl Sysctl {
    /// Every sysctl, in the order of the contract.
    pub const ALL: &[Sysctl] = &[
        Sysctl::Msgmax,
        Sysctl::Msgmnb,
        Sysctl::Msgmni,
        Sysctl::MsgNextId,
        Sysctl::NsLastPid,
        Sysctl::PidMax,
    ];

    /// The name under `kernel.`, e.g. `"msgmax"`.
    pub fn name(self) -> &'static str {
        match self {
            Sysctl::Msgmax => "msgmax",
            Sysctl::Msgmnb => "msgmnb",
            Sysctl::Msgmni => "msgmni",
            Sysctl::MsgNextId => "msg_next_id",
            Sysctl::NsLastPid => "ns_last_pid",
            Sysctl::PidMax => "pid_max",
        }
    }

    /// Parses `kernel.NAME`.
    pub fn from_path(path: &str) -> Option<Sysctl> {
        let name = path.strip_prefix("kernel.")?;
        Sysctl::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// The fields of `IPC_SET`. A field left out keeps the queue's current value,
/// as a program that does `IPC_STAT`, changes one field and `IPC_SET`s would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsgSet {
    /// `msg_qbytes`, as the 64-bit value the caller stored in `msqid64_ds`.
    pub msg_qbytes: Option<i64>,
    /// `msg_perm.uid`.
    pub uid: Option<i64>,
    /// `msg_perm.gid`.
    pub gid: Option<i64>,
    /// `msg_perm.mode`.
    pub mode: Option<i64>,
}

/// One system call, with its arguments already evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// `msgget(key, msgflg)`.
    Msgget { key: i64, msgflg: i64 },
    /// `msgsnd(msqid, {mtype, text}, len(text), msgflg)`.
    Msgsnd {
        msqid: i64,
        mtype: i64,
        text: Vec<u8>,
        msgflg: i64,
    },
    /// `msgrcv(msqid, buf, msgsz, msgtyp, msgflg)`.
    Msgrcv {
        msqid: i64,
        msgsz: i64,
        msgtyp: i64,
        msgflg: i64,
    },
    /// `msgctl(msqid, cmd, buf)`; `set` holds the fields of `IPC_SET`.
    Msgctl {
        msqid: i64,
        cmd: i64,
        set: Option<MsgSet>,
    },
    /// Reads (`value == None`) or writes a sysctl of the caller's namespaces.
    Sysctl { name: Sysctl, value: Option<i64> },
    /// `fork()`.
    Fork,
    /// `clone3(flags, set_tid)`.
    Clone { flags: i64, set_tid: Vec<i64> },
    /// `unshare(flags)`.
    Unshare { flags: i64 },
    /// `exit(code)`.
    Exit { code: i64 },
    /// `waitpid(pid, &status, 0)`.
    Waitpid { pid: i64 },
    /// `getpid()`.
    Getpid,
    /// `getppid()`.
    Getppid,
    /// `setsid()`.
    Setsid,
    /// `getsid(pid)`.
    Getsid { pid: i64 },
    /// `setpgid(pid, pgid)`.
    Setpgid { pid: i64, pgid: i64 },
    /// `getpgid(pid)`.
    Getpgid { pid: i64 },
    /// `setuid(uid)`.
    Setuid { uid: i64 },
    /// `setgid(gid)`.
    Setgid { gid: i64 },
    /// Drops one capability from the bounding, permitted, effective and
    /// inheritable sets.
    Capdrop { cap: i64 },
}

impl Syscall {
    /// The call's name as scripts and traces spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Syscall::Msgget { .. } => "msgget",
            Syscall::Msgsnd { .. } => "msgsnd",
            Syscall::Msgrcv { .. } => "msgrcv",
            Syscall::Msgctl { .. } => "msgctl",
            Syscall::Sysctl { .. } => "sysctl",
            Syscall::Fork => "fork",
            Syscall::Clone { .. } => "clone",
            Syscall::Unshare { .. } => "unshare",
            Syscall::Exit { .. } => "exit",
            Syscall::Waitpid { .. } => "waitpid",
            Syscall::Getpid => "getpid",
            Syscall::Getppid => "getppid",
            Syscall::Setsid => "setsid",
            Syscall::Getsid { .. } => "getsid",
            Syscall::Setpgid { .. } => "setpgid",
            Syscall::Getpgid { .. } => "getpgid",
            Syscall::Setuid { .. } => "setuid",
            Syscall::Setgid { .. } => "setgid",
            Syscall::Capdrop { .. } => "capdrop",
        }
    }

    /// Whether a successful call creates a task.
    pub fn creates_task(&self) -> bool {
        matches!(self, Syscall::Fork | Syscall::Clone { .. })
    }
}

/// What a call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A non-negative (or, for a sysctl read, any) value.
    Val(i64),
    /// `-1` with this errno.
    Err(Errno),
    /// The call does not return (`exit`); strace prints `?`.
    NoReturn,
}

/// `struct msqid64_ds` without the times, as `IPC_STAT` fills it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsqidDs {
    pub key: i64,
    pub uid: i64,
    pub gid: i64,
    pub cuid: i64,
    pub cgid: i64,
    pub mode: i64,
    pub seq: i64,
    pub qnum: i64,
    pub cbytes: i64,
    pub qbytes: i64,
    pub lspid: i64,
    pub lrpid: i64,
}

/// The IPC state as `MSG_INFO` and `IPC_STAT` report it, for differential
/// checks: per IPC namespace in creation order, `MSG_INFO`'s return value
/// (the highest index in use) and `struct msginfo`, then every queue's id
/// and `struct msqid64_ds` in index order, with pids as `t0` sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpcDigest {
    pub namespaces: Vec<NsDigest>,
}

/// One IPC namespace of an [`IpcDigest`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NsDigest {
    pub max_idx: i64,
    pub info: MsgInfo,
    pub queues: Vec<(i64, MsqidDs)>,
}

impl IpcDigest {
    /// One line per namespace and per queue, for reports.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, ns) in self.namespaces.iter().enumerate() {
            out.push(format!("ns{i}: {} {:?}", ns.max_idx, ns.info));
            for (id, ds) in &ns.queues {
                out.push(format!("  {id}: {ds:?}"));
            }
        }
        out
    }
}

/// `struct msginfo`, as `IPC_INFO` and `MSG_INFO` fill it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsgInfo {
    pub msgpool: i64,
    pub msgmap: i64,
    pub msgmax: i64,
    pub msgmnb: i64,
    pub msgmni: i64,
    pub msgssz: i64,
    pub msgtql: i64,
    pub msgseg: i64,
}

/// The data a call hands back besides its return value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Detail {
    /// Nothing.
    #[default]
    None,
    /// A received (or copied) message: its type and the bytes copied out.
    Msg { mtype: i64, text: Vec<u8> },
    /// The queue description of `IPC_STAT`, `MSG_STAT` or `MSG_STAT_ANY`.
    Stat(MsqidDs),
    /// The limits and usage of `IPC_INFO` or `MSG_INFO`.
    Info(MsgInfo),
}

/// The complete result of a call that returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub ret: Ret,
    pub detail: Detail,
}

impl Outcome {
    /// A plain value and no detail.
    pub fn val(v: i64) -> Outcome {
        Outcome {
            ret: Ret::Val(v),
            detail: Detail::None,
        }
    }

    /// `-1` with `errno`.
    pub fn err(errno: Errno) -> Outcome {
        Outcome {
            ret: Ret::Err(errno),
            detail: Detail::None,
        }
    }

    /// A value with a detail.
    pub fn with(v: i64, detail: Detail) -> Outcome {
        Outcome {
            ret: Ret::Val(v),
            detail,
        }
    }

    /// The errno, if the call failed.
    pub fn errno(&self) -> Option<Errno> {
        match self.ret {
            Ret::Err(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Result<i64, Errno>> for Outcome {
    fn from(r: Result<i64, Errno>) -> Outcome {
        match r {
            Ok(v) => Outcome::val(v),
            Err(e) => Outcome::err(e),
        }
    }
}

/// What happened to the calling task when it made a call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The call returned.
    Done(Outcome),
    /// The call sleeps; it ends later as an [`Event::Resumed`].
    Blocked,
}

/// Something that happened to another task as a consequence of a call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A blocked call returned.
    Resumed { task: TaskId, outcome: Outcome },
    /// The task was killed by SIGKILL (its PID namespace's init exited).
    Killed { task: TaskId },
}
