//! The `flat2007` dialect: Pavel Emelianov's flat pid namespaces (seed
//! `002`, "[PATCH 16/28] [FLAT 1/6] Changes in data structures for flat
//! model", containers list, June 2007).
//!
//! A `struct pid` has exactly two numbers: `nr`, global and unique in the
//! system, and `vnr`, the virtual number that the container sees "on the
//! kernel user boundary only". The script runs inside the one container:
//! `t0` is its init (`vnr` 1), every number a script passes or reads is a
//! `vnr`, and `nr` never crosses the boundary. There is no third level, so
//! a namespace inside the container is refused with EINVAL.
//!
//! Both numbers come from the bitmap allocator of the era
//! ([`crate::pid_bitmap`]), one pidmap for the global numbers and one for
//! the container's, under the one global `pid_max` of 2007. `DIALECTS.md`
//! lists every choice made where the seed is silent.

use crate::abi::Errno;
use crate::pid::{NsId, PidId, check_last_pid};
use crate::pid_bitmap::{OneNs, PID_MAX_DEFAULT, Pidmap};

/// The container, the only namespace a script can be in.
const CONTAINER: NsId = 0;

/// The host's init, which holds global number 1.
const HOST_INIT: PidId = 0;

/// `struct pid` of the flat model: 0 stands for "no number".
#[derive(Clone, Copy, Debug)]
struct FlatPid {
    /// `pid->nr`, the global number.
    nr: i64,
    /// `pid->vnr`, the number in the container; 0 for a pid of the host.
    vnr: i64,
}

/// Every pid of the system under the flat model.
#[derive(Clone, Debug)]
pub(crate) struct FlatPids {
    /// `init_pid_ns`'s pidmap: the global numbers.
    global: Pidmap,
    /// The container's pidmap; its owners are the `vpid_chain` hash.
    virt: Pidmap,
    pids: Vec<FlatPid>,
    /// `pid_max`, whether it takes pids, its init.
    pub(crate) ns: OneNs,
}

impl FlatPids {
    /// The host with only its init (global number 1) and an empty container.
    pub fn new() -> FlatPids {
        let mut global = Pidmap::new();
        let host_init = global.alloc(PID_MAX_DEFAULT, |_| true, HOST_INIT);
        debug_assert_eq!(host_init, Some(1));
        FlatPids {
            global,
            virt: Pidmap::new(),
            pids: vec![FlatPid { nr: 1, vnr: 0 }],
            ns: OneNs::new(),
        }
    }

    /// The container.
    pub fn root(&self) -> NsId {
        CONTAINER
    }

    /// A namespace inside the container would need a third number: EINVAL.
    pub fn create_ns(&mut self, _parent: NsId) -> Result<NsId, Errno> {
        hit!(FlatNoNesting);
        Err(Errno::EINVAL)
    }

    /// Every task of the script lives in the container.
    pub fn owner(&self, _pid: PidId) -> NsId {
        CONTAINER
    }

    /// The number the container sees: `vnr`, or 0 for a pid of the host.
    pub fn nr_in(&self, pid: PidId, _ns: NsId) -> i64 {
        self.pids[pid].vnr
    }

    /// The global number, which no call of a script can see.
    #[cfg(test)]
    pub fn global_nr(&self, pid: PidId) -> i64 {
        self.pids[pid].nr
    }

    /// `find_pid` by virtual number, in the `vpid_chain` hash.
    pub fn find(&self, _ns: NsId, vnr: i64) -> Option<PidId> {
        self.virt.get(vnr)
    }

    /// `alloc_pid` in the container: the `vnr` first (requested through
    /// `set_tid[0]` under mainline's rules, or from the container's pidmap),
    /// then the `nr` from the global pidmap. A failure gives back what was
    /// taken, but `last_pid` stays where the allocator left it, as in the
    /// bitmap era. A `set_tid[1]` would choose the global number, which the
    /// container cannot: `Err(None)`, as for mainline's host level.
    pub fn alloc(
        &mut self,
        _ns: NsId,
        set_tid: &[i64],
        privileged: impl Fn(NsId) -> bool,
    ) -> Result<PidId, Option<Errno>> {
        if set_tid.len() > 2 {
            // Two levels.
            hit!(PidR17);
            return Err(Some(Errno::EINVAL));
        }
        let id = self.pids.len();
        let vnr = match set_tid.first() {
            Some(&tid) => {
                if tid < 1 || tid >= self.ns.pid_max {
                    hit!(PidR18);
                    return Err(Some(Errno::EINVAL));
                }
                if tid != 1 && self.ns.child_reaper.is_none() {
                    hit!(PidR19);
                    return Err(Some(Errno::EINVAL));
                }
                if !privileged(CONTAINER) {
                    hit!(PidR21);
                    return Err(Some(Errno::EPERM));
                }
                if !self.virt.claim(tid, id) {
                    hit!(PidR20);
                    return Err(Some(Errno::EEXIST));
                }
                hit!(PidR22);
                tid
            }
            None => match self.virt.alloc(self.ns.pid_max, |_| true, id) {
                Some(vnr) => vnr,
                None => {
                    hit!(FlatVirtualFull);
                    return Err(Some(Errno::EAGAIN));
                }
            },
        };
        if set_tid.len() == 2 {
            self.virt.free(vnr);
            return Err(None);
        }
        let Some(nr) = self.global.alloc(self.ns.pid_max, |_| true, id) else {
            hit!(FlatGlobalFull);
            self.virt.free(vnr);
            return Err(Some(Errno::EAGAIN));
        };
        if !self.ns.adding {
            // Init has died.
            hit!(PidR13);
            self.virt.free(vnr);
            self.global.free(nr);
            return Err(Some(Errno::ENOMEM));
        }
        self.pids.push(FlatPid { nr, vnr });
        Ok(id)
    }

    /// A pid of the host (the process group and session `t0` starts in):
    /// it has no `vnr`, and its global number is the host's business.
    pub fn outside(&mut self) -> PidId {
        self.pids.push(FlatPid { nr: 0, vnr: 0 });
        self.pids.len() - 1
    }

    /// `free_pid`: both numbers go back to their pidmaps.
    pub fn free(&mut self, pid: PidId) {
        let FlatPid { nr, vnr } = self.pids[pid];
        if nr != 0 && self.global.get(nr) == Some(pid) {
            self.global.free(nr);
        }
        if vnr != 0 && self.virt.get(vnr) == Some(pid) {
            self.virt.free(vnr);
        }
    }

    /// `kernel.ns_last_pid` in the container: its pidmap's `last_pid`.
    pub fn last_pid(&self, _ns: NsId) -> i64 {
        self.virt.last
    }

    /// Writes `kernel.ns_last_pid` as Linux 3.3 to 4.14 did: `last_pid`
    /// itself, in `[0, pid_max]`.
    pub fn set_last_pid(&mut self, _ns: NsId, v: i64) -> Result<(), Errno> {
        check_last_pid(v, self.ns.pid_max)?;
        hit!(PidR3);
        self.virt.last = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::TaskId;

    fn fork(p: &mut FlatPids) -> Result<PidId, Errno> {
        p.alloc(CONTAINER, &[], |_| true)
            .map_err(|e| e.expect("no global entry"))
    }

    fn container() -> (FlatPids, PidId) {
        let mut p = FlatPids::new();
        let init = fork(&mut p).unwrap();
        p.ns.child_reaper = Some(TaskId(0));
        (p, init)
    }

    #[test]
    fn init_is_vnr_1_and_every_pid_has_a_global_nr() {
        let (mut p, init) = container();
        assert_eq!((p.nr_in(init, CONTAINER), p.global_nr(init)), (1, 2));
        let child = fork(&mut p).unwrap();
        assert_eq!((p.nr_in(child, CONTAINER), p.global_nr(child)), (2, 3));
        assert_eq!(p.find(CONTAINER, 2), Some(child));
        // The global number is not a virtual one.
        assert_eq!(p.find(CONTAINER, 3), None);
        assert_eq!(p.nr_in(HOST_INIT, CONTAINER), 0);
        assert_eq!((p.last_pid(CONTAINER), p.ns.pid_max), (2, 32768));
    }

    #[test]
    fn nesting_is_refused_with_einval() {
        let (mut p, _) = container();
        assert_eq!(p.create_ns(CONTAINER), Err(Errno::EINVAL));
    }

    #[test]
    fn vnr_and_nr_wrap_independently_to_300() {
        let (mut p, _) = container();
        p.ns.set_pid_max(400).unwrap();
        p.set_last_pid(CONTAINER, 399).unwrap();
        let a = fork(&mut p).unwrap();
        // The container wraps to 300; the global pidmap goes on from 2.
        assert_eq!((p.nr_in(a, CONTAINER), p.global_nr(a)), (300, 3));
        assert_eq!(p.set_last_pid(CONTAINER, 401), Err(Errno::EINVAL));
        assert_eq!(p.set_last_pid(CONTAINER, 400), Ok(()));
    }

    #[test]
    fn set_tid_follows_mainline_rules_on_the_vnr_only() {
        let (mut p, _) = container();
        let with = |p: &mut FlatPids, tids: &[i64], privileged: bool| {
            p.alloc(CONTAINER, tids, |_| privileged)
        };
        let c = with(&mut p, &[500], true).unwrap();
        assert_eq!((p.nr_in(c, CONTAINER), p.global_nr(c)), (500, 3));
        assert_eq!(p.last_pid(CONTAINER), 1);
        assert_eq!(with(&mut p, &[500], true), Err(Some(Errno::EEXIST)));
        assert_eq!(with(&mut p, &[1], true), Err(Some(Errno::EEXIST)));
        assert_eq!(with(&mut p, &[0], false), Err(Some(Errno::EINVAL)));
        assert_eq!(with(&mut p, &[32768], true), Err(Some(Errno::EINVAL)));
        assert_eq!(with(&mut p, &[600], false), Err(Some(Errno::EPERM)));
        assert_eq!(with(&mut p, &[1, 2, 3], true), Err(Some(Errno::EINVAL)));
        // The global number cannot be chosen, and nothing is left taken.
        assert_eq!(with(&mut p, &[600, 9], true), Err(None));
        assert_eq!(p.find(CONTAINER, 600), None);
        p.free(c);
        assert_eq!(p.find(CONTAINER, 500), None);
        assert!(!p.global.contains(3));
    }

    #[test]
    fn a_full_global_space_gives_eagain_and_keeps_the_virtual_last_pid() {
        let (mut p, _) = container();
        p.ns.set_pid_max(301).unwrap();
        // The global space holds the host's init besides the container's
        // pids, so it fills up one pid before the container's.
        for vnr in 2..300 {
            let c = fork(&mut p).unwrap();
            assert_eq!(p.nr_in(c, CONTAINER), vnr);
        }
        assert_eq!(fork(&mut p), Err(Errno::EAGAIN));
        assert_eq!(p.find(CONTAINER, 300), None);
        assert_eq!(p.last_pid(CONTAINER), 300);
        // The global space is still full, whatever the container has free.
        assert_eq!(fork(&mut p), Err(Errno::EAGAIN));
    }

    #[test]
    fn a_dead_container_refuses_pids() {
        let (mut p, _) = container();
        p.ns.adding = false;
        assert_eq!(fork(&mut p), Err(Errno::ENOMEM));
        assert_eq!(p.find(CONTAINER, 2), None);
    }
}
