//! The linux backend against the model, on scripts that exercise blocking,
//! waking, forking and killing, and PID namespaces; and proof that the
//! host's IPC namespace is never touched.
//!
//! Where namespaces cannot be created (not root), each test says so on
//! standard error and returns.

use std::path::Path;
use std::process::Command;

use nscheck::backend::BackendError;
use nscheck::backend::linux::LinuxBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::run::{RunError, run, run_partial};
use nscheck::script::Script;
use nscheck_model::Dialect;

/// The agent executable: the `nscheck` binary of this build.
fn agent() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nscheck"))
}

/// A fresh linux backend, or `None` (with the reason printed) where this
/// machine cannot create namespaces.
fn linux(test: &str) -> Option<LinuxBackend> {
    match LinuxBackend::new(agent()) {
        Ok(b) => Some(b),
        Err(BackendError::Unavailable(why)) => {
            eprintln!("{test}: skipped, the linux backend cannot run here: {why}");
            None
        }
        Err(e) => panic!("{test}: the linux backend did not start: {e}"),
    }
}

/// Runs `src` on the model and on linux and asserts identical traces.
/// Returns false where linux is unavailable.
fn same(test: &str, src: &str) -> bool {
    let script = Script::parse(test, src).expect("the test script parses");
    let model = run(&script, &mut ModelBackend::new(Dialect::Mainline))
        .expect("the model runs the script")
        .text();
    let Some(mut backend) = linux(test) else {
        return false;
    };
    let linux = run(&script, &mut backend)
        .unwrap_or_else(|e| panic!("{test}: linux failed: {e}"))
        .text();
    assert_eq!(
        model, linux,
        "{test}: model (left) and linux (right) differ"
    );
    true
}

#[test]
fn queue_calls_and_details() {
    same(
        "queue_calls_and_details",
        r#"
capdrop(CAP_SYS_RESOURCE)
q = msgget(0x1234, IPC_CREAT|0640)
msgsnd(q, 5, "hello\n\x01", 0)
msgsnd(q, 3, 300, IPC_NOWAIT)
msgctl(q, IPC_STAT)
msgctl(q, MSG_STAT_ANY)
msgctl(q, IPC_INFO)
msgctl(q, MSG_INFO)
msgrcv(q, 2, 0, MSG_COPY|IPC_NOWAIT)
msgrcv(q, 100, 1, MSG_COPY|IPC_NOWAIT)
msgrcv(q, 10, -4, MSG_NOERROR)
msgrcv(q, 100, 0, 0)
msgrcv(q, 100, 0, IPC_NOWAIT)
msgctl(q, IPC_SET, {msg_qbytes=100, mode=0600})
msgctl(q, IPC_SET, {msg_qbytes=20000})
msgctl(q, IPC_STAT)
sysctl("kernel.msgmax")
sysctl("kernel.msgmax", 100)
msgsnd(q, 1, 101, IPC_NOWAIT)
msgctl(q, IPC_RMID)
msgctl(q, IPC_STAT)
"#,
    );
}

#[test]
fn blocking_and_hand_off() {
    same(
        "blocking_and_hand_off",
        r#"
q = msgget(IPC_PRIVATE, 0600)
r = fork()
r: msgrcv(q, 100, 2, 0)
msgsnd(q, 1, "skipped", 0)
msgsnd(q, 2, "handed", 0)
msgctl(q, IPC_STAT)
s = fork()
msgsnd(q, 1, 8192, 0)
msgsnd(q, 1, 8184, 0)
s: msgsnd(q, 9, 100, 0)
msgrcv(q, 8192, 0, 0)
msgctl(q, IPC_STAT)
"#,
    );
}

#[test]
fn a_woken_sender_hands_off_to_a_sleeping_receiver() {
    // The receive wakes the sender, whose send wakes the receiver that went
    // to sleep first: both resume after the receive, in blocking order.
    same(
        "a_woken_sender_hands_off_to_a_sleeping_receiver",
        r#"
q = msgget(IPC_PRIVATE, 0600)
msgctl(q, IPC_SET, {msg_qbytes=10})
r = fork()
r: msgrcv(q, 100, 5, 0)
msgsnd(q, 1, 10, 0)
s = fork()
s: msgsnd(q, 5, 4, 0)
msgrcv(q, 100, 1, 0)
msgctl(q, IPC_STAT)
"#,
    );
}

#[test]
fn rmid_wakes_every_sleeper_in_order() {
    same(
        "rmid_wakes_every_sleeper_in_order",
        r#"
q = msgget(IPC_PRIVATE, 0600)
a = fork()
b = fork()
c = fork()
b: msgrcv(q, 100, 0, 0)
a: msgrcv(q, 100, 7, 0)
msgsnd(q, 1, 8192, 0)
msgsnd(q, 1, 8192, 0)
c: msgsnd(q, 1, 1, 0)
msgctl(q, IPC_RMID)
"#,
    );
}

#[test]
fn fork_waitpid_exit() {
    same(
        "fork_waitpid_exit",
        r#"
c = fork()
c: getpid()
c: getppid()
g = fork()
c: h = fork()
waitpid(c)
c: exit(7)
h: getppid()
waitpid(h)
h: exit(1)
g: exit(0)
pidof(g)
waitpid(g)
pidof(g)
sysctl("kernel.ns_last_pid")
"#,
    );
}

#[test]
fn init_exit_kills_everyone() {
    same(
        "init_exit_kills_everyone",
        r#"
q = msgget(IPC_PRIVATE, 0600)
a = fork()
z = fork()
b = fork()
a: msgrcv(q, 100, 0, 0)
z: exit(0)
b: w = fork()
b: waitpid(w)
exit(0)
"#,
    );
}

/// An init's exit held by a zombie that an outside parent's sleeping
/// `waitpid` reaps as it resumes: by the end of that same step nothing
/// holds the init any more, so its exit must be finished, or the parent's
/// next `waitpid` for it would be judged asleep while the init is still
/// on its way to becoming a zombie. Each round's verdict is read from the
/// backend's own record, never from timing; the rounds only give the
/// kernel many chances to reap after the controller's first look.
#[test]
fn a_reap_by_a_resumed_waitpid_finishes_the_held_exit() {
    let test = "a_reap_by_a_resumed_waitpid_finishes_the_held_exit";
    let src = r#"
u = fork()
u: unshare(CLONE_NEWPID)
u: x = fork()
u: z = fork()
u: waitpid(z)
x: exit(0)
"#;
    let script = Script::parse(test, src).expect("the test script parses");
    for round in 0..100 {
        let Some(mut backend) = linux(test) else {
            return;
        };
        run(&script, &mut backend).unwrap_or_else(|e| panic!("{test}: linux failed: {e}"));
        assert_eq!(
            backend.held_exits(),
            [],
            "{test}: round {round}: x's exit is still held after its zombie was reaped"
        );
    }
}

#[test]
fn credentials_and_namespaces() {
    same(
        "credentials_and_namespaces",
        r#"
q = msgget(0x42, IPC_CREAT|0600)
c = clone(CLONE_NEWIPC)
c: msgget(0x42, 0)
c: sysctl("kernel.msgmnb", 100)
c: setgid(65534)
c: setuid(65534)
c: capdrop(CAP_SYS_ADMIN)
c: unshare(CLONE_NEWIPC)
c: msgget(0x42, IPC_CREAT|0600)
capdrop(CAP_IPC_OWNER)
capdrop(99)
d = fork()
d: setuid(1000)
d: msgsnd(q, 1, "x", 0)
sysctl("kernel.msgmnb")
"#,
    );
}

/// Scripts on PID namespaces (`pid-semantics.md` §1, rules R1–R29), each
/// named for what it covers: the model and linux must give the same trace.
const PID_SCRIPTS: &[(&str, &str)] = &[
    (
        "fork numbering 2, 3, 4; a new namespace's init sees 0 outside it (R1, R2)",
        r#"
a = fork()
b = fork()
c = fork()
n = clone(CLONE_NEWPID)
n: getpid()
n: getppid()
n: getpgid(0)
n: getsid(0)
pidof(n)
n: pidof(t0)
n: pidof(a)
sysctl("kernel.ns_last_pid")
n: sysctl("kernel.ns_last_pid")
"#,
    ),
    (
        "setsid then getsid, across levels",
        r#"
n = clone(CLONE_NEWPID)
n: setsid()
n: getsid(0)
n: getpgid(0)
getsid(n)
getpgid(n)
n: m = fork()
m: getsid(0)
m: getppid()
n: setpgid(m, 0)
n: getpgid(m)
getpgid(m)
m: setsid()
m: getsid(0)
getsid(m)
"#,
    ),
    (
        "set_tid: success, EEXIST, EINVAL, cursor unchanged (R17-R20, R22)",
        r#"
a = fork()
sysctl("kernel.ns_last_pid", 10)
b = clone(0, set_tid=[500])
sysctl("kernel.ns_last_pid")
c = fork()
clone(0, set_tid=[500])
clone(0, set_tid=[1])
clone(0, set_tid=[0])
clone(0, set_tid=[-1])
clone(0, set_tid=[4194304])
d = clone(0, set_tid=[4194303])
clone(0, set_tid=[5, 5, 5])
clone(0, set_tid=[0x100000005])
"#,
    ),
    (
        "set_tid with CLONE_NEWPID and nested levels, rolled back innermost first (R19, R23)",
        r#"
n = clone(CLONE_NEWPID, set_tid=[1, 700])
n: getpid()
clone(CLONE_NEWPID, set_tid=[2, 701])
clone(CLONE_NEWPID, set_tid=[1, 700])
clone(CLONE_NEWPID, set_tid=[9, 702])
e = fork()
n: f = clone(0, set_tid=[9])
n: clone(0, set_tid=[9, 703])
n: clone(0, set_tid=[10, 700])
n: g = clone(0, set_tid=[10, 703])
n: clone(0, set_tid=[11, 703, 5])
n: clone(0, set_tid=[11, 703, 5, 6])
h = fork()
n: i = fork()
pidof(g)
pidof(i)
"#,
    ),
    (
        "set_tid needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; EINVAL before EPERM (R21)",
        r#"
a = fork()
capdrop(CAP_SYS_ADMIN)
b = clone(0, set_tid=[800])
capdrop(CAP_CHECKPOINT_RESTORE)
clone(0, set_tid=[801])
clone(0, set_tid=[800])
clone(0, set_tid=[0])
sysctl("kernel.ns_last_pid", 20)
clone(CLONE_NEWPID)
unshare(CLONE_NEWPID)
c = fork()
"#,
    ),
    (
        "ns_last_pid write then fork; zombies keep their number (R3, R6, R11)",
        r#"
sysctl("kernel.ns_last_pid", 1000)
a = fork()
sysctl("kernel.ns_last_pid", 0)
b = fork()
a: exit(0)
sysctl("kernel.ns_last_pid", 999)
c = fork()
waitpid(a)
sysctl("kernel.ns_last_pid", 999)
d = fork()
sysctl("kernel.ns_last_pid", -1)
sysctl("kernel.ns_last_pid", 4194305)
sysctl("kernel.ns_last_pid", 4194304)
e = fork()
"#,
    ),
    (
        "pid_max write, then the wrap to 300, EAGAIN above 300 (R4, R7, R9, R10)",
        r#"
sysctl("kernel.pid_max")
sysctl("kernel.pid_max", 300)
sysctl("kernel.pid_max", 4194305)
sysctl("kernel.pid_max", 400)
sysctl("kernel.ns_last_pid", 398)
a = fork()
b = fork()
c = fork()
sysctl("kernel.ns_last_pid", 401)
n = clone(CLONE_NEWPID)
n: sysctl("kernel.pid_max")
n: sysctl("kernel.pid_max", 1000)
n: sysctl("kernel.ns_last_pid", 998)
n: e = fork()
n: f = fork()
sysctl("kernel.pid_max")
pidof(f)
sysctl("kernel.pid_max", 301)
fork()
"#,
    ),
    (
        "a failed first fork leaves pid 1 for the next (R15)",
        r#"
sysctl("kernel.pid_max", 301)
sysctl("kernel.ns_last_pid", 299)
a = fork()
unshare(CLONE_NEWPID)
fork()
a: exit(0)
waitpid(a)
i = fork()
i: getpid()
pidof(i)
"#,
    ),
    (
        "unshare(CLONE_NEWPID) twice, or then clone(CLONE_NEWPID): EINVAL (R24)",
        r#"
unshare(CLONE_NEWPID)
unshare(CLONE_NEWPID)
clone(CLONE_NEWPID)
getpid()
sysctl("kernel.ns_last_pid")
i = fork()
i: getpid()
i: getppid()
i: sysctl("kernel.ns_last_pid")
j = fork()
pidof(j)
i: pidof(j)
"#,
    ),
    (
        "a nested init exits: its namespace and those below are killed, forks get ENOMEM (R13)",
        r#"
q = msgget(IPC_PRIVATE, 0600)
n = clone(CLONE_NEWPID)
n: a = fork()
n: z = fork()
n: b = fork()
b: c = clone(CLONE_NEWPID)
c: d = fork()
a: msgrcv(q, 100, 0, 0)
z: exit(3)
waitpid(n)
n: exit(0)
pidof(a)
pidof(d)
e = fork()
pidof(e)
"#,
    ),
    (
        "after unshare: killed tasks of an outside parent stay zombies, the init waits for them",
        r#"
unshare(CLONE_NEWPID)
i = fork()
a = fork()
b = fork()
i: c = fork()
i: exit(0)
fork()
clone(0)
pidof(a)
pidof(i)
waitpid(a)
waitpid(b)
waitpid(i)
pidof(i)
"#,
    ),
    (
        "the init's parent waits for an init whose namespace keeps a zombie of it",
        r#"
unshare(CLONE_NEWPID)
i = fork()
a = fork()
i: exit(0)
waitpid(i)
"#,
    ),
    (
        "pidof across levels and sibling namespaces: 0 where not visible",
        r#"
a = clone(CLONE_NEWPID)
b = clone(CLONE_NEWPID)
a: x = fork()
b: y = fork()
a: pidof(b)
a: pidof(y)
a: pidof(x)
b: pidof(x)
x: pidof(a)
pidof(x)
pidof(y)
x: g = clone(CLONE_NEWPID)
g: pidof(x)
x: pidof(g)
a: pidof(g)
pidof(g)
b: pidof(g)
g: getppid()
a: getpgid(x)
x: getsid(g)
"#,
    ),
    (
        "32 levels at most: ENOSPC (R29); set_tid through every level",
        r#"
n1 = clone(CLONE_NEWPID)
n1: n2 = clone(CLONE_NEWPID)
n2: n3 = clone(CLONE_NEWPID, set_tid=[1, 50, 60])
n3: n4 = clone(CLONE_NEWPID)
n4: n5 = clone(CLONE_NEWPID)
n5: n6 = clone(CLONE_NEWPID)
n6: n7 = clone(CLONE_NEWPID)
n7: n8 = clone(CLONE_NEWPID)
n8: n9 = clone(CLONE_NEWPID)
n9: n10 = clone(CLONE_NEWPID)
n10: n11 = clone(CLONE_NEWPID)
n11: n12 = clone(CLONE_NEWPID)
n12: n13 = clone(CLONE_NEWPID)
n13: n14 = clone(CLONE_NEWPID)
n14: n15 = clone(CLONE_NEWPID)
n15: n16 = clone(CLONE_NEWPID)
n16: n17 = clone(CLONE_NEWPID)
n17: n18 = clone(CLONE_NEWPID)
n18: n19 = clone(CLONE_NEWPID)
n19: n20 = clone(CLONE_NEWPID)
n20: n21 = clone(CLONE_NEWPID)
n21: n22 = clone(CLONE_NEWPID)
n22: n23 = clone(CLONE_NEWPID)
n23: n24 = clone(CLONE_NEWPID)
n24: n25 = clone(CLONE_NEWPID)
n25: n26 = clone(CLONE_NEWPID)
n26: n27 = clone(CLONE_NEWPID)
n27: n28 = clone(CLONE_NEWPID)
n28: n29 = clone(CLONE_NEWPID)
n29: n30 = clone(CLONE_NEWPID)
n30: n31 = clone(CLONE_NEWPID)
n31: clone(CLONE_NEWPID)
n31: unshare(CLONE_NEWPID)
n31: getpid()
pidof(n31)
n3: pidof(n31)
n31: clone(0, set_tid=[9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
n31: clone(0, set_tid=[9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
n1: exit(0)
"#,
    ),
    (
        "msg_lspid and msg_lrpid seen from a nested namespace: 0 for a task outside it",
        r#"
q = msgget(0x55, IPC_CREAT|0666)
msgsnd(q, 1, "from t0", 0)
n = clone(CLONE_NEWPID)
n: msgctl(q, IPC_STAT)
n: msgsnd(q, 2, "from n", 0)
msgctl(q, IPC_STAT)
n: msgrcv(q, 100, 0, 0)
n: msgctl(q, IPC_STAT)
msgctl(q, IPC_STAT)
n: m = fork()
m: msgrcv(q, 100, 0, 0)
msgsnd(q, 3, "again", 0)
n: msgctl(q, IPC_STAT)
n: msgctl(q, MSG_STAT_ANY)
msgctl(q, IPC_STAT)
n: exit(0)
msgctl(q, IPC_STAT)
k = clone(CLONE_NEWPID|CLONE_NEWIPC)
k: msgget(0x55, 0)
"#,
    ),
    (
        "process groups and sessions across namespaces; reparenting to a nested init",
        r#"
a = fork()
a: setpgid(0, 0)
a: b = fork()
a: n = clone(CLONE_NEWPID)
n: getpgid(0)
a: getpgid(n)
a: setpgid(b, a)
n: setsid()
n: x = fork()
x: y = fork()
x: exit(0)
y: getppid()
n: waitpid(x)
y: exit(0)
n: waitpid(y)
a: exit(0)
b: getppid()
n: getppid()
waitpid(a)
"#,
    ),
];

/// Runs `src` on the model and on linux; `Err` with both traces where they
/// differ, `Ok(false)` where linux is unavailable.
fn compare(test: &str, src: &str) -> Result<bool, String> {
    let script = Script::parse(test, src).map_err(|e| format!("{test}: {e}"))?;
    let model = run(&script, &mut ModelBackend::new(Dialect::Mainline))
        .map_err(|e| format!("{test}: the model failed: {e}"))?
        .text();
    let Some(mut backend) = linux(test) else {
        return Ok(false);
    };
    let linux = run(&script, &mut backend)
        .map_err(|e| format!("{test}: linux failed: {e}"))?
        .text();
    if model == linux {
        Ok(true)
    } else {
        Err(format!(
            "{test}: model and linux differ\n--- model\n{model}--- linux\n{linux}"
        ))
    }
}

#[test]
fn pid_namespaces_match_the_model() {
    let failures: Vec<String> = PID_SCRIPTS
        .iter()
        .filter_map(|(name, src)| compare(name, src).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Scripts whose last call the model refuses (a `set_tid` entry for the
/// host's namespace, reached only once every level inside has passed) and
/// linux must refuse too, at the same line, after the same trace; and where
/// an earlier level fails, both give its errno instead.
const HOST_SET_TID_SCRIPTS: &[(&str, &str)] = &[
    (
        "t0's namespace",
        "clone(0, set_tid=[0, 5])\nclone(0, set_tid=[1, 5])\nclone(0, set_tid=[801, 5])\n",
    ),
    (
        "a nested namespace",
        "n = clone(CLONE_NEWPID)\nn: clone(0, set_tid=[5, 1, 5])\nn: clone(0, set_tid=[7, 5, 5])\n",
    ),
    (
        "after unshare",
        "unshare(CLONE_NEWPID)\nclone(0, set_tid=[2, 5, 5])\nclone(0, set_tid=[1, 1, 5])\nclone(0, set_tid=[1, 7, 5])\n",
    ),
    (
        "with CLONE_NEWPID",
        "clone(CLONE_NEWPID, set_tid=[1, 1, 5])\nclone(CLONE_NEWPID, set_tid=[1, 7, 5])\n",
    ),
];

#[test]
fn host_set_tid_entries_are_unsupported_where_the_model_says_so() {
    for (name, src) in HOST_SET_TID_SCRIPTS {
        let script = Script::parse(name, src).expect("the test script parses");
        let last = src.lines().count();
        let (model, model_err) = run_partial(&script, &mut ModelBackend::new(Dialect::Mainline));
        let Some(mut backend) = linux(name) else {
            return;
        };
        let (linux, linux_err) = run_partial(&script, &mut backend);
        assert_eq!(model.text(), linux.text(), "{name}: the traces differ");
        for (who, err) in [("model", model_err), ("linux", linux_err)] {
            match err {
                Some(RunError::Script(e)) => {
                    assert_eq!(e.line, last, "{name}: {who} refused another line: {e}")
                }
                other => panic!("{name}: {who} did not refuse the last line: {other:?}"),
            }
        }
    }
}

#[test]
fn an_init_is_never_trapped_in_another_tasks_process_group() {
    // The kernel would keep such an init asleep in its exit for good; the
    // backend refuses the setpgid, after moving the init back, and can be
    // dropped (t0's exit finishes).
    for (name, src) in [
        ("t0", "a = fork()\na: setpgid(0, 0)\nsetpgid(0, a)\n"),
        (
            "a nested init, moved by its parent",
            "unshare(CLONE_NEWPID)\ni = fork()\ni: g = fork()\ng: setpgid(0, 0)\nsetpgid(i, g)\n",
        ),
    ] {
        let script = Script::parse(name, src).expect("the test script parses");
        let Some(mut backend) = linux(name) else {
            return;
        };
        let (_, err) = run_partial(&script, &mut backend);
        match err {
            Some(RunError::Script(e)) => assert!(e.msg.contains("zap_pid_ns_processes"), "{e}"),
            other => panic!("{name}: the setpgid was not refused: {other:?}"),
        }
    }
}

/// The host's System V message queues, as `/proc/sysvipc/msg` lists them.
fn host_queues() -> Option<Vec<u8>> {
    std::fs::read("/proc/sysvipc/msg").ok()
}

#[test]
fn host_ipc_namespace_is_untouched() {
    let Some(before) = host_queues() else {
        eprintln!("host_ipc_namespace_is_untouched: skipped, no /proc/sysvipc/msg");
        return;
    };
    let ran = same(
        "host_ipc_namespace_is_untouched",
        r#"
q = msgget(0x7e57, IPC_CREAT|0600)
p = msgget(IPC_PRIVATE, 0600)
msgsnd(q, 1, "left behind", 0)
c = fork()
c: msgrcv(p, 10, 0, 0)
"#,
    );
    if !ran {
        return;
    }
    assert_eq!(
        host_queues(),
        Some(before),
        "the host's /proc/sysvipc/msg changed"
    );
}

#[test]
fn without_privileges_the_backend_is_unavailable() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("without_privileges_the_backend_is_unavailable: skipped, not root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("nscheck-linux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("s.nsc");
    std::fs::write(&script, "getpid()\n").expect("write script");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(agent())
        .args(["run", "--backend", "linux"])
        .arg(&script)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("without_privileges_the_backend_is_unavailable: skipped, no setpriv: {e}");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("setpriv:") {
        eprintln!(
            "without_privileges_the_backend_is_unavailable: skipped, setpriv failed: {stderr}"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("cannot create fresh IPC and PID namespaces"),
        "stderr: {stderr}"
    );
}
