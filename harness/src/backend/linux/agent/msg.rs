//! The System V message calls, made as raw system calls (no library wraps
//! them safely), and the buffers they read and write.
//!
//! The int arguments go to the kernel as 64-bit values, sign-extended: the
//! kernel truncates them itself, exactly as for a C caller.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nscheck_model::abi::{IPC_INFO, IPC_SET, IPC_STAT, MSG_INFO, MSG_STAT, MSG_STAT_ANY};
use nscheck_model::{Detail, MsgInfo, MsgSet, MsqidDs};

use crate::backend::linux::proto::WireOutcome;

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

/// The buffers that `msgctl` gets: `info` for `IPC_INFO` and `MSG_INFO`,
/// `ds` for every other command.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct MsgctlBuf {
    ds: Msqid64Ds,
    info: RawMsgInfo,
}

/// A raw system call's result: the value, or the errno.
fn sys(ret: libc::c_long) -> WireOutcome {
    match Errno::result(ret) {
        Ok(v) => WireOutcome::val(v, Detail::None),
        Err(e) => WireOutcome::errno(e as i32),
    }
}

/// `msgget(key, msgflg)`.
pub(super) fn msgget(key: i64, msgflg: i64) -> WireOutcome {
    // SAFETY: integer arguments only.
    sys(unsafe { libc::syscall(libc::SYS_msgget, key, msgflg) })
}

/// `msgsnd` of a `struct msgbuf` with `mtype` and `text`.
pub(super) fn msgsnd(msqid: i64, mtype: i64, text: &[u8], msgflg: i64) -> WireOutcome {
    let mut buf = Vec::with_capacity(8 + text.len());
    buf.extend_from_slice(&mtype.to_ne_bytes());
    buf.extend_from_slice(text);
    // SAFETY: the kernel reads the `long` mtype and `text.len()` bytes of
    // text, which is `buf`, alive across the call.
    sys(unsafe { libc::syscall(libc::SYS_msgsnd, msqid, buf.as_ptr(), text.len(), msgflg) })
}

/// The size of the `long` mtype that starts a `struct msgbuf`.
const MTYPE: NonZeroUsize = NonZeroUsize::new(8).expect("not zero");

/// An anonymous private mapping, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<libc::c_void>,
    len: NonZeroUsize,
}

impl Mapping {
    /// A fresh mapping of `len` bytes, allocated only where written.
    fn new(len: NonZeroUsize) -> Result<Mapping, String> {
        // SAFETY: a fresh anonymous mapping where the kernel picks the
        // address, so it overlaps nothing this process uses.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
            )
        };
        match ptr {
            Ok(ptr) => Ok(Mapping { ptr, len }),
            Err(e) => {
                let e = std::io::Error::from(e);
                Err(format!("mmap of a {len}-byte msgrcv buffer: {e}"))
            }
        }
    }

    /// The whole mapping.
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes (zero where nothing
        // wrote) and lives as long as `self`; only the kernel writes to it,
        // and never while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>().as_ptr(), self.len.get()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what mmap returned, and no
        // borrow of the mapping outlives `self`.
        let _ = unsafe { munmap(self.ptr, self.len.get()) };
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
pub(super) fn msgrcv(
    msqid: i64,
    msgsz: i64,
    msgtyp: i64,
    msgflg: i64,
) -> Result<WireOutcome, String> {
    let text_room = msgsz.clamp(0, i32::MAX as i64) as usize;
    let buf = Mapping::new(MTYPE.saturating_add(text_room))?;
    // SAFETY: the kernel accesses at most `buf.len` bytes (see above), and
    // nothing else uses the mapping during the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_msgrcv,
            msqid,
            buf.ptr.as_ptr(),
            msgsz,
            msgtyp,
            msgflg,
        )
    };
    let r = match Errno::result(r) {
        Ok(r) => r,
        Err(e) => return Ok(WireOutcome::errno(e as i32)),
    };
    let (mtype, text) = buf.bytes().split_at(MTYPE.get());
    Ok(WireOutcome::val(
        r,
        Detail::Msg {
            mtype: i64::from_ne_bytes(mtype.try_into().expect("the size of a long")),
            text: text[..(r as usize).min(text.len())].to_vec(),
        },
    ))
}

/// A raw `msgctl(msqid, cmd)` on `buf`; see [`MsgctlBuf`] for which member
/// the command reads or writes.
fn msgctl_raw(msqid: i64, cmd: i64, buf: &mut MsgctlBuf) -> libc::c_long {
    let ptr: *mut libc::c_void = if cmd == IPC_INFO || cmd == MSG_INFO {
        (&raw mut buf.info).cast()
    } else {
        (&raw mut buf.ds).cast()
    };
    // SAFETY: the kernel writes a `struct msginfo` for `IPC_INFO` and
    // `MSG_INFO`, and reads or writes at most a `struct msqid64_ds` for
    // every other command (a `cmd` that only its low 32 bits make an info
    // command writes the smaller struct into `ds`); `ptr` points to a live
    // member of that type.
    unsafe { libc::syscall(libc::SYS_msgctl, msqid, cmd, ptr) }
}

/// `msgctl` with a buffer that fits every command.
pub(super) fn msgctl(msqid: i64, cmd: i64, set: Option<MsgSet>) -> WireOutcome {
    let mut buf = MsgctlBuf::default();
    if cmd == IPC_SET {
        // A field the script leaves out keeps the queue's current value, as
        // the model does. MSG_STAT_ANY needs no permission; where it fails
        // (no such index) IPC_SET fails its own lookup anyway.
        let mut cur = MsgctlBuf::default();
        let mut ds = if msgctl_raw(msqid & 0x7fff, MSG_STAT_ANY, &mut cur) == -1 {
            Msqid64Ds::default()
        } else {
            cur.ds
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
    let r = match Errno::result(msgctl_raw(msqid, cmd, &mut buf)) {
        Ok(r) => r,
        Err(e) => return WireOutcome::errno(e as i32),
    };
    let detail = match cmd {
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let ds = buf.ds;
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
            let i = buf.info;
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
