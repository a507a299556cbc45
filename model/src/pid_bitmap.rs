//! The legacy bitmap pid allocator (Linux 2.6.x to 4.14), as the historical
//! dialects `flat2007` and `openvz2006` use it.
//!
//! This is `alloc_pidmap` of `pid-semantics.md` §2.2, written as a map from
//! number to owner instead of pages of bits: the walk starts after
//! `last_pid`, runs up to `pid_max`, and wraps once, always to
//! `RESERVED_PIDS` (never to 1, unlike the IDR of mainline). An explicit
//! number ([`Pidmap::claim`]) never moves `last_pid`, and neither does a free.

use std::collections::BTreeMap;

use crate::abi::Errno;
use crate::pid::{PidId, RESERVED_PIDS, check_pid_max};
use crate::syscall::TaskId;

/// `PID_MAX_DEFAULT`: the system-wide `pid_max` at boot.
pub(crate) const PID_MAX_DEFAULT: i64 = 0x8000;

/// What the dialects of this era keep about the one namespace a script's
/// tasks live in, besides its numbers: the system-wide `pid_max`, whether
/// the namespace still takes pids, and its init.
#[derive(Clone, Debug)]
pub(crate) struct OneNs {
    /// The one, system-wide `kernel.pid_max`.
    pub pid_max: i64,
    /// Cleared for good when the namespace's init dies.
    pub adding: bool,
    /// The namespace's init, once it exists.
    pub child_reaper: Option<TaskId>,
}

impl OneNs {
    pub fn new() -> OneNs {
        OneNs {
            pid_max: PID_MAX_DEFAULT,
            adding: true,
            child_reaper: None,
        }
    }

    /// Writes the system-wide `kernel.pid_max` (R10's range).
    pub fn set_pid_max(&mut self, v: i64) -> Result<(), Errno> {
        check_pid_max(v)?;
        hit!(PidR10Write);
        self.pid_max = v;
        Ok(())
    }
}

/// One bitmap pid space: the numbers in use, with their owners, and the
/// `last_pid` hint.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pidmap {
    /// The set bits: number → the pid that holds it.
    used: BTreeMap<i64, PidId>,
    /// `last_pid`: the walk of the next allocation starts right after it.
    pub last: i64,
}

impl Pidmap {
    /// An empty space whose first allocation is 1.
    pub fn new() -> Pidmap {
        Pidmap::default()
    }

    /// `alloc_pidmap`: the first free number that `allowed` accepts, walking
    /// from `last + 1` (or from `RESERVED_PIDS` when that is not below
    /// `pid_max`) up to `pid_max`, then once from `RESERVED_PIDS` up to the
    /// start. On success the number belongs to `owner` and becomes `last`;
    /// `None` when every allowed number is taken (the caller's EAGAIN).
    pub fn alloc(
        &mut self,
        pid_max: i64,
        allowed: impl Fn(i64) -> bool,
        owner: PidId,
    ) -> Option<i64> {
        let mut start = self.last + 1;
        if start >= pid_max {
            start = RESERVED_PIDS;
        }
        let free = |nr: &i64| allowed(*nr) && !self.used.contains_key(nr);
        let nr = (start..pid_max).find(free).or_else(|| {
            hit!(BitmapWrap);
            (RESERVED_PIDS..start.min(pid_max)).find(free)
        })?;
        self.used.insert(nr, owner);
        self.last = nr;
        Some(nr)
    }

    /// Takes `nr` for `owner` if it is free; `last` does not move.
    pub fn claim(&mut self, nr: i64, owner: PidId) -> bool {
        if self.contains(nr) {
            return false;
        }
        self.used.insert(nr, owner);
        true
    }

    /// `free_pidmap`: clears `nr`; `last` does not move.
    pub fn free(&mut self, nr: i64) {
        self.used.remove(&nr);
    }

    /// The pid that holds `nr`.
    pub fn get(&self, nr: i64) -> Option<PidId> {
        self.used.get(&nr).copied()
    }

    /// Whether `nr` is in use.
    pub fn contains(&self, nr: i64) -> bool {
        self.used.contains_key(&nr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_starts_after_last_and_wraps_to_300_only() {
        let mut m = Pidmap::new();
        assert_eq!(m.alloc(400, |_| true, 0), Some(1));
        assert_eq!(m.alloc(400, |_| true, 0), Some(2));
        m.last = 397;
        assert_eq!(m.alloc(400, |_| true, 0), Some(398));
        assert_eq!(m.alloc(400, |_| true, 0), Some(399));
        // The wrap goes to 300 although 3..299 are free.
        assert_eq!(m.alloc(400, |_| true, 0), Some(300));
        assert_eq!(m.last, 300);
    }

    #[test]
    fn below_300_the_wrap_never_comes_back_to_low_numbers() {
        let mut m = Pidmap::new();
        for nr in 298..301 {
            assert!(m.claim(nr, 0));
        }
        m.last = 297;
        // IDR would wrap to 1 here (the cursor is below 300); the bitmap
        // wraps to 300, which is taken, and gives up.
        assert_eq!(m.alloc(301, |_| true, 0), None);
        assert_eq!(m.last, 297);
    }

    #[test]
    fn claim_and_free_leave_last_alone_and_numbers_are_owned() {
        let mut m = Pidmap::new();
        assert!(m.claim(500, 7));
        assert!(!m.claim(500, 8));
        assert_eq!(m.get(500), Some(7));
        assert_eq!(m.last, 0);
        m.free(500);
        assert!(!m.contains(500));
        assert_eq!(m.alloc(1000, |nr| nr % 2 == 0, 3), Some(2));
    }
}
