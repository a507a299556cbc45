//! `nscheck-model`: the executable specification.
//!
//! A sequential, deliberately plain model of the Linux semantics that nscheck
//! checks: System V message queues in IPC namespaces (with `MSG_COPY`), and
//! tasks in a PID namespace. It is errno-exact against Linux 6.18 and also
//! carries the historical dialects of the seed patches ([`Dialect`]).
//!
//! The model depends on `std` only. Its whole interface is
//! [`Kernel::call`]: one [`Syscall`] from one task, giving a [`Step`], and
//! [`Kernel::take_events`] for what that call did to sleeping tasks.
//!
//! Where to find a call's specification:
//! - `msgget`, `msgsnd`, `msgrcv`, `msgctl` and the msg sysctls: `ipc.rs`;
//! - the task calls (`fork`/`exit`/`waitpid`, sessions, credentials, the PID
//!   sysctls), sleeping and waking: `kernel.rs`; what a task is: `task.rs`;
//! - pid numbers: `pid.rs` (mainline), `pid_flat.rs` (`flat2007`),
//!   `pid_openvz.rs` (`openvz2006`), `pid_bitmap.rs` (their allocator), and
//!   `pid_space.rs`, which picks one for the dialect;
//! - the ABI numbers and errno names: `abi.rs`;
//! - the table of the rules these files cite, and the per-thread counters
//!   of how often each was taken (`hit!`): `rules.rs`.

#![forbid(unsafe_code)]

// First, so that its `hit!` is in scope in every module below.
#[macro_use]
pub mod rules;

pub mod abi;
pub mod dialect;
mod ipc;
pub mod kernel;
mod pid;
mod pid_bitmap;
mod pid_flat;
mod pid_openvz;
mod pid_space;
pub mod syscall;
mod task;

pub use abi::Errno;
pub use dialect::Dialect;
pub use kernel::{CallError, Kernel};
pub use rules::{Hits, Rule, RuleInfo};
pub use syscall::{
    Detail, DigestWords, Event, IpcDigest, MsgInfo, MsgSet, MsqidDs, NsDigest, Outcome, Ret, Step,
    Syscall, Sysctl, TaskId,
};
