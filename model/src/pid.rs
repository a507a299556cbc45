//! PID namespaces and `struct pid`: allocation, lookup and translation.
//!
//! This file is the specification of how numbers are handed out and seen
//! (Linux 6.18 `kernel/pid.c`, `kernel/pid_namespace.c`, `lib/idr.c`), as
//! tabulated in `pid-semantics.md` §1; its rule numbers (R1…R29 of §1.12)
//! are cited where they apply. What tasks do with the numbers (fork, exit,
//! sessions) is in `kernel.rs`.
//!
//! Levels: the script's first namespace (the one `t0` is init of) sits at
//! level 1, right below the host's namespace, which the model leaves out: a
//! script can never see or change it.

use std::collections::BTreeMap;

use crate::abi::Errno;
use crate::rules::Rule;
use crate::syscall::TaskId;

/// A PID namespace, by index.
pub(crate) type NsId = usize;
/// A `struct pid`, by index. Pids are never deleted, so a stale reference
/// (`msg_lspid`, say) still reads its old numbers, as `pid_vnr` does.
pub(crate) type PidId = usize;

/// `MAX_PID_NS_LEVEL`: the deepest namespace level.
pub(crate) const MAX_PID_NS_LEVEL: usize = 32;
/// `RESERVED_PIDS`: once the cursor passes it, numbers below it are skipped.
pub(crate) const RESERVED_PIDS: i64 = 300;
/// `pid_max_min` on a 2-CPU machine: `max(RESERVED_PIDS + 1, 8 * 2)`.
pub(crate) const PID_MAX_MIN: i64 = RESERVED_PIDS + 1;
/// `PID_MAX_LIMIT` on 64-bit, and the `pid_max` of a new namespace (R9).
pub(crate) const PID_MAX_LIMIT: i64 = 4 * 1024 * 1024;
/// The level of the script's first namespace.
pub(crate) const ROOT_LEVEL: usize = 1;

/// `struct pid_namespace`.
#[derive(Clone, Debug)]
pub(crate) struct PidNs {
    /// The nesting level (the script's first namespace is [`ROOT_LEVEL`]).
    pub level: usize,
    pub parent: Option<NsId>,
    /// The idr: number → pid.
    ids: BTreeMap<i64, PidId>,
    /// `idr_next`; `ns_last_pid` reads `cursor - 1`.
    cursor: i64,
    /// `kernel.pid_max` of this namespace.
    pub pid_max: i64,
    /// `PIDNS_ADDING`: cleared for good when init dies.
    adding: bool,
    /// The task with number 1, once it exists.
    pub child_reaper: Option<TaskId>,
}

/// `struct pid`: one number per level, outermost first.
#[derive(Clone, Debug)]
pub(crate) struct Pid {
    /// `numbers[i]` is the number at level `ROOT_LEVEL + i`.
    numbers: Vec<(NsId, i64)>,
}

/// Every namespace and pid of the system.
#[derive(Clone, Debug)]
pub(crate) struct Pids {
    nss: Vec<PidNs>,
    pids: Vec<Pid>,
}

impl Pids {
    /// The script's first namespace, empty.
    pub fn new() -> Pids {
        Pids {
            nss: vec![PidNs {
                level: ROOT_LEVEL,
                parent: None,
                ids: BTreeMap::new(),
                cursor: 0,
                pid_max: PID_MAX_LIMIT,
                adding: true,
                child_reaper: None,
            }],
            pids: Vec::new(),
        }
    }

    /// The script's first namespace.
    pub fn root(&self) -> NsId {
        0
    }

    pub fn ns(&self, ns: NsId) -> &PidNs {
        &self.nss[ns]
    }

    pub fn ns_mut(&mut self, ns: NsId) -> &mut PidNs {
        &mut self.nss[ns]
    }

    /// `create_pid_namespace`: a child of `parent`; ENOSPC past level 32 (R29).
    pub fn create_ns(&mut self, parent: NsId) -> Result<NsId, Errno> {
        let level = self.nss[parent].level + 1;
        if level > MAX_PID_NS_LEVEL {
            hit!(PidR29);
            return Err(Errno::ENOSPC);
        }
        hit!(PidR9);
        self.nss.push(PidNs {
            level,
            parent: Some(parent),
            ids: BTreeMap::new(),
            cursor: 0,
            pid_max: PID_MAX_LIMIT,
            adding: true,
            child_reaper: None,
        });
        Ok(self.nss.len() - 1)
    }

    /// The namespace a pid was allocated in (its innermost level).
    pub fn owner(&self, pid: PidId) -> NsId {
        self.pids[pid].numbers.last().expect("a pid has a number").0
    }

    /// `pid_nr_ns`: the number of `pid` in `ns`, 0 where it has none (§1.6).
    pub fn nr_in(&self, pid: PidId, ns: NsId) -> i64 {
        let i = self.nss[ns].level - ROOT_LEVEL;
        match self.pids[pid].numbers.get(i) {
            Some(&(n, nr)) if n == ns => nr,
            _ => 0,
        }
    }

    /// `find_pid_ns`: the pid that holds `nr` in `ns`.
    pub fn find(&self, ns: NsId, nr: i64) -> Option<PidId> {
        self.nss[ns].ids.get(&nr).copied()
    }

    /// `alloc_pid(ns, set_tid)` (§1.3): reserves a number at every level,
    /// innermost first, checking each level's rules before the next; on any
    /// error the levels already reserved are given back (R23).
    /// `privileged(ns)` is `checkpoint_restore_ns_capable` for that level.
    /// A `set_tid` entry for the host's level, which the model leaves out,
    /// gives `Err(None)`.
    pub fn alloc(
        &mut self,
        ns: NsId,
        set_tid: &[i64],
        privileged: impl Fn(NsId) -> bool,
    ) -> Result<PidId, Option<Errno>> {
        if set_tid.len() > self.nss[ns].level + 1 {
            hit!(PidR17);
            return Err(Some(Errno::EINVAL));
        }
        let mut reserved: Vec<(NsId, i64)> = Vec::new();
        let mut tmp = Some(ns);
        let mut k = 0;
        let result = loop {
            let Some(level_ns) = tmp else {
                break if k < set_tid.len() { Err(None) } else { Ok(()) };
            };
            let n = &self.nss[level_ns];
            let nr = match set_tid.get(k) {
                Some(&tid) => {
                    if tid < 1 || tid >= n.pid_max {
                        hit!(PidR18);
                        break Err(Some(Errno::EINVAL));
                    }
                    if tid != 1 && n.child_reaper.is_none() {
                        hit!(PidR19);
                        break Err(Some(Errno::EINVAL));
                    }
                    if !privileged(level_ns) {
                        hit!(PidR21);
                        break Err(Some(Errno::EPERM));
                    }
                    if n.ids.contains_key(&tid) {
                        hit!(PidR20);
                        break Err(Some(Errno::EEXIST));
                    }
                    // The cursor does not move.
                    hit!(PidR22);
                    tid
                }
                None => match self.cyclic(level_ns) {
                    Some(nr) => {
                        hit!(PidR2);
                        nr
                    }
                    None => {
                        // R4 in the namespace itself, R8 at an outer level.
                        hit!(if level_ns == ns {
                            Rule::PidR4
                        } else {
                            Rule::PidR8
                        });
                        break Err(Some(Errno::EAGAIN));
                    }
                },
            };
            // A reserved number is invisible, but taken: a placeholder.
            self.nss[level_ns].ids.insert(nr, usize::MAX);
            reserved.push((level_ns, nr));
            tmp = self.nss[level_ns].parent;
            k += 1;
        };
        let result = result.and_then(|()| {
            if self.nss[ns].adding {
                Ok(())
            } else {
                // Init has died.
                hit!(PidR13);
                Err(Some(Errno::ENOMEM))
            }
        });
        if let Err(e) = result {
            if !reserved.is_empty() {
                hit!(PidR23);
            }
            for (n, nr) in reserved {
                self.nss[n].ids.remove(&nr);
            }
            // A failed first pid resets the cursor, so init still gets 1 (R15).
            if self.nss[ns].adding && self.nss[ns].ids.is_empty() {
                hit!(PidR15);
                self.nss[ns].cursor = 0;
            }
            return Err(e);
        }
        reserved.reverse();
        let id = self.pids.len();
        for &(n, nr) in &reserved {
            self.nss[n].ids.insert(nr, id);
        }
        self.pids.push(Pid { numbers: reserved });
        Ok(id)
    }

    /// `idr_alloc_cyclic(pid_min, pid_max)` (§1.2, R2–R7): the first free
    /// number at or after the cursor, then from `pid_min` once.
    fn cyclic(&mut self, ns: NsId) -> Option<i64> {
        let n = &mut self.nss[ns];
        let start = if n.cursor > RESERVED_PIDS {
            RESERVED_PIDS
        } else {
            1
        };
        let end = n.pid_max;
        let from = n.cursor.max(start);
        let free = |nr: &i64| !n.ids.contains_key(nr);
        let nr = (from..end).find(free).or_else(|| {
            // The wrap: to 300 past it (R7), else to 1 (R5).
            hit!(if start == RESERVED_PIDS {
                Rule::PidR7
            } else {
                Rule::PidR5
            });
            (start..from.min(end)).find(free)
        })?;
        n.cursor = nr + 1;
        Some(nr)
    }

    /// A pid with no number in the model: the host's process group and
    /// session that `t0` starts in (invisible to the script, so 0, as R1 says).
    pub fn outside(&mut self) -> PidId {
        self.pids.push(Pid {
            numbers: Vec::new(),
        });
        self.pids.len() - 1
    }

    /// `free_pid`: gives back the pid's number at every level.
    pub fn free(&mut self, pid: PidId) {
        for &(n, nr) in &self.pids[pid].numbers {
            self.nss[n].ids.remove(&nr);
        }
    }

    /// `disable_pid_allocation`: init has died; later forks get ENOMEM.
    pub fn disable(&mut self, ns: NsId) {
        self.nss[ns].adding = false;
    }

    /// `kernel.ns_last_pid` of `ns`.
    pub fn last_pid(&self, ns: NsId) -> i64 {
        self.nss[ns].cursor - 1
    }

    /// Writes `kernel.ns_last_pid` after its range check (R3, R6).
    pub fn set_last_pid(&mut self, ns: NsId, v: i64) -> Result<(), Errno> {
        check_last_pid(v, self.nss[ns].pid_max)?;
        hit!(PidR3);
        self.nss[ns].cursor = v + 1;
        Ok(())
    }

    /// Writes `kernel.pid_max` after its range check (R10).
    pub fn set_pid_max(&mut self, ns: NsId, v: i64) -> Result<(), Errno> {
        check_pid_max(v)?;
        hit!(PidR10Write);
        self.nss[ns].pid_max = v;
        Ok(())
    }
}

/// The range check of a `kernel.ns_last_pid` write, `[0, pid_max]` (R6),
/// in every dialect.
pub(crate) fn check_last_pid(v: i64, pid_max: i64) -> Result<(), Errno> {
    if (0..=pid_max).contains(&v) {
        Ok(())
    } else {
        hit!(PidR6Einval);
        Err(Errno::EINVAL)
    }
}

/// The range check of a `kernel.pid_max` write (R10), in every dialect.
pub(crate) fn check_pid_max(v: i64) -> Result<(), Errno> {
    if (PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
        Ok(())
    } else {
        hit!(PidR10);
        Err(Errno::EINVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(p: &mut Pids, ns: NsId) -> Result<i64, Errno> {
        p.alloc(ns, &[], |_| true)
            .map(|id| p.nr_in(id, ns))
            .map_err(|e| e.expect("no host level"))
    }

    fn with_tids(p: &mut Pids, ns: NsId, tids: &[i64], privileged: bool) -> Result<PidId, Errno> {
        p.alloc(ns, tids, |_| privileged)
            .map_err(|e| e.expect("no host level"))
    }

    #[test]
    fn numbers_are_cyclic_and_skip_reserved_after_the_first_wrap() {
        let mut p = Pids::new();
        let ns = p.root();
        assert_eq!(alloc(&mut p, ns), Ok(1));
        assert_eq!(alloc(&mut p, ns), Ok(2));
        p.set_pid_max(ns, 400).unwrap();
        p.set_last_pid(ns, 398).unwrap();
        assert_eq!(alloc(&mut p, ns), Ok(399));
        // R7: the wrap goes to 300 because the cursor is past 300.
        assert_eq!(alloc(&mut p, ns), Ok(300));
        assert_eq!(p.last_pid(ns), 300);
    }

    #[test]
    fn a_full_range_above_300_gives_eagain_while_low_numbers_are_free() {
        let mut p = Pids::new();
        let ns = p.root();
        p.set_pid_max(ns, 302).unwrap();
        p.set_last_pid(ns, 299).unwrap();
        assert_eq!(alloc(&mut p, ns), Ok(300));
        assert_eq!(alloc(&mut p, ns), Ok(301));
        // R4: 1..299 are free but unreachable.
        assert_eq!(alloc(&mut p, ns), Err(Errno::EAGAIN));
    }

    #[test]
    fn set_tid_errors_come_innermost_first_and_roll_back() {
        let mut p = Pids::new();
        let root = p.root();
        let init = with_tids(&mut p, root, &[], true).unwrap();
        p.ns_mut(root).child_reaper = Some(TaskId(0));
        let inner = p.create_ns(root).unwrap();
        // R19: no reaper yet in the new namespace, so only 1 is allowed there.
        assert_eq!(with_tids(&mut p, inner, &[5], true), Err(Errno::EINVAL));
        let child = with_tids(&mut p, inner, &[1, 700], true).unwrap();
        assert_eq!((p.nr_in(child, inner), p.nr_in(child, root)), (1, 700));
        assert_eq!(p.nr_in(init, inner), 0);
        p.ns_mut(inner).child_reaper = Some(TaskId(1));
        // R23: {free, taken} fails with EEXIST and gives back the inner number.
        assert_eq!(
            with_tids(&mut p, inner, &[9, 700], true),
            Err(Errno::EEXIST)
        );
        assert_eq!(p.find(inner, 9), None);
        // R21: EPERM comes after the range checks.
        assert_eq!(with_tids(&mut p, inner, &[0], false), Err(Errno::EINVAL));
        assert_eq!(with_tids(&mut p, inner, &[9], false), Err(Errno::EPERM));
        // R17: one entry per level at most (the host's level included).
        assert_eq!(
            with_tids(&mut p, inner, &[1, 2, 3, 4], true),
            Err(Errno::EINVAL)
        );
        // The host's level is outside the model.
        assert_eq!(p.alloc(inner, &[2, 701, 5], |_| true), Err(None));
    }

    #[test]
    fn nesting_stops_at_level_32_and_dead_namespaces_refuse_pids() {
        let mut p = Pids::new();
        let mut ns = p.root();
        for _ in ROOT_LEVEL..MAX_PID_NS_LEVEL {
            ns = p.create_ns(ns).unwrap();
        }
        assert_eq!(p.ns(ns).level, 32);
        assert_eq!(p.create_ns(ns), Err(Errno::ENOSPC));
        p.disable(ns);
        assert_eq!(alloc(&mut p, ns), Err(Errno::ENOMEM));
    }
}
