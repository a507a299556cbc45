//! `msgget`, `msgsnd`, `msgrcv` and `msgctl`, each in Linux 6.18's check
//! order (`msg-semantics.md` §4). Integer parameters have the C types of the
//! system calls: `int` arguments arrive already truncated to 32 bits.

use super::ns::{Ids, IpcNamespace};
use super::queue::{
    Locked, Mode, Msg, Perm, Queue, RecvReq, RecvWaiter, S_IRUGO, S_IWUGO, SendWaiter,
};
use super::variant::Variant;
use super::{
    Ctl, INT_MAX, IPC_CREAT, IPC_EXCL, IPC_INFO, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET,
    IPC_STAT, IPCMNI, MSG_COPY, MSG_EXCEPT, MSG_INFO, MSG_NOERROR, MSG_STAT, MSG_STAT_ANY, MSGPOOL,
    MSGSEG, MSGSSZ, MSGTQL, MsgInfo, MsgSet, Received,
};
use std::fmt;

use crate::errno::Errno;
use crate::sync::{Arc, Ordering, write};
use crate::task::{CAP_SYS_RESOURCE, Sleeper, Task, Wakeup};

/// The id of the existing queue `q` for `msgget(key, msgflg)`.
fn open_existing(task: &Task, q: &Queue, msgflg: i32) -> Result<i32, Errno> {
    if msgflg & IPC_CREAT != 0 && msgflg & IPC_EXCL != 0 {
        return Err(Errno::EEXIST);
    }
    if q.lock().st.perm.denied(&task.cred, msgflg.into()) {
        return Err(Errno::EACCES);
    }
    Ok(q.id() as i32)
}

/// `msgget(key, msgflg)`.
pub fn msgget(task: &Task, key: i32, msgflg: i32) -> Result<i32, Errno> {
    let ns = &task.ipc_ns;
    let key = i64::from(key);
    if key != i64::from(IPC_PRIVATE) {
        // The common case, an existing key, needs only the read lock.
        match ns.ids().by_key(key) {
            Some(q) => return open_existing(task, q, msgflg),
            None if msgflg & IPC_CREAT == 0 => return Err(Errno::ENOENT),
            None => {}
        }
    }
    if mutant!(ns, MsgmniRace)
        && ns.ids().in_use() as i64 >= ns.msgmni.load(Ordering::Relaxed).min(IPCMNI)
    {
        return Err(Errno::ENOSPC);
    }
    let mut ids = write(&ns.ids);
    if key != i64::from(IPC_PRIVATE)
        && !mutant!(ns, KeyRace)
        && let Some(q) = ids.by_key(key)
    {
        // Created by someone else since the read above.
        return open_existing(task, q, msgflg);
    }
    let (idx, seq) = ids.alloc(ns)?;
    let perm = Perm {
        uid: task.cred.euid,
        gid: task.cred.egid,
        cuid: task.cred.euid,
        cgid: task.cred.egid,
        mode: i64::from(msgflg & 0o777),
    };
    #[cfg_attr(not(feature = "mutants"), allow(unused_mut))]
    let mut q = Queue::new(key, idx, seq, perm, ns.msgmnb(), ns.variant);
    #[cfg(feature = "mutants")]
    {
        q.mutant = ns.mutant;
    }
    let id = q.id() as i32;
    let q = Arc::new(q);
    ns.publish(&mut ids, idx, Some(&q));
    ids.insert(q);
    Ok(id)
}

/// The queue with id `msqid`, from the caller's shard of the lookup table.
fn find(task: &Task, msqid: i32) -> Result<Arc<Queue>, Errno> {
    task.ipc_ns.find(task.pid.nr(), msqid.into())
}

/// How a call that may sleep began: it finished at once, or its task is
/// registered as a sleeper and the call ends later ([`Parked`]).
#[must_use]
#[derive(Debug)]
pub enum Started<T> {
    /// The call finished without sleeping.
    Done(Result<T, Errno>),
    /// The call sleeps.
    Parked(Parked<T>),
}

impl<T> Started<T> {
    /// The blocking call: sleeps, if the call parked, until it ends.
    pub fn wait(self) -> Result<T, Errno> {
        match self {
            Started::Done(r) => r,
            Started::Parked(p) => p.wait(),
        }
    }
}

/// A call whose task is registered as a sleeper on a queue. Wakers finish
/// the call on the sleeper's behalf (they hand a receiver its message and
/// enqueue a sender's), so the sleeper only collects the result: on its own
/// thread with [`Parked::wait`], or from any thread with [`Parked::poll`],
/// which lets one thread drive many sleeping tasks without blocking.
#[must_use]
pub struct Parked<T> {
    queue: Arc<Queue>,
    sleeper: Arc<Sleeper>,
    finish: fn(Wakeup) -> Result<T, Errno>,
}

impl<T> fmt::Debug for Parked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parked")
            .field("msqid", &self.queue.id())
            .field("sleeper", &self.sleeper)
            .finish()
    }
}

impl<T> Parked<T> {
    /// Sleeps until a waker ends the call, or until the task is killed
    /// ([`Sleeper::kill`]), which ends it as [`Parked::cancel`] does.
    pub fn wait(self) -> Result<T, Errno> {
        match self.sleeper.wait() {
            Some(w) => (self.finish)(w),
            None => self.cancel(),
        }
    }

    /// The call's result if a waker has ended it; the call is over once
    /// this returns `Some`.
    pub fn poll(&self) -> Option<Result<T, Errno>> {
        self.sleeper.take().map(self.finish)
    }

    /// Ends the call as a fatal signal does: forgets the registration and
    /// returns `EINTR`, unless a waker finished the call just before.
    pub fn cancel(self) -> Result<T, Errno> {
        let mut q = self.queue.lock();
        q.remove_sleeper(&self.sleeper);
        drop(q);
        if mutant!(self.queue, CancelDropsWakeup) {
            return Err(Errno::EINTR);
        }
        self.sleeper
            .take()
            .map_or(Err(Errno::EINTR), |w| (self.finish)(w))
    }
}

/// Parks the task of a call registered as a sleeper under `q`.
fn park<T>(
    task: &Task,
    q: Locked<'_>,
    queue: &Arc<Queue>,
    finish: fn(Wakeup) -> Result<T, Errno>,
) -> Started<T> {
    drop(q);
    Started::Parked(Parked {
        queue: queue.clone(),
        sleeper: task.sleeper.clone(),
        finish,
    })
}

/// `msgsnd(msqid, {mtype, text}, text.len(), msgflg)`.
pub fn msgsnd(task: &Task, msqid: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
    start_msgsnd(task, msqid, mtype, text, msgflg).wait()
}

/// [`msgsnd`] up to the point where it would wait for room.
pub fn start_msgsnd(task: &Task, msqid: i32, mtype: i64, text: &[u8], msgflg: i32) -> Started<()> {
    send_or_park(task, msqid, mtype, text, msgflg).unwrap_or_else(|e| Started::Done(Err(e)))
}

/// [`start_msgsnd`] with its errors as `Err`.
fn send_or_park(
    task: &Task,
    msqid: i32,
    mtype: i64,
    text: &[u8],
    msgflg: i32,
) -> Result<Started<()>, Errno> {
    let ns = &task.ipc_ns;
    if text.len() as i64 > ns.msgmax() || msqid < 0 {
        return Err(Errno::EINVAL);
    }
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let queue = find(task, msqid)?;
    let msg = Msg {
        mtype,
        text: text.to_vec(),
    };
    let mut q = queue.lock();
    if q.st.deleted && !mutant!(queue, RmidRace) {
        return Err(Errno::EIDRM);
    }
    if q.st.perm.denied(&task.cred, S_IWUGO) {
        return Err(Errno::EACCES);
    }
    if q.fits(text.len() as i64) {
        q.send(&task.pid, msg);
        if ns.variant == Variant::Rfc2012 {
            // The sleeping copies the message woke look again.
            q.run_woken(ns.msgmax());
        }
        return Ok(Started::Done(Ok(())));
    }
    if msgflg & IPC_NOWAIT != 0 {
        return Err(Errno::EAGAIN);
    }
    if !task.sleeper.may_sleep() {
        return Err(Errno::EINTR);
    }
    if mutant!(queue, LostWakeup) {
        drop(q);
        q = queue.lock();
    }
    q.add_sender(SendWaiter {
        sleeper: task.sleeper.clone(),
        pid: task.pid.clone(),
        cred: task.cred,
        msg,
    });
    Ok(park(task, q, &queue, |w| match w {
        Wakeup::Sent => Ok(()),
        Wakeup::Err(e) => Err(e),
        Wakeup::Msg(_) => unreachable!("a sender is never handed a message"),
    }))
}

/// `msgrcv(msqid, buf, msgsz, msgtyp, msgflg)`.
pub fn msgrcv(
    task: &Task,
    msqid: i32,
    msgsz: i64,
    msgtyp: i64,
    msgflg: i32,
) -> Result<Received, Errno> {
    start_msgrcv(task, msqid, msgsz, msgtyp, msgflg).wait()
}

/// [`msgrcv`] up to the point where it would wait for a message.
pub fn start_msgrcv(
    task: &Task,
    msqid: i32,
    msgsz: i64,
    msgtyp: i64,
    msgflg: i32,
) -> Started<Received> {
    receive_or_park(task, msqid, msgsz, msgtyp, msgflg).unwrap_or_else(|e| Started::Done(Err(e)))
}

/// [`start_msgrcv`] with its errors as `Err`.
fn receive_or_park(
    task: &Task,
    msqid: i32,
    msgsz: i64,
    msgtyp: i64,
    msgflg: i32,
) -> Result<Started<Received>, Errno> {
    let ns = &task.ipc_ns;
    if msqid < 0 || msgsz < 0 {
        return Err(Errno::EINVAL);
    }
    // Only `Variant::Rfc2012` changes `MSG_COPY`: its copy selects as a
    // receive does and may sleep; Linux 6.18's copies by index.
    let counted = msgflg & MSG_COPY != 0 && ns.variant == Variant::Rfc2012;
    let copy = msgflg & MSG_COPY != 0 && !counted;
    let blocking_copy = msgflg & IPC_NOWAIT == 0 && !mutant!(ns, BlockingCopyConsumes);
    if copy && (msgflg & MSG_EXCEPT != 0 || blocking_copy) {
        return Err(Errno::EINVAL);
    }
    let (mode, msgtyp) = if copy {
        (Mode::Number, msgtyp)
    } else if msgtyp == 0 {
        (Mode::Any, 0)
    } else if msgtyp < 0 && mutant!(ns, LongMinMatchesNothing) {
        (Mode::LessEqual, msgtyp.wrapping_neg())
    } else if msgtyp < 0 {
        (Mode::LessEqual, msgtyp.checked_neg().unwrap_or(i64::MAX))
    } else if msgflg & MSG_EXCEPT != 0 {
        (Mode::NotEqual, msgtyp)
    } else {
        (Mode::Equal, msgtyp)
    };
    let req = RecvReq {
        mode,
        msgtyp,
        msgsz,
        noerror: msgflg & MSG_NOERROR != 0,
        counted,
    };
    let queue = find(task, msqid)?;
    let mut q = queue.lock();
    if q.st.deleted && !mutant!(queue, RmidRace) {
        return Err(Errno::EIDRM);
    }
    if q.st.perm.denied(&task.cred, S_IRUGO) {
        return Err(Errno::EACCES);
    }
    if let Some(result) = q.receive(&task.pid, &req, ns.msgmax()) {
        q.run_woken(ns.msgmax());
        if copy && mutant!(queue, CopyAliasing) {
            drop(q);
            return Ok(Started::Done(
                result.map(|m| queue.lock().aliased_copy(req.msgtyp, m)),
            ));
        }
        return Ok(Started::Done(result));
    }
    if msgflg & IPC_NOWAIT != 0 {
        return Err(Errno::ENOMSG);
    }
    if !task.sleeper.may_sleep() {
        return Err(Errno::EINTR);
    }
    q.add_receiver(RecvWaiter {
        sleeper: task.sleeper.clone(),
        pid: task.pid.clone(),
        cred: task.cred,
        req,
    });
    Ok(park(task, q, &queue, |w| match w {
        Wakeup::Msg(m) => Ok(m),
        Wakeup::Err(e) => Err(e),
        Wakeup::Sent => unreachable!("a receiver is never completed as a sender"),
    }))
}

/// `msgctl(msqid, cmd, buf)`; `set` holds the fields of `IPC_SET`.
pub fn msgctl(task: &Task, msqid: i32, cmd: i32, set: Option<&MsgSet>) -> Result<Ctl, Errno> {
    let ns = &task.ipc_ns;
    if msqid < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        IPC_INFO | MSG_INFO => Ok(info(ns, cmd)),
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let queue = {
                let ids = ns.ids();
                if cmd == IPC_STAT {
                    ids.lookup(msqid.into())?.clone()
                } else {
                    ids.by_index(msqid.into()).ok_or(Errno::EINVAL)?.clone()
                }
            };
            let q = queue.lock();
            if q.st.deleted && !(cmd == IPC_STAT && mutant!(queue, StatRmidRace)) {
                return Err(Errno::EIDRM);
            }
            if cmd != MSG_STAT_ANY && q.st.perm.denied(&task.cred, S_IRUGO) {
                return Err(Errno::EACCES);
            }
            let ret = if cmd == IPC_STAT { 0 } else { queue.id() };
            Ok(Ctl::Stat(ret, q.stat(task.pid.ns())))
        }
        IPC_SET => set_queue(task, msqid, set.copied().unwrap_or_default()),
        IPC_RMID => {
            let mut ids = write(&ns.ids);
            let queue = ids.lookup(msqid.into())?.clone();
            let mut q = queue.lock();
            if !q.st.perm.owned_by(&task.cred) {
                return Err(Errno::EPERM);
            }
            Ids::remove(&mut ids, queue.idx);
            ns.publish(&mut ids, queue.idx, None);
            drop(ids);
            q.destroy();
            Ok(Ctl::Done)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `IPC_INFO` and `MSG_INFO`.
fn info(ns: &IpcNamespace, cmd: i32) -> Ctl {
    let mut info = MsgInfo {
        msgpool: MSGPOOL,
        msgmap: MSGTQL,
        msgmax: ns.msgmax(),
        msgmnb: ns.msgmnb(),
        msgmni: ns.msgmni.load(Ordering::Relaxed),
        msgssz: MSGSSZ,
        msgtql: MSGTQL,
        msgseg: MSGSEG,
    };
    let ids = ns.ids();
    if cmd == MSG_INFO {
        // The per-queue counters summed, as the kernel sums its percpu ones.
        let (mut hdrs, mut bytes) = (0, 0);
        for q in ids.queues() {
            hdrs += q.counters.hdrs.load(Ordering::Relaxed);
            bytes += q.counters.bytes.load(Ordering::Relaxed);
        }
        info.msgpool = ids.in_use() as i64;
        info.msgmap = hdrs.min(INT_MAX);
        info.msgtql = bytes.min(INT_MAX);
    }
    Ctl::Info(ids.info_ret(), info)
}

/// `IPC_SET`.
fn set_queue(task: &Task, msqid: i32, set: MsgSet) -> Result<Ctl, Errno> {
    let ns = &task.ipc_ns;
    let queue = find(task, msqid)?;
    let mut q = queue.lock();
    if q.st.deleted {
        return Err(Errno::EIDRM);
    }
    let perm = q.st.perm;
    if !perm.owned_by(&task.cred) {
        return Err(Errno::EPERM);
    }
    // `msg_qbytes` reaches `msgctl_down` as an `int` and is compared as an
    // `unsigned int`.
    let qbytes = set.msg_qbytes.unwrap_or(q.st.qbytes) as i32;
    if i64::from(qbytes as u32) > ns.msgmnb() && !task.cred.capable(CAP_SYS_RESOURCE) {
        return Err(Errno::EPERM);
    }
    let uid = set.uid.unwrap_or(perm.uid.into()) as u32;
    let gid = set.gid.unwrap_or(perm.gid.into()) as u32;
    if uid == u32::MAX || gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    let mode = set.mode.unwrap_or(perm.mode);
    q.st.perm.uid = uid;
    q.st.perm.gid = gid;
    q.st.perm.mode = (perm.mode & !0o777) | (mode & 0o777);
    q.st.qbytes = qbytes.into();
    q.wake_all_for_set();
    q.run_woken(ns.msgmax());
    Ok(Ctl::Done)
}
