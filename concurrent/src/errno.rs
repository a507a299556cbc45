//! The errors the implementation returns, with their Linux x86-64 numbers.

use std::fmt;

/// An errno, named as in `errno.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    E2BIG,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EEXIST,
    EINVAL,
    ENOSPC,
    ENOMSG,
    EIDRM,
}

impl Errno {
    /// The Linux x86-64 number.
    pub fn number(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::ESRCH => 3,
            Errno::EINTR => 4,
            Errno::E2BIG => 7,
            Errno::ECHILD => 10,
            Errno::EAGAIN => 11,
            Errno::ENOMEM => 12,
            Errno::EACCES => 13,
            Errno::EEXIST => 17,
            Errno::EINVAL => 22,
            Errno::ENOSPC => 28,
            Errno::ENOMSG => 42,
            Errno::EIDRM => 43,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Errno {}
