//! The lock-section table: for each place in `nscheck-concurrent` that
//! takes a lock, which scenarios made a thread find it held by another.
//!
//! The places come from the implementation's source ([`sections`]): every
//! call of the synchronization facade's `lock`, `read` and `write`, and of
//! `Queue::lock` (which passes its caller's line on in a shuttle build).
//! A helper that wraps them without passing the caller on (the tasklist's
//! `read` and `write`, a pid table shard's `write`, a namespace's
//! `alloc_lock`) is one place, the lock as a whole. The hits come from
//! the facade's contention log of a shuttle build
//! (`nscheck_concurrent::sync::contention`), keyed by `file:line`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// A place that takes a lock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Section {
    /// The file, as the compiler names it (`concurrent/src/ipc/ops.rs`).
    pub file: String,
    /// The line of the call.
    pub line: u32,
    /// The function the call is in.
    pub function: String,
    /// The call's line of code, trimmed.
    pub code: String,
    /// Whether the call is only reached with a deliberate bug on (it is
    /// inside an `if mutant!(...)` block).
    pub mutant_only: bool,
}

/// The contention of one scenario: `(file, line)` and how many times.
pub type Hits = BTreeMap<(&'static str, u32), u64>;

/// Every place of `concurrent/src` (under `root`, the workspace) that
/// takes a lock, in file and line order.
pub fn sections(root: &Path) -> Vec<Section> {
    let mut files = Vec::new();
    collect(&root.join("concurrent/src"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let rel = path
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        if rel.ends_with("sync.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !takes_lock(l, rel.contains("/ipc/")) {
                continue;
            }
            let (function, passes_caller) = function_of(&lines[..=i]);
            if !passes_caller {
                out.push(Section {
                    file: rel.clone(),
                    line: i as u32 + 1,
                    function,
                    code: l.trim().to_string(),
                    mutant_only: lines[i.saturating_sub(3)..i]
                        .iter()
                        .any(|p| p.contains("mutant!(")),
                });
            }
        }
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether line `l` calls a facade helper (`lock(`, `read(`, `write(`
/// not after `.`, `fn ` or an identifier character), or, in the IPC
/// module, `Queue::lock` (`.lock()`).
fn takes_lock(l: &str, ipc: bool) -> bool {
    let t = l.trim_start();
    if t.starts_with("//") || t.contains("fn ") {
        return false;
    }
    if ipc && t.contains(".lock()") {
        return true;
    }
    ["lock(", "read(", "write("].iter().any(|h| {
        t.match_indices(h).any(|(i, _)| {
            let before = t[..i].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        })
    })
}

/// The name of the last function (or macro) declared in `lines`, and
/// whether it passes its caller's line on (`track_caller` on one of the
/// two lines above it), which makes its callers the sections.
fn function_of(lines: &[&str]) -> (String, bool) {
    for (i, l) in lines.iter().enumerate().rev() {
        let Some((at, len)) = ["fn ", "macro_rules! "]
            .iter()
            .find_map(|k| Some((l.find(k)?, k.len())))
        else {
            continue;
        };
        let rest = &l[at + len..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let above = &lines[i.saturating_sub(2)..i];
        let passes = above.iter().any(|a| a.contains("track_caller"));
        return (rest[..end].to_string(), passes);
    }
    (String::new(), false)
}

/// The table (Markdown): one row a section, the scenarios that contended
/// it (with the number of contended acquisitions over all their
/// executions), then the gaps: the sections no scenario contended.
/// `runs` maps a scenario's name to its hits.
pub fn table(sections: &[Section], runs: &BTreeMap<String, Hits>) -> String {
    let mut out = String::from(
        "| section | function | code | contended by (contended acquisitions) |\n|---|---|---|---|\n",
    );
    let mut gaps = Vec::new();
    let known: BTreeSet<(String, u32)> =
        sections.iter().map(|s| (s.file.clone(), s.line)).collect();
    for s in sections {
        let by: Vec<String> = runs
            .iter()
            .filter_map(|(name, hits)| {
                let n = hits.get(&(s.file.as_str(), s.line))?;
                Some(format!("{name} ({n})"))
            })
            .collect();
        let by = if by.is_empty() {
            if s.mutant_only {
                "(reached only under a mutant)".to_string()
            } else {
                gaps.push(s);
                "**none**".to_string()
            }
        } else {
            by.join(", ")
        };
        let short = s.file.trim_start_matches("concurrent/src/");
        writeln!(
            out,
            "| {short}:{} | `{}` | `{}` | {by} |",
            s.line,
            s.function,
            s.code.replace('|', "\\|")
        )
        .expect("a String takes it");
    }
    let unknown: BTreeSet<String> = runs
        .values()
        .flat_map(|h| h.keys())
        .filter(|(f, l)| !known.contains(&(f.to_string(), *l)))
        .map(|(f, l)| format!("{f}:{l}"))
        .collect();
    writeln!(
        out,
        "\n{} sections, {} contended, {} gaps.",
        sections.len(),
        sections.len() - gaps.len() - sections.iter().filter(|s| s.mutant_only).count(),
        gaps.len()
    )
    .expect("a String takes it");
    for g in &gaps {
        writeln!(out, "- gap: {}:{} `{}`", g.file, g.line, g.function).expect("a String takes it");
    }
    if !unknown.is_empty() {
        writeln!(
            out,
            "- contended at sites the scan does not list: {}",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        )
        .expect("a String takes it");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_finds_the_facade_calls() {
        assert!(takes_lock("        let mut q = queue.lock();", true));
        assert!(!takes_lock("        let mut q = queue.lock();", false));
        assert!(takes_lock(
            "        lock(&self.state).killed = true;",
            false
        ));
        assert!(takes_lock("        read(&self.tasklist)", false));
        assert!(!takes_lock("    pub(crate) fn read(&self) -> X {", false));
        assert!(!takes_lock("        self.sys.read();", false));
        assert!(!takes_lock("    // lock(&x)", false));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let s = sections(&root);
        assert!(s.iter().any(|s| s.file == "concurrent/src/ipc/ops.rs"));
        assert!(s.iter().all(|s| !s.function.is_empty()), "{s:?}");
        // `Queue::lock` passes its caller's line on: its callers count.
        assert!(!s.iter().any(|s| s.function == "lock"), "{s:?}");
    }
}
