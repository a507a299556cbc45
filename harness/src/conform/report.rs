//! A survey's report: the Markdown table, the JSON of `--report`, and one
//! script file a class.

use std::path::{Path, PathBuf};

use super::survey::Found;

/// The classes as a Markdown table, one row a class in the order they were
/// found.
pub fn table(classes: &[Found]) -> String {
    let mut s = String::from(
        "| # | kind | cases | statements | signature |\n\
         |--:|------|------:|-----------:|-----------|\n",
    );
    for (i, f) in classes.iter().enumerate() {
        s += &format!(
            "| {} | {} | {} | {} | `{}` |\n",
            i + 1,
            f.class.kind.name(),
            f.cases,
            f.script.stmts.len(),
            f.class.signature.replace('|', "\\|")
        );
    }
    s
}

/// The report of `--report PATH`: `{"implementation": ..., "classes":
/// [{"signature", "kind", "cases", "script"}]}`, the script being the
/// shrunk script's text.
pub fn json(implementation: &str, classes: &[Found]) -> String {
    let classes: Vec<serde_json::Value> = classes
        .iter()
        .map(|f| {
            serde_json::json!({
                "signature": f.class.signature,
                "kind": f.class.kind.name(),
                "cases": f.cases,
                "script": f.script.to_source(),
            })
        })
        .collect();
    let report = serde_json::json!({
        "implementation": implementation,
        "classes": classes,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("JSON values serialize");
    text.push('\n');
    text
}

/// A file name for a class: its signature's words, lower case, joined by
/// `-`, at most 60 characters.
pub fn slug(signature: &str) -> String {
    let mut s = String::new();
    for c in signature.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    let mut s = s.trim_end_matches('-').to_string();
    if s.len() > 60 {
        s.truncate(60);
        s = s.trim_end_matches('-').to_string();
    }
    s
}

/// Writes every class's script to `dir/SLUG.nsc` (a number appended where
/// two slugs meet), with a header: the signature (`# class: `), the kind
/// (`# kind: `), how it was found (`how`), where it diverges, and how to
/// replay it (`replay`, the command before the file name).
pub fn write_classes(
    dir: &Path,
    classes: &[Found],
    how: &str,
    replay: &str,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for f in classes {
        let base = slug(&f.class.signature);
        let mut path = dir.join(format!("{base}.nsc"));
        let mut n = 2;
        while paths.contains(&path) {
            path = dir.join(format!("{base}-{n}.nsc"));
            n += 1;
        }
        let mut text = format!(
            "# class: {}\n# kind: {}\n# Found by {how}: {} case(s), the first case {}, shrunk.\n",
            f.class.signature,
            f.class.kind.name(),
            f.cases,
            f.first_case
        );
        if let Some(d) = &f.divergence {
            for l in format!("The model (Linux 6.18) and the implementation differ at {d}").lines()
            {
                text += &format!("# {l}\n");
            }
        }
        text += &format!("# Replay: {replay} {}\n", path.display());
        text += &f.script.to_source();
        std::fs::write(&path, text)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::classes::{Class, Kind};
    use crate::script::Script;

    fn found(signature: &str, kind: Kind, src: &str) -> Found {
        Found {
            class: Class {
                kind,
                signature: signature.to_string(),
            },
            cases: 3,
            first_case: 7,
            script: Script::parse("t", src).unwrap(),
            divergence: None,
        }
    }

    #[test]
    fn the_json_has_exactly_the_reported_fields() {
        let f = found(
            "msgctl(Q, IPC_INFO): linux N, impl 0",
            Kind::Wrong,
            "q = msgget(IPC_PRIVATE, 0600)\nmsgctl(q, IPC_INFO)\n",
        );
        let v: serde_json::Value = serde_json::from_str(&json("gvisor", &[f])).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "implementation": "gvisor",
                "classes": [{
                    "signature": "msgctl(Q, IPC_INFO): linux N, impl 0",
                    "kind": "wrong",
                    "cases": 3,
                    "script": "q = msgget(IPC_PRIVATE, 0600)\nmsgctl(q, IPC_INFO)\n",
                }],
            })
        );
    }

    #[test]
    fn the_table_escapes_bars() {
        let f = found(
            "msgrcv(Q, N, 0, MSG_COPY|IPC_NOWAIT): linux -1 EINVAL, impl -1 ENOMSG",
            Kind::Missing,
            "getpid()\n",
        );
        let t = table(&[f]);
        assert!(t.ends_with(
            "| 1 | missing | 3 | 1 | `msgrcv(Q, N, 0, MSG_COPY\\|IPC_NOWAIT): linux -1 EINVAL, impl -1 ENOMSG` |\n"
        ));
    }

    #[test]
    fn slugs_are_words() {
        for (sig, slug_) in [
            (
                "msgctl(Q, IPC_INFO): linux N, impl 0",
                "msgctl-q-ipc-info-linux-n-impl-0",
            ),
            (
                "sysctl(\"kernel.msg_next_id\", N): missing: /proc/sys/kernel/msg_next_id does not exist",
                "sysctl-kernel-msg-next-id-n-missing-proc-sys-kernel-msg-next",
            ),
        ] {
            assert_eq!(slug(sig), slug_);
        }
    }
}
