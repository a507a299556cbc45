//! Fuzzes the script parser with arbitrary bytes.
//!
//! The bytes are decoded lossily (invalid UTF-8 becomes U+FFFD), so every
//! input reaches the parser; the properties live in
//! `nscheck::fuzzing::check_parse`, which the bolero tests and the corpus
//! replay test call too. Run it on stable with
//! `cargo fuzz run --sanitizer none script_parse corpus/script_parse` from
//! the root of the repository.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| nscheck::fuzzing::check_parse(bytes));
