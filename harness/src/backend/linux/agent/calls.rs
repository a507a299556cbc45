//! The calls that return (everything but `exit`, `fork` and `clone`), each
//! made as the one system call it names, with the kernel's errno as its
//! error.

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::waitpid;
use nix::unistd::{
    Gid, Pid, Uid, getpgid, getpid, getppid, getsid, setgid, setpgid, setsid, setuid,
};
use nscheck_model::{Detail, Syscall, Sysctl};

use super::msg;
use crate::backend::linux::proto::{MISSING, WireOutcome};

/// A call's value, or the kernel's errno (`Errno` holds its number as is).
fn returned(r: nix::Result<i64>) -> WireOutcome {
    match r {
        Ok(v) => WireOutcome::val(v, Detail::None),
        Err(e) => WireOutcome::errno(e as i32),
    }
}

/// A pid as a call's value.
fn value(pid: Pid) -> i64 {
    pid.as_raw().into()
}

/// The `pid_t` argument the kernel makes of `pid`: it keeps the low 32 bits
/// of a 64-bit argument itself, so truncating here passes it the same
/// number.
fn pid_arg(pid: i64) -> Pid {
    Pid::from_raw(pid as libc::pid_t)
}

/// Makes one call that returns (everything but `exit`, `fork`, `clone`).
///
/// The task calls go through `nix`, which passes each argument as the C
/// type the kernel takes; `uid_t` and `gid_t` are truncated as `pid_t` is
/// (see [`pid_arg`]).
pub(super) fn execute(call: &Syscall) -> Result<WireOutcome, String> {
    Ok(match *call {
        Syscall::Msgget { key, msgflg } => msg::msgget(key, msgflg),
        Syscall::Msgsnd {
            msqid,
            mtype,
            ref text,
            msgflg,
        } => msg::msgsnd(msqid, mtype, text, msgflg),
        Syscall::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            msgflg,
        } => msg::msgrcv(msqid, msgsz, msgtyp, msgflg)?,
        Syscall::Msgctl { msqid, cmd, set } => msg::msgctl(msqid, cmd, set),
        Syscall::Sysctl { name, value } => sysctl(name, value),
        // The kernel takes `unsigned long` flags and refuses every bit from
        // 31 up with EINVAL before anything else; `unshare(2)` takes an
        // `int`, sign-extended, so flags that do not fit one have such a bit
        // and become -1, which the kernel refuses the same way.
        Syscall::Unshare { flags } => {
            let flags = libc::c_int::try_from(flags).unwrap_or(-1);
            returned(unshare(CloneFlags::from_bits_retain(flags)).map(|()| 0))
        }
        // The status is not part of the result. (nix decodes it, and fails
        // with EINVAL for a child killed by a signal it does not name, a
        // real-time one; agents die by `exit` or SIGKILL only.)
        Syscall::Waitpid { pid } => {
            returned(waitpid(pid_arg(pid), None).map(|status| status.pid().map_or(0, value)))
        }
        // glibc's getpid() and getppid() ask the kernel every time.
        Syscall::Getpid => WireOutcome::val(value(getpid()), Detail::None),
        Syscall::Getppid => WireOutcome::val(value(getppid()), Detail::None),
        Syscall::Setsid => returned(setsid().map(value)),
        Syscall::Getsid { pid } => returned(getsid(Some(pid_arg(pid))).map(value)),
        Syscall::Setpgid { pid, pgid } => {
            returned(setpgid(pid_arg(pid), pid_arg(pgid)).map(|()| 0))
        }
        Syscall::Getpgid { pid } => returned(getpgid(Some(pid_arg(pid))).map(value)),
        Syscall::Setuid { uid } => returned(setuid(Uid::from_raw(uid as u32)).map(|()| 0)),
        Syscall::Setgid { gid } => returned(setgid(Gid::from_raw(gid as u32)).map(|()| 0)),
        Syscall::Capdrop { cap } => capdrop(cap),
        Syscall::Exit { .. } | Syscall::Fork | Syscall::Clone { .. } => {
            return Err(format!("{}() is not a returning call", call.name()));
        }
    })
}

/// What `call` needs that is absent here, as a refusal that starts with
/// [`MISSING`]: a sysctl whose `/proc/sys/kernel/NAME` file does not exist
/// (Linux has them all; a sandbox may not).
pub(super) fn missing(call: &Syscall) -> Option<String> {
    match *call {
        Syscall::Sysctl { name, .. } => {
            let path = format!("/proc/sys/kernel/{}", name.name());
            let absent = matches!(
                std::fs::metadata(&path),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT)
            );
            absent.then(|| format!("{MISSING}{path} does not exist"))
        }
        _ => None,
    }
}

/// Reads or writes `/proc/sys/kernel/NAME`, which shows the caller's own
/// namespaces. Errors of `open` and `write` are the call's errno.
fn sysctl(name: Sysctl, value: Option<i64>) -> WireOutcome {
    use std::io::{Read, Write};
    let path = format!("/proc/sys/kernel/{}", name.name());
    let io_err = |e: std::io::Error| WireOutcome::errno(e.raw_os_error().unwrap_or(libc::EIO));
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
/// effective, permitted and inheritable sets (`capget`, `capset`). Returns
/// 0, or the errno of the first step that failed.
///
/// The drop is a raw `prctl`: the kernel's own order of checks (`EPERM`
/// before `EINVAL` for a number that names no capability) needs the
/// script's number unchanged, which rustix's capability set cannot carry.
fn capdrop(cap: i64) -> WireOutcome {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
    if let Err(e) = Errno::result(r) {
        return WireOutcome::errno(e as i32);
    }
    let mut sets = match rustix::thread::capabilities(None) {
        Ok(sets) => sets,
        Err(e) => return WireOutcome::errno(e.raw_os_error()),
    };
    // PR_CAPBSET_DROP accepted `cap`, so it is below 64.
    let bit =
        rustix::thread::CapabilitySet::from_bits_retain(1u64.checked_shl(cap as u32).unwrap_or(0));
    sets.effective.remove(bit);
    sets.permitted.remove(bit);
    sets.inheritable.remove(bit);
    match rustix::thread::set_capabilities(None, sets) {
        Ok(()) => WireOutcome::val(0, Detail::None),
        Err(e) => WireOutcome::errno(e.raw_os_error()),
    }
}
