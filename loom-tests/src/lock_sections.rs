//! The lock-section table: for each place in `nscheck-concurrent` that
//! takes a lock, which scenarios made a thread find it held by another.
//!
//! The places come from the implementation's source ([`sections`]): every
//! call of the synchronization facade's `lock`, `read` and `write`, and of
//! `Queue::lock` (which passes its caller's line on in a shuttle build).
//! A helper that wraps them without passing the caller on (the tasklist's
//! `read` and `write`, a pid table shard's `write`, a namespace's
//! `alloc_lock`) is one place, the lock as a whole. A macro that takes a
//! lock (`pid/variant.rs`'s `each!`) is expanded where it is invoked, so
//! each invocation is a place. The hits come from the facade's contention
//! log of a shuttle build (`nscheck_concurrent::sync::contention`), keyed
//! by `file:line`.
//!
//! Some places no scenario can contend, and the table says why instead
//! of listing them as gaps ([`Reach`]): those only a deliberate bug
//! reaches, those compiled only into a test build (`#[cfg(test)]`), and
//! those in a function holding `&mut self` (no other thread can hold a
//! reference, let alone the lock).

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
    /// Whether a scenario can contend it at all.
    pub reach: Reach,
}

/// Whether a scenario can contend a [`Section`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// The implementation takes it, in any build.
    Always,
    /// Only with a deliberate bug on (the call is inside an
    /// `if mutant!(...)` block).
    MutantOnly,
    /// Only in a test build: the function is under a `#[cfg(...)]` that
    /// names `test` (a quiescence check of the crate's own tests).
    TestOnly,
    /// Never by two threads: the function holds `&mut self`, so no other
    /// thread holds a reference to the lock.
    Exclusive,
}

impl Reach {
    /// What the table says of a section of this kind that no scenario
    /// contended; `None` for a gap.
    fn why_not(self) -> Option<&'static str> {
        match self {
            Reach::Always => None,
            Reach::MutantOnly => Some("(reached only under a mutant)"),
            Reach::TestOnly => Some("(test builds only: `#[cfg(test)]`)"),
            Reach::Exclusive => Some("(uncontendable: `&mut self`)"),
        }
    }
}

/// The contention of one scenario: `(file, line)` and how many times.
pub type Hits = BTreeMap<(&'static str, u32), u64>;

/// Every place of `concurrent/src` (under `root`, the workspace) that
/// takes a lock, in file and line order.
pub fn sections(root: &Path) -> Vec<Section> {
    let mut paths = Vec::new();
    collect(&root.join("concurrent/src"), &mut paths);
    paths.sort();
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|path| {
            let rel = path
                .strip_prefix(root)
                .expect("under the root")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(path).unwrap_or_default())
        })
        .filter(|(rel, _)| !rel.ends_with("sync.rs"))
        .collect();
    // The macros that take a lock: their invocations are the places.
    let mut macros = BTreeSet::new();
    let mut out = Vec::new();
    for (rel, text) in &files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !takes_lock(l, rel.contains("/ipc/")) {
                continue;
            }
            let item = item_of(&lines[..=i]);
            if item.is_macro {
                macros.insert(format!("{}!(", item.name));
            } else if !item.passes_caller {
                let mutant = lines[i.saturating_sub(3)..i]
                    .iter()
                    .any(|p| p.contains("mutant!("));
                out.push(section(rel, &lines, i, item, mutant));
            }
        }
    }
    for (rel, text) in &files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if t.starts_with("//") || !macros.iter().any(|m| t.contains(m.as_str())) {
                continue;
            }
            let item = item_of(&lines[..=i]);
            if !item.is_macro {
                out.push(section(rel, &lines, i, item, false));
            }
        }
    }
    out.sort();
    out
}

/// The section at line `i` of `lines` (of the file `rel`), in `item`.
fn section(rel: &str, lines: &[&str], i: usize, item: Item, mutant: bool) -> Section {
    let reach = if mutant {
        Reach::MutantOnly
    } else if item.test_only {
        Reach::TestOnly
    } else if item.exclusive {
        Reach::Exclusive
    } else {
        Reach::Always
    };
    Section {
        file: rel.to_string(),
        line: i as u32 + 1,
        function: item.name,
        code: lines[i].trim().to_string(),
        reach,
    }
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

/// The function (or macro) a line is in.
#[derive(Debug, Default)]
struct Item {
    name: String,
    /// A `macro_rules!`: its invocations are the places.
    is_macro: bool,
    /// `track_caller` on one of the two lines above it: its callers are
    /// the places.
    passes_caller: bool,
    /// A `#[cfg(...)]` naming `test` on one of the two lines above it.
    test_only: bool,
    /// Its signature holds `&mut self`.
    exclusive: bool,
}

/// The last function (or macro) declared in `lines`.
fn item_of(lines: &[&str]) -> Item {
    for (i, l) in lines.iter().enumerate().rev() {
        let Some((at, len, is_macro)) = [("fn ", false), ("macro_rules! ", true)]
            .iter()
            .find_map(|&(k, m)| Some((l.find(k)?, k.len(), m)))
        else {
            continue;
        };
        let rest = &l[at + len..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let above = &lines[i.saturating_sub(2)..i];
        return Item {
            name: rest[..end].to_string(),
            is_macro,
            passes_caller: above.iter().any(|a| a.contains("track_caller")),
            test_only: above
                .iter()
                .any(|a| a.contains("#[cfg(") && a.contains("test")),
            exclusive: l.contains("&mut self"),
        };
    }
    Item::default()
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
            match s.reach.why_not() {
                Some(why) => why.to_string(),
                None => {
                    gaps.push(s);
                    "**none**".to_string()
                }
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
    let contended = sections
        .iter()
        .filter(|s| {
            runs.values()
                .any(|h| h.contains_key(&(s.file.as_str(), s.line)))
        })
        .count();
    let kinds = [Reach::MutantOnly, Reach::TestOnly, Reach::Exclusive]
        .map(|r| sections.iter().filter(|s| s.reach == r).count());
    writeln!(
        out,
        "\n{} sections, {contended} contended, {} gaps; {} reached only under a mutant, \
         {} in test builds only, {} uncontendable (`&mut self`).",
        sections.len(),
        gaps.len(),
        kinds[0],
        kinds[1],
        kinds[2]
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
        // A macro's invocations are the places, not its body.
        assert!(!s.iter().any(|s| s.function == "each"), "{s:?}");
        assert!(
            s.iter()
                .any(|s| s.file.ends_with("variant.rs") && s.function == "alloc"),
            "{s:?}"
        );
    }
}
