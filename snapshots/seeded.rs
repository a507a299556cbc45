//! Snapshot traces of deterministic seeded scenarios, on every backend and
//! every dialect.
//!
//! Cases 0..CASES of seed 1 of the generator (`nscheck gen --seed 1 --case
//! N`) cover message queues, PID namespaces and both mixed. Each case's
//! trace under each dialect is pinned as `seeded__s1-cNN@DIALECT.snap` (a
//! script error, possible under a historical dialect, is pinned as the last
//! line). The mainline trace must also be what the concurrent implementation
//! gives and what the real kernel gives
//! (skipped, with the reason, where the linux backend cannot run).

use std::path::Path;

use nscheck::backend::Backend;
use nscheck::backend::concurrent::ConcurrentBackend;
use nscheck::backend::linux::LinuxBackend;
use nscheck::backend::model::ModelBackend;
use nscheck::generate::generate;
use nscheck::run::run_partial;
use nscheck::script::Script;
use nscheck_model::Dialect;

/// How many cases of seed 1 are pinned.
const CASES: u64 = 8;

/// The trace text, with the error that stopped it as a last line.
fn trace(script: &Script, backend: &mut dyn Backend) -> String {
    let (trace, error) = run_partial(script, backend);
    let mut text = trace.text();
    if let Some(e) = &error {
        text += &format!("# stopped: {e}\n");
    }
    text
}

#[test]
fn seeded_scenarios_on_every_backend_and_dialect() {
    let linux_exe = Path::new(env!("CARGO_BIN_EXE_nscheck"));
    let mut failures = Vec::new();
    for case in 0..CASES {
        let src = generate(1, case);
        let name = format!("s1-c{case:02}");
        let script = Script::parse(&format!("seed 1 case {case}"), &src).expect("parses");
        let mut mainline = String::new();
        for &dialect in Dialect::ALL {
            let text = trace(&script, &mut ModelBackend::new(dialect));
            insta::with_settings!({
                snapshot_path => ".",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => format!("nscheck gen --seed 1 --case {case} | nscheck run --dialect {dialect}"),
            }, {
                insta::assert_snapshot!(format!("seeded__{name}@{dialect}"), text);
            });
            if dialect == Dialect::Mainline {
                mainline = text;
            }
        }
        let text = trace(&script, &mut ConcurrentBackend::new());
        if text != mainline {
            failures.push(format!(
                "{name}: concurrent differs from the model\n--- model\n{mainline}--- concurrent\n{text}"
            ));
        }
        match LinuxBackend::new(linux_exe) {
            Err(e) => eprintln!("{name}: not compared with linux: {e}"),
            Ok(mut linux) => {
                let text = trace(&script, &mut linux);
                if text != mainline {
                    failures.push(format!(
                        "{name}: linux differs from the model\n--- model\n{mainline}--- linux\n{text}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
