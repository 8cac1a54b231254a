//! `memcached` processes on free loopback ports, for the memcache backend's
//! tests.

use crate::process::find_on_path;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::free_port;

const NOT_FOUND: &str = "memcached not found: install it with `apt-get install -y memcached` (the README's test command does this)";

/// How long a server may take to answer `version` after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two readiness probes (polling, not synchronisation).
const POLL: Duration = Duration::from_millis(10);
/// Ports tried before giving up when another process grabs the chosen one.
const PORT_ATTEMPTS: usize = 5;
/// Read/write timeout of the test kit's own text-protocol connections.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs memcached in the background with its output in `$SP_MC_LOG`, prints
/// its PID, and kills it with SIGKILL as soon as a line arrives on its
/// standard input (a stop) or that input closes (the test process died
/// without dropping the handle). The shell exits once the server has exited.
const WATCHDOG: &str = r#"exec 3<&0
memcached "$@" </dev/null >"$SP_MC_LOG" 2>&1 &
pid=$!
echo "$pid"
(
  read -r _ <&3
  kill -9 "$pid" 2>/dev/null
) &
wait "$pid"
"#;

/// A running `memcached` bound to `127.0.0.1` on a free port, TCP only
/// (`-U 0`), with a memory limit (`-m`, 32 MB unless told otherwise). When
/// the tests run as root it is started with `-u root` (memcached refuses to
/// run as root otherwise). Killed by PID on drop.
///
/// ```no_run
/// use session_plus_testkit::MemcachedServer;
///
/// let mut server = MemcachedServer::start();
/// assert_eq!(server.command("set k 0 0 1\r\nv\r\n").unwrap(), "STORED\r\n");
/// server.restart(); // same port, memory wiped
/// assert_eq!(server.command("get k\r\n").unwrap(), "END\r\n");
/// ```
#[derive(Debug)]
pub struct MemcachedServer {
    port: u16,
    memory_mb: u32,
    log: tempfile::NamedTempFile,
    process: Option<Process>,
}

#[derive(Debug)]
struct Process {
    shell: Child,
    /// Writing a line (or closing this) makes the watchdog kill the server.
    stdin: Option<ChildStdin>,
    pid: u32,
}

impl MemcachedServer {
    /// Start a server with 32 MB of memory.
    ///
    /// # Panics
    /// If `memcached` is not on `PATH`, or the server does not come up.
    pub fn start() -> Self {
        Self::start_with_memory(32)
    }

    /// Start a server limited to `memory_mb` megabytes (`-m`): a small value
    /// makes it evict items under pressure.
    ///
    /// # Panics
    /// As [`MemcachedServer::start`].
    pub fn start_with_memory(memory_mb: u32) -> Self {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(free_port(), memory_mb) {
                Ok(server) => return server,
                Err(e) if e.contains("Address already in use") => last = e,
                Err(e) => panic!("memcached did not start: {e}"),
            }
        }
        panic!("memcached did not start after {PORT_ATTEMPTS} ports: {last}")
    }

    /// Start `n` servers (a pool), each with 32 MB.
    ///
    /// # Panics
    /// As [`MemcachedServer::start`].
    pub fn start_pool(n: usize) -> Vec<Self> {
        (0..n).map(|_| Self::start()).collect()
    }

    fn try_start(port: u16, memory_mb: u32) -> Result<Self, String> {
        if find_on_path("memcached").is_none() {
            panic!("{NOT_FOUND}");
        }
        let log = tempfile::Builder::new()
            .prefix("session-plus-memcached-")
            .suffix(".log")
            .tempfile()
            .map_err(|e| format!("cannot create a log file: {e}"))?;
        let mut server = Self {
            port,
            memory_mb,
            log,
            process: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// The server's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's URL, `memcache://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("memcache://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PID of the running server, if it is running.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Send raw text-protocol bytes on a fresh connection and return
    /// everything the server answered up to its final line (`END`,
    /// `STORED`, `HD`, `EN`, `VERSION ...`, an error...). Multi-line answers
    /// (`stats`, `get`) are read until `END`.
    ///
    /// ```no_run
    /// let server = session_plus_testkit::MemcachedServer::start();
    /// assert!(server.command("version\r\n").unwrap().starts_with("VERSION "));
    /// ```
    pub fn command(&self, text: &str) -> io::Result<String> {
        command(self.port, text)
    }

    /// `stats` as a map of `name -> value`.
    ///
    /// ```no_run
    /// let server = session_plus_testkit::MemcachedServer::start();
    /// assert_eq!(server.stats().unwrap()["cmd_set"], "0");
    /// ```
    pub fn stats(&self) -> io::Result<BTreeMap<String, String>> {
        let text = self.command("stats\r\n")?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("STAT "))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// One counter of `stats` as a number (0 when absent).
    ///
    /// ```no_run
    /// let server = session_plus_testkit::MemcachedServer::start();
    /// assert_eq!(server.stat("cmd_get").unwrap(), 0);
    /// ```
    pub fn stat(&self, name: &str) -> io::Result<u64> {
        Ok(self
            .stats()?
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Kill the server (SIGKILL) and wait until it is gone. Its memory, and
    /// so every item, is lost. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
    }

    /// Start the server again on the same port (stopping it first if it
    /// runs). It comes back empty.
    ///
    /// # Panics
    /// If it does not come back (for instance, another process took the port).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn() {
            panic!("memcached did not restart on port {}: {e}", self.port);
        }
    }

    /// Freeze the server with SIGSTOP: the kernel still accepts connections
    /// and buffers requests, but nothing is answered.
    ///
    /// # Panics
    /// If the server is not running or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Undo [`MemcachedServer::pause`] with SIGCONT.
    ///
    /// # Panics
    /// As [`MemcachedServer::pause`].
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        crate::process::signal("memcached", self.pid(), sig);
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut args: Vec<String> = vec![
            "-l".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            "0".into(),
            "-m".into(),
            self.memory_mb.to_string(),
        ];
        if running_as_root() {
            args.extend(["-u".into(), "root".into()]);
        }
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .args(&args)
            .env("SP_MC_LOG", self.log.path())
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
                return Err(format!(
                    "it exited ({status}); output:\n{}",
                    self.log_text()
                ));
            }
            match command(self.port, "version\r\n") {
                Ok(v) if v.starts_with("VERSION ") => break,
                _ if Instant::now() < deadline => thread::sleep(POLL),
                other => {
                    process.kill();
                    return Err(format!(
                        "no VERSION within {READY_TIMEOUT:?} (last: {other:?}); output:\n{}",
                        self.log_text()
                    ));
                }
            }
        }
        self.process = Some(process);
        Ok(())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Process {
    /// Make the watchdog SIGKILL the server, then reap the watchdog (it exits
    /// right after the server does, so the port is free afterwards).
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

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether this process runs as root (memcached then needs `-u root`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Lines that end a text- or meta-protocol answer.
fn is_final(line: &str) -> bool {
    const FINAL: &[&str] = &[
        "END",
        "STORED",
        "NOT_STORED",
        "EXISTS",
        "NOT_FOUND",
        "DELETED",
        "TOUCHED",
        "OK",
        "ERROR",
        "HD",
        "NS",
        "EX",
        "NF",
        "EN",
        "MN",
    ];
    let word = line.split(' ').next().unwrap_or("");
    FINAL.contains(&word)
        || line.starts_with("VERSION ")
        || line.starts_with("CLIENT_ERROR")
        || line.starts_with("SERVER_ERROR")
}

fn command(port: u16, text: &str) -> io::Result<String> {
    let stream = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    (&stream).write_all(text.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed after {out:?}"),
            ));
        }
        out.push_str(&line);
        let trimmed = line.trim_end_matches(['\r', '\n']);
        // A value line (`VA n ...` or `VALUE k f n`) is followed by n data bytes.
        let data_len = trimmed
            .strip_prefix("VA ")
            .and_then(|rest| rest.split(' ').next())
            .or_else(|| {
                trimmed
                    .strip_prefix("VALUE ")
                    .and_then(|rest| rest.split(' ').nth(2))
            })
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = data_len {
            let mut data = vec![0; n + 2];
            reader.read_exact(&mut data)?;
            out.push_str(&String::from_utf8_lossy(&data));
            if trimmed.starts_with("VA ") {
                return Ok(out);
            }
            continue;
        }
        if is_final(trimmed) {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_restarts_and_dies_on_drop() {
        let mut server = MemcachedServer::start();
        assert_eq!(
            server.command("set k 0 0 1\r\nv\r\n").unwrap(),
            "STORED\r\n"
        );
        assert_eq!(
            server.command("mg k v\r\n").unwrap(),
            "VA 1\r\nv\r\n",
            "meta protocol"
        );
        assert_eq!(server.stat("cmd_set").unwrap(), 1);
        let port = server.port();
        server.stop();
        assert!(
            server.command("version\r\n").is_err(),
            "still answering after stop"
        );
        server.restart();
        assert_eq!(server.port(), port);
        assert_eq!(server.command("get k\r\n").unwrap(), "END\r\n");
        let pid = server.pid().unwrap();
        drop(server);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "memcached {pid} survived its handle");
    }

    #[test]
    fn paused_server_answers_after_resume() {
        let server = MemcachedServer::start();
        server.pause();
        server.resume();
        assert!(server
            .command("version\r\n")
            .unwrap()
            .starts_with("VERSION"));
    }

    #[test]
    fn pool_servers_are_distinct() {
        let pool = MemcachedServer::start_pool(3);
        let mut ports: Vec<u16> = pool.iter().map(MemcachedServer::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3);
        assert_eq!(pool[0].stat("limit_maxbytes").unwrap(), 32 * 1024 * 1024);
    }
}
