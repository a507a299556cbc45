//! The entry points: [`check_ops`], the one check of an op sequence that
//! every front end uses, and [`fuzz_one`], the body of the fuzz targets.

use nscheck_model::Dialect;

use super::engine::run_lowered;
use super::input::Op;
#[cfg(feature = "arbitrary")]
use super::input::decode;
use super::report::{Failure, regressions_dir, stopped};
use super::stats::OpStats;
use crate::backend::{self, BackendKind, MakeBackend};
use crate::run::Record;

/// **The** check of an op sequence: lowers `ops` and runs them on the model
/// and on a fresh backend of kind `against` ([`backend::make`]) in
/// lockstep; see the [module docs](super).
pub fn check_ops(ops: &[Op], against: BackendKind) -> Result<OpStats, Failure> {
    check_ops_with(ops, against, &mut || {
        backend::make(against, Dialect::Mainline, None)
    })
}

/// [`check_ops`] with the other backend made by `make` (a test makes a
/// concurrent backend with a mutant, say). `against` tells the lowering
/// which patterns to avoid and names the backend in reports.
pub fn check_ops_with(
    ops: &[Op],
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Result<OpStats, Failure> {
    check_ops_in(ops, Dialect::Mainline, against, make)
}

/// [`check_ops_with`] with the model following `dialect`; the backend
/// from `make` must follow it too (the concurrent implementation follows
/// every dialect, the kernel mainline only).
pub fn check_ops_in(
    ops: &[Op],
    dialect: Dialect,
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Result<OpStats, Failure> {
    let (statements, records) = check_lowered(ops, dialect, against, make)?;
    Ok(OpStats::of(ops.len(), statements, &records))
}

/// [`check_ops_with`] without the statistics: the number of statements and
/// the calls that finished; on a divergence, the shrunk report.
fn check_lowered(
    ops: &[Op],
    dialect: Dialect,
    against: BackendKind,
    make: &mut MakeBackend<'_>,
) -> Result<(usize, Vec<Record>), Failure> {
    run_lowered(ops, dialect, against, make)
        .map_err(|(stop, script)| stopped(stop, script, dialect, against, make))
}

/// The body of the fuzz targets: decodes `bytes` and checks them; on a
/// divergence saves the shrunk script to [`regressions_dir`], prints it with
/// the command that replays it, and panics.
#[cfg(feature = "arbitrary")]
pub fn fuzz_one(bytes: &[u8], against: BackendKind) {
    let Some(ops) = decode(bytes) else {
        return;
    };
    let mut make = || backend::make(against, Dialect::Mainline, None);
    match check_lowered(&ops, Dialect::Mainline, against, &mut make) {
        Ok(_) => {}
        Err(Failure::Unavailable(why)) => panic!("the {} backend: {why}", against.name()),
        Err(Failure::Diverged(found)) => {
            eprintln!("{found}");
            match found.save(&regressions_dir()) {
                Ok(path) => eprintln!("saved; replay: {}", found.replay_command(&path)),
                Err(e) => eprintln!("cannot save the script: {e}"),
            }
            panic!("the model and {} differ", against.name());
        }
    }
}
