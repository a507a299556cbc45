//! `struct pid_namespace`: one level of the tree, with its allocation state
//! (behind the allocation lock) and its table of published numbers (behind
//! the lookup lock), plus the two sysctls and the cyclic cursor.

use std::collections::{BTreeMap, BTreeSet};

use crate::errno::Errno;
use crate::pid::struct_pid::StructPid;
use crate::pid::{MAX_PID_NS_LEVEL, PID_MAX_LIMIT, PID_MAX_MIN, RESERVED_PIDS, ROOT_LEVEL};
use crate::sync::{Arc, AtomicI64, Mutex, MutexGuard, Ordering, RwLock, lock, read};
use crate::task::PidNsId;

/// What the allocation lock of one namespace guards (Linux keeps it under
/// the global `pidmap_lock`; here each level has its own).
#[derive(Debug)]
pub(crate) struct AllocState {
    /// Every number of this level that is reserved or published: the idr's
    /// keys, whatever they point to.
    pub(crate) taken: BTreeSet<i64>,
    /// `idr_next`; `ns_last_pid` reads `cursor - 1`.
    pub(crate) cursor: i64,
    /// `kernel.pid_max` of this namespace.
    pub(crate) pid_max: i64,
    /// `PIDNS_ADDING`: cleared for good when init dies.
    pub(crate) adding: bool,
    /// Whether the namespace has its init (`child_reaper != NULL`).
    pub(crate) has_reaper: bool,
}

impl AllocState {
    /// `idr_alloc_cyclic(pid_min, pid_max)` (§1.2, R2–R7): the first free
    /// number at or after the cursor, then from `pid_min` once, reserved;
    /// the cursor moves only on success. `None` is the idr's ENOSPC.
    pub(crate) fn cyclic(&mut self) -> Option<i64> {
        // R3, R4, R5: the floor is 300 only once the cursor has passed it.
        let start = if self.cursor > RESERVED_PIDS {
            RESERVED_PIDS
        } else {
            1
        };
        let end = self.pid_max;
        let from = self.cursor.max(start);
        let nr = self
            .first_free(from, end)
            .or_else(|| self.first_free(start, from.min(end)))?;
        self.taken.insert(nr);
        self.cursor = nr + 1;
        Some(nr)
    }

    /// The smallest number of `[from, end)` that is not taken.
    fn first_free(&self, from: i64, end: i64) -> Option<i64> {
        let mut candidate = from;
        for &t in self.taken.range(from..end.max(from)) {
            if t != candidate {
                break;
            }
            candidate += 1;
        }
        (candidate < end).then_some(candidate)
    }
}

/// A PID namespace: a level of the tree of namespaces.
///
/// Two locks, never held by lookups and allocations the other way round:
/// the allocation lock (`alloc`, a mutex) serializes the reservations,
/// sysctl writes and `PIDNS_ADDING` of this level; the lookup lock (`table`,
/// a read-write lock) guards the published numbers, which lookups read. See
/// the module documentation of `pid` for the lock order.
#[derive(Debug)]
pub struct PidNamespace {
    id: PidNsId,
    level: usize,
    parent: Option<Arc<PidNamespace>>,
    /// The source of ids, shared by every namespace of one tree.
    ids: Arc<AtomicI64>,
    pub(crate) alloc: Mutex<AllocState>,
    /// The published numbers: `idr_find` sees exactly these.
    pub(crate) table: RwLock<BTreeMap<i64, Arc<StructPid>>>,
}

impl PidNamespace {
    /// The first namespace of a tree (at [`ROOT_LEVEL`]), with id 0.
    pub fn new_root() -> Arc<PidNamespace> {
        Arc::new(PidNamespace::at(
            0,
            ROOT_LEVEL,
            None,
            Arc::new(AtomicI64::new(1)),
        ))
    }

    fn at(
        id: PidNsId,
        level: usize,
        parent: Option<Arc<PidNamespace>>,
        ids: Arc<AtomicI64>,
    ) -> PidNamespace {
        PidNamespace {
            id,
            level,
            parent,
            ids,
            alloc: Mutex::new(AllocState {
                taken: BTreeSet::new(),
                cursor: 0,
                pid_max: PID_MAX_LIMIT, // R9
                adding: true,
                has_reaper: false,
            }),
            table: RwLock::new(BTreeMap::new()),
        }
    }

    /// `create_pid_namespace`: a child of `parent`, with the next id of the
    /// tree; ENOSPC past level 32 (R29).
    pub fn create_child(parent: &Arc<PidNamespace>) -> Result<Arc<PidNamespace>, Errno> {
        let level = parent.level + 1;
        if level > MAX_PID_NS_LEVEL {
            return Err(Errno::ENOSPC);
        }
        let id = parent.ids.fetch_add(1, Ordering::Relaxed) as PidNsId;
        Ok(Arc::new(PidNamespace::at(
            id,
            level,
            Some(parent.clone()),
            parent.ids.clone(),
        )))
    }

    /// The namespace's id, unique in its tree (the root's is 0).
    pub fn id(&self) -> PidNsId {
        self.id
    }

    /// The nesting level; the tree's first namespace is at [`ROOT_LEVEL`].
    pub fn level(&self) -> usize {
        self.level
    }

    /// The namespace this one was created in.
    pub fn parent(&self) -> Option<&Arc<PidNamespace>> {
        self.parent.as_ref()
    }

    /// Takes the allocation lock.
    pub(crate) fn alloc_lock(&self) -> MutexGuard<'_, AllocState> {
        lock(&self.alloc)
    }

    /// `find_pid_ns(nr, ns)`: the published pid that holds `nr` here. Takes
    /// only the lookup lock, for reading: a reserved number is not found.
    pub fn find_pid(&self, nr: i64) -> Option<Arc<StructPid>> {
        read(&self.table).get(&nr).cloned()
    }

    /// The init of this namespace exists from now on (`ns->child_reaper`
    /// is set when the task numbered 1 is created); `set_tid` may then name
    /// numbers other than 1 here (R19).
    pub fn set_child_reaper(&self) {
        self.alloc_lock().has_reaper = true;
    }

    /// `disable_pid_allocation`: init has died; later allocations with this
    /// namespace as their innermost level fail with ENOMEM (R13). A pid
    /// published before this returns stays; none is published after.
    pub fn disable(&self) {
        self.alloc_lock().adding = false;
    }

    /// `kernel.ns_last_pid` as a task of this namespace reads it.
    pub fn last_pid(&self) -> i64 {
        self.alloc_lock().cursor - 1
    }

    /// Writes `kernel.ns_last_pid` after its range check, `[0, pid_max]`
    /// (R3, R6). The capability check (EPERM) is the caller's. The write
    /// takes the allocation lock, so it is ordered against each level's
    /// reservation of a concurrent fork: that level uses either the old or
    /// the new cursor, never a torn one.
    pub fn set_last_pid(&self, v: i64) -> Result<(), Errno> {
        let mut a = self.alloc_lock();
        if !(0..=a.pid_max).contains(&v) {
            return Err(Errno::EINVAL);
        }
        a.cursor = v + 1;
        Ok(())
    }

    /// `kernel.pid_max` as a task of this namespace reads it.
    pub fn pid_max(&self) -> i64 {
        self.alloc_lock().pid_max
    }

    /// Writes `kernel.pid_max` after its range check (R10). The permission
    /// check is the caller's. Numbers already above the new limit stay.
    pub fn set_pid_max(&self, v: i64) -> Result<(), Errno> {
        if !(PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
            return Err(Errno::EINVAL);
        }
        self.alloc_lock().pid_max = v;
        Ok(())
    }
}
