//! New tasks: `fork`, and `clone` with its flags and `set_tid`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::{ForkResult, Pid, fork};
use nscheck_model::Detail;
use nscheck_model::abi::{CLONE_NEWIPC, CLONE_NEWPID};

use super::{exit_now, reply};
use crate::backend::linux::proto::{Reply, WireOutcome};

/// Where an agent stands among the PID namespaces; only `clone` needs it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Place {
    /// The level of its active PID namespace, counted from the host's (0):
    /// `t0` is at 1. `None` where `/proc/self/status` could not tell.
    level: Option<usize>,
    /// Whether it has unshared `CLONE_NEWPID`, so that its children go one
    /// level deeper than itself.
    pub(super) unshared_pid: bool,
}

impl Place {
    /// The calling process's place, from the `NSpid` line of its status,
    /// which has a number for every level from `/proc`'s namespace down (the
    /// controller makes sure that this is the host's).
    pub(super) fn own() -> Place {
        let level = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
                line.split_whitespace().count().checked_sub(1)
            });
        Place {
            level,
            unshared_pid: false,
        }
    }
}

/// `struct clone_args` of `clone3(2)`, up to `cgroup` (version 2, 88 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `set_tid` as the kernel reads it: an array of `pid_t`. A number that
/// does not fit is out of range for the model (below 1, or at least
/// `pid_max`), so it becomes -1, which the kernel rejects with the same
/// errno at the same level (R18), instead of being truncated to another pid.
fn pid_t_array(set_tid: &[i64]) -> Vec<libc::pid_t> {
    set_tid
        .iter()
        .map(|&t| libc::pid_t::try_from(t).unwrap_or(-1))
        .collect()
}

/// The clone flags an agent runs, as the model specifies no others (the
/// controller does not send others either). Any other could make the child
/// share this process's memory or threads.
const CLONE_FLAGS: i64 = CLONE_NEWIPC | CLONE_NEWPID;

/// Makes a new process that goes on from here as a copy of this one:
/// `fork()` for `None`, else a raw `clone3()` with `flags` and `set_tid`,
/// and `SIGCHLD` to the parent on exit, as `fork` would. Returns the
/// child's pid in the parent and `None` in the child, or the kernel's errno.
/// Where `clone3` does not exist (`ENOSYS`, as in gVisor) a `clone` without
/// `set_tid` is made by `clone(2)`, which says the same; one with
/// `set_tid` gets `ENOSYS`, the implementation's own answer.
///
/// Only the launcher and the agents call this, and they are
/// single-threaded: nothing in them starts a thread. Panics on flags
/// outside [`CLONE_FLAGS`], which [`spawn`] refuses first.
pub(super) fn new_process(clone: Option<(i64, &[libc::pid_t])>) -> Result<Option<Pid>, Errno> {
    if let Some((flags, _)) = clone {
        assert_eq!(flags & !CLONE_FLAGS, 0, "clone flags {flags:#x}");
    }
    let args = clone.map(|(flags, set_tid)| CloneArgs {
        flags: flags as u64,
        exit_signal: libc::SIGCHLD as u64,
        // The kernel rejects a non-null `set_tid` of size 0.
        set_tid: if set_tid.is_empty() {
            0
        } else {
            set_tid.as_ptr() as u64
        },
        set_tid_size: set_tid.len() as u64,
        ..CloneArgs::default()
    });
    // SAFETY: this process is single-threaded (see above), so the child, a
    // copy of its only thread, may go on running ordinary code. `clone3`
    // gets namespace flags only (checked above) and no stack, so its child
    // runs on its own copy of this memory and stack, as after `fork`; `args` and the `set_tid` array it
    // points to live across the call. (glibc's cached tid in that child's
    // thread block is stale, which only matters to `raise()`, which agents
    // do not use.)
    let pid = unsafe {
        match &args {
            None => fork().map(|r| match r {
                ForkResult::Parent { child } => child.as_raw().into(),
                ForkResult::Child => 0,
            }),
            Some(args) => match Errno::result(libc::syscall(
                libc::SYS_clone3,
                args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )) {
                // `clone(2)` on x86-64: flags (with the exit signal), no new
                // stack (the child runs on its copy of this one), no tid
                // pointers, no TLS.
                Err(Errno::ENOSYS) if args.set_tid_size == 0 => Errno::result(libc::syscall(
                    libc::SYS_clone,
                    args.flags | args.exit_signal,
                    0,
                    0,
                    0,
                    0,
                )),
                r => r,
            },
        }
    }?;
    // A pid is a `pid_t`, whichever call made it.
    Ok((pid != 0).then(|| Pid::from_raw(pid as libc::pid_t)))
}

/// What `clone(flags, set_tid)` does where `set_tid` has an entry for the
/// host's PID namespace (index `host`), without ever touching a host pid.
///
/// The model stops with "unsupported" where the allocation reaches that
/// entry, that is once every level inside the script's namespaces has passed
/// its checks (innermost first, each error before the next level, R23), and
/// gives those levels' errno otherwise. The kernel checks the same levels in
/// the same order, so two probes with host entries that must fail tell the
/// cases apart: host pid 1 is always taken (`EEXIST` there), and 0 is out of
/// range (`EINVAL` there). A failed `alloc_pid` gives back every number it
/// reserved and never moves a cursor for a `set_tid` entry (R22); the one
/// other thing it may do, resetting the cursor of a namespace without pids
/// (R15), comes out the same however often it happens.
fn clone_with_host_entry(flags: i64, set_tid: &[i64], host: usize) -> Reply {
    let mut probe = pid_t_array(set_tid);
    let mut attempt = |host_tid: libc::pid_t| {
        probe[host] = host_tid;
        match new_process(Some((flags, &probe))) {
            Err(e) => Ok(e),
            // Both probes must fail; a child made anyway leaves at once.
            Ok(None) => exit_now(127),
            Ok(Some(pid)) => Err(pid),
        }
    };
    let unexpected =
        |pid| Reply::Failure(format!("clone3 with a host set_tid entry made pid {pid}"));
    match attempt(1) {
        Ok(Errno::EEXIST) => {}
        Ok(e) => return Reply::Outcome(WireOutcome::errno(e as i32)),
        Err(pid) => return unexpected(pid),
    }
    match attempt(0) {
        Ok(Errno::EINVAL) => Reply::Unsupported(
            "the linux backend does not run a set_tid entry for the host's PID namespace".into(),
        ),
        Ok(Errno::EEXIST) => Reply::Outcome(WireOutcome::errno(libc::EEXIST)),
        Ok(e) => Reply::Failure(format!(
            "clone3 set_tid probes disagree: EEXIST with host pid 1, errno {} with 0",
            e as i32
        )),
        Err(pid) => unexpected(pid),
    }
}

/// `fork()`, or `clone3()` with `clone`'s flags and `set_tid`. The parent
/// replies with the child's pid and passes the controller's end of the
/// child's socket along, and returns `None`; the child returns its own end.
/// A `set_tid` with an entry for the host's namespace is only probed (see
/// [`clone_with_host_entry`]); flags outside [`CLONE_FLAGS`] are refused.
pub(super) fn spawn(
    chan: BorrowedFd<'_>,
    place: Place,
    clone: Option<(i64, &Vec<i64>)>,
) -> Option<OwnedFd> {
    if let Some((flags, _)) = clone
        && flags & !CLONE_FLAGS != 0
    {
        let msg = format!("the agent does not run clone flags {flags:#x}");
        reply(chan, &Reply::Failure(msg), None);
        return None;
    }
    if let Some((flags, set_tid)) = clone
        && !set_tid.is_empty()
    {
        // The level the child would be numbered in: set_tid[k] is for level
        // `target - k`, so entry `target` is the host's (level 0). Without
        // an NSpid line (a sandbox's /proc; Linux always has one) the level
        // is unknown, and the call goes to the implementation as it is:
        // its level 0 is the sandbox's own namespace, not the host's.
        let target = place.level.map(|level| {
            level + usize::from(place.unshared_pid) + usize::from(flags & CLONE_NEWPID != 0)
        });
        // A longer list is EINVAL before the kernel looks at any entry (R17).
        if let Some(target) = target
            && set_tid.len() == target + 1
        {
            reply(chan, &clone_with_host_entry(flags, set_tid, target), None);
            return None;
        }
    }
    let pair = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    );
    let (ours, theirs) = match pair {
        Ok(pair) => pair,
        Err(e) => {
            let e = std::io::Error::from(e);
            reply(chan, &Reply::Failure(format!("socketpair: {e}")), None);
            return None;
        }
    };
    let set_tid = clone.map(|(flags, set_tid)| (flags, pid_t_array(set_tid)));
    match new_process(set_tid.as_ref().map(|(flags, t)| (*flags, t.as_slice()))) {
        Err(e) => {
            reply(chan, &Reply::Outcome(WireOutcome::errno(e as i32)), None);
            None
        }
        Ok(None) => {
            drop(ours);
            Some(theirs)
        }
        Ok(Some(pid)) => {
            drop(theirs);
            let r = Reply::Outcome(WireOutcome::val(pid.as_raw().into(), Detail::None));
            reply(chan, &r, Some(ours.as_fd()));
            None
        }
    }
}
