//! One `redis-server` process on a free loopback port.

use crate::process::find_on_path;
use crate::process::log_tail;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;
use crate::resp::{command, Reply};

const NOT_FOUND: &str = "redis-server not found: install it with `apt-get install -y redis-server` (the README's test command does this)";

/// How long a server may take to answer `PING` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two readiness probes (polling, not synchronisation).
const POLL: Duration = Duration::from_millis(10);
/// Ports tried before giving up when another process grabs the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// Runs redis-server in the background, prints its PID, and kills it with
/// SIGKILL as soon as a line arrives on its standard input (a stop) or that
/// input closes (the test process died without dropping the handle, e.g. a
/// `static` server: then the data directory is removed too). The shell itself
/// exits once the server has exited, which is how [`RedisServer`] notices a
/// crash.
const WATCHDOG: &str = r#"exec 3<&0
redis-server "$@" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid"
(
  if read -r _ <&3; then
    kill -9 "$pid" 2>/dev/null
  else
    kill -9 "$pid" 2>/dev/null
    [ -n "$SP_REDIS_DIR" ] && rm -rf "$SP_REDIS_DIR"
  fi
) &
wait "$pid"
"#;

/// A running `redis-server` bound to `127.0.0.1` on a free port.
///
/// Started with `--save ""` and `--appendonly no` (nothing touches the disk
/// unless extra arguments say otherwise), a fresh temporary directory as
/// `--dir`, its log in that directory, and `DEBUG` allowed from loopback (for
/// `DEBUG SLEEP` stalls). Killed by PID on drop.
///
/// ```no_run
/// use session_plus_testkit::RedisServer;
///
/// let mut server = RedisServer::start();
/// let url = server.url();
/// server.stop();
/// server.restart(); // same port, same directory
/// assert_eq!(server.url(), url);
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    shell: Child,
    /// Closing this makes the watchdog kill the server.
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl RedisServer {
    /// Start a server with the default settings (no persistence).
    ///
    /// # Panics
    /// If `redis-server` is not on `PATH`, or the server does not come up.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start a server with extra `redis-server` arguments, appended after the
    /// defaults so they win (e.g. `["--appendonly", "yes", "--appendfsync",
    /// "always"]` for a server whose acknowledged writes survive a restart).
    ///
    /// # Panics
    /// As [`RedisServer::start`].
    pub fn start_with(extra_args: &[&str]) -> Self {
        let args: Vec<String> = extra_args.iter().map(|s| (*s).to_owned()).collect();
        retry_ports(|| Self::try_start(free_port(), args.clone()))
    }

    /// One attempt to start a server on `port`; the error says why it failed.
    pub(crate) fn try_start(port: u16, args: Vec<String>) -> Result<Self, String> {
        if find_on_path("redis-server").is_none() {
            panic!("{NOT_FOUND}");
        }
        let dir = tempfile::Builder::new()
            .prefix("session-plus-redis-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let mut server = Self {
            port,
            args,
            dir,
            process: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The server's URL, `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory (where an append-only file would go).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the running server, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Send one command on a fresh connection and return the reply.
    ///
    /// ```no_run
    /// let server = session_plus_testkit::RedisServer::start();
    /// let reply = server.command(&["SET", "k", "v"]).unwrap();
    /// assert_eq!(reply.text().as_deref(), Some("OK"));
    /// ```
    pub fn command(&self, args: &[&str]) -> io::Result<Reply> {
        command(self.port, args)
    }

    /// `INFO section` as a map of `name -> value` lines.
    ///
    /// ```no_run
    /// let server = session_plus_testkit::RedisServer::start();
    /// let stats = server.info("commandstats").unwrap();
    /// assert!(stats.contains_key("cmdstat_info") || stats.is_empty());
    /// ```
    pub fn info(&self, section: &str) -> io::Result<BTreeMap<String, String>> {
        let reply = self.command(&["INFO", section])?;
        let text = reply
            .text()
            .ok_or_else(|| io::Error::other(format!("unexpected INFO reply: {reply:?}")))?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// Calls per command (lower-case name) from `INFO commandstats`, the
    /// `info` command that reads them excluded.
    ///
    /// ```no_run
    /// let server = session_plus_testkit::RedisServer::start();
    /// assert!(server.commandstats().unwrap().get("get").is_none());
    /// ```
    pub fn commandstats(&self) -> io::Result<BTreeMap<String, u64>> {
        Ok(self
            .info("commandstats")?
            .into_iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("cmdstat_")?.to_owned();
                let calls = v
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))?
                    .parse()
                    .ok()?;
                (name != "info").then_some((name, calls))
            })
            .collect())
    }

    /// Kill the server (SIGKILL: a crash, not a clean shutdown) and wait until
    /// it is gone. Data survives only what the server's persistence settings
    /// had already written. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }

    /// Start the server again on the same port with the same directory and
    /// arguments (stopping it first if it runs).
    ///
    /// # Panics
    /// If it does not come back (for instance, another process took the port).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// Freeze the server with SIGSTOP: connections stay open but nothing is
    /// answered (a stalled server, or a dead peer behind a live socket).
    ///
    /// # Panics
    /// If the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Undo [`RedisServer::pause`] with SIGCONT.
    ///
    /// # Panics
    /// As [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        crate::process::signal("redis-server", self.pid(), sig);
    }

    /// Spawn the server with the stored port and arguments; wait for PONG.
    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let log = dir.join("redis.log");
        let port = self.port.to_string();
        let mut args: Vec<String> = [
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--enable-debug-command",
            "local",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(["--dir".to_owned(), dir.display().to_string()]);
        args.extend(["--logfile".to_owned(), log.display().to_string()]);
        args.extend(self.args.iter().cloned());

        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .args(&args)
            .env("SP_REDIS_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let mut line = String::new();
        if let Some(out) = shell.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the server's pid: {e}"))?;
        }
        let pid: u32 = line
            .trim()
            .parse()
            .map_err(|_| format!("the watchdog printed {line:?} instead of a pid"))?;
        let stdin = shell.stdin.take();
        let mut process = Process { shell, stdin, pid };

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = process.shell.try_wait() {
                return Err(format!("it exited ({status}); log:\n{}", log_tail(&log)));
            }
            match command(self.port, &["PING"]) {
                Ok(Reply::Status(s)) if s == "PONG" => break,
                // Anything else (refused, LOADING, ...) means: not yet.
                _ if Instant::now() < deadline => thread::sleep(POLL),
                other => {
                    process.kill();
                    return Err(format!(
                        "no PONG within {READY_TIMEOUT:?} (last: {other:?}); log:\n{}",
                        log_tail(&log)
                    ));
                }
            }
        }
        self.process = Some(process);
        Ok(())
    }
}

/// Run `attempt` until it does not fail for a port someone else took, at
/// most [`PORT_ATTEMPTS`] times.
///
/// # Panics
/// On any other failure, or when every attempt hit a taken port.
pub(crate) fn retry_ports(mut attempt: impl FnMut() -> Result<RedisServer, String>) -> RedisServer {
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        match attempt() {
            Ok(server) => return server,
            Err(e) if e.contains("Address already in use") => last = e,
            Err(e) => panic!("redis-server did not start: {e}"),
        }
    }
    panic!("redis-server did not start after {PORT_ATTEMPTS} ports: {last}")
}

impl Process {
    /// Make the watchdog SIGKILL the server, then reap the watchdog (it exits
    /// right after the server does, so the port is free afterwards).
    fn kill(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // A line means "stop" (keep the directory for a restart).
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.shell.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(POLL),
            }
        }
        // The watchdog did not do its job: kill the server ourselves.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -9 {}", self.pid)])
            .status();
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_dies_on_drop() {
        let mut server = RedisServer::start();
        assert_eq!(
            server.command(&["SET", "k", "v"]).unwrap(),
            Reply::Status("OK".into())
        );
        let port = server.port();
        server.stop();
        assert!(
            server.command(&["PING"]).is_err(),
            "still answering after stop"
        );
        server.restart();
        assert_eq!(server.port(), port);
        // No persistence by default: the restart wiped memory.
        assert_eq!(server.command(&["GET", "k"]).unwrap(), Reply::Bulk(None));
        let pid = server.pid().unwrap();
        drop(server);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "redis-server {pid} survived its handle");
    }

    #[test]
    fn persistent_server_keeps_data_across_a_crash() {
        let mut server =
            RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
        server.command(&["SET", "k", "v"]).unwrap();
        server.restart();
        assert_eq!(
            server.command(&["GET", "k"]).unwrap().text().as_deref(),
            Some("v")
        );
    }

    #[test]
    fn paused_server_answers_after_resume() {
        let server = RedisServer::start();
        server.pause();
        server.resume();
        assert_eq!(
            server.command(&["PING"]).unwrap().text().as_deref(),
            Some("PONG")
        );
        assert!(server.info("server").unwrap().contains_key("redis_version"));
    }
}
