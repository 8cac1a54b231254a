//! The `load-bench` driver: starts the backends, runs every server under
//! wrk, counts Redis and memcached commands and cookie bytes, measures
//! connection scaling, and writes the report and the chart.

pub mod backends;
pub mod chart;
pub mod cpu;
pub mod http;
pub mod redis;
pub mod report;
pub mod results;
pub mod run;
pub mod scaling;
pub mod targets14;
pub mod wrk;
