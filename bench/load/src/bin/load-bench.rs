//! `load-bench`: run every server of the load benchmark under wrk and write
//! the report section of BENCHMARKS.md, the SVG chart and a JSON dump.
//! `bench/run.sh` builds everything and calls it; see `--help`.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use session_plus_load::driver::run::{run, Config};
use session_plus_load::driver::scaling::ScalingConfig;
use session_plus_load::driver::wrk::WrkArgs;
use session_plus_load::driver::{chart, report};
use session_plus_load::servers::Kind;

const HELP: &str = "load-bench [options]   (run from the repository root)
  --only a,b,c        servers to run (default: all): baseline, sp-cookie, sp-redis, sp-seed,
                      sp-encrypted, sp-redis-near, sp-memcache, sp-mongodb, sp-firestore,
                      ts-memory, ts-redis, actix-cookie, actix-redis, sp-actix-cookie,
                      sp-actix-redis, flask
  --duration S        seconds of measured load per server and route (default 5)
  --warmup S          seconds of warm-up load before each measurement (default 1)
  --connections N     wrk connections (default 32)
  --threads N         wrk threads (default 1)
  --rounds N          repeat the sequence N times, report the best (default 2)
  --no-pin            do not pin servers to CPU 0 and wrk + the backends to CPU 1
  --no-scaling        skip the connection-scaling section
  --scaling-only      run only the connection-scaling section (servers baseline, sp-cookie,
                      sp-redis, sp-redis-near, actix-redis, or those of them in --only)
  --scaling-duration S  seconds of load per scaling cell (default 2)
  --scaling-warmup S  seconds of warm-up per scaling server, route and mode (default 1)
  --scaling-sessions N  sessions of the many-sessions mode (default 1000)
  --scaling-connections a,b,c  connection counts of the scaling section (default 1,16,256)
  --server-bin PATH   load-server binary (default target/release/load-server)
  --venv DIR          Python venv with the Flask peer (default target/bench-venv)
  --md PATH           report to update between its markers (default BENCHMARKS.md)
  --svg PATH          chart (default bench-chart.svg)
  --json PATH         raw results (default target/bench/results.json)";

struct Args {
    cfg: Config,
    md: PathBuf,
    svg: PathBuf,
    json: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let mut a = Args {
        cfg: Config {
            server_bin: PathBuf::from(&target).join("release/load-server"),
            venv: PathBuf::from(&target).join("bench-venv"),
            flask_dir: PathBuf::from("bench/flask"),
            kinds: Kind::ALL.to_vec(),
            wrk: WrkArgs {
                threads: 1,
                connections: 32,
                seconds: 5,
                cpus: Some("1".to_owned()),
            },
            warmup_secs: 1,
            rounds: 2,
            server_cpus: Some("0".to_owned()),
            scaling: ScalingConfig::default(),
        },
        md: PathBuf::from("BENCHMARKS.md"),
        svg: PathBuf::from("bench-chart.svg"),
        json: PathBuf::from(&target).join("bench/results.json"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u32>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--help" | "-h" => return Err(HELP.to_owned()),
            "--only" => {
                a.cfg.kinds = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--duration" => a.cfg.wrk.seconds = num(value()?)?,
            "--warmup" => a.cfg.warmup_secs = num(value()?)?,
            "--connections" => a.cfg.wrk.connections = num(value()?)?,
            "--threads" => a.cfg.wrk.threads = num(value()?)?,
            "--rounds" => a.cfg.rounds = num(value()?)?.max(1),
            "--no-pin" => {
                a.cfg.wrk.cpus = None;
                a.cfg.server_cpus = None;
            }
            "--no-scaling" => a.cfg.scaling.enabled = false,
            "--scaling-only" => {
                a.cfg.scaling.enabled = true;
                a.cfg.scaling.only = true;
            }
            "--scaling-duration" => a.cfg.scaling.seconds = num(value()?)?.max(1),
            "--scaling-warmup" => a.cfg.scaling.warmup_secs = num(value()?)?,
            "--scaling-sessions" => a.cfg.scaling.sessions = num(value()?)?.max(2),
            "--scaling-connections" => {
                a.cfg.scaling.connections = value()?
                    .split(',')
                    .map(|v| v.trim().parse::<u32>().map_err(|e| format!("{flag}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--server-bin" => a.cfg.server_bin = value()?.into(),
            "--venv" => a.cfg.venv = value()?.into(),
            "--md" => a.md = value()?.into(),
            "--svg" => a.svg = value()?.into(),
            "--json" => a.json = value()?.into(),
            other => return Err(format!("unknown option {other}\n{HELP}")),
        }
    }
    Ok(a)
}

/// First line of a command's output, or "?".
fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("?")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn setup(cfg: &Config) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pin = match (&cfg.server_cpus, &cfg.wrk.cpus) {
        (Some(s), Some(w)) => {
            format!(
                "servers on CPU {s}; wrk and the backends (redis-server, memcached, SecantusDB, \
                 the Firestore emulator's JVM: every process the driver starts besides the \
                 servers, all threads) on CPU {w} (taskset)"
            )
        }
        _ => "none".to_owned(),
    };
    let python = cfg.venv.join("bin/python");
    vec![
        ("machine".into(), format!("{cpu}, {cores} cores")),
        ("kernel".into(), first_line("uname", &["-r"])),
        (
            "load average at start".into(),
            load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        ),
        (
            "load generator".into(),
            format!(
                "{}: `-t{} -c{} -d{}s --latency`, after a {} s warm-up; best of {} round(s)",
                first_line("wrk", &["-v"]).split(" [").next().unwrap_or("wrk"),
                cfg.wrk.threads,
                cfg.wrk.connections,
                cfg.wrk.seconds,
                cfg.warmup_secs,
                cfg.rounds
            ),
        ),
        ("CPU pinning".into(), pin),
        (
            "server workers".into(),
            "Rust: 1 worker thread (tokio multi-thread runtime with 1 worker; actix `workers(1)`); Flask: gunicorn 2 sync workers".into(),
        ),
        ("Redis".into(), first_line("redis-server", &["--version"])),
        (
            "Python".into(),
            first_line(&python.to_string_lossy(), &["--version"]),
        ),
    ]
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut setup = setup(&args.cfg);
    let (mut result, versions) = match run(&args.cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    setup.extend(versions);
    result.setup = setup;
    let chart_name = args.svg.file_name().map_or("bench-chart.svg".into(), |n| {
        n.to_string_lossy().into_owned()
    });
    let svg = chart::svg(
        &result,
        "session-plus load benchmark: wrk against each server, one at a time",
    );
    let section = report::section(&result, &chart_name);
    let doc = std::fs::read_to_string(&args.md).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    // `--scaling-only` replaces only the scaling subsection of the report.
    let md = match &result.scaling {
        Some(sc) if result.measurements.is_empty() => report::splice_scaling(&doc, sc),
        _ => report::splice(&doc, &section),
    };
    let mut writes = vec![
        (args.md.clone(), md),
        (
            args.json.clone(),
            serde_json::to_string_pretty(&result).unwrap_or_default(),
        ),
    ];
    // `--scaling-only` measures nothing the chart shows: keep the old chart.
    if !result.measurements.is_empty() {
        writes.push((args.svg.clone(), svg));
    }
    let written: Vec<String> = writes
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    for (path, text) in writes {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("load-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if !result.measurements.is_empty() {
        println!("{}", report::tables(&result));
        println!("{}", report::targets_table(&report::targets(&result)));
        println!(
            "{}",
            report::targets_table(&session_plus_load::driver::targets14::targets(&result))
        );
    }
    if let Some(scaling) = &result.scaling {
        println!("{}", report::scaling(scaling));
    }
    println!("Wrote {}.", written.join(", "));
    ExitCode::SUCCESS
}
