//! Recipes: op blocks that reach, on purpose, states that random ops reach
//! rarely or never within an input's length. The steering puts one in front
//! of a kept input now and then (`steer`), so that a campaign reaches every
//! rule a lowered input can reach, and mutates what follows it.
//!
//! Each block is meant to run from the start of an input: its ops name
//! tasks and queues by their position among those made so far, which in a
//! fresh input are the block's own.

use nscheck_model::{Dialect, Rule};

use super::input::{CtlOp, Op, PidOp};
use super::tables::{KEYS, LAST_PIDS, MODES, OUT_OF_RANGE, PID_MAXES, QBYTES, VPID_VALUES};

/// A recipe: what it reaches and its ops.
#[derive(Debug)]
pub struct Recipe {
    /// The rule it is for.
    pub rule: Rule,
    /// The dialect it reaches that rule in (it runs in every dialect).
    pub dialect: Dialect,
    /// Its ops, from the start of an input.
    pub ops: fn() -> Vec<Op>,
}

/// Every recipe.
pub const RECIPES: &[Recipe] = &[
    Recipe {
        rule: Rule::MsgR38Wrap,
        dialect: Dialect::Mainline,
        ops: index_wrap,
    },
    Recipe {
        rule: Rule::PidR29,
        dialect: Dialect::Mainline,
        ops: deepest_namespace,
    },
    Recipe {
        rule: Rule::MsgR7WokenSleeps,
        dialect: Dialect::Mainline,
        ops: woken_sender_sleeps_again,
    },
    Recipe {
        rule: Rule::PidR4,
        dialect: Dialect::Mainline,
        ops: no_number_from_the_floor,
    },
    Recipe {
        rule: Rule::PidR23,
        dialect: Dialect::Mainline,
        ops: rollback_then_reuse,
    },
    Recipe {
        rule: Rule::PidR12,
        dialect: Dialect::Mainline,
        ops: wrap_onto_held_group,
    },
    Recipe {
        rule: Rule::VpidExhausted,
        dialect: Dialect::Openvz2006,
        ops: vpids_exhausted,
    },
    Recipe {
        rule: Rule::FlatGlobalFull,
        dialect: Dialect::Flat2007,
        ops: global_pids_full,
    },
];

/// The position of `value` in `table`: the byte that picks it.
fn index_of(table: &[i64], value: i64) -> u8 {
    let i = table
        .iter()
        .position(|&v| v == value)
        .expect("the value is in its table");
    u8::try_from(i).expect("tables are short")
}

/// `msgget(IPC_PRIVATE, IPC_CREAT|0600)` by `t0`.
fn private_queue() -> Op {
    Op::Get {
        task: 0,
        key: index_of(KEYS, 0),
        flags: 1,
        mode: index_of(MODES, 0o600),
    }
}

/// Enough queues made and removed one after the other that the cyclic
/// index allocator passes its end (64 while few queues exist) and wraps,
/// which raises the sequence number (msg R38).
fn index_wrap() -> Vec<Op> {
    let rmid = Op::Ctl {
        task: 0,
        queue: 0,
        cmd: CtlOp::Rmid,
    };
    (0..66)
        .flat_map(|_| [private_queue(), rmid.clone()])
        .collect()
}

/// A chain of namespaces, each made by the previous one's init, until
/// `clone(CLONE_NEWPID)` fails past level 32 (pid R29).
fn deepest_namespace() -> Vec<Op> {
    vec![
        Op::Pid {
            task: 0,
            op: PidOp::Nest,
        };
        super::lower::MAX_NESTS
    ]
}

/// Two children asleep sending 12 bytes each to a full 16-byte queue; a
/// receive empties it, which wakes both (each fits on its own), and the
/// second finds it full again after the first has sent, so it sleeps again
/// (msg R7).
fn woken_sender_sleeps_again() -> Vec<Op> {
    let fork = Op::Fork {
        task: 0,
        new_ipc: false,
    };
    // The first ready child: the ready tasks are `t0` and the children
    // still awake, in that order.
    let send = |task, size, nowait| Op::Snd {
        task,
        queue: 0,
        mtype: 0,
        size,
        nowait,
    };
    vec![
        fork.clone(),
        fork,
        private_queue(),
        Op::Ctl {
            task: 0,
            queue: 0,
            cmd: CtlOp::Set {
                qbytes: Some(index_of(QBYTES, 16)),
                uid: None,
                gid: None,
                mode: None,
            },
        },
        send(0, 16, true),
        send(1, 12, false),
        send(1, 12, false),
        Op::Rcv {
            task: 0,
            queue: 0,
            size: 16,
            typ: 0,
            flags: 1,
        },
    ]
}

/// A pid op by `t0` (the first task that may call).
fn by_t0(op: PidOp) -> Op {
    Op::Pid { task: 0, op }
}

/// A write of `value` to `kernel.pid_max`.
fn pid_max(value: i64) -> Op {
    let byte = if PID_MAXES.contains(&value) {
        index_of(PID_MAXES, value)
    } else {
        OUT_OF_RANGE + index_of(VPID_VALUES, value)
    };
    by_t0(PidOp::Sysctl {
        pid_max: true,
        value: Some(byte),
    })
}

/// A fork by `t0`, or by the ready task of index `task`.
fn fork_by(task: u8) -> Op {
    Op::Pid {
        task,
        op: PidOp::Clone {
            flags: 0,
            set_tid: None,
        },
    }
}

/// A write of `kernel.ns_last_pid` by the ready task of index `task`:
/// the next number its namespace hands out is the first free one after
/// `value`.
fn last_pid(task: u8, value: i64) -> Op {
    Op::Pid {
        task,
        op: PidOp::Sysctl {
            pid_max: false,
            value: Some(index_of(LAST_PIDS, value)),
        },
    }
}

/// The smallest pid space with the cursor at its end (pid R4): with
/// `pid_max` 301, once the cursor passes 300 only 300 itself may be handed
/// out, so the second fork after `ns_last_pid` 299 finds no number.
fn no_number_from_the_floor() -> Vec<Op> {
    vec![pid_max(301), last_pid(0, 299), fork_by(0), fork_by(0)]
}

/// A number given back by a failed allocation (pid R23), then asked for
/// again: `c1` is forked, `t0` unshares a PID namespace whose init `c2`
/// exits at once, so `t0`'s next fork reserves a number at both levels and
/// fails (ENOMEM) and gives both back; then `c1` points `ns_last_pid`
/// before that number and forks, which must get it.
fn rollback_then_reuse() -> Vec<Op> {
    vec![
        fork_by(0),
        by_t0(PidOp::Unshare(false)),
        fork_by(0),
        // The ready children are c1 and c2: index 1 is c2, the init.
        Op::Pid {
            task: 1,
            op: PidOp::Exit,
        },
        fork_by(0),
        // The ready tasks are t0 and c1.
        last_pid(1, 1),
        fork_by(1),
    ]
}

/// A cyclic search that runs onto a number a process group holds (pid
/// R12): `c1` makes its own group and forks `c2` into it, exits and is
/// reaped, so its number stays taken by the group alone; `t0` points
/// `ns_last_pid` before it and forks, which must skip it.
fn wrap_onto_held_group() -> Vec<Op> {
    vec![
        fork_by(0),
        // The ready tasks are t0 and c1.
        Op::Pid {
            task: 1,
            op: PidOp::Setpgid(0, 0),
        },
        fork_by(1),
        // The ready children are c1 and c2: index 0 is c1.
        Op::Pid {
            task: 0,
            op: PidOp::Exit,
        },
        // The pid operand 3 is the first child made, c1.
        by_t0(PidOp::Waitpid(3)),
        last_pid(0, 1),
        fork_by(0),
    ]
}

/// In the openvz2006 dialect (B18): with `pid_max` 1029, a child that asks
/// for vpid 1028 makes the VPS sparse; the next fork's linear vpid is that
/// one, so it searches, and finds no vpid below `pid_max`.
fn vpids_exhausted() -> Vec<Op> {
    let asked = OUT_OF_RANGE + index_of(VPID_VALUES, 1028);
    assert!(asked % 4 >= 2, "the byte picks a vpid, not a long array");
    let fork = by_t0(PidOp::Clone {
        flags: 0,
        set_tid: None,
    });
    vec![
        pid_max(1029),
        by_t0(PidOp::Clone {
            flags: 0,
            set_tid: Some(asked),
        }),
        fork.clone(),
        fork,
    ]
}

/// In the flat2007 dialect: with `pid_max` 301, forks until no global
/// number is free.
fn global_pids_full() -> Vec<Op> {
    let mut ops = vec![pid_max(301)];
    ops.extend(std::iter::repeat_n(by_t0(PidOp::Spawn), 300));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, BackendKind};
    use crate::coverage::measure;
    use crate::ops::check_ops_in;

    /// Each recipe, alone, reaches its rule on the model in its dialect,
    /// and the concurrent implementation agrees with the model on it.
    #[test]
    fn every_recipe_reaches_its_rule() {
        for recipe in RECIPES {
            let name = recipe.rule.info().name;
            let mut make = || backend::make(BackendKind::Concurrent, recipe.dialect, None);
            let (result, hits) = measure(|| {
                check_ops_in(
                    &(recipe.ops)(),
                    recipe.dialect,
                    BackendKind::Concurrent,
                    &mut make,
                )
            });
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                hits.get(recipe.rule) > 0,
                "the recipe for {name} does not reach it"
            );
        }
    }

    /// A recipe alone catches the bug that lives in its state (and the
    /// unmutated implementation passes it, as the test above shows).
    #[test]
    fn recipes_catch_the_bugs_of_their_states() {
        use crate::ops::Failure;
        use nscheck_concurrent::mutants::Mutant;
        let cases = [
            (Rule::PidR23, Mutant::RollbackInnermost, Dialect::Mainline),
            (Rule::PidR12, Mutant::ReuseHeldPgid, Dialect::Mainline),
            (Rule::PidR4, Mutant::EnospcNotEagain, Dialect::Mainline),
            (
                Rule::VpidExhausted,
                Mutant::VpidSearchNoExit,
                Dialect::Openvz2006,
            ),
        ];
        for (rule, mutant, dialect) in cases {
            let recipe = RECIPES.iter().find(|r| r.rule == rule).expect("a recipe");
            let mut make =
                || Ok(Box::new(crate::zoo::mutated(mutant, dialect)) as Box<dyn backend::Backend>);
            let result = check_ops_in(&(recipe.ops)(), dialect, BackendKind::Concurrent, &mut make);
            assert!(
                matches!(result, Err(Failure::Diverged(_))),
                "the recipe for {} misses {mutant:?} in {dialect}",
                rule.info().name
            );
        }
    }
}
