//! `proc/`: the task half. Scenarios are tables of task calls and the
//! results the model's `kernel.rs` gives (rules R1…R29 of
//! `pid-semantics.md` §1.12, cited on each case), derived by hand: this
//! crate does not depend on the model. Then real threads: a thread blocked
//! in `waitpid` is woken by its child's exit on another thread, and a
//! zap on one thread ends the `waitpid` of a victim and of the outside
//! parent, and no fork survives a racing init death (H4).

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::sync::Arc;
use std::thread;

use nscheck_concurrent::Errno;
use nscheck_concurrent::pid::AllocError;
use nscheck_concurrent::proc::{CLONE_NEWPID, PidSysctl, ProcId, System, Waited};

/// One task call.
#[derive(Clone, Copy, Debug)]
enum Call {
    Fork,
    Clone(i64, &'static [i64]),
    Unshare(i64),
    /// `exit`, with the tasks it kills.
    Exit(&'static [ProcId]),
    Waitpid(i64),
    Getpid,
    Getppid,
    Setsid,
    Setpgid(i64, i64),
    Getpgid(i64),
    Getsid(i64),
    Setuid(i64),
    Capdrop(i64),
    LastPid(Option<i64>),
    PidMax(Option<i64>),
}

/// What a call gives.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    Val(i64),
    Err(Errno),
    /// The `waitpid` sleeps; a later [`Step::Resumed`] collects it.
    Sleeps,
    /// The call does not return (`exit`).
    Gone,
}

/// A step: a task's call and its result, or a sleeper that ends.
#[derive(Clone, Copy, Debug)]
enum Step {
    Call(ProcId, Call, Want),
    /// The parked `waitpid` of this task now ends with this value.
    Resumed(ProcId, Want),
}

use Call::*;
use Step::{Call as C, Resumed};
use Want::{Err as E, Gone, Sleeps, Val};

struct Case {
    name: &'static str,
    steps: &'static [Step],
}

const CASES: &[Case] = &[
    Case {
        // R1, R2: numbers from 1 upward; the parent sees its children.
        name: "fork numbers and getppid",
        steps: &[
            C(0, Fork, Val(2)),
            C(0, Fork, Val(3)),
            C(1, Getpid, Val(2)),
            C(1, Getppid, Val(1)),
            C(0, Getppid, Val(0)),
        ],
    },
    Case {
        // §1.5: a child in a new namespace is 1 there and the next number
        // outside; its parent is invisible to it.
        name: "clone(CLONE_NEWPID) numbers",
        steps: &[
            C(0, Clone(CLONE_NEWPID, &[]), Val(2)),
            C(1, Getpid, Val(1)),
            C(1, Getppid, Val(0)),
            C(1, Fork, Val(2)),
            C(2, Getppid, Val(1)),
            C(0, Fork, Val(4)),
        ],
    },
    Case {
        // R12 (gVisor B12): a number held as a process group and session
        // stays taken after its leader is reaped.
        name: "a group keeps its leader's number",
        steps: &[
            C(0, Fork, Val(2)),
            C(1, Setsid, Val(2)),
            C(1, Fork, Val(3)),
            C(1, Exit(&[]), Gone),
            C(0, Waitpid(2), Val(2)),
            C(2, Getpgid(0), Val(2)),
            C(2, Getsid(0), Val(2)),
            C(0, LastPid(Some(1)), Val(0)),
            C(0, Fork, Val(4)),
            C(2, Getppid, Val(1)),
        ],
    },
    Case {
        // waitpid: ECHILD for a non-child; sleep until the child exits.
        name: "waitpid sleeps until its child exits",
        steps: &[
            C(0, Fork, Val(2)),
            C(1, Fork, Val(3)),
            C(0, Waitpid(3), E(Errno::ECHILD)),
            C(0, Waitpid(2), Sleeps),
            C(1, Exit(&[]), Gone),
            Resumed(0, Val(2)),
            // The orphan went to init, t0.
            C(2, Getppid, Val(1)),
            C(0, Waitpid(2), E(Errno::ECHILD)),
        ],
    },
    Case {
        // R13: init's death kills its namespace and disables it; R24: a
        // second unshare(CLONE_NEWPID) before a fork is EINVAL.
        name: "init death zaps and disables the namespace",
        steps: &[
            C(0, Unshare(CLONE_NEWPID), Val(0)),
            C(0, Unshare(CLONE_NEWPID), E(Errno::EINVAL)),
            C(0, Fork, Val(2)),
            C(1, Getpid, Val(1)),
            C(1, Fork, Val(2)),
            C(1, Exit(&[2]), Gone),
            C(0, Waitpid(2), Val(2)),
            C(0, Fork, E(Errno::ENOMEM)),
        ],
    },
    Case {
        // The init's exit is pending while a task outside holds a number
        // of its namespace as its process group (R12, zap).
        name: "a pending init exit ends when the group is left",
        steps: &[
            C(0, Clone(CLONE_NEWPID, &[]), Val(2)),
            C(1, Fork, Val(2)),
            C(2, Setpgid(0, 0), Val(0)),
            C(0, Setpgid(0, 3), Val(0)),
            C(1, Exit(&[2]), Gone),
            C(0, Waitpid(2), Sleeps),
            C(0, Getpgid(0), Val(3)),
            C(0, Setpgid(0, 1), Val(0)),
            Resumed(0, Val(2)),
        ],
    },
    Case {
        // R18, R20, R21, R22: set_tid checks; the cursor does not move.
        name: "set_tid",
        steps: &[
            C(0, Clone(0, &[50]), Val(50)),
            C(0, Clone(0, &[50]), E(Errno::EEXIST)),
            C(0, Clone(0, &[0]), E(Errno::EINVAL)),
            C(0, Fork, Val(2)),
            C(1, Setuid(65534), Val(0)),
            C(1, Clone(0, &[70]), E(Errno::EPERM)),
            C(1, Clone(0, &[0]), E(Errno::EINVAL)),
        ],
    },
    Case {
        // R6, R10: the sysctls' permission checks and ranges.
        name: "pid sysctls",
        steps: &[
            C(0, Fork, Val(2)),
            C(0, LastPid(None), Val(2)),
            C(0, PidMax(Some(300)), E(Errno::EINVAL)),
            C(0, PidMax(Some(400)), Val(0)),
            C(0, LastPid(Some(401)), E(Errno::EINVAL)),
            C(1, Capdrop(21), Val(0)),
            C(1, Capdrop(40), Val(0)),
            C(1, LastPid(Some(5)), E(Errno::EPERM)),
            C(1, PidMax(Some(500)), Val(0)),
            C(1, Setuid(65534), Val(0)),
            C(1, PidMax(Some(500)), E(Errno::EACCES)),
            C(1, PidMax(None), Val(500)),
            // CAP_SETPCAP is checked before the number (cap_prctl_drop).
            C(1, Capdrop(99), E(Errno::EPERM)),
            C(0, Capdrop(99), E(Errno::EINVAL)),
            C(1, Capdrop(3), E(Errno::EPERM)),
            C(1, Setuid(0), E(Errno::EPERM)),
        ],
    },
    Case {
        // kernel/sys.c: setsid by a group leader, setpgid's checks.
        name: "sessions and groups",
        steps: &[
            C(0, Fork, Val(2)),
            C(0, Fork, Val(3)),
            C(1, Setsid, Val(2)),
            C(1, Setsid, E(Errno::EPERM)),
            C(0, Setpgid(2, 0), E(Errno::EPERM)),
            C(0, Setpgid(9, 0), E(Errno::ESRCH)),
            C(0, Setpgid(0, -1), E(Errno::EINVAL)),
            C(0, Setpgid(3, 0), Val(0)),
            C(0, Getpgid(3), Val(3)),
            C(2, Setpgid(0, 2), E(Errno::EPERM)),
            C(1, Setpgid(3, 0), E(Errno::ESRCH)),
            C(0, Getsid(7), E(Errno::ESRCH)),
        ],
    },
];

/// Runs one case; the parked waits are kept by task.
fn run(case: &Case) {
    let sys = System::new();
    let mut parked = std::collections::BTreeMap::new();
    for (i, step) in case.steps.iter().enumerate() {
        let at = format!("{}, step {}: {step:?}", case.name, i + 1);
        let (task, want, got) = match *step {
            Step::Call(task, call, want) => (task, want, call_once(&sys, task, call, &mut parked)),
            Step::Resumed(task, want) => {
                let p: nscheck_concurrent::proc::ParkedWait =
                    parked.remove(&task).expect("a parked waiter");
                let got = p.poll().map_or(Sleeps, |r| r.map_or_else(E, Val));
                (task, want, got)
            }
        };
        assert_eq!(got, want, "{at} (task {task})");
        if let Step::Call(_, Exit(killed), _) = *step {
            assert!(killed.iter().all(|&k| !sys.is_running(k)), "{at}");
        }
    }
    // Every waiter the case left asleep is still asleep.
    for (task, p) in parked {
        assert!(p.poll().is_none(), "{}: task {task} woke", case.name);
    }
}

fn call_once(
    sys: &Arc<System>,
    task: ProcId,
    call: Call,
    parked: &mut std::collections::BTreeMap<ProcId, nscheck_concurrent::proc::ParkedWait>,
) -> Want {
    let r = |r: Result<i64, Errno>| r.map_or_else(E, Val);
    let fork = |r: Result<i64, AllocError>| match r {
        Ok(v) => Val(v),
        Err(AllocError::Errno(e)) => E(e),
        Err(AllocError::HostLevel) => panic!("host level"),
    };
    match call {
        Fork => fork(sys.fork(task, 0, &[])),
        Clone(flags, set_tid) => fork(sys.fork(task, flags, set_tid)),
        Unshare(flags) => r(sys.unshare(task, flags)),
        Exit(killed) => {
            assert_eq!(sys.exit(task), killed);
            Gone
        }
        Waitpid(pid) => match System::start_waitpid(sys, task, pid) {
            Waited::Done(v) => r(v),
            Waited::Parked(p) => {
                parked.insert(task, p);
                Sleeps
            }
        },
        Getpid => Val(sys.getpid(task)),
        Getppid => Val(sys.getppid(task)),
        Setsid => r(sys.setsid(task)),
        Setpgid(pid, pgid) => r(sys.setpgid(task, pid, pgid)),
        Getpgid(pid) => r(sys.get_pgid_sid(task, pid, false)),
        Getsid(pid) => r(sys.get_pgid_sid(task, pid, true)),
        Setuid(uid) => r(sys.setuid(task, uid)),
        Capdrop(cap) => r(sys.capdrop(task, cap)),
        LastPid(v) => r(sys.pid_sysctl(task, PidSysctl::NsLastPid, v)),
        PidMax(v) => r(sys.pid_sysctl(task, PidSysctl::PidMax, v)),
    }
}

#[test]
fn task_calls_follow_the_models_rules() {
    for case in CASES {
        run(case);
    }
}

/// A thread blocked in `waitpid` is woken by its child's exit, made on
/// another thread.
#[test]
fn a_blocked_waitpid_is_woken_by_its_childs_exit() {
    for _ in 0..50 {
        let sys = System::new();
        assert_eq!(sys.fork(0, 0, &[]), Ok(2));
        let Waited::Parked(p) = System::start_waitpid(&sys, 0, 2) else {
            panic!("the child runs, so waitpid sleeps");
        };
        let waiter = thread::spawn(move || p.wait());
        let exiter = {
            let sys = sys.clone();
            thread::spawn(move || sys.exit(1))
        };
        assert_eq!(exiter.join().unwrap(), Vec::<ProcId>::new());
        assert_eq!(waiter.join().unwrap(), Ok(2));
        // Reaped: the number is free and no task has it.
        assert_eq!(sys.pidof(0, 1), 0);
    }
}

/// An init's exit on one thread kills a sibling blocked in `waitpid` on
/// another (it returns EINTR), and lets the outside parent, blocked too,
/// reap the init.
#[test]
fn a_zap_ends_the_waits_of_its_victims_and_of_the_parent() {
    for _ in 0..50 {
        let sys = System::new();
        assert_eq!(sys.fork(0, CLONE_NEWPID, &[]), Ok(2)); // task 1: init
        assert_eq!(sys.fork(1, 0, &[]), Ok(2)); // task 2
        assert_eq!(sys.fork(2, 0, &[]), Ok(3)); // task 3
        let waits: Vec<_> = [(0, 2), (2, 3)]
            .into_iter()
            .map(|(task, pid)| {
                let sys = sys.clone();
                thread::spawn(move || System::waitpid(&sys, task, pid))
            })
            .collect();
        let init = {
            let sys = sys.clone();
            thread::spawn(move || sys.exit(1))
        };
        assert_eq!(init.join().unwrap(), vec![2, 3]);
        let got: Vec<_> = waits.into_iter().map(|w| w.join().unwrap()).collect();
        // Task 2 was killed asleep (EINTR), or began its call after the
        // zap had reaped its child (ECHILD).
        assert_eq!(got[0], Ok(2));
        assert!(
            [Err(Errno::EINTR), Err(Errno::ECHILD)].contains(&got[1]),
            "{got:?}"
        );
    }
}

/// H4: forks inside a namespace race its init's exit. A fork either
/// attaches its child before the zap (which then kills it) or fails, so
/// once both are over no task of the namespace runs, and every number a
/// failed fork allocated is free again.
#[test]
fn no_fork_survives_a_racing_init_death() {
    for _ in 0..200 {
        let sys = System::new();
        assert_eq!(sys.fork(0, CLONE_NEWPID, &[]), Ok(2)); // task 1: init
        assert_eq!(sys.fork(1, 0, &[]), Ok(2)); // task 2: forks in a loop
        let ns = sys.struct_pid(1).ns().clone();
        let forker = {
            let sys = sys.clone();
            thread::spawn(move || {
                let mut made = 0;
                while sys.fork(2, 0, &[]).is_ok() {
                    made += 1;
                }
                made
            })
        };
        let init = {
            let sys = sys.clone();
            thread::spawn(move || sys.exit(1))
        };
        let killed = init.join().unwrap();
        let made = forker.join().unwrap();
        assert_eq!(killed.len(), 1 + made, "task 2 and every child it made");
        let running = (0..sys.task_count())
            .filter(|&t| sys.is_running(t) && sys.struct_pid(t).nr_in(&ns) != 0)
            .count();
        assert_eq!(running, 0, "a task of the dead namespace runs");
        // The numbers left are those of the zombie init (its parent, t0,
        // has not reaped it); the failed forks gave theirs back.
        let held: Vec<i64> = (1..=made as i64 + 3)
            .filter(|&nr| ns.find_pid(nr).is_some())
            .collect();
        assert_eq!(held, vec![1], "numbers held in the dead namespace");
    }
}

/// A machine dropped with live tasks, process groups, sessions and a nested
/// namespace gives every number back, so its namespaces go with it: each
/// namespace is then held by nobody but the test.
#[test]
fn a_dropped_machine_leaves_no_namespace_behind() {
    let root = nscheck_concurrent::pid::PidNamespace::new_root();
    let sys = System::with_root(
        root.clone(),
        Box::new(nscheck_concurrent::IpcNamespace::new),
    );
    // Tasks are numbered in creation order: the child is task 1.
    assert_eq!(sys.fork(0, 0, &[]), Ok(2));
    sys.setsid(1).expect("a new session");
    sys.fork(0, CLONE_NEWPID, &[])
        .expect("a child in a nested namespace");
    let nested = sys.struct_pid(2).ns().clone();
    drop(sys);
    assert_eq!(Arc::strong_count(&nested), 1, "the nested namespace leaked");
    // The nested namespace holds its parent.
    drop(nested);
    assert_eq!(Arc::strong_count(&root), 1, "the first namespace leaked");
}
