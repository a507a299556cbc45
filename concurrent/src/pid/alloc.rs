//! `alloc_pid` and `free_pid` (Linux 6.18 `kernel/pid.c`, as
//! `pid-semantics.md` §1.3 and §1.4 tabulate it; rule numbers R1…R29 of
//! §1.12): reserve a number at every level, innermost first, then publish
//! every level at once; on failure, give back exactly what was reserved.

use crate::errno::Errno;
use crate::pid::ns::PidNamespace;
use crate::pid::numbers::Numbers;
use crate::pid::struct_pid::{StructPid, Upid};
use crate::pid::table::Shard;
use crate::sync::Arc;

/// Why `alloc_pid` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The errno the caller's `clone` returns.
    Errno(Errno),
    /// A `set_tid` entry names the level above the tree's first namespace
    /// (the host's, which the model leaves out): the model's `Err(None)`.
    HostLevel,
}

impl From<Errno> for AllocError {
    fn from(e: Errno) -> AllocError {
        AllocError::Errno(e)
    }
}

/// `alloc_pid(ns, set_tid)` (§1.3): a new pid whose innermost level is
/// `ns`, with one link (the caller's).
///
/// Under a historical variant, the variant allocates (`variant.rs`).
///
/// `set_tid[k]` asks for a number at the level `k` steps out from `ns`;
/// levels without an entry get the cyclic allocator. `privileged(level)` is
/// `checkpoint_restore_ns_capable` over that level's owner.
///
/// Each level is reserved under its own allocation lock, its checks run
/// before the next level's (R23), and a reserved number is taken but not
/// found by lookups. Publication then happens under the innermost level's
/// allocation lock, after its `PIDNS_ADDING` check (R13), with the lookup
/// locks of every level held at once: a lookup sees every level of the new
/// pid or none (Linux's `idr_replace` loop under `pidmap_lock`).
pub fn alloc_pid(
    ns: &Arc<PidNamespace>,
    set_tid: &[i64],
    privileged: impl Fn(&PidNamespace) -> bool,
) -> Result<Arc<StructPid>, AllocError> {
    if let Some(h) = &ns.historical {
        return h.alloc(ns, set_tid, privileged(ns));
    }
    if set_tid.len() > ns.level() + 1 {
        return Err(Errno::EINVAL.into()); // R17
    }
    let mut reserved = Numbers::Empty;
    if let Err(e) = reserve_levels(ns, set_tid, &privileged, &mut reserved) {
        rollback(ns, reserved.as_slice());
        return Err(e);
    }
    reserved.reverse();
    publish(ns, reserved).map_err(|(e, reserved)| {
        rollback(ns, reserved.as_slice());
        e
    })
}

/// The reservation phase: one number per level, innermost first, into
/// `reserved`; stops at the first failing check.
fn reserve_levels(
    ns: &Arc<PidNamespace>,
    set_tid: &[i64],
    privileged: &impl Fn(&PidNamespace) -> bool,
    reserved: &mut Numbers,
) -> Result<(), AllocError> {
    let mut tmp = Some(ns);
    let mut k = 0;
    while let Some(level_ns) = tmp {
        let nr = match set_tid.get(k) {
            Some(&tid) => reserve_tid(level_ns, tid, privileged)?,
            // R4, R8: the idr's ENOSPC is EAGAIN (pid B8a: the mutant
            // passes ENOSPC through).
            None => level_ns
                .reserve_cyclic()
                .ok_or(if mutant!(level_ns, EnospcNotEagain) {
                    Errno::ENOSPC
                } else {
                    Errno::EAGAIN
                })?,
        };
        reserved.push(Upid {
            nr,
            ns: level_ns.clone(),
        });
        tmp = level_ns.parent();
        k += 1;
    }
    if k < set_tid.len() {
        return Err(AllocError::HostLevel);
    }
    Ok(())
}

/// Reserves the number `tid` asked for by `set_tid` at `ns`'s level, after
/// the checks of §1.10 in Linux's order.
fn reserve_tid(
    ns: &PidNamespace,
    tid: i64,
    privileged: &impl Fn(&PidNamespace) -> bool,
) -> Result<i64, AllocError> {
    let (pid_max, has_reaper) = {
        let a = ns.alloc_lock();
        (a.pid_max, a.has_reaper)
    };
    if tid < 1 || tid >= pid_max {
        return Err(Errno::EINVAL.into()); // R18
    }
    if tid != 1 && !has_reaper {
        return Err(Errno::EINVAL.into()); // R19
    }
    if !privileged(ns) {
        return Err(Errno::EPERM.into()); // R21: after the range checks.
    }
    if mutant!(ns, SetTidCheckThenTake) {
        // The check and the take in two critical sections: a fork can take
        // the number in between, and then two pids hold it.
        if ns.alloc_lock().taken.first_free(tid, tid + 1).is_none() {
            return Err(Errno::EEXIST.into());
        }
        ns.alloc_lock().taken.insert(tid);
        return Ok(tid);
    }
    // R20: a number in use, published or only reserved, is EEXIST;
    // R22: the cursor does not move.
    if !ns.alloc_lock().taken.insert(tid) {
        return Err(Errno::EEXIST.into());
    }
    Ok(tid)
}

/// The publication phase: under `ns`'s allocation lock, checks
/// `PIDNS_ADDING` and fills every level's table while holding all their
/// lookup locks. The reserved numbers (outermost first) become the pid's;
/// on failure they come back with the errno, for the rollback.
fn publish(ns: &PidNamespace, numbers: Numbers) -> Result<Arc<StructPid>, (AllocError, Numbers)> {
    if mutant!(ns, AddingCheckEarly) && !ns.alloc_lock().adding {
        // pid H4: the check has its own critical section, so a `disable`
        // can come between it and the publication.
        return Err((Errno::ENOMEM.into(), numbers));
    }
    let a = ns.alloc_lock();
    if !a.adding && !mutant!(ns, AddingCheckEarly) {
        return Err((Errno::ENOMEM.into(), numbers)); // R13: init has died.
    }
    let pid = Arc::new(StructPid::new(numbers));
    if mutant!(ns, PublishPerLevel) {
        // pid B17: one level at a time, innermost first, each under its own
        // lookup lock only.
        for u in pid.numbers().iter().rev() {
            u.ns.table.write(u.nr).insert(u.nr, pid.clone());
        }
        drop(a);
        return Ok(pid);
    }
    with_lookup_locks(pid.numbers(), &mut |table, nr| {
        table.insert(nr, pid.clone());
    });
    drop(a);
    Ok(pid)
}

/// Calls `f` on every level of `numbers` (outermost first) with the lookup
/// lock of its number, taken for writing innermost first, the crate's lock
/// order; no lock is released before `f` has run on every level, so a
/// lookup sees the effect on every level or on none. The guards live on
/// the stack, one frame a level.
fn with_lookup_locks(numbers: &[Upid], f: &mut impl FnMut(&mut Shard, i64)) {
    if let Some((u, outer)) = numbers.split_last() {
        let mut table = u.ns.table.write(u.nr);
        f(&mut table, u.nr);
        with_lookup_locks(outer, f);
    }
}

/// `out_free`: gives back every reserved number to the namespace it was
/// reserved in, then resets the cursor if `ns` holds no number at all, so
/// that a failed first fork still leaves 1 for init (R15).
fn rollback(ns: &PidNamespace, reserved: &[Upid]) {
    for u in reserved {
        // pid B8b: the mutant gives every number back to `ns`.
        let owner = if mutant!(ns, RollbackInnermost) {
            ns
        } else {
            &u.ns
        };
        owner.alloc_lock().taken.remove(u.nr);
    }
    let mut a = ns.alloc_lock();
    if a.adding && a.taken.is_empty() {
        a.cursor = 0;
    }
}

/// `free_pid`: the numbers leave every level's table at once (with every
/// lookup lock held), then become free for allocation, level by level.
/// Under a historical variant, the variant frees.
pub(crate) fn free_pid(pid: &StructPid) {
    if let Some(h) = &pid.ns().historical {
        return h.free(pid);
    }
    with_lookup_locks(pid.numbers(), &mut |table, nr| {
        table.remove(&nr);
    });
    for u in pid.numbers() {
        u.ns.alloc_lock().taken.remove(u.nr);
    }
}
