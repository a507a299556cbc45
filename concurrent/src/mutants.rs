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
    /// B3 ("ipc: set msg back to -EAGAIN if copy wasn't performed", Linux
    /// 3.8.x): `MSG_COPY` with an index past the end (or a negative one) on
    /// a non-empty queue leaves the walk pointing at the last message and
    /// returns its data (or `E2BIG`) instead of `ENOMSG`: the copy was not
    /// performed, yet a message comes back. (The kernel then also freed the
    /// still-queued message; this mutant leaves the queue intact.)
    CopyPastEndReturnsLast,
    /// B4 (Linux 3.8 to 3.13, diagnosed since 3.14): `MSG_COPY` without
    /// `IPC_NOWAIT` is accepted instead of failing with `EINVAL`. An index
    /// that exists is copied; a missing one makes the caller sleep as a
    /// receiver that matches any message, and the next send hands its
    /// message to it destructively: a blocking `MSG_COPY` that consumes.
    BlockingCopyConsumes,
    /// B7 (`999898355e08`, "ipc: msg, make msgrcv work with LONG_MIN"):
    /// `msgtyp` `LONG_MIN` is negated with wrap-around, so it stays
    /// `LONG_MIN` and the "lowest type at most -msgtyp" search matches
    /// nothing: `ENOMSG` with `IPC_NOWAIT`, a sleep forever without.
    LongMinMatchesNothing,
    /// B12 (gVisor `0dbdca349`, "Skip tid allocation which is using"): a
    /// process group or session link does not hold its number, so once
    /// the leader is reaped its number is free for a new task while
    /// members still use it as their pgid or sid (R12). Selected for a
    /// whole task half (`System::with_mutant`), not an IPC namespace.
    ReuseHeldPgid,
}

impl Mutant {
    /// Every mutant, for tests that try them all.
    pub const ALL: &[Mutant] = &[
        Mutant::CbytesDrift,
        Mutant::SkipE2bigReceiver,
        Mutant::CopyPastEndReturnsLast,
        Mutant::BlockingCopyConsumes,
        Mutant::LongMinMatchesNothing,
    ];

    /// The bug of `msg-semantics.md` §8 (or the rule) the mutant is
    /// modelled on, for reports.
    pub fn bug(self) -> &'static str {
        match self {
            Mutant::CbytesDrift => "B19c",
            Mutant::SkipE2bigReceiver => "R24 (§5.4)",
            Mutant::CopyPastEndReturnsLast => "B3",
            Mutant::BlockingCopyConsumes => "B4",
            Mutant::LongMinMatchesNothing => "B7",
            Mutant::LostWakeup => "B8",
            Mutant::RmidRace => "B9",
            Mutant::CopyAliasing => "B17",
            Mutant::KeyRace => "R36 (one key)",
            Mutant::MsgmniRace => "R36 (msgmni)",
            Mutant::ReuseHeldPgid => "B12",
        }
    }

    /// Every mutant that only an interleaving shows.
    pub const RACES: &[Mutant] = &[
        Mutant::LostWakeup,
        Mutant::RmidRace,
        Mutant::CopyAliasing,
        Mutant::KeyRace,
        Mutant::MsgmniRace,
    ];

    /// The mutants of the task half (`crate::proc`), which a sequential
    /// run of a script with process groups shows.
    pub const TASKS: &[Mutant] = &[Mutant::ReuseHeldPgid];
}
