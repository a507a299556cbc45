//! gVisor's divergence classes (`corpus/gvisor/*.nsc`): one script a class
//! that `nscheck conform --backend gvisor` found in runsc 20221219, each
//! with its class in its header (`# class: SIGNATURE`, `# kind: KIND`).
//!
//! Every script must still fall into its class when compared with the model
//! (`nscheck::conform::survey::compare`, what `nscheck diff --backend
//! gvisor` runs), so that a regression in detection shows; and gVisor's
//! trace of it (with the error that stopped it as a last line) is pinned as
//! `gvisor__<stem>.snap`, except for a nondeterministic class, whose trace
//! varies. Where runsc cannot run, the test says why on standard error and
//! passes. All scripts are checked before the test fails.

use nscheck::backend::{BackendError, BackendKind};
use nscheck::conform::survey::compare;
use nscheck::script::Script;

use crate::common::{backend, pinned, scripts, stem};

/// The value of the header line `# KEY: VALUE` of `src`.
fn header<'a>(src: &'a str, key: &str) -> Option<&'a str> {
    src.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
}

#[test]
fn gvisor_classes_are_still_found() {
    if let Err(BackendError::Unavailable(why)) = backend(BackendKind::Gvisor) {
        eprintln!("gvisor_classes_are_still_found: skipped, gvisor cannot run here: {why}");
        return;
    }
    let mut failures = Vec::new();
    let files = scripts("gvisor");
    for path in &files {
        let name = stem(path);
        let src = std::fs::read_to_string(path).expect("a readable script");
        let script = Script::parse(&format!("corpus/gvisor/{name}.nsc"), &src)
            .unwrap_or_else(|e| panic!("{e}"));
        let (Some(want), Some(kind)) = (header(&src, "class"), header(&src, "kind")) else {
            failures.push(format!("{name}: no `# class:` or `# kind:` header"));
            continue;
        };
        let c = match compare(&script, &mut || backend(BackendKind::Gvisor)) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        match c.class() {
            Some(got)
                if got.signature == want
                    && (got.kind.name() == kind || kind == "nondeterministic") => {}
            got => failures.push(format!(
                "{name}: the class was `{want}` ({kind}), now {got:?}"
            )),
        }
        if kind == "nondeterministic" {
            continue;
        }
        let mut trace = c.other.text();
        if let Some(e) = &c.error {
            trace += &format!("# stopped: {e}\n");
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(".");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_input_file(path);
        settings.set_description(format!(
            "nscheck run --backend gvisor corpus/gvisor/{name}.nsc"
        ));
        pinned(&mut failures, &name, || {
            settings.bind(|| insta::assert_snapshot!(format!("gvisor__{name}"), trace));
        });
    }
    eprintln!("{} gvisor class script(s) checked", files.len());
    assert!(
        failures.is_empty(),
        "{} failure(s) (run `cargo insta review` for snapshots):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
