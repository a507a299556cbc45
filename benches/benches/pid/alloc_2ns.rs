//! `pid_alloc_2t_2ns`: two threads allocate and free pids, each in its own
//! child of the root namespace (`A` and `B`; every pid also takes a number
//! in the root); criterion reports alloc+free cycles/s of the two.

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use nscheck_benches::timed_threads;

use crate::concurrent::Concurrent;
use crate::model::MutexModel;
use crate::{BATCH, Ns, PidWorld};

const THREADS: [Ns; 2] = [Ns::A, Ns::B];

/// Each sample runs in a fresh world.
fn bench<W: PidWorld>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let world = W::new();
            let cycles = |t: usize| {
                for _ in 0..iters * BATCH {
                    world.cycle(THREADS[t]);
                }
            };
            timed_threads(THREADS.len(), cycles, None)
        })
    });
}

pub fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pid_alloc_2t_2ns");
    g.throughput(Throughput::Elements(BATCH * THREADS.len() as u64));
    bench::<Concurrent>(&mut g, "concurrent");
    bench::<MutexModel>(&mut g, "mutex_model");
    g.finish();
}
