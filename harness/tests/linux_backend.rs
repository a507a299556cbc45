//! The linux backend against the model, on scripts that exercise blocking,
//! waking, forking and killing; and proof that the host's IPC namespace is
//! never touched.
//!
//! Where namespaces cannot be created (not root), each test says so on
//! standard error and returns.

use std::path::Path;
use std::process::Command;

use nscheck::backend::BackendError;
use nscheck::backend::linux::LinuxBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::run::run;
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
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
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
