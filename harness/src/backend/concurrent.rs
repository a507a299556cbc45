//! The concurrent backend: `nscheck-concurrent`, one OS thread per task.
//!
//! Every script task whose IPC call sleeps gets its own worker thread, so a
//! call that sleeps really blocks inside the implementation. Worker threads
//! outlive backends: a backend gives its workers back to a process-wide
//! pool once their calls have returned (killed if asleep), and the next
//! backend takes them from there, so a fuzzing loop does not start a thread
//! for every task that blocks. The backend
//! learns what happened without timing: the implementation reports through
//! [`SleepObserver`] when a task is registered as a sleeper (`parked`) and
//! when a waker has finished a sleeper's call (`woken`); workers report when
//! a call returns. After each call the backend waits until no task is
//! running, so every wake-up the call caused has finished. Sleepers that
//! finished are reported in the order they went to sleep.
//!
//! The fast path: a call that cannot sleep by its contract (`msgget`,
//! `msgctl`, and `msgsnd`/`msgrcv` with `IPC_NOWAIT`) runs on the calling
//! thread, so a script whose tasks never block starts no thread at all.
//! Such a call is marked `Inline` on the board; should the implementation
//! park it all the same, the observer kills it at once, so the call fails
//! with `EINTR` and the backend reports the stray sleep instead of hanging.
//! A call that may sleep is first probed on the calling thread too, with
//! the task's parking spot set to refuse sleeping (`Sleeper::set_probing`):
//! it either finishes there, or returns `EINTR` at the point where it would
//! register as a sleeper, before changing anything, and only then runs
//! again on the task's own thread, where it really sleeps.
//!
//! The task calls (`fork`, `exit`, `waitpid`, credentials, `unshare` of the
//! IPC namespace, the PID sysctls) are handled by a small task table here,
//! mirroring the model's `kernel.rs` for a single PID namespace. PID
//! namespaces, `set_tid`, sessions and process groups are not implemented
//! by this backend yet.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use nscheck_concurrent::ipc::{self, Ctl, IpcNamespace, MSG_INFO, MSG_STAT_ANY, MsgSysctl};
use nscheck_concurrent::{Cred, SleepObserver, Sleeper, Task};
use nscheck_model::abi::{
    CAP_CHECKPOINT_RESTORE, CAP_LAST_CAP, CAP_SETGID, CAP_SETPCAP, CAP_SETUID, CAP_SYS_ADMIN,
    CLONE_NEWIPC, CLONE_NEWPID, PID_MAX_DEFAULT,
};
use nscheck_model::{
    Detail, Errno, Event, IpcDigest, NsDigest, Outcome, Ret, Step, Syscall, Sysctl, TaskId,
};

use nscheck_adapter::{errno, model_info, model_stat, run_ipc};

use super::{Backend, BackendError};

/// `RESERVED_PIDS`: after the first wrap, numbers below it are skipped.
const RESERVED_PIDS: i64 = 300;
/// The smallest `kernel.pid_max`.
const PID_MAX_MIN: i64 = RESERVED_PIDS + 1;

/// Where a task's worker is, as the board sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// No call in progress, or the call has returned.
    Idle,
    /// A call is running (or a sleeper was woken and is finishing).
    Running,
    /// The call is registered as a sleeper and waits.
    Parked,
    /// A call that must not sleep runs on the backend's own thread.
    Inline,
}

/// What the workers and the implementation report to the backend.
#[derive(Debug, Default)]
struct Board {
    status: Vec<Status>,
    /// The outcome of each task's last call, until collected.
    done: Vec<Option<Outcome>>,
    /// Each task's parking spot, to stop an inline call that parks.
    sleepers: Vec<Weak<Sleeper>>,
    /// Set when an inline call parked: the task's token.
    strayed: Option<u64>,
    /// Set when a call on a worker panicked: the task's token.
    panicked: Option<u64>,
    /// The backend's thread waits on `changed` (so a change must notify it;
    /// nothing else ever waits there).
    waiting: bool,
}

#[derive(Debug, Default)]
struct Shared {
    board: Mutex<Board>,
    changed: Condvar,
}

impl Shared {
    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, token: u64, status: Status) {
        let mut b = self.board();
        b.status[token as usize] = status;
        self.changed_locked(b);
    }

    /// Tells the backend's thread about a change made under `b`, if it
    /// waits (a notification is a system call even without a waiter).
    fn changed_locked(&self, b: MutexGuard<'_, Board>) {
        let waiting = b.waiting;
        drop(b);
        if waiting {
            self.changed.notify_all();
        }
    }

    /// Waits under `b` until `until` holds.
    fn wait_until<'a>(
        &'a self,
        mut b: MutexGuard<'a, Board>,
        until: impl Fn(&Board) -> bool,
    ) -> MutexGuard<'a, Board> {
        let mut spins = 0;
        while !until(&b) {
            if spins < SPINS {
                // The change is usually a few microseconds away, on the
                // other core: spin a little before sleeping, which costs
                // two context switches (it is a wait for the same
                // condition, not a guess from time).
                spins += 1;
                drop(b);
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                b = self.board();
                continue;
            }
            b.waiting = true;
            b = self.changed.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        b.waiting = false;
        b
    }

    /// Waits until no task is running.
    fn quiesce(&self) -> MutexGuard<'_, Board> {
        self.wait_until(self.board(), |b| !b.status.contains(&Status::Running))
    }
}

/// How often [`Shared::wait_until`] spins (64 pauses each, a few
/// microseconds in all) before it sleeps.
const SPINS: u32 = 50;

/// The backend's [`SleepObserver`].
#[derive(Debug)]
struct Observer(Arc<Shared>);

impl SleepObserver for Observer {
    fn parked(&self, token: u64) {
        let mut b = self.0.board();
        if b.status[token as usize] == Status::Inline {
            // The backend's own thread would sleep forever: kill the call.
            b.strayed = Some(token);
            if let Some(s) = b.sleepers[token as usize].upgrade() {
                s.kill();
            }
            return;
        }
        drop(b);
        self.0.set(token, Status::Parked);
    }

    fn woken(&self, token: u64) {
        self.0.set(token, Status::Running);
    }
}

/// One call for a worker: task `token` of the backend whose board is
/// `shared`.
struct Job {
    shared: Arc<Shared>,
    token: usize,
    task: Task,
    call: Syscall,
}

/// Where a worker thread waits for its next job.
#[derive(Default)]
struct Slot {
    job: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    /// The next job.
    job: Option<Job>,
    /// The worker is to end.
    closed: bool,
    /// The worker sleeps on `ready`.
    waiting: bool,
}

/// A thread that runs the calls of one task at a time.
struct Worker {
    slot: Arc<Slot>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Worker")
    }
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next job; `None` once the worker is to end.
    fn next(&self) -> Option<Job> {
        let mut s = self.state();
        loop {
            if let Some(job) = s.job.take() {
                return Some(job);
            }
            if s.closed {
                return None;
            }
            s.waiting = true;
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
            s.waiting = false;
        }
    }

    /// Changes the state with `f` and wakes the worker if it sleeps.
    fn update(&self, f: impl FnOnce(&mut SlotState)) {
        let mut s = self.state();
        f(&mut s);
        let waiting = s.waiting;
        drop(s);
        if waiting {
            self.ready.notify_one();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.slot.update(|s| s.closed = true);
    }
}

/// The idle workers, for the next task that needs one.
static POOL: Mutex<Vec<Worker>> = Mutex::new(Vec::new());

/// The most idle workers the pool keeps (a backend has at most a few
/// sleeping tasks; tests run backends on several threads).
const POOL_MAX: usize = 16;

impl Worker {
    /// An idle worker from the pool, or a new thread.
    fn get() -> Worker {
        let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
        pooled.unwrap_or_else(Worker::spawn)
    }

    fn spawn() -> Worker {
        let slot = Arc::new(Slot::default());
        let mine = slot.clone();
        std::thread::Builder::new()
            .name("nscheck-task".to_string())
            .spawn(move || {
                while let Some(job) = mine.next() {
                    let Job {
                        shared,
                        token,
                        task,
                        call,
                    } = job;
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_ipc(&task, &call)
                    }));
                    // Hold nothing of the backend once it sees this call
                    // return.
                    drop((task, call));
                    let mut b = shared.board();
                    match outcome {
                        Ok(outcome) => b.done[token] = Some(outcome),
                        Err(_) => b.panicked = Some(token as u64),
                    }
                    b.status[token] = Status::Idle;
                    shared.changed_locked(b);
                }
            })
            .expect("spawn a task thread");
        Worker { slot }
    }

    /// Hands `job` to the worker's thread.
    fn send(&self, job: Job) {
        self.slot.update(|s| s.job = Some(job));
    }

    /// Gives an idle worker (its call has returned) back to the pool.
    fn release(self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(self);
        }
    }
}

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
    /// In an IPC call, on its worker thread.
    Ipc,
    /// In `waitpid` for this child.
    Child(TaskId),
}

#[derive(Debug)]
struct TaskEntry {
    pid: i64,
    parent: Option<TaskId>,
    ipc_ns: Arc<IpcNamespace>,
    cred: Creds,
    state: State,
    sleeper: Arc<Sleeper>,
    worker: Option<Worker>,
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
    shared: Arc<Shared>,
    tasks: Vec<TaskEntry>,
    pids: PidTable,
    /// Sleeping tasks, with the order in which they went to sleep.
    blocked: Vec<Option<(u64, Wait)>>,
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
            shared: Arc::new(Shared::default()),
            tasks: Vec::new(),
            pids: PidTable {
                used: BTreeSet::new(),
                cursor: 0,
                pid_max: PID_MAX_DEFAULT,
                adding: true,
            },
            blocked: Vec::new(),
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
        let observer = Box::new(Observer(self.shared.clone()));
        let sleeper = Arc::new(Sleeper::new(token, Some(observer)));
        let weak = Arc::downgrade(&sleeper);
        self.tasks.push(TaskEntry {
            pid,
            parent,
            ipc_ns: ns,
            cred,
            state: State::Running,
            sleeper,
            worker: None,
        });
        self.blocked.push(None);
        let mut b = self.shared.board();
        b.status.push(Status::Idle);
        b.done.push(None);
        b.sleepers.push(weak);
    }

    /// Hands `job` to `task`'s worker, taken from the pool on first use.
    fn send(&mut self, task: TaskId, job: Job) {
        self.tasks[task.0]
            .worker
            .get_or_insert_with(Worker::get)
            .send(job);
    }

    /// Runs an IPC call on `task`'s thread and waits until everything it
    /// set off has settled.
    fn ipc_call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        let e = &self.tasks[task.0];
        let ctx = Task {
            pid: e.pid,
            cred: Cred {
                euid: e.cred.euid as u32,
                egid: e.cred.egid as u32,
                caps: e.cred.caps,
            },
            ipc_ns: e.ipc_ns.clone(),
            sleeper: e.sleeper.clone(),
        };
        let may_sleep = match *call {
            Syscall::Msgsnd { msgflg, .. } | Syscall::Msgrcv { msgflg, .. } => {
                msgflg as i32 & ipc::IPC_NOWAIT == 0
            }
            _ => false,
        };
        let probed = may_sleep.then(|| {
            ctx.sleeper.set_probing(true);
            self.shared.set(task.0 as u64, Status::Inline);
            let outcome = run_ipc(&ctx, call);
            ctx.sleeper.set_probing(false);
            outcome
        });
        let inline = match probed {
            None => {
                self.shared.set(task.0 as u64, Status::Inline);
                Some(run_ipc(&ctx, call))
            }
            Some(o) if o.errno() == Some(Errno::EINTR) => {
                let mut b = self.shared.board();
                b.status[task.0] = Status::Idle;
                if b.strayed.take().is_some() {
                    return Err(BackendError::Failed(format!(
                        "task #{} went to sleep while its parking spot refused it",
                        task.0
                    )));
                }
                None
            }
            Some(o) => Some(o),
        };
        let mut board = if inline.is_some() {
            let mut b = self.shared.board();
            b.status[task.0] = Status::Idle;
            if b.strayed.take().is_some() {
                return Err(BackendError::Failed(format!(
                    "task #{} went to sleep in a call that must not sleep",
                    task.0
                )));
            }
            // Wait for the sleepers this call woke.
            self.shared
                .wait_until(b, |b| !b.status.contains(&Status::Running))
        } else {
            self.shared.set(task.0 as u64, Status::Running);
            let job = Job {
                shared: self.shared.clone(),
                token: task.0,
                task: ctx,
                call: call.clone(),
            };
            self.send(task, job);
            self.shared.quiesce()
        };
        if let Some(t) = board.panicked.take() {
            return Err(BackendError::Failed(format!(
                "task #{t} panicked in its call"
            )));
        }
        let step = match inline.or_else(|| board.done[task.0].take()) {
            Some(outcome) => Step::Done(outcome),
            None => {
                self.next_order += 1;
                self.blocked[task.0] = Some((self.next_order, Wait::Ipc));
                Step::Blocked
            }
        };
        // Sleepers whose calls were finished by this one.
        let mut resumed = Vec::new();
        for (t, b) in self.blocked.iter().enumerate() {
            if let Some((order, Wait::Ipc)) = *b
                && let Some(outcome) = board.done[t].take()
            {
                resumed.push((order, TaskId(t), outcome));
            }
        }
        drop(board);
        resumed.sort_by_key(|r| r.0);
        for (_, t, outcome) in resumed {
            self.blocked[t.0] = None;
            self.events.push(Event::Resumed { task: t, outcome });
        }
        Ok(step)
    }

    fn pid_of(&self, _viewer: TaskId, target: TaskId) -> i64 {
        match self.tasks.get(target.0) {
            Some(t) if t.state != State::Reaped => t.pid,
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
            (Some(n), None) => Outcome::val(t.ipc_ns.sysctl(n)),
            (Some(n), Some(v)) => {
                let r = t.ipc_ns.write_sysctl(&ipc_cred(&t.cred), n, v);
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
        let (cred, ns) = (p.cred, p.ipc_ns.clone());
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

    /// Kills the call `task` sleeps in, if any, waits until it has
    /// returned, and gives the task's worker back to the pool.
    fn stop_worker(&mut self, task: TaskId) {
        let e = &mut self.tasks[task.0];
        e.sleeper.kill();
        let worker = e.worker.take();
        let b = self.shared.board();
        let mut b = if worker.is_some() {
            // The worker reports Idle once the call has returned.
            self.shared.wait_until(b, |b| {
                !matches!(b.status[task.0], Status::Running | Status::Parked)
            })
        } else {
            b
        };
        b.status[task.0] = Status::Idle;
        b.done[task.0] = None;
        drop(b);
        if let Some(w) = worker {
            w.release();
        }
    }

    fn release(&mut self, task: TaskId) {
        self.tasks[task.0].state = State::Reaped;
        self.pids.used.remove(&self.tasks[task.0].pid);
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
                self.stop_worker(v);
                self.tasks[v.0].state = State::Zombie;
            }
            self.pids.adding = false;
            for &v in &victims {
                self.release(v);
            }
        }
        self.blocked[task.0] = None;
        self.stop_worker(task);
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

impl Drop for ConcurrentBackend {
    fn drop(&mut self) {
        for t in 0..self.tasks.len() {
            self.stop_worker(TaskId(t));
        }
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
                    self.tasks[task.0].ipc_ns = self.namespace();
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
            Syscall::Setuid { uid } => done(self.setid(task, uid, true)),
            Syscall::Setgid { gid } => done(self.setid(task, gid, false)),
            Syscall::Capdrop { cap } => done(self.capdrop(task, cap)),
        }
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(std::mem::take(&mut self.events))
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        Ok(self.pid_of(viewer, target))
    }

    /// Through the implementation's own calls: `MSG_INFO` gives the highest
    /// index in use, and `MSG_STAT_ANY` reads each index up to it.
    fn digest(&mut self) -> Result<Option<IpcDigest>, BackendError> {
        let mut digest = IpcDigest::default();
        self.digest_into(&mut digest)?;
        Ok(Some(digest))
    }

    fn digest_into(&mut self, out: &mut IpcDigest) -> Result<bool, BackendError> {
        out.namespaces
            .resize_with(self.namespaces.len(), NsDigest::default);
        for (probe, d) in self.probes.iter().zip(&mut out.namespaces) {
            let Ok(Ctl::Info(max_idx, info)) = ipc::msgctl(probe, 0, MSG_INFO, None) else {
                return Err(BackendError::Failed("MSG_INFO failed".to_string()));
            };
            d.max_idx = max_idx;
            d.info = model_info(&info);
            d.queues.clear();
            if info.msgpool > 0 {
                for idx in 0..=max_idx as i32 {
                    if let Ok(Ctl::Stat(id, st)) = ipc::msgctl(probe, idx, MSG_STAT_ANY, None) {
                        d.queues.push((id, model_stat(&st)));
                    }
                }
            }
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
