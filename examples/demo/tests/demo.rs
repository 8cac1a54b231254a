//! The demo over real TCP on 127.0.0.1, driven by a minimal HTTP/1.1 client:
//! login sets three cookies each holding only its fields, the next request
//! sees the whole session, CSRF is enforced, logout removes everything.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    set_cookies: Vec<String>,
    body: String,
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    jar: &mut BTreeMap<String, String>,
    form: Option<&str>,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !cookie.is_empty() {
        req.push_str(&format!("Cookie: {}\r\n", cookie.join("; ")));
    }
    if form.is_some() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut set_cookies = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(": ") {
            if k.eq_ignore_ascii_case("set-cookie") {
                set_cookies.push(v.to_owned());
                let (name, value) = v.split(';').next().unwrap().split_once('=').unwrap();
                if v.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }
    Reply {
        status,
        set_cookies,
        body: body.to_owned(),
    }
}

fn csrf_from(html: &str) -> String {
    let pattern = "name=\"csrf_token\" value=\"";
    let at = html.find(pattern).expect("token in form") + pattern.len();
    html[at..].split('"').next().unwrap().to_owned()
}

fn signed_fields(value: &str) -> Vec<String> {
    let payload = value.split('.').next().unwrap();
    let json: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    json["f"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_sqlite_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let backend = session_plus_demo::Backend::Sqlite(db.to_string_lossy().into_owned());
    login_counter_logout(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_redis_over_tcp() {
    // What `SESSION_REDIS_URL=redis://... cargo run --example demo` selects.
    let server = session_plus_testkit::RedisServer::start();
    login_counter_logout(session_plus_demo::Backend::Redis(server.url())).await;
}

async fn login_counter_logout(backend: session_plus_demo::Backend) {
    let store = session_plus_demo::store(&backend).await.unwrap();
    let backend_store = store.clone();
    let manager =
        Arc::new(session_plus_demo::manager(store, session_plus::Key::generate()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(async move { axum::serve(listener, session_plus_demo::app(manager)).await });

    let mut jar = BTreeMap::new();
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Log in"));
    let token = csrf_from(&r.body);

    // CSRF is checked.
    let r = request(
        addr,
        "POST",
        "/login",
        &mut jar.clone(),
        Some("csrf_token=wrong&name=ann"),
    )
    .await;
    assert_eq!(r.status, 403);

    let r = request(
        addr,
        "POST",
        "/login",
        &mut jar,
        Some(&format!("csrf_token={token}&name=ann")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let names: Vec<&str> = r
        .set_cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["csrf", "session", "data"], "{:?}", r.set_cookies);
    assert_eq!(signed_fields(&jar["csrf"]), ["csrf_token"]);
    assert_eq!(signed_fields(&jar["data"]), ["flash"]);
    let id = session_plus_core::SessionId::parse(&jar["session"])
        .expect("the session cookie holds only an id");
    let rec = backend_store
        .load(&session_plus_core::RecordKey::new("session", id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );

    // The next request sees the whole session, and which interface holds what.
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert!(r.body.contains("Logged in as <b>ann</b>"), "{}", r.body);
    assert!(r.body.contains("Welcome, ann!"));
    assert!(
        r.body.contains("<td>user_id</td><td>session</td>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<td>csrf_token</td><td>csrf</td>"));
    let token = csrf_from(&r.body);
    for _ in 0..2 {
        assert_eq!(
            request(
                addr,
                "POST",
                "/count",
                &mut jar,
                Some(&format!("csrf_token={token}"))
            )
            .await
            .status,
            303
        );
    }
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert!(r.body.contains("<b id=\"counter\">2</b>"), "{}", r.body);
    assert!(r.body.contains("<td>counter</td><td>data</td>"));

    let before_logout = jar.clone();
    let r = request(
        addr,
        "POST",
        "/logout",
        &mut jar,
        Some(&format!("csrf_token={token}")),
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.set_cookies
            .iter()
            .filter(|c| c.contains("Max-Age=0"))
            .count(),
        3,
        "{:?}",
        r.set_cookies
    );
    assert!(jar.is_empty());
    // The old cookies no longer log anyone in.
    let r = request(addr, "GET", "/", &mut before_logout.clone(), None).await;
    assert!(r.body.contains("Log in"));
    server.abort();
}
