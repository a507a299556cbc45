//! The task scenarios of the catalogue: races between task calls of the
//! implementation's task half, judged against the model's kernel (the
//! spec of `World`'s IPC scenarios too). Thread `i` is task `t{i}`, a child
//! of `t0` with pid `i + 1`.

use nscheck_concurrent::IpcNamespace;
use nscheck_concurrent::mutants::Mutant;
use nscheck_concurrent::pid::Variant;
use nscheck_concurrent::proc::System;
use nscheck_loom_tests::task_world::TaskWorld;
use nscheck_loom_tests::world::{CREAT, NOWAIT, PRIVATE, SET, ctl, get, rcv, snd, val};
use nscheck_model::abi::{CLONE_NEWIPC, CLONE_NEWPID};
use nscheck_model::{Dialect, MsgSet, Syscall, Sysctl};

use super::{Scale, namespace, thread};

/// `setsid` and `setpgid` against the exit of the group's leader (R12,
/// gVisor B12).
///
/// `t1` leads process group 2, which `t2` and `t3` joined. `t1` exits
/// while `t2` makes itself a session (leaving the group) and reads its
/// group, and `t0` reads group 2's leader's group and moves `t2` into
/// group 2 (`EPERM` once `t2` leads a session). Then `t0` reaps `t1` and
/// asks for number 2 with `set_tid`: `t3` is still in group 2, so the
/// number stays taken (`EEXIST`). Under shuttle `t3` also races: it
/// reads its group and session and moves into `t2`'s group if it can.
pub fn task_setsid_leader_exit(s: Scale, m: Option<Mutant>) {
    let maker = Box::new(IpcNamespace::new);
    let sys = match m {
        None => System::with_ipc_namespaces(maker),
        Some(m) => System::with_mutant(maker, m),
    };
    let prelude = [
        (1, Syscall::Setpgid { pid: 0, pgid: 0 }),
        (2, Syscall::Setpgid { pid: 0, pgid: 2 }),
        (3, Syscall::Setpgid { pid: 0, pgid: 2 }),
    ];
    let w = TaskWorld::new(sys, 4, &prelude);
    let mut workers = vec![
        (1, vec![Syscall::Exit { code: 0 }]),
        (2, vec![Syscall::Setsid, Syscall::Getpgid { pid: 0 }]),
    ];
    if s.rounds > 2 {
        workers.push((
            3,
            vec![
                Syscall::Getpgid { pid: 0 },
                Syscall::Setpgid { pid: 0, pgid: 3 },
                Syscall::Getsid { pid: 0 },
            ],
        ));
    }
    let handles = spawn(&w, workers);
    w.call(0, Syscall::Getpgid { pid: 2 });
    w.call(0, Syscall::Setpgid { pid: 3, pgid: 2 });
    for h in handles {
        h.join().expect("a worker panicked");
    }
    w.call(0, Syscall::Waitpid { pid: 2 });
    w.call(
        0,
        Syscall::Clone {
            flags: 0,
            set_tid: vec![2],
        },
    );
    w.call(0, Syscall::Getpgid { pid: 4 });
    w.check_linearizable();
    w.release();
}

/// `unshare(CLONE_NEWIPC)` by two tasks at once, one of which then exits
/// while `t0` waits for it: the IPC-namespace list of the task half and
/// the wait for a child's exit, which the catalogue's scenarios never
/// contend. It catches no mutant (none lives there), so it is not in the
/// catalogue; shuttle's lock-section table runs it
/// ([`super::LOCK_SCENARIOS`]).
pub fn task_unshare_wait_exit(_: Scale, _: Option<Mutant>) {
    let sys = System::with_ipc_namespaces(Box::new(IpcNamespace::new));
    let w = TaskWorld::new(sys, 3, &[]);
    let newipc = Syscall::Unshare {
        flags: nscheck_model::abi::CLONE_NEWIPC,
    };
    let workers = vec![
        (1, vec![newipc.clone(), Syscall::Exit { code: 3 }]),
        (2, vec![newipc, Syscall::Getpgid { pid: 0 }]),
    ];
    let handles = spawn(&w, workers);
    w.call(0, Syscall::Waitpid { pid: 2 });
    for h in handles {
        h.join().expect("a worker panicked");
    }
    w.check_linearizable();
    w.release();
}

/// The machine of the kill scenarios, every IPC namespace carrying `m`:
/// `t1` (thread 1) made a PID namespace for its children and forked its
/// init `t2`, which forked `t3` (pid 2 there). `t2`'s exit kills `t3`
/// (R13); all share `t0`'s IPC namespace.
fn zap_world(m: Option<Mutant>) -> TaskWorld {
    let sys = System::with_ipc_namespaces(Box::new(move || namespace(m)));
    let prelude = [
        (
            1,
            Syscall::Unshare {
                flags: CLONE_NEWPID,
            },
        ),
        (1, Syscall::Fork),
        (2, Syscall::Fork),
    ];
    TaskWorld::new(sys, 2, &prelude)
}

/// Races `victim`, a call of `t3` that sleeps on the queue, against the
/// exit of `t3`'s init `t2` (which kills `t3`) and against `main`, the
/// calls of `t0` that end the sleep (R13 against a hand-off: a kill
/// racing a waker). `t3`'s call is stamped as invoked before the others
/// start, so that it is in progress when the exit can kill `t3` (a dead
/// task makes no calls), and the exit's response only once `t3`'s call has
/// returned, as Linux's init exit (`zap_pid_ns_processes`) waits for the
/// tasks it killed: until then, a waker may still end the killed
/// sleeper's call (the call's result is the waker's; its task is dead).
/// Then `t0` makes the `after` calls, which show where the hand-off went.
fn zap_race(w: &TaskWorld, victim: Syscall, main: Vec<Syscall>, after: Vec<Syscall>) {
    let victim = w.invoke(3, victim);
    let sleeper = thread::spawn(move || {
        victim.finish();
    });
    let init = w.clone();
    let zap = thread::spawn(move || {
        let exit = init.invoke(2, Syscall::Exit { code: 0 });
        let out = exit.run();
        sleeper.join().expect("the victim panicked");
        exit.respond(out);
    });
    for call in main {
        w.call(0, call);
    }
    zap.join().expect("the init panicked");
    for call in after {
        w.call(0, call);
    }
    w.check_linearizable();
    w.release();
}

/// An init's exit kills a sleeping receiver while a send hands it a
/// message (R13, R26; `Parked::cancel`).
///
/// `t3` waits for any message on an empty queue; `t0` sends one while
/// `t3`'s init exits, then receives without waiting. The receiver gets the
/// message (sent before the kill, or handed over before it left the
/// queue) or `EINTR`, and then the message must still be queued: a
/// cancelled call that drops a hand-off loses the message.
pub fn task_kill_receiver_handoff(s: Scale, m: Option<Mutant>) {
    let w = zap_world(m);
    let q = val(&w.call(0, get(PRIVATE, CREAT | 0o600)));
    let mut main = vec![snd(q, 1, b"hi", NOWAIT)];
    if s.rounds > 2 {
        main.push(snd(q, 2, b"ho", NOWAIT));
    }
    let after = vec![rcv(q, 16, 0, NOWAIT), rcv(q, 16, 0, NOWAIT)];
    zap_race(&w, rcv(q, 16, 0, 0), main, after);
}

/// An init's exit kills a sleeping sender while a receive makes room for
/// it (R13, R9; `Parked::cancel`).
///
/// The queue is full (`msg_qbytes` 2, one two-byte message); `t3` sends
/// a second one and sleeps for room; `t0` receives the first while `t3`'s
/// init exits, then receives without waiting. The sender succeeds (room
/// made before the kill, or its send completed by the receive before it
/// left the queue) or gets `EINTR`, and then its message must not be
/// queued: a cancelled call that drops a completed send returns `EINTR`
/// for a message that was sent.
pub fn task_kill_sender_room(s: Scale, m: Option<Mutant>) {
    let w = zap_world(m);
    let q = val(&w.call(0, get(PRIVATE, CREAT | 0o600)));
    let two = MsgSet {
        msg_qbytes: Some(2),
        ..MsgSet::default()
    };
    w.call(0, ctl(q, SET, Some(two)));
    w.call(0, snd(q, 1, b"ab", NOWAIT));
    let mut main = vec![rcv(q, 16, 0, NOWAIT)];
    if s.rounds > 2 {
        main.push(rcv(q, 16, 0, NOWAIT));
    }
    let after = vec![rcv(q, 16, 0, NOWAIT)];
    zap_race(&w, snd(q, 2, b"cd", 0), main, after);
}

/// Another thread reads a task's credentials and IPC context while the
/// task changes them: the task's own lock (`task_lock`), which only the
/// task's calls take otherwise.
///
/// `t1` sets its gid, unshares its IPC namespace, drops `CAP_SYS_ADMIN`,
/// forks and sets its uid (which clears its capabilities), judged by the
/// model; `t0` reads `t1`'s credentials (`System::creds`) and IPC context
/// (`System::ipc_task`, as a driver does before each IPC call of a task)
/// `rounds` times. Each read must show a state `t1` was in during the read
/// (the states of the same calls run alone, [`TaskWorld::check_reads`]):
/// an update seen half done fails. It catches no mutant (none lives
/// there), so it is not in the catalogue; shuttle's lock-section table
/// runs it ([`super::LOCK_SCENARIOS`]).
pub fn task_creds_readers(s: Scale, _: Option<Mutant>) {
    let script = vec![
        Syscall::Setgid { gid: 1000 },
        Syscall::Unshare {
            flags: CLONE_NEWIPC,
        },
        Syscall::Capdrop { cap: 21 },
        Syscall::Fork,
        Syscall::Setuid { uid: 1000 },
    ];
    let alone = TaskWorld::new(System::new(), 2, &[]);
    let mut states = vec![alone.view(1)];
    for call in &script {
        alone.call(1, call.clone());
        states.push(alone.view(1));
    }
    alone.release();
    let w = TaskWorld::new(System::new(), 2, &[]);
    let handles = spawn(&w, vec![(1, script)]);
    for _ in 0..s.rounds {
        w.observe(0, 1);
    }
    for h in handles {
        h.join().expect("a worker panicked");
    }
    w.check_linearizable();
    w.check_reads(1, &states);
    w.release();
}

/// Forks, an exit and a reap at once under a historical pid design
/// (`Variant::Flat2007`, `Variant::Openvz2006`), judged by the model's
/// kernel of the same dialect: the variant's one lock (`pid/variant.rs`),
/// which the mainline scenarios never take.
///
/// `t3`, a child of `t0`, has exited. `t1` and `t2` fork (alloc against
/// alloc) while `t0` reaps `t3` (free against alloc), then reads and
/// writes `kernel.ns_last_pid` and `kernel.pid_max` (the variant's cursor
/// and limit against alloc); then `t0` forks again. At shuttle's scale
/// each worker forks twice.
fn variant_fork_reap(variant: Variant, dialect: Dialect, s: Scale) {
    let sys = System::with_variant(variant, Box::new(IpcNamespace::new));
    let prelude = [(0, Syscall::Fork), (3, Syscall::Exit { code: 0 })];
    let w = TaskWorld::with_dialect(sys, dialect, 3, &prelude);
    let forks = if s.rounds > 2 { 2 } else { 1 };
    let workers = (1..3).map(|t| (t, vec![Syscall::Fork; forks])).collect();
    let handles = spawn(&w, workers);
    let pid = w.pid(0, 3);
    w.call(0, Syscall::Waitpid { pid });
    let sysctl = |name, value| Syscall::Sysctl { name, value };
    for call in [
        sysctl(Sysctl::NsLastPid, None),
        sysctl(Sysctl::NsLastPid, Some(100)),
        sysctl(Sysctl::PidMax, None),
        sysctl(Sysctl::PidMax, Some(4096)),
    ] {
        w.call(0, call);
    }
    for h in handles {
        h.join().expect("a worker panicked");
    }
    w.call(0, Syscall::Fork);
    w.check_linearizable();
    w.release();
}

/// [`variant_fork_reap`] under `flat2007`, in the lock-section table's
/// runs ([`super::LOCK_SCENARIOS`]).
pub fn task_flat2007_fork_reap(s: Scale, _: Option<Mutant>) {
    variant_fork_reap(Variant::Flat2007, Dialect::Flat2007, s);
}

/// [`variant_fork_reap`] under `openvz2006`, in the lock-section table's
/// runs ([`super::LOCK_SCENARIOS`]).
pub fn task_openvz2006_fork_reap(s: Scale, _: Option<Mutant>) {
    variant_fork_reap(Variant::Openvz2006, Dialect::Openvz2006, s);
}

/// Runs each `(thread, script)` of `workers` on a thread of its own.
fn spawn(w: &TaskWorld, workers: Vec<(usize, Vec<Syscall>)>) -> Vec<thread::JoinHandle<()>> {
    workers
        .into_iter()
        .map(|(i, script)| {
            let w = w.clone();
            thread::spawn(move || {
                for call in script {
                    w.call(i, call);
                }
            })
        })
        .collect()
}
