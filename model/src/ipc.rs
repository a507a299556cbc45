//! System V message queues in IPC namespaces: `msgget`, `msgsnd`, `msgrcv`,
//! `msgctl` and the msg sysctls (`kernel.msgmax`, `kernel.msgmnb`,
//! `kernel.msgmni`, `kernel.msg_next_id`), permission checks included.
//!
//! This file is the specification of those calls. Each function follows the
//! check order of Linux 6.18 (`ipc/msg.c`, `ipc/util.c`, `ipc/ipc_sysctl.c`),
//! as tabulated in `msg-semantics.md` §4–§6; the rule numbers (R1…R42) are
//! cited where they apply. The `rfc2012` dialect changes MSG_COPY only and
//! is marked where it does.
//!
//! A call runs on one [`IpcNs`] for one [`Caller`] and knows nothing else of
//! the kernel: it returns its own result, or that its caller sleeps
//! ([`MsgStep`]), and lists what it did to other tasks ([`Effect`]), which
//! `kernel.rs` carries out in order.

use std::collections::{BTreeMap, VecDeque};

use crate::abi::*;
use crate::dialect::Dialect;
use crate::rules::Rule;
use crate::syscall::{Detail, DigestWords, MsgInfo, MsgSet, MsqidDs, Outcome, Sysctl, TaskId};
use crate::task::Cred;

/// The read and write permission requests of `ipcperms`.
const S_IRUGO: i64 = 0o444;
const S_IWUGO: i64 = 0o222;

/// The task that makes a msg call, as the call sees it.
pub(crate) struct Caller<'a> {
    pub task: TaskId,
    pub cred: Cred,
    pub dialect: Dialect,
    /// `pid_vnr` in the caller's PID namespace: the number it sees for a
    /// task recorded as `msg_lspid` or `msg_lrpid`, 0 where it sees none.
    pub pid_vnr: &'a dyn Fn(Option<TaskId>) -> i64,
}

/// How a msg call ended for its caller.
#[derive(Debug)]
pub(crate) enum MsgStep {
    /// It returned.
    Done(Outcome),
    /// It sleeps, as a sender or receiver of its queue; [`IpcNs::rerun`]
    /// runs it again when it is woken.
    Sleep(MsgWait),
}

/// What a sleeping msg call waits for; enough to run it again.
#[derive(Clone, Debug)]
pub(crate) enum MsgWait {
    /// `msgsnd` on a full queue.
    Send { msqid: i64, msg: Msg, msgflg: i64 },
    /// `msgrcv` with nothing to receive.
    Recv {
        msqid: i64,
        r: Receiver,
        msgflg: i64,
    },
}

/// What a msg call did to a sleeping task other than its caller.
#[derive(Debug)]
pub(crate) enum Effect {
    /// The sleeper's call ends with this outcome.
    Complete(TaskId, Outcome),
    /// The sleeper is woken and runs its call again.
    Wake(TaskId),
}

/// One IPC namespace: its id space, its sysctls and its counters.
#[derive(Clone, Debug)]
pub(crate) struct IpcNs {
    /// `kernel.msgmax`.
    msgmax: i64,
    /// `kernel.msgmnb`.
    msgmnb: i64,
    /// `kernel.msgmni`.
    msgmni: i64,
    /// `kernel.msg_next_id`; -1 when unset.
    next_id: i64,
    /// Queues by index.
    queues: BTreeMap<i64, MsgQueue>,
    /// Non-private keys and the index of their queue.
    keys: BTreeMap<i64, i64>,
    /// `ids.seq`.
    seq: i64,
    /// `ids.last_idx`.
    last_idx: i64,
    /// `ids.max_idx`.
    max_idx: i64,
    /// The cyclic cursor of the idr (`idr_next`).
    cursor: i64,
    /// `msg_bytes`: bytes queued in the namespace.
    bytes: i64,
    /// `msg_hdrs`: messages queued in the namespace.
    hdrs: i64,
}

impl IpcNs {
    /// A namespace as `unshare(CLONE_NEWIPC)` creates it.
    pub fn new() -> IpcNs {
        IpcNs {
            msgmax: MSGMAX,
            msgmnb: MSGMNB,
            msgmni: MSGMNI,
            next_id: -1,
            queues: BTreeMap::new(),
            keys: BTreeMap::new(),
            seq: 0,
            last_idx: -1,
            max_idx: -1,
            cursor: 0,
            bytes: 0,
            hdrs: 0,
        }
    }

    /// `ipc_obtain_object_check`: the queue with this id, checking the seq (R5, R39).
    fn lookup(&self, msqid: i64) -> Result<i64, Errno> {
        let idx = msqid & (IPCMNI - 1);
        match self.queues.get(&idx) {
            Some(q) if q.seq == msqid >> IPCMNI_SHIFT => Ok(idx),
            Some(_) => {
                hit!(MsgR39);
                Err(Errno::EINVAL)
            }
            None => Err(Errno::EINVAL),
        }
    }

    /// `ipc_idr_alloc` after the limit check of `ipc_addid` (R36, R38, R40).
    fn alloc_id(&mut self) -> Result<(i64, i64), Errno> {
        let limit = self.msgmni.min(IPCMNI);
        if self.queues.len() as i64 >= limit {
            hit!(MsgR36Enospc);
            return Err(Errno::ENOSPC);
        }
        let next_id = std::mem::replace(&mut self.next_id, -1);
        let (idx, seq) = if next_id < 0 {
            hit!(MsgR38);
            let in_use = self.queues.len() as i64;
            let end = (in_use * 3 / 2).clamp(64, IPCMNI);
            let free = |i: &i64| !self.queues.contains_key(i);
            let start = self.cursor.max(0);
            let idx = (start..end)
                .find(free)
                .or_else(|| (0..end.min(start)).find(free))
                .ok_or(Errno::ENOSPC)?;
            self.cursor = idx + 1;
            if idx <= self.last_idx {
                hit!(MsgR38Wrap);
                self.seq += 1;
                if self.seq >= SEQ_LIMIT {
                    hit!(MsgR38SeqLimit);
                    self.seq = 0;
                }
            }
            self.last_idx = idx;
            (idx, self.seq)
        } else {
            hit!(MsgR40);
            let idx = (next_id & (IPCMNI - 1)..)
                .find(|i| !self.queues.contains_key(i))
                .expect("some index is free");
            (idx, next_id >> IPCMNI_SHIFT)
        };
        self.max_idx = self.max_idx.max(idx);
        Ok((idx, seq))
    }

    /// `ipc_rmid`.
    fn remove(&mut self, idx: i64) -> MsgQueue {
        let q = self.queues.remove(&idx).expect("queue exists");
        if q.perm.key != IPC_PRIVATE {
            self.keys.remove(&q.perm.key);
        }
        if idx == self.max_idx {
            self.max_idx = self.queues.keys().next_back().copied().unwrap_or(-1);
        }
        q
    }

    /// `msgctl_info`'s return value (R29).
    fn info_ret(&self) -> i64 {
        let in_use = self.queues.len() as i64;
        if in_use == 0 {
            0
        } else if in_use == IPCMNI {
            IPCMNI - 1
        } else {
            self.max_idx.max(0)
        }
    }

    /// The `struct msginfo` of `IPC_INFO`, or of `MSG_INFO` with the usage
    /// counts (R29).
    fn info(&self, cmd: i64) -> MsgInfo {
        let mut info = MsgInfo {
            msgpool: MSGPOOL,
            msgmap: MSGTQL,
            msgmax: self.msgmax,
            msgmnb: self.msgmnb,
            msgmni: self.msgmni,
            msgssz: MSGSSZ,
            msgtql: MSGTQL,
            msgseg: MSGSEG,
        };
        if cmd == MSG_INFO {
            info.msgpool = self.queues.len() as i64;
            info.msgmap = self.hdrs.min(INT_MAX);
            info.msgtql = self.bytes.min(INT_MAX);
        }
        info
    }

    /// A msg sysctl: a read, or a write after the permission check of its
    /// file and the range check of its handler (R41). `msg_next_id` is 0444
    /// unless the caller has checkpoint/restore rights, which make it 0666
    /// (`ipc_permissions`), so without them the open fails, even for root.
    /// The other msg sysctls are 0644, owned by the namespace's root.
    pub(crate) fn sysctl(&mut self, cred: &Cred, name: Sysctl, value: Option<i64>) -> Outcome {
        let (max, slot) = match name {
            Sysctl::Msgmax => (INT_MAX, &mut self.msgmax),
            Sysctl::Msgmnb => (INT_MAX, &mut self.msgmnb),
            Sysctl::Msgmni => (IPCMNI, &mut self.msgmni),
            Sysctl::MsgNextId => (INT_MAX, &mut self.next_id),
            Sysctl::NsLastPid | Sysctl::PidMax => unreachable!("not an IPC sysctl"),
        };
        let Some(v) = value else {
            hit!(MsgR41Read);
            return Outcome::val(*slot);
        };
        let may_open = match name {
            Sysctl::MsgNextId => cred.checkpoint_restore(),
            _ => cred.euid == 0,
        };
        if !may_open {
            hit!(MsgR41Eacces);
            return Outcome::err(Errno::EACCES);
        }
        if !(0..=max).contains(&v) {
            hit!(MsgR41Einval);
            return Outcome::err(Errno::EINVAL);
        }
        hit!(MsgR41);
        *slot = v;
        Outcome::val(0)
    }
}

/// A queued message.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    mtype: i64,
    text: Vec<u8>,
}

impl Msg {
    fn size(&self) -> i64 {
        self.text.len() as i64
    }
}

/// `struct kern_ipc_perm`, the part the model needs.
#[derive(Clone, Copy, Debug)]
struct Perm {
    key: i64,
    uid: i64,
    gid: i64,
    cuid: i64,
    cgid: i64,
    mode: i64,
}

impl Perm {
    /// `ipcperms`, in its own words: whether `flag` is denied to `cred`.
    fn denies(&self, cred: &Cred, flag: i64) -> bool {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        if cred.euid == self.cuid || cred.euid == self.uid {
            granted >>= 6;
        } else if cred.egid == self.cgid || cred.egid == self.gid {
            granted >>= 3;
        }
        requested & !granted & 0o7 != 0 && !cred.capable(CAP_IPC_OWNER)
    }

    /// Owner, creator or `CAP_SYS_ADMIN`, as `IPC_SET` and `IPC_RMID` require.
    fn owned_by(&self, cred: &Cred) -> bool {
        cred.euid == self.cuid || cred.euid == self.uid || cred.capable(CAP_SYS_ADMIN)
    }
}

/// How `msgrcv` selects a message (`convert_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Any,
    Equal,
    NotEqual,
    LessEqual,
    Number,
}

impl Mode {
    /// `testmsg`.
    fn matches(self, m: &Msg, t: i64) -> bool {
        match self {
            Mode::Any | Mode::Number => true,
            Mode::LessEqual => m.mtype <= t,
            Mode::Equal => m.mtype == t,
            Mode::NotEqual => m.mtype != t,
        }
    }
}

/// A task sleeping in `msgrcv`.
#[derive(Clone, Debug)]
pub(crate) struct Receiver {
    task: TaskId,
    mode: Mode,
    msgtyp: i64,
    /// `r_maxsize`: `INT_MAX` with `MSG_NOERROR`, else `msgsz`.
    maxsize: i64,
    /// The size of the caller's buffer, for the copy-out.
    msgsz: i64,
    /// A waiting `MSG_COPY` of the `rfc2012` dialect.
    copy: bool,
}

/// A task sleeping in `msgsnd`.
#[derive(Clone, Debug)]
struct Sender {
    task: TaskId,
    msgsz: i64,
}

/// `struct msg_queue`.
#[derive(Clone, Debug)]
struct MsgQueue {
    perm: Perm,
    seq: i64,
    qbytes: i64,
    cbytes: i64,
    lspid: Option<TaskId>,
    lrpid: Option<TaskId>,
    messages: VecDeque<Msg>,
    receivers: VecDeque<Receiver>,
    senders: VecDeque<Sender>,
    /// `q_copy_cnt` of the `rfc2012` dialect.
    copy_cnt: usize,
}

impl MsgQueue {
    fn qnum(&self) -> i64 {
        self.messages.len() as i64
    }

    /// `msg_fits_inqueue` (R7). `qbytes` is an `unsigned long`.
    fn fits(&self, msgsz: i64) -> bool {
        let qbytes = self.qbytes as u64 as i128;
        (msgsz + self.cbytes) as i128 <= qbytes && (self.qnum() + 1) as i128 <= qbytes
    }

    /// The `struct msqid64_ds` of `IPC_STAT`, with pids as `pid_vnr` shows
    /// them.
    fn stat(&self, pid_vnr: &dyn Fn(Option<TaskId>) -> i64) -> MsqidDs {
        MsqidDs {
            key: self.perm.key,
            uid: self.perm.uid,
            gid: self.perm.gid,
            cuid: self.perm.cuid,
            cgid: self.perm.cgid,
            mode: self.perm.mode,
            seq: self.seq,
            qnum: self.qnum(),
            cbytes: self.cbytes,
            qbytes: self.qbytes,
            lspid: pid_vnr(self.lspid),
            lrpid: pid_vnr(self.lrpid),
        }
    }
}

/// Arguments as the kernel sees them: `int` parameters keep their low 32 bits.
fn int(v: i64) -> i64 {
    v as i32 as i64
}

impl IpcNs {
    /// `msgget(key, msgflg)` (§4.1, R36, R37).
    pub(crate) fn msgget(&mut self, c: &Caller, key: i64, msgflg: i64) -> Outcome {
        let (key, msgflg) = (int(key), int(msgflg));
        if key != IPC_PRIVATE {
            match self.keys.get(&key) {
                None if msgflg & IPC_CREAT == 0 => {
                    hit!(MsgR36Enoent);
                    return Outcome::err(Errno::ENOENT);
                }
                None => {}
                Some(_) if msgflg & IPC_CREAT != 0 && msgflg & IPC_EXCL != 0 => {
                    hit!(MsgR36Eexist);
                    return Outcome::err(Errno::EEXIST);
                }
                Some(&idx) => {
                    let q = &self.queues[&idx];
                    if q.perm.denies(&c.cred, msgflg) {
                        hit!(MsgR36Eacces);
                        return Outcome::err(Errno::EACCES);
                    }
                    hit!(MsgR36Existing);
                    return Outcome::val((q.seq << IPCMNI_SHIFT) + idx);
                }
            }
        }
        let (idx, seq) = match self.alloc_id() {
            Ok(v) => v,
            Err(e) => return Outcome::err(e),
        };
        hit!(if key == IPC_PRIVATE {
            Rule::MsgR36Private
        } else {
            Rule::MsgR36Create
        });
        hit!(MsgR37);
        let q = MsgQueue {
            perm: Perm {
                key,
                uid: c.cred.euid,
                gid: c.cred.egid,
                cuid: c.cred.euid,
                cgid: c.cred.egid,
                mode: msgflg & 0o777,
            },
            seq,
            qbytes: self.msgmnb,
            cbytes: 0,
            lspid: None,
            lrpid: None,
            messages: VecDeque::new(),
            receivers: VecDeque::new(),
            senders: VecDeque::new(),
            copy_cnt: 0,
        };
        self.queues.insert(idx, q);
        if key != IPC_PRIVATE {
            self.keys.insert(key, idx);
        }
        Outcome::val((seq << IPCMNI_SHIFT) + idx)
    }

    /// `msgsnd`: the checks before the queue loop (§4.2 steps 1–5).
    pub(crate) fn msgsnd(
        &mut self,
        c: &Caller,
        msqid: i64,
        mtype: i64,
        text: &[u8],
        msgflg: i64,
        fx: &mut Vec<Effect>,
    ) -> MsgStep {
        let (msqid, msgflg) = (int(msqid), int(msgflg));
        let msgsz = text.len() as i64;
        if msgsz > self.msgmax || msqid < 0 {
            hit!(MsgR2);
            return MsgStep::Done(Outcome::err(Errno::EINVAL));
        }
        if mtype < 1 {
            hit!(MsgR3);
            return MsgStep::Done(Outcome::err(Errno::EINVAL));
        }
        if let Err(e) = self.lookup(msqid) {
            hit!(MsgR5);
            return MsgStep::Done(Outcome::err(e));
        }
        let msg = Msg {
            mtype,
            text: text.to_vec(),
        };
        self.msgsnd_loop(c, msqid, msg, msgflg, fx)
    }

    /// `msgsnd`'s loop under the queue lock (§4.2 step 6–7); a woken sender
    /// runs this again.
    fn msgsnd_loop(
        &mut self,
        c: &Caller,
        msqid: i64,
        msg: Msg,
        msgflg: i64,
        fx: &mut Vec<Effect>,
    ) -> MsgStep {
        let Ok(idx) = self.lookup(msqid) else {
            // Removed while asleep.
            hit!(MsgR8);
            return MsgStep::Done(Outcome::err(Errno::EIDRM));
        };
        let q = self.queues.get_mut(&idx).expect("looked up");
        if q.perm.denies(&c.cred, S_IWUGO) {
            hit!(MsgR6);
            return MsgStep::Done(Outcome::err(Errno::EACCES));
        }
        if !q.fits(msg.size()) {
            if msgflg & IPC_NOWAIT != 0 {
                hit!(MsgR7Eagain);
                return MsgStep::Done(Outcome::err(Errno::EAGAIN));
            }
            hit!(MsgR7Sleep);
            q.senders.push_back(Sender {
                task: c.task,
                msgsz: msg.size(),
            });
            return MsgStep::Sleep(MsgWait::Send { msqid, msg, msgflg });
        }
        hit!(MsgR7Fits);
        q.lspid = Some(c.task);
        self.pipelined_send(c.dialect, idx, msg, fx);
        MsgStep::Done(Outcome::val(0))
    }

    /// `pipelined_send`, then queueing (§5.4, R23, R24).
    fn pipelined_send(&mut self, dialect: Dialect, idx: i64, msg: Msg, fx: &mut Vec<Effect>) {
        let q = self.queues.get_mut(&idx).expect("live queue");
        let mut handed = false;
        let mut i = 0;
        while i < q.receivers.len() {
            let r = &q.receivers[i];
            if r.copy || !r.mode.matches(&msg, r.msgtyp) {
                i += 1;
                continue;
            }
            let r = q.receivers.remove(i).expect("in range");
            if r.maxsize < msg.size() {
                hit!(MsgR24);
                fx.push(Effect::Complete(r.task, Outcome::err(Errno::E2BIG)));
                continue;
            }
            hit!(MsgR23);
            q.lrpid = Some(r.task);
            fx.push(Effect::Complete(r.task, deliver(&msg, r.msgsz)));
            handed = true;
            break;
        }
        if !handed {
            self.bytes += msg.size();
            self.hdrs += 1;
            q.cbytes += msg.size();
            q.messages.push_back(msg);
        }
        if !handed && dialect == Dialect::Rfc2012 {
            self.retry_copy_waiters(idx, fx);
        }
    }

    /// `msgrcv`: the checks before the queue loop (§4.3 steps 1–4).
    pub(crate) fn msgrcv(
        &mut self,
        c: &Caller,
        msqid: i64,
        msgsz: i64,
        msgtyp: i64,
        msgflg: i64,
        fx: &mut Vec<Effect>,
    ) -> MsgStep {
        let (msqid, msgflg) = (int(msqid), int(msgflg));
        if msqid < 0 || msgsz < 0 {
            hit!(MsgR10);
            return MsgStep::Done(Outcome::err(Errno::EINVAL));
        }
        let copy = msgflg & MSG_COPY != 0;
        // Only `rfc2012` changes MSG_COPY; every other dialect is mainline here.
        let mainline_copy = copy && c.dialect != Dialect::Rfc2012;
        if mainline_copy && (msgflg & MSG_EXCEPT != 0 || msgflg & IPC_NOWAIT == 0) {
            hit!(MsgR11);
            return MsgStep::Done(Outcome::err(Errno::EINVAL));
        }
        // The selection modes of R20 (R21's ordinal for a mainline copy).
        let (mode, msgtyp) = if mainline_copy {
            (Mode::Number, msgtyp)
        } else if msgtyp == 0 {
            hit!(MsgR20Any);
            (Mode::Any, 0)
        } else if msgtyp < 0 {
            hit!(if msgtyp == i64::MIN {
                Rule::MsgR20LongMin
            } else {
                Rule::MsgR20Lowest
            });
            (Mode::LessEqual, msgtyp.checked_neg().unwrap_or(i64::MAX))
        } else if msgflg & MSG_EXCEPT != 0 {
            hit!(MsgR20Except);
            (Mode::NotEqual, msgtyp)
        } else {
            hit!(MsgR20Equal);
            (Mode::Equal, msgtyp)
        };
        if let Err(e) = self.lookup(msqid) {
            hit!(MsgR13);
            return MsgStep::Done(Outcome::err(e));
        }
        let r = Receiver {
            task: c.task,
            mode,
            msgtyp,
            maxsize: if msgflg & MSG_NOERROR != 0 {
                INT_MAX
            } else {
                msgsz
            },
            msgsz,
            copy,
        };
        self.msgrcv_loop(c, msqid, r, msgflg, fx)
    }

    /// `msgrcv`'s loop (§4.3 step 5); a receiver woken by `IPC_SET` (or, in
    /// `rfc2012`, a waiting copy woken by a send) runs this again.
    fn msgrcv_loop(
        &mut self,
        c: &Caller,
        msqid: i64,
        r: Receiver,
        msgflg: i64,
        fx: &mut Vec<Effect>,
    ) -> MsgStep {
        let msgmax = self.msgmax;
        let Ok(idx) = self.lookup(msqid) else {
            hit!(MsgR25);
            return MsgStep::Done(Outcome::err(Errno::EIDRM));
        };
        let q = self.queues.get_mut(&idx).expect("looked up");
        if q.perm.denies(&c.cred, S_IRUGO) {
            hit!(MsgR14);
            return MsgStep::Done(Outcome::err(Errno::EACCES));
        }
        let noerror = msgflg & MSG_NOERROR != 0;
        if r.copy && c.dialect == Dialect::Rfc2012 {
            // The RFC's copy: the `q_copy_cnt`-th message that matches the
            // type, as its author stated; `copy_msg` refuses a short buffer
            // with EINVAL before any E2BIG check (DIALECTS.md).
            let found = q
                .messages
                .iter()
                .filter(|m| r.mode.matches(m, r.msgtyp))
                .nth(q.copy_cnt);
            if let Some(m) = found {
                if m.size() > r.msgsz {
                    hit!(RfcCopyEinval);
                    return MsgStep::Done(Outcome::err(Errno::EINVAL));
                }
                hit!(RfcCopy);
                let out = deliver(m, r.msgsz);
                q.copy_cnt += 1;
                return MsgStep::Done(out);
            }
        } else if let Some(pos) = find_msg(&q.messages, r.mode, r.msgtyp) {
            let m = &q.messages[pos];
            if r.msgsz < m.size() && !noerror {
                hit!(MsgR15);
                return MsgStep::Done(Outcome::err(Errno::E2BIG));
            }
            if r.copy {
                if m.size() > r.msgsz.min(msgmax) {
                    hit!(if m.size() > r.msgsz {
                        Rule::MsgR17
                    } else {
                        Rule::MsgR18
                    });
                    return MsgStep::Done(Outcome::err(Errno::EINVAL));
                }
                hit!(MsgR21);
                return MsgStep::Done(deliver(m, r.msgsz));
            }
            if r.msgsz < m.size() {
                hit!(MsgR16);
            }
            let m = q.messages.remove(pos).expect("found");
            q.cbytes -= m.size(); // R16: the full size.
            q.lrpid = Some(c.task);
            q.copy_cnt = q.copy_cnt.saturating_sub(1);
            self.bytes -= m.size();
            self.hdrs -= 1;
            self.ss_wakeup(idx, fx);
            return MsgStep::Done(deliver(&m, r.msgsz));
        }
        if msgflg & IPC_NOWAIT != 0 {
            hit!(MsgR19);
            return MsgStep::Done(Outcome::err(Errno::ENOMSG));
        }
        hit!(MsgR19Sleep);
        q.receivers.push_back(r.clone());
        MsgStep::Sleep(MsgWait::Recv { msqid, r, msgflg })
    }

    /// `ss_wakeup` with `kill == false` (§5.5): senders whose message now fits
    /// are woken in FIFO order; the others move to the tail.
    fn ss_wakeup(&mut self, idx: i64, fx: &mut Vec<Effect>) {
        let q = self.queues.get_mut(&idx).expect("live queue");
        let mut stop: Option<TaskId> = None;
        let mut pending: VecDeque<Sender> = std::mem::take(&mut q.senders);
        while let Some(s) = pending.pop_front() {
            if stop == Some(s.task) {
                pending.push_front(s);
                break;
            }
            if !q.fits(s.msgsz) {
                stop.get_or_insert(s.task);
                pending.push_back(s);
                continue;
            }
            hit!(MsgR7Wake);
            fx.push(Effect::Wake(s.task));
        }
        q.senders = pending;
    }

    /// The `rfc2012` copy waiters re-check after a message was queued.
    fn retry_copy_waiters(&mut self, idx: i64, fx: &mut Vec<Effect>) {
        let q = self.queues.get_mut(&idx).expect("live queue");
        let (copiers, others): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut q.receivers)
            .into_iter()
            .partition(|r| r.copy);
        q.receivers = others;
        if !copiers.is_empty() {
            hit!(RfcCopyWake);
        }
        fx.extend(copiers.into_iter().map(|r| Effect::Wake(r.task)));
    }

    /// Runs a woken sleeper's call again, as the task does when it runs.
    pub(crate) fn rerun(&mut self, c: &Caller, wait: MsgWait, fx: &mut Vec<Effect>) -> MsgStep {
        match wait {
            MsgWait::Send { msqid, msg, msgflg } => self.msgsnd_loop(c, msqid, msg, msgflg, fx),
            MsgWait::Recv { msqid, r, msgflg } => self.msgrcv_loop(c, msqid, r, msgflg, fx),
        }
    }

    /// Removes `task` from the sleeper lists of every queue (it was killed).
    pub(crate) fn forget_sleeper(&mut self, task: TaskId) {
        for q in self.queues.values_mut() {
            q.receivers.retain(|r| r.task != task);
            q.senders.retain(|s| s.task != task);
        }
    }

    /// Appends this namespace to a digest of the IPC state
    /// ([`crate::IpcDigest`], as words): `MSG_INFO`, then `IPC_STAT` of
    /// every queue, with pids as `pid_vnr` shows them.
    pub(crate) fn digest_words(
        &self,
        out: &mut DigestWords,
        pid_vnr: &dyn Fn(Option<TaskId>) -> i64,
    ) {
        out.namespace(self.info_ret(), &self.info(MSG_INFO));
        for (&idx, q) in &self.queues {
            out.queue((q.seq << IPCMNI_SHIFT) + idx, &q.stat(pid_vnr));
        }
    }

    /// `msgctl(msqid, cmd, buf)` (§4.4, R28–R35).
    pub(crate) fn msgctl(
        &mut self,
        c: &Caller,
        msqid: i64,
        cmd: i64,
        set: Option<MsgSet>,
        fx: &mut Vec<Effect>,
    ) -> Outcome {
        let (msqid, cmd) = (int(msqid), int(cmd));
        if msqid < 0 || cmd < 0 {
            hit!(MsgR28);
            return Outcome::err(Errno::EINVAL);
        }
        match cmd {
            IPC_INFO | MSG_INFO => {
                hit!(MsgR29);
                Outcome::with(self.info_ret(), Detail::Info(self.info(cmd)))
            }
            IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
                let idx = if cmd == IPC_STAT {
                    match self.lookup(msqid) {
                        Ok(idx) => idx,
                        Err(e) => {
                            hit!(MsgR28Id);
                            return Outcome::err(e);
                        }
                    }
                } else {
                    msqid & (IPCMNI - 1)
                };
                let Some(q) = self.queues.get(&idx) else {
                    hit!(MsgR30Einval);
                    return Outcome::err(Errno::EINVAL);
                };
                if cmd != MSG_STAT_ANY && q.perm.denies(&c.cred, S_IRUGO) {
                    hit!(MsgR32Eacces);
                    return Outcome::err(Errno::EACCES);
                }
                hit!(match cmd {
                    IPC_STAT => Rule::MsgR32,
                    MSG_STAT => Rule::MsgR30,
                    _ => Rule::MsgR31,
                });
                let ret = if cmd == IPC_STAT {
                    0
                } else {
                    (q.seq << IPCMNI_SHIFT) + idx
                };
                Outcome::with(ret, Detail::Stat(q.stat(c.pid_vnr)))
            }
            IPC_SET => self.msgctl_set(c, msqid, set.unwrap_or_default(), fx),
            IPC_RMID => {
                let idx = match self.lookup(msqid) {
                    Ok(idx) => idx,
                    Err(e) => {
                        hit!(MsgR28Id);
                        return Outcome::err(e);
                    }
                };
                if !self.queues[&idx].perm.owned_by(&c.cred) {
                    hit!(MsgR35Eperm);
                    return Outcome::err(Errno::EPERM);
                }
                hit!(MsgR35);
                let q = self.remove(idx);
                self.bytes -= q.cbytes;
                self.hdrs -= q.qnum();
                // R25 and R8: every sleeper's call ends with EIDRM.
                q.receivers.iter().for_each(|_| hit!(MsgR25));
                q.senders.iter().for_each(|_| hit!(MsgR8));
                let sleepers = q.receivers.iter().map(|r| r.task);
                let sleepers = sleepers.chain(q.senders.iter().map(|s| s.task));
                fx.extend(sleepers.map(|t| Effect::Complete(t, Outcome::err(Errno::EIDRM))));
                Outcome::val(0)
            }
            _ => {
                hit!(MsgR28Cmd);
                Outcome::err(Errno::EINVAL)
            }
        }
    }

    /// `IPC_SET` (R33, R34, R27).
    fn msgctl_set(&mut self, c: &Caller, msqid: i64, set: MsgSet, fx: &mut Vec<Effect>) -> Outcome {
        let idx = match self.lookup(msqid) {
            Ok(idx) => idx,
            Err(e) => {
                hit!(MsgR28Id);
                return Outcome::err(e);
            }
        };
        let msgmnb = self.msgmnb;
        let q = self.queues.get_mut(&idx).expect("looked up");
        if !q.perm.owned_by(&c.cred) {
            hit!(MsgR33Owner);
            return Outcome::err(Errno::EPERM);
        }
        // `msg_qbytes` reaches `msgctl_down` as an `int` and is compared as
        // an `unsigned int` (B16).
        let qbytes = set.msg_qbytes.unwrap_or(q.qbytes) as i32;
        if qbytes as u32 as i64 > msgmnb && !c.cred.capable(CAP_SYS_RESOURCE) {
            hit!(MsgR33Qbytes);
            return Outcome::err(Errno::EPERM);
        }
        let uid = set.uid.unwrap_or(q.perm.uid) as u32;
        let gid = set.gid.unwrap_or(q.perm.gid) as u32;
        if uid == u32::MAX || gid == u32::MAX {
            hit!(MsgR33Ids);
            return Outcome::err(Errno::EINVAL);
        }
        hit!(MsgR34);
        let mode = set.mode.unwrap_or(q.perm.mode);
        q.perm.uid = uid as i64;
        q.perm.gid = gid as i64;
        q.perm.mode = (q.perm.mode & !0o777) | (mode & 0o777);
        q.qbytes = qbytes as i64;
        if !q.receivers.is_empty() {
            hit!(MsgR27Wake);
        }
        fx.extend(q.receivers.drain(..).map(|r| Effect::Wake(r.task)));
        self.ss_wakeup(idx, fx);
        Outcome::val(0)
    }
}

/// `find_msg` (§5.1): the position of the message a receive selects.
fn find_msg(messages: &VecDeque<Msg>, mode: Mode, msgtyp: i64) -> Option<usize> {
    let mut t = msgtyp;
    let mut found = None;
    let mut count = 0;
    for (pos, m) in messages.iter().enumerate() {
        if !mode.matches(m, t) {
            continue;
        }
        match mode {
            // The lowest type wins; among equal types the earliest (R20).
            Mode::LessEqual if m.mtype != 1 => {
                t = m.mtype - 1;
                found = Some(pos);
            }
            Mode::Number if count != msgtyp => {}
            _ => return Some(pos),
        }
        count += 1;
    }
    found
}

/// The copy-out: `min(msgsz, size)` bytes and the type.
fn deliver(m: &Msg, msgsz: i64) -> Outcome {
    let n = m.size().min(msgsz).max(0) as usize;
    Outcome::with(
        n as i64,
        Detail::Msg {
            mtype: m.mtype,
            text: m.text[..n].to_vec(),
        },
    )
}
