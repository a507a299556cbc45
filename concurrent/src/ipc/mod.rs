//! System V message queues in IPC namespaces (Linux 6.18 semantics).
//!
//! - `ns.rs`: the namespace: its sysctls and its id registry;
//! - `queue.rs`: one queue, its messages and its sleepers, and the hand-off
//!   and wake-up logic that runs under the queue lock;
//! - `ops.rs`: `msgget`, `msgsnd`, `msgrcv` and `msgctl`, in the kernel's
//!   check order;
//! - `variant.rs`: the `MSG_COPY` designs a namespace can follow (Linux
//!   6.18's, or the copy counter of the 2012 RFC).
//!
//! Locking: the registry is a read-mostly `RwLock` from index to
//! `Arc<Queue>`; `msgsnd`, `msgrcv` and `IPC_SET` find their queue in one of
//! several copies of its index table (a shard chosen by the caller's pid, so
//! that threads on different queues share no lock word) and then work under
//! that queue's own mutex. The lock order is registry, then queue, then a
//! task's parking spot; the shards are written only under the registry's
//! write lock (and, by `IPC_RMID`, the queue's), all at once, and nothing is
//! locked while a shard is held. Namespace-wide counters are per-queue atomics summed
//! by `MSG_INFO`, so senders on different queues share no lock and no
//! counter.

mod ns;
mod ops;
mod queue;
mod variant;

pub use ns::{IpcNamespace, MsgSysctl};
pub use ops::{Parked, Started, msgctl, msgget, msgrcv, msgsnd, start_msgrcv, start_msgsnd};
pub use variant::Variant;

/// `IPC_PRIVATE`.
pub const IPC_PRIVATE: i32 = 0;
/// `IPC_CREAT`.
pub const IPC_CREAT: i32 = 0o1000;
/// `IPC_EXCL`.
pub const IPC_EXCL: i32 = 0o2000;
/// `IPC_NOWAIT`.
pub const IPC_NOWAIT: i32 = 0o4000;
/// `MSG_NOERROR`.
pub const MSG_NOERROR: i32 = 0o10000;
/// `MSG_EXCEPT`.
pub const MSG_EXCEPT: i32 = 0o20000;
/// `MSG_COPY`.
pub const MSG_COPY: i32 = 0o40000;
/// `IPC_RMID`.
pub const IPC_RMID: i32 = 0;
/// `IPC_SET`.
pub const IPC_SET: i32 = 1;
/// `IPC_STAT`.
pub const IPC_STAT: i32 = 2;
/// `IPC_INFO`.
pub const IPC_INFO: i32 = 3;
/// `MSG_STAT`.
pub const MSG_STAT: i32 = 11;
/// `MSG_INFO`.
pub const MSG_INFO: i32 = 12;
/// `MSG_STAT_ANY`.
pub const MSG_STAT_ANY: i32 = 13;

/// `MSGMAX`: the default `kernel.msgmax`.
pub const MSGMAX: i64 = 8192;
/// `MSGMNB`: the default `kernel.msgmnb`.
pub const MSGMNB: i64 = 16384;
/// `MSGMNI`: the default `kernel.msgmni`.
pub const MSGMNI: i64 = 32000;
/// `MSGPOOL`, reported by `IPC_INFO`.
pub const MSGPOOL: i64 = MSGMNI * MSGMNB / 1024;
/// `MSGTQL` and `MSGMAP`, reported by `IPC_INFO`.
pub const MSGTQL: i64 = MSGMNB;
/// `MSGSSZ`.
pub const MSGSSZ: i64 = 16;
/// `MSGSEG`.
pub const MSGSEG: i64 = 0xffff;
/// `IPCMNI`: index slots of an id space.
pub const IPCMNI: i64 = 32768;
/// The index occupies the low 15 bits of an id.
pub const IPCMNI_SHIFT: u32 = 15;
/// `INT_MAX`.
pub const INT_MAX: i64 = i32::MAX as i64;

/// A received or copied message: its type and the bytes copied out. The
/// call's return value is `text.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub mtype: i64,
    pub text: Vec<u8>,
}

/// `struct msqid64_ds` without the times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStat {
    pub key: i64,
    pub uid: i64,
    pub gid: i64,
    pub cuid: i64,
    pub cgid: i64,
    pub mode: i64,
    pub seq: i64,
    pub qnum: i64,
    pub cbytes: i64,
    /// `msg_qbytes` as stored (an `unsigned long` in the kernel).
    pub qbytes: i64,
    pub lspid: i64,
    pub lrpid: i64,
}

/// `struct msginfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// The fields of `IPC_SET`; a field left out keeps the queue's value, read
/// under the same lock that applies the change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgSet {
    /// `msg_qbytes`, as the 64-bit value the caller stored.
    pub msg_qbytes: Option<i64>,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub mode: Option<i64>,
}

/// What a successful `msgctl` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ctl {
    /// `IPC_SET` and `IPC_RMID`: 0.
    Done,
    /// `IPC_STAT` (0), `MSG_STAT` or `MSG_STAT_ANY` (the full id).
    Stat(i64, QueueStat),
    /// `IPC_INFO` or `MSG_INFO`: the highest index in use, and the limits.
    Info(i64, MsgInfo),
}
