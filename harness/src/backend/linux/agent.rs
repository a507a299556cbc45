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
//!
//! This file holds the launcher and the agent loop; `spawn` makes new tasks
//! (`fork`, `clone`), `calls` makes every call that returns, with the System
//! V message calls and their buffers in `msg`. Under a command prefix (a
//! sandbox) the launcher is a supervisor instead, `supervise`, which relays
//! the agents' frames.

mod calls;
mod msg;
mod spawn;
mod supervise;

use std::sync::atomic::{AtomicBool, Ordering};

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{getpid, setgroups};
use nscheck_model::Syscall;
use nscheck_model::abi::CLONE_NEWPID;

use super::proto::{self, Reply};
use spawn::{Place, new_process, spawn};

/// Ends this process at once with `code`, as `_exit(2)` does: no destructor,
/// no `atexit` handler and no buffered output of the parent's runs in a
/// forked agent. The kernel keeps the low 8 bits of `code`.
fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns, so nothing
    // this process holds is used after it.
    unsafe { libc::_exit(code) }
}

/// Whether an agent sends [`Reply::Started`] before a call that may sleep
/// (`msgsnd`, `msgrcv`, `waitpid`): set by a supervisor where
/// `/proc/PID/syscall` is absent, before it forks `t0`, so every agent
/// inherits it.
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

/// Whether an agent makes itself findable in its PID namespaces (see
/// [`findable`]): set by a supervisor where `/proc/PID/status` has no
/// `NSpid` line, before it forks `t0`.
static FINDABLE: AtomicBool = AtomicBool::new(false);

/// The name a findable agent gives itself (`/proc/PID/comm`, at most 15
/// bytes): `nsc-` and its pid in the supervisor's `/proc`.
pub(super) fn tag(host_pid: i64) -> String {
    format!("nsc-{host_pid}")
}

/// Where the init of a PID namespace mounts a `/proc` of that namespace,
/// by its pid in the supervisor's `/proc`.
pub(super) fn ns_proc(init_host_pid: i64) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("nscheck-proc-{init_host_pid}"))
}

/// Without `NSpid` lines, makes this new agent findable by its number in
/// every PID namespace it has one in: it names itself [`tag`], and if it is
/// the init of its namespace it mounts a `/proc` of it at [`ns_proc`]
/// (which a sandbox allows, and which only the supervisor reads). Neither
/// touches IPC or pid state. A failure leaves the agent unfindable, and the
/// controller then reports its number as missing.
fn findable(host_pid: i64) {
    if !FINDABLE.load(Ordering::Relaxed) {
        return;
    }
    let _ = nix::sys::prctl::set_name(&std::ffi::CString::new(tag(host_pid)).unwrap_or_default());
    if getpid().as_raw() == 1 {
        let dir = ns_proc(host_pid);
        let _ = std::fs::create_dir_all(&dir);
        let Ok(target) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // SAFETY: every pointer is to a NUL-terminated string that lives
        // across the call, and the data argument is null, as proc allows.
        unsafe {
            libc::mount(
                c"proc".as_ptr(),
                target.as_ptr(),
                c"proc".as_ptr(),
                0,
                std::ptr::null(),
            );
        }
    }
}

/// The launcher: `nscheck __agent`, or with `supervise` the supervisor of
/// `nscheck __agent --supervise` (see `supervise`). Returns the process
/// exit code.
pub fn launcher_main(supervise: bool) -> i32 {
    // SAFETY: fd 0 is the socket the controller gave us as standard input,
    // and nothing else in this process uses standard input; from here on
    // `chan` owns it.
    let chan = unsafe { OwnedFd::from_raw_fd(0) };
    let result = if supervise {
        setup(&chan).and_then(|()| supervise::supervise(chan))
    } else {
        launch(chan)
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nscheck __agent: {e}");
            125
        }
    }
}

/// Sends `msg` as a failure, for the controller to report; returns it.
fn fail(chan: &OwnedFd, msg: String) -> String {
    let _ = proto::send_frame(
        chan.as_fd(),
        &proto::encode_reply(&Reply::Failure(msg.clone())),
        None,
    );
    msg
}

/// What every launcher does first. If its parent (the controller's thread,
/// or the wrapper) dies, so does it, and with it `t0` and its whole PID
/// namespace; and the model's tasks have no supplementary groups.
fn setup(chan: &OwnedFd) -> Result<(), String> {
    if let Err(e) = set_pdeathsig(Signal::SIGKILL) {
        let e = io::Error::from(e);
        return Err(fail(chan, format!("prctl(PR_SET_PDEATHSIG): {e}")));
    }
    if let Err(e) = setgroups(&[]) {
        let e = io::Error::from(e);
        return Err(fail(chan, format!("setgroups(0): {e}")));
    }
    Ok(())
}

/// Sets the launcher up, forks `t0` and waits for it.
fn launch(chan: OwnedFd) -> Result<i32, String> {
    setup(&chan)?;
    let pid = match new_process(None) {
        Ok(pid) => pid,
        Err(e) => {
            let e = io::Error::from(e);
            return Err(fail(
                &chan,
                format!("fork of t0 into the new PID namespace: {e}"),
            ));
        }
    };
    let Some(pid) = pid else {
        // t0. Die with the launcher, which dies with the controller.
        let _ = set_pdeathsig(Signal::SIGKILL);
        // Only the controller starts the launcher, in fresh namespaces; an
        // agent started any other way must not make calls in the host's.
        if getpid().as_raw() != 1 {
            let msg = "t0 is not pid 1: the launcher was not started in fresh namespaces";
            let _ = fail(&chan, msg.to_string());
            exit_now(1);
        }
        serve(chan);
    };
    // Only t0 and its descendants may hold the socket, so that it reads as
    // closed once they are gone.
    drop(chan);
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => {}
            _ => return Ok(0),
        }
    }
}

/// Sends `reply`; an agent whose controller is gone has nothing left to do.
fn reply(chan: BorrowedFd<'_>, reply: &Reply, pass: Option<BorrowedFd<'_>>) {
    if proto::send_frame(chan, &proto::encode_reply(reply), pass).is_err() {
        exit_now(0);
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
    let host_pid = host_pid();
    findable(host_pid);
    let hello = Reply::Hello {
        host_pid,
        ns_pid: getpid().as_raw().into(),
    };
    reply(chan, &hello, None);
}

/// The agent loop of one task. Never returns: the task exits on `exit`, or
/// when the controller closes its socket.
fn serve(mut chan: OwnedFd) -> ! {
    hello(chan.as_fd());
    let mut place = Place::own();
    loop {
        let frame = match proto::recv_frame(chan.as_fd()) {
            Ok(Some((frame, _))) => frame,
            _ => exit_now(0),
        };
        let call = match proto::decode_call(&frame) {
            Ok(call) => call,
            Err(e) => {
                reply(chan.as_fd(), &Reply::Failure(e.to_string()), None);
                continue;
            }
        };
        if ANNOUNCE.load(Ordering::Relaxed) && proto::announced(&call) {
            reply(chan.as_fd(), &Reply::Started, None);
        }
        let child_chan = match call {
            // The kernel truncates the code, as it does for a C caller.
            Syscall::Exit { code } => exit_now(code as i32),
            Syscall::Fork => spawn(chan.as_fd(), place, None),
            Syscall::Clone { flags, ref set_tid } => {
                spawn(chan.as_fd(), place, Some((flags, set_tid)))
            }
            ref call => {
                let r = match calls::missing(call) {
                    Some(missing) => Reply::Unsupported(missing),
                    None => match calls::execute(call) {
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
                    },
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
