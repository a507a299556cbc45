//! Backends: the things that run a script's calls.
//!
//! Every backend numbers tasks in creation order (`t0` is [`TaskId`]`(0)`,
//! each successful `fork`/`clone` takes the next number), reports a sleeping
//! call as [`Step::Blocked`], and reports what a call did to other tasks as
//! [`Event`]s: resumed calls in the order their tasks went to sleep, then
//! killed tasks in creation order.

use std::path::Path;

use nscheck_concurrent::{ipc, pid};
use nscheck_model::{Dialect, DigestWords, Event, IpcDigest, Step, Syscall, TaskId};

pub mod concurrent;
pub mod linux;
pub mod model;

/// Why a backend could not run a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend does not implement this call (a script error, exit 2).
    #[error("{0}")]
    Unsupported(String),
    /// The backend cannot run here at all, e.g. no namespaces (exit 3).
    #[error("{0}")]
    Unavailable(String),
    /// The backend broke while running (exit 1).
    #[error("{0}")]
    Failed(String),
}

/// A system that runs calls on behalf of tasks.
pub trait Backend {
    /// Runs `call` as `task`.
    fn call(&mut self, task: TaskId, call: &Syscall) -> Result<Step, BackendError>;

    /// The events that the last call caused.
    fn take_events(&mut self) -> Result<Vec<Event>, BackendError>;

    /// `target`'s pid as `viewer` sees it; 0 where it is not visible.
    fn pidof(&mut self, viewer: TaskId, target: TaskId) -> Result<i64, BackendError>;

    /// A digest of the IPC state ([`IpcDigest`]: `MSG_INFO` of every IPC
    /// namespace, `IPC_STAT` of every queue), compared after every statement
    /// of a differential check, as words ([`DigestWords`]) into `out`,
    /// reusing its buffer: whether the backend took one. A backend that
    /// cannot take one cheaply (the kernel) returns false; then only the
    /// traces are compared.
    fn digest_words(&mut self, _out: &mut DigestWords) -> Result<bool, BackendError> {
        Ok(false)
    }

    /// [`Backend::digest_words`] as an [`IpcDigest`], for reports.
    fn digest(&mut self) -> Result<Option<IpcDigest>, BackendError> {
        let mut words = DigestWords::default();
        Ok(self.digest_words(&mut words)?.then(|| words.digest()))
    }
}

/// The kinds of backend: what `--backend` names on the command line, and
/// what a differential check compares the model with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// The executable specification.
    Model,
    /// The real kernel, in fresh IPC and PID namespaces.
    Linux,
    /// The thread-safe implementation (`nscheck-concurrent`).
    Concurrent,
    /// gVisor: the linux backend's agent inside a `runsc` sandbox (a preset
    /// of `--backend linux --wrap`, see [`linux::wrap`]).
    Gvisor,
}

impl BackendKind {
    /// The backend's name, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Model => "model",
            BackendKind::Linux => "linux",
            BackendKind::Concurrent => "concurrent",
            BackendKind::Gvisor => "gvisor",
        }
    }

    /// Whether the backend makes real system calls (the kernel, or another
    /// implementation under a wrapper): its scheduler decides which of two
    /// woken sleepers runs first, and its pids are its own.
    pub fn is_real(self) -> bool {
        matches!(self, BackendKind::Linux | BackendKind::Gvisor)
    }
}

/// Makes a fresh backend on demand: [`make`] of a kind, or a concurrent
/// backend with a mutant, say. A differential check calls it for every
/// script it runs.
pub type MakeBackend<'a> = dyn FnMut() -> Result<Box<dyn Backend>, BackendError> + 'a;

/// The variants of the concurrent implementation's PID and IPC halves
/// that follow `dialect`.
pub fn concurrent_variants(dialect: Dialect) -> (pid::Variant, ipc::Variant) {
    match dialect {
        Dialect::Mainline => (pid::Variant::Mainline, ipc::Variant::Mainline),
        Dialect::Rfc2012 => (pid::Variant::Mainline, ipc::Variant::Rfc2012),
        Dialect::Flat2007 => (pid::Variant::Flat2007, ipc::Variant::Mainline),
        Dialect::Openvz2006 => (pid::Variant::Openvz2006, ipc::Variant::Mainline),
    }
}

/// Makes a fresh backend of `kind` following `dialect`: the model and the
/// concurrent implementation follow every dialect (the latter `rfc2012` as
/// a variant of its IPC half, `flat2007` and `openvz2006` as variants of
/// its PID half), the kernel mainline only. The linux backend's agent is `agent`, or else the one
/// [`linux::agent_path`] finds. Every error is
/// [`BackendError::Unavailable`]: the backend cannot run here.
pub fn make(
    kind: BackendKind,
    dialect: Dialect,
    agent: Option<&Path>,
) -> Result<Box<dyn Backend>, BackendError> {
    if kind.is_real() && dialect != Dialect::Mainline {
        return Err(BackendError::Unavailable(format!(
            "the {} backend runs mainline semantics only, not --dialect {dialect}",
            kind.name()
        )));
    }
    Ok(match kind {
        BackendKind::Model => Box::new(model::ModelBackend::new(dialect)),
        BackendKind::Concurrent => {
            let (pid, msg) = concurrent_variants(dialect);
            Box::new(concurrent::ConcurrentBackend::with_variants(pid, msg))
        }
        BackendKind::Linux | BackendKind::Gvisor => {
            let found;
            let agent = match agent {
                Some(path) => path,
                None => {
                    found = linux::agent_path().map_err(BackendError::Unavailable)?;
                    &found
                }
            };
            let wrap = linux::wrap::configured(kind == BackendKind::Gvisor)
                .map_err(BackendError::Unavailable)?;
            let backend = match wrap {
                None => linux::LinuxBackend::new(agent),
                Some(wrap) => linux::LinuxBackend::wrapped(agent, &wrap),
            };
            Box::new(backend.map_err(|e| BackendError::Unavailable(e.to_string()))?)
        }
    })
}
