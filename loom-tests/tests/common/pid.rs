//! The pid scenarios of the catalogue: races on the pid numbers of a tree
//! of PID namespaces, each named after what it races.
//!
//! Every scenario builds a [`PidWorld`], sets it up from thread 0, runs
//! worker threads and thread 0 at the same time, joins them, lets thread 0
//! make its closing calls, runs the quiescence check
//! ([`PidWorld::quiesce`]: the taken numbers are the published ones) and
//! judges the whole history against [`PidSpec`]
//! ([`PidWorld::check_linearizable`]). Both instances have two workers
//! besides thread 0, each making [`Scale::rounds`] calls of its kind (2
//! under loom, 5 under shuttle); shuttle's also sets up more numbers and
//! deeper trees.
//!
//! [`PidSpec`]: nscheck_loom_tests::pid_spec::PidSpec

use nscheck_concurrent::mutants::Mutant;
use nscheck_concurrent::pid::{PidNamespace, Variant};
use nscheck_loom_tests::pid_spec::{NsIdx, PidCall, PidRet};
use nscheck_loom_tests::pid_world::PidWorld;

use super::{Scale, thread};

/// A step of a thread's script.
#[derive(Clone, Debug)]
enum Op {
    /// A call.
    Call(PidCall),
    /// Frees the pid this thread allocated last, if that allocation
    /// succeeded (by its number in namespace `ns`).
    FreeOwn { ns: NsIdx },
}

use Op::Call;

/// Whether `s` is loom's instance (at most 2 rounds).
fn small(s: Scale) -> bool {
    s.rounds <= 2
}

/// A fresh tree, the first namespace carrying `m`: `parents[i]` is the
/// parent of namespace `i + 1`.
fn world(m: Option<Mutant>, parents: &[NsIdx]) -> PidWorld {
    let root = match m {
        None => PidNamespace::new_root(),
        Some(m) => PidNamespace::new_root_with_mutant(Variant::Mainline, m),
    };
    PidWorld::new(root, parents)
}

/// Runs `script` on `thread`.
fn play(w: &PidWorld, thread: usize, script: Vec<Op>) {
    let mut last = None;
    for op in script {
        match op {
            Call(call) => last = Some(w.call(thread, call)),
            Op::FreeOwn { ns } => {
                if let Some(PidRet::Pid(nrs)) = last.take() {
                    let level = w.level(ns);
                    w.call(
                        thread,
                        PidCall::Free {
                            ns,
                            nr: nrs[level - 1],
                        },
                    );
                }
            }
        }
    }
}

/// Runs `setup` on thread 0, then `workers[i]` on thread `i + 1` and
/// `main` on thread 0 at the same time; joins them all, runs `after` on
/// thread 0, then the quiescence check and the linearizability check, and
/// gives every pid back.
fn run(
    w: &PidWorld,
    setup: Vec<PidCall>,
    main: Vec<Op>,
    workers: Vec<Vec<Op>>,
    after: Vec<PidCall>,
) {
    race(w, setup, main, workers, after);
    w.quiesce();
    w.check_linearizable();
    w.release();
}

/// The part of [`run`] before its checks.
fn race(
    w: &PidWorld,
    setup: Vec<PidCall>,
    main: Vec<Op>,
    workers: Vec<Vec<Op>>,
    after: Vec<PidCall>,
) {
    for call in setup {
        w.call(0, call);
    }
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, script)| {
            let w = w.clone();
            thread::spawn(move || play(&w, i + 1, script))
        })
        .collect();
    play(w, 0, main);
    for h in handles {
        h.join().expect("a worker panicked");
    }
    play(w, 0, after.into_iter().map(Call).collect());
}

fn fork(ns: NsIdx) -> PidCall {
    clone(ns, &[])
}

fn clone(ns: NsIdx, set_tid: &[i64]) -> PidCall {
    PidCall::Alloc {
        ns,
        set_tid: set_tid.to_vec(),
    }
}

fn find(ns: NsIdx, nr: i64) -> PidCall {
    PidCall::Find { ns, nr }
}

/// The first pid of `ns`, its init, and its reaper.
fn init(ns: NsIdx) -> [PidCall; 2] {
    [fork(ns), PidCall::SetReaper { ns }]
}

/// `n` copies of `op`.
fn times(n: usize, op: Op) -> Vec<Op> {
    vec![op; n]
}

/// Alloc against alloc in one namespace: the cursor (pid B4).
///
/// Two workers fork `rounds` times each while thread 0 forks (under loom)
/// or reads `ns_last_pid` (under shuttle): the forks get distinct numbers,
/// in an order some sequence of the forks gives, and `ns_last_pid`
/// afterwards is the last of them. At shuttle's scale the cursor starts
/// near `pid_max` and wraps to 300 (R7).
pub fn pid_alloc_alloc(s: Scale, m: Option<Mutant>) {
    let w = world(m, &[]);
    let mut setup = init(0).to_vec();
    let forks = times(s.rounds, Call(fork(0)));
    let main = if small(s) {
        vec![Call(fork(0))]
    } else {
        // 300..=309: room for every fork.
        setup.push(PidCall::SetPidMax { ns: 0, v: 310 });
        setup.push(PidCall::SetLastPid { ns: 0, v: 305 });
        times(s.rounds, Call(PidCall::LastPid { ns: 0 }))
    };
    let after = vec![PidCall::LastPid { ns: 0 }];
    run(&w, setup, main, vec![forks.clone(), forks], after);
}

/// Alloc against free: the reuse of a number (§1.4).
///
/// `pid_max` is 302 and the cursor past 300, so 300 and 301 are the only
/// numbers a fork can get, and both are taken. Each worker frees one, then
/// forks and frees its own pid `rounds - 1` times, while thread 0 looks 300 up and forks: the fork gets a freed number or
/// `EAGAIN`, never a number still in use. The numbers are given back after
/// the pid leaves the tables, so a lookup may miss the pid before a fork
/// can reuse its number.
pub fn pid_alloc_free(s: Scale, m: Option<Mutant>) {
    let w = world(m, &[]);
    let mut setup = init(0).to_vec();
    setup.push(PidCall::SetPidMax { ns: 0, v: 302 });
    setup.push(PidCall::SetLastPid { ns: 0, v: 299 });
    setup.extend([fork(0), fork(0)]);
    let reuse = |nr| {
        let mut script = vec![Call(PidCall::Free { ns: 0, nr })];
        for _ in 1..s.rounds {
            script.extend([Call(fork(0)), Op::FreeOwn { ns: 0 }]);
        }
        script
    };
    let main = vec![Call(find(0, 300)), Call(fork(0))];
    run(&w, setup, main, vec![reuse(300), reuse(301)], vec![]);
}

/// `set_tid` against fork on the same number (H1, R20, R22).
///
/// One worker asks for 2 to `rounds + 1` with clone3's `set_tid` while the
/// other forks `rounds` times from a cursor at 2, and thread 0 forks too
/// (under loom) or asks for the same numbers in the opposite order (under
/// shuttle): a number goes to a clone and the forks skip it, or to a fork
/// and the clone fails with `EEXIST`; the cursor never moves for
/// `set_tid`.
pub fn pid_set_tid_fork(s: Scale, m: Option<Mutant>) {
    let w = world(m, &[]);
    let tids: Vec<Op> = (2..2 + s.rounds as i64)
        .map(|t| Call(clone(0, &[t])))
        .collect();
    let main = if small(s) {
        vec![Call(fork(0))]
    } else {
        tids.iter().rev().cloned().collect()
    };
    let forks = times(s.rounds, Call(fork(0)));
    let after = vec![PidCall::LastPid { ns: 0 }];
    run(&w, init(0).to_vec(), main, vec![tids, forks], after);
}

/// Init death against fork: `ENOMEM`, and no number leaks (R13, H4).
///
/// Namespace 1, below the first, has its init. Thread 0 disables it (its
/// init died) and then looks up the numbers the forks would get; two
/// workers fork into it `rounds` times each. Each
/// fork either published its pid before the death (and the lookups find
/// it) or fails with `ENOMEM` and gives back the numbers it reserved at
/// both levels, which the quiescence check sees.
pub fn pid_init_death_fork(s: Scale, m: Option<Mutant>) {
    let w = world(m, &[0]);
    let setup = [init(0), init(1)].concat();
    let main = vec![
        Call(PidCall::Disable { ns: 1 }),
        Call(find(1, 2)),
        Call(find(0, 3)),
    ];
    let forks = times(s.rounds, Call(fork(1)));
    run(&w, setup, main, vec![forks.clone(), forks], vec![]);
}

/// A fork in a nested namespace against lookups at the parent level: every
/// level of the new pid is visible, or none (pid B17).
///
/// A worker forks into namespace 1 (below the first), whose first pid gets
/// 2 outside and 1 inside, while the other forks into the first namespace
/// (`rounds` times each); thread 0 looks the numbers up outside, inside, then outside again, so
/// that a pid published one level at a time is seen at one level and then
/// missed at the other, whichever level comes first. At shuttle's scale
/// the tree has three levels, one worker forks into the deepest and the
/// other into the middle one, `rounds` times each, and thread 0 looks up
/// every level.
pub fn pid_nested_fork_lookup(s: Scale, m: Option<Mutant>) {
    if small(s) {
        let w = world(m, &[0]);
        let main = vec![Call(find(0, 2)), Call(find(1, 1)), Call(find(0, 2))];
        let workers = vec![
            times(s.rounds, Call(fork(1))),
            times(s.rounds, Call(fork(0))),
        ];
        run(&w, init(0).to_vec(), main, workers, vec![]);
        return;
    }
    let w = world(m, &[0, 1]);
    let mut main = Vec::new();
    for nr in 1..=s.rounds as i64 {
        main.extend([find(0, nr + 1), find(1, nr), find(2, nr), find(1, nr)].map(Call));
    }
    let deep = times(s.rounds, Call(fork(2)));
    let middle = times(s.rounds, Call(fork(1)));
    run(&w, init(0).to_vec(), main, vec![deep, middle], vec![]);
}

/// An `ns_last_pid` write against fork (pid B4, H2): the write is
/// linearizable with each level's reservation.
///
/// Thread 0 writes 10 and reads it back while two workers fork `rounds`
/// times each: a fork after the write counts from 11, one before it from
/// the last fork's number, and the write is never lost (pid B4's plain
/// store of an older cursor would lose it). At shuttle's scale the tree
/// has two levels, one worker forks into the inner one (two reservations
/// each) and the other into the first, while thread 0 writes both levels'
/// `ns_last_pid` and reads them.
pub fn pid_last_pid_write_fork(s: Scale, m: Option<Mutant>) {
    let set = |ns, v| Call(PidCall::SetLastPid { ns, v });
    let get = |ns| Call(PidCall::LastPid { ns });
    if small(s) {
        let w = world(m, &[]);
        let after = vec![PidCall::LastPid { ns: 0 }];
        let forks = times(s.rounds, Call(fork(0)));
        let main = vec![set(0, 10), get(0)];
        run(
            &w,
            init(0).to_vec(),
            main,
            vec![forks.clone(), forks],
            after,
        );
        return;
    }
    let w = world(m, &[0]);
    let main = vec![
        set(1, 20),
        get(0),
        set(0, 10),
        get(1),
        set(1, 30),
        set(0, 40),
    ];
    let inner = times(s.rounds, Call(fork(1)));
    let outer = times(s.rounds, Call(fork(0)));
    let after = vec![PidCall::LastPid { ns: 0 }, PidCall::LastPid { ns: 1 }];
    run(
        &w,
        [init(0), init(1)].concat(),
        main,
        vec![inner, outer],
        after,
    );
}

/// Alloc against alloc and free under a historical pid design
/// (`Variant::Flat2007`, `Variant::Openvz2006`), against every other call
/// of its one lock (`pid/variant.rs`): the reaper set again, a lookup,
/// the sysctls, and init's death.
///
/// Two workers fork `rounds` times each and free every other pid they
/// got; thread 0 sets the reaper, looks 2 up, reads and writes
/// `ns_last_pid` and `pid_max`, then disables the namespace. The pid
/// specification of this crate ([`PidSpec`]) and the quiescence check
/// ([`PidWorld::quiesce`]) follow mainline (numbers a lookup and
/// `set_tid` agree on, `EEXIST` before init's death), so neither judges
/// it: every allocation must give a number no live pid holds, and no call
/// may panic. The task scenarios `task_*_fork_reap` judge forks, reaps
/// and the sysctls of these designs against the model's kernel of the
/// same dialect.
///
/// [`PidSpec`]: nscheck_loom_tests::pid_spec::PidSpec
fn variant_alloc_free(variant: Variant, s: Scale) {
    let w = PidWorld::new(PidNamespace::new_root_variant(variant), &[]);
    let worker = |r: usize| -> Vec<Op> {
        let mut script = Vec::new();
        for i in 0..r {
            script.push(Call(fork(0)));
            if i % 2 == 0 {
                script.push(Op::FreeOwn { ns: 0 });
            }
        }
        script
    };
    let main = vec![
        Call(PidCall::SetReaper { ns: 0 }),
        Call(find(0, 2)),
        Call(PidCall::LastPid { ns: 0 }),
        Call(PidCall::SetLastPid { ns: 0, v: 10 }),
        Call(PidCall::PidMax { ns: 0 }),
        Call(PidCall::SetPidMax { ns: 0, v: 4096 }),
        Call(PidCall::Disable { ns: 0 }),
    ];
    let workers = vec![worker(s.rounds), worker(s.rounds)];
    race(&w, init(0).to_vec(), main, workers, vec![]);
    w.release();
}

/// [`variant_alloc_free`] under `flat2007`, in the lock-section table's
/// runs (`LOCK_SCENARIOS`).
pub fn pid_flat2007_alloc_free(s: Scale, _: Option<Mutant>) {
    variant_alloc_free(Variant::Flat2007, s);
}

/// [`variant_alloc_free`] under `openvz2006`, in the lock-section
/// table's runs (`LOCK_SCENARIOS`).
pub fn pid_openvz2006_alloc_free(s: Scale, _: Option<Mutant>) {
    variant_alloc_free(Variant::Openvz2006, s);
}
