//! What `/proc` says about a task, read through a `/proc/PID` directory fd,
//! or, for a launcher under a command prefix, by its supervisor ([`ProcDir`]).
//!
//! A directory fd stays bound to the process it was opened for: once that
//! process is reaped, every file under it fails with `ESRCH` or `ENOENT`,
//! even if the pid number is reused. So a task's `/proc` entry is opened once,
//! when the task introduces itself, and used for every later look. A
//! supervisor reads `/proc/PID` by number; the sandbox it runs in is fresh
//! and holds only the script's tasks, whose pids are never reused while
//! the controller looks at them (a sandbox hands out pids in order, up to
//! its `pid_max`).

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use std::sync::Arc;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};

use super::mux::{Answer, Query};
use super::wrap::Supervisor;

/// Where a task's `/proc` entry is read.
#[derive(Debug)]
pub enum ProcDir {
    /// The controller's own `/proc/PID`, as a directory fd.
    Host(OwnedFd),
    /// `/proc/PID` as the supervisor sees it, `pid` in its PID namespace.
    Remote { sup: Arc<Supervisor>, pid: i64 },
}

impl ProcDir {
    /// The contents of `name` under the directory; `None` once the process
    /// is gone.
    fn read(&self, name: &CStr) -> io::Result<Option<Vec<u8>>> {
        match self {
            ProcDir::Host(dir) => read_at(dir.as_fd(), name),
            ProcDir::Remote { sup, pid } => {
                let q = Query::Read {
                    pid: *pid,
                    name: name.to_string_lossy().into_owned(),
                };
                match sup.query(&q)? {
                    Answer::Read(contents) => Ok(contents),
                    Answer::Errno(n) => Err(io::Error::from_raw_os_error(n)),
                    a => Err(unexpected(a)),
                }
            }
        }
    }
}

/// An answer of the wrong kind from a supervisor.
fn unexpected(a: Answer) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the supervisor answered {a:?}"),
    )
}

/// Whether an error means that the process is gone (reaped).
fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENOENT))
}

/// Opens `name` under `dir` for reading; `None` once the process is gone.
fn open_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<OwnedFd>> {
    match openat(dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) => {
            let e = io::Error::from(e);
            if is_gone(&e) { Ok(None) } else { Err(e) }
        }
    }
}

/// The contents of `name` under `dir`; `None` once the process is gone.
fn read_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let Some(fd) = open_at(dir, name)? else {
        return Ok(None);
    };
    let mut buf = Vec::with_capacity(512);
    match File::from(fd).read_to_end(&mut buf) {
        Ok(_) => Ok(Some(buf)),
        Err(e) if is_gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `/proc/PID` of `host_pid`.
pub fn open(host_pid: i64) -> io::Result<ProcDir> {
    Ok(ProcDir::Host(
        File::open(format!("/proc/{host_pid}"))?.into(),
    ))
}

/// The state letter and the parent's pid of `/proc/PID/stat` (its third
/// and fourth fields, the pid in `/proc`'s namespace); `None` once the
/// process is gone.
fn stat(dir: &ProcDir) -> io::Result<Option<(u8, i64)>> {
    let Some(stat) = dir.read(c"stat")? else {
        return Ok(None);
    };
    // The command name may contain anything, but it ends at the last ')';
    // after it come " S PPID ...".
    let after = stat
        .iter()
        .rposition(|&b| b == b')')
        .map_or(&[][..], |i| &stat[i + 1..]);
    let mut fields = std::str::from_utf8(after).unwrap_or("").split_whitespace();
    let state = fields.next().and_then(|f| f.bytes().next());
    let ppid = fields.next().and_then(|f| f.parse().ok());
    match (state, ppid) {
        (Some(state), Some(ppid)) => Ok(Some((state, ppid))),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "unreadable /proc/PID/stat",
        )),
    }
}

/// The one-letter state of `/proc/PID/stat` (`R`, `S`, `D`, `Z`, ...);
/// `None` once the process is gone.
pub fn state(dir: &ProcDir) -> io::Result<Option<u8>> {
    Ok(stat(dir)?.map(|(state, _)| state))
}

/// The parent's pid, in `/proc`'s namespace; `None` once the process is
/// gone.
pub fn ppid(dir: &ProcDir) -> io::Result<Option<i64>> {
    Ok(stat(dir)?.map(|(_, ppid)| ppid))
}

/// The number of the system call the process is blocked in, from the first
/// field of `/proc/PID/syscall`; `None` while it runs (`running`), when it is
/// blocked outside a system call (`-1`), or once it is gone.
///
/// The kernel only reports a number for a task that is off the CPU, and it
/// checks that the task did not run while the registers were read.
pub fn blocked_syscall(dir: &ProcDir) -> io::Result<Option<i64>> {
    let Some(text) = dir.read(c"syscall")? else {
        return Ok(None);
    };
    let first = text
        .split(|&b| b == b' ' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    Ok(std::str::from_utf8(first)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&nr| nr >= 0))
}

/// The `NSpid` line of `/proc/PID/status`: the pid in each PID namespace,
/// outermost first; `None` once the process is gone.
pub fn ns_pids(dir: &ProcDir) -> io::Result<Option<Vec<i64>>> {
    ns_line(dir, "NSpid:")
}

/// The `NSpgid` line of `/proc/PID/status`: the number of the process's
/// group at each level of the process's PID namespaces, outermost first (0
/// where the group's pid has none there); `None` once the process is gone.
pub fn ns_pgids(dir: &ProcDir) -> io::Result<Option<Vec<i64>>> {
    ns_line(dir, "NSpgid:")
}

/// The first number of the `NSpgid` and of the `NSsid` line of
/// `/proc/PID/status`: the pids of the process's group and session in
/// `/proc`'s PID namespace; `None` once the process is gone.
pub fn group_and_session(dir: &ProcDir) -> io::Result<Option<(i64, i64)>> {
    let Some(text) = dir.read(c"status")? else {
        return Ok(None);
    };
    let first = |name| numbers(&text, name).and_then(|n| n.first().copied());
    match (first("NSpgid:"), first("NSsid:")) {
        (Some(pgid), Some(sid)) => Ok(Some((pgid, sid))),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no NSpgid or NSsid line in /proc/PID/status",
        )),
    }
}

/// The numbers of line `name` of `/proc/PID/status`.
fn ns_line(dir: &ProcDir, name: &str) -> io::Result<Option<Vec<i64>>> {
    let Some(text) = dir.read(c"status")? else {
        return Ok(None);
    };
    Ok(numbers(&text, name))
}

/// The numbers of line `name` of the text of a `/proc/PID/status` file.
fn numbers(status: &[u8], name: &str) -> Option<Vec<i64>> {
    let text = String::from_utf8_lossy(status);
    let line = text.lines().find_map(|l| l.strip_prefix(name))?;
    Some(
        line.split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect(),
    )
}

/// Whether the process has exited: a zombie, dead, or already reaped.
pub fn has_exited(dir: &ProcDir) -> io::Result<bool> {
    Ok(matches!(state(dir)?, None | Some(b'Z' | b'X' | b'x')))
}

/// `NS_GET_PARENT` (`linux/nsfs.h`: `_IO(0xb7, 0x2)`): an fd for the parent
/// of the namespace that an nsfs fd refers to.
const NS_GET_PARENT: libc::c_ulong = 0xb702;

/// The identity of a namespace: the inode number of its nsfs file, which is
/// unique among the namespaces alive at one time.
fn ns_inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(fstat(fd)?.st_ino)
}

/// The PID namespace of the process (`ns/pid`, its active namespace) and
/// every ancestor of it that the caller can see, as inode numbers, outermost
/// first, with an fd that keeps the process's namespace (and so, through
/// the parent links, all of them) alive: while it is open no inode number of
/// the chain can be given to another namespace. `None` once the process is
/// gone.
///
/// The walk goes up with `NS_GET_PARENT` until the kernel refuses (`EPERM`):
/// that is the caller's own PID namespace, whose parent is out of its scope,
/// or the host's, which has none. Seen from the host's namespace, the chain
/// is aligned with the `NSpid` line: entry `i` is the namespace in which the
/// process has the `i`th number.
pub fn pid_ns_chain(dir: BorrowedFd<'_>) -> io::Result<Option<(Vec<u64>, OwnedFd)>> {
    let Some(own) = open_at(dir, c"ns/pid")? else {
        return Ok(None);
    };
    let mut chain = vec![ns_inode(own.as_fd())?];
    let mut cur: Option<OwnedFd> = None;
    loop {
        let at = cur.as_ref().map_or(own.as_fd(), |f| f.as_fd());
        // SAFETY: `at` is a live nsfs fd, and NS_GET_PARENT takes no
        // argument: the kernel reads and writes no memory of ours.
        let parent = unsafe { libc::ioctl(at.as_raw_fd(), NS_GET_PARENT) };
        if parent == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                break;
            }
            return Err(e);
        }
        // SAFETY: the ioctl just returned this fd and nothing else owns it.
        let parent = unsafe { OwnedFd::from_raw_fd(parent) };
        chain.push(ns_inode(parent.as_fd())?);
        cur = Some(parent);
    }
    chain.reverse();
    Ok(Some((chain, own)))
}

/// [`pid_ns_chain`] of a task wherever its `/proc` is read. A supervisor
/// keeps the namespace open itself, so no fd comes back for it.
pub fn pid_ns_chain_of(dir: &ProcDir) -> io::Result<Option<(Vec<u64>, Option<OwnedFd>)>> {
    match dir {
        ProcDir::Host(fd) => Ok(pid_ns_chain(fd.as_fd())?.map(|(c, own)| (c, Some(own)))),
        ProcDir::Remote { sup, pid } => match sup.query(&Query::NsChain { pid: *pid })? {
            Answer::NsChain(chain) => Ok(chain.map(|c| (c, None))),
            Answer::Errno(n) => Err(io::Error::from_raw_os_error(n)),
            a => Err(unexpected(a)),
        },
    }
}

/// `PROC_PID_INIT_INO`: the inode number of the host's (the initial) PID
/// namespace, fixed by the kernel.
pub const INIT_PID_NS_INODE: u64 = 0xEFFF_FFFC;

/// The inode number of the caller's own PID namespace.
pub fn own_pid_ns() -> io::Result<u64> {
    let f = File::open("/proc/self/ns/pid")?;
    ns_inode(f.as_fd())
}
