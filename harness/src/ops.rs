//! The differential engine: op sequences, their lowering to scripts, and the
//! lockstep check that every fuzzing front end shares.
//!
//! An input is a version byte ([`VERSION`]) followed by a sequence of
//! [`Op`]s, decoded with `arbitrary` ([`decode`]). Each op becomes at most one
//! statement of a [`Script`]: the lowering picks the calling task among the
//! tasks that may call now and the queue operand among the queues created so
//! far, so a failing input is always printable and replayable as an `.nsc`
//! file. [`check_ops`] runs the statements' calls on the model and on the
//! other backend in lockstep and compares, after every statement, the
//! results and events, and a digest of the IPC state ([`Backend::digest`])
//! after every statement that may write and at the end. On a divergence it
//! runs the script again through [`Lockstep`] for a report with trace lines
//! and shrinks it with [`conform::shrink`]; a front end then saves it
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

use std::path::{Path, PathBuf};

use nscheck_model::abi::{
    CAP_CHECKPOINT_RESTORE, CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CLONE_NEWIPC,
    IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_EXCEPT,
    MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY,
};
use nscheck_model::{
    Dialect, DigestWords, Event, MsgSet, Outcome, Ret, Step, Syscall, Sysctl, TaskId,
};

use crate::backend::model::ModelBackend;
use crate::backend::{Backend, BackendError};
use crate::conform::{self, Divergence, Stats};
use crate::run::{Record, RunError, Session};
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
    use arbitrary::Unstructured;
    match bytes.split_first() {
        // `Vec::<Op>::arbitrary_take_rest`, truncated: the same ops, without
        // reading the ones past the cap (an `Op` never fails to decode, so
        // the rest cannot make the whole input fail either).
        Some((&VERSION, rest)) => {
            let mut ops = Vec::with_capacity(MAX_OPS);
            for op in Unstructured::new(rest)
                .arbitrary_take_rest_iter::<Op>()
                .ok()?
                .take(MAX_OPS)
            {
                ops.push(op.ok()?);
            }
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

/// A byte count: mostly small (`0..=16`, for bytes below 200), else from
/// `table`.
fn small_or(table: &[i64], i: u8) -> i64 {
    if i < 200 {
        i64::from(i % 17)
    } else {
        pick(table, i - 200)
    }
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

/// A queue created by the script: `qN`.
#[derive(Clone, Debug)]
struct QueueName {
    /// N of `qN`.
    number: usize,
    id: i64,
    live: bool,
    /// The IPC namespace it was made in (the lowering's numbering).
    ns: usize,
    /// Another live name of the namespace had the same id when this one
    /// was bound (`msgget` of an existing key): operands use that one.
    alias: bool,
}

/// A task of a lowered script: 0 is `t0`, N is the child `cN`.
type Who = usize;

/// The name of `who` in the script.
fn who_name(who: Who) -> String {
    if who == 0 {
        "t0".to_string()
    } else {
        format!("c{who}")
    }
}

/// What a lowered statement binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bind {
    None,
    /// `qN = msgget(...)`.
    Queue(usize),
    /// `cN = fork()` or `cN = clone(...)`.
    Child(Who),
}

/// A lowered statement in compact form: the caller and the call with its
/// arguments already evaluated, which is all the lockstep needs, and what
/// its script statement names ([`Lowering::to_stmt`] prints it when a
/// report needs it). Both backends get the same call: while their results
/// agree, every name the statement uses is bound to the same value in both.
#[derive(Clone, Debug)]
struct Low {
    who: Who,
    task: TaskId,
    call: Syscall,
    /// The queue operand, as an index into [`Lowering::queues`], where the
    /// statement names a queue (else its operand is a number).
    operand: Option<usize>,
    bind: Bind,
}

/// Where a task is, as the lockstep's bookkeeping sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskState {
    /// It may call.
    Ready,
    /// It sleeps in this call (with its queue operand, for `msgsnd` and
    /// `msgrcv`).
    Blocked {
        call: &'static str,
        msqid: Option<i64>,
    },
    /// It has exited or was killed.
    Gone,
}

/// The tasks of a lowered script and the calls they finished, kept from the
/// model's results (the other backend's are the same, or the check stops):
/// what a [`Session`] tracks, by [`TaskId`] instead of by name.
#[derive(Debug)]
struct Book {
    tasks: Vec<TaskState>,
    /// The task of each child `cN` (at N-1), if its fork succeeded.
    children: Vec<Option<TaskId>>,
    records: Vec<Record>,
}

impl Book {
    fn new() -> Book {
        Book {
            tasks: vec![TaskState::Ready],
            children: Vec::new(),
            records: Vec::new(),
        }
    }

    fn is_ready(&self, who: Who) -> bool {
        who == 0
            || matches!(self.children.get(who - 1), Some(Some(t))
                if self.tasks[t.0] == TaskState::Ready)
    }

    /// Records what `low` did: `step`, then the `events` it caused. An
    /// error where the events do not fit the tasks.
    fn apply(&mut self, low: &Low, step: &Step, events: &[Event]) -> Result<(), String> {
        let name = low.call.name();
        match step {
            Step::Done(outcome) => {
                self.records.push(Record {
                    call: name,
                    errno: outcome.errno(),
                });
                if let Bind::Child(child) = low.bind {
                    let id = matches!(outcome.ret, Ret::Val(_)).then(|| {
                        self.tasks.push(TaskState::Ready);
                        TaskId(self.tasks.len() - 1)
                    });
                    if self.children.len() < child {
                        self.children.resize(child, None);
                    }
                    self.children[child - 1] = id;
                }
                if outcome.ret == Ret::NoReturn {
                    self.tasks[low.task.0] = TaskState::Gone;
                }
            }
            Step::Blocked => {
                let msqid = match low.call {
                    Syscall::Msgsnd { msqid, .. } | Syscall::Msgrcv { msqid, .. } => Some(msqid),
                    _ => None,
                };
                self.tasks[low.task.0] = TaskState::Blocked { call: name, msqid };
            }
        }
        for ev in events {
            match ev {
                Event::Resumed { task, outcome } => match self.tasks.get(task.0) {
                    Some(&TaskState::Blocked { call, .. }) => {
                        self.tasks[task.0] = TaskState::Ready;
                        self.records.push(Record {
                            call,
                            errno: outcome.errno(),
                        });
                    }
                    _ => return Err(format!("task #{} resumed but was not blocked", task.0)),
                },
                Event::Killed { task } => match self.tasks.get_mut(task.0) {
                    Some(t) => *t = TaskState::Gone,
                    None => return Err(format!("task #{} was killed but does not exist", task.0)),
                },
            }
        }
        Ok(())
    }
}

/// What the lowering knows: the tasks and queues made so far.
#[derive(Debug)]
struct Lowering {
    against: Against,
    /// How many children were forked, created or not (`c1` to `cN`).
    forks: usize,
    created: usize,
    queues: Vec<QueueName>,
    next_queue: usize,
    /// The IPC namespace of each task (by [`Who`]), as far as the model's
    /// results show; `t0` stays in 0.
    ns: [usize; MAX_FORKS + 1],
    namespaces: usize,
    /// Scratch lists of queue indices.
    live: Vec<usize>,
    stale: Vec<usize>,
}

impl Lowering {
    fn new(against: Against) -> Lowering {
        Lowering {
            against,
            forks: 0,
            created: 0,
            queues: Vec::new(),
            next_queue: 0,
            ns: [0; MAX_FORKS + 1],
            namespaces: 1,
            live: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// The statements before the first op. Against the kernel `t0` drops
    /// `CAP_SYS_RESOURCE` first, as the conformance generator does: root
    /// may lack it on the host (a container, a VM), which the model cannot
    /// know.
    fn prologue(&self) -> Option<Low> {
        match self.against {
            Against::Concurrent => None,
            Against::Linux => Some(Low {
                who: 0,
                task: TaskId(0),
                call: Syscall::Capdrop {
                    cap: i64::from(CAP_SYS_RESOURCE),
                },
                operand: None,
                bind: Bind::None,
            }),
        }
    }

    /// The tasks that may call now: `t0` first, then the ready children.
    fn ready(&self, book: &Book) -> ([Who; MAX_FORKS + 1], usize) {
        let mut ready = [0; MAX_FORKS + 1];
        let mut n = 1;
        for c in 1..=self.forks {
            if book.is_ready(c) {
                ready[n] = c;
                n += 1;
            }
        }
        (ready, n)
    }

    fn task(&self, book: &Book, i: u8) -> Who {
        let (ready, n) = self.ready(book);
        ready[usize::from(i) % n]
    }

    /// A ready child, if any.
    fn child(&self, book: &Book, i: u8) -> Option<Who> {
        let (ready, n) = self.ready(book);
        (n > 1).then(|| ready[1 + usize::from(i) % (n - 1)])
    }

    /// The task of a ready `who`.
    fn task_id(book: &Book, who: Who) -> TaskId {
        if who == 0 {
            TaskId(0)
        } else {
            book.children[who - 1].expect("a ready child was created")
        }
    }

    /// A queue operand for `who`: mostly a live queue of its IPC namespace
    /// (slot modulo the live list), sometimes a removed one, another
    /// namespace's or a failed `msgget`'s -1, sometimes a made-up id.
    fn queue(&mut self, who: Who, slot: u8) -> (Option<usize>, i64) {
        let ns = self.ns[who];
        self.live.clear();
        self.stale.clear();
        // A live queue is named by its first name only: `IPC_RMID` ends
        // every name of an id at once, so the first is live while an alias is.
        for (i, q) in self.queues.iter().enumerate() {
            if q.live && q.ns == ns {
                if !q.alias {
                    self.live.push(i);
                }
            } else {
                self.stale.push(i);
            }
        }
        let named = |i: usize| (Some(i), self.queues[i].id);
        match slot {
            0..224 if !self.live.is_empty() => {
                named(self.live[usize::from(slot) % self.live.len()])
            }
            224..240 if !self.stale.is_empty() => {
                named(self.stale[usize::from(slot) % self.stale.len()])
            }
            _ => (None, pick(RAW_IDS, slot)),
        }
    }

    /// Whether a call on queue `id` by `who` may sleep. `t0` never sleeps.
    /// Against the kernel at most one task sleeps on a queue: two sleepers
    /// woken at once run in the scheduler's order (`SCRIPT.md`).
    fn may_block(&self, book: &Book, who: Who, id: i64) -> bool {
        if who == 0 {
            return false;
        }
        self.against != Against::Linux
            || !book
                .tasks
                .iter()
                .any(|t| matches!(*t, TaskState::Blocked { msqid: Some(q), .. } if q == id))
    }

    /// The statement for `op`, or `None` where it has none now (a fork past
    /// the task limit, a child-only op without a ready child).
    fn lower(&mut self, op: &Op, book: &Book) -> Option<Low> {
        let mut operand = None;
        let mut bind = Bind::None;
        let (who, call) = match *op {
            Op::Get {
                task,
                key,
                flags,
                mode,
            } => {
                let mut msgflg = pick(MODES, mode);
                if flags & 3 != 0 {
                    msgflg |= IPC_CREAT;
                }
                if flags & 4 != 0 {
                    msgflg |= IPC_EXCL;
                }
                self.next_queue += 1;
                bind = Bind::Queue(self.next_queue);
                let key = pick(KEYS, key);
                (self.task(book, task), Syscall::Msgget { key, msgflg })
            }
            Op::Snd {
                task,
                queue,
                mtype,
                size,
                nowait,
            } => {
                let who = self.task(book, task);
                let (q, msqid) = self.queue(who, queue);
                operand = q;
                let size = small_or(SIZES, size);
                let msgflg = if nowait || !self.may_block(book, who, msqid) {
                    IPC_NOWAIT
                } else {
                    0
                };
                let call = Syscall::Msgsnd {
                    msqid,
                    mtype: pick(MTYPES, mtype),
                    text: crate::run::pattern(size as usize),
                    msgflg,
                };
                (who, call)
            }
            Op::Rcv {
                task,
                queue,
                size,
                typ,
                flags,
            } => {
                let who = self.task(book, task);
                let (q, msqid) = self.queue(who, queue);
                operand = q;
                let msgsz = small_or(RCV_SIZES, size);
                let mut msgflg = 0;
                if flags & 1 != 0 || !self.may_block(book, who, msqid) {
                    msgflg |= IPC_NOWAIT;
                }
                if flags & 2 != 0 {
                    msgflg |= MSG_NOERROR;
                }
                if flags & 4 != 0 {
                    msgflg |= MSG_EXCEPT;
                }
                if flags & 24 == 24 {
                    msgflg |= MSG_COPY;
                }
                let call = Syscall::Msgrcv {
                    msqid,
                    msgsz,
                    msgtyp: pick(RCV_TYPES, typ),
                    msgflg,
                };
                (who, call)
            }
            Op::Ctl { task, queue, cmd } => {
                let who = self.task(book, task);
                let (q, id) = self.queue(who, queue);
                let (msqid, cmd, set) = match cmd {
                    CtlOp::Stat(cmd) => match cmd % 4 {
                        0 | 1 => {
                            operand = q;
                            (id, IPC_STAT, None)
                        }
                        // MSG_STAT and MSG_STAT_ANY take an index.
                        2 => (id & 0x7fff, MSG_STAT, None),
                        _ => (id & 0x7fff, MSG_STAT_ANY, None),
                    },
                    CtlOp::Info(msg_info) => (0, if msg_info { MSG_INFO } else { IPC_INFO }, None),
                    CtlOp::Set {
                        qbytes,
                        uid,
                        gid,
                        mode,
                    } => {
                        operand = q;
                        let set = MsgSet {
                            msg_qbytes: qbytes.map(|v| pick(QBYTES, v)),
                            uid: uid.map(|v| pick(IDS, v)),
                            gid: gid.map(|v| pick(IDS, v)),
                            mode: mode.map(|v| pick(MODES, v)),
                        };
                        (id, IPC_SET, Some(set))
                    }
                    CtlOp::Rmid => {
                        operand = q;
                        (id, IPC_RMID, None)
                    }
                };
                (who, Syscall::Msgctl { msqid, cmd, set })
            }
            Op::Sysctl { task, name, value } => {
                let (path, values) = pick(SYSCTLS, name);
                let name = Sysctl::from_path(path).expect("a known sysctl");
                let value = value.map(|v| pick(values, v));
                (self.task(book, task), Syscall::Sysctl { name, value })
            }
            Op::Fork { task, new_ipc } => {
                if self.created >= MAX_CHILDREN || self.forks >= MAX_FORKS {
                    return None;
                }
                let who = self.task(book, task);
                self.forks += 1;
                bind = Bind::Child(self.forks);
                let call = if new_ipc {
                    Syscall::Clone {
                        flags: CLONE_NEWIPC,
                        set_tid: Vec::new(),
                    }
                } else {
                    Syscall::Fork
                };
                (who, call)
            }
            Op::Child { task, op } => {
                let who = self.child(book, task)?;
                let call = match op {
                    ChildOp::Unshare => Syscall::Unshare {
                        flags: CLONE_NEWIPC,
                    },
                    ChildOp::Setuid(uid) => Syscall::Setuid {
                        uid: pick(UIDS, uid),
                    },
                    ChildOp::Setgid(gid) => Syscall::Setgid {
                        gid: pick(UIDS, gid),
                    },
                    ChildOp::Capdrop(cap) => Syscall::Capdrop {
                        cap: i64::from(pick(CAPS, cap).1),
                    },
                    ChildOp::Exit => Syscall::Exit { code: 0 },
                };
                (who, call)
            }
        };
        Some(Low {
            who,
            task: Self::task_id(book, who),
            call,
            operand,
            bind,
        })
    }

    /// Learns from the model what `low` did (`step`): the queue it created
    /// or removed, the task it created, the namespace it entered.
    fn observe(&mut self, low: &Low, book: &Book, step: &Step) {
        let ret = match step {
            Step::Done(o) => Some(o),
            Step::Blocked => None,
        };
        let returned_0 = ret.is_some_and(|o| *o == Outcome::val(0));
        match low.call {
            Syscall::Msgget { .. } => {
                let Bind::Queue(number) = low.bind else {
                    unreachable!("msgget binds a queue")
                };
                let id = match ret.map(|o| o.ret) {
                    Some(Ret::Val(v)) => v,
                    _ => -1,
                };
                let ns = self.ns[low.who];
                let alias = id >= 0
                    && self
                        .queues
                        .iter()
                        .any(|q| q.live && q.ns == ns && q.id == id);
                self.queues.push(QueueName {
                    number,
                    id,
                    live: id >= 0,
                    ns,
                    alias,
                });
            }
            Syscall::Msgctl { cmd: IPC_RMID, .. } if returned_0 => {
                if let Some(q) = low.operand {
                    let (id, ns) = (self.queues[q].id, self.ns[low.who]);
                    for q in self.queues.iter_mut().filter(|q| q.id == id && q.ns == ns) {
                        q.live = false;
                    }
                }
            }
            Syscall::Fork | Syscall::Clone { .. } => {
                let Bind::Child(child) = low.bind else {
                    unreachable!("a new task is named")
                };
                if book.is_ready(child) {
                    self.created += 1;
                    self.ns[child] = if matches!(low.call, Syscall::Clone { .. }) {
                        self.namespaces += 1;
                        self.namespaces - 1
                    } else {
                        self.ns[low.who]
                    };
                }
            }
            Syscall::Unshare { .. } if returned_0 => {
                self.namespaces += 1;
                self.ns[low.who] = self.namespaces - 1;
            }
            _ => {}
        }
    }

    /// The script statement of `low`.
    fn to_stmt(&self, low: &Low) -> Stmt {
        let word = |w: &str| Value::Or(vec![ident(w)]);
        let q = |v: i64| match low.operand {
            Some(i) => word(&format!("q{}", self.queues[i].number)),
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
                    _ => unreachable!("the lowering makes no other command"),
                };
                let mut args = vec![pos(q(msqid)), pos(word(name))];
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
            Syscall::Clone { .. } => ("clone", vec![pos(word("CLONE_NEWIPC"))]),
            Syscall::Unshare { .. } => ("unshare", vec![pos(word("CLONE_NEWIPC"))]),
            &Syscall::Setuid { uid } => ("setuid", vec![pos(num(uid))]),
            &Syscall::Setgid { gid } => ("setgid", vec![pos(num(gid))]),
            &Syscall::Capdrop { cap } => {
                let (name, _) = CAPS
                    .iter()
                    .find(|(_, c)| i64::from(*c) == cap)
                    .expect("the lowering drops only the capabilities of CAPS");
                ("capdrop", vec![pos(word(name))])
            }
            &Syscall::Exit { code } => ("exit", vec![pos(num(code))]),
            other => unreachable!("the lowering makes no {}()", other.name()),
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
    fn script(&self, lows: &[Low]) -> Script {
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
    let (statements, records) = check_lowered(ops, against, make)?;
    let mut stats = Stats::default();
    stats.add_records(statements as u64, &records);
    stats.cases = 1;
    Ok(OpStats {
        ops: ops.len() as u64,
        inputs: 1,
        stats,
    })
}

/// [`check_ops_with`] without the statistics: the number of statements and
/// the calls that finished.
fn check_lowered(
    ops: &[Op],
    against: Against,
    make: &mut MakeBackend<'_>,
) -> Result<(usize, Vec<Record>), Failure> {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut other = make().map_err(|e| Failure::Unavailable(e.to_string()))?;
    let mut ck = Check::new(&mut model, other.as_mut());
    let mut lows: Vec<Low> = Vec::with_capacity(ops.len().min(MAX_OPS) + 1);
    let mut run = || -> Result<(), Stop> {
        if let Some(low) = lower.prologue() {
            let step = ck.step(&low, lows.len() + 1);
            lows.push(low);
            step?;
        }
        for op in ops {
            let Some(low) = lower.lower(op, &ck.book) else {
                continue;
            };
            let step = ck.step(&low, lows.len() + 1);
            if let Ok(step) = &step {
                lower.observe(&low, &ck.book, step);
            }
            lows.push(low);
            step?;
        }
        // The end: compare the state once more (the last statements may
        // have been reads, or failed).
        ck.check_state(lows.len())
    };
    if let Err(stop) = run() {
        drop(ck);
        drop(other);
        return Err(stopped(stop, lower.script(&lows), against, make));
    }
    Ok((lows.len(), ck.book.records))
}

/// The model and another backend driven call by call, compared after
/// every call: the fast path of [`check_ops`]. It does what a quiet
/// [`Lockstep`] does, without scripts: both backends get the lowered call
/// ([`Low`]), their results and events are compared as values, and one
/// bookkeeping ([`Book`]) follows the tasks. Any difference stops it; the
/// report comes from running the script through [`lockstep`] again.
struct Check<'a> {
    model: &'a mut dyn Backend,
    other: &'a mut dyn Backend,
    book: Book,
    /// The digests' buffers, reused from one comparison to the next.
    digests: (DigestWords, DigestWords),
}

impl<'a> Check<'a> {
    fn new(model: &'a mut dyn Backend, other: &'a mut dyn Backend) -> Check<'a> {
        Check {
            model,
            other,
            book: Book::new(),
            // Room for a few namespaces of a dozen queues: no growth.
            digests: (
                DigestWords::with_capacity(512),
                DigestWords::with_capacity(512),
            ),
        }
    }

    /// Runs statement number `n` (`low`) on both backends and compares
    /// their results and events, then their digests unless the call
    /// provably changed no IPC state ([`writes_nothing`]). The model's
    /// result.
    fn step(&mut self, low: &Low, n: usize) -> Result<Step, Stop> {
        let differ = |what: &str, model: String, other: String| {
            Stop::Mismatch(Mismatch::Trace(Divergence {
                index: n - 1,
                expected: Some(format!("statement {n}: {what} {model}")),
                actual: Some(format!("statement {n}: {what} {other}")),
            }))
        };
        let rm = self.model.call(low.task, &low.call);
        let ro = self.other.call(low.task, &low.call);
        let step = match (rm, ro) {
            (_, Err(BackendError::Unavailable(why))) | (Err(BackendError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(m), Ok(o)) if m == o => m,
            (Err(m), Err(o)) if m == o => {
                return Err(Stop::Both(RunError::Failed {
                    file: FILE.to_string(),
                    line: n,
                    msg: m.to_string(),
                }));
            }
            (m, o) => return Err(differ("returned", format!("{m:?}"), format!("{o:?}"))),
        };
        let em = self.model.take_events();
        let eo = self.other.take_events();
        let events = match (em, eo) {
            (_, Err(BackendError::Unavailable(why))) | (Err(BackendError::Unavailable(why)), _) => {
                return Err(Stop::Unavailable(why));
            }
            (Ok(m), Ok(o)) if m == o => m,
            (m, o) => return Err(differ("caused", format!("{m:?}"), format!("{o:?}"))),
        };
        if let Err(e) = self.book.apply(low, &step, &events) {
            return Err(Stop::Mismatch(Mismatch::Error {
                statement: n,
                model: Some(e.clone()),
                other: Some(e),
            }));
        }
        if !writes_nothing(&low.call, &step, &events) {
            self.check_state(n)?;
        }
        Ok(step)
    }

    /// Compares the digests of the two backends after statement `n`.
    fn check_state(&mut self, n: usize) -> Result<(), Stop> {
        let (dm, d_o) = &mut self.digests;
        let digest = |b: &mut dyn Backend, d: &mut DigestWords| match b.digest_words(d) {
            Ok(taken) => Ok(taken),
            Err(BackendError::Unavailable(why)) => Err(Stop::Unavailable(why)),
            Err(e) => Err(Stop::Mismatch(Mismatch::Error {
                statement: n,
                model: None,
                other: Some(format!("the digest failed: {e}")),
            })),
        };
        if !(digest(self.model, dm)? && digest(self.other, d_o)?) {
            return Ok(());
        }
        if dm.words() != d_o.words() {
            return Err(Stop::Mismatch(Mismatch::State {
                statement: n,
                model: dm.digest().lines(),
                other: d_o.digest().lines(),
            }));
        }
        Ok(())
    }
}

/// Whether a call that had `step` and caused `events` provably changed no
/// IPC state, so that the digest after it may wait for the next statement
/// that may write (or the end of the check): a read ([`reads_only_call`]);
/// a call that never reaches the IPC code (`fork`, credentials); or a call
/// that failed at once and woke or killed nobody (every call checks its
/// errors before it changes anything; should the implementation change
/// something all the same, the next digest shows it).
fn writes_nothing(call: &Syscall, step: &Step, events: &[Event]) -> bool {
    reads_only_call(call)
        || matches!(
            call,
            Syscall::Fork
                | Syscall::Setuid { .. }
                | Syscall::Setgid { .. }
                | Syscall::Capdrop { .. }
        )
        || (events.is_empty() && matches!(step, Step::Done(o) if matches!(o.ret, Ret::Err(_))))
}

/// [`reads_only`] for an evaluated call.
fn reads_only_call(call: &Syscall) -> bool {
    match *call {
        Syscall::Msgctl { cmd, .. } => {
            matches!(
                cmd,
                IPC_STAT | MSG_STAT | MSG_STAT_ANY | IPC_INFO | MSG_INFO
            )
        }
        Syscall::Sysctl { value, .. } => value.is_none(),
        Syscall::Getpid | Syscall::Getppid | Syscall::Getsid { .. } | Syscall::Getpgid { .. } => {
            true
        }
        _ => false,
    }
}

/// `ops` lowered against the model alone (as [`check_ops`] lowers them
/// while both backends agree): the lowering, and the statements with the
/// model's results.
fn lower_alone(ops: &[Op], against: Against) -> (Lowering, Vec<Low>, Book) {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut book = Book::new();
    let mut lows = Vec::new();
    let mut run = |low: Low, lower: &mut Lowering, book: &mut Book| {
        let step = model
            .call(low.task, &low.call)
            .unwrap_or_else(|e| panic!("a lowered script stopped the model: {e}"));
        let events = model.take_events().expect("the model has events");
        book.apply(&low, &step, &events)
            .unwrap_or_else(|e| panic!("the model's events: {e}"));
        lower.observe(&low, book, &step);
        lows.push(low);
    };
    if let Some(low) = lower.prologue() {
        run(low, &mut lower, &mut book);
    }
    for op in ops {
        if let Some(low) = lower.lower(op, &book) {
            run(low, &mut lower, &mut book);
        }
    }
    (lower, lows, book)
}

/// The script that `ops` lower to, lowered against the model alone (as
/// [`check_ops`] lowers it while both backends agree).
pub fn to_script(ops: &[Op], against: Against) -> Script {
    let (lower, lows, _) = lower_alone(ops, against);
    lower.script(&lows)
}

/// The failure for a check that stopped after the statements of `script`.
fn stopped(stop: Stop, script: Script, against: Against, make: &mut MakeBackend<'_>) -> Failure {
    match stop {
        Stop::Unavailable(why) => Failure::Unavailable(why),
        // A lowered script is valid by construction.
        Stop::Both(e) => panic!("a lowered script stopped both backends: {e}"),
        Stop::Mismatch(quiet) => {
            // The quick check has no trace lines: run the script again with
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
    match check_lowered(&ops, against, &mut || against.backend()) {
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

    /// The fast path gives both backends the lowered call: it must be the
    /// call its printed statement makes, and the bookkeeping must follow
    /// the tasks as a session does.
    #[test]
    fn lowered_calls_are_what_their_statements_make() {
        for bytes in random_inputs(300) {
            let ops = decode(&bytes).expect("the version byte is right");
            for against in [Against::Concurrent, Against::Linux] {
                let (lower, lows, book) = lower_alone(&ops, against);
                let mut model = ModelBackend::new(Dialect::Mainline);
                let mut s = Session::quiet(FILE, &mut model);
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
            let stats = check_ops(&ops, Against::Concurrent).unwrap_or_else(|f| panic!("{f}"));
            total.merge(&stats);
        }
        assert!(total.stats.statements > 1000, "{total:?}");
        assert!(total.success_share() > 0.2, "{}", total.success_share());
    }

    /// `decode` reads only the first [`MAX_OPS`] ops, which must be what
    /// the whole input decodes to, truncated.
    #[test]
    fn decode_is_the_truncated_take_rest() {
        use arbitrary::{Arbitrary, Unstructured};
        for bytes in random_inputs(300).iter().chain(&[vec![VERSION; 4000]]) {
            let mut all = Vec::<Op>::arbitrary_take_rest(Unstructured::new(&bytes[1..]))
                .expect("an op never fails to decode");
            all.truncate(MAX_OPS);
            assert_eq!(decode(bytes), Some(all));
        }
    }

    #[test]
    fn decode_needs_the_version() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[VERSION + 1, 1, 2, 3]), None);
        assert_eq!(decode(&[VERSION]), Some(Vec::new()));
    }
}
