//! Deliberate bugs, to show that the differential checks find them (cargo
//! feature `mutants`; without it this module does not exist).
//!
//! Each [`Mutant`] is modelled on a real bug: of `msg-semantics.md` §8 for
//! the IPC half, of `pid-semantics.md` §3 for the PID half (their ids are
//! written `pid B1`, and so on). A mutant is inert unless selected for a
//! namespace
//! ([`IpcNamespace::with_mutant`](crate::IpcNamespace::with_mutant), or
//! [`PidNamespace::new_root_with_mutant`](crate::pid::PidNamespace::new_root_with_mutant)
//! for a tree of PID namespaces): the queues created in that IPC namespace,
//! or every PID namespace of that tree, then carry it. Adding one is a
//! three-line change: a variant below, its entry in its list, and
//! `if mutant!(holder, Name) { ... }` where the bug goes (`mutant!` is
//! `false` in a build without the feature).
//!
//! [`Mutant::ALL`] lists the IPC bugs a sequential run shows, which the
//! differential checks of the harness must find. [`Mutant::RACES`] lists
//! those that only an interleaving shows (one call running between two
//! critical sections of another); a sequential run cannot see them, and the
//! loom and shuttle scenarios of `nscheck-loom-tests` must find them.
//! [`Mutant::PID`] and [`Mutant::PID_RACES`] are the same two lists for the
//! PID half; the tests of `concurrent/tests/pid_alloc.rs` and
//! `pid_dialects.rs` show each sequential one caught.

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
    /// pid B1 (Linux 2.6.9, "/proc/sys/kernel/pid_max issues"): the walk for
    /// a free number runs to the end of the map (`PID_MAX_LIMIT`), not to
    /// `pid_max`, so a full range hands out a number at or above `pid_max`.
    PidBeyondMax,
    /// pid B2 (Linux 2.6.9, "pid wrapping doesn't honor RESERVED_PIDS"): a
    /// wrap goes back to 1, not to `RESERVED_PIDS`, once the cursor has
    /// passed 300 (the IDR) or always (the bitmap).
    WrapIgnoresReserved,
    /// pid B8a (Linux 4.15, the IDR conversion): the idr's ENOSPC reaches
    /// the caller instead of EAGAIN when a namespace is full.
    EnospcNotEagain,
    /// pid B8b (Linux 4.15, the IDR conversion): `alloc_pid`'s rollback
    /// gives every reserved number back to the innermost namespace, so an
    /// ancestor's number leaks for good.
    RollbackInnermost,
    /// pid B5 (OpenVZ VPID RFC 5/7): when the bitmap walk reaches a number
    /// with the VPID bit, it returns that number plus `VPID_DIV` but marks
    /// the virtual one, so the number returned can be handed out twice.
    VpidOffset,
    /// pid B18 (OpenVZ 2.6.16 to 2.6.18): `alloc_vpid`'s linear search has
    /// no exit when every vpid is taken. Under this mutant the search gives
    /// up after a step budget with
    /// [`NO_EXIT`](crate::pid::openvz::NO_EXIT) instead of spinning forever.
    VpidSearchNoExit,
    /// pid B4 (the bitmap era's plain `last_pid = pid` store): the cursor
    /// is written in its own critical section after the number is
    /// reserved, so a slower allocator can put an older value back.
    LastPidRace,
    /// pid B17 (the 2022 per-namespace xarray lock RFC): a new pid is
    /// published level by level, releasing each level's lookup lock before
    /// the next, so a reader sees it at one level and not at another.
    PublishPerLevel,
    /// pid H4: the `PIDNS_ADDING` check is made before publication, in a
    /// critical section of its own, so a pid can be published after
    /// `disable` has returned.
    AddingCheckEarly,
    /// pid R20 (`set_tid`'s "is it free" check): the number a `set_tid`
    /// entry asks for is looked up and taken in two critical sections of
    /// the allocation lock, so a fork's cyclic search can take it in
    /// between and two pids hold it (Linux checks and takes it in one
    /// `idr_alloc` under `pidmap_lock`).
    SetTidCheckThenTake,
    /// `IPC_STAT` does not check, once it holds the queue lock, whether
    /// `IPC_RMID` removed the queue after it found it (the race that
    /// Linux closed by re-checking the object under its lock,
    /// `ipc_valid_object`, as B9 for `msgsnd` and `msgrcv`): it reports
    /// the removed, emptied queue instead of `EIDRM`. No hand-written loom
    /// or shuttle scenario states a queue while another thread removes
    /// it; the generated ones do.
    StatRmidRace,
    /// A killed sleeper's call ends with `EINTR` without looking whether a
    /// waker ended it between the kill and the call leaving its queue
    /// (Linux's `do_msgrcv` looks at `r_msg` again under the queue lock
    /// before it returns for a signal, "lockless receive, part 2", R9 and
    /// R26): the message handed to a killed receiver is lost, and a killed
    /// sender's completed send is reported as not sent. Only a task killed
    /// while another thread wakes it shows it (the loom and shuttle
    /// scenarios that kill a sleeper); the harness cancels a killed
    /// task's call before it polls any.
    CancelDropsWakeup,
    /// `rfc2012` (the 2012 `q_copy_cnt` RFC, `msg-semantics.md` §7.1): a
    /// receive that takes a message off the queue leaves the copy counter
    /// where it was instead of moving it down, so the next copy skips a
    /// message. Only a namespace of [`Variant::Rfc2012`] shows it.
    ///
    /// [`Variant::Rfc2012`]: crate::ipc::Variant::Rfc2012
    CopyCountKept,
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

    /// The bug of `msg-semantics.md` §8 or `pid-semantics.md` §3 (or the
    /// rule) the mutant is modelled on, for reports.
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
            Mutant::PidBeyondMax => "pid B1",
            Mutant::WrapIgnoresReserved => "pid B2",
            Mutant::EnospcNotEagain => "pid B8a",
            Mutant::RollbackInnermost => "pid B8b",
            Mutant::VpidOffset => "pid B5",
            Mutant::VpidSearchNoExit => "pid B18",
            Mutant::LastPidRace => "pid B4",
            Mutant::PublishPerLevel => "pid B17",
            Mutant::AddingCheckEarly => "pid H4",
            Mutant::SetTidCheckThenTake => "pid R20 (set_tid)",
            Mutant::ReuseHeldPgid => "B12",
            Mutant::StatRmidRace => "B9 (IPC_STAT)",
            Mutant::CancelDropsWakeup => "R9/R26 (kill)",
            Mutant::CopyCountKept => "rfc2012 (q_copy_cnt)",
        }
    }

    /// Every mutant that only an interleaving shows.
    pub const RACES: &[Mutant] = &[
        Mutant::LostWakeup,
        Mutant::RmidRace,
        Mutant::CopyAliasing,
        Mutant::KeyRace,
        Mutant::MsgmniRace,
        Mutant::StatRmidRace,
        Mutant::CancelDropsWakeup,
    ];

    /// The mutants of the `rfc2012` copy counter, which a sequential run
    /// in a namespace of that variant shows (not in the zoo, whose checks
    /// run the other dialects).
    pub const RFC2012: &[Mutant] = &[Mutant::CopyCountKept];

    /// The mutants of the task half (`crate::proc`), which a sequential
    /// run of a script with process groups shows.
    pub const TASKS: &[Mutant] = &[Mutant::ReuseHeldPgid];

    /// Every mutant of the PID allocator that a sequential run shows.
    pub const PID: &[Mutant] = &[
        Mutant::PidBeyondMax,
        Mutant::WrapIgnoresReserved,
        Mutant::EnospcNotEagain,
        Mutant::RollbackInnermost,
        Mutant::VpidOffset,
        Mutant::VpidSearchNoExit,
    ];

    /// Every mutant of the PID allocator that only an interleaving shows.
    pub const PID_RACES: &[Mutant] = &[
        Mutant::LastPidRace,
        Mutant::PublishPerLevel,
        Mutant::AddingCheckEarly,
        Mutant::SetTidCheckThenTake,
    ];
}
