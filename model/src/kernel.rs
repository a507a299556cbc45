//! The model's kernel: tasks, credentials, namespaces, sleeping and waking,
//! and the dispatch of each [`Syscall`] to the file that specifies it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::abi::*;
use crate::dialect::Dialect;
use crate::ipc::{Cred, IpcNs, Msg, Receiver};
use crate::syscall::{Event, Outcome, Ret, Step, Syscall, Sysctl, TaskId};

/// Why the model refused a call outright (not an errno: a misuse of the model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No task has this id.
    NoSuchTask(TaskId),
    /// The task is asleep in an earlier call.
    Blocked(TaskId),
    /// The task has exited or was killed.
    Exited(TaskId),
    /// The model does not specify this call yet.
    Unsupported(&'static str),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoSuchTask(t) => write!(f, "there is no task #{}", t.0),
            CallError::Blocked(t) => write!(f, "task #{} is blocked in an earlier call", t.0),
            CallError::Exited(t) => write!(f, "task #{} has exited", t.0),
            CallError::Unsupported(what) => write!(f, "not modelled yet: {what}"),
        }
    }
}

impl std::error::Error for CallError {}

/// What a sleeping task waits for; enough to run its call again when woken.
#[derive(Clone, Debug)]
pub(crate) enum Wake {
    /// `msgsnd` on a full queue.
    Send { msqid: i64, msg: Msg, msgflg: i64 },
    /// `msgrcv` with nothing to receive.
    Recv {
        msqid: i64,
        r: Receiver,
        msgflg: i64,
    },
    /// `waitpid` for a child that is still running.
    Wait { child: TaskId },
}

#[derive(Clone, Debug)]
struct Blocked {
    /// The order in which tasks went to sleep; resumes are reported in it.
    order: u64,
    wake: Wake,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Zombie,
    Reaped,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pid: i64,
    parent: Option<TaskId>,
    ipc_ns: usize,
    pub cred: Cred,
    state: State,
}

/// The single PID namespace of the IPC model: an IDR with a cyclic cursor.
#[derive(Clone, Debug)]
struct PidNs {
    cursor: i64,
    pid_max: i64,
    used: BTreeSet<i64>,
}

/// `RESERVED_PIDS`: after the first wrap, numbers below it are skipped.
const RESERVED_PIDS: i64 = 300;

impl PidNs {
    /// `alloc_pid` at one level: `idr_alloc_cyclic(pid_min, pid_max)`.
    fn alloc(&mut self) -> Result<i64, Errno> {
        let start = if self.cursor > RESERVED_PIDS {
            RESERVED_PIDS
        } else {
            1
        };
        let end = self.pid_max;
        let curr = self.cursor.max(start);
        let free = |n: &i64| !self.used.contains(n);
        let nr = (curr..end)
            .find(free)
            .or_else(|| (start..curr.min(end)).find(free))
            .ok_or(Errno::EAGAIN)?;
        self.used.insert(nr);
        self.cursor = nr + 1;
        Ok(nr)
    }
}

/// The whole modelled system: every task and namespace.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub(crate) dialect: Dialect,
    tasks: Vec<Task>,
    pub(crate) ipc_nss: Vec<IpcNs>,
    pid_ns: PidNs,
    blocked: BTreeMap<TaskId, Blocked>,
    next_order: u64,
    runqueue: VecDeque<TaskId>,
    resumed: Vec<(u64, TaskId, Outcome)>,
    killed: Vec<TaskId>,
}

impl Kernel {
    /// A fresh system whose only task, `t0`, is pid 1 of a new PID namespace
    /// in a new IPC namespace, running as root with every capability.
    pub fn new(dialect: Dialect) -> Kernel {
        let mut pid_ns = PidNs {
            cursor: 0,
            pid_max: PID_MAX_DEFAULT,
            used: BTreeSet::new(),
        };
        let pid = pid_ns.alloc().expect("a new namespace has room");
        Kernel {
            dialect,
            tasks: vec![Task {
                pid,
                parent: None,
                ipc_ns: 0,
                cred: Cred::root(),
                state: State::Running,
            }],
            ipc_nss: vec![IpcNs::new()],
            pid_ns,
            blocked: BTreeMap::new(),
            next_order: 0,
            runqueue: VecDeque::new(),
            resumed: Vec::new(),
            killed: Vec::new(),
        }
    }

    /// The dialect the model follows.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Makes `task` run `call`. The events that follow (resumed and killed
    /// tasks) are collected by [`Kernel::take_events`].
    pub fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, CallError> {
        match self.tasks.get(task.0) {
            None => return Err(CallError::NoSuchTask(task)),
            Some(t) if t.state != State::Running => return Err(CallError::Exited(task)),
            Some(_) if self.blocked.contains_key(&task) => return Err(CallError::Blocked(task)),
            Some(_) => {}
        }
        let done = |o: Outcome| Ok(Step::Done(o));
        let step = match *call {
            Syscall::Msgget { key, msgflg } => done(self.msgget(task, key, msgflg)),
            Syscall::Msgsnd {
                msqid,
                mtype,
                ref text,
                msgflg,
            } => Ok(self
                .msgsnd(task, msqid, mtype, text, msgflg)
                .map_or(Step::Blocked, Step::Done)),
            Syscall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
                msgflg,
            } => Ok(self
                .msgrcv(task, msqid, msgsz, msgtyp, msgflg)
                .map_or(Step::Blocked, Step::Done)),
            Syscall::Msgctl { msqid, cmd, set } => done(self.msgctl(task, msqid, cmd, set)),
            Syscall::Sysctl { name, value } => done(self.sysctl(task, name, value)?),
            Syscall::Fork => done(self.fork(task, 0)),
            Syscall::Clone { flags, ref set_tid } => {
                if flags & CLONE_NEWPID != 0 || !set_tid.is_empty() {
                    return Err(CallError::Unsupported("PID namespaces and set_tid"));
                }
                if flags & !CLONE_NEWIPC != 0 {
                    return Err(CallError::Unsupported(
                        "clone flags other than CLONE_NEWIPC",
                    ));
                }
                done(self.fork(task, flags))
            }
            Syscall::Unshare { flags } => done(self.unshare(task, flags)?),
            Syscall::Exit { .. } => {
                self.exit(task);
                done(Outcome {
                    ret: Ret::NoReturn,
                    detail: Default::default(),
                })
            }
            Syscall::Waitpid { pid } => self.waitpid(task, pid),
            Syscall::Getpid => done(Outcome::val(self.tasks[task.0].pid)),
            Syscall::Getppid => {
                let ppid = self.tasks[task.0].parent.map_or(0, |p| self.tasks[p.0].pid);
                done(Outcome::val(ppid))
            }
            Syscall::Setsid
            | Syscall::Getsid { .. }
            | Syscall::Setpgid { .. }
            | Syscall::Getpgid { .. } => Err(CallError::Unsupported("sessions and process groups")),
            Syscall::Setuid { uid } => done(self.setid(task, uid, true)),
            Syscall::Setgid { gid } => done(self.setid(task, gid, false)),
            Syscall::Capdrop { cap } => done(self.capdrop(task, cap)),
        };
        self.run_woken();
        step
    }

    /// The events since the last call: resumed calls in the order their tasks
    /// went to sleep, then killed tasks in creation order.
    pub fn take_events(&mut self) -> Vec<Event> {
        let mut resumed = std::mem::take(&mut self.resumed);
        resumed.sort_by_key(|&(order, _, _)| order);
        let mut killed = std::mem::take(&mut self.killed);
        killed.sort();
        resumed
            .into_iter()
            .map(|(_, task, outcome)| Event::Resumed { task, outcome })
            .chain(killed.into_iter().map(|task| Event::Killed { task }))
            .collect()
    }

    /// `target`'s pid as `viewer` sees it, 0 where it is not visible.
    pub fn pidof(&self, viewer: TaskId, target: TaskId) -> i64 {
        self.pid_vnr(viewer, Some(target))
    }

    /// The number of tasks created so far.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Whether `task` is asleep in a call.
    pub fn is_blocked(&self, task: TaskId) -> bool {
        self.blocked.contains_key(&task)
    }

    /// Whether `task` has exited (or was killed).
    pub fn has_exited(&self, task: TaskId) -> bool {
        self.tasks
            .get(task.0)
            .is_some_and(|t| t.state != State::Running)
    }

    pub(crate) fn task(&self, task: TaskId) -> &Task {
        &self.tasks[task.0]
    }

    pub(crate) fn ipc_ns(&self, task: TaskId) -> &IpcNs {
        &self.ipc_nss[self.tasks[task.0].ipc_ns]
    }

    pub(crate) fn ipc_ns_mut(&mut self, task: TaskId) -> &mut IpcNs {
        let ns = self.tasks[task.0].ipc_ns;
        &mut self.ipc_nss[ns]
    }

    /// `pid_vnr` of a recorded `struct pid`: 0 where there is none.
    pub(crate) fn pid_vnr(&self, _viewer: TaskId, target: Option<TaskId>) -> i64 {
        target.map_or(0, |t| self.tasks[t.0].pid)
    }

    /// Puts `task` to sleep. A task that sleeps again after a wake-up keeps
    /// its place in the resume order.
    pub(crate) fn sleep(&mut self, task: TaskId, wake: Wake) {
        let order = match self.blocked.get(&task) {
            Some(b) => b.order,
            None => {
                self.next_order += 1;
                self.next_order
            }
        };
        self.blocked.insert(task, Blocked { order, wake });
    }

    /// Ends a sleeping task's call with `outcome`.
    pub(crate) fn complete(&mut self, task: TaskId, outcome: Outcome) {
        if let Some(b) = self.blocked.remove(&task) {
            self.resumed.push((b.order, task, outcome));
        }
    }

    /// Wakes a sleeping task so that it runs its call again.
    pub(crate) fn wake(&mut self, task: TaskId) {
        self.runqueue.push_back(task);
    }

    /// Lets every woken task run, in the order it was woken.
    fn run_woken(&mut self) {
        while let Some(task) = self.runqueue.pop_front() {
            let Some(b) = self.blocked.get(&task) else {
                continue;
            };
            if let Some(outcome) = self.rerun_msg(task, b.wake.clone()) {
                self.complete(task, outcome);
            }
        }
    }

    fn sysctl(
        &mut self,
        task: TaskId,
        name: Sysctl,
        value: Option<i64>,
    ) -> Result<Outcome, CallError> {
        let cred = self.tasks[task.0].cred;
        let Some(v) = value else {
            return Ok(Outcome::val(match name {
                Sysctl::NsLastPid => self.pid_ns.cursor - 1,
                Sysctl::PidMax => self.pid_ns.pid_max,
                _ => self.ipc_ns(task).sysctl(name),
            }));
        };
        let cr_capable = cred.capable(CAP_SYS_ADMIN) || cred.capable(CAP_CHECKPOINT_RESTORE);
        Ok(Outcome::from(match name {
            Sysctl::PidMax => return Err(CallError::Unsupported("writing kernel.pid_max")),
            Sysctl::NsLastPid => {
                // Mode 0666; the handler wants checkpoint/restore rights.
                if !cr_capable {
                    Err(Errno::EPERM)
                } else if !(0..=self.pid_ns.pid_max).contains(&v) {
                    Err(Errno::EINVAL)
                } else {
                    self.pid_ns.cursor = v + 1;
                    Ok(0)
                }
            }
            // The msg sysctls are 0644, owned by the namespace's root; with
            // checkpoint/restore rights `msg_next_id` is 0666 (`ipc_permissions`).
            _ if cred.euid != 0 && !(name == Sysctl::MsgNextId && cr_capable) => Err(Errno::EACCES),
            Sysctl::MsgNextId if !cr_capable => Err(Errno::EPERM),
            _ => self.ipc_ns_mut(task).set_sysctl(name, v).map(|()| 0),
        }))
    }

    /// `fork()`, or `clone3()` with `CLONE_NEWIPC`.
    fn fork(&mut self, parent: TaskId, flags: i64) -> Outcome {
        let p = &self.tasks[parent.0];
        if flags & CLONE_NEWIPC != 0 && !p.cred.capable(CAP_SYS_ADMIN) {
            return Outcome::err(Errno::EPERM);
        }
        let pid = match self.pid_ns.alloc() {
            Ok(pid) => pid,
            Err(e) => return Outcome::err(e),
        };
        let ipc_ns = if flags & CLONE_NEWIPC != 0 {
            self.ipc_nss.push(IpcNs::new());
            self.ipc_nss.len() - 1
        } else {
            p.ipc_ns
        };
        let child = Task {
            pid,
            parent: Some(parent),
            ipc_ns,
            cred: p.cred,
            state: State::Running,
        };
        self.tasks.push(child);
        Outcome::val(pid)
    }

    fn unshare(&mut self, task: TaskId, flags: i64) -> Result<Outcome, CallError> {
        if flags & CLONE_NEWPID != 0 {
            return Err(CallError::Unsupported("unshare(CLONE_NEWPID)"));
        }
        if flags & !CLONE_NEWIPC != 0 {
            return Err(CallError::Unsupported(
                "unshare flags other than CLONE_NEWIPC",
            ));
        }
        if flags & CLONE_NEWIPC != 0 {
            if !self.tasks[task.0].cred.capable(CAP_SYS_ADMIN) {
                return Ok(Outcome::err(Errno::EPERM));
            }
            self.ipc_nss.push(IpcNs::new());
            self.tasks[task.0].ipc_ns = self.ipc_nss.len() - 1;
        }
        Ok(Outcome::val(0))
    }

    /// `exit()`: the task becomes a zombie; its children go to the namespace's
    /// init; if it is that init, every other task is killed.
    fn exit(&mut self, task: TaskId) {
        let mut dying = vec![task];
        if self.tasks[task.0].pid == 1 {
            for (i, t) in self.tasks.iter().enumerate() {
                if i != task.0 && t.state == State::Running {
                    dying.push(TaskId(i));
                    self.killed.push(TaskId(i));
                }
            }
        }
        for &t in &dying {
            self.blocked.remove(&t);
            self.forget_sleeper(t);
            self.tasks[t.0].state = State::Zombie;
        }
        let init = TaskId(0);
        for t in &mut self.tasks {
            if t.parent.is_some_and(|p| dying.contains(&p)) && !dying.contains(&init) {
                t.parent = Some(init);
            }
        }
        // A parent asleep in `waitpid` for a dying child reaps it now.
        let waiting: Vec<(TaskId, TaskId)> = self
            .blocked
            .iter()
            .filter_map(|(&w, b)| match b.wake {
                Wake::Wait { child } if dying.contains(&child) => Some((w, child)),
                _ => None,
            })
            .collect();
        for (waiter, child) in waiting {
            let outcome = self.reap(waiter, child);
            self.complete(waiter, outcome);
        }
    }

    fn reap(&mut self, waiter: TaskId, child: TaskId) -> Outcome {
        let pid = self.pid_vnr(waiter, Some(child));
        self.tasks[child.0].state = State::Reaped;
        self.pid_ns.used.remove(&self.tasks[child.0].pid);
        Outcome::val(pid)
    }

    fn waitpid(&mut self, task: TaskId, pid: i64) -> Result<Step, CallError> {
        if pid <= 0 {
            return Err(CallError::Unsupported("waitpid for a pid <= 0"));
        }
        let child = self
            .tasks
            .iter()
            .position(|t| t.pid == pid && t.parent == Some(task) && t.state != State::Reaped);
        let Some(child) = child.map(TaskId) else {
            return Ok(Step::Done(Outcome::err(Errno::ECHILD)));
        };
        if self.tasks[child.0].state == State::Zombie {
            return Ok(Step::Done(self.reap(task, child)));
        }
        self.sleep(task, Wake::Wait { child });
        Ok(Step::Blocked)
    }

    /// `setuid` (`is_uid`) or `setgid`.
    fn setid(&mut self, task: TaskId, id: i64, is_uid: bool) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        let id = id as u32;
        if id == u32::MAX {
            return Outcome::err(Errno::EINVAL);
        }
        let id = id as i64;
        let (cap, real, saved) = if is_uid {
            (CAP_SETUID, cred.uid, cred.suid)
        } else {
            (CAP_SETGID, cred.gid, cred.sgid)
        };
        let privileged = cred.capable(cap);
        if !privileged && id != real && id != saved {
            return Outcome::err(Errno::EPERM);
        }
        match (is_uid, privileged) {
            (true, true) => (cred.uid, cred.euid, cred.suid) = (id, id, id),
            (true, false) => cred.euid = id,
            (false, true) => (cred.gid, cred.egid, cred.sgid) = (id, id, id),
            (false, false) => cred.egid = id,
        }
        // Leaving uid 0 clears the permitted and effective sets.
        if is_uid && cred.uid != 0 && cred.euid != 0 && cred.suid != 0 {
            cred.caps = 0;
        }
        Outcome::val(0)
    }

    fn capdrop(&mut self, task: TaskId, cap: i64) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        if !(0..=CAP_LAST_CAP as i64).contains(&cap) {
            return Outcome::err(Errno::EINVAL);
        }
        if !cred.capable(CAP_SETPCAP) {
            return Outcome::err(Errno::EPERM);
        }
        cred.caps &= !(1 << cap);
        cred.bounding &= !(1 << cap);
        Outcome::val(0)
    }
}
