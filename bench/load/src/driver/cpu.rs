//! CPU time a server process tree spends, from `/proc`: a cost per request
//! that other load on the machine hardly disturbs (unlike requests/s).

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The PIDs of the live processes (the numeric entries of `/proc`).
pub(crate) fn pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// The parent of a live process.
pub(crate) fn ppid(pid: u32) -> Option<u32> {
    stat(pid).map(|(ppid, _)| ppid)
}

/// (ppid, utime + stime in ticks) of one process, all its threads included.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after
    // the last `)`. There, field 0 is the state, 1 the ppid, 11 utime, 12 stime.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// Seconds of CPU used so far by `pid` and its direct children (gunicorn's
/// workers are children of its master).
pub fn seconds(pid: u32) -> f64 {
    let children: u64 = pids()
        .into_iter()
        .filter_map(stat)
        .filter(|&(ppid, _)| ppid == pid)
        .map(|(_, t)| t)
        .sum();
    let ticks = stat(pid).map_or(0, |(_, t)| t) + children;
    ticks as f64 / TICKS_PER_SEC
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_uses_some_cpu() {
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 50 {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(super::seconds(std::process::id()) > 0.0);
    }
}
