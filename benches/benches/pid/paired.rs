//! Paired runs: the two implementations of a group run alternately, in
//! short rounds, and the ratio of their throughputs is taken round by
//! round. Criterion times one implementation for seconds and then the
//! other, so on a busy machine a change of load between the two moves their
//! ratio; a load that changes slowly moves both halves of a round alike.

use std::time::Duration;

/// The alternating rounds of one comparison.
pub const ROUNDS: usize = 15;

/// Criterion's options that take a value (as `cargo bench -- --help`
/// lists them), so that the filter is told from their values.
const VALUED: &[&str] = &[
    "-b",
    "--baseline",
    "--baseline-lenient",
    "-c",
    "--color",
    "--confidence-level",
    "--format",
    "--load-baseline",
    "--measurement-time",
    "--noise-threshold",
    "--nresamples",
    "--output-format",
    "--plotting-backend",
    "--profile-time",
    "-s",
    "--sample-size",
    "--save-baseline",
    "--significance-level",
    "--warm-up-time",
];

/// Whether the command line's filter, if it has one, names a part of
/// `group` (criterion reads the filter as a regular expression; a part of
/// a name is what one usually writes), and the run is a benchmark run
/// (`--bench`, as `cargo bench` passes, and neither `--list` nor
/// `--profile-time`).
fn wanted(group: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip = |a: &String| a == "--list" || a == "--profile-time";
    if !args.iter().any(|a| a == "--bench") || args.iter().any(skip) {
        return false;
    }
    let mut filter = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if VALUED.contains(&a) {
            i += 1;
        } else if !a.starts_with('-') && filter.is_none() {
            filter = Some(a);
        }
        i += 1;
    }
    filter.is_none_or(|f| group.contains(f) || f.contains(group))
}

/// Runs `a` then `b`, [`ROUNDS`] times, unless the command line's filter
/// leaves `group` out; each returns how many operations it
/// made and the time they took. Prints the median of the per-round ratios
/// of `a`'s throughput to `b`'s, with their range and the median
/// throughputs.
pub fn ratio(
    group: &str,
    mut a: impl FnMut() -> (u64, Duration),
    mut b: impl FnMut() -> (u64, Duration),
) {
    if !wanted(group) {
        return;
    }
    let rate = |(ops, d): (u64, Duration)| ops as f64 / d.as_secs_f64();
    let mut rounds: Vec<(f64, f64)> = (0..ROUNDS).map(|_| (rate(a()), rate(b()))).collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios: Vec<f64> = rounds.iter().map(|&(x, y)| x / y).collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let ra = median(rounds.iter().map(|r| r.0).collect());
    let rb = median(
        std::mem::take(&mut rounds)
            .into_iter()
            .map(|r| r.1)
            .collect(),
    );
    println!(
        "{group}: paired, {ROUNDS} rounds: concurrent / mutex_model = {:.2} (range {lo:.2} to {hi:.2}); \
         medians {:.2} M/s and {:.2} M/s",
        median(ratios),
        ra / 1e6,
        rb / 1e6
    );
}
