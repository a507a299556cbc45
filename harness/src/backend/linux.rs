//! The Linux backend: real system calls in fresh IPC and PID namespaces.

use nscheck_model::{Event, Step, Syscall, TaskId};

use super::{Backend, BackendError};

/// Runs calls on the real kernel.
#[derive(Debug)]
pub struct LinuxBackend {}

impl LinuxBackend {
    /// Starts `t0` in fresh namespaces.
    pub fn new() -> Result<LinuxBackend, BackendError> {
        Err(BackendError::Unavailable(
            "the linux backend is not built yet".into(),
        ))
    }
}

impl Backend for LinuxBackend {
    fn call(&mut self, _task: TaskId, _call: &Syscall) -> Result<Step, BackendError> {
        unimplemented!()
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        unimplemented!()
    }

    fn pidof(&mut self, _viewer: TaskId, _target: TaskId) -> Result<i64, BackendError> {
        unimplemented!()
    }
}
