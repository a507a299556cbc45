//! Rule coverage of the committed corpus (`nscheck::coverage`).
//!
//! The corpus (conformance scripts, dialect scripts in every dialect,
//! regressions, and the `msg_diff` and `pid_diff` fuzz corpora) must keep
//! reaching every rule its baseline, `corpus/coverage.txt`, lists, and must
//! reach every rule a script can reach. `NSCHECK_UPDATE_COVERAGE=1` rewrites
//! the baseline instead of comparing: an explicit step, never a silent one.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nscheck::coverage::{Baseline, Coverage, corpus_hits};
use nscheck_model::Hits;

/// The repository's `corpus/`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

/// The committed baseline's path.
fn baseline_path() -> PathBuf {
    root().join("coverage.txt")
}

/// The whole corpus's hits, counted once for every test of this module.
fn corpus() -> &'static Hits {
    static HITS: OnceLock<Hits> = OnceLock::new();
    HITS.get_or_init(|| corpus_hits(&root(), &|_| false).unwrap_or_else(|e| panic!("{e}")))
}

/// A report of the rules `baseline` lists that `now` does not reach, or
/// `None` when it lost none.
fn lost_report(baseline: &Baseline, now: &Baseline) -> Option<String> {
    let lost = baseline.lost(now);
    (!lost.is_empty()).then(|| {
        format!(
            "the corpus no longer reaches {} rule(s) it used to: {}",
            lost.len(),
            lost.join(", ")
        )
    })
}

#[test]
fn corpus_keeps_reaching_the_rules_of_its_baseline() {
    let now = Baseline::of(&Coverage::of(corpus().clone()));
    if std::env::var_os("NSCHECK_UPDATE_COVERAGE").is_some() {
        std::fs::write(baseline_path(), now.text()).expect("a writable corpus/coverage.txt");
        eprintln!("wrote {} rules to corpus/coverage.txt", now.0.len());
        return;
    }
    let text = std::fs::read_to_string(baseline_path()).expect("corpus/coverage.txt");
    let baseline = Baseline::parse(&text);
    let gained = baseline.gained(&now);
    if !gained.is_empty() {
        eprintln!(
            "the corpus now also reaches {} (NSCHECK_UPDATE_COVERAGE=1 adds them to corpus/coverage.txt)",
            gained.join(", ")
        );
    }
    if let Some(report) = lost_report(&baseline, &now) {
        panic!("{report}");
    }
}

#[test]
fn corpus_reaches_every_reachable_rule() {
    let coverage = Coverage::of(corpus().clone());
    let missed: Vec<_> = coverage
        .missed()
        .iter()
        .map(|r| format!("{} ({})", r.name, r.description))
        .collect();
    assert!(
        missed.is_empty(),
        "the corpus reaches no script for {} reachable rule(s):\n{}",
        missed.len(),
        missed.join("\n")
    );
}

/// The check can fail: without the one conformance script that nests 33
/// PID namespaces, the corpus loses `pid.R29`, and the comparison with the
/// baseline says so by name.
#[test]
fn a_removed_script_is_reported_as_a_lost_rule() {
    let baseline = Baseline::of(&Coverage::of(corpus().clone()));
    let without = corpus_hits(&root(), &|p| {
        p.file_name()
            .is_some_and(|n| n == "096-pid-ltp-pidns32.nsc")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let report = lost_report(&baseline, &Baseline::of(&Coverage::of(without)));
    let report = report.expect("a lost rule");
    assert!(report.contains("pid.R29"), "{report}");
}
