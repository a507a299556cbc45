//! The task scenarios of the catalogue: races between task calls of the
//! implementation's task half, judged against the model's kernel (the
//! spec of `World`'s IPC scenarios too). Thread `i` is task `t{i}`, a child
//! of `t0` with pid `i + 1`.

use nscheck_concurrent::IpcNamespace;
use nscheck_concurrent::mutants::Mutant;
use nscheck_concurrent::proc::System;
use nscheck_loom_tests::task_world::TaskWorld;
use nscheck_model::Syscall;

use super::{Scale, thread};

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
