//! Generated concurrent scenarios: small msg scripts for two or three
//! worker threads and thread 0, drawn from a seeded generator.
//!
//! Case `case` of seed `seed` is a function of `(seed, case)` only
//! ([`generate`]; a `ChaCha8Rng` seeded with `seed` on stream `case`), so a
//! failing case is named by those two numbers and replays.
//!
//! A [`Generated`] script has three parts. Thread 0 first makes one or two
//! private queues and sets them up
//! alone (`msg_qbytes`, queued messages, `kernel.msgmni`). Then the workers
//! run their calls while thread 0 runs its own: a few that never sleep,
//! some yields, and the removal of every queue it made. Worker calls may
//! sleep (a send to a full queue, a receive without `IPC_NOWAIT`), but
//! every sleeper sleeps on one of those queues, so its call ends at the
//! latest when thread 0 removes the queue (`EIDRM`), and a call made after
//! the removal fails at once: no generated script deadlocks a correct
//! implementation.
//!
//! In a script, a call's `msqid` is the index of one of those queues,
//! which [`resolve`] turns into its id once thread 0 has made them.

use nscheck_model::{MsgSet, Syscall, Sysctl};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::world::{
    COPY, CREAT, EXCL, NOERROR, NOWAIT, PRIVATE, RMID, SET, STAT, ctl, get, rcv, snd, sysctl,
};

/// The seed of the test command's runs (`ci/shuttle.sh`) unless
/// `NSCHECK_GEN_SEED` says otherwise.
pub const DEFAULT_SEED: u64 = 1;

/// The key the workers' `msgget` calls share.
pub const KEY: i64 = 42;

/// One generated scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The seed it was drawn from.
    pub seed: u64,
    /// Its number in that seed's sequence.
    pub case: u64,
    /// How many private queues thread 0 makes first (ids `0..queues`).
    pub queues: usize,
    /// Thread 0's calls before the workers start: the queues' creation,
    /// then their setup.
    pub setup: Vec<Syscall>,
    /// The calls of worker `i` (thread `i + 1`), in order.
    pub workers: Vec<Vec<Syscall>>,
    /// How many times thread 0 yields before its own concurrent calls, so
    /// that the workers get ahead of the removal (0 under loom, which
    /// explores every order anyway).
    pub yields: usize,
    /// Thread 0's calls while the workers run: calls that never sleep,
    /// then `IPC_RMID` of every queue.
    pub main: Vec<Syscall>,
}

impl Generated {
    /// The number of concurrent calls (the workers' and thread 0's), by
    /// which loom picks the smallest cases.
    pub fn size(&self) -> usize {
        self.main.len() + self.workers.iter().map(Vec::len).sum::<usize>()
    }

    /// Whether loom can explore it at bound 2 in a few seconds: two
    /// workers of at most two calls each, one queue, and thread 0 removing
    /// it and nothing else.
    pub fn is_small(&self) -> bool {
        self.workers.len() == 2
            && self.workers.iter().all(|w| w.len() <= 2)
            && self.queues == 1
            && self.main.len() == 1
    }
}

impl std::fmt::Display for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "generated scenario: seed {} case {} ({} workers, {} queues)",
            self.seed,
            self.case,
            self.workers.len(),
            self.queues
        )?;
        for c in &self.setup {
            writeln!(f, "  setup t0: {c:?}")?;
        }
        for (i, w) in self.workers.iter().enumerate() {
            for c in w {
                writeln!(f, "  t{}: {c:?}", i + 1)?;
            }
        }
        writeln!(f, "  t0: {} yields", self.yields)?;
        for c in &self.main {
            writeln!(f, "  t0: {c:?}")?;
        }
        Ok(())
    }
}

/// The draws of one case.
struct Draw(ChaCha8Rng);

impl Draw {
    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// One of `items`.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A message text of one to three bytes.
    fn text(&mut self) -> Vec<u8> {
        let len = 1 + self.below(3);
        vec![b'a' + self.below(4) as u8; len]
    }
}

/// Case `case` of seed `seed`.
pub fn generate(seed: u64, case: u64) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(case);
    let mut d = Draw(rng);
    let queues = 1 + d.below(2);
    let mut setup: Vec<Syscall> = (0..queues).map(|_| get(PRIVATE, CREAT | 0o600)).collect();
    for q in 0..queues as i64 {
        // Small queues fill up, so that senders sleep.
        if d.below(3) > 0 {
            setup.push(ctl(q, SET, qbytes(d.pick(&[2, 3, 4, 6]))));
        }
        for _ in 0..d.below(3) {
            setup.push(snd(q, 1 + d.below(3) as i64, &d.text(), NOWAIT));
        }
    }
    if d.below(4) == 0 {
        // One more queue fits: the workers' creations race on the limit.
        setup.push(sysctl(Sysctl::Msgmni, queues as i64 + 1));
    }
    let workers = (0..2 + d.below(2))
        .map(|_| {
            (0..1 + d.below(3))
                .map(|_| worker_call(&mut d, queues))
                .collect()
        })
        .collect();
    let mut main: Vec<Syscall> = (0..d.below(2)).map(|_| main_call(&mut d, queues)).collect();
    main.extend((0..queues as i64).map(|q| ctl(q, RMID, None)));
    Generated {
        seed,
        case,
        queues,
        setup,
        workers,
        yields: d.below(6),
        main,
    }
}

/// The cases of `seed` among the first `scan` that [`Generated::is_small`]
/// accepts, at most `count` of them: loom's extra scenarios.
pub fn small_cases(seed: u64, scan: u64, count: usize) -> Vec<Generated> {
    (0..scan)
        .map(|case| generate(seed, case))
        .filter(Generated::is_small)
        .take(count)
        .collect()
}

/// `call` with its queue index replaced by the queue's id in `ids`.
pub fn resolve(call: &Syscall, ids: &[i64]) -> Syscall {
    let mut call = call.clone();
    match &mut call {
        Syscall::Msgsnd { msqid, .. } | Syscall::Msgrcv { msqid, .. } => {
            *msqid = ids[*msqid as usize];
        }
        Syscall::Msgctl { msqid, .. } => {
            *msqid = ids[*msqid as usize];
        }
        _ => {}
    }
    call
}

/// `IPC_SET` of `msg_qbytes` alone.
fn qbytes(n: i64) -> Option<MsgSet> {
    Some(MsgSet {
        msg_qbytes: Some(n),
        ..MsgSet::default()
    })
}

/// A worker's call on one of the queues `0..queues` (or the namespace).
fn worker_call(d: &mut Draw, queues: usize) -> Syscall {
    let q = d.below(queues) as i64;
    match d.below(100) {
        0..20 => snd(q, 1 + d.below(3) as i64, &d.text(), 0),
        20..30 => snd(q, 1 + d.below(3) as i64, &d.text(), NOWAIT),
        30..50 => rcv(
            q,
            d.pick(&[1, 2, 8]),
            d.pick(&[0, 1, 2, -2]),
            d.pick(&[0, NOERROR]),
        ),
        50..60 => rcv(
            q,
            d.pick(&[1, 8]),
            d.pick(&[0, 1, 3, -2]),
            NOWAIT | d.pick(&[0, NOERROR]),
        ),
        60..68 => rcv(
            q,
            d.pick(&[1, 8]),
            d.below(3) as i64,
            COPY | NOWAIT | d.pick(&[0, NOERROR]),
        ),
        68..74 => ctl(q, STAT, None),
        74..80 => ctl(q, SET, qbytes(d.pick(&[1, 4, 16]))),
        80..84 => ctl(q, RMID, None),
        // Neither `MSG_INFO` nor `IPC_INFO`: as Linux's, they read the
        // sysctls and sum the queues' counters outside the locks that
        // order the writes, so they are not linearizable (the quiescence
        // checks read `MSG_INFO`). A lookup of the key reads the registry.
        84..88 => get(KEY, 0o600),
        88..92 => get(KEY, CREAT | d.pick(&[0, EXCL]) | 0o600),
        92..94 => sysctl(Sysctl::Msgmni, d.pick(&[queues as i64 + 1, 32000])),
        // The id the next creation takes: ordered with creations by the
        // registry's write lock.
        94..97 => sysctl(Sysctl::MsgNextId, d.pick(&[1, 7, 32771])),
        _ => get(PRIVATE, CREAT | 0o600),
    }
}

/// A call of thread 0 before its removals: one that never sleeps.
fn main_call(d: &mut Draw, queues: usize) -> Syscall {
    let q = d.below(queues) as i64;
    match d.below(4) {
        0 => snd(q, 1 + d.below(3) as i64, &d.text(), NOWAIT),
        1 => rcv(q, 8, d.pick(&[0, 2]), NOWAIT),
        2 => ctl(q, SET, qbytes(d.pick(&[2, 16]))),
        _ => ctl(q, STAT, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scripts() {
        for case in 0..50 {
            assert_eq!(generate(7, case), generate(7, case));
        }
        assert_ne!(generate(7, 1), generate(8, 1));
    }

    #[test]
    fn every_queue_is_removed_and_thread_0_never_sleeps() {
        for case in 0..500 {
            let g = generate(DEFAULT_SEED, case);
            let removed: Vec<_> = g
                .main
                .iter()
                .filter_map(|c| match c {
                    Syscall::Msgctl {
                        msqid, cmd: RMID, ..
                    } => Some(*msqid),
                    _ => None,
                })
                .collect();
            assert_eq!(removed, (0..g.queues as i64).collect::<Vec<_>>());
            for c in &g.main {
                if let Syscall::Msgsnd { msgflg, .. } | Syscall::Msgrcv { msgflg, .. } = c {
                    assert_ne!(msgflg & NOWAIT, 0, "case {case}: {c:?} may sleep");
                }
            }
        }
    }

    #[test]
    fn loom_finds_small_cases() {
        let small = small_cases(DEFAULT_SEED, 200, 4);
        assert_eq!(small.len(), 4);
        assert!(small.iter().all(|g| g.size() <= 5));
    }
}
