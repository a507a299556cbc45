//! The model backend: the executable specification itself.

use nscheck_model::{CallError, Dialect, DigestWords, Event, Kernel, Step, Syscall, TaskId};

use super::{Backend, BackendError};

/// Runs calls on [`Kernel`].
#[derive(Debug)]
pub struct ModelBackend {
    kernel: Kernel,
}

impl ModelBackend {
    /// A fresh model in `dialect`.
    pub fn new(dialect: Dialect) -> ModelBackend {
        ModelBackend {
            kernel: Kernel::new(dialect),
        }
    }
}

impl Backend for ModelBackend {
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError> {
        Ok(self.kernel.call(task, call)?)
    }

    fn take_events(&mut self) -> Result<Vec<Event>, BackendError> {
        Ok(self.kernel.take_events())
    }

    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError> {
        Ok(self.kernel.pidof(viewer, target))
    }

    fn digest_words(&mut self, out: &mut DigestWords) -> Result<bool, BackendError> {
        self.kernel.digest_words(out);
        Ok(true)
    }
}

/// The model's refusal of a call, as a backend error: a call it does not
/// model is unsupported (a script error); any other refusal (no such task,
/// a blocked or exited caller) is a failure of the driver. Every backend
/// that runs calls on [`Kernel`] reports them so.
impl From<CallError> for BackendError {
    fn from(e: CallError) -> BackendError {
        match e {
            CallError::Unsupported(_) => BackendError::Unsupported(e.to_string()),
            _ => BackendError::Failed(e.to_string()),
        }
    }
}
