//! `kernel.ns_last_pid` and `kernel.pid_max` of the caller's active PID
//! namespace: a read, or a write after the permission check of its file
//! and its handler (the model's `pid_sysctl`).

use crate::errno::Errno;
use crate::proc::{ProcId, System};
use crate::task::CAP_SYS_ADMIN;

/// The PID sysctls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidSysctl {
    /// `kernel.ns_last_pid`.
    NsLastPid,
    /// `kernel.pid_max`.
    PidMax,
}

impl System {
    /// Reads (`value` is `None`) or writes a PID sysctl as `task`.
    pub fn pid_sysctl(
        &self,
        task: ProcId,
        name: PidSysctl,
        value: Option<i64>,
    ) -> Result<i64, Errno> {
        let cred = self.creds(task);
        let ns = self.struct_pid(task).ns().clone();
        match (name, value) {
            (PidSysctl::NsLastPid, None) => Ok(ns.last_pid()),
            (PidSysctl::PidMax, None) => Ok(ns.pid_max()),
            // Owner-writable for the namespace's root or CAP_SYS_ADMIN
            // (`pid_table_root_permissions`), then the range (R10).
            (PidSysctl::PidMax, Some(_)) if cred.euid != 0 && !cred.capable(CAP_SYS_ADMIN) => {
                Err(Errno::EACCES)
            }
            (PidSysctl::PidMax, Some(v)) => ns.set_pid_max(v).map(|()| 0),
            // Mode 0666; the handler wants checkpoint/restore rights before
            // it checks the range (R6).
            (PidSysctl::NsLastPid, Some(_)) if !cred.checkpoint_restore() => Err(Errno::EPERM),
            (PidSysctl::NsLastPid, Some(v)) => ns.set_last_pid(v).map(|()| 0),
        }
    }
}
