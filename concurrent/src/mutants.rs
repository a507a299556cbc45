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
//!
//! [`Mutant::ALL`] lists the bugs a sequential run shows, which the
//! differential checks of the harness must find. [`Mutant::RACES`] lists
//! those that only an interleaving shows (one call running between two
//! critical sections of another); a sequential run cannot see them, and the
//! loom and shuttle scenarios of `nscheck-loom-tests` must find them.

/// A deliberate bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// B19c (gVisor): a truncating `MSG_NOERROR` receive subtracts the
    /// truncated size, not the message's size, from `msg_cbytes`.
    CbytesDrift,
    /// A pipelined send skips a sleeping receiver whose buffer is too small
    /// and leaves it asleep, instead of waking it with `E2BIG` (§5.4).
    SkipE2bigReceiver,
    /// B8 (`bebcb928c820`, lost wake-up in `msgsnd`): a sender that finds
    /// the queue full drops the queue lock and takes it again before it
    /// registers as a sleeper, without checking again. A receive that drains
    /// the queue in between wakes nobody, and the sender sleeps forever.
    LostWakeup,
    /// B9 ("prevent race with rmid in msgsnd, msgrcv"): `msgsnd` and
    /// `msgrcv` do not check, once they hold the queue lock, whether
    /// `IPC_RMID` removed the queue after they found it, so they send to or
    /// sleep on a dead queue.
    RmidRace,
    /// B17 (gVisor `d6c99694b`, race on `msgrcv(MSG_COPY)`): `MSG_COPY`
    /// copies the text out after dropping the queue lock, from the queued
    /// message itself (found again by its position) instead of from a copy
    /// taken under the lock, so a concurrent (truncating) receive changes
    /// what it returns.
    CopyAliasing,
    /// `msgget(key, IPC_CREAT)` does not look the key up again under the
    /// registry's write lock, so two racing creators make two queues for
    /// one key.
    KeyRace,
    /// `msgget` checks `kernel.msgmni` under the read lock, before it takes
    /// the write lock to allocate, so racing creators exceed the limit.
    MsgmniRace,
}

impl Mutant {
    /// Every mutant, for tests that try them all.
    pub const ALL: &[Mutant] = &[Mutant::CbytesDrift, Mutant::SkipE2bigReceiver];

    /// Every mutant that only an interleaving shows.
    pub const RACES: &[Mutant] = &[
        Mutant::LostWakeup,
        Mutant::RmidRace,
        Mutant::CopyAliasing,
        Mutant::KeyRace,
        Mutant::MsgmniRace,
    ];
}
