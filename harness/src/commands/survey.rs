//! `nscheck conform` and `nscheck diff` against another implementation than
//! Linux (gVisor, or the kernel under `--wrap`): a survey of its divergence
//! classes ([`crate::conform::survey`]) and the comparison of one script
//! with queue ids normalized.

use std::path::Path;
use std::process::Command;

use nscheck_model::Dialect;

use super::{Bar, load};
use crate::backend::linux::wrap::{self, Wrap};
use crate::backend::{self, BackendKind};
use crate::conform::classes::Verdict;
use crate::conform::{Budget, report, survey::compare};

/// Whether `kind`, as the command line configured it, is another
/// implementation than Linux: gVisor, or the linux backend under `--wrap`.
pub fn is_external(kind: BackendKind) -> bool {
    match kind {
        BackendKind::Gvisor => true,
        BackendKind::Linux => matches!(wrap::configured(false), Ok(Some(_))),
        BackendKind::Model | BackendKind::Concurrent => false,
    }
}

/// The options that select `kind` as configured, for replay commands:
/// `--backend gvisor`, or with the `--wrap` that replaced its preset.
fn backend_args(kind: BackendKind) -> String {
    let gvisor = kind == BackendKind::Gvisor;
    match wrap::configured(gvisor) {
        Ok(Some(w)) if !gvisor || w.argv != Wrap::gvisor(None).argv => {
            format!("--backend {} --wrap '{}'", kind.name(), w.argv.join(" "))
        }
        _ => format!("--backend {}", kind.name()),
    }
}

/// What the report calls the implementation: gVisor with `runsc
/// --version`'s first line, a command prefix with its words, Linux with
/// its release.
fn implementation(kind: BackendKind) -> String {
    let wrap = wrap::configured(kind == BackendKind::Gvisor).ok().flatten();
    match (kind, wrap) {
        (BackendKind::Gvisor, Some(w)) => {
            let version = Command::new(&w.argv[0])
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.lines().next().map(str::to_string));
            format!("gvisor ({})", version.unwrap_or_else(|| w.argv.join(" ")))
        }
        (_, Some(w)) => format!("{} '{}'", w.name, w.argv.join(" ")),
        (BackendKind::Linux, None) => {
            let release = std::fs::read_to_string("/proc/sys/kernel/osrelease");
            format!("linux {}", release.unwrap_or_default().trim())
        }
        (kind, None) => kind.name().to_string(),
    }
}

/// `nscheck conform` as a survey: the model against `kind` over the
/// scripts for another implementation, the classes as a Markdown table
/// on standard output, the JSON report written to `report` and one script
/// a class to `regressions`, where given. 1 when a class was found, 0 when
/// none; 2 when the report or the scripts cannot be written (a directory
/// that cannot be made is said before the campaign).
pub fn survey(
    kind: BackendKind,
    seed: u64,
    budget: Budget,
    regressions: Option<&Path>,
    report_path: Option<&Path>,
) -> i32 {
    if let Some(dir) = regressions
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!(
            "nscheck: --regressions {}: cannot write: {e}",
            dir.display()
        );
        return 2;
    }
    let implementation = implementation(kind);
    let mut bar = Bar::new(budget);
    let mut other = || backend::make(kind, Dialect::Mainline, None);
    let result = crate::conform::survey::survey(seed, budget, &mut other, &mut bar);
    bar.bar.finish_and_clear();
    let found = match result {
        Ok(found) => found,
        Err(e) => {
            eprintln!("nscheck: {e}");
            return e.exit_code();
        }
    };
    let s = &found.stats;
    println!(
        "\nnscheck conform: the model (Linux 6.18) against {implementation}, seed {seed}: \
         {} cases, {} statements in {:.1} s ({:.1} s of it shrinking); {} diverged, in {} classes\n",
        s.cases,
        s.statements,
        found.elapsed.as_secs_f64(),
        found.shrinking.as_secs_f64(),
        s.divergences,
        found.classes.len(),
    );
    print!("{}", report::table(&found.classes));
    println!("\n{}", s.table());
    if let Some(path) = report_path {
        if let Err(e) = std::fs::write(path, report::json(&implementation, &found.classes)) {
            eprintln!("nscheck: --report {}: cannot write: {e}", path.display());
            return 2;
        }
        println!("report written to {}", path.display());
    }
    let args = backend_args(kind);
    if let Some(dir) = regressions {
        let how = format!("`nscheck conform {args} --seed {seed}`");
        match report::write_classes(dir, &found.classes, &how, &format!("nscheck diff {args}")) {
            Ok(paths) => println!("{} class scripts written to {}", paths.len(), dir.display()),
            Err(e) => {
                eprintln!(
                    "nscheck: --regressions {}: cannot write: {e}",
                    dir.display()
                );
                return 2;
            }
        }
    }
    if !found.classes.is_empty() {
        println!("replay a class's script: nscheck diff {args} FILE");
    }
    i32::from(!found.classes.is_empty())
}

/// `nscheck diff` against another implementation: the model's trace up to
/// where the normalized traces part, then where and the divergence's
/// class; 0 when they agree, 1 when they differ.
pub fn diff_external(file: &Path, kind: BackendKind) -> i32 {
    let mut other = || backend::make(kind, Dialect::Mainline, None);
    let compared = load(file).and_then(|script| compare(&script, &mut other));
    let c = match compared {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let name = kind.name();
    match (&c.verdict, c.divergence()) {
        (Verdict::Diverge { class, index }, Some(d)) => {
            print!(
                "{}",
                c.model.lines[..*index]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
            );
            println!("# model and {name} differ (queue ids as q#N, in creation order) at {d}");
            println!("# class ({}): {}", class.kind.name(), class.signature);
            1
        }
        (Verdict::Skip(why), _) => {
            eprintln!("{why}");
            2
        }
        _ => {
            print!("{}", c.model.text());
            println!(
                "# model and {name} agree (queue ids as q#N, in creation order; {} lines)",
                c.model.lines.len()
            );
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::backend::BackendKind;
    use crate::commands::conform_against;
    use crate::conform::Budget;

    #[test]
    fn a_report_that_cannot_be_written_is_exit_2_before_the_campaign() {
        let path = PathBuf::from("/nonexistent-nscheck-dir/r.json");
        // The model against itself would run; the report stops it first.
        let code = conform_against(BackendKind::Model, 1, Budget::Cases(1), None, Some(path));
        assert_eq!(code, 2);
    }

    #[test]
    fn a_survey_of_the_model_against_itself_finds_no_class() {
        let dir = std::env::temp_dir().join(format!("nscheck-survey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        let code = conform_against(
            BackendKind::Model,
            1,
            Budget::Cases(5),
            None,
            Some(path.clone()),
        );
        assert_eq!(code, 0);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(report["implementation"], "model");
        assert_eq!(report["classes"], serde_json::json!([]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
