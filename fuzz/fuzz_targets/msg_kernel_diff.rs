//! Differential fuzzing of the model against the real kernel (the linux
//! backend), in fresh IPC and PID namespaces; much slower than `msg_diff`.
//!
//! The linux backend runs every task as a process of `nscheck __agent`, so
//! the target needs the `nscheck` executable: `$NSCHECK_AGENT`, or else the
//! newer of `target/release/nscheck` and `target/debug/nscheck` of this
//! checkout (see `nscheck::backend::linux::agent_path`). Build it first, then run from
//! `fuzz/`:
//!
//! ```text
//! cargo build --release -p nscheck
//! NSCHECK_AGENT=$PWD/../target/release/nscheck \
//!     cargo fuzz run --sanitizer none msg_kernel_diff ../corpus/msg_kernel_diff
//! ```
//!
//! It needs root (or the privileges to create namespaces); where the linux
//! backend cannot run, every input panics with the reason.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nscheck::backend::BackendKind;
use nscheck::ops::fuzz_one;

fuzz_target!(|bytes: &[u8]| fuzz_one(bytes, BackendKind::Linux));
