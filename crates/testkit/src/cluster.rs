//! A local Redis Cluster: several `redis-server` masters joined by `redis-cli`.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::retry_ports;
use crate::{free_port, RedisServer, Reply};

/// How long `redis-cli --cluster create` and the wait for `cluster_state:ok`
/// may take, each.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

/// A Redis Cluster of masters only (no replicas) on loopback ports.
///
/// Each node is a [`RedisServer`] started with `--cluster-enabled yes` and an
/// explicit `--cluster-port` (so the bus port is free too, whatever the client
/// port). The 16384 slots are spread over the nodes by
/// `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and
/// [`RedisCluster::start`] returns once every node reports `cluster_state:ok`.
/// The nodes die with the handle.
///
/// ```no_run
/// use session_plus_testkit::RedisCluster;
///
/// let cluster = RedisCluster::start(3);
/// assert_eq!(cluster.urls().len(), 3);
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Start `masters` nodes (at least 3, as `redis-cli` requires) and join them.
    ///
    /// # Panics
    /// If `masters < 3`, if `redis-server`/`redis-cli` are missing, or if the
    /// cluster does not form within a minute.
    pub fn start(masters: usize) -> Self {
        Self::start_with(masters, &[])
    }

    /// [`RedisCluster::start`] with extra `redis-server` arguments for every
    /// node (e.g. `["--appendonly", "yes", "--appendfsync", "always"]`).
    ///
    /// # Panics
    /// As [`RedisCluster::start`].
    pub fn start_with(masters: usize, extra_args: &[&str]) -> Self {
        assert!(masters >= 3, "a Redis Cluster needs at least 3 masters");
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                // Both the client port and the cluster bus port must be free:
                // pick them anew on every attempt.
                retry_ports(|| {
                    let args = [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-port",
                        &free_port().to_string(),
                        "--cluster-node-timeout",
                        "5000",
                    ];
                    let mut args: Vec<String> = args.map(String::from).to_vec();
                    args.extend(extra_args.iter().map(|a| (*a).to_owned()));
                    RedisServer::try_start(free_port(), args)
                })
            })
            .collect();
        let cluster = Self { nodes };
        cluster.create();
        cluster.wait_state_ok();
        cluster
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, mutable: [`RedisServer::stop`] and
    /// [`RedisServer::restart`] one to test a node failure (a restarted node
    /// keeps its id and slots: `nodes.conf` lives in its directory).
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// Wait (bounded) until every node reports `cluster_state:ok`, e.g. after
    /// restarting one.
    ///
    /// # Panics
    /// If that does not happen within a minute.
    pub fn wait_until_ok(&self) {
        self.wait_state_ok();
    }

    /// `redis://127.0.0.1:PORT` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    fn create(&self) {
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let mut child = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-cli not found ({e}): install it with `apt-get install -y redis-server` (the README's test command does this)")
            });
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                _ => {
                    let _ = child.kill();
                    break;
                }
            }
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot read redis-cli's output: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("All 16384 slots covered"),
            "redis-cli --cluster create failed ({}):\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_state_ok(&self) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        for node in &self.nodes {
            loop {
                let info = node
                    .command(&["CLUSTER", "INFO"])
                    .ok()
                    .and_then(|r| r.text());
                if info
                    .as_deref()
                    .is_some_and(|t| t.contains("cluster_state:ok"))
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} never reached cluster_state:ok: {info:?}",
                    node.port()
                );
                thread::sleep(POLL);
            }
        }
        // Every node must also know every other node's address, or a client
        // that asks it for the slot map could be sent nowhere.
        for node in &self.nodes {
            loop {
                let known = match node.command(&["CLUSTER", "NODES"]) {
                    Ok(reply @ Reply::Bulk(_)) => reply.text().map_or(0, |t| {
                        t.lines()
                            .filter(|l| l.contains("master") && !l.contains("fail"))
                            .count()
                    }),
                    _ => 0,
                };
                if known == self.nodes.len() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} sees {known} masters",
                    node.port()
                );
                thread::sleep(POLL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_masters_cover_all_slots() {
        let cluster = RedisCluster::start(3);
        for node in cluster.nodes() {
            let info = node.info("cluster").unwrap();
            assert_eq!(info.get("cluster_enabled").map(String::as_str), Some("1"));
        }
        let slots = cluster.nodes()[0].command(&["CLUSTER", "SLOTS"]).unwrap();
        let Reply::Array(Some(ranges)) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        assert_eq!(ranges.len(), 3);
    }
}
