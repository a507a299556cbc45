//! The model against the concurrent implementation over bolero-generated op
//! sequences (`nscheck::ops::check_ops`, the check every front end shares).
//!
//! Under `cargo test` it runs for a bounded time with random inputs; run it
//! coverage-guided with
//! `cargo bolero test -p nscheck-props msg_diff::model_and_concurrent_agree --sanitizer NONE -T 60s`.

use std::sync::Mutex;
use std::time::Duration;

use nscheck::backend::BackendKind;
use nscheck::ops::{Failure, Op, OpStats, check_ops};

/// How long the random check runs under `cargo test`.
const TEST_TIME: Duration = Duration::from_secs(2);

#[test]
fn model_and_concurrent_agree() {
    static TOTAL: Mutex<Option<OpStats>> = Mutex::new(None);
    bolero::check!()
        .with_type::<Vec<Op>>()
        .with_test_time(TEST_TIME)
        .for_each(
            |ops: &Vec<Op>| match check_ops(ops, BackendKind::Concurrent) {
                Ok(stats) => {
                    let mut total = TOTAL.lock().unwrap_or_else(|e| e.into_inner());
                    total.get_or_insert_with(OpStats::default).merge(&stats);
                }
                Err(Failure::Unavailable(why)) => panic!("the concurrent backend: {why}"),
                Err(Failure::Diverged(found)) => panic!("{found}"),
            },
        );
    let total = TOTAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = total.as_ref() {
        println!(
            "{} inputs, {} ops, {} statements, {:.1}% of the calls succeeded",
            t.inputs,
            t.ops,
            t.stats.statements,
            100.0 * t.success_share()
        );
    }
}
