//! The model's kernel: the task calls (`fork`, `clone`, `unshare`, `exit`,
//! `waitpid`, sessions and process groups, credentials, the PID sysctls),
//! namespaces, sleeping and waking, and the dispatch of each [`Syscall`] to
//! the file that specifies it. It uses `ipc.rs` (the msg calls, on one IPC
//! namespace), `pid_space.rs` (pid numbers) and `task.rs` (what a task is);
//! none of them uses it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::abi::*;
use crate::dialect::Dialect;
use crate::ipc::{Caller, Effect, IpcNs, MsgStep, MsgWait};
use crate::pid::{MAX_PID_NS_LEVEL, NsId, PidId};
use crate::pid_space::PidSpace;
use crate::rules::Rule;
use crate::syscall::{DigestWords, Event, Outcome, Ret, Step, Syscall, Sysctl, TaskId};
use crate::task::{Cred, State, Task};

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
enum Wake {
    /// A msg call (`ipc.rs`).
    Msg(MsgWait),
    /// `waitpid` for a child that is still running.
    Wait { child: TaskId },
}

#[derive(Clone, Debug)]
struct Blocked {
    /// The order in which tasks went to sleep; resumes are reported in it.
    order: u64,
    wake: Wake,
}

/// The whole modelled system: every task and namespace.
#[derive(Clone, Debug)]
pub struct Kernel {
    dialect: Dialect,
    tasks: Vec<Task>,
    ipc_nss: Vec<IpcNs>,
    /// The pid numbers, under the dialect's rules (`pid_space.rs`).
    pids: PidSpace,
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
        let mut pids = PidSpace::new(dialect);
        let root = pids.root();
        let pid = pids
            .alloc(root, &[], |_| true)
            .expect("a new namespace has room");
        pids.set_child_reaper(root, TaskId(0));
        // `t0` starts in the host's process group and session.
        let outside = pids.outside();
        Kernel {
            dialect,
            tasks: vec![Task {
                pid,
                pgrp: outside,
                session: outside,
                session_leader: false,
                ns_for_children: root,
                parent: None,
                ipc_ns: 0,
                cred: Cred::root(),
                state: State::Running,
            }],
            ipc_nss: vec![IpcNs::new()],
            pids,
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
            Syscall::Msgget { key, msgflg } => {
                Ok(self.msg_call(task, |ns, c, _| MsgStep::Done(ns.msgget(c, key, msgflg))))
            }
            Syscall::Msgsnd {
                msqid,
                mtype,
                ref text,
                msgflg,
            } => Ok(self.msg_call(task, |ns, c, fx| {
                ns.msgsnd(c, msqid, mtype, text, msgflg, fx)
            })),
            Syscall::Msgrcv {
                msqid,
                msgsz,
                msgtyp,
                msgflg,
            } => Ok(self.msg_call(task, |ns, c, fx| {
                ns.msgrcv(c, msqid, msgsz, msgtyp, msgflg, fx)
            })),
            Syscall::Msgctl { msqid, cmd, set } => Ok(self.msg_call(task, |ns, c, fx| {
                MsgStep::Done(ns.msgctl(c, msqid, cmd, set, fx))
            })),
            Syscall::Sysctl {
                name: name @ (Sysctl::NsLastPid | Sysctl::PidMax),
                value,
            } => done(self.pid_sysctl(task, name, value)),
            Syscall::Sysctl { name, value } => Ok(self.msg_call(task, |ns, c, _| {
                MsgStep::Done(ns.sysctl(&c.cred, name, value))
            })),
            Syscall::Fork => done(self.fork(task, 0, &[])?),
            Syscall::Clone { flags, ref set_tid } => {
                if flags & !(CLONE_NEWIPC | CLONE_NEWPID) != 0 {
                    return Err(CallError::Unsupported(
                        "clone flags other than CLONE_NEWIPC and CLONE_NEWPID",
                    ));
                }
                done(self.fork(task, flags, set_tid)?)
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
            Syscall::Getpid => done(Outcome::val(self.pidof(task, task))),
            Syscall::Getppid => {
                let ppid = self.tasks[task.0].parent.map_or(0, |p| self.pidof(task, p));
                done(Outcome::val(ppid))
            }
            Syscall::Setsid => done(self.setsid(task)),
            Syscall::Getsid { pid } => done(self.get_pgid_sid(task, pid, true)),
            Syscall::Getpgid { pid } => done(self.get_pgid_sid(task, pid, false)),
            Syscall::Setpgid { pid, pgid } => done(self.setpgid(task, pid, pgid)),
            Syscall::Setuid { uid } => done(self.setid(task, uid, true)),
            Syscall::Setgid { gid } => done(self.setid(task, gid, false)),
            Syscall::Capdrop { cap } => done(self.capdrop(task, cap)),
        };
        self.run_woken();
        // Any call may free the last number an exiting init waits for.
        self.reap_waiters();
        step
    }

    /// The events since the last call: resumed calls in the order their tasks
    /// went to sleep, then killed tasks in creation order.
    pub fn take_events(&mut self) -> Vec<Event> {
        // The common case: the call woke and killed nobody.
        if self.resumed.is_empty() && self.killed.is_empty() {
            return Vec::new();
        }
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

    /// `target`'s pid as `viewer` sees it, 0 where it is not visible or
    /// where `target` has been reaped.
    pub fn pidof(&self, viewer: TaskId, target: TaskId) -> i64 {
        match self.tasks.get(target.0) {
            Some(t) if t.state != State::Reaped => self.pid_vnr(viewer, Some(target)),
            _ => 0,
        }
    }

    /// The number of tasks created so far.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// `task`'s `struct pid`: its number in every PID namespace from the
    /// script's first down to its own, as `(namespace, number)`. It never
    /// changes.
    pub fn pid_numbers(&self, task: TaskId) -> Vec<(usize, i64)> {
        let pid = self.tasks[task.0].pid;
        let mut numbers = Vec::new();
        let mut ns = Some(self.pids.owner(pid));
        while let Some(n) = ns {
            numbers.push((n, self.pids.nr_in(pid, n)));
            ns = self.pids.parent(n);
        }
        numbers.reverse();
        numbers
    }

    /// A read-only digest of the whole IPC state, for differential checks
    /// ([`crate::IpcDigest`], as words), into `out`, reusing its buffer.
    /// Pids are shown as `t0` sees them.
    pub fn digest_words(&self, out: &mut DigestWords) {
        out.clear();
        let viewer = self.active_ns(TaskId(0));
        let pid_vnr = |target| vnr(&self.pids, &self.tasks, viewer, target);
        for ns in &self.ipc_nss {
            ns.digest_words(out, &pid_vnr);
        }
    }

    /// Runs a msg call of `task` (`call`, one of `ipc.rs`) on its IPC
    /// namespace, then does what the call did to other tasks, in order; a
    /// call that sleeps puts `task` to sleep.
    fn msg_call(
        &mut self,
        task: TaskId,
        call: impl FnOnce(&mut IpcNs, &Caller, &mut Vec<Effect>) -> MsgStep,
    ) -> Step {
        let mut effects = Vec::new();
        let t = &self.tasks[task.0];
        let (pids, tasks) = (&self.pids, &self.tasks);
        let viewer = pids.owner(t.pid);
        let pid_vnr = |target| vnr(pids, tasks, viewer, target);
        let caller = Caller {
            task,
            cred: t.cred,
            dialect: self.dialect,
            pid_vnr: &pid_vnr,
        };
        let step = call(&mut self.ipc_nss[t.ipc_ns], &caller, &mut effects);
        for effect in effects {
            match effect {
                Effect::Complete(t, outcome) => self.complete(t, outcome),
                Effect::Wake(t) => self.wake(t),
            }
        }
        match step {
            MsgStep::Done(outcome) => Step::Done(outcome),
            MsgStep::Sleep(wait) => {
                self.sleep(task, Wake::Msg(wait));
                Step::Blocked
            }
        }
    }

    /// Removes `task` from the sleeper lists of every queue (it was killed).
    fn forget_sleeper(&mut self, task: TaskId) {
        for ns in &mut self.ipc_nss {
            ns.forget_sleeper(task);
        }
    }

    /// The caller's active PID namespace (`task_active_pid_ns`).
    fn active_ns(&self, task: TaskId) -> NsId {
        self.pids.owner(self.tasks[task.0].pid)
    }

    /// `pid_vnr` of a task's `struct pid`, recorded earlier (it may have
    /// exited since): its number in the viewer's namespace, 0 where there is
    /// none or it is not visible.
    fn pid_vnr(&self, viewer: TaskId, target: Option<TaskId>) -> i64 {
        vnr(&self.pids, &self.tasks, self.active_ns(viewer), target)
    }

    /// Puts `task` to sleep. A task that sleeps again after a wake-up keeps
    /// its place in the resume order.
    fn sleep(&mut self, task: TaskId, wake: Wake) {
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
    fn complete(&mut self, task: TaskId, outcome: Outcome) {
        if let Some(b) = self.blocked.remove(&task) {
            self.resumed.push((b.order, task, outcome));
        }
    }

    /// Wakes a sleeping task so that it runs its call again.
    fn wake(&mut self, task: TaskId) {
        self.runqueue.push_back(task);
    }

    /// Lets every woken task run, in the order it was woken.
    fn run_woken(&mut self) {
        while let Some(task) = self.runqueue.pop_front() {
            let Some(b) = self.blocked.get(&task) else {
                continue;
            };
            let Wake::Msg(wait) = b.wake.clone() else {
                unreachable!("waiters are completed, never woken");
            };
            let send = matches!(wait, MsgWait::Send { .. });
            match self.msg_call(task, |ns, c, fx| ns.rerun(c, wait, fx)) {
                Step::Done(outcome) => {
                    hit!(woken_ending(send, &outcome));
                    self.complete(task, outcome);
                }
                Step::Blocked => hit!(if send {
                    Rule::MsgR7WokenSleeps
                } else {
                    Rule::MsgR27Sleeps
                }),
            }
        }
    }

    /// `kernel.ns_last_pid` and `kernel.pid_max` of the caller's active PID
    /// namespace: a read, or a write after the permission check of its file
    /// and its handler.
    fn pid_sysctl(&mut self, task: TaskId, name: Sysctl, value: Option<i64>) -> Outcome {
        let cred = self.tasks[task.0].cred;
        let ns = self.active_ns(task);
        let r = match (name, value) {
            (Sysctl::NsLastPid, None) => {
                hit!(PidSysctlRead);
                Ok(self.pids.last_pid(ns))
            }
            (Sysctl::PidMax, None) => {
                hit!(PidSysctlRead);
                Ok(self.pids.pid_max(ns))
            }
            // Owner-writable for the namespace's root or CAP_SYS_ADMIN
            // (`pid_table_root_permissions`), then the range (R10).
            (Sysctl::PidMax, Some(_)) if cred.euid != 0 && !cred.capable(CAP_SYS_ADMIN) => {
                hit!(PidR10Eacces);
                Err(Errno::EACCES)
            }
            (Sysctl::PidMax, Some(v)) => self.pids.set_pid_max(ns, v).map(|()| 0),
            // Mode 0666; the handler wants checkpoint/restore rights before
            // it checks the range (R6).
            (Sysctl::NsLastPid, Some(_)) if !cred.checkpoint_restore() => {
                hit!(PidR6Eperm);
                Err(Errno::EPERM)
            }
            (Sysctl::NsLastPid, Some(v)) => self.pids.set_last_pid(ns, v).map(|()| 0),
            _ => unreachable!("not a PID sysctl"),
        };
        Outcome::from(r)
    }

    /// `fork()`, or `clone3(flags, set_tid)` with `CLONE_NEWIPC` and
    /// `CLONE_NEWPID` (§1.3, §1.9, §1.10 of `pid-semantics.md`).
    fn fork(&mut self, parent: TaskId, flags: i64, set_tid: &[i64]) -> Result<Outcome, CallError> {
        let p = self.tasks[parent.0].clone();
        if set_tid.len() > MAX_PID_NS_LEVEL {
            // clone3's own check.
            hit!(PidR17);
            return Ok(Outcome::err(Errno::EINVAL));
        }
        if flags & (CLONE_NEWIPC | CLONE_NEWPID) != 0 && !p.cred.capable(CAP_SYS_ADMIN) {
            hit!(TaskNsEperm);
            return Ok(Outcome::err(Errno::EPERM));
        }
        let active = self.active_ns(parent);
        let target = if flags & CLONE_NEWPID != 0 {
            if p.ns_for_children != active {
                hit!(PidR24);
                return Ok(Outcome::err(Errno::EINVAL));
            }
            match self.pids.create_ns(active) {
                Ok(ns) => ns,
                Err(e) => return Ok(Outcome::err(e)), // R29
            }
        } else {
            p.ns_for_children
        };
        let cred = p.cred;
        let privileged = |_: NsId| cred.checkpoint_restore();
        let pid = match self.pids.alloc(target, set_tid, privileged) {
            Ok(pid) => pid,
            Err(Some(e)) => return Ok(Outcome::err(e)),
            Err(None) => {
                return Err(CallError::Unsupported(
                    "a set_tid entry for the host's PID namespace",
                ));
            }
        };
        let ipc_ns = if flags & CLONE_NEWIPC != 0 {
            hit!(TaskNewIpc);
            self.ipc_nss.push(IpcNs::new());
            self.ipc_nss.len() - 1
        } else {
            p.ipc_ns
        };
        let child = TaskId(self.tasks.len());
        if self.pids.nr_in(pid, target) == 1 {
            hit!(PidR1);
            self.pids.set_child_reaper(target, child);
        }
        self.tasks.push(Task {
            pid,
            pgrp: p.pgrp,
            session: p.session,
            session_leader: false,
            ns_for_children: target,
            parent: Some(parent),
            ipc_ns,
            cred,
            state: State::Running,
        });
        Ok(Outcome::val(self.pidof(parent, child)))
    }

    fn unshare(&mut self, task: TaskId, flags: i64) -> Result<Outcome, CallError> {
        if flags & !(CLONE_NEWIPC | CLONE_NEWPID) != 0 {
            return Err(CallError::Unsupported(
                "unshare flags other than CLONE_NEWIPC and CLONE_NEWPID",
            ));
        }
        if flags != 0 && !self.tasks[task.0].cred.capable(CAP_SYS_ADMIN) {
            hit!(TaskNsEperm);
            return Ok(Outcome::err(Errno::EPERM));
        }
        // `create_new_namespaces` makes the IPC namespace before the PID one,
        // but nothing is installed unless both succeed.
        if flags & CLONE_NEWPID != 0 {
            let active = self.active_ns(task);
            if self.tasks[task.0].ns_for_children != active {
                hit!(PidR24);
                return Ok(Outcome::err(Errno::EINVAL));
            }
            match self.pids.create_ns(active) {
                Ok(ns) => {
                    hit!(TaskUnshareNewPid);
                    self.tasks[task.0].ns_for_children = ns;
                }
                Err(e) => return Ok(Outcome::err(e)),
            }
        }
        if flags & CLONE_NEWIPC != 0 {
            hit!(TaskNewIpc);
            self.ipc_nss.push(IpcNs::new());
            self.tasks[task.0].ipc_ns = self.ipc_nss.len() - 1;
        }
        Ok(Outcome::val(0))
    }

    /// `exit()`: the task becomes a zombie and its children go to its
    /// namespace's init. If it is that init, every other task of the
    /// namespace (nested ones included) is killed and reaped, and the
    /// namespace takes no new pids (`zap_pid_ns_processes`, R13).
    fn exit(&mut self, task: TaskId) {
        let ns = self.active_ns(task);
        let is_init = self.pids.child_reaper(ns) == Some(task);
        let mut victims = Vec::new();
        if is_init {
            hit!(PidR13Zap);
            for (i, t) in self.tasks.iter().enumerate() {
                if i != task.0 && t.state != State::Reaped && self.pids.nr_in(t.pid, ns) != 0 {
                    victims.push(TaskId(i));
                }
            }
        }
        for &v in &victims {
            if self.tasks[v.0].state == State::Running {
                hit!(if self.blocked.contains_key(&v) {
                    Rule::PidR13KilledAsleep
                } else {
                    Rule::PidR13Killed
                });
                self.killed.push(v);
            }
            let vns = self.active_ns(v);
            if self.pids.child_reaper(vns) == Some(v) {
                self.pids.disable(vns);
            }
            self.blocked.remove(&v);
            self.forget_sleeper(v);
            self.tasks[v.0].state = State::Zombie;
        }
        if is_init {
            self.pids.disable(ns);
        }
        self.blocked.remove(&task);
        self.forget_sleeper(task);
        self.tasks[task.0].state = State::Zombie;
        hit!(PidR11);
        if !is_init {
            let reaper = self.pids.child_reaper(ns);
            for t in &mut self.tasks {
                if t.parent == Some(task) && t.state != State::Reaped {
                    hit!(TaskReparent);
                    t.parent = reaper;
                }
            }
        }
        // The dying init reaps the victims whose parent is in the namespace;
        // one whose parent is outside (a later child of a task that did
        // `unshare(CLONE_NEWPID)`) stays a zombie for that parent, and the
        // init's exit waits for it (see `exit_pending`).
        for &v in &victims {
            let parent = self.tasks[v.0].parent;
            if parent.is_none_or(|p| p == task || victims.contains(&p)) {
                self.release(v);
            } else {
                hit!(PidR13OutsideParent);
            }
        }
        self.reap_waiters();
    }

    /// Whether `task`, a zombie, is a namespace's init still waiting in
    /// `zap_pid_ns_processes` until no number of its namespace is in use but
    /// its own; its parent's `waitpid` sleeps until then. A number stays in
    /// use while a task links to it as pid, process group or session: a
    /// killed task whose parent is outside the namespace holds its own until
    /// that parent reaps it, and an init that joined the process group of
    /// one of its children holds that child's number itself, so its exit
    /// never ends.
    fn exit_pending(&self, task: TaskId) -> bool {
        let ns = self.active_ns(task);
        let own = self.tasks[task.0].pid;
        self.pids.child_reaper(ns) == Some(task)
            && self.tasks.iter().any(|t| {
                t.state != State::Reaped
                    && [t.pid, t.pgrp, t.session]
                        .iter()
                        .any(|&p| p != own && self.pids.nr_in(p, ns) != 0)
            })
    }

    /// Parents asleep in `waitpid` for a child that is now a zombie reap it
    /// (which may in turn end a pending init exit, hence the loop).
    fn reap_waiters(&mut self) {
        loop {
            let ready = self.blocked.iter().find_map(|(&w, b)| match b.wake {
                Wake::Wait { child }
                    if self.tasks[child.0].state == State::Zombie && !self.exit_pending(child) =>
                {
                    Some((w, child))
                }
                _ => None,
            });
            let Some((waiter, child)) = ready else {
                return;
            };
            hit!(TaskWaitWoken);
            let outcome = self.reap(waiter, child);
            self.complete(waiter, outcome);
        }
    }

    /// `release_task`: the task is gone; the numbers no task links to any
    /// more are freed (a process group or session keeps its number while a
    /// member is left, R12).
    fn release(&mut self, task: TaskId) {
        self.tasks[task.0].state = State::Reaped;
        let t = &self.tasks[task.0];
        for pid in [t.pid, t.pgrp, t.session] {
            self.free_if_unused(pid);
        }
    }

    fn free_if_unused(&mut self, pid: PidId) {
        let used = self.tasks.iter().any(|t| {
            t.state != State::Reaped && (t.pid == pid || t.pgrp == pid || t.session == pid)
        });
        if !used {
            self.pids.free(pid);
        } else {
            hit!(PidR12);
        }
    }

    fn reap(&mut self, waiter: TaskId, child: TaskId) -> Outcome {
        let pid = self.pid_vnr(waiter, Some(child));
        self.release(child);
        Outcome::val(pid)
    }

    fn waitpid(&mut self, task: TaskId, pid: i64) -> Result<Step, CallError> {
        if pid <= 0 {
            return Err(CallError::Unsupported("waitpid for a pid <= 0"));
        }
        let child = (0..self.tasks.len()).map(TaskId).find(|&c| {
            let t = &self.tasks[c.0];
            t.parent == Some(task) && t.state != State::Reaped && self.pidof(task, c) == pid
        });
        let Some(child) = child else {
            hit!(TaskWaitEchild);
            return Ok(Step::Done(Outcome::err(Errno::ECHILD)));
        };
        let zombie = self.tasks[child.0].state == State::Zombie;
        if zombie && !self.exit_pending(child) {
            hit!(TaskWaitReap);
            let outcome = self.reap(task, child);
            self.reap_waiters();
            return Ok(Step::Done(outcome));
        }
        hit!(if zombie {
            Rule::PidR13Held
        } else {
            Rule::TaskWaitSleep
        });
        self.sleep(task, Wake::Wait { child });
        Ok(Step::Blocked)
    }

    /// `find_task_by_vpid`: the task with number `nr` in the caller's namespace.
    fn find_task(&self, caller: TaskId, nr: i64) -> Option<TaskId> {
        let pid = self.pids.find(self.active_ns(caller), nr)?;
        (0..self.tasks.len())
            .map(TaskId)
            .find(|t| self.tasks[t.0].pid == pid && self.tasks[t.0].state != State::Reaped)
    }

    /// Whether some task still links to `pid` as its process group.
    fn is_pgrp(&self, pid: PidId) -> bool {
        self.tasks
            .iter()
            .any(|t| t.state != State::Reaped && t.pgrp == pid)
    }

    /// `getsid(pid)` (`sid`) or `getpgid(pid)`.
    fn get_pgid_sid(&self, task: TaskId, pid: i64, sid: bool) -> Outcome {
        let target = if pid == 0 {
            task
        } else {
            match self.find_task(task, pid) {
                Some(t) => t,
                None => {
                    hit!(TaskGetEsrch);
                    return Outcome::err(Errno::ESRCH);
                }
            }
        };
        let t = &self.tasks[target.0];
        let id = if sid { t.session } else { t.pgrp };
        Outcome::val(self.pids.nr_in(id, self.active_ns(task)))
    }

    /// `setsid()`: EPERM for a process group leader (its number names a group).
    fn setsid(&mut self, task: TaskId) -> Outcome {
        let pid = self.tasks[task.0].pid;
        if self.is_pgrp(pid) {
            hit!(TaskSetsidEperm);
            return Outcome::err(Errno::EPERM);
        }
        hit!(TaskSetsid);
        let t = &mut self.tasks[task.0];
        let (old_pgrp, old_session) = (t.pgrp, t.session);
        t.pgrp = pid;
        t.session = pid;
        t.session_leader = true;
        self.free_if_unused(old_pgrp);
        self.free_if_unused(old_session);
        Outcome::val(self.pidof(task, task))
    }

    /// `setpgid(pid, pgid)`, in the check order of `kernel/sys.c`.
    fn setpgid(&mut self, task: TaskId, pid: i64, pgid: i64) -> Outcome {
        let pid = if pid == 0 {
            self.pidof(task, task)
        } else {
            pid
        };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid < 0 {
            hit!(TaskSetpgidEinval);
            return Outcome::err(Errno::EINVAL);
        }
        let Some(p) = self.find_task(task, pid) else {
            hit!(TaskSetpgidEsrch);
            return Outcome::err(Errno::ESRCH);
        };
        let caller_session = self.tasks[task.0].session;
        if self.tasks[p.0].parent == Some(task) {
            if self.tasks[p.0].session != caller_session {
                hit!(TaskSetpgidSession);
                return Outcome::err(Errno::EPERM);
            }
            // Our children never exec, so `PF_FORKNOEXEC` holds: no EACCES.
        } else if p != task {
            hit!(TaskSetpgidEsrch);
            return Outcome::err(Errno::ESRCH);
        }
        if self.tasks[p.0].session_leader {
            hit!(TaskSetpgidLeader);
            return Outcome::err(Errno::EPERM);
        }
        let mut pgrp = self.tasks[p.0].pid;
        if pgid != pid {
            let found = self.pids.find(self.active_ns(task), pgid).filter(|&g| {
                self.tasks
                    .iter()
                    .any(|t| t.state != State::Reaped && t.pgrp == g && t.session == caller_session)
            });
            match found {
                Some(g) => pgrp = g,
                None => {
                    hit!(TaskSetpgidNoGroup);
                    return Outcome::err(Errno::EPERM);
                }
            }
        }
        hit!(TaskSetpgid);
        let old = std::mem::replace(&mut self.tasks[p.0].pgrp, pgrp);
        self.free_if_unused(old);
        Outcome::val(0)
    }

    /// `setuid` (`is_uid`) or `setgid`.
    fn setid(&mut self, task: TaskId, id: i64, is_uid: bool) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        let id = id as u32;
        if id == u32::MAX {
            hit!(TaskSetidEinval);
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
            hit!(TaskSetidEperm);
            return Outcome::err(Errno::EPERM);
        }
        hit!(if privileged {
            Rule::TaskSetid
        } else {
            Rule::TaskSetidEffective
        });
        match (is_uid, privileged) {
            (true, true) => (cred.uid, cred.euid, cred.suid) = (id, id, id),
            (true, false) => cred.euid = id,
            (false, true) => (cred.gid, cred.egid, cred.sgid) = (id, id, id),
            (false, false) => cred.egid = id,
        }
        // Leaving uid 0 clears the permitted and effective sets.
        if is_uid && cred.uid != 0 && cred.euid != 0 && cred.suid != 0 {
            hit!(TaskSetuidDropsCaps);
            cred.caps = 0;
        }
        Outcome::val(0)
    }

    fn capdrop(&mut self, task: TaskId, cap: i64) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        // `cap_prctl_drop` checks CAP_SETPCAP before the number.
        if !cred.capable(CAP_SETPCAP) {
            hit!(TaskCapdropEperm);
            return Outcome::err(Errno::EPERM);
        }
        if !(0..=CAP_LAST_CAP as i64).contains(&cap) {
            hit!(TaskCapdropEinval);
            return Outcome::err(Errno::EINVAL);
        }
        hit!(TaskCapdrop);
        cred.caps &= !(1 << cap);
        cred.bounding &= !(1 << cap);
        Outcome::val(0)
    }
}

/// The rule a woken msg sleeper's call ended by (`send` for a sender).
fn woken_ending(send: bool, outcome: &Outcome) -> Rule {
    match (send, outcome.errno()) {
        (true, None) => Rule::MsgR7WokenSend,
        (true, Some(Errno::EACCES)) => Rule::MsgR6Woken,
        (true, Some(_)) => Rule::MsgR8,
        (false, None) => Rule::MsgR27Receive,
        (false, Some(Errno::EACCES)) => Rule::MsgR27Eacces,
        (false, Some(_)) => Rule::MsgR27Error,
    }
}

/// `pid_vnr`: the number in PID namespace `ns` of the `struct pid` of
/// `target`, recorded earlier (it may have exited since), 0 where there is
/// none or it is not visible there.
fn vnr(pids: &PidSpace, tasks: &[Task], ns: NsId, target: Option<TaskId>) -> i64 {
    target.map_or(0, |t| pids.nr_in(tasks[t.0].pid, ns))
}
