//! The generated msg scenarios (`nscheck_loom_tests::generated`) as runs of
//! the catalogue's world: thread 0 makes and sets up the queues, the
//! workers and thread 0 then run concurrently, and the history is judged
//! against the model like every hand-written scenario's.

use nscheck_concurrent::mutants::Mutant;
use nscheck_loom_tests::generated::{Generated, resolve};
use nscheck_loom_tests::world::{World, val};

use super::{namespace, roots, run_with, thread};

/// Runs `g` on a fresh namespace carrying `m`.
pub fn run_generated(g: &Generated, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(g.workers.len()));
    let mut ids = Vec::new();
    for call in &g.setup {
        let out = w.call(0, resolve(call, &ids));
        if ids.len() < g.queues {
            ids.push(val(&out));
        }
    }
    let workers = g
        .workers
        .iter()
        .map(|script| script.iter().map(|c| resolve(c, &ids)).collect())
        .collect();
    run_with(&w, workers, || {
        for _ in 0..g.yields {
            thread::yield_now();
        }
        for call in &g.main {
            w.call(0, resolve(call, &ids));
        }
    });
}
