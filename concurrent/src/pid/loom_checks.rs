//! loom checks of the pid module's locking, by assertions on every
//! interleaving (each outcome must be one a sequential order gives). They
//! build only with `--cfg nscheck_loom` and run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test --release -p nscheck-concurrent --lib`
//! in loom's target directory; the WGL scenarios of issue 11 are still to
//! come in `loom-tests`.

use loom::thread;

use crate::errno::Errno;
use crate::pid::{AllocError, PidNamespace, StructPid, alloc_pid};
use crate::sync::Arc;

/// The number `pid` has at its innermost level, or the errno.
fn own_nr(r: Result<Arc<StructPid>, AllocError>) -> Result<i64, AllocError> {
    r.map(|p| p.numbers()[p.numbers().len() - 1].nr)
}

/// Whether the taken numbers of `ns` are exactly its published ones: no
/// reservation leaked.
fn no_leak(ns: &PidNamespace) -> bool {
    let taken: Vec<i64> = ns.alloc_lock().taken.iter().collect();
    taken == ns.table.numbers()
}

/// Runs `f` on every interleaving, each time with a new tree whose first
/// namespace it is given, then frees every pid of the tree.
fn check(f: impl Fn(&Arc<PidNamespace>) + Send + Sync + 'static) {
    loom::model(move || {
        let root = PidNamespace::new_root();
        f(&root);
        free_all(&root);
    });
}

/// Runs `there` on a new thread and `here` on this one, both given `ns`,
/// and returns what each gave.
fn race<A: Send + 'static, B>(
    ns: &Arc<PidNamespace>,
    there: impl FnOnce(&Arc<PidNamespace>) -> A + Send + 'static,
    here: impl FnOnce(&Arc<PidNamespace>) -> B,
) -> (A, B) {
    let other = {
        let ns = ns.clone();
        thread::spawn(move || there(&ns))
    };
    let b = here(ns);
    (other.join().unwrap(), b)
}

/// `alloc_pid` in `ns`, cyclic at every level, privileged.
fn fork(ns: &Arc<PidNamespace>) -> Result<Arc<StructPid>, AllocError> {
    alloc_pid(ns, &[], |_| true)
}

/// Gives back every pid of the tree whose first namespace is `root` (each
/// has a number there): a published pid and its namespaces hold each
/// other until then, and loom reports what is never dropped as a leak.
fn free_all(root: &PidNamespace) {
    for p in root.table.pids() {
        while !p.unlink() {}
    }
}

#[test]
fn alloc_against_alloc_in_one_namespace() {
    check(|ns| {
        let (theirs, mine) = race(
            ns,
            |ns| own_nr(alloc_pid(ns, &[], |_| true)),
            |_| own_nr(fork(ns)),
        );
        let mut got = [mine.unwrap(), theirs.unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(ns.last_pid(), 2);
        assert!(no_leak(ns));
    });
}

#[test]
fn set_tid_against_fork_on_the_same_number() {
    check(|ns| {
        fork(ns).unwrap();
        ns.set_child_reaper();
        let (tid, fork) = race(
            ns,
            |ns| own_nr(alloc_pid(ns, &[2], |_| true)),
            |_| own_nr(fork(ns)),
        );
        // set_tid first: the fork skips 2; the fork first: set_tid finds 2 taken.
        assert!(
            (tid == Ok(2) && fork == Ok(3))
                || (fork == Ok(2) && tid == Err(AllocError::Errno(Errno::EEXIST))),
            "set_tid {tid:?}, fork {fork:?}"
        );
        assert!(no_leak(ns));
    });
}

#[test]
fn init_death_against_fork_leaks_no_number() {
    check(|root| {
        let inner = PidNamespace::create_child(root).unwrap();
        fork(&inner).unwrap();
        let ((), forked) = race(&inner, |inner| inner.disable(), |_| fork(&inner));
        match forked {
            Ok(p) => assert_eq!(p.numbers_by_id(), vec![(0, 2), (1, 2)]),
            Err(e) => assert_eq!(e, AllocError::Errno(Errno::ENOMEM)),
        }
        assert!(no_leak(root) && no_leak(&inner));
        assert_eq!(own_nr(fork(&inner)), Err(AllocError::Errno(Errno::ENOMEM)));
    });
}

#[test]
fn nested_fork_against_lookups_at_both_levels() {
    check(|root| {
        let inner = PidNamespace::create_child(root).unwrap();
        let (pid, ()) = race(
            &inner,
            |inner| own_nr(alloc_pid(inner, &[], |_| true)),
            |_| {
                // Every level of the new pid, or none, whichever level is
                // read first (nothing is freed, so what is seen stays).
                if let Some(p) = root.find_pid(1) {
                    let seen = inner.find_pid(1).expect("the inner level is published too");
                    assert_eq!(seen.numbers_by_id(), p.numbers_by_id());
                }
                if inner.find_pid(1).is_some() {
                    let outer = root.find_pid(1);
                    assert!(outer.is_some(), "the outer level is published too");
                }
            },
        );
        assert_eq!(pid, Ok(1));
        assert_eq!(root.find_pid(1).map(|p| p.nr_in(&inner)), Some(1));
    });
}

#[test]
fn ns_last_pid_write_against_fork() {
    check(|ns| {
        let (written, fork) = race(ns, |ns| ns.set_last_pid(10), |_| own_nr(fork(ns)));
        assert_eq!(written, Ok(()));
        // The write first: 11; the fork first: 1, and the write stays.
        let (fork, last) = (fork.unwrap(), ns.last_pid());
        assert!(
            (fork, last) == (11, 11) || (fork, last) == (1, 10),
            "fork {fork}, ns_last_pid {last}"
        );
    });
}

#[test]
fn free_against_alloc_never_shares_a_number() {
    check(|ns| {
        ns.set_last_pid(ns.pid_max() - 2).unwrap();
        let old = fork(ns).unwrap(); // pid_max - 1
        // The cursor is past pid_max - 1: the fork wraps to 300.
        let (freed, fork) = race(ns, move |_| old.unlink(), |_| own_nr(fork(ns)));
        assert!(freed);
        assert_eq!(fork, Ok(300));
        assert!(no_leak(ns));
        assert_eq!(ns.find_pid(300).map(|p| p.links()), Some(1));
    });
}
