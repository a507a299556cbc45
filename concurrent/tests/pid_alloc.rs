//! `pid/`: allocation, lookups and translation of `struct pid` numbers.
//!
//! The scenarios are tables of calls and the results the model's rules give
//! (`model/src/pid.rs`, rules R1…R29 of `pid-semantics.md` §1.12, cited on
//! each step), derived by hand: this crate does not depend on the model.
//! Then real threads: two allocators in one namespace never share a number,
//! and readers at the outer level of a nested namespace see every level of
//! a new pid or none.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;

use nscheck_concurrent::Errno;
use nscheck_concurrent::pid::{
    AllocError, MAX_PID_NS_LEVEL, PID_MAX_LIMIT, PidNamespace, ROOT_LEVEL, StructPid, alloc_pid,
};

/// What an allocation should give.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// These numbers, outermost first.
    Numbers(&'static [i64]),
    Err(Errno),
    /// A `set_tid` entry for the level above the tree.
    HostLevel,
}

/// One step of a scenario. Namespaces are named by their index in the
/// scenario (0 is the tree's first), pids by the index of the allocation
/// that made them among the successful ones.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// A child of the namespace.
    NewNs(usize),
    /// `alloc_pid(ns, set_tid)`, with `privileged` for every level.
    Alloc {
        ns: usize,
        tids: &'static [i64],
        privileged: bool,
        want: Want,
    },
    /// The pid's last link goes: its numbers are freed.
    Free(usize),
    /// The namespace has its init.
    Reaper(usize),
    /// The namespace's init has died.
    Disable(usize),
    SetLastPid(usize, i64, Result<(), Errno>),
    LastPid(usize, i64),
    SetPidMax(usize, i64, Result<(), Errno>),
    PidMax(usize, i64),
    /// `find_pid_ns(nr, ns)` gives this pid, or none.
    Find(usize, i64, Option<usize>),
    /// `pid_nr_ns(pid, ns)`.
    Nr(usize, usize, i64),
    /// `pid_vnr(pid)` as the task of the second pid calls it.
    Vnr(usize, usize, i64),
    /// `NSpid` of the pid read from the namespace.
    NsPid(usize, usize, &'static [i64]),
}

use Op::*;

const fn fork(ns: usize, want: &'static [i64]) -> Op {
    Alloc {
        ns,
        tids: &[],
        privileged: true,
        want: Want::Numbers(want),
    }
}

const fn fork_err(ns: usize, e: Errno) -> Op {
    Alloc {
        ns,
        tids: &[],
        privileged: true,
        want: Want::Err(e),
    }
}

const fn tid(ns: usize, tids: &'static [i64], want: Want) -> Op {
    Alloc {
        ns,
        tids,
        privileged: true,
        want,
    }
}

const fn tid_unprivileged(ns: usize, tids: &'static [i64], want: Want) -> Op {
    Alloc {
        ns,
        tids,
        privileged: false,
        want,
    }
}

const OK: Result<(), Errno> = Ok(());
const EINVAL: Result<(), Errno> = Err(Errno::EINVAL);

/// The scenarios: a name and its steps.
const SCENARIOS: &[(&str, &[Op])] = &[
    (
        "R1 R2: a new namespace counts from 1",
        &[
            LastPid(0, -1), // A fresh cursor is 0.
            fork(0, &[1]),
            fork(0, &[2]),
            fork(0, &[3]),
            LastPid(0, 3),
        ],
    ),
    (
        "R7: past pid_max the cursor wraps to 300",
        &[
            fork(0, &[1]),
            fork(0, &[2]),
            SetPidMax(0, 400, OK),
            SetLastPid(0, 398, OK),
            fork(0, &[399]),
            fork(0, &[300]),
            LastPid(0, 300),
        ],
    ),
    (
        "R7: lowering pid_max below the cursor wraps the next fork",
        &[
            fork(0, &[1]),
            SetLastPid(0, 5001, OK),
            fork(0, &[5002]),
            SetPidMax(0, 400, OK),
            fork(0, &[300]),
            Find(0, 5002, Some(1)), // A number above the new limit stays.
        ],
    ),
    (
        "R4: EAGAIN above 300 while low numbers are free",
        &[
            SetPidMax(0, 302, OK),
            SetLastPid(0, 299, OK),
            fork(0, &[300]),
            fork(0, &[301]),
            fork_err(0, Errno::EAGAIN),
            LastPid(0, 301), // The cursor moves only on success.
        ],
    ),
    (
        "R5: from a cursor at or below 300 the wrap reaches 1",
        &[
            fork(0, &[1]),
            Reaper(0),
            fork(0, &[2]),
            fork(0, &[3]),
            SetPidMax(0, 301, OK),
            tid(0, &[300], Want::Numbers(&[300])),
            tid(0, &[299], Want::Numbers(&[299])),
            SetLastPid(0, 298, OK),
            fork(0, &[4]),
            Free(1),
            SetLastPid(0, 298, OK),
            fork(0, &[2]),
        ],
    ),
    (
        "R3 R11: ns_last_pid moves the cursor; a held number is skipped",
        &[
            fork(0, &[1]),
            SetLastPid(0, 0, OK),
            fork(0, &[2]),
            fork(0, &[3]),
            SetLastPid(0, 1000, OK),
            fork(0, &[1001]),
            SetLastPid(0, 499, OK),
            fork(0, &[500]),
            SetLastPid(0, 499, OK),
            fork(0, &[501]),
            Free(4),
            SetLastPid(0, 499, OK),
            fork(0, &[500]),
            LastPid(0, 500),
        ],
    ),
    (
        "R6: ns_last_pid takes [0, pid_max]",
        &[
            SetLastPid(0, -1, EINVAL),
            SetLastPid(0, -2, EINVAL),
            SetLastPid(0, PID_MAX_LIMIT + 1, EINVAL),
            LastPid(0, -1),
            SetLastPid(0, PID_MAX_LIMIT, OK),
            fork(0, &[300]),
            SetPidMax(0, 301, OK),
            SetLastPid(0, 301, OK),
            SetLastPid(0, 302, EINVAL),
            LastPid(0, 301),
            fork_err(0, Errno::EAGAIN), // R4: only 300 is reachable.
        ],
    ),
    (
        "R9 R10: pid_max of a new namespace and its range",
        &[
            SetPidMax(0, 32768, OK),
            PidMax(0, 32768),
            NewNs(0),
            PidMax(1, PID_MAX_LIMIT),
            SetPidMax(0, 300, EINVAL),
            SetPidMax(0, PID_MAX_LIMIT + 1, EINVAL),
            SetPidMax(0, 301, OK),
            SetPidMax(0, 100000, OK),
            PidMax(0, 100000),
        ],
    ),
    (
        "R8 R15: a full outer level fails the inner fork, and init still gets 1",
        &[
            fork(0, &[1]),
            Reaper(0),
            SetPidMax(0, 302, OK),
            SetLastPid(0, 299, OK),
            fork(0, &[300]),
            fork(0, &[301]),
            NewNs(0),
            fork_err(1, Errno::EAGAIN),
            LastPid(1, -1), // R15: the cursor is reset.
            Find(1, 1, None),
            Free(2),
            fork(1, &[301, 1]),
            // Not the first pid any more: a failure keeps the cursor.
            fork_err(1, Errno::EAGAIN),
            LastPid(1, 2),
            Free(1),
            fork(1, &[300, 3]),
        ],
    ),
    (
        "R13: no pid after init's death, and nothing leaks",
        &[
            fork(0, &[1]),
            Reaper(0),
            NewNs(0),
            tid(1, &[1], Want::Numbers(&[2, 1])), // R19: 1 needs no init.
            Reaper(1),
            Disable(1),
            fork_err(1, Errno::ENOMEM),
            tid(1, &[7], Want::Err(Errno::ENOMEM)),
            Find(0, 3, None),
            Find(1, 2, None),
            Find(1, 1, Some(1)),
            // Both levels were reserved before the check, so both cursors
            // moved: the inner one past 2, the outer one past 4.
            LastPid(1, 2),
            fork(0, &[5]),
        ],
    ),
    (
        "R17: one set_tid entry per level, the host's included",
        &[
            tid(0, &[1, 2, 3], Want::Err(Errno::EINVAL)),
            tid(0, &[1, 5], Want::HostLevel),
            Find(0, 1, None),
            fork(0, &[1]),
        ],
    ),
    (
        "R18-R23: set_tid checks, innermost first, with rollback",
        &[
            fork(0, &[1]),
            Reaper(0),
            NewNs(0),
            tid(1, &[5], Want::Err(Errno::EINVAL)), // R19: no init yet.
            tid(1, &[1, 700], Want::Numbers(&[700, 1])),
            Reaper(1),
            tid(1, &[9, 700], Want::Err(Errno::EEXIST)), // R20
            Find(1, 9, None),                            // R23: 9 is given back.
            tid(1, &[10, -1], Want::Err(Errno::EINVAL)), // R18 at the outer level.
            tid_unprivileged(1, &[0], Want::Err(Errno::EINVAL)), // R21 after R18.
            tid_unprivileged(1, &[9], Want::Err(Errno::EPERM)), // R21
            tid_unprivileged(1, &[1], Want::Err(Errno::EPERM)), // EPERM hides EEXIST.
            tid(1, &[1, 2, 3, 4], Want::Err(Errno::EINVAL)), // R17
            tid(1, &[2, 701, 5], Want::HostLevel),
            SetPidMax(1, 400, OK),
            tid(1, &[400], Want::Err(Errno::EINVAL)), // R18: below pid_max.
            tid(1, &[399], Want::Numbers(&[2, 399])),
            tid(1, &[10], Want::Numbers(&[3, 10])), // 10 was given back.
            fork(0, &[4]),                          // R22: set_tid left the cursor.
            fork(1, &[5, 2]),
            LastPid(1, 2),
            LastPid(0, 5),
            Find(1, 399, Some(2)),
            Find(0, 700, Some(1)),
            Find(1, 700, None),
            Find(0, 701, None),
        ],
    ),
    (
        "R1 §1.6: pid_nr_ns, pid_vnr and NSpid across a tree",
        &[
            fork(0, &[1]),
            Reaper(0),
            NewNs(0),
            fork(1, &[2, 1]),
            Reaper(1),
            NewNs(1),
            fork(2, &[3, 2, 1]),
            NewNs(0),
            fork(3, &[4, 1]),
            Nr(2, 0, 3),
            Nr(2, 1, 2),
            Nr(2, 2, 1),
            Nr(2, 3, 0), // Another branch.
            Nr(0, 1, 0), // R1: the parent has no number inside.
            Nr(3, 1, 0),
            Nr(3, 3, 1),
            NsPid(2, 0, &[3, 2, 1]),
            NsPid(2, 1, &[2, 1]),
            NsPid(2, 3, &[]),
            NsPid(1, 2, &[]),
            Vnr(2, 1, 2),
            Vnr(1, 2, 0),
            Vnr(3, 0, 4),
            Find(1, 2, Some(2)),
            Find(2, 1, Some(2)),
            Find(3, 1, Some(3)),
            Find(1, 1, Some(1)),
            Find(3, 2, None),
        ],
    ),
    (
        "R23 B8b: a rollback gives each number back to its own namespace",
        &[
            fork(0, &[1]),
            Reaper(0),
            NewNs(0),
            fork(1, &[2, 1]),
            Reaper(1),
            Disable(1),
            // Both levels are reserved, then the publication fails: 3 goes
            // back to the first namespace, 2 to the second.
            fork_err(1, Errno::ENOMEM),
            SetLastPid(0, 2, OK),
            fork(0, &[3]),
            Find(1, 2, None),
            Find(1, 1, Some(1)),
        ],
    ),
];

/// `Err` with the message, from the function it is used in, unless `$ok`.
macro_rules! ensure {
    ($ok:expr, $($msg:tt)+) => {
        if !$ok {
            return Err(format!($($msg)+));
        }
    };
}

/// `Ok` if `got` is `want`, else the mismatch at `at`.
pub(crate) fn expect<T: PartialEq + std::fmt::Debug>(
    got: T,
    want: T,
    at: &str,
) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{at}: got {got:?}"))
    }
}

/// `Ok` if `got` is the pid `want` (the same object), or both are none.
pub(crate) fn expect_pid(
    got: Option<Arc<StructPid>>,
    want: Option<&Arc<StructPid>>,
    at: &str,
) -> Result<(), String> {
    match (&got, want) {
        (None, None) => Ok(()),
        (Some(g), Some(w)) if Arc::ptr_eq(g, w) => Ok(()),
        _ => Err(format!("{at}: got {got:?}")),
    }
}

/// Shows the mutant `m` caught: the scenario `name`, which `run` runs on
/// the tree it is given, passes on a clean tree of `variant` and fails on
/// one whose namespaces carry `m`.
#[cfg(feature = "mutants")]
pub(crate) fn caught(
    m: nscheck_concurrent::mutants::Mutant,
    variant: nscheck_concurrent::pid::Variant,
    name: &str,
    run: impl Fn(Arc<PidNamespace>) -> Result<(), String>,
) {
    run(PidNamespace::new_root_variant(variant)).unwrap();
    let mutated = PidNamespace::new_root_with_mutant(variant, m);
    let failure = run(mutated).expect_err(&format!("{m:?} passes {name}"));
    eprintln!("{m:?} ({}): {failure}", m.bug());
}

/// Runs one scenario in the tree whose first namespace is `root`: `Err`
/// with its name and step at the first mismatch.
fn run_in(root: Arc<PidNamespace>, name: &str, ops: &[Op]) -> Result<(), String> {
    let mut nss = vec![root];
    let mut pids: Vec<Arc<StructPid>> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let at = format!("{name}, step {step}: {op:?}");
        match *op {
            NewNs(parent) => {
                let ns = PidNamespace::create_child(&nss[parent]);
                ensure!(ns.is_ok(), "{at}: {ns:?}");
                nss.extend(ns);
            }
            Alloc {
                ns,
                tids,
                privileged,
                want,
            } => {
                let got = alloc_pid(&nss[ns], tids, |_| privileged);
                match (got, want) {
                    (Ok(pid), Want::Numbers(numbers)) => {
                        let got: Vec<i64> = pid.numbers().iter().map(|u| u.nr).collect();
                        expect(got.as_slice(), numbers, &at)?;
                        pids.push(pid);
                    }
                    (Err(AllocError::Errno(e)), Want::Err(w)) => expect(e, w, &at)?,
                    (Err(AllocError::HostLevel), Want::HostLevel) => {}
                    (got, want) => return Err(format!("{at}: got {got:?}, want {want:?}")),
                }
            }
            Free(p) => ensure!(pids[p].unlink(), "{at}: the pid keeps a link"),
            Reaper(ns) => nss[ns].set_child_reaper(),
            Disable(ns) => nss[ns].disable(),
            SetLastPid(ns, v, want) => expect(nss[ns].set_last_pid(v), want, &at)?,
            LastPid(ns, want) => expect(nss[ns].last_pid(), want, &at)?,
            SetPidMax(ns, v, want) => expect(nss[ns].set_pid_max(v), want, &at)?,
            PidMax(ns, want) => expect(nss[ns].pid_max(), want, &at)?,
            Find(ns, nr, want) => expect_pid(nss[ns].find_pid(nr), want.map(|w| &pids[w]), &at)?,
            Nr(p, ns, want) => expect(pids[p].nr_in(&nss[ns]), want, &at)?,
            Vnr(p, caller, want) => expect(pids[p].vnr(&pids[caller]), want, &at)?,
            NsPid(p, ns, want) => expect(pids[p].nspid(&nss[ns]).as_slice(), want, &at)?,
        }
    }
    Ok(())
}

#[test]
fn allocation_scenarios_give_the_model_numbers_and_errnos() {
    for (name, ops) in SCENARIOS {
        run_in(PidNamespace::new_root(), name, ops).unwrap();
    }
}

/// The mainline scenario (by the start of its name) that each sequential
/// allocator mutant fails.
#[cfg(feature = "mutants")]
pub(crate) const MUTANT_CASES: &[(nscheck_concurrent::mutants::Mutant, &str)] = {
    use nscheck_concurrent::mutants::Mutant;
    &[
        (Mutant::PidBeyondMax, "R4:"),
        (Mutant::WrapIgnoresReserved, "R7: past pid_max"),
        (Mutant::EnospcNotEagain, "R4:"),
        (Mutant::RollbackInnermost, "R23 B8b:"),
    ]
};

/// The allocator's sequential mutants (`Mutant::PID`, mainline's share):
/// each fails a scenario that the clean implementation passes.
#[cfg(feature = "mutants")]
#[test]
fn each_mainline_allocator_mutant_fails_a_scenario() {
    use nscheck_concurrent::pid::Variant;
    for &(m, prefix) in MUTANT_CASES {
        let (name, ops) = SCENARIOS
            .iter()
            .find(|(name, _)| name.starts_with(prefix))
            .expect("a scenario");
        caught(m, Variant::Mainline, name, |root| run_in(root, name, ops));
    }
}

#[test]
fn nesting_stops_at_level_32_and_a_dead_namespace_refuses_pids() {
    let mut ns = PidNamespace::new_root();
    for _ in ROOT_LEVEL..MAX_PID_NS_LEVEL {
        ns = PidNamespace::create_child(&ns).unwrap();
    }
    assert_eq!(ns.level(), 32);
    // R29
    assert_eq!(
        PidNamespace::create_child(&ns).map(|_| ()),
        Err(Errno::ENOSPC)
    );
    let pid = alloc_pid(&ns, &[], |_| true).unwrap();
    assert_eq!(pid.numbers().len(), 32);
    assert!(pid.numbers().iter().all(|u| u.nr == 1));
    ns.disable();
    assert_eq!(
        alloc_pid(&ns, &[], |_| true).map(|_| ()),
        Err(AllocError::Errno(Errno::ENOMEM))
    );
}

#[test]
fn numbers_stay_taken_until_the_last_link_goes() {
    let root = PidNamespace::new_root();
    let pid = alloc_pid(&root, &[], |_| true).unwrap();
    root.set_child_reaper();
    pid.link(); // Say, a process group that outlives its leader (R12).
    assert!(!pid.unlink());
    assert_eq!(
        alloc_pid(&root, &[1], |_| true).map(|_| ()),
        Err(AllocError::Errno(Errno::EEXIST))
    );
    assert!(Arc::ptr_eq(&root.find_pid(1).unwrap(), &pid));
    assert!(pid.unlink());
    assert!(root.find_pid(1).is_none());
    // A stale reference still reads its old numbers.
    assert_eq!(pid.nr_in(&root), 1);
    let again = alloc_pid(&root, &[1], |_| true).unwrap();
    assert_eq!(again.nr_in(&root), 1);
}

/// `pid_max` of the thread tests: after the first wrap, 700 numbers.
const THREAD_PID_MAX: i64 = 1000;

/// Two threads each allocate `rounds` pids in `ns` and free them in a
/// mixed order, holding up to 40 each; `check` looks at every new pid. No
/// number `ns` sees is ever held twice, and each is found while held.
pub(crate) fn two_allocators(
    ns: &Arc<PidNamespace>,
    rounds: usize,
    check: fn(&PidNamespace, &StructPid),
) {
    let held = Arc::new(Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (ns, held) = (ns.clone(), held.clone());
            thread::spawn(move || {
                let mut mine: Vec<Arc<StructPid>> = Vec::new();
                for i in 0..rounds {
                    let pid = alloc_pid(&ns, &[], |_| true).expect("a free number");
                    check(&ns, &pid);
                    let nr = pid.nr_in(&ns);
                    assert!(held.lock().unwrap().insert(nr), "{nr} handed out twice");
                    assert!(Arc::ptr_eq(&ns.find_pid(nr).expect("found"), &pid));
                    mine.push(pid);
                    if mine.len() > 40 || i % 7 == 0 {
                        let old = mine.swap_remove(i % mine.len());
                        assert!(held.lock().unwrap().remove(&old.nr_in(&ns)));
                        assert!(old.unlink());
                    }
                }
                mine
            })
        })
        .collect();
    let mut left = 0;
    for w in workers {
        left += w.join().unwrap().len();
    }
    assert_eq!(held.lock().unwrap().len(), left);
}

#[test]
fn two_threads_allocating_and_freeing_never_share_a_number() {
    let ns = PidNamespace::new_root();
    ns.set_pid_max(THREAD_PID_MAX).unwrap();
    two_allocators(&ns, 4000, |ns, pid| {
        let nr = pid.nr_in(ns);
        assert!((1..THREAD_PID_MAX).contains(&nr), "{nr} out of range");
    });
    // The cursor wrapped (8000 allocations in 999 numbers), so only 300 and
    // up were handed out since.
    assert!(ns.last_pid() >= 300);
}

#[test]
fn readers_see_all_levels_of_a_new_pid_or_none() {
    let root = PidNamespace::new_root();
    alloc_pid(&root, &[], |_| true).unwrap();
    let inner = PidNamespace::create_child(&root).unwrap();
    const FORKS: i64 = 300;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (root, inner) = (root.clone(), inner.clone());
            thread::spawn(move || {
                let mut seen = 0;
                while seen < FORKS {
                    // Numbers 2..=FORKS+1 at the root, 1..=FORKS inside.
                    // Publication goes innermost first where it is not
                    // atomic (B17), so the inner level is looked at first.
                    for nr in 1..=FORKS {
                        if let Some(pid) = inner.find_pid(nr) {
                            let root_nr = pid.nr_in(&root);
                            assert_eq!(root_nr, nr + 1);
                            let found = root.find_pid(root_nr).expect("every level published");
                            assert!(Arc::ptr_eq(&found, &pid));
                            seen = seen.max(nr);
                        }
                    }
                }
            })
        })
        .collect();
    let pids: Vec<_> = (0..FORKS)
        .map(|_| alloc_pid(&inner, &[], |_| true).unwrap())
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(
        pids[FORKS as usize - 1].numbers_by_id(),
        vec![(0, FORKS + 1), (1, FORKS)]
    );
}
