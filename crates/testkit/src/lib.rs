//! Real servers for session-plus tests: no mocks of a backend.
//!
//! - [`RedisServer`]: one `redis-server` on a free loopback port, with its own
//!   temporary directory; [`stop`](RedisServer::stop),
//!   [`restart`](RedisServer::restart), [`pause`](RedisServer::pause) and
//!   [`resume`](RedisServer::resume) for fault tests.
//! - [`RedisCluster`]: several masters joined into a Redis Cluster.
//! - [`MemcachedServer`]: one `memcached` on a free loopback port (start
//!   several for a pool); stop, restart, pause and resume as above.
//! - [`FirestoreEmulator`]: Google's Cloud Firestore emulator (a JVM), one
//!   per test binary is plenty; export, stop and restart for fault tests.
//! - [`SecantusServer`]: SecantusDB, a MongoDB wire-protocol server (installed
//!   with pip into a virtual environment under the target directory on first
//!   use), for the MongoDB backend; stop, restart, pause and resume.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`Reply`]: what [`RedisServer::command`] returns, for checks from tests
//!   (`INFO commandstats`, `DEBUG SLEEP`, `KEYS`...).
//!
//! Servers are killed by PID when their handle drops. Each one also runs
//! under a tiny shell watchdog that kills it when the test process goes away
//! without dropping it (a `static` server, an aborted run), so no
//! `redis-server` outlives the tests. Linux only (it relies on `sh`).
//!
//! When `redis-server` is not installed the start functions panic with a
//! message saying how to install it.
//!
//! ```no_run
//! use session_plus_testkit::RedisServer;
//!
//! let server = RedisServer::start();
//! assert!(server.url().starts_with("redis://127.0.0.1:"));
//! assert_eq!(server.command(&["PING"]).unwrap().text().as_deref(), Some("PONG"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cluster;
mod firestore;
mod memcached;
mod mongo;
mod process;
mod resp;
mod server;

pub use cluster::RedisCluster;
pub use firestore::FirestoreEmulator;
pub use memcached::MemcachedServer;
pub use mongo::{secantusd, SecantusServer, SECANTUS_REPLICA_SET, SECANTUS_VERSION};
pub use resp::Reply;
pub use server::RedisServer;

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it).
///
/// Another process may take it before you bind it; the server starters in this
/// crate retry with a new port when that happens.
///
/// # Panics
/// If no loopback port can be bound at all.
///
/// ```
/// let port = session_plus_testkit::free_port();
/// assert!(port > 0);
/// ```
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
        .port()
}
