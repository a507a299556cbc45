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

/// An [`IpcDigest`] as one list of words, in a layout that tells every
/// digest apart: per namespace its queue count, `MSG_INFO`'s return value
/// and `struct msginfo`, then each queue's id and `struct msqid64_ds`. Two
/// digests are equal exactly when their words are, and words compare as
/// one block of memory, where the derived comparison of [`IpcDigest`]
/// compares field by field; a differential check takes these after every
/// statement and builds an [`IpcDigest`] ([`DigestWords::digest`]) only
/// for a report.
#[derive(Clone, Debug, Default)]
pub struct DigestWords {
    words: Vec<i64>,
    /// Where the current namespace's queue count is.
    count_at: usize,
}

/// `to_words` and `from_words` for a struct of `i64` fields, in the order
/// listed (the layout of [`DigestWords`]).
macro_rules! as_words {
    ($t:ident { $($f:ident),* }) => {
        impl $t {
            /// The fields as words, in declaration order.
            fn to_words(self) -> [i64; as_words!(@count $($f)*)] {
                [$(self.$f),*]
            }

            /// The struct from `to_words`'s words.
            fn from_words(w: [i64; as_words!(@count $($f)*)]) -> $t {
                let [$($f),*] = w;
                $t { $($f),* }
            }
        }
    };
    (@count $($f:ident)*) => { 0 $(+ as_words!(@one $f))* };
    (@one $f:ident) => { 1 };
}

as_words!(MsqidDs {
    key,
    uid,
    gid,
    cuid,
    cgid,
    mode,
    seq,
    qnum,
    cbytes,
    qbytes,
    lspid,
    lrpid
});
as_words!(MsgInfo {
    msgpool,
    msgmap,
    msgmax,
    msgmnb,
    msgmni,
    msgssz,
    msgtql,
    msgseg
});

/// Words per queue in [`DigestWords`]: its id and `struct msqid64_ds`.
const QUEUE_WORDS: usize = 1 + 12;

impl DigestWords {
    /// An empty list with room for `words` words.
    pub fn with_capacity(words: usize) -> DigestWords {
        DigestWords {
            words: Vec::with_capacity(words),
            count_at: 0,
        }
    }

    /// Empties the list, keeping its buffer.
    pub fn clear(&mut self) {
        self.words.clear();
    }

    /// Starts the next namespace: `MSG_INFO`'s return value and buffer.
    pub fn namespace(&mut self, max_idx: i64, i: &MsgInfo) {
        self.count_at = self.words.len();
        self.words.extend_from_slice(&[0, max_idx]);
        self.words.extend_from_slice(&i.to_words());
    }

    /// Adds a queue of the current namespace.
    pub fn queue(&mut self, id: i64, q: &MsqidDs) {
        self.words[self.count_at] += 1;
        self.words.push(id);
        self.words.extend_from_slice(&q.to_words());
    }

    /// The words.
    pub fn words(&self) -> &[i64] {
        &self.words
    }

    /// The digest these words encode.
    pub fn digest(&self) -> IpcDigest {
        let mut namespaces = Vec::new();
        let mut rest = &self.words[..];
        while let Some((&[n, max_idx], tail)) = rest.split_first_chunk::<2>() {
            let (info, tail) = tail.split_first_chunk().expect("a namespace header");
            let (queues, tail) = tail.split_at(n as usize * QUEUE_WORDS);
            let queues = queues
                .chunks_exact(QUEUE_WORDS)
                .map(|w| {
                    let ds = w[1..].try_into().expect("a queue's words");
                    (w[0], MsqidDs::from_words(ds))
                })
                .collect();
            namespaces.push(NsDigest {
                max_idx,
                info: MsgInfo::from_words(*info),
                queues,
            });
            rest = tail;
        }
        IpcDigest { namespaces }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(n: i64) -> (i64, MsqidDs) {
        let ds = MsqidDs {
            key: n,
            uid: n + 1,
            gid: n + 2,
            cuid: n + 3,
            cgid: n + 4,
            mode: n + 5,
            seq: n + 6,
            qnum: n + 7,
            cbytes: n + 8,
            qbytes: n + 9,
            lspid: n + 10,
            lrpid: n + 11,
        };
        (n * 32768, ds)
    }

    fn ns(max_idx: i64, queues: &[i64]) -> NsDigest {
        NsDigest {
            max_idx,
            info: MsgInfo {
                msgpool: max_idx + 1,
                msgmap: 2,
                msgmax: 3,
                msgmnb: 4,
                msgmni: 5,
                msgssz: 6,
                msgtql: 7,
                msgseg: 8,
            },
            queues: queues.iter().map(|&n| queue(n)).collect(),
        }
    }

    /// Words encode a digest exactly: they decode to it, and digests that
    /// differ (in a field, in where a queue belongs) have different words.
    #[test]
    fn digest_words_round_trip_and_tell_digests_apart() {
        let digests = [
            IpcDigest::default(),
            IpcDigest {
                namespaces: vec![ns(0, &[])],
            },
            IpcDigest {
                namespaces: vec![ns(1, &[1, 2]), ns(0, &[])],
            },
            IpcDigest {
                namespaces: vec![ns(1, &[1]), ns(0, &[2])],
            },
            IpcDigest {
                namespaces: vec![ns(1, &[1, 3]), ns(0, &[])],
            },
        ];
        let words: Vec<DigestWords> = digests
            .iter()
            .map(|d| {
                let mut w = DigestWords::default();
                for ns in &d.namespaces {
                    w.namespace(ns.max_idx, &ns.info);
                    for (id, q) in &ns.queues {
                        w.queue(*id, q);
                    }
                }
                assert_eq!(&w.digest(), d);
                w
            })
            .collect();
        for (i, a) in words.iter().enumerate() {
            for (j, b) in words.iter().enumerate() {
                assert_eq!(a.words() == b.words(), i == j, "{i} {j}");
            }
        }
    }
}
