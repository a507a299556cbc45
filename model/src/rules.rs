//! The rules of the specification, and how often each was taken.
//!
//! [`RULES`] is the one table of the rules and outcome branches that the
//! model implements: the R-numbers of `msg-semantics.md` §6 (`msg.R1` …
//! `msg.R42`) and of `pid-semantics.md` §1.12 (`pid.R1` … `pid.R29`), a
//! suffix where one rule has several outcomes (`msg.R7.eagain`,
//! `msg.R7.sleep`), the task calls' errno paths that no R-number names
//! (`task.…`) and the branches of the historical dialects (`dialect.…`).
//! Each row has its [`Rule`] (the id the code uses), a unique name, a
//! one-line description, and, for a rule no script can reach, the reason.
//!
//! The code cites a rule where it takes it, with one line:
//! `hit!(MsgR24)` (or `hit!(expression)` for a rule chosen by a condition).
//! That line only counts: it never changes what the model does.
//!
//! The counters are a thread-local table of `Cell<u64>`, one a rule, so
//! that tests running the model on many threads do not mix their counts
//! and a hit costs one increment, without allocation or locking. A
//! campaign reads them with [`snapshot`] and clears them with [`reset`];
//! both act on the calling thread's table only.
//!
//! For feedback (a campaign that keeps the inputs reaching a rule for the
//! first time, a fuzzer's extra counters): take a [`snapshot`] before and
//! after one input and keep [`Hits::since`]; [`Hits::new_beside`] lists the
//! rules it took that an accumulated [`Hits`] never saw, and
//! [`Hits::as_slice`] is the raw counters, one a rule in [`RULES`] order.

use std::cell::Cell;

/// Declares [`Rule`] and [`RULES`] from one list, so that a rule's id,
/// name, description and reachability are written once.
macro_rules! rules {
    ($(
        $variant:ident = $name:literal, $description:literal $(, unreachable: $why:expr)?;
    )*) => {
        /// A rule or outcome branch of the specification; [`RULES`] says
        /// what each means.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $(
                #[doc = $description]
                $variant,
            )*
        }

        /// Every rule, in the order of [`Rule`] (so `RULES[rule as usize]`
        /// describes `rule`).
        pub const RULES: &[RuleInfo] = &[$(
            RuleInfo {
                rule: Rule::$variant,
                name: $name,
                description: $description,
                unreachable: rules!(@why $($why)?),
            },
        )*];
    };
    (@why) => { None };
    (@why $why:expr) => { Some($why) };
}

/// One row of [`RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The id the model's code uses.
    pub rule: Rule,
    /// The unique name: `msg.R24`, `pid.R4`, `msg.R7.eagain`,
    /// `task.setsid.eperm`, `dialect.openvz2006.search`.
    pub name: &'static str,
    /// What the rule says, in one line.
    pub description: &'static str,
    /// Why no script can reach this rule, for one that none can.
    pub unreachable: Option<&'static str>,
}

const NO_POINTERS: &str = "scripts pass values, never pointers, so no buffer is unreadable";
const NO_SIGNALS: &str = "scripts send no signals (a task is only killed by its init's exit, \
                          which ends the call without a return)";
const NO_THREADS: &str = "scripts have no threads: clone takes CLONE_NEWIPC and CLONE_NEWPID only";

rules! {
    // msg-semantics.md §6: msgsnd.
    MsgR1 = "msg.R1", "msgsnd with an unreadable mtype: EFAULT before every other check",
        unreachable: NO_POINTERS;
    MsgR2 = "msg.R2", "msgsnd with msgsz > msgmax or msqid < 0: EINVAL";
    MsgR3 = "msg.R3", "msgsnd with mtype < 1: EINVAL, before the lookup";
    MsgR4 = "msg.R4", "msgsnd with an unreadable mtext: EFAULT, before the lookup",
        unreachable: NO_POINTERS;
    MsgR5 = "msg.R5", "msgsnd to an absent index or a wrong seq: EINVAL";
    MsgR6 = "msg.R6", "msgsnd without write permission: EACCES";
    MsgR6Woken = "msg.R6.woken", "a sender woken after IPC_SET has lost write permission: EACCES";
    MsgR7Fits = "msg.R7.fits", "the message fits the queue (cbytes + msgsz <= qbytes, qnum < qbytes) and is sent";
    MsgR7Eagain = "msg.R7.eagain", "the message does not fit, IPC_NOWAIT: EAGAIN";
    MsgR7Sleep = "msg.R7.sleep", "the message does not fit: the sender sleeps";
    MsgR7Wake = "msg.R7.wake", "ss_wakeup wakes a sleeping sender whose message now fits";
    MsgR7WokenSend = "msg.R7.woken_send", "a woken sender's message fits and is sent";
    MsgR7WokenSleeps = "msg.R7.woken_sleeps", "a woken sender finds the queue full again and sleeps again";
    MsgR8 = "msg.R8", "a sleeping sender's queue is removed: EIDRM";
    MsgR9 = "msg.R9", "a sleeping sender catches a signal: EINTR", unreachable: NO_SIGNALS;
    // msgrcv.
    MsgR10 = "msg.R10", "msgrcv with msqid < 0 or msgsz < 0: EINVAL, first";
    MsgR11 = "msg.R11", "MSG_COPY without IPC_NOWAIT or with MSG_EXCEPT: EINVAL, before the lookup";
    MsgR12 = "msg.R12", "MSG_COPY with an unreadable buffer: EFAULT, before the lookup",
        unreachable: NO_POINTERS;
    MsgR13 = "msg.R13", "msgrcv on an absent id: EINVAL";
    MsgR14 = "msg.R14", "msgrcv (MSG_COPY included) without read permission: EACCES";
    MsgR15 = "msg.R15", "the selected message is larger than msgsz, no MSG_NOERROR: E2BIG, message kept";
    MsgR16 = "msg.R16", "larger, MSG_NOERROR, not a copy: msgsz bytes returned, the full size removed";
    MsgR17 = "msg.R17", "larger, MSG_NOERROR, MSG_COPY: EINVAL";
    MsgR18 = "msg.R18", "MSG_COPY of a message larger than the current msgmax: EINVAL even if msgsz is enough";
    MsgR19 = "msg.R19", "nothing selected, IPC_NOWAIT: ENOMSG";
    MsgR19Sleep = "msg.R19.sleep", "nothing selected without IPC_NOWAIT: the receiver sleeps";
    MsgR20Any = "msg.R20.any", "msgtyp 0: the first message";
    MsgR20Equal = "msg.R20.equal", "msgtyp > 0: the first message of that type";
    MsgR20Except = "msg.R20.except", "msgtyp > 0 with MSG_EXCEPT: the first message of another type";
    MsgR20Lowest = "msg.R20.lowest", "msgtyp < 0: the lowest type <= |msgtyp|, the earliest among equals";
    MsgR20LongMin = "msg.R20.long_min", "msgtyp LONG_MIN: any message, the lowest type";
    MsgR21 = "msg.R21", "MSG_COPY: the message at that ordinal is copied, nothing changes";
    MsgR22 = "msg.R22", "copy-out fault on a receive: EFAULT, the message consumed",
        unreachable: NO_POINTERS;
    MsgR23 = "msg.R23", "a send hands its message to a sleeping receiver directly";
    MsgR24 = "msg.R24", "a sleeping receiver too small for the message: woken with E2BIG, the message goes on";
    MsgR25 = "msg.R25", "a sleeping receiver's queue is removed: EIDRM";
    MsgR26 = "msg.R26", "a sleeping receiver catches a signal: EINTR or a restart", unreachable: NO_SIGNALS;
    MsgR27Wake = "msg.R27.wake", "IPC_SET wakes every sleeping receiver to check again";
    MsgR27Receive = "msg.R27.receive", "a receiver woken by IPC_SET finds a message";
    MsgR27Eacces = "msg.R27.eacces", "a receiver woken by IPC_SET has lost read permission: EACCES";
    MsgR27Sleeps = "msg.R27.sleeps", "a receiver woken by IPC_SET finds nothing and sleeps again";
    MsgR27Error = "msg.R27.error", "a woken receiver's check fails otherwise (an rfc2012 copy woken by a larger message: EINVAL)";
    // msgctl.
    MsgR28 = "msg.R28", "msgctl with msqid < 0 or cmd < 0: EINVAL";
    MsgR28Cmd = "msg.R28.cmd", "msgctl with an unknown command: EINVAL";
    MsgR28Id = "msg.R28.id", "IPC_STAT, IPC_SET or IPC_RMID of an absent id: EINVAL";
    MsgR29 = "msg.R29", "IPC_INFO or MSG_INFO: the highest index in use, or 0";
    MsgR30 = "msg.R30", "MSG_STAT: an index gives the full id, read permission needed";
    MsgR30Einval = "msg.R30.einval", "MSG_STAT or MSG_STAT_ANY of an unused index: EINVAL";
    MsgR31 = "msg.R31", "MSG_STAT_ANY: as MSG_STAT, without the permission check";
    MsgR32 = "msg.R32", "IPC_STAT: returns 0 and the queue's state";
    MsgR32Eacces = "msg.R32.eacces", "IPC_STAT or MSG_STAT without read permission: EACCES";
    MsgR33Owner = "msg.R33.owner", "IPC_SET by neither owner, creator nor CAP_SYS_ADMIN: EPERM";
    MsgR33Qbytes = "msg.R33.qbytes", "IPC_SET of qbytes above msgmnb without CAP_SYS_RESOURCE: EPERM";
    MsgR33Ids = "msg.R33.ids", "IPC_SET of uid or gid -1: EINVAL";
    MsgR34 = "msg.R34", "IPC_SET sets uid, gid, mode & 0777 and qbytes (low 32 bits)";
    MsgR35Eperm = "msg.R35.eperm", "IPC_RMID by neither owner, creator nor CAP_SYS_ADMIN: EPERM";
    MsgR35 = "msg.R35", "IPC_RMID removes the queue";
    // msgget and ids.
    MsgR36Private = "msg.R36.private", "msgget(IPC_PRIVATE): always a new queue";
    MsgR36Create = "msg.R36.create", "msgget of a new key with IPC_CREAT: a new queue";
    MsgR36Existing = "msg.R36.existing", "msgget of an existing key: its id";
    MsgR36Enoent = "msg.R36.enoent", "msgget of a new key without IPC_CREAT: ENOENT";
    MsgR36Eexist = "msg.R36.eexist", "msgget of an existing key with IPC_CREAT | IPC_EXCL: EEXIST, before EACCES";
    MsgR36Eacces = "msg.R36.eacces", "msgget of an existing key without the permission asked for: EACCES";
    MsgR36Enospc = "msg.R36.enospc", "msgget with msgmni queues in use: ENOSPC";
    MsgR37 = "msg.R37", "a new queue's mode is msgflg & 0777";
    MsgR38 = "msg.R38", "ids are (seq << 15) | idx, idx cyclic within max(in_use * 3 / 2, 64)";
    MsgR38Wrap = "msg.R38.wrap", "the cyclic index wraps: seq goes up by one";
    MsgR38SeqLimit = "msg.R38.seq_limit", "seq passes 65534 and goes back to 0",
        unreachable: "it takes 65,535 wraps of the index space, over four million msgget calls";
    MsgR39 = "msg.R39", "an id with a wrong seq whose index is in use: EINVAL";
    MsgR40 = "msg.R40", "msg_next_id forces the next id (seq and lowest index), then is reset to -1";
    MsgR41Read = "msg.R41.read", "a msg sysctl is read";
    MsgR41 = "msg.R41", "a msg sysctl is written within its range";
    MsgR41Eacces = "msg.R41.eacces", "a msg sysctl write without the right to open its file: EACCES";
    MsgR41Einval = "msg.R41.einval", "a msg sysctl write out of its range: EINVAL";
    MsgR42 = "msg.R42", "CONFIG_CHECKPOINT_RESTORE=n: MSG_COPY gives ENOSYS",
        unreachable: "the model is Linux 6.18 built with CONFIG_CHECKPOINT_RESTORE=y";

    // pid-semantics.md §1.12.
    PidR1 = "pid.R1", "the first task of a new PID namespace gets 1 and is its init";
    PidR2 = "pid.R2", "a number is allocated cyclically, the first free one after the cursor";
    PidR3 = "pid.R3", "ns_last_pid is written: the next number is the first free one after it";
    PidR4 = "pid.R4", "no number free in the namespace's range from its start: EAGAIN";
    PidR5 = "pid.R5", "the cursor at or below 300 wraps to the lowest free number, from 1";
    PidR6Einval = "pid.R6.einval", "ns_last_pid written out of [0, pid_max]: EINVAL";
    PidR6Eperm = "pid.R6.eperm", "ns_last_pid written without checkpoint/restore rights: EPERM";
    PidR7 = "pid.R7", "the cursor above 300 wraps to 300";
    PidR8 = "pid.R8", "an outer namespace has no number free: EAGAIN";
    PidR9 = "pid.R9", "a new PID namespace starts with pid_max 4194304, not its parent's";
    PidR10 = "pid.R10", "pid_max written out of [301, 4194304]: EINVAL";
    PidR10Write = "pid.R10.write", "pid_max written within its range";
    PidR10Eacces = "pid.R10.eacces", "pid_max written by neither root nor CAP_SYS_ADMIN: EACCES";
    PidSysctlRead = "pid.sysctl.read", "ns_last_pid or pid_max is read";
    PidR11 = "pid.R11", "an exited task is a zombie and keeps its number until it is reaped";
    PidR12 = "pid.R12", "a number stays taken while a process group or session links to it";
    PidR13 = "pid.R13", "a fork into a namespace whose init has died: ENOMEM";
    PidR13Zap = "pid.R13.zap", "an init's exit kills every other task of its namespace";
    PidR13Killed = "pid.R13.killed", "a running task is killed by its init's exit";
    PidR13KilledAsleep = "pid.R13.killed_asleep", "a task asleep in a call is killed by its init's exit";
    PidR13OutsideParent = "pid.R13.outside_parent", "a killed task whose parent is outside stays a zombie for it";
    PidR13Held = "pid.R13.held", "a parent's waitpid for an exited init waits while a number of its namespace is in use";
    PidR14 = "pid.R14", "a thread of an init whose leader exited forks", unreachable: NO_THREADS;
    PidR15 = "pid.R15", "a failed first allocation resets the cursor, so init still gets 1";
    PidR16 = "pid.R16", "a first fork failing after alloc_pid leaves the namespace dead",
        unreachable: "scripts have no CLONE_PIDFD nor any other failure after alloc_pid";
    PidR17 = "pid.R17", "set_tid with more entries than levels (or than 32): EINVAL";
    PidR18 = "pid.R18", "a set_tid entry below 1 or not below pid_max: EINVAL";
    PidR19 = "pid.R19", "a set_tid entry other than 1 in a namespace without init: EINVAL";
    PidR20 = "pid.R20", "a set_tid entry that is in use: EEXIST";
    PidR21 = "pid.R21", "set_tid without checkpoint/restore rights: EPERM";
    PidR22 = "pid.R22", "a set_tid entry is taken as it is; the cursor does not move";
    PidR23 = "pid.R23", "a failed allocation gives back the levels already reserved";
    PidR24 = "pid.R24", "CLONE_NEWPID once more before a fork into the first: EINVAL";
    PidR25 = "pid.R25", "CLONE_NEWPID with CLONE_THREAD or CLONE_PARENT", unreachable: NO_THREADS;
    PidR26 = "pid.R26", "/proc/PID/ns/pid_for_children of a namespace without init: ENOENT",
        unreachable: "scripts open no file of /proc";
    PidR27 = "pid.R27", "gettid of a thread", unreachable: NO_THREADS;
    PidR28 = "pid.R28", "a non-leader thread execs", unreachable: "scripts have no threads and no exec";
    PidR29 = "pid.R29", "CLONE_NEWPID below level 32: ENOSPC";

    // Task calls: the errno paths and outcomes that no R-number names.
    TaskNsEperm = "task.ns.eperm", "clone or unshare of a namespace without CAP_SYS_ADMIN: EPERM";
    TaskNewIpc = "task.ns.newipc", "clone or unshare makes a new IPC namespace";
    TaskUnshareNewPid = "task.ns.unshare_newpid", "unshare(CLONE_NEWPID): later children go to a new namespace";
    TaskReparent = "task.exit.reparent", "an exiting task's children go to its namespace's init";
    TaskWaitEchild = "task.waitpid.echild", "waitpid for no child of the caller: ECHILD";
    TaskWaitReap = "task.waitpid.reap", "waitpid reaps a zombie child at once";
    TaskWaitSleep = "task.waitpid.sleep", "waitpid for a running child sleeps";
    TaskWaitWoken = "task.waitpid.woken", "a parent asleep in waitpid reaps its child once it is reapable";
    TaskGetEsrch = "task.getpgid.esrch", "getpgid or getsid of an unknown pid: ESRCH";
    TaskSetsid = "task.setsid", "setsid makes a new session and process group";
    TaskSetsidEperm = "task.setsid.eperm", "setsid by a process group leader: EPERM";
    TaskSetpgid = "task.setpgid", "setpgid moves a task to a process group";
    TaskSetpgidEinval = "task.setpgid.einval", "setpgid with pgid < 0: EINVAL";
    TaskSetpgidEsrch = "task.setpgid.esrch", "setpgid of an unknown task, or of one neither the caller nor its child: ESRCH";
    TaskSetpgidSession = "task.setpgid.session", "setpgid of a child in another session: EPERM";
    TaskSetpgidLeader = "task.setpgid.leader", "setpgid of a session leader: EPERM";
    TaskSetpgidNoGroup = "task.setpgid.no_group", "setpgid to a group that is not in the caller's session: EPERM";
    TaskSetidEinval = "task.setid.einval", "setuid or setgid of -1: EINVAL";
    TaskSetidEperm = "task.setid.eperm", "setuid or setgid to another id without the capability: EPERM";
    TaskSetid = "task.setid", "setuid or setgid with the capability sets every id";
    TaskSetidEffective = "task.setid.effective", "setuid or setgid without the capability sets the effective id";
    TaskSetuidDropsCaps = "task.setid.drops_caps", "leaving uid 0 clears the capabilities";
    TaskCapdrop = "task.capdrop", "capdrop drops a capability";
    TaskCapdropEinval = "task.capdrop.einval", "capdrop of an unknown capability: EINVAL";
    TaskCapdropEperm = "task.capdrop.eperm", "capdrop without CAP_SETPCAP: EPERM";

    // The historical dialects (DIALECTS.md).
    BitmapWrap = "dialect.bitmap.wrap", "the bitmap allocator wraps, always to 300";
    FlatNoNesting = "dialect.flat2007.no_nesting", "a PID namespace inside the container: EINVAL";
    FlatVirtualFull = "dialect.flat2007.virtual_full", "no virtual number free: EAGAIN";
    FlatGlobalFull = "dialect.flat2007.global_full", "no global number free: EAGAIN";
    VpidNoNesting = "dialect.openvz2006.no_nesting", "a PID namespace inside the VPS: EINVAL";
    VpidEinval = "dialect.openvz2006.einval", "a requested vpid out of range or without the VPID bit: EINVAL";
    VpidGlobalFull = "dialect.openvz2006.global_full", "no global pid free: EAGAIN";
    VpidLinear = "dialect.openvz2006.linear", "linear mode: the vpid is pid + 1024";
    VpidSparse = "dialect.openvz2006.sparse", "a requested vpid that breaks the linear rule switches to sparse mode";
    VpidEexist = "dialect.openvz2006.eexist", "a requested vpid (or a second init) that is taken: EEXIST";
    VpidSearch = "dialect.openvz2006.search", "sparse mode, the linear vpid taken: the next free one is searched";
    VpidExhausted = "dialect.openvz2006.exhausted", "the search finds no free vpid: EAGAIN (B18's endless loop)";
    RfcCopy = "dialect.rfc2012.copy", "the copy counter's message is copied and the counter goes up";
    RfcCopyEinval = "dialect.rfc2012.copy_einval", "the copy counter's message is larger than msgsz: EINVAL";
    RfcCopyWake = "dialect.rfc2012.copy_wake", "a queued message wakes the waiting copies";
}

/// The number of rules.
pub const COUNT: usize = RULES.len();

impl Rule {
    /// This rule's row of [`RULES`].
    pub fn info(self) -> &'static RuleInfo {
        &RULES[self as usize]
    }
}

thread_local! {
    /// The calling thread's hits, one counter a rule.
    static HITS: [Cell<u64>; COUNT] = const { [const { Cell::new(0) }; COUNT] };
}

/// Counts one hit of `rule` on this thread (what `hit!` expands to).
#[inline]
pub fn hit(rule: Rule) {
    HITS.with(|hits| {
        let c = &hits[rule as usize];
        c.set(c.get().wrapping_add(1));
    });
}

/// Records that the model took a rule: `hit!(MsgR24)` names a [`Rule`]
/// variant; `hit!(expr)` takes a `Rule` computed by the caller.
macro_rules! hit {
    ($rule:ident) => {
        $crate::rules::hit($crate::rules::Rule::$rule)
    };
    ($rule:expr) => {
        $crate::rules::hit($rule)
    };
}

/// A copy of the hit counters, indexed by [`Rule`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hits([u64; COUNT]);

impl Default for Hits {
    fn default() -> Hits {
        Hits([0; COUNT])
    }
}

impl Hits {
    /// How often `rule` was taken.
    pub fn get(&self, rule: Rule) -> u64 {
        self.0[rule as usize]
    }

    /// Every rule with its count, in the order of [`RULES`].
    pub fn iter(&self) -> impl Iterator<Item = (&'static RuleInfo, u64)> + '_ {
        RULES.iter().zip(self.0.iter().copied())
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Hits) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// The counters, one a rule, in the order of [`RULES`].
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// The rules these hits took that `seen` never did.
    pub fn new_beside<'a>(&'a self, seen: &'a Hits) -> impl Iterator<Item = Rule> + 'a {
        self.iter()
            .zip(seen.0.iter())
            .filter(|&((_, n), &old)| n > 0 && old == 0)
            .map(|((r, _), _)| r.rule)
    }

    /// The hits since `earlier`, a snapshot taken before this one.
    pub fn since(&self, earlier: &Hits) -> Hits {
        let mut d = self.clone();
        for (a, b) in d.0.iter_mut().zip(earlier.0.iter()) {
            *a = a.saturating_sub(*b);
        }
        d
    }
}

/// The calling thread's counters as they are now.
pub fn snapshot() -> Hits {
    HITS.with(|hits| {
        let mut out = Hits::default();
        for (o, c) in out.0.iter_mut().zip(hits.iter()) {
            *o = c.get();
        }
        out
    })
}

/// Sets the calling thread's counters to zero.
pub fn reset() {
    HITS.with(|hits| hits.iter().for_each(|c| c.set(0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_the_order_of_the_enum_and_names_are_unique() {
        for (i, row) in RULES.iter().enumerate() {
            assert_eq!(row.rule as usize, i, "{}", row.name);
        }
        let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COUNT);
    }

    #[test]
    fn every_r_number_of_both_references_has_a_row() {
        for (area, last) in [("msg", 42), ("pid", 29)] {
            for n in 1..=last {
                let base = format!("{area}.R{n}");
                let dotted = format!("{base}.");
                assert!(
                    RULES
                        .iter()
                        .any(|r| r.name == base || r.name.starts_with(&dotted)),
                    "{base} has no row"
                );
            }
        }
    }

    #[test]
    fn counters_are_per_thread_and_reset() {
        reset();
        hit!(MsgR23);
        hit!(Rule::MsgR23);
        let other = std::thread::spawn(|| {
            hit!(PidR1);
            snapshot()
        })
        .join()
        .unwrap();
        assert_eq!(other.get(Rule::PidR1), 1);
        assert_eq!(other.get(Rule::MsgR23), 0);
        let mine = snapshot();
        assert_eq!((mine.get(Rule::MsgR23), mine.get(Rule::PidR1)), (2, 0));
        let new: Vec<_> = other.new_beside(&mine).collect();
        assert_eq!(new, vec![Rule::PidR1]);
        assert_eq!(mine.as_slice()[Rule::MsgR23 as usize], 2);
        reset();
        assert_eq!(snapshot(), Hits::default());
    }
}
