//! `nscheck-benches`: the benchmarks live in `benches/msgq.rs`; run them with
//! `cargo bench -p nscheck-benches`. This library is empty.
