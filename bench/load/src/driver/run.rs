//! The benchmark run: each server in turn on loopback, driven by wrk.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use session_plus_testkit::free_port;

use crate::driver::backends::Backends;
use crate::driver::redis::{delta, Monitor, Trace};
use crate::driver::results::{Measurement, Run, ROUTES};
use crate::driver::wrk::{self, WrkArgs, WrkResult};
use crate::driver::{cpu, http};
use crate::servers::Kind;

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `load-server` binary (release build).
    pub server_bin: PathBuf,
    /// The Python venv with gunicorn and flask-session-plus.
    pub venv: PathBuf,
    /// The directory of the Flask peer's `app.py`.
    pub flask_dir: PathBuf,
    /// Servers to run, in order.
    pub kinds: Vec<Kind>,
    /// The measured wrk runs.
    pub wrk: WrkArgs,
    /// Seconds of unmeasured load before each measured run.
    pub warmup_secs: u32,
    /// Times the whole sequence is repeated; the best round of each server and
    /// route is reported.
    pub rounds: u32,
    /// CPU list the servers (and every thread they start) are pinned to.
    pub server_cpus: Option<String>,
    /// The connection-scaling section.
    pub scaling: crate::driver::scaling::ScalingConfig,
}

/// A server process under test; killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Server {
    /// Start `kind` (pinned to the servers' CPUs) with its backend at
    /// `backend_url`, and wait until it answers.
    pub(crate) fn start(cfg: &Config, kind: Kind, backend_url: &str) -> Result<Self, String> {
        let port = free_port();
        let mut cmd = match &cfg.server_cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]);
                c
            }
            None => Command::new("env"),
        };
        if kind == Kind::Flask {
            cmd.arg(cfg.venv.join("bin/gunicorn"))
                .args(["--workers", "2", "--log-level", "warning", "--bind"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--chdir")
                .arg(&cfg.flask_dir)
                .arg("app:app")
                .env("BENCH_REDIS_URL", backend_url);
        } else {
            cmd.arg(&cfg.server_bin)
                .arg(kind.name())
                .arg(port.to_string())
                .arg(backend_url);
        }
        let child = cmd
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {kind}: {e}"))?;
        let mut server = Self { child, port };
        if let Err(e) = http::wait_until_up(port, Duration::from_secs(30)) {
            server.stop();
            return Err(format!("{kind}: {e}"));
        }
        Ok(server)
    }

    /// SIGTERM (gunicorn's master then stops its workers), SIGKILL after 5 s.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // The shell's builtin `kill`: no procps needed on a minimal machine.
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One round of one server on one route.
struct Sample {
    wrk: WrkResult,
    /// Server CPU seconds over the measured run.
    cpu_secs: f64,
    commands: crate::driver::redis::CommandCounts,
}

/// Run the whole benchmark: the main table (unless `cfg.scaling.only`),
/// then the connection-scaling section (if `cfg.scaling.enabled`). Progress
/// goes to stderr. Also returns the backends' version lines for the report.
pub fn run(cfg: &Config) -> Result<(Run, Vec<(String, String)>), String> {
    // The backends share the load generator's core, away from the servers.
    let scaling_kinds: Vec<Kind> = if cfg.scaling.enabled {
        crate::driver::scaling::KINDS
            .into_iter()
            .filter(|k| cfg.kinds.contains(k))
            .collect()
    } else {
        Vec::new()
    };
    if cfg.scaling.only && scaling_kinds.is_empty() {
        return Err(format!(
            "--scaling-only: none of the scaling servers ({}) is in --only",
            crate::driver::scaling::KINDS.map(Kind::name).join(", ")
        ));
    }
    let main_kinds: &[Kind] = if cfg.scaling.only { &[] } else { &cfg.kinds };
    let all_kinds: Vec<Kind> = main_kinds.iter().chain(&scaling_kinds).copied().collect();
    let backends = Backends::start(&all_kinds, cfg.wrk.cpus.clone())?;
    for (name, pid, cpus) in &backends.pinned {
        eprintln!("pinned {name} ({pid}) to CPU {cpus}");
    }
    let mut out = if main_kinds.is_empty() {
        Run::default()
    } else {
        main_table(cfg, &backends)?
    };
    if cfg.scaling.enabled && !scaling_kinds.is_empty() {
        out.scaling = Some(crate::driver::scaling::run(cfg, &backends)?);
    }
    Ok((out, backends.versions()))
}

fn main_table(cfg: &Config, backends: &Backends) -> Result<Run, String> {
    let redis = &backends.redis;
    let mut samples: Vec<Vec<Vec<Sample>>> = Vec::new();
    let mut probes: Vec<Vec<(Trace, http::Probe)>> = Vec::new();
    for round in 0..cfg.rounds {
        for (ki, &kind) in cfg.kinds.iter().enumerate() {
            eprintln!("[round {}/{}] {kind}", round + 1, cfg.rounds);
            backends.reset(kind)?;
            let server = Server::start(cfg, kind, &backends.url(kind)?)?;
            let primed = http::get(server.port, "/write", None)?;
            if primed.status != 200 || primed.body.trim() != "1" {
                return Err(format!(
                    "{kind}: first /write answered {} {:?}",
                    primed.status, primed.body
                ));
            }
            let cookie = primed.cookie_header();
            if round == 0 {
                samples.push(Vec::new());
                probes.push(Vec::new());
            }
            for (ri, route) in ROUTES.iter().enumerate() {
                let target = format!("http://127.0.0.1:{}{route}", server.port);
                let warm = WrkArgs {
                    seconds: cfg.warmup_secs,
                    ..cfg.wrk.clone()
                };
                if cfg.warmup_secs > 0 {
                    wrk::run(&warm, &target, &cookie)?;
                }
                let before = backends.counts(kind)?;
                let cpu_before = cpu::seconds(server.child.id());
                let result = wrk::run(&cfg.wrk, &target, &cookie)?;
                let cpu_secs = cpu::seconds(server.child.id()) - cpu_before;
                let after = backends.counts(kind)?;
                eprintln!(
                    "    {route:<7} {:>9.0} req/s  p50 {:>8.0} µs  p99 {:>8.0} µs  server CPU {:>6.1} µs/req",
                    result.rps,
                    result.p50_us,
                    result.p99_us,
                    cpu_secs * 1e6 / result.requests as f64
                );
                let sample = Sample {
                    wrk: result,
                    cpu_secs,
                    commands: delta(&before, &after),
                };
                if round == 0 {
                    samples[ki].push(vec![sample]);
                    let mut monitor = Monitor::start(redis.port())?;
                    monitor.settle();
                    let probe = http::get(server.port, route, Some(&cookie))?;
                    probes[ki].push((monitor.finish(), probe));
                } else {
                    samples[ki][ri].push(sample);
                }
            }
            drop(server);
        }
    }
    let mut out = Run::default();
    for (ki, &kind) in cfg.kinds.iter().enumerate() {
        for (ri, &route) in ROUTES.iter().enumerate() {
            let rounds = &samples[ki][ri];
            let best = rounds
                .iter()
                .max_by(|a, b| a.wrk.rps.total_cmp(&b.wrk.rps))
                .ok_or("no samples")?;
            let (trace, probe) = probes[ki][ri].clone();
            let requests = best.wrk.requests as f64;
            let lua_only = trace.lua_only();
            let total: u64 = best.commands.values().sum();
            let client: u64 = best
                .commands
                .iter()
                .filter(|(name, _)| !lua_only.contains(name.as_str()))
                .map(|(_, n)| n)
                .sum();
            let breakdown = best
                .commands
                .iter()
                .map(|(name, n)| format!("{name} {:.2}", *n as f64 / requests))
                .collect::<Vec<_>>()
                .join(", ");
            out.measurements.push(Measurement {
                kind,
                route,
                wrk: best.wrk.clone(),
                rounds_rps: rounds.iter().map(|s| s.wrk.rps).collect(),
                cpu_us_per_req: best.cpu_secs * 1e6 / requests,
                redis_client_per_req: client as f64 / requests,
                redis_total_per_req: total as f64 / requests,
                redis_breakdown: breakdown,
                commands_counted: Backends::counts_commands(kind),
                trace,
                set_cookie_bytes: probe.set_cookie_bytes(),
                set_cookie_count: probe.set_cookies.len(),
            });
        }
    }
    Ok(out)
}
