//! Snapshot traces of the conformance corpus (`corpus/conformance/*.nsc`).
//!
//! `model_traces` pins the model's (mainline) trace of every script as
//! `snapshots/conformance__<stem>.snap`; `cargo insta review` shows what
//! changed. `linux_matches_model` runs every script on the real kernel and
//! requires the very same trace, byte for byte; it skips itself, saying why,
//! where the Linux backend cannot run (no namespaces, no privileges).
//!
//! Both tests go through the whole corpus before failing, so that one
//! mismatch does not hide the others.

use std::path::{Path, PathBuf};

use nscheck::backend::BackendError;
use nscheck::backend::linux::LinuxBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::run::{RunError, run};
use nscheck::script::Script;
use nscheck_model::Dialect;

use crate::common::{pinned, scripts, stem};

/// The conformance scripts, sorted by name.
fn corpus() -> Vec<PathBuf> {
    let files = scripts("conformance");
    assert!(files.len() >= 45, "the conformance corpus is missing");
    files
}

/// Parses a corpus script; a corpus script that does not parse is a bug of
/// the corpus, so this panics.
fn parse(path: &Path) -> Script {
    let src = std::fs::read_to_string(path).expect("a readable script");
    let name = format!(
        "corpus/conformance/{}",
        path.file_name().unwrap().to_string_lossy()
    );
    Script::parse(&name, &src).unwrap_or_else(|e| panic!("{e}"))
}

/// The model's trace of `script`.
fn model_trace(script: &Script) -> Result<String, RunError> {
    run(script, &mut ModelBackend::new(Dialect::Mainline)).map(|t| t.text())
}

#[test]
fn model_traces() {
    let mut failures = Vec::new();
    for path in corpus() {
        let name = stem(&path);
        let script = parse(&path);
        let trace = match model_trace(&script) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: the model cannot run it: {e}"));
                continue;
            }
        };
        pinned(&mut failures, &name, || {
            insta::with_settings!({
                snapshot_path => ".",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                input_file => &path,
                description => format!("corpus/conformance/{name}.nsc"),
            }, {
                insta::assert_snapshot!(format!("conformance__{name}"), trace);
            });
        });
    }
    assert!(
        failures.is_empty(),
        "{} script(s) failed (run `cargo insta review`):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A line-by-line account of where two traces part.
fn diff(model: &str, linux: &str) -> String {
    let (m, l): (Vec<_>, Vec<_>) = (model.lines().collect(), linux.lines().collect());
    let mut out = String::new();
    for i in 0..m.len().max(l.len()) {
        let (a, b) = (m.get(i), l.get(i));
        if a != b {
            out.push_str(&format!(
                "    line {}:\n      model: {}\n      linux: {}\n",
                i + 1,
                a.unwrap_or(&"<none>"),
                b.unwrap_or(&"<none>")
            ));
        }
    }
    out
}

#[test]
fn linux_matches_model() {
    let mut failures = Vec::new();
    let files = corpus();
    for path in &files {
        let name = stem(path);
        let script = parse(path);
        let mut backend =
            match LinuxBackend::new(std::path::Path::new(env!("CARGO_BIN_EXE_nscheck"))) {
                Ok(b) => b,
                Err(BackendError::Unavailable(why)) => {
                    eprintln!(
                        "linux_matches_model: skipped, the Linux backend cannot run here: {why}"
                    );
                    return;
                }
                Err(e) => {
                    failures.push(format!("{name}: the Linux backend did not start: {e}"));
                    continue;
                }
            };
        let linux = match run(&script, &mut backend) {
            Ok(t) => t.text(),
            Err(RunError::Unavailable(why)) => {
                eprintln!("linux_matches_model: skipped, the Linux backend cannot run here: {why}");
                return;
            }
            Err(e) => {
                failures.push(format!("{name}: the Linux backend failed: {e}"));
                continue;
            }
        };
        let model = model_trace(&script).unwrap_or_else(|e| format!("<model error: {e}>\n"));
        if model != linux {
            failures.push(format!(
                "{name}: the traces differ\n{}",
                diff(&model, &linux)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} script(s) differ between the model and Linux:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
