//! The synchronization facade: every lock, condition variable, atomic and
//! reference count of this crate comes from here.
//!
//! A normal build uses `std`. Building with `RUSTFLAGS="--cfg nscheck_loom"`
//! swaps in `loom`'s model-checked types, and `--cfg nscheck_shuttle` swaps
//! in `shuttle`'s randomized-scheduler types. The rest of the crate never
//! names `std::sync` directly, so a checker sees every synchronization
//! operation.
//!
//! The helpers [`lock`], [`read`], [`write`] and [`wait`] hide lock
//! poisoning: a panic while holding a lock is a bug that the panic itself
//! reports, so the data is used as it is. In a shuttle build they also
//! log where a thread found a lock held by another ([`contention`]), for
//! the lock-section table of `nscheck-loom-tests`.

#[cfg(nscheck_loom)]
pub use loom::sync::atomic::{AtomicI64, Ordering};
#[cfg(nscheck_loom)]
pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
pub use shuttle::sync::atomic::{AtomicI64, Ordering};
#[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
pub use shuttle::sync::{
    Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(not(any(nscheck_loom, nscheck_shuttle)))]
pub use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(not(any(nscheck_loom, nscheck_shuttle)))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`.
#[cfg_attr(nscheck_shuttle, track_caller)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
    if let Ok(g) = contention::taken(m.try_lock()) {
        return g;
    }
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for reading.
#[cfg_attr(nscheck_shuttle, track_caller)]
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    #[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
    if let Ok(g) = contention::taken(l.try_read()) {
        return g;
    }
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for writing.
#[cfg_attr(nscheck_shuttle, track_caller)]
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    #[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
    if let Ok(g) = contention::taken(l.try_write()) {
        return g;
    }
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv`, releasing `guard` meanwhile.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}

/// The contention log of a shuttle build (`--cfg nscheck_shuttle`; the
/// module does not exist otherwise, so a normal build pays nothing).
///
/// [`lock`], [`read`] and [`write`] first try to take the lock; when
/// another thread holds it, they log the call site (the caller's
/// `file:line`, through `#[track_caller]`) before blocking. The log is
/// per OS thread: shuttle runs every thread of an execution on the test's
/// own thread, so each test reads only its own executions' contention.
#[cfg(all(nscheck_shuttle, not(nscheck_loom)))]
pub mod contention {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::panic::Location;
    use std::sync::{TryLockError, TryLockResult};

    thread_local! {
        static LOG: RefCell<BTreeMap<(&'static str, u32), u64>> = const {
            RefCell::new(BTreeMap::new())
        };
    }

    /// The guard of a `try_lock` that succeeded (a poisoned lock's data is
    /// used as it is); `Err(())` after logging the caller when the lock
    /// was held (the caller then blocks for it).
    #[track_caller]
    pub(crate) fn taken<G>(r: TryLockResult<G>) -> Result<G, ()> {
        match r {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => {
                let at = Location::caller();
                LOG.with(|l| *l.borrow_mut().entry((at.file(), at.line())).or_default() += 1);
                Err(())
            }
        }
    }

    /// The sites (`file`, `line`) where a thread found a lock held by
    /// another since the last call, with how many times; clears the log.
    pub fn take() -> BTreeMap<(&'static str, u32), u64> {
        LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }
}
