//! The `MSG_COPY` designs an IPC namespace can follow ([`Variant`]), as
//! `model/src/ipc.rs` picks the msg half of a dialect. A namespace takes its
//! variant when it is made ([`IpcNamespace::with_variant`]), and each of its
//! queues keeps it for its life.
//!
//! [`IpcNamespace::with_variant`]: crate::IpcNamespace::with_variant

/// A `MSG_COPY` design, as the harness's `--dialect` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Linux 6.18's `MSG_COPY` (`mainline` and the pid dialects): `msgtyp`
    /// is the index of the message to copy, and the copy needs
    /// `IPC_NOWAIT`.
    #[default]
    Mainline,
    /// `rfc2012`, the 2012 `q_copy_cnt` RFC: a per-queue counter picks the
    /// message a copy returns among those `msgtyp` selects, as a receive
    /// would select them; a successful copy moves the counter up and a
    /// receive that takes a message moves it down. A copy may sleep like a
    /// receive, and a message that is queued wakes every sleeping copy to
    /// look again; a message longer than the copy's buffer is `EINVAL`.
    Rfc2012,
}
