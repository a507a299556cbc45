//! The processes that make the real calls: the launcher and the agents.
//!
//! `nscheck __agent` is the launcher. The controller starts it with its IPC
//! and PID namespaces already unshared and with one end of a socket as
//! standard input. The launcher is single-threaded, so it may fork: it forks
//! `t0`, which is pid 1 of the new PID namespace, and then only waits for it.
//! Every task is an agent: a single-threaded loop that reads one call from
//! its socket, makes it as a real system call, and writes the result back.
//! On `fork` (or `clone`) an agent makes a socket pair for the child, forks,
//! and passes the controller's end back with its reply; the child becomes an
//! agent on the other end. On `exit` the agent simply exits.
//!
//! No agent ever makes a call the controller did not ask for, so the kernel
//! state that the calls see is exactly the script's.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use nscheck_model::abi::{
    CLONE_NEWPID, IPC_INFO, IPC_SET, IPC_STAT, MSG_INFO, MSG_STAT, MSG_STAT_ANY,
};
use nscheck_model::{Detail, MsgInfo, MsgSet, MsqidDs, Syscall, Sysctl};

use super::proto::{self, Reply, WireOutcome};

/// `struct ipc64_perm` of Linux x86-64 (`asm-generic/ipcbuf.h`). `mode` is a
/// full `unsigned int` there, so any bit the kernel stores beyond `0777`
/// shows up.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Ipc64Perm {
    key: i32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    mode: u32,
    seq: u16,
    pad2: u16,
    unused1: u64,
    unused2: u64,
}

/// `struct msqid64_ds` of Linux x86-64 (`asm/msgbuf.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Msqid64Ds {
    msg_perm: Ipc64Perm,
    msg_stime: i64,
    msg_rtime: i64,
    msg_ctime: i64,
    msg_cbytes: u64,
    msg_qnum: u64,
    msg_qbytes: u64,
    msg_lspid: i32,
    msg_lrpid: i32,
    unused4: u64,
    unused5: u64,
}

/// `struct msginfo` (`linux/msg.h`), which `IPC_INFO` and `MSG_INFO` fill.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct RawMsgInfo {
    msgpool: i32,
    msgmap: i32,
    msgmax: i32,
    msgmnb: i32,
    msgmni: i32,
    msgssz: i32,
    msgtql: i32,
    msgseg: u16,
}

/// The buffer that `msgctl` gets: big enough for every command.
#[repr(C)]
#[derive(Clone, Copy)]
union MsgctlBuf {
    ds: Msqid64Ds,
    info: RawMsgInfo,
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

/// `struct __user_cap_header_struct`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two `CapData`, 64 capabilities.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// The errno of the last failed call.
fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A raw system call's result: the value, or the errno.
fn sys(ret: libc::c_long) -> WireOutcome {
    if ret == -1 {
        WireOutcome::errno(errno())
    } else {
        WireOutcome::val(ret, Detail::None)
    }
}

/// The launcher: `nscheck __agent`. Returns the process exit code.
pub fn launcher_main() -> i32 {
    // SAFETY: fd 0 is the socket the controller gave us as standard input;
    // from here on this process owns it.
    let chan = unsafe { OwnedFd::from_raw_fd(0) };
    match launch(chan) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nscheck __agent: {e}");
            125
        }
    }
}

/// Sets the launcher up, forks `t0` and waits for it.
fn launch(chan: OwnedFd) -> Result<i32, String> {
    let fail = |chan: &OwnedFd, msg: String| {
        let _ = proto::send_frame(
            chan.as_fd(),
            &proto::encode_reply(&Reply::Failure(msg.clone())),
            None,
        );
        msg
    };
    // If the controller (the thread that started us) dies, so do we, and
    // with us `t0` and its whole PID namespace.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == -1 {
        let e = io::Error::last_os_error();
        return Err(fail(&chan, format!("prctl(PR_SET_PDEATHSIG): {e}")));
    }
    // The model's tasks have no supplementary groups.
    // SAFETY: setgroups with an empty list does not read the pointer.
    if unsafe { libc::setgroups(0, std::ptr::null()) } == -1 {
        let e = io::Error::last_os_error();
        return Err(fail(&chan, format!("setgroups(0): {e}")));
    }
    // SAFETY: the launcher is single-threaded (nothing here starts a thread),
    // so the child may go on running ordinary code after fork.
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        let e = io::Error::last_os_error();
        return Err(fail(
            &chan,
            format!("fork of t0 into the new PID namespace: {e}"),
        ));
    }
    if pid == 0 {
        // t0. Die with the launcher, which dies with the controller.
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // Only the controller starts the launcher, in fresh namespaces; an
        // agent started any other way must not make calls in the host's.
        // SAFETY: getpid has no preconditions.
        if unsafe { libc::getpid() } != 1 {
            let msg = "t0 is not pid 1: the launcher was not started in fresh namespaces";
            let _ = fail(&chan, msg.to_string());
            // SAFETY: _exit ends the process without running anything else.
            unsafe { libc::_exit(1) };
        }
        serve(chan);
    }
    // Only t0 and its descendants may hold the socket, so that it reads as
    // closed once they are gone.
    drop(chan);
    loop {
        let mut status = 0;
        // SAFETY: wait4 writes only `status`.
        let r = unsafe { libc::wait4(pid, &mut status, 0, std::ptr::null_mut()) };
        if r == pid || (r == -1 && errno() != libc::EINTR) {
            return Ok(0);
        }
    }
}

/// Sends `reply`; an agent whose controller is gone has nothing left to do.
fn reply(chan: BorrowedFd<'_>, reply: &Reply, pass: Option<BorrowedFd<'_>>) {
    if proto::send_frame(chan, &proto::encode_reply(reply), pass).is_err() {
        // SAFETY: _exit ends the process without running anything else.
        unsafe { libc::_exit(0) };
    }
}

/// This task's pid as the controller's `/proc` shows it.
fn host_pid() -> i64 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(-1)
}

/// Introduces a new agent to the controller.
fn hello(chan: BorrowedFd<'_>) {
    // SAFETY: getpid has no preconditions.
    let ns_pid = unsafe { libc::getpid() };
    let hello = Reply::Hello {
        host_pid: host_pid(),
        ns_pid: ns_pid.into(),
    };
    reply(chan, &hello, None);
}

/// Where an agent stands among the PID namespaces; only `clone` needs it.
#[derive(Clone, Copy, Debug)]
struct Place {
    /// The level of its active PID namespace, counted from the host's (0):
    /// `t0` is at 1. `None` where `/proc/self/status` could not tell.
    level: Option<usize>,
    /// Whether it has unshared `CLONE_NEWPID`, so that its children go one
    /// level deeper than itself.
    unshared_pid: bool,
}

impl Place {
    /// The calling process's place, from the `NSpid` line of its status,
    /// which has a number for every level from `/proc`'s namespace down (the
    /// controller makes sure that this is the host's).
    fn own() -> Place {
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

/// The agent loop of one task. Never returns: the task exits on `exit`, or
/// when the controller closes its socket.
fn serve(mut chan: OwnedFd) -> ! {
    hello(chan.as_fd());
    let mut place = Place::own();
    loop {
        let frame = match proto::recv_frame(chan.as_fd()) {
            Ok(Some((frame, _))) => frame,
            // SAFETY: _exit ends the process without running anything else.
            _ => unsafe { libc::_exit(0) },
        };
        let call = match proto::decode_call(&frame) {
            Ok(call) => call,
            Err(e) => {
                reply(chan.as_fd(), &Reply::Failure(e.to_string()), None);
                continue;
            }
        };
        let child_chan = match call {
            Syscall::Exit { code } => {
                // SAFETY: _exit ends the process; the kernel truncates the code.
                unsafe { libc::_exit(code as libc::c_int) }
            }
            Syscall::Fork => spawn(chan.as_fd(), place, None),
            Syscall::Clone { flags, ref set_tid } => {
                spawn(chan.as_fd(), place, Some((flags, set_tid)))
            }
            ref call => {
                let r = match execute(call) {
                    Ok(o) => {
                        // Only a successful unshare moves the children.
                        if let Syscall::Unshare { flags } = *call
                            && flags & CLONE_NEWPID != 0
                            && !o.err
                        {
                            place.unshared_pid = true;
                        }
                        Reply::Outcome(o)
                    }
                    Err(e) => Reply::Failure(e),
                };
                reply(chan.as_fd(), &r, None);
                None
            }
        };
        if let Some(child_chan) = child_chan {
            // We are the new child: forget the parent's socket (this closes
            // it) and serve on our own, in our own place.
            chan = child_chan;
            hello(chan.as_fd());
            place = Place::own();
        }
    }
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

/// A raw `clone3()` with `flags` and `set_tid`, and `SIGCHLD` to the parent
/// on exit, as `fork` would.
///
/// # Safety
///
/// The caller must be single-threaded: without `CLONE_VM` and with no stack
/// the child is a copy of it and goes on running ordinary code. (glibc's
/// cached tid in the child's thread block is stale, which only matters to
/// `raise()`, which agents do not use.)
unsafe fn clone3(flags: i64, set_tid: &[libc::pid_t]) -> libc::c_long {
    let args = CloneArgs {
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
    };
    // SAFETY: `args` and `set_tid` live across the call; the caller
    // guarantees the rest.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    }
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
        // SAFETY: agents are single-threaded.
        match unsafe { clone3(flags, &probe) } {
            -1 => Ok(errno()),
            // Both probes must fail; a child made anyway leaves at once.
            // SAFETY: _exit ends the process without running anything else.
            0 => unsafe { libc::_exit(127) },
            pid => Err(pid),
        }
    };
    let unexpected =
        |pid| Reply::Failure(format!("clone3 with a host set_tid entry made pid {pid}"));
    match attempt(1) {
        Ok(libc::EEXIST) => {}
        Ok(e) => return Reply::Outcome(WireOutcome::errno(e)),
        Err(pid) => return unexpected(pid),
    }
    match attempt(0) {
        Ok(libc::EINVAL) => Reply::Unsupported(
            "the linux backend does not run a set_tid entry for the host's PID namespace".into(),
        ),
        Ok(libc::EEXIST) => Reply::Outcome(WireOutcome::errno(libc::EEXIST)),
        Ok(e) => Reply::Failure(format!(
            "clone3 set_tid probes disagree: EEXIST with host pid 1, errno {e} with 0"
        )),
        Err(pid) => unexpected(pid),
    }
}

/// `fork()`, or `clone3()` with `clone`'s flags and `set_tid`. The parent
/// replies with the child's pid and passes the controller's end of the
/// child's socket along, and returns `None`; the child returns its own end.
/// A `set_tid` with an entry for the host's namespace is only probed (see
/// [`clone_with_host_entry`]).
fn spawn(chan: BorrowedFd<'_>, place: Place, clone: Option<(i64, &Vec<i64>)>) -> Option<OwnedFd> {
    if let Some((flags, set_tid)) = clone
        && !set_tid.is_empty()
    {
        // The level the child would be numbered in: set_tid[k] is for level
        // `target - k`, so entry `target` is the host's (level 0).
        let Some(level) = place.level else {
            let msg = "cannot read this task's NSpid line, so set_tid is unsafe".to_string();
            reply(chan, &Reply::Failure(msg), None);
            return None;
        };
        let target =
            level + usize::from(place.unshared_pid) + usize::from(flags & CLONE_NEWPID != 0);
        // A longer list is EINVAL before the kernel looks at any entry (R17).
        if set_tid.len() == target + 1 {
            reply(chan, &clone_with_host_entry(flags, set_tid, target), None);
            return None;
        }
    }
    let mut pair = [0; 2];
    // SAFETY: socketpair writes two fds into `pair`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    if r == -1 {
        let e = io::Error::last_os_error();
        reply(chan, &Reply::Failure(format!("socketpair: {e}")), None);
        return None;
    }
    // SAFETY: socketpair just created both fds and nothing else owns them.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    let pid: libc::c_long = match clone {
        // SAFETY: this process is single-threaded, so the child may go on
        // running ordinary code.
        None => unsafe { libc::fork() }.into(),
        // SAFETY: this process is single-threaded.
        Some((flags, set_tid)) => unsafe { clone3(flags, &pid_t_array(set_tid)) },
    };
    match pid {
        -1 => {
            let e = errno();
            reply(chan, &Reply::Outcome(WireOutcome::errno(e)), None);
            None
        }
        0 => {
            drop(ours);
            Some(theirs)
        }
        pid => {
            drop(theirs);
            let r = Reply::Outcome(WireOutcome::val(pid, Detail::None));
            reply(chan, &r, Some(ours.as_fd()));
            None
        }
    }
}

/// Makes one call that returns (everything but `exit`, `fork`, `clone`).
fn execute(call: &Syscall) -> Result<WireOutcome, String> {
    // The int arguments go to the kernel as 64-bit values, sign-extended:
    // the kernel truncates them itself, exactly as for a C caller.
    // SAFETY (for every raw call below): integer arguments only, or pointers
    // to live buffers of the sizes passed.
    Ok(match *call {
        Syscall::Msgget { key, msgflg } => {
            sys(unsafe { libc::syscall(libc::SYS_msgget, key, msgflg) })
        }
        Syscall::Msgsnd {
            msqid,
            mtype,
            ref text,
            msgflg,
        } => {
            let mut buf = Vec::with_capacity(8 + text.len());
            buf.extend_from_slice(&mtype.to_ne_bytes());
            buf.extend_from_slice(text);
            sys(unsafe { libc::syscall(libc::SYS_msgsnd, msqid, buf.as_ptr(), text.len(), msgflg) })
        }
        Syscall::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            msgflg,
        } => msgrcv(msqid, msgsz, msgtyp, msgflg)?,
        Syscall::Msgctl { msqid, cmd, set } => msgctl(msqid, cmd, set),
        Syscall::Sysctl { name, value } => sysctl(name, value),
        Syscall::Unshare { flags } => sys(unsafe { libc::syscall(libc::SYS_unshare, flags) }),
        Syscall::Waitpid { pid } => {
            let mut status = 0;
            sys(unsafe { libc::syscall(libc::SYS_wait4, pid, &mut status as *mut i32, 0, 0) })
        }
        Syscall::Getpid => sys(unsafe { libc::syscall(libc::SYS_getpid) }),
        Syscall::Getppid => sys(unsafe { libc::syscall(libc::SYS_getppid) }),
        Syscall::Setsid => sys(unsafe { libc::syscall(libc::SYS_setsid) }),
        Syscall::Getsid { pid } => sys(unsafe { libc::syscall(libc::SYS_getsid, pid) }),
        Syscall::Setpgid { pid, pgid } => {
            sys(unsafe { libc::syscall(libc::SYS_setpgid, pid, pgid) })
        }
        Syscall::Getpgid { pid } => sys(unsafe { libc::syscall(libc::SYS_getpgid, pid) }),
        Syscall::Setuid { uid } => sys(unsafe { libc::syscall(libc::SYS_setuid, uid) }),
        Syscall::Setgid { gid } => sys(unsafe { libc::syscall(libc::SYS_setgid, gid) }),
        Syscall::Capdrop { cap } => capdrop(cap),
        Syscall::Exit { .. } | Syscall::Fork | Syscall::Clone { .. } => {
            return Err(format!("{}() is not a returning call", call.name()));
        }
    })
}

/// An anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> Result<Mapping, String> {
        // SAFETY: a fresh anonymous mapping; the kernel picks the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(format!("mmap of a {len}-byte msgrcv buffer: {e}"));
        }
        Ok(Mapping { ptr, len })
    }

    /// `n` bytes at `offset`, clamped to the mapping.
    fn bytes(&self, offset: usize, n: usize) -> &[u8] {
        let start = offset.min(self.len);
        let n = n.min(self.len - start);
        // SAFETY: `start..start + n` lies inside the mapping, which is
        // readable and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>().add(start), n) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// `msgrcv` into a buffer that the kernel can never overrun.
///
/// The kernel writes the `long` mtype and then `min(msgsz, m_ts)` bytes of
/// text, where `m_ts` is the message's size. With `MSG_COPY` it first reads
/// `min(msgsz, msgmax)` bytes from the start of the buffer. A message is never
/// larger than `msgmax` was when it was sent, and the `kernel.msgmax` sysctl
/// is capped at `INT_MAX`, so no access ever goes beyond `8 +
/// min(msgsz, INT_MAX)` bytes. We map exactly that, with `MAP_NORESERVE`:
/// pages are only allocated where the kernel actually writes, so even a
/// 2 GiB buffer costs nothing but address space. The script's `msgsz` goes
/// to the kernel unchanged.
fn msgrcv(msqid: i64, msgsz: i64, msgtyp: i64, msgflg: i64) -> Result<WireOutcome, String> {
    let text_room = msgsz.clamp(0, i32::MAX as i64) as usize;
    let buf = Mapping::new(8 + text_room)?;
    // SAFETY: the kernel accesses at most `buf.len` bytes (see above).
    let r = unsafe { libc::syscall(libc::SYS_msgrcv, msqid, buf.ptr, msgsz, msgtyp, msgflg) };
    if r == -1 {
        return Ok(WireOutcome::errno(errno()));
    }
    let mut mtype = [0u8; 8];
    mtype.copy_from_slice(buf.bytes(0, 8));
    Ok(WireOutcome::val(
        r,
        Detail::Msg {
            mtype: i64::from_ne_bytes(mtype),
            text: buf.bytes(8, r as usize).to_vec(),
        },
    ))
}

/// `msgctl` with a buffer that fits every command.
fn msgctl(msqid: i64, cmd: i64, set: Option<MsgSet>) -> WireOutcome {
    let mut buf = MsgctlBuf {
        ds: Msqid64Ds::default(),
    };
    if cmd == IPC_SET {
        // A field the script leaves out keeps the queue's current value, as
        // the model does. MSG_STAT_ANY needs no permission; where it fails
        // (no such index) IPC_SET fails its own lookup anyway.
        let mut cur = MsgctlBuf {
            ds: Msqid64Ds::default(),
        };
        // SAFETY: `cur` is as large as `struct msqid64_ds`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_msgctl,
                msqid & 0x7fff,
                MSG_STAT_ANY,
                &mut cur as *mut MsgctlBuf,
            )
        };
        // SAFETY: `ds` is the member MSG_STAT_ANY fills (and the one we set).
        let mut ds = if r == -1 {
            Msqid64Ds::default()
        } else {
            unsafe { cur.ds }
        };
        let set = set.unwrap_or_default();
        if let Some(v) = set.msg_qbytes {
            ds.msg_qbytes = v as u64;
        }
        if let Some(v) = set.uid {
            ds.msg_perm.uid = v as u32;
        }
        if let Some(v) = set.gid {
            ds.msg_perm.gid = v as u32;
        }
        if let Some(v) = set.mode {
            ds.msg_perm.mode = v as u32;
        }
        buf.ds = ds;
    }
    // SAFETY: `buf` is as large as the largest struct any command uses.
    let r = unsafe { libc::syscall(libc::SYS_msgctl, msqid, cmd, &mut buf as *mut MsgctlBuf) };
    if r == -1 {
        return WireOutcome::errno(errno());
    }
    let detail = match cmd {
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            // SAFETY: these commands fill the `msqid64_ds` member.
            let ds = unsafe { buf.ds };
            Detail::Stat(MsqidDs {
                key: ds.msg_perm.key.into(),
                uid: ds.msg_perm.uid.into(),
                gid: ds.msg_perm.gid.into(),
                cuid: ds.msg_perm.cuid.into(),
                cgid: ds.msg_perm.cgid.into(),
                mode: ds.msg_perm.mode.into(),
                seq: ds.msg_perm.seq.into(),
                qnum: ds.msg_qnum as i64,
                cbytes: ds.msg_cbytes as i64,
                qbytes: ds.msg_qbytes as i64,
                lspid: ds.msg_lspid.into(),
                lrpid: ds.msg_lrpid.into(),
            })
        }
        IPC_INFO | MSG_INFO => {
            // SAFETY: these commands fill the `msginfo` member.
            let i = unsafe { buf.info };
            Detail::Info(MsgInfo {
                msgpool: i.msgpool.into(),
                msgmap: i.msgmap.into(),
                msgmax: i.msgmax.into(),
                msgmnb: i.msgmnb.into(),
                msgmni: i.msgmni.into(),
                msgssz: i.msgssz.into(),
                msgtql: i.msgtql.into(),
                msgseg: i.msgseg.into(),
            })
        }
        _ => Detail::None,
    };
    WireOutcome::val(r, detail)
}

/// Reads or writes `/proc/sys/kernel/NAME`, which shows the caller's own
/// namespaces. Errors of `open` and `write` are the call's errno.
fn sysctl(name: Sysctl, value: Option<i64>) -> WireOutcome {
    use std::io::{Read, Write};
    let path = format!("/proc/sys/kernel/{}", name.name());
    let io_err = |e: io::Error| WireOutcome::errno(e.raw_os_error().unwrap_or(libc::EIO));
    match value {
        None => {
            let mut s = String::new();
            match std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut s)) {
                Ok(_) => match s.trim().parse::<i64>() {
                    Ok(v) => WireOutcome::val(v, Detail::None),
                    Err(_) => WireOutcome::errno(libc::EINVAL),
                },
                Err(e) => io_err(e),
            }
        }
        Some(v) => {
            let r = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| f.write_all(v.to_string().as_bytes()));
            match r {
                Ok(()) => WireOutcome::val(0, Detail::None),
                Err(e) => io_err(e),
            }
        }
    }
}

/// Drops `cap` from the bounding set (`PR_CAPBSET_DROP`), then from the
/// effective, permitted and inheritable sets (`capset`). Returns 0, or the
/// errno of the first step that failed.
fn capdrop(cap: i64) -> WireOutcome {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } == -1 {
        return WireOutcome::errno(errno());
    }
    let mut head = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two `CapData` for version 3.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut head as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } == -1
    {
        return WireOutcome::errno(errno());
    }
    // PR_CAPBSET_DROP accepted `cap`, so it is below 64.
    let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
    if let Some(d) = data.get_mut(word) {
        d.effective &= !bit;
        d.permitted &= !bit;
        d.inheritable &= !bit;
    }
    // SAFETY: capset reads the header and two `CapData`.
    if unsafe { libc::syscall(libc::SYS_capset, &mut head as *mut CapHeader, data.as_ptr()) } == -1
    {
        return WireOutcome::errno(errno());
    }
    WireOutcome::val(0, Detail::None)
}
