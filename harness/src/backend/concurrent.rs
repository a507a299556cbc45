//! The concurrent backend: every call runs on `nscheck-concurrent`, driven
//! one call at a time from the calling thread, through `nscheck-adapter`
//! (the IPC calls with `start_ipc`, the task calls with `start_task`, on
//! the implementation's task half, [`System`]).
//!
//! **Sleeping calls.** A call that would sleep (a `msgsnd`, a `msgrcv`, a
//! `waitpid` for a child that is not reapable yet) comes back as a parked
//! call ([`ParkedCall`]) instead of blocking the thread. The
//! implementation's IPC wakers finish a sleeper's call on its behalf (they
//! hand a receiver its message and enqueue a sender's); a parked `waitpid`
//! looks again when polled. So after every call the backend polls the
//! parked calls in the order they went to sleep, again until none ends
//! (one reap can end a pending init exit, which lets another waiter reap),
//! and reports those that ended in sleep order. The code a sleeping thread
//! runs when woken is the same `poll` runs, so this drives exactly what one
//! thread per task would run, without a thread or a context switch (the
//! loom and shuttle checks and `concurrent/tests/threads.rs` and
//! `procs.rs` run it on real and modelled threads).
//!
//! **Killed tasks.** An init's `exit` kills every task of its namespace;
//! a killed task's parked call is cancelled, as a fatal signal ends it,
//! before the parked calls are polled.
//!
//! **What the model is used for.** Only its types (`Syscall`, `Outcome`,
//! `Event`, `Step`, `TaskId`) and its refusals (`CallError`: a task that
//! does not exist, has exited or sleeps; a call the model does not
//! specify), so that every backend reports them the same way.

use std::sync::Arc;

use nscheck_concurrent::ipc::{self, Ctl, IpcNamespace, MSG_INFO};
use nscheck_concurrent::pid::Variant;
use nscheck_concurrent::proc::System;
use nscheck_concurrent::{Cred, Pid, PidNsId, Sleeper, Task};
use nscheck_model::{CallError, DigestWords, Event, Step, Syscall, TaskId};

use nscheck_adapter::{
    ParkedCall, Started, TaskStep, is_ipc, model_info, model_stat, start_ipc, start_task,
};

use super::{Backend, BackendError};

/// Makes each new IPC namespace (a test selects a mutant through it).
pub type NamespaceMaker = Arc<dyn Fn() -> IpcNamespace + Send + Sync>;

/// What the backend keeps of one task.
#[derive(Debug)]
struct TaskEntry {
    /// The caller of its IPC calls, as the task half last described it.
    ctx: Task,
    /// The call the task sleeps in.
    parked: Option<ParkedCall>,
}

/// Runs every call on `nscheck-concurrent`.
pub struct ConcurrentBackend {
    sys: Arc<System>,
    tasks: Vec<TaskEntry>,
    /// The tasks asleep, in the order they went to sleep.
    parked: Vec<usize>,
    events: Vec<Event>,
    /// The caller of the digest's `MSG_INFO` in each IPC namespace, in
    /// creation order: root with every capability, in `t0`'s PID namespace
    /// (the digest shows pids as `t0` sees them).
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

impl ConcurrentBackend {
    /// `t0`: pid 1, root with every capability, in a fresh IPC namespace.
    pub fn new() -> ConcurrentBackend {
        ConcurrentBackend::with_system(System::new())
    }

    /// As [`ConcurrentBackend::new`], with every IPC namespace made by
    /// `maker` (a test selects an IPC mutant so).
    pub fn with_namespaces(maker: NamespaceMaker) -> ConcurrentBackend {
        ConcurrentBackend::with_system(System::with_ipc_namespaces(Box::new(move || maker())))
    }

    /// As [`ConcurrentBackend::new`], with the pid design `variant` (the
    /// implementation's name for the dialects `flat2007` and `openvz2006`).
    pub fn with_variant(variant: Variant) -> ConcurrentBackend {
        ConcurrentBackend::with_variants(variant, ipc::Variant::Mainline)
    }

    /// As [`ConcurrentBackend::new`], with the pid design `pid` and every
    /// IPC namespace's `MSG_COPY` design `msg` (the implementation's name
    /// for the dialect `rfc2012`).
    pub fn with_variants(pid: Variant, msg: ipc::Variant) -> ConcurrentBackend {
        let maker = Box::new(move || IpcNamespace::with_variant(msg));
        ConcurrentBackend::with_system(System::with_variant(pid, maker))
    }

    /// Drives `sys`, a machine where only `t0` has run. This is how a test
    /// selects a mutant of the task half (`System::with_mutant`) or of the
    /// PID half (`System::with_root` of
    /// `PidNamespace::new_root_with_mutant`).
    pub fn with_system(sys: Arc<System>) -> ConcurrentBackend {
        let root_pid_ns = sys.struct_pid(0).ns().id();
        let mut b = ConcurrentBackend {
            sys,
            tasks: Vec::new(),
            parked: Vec::new(),
            events: Vec::new(),
            probes: Vec::new(),
            root_pid_ns,
        };
        b.follow(0);
        b
    }

    /// Catches up with the task half after a call by `task`: new IPC
    /// namespaces, new tasks, and `task`'s credentials and IPC namespace
    /// (a call changes no other task's; a task's pid never changes).
    fn follow(&mut self, task: usize) {
        let namespaces = self.sys.ipc_namespaces();
        for ns in &namespaces[self.probes.len()..] {
            self.probes.push(Task {
                pid: Arc::new(Pid::new(vec![(self.root_pid_ns, 1)])),
                cred: Cred {
                    euid: 0,
                    egid: 0,
                    caps: u64::MAX,
                },
                ipc_ns: ns.clone(),
                sleeper: Arc::new(Sleeper::new(u64::MAX, None)),
            });
        }
        let known = self.tasks.len();
        if task < known {
            let ctx = self.sys.ipc_task(task);
            let e = &mut self.tasks[task].ctx;
            e.cred = ctx.cred;
            if !Arc::ptr_eq(&e.ipc_ns, &ctx.ipc_ns) {
                e.ipc_ns = ctx.ipc_ns;
            }
        }
        for t in known..self.sys.task_count() {
            self.tasks.push(TaskEntry {
                ctx: self.sys.ipc_task(t),
                parked: None,
            });
        }
    }

    /// The parked calls that ended, reported in the order their tasks
    /// went to sleep. Polls until none ends: a reap may end a pending init
    /// exit, which another waiter was waiting for.
    fn poll_parked(&mut self) {
        let mut ended = Vec::new();
        loop {
            let mut progress = false;
            for (i, &t) in self.parked.iter().enumerate() {
                if ended.iter().any(|&(j, _)| j == i) {
                    continue;
                }
                if let Some(outcome) = self.tasks[t].parked.as_ref().and_then(ParkedCall::poll) {
                    ended.push((i, outcome));
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if ended.is_empty() {
            return;
        }
        ended.sort_by_key(|&(i, _)| i);
        for &(i, ref outcome) in &ended {
            let t = self.parked[i];
            self.tasks[t].parked = None;
            self.events.push(Event::Resumed {
                task: TaskId(t),
                outcome: outcome.clone(),
            });
        }
        let mut i = 0;
        self.parked.retain(|_| {
            i += 1;
            !ended.iter().any(|&(j, _)| j == i - 1)
        });
    }

    /// Runs `call`; a call that must not sleep and does is a failure.
    fn run(&mut self, task: usize, call: &Syscall) -> Result<(Started, Vec<TaskId>), BackendError> {
        if is_ipc(call) {
            return Ok((start_ipc(&self.tasks[task].ctx, call), Vec::new()));
        }
        let TaskStep { started, killed } = start_task(&self.sys, TaskId(task), call)?;
        self.follow(task);
        Ok((started, killed))
    }
}

impl Backend for ConcurrentBackend {
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        // The model's refusals, in its order.
        if task.0 >= self.tasks.len() {
            return Err(CallError::NoSuchTask(task).into());
        }
        if !self.sys.is_running(task.0) {
            return Err(CallError::Exited(task).into());
        }
        if self.tasks[task.0].parked.is_some() {
            return Err(CallError::Blocked(task).into());
        }
        let may_sleep = match *call {
            Syscall::Msgsnd { msgflg, .. } | Syscall::Msgrcv { msgflg, .. } => {
                msgflg as i32 & ipc::IPC_NOWAIT == 0
            }
            Syscall::Waitpid { .. } => true,
            _ => false,
        };
        let (started, killed) = self.run(task.0, call)?;
        let step = match started {
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
                Step::Blocked
            }
        };
        for &k in &killed {
            if let Some(p) = self.tasks[k.0].parked.take() {
                self.parked.retain(|&t| t != k.0);
                p.cancel();
            }
        }
        self.poll_parked();
        self.events
            .extend(killed.into_iter().map(|task| Event::Killed { task }));
        Ok(step)
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(std::mem::take(&mut self.events))
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        Ok(self.sys.pidof(viewer.0, target.0))
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
