//! The `openvz2006` dialect: the OpenVZ VPID design (seed `003`, Kirill
//! Korotaev, "[RFC][PATCH 5/7] VPIDs: vpid/pid conversion in VPID enabled
//! case", LKML 2006-02-02; `pid-semantics.md` §4.1).
//!
//! The kernel keeps global pids everywhere; a virtual pid (vpid) exists "at
//! user frontend" only. Numbers with `VPID_BIT` (bit 10) set are virtual,
//! and the global allocator never hands them out. The script runs inside
//! one VPS whose init is `t0` (vpid 1). In linear mode a pid's vpid is
//! `pid + VPID_DIV`; the first requested vpid that breaks that rule (through
//! `clone(0, set_tid=[V])`) switches the VPS to sparse mode for good, where
//! a hash maps each vpid to its pid.
//!
//! This file specifies the patch's intent. Where its code has a defect the
//! model does what the patch means and `DIALECTS.md` names the difference:
//! the bitmap bit that the VPID-bit skip leaves behind (bug B5), the linear
//! search that never ends when every vpid is taken (bug B18: EAGAIN here),
//! a second vpid 1, vpids without the VPID bit, the host's pids reachable
//! through a vpid, and an unknown vpid turned into 0 (a process group).

use std::collections::BTreeMap;

use crate::abi::Errno;
use crate::pid::{NsId, PidId, RESERVED_PIDS, check_last_pid};
use crate::pid_bitmap::{OneNs, PID_MAX_DEFAULT, Pidmap};

/// `VPID_BIT`: the bit that marks a virtual pid.
pub(crate) const VPID_BIT: u32 = 10;
/// `VPID_DIV`: `1 << VPID_BIT`, the distance from a pid to its linear vpid.
pub(crate) const VPID_DIV: i64 = 1 << VPID_BIT;

/// The VPS, the only namespace a script can be in.
const VPS: NsId = 0;

/// The host's init, which holds global pid 1.
const HOST_INIT: PidId = 0;

/// `__is_virtual_pid`: the number has the VPID bit.
pub(crate) fn is_virtual_nr(nr: i64) -> bool {
    nr & VPID_DIV != 0
}

/// `struct pid` with the patch's `vnr`: 0 stands for "no number".
#[derive(Clone, Copy, Debug)]
struct VPid {
    /// The global pid.
    nr: i64,
    /// The vpid; 0 for a pid of the host, which has none in the VPS.
    vnr: i64,
}

/// Every pid of the system, and the VPS's mapping.
#[derive(Clone, Debug)]
pub(crate) struct VpidPids {
    /// The global pidmap (never a number with the VPID bit); its owners are
    /// the pid hash.
    global: Pidmap,
    pids: Vec<VPid>,
    /// `sparse_vpid(vps)`: set by `switch_to_sparse_mapping`, never cleared.
    sparse: bool,
    /// The VPS's entries of `vpid_hash` (vpid → pid); empty in linear mode.
    map: BTreeMap<i64, PidId>,
    /// The pid of `vps->init_task`, once it exists.
    init: Option<PidId>,
    /// `pid_max`, whether the VPS takes pids, its init.
    pub(crate) ns: OneNs,
}

impl VpidPids {
    /// The host with only its init (pid 1) and an empty VPS in linear mode.
    pub fn new() -> VpidPids {
        let mut global = Pidmap::new();
        let host_init = global.alloc(PID_MAX_DEFAULT, |_| true, HOST_INIT);
        debug_assert_eq!(host_init, Some(1));
        VpidPids {
            global,
            pids: vec![VPid { nr: 1, vnr: 0 }],
            sparse: false,
            map: BTreeMap::new(),
            init: None,
            ns: OneNs::new(),
        }
    }

    /// The VPS.
    pub fn root(&self) -> NsId {
        VPS
    }

    /// The design has the host and one level of VPS, no more: EINVAL.
    pub fn create_ns(&mut self, _parent: NsId) -> Result<NsId, Errno> {
        hit!(VpidNoNesting);
        Err(Errno::EINVAL)
    }

    /// Every task of the script lives in the VPS.
    pub fn owner(&self, _pid: PidId) -> NsId {
        VPS
    }

    /// `pid_type_to_vpid` of a pid the caller holds: its vpid, or 0 for a
    /// pid of the host.
    pub fn nr_in(&self, pid: PidId, _ns: NsId) -> i64 {
        self.pids[pid].vnr
    }

    /// The global pid, as the kernel stores it.
    #[cfg(test)]
    pub fn global_nr(&self, pid: PidId) -> i64 {
        self.pids[pid].nr
    }

    /// Whether `pid` is allocated and belongs to the VPS.
    fn in_vps(&self, pid: PidId) -> bool {
        let p = self.pids[pid];
        p.vnr != 0 && self.global.get(p.nr) == Some(pid)
    }

    /// `vpid_to_pid` for `v > 0`, as the patch means it: the global pid of a
    /// live pid of the VPS that `v` names, else `None`. Vpid 1 is the init;
    /// another virtual number goes through the mapping (sparse) or is
    /// `pid + VPID_DIV` of a pid whose vpid it is (linear: neither init's
    /// `init_pid + VPID_DIV` nor the host's pids have one); a number without
    /// the VPID bit is a global pid, accepted when its task is in the VPS.
    fn vpid_to_pid(&self, v: i64) -> Option<i64> {
        let pid = if v == 1 {
            self.init?
        } else if is_virtual_nr(v) && self.sparse {
            *self.map.get(&v)?
        } else if is_virtual_nr(v) {
            self.global
                .get(v - VPID_DIV)
                .filter(|&p| self.pids[p].vnr == v)?
        } else {
            self.global.get(v)?
        };
        self.in_vps(pid).then_some(self.pids[pid].nr)
    }

    /// `find_pid` of a number the VPS passes (`vpid_to_pid`, then the pid
    /// hash). A number `<= 0` names nothing, as in `vpid_to_pid` ("User gave
    /// bad pid. It is his problem.").
    pub fn find(&self, _ns: NsId, v: i64) -> Option<PidId> {
        if v <= 0 {
            return None;
        }
        self.global.get(self.vpid_to_pid(v)?)
    }

    /// `comb_vpid_to_pid`: a number from the VPS as the kernel takes it,
    /// negative for a process group (kill, wait). `None` where nothing has
    /// that vpid: the call fails with ESRCH (the patch returns 0, which would
    /// name the caller's own process group). The script calls have no
    /// argument of this kind, so only the tests use it.
    #[cfg(test)]
    pub fn comb_vpid_to_pid(&self, v: i64) -> Option<i64> {
        match v {
            0 => Some(0),
            v if v > 0 => self.vpid_to_pid(v),
            v => self.vpid_to_pid(-v).map(|nr| -nr),
        }
    }

    /// `comb_pid_to_vpid`: a global pid (negative for a process group) as the
    /// VPS sees it; `None` where it has no vpid (the patch's 0).
    #[cfg(test)]
    pub fn comb_pid_to_vpid(&self, nr: i64) -> Option<i64> {
        let vpid = |nr: i64| {
            let pid = self.global.get(nr)?;
            self.in_vps(pid).then_some(self.pids[pid].vnr)
        };
        match nr {
            0 => Some(0),
            nr if nr > 0 => vpid(nr),
            nr => vpid(-nr).map(|v| -v),
        }
    }

    /// `alloc_pid` then `alloc_vpid` for a new task of the VPS. `set_tid[0]`
    /// is the requested vpid: 1 or a number with the VPID bit below
    /// `pid_max` (EINVAL), asked for with checkpoint/restore rights (EPERM),
    /// checked before the global pid is taken. The VPS's first pid is its
    /// init, with vpid 1. A failure after the global allocation gives the pid
    /// back, but not `last_pid`, as in the bitmap era. A `set_tid[1]` would
    /// choose the global pid, which the VPS cannot: `Err(None)`.
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
        let mut want = set_tid.first().copied();
        if let Some(v) = want {
            if v < 1 || v >= self.ns.pid_max || (v != 1 && !is_virtual_nr(v)) {
                hit!(VpidEinval);
                return Err(Some(Errno::EINVAL));
            }
            if !privileged(VPS) {
                hit!(PidR21);
                return Err(Some(Errno::EPERM));
            }
        }
        if set_tid.len() == 2 {
            return Err(None);
        }
        if self.init.is_none() {
            want = Some(want.unwrap_or(1));
        }
        let id = self.pids.len();
        let Some(nr) = self
            .global
            .alloc(self.ns.pid_max, |n| !is_virtual_nr(n), id)
        else {
            hit!(VpidGlobalFull);
            return Err(Some(Errno::EAGAIN));
        };
        if !self.ns.adding {
            // Init has died.
            hit!(PidR13);
            self.global.free(nr);
            return Err(Some(Errno::ENOMEM));
        }
        match self.alloc_vpid(nr, want, id) {
            Ok(vnr) => {
                self.pids.push(VPid { nr, vnr });
                if vnr == 1 {
                    self.init = Some(id);
                }
                Ok(id)
            }
            Err(e) => {
                self.global.free(nr);
                Err(Some(e))
            }
        }
    }

    /// `alloc_vpid(pid, virt_pid)` for the new pid `id` with global pid `nr`;
    /// `want` is `virt_pid` (`None` for -1).
    fn alloc_vpid(&mut self, nr: i64, want: Option<i64>, id: PidId) -> Result<i64, Errno> {
        if !self.sparse {
            match want {
                None => {
                    hit!(VpidLinear);
                    return Ok(nr + VPID_DIV);
                }
                // The patch accepts 1 as it is; the model refuses a second init.
                Some(1) if self.init.is_some_and(|p| self.in_vps(p)) => {
                    hit!(VpidEexist);
                    return Err(Errno::EEXIST);
                }
                Some(1) => return Ok(1),
                Some(v) if v == nr + VPID_DIV => {
                    hit!(VpidLinear);
                    return Ok(v);
                }
                Some(_) => {
                    hit!(VpidSparse);
                    self.switch_to_sparse_mapping();
                }
            }
        }
        let mut result = want.unwrap_or(nr + VPID_DIV);
        if self.map.contains_key(&result) {
            if want.is_some() {
                hit!(VpidEexist);
                return Err(Errno::EEXIST);
            }
            hit!(VpidSearch);
            result = self.search(result).ok_or_else(|| {
                hit!(VpidExhausted);
                Errno::EAGAIN
            })?;
            // "set last_pid in hope future alloc_pidmap to avoid collisions"
            self.global.last = result - VPID_DIV;
        }
        self.map.insert(result, id);
        Ok(result)
    }

    /// The "weak place" of `alloc_vpid`: the next free vpid after `taken`,
    /// going up to `pid_max` and then once from `RESERVED_PIDS + VPID_DIV`
    /// back to `taken`. `None` when every one of them is taken (the patch's
    /// loop never ends there).
    fn search(&self, taken: i64) -> Option<i64> {
        let lo = RESERVED_PIDS + VPID_DIV;
        let free = |v: &i64| is_virtual_nr(*v) && !self.map.contains_key(v);
        (taken + 1..self.ns.pid_max)
            .find(free)
            .or_else(|| (lo..(taken + 1).min(self.ns.pid_max)).find(free))
    }

    /// `switch_to_sparse_mapping`: every live pid of the VPS (its tasks,
    /// process groups and sessions alike) gets a mapping entry for the vpid
    /// it has, and the VPS is sparse from now on. The model has no memory to
    /// run out of, so the patch's ENOMEM and its rollback never happen.
    fn switch_to_sparse_mapping(&mut self) {
        for id in 0..self.pids.len() {
            if self.in_vps(id) {
                self.map.insert(self.pids[id].vnr, id);
            }
        }
        self.sparse = true;
    }

    /// Whether the VPS is in sparse mode.
    #[cfg(test)]
    pub fn is_sparse(&self) -> bool {
        self.sparse
    }

    /// A pid of the host (the process group and session `t0` starts in):
    /// no vpid, and its global pid is the host's business.
    pub fn outside(&mut self) -> PidId {
        self.pids.push(VPid { nr: 0, vnr: 0 });
        self.pids.len() - 1
    }

    /// `detach_pid`'s `__free_vpid` then `free_pidmap`: the vpid's mapping
    /// goes (sparse mode), then the global pid.
    pub fn free(&mut self, pid: PidId) {
        let VPid { nr, vnr } = self.pids[pid];
        if self.map.get(&vnr) == Some(&pid) {
            self.map.remove(&vnr);
        }
        if nr != 0 && self.global.get(nr) == Some(pid) {
            self.global.free(nr);
        }
    }

    /// `kernel.ns_last_pid`: the system's one `last_pid`, a global pid.
    pub fn last_pid(&self, _ns: NsId) -> i64 {
        self.global.last
    }

    /// Writes `kernel.ns_last_pid` as Linux 3.3 to 4.14 did: `last_pid`
    /// itself, in `[0, pid_max]`.
    pub fn set_last_pid(&mut self, _ns: NsId, v: i64) -> Result<(), Errno> {
        check_last_pid(v, self.ns.pid_max)?;
        hit!(PidR3);
        self.global.last = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::TaskId;

    fn fork(p: &mut VpidPids) -> Result<PidId, Errno> {
        p.alloc(VPS, &[], |_| true)
            .map_err(|e| e.expect("no global entry"))
    }

    fn request(p: &mut VpidPids, v: i64) -> Result<PidId, Errno> {
        p.alloc(VPS, &[v], |_| true)
            .map_err(|e| e.expect("no global entry"))
    }

    /// `(global pid, vpid)` of a new task.
    fn numbers(p: &mut VpidPids) -> (i64, i64) {
        let id = fork(p).unwrap();
        (p.global_nr(id), p.nr_in(id, VPS))
    }

    fn vps() -> (VpidPids, PidId) {
        let mut p = VpidPids::new();
        let init = fork(&mut p).unwrap();
        p.ns.child_reaper = Some(TaskId(0));
        (p, init)
    }

    #[test]
    fn init_is_vpid_1_and_the_others_are_linear() {
        let (mut p, init) = vps();
        assert_eq!((p.global_nr(init), p.nr_in(init, VPS)), (2, 1));
        assert_eq!(numbers(&mut p), (3, 1027));
        assert_eq!(numbers(&mut p), (4, 1028));
        assert!(!p.is_sparse());
        assert_eq!(p.find(VPS, 1), Some(init));
        assert_eq!(p.find(VPS, 1027), Some(2));
        // A global pid of the VPS is accepted as it is.
        assert_eq!(p.find(VPS, 3), Some(2));
        // Init's linear alias and the host's pids name nothing.
        assert_eq!(p.find(VPS, 2 + VPID_DIV), None);
        assert_eq!(p.find(VPS, 1 + VPID_DIV), None);
        assert_eq!(p.find(VPS, 1029), None);
        assert_eq!(p.find(VPS, -1027), None);
        assert_eq!((p.last_pid(VPS), p.ns.pid_max), (4, 32768));
    }

    #[test]
    fn linear_numbering_skips_the_vpid_bit_ranges() {
        let (mut p, _) = vps();
        p.set_last_pid(VPS, 1021).unwrap();
        assert_eq!(numbers(&mut p), (1022, 2046));
        assert_eq!(numbers(&mut p), (1023, 2047));
        // 1024..2047 have the VPID bit: the next global pid is 2048.
        assert_eq!(numbers(&mut p), (2048, 3072));
        assert_eq!(numbers(&mut p), (2049, 3073));
        p.set_last_pid(VPS, 3070).unwrap();
        assert_eq!(numbers(&mut p), (3071, 4095));
        assert_eq!(numbers(&mut p), (4096, 5120));
        // A last_pid inside a virtual range goes to the next range's start.
        p.set_last_pid(VPS, 1500).unwrap();
        assert_eq!(numbers(&mut p), (2050, 3074));
        // The wrap goes to RESERVED_PIDS, whose vpid is 1324.
        p.set_last_pid(VPS, 32767).unwrap();
        assert_eq!(numbers(&mut p), (300, 1324));
    }

    #[test]
    fn the_vpid_bit_skip_marks_the_number_it_returns() {
        // Bug B5: the patch set bit 1024 and returned 2048, so 2048 could be
        // handed out twice.
        let (mut p, _) = vps();
        p.set_last_pid(VPS, 1022).unwrap();
        assert_eq!(numbers(&mut p), (1023, 2047));
        assert_eq!(numbers(&mut p), (2048, 3072));
        p.set_last_pid(VPS, 1022).unwrap();
        assert_eq!(numbers(&mut p), (2049, 3073));
        assert!(!p.global.contains(1024));
    }

    #[test]
    fn a_requested_vpid_switches_to_sparse_mode() {
        let (mut p, init) = vps();
        let a = fork(&mut p).unwrap(); // 3, 1027
        // The linear value is accepted without a switch.
        let b = request(&mut p, 1028).unwrap();
        assert_eq!((p.global_nr(b), p.nr_in(b, VPS)), (4, 1028));
        assert!(!p.is_sparse());
        // Another one switches: 1030 for global pid 5.
        let c = request(&mut p, 1030).unwrap();
        assert_eq!((p.global_nr(c), p.nr_in(c, VPS)), (5, 1030));
        assert!(p.is_sparse());
        // The pids that were there keep their vpids, now through the mapping.
        assert_eq!(p.find(VPS, 1), Some(init));
        assert_eq!(p.find(VPS, 1027), Some(a));
        assert_eq!(p.find(VPS, 1030), Some(c));
        assert_eq!(p.find(VPS, 5), Some(c));
        assert_eq!(p.find(VPS, 5 + VPID_DIV), None);
        // Global pid 6 gets its linear vpid 1030, which is taken: the search
        // gives 1031, and last_pid follows it to 7.
        assert_eq!(numbers(&mut p), (6, 1031));
        assert_eq!(p.last_pid(VPS), 7);
        assert_eq!(numbers(&mut p), (8, 1032));
        assert_eq!(p.comb_pid_to_vpid(-6), Some(-1031));
        assert_eq!(p.comb_vpid_to_pid(-1031), Some(-6));
    }

    #[test]
    fn a_taken_vpid_is_eexist_and_gives_the_global_pid_back() {
        let (mut p, _) = vps();
        let a = fork(&mut p).unwrap(); // 3, 1027
        assert_eq!(request(&mut p, 1027), Err(Errno::EEXIST));
        // The VPS switched before the check, the global pid 4 went back, but
        // last_pid stays where the allocator left it.
        assert!(p.is_sparse());
        assert!(!p.global.contains(4));
        assert_eq!(numbers(&mut p), (5, 1029));
        assert_eq!(request(&mut p, 1), Err(Errno::EEXIST));
        // The vpid comes free when its pid is freed.
        p.free(a);
        let b = request(&mut p, 1027).unwrap();
        assert_eq!(p.find(VPS, 1027), Some(b));
        assert_ne!(p.global_nr(b), 3);
    }

    #[test]
    fn vpid_1_is_taken_in_linear_mode_too() {
        let (mut p, _) = vps();
        assert_eq!(request(&mut p, 1), Err(Errno::EEXIST));
        assert!(!p.is_sparse());
    }

    #[test]
    fn requests_are_range_and_capability_checked_first() {
        let (mut p, _) = vps();
        for v in [0, -1, -1024, 5, 1023, 2048, 32768 + 1024, 33792] {
            assert_eq!(request(&mut p, v), Err(Errno::EINVAL), "vpid {v}");
        }
        assert_eq!(p.alloc(VPS, &[1100], |_| false), Err(Some(Errno::EPERM)));
        assert_eq!(p.alloc(VPS, &[1100, 9], |_| true), Err(None));
        assert_eq!(
            p.alloc(VPS, &[1100, 9, 9], |_| true),
            Err(Some(Errno::EINVAL))
        );
        // Nothing was allocated on the way.
        assert_eq!(p.last_pid(VPS), 2);
        assert!(!p.is_sparse());
    }

    #[test]
    fn the_search_ends_with_eagain_when_every_vpid_is_taken() {
        let (mut p, _) = vps();
        p.ns.set_pid_max(1400).unwrap();
        // Take every vpid the search can reach from the top: 1324..1399.
        for v in RESERVED_PIDS + VPID_DIV..1400 {
            request(&mut p, v).unwrap();
        }
        // Global pid 375 would get 1399, which is taken, and the search
        // finds nothing above it nor from 1324 on: EAGAIN, not a loop.
        p.set_last_pid(VPS, 374).unwrap();
        assert_eq!(fork(&mut p), Err(Errno::EAGAIN));
        assert!(!p.global.contains(375));
        assert_eq!(p.last_pid(VPS), 375);
        // Global pid 376's linear vpid 1400 is free, though not below pid_max.
        assert_eq!(numbers(&mut p), (376, 1400));
    }

    #[test]
    fn the_search_wraps_to_1324() {
        let (mut p, _) = vps();
        p.ns.set_pid_max(1400).unwrap();
        request(&mut p, 1399).unwrap();
        p.set_last_pid(VPS, 374).unwrap();
        assert_eq!(numbers(&mut p), (375, 1324));
        assert_eq!(p.last_pid(VPS), 300);
    }

    #[test]
    fn a_full_global_space_is_eagain() {
        let (mut p, _) = vps();
        p.ns.set_pid_max(301).unwrap();
        for nr in 3..301 {
            assert_eq!(numbers(&mut p).0, nr);
        }
        assert_eq!(fork(&mut p), Err(Errno::EAGAIN));
    }

    #[test]
    fn negative_numbers_name_process_groups() {
        let (mut p, init) = vps();
        let a = fork(&mut p).unwrap();
        assert_eq!(p.comb_vpid_to_pid(0), Some(0));
        assert_eq!(p.comb_vpid_to_pid(1), Some(2));
        assert_eq!(p.comb_vpid_to_pid(-1), Some(-2));
        assert_eq!(p.comb_vpid_to_pid(-1027), Some(-3));
        assert_eq!(p.comb_vpid_to_pid(-3), Some(-3));
        // Unknown vpids are None (ESRCH), not 0 (the caller's own group).
        assert_eq!(p.comb_vpid_to_pid(1100), None);
        assert_eq!(p.comb_vpid_to_pid(-1100), None);
        assert_eq!(p.comb_vpid_to_pid(-(1 + VPID_DIV)), None);
        assert_eq!(p.comb_pid_to_vpid(3), Some(1027));
        assert_eq!(p.comb_pid_to_vpid(-3), Some(-1027));
        assert_eq!(p.comb_pid_to_vpid(-2), Some(-1));
        // The host's init has no vpid.
        assert_eq!(p.comb_pid_to_vpid(1), None);
        p.free(a);
        assert_eq!(p.comb_pid_to_vpid(-3), None);
        assert_eq!(p.comb_vpid_to_pid(-1027), None);
        let _ = init;
    }

    #[test]
    fn a_dead_vps_refuses_pids() {
        let (mut p, _) = vps();
        p.ns.adding = false;
        assert_eq!(fork(&mut p), Err(Errno::ENOMEM));
        assert_eq!(p.create_ns(VPS), Err(Errno::EINVAL));
    }
}
