//! Load benchmark of session-plus against its peers (issue #5).
//!
//! - [`servers`]: the servers under test, served by the `load-server` binary;
//! - the `load-bench` binary starts each one, drives it with `wrk`, and writes
//!   the report (`BENCHMARKS.md`) and the chart (`bench-chart.svg`).
//!
//! Run everything with `bench/run.sh` from the repository root.

pub mod driver;
pub mod servers;
