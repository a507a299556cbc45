//! Differential fuzzing of the model against the concurrent implementation
//! over mixed inputs: pid calls (fork and clone with `CLONE_NEWPID` and
//! `set_tid`, unshare, exit, waitpid, sessions and process groups, the
//! `ns_last_pid` and `pid_max` sysctls) among msg calls.
//!
//! The bytes are a mixed input (`nscheck::ops::VERSION_MIXED`, then
//! `ops::Mixed` ops), decoded by `nscheck::ops::decode` and checked by
//! `nscheck::ops::check_ops`, the one check that the bolero tests, the
//! corpus replay and `nscheck check` use too; other versions are left to
//! `msg_diff`. A divergence is shrunk, saved to `corpus/regressions/`, and
//! printed with the command that replays it. The rules the model took on an
//! input are libFuzzer's extra counters (`rule_counters`), so new rule hits
//! steer it too. Run it on stable from `fuzz/`
//! with `cargo fuzz run --sanitizer none pid_diff ../corpus/pid_diff`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nscheck::backend::BackendKind;
use nscheck::ops::{VERSION_MIXED, fuzz_one};

mod rule_counters;

fuzz_target!(|bytes: &[u8]| {
    if bytes.first() == Some(&VERSION_MIXED) {
        rule_counters::counted(|| fuzz_one(bytes, BackendKind::Concurrent));
    }
});
