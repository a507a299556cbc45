//! The msg variant `rfc2012` (the 2012 `q_copy_cnt` `MSG_COPY` RFC) and
//! mainline beside it.
//!
//! The scenarios are tables of calls and the results the model gives: the
//! steps of `corpus/dialects/copy-counter-*.nsc` with the traces of
//! `snapshots/dialect__copy-counter-*@rfc2012.snap` (derived by hand: this
//! crate does not depend on the model). Then real threads: copies asleep
//! on their own threads are woken by a send and copy without consuming,
//! or fail with `EINVAL` for a message longer than their buffer.

#![cfg(not(any(nscheck_loom, nscheck_shuttle)))]

use std::sync::Arc;
use std::thread;

use crate::threads::{Parked, stat, task};
use nscheck_concurrent::ipc::{
    self, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, MSG_COPY, MSG_EXCEPT, MSG_NOERROR, Variant,
};
use nscheck_concurrent::{Errno, IpcNamespace};

/// One call on the scenario's queue, and what it gives.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `msgsnd(q, mtype, text, 0)`.
    Send(i64, &'static str),
    /// `msgrcv(q, msgsz, msgtyp, msgflg|IPC_NOWAIT)` and the text it
    /// returns, or its errno.
    Recv(i64, i64, i32, Result<&'static str, Errno>),
}

use Step::{Recv, Send};

/// `copy-counter-basic.nsc`: two copies, a receive that moves the counter
/// back, a copy past the end.
const BASIC: &[Step] = &[
    Send(1, "A"),
    Send(1, "B"),
    Send(1, "C"),
    Recv(10, 0, MSG_COPY, Ok("A")),
    Recv(10, 1, MSG_COPY, Ok("B")),
    Recv(10, 0, 0, Ok("A")),
    Recv(10, 1, MSG_COPY, Ok("C")),
    Recv(10, 0, MSG_COPY, Err(Errno::ENOMSG)),
];

/// `copy-counter-duplicate.nsc`: a typed receive behind the counter makes
/// a copy return a message twice.
const DUPLICATE: &[Step] = &[
    Send(1, "A"),
    Send(2, "B"),
    Send(3, "C"),
    Recv(10, 0, MSG_COPY, Ok("A")),
    Recv(10, 3, 0, Ok("C")),
    Recv(10, 1, MSG_COPY, Ok("A")),
];

/// `copy-counter-typed.nsc`: the n-th message of a type, and `EINVAL` for
/// a short buffer whatever `MSG_NOERROR` says.
const TYPED: &[Step] = &[
    Send(1, "one"),
    Send(7, "seven"),
    Send(7, "seven again"),
    Recv(100, 7, MSG_COPY, Ok("seven")),
    Recv(100, 7, MSG_COPY, Ok("seven again")),
    Recv(2, 0, MSG_COPY, Err(Errno::EINVAL)),
    Recv(2, 0, MSG_COPY | MSG_NOERROR, Err(Errno::EINVAL)),
    Recv(100, 1, MSG_COPY | MSG_EXCEPT, Err(Errno::ENOMSG)),
];

/// Runs `steps` on a new queue of a namespace of `variant`.
fn run(name: &str, variant: Variant, steps: &[Step]) {
    let ns = Arc::new(IpcNamespace::with_variant(variant));
    let t = task(&ns, 1, None);
    let q = ipc::msgget(&t, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    for (i, &step) in steps.iter().enumerate() {
        match step {
            Send(mtype, text) => ipc::msgsnd(&t, q, mtype, text.as_bytes(), 0).unwrap(),
            Recv(msgsz, msgtyp, flags, want) => {
                let got = ipc::msgrcv(&t, q, msgsz, msgtyp, flags | IPC_NOWAIT);
                let got = got.map(|m| String::from_utf8(m.text).unwrap());
                let want = want.map(str::to_string);
                assert_eq!(got, want, "{name}, step {i}: {step:?}");
            }
        }
    }
}

#[test]
fn copy_counter_scenarios_give_the_models_results() {
    run("basic", Variant::Rfc2012, BASIC);
    run("duplicate", Variant::Rfc2012, DUPLICATE);
    run("typed", Variant::Rfc2012, TYPED);
}

/// Mainline beside it: `msgtyp` is an index, and a copy without
/// `IPC_NOWAIT` or with `MSG_EXCEPT` is `EINVAL`.
#[test]
fn mainline_copies_by_index() {
    run(
        "mainline",
        Variant::Mainline,
        &[
            Send(1, "A"),
            Send(7, "B"),
            Recv(10, 1, MSG_COPY, Ok("B")),
            Recv(10, 1, MSG_COPY, Ok("B")),
            Recv(10, 0, MSG_COPY | MSG_EXCEPT, Err(Errno::EINVAL)),
        ],
    );
    let ns = Arc::new(IpcNamespace::new());
    let t = task(&ns, 1, None);
    let q = ipc::msgget(&t, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    assert_eq!(ipc::msgrcv(&t, q, 10, 0, MSG_COPY), Err(Errno::EINVAL));
}

/// Copies asleep on their own threads: a send wakes them all, the first
/// copies the message and moves the counter, so the others find nothing
/// more and sleep again, in their order, until the next send; there a
/// message longer than the second's buffer ends it with `EINVAL`, and the
/// third copies it. Nothing is consumed.
#[test]
fn sleeping_copies_are_woken_by_a_send() {
    let ns = Arc::new(IpcNamespace::with_variant(Variant::Rfc2012));
    let watch = Arc::new(Parked::default());
    let admin = task(&ns, 1, None);
    let q = ipc::msgget(&admin, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
    let mut threads = Vec::new();
    for (i, msgsz) in [(0, 100), (1, 2), (2, 100)] {
        let t = task(&ns, 10 + i, Some(&watch));
        threads.push(thread::spawn(move || {
            ipc::msgrcv(&t, q, msgsz, 0, MSG_COPY)
        }));
        // Each copy is asleep before the next one starts.
        watch.wait_for(i + 1);
    }
    ipc::msgsnd(&admin, q, 1, b"first", 0).unwrap();
    // The first copies it; the other two sleep again.
    watch.wait_for(2);
    ipc::msgsnd(&admin, q, 2, b"2nd", 0).unwrap();
    let got: Vec<_> = threads
        .into_iter()
        .map(|th| th.join().unwrap().map(|m| (m.mtype, m.text)))
        .collect();
    assert_eq!(
        got,
        [
            Ok((1, b"first".to_vec())),
            Err(Errno::EINVAL),
            Ok((2, b"2nd".to_vec())),
        ]
    );
    assert_eq!(stat(&admin, q), (2, 8));
}
