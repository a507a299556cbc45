//! The launcher as a supervisor: `nscheck __agent --supervise`, started
//! under a command prefix (a sandbox) by `wrap`, with the controller's
//! stream as standard input.
//!
//! It creates the fresh IPC and PID namespaces itself (the controller cannot
//! do it for a process inside a sandbox), finds out whether
//! `/proc/PID/syscall` exists here, forks `t0`, and then only relays: every
//! agent's socket ends here, and each of their frames goes over the stream
//! with the agent's key, in the order they come ([`mux`]). A frame that
//! carries a new agent's socket (a `fork` reply) gives that agent the next
//! key. It answers the controller's queries about `/proc` (its own, which
//! shows every task), and it answers a query only after relaying whatever
//! its agents had already sent, so that a task seen asleep after its reply
//! is never taken for asleep in its call.
//!
//! When the stream ends it kills `t0` (and so every task) and exits. It
//! reaps `t0` as the plain launcher does, as soon as `t0` has exited: `t0`'s
//! socket closes when it exits, and from then on the supervisor looks for
//! its exit status between two relays.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getpid};

use super::{ANNOUNCE, FINDABLE, exit_now, ns_proc, serve, tag};
use crate::backend::linux::mux::{self, Answer, Query};
use crate::backend::linux::{procfs, proto};

/// The supervisor; returns the process exit code.
pub(super) fn supervise(stream: OwnedFd) -> Result<i32, String> {
    unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID).map_err(|e| {
        format!(
            "unshare(CLONE_NEWIPC|CLONE_NEWPID): {}",
            std::io::Error::from(e)
        )
    })?;
    let syscall_file = std::fs::File::open("/proc/self/syscall").is_ok();
    // Where the controller cannot see a task's system call, the agents say
    // when they start a call that may sleep.
    ANNOUNCE.store(!syscall_file, Ordering::Relaxed);
    // Where the numbers of a task in its namespaces cannot be read, the
    // agents make themselves findable.
    let nspid = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s.contains("\nNSpid:"));
    FINDABLE.store(!nspid, Ordering::Relaxed);
    let (ours, theirs) = super::super::socket_pair().map_err(|e| format!("socketpair: {e}"))?;
    let t0 = match super::new_process(None) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            drop(stream);
            drop(ours);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            if getpid().as_raw() != 1 {
                eprintln!("nscheck __agent: t0 is not pid 1 of a fresh PID namespace");
                exit_now(1);
            }
            serve(theirs);
        }
        Err(e) => return Err(format!("fork of t0: {}", std::io::Error::from(e))),
    };
    drop(theirs);
    let mut sup = Supervisor {
        stream,
        agents: BTreeMap::from([(1, ours)]),
        next_key: 2,
        held: Vec::new(),
        t0,
        t0_reaped: false,
        syscall_file,
    };
    sup.run();
    if !sup.t0_reaped {
        let _ = kill(t0, Signal::SIGKILL);
        let _ = waitpid(t0, None);
    }
    Ok(0)
}

/// The supervisor's state.
struct Supervisor {
    /// The stream to the controller.
    stream: OwnedFd,
    /// Every agent's socket by key (`t0` is 1).
    agents: BTreeMap<u32, OwnedFd>,
    next_key: u32,
    /// The PID namespaces of the tasks, kept open so that no inode number
    /// the controller holds is reused.
    held: Vec<OwnedFd>,
    t0: Pid,
    t0_reaped: bool,
    syscall_file: bool,
}

impl Supervisor {
    /// Relays until the stream ends or fails.
    fn run(&mut self) {
        loop {
            // Once t0's socket is closed it has exited: reap it as soon as
            // it is a zombie (an init held in its exit takes a while).
            let t0_gone = !self.agents.contains_key(&1) && !self.t0_reaped;
            if t0_gone {
                match waitpid(self.t0, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
                    _ => self.t0_reaped = true,
                }
            }
            let timeout = if t0_gone && !self.t0_reaped {
                PollTimeout::from(1u8)
            } else {
                PollTimeout::NONE
            };
            let Ok((first, ready)) = mux::wait_ready(&[self.stream.as_fd()], &self.agents, timeout)
            else {
                return;
            };
            let stream_in = first[0];
            for key in ready {
                if self.forward(key).is_err() {
                    return;
                }
            }
            if stream_in {
                let frame = match mux::recv(self.stream.as_fd()) {
                    Ok(Some(f)) => f,
                    _ => return,
                };
                if self.handle(frame).is_err() {
                    return;
                }
            }
        }
    }

    /// Relays one frame of agent `key` to the controller; forgets the
    /// agent once its socket is closed.
    fn forward(&mut self, key: u32) -> std::io::Result<()> {
        let Some(agent) = self.agents.get(&key) else {
            return Ok(());
        };
        match proto::recv_frame(agent.as_fd()) {
            Ok(Some((payload, mut fds))) => match fds.pop() {
                Some(chan) => {
                    let new_key = self.next_key;
                    self.next_key += 1;
                    self.agents.insert(new_key, chan);
                    mux::send(
                        self.stream.as_fd(),
                        key,
                        mux::NEW,
                        &mux::new_body(new_key, &payload),
                    )
                }
                None => mux::send(self.stream.as_fd(), key, mux::DATA, &payload),
            },
            _ => {
                self.agents.remove(&key);
                Ok(())
            }
        }
    }

    /// Relays every frame that the agents have sent already.
    fn drain(&mut self) -> std::io::Result<()> {
        loop {
            let (_, ready) = mux::wait_ready(&[], &self.agents, PollTimeout::ZERO)?;
            if ready.is_empty() {
                return Ok(());
            }
            for key in ready {
                self.forward(key)?;
            }
        }
    }

    /// Carries out a frame from the controller.
    fn handle(&mut self, frame: mux::Frame) -> std::io::Result<()> {
        match (frame.key, frame.kind) {
            (0, mux::QUERY) => {
                let answer = match Query::decode(&frame.body) {
                    Ok(q) => self.answer(&q),
                    Err(_) => Answer::Errno(libc::EINVAL),
                };
                self.drain()?;
                mux::send(self.stream.as_fd(), 0, mux::ANSWER, &answer.encode())
            }
            (key, mux::DATA) => {
                if let Some(agent) = self.agents.get(&key) {
                    // An agent that is gone reads as a closed socket to the
                    // controller soon enough.
                    let _ = proto::send_frame(agent.as_fd(), &frame.body, None);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The answer to a query, read now.
    fn answer(&mut self, q: &Query) -> Answer {
        match q {
            Query::Probe => Answer::Probe {
                syscall_file: self.syscall_file,
            },
            Query::Read { pid, name } => read(*pid, name),
            Query::Find { init, pid, max } => Answer::Pid(find(*init, *pid, *max)),
            Query::NsChain { pid } => {
                let dir = match std::fs::File::open(format!("/proc/{pid}")) {
                    Ok(d) => d,
                    Err(e) => return gone_or(*pid, &e, Answer::NsChain(None)),
                };
                match procfs::pid_ns_chain(dir.as_fd()) {
                    Ok(Some((chain, own))) => {
                        self.held.push(own);
                        Answer::NsChain(Some(chain))
                    }
                    Ok(None) => Answer::NsChain(None),
                    Err(e) => Answer::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
                }
            }
        }
    }
}

/// The number of the agent with supervisor pid `pid` in the PID namespace
/// whose init has supervisor pid `init`: the entry of that namespace's
/// `/proc` (see `agent::findable`) among `1..=max` that bears the agent's
/// tag; `None` if none does.
fn find(init: i64, pid: i64, max: i64) -> Option<i64> {
    let dir = ns_proc(init);
    let tag = tag(pid);
    (1..=max).find(|n| {
        std::fs::read_to_string(dir.join(n.to_string()).join("comm"))
            .is_ok_and(|comm| comm.trim_end() == tag)
    })
}

/// `/proc/PID/NAME`: its contents; gone if the process is (its directory
/// is absent); else the errno of the read, `ENOENT` for a file that this
/// `/proc` does not have.
fn read(pid: i64, name: &str) -> Answer {
    let mut buf = Vec::with_capacity(512);
    match std::fs::File::open(format!("/proc/{pid}/{name}"))
        .and_then(|mut f| f.read_to_end(&mut buf))
    {
        Ok(_) => Answer::Read(Some(buf)),
        Err(e) => gone_or(pid, &e, Answer::Read(None)),
    }
}

/// The answer for a failed look at `/proc/PID`: `gone` if the process is
/// (`ESRCH`, or `ENOENT` with its directory absent), else the errno.
fn gone_or(pid: i64, e: &std::io::Error, gone: Answer) -> Answer {
    match e.raw_os_error() {
        Some(libc::ESRCH) => gone,
        Some(libc::ENOENT) if std::fs::metadata(format!("/proc/{pid}")).is_err() => gone,
        Some(n) => Answer::Errno(n),
        None => Answer::Errno(libc::EIO),
    }
}
