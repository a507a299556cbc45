//! The wire protocol between the controller and its agents.
//!
//! Every agent talks to the controller over its own `AF_UNIX` stream socket.
//! A frame is a little-endian `u32` length followed by that many bytes of
//! payload; a frame may carry one file descriptor (`SCM_RIGHTS`), which
//! travels with its first byte. The controller sends [`Syscall`]s; an agent
//! answers each with one [`Reply`] (except `exit`, which never answers), and
//! a new agent introduces itself with [`Reply::Hello`].

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};

use nscheck_model::{Detail, MsgInfo, MsgSet, MsqidDs, Outcome, Ret, Syscall, Sysctl};

/// What an agent sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A new agent is ready: its pid in the controller's `/proc` and in its
    /// own PID namespace.
    Hello { host_pid: i64, ns_pid: i64 },
    /// The call returned. An errno that the model does not name travels as
    /// its number and is rejected by the controller.
    Outcome(WireOutcome),
    /// The agent could not make the call at all (not a result of the call).
    Failure(String),
    /// The agent refused the call because the model does not specify it
    /// (a `set_tid` entry for the host's PID namespace), or because the
    /// implementation under it lacks what the call needs (the message then
    /// starts with `missing: `, see [`MISSING`]).
    Unsupported(String),
    /// The agent got a call that may sleep and is about to make it. Only
    /// an agent told to announce its calls sends it, for the calls of
    /// [`announced`]: where `/proc/PID/syscall` is absent, this is
    /// how the controller knows that a task asleep is asleep in its call.
    Started,
}

/// Whether an agent that announces its calls sends [`Reply::Started`]
/// before `call`: the calls that may sleep. The agent and the controller
/// both ask this one function, so they never disagree on which reply
/// comes.
pub fn announced(call: &Syscall) -> bool {
    matches!(
        call,
        Syscall::Msgsnd { .. } | Syscall::Msgrcv { .. } | Syscall::Waitpid { .. }
    )
}

/// How a refusal for something the implementation under the agent lacks
/// begins (an absent sysctl file, say); `docs/SCRIPT.md` documents the
/// shape, which the divergence classes call "missing".
pub const MISSING: &str = "missing: ";

/// An [`Outcome`] whose errno is still a raw number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireOutcome {
    /// The return value, or `-errno`'s number where `err` is set.
    pub value: i64,
    /// Whether the call failed; `value` is then the errno number.
    pub err: bool,
    pub detail: Detail,
}

impl WireOutcome {
    /// A successful call.
    pub fn val(value: i64, detail: Detail) -> WireOutcome {
        WireOutcome {
            value,
            err: false,
            detail,
        }
    }

    /// A failed call with errno number `errno`.
    pub fn errno(errno: i32) -> WireOutcome {
        WireOutcome {
            value: errno.into(),
            err: true,
            detail: Detail::None,
        }
    }

    /// The outcome in the model's terms; `None` for an errno the model does
    /// not know.
    pub fn to_outcome(&self) -> Option<Outcome> {
        let ret = if self.err {
            Ret::Err(nscheck_model::Errno::from_number(
                i32::try_from(self.value).ok()?,
            )?)
        } else {
            Ret::Val(self.value)
        };
        Some(Outcome {
            ret,
            detail: self.detail.clone(),
        })
    }
}

/// The largest frame either side accepts (a 16 MiB message text and change).
pub const MAX_FRAME: usize = (1 << 31) - 1;

/// A malformed frame.
pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad frame: {what}"))
}

/// Appends fields to a payload.
#[derive(Debug, Default)]
pub(super) struct Enc(pub(super) Vec<u8>);

impl Enc {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(super) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(super) fn opt(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.i64(b.len() as i64);
        self.0.extend_from_slice(b);
    }
}

/// Reads fields from a payload.
#[derive(Debug)]
pub(super) struct Dec<'a> {
    pub(super) buf: &'a [u8],
}

impl Dec<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.buf.len() < n {
            return Err(bad("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn i64(&mut self) -> io::Result<i64> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    pub(super) fn opt(&mut self) -> io::Result<Option<i64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.i64()?),
        })
    }

    pub(super) fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let n = usize::try_from(self.i64()?).map_err(|_| bad("negative length"))?;
        Ok(self.take(n)?.to_vec())
    }

    pub(super) fn done(&self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes"))
        }
    }
}

/// Encodes a call.
pub fn encode_call(call: &Syscall) -> Vec<u8> {
    let mut e = Enc::default();
    match call {
        Syscall::Msgget { key, msgflg } => {
            e.u8(0);
            e.i64(*key);
            e.i64(*msgflg);
        }
        Syscall::Msgsnd {
            msqid,
            mtype,
            text,
            msgflg,
        } => {
            e.u8(1);
            e.i64(*msqid);
            e.i64(*mtype);
            e.bytes(text);
            e.i64(*msgflg);
        }
        Syscall::Msgrcv {
            msqid,
            msgsz,
            msgtyp,
            msgflg,
        } => {
            e.u8(2);
            e.i64(*msqid);
            e.i64(*msgsz);
            e.i64(*msgtyp);
            e.i64(*msgflg);
        }
        Syscall::Msgctl { msqid, cmd, set } => {
            e.u8(3);
            e.i64(*msqid);
            e.i64(*cmd);
            match set {
                None => e.u8(0),
                Some(s) => {
                    e.u8(1);
                    e.opt(s.msg_qbytes);
                    e.opt(s.uid);
                    e.opt(s.gid);
                    e.opt(s.mode);
                }
            }
        }
        Syscall::Sysctl { name, value } => {
            e.u8(4);
            let idx = Sysctl::ALL.iter().position(|s| s == name).unwrap_or(0);
            e.u8(idx as u8);
            e.opt(*value);
        }
        Syscall::Fork => e.u8(5),
        Syscall::Clone { flags, set_tid } => {
            e.u8(6);
            e.i64(*flags);
            e.i64(set_tid.len() as i64);
            for &t in set_tid {
                e.i64(t);
            }
        }
        Syscall::Unshare { flags } => {
            e.u8(7);
            e.i64(*flags);
        }
        Syscall::Exit { code } => {
            e.u8(8);
            e.i64(*code);
        }
        Syscall::Waitpid { pid } => {
            e.u8(9);
            e.i64(*pid);
        }
        Syscall::Getpid => e.u8(10),
        Syscall::Getppid => e.u8(11),
        Syscall::Setsid => e.u8(12),
        Syscall::Getsid { pid } => {
            e.u8(13);
            e.i64(*pid);
        }
        Syscall::Setpgid { pid, pgid } => {
            e.u8(14);
            e.i64(*pid);
            e.i64(*pgid);
        }
        Syscall::Getpgid { pid } => {
            e.u8(15);
            e.i64(*pid);
        }
        Syscall::Setuid { uid } => {
            e.u8(16);
            e.i64(*uid);
        }
        Syscall::Setgid { gid } => {
            e.u8(17);
            e.i64(*gid);
        }
        Syscall::Capdrop { cap } => {
            e.u8(18);
            e.i64(*cap);
        }
    }
    e.0
}

/// Decodes a call.
pub fn decode_call(buf: &[u8]) -> io::Result<Syscall> {
    let mut d = Dec { buf };
    let call = match d.u8()? {
        0 => Syscall::Msgget {
            key: d.i64()?,
            msgflg: d.i64()?,
        },
        1 => Syscall::Msgsnd {
            msqid: d.i64()?,
            mtype: d.i64()?,
            text: d.bytes()?,
            msgflg: d.i64()?,
        },
        2 => Syscall::Msgrcv {
            msqid: d.i64()?,
            msgsz: d.i64()?,
            msgtyp: d.i64()?,
            msgflg: d.i64()?,
        },
        3 => Syscall::Msgctl {
            msqid: d.i64()?,
            cmd: d.i64()?,
            set: match d.u8()? {
                0 => None,
                _ => Some(MsgSet {
                    msg_qbytes: d.opt()?,
                    uid: d.opt()?,
                    gid: d.opt()?,
                    mode: d.opt()?,
                }),
            },
        },
        4 => Syscall::Sysctl {
            name: *Sysctl::ALL
                .get(usize::from(d.u8()?))
                .ok_or_else(|| bad("sysctl"))?,
            value: d.opt()?,
        },
        5 => Syscall::Fork,
        6 => {
            let flags = d.i64()?;
            let n = d.i64()?;
            let mut set_tid = Vec::new();
            // Each entry is read from the frame, so a bad count fails at the
            // frame's end instead of allocating; any length a script can
            // write (clone3 itself refuses more than 32) round-trips.
            for _ in 0..n.max(0) {
                set_tid.push(d.i64()?);
            }
            Syscall::Clone { flags, set_tid }
        }
        7 => Syscall::Unshare { flags: d.i64()? },
        8 => Syscall::Exit { code: d.i64()? },
        9 => Syscall::Waitpid { pid: d.i64()? },
        10 => Syscall::Getpid,
        11 => Syscall::Getppid,
        12 => Syscall::Setsid,
        13 => Syscall::Getsid { pid: d.i64()? },
        14 => Syscall::Setpgid {
            pid: d.i64()?,
            pgid: d.i64()?,
        },
        15 => Syscall::Getpgid { pid: d.i64()? },
        16 => Syscall::Setuid { uid: d.i64()? },
        17 => Syscall::Setgid { gid: d.i64()? },
        18 => Syscall::Capdrop { cap: d.i64()? },
        _ => return Err(bad("unknown call")),
    };
    d.done()?;
    Ok(call)
}

/// Encodes a reply.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut e = Enc::default();
    match reply {
        Reply::Hello { host_pid, ns_pid } => {
            e.u8(0);
            e.i64(*host_pid);
            e.i64(*ns_pid);
        }
        Reply::Outcome(o) => {
            e.u8(1);
            e.u8(u8::from(o.err));
            e.i64(o.value);
            match &o.detail {
                Detail::None => e.u8(0),
                Detail::Msg { mtype, text } => {
                    e.u8(1);
                    e.i64(*mtype);
                    e.bytes(text);
                }
                Detail::Stat(ds) => {
                    e.u8(2);
                    for v in [
                        ds.key, ds.uid, ds.gid, ds.cuid, ds.cgid, ds.mode, ds.seq, ds.qnum,
                        ds.cbytes, ds.qbytes, ds.lspid, ds.lrpid,
                    ] {
                        e.i64(v);
                    }
                }
                Detail::Info(i) => {
                    e.u8(3);
                    for v in [
                        i.msgpool, i.msgmap, i.msgmax, i.msgmnb, i.msgmni, i.msgssz, i.msgtql,
                        i.msgseg,
                    ] {
                        e.i64(v);
                    }
                }
            }
        }
        Reply::Failure(msg) => {
            e.u8(2);
            e.bytes(msg.as_bytes());
        }
        Reply::Unsupported(msg) => {
            e.u8(3);
            e.bytes(msg.as_bytes());
        }
        Reply::Started => e.u8(4),
    }
    e.0
}

/// Decodes a reply.
pub fn decode_reply(buf: &[u8]) -> io::Result<Reply> {
    let mut d = Dec { buf };
    let reply = match d.u8()? {
        0 => Reply::Hello {
            host_pid: d.i64()?,
            ns_pid: d.i64()?,
        },
        1 => {
            let err = d.u8()? != 0;
            let value = d.i64()?;
            let detail = match d.u8()? {
                0 => Detail::None,
                1 => Detail::Msg {
                    mtype: d.i64()?,
                    text: d.bytes()?,
                },
                2 => Detail::Stat(MsqidDs {
                    key: d.i64()?,
                    uid: d.i64()?,
                    gid: d.i64()?,
                    cuid: d.i64()?,
                    cgid: d.i64()?,
                    mode: d.i64()?,
                    seq: d.i64()?,
                    qnum: d.i64()?,
                    cbytes: d.i64()?,
                    qbytes: d.i64()?,
                    lspid: d.i64()?,
                    lrpid: d.i64()?,
                }),
                3 => Detail::Info(MsgInfo {
                    msgpool: d.i64()?,
                    msgmap: d.i64()?,
                    msgmax: d.i64()?,
                    msgmnb: d.i64()?,
                    msgmni: d.i64()?,
                    msgssz: d.i64()?,
                    msgtql: d.i64()?,
                    msgseg: d.i64()?,
                }),
                _ => return Err(bad("unknown detail")),
            };
            Reply::Outcome(WireOutcome { value, err, detail })
        }
        2 => Reply::Failure(String::from_utf8_lossy(&d.bytes()?).into_owned()),
        3 => Reply::Unsupported(String::from_utf8_lossy(&d.bytes()?).into_owned()),
        4 => Reply::Started,
        _ => return Err(bad("unknown reply")),
    };
    d.done()?;
    Ok(reply)
}

/// Sends one frame on `sock`, with `pass` attached if given.
pub fn send_frame(
    sock: BorrowedFd<'_>,
    payload: &[u8],
    pass: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(bad("too large"));
    }
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(payload);
    let mut sent = 0;
    let mut pass = pass.map(|fd| fd.as_raw_fd());
    while sent < frame.len() {
        let n = sendmsg(sock.as_raw_fd(), &frame[sent..], pass.take())?;
        sent += n;
    }
    Ok(())
}

/// `sendmsg` of `data` with an optional `SCM_RIGHTS` fd; returns the bytes
/// sent. Retries on `EINTR`.
fn sendmsg(sock: RawFd, data: &[u8], pass: Option<RawFd>) -> io::Result<usize> {
    let iov = [IoSlice::new(data)];
    let fds = pass.as_slice();
    let cmsgs: &[ControlMessage<'_>] = match pass {
        Some(_) => &[ControlMessage::ScmRights(fds)],
        None => &[],
    };
    loop {
        match socket::sendmsg::<UnixAddr>(sock, &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => {}
            r => return Ok(r?),
        }
    }
}

/// `recvmsg` into `buf`, collecting any `SCM_RIGHTS` fds (close-on-exec).
/// Returns the bytes read (0 at end of file). Retries on `EINTR`.
fn recvmsg(sock: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    // Room for the control messages of a frame: one fd, with room to spare.
    let mut cbuf = nix::cmsg_space!([RawFd; 12]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = loop {
        match socket::recvmsg::<()>(sock, &mut iov, Some(&mut cbuf), MsgFlags::MSG_CMSG_CLOEXEC) {
            Err(Errno::EINTR) => {}
            r => break r?,
        }
    };
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            for fd in received {
                // SAFETY: the kernel installed `fd` in this process for this
                // message, and nothing else knows it: we own it now.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok(msg.bytes)
}

/// Receives one frame from `sock` with the fds that came with it; `None` at
/// end of file before a frame starts.
pub fn recv_frame(sock: BorrowedFd<'_>) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut fds = Vec::new();
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        let n = recvmsg(sock.as_raw_fd(), &mut head[got..], &mut fds)?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(bad("end of file inside a frame header"));
        }
        got += n;
    }
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(bad("too large"));
    }
    let mut payload = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = recvmsg(sock.as_raw_fd(), &mut payload[got..], &mut fds)?;
        if n == 0 {
            return Err(bad("end of file inside a frame"));
        }
        got += n;
    }
    Ok(Some((payload, fds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_round_trip() {
        let calls = [
            Syscall::Msgsnd {
                msqid: -1,
                mtype: i64::MIN,
                text: b"a\0b".to_vec(),
                msgflg: 0o4000,
            },
            Syscall::Msgctl {
                msqid: 5,
                cmd: 1,
                set: Some(MsgSet {
                    msg_qbytes: Some(7),
                    uid: None,
                    gid: Some(-1),
                    mode: None,
                }),
            },
            Syscall::Sysctl {
                name: Sysctl::PidMax,
                value: Some(3),
            },
            Syscall::Clone {
                flags: 0x0800_0000,
                set_tid: vec![7, 9],
            },
            Syscall::Capdrop { cap: 24 },
        ];
        for c in calls {
            assert_eq!(decode_call(&encode_call(&c)).unwrap(), c);
        }
    }

    #[test]
    fn replies_round_trip() {
        let replies = [
            Reply::Hello {
                host_pid: 1234,
                ns_pid: 1,
            },
            Reply::Outcome(WireOutcome::errno(42)),
            Reply::Outcome(WireOutcome::val(
                3,
                Detail::Msg {
                    mtype: 2,
                    text: b"xyz".to_vec(),
                },
            )),
            Reply::Outcome(WireOutcome::val(0, Detail::Stat(MsqidDs::default()))),
            Reply::Failure("boom".into()),
            Reply::Unsupported("host".into()),
            Reply::Started,
        ];
        for r in replies {
            assert_eq!(decode_reply(&encode_reply(&r)).unwrap(), r);
        }
        assert!(decode_reply(&[1, 0]).is_err());
    }
}
