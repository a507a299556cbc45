//! The implementation side of the pid scenarios: a tree of PID namespaces
//! of `nscheck-concurrent`, the pids the threads allocated, and their
//! calls recorded as a history ([`Recorder`]) to judge against
//! [`PidSpec`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex as StdMutex;

use nscheck_adapter::errno;
use nscheck_concurrent::pid::{AllocError, PidNamespace, StructPid, Variant, alloc_pid};
use nscheck_concurrent::sync::Arc;
use nscheck_model::Errno;

use crate::lin::{self, Entry};
use crate::pid_spec::{NsIdx, PidCall, PidRet, PidSpec};
use crate::recorder::Recorder;

/// A call of a pid history and its result.
pub type PidEntry = Entry<PidCall, PidRet>;

/// The live pids, under each of their `(namespace, number)` pairs.
type Live = BTreeMap<(NsIdx, i64), Arc<StructPid>>;

/// The namespaces, the live pids and the history of one execution. Clone
/// it into each thread.
#[derive(Clone, Debug)]
pub struct PidWorld {
    nss: Vec<Arc<PidNamespace>>,
    parents: Vec<NsIdx>,
    /// Every pid allocated through the world and not freed, under each of
    /// its `(namespace, number)` pairs: what `Free` unlinks. A `std` mutex,
    /// like the recorder's, so that it adds no interleavings; so nothing
    /// that loom or shuttle schedule (cloning or dropping an `Arc`) happens
    /// while it is held, or another model thread could block on it for
    /// real.
    live: std::sync::Arc<StdMutex<Live>>,
    rec: Recorder<PidCall, PidRet>,
}

impl PidWorld {
    /// A tree of fresh namespaces, as [`PidSpec::new`] numbers them:
    /// `parents[i]` is the parent of namespace `i + 1`. The first is made
    /// by `root` (e.g. with a mutant).
    pub fn new(root: Arc<PidNamespace>, parents: &[NsIdx]) -> PidWorld {
        let mut nss = vec![root];
        for &p in parents {
            let child = PidNamespace::create_child(&nss[p]).expect("a shallow tree");
            nss.push(child);
        }
        PidWorld {
            nss,
            parents: parents.to_vec(),
            live: Default::default(),
            rec: Recorder::default(),
        }
    }

    /// The level of namespace `ns` (the first is at 1).
    pub fn level(&self, ns: NsIdx) -> usize {
        self.nss[ns].level()
    }

    /// The index of the namespace `ns`.
    fn index(&self, ns: &PidNamespace) -> NsIdx {
        self.nss
            .iter()
            .position(|n| n.id() == ns.id())
            .expect("a namespace of the tree")
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Thread `thread` makes `call`; the call and its result are recorded.
    pub fn call(&self, thread: usize, call: PidCall) -> PidRet {
        self.rec.record(thread, call, |call| self.run(call))
    }

    /// Runs `call` on the implementation.
    fn run(&self, call: &PidCall) -> PidRet {
        let done = |r: Result<(), nscheck_concurrent::Errno>| match r {
            Ok(()) => PidRet::Done,
            Err(e) => PidRet::Err(errno(e)),
        };
        match *call {
            PidCall::Alloc { ns, ref set_tid } => match alloc_pid(&self.nss[ns], set_tid, |_| true)
            {
                Ok(pid) => {
                    let numbers = pid.nspid(&self.nss[0]);
                    let entries: Vec<_> = pid
                        .numbers()
                        .iter()
                        .map(|u| ((self.index(&u.ns), u.nr), pid.clone()))
                        .collect();
                    let replaced: Vec<_> = {
                        let mut live = self.live();
                        entries
                            .into_iter()
                            .filter_map(|(k, p)| live.insert(k, p))
                            .collect()
                    };
                    // A number a live pid holds is never handed out again.
                    assert!(
                        replaced.is_empty(),
                        "{call:?} gave {numbers:?}, a number of a live pid"
                    );
                    PidRet::Pid(numbers)
                }
                Err(AllocError::Errno(e)) => PidRet::Err(errno(e)),
                Err(AllocError::HostLevel) => PidRet::HostLevel,
            },
            PidCall::Free { ns, nr } => {
                let (pid, others) = {
                    let mut live = self.live();
                    let pid = live
                        .remove(&(ns, nr))
                        .unwrap_or_else(|| panic!("no live pid has {nr} in namespace {ns}"));
                    let others: Vec<_> = pid
                        .numbers()
                        .iter()
                        .filter_map(|u| live.remove(&(self.index(&u.ns), u.nr)))
                        .collect();
                    (pid, others)
                };
                drop(others);
                assert!(pid.unlink(), "the world holds the only link");
                PidRet::Done
            }
            PidCall::Find { ns, nr } => match self.nss[ns].find_pid(nr) {
                Some(pid) => {
                    self.check_global_nr(ns, &pid);
                    PidRet::Pid(pid.nspid(&self.nss[0]))
                }
                None => PidRet::Missing,
            },
            PidCall::LastPid { ns } => PidRet::Val(self.nss[ns].last_pid()),
            PidCall::SetLastPid { ns, v } => done(self.nss[ns].set_last_pid(v)),
            PidCall::PidMax { ns } => PidRet::Val(self.nss[ns].pid_max()),
            PidCall::SetPidMax { ns, v } => done(self.nss[ns].set_pid_max(v)),
            PidCall::Disable { ns } => {
                self.nss[ns].disable();
                PidRet::Done
            }
            PidCall::SetReaper { ns } => {
                self.nss[ns].set_child_reaper();
                PidRet::Done
            }
        }
    }

    /// Under a historical design, reads the global number of `pid`, which
    /// a lookup in namespace `ns` found (`PidNamespace::global_nr`, a
    /// reader of the design's state): a pid has one until it is freed, and
    /// the world forgets a pid before it frees it, so a pid without one
    /// must be gone from the world.
    fn check_global_nr(&self, ns: NsIdx, pid: &Arc<StructPid>) {
        if self.nss[ns].variant() == Variant::Mainline {
            return;
        }
        let global = self.nss[ns].global_nr(pid);
        let own = &pid.numbers()[0];
        let key = (self.index(&own.ns), own.nr);
        let live = self.live().get(&key).is_some_and(|p| Arc::ptr_eq(p, pid));
        if global.is_none() && live {
            self.fail(&format!("a live pid {key:?} has no global number"));
        }
    }

    /// The history so far (only calls that returned).
    pub fn history(&self) -> Vec<PidEntry> {
        self.rec.history()
    }

    /// Panics with `why` and the history.
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\nhistory:\n{}", lin::render(&self.history()));
    }

    /// The quiescence check, run by thread 0 once every other thread has
    /// been joined: no number is taken without being published, or
    /// published without being taken. For every namespace and every number
    /// the history mentions there (and 1 to 3), thread 0 asks for that
    /// looks the number up, then asks for it with `set_tid` (where the
    /// namespace's reaper allows it, R19): `EEXIST` must come exactly when
    /// the lookup found a pid. (`ENOMEM` from a dead namespace means the number was free; a
    /// number obtained is freed again.) The probes are recorded calls, so
    /// the specification judges them too.
    pub fn quiesce(&self) {
        let h = self.history();
        let mut reaper = BTreeSet::new();
        let mut candidates: Vec<BTreeSet<i64>> = vec![(1..=3).collect(); self.nss.len()];
        for e in &h {
            match (&e.call, &e.ret) {
                (PidCall::SetReaper { ns }, _) => {
                    reaper.insert(*ns);
                }
                (PidCall::Free { ns, nr } | PidCall::Find { ns, nr }, _) => {
                    candidates[*ns].insert(*nr);
                }
                _ => {}
            }
            if let PidRet::Pid(nrs) = &e.ret {
                for (ns, c) in candidates.iter_mut().enumerate() {
                    if let Some(&nr) = nrs.get(self.nss[ns].level() - 1) {
                        c.insert(nr);
                    }
                }
            }
        }
        for (ns, nrs) in candidates.iter().enumerate() {
            for &nr in nrs {
                if nr != 1 && !reaper.contains(&ns) {
                    continue;
                }
                let found = self.call(0, PidCall::Find { ns, nr });
                let probe = self.call(
                    0,
                    PidCall::Alloc {
                        ns,
                        set_tid: vec![nr],
                    },
                );
                let taken = match &probe {
                    PidRet::Err(Errno::EEXIST) => true,
                    PidRet::Err(Errno::ENOMEM) => false,
                    PidRet::Pid(_) => {
                        self.call(0, PidCall::Free { ns, nr });
                        false
                    }
                    _ => continue,
                };
                if taken != (found != PidRet::Missing) {
                    self.fail(&format!(
                        "namespace {ns}, number {nr}: set_tid gives {probe:?} but the lookup \
                         {found:?}: taken and published differ"
                    ));
                }
            }
        }
    }

    /// Checks that the history is linearizable with respect to
    /// [`PidSpec`]; panics with the history and the rejection if not.
    pub fn check_linearizable(&self) {
        let h = self.history();
        if let Err(r) = lin::check_apart(&PidSpec::new(&self.parents), &h) {
            panic!(
                "the history is not linearizable against the pid specification\nhistory:\n{}{r}",
                lin::render(&h)
            );
        }
    }

    /// Gives back every pid still live, so that the pids and the
    /// namespaces, which hold each other until then, are dropped (loom
    /// reports what is never dropped as a leak).
    pub fn release(&self) {
        let pids: Vec<_> = std::mem::take(&mut *self.live()).into_values().collect();
        for pid in pids {
            if pid.links() > 0 {
                pid.unlink();
            }
        }
    }
}
