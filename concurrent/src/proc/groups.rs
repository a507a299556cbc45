//! Sessions and process groups: `setsid`, `setpgid`, `getsid`, `getpgid`
//! in the check order of `kernel/sys.c`, and the PGID and SID links of a
//! task to its group's and session's `struct pid` (R12).

use crate::errno::Errno;
use crate::pid::StructPid;
use crate::proc::{ProcId, State, System, TaskList, same};
use crate::sync::Arc;

impl System {
    /// Links a task to `group` as its PGID or SID (`attach_pid`): the
    /// group's numbers stay taken while the link lasts.
    pub(crate) fn link_group(&self, group: &StructPid) {
        if mutant!(self, ReuseHeldPgid) {
            // B12: a group or session link does not hold the number.
            return;
        }
        group.link();
    }

    /// Drops a PGID or SID link (`detach_pid`); the last link frees the
    /// numbers.
    pub(crate) fn unlink_group(&self, group: &StructPid) {
        if mutant!(self, ReuseHeldPgid) {
            return;
        }
        group.unlink();
    }

    /// Points a task's PGID (`sid` false) or SID link at `new`, dropping the
    /// old link after the new one is made (`change_pid`).
    fn change_group(&self, tl: &mut TaskList, task: ProcId, sid: bool, new: &Arc<StructPid>) {
        self.link_group(new);
        let t = &mut tl.nodes[task];
        let slot = if sid { &mut t.session } else { &mut t.pgrp };
        if let Some(old) = slot.replace(new.clone()) {
            self.unlink_group(&old);
        }
    }

    /// `getsid(pid)` (`sid`) or `getpgid(pid)`: the group or session as
    /// the caller sees it (0 where it is not visible); ESRCH if `pid`
    /// names no task.
    pub fn get_pgid_sid(&self, task: ProcId, pid: i64, sid: bool) -> Result<i64, Errno> {
        let tl = self.read();
        let target = if pid == 0 {
            task
        } else {
            tl.find_task(task, pid).ok_or(Errno::ESRCH)?
        };
        let t = &tl.nodes[target];
        let id = if sid { &t.session } else { &t.pgrp };
        Ok(id.as_ref().map_or(0, |p| p.nr_in(tl.active_ns(task))))
    }

    /// `setsid()`: EPERM for a process group leader (its number names a
    /// group); else the caller leads a new session and group named by its
    /// own pid.
    pub fn setsid(&self, task: ProcId) -> Result<i64, Errno> {
        let mut tl = self.write();
        let pid = tl.nodes[task].proc.pid.clone();
        if tl.is_pgrp(&pid) {
            return Err(Errno::EPERM);
        }
        self.change_group(&mut tl, task, false, &pid);
        self.change_group(&mut tl, task, true, &pid);
        tl.nodes[task].session_leader = true;
        let nr = tl.pidof(task, task);
        drop(tl);
        self.notify_waiters();
        Ok(nr)
    }

    /// `setpgid(pid, pgid)`, in the check order of `kernel/sys.c`.
    pub fn setpgid(&self, task: ProcId, pid: i64, pgid: i64) -> Result<i64, Errno> {
        let mut tl = self.write();
        let pid = if pid == 0 { tl.pidof(task, task) } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let p = tl.find_task(task, pid).ok_or(Errno::ESRCH)?;
        let caller_session = tl.nodes[task].session.clone();
        if tl.nodes[p].parent == Some(task) {
            if !same(&tl.nodes[p].session, &caller_session) {
                return Err(Errno::EPERM);
            }
            // Our children never exec, so `PF_FORKNOEXEC` holds: no EACCES.
        } else if p != task {
            return Err(Errno::ESRCH);
        }
        if tl.nodes[p].session_leader {
            return Err(Errno::EPERM);
        }
        let mut pgrp = tl.nodes[p].proc.pid.clone();
        if pgid != pid {
            let found = tl.active_ns(task).find_pid(pgid).filter(|g| {
                tl.nodes.iter().any(|t| {
                    t.state != State::Reaped
                        && t.pgrp.as_ref().is_some_and(|tg| Arc::ptr_eq(tg, g))
                        && same(&t.session, &caller_session)
                })
            });
            pgrp = found.ok_or(Errno::EPERM)?;
        }
        self.change_group(&mut tl, p, false, &pgrp);
        drop(tl);
        self.notify_waiters();
        Ok(0)
    }
}

impl TaskList {
    /// Whether some task still links to `pid` as its process group.
    fn is_pgrp(&self, pid: &Arc<StructPid>) -> bool {
        self.nodes.iter().any(|t| {
            t.state != State::Reaped && t.pgrp.as_ref().is_some_and(|g| Arc::ptr_eq(g, pid))
        })
    }
}
