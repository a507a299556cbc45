//! Tests of the whole engine: lowering, printing and checking together.

use nscheck_model::Dialect;

use super::lower::lower_alone;
use super::print::who_name;
use super::*;
use crate::backend::BackendKind;
use crate::backend::model::ModelBackend;
use crate::run::Session;
use crate::script::Script;

/// A few op sequences that reach every lowering path.
fn samples() -> Vec<Vec<Op>> {
    let get = |task, key| Op::Get {
        task,
        key,
        flags: 1,
        mode: 1,
    };
    vec![
        vec![
            get(0, 0),
            get(0, 2),
            Op::Snd {
                task: 0,
                queue: 0,
                mtype: 0,
                size: 5,
                nowait: false,
            },
            Op::Fork {
                task: 0,
                new_ipc: false,
            },
            Op::Rcv {
                task: 1,
                queue: 1,
                size: 3,
                typ: 0,
                flags: 0,
            },
            Op::Snd {
                task: 0,
                queue: 1,
                mtype: 1,
                size: 4,
                nowait: true,
            },
            Op::Ctl {
                task: 0,
                queue: 0,
                cmd: CtlOp::Set {
                    qbytes: Some(3),
                    uid: Some(1),
                    gid: None,
                    mode: Some(0),
                },
            },
            Op::Ctl {
                task: 0,
                queue: 0,
                cmd: CtlOp::Stat(3),
            },
            Op::Rcv {
                task: 0,
                queue: 0,
                size: 250,
                typ: 9,
                flags: 27,
            },
            Op::Sysctl {
                task: 0,
                name: 3,
                value: Some(3),
            },
            Op::Fork {
                task: 0,
                new_ipc: true,
            },
            Op::Child {
                task: 1,
                op: ChildOp::Setuid(0),
            },
            Op::Child {
                task: 1,
                op: ChildOp::Capdrop(1),
            },
            Op::Child {
                task: 1,
                op: ChildOp::Unshare,
            },
            Op::Ctl {
                task: 0,
                queue: 0,
                cmd: CtlOp::Rmid,
            },
            Op::Ctl {
                task: 0,
                queue: 230,
                cmd: CtlOp::Stat(0),
            },
            Op::Ctl {
                task: 0,
                queue: 0,
                cmd: CtlOp::Info(true),
            },
            Op::Child {
                task: 1,
                op: ChildOp::Exit,
            },
        ],
        vec![
            Op::Child {
                task: 0,
                op: ChildOp::Exit,
            },
            Op::Child {
                task: 3,
                op: ChildOp::Setgid(2),
            },
        ],
    ]
}

#[test]
fn samples_agree_and_lowered_scripts_round_trip() {
    for ops in samples() {
        let stats = check_ops(&ops, BackendKind::Concurrent).unwrap_or_else(|f| panic!("{f}"));
        assert!(stats.stats.statements > 0 || ops.len() == 2);
    }
}

/// Deterministic pseudo-random inputs (an LCG is enough here).
pub(super) fn random_inputs(n: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            let len = 1 + i % 200;
            let mut v = vec![if i % 2 == 0 { VERSION } else { VERSION_MIXED }];
            v.extend((0..len).map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            }));
            v
        })
        .collect()
}

/// Decoded random inputs, then every recipe's ops (their special ops and
/// out-of-range values included).
fn inputs_to_lower() -> Vec<Vec<Op>> {
    random_inputs(300)
        .iter()
        .map(|bytes| decode(bytes).expect("the version byte is right"))
        .chain(RECIPES.iter().map(|r| (r.ops)()))
        .collect()
}

#[test]
fn lowered_scripts_round_trip_through_the_parser() {
    for ops in inputs_to_lower() {
        for against in [BackendKind::Concurrent, BackendKind::Linux] {
            let script = to_script(&ops, against);
            let src = script.to_source();
            let again = Script::parse(FILE, &src).unwrap_or_else(|e| panic!("{e}\n{src}"));
            assert_eq!(again.to_source(), src);
            assert_eq!(again.stmts, script.stmts, "{src}");
        }
    }
}

/// The fast path gives both backends the lowered call: it must be the
/// call its printed statement makes, and the bookkeeping must follow
/// the tasks as a session does.
#[test]
fn lowered_calls_are_what_their_statements_make() {
    for ops in inputs_to_lower() {
        for against in [BackendKind::Concurrent, BackendKind::Linux] {
            let (lower, lows, book) = lower_alone(&ops, against);
            let mut model = ModelBackend::new(Dialect::Mainline);
            let mut s = Session::new(FILE, &mut model);
            for low in &lows {
                let stmt = lower.to_stmt(low);
                let evaluated = s.evaluate(&stmt).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(evaluated, (low.task, low.call.clone()), "{stmt}");
                s.exec(&stmt).unwrap_or_else(|e| panic!("{e}"));
            }
            for c in 1..=lower.forks {
                assert_eq!(s.is_ready(&who_name(c)), book.is_ready(c), "c{c}");
            }
            assert_eq!(s.records(), &book.records[..]);
        }
    }
}

#[test]
fn random_inputs_agree_with_the_concurrent_implementation() {
    let mut total = OpStats::default();
    for case in 0..300 {
        let ops = generate_ops(1, case, 1 + case as usize % 60);
        let stats = check_ops(&ops, BackendKind::Concurrent).unwrap_or_else(|f| panic!("{f}"));
        total.merge(&stats);
    }
    assert!(total.stats.statements > 1000, "{total:?}");
    assert!(total.success_share() > 0.2, "{}", total.success_share());
}

/// The acceptance of issue 11: 2000 mixed inputs (msg and pid ops, the
/// stream of `nscheck check`) agree between the model and the concurrent
/// implementation, and they reach every pid call, both succeeding and
/// failing.
#[test]
fn mixed_inputs_agree_with_the_concurrent_implementation() {
    let mut total = OpStats::default();
    for case in 0..2000 {
        let stats = check_ops(&check_input(7, case), BackendKind::Concurrent)
            .unwrap_or_else(|f| panic!("case {case}: {f}"));
        total.merge(&stats);
    }
    for call in [
        "getpid", "getppid", "getsid", "getpgid", "setsid", "setpgid", "waitpid", "clone",
        "unshare", "sysctl", "exit",
    ] {
        let (n, ok) = total.stats.calls.get(call).copied().unwrap_or_default();
        assert!(n > 20, "{call}: {n} calls");
        // `exit` has no result, and `getpid`/`getppid` never fail.
        if !["exit", "getpid", "getppid"].contains(&call) {
            assert!(0 < ok && ok < n, "{call}: {ok} of {n} succeeded");
        }
    }
}

/// The bytes from `tables::OUT_OF_RANGE` on pick values that the kernel
/// refuses: each such op, lowered and checked, takes the rule of its error.
#[test]
fn out_of_range_bytes_reach_their_errors() {
    use nscheck_model::Rule;
    let fork = Op::Fork {
        task: 0,
        new_ipc: false,
    };
    let child = |op| Op::Child { task: 1, op };
    let clone = |set_tid| Op::Pid {
        task: 0,
        op: PidOp::Clone {
            flags: 0,
            set_tid: Some(set_tid),
        },
    };
    let cases = [
        (
            vec![
                Op::Get {
                    task: 0,
                    key: 0,
                    flags: 1,
                    mode: 1,
                },
                Op::Ctl {
                    task: 0,
                    queue: 0,
                    cmd: CtlOp::Stat(253),
                },
            ],
            Rule::MsgR28Cmd,
        ),
        (
            vec![fork.clone(), child(ChildOp::Setuid(252))],
            Rule::TaskSetidEinval,
        ),
        (
            vec![fork.clone(), child(ChildOp::Setgid(255))],
            Rule::TaskSetidEinval,
        ),
        (
            vec![fork, child(ChildOp::Capdrop(253))],
            Rule::TaskCapdropEinval,
        ),
        (vec![clone(252)], Rule::PidR17),
        (vec![clone(253)], Rule::PidR17),
    ];
    for (ops, rule) in cases {
        let (result, hits) = crate::coverage::measure(|| check_ops(&ops, BackendKind::Concurrent));
        result.unwrap_or_else(|f| panic!("{f}"));
        assert!(hits.get(rule) > 0, "{ops:?} does not take {rule:?}");
    }
}
