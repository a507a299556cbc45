//! The pid designs a tree of namespaces can follow ([`Variant`]), and the
//! state of the two historical ones, which a [`PidNamespace`] hands its
//! calls to: `flat2007` ([`crate::pid::flat`]) and `openvz2006`
//! ([`crate::pid::openvz`]), as `model/src/pid_space.rs` picks the pid half
//! of a dialect.
//!
//! A historical variant has one namespace (the container, or the VPS): a
//! namespace inside it is EINVAL. Its pids are one-level [`StructPid`]s
//! that carry the number the container sees; the global number stays in
//! the variant's state. That state sits behind one lock, which every call
//! takes once (allocation, free, lookup, sysctl), so each call is one
//! atomic step, as under the era's `pidmap_lock` and `tasklist_lock`
//! together.

use crate::errno::Errno;
use crate::pid::MutantSlot;
use crate::pid::alloc::AllocError;
use crate::pid::flat::FlatPids;
use crate::pid::ns::PidNamespace;
use crate::pid::openvz::VpidPids;
use crate::pid::struct_pid::{StructPid, Upid};
use crate::sync::{Arc, Mutex, lock};

/// A pid design, as the harness's `--dialect` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Linux 6.18's hierarchical namespaces (`mainline` and `rfc2012`).
    #[default]
    Mainline,
    /// `flat2007`: two numbers per pid, one level of container.
    Flat2007,
    /// `openvz2006`: global pids and the VPS's vpids.
    Openvz2006,
}

/// The state of a historical variant's one namespace, behind its one lock.
#[derive(Debug)]
pub(crate) enum Historical {
    Flat(Mutex<FlatPids>),
    Openvz(Mutex<VpidPids>),
}

/// Runs the same method on whichever variant `$h` is, under its lock.
macro_rules! each {
    ($h:expr, $p:ident => $e:expr) => {
        match $h {
            Historical::Flat(m) => {
                #[allow(unused_mut)]
                let mut $p = lock(m);
                $e
            }
            Historical::Openvz(m) => {
                #[allow(unused_mut)]
                let mut $p = lock(m);
                $e
            }
        }
    };
}

impl Historical {
    /// The state of a new tree under `variant`; `None` for mainline, whose
    /// state is the namespace's own.
    pub(crate) fn new(variant: Variant, mutant: MutantSlot) -> Option<Historical> {
        match variant {
            Variant::Mainline => None,
            Variant::Flat2007 => Some(Historical::Flat(Mutex::new(FlatPids::new(mutant)))),
            Variant::Openvz2006 => Some(Historical::Openvz(Mutex::new(VpidPids::new(mutant)))),
        }
    }

    /// `alloc_pid` in the namespace `ns` whose state this is. The rights
    /// (`privileged`) are the caller's, read before the lock is taken.
    pub(crate) fn alloc(
        &self,
        ns: &Arc<PidNamespace>,
        set_tid: &[i64],
        privileged: bool,
    ) -> Result<Arc<StructPid>, AllocError> {
        let make = |nr| Arc::new(StructPid::new(vec![Upid { nr, ns: ns.clone() }]));
        if set_tid.len() > 2 {
            return Err(Errno::EINVAL.into()); // R17: two levels, the host's included.
        }
        each!(self, p => p.alloc(set_tid, privileged, make))
    }

    /// `free_pid`.
    pub(crate) fn free(&self, pid: &StructPid) {
        each!(self, p => p.free(pid))
    }

    /// `find_pid` of a number a task of the namespace passes.
    pub(crate) fn find(&self, nr: i64) -> Option<Arc<StructPid>> {
        each!(self, p => p.find(nr))
    }

    /// The global number of a live pid.
    pub(crate) fn global_nr(&self, pid: &StructPid) -> Option<i64> {
        each!(self, p => p.global_nr(pid))
    }

    /// Init exists from now on.
    pub(crate) fn set_child_reaper(&self) {
        each!(self, p => p.ns.has_reaper = true)
    }

    /// Init has died: no pid any more.
    pub(crate) fn disable(&self) {
        each!(self, p => p.ns.adding = false)
    }

    /// Whether init is alive: pids may still be allocated.
    pub(crate) fn takes_pids(&self) -> bool {
        each!(self, p => p.ns.adding)
    }

    /// `kernel.ns_last_pid`: the `last_pid` of the variant's pidmap.
    pub(crate) fn last_pid(&self) -> i64 {
        each!(self, p => p.last_pid_map().last)
    }

    /// Writes `kernel.ns_last_pid` as Linux 3.3 to 4.14 did: `last_pid`
    /// itself, in `[0, pid_max]`.
    pub(crate) fn set_last_pid(&self, v: i64) -> Result<(), Errno> {
        each!(self, p => {
            p.ns.check_last_pid(v)?;
            p.last_pid_map().last = v;
            Ok(())
        })
    }

    /// The system-wide `kernel.pid_max`.
    pub(crate) fn pid_max(&self) -> i64 {
        each!(self, p => p.ns.pid_max)
    }

    /// Writes the system-wide `kernel.pid_max`.
    pub(crate) fn set_pid_max(&self, v: i64) -> Result<(), Errno> {
        each!(self, p => p.ns.set_pid_max(v))
    }
}
