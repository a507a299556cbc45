//! The pid numbers of Linux 6.18 as a [`Spec`]: a small tree of PID
//! namespaces, `alloc_pid` (a fork or a clone3 with `set_tid`), `free_pid`,
//! `find_pid_ns`, the sysctls `kernel.ns_last_pid` and `kernel.pid_max`, and
//! `disable_pid_allocation` (init's death).
//!
//! Each call is one atomic step, except `alloc_pid` and `free_pid`.
//! `alloc_pid` is as many steps as Linux has critical sections (`pid-semantics.md` §1.3, §1.11), each a
//! step of its own that the checker may place between the steps of other
//! calls ([`Spec::advance`]):
//!
//! 1. per level, innermost first: the `set_tid` checks (R18, R19; made
//!    without `pidmap_lock`, on `READ_ONCE` values), then the reservation
//!    under the lock (`idr_alloc`, R20, or `idr_alloc_cyclic`, R2–R7): a
//!    reserved number is taken but not found;
//! 2. the publication of every level at once, after the `PIDNS_ADDING`
//!    check (R13): a lookup finds every level of the new pid or none;
//! 3. on a failure, the rollback (`out_free`): every reserved number is
//!    given back and, if the namespace holds no pid and may still add
//!    some, its cursor goes back to 0 (R15).
//!
//! So an `ns_last_pid` write is linearizable with each level's reservation
//! of a concurrent fork, the rule `concurrent/src/pid/mod.rs` documents;
//! with one level, a fork is linearizable as a whole.
//!
//! `free_pid` is two steps: the pid leaves every level's table at once (no
//! lookup finds it any more), then its numbers are given back, at a point
//! of the specification's choosing. In between, a lookup misses the pid
//! while a fork still finds its numbers taken: the window Linux 6.15+ has
//! between a task's detach and `free_pids` (`pid-semantics.md` §3 B14:
//! "number release may lag task detach; never precede it"), which the
//! implementation has between unpublishing a pid and giving back its
//! numbers. Linux's own `find_pid_ns` has no such window (it removes every
//! level from its idr in one `pidmap_lock` hold), so this is the weaker
//! rule of the two, the one a task sees. The implementation gives the
//! numbers back level by level, outermost first; as a fork reserves
//! innermost first, that is linearizable with one step for every level.
//!
//! Every step follows the sequential model (`nscheck-model`'s `pid.rs`,
//! whose rules it cites); run back to back, the steps of a call give the
//! model's result, which the tests below check against the model's
//! `Kernel` on forks, `set_tid` clones and the sysctls. Every allocation is
//! privileged (`checkpoint_restore_ns_capable` holds at every level), so
//! EPERM (R21) is out of scope.

use std::collections::{BTreeMap, BTreeSet};

use nscheck_model::Errno;

use crate::lin::Spec;

/// `RESERVED_PIDS`: once the cursor passes it, numbers below it are skipped.
pub const RESERVED_PIDS: i64 = 300;
/// `pid_max_min` on a 2-CPU machine.
pub const PID_MAX_MIN: i64 = RESERVED_PIDS + 1;
/// `PID_MAX_LIMIT` on 64-bit, and the `pid_max` of a new namespace (R9).
pub const PID_MAX_LIMIT: i64 = 4 * 1024 * 1024;

/// A namespace of the tree, by index: 0 is the first, and the others are
/// numbered in the order the tree lists them ([`PidSpec::new`]).
pub type NsIdx = usize;

/// A call on the pid numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PidCall {
    /// `alloc_pid(ns, set_tid)`: a fork (`set_tid` empty) or a clone3 whose
    /// innermost level is `ns`.
    Alloc { ns: NsIdx, set_tid: Vec<i64> },
    /// The last unlink of the pid whose number in `ns` is `nr`
    /// (`free_pid`).
    Free { ns: NsIdx, nr: i64 },
    /// `find_pid_ns(nr, ns)`.
    Find { ns: NsIdx, nr: i64 },
    /// Reads `kernel.ns_last_pid` of `ns`.
    LastPid { ns: NsIdx },
    /// Writes `kernel.ns_last_pid` of `ns`.
    SetLastPid { ns: NsIdx, v: i64 },
    /// Reads `kernel.pid_max` of `ns`.
    PidMax { ns: NsIdx },
    /// Writes `kernel.pid_max` of `ns`.
    SetPidMax { ns: NsIdx, v: i64 },
    /// `disable_pid_allocation(ns)`: its init has died.
    Disable { ns: NsIdx },
    /// `ns->child_reaper` is set: `ns` has its init.
    SetReaper { ns: NsIdx },
}

/// What a [`PidCall`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PidRet {
    /// A pid (from `Alloc`, or found by `Find`): its numbers, outermost
    /// first (the `NSpid` line read from the first namespace).
    Pid(Vec<i64>),
    /// `Find` found nothing.
    Missing,
    /// A sysctl's value.
    Val(i64),
    /// A call without a result returned.
    Done,
    /// The call failed.
    Err(Errno),
    /// A `set_tid` entry named the level above the first namespace.
    HostLevel,
}

/// One namespace's state.
#[derive(Clone, Debug)]
struct Ns {
    parent: Option<NsIdx>,
    /// The nesting level; the first namespace is at 1.
    level: usize,
    /// Reserved or published numbers: the idr's keys.
    taken: BTreeSet<i64>,
    /// Published numbers and their pids: what `idr_find` finds.
    published: BTreeMap<i64, usize>,
    /// `idr_next`; `ns_last_pid` reads `cursor - 1`.
    cursor: i64,
    pid_max: i64,
    /// `PIDNS_ADDING`.
    adding: bool,
    /// Whether `child_reaper` is set.
    reaper: bool,
}

/// Where an allocation in progress is.
#[derive(Clone, Debug)]
enum Phase {
    /// At level `k` (0 is the innermost): checks its `set_tid` entry next,
    /// or reserves a cyclic number if it has none.
    Level,
    /// At level `k`: its `set_tid` entry passed the checks; reserves it.
    Checked,
    /// Every level is reserved; publishes next.
    Publish,
    /// Failed with this result; rolls back next.
    Failed(PidRet),
}

/// An `alloc_pid` in progress.
#[derive(Clone, Debug)]
struct Alloc {
    ns: NsIdx,
    set_tid: Vec<i64>,
    /// The level reached, counted outwards from `ns`.
    k: usize,
    /// The namespace of level `k`; `None` past the first namespace.
    at: Option<NsIdx>,
    /// The numbers reserved so far, innermost first.
    reserved: Vec<(NsIdx, i64)>,
    phase: Phase,
}

/// The pid numbers of a small tree of namespaces, and the allocations in
/// progress, by thread.
#[derive(Clone, Debug)]
pub struct PidSpec {
    nss: Vec<Ns>,
    /// Every pid's numbers, outermost first, by pid index; a freed pid
    /// keeps them.
    pids: Vec<Vec<(NsIdx, i64)>>,
    /// The pids whose numbers are in use.
    live: BTreeSet<usize>,
    inflight: BTreeMap<usize, InFlight>,
}

/// A call in progress.
#[derive(Clone, Debug)]
enum InFlight {
    Alloc(Alloc),
    /// A `free_pid` that has unpublished the pid: its numbers, to give
    /// back.
    Free(Vec<(NsIdx, i64)>),
}

impl PidSpec {
    /// A tree of fresh namespaces: `parents[i]` is the parent of namespace
    /// `i + 1`, an earlier one; namespace 0 is the first.
    pub fn new(parents: &[NsIdx]) -> PidSpec {
        let mut nss = vec![Ns::fresh(None, 1)];
        for (i, &p) in parents.iter().enumerate() {
            assert!(p <= i, "a parent comes before its children");
            let level = nss[p].level + 1;
            nss.push(Ns::fresh(Some(p), level));
        }
        PidSpec {
            nss,
            pids: Vec::new(),
            live: BTreeSet::new(),
            inflight: BTreeMap::new(),
        }
    }

    /// The numbers of pid `id`, outermost first.
    fn numbers(&self, id: usize) -> PidRet {
        PidRet::Pid(self.pids[id].iter().map(|&(_, nr)| nr).collect())
    }

    /// One step of `thread`'s allocation in progress, `a`; the result once
    /// it has one.
    fn alloc_step(&mut self, thread: usize, mut a: Alloc) -> Option<PidRet> {
        match std::mem::replace(&mut a.phase, Phase::Level) {
            Phase::Level => match (a.at, a.set_tid.get(a.k)) {
                (None, _) if a.k < a.set_tid.len() => a.phase = Phase::Failed(PidRet::HostLevel),
                (None, _) => a.phase = Phase::Publish,
                (Some(ns), Some(&tid)) => {
                    let n = &self.nss[ns];
                    a.phase = if tid < 1 || tid >= n.pid_max || (tid != 1 && !n.reaper) {
                        Phase::Failed(PidRet::Err(Errno::EINVAL)) // R18, R19
                    } else {
                        Phase::Checked
                    };
                }
                (Some(ns), None) => match self.nss[ns].cyclic() {
                    Some(nr) => a.reserved(nr, self.nss[ns].parent),
                    None => a.phase = Phase::Failed(PidRet::Err(Errno::EAGAIN)), // R4, R8
                },
            },
            Phase::Checked => {
                let ns = a.at.expect("a level");
                let tid = a.set_tid[a.k];
                // R20: taken, published or only reserved; R22: the cursor
                // does not move.
                if self.nss[ns].taken.insert(tid) {
                    a.reserved(tid, self.nss[ns].parent);
                } else {
                    a.phase = Phase::Failed(PidRet::Err(Errno::EEXIST));
                }
            }
            Phase::Publish => {
                if !self.nss[a.ns].adding {
                    a.phase = Phase::Failed(PidRet::Err(Errno::ENOMEM)); // R13
                } else {
                    let id = self.pids.len();
                    let numbers: Vec<_> = a.reserved.iter().rev().copied().collect();
                    for &(ns, nr) in &numbers {
                        self.nss[ns].published.insert(nr, id);
                    }
                    self.pids.push(numbers);
                    self.live.insert(id);
                    return Some(self.numbers(id));
                }
            }
            Phase::Failed(ret) => {
                for &(ns, nr) in &a.reserved {
                    self.nss[ns].taken.remove(&nr);
                }
                // R15: a failed first pid leaves 1 for init.
                let n = &mut self.nss[a.ns];
                if n.adding && n.published.is_empty() {
                    n.cursor = 0;
                }
                return Some(ret);
            }
        }
        self.inflight.insert(thread, InFlight::Alloc(a));
        None
    }
}

impl Alloc {
    /// Level `k` reserved `nr`; on to the next level out.
    fn reserved(&mut self, nr: i64, parent: Option<NsIdx>) {
        self.reserved.push((self.at.expect("a level"), nr));
        self.at = parent;
        self.k += 1;
        self.phase = Phase::Level;
    }
}

impl Ns {
    fn fresh(parent: Option<NsIdx>, level: usize) -> Ns {
        Ns {
            parent,
            level,
            taken: BTreeSet::new(),
            published: BTreeMap::new(),
            cursor: 0,
            pid_max: PID_MAX_LIMIT, // R9
            adding: true,
            reaper: false,
        }
    }

    /// `idr_alloc_cyclic(pid_min, pid_max)` (R2–R7), as the model's
    /// `Pids::cyclic`: the first free number at or after the cursor, then
    /// from `pid_min` once; reserved, and the cursor moves past it.
    fn cyclic(&mut self) -> Option<i64> {
        let start = if self.cursor > RESERVED_PIDS {
            RESERVED_PIDS
        } else {
            1
        };
        let from = self.cursor.max(start);
        let free = |nr: &i64| !self.taken.contains(nr);
        let nr = (from..self.pid_max)
            .find(free)
            .or_else(|| (start..from.min(self.pid_max)).find(free))?;
        self.taken.insert(nr);
        self.cursor = nr + 1;
        Some(nr)
    }
}

impl Spec for PidSpec {
    type Call = PidCall;
    type Ret = PidRet;

    fn step(
        &mut self,
        thread: usize,
        call: &PidCall,
        _resumed: &mut Vec<(usize, PidRet)>,
    ) -> Result<Option<PidRet>, String> {
        if self.inflight.contains_key(&thread) {
            return Err(format!("t{thread} has a call in progress"));
        }
        Ok(Some(match *call {
            PidCall::Alloc { ns, ref set_tid } => {
                if set_tid.len() > self.nss[ns].level + 1 {
                    return Ok(Some(PidRet::Err(Errno::EINVAL))); // R17
                }
                let a = Alloc {
                    ns,
                    set_tid: set_tid.clone(),
                    k: 0,
                    at: Some(ns),
                    reserved: Vec::new(),
                    phase: Phase::Level,
                };
                return Ok(self.alloc_step(thread, a));
            }
            PidCall::Free { ns, nr } => {
                let id = *self.nss[ns]
                    .published
                    .get(&nr)
                    .ok_or_else(|| format!("no pid has {nr} in namespace {ns}"))?;
                for &(n, nr) in &self.pids[id] {
                    self.nss[n].published.remove(&nr);
                }
                self.live.remove(&id);
                let numbers = self.pids[id].clone();
                self.inflight.insert(thread, InFlight::Free(numbers));
                return Ok(None);
            }
            PidCall::Find { ns, nr } => match self.nss[ns].published.get(&nr) {
                Some(&id) => self.numbers(id),
                None => PidRet::Missing,
            },
            PidCall::LastPid { ns } => PidRet::Val(self.nss[ns].cursor - 1),
            PidCall::SetLastPid { ns, v } => {
                let n = &mut self.nss[ns];
                if (0..=n.pid_max).contains(&v) {
                    n.cursor = v + 1; // R3, R6
                    PidRet::Done
                } else {
                    PidRet::Err(Errno::EINVAL)
                }
            }
            PidCall::PidMax { ns } => PidRet::Val(self.nss[ns].pid_max),
            PidCall::SetPidMax { ns, v } => {
                if (PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
                    self.nss[ns].pid_max = v; // R10
                    PidRet::Done
                } else {
                    PidRet::Err(Errno::EINVAL)
                }
            }
            PidCall::Disable { ns } => {
                self.nss[ns].adding = false; // R13
                PidRet::Done
            }
            PidCall::SetReaper { ns } => {
                self.nss[ns].reaper = true;
                PidRet::Done
            }
        }))
    }

    fn advance(
        &mut self,
        thread: usize,
        resumed: &mut Vec<(usize, PidRet)>,
    ) -> Option<Result<(), String>> {
        let ret = match self.inflight.remove(&thread)? {
            InFlight::Alloc(a) => self.alloc_step(thread, a),
            InFlight::Free(numbers) => {
                for (n, nr) in numbers {
                    self.nss[n].taken.remove(&nr);
                }
                Some(PidRet::Done)
            }
        };
        if let Some(ret) = ret {
            resumed.push((thread, ret));
        }
        Some(Ok(()))
    }

    fn key(&self) -> String {
        // Freed pids matter only through what is live; the pid indices do
        // not matter at all, so a pid is keyed by its numbers.
        let ns: Vec<_> = self
            .nss
            .iter()
            .map(|n| {
                let published: Vec<_> = n
                    .published
                    .iter()
                    .map(|(nr, &id)| (nr, &self.pids[id]))
                    .collect();
                (&n.taken, published, n.cursor, n.pid_max, n.adding, n.reaper)
            })
            .collect();
        format!("{ns:?} {:?}", self.inflight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lin::{Entry, check};
    use nscheck_model::{Dialect, Kernel, Outcome, Step, Syscall, Sysctl, TaskId};

    /// Runs `calls` one after the other on thread 0, each to its end.
    fn run(spec: &mut PidSpec, calls: &[PidCall]) -> Vec<PidRet> {
        calls
            .iter()
            .map(|c| {
                let mut resumed = Vec::new();
                let mut ret = spec.step(0, c, &mut resumed).expect("accepted");
                while ret.is_none() {
                    spec.advance(0, &mut resumed).expect("a step").expect("ok");
                    ret = resumed.pop().map(|r| r.1);
                }
                ret.expect("a result")
            })
            .collect()
    }

    fn alloc(ns: NsIdx, set_tid: &[i64]) -> PidCall {
        PidCall::Alloc {
            ns,
            set_tid: set_tid.to_vec(),
        }
    }

    /// The model's kernel on one task, `t0`: its outcome as a [`PidRet`].
    fn model(k: &mut Kernel, call: Syscall) -> PidRet {
        match k.call(TaskId(0), &call) {
            Ok(Step::Done(o)) => match o.errno() {
                Some(e) => PidRet::Err(e),
                None => match o {
                    Outcome {
                        ret: nscheck_model::Ret::Val(v),
                        ..
                    } => PidRet::Val(v),
                    other => panic!("{other:?}"),
                },
            },
            other => panic!("{call:?}: {other:?}"),
        }
    }

    /// The model's `t0` is init of the first namespace, with pid 1; each
    /// of its forks and clones makes a child that stays. The same calls,
    /// run back to back on the specification, give the same numbers and
    /// errnos.
    #[test]
    fn back_to_back_steps_give_the_models_results() {
        let mut k = Kernel::new(Dialect::Mainline);
        let mut spec = PidSpec::new(&[]);
        run(&mut spec, &[alloc(0, &[]), PidCall::SetReaper { ns: 0 }]);
        let sysctl = |name, value| Syscall::Sysctl { name, value };
        let clone = |set_tid: &[i64]| Syscall::Clone {
            flags: 0,
            set_tid: set_tid.to_vec(),
        };
        let cases: Vec<(Syscall, PidCall)> = vec![
            (Syscall::Fork, alloc(0, &[])),
            (clone(&[2]), alloc(0, &[2])),
            (clone(&[5]), alloc(0, &[5])),
            (Syscall::Fork, alloc(0, &[])),
            (clone(&[0]), alloc(0, &[0])),
            (clone(&[1, 2]), alloc(0, &[1, 2])),
            (sysctl(Sysctl::NsLastPid, None), PidCall::LastPid { ns: 0 }),
            (
                sysctl(Sysctl::PidMax, Some(400)),
                PidCall::SetPidMax { ns: 0, v: 400 },
            ),
            (
                sysctl(Sysctl::PidMax, Some(300)),
                PidCall::SetPidMax { ns: 0, v: 300 },
            ),
            (
                sysctl(Sysctl::NsLastPid, Some(401)),
                PidCall::SetLastPid { ns: 0, v: 401 },
            ),
            (
                sysctl(Sysctl::NsLastPid, Some(398)),
                PidCall::SetLastPid { ns: 0, v: 398 },
            ),
            (Syscall::Fork, alloc(0, &[])),
            (Syscall::Fork, alloc(0, &[])),
            (Syscall::Fork, alloc(0, &[])),
            (clone(&[399]), alloc(0, &[399])),
            (clone(&[400]), alloc(0, &[400])),
            (sysctl(Sysctl::NsLastPid, None), PidCall::LastPid { ns: 0 }),
            (sysctl(Sysctl::PidMax, None), PidCall::PidMax { ns: 0 }),
        ];
        for (syscall, call) in cases {
            let want = model(&mut k, syscall.clone());
            let got = match run(&mut spec, &[call])[0].clone() {
                PidRet::Pid(nrs) => PidRet::Val(nrs[0]),
                PidRet::Done => PidRet::Val(0),
                other => other,
            };
            assert_eq!(got, want, "{syscall:?}");
        }
    }

    #[test]
    fn a_failed_first_pid_leaves_1_for_init_and_levels_roll_back() {
        let mut spec = PidSpec::new(&[0]);
        let got = run(
            &mut spec,
            &[
                alloc(0, &[]),
                PidCall::SetPidMax { ns: 0, v: 301 },
                PidCall::SetLastPid { ns: 0, v: 300 },
                alloc(0, &[]),
                // Level 0 is full: the inner 1 is given back and the inner
                // cursor reset.
                alloc(1, &[]),
                PidCall::LastPid { ns: 1 },
                PidCall::Find { ns: 1, nr: 1 },
                PidCall::Free { ns: 0, nr: 300 },
                alloc(1, &[]),
                PidCall::Disable { ns: 1 },
                alloc(1, &[]),
                PidCall::LastPid { ns: 1 },
                alloc(1, &[1, 300, 7]),
            ],
        );
        use PidRet::*;
        assert_eq!(
            got,
            [
                Pid(vec![1]),
                Done,
                Done,
                Pid(vec![300]),
                Err(Errno::EAGAIN),
                Val(-1),
                Missing,
                Done,
                Pid(vec![300, 1]),
                Done,
                Err(Errno::EAGAIN),
                Val(2),
                Err(Errno::EEXIST),
            ]
        );
    }

    /// The `ns_last_pid` rule: a fork in a nested namespace whose inner
    /// level is reserved before a write of the inner `ns_last_pid` and
    /// whose outer level after a later write of the outer one is
    /// linearizable, though no order of the three calls as wholes gives it.
    #[test]
    fn ns_last_pid_writes_are_linearizable_with_each_level() {
        let mut spec = PidSpec::new(&[0]);
        run(&mut spec, &[alloc(0, &[]), PidCall::SetReaper { ns: 0 }]);
        let h = vec![
            Entry::new(1, alloc(1, &[]), 0, 9, PidRet::Pid(vec![11, 1])),
            Entry::new(0, PidCall::SetLastPid { ns: 1, v: 20 }, 1, 2, PidRet::Done),
            Entry::new(0, PidCall::SetLastPid { ns: 0, v: 10 }, 3, 4, PidRet::Done),
        ];
        check(&spec, &h).expect("each level of the fork on its own");
        // A lookup at either level sees every level or none.
        let torn = vec![
            Entry::new(1, alloc(1, &[]), 0, 9, PidRet::Pid(vec![2, 1])),
            Entry::new(
                0,
                PidCall::Find { ns: 0, nr: 2 },
                1,
                2,
                PidRet::Pid(vec![2, 1]),
            ),
            Entry::new(0, PidCall::Find { ns: 1, nr: 1 }, 3, 4, PidRet::Missing),
        ];
        check(&spec, &torn).expect_err("publication is atomic");
    }

    /// `free_pid` gives the numbers back after it unpublishes the pid: a
    /// lookup may miss the pid while a fork still finds its number taken,
    /// but a pid that reuses the number stays found.
    #[test]
    fn numbers_come_back_after_the_pid_leaves_the_tables() {
        let mut spec = PidSpec::new(&[]);
        run(
            &mut spec,
            &[
                alloc(0, &[]),
                PidCall::SetPidMax { ns: 0, v: 301 },
                PidCall::SetLastPid { ns: 0, v: 299 },
                alloc(0, &[]),
            ],
        );
        let h = |ret| {
            vec![
                Entry::new(1, PidCall::Free { ns: 0, nr: 300 }, 0, 9, PidRet::Done),
                Entry::new(0, PidCall::Find { ns: 0, nr: 300 }, 1, 2, PidRet::Missing),
                Entry::new(0, alloc(0, &[]), 3, 4, ret),
            ]
        };
        check(&spec, &h(PidRet::Pid(vec![300]))).expect("reused");
        check(&spec, &h(PidRet::Err(Errno::EAGAIN))).expect("not given back yet");
        let early = vec![
            Entry::new(1, PidCall::Free { ns: 0, nr: 300 }, 0, 9, PidRet::Done),
            Entry::new(0, alloc(0, &[]), 1, 2, PidRet::Pid(vec![300])),
            Entry::new(0, PidCall::Find { ns: 0, nr: 300 }, 10, 11, PidRet::Missing),
        ];
        check(&spec, &early).expect_err("the new pid is lost");
    }
}
