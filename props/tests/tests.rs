//! The property tests, linked as one test binary (as ripgrep does). A
//! test's name for `cargo bolero test` is its full path in this binary,
//! e.g. `parse::structured_scripts_round_trip`.

mod msg_diff;
mod parse;
