//! Reports: a divergence found by the fast path, run again through the
//! trace-line [`lockstep`] for a report, shrunk with [`conform::shrink`],
//! and saved to `corpus/regressions/` with the command that replays it.

use std::path::{Path, PathBuf};

use nscheck_model::Dialect;

use super::engine::{Mismatch, Stop, lockstep_in};
use super::print::FILE;
use crate::backend::{BackendKind, MakeBackend};
use crate::conform;
use crate::script::Script;

/// A divergence found by [`check_ops`](super::check_ops), with its shrunk script.
#[derive(Clone, Debug)]
pub struct Found {
    /// The backend the model was checked against.
    pub against: BackendKind,
    /// The dialect both followed.
    pub dialect: Dialect,
    /// The lowered script up to the divergence.
    pub script: Script,
    pub mismatch: Mismatch,
    /// The shrunk script and its own mismatch.
    pub shrunk: Script,
    pub shrunk_mismatch: Mismatch,
}

impl Found {
    /// Writes the shrunk script to `dir` (as `conform` writes its finds)
    /// and returns its path.
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let src = self.shrunk.to_source();
        let hash = src.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        // A script with a pid call can only come from the mixed inputs.
        let pid_calls = [
            "getpid", "getppid", "getsid", "getpgid", "setsid", "setpgid", "waitpid",
        ];
        let has_pid_call = self
            .shrunk
            .stmts
            .iter()
            .any(|s| pid_calls.contains(&s.spec.name));
        let target = match self.against {
            BackendKind::Concurrent if has_pid_call => "pid_diff",
            BackendKind::Concurrent => "msg_diff",
            BackendKind::Linux | BackendKind::Gvisor => "msg_kernel_diff",
            // No fuzz target checks the model against itself.
            BackendKind::Model => "model_diff",
        };
        // The regression tests replay mainline only: a dialect's find says
        // so in its name and header, to be moved to `corpus/dialects/`.
        let (name, how) = match self.dialect {
            Dialect::Mainline => (
                format!("{target}-{:08x}", hash >> 32),
                format!(
                    "differential fuzzing of the model against {} (`{target}`)",
                    self.against.name()
                ),
            ),
            d => (
                format!("{d}-{:08x}", hash >> 32),
                format!(
                    "differential fuzzing of the model against {} in dialect {d} \
                     (`nscheck check`); it needs `--dialect {d}`, so keep it in \
                     corpus/dialects/, which is replayed in every dialect",
                    self.against.name()
                ),
            ),
        };
        conform::write_regression(dir, &name, &how, &self.shrunk, &self.shrunk_mismatch)
    }

    /// The command that replays a saved script.
    pub fn replay_command(&self, path: &Path) -> String {
        let dialect = match self.dialect {
            Dialect::Mainline => String::new(),
            d => format!(" --dialect {d}"),
        };
        format!(
            "cargo run --release -- diff --backend {}{dialect} {}",
            self.against.name(),
            path.display()
        )
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the model and {} differ at {}",
            self.against.name(),
            self.shrunk_mismatch
        )?;
        writeln!(
            f,
            "shrunk from {} to {} statements:",
            self.script.stmts.len(),
            self.shrunk.stmts.len()
        )?;
        write!(f, "{}", self.shrunk.to_source())
    }
}

/// Why [`check_ops`](super::check_ops) failed.
#[derive(Clone, Debug)]
pub enum Failure {
    /// The backends differ.
    Diverged(Box<Found>),
    /// The other backend cannot run here (or failed to start).
    Unavailable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Diverged(found) => write!(f, "{found}"),
            Failure::Unavailable(why) => write!(f, "the backend cannot run here: {why}"),
        }
    }
}

/// The failure for a check that stopped after the statements of `script`.
pub(super) fn stopped(
    stop: Stop,
    script: Script,
    dialect: Dialect,
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Failure {
    match stop {
        Stop::Unavailable(why) => Failure::Unavailable(why),
        // A lowered script is valid by construction.
        Stop::Both(e) => panic!("a lowered script stopped both backends: {e}"),
        Stop::Mismatch(quiet) => {
            // The quick check has no trace lines: run the script again with
            // them for the report.
            let mismatch = match lockstep_in(&script, dialect, make) {
                Ok((_, Some(m))) => m,
                _ => quiet,
            };
            shrink_found(script, mismatch, dialect, against, make)
        }
    }
}

/// Shrinks a divergent script with [`conform::shrink`].
fn shrink_found(
    script: Script,
    mismatch: Mismatch,
    dialect: Dialect,
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Failure {
    // Re-parse so that the shrinker's candidates carry source line numbers.
    let script = Script::parse(FILE, &script.to_source()).expect("a lowered script parses");
    let mut fails = |s: &Script| matches!(lockstep_in(s, dialect, make), Ok((_, Some(_))));
    let shrunk = conform::shrink(&script, &mut fails);
    let shrunk_mismatch = match lockstep_in(&shrunk, dialect, make) {
        Ok((_, Some(m))) => m,
        _ => mismatch.clone(),
    };
    Failure::Diverged(Box::new(Found {
        against,
        dialect,
        script,
        mismatch,
        shrunk,
        shrunk_mismatch,
    }))
}

/// Where the fuzz targets save shrunk divergences: `$NSCHECK_REGRESSIONS`,
/// or `corpus/regressions/` of this checkout.
pub fn regressions_dir() -> PathBuf {
    std::env::var_os("NSCHECK_REGRESSIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/regressions"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::ops::{RECIPES, check_ops_in};
    use nscheck_concurrent::mutants::Mutant;
    use nscheck_model::Rule;

    /// A find in a dialect is saved under a name and with a header that say
    /// which dialect it needs, and its replay command passes `--dialect`.
    #[test]
    fn a_dialect_find_names_its_dialect() {
        let recipe = RECIPES
            .iter()
            .find(|r| r.rule == Rule::VpidExhausted)
            .expect("the vpid recipe");
        let dialect = Dialect::Openvz2006;
        let mut make = || {
            Ok(
                Box::new(crate::zoo::mutated(Mutant::VpidSearchNoExit, dialect))
                    as Box<dyn Backend>,
            )
        };
        let found = match check_ops_in(&(recipe.ops)(), dialect, BackendKind::Concurrent, &mut make)
        {
            Err(Failure::Diverged(found)) => found,
            other => panic!("the mutant is not caught: {other:?}"),
        };
        let dir = std::env::temp_dir().join(format!("nscheck-report-{}", std::process::id()));
        let path = found.save(&dir).expect("saved");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("readable");
        std::fs::remove_dir_all(&dir).expect("removed");
        assert!(name.starts_with("openvz2006-"), "{name}");
        assert!(text.contains("needs `--dialect openvz2006`"), "{text}");
        assert!(
            found
                .replay_command(&path)
                .contains("--backend concurrent --dialect openvz2006 "),
            "{}",
            found.replay_command(&path)
        );
    }
}
