//! The demo over real TCP on 127.0.0.1, driven by a minimal HTTP/1.1 client:
//! login sets three cookies each holding only its fields (the `data` one
//! unreadable), the next request sees the whole session and where each field
//! lives, CSRF is enforced with a 403 page, logout removes everything.

use std::collections::BTreeMap;

use session_plus_demo::config::Settings;
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

/// The JSON inside a signed cookie, if the cookie is readable.
fn readable_json(value: &str) -> Option<serde_json::Value> {
    session_plus_core::cookie_format::signed_payload_json(value)
}

fn settings(vars: &[(&str, String)]) -> Settings {
    Settings::from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

async fn serve(settings: &Settings) -> (std::net::SocketAddr, session_plus_demo::routes::Demo) {
    let demo = session_plus_demo::build(settings)
        .await
        .unwrap_or_else(|e| panic!("demo failed to start: {e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = session_plus_demo::app(demo.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, demo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_sqlite_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let settings = settings(&[("SESSION_DB", db.to_string_lossy().into_owned())]);
    let (addr, demo) = serve(&settings).await;
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    let canonical = db.canonicalize().unwrap();
    assert!(
        r.body.contains(&format!(
            "SQLite</span></td><td class=\"where\">file {}</td>",
            canonical.display()
        )),
        "the page says where the SQLite file is: {}",
        r.body
    );
    login_counter_logout(addr, &demo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_redis_over_tcp() {
    // What `SESSION_REDIS_URL=redis://... cargo run -p session-plus-demo` selects.
    let server = session_plus_testkit::RedisServer::start();
    let settings = settings(&[("SESSION_REDIS_URL", server.url())]);
    let (addr, demo) = serve(&settings).await;
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    assert!(
        r.body.contains(&format!(
            "Redis</span></td><td class=\"where\">{}</td>",
            server.url()
        )),
        "the page says where Redis is: {}",
        r.body
    );
    login_counter_logout(addr, &demo).await;
}

/// The page's row for the `session` interface names `kind`.
fn assert_session_kind(body: &str, kind: &str) {
    assert!(
        body.contains(&format!("{kind}</span></td>")),
        "the page says the session lives in {kind}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_memcache_over_tcp() {
    // What `SESSION_MEMCACHE_SERVERS=a,b cargo run -p session-plus-demo` selects.
    let pool = session_plus_testkit::MemcachedServer::start_pool(2);
    let servers: Vec<String> = pool.iter().map(|s| s.addr()).collect();
    let settings = settings(&[("SESSION_MEMCACHE_SERVERS", servers.join(","))]);
    let (addr, demo) = serve(&settings).await;
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    assert_session_kind(&r.body, "memcached");
    login_counter_logout(addr, &demo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_mongodb_over_tcp() {
    // What `SESSION_MONGODB_URL=mongodb://... cargo run -p session-plus-demo` selects.
    let server = session_plus_testkit::SecantusServer::start();
    let settings = settings(&[("SESSION_MONGODB_URL", server.url())]);
    let (addr, demo) = serve(&settings).await;
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    assert_session_kind(&r.body, "MongoDB");
    login_counter_logout(addr, &demo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_on_firestore_over_tcp() {
    // What `SESSION_FIRESTORE_PROJECT=p FIRESTORE_EMULATOR_HOST=h cargo run
    // -p session-plus-demo` selects.
    let host = session_plus_testkit::FirestoreEmulator::shared_host();
    let project = format!("demo-{}", std::process::id());
    let settings = settings(&[
        ("SESSION_FIRESTORE_PROJECT", project),
        ("FIRESTORE_EMULATOR_HOST", host),
    ]);
    let (addr, demo) = serve(&settings).await;
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    assert_session_kind(&r.body, "Firestore");
    login_counter_logout(addr, &demo).await;
}

async fn login_counter_logout(addr: std::net::SocketAddr, demo: &session_plus_demo::routes::Demo) {
    let mut jar = BTreeMap::new();
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Log in"));
    let token = csrf_from(&r.body);

    // CSRF is checked: a wrong token, a missing one, and a body that is not a
    // form all get the 403 page with a way back, and change nothing.
    for body in ["csrf_token=wrong&name=ann", "name=ann", "{\"json\": true}"] {
        let r = request(addr, "POST", "/login", &mut jar.clone(), Some(body)).await;
        assert_eq!(r.status, 403, "{body}: {}", r.body);
        assert!(
            r.body.contains("CSRF token is missing or wrong"),
            "{}",
            r.body
        );
        assert!(r.body.contains(r#"<a id="back" href="/">"#), "{}", r.body);
        assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    }

    let r = request(
        addr,
        "POST",
        "/login",
        &mut jar,
        Some(&format!("csrf_token={token}&name=Ann")),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let names: Vec<&str> = r
        .set_cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["csrf", "session", "data"], "{:?}", r.set_cookies);
    // The signed `csrf` cookie is readable (and holds only its field)...
    let csrf = readable_json(&jar["csrf"]).expect("the signed cookie is readable");
    assert_eq!(
        csrf["f"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["csrf_token"]
    );
    // ... the encrypted `data` cookie is not, and does not show the flash text.
    assert!(readable_json(&jar["data"]).is_none(), "{}", jar["data"]);
    // The `session` cookie holds only an id; the login is in the store.
    let id = session_plus_core::SessionId::parse(&jar["session"])
        .expect("the session cookie holds only an id");
    let rec = demo
        .manager
        .store("session")
        .unwrap()
        .load(&session_plus_core::RecordKey::new("session", id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );

    // The next request sees the whole session, and where each field lives,
    // with values as text.
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert!(
        r.body.contains(r#"Logged in as <b id="user">Ann</b>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains("Welcome, Ann!"));
    assert!(
        r.body.contains(
            r#"<tr data-field="user_data"><td><code>user_data</code></td><td class="interface"><code>session</code></td>"#
        ),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(r#"<td class="value">name: Ann</td>"#),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(r#"<td class="value">ann</td>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"<tr data-field="csrf_token"><td><code>csrf_token</code></td><td class="interface"><code>csrf</code></td>"#));
    assert!(
        !r.body.contains(&jar["csrf"]),
        "the token itself is not shown"
    );
    let token = csrf_from(&r.body);
    for _ in 0..2 {
        let r = request(
            addr,
            "POST",
            "/count",
            &mut jar,
            Some(&format!("csrf_token={token}")),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let r = request(addr, "GET", "/", &mut jar, None).await;
    assert!(
        r.body
            .contains(r#"<span class="counter" id="counter">2</span>"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"<tr data-field="counter"><td><code>counter</code></td><td class="interface"><code>data</code></td><td><span class="badge k-encrypted">encrypted cookie</span></td><td class="value">2</td>"#), "{}", r.body);

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
}

#[tokio::test]
async fn error_pages_are_pages_with_a_way_back() {
    let settings = settings(&[("SESSION_CONFIG", {
        let path = std::env::temp_dir().join(format!("demo-memory-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[[interface]]\ncookie_name = \"session\"\nsession_type = \"memory\"\n",
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    })]);
    let (addr, _demo) = serve(&settings).await;
    let r = request(addr, "GET", "/no/such/page", &mut BTreeMap::new(), None).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("<h1>404 Not found</h1>"), "{}", r.body);
    assert!(r.body.contains(r#"<a id="back" href="/">"#));
    let r = request(addr, "GET", "/login", &mut BTreeMap::new(), None).await;
    assert_eq!(r.status, 405);
    assert!(r.body.contains(r#"<a id="back" href="/">"#), "{}", r.body);
    // One interface owning every field: the page says where it lives.
    let r = request(addr, "GET", "/", &mut BTreeMap::new(), None).await;
    assert!(r.body.contains("in this server process"), "{}", r.body);
}
