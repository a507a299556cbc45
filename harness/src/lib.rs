//! `nscheck`: scripts, traces, backends and the checks that compare them.
//!
//! The modules, each depending only on those above it:
//!
//! - [`script`]: the scenario language of `docs/SCRIPT.md` (lexer and parser,
//!   static checks, loading a file);
//! - [`backend`]: the backends (the model, the real kernel in fresh
//!   namespaces, the concurrent implementation), their kinds and the one
//!   factory, [`backend::make`];
//! - [`run`]: runs a script on a backend and formats the trace;
//! - [`fuzzing`]: the parser properties that every fuzzing front end checks;
//! - [`generate`]: the seeded script generator of the conformance campaign;
//! - [`conform`]: whole-trace comparison, the shrinker, regression files and
//!   the conformance campaign;
//! - [`ops`]: the differential engine (op sequences, their lowering, the
//!   lockstep check, reports);
//! - [`coverage`]: rule coverage (which rules of the specification the
//!   model took), its table and JSON, and the corpus's coverage baseline;
//! - [`steer`]: rule steering, the input stream of `nscheck check` and the
//!   zoo, with the model's rule hits as feedback;
//! - [`zoo`]: the bug zoo's kill matrix (`nscheck zoo`);
//! - [`commands`]: the subcommands, one function each;
//! - [`cli`]: the `nscheck` command line, which parses arguments and calls
//!   [`commands`].

pub mod script;

pub mod backend;
pub mod run;

pub mod fuzzing;
pub mod generate;

pub mod conform;
pub mod ops;

pub mod coverage;
pub mod fuzz_campaign;
pub mod steer;
pub mod zoo;

pub mod commands;

pub mod cli;
