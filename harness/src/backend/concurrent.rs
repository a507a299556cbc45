//! The concurrent backend: `nscheck-concurrent`, driven one call at a time
//! from the calling thread.
//!
//! A call that would sleep registers its task as a sleeper in the
//! implementation and comes back as a parked call
//! ([`nscheck_concurrent::ipc::Parked`]) instead of blocking the thread:
//! the implementation's wakers finish a sleeper's call on its behalf (they
//! hand a receiver its message and enqueue a sender's), so after every call
//! the backend polls the parked calls, in the order they went to sleep, and
//! reports those that ended. A killed sleeper's call is cancelled as a fatal
//! signal ends it. The code a sleeping thread runs when woken is the same
//! `poll` collects, so this drives exactly what one thread per task would
//! run, without a thread or a context switch (the loom and shuttle checks
//! and `concurrent/tests/threads.rs` run it on real and modelled threads).
//!
//! The task calls (`fork`, `exit`, `waitpid`, credentials, `unshare` of the
//! IPC namespace, the PID sysctls) are handled by a small task table here,
//! mirroring the model's `kernel.rs` for a single PID namespace. PID
//! namespaces, `set_tid`, sessions and process groups are not implemented
//! by this backend yet.

use std::collections::BTreeSet;
use std::sync::Arc;

use nscheck_concurrent::ipc::{self, Ctl, IpcNamespace, MSG_INFO, MsgSysctl};
use nscheck_concurrent::{Cred, Sleeper, Task};
use nscheck_model::abi::{
    CAP_CHECKPOINT_RESTORE, CAP_LAST_CAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_ADMIN,
    CLONE_NEWIPC, CLONE_NEWPID, PID_MAX_DEFAULT,
};
use nscheck_model::{
    Detail, DigestWords, Errno, Event, Outcome, Ret, Step, Syscall, Sysctl, TaskId,
};

use nscheck_adapter::{ParkedCall, Started, errno, model_info, model_stat, start_ipc};

use super::{Backend, BackendError};

/// `RESERVED_PIDS`: after the first wrap, numbers below it are skipped.
const RESERVED_PIDS: i64 = 300;
/// The smallest `kernel.pid_max`.
const PID_MAX_MIN: i64 = RESERVED_PIDS + 1;

/// The full credentials the task calls need.
#[derive(Clone, Copy, Debug)]
struct Creds {
    uid: i64,
    euid: i64,
    suid: i64,
    gid: i64,
    egid: i64,
    sgid: i64,
    caps: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Zombie,
    Reaped,
}

/// Why a task sleeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// In an IPC call ([`TaskEntry::parked`]).
    Ipc,
    /// In `waitpid` for this child.
    Child(TaskId),
}

#[derive(Debug)]
struct TaskEntry {
    /// What the implementation sees of the task: its pid, the IPC view of
    /// its credentials, its IPC namespace and its parking spot.
    ctx: Task,
    parent: Option<TaskId>,
    cred: Creds,
    state: State,
    /// The IPC call the task sleeps in.
    parked: Option<ParkedCall>,
}

/// The single PID namespace: a cyclic allocator, as the model's.
#[derive(Debug)]
struct PidTable {
    used: BTreeSet<i64>,
    cursor: i64,
    pid_max: i64,
    /// False once init has died.
    adding: bool,
}

impl PidTable {
    fn alloc(&mut self) -> Result<i64, Errno> {
        let start = if self.cursor > RESERVED_PIDS {
            RESERVED_PIDS
        } else {
            1
        };
        let end = self.pid_max;
        let from = self.cursor.max(start);
        let free = |n: &i64| !self.used.contains(n);
        let nr = (from..end)
            .find(free)
            .or_else(|| (start..from.min(end)).find(free))
            .ok_or(Errno::EAGAIN)?;
        if !self.adding {
            return Err(Errno::ENOMEM);
        }
        self.used.insert(nr);
        self.cursor = nr + 1;
        Ok(nr)
    }
}

/// Makes each new IPC namespace (a test selects a mutant through it).
pub type NamespaceMaker = Arc<dyn Fn() -> IpcNamespace + Send + Sync>;

/// Runs calls on `nscheck-concurrent`.
pub struct ConcurrentBackend {
    tasks: Vec<TaskEntry>,
    pids: PidTable,
    /// Sleeping tasks, with the order in which they went to sleep.
    blocked: Vec<Option<(u64, Wait)>>,
    /// The tasks asleep in IPC calls, in the order they went to sleep.
    parked: Vec<usize>,
    next_order: u64,
    events: Vec<Event>,
    /// Every IPC namespace created, in creation order, for the digest.
    namespaces: Vec<Arc<IpcNamespace>>,
    new_namespace: NamespaceMaker,
    /// The parking spot of the digest's probe calls (they never sleep).
    probe: Arc<Sleeper>,
    /// The caller of the digest's probe calls in each namespace: root with
    /// every capability.
    probes: Vec<Task>,
}

impl std::fmt::Debug for ConcurrentBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrentBackend")
            .field("tasks", &self.tasks)
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

impl Default for ConcurrentBackend {
    fn default() -> Self {
        ConcurrentBackend::new()
    }
}

fn unsupported(what: &str) -> BackendError {
    BackendError::Unsupported(format!("not implemented by the concurrent backend: {what}"))
}

impl ConcurrentBackend {
    /// `t0`: pid 1, root with every capability, in a fresh IPC namespace.
    pub fn new() -> ConcurrentBackend {
        ConcurrentBackend::with_namespaces(Arc::new(IpcNamespace::new))
    }

    /// As [`ConcurrentBackend::new`], with every IPC namespace made by
    /// `maker`.
    pub fn with_namespaces(maker: NamespaceMaker) -> ConcurrentBackend {
        let mut b = ConcurrentBackend {
            tasks: Vec::new(),
            pids: PidTable {
                used: BTreeSet::new(),
                cursor: 0,
                pid_max: PID_MAX_DEFAULT,
                adding: true,
            },
            blocked: Vec::new(),
            parked: Vec::new(),
            next_order: 0,
            events: Vec::new(),
            namespaces: Vec::new(),
            new_namespace: maker,
            probe: Arc::new(Sleeper::new(u64::MAX, None)),
            probes: Vec::new(),
        };
        let pid = b.pids.alloc().expect("a new namespace has room");
        let all = (1u64 << (CAP_LAST_CAP + 1)) - 1;
        let cred = Creds {
            uid: 0,
            euid: 0,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            caps: all,
        };
        let ns = b.namespace();
        b.add_task(pid, None, ns, cred);
        b
    }

    /// A new IPC namespace, remembered for the digest.
    fn namespace(&mut self) -> Arc<IpcNamespace> {
        let ns = Arc::new((self.new_namespace)());
        self.namespaces.push(ns.clone());
        self.probes.push(Task {
            pid: 1,
            cred: Cred {
                euid: 0,
                egid: 0,
                caps: u64::MAX,
            },
            ipc_ns: ns.clone(),
            sleeper: self.probe.clone(),
        });
        ns
    }

    fn add_task(&mut self, pid: i64, parent: Option<TaskId>, ns: Arc<IpcNamespace>, cred: Creds) {
        let token = self.tasks.len() as u64;
        self.tasks.push(TaskEntry {
            ctx: Task {
                pid,
                cred: ipc_cred(&cred),
                ipc_ns: ns,
                sleeper: Arc::new(Sleeper::new(token, None)),
            },
            parent,
            cred,
            state: State::Running,
            parked: None,
        });
        self.blocked.push(None);
    }

    /// Runs an IPC call and reports the sleepers it ended.
    fn ipc_call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        let may_sleep = match *call {
            Syscall::Msgsnd { msgflg, .. } | Syscall::Msgrcv { msgflg, .. } => {
                msgflg as i32 & ipc::IPC_NOWAIT == 0
            }
            _ => false,
        };
        let step = match start_ipc(&self.tasks[task.0].ctx, call) {
            Started::Done(outcome) => Step::Done(outcome),
            Started::Parked(p) if !may_sleep => {
                p.cancel();
                return Err(BackendError::Failed(format!(
                    "task #{} went to sleep in a call that must not sleep",
                    task.0
                )));
            }
            Started::Parked(p) => {
                self.tasks[task.0].parked = Some(p);
                self.next_order += 1;
                self.blocked[task.0] = Some((self.next_order, Wait::Ipc));
                self.parked.push(task.0);
                return Ok(Step::Blocked);
            }
        };
        // Sleepers whose calls were finished by this one, in the order they
        // went to sleep.
        let mut i = 0;
        while i < self.parked.len() {
            let t = self.parked[i];
            match self.tasks[t].parked.as_ref().and_then(ParkedCall::poll) {
                Some(outcome) => {
                    self.parked.remove(i);
                    self.tasks[t].parked = None;
                    self.blocked[t] = None;
                    self.events.push(Event::Resumed {
                        task: TaskId(t),
                        outcome,
                    });
                }
                None => i += 1,
            }
        }
        Ok(step)
    }

    fn pid_of(&self, _viewer: TaskId, target: TaskId) -> i64 {
        match self.tasks.get(target.0) {
            Some(t) if t.state != State::Reaped => t.ctx.pid,
            _ => 0,
        }
    }

    fn sysctl(&mut self, task: TaskId, name: Sysctl, value: Option<i64>) -> Outcome {
        let t = &self.tasks[task.0];
        let ipc_name = match name {
            Sysctl::Msgmax => Some(MsgSysctl::Msgmax),
            Sysctl::Msgmnb => Some(MsgSysctl::Msgmnb),
            Sysctl::Msgmni => Some(MsgSysctl::Msgmni),
            Sysctl::MsgNextId => Some(MsgSysctl::MsgNextId),
            Sysctl::NsLastPid | Sysctl::PidMax => None,
        };
        let capable = |cap: u32| t.cred.caps & (1 << cap) != 0;
        let cr_capable = capable(CAP_SYS_ADMIN) || capable(CAP_CHECKPOINT_RESTORE);
        match (ipc_name, value) {
            (Some(n), None) => Outcome::val(t.ctx.ipc_ns.sysctl(n)),
            (Some(n), Some(v)) => {
                let r = t.ctx.ipc_ns.write_sysctl(&t.ctx.cred, n, v);
                Outcome::from(r.map(|()| 0).map_err(errno))
            }
            (None, None) if name == Sysctl::NsLastPid => Outcome::val(self.pids.cursor - 1),
            (None, None) => Outcome::val(self.pids.pid_max),
            (None, Some(v)) if name == Sysctl::NsLastPid => {
                if !cr_capable {
                    Outcome::err(Errno::EPERM)
                } else if !(0..=self.pids.pid_max).contains(&v) {
                    Outcome::err(Errno::EINVAL)
                } else {
                    self.pids.cursor = v + 1;
                    Outcome::val(0)
                }
            }
            (None, Some(v)) => {
                if t.cred.euid != 0 && !capable(CAP_SYS_ADMIN) {
                    Outcome::err(Errno::EACCES)
                } else if !(PID_MAX_MIN..=PID_MAX_DEFAULT).contains(&v) {
                    Outcome::err(Errno::EINVAL)
                } else {
                    self.pids.pid_max = v;
                    Outcome::val(0)
                }
            }
        }
    }

    /// `fork()`, or `clone3(CLONE_NEWIPC)`.
    fn fork(&mut self, parent: TaskId, flags: i64) -> Outcome {
        let p = &self.tasks[parent.0];
        if flags & CLONE_NEWIPC != 0 && p.cred.caps & (1 << CAP_SYS_ADMIN) == 0 {
            return Outcome::err(Errno::EPERM);
        }
        let (cred, ns) = (p.cred, p.ctx.ipc_ns.clone());
        let pid = match self.pids.alloc() {
            Ok(pid) => pid,
            Err(e) => return Outcome::err(e),
        };
        let ns = if flags & CLONE_NEWIPC != 0 {
            self.namespace()
        } else {
            ns
        };
        self.add_task(pid, Some(parent), ns, cred);
        Outcome::val(pid)
    }

    /// Kills the IPC call `task` sleeps in, if any.
    fn kill_call(&mut self, task: TaskId) {
        if let Some(p) = self.tasks[task.0].parked.take() {
            self.parked.retain(|&t| t != task.0);
            p.cancel();
        }
    }

    fn release(&mut self, task: TaskId) {
        self.tasks[task.0].state = State::Reaped;
        self.pids.used.remove(&self.tasks[task.0].ctx.pid);
    }

    fn reap(&mut self, waiter: TaskId, child: TaskId) -> Outcome {
        let pid = self.pid_of(waiter, child);
        self.release(child);
        Outcome::val(pid)
    }

    /// `exit()`: as the model's, with init (`t0`) killing every other task.
    fn exit(&mut self, task: TaskId) {
        let is_init = task.0 == 0;
        let mut killed = Vec::new();
        if is_init {
            let victims: Vec<TaskId> = (1..self.tasks.len())
                .map(TaskId)
                .filter(|v| self.tasks[v.0].state != State::Reaped)
                .collect();
            for &v in &victims {
                if self.tasks[v.0].state == State::Running {
                    killed.push(v);
                }
                self.blocked[v.0] = None;
                self.kill_call(v);
                self.tasks[v.0].state = State::Zombie;
            }
            self.pids.adding = false;
            for &v in &victims {
                self.release(v);
            }
        }
        self.blocked[task.0] = None;
        self.kill_call(task);
        self.tasks[task.0].state = State::Zombie;
        let reaper = (!is_init).then_some(TaskId(0));
        for t in &mut self.tasks {
            if t.parent == Some(task) && t.state != State::Reaped {
                t.parent = reaper;
            }
        }
        let waiter = self
            .blocked
            .iter()
            .position(|b| matches!(*b, Some((_, wait)) if wait == Wait::Child(task)))
            .map(TaskId);
        if let Some(w) = waiter {
            let outcome = self.reap(w, task);
            self.blocked[w.0] = None;
            self.events.push(Event::Resumed { task: w, outcome });
        }
        self.events
            .extend(killed.into_iter().map(|task| Event::Killed { task }));
    }

    fn waitpid(&mut self, task: TaskId, pid: i64) -> Result<Step, BackendError> {
        if pid <= 0 {
            return Err(unsupported("waitpid for a pid <= 0"));
        }
        let child = (0..self.tasks.len()).map(TaskId).find(|&c| {
            let t = &self.tasks[c.0];
            t.parent == Some(task) && t.state != State::Reaped && self.pid_of(task, c) == pid
        });
        let Some(child) = child else {
            return Ok(Step::Done(Outcome::err(Errno::ECHILD)));
        };
        if self.tasks[child.0].state == State::Zombie {
            return Ok(Step::Done(self.reap(task, child)));
        }
        self.next_order += 1;
        self.blocked[task.0] = Some((self.next_order, Wait::Child(child)));
        Ok(Step::Blocked)
    }

    /// `setuid` (`is_uid`) or `setgid`.
    fn setid(&mut self, task: TaskId, id: i64, is_uid: bool) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        let id = id as u32;
        if id == u32::MAX {
            return Outcome::err(Errno::EINVAL);
        }
        let id = i64::from(id);
        let (cap, real, saved) = if is_uid {
            (CAP_SETUID, cred.uid, cred.suid)
        } else {
            (CAP_SETGID, cred.gid, cred.sgid)
        };
        let privileged = cred.caps & (1 << cap) != 0;
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

    /// Updates the implementation's view of `task`'s credentials after a
    /// call that changed them; passes its outcome through.
    fn cred_changed(&mut self, task: TaskId, outcome: Outcome) -> Outcome {
        let t = &mut self.tasks[task.0];
        t.ctx.cred = ipc_cred(&t.cred);
        outcome
    }

    fn capdrop(&mut self, task: TaskId, cap: i64) -> Outcome {
        let cred = &mut self.tasks[task.0].cred;
        if !(0..=i64::from(CAP_LAST_CAP)).contains(&cap) {
            return Outcome::err(Errno::EINVAL);
        }
        if cred.caps & (1 << CAP_SETPCAP) == 0 {
            return Outcome::err(Errno::EPERM);
        }
        cred.caps &= !(1 << cap);
        Outcome::val(0)
    }
}

impl Backend for ConcurrentBackend {
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        match self.tasks.get(task.0) {
            None => {
                return Err(BackendError::Failed(format!(
                    "there is no task #{}",
                    task.0
                )));
            }
            Some(t) if t.state != State::Running => {
                return Err(BackendError::Failed(format!("task #{} has exited", task.0)));
            }
            Some(_) if self.blocked[task.0].is_some() => {
                return Err(BackendError::Failed(format!(
                    "task #{} is blocked in an earlier call",
                    task.0
                )));
            }
            Some(_) => {}
        }
        let done = |o: Outcome| Ok(Step::Done(o));
        match *call {
            Syscall::Msgget { .. }
            | Syscall::Msgsnd { .. }
            | Syscall::Msgrcv { .. }
            | Syscall::Msgctl { .. } => self.ipc_call(task, call),
            Syscall::Sysctl { name, value } => done(self.sysctl(task, name, value)),
            Syscall::Fork => done(self.fork(task, 0)),
            Syscall::Clone { flags, ref set_tid } => {
                if flags & CLONE_NEWPID != 0 || !set_tid.is_empty() {
                    return Err(unsupported("PID namespaces and set_tid"));
                }
                if flags & !CLONE_NEWIPC != 0 {
                    return Err(unsupported("clone flags other than CLONE_NEWIPC"));
                }
                done(self.fork(task, flags))
            }
            Syscall::Unshare { flags } => {
                if flags & CLONE_NEWPID != 0 {
                    return Err(unsupported("unshare(CLONE_NEWPID)"));
                }
                if flags & !CLONE_NEWIPC != 0 {
                    return Err(unsupported("unshare flags other than CLONE_NEWIPC"));
                }
                if flags != 0 {
                    if self.tasks[task.0].cred.caps & (1 << CAP_SYS_ADMIN) == 0 {
                        return done(Outcome::err(Errno::EPERM));
                    }
                    self.tasks[task.0].ctx.ipc_ns = self.namespace();
                }
                done(Outcome::val(0))
            }
            Syscall::Exit { .. } => {
                self.exit(task);
                done(Outcome {
                    ret: Ret::NoReturn,
                    detail: Detail::None,
                })
            }
            Syscall::Waitpid { pid } => self.waitpid(task, pid),
            Syscall::Getpid => done(Outcome::val(self.pid_of(task, task))),
            Syscall::Getppid => {
                let ppid = self.tasks[task.0]
                    .parent
                    .map_or(0, |p| self.pid_of(task, p));
                done(Outcome::val(ppid))
            }
            Syscall::Setsid
            | Syscall::Getsid { .. }
            | Syscall::Setpgid { .. }
            | Syscall::Getpgid { .. } => Err(unsupported("sessions and process groups")),
            Syscall::Setuid { uid } => {
                let o = self.setid(task, uid, true);
                done(self.cred_changed(task, o))
            }
            Syscall::Setgid { gid } => {
                let o = self.setid(task, gid, false);
                done(self.cred_changed(task, o))
            }
            Syscall::Capdrop { cap } => {
                let o = self.capdrop(task, cap);
                done(self.cred_changed(task, o))
            }
        }
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(std::mem::take(&mut self.events))
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        Ok(self.pid_of(viewer, target))
    }

    /// Through the implementation's own interfaces: `MSG_INFO` of each
    /// namespace, then its queues as `/proc/sysvipc/msg` lists them
    /// ([`IpcNamespace::for_each_queue`]).
    fn digest_words(&mut self, out: &mut DigestWords) -> Result<bool, BackendError> {
        out.clear();
        for probe in &self.probes {
            let Ok(Ctl::Info(max_idx, info)) = ipc::msgctl(probe, 0, MSG_INFO, None) else {
                return Err(BackendError::Failed("MSG_INFO failed".to_string()));
            };
            out.namespace(max_idx, &model_info(&info));
            probe
                .ipc_ns
                .for_each_queue(|id, st| out.queue(id, &model_stat(&st)));
        }
        Ok(true)
    }
}

fn ipc_cred(c: &Creds) -> Cred {
    Cred {
        euid: c.euid as u32,
        egid: c.egid as u32,
        caps: c.caps,
    }
}
