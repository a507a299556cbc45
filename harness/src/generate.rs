//! Random scenario scripts for the conformance campaign.
//!
//! Every case is a function of `(seed, case)` alone: its generator is a
//! `ChaCha8Rng` seeded from those two numbers, so any case can be regenerated
//! on its own (`nscheck gen --seed S --case N`). The generator runs the
//! script-so-far on the model after every statement, so that it knows which
//! tasks are asleep and never writes a statement for a blocked task, and it
//! avoids the scheduler-dependent patterns that `SCRIPT.md` lists.

use nscheck_model::{Dialect, Syscall};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

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

/// A task of the script being written.
struct GenTask {
    name: String,
    exited: bool,
}

/// The state of one script being written.
struct Writer {
    d: Draw,
    lines: Vec<String>,
    /// Names of queues that should exist.
    queues: Vec<String>,
    /// Names of queues that were removed or never created.
    dead: Vec<String>,
    tasks: Vec<GenTask>,
    dialect: Dialect,
}

/// Generates the script of case `case` of campaign `seed`.
pub fn generate(seed: u64, case: u64) -> String {
    let mut w = Writer {
        d: Draw(case_rng(seed, case)),
        lines: Vec::new(),
        queues: Vec::new(),
        dead: Vec::new(),
        tasks: vec![GenTask {
            name: "t0".into(),
            exited: false,
        }],
        dialect: Dialect::Mainline,
    };
    w.write();
    let mut src = format!("# nscheck gen --seed {seed} --case {case}\n");
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

impl Writer {
    /// The model's view of the script so far: which tasks are blocked and
    /// in what; queues whose `msgget` failed are dropped from the live list.
    fn observe(&mut self) -> Option<Vec<(String, Syscall)>> {
        let src: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        let script = Script::parse("gen", &src).ok()?;
        let mut model = ModelBackend::new(self.dialect);
        let trace = run(&script, &mut model).ok()?;
        let failed: Vec<String> = self
            .queues
            .iter()
            .filter(|q| trace.values.get(*q).is_some_and(|&v| v < 0))
            .cloned()
            .collect();
        self.queues.retain(|q| !failed.contains(q));
        self.dead.extend(failed);
        Some(trace.blocked)
    }

    fn write(&mut self) {
        self.lines.push("capdrop(CAP_SYS_RESOURCE)".into());
        if self.d.chance(15) {
            self.sysctl_write("t0");
        }
        self.new_queue("t0");
        let n = 4 + self.d.below(27);
        let mut blocked = Vec::new();
        for _ in 0..n {
            let free: Vec<usize> = (0..self.tasks.len())
                .filter(|&i| {
                    !self.tasks[i].exited && !blocked.iter().any(|(t, _)| *t == self.tasks[i].name)
                })
                .collect();
            if free.is_empty() {
                break;
            }
            let ti = *self.d.pick(&free);
            let before = self.lines.len();
            self.op(ti, &blocked);
            match self.observe() {
                Some(b) => blocked = b,
                None => self.lines.truncate(before),
            }
        }
    }

    /// A queue to use: mostly a live one, sometimes a removed or made-up id.
    fn queue(&mut self) -> String {
        if !self.dead.is_empty() && self.d.chance(3) {
            return self.d.pick(&self.dead).clone();
        }
        if self.queues.is_empty() || self.d.chance(2) {
            return self.d.pick(STALE).to_string();
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

    fn op(&mut self, ti: usize, blocked: &[(String, Syscall)]) {
        let task = self.tasks[ti].name.clone();
        let is_t0 = ti == 0;
        let senders = blocked
            .iter()
            .filter(|(_, c)| matches!(c, Syscall::Msgsnd { .. }))
            .count();
        let receivers = blocked.len() - senders;
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
                let name = format!("c{}", self.tasks.len());
                self.lines.push(format!("{name} = fork()"));
                self.tasks.push(GenTask {
                    name,
                    exited: false,
                });
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
                // A child exits and, if nothing is asleep, the parent reaps it.
                self.call(&task, "exit(0)".into());
                self.tasks[ti].exited = true;
                if blocked.iter().all(|(t, _)| t != "t0") {
                    self.lines.push(format!("waitpid({task})"));
                }
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
