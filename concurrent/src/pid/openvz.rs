//! The `openvz2006` variant: the OpenVZ VPID design (seed `003`, Kirill
//! Korotaev, "[RFC][PATCH 5/7] VPIDs: vpid/pid conversion in VPID enabled
//! case", 2006; `pid-semantics.md` §4.1), with the numbers and errnos of the
//! model's `pid_openvz.rs` and the rows of `DIALECTS.md`: the patch's
//! intent, where its code has a defect (bugs B5 and B18 are mutants here).
//!
//! The kernel keeps global pids; a virtual pid (vpid) exists at the user
//! boundary only. Numbers with `VPID_BIT` set are virtual, and the global
//! allocator never hands them out. The VPS is the tree's only namespace;
//! its `StructPid`s carry the vpid as their one number, and the global pid
//! stays here. In linear mode a pid's vpid is `pid + VPID_DIV` (init's is
//! 1); the first requested vpid that breaks that rule switches the VPS to
//! sparse mode for good, where a hash maps each vpid to its pid.
//!
//! One index serves both modes: `live`, the live pids of the VPS by vpid.
//! In sparse mode it is the patch's `vpid_hash` (the switch maps every live
//! pid, and every later pid is mapped when allocated); in linear mode the
//! patch computes the same answer from the global pid (`vpid - VPID_DIV`, or
//! the init for 1), since a live pid's vpid then follows the linear rule.

use std::collections::BTreeMap;

use crate::errno::Errno;
use crate::pid::alloc::AllocError;
use crate::pid::bitmap::{OneNs, Pidmap};
use crate::pid::struct_pid::StructPid;
use crate::pid::{MutantSlot, RESERVED_PIDS};
use crate::sync::Arc;

/// `VPID_BIT`: the bit that marks a virtual pid.
pub const VPID_BIT: u32 = 10;
/// `VPID_DIV`: `1 << VPID_BIT`, the distance from a pid to its linear vpid.
pub const VPID_DIV: i64 = 1 << VPID_BIT;

/// What `alloc_pid` gives under the mutant `VpidSearchNoExit` (pid B18)
/// once `alloc_vpid`'s search has run out of its step budget: the loop
/// would never end. EINTR is an errno the model never gives a `clone`, so
/// the differential checks report it as a divergence.
pub const NO_EXIT: Errno = Errno::EINTR;

/// `__is_virtual_pid`: the number has the VPID bit.
pub fn is_virtual_nr(nr: i64) -> bool {
    nr & VPID_DIV != 0
}

/// Every pid of the system and the VPS's mapping. It lives behind the
/// VPS's one lock, which stands for the patch's `pidmap_lock` and
/// `tasklist_lock` together.
#[derive(Debug)]
pub(crate) struct VpidPids {
    /// The global pidmap (never a number with the VPID bit).
    global: Pidmap,
    /// The global pids of the live pids of the VPS, by vpid.
    live: BTreeMap<i64, i64>,
    /// The live pids of the VPS by global pid (the pid hash).
    by_nr: BTreeMap<i64, Arc<StructPid>>,
    /// `sparse_vpid(vps)`: set by `switch_to_sparse_mapping`, never cleared.
    sparse: bool,
    /// Whether a pid has had vpid 1 (`vps->init_task` was ever set).
    had_init: bool,
    /// `pid_max`, whether the VPS takes pids, its init.
    pub(crate) ns: OneNs,
    /// The deliberate bug the VPS carries, if any.
    #[cfg_attr(not(feature = "mutants"), allow(dead_code))]
    mutant: MutantSlot,
}

impl VpidPids {
    /// The host with only its init (pid 1) and an empty VPS in linear mode.
    pub(crate) fn new(mutant: MutantSlot) -> VpidPids {
        VpidPids {
            global: Pidmap::global(mutant),
            live: BTreeMap::new(),
            by_nr: BTreeMap::new(),
            sparse: false,
            had_init: false,
            ns: OneNs::new(),
            mutant,
        }
    }

    /// The global pid of the live pid with vpid `v`.
    fn nr_of(&self, v: i64) -> Option<i64> {
        self.live.get(&v).copied()
    }

    /// The global pid of a live pid.
    pub(crate) fn global_nr(&self, pid: &StructPid) -> Option<i64> {
        let nr = self.nr_of(pid.numbers().first()?.nr)?;
        let live = self.by_nr.get(&nr)?;
        std::ptr::eq(Arc::as_ptr(live), pid).then_some(nr)
    }

    /// `find_pid` of a number the VPS passes: `vpid_to_pid` as the patch
    /// means it, then the pid hash. Vpid 1 is the init and a virtual number
    /// is a live pid's vpid (linear or mapped); a number without the VPID
    /// bit is a global pid, accepted when its pid is in the VPS (the host's
    /// are not). A number `<= 0` names nothing ("User gave bad pid. It is
    /// his problem.").
    pub(crate) fn find(&self, v: i64) -> Option<Arc<StructPid>> {
        let nr = match v {
            ..=0 => return None,
            1 => self.nr_of(1)?,
            v if is_virtual_nr(v) => self.nr_of(v)?,
            v => v,
        };
        self.by_nr.get(&nr).cloned()
    }

    /// `alloc_pid` then `alloc_vpid` for a new task of the VPS. `set_tid[0]`
    /// is the requested vpid: 1 or a number with the VPID bit below
    /// `pid_max` (EINVAL), asked for with checkpoint/restore rights (EPERM),
    /// checked before the global pid is taken. The VPS's first pid is its
    /// init, with vpid 1. A failure after the global allocation gives the
    /// pid back, but not `last_pid`. A `set_tid[1]` would choose the global
    /// pid, which the VPS cannot: [`AllocError::HostLevel`]. `set_tid` has
    /// at most two entries (the caller checks R17). `make` builds
    /// the `StructPid` of a vpid.
    pub(crate) fn alloc(
        &mut self,
        set_tid: &[i64],
        privileged: bool,
        make: impl FnOnce(i64) -> Arc<StructPid>,
    ) -> Result<Arc<StructPid>, AllocError> {
        let mut want = set_tid.first().copied();
        if let Some(v) = want {
            if v < 1 || v >= self.ns.pid_max || (v != 1 && !is_virtual_nr(v)) {
                return Err(Errno::EINVAL.into());
            }
            if !privileged {
                return Err(Errno::EPERM.into());
            }
        }
        if set_tid.len() == 2 {
            return Err(AllocError::HostLevel);
        }
        if !self.had_init {
            want = Some(want.unwrap_or(1));
        }
        let nr = self.alloc_global().ok_or(Errno::EAGAIN)?;
        if !self.ns.adding {
            self.global.free(nr);
            return Err(Errno::ENOMEM.into()); // R13: init has died.
        }
        match self.alloc_vpid(nr, want) {
            Ok(vnr) => {
                let pid = make(vnr);
                self.live.insert(vnr, nr);
                self.by_nr.insert(nr, pid.clone());
                self.had_init |= vnr == 1;
                Ok(pid)
            }
            Err(e) => {
                self.global.free(nr);
                Err(e.into())
            }
        }
    }

    /// `alloc_pidmap`: the first free global pid without the VPID bit.
    fn alloc_global(&mut self) -> Option<i64> {
        let pid_max = self.ns.pid_max;
        if mutant!(self, VpidOffset) {
            return self.global.alloc_marking_skipped(
                pid_max,
                |n| !is_virtual_nr(n),
                |n| n + VPID_DIV,
            );
        }
        self.global.alloc(pid_max, |n| !is_virtual_nr(n))
    }

    /// `alloc_vpid(pid, virt_pid)` for a new pid with global pid `nr`;
    /// `want` is `virt_pid` (`None` for -1).
    fn alloc_vpid(&mut self, nr: i64, want: Option<i64>) -> Result<i64, Errno> {
        if !self.sparse {
            match want {
                None => return Ok(nr + VPID_DIV),
                // The patch accepts 1 as it is; here a second init is EEXIST.
                Some(1) if self.live.contains_key(&1) => return Err(Errno::EEXIST),
                Some(1) => return Ok(1),
                Some(v) if v == nr + VPID_DIV => return Ok(v),
                // `switch_to_sparse_mapping`: every live pid of the VPS is
                // already in `live`, so the mapping is complete at once.
                Some(_) => self.sparse = true,
            }
        }
        let mut result = want.unwrap_or(nr + VPID_DIV);
        if self.live.contains_key(&result) {
            if want.is_some() {
                return Err(Errno::EEXIST);
            }
            result = self.search(result)?;
            // "set last_pid in hope future alloc_pidmap to avoid collisions"
            self.global.last = result - VPID_DIV;
        }
        Ok(result)
    }

    /// The "weak place" of `alloc_vpid`: the next free vpid after `taken`,
    /// going up to `pid_max` and then once from `RESERVED_PIDS + VPID_DIV`
    /// back to `taken`; EAGAIN when every one of them is taken (the
    /// patch's loop never ends there: the mutant `VpidSearchNoExit`).
    fn search(&self, taken: i64) -> Result<i64, Errno> {
        let lo = RESERVED_PIDS + VPID_DIV;
        let pid_max = self.ns.pid_max;
        let free = |v: &i64| is_virtual_nr(*v) && !self.live.contains_key(v);
        if mutant!(self, VpidSearchNoExit) {
            return self.search_without_exit(taken, lo, free);
        }
        (taken + 1..pid_max)
            .find(free)
            .or_else(|| (lo..(taken + 1).min(pid_max)).find(free))
            .ok_or(Errno::EAGAIN)
    }

    /// pid B18, the patch's loop: `do { result++; if (result >= pid_max)
    /// result = RESERVED_PIDS + VPID_DIV; } while (taken(result))`, with no
    /// exit. It stops after twice `pid_max` steps, more than one full cycle
    /// of the virtual range takes, so a loop still running then would run
    /// forever: the call gives up with [`NO_EXIT`].
    fn search_without_exit(
        &self,
        taken: i64,
        lo: i64,
        free: impl Fn(&i64) -> bool,
    ) -> Result<i64, Errno> {
        let mut result = taken;
        for _ in 0..2 * self.ns.pid_max {
            result += 1;
            if result >= self.ns.pid_max {
                result = lo;
            }
            if free(&result) {
                return Ok(result);
            }
        }
        Err(NO_EXIT)
    }

    /// `detach_pid`'s `__free_vpid` then `free_pidmap`: the vpid's mapping
    /// goes, then the global pid.
    pub(crate) fn free(&mut self, pid: &StructPid) {
        let Some(nr) = self.global_nr(pid) else {
            return;
        };
        self.live.remove(&pid.numbers()[0].nr);
        self.by_nr.remove(&nr);
        self.global.free(nr);
    }

    /// The pidmap whose `last_pid` is `kernel.ns_last_pid`: the system's
    /// one global `last_pid`.
    pub(crate) fn last_pid_map(&mut self) -> &mut Pidmap {
        &mut self.global
    }
}
