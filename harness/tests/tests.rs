//! The integration tests of `nscheck`, linked as one test binary (as
//! ripgrep does) instead of one a file, so that `cargo test` links the
//! crate once; `Cargo.toml` turns off cargo's discovery of `tests/*.rs`.
//!
//! The snapshot tests live beside their `.snap` files in `snapshots/`,
//! which is where insta looks for them (`snapshot_path => "."` is relative
//! to each test's own source file).

mod bad_input;
mod common;
mod concurrent_backend;
mod coverage;
mod determinism;
mod gvisor_backend;
mod linux_backend;
mod mutants;
mod ops_corpus;

#[path = "../../snapshots/dialects.rs"]
mod dialects;
#[path = "../../snapshots/gvisor.rs"]
mod gvisor;
#[path = "../../snapshots/regressions.rs"]
mod regressions;
#[path = "../../snapshots/seeded.rs"]
mod seeded;
#[path = "../../snapshots/traces.rs"]
mod traces;
