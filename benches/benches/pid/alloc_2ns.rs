//! `pid_alloc_2t_2ns`: two threads allocate and free pids, each in its own
//! child of the root namespace (`A` and `B`; every pid also takes a number
//! in the root); criterion reports alloc+free cycles/s of the two.

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use nscheck_benches::timed_threads;

use crate::concurrent::Concurrent;
use crate::model::MutexModel;
use crate::{BATCH, Ns, PidWorld, paired};

const THREADS: [Ns; 2] = [Ns::A, Ns::B];
/// The cycles each thread makes in one paired round.
const ROUND: u64 = 25_000;

/// `n` cycles on each thread, in a fresh world; returns the cycles of all
/// threads and the time they took.
fn run<W: PidWorld>(n: u64) -> (u64, Duration) {
    let world = W::new();
    let cycles = |t: usize| {
        for _ in 0..n {
            world.cycle(THREADS[t]);
        }
    };
    let d = timed_threads(THREADS.len(), cycles, None);
    (n * THREADS.len() as u64, d)
}

fn bench<W: PidWorld>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    g.bench_function(name, |b| b.iter_custom(|iters| run::<W>(iters * BATCH).1));
}

pub fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pid_alloc_2t_2ns");
    g.throughput(Throughput::Elements(BATCH * THREADS.len() as u64));
    bench::<Concurrent>(&mut g, "concurrent");
    bench::<MutexModel>(&mut g, "mutex_model");
    g.finish();
    paired::ratio(
        "pid_alloc_2t_2ns",
        || run::<Concurrent>(ROUND),
        || run::<MutexModel>(ROUND),
    );
}
