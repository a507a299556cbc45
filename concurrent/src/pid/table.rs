//! The published numbers of one mainline namespace level (what Linux's
//! `idr_find` sees), sharded by number: each shard is a read-write lock
//! over a hash map on a cache line of its own, so lookups of different
//! numbers, and a lookup beside the publication of another number, do not
//! write to the same lock word. The map is only ever read by number, so
//! nothing depends on its order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::pid::padded::Padded;
use crate::pid::struct_pid::StructPid;
use crate::sync::{Arc, RwLock, RwLockWriteGuard, read, write};

/// The number of shards of a table.
const SHARDS: usize = 16;

/// The map of one shard: number to pid.
pub(crate) type Shard = HashMap<i64, Arc<StructPid>, BuildHasherDefault<NrHasher>>;

/// A hasher for pid numbers: one multiplication (FxHash's constant) whose
/// high half is folded into the low bits, since the numbers of one shard
/// share their low bits and the map indexes its buckets by the low bits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NrHasher(u64);

impl Hasher for NrHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

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
