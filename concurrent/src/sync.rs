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
//! reports, so the data is used as it is.

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
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for reading.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Takes `l` for writing.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv`, releasing `guard` meanwhile.
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(|e| e.into_inner())
}
