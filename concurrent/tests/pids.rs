//! `msg_lspid` and `msg_lrpid` across PID namespaces: each reader sees the
//! last sender and receiver as its own namespace numbers them (`pid_vnr`),
//! or 0 where they are not visible; and parked calls end by `poll` and
//! `cancel` without a thread.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::sync::Arc;

use nscheck_concurrent::ipc::{
    self, Ctl, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_STAT, Started, start_msgrcv,
};
use nscheck_concurrent::{Cred, Errno, IpcNamespace, Pid, Sleeper, Task};

const ROOT: Cred = Cred {
    euid: 0,
    egid: 0,
    caps: u64::MAX,
};

/// A task in `ns` whose `struct pid` has `numbers` (outermost first).
fn task(ns: &Arc<IpcNamespace>, numbers: &[(u64, i64)]) -> Task {
    Task {
        pid: Arc::new(Pid::new(numbers.to_vec())),
        cred: ROOT,
        ipc_ns: ns.clone(),
        sleeper: Arc::new(Sleeper::new(numbers[numbers.len() - 1].1 as u64, None)),
    }
}

/// `(lspid, lrpid)` as `viewer` reads them with `IPC_STAT`.
fn pids_seen_by(viewer: &Task, q: i32) -> (i64, i64) {
    match ipc::msgctl(viewer, q, IPC_STAT, None) {
        Ok(Ctl::Stat(_, st)) => (st.lspid, st.lrpid),
        other => panic!("IPC_STAT: {other:?}"),
    }
}

#[test]
fn readers_see_the_last_sender_and_receiver_in_their_own_namespace() {
    let ns = Arc::new(IpcNamespace::new());
    // Namespace 0 is the outermost; 1 is a child of 0 and 2 a child of 1.
    let host = task(&ns, &[(0, 1)]);
    let child = task(&ns, &[(0, 7), (1, 1)]);
    let grandchild = task(&ns, &[(0, 9), (1, 4), (2, 1)]);
    let sibling = task(&ns, &[(0, 12), (3, 1)]);
    let q = ipc::msgget(&host, IPC_PRIVATE, IPC_CREAT | 0o600).expect("msgget");
    // A sender, a receiver, and `(lspid, lrpid)` as host, child,
    // grandchild and sibling see them.
    type Case<'a> = (&'a Task, &'a Task, [(i64, i64); 4]);
    let cases: [Case<'_>; 3] = [
        (&grandchild, &child, [(9, 7), (4, 1), (1, 0), (0, 0)]),
        (&child, &sibling, [(7, 12), (1, 0), (0, 0), (0, 1)]),
        (&host, &grandchild, [(1, 9), (0, 4), (0, 1), (0, 0)]),
    ];
    for (sender, receiver, seen) in cases {
        ipc::msgsnd(sender, q, 1, b"x", IPC_NOWAIT).expect("msgsnd");
        ipc::msgrcv(receiver, q, 8, 0, IPC_NOWAIT).expect("msgrcv");
        let readers = [&host, &child, &grandchild, &sibling];
        let got: Vec<(i64, i64)> = readers.iter().map(|r| pids_seen_by(r, q)).collect();
        assert_eq!(got, seen);
    }
}

#[test]
fn a_parked_receive_is_polled_to_its_end_or_cancelled() {
    let ns = Arc::new(IpcNamespace::new());
    let (a, b) = (task(&ns, &[(0, 1)]), task(&ns, &[(0, 2)]));
    let q = ipc::msgget(&a, IPC_PRIVATE, IPC_CREAT | 0o600).expect("msgget");
    let Started::Parked(p) = start_msgrcv(&b, q, 8, 0, 0) else {
        panic!("an empty queue parks a blocking receive");
    };
    assert!(p.poll().is_none(), "nothing has woken it yet");
    ipc::msgsnd(&a, q, 5, b"hi", IPC_NOWAIT).expect("msgsnd");
    let got = p
        .poll()
        .expect("the send handed it the message")
        .expect("a message");
    assert_eq!((got.mtype, got.text.as_slice()), (5, &b"hi"[..]));
    assert_eq!(pids_seen_by(&a, q), (1, 2));

    let Started::Parked(p) = start_msgrcv(&b, q, 8, 0, 0) else {
        panic!("the queue is empty again");
    };
    assert_eq!(p.cancel().unwrap_err(), Errno::EINTR);
    // The cancelled receiver is gone: the next message stays queued.
    ipc::msgsnd(&a, q, 6, b"later", IPC_NOWAIT).expect("msgsnd");
    match ipc::msgctl(&a, q, IPC_STAT, None) {
        Ok(Ctl::Stat(_, st)) => assert_eq!(st.qnum, 1),
        other => panic!("IPC_STAT: {other:?}"),
    }
}
