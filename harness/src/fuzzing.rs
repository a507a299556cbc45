//! The parser properties that every fuzzing front end checks.
//!
//! The cargo-fuzz target (`fuzz/fuzz_targets/script_parse.rs`), the bolero
//! tests (`props/tests/parse.rs`) and the corpus replay test all call
//! [`check_parse`], so a property is added or changed in one place only.

use crate::script::{Arg, Script, Stmt};

/// The file name that the properties pass to the parser.
pub const FILE: &str = "fuzz.ns";

/// Checks the parser's properties on arbitrary bytes; panics on a violation.
///
/// The bytes are decoded lossily: every invalid UTF-8 sequence becomes
/// U+FFFD, so every input reaches the parser (the CLI rejects invalid UTF-8
/// itself, before parsing, so the parser only ever sees a `&str`). The
/// properties are:
///
/// - parsing never panics;
/// - an error names [`FILE`] and a line of the input, and its message is
///   one non-empty line, so that `FILE:LINE: message` stays one line;
/// - a script that parses renders with [`Script::to_source`] to text that
///   parses to the same statements (line numbers aside), and rendering that
///   again gives the same text.
pub fn check_parse(bytes: &[u8]) {
    let src = String::from_utf8_lossy(bytes);
    check_parse_str(&src);
}

/// Checks the parser's properties on a string; see [`check_parse`].
pub fn check_parse_str(src: &str) {
    let script = match Script::parse(FILE, src) {
        Ok(script) => script,
        Err(e) => {
            assert_eq!(e.file, FILE, "the error names another file: {e}");
            let lines = src.lines().count();
            assert!(
                (1..=lines).contains(&e.line),
                "the error is on line {} of a {lines}-line input: {e}",
                e.line
            );
            assert!(!e.msg.is_empty(), "the error has no message: {e:?}");
            assert!(
                !e.msg.contains(['\n', '\r']),
                "the error message spans lines: {:?}",
                e.msg
            );
            return;
        }
    };
    let text = script.to_source();
    let again = Script::parse(FILE, &text).unwrap_or_else(|e| {
        panic!("the rendered script does not parse: {e}\n--- input:\n{src}\n--- rendered:\n{text}")
    });
    assert_eq!(
        shape(&script.stmts),
        shape(&again.stmts),
        "the rendered script parses to other statements\n--- input:\n{src}\n--- rendered:\n{text}"
    );
    assert_eq!(
        again.to_source(),
        text,
        "rendering the re-parsed script gives other text"
    );
}

/// A statement without its line number: what a round trip must keep.
type Shape<'a> = (&'a str, Option<&'a str>, &'static str, &'a [Arg]);

fn shape(stmts: &[Stmt]) -> Vec<Shape<'_>> {
    stmts
        .iter()
        .map(|s| (s.task.as_str(), s.bind.as_deref(), s.spec.name, &s.args[..]))
        .collect()
}
