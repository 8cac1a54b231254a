//! Helpers shared by this crate's integration tests: a cookie jar that plays
//! the browser through the core's `SessionDriver`, and memcached `stats`
//! deltas.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;

use session_plus_core::{Outcome, Session, SessionDriver, SessionManager};
use session_plus_testkit::MemcachedServer;

/// The cookies a browser would send back.
#[derive(Debug, Default, Clone)]
pub struct Jar(BTreeMap<String, String>);

impl Jar {
    /// Start a request carrying the jar's cookies.
    pub fn request(&self, manager: &Arc<SessionManager>) -> (SessionDriver, Session) {
        let header = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
        let session = driver.session();
        (driver, session)
    }

    /// Finish the request and keep the cookies the response sets.
    pub async fn finish(&mut self, driver: SessionDriver) -> Outcome {
        let outcome = driver.finish().await;
        for cookie in &outcome.cookies {
            let pair = cookie.pair();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || cookie.header_value().contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        outcome
    }

    /// The value of a cookie in the jar.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Whether the jar holds a cookie of that name.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Commands the servers of a pool have answered, by kind, summed over the
/// pool: `get` (`mg`), `set` (`ms`), `delete` (`md`), `touch`.
pub fn commands(pool: &[MemcachedServer]) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for server in pool {
        let stats = server.stats().expect("stats");
        let n = |k: &str| -> u64 { stats.get(k).and_then(|v| v.parse().ok()).unwrap_or(0) };
        *out.entry("get").or_default() += n("cmd_get");
        *out.entry("set").or_default() += n("cmd_set");
        *out.entry("delete").or_default() += n("delete_hits") + n("delete_misses");
        *out.entry("touch").or_default() += n("cmd_touch");
    }
    out
}

/// What ran between two snapshots of [`commands`], zero counts left out.
pub fn delta(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// `[("get", 1)]` as a map, for comparing with [`delta`].
pub fn counts(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().collect()
}
