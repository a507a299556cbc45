//! The parser's properties (`nscheck::fuzzing::check_parse`) under bolero,
//! and the replay of the committed cargo-fuzz corpus.
//!
//! Under `cargo test` each check runs for a bounded time with random
//! inputs; `cargo bolero test -p nscheck-props <test> --sanitizer NONE`
//! runs the same checks coverage-guided (the test name is the full path,
//! e.g. `parse::structured_scripts_round_trip`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nscheck::fuzzing::{check_parse, check_parse_str};
use nscheck_props::GenScript;

/// How long each random check runs under `cargo test`.
const TEST_TIME: Duration = Duration::from_secs(2);

#[test]
fn bytes_never_break_the_parser() {
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|bytes: &[u8]| check_parse(bytes));
}

#[test]
fn strings_never_break_the_parser() {
    bolero::check!()
        .with_type::<String>()
        .with_test_time(TEST_TIME)
        .for_each(|src: &String| check_parse_str(src));
}

#[test]
fn structured_scripts_round_trip() {
    static TRIED: AtomicUsize = AtomicUsize::new(0);
    static PARSED: AtomicUsize = AtomicUsize::new(0);
    bolero::check!()
        .with_type::<GenScript>()
        .with_test_time(TEST_TIME)
        .for_each(|script: &GenScript| {
            let src = script.render();
            check_parse_str(&src);
            TRIED.fetch_add(1, Ordering::Relaxed);
            if nscheck::script::Script::parse("gen.ns", &src).is_ok() {
                PARSED.fetch_add(1, Ordering::Relaxed);
            }
        });
    // The generator must reach past the parser's errors often enough for
    // the round trip to be tested; a fuzzing engine never gets here.
    let (tried, parsed) = (
        TRIED.load(Ordering::Relaxed),
        PARSED.load(Ordering::Relaxed),
    );
    println!("{parsed} of {tried} generated scripts parsed");
    assert!(
        parsed * 20 >= tried,
        "only {parsed} of {tried} generated scripts parsed"
    );
}

/// The committed corpus of the cargo-fuzz target `script_parse`.
fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus/script_parse")
}

#[test]
fn corpus_replays() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read corpus/script_parse")
        .map(|e| e.expect("read a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus/script_parse is empty");
    for path in &files {
        let bytes = std::fs::read(path).expect("read a corpus file");
        // The property panics on a violation; name the file first.
        let replay = std::panic::catch_unwind(|| check_parse(&bytes));
        assert!(replay.is_ok(), "{} breaks the parser", path.display());
    }
}
