//! Shared by the test binaries: one emulator per binary, a request-counting
//! proxy, an HTTP harness over the real `SessionLayer`.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use http::{Request, StatusCode};
use session_plus::{Session, SessionError, SessionLayer, SessionManager};
use session_plus_core::SessionId;
use session_plus_firestore::FirestoreClient;
use session_plus_testkit::FirestoreEmulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// `host:port` of the emulator shared by the test processes of this run
/// (started on first use; it stops itself once no test process runs).
pub fn host() -> String {
    FirestoreEmulator::shared_host()
}

/// Its port.
pub fn port() -> u16 {
    host()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// A client of the shared emulator for `project`.
pub fn client(project: &str) -> FirestoreClient {
    FirestoreClient::emulator(&host(), project)
}

/// A name no other test uses (lower-case letters, digits and `-`, so it is
/// a valid project id as well as a collection id).
pub fn unique(prefix: &str) -> String {
    let id = SessionId::generate();
    let tail: String = id
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect();
    format!("{prefix}-{tail}")
}

/// A plain HTTP call to the emulator (for looking at raw documents).
pub async fn raw(method: &str, host: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let http = session_plus_firestore::reqwest::Client::new();
    let url = format!("http://{host}{path}");
    let req = match method {
        "GET" => http.get(url),
        _ => http.post(url).body(body.to_owned()),
    };
    let resp = req
        .header("authorization", "Bearer owner")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("emulator reachable");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A raw document of `project`'s `collection`.
pub async fn raw_doc(project: &str, collection: &str, id: &str) -> Option<serde_json::Value> {
    let path = format!("/v1/projects/{project}/databases/(default)/documents/{collection}/{id}");
    let (status, v) = raw("GET", &host(), &path, "").await;
    match status {
        200 => Some(v),
        404 => None,
        other => panic!("GET document: {other} {v}"),
    }
}

/// A TCP proxy in front of the emulator that counts HTTP requests by kind
/// (`GET`, `commit`, `runQuery`, ...), parsing each request's head and
/// `Content-Length` body (reqwest neither pipelines nor chunks these).
#[derive(Clone)]
pub struct CountingProxy {
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl CountingProxy {
    pub async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log2.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    });
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 16 * 1024];
                    loop {
                        // Forward complete requests, logging each one.
                        while let Some(end) = find(&buf, b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() < end + 4 + len {
                                break;
                            }
                            let request: Vec<u8> = buf.drain(..end + 4 + len).collect();
                            log.lock().unwrap().push(kind(&head));
                            if sw.write_all(&request).await.is_err() {
                                return;
                            }
                        }
                        match cr.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Self { port, log }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests since the last call, by kind.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn kind(head: &str) -> String {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    match path.rsplit_once(':') {
        Some((_, op)) if method == "POST" && !op.contains('/') => op.to_owned(),
        _ => method.to_owned(),
    }
}

/// Routes exposing the session API, one operation per request.
pub fn app(manager: Arc<SessionManager>) -> Router {
    async fn get_field(s: Session, Path(f): Path<String>) -> Result<String, SessionError> {
        Ok(s.get_value(&f)
            .await?
            .map_or("null".into(), |v| v.to_string()))
    }
    async fn set_field(
        s: Session,
        Path((f, v)): Path<(String, String)>,
    ) -> Result<&'static str, SessionError> {
        let v = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
        s.insert(&f, v).await?;
        Ok("ok")
    }
    async fn all(s: Session) -> Result<String, SessionError> {
        Ok(serde_json::to_string(&s.to_map().await?).unwrap_or_default())
    }
    async fn destroy(s: Session) -> Result<&'static str, SessionError> {
        s.destroy().await?;
        Ok("ok")
    }
    async fn seed_login(s: Session) -> Result<&'static str, SessionError> {
        s.cycle_id().await?;
        s.insert("csrf_token", "tok").await?;
        s.insert("user_id", 42).await?;
        s.insert("user_data", serde_json::json!({"name": "ann"}))
            .await?;
        s.insert("theme", "dark").await?;
        Ok("ok")
    }
    async fn none() -> &'static str {
        "none"
    }
    Router::new()
        .route("/get/{f}", get(get_field))
        .route("/set/{f}/{v}", post(set_field))
        .route("/all", get(all))
        .route("/destroy", post(destroy))
        .route("/seed-login", post(seed_login))
        .route("/none", get(none))
        .layer(SessionLayer::new(manager))
}

/// A cookie jar: name -> value, updated from `Set-Cookie`.
#[derive(Debug, Clone, Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub set_cookies: Vec<String>,
    pub body: String,
}

/// Send one request with the jar's cookies and update the jar from the reply.
pub async fn send(app: &Router, method: &str, path: &str, jar: &mut Jar) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if !jar.0.is_empty() {
        let header = jar
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req = req.header(http::header::COOKIE, header);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let set_cookies: Vec<String> = res
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect();
    for c in &set_cookies {
        let pair = c.split(';').next().expect("pair");
        let (name, value) = pair.split_once('=').expect("name=value");
        if c.contains("Max-Age=0") {
            jar.0.remove(name);
        } else {
            jar.0.insert(name.to_owned(), value.to_owned());
        }
    }
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        set_cookies,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
