//! The backward slice of a script: the statements one statement depends on
//! by its names, a first guess of a shrunk script that costs one run.

use crate::script::{Atom, Script, Value};

/// The statements up to statement `k` (0-based) that statement `k` needs
/// through names: the one that binds each name it uses (a queue, a value,
/// a task) and every earlier statement of its task and of the tasks it
/// names, and so on backwards. What the names do not show (a task killed
/// by its init's exit, a queue's limits set by a sysctl) is left out, so
/// the slice must be checked by running it.
pub fn slice(script: &Script, k: usize) -> Script {
    let mut needed: Vec<String> = Vec::new();
    let mut keep = vec![false; script.stmts.len()];
    for i in (0..=k.min(script.stmts.len().saturating_sub(1))).rev() {
        let stmt = &script.stmts[i];
        let binds_needed = stmt.bind.as_ref().is_some_and(|b| needed.contains(b));
        if i == k || binds_needed || needed.contains(&stmt.task) {
            keep[i] = true;
            needed.push(stmt.task.clone());
            for a in &stmt.args {
                names(&a.value, &mut needed);
            }
        }
    }
    let mut out = script.clone();
    let mut i = 0;
    out.stmts.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    out
}

/// The names (bound values and tasks; constants too, harmlessly) that `v`
/// uses, added to `out`.
fn names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Or(atoms) => {
            for (_, a) in atoms {
                if let Atom::Ident(name) = a {
                    out.push(name.clone());
                }
            }
        }
        Value::List(items) => items.iter().for_each(|i| names(i, out)),
        Value::Struct(fields) => fields.iter().for_each(|(_, f)| names(f, out)),
        Value::Str(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_keeps_what_the_names_need() {
        let src = "c2 = clone(CLONE_NEWPID)\n\
                   c3 = clone(CLONE_NEWPID)\n\
                   q0 = msgget(IPC_PRIVATE, 0600)\n\
                   c2: setpgid(0, 0)\n\
                   c3: msgsnd(q0, 1, 1, IPC_NOWAIT)\n\
                   c2: c7 = fork()\n\
                   c7: setpgid(0, c3)\n\
                   c2: setsid()\n\
                   getpid()\n";
        let script = Script::parse("t", src).unwrap();
        // (statement, the slice)
        let table = [
            (
                7,
                "c2 = clone(CLONE_NEWPID)\n\
                 c2: setpgid(0, 0)\n\
                 c2: c7 = fork()\n\
                 c2: setsid()\n",
            ),
            (
                6,
                "c2 = clone(CLONE_NEWPID)\n\
                 c3 = clone(CLONE_NEWPID)\n\
                 q0 = msgget(IPC_PRIVATE, 0600)\n\
                 c2: setpgid(0, 0)\n\
                 c3: msgsnd(q0, 1, 1, IPC_NOWAIT)\n\
                 c2: c7 = fork()\n\
                 c7: setpgid(0, c3)\n",
            ),
            // A statement of t0 needs every earlier one of t0.
            (
                4,
                "c2 = clone(CLONE_NEWPID)\n\
                 c3 = clone(CLONE_NEWPID)\n\
                 q0 = msgget(IPC_PRIVATE, 0600)\n\
                 c3: msgsnd(q0, 1, 1, IPC_NOWAIT)\n",
            ),
        ];
        for (k, want) in table {
            assert_eq!(slice(&script, k).to_source(), want, "statement {k}");
        }
    }
}
