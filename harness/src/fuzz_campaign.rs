//! The fuzzing half of `nscheck check` (and the zoo's fuzzing column): a
//! time budget split among dialects, each a rule-steered stream
//! ([`Steering::in_dialect`]) checked against a backend that follows it.
//!
//! Mainline gets most of the time; the historical dialects, which the
//! concurrent implementation follows too, one share each
//! ([`DIALECT_SHARES`]). The
//! segments run one after the other, so a bug that the mainline stream
//! finds is found at the same input as in a campaign of mainline alone
//! (while it is found within mainline's share).

use std::time::{Duration, Instant};

use nscheck_model::Dialect;

use crate::backend::{Backend, BackendError, BackendKind};
use crate::ops::{Failure, OpStats};
use crate::steer::{Input, Steering};

/// The dialects of a campaign and their shares of its time, in tenths.
pub const DIALECT_SHARES: &[(Dialect, u32)] = &[
    (Dialect::Mainline, 7),
    (Dialect::Rfc2012, 1),
    (Dialect::Flat2007, 1),
    (Dialect::Openvz2006, 1),
];

/// Makes a fresh backend that follows a dialect.
pub type MakeIn<'a> = dyn FnMut(Dialect) -> Result<Box<dyn Backend>, BackendError> + 'a;

/// One checked input of a campaign.
#[derive(Debug)]
pub struct Checked {
    /// The dialect of its segment.
    pub dialect: Dialect,
    /// The input, with its place in the segment's stream.
    pub input: Input,
    /// The check's result.
    pub result: Result<OpStats, Failure>,
}

/// A time-boxed campaign of seed `seed` (see the module docs).
#[derive(Debug)]
pub struct FuzzCampaign {
    seed: u64,
    steer: bool,
    time: Duration,
    start: Instant,
    /// The segment under way, as an index into [`DIALECT_SHARES`].
    segment: usize,
    /// When it ends, from the start.
    end: Duration,
    steering: Steering,
    /// One line on each finished segment.
    lines: Vec<String>,
}

impl FuzzCampaign {
    /// A campaign of `time` from now.
    pub fn new(seed: u64, steer: bool, time: Duration) -> FuzzCampaign {
        let (dialect, share) = DIALECT_SHARES[0];
        FuzzCampaign {
            seed,
            steer,
            time,
            start: Instant::now(),
            segment: 0,
            end: time * share / 10,
            steering: Steering::in_dialect(seed, steer, dialect),
            lines: Vec::new(),
        }
    }

    /// The dialect of the segment under way.
    pub fn dialect(&self) -> Dialect {
        DIALECT_SHARES[self.segment].0
    }

    /// Checks the next input against a backend of kind `against` from
    /// `make`, or `None` once the time is up. Every segment checks at least
    /// one input, however late it starts, so that which dialects a
    /// campaign ran never depends on timing.
    pub fn check(&mut self, against: BackendKind, make: &mut MakeIn<'_>) -> Option<Checked> {
        while self.steering.inputs() > 0 && self.start.elapsed() >= self.end {
            self.finish_segment();
            if self.segment + 1 == DIALECT_SHARES.len() {
                return None;
            }
            self.segment += 1;
            let (dialect, share) = DIALECT_SHARES[self.segment];
            self.end += self.time * share / 10;
            self.steering = Steering::in_dialect(self.seed, self.steer, dialect);
        }
        let dialect = self.dialect();
        let (input, result) = self.steering.check(against, &mut || make(dialect));
        Some(Checked {
            dialect,
            input,
            result,
        })
    }

    /// Writes the line of the segment under way.
    fn finish_segment(&mut self) {
        if self.lines.len() == self.segment {
            self.lines.push(format!(
                "{}: {} inputs; {}",
                self.dialect(),
                self.steering.inputs(),
                self.steering.summary()
            ));
        }
    }

    /// One line a segment run so far: its inputs and what steering did.
    pub fn summary(&mut self) -> String {
        self.finish_segment();
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend;

    /// The shares add up to the whole time.
    #[test]
    fn the_shares_are_tenths_of_the_time() {
        assert_eq!(DIALECT_SHARES.iter().map(|&(_, s)| s).sum::<u32>(), 10);
        assert_eq!(DIALECT_SHARES[0].0, Dialect::Mainline);
    }

    /// A campaign goes through every dialect in order, each for at least
    /// one input, and stops when its time is up; every segment's inputs
    /// agree.
    #[test]
    fn a_campaign_runs_every_segment_in_order() {
        let mut c = FuzzCampaign::new(1, true, Duration::from_millis(300));
        let mut make = |d| backend::make(BackendKind::Concurrent, d, None);
        let mut seen = Vec::new();
        while let Some(checked) = c.check(BackendKind::Concurrent, &mut make) {
            checked.result.unwrap_or_else(|f| panic!("{f}"));
            if seen.last() != Some(&checked.dialect) {
                seen.push(checked.dialect);
            }
        }
        let all: Vec<Dialect> = DIALECT_SHARES.iter().map(|&(d, _)| d).collect();
        assert_eq!(seen, all);
        assert_eq!(c.summary().lines().count(), all.len());
    }
}
