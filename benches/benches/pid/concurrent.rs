//! The implementation under test: `nscheck_concurrent::pid`, used
//! directly (no task layer): a fork is `alloc_pid`, an exit and its reaping
//! are the last `StructPid::unlink`.

use std::hint::black_box;

use nscheck_concurrent::pid::{PidNamespace, StructPid, alloc_pid};
use nscheck_concurrent::sync::Arc;

use crate::{Ns, PidWorld, TARGETS};

/// The world of [`PidWorld`] as namespaces and the pids of their tasks.
#[derive(Debug)]
pub struct Concurrent {
    /// The root, `A` and `B`, in the order of [`Ns`].
    nss: [Arc<PidNamespace>; 3],
    /// Their inits, in the same order.
    inits: [Arc<StructPid>; 3],
    /// The lookup targets of `A`.
    targets: Vec<Arc<StructPid>>,
}

/// A new pid in `ns`, as a fork by a task with every capability makes it.
fn alloc(ns: &Arc<PidNamespace>) -> Arc<StructPid> {
    alloc_pid(ns, &[], |_| true).expect("alloc_pid")
}

/// A pid numbered 1 in `ns`, which becomes the namespace's init.
fn alloc_init(ns: &Arc<PidNamespace>) -> Arc<StructPid> {
    let init = alloc(ns);
    ns.set_child_reaper();
    init
}

impl Concurrent {
    fn ns(&self, ns: Ns) -> &Arc<PidNamespace> {
        &self.nss[ns as usize]
    }
}

impl PidWorld for Concurrent {
    fn new() -> Concurrent {
        let root = PidNamespace::new_root();
        let a = PidNamespace::create_child(&root).expect("namespace A");
        let b = PidNamespace::create_child(&root).expect("namespace B");
        let inits = [alloc_init(&root), alloc_init(&a), alloc_init(&b)];
        let targets = (0..TARGETS).map(|_| alloc(&a)).collect();
        Concurrent {
            nss: [root, a, b],
            inits,
            targets,
        }
    }

    fn cycle(&self, ns: Ns) {
        let pid = alloc(self.ns(ns));
        black_box(&pid);
        assert!(pid.unlink(), "the new pid had one link");
    }

    /// The translations run on the pid found, under the lookup lock
    /// (`PidNamespace::with_pid`), as Linux's run under `rcu_read_lock`
    /// without taking a reference.
    fn lookup(&self, nr: i64) -> i64 {
        let root = self.ns(Ns::Root);
        let a_init = &self.inits[Ns::A as usize];
        let translate = |pid: &Arc<StructPid>| {
            let nspid: i64 = pid.nspid(root).iter().sum();
            pid.nr_in(root) + pid.vnr(a_init) + nspid
        };
        self.ns(Ns::A).with_pid(nr, translate).expect("a target")
    }
}

impl Drop for Concurrent {
    /// Gives every number back, which drops the tables' references to the
    /// pids and so the pids' references to the namespaces.
    fn drop(&mut self) {
        for pid in self.targets.iter().chain(&self.inits) {
            pid.unlink();
        }
    }
}
