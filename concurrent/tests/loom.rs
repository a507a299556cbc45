//! Model-checked interleavings of the queue protocol (hand-off, sleeping
//! senders, removal racing with a receiver, a sleeping `rfc2012` copy).
//!
//! Run with:
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg nscheck_loom" CARGO_TARGET_DIR=target/loom
//! cargo test --release -p nscheck-concurrent --test loom`

#![cfg(nscheck_loom)]

use loom::thread;
use nscheck_concurrent::ipc::{
    self, Ctl, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_INFO,
    MsgSet, Variant,
};
use nscheck_concurrent::sync::Arc;
use nscheck_concurrent::{Cred, Errno, IpcNamespace, Pid, Sleeper, Task};

fn task(ns: &Arc<IpcNamespace>, pid: i64) -> Task {
    Task {
        pid: Arc::new(Pid::single(pid)),
        cred: Cred {
            euid: 0,
            egid: 0,
            caps: u64::MAX,
        },
        ipc_ns: ns.clone(),
        sleeper: Arc::new(Sleeper::new(pid as u64, None)),
    }
}

fn counters(t: &Task, q: i32) -> (i64, i64, i64, i64) {
    let Ok(Ctl::Stat(_, s)) = ipc::msgctl(t, q, IPC_STAT, None) else {
        panic!("IPC_STAT failed");
    };
    let Ok(Ctl::Info(_, i)) = ipc::msgctl(t, 0, MSG_INFO, None) else {
        panic!("MSG_INFO failed");
    };
    (s.qnum, s.cbytes, i.msgmap, i.msgtql)
}

#[test]
fn a_send_reaches_a_concurrent_receiver() {
    loom::model(|| {
        let ns = Arc::new(IpcNamespace::new());
        let sender = task(&ns, 1);
        let q = ipc::msgget(&sender, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        let receiver = task(&ns, 2);
        let th = thread::spawn(move || ipc::msgrcv(&receiver, q, 10, 0, 0));
        ipc::msgsnd(&sender, q, 7, b"hi", 0).unwrap();
        let m = th.join().unwrap().unwrap();
        assert_eq!((m.mtype, m.text.as_slice()), (7, &b"hi"[..]));
        assert_eq!(counters(&sender, q), (0, 0, 0, 0));
    });
}

#[test]
fn sleeping_senders_lose_nothing() {
    loom::model(|| {
        let ns = Arc::new(IpcNamespace::new());
        let admin = task(&ns, 1);
        let q = ipc::msgget(&admin, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        let one = MsgSet {
            msg_qbytes: Some(1),
            ..MsgSet::default()
        };
        ipc::msgctl(&admin, q, IPC_SET, Some(&one)).unwrap();
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let t = task(&ns, 10 + i);
                thread::spawn(move || ipc::msgsnd(&t, q, 1 + i, b"x", 0))
            })
            .collect();
        let mut types = Vec::new();
        for _ in 0..2 {
            types.push(ipc::msgrcv(&admin, q, 1, 0, 0).unwrap().mtype);
        }
        for s in senders {
            s.join().unwrap().unwrap();
        }
        types.sort_unstable();
        assert_eq!(types, [1, 2]);
        assert_eq!(counters(&admin, q), (0, 0, 0, 0));
    });
}

#[test]
fn removal_fails_a_racing_receiver_cleanly() {
    loom::model(|| {
        let ns = Arc::new(IpcNamespace::new());
        let admin = task(&ns, 1);
        let q = ipc::msgget(&admin, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        ipc::msgsnd(&admin, q, 1, b"a", IPC_NOWAIT).unwrap();
        let receiver = task(&ns, 2);
        let th = thread::spawn(move || {
            let first = ipc::msgrcv(&receiver, q, 10, 0, 0).map(|m| m.text);
            let second = ipc::msgrcv(&receiver, q, 10, 0, 0).map(|m| m.text);
            (first, second)
        });
        ipc::msgctl(&admin, q, IPC_RMID, None).unwrap();
        let (first, second) = th.join().unwrap();
        // The receiver found the queue (EIDRM once removed) or not (EINVAL).
        let gone = |r: &Result<Vec<u8>, Errno>| matches!(r, Err(Errno::EIDRM) | Err(Errno::EINVAL));
        assert!(first == Ok(b"a".to_vec()) || gone(&first), "{first:?}");
        assert!(gone(&second), "{second:?}");
        let Ok(Ctl::Info(_, i)) = ipc::msgctl(&admin, 0, MSG_INFO, None) else {
            panic!("MSG_INFO failed");
        };
        assert_eq!((i.msgpool, i.msgmap, i.msgtql), (0, 0, 0));
    });
}

/// Under `rfc2012`, a copy that may sleep races with a send, a receive that
/// takes the message and a second send: it copies one of the two messages,
/// without taking it, and the copy counter it leaves agrees with which:
/// after "a" the receive moved the counter back, so the next copy is "b";
/// after "b" the counter stands past the one message left.
#[test]
fn a_sleeping_copy_and_the_copy_counter() {
    loom::model(|| {
        let ns = Arc::new(IpcNamespace::with_variant(Variant::Rfc2012));
        let admin = task(&ns, 1);
        let q = ipc::msgget(&admin, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        let copier = task(&ns, 2);
        let th = thread::spawn(move || ipc::msgrcv(&copier, q, 10, 0, MSG_COPY).map(|m| m.text));
        ipc::msgsnd(&admin, q, 1, b"a", 0).unwrap();
        assert_eq!(ipc::msgrcv(&admin, q, 10, 0, 0).unwrap().text, b"a");
        ipc::msgsnd(&admin, q, 1, b"b", 0).unwrap();
        let copied = th.join().unwrap().unwrap();
        let next = ipc::msgrcv(&admin, q, 10, 0, MSG_COPY | IPC_NOWAIT).map(|m| m.text);
        match copied.as_slice() {
            b"a" => assert_eq!(next, Ok(b"b".to_vec())),
            b"b" => assert_eq!(next, Err(Errno::ENOMSG)),
            other => panic!("copied {other:?}"),
        }
        assert_eq!(counters(&admin, q), (1, 1, 1, 1));
    });
}
