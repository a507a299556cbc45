//! The linux backend under a command prefix (`--wrap`) and its gVisor
//! preset (`--backend gvisor`): a trivial prefix changes no trace, gVisor
//! runs a multi-task msg script with sleepers, and what gVisor lacks is
//! reported as missing.
//!
//! Where namespaces cannot be created, or `runsc` is absent or cannot run
//! (not root), each test says so on standard error and returns.

use std::path::Path;

use nscheck::backend::BackendError;
use nscheck::backend::linux::LinuxBackend;
use nscheck::backend::linux::wrap::Wrap;
use nscheck::run::{RunError, run, run_partial};
use nscheck::script::Script;

/// The agent executable: the `nscheck` binary of this build.
fn agent() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nscheck"))
}

/// A backend from `make`, or `None` (with the reason printed) where it
/// cannot run here.
fn start(
    test: &str,
    what: &str,
    make: impl FnOnce() -> Result<LinuxBackend, BackendError>,
) -> Option<LinuxBackend> {
    match make() {
        Ok(b) => Some(b),
        Err(BackendError::Unavailable(why)) => {
            eprintln!("{test}: skipped, {what} cannot run here: {why}");
            None
        }
        Err(e) => panic!("{test}: {what} did not start: {e}"),
    }
}

/// A gVisor backend (the preset, with `$NSCHECK_RUNSC` if set).
fn gvisor(test: &str) -> Option<LinuxBackend> {
    let runsc = std::env::var("NSCHECK_RUNSC").ok();
    start(test, "gvisor", || {
        LinuxBackend::wrapped(agent(), &Wrap::gvisor(runsc.as_deref()))
    })
}

/// The trace of `src` on `backend`.
fn trace(test: &str, src: &str, backend: &mut LinuxBackend) -> String {
    let script = Script::parse(test, src).expect("the test script parses");
    run(&script, backend)
        .unwrap_or_else(|e| panic!("{test}: the run failed: {e}"))
        .text()
}

/// Scripts whose traces must not change under `--wrap env`: sleepers
/// woken by a hand-off and by an `E2BIG`, a nested PID namespace, an
/// init's exit that kills, a `waitpid` that sleeps.
const SAME_UNDER_ENV: [(&str, &str); 2] = [
    (
        "msg",
        include_str!("../../corpus/conformance/047-handoff-e2big.nsc"),
    ),
    (
        "pid",
        r#"
a = clone(CLONE_NEWPID)
a: b = fork()
a: c = fork()
b: msgget(IPC_PRIVATE, 0600)
w = fork()
w: exit(0)
waitpid(w)
a: exit(0)
pidof(c)
waitpid(a)
"#,
    ),
];

#[test]
fn trivial_wrapper_gives_the_same_trace() {
    let test = "trivial_wrapper_gives_the_same_trace";
    for (name, src) in SAME_UNDER_ENV {
        let Some(mut plain) = start(test, "linux", || LinuxBackend::new(agent())) else {
            return;
        };
        let env = Wrap::parse("linux --wrap", "env").expect("a prefix");
        let Some(mut wrapped) = start(test, "linux --wrap env", || {
            LinuxBackend::wrapped(agent(), &env)
        }) else {
            return;
        };
        let expected = trace(test, src, &mut plain);
        assert_eq!(
            trace(test, src, &mut wrapped),
            expected,
            "{test}: {name}: linux (right) and linux --wrap env (left) differ"
        );
    }
}

#[test]
fn gvisor_two_receivers_asleep() {
    let test = "gvisor_two_receivers_asleep";
    let Some(mut b) = gvisor(test) else {
        return;
    };
    let src = r#"
q = msgget(IPC_PRIVATE, 0600)
a = fork()
b = fork()
a: msgrcv(q, 100, 1, 0)
b: msgrcv(q, 100, 2, 0)
msgsnd(q, 2, "two", 0)
msgsnd(q, 1, "one", 0)
msgctl(q, IPC_STAT)
"#;
    // gVisor numbers queues from 1, and each receiver gets the message of
    // its type, whichever wakes first.
    let expected = "\
t0: msgget(IPC_PRIVATE, 0600) = 1
t0: fork() = 2
t0: fork() = 3
a: msgrcv(1, 100, 1, 0) <unfinished ...>
b: msgrcv(1, 100, 2, 0) <unfinished ...>
t0: msgsnd(1, 2, \"two\", 0) = 0
b: <... msgrcv resumed> = 3 {mtype=2, mtext=\"two\"}
t0: msgsnd(1, 1, \"one\", 0) = 0
a: <... msgrcv resumed> = 3 {mtype=1, mtext=\"one\"}
t0: msgctl(1, IPC_STAT) = 0 {msg_perm={key=0x0, uid=0, gid=0, cuid=0, cgid=0, mode=0600, seq=0}, msg_qnum=0, msg_cbytes=0, msg_qbytes=16384, msg_lspid=1, msg_lrpid=2}
";
    assert_eq!(trace(test, src, &mut b), expected);
}

/// Runs `src` on gVisor; the trace and the message of the error that
/// stopped it.
fn gvisor_partial(test: &str, src: &str) -> Option<(String, Option<RunError>)> {
    let mut b = gvisor(test)?;
    let script = Script::parse(test, src).expect("the test script parses");
    let (trace, error) = run_partial(&script, &mut b);
    Some((trace.text(), error))
}

#[test]
fn gvisor_missing_sysctl_is_reported_as_missing() {
    let test = "gvisor_missing_sysctl_is_reported_as_missing";
    let Some((trace, error)) = gvisor_partial(
        test,
        "sysctl(\"kernel.msgmax\")\nsysctl(\"kernel.msg_next_id\")\n",
    ) else {
        return;
    };
    assert_eq!(trace, "t0: sysctl(\"kernel.msgmax\") = 8192\n");
    let error = error.expect("msg_next_id is absent in gVisor").to_string();
    assert!(
        error.contains(":2: missing: /proc/sys/kernel/msg_next_id does not exist"),
        "{error}"
    );
}

#[test]
fn gvisor_set_tid_gets_its_own_answer() {
    let test = "gvisor_set_tid_gets_its_own_answer";
    // clone3 does not exist in gVisor: a clone without set_tid falls back
    // to clone(2), one with set_tid gets gVisor's ENOSYS.
    let Some((trace, error)) = gvisor_partial(
        test,
        "a = clone(CLONE_NEWPID)\na: getpid()\nclone(0, set_tid=[7])\n",
    ) else {
        return;
    };
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        trace,
        "t0: clone(CLONE_NEWPID) = 2\na: getpid() = 1\nt0: clone(0, set_tid=[7]) = -1 ENOSYS\n"
    );
}

/// The processes whose command line mentions `needle`, as `PID CMDLINE`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid} {cmdline}"));
        }
    }
    found
}

/// Asserts that nothing of a dropped wrapped backend is left: no process
/// that ran under its private `TMPDIR` (runsc's sandbox and gofer name
/// their state directory there), and not the directory itself.
fn assert_nothing_left(test: &str, tmp: &Path) {
    assert!(!tmp.exists(), "{test}: {} is left behind", tmp.display());
    let left = processes_mentioning(&tmp.to_string_lossy());
    assert!(left.is_empty(), "{test}: processes left behind: {left:?}");
}

#[test]
fn gvisor_leaves_nothing_behind() {
    let test = "gvisor_leaves_nothing_behind";
    let Some(mut b) = gvisor(test) else {
        return;
    };
    let tmp = b.wrapper_tmpdir().expect("a wrapped backend").to_path_buf();
    // A sleeper is still asleep when the backend is dropped.
    trace(
        test,
        "q = msgget(IPC_PRIVATE, 0600)\na = fork()\na: msgrcv(q, 1, 0, 0)\n",
        &mut b,
    );
    assert!(
        !processes_mentioning(&tmp.to_string_lossy()).is_empty(),
        "{test}: runsc keeps its state under the private TMPDIR"
    );
    drop(b);
    assert_nothing_left(test, &tmp);
}

#[test]
fn a_hung_wrapper_is_killed_after_its_grace_period() {
    let test = "a_hung_wrapper_is_killed_after_its_grace_period";
    // A wrapper that runs the agent and then hangs instead of exiting.
    let dir = std::env::temp_dir().join(format!("nscheck-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let hang = dir.join("hang.sh");
    // The sleep's argument is unique, so that it can be looked for.
    let sleep = format!("sleep 1000.{}", std::process::id());
    std::fs::write(&hang, format!("#!/bin/sh\n\"$@\"\nexec {sleep}\n")).expect("the wrapper");
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut wrap = Wrap::parse("linux --wrap", &hang.to_string_lossy()).expect("a prefix");
    wrap.grace = std::time::Duration::from_millis(200);
    let started = start(test, "linux --wrap hang.sh", || {
        LinuxBackend::wrapped(agent(), &wrap)
    });
    let Some(mut b) = started else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let tmp = b.wrapper_tmpdir().expect("a wrapped backend").to_path_buf();
    trace(test, "getpid()\n", &mut b);
    drop(b);
    assert!(
        processes_mentioning(&sleep).is_empty(),
        "{test}: the hung wrapper was not killed"
    );
    assert_nothing_left(test, &tmp);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gvisor_finds_pids_in_nested_namespaces() {
    let test = "gvisor_finds_pids_in_nested_namespaces";
    let Some(mut b) = gvisor(test) else {
        return;
    };
    // gVisor's /proc/PID/status has no NSpid line: c's number in t0's
    // namespace is neither its own nor its parent's, and is found in the
    // /proc that t0 mounted.
    let src = "a = clone(CLONE_NEWPID)\na: b = fork()\nb: c = fork()\npidof(c)\na: pidof(c)\n";
    assert_eq!(
        trace(test, src, &mut b),
        "t0: clone(CLONE_NEWPID) = 2\na: fork() = 2\nb: fork() = 3\nt0: pidof(c) = 4\na: pidof(c) = 3\n"
    );
}
