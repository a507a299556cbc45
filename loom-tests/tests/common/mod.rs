//! The scenario catalogue, shared by `loom.rs` and `shuttle.rs`.
//!
//! Every scenario builds a [`World`] (one namespace, one task per thread),
//! sets it up from thread 0, runs worker threads (and sometimes thread 0
//! too) concurrently, joins them, runs the quiescence checks
//! ([`World::quiesce`]) and finally judges the whole recorded history
//! against the model ([`World::check_linearizable`]). Each is written once
//! for a [`Scale`]: loom runs the smallest instance (two or three threads, a
//! few calls), shuttle a larger one (four or more threads, twenty or more
//! calls). Every scenario terminates in every interleaving of a correct
//! implementation: blocking calls are always matched by calls that end
//! them.
//!
//! A scenario takes the mutant to build its namespace with, so that the
//! same scenario shows that the checks catch a deliberate bug.
//!
//! The IPC scenarios are below; the pid scenarios, which race the numbers
//! of a tree of PID namespaces and are judged against the pid
//! specification, are in [`pid`]; the task scenarios, which race task
//! calls and are judged against the model's kernel, in [`tasks`]; the
//! generated msg scenarios (`nscheck_loom_tests::generated`) run through
//! [`generated`].

#![allow(dead_code)]

pub mod generated;
pub mod pid;
pub mod tasks;

use nscheck_concurrent::IpcNamespace;
use nscheck_concurrent::mutants::Mutant;
use nscheck_loom_tests::world::*;
use nscheck_model::{MsgSet, Sysctl};

#[cfg(nscheck_loom)]
use loom::thread;
#[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
use shuttle::thread;

/// How big an instance of a scenario is.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Worker threads, besides thread 0 (loom allows at most four).
    pub workers: usize,
    /// Calls of the repeated part of a worker's script.
    pub rounds: usize,
}

/// The loom instance: as small as still shows the race.
pub const SMALL: Scale = Scale {
    workers: 3,
    rounds: 2,
};

/// A scenario: its name, its body, the half of the implementation it
/// races, and the mutants it must catch.
pub struct Scenario {
    pub name: &'static str,
    pub run: fn(Scale, Option<Mutant>),
    pub half: Half,
    pub catches: &'static [Mutant],
}

/// The half of the implementation a scenario races.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    /// Message queues: the mutants of `Mutant::ALL` and `Mutant::RACES`.
    Ipc,
    /// Pid numbers: the mutants of `Mutant::PID` and `Mutant::PID_RACES`.
    Pid,
    /// Tasks, sessions and process groups: the mutants of `Mutant::TASKS`,
    /// and those of [`KILL_RACES`].
    Tasks,
}

impl Half {
    /// The mutants the bug zoo runs this half's scenarios against.
    pub fn mutants(self) -> impl Iterator<Item = Mutant> {
        let lists: [&[Mutant]; 2] = match self {
            Half::Ipc => [Mutant::ALL, Mutant::RACES],
            Half::Pid => [Mutant::PID, Mutant::PID_RACES],
            Half::Tasks => [Mutant::TASKS, KILL_RACES],
        };
        lists.into_iter().flatten().copied()
    }
}

/// The mutant whose `Debug` name is `name`, from any list.
pub fn mutant_named(name: &str) -> Mutant {
    [Half::Ipc, Half::Pid, Half::Tasks]
        .into_iter()
        .flat_map(Half::mutants)
        .find(|m| format!("{m:?}") == name)
        .unwrap_or_else(|| panic!("no mutant {name}"))
}

/// One test per scenario, named after it, calling the front end's own
/// `passes(name)`; and a test that every scenario of [`SCENARIOS`] has one.
macro_rules! scenario_tests {
    () => {
        scenario_tests!(
            handoff,
            full_queue,
            rmid_sleepers,
            ipc_set_sleepers,
            copy_vs_receive,
            msgget_one_key,
            msgmni_limit,
            counters,
            pid_alloc_alloc,
            pid_alloc_free,
            pid_set_tid_fork,
            pid_init_death_fork,
            pid_nested_fork_lookup,
            pid_last_pid_write_fork,
            task_setsid_leader_exit,
            task_kill_receiver_handoff,
            task_kill_sender_room,
        );
    };
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                passes(stringify!($name));
            }
        )*

        #[test]
        fn every_scenario_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for s in SCENARIOS {
                assert!(tested.contains(&s.name), "{} has no test", s.name);
            }
        }
    };
}

/// The mutant tests of a front end (`loom.rs`, `shuttle.rs`): a test for
/// each scenario and mutant it must catch, each calling the front end's own
/// `catches(name, mutant)`, and a test that the list covers every
/// scenario's `catches` and catches every race mutant somewhere.
macro_rules! mutant_tests {
    () => {
        mutant_tests! {
            handoff_catches_skip_e2big_receiver: "handoff" SkipE2bigReceiver;
            full_queue_catches_lost_wakeup: "full_queue" LostWakeup;
            rmid_sleepers_catches_rmid_race: "rmid_sleepers" RmidRace;
            ipc_set_sleepers_catches_lost_wakeup: "ipc_set_sleepers" LostWakeup;
            copy_vs_receive_catches_copy_aliasing: "copy_vs_receive" CopyAliasing;
            copy_vs_receive_catches_cbytes_drift: "copy_vs_receive" CbytesDrift;
            msgget_one_key_catches_key_race: "msgget_one_key" KeyRace;
            msgmni_limit_catches_msgmni_race: "msgmni_limit" MsgmniRace;
            counters_catches_cbytes_drift: "counters" CbytesDrift;
            pid_alloc_alloc_catches_last_pid_race: "pid_alloc_alloc" LastPidRace;
            pid_last_pid_write_fork_catches_last_pid_race: "pid_last_pid_write_fork" LastPidRace;
            pid_nested_fork_lookup_catches_publish_per_level: "pid_nested_fork_lookup" PublishPerLevel;
            pid_init_death_fork_catches_adding_check_early: "pid_init_death_fork" AddingCheckEarly;
            pid_set_tid_fork_catches_set_tid_check_then_take: "pid_set_tid_fork" SetTidCheckThenTake;
            task_setsid_leader_exit_catches_reuse_held_pgid: "task_setsid_leader_exit" ReuseHeldPgid;
            task_kill_receiver_handoff_catches_cancel_drops_wakeup: "task_kill_receiver_handoff" CancelDropsWakeup;
            task_kill_sender_room_catches_cancel_drops_wakeup: "task_kill_sender_room" CancelDropsWakeup;
        }
    };
    ($($test:ident: $name:literal $mutant:ident;)*) => {
        $(
            #[test]
            fn $test() {
                catches($name, Mutant::$mutant);
            }
        )*

        #[test]
        fn the_mutant_tests_cover_the_catalogue() {
            let tested: &[(&str, Mutant)] = &[$(($name, Mutant::$mutant)),*];
            for s in SCENARIOS {
                for m in s.catches {
                    assert!(tested.contains(&(s.name, *m)), "{} {m:?} untested", s.name);
                }
            }
            for m in Mutant::RACES.iter().chain(Mutant::PID_RACES) {
                assert!(
                    tested.iter().any(|t| t.1 == *m) || common::GENERATED_ONLY.contains(m),
                    "no scenario catches {m:?}"
                );
            }
        }
    };
}

/// The race mutants that only the generated scenarios catch (shuttle's
/// `generated_catches_races` shows it); no hand-written scenario lists
/// them.
pub const GENERATED_ONLY: &[Mutant] = &[Mutant::StatRmidRace];

/// The race mutants of the msg half that only a scenario which kills a
/// sleeping task shows (the task scenarios `task_kill_*`): no IPC
/// scenario, hand-written or generated, kills a task, so the bug zoo runs
/// them against the task half's scenarios too.
pub const KILL_RACES: &[Mutant] = &[Mutant::CancelDropsWakeup];

/// The catalogue.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "handoff",
        run: handoff,
        half: Half::Ipc,
        catches: &[Mutant::SkipE2bigReceiver],
    },
    Scenario {
        name: "full_queue",
        run: full_queue,
        half: Half::Ipc,
        catches: &[Mutant::LostWakeup],
    },
    Scenario {
        name: "rmid_sleepers",
        run: rmid_sleepers,
        half: Half::Ipc,
        catches: &[Mutant::RmidRace],
    },
    Scenario {
        name: "ipc_set_sleepers",
        run: ipc_set_sleepers,
        half: Half::Ipc,
        catches: &[Mutant::LostWakeup],
    },
    Scenario {
        name: "copy_vs_receive",
        run: copy_vs_receive,
        half: Half::Ipc,
        catches: &[Mutant::CopyAliasing, Mutant::CbytesDrift],
    },
    Scenario {
        name: "msgget_one_key",
        run: msgget_one_key,
        half: Half::Ipc,
        catches: &[Mutant::KeyRace],
    },
    Scenario {
        name: "msgmni_limit",
        run: msgmni_limit,
        half: Half::Ipc,
        catches: &[Mutant::MsgmniRace],
    },
    Scenario {
        name: "counters",
        run: counters,
        half: Half::Ipc,
        catches: &[Mutant::CbytesDrift],
    },
    Scenario {
        name: "pid_alloc_alloc",
        run: pid::pid_alloc_alloc,
        half: Half::Pid,
        catches: &[Mutant::LastPidRace],
    },
    Scenario {
        name: "pid_alloc_free",
        run: pid::pid_alloc_free,
        half: Half::Pid,
        catches: &[],
    },
    Scenario {
        name: "pid_set_tid_fork",
        run: pid::pid_set_tid_fork,
        half: Half::Pid,
        catches: &[Mutant::SetTidCheckThenTake],
    },
    Scenario {
        name: "pid_init_death_fork",
        run: pid::pid_init_death_fork,
        half: Half::Pid,
        catches: &[Mutant::AddingCheckEarly],
    },
    Scenario {
        name: "pid_nested_fork_lookup",
        run: pid::pid_nested_fork_lookup,
        half: Half::Pid,
        catches: &[Mutant::PublishPerLevel],
    },
    Scenario {
        name: "pid_last_pid_write_fork",
        run: pid::pid_last_pid_write_fork,
        half: Half::Pid,
        catches: &[Mutant::LastPidRace],
    },
    Scenario {
        name: "task_setsid_leader_exit",
        run: tasks::task_setsid_leader_exit,
        half: Half::Tasks,
        catches: &[Mutant::ReuseHeldPgid],
    },
    Scenario {
        name: "task_kill_receiver_handoff",
        run: tasks::task_kill_receiver_handoff,
        half: Half::Tasks,
        catches: &[Mutant::CancelDropsWakeup],
    },
    Scenario {
        name: "task_kill_sender_room",
        run: tasks::task_kill_sender_room,
        half: Half::Tasks,
        catches: &[Mutant::CancelDropsWakeup],
    },
];

/// Scenarios that contend lock sections the catalogue does not, and
/// catch no mutant (none lives there), so the bug zoo leaves them out;
/// shuttle's lock-section table runs them, judged like the catalogue's.
pub const LOCK_SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "task_unshare_wait_exit",
        run: tasks::task_unshare_wait_exit,
        half: Half::Tasks,
        catches: &[],
    },
    Scenario {
        name: "poll_handoff",
        run: poll_handoff,
        half: Half::Ipc,
        catches: &[],
    },
    Scenario {
        name: "listing_vs_changes",
        run: listing_vs_changes,
        half: Half::Ipc,
        catches: &[],
    },
    Scenario {
        name: "pid_flat2007_alloc_free",
        run: pid::pid_flat2007_alloc_free,
        half: Half::Pid,
        catches: &[],
    },
    Scenario {
        name: "pid_openvz2006_alloc_free",
        run: pid::pid_openvz2006_alloc_free,
        half: Half::Pid,
        catches: &[],
    },
    Scenario {
        name: "task_creds_readers",
        run: tasks::task_creds_readers,
        half: Half::Tasks,
        catches: &[],
    },
    Scenario {
        name: "task_flat2007_fork_reap",
        run: tasks::task_flat2007_fork_reap,
        half: Half::Tasks,
        catches: &[],
    },
    Scenario {
        name: "task_openvz2006_fork_reap",
        run: tasks::task_openvz2006_fork_reap,
        half: Half::Tasks,
        catches: &[],
    },
];

/// The scenario called `name`.
pub fn scenario(name: &str) -> &'static Scenario {
    SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn namespace(m: Option<Mutant>) -> IpcNamespace {
    match m {
        None => IpcNamespace::new(),
        Some(m) => IpcNamespace::with_mutant(m),
    }
}

/// A worker's script: the calls it makes, in order.
type Script = Vec<nscheck_model::Syscall>;

/// [`run_with`] where thread 0 makes the calls of `main`.
fn run(w: &World, main: Script, workers: Vec<Script>) {
    run_with(w, workers, || {
        for call in main {
            w.call(0, call);
        }
    });
}

/// Runs `workers[i]` on thread `i + 1` and `main` on thread 0 at the same
/// time, joins them all, then runs the quiescence checks and the
/// linearizability check.
fn run_with(w: &World, workers: Vec<Script>, main: impl FnOnce()) {
    let handles: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, script)| {
            let w = w.clone();
            thread::spawn(move || {
                for call in script {
                    w.call(i + 1, call);
                }
            })
        })
        .collect();
    main();
    for h in handles {
        h.join().expect("a worker panicked");
    }
    w.quiesce();
    w.check_linearizable();
}

fn roots(workers: usize) -> Vec<Who> {
    vec![Who::Root; workers + 1]
}

/// A fresh private queue, made by thread 0.
fn queue(w: &World, mode: i64) -> i64 {
    val(&w.call(0, get(PRIVATE, CREAT | mode)))
}

/// `IPC_SET` of `msg_qbytes` alone.
fn qbytes(n: i64) -> Option<MsgSet> {
    Some(MsgSet {
        msg_qbytes: Some(n),
        ..MsgSet::default()
    })
}

/// A send racing a blocked receive, and a too-small sleeper (§5.4).
///
/// Worker pairs: the receiver `2k` first asks for a message of type
/// `100 + k` with a one-byte buffer (it gets `E2BIG`, at once or when the
/// sender hands it the message), then receives `rounds` messages of type
/// `200 + k` (handed over if it sleeps first), then takes the first message
/// truncated. The sender `2k + 1` sends those messages.
pub fn handoff(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let q = queue(&w, 0o600);
    let mut workers = Vec::new();
    for k in 0..(s.workers / 2) as i64 {
        let mut r = vec![rcv(q, 1, 100 + k, 0)];
        let mut snd_ = vec![snd(q, 100 + k, b"toolong", 0)];
        for i in 0..s.rounds {
            r.push(rcv(q, 16, 200 + k, 0));
            snd_.push(snd(q, 200 + k, format!("hi{i}").as_bytes(), 0));
        }
        r.push(rcv(q, 1, 100 + k, NOERROR));
        workers.push(r);
        workers.push(snd_);
    }
    run(&w, vec![], workers);
}

/// A full queue: senders against receivers that drain it (B8).
///
/// `msg_qbytes` is 2 and every message has 2 bytes, so the queue holds one
/// message. Each sender sends `rounds` messages and each receiver receives
/// as many; a sender that finds the queue full sleeps until a receive makes
/// room.
pub fn full_queue(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let q = queue(&w, 0o600);
    w.call(0, ctl(q, SET, qbytes(2)));
    let mut workers = Vec::new();
    for k in 0..(s.workers / 2) as i64 {
        let sends = (0..s.rounds.max(2))
            .map(|i| snd(q, 1 + k, format!("{k}{i}").as_bytes(), 0))
            .collect();
        let rcvs = (0..s.rounds.max(2)).map(|_| rcv(q, 8, 0, 0)).collect();
        workers.push(sends);
        workers.push(rcvs);
    }
    run(&w, vec![], workers);
}

/// `IPC_RMID` against a sleeping receiver and a sleeping sender (R8, R25).
///
/// The queue is full (one message, `msg_qbytes` 1). Receivers wait for a
/// type nobody sends and senders for room; thread 0 removes the queue, and
/// each gets `EIDRM` (asleep, or found the queue before the removal) or
/// `EINVAL` (came after). At larger scales some workers also receive the
/// queued message without waiting (the message, `EIDRM` or `EINVAL`, never
/// `ENOMSG`) and then keep calling on the removed queue.
pub fn rmid_sleepers(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let q = queue(&w, 0o600);
    w.call(0, ctl(q, SET, qbytes(1)));
    w.call(0, snd(q, 1, b"a", NOWAIT));
    let workers = (0..s.workers)
        .map(|i| {
            let mut script = match i % 3 {
                0 => vec![rcv(q, 8, 2, 0)],
                1 => vec![snd(q, 1, b"b", 0)],
                _ => vec![rcv(q, 8, 1, NOWAIT)],
            };
            for _ in 1..s.rounds {
                script.push(snd(q, 3, b"late", NOWAIT));
            }
            script
        })
        .collect();
    run(&w, vec![ctl(q, RMID, None)], workers);
}

/// `IPC_SET` against sleepers (R27, §5.5).
///
/// The queue is full. Root senders sleep for room; unprivileged receivers
/// wait for a type nobody sends. Thread 0 raises `msg_qbytes` so that every
/// sender fits and takes away the others' permissions: every sender
/// completes and every receiver fails with `EACCES`, whether it slept
/// before the change or came after it.
pub fn ipc_set_sleepers(s: Scale, m: Option<Mutant>) {
    let mut who = roots(s.workers);
    for (i, w) in who.iter_mut().enumerate().skip(1) {
        if i % 2 == 0 {
            *w = Who::User(1000 + i as u32);
        }
    }
    let w = World::new(namespace(m), &who);
    let q = queue(&w, 0o666);
    w.call(0, ctl(q, SET, qbytes(2)));
    w.call(0, snd(q, 1, b"ab", NOWAIT));
    let senders = who.iter().filter(|&&w| w == Who::Root).count() as i64 - 1;
    let mut workers = Vec::new();
    for &me in &who[1..] {
        let mut script = Vec::new();
        for r in 0..s.rounds.max(1) {
            if me == Who::Root {
                if r == 0 {
                    script.push(snd(q, 1, b"cd", 0));
                } else {
                    script.push(ctl(q, STAT, None));
                }
            } else {
                script.push(rcv(q, 8, 5, 0));
            }
        }
        workers.push(script);
    }
    let set = MsgSet {
        msg_qbytes: Some(2 + 2 * senders),
        mode: Some(0o600),
        ..MsgSet::default()
    };
    run(&w, vec![ctl(q, SET, Some(set))], workers);
}

/// `MSG_COPY` against a concurrent (truncating) receive (B17, B19c).
///
/// The queue holds `"abcd"` (type 1) and `"xy"` (type 2), and one message
/// per further worker at larger scales (types 3, 4, ...). Copiers copy by
/// index. The `j`-th receiver first waits for the message of type `j + 1`
/// with a two-byte buffer and `MSG_NOERROR` (a truncating receive); its
/// later receives do not wait and only take types no receiver waits for,
/// so that no waiting receive is starved.
pub fn copy_vs_receive(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let q = queue(&w, 0o600);
    let texts: Vec<Vec<u8>> = [b"abcd".to_vec(), b"xy".to_vec()]
        .into_iter()
        .chain((2..s.workers as u8).map(|i| vec![b'a' + i; 3 + i as usize % 3]))
        .collect();
    for (i, t) in texts.iter().enumerate() {
        w.call(0, snd(q, 1 + i as i64, t, NOWAIT));
    }
    let receivers = (s.workers / 2) as i64;
    let spare = texts.len() as i64 - receivers;
    let workers = (0..s.workers)
        .map(|i| {
            let j = (i / 2) as i64;
            let mut script = Vec::new();
            for r in 0..s.rounds.max(2) {
                if i % 2 == 0 {
                    script.push(rcv(q, 16, r as i64, COPY | NOWAIT));
                } else if r == 0 {
                    script.push(rcv(q, 2, 1 + j, NOERROR));
                } else if s.rounds > 1 {
                    let t = 1 + receivers + (j + r as i64) % spare.max(1);
                    script.push(rcv(q, 2, t, NOERROR | NOWAIT));
                }
            }
            script
        })
        .collect();
    run(&w, vec![], workers);
}

/// Concurrent `msgget` of one key: one creates, the others get its id.
///
/// Every worker calls `msgget(key, IPC_CREAT)`; at larger scales also with
/// `IPC_EXCL` (`EEXIST` unless it created it) and without `IPC_CREAT`
/// (`ENOENT` or the id), over two keys.
pub fn msgget_one_key(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let workers = (0..s.workers)
        .map(|i| {
            (0..s.rounds)
                .map(|r| {
                    let key = 42 + ((i + r) % 2) as i64 * (s.rounds > 1) as i64;
                    match r % 3 {
                        0 => get(key, CREAT | 0o600),
                        1 => get(key, CREAT | EXCL | 0o600),
                        _ => get(key, 0o600),
                    }
                })
                .collect()
        })
        .collect();
    let main = if s.workers < 3 {
        vec![get(42, 0o600)]
    } else {
        vec![]
    };
    run(&w, main, workers);
}

/// Concurrent creation at the `kernel.msgmni` limit (R36).
///
/// `msgmni` is one less than the number of creators, and each worker
/// creates `rounds` private queues: once the limit is reached every further
/// creation fails with `ENOSPC`, so with one round exactly one creator
/// fails.
pub fn msgmni_limit(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    w.call(0, sysctl(Sysctl::Msgmni, s.workers as i64 - 1));
    let workers = (0..s.workers)
        .map(|_| (0..s.rounds).map(|_| get(PRIVATE, CREAT | 0o600)).collect())
        .collect();
    run(&w, vec![], workers);
}

/// The namespace counters at quiescence, after sends and truncating
/// receives on two queues (`MSG_INFO` against `MSG_STAT_ANY`).
pub fn counters(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(s.workers));
    let qs = [queue(&w, 0o600), queue(&w, 0o600)];
    let workers = (0..s.workers)
        .map(|i| {
            let mut script = Vec::new();
            for r in 0..s.rounds {
                let q = qs[(i + r) % 2];
                let text = vec![b'a' + (i + r) as u8; 3 + (i + r) % 3];
                script.push(snd(q, 1 + (i % 3) as i64, &text, NOWAIT));
                script.push(rcv(qs[(i + r + 1) % 2], 2, 0, NOERROR | NOWAIT));
            }
            script
        })
        .collect();
    run(&w, vec![], workers);
}

/// Receives whose sleeps are polled (`Parked::poll`, as a driver of many
/// tasks collects a result without blocking) while sends hand them their
/// messages: the parking spot's `take` against a waker, which a sleeper
/// that only waits never races.
///
/// Thread 0 receives every message (any type), polling each sleep twice
/// before it waits; one worker (two at larger scales) sends `rounds`
/// messages. No mutant lives there, so it is not in the catalogue;
/// shuttle's lock-section table runs it ([`LOCK_SCENARIOS`]).
pub fn poll_handoff(s: Scale, m: Option<Mutant>) {
    let senders = if s.rounds > 2 { 2 } else { 1 };
    let w = World::new(namespace(m), &roots(senders));
    let q = queue(&w, 0o600);
    let workers = (0..senders)
        .map(|k| {
            (0..s.rounds)
                .map(|i| snd(q, 1 + k as i64, format!("{k}{i}").as_bytes(), 0))
                .collect()
        })
        .collect();
    run_with(&w, workers, || {
        for _ in 0..senders * s.rounds {
            w.call_with(0, rcv(q, 16, 0, 0), |p| poll_then_wait(p, 2));
        }
    });
}

/// Polls `p` up to `polls` times, yielding between polls, then waits.
fn poll_then_wait(p: nscheck_adapter::ParkedCall, polls: usize) -> nscheck_model::Outcome {
    for _ in 0..polls {
        if let Some(o) = p.poll() {
            return o;
        }
        thread::yield_now();
    }
    p.wait()
}

/// The listing of `/proc/sysvipc/msg` (`IpcNamespace::for_each_queue`,
/// which the harness's digest reads) while other threads change the
/// queues: every queue listed must read as `MSG_STAT_ANY` of its index
/// would at some point of the listing ([`World::list_queues`]).
///
/// Thread 0 lists the queues `rounds` times. One worker sends to the first
/// queue and takes the message back truncated (`rounds` times); the other
/// removes the second queue and makes a new one, which may take its
/// index. No mutant lives there, so it is not in the catalogue; shuttle's
/// lock-section table runs it ([`LOCK_SCENARIOS`]).
pub fn listing_vs_changes(s: Scale, m: Option<Mutant>) {
    let w = World::new(namespace(m), &roots(2));
    let qs = [queue(&w, 0o600), queue(&w, 0o600)];
    let churn = (0..s.rounds)
        .flat_map(|i| {
            [
                snd(qs[0], 1, format!("ab{i}").as_bytes(), NOWAIT),
                rcv(qs[0], 1, 0, NOERROR | NOWAIT),
            ]
        })
        .collect();
    let workers = vec![
        churn,
        vec![ctl(qs[1], RMID, None), get(PRIVATE, CREAT | 0o600)],
    ];
    run_with(&w, workers, || {
        for _ in 0..s.rounds {
            w.list_queues(0);
        }
    });
}

/// The environment variable that turns on the bug zoo's runs (`ci/zoo.sh`):
/// the file their results go to.
pub const ZOO_OUT: &str = "NSCHECK_ZOO_OUT";

/// The environment variable that restricts the bug zoo's runs to the
/// scenarios of one half (`Ipc`, `Pid` or `Tasks`, as [`Half`] spells
/// them).
pub const ZOO_HALF: &str = "NSCHECK_ZOO_HALF";

/// The longest a zoo run may take before it counts as a survivor that timed
/// out.
pub const ZOO_RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// One run of a scenario against a mutant in the bug zoo.
#[derive(Debug)]
pub struct ZooRun {
    /// Whether the checker failed (caught the mutant).
    pub caught: bool,
    /// Wall time, from spawning the child to its exit.
    pub took: std::time::Duration,
    /// Why it failed (empty for a survivor).
    pub why: String,
}

/// The bug zoo's column for `checker` (`ci/zoo.sh` reads it with
/// `nscheck zoo --results`): when [`ZOO_OUT`] names a file, runs every
/// scenario against every mutant of its half ([`Half::mutants`]) with
/// `run` and writes one tab-separated line per run to that file
/// (`checker mutant scenario caught|survived seconds why`), after a
/// `# checker budget` line; with [`ZOO_HALF`] set, only that half's.
/// `extra` are scenarios of the front end's own (shuttle's generated
/// cases), run after the catalogue's.
/// Does nothing when [`ZOO_OUT`] is unset, so a plain test run skips it.
pub fn zoo(
    checker: &str,
    budget: &str,
    extra: &'static [Scenario],
    mut run: impl FnMut(&'static Scenario, Mutant) -> ZooRun,
) {
    let Ok(path) = std::env::var(ZOO_OUT) else {
        return;
    };
    let mut out = format!("# {checker}\t{budget}\n");
    let only = std::env::var(ZOO_HALF).ok();
    let halves = [Half::Ipc, Half::Pid, Half::Tasks]
        .into_iter()
        .filter(|h| only.as_deref().is_none_or(|o| o == format!("{h:?}")));
    for half in halves {
        for m in half.mutants() {
            for s in SCENARIOS.iter().chain(extra).filter(|s| s.half == half) {
                zoo_line(&mut out, checker, s, m, run(s, m));
            }
        }
    }
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
}

/// One line of the bug zoo's column, also shown on standard error.
fn zoo_line(out: &mut String, checker: &str, s: &Scenario, m: Mutant, r: ZooRun) {
    use std::fmt::Write as _;
    let verdict = if r.caught { "caught" } else { "survived" };
    let secs = r.took.as_secs_f64();
    eprintln!(
        "{checker} {} {m:?}: {verdict} in {secs:.2} s {}",
        s.name, r.why
    );
    let why = r.why.replace(['\t', '\n'], " ");
    writeln!(
        out,
        "{checker}\t{m:?}\t{}\t{verdict}\t{secs:.6}\t{why}",
        s.name
    )
    .expect("a String takes it");
}

/// Runs `cmd` with its standard error in a file, killing it after `limit`:
/// its exit status (`None` if it was killed) and its standard error.
pub fn run_limited(
    mut cmd: std::process::Command,
    limit: std::time::Duration,
) -> (Option<std::process::ExitStatus>, String) {
    use std::process::Stdio;
    use std::time::Instant;
    let path = std::env::temp_dir().join(format!(
        "nscheck-zoo-{}-{:?}.stderr",
        std::process::id(),
        Instant::now()
    ));
    let file = std::fs::File::create(&path).expect("a scratch file");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("the child runs");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let stderr = std::fs::read(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    (status, String::from_utf8_lossy(&stderr).into_owned())
}

/// Why a checker's child failed, in a few words: loom's deadlock, the
/// linearizability checker's verdict, the counters or taken numbers at
/// quiescence, a live pid's number handed out again, or the first line of
/// another panic's message.
pub fn zoo_why(stderr: &str) -> String {
    if stderr.contains("deadlock") {
        "deadlock".into()
    } else if stderr.contains("not linearizable") {
        "not linearizable".into()
    } else if stderr.contains("MSG_INFO says") {
        "counters at quiescence".into()
    } else if stderr.contains("taken and published differ") {
        "taken numbers at quiescence".into()
    } else if stderr.contains("a number of a live pid") {
        "a live pid's number handed out".into()
    } else {
        let mut lines = stderr.lines().skip_while(|l| !l.contains("panicked at"));
        lines.next();
        let msg = lines.next().unwrap_or("exited with a failure");
        msg.chars().take(60).collect()
    }
}
