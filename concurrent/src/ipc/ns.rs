//! An IPC namespace: the msg sysctls and the id registry.

use std::collections::HashMap;

use super::queue::Queue;
use super::variant::Variant;
use super::{INT_MAX, IPCMNI, IPCMNI_SHIFT, MSGMAX, MSGMNB, MSGMNI, QueueStat};
use crate::errno::Errno;
use crate::sync::{Arc, AtomicI64, Ordering, RwLock, RwLockReadGuard, read, write};
use crate::task::{CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, Cred, PidNsId};

/// The largest sequence number plus one (`ipcid_seq_max() + 1`).
const SEQ_LIMIT: i64 = 65535;

/// The msg sysctls of an IPC namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgSysctl {
    /// `kernel.msgmax`.
    Msgmax,
    /// `kernel.msgmnb`.
    Msgmnb,
    /// `kernel.msgmni`.
    Msgmni,
    /// `kernel.msg_next_id`.
    MsgNextId,
}

/// How many copies of the lookup table a namespace keeps (see [`Shard`]).
/// Under loom and shuttle two, so that the checkers still see a lookup and a
/// publication on different shards without a larger state space.
#[cfg(not(any(nscheck_loom, nscheck_shuttle)))]
const SHARDS: usize = 4;
#[cfg(any(nscheck_loom, nscheck_shuttle))]
const SHARDS: usize = 2;

/// One copy of the index → queue table that `msgsnd`, `msgrcv` and
/// `IPC_SET` find their queue in.
///
/// Why copies: a read lock is still a write to the lock word, so with one
/// table two threads sending on two different queues bounce that word's
/// cache line between their cores on every call (it was 60% of `msgsnd`'s
/// time in the `threads_2x2q` benchmark). A caller reads the shard of its
/// pid, so tasks on different threads use different lock words. The
/// alignment keeps every shard on its own cache lines (x86 prefetches lines
/// in 128-byte pairs).
///
/// Every shard always equals [`Ids::slots`] as seen by a reader: a
/// publication (queue created or removed) happens under the registry's
/// write lock and holds the write locks of all the shards at once, so no
/// reader can see one shard updated and another not.
#[derive(Debug)]
#[repr(align(128))]
struct Shard(RwLock<Vec<Option<Arc<Queue>>>>);

/// The id registry (`struct ipc_ids`): queues by index, keys, and the state
/// of the cyclic id allocator. Lookups take it for reading only.
#[derive(Debug)]
pub(crate) struct Ids {
    /// Queues by index.
    slots: Vec<Option<Arc<Queue>>>,
    /// Non-private keys and the index of their queue.
    keys: HashMap<i64, usize>,
    in_use: usize,
    seq: i64,
    last_idx: i64,
    max_idx: i64,
    /// The cyclic cursor of the idr.
    cursor: i64,
}

impl Ids {
    fn slot(&self, idx: i64) -> Option<&Arc<Queue>> {
        self.slots.get(usize::try_from(idx).ok()?)?.as_ref()
    }

    fn is_free(&self, idx: i64) -> bool {
        self.slot(idx).is_none()
    }

    /// The queue at the index of `msqid`, whatever its sequence number.
    pub(crate) fn by_index(&self, msqid: i64) -> Option<&Arc<Queue>> {
        self.slot(msqid & (IPCMNI - 1))
    }

    /// The queue with this id, checking the sequence number.
    pub(crate) fn lookup(&self, msqid: i64) -> Result<&Arc<Queue>, Errno> {
        match self.by_index(msqid) {
            Some(q) if q.seq == msqid >> IPCMNI_SHIFT => Ok(q),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The queue registered under `key`.
    pub(crate) fn by_key(&self, key: i64) -> Option<&Arc<Queue>> {
        self.keys.get(&key).and_then(|&i| self.slots[i].as_ref())
    }

    /// `ipc_idr_alloc` after the limit check of `ipc_addid`: an `(idx, seq)`.
    pub(crate) fn alloc(&mut self, ns: &IpcNamespace) -> Result<(i64, i64), Errno> {
        let limit = ns.msgmni.load(Ordering::Relaxed).min(IPCMNI);
        if self.in_use as i64 >= limit && !mutant!(ns, MsgmniRace) {
            return Err(Errno::ENOSPC);
        }
        let next_id = ns.next_id.swap(-1, Ordering::Relaxed);
        if next_id >= 0 {
            let idx = (next_id & (IPCMNI - 1)..)
                .find(|&i| self.is_free(i))
                .expect("some index is free");
            return Ok((idx, next_id >> IPCMNI_SHIFT));
        }
        let end = (self.in_use as i64 * 3 / 2).clamp(64, IPCMNI);
        let start = self.cursor.max(0);
        let idx = (start..end)
            .find(|&i| self.is_free(i))
            .or_else(|| (0..end.min(start)).find(|&i| self.is_free(i)))
            .ok_or(Errno::ENOSPC)?;
        self.cursor = idx + 1;
        if idx <= self.last_idx {
            self.seq += 1;
            if self.seq >= SEQ_LIMIT {
                self.seq = 0;
            }
        }
        self.last_idx = idx;
        Ok((idx, self.seq))
    }

    /// Registers `q` at its index.
    pub(crate) fn insert(&mut self, q: Arc<Queue>) {
        let idx = q.idx as usize;
        if self.slots.len() <= idx {
            self.slots.resize_with(idx + 1, || None);
        }
        if q.key != 0 {
            self.keys.insert(q.key, idx);
        }
        self.max_idx = self.max_idx.max(q.idx);
        self.in_use += 1;
        self.slots[idx] = Some(q);
    }

    /// `ipc_rmid`: forgets the queue at `idx`.
    pub(crate) fn remove(&mut self, idx: i64) {
        let q = self.slots[idx as usize].take().expect("queue exists");
        if q.key != 0 {
            self.keys.remove(&q.key);
        }
        self.in_use -= 1;
        if idx == self.max_idx {
            self.max_idx = self
                .slots
                .iter()
                .rposition(Option::is_some)
                .map_or(-1, |i| i as i64);
        }
    }

    /// `msgctl_info`'s return value.
    pub(crate) fn info_ret(&self) -> i64 {
        match self.in_use as i64 {
            0 => 0,
            IPCMNI => IPCMNI - 1,
            _ => self.max_idx.max(0),
        }
    }

    /// The number of queues.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// Every live queue.
    pub(crate) fn queues(&self) -> impl Iterator<Item = &Arc<Queue>> {
        self.slots.iter().flatten()
    }
}

/// One IPC namespace.
#[derive(Debug)]
pub struct IpcNamespace {
    pub(crate) msgmax: AtomicI64,
    pub(crate) msgmnb: AtomicI64,
    pub(crate) msgmni: AtomicI64,
    /// `kernel.msg_next_id`; -1 when unset. Consumed under the registry's
    /// write lock.
    pub(crate) next_id: AtomicI64,
    pub(crate) ids: RwLock<Ids>,
    /// Copies of `ids.slots` for the lookups of the hot calls.
    lookup: [Shard; SHARDS],
    /// The `MSG_COPY` design of this namespace and its queues.
    pub(crate) variant: Variant,
    /// The deliberate bug of this namespace's queues, if any.
    #[cfg(feature = "mutants")]
    pub(crate) mutant: Option<crate::mutants::Mutant>,
}

impl Default for IpcNamespace {
    fn default() -> Self {
        IpcNamespace::new()
    }
}

impl IpcNamespace {
    /// A namespace as `unshare(CLONE_NEWIPC)` creates it.
    pub fn new() -> IpcNamespace {
        IpcNamespace::with_variant(Variant::Mainline)
    }

    /// A new namespace whose `MSG_COPY` follows `variant`.
    pub fn with_variant(variant: Variant) -> IpcNamespace {
        IpcNamespace {
            msgmax: AtomicI64::new(MSGMAX),
            msgmnb: AtomicI64::new(MSGMNB),
            msgmni: AtomicI64::new(MSGMNI),
            next_id: AtomicI64::new(-1),
            ids: RwLock::new(Ids {
                slots: Vec::new(),
                keys: HashMap::new(),
                in_use: 0,
                seq: 0,
                last_idx: -1,
                max_idx: -1,
                cursor: 0,
            }),
            lookup: std::array::from_fn(|_| Shard(RwLock::new(Vec::new()))),
            variant,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// A new namespace whose queues carry the deliberate bug `m`.
    #[cfg(feature = "mutants")]
    pub fn with_mutant(m: crate::mutants::Mutant) -> IpcNamespace {
        IpcNamespace::with_variant_and_mutant(Variant::Mainline, m)
    }

    /// A new namespace of `variant` whose queues carry the deliberate bug
    /// `m`.
    #[cfg(feature = "mutants")]
    pub fn with_variant_and_mutant(variant: Variant, m: crate::mutants::Mutant) -> IpcNamespace {
        IpcNamespace {
            mutant: Some(m),
            ..IpcNamespace::with_variant(variant)
        }
    }

    /// What `/proc/sysvipc/msg` lists to a reader in PID namespace
    /// `viewer`: every queue's id and description, in index order, each as
    /// `MSG_STAT_ANY` of its index reads it (under its queue's lock), all
    /// under one read lock of the registry.
    pub fn for_each_queue(&self, viewer: PidNsId, mut f: impl FnMut(i64, QueueStat)) {
        let ids = self.ids();
        for q in ids.queues() {
            let locked = q.lock();
            if !locked.st.deleted {
                f(q.id(), locked.stat(viewer));
            }
        }
    }

    pub(crate) fn ids(&self) -> RwLockReadGuard<'_, Ids> {
        read(&self.ids)
    }

    /// The queue with id `msqid`, checking the sequence number, exactly as
    /// [`Ids::lookup`] finds it, but from the shard of the caller `pid`
    /// instead of the shared registry lock.
    pub(crate) fn find(&self, pid: i64, msqid: i64) -> Result<Arc<Queue>, Errno> {
        let shard = &self.lookup[pid.rem_euclid(SHARDS as i64) as usize];
        let slots = read(&shard.0);
        let q = usize::try_from(msqid & (IPCMNI - 1))
            .ok()
            .and_then(|i| slots.get(i))
            .and_then(Option::as_ref);
        match q {
            Some(q) if q.seq == msqid >> IPCMNI_SHIFT => Ok(q.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Makes `q` (or nothing) the queue at `idx` in every shard. The caller
    /// holds the registry's write lock (`_ids`) and makes the same change
    /// there. All the shard locks are held together, taken in order, and
    /// nothing is locked under them.
    pub(crate) fn publish(&self, _ids: &mut Ids, idx: i64, q: Option<&Arc<Queue>>) {
        let idx = idx as usize;
        let mut shards = self.lookup.each_ref().map(|s| write(&s.0));
        for slots in &mut shards {
            if slots.len() <= idx {
                slots.resize_with(idx + 1, || None);
            }
            slots[idx] = q.cloned();
        }
    }

    pub(crate) fn msgmax(&self) -> i64 {
        self.msgmax.load(Ordering::Relaxed)
    }

    pub(crate) fn msgmnb(&self) -> i64 {
        self.msgmnb.load(Ordering::Relaxed)
    }

    fn slot(&self, name: MsgSysctl) -> &AtomicI64 {
        match name {
            MsgSysctl::Msgmax => &self.msgmax,
            MsgSysctl::Msgmnb => &self.msgmnb,
            MsgSysctl::Msgmni => &self.msgmni,
            MsgSysctl::MsgNextId => &self.next_id,
        }
    }

    /// Reads a sysctl.
    pub fn sysctl(&self, name: MsgSysctl) -> i64 {
        self.slot(name).load(Ordering::Relaxed)
    }

    /// Writes a sysctl as `cred`: the file permissions, then the handler's
    /// range check. `msg_next_id` is 0444 unless the writer has
    /// checkpoint/restore rights, which make it 0666 (`ipc_permissions`), so
    /// without them even root's open fails; the other msg sysctls are 0644,
    /// owned by the namespace's root.
    pub fn write_sysctl(&self, cred: &Cred, name: MsgSysctl, v: i64) -> Result<(), Errno> {
        let cr_capable = cred.capable(CAP_SYS_ADMIN) || cred.capable(CAP_CHECKPOINT_RESTORE);
        let may_open = match name {
            MsgSysctl::MsgNextId => cr_capable,
            _ => cred.euid == 0,
        };
        if !may_open {
            return Err(Errno::EACCES);
        }
        let max = if name == MsgSysctl::Msgmni {
            IPCMNI
        } else {
            INT_MAX
        };
        if !(0..=max).contains(&v) {
            return Err(Errno::EINVAL);
        }
        if name == MsgSysctl::MsgNextId {
            // The allocator consumes `next_id` under the write lock; taking
            // it here orders the write with allocations.
            let _ids = write(&self.ids);
            self.next_id.store(v, Ordering::Relaxed);
        } else {
            self.slot(name).store(v, Ordering::Relaxed);
        }
        Ok(())
    }
}
