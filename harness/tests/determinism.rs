//! The same seed gives the same scripts and the same traces, byte for byte.

use std::process::Command;

use nscheck::backend::model::ModelBackend;
use nscheck::generate::generate;
use nscheck::run::run;
use nscheck::script::Script;
use nscheck_model::Dialect;

/// Generates `cases` scripts of `seed` and returns them with their model
/// traces, as one byte string.
fn campaign_bytes(seed: u64, cases: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for case in 0..cases {
        let src = generate(seed, case);
        let script = Script::parse("gen", &src).expect("generated scripts parse");
        for &dialect in Dialect::ALL {
            // Generated scripts are written for mainline; under another
            // dialect a run may stop at a script error, which is output too.
            let text = match run(&script, &mut ModelBackend::new(dialect)) {
                Ok(trace) => trace.text(),
                Err(e) => e.to_string(),
            };
            out.extend_from_slice(src.as_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_in_process() {
    let a = campaign_bytes(1, 300);
    let b = campaign_bytes(1, 300);
    assert!(
        a.len() > 10_000,
        "the campaign produced too little to compare"
    );
    assert!(a == b, "two runs of seed 1 differ");
    assert!(
        a != campaign_bytes(2, 300),
        "seeds 1 and 2 gave the same bytes"
    );
}

#[test]
fn same_seed_same_bytes_across_processes() {
    let generate_all = || {
        let out = Command::new(env!("CARGO_BIN_EXE_nscheck"))
            .args(["gen", "--seed", "42", "--count", "100"])
            .output()
            .expect("nscheck runs");
        assert!(out.status.success());
        out.stdout
    };
    let (a, b) = (generate_all(), generate_all());
    assert!(a.len() > 1000);
    assert_eq!(
        a, b,
        "two processes generated different scripts for seed 42"
    );
}
