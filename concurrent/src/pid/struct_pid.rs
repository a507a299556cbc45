//! `struct pid`: one number per namespace level, the lookups that read it
//! without any lock, and the count of links that keeps its numbers in use.

use std::fmt;

use crate::pid::ns::PidNamespace;
use crate::pid::numbers::Numbers;
use crate::pid::{ROOT_LEVEL, free_pid};
use crate::sync::{Arc, AtomicI64, Ordering};
use crate::task::PidNsId;

/// `struct upid`: a number and the namespace it is valid in.
#[derive(Debug)]
pub struct Upid {
    /// The number.
    pub nr: i64,
    /// The namespace that gives it.
    pub ns: Arc<PidNamespace>,
}

/// `struct pid`.
///
/// Its numbers never change once allocated, so reading them needs no lock.
/// Two counts govern its life: the object lives while an `Arc` refers to
/// it (Linux's `count`, with `get_pid`/`put_pid`), so a stale reference
/// still reads its old numbers; the numbers stay in use while the pid has
/// links (Linux's `tasks[]` lists: later, a task's PID, TGID, PGID or SID),
/// and the last [`StructPid::unlink`] gives them back at every level
/// (`free_pid`).
pub struct StructPid {
    /// `numbers[i]` is the number at level `ROOT_LEVEL + i`; the last one
    /// is the pid's own namespace.
    numbers: Numbers,
    /// The links that hold the numbers; 0 once they are given back.
    links: AtomicI64,
    /// The task linked to the pid as PIDTYPE_PID (`pid_task`), or -1.
    task: AtomicI64,
}

impl fmt::Debug for StructPid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StructPid")
            .field("numbers", &self.numbers_by_id())
            .field("links", &self.links.load(Ordering::Relaxed))
            .finish()
    }
}

impl StructPid {
    /// A pid with `numbers` (outermost first) and one link, the caller's.
    pub(crate) fn new(numbers: impl Into<Numbers>) -> StructPid {
        StructPid {
            numbers: numbers.into(),
            links: AtomicI64::new(1),
            task: AtomicI64::new(-1),
        }
    }

    /// The numbers, outermost first.
    pub fn numbers(&self) -> &[Upid] {
        self.numbers.as_slice()
    }

    /// The numbers as `(namespace id, number)` pairs, outermost first: the
    /// form of the IPC code's `task::Pid`.
    pub fn numbers_by_id(&self) -> Vec<(PidNsId, i64)> {
        self.numbers().iter().map(|u| (u.ns.id(), u.nr)).collect()
    }

    /// The innermost level: the namespace the pid was allocated in.
    pub fn ns(&self) -> &Arc<PidNamespace> {
        let numbers = self.numbers();
        &numbers[numbers.len() - 1].ns
    }

    /// `pid_nr_ns(pid, ns)` (§1.6): the number `ns` gives the pid, 0 where
    /// it has none (`ns` is deeper than the pid, or on another branch).
    pub fn nr_in(&self, ns: &PidNamespace) -> i64 {
        match self.numbers().get(ns.level() - ROOT_LEVEL) {
            Some(u) if u.ns.id() == ns.id() => u.nr,
            _ => 0,
        }
    }

    /// `pid_vnr`: the number the task whose pid is `caller` sees, in its
    /// active namespace (its pid's innermost level, not
    /// `pid_ns_for_children`).
    pub fn vnr(&self, caller: &StructPid) -> i64 {
        self.nr_in(caller.ns())
    }

    /// The `NSpid:` line of `/proc/PID/status` read from `viewer`: the
    /// numbers from `viewer`'s level inwards, empty where the pid is not
    /// visible there.
    pub fn nspid(&self, viewer: &PidNamespace) -> Vec<i64> {
        if self.nr_in(viewer) == 0 {
            return Vec::new();
        }
        self.numbers()[viewer.level() - ROOT_LEVEL..]
            .iter()
            .map(|u| u.nr)
            .collect()
    }

    /// `pid_task(pid, PIDTYPE_PID)`: the task whose own pid this is, by
    /// its number in creation order, while it is attached. The task half
    /// (`crate::proc`) attaches and detaches it under `tasklist`.
    pub fn task(&self) -> Option<usize> {
        usize::try_from(self.task.load(Ordering::Acquire)).ok()
    }

    /// Attaches the task `task` as the pid's PIDTYPE_PID (`attach_pid`).
    pub(crate) fn attach_task(&self, task: usize) {
        self.task.store(task as i64, Ordering::Release);
    }

    /// Detaches the pid's task (`detach_pid` in `release_task`).
    pub(crate) fn detach_task(&self) {
        self.task.store(-1, Ordering::Release);
    }

    /// The number of links that hold the numbers.
    pub fn links(&self) -> i64 {
        self.links.load(Ordering::Acquire)
    }

    /// Adds a link. Only a holder of a link may add one, so the count is
    /// never raised from 0.
    ///
    /// # Panics
    ///
    /// If the numbers were already given back.
    pub fn link(&self) {
        let before = self.links.fetch_add(1, Ordering::AcqRel);
        assert!(before > 0, "link on a pid whose numbers were freed");
    }

    /// Drops a link; the last one gives the numbers back at every level
    /// (`free_pid`) and returns `true`.
    ///
    /// # Panics
    ///
    /// If the pid had no link.
    pub fn unlink(&self) -> bool {
        let before = self.links.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "unlink on a pid with no link");
        if before == 1 {
            free_pid(self);
            return true;
        }
        false
    }
}
