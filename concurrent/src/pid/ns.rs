//! `struct pid_namespace`: one level of the tree, with its allocation state
//! (behind the allocation lock) and its table of published numbers (behind
//! the lookup locks, one a shard of the table), plus the two sysctls and
//! the cyclic cursor. A
//! namespace of a historical [`Variant`] hands every call to that variant's
//! state instead (`variant.rs`).

use crate::errno::Errno;
use crate::pid::nr_set::NrSet;
use crate::pid::padded::Padded;
use crate::pid::struct_pid::StructPid;
use crate::pid::table::PidTable;
use crate::pid::variant::{Historical, Variant};
use crate::pid::{
    MAX_PID_NS_LEVEL, MutantSlot, NO_MUTANT, PID_MAX_LIMIT, PID_MAX_MIN, RESERVED_PIDS, ROOT_LEVEL,
};
use crate::sync::{Arc, AtomicI64, Mutex, MutexGuard, Ordering, lock};
use crate::task::PidNsId;

/// What the allocation lock of one namespace guards (Linux keeps it under
/// the global `pidmap_lock`; here each level has its own).
#[derive(Debug)]
pub(crate) struct AllocState {
    /// Every number of this level that is reserved or published: the idr's
    /// keys, whatever they point to.
    pub(crate) taken: NrSet,
    /// `idr_next`; `ns_last_pid` reads `cursor - 1`.
    pub(crate) cursor: i64,
    /// `kernel.pid_max` of this namespace.
    pub(crate) pid_max: i64,
    /// `PIDNS_ADDING`: cleared for good when init dies.
    pub(crate) adding: bool,
    /// Whether the namespace has its init (`child_reaper != NULL`).
    pub(crate) has_reaper: bool,
}

/// A PID namespace: a level of the tree of namespaces.
///
/// Two locks, never held by lookups and allocations the other way round:
/// the allocation lock (`alloc`, a mutex) serializes the reservations,
/// sysctl writes and `PIDNS_ADDING` of this level; the lookup locks (the
/// shards of `table`, read-write locks) guard the published numbers, which
/// lookups read. See the module documentation of `pid` for the lock order.
#[derive(Debug)]
pub struct PidNamespace {
    id: PidNsId,
    level: usize,
    parent: Option<Arc<PidNamespace>>,
    /// The source of ids, shared by every namespace of one tree.
    ids: Arc<AtomicI64>,
    /// The allocation lock, on cache lines of its own: forks write it,
    /// while every translation reads the namespace's id and level.
    alloc: Padded<Mutex<AllocState>>,
    /// The published numbers: `idr_find` sees exactly these.
    pub(crate) table: PidTable,
    /// The state of a historical variant, which then takes every call;
    /// `None` under mainline.
    pub(crate) historical: Option<Historical>,
    /// The deliberate bug every namespace of the tree carries, if any.
    pub(crate) mutant: MutantSlot,
}

impl PidNamespace {
    /// The first namespace of a mainline tree (at [`ROOT_LEVEL`]), with
    /// id 0.
    pub fn new_root() -> Arc<PidNamespace> {
        PidNamespace::new_root_variant(Variant::Mainline)
    }

    /// The first namespace of a tree that follows `variant`: under a
    /// historical variant, the container (or VPS) whose init the script's
    /// `t0` is, and the only namespace of the tree.
    pub fn new_root_variant(variant: Variant) -> Arc<PidNamespace> {
        PidNamespace::root_carrying(variant, NO_MUTANT)
    }

    /// The first namespace of a tree that follows `variant`, whose
    /// namespaces (this one and every one created below it) carry the
    /// deliberate bug `m`.
    #[cfg(feature = "mutants")]
    pub fn new_root_with_mutant(variant: Variant, m: crate::mutants::Mutant) -> Arc<PidNamespace> {
        PidNamespace::root_carrying(variant, Some(m))
    }

    fn root_carrying(variant: Variant, mutant: MutantSlot) -> Arc<PidNamespace> {
        let mut root = PidNamespace::at(0, ROOT_LEVEL, None, Arc::new(AtomicI64::new(1)), mutant);
        root.historical = Historical::new(variant, mutant);
        Arc::new(root)
    }

    fn at(
        id: PidNsId,
        level: usize,
        parent: Option<Arc<PidNamespace>>,
        ids: Arc<AtomicI64>,
        mutant: MutantSlot,
    ) -> PidNamespace {
        PidNamespace {
            id,
            level,
            parent,
            ids,
            historical: None,
            mutant,
            alloc: Padded(Mutex::new(AllocState {
                taken: NrSet::default(),
                cursor: 0,
                pid_max: PID_MAX_LIMIT, // R9
                adding: true,
                has_reaper: false,
            })),
            table: PidTable::new(),
        }
    }

    /// `create_pid_namespace`: a child of `parent`, with the next id of the
    /// tree and its mutant; ENOSPC past level 32 (R29). A historical
    /// variant has one level of container: EINVAL.
    pub fn create_child(parent: &Arc<PidNamespace>) -> Result<Arc<PidNamespace>, Errno> {
        if parent.historical.is_some() {
            return Err(Errno::EINVAL);
        }
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
            parent.mutant,
        )))
    }

    /// The pid design of the namespace's tree.
    pub fn variant(&self) -> Variant {
        match self.historical {
            None => Variant::Mainline,
            Some(Historical::Flat(_)) => Variant::Flat2007,
            Some(Historical::Openvz(_)) => Variant::Openvz2006,
        }
    }

    /// The number the host gives `pid` under a historical variant (the
    /// global number, which no call of a script sees), while it is
    /// allocated; `None` under mainline, whose host level is left out.
    pub fn global_nr(&self, pid: &StructPid) -> Option<i64> {
        self.historical.as_ref()?.global_nr(pid)
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
        lock(&self.alloc.0)
    }

    /// `find_pid_ns(nr, ns)`: the published pid that holds `nr` here. Takes
    /// only the lookup lock of `nr`'s shard, for reading: a reserved number
    /// is not found. Under a historical variant, the number is one the
    /// container passes (`openvz2006` also takes a global pid of the VPS).
    pub fn find_pid(&self, nr: i64) -> Option<Arc<StructPid>> {
        self.with_pid(nr, Arc::clone)
    }

    /// [`PidNamespace::find_pid`] without taking a reference: calls `f` on
    /// the pid found, while the lookup lock is held for reading (as Linux
    /// translates inside `rcu_read_lock`). Readers of different numbers
    /// then write to no common cache line.
    pub fn with_pid<R>(&self, nr: i64, f: impl FnOnce(&Arc<StructPid>) -> R) -> Option<R> {
        if let Some(h) = &self.historical {
            return h.find(nr).map(|pid| f(&pid));
        }
        self.table.with(nr, f)
    }

    /// The init of this namespace exists from now on (`ns->child_reaper`
    /// is set when the task numbered 1 is created); `set_tid` may then name
    /// numbers other than 1 here (R19).
    pub fn set_child_reaper(&self) {
        if let Some(h) = &self.historical {
            return h.set_child_reaper();
        }
        self.alloc_lock().has_reaper = true;
    }

    /// `disable_pid_allocation`: init has died; later allocations with this
    /// namespace as their innermost level fail with ENOMEM (R13). A pid
    /// published before this returns stays; none is published after.
    pub fn disable(&self) {
        if let Some(h) = &self.historical {
            return h.disable();
        }
        self.alloc_lock().adding = false;
    }

    /// Whether the namespace still takes pids (`PIDNS_ADDING`): false
    /// once [`PidNamespace::disable`] has run. `fork` checks it again
    /// under `tasklist` after `alloc_pid` (hazard H4).
    pub fn takes_pids(&self) -> bool {
        if let Some(h) = &self.historical {
            return h.takes_pids();
        }
        self.alloc_lock().adding
    }

    /// `kernel.ns_last_pid` as a task of this namespace reads it (under a
    /// historical variant, the pidmap's `last_pid`: the container's in
    /// `flat2007`, the system's global one in `openvz2006`).
    pub fn last_pid(&self) -> i64 {
        if let Some(h) = &self.historical {
            return h.last_pid();
        }
        self.alloc_lock().cursor - 1
    }

    /// Writes `kernel.ns_last_pid` after its range check, `[0, pid_max]`
    /// (R3, R6). The capability check (EPERM) is the caller's. The write
    /// takes the allocation lock, so it is ordered against each level's
    /// reservation of a concurrent fork: that level uses either the old or
    /// the new cursor, never a torn one.
    pub fn set_last_pid(&self, v: i64) -> Result<(), Errno> {
        if let Some(h) = &self.historical {
            return h.set_last_pid(v);
        }
        let mut a = self.alloc_lock();
        if !(0..=a.pid_max).contains(&v) {
            return Err(Errno::EINVAL);
        }
        a.cursor = v + 1;
        Ok(())
    }

    /// `kernel.pid_max` as a task of this namespace reads it (under a
    /// historical variant, the one system-wide value, 32768 at first).
    pub fn pid_max(&self) -> i64 {
        if let Some(h) = &self.historical {
            return h.pid_max();
        }
        self.alloc_lock().pid_max
    }

    /// Writes `kernel.pid_max` after its range check (R10). The permission
    /// check is the caller's. Numbers already above the new limit stay.
    pub fn set_pid_max(&self, v: i64) -> Result<(), Errno> {
        if let Some(h) = &self.historical {
            return h.set_pid_max(v);
        }
        if !(PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
            return Err(Errno::EINVAL);
        }
        self.alloc_lock().pid_max = v;
        Ok(())
    }

    /// `idr_alloc_cyclic(pid_min, pid_max)` (§1.2, R2–R7) under the
    /// allocation lock: the first free number at or after the cursor, then
    /// from `pid_min` once, reserved; the cursor moves only on success.
    /// `None` is the idr's ENOSPC.
    pub(crate) fn reserve_cyclic(&self) -> Option<i64> {
        if mutant!(self, LastPidRace) {
            // pid B4: the hint is a plain store in a critical section of
            // its own, so an older value can overwrite a newer one.
            let nr = self.scan(&mut self.alloc_lock())?;
            self.alloc_lock().cursor = nr + 1;
            return Some(nr);
        }
        let mut a = self.alloc_lock();
        let nr = self.scan(&mut a)?;
        a.cursor = nr + 1;
        Some(nr)
    }

    /// The search of [`PidNamespace::reserve_cyclic`]: reserves the number
    /// it finds, and leaves the cursor alone.
    fn scan(&self, a: &mut AllocState) -> Option<i64> {
        // R3, R4, R5: the floor is 300 only once the cursor has passed it
        // (pid B2: the mutant always wraps to 1).
        let start = if a.cursor > RESERVED_PIDS && !mutant!(self, WrapIgnoresReserved) {
            RESERVED_PIDS
        } else {
            1
        };
        // pid B1: the mutant searches to the end of the map.
        let end = if mutant!(self, PidBeyondMax) {
            PID_MAX_LIMIT
        } else {
            a.pid_max
        };
        let from = a.cursor.max(start);
        let nr = a
            .taken
            .first_free(from, end)
            .or_else(|| a.taken.first_free(start, from.min(end)))?;
        a.taken.insert(nr);
        Some(nr)
    }
}
