//! The model's rule hits as libFuzzer extra counters, so that libFuzzer is
//! steered by the rules of the specification an input makes the model take,
//! as well as by the code it covers (as `nscheck check` is steered by them,
//! `nscheck::steer`).
//!
//! libfuzzer-sys 0.4 has no Rust API for them; it links libFuzzer's
//! `FuzzerExtraCounters.cpp`, which takes every byte of the linker section
//! `__libfuzzer_extra_counters` (between the symbols
//! `__start___libfuzzer_extra_counters` and `__stop___...`) as a counter,
//! like its own coverage counters: after an input, each non-zero byte gives
//! a feature for the bucket of its value (1, 2, 3, 4-7, 8-15, 16-31,
//! 32-127, 128-255), and an input with a new feature (`ft:` in libFuzzer's
//! status lines) is kept. Before each input libFuzzer clears the section a
//! machine word at a time, so the section holds one word-aligned array of
//! whole words: one byte a rule of `nscheck_model::rules::RULES`, padded.

use std::sync::atomic::{AtomicU8, Ordering};

use nscheck_model::rules::{COUNT, snapshot};

/// The counters' length: one a rule, rounded up to whole words.
const LEN: usize = COUNT.next_multiple_of(8);

/// The counters, aligned to a word.
#[repr(C, align(8))]
struct Counters([AtomicU8; LEN]);

// SAFETY: the section holds this static alone, which only libFuzzer (on
// the fuzzing thread, between inputs: clearing it, then reading it) and
// `counted` (on the same thread, after an input) write. Every byte value is
// a valid `AtomicU8`, so libFuzzer's plain writes and reads cannot break
// what Rust assumes of it; the array is word-aligned and a whole number of
// words long, so libFuzzer's word-wide clearing stays inside it. `#[used]`
// keeps it in the binary although no Rust code reads it.
#[used]
#[unsafe(link_section = "__libfuzzer_extra_counters")]
static COUNTERS: Counters = Counters([const { AtomicU8::new(0) }; LEN]);

/// Runs `check` (one input) and sets each rule's counter to the number of
/// times the model took that rule meanwhile, on this thread, saturated at
/// 255.
pub fn counted(check: impl FnOnce()) {
    let before = snapshot();
    check();
    let hits = snapshot().since(&before);
    for (counter, &n) in COUNTERS.0.iter().zip(hits.as_slice()) {
        counter.store(n.min(255) as u8, Ordering::Relaxed);
    }
}
