//! The historical pid variants, `flat2007` and `openvz2006`, and mainline
//! beside them where the corpus compares the three.
//!
//! The scenarios are tables of calls and the numbers and errnos the model
//! gives: the unit tests of `model/src/pid_flat.rs` and
//! `model/src/pid_openvz.rs`, and the allocation steps of
//! `corpus/dialects/pid-*.nsc` with the traces of
//! `snapshots/dialect__pid-*.snap` (derived by hand: this crate does not
//! depend on the model). A pid of a historical variant shows the number the
//! container sees; its global number is read with
//! `PidNamespace::global_nr`. Then real threads: two allocators in one
//! container never share a number. With the feature `mutants`, each
//! sequential allocator mutant fails one of the scenarios.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::sync::Arc;

use crate::pid_alloc::{expect, expect_pid, two_allocators};
use nscheck_concurrent::Errno;
use nscheck_concurrent::pid::{AllocError, PidNamespace, StructPid, Variant, alloc_pid};

use Variant::{Flat2007, Mainline, Openvz2006};

/// What an allocation should give.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// The number the namespace sees, and the global number (0 where the
    /// variant has none: mainline leaves the host out).
    Pid(i64, i64),
    Err(Errno),
    /// A `set_tid` entry for the host's level.
    HostLevel,
}

/// One step of a scenario in the tree's first namespace. Pids are named by
/// the index of the allocation that made them among the successful ones;
/// the first is the init, which every scenario makes first.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `alloc_pid(ns, set_tid)` with or without the rights.
    Alloc {
        tids: &'static [i64],
        privileged: bool,
        want: Want,
    },
    /// `n` forks, the `k`-th of which gets `(vnr + k, nr + k)`.
    Forks {
        n: i64,
        vnr: i64,
        nr: i64,
    },
    /// One request each for the numbers `from..to`, the `k`-th of which
    /// gets `(from + k, nr + k)`.
    Requests {
        from: i64,
        to: i64,
        nr: i64,
    },
    /// A namespace inside: the errno.
    NewNs(Errno),
    /// The pid's last link goes.
    Free(usize),
    /// The init has died.
    Disable,
    SetLastPid(i64, Result<(), Errno>),
    LastPid(i64),
    SetPidMax(i64, Result<(), Errno>),
    PidMax(i64),
    /// `find_pid` of a number gives this pid, or none.
    Find(i64, Option<usize>),
}

use Op::*;

const OK: Result<(), Errno> = Ok(());
const EINVAL: Result<(), Errno> = Err(Errno::EINVAL);

const fn fork(vnr: i64, nr: i64) -> Op {
    Alloc {
        tids: &[],
        privileged: true,
        want: Want::Pid(vnr, nr),
    }
}

const fn fork_err(e: Errno) -> Op {
    Alloc {
        tids: &[],
        privileged: true,
        want: Want::Err(e),
    }
}

const fn tid(tids: &'static [i64], want: Want) -> Op {
    Alloc {
        tids,
        privileged: true,
        want,
    }
}

const fn tid_unprivileged(tids: &'static [i64], want: Want) -> Op {
    Alloc {
        tids,
        privileged: false,
        want,
    }
}

const fn err(e: Errno) -> Want {
    Want::Err(e)
}

/// The scenarios: a name, the variant, and the steps after the init's fork
/// (numbers 1 and, where the host is modelled, global 2).
const SCENARIOS: &[(&str, Variant, &[Op])] = &[
    // model/src/pid_flat.rs
    (
        "flat: init is vnr 1 and every pid has a global nr",
        Flat2007,
        &[
            fork(2, 3),
            Find(2, Some(1)),
            Find(3, None), // The global number is not a virtual one.
            LastPid(2),
            PidMax(32768),
        ],
    ),
    (
        "flat: nesting is refused with EINVAL",
        Flat2007,
        &[NewNs(Errno::EINVAL)],
    ),
    (
        "flat: vnr and nr wrap independently to 300",
        Flat2007,
        &[
            SetPidMax(400, OK),
            SetLastPid(399, OK),
            fork(300, 3), // The global pidmap goes on from 2.
            SetLastPid(401, EINVAL),
            SetLastPid(400, OK),
        ],
    ),
    (
        "flat: set_tid follows mainline's rules on the vnr only",
        Flat2007,
        &[
            tid(&[500], Want::Pid(500, 3)),
            LastPid(1),
            tid(&[500], err(Errno::EEXIST)),
            tid(&[1], err(Errno::EEXIST)),
            tid_unprivileged(&[0], err(Errno::EINVAL)),
            tid(&[32768], err(Errno::EINVAL)),
            tid_unprivileged(&[600], err(Errno::EPERM)),
            tid(&[1, 2, 3], err(Errno::EINVAL)),
            // The global number cannot be chosen, and nothing stays taken.
            tid(&[600, 9], Want::HostLevel),
            Find(600, None),
            Free(1),
            Find(500, None),
            // Global 3 is free again, but the walk goes on after last_pid.
            tid(&[600], Want::Pid(600, 4)),
        ],
    ),
    (
        "flat: a full global space gives EAGAIN and keeps the virtual last_pid",
        Flat2007,
        &[
            SetPidMax(301, OK),
            // The global space holds the host's init besides the
            // container's pids, so it fills up one pid before.
            Forks {
                n: 298,
                vnr: 2,
                nr: 3,
            },
            fork_err(Errno::EAGAIN),
            Find(300, None),
            LastPid(300),
            fork_err(Errno::EAGAIN),
        ],
    ),
    (
        "flat: a dead container refuses pids",
        Flat2007,
        &[Disable, fork_err(Errno::ENOMEM), Find(2, None)],
    ),
    // model/src/pid_openvz.rs
    (
        "openvz: init is vpid 1 and the others are linear",
        Openvz2006,
        &[
            fork(1027, 3),
            fork(1028, 4),
            Find(1, Some(0)),
            Find(1027, Some(1)),
            Find(3, Some(1)),     // A global pid of the VPS is taken as it is.
            Find(2 + 1024, None), // Init's linear alias,
            Find(1 + 1024, None), // the host's init's,
            Find(1029, None),
            Find(-1027, None),
            Find(0, None),
            Find(1, Some(0)),
            LastPid(4),
            PidMax(32768),
        ],
    ),
    (
        "openvz: linear numbering skips the VPID bit ranges",
        Openvz2006,
        &[
            SetLastPid(1021, OK),
            fork(2046, 1022),
            fork(2047, 1023),
            fork(3072, 2048), // 1024..2047 have the VPID bit.
            fork(3073, 2049),
            SetLastPid(3070, OK),
            fork(4095, 3071),
            fork(5120, 4096),
            // A last_pid inside a virtual range goes to the next range.
            SetLastPid(1500, OK),
            fork(3074, 2050),
            // The wrap goes to RESERVED_PIDS, whose vpid is 1324.
            SetLastPid(32767, OK),
            fork(1324, 300),
        ],
    ),
    (
        "openvz B5: the VPID bit skip marks the number it returns",
        Openvz2006,
        &[
            SetLastPid(1022, OK),
            fork(2047, 1023),
            fork(3072, 2048),
            SetLastPid(1022, OK),
            fork(3073, 2049),
        ],
    ),
    (
        "openvz: a requested vpid switches to sparse mode",
        Openvz2006,
        &[
            fork(1027, 3),
            // The linear value is accepted without a switch.
            tid(&[1028], Want::Pid(1028, 4)),
            // Another one switches: 1030 for global pid 5.
            tid(&[1030], Want::Pid(1030, 5)),
            // The pids that were there keep their vpids.
            Find(1, Some(0)),
            Find(1027, Some(1)),
            Find(1030, Some(3)),
            Find(5, Some(3)),
            Find(5 + 1024, None),
            // Global pid 6's linear vpid 1030 is taken: the search gives
            // 1031, and last_pid follows it to 7.
            fork(1031, 6),
            LastPid(7),
            fork(1032, 8),
        ],
    ),
    (
        "openvz: a taken vpid is EEXIST and gives the global pid back",
        Openvz2006,
        &[
            fork(1027, 3),
            tid(&[1027], err(Errno::EEXIST)),
            // The VPS switched before the check; global pid 4 went back but
            // last_pid stays where the allocator left it.
            fork(1029, 5),
            tid(&[1], err(Errno::EEXIST)),
            // The vpid comes free when its pid is freed.
            Free(1),
            tid(&[1027], Want::Pid(1027, 7)),
            Find(1027, Some(3)),
            Find(3, None),
        ],
    ),
    (
        "openvz: vpid 1 is taken in linear mode too",
        Openvz2006,
        &[tid(&[1], err(Errno::EEXIST)), fork(1028, 4)],
    ),
    (
        "openvz: requests are range and capability checked first",
        Openvz2006,
        &[
            tid(&[0], err(Errno::EINVAL)),
            tid(&[-1], err(Errno::EINVAL)),
            tid(&[-1024], err(Errno::EINVAL)),
            tid(&[5], err(Errno::EINVAL)),
            tid(&[1023], err(Errno::EINVAL)),
            tid(&[2048], err(Errno::EINVAL)),
            tid(&[32768 + 1024], err(Errno::EINVAL)),
            tid(&[33792], err(Errno::EINVAL)),
            tid_unprivileged(&[1100], err(Errno::EPERM)),
            tid(&[1100, 9], Want::HostLevel),
            tid(&[1100, 9, 9], err(Errno::EINVAL)),
            // Nothing was allocated on the way.
            LastPid(2),
            fork(1027, 3),
        ],
    ),
    (
        "openvz B18: the search ends with EAGAIN when every vpid is taken",
        Openvz2006,
        &[
            SetPidMax(1400, OK),
            // Every vpid the search can reach from the top: 1324..1399.
            Requests {
                from: 1324,
                to: 1400,
                nr: 3,
            },
            // Global pid 375 would get 1399, which is taken, and the search
            // finds nothing above it nor from 1324 on: EAGAIN, not a loop.
            SetLastPid(374, OK),
            fork_err(Errno::EAGAIN),
            LastPid(375),
            // Global pid 376's linear vpid 1400 is free, though not below
            // pid_max.
            fork(1400, 376),
        ],
    ),
    (
        "openvz: the search wraps to 1324",
        Openvz2006,
        &[
            SetPidMax(1400, OK),
            tid(&[1399], Want::Pid(1399, 3)),
            SetLastPid(374, OK),
            fork(1324, 375),
            LastPid(300),
        ],
    ),
    (
        "openvz: a full global space is EAGAIN",
        Openvz2006,
        &[
            SetPidMax(301, OK),
            Forks {
                n: 298,
                vnr: 3 + 1024,
                nr: 3,
            },
            fork_err(Errno::EAGAIN),
        ],
    ),
    (
        "openvz: a dead VPS refuses pids",
        Openvz2006,
        &[Disable, fork_err(Errno::ENOMEM), NewNs(Errno::EINVAL)],
    ),
    // corpus/dialects/pid-numbering.nsc
    (
        "pid-numbering: mainline",
        Mainline,
        &[
            PidMax(4194304),
            fork(2, 0),
            fork(3, 0),
            LastPid(3),
            Free(1),
            fork(4, 0),
        ],
    ),
    (
        "pid-numbering: flat2007",
        Flat2007,
        &[
            PidMax(32768),
            fork(2, 3),
            fork(3, 4),
            LastPid(3),
            Free(1),
            fork(4, 5),
        ],
    ),
    (
        "pid-numbering: openvz2006",
        Openvz2006,
        &[
            PidMax(32768),
            fork(1027, 3),
            fork(1028, 4),
            LastPid(4),
            Free(1),
            fork(1029, 5),
        ],
    ),
    // corpus/dialects/pid-vpid-bit.nsc
    (
        "pid-vpid-bit: flat2007",
        Flat2007,
        &[
            SetLastPid(1021, OK),
            fork(1022, 3),
            fork(1023, 4),
            fork(1024, 5),
            fork(1025, 6),
            LastPid(1025),
            Find(1023, Some(2)),
            Find(2047, None),
            Find(2048, None),
            SetLastPid(1500, OK),
            fork(1501, 7),
        ],
    ),
    (
        "pid-vpid-bit: openvz2006",
        Openvz2006,
        &[
            SetLastPid(1021, OK),
            fork(2046, 1022),
            fork(2047, 1023),
            fork(3072, 2048),
            fork(3073, 2049),
            LastPid(2049),
            Find(1023, Some(2)),
            Find(2047, Some(2)),
            Find(2048, Some(3)),
            SetLastPid(1500, OK),
            fork(3074, 2050),
        ],
    ),
    // corpus/dialects/pid-wrap.nsc
    (
        "pid-wrap: mainline",
        Mainline,
        &[
            SetPidMax(301, OK),
            SetLastPid(297, OK),
            fork(298, 0),
            fork(299, 0),
            fork(300, 0),
            SetLastPid(297, OK),
            fork(2, 0),
            LastPid(2),
            SetLastPid(0, OK),
            fork(3, 0),
        ],
    ),
    (
        "pid-wrap: flat2007",
        Flat2007,
        &[
            SetPidMax(301, OK),
            SetLastPid(297, OK),
            fork(298, 3),
            fork(299, 4),
            fork(300, 5),
            SetLastPid(297, OK),
            fork_err(Errno::EAGAIN),
            LastPid(297),
            SetLastPid(0, OK),
            fork(2, 6),
        ],
    ),
    (
        "pid-wrap: openvz2006",
        Openvz2006,
        &[
            SetPidMax(301, OK),
            SetLastPid(297, OK),
            fork(1322, 298),
            fork(1323, 299),
            fork(1324, 300),
            SetLastPid(297, OK),
            fork_err(Errno::EAGAIN),
            LastPid(297),
            SetLastPid(0, OK),
            fork(1027, 3),
        ],
    ),
    // corpus/dialects/pid-nesting.nsc
    ("pid-nesting: mainline", Mainline, &[fork(2, 0), LastPid(2)]),
    (
        "pid-nesting: flat2007",
        Flat2007,
        &[NewNs(Errno::EINVAL), fork(2, 3), LastPid(2)],
    ),
    (
        "pid-nesting: openvz2006",
        Openvz2006,
        &[NewNs(Errno::EINVAL), fork(1027, 3), LastPid(3)],
    ),
    // corpus/dialects/pid-set-tid.nsc
    (
        "pid-set-tid: flat2007",
        Flat2007,
        &[
            fork(2, 3),
            tid(&[1028], Want::Pid(1028, 4)),
            tid(&[1030], Want::Pid(1030, 5)),
            fork(3, 6),
            LastPid(3),
            fork(4, 7),
            tid(&[1030], err(Errno::EEXIST)),
            tid(&[1], err(Errno::EEXIST)),
            tid(&[5], Want::Pid(5, 8)),
            tid(&[2048], Want::Pid(2048, 9)),
            fork(6, 10),
            LastPid(6),
            Free(3),
            tid(&[1030], Want::Pid(1030, 11)),
        ],
    ),
    (
        "pid-set-tid: openvz2006",
        Openvz2006,
        &[
            fork(1027, 3),
            tid(&[1028], Want::Pid(1028, 4)),
            tid(&[1030], Want::Pid(1030, 5)),
            fork(1031, 6),
            LastPid(7),
            fork(1032, 8),
            tid(&[1030], err(Errno::EEXIST)),
            tid(&[1], err(Errno::EEXIST)),
            tid(&[5], err(Errno::EINVAL)),
            tid(&[2048], err(Errno::EINVAL)),
            fork(1035, 11),
            LastPid(11),
            Free(3),
            tid(&[1030], Want::Pid(1030, 12)),
        ],
    ),
];

/// Checks an allocation against what it should give, keeping the pid.
fn check_alloc(
    ns: &PidNamespace,
    got: Result<Arc<StructPid>, AllocError>,
    want: Want,
    pids: &mut Vec<Arc<StructPid>>,
    at: &str,
) -> Result<(), String> {
    match (got, want) {
        (Ok(pid), Want::Pid(vnr, nr)) => {
            let got = (pid.nr_in(ns), ns.global_nr(&pid).unwrap_or(0));
            expect(got, (vnr, nr), at)?;
            pids.push(pid);
        }
        (Err(AllocError::Errno(e)), Want::Err(w)) => expect(e, w, at)?,
        (Err(AllocError::HostLevel), Want::HostLevel) => {}
        (got, want) => return Err(format!("{at}: got {got:?}, want {want:?}")),
    }
    Ok(())
}

/// Runs one scenario in `ns`, after the init's fork: `Err` with its name
/// and step at the first mismatch.
fn run_in(ns: Arc<PidNamespace>, name: &str, ops: &[Op]) -> Result<(), String> {
    let init = match ns.variant() {
        Mainline => Want::Pid(1, 0),
        Flat2007 => Want::Pid(1, 2),
        Openvz2006 => Want::Pid(1, 2),
    };
    let mut pids = Vec::new();
    check_alloc(
        &ns,
        alloc_pid(&ns, &[], |_| true),
        init,
        &mut pids,
        &format!("{name}, init"),
    )?;
    ns.set_child_reaper();
    for (step, op) in ops.iter().enumerate() {
        let at = format!("{name}, step {step}: {op:?}");
        match op {
            Alloc {
                tids,
                privileged,
                want,
            } => {
                let got = alloc_pid(&ns, tids, |_| *privileged);
                check_alloc(&ns, got, *want, &mut pids, &at)?;
            }
            Forks { n, vnr, nr } => {
                for k in 0..*n {
                    let got = alloc_pid(&ns, &[], |_| true);
                    check_alloc(&ns, got, Want::Pid(vnr + k, nr + k), &mut pids, &at)?;
                }
            }
            Requests { from, to, nr } => {
                for v in *from..*to {
                    let got = alloc_pid(&ns, &[v], |_| true);
                    check_alloc(&ns, got, Want::Pid(v, nr + v - from), &mut pids, &at)?;
                }
            }
            NewNs(e) => expect(PidNamespace::create_child(&ns).map(|_| ()), Err(*e), &at)?,
            Free(p) => expect(pids[*p].unlink(), true, &at)?,
            Disable => ns.disable(),
            SetLastPid(v, want) => expect(ns.set_last_pid(*v), *want, &at)?,
            LastPid(want) => expect(ns.last_pid(), *want, &at)?,
            SetPidMax(v, want) => expect(ns.set_pid_max(*v), *want, &at)?,
            PidMax(want) => expect(ns.pid_max(), *want, &at)?,
            Find(nr, want) => expect_pid(ns.find_pid(*nr), want.map(|w| &pids[w]), &at)?,
        }
    }
    Ok(())
}

#[test]
fn each_variant_gives_the_model_numbers_and_errnos() {
    for (name, variant, ops) in SCENARIOS {
        run_in(PidNamespace::new_root_variant(*variant), name, ops).unwrap();
    }
}

#[test]
fn two_threads_in_a_historical_container_never_share_a_number() {
    for variant in [Flat2007, Openvz2006] {
        let ns = PidNamespace::new_root_variant(variant);
        let _init = alloc_pid(&ns, &[], |_| true).unwrap();
        ns.set_child_reaper();
        ns.set_pid_max(1000).unwrap();
        two_allocators(&ns, 3000, |ns, pid| {
            let nr = ns.global_nr(pid).expect("a global number");
            assert!((2..1000).contains(&nr), "global {nr} out of range");
        });
    }
}

#[test]
fn a_historical_pid_frees_both_its_numbers_once() {
    for variant in [Flat2007, Openvz2006] {
        let ns = PidNamespace::new_root_variant(variant);
        let init = alloc_pid(&ns, &[], |_| true).unwrap();
        init.link(); // Say, its process group.
        assert!(!init.unlink());
        assert_eq!(ns.global_nr(&init), Some(2));
        assert!(init.unlink());
        assert_eq!(ns.global_nr(&init), None);
        assert!(ns.find_pid(1).is_none());
        // A stale reference still reads its old number.
        assert_eq!(init.nr_in(&ns), 1);
    }
}

/// The scenario (by the start of its name) that each sequential allocator
/// mutant fails under a historical variant.
#[cfg(feature = "mutants")]
const MUTANT_CASES: &[(nscheck_concurrent::mutants::Mutant, &str)] = {
    use nscheck_concurrent::mutants::Mutant;
    &[
        (Mutant::PidBeyondMax, "flat: a full global space"),
        (Mutant::PidBeyondMax, "openvz: a full global space"),
        (Mutant::WrapIgnoresReserved, "pid-wrap: flat2007"),
        (Mutant::WrapIgnoresReserved, "openvz: linear numbering"),
        (Mutant::VpidOffset, "openvz B5:"),
        (Mutant::VpidSearchNoExit, "openvz B18:"),
    ]
};

/// Every sequential PID mutant has a case here or in `pid_alloc.rs`.
#[cfg(feature = "mutants")]
#[test]
fn every_sequential_pid_mutant_has_a_case() {
    use nscheck_concurrent::mutants::Mutant;
    for m in Mutant::PID {
        let cases = MUTANT_CASES.iter().chain(crate::pid_alloc::MUTANT_CASES);
        assert!(cases.clone().any(|c| c.0 == *m), "{m:?} has no case");
    }
}

/// The sequential mutants of the historical allocators (`Mutant::PID`):
/// each fails a scenario that the clean implementation passes.
#[cfg(feature = "mutants")]
#[test]
fn each_historical_allocator_mutant_fails_a_scenario() {
    use crate::pid_alloc::caught;
    for &(m, prefix) in MUTANT_CASES {
        let (name, variant, ops) = SCENARIOS
            .iter()
            .find(|(name, _, _)| name.starts_with(prefix))
            .expect("a scenario");
        caught(m, *variant, name, |root| run_in(root, name, ops));
    }
}

/// pid B18 under its mutant: the search that would never end gives up with
/// the marker errno instead, and the call still returns.
#[cfg(feature = "mutants")]
#[test]
fn the_vpid_search_without_exit_reports_the_hang() {
    use nscheck_concurrent::mutants::Mutant;
    use nscheck_concurrent::pid::openvz::NO_EXIT;
    let ns = PidNamespace::new_root_with_mutant(Openvz2006, Mutant::VpidSearchNoExit);
    let _init = alloc_pid(&ns, &[], |_| true).unwrap();
    ns.set_pid_max(1400).unwrap();
    let _held: Vec<_> = (1324..1400)
        .map(|v| alloc_pid(&ns, &[v], |_| true).unwrap())
        .collect();
    ns.set_last_pid(374).unwrap();
    assert_eq!(
        alloc_pid(&ns, &[], |_| true).map(|_| ()),
        Err(AllocError::Errno(NO_EXIT))
    );
}
