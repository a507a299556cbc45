//! The regression scripts (`corpus/regressions/*.nsc`): shrunk divergences
//! found by `nscheck conform`, `nscheck check`, the fuzz targets and the
//! mutant tests.
//!
//! Every script's model trace is pinned as
//! `snapshots/regression__<stem>.snap`, and the script must run in lockstep
//! (`nscheck::ops::lockstep`) on the model and on the concurrent
//! implementation, and on the kernel (skipped, with the reason, where the
//! linux backend cannot run).
//! All scripts are checked before the test fails.

use nscheck::backend::BackendKind;
use nscheck::ops::lockstep;
use nscheck::run::RunError;
use nscheck::script::{Script, load_script};

use crate::common::{backend, pinned, scripts, stem};

/// Runs `script` against `against`: `Ok(None)` when it agrees or cannot be
/// compared (said on stderr), `Ok(Some(why))` on a divergence.
fn compare(name: &str, script: &Script, against: BackendKind) -> Option<String> {
    match lockstep(script, &mut || backend(against)) {
        Ok((_, None)) => None,
        Ok((_, Some(m))) => Some(format!(
            "{name}: the model and {} differ at {m}",
            against.name()
        )),
        Err(RunError::Unavailable(why)) => {
            eprintln!("{name}: skipped against {}: {why}", against.name());
            None
        }
        Err(e) => Some(format!("{name}: {e}")),
    }
}

#[test]
fn regressions_pass_and_keep_their_traces() {
    let mut failures = Vec::new();
    let files = scripts("regressions");
    for path in &files {
        let name = stem(path);
        let script = load_script(path).unwrap_or_else(|e| panic!("{e}"));
        let trace = match nscheck::run::run(
            &script,
            &mut nscheck::backend::model::ModelBackend::new(nscheck_model::Dialect::Mainline),
        ) {
            Ok(t) => t.text(),
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
                input_file => path,
                description => format!("corpus/regressions/{name}.nsc"),
            }, {
                insta::assert_snapshot!(format!("regression__{name}"), trace);
            });
        });
        for against in [BackendKind::Concurrent, BackendKind::Linux] {
            failures.extend(compare(&name, &script, against));
        }
    }
    eprintln!("{} regression script(s) checked", files.len());
    assert!(
        failures.is_empty(),
        "{} failure(s) (run `cargo insta review` for snapshots):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
