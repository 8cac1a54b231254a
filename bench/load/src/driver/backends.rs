//! The backend servers of a run: redis-server always, and memcached,
//! SecantusDB (MongoDB wire protocol) and Google's Firestore emulator when a
//! server kind of the run needs them. All started by `session-plus-testkit`
//! on free loopback ports, killed by PID when dropped, and pinned to the load
//! generator's core.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};

use session_plus_testkit::{FirestoreEmulator, MemcachedServer, RedisServer, SecantusServer};

use crate::driver::cpu;
use crate::driver::redis::{commandstats, CommandCounts};
use crate::servers::{Backend, Kind};

/// Every backend server the run's kinds need.
pub struct Backends {
    cpus: Option<String>,
    /// redis-server (every run has one: the Redis kinds and the scaling
    /// section's checks use it).
    pub redis: RedisServer,
    memcached: Option<MemcachedServer>,
    mongo: Option<SecantusServer>,
    /// A MongoDB client of the driver's own, for `serverStatus`.
    mongo_client: Option<(
        tokio::runtime::Runtime,
        session_plus::mongodb::mongodb::Client,
    )>,
    firestore: Option<FirestoreEmulator>,
    /// Processes pinned so far, for the report: (name, pid, CPU list).
    pub pinned: Vec<(String, u32, String)>,
}

/// Run a test-kit start function; its panic (a missing server, with the
/// install instructions, already printed by the panic hook) becomes an error.
fn start<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("{what} did not start: {msg}")
    })
}

impl Backends {
    /// Start redis-server and every other backend that one of `kinds` needs
    /// (all up front, so a missing server fails the run at once rather than
    /// minutes in), each pinned to `cpus` when given.
    pub fn start(kinds: &[Kind], cpus: Option<String>) -> Result<Self, String> {
        let needs = |b: Backend| kinds.iter().any(|k| k.backend() == b);
        let mut me = Self {
            redis: start("redis-server", RedisServer::start)?,
            cpus,
            memcached: None,
            mongo: None,
            mongo_client: None,
            firestore: None,
            pinned: Vec::new(),
        };
        me.pin();
        if needs(Backend::Memcached) {
            eprintln!("starting memcached");
            // 256 MB: the scaling section's sessions and every round's fit.
            me.memcached = Some(start("memcached", || {
                MemcachedServer::start_with_memory(256)
            })?);
            me.pin();
        }
        if needs(Backend::Mongodb) {
            eprintln!("starting SecantusDB (MongoDB wire protocol)");
            let server = start("SecantusDB", SecantusServer::start)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            let client = rt
                .block_on(session_plus::mongodb::mongodb::Client::with_uri_str(
                    server.url(),
                ))
                .map_err(|e| format!("MongoDB client: {e}"))?;
            me.mongo = Some(server);
            me.mongo_client = Some((rt, client));
            me.pin();
        }
        if needs(Backend::Firestore) {
            eprintln!("starting the Firestore emulator");
            let emulator = start("the Firestore emulator", FirestoreEmulator::start)?;
            eprintln!("  up in {:.1} s", emulator.started_in().as_secs_f64());
            me.firestore = Some(emulator);
            me.pin();
        }
        Ok(me)
    }

    /// Pin every process this driver started so far (the backends, their
    /// watchdog shells, the Firestore launcher and its JVM), with all their
    /// threads, to the backend CPUs. No server under test runs while the
    /// backends start, so every descendant is a backend process.
    fn pin(&mut self) {
        let Some(cpus) = self.cpus.clone() else {
            return;
        };
        for pid in descendants(std::process::id()) {
            if self.pinned.iter().any(|(_, p, _)| *p == pid) {
                continue;
            }
            let ok = Command::new("taskset")
                .args(["-a", "-p", "-c", &cpus, &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                self.pinned.push((process_name(pid), pid, cpus.clone()));
            }
        }
    }

    /// The third argument of `load-server` for `kind`: its backend's URL or
    /// address (the Redis URL for kinds without a backend; unused there).
    pub fn url(&self, kind: Kind) -> Result<String, String> {
        let missing = || format!("{kind}: its backend was not started");
        Ok(match kind.backend() {
            Backend::None | Backend::Redis => self.redis.url(),
            Backend::Memcached => self.memcached.as_ref().ok_or_else(missing)?.addr(),
            Backend::Mongodb => self.mongo.as_ref().ok_or_else(missing)?.url(),
            Backend::Firestore => self.firestore.as_ref().ok_or_else(missing)?.host(),
        })
    }

    /// Empty the backend of `kind` before its row (Redis `FLUSHALL`,
    /// memcached `flush_all`; MongoDB and Firestore keep the few sessions
    /// earlier rounds made, in their own database).
    pub fn reset(&self, kind: Kind) -> Result<(), String> {
        self.redis
            .command(&["FLUSHALL"])
            .map_err(|e| format!("FLUSHALL: {e}"))?;
        if let (Backend::Memcached, Some(m)) = (kind.backend(), &self.memcached) {
            let answer = m
                .command("flush_all\r\n")
                .map_err(|e| format!("memcached flush_all: {e}"))?;
            if !answer.starts_with("OK") {
                return Err(format!("memcached flush_all answered {answer:?}"));
            }
        }
        Ok(())
    }

    /// Whether the commands `kind` sends to its backend are counted
    /// ([`Backends::counts`]): Redis (`INFO commandstats`), memcached
    /// (`stats`) and MongoDB (`serverStatus` opcounters); not Firestore (the
    /// emulator has no counters).
    pub fn counts_commands(kind: Kind) -> bool {
        kind.backend() != Backend::Firestore
    }

    /// Commands the backend of `kind` has served so far, by name: Redis
    /// `INFO commandstats`, or memcached's `stats` counters (`get` is
    /// `cmd_get`, which counts the meta `mg` too; `set` is `cmd_set`, with
    /// `ms`; `delete` the hits and misses of `md`/`delete`; `touch`), or
    /// MongoDB's `serverStatus` `opcounters` (`query` for `find`, `update`,
    /// `insert`, `delete`, `getmore`, and `command` for everything else,
    /// `findAndModify` and the drivers' monitoring included).
    pub fn counts(&self, kind: Kind) -> Result<CommandCounts, String> {
        if let (Backend::Mongodb, Some((rt, client))) = (kind.backend(), &self.mongo_client) {
            return mongo_opcounters(rt, client);
        }
        match (kind.backend(), &self.memcached) {
            (Backend::Memcached, Some(m)) => {
                let stats = m.stats().map_err(|e| format!("memcached stats: {e}"))?;
                let n = |k: &str| -> u64 { stats.get(k).and_then(|v| v.parse().ok()).unwrap_or(0) };
                Ok([
                    ("get".to_owned(), n("cmd_get")),
                    ("set".to_owned(), n("cmd_set")),
                    ("delete".to_owned(), n("delete_hits") + n("delete_misses")),
                    ("touch".to_owned(), n("cmd_touch")),
                ]
                .into())
            }
            _ => commandstats(&self.redis),
        }
    }

    /// Version lines of the backends started, for the report's setup table.
    pub fn versions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.memcached.is_some() {
            out.push((
                "memcached".to_owned(),
                first_line("memcached", &["-V"]).unwrap_or_else(|| "?".to_owned()),
            ));
        }
        if self.mongo.is_some() {
            out.push((
                "MongoDB server".to_owned(),
                format!(
                    "SecantusDB {} (PyPI, a MongoDB wire-protocol server on WiredTiger, in Python; no mongod can be installed here)",
                    session_plus_testkit::SECANTUS_VERSION
                ),
            ));
        }
        if let Some(f) = &self.firestore {
            let version = first_line(
                "dpkg-query",
                &[
                    "-W",
                    "-f",
                    "${Version}",
                    "google-cloud-cli-firestore-emulator",
                ],
            )
            .unwrap_or_else(|| "?".to_owned());
            out.push((
                "Firestore".to_owned(),
                format!(
                    "Google's Cloud Firestore emulator (google-cloud-cli-firestore-emulator {version}), started in {:.1} s",
                    f.started_in().as_secs_f64()
                ),
            ));
        }
        out
    }
}

fn mongo_opcounters(
    rt: &tokio::runtime::Runtime,
    client: &session_plus::mongodb::mongodb::Client,
) -> Result<CommandCounts, String> {
    use session_plus::mongodb::mongodb::bson::{doc, Bson};
    // This client's runtime only runs inside `block_on`, so a pooled
    // connection can sit idle for minutes between two calls and be found
    // closed: one more attempt opens a fresh one (the driver drops the
    // broken connection after the first error).
    let status_once = || {
        rt.block_on(async {
            client
                .database("admin")
                .run_command(doc! { "serverStatus": 1 })
                .await
        })
    };
    let status = status_once()
        .or_else(|e| {
            eprintln!("load-bench: MongoDB serverStatus failed ({e}); trying once more");
            status_once()
        })
        .map_err(|e| format!("MongoDB serverStatus: {e}"))?;
    let ops = status
        .get_document("opcounters")
        .map_err(|e| format!("MongoDB serverStatus without opcounters: {e}"))?;
    Ok(ops
        .iter()
        .filter_map(|(name, v)| {
            let n = match v {
                Bson::Int32(n) => u64::try_from(*n).ok()?,
                Bson::Int64(n) => u64::try_from(*n).ok()?,
                Bson::Double(n) if *n >= 0.0 => *n as u64,
                _ => return None,
            };
            Some((name.clone(), n))
        })
        .collect())
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// The PIDs of every live descendant of `root` (not `root` itself).
fn descendants(root: u32) -> Vec<u32> {
    let parent: Vec<(u32, u32)> = cpu::pids()
        .into_iter()
        .filter_map(|pid| Some((pid, cpu::ppid(pid)?)))
        .collect();
    let mut found: BTreeSet<u32> = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parent {
            if ppid == p && found.insert(pid) {
                frontier.push(pid);
            }
        }
    }
    found.into_iter().collect()
}

fn process_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_and_its_child() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let me = std::process::id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let found = loop {
            let d = descendants(me);
            if d.len() >= 2 || std::time::Instant::now() > deadline {
                break d;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(found.contains(&child.id()), "{found:?}");
        assert!(
            found.iter().any(|&p| cpu::ppid(p) == Some(child.id())),
            "the grandchild (sleep) is missing: {found:?}"
        );
        // Kill the shell's child by its pid, then the shell.
        for p in found.iter().filter(|&&p| cpu::ppid(p) == Some(child.id())) {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill {p}")])
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
