//! Helpers shared by this crate's integration tests: a cookie jar that plays
//! the browser, and `INFO commandstats` deltas.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use session_plus_core::{Outcome, Session, SessionDriver, SessionManager};
use session_plus_testkit::RedisServer;

/// The cookies a browser would send back.
#[derive(Debug, Default, Clone)]
pub struct Jar(BTreeMap<String, String>);

/// One request: the handler's session (through `Deref`) and the driver that
/// finishes it.
pub struct Request {
    session: Session,
    driver: Mutex<Option<SessionDriver>>,
}

impl std::ops::Deref for Request {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl Jar {
    /// A request carrying the jar's cookies.
    pub fn session(&self, manager: &Arc<SessionManager>) -> Request {
        let header = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let driver = SessionDriver::new(manager.clone(), [header.as_bytes()]);
        Request {
            session: driver.session(),
            driver: Mutex::new(Some(driver)),
        }
    }

    /// Finish the request and keep the cookies the response sets.
    pub async fn finish(&mut self, request: &Request) -> Outcome {
        let driver = request
            .driver
            .lock()
            .unwrap()
            .take()
            .expect("request finished twice");
        let done = driver.finish().await;
        for cookie in &done.cookies {
            let pair = cookie.header_value().split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || cookie.header_value().contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        done
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

/// Commands a script runs inside the server. The store never sends these
/// itself (every write goes through a script), so they are not round trips.
/// (`hgetall` and `del` run inside the login scripts too, but the store also
/// sends them itself, so they count as client commands here: the round-trip
/// tests make no login.)
pub const SCRIPT_INTERNAL: &[&str] = &["hexists", "hget", "hset", "hdel", "pexpireat", "exists"];

/// `command -> calls` from `INFO commandstats`, without `info` itself (the
/// measurement's own command).
pub fn commandstats(server: &RedisServer) -> BTreeMap<String, u64> {
    server.commandstats().expect("INFO commandstats")
}

/// What ran between two snapshots: (commands sent by clients, commands run
/// inside scripts).
pub fn delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut client = BTreeMap::new();
    let mut inner = BTreeMap::new();
    for (name, &calls) in after {
        let d = calls - before.get(name).copied().unwrap_or(0);
        if d > 0 {
            let side = if SCRIPT_INTERNAL.contains(&name.as_str()) {
                &mut inner
            } else {
                &mut client
            };
            side.insert(name.clone(), d);
        }
    }
    (client, inner)
}

/// `{"hgetall": 1, ...}` from pairs, for assertions.
pub fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// A TCP proxy in front of a server that can black-hole its connections: the
/// sockets stay open but nothing gets through any more, as when a peer
/// vanishes without a reset (host gone, firewall state lost). Connections made
/// after [`Proxy::heal`] work; black-holed ones never recover.
pub struct Proxy {
    port: u16,
    epoch: Arc<std::sync::atomic::AtomicU64>,
    _task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forward a fresh loopback port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::net::{TcpListener, TcpStream};

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let epoch = Arc::new(AtomicU64::new(0));
        let shared = epoch.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let born = shared.load(Ordering::SeqCst);
                if born % 2 == 1 {
                    // Black-holed: accept, then never answer.
                    tokio::spawn(async move {
                        let mut client = client;
                        let _ = tokio::io::copy(&mut client, &mut tokio::io::sink()).await;
                    });
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let alive = {
                    let shared = shared.clone();
                    move || shared.load(Ordering::SeqCst) == born
                };
                tokio::spawn(pipe(cr, sw, alive.clone()));
                tokio::spawn(pipe(sr, cw, alive));
            }
        });
        Self {
            port,
            epoch,
            _task: task,
        }
    }

    /// `redis://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stop forwarding on every open connection, and answer nothing on new ones.
    pub fn blackhole(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// New connections work again; black-holed ones stay dead.
    pub fn heal(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copy bytes while `alive()`; afterwards swallow them, keeping the socket open.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    alive: impl Fn() -> bool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) if alive() => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
        }
    }
}

/// A live record holding `counter = n` (an hour left, binding "bind").
pub fn record(n: i64) -> session_plus_core::store::Record {
    use session_plus_core::store::{Record, RecordMeta};
    let now = session_plus_core::unix_now();
    Record::new(
        [("counter".to_owned(), serde_json::json!(n))].into(),
        RecordMeta::new(now, now + 3600, "bind"),
    )
}

/// Changes setting `name = n` (and refreshing the expiry by an hour).
pub fn set_field(name: &str, n: i64) -> session_plus_core::store::Changes {
    use session_plus_core::store::{Changes, MetaUpdate};
    let now = session_plus_core::unix_now();
    Changes::new(MetaUpdate::refresh(now, now + 3600)).set(name, serde_json::json!(n))
}

/// Changes setting `counter = n`.
pub fn set(n: i64) -> session_plus_core::store::Changes {
    set_field("counter", n)
}

/// The integer field `name` of a loaded record.
pub fn field(r: &Option<session_plus_core::store::Record>, name: &str) -> Option<i64> {
    r.as_ref()?.fields.get(name)?.as_i64()
}

/// The record's `counter`.
pub fn counter(r: &Option<session_plus_core::store::Record>) -> Option<i64> {
    field(r, "counter")
}

/// Block the whole (single-threaded) server at `url` with `DEBUG SLEEP
/// seconds`, sent on a connection of its own with no response timeout, and
/// return once it has stalled. The handle ends when the sleep does.
pub async fn stall(url: &str, seconds: u64) -> tokio::task::JoinHandle<redis::RedisResult<()>> {
    let client = redis::Client::open(url).unwrap();
    let no_timeout = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut sleeper = client
        .get_multiplexed_async_connection_with_config(&no_timeout)
        .await
        .unwrap();
    let sleeping = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(seconds)
            .query_async::<()>(&mut sleeper)
            .await
    });
    wait_until_stalled(url).await;
    sleeping
}

/// Wait (bounded) until the server at `url` stops answering a fresh PING
/// promptly (after a `DEBUG SLEEP`). A healthy server on loopback answers
/// well within 400 ms even on a busy machine; the tests' stalls last 2 s,
/// so most of one remains after this.
async fn wait_until_stalled(url: &str) {
    let client = redis::Client::open(url).unwrap();
    for _ in 0..20 {
        let probe = async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        };
        match tokio::time::timeout(std::time::Duration::from_millis(400), probe).await {
            Ok(Ok(_)) => continue,
            Ok(Err(_)) | Err(_) => return,
        }
    }
    panic!("the server never stalled");
}
