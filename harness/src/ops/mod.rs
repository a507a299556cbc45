//! The differential engine: op sequences, their lowering to scripts, and the
//! lockstep check that every fuzzing front end shares.
//!
//! The data flow, one submodule a stage:
//!
//! 1. `input`: an input is a version byte ([`VERSION`]) followed by a
//!    sequence of [`Op`]s, decoded with `arbitrary` ([`decode`]) or drawn
//!    from a seeded stream ([`generate_ops`], [`check_input`]); the integer
//!    fields of an op index the value tables of `tables`.
//! 2. `lower`: each op becomes at most one call, made by a task that may
//!    call now, on a queue operand among the queues created so far;
//!    `print` turns the calls into a [`Script`](crate::script::Script),
//!    so a failing input is always printable and replayable as an `.nsc`
//!    file.
//! 3. `engine`: the calls run on the model and on the other backend in
//!    lockstep, compared after every statement: the results and events,
//!    then a digest of the IPC state
//!    ([`Backend::digest_words`](crate::backend::Backend::digest_words))
//!    after every statement that may write and at the end.
//! 4. `report`: on a divergence the script runs again through
//!    [`Lockstep`] for a report with trace lines, is shrunk with
//!    [`conform::shrink`](crate::conform::shrink), and a front end saves it
//!    to `corpus/regressions/` ([`Found::save`]) with the command that
//!    replays it.
//! 5. `stats`: what the checked inputs did ([`OpStats`]).
//!
//! [`check_ops`] is that whole flow for one input. Front ends: the
//! cargo-fuzz targets `msg_diff` and `msg_kernel_diff` ([`fuzz_one`]), the
//! bolero tests of `props/`, the corpus replay tests, `nscheck check`,
//! `nscheck zoo` and the mutant tests.
//!
//! **Compatibility rule:** the committed corpora are byte strings decoded
//! through the derived `Arbitrary` layout of [`Op`] and its fields (see
//! `input`): variants, fields and table entries are only ever appended.

mod check;
mod engine;
mod input;
mod lower;
mod print;
mod recipes;
mod report;
mod stats;
mod tables;
#[cfg(test)]
mod tests;

#[cfg(feature = "arbitrary")]
pub use check::fuzz_one;
pub use check::{check_ops, check_ops_in, check_ops_with};
pub use engine::{Lockstep, Mismatch, Stop, lockstep, lockstep_in, reads_only};
pub use input::{ChildOp, CtlOp, MAX_OPS, Mixed, Op, PidOp, VERSION, VERSION_MIXED, check_input};
#[cfg(feature = "arbitrary")]
pub use input::{decode, generate_mixed, generate_ops};
pub use print::{FILE, to_script};
pub use recipes::{RECIPES, Recipe};
pub use report::{Failure, Found, regressions_dir};
pub use stats::OpStats;
