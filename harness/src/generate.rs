//! Random scenario scripts for the conformance campaign.
//!
//! Every case is a function of `(seed, case)` alone: its generator is a
//! `ChaCha8Rng` seeded from those two numbers, so any case can be regenerated
//! on its own (`nscheck gen --seed S --case N`). The generator runs the
//! script-so-far on the model after every statement, so that it knows which
//! tasks are asleep and never writes a statement for a blocked task, and it
//! avoids the scheduler-dependent patterns that `docs/SCRIPT.md` lists.
//!
//! A script for another implementation ([`Target::External`], the scripts
//! of `nscheck conform --backend gvisor` or `--wrap`) names every queue it
//! uses by a bound name: that implementation numbers its queues its own
//! way (gVisor 1, 2, 3…), so a literal id would mean another queue there.
//! It is written by the same draws as the script for Linux of the same
//! case: the two are the same up to the first stale queue operand, a
//! literal id in one and a name (or `-1`) in the other.

use nscheck_model::{Dialect, Syscall, TaskId};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::backend::Backend;
use crate::backend::model::ModelBackend;
use crate::run::run;
use crate::script::{Script, escape};

/// The generator of one case.
pub fn case_rng(seed: u64, case: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&case.to_le_bytes());
    key[16..].copy_from_slice(b"nscheck-conform!");
    ChaCha8Rng::from_seed(key)
}

/// Which implementation a script is written for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Linux and the implementations that number queues as Linux does
    /// (the model, the concurrent implementation): a stale queue operand
    /// may be a literal id.
    #[default]
    Linux,
    /// Another implementation, whose queue ids need not be Linux's: a
    /// stale queue operand is the name of a removed or failed queue, or
    /// `-1`, never a literal id.
    External,
}

/// A small helper over the raw generator; all draws go through it.
struct Draw(ChaCha8Rng);

impl Draw {
    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }

    /// `true` with probability `pct` percent.
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An index chosen with the given weights.
    fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        unreachable!("x < total")
    }
}

/// What a case exercises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Message queues, with a few tasks.
    Msg,
    /// Process trees across nested PID namespaces, sessions, groups, and
    /// the pid sysctls.
    Pid,
    /// Both, so that `msg_lspid` and `msg_lrpid` are seen across namespaces.
    Mixed,
}

/// The state of one script being written.
struct Writer {
    d: Draw,
    kind: Kind,
    lines: Vec<String>,
    /// Names of queues that should exist.
    queues: Vec<String>,
    /// Names of queues that were removed or never created.
    dead: Vec<String>,
    /// Every task created so far, `t0` first.
    tasks: Vec<String>,
    /// Tasks that exited or were killed.
    gone: Vec<String>,
    /// Tasks that are the init of their PID namespace.
    inits: Vec<String>,
    /// Calls asleep, with their tasks.
    blocked: Vec<(String, Syscall)>,
    dialect: Dialect,
    target: Target,
}

/// Generates the script of case `case` of campaign `seed` for Linux.
pub fn generate(seed: u64, case: u64) -> String {
    generate_for(seed, case, Target::Linux)
}

/// Generates the script of case `case` of campaign `seed` for `target`.
pub fn generate_for(seed: u64, case: u64, target: Target) -> String {
    let mut d = Draw(case_rng(seed, case));
    let kind = [Kind::Msg, Kind::Pid, Kind::Mixed][d.weighted(&[50, 25, 25])];
    let mut w = Writer {
        d,
        kind,
        lines: Vec::new(),
        queues: Vec::new(),
        dead: Vec::new(),
        tasks: vec!["t0".into()],
        gone: Vec::new(),
        inits: Vec::new(),
        blocked: Vec::new(),
        dialect: Dialect::Mainline,
        target,
    };
    w.write();
    let external = match target {
        Target::Linux => "",
        Target::External => " --external",
    };
    let mut src = format!("# nscheck gen{external} --seed {seed} --case {case}\n");
    for l in &w.lines {
        src.push_str(l);
        src.push('\n');
    }
    src
}

const TEXTS: &[&[u8]] = &[b"", b"a", b"hello", b"world", b"x\ny", b"\x00\xff\"\\"];
/// Message sizes to send: mostly small, sometimes at the limits.
const SEND_SIZES: &[i64] = &[0, 1, 2, 3, 5, 5, 10, 10, 20, 100, 4096, 8192];
/// Receive buffer sizes: mostly large enough, sometimes too small.
const RECV_SIZES: &[i64] = &[100, 100, 100, 8192, 8192, 10, 4, 2, 0];
const TYPES: &[&str] = &[
    "0", "1", "2", "3", "5", "-1", "-2", "-3", "-5", "LONG_MIN", "LONG_MAX",
];
const STALE: &[&str] = &["0", "1", "2", "32768", "65536", "-1", "100"];
/// At most this many tasks a script.
const MAX_TASKS: usize = 8;

impl Writer {
    /// Runs the script so far on the model and learns what the next
    /// statement may use: the tasks that exist, are asleep or are gone, and
    /// the queues whose `msgget` failed. `false` if the script does not run.
    fn observe(&mut self) -> bool {
        let src: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let Ok(script) = Script::parse("gen", &src) else {
            return false;
        };
        let mut model = ModelBackend::new(self.dialect);
        let Ok(trace) = run(&script, &mut model) else {
            return false;
        };
        let failed: Vec<String> = self
            .queues
            .iter()
            .filter(|q| trace.values.get(*q).is_some_and(|&v| v < 0))
            .cloned()
            .collect();
        self.queues.retain(|q| !failed.contains(q));
        self.dead.extend(failed);
        self.inits = (0..trace.tasks.len())
            .filter(|&i| model.pidof(TaskId(i), TaskId(i)) == Ok(1))
            .map(|i| trace.tasks[i].clone())
            .collect();
        self.tasks = trace.tasks;
        self.gone = trace.gone;
        self.blocked = trace.blocked;
        true
    }

    fn write(&mut self) {
        self.lines.push("capdrop(CAP_SYS_RESOURCE)".into());
        if self.kind != Kind::Pid {
            if self.d.chance(15) {
                self.sysctl_write("t0");
            }
            self.new_queue("t0");
        }
        let n = 4 + self.d.below(27);
        for _ in 0..n {
            let free: Vec<String> = self
                .tasks
                .iter()
                .filter(|t| !self.gone.contains(t) && !self.blocked.iter().any(|(b, _)| b == *t))
                .cloned()
                .collect();
            if free.is_empty() {
                break;
            }
            let task = self.d.pick(&free).clone();
            let before = self.lines.len();
            match self.kind {
                Kind::Msg => self.msg_op(&task),
                Kind::Pid => self.pid_op(&task),
                Kind::Mixed if self.d.chance(50) => self.msg_op(&task),
                Kind::Mixed => self.pid_op(&task),
            }
            if !self.observe() {
                self.lines.truncate(before);
                self.observe();
            }
        }
    }

    /// A task name to use as an argument.
    fn any_task(&mut self) -> String {
        self.d.pick(&self.tasks).clone()
    }

    /// The name for the next task.
    fn next_task_name(&self) -> String {
        format!("c{}", self.lines.len())
    }

    /// One statement about processes and PID namespaces.
    fn pid_op(&mut self, task: &str) {
        let room = self.tasks.len() < MAX_TASKS;
        match self.d.weighted(&[20, 10, 6, 5, 8, 6, 8, 8, 8, 6, 5, 4, 3]) {
            0 if room => {
                let name = self.next_task_name();
                let bind = self.prefix(task, &name);
                self.lines.push(format!("{bind} = fork()"));
            }
            1 if room => {
                let name = self.next_task_name();
                let bind = self.prefix(task, &name);
                let tids = match self.d.below(4) {
                    0 => ", set_tid=[1]".to_string(),
                    1 => format!(", set_tid=[1, {}]", self.d.pick(&[2, 5, 300, 1000])),
                    _ => String::new(),
                };
                self.lines
                    .push(format!("{bind} = clone(CLONE_NEWPID{tids})"));
            }
            2 if room => {
                let name = self.next_task_name();
                let bind = self.prefix(task, &name);
                let tid = self
                    .d
                    .pick(&[1, 2, 5, 100, 299, 300, 301, 4194303, 4194304, 0]);
                self.lines
                    .push(format!("{bind} = clone(0, set_tid=[{tid}])"));
            }
            3 => self.call(task, "unshare(CLONE_NEWPID)".into()),
            4 if task != "t0" || self.d.chance(5) => {
                let code = self.d.below(3);
                self.call(task, format!("exit({code})"));
            }
            5 => {
                // Waiting for a running child sleeps, which only children may.
                let child = self.any_task();
                let may_block = task != "t0" || self.gone.contains(&child);
                if may_block {
                    self.call(task, format!("waitpid({child})"));
                }
            }
            6 => self.call(task, "setsid()".into()),
            7 => {
                // An init moved into another task's process group can never
                // finish exiting on Linux (its exit waits for that group's
                // number, which it holds itself), so inits only make groups
                // of their own, and only non-inits are moved.
                let movable: Vec<String> = self
                    .tasks
                    .iter()
                    .filter(|t| !self.inits.contains(t))
                    .cloned()
                    .collect();
                if self.inits.iter().any(|i| i == task) {
                    self.call(task, "setpgid(0, 0)".into());
                } else if !movable.is_empty() {
                    let a = if self.d.chance(50) {
                        "0".to_string()
                    } else {
                        self.d.pick(&movable).clone()
                    };
                    let b = self.pid_arg();
                    self.call(task, format!("setpgid({a}, {b})"));
                }
            }
            8 => {
                let call = *self.d.pick(&["getsid", "getpgid"]);
                let a = self.pid_arg();
                self.call(task, format!("{call}({a})"));
            }
            9 => {
                let target = self.any_task();
                self.call(task, format!("pidof({target})"));
            }
            10 => {
                let v = *self.d.pick(&[
                    "0", "1", "5", "99", "298", "299", "300", "1000", "-1", "4194304",
                ]);
                if self.d.chance(30) {
                    self.call(task, "sysctl(\"kernel.ns_last_pid\")".into());
                } else {
                    self.call(task, format!("sysctl(\"kernel.ns_last_pid\", {v})"));
                }
            }
            11 => {
                let v = *self.d.pick(&[
                    "300", "301", "305", "310", "400", "1000", "4194304", "4194305",
                ]);
                self.call(task, format!("sysctl(\"kernel.pid_max\", {v})"));
            }
            12 => {
                let call = *self.d.pick(&["getpid", "getppid"]);
                self.call(task, format!("{call}()"));
            }
            _ => {}
        }
    }

    /// A pid argument: 0, a task (its pid as the caller sees it) or a number.
    fn pid_arg(&mut self) -> String {
        match self.d.below(4) {
            0 => "0".into(),
            1 => self.d.pick(&["1", "2", "3", "-1", "1000"]).to_string(),
            _ => self.any_task(),
        }
    }

    /// A queue to use: mostly a live one, sometimes a removed or made-up id.
    fn queue(&mut self) -> String {
        if !self.dead.is_empty() && self.d.chance(3) {
            return self.d.pick(&self.dead).clone();
        }
        if self.queues.is_empty() || self.d.chance(2) {
            let literal = self.d.pick(STALE).to_string();
            return match self.target {
                Target::Linux => literal,
                Target::External => self.dead.first().cloned().unwrap_or_else(|| "-1".into()),
            };
        }
        self.d.pick(&self.queues).clone()
    }

    fn new_queue(&mut self, task: &str) {
        let name = format!("q{}", self.queues.len() + self.dead.len());
        let key = if self.d.chance(60) {
            "IPC_PRIVATE".to_string()
        } else {
            self.d.pick(&["0x10", "0x11", "0x12"]).to_string()
        };
        let flags = *self.d.pick(&[
            "IPC_CREAT|0600",
            "IPC_CREAT|0600",
            "IPC_CREAT|0666",
            "IPC_CREAT|IPC_EXCL|0600",
            "IPC_CREAT|0640",
            "IPC_CREAT|0400",
            "IPC_CREAT|0200",
            "0600",
            "0",
        ]);
        self.lines.push(format!(
            "{} = msgget({key}, {flags})",
            self.prefix(task, &name)
        ));
        self.queues.push(name);
    }

    fn prefix(&self, task: &str, bind: &str) -> String {
        if task == "t0" {
            bind.to_string()
        } else {
            format!("{task}: {bind}")
        }
    }

    fn call(&mut self, task: &str, call: String) {
        if task == "t0" {
            self.lines.push(call);
        } else {
            self.lines.push(format!("{task}: {call}"));
        }
    }

    fn sysctl_write(&mut self, task: &str) {
        let (name, vals): (&str, &[&str]) = match self.d.below(4) {
            0 => ("msgmax", &["0", "10", "100", "8192", "-1", "2147483648"]),
            1 => ("msgmnb", &["0", "3", "20", "100", "16384"]),
            2 => ("msgmni", &["0", "1", "2", "32000", "32769"]),
            _ => ("msg_next_id", &["0", "5", "100", "32771", "-1"]),
        };
        let v = *self.d.pick(vals);
        self.call(task, format!("sysctl(\"kernel.{name}\", {v})"));
    }

    /// One statement about message queues.
    fn msg_op(&mut self, task: &str) {
        let task = task.to_string();
        let is_t0 = task == "t0";
        let senders = self
            .blocked
            .iter()
            .filter(|(_, c)| matches!(c, Syscall::Msgsnd { .. }))
            .count();
        let receivers = self
            .blocked
            .iter()
            .filter(|(_, c)| matches!(c, Syscall::Msgrcv { .. }))
            .count();
        let kind = self.d.weighted(&[25, 25, 10, 5, 3, 8, 5, 4, 3, 2, 2, 1]);
        match kind {
            0 => {
                let q = self.queue();
                let mtype = self
                    .d
                    .pick(&["1", "1", "2", "2", "3", "5", "0", "-1"])
                    .to_string();
                let text = if self.d.chance(50) {
                    let bytes = TEXTS[self.d.below(TEXTS.len())];
                    format!("\"{}\"", escape(bytes))
                } else {
                    self.d.pick(SEND_SIZES).to_string()
                };
                // Only children sleep, and at most one sender at a time, so
                // that no wake-up can release two senders at once.
                let may_block = !is_t0 && senders == 0 && self.d.chance(40);
                let flags = if may_block { "0" } else { "IPC_NOWAIT" };
                self.call(&task, format!("msgsnd({q}, {mtype}, {text}, {flags})"));
            }
            1 => {
                let q = self.queue();
                let size = *self.d.pick(RECV_SIZES);
                let typ = *self.d.pick(TYPES);
                let mut flags = Vec::new();
                let copy = self.d.chance(20);
                if copy {
                    flags.push("MSG_COPY");
                }
                if self.d.chance(20) {
                    flags.push("MSG_NOERROR");
                }
                if self.d.chance(15) {
                    flags.push("MSG_EXCEPT");
                }
                let may_block = !is_t0 && self.d.chance(40);
                if !may_block || (copy && self.d.chance(80)) {
                    flags.push("IPC_NOWAIT");
                }
                let flags = if flags.is_empty() {
                    "0".to_string()
                } else {
                    flags.join("|")
                };
                let typ = if copy && self.d.chance(70) {
                    self.d.pick(&["0", "1", "2", "3", "-1"]).to_string()
                } else {
                    typ.to_string()
                };
                self.call(&task, format!("msgrcv({q}, {size}, {typ}, {flags})"));
            }
            2 => {
                let q = self.queue();
                let cmd = self.d.below(5);
                let line = match cmd {
                    0 => format!("msgctl({q}, IPC_STAT)"),
                    1 => format!("msgctl({}, MSG_STAT)", self.d.below(4)),
                    2 => format!("msgctl({}, MSG_STAT_ANY)", self.d.below(4)),
                    3 => format!("msgctl({q}, IPC_INFO)"),
                    _ => format!("msgctl({q}, MSG_INFO)"),
                };
                self.call(&task, line);
            }
            3 => {
                // IPC_SET wakes every receiver and the senders that fit; with
                // two sleepers the kernel's order is the scheduler's.
                if receivers + senders > 1 {
                    return;
                }
                let q = self.queue();
                let field = match self.d.below(5) {
                    0 | 1 => format!(
                        "msg_qbytes={}",
                        self.d
                            .pick(&["0", "3", "20", "100", "16384", "16385", "0x100000005"])
                    ),
                    2 => format!(
                        "mode={}",
                        self.d.pick(&["0600", "0666", "0400", "0200", "0"])
                    ),
                    3 => format!("uid={}", self.d.pick(&["0", "65534", "-1"])),
                    _ => format!("gid={}", self.d.pick(&["0", "65534"])),
                };
                self.call(&task, format!("msgctl({q}, IPC_SET, {{{field}}})"));
            }
            4 => {
                let q = self.queue();
                self.call(&task, format!("msgctl({q}, IPC_RMID)"));
                if let Some(i) = self.queues.iter().position(|x| *x == q) {
                    self.dead.push(self.queues.remove(i));
                }
            }
            5 => self.new_queue(&task),
            6 => {
                if self.d.chance(50) {
                    self.sysctl_write(&task);
                } else {
                    let name = self.d.pick(&["msgmax", "msgmnb", "msgmni", "msg_next_id"]);
                    self.call(&task, format!("sysctl(\"kernel.{name}\")"));
                }
            }
            7 if is_t0 && self.tasks.len() < 4 => {
                let name = self.next_task_name();
                self.lines.push(format!("{name} = fork()"));
            }
            8 if !is_t0 => {
                let id = *self.d.pick(&["65534", "1000", "0"]);
                let call = if self.d.chance(50) {
                    "setgid"
                } else {
                    "setuid"
                };
                self.call(&task, format!("{call}({id})"));
            }
            9 if !is_t0 => {
                // A child exits and its parent reaps it.
                self.call(&task, "exit(0)".into());
                self.lines.push(format!("waitpid({task})"));
            }
            10 => {
                let call = if self.d.chance(50) {
                    "getpid"
                } else {
                    "getppid"
                };
                self.call(&task, format!("{call}()"));
            }
            11 if is_t0 && self.d.chance(30) => {
                let name = *self.d.pick(&["CAP_IPC_OWNER", "CAP_SYS_ADMIN"]);
                self.call(&task, format!("capdrop({name})"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_is_a_function_of_seed_and_case() {
        for case in 0..20 {
            assert_eq!(generate(7, case), generate(7, case));
        }
        assert_ne!(generate(7, 1), generate(7, 2));
        assert_ne!(generate(7, 1), generate(8, 1));
    }

    #[test]
    fn scripts_for_another_implementation_name_their_queues() {
        let mut literal = 0;
        for case in 0..300 {
            let linux = generate(1, case);
            let external = generate_for(1, case, Target::External);
            let script = Script::parse("gen", &external).expect("generated scripts parse");
            let mut model = ModelBackend::new(Dialect::Mainline);
            run(&script, &mut model).expect("generated scripts run");
            // The same draws: the scripts are the same up to a stale queue.
            if let Some((a, b)) = linux
                .lines()
                .zip(external.lines())
                .skip(1)
                .find(|(a, b)| a != b)
            {
                let first = |l: &str| {
                    l.split('(')
                        .nth(1)
                        .and_then(|r| r.split(',').next())
                        .map(str::to_string)
                };
                assert!(
                    STALE.contains(&first(a).unwrap_or_default().as_str()),
                    "case {case}: {a} / {b}"
                );
                literal += 1;
            }
            for stmt in &script.stmts {
                let queue_first = matches!(stmt.spec.name, "msgsnd" | "msgrcv")
                    || (stmt.spec.name == "msgctl"
                        && !stmt.args[1].value.to_string().starts_with("MSG_STAT"));
                let first = stmt.args.first().map(|a| a.value.to_string());
                if queue_first {
                    let first = first.unwrap_or_default();
                    assert!(
                        first == "-1" || first.starts_with('q'),
                        "case {case}: {stmt} uses a literal queue id"
                    );
                }
            }
        }
        assert!(literal > 0, "some Linux scripts use literal ids");
    }

    #[test]
    fn generated_scripts_parse_and_run_on_the_model() {
        for case in 0..200 {
            let src = generate(1, case);
            let script = Script::parse("gen", &src).expect("generated scripts parse");
            let mut model = ModelBackend::new(Dialect::Mainline);
            let trace = run(&script, &mut model).expect("generated scripts run");
            assert!(trace.lines.len() >= script.stmts.len(), "{src}");
        }
    }
}
