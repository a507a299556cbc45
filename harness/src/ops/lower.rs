//! Lowering: each [`Op`] becomes at most one call, made by a task that may
//! call now, on a queue operand among the queues made so far, learnt from
//! the model's results ([`Lowering::observe`]). A lowered call ([`Low`]) is
//! compact: the caller's [`TaskId`] and the call with its arguments
//! evaluated; `print` turns it into a script statement when a
//! report needs one.

use nscheck_model::abi::{
    CAP_SYS_RESOURCE, CLONE_NEWIPC, CLONE_NEWPID, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT,
    IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT,
    MSG_STAT_ANY,
};
use nscheck_model::{Dialect, Event, MsgSet, Outcome, Ret, Step, Syscall, Sysctl, TaskId};

use super::input::{ChildOp, CtlOp, Op, PidOp};
use super::tables::{
    BAD_CAPS, BAD_CMDS, BAD_UID, CAPS, IDS, KEYS, LAST_PIDS, MODES, MTYPES, OUT_OF_RANGE,
    PID_MAXES, QBYTES, RAW_IDS, RAW_PIDS, RCV_SIZES, RCV_TYPES, SET_TIDS, SIZES, SYSCTLS, UIDS,
    VPID_VALUES, odd_set_tid, pick, small_or,
};
use crate::backend::model::ModelBackend;
use crate::backend::{Backend, BackendKind};
use crate::run::Record;

/// The most tasks a lowered script creates besides `t0`.
const MAX_CHILDREN: usize = 3;

/// The most `fork`/`clone` attempts, created or not.
pub(super) const MAX_FORKS: usize = 6;

/// The most [`PidOp::Nest`] clones besides those: one more than it takes to
/// go from the script's first namespace (level 1) past level 32.
pub(super) const MAX_NESTS: usize = 33;

/// The most tasks that [`PidOp::Spawn`] forks may bring the forks to: more
/// than the 300 numbers of the smallest pid space (`pid_max` 301).
pub(super) const MAX_SPAWNS: usize = 310;

/// A queue created by the script: `qN`.
#[derive(Clone, Debug)]
pub(super) struct QueueName {
    /// N of `qN`.
    pub(super) number: usize,
    id: i64,
    live: bool,
    /// The IPC namespace it was made in (the lowering's numbering).
    ns: usize,
    /// Another live name of the namespace had the same id when this one
    /// was bound (`msgget` of an existing key): operands use that one.
    alias: bool,
}

/// A task of a lowered script: 0 is `t0`, N is the child `cN`.
pub(super) type Who = usize;

/// What a lowered statement binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bind {
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
pub(super) struct Low {
    pub(super) who: Who,
    pub(super) task: TaskId,
    pub(super) call: Syscall,
    /// The queue operand, as an index into [`Lowering::queues`], where the
    /// statement names a queue (else its operand is a number).
    pub(super) operand: Option<usize>,
    /// The tasks whose pids the call's first and second pid operands are,
    /// where the statement names a task (else the operand is a number).
    pub(super) pids: [Option<Who>; 2],
    pub(super) bind: Bind,
}

/// `target`'s pid as `viewer` sees it, on the model: how a pid operand
/// naming a task is evaluated, as the script's run time evaluates a task
/// name.
pub(super) type Pidof<'a> = dyn FnMut(TaskId, TaskId) -> i64 + 'a;

/// Where a task is, as the lockstep's bookkeeping sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TaskState {
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
/// what a [`Session`](crate::run::Session) tracks, by [`TaskId`] instead of by name.
#[derive(Debug)]
pub(super) struct Book {
    tasks: Vec<TaskState>,
    /// The task of each child `cN` (at N-1), if its fork succeeded.
    children: Vec<Option<TaskId>>,
    pub(super) records: Vec<Record>,
}

impl Book {
    pub(super) fn new() -> Book {
        Book {
            tasks: vec![TaskState::Ready],
            children: Vec::new(),
            records: Vec::new(),
        }
    }

    pub(super) fn is_ready(&self, who: Who) -> bool {
        self.task_of(who)
            .is_some_and(|t| self.tasks[t.0] == TaskState::Ready)
    }

    /// The number of tasks made so far, `t0` included.
    pub(super) fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// The task of `who`, if it was created (`t0` always was).
    fn task_of(&self, who: Who) -> Option<TaskId> {
        match who {
            0 => Some(TaskId(0)),
            c => self.children.get(c - 1).copied().flatten(),
        }
    }

    /// Records what `low` did: `step`, then the `events` it caused. An
    /// error where the events do not fit the tasks.
    pub(super) fn apply(&mut self, low: &Low, step: &Step, events: &[Event]) -> Result<(), String> {
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
pub(super) struct Lowering {
    against: BackendKind,
    /// How many children were forked, created or not (`c1` to `cN`).
    pub(super) forks: usize,
    created: usize,
    pub(super) queues: Vec<QueueName>,
    next_queue: usize,
    /// The IPC namespace of each task (by [`Who`]), as far as the model's
    /// results show; `t0` stays in 0.
    ns: Vec<usize>,
    namespaces: usize,
    /// The level of each task's active PID namespace and of the one its
    /// children are made in (1 for the script's first), as far as the
    /// model's results show: a `set_tid` array from the table is never
    /// longer than the level of the namespace it names numbers in (the
    /// out-of-range bytes' arrays are, on purpose).
    pid_level: Vec<(usize, usize)>,
    /// Scratch lists of queue indices.
    live: Vec<usize>,
    stale: Vec<usize>,
}

impl Lowering {
    pub(super) fn new(against: BackendKind) -> Lowering {
        Lowering {
            against,
            forks: 0,
            created: 0,
            queues: Vec::new(),
            next_queue: 0,
            ns: vec![0],
            namespaces: 1,
            pid_level: vec![(1, 1)],
            live: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// The statements before the first op. Against the kernel `t0` drops
    /// `CAP_SYS_RESOURCE` first, as the conformance generator does: root
    /// may lack it on the host (a container, a VM), which the model cannot
    /// know.
    pub(super) fn prologue(&self) -> Option<Low> {
        self.against.is_real().then(|| Low {
            who: 0,
            task: TaskId(0),
            call: Syscall::Capdrop {
                cap: i64::from(CAP_SYS_RESOURCE),
            },
            operand: None,
            pids: [None; 2],
            bind: Bind::None,
        })
    }

    /// The tasks from `first` on that may call now, in creation order:
    /// `t0` (only a pid op makes it sleep or exit), then the children.
    fn ready<'b>(&self, book: &'b Book, first: Who) -> impl Iterator<Item = Who> + 'b {
        (first..=self.forks).filter(move |&c| book.is_ready(c))
    }

    /// Ready task number `i` (modulo their number) from `first` on, if any.
    fn nth_ready(&self, book: &Book, first: Who, i: u8) -> Option<Who> {
        let n = self.ready(book, first).count();
        (n > 0)
            .then(|| self.ready(book, first).nth(usize::from(i) % n))
            .flatten()
    }

    /// A ready task, if any.
    fn task(&self, book: &Book, i: u8) -> Option<Who> {
        self.nth_ready(book, 0, i)
    }

    /// A ready child, if any.
    fn child(&self, book: &Book, i: u8) -> Option<Who> {
        self.nth_ready(book, 1, i)
    }

    /// A name for the next child, `cN`: what its `fork` or `clone` binds.
    fn next_child(&mut self) -> Bind {
        self.forks += 1;
        self.ns.push(0);
        self.pid_level.push((1, 1));
        Bind::Child(self.forks)
    }

    /// The task of a ready `who`.
    pub(super) fn task_id(book: &Book, who: Who) -> TaskId {
        book.task_of(who).expect("a ready task was created")
    }

    /// A pid operand for `who`'s call: 0, the caller, `t0`, a task made so
    /// far (named, evaluated by `pidof` as the caller sees it), or a
    /// made-up number.
    fn pid_operand(
        &self,
        book: &Book,
        who: Who,
        i: u8,
        pidof: &mut Pidof<'_>,
    ) -> (Option<Who>, i64) {
        let made: Vec<Who> = (1..=self.forks)
            .filter(|&c| book.task_of(c).is_some())
            .collect();
        let i = usize::from(i) % (3 + made.len() + RAW_PIDS.len());
        let named = match i {
            0 => return (None, 0),
            1 => who,
            2 => 0,
            i if i < 3 + made.len() => made[i - 3],
            i => return (None, RAW_PIDS[i - 3 - made.len()]),
        };
        let caller = Self::task_id(book, who);
        let target = book.task_of(named).expect("a made task");
        (Some(named), pidof(caller, target))
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
    /// woken at once run in the scheduler's order (`docs/SCRIPT.md`).
    fn may_block(&self, book: &Book, who: Who, id: i64) -> bool {
        if who == 0 {
            return false;
        }
        !self.against.is_real()
            || !book
                .tasks
                .iter()
                .any(|t| matches!(*t, TaskState::Blocked { msqid: Some(q), .. } if q == id))
    }

    /// The statement for `op`, or `None` where it has none now (a fork past
    /// the task limit, a child-only op without a ready child).
    pub(super) fn lower(&mut self, op: &Op, book: &Book, pidof: &mut Pidof<'_>) -> Option<Low> {
        let mut operand = None;
        let mut pids = [None; 2];
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
                (self.task(book, task)?, Syscall::Msgget { key, msgflg })
            }
            Op::Snd {
                task,
                queue,
                mtype,
                size,
                nowait,
            } => {
                let who = self.task(book, task)?;
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
                let who = self.task(book, task)?;
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
                let who = self.task(book, task)?;
                let (q, id) = self.queue(who, queue);
                let (msqid, cmd, set) = match cmd {
                    CtlOp::Stat(cmd) if cmd >= OUT_OF_RANGE => {
                        operand = q;
                        (id, pick(BAD_CMDS, cmd), None)
                    }
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
                (self.task(book, task)?, Syscall::Sysctl { name, value })
            }
            Op::Fork { task, new_ipc } => {
                if self.created >= MAX_CHILDREN || self.forks >= MAX_FORKS {
                    return None;
                }
                let who = self.task(book, task)?;
                bind = self.next_child();
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
                        uid: self::uid(uid),
                    },
                    ChildOp::Setgid(gid) => Syscall::Setgid {
                        gid: self::uid(gid),
                    },
                    ChildOp::Capdrop(cap) if cap >= OUT_OF_RANGE => Syscall::Capdrop {
                        cap: pick(BAD_CAPS, cap),
                    },
                    ChildOp::Capdrop(cap) => Syscall::Capdrop {
                        cap: i64::from(pick(CAPS, cap).1),
                    },
                    ChildOp::Exit => Syscall::Exit { code: 0 },
                };
                (who, call)
            }
            // The kernel's pid numbers are compared by the conformance
            // scripts; against it the lowering makes msg calls only.
            Op::Pid { .. } if self.against.is_real() => return None,
            Op::Pid { task, op } => {
                // An exit is a child's while there is one: `t0`'s kills
                // every task and ends the input.
                let who = match op {
                    PidOp::Exit => self.child(book, task).or_else(|| self.task(book, task))?,
                    PidOp::Nest => self.ready(book, 0).last()?,
                    PidOp::Spawn => self.task(book, 0)?,
                    _ => self.task(book, task)?,
                };
                let mut pid = |j: usize, i: u8| {
                    let (named, v) = self.pid_operand(book, who, i, pidof);
                    pids[j] = named;
                    v
                };
                let call = match op {
                    PidOp::Getpid => Syscall::Getpid,
                    PidOp::Getppid => Syscall::Getppid,
                    PidOp::Getsid(p) => Syscall::Getsid { pid: pid(0, p) },
                    PidOp::Getpgid(p) => Syscall::Getpgid { pid: pid(0, p) },
                    PidOp::Setsid => Syscall::Setsid,
                    PidOp::Setpgid(p, g) => Syscall::Setpgid {
                        pid: pid(0, p),
                        pgid: pid(1, g),
                    },
                    PidOp::Waitpid(p) => {
                        // Only a task the caller sees can be waited for.
                        let v = pid(0, p);
                        if pids[0].is_none() || v <= 0 {
                            return None;
                        }
                        Syscall::Waitpid { pid: v }
                    }
                    PidOp::Clone { flags, set_tid } => {
                        if self.created >= MAX_CHILDREN || self.forks >= MAX_FORKS {
                            return None;
                        }
                        let mut clone_flags = 0;
                        let mut level = self.pid_level[who].1;
                        if flags & 1 != 0 {
                            clone_flags |= CLONE_NEWPID;
                            level += 1;
                        }
                        if flags & 2 != 0 && who != 0 {
                            clone_flags |= CLONE_NEWIPC;
                        }
                        // No entry for the host's level above the script's,
                        // except in the odd arrays of the bytes from
                        // OUT_OF_RANGE on (too long for any level, or one
                        // vpid-range entry).
                        let set_tid = set_tid.map_or(Vec::new(), |i| {
                            if i >= OUT_OF_RANGE {
                                return odd_set_tid(i, level);
                            }
                            let t = pick(SET_TIDS, i);
                            t[..t.len().min(level)].to_vec()
                        });
                        bind = self.next_child();
                        Syscall::Clone {
                            flags: clone_flags,
                            set_tid,
                        }
                    }
                    PidOp::Unshare(ipc) => Syscall::Unshare {
                        flags: if ipc && who != 0 {
                            CLONE_NEWPID | CLONE_NEWIPC
                        } else {
                            CLONE_NEWPID
                        },
                    },
                    PidOp::Sysctl { pid_max, value } => {
                        let (name, table) = if pid_max {
                            (Sysctl::PidMax, PID_MAXES)
                        } else {
                            (Sysctl::NsLastPid, LAST_PIDS)
                        };
                        let value = value.map(|v| {
                            if v >= OUT_OF_RANGE {
                                pick(VPID_VALUES, v)
                            } else {
                                pick(table, v)
                            }
                        });
                        Syscall::Sysctl { name, value }
                    }
                    PidOp::Exit => Syscall::Exit { code: 0 },
                    PidOp::Spawn => {
                        if self.forks >= MAX_SPAWNS {
                            return None;
                        }
                        bind = self.next_child();
                        Syscall::Fork
                    }
                    PidOp::Nest => {
                        if self.forks >= MAX_FORKS + MAX_NESTS {
                            return None;
                        }
                        bind = self.next_child();
                        Syscall::Clone {
                            flags: CLONE_NEWPID,
                            set_tid: Vec::new(),
                        }
                    }
                };
                (who, call)
            }
        };
        Some(Low {
            who,
            task: Self::task_id(book, who),
            call,
            operand,
            pids,
            bind,
        })
    }

    /// Learns from the model what `low` did (`step`): the queue it created
    /// or removed, the task it created, the namespace it entered.
    pub(super) fn observe(&mut self, low: &Low, book: &Book, step: &Step) {
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
                    let flags = match low.call {
                        Syscall::Clone { flags, .. } => flags,
                        _ => 0,
                    };
                    self.ns[child] = if flags & CLONE_NEWIPC != 0 {
                        self.namespaces += 1;
                        self.namespaces - 1
                    } else {
                        self.ns[low.who]
                    };
                    let level = self.pid_level[low.who].1 + usize::from(flags & CLONE_NEWPID != 0);
                    self.pid_level[child] = (level, level);
                }
            }
            Syscall::Unshare { flags } if returned_0 => {
                if flags & CLONE_NEWIPC != 0 {
                    self.namespaces += 1;
                    self.ns[low.who] = self.namespaces - 1;
                }
                if flags & CLONE_NEWPID != 0 {
                    self.pid_level[low.who].1 += 1;
                }
            }
            _ => {}
        }
    }
}

/// The uid or gid of a `setuid` or `setgid` whose field is `i`.
fn uid(i: u8) -> i64 {
    if i >= OUT_OF_RANGE {
        BAD_UID
    } else {
        pick(UIDS, i)
    }
}

/// `ops` lowered against the model alone (as [`check_ops`](super::check_ops) lowers them
/// while both backends agree): the lowering, and the statements with the
/// model's results.
pub(super) fn lower_alone(ops: &[Op], against: BackendKind) -> (Lowering, Vec<Low>, Book) {
    let mut lower = Lowering::new(against);
    let mut model = ModelBackend::new(Dialect::Mainline);
    let mut book = Book::new();
    let mut lows = Vec::new();
    let mut run = |low: Low, lower: &mut Lowering, book: &mut Book, model: &mut ModelBackend| {
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
        run(low, &mut lower, &mut book, &mut model);
    }
    for op in ops {
        let mut pidof = |viewer, target| model.pidof(viewer, target).expect("the model's pidof");
        if let Some(low) = lower.lower(op, &book, &mut pidof) {
            run(low, &mut lower, &mut book, &mut model);
        }
    }
    (lower, lows, book)
}
