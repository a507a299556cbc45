//! `nscheck-benches`: the benchmarks live in `benches/msgq.rs` (message
//! queues) and `benches/pid/` (pid allocation and lookups); run them with
//! `cargo bench -p nscheck-benches`. This library holds what both share:
//! the way threaded groups start their threads and time them.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `work(thread)` on `timed` threads started together, and returns the
/// time from their common start to the last one's finish. Thread start-up
/// is not timed: every thread waits on a barrier first.
///
/// With `background`, one more thread passes the same barrier and runs
/// `background(stop)` meanwhile; `stop` is set once every timed thread has
/// finished, and the background thread must return soon after.
pub fn timed_threads(
    timed: usize,
    work: impl Fn(usize) + Sync,
    background: Option<&(dyn Fn(&AtomicBool) + Sync)>,
) -> Duration {
    let barrier = Barrier::new(timed + usize::from(background.is_some()));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let extra = background.map(|bg| {
            let (barrier, stop) = (&barrier, &stop);
            s.spawn(move || {
                barrier.wait();
                bg(stop);
            })
        });
        let handles: Vec<_> = (0..timed)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(t);
                    (start, Instant::now())
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> = handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        if let Some(h) = extra {
            h.join().expect("background bench thread");
        }
        let start = spans.iter().map(|s| s.0).min().expect("threads");
        let end = spans.iter().map(|s| s.1).max().expect("threads");
        end - start
    })
}
