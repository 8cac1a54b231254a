//! One connection type over standalone Redis and Redis Cluster.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, Value};

/// Makes a fresh connection (connecting lazily, on first use).
pub(crate) type Rebuild<C> = Box<dyn Fn() -> RedisResult<C> + Send + Sync>;

/// A cheap-to-clone handle that reconnects by itself.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(Arc<Healing<ConnectionManager>>),
    Cluster(Arc<Healing<ClusterConnection>>),
}

/// A connection that is replaced after a reply timeout, when we know how to
/// make a new one.
///
/// The client library reconnects when a socket reports an error, but not when
/// a reply simply never comes (a peer gone without a reset: the socket looks
/// alive forever). After such a timeout the connection is swapped for a fresh
/// one, connected by the next request: a merely slow server costs one
/// reconnect, and a dead socket is never kept.
pub(crate) struct Healing<C> {
    current: RwLock<(u64, C)>,
    rebuild: Option<Rebuild<C>>,
}

impl<C: Clone> Healing<C> {
    /// A connection we cannot remake (the caller built it).
    pub(crate) fn fixed(conn: C) -> Self {
        Self {
            current: RwLock::new((0, conn)),
            rebuild: None,
        }
    }

    pub(crate) fn rebuildable(conn: C, rebuild: Rebuild<C>) -> Self {
        Self {
            current: RwLock::new((0, conn)),
            rebuild: Some(rebuild),
        }
    }

    fn get(&self) -> (u64, C) {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace generation `generation`, once however many requests saw it fail.
    fn replace(&self, generation: u64) {
        let Some(rebuild) = &self.rebuild else { return };
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.0 != generation {
            return;
        }
        match rebuild() {
            Ok(fresh) => {
                tracing::warn!("redis reply timed out; replacing the connection");
                *current = (generation + 1, fresh);
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis reply timed out; could not make a new connection")
            }
        }
    }

    /// The generation of the current connection (see [`Conn::replace`]).
    fn generation(&self) -> u64 {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Send `cmd` and return the raw reply, server error replies included
    /// (as [`Value::ServerError`]). A refused connection means the command
    /// never left this process, so it is sent once more, on the connection
    /// the client has just started to re-establish: after Redis comes back,
    /// the first request reconnects and succeeds instead of getting the
    /// failure of an attempt made while the server was down. Other failures
    /// are never retried here (the command may have run).
    async fn query_value(&self, cmd: &Cmd) -> RedisResult<Value>
    where
        C: ConnectionLike,
    {
        let (generation, mut conn) = self.get();
        let mut result = conn.req_packed_command(cmd).await;
        if result
            .as_ref()
            .is_err_and(redis::RedisError::is_connection_refusal)
        {
            result = conn.req_packed_command(cmd).await;
        }
        if result.as_ref().is_err_and(redis::RedisError::is_timeout) {
            self.replace(generation);
        }
        result
    }
}

impl Conn {
    /// Send `cmd` and convert the reply (a server error reply is an `Err`).
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        redis::from_redis_value(self.query_value(cmd).await?.extract_error()?)
            .map_err(RedisError::from)
    }

    /// Send `cmd` and return the reply as it came: no conversion and no pass
    /// over it looking for nested errors, so a caller that reads the reply
    /// in place (an `HGETALL`) pays for neither. A server error reply is
    /// [`Value::ServerError`], for the caller to handle.
    pub(crate) async fn query_value(&self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Self::Single(c) => c.query_value(cmd).await,
            Self::Cluster(c) => c.query_value(cmd).await,
        }
    }

    /// Which connection is in use now; pass it to [`Conn::replace`] after a
    /// call on it timed out.
    pub(crate) fn generation(&self) -> u64 {
        match self {
            Self::Single(c) => c.generation(),
            Self::Cluster(c) => c.generation(),
        }
    }

    /// Replace connection `generation` (once, however many calls on it timed
    /// out; a no-op for a connection the caller built): its peer may be gone
    /// without a reset, so it would never answer again.
    pub(crate) fn replace(&self, generation: u64) {
        match self {
            Self::Single(c) => c.replace(generation),
            Self::Cluster(c) => c.replace(generation),
        }
    }

    /// Every key matching `pattern`: `SCAN` on the server, or on every master
    /// of a cluster (each node has its own keyspace and cursor). Each page
    /// waits at most `page_limit` (none: the client's own reply timeout).
    pub(crate) async fn scan_match(
        &self,
        pattern: &str,
        page_limit: Option<Duration>,
    ) -> RedisResult<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        match self {
            Self::Single(c) => {
                let (_, mut conn) = c.get();
                let mut cursor = 0_u64;
                loop {
                    let (next, batch): (u64, Vec<Vec<u8>>) =
                        within(page_limit, scan_cmd(cursor, pattern).query_async(&mut conn))
                            .await?;
                    keys.extend(batch);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            Self::Cluster(c) => {
                let (_, mut conn) = c.get();
                let slots = conn
                    .route_command(
                        redis::cmd("CLUSTER").arg("SLOTS").clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
                    )
                    .await?;
                for (host, port) in masters(&slots)? {
                    let node =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    let mut cursor = 0_u64;
                    loop {
                        let reply = conn
                            .route_command(scan_cmd(cursor, pattern), node.clone())
                            .await?;
                        let (next, batch): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
                        keys.extend(batch);
                        if next == 0 {
                            break;
                        }
                        cursor = next;
                    }
                }
            }
        }
        Ok(keys)
    }

    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Self::Single(_) => "standalone",
            Self::Cluster(_) => "cluster",
        }
    }
}

/// `fut` bounded by `limit` (none: as it is); running out of time is the
/// same I/O timeout error the client gives for a late reply.
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match limit {
        None => fut.await,
        Some(limit) => tokio::time::timeout(limit, fut)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into())),
    }
}

fn scan_cmd(cursor: u64, pattern: &str) -> Cmd {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000)
        .arg("TYPE")
        .arg("hash")
        .clone()
}

/// The master of every slot range in a `CLUSTER SLOTS` reply, deduplicated:
/// each range is `[start, end, [host, port, id, ...], replicas...]`.
fn masters(slots: &Value) -> RedisResult<Vec<(String, u16)>> {
    let malformed = || RedisError::from((ErrorKind::Parse, "unexpected CLUSTER SLOTS reply"));
    let Value::Array(ranges) = slots else {
        return Err(malformed());
    };
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(malformed());
        };
        let Some(Value::Array(master)) = parts.get(2) else {
            return Err(malformed());
        };
        let host: String = master
            .first()
            .map(redis::from_redis_value_ref)
            .ok_or_else(malformed)??;
        let port: u16 = master
            .get(1)
            .map(redis::from_redis_value_ref)
            .ok_or_else(malformed)??;
        if !out.iter().any(|(h, p)| *h == host && *p == port) {
            out.push((host, port));
        }
    }
    Ok(out)
}
