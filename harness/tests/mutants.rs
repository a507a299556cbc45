//! The differential check finds the implementation's deliberate bugs.
//!
//! For every mutant of `nscheck_concurrent::mutants`, `ops::check_ops_with`
//! over the generated inputs of a fixed seed must fail within the budget,
//! and the shrinker must reduce the case to a handful of statements. The
//! unmutated implementation must pass the same inputs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nscheck::backend::concurrent::ConcurrentBackend;
use nscheck::backend::{Backend, BackendError, BackendKind};
use nscheck::ops::{Failure, Found, check_ops_with, generate_ops};
use nscheck_concurrent::IpcNamespace;
use nscheck_concurrent::mutants::Mutant;

/// The seed of the generated inputs.
const SEED: u64 = 4;
/// How many inputs a mutant may take to be found.
const CASES: u64 = 4000;
/// The most statements a shrunk case may keep.
const MAX_SHRUNK: usize = 8;

/// Input `case`: a few to a few dozen ops.
fn input(case: u64) -> Vec<nscheck::ops::Op> {
    generate_ops(SEED, case, 4 + (case % 40) as usize)
}

fn backend(mutant: Option<Mutant>) -> Result<Box<dyn Backend>, BackendError> {
    Ok(Box::new(match mutant {
        None => ConcurrentBackend::new(),
        Some(m) => {
            ConcurrentBackend::with_namespaces(Arc::new(move || IpcNamespace::with_mutant(m)))
        }
    }))
}

/// Checks inputs until one fails: the case number and what was found.
fn hunt(mutant: Option<Mutant>, cases: u64) -> Option<(u64, Found)> {
    for case in 0..cases {
        match check_ops_with(&input(case), BackendKind::Concurrent, &mut || {
            backend(mutant)
        }) {
            Ok(_) => {}
            Err(Failure::Diverged(found)) => return Some((case, *found)),
            Err(Failure::Unavailable(why)) => panic!("the concurrent backend: {why}"),
        }
    }
    None
}

#[test]
fn every_mutant_is_found_and_shrunk() {
    let mut report = Vec::new();
    for &m in Mutant::ALL {
        let start = Instant::now();
        let Some((case, found)) = hunt(Some(m), CASES) else {
            panic!("{m:?} survived {CASES} inputs of seed {SEED}");
        };
        let took = start.elapsed();
        eprintln!("{m:?}: {found}");
        assert!(
            found.shrunk.stmts.len() <= MAX_SHRUNK,
            "{m:?}: the shrunk case keeps {} statements:\n{}",
            found.shrunk.stmts.len(),
            found.shrunk.to_source()
        );
        report.push(format!(
            "{m:?}: found at input {case} after {took:.2?}, {} statements shrunk to {}",
            found.script.stmts.len(),
            found.shrunk.stmts.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn the_unmutated_implementation_passes_the_same_budget() {
    let start = Instant::now();
    if let Some((case, found)) = hunt(None, CASES) {
        panic!("input {case} of seed {SEED} diverges:\n{found}");
    }
    eprintln!("{CASES} inputs agree in {:.2?}", start.elapsed());
    // The budget stays small enough for `cargo test`.
    assert!(start.elapsed() < Duration::from_secs(120));
}

/// `corpus/regressions/mutant-NAME.nsc` for the mutant `Name`, if any.
fn regression_script(m: Mutant) -> std::path::PathBuf {
    let mut stem = String::from("mutant");
    for c in format!("{m:?}").chars() {
        if c.is_ascii_uppercase() {
            stem.push('-');
        }
        stem.push(c.to_ascii_lowercase());
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/regressions")
        .join(stem + ".nsc")
}

/// Every sequential mutant has a regression script (which the unmutated
/// implementation and the kernel pass, `snapshots/regressions.rs`), and
/// that script diverges against the mutant.
#[test]
fn every_mutant_fails_its_regression_script() {
    for &m in Mutant::ALL {
        let path = regression_script(m);
        let script = nscheck::script::load_script(&path)
            .unwrap_or_else(|e| panic!("{m:?}: {}: {e}", path.display()));
        match nscheck::ops::lockstep(&script, &mut || backend(Some(m))) {
            Ok((_, Some(mismatch))) => eprintln!("{m:?}: {}: {mismatch}", path.display()),
            Ok((_, None)) => panic!("{m:?} passes {}", path.display()),
            Err(e) => panic!("{m:?}: {}: {e}", path.display()),
        }
    }
}

/// Every mutant of the task half (`Mutant::TASKS`, selected for a whole
/// machine with `System::with_mutant`) makes the conformance scripts of
/// its rule diverge: B12's reuse of a number held as a process group or
/// session fails the R12 scripts.
#[test]
fn every_task_mutant_fails_the_scripts_of_its_rule() {
    use nscheck_concurrent::proc::System;

    for &m in Mutant::TASKS {
        for name in [
            "093-pid-pgrp-holds-number.nsc",
            "094-pid-session-holds-number.nsc",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../corpus/conformance")
                .join(name);
            let script = nscheck::script::load_script(&path)
                .unwrap_or_else(|e| panic!("{m:?}: {}: {e}", path.display()));
            let mut mutated = || -> Result<Box<dyn Backend>, BackendError> {
                let sys = System::with_mutant(Box::new(IpcNamespace::new), m);
                Ok(Box::new(ConcurrentBackend::with_system(sys)))
            };
            match nscheck::ops::lockstep(&script, &mut mutated) {
                Ok((_, Some(mismatch))) => eprintln!("{m:?}: {name}: {mismatch}"),
                Ok((_, None)) => panic!("{m:?} passes {name}"),
                Err(e) => panic!("{m:?}: {name}: {e}"),
            }
        }
    }
}

/// Every sequential mutant of the PID half (`Mutant::PID`, carried by a
/// tree of PID namespaces, `PidNamespace::new_root_with_mutant`, which the
/// concurrent backend takes through `System::with_root`) makes at least
/// one pid script of the corpus diverge from the model, in mainline or in
/// the historical dialect it lives in, or else one input of `check_ops`.
#[test]
fn every_pid_mutant_fails_a_pid_script() {
    use nscheck::backend::model::ModelBackend;
    use nscheck::conform::first_difference;
    use nscheck::run::{RunError, run_partial};
    use nscheck_concurrent::pid::{PidNamespace, Variant};
    use nscheck_concurrent::proc::System;
    use nscheck_model::Dialect;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut scripts = Vec::new();
    for dir in ["conformance", "dialects"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("the corpus")
            .map(|e| e.expect("a corpus file").path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("pid-"))
            })
            .collect();
        paths.sort();
        for path in paths {
            let script = nscheck::script::load_script(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            scripts.push((path, script));
        }
    }
    let dialects = [
        (Dialect::Mainline, Variant::Mainline),
        (Dialect::Flat2007, Variant::Flat2007),
        (Dialect::Openvz2006, Variant::Openvz2006),
    ];
    // B18 shows once every vpid of a sparse VPS is taken
    // (`corpus/dialects/pid-vpid-exhausted.nsc`).
    for &m in Mutant::PID {
        let caught = dialects.iter().find_map(|&(dialect, variant)| {
            scripts.iter().find_map(|(path, script)| {
                let sys = System::with_root(
                    PidNamespace::new_root_with_mutant(variant, m),
                    Box::new(IpcNamespace::new),
                );
                let mut conc = ConcurrentBackend::with_system(sys);
                let mut model = ModelBackend::new(dialect);
                // A script the model cannot run in this dialect still
                // counts: both must stop at the same error.
                let (want, want_err) = run_partial(script, &mut model);
                let (got, got_err) = run_partial(script, &mut conc);
                let show = |e: Option<RunError>| e.map(|e| e.to_string());
                let first = first_difference(&want.lines, &got.lines);
                match (first, show(want_err), show(got_err)) {
                    (None, a, b) if a == b => None,
                    (d, a, b) => Some(format!("{} ({dialect}): {d:?} {a:?} {b:?}", path.display())),
                }
            })
        });
        // Else the generated inputs of `check_ops` (mainline, pid ops
        // included), as for the IPC mutants.
        let caught = caught.or_else(|| {
            (0..CASES).find_map(|case| {
                let mut mutated = || -> Result<Box<dyn Backend>, BackendError> {
                    let root = PidNamespace::new_root_with_mutant(Variant::Mainline, m);
                    let sys = System::with_root(root, Box::new(IpcNamespace::new));
                    Ok(Box::new(ConcurrentBackend::with_system(sys)))
                };
                match check_ops_with(
                    &nscheck::ops::check_input(SEED, case),
                    BackendKind::Concurrent,
                    &mut mutated,
                ) {
                    Ok(_) => None,
                    Err(Failure::Diverged(found)) => {
                        Some(format!("check_ops input {case}: {found}"))
                    }
                    Err(Failure::Unavailable(why)) => panic!("the concurrent backend: {why}"),
                }
            })
        });
        match caught {
            Some(how) => eprintln!("{m:?}: {how}"),
            None => panic!("{m:?} passes every pid script in every dialect and {CASES} inputs"),
        }
    }
}

/// Every mutant of the `rfc2012` copy counter (`Mutant::RFC2012`, carried
/// by the queues of an IPC namespace of that variant) makes a copy-counter
/// script of `corpus/dialects/` diverge from the model in `rfc2012`, the
/// IPC state compared after every statement, which the unmutated variant
/// passes.
#[test]
fn every_copy_counter_mutant_fails_a_copy_counter_script() {
    use nscheck::backend::make;
    use nscheck_concurrent::ipc::Variant;
    use nscheck_model::Dialect;

    let mut paths = crate::common::scripts("dialects");
    paths.retain(|p| crate::common::stem(p).starts_with("copy-counter-"));
    assert!(paths.len() >= 5, "the copy-counter scripts are missing");
    // The unmutated variant passes them all.
    for path in &paths {
        let script = nscheck::script::load_script(path).expect("the script loads");
        let mut plain = || make(BackendKind::Concurrent, Dialect::Rfc2012, None);
        match nscheck::ops::lockstep_in(&script, Dialect::Rfc2012, &mut plain) {
            Ok((_, None)) => {}
            Ok((_, Some(mismatch))) => panic!("{}: {mismatch}", path.display()),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    for &m in Mutant::RFC2012 {
        let mut mutated = || -> Result<Box<dyn Backend>, BackendError> {
            let maker = move || IpcNamespace::with_variant_and_mutant(Variant::Rfc2012, m);
            Ok(Box::new(ConcurrentBackend::with_namespaces(Arc::new(
                maker,
            ))))
        };
        let caught = paths.iter().find_map(|path| {
            let script = nscheck::script::load_script(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match nscheck::ops::lockstep_in(&script, Dialect::Rfc2012, &mut mutated) {
                Ok((_, Some(mismatch))) => Some(format!("{}: {mismatch}", path.display())),
                Ok((_, None)) => None,
                Err(e) => panic!("{m:?}: {}: {e}", path.display()),
            }
        });
        match caught {
            Some(how) => eprintln!("{m:?}: {how}"),
            None => panic!("{m:?} passes every copy-counter script"),
        }
    }
}
