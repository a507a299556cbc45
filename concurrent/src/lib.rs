//! `nscheck-concurrent`: the thread-safe implementation under test.
//!
//! It implements, for real threads, what `nscheck-model` specifies
//! sequentially: System V message queues in IPC namespaces, with blocking,
//! direct hand-off and `MSG_COPY`, and tasks in PID namespaces (fork,
//! exit, waitpid, sessions, process groups, credentials), following Linux
//! 6.18, or a historical design where the harness's `--dialect` names one:
//! the `MSG_COPY` of an IPC namespace follows [`ipc::Variant`] (`rfc2012`'s
//! copy counter), the pid numbers of a tree of PID namespaces follow
//! [`pid::Variant`] (`flat2007`, `openvz2006`). Run one task per thread and the calls block for real; driven one
//! call at a time, it gives exactly the model's results. A driver that
//! runs many tasks on one thread starts the calls that may sleep with
//! `ipc::start_msgsnd`, `ipc::start_msgrcv` and
//! `proc::System::start_waitpid`: a call that would sleep returns parked
//! (`ipc::Parked`, which has registered its task as a sleeper of the
//! queue; `proc::ParkedWait`, which the child's exit lets finish), to be
//! polled, waited on or cancelled.
//!
//! **Architecture invariant:** this crate does not depend on the model. It
//! has its own errno, credential and result types; only the harness knows
//! both and translates.
//!
//! **Architecture invariant:** every lock, condition variable, atomic and
//! `Arc` comes from [`sync`], so that `loom` (`--cfg nscheck_loom`) and
//! `shuttle` (`--cfg nscheck_shuttle`) see all synchronization.
//!
//! - [`task`]: the caller's context ([`Task`]): its `struct pid` ([`Pid`],
//!   its number in every PID namespace it is visible in, which the IPC code
//!   records as `msg_lspid`/`msg_lrpid` and shows each reader in its own
//!   namespace), credentials, IPC namespace and parking spot ([`Sleeper`]),
//!   with the [`SleepObserver`] hook a driver uses to learn, without
//!   timing, that a call went to sleep;
//! - [`ipc`]: namespaces and queues, and the four calls (and the
//!   `MSG_COPY` variants);
//! - [`pid`]: the PID half, beside `ipc/`: `struct pid`, PID namespaces and
//!   the allocation of their numbers (its module documentation says what
//!   is not implemented);
//! - [`proc`]: the tasks ([`proc::System`]): fork, clone, unshare, exit and
//!   the death of a namespace's init, waitpid, sessions and process
//!   groups, credentials and the PID sysctls, under a `tasklist` lock; it
//!   gives each task the [`Task`] context of its IPC calls.

#![forbid(unsafe_code)]

/// `true` when `$holder` (a queue or namespace) carries the mutant
/// `Mutant::$name`; always `false` without the feature `mutants`.
macro_rules! mutant {
    ($holder:expr, $name:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $holder.mutant == Some($crate::mutants::Mutant::$name);
        #[cfg(not(feature = "mutants"))]
        let on = false;
        on
    }};
}

pub mod errno;
pub mod ipc;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod pid;
pub mod proc;
pub mod sync;
pub mod task;

pub use errno::Errno;
pub use ipc::IpcNamespace;
pub use task::{Cred, Pid, PidNsId, SleepObserver, Sleeper, Task};
