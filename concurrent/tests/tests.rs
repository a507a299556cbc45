//! The integration tests of the implementation under real threads, linked
//! as one test binary (as ripgrep does). `loom.rs` is its own binary: it is
//! built only with `--cfg nscheck_loom`, in its own target directory.

mod msg_dialects;
mod pid_alloc;
mod pid_dialects;
mod pids;
mod procs;
mod threads;
