//! Deliberate bugs, to show that the differential checks find them (cargo
//! feature `mutants`; without it this module does not exist).
//!
//! Each [`Mutant`] is modelled on a real bug of `msg-semantics.md` §8. A
//! mutant is inert unless selected for a namespace
//! ([`IpcNamespace::with_mutant`](crate::IpcNamespace::with_mutant)): the
//! queues created in that namespace then carry it. Adding one is a
//! three-line change: a variant below, its entry in [`Mutant::ALL`], and
//! `if mutant!(queue, Name) { ... }` where the bug goes (`mutant!` is
//! `false` in a build without the feature).

/// A deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// B19c (gVisor): a truncating `MSG_NOERROR` receive subtracts the
    /// truncated size, not the message's size, from `msg_cbytes`.
    CbytesDrift,
    /// A pipelined send skips a sleeping receiver whose buffer is too small
    /// and leaves it asleep, instead of waking it with `E2BIG` (§5.4).
    SkipE2bigReceiver,
}

impl Mutant {
    /// Every mutant, for tests that try them all.
    pub const ALL: &[Mutant] = &[Mutant::CbytesDrift, Mutant::SkipE2bigReceiver];
}
