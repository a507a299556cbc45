//! `nscheck-loom-tests`: the concurrent implementation under loom and
//! shuttle, judged against the model by a linearizability checker.
//!
//! - [`lin`]: the checker (Wing–Gong search with memoization), for any
//!   [`lin::Spec`], including calls that block;
//! - [`model`]: `nscheck-model` as a [`lin::Spec`];
//! - [`world`]: the implementation's namespace and tasks, and the
//!   quiescence checks;
//! - [`pid_spec`]: the pid numbers of Linux 6.18 as a [`lin::Spec`], with
//!   `alloc_pid` in the steps Linux takes its lock in;
//! - [`pid_world`]: the implementation's tree of PID namespaces, and its
//!   quiescence check;
//! - [`task_world`]: the implementation's task half, one task per thread,
//!   judged against the model's kernel;
//! - [`recorder`]: the history recorder every world uses;
//! - [`generated`]: generated msg scenarios, a function of a seed and a case
//!   number, run by `tests/common/generated.rs`;
//! - [`lock_sections`]: the places of the implementation that take a lock,
//!   and the table of which scenarios contended each (from the shuttle
//!   build's contention log).
//!
//! The scenarios themselves are in `tests/`: `tests/common/mod.rs` holds the
//! catalogue (its pid scenarios in `tests/common/pid.rs`, its task
//! scenarios in `tests/common/tasks.rs`), written once
//! against a small thread facade; `tests/loom.rs` runs it at a small scale
//! under loom (`--cfg nscheck_loom`, `ci/loom.sh`) and `tests/shuttle.rs`
//! at a larger scale under shuttle's PCT and random schedulers
//! (`--cfg nscheck_shuttle`, `ci/shuttle.sh`).
//!
//! This crate is a check, so it may know both the implementation and the
//! model.

pub mod generated;
pub mod lin;
pub mod lock_sections;
pub mod model;
pub mod pid_spec;
pub mod pid_world;
pub mod recorder;
pub mod task_world;
pub mod world;
