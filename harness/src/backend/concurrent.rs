//! The concurrent backend: the IPC calls run on `nscheck-concurrent`,
//! driven one call at a time from the calling thread; the task calls run on
//! the model's kernel.
//!
//! **IPC.** A call that would sleep registers its task as a sleeper in the
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
//! **Tasks.** The implementation has no PID half yet, so `fork`, `clone`,
//! `unshare`, `exit`, `waitpid`, credentials, sessions, process groups and
//! the PID sysctls are the model's own ([`Kernel`], which never sees an IPC
//! call here). What an IPC call needs of its caller, the backend reads from
//! the model after every task call ([`Kernel::ipc_caller`]): credentials,
//! IPC namespace, and the caller's `struct pid` as a [`Pid`], which the
//! implementation records as `msg_lspid`/`msg_lrpid` and shows each reader
//! in its own PID namespace. The model's IPC namespaces are matched by
//! index with the implementation's. A task the model kills while it sleeps
//! in an IPC call has that call cancelled.

use std::sync::Arc;

use nscheck_concurrent::ipc::{self, Ctl, IpcNamespace, MSG_INFO};
use nscheck_concurrent::{Cred, Pid, PidNsId, Sleeper, Task};
use nscheck_model::{
    CallError, Dialect, DigestWords, Event, IpcCaller, Kernel, Step, Syscall, TaskId,
};

use nscheck_adapter::{ParkedCall, Started, is_ipc, model_info, model_stat, start_ipc};

use super::{Backend, BackendError};

/// Makes each new IPC namespace (a test selects a mutant through it).
pub type NamespaceMaker = Arc<dyn Fn() -> IpcNamespace + Send + Sync>;

/// What the implementation knows of one task.
#[derive(Debug)]
struct TaskEntry {
    /// The caller of its IPC calls.
    ctx: Task,
    /// The IPC call the task sleeps in.
    parked: Option<ParkedCall>,
}

/// Runs IPC calls on `nscheck-concurrent` and task calls on the model.
pub struct ConcurrentBackend {
    /// The task half.
    kernel: Kernel,
    tasks: Vec<TaskEntry>,
    /// The tasks asleep in IPC calls, in the order they went to sleep.
    parked: Vec<usize>,
    events: Vec<Event>,
    /// The IPC namespaces, by the model's index.
    namespaces: Vec<Arc<IpcNamespace>>,
    new_namespace: NamespaceMaker,
    /// The caller of the digest's `MSG_INFO` in each namespace: root with
    /// every capability, in `t0`'s PID namespace (the digest shows pids as
    /// `t0` sees them).
    probes: Vec<Task>,
    /// `t0`'s PID namespace.
    root_pid_ns: PidNsId,
}

impl std::fmt::Debug for ConcurrentBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConcurrentBackend")
            .field("tasks", &self.tasks)
            .field("parked", &self.parked)
            .finish_non_exhaustive()
    }
}

impl Default for ConcurrentBackend {
    fn default() -> Self {
        ConcurrentBackend::new()
    }
}

/// The implementation's pid for the model's `struct pid` of `task`.
fn pid(kernel: &Kernel, task: TaskId) -> Arc<Pid> {
    let numbers = kernel.pid_numbers(task);
    Arc::new(Pid::new(
        numbers
            .into_iter()
            .map(|(ns, nr)| (ns as PidNsId, nr))
            .collect(),
    ))
}

fn cred(caller: &IpcCaller) -> Cred {
    Cred {
        euid: caller.euid as u32,
        egid: caller.egid as u32,
        caps: caller.caps,
    }
}

impl ConcurrentBackend {
    /// `t0`: pid 1, root with every capability, in a fresh IPC namespace.
    pub fn new() -> ConcurrentBackend {
        ConcurrentBackend::with_namespaces(Arc::new(IpcNamespace::new))
    }

    /// As [`ConcurrentBackend::new`], with every IPC namespace made by
    /// `maker`.
    pub fn with_namespaces(maker: NamespaceMaker) -> ConcurrentBackend {
        let kernel = Kernel::new(Dialect::Mainline);
        let root_pid_ns = kernel.pid_numbers(TaskId(0))[0].0 as PidNsId;
        let mut b = ConcurrentBackend {
            kernel,
            tasks: Vec::new(),
            parked: Vec::new(),
            events: Vec::new(),
            namespaces: Vec::new(),
            new_namespace: maker,
            probes: Vec::new(),
            root_pid_ns,
        };
        b.follow_model(TaskId(0));
        b
    }

    /// Catches up with the model after a task call by `task`: new IPC
    /// namespaces, new tasks, and `task`'s credentials and IPC namespace
    /// (a task call changes no other task's; a task's pid never changes).
    fn follow_model(&mut self, task: TaskId) {
        while self.namespaces.len() < self.kernel.ipc_ns_count() {
            let ns = Arc::new((self.new_namespace)());
            let probe = match self.probes.first() {
                // The probes' calls never sleep: one pid and parking spot.
                Some(p) => Task {
                    ipc_ns: ns.clone(),
                    ..p.clone()
                },
                None => Task {
                    pid: Arc::new(Pid::new(vec![(self.root_pid_ns, 1)])),
                    cred: Cred {
                        euid: 0,
                        egid: 0,
                        caps: u64::MAX,
                    },
                    ipc_ns: ns.clone(),
                    sleeper: Arc::new(Sleeper::new(u64::MAX, None)),
                },
            };
            self.probes.push(probe);
            self.namespaces.push(ns);
        }
        let known = self.tasks.len();
        let changed = (task.0 < known).then_some(task.0);
        for t in changed.into_iter().chain(known..self.kernel.task_count()) {
            let caller = self.kernel.ipc_caller(TaskId(t));
            match self.tasks.get_mut(t) {
                Some(e) => {
                    e.ctx.cred = cred(&caller);
                    let ns = &self.namespaces[caller.ipc_ns];
                    if !Arc::ptr_eq(&e.ctx.ipc_ns, ns) {
                        e.ctx.ipc_ns = ns.clone();
                    }
                }
                None => self.tasks.push(TaskEntry {
                    ctx: Task {
                        pid: pid(&self.kernel, TaskId(t)),
                        cred: cred(&caller),
                        ipc_ns: self.namespaces[caller.ipc_ns].clone(),
                        sleeper: Arc::new(Sleeper::new(t as u64, None)),
                    },
                    parked: None,
                }),
            }
        }
    }

    /// Runs an IPC call (a msg call or a msg sysctl) and reports the
    /// sleepers it ended.
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

    /// A task call, on the model.
    fn task_call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        let step = self.kernel.call(task, call)?;
        for event in self.kernel.take_events() {
            if let Event::Killed { task } = event
                && let Some(p) = self.tasks[task.0].parked.take()
            {
                self.parked.retain(|&t| t != task.0);
                p.cancel();
            }
            self.events.push(event);
        }
        self.follow_model(task);
        Ok(step)
    }
}

impl Backend for ConcurrentBackend {
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        if self.tasks.get(task.0).is_some_and(|t| t.parked.is_some()) {
            return Err(CallError::Blocked(task).into());
        }
        // A task that cannot call (it does not exist, has exited or sleeps
        // in a task call) gets the model's error.
        let can_call = task.0 < self.tasks.len()
            && !self.kernel.has_exited(task)
            && !self.kernel.is_blocked(task);
        if is_ipc(call) && can_call {
            self.ipc_call(task, call)
        } else {
            self.task_call(task, call)
        }
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(std::mem::take(&mut self.events))
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        Ok(self.kernel.pidof(viewer, target))
    }

    /// Through the implementation's own interfaces: `MSG_INFO` of each
    /// namespace, then its queues as `/proc/sysvipc/msg` lists them
    /// ([`IpcNamespace::for_each_queue`]) to a reader in `t0`'s PID
    /// namespace.
    fn digest_words(&mut self, out: &mut DigestWords) -> Result<bool, BackendError> {
        out.clear();
        for probe in &self.probes {
            let Ok(Ctl::Info(max_idx, info)) = ipc::msgctl(probe, 0, MSG_INFO, None) else {
                return Err(BackendError::Failed("MSG_INFO failed".to_string()));
            };
            out.namespace(max_idx, &model_info(&info));
            probe
                .ipc_ns
                .for_each_queue(self.root_pid_ns, |id, st| out.queue(id, &model_stat(&st)));
        }
        Ok(true)
    }
}
