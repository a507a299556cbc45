//! Differential fuzzing of the model against the concurrent implementation.
//!
//! The bytes are decoded by `nscheck::ops::decode` (a version byte, then
//! `ops::Op`s) and checked by `nscheck::ops::check_ops`, the one check that
//! the bolero tests, the corpus replay and `nscheck check` use too. A
//! divergence is shrunk, saved to `corpus/regressions/`, and printed with
//! the command that replays it. The rules the model took on an input are
//! libFuzzer's extra counters (`rule_counters`), so new rule hits steer it
//! too. Run it on stable from `fuzz/` with
//! `cargo fuzz run --sanitizer none msg_diff ../corpus/msg_diff`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nscheck::backend::BackendKind;
use nscheck::ops::fuzz_one;

mod rule_counters;

fuzz_target!(|bytes: &[u8]| {
    rule_counters::counted(|| fuzz_one(bytes, BackendKind::Concurrent));
});
