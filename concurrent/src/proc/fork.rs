//! `fork`, `clone3` with `CLONE_NEWIPC`/`CLONE_NEWPID` and `set_tid`, and
//! `unshare` (`kernel/fork.c`; `pid-semantics.md` §1.3, §1.9, §1.10).

use crate::errno::Errno;
use crate::pid::{AllocError, MAX_PID_NS_LEVEL, PidNamespace, alloc_pid};
use crate::proc::{Node, Own, Proc, ProcId, State, System};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{CAP_SYS_ADMIN, Sleeper};

/// `CLONE_NEWIPC`.
pub const CLONE_NEWIPC: i64 = 0x0800_0000;
/// `CLONE_NEWPID`.
pub const CLONE_NEWPID: i64 = 0x2000_0000;

impl System {
    /// `fork()`, or `clone3(flags, set_tid)` where `flags` holds at most
    /// `CLONE_NEWIPC` and `CLONE_NEWPID` (the caller refuses others): the
    /// child's pid as the parent sees it. The child is the next task in
    /// creation order.
    ///
    /// As `copy_process`: the checks and the new namespaces, then
    /// `alloc_pid` with no `tasklist` lock, then `tasklist` for writing,
    /// where the namespace must still take pids (H4) before the child is
    /// attached.
    pub fn fork(&self, parent: ProcId, flags: i64, set_tid: &[i64]) -> Result<i64, AllocError> {
        if set_tid.len() > MAX_PID_NS_LEVEL {
            return Err(Errno::EINVAL.into()); // R17: clone3's own check.
        }
        let proc = self.proc(parent);
        let (cred, ipc_ns, ns_for_children) = {
            let own = lock(&proc.own);
            (own.cred, own.ipc_ns.clone(), own.ns_for_children.clone())
        };
        if flags & (CLONE_NEWIPC | CLONE_NEWPID) != 0 && !cred.capable(CAP_SYS_ADMIN) {
            return Err(Errno::EPERM.into());
        }
        let active = proc.pid.ns();
        let target = if flags & CLONE_NEWPID != 0 {
            if !Arc::ptr_eq(&ns_for_children, active) {
                return Err(Errno::EINVAL.into()); // R24
            }
            PidNamespace::create_child(active)? // R29
        } else {
            ns_for_children
        };
        let pid = alloc_pid(&target, set_tid, |_| cred.checkpoint_restore())?;
        let ipc_ns = if flags & CLONE_NEWIPC != 0 {
            self.create_ipc_ns()
        } else {
            ipc_ns
        };
        let mut tl = self.write();
        // The parent was killed meanwhile (Linux's `fatal_signal_pending`
        // check, whose ERESTARTNOINTR no caller sees), or, H4, an init that
        // died since `alloc_pid` has disabled the namespace under
        // `tasklist`: the pid goes back.
        let refused = if tl.nodes[parent].state != State::Running {
            Some(Errno::EINTR)
        } else if !target.takes_pids() {
            Some(Errno::ENOMEM)
        } else {
            None
        };
        if let Some(e) = refused {
            drop(tl);
            pid.unlink();
            return Err(e.into());
        }
        let child = tl.nodes.len();
        pid.attach_task(child);
        if pid.nr_in(&target) == 1 {
            target.set_child_reaper();
            tl.reapers.insert(target.id(), child);
        }
        let p = &tl.nodes[parent];
        let (pgrp, session) = (p.pgrp.clone(), p.session.clone());
        for group in [&pgrp, &session].into_iter().flatten() {
            self.link_group(group);
        }
        let seen = pid.nr_in(active);
        tl.nodes.push(Node {
            proc: Arc::new(Proc {
                pid,
                sleeper: Arc::new(Sleeper::new(child as u64, None)),
                own: Mutex::new(Own {
                    cred,
                    ipc_ns,
                    ns_for_children: target,
                }),
            }),
            pgrp,
            session,
            session_leader: false,
            parent: Some(parent),
            state: State::Running,
        });
        Ok(seen)
    }

    /// `unshare(flags)`, `flags` holding at most `CLONE_NEWIPC` and
    /// `CLONE_NEWPID`: the new PID namespace is for the caller's later
    /// children (`pid_ns_for_children`). `create_new_namespaces` makes the
    /// IPC namespace before the PID one, but nothing is installed unless
    /// both succeed.
    pub fn unshare(&self, task: ProcId, flags: i64) -> Result<i64, Errno> {
        let proc = self.proc(task);
        let mut own = lock(&proc.own);
        if flags != 0 && !own.cred.capable(CAP_SYS_ADMIN) {
            return Err(Errno::EPERM);
        }
        if flags & CLONE_NEWPID != 0 {
            let active = proc.pid.ns();
            if !Arc::ptr_eq(&own.ns_for_children, active) {
                return Err(Errno::EINVAL); // R24
            }
            own.ns_for_children = PidNamespace::create_child(active)?;
        }
        if flags & CLONE_NEWIPC != 0 {
            own.ipc_ns = self.create_ipc_ns();
        }
        Ok(0)
    }
}
