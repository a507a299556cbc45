//! `pid_lookups_2t`: two threads look numbers up in namespace `A` and
//! translate them ([`PidWorld::lookup`]) while a third thread allocates and
//! frees pids in `A` without pause; criterion reports lookups/s of the two.
//! After each implementation, the allocating thread's rate over the timed
//! runs is printed: a baseline whose lock starves the allocator would
//! otherwise look faster than it is.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use nscheck_benches::timed_threads;

use crate::concurrent::Concurrent;
use crate::model::MutexModel;
use crate::{BATCH, Ns, PidWorld, TARGETS};

const LOOKUP_THREADS: usize = 2;

/// Each sample runs in a fresh world; the allocating thread runs until
/// both lookup threads are done, and only they are timed.
fn bench<W: PidWorld>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let cycles = AtomicU64::new(0);
    let mut timed = Duration::ZERO;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let world = W::new();
            let allocate = |stop: &AtomicBool| {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    world.cycle(Ns::A);
                    n += 1;
                }
                cycles.fetch_add(n, Ordering::Relaxed);
            };
            let lookups = |t: usize| {
                let mut sum = 0;
                for i in 0..iters * BATCH {
                    sum += world.lookup(2 + (i + t as u64) as i64 % TARGETS);
                }
                black_box(sum);
            };
            let d = timed_threads(LOOKUP_THREADS, lookups, Some(&allocate));
            timed += d;
            d
        })
    });
    let rate = cycles.into_inner() as f64 / timed.as_secs_f64().max(1e-9);
    println!(
        "pid_lookups_2t/{name}: the allocating thread made {:.2} M alloc+free/s",
        rate / 1e6
    );
}

pub fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pid_lookups_2t");
    g.throughput(Throughput::Elements(BATCH * LOOKUP_THREADS as u64));
    bench::<Concurrent>(&mut g, "concurrent");
    bench::<MutexModel>(&mut g, "mutex_model");
    g.finish();
}
