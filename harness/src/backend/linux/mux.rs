//! The one stream between the controller and a supervisor, for a launcher
//! run under a command prefix (`--wrap`, see [`super::wrap`]).
//!
//! A sandbox passes its standard input, a socket, through, but no file
//! descriptor crosses its boundary afterwards, and its `/proc` is not the
//! controller's. So the launcher becomes a supervisor (see
//! `agent::supervise`): it holds every agent's socket inside, relays their
//! frames over this one stream, each tagged with a channel key, and reads
//! `/proc` for the controller.
//!
//! A mux frame is a [`proto`] frame whose payload is a `u32` key, a kind
//! byte and a body. Key 0 is the supervisor's own channel (queries and
//! answers), key 1 is `t0`'s, and the supervisor gives every later agent
//! the next key. The kinds:
//!
//! - [`DATA`]: one frame of an agent's protocol ([`proto`]), to or from the
//!   agent on that key;
//! - [`NEW`]: from the supervisor only, a frame from the agent on that key
//!   that carried a new agent's socket (a `fork` reply); the body is the new
//!   key, then the frame;
//! - [`QUERY`] and [`ANSWER`]: on key 0, a [`Query`] and its answer.
//!
//! The supervisor answers a query only after relaying every frame that its
//! agents had sent before it read `/proc`, so what the controller learns
//! from an answer is never older than the replies it has received.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::proto::{self, Dec, Enc, bad};

/// A frame of an agent's protocol.
pub const DATA: u8 = 0;
/// A frame that brought a new agent's channel.
pub const NEW: u8 = 1;
/// A query to the supervisor.
pub const QUERY: u8 = 2;
/// The supervisor's answer to a query.
pub const ANSWER: u8 = 3;

/// One frame of the stream.
#[derive(Debug)]
pub struct Frame {
    pub key: u32,
    pub kind: u8,
    pub body: Vec<u8>,
}

/// Sends one frame.
pub fn send(stream: BorrowedFd<'_>, key: u32, kind: u8, body: &[u8]) -> io::Result<()> {
    let mut payload = Vec::with_capacity(5 + body.len());
    payload.extend_from_slice(&key.to_le_bytes());
    payload.push(kind);
    payload.extend_from_slice(body);
    proto::send_frame(stream, &payload, None)
}

/// Receives one frame; `None` at the end of the stream.
pub fn recv(stream: BorrowedFd<'_>) -> io::Result<Option<Frame>> {
    let Some((payload, _)) = proto::recv_frame(stream)? else {
        return Ok(None);
    };
    if payload.len() < 5 {
        return Err(bad("short mux frame"));
    }
    let key = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    Ok(Some(Frame {
        key,
        kind: payload[4],
        body: payload[5..].to_vec(),
    }))
}

/// Waits up to `timeout` for input (or the end) on `fds` and on every
/// channel of `chans`: whether each of `fds` is ready, and the keys of the
/// ready channels. An interrupted wait finds nothing ready.
pub fn wait_ready(
    fds: &[BorrowedFd<'_>],
    chans: &BTreeMap<u32, OwnedFd>,
    timeout: PollTimeout,
) -> io::Result<(Vec<bool>, Vec<u32>)> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .chain(
            chans
                .values()
                .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
        )
        .collect();
    match poll(&mut polled, timeout) {
        Err(Errno::EINTR) => return Ok((vec![false; fds.len()], Vec::new())),
        r => r?,
    };
    let ready: Vec<bool> = polled
        .iter()
        .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    let keys = chans
        .keys()
        .zip(&ready[fds.len()..])
        .filter(|(_, r)| **r)
        .map(|(k, _)| *k)
        .collect();
    Ok((ready[..fds.len()].to_vec(), keys))
}

/// The body of a [`NEW`] frame: the new key, then the frame.
pub fn new_body(new_key: u32, frame: &[u8]) -> Vec<u8> {
    let mut body = new_key.to_le_bytes().to_vec();
    body.extend_from_slice(frame);
    body
}

/// Splits the body of a [`NEW`] frame.
pub fn split_new(body: &[u8]) -> io::Result<(u32, &[u8])> {
    if body.len() < 4 {
        return Err(bad("short new-channel frame"));
    }
    Ok((
        u32::from_le_bytes([body[0], body[1], body[2], body[3]]),
        &body[4..],
    ))
}

/// What the controller asks the supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Whether the supervisor's `/proc/self/syscall` exists, and so whether
    /// a task's system call can be read at all.
    Probe,
    /// The contents of `/proc/PID/NAME`.
    Read { pid: i64, name: String },
    /// The PID namespaces of `/proc/PID/ns/pid` and its ancestors, as
    /// `procfs::pid_ns_chain` finds them; the supervisor keeps the
    /// namespace open for as long as it lives.
    NsChain { pid: i64 },
    /// The number in `init`'s PID namespace of the task that is `pid` in
    /// the supervisor's, looked for among `1..=max` (see
    /// `agent::findable`): where `/proc/PID/status` has no `NSpid` line.
    Find { init: i64, pid: i64, max: i64 },
}

/// The supervisor's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// [`Query::Probe`]: whether `/proc/self/syscall` exists.
    Probe { syscall_file: bool },
    /// The file's contents, or `None` once the process is gone.
    Read(Option<Vec<u8>>),
    /// The chain, outermost first, or `None` once the process is gone.
    NsChain(Option<Vec<u64>>),
    /// [`Query::Find`]: the number, if it was found.
    Pid(Option<i64>),
    /// The query failed with this errno.
    Errno(i32),
}

impl Query {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        match self {
            Query::Probe => e.u8(0),
            Query::Read { pid, name } => {
                e.u8(1);
                e.i64(*pid);
                e.bytes(name.as_bytes());
            }
            Query::NsChain { pid } => {
                e.u8(2);
                e.i64(*pid);
            }
            Query::Find { init, pid, max } => {
                e.u8(3);
                e.i64(*init);
                e.i64(*pid);
                e.i64(*max);
            }
        }
        e.0
    }

    pub fn decode(buf: &[u8]) -> io::Result<Query> {
        let mut d = Dec { buf };
        let q = match d.u8()? {
            0 => Query::Probe,
            1 => Query::Read {
                pid: d.i64()?,
                name: String::from_utf8_lossy(&d.bytes()?).into_owned(),
            },
            2 => Query::NsChain { pid: d.i64()? },
            3 => Query::Find {
                init: d.i64()?,
                pid: d.i64()?,
                max: d.i64()?,
            },
            _ => return Err(bad("unknown query")),
        };
        d.done()?;
        Ok(q)
    }
}

impl Answer {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        match self {
            Answer::Probe { syscall_file } => {
                e.u8(0);
                e.u8(u8::from(*syscall_file));
            }
            Answer::Read(None) => e.u8(1),
            Answer::Read(Some(b)) => {
                e.u8(2);
                e.bytes(b);
            }
            Answer::NsChain(None) => e.u8(3),
            Answer::NsChain(Some(chain)) => {
                e.u8(4);
                e.i64(chain.len() as i64);
                for &ino in chain {
                    e.i64(ino as i64);
                }
            }
            Answer::Errno(n) => {
                e.u8(5);
                e.i64((*n).into());
            }
            Answer::Pid(nr) => {
                e.u8(6);
                e.opt(*nr);
            }
        }
        e.0
    }

    pub fn decode(buf: &[u8]) -> io::Result<Answer> {
        let mut d = Dec { buf };
        let a = match d.u8()? {
            0 => Answer::Probe {
                syscall_file: d.u8()? != 0,
            },
            1 => Answer::Read(None),
            2 => Answer::Read(Some(d.bytes()?)),
            3 => Answer::NsChain(None),
            4 => {
                let n = d.i64()?;
                let mut chain = Vec::new();
                for _ in 0..n.max(0) {
                    chain.push(d.i64()? as u64);
                }
                Answer::NsChain(Some(chain))
            }
            5 => Answer::Errno(d.i64()? as i32),
            6 => Answer::Pid(d.opt()?),
            _ => return Err(bad("unknown answer")),
        };
        d.done()?;
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_answers_round_trip() {
        for q in [
            Query::Probe,
            Query::Read {
                pid: 7,
                name: "stat".into(),
            },
            Query::NsChain { pid: 3 },
            Query::Find {
                init: 2,
                pid: 9,
                max: 40,
            },
        ] {
            assert_eq!(Query::decode(&q.encode()).unwrap(), q);
        }
        for a in [
            Answer::Probe { syscall_file: true },
            Answer::Read(None),
            Answer::Read(Some(b"1 (x) S".to_vec())),
            Answer::NsChain(None),
            Answer::NsChain(Some(vec![0xEFFF_FFFC, 4026532000])),
            Answer::Errno(25),
            Answer::Pid(Some(3)),
            Answer::Pid(None),
        ] {
            assert_eq!(Answer::decode(&a.encode()).unwrap(), a);
        }
        assert_eq!(split_new(&new_body(9, b"abc")).unwrap(), (9, &b"abc"[..]));
    }
}
