//! Rule coverage: which rules of the specification a run made the model
//! take, from the model's per-thread counters (`nscheck_model::rules`).
//!
//! [`Coverage`] turns a [`Hits`] into the table that `nscheck check` and
//! `nscheck conform` end with (hits per rule, the reachable rules never hit,
//! the unreachable ones with their reason) and into JSON (`--coverage
//! PATH`). [`corpus_hits`] runs the committed corpora on the model and
//! counts what they reach; [`Baseline`] is the committed list of the rules
//! they reached (`corpus/coverage.txt`), which the corpus test compares
//! against so that a rule the corpus used to reach cannot be lost silently.
//!
//! The counters belong to the thread that runs the model, so a caller
//! takes a [`snapshot`] before and after the work it measures
//! ([`measure`]); the model runs on the calling thread in every campaign.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nscheck_model::rules::{RULES, snapshot};
use nscheck_model::{Dialect, Hits, RuleInfo};

use crate::backend::model::ModelBackend;
use crate::run::run_partial;
use crate::script::load_script;

/// Runs `work` and returns its result with the rules the model took on
/// this thread meanwhile.
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, Hits) {
    let before = snapshot();
    let result = work();
    (result, snapshot().since(&before))
}

/// The rule coverage of one run.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// How often each rule was taken.
    pub hits: Hits,
}

impl Coverage {
    /// The coverage of these hits.
    pub fn of(hits: Hits) -> Coverage {
        Coverage { hits }
    }

    /// The rules taken at least once, in table order.
    pub fn reached(&self) -> impl Iterator<Item = &'static RuleInfo> + '_ {
        self.hits.iter().filter(|&(_, n)| n > 0).map(|(r, _)| r)
    }

    /// The rules a script can reach that were never taken.
    pub fn missed(&self) -> Vec<&'static RuleInfo> {
        self.hits
            .iter()
            .filter(|&(r, n)| n == 0 && r.unreachable.is_none())
            .map(|(r, _)| r)
            .collect()
    }

    /// The rules no script can reach, with their reason.
    pub fn unreachable() -> impl Iterator<Item = (&'static RuleInfo, &'static str)> {
        RULES
            .iter()
            .filter_map(|r| r.unreachable.map(|why| (r, why)))
    }

    /// The number of rules a script can reach.
    pub fn reachable_count() -> usize {
        RULES.len() - Self::unreachable().count()
    }

    /// The table printed at the end of `nscheck check` and `nscheck
    /// conform`: a summary line, the hits of every reachable rule, the
    /// reachable rules never hit, and the unreachable ones with their
    /// reason.
    pub fn table(&self) -> String {
        let reachable = Self::reachable_count();
        let missed = self.missed();
        let mut out = format!(
            "rule coverage: {} of {reachable} reachable rules hit ({} rules, {} unreachable)\n\n",
            reachable - missed.len(),
            RULES.len(),
            RULES.len() - reachable
        );
        let width = RULES.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let _ = writeln!(out, "{:width$}  {:>12}", "rule", "hits");
        for (r, n) in self.hits.iter().filter(|(r, _)| r.unreachable.is_none()) {
            let _ = writeln!(out, "{:width$}  {n:>12}", r.name);
        }
        if missed.is_empty() {
            out.push_str("\nnever hit: none\n");
        } else {
            let _ = writeln!(out, "\nnever hit ({}):", missed.len());
            for r in missed {
                let _ = writeln!(out, "  {:width$}  {}", r.name, r.description);
            }
        }
        let _ = writeln!(out, "\nunreachable ({}):", RULES.len() - reachable);
        for (r, why) in Self::unreachable() {
            let _ = writeln!(out, "  {:width$}  {why}", r.name);
        }
        out
    }

    /// The coverage as JSON: every rule with its description, hits and,
    /// where no script can reach it, the reason; then the totals and the
    /// names of the reachable rules never hit.
    pub fn json(&self) -> serde_json::Value {
        let rules: Vec<_> = self
            .hits
            .iter()
            .map(|(r, n)| {
                serde_json::json!({
                    "name": r.name,
                    "description": r.description,
                    "hits": n,
                    "unreachable": r.unreachable,
                })
            })
            .collect();
        let missed: Vec<_> = self.missed().iter().map(|r| r.name).collect();
        serde_json::json!({
            "rules": rules,
            "total": RULES.len(),
            "reachable": Self::reachable_count(),
            "reached": self.reached().count(),
            "missed": missed,
        })
    }

    /// Writes [`Coverage::json`] to `path`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(&self.json()).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// Runs a campaign (`work`, which returns its exit code) and then prints
/// its rule coverage, and writes it as JSON to `json` if given. The table
/// comes last, after everything the campaign printed; a campaign that did
/// not run (exit code 2 or 3) prints none.
pub fn report_after(json: Option<&Path>, work: impl FnOnce() -> i32) -> i32 {
    let (code, hits) = measure(work);
    if code == 2 || code == 3 {
        return code;
    }
    let coverage = Coverage::of(hits);
    println!("\n{}", coverage.table());
    if let Some(path) = json
        && let Err(e) = coverage.write_json(path)
    {
        eprintln!("nscheck: cannot write {}: {e}", path.display());
        return 1;
    }
    code
}

/// One part of the committed corpus and how it is run to count its rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusPart {
    /// Scripts run on the model in one or more dialects.
    Scripts(&'static str, &'static [Dialect]),
    /// A differential fuzz corpus, decoded through `ops::decode` and checked
    /// against the concurrent implementation by `ops::check_ops`, as the
    /// fuzz target does.
    Ops(&'static str),
}

/// The committed corpora whose coverage the corpus test keeps: the
/// conformance scripts, the dialect scripts in every dialect, the
/// regressions, and the fuzz corpora of `msg_diff` and `pid_diff`.
pub const CORPUS: &[CorpusPart] = &[
    CorpusPart::Scripts("conformance", &[Dialect::Mainline]),
    CorpusPart::Scripts("dialects", Dialect::ALL),
    CorpusPart::Scripts("regressions", &[Dialect::Mainline]),
    CorpusPart::Ops("msg_diff"),
    CorpusPart::Ops("pid_diff"),
];

/// The files of `dir`, sorted by name (only `*.nsc` with `scripts`).
pub(crate) fn files(dir: &Path, scripts: bool) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && (!scripts || p.extension().is_some_and(|e| e == "nsc")))
        .collect();
    files.sort();
    Ok(files)
}

/// The rules the committed corpora under `root` (the repository's
/// `corpus/`) reach on the model, leaving out the files for which `skip`
/// is true. A script runs up to its first error (as the dialect snapshots
/// do); a fuzz input that diverges still counts what it ran.
pub fn corpus_hits(root: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<Hits, String> {
    let mut total = Hits::default();
    for part in CORPUS {
        let (dir, scripts) = match *part {
            CorpusPart::Scripts(dir, _) => (dir, true),
            CorpusPart::Ops(dir) => (dir, false),
        };
        for path in files(&root.join(dir), scripts)? {
            if skip(&path) {
                continue;
            }
            let ((), hits) = match *part {
                CorpusPart::Scripts(_, dialects) => {
                    let script = load_script(&path).map_err(|e| e.to_string())?;
                    measure(|| {
                        for &dialect in dialects {
                            run_partial(&script, &mut ModelBackend::new(dialect));
                        }
                    })
                }
                CorpusPart::Ops(_) => {
                    let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                    measure(|| check_bytes(&bytes))
                }
            };
            total.merge(&hits);
        }
    }
    Ok(total)
}

/// Decodes a fuzz input and checks it against the concurrent
/// implementation, as the fuzz targets do; the verdict does not matter here.
#[cfg(feature = "arbitrary")]
fn check_bytes(bytes: &[u8]) {
    if let Some(ops) = crate::ops::decode(bytes) {
        let _ = crate::ops::check_ops(&ops, crate::backend::BackendKind::Concurrent);
    }
}

/// Without the feature `arbitrary` there is no decoding: the fuzz corpora
/// count nothing.
#[cfg(not(feature = "arbitrary"))]
fn check_bytes(_: &[u8]) {}

/// The committed list of the rules the corpus reaches
/// (`corpus/coverage.txt`): one rule name a line, `#` comments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline(pub BTreeSet<String>);

impl Baseline {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Baseline {
        Baseline(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The rules `coverage` reaches, as a baseline.
    pub fn of(coverage: &Coverage) -> Baseline {
        Baseline(coverage.reached().map(|r| r.name.to_owned()).collect())
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "# The rules the committed corpus reaches on the model, one a line\n\
             # (nscheck_model::rules). The corpus test fails when one is no longer\n\
             # reached; NSCHECK_UPDATE_COVERAGE=1 cargo test -p nscheck --test tests\n\
             # coverage:: rewrites this file.\n",
        );
        for name in &self.0 {
            out.push_str(name);
            out.push('\n');
        }
        out
    }

    /// The rules of this baseline that `now` no longer reaches.
    pub fn lost(&self, now: &Baseline) -> Vec<String> {
        self.0.difference(&now.0).cloned().collect()
    }

    /// The rules `now` reaches that this baseline does not list.
    pub fn gained(&self, now: &Baseline) -> Vec<String> {
        now.0.difference(&self.0).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nscheck_model::Rule;

    #[test]
    fn the_table_lists_hits_and_what_was_missed() {
        let ((), hits) = measure(|| {
            let mut b = ModelBackend::new(Dialect::Mainline);
            let script = crate::script::Script::parse("t.nsc", "msgget(IPC_PRIVATE, 0600)\n")
                .expect("a valid script");
            run_partial(&script, &mut b);
        });
        assert_eq!(hits.get(Rule::MsgR36Private), 1);
        let c = Coverage::of(hits);
        let table = c.table();
        assert!(table.contains("msg.R36.private"), "{table}");
        assert!(c.missed().iter().any(|r| r.rule == Rule::MsgR23));
        assert!(table.contains("unreachable ("));
        let json = c.json();
        assert_eq!(json["total"], RULES.len());
        assert!(json["missed"].as_array().unwrap().len() == c.missed().len());
    }

    #[test]
    fn a_baseline_reports_what_was_lost_and_gained() {
        let old = Baseline::parse("# comment\nmsg.R2\nmsg.R3\n");
        let now = Baseline::parse("msg.R3\nmsg.R5\n");
        assert_eq!(old.lost(&now), vec!["msg.R2".to_owned()]);
        assert_eq!(old.gained(&now), vec!["msg.R5".to_owned()]);
        assert_eq!(Baseline::parse(&now.text()), now);
    }
}
