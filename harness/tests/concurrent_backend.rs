//! The concurrent implementation against the model: every corpus script and
//! 2000 generated ones must give byte-identical traces on both.

use std::path::{Path, PathBuf};

use nscheck::backend::concurrent::ConcurrentBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::cli::load_script;
use nscheck::generate::generate;
use nscheck::run::{RunError, run_partial};
use nscheck::script::Script;
use nscheck_model::Dialect;

/// The message of a call the concurrent backend leaves out on purpose.
const NOT_IMPLEMENTED: &str = "not implemented by the concurrent backend";

/// How one script compared.
#[derive(Debug, PartialEq, Eq)]
enum Compared {
    Same,
    /// The concurrent backend stopped at a call it does not implement; the
    /// traces agree up to there.
    Unsupported,
}

/// Runs `script` on both backends; `Err` describes a divergence.
fn compare(script: &Script) -> Result<Compared, String> {
    let (expected, model_err) = run_partial(script, &mut ModelBackend::new(Dialect::Mainline));
    let (actual, conc_err) = run_partial(script, &mut ConcurrentBackend::new());
    let unsupported =
        matches!(&conc_err, Some(RunError::Script(e)) if e.msg.contains(NOT_IMPLEMENTED));
    let n = if unsupported {
        actual.lines.len()
    } else {
        expected.lines.len().max(actual.lines.len())
    };
    if let Some(i) = (0..n).find(|&i| expected.lines.get(i) != actual.lines.get(i)) {
        return Err(format!(
            "trace line {}:\n  model:      {:?}\n  concurrent: {:?}",
            i + 1,
            expected.lines.get(i),
            actual.lines.get(i)
        ));
    }
    if unsupported {
        return Ok(Compared::Unsupported);
    }
    let show = |e: &Option<RunError>| e.as_ref().map(|e| e.to_string());
    if show(&model_err) != show(&conc_err) {
        return Err(format!(
            "errors differ:\n  model:      {:?}\n  concurrent: {:?}",
            show(&model_err),
            show(&conc_err)
        ));
    }
    Ok(Compared::Same)
}

fn scripts_in(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "nsc"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_scripts_give_the_models_traces() {
    let mut failures = Vec::new();
    let (mut same, mut unsupported) = (0, 0);
    for dir in ["corpus/conformance", "corpus/dialects"] {
        for path in scripts_in(dir) {
            let script = match load_script(&path) {
                Ok(s) => s,
                Err(e) => panic!("{}: {e}", path.display()),
            };
            match compare(&script) {
                Ok(Compared::Same) => same += 1,
                Ok(Compared::Unsupported) => unsupported += 1,
                Err(d) => failures.push(format!("{}: {d}", path.display())),
            }
        }
    }
    eprintln!("corpus: {same} identical, {unsupported} stopped at an unimplemented call");
    assert!(same > 0, "no corpus script ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn generated_scripts_give_the_models_traces() {
    let mut failures = Vec::new();
    for case in 0..2000 {
        let src = generate(1, case);
        let script = Script::parse("gen", &src).expect("generated scripts parse");
        match compare(&script) {
            Ok(Compared::Same) => {}
            Ok(Compared::Unsupported) => failures.push(format!(
                "case {case}: the generator used an unimplemented call\n{src}"
            )),
            Err(d) => failures.push(format!("case {case}: {d}\n{src}")),
        }
        assert!(failures.len() < 5, "{}", failures.join("\n"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
