//! Exits, and the death of a PID namespace when its init exits.
//!
//! Every decision here is read from kernel state that a loaded machine
//! cannot make ambiguous; nothing waits for a while and then assumes.
//!
//! # When an init's exit is finished
//!
//! An init's exit first disables allocation in its namespace, then kills
//! every other task of it (and of the namespaces below), reaps those that
//! are its children, and finally sleeps in `zap_pid_ns_processes` until no
//! number of the namespace but its own is in use. Only then does it become a
//! zombie. So the exit ends in one of two settled states:
//!
//! - **exited**: the init is a zombie (every victim is reaped by then);
//! - **held**: every victim is either reaped or a zombie whose parent lives
//!   outside the dying tasks (only that parent's `waitpid` can reap it), and
//!   some number of the namespace is still in use by something the exit
//!   cannot end: such a zombie, or a live task outside the namespace whose
//!   process group or session is numbered inside it (see [`Self::holds`]).
//!   The init then stays in its exit ([`Life::Zapping`]) until the script
//!   frees those numbers.
//!
//! Anything else is a passing state (a victim still dying, a zombie that its
//! dying parent or the init is about to reap, an init about to become a
//! zombie) and is looked at again, for at most [`TIMEOUT`]. The rule never
//! reads `wchan`: an init seen asleep in `zap_pid_ns_processes` may be
//! waiting only for a victim that is an instant from being released.

use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use nscheck_model::{Syscall, TaskId};

use super::{Life, LinuxBackend, POLL, TIMEOUT, failed, procfs, proto};
use crate::backend::{Backend, BackendError};

/// Where the exit of a namespace's init stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Zap {
    /// Some victim is still dying or about to be reaped by a dying task.
    Passing,
    /// Every victim is settled and a number of the namespace stays in use.
    Held,
    /// Every victim is settled and nothing holds the namespace: the init is
    /// about to become a zombie.
    Free,
}

impl LinuxBackend {
    /// The other tasks with a number in `init`'s namespace (so in it or
    /// below it), which its exit kills, in creation order. Reaped ones are
    /// left out.
    fn ns_members(&self, init: TaskId) -> Result<Vec<TaskId>, BackendError> {
        let i = &self.tasks[init.0];
        let ns = i.pid_nss.get(i.level());
        let mut members = Vec::new();
        for (k, t) in self.tasks.iter().enumerate() {
            if k != init.0
                && t.pid_nss.get(i.level()) == ns
                && procfs::state(&t.proc_dir)
                    .map_err(|e| failed(format!("/proc/{}: {e}", t.host_pid)))?
                    .is_some()
            {
                members.push(TaskId(k));
            }
        }
        Ok(members)
    }

    /// The tasks that `task`'s exit will kill: if it is its namespace's init,
    /// every other unreaped task of the namespace. They must be found before
    /// the exit is sent, as the kernel may reap them at once.
    pub(super) fn exit_victims(&self, task: TaskId) -> Result<Vec<TaskId>, BackendError> {
        if self.tasks[task.0].ns_pid() == 1 {
            self.ns_members(task)
        } else {
            Ok(Vec::new())
        }
    }

    /// Whether a live or zombie task outside `init`'s namespace is in a
    /// process group or session numbered inside it. Such a group keeps its
    /// number, so the init cannot finish exiting until the task leaves it.
    ///
    /// `/proc` here is the host's, so the first number of a task's `NSpgid`
    /// and `NSsid` lines is the group's host pid. While a group exists its
    /// pid is allocated, so that host pid belongs to the last task of this
    /// backend that was given it, if any (an earlier one with the same host
    /// pid was reaped, and its number freed, before the later one got it).
    fn holds(&self, init: TaskId) -> Result<bool, BackendError> {
        let i = &self.tasks[init.0];
        let level = i.level();
        let ns = i.pid_nss.get(level);
        let inside = |host: i64| {
            self.tasks
                .iter()
                .rev()
                .find(|t| t.nspids.first() == Some(&host))
                .is_some_and(|t| t.pid_nss.get(level) == ns)
        };
        for t in self.tasks.iter().filter(|t| t.pid_nss.get(level) != ns) {
            // Without NSpgid and NSsid lines (a sandbox's /proc) the groups
            // are unknown, and taken to hold nothing.
            let groups = match procfs::group_and_session(&t.proc_dir) {
                Err(_) if self.booked => continue,
                r => r.map_err(|e| failed(format!("/proc/{}/status: {e}", t.host_pid)))?,
            };
            if let Some((pgid, sid)) = groups
                && (inside(pgid) || inside(sid))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Where the exit of `init`, which kills `victims`, stands (see the
    /// module documentation).
    fn zap_state(&self, init: TaskId, victims: &[TaskId]) -> Result<Zap, BackendError> {
        let dying: Vec<i64> = victims
            .iter()
            .chain([&init])
            .map(|v| self.tasks[v.0].host_pid)
            .collect();
        let mut stranded = false;
        for &v in victims {
            let t = &self.tasks[v.0];
            let err = |e: io::Error| failed(format!("/proc/{}: {e}", t.host_pid));
            match procfs::state(&t.proc_dir).map_err(err)? {
                None => {}
                Some(b'Z') => {
                    // A zombie whose parent is dying too is reaped by that
                    // parent or, once it is reparented, by the init.
                    let ppid = procfs::ppid(&t.proc_dir).map_err(err)?;
                    match ppid {
                        Some(p) if !dying.contains(&p) => stranded = true,
                        _ => return Ok(Zap::Passing),
                    }
                }
                // Still dying, or being released (`X`).
                Some(_) => return Ok(Zap::Passing),
            }
        }
        Ok(if stranded || self.holds(init)? {
            Zap::Held
        } else {
            Zap::Free
        })
    }

    /// Waits until the exit of `task`, which kills `victims`, is settled:
    /// [`Life::Exited`] once it is a zombie (or reaped), [`Life::Zapping`]
    /// once a namespace's init is held in its exit.
    fn await_exit(&self, task: TaskId, victims: &[TaskId]) -> Result<Life, BackendError> {
        let init = self.tasks[task.0].ns_pid() == 1;
        let deadline = self.deadline();
        loop {
            if self.has_exited(task)? {
                return Ok(Life::Exited);
            }
            if init && self.zap_state(task, victims)? == Zap::Held {
                return Ok(Life::Zapping);
            }
            if Instant::now() > deadline {
                return Err(failed(format!(
                    "{} did not finish its exit within {TIMEOUT:?}",
                    Self::name(task)
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// `exit` of `task`: waits for its exit to settle, then marks every task
    /// that died with it as killed and returns them, in creation order.
    ///
    /// `victims` are the tasks that the exit kills, found before the exit
    /// was sent ([`Self::exit_victims`]).
    pub(super) fn exit(
        &mut self,
        task: TaskId,
        victims: Vec<TaskId>,
    ) -> Result<Vec<TaskId>, BackendError> {
        self.tasks[task.0].life = self.await_exit(task, &victims)?;
        let mut killed = Vec::new();
        for v in victims {
            if self.tasks[v.0].life == Life::Alive {
                self.tasks[v.0].life = Life::Killed;
                self.sleepers.retain(|s| s.task != v);
                killed.push(v);
            }
        }
        Ok(killed)
    }

    /// Settles again the exit of every init held in it ([`Life::Zapping`]):
    /// the last call may have freed what held it (a reaped zombie, a task
    /// that left a group), and then it becomes a zombie, which it must be
    /// before the next call, which may be its parent's `waitpid`.
    pub(super) fn finish_zaps(&mut self) -> Result<(), BackendError> {
        for z in 0..self.tasks.len() {
            if self.tasks[z].life == Life::Zapping {
                let victims = self.ns_members(TaskId(z))?;
                self.tasks[z].life = self.await_exit(TaskId(z), &victims)?;
            }
        }
        Ok(())
    }

    /// The living inits (pid 1 of their namespace) whose process group has a
    /// number in their own namespace other than their own: a group that
    /// another task of the namespace made. Such an init could never finish
    /// exiting: `zap_pid_ns_processes` waits until the namespace has no pid
    /// but the init's own, and the init itself keeps the group's pid.
    fn trapped_inits(&self) -> Result<Vec<TaskId>, BackendError> {
        let mut trapped = Vec::new();
        for (k, t) in self.tasks.iter().enumerate() {
            if t.life != Life::Alive || t.ns_pid() != 1 {
                continue;
            }
            let pgids = procfs::ns_pgids(&t.proc_dir)
                .map_err(|e| failed(format!("/proc/{}/status: {e}", t.host_pid)))?;
            let pgid = pgids.as_ref().and_then(|p| p.get(t.level()).copied());
            if pgid.is_some_and(|g| g != 0 && g != 1) {
                trapped.push(TaskId(k));
            }
        }
        Ok(trapped)
    }

    /// After a `setpgid` by `caller`: if it moved an init into a group that
    /// would trap it (see [`Self::trapped_inits`]), the call is refused as
    /// unsupported, once `caller` (that init, or its parent: the only tasks
    /// that can move it) has moved it back into a group of its own. Otherwise
    /// the init's exit, or the backend's cleanup, would leave an unkillable
    /// process asleep in `zap_pid_ns_processes` for good. The model lets the
    /// init exit.
    pub(super) fn refuse_trapped_inits(&mut self, caller: TaskId) -> Result<(), BackendError> {
        let trapped = self.trapped_inits()?;
        let Some(&init) = trapped.first() else {
            return Ok(());
        };
        let who = Self::name(caller);
        for &i in &trapped {
            let nr = self.pidof(caller, i)?;
            let undo = Syscall::Setpgid { pid: nr, pgid: nr };
            proto::send_frame(
                self.tasks[caller.0].chan.as_fd(),
                &proto::encode_call(&undo),
                None,
            )
            .map_err(|e| failed(format!("sending to {who}: {e}")))?;
            self.await_call(caller, None)?;
        }
        if !self.trapped_inits()?.is_empty() {
            return Err(failed(format!(
                "{} is in a process group that keeps it from ever exiting, and {who} \
                 could not move it out",
                Self::name(init)
            )));
        }
        Err(BackendError::Unsupported(format!(
            "the linux backend does not run a setpgid that puts a PID namespace's init \
             ({}) into another task's process group of its namespace: the kernel would \
             never let that init finish exiting (zap_pid_ns_processes waits for the \
             group's pid, which the init itself holds), leaving an unkillable process",
            Self::name(init)
        )))
    }
}
