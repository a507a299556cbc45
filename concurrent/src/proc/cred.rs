//! A task's full credentials, and `setuid`, `setgid` and `capdrop`
//! (`kernel/sys.c`, `kernel/capability.c` with `PR_CAPBSET_DROP`), under
//! the task's own lock.

use crate::errno::Errno;
use crate::proc::{ProcId, System};
use crate::sync::lock;
use crate::task::{CAP_CHECKPOINT_RESTORE, CAP_SYS_ADMIN, Cred};

/// `CAP_SETGID`.
const CAP_SETGID: u32 = 6;
/// `CAP_SETUID`.
const CAP_SETUID: u32 = 7;
/// `CAP_SETPCAP`.
const CAP_SETPCAP: u32 = 8;
/// `CAP_LAST_CAP`.
const CAP_LAST_CAP: u32 = 40;

/// A task's credentials and capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creds {
    /// The real user id.
    pub uid: i64,
    /// The effective user id.
    pub euid: i64,
    /// The saved user id.
    pub suid: i64,
    /// The real group id.
    pub gid: i64,
    /// The effective group id.
    pub egid: i64,
    /// The saved group id.
    pub sgid: i64,
    /// The effective capability set, one bit per capability.
    pub caps: u64,
    /// The bounding set.
    pub bounding: u64,
}

impl Creds {
    /// Root with every capability, as `t0` starts.
    pub fn root() -> Creds {
        let all = (1u64 << (CAP_LAST_CAP + 1)) - 1;
        Creds {
            uid: 0,
            euid: 0,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            caps: all,
            bounding: all,
        }
    }

    /// Whether the effective set holds `cap`.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }

    /// `checkpoint_restore_ns_capable`: `CAP_SYS_ADMIN` or
    /// `CAP_CHECKPOINT_RESTORE`, as `ns_last_pid` and `set_tid` require.
    pub fn checkpoint_restore(&self) -> bool {
        self.capable(CAP_SYS_ADMIN) || self.capable(CAP_CHECKPOINT_RESTORE)
    }

    /// What the IPC permission checks look at.
    pub fn ipc(&self) -> Cred {
        Cred {
            euid: self.euid as u32,
            egid: self.egid as u32,
            caps: self.caps,
        }
    }
}

impl System {
    /// `task`'s credentials.
    pub fn creds(&self, task: ProcId) -> Creds {
        lock(&self.proc(task).own).cred
    }

    /// `setuid(uid)`.
    pub fn setuid(&self, task: ProcId, uid: i64) -> Result<i64, Errno> {
        self.setid(task, uid, true)
    }

    /// `setgid(gid)`.
    pub fn setgid(&self, task: ProcId, gid: i64) -> Result<i64, Errno> {
        self.setid(task, gid, false)
    }

    /// `setuid` (`is_uid`) or `setgid`: a privileged caller sets all three
    /// ids, another may set its effective id to its real or saved one.
    fn setid(&self, task: ProcId, id: i64, is_uid: bool) -> Result<i64, Errno> {
        let proc = self.proc(task);
        let mut own = lock(&proc.own);
        let cred = &mut own.cred;
        let id = id as u32;
        if id == u32::MAX {
            return Err(Errno::EINVAL);
        }
        let id = i64::from(id);
        let (cap, real, saved) = if is_uid {
            (CAP_SETUID, cred.uid, cred.suid)
        } else {
            (CAP_SETGID, cred.gid, cred.sgid)
        };
        let privileged = cred.capable(cap);
        if !privileged && id != real && id != saved {
            return Err(Errno::EPERM);
        }
        match (is_uid, privileged) {
            (true, true) => (cred.uid, cred.euid, cred.suid) = (id, id, id),
            (true, false) => cred.euid = id,
            (false, true) => (cred.gid, cred.egid, cred.sgid) = (id, id, id),
            (false, false) => cred.egid = id,
        }
        // Leaving uid 0 clears the permitted and effective sets.
        if is_uid && cred.uid != 0 && cred.euid != 0 && cred.suid != 0 {
            cred.caps = 0;
        }
        Ok(0)
    }

    /// `capdrop(cap)`: drops `cap` from the effective and bounding sets;
    /// needs `CAP_SETPCAP`.
    pub fn capdrop(&self, task: ProcId, cap: i64) -> Result<i64, Errno> {
        let proc = self.proc(task);
        let mut own = lock(&proc.own);
        let cred = &mut own.cred;
        // `cap_prctl_drop` checks CAP_SETPCAP before the number.
        if !cred.capable(CAP_SETPCAP) {
            return Err(Errno::EPERM);
        }
        if !(0..=i64::from(CAP_LAST_CAP)).contains(&cap) {
            return Err(Errno::EINVAL);
        }
        cred.caps &= !(1 << cap);
        cred.bounding &= !(1 << cap);
        Ok(0)
    }
}
