//! The statistics of checked op sequences.

use crate::conform::Stats;
use crate::run::Record;

/// What a checked op sequence did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Ops decoded.
    pub ops: u64,
    /// Inputs checked.
    pub inputs: u64,
    /// Calls and errnos (statements = the ops that became statements).
    pub stats: Stats,
}

impl OpStats {
    /// One input's statistics: `ops` decoded, `statements` made, the calls
    /// that finished (`records`).
    pub(super) fn of(ops: usize, statements: usize, records: &[Record]) -> OpStats {
        let mut stats = Stats::default();
        stats.add_records(statements as u64, records);
        stats.cases = 1;
        OpStats {
            ops: ops as u64,
            inputs: 1,
            stats,
        }
    }

    /// Adds another input's statistics.
    pub fn merge(&mut self, other: &OpStats) {
        self.ops += other.ops;
        self.inputs += other.inputs;
        self.stats.merge(&other.stats);
    }

    /// The share of finished calls that succeeded, in `0.0..=1.0`.
    pub fn success_share(&self) -> f64 {
        let (n, ok) = self
            .stats
            .calls
            .values()
            .fold((0, 0), |(n, ok), &(a, b)| (n + a, ok + b));
        if n == 0 { 0.0 } else { ok as f64 / n as f64 }
    }
}
