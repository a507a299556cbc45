//! The task half: fork, clone, unshare, exit, waitpid, sessions and
//! process groups, credentials and the PID sysctls, on the PID half
//! ([`crate::pid`]), following Linux 6.18 (`kernel/fork.c`,
//! `kernel/exit.c`, `kernel/sys.c`, `kernel/pid_namespace.c`) with the
//! same results and errnos as the model's `kernel.rs` (rules R1…R29 of
//! `pid-semantics.md` §1.12 are cited where they apply).
//!
//! - [`System`] (this file): the tasks, the `tasklist` lock and the
//!   lookups (`find_task_by_vpid`, `getpid`, `getppid`, `pidof`), and the
//!   IPC context of a task ([`System::ipc_task`]);
//! - `fork`: `fork`, `clone` and `unshare`;
//! - `exit`: `exit`, the death of a namespace's init
//!   (`zap_pid_ns_processes`), reparenting and `release_task`;
//! - `wait`: `waitpid`, which starts and may park ([`Waited`],
//!   [`ParkedWait`]);
//! - `groups`: `setsid`, `setpgid`, `getsid`, `getpgid`;
//! - `cred`: the full credentials ([`Creds`]), `setuid`, `setgid`,
//!   `capdrop`;
//! - `sysctl`: `kernel.ns_last_pid` and `kernel.pid_max` with the
//!   permission checks of their files.
//!
//! # Locks
//!
//! - `tasklist` (a read-write lock, as Linux's `tasklist_lock`) guards the
//!   tree: every task's parent, state, process group and session, and
//!   each namespace's init (`child_reaper`). Calls that change the tree
//!   take it for writing; lookups take it for reading.
//! - Each task's own lock (Linux's `task_lock`) guards its credentials and
//!   its namespaces (`nsproxy`: the IPC namespace and
//!   `pid_ns_for_children`). It is taken inside `tasklist` or alone.
//! - The PID half's locks (see [`crate::pid`]) are taken inside
//!   `tasklist` or alone: `fork` allocates its pid before it takes
//!   `tasklist` for writing, as `copy_process` does, then checks again
//!   under `tasklist` that the namespace still takes pids (hazard H4: an
//!   init that died in between has disabled it under `tasklist`), and
//!   gives the pid back with ENOMEM if not.
//! - `wait_chldexit` (a mutex over a generation count, with a condition
//!   variable) is taken alone: every change that may let a waiter reap
//!   (an exit, a release, a process group or session left) bumps it
//!   after `tasklist` is released, and a waiter that found nothing to reap
//!   sleeps until the count moves.
//!
//! # Pid links
//!
//! A task links its own [`StructPid`] (PIDTYPE_PID, the link `alloc_pid`
//! gives) and the `StructPid`s of its process group and session
//! ([`StructPid::link`]); `release_task` drops all three. A number stays
//! taken while any task links to it (R12, gVisor bug B12), and the last
//! link frees it at every level. `t0`'s group and session are the host's,
//! which have no number a script can see (`None` here).

use std::collections::BTreeMap;
use std::fmt;

use crate::ipc::IpcNamespace;
use crate::pid::{PidNamespace, StructPid, Variant, alloc_pid};
use crate::sync::{
    Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, lock, read, write,
};
use crate::task::{Pid, Sleeper, Task};

mod cred;
mod exit;
mod fork;
mod groups;
mod sysctl;
mod wait;

pub use cred::Creds;
pub use fork::{CLONE_NEWIPC, CLONE_NEWPID};
pub use sysctl::PidSysctl;
pub use wait::{ParkedWait, Waited};

/// A task, by creation order: `t0` is 0, each successful `fork` or `clone`
/// takes the next number.
pub type ProcId = usize;

/// Whether a task runs, is a zombie, or is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Zombie,
    Reaped,
}

/// What a task's own lock guards (`task_lock`).
#[derive(Debug)]
pub(crate) struct Own {
    pub(crate) cred: Creds,
    /// `nsproxy->ipc_ns`, with its index in creation order.
    pub(crate) ipc_ns: (usize, Arc<IpcNamespace>),
    /// `nsproxy->pid_ns_for_children`.
    pub(crate) ns_for_children: Arc<PidNamespace>,
}

/// One task: what never changes, and what its own lock guards.
#[derive(Debug)]
pub(crate) struct Proc {
    /// PIDTYPE_PID (and TGID: every task is a single-threaded process).
    pub(crate) pid: Arc<StructPid>,
    /// Where the task's IPC calls sleep.
    pub(crate) sleeper: Arc<Sleeper>,
    pub(crate) own: Mutex<Own>,
}

/// A task's place in the tree, under `tasklist`.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) proc: Arc<Proc>,
    /// PIDTYPE_PGID; `None` for the host's group.
    pub(crate) pgrp: Option<Arc<StructPid>>,
    /// PIDTYPE_SID; `None` for the host's session.
    pub(crate) session: Option<Arc<StructPid>>,
    /// `signal->leader`: the task made its session with `setsid`.
    pub(crate) session_leader: bool,
    /// `real_parent`; `None` for `t0`, whose parent is outside.
    pub(crate) parent: Option<ProcId>,
    pub(crate) state: State,
}

/// What `tasklist` guards.
#[derive(Debug, Default)]
pub(crate) struct TaskList {
    pub(crate) nodes: Vec<Node>,
    /// `ns->child_reaper` of each namespace that has its init, by id.
    pub(crate) reapers: BTreeMap<crate::task::PidNsId, ProcId>,
}

/// Makes each new IPC namespace (a test selects a mutant through it).
pub type IpcNsMaker = Box<dyn Fn() -> IpcNamespace + Send + Sync>;

/// Every task and namespace of one machine.
pub struct System {
    pub(crate) tasklist: RwLock<TaskList>,
    /// Every IPC namespace, in creation order.
    ipc_nss: Mutex<Vec<Arc<IpcNamespace>>>,
    new_ipc_ns: IpcNsMaker,
    /// The generation of `wait_chldexit`, and its condition variable.
    chld_gen: Mutex<u64>,
    chld_cv: Condvar,
    /// The deliberate bug of this machine's task half, if any.
    #[cfg(feature = "mutants")]
    pub(crate) mutant: Option<crate::mutants::Mutant>,
}

impl fmt::Debug for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System")
            .field("tasklist", &self.tasklist)
            .finish_non_exhaustive()
    }
}

/// A machine that goes away gives back every number its tasks, process
/// groups and sessions still hold: a published pid and the namespaces it
/// is numbered in hold each other (`pid` module docs, "Lifetime") until
/// its last link goes, so without this every pid left at the end of a run
/// would leak with its namespaces. Nothing runs on the machine afterwards.
impl Drop for System {
    fn drop(&mut self) {
        let tl = crate::sync::write(&self.tasklist);
        for t in &tl.nodes {
            for pid in [Some(&t.proc.pid), t.pgrp.as_ref(), t.session.as_ref()]
                .into_iter()
                .flatten()
            {
                while pid.links() > 0 && !pid.unlink() {}
            }
        }
    }
}

impl System {
    /// A machine whose only task, `t0`, is pid 1 of a new PID namespace in
    /// a new IPC namespace, running as root with every capability, in the
    /// host's process group and session.
    pub fn new() -> Arc<System> {
        System::with_ipc_namespaces(Box::new(IpcNamespace::new))
    }

    /// As [`System::new`], with every IPC namespace made by `maker`.
    pub fn with_ipc_namespaces(maker: IpcNsMaker) -> Arc<System> {
        System::with_variant(Variant::Mainline, maker)
    }

    /// As [`System::with_ipc_namespaces`], with `t0`'s PID namespace
    /// following the pid design `variant` (a historical one has no nested
    /// namespace: `clone` and `unshare` with `CLONE_NEWPID` are EINVAL).
    pub fn with_variant(variant: Variant, maker: IpcNsMaker) -> Arc<System> {
        System::with_root(PidNamespace::new_root_variant(variant), maker)
    }

    /// As [`System::with_ipc_namespaces`], with `root`, the first namespace
    /// of a fresh tree, as `t0`'s PID namespace (a test selects a mutant of
    /// the PID half so, with `PidNamespace::new_root_with_mutant`).
    pub fn with_root(root: Arc<PidNamespace>, maker: IpcNsMaker) -> Arc<System> {
        Arc::new(System::build(root, maker))
    }

    /// As [`System::with_ipc_namespaces`], with the task half carrying
    /// `mutant` (one of [`crate::mutants::Mutant::TASKS`]).
    #[cfg(feature = "mutants")]
    pub fn with_mutant(maker: IpcNsMaker, mutant: crate::mutants::Mutant) -> Arc<System> {
        System::with_root_and_mutant(PidNamespace::new_root(), maker, mutant)
    }

    /// As [`System::with_mutant`], with `root` as `t0`'s namespace (one
    /// of a historical pid design, say).
    #[cfg(feature = "mutants")]
    pub fn with_root_and_mutant(
        root: Arc<PidNamespace>,
        maker: IpcNsMaker,
        mutant: crate::mutants::Mutant,
    ) -> Arc<System> {
        let mut sys = System::build(root, maker);
        sys.mutant = Some(mutant);
        Arc::new(sys)
    }

    /// The machine of [`System::new`], with `root` as `t0`'s namespace.
    fn build(root: Arc<PidNamespace>, maker: IpcNsMaker) -> System {
        let pid = alloc_pid(&root, &[], |_| true).expect("a new namespace has room");
        pid.attach_task(0);
        root.set_child_reaper();
        let ipc = Arc::new(maker());
        let mut reapers = BTreeMap::new();
        reapers.insert(root.id(), 0);
        let proc = Arc::new(Proc {
            pid,
            sleeper: Arc::new(Sleeper::new(0, None)),
            own: Mutex::new(Own {
                cred: Creds::root(),
                ipc_ns: (0, ipc.clone()),
                ns_for_children: root,
            }),
        });
        System {
            tasklist: RwLock::new(TaskList {
                nodes: vec![Node {
                    proc,
                    pgrp: None,
                    session: None,
                    session_leader: false,
                    parent: None,
                    state: State::Running,
                }],
                reapers,
            }),
            ipc_nss: Mutex::new(vec![ipc]),
            new_ipc_ns: maker,
            chld_gen: Mutex::new(0),
            chld_cv: Condvar::new(),
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, TaskList> {
        read(&self.tasklist)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, TaskList> {
        write(&self.tasklist)
    }

    /// `task`'s fixed part and own lock (`get_task_struct`).
    pub(crate) fn proc(&self, task: ProcId) -> Arc<Proc> {
        self.read().nodes[task].proc.clone()
    }

    /// A new IPC namespace, the next in creation order.
    pub(crate) fn create_ipc_ns(&self) -> (usize, Arc<IpcNamespace>) {
        let ns = Arc::new((self.new_ipc_ns)());
        let mut all = lock(&self.ipc_nss);
        all.push(ns.clone());
        (all.len() - 1, ns)
    }

    /// Every IPC namespace made so far, in creation order.
    pub fn ipc_namespaces(&self) -> Vec<Arc<IpcNamespace>> {
        lock(&self.ipc_nss).clone()
    }

    /// The number of tasks created so far.
    pub fn task_count(&self) -> usize {
        self.read().nodes.len()
    }

    /// Whether `task` exists and neither exited nor was killed.
    pub fn is_running(&self, task: ProcId) -> bool {
        self.read()
            .nodes
            .get(task)
            .is_some_and(|n| n.state == State::Running)
    }

    /// `task`'s `struct pid`.
    ///
    /// # Panics
    ///
    /// If there is no such task.
    pub fn struct_pid(&self, task: ProcId) -> Arc<StructPid> {
        self.proc(task).pid.clone()
    }

    /// The context of `task`'s IPC calls: its pid, effective credentials,
    /// IPC namespace and parking spot.
    ///
    /// # Panics
    ///
    /// If there is no such task.
    pub fn ipc_task(&self, task: ProcId) -> Task {
        let proc = self.proc(task);
        let own = lock(&proc.own);
        Task {
            pid: Arc::new(Pid::new(proc.pid.numbers_by_id())),
            cred: own.cred.ipc(),
            ipc_ns: own.ipc_ns.1.clone(),
            sleeper: proc.sleeper.clone(),
        }
    }

    /// `target`'s pid as `viewer` sees it: 0 where it is not visible, or
    /// where `target` has been reaped or does not exist.
    pub fn pidof(&self, viewer: ProcId, target: ProcId) -> i64 {
        self.read().pidof(viewer, target)
    }

    /// `getpid()`.
    pub fn getpid(&self, task: ProcId) -> i64 {
        self.pidof(task, task)
    }

    /// `getppid()`: 0 for `t0`, whose parent is outside.
    pub fn getppid(&self, task: ProcId) -> i64 {
        let tl = self.read();
        tl.nodes[task].parent.map_or(0, |p| tl.pidof(task, p))
    }

    /// Lets waiters look again: called after `tasklist` is released by a
    /// change that may let one of them reap.
    pub(crate) fn notify_waiters(&self) {
        *lock(&self.chld_gen) += 1;
        self.chld_cv.notify_all();
    }

    /// The generation of `wait_chldexit`, read before a waiter looks.
    pub(crate) fn chld_generation(&self) -> u64 {
        *lock(&self.chld_gen)
    }

    /// Sleeps until the generation moves past `seen`.
    pub(crate) fn wait_chld(&self, seen: u64) {
        let mut g = lock(&self.chld_gen);
        while *g == seen {
            g = crate::sync::wait(&self.chld_cv, g);
        }
    }
}

impl TaskList {
    /// `task_active_pid_ns`: the namespace of the task's own pid.
    pub(crate) fn active_ns(&self, task: ProcId) -> &Arc<PidNamespace> {
        self.nodes[task].proc.pid.ns()
    }

    /// See [`System::pidof`].
    pub(crate) fn pidof(&self, viewer: ProcId, target: ProcId) -> i64 {
        match self.nodes.get(target) {
            Some(t) if t.state != State::Reaped => t.proc.pid.nr_in(self.active_ns(viewer)),
            _ => 0,
        }
    }

    /// `find_task_by_vpid(nr)` as `caller` sees it: `find_pid_ns` in its
    /// namespace (which takes no allocation lock), then the task linked to
    /// that pid as PIDTYPE_PID.
    pub(crate) fn find_task(&self, caller: ProcId, nr: i64) -> Option<ProcId> {
        let pid = self.active_ns(caller).find_pid(nr)?;
        let task = pid.task()?;
        (self.nodes[task].state != State::Reaped).then_some(task)
    }

    /// `ns`'s init.
    pub(crate) fn reaper(&self, ns: &PidNamespace) -> Option<ProcId> {
        self.reapers.get(&ns.id()).copied()
    }
}

/// Whether two group or session links name the same `struct pid`.
pub(crate) fn same(a: &Option<Arc<StructPid>>, b: &Option<Arc<StructPid>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}
