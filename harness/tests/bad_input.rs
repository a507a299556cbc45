//! Malformed scripts and bad command lines: `nscheck run` must exit 2 with
//! `FILE:LINE: message` on standard error, and it must never panic. An error
//! found before running prints nothing on standard output; one found while
//! running prints the trace up to the failing statement.
//!
//! Each case writes its script to a file of its own under the target's
//! temporary directory and runs the built binary there, so the file name in
//! the message is just the case's name.

use std::path::PathBuf;
use std::process::{Command, Output};

/// One malformed script and the error it must give.
struct Case {
    /// The file name, without `.ns`; also names the case.
    name: &'static str,
    /// The script's bytes.
    script: &'static [u8],
    /// The line the error is reported on.
    line: usize,
    /// The message after `FILE:LINE: `.
    msg: &'static str,
    /// The trace printed before the error (runtime errors only).
    stdout: &'static str,
}

/// A case that fails before running, so with nothing on standard output.
const fn case(name: &'static str, script: &'static str, line: usize, msg: &'static str) -> Case {
    runtime(name, script, line, msg, "")
}

/// A case that fails while running, after printing `stdout`.
const fn runtime(
    name: &'static str,
    script: &'static str,
    line: usize,
    msg: &'static str,
    stdout: &'static str,
) -> Case {
    Case {
        name,
        script: script.as_bytes(),
        line,
        msg,
        stdout,
    }
}

/// The cases, grouped by the part of the program that finds the error.
const CASES: &[Case] = &[
    // Syntax errors, found by the lexer and the parser.
    case(
        "paren_unclosed",
        "getpid(\n",
        1,
        "expected a value at end of line",
    ),
    case(
        "paren_unclosed_args",
        "msgget(1, 2\n",
        1,
        "expected `)` at end of line",
    ),
    case(
        "paren_extra",
        "getpid())\n",
        1,
        "unexpected `)` after the call",
    ),
    case(
        "paren_nested",
        "msgget((1), 0)\n",
        1,
        "expected a value, found `(`",
    ),
    case(
        "paren_missing",
        "getpid\n",
        1,
        "expected `(` at end of line",
    ),
    case(
        "brace_unclosed",
        "q = msgget(0, 0)\nmsgctl(q, IPC_SET, {mode=0600)\n",
        2,
        "expected `,` or `}`, found `)`",
    ),
    case(
        "bracket_unclosed",
        "c = clone(CLONE_NEWPID, set_tid=[1, 2)\n",
        1,
        "expected `,` or `]`, found `)`",
    ),
    case(
        "escape_unknown",
        "sysctl(\"\\q\")\n",
        1,
        "unknown escape `\\q`",
    ),
    case(
        "escape_unknown_non_ascii",
        "sysctl(\"\\é\")\n",
        1,
        "unknown escape `\\é`",
    ),
    case(
        "escape_hex_empty",
        "sysctl(\"\\xg\")\n",
        1,
        "`\\x` needs hex digits",
    ),
    case(
        "escape_octal_range",
        "sysctl(\"\\777\")\n",
        1,
        "octal escape `\\777` is out of range",
    ),
    case(
        "string_unterminated",
        "sysctl(\"kernel.msgmax)\n",
        1,
        "unterminated string",
    ),
    case(
        "string_unterminated_escape",
        "sysctl(\"kernel\\",
        1,
        "unterminated string",
    ),
    case(
        "junk_after_call",
        "getpid() x\n",
        1,
        "unexpected `x` after the call",
    ),
    case(
        "junk_character",
        "getpid(); getpid()\n",
        1,
        "unexpected character `;`",
    ),
    case(
        "int_bad_octal",
        "msgget(09, 0)\n",
        1,
        "bad integer `09`: invalid digit found in string",
    ),
    case(
        "int_bad_hex",
        "msgget(0xZZ, 0)\n",
        1,
        "bad integer `0xZZ`: invalid digit found in string",
    ),
    case(
        "int_empty_hex",
        "msgget(0x, 0)\n",
        1,
        "bad integer `0x`: cannot parse integer from empty string",
    ),
    case(
        "int_too_big",
        "msgget(99999999999999999999, 0)\n",
        1,
        "bad integer `99999999999999999999`: number too large to fit in target type",
    ),
    case(
        "nesting_too_deep",
        "c = clone(CLONE_NEWPID, set_tid=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]])\n",
        1,
        "lists and structs nest too deep (at most 32 levels)",
    ),
    // Static errors, found by the checks after parsing; comments and blank
    // lines still count as lines.
    case(
        "call_unknown",
        "# A comment.\n\nfrob()\n",
        3,
        "unknown call `frob`",
    ),
    case(
        "name_unknown_constant",
        "msgget(IPC_PRIVATE, IPC_CREAT|IPC_FOO)\n",
        1,
        "unknown name `IPC_FOO`",
    ),
    case(
        "name_misspelled_constant",
        "msgget(IPC_PRIVATE, IPC_CREAT|IPC_EXCLL)\n",
        1,
        "unknown name `IPC_EXCLL`; did you mean `IPC_EXCL`?",
    ),
    case(
        "call_misspelled",
        "q = msgget(IPC_PRIVATE, 0600)\nmsgsend(q, 1, \"x\", 0)\n",
        2,
        "unknown call `msgsend`; did you mean `msgsnd`?",
    ),
    case(
        "name_unbound",
        "msgsnd(q, 1, \"hi\", 0)\n",
        1,
        "unknown name `q`",
    ),
    case("task_unknown", "x: getpid()\n", 1, "unknown task `x`"),
    case(
        "task_not_a_task",
        "q = msgget(IPC_PRIVATE, 0600)\nq: getpid()\n",
        2,
        "unknown task `q`",
    ),
    case("task_arg_unknown", "waitpid(c)\n", 1, "unknown task `c`"),
    case(
        "count_too_many",
        "getpid(1)\n",
        1,
        "getpid() takes 0 arguments, got 1",
    ),
    case(
        "count_too_few",
        "msgget(IPC_PRIVATE)\n",
        1,
        "msgget() takes 2 arguments, got 1",
    ),
    case("count_one", "exit()\n", 1, "exit() takes 1 argument, got 0"),
    case(
        "count_optional",
        "msgctl(0)\n",
        1,
        "msgctl() takes 2 to 3 arguments, got 1",
    ),
    case(
        "kind_string_for_int",
        "msgget(\"a\", 0)\n",
        1,
        "msgget() expects an integer here",
    ),
    case(
        "kind_int_for_string",
        "sysctl(42)\n",
        1,
        "sysctl() expects a string here",
    ),
    case(
        "kind_int_for_task",
        "waitpid(1)\n",
        1,
        "waitpid() expects a task name here",
    ),
    case(
        "kind_int_for_struct",
        "msgctl(0, IPC_SET, 5)\n",
        1,
        "msgctl() expects a struct `{field=value, ...}` here",
    ),
    case(
        "option_unknown",
        "c = fork(set_tid=[1])\n",
        1,
        "fork() has no option `set_tid`",
    ),
    case(
        "positional_after_named",
        "c = clone(set_tid=[1], CLONE_NEWPID)\n",
        1,
        "a positional argument follows a named one",
    ),
    case(
        "sysctl_unknown",
        "sysctl(\"kernel.nope\")\n",
        1,
        "unknown sysctl \"kernel.nope\"",
    ),
    case(
        "sysctl_unknown_escaped",
        "sysctl(\"kernel.a\\nb\\r\")\n",
        1,
        "unknown sysctl \"kernel.a\\nb\\x0d\"",
    ),
    case(
        "ipc_set_field_unknown",
        "q = msgget(IPC_PRIVATE, 0600)\nmsgctl(q, IPC_SET, {msg_qbytes=100, bogus=1})\n",
        2,
        "unknown field `bogus` (expected one of: msg_qbytes, uid, gid, mode)",
    ),
    case(
        "ipc_set_field_twice",
        "q = msgget(IPC_PRIVATE, 0600)\nmsgctl(q, IPC_SET, {mode=0600, mode=0644})\n",
        2,
        "field `mode` is given twice",
    ),
    case("rebind_t0", "t0 = fork()\n", 1, "cannot rebind `t0`"),
    case(
        "rebind_constant",
        "IPC_CREAT = msgget(IPC_PRIVATE, 0600)\n",
        1,
        "cannot rebind `IPC_CREAT`",
    ),
    case(
        "rebind_task",
        "c = fork()\nc = fork()\n",
        2,
        "`c` is already bound",
    ),
    // Runtime errors, found by the runner after the trace so far.
    runtime(
        "task_blocked",
        "c = fork()\nq = msgget(IPC_PRIVATE, 0600)\nc: msgrcv(q, 10, 0, 0)\nc: getpid()\n",
        4,
        "task `c` is still blocked in msgrcv() from line 3",
        "t0: fork() = 2\n\
         t0: msgget(IPC_PRIVATE, 0600) = 0\n\
         c: msgrcv(0, 10, 0, 0) <unfinished ...>\n",
    ),
    runtime(
        "task_exited",
        "c = fork()\nc: exit(0)\nc: getpid()\n",
        3,
        "task `c` has exited",
        "t0: fork() = 2\nc: exit(0) = ?\n",
    ),
    runtime(
        "text_too_long",
        "q = msgget(IPC_PRIVATE, 0600)\nmsgsnd(q, 1, -1, 0)\n",
        2,
        "byte count -1 is out of range (0 to 16777216)",
        "t0: msgget(IPC_PRIVATE, 0600) = 0\n",
    ),
    // The file itself.
    Case {
        name: "not_utf8",
        script: b"getpid()\n# \xff\xfe\ngetpid()\n",
        line: 2,
        msg: "the script is not valid UTF-8",
        stdout: "",
    },
];

/// A fresh directory for this test's scripts.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad_input");
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

/// Runs `nscheck ARGS` in `dir`.
fn nscheck(dir: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nscheck"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run nscheck")
}

/// Checks that `out` is a script error: exit 2, `expected` on standard
/// error, and `stdout` on standard output.
fn check_script_error(
    what: &str,
    out: &Output,
    expected: &str,
    stdout: &str,
) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit status {} instead of 2", out.status));
    }
    if stderr != expected {
        problems.push(format!("stderr is {stderr:?} instead of {expected:?}"));
    }
    if out.stdout != stdout.as_bytes() {
        problems.push(format!(
            "stdout is {:?} instead of {stdout:?}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {}", problems.join("; ")))
    }
}

#[test]
fn malformed_scripts_exit_2_with_file_and_line() {
    let dir = scratch();
    let mut failures = Vec::new();
    for c in CASES {
        let file = format!("{}.ns", c.name);
        std::fs::write(dir.join(&file), c.script).expect("write the script");
        let out = nscheck(&dir, &["run", &file]);
        let expected = format!("{file}:{}: {}\n", c.line, c.msg);
        if let Err(e) = check_script_error(c.name, &out, &expected, c.stdout) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "two cases share a file name");
}

#[test]
fn missing_file_exits_2() {
    let dir = scratch();
    let out = nscheck(&dir, &["run", "no_such_file.ns"]);
    // A file that cannot be read has no line, so the error is on line 0.
    let expected = "no_such_file.ns: cannot read: No such file or directory (os error 2)\n";
    if let Err(e) = check_script_error("missing file", &out, expected, "") {
        panic!("{e}");
    }
}

#[test]
fn bad_backend_flag_exits_2() {
    let dir = scratch();
    std::fs::write(dir.join("good.ns"), "getpid()\n").expect("write the script");
    let out = nscheck(&dir, &["run", "--backend", "nope", "good.ns"]);
    assert_eq!(out.status.code(), Some(2), "clap must exit 2: {out:?}");
    assert!(out.stdout.is_empty(), "stdout is not empty: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: invalid value 'nope' for '--backend <BACKEND>'"),
        "unexpected stderr: {stderr}"
    );
}

#[test]
fn good_script_still_runs() {
    // A control case: the same directory and binary accept a valid script.
    let dir = scratch();
    std::fs::write(dir.join("control.ns"), "getpid()\n").expect("write the script");
    let out = nscheck(&dir, &["run", "control.ns"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "t0: getpid() = 1\n");
    assert!(out.stderr.is_empty(), "{out:?}");
}
