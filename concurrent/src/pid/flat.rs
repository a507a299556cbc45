//! The `flat2007` variant: Pavel Emelianov's flat pid namespaces (seed
//! `002`, "[FLAT 1/6] Changes in data structures for flat model", 2007),
//! with the numbers and errnos of the model's `pid_flat.rs` and the rows of
//! `DIALECTS.md`.
//!
//! A pid has two numbers: `nr`, global and unique in the system, and `vnr`,
//! the number the container sees. The container is the tree's only
//! namespace; its `StructPid`s carry the `vnr` as their one number, and the
//! `nr` stays here. Both come from the bitmap allocator of the era, one
//! pidmap for the global numbers (where the host's init holds 1) and one
//! for the container's, under the one system-wide `pid_max`.

use std::collections::BTreeMap;

use crate::errno::Errno;
use crate::pid::MutantSlot;
use crate::pid::alloc::AllocError;
use crate::pid::bitmap::{OneNs, Pidmap};
use crate::pid::struct_pid::StructPid;
use crate::sync::Arc;

/// A live pid of the container: its global number and the pid itself.
#[derive(Debug)]
struct Entry {
    nr: i64,
    pid: Arc<StructPid>,
}

/// Every number of the system under the flat model. It lives behind the
/// container's one lock.
#[derive(Debug)]
pub(crate) struct FlatPids {
    /// `init_pid_ns`'s pidmap: the global numbers.
    global: Pidmap,
    /// The container's pidmap.
    virt: Pidmap,
    /// The live pids by `vnr` (the `vpid_chain` hash).
    live: BTreeMap<i64, Entry>,
    /// `pid_max`, whether the container takes pids, its init.
    pub(crate) ns: OneNs,
}

impl FlatPids {
    /// The host with only its init (global number 1) and an empty container.
    pub(crate) fn new(mutant: MutantSlot) -> FlatPids {
        FlatPids {
            global: Pidmap::global(mutant),
            virt: Pidmap::new(mutant),
            live: BTreeMap::new(),
            ns: OneNs::new(),
        }
    }

    /// `find_pid` by virtual number.
    pub(crate) fn find(&self, vnr: i64) -> Option<Arc<StructPid>> {
        self.live.get(&vnr).map(|e| e.pid.clone())
    }

    /// The global number of a live pid.
    pub(crate) fn global_nr(&self, pid: &StructPid) -> Option<i64> {
        let e = self.live.get(&pid.numbers().first()?.nr)?;
        std::ptr::eq(Arc::as_ptr(&e.pid), pid).then_some(e.nr)
    }

    /// `alloc_pid` in the container: the `vnr` first (requested through
    /// `set_tid[0]` under mainline's rules, or from the container's pidmap),
    /// then the `nr` from the global pidmap. A failure gives back what was
    /// taken, but `last_pid` stays where the walk left it, as in the bitmap
    /// era. A `set_tid[1]` would choose the global number, which the
    /// container cannot: [`AllocError::HostLevel`]. `set_tid` has
    /// at most two entries (the caller checks R17). `make` builds the
    /// `StructPid` of a `vnr`.
    pub(crate) fn alloc(
        &mut self,
        set_tid: &[i64],
        privileged: bool,
        make: impl FnOnce(i64) -> Arc<StructPid>,
    ) -> Result<Arc<StructPid>, AllocError> {
        let vnr = match set_tid.first() {
            Some(&tid) => {
                if tid < 1 || tid >= self.ns.pid_max {
                    return Err(Errno::EINVAL.into()); // R18
                }
                if tid != 1 && !self.ns.has_reaper {
                    return Err(Errno::EINVAL.into()); // R19
                }
                if !privileged {
                    return Err(Errno::EPERM.into()); // R21
                }
                if !self.virt.claim(tid) {
                    return Err(Errno::EEXIST.into()); // R20
                }
                tid
            }
            None => self
                .virt
                .alloc(self.ns.pid_max, |_| true)
                .ok_or(Errno::EAGAIN)?,
        };
        if set_tid.len() == 2 {
            self.virt.free(vnr);
            return Err(AllocError::HostLevel);
        }
        let Some(nr) = self.global.alloc(self.ns.pid_max, |_| true) else {
            self.virt.free(vnr);
            return Err(Errno::EAGAIN.into());
        };
        if !self.ns.adding {
            self.virt.free(vnr);
            self.global.free(nr);
            return Err(Errno::ENOMEM.into()); // R13: init has died.
        }
        let pid = make(vnr);
        self.live.insert(
            vnr,
            Entry {
                nr,
                pid: pid.clone(),
            },
        );
        Ok(pid)
    }

    /// `free_pid`: both numbers go back to their pidmaps.
    pub(crate) fn free(&mut self, pid: &StructPid) {
        let Some(nr) = self.global_nr(pid) else {
            return;
        };
        let vnr = pid.numbers()[0].nr;
        self.live.remove(&vnr);
        self.virt.free(vnr);
        self.global.free(nr);
    }

    /// The pidmap whose `last_pid` is `kernel.ns_last_pid`: the
    /// container's.
    pub(crate) fn last_pid_map(&mut self) -> &mut Pidmap {
        &mut self.virt
    }
}
