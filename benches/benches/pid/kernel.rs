//! The real kernel's fork+exit+wait, with nix: the child calls `_exit` at
//! once and the parent reaps it. It runs in the bench process's own PID
//! namespace, which a fork and its reaping leave as they found it.

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// `fork()`, `_exit(0)` in the child, `waitpid(child)` in the parent.
pub fn fork_exit_wait() {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe, so
    // this is sound even if another thread of this process holds a lock.
    match unsafe { fork() }.expect("fork") {
        // SAFETY: `_exit` takes no pointers and never returns.
        ForkResult::Child => unsafe { libc::_exit(0) },
        ForkResult::Parent { child } => {
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(status, WaitStatus::Exited(child, 0));
        }
    }
}
