//! The Linux backend: real system calls in fresh IPC and PID namespaces.
//!
//! # Processes
//!
//! The controller (this code, inside the `nscheck` process) stays in the
//! host's namespaces and never makes an IPC call itself. It re-executes the
//! agent executable as `nscheck __agent` with `unshare(CLONE_NEWIPC |
//! CLONE_NEWPID)` done between fork and exec; that launcher is in the new IPC
//! namespace, and its first child, `t0`, is pid 1 of the new PID namespace.
//! Every task of a script is a real process, an agent (see [`agent`]) that
//! makes the calls it is sent; a `fork` in a script is a real fork by the
//! parent task. The controller talks to each agent over its own socket (see
//! [`proto`]).
//!
//! # PID namespaces
//!
//! The controller must run in the host's (initial) PID namespace, and `t0`'s
//! `NSpid` line must have exactly two numbers: the model puts `t0`'s
//! namespace at level 1, right below the host's, and levels show (at most 32
//! of them, one `set_tid` entry each). Nested in a container, the backend is
//! unavailable. Agents never create processes or threads of their own, so
//! every pid the kernel hands out is one the script asked for: a `fork` or
//! `clone` by an agent is the script's, and `clone` is a raw `clone3` with
//! the script's flags and `set_tid` (innermost level first). A new task in a
//! nested namespace is made the same way, by `clone(CLONE_NEWPID)` or by a
//! `fork` after `unshare(CLONE_NEWPID)`, and its agent works as any other.
//! The agents' `/proc/sys/kernel/ns_last_pid` and `pid_max` are those of
//! their own active PID namespace, which is what the sysctls mean.
//!
//! `pidof(TASK)` is translated here, from what `/proc` said when the task
//! introduced itself: its `NSpid` line (a number at every level, the host's
//! first) and the namespace of each level (`ns/pid` and its ancestors by
//! `NS_GET_PARENT`, compared by nsfs inode; see [`procfs::pid_ns_chain`]).
//! The viewer's level is where its own chain ends. The target has a number
//! there, visible to the viewer, if and only if its chain has the viewer's
//! namespace at that level, that is if it lives in the viewer's namespace or
//! below it; a sibling namespace at the same level does not count, which is
//! why levels alone are not enough. A reaped task has no number anywhere.
//! Each task keeps its namespace open, so no inode number in a chain is
//! given to another namespace while the backend lives. `waitpid(TASK)` gets
//! the number that `pidof` gives for the caller.
//!
//! The model leaves the host's namespace out, so a `set_tid` entry for the
//! host's level is refused (unsupported) where the model refuses it; the
//! agent finds out whether the kernel would get that far without ever
//! allocating a host pid (see `agent::spawn::clone_with_host_entry`).
//!
//! # Blocking, waking and dying
//!
//! A call that sleeps never answers, so the controller watches the task in
//! `/proc` (see [`procfs`]) while it waits: the call is blocked once the task
//! is asleep (`S`) inside that very system call (`msgsnd`, `msgrcv` or
//! `wait4`). `msgsnd` and `msgrcv` show `S` only once they are queued as
//! sleepers, so a wake-up cannot miss them. `wait4` shows `S` while it scans
//! the children too, so a `waitpid` counts as blocked only when it waits for
//! a live child of the caller; any other is awaited until it answers. After
//! every call each blocked task is settled: by the time the
//! waker's call has returned, the kernel has already made every task it woke
//! runnable, so a blocked task has either answered (it resumed), or is seen
//! asleep in its call again (it was not woken, or went back to sleep). The
//! one exception is a `waitpid` whose child has exited: it always returns, but
//! `/proc` may show the child as a zombie an instant before the parent is
//! woken, so such a waiter is settled only by its answer. Nothing here
//! sleeps and hopes: every wait polls for a definite state.
//!
//! When a task exits, every other task that died with it is reported as
//! killed, in creation order, after the resumed calls: when a namespace's
//! init exits, the kernel kills every task of that namespace and of the
//! namespaces below it (zombies are only reaped, not reported), and the init
//! itself becomes a zombie only once no number of its namespace is in use,
//! so a `waitpid` for it returns after that. Later forks into that namespace
//! fail with `ENOMEM`. When such an exit is finished, or held for good by a
//! number that only a later call can free, is decided by the rule in
//! [`zap`]. Settling the sleepers and the held exits goes round until
//! neither moves: a resumed `waitpid` may reap the zombie that held an
//! init, and that init's exit may then wake its parent's `waitpid`.
//!
//! # Deadlines
//!
//! Every wait above ends on a definite kernel state. [`TIMEOUT`] only bounds
//! a failure: a task that neither answers nor reaches a settled state within
//! it makes the backend fail with [`BackendError::Failed`]. It is generous
//! (30 s) because no correct run comes near it, even with every core busy:
//! the states it waits for take microseconds of the task's own CPU time.
//!
//! # Lifetime
//!
//! Dropping the backend kills `t0` with SIGKILL, which kills the whole PID
//! namespace, and reaps the launcher. The launcher also dies (and takes the
//! namespace with it) if the thread that created the backend exits
//! (`PR_SET_PDEATHSIG`), so a backend must be used and dropped on the thread
//! that created it, or on a thread that outlives it.
//!
//! # Under a command prefix
//!
//! [`LinuxBackend::wrapped`] runs the launcher under a command prefix
//! (`--wrap 'CMD ARGS'`; `--backend gvisor` is the preset
//! `runsc --rootless=false --network=none do`), so that another
//! implementation of these calls, such as gVisor's, is checked the same
//! way. The launcher then supervises (see [`wrap`] and `agent::supervise`):
//! it creates the namespaces itself, relays every agent's frames over its
//! one standard input, and reads its own `/proc` for the controller. Its
//! PID namespace stands for the host's: `t0` is pid 1 at level 1 below it.
//! A whole script has [`SCRIPT_LIMIT`] (60 s), on top of the per-wait
//! [`TIMEOUT`], and a wrapper that does not exit when its stream closes is
//! killed after `wrap::GRACE`.
//!
//! What the implementation lacks is probed for, never assumed:
//!
//! - Without `/proc/PID/syscall` (gVisor has none, nor `wchan`) the agents
//!   announce each call that may sleep ([`proto::Reply::Started`]) before
//!   making it, so a task seen asleep (`S`) afterwards, with no answer
//!   relayed, is asleep in that call. gVisor shows a woken task asleep
//!   until it actually runs, so after a call the sleepers count as settled
//!   only when a second look, [`SETTLE`] after a round that found them all
//!   asleep, finds the same. This one rule depends on timing: a sleeper
//!   woken later than that shows up as a nondeterministic trace, which two
//!   runs of the script tell apart.
//! - Without `NSpid` lines in `/proc/PID/status` or the `NS_GET_PARENT`
//!   ioctl (gVisor has neither), the PID namespaces of the tasks are the
//!   backend's bookkeeping ([`LinuxBackend::book_chain`]): `t0` in a fresh
//!   one, a child in its parent's (or the one its parent unshared), one more
//!   for `CLONE_NEWPID`. A task's numbers are known in the supervisor's
//!   namespace (from its hello), in its own (`getpid`) and in its parent's
//!   (the `fork` or `clone` result); every other is looked up in a `/proc`
//!   that the init of that namespace mounted (mounting proc works in gVisor
//!   where `unshare --mount-proc` does not), by the name the agent gave
//!   itself (`agent::findable`, [`LinuxBackend::find_numbers`]). A number
//!   that still cannot be found makes `pidof` refuse as missing, and
//!   `waitpid`'s target is looked up among the known ones. Groups and
//!   sessions (`NSpgid`, `NSsid`) are then unknown and taken to hold no PID
//!   namespace.
//! - Without `clone3` (`ENOSYS` in gVisor) a `clone` without `set_tid` is
//!   made with `clone(2)`; one with `set_tid` gets the implementation's own
//!   `ENOSYS`.
//! - An absent sysctl file, or an errno the model does not name, is
//!   refused as [`BackendError::Unsupported`] with a message that starts
//!   with `missing: ` ([`proto::MISSING`]; `docs/SCRIPT.md`).

mod agent;
mod exe;
mod mux;
mod procfs;
mod proto;
pub mod wrap;
mod zap;

/// How a refusal of a call that the implementation lacks begins
/// (`docs/SCRIPT.md`, "Missing features").
pub use proto::MISSING;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sched::CloneFlags;
use nix::sys::time::TimeSpec;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nscheck_model::abi::{CLONE_NEWIPC, CLONE_NEWPID};
use nscheck_model::{Event, Outcome, Ret, Step, Syscall, TaskId};

use super::{Backend, BackendError};

pub use agent::launcher_main as agent_main;
pub use exe::agent_path;

/// How long the controller waits for any one thing (an answer, a task going
/// to sleep, a task dying) before it declares the backend broken. It bounds
/// a failure and decides nothing else (see "Deadlines" above).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How long the controller sleeps between two looks at a task.
const POLL: Duration = Duration::from_micros(100);

/// The time limit of a whole script under a command prefix (a sandbox may
/// hang where Linux would not); see "Under a command prefix" above.
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// Where `/proc/PID/syscall` is absent: how long every sleeper must stay
/// asleep, with no answer, after a round that found them all asleep, for
/// the controller to take them as settled (see "Under a command prefix").
pub const SETTLE: Duration = Duration::from_millis(5);

/// A pid number that the backend cannot know (see `pidof` under a command
/// prefix).
const UNKNOWN: i64 = -1;

/// Whether a task can still make calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Alive,
    /// It called `exit` (a zombie until reaped, then gone).
    Exited,
    /// It called `exit` as its namespace's init, and the kernel holds it in
    /// `zap_pid_ns_processes` (asleep, not yet a zombie) until every task of
    /// the namespace is reaped: some killed task's parent lives outside the
    /// namespace (it forked there after `unshare(CLONE_NEWPID)`), and only
    /// that parent's `waitpid` reaps it.
    Zapping,
    /// It was killed by SIGKILL.
    Killed,
}

/// One task: a process running an agent.
#[derive(Debug)]
struct Task {
    /// The controller's end of the agent's socket.
    chan: OwnedFd,
    /// `/proc/PID` of the process, which stays bound to it.
    proc_dir: procfs::ProcDir,
    /// Its pid in the controller's `/proc`.
    host_pid: i64,
    /// Its `NSpid` line: its number at every level, the host's (0) first,
    /// its own PID namespace's last (where `t0` is 1). A task's numbers never
    /// change, so they are read once, when it introduces itself.
    nspids: Vec<i64>,
    /// The PID namespace of each of those numbers, as nsfs inode numbers,
    /// aligned with `nspids` (see [`procfs::pid_ns_chain`]).
    pid_nss: Vec<u64>,
    /// Keeps the task's PID namespace, and so every one in `pid_nss`, alive
    /// as long as the backend: their inode numbers are never reused by a
    /// later namespace while they may still be compared. (A supervisor
    /// keeps them itself.)
    _pid_ns: Option<OwnedFd>,
    /// Where the namespace chain is the backend's own bookkeeping (see
    /// [`LinuxBackend::book_chain`]): the PID namespace that a successful
    /// `unshare(CLONE_NEWPID)` made for the task's children.
    unshared_ns: Option<u64>,
    life: Life,
}

impl Task {
    /// The level of the task's own PID namespace (`t0`'s is 1).
    fn level(&self) -> usize {
        self.pid_nss.len() - 1
    }

    /// Its pid in its own PID namespace.
    fn ns_pid(&self) -> i64 {
        self.nspids.last().copied().unwrap_or(0)
    }

    /// `pid_nr_ns`: its number in `viewer`'s PID namespace, if it has one
    /// there; that is, if it is in that namespace or below it. Two sibling
    /// namespaces are at the same level, so the level alone is not enough:
    /// the namespace at that level must be the viewer's own.
    fn nr_seen_by(&self, viewer: &Task) -> Option<i64> {
        let level = viewer.level();
        (self.pid_nss.get(level) == viewer.pid_nss.get(level))
            .then(|| self.nspids.get(level).copied())
            .flatten()
    }
}

/// A task asleep in a call.
#[derive(Debug)]
struct Sleeper {
    task: TaskId,
    /// When it went to sleep, relative to the others.
    order: u64,
    /// The system call number it sleeps in.
    nr: i64,
    /// For `waitpid`: the child it waits for.
    child: Option<TaskId>,
}

/// Runs calls on the real kernel.
#[derive(Debug)]
pub struct LinuxBackend {
    /// The launcher, the parent of `t0` outside the new PID namespace.
    launcher: Option<Child>,
    /// Under a command prefix: the wrapper and its relay, dropped last.
    wrapped: Option<wrap::Wrapped>,
    /// Under a command prefix: the supervisor that reads `/proc`.
    sup: Option<Arc<wrap::Supervisor>>,
    /// What the backend is called in messages (`linux`, `gvisor`, ...).
    name: String,
    /// Whether the agents announce a call that may sleep
    /// ([`proto::Reply::Started`]): where `/proc/PID/syscall` is absent.
    announce: bool,
    /// Whether the PID namespaces and numbers of tasks are the backend's own
    /// bookkeeping: where `/proc/PID/status` has no `NSpid` line or
    /// `NS_GET_PARENT` does not exist.
    booked: bool,
    /// The next namespace identity of the bookkeeping.
    next_ns: u64,
    /// When the script's time is up, under a command prefix.
    script_deadline: Option<Instant>,
    /// Every task, in creation order (`TaskId` is the index).
    tasks: Vec<Task>,
    /// The blocked tasks, in the order they went to sleep.
    sleepers: Vec<Sleeper>,
    /// The `order` of the next task to go to sleep.
    next_order: u64,
    /// The events of the last call.
    events: Vec<Event>,
}

/// What the controller does not run, as the model does not: other clone
/// and unshare flags, and `waitpid` for any child or a process group (a task
/// that the caller cannot see is pid 0). A `set_tid` entry for the host's
/// PID namespace is refused by the agent, which alone can tell whether the
/// call would get that far (see `agent::spawn::clone_with_host_entry`).
fn unsupported(call: &Syscall) -> Option<String> {
    let ns_flags = CLONE_NEWIPC | CLONE_NEWPID;
    match *call {
        Syscall::Clone { flags, .. } if flags & !ns_flags != 0 => {
            Some("clone flags other than CLONE_NEWIPC and CLONE_NEWPID".to_string())
        }
        Syscall::Unshare { flags } if flags & !ns_flags != 0 => {
            Some("unshare flags other than CLONE_NEWIPC and CLONE_NEWPID".to_string())
        }
        Syscall::Waitpid { pid } if pid <= 0 => Some(format!("waitpid({pid})")),
        _ => None,
    }
}

/// Waits up to `timeout` for `fd` to be readable (or closed).
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ts = TimeSpec::from_duration(timeout);
    match ppoll(&mut fds, Some(ts), None) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A failure of the backend itself.
fn failed(msg: impl Into<String>) -> BackendError {
    BackendError::Failed(msg.into())
}

impl LinuxBackend {
    /// Starts `t0` in fresh namespaces, running `agent_exe __agent` (the
    /// `nscheck` executable) as the launcher. Fails with
    /// [`BackendError::Unavailable`] where namespaces cannot be created.
    pub fn new(agent_exe: &Path) -> Result<LinuxBackend, BackendError> {
        // The model puts `t0`'s namespace at level 1, right below the host's,
        // and levels matter (at most 32 of them, one set_tid entry each).
        // Inside a container that namespace would be deeper, however the
        // container's own `/proc` numbers it, so the controller itself must
        // be in the initial PID namespace.
        match procfs::own_pid_ns() {
            Ok(procfs::INIT_PID_NS_INODE) => {}
            Ok(_) => {
                return Err(BackendError::Unavailable(
                    "the linux backend is not in the host's PID namespace (nested in a \
                     container; pid namespace depth would differ from the model's)"
                        .to_string(),
                ));
            }
            Err(e) => {
                return Err(BackendError::Unavailable(format!(
                    "the linux backend cannot read /proc/self/ns/pid: {e}"
                )));
            }
        }
        let (ours, theirs) =
            socket_pair().map_err(|e| BackendError::Unavailable(format!("socketpair: {e}")))?;
        let mut cmd = Command::new(agent_exe);
        cmd.arg("__agent")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: the closure runs between fork and exec; `unshare` is one
        // system call, async-signal-safe, and the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                nix::sched::unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID)
                    .map_err(io::Error::from)
            });
        }
        let launcher = cmd.spawn().map_err(|e| {
            BackendError::Unavailable(match e.raw_os_error() {
                Some(libc::EPERM | libc::EINVAL | libc::ENOSPC | libc::EUSERS) => format!(
                    "the linux backend cannot create fresh IPC and PID namespaces \
                     (unshare(CLONE_NEWIPC|CLONE_NEWPID): {e}); it needs CAP_SYS_ADMIN, e.g. root"
                ),
                _ => format!("cannot start the agent {}: {e}", agent_exe.display()),
            })
        })?;
        let mut backend = LinuxBackend::empty("linux");
        backend.launcher = Some(launcher);
        backend.start_t0(ours)
    }

    /// A backend with no task yet.
    fn empty(name: &str) -> LinuxBackend {
        LinuxBackend {
            launcher: None,
            wrapped: None,
            sup: None,
            name: name.to_string(),
            announce: false,
            booked: false,
            next_ns: 1,
            script_deadline: None,
            tasks: Vec::new(),
            sleepers: Vec::new(),
            next_order: 0,
            events: Vec::new(),
        }
    }

    /// Starts `agent_exe __agent --supervise` under `wrap`'s command prefix
    /// (see [`wrap`] and "Under a command prefix" above): the supervisor
    /// creates the fresh namespaces itself, and `t0` is pid 1 of its PID
    /// namespace, at level 1 below the supervisor's, which stands for the
    /// host's. Fails with [`BackendError::Unavailable`] where the prefix
    /// cannot run the agent.
    pub fn wrapped(agent_exe: &Path, wrap: &wrap::Wrap) -> Result<LinuxBackend, BackendError> {
        let started = wrap::start(wrap, agent_exe)?;
        let mut backend = LinuxBackend::empty(&wrap.name);
        backend.wrapped = Some(started.wrapped);
        backend.sup = Some(started.sup);
        backend.announce = !started.syscall_file;
        backend.script_deadline = Some(Instant::now() + SCRIPT_LIMIT);
        backend.start_t0(started.t0)
    }

    /// Under a command prefix, the wrapper's private `TMPDIR`, which holds
    /// whatever state the wrapper keeps (`runsc do`'s) and is removed with
    /// the backend.
    pub fn wrapper_tmpdir(&self) -> Option<&Path> {
        self.wrapped.as_ref().map(|w| w.tmpdir())
    }

    /// The namespace inits whose exit is held (see [`zap`]): each waits in
    /// its exit for a number that only a later call can free.
    pub fn held_exits(&self) -> Vec<TaskId> {
        (0..self.tasks.len())
            .filter(|&k| self.tasks[k].life == Life::Zapping)
            .map(TaskId)
            .collect()
    }

    /// Adopts `t0` on `chan` and checks that it is pid 1 at level 1.
    fn start_t0(mut self, chan: OwnedFd) -> Result<LinuxBackend, BackendError> {
        let backend = &mut self;
        let t0 = backend.adopt(chan, None).map_err(|e| match e {
            BackendError::Failed(m) => BackendError::Unavailable(format!(
                "the {} backend cannot start t0: {m}",
                backend.name
            )),
            e => e,
        })?;
        if t0.ns_pid() != 1 {
            return Err(failed(format!(
                "t0 has pid {} in its namespace, not 1",
                t0.ns_pid()
            )));
        }
        if t0.nspids.len() != 2 || t0.level() != 1 {
            return Err(BackendError::Unavailable(format!(
                "t0's NSpid line is {:?} (PID namespaces {:?}), not the host's pid and 1 \
                 (nested in a container; pid namespace depth would differ)",
                t0.nspids, t0.pid_nss
            )));
        }
        backend.tasks.push(t0);
        Ok(self)
    }

    /// The deadline of a wait that starts now: [`TIMEOUT`] from now, or the
    /// script's time limit if that comes first.
    fn deadline(&self) -> Instant {
        let wait = Instant::now() + TIMEOUT;
        self.script_deadline.map_or(wait, |d| d.min(wait))
    }

    /// A fresh identity for a PID namespace of the bookkeeping.
    fn fresh_ns(&mut self) -> u64 {
        self.next_ns += 1;
        self.next_ns
    }

    /// The bookkeeping's PID namespaces of a new task (see "Under a command
    /// prefix" above): `t0`'s is a fresh one below the supervisor's (0); a
    /// child's are its parent's, with the parent's unshared namespace and a
    /// fresh one for `CLONE_NEWPID` below them.
    fn book_chain(&mut self, origin: Option<(TaskId, bool)>) -> Vec<u64> {
        let mut chain = match origin {
            None => vec![0],
            Some((parent, _)) => {
                let p = &self.tasks[parent.0];
                let mut c = p.pid_nss.clone();
                c.extend(p.unshared_ns);
                c
            }
        };
        if origin.is_none_or(|(_, newpid)| newpid) {
            chain.push(self.fresh_ns());
        }
        chain
    }

    /// Fills in the [`UNKNOWN`] numbers of a new task of the bookkeeping
    /// (supervisor pid `host_pid`, namespaces `pid_nss`): the number at a
    /// level is the task's entry in the `/proc` that the init of that level's
    /// namespace mounted (see `agent::findable`). Pids are handed out from 1
    /// in a namespace where `set_tid` and `ns_last_pid` do not exist, so no
    /// number is above twice the tasks made so far, and a few more.
    fn find_numbers(
        &self,
        host_pid: i64,
        pid_nss: &[u64],
        nspids: &mut [i64],
    ) -> Result<(), BackendError> {
        let Some(sup) = &self.sup else {
            return Ok(());
        };
        let max = 2 * self.tasks.len() as i64 + 8;
        for (level, nr) in nspids.iter_mut().enumerate().skip(1) {
            if *nr != UNKNOWN {
                continue;
            }
            let init = self.tasks.iter().find(|t| {
                t.level() == level && t.pid_nss.get(level) == pid_nss.get(level) && t.ns_pid() == 1
            });
            let Some(init) = init else {
                continue;
            };
            let q = mux::Query::Find {
                init: init.host_pid,
                pid: host_pid,
                max,
            };
            match sup.query(&q) {
                Ok(mux::Answer::Pid(Some(found))) => *nr = found,
                Ok(_) => {}
                Err(e) => return Err(failed(format!("finding task {host_pid}'s numbers: {e}"))),
            }
        }
        Ok(())
    }

    /// Reads a new agent's introduction from `chan` and opens its `/proc`.
    /// `origin` is the parent and whether it cloned with `CLONE_NEWPID`,
    /// and `nr` the pid the parent's `fork` or `clone` returned (`None` for
    /// `t0`); only the bookkeeping needs them.
    fn adopt(
        &mut self,
        chan: OwnedFd,
        origin: Option<(TaskId, bool, i64)>,
    ) -> Result<Task, BackendError> {
        let (reply, _) = self.recv(chan.as_fd(), "a new task")?;
        let (host_pid, ns_pid) = match reply {
            proto::Reply::Hello { host_pid, ns_pid } => (host_pid, ns_pid),
            proto::Reply::Failure(m) => return Err(failed(m)),
            other => {
                return Err(failed(format!(
                    "a new task said {other:?} instead of hello"
                )));
            }
        };
        let proc_dir = match &self.sup {
            None => {
                procfs::open(host_pid).map_err(|e| failed(format!("open /proc/{host_pid}: {e}")))?
            }
            Some(sup) => procfs::ProcDir::Remote {
                sup: Arc::clone(sup),
                pid: host_pid,
            },
        };
        // The task reported its pid as /proc shows it; check that it is
        // really this process by its pid in its own namespace.
        let nspids = procfs::ns_pids(&proc_dir)
            .map_err(|e| failed(format!("/proc/{host_pid}/status: {e}")))?;
        let chain = if self.booked || (self.sup.is_some() && nspids.is_none()) {
            None
        } else {
            match procfs::pid_ns_chain_of(&proc_dir) {
                Err(e) if self.sup.is_some() && e.raw_os_error() == Some(libc::ENOTTY) => None,
                r => Some(
                    r.map_err(|e| failed(format!("/proc/{host_pid}/ns/pid: {e}")))?
                        .ok_or_else(|| failed(format!("the new task {host_pid} is gone")))?,
                ),
            }
        };
        let Some((pid_nss, pid_ns)) = chain else {
            // No NSpid line or no NS_GET_PARENT: bookkeeping from here on.
            if self.tasks.is_empty() {
                self.booked = true;
            }
            if !self.booked {
                return Err(failed(format!(
                    "/proc/{host_pid}: NSpid and NS_GET_PARENT vanished after t0"
                )));
            }
            let pid_nss = self.book_chain(origin.map(|(p, newpid, _)| (p, newpid)));
            let mut nspids = vec![UNKNOWN; pid_nss.len()];
            nspids[0] = host_pid;
            if let Some((parent, _, nr)) = origin
                && let Some(n) = nspids.get_mut(self.tasks[parent.0].level())
            {
                *n = nr;
            }
            *nspids.last_mut().expect("a chain is never empty") = ns_pid;
            self.find_numbers(host_pid, &pid_nss, &mut nspids)?;
            return Ok(Task {
                chan,
                proc_dir,
                host_pid,
                nspids,
                pid_nss,
                _pid_ns: None,
                unshared_ns: None,
                life: Life::Alive,
            });
        };
        let nspids = match nspids {
            Some(p) if p.last() == Some(&ns_pid) && p.first() == Some(&host_pid) => p,
            _ => {
                return Err(failed(format!(
                    "/proc/{host_pid} is not the new task (NSpid {nspids:?}, expected pid \
                     {ns_pid}); is /proc mounted for another PID namespace?"
                )));
            }
        };
        if pid_nss.len() != nspids.len() {
            return Err(failed(format!(
                "/proc/{host_pid}: NSpid {nspids:?} does not match its PID namespaces {pid_nss:?}"
            )));
        }
        Ok(Task {
            chan,
            proc_dir,
            host_pid,
            nspids,
            pid_nss,
            _pid_ns: pid_ns,
            unshared_ns: None,
            life: Life::Alive,
        })
    }

    /// Waits for one reply on `chan`, with the fds that came with it.
    fn recv(
        &self,
        chan: BorrowedFd<'_>,
        who: &str,
    ) -> Result<(proto::Reply, Vec<OwnedFd>), BackendError> {
        let deadline = self.deadline();
        loop {
            if readable(chan, POLL).map_err(|e| failed(format!("poll: {e}")))? {
                break;
            }
            if Instant::now() > deadline {
                return Err(failed(format!("{who} did not answer within {TIMEOUT:?}")));
            }
        }
        match proto::recv_frame(chan) {
            Ok(Some((frame, fds))) => {
                let reply =
                    proto::decode_reply(&frame).map_err(|e| failed(format!("{who}: {e}")))?;
                Ok((reply, fds))
            }
            Ok(None) => Err(failed(format!("{who} is gone (its socket closed)"))),
            Err(e) => Err(failed(format!("{who}: {e}"))),
        }
    }

    /// Turns a reply into the call's outcome. An errno that the model does
    /// not name is a failure on Linux; under a command prefix it is what
    /// the implementation lacks (gVisor answers `EIO` to a write of a msg
    /// sysctl), reported as missing.
    fn outcome(&self, who: &str, reply: proto::Reply) -> Result<Outcome, BackendError> {
        match reply {
            proto::Reply::Outcome(o) => o.to_outcome().ok_or_else(|| {
                let msg = format!("{who}: errno {} has no name in the model", o.value);
                match self.sup {
                    None => failed(msg),
                    Some(_) => BackendError::Unsupported(format!(
                        "{}the {} backend's call failed with an errno Linux does not give \
                         here ({msg})",
                        proto::MISSING,
                        self.name
                    )),
                }
            }),
            proto::Reply::Failure(m) => Err(failed(format!("{who}: {m}"))),
            proto::Reply::Unsupported(m) => Err(BackendError::Unsupported(m)),
            proto::Reply::Hello { .. } => Err(failed(format!("{who} said hello again"))),
            proto::Reply::Started => Err(failed(format!("{who} announced a call twice"))),
        }
    }

    fn name(task: TaskId) -> String {
        format!("task #{}", task.0)
    }

    /// `find_task_by_vpid`: the unreaped task that `caller` sees as `nr`.
    /// A task whose number there the bookkeeping does not know is left out.
    fn find_task(&mut self, caller: TaskId, nr: i64) -> Result<Option<TaskId>, BackendError> {
        for i in 0..self.tasks.len() {
            if self.nr_of(caller, TaskId(i))? == nr {
                return Ok(Some(TaskId(i)));
            }
        }
        Ok(None)
    }

    /// Whether `task` is asleep (`S`) inside system call `nr`. The state is
    /// read between two looks at the system call, so that a task that left
    /// the call in between is never taken for asleep in it.
    ///
    /// Where the system call cannot be read, the task has announced its call
    /// (see `await_started`), so asleep means asleep in it, unless it has
    /// answered already: a supervisor relays every answer sent before it
    /// read the state, so one that is not readable after the state was read
    /// had not been sent.
    fn asleep_in(&self, task: TaskId, nr: i64) -> Result<bool, BackendError> {
        let t = &self.tasks[task.0];
        let dir = &t.proc_dir;
        let err =
            |e: io::Error| failed(format!("/proc/{} of {}: {e}", t.host_pid, Self::name(task)));
        if self.announce {
            return Ok(procfs::state(dir).map_err(err)? == Some(b'S')
                && !readable(t.chan.as_fd(), Duration::ZERO).map_err(err)?);
        }
        Ok(procfs::blocked_syscall(dir).map_err(err)? == Some(nr)
            && procfs::state(dir).map_err(err)? == Some(b'S')
            && procfs::blocked_syscall(dir).map_err(err)? == Some(nr))
    }

    /// Where the agents announce their calls: waits for `task`'s
    /// announcement of `call`, if it is one that the agent announces.
    fn await_started(&self, task: TaskId, call: &Syscall) -> Result<(), BackendError> {
        if !self.announce || !proto::announced(call) {
            return Ok(());
        }
        let who = Self::name(task);
        match self.recv(self.tasks[task.0].chan.as_fd(), &who)?.0 {
            proto::Reply::Started => Ok(()),
            other => Err(failed(format!(
                "{who} answered {other:?} instead of announcing its call"
            ))),
        }
    }

    /// Whether `task`'s process has exited (or was killed).
    fn has_exited(&self, task: TaskId) -> Result<bool, BackendError> {
        let t = &self.tasks[task.0];
        procfs::has_exited(&t.proc_dir)
            .map_err(|e| failed(format!("/proc/{} of {}: {e}", t.host_pid, Self::name(task))))
    }

    /// The system call that `call` by `task` may sleep in, if it can sleep
    /// at all, and for `waitpid` the task it waits for, found before the
    /// call (which may reap it).
    ///
    /// A `waitpid` sleeps only for a child of the caller that has not
    /// exited. Any other returns at once, and must be awaited as such:
    /// `wait4` looks for its child in state `S`, so a caller preempted
    /// during that look shows as asleep in `wait4` although it never
    /// sleeps.
    fn may_sleep(
        &mut self,
        task: TaskId,
        call: &Syscall,
    ) -> Result<(Option<i64>, Option<TaskId>), BackendError> {
        Ok(match *call {
            Syscall::Msgsnd { .. } => (Some(libc::SYS_msgsnd), None),
            Syscall::Msgrcv { .. } => (Some(libc::SYS_msgrcv), None),
            Syscall::Waitpid { pid } => {
                let child = self.find_task(task, pid)?;
                let sleeps = match child {
                    Some(c) if matches!(self.tasks[c.0].life, Life::Alive | Life::Zapping) => {
                        let t = &self.tasks[c.0];
                        procfs::ppid(&t.proc_dir)
                            .map_err(|e| failed(format!("/proc/{}: {e}", t.host_pid)))?
                            == Some(self.tasks[task.0].host_pid)
                    }
                    _ => false,
                };
                (sleeps.then_some(libc::SYS_wait4), child)
            }
            _ => (None, None),
        })
    }

    /// Waits for a call's answer; `None` once the task is asleep in system
    /// call `nr` (if given).
    fn await_call(&self, task: TaskId, nr: Option<i64>) -> Result<Option<Outcome>, BackendError> {
        let who = Self::name(task);
        let chan = self.tasks[task.0].chan.as_fd();
        let deadline = self.deadline();
        loop {
            if readable(chan, POLL).map_err(|e| failed(format!("poll: {e}")))? {
                let (reply, _) = self.recv(chan, &who)?;
                return self.outcome(&who, reply).map(Some);
            }
            if let Some(nr) = nr
                && self.asleep_in(task, nr)?
            {
                return Ok(None);
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "{who} neither returned nor went to sleep in its call within {TIMEOUT:?}"
                )));
            }
        }
    }

    /// Settles every blocked task (see the module documentation) and records
    /// the resumed ones, in the order they went to sleep.
    ///
    /// A resumed call may itself wake others before it returns (a sender
    /// woken by a receive hands its message to a sleeping receiver), so the
    /// look goes round all sleepers again after any of them resumed, until
    /// one full round, which started after the last answer, finds them all
    /// asleep. Where the agents announce their calls, a woken task may still
    /// show asleep for a moment (gVisor marks it runnable only when it runs),
    /// so such a round counts only when a second one, [`SETTLE`] later,
    /// finds the same. Returns whether any task resumed.
    fn settle(&mut self) -> Result<bool, BackendError> {
        let deadline = self.deadline();
        let mut resumed = Vec::new();
        let mut confirmed = !self.announce;
        loop {
            let mut progress = false;
            let mut i = 0;
            while i < self.sleepers.len() {
                let s = &self.sleepers[i];
                let task = s.task;
                let who = Self::name(task);
                let chan = self.tasks[task.0].chan.as_fd();
                if readable(chan, Duration::ZERO).map_err(|e| failed(format!("poll: {e}")))? {
                    let (reply, _) = self.recv(chan, &who)?;
                    let outcome = self.outcome(&who, reply)?;
                    let s = self.sleepers.remove(i);
                    resumed.push((s.order, task, outcome));
                    progress = true;
                    continue;
                }
                let must_return = s
                    .child
                    .is_some_and(|c| matches!(self.tasks[c.0].life, Life::Exited | Life::Killed));
                if !must_return && self.asleep_in(task, s.nr)? {
                    i += 1;
                    continue;
                }
                if Instant::now() > deadline {
                    return Err(failed(format!(
                        "{who} was woken but neither returned nor went back to sleep within {TIMEOUT:?}"
                    )));
                }
                // The woken task is still running; look again shortly.
                let _ = readable(chan, POLL);
            }
            if progress {
                confirmed = !self.announce;
            } else if confirmed || self.sleepers.is_empty() {
                break;
            } else {
                std::thread::sleep(SETTLE);
                confirmed = true;
            }
        }
        resumed.sort_by_key(|&(order, _, _)| order);
        let any = !resumed.is_empty();
        self.events.extend(
            resumed
                .into_iter()
                .map(|(_, task, outcome)| Event::Resumed { task, outcome }),
        );
        Ok(any)
    }

    /// `fork`/`clone` by `task`: the reply carries the child's socket.
    fn spawn(&mut self, task: TaskId, newpid: bool) -> Result<Outcome, BackendError> {
        let who = Self::name(task);
        let (reply, mut fds) = self.recv(self.tasks[task.0].chan.as_fd(), &who)?;
        let outcome = self.outcome(&who, reply)?;
        if let Ret::Val(nr) = outcome.ret {
            let chan = fds
                .pop()
                .ok_or_else(|| failed(format!("{who} forked but passed no socket")))?;
            let child = self.adopt(chan, Some((task, newpid, nr)))?;
            self.tasks.push(child);
        }
        Ok(outcome)
    }
}

/// A close-on-exec `AF_UNIX` stream socket pair.
fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    Ok((a.into(), b.into()))
}

impl Backend for LinuxBackend {
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        let who = Self::name(task);
        match self.tasks.get(task.0) {
            None => return Err(failed(format!("{who} does not exist"))),
            Some(t) if t.life != Life::Alive => return Err(failed(format!("{who} is gone"))),
            Some(_) if self.sleepers.iter().any(|s| s.task == task) => {
                return Err(failed(format!("{who} is blocked")));
            }
            Some(_) => {}
        }
        if let Some(why) = unsupported(call) {
            return Err(BackendError::Unsupported(format!(
                "the linux backend does not run {why}"
            )));
        }
        let victims = match call {
            Syscall::Exit { .. } => self.exit_victims(task)?,
            _ => Vec::new(),
        };
        let (sleep_in, child) = self.may_sleep(task, call)?;
        let frame = proto::encode_call(call);
        proto::send_frame(self.tasks[task.0].chan.as_fd(), &frame, None)
            .map_err(|e| failed(format!("sending to {who}: {e}")))?;
        self.await_started(task, call)?;
        let mut killed = Vec::new();
        let step = match call {
            Syscall::Exit { .. } => {
                killed = self.exit(task, victims)?;
                Step::Done(Outcome {
                    ret: Ret::NoReturn,
                    detail: Default::default(),
                })
            }
            Syscall::Fork => Step::Done(self.spawn(task, false)?),
            Syscall::Clone { flags, .. } => {
                Step::Done(self.spawn(task, flags & CLONE_NEWPID != 0)?)
            }
            _ => match self.await_call(task, sleep_in)? {
                Some(outcome) => Step::Done(outcome),
                None => {
                    self.next_order += 1;
                    self.sleepers.push(Sleeper {
                        task,
                        order: self.next_order,
                        nr: sleep_in.unwrap_or(-1),
                        child,
                    });
                    Step::Blocked
                }
            },
        };
        if let (Syscall::Setpgid { .. }, Step::Done(o)) = (call, &step)
            && o.ret == Ret::Val(0)
        {
            self.refuse_trapped_inits(task)?;
        }
        if let (Syscall::Unshare { flags }, Step::Done(o)) = (call, &step)
            && flags & CLONE_NEWPID != 0
            && o.ret == Ret::Val(0)
            && self.booked
        {
            self.tasks[task.0].unshared_ns = Some(self.fresh_ns());
        }
        // A resumed `waitpid` may reap the zombie that held an init in its
        // exit, and an init that finishes its exit may wake its parent's
        // `waitpid`: go round until a settle resumes nobody.
        loop {
            self.finish_zaps()?;
            if !self.settle()? {
                break;
            }
        }
        self.events
            .extend(killed.into_iter().map(|task| Event::Killed { task }));
        Ok(step)
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(std::mem::take(&mut self.events))
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        match self.nr_of(viewer, target)? {
            UNKNOWN => Err(BackendError::Unsupported(format!(
                "{}the {} backend cannot tell {}'s pid as {} sees it: its /proc/PID/status \
                 has no NSpid line, so only a task's numbers in its own namespace, its \
                 parent's and the supervisor's are known",
                proto::MISSING,
                self.name,
                Self::name(target),
                Self::name(viewer)
            ))),
            nr => Ok(nr),
        }
    }
}

impl LinuxBackend {
    /// [`Backend::pidof`], with [`UNKNOWN`] for a number that the
    /// bookkeeping does not know.
    fn nr_of(&self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        let get = |t: TaskId| {
            self.tasks
                .get(t.0)
                .ok_or_else(|| failed(format!("{} does not exist", Self::name(t))))
        };
        let (v, t) = (get(viewer)?, get(target)?);
        // A reaped task has no pid any more. Its `/proc/PID` directory fd
        // stays bound to it, so a recycled pid is never mistaken for it.
        let reaped = procfs::state(&t.proc_dir)
            .map_err(|e| failed(format!("/proc/{}: {e}", t.host_pid)))?
            .is_none();
        Ok(if reaped {
            0
        } else {
            t.nr_seen_by(v).unwrap_or(0)
        })
    }
}

impl Drop for LinuxBackend {
    fn drop(&mut self) {
        // Under a command prefix, closing the stream ends everything (see
        // `wrap`).
        if let Some(wrapped) = self.wrapped.take() {
            self.tasks.clear();
            self.sup = None;
            drop(wrapped);
            return;
        }
        // SIGKILL to t0, the PID namespace's init, kills every task. A
        // `/proc/PID` directory fd serves as a pidfd, so this never hits a
        // recycled pid.
        let killed_t0 = self.tasks.first().is_some_and(|t0| match &t0.proc_dir {
            procfs::ProcDir::Host(dir) => {
                match rustix::process::pidfd_send_signal(dir, rustix::process::Signal::KILL) {
                    Ok(()) => true,
                    Err(e) => e == rustix::io::Errno::SRCH,
                }
            }
            procfs::ProcDir::Remote { .. } => false,
        });
        if let Some(mut launcher) = self.launcher.take() {
            // Without t0 the launcher would wait forever; killing it takes t0
            // down too (PR_SET_PDEATHSIG).
            if !killed_t0 {
                let _ = launcher.kill();
            }
            let _ = launcher.wait();
        }
    }
}
