//! Snapshot traces of the dialect scripts in `corpus/dialects/`, one
//! snapshot per script and dialect, so that a review shows side by side how
//! mainline and the historical designs answer the same calls.

use nscheck::backend::model::ModelBackend;
use nscheck::run::run_partial;
use nscheck::script::Script;
use nscheck_model::Dialect;

use crate::common::{scripts, stem};

#[test]
fn dialect_traces() {
    let files = scripts("dialects");
    assert!(files.len() >= 4, "the dialect corpus is missing");
    for path in &files {
        let src = std::fs::read_to_string(path).expect("readable");
        let name = stem(path);
        // A name that does not depend on the checkout, as it may show in an error.
        let file = format!("corpus/dialects/{name}.nsc");
        let script = Script::parse(&file, &src).expect("parses");
        let mut traces = Vec::new();
        for &dialect in Dialect::ALL {
            // A script may stop at an error under some dialect (a task that
            // a refused clone never made, say): the error is part of the trace.
            let (trace, error) = run_partial(&script, &mut ModelBackend::new(dialect));
            let mut text = trace.text();
            if let Some(e) = error {
                text.push_str(&format!("error: {e}\n"));
            }
            insta::with_settings!({
                snapshot_path => ".",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("corpus/dialects/{name}.nsc --dialect {dialect}"),
            }, {
                insta::assert_snapshot!(format!("dialect__{name}@{dialect}"), text);
            });
            traces.push(text);
        }
        // Every dialect script exists to show a difference.
        assert!(
            traces.windows(2).any(|w| w[0] != w[1]),
            "{name}: the dialects agree, so the script shows nothing"
        );
    }
}
