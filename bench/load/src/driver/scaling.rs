//! Connection scaling (issue 14, item 5): requests/s and server CPU per
//! request with 1, 16 and 256 concurrent connections, on one session (every
//! request carries the same session cookie, as in the main table) versus many
//! sessions (each request carries the next of N pre-created sessions' cookies,
//! round robin, from a wrk Lua script).
//!
//! Both modes go through the same Lua script (one cookie or N), so wrk's own
//! cost per request is the same in both. Sessions are created before the load
//! with one `GET /write` each, without cookies; the driver then checks that the
//! load used them: the number of distinct cookies, Redis `DBSIZE` after the
//! server's runs (no request made a session of its own), and, after the
//! many-sessions `/write` runs of a Redis kind, how many of the sessions'
//! counters advanced (read back through `/read`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use session_plus_testkit::Reply;

use crate::driver::backends::Backends;
use crate::driver::run::{Config, Server};
use crate::driver::wrk::{self, WrkArgs, WrkResult};
use crate::driver::{cpu, http};
use crate::servers::Kind;

/// The servers of the section (those of them the run selects with `--only`).
pub const KINDS: [Kind; 6] = [
    Kind::Baseline,
    Kind::SpCookie,
    Kind::SpRedis,
    Kind::SpRedisNear,
    Kind::SpRedisNearOwn,
    Kind::ActixRedis,
];

/// The routes of the section.
pub const ROUTES: [&str; 2] = ["/read", "/write"];

/// How to run the section.
#[derive(Debug, Clone)]
pub struct ScalingConfig {
    /// Run the section at all (`--no-scaling` turns it off).
    pub enabled: bool,
    /// Run only the section, not the main table (`--scaling-only`).
    pub only: bool,
    /// Seconds of measured load per cell.
    pub seconds: u32,
    /// Seconds of unmeasured load (16 connections) before the cells of each
    /// server, route and mode.
    pub warmup_secs: u32,
    /// Sessions of the many-sessions mode.
    pub sessions: u32,
    /// Connection counts (wrk `-c`; always one wrk thread).
    pub connections: Vec<u32>,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            only: false,
            seconds: 2,
            warmup_secs: 1,
            sessions: 1000,
            connections: vec![1, 16, 256],
        }
    }
}

/// One server, route, mode and connection count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    /// The server.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// `/read` or `/write`.
    pub route: &'static str,
    /// Sessions the requests rotate over (1: one session; 0: none, the
    /// baseline).
    pub sessions: usize,
    /// wrk connections.
    pub connections: u32,
    /// wrk's figures.
    pub wrk: WrkResult,
    /// Server CPU (user + system) per request, microseconds.
    pub cpu_us_per_req: f64,
}

/// What the driver checked about one server's sessions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    /// The server.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// Sessions created (one `GET /write` each, without cookies).
    pub created: usize,
    /// Distinct `Cookie` headers among them.
    pub distinct_cookies: usize,
    /// Redis `DBSIZE` after all of the server's runs (Redis kinds): equal to
    /// `created` when every request found its session.
    pub redis_keys_after: Option<i64>,
    /// Sessions whose counter advanced during the many-sessions `/write`
    /// runs, read back with `/read` (Redis kinds: cookie kinds keep the
    /// counter in the cookie, which wrk does not store).
    pub written: Option<usize>,
}

impl Check {
    /// Whether everything checked is as expected.
    pub fn ok(&self) -> bool {
        let n = self.created;
        self.distinct_cookies == n
            && self.redis_keys_after.is_none_or(|k| k == n as i64)
            && self.written.is_none_or(|w| w == n)
    }
}

/// The whole section.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Scaling {
    /// Seconds of load per cell.
    pub seconds: u32,
    /// Seconds of warm-up per server, route and mode.
    pub warmup_secs: u32,
    /// Sessions of the many-sessions mode.
    pub sessions: u32,
    /// Connection counts.
    pub connections: Vec<u32>,
    /// Every cell.
    pub cells: Vec<Cell>,
    /// The session checks, one per server with sessions.
    pub checks: Vec<Check>,
    /// Wall-clock seconds the section took.
    pub elapsed_secs: f64,
}

impl Scaling {
    /// The cell of `kind`, `route`, `many` sessions or one, `connections`.
    pub fn get(&self, kind: Kind, route: &str, many: bool, connections: u32) -> Option<&Cell> {
        self.cells.iter().find(|c| {
            c.kind == kind
                && c.route == route
                && c.connections == connections
                && (c.sessions > 1) == many
        })
    }
}

fn kind_name<S: serde::Serializer>(k: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

/// A Lua script file, removed on drop.
struct Script(PathBuf);

impl Script {
    fn write(text: &str, tag: &str) -> Result<Self, String> {
        let path =
            std::env::temp_dir().join(format!("load-bench-{}-{tag}.lua", std::process::id()));
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Run the section for the scaling kinds among `cfg.kinds`. Progress goes to
/// stderr.
pub fn run(cfg: &Config, backends: &Backends) -> Result<Scaling, String> {
    let sc = &cfg.scaling;
    let began = Instant::now();
    let mut out = Scaling {
        seconds: sc.seconds,
        warmup_secs: sc.warmup_secs,
        sessions: sc.sessions,
        connections: sc.connections.clone(),
        ..Scaling::default()
    };
    for kind in KINDS.into_iter().filter(|k| cfg.kinds.contains(k)) {
        eprintln!("[scaling] {kind}");
        backends.reset(kind)?;
        let server = Server::start(cfg, kind, &backends.url(kind)?)?;
        let cookies = if kind == Kind::Baseline {
            Vec::new()
        } else {
            create_sessions(server.port, sc.sessions)?
        };
        let mut check = (kind != Kind::Baseline).then(|| Check {
            kind,
            created: cookies.len(),
            distinct_cookies: cookies.iter().collect::<BTreeSet<_>>().len(),
            redis_keys_after: None,
            written: None,
        });
        for route in ROUTES {
            let modes: Vec<Vec<String>> = if cookies.is_empty() {
                vec![vec![String::new()]]
            } else {
                vec![vec![cookies[0].clone()], cookies.clone()]
            };
            for mode in modes {
                let sessions = if cookies.is_empty() { 0 } else { mode.len() };
                let script = Script::write(
                    &wrk::round_robin_script(route, &mode),
                    &format!("{}-{}", kind.name(), mode.len()),
                )?;
                let url = format!("http://127.0.0.1:{}{route}", server.port);
                let args = |connections: u32, seconds: u32| WrkArgs {
                    threads: 1,
                    connections,
                    seconds,
                    cpus: cfg.wrk.cpus.clone(),
                };
                if sc.warmup_secs > 0 {
                    wrk::run_script(&args(16, sc.warmup_secs), &url, &script.0)?;
                }
                for &connections in &sc.connections {
                    let before = cpu::seconds(server.child.id());
                    let result = wrk::run_script(&args(connections, sc.seconds), &url, &script.0)?;
                    let cpu_secs = cpu::seconds(server.child.id()) - before;
                    let cell = Cell {
                        kind,
                        route,
                        sessions,
                        connections,
                        cpu_us_per_req: cpu_secs * 1e6 / result.requests as f64,
                        wrk: result,
                    };
                    eprintln!(
                        "    {route:<7} {:>4} session(s) -c{connections:<4} {:>9.0} req/s  p99 {:>8.0} µs  server CPU {:>6.1} µs/req  errors {}",
                        sessions,
                        cell.wrk.rps,
                        cell.wrk.p99_us,
                        cell.cpu_us_per_req,
                        cell.wrk.non_2xx + cell.wrk.socket_errors
                    );
                    out.cells.push(cell);
                }
            }
            if route == "/write" && kind.uses_redis() {
                if let Some(c) = check.as_mut() {
                    c.written = Some(count_written(server.port, &cookies)?);
                }
            }
        }
        drop(server);
        if let Some(mut c) = check {
            if kind.uses_redis() {
                c.redis_keys_after = Some(dbsize(backends)?);
            }
            eprintln!(
                "    sessions: {} created, {} distinct cookies, Redis keys after: {}, counters advanced by /write: {}{}",
                c.created,
                c.distinct_cookies,
                c.redis_keys_after.map_or("-".to_owned(), |k| k.to_string()),
                c.written.map_or("-".to_owned(), |w| w.to_string()),
                if c.ok() { "" } else { "  ** NOT AS EXPECTED **" }
            );
            out.checks.push(c);
        }
    }
    out.elapsed_secs = began.elapsed().as_secs_f64();
    eprintln!("[scaling] took {:.0} s", out.elapsed_secs);
    Ok(out)
}

/// `n` new sessions: one `GET /write` each without cookies; their `Cookie`
/// headers.
fn create_sessions(port: u16, n: u32) -> Result<Vec<String>, String> {
    (0..n)
        .map(|i| {
            let p = http::get(port, "/write", None)?;
            let cookie = p.cookie_header();
            if p.status != 200 || p.body.trim() != "1" || cookie.is_empty() {
                return Err(format!(
                    "creating session {i}: /write answered {} {:?} with cookies {cookie:?}",
                    p.status, p.body
                ));
            }
            Ok(cookie)
        })
        .collect()
}

/// How many of the sessions' counters are above 1 (advanced since their
/// creation), read with `/read`.
fn count_written(port: u16, cookies: &[String]) -> Result<usize, String> {
    let mut n = 0;
    for c in cookies {
        let p = http::get(port, "/read", Some(c))?;
        if p.status == 200 && p.body.trim().parse::<i64>().is_ok_and(|v| v > 1) {
            n += 1;
        }
    }
    Ok(n)
}

fn dbsize(backends: &Backends) -> Result<i64, String> {
    match backends.redis.command(&["DBSIZE"]) {
        Ok(Reply::Integer(n)) => Ok(n),
        other => Err(format!("DBSIZE answered {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_fails_on_a_new_session_or_an_unwritten_one() {
        let good = Check {
            kind: Kind::SpRedis,
            created: 3,
            distinct_cookies: 3,
            redis_keys_after: Some(3),
            written: Some(3),
        };
        assert!(good.ok());
        assert!(!Check {
            redis_keys_after: Some(4),
            ..good.clone()
        }
        .ok());
        assert!(!Check {
            written: Some(2),
            ..good.clone()
        }
        .ok());
        assert!(!Check {
            distinct_cookies: 1,
            ..good.clone()
        }
        .ok());
        assert!(Check {
            redis_keys_after: None,
            written: None,
            ..good
        }
        .ok());
    }
}
