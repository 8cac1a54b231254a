//! What one benchmark run measured.

use crate::driver::redis::Trace;
use crate::driver::wrk::WrkResult;
use crate::servers::Kind;

/// The three routes every server exposes.
pub const ROUTES: [&str; 3] = ["/none", "/read", "/write"];

/// One server on one route.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    /// The server.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// The route, e.g. `/read`.
    pub route: &'static str,
    /// The load generator's figures (best round).
    pub wrk: WrkResult,
    /// Requests/s of every round, in order.
    pub rounds_rps: Vec<f64>,
    /// Server CPU time (user + system, all threads and worker processes) per
    /// request over the chosen round, in microseconds.
    pub cpu_us_per_req: f64,
    /// Backend commands the server sent per request (round trips), from the
    /// delta over the chosen round of Redis `INFO commandstats` (memcached's
    /// `stats` for the memcache kind, MongoDB's `serverStatus` opcounters for
    /// the MongoDB kind; 0 for Firestore, whose commands are not counted: see
    /// `commands_counted`).
    pub redis_client_per_req: f64,
    /// Redis commands per request including those run inside Lua scripts.
    pub redis_total_per_req: f64,
    /// Per-command calls per request over the chosen round, e.g. `hgetall 1.00`.
    pub redis_breakdown: String,
    /// Whether the backend's commands were counted (every kind but
    /// Firestore's).
    pub commands_counted: bool,
    /// The commands of one probe request, from `MONITOR`.
    pub trace: Trace,
    /// Bytes of the `Set-Cookie` header values of one probe response.
    pub set_cookie_bytes: usize,
    /// Number of `Set-Cookie` headers in that response.
    pub set_cookie_count: usize,
}

fn kind_name<S: serde::Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

/// A whole run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Run {
    /// Every measurement, in server then route order.
    pub measurements: Vec<Measurement>,
    /// How the run was made (wrk arguments, pinning, machine), for the report.
    pub setup: Vec<(String, String)>,
    /// The connection-scaling section (`None` when skipped).
    pub scaling: Option<crate::driver::scaling::Scaling>,
}

impl Run {
    /// The measurement of `kind` on `route`, if it was run.
    pub fn get(&self, kind: Kind, route: &str) -> Option<&Measurement> {
        self.measurements
            .iter()
            .find(|m| m.kind == kind && m.route == route)
    }

    /// The servers measured, in order.
    pub fn kinds(&self) -> Vec<Kind> {
        let mut out: Vec<Kind> = Vec::new();
        for m in &self.measurements {
            if !out.contains(&m.kind) {
                out.push(m.kind);
            }
        }
        out
    }

    /// `kind`'s server CPU per request on `route` divided by the baseline's.
    pub fn cpu_ratio(&self, kind: Kind, route: &str) -> Option<f64> {
        let base = self.get(Kind::Baseline, route)?.cpu_us_per_req;
        Some(self.get(kind, route)?.cpu_us_per_req / base)
    }

    /// `kind`'s requests/s on `route` divided by the baseline's.
    pub fn rps_ratio(&self, kind: Kind, route: &str) -> Option<f64> {
        let base = self.get(Kind::Baseline, route)?.wrk.rps;
        Some(self.get(kind, route)?.wrk.rps / base)
    }
}
