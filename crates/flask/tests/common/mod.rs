//! Python peers for the interop tests: real Flask / flask-session-plus in
//! throwaway virtual environments (created by `tests/peer/setup_venv.sh`).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use session_plus_core::{Session, SessionDriver, SessionManager};

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer")
}

/// Where the venvs live: `SESSION_PLUS_PEER_VENVS`, else the target tmp dir.
fn venv_root() -> PathBuf {
    std::env::var_os("SESSION_PLUS_PEER_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flask-peers"))
}

/// Create the venvs once per test process. Fails loudly, never skips.
fn ensure_venvs() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let root = venv_root();
            let out = Command::new("sh")
                .arg(peer_dir().join("setup_venv.sh"))
                .arg(&root)
                .output()
                .map_err(|e| format!("cannot run sh tests/peer/setup_venv.sh: {e}"))?;
            if out.status.success() {
                Ok(root)
            } else {
                Err(format!(
                    "creating the Python peers failed ({}):\n{}\n\
                     The Flask interop tests need python3 with venv and pip, and access to PyPI.\n\
                     Debian/Ubuntu: apt-get install python3 python3-venv python3-pip\n\
                     Then rerun; or run `sh crates/flask/tests/peer/setup_venv.sh DIR` and set \
                     SESSION_PLUS_PEER_VENVS=DIR.",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One running Python peer process; killed when dropped.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(venv: &str, script: &str) -> Self {
        let root = ensure_venvs();
        let mut child = Command::new(root.join(venv).join("bin/python"))
            .arg("-W")
            .arg("ignore")
            .arg(peer_dir().join(script))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {venv} peer: {e}"));
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Flask 3.1, configured with `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
    pub fn flask(secret_key: &str, fallbacks: &[&str]) -> Self {
        let mut p = Self::spawn("flask", "flask_peer.py");
        p.call(json!({"op": "config", "secret_key": secret_key, "fallbacks": fallbacks}));
        p
    }

    /// flask-session-plus 0.6.2 with this `SESSION_CONFIG`.
    pub fn fsp(secret_key: &str, interfaces: Value) -> Self {
        let mut p = Self::spawn("fsp", "fsp_peer.py");
        p.call(json!({"op": "config", "secret_key": secret_key, "interfaces": interfaces}));
        p
    }

    /// Send one command, return its answer (panics on a peer error).
    pub fn call(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("write to peer");
        self.stdin.flush().expect("flush to peer");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from peer");
        assert!(!line.is_empty(), "the peer exited (see its stderr above)");
        let v: Value = serde_json::from_str(&line).expect("peer answers JSON");
        if let Some(e) = v.get("error") {
            panic!("peer error: {e}\n{}", v["trace"].as_str().unwrap_or(""));
        }
        v
    }

    /// Reconfigure (e.g. after a key rotation).
    pub fn reconfigure(&mut self, cmd: Value) {
        self.call(cmd);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parse tagged JSON text from Python that holds no NaN/Infinity/big ints.
pub fn tagged(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// One Rust request: the manager, the `Cookie` header, the handler's work.
/// Returns the values of the cookies set, by name ("" for a removal).
pub async fn rust_request<F, Fut>(
    manager: &Arc<SessionManager>,
    cookies: &[(&str, &str)],
    handler: F,
) -> std::collections::BTreeMap<String, String>
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let header = cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
    handler(driver.session()).await;
    let done = driver.finish().await;
    if let Some(e) = done.error {
        panic!("saving the session failed: {e:?}");
    }
    done.cookies
        .iter()
        .map(|c| {
            let pair = c.header_value().split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// A current-thread runtime for one test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
