//! `exit`: the task becomes a zombie and its children go to its
//! namespace's init; the death of an init kills every task with a number
//! in its namespace and disables the namespace (`zap_pid_ns_processes`,
//! R13); `release_task` drops a task's pid links.

use crate::proc::{ProcId, State, System, TaskList};

impl System {
    /// `exit()` of `task`: the tasks it killed (they were running), in
    /// creation order. A killed task's IPC sleep ends (its sleeper is
    /// killed); a parked call of it must still be cancelled.
    pub fn exit(&self, task: ProcId) -> Vec<ProcId> {
        let mut tl = self.write();
        let ns = tl.active_ns(task).clone();
        let is_init = tl.reaper(&ns) == Some(task);
        let victims: Vec<ProcId> = if is_init {
            (0..tl.nodes.len())
                .filter(|&i| {
                    let t = &tl.nodes[i];
                    i != task && t.state != State::Reaped && t.proc.pid.nr_in(&ns) != 0
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut killed = Vec::new();
        for &v in &victims {
            if tl.nodes[v].state == State::Running {
                killed.push(v);
            }
            let vns = tl.active_ns(v).clone();
            if tl.reaper(&vns) == Some(v) {
                vns.disable();
            }
            tl.nodes[v].proc.sleeper.kill();
            tl.nodes[v].state = State::Zombie;
        }
        if is_init {
            ns.disable();
        }
        tl.nodes[task].state = State::Zombie;
        if !is_init {
            let reaper = tl.reaper(&ns);
            for t in &mut tl.nodes {
                if t.parent == Some(task) && t.state != State::Reaped {
                    t.parent = reaper;
                }
            }
        }
        // The dying init reaps the victims whose parent is in the
        // namespace; one whose parent is outside (a later child of a task
        // that did `unshare(CLONE_NEWPID)`) stays a zombie for that parent,
        // and the init's exit waits for it (see `exit_pending`).
        for &v in &victims {
            let parent = tl.nodes[v].parent;
            if parent.is_none_or(|p| p == task || victims.contains(&p)) {
                self.release(&mut tl, v);
            }
        }
        drop(tl);
        self.notify_waiters();
        killed
    }

    /// `release_task`: the task is gone; its pid, process group and
    /// session links are dropped, and a number no task links to any more
    /// is freed at every level (R12).
    pub(crate) fn release(&self, tl: &mut TaskList, task: ProcId) {
        let t = &mut tl.nodes[task];
        t.state = State::Reaped;
        t.proc.pid.detach_task();
        t.proc.pid.unlink();
        for group in [t.pgrp.take(), t.session.take()].into_iter().flatten() {
            self.unlink_group(&group);
        }
    }
}

impl TaskList {
    /// Whether `task`, a zombie, is a namespace's init still waiting in
    /// `zap_pid_ns_processes` until no number of its namespace is in use
    /// but its own; its parent's `waitpid` sleeps until then. A number
    /// stays in use while a task links to it as pid, process group or
    /// session: a killed task whose parent is outside the namespace holds
    /// its own until that parent reaps it, and an init that joined the
    /// process group of one of its children holds that child's number
    /// itself, so its exit never ends.
    pub(crate) fn exit_pending(&self, task: ProcId) -> bool {
        let ns = self.active_ns(task);
        let own = &self.nodes[task].proc.pid;
        self.reaper(ns) == Some(task)
            && self.nodes.iter().any(|t| {
                t.state != State::Reaped
                    && [Some(&t.proc.pid), t.pgrp.as_ref(), t.session.as_ref()]
                        .into_iter()
                        .flatten()
                        .any(|p| !crate::sync::Arc::ptr_eq(p, own) && p.nr_in(ns) != 0)
            })
    }
}
