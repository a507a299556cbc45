//! Printing: a lowered call ([`Low`]) as the script statement that makes
//! it, so that every checked input is printable and replayable as an
//! `.nsc` file.

use nscheck_model::Syscall;
use nscheck_model::abi::{
    CLONE_NEWIPC, CLONE_NEWPID, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET,
    IPC_STAT, MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY,
};

use super::input::Op;
use super::lower::{Bind, Low, Lowering, Who, lower_alone};
use super::tables::CAPS;
use crate::backend::BackendKind;
use crate::script::{Arg, Atom, Script, Stmt, Value, call_spec};

/// The file name of lowered scripts in error messages.
pub const FILE: &str = "ops.nsc";

/// An integer literal as a script writes it.
fn int(v: i64) -> (bool, Atom) {
    match v {
        i64::MIN => (false, Atom::Ident("LONG_MIN".into())),
        i64::MAX => (false, Atom::Ident("LONG_MAX".into())),
        v if v < 0 => (
            true,
            Atom::Int {
                value: -v,
                src: (-v).to_string(),
            },
        ),
        v if v > u32::MAX as i64 => (
            false,
            Atom::Int {
                value: v,
                src: format!("{v:#x}"),
            },
        ),
        v => (
            false,
            Atom::Int {
                value: v,
                src: v.to_string(),
            },
        ),
    }
}

fn num(v: i64) -> Value {
    Value::Or(vec![int(v)])
}

fn octal(v: i64) -> (bool, Atom) {
    let src = if v == 0 {
        "0".to_string()
    } else {
        format!("0{v:o}")
    };
    (false, Atom::Int { value: v, src })
}

fn ident(name: &str) -> (bool, Atom) {
    (false, Atom::Ident(name.to_string()))
}

fn pos(value: Value) -> Arg {
    Arg { name: None, value }
}

/// `clone`'s or `unshare`'s flags as their constants.
fn clone_flags(flags: i64) -> Value {
    let atoms: Vec<_> = [
        (CLONE_NEWPID, "CLONE_NEWPID"),
        (CLONE_NEWIPC, "CLONE_NEWIPC"),
    ]
    .iter()
    .filter(|(f, _)| flags & f != 0)
    .map(|(_, n)| ident(n))
    .collect();
    if atoms.is_empty() {
        num(0)
    } else {
        Value::Or(atoms)
    }
}

/// The name of `who` in the script.
pub(super) fn who_name(who: Who) -> String {
    if who == 0 {
        "t0".to_string()
    } else {
        format!("c{who}")
    }
}

impl Lowering {
    /// The script statement of `low`.
    pub(super) fn to_stmt(&self, low: &Low) -> Stmt {
        let word = |w: &str| Value::Or(vec![ident(w)]);
        let q = |v: i64| match low.operand {
            Some(i) => word(&format!("q{}", self.queues[i].number)),
            None => num(v),
        };
        // A pid operand that names a task prints its name, which the run
        // time evaluates to the pid the caller sees.
        let task_or = |j: usize, v: i64| match low.pids[j] {
            Some(who) => word(&who_name(who)),
            None => num(v),
        };
        let (call, args) = match &low.call {
            &Syscall::Msgget { key, msgflg } => {
                let key = match key {
                    0 => word("IPC_PRIVATE"),
                    k => Value::Or(vec![(
                        false,
                        Atom::Int {
                            value: k,
                            src: format!("{k:#x}"),
                        },
                    )]),
                };
                let mut atoms = Vec::new();
                if msgflg & IPC_CREAT != 0 {
                    atoms.push(ident("IPC_CREAT"));
                }
                if msgflg & IPC_EXCL != 0 {
                    atoms.push(ident("IPC_EXCL"));
                }
                atoms.push(octal(msgflg & 0o777));
                ("msgget", vec![pos(key), pos(Value::Or(atoms))])
            }
            Syscall::Msgsnd {
                msqid,
                mtype,
                text,
                msgflg,
            } => {
                let flags = if msgflg & IPC_NOWAIT != 0 {
                    word("IPC_NOWAIT")
                } else {
                    num(0)
                };
                let args = vec![
                    pos(q(*msqid)),
                    pos(num(*mtype)),
                    pos(num(text.len() as i64)),
                    pos(flags),
                ];
                ("msgsnd", args)
            }
            &Syscall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
                msgflg,
            } => {
                let atoms: Vec<_> = [
                    (IPC_NOWAIT, "IPC_NOWAIT"),
                    (MSG_NOERROR, "MSG_NOERROR"),
                    (MSG_EXCEPT, "MSG_EXCEPT"),
                    (MSG_COPY, "MSG_COPY"),
                ]
                .iter()
                .filter(|(f, _)| msgflg & f != 0)
                .map(|(_, n)| ident(n))
                .collect();
                let flags = if atoms.is_empty() {
                    num(0)
                } else {
                    Value::Or(atoms)
                };
                let args = vec![pos(q(msqid)), pos(num(msgsz)), pos(num(msgtyp)), pos(flags)];
                ("msgrcv", args)
            }
            &Syscall::Msgctl { msqid, cmd, set } => {
                let name = match cmd {
                    IPC_STAT => "IPC_STAT",
                    MSG_STAT => "MSG_STAT",
                    MSG_STAT_ANY => "MSG_STAT_ANY",
                    IPC_INFO => "IPC_INFO",
                    MSG_INFO => "MSG_INFO",
                    IPC_SET => "IPC_SET",
                    IPC_RMID => "IPC_RMID",
                    _ => "",
                };
                let cmd = if name.is_empty() {
                    num(cmd)
                } else {
                    word(name)
                };
                let mut args = vec![pos(q(msqid)), pos(cmd)];
                if let Some(set) = set {
                    let mut fields = Vec::new();
                    if let Some(v) = set.msg_qbytes {
                        fields.push(("msg_qbytes".to_string(), num(v)));
                    }
                    if let Some(v) = set.uid {
                        fields.push(("uid".to_string(), num(v)));
                    }
                    if let Some(v) = set.gid {
                        fields.push(("gid".to_string(), num(v)));
                    }
                    if let Some(v) = set.mode {
                        fields.push(("mode".to_string(), Value::Or(vec![octal(v)])));
                    }
                    args.push(pos(Value::Struct(fields)));
                }
                ("msgctl", args)
            }
            &Syscall::Sysctl { name, value } => {
                let path = format!("kernel.{}", name.name());
                let mut args = vec![pos(Value::Str(path.into_bytes()))];
                if let Some(v) = value {
                    args.push(pos(num(v)));
                }
                ("sysctl", args)
            }
            Syscall::Fork => ("fork", Vec::new()),
            Syscall::Clone { flags, set_tid } => {
                let mut args = vec![pos(clone_flags(*flags))];
                if !set_tid.is_empty() {
                    args.push(Arg {
                        name: Some("set_tid".to_string()),
                        value: Value::List(set_tid.iter().map(|&v| num(v)).collect()),
                    });
                }
                ("clone", args)
            }
            &Syscall::Unshare { flags } => ("unshare", vec![pos(clone_flags(flags))]),
            Syscall::Getpid => ("getpid", Vec::new()),
            Syscall::Getppid => ("getppid", Vec::new()),
            Syscall::Setsid => ("setsid", Vec::new()),
            &Syscall::Getsid { pid } => ("getsid", vec![pos(task_or(0, pid))]),
            &Syscall::Getpgid { pid } => ("getpgid", vec![pos(task_or(0, pid))]),
            &Syscall::Setpgid { pid, pgid } => {
                ("setpgid", vec![pos(task_or(0, pid)), pos(task_or(1, pgid))])
            }
            &Syscall::Waitpid { pid } => ("waitpid", vec![pos(task_or(0, pid))]),
            &Syscall::Setuid { uid } => ("setuid", vec![pos(num(uid))]),
            &Syscall::Setgid { gid } => ("setgid", vec![pos(num(gid))]),
            &Syscall::Capdrop { cap } => {
                // A capability the kernel does not know has no name.
                let arg = CAPS
                    .iter()
                    .find(|(_, c)| i64::from(*c) == cap)
                    .map_or_else(|| num(cap), |(name, _)| word(name));
                ("capdrop", vec![pos(arg)])
            }
            &Syscall::Exit { code } => ("exit", vec![pos(num(code))]),
        };
        let bind = match low.bind {
            Bind::None => None,
            Bind::Queue(n) => Some(format!("q{n}")),
            Bind::Child(c) => Some(who_name(c)),
        };
        Stmt {
            line: 0,
            task: who_name(low.who),
            bind,
            spec: call_spec(call).expect("a known call"),
            args,
        }
    }

    /// The script of `lows`, numbered from line 1.
    pub(super) fn script(&self, lows: &[Low]) -> Script {
        let stmts = lows
            .iter()
            .enumerate()
            .map(|(i, low)| Stmt {
                line: i + 1,
                ..self.to_stmt(low)
            })
            .collect();
        Script {
            file: FILE.to_string(),
            stmts,
        }
    }
}

/// The script that `ops` lower to, lowered against the model alone (as
/// [`check_ops`](super::check_ops) lowers it while both backends agree).
pub fn to_script(ops: &[Op], against: BackendKind) -> Script {
    let (lower, lows, _) = lower_alone(ops, against);
    lower.script(&lows)
}
