//! Running `wrk` and reading its report.

use std::path::Path;
use std::process::Command;

/// How to drive one route.
#[derive(Debug, Clone)]
pub struct WrkArgs {
    /// wrk threads (`-t`).
    pub threads: u32,
    /// Open connections (`-c`).
    pub connections: u32,
    /// Seconds of load (`-d`).
    pub seconds: u32,
    /// CPU list for `taskset -c` (None: no pinning).
    pub cpus: Option<String>,
}

/// What wrk measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct WrkResult {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Responses with a status outside 2xx/3xx.
    pub non_2xx: u64,
    /// Connect/read/write/timeout errors.
    pub socket_errors: u64,
}

/// Run wrk against `url` with a `Cookie` header (when not empty).
pub fn run(args: &WrkArgs, url: &str, cookie: &str) -> Result<WrkResult, String> {
    run_with(args, url, cookie, None)
}

/// Run wrk against `url` with a Lua script (`-s`) that builds the requests.
pub fn run_script(args: &WrkArgs, url: &str, script: &Path) -> Result<WrkResult, String> {
    run_with(args, url, "", Some(script))
}

fn run_with(
    args: &WrkArgs,
    url: &str,
    cookie: &str,
    script: Option<&Path>,
) -> Result<WrkResult, String> {
    let mut cmd = match &args.cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus, "wrk"]);
            c
        }
        None => Command::new("wrk"),
    };
    cmd.arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.seconds))
        .arg("--latency");
    if !cookie.is_empty() {
        cmd.arg("-H").arg(format!("Cookie: {cookie}"));
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    let out = cmd.output().map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse(&text)
}

/// A wrk script whose `request()` sends `GET path` with the `Cookie` headers
/// of `cookies` in turn (round robin over pre-formatted requests, so the
/// per-request work in wrk is a table lookup); an empty cookie sends no
/// `Cookie` header.
pub fn round_robin_script(path: &str, cookies: &[String]) -> String {
    // The requests are formatted in `init`, which wrk calls once per thread
    // after it has set the `Host` header (at load time it is not set yet).
    let mut s = String::from("local cookies = {\n");
    for c in cookies {
        s.push_str(&format!("  {},\n", lua_str(c)));
    }
    s.push_str(&format!(
        "}}\nlocal path = {}\nlocal reqs = {{}}\nlocal i = 0\n\
         init = function(args)\n\
         \x20 for n, c in ipairs(cookies) do\n\
         \x20   if c == \"\" then\n\
         \x20     reqs[n] = wrk.format(\"GET\", path, {{ Host = wrk.headers[\"Host\"] }})\n\
         \x20   else\n\
         \x20     reqs[n] = wrk.format(\"GET\", path, {{ Host = wrk.headers[\"Host\"], Cookie = c }})\n\
         \x20   end\n\
         \x20 end\n\
         end\n\
         request = function()\n\
         \x20 i = i % #reqs + 1\n\
         \x20 return reqs[i]\n\
         end\n",
        lua_str(path)
    ));
    s
}

/// A Lua string literal (cookies are printable ASCII, but escape anyway).
fn lua_str(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Parse wrk's `--latency` report.
pub fn parse(text: &str) -> Result<WrkResult, String> {
    let mut r = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.p50_us = duration_us(v)?,
            ["99%", v] => r.p99_us = duration_us(v)?,
            [n, "requests", "in", ..] => {
                r.requests = n.parse().map_err(|e| format!("{line}: {e}"))?
            }
            ["Requests/sec:", v] => r.rps = v.parse().map_err(|e| format!("{line}: {e}"))?,
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                r.non_2xx = n.parse().map_err(|e| format!("{line}: {e}"))?;
            }
            ["Socket", "errors:", ..] => {
                r.socket_errors = line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if r.requests == 0 || r.rps == 0.0 {
        return Err(format!("wrk reported no requests:\n{text}"));
    }
    Ok(r)
}

/// `190.00us`, `1.25ms`, `2.00s`, `1.00m` -> microseconds.
fn duration_us(v: &str) -> Result<f64, String> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("no unit in {v:?}"))?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().map_err(|e| format!("{v}: {e}"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        other => return Err(format!("unknown unit {other:?} in {v:?}")),
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 5s test @ http://127.0.0.1:8080/none
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   201.23us   50.12us   2.00ms   90.00%
    Req/Sec   150.00k     5.00k  160.00k    80.00%
  Latency Distribution
     50%  190.00us
     75%  210.00us
     90%  250.00us
     99%    1.40ms
  750000 requests in 5.00s, 90.00MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 3, write 0, timeout 1
Requests/sec: 150000.00
Transfer/sec:     18.00MB
";

    #[test]
    fn round_robin_script_escapes_and_rotates() {
        let s = round_robin_script(
            "/read",
            &["a=1".to_owned(), "b=\"x\\".to_owned(), String::new()],
        );
        assert!(s.contains("  \"a=1\",\n"), "{s}");
        assert!(s.contains(r#"  "b=\"x\\","#), "{s}");
        assert!(s.contains("  \"\",\n"), "{s}");
        assert!(s.contains("local path = \"/read\""), "{s}");
        assert!(s.contains("i = i % #reqs + 1"), "{s}");
        assert_eq!(lua_str("é"), r#""\195\169""#);
    }

    #[test]
    fn parses_a_report() {
        let r = parse(SAMPLE).unwrap();
        assert_eq!(r.requests, 750_000);
        assert_eq!(r.rps, 150_000.0);
        assert_eq!(r.p50_us, 190.0);
        assert_eq!(r.p99_us, 1400.0);
        assert_eq!(r.non_2xx, 12);
        assert_eq!(r.socket_errors, 4);
    }
}
