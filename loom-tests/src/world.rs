//! The implementation side: one IPC namespace of `nscheck-concurrent`, one
//! task per thread, and their calls recorded as a history
//! ([`Recorder`]).

use nscheck_adapter::{ParkedCall, Started, model_stat, run_ipc, start_ipc};
use nscheck_concurrent::ipc::IpcNamespace;
use nscheck_concurrent::sync::Arc;
use nscheck_concurrent::{Cred, Pid, Sleeper, Task};
use nscheck_model::{Detail, Errno, MsgSet, Outcome, Ret, Syscall, Sysctl};

use crate::lin::{self, Entry};
use crate::model::ModelSpec;
use crate::recorder::Recorder;

/// A call of a history and its result.
pub type Call = Entry<Syscall, Outcome>;

/// Who a thread runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// uid 0 with every capability.
    Root,
    /// This uid and gid, without capabilities (the model's task did
    /// `setgid` and `setuid` to it).
    User(u32),
}

/// The namespace, the tasks and the history of one execution. Clone it
/// into each thread.
#[derive(Clone, Debug)]
pub struct World {
    tasks: Vec<Task>,
    who: Vec<Who>,
    rec: Recorder<Syscall, Outcome>,
}

impl World {
    /// Tasks `0..who.len()` in `ns`; task `i` has pid `i + 1`, as in the
    /// model. Task 0 is the thread that sets up and checks the run and must
    /// be root.
    pub fn new(ns: IpcNamespace, who: &[Who]) -> World {
        assert_eq!(who.first(), Some(&Who::Root), "t0 is root");
        let ns = Arc::new(ns);
        let tasks = who
            .iter()
            .enumerate()
            .map(|(i, w)| Task {
                pid: Arc::new(Pid::single(i as i64 + 1)),
                cred: match *w {
                    Who::Root => Cred {
                        euid: 0,
                        egid: 0,
                        caps: u64::MAX,
                    },
                    Who::User(id) => Cred {
                        euid: id,
                        egid: id,
                        caps: 0,
                    },
                },
                ipc_ns: ns.clone(),
                sleeper: Arc::new(Sleeper::new(i as u64, None)),
            })
            .collect();
        World {
            tasks,
            who: who.to_vec(),
            rec: Default::default(),
        }
    }

    /// Thread `thread` makes `call`; the call and its result are recorded.
    pub fn call(&self, thread: usize, call: Syscall) -> Outcome {
        // As the harness's concurrent backend runs it (`int` arguments keep
        // their low 32 bits).
        self.rec
            .record(thread, call, |call| run_ipc(&self.tasks[thread], call))
    }

    /// Thread `thread` makes `call`, as [`World::call`] does, except that
    /// a call that sleeps is ended by `parked` (which may poll it before it
    /// waits, as a driver of many tasks does); the call and its result are
    /// recorded.
    pub fn call_with(
        &self,
        thread: usize,
        call: Syscall,
        parked: impl FnOnce(ParkedCall) -> Outcome,
    ) -> Outcome {
        self.rec.record(thread, call, |call| {
            match start_ipc(&self.tasks[thread], call) {
                Started::Done(o) => o,
                Started::Parked(p) => parked(p),
            }
        })
    }

    /// Thread `thread` lists the queues as `/proc/sysvipc/msg` does
    /// (`IpcNamespace::for_each_queue`, a reader in the tasks' PID
    /// namespace). Each queue listed is recorded as the `MSG_STAT_ANY` of
    /// its index that would read it, all with the window of the listing:
    /// the listing reads each queue under its lock, one after the other,
    /// under one read lock of the registry.
    pub fn list_queues(&self, thread: usize) {
        let task = &self.tasks[thread];
        self.rec.record_many(thread, || {
            let mut calls = Vec::new();
            task.ipc_ns.for_each_queue(task.pid.ns(), |id, st| {
                let ret = Outcome::with(id, Detail::Stat(model_stat(&st)));
                calls.push((ctl(id & 0x7fff, MSG_STAT_ANY, None), ret));
            });
            calls
        });
    }

    /// The history so far (only calls that returned).
    pub fn history(&self) -> Vec<Call> {
        self.rec.history()
    }

    /// The model this world is checked against.
    pub fn spec(&self) -> ModelSpec {
        let mut prelude = Vec::new();
        for (i, w) in self.who.iter().enumerate() {
            if let Who::User(id) = *w {
                prelude.push((i, Syscall::Setgid { gid: id.into() }));
                prelude.push((i, Syscall::Setuid { uid: id.into() }));
            }
        }
        ModelSpec::new(self.who.len(), &prelude)
    }

    /// Panics with `why` and the history.
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\nhistory:\n{}", lin::render(&self.history()));
    }

    /// Checks that the history is linearizable with respect to the model;
    /// panics with the history and the rejection if not.
    pub fn check_linearizable(&self) {
        let h = self.history();
        if let Err(r) = lin::check_apart(&self.spec(), &h) {
            panic!(
                "the history is not linearizable against the model\nhistory:\n{}{r}",
                lin::render(&h)
            );
        }
    }

    /// The quiescence checks, run by thread 0 once every other thread has
    /// been joined. All of them are recorded calls, so the model judges
    /// them too; on top of that:
    ///
    /// - `MSG_INFO`'s counters equal the sums over the queues that
    ///   `MSG_STAT_ANY` finds (`msgpool` queues, `msgmap` messages, `msgtql`
    ///   bytes);
    /// - no task is left asleep on a queue: a probe message of a type
    ///   nobody uses is sent and must be received back (a forgotten sleeping
    ///   receiver would be handed it), and the queues are stated again
    ///   afterwards (a forgotten sleeping sender would be completed by the
    ///   probe's receive).
    pub fn quiesce(&self) {
        let ids = self.counters_add_up();
        for &id in &ids {
            let sent = self.call(0, snd(id, PROBE, b"probe", NOWAIT));
            let back = self.call(0, rcv(id, 16, PROBE, NOWAIT));
            if sent.errno().is_none() && back.errno().is_some() {
                self.fail(&format!(
                    "queue {id}: the probe was not received back: {back:?}"
                ));
            }
        }
        self.counters_add_up();
    }

    /// `MSG_INFO` and `MSG_STAT_ANY` of every index; checks that the
    /// counters add up and returns the ids of the queues.
    fn counters_add_up(&self) -> Vec<i64> {
        let info = self.call(0, ctl(0, MSG_INFO, None));
        let (max_idx, info) = match info {
            Outcome {
                ret: Ret::Val(v),
                detail: Detail::Info(i),
            } => (v, i),
            other => self.fail(&format!("MSG_INFO: {other:?}")),
        };
        let (mut ids, mut qnum, mut cbytes) = (Vec::new(), 0, 0);
        if info.msgpool > 0 {
            for idx in 0..=max_idx {
                match self.call(0, ctl(idx, MSG_STAT_ANY, None)) {
                    Outcome {
                        ret: Ret::Val(id),
                        detail: Detail::Stat(ds),
                    } => {
                        ids.push(id);
                        qnum += ds.qnum;
                        cbytes += ds.cbytes;
                    }
                    o if o.errno() == Some(Errno::EINVAL) => {}
                    other => self.fail(&format!("MSG_STAT_ANY {idx}: {other:?}")),
                }
            }
        }
        let sums = (ids.len() as i64, qnum, cbytes);
        if sums != (info.msgpool, info.msgmap, info.msgtql) {
            self.fail(&format!(
                "MSG_INFO says {} queues, {} messages, {} bytes; the queues hold {sums:?}",
                info.msgpool, info.msgmap, info.msgtql
            ));
        }
        ids
    }
}

/// The message type of the quiescence probe.
pub const PROBE: i64 = 999;

/// `IPC_PRIVATE`.
pub const PRIVATE: i64 = 0;
/// `IPC_CREAT`.
pub const CREAT: i64 = 0o1000;
/// `IPC_EXCL`.
pub const EXCL: i64 = 0o2000;
/// `IPC_NOWAIT`.
pub const NOWAIT: i64 = 0o4000;
/// `MSG_NOERROR`.
pub const NOERROR: i64 = 0o10000;
/// `MSG_COPY`.
pub const COPY: i64 = 0o40000;
/// `IPC_RMID`.
pub const RMID: i64 = 0;
/// `IPC_SET`.
pub const SET: i64 = 1;
/// `IPC_STAT`.
pub const STAT: i64 = 2;
/// `MSG_INFO`.
pub const MSG_INFO: i64 = 12;
/// `MSG_STAT_ANY`.
pub const MSG_STAT_ANY: i64 = 13;

/// `msgget(key, msgflg)`.
pub fn get(key: i64, msgflg: i64) -> Syscall {
    Syscall::Msgget { key, msgflg }
}

/// `msgsnd(msqid, {mtype, text}, len, msgflg)`.
pub fn snd(msqid: i64, mtype: i64, text: &[u8], msgflg: i64) -> Syscall {
    Syscall::Msgsnd {
        msqid,
        mtype,
        text: text.to_vec(),
        msgflg,
    }
}

/// `msgrcv(msqid, buf, msgsz, msgtyp, msgflg)`.
pub fn rcv(msqid: i64, msgsz: i64, msgtyp: i64, msgflg: i64) -> Syscall {
    Syscall::Msgrcv {
        msqid,
        msgsz,
        msgtyp,
        msgflg,
    }
}

/// `msgctl(msqid, cmd, buf)`.
pub fn ctl(msqid: i64, cmd: i64, set: Option<MsgSet>) -> Syscall {
    Syscall::Msgctl { msqid, cmd, set }
}

/// A sysctl write.
pub fn sysctl(name: Sysctl, value: i64) -> Syscall {
    Syscall::Sysctl {
        name,
        value: Some(value),
    }
}

/// The value a call returned; panics if it failed.
pub fn val(o: &Outcome) -> i64 {
    match o.ret {
        Ret::Val(v) => v,
        _ => panic!("the call failed: {o:?}"),
    }
}
