//! Tables of trace lines and what the divergence classes make of them.

use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn normalize_writes_queue_ids_in_creation_order() {
    // gVisor's ids and Linux's give the same lines.
    let gvisor = "t0: msgget(IPC_PRIVATE, 0600) = 1\n\
                  t0: msgget(0x10, IPC_CREAT|0600) = 2\n\
                  t0: msgsnd(2, 1, \"a, b) = 3\", IPC_NOWAIT) = 0\n\
                  c1: msgrcv(1, 100, 0, 0) <unfinished ...>\n\
                  t0: msgctl(1, IPC_RMID) = 0\n\
                  c1: <... msgrcv resumed> = -1 EIDRM";
    let linux = gvisor
        .replace("= 1\n", "= 0\n")
        .replace("= 2\n", "= 32769\n")
        .replace("(2,", "(32769,")
        .replace("(1,", "(0,");
    let want = "t0: msgget(IPC_PRIVATE, 0600) = q#1\n\
                t0: msgget(0x10, IPC_CREAT|0600) = q#2\n\
                t0: msgsnd(q#2, 1, \"a, b) = 3\", IPC_NOWAIT) = 0\n\
                c1: msgrcv(q#1, 100, 0, 0) <unfinished ...>\n\
                t0: msgctl(q#1, IPC_RMID) = 0\n\
                c1: <... msgrcv resumed> = -1 EIDRM";
    assert_ne!(linux, gvisor);
    assert_eq!(normalize(&lines(gvisor)), lines(want));
    assert_eq!(normalize(&lines(&linux)), lines(want));
    // (trace, normalized)
    let table = [
        // The same key twice is the same queue; a failed msgget, an id no
        // msgget returned and an MSG_STAT index stay numbers; what
        // MSG_STAT returns is a queue.
        (
            "t0: msgget(0x10, IPC_CREAT|0600) = 5\n\
             t0: msgget(0x10, 0) = 5\n\
             t0: msgget(0x11, 0) = -1 ENOENT\n\
             t0: msgsnd(-1, 1, 1, IPC_NOWAIT) = -1 EINVAL\n\
             t0: msgrcv(7, 1, 0, IPC_NOWAIT) = -1 EINVAL\n\
             t0: msgctl(0, MSG_STAT) = 5 {msg_perm={key=0x10}}\n\
             t0: msgctl(5, IPC_INFO) = 0 {msgpool=0}",
            "t0: msgget(0x10, IPC_CREAT|0600) = q#1\n\
             t0: msgget(0x10, 0) = q#1\n\
             t0: msgget(0x11, 0) = -1 ENOENT\n\
             t0: msgsnd(-1, 1, 1, IPC_NOWAIT) = -1 EINVAL\n\
             t0: msgrcv(7, 1, 0, IPC_NOWAIT) = -1 EINVAL\n\
             t0: msgctl(0, MSG_STAT) = q#1 {msg_perm={key=0x10}}\n\
             t0: msgctl(q#1, IPC_INFO) = 0 {msgpool=0}",
        ),
        // Lines without queues are left alone.
        (
            "t0: fork() = 2\n\
             c1: +++ killed by SIGKILL +++\n\
             t0: sysctl(\"kernel.msgmax\", 10) = 0\n\
             c1: exit(0) = ?",
            "t0: fork() = 2\n\
             c1: +++ killed by SIGKILL +++\n\
             t0: sysctl(\"kernel.msgmax\", 10) = 0\n\
             c1: exit(0) = ?",
        ),
    ];
    for (trace, want) in table {
        assert_eq!(normalize(&lines(trace)), lines(want), "{trace}");
    }
}

#[test]
fn signatures_keep_what_decides_and_drop_the_rest() {
    // (model line, implementation line, signature)
    let table = [
        (
            Some("t0: msgctl(q#1, IPC_INFO) = 3 {msgpool=512000, msgmap=16384}"),
            Some("t0: msgctl(q#1, IPC_INFO) = 0 {msgpool=512000, msgmap=16384}"),
            "msgctl(Q, IPC_INFO): linux N {info}, impl 0 {info}",
        ),
        (
            Some("c3: msgrcv(q#2, 8192, -5, MSG_COPY|IPC_NOWAIT) = -1 ENOMSG"),
            Some("c3: msgrcv(q#2, 8192, -5, MSG_COPY|IPC_NOWAIT) = 5 {mtype=1, mtext=\"hello\"}"),
            "msgrcv(Q, N, -N, MSG_COPY|IPC_NOWAIT): linux -1 ENOMSG, impl N {msg}",
        ),
        // Message texts and sizes are sizes; modes, keys and named
        // arguments keep their shape.
        (
            Some("t0: msgsnd(q#1, 2, \"x, y\", 0) = 0"),
            Some("t0: msgsnd(q#1, 2, \"x, y\", 0) <unfinished ...>"),
            "msgsnd(Q, N, N, 0): linux 0, impl sleeps",
        ),
        (
            Some("t0: msgget(0x10, IPC_CREAT|0640) = q#1"),
            Some("t0: msgget(0x10, IPC_CREAT|0640) = -1 ENOSPC"),
            "msgget(N, IPC_CREAT|0640): linux Q, impl -1 ENOSPC",
        ),
        (
            Some("c2: clone(CLONE_NEWPID, set_tid=[1, 300]) = 4"),
            Some("c2: clone(CLONE_NEWPID, set_tid=[1, 300]) = -1 EEXIST"),
            "clone(CLONE_NEWPID, set_tid=[N, N]): linux N, impl -1 EEXIST",
        ),
        (
            Some("t0: msgctl(q#1, IPC_SET, {msg_qbytes=0x100000005}) = 0"),
            Some("t0: msgctl(q#1, IPC_SET, {msg_qbytes=0x100000005}) = -1 EINVAL"),
            "msgctl(Q, IPC_SET, {msg_qbytes=N}): linux 0, impl -1 EINVAL",
        ),
        // Task names are tasks; a sysctl keeps its name.
        (
            Some("c1: setpgid(c4, 0) = 0"),
            Some("c1: setpgid(c4, 0) = -1 ESRCH"),
            "setpgid(T, 0): linux 0, impl -1 ESRCH",
        ),
        (
            Some("t0: sysctl(\"kernel.msgmnb\", -1) = -1 EINVAL"),
            Some("t0: sysctl(\"kernel.msgmnb\", -1) = 0"),
            "sysctl(\"kernel.msgmnb\", -N): linux -1 EINVAL, impl 0",
        ),
        // One pattern, different details: the fields that differ.
        (
            Some(
                "t0: msgctl(q#1, IPC_STAT) = 0 {msg_perm={key=0x0, mode=0600, seq=0}, msg_qnum=1, msg_lspid=2}",
            ),
            Some(
                "t0: msgctl(q#1, IPC_STAT) = 0 {msg_perm={key=0x0, mode=0600, seq=1}, msg_qnum=1, msg_lspid=1}",
            ),
            "msgctl(Q, IPC_STAT): linux 0 {stat}, impl 0 {stat}; differs: seq, msg_lspid",
        ),
        (
            Some("c1: <... msgrcv resumed> = 5 {mtype=1, mtext=\"hello\"}"),
            Some("c2: <... msgrcv resumed> = 5 {mtype=1, mtext=\"hello\"}"),
            "msgrcv resumed: linux N {msg}, impl N {msg}; differs: task",
        ),
        (
            Some("t0: getsid(0) = 1"),
            Some("t0: getsid(0) = 2"),
            "getsid(0): linux N, impl N; differs: value",
        ),
        // An event one side has and the other has not.
        (
            Some("c1: <... msgrcv resumed> = 5 {mtype=1, mtext=\"hello\"}"),
            Some("t0: msgctl(q#1, IPC_RMID) = 0"),
            "msgrcv resumed: linux N {msg}, impl (no line)",
        ),
        (
            Some("t0: exit(0) = ?"),
            Some("c1: +++ killed by SIGKILL +++"),
            "SIGKILL: linux (no line), impl killed",
        ),
        (
            Some("c1: <... waitpid resumed> = 3"),
            None,
            "waitpid resumed: linux N, impl (end)",
        ),
    ];
    for (m, o, want) in table {
        assert_eq!(signature(m, o), want, "{m:?} / {o:?}");
    }
}

#[test]
fn classify_tells_wrong_from_missing() {
    let model = lines(
        "t0: sysctl(\"kernel.msgmax\") = 8192\n\
         t0: sysctl(\"kernel.msg_next_id\", 5) = 0\n\
         t0: msgget(IPC_PRIVATE, 0600) = q#1",
    );
    let wrong = |sig: &str, index| Verdict::Diverge {
        class: Class {
            kind: Kind::Wrong,
            signature: sig.to_string(),
        },
        index,
    };
    // (implementation's lines, how it ended, verdict)
    let table = [
        (&model[..], End::Complete, Verdict::Agree),
        (
            &model[..1],
            End::Missing("/proc/sys/kernel/msg_next_id does not exist".into()),
            Verdict::Diverge {
                class: Class {
                    kind: Kind::Missing,
                    signature: "sysctl(\"kernel.msg_next_id\", N): missing: \
                                /proc/sys/kernel/msg_next_id does not exist"
                        .into(),
                },
                index: 1,
            },
        ),
        // Numbers in what is missing are patterns too.
        (
            &model[..1],
            End::Missing("task #1: errno 5 has no name in the model".into()),
            Verdict::Diverge {
                class: Class {
                    kind: Kind::Missing,
                    signature: "sysctl(\"kernel.msg_next_id\", N): missing: \
                                task #N: errno N has no name in the model"
                        .into(),
                },
                index: 1,
            },
        ),
        // A backend failure is a wrong result; a refusal is no divergence.
        (
            &model[..1],
            End::Failed("task #1 did not answer within 30s".into()),
            wrong(
                "sysctl(\"kernel.msg_next_id\", N): failure: task #N did not answer within Ns",
                1,
            ),
        ),
        (
            &model[..1],
            End::Refused("t:2: the script leaves an unkillable task".into()),
            Verdict::Skip("t:2: the script leaves an unkillable task".into()),
        ),
        // A trace that parted before the stop is wrong there.
        (
            &lines("t0: sysctl(\"kernel.msgmax\") = 16384")[..],
            End::Missing("/proc/sys/kernel/msg_next_id does not exist".into()),
            wrong(
                "sysctl(\"kernel.msgmax\"): linux N, impl N; differs: value",
                0,
            ),
        ),
        (
            &model[..2],
            End::Complete,
            wrong("msgget(IPC_PRIVATE, 0600): linux Q, impl (end)", 2),
        ),
    ];
    for (other, end, want) in table {
        assert_eq!(classify(&model, other, &end), want, "{other:?} {end:?}");
    }
}

#[test]
fn a_call_answered_enosys_is_missing_whatever_its_arguments() {
    for (m, o) in [
        (
            "t0: clone(CLONE_NEWPID, set_tid=[1]) = 2",
            "t0: clone(CLONE_NEWPID, set_tid=[1]) = -1 ENOSYS",
        ),
        (
            "t0: clone(0, set_tid=[300]) = -1 EEXIST",
            "t0: clone(0, set_tid=[300]) = -1 ENOSYS",
        ),
    ] {
        assert_eq!(
            classify(&lines(m), &lines(o), &End::Complete),
            Verdict::Diverge {
                class: Class {
                    kind: Kind::Missing,
                    signature: "clone(…, set_tid=…): missing: ENOSYS".into(),
                },
                index: 0,
            }
        );
    }
}

#[test]
fn only_a_trace_with_the_class_call_may_give_it() {
    let class = |sig: &str| Class {
        kind: Kind::Wrong,
        signature: sig.to_string(),
    };
    let model = lines(
        "t0: msgget(IPC_PRIVATE, 0600) = q#1\n\
         t0: msgctl(q#1, IPC_INFO) = 0 {msgpool=0}\n\
         t0: clone(0, set_tid=[5]) = -1 EEXIST",
    );
    // (signature, plausible)
    let table = [
        ("msgctl(Q, IPC_INFO): linux 0 {info}, impl N {info}", true),
        ("msgctl(Q, IPC_INFO): linux N {info}, impl 0 {info}", false),
        ("msgctl(Q, IPC_STAT): linux 0 {stat}, impl -1 EINVAL", false),
        ("msgget(IPC_PRIVATE, 0600): missing: what", true),
        ("msgget(IPC_PRIVATE, 0600): failure: a hang", true),
        ("clone(…, set_tid=…): missing: ENOSYS", true),
        ("msgrcv resumed: linux N {msg}, impl (no line)", false),
        ("SIGKILL: linux (no line), impl killed", true),
    ];
    for (sig, want) in table {
        assert_eq!(plausible(&model, &class(sig)), want, "{sig}");
    }
}
