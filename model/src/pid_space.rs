//! The pid half of a dialect: which allocator and which numbers the tasks of
//! `kernel.rs` get.
//!
//! [`PidSpace`] has the interface that `kernel.rs` uses and hands each call
//! to the specification of the dialect: mainline's hierarchical namespaces
//! (`pid.rs`, also used by `rfc2012`, which changes IPC only), the flat
//! two-number model of 2007 (`pid_flat.rs`), or the OpenVZ VPIDs of 2006
//! (`pid_openvz.rs`).

use crate::abi::Errno;
use crate::dialect::Dialect;
use crate::pid::{NsId, PidId, Pids};
use crate::pid_flat::FlatPids;
use crate::pid_openvz::VpidPids;
use crate::syscall::TaskId;

/// Every namespace and pid of the system, under one dialect's rules.
#[derive(Clone, Debug)]
pub(crate) enum PidSpace {
    /// Linux 6.18 (`mainline` and `rfc2012`).
    Mainline(Pids),
    /// `flat2007`.
    Flat(FlatPids),
    /// `openvz2006`.
    Openvz(VpidPids),
}

/// Runs the same method on whichever space `$space` is.
macro_rules! each {
    ($space:expr, $p:ident => $e:expr) => {
        match $space {
            PidSpace::Mainline($p) => $e,
            PidSpace::Flat($p) => $e,
            PidSpace::Openvz($p) => $e,
        }
    };
}

impl PidSpace {
    /// The script's first namespace, empty, under `dialect`'s rules.
    pub fn new(dialect: Dialect) -> PidSpace {
        match dialect {
            Dialect::Mainline | Dialect::Rfc2012 => PidSpace::Mainline(Pids::new()),
            Dialect::Flat2007 => PidSpace::Flat(FlatPids::new()),
            Dialect::Openvz2006 => PidSpace::Openvz(VpidPids::new()),
        }
    }

    /// The script's first namespace.
    pub fn root(&self) -> NsId {
        each!(self, p => p.root())
    }

    /// A new namespace below `parent`.
    pub fn create_ns(&mut self, parent: NsId) -> Result<NsId, Errno> {
        each!(self, p => p.create_ns(parent))
    }

    /// The namespace `ns` was created in; `None` for the script's first.
    pub fn parent(&self, ns: NsId) -> Option<NsId> {
        match self {
            PidSpace::Mainline(p) => p.ns(ns).parent,
            // The old dialects have one namespace for the script's tasks.
            PidSpace::Flat(_) | PidSpace::Openvz(_) => None,
        }
    }

    /// The namespace a pid was allocated in.
    pub fn owner(&self, pid: PidId) -> NsId {
        each!(self, p => p.owner(pid))
    }

    /// The number of `pid` as seen in `ns`, 0 where it has none.
    pub fn nr_in(&self, pid: PidId, ns: NsId) -> i64 {
        each!(self, p => p.nr_in(pid, ns))
    }

    /// The pid that a task of `ns` names with `nr`.
    pub fn find(&self, ns: NsId, nr: i64) -> Option<PidId> {
        each!(self, p => p.find(ns, nr))
    }

    /// A new pid in `ns`; `Err(None)` for a `set_tid` entry of a level the
    /// script cannot choose (the host's).
    pub fn alloc(
        &mut self,
        ns: NsId,
        set_tid: &[i64],
        privileged: impl Fn(NsId) -> bool,
    ) -> Result<PidId, Option<Errno>> {
        each!(self, p => p.alloc(ns, set_tid, privileged))
    }

    /// A pid of the host, with no number the script can see.
    pub fn outside(&mut self) -> PidId {
        each!(self, p => p.outside())
    }

    /// Gives back the pid's numbers.
    pub fn free(&mut self, pid: PidId) {
        each!(self, p => p.free(pid))
    }

    /// `ns`'s init has died: it takes no new pids.
    pub fn disable(&mut self, ns: NsId) {
        match self {
            PidSpace::Mainline(p) => p.disable(ns),
            PidSpace::Flat(FlatPids { ns, .. }) | PidSpace::Openvz(VpidPids { ns, .. }) => {
                ns.adding = false
            }
        }
    }

    /// `kernel.ns_last_pid` as a task of `ns` reads it.
    pub fn last_pid(&self, ns: NsId) -> i64 {
        each!(self, p => p.last_pid(ns))
    }

    /// Writes `kernel.ns_last_pid` (the capability check is the caller's).
    pub fn set_last_pid(&mut self, ns: NsId, v: i64) -> Result<(), Errno> {
        each!(self, p => p.set_last_pid(ns, v))
    }

    /// `kernel.pid_max` as a task of `ns` reads it.
    pub fn pid_max(&self, ns: NsId) -> i64 {
        match self {
            PidSpace::Mainline(p) => p.ns(ns).pid_max,
            PidSpace::Flat(FlatPids { ns, .. }) | PidSpace::Openvz(VpidPids { ns, .. }) => {
                ns.pid_max
            }
        }
    }

    /// Writes `kernel.pid_max` (the permission check is the caller's).
    pub fn set_pid_max(&mut self, ns: NsId, v: i64) -> Result<(), Errno> {
        match self {
            PidSpace::Mainline(p) => p.set_pid_max(ns, v),
            PidSpace::Flat(FlatPids { ns, .. }) | PidSpace::Openvz(VpidPids { ns, .. }) => {
                ns.set_pid_max(v)
            }
        }
    }

    /// `ns`'s init, once it exists.
    pub fn child_reaper(&self, ns: NsId) -> Option<TaskId> {
        match self {
            PidSpace::Mainline(p) => p.ns(ns).child_reaper,
            PidSpace::Flat(FlatPids { ns, .. }) | PidSpace::Openvz(VpidPids { ns, .. }) => {
                ns.child_reaper
            }
        }
    }

    /// Makes `task` the init of `ns`.
    pub fn set_child_reaper(&mut self, ns: NsId, task: TaskId) {
        match self {
            PidSpace::Mainline(p) => p.ns_mut(ns).child_reaper = Some(task),
            PidSpace::Flat(FlatPids { ns, .. }) | PidSpace::Openvz(VpidPids { ns, .. }) => {
                ns.child_reaper = Some(task)
            }
        }
    }
}
