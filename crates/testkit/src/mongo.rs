//! SecantusDB, a MongoDB wire-protocol server, on a free loopback port.
//!
//! No `mongod` can be installed on the project's machines (not in Debian; the
//! npm and PyPI wrappers download it from the vendor at install time). The
//! MongoDB backend's tests therefore run against SecantusDB (PyPI
//! `SecantusDB`, a pre-release): MongoDB's query and update language over the
//! WiredTiger engine, announcing itself as a one-member replica set named
//! `secantus`. It is installed with pip into a virtual environment made once
//! under the Cargo target directory.

use crate::process::log_tail;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;

/// The pinned server release (a pre-release, hence `pip install --pre`).
pub const SECANTUS_VERSION: &str = "0.7.0b3";

/// The replica-set name the server announces.
pub const SECANTUS_REPLICA_SET: &str = "secantus";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
const PORT_ATTEMPTS: usize = 5;

/// Creates (idempotently, one process at a time) the virtual environment in
/// `$1` with SecantusDB `$2`; prints nothing but errors.
const SETUP: &str = r#"set -eu
DIR="$1"; VERSION="$2"; PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || { echo "python3 not found: apt-get install -y python3 python3-venv python3-pip" >&2; exit 2; }
mkdir -p "$(dirname "$DIR")"
if command -v flock >/dev/null 2>&1; then exec 9>"$DIR.lock"; flock 9; fi
if [ -f "$DIR/.ready" ] && [ "$(cat "$DIR/.ready")" = "$VERSION" ]; then exit 0; fi
rm -rf "$DIR"
"$PY" -m venv "$DIR" || { echo "python3 -m venv failed: apt-get install -y python3-venv" >&2; exit 2; }
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check --pre "SecantusDB==$VERSION" \
  || { echo "pip install SecantusDB==$VERSION failed: check access to PyPI" >&2; exit 3; }
printf '%s' "$VERSION" > "$DIR/.ready"
"#;

/// Runs the server in the background, prints its PID, and SIGKILLs it as soon
/// as a line arrives on standard input (a stop) or that input closes (the test
/// process died without dropping the handle: then the directory goes too).
const WATCHDOG: &str = r#"exec 3<&0
"$SP_SECANTUSD" "$@" </dev/null >>"$SP_SECANTUS_LOG" 2>&1 &
pid=$!
echo "$pid"
(
  if read -r _ <&3; then
    kill -9 "$pid" 2>/dev/null
  else
    kill -9 "$pid" 2>/dev/null
    [ -n "$SP_SECANTUS_DIR" ] && rm -rf "$SP_SECANTUS_DIR"
  fi
) &
wait "$pid"
"#;

/// The `secantusd-py` launcher, installing it on first use.
///
/// The virtual environment lives in `SESSION_PLUS_SECANTUS_VENV` if set, else
/// in `<target dir>/tmp/secantusdb-<version>`; it is built once and reused.
///
/// # Panics
/// With instructions when python3, venv support or PyPI is missing.
///
/// ```no_run
/// let launcher = session_plus_testkit::secantusd();
/// assert!(launcher.ends_with("bin/secantusd-py"));
/// ```
pub fn secantusd() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let venv = venv_dir();
            let out = Command::new("sh")
                .arg("-c")
                .arg(SETUP)
                .arg("sh")
                .arg(&venv)
                .arg(SECANTUS_VERSION)
                .output()
                .map_err(|e| format!("cannot run sh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "installing SecantusDB {SECANTUS_VERSION} into {} failed ({}):\n{}\n\
                     The MongoDB backend's tests need python3 with venv and pip and access to \
                     PyPI (Debian: apt-get install -y python3 python3-venv python3-pip), or a \
                     ready environment named by SESSION_PLUS_SECANTUS_VENV.",
                    venv.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(venv.join("bin/secantusd-py"))
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SESSION_PLUS_SECANTUS_VENV") {
        return PathBuf::from(dir);
    }
    // Test binaries live in <target>/<profile>/deps; Cargo marks <target>
    // with CACHEDIR.TAG.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target
        .join("tmp")
        .join(format!("secantusdb-{SECANTUS_VERSION}"))
}

/// A running SecantusDB server bound to `127.0.0.1` on a free port, its
/// WiredTiger files in a fresh temporary directory. Killed by PID on drop.
///
/// ```no_run
/// use session_plus_testkit::SecantusServer;
///
/// let mut server = SecantusServer::start();
/// assert!(server.url().starts_with("mongodb://127.0.0.1:"));
/// server.stop(); // SIGKILL: a crash
/// server.restart(); // same port, same files
/// ```
#[derive(Debug)]
pub struct SecantusServer {
    port: u16,
    sync_on_commit: bool,
    dir: tempfile::TempDir,
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    shell: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl SecantusServer {
    /// Start a server with the default settings (commits reach the operating
    /// system, not necessarily the disk).
    ///
    /// # Panics
    /// If SecantusDB cannot be installed or does not come up.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Start a server that fsyncs its log on every commit (`--sync-on-commit`,
    /// what mongod's journaled writes give): for tests proving that no
    /// acknowledged write is lost across a crash.
    ///
    /// # Panics
    /// As [`SecantusServer::start`].
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(sync_on_commit: bool) -> Self {
        let launcher = secantusd();
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("session-plus-secantus-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
            let mut server = Self {
                port: free_port(),
                sync_on_commit,
                dir,
                process: None,
            };
            match server.spawn(&launcher) {
                Ok(()) => return server,
                Err(e) if e.contains("in use") => last = e,
                Err(e) => panic!("SecantusDB did not start: {e}"),
            }
        }
        panic!("SecantusDB did not start after {PORT_ATTEMPTS} ports: {last}")
    }

    /// `mongodb://127.0.0.1:PORT` (the driver discovers the replica set).
    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.port)
    }

    /// `mongodb://127.0.0.1:PORT/?replicaSet=secantus`.
    pub fn replica_set_url(&self) -> String {
        format!("{}/?replicaSet={SECANTUS_REPLICA_SET}", self.url())
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data files and the server's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the running server, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Kill the server with SIGKILL (a crash) and wait until it is gone.
    /// Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }

    /// Start the server again on the same port with the same data files.
    ///
    /// # Panics
    /// If it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn(&secantusd()) {
            panic!("SecantusDB did not restart on port {}: {e}", self.port);
        }
    }

    /// Freeze the server with SIGSTOP: connections stay open, nothing is
    /// answered.
    ///
    /// # Panics
    /// If the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("STOP");
        self.wait_for_state(true);
    }

    /// Undo [`SecantusServer::pause`] with SIGCONT.
    ///
    /// # Panics
    /// As [`SecantusServer::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
        self.wait_for_state(false);
    }

    /// Signals are delivered asynchronously: wait (bounded) until the kernel
    /// reports the process stopped (`T`) or running again, so a test's next
    /// request really meets a frozen (or live) server.
    fn wait_for_state(&self, stopped: bool) {
        let Some(pid) = self.pid() else { return };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the command name, which is in parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            if (state == "T") == stopped || stat.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "SecantusDB {pid} did not {} (state {state})",
                if stopped { "stop" } else { "continue" }
            );
            thread::sleep(POLL);
        }
    }

    fn signal(&self, sig: &str) {
        crate::process::signal("SecantusDB", self.pid(), sig);
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("secantusd.log")
    }

    fn spawn(&mut self, launcher: &Path) -> Result<(), String> {
        let data = self.dir.path().join("data");
        let log = self.log();
        let mut args = vec![
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            self.port.to_string(),
            "--storage-path".to_owned(),
            data.display().to_string(),
            "--log-level".to_owned(),
            "WARNING".to_owned(),
        ];
        if self.sync_on_commit {
            args.push("--sync-on-commit".to_owned());
        }
        // A fresh log per run, so a failed start shows its own reason.
        let _ = std::fs::remove_file(&log);
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .args(&args)
            .env("SP_SECANTUSD", launcher)
            .env("SP_SECANTUS_LOG", &log)
            .env("SP_SECANTUS_DIR", self.dir.path())
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
            if TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, self.port).into(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                break;
            }
            if Instant::now() >= deadline {
                process.kill();
                return Err(format!(
                    "not listening within {READY_TIMEOUT:?}; log:\n{}",
                    log_tail(&log)
                ));
            }
            thread::sleep(POLL);
        }
        self.process = Some(process);
        Ok(())
    }
}

impl Process {
    fn kill(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.shell.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(POLL),
            }
        }
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -9 {}", self.pid)])
            .status();
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

impl Drop for SecantusServer {
    fn drop(&mut self) {
        // A paused server would ignore nothing but SIGKILL anyway.
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_listens_restarts_and_dies_on_drop() {
        let mut server = SecantusServer::start();
        let addr = (Ipv4Addr::LOCALHOST, server.port());
        assert!(TcpStream::connect(addr).is_ok());
        server.stop();
        assert!(
            TcpStream::connect(addr).is_err(),
            "still listening after stop"
        );
        server.restart();
        assert!(TcpStream::connect(addr).is_ok());
        let pid = server.pid().unwrap();
        drop(server);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "secantusd {pid} survived its handle");
    }
}
