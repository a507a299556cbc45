//! `pid_alloc_free`: one pid allocated and freed in one namespace (the
//! root), single-threaded; the real kernel's fork+exit+wait beside it.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

use crate::concurrent::Concurrent;
use crate::model::MutexModel;
use crate::{Ns, PidWorld, kernel, paired};

/// The cycles of one paired round.
const ROUND: u64 = 100_000;

/// `n` cycles in a fresh world.
fn run<W: PidWorld>(n: u64) -> (u64, Duration) {
    let world = W::new();
    let start = Instant::now();
    for _ in 0..n {
        world.cycle(Ns::Root);
    }
    (n, start.elapsed())
}

pub fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("pid_alloc_free");
    g.throughput(Throughput::Elements(1));
    let concurrent = Concurrent::new();
    g.bench_function("concurrent", |b| b.iter(|| concurrent.cycle(Ns::Root)));
    g.bench_function("kernel", |b| b.iter(kernel::fork_exit_wait));
    let model = MutexModel::new();
    g.bench_function("mutex_model", |b| b.iter(|| model.cycle(Ns::Root)));
    g.finish();
    paired::ratio(
        "pid_alloc_free",
        || run::<Concurrent>(ROUND),
        || run::<MutexModel>(ROUND),
    );
}
