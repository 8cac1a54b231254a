//! The `load-bench` driver: runs every server under wrk, counts Redis
//! commands and cookie bytes, and writes the report and the chart.

pub mod chart;
pub mod cpu;
pub mod http;
pub mod redis;
pub mod report;
pub mod results;
pub mod run;
pub mod targets14;
pub mod wrk;
