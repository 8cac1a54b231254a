//! Google's Cloud Firestore emulator on a free loopback port.

use crate::process::log_tail;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;

const NOT_FOUND: &str = "the Firestore emulator (`cloud_firestore_emulator`) was not found: \
install it with `apt-get install -y google-cloud-cli-firestore-emulator default-jre-headless` \
(Google Cloud's Debian repository), or point SESSION_PLUS_FIRESTORE_EMULATOR at the launcher";

/// Where the Debian package `google-cloud-cli-firestore-emulator` puts the launcher.
const DEBIAN_LAUNCHER: &str =
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator";

/// How long the emulator (a JVM) may take to answer `GET /`.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Pause between two readiness probes (polling, not synchronisation).
const POLL: Duration = Duration::from_millis(50);
/// Ports tried before giving up when another process grabs the chosen one.
const PORT_ATTEMPTS: usize = 5;

/// Runs the launcher in the background inside the shell's own process group
/// (the launcher is a bash script whose Java child would survive a kill of
/// the launcher alone), prints the launcher's PID, and kills the whole group
/// with SIGKILL as soon as a line arrives on its standard input (a stop) or
/// that input closes (the test process died without dropping the handle,
/// e.g. a `static` emulator).
const WATCHDOG: &str = r#"exec 3<&0
"$0" "$@" </dev/null >"$SP_FS_LOG" 2>&1 &
pid=$!
echo "$pid"
(
  read -r _ <&3
  kill -9 -$$ 2>/dev/null
) &
wait "$pid"
"#;

/// A running Firestore emulator bound to `127.0.0.1` on a free port.
///
/// Started with `cloud_firestore_emulator start --host=127.0.0.1 --port=PORT`
/// and considered ready when `GET /` answers. Every project id is accepted,
/// so tests isolate themselves by project id or collection. Stopped with
/// `POST /shutdown`, and its process group killed by id on drop.
///
/// The emulator keeps everything in memory; [`export`](Self::export) saves
/// one project, and the next [`restart`](Self::restart) starts from that
/// export (so a test can stop and restart it without losing what was
/// acknowledged before).
///
/// When the launcher is not installed the start functions panic with a
/// message saying how to install it.
///
/// ```no_run
/// use session_plus_testkit::FirestoreEmulator;
///
/// let mut emulator = FirestoreEmulator::start();
/// let host = emulator.host(); // for FIRESTORE_EMULATOR_HOST
/// emulator.export("my-project");
/// emulator.stop();
/// emulator.restart(); // same port, with the exported data
/// assert_eq!(emulator.host(), host);
/// ```
#[derive(Debug)]
pub struct FirestoreEmulator {
    port: u16,
    dir: tempfile::TempDir,
    seed: Option<PathBuf>,
    process: Option<Process>,
    started_in: Duration,
}

#[derive(Debug)]
struct Process {
    shell: Child,
    stdin: Option<ChildStdin>,
}

impl FirestoreEmulator {
    /// Start an emulator on a free loopback port and wait until it answers.
    ///
    /// # Panics
    /// If the launcher is not installed, or the emulator does not come up.
    pub fn start() -> Self {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(free_port()) {
                Ok(emulator) => return emulator,
                Err(e) if e.contains("already in use") || e.contains("BindException") => {
                    last = e;
                }
                Err(e) => panic!("the Firestore emulator did not start: {e}"),
            }
        }
        panic!("the Firestore emulator did not start after {PORT_ATTEMPTS} ports: {last}")
    }

    fn try_start(port: u16) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("session-plus-firestore-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let mut emulator = Self {
            port,
            dir,
            seed: None,
            process: None,
            started_in: Duration::ZERO,
        };
        emulator.spawn()?;
        Ok(emulator)
    }

    /// `127.0.0.1:PORT`, the value for `FIRESTORE_EMULATOR_HOST`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The emulator's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How long the last start took until `GET /` answered.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Whether the emulator answers `GET /` right now.
    pub fn is_up(&self) -> bool {
        http(self.port, "GET", "/", "").is_ok_and(|(status, _)| status == 200)
    }

    /// Export every document of `project` (default database) to the
    /// emulator's directory; the next [`restart`](Self::restart) starts from
    /// it.
    ///
    /// # Panics
    /// If the emulator does not run or refuses the export.
    pub fn export(&mut self, project: &str) {
        let target = self.dir.path().join(format!("export-{project}"));
        let _ = std::fs::remove_dir_all(&target);
        std::fs::create_dir_all(&target)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", target.display()));
        let body = format!(
            r#"{{"database":"projects/{project}/databases/(default)","export_directory":"{}"}}"#,
            target.display()
        );
        let path = format!("/emulator/v1/projects/{project}:export");
        match http(self.port, "POST", &path, &body) {
            Ok((200, _)) => {}
            other => panic!("the emulator refused the export: {other:?}"),
        }
        self.seed = Some(find_metadata(&target).unwrap_or_else(|| {
            panic!(
                "the export wrote no metadata file under {}",
                target.display()
            )
        }));
    }

    /// Shut the emulator down (`POST /shutdown`) and wait until its processes
    /// are gone. Its in-memory data goes with it (see [`export`](Self::export)).
    /// Does nothing if it is not running.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        let _ = http(self.port, "POST", "/shutdown", "");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(process.shell.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            thread::sleep(POLL);
        }
        process.kill();
    }

    /// Start the emulator again on the same port, from the last
    /// [`export`](Self::export) if there was one (stopping it first if it runs).
    ///
    /// # Panics
    /// If it does not come back (for instance, another process took the port).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!(
                "the Firestore emulator did not restart on port {}: {e}",
                self.port
            );
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let launcher = launcher().unwrap_or_else(|| panic!("{NOT_FOUND}"));
        let log = self.dir.path().join("emulator.log");
        let mut args = vec![
            "start".to_owned(),
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", self.port),
        ];
        if let Some(seed) = &self.seed {
            args.push(format!("--seed_from_export={}", seed.display()));
        }
        let begun = Instant::now();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&launcher)
            .args(&args)
            .env("SP_FS_LOG", &log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        set_own_process_group(&mut command);
        let mut shell = command.spawn().map_err(|e| format!("cannot run sh: {e}"))?;
        let mut line = String::new();
        if let Some(out) = shell.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the launcher's pid: {e}"))?;
        }
        let stdin = shell.stdin.take();
        let process = Process { shell, stdin };
        let mut process = Some(process);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(p) = process.as_mut() {
                if let Ok(Some(status)) = p.shell.try_wait() {
                    if let Some(p) = process.take() {
                        p.kill();
                    }
                    return Err(format!("it exited ({status}); log:\n{}", log_tail(&log)));
                }
            }
            if http(self.port, "GET", "/", "").is_ok_and(|(s, _)| s == 200) {
                break;
            }
            if Instant::now() >= deadline {
                if let Some(p) = process.take() {
                    p.kill();
                }
                return Err(format!(
                    "no answer to GET / within {READY_TIMEOUT:?}; log:\n{}",
                    log_tail(&log)
                ));
            }
            thread::sleep(POLL);
        }
        self.started_in = begun.elapsed();
        warm_up(self.port);
        self.process = process;
        Ok(())
    }
}

/// Runs the launcher in its own process group, prints its PID, and kills
/// the group once no test process has held the lease for three checks in a
/// row (about six seconds), removing the port file under the start lock
/// first so no process picks up a dying emulator.
const SHARED_WATCHDOG: &str = r#"
"$0" "$@" </dev/null >"$SP_FS_DIR/emulator.log" 2>&1 &
pid=$!
echo "$pid"
exec >/dev/null 2>&1 </dev/null
idle=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 2
  if flock -n "$SP_FS_DIR/lease" true; then idle=$((idle+1)); else idle=0; fi
  if [ "$idle" -ge 3 ]; then
    if flock "$SP_FS_DIR/start" sh -c 'flock -n "$SP_FS_DIR/lease" true && rm -f "$SP_FS_DIR/port"'; then
      break
    fi
    idle=0
  fi
done
kill -9 -$$
"#;

/// A Firestore emulator shared by every test process of a run (cargo-nextest
/// runs each test in a process of its own; one JVM each would be far too
/// heavy). The first process starts it; each process holds a shared lease
/// (an `flock`) while it lives; the emulator stops itself a few seconds
/// after the last lease is gone. Never stop or restart it: fault tests take
/// their own [`FirestoreEmulator`].
///
/// ```no_run
/// let host = session_plus_testkit::FirestoreEmulator::shared_host();
/// assert!(host.starts_with("127.0.0.1:"));
/// ```
impl FirestoreEmulator {
    /// `host:port` of the shared emulator, started if needed.
    ///
    /// # Panics
    /// If the launcher or `flock` (util-linux) is missing, or the emulator
    /// does not come up.
    pub fn shared_host() -> String {
        static SHARED: OnceLock<(String, Mutex<Option<Child>>)> = OnceLock::new();
        SHARED.get_or_init(start_shared).0.clone()
    }
}

fn flock_holder(file: &Path, shared: bool) -> Child {
    let mut cmd = Command::new("flock");
    if shared {
        cmd.arg("-s");
    }
    let mut child = cmd
        .arg(file)
        .args(["-c", "echo held; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `flock` ({e}): install util-linux (`apt-get install -y util-linux`)")
        });
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    assert_eq!(line.trim(), "held", "flock did not take {}", file.display());
    child
}

fn release(mut holder: Child) {
    if let Some(mut stdin) = holder.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    let _ = holder.wait();
}

// The emulator's watchdog shell outlives this process on purpose (it stops
// the emulator once no test process holds a lease): it is never waited for.
#[allow(clippy::zombie_processes)]
fn start_shared() -> (String, Mutex<Option<Child>>) {
    let launcher = launcher().unwrap_or_else(|| panic!("{NOT_FOUND}"));
    let dir = std::env::var_os("SESSION_PLUS_FIRESTORE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("session-plus-firestore-shared"));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let start = flock_holder(&dir.join("start"), false);
    // Held until this process exits (its stdin pipe closes then).
    let lease = flock_holder(&dir.join("lease"), true);
    let port_file = dir.join("port");
    let known = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|&p| http(p, "GET", "/", "").is_ok_and(|(s, _)| s == 200));
    let port = known.unwrap_or_else(|| {
        let port = free_port();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SHARED_WATCHDOG)
            .arg(&launcher)
            .args(["start", "--host=127.0.0.1", &format!("--port={port}")])
            .env("SP_FS_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        set_own_process_group(&mut command);
        let mut shell = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        let mut line = String::new();
        if let Some(out) = shell.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let begun = Instant::now();
        while !http(port, "GET", "/", "").is_ok_and(|(s, _)| s == 200) {
            if begun.elapsed() > READY_TIMEOUT || matches!(shell.try_wait(), Ok(Some(_))) {
                panic!(
                    "the shared Firestore emulator did not start on port {port}; log:\n{}",
                    log_tail(&dir.join("emulator.log"))
                );
            }
            thread::sleep(POLL);
        }
        eprintln!("shared Firestore emulator up in {:?}", begun.elapsed());
        warm_up(port);
        std::fs::write(&port_file, port.to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", port_file.display()));
        port
    });
    release(start);
    (format!("127.0.0.1:{port}"), Mutex::new(Some(lease)))
}

#[cfg(unix)]
fn set_own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    command.process_group(0);
}

#[cfg(not(unix))]
fn set_own_process_group(_command: &mut Command) {}

impl Process {
    /// Make the watchdog kill its process group (launcher, JVM, itself), then
    /// reap it.
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
        // The watchdog did not do its job: kill its group ourselves.
        let group = self.shell.id();
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -9 -{group}")])
            .status();
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

impl Drop for FirestoreEmulator {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }
}

fn launcher() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SESSION_PLUS_FIRESTORE_EMULATOR") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("cloud_firestore_emulator"))
            .find(|c| c.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from(DEBIAN_LAUNCHER)).filter(|p| p.is_file()))
}

fn find_metadata(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_metadata(&path) {
                return Some(found);
            }
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".overall_export_metadata"))
        {
            return Some(path);
        }
    }
    None
}

/// One HTTP/1.1 request on a fresh connection; the status and body. The
/// emulator keeps connections open, so the body is read by its length.
fn http(port: u16, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer owner\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {status_line:.80}")))?;
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The emulator's first write and query take much longer than later ones
/// (the JVM warms up): make them before any test's timeout runs.
fn warm_up(port: u16) {
    let base = "/v1/projects/warm-up/databases/(default)/documents";
    let write = r#"{"writes":[{"update":{"name":"projects/warm-up/databases/(default)/documents/w/w","fields":{"x":{"integerValue":"1"}}}}]}"#;
    let query = r#"{"structuredQuery":{"from":[{"collectionId":"w"}],"where":{"fieldFilter":{"field":{"fieldPath":"x"},"op":"EQUAL","value":{"integerValue":"1"}}}}}"#;
    let _ = http(port, "POST", &format!("{base}:commit"), write);
    let _ = http(port, "GET", &format!("{base}/w/w"), "");
    let _ = http(port, "POST", &format!("{base}:runQuery"), query);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_exports_restarts_and_dies_on_drop() {
        let mut emulator = FirestoreEmulator::start();
        assert!(emulator.is_up());
        let doc = "/v1/projects/tk/databases/(default)/documents/c/d";
        let write = r#"{"writes":[{"update":{"name":"projects/tk/databases/(default)/documents/c/d","fields":{"x":{"integerValue":"7"}}}}]}"#;
        let (status, body) = http(
            emulator.port(),
            "POST",
            "/v1/projects/tk/databases/(default)/documents:commit",
            write,
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        emulator.export("tk");
        emulator.stop();
        assert!(!emulator.is_up(), "still answering after stop");
        emulator.restart();
        let (status, body) = http(emulator.port(), "GET", doc, "").unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"7\""), "{body}");
        let shell = emulator.process.as_ref().map(|p| p.shell.id()).unwrap();
        let port = emulator.port();
        drop(emulator);
        assert!(
            http(port, "GET", "/", "").is_err(),
            "the JVM survived its handle"
        );
        let stat = std::fs::read_to_string(format!("/proc/{shell}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "the emulator's watchdog {shell} survived");
    }
}
