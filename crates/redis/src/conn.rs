//! One connection type over standalone Redis and Redis Cluster.

use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisResult};

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

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T>
    where
        C: ConnectionLike,
    {
        let (generation, mut conn) = self.get();
        let result = cmd.query_async(&mut conn).await;
        if result.as_ref().is_err_and(redis::RedisError::is_timeout) {
            self.replace(generation);
        }
        result
    }
}

impl Conn {
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Self::Single(c) => c.query(cmd).await,
            Self::Cluster(c) => c.query(cmd).await,
        }
    }

    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Self::Single(_) => "standalone",
            Self::Cluster(_) => "cluster",
        }
    }
}
