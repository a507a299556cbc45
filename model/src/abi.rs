//! The Linux x86-64 ABI values that scripts, the model and the real kernel share.
//!
//! Every number here is the kernel's own (`include/uapi/linux/msg.h`, `ipc.h`,
//! `sched.h`, `capability.h`, `asm-generic/errno*.h`). The table of symbolic
//! constants is the one place where a script name becomes a number.

/// `IPC_PRIVATE`: the key that always creates a new queue.
pub const IPC_PRIVATE: i64 = 0;
/// `IPC_CREAT`: create the queue if the key does not exist.
pub const IPC_CREAT: i64 = 0o1000;
/// `IPC_EXCL`: with `IPC_CREAT`, fail if the key exists.
pub const IPC_EXCL: i64 = 0o2000;
/// `IPC_NOWAIT`: return instead of sleeping.
pub const IPC_NOWAIT: i64 = 0o4000;
/// `MSG_NOERROR`: truncate a message that is too long.
pub const MSG_NOERROR: i64 = 0o10000;
/// `MSG_EXCEPT`: receive the first message whose type differs.
pub const MSG_EXCEPT: i64 = 0o20000;
/// `MSG_COPY`: copy a message by index without removing it.
pub const MSG_COPY: i64 = 0o40000;
/// `IPC_RMID`.
pub const IPC_RMID: i64 = 0;
/// `IPC_SET`.
pub const IPC_SET: i64 = 1;
/// `IPC_STAT`.
pub const IPC_STAT: i64 = 2;
/// `IPC_INFO`.
pub const IPC_INFO: i64 = 3;
/// `MSG_STAT`.
pub const MSG_STAT: i64 = 11;
/// `MSG_INFO`.
pub const MSG_INFO: i64 = 12;
/// `MSG_STAT_ANY` (4.17 and later).
pub const MSG_STAT_ANY: i64 = 13;
/// `CLONE_NEWIPC`.
pub const CLONE_NEWIPC: i64 = 0x0800_0000;
/// `CLONE_NEWPID`.
pub const CLONE_NEWPID: i64 = 0x2000_0000;

/// `CAP_DAC_OVERRIDE`.
pub const CAP_DAC_OVERRIDE: u32 = 1;
/// `CAP_SETGID`.
pub const CAP_SETGID: u32 = 6;
/// `CAP_SETUID`.
pub const CAP_SETUID: u32 = 7;
/// `CAP_SETPCAP`.
pub const CAP_SETPCAP: u32 = 8;
/// `CAP_IPC_OWNER`.
pub const CAP_IPC_OWNER: u32 = 15;
/// `CAP_SYS_ADMIN`.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_SYS_RESOURCE`.
pub const CAP_SYS_RESOURCE: u32 = 24;
/// `CAP_CHECKPOINT_RESTORE`.
pub const CAP_CHECKPOINT_RESTORE: u32 = 40;
/// The highest capability number on 6.18 (`CAP_LAST_CAP`).
pub const CAP_LAST_CAP: u32 = 40;

/// `MSGMAX`: the default `kernel.msgmax` of a new IPC namespace.
pub const MSGMAX: i64 = 8192;
/// `MSGMNB`: the default `kernel.msgmnb`.
pub const MSGMNB: i64 = 16384;
/// `MSGMNI`: the default `kernel.msgmni`.
pub const MSGMNI: i64 = 32000;
/// `MSGPOOL`, reported by `IPC_INFO` only.
pub const MSGPOOL: i64 = MSGMNI * MSGMNB / 1024;
/// `MSGTQL` (and `MSGMAP`), reported by `IPC_INFO` only.
pub const MSGTQL: i64 = MSGMNB;
/// `MSGSSZ`.
pub const MSGSSZ: i64 = 16;
/// `MSGSEG`.
pub const MSGSEG: i64 = 0xffff;
/// `IPCMNI`: the number of index slots of an IPC id space.
pub const IPCMNI: i64 = 32768;
/// `IPCMNI_SHIFT`: the index occupies the low 15 bits of an id.
pub const IPCMNI_SHIFT: u32 = 15;
/// The largest sequence number plus one (`ipcid_seq_max() + 1`).
pub const SEQ_LIMIT: i64 = 65535;
/// `INT_MAX`.
pub const INT_MAX: i64 = i32::MAX as i64;
/// The default `kernel.pid_max` of a new PID namespace.
pub const PID_MAX_DEFAULT: i64 = 4_194_304;

/// The symbolic constants a script may use, with their values.
pub const CONSTANTS: &[(&str, i64)] = &[
    ("IPC_PRIVATE", IPC_PRIVATE),
    ("IPC_CREAT", IPC_CREAT),
    ("IPC_EXCL", IPC_EXCL),
    ("IPC_NOWAIT", IPC_NOWAIT),
    ("MSG_NOERROR", MSG_NOERROR),
    ("MSG_EXCEPT", MSG_EXCEPT),
    ("MSG_COPY", MSG_COPY),
    ("IPC_STAT", IPC_STAT),
    ("IPC_SET", IPC_SET),
    ("IPC_RMID", IPC_RMID),
    ("IPC_INFO", IPC_INFO),
    ("MSG_INFO", MSG_INFO),
    ("MSG_STAT", MSG_STAT),
    ("MSG_STAT_ANY", MSG_STAT_ANY),
    ("CLONE_NEWPID", CLONE_NEWPID),
    ("CLONE_NEWIPC", CLONE_NEWIPC),
    ("LONG_MIN", i64::MIN),
    ("LONG_MAX", i64::MAX),
    ("CAP_SYS_ADMIN", CAP_SYS_ADMIN as i64),
    ("CAP_SYS_RESOURCE", CAP_SYS_RESOURCE as i64),
    ("CAP_IPC_OWNER", CAP_IPC_OWNER as i64),
    ("CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE as i64),
];

/// Looks up a symbolic constant by name.
pub fn constant(name: &str) -> Option<i64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// The capabilities a script may drop with `capdrop`.
pub const DROPPABLE_CAPS: &[u32] = &[
    CAP_SYS_ADMIN,
    CAP_SYS_RESOURCE,
    CAP_IPC_OWNER,
    CAP_CHECKPOINT_RESTORE,
];

macro_rules! errnos {
    ($($name:ident = $num:expr),* $(,)?) => {
        /// An errno, named as in `errno.h`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Errno { $($name),* }

        impl Errno {
            /// Every errno the model can return, in numeric order.
            pub const ALL: &[Errno] = &[$(Errno::$name),*];

            /// The symbolic name, e.g. `"ENOMSG"`.
            pub fn name(self) -> &'static str {
                match self { $(Errno::$name => stringify!($name)),* }
            }

            /// The Linux x86-64 number.
            pub fn number(self) -> i32 {
                match self { $(Errno::$name => $num),* }
            }

            /// The errno with this Linux number, if the model knows it.
            pub fn from_number(n: i32) -> Option<Errno> {
                match n { $($num => Some(Errno::$name),)* _ => None }
            }
        }
    };
}

errnos! {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    E2BIG = 7,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EEXIST = 17,
    EINVAL = 22,
    ENOSPC = 28,
    ENOSYS = 38,
    ENOMSG = 42,
    EIDRM = 43,
    EUSERS = 87,
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_numbers_round_trip() {
        for &e in Errno::ALL {
            assert_eq!(Errno::from_number(e.number()), Some(e));
        }
        assert_eq!(Errno::from_number(9999), None);
    }

    #[test]
    fn constants_match_the_kernel_headers() {
        let cases = [
            ("IPC_CREAT", 0o1000),
            ("MSG_COPY", 0o40000),
            ("MSG_STAT_ANY", 13),
            ("CLONE_NEWIPC", 0x0800_0000),
            ("LONG_MIN", i64::MIN),
            ("CAP_CHECKPOINT_RESTORE", 40),
        ];
        for (name, value) in cases {
            assert_eq!(constant(name), Some(value), "{name}");
        }
        assert_eq!(constant("IPC_NOPE"), None);
        assert_eq!(MSGPOOL, 512_000);
    }
}
