//! PID benchmarks (issue 11): the pid layer of `nscheck-concurrent`
//! (`nscheck_concurrent::pid`) side by side with its baselines, in one run.
//!
//! - `concurrent`: the implementation under test ([`concurrent`]);
//! - `mutex_model`: the executable specification behind one mutex,
//!   `Mutex<nscheck_model::Kernel>`, called through `Kernel::call`
//!   ([`model`]);
//! - `kernel`: the real kernel's fork+exit+wait ([`kernel`]), in the first
//!   group only.
//!
//! Groups, one file each:
//!
//! - `pid_alloc_free` ([`alloc_free`]): one pid allocated and freed in one
//!   namespace, single-threaded (goal for `concurrent`: ≤ 200 ns);
//! - `pid_lookups_2t` ([`lookups`]): lookups and translations on 2 threads
//!   while a third allocates and frees in the same namespace (goal: ≥ 1.5×
//!   `mutex_model`'s lookups/s);
//! - `pid_alloc_2t_2ns` ([`alloc_2ns`]): alloc+free on 2 threads, each in
//!   its own child of the root namespace (goal: ≥ 1.5× `mutex_model`).
//!
//! After each group, the two implementations also run alternately in short
//! rounds ([`paired`]), and the median ratio of their throughputs is
//! printed: on a busy machine it is steadier than the ratio of criterion's
//! figures, which are taken seconds apart.
//!
//! Run: `cargo bench -p nscheck-benches --bench pid` (add a group name
//! after `--` to run one group).

mod alloc_2ns;
mod alloc_free;
mod concurrent;
mod kernel;
mod lookups;
mod model;
mod paired;

use std::time::Duration;

use criterion::Criterion;

/// The live pids of namespace [`Ns::A`] that lookups look for, besides its
/// init: they hold the numbers `2..=TARGETS + 1` there.
const TARGETS: i64 = 6;
/// Operations each thread of a threaded group makes per criterion
/// iteration; threads are started once per sample, not per iteration.
const BATCH: u64 = 1000;

/// A namespace of the world every implementation builds.
#[derive(Clone, Copy, Debug)]
enum Ns {
    /// The root namespace, whose init is the model's `t0`.
    Root,
    /// The first child of the root; it holds the lookup targets.
    A,
    /// The second child of the root.
    B,
}

/// The world every group runs in, built the same way by each
/// implementation: the root namespace with its init, and two child
/// namespaces of the root, [`Ns::A`] and [`Ns::B`], each with its init; `A`
/// also holds [`TARGETS`] live pids.
trait PidWorld: Sync {
    /// A fresh world.
    fn new() -> Self;
    /// Allocates a pid in `ns` and frees it again: the namespace's init
    /// forks, the child exits and the init reaps it.
    fn cycle(&self, ns: Ns);
    /// Looks up the number `nr` in [`Ns::A`] (it must be found) and
    /// translates the pid: its number in the root namespace, its number as
    /// `A`'s init sees it, and its `NSpid` seen from the root. Returns the
    /// sum of those numbers, so that nothing is left unused.
    fn lookup(&self, nr: i64) -> i64;
}

fn main() {
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30)
        .configure_from_args();
    alloc_free::group(&mut c);
    lookups::group(&mut c);
    alloc_2ns::group(&mut c);
    c.final_summary();
}
