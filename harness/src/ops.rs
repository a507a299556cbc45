//! The differential engine: op sequences, their lowering to scripts, and the
//! lockstep check that every fuzzing front end shares.
//!
//! An input is a version byte ([`VERSION`]) followed by a sequence of
//! [`Op`]s, decoded with `arbitrary` ([`decode`]). Each op becomes at most one
//! statement of a [`Script`]: the lowering picks the calling task among the
//! tasks that may call now and the queue operand among the queues created so
//! far, so a failing input is always printable and replayable as an `.nsc`
//! file. [`check_ops`] runs the statements on the model and on the other
//! backend in lockstep and compares, after every statement, the new trace
//! lines and a digest of the IPC state ([`Backend::digest`]). On a divergence
//! it shrinks the script with [`conform::shrink`]; a front end then saves it
//! to `corpus/regressions/` ([`Found::save`]) with the command that replays
//! it.
//!
//! Front ends: the cargo-fuzz targets `msg_diff` and `msg_kernel_diff`
//! ([`fuzz_one`]), the bolero tests of `props/`, the corpus replay tests,
//! `nscheck check`, and the mutant tests.
//!
//! **Compatibility rule:** the committed corpora are byte strings decoded
//! through the derived `Arbitrary` layout of [`Op`] and its fields. Variants
//! and fields are therefore only ever added at the end of [`Op`], and the
//! interpretation tables below only ever grow at the end too; any other
//! change must bump [`VERSION`] and regenerate the corpora.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nscheck_model::abi::{CAP_CHECKPOINT_RESTORE, CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE};
use nscheck_model::{Dialect, Outcome, Syscall};

use crate::backend::model::ModelBackend;
use crate::backend::{Backend, BackendError};
use crate::conform::{self, Divergence, Stats};
use crate::run::{Entry, RunError, Session};
use crate::script::{Arg, Atom, Script, Stmt, Value, call_spec};

/// The version byte every encoded input starts with.
pub const VERSION: u8 = 1;

/// The most ops an input decodes to; [`decode`] ignores the rest. Longer
/// inputs would make every execution slower without reaching much more:
/// the shrunk divergences found so far need at most 8 statements.
pub const MAX_OPS: usize = 32;

/// The file name of lowered scripts in error messages.
pub const FILE: &str = "ops.nsc";

/// The most tasks a lowered script creates besides `t0`.
const MAX_CHILDREN: usize = 3;

/// The most `fork`/`clone` attempts, created or not.
const MAX_FORKS: usize = 6;

/// One operation of a fuzzed input. Integer fields are indices into small
/// tables of interesting values (taken modulo the table's length), so that
/// every byte string decodes to a meaningful script.
///
/// **Only ever add variants and fields at the end** (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum Op {
    /// `msgget(key, flags|mode)`.
    Get {
        task: u8,
        key: u8,
        flags: u8,
        mode: u8,
    },
    /// `msgsnd(q, mtype, N, flags)`; a child without `nowait` may block.
    Snd {
        task: u8,
        queue: u8,
        mtype: u8,
        size: u8,
        nowait: bool,
    },
    /// `msgrcv(q, msgsz, msgtyp, flags)`; `flags` holds `IPC_NOWAIT` (1),
    /// `MSG_NOERROR` (2), `MSG_EXCEPT` (4) and `MSG_COPY` (8, with 16).
    Rcv {
        task: u8,
        queue: u8,
        size: u8,
        typ: u8,
        flags: u8,
    },
    /// `msgctl(q, CMD)`.
    Ctl { task: u8, queue: u8, cmd: CtlOp },
    /// `sysctl("kernel.NAME")`, or a write of a value from the name's table.
    Sysctl {
        task: u8,
        name: u8,
        value: Option<u8>,
    },
    /// `cN = fork()`, or `cN = clone(CLONE_NEWIPC)`.
    Fork { task: u8, new_ipc: bool },
    /// A call only children make (`t0` stays root, in the first IPC
    /// namespace, with the queues it made).
    Child { task: u8, op: ChildOp },
}

/// The commands of [`Op::Ctl`]. **Only ever add variants at the end.**
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum CtlOp {
    /// `IPC_STAT`, or `MSG_STAT`/`MSG_STAT_ANY` of the queue's index.
    Stat(u8),
    /// `msgctl(0, IPC_INFO)`, or `MSG_INFO` if true.
    Info(bool),
    /// `IPC_SET` with the fields given.
    Set {
        qbytes: Option<u8>,
        uid: Option<u8>,
        gid: Option<u8>,
        mode: Option<u8>,
    },
    /// `IPC_RMID`.
    Rmid,
}

/// The calls of [`Op::Child`]. **Only ever add variants at the end.**
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "bolero", derive(bolero_generator::TypeGenerator))]
pub enum ChildOp {
    /// `unshare(CLONE_NEWIPC)`.
    Unshare,
    /// `setuid(uid)`.
    Setuid(u8),
    /// `setgid(gid)`.
    Setgid(u8),
    /// `capdrop(CAP)`.
    Capdrop(u8),
    /// `exit(0)`.
    Exit,
}

/// Decodes an input: [`VERSION`], then ops as `arbitrary` reads them with
/// `arbitrary_take_rest` (as `libfuzzer-sys` does), at most [`MAX_OPS`] of
/// them. `None` for another version or an empty input.
#[cfg(feature = "arbitrary")]
pub fn decode(bytes: &[u8]) -> Option<Vec<Op>> {
    use arbitrary::{Arbitrary, Unstructured};
    match bytes.split_first() {
        Some((&VERSION, rest)) => {
            let mut ops = Vec::<Op>::arbitrary_take_rest(Unstructured::new(rest)).ok()?;
            ops.truncate(MAX_OPS);
            Some(ops)
        }
        _ => None,
    }
}

/// Case `case` of seed `seed`: `len` ops drawn from a seeded stream
/// ([`crate::generate::case_rng`]) through the same `Arbitrary` layout as
/// [`decode`], for front ends without a fuzzing engine (`nscheck check`,
/// the mutant tests).
#[cfg(feature = "arbitrary")]
pub fn generate_ops(seed: u64, case: u64, len: usize) -> Vec<Op> {
    use arbitrary::{Arbitrary, Unstructured};
    use rand_core::Rng as _;
    let mut rng = crate::generate::case_rng(seed ^ 0x6f70_735f_6469_6666, case);
    // An op takes at most a dozen bytes.
    let mut bytes = vec![0u8; 16 * len];
    rng.fill_bytes(&mut bytes);
    let mut u = Unstructured::new(&bytes);
    (0..len).map_while(|_| Op::arbitrary(&mut u).ok()).collect()
}

/// The backend the model is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Against {
    /// The thread-safe implementation (`nscheck-concurrent`).
    Concurrent,
    /// The real kernel, in fresh namespaces.
    Linux,
}

impl Against {
    /// The backend's name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Against::Concurrent => "concurrent",
            Against::Linux => "linux",
        }
    }

    /// A fresh backend of this kind. The linux backend's agent is
    /// [`agent_path`].
    pub fn backend(self) -> Result<Box<dyn Backend>, RunError> {
        match self {
            Against::Concurrent => Ok(Box::new(
                crate::backend::concurrent::ConcurrentBackend::new(),
            )),
            Against::Linux => {
                let agent = agent_path().map_err(RunError::Unavailable)?;
                let b = crate::backend::linux::LinuxBackend::new(&agent)
                    .map_err(|e| RunError::Unavailable(e.to_string()))?;
                Ok(Box::new(b))
            }
        }
    }
}

/// The `nscheck` executable that serves as the linux backend's agent:
/// `$NSCHECK_AGENT` if set; else this very executable if it is `nscheck`;
/// else `target/release/nscheck` or `target/debug/nscheck` of this
/// checkout, whichever is newer (build it first with `cargo build`).
pub fn agent_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NSCHECK_AGENT") {
        return Ok(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe()
        && exe.file_name().is_some_and(|n| n == "nscheck")
    {
        return Ok(exe);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("nscheck"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| {
            "no nscheck executable for the linux backend's agent: run `cargo build` \
             or set NSCHECK_AGENT"
                .to_string()
        })
}

// The interpretation tables. Only ever append (see the module docs).

const KEYS: &[i64] = &[0, 0, 0x10, 0x20, 0x30, 0x10];
const MODES: &[i64] = &[
    0o600, 0o666, 0o644, 0o400, 0o200, 0, 0o777, 0o622, 0o660, 0o444,
];
const MTYPES: &[i64] = &[1, 2, 3, 1, 2, 1, 3, 2, 0, -1, 4, i64::MAX];
/// Sizes past the small ones (`0..=16`).
const SIZES: &[i64] = &[0, 100, 8192, 8193, 16384, 4096, 32, 64];
const RCV_SIZES: &[i64] = &[-1, 0, 8192, 8193, 100_000, i64::MAX, 1, 3];
const RCV_TYPES: &[i64] = &[0, 0, 1, 2, 3, -1, -2, -3, 4, i64::MIN, i64::MAX, -i64::MAX];
const QBYTES: &[i64] = &[0, 1, 8, 16, 32, 100, 16384, 16385, 0x1_0000_0005, -1, 4, 24];
const IDS: &[i64] = &[0, 1000, 65534, -1, 0, 1000];
/// Made-up queue operands.
const RAW_IDS: &[i64] = &[0, -1, 1, 32768, 65537, 63, 64, i32::MAX as i64];
const SYSCTLS: &[(&str, &[i64])] = &[
    (
        "kernel.msgmax",
        &[0, 1, 4, 16, 8192, 8193, -1, 2_147_483_647],
    ),
    (
        "kernel.msgmnb",
        &[0, 1, 8, 16, 64, 16384, -1, 2_147_483_648],
    ),
    ("kernel.msgmni", &[0, 1, 2, 32000, 32768, 32769, -1]),
    (
        "kernel.msg_next_id",
        &[0, 1, 5, 32769, 7 * 32768 + 3, 65534 * 32768, -1, 40],
    ),
];
const UIDS: &[i64] = &[1000, 65534, 0, 1];
const CAPS: &[(&str, u32)] = &[
    ("CAP_IPC_OWNER", CAP_IPC_OWNER),
    ("CAP_SYS_ADMIN", CAP_SYS_ADMIN),
    ("CAP_SYS_RESOURCE", CAP_SYS_RESOURCE),
    ("CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE),
];

fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[usize::from(i) % table.len()]
}

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

/// A queue created by the script.
#[derive(Clone, Debug)]
struct QueueName {
    name: String,
    id: i64,
    live: bool,
    /// The IPC namespace it was made in (the lowering's numbering).
    ns: usize,
}

/// What the lowering knows: the tasks and queues made so far.
#[derive(Debug)]
struct Lowering {
    against: Against,
    /// The children's names, created or not, in creation order.
    children: Vec<String>,
    created: usize,
    queues: Vec<QueueName>,
    next_queue: usize,
    /// The IPC namespace of each task but `t0` (which stays in 0), as far
    /// as the model's trace shows.
    ns: BTreeMap<String, usize>,
    namespaces: usize,
}

impl Lowering {
    fn new(against: Against) -> Lowering {
        Lowering {
            against,
            children: Vec::new(),
            created: 0,
            queues: Vec::new(),
            next_queue: 0,
            ns: BTreeMap::new(),
            namespaces: 1,
        }
    }

    /// The statements before the first op. Against the kernel `t0` drops
    /// `CAP_SYS_RESOURCE` first, as the conformance generator does: root
    /// may lack it on the host (a container, a VM), which the model cannot
    /// know.
    fn prologue(&self) -> Vec<Stmt> {
        match self.against {
            Against::Concurrent => Vec::new(),
            Against::Linux => {
                let arg = Value::Or(vec![ident("CAP_SYS_RESOURCE")]);
                vec![Self::stmt("t0".into(), None, "capdrop", vec![pos(arg)])]
            }
        }
    }

    fn ns_of(&self, task: &str) -> usize {
        self.ns.get(task).copied().unwrap_or(0)
    }

    /// The tasks that may call now: `t0` first, then the ready children.
    fn ready<'s>(&'s self, s: &Session<'_>) -> Vec<&'s str> {
        std::iter::once("t0")
            .chain(
                self.children
                    .iter()
                    .map(String::as_str)
                    .filter(|c| s.is_ready(c)),
            )
            .collect()
    }

    fn task(&self, s: &Session<'_>, i: u8) -> String {
        let ready = self.ready(s);
        ready[usize::from(i) % ready.len()].to_string()
    }

    /// A ready child, if any.
    fn child(&self, s: &Session<'_>, i: u8) -> Option<String> {
        let ready = self.ready(s);
        (ready.len() > 1).then(|| ready[1 + usize::from(i) % (ready.len() - 1)].to_string())
    }

    /// A queue operand for `task`: mostly a live queue of its IPC namespace
    /// (slot modulo the live list), sometimes a removed one, another
    /// namespace's or a failed `msgget`'s -1, sometimes a made-up id.
    fn queue(&self, task: &str, slot: u8) -> (Value, i64) {
        let ns = self.ns_of(task);
        let mut live: Vec<&QueueName> = Vec::new();
        for q in self.queues.iter().filter(|q| q.live && q.ns == ns) {
            if !live.iter().any(|l| l.id == q.id) {
                live.push(q);
            }
        }
        let stale: Vec<&QueueName> = self
            .queues
            .iter()
            .filter(|q| !q.live || q.ns != ns)
            .collect();
        let named = |q: &QueueName| (Value::Or(vec![ident(&q.name)]), q.id);
        match slot {
            0..224 if !live.is_empty() => named(live[usize::from(slot) % live.len()]),
            224..240 if !stale.is_empty() => named(stale[usize::from(slot) % stale.len()]),
            _ => {
                let id = pick(RAW_IDS, slot);
                (num(id), id)
            }
        }
    }

    /// Whether a call on queue `id` by `task` may sleep. `t0` never sleeps.
    /// Against the kernel at most one task sleeps on a queue: two sleepers
    /// woken at once run in the scheduler's order (`SCRIPT.md`).
    fn may_block(&self, s: &Session<'_>, task: &str, id: i64) -> bool {
        if task == "t0" {
            return false;
        }
        self.against != Against::Linux
            || !s.blocked().any(|(_, call)| match call {
                Syscall::Msgsnd { msqid, .. } | Syscall::Msgrcv { msqid, .. } => *msqid == id,
                _ => false,
            })
    }

    fn stmt(task: String, bind: Option<String>, call: &str, args: Vec<Arg>) -> Stmt {
        Stmt {
            line: 0,
            task,
            bind,
            spec: call_spec(call).expect("a known call"),
            args,
        }
    }

    /// The statement for `op`, or `None` where it has none now (a fork past
    /// the task limit, a child-only op without a ready child).
    fn lower(&mut self, op: &Op, s: &Session<'_>) -> Option<Stmt> {
        let ctl = |q: Value, cmd: &str| vec![pos(q), pos(Value::Or(vec![ident(cmd)]))];
        Some(match *op {
            Op::Get {
                task,
                key,
                flags,
                mode,
            } => {
                let mut atoms = Vec::new();
                let key = match pick(KEYS, key) {
                    0 => Value::Or(vec![ident("IPC_PRIVATE")]),
                    k => Value::Or(vec![(
                        false,
                        Atom::Int {
                            value: k,
                            src: format!("{k:#x}"),
                        },
                    )]),
                };
                if flags & 3 != 0 {
                    atoms.push(ident("IPC_CREAT"));
                }
                if flags & 4 != 0 {
                    atoms.push(ident("IPC_EXCL"));
                }
                atoms.push(octal(pick(MODES, mode)));
                self.next_queue += 1;
                Self::stmt(
                    self.task(s, task),
                    Some(format!("q{}", self.next_queue)),
                    "msgget",
                    vec![pos(key), pos(Value::Or(atoms))],
                )
            }
            Op::Snd {
                task,
                queue,
                mtype,
                size,
                nowait,
            } => {
                let task = self.task(s, task);
                let (q, id) = self.queue(&task, queue);
                let size = if size < 200 {
                    i64::from(size % 17)
                } else {
                    pick(SIZES, size - 200)
                };
                let flags = if nowait || !self.may_block(s, &task, id) {
                    Value::Or(vec![ident("IPC_NOWAIT")])
                } else {
                    num(0)
                };
                let args = vec![
                    pos(q),
                    pos(num(pick(MTYPES, mtype))),
                    pos(num(size)),
                    pos(flags),
                ];
                Self::stmt(task, None, "msgsnd", args)
            }
            Op::Rcv {
                task,
                queue,
                size,
                typ,
                flags,
            } => {
                let task = self.task(s, task);
                let (q, id) = self.queue(&task, queue);
                let size = if size < 200 {
                    i64::from(size % 17)
                } else {
                    pick(RCV_SIZES, size - 200)
                };
                let mut atoms = Vec::new();
                if flags & 1 != 0 || !self.may_block(s, &task, id) {
                    atoms.push(ident("IPC_NOWAIT"));
                }
                if flags & 2 != 0 {
                    atoms.push(ident("MSG_NOERROR"));
                }
                if flags & 4 != 0 {
                    atoms.push(ident("MSG_EXCEPT"));
                }
                if flags & 24 == 24 {
                    atoms.push(ident("MSG_COPY"));
                }
                let flags = if atoms.is_empty() {
                    num(0)
                } else {
                    Value::Or(atoms)
                };
                let args = vec![
                    pos(q),
                    pos(num(size)),
                    pos(num(pick(RCV_TYPES, typ))),
                    pos(flags),
                ];
                Self::stmt(task, None, "msgrcv", args)
            }
            Op::Ctl { task, queue, cmd } => {
                let task = self.task(s, task);
                let (q, id) = self.queue(&task, queue);
                let args = match cmd {
                    CtlOp::Stat(cmd) => match cmd % 4 {
                        0 | 1 => ctl(q, "IPC_STAT"),
                        // MSG_STAT and MSG_STAT_ANY take an index.
                        2 => ctl(num(id & 0x7fff), "MSG_STAT"),
                        _ => ctl(num(id & 0x7fff), "MSG_STAT_ANY"),
                    },
                    CtlOp::Info(msg_info) => {
                        ctl(num(0), if msg_info { "MSG_INFO" } else { "IPC_INFO" })
                    }
                    CtlOp::Set {
                        qbytes,
                        uid,
                        gid,
                        mode,
                    } => {
                        let mut fields = Vec::new();
                        if let Some(v) = qbytes {
                            fields.push(("msg_qbytes".to_string(), num(pick(QBYTES, v))));
                        }
                        if let Some(v) = uid {
                            fields.push(("uid".to_string(), num(pick(IDS, v))));
                        }
                        if let Some(v) = gid {
                            fields.push(("gid".to_string(), num(pick(IDS, v))));
                        }
                        if let Some(v) = mode {
                            fields
                                .push(("mode".to_string(), Value::Or(vec![octal(pick(MODES, v))])));
                        }
                        let mut args = ctl(q, "IPC_SET");
                        args.push(pos(Value::Struct(fields)));
                        args
                    }
                    CtlOp::Rmid => ctl(q, "IPC_RMID"),
                };
                Self::stmt(task, None, "msgctl", args)
            }
            Op::Sysctl { task, name, value } => {
                let (path, values) = pick(SYSCTLS, name);
                let mut args = vec![pos(Value::Str(path.as_bytes().to_vec()))];
                if let Some(v) = value {
                    args.push(pos(num(pick(values, v))));
                }
                Self::stmt(self.task(s, task), None, "sysctl", args)
            }
            Op::Fork { task, new_ipc } => {
                if self.created >= MAX_CHILDREN || self.children.len() >= MAX_FORKS {
                    return None;
                }
                let name = format!("c{}", self.children.len() + 1);
                let task = self.task(s, task);
                self.children.push(name.clone());
                if new_ipc {
                    let args = vec![pos(Value::Or(vec![ident("CLONE_NEWIPC")]))];
                    Self::stmt(task, Some(name), "clone", args)
                } else {
                    Self::stmt(task, Some(name), "fork", Vec::new())
                }
            }
            Op::Child { task, op } => {
                let task = self.child(s, task)?;
                let (call, arg) = match op {
                    ChildOp::Unshare => ("unshare", Value::Or(vec![ident("CLONE_NEWIPC")])),
                    ChildOp::Setuid(uid) => ("setuid", num(pick(UIDS, uid))),
                    ChildOp::Setgid(gid) => ("setgid", num(pick(UIDS, gid))),
                    ChildOp::Capdrop(cap) => ("capdrop", Value::Or(vec![ident(pick(CAPS, cap).0)])),
                    ChildOp::Exit => ("exit", num(0)),
                };
                Self::stmt(task, None, call, vec![pos(arg)])
            }
        })
    }

    /// Learns from the model what `stmt` did (`returned_0`: its call
    /// returned 0): the queue it created or removed, the task it created,
    /// the namespace it entered.
    fn observe(&mut self, stmt: &Stmt, s: &Session<'_>, returned_0: bool) {
        match stmt.spec.name {
            "msgget" => {
                let name = stmt.bind.clone().expect("msgget binds a name");
                let id = s.value(&name).unwrap_or(-1);
                self.queues.push(QueueName {
                    name,
                    id,
                    live: id >= 0,
                    ns: self.ns_of(&stmt.task),
                });
            }
            "msgctl" if returned_0 && is_rmid(stmt) => {
                if let Some(Arg {
                    value: Value::Or(atoms),
                    ..
                }) = stmt.args.first()
                    && let [(false, Atom::Ident(name))] = atoms.as_slice()
                    && let Some(id) = s.value(name)
                {
                    let ns = self.ns_of(&stmt.task);
                    for q in self.queues.iter_mut().filter(|q| q.id == id && q.ns == ns) {
                        q.live = false;
                    }
                }
            }
            "fork" | "clone" => {
                let child = stmt.bind.clone().expect("a new task is named");
                if s.is_ready(&child) {
                    self.created += 1;
                    let ns = if stmt.spec.name == "clone" {
                        self.namespaces += 1;
                        self.namespaces - 1
                    } else {
                        self.ns_of(&stmt.task)
                    };
                    self.ns.insert(child, ns);
                }
            }
            "unshare" if returned_0 => {
                self.namespaces += 1;
                self.ns.insert(stmt.task.clone(), self.namespaces - 1);
            }
            _ => {}
        }
    }
}

/// How the two backends parted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// A trace line differs.
    Trace(Divergence),
    /// The traces agree, but the IPC state after statement `statement`
    /// (1-based) does not.
    State {
        statement: usize,
        model: Vec<String>,
        other: Vec<String>,
    },
    /// One backend stopped with an error at statement `statement` and the
    /// other did not, or with another error.
    Error {
        statement: usize,
        model: Option<String>,
        other: Option<String>,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "(no error)".into());
        match self {
            Mismatch::Trace(d) => write!(f, "{d}"),
            Mismatch::State {
                statement,
                model,
                other,
            } => {
                let d = conform::first_difference(model, other).expect("the digests differ");
                let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "(none)".into());
                write!(
                    f,
                    "the IPC state after statement {statement}:\n  model: {}\n  other: {}",
                    show(&d.expected),
                    show(&d.actual)
                )
            }
            Mismatch::Error {
                statement,
                model,
                other,
            } => write!(
                f,
                "statement {statement} stops a backend:\n  model: {}\n  other: {}",
                show(model),
                show(other)
            ),
        }
    }
}

/// Why a lockstep step did not go through.
#[derive(Debug)]
pub enum Stop {
    /// The backends disagree.
    Mismatch(Mismatch),
    /// Both backends stopped with the same error (e.g. a script error of a
    /// shrinking candidate): nothing to compare.
    Both(RunError),
    /// The other backend cannot run here.
    Unavailable(String),
}

/// Whether `stmt` is `msgctl(q, IPC_RMID)`.
fn is_rmid(stmt: &Stmt) -> bool {
    matches!(stmt.args.get(1), Some(Arg { value: Value::Or(atoms), .. })
        if matches!(atoms.as_slice(), [(false, Atom::Ident(cmd))] if cmd == "IPC_RMID"))
}

/// Two sessions driven statement by statement: the model and another
/// backend.
#[derive(Debug)]
pub struct Lockstep<'a> {
    pub model: Session<'a>,
    pub other: Session<'a>,
    statements: usize,
}

impl<'a> Lockstep<'a> {
    /// Sessions that format trace lines, for reports.
    pub fn new(file: &str, model: &'a mut dyn Backend, other: &'a mut dyn Backend) -> Lockstep<'a> {
        Lockstep {
            model: Session::new(file, model),
            other: Session::new(file, other),
            statements: 0,
        }
    }

    /// Quiet sessions ([`Session::quiet`]): the fast path of [`check_ops`].
    pub fn quiet(
        file: &str,
        model: &'a mut dyn Backend,
        other: &'a mut dyn Backend,
    ) -> Lockstep<'a> {
        Lockstep {
            model: Session::quiet(file, model),
            other: Session::quiet(file, other),
            statements: 0,
        }
    }

    /// Runs `stmt` on both and compares the new trace lines (or entries),
    /// then the digests, unless `stmt` only reads ([`reads_only`]; the next
    /// digest, or [`Lockstep::check_state`] at the end, covers it).
    pub fn step(&mut self, stmt: &Stmt) -> Result<(), Stop> {
        self.statements += 1;
        let n = self.statements;
        let start = self.model.lines().len();
        let start_entries = self.model.entries().len();
        let rm = self.model.exec(stmt);
        let ro = self.other.exec(stmt);
        match (rm, ro) {
            (_, Err(RunError::Unavailable(why))) | (Err(RunError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(()), Ok(())) => {}
            (Err(a), Err(b)) if a.to_string() == b.to_string() => return Err(Stop::Both(a)),
            (a, b) => {
                return Err(Stop::Mismatch(Mismatch::Error {
                    statement: n,
                    model: a.err().map(|e| e.to_string()),
                    other: b.err().map(|e| e.to_string()),
                }));
            }
        }
        let (m, o) = (&self.model.lines()[start..], &self.other.lines()[start..]);
        if let Some(mut d) = conform::first_difference(m, o) {
            d.index += start;
            return Err(Stop::Mismatch(Mismatch::Trace(d)));
        }
        let (m, o) = (
            &self.model.entries()[start_entries..],
            &self.other.entries()[start_entries..],
        );
        if m != o {
            let show = |e: &[crate::run::Entry]| Some(format!("{e:?}"));
            return Err(Stop::Mismatch(Mismatch::Trace(Divergence {
                index: start_entries,
                expected: show(m),
                actual: show(o),
            })));
        }
        if reads_only(stmt) {
            return Ok(());
        }
        self.check_state()
    }

    /// Compares the digests of the two backends now.
    pub fn check_state(&mut self) -> Result<(), Stop> {
        let n = self.statements;
        let digest = |s: &mut Session<'_>| match s.digest() {
            Ok(d) => Ok(d),
            Err(BackendError::Unavailable(why)) => Err(Stop::Unavailable(why)),
            Err(e) => Err(Stop::Mismatch(Mismatch::Error {
                statement: n,
                model: None,
                other: Some(format!("the digest failed: {e}")),
            })),
        };
        if let (Some(model), Some(other)) = (digest(&mut self.model)?, digest(&mut self.other)?)
            && model != other
        {
            return Err(Stop::Mismatch(Mismatch::State {
                statement: n,
                model: model.lines(),
                other: other.lines(),
            }));
        }
        Ok(())
    }
}

/// Whether `stmt` only reads: `IPC_STAT`, `MSG_STAT`, `MSG_STAT_ANY`,
/// `IPC_INFO`, `MSG_INFO`, a sysctl read, or a pid query.
pub fn reads_only(stmt: &Stmt) -> bool {
    match stmt.spec.name {
        "msgctl" => matches!(
            stmt.args.get(1),
            Some(Arg { value: Value::Or(atoms), .. })
                if matches!(atoms.as_slice(), [(false, Atom::Ident(cmd))]
                    if ["IPC_STAT", "MSG_STAT", "MSG_STAT_ANY", "IPC_INFO", "MSG_INFO"]
                        .contains(&cmd.as_str()))
        ),
        "sysctl" => stmt.args.len() == 1,
        "pidof" | "getpid" | "getppid" | "getsid" | "getpgid" => true,
        _ => false,
    }
}

/// Makes the backend checked against the model.
pub type MakeBackend<'a> = dyn FnMut() -> Result<Box<dyn Backend>, RunError> + 'a;

/// Runs `script` on the model and on a backend from `make` in lockstep:
/// the model's trace, and the first mismatch if any.
pub fn lockstep(
    script: &Script,
    make: &mut MakeBackend<'_>,
) -> Result<(crate::run::Trace, Option<Mismatch>), RunError> {
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut other = make()?;
    let mut ls = Lockstep::new(&script.file, &mut model, other.as_mut());
    let mut end = Ok(());
    for stmt in &script.stmts {
        end = ls.step(stmt);
        if end.is_err() {
            break;
        }
    }
    match end.and_then(|()| ls.check_state()) {
        Ok(()) => Ok((ls.model.into_trace(), None)),
        Err(Stop::Mismatch(m)) => Ok((ls.model.into_trace(), Some(m))),
        Err(Stop::Both(e)) => Err(e),
        Err(Stop::Unavailable(why)) => Err(RunError::Unavailable(why)),
    }
}

/// What a checked op sequence did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Ops decoded.
    pub ops: u64,
    /// Inputs checked.
    pub inputs: u64,
    /// Calls and errnos (statements = the ops that became statements).
    pub stats: Stats,
}

impl OpStats {
    /// Adds another input's statistics.
    pub fn merge(&mut self, other: &OpStats) {
        self.ops += other.ops;
        self.inputs += other.inputs;
        self.stats.merge(&other.stats);
    }

    /// The share of finished calls that succeeded, in `0.0..=1.0`.
    pub fn success_share(&self) -> f64 {
        let (n, ok) = self
            .stats
            .calls
            .values()
            .fold((0, 0), |(n, ok), &(a, b)| (n + a, ok + b));
        if n == 0 { 0.0 } else { ok as f64 / n as f64 }
    }
}

/// A divergence found by [`check_ops`], with its shrunk script.
#[derive(Clone, Debug)]
pub struct Found {
    pub against: Against,
    /// The lowered script up to the divergence.
    pub script: Script,
    pub mismatch: Mismatch,
    /// The shrunk script and its own mismatch.
    pub shrunk: Script,
    pub shrunk_mismatch: Mismatch,
}

impl Found {
    /// Writes the shrunk script to `dir` (as `conform` writes its finds)
    /// and returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let src = self.shrunk.to_source();
        let hash = src.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let target = match self.against {
            Against::Concurrent => "msg_diff",
            Against::Linux => "msg_kernel_diff",
        };
        let name = format!("{target}-{:08x}", hash >> 32);
        let how = format!(
            "differential fuzzing of the model against {} (`{target}`)",
            self.against.name()
        );
        conform::write_regression(dir, &name, &how, &self.shrunk, &self.shrunk_mismatch)
    }

    /// The command that replays a saved script.
    pub fn replay_command(&self, path: &Path) -> String {
        format!(
            "cargo run --release -- diff --against {} {}",
            self.against.name(),
            path.display()
        )
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the model and {} differ at {}",
            self.against.name(),
            self.shrunk_mismatch
        )?;
        writeln!(
            f,
            "shrunk from {} to {} statements:",
            self.script.stmts.len(),
            self.shrunk.stmts.len()
        )?;
        write!(f, "{}", self.shrunk.to_source())
    }
}

/// Why [`check_ops`] failed.
#[derive(Clone, Debug)]
pub enum Failure {
    /// The backends differ.
    Diverged(Box<Found>),
    /// The other backend cannot run here (or failed to start).
    Unavailable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Diverged(found) => write!(f, "{found}"),
            Failure::Unavailable(why) => write!(f, "the backend cannot run here: {why}"),
        }
    }
}

/// **The** check of an op sequence: lowers `ops` and runs them on the model
/// and on `against` in lockstep; see the module docs.
pub fn check_ops(ops: &[Op], against: Against) -> Result<OpStats, Failure> {
    check_ops_with(ops, against, &mut || against.backend())
}

/// [`check_ops`] with the other backend made by `make` (a test makes a
/// concurrent backend with a mutant, say). `against` tells the lowering
/// which patterns to avoid and names the backend in reports.
pub fn check_ops_with(
    ops: &[Op],
    against: Against,
    make: &mut MakeBackend<'_>,
) -> Result<OpStats, Failure> {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut other = make().map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mut ls = Lockstep::quiet(FILE, &mut model, other.as_mut());
    let mut stmts: Vec<Stmt> = Vec::new();
    for mut stmt in lower.prologue() {
        stmt.line = stmts.len() + 1;
        let step = ls.step(&stmt);
        stmts.push(stmt);
        if let Err(stop) = step {
            drop(ls);
            drop(other);
            return Err(stopped(stop, stmts, against, make));
        }
    }
    let count = ops.len() as u64;
    let mut ops = ops.iter();
    loop {
        let Some(op) = ops.next() else {
            // The end: compare the state once more (the last statements may
            // have been reads).
            match ls.check_state() {
                Ok(()) => break,
                Err(stop) => {
                    drop(ls);
                    drop(other);
                    return Err(stopped(stop, stmts, against, make));
                }
            }
        };
        let Some(mut stmt) = lower.lower(op, &ls.model) else {
            continue;
        };
        stmt.line = stmts.len() + 1;
        let start = ls.model.entries().len();
        let step = ls.step(&stmt);
        stmts.push(stmt);
        match step {
            Ok(()) => {
                let stmt = stmts.last().expect("just pushed");
                let ok = ls.model.entries()[start] == Entry::Returned(Outcome::val(0));
                lower.observe(stmt, &ls.model, ok);
            }
            Err(stop) => {
                drop(ls);
                drop(other);
                return Err(stopped(stop, stmts, against, make));
            }
        }
    }
    let mut stats = Stats::default();
    stats.add_records(stmts.len() as u64, ls.model.records());
    stats.cases = 1;
    Ok(OpStats {
        ops: count,
        inputs: 1,
        stats,
    })
}

/// The script that `ops` lower to, lowered against the model alone (as
/// [`check_ops`] lowers it while both backends agree).
pub fn to_script(ops: &[Op], against: Against) -> Script {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut s = Session::quiet(FILE, &mut model);
    let mut stmts: Vec<Stmt> = Vec::new();
    for mut stmt in lower.prologue() {
        stmt.line = stmts.len() + 1;
        if let Err(e) = s.exec(&stmt) {
            panic!("the prologue stopped the model: {e}");
        }
        stmts.push(stmt);
    }
    for op in ops {
        let Some(mut stmt) = lower.lower(op, &s) else {
            continue;
        };
        stmt.line = stmts.len() + 1;
        let start = s.entries().len();
        if let Err(e) = s.exec(&stmt) {
            panic!("a lowered script stopped the model: {e}");
        }
        let ok = s.entries()[start] == Entry::Returned(Outcome::val(0));
        lower.observe(&stmt, &s, ok);
        stmts.push(stmt);
    }
    Script {
        file: FILE.to_string(),
        stmts,
    }
}

/// The failure for a check that stopped after `stmts`.
fn stopped(stop: Stop, stmts: Vec<Stmt>, against: Against, make: &mut MakeBackend<'_>) -> Failure {
    match stop {
        Stop::Unavailable(why) => Failure::Unavailable(why),
        // A lowered script is valid by construction.
        Stop::Both(e) => panic!("a lowered script stopped both backends: {e}"),
        Stop::Mismatch(quiet) => {
            let script = Script {
                file: FILE.to_string(),
                stmts,
            };
            // The quiet check has no trace lines: run the script again with
            // them for the report.
            let mismatch = match lockstep(&script, make) {
                Ok((_, Some(m))) => m,
                _ => quiet,
            };
            shrink_found(script, mismatch, against, make)
        }
    }
}

/// Shrinks a divergent script with [`conform::shrink`].
fn shrink_found(
    script: Script,
    mismatch: Mismatch,
    against: Against,
    make: &mut MakeBackend<'_>,
) -> Failure {
    // Re-parse so that the shrinker's candidates carry source line numbers.
    let script = Script::parse(FILE, &script.to_source()).expect("a lowered script parses");
    let mut fails = |s: &Script| matches!(lockstep(s, make), Ok((_, Some(_))));
    let shrunk = conform::shrink(&script, &mut fails);
    let shrunk_mismatch = match lockstep(&shrunk, make) {
        Ok((_, Some(m))) => m,
        _ => mismatch.clone(),
    };
    Failure::Diverged(Box::new(Found {
        against,
        script,
        mismatch,
        shrunk,
        shrunk_mismatch,
    }))
}

/// Where the fuzz targets save shrunk divergences: `$NSCHECK_REGRESSIONS`,
/// or `corpus/regressions/` of this checkout.
pub fn regressions_dir() -> PathBuf {
    std::env::var_os("NSCHECK_REGRESSIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/regressions"))
}

/// The body of the fuzz targets: decodes `bytes` and checks them; on a
/// divergence saves the shrunk script to [`regressions_dir`], prints it with
/// the command that replays it, and panics.
#[cfg(feature = "arbitrary")]
pub fn fuzz_one(bytes: &[u8], against: Against) {
    let Some(ops) = decode(bytes) else {
        return;
    };
    match check_ops(&ops, against) {
        Ok(_) => {}
        Err(Failure::Unavailable(why)) => panic!("the {} backend: {why}", against.name()),
        Err(Failure::Diverged(found)) => {
            eprintln!("{found}");
            match found.save(&regressions_dir()) {
                Ok(path) => eprintln!("saved; replay: {}", found.replay_command(&path)),
                Err(e) => eprintln!("cannot save the script: {e}"),
            }
            panic!("the model and {} differ", against.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let stats = check_ops(&ops, Against::Concurrent).unwrap_or_else(|f| panic!("{f}"));
            assert!(stats.stats.statements > 0 || ops.len() == 2);
        }
    }

    /// Deterministic pseudo-random inputs (an LCG is enough here).
    fn random_inputs(n: usize) -> Vec<Vec<u8>> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                let len = 1 + i % 200;
                let mut v = vec![VERSION];
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

    #[test]
    fn lowered_scripts_round_trip_through_the_parser() {
        for bytes in random_inputs(300) {
            let ops = decode(&bytes).expect("the version byte is right");
            for against in [Against::Concurrent, Against::Linux] {
                let script = to_script(&ops, against);
                let src = script.to_source();
                let again = Script::parse(FILE, &src).unwrap_or_else(|e| panic!("{e}\n{src}"));
                assert_eq!(again.to_source(), src);
                assert_eq!(again.stmts, script.stmts, "{src}");
            }
        }
    }

    #[test]
    fn random_inputs_agree_with_the_concurrent_implementation() {
        let mut total = OpStats::default();
        for case in 0..300 {
            let ops = generate_ops(1, case, 1 + case as usize % 60);
            let stats = check_ops(&ops, Against::Concurrent).unwrap_or_else(|f| panic!("{f}"));
            total.merge(&stats);
        }
        assert!(total.stats.statements > 1000, "{total:?}");
        assert!(total.success_share() > 0.2, "{}", total.success_share());
    }

    #[test]
    fn decode_needs_the_version() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[VERSION + 1, 1, 2, 3]), None);
        assert_eq!(decode(&[VERSION]), Some(Vec::new()));
    }
}
