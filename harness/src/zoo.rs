//! `nscheck zoo`: the kill matrix of the bug zoo.
//!
//! The zoo is the concurrent implementation's deliberate bugs
//! (`nscheck_concurrent::mutants`, compiled in by the cargo feature
//! `mutants` of this crate). The matrix says, for every mutant and every
//! checker, whether the checker catches it and how long it takes:
//!
//! - **fuzzing**: the fuzzing half of `nscheck check`
//!   ([`FuzzCampaign`](crate::fuzz_campaign::FuzzCampaign): the
//!   deterministic rule-steered stream of each dialect in turn, or with
//!   `--no-steer` the base stream [`check_input`](crate::ops::check_input);
//!   msg and pid ops), input after input until the first divergence
//!   (shrunk) or the time budget; this column is computed here;
//! - **corpus**: the scripts of `corpus/conformance/` (mainline) and
//!   `corpus/dialects/` (in every dialect) in lockstep with the model,
//!   script after script until the first divergence: what `cargo test`
//!   replays; computed here too;
//! - **loom** and **shuttle**: every scenario of `nscheck-loom-tests`
//!   against the mutant, each run in a child process; those runs need
//!   builds with their own `RUSTFLAGS`, so `ci/zoo.sh` runs them first and
//!   hands their result files to `nscheck zoo --results`.
//!
//! A mutant is killed when at least one checker catches it. The command
//! fails unless every mutant is killed, every scenario of a loom or shuttle
//! column fails against at least one mutant, and the unmutated
//! implementation passes the fuzzing inputs that caught the mutants.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One cell of the matrix: a checker's verdict on a mutant.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub caught: bool,
    /// Time to detection (the whole budget spent for a survivor), seconds.
    pub secs: f64,
    /// What caught it, or what was tried.
    pub detail: String,
}

impl Cell {
    fn show(&self) -> String {
        if self.caught {
            format!("caught in {} ({})", secs(self.secs), self.detail)
        } else {
            format!("survived ({})", self.detail)
        }
    }
}

/// A duration given in seconds, with the precision that matters.
fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// One checker's column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Column {
    /// The checker's name.
    pub checker: String,
    /// Its budget, in words.
    pub budget: String,
    /// The verdict for each mutant, by name.
    pub cells: BTreeMap<String, Cell>,
    /// For checkers with scenarios: each scenario, in catalogue order, and
    /// the mutants it fails against.
    pub scenarios: Vec<(String, Vec<String>)>,
}

/// One run of a results file.
struct Run<'a> {
    mutant: &'a str,
    scenario: &'a str,
    caught: bool,
    secs: f64,
    why: &'a str,
}

/// Reads a results file of the loom or shuttle zoo test
/// (`loom-tests/tests/common/mod.rs`, `zoo`): a `# checker<TAB>budget`
/// line, then `checker mutant scenario caught|survived seconds why`, tab
/// separated, one line per run. A mutant's cell is its fastest catching
/// run, with the number of scenarios that catch it; a survivor's is the
/// time all scenarios took.
pub fn parse_results(text: &str) -> Result<Column, String> {
    let mut col = Column::default();
    let mut runs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if let Some(header) = line.strip_prefix("# ") {
            let (checker, budget) = header.split_once('\t').ok_or_else(|| bad("a header"))?;
            col.checker = checker.to_string();
            col.budget = budget.to_string();
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [checker, mutant, scenario, verdict, secs, why] = f[..] else {
            return Err(bad("six fields"));
        };
        if checker != col.checker {
            return Err(bad("another checker than the header's"));
        }
        let caught = match verdict {
            "caught" => true,
            "survived" => false,
            _ => return Err(bad("caught or survived")),
        };
        let secs = secs.parse().map_err(|_| bad("seconds"))?;
        runs.push(Run {
            mutant,
            scenario,
            caught,
            secs,
            why,
        });
    }
    if col.checker.is_empty() {
        return Err("no `# checker<TAB>budget` header".into());
    }
    for r in &runs {
        if !col.scenarios.iter().any(|(s, _)| s == r.scenario) {
            col.scenarios.push((r.scenario.to_string(), Vec::new()));
        }
        if r.caught {
            let s = col.scenarios.iter_mut().find(|(s, _)| s == r.scenario);
            s.expect("just added").1.push(r.mutant.to_string());
        }
    }
    let mut mutants: Vec<&str> = Vec::new();
    for r in &runs {
        if !mutants.contains(&r.mutant) {
            mutants.push(r.mutant);
        }
    }
    for m in mutants {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.mutant == m).collect();
        let catching: Vec<&&Run> = mine.iter().filter(|r| r.caught).collect();
        let fastest = catching
            .iter()
            .min_by(|a, b| a.secs.total_cmp(&b.secs))
            .copied();
        let cell = match fastest {
            Some(r) => Cell {
                caught: true,
                secs: r.secs,
                detail: format!(
                    "{}: {}; {}/{} scenarios",
                    r.scenario,
                    r.why,
                    catching.len(),
                    mine.len()
                ),
            },
            None => {
                let total: f64 = mine.iter().map(|r| r.secs).sum();
                let timed_out = mine.iter().filter(|r| r.why.contains("timed out")).count();
                let mut detail = format!("{} scenarios in {}", mine.len(), secs(total));
                if timed_out > 0 {
                    let _ = write!(detail, ", {timed_out} timed out");
                }
                Cell {
                    caught: false,
                    secs: total,
                    detail,
                }
            }
        };
        col.cells.insert(m.to_string(), cell);
    }
    Ok(col)
}

/// A mutant's row heading: its name, the bug it is modelled on, and
/// whether a sequential run shows it.
#[derive(Clone, Debug)]
pub struct MutantInfo {
    pub name: String,
    pub bug: String,
    pub race: bool,
}

/// The matrix as Markdown, with the kill count and the scenario table;
/// the second value lists what fails the zoo's requirements (a survivor,
/// a scenario that catches nothing).
pub fn report(mutants: &[MutantInfo], columns: &[Column]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut problems = Vec::new();
    let _ = write!(out, "| mutant | bug | shows in |");
    for c in columns {
        let _ = write!(out, " {} ({}) |", c.checker, c.budget);
    }
    let _ = write!(out, "\n|---|---|---|");
    for _ in columns {
        out.push_str("---|");
    }
    out.push('\n');
    let mut killed = 0;
    for m in mutants {
        let kind = if m.race { "interleavings" } else { "sequence" };
        let _ = write!(out, "| `{}` | {} | {kind} |", m.name, m.bug);
        let mut caught = false;
        for c in columns {
            let cell = c.cells.get(&m.name);
            caught |= cell.is_some_and(|c| c.caught);
            let text = cell.map_or("not run".to_string(), Cell::show);
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
        if caught {
            killed += 1;
        } else {
            problems.push(format!("{} survives every checker", m.name));
        }
    }
    let _ = writeln!(
        out,
        "\nKilled: {killed} of {} mutants ({:.0}%).",
        mutants.len(),
        100.0 * f64::from(killed) / (mutants.len().max(1) as f64)
    );
    let with_scenarios: Vec<&Column> = columns.iter().filter(|c| !c.scenarios.is_empty()).collect();
    if let Some(first) = with_scenarios.first() {
        let _ = write!(out, "\n| scenario |");
        for c in &with_scenarios {
            let _ = write!(out, " fails under {} against |", c.checker);
        }
        let _ = write!(out, "\n|---|");
        for _ in &with_scenarios {
            out.push_str("---|");
        }
        out.push('\n');
        for (name, _) in &first.scenarios {
            let _ = write!(out, "| `{name}` |");
            for c in &with_scenarios {
                let list = c.scenarios.iter().find(|(s, _)| s == name);
                let text = match list {
                    None => "not run".to_string(),
                    Some((_, ms)) if ms.is_empty() => {
                        problems.push(format!("{} {name} fails against no mutant", c.checker));
                        "nothing".to_string()
                    }
                    Some((_, ms)) => ms.join(", "),
                };
                let _ = write!(out, " {text} |");
            }
            out.push('\n');
        }
    }
    (out, problems)
}

/// The mutants of the zoo, sequential ones first.
#[cfg(feature = "mutants")]
pub fn mutants() -> Vec<MutantInfo> {
    use nscheck_concurrent::mutants::Mutant;
    let info = |m: &Mutant, race| MutantInfo {
        name: format!("{m:?}"),
        bug: m.bug().to_string(),
        race,
    };
    all_mutants()
        .iter()
        .map(|m| {
            info(
                m,
                Mutant::RACES.contains(m) || Mutant::PID_RACES.contains(m),
            )
        })
        .collect()
}

/// A concurrent backend following `dialect` that carries `m` where `m`
/// lives: in every IPC namespace (the msg mutants), in the task half
/// (`Mutant::TASKS`) or in the tree of PID namespaces (`Mutant::PID` and
/// `Mutant::PID_RACES`). The unit tests have it too: they build with the
/// implementation's mutants (a dev-dependency).
#[cfg(any(test, feature = "mutants"))]
pub fn mutated(
    m: nscheck_concurrent::mutants::Mutant,
    dialect: nscheck_model::Dialect,
) -> crate::backend::concurrent::ConcurrentBackend {
    use crate::backend::concurrent::ConcurrentBackend;
    use nscheck_concurrent::IpcNamespace;
    use nscheck_concurrent::mutants::Mutant;
    use nscheck_concurrent::pid::PidNamespace;
    use nscheck_concurrent::proc::System;

    let (pid, msg) = crate::backend::concurrent_variants(dialect);
    let plain = Box::new(move || IpcNamespace::with_variant(msg));
    let sys = if Mutant::TASKS.contains(&m) {
        System::with_root_and_mutant(PidNamespace::new_root_variant(pid), plain, m)
    } else if Mutant::PID.contains(&m) || Mutant::PID_RACES.contains(&m) {
        System::with_root(PidNamespace::new_root_with_mutant(pid, m), plain)
    } else {
        System::with_root(
            PidNamespace::new_root_variant(pid),
            Box::new(move || IpcNamespace::with_variant_and_mutant(msg, m)),
        )
    };
    ConcurrentBackend::with_system(sys)
}

/// The dialects the corpus column replays `corpus/dialects/` in: every
/// one, as the implementation follows them all.
#[cfg(feature = "mutants")]
const CORPUS_DIALECTS: &[nscheck_model::Dialect] = nscheck_model::Dialect::ALL;

/// The corpus column: for each mutant, the scripts of `corpus/conformance/`
/// in mainline, then those of `corpus/dialects/` in each of
/// [`CORPUS_DIALECTS`], in lockstep with the model on a backend carrying
/// the mutant ([`mutated`]), until the first that diverges. The time to
/// detection runs from the first script. `None` where `corpus` has no such
/// directories (the command runs from the repository's root).
#[cfg(feature = "mutants")]
pub fn corpus_column(corpus: &std::path::Path) -> Result<Column, String> {
    use std::time::Instant;

    use crate::backend::Backend;
    use crate::ops::lockstep_in;
    use nscheck_model::Dialect;

    let mut runs = Vec::new();
    for (dir, dialects) in [
        ("conformance", &[Dialect::Mainline][..]),
        ("dialects", CORPUS_DIALECTS),
    ] {
        for path in crate::coverage::files(&corpus.join(dir), true)? {
            let script = crate::script::load_script(&path).map_err(|e| e.to_string())?;
            for &dialect in dialects {
                runs.push((path.clone(), script.clone(), dialect));
            }
        }
    }
    let mut col = Column {
        checker: "corpus".into(),
        budget: format!("{} script runs", runs.len()),
        ..Column::default()
    };
    for &m in all_mutants() {
        let start = Instant::now();
        let caught = runs.iter().position(|(_, script, dialect)| {
            let mut make = || -> Result<Box<dyn Backend>, crate::backend::BackendError> {
                Ok(Box::new(mutated(m, *dialect)))
            };
            matches!(lockstep_in(script, *dialect, &mut make), Ok((_, Some(_))))
        });
        let elapsed = start.elapsed().as_secs_f64();
        let cell = match caught {
            Some(i) => {
                let (path, _, dialect) = &runs[i];
                let name = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                Cell {
                    caught: true,
                    secs: elapsed,
                    detail: format!("{name} in {dialect}, script run {}", i + 1),
                }
            }
            None => Cell {
                caught: false,
                secs: elapsed,
                detail: format!("{} script runs in {}", runs.len(), secs(elapsed)),
            },
        };
        eprintln!("corpus {m:?}: {}", cell.show());
        col.cells.insert(format!("{m:?}"), cell);
    }
    Ok(col)
}

/// Every mutant, in the order of [`mutants`].
#[cfg(feature = "mutants")]
fn all_mutants() -> &'static [nscheck_concurrent::mutants::Mutant] {
    use nscheck_concurrent::mutants::Mutant;
    static ALL: std::sync::OnceLock<Vec<Mutant>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        [
            Mutant::ALL,
            Mutant::TASKS,
            Mutant::PID,
            Mutant::RFC2012,
            Mutant::RACES,
            Mutant::PID_RACES,
        ]
        .concat()
    })
}

/// The fuzzing column: for each mutant, the campaign of `nscheck check`
/// ([`FuzzCampaign`]`::new(seed, steer, time)`: mainline, then the
/// historical dialects) on a concurrent backend that carries it ([`mutated`]) until
/// the first divergence or `time`. The time to detection runs from the
/// first input to the shrunk counterexample. Then the unmutated
/// implementation must pass every input of each dialect's stream up to the
/// last one that caught a mutant there; the second value is the failure if
/// it does not.
///
/// [`FuzzCampaign`]: crate::fuzz_campaign::FuzzCampaign
#[cfg(feature = "mutants")]
pub fn fuzz_column(seed: u64, time: std::time::Duration, steer: bool) -> (Column, Option<String>) {
    use std::time::Instant;

    use crate::backend::{Backend, BackendError, BackendKind};
    use crate::fuzz_campaign::{DIALECT_SHARES, FuzzCampaign};
    use crate::ops::Failure;
    use crate::steer::Steering;
    use nscheck_concurrent::mutants::Mutant;
    use nscheck_model::Dialect;

    fn backend(m: Option<Mutant>, dialect: Dialect) -> Result<Box<dyn Backend>, BackendError> {
        Ok(match m {
            None => crate::backend::make(BackendKind::Concurrent, dialect, None)?,
            Some(m) => Box::new(mutated(m, dialect)) as Box<dyn Backend>,
        })
    }

    let steered = if steer { "steered" } else { "unsteered" };
    let mut col = Column {
        checker: "fuzzing".into(),
        budget: format!(
            "check_ops, {steered}, seed {seed}, at most {} s",
            time.as_secs()
        ),
        ..Column::default()
    };
    // The last input of each dialect's stream that caught a mutant.
    let mut last_catch: Vec<(Dialect, u64)> = Vec::new();
    for &m in all_mutants() {
        let start = Instant::now();
        let mut case = 0u64;
        let mut cell = None;
        let mut campaign = FuzzCampaign::new(seed, steer, time);
        while let Some(checked) =
            campaign.check(BackendKind::Concurrent, &mut |d| backend(Some(m), d))
        {
            match checked.result {
                Ok(_) => case += 1,
                Err(Failure::Diverged(found)) => {
                    let dialect = checked.dialect;
                    let where_ = match dialect {
                        Dialect::Mainline => String::new(),
                        d => format!("{d}, "),
                    };
                    cell = Some(Cell {
                        caught: true,
                        secs: start.elapsed().as_secs_f64(),
                        detail: format!(
                            "{where_}{}, {} statements shrunk to {}",
                            checked.input,
                            found.script.stmts.len(),
                            found.shrunk.stmts.len()
                        ),
                    });
                    match last_catch.iter_mut().find(|(d, _)| *d == dialect) {
                        Some((_, last)) => *last = (*last).max(checked.input.index),
                        None => last_catch.push((dialect, checked.input.index)),
                    }
                    break;
                }
                Err(Failure::Unavailable(why)) => {
                    panic!("the concurrent backend cannot run: {why}")
                }
            }
        }
        let cell = cell.unwrap_or_else(|| Cell {
            caught: false,
            secs: start.elapsed().as_secs_f64(),
            detail: format!("{case} inputs in {}", secs(start.elapsed().as_secs_f64())),
        });
        eprintln!("fuzzing {m:?}: {}", cell.show());
        col.cells.insert(format!("{m:?}"), cell);
    }
    let baseline = DIALECT_SHARES.iter().find_map(|&(dialect, _)| {
        let &(_, last) = last_catch.iter().find(|(d, _)| *d == dialect)?;
        let mut steering = Steering::in_dialect(seed, steer, dialect);
        (0..=last).find_map(|_| {
            match steering.check(BackendKind::Concurrent, &mut || backend(None, dialect)) {
                (_, Ok(_)) => None,
                (input, Err(f)) => Some(format!(
                    "the unmutated implementation fails {input} in {dialect}:\n{f}"
                )),
            }
        })
    });
    (col, baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOM: &str = "# loom\tpreemption bound 2\n\
        loom\tA\tone\tcaught\t0.500\tdeadlock\n\
        loom\tA\ttwo\tcaught\t0.100\tnot linearizable\n\
        loom\tB\tone\tsurvived\t2.000\t\n\
        loom\tB\ttwo\tsurvived\t3.000\ttimed out\n";

    #[test]
    fn results_files_become_columns() {
        let col = parse_results(LOOM).unwrap();
        assert_eq!(col.checker, "loom");
        assert_eq!(col.budget, "preemption bound 2");
        assert_eq!(
            col.cells["A"],
            Cell {
                caught: true,
                secs: 0.1,
                detail: "two: not linearizable; 2/2 scenarios".into()
            }
        );
        assert!(!col.cells["B"].caught);
        assert_eq!(col.cells["B"].detail, "2 scenarios in 5.00 s, 1 timed out");
        assert_eq!(
            col.scenarios,
            vec![
                ("one".to_string(), vec!["A".to_string()]),
                ("two".to_string(), vec!["A".to_string()])
            ]
        );
        assert!(parse_results("loom\tA\n").is_err());
        assert!(parse_results("# loom\tb\nshuttle\tA\tone\tcaught\t1\t\n").is_err());
    }

    #[test]
    fn the_report_counts_kills_and_idle_scenarios() {
        let info = |name: &str| MutantInfo {
            name: name.into(),
            bug: "B0".into(),
            race: false,
        };
        let col = parse_results(LOOM).unwrap();
        let (text, problems) = report(&[info("A"), info("B")], &[col]);
        assert!(text.contains("Killed: 1 of 2 mutants (50%)."), "{text}");
        assert!(
            text.contains("| `A` | B0 | sequence | caught in 100 ms"),
            "{text}"
        );
        assert_eq!(problems, vec!["B survives every checker".to_string()]);
        let mut col = parse_results(LOOM).unwrap();
        col.scenarios[1].1.clear();
        let (_, problems) = report(&[info("A")], &[col]);
        assert_eq!(
            problems,
            vec!["loom two fails against no mutant".to_string()]
        );
    }
}
