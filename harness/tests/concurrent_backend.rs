//! The concurrent implementation against the model: every corpus script and
//! 2000 generated ones must give byte-identical traces on both.

use nscheck::backend::concurrent::ConcurrentBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::backend::{BackendKind, make};
use nscheck::generate::generate;
use nscheck::run::{RunError, run_partial};
use nscheck::script::{Script, load_script};
use nscheck_model::Dialect;
use rand_core::Rng;

use crate::common::scripts;

/// Runs `script` on both backends; `Err` describes a divergence.
fn compare(script: &Script) -> Result<(), String> {
    compare_in(script, Dialect::Mainline)
}

/// Runs `script` on both backends in `dialect`; `Err` describes a
/// divergence.
fn compare_in(script: &Script, dialect: Dialect) -> Result<(), String> {
    let (expected, model_err) = run_partial(script, &mut ModelBackend::new(dialect));
    let mut conc = make(BackendKind::Concurrent, dialect, None).expect("every dialect");
    let (actual, conc_err) = run_partial(script, conc.as_mut());
    let n = expected.lines.len().max(actual.lines.len());
    if let Some(i) = (0..n).find(|&i| expected.lines.get(i) != actual.lines.get(i)) {
        return Err(format!(
            "trace line {}:\n  model:      {:?}\n  concurrent: {:?}",
            i + 1,
            expected.lines.get(i),
            actual.lines.get(i)
        ));
    }
    let show = |e: &Option<RunError>| e.as_ref().map(|e| e.to_string());
    if show(&model_err) != show(&conc_err) {
        return Err(format!(
            "errors differ:\n  model:      {:?}\n  concurrent: {:?}",
            show(&model_err),
            show(&conc_err)
        ));
    }
    Ok(())
}

/// Compares the scripts of `dirs` whose file names start with `prefix` in
/// every dialect of `dialects`: how many agree, and the divergences.
fn compare_corpus(dirs: &[&str], prefix: &str, dialects: &[Dialect]) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut same = 0;
    for dir in dirs {
        for path in scripts(dir) {
            if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            {
                continue;
            }
            let script = load_script(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for &dialect in dialects {
                match compare_in(&script, dialect) {
                    Ok(()) => same += 1,
                    Err(d) => failures.push(format!("{} ({dialect}): {d}", path.display())),
                }
            }
        }
    }
    (same, failures)
}

#[test]
fn corpus_scripts_give_the_models_traces() {
    let (same, failures) = compare_corpus(&["conformance", "dialects"], "", &[Dialect::Mainline]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every conformance script (msg and pid) and every dialect script.
    assert!(same >= 121, "only {same} corpus scripts ran");
}

/// The pid dialect scripts under the historical pid designs: the
/// implementation's variants give the model's traces.
#[test]
fn pid_dialect_scripts_give_the_models_traces_in_every_pid_dialect() {
    let dialects = [Dialect::Flat2007, Dialect::Openvz2006];
    let (same, failures) = compare_corpus(&["dialects"], "pid-", &dialects);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(same >= 12, "only {same} dialect runs");
}

/// The msg dialect `rfc2012` (a variant of the implementation's IPC half):
/// the copy-counter scripts, and every conformance and dialect script,
/// whose other calls are mainline's, give the model's traces.
#[test]
fn corpus_scripts_give_the_models_traces_in_rfc2012() {
    let rfc2012 = [Dialect::Rfc2012];
    let (same, failures) = compare_corpus(&["dialects"], "copy-counter-", &rfc2012);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(same >= 5, "only {same} copy-counter scripts ran");
    let (same, failures) = compare_corpus(&["conformance", "dialects"], "", &rfc2012);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(same >= 121, "only {same} corpus scripts ran");
}

/// The inputs of seed 1 of the fuzzing half of `nscheck check`
/// (`check_input`) under `rfc2012`: the model and the implementation's IPC
/// variant agree in lockstep, the IPC state compared after every
/// statement, on inputs that copy and wake sleeping copies.
#[test]
fn check_inputs_agree_in_rfc2012() {
    use nscheck::ops::{Failure, check_input, check_ops_in};
    use nscheck_model::Rule;
    use nscheck_model::rules::{reset, snapshot};

    reset();
    let mut make = || make(BackendKind::Concurrent, Dialect::Rfc2012, None);
    for case in 0..4000 {
        let ops = check_input(1, case);
        match check_ops_in(&ops, Dialect::Rfc2012, BackendKind::Concurrent, &mut make) {
            Ok(_) => {}
            Err(Failure::Diverged(found)) => panic!("input {case}: {found}"),
            Err(Failure::Unavailable(why)) => panic!("input {case}: {why}"),
        }
    }
    let hits = snapshot();
    for rule in [Rule::RfcCopy, Rule::RfcCopyEinval, Rule::RfcCopyWake] {
        assert!(hits.get(rule) > 0, "no input takes {rule:?}");
    }
}

/// The first 500 cases of seed 1 under each historical design (the IPC
/// half's `rfc2012`, the PID half's `flat2007` and `openvz2006`).
#[test]
fn generated_scripts_give_the_models_traces_in_every_historical_dialect() {
    let mut failures = Vec::new();
    for dialect in [Dialect::Rfc2012, Dialect::Flat2007, Dialect::Openvz2006] {
        for case in 0..500 {
            let src = generate(1, case);
            let script = Script::parse("gen", &src).expect("generated scripts parse");
            if let Err(d) = compare_in(&script, dialect) {
                failures.push(format!("case {case} ({dialect}): {d}\n{src}"));
            }
            assert!(failures.len() < 3, "{}", failures.join("\n"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The first 2000 cases of seed 1 (msg, pid and mixed scenarios).
#[test]
fn generated_scripts_give_the_models_traces() {
    let mut failures = Vec::new();
    for case in 0..2000 {
        let src = generate(1, case);
        let script = Script::parse("gen", &src).expect("generated scripts parse");
        if let Err(d) = compare(&script) {
            failures.push(format!("case {case}: {d}\n{src}"));
        }
        assert!(failures.len() < 5, "{}", failures.join("\n"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A script that makes tasks sleep a lot: children block in `msgsnd` and
/// `msgrcv` on small queues, while the others send, receive, change the
/// queue with `IPC_SET` (waking several sleepers at once), remove it, and
/// sometimes exit. Every wake-up order here is the model's blocking order,
/// so the concurrent implementation must reproduce it exactly. Under
/// `rfc2012` the copies select by type and may sleep too (mainline's
/// scripts are the same whatever that dialect draws).
fn blocking_script(case: u64, dialect: Dialect) -> String {
    let mut rng = nscheck::generate::case_rng(0xb10c, case);
    let mut below = |n: u64| rng.next_u64() % n;
    let mut lines = vec![
        "q0 = msgget(IPC_PRIVATE, IPC_CREAT|0666)".to_string(),
        "q1 = msgget(0x42, IPC_CREAT|0600)".to_string(),
        format!("msgctl(q0, IPC_SET, {{msg_qbytes={}}})", 8 + below(24)),
        format!("msgctl(q1, IPC_SET, {{msg_qbytes={}}})", 8 + below(24)),
    ];
    let children = 2 + below(4) as usize;
    for c in 1..=children {
        lines.push(format!("c{c} = fork()"));
        if below(4) == 0 {
            lines.push(format!("c{c}: setuid(65534)"));
        }
    }
    let mut exited = vec![false; children + 1];
    for _ in 0..(20 + below(40)) {
        let src: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let script = Script::parse("blocking", &src).expect("the script parses");
        let trace = nscheck::run::run(&script, &mut ModelBackend::new(dialect))
            .expect("the script runs on the model");
        let free: Vec<usize> = (0..=children)
            .filter(|&t| !exited[t] && !trace.blocked.iter().any(|(n, _)| *n == name(t)))
            .collect();
        let Some(&t) = free.get(below(free.len().max(1) as u64) as usize) else {
            break;
        };
        let q = if below(3) == 0 { "q1" } else { "q0" };
        let prefix = if t == 0 {
            String::new()
        } else {
            format!("{}: ", name(t))
        };
        let wait = if t != 0 && below(3) != 0 {
            "0"
        } else {
            "IPC_NOWAIT"
        };
        // The parent sends more often, so that sleeping receivers wake up.
        let kind = if t == 0 && below(3) == 0 {
            0
        } else {
            below(16)
        };
        let call = match kind {
            0..=4 => format!(
                "msgsnd({q}, {}, {}, {wait})",
                1 + below(3),
                ["0", "1", "3", "5", "8", "\"hello\""][below(6) as usize]
            ),
            5..=9 => {
                let flags = ["", "|MSG_NOERROR", "|MSG_EXCEPT"][below(3) as usize];
                format!(
                    "msgrcv({q}, {}, {}, {wait}{flags})",
                    [0, 2, 4, 100][below(4) as usize],
                    ["0", "1", "2", "3", "-2", "LONG_MIN"][below(6) as usize]
                )
            }
            10 if dialect == Dialect::Rfc2012 => {
                let flags = ["", "|MSG_NOERROR", "|MSG_EXCEPT"][below(3) as usize];
                format!(
                    "msgrcv({q}, {}, {}, {wait}|MSG_COPY{flags})",
                    [0, 2, 4, 100][below(4) as usize],
                    ["0", "1", "2", "-2"][below(4) as usize]
                )
            }
            10 => format!("msgrcv({q}, 100, {}, IPC_NOWAIT|MSG_COPY)", below(3)),
            11 => format!(
                "msgctl({q}, IPC_SET, {{{}}})",
                [
                    "msg_qbytes=0",
                    "msg_qbytes=4",
                    "msg_qbytes=40",
                    "mode=0600",
                    "mode=0666",
                    "mode=0222"
                ][below(6) as usize]
            ),
            12 => format!("msgctl({q}, IPC_STAT)"),
            13 => "msgctl(0, MSG_INFO)".to_string(),
            14 if below(4) == 0 => format!("msgctl({q}, IPC_RMID)"),
            15 if t != 0 && below(3) == 0 => {
                exited[t] = true;
                "exit(0)".to_string()
            }
            15 if t == 0 && below(8) == 0 => {
                exited.iter_mut().for_each(|e| *e = true);
                "exit(0)".to_string()
            }
            _ => "getpid()".to_string(),
        };
        lines.push(format!("{prefix}{call}"));
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn name(t: usize) -> String {
    if t == 0 { "t0".into() } else { format!("c{t}") }
}

/// Runs 400 blocking scripts in `dialect` on both backends: how many
/// tasks were resumed or killed. Fails on a divergence.
fn blocking_scripts_agree(dialect: Dialect) -> usize {
    let mut failures = Vec::new();
    let mut resumed = 0;
    for case in 0..400 {
        let src = blocking_script(case, dialect);
        let script = Script::parse("blocking", &src).expect("the script parses");
        if let Err(d) = compare_in(&script, dialect) {
            failures.push(format!("case {case} ({dialect}): {d}\n{src}"));
        }
        let trace = nscheck::run::run(&script, &mut ModelBackend::new(dialect)).unwrap();
        resumed += trace
            .lines
            .iter()
            .filter(|l| l.contains("resumed>") || l.contains("killed"))
            .count();
        assert!(failures.len() < 5, "{}", failures.join("\n"));
    }
    eprintln!("blocking scripts ({dialect}): {resumed} resumed or killed tasks");
    assert!(
        resumed > 400,
        "the scripts hardly block ({resumed} wake-ups)"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    resumed
}

#[test]
fn blocking_heavy_scripts_give_the_models_traces() {
    blocking_scripts_agree(Dialect::Mainline);
}

/// The blocking scripts under `rfc2012`, whose copies sleep: the model's
/// rules of a sleeping copy (woken by a send, copied or refused, woken by
/// `IPC_SET`) are taken, and the implementation agrees on every script.
#[test]
fn blocking_heavy_scripts_give_the_models_traces_in_rfc2012() {
    use nscheck_model::Rule;
    use nscheck_model::rules::{reset, snapshot};

    reset();
    blocking_scripts_agree(Dialect::Rfc2012);
    let hits = snapshot();
    for rule in [Rule::RfcCopyWake, Rule::RfcCopy, Rule::RfcCopyEinval] {
        assert!(hits.get(rule) > 0, "no blocking script takes {rule:?}");
    }
}

/// Prints one blocking script's model trace: `CASE=N cargo test -p nscheck
/// --test concurrent_backend show -- --ignored --nocapture`.
#[test]
#[ignore]
fn show_blocking_script() {
    let src = blocking_script(
        std::env::var("CASE").map_or(3, |c| c.parse().unwrap()),
        Dialect::Mainline,
    );
    let script = Script::parse("blocking", &src).unwrap();
    let trace = nscheck::run::run(&script, &mut ModelBackend::new(Dialect::Mainline)).unwrap();
    eprintln!("{}", trace.text());
}

/// Calls no script can make (by a task that does not exist, has exited, or
/// sleeps) are refused by the concurrent backend with the model's error,
/// whether the call is an IPC call or a task call.
#[test]
fn refused_calls_get_the_models_errors() {
    use nscheck::backend::Backend;
    use nscheck_model::{Syscall, TaskId};

    let get = Syscall::Msgget {
        key: 0,
        msgflg: 0o1600,
    };
    let rcv = |q| Syscall::Msgrcv {
        msqid: q,
        msgsz: 8,
        msgtyp: 0,
        msgflg: 0,
    };
    // Task 1 sleeps in msgrcv, task 2 in waitpid for task 3, task 4 exited.
    let setup: Vec<(usize, Syscall)> = vec![
        (0, get.clone()),
        (0, Syscall::Fork),
        (0, Syscall::Fork),
        (2, Syscall::Fork),
        (0, Syscall::Fork),
        (1, rcv(0)),
        (2, Syscall::Waitpid { pid: 4 }),
        (4, Syscall::Exit { code: 0 }),
    ];
    let calls = [get.clone(), rcv(0), Syscall::Getpid, Syscall::Fork];
    let refused = [1, 2, 4, 9];
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut conc = ConcurrentBackend::new();
    for (t, call) in &setup {
        let m = model.call(TaskId(*t), call).map_err(|e| e.to_string());
        let c = conc.call(TaskId(*t), call).map_err(|e| e.to_string());
        assert_eq!(m, c, "setup: task {t} {call:?}");
        assert_eq!(model.take_events().ok(), conc.take_events().ok());
    }
    for t in refused {
        for call in &calls {
            let m = model.call(TaskId(t), call).map_err(|e| e.to_string());
            let c = conc.call(TaskId(t), call).map_err(|e| e.to_string());
            assert!(m.is_err(), "task {t} {call:?} should be refused: {m:?}");
            assert_eq!(m, c, "task {t} {call:?}");
        }
    }
}
