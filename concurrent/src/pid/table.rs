//! The published numbers of one mainline namespace level (what Linux's
//! `idr_find` sees), sharded by number: each shard is a read-write lock
//! over a hash map on a cache line of its own, so lookups of different
//! numbers, and a lookup beside the publication of another number, do not
//! write to the same lock word. The map is only ever read by number, so
//! nothing depends on its order.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::pid::padded::Padded;
use crate::pid::struct_pid::StructPid;
use crate::sync::{Arc, RwLock, RwLockWriteGuard, read, write};

/// The number of shards of a table.
const SHARDS: usize = 16;

/// The map of one shard: number to pid. `rustc-hash`'s hasher is one
/// multiplication whose result is rotated so that its high bits index the
/// buckets: the numbers of one shard share their low bits.
pub(crate) type Shard = HashMap<i64, Arc<StructPid>, FxBuildHasher>;

/// The published numbers of a namespace level.
#[derive(Debug)]
pub(crate) struct PidTable {
    shards: [Padded<RwLock<Shard>>; SHARDS],
}

impl PidTable {
    /// An empty table.
    pub(crate) fn new() -> PidTable {
        PidTable {
            shards: std::array::from_fn(|_| Padded(RwLock::new(Shard::default()))),
        }
    }

    /// The lock of the shard that holds `nr`.
    fn shard(&self, nr: i64) -> &RwLock<Shard> {
        &self.shards[nr.rem_euclid(SHARDS as i64) as usize].0
    }

    /// Takes the lock of `nr`'s shard for writing, to publish or unpublish
    /// `nr`.
    pub(crate) fn write(&self, nr: i64) -> RwLockWriteGuard<'_, Shard> {
        write(self.shard(nr))
    }

    /// Calls `f` on the pid published as `nr`, under its shard's lock
    /// taken for reading.
    pub(crate) fn with<R>(&self, nr: i64, f: impl FnOnce(&Arc<StructPid>) -> R) -> Option<R> {
        read(self.shard(nr)).get(&nr).map(f)
    }

    /// Every published pid, in no particular order.
    #[cfg(all(test, nscheck_loom))]
    pub(crate) fn pids(&self) -> Vec<Arc<StructPid>> {
        let all = self.shards.iter();
        all.flat_map(|s| read(&s.0).values().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Every published number, in increasing order.
    #[cfg(all(test, nscheck_loom))]
    pub(crate) fn numbers(&self) -> Vec<i64> {
        let mut all: Vec<i64> = self
            .shards
            .iter()
            .flat_map(|s| read(&s.0).keys().copied().collect::<Vec<_>>())
            .collect();
        all.sort_unstable();
        all
    }
}
