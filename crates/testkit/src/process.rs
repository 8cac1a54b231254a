//! Small helpers every server of the test kit shares.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The last 15 lines of a server's log, for failure messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `program` in a directory of `PATH`.
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Send `sig` (e.g. `STOP`, `CONT`) to the process `pid` of the server
/// `what`, which must be running.
///
/// # Panics
/// If `pid` is `None` or the signal cannot be sent.
pub(crate) fn signal(what: &str, pid: Option<u32>, sig: &str) {
    let pid = pid.unwrap_or_else(|| panic!("{what} is not running"));
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(status.success(), "kill -{sig} {pid} failed");
}
