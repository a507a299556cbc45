//! The PID half: `struct pid`, PID namespaces and the allocation of their
//! numbers, following Linux 6.18 (`kernel/pid.c`, `kernel/pid_namespace.c`,
//! `lib/idr.c`) as `pid-semantics.md` §1 tabulates it, with the same
//! numbers and errnos as the model's `pid.rs` (rules R1…R29 of §1.12 are
//! cited where they apply).
//!
//! - [`ns`]: [`PidNamespace`], one level of the tree: its allocation state
//!   (cursor, `pid_max`, `PIDNS_ADDING`, the taken numbers as a bitmap,
//!   `nr_set`), its table of published numbers (`table`: shards of hash
//!   maps, each behind a read-write lock of its own), the sysctls
//!   `kernel.ns_last_pid` and `kernel.pid_max`, and `find_pid_ns`
//!   ([`PidNamespace::find_pid`], and [`PidNamespace::with_pid`], which
//!   lends the pid found instead of taking a reference);
//! - [`struct_pid`]: [`StructPid`], one number per level (kept inside the
//!   pid up to two levels, `numbers`), with `pid_nr_ns`
//!   ([`StructPid::nr_in`]), `pid_vnr` ([`StructPid::vnr`]), the `NSpid`
//!   view ([`StructPid::nspid`]) and the links that keep its numbers in
//!   use;
//! - [`alloc`]: [`alloc_pid`] (cyclic cursor with the 300 floor after a
//!   wrap, clone3 `set_tid`, ENOMEM once init has died, rollback across
//!   levels, reserve then publish) and `free_pid`;
//! - [`variant`]: the pid designs a tree can follow ([`Variant`]):
//!   mainline, or the historical dialects of `DIALECTS.md`, `flat2007`
//!   ([`flat`]: a `vnr` for the container and a global `nr`) and
//!   `openvz2006` ([`openvz`]: global pids and linear or sparse vpids),
//!   both on the legacy bitmap allocator ([`bitmap`]), with the numbers and
//!   errnos of the model's `pid_flat.rs`, `pid_openvz.rs` and
//!   `pid_bitmap.rs`. [`PidNamespace::new_root_variant`] makes a tree of
//!   one; the calls above dispatch to it, so a caller never needs to know
//!   which design it runs;
//! - `loom_checks` (built with `--cfg nscheck_loom` only): six races
//!   checked on every interleaving by assertions: alloc against alloc,
//!   free against alloc, `set_tid` against fork on one number, init death
//!   against fork, a nested fork against lookups at both levels, and an
//!   `ns_last_pid` write against fork.
//!
//! # Lifetime
//!
//! A published pid is held by the table of every level it has a number
//! in, and holds those namespaces (as Linux's pid holds its namespace):
//! the two are dropped only after [`StructPid::unlink`] has given the
//! numbers back, so a task's last link must always be dropped with it.
//!
//! # Levels
//!
//! As in the model, the tree's first namespace sits at [`ROOT_LEVEL`] (1):
//! the host's level above it is left out, so a `set_tid` entry for it gives
//! [`AllocError::HostLevel`] (the model's `Err(None)`).
//!
//! Under a historical variant the tree has that one namespace (a child is
//! EINVAL), and each `StructPid` has one level, the number the container
//! sees; the global number, which no call of a script sees, stays in the
//! variant's state ([`PidNamespace::global_nr`] reads it). A `set_tid[1]`
//! would choose it: [`AllocError::HostLevel`] too. The host's process group
//! and session that `t0` starts in have no `StructPid` here: the task half
//! records them as `None`.
//!
//! # Locks
//!
//! Each namespace has an allocation lock (a mutex over its cursor,
//! `pid_max`, `PIDNS_ADDING` and taken numbers) and lookup locks: its table
//! of published numbers is split by number into shards, each a read-write
//! lock on a cache line of its own, and the lookup lock of a number is the
//! lock of its shard. Linux has one global `pidmap_lock` (and RCU for
//! lookups); here two forks in unrelated namespaces do not contend, and
//! lookups of different numbers, or a lookup beside a fork whose number
//! falls in another shard, write to no common lock.
//!
//! - Lookups (`find_pid`, `with_pid`) take one lookup lock for reading and
//!   never an allocation lock; `nr_in`, `vnr` and `nspid` read numbers that
//!   never change, with no lock at all.
//! - A reservation, a rollback, a sysctl access and `disable` each hold one
//!   allocation lock at a time.
//! - Publication holds the innermost level's allocation lock (so that
//!   `disable` is ordered against it: once `disable` returns, no pid is
//!   published in the namespace) and, inside it, the lookup lock of the
//!   pid's number at every level, one shard a level, taken innermost
//!   (deepest) first. `free_pid` takes the same lookup locks in the same
//!   order, releases them, then one allocation lock at a time. Nothing
//!   takes an allocation lock while holding a lookup lock; lookup locks are
//!   always taken deepest first, one namespace per level on a chain, and
//!   no one holds two shards of one namespace, so there is no cycle.
//!
//! Visibility: a number is taken from its reservation on, but found only
//! once every level of its pid is published, and every level is published
//! (and unpublished by `free_pid`) while the lookup locks of all its
//! numbers are held at once, so a lookup at any level sees every level of
//! the pid or none.
//!
//! `kernel.ns_last_pid` rule against a concurrent fork (Linux writes it
//! without `pidmap_lock`): here a write takes the namespace's allocation
//! lock, so each level's reservation of a fork sees the cursor either
//! before or after the write, and the write is linearizable with it; the
//! fork's number at that level is the one the sequential model gives for
//! that order.
//!
//! A historical variant keeps all its state behind one mutex (the era's
//! `pidmap_lock` and `tasklist_lock` together), and every call on it
//! (allocation, free, lookup, sysctl, `disable`) takes that lock once and
//! nothing else, so each call is one atomic step.
//!
//! Mutants (feature `mutants`): a tree made by
//! `PidNamespace::new_root_with_mutant` carries one deliberate bug in every
//! namespace; `Mutant::PID_RACES` break the rules above (the cursor store
//! in a critical section of its own, publication level by level, the
//! `PIDNS_ADDING` check apart from publication) for the loom and shuttle
//! scenarios to find.
//!
//! # How tasks use it
//!
//! The task half (`crate::proc`) links each task to its own `StructPid`
//! (PIDTYPE_PID, with [`StructPid::task`] as `pid_task`) and to its group's
//! and session's (PGID, SID) with [`StructPid::link`]; `release_task`
//! drops the three, so a number held by a group or session stays taken
//! (R12). `find_task_by_vpid` is [`PidNamespace::find_pid`] and that task
//! link. The IPC code records `msg_lspid`/`msg_lrpid` as a `task::Pid`, a
//! list of `(namespace id, number)` pairs, which
//! [`StructPid::numbers_by_id`] gives.
//!
//! # Not implemented
//!
//! - setns, threads (TGID) and exec from a non-leader thread
//!   (`transfer_pid`): the scripts have no such calls yet.
//! - The first fork that fails after `alloc_pid` kills the namespace (R16,
//!   `free_pid`'s `PIDNS_ADDING` case), which needs a published count.
//! - `Task::pid` as an `Arc<StructPid>` instead of a `task::Pid` copy.

pub mod alloc;
pub mod bitmap;
pub mod flat;
#[cfg(all(test, nscheck_loom))]
mod loom_checks;
mod nr_set;
pub mod ns;
mod numbers;
pub mod openvz;
mod padded;
pub mod struct_pid;
mod table;
pub mod variant;

pub(crate) use alloc::free_pid;
pub use alloc::{AllocError, alloc_pid};
pub use ns::PidNamespace;
pub use struct_pid::{StructPid, Upid};
pub use variant::Variant;

/// The deliberate bug a namespace carries: `Option<Mutant>` with the
/// feature `mutants`, nothing without it.
#[cfg(feature = "mutants")]
pub(crate) type MutantSlot = Option<crate::mutants::Mutant>;
/// A namespace without a deliberate bug.
#[cfg(feature = "mutants")]
pub(crate) const NO_MUTANT: MutantSlot = None;
/// The deliberate bug a namespace carries: nothing without the feature
/// `mutants`.
#[cfg(not(feature = "mutants"))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct MutantSlot;
/// A namespace without a deliberate bug.
#[cfg(not(feature = "mutants"))]
pub(crate) const NO_MUTANT: MutantSlot = MutantSlot;

/// `MAX_PID_NS_LEVEL`: the deepest namespace level.
pub const MAX_PID_NS_LEVEL: usize = 32;
/// `RESERVED_PIDS`: once the cursor passes it, numbers below it are skipped.
pub const RESERVED_PIDS: i64 = 300;
/// `pid_max_min` on a 2-CPU machine: `max(RESERVED_PIDS + 1, 8 * 2)`.
pub const PID_MAX_MIN: i64 = RESERVED_PIDS + 1;
/// `PID_MAX_LIMIT` on 64-bit, and the `pid_max` of a new namespace (R9).
pub const PID_MAX_LIMIT: i64 = 4 * 1024 * 1024;
/// The level of a tree's first namespace.
pub const ROOT_LEVEL: usize = 1;
