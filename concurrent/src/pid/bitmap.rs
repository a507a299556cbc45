//! The legacy bitmap pid allocator (Linux 2.6.x to 4.14), as the historical
//! variants `flat2007` and `openvz2006` use it: `alloc_pidmap` of
//! `pid-semantics.md` §2.2, the same walk as the model's `pid_bitmap.rs`.
//!
//! The walk starts after `last_pid`, runs up to `pid_max`, and wraps once,
//! always to `RESERVED_PIDS` (never to 1, unlike the IDR of mainline). An
//! explicit number (`Pidmap::claim`) never moves `last_pid`, and neither
//! does a free. A `Pidmap` has no lock of its own: it lives inside the state
//! of its variant, behind that variant's one lock.

use std::collections::BTreeSet;

use crate::errno::Errno;
use crate::pid::{MutantSlot, PID_MAX_LIMIT, PID_MAX_MIN, RESERVED_PIDS};

/// `PID_MAX_DEFAULT`: the system-wide `pid_max` at boot, which the
/// historical variants read.
pub const PID_MAX_DEFAULT: i64 = 0x8000;

/// One bitmap pid space: the numbers in use and the `last_pid` hint.
#[derive(Debug)]
pub(crate) struct Pidmap {
    /// The set bits.
    used: BTreeSet<i64>,
    /// `last_pid`: the walk of the next allocation starts right after it.
    pub(crate) last: i64,
    /// The deliberate bug the walk carries, if any.
    #[cfg_attr(not(feature = "mutants"), allow(dead_code))]
    pub(crate) mutant: MutantSlot,
}

impl Pidmap {
    /// An empty space whose first allocation is 1, carrying `mutant`.
    pub(crate) fn new(mutant: MutantSlot) -> Pidmap {
        Pidmap {
            used: BTreeSet::new(),
            last: 0,
            mutant,
        }
    }

    /// The global pidmap of a historical variant: the host's, where its
    /// init holds 1.
    pub(crate) fn global(mutant: MutantSlot) -> Pidmap {
        let mut global = Pidmap::new(mutant);
        global.claim(1);
        global.last = 1;
        global
    }

    /// `alloc_pidmap`: the first free number that `allowed` accepts, walking
    /// from `last + 1` (or from `RESERVED_PIDS` when that is not below
    /// `pid_max`) up to `pid_max`, then once from `RESERVED_PIDS` up to the
    /// start. On success the number is taken and becomes `last`; `None`
    /// when every allowed number is taken (the caller's EAGAIN).
    pub(crate) fn alloc(&mut self, pid_max: i64, allowed: impl Fn(i64) -> bool) -> Option<i64> {
        // pid B2: the wrap goes back to 1; pid B1: the walk runs to the end
        // of the map.
        let wrap_to = if mutant!(self, WrapIgnoresReserved) {
            1
        } else {
            RESERVED_PIDS
        };
        let end = if mutant!(self, PidBeyondMax) {
            PID_MAX_LIMIT
        } else {
            pid_max
        };
        let mut start = self.last + 1;
        if start >= pid_max {
            start = wrap_to;
        }
        let free = |nr: &i64| allowed(*nr) && !self.used.contains(nr);
        let nr = (start..end)
            .find(free)
            .or_else(|| (wrap_to..start.min(end)).find(free))?;
        self.used.insert(nr);
        self.last = nr;
        Some(nr)
    }

    /// The bitmap walk of the OpenVZ RFC with bug B5 (mutant
    /// `VpidOffset`): the walk looks at every free bit from the start,
    /// virtual ones included; one that `allowed` refuses (the VPID bit) is
    /// marked while the number `skip(nr)` is returned, unchecked.
    pub(crate) fn alloc_marking_skipped(
        &mut self,
        pid_max: i64,
        allowed: impl Fn(i64) -> bool,
        skip: impl Fn(i64) -> i64,
    ) -> Option<i64> {
        let mut start = self.last + 1;
        if start >= pid_max {
            start = RESERVED_PIDS;
        }
        // The start itself is moved past the virtual range, as in the RFC.
        if !allowed(start) {
            start = skip(start);
        }
        let free = |nr: &i64| !self.used.contains(nr);
        let marked = (start..pid_max)
            .find(free)
            .or_else(|| (RESERVED_PIDS..start.min(pid_max)).find(free))?;
        let nr = if allowed(marked) {
            marked
        } else {
            skip(marked)
        };
        self.used.insert(marked);
        self.last = nr;
        Some(nr)
    }

    /// Takes `nr` if it is free; `last` does not move.
    pub(crate) fn claim(&mut self, nr: i64) -> bool {
        self.used.insert(nr)
    }

    /// `free_pidmap`: clears `nr`; `last` does not move.
    pub(crate) fn free(&mut self, nr: i64) {
        self.used.remove(&nr);
    }
}

/// What the historical variants keep about the one namespace a script's
/// tasks live in, besides its numbers: the system-wide `pid_max`, whether
/// the namespace still takes pids, and whether it has its init.
#[derive(Debug)]
pub(crate) struct OneNs {
    /// The one, system-wide `kernel.pid_max`.
    pub(crate) pid_max: i64,
    /// Cleared for good when the namespace's init dies.
    pub(crate) adding: bool,
    /// Whether the namespace has its init (`child_reaper`).
    pub(crate) has_reaper: bool,
}

impl OneNs {
    pub(crate) fn new() -> OneNs {
        OneNs {
            pid_max: PID_MAX_DEFAULT,
            adding: true,
            has_reaper: false,
        }
    }

    /// Writes the system-wide `kernel.pid_max` (R10's range).
    pub(crate) fn set_pid_max(&mut self, v: i64) -> Result<(), Errno> {
        if !(PID_MAX_MIN..=PID_MAX_LIMIT).contains(&v) {
            return Err(Errno::EINVAL);
        }
        self.pid_max = v;
        Ok(())
    }

    /// The range check of a `kernel.ns_last_pid` write, `[0, pid_max]`.
    pub(crate) fn check_last_pid(&self, v: i64) -> Result<(), Errno> {
        if (0..=self.pid_max).contains(&v) {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
}
