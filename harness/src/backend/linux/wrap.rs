//! The launcher under a command prefix: `--backend linux --wrap 'CMD ARGS'`,
//! and its preset `--backend gvisor` (`runsc --rootless=false
//! --network=none do`).
//!
//! The controller runs `CMD ARGS AGENT __agent --supervise` with one end of
//! a socket as standard input. The launcher then creates its fresh IPC and
//! PID namespaces itself and becomes a supervisor (`agent::supervise`):
//! every agent's socket ends in it, and it relays their frames over that
//! one stream ([`super::mux`]) and reads `/proc` for the controller. Here a
//! relay thread turns the stream back into one local socket a task, so the
//! controller drives a wrapped agent exactly as a direct one: a `fork`
//! reply even carries the new task's socket, which the relay made.
//!
//! # Lifetime
//!
//! The wrapper runs in a process group of its own, with a private `TMPDIR`
//! (where `runsc do` keeps its state) and `PR_SET_PDEATHSIG`. Dropping
//! [`Wrapped`] closes the stream: the supervisor kills `t0`, and with it
//! every task, and exits, and so does the wrapper. One that has not exited
//! after its grace period ([`GRACE`] unless set) (a hung sandbox) is killed with its whole process group;
//! then the private `TMPDIR` is removed. No run leaves a process, a sandbox
//! or a state directory behind.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::PollTimeout;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, setpgid};

use super::mux::{self, Answer, Query};
use super::{TIMEOUT, proto, readable, socket_pair};
use crate::backend::BackendError;

/// How long a wrapper may take to exit once its stream is closed before it
/// is killed with its process group.
pub const GRACE: Duration = Duration::from_secs(10);

/// The `gvisor` preset's flags, after the `runsc` executable.
pub const RUNSC_FLAGS: [&str; 3] = ["--rootless=false", "--network=none", "do"];

/// A command prefix that the launcher runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrap {
    /// What the backend is called in messages: `gvisor`, or `linux --wrap`.
    pub name: String,
    /// The prefix: an executable and its arguments.
    pub argv: Vec<String>,
    /// How long the wrapper may take to exit once its stream is closed.
    pub grace: Duration,
}

impl Wrap {
    /// `--wrap 'CMD ARGS'`: the words of `cmd`, split at white space.
    pub fn parse(name: &str, cmd: &str) -> Result<Wrap, String> {
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err("--wrap needs a command".to_string());
        }
        Ok(Wrap {
            name: name.to_string(),
            argv,
            grace: GRACE,
        })
    }

    /// The `gvisor` preset: `RUNSC --rootless=false --network=none do`,
    /// where `RUNSC` is `runsc` (found on `PATH`) unless given.
    pub fn gvisor(runsc: Option<&str>) -> Wrap {
        let mut argv = vec![runsc.unwrap_or("runsc").to_string()];
        argv.extend(RUNSC_FLAGS.iter().map(|f| f.to_string()));
        Wrap {
            name: "gvisor".to_string(),
            argv,
            grace: GRACE,
        }
    }
}

/// What the command line chose for wrapped launchers: `--wrap` and
/// `--runsc` (see [`configure`]).
#[derive(Clone, Debug, Default)]
struct Config {
    wrap: Option<String>,
    runsc: Option<String>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Sets, once for the process, the `--wrap` command (for `--backend linux`
/// and, overriding the preset, for `--backend gvisor`) and the `--runsc`
/// executable. Later calls change nothing.
pub fn configure(wrap: Option<String>, runsc: Option<String>) {
    let _ = CONFIG.set(Config { wrap, runsc });
}

/// The prefix of a linux backend (`gvisor` false: only with `--wrap`) or a
/// gVisor one (`--wrap`, else the preset with `--runsc`, else
/// `$NSCHECK_RUNSC`, else `runsc`).
pub fn configured(gvisor: bool) -> Result<Option<Wrap>, String> {
    let config = CONFIG.get().cloned().unwrap_or_default();
    let name = if gvisor { "gvisor" } else { "linux --wrap" };
    if let Some(cmd) = &config.wrap {
        return Wrap::parse(name, cmd).map(Some);
    }
    if !gvisor {
        return Ok(None);
    }
    let runsc = config.runsc.or_else(|| std::env::var("NSCHECK_RUNSC").ok());
    Ok(Some(Wrap::gvisor(runsc.as_deref())))
}

/// The controller's end of the supervisor's own channel (key 0).
#[derive(Debug)]
pub struct Supervisor {
    chan: OwnedFd,
}

impl Supervisor {
    /// Asks the supervisor and waits (at most [`TIMEOUT`]) for its answer.
    pub fn query(&self, q: &Query) -> io::Result<Answer> {
        proto::send_frame(self.chan.as_fd(), &q.encode(), None)?;
        let deadline = Instant::now() + TIMEOUT;
        while !readable(self.chan.as_fd(), Duration::from_millis(10))? {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the supervisor did not answer within {TIMEOUT:?}"),
                ));
            }
        }
        match proto::recv_frame(self.chan.as_fd())? {
            Some((body, _)) => Answer::decode(&body),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the supervisor is gone",
            )),
        }
    }
}

/// A running wrapper and its relay thread.
#[derive(Debug)]
pub struct Wrapped {
    child: Child,
    /// Dropping it tells the relay thread to close the stream and end.
    stop: Option<OwnedFd>,
    relay: Option<JoinHandle<()>>,
    /// The wrapper's private `TMPDIR`.
    tmp: PathBuf,
    grace: Duration,
}

/// What [`start`] gives the backend.
#[derive(Debug)]
pub struct Started {
    pub wrapped: Wrapped,
    pub sup: Arc<Supervisor>,
    /// The controller's end of `t0`'s channel.
    pub t0: OwnedFd,
    /// Whether `/proc/PID/syscall` exists where the agents run.
    pub syscall_file: bool,
}

/// A backend that cannot start under `wrap`.
fn unavailable(wrap: &Wrap, msg: impl std::fmt::Display) -> BackendError {
    BackendError::Unavailable(format!("the {} backend: {msg}", wrap.name))
}

/// Starts `wrap`'s prefix with `agent __agent --supervise` under it, and
/// the relay thread; returns once the supervisor has answered its first
/// query. Every error is [`BackendError::Unavailable`].
pub fn start(wrap: &Wrap, agent: &Path) -> Result<Started, BackendError> {
    let tmp = std::env::temp_dir().join(format!(
        "nscheck-wrap-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| unavailable(wrap, format!("mkdir {tmp:?}: {e}")))?;
    let sock = |e: io::Error| unavailable(wrap, format!("socketpair: {e}"));
    let (stream, theirs) = socket_pair().map_err(sock)?;
    let mut cmd = Command::new(&wrap.argv[0]);
    cmd.args(&wrap.argv[1..])
        .arg(agent)
        .args(["__agent", "--supervise"])
        .env("TMPDIR", &tmp)
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: the closure runs between fork and exec and makes two system
    // calls, both async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(io::Error::from)?;
            set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(unavailable(
                wrap,
                format!("cannot run {:?}: {e}", wrap.argv[0]),
            ));
        }
    };
    let (sup_local, sup_relay) = socket_pair().map_err(sock)?;
    let (t0_local, t0_relay) = socket_pair().map_err(sock)?;
    let (stop, stop_relay) = socket_pair().map_err(sock)?;
    let relay = std::thread::spawn(move || {
        let mut chans = BTreeMap::from([(0, sup_relay), (1, t0_relay)]);
        let _ = relay(&stream, &stop_relay, &mut chans);
    });
    let wrapped = Wrapped {
        child,
        stop: Some(stop),
        relay: Some(relay),
        tmp,
        grace: wrap.grace,
    };
    let sup = Arc::new(Supervisor { chan: sup_local });
    let syscall_file = match sup.query(&Query::Probe) {
        Ok(Answer::Probe { syscall_file }) => syscall_file,
        Ok(a) => return Err(unavailable(wrap, format!("the supervisor answered {a:?}"))),
        Err(e) => {
            return Err(unavailable(
                wrap,
                format!(
                    "the agent did not start under `{}` ({e}); its error output says why",
                    wrap.argv.join(" ")
                ),
            ));
        }
    };
    Ok(Started {
        wrapped,
        sup,
        t0: t0_local,
        syscall_file,
    })
}

/// Numbers the private `TMPDIR`s of one process.
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The relay thread: frames from the stream to the local sockets, frames
/// from the local sockets to the stream, until `stop` or the supervisor's
/// channel closes, or the stream ends. Key 0 carries queries and answers;
/// a [`mux::NEW`] frame makes a local socket pair for the new key and
/// passes the controller's end with the frame.
fn relay(stream: &OwnedFd, stop: &OwnedFd, chans: &mut BTreeMap<u32, OwnedFd>) -> io::Result<()> {
    loop {
        let (first, ready) =
            mux::wait_ready(&[stream.as_fd(), stop.as_fd()], chans, PollTimeout::NONE)?;
        let (stream_in, stop_in) = (first[0], first[1]);
        if stop_in {
            return Ok(());
        }
        if stream_in {
            let Some(frame) = mux::recv(stream.as_fd())? else {
                return Ok(());
            };
            deliver(frame, chans)?;
        }
        for key in ready {
            let Some(chan) = chans.get(&key) else {
                continue;
            };
            match proto::recv_frame(chan.as_fd()) {
                Ok(Some((payload, _))) => {
                    let kind = if key == 0 { mux::QUERY } else { mux::DATA };
                    mux::send(stream.as_fd(), key, kind, &payload)?;
                }
                _ if key == 0 => return Ok(()),
                _ => {
                    chans.remove(&key);
                }
            }
        }
    }
}

/// Hands a frame from the supervisor to the local socket of its key.
fn deliver(frame: mux::Frame, chans: &mut BTreeMap<u32, OwnedFd>) -> io::Result<()> {
    let Some(chan) = chans.get(&frame.key) else {
        // A task whose socket the controller closed.
        return Ok(());
    };
    match frame.kind {
        mux::NEW => {
            let (new_key, payload) = mux::split_new(&frame.body)?;
            let (ours, theirs) = socket_pair()?;
            proto::send_frame(chan.as_fd(), payload, Some(theirs.as_fd()))?;
            chans.insert(new_key, ours);
        }
        _ => proto::send_frame(chan.as_fd(), &frame.body, None)?,
    }
    Ok(())
}

impl Wrapped {
    /// The wrapper's private `TMPDIR`, removed when it ends.
    pub fn tmpdir(&self) -> &Path {
        &self.tmp
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(relay) = self.relay.take() {
            let _ = relay.join();
        }
        let deadline = Instant::now() + self.grace;
        let exited = loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break true,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break false,
            }
        };
        if !exited {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}
