//! One message queue: its messages, its sleepers, and everything that
//! happens under its lock.
//!
//! Sleepers never re-take the queue lock to finish their call. Whoever wakes
//! them finishes the call for them, under the lock, exactly as the sleeper
//! would have when re-checking: a send hands its message to a matching
//! receiver (or fails it with `E2BIG`); a receive that makes room completes
//! the senders whose message now fits; `IPC_SET` re-checks every receiver's
//! permission and the waiting senders; `IPC_RMID` fails them all with
//! `EIDRM`; under [`Variant::Rfc2012`], a message that is queued makes every
//! sleeping copy look again. Woken calls are finished in the order they were
//! woken, which is the order a sequential kernel would run them in, so the
//! outcome does not depend on the scheduler.

use std::collections::VecDeque;

use super::variant::Variant;
use super::{INT_MAX, IPCMNI_SHIFT, QueueStat, Received};
use crate::errno::Errno;
use crate::sync::{Arc, AtomicI64, Mutex, MutexGuard, Ordering, lock};
use crate::task::{CAP_IPC_OWNER, CAP_SYS_ADMIN, Cred, Pid, PidNsId, Sleeper, Wakeup};

/// The read and write requests of `ipcperms`.
pub(crate) const S_IRUGO: i64 = 0o444;
pub(crate) const S_IWUGO: i64 = 0o222;

/// A queued message.
#[derive(Debug)]
pub(crate) struct Msg {
    pub mtype: i64,
    pub text: Vec<u8>,
}

impl Msg {
    fn size(&self) -> i64 {
        self.text.len() as i64
    }

    /// The copy-out: `min(msgsz, size)` bytes and the type.
    pub fn deliver(&self, msgsz: i64) -> Received {
        let n = self.size().min(msgsz).max(0) as usize;
        Received {
            mtype: self.mtype,
            text: self.text[..n].to_vec(),
        }
    }
}

/// How `msgrcv` selects a message (`convert_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Any,
    Equal,
    NotEqual,
    LessEqual,
    /// `MSG_COPY`: the `msgtyp`-th message, whatever its type.
    Number,
}

impl Mode {
    /// `testmsg`.
    fn matches(self, mtype: i64, t: i64) -> bool {
        match self {
            Mode::Any | Mode::Number => true,
            Mode::LessEqual => mtype <= t,
            Mode::Equal => mtype == t,
            Mode::NotEqual => mtype != t,
        }
    }
}

/// What a receive asks for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvReq {
    pub mode: Mode,
    /// The converted `msgtyp` (an index for `MSG_COPY`).
    pub msgtyp: i64,
    /// The size of the caller's buffer.
    pub msgsz: i64,
    pub noerror: bool,
    /// A copy of [`Variant::Rfc2012`]: the copy counter's message among
    /// those `mode` selects, never handed a message by a send.
    pub counted: bool,
}

impl RecvReq {
    /// `r_maxsize`: what a hand-off may deliver.
    fn maxsize(&self) -> i64 {
        if self.noerror { INT_MAX } else { self.msgsz }
    }
}

/// The permissions part of `struct kern_ipc_perm`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Perm {
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: i64,
}

impl Perm {
    /// `ipcperms`: whether `flag` is denied to `cred`.
    pub fn denied(&self, cred: &Cred, flag: i64) -> bool {
        let req = ((flag >> 6) | (flag >> 3) | flag) & 7;
        let granted = if cred.euid == self.cuid || cred.euid == self.uid {
            self.mode >> 6
        } else if cred.egid == self.cgid || cred.egid == self.gid {
            self.mode >> 3
        } else {
            self.mode
        };
        req & !granted & 7 != 0 && !cred.capable(CAP_IPC_OWNER)
    }

    /// Owner, creator or `CAP_SYS_ADMIN`, as `IPC_SET` and `IPC_RMID` need.
    pub fn owned_by(&self, cred: &Cred) -> bool {
        cred.euid == self.cuid || cred.euid == self.uid || cred.capable(CAP_SYS_ADMIN)
    }
}

/// A task asleep in `msgrcv`.
#[derive(Debug)]
pub(crate) struct RecvWaiter {
    pub sleeper: Arc<Sleeper>,
    pub pid: Arc<Pid>,
    pub cred: Cred,
    pub req: RecvReq,
}

/// A task asleep in `msgsnd`, with the message it is sending.
#[derive(Debug)]
pub(crate) struct SendWaiter {
    pub sleeper: Arc<Sleeper>,
    pub pid: Arc<Pid>,
    pub cred: Cred,
    pub msg: Msg,
}

/// A woken sleeper whose call is to be finished.
#[derive(Debug)]
enum Rerun {
    Recv(RecvWaiter),
    Send(SendWaiter),
}

/// The queue's share of the namespace counters, readable without its lock
/// (for `MSG_INFO`); written only under it.
#[derive(Debug)]
pub(crate) struct Counters {
    pub bytes: AtomicI64,
    pub hdrs: AtomicI64,
}

/// `struct msg_queue` with its `kern_ipc_perm`.
///
/// Aligned to 128 bytes (x86 prefetches cache lines in 128-byte pairs) so
/// that two queues never share a line: queues created one after the other
/// sit side by side on the heap, and the tail of one (its sleeper lists,
/// written by every receive) would otherwise share a line with the head of
/// the next (its reference count, counters and lock word), slowing down
/// threads that work on different queues.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Queue {
    pub key: i64,
    pub seq: i64,
    pub idx: i64,
    pub counters: Counters,
    /// The `MSG_COPY` design of the queue's namespace.
    variant: Variant,
    state: Mutex<QueueState>,
    /// The deliberate bug of this queue, if any (`mutants.rs`).
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutants::Mutant>,
}

/// Everything about a queue that its lock protects.
#[derive(Debug)]
pub(crate) struct QueueState {
    /// Set by `IPC_RMID`; a caller that found the queue before sees `EIDRM`.
    pub deleted: bool,
    pub perm: Perm,
    pub qbytes: i64,
    cbytes: i64,
    /// The last sender and receiver (`q_lspid`, `q_lrpid`).
    lspid: Option<Arc<Pid>>,
    lrpid: Option<Arc<Pid>>,
    /// The messages in FIFO order; a `VecDeque` so that `MSG_COPY` by index
    /// costs O(1).
    messages: VecDeque<Msg>,
    receivers: VecDeque<RecvWaiter>,
    senders: VecDeque<SendWaiter>,
    /// The calls woken under the lock that still have to be finished
    /// ([`Locked::run_woken`]); empty whenever the lock is free. It lives
    /// here, not in [`Locked`], so that taking the lock builds and drops
    /// nothing.
    runq: VecDeque<Rerun>,
    /// `q_copy_cnt` of [`Variant::Rfc2012`]: how many copies the counter
    /// has moved past; always 0 under [`Variant::Mainline`].
    copy_cnt: usize,
}

/// `ipc_update_pid`: records `pid` in `slot`, touching no reference count
/// when it is already there (a task that sends again and again).
fn update_pid(slot: &mut Option<Arc<Pid>>, pid: &Arc<Pid>) {
    if !slot.as_ref().is_some_and(|old| Arc::ptr_eq(old, pid)) {
        *slot = Some(pid.clone());
    }
}

impl Queue {
    /// A new, empty queue whose `MSG_COPY` follows `variant`.
    pub fn new(key: i64, idx: i64, seq: i64, perm: Perm, qbytes: i64, variant: Variant) -> Queue {
        Queue {
            key,
            seq,
            idx,
            counters: Counters {
                bytes: AtomicI64::new(0),
                hdrs: AtomicI64::new(0),
            },
            variant,
            state: Mutex::new(QueueState {
                deleted: false,
                perm,
                qbytes,
                cbytes: 0,
                lspid: None,
                lrpid: None,
                messages: VecDeque::new(),
                receivers: VecDeque::new(),
                senders: VecDeque::new(),
                runq: VecDeque::new(),
                copy_cnt: 0,
            }),
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// The queue's id.
    pub fn id(&self) -> i64 {
        (self.seq << IPCMNI_SHIFT) + self.idx
    }

    /// Takes the queue lock. (In a shuttle build the contention log names
    /// the caller's line as the critical section.)
    #[cfg_attr(nscheck_shuttle, track_caller)]
    pub fn lock(&self) -> Locked<'_> {
        Locked {
            q: self,
            st: lock(&self.state),
        }
    }
}

/// A queue under its lock.
pub(crate) struct Locked<'a> {
    q: &'a Queue,
    pub st: MutexGuard<'a, QueueState>,
}

impl Locked<'_> {
    /// `msg_fits_inqueue`; `qbytes` is an `unsigned long`.
    pub fn fits(&self, msgsz: i64) -> bool {
        let qbytes = self.st.qbytes as u64 as i128;
        (msgsz + self.st.cbytes) as i128 <= qbytes
            && (self.st.messages.len() as i64 + 1) as i128 <= qbytes
    }

    /// `IPC_STAT`'s view of the queue.
    /// `IPC_STAT` for a caller in PID namespace `viewer`.
    pub fn stat(&self, viewer: PidNsId) -> QueueStat {
        let st = &self.st;
        QueueStat {
            key: self.q.key,
            uid: st.perm.uid.into(),
            gid: st.perm.gid.into(),
            cuid: st.perm.cuid.into(),
            cgid: st.perm.cgid.into(),
            mode: st.perm.mode,
            seq: self.q.seq,
            qnum: st.messages.len() as i64,
            cbytes: st.cbytes,
            qbytes: st.qbytes,
            lspid: st.lspid.as_ref().map_or(0, |p| p.nr_in(viewer)),
            lrpid: st.lrpid.as_ref().map_or(0, |p| p.nr_in(viewer)),
        }
    }

    fn enqueue(&mut self, msg: Msg) {
        let c = &self.q.counters;
        c.bytes.fetch_add(msg.size(), Ordering::Relaxed);
        c.hdrs.fetch_add(1, Ordering::Relaxed);
        self.st.cbytes += msg.size();
        self.st.messages.push_back(msg);
    }

    fn unlink(&mut self, pos: usize) -> Msg {
        let msg = self.st.messages.remove(pos).expect("in range");
        let c = &self.q.counters;
        c.bytes.fetch_sub(msg.size(), Ordering::Relaxed);
        c.hdrs.fetch_sub(1, Ordering::Relaxed);
        self.st.cbytes -= msg.size();
        msg
    }

    /// A successful send by `pid` (the message fits): `pipelined_send`, or
    /// else the message is queued (and, under [`Variant::Rfc2012`], the
    /// sleeping copies are woken, for [`Locked::run_woken`]).
    pub fn send(&mut self, pid: &Arc<Pid>, msg: Msg) {
        update_pid(&mut self.st.lspid, pid);
        let mut i = 0;
        while i < self.st.receivers.len() {
            let r = &self.st.receivers[i];
            if r.req.counted || !r.req.mode.matches(msg.mtype, r.req.msgtyp) {
                i += 1;
                continue;
            }
            if mutant!(self.q, SkipE2bigReceiver) && r.req.maxsize() < msg.size() {
                i += 1;
                continue;
            }
            let r = self.st.receivers.remove(i).expect("in range");
            if r.req.maxsize() < msg.size() {
                r.sleeper.wake(Wakeup::Err(Errno::E2BIG));
                continue;
            }
            update_pid(&mut self.st.lrpid, &r.pid);
            r.sleeper.wake(Wakeup::Msg(msg.deliver(r.req.msgsz)));
            return;
        }
        self.enqueue(msg);
        if self.q.variant == Variant::Rfc2012 {
            self.wake_copies();
        }
    }

    /// [`Variant::Rfc2012`]'s wake-up after a message was queued: every
    /// sleeping copy looks again, in the order they went to sleep; the other
    /// receivers keep their order. Mainline never calls it; kept out of
    /// line, it leaves mainline's send path as short as it was.
    #[cold]
    fn wake_copies(&mut self) {
        if !self.st.receivers.iter().any(|r| r.req.counted) {
            return;
        }
        let (copies, others) = std::mem::take(&mut self.st.receivers)
            .into_iter()
            .partition::<VecDeque<_>, _>(|r| r.req.counted);
        self.st.receivers = others;
        self.st.runq.extend(copies.into_iter().map(Rerun::Recv));
    }

    /// `find_msg`: the position of the message a receive selects.
    fn find(&self, req: &RecvReq) -> Option<usize> {
        let msgs = &self.st.messages;
        match req.mode {
            Mode::Number if mutant!(self.q, CopyPastEndReturnsLast) => {
                // The walk ends on the last message whether or not the
                // index was reached.
                let i = usize::try_from(req.msgtyp).unwrap_or(usize::MAX);
                (!msgs.is_empty()).then(|| i.min(msgs.len() - 1))
            }
            Mode::Number => usize::try_from(req.msgtyp).ok().filter(|&i| i < msgs.len()),
            Mode::LessEqual => {
                // The lowest type wins; among equal types the earliest.
                let mut t = req.msgtyp;
                let mut found = None;
                for (pos, m) in msgs.iter().enumerate() {
                    if m.mtype <= t {
                        found = Some(pos);
                        if m.mtype == 1 {
                            break;
                        }
                        t = m.mtype - 1;
                    }
                }
                found
            }
            mode => msgs.iter().position(|m| mode.matches(m.mtype, req.msgtyp)),
        }
    }

    /// The receive loop's body for a caller that may read the queue: `None`
    /// when nothing matches.
    pub fn receive(
        &mut self,
        pid: &Arc<Pid>,
        req: &RecvReq,
        msgmax: i64,
    ) -> Option<Result<Received, Errno>> {
        if req.counted {
            return self.counted_copy(req);
        }
        let pos = self.find(req)?;
        let m = &self.st.messages[pos];
        if req.msgsz < m.size() && !req.noerror {
            return Some(Err(Errno::E2BIG));
        }
        if req.mode == Mode::Number {
            if m.size() > req.msgsz.min(msgmax) {
                return Some(Err(Errno::EINVAL));
            }
            return Some(Ok(m.deliver(req.msgsz)));
        }
        let m = self.unlink(pos);
        update_pid(&mut self.st.lrpid, pid);
        if self.q.variant == Variant::Rfc2012 && !mutant!(self.q, CopyCountKept) {
            self.st.copy_cnt = self.st.copy_cnt.saturating_sub(1);
        }
        if mutant!(self.q, CbytesDrift) {
            self.st.cbytes += (m.size() - req.msgsz).max(0);
        }
        self.wake_senders();
        Some(Ok(m.deliver(req.msgsz)))
    }

    /// [`Variant::Rfc2012`]'s copy: the copy counter's message among those
    /// the request selects, by type as a receive selects (`EINVAL` for one
    /// longer than the buffer, whatever `MSG_NOERROR` says), which moves the
    /// counter up; `None` when there is none. Mainline never calls it;
    /// kept out of line, it leaves mainline's receive path as short as it
    /// was.
    #[cold]
    fn counted_copy(&mut self, req: &RecvReq) -> Option<Result<Received, Errno>> {
        let m = self
            .st
            .messages
            .iter()
            .filter(|m| req.mode.matches(m.mtype, req.msgtyp))
            .nth(self.st.copy_cnt)?;
        if m.size() > req.msgsz {
            return Some(Err(Errno::EINVAL));
        }
        let out = m.deliver(req.msgsz);
        self.st.copy_cnt += 1;
        Some(Ok(out))
    }

    /// The mutant `CopyAliasing`'s copy-out: `copied`'s text read again
    /// from whatever message is now at position `pos`, at most as long as
    /// it was.
    pub fn aliased_copy(&self, pos: i64, copied: Received) -> Received {
        let now = usize::try_from(pos)
            .ok()
            .and_then(|p| self.st.messages.get(p));
        let n = now.map_or(0, |m| m.text.len().min(copied.text.len()));
        Received {
            mtype: copied.mtype,
            text: now.map_or(Vec::new(), |m| m.text[..n].to_vec()),
        }
    }

    /// Registers a receiver that found nothing, and reports it parked.
    pub fn add_receiver(&mut self, w: RecvWaiter) {
        w.sleeper.parked();
        self.st.receivers.push_back(w);
    }

    /// Registers a sender that does not fit, and reports it parked.
    pub fn add_sender(&mut self, w: SendWaiter) {
        w.sleeper.parked();
        self.st.senders.push_back(w);
    }

    /// Forgets a killed sleeper.
    pub fn remove_sleeper(&mut self, sleeper: &Arc<Sleeper>) {
        self.st
            .receivers
            .retain(|r| !Arc::ptr_eq(&r.sleeper, sleeper));
        self.st
            .senders
            .retain(|s| !Arc::ptr_eq(&s.sleeper, sleeper));
    }

    /// `ss_wakeup` without `kill`: the senders whose message now fits are
    /// woken in FIFO order; the others keep their order at the tail.
    fn wake_senders(&mut self) {
        // The common case, no sleeping sender: leave the list untouched
        // rather than rebuild it, which costs stores on every receive.
        if self.st.senders.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.st.senders);
        let mut stay = VecDeque::new();
        while let Some(s) = pending.pop_front() {
            if self.fits(s.msg.size()) {
                self.st.runq.push_back(Rerun::Send(s));
            } else {
                stay.push_back(s);
            }
        }
        self.st.senders = stay;
    }

    /// `IPC_SET`'s wake-up: every receiver re-checks, then the senders that
    /// fit.
    pub fn wake_all_for_set(&mut self) {
        let receivers = std::mem::take(&mut self.st.receivers);
        self.st.runq.extend(receivers.into_iter().map(Rerun::Recv));
        self.wake_senders();
    }

    /// `IPC_RMID`'s wake-up: every sleeper fails with `EIDRM`, and the
    /// messages go.
    pub fn destroy(&mut self) {
        self.st.deleted = true;
        for r in std::mem::take(&mut self.st.receivers) {
            r.sleeper.wake(Wakeup::Err(Errno::EIDRM));
        }
        for s in std::mem::take(&mut self.st.senders) {
            s.sleeper.wake(Wakeup::Err(Errno::EIDRM));
        }
        while !self.st.messages.is_empty() {
            self.unlink(0);
        }
    }

    /// Finishes the woken calls, in the order they were woken, as each woken
    /// task would when it runs: re-check permission, then try again, and go
    /// back to sleep (keeping its place in line behind those already there)
    /// if it still cannot proceed. Finishing a call may wake more.
    pub fn run_woken(&mut self, msgmax: i64) {
        while let Some(w) = self.st.runq.pop_front() {
            match w {
                Rerun::Recv(r) => {
                    if self.st.perm.denied(&r.cred, S_IRUGO) {
                        r.sleeper.wake(Wakeup::Err(Errno::EACCES));
                        continue;
                    }
                    match self.receive(&r.pid, &r.req, msgmax) {
                        Some(Ok(m)) => r.sleeper.wake(Wakeup::Msg(m)),
                        Some(Err(e)) => r.sleeper.wake(Wakeup::Err(e)),
                        None => self.st.receivers.push_back(r),
                    }
                }
                Rerun::Send(s) => {
                    if self.st.perm.denied(&s.cred, S_IWUGO) {
                        s.sleeper.wake(Wakeup::Err(Errno::EACCES));
                    } else if self.fits(s.msg.size()) {
                        self.send(&s.pid, s.msg);
                        s.sleeper.wake(Wakeup::Sent);
                    } else {
                        self.st.senders.push_back(s);
                    }
                }
            }
        }
    }
}
