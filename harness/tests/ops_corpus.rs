//! Replays the committed seed corpora of the differential fuzz targets
//! through `nscheck::ops::decode` and `check_ops`, the decoding and the
//! check of the targets themselves: `corpus/msg_diff/` against the
//! concurrent implementation, `corpus/msg_kernel_diff/` against the kernel
//! (skipped, with the reason, where the linux backend cannot run).

use std::path::{Path, PathBuf};

use nscheck::backend::linux::LinuxBackend;
use nscheck::ops::{Against, Failure, OpStats, check_ops_with, decode};
use nscheck::run::RunError;

/// The files of `corpus/NAME/`, sorted.
fn corpus(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// The other backend of `against`; the kernel's agent is this package's
/// own `nscheck` executable.
fn backend(against: Against) -> Result<Box<dyn nscheck::backend::Backend>, RunError> {
    match against {
        Against::Concurrent => against.backend(),
        Against::Linux => LinuxBackend::new(Path::new(env!("CARGO_BIN_EXE_nscheck")))
            .map(|b| Box::new(b) as Box<dyn nscheck::backend::Backend>)
            .map_err(|e| RunError::Unavailable(e.to_string())),
    }
}

/// Replays every file of `corpus/NAME/` against `against`; all failures are
/// reported together.
fn replay(name: &str, against: Against) {
    let mut failures = Vec::new();
    let mut total = OpStats::default();
    for path in corpus(name) {
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
    replay("msg_diff", Against::Concurrent);
}

#[test]
fn msg_kernel_diff_corpus_agrees_with_linux() {
    replay("msg_kernel_diff", Against::Linux);
}
