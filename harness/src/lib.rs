//! `nscheck`: scripts, traces, backends and the checks that compare them.
//!
//! - [`script`]: the scenario language of `SCRIPT.md` (parser, static checks);
//! - [`run`]: runs a script on a backend and formats the trace;
//! - [`backend`]: the model, and the real kernel in fresh namespaces;
//! - [`cli`]: the `nscheck` command line;
//! - [`fuzzing`]: the parser properties that every fuzzing front end checks;
//! - [`ops`]: the differential engine (op sequences, lockstep check);
//! - [`zoo`]: the bug zoo's kill matrix (`nscheck zoo`).

pub mod backend;
pub mod cli;
pub mod commands;
pub mod conform;
pub mod fuzzing;
pub mod generate;
pub mod ops;
pub mod run;
pub mod script;
pub mod zoo;
