//! `pid_lookups_2t`: two threads look numbers up in namespace `A` and
//! translate them ([`PidWorld::lookup`]) while a third thread allocates and
//! frees pids in `A` without pause; criterion reports lookups/s of the two.
//! After each implementation, the allocating thread's rate over the timed
//! runs is printed: a baseline whose lock starves the allocator would
//! otherwise look faster than it is.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use nscheck_benches::timed_threads;

use crate::concurrent::Concurrent;
use crate::model::MutexModel;
use crate::{BATCH, Ns, PidWorld, TARGETS, paired};

const LOOKUP_THREADS: usize = 2;
/// The lookups each lookup thread makes in one paired round.
const ROUND: u64 = 100_000;

/// `n` lookups on each lookup thread, in a fresh world, with the
/// allocating thread running until both are done; only they are timed.
/// Returns the lookups, their time and the allocating thread's cycles.
fn run<W: PidWorld>(n: u64) -> (u64, Duration, u64) {
    let world = W::new();
    let cycles = AtomicU64::new(0);
    let allocate = |stop: &AtomicBool| {
        let mut done = 0;
        while !stop.load(Ordering::Relaxed) {
            world.cycle(Ns::A);
            done += 1;
        }
        cycles.store(done, Ordering::Relaxed);
    };
    let lookups = |t: usize| {
        let mut sum = 0;
        for i in 0..n {
            sum += world.lookup(2 + (i + t as u64) as i64 % TARGETS);
        }
        black_box(sum);
    };
    let d = timed_threads(LOOKUP_THREADS, lookups, Some(&allocate));
    (n * LOOKUP_THREADS as u64, d, cycles.into_inner())
}

fn bench<W: PidWorld>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (mut cycles, mut timed) = (0, Duration::ZERO);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (_, d, c) = run::<W>(iters * BATCH);
            (cycles, timed) = (cycles + c, timed + d);
            d
        })
    });
    if !timed.is_zero() {
        println!(
            "pid_lookups_2t/{name}: the allocating thread made {:.2} M alloc+free/s",
            cycles as f64 / timed.as_secs_f64() / 1e6
        );
    }
}

pub fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pid_lookups_2t");
    g.throughput(Throughput::Elements(BATCH * LOOKUP_THREADS as u64));
    bench::<Concurrent>(&mut g, "concurrent");
    bench::<MutexModel>(&mut g, "mutex_model");
    g.finish();
    let rounds = [
        Cell::new((0, Duration::ZERO)),
        Cell::new((0, Duration::ZERO)),
    ];
    let lookups = |side: usize, (n, d, c): (u64, Duration, u64)| {
        let (cycles, timed) = rounds[side].get();
        rounds[side].set((cycles + c, timed + d));
        (n, d)
    };
    paired::ratio(
        "pid_lookups_2t",
        || lookups(0, run::<Concurrent>(ROUND)),
        || lookups(1, run::<MutexModel>(ROUND)),
    );
    let [c, m] = rounds.map(|r| {
        let (cycles, timed) = r.get();
        cycles as f64 / timed.as_secs_f64().max(1e-9) / 1e6
    });
    if c > 0.0 {
        println!(
            "pid_lookups_2t: paired, the allocating thread made {c:.2} and {m:.2} M alloc+free/s"
        );
    }
}
