//! Helpers shared by the harness's integration tests and the snapshot tests
//! of `snapshots/`, all modules of the one test binary `tests/tests.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use nscheck::backend::{self, Backend, BackendError, BackendKind};
use nscheck_model::Dialect;

/// The files of `corpus/DIR/`, sorted by name.
pub fn corpus_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

/// The scripts (`*.nsc`) of `corpus/DIR/`, sorted by name.
pub fn scripts(dir: &str) -> Vec<PathBuf> {
    let mut files = corpus_files(dir);
    files.retain(|p| p.extension().is_some_and(|e| e == "nsc"));
    files
}

/// The file name without its extension, e.g. `001-msgget-basics`.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// The backend the model is checked against; the kernel's agent is this
/// package's own `nscheck` executable.
pub fn backend(against: BackendKind) -> Result<Box<dyn Backend>, BackendError> {
    let agent = Path::new(env!("CARGO_BIN_EXE_nscheck"));
    backend::make(against, Dialect::Mainline, Some(agent))
}

/// Runs `assert`, an insta snapshot assertion, and records a mismatch as a
/// failure of `name` instead of panicking, so that a loop goes on to the
/// next script and every failure is reported together (insta has written
/// the pending `.snap.new` by then).
pub fn pinned(failures: &mut Vec<String>, name: &str, assert: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(assert)).is_err() {
        failures.push(format!("{name}: the trace differs from its snapshot"));
    }
}
