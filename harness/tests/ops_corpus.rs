//! Replays the committed seed corpora of the differential fuzz targets
//! through `nscheck::ops::decode` and `check_ops`, the decoding and the
//! check of the targets themselves: `corpus/msg_diff/` and
//! `corpus/pid_diff/` against the concurrent implementation,
//! `corpus/msg_kernel_diff/` against the kernel (skipped, with the reason,
//! where the linux backend cannot run).

use nscheck::backend::BackendKind;
use nscheck::ops::{Failure, OpStats, check_ops_with, decode};

use crate::common::{backend, corpus_files};

/// Replays every file of `corpus/NAME/` against `against`; all failures are
/// reported together.
fn replay(name: &str, against: BackendKind) {
    let mut failures = Vec::new();
    let mut total = OpStats::default();
    let files = corpus_files(name);
    assert!(!files.is_empty(), "corpus/{name} is empty");
    for path in files {
        let bytes = std::fs::read(&path).expect("a readable corpus file");
        // The targets ignore other versions too (the corpus keeps one such
        // input for the coverage of that path).
        let Some(ops) = decode(&bytes) else {
            continue;
        };
        match check_ops_with(&ops, against, &mut || backend(against)) {
            Ok(stats) => total.merge(&stats),
            Err(Failure::Unavailable(why)) => {
                eprintln!(
                    "{name}: skipped, the {} backend cannot run here: {why}",
                    against.name()
                );
                return;
            }
            Err(Failure::Diverged(found)) => failures.push(format!("{}: {found}", path.display())),
        }
    }
    eprintln!(
        "{name}: {} inputs, {} statements, {:.1}% of the calls succeeded",
        total.inputs,
        total.stats.statements,
        100.0 * total.success_share()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn msg_diff_corpus_agrees_with_concurrent() {
    replay("msg_diff", BackendKind::Concurrent);
}

#[test]
fn pid_diff_corpus_agrees_with_concurrent() {
    replay("pid_diff", BackendKind::Concurrent);
}

#[test]
fn msg_kernel_diff_corpus_agrees_with_linux() {
    replay("msg_kernel_diff", BackendKind::Linux);
}
