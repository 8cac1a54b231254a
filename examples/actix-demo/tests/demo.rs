//! The actix-web demo over real TCP on 127.0.0.1, driven by a real HTTP
//! client (reqwest): login sets three cookies each holding only its fields,
//! the next request sees the whole session, CSRF is enforced, logout removes
//! every cookie and the SQLite record.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use session_plus_actix::store::SessionStore;
use session_plus_core::{RecordKey, SessionId};
use session_plus_sqlite::SqliteStore;

/// The demo served on a free loopback port by its own actix system thread;
/// stopped (and joined) on drop.
struct Demo {
    base: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Demo {
    fn start(store: Arc<dyn SessionStore>) -> Self {
        let manager = Arc::new(
            session_plus_actix_demo::manager(store, session_plus_actix::Key::generate())
                .expect("seed configuration"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = session_plus_actix_demo::server(manager, listener)?;
                tx.send(server.handle()).expect("test waiting");
                server.await
            })
        });
        let handle = rx.recv().expect("server started");
        Self {
            base,
            handle,
            thread: Some(thread),
        }
    }
}

impl Demo {
    /// Stop the server, wait for it to finish, and join its thread.
    async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server ran");
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // On a failed test: the stop command is sent now (the future only
        // waits for it); the thread ends on its own.
        drop(self.handle.stop(false));
    }
}

struct Client {
    http: reqwest::Client,
    jar: BTreeMap<String, String>,
}

struct Reply {
    status: StatusCode,
    set_cookies: Vec<String>,
    body: String,
}

impl Client {
    async fn send(
        &mut self,
        demo: &Demo,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{path}", demo.base);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    form.iter()
                        .map(|(k, v)| format!("{k}={}", urlencode(v)))
                        .collect::<Vec<_>>()
                        .join("&"),
                ),
        };
        if !self.jar.is_empty() {
            let header: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header(COOKIE, header.join("; "));
        }
        let res = req.send().await.expect("request over TCP");
        let status = res.status();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Reply {
            status,
            set_cookies,
            body: res.text().await.expect("body"),
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn csrf_from(html: &str) -> String {
    let pattern = "name=csrf_token value=\"";
    let at = html.find(pattern).expect("token in the form") + pattern.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// The field names in a signed cookie (read without verifying).
fn signed_fields(value: &str) -> Vec<String> {
    let json = session_plus_core::cookie_format::signed_payload_json(value).expect("readable");
    json["f"]
        .as_object()
        .expect("fields")
        .keys()
        .cloned()
        .collect()
}

fn names(set_cookies: &[String]) -> Vec<&str> {
    let mut n: Vec<&str> = set_cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    n.sort_unstable();
    n
}

#[tokio::test]
async fn login_sets_three_cookies_each_with_only_its_fields_and_logout_removes_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("sessions.db")).expect("sqlite"));
    let demo = Demo::start(store.clone());
    let mut client = Client {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        jar: BTreeMap::new(),
    };

    // The login form: a CSRF token, kept in the `csrf` cookie only.
    let r = client.send(&demo, "GET", "/", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(names(&r.set_cookies), ["csrf"]);
    let token = csrf_from(&r.body);

    // CSRF is enforced.
    let r = client
        .send(
            &demo,
            "POST",
            "/login",
            &[("csrf_token", "forged"), ("name", "ann")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.set_cookies.is_empty());

    // Login: three cookies, each holding only its fields.
    let r = client
        .send(
            &demo,
            "POST",
            "/login",
            &[("csrf_token", &token), ("name", "ann")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        names(&r.set_cookies),
        ["csrf", "data", "session"],
        "{:?}",
        r.set_cookies
    );
    assert_eq!(signed_fields(&client.jar["csrf"]), ["csrf_token"]);
    assert_eq!(signed_fields(&client.jar["data"]), ["counter"]);
    let id = client.jar["session"].clone();
    assert_eq!(id.len(), 43, "the `session` cookie holds only an id");
    let key = RecordKey::new("session", SessionId::parse(&id).expect("an id"));
    let record = store
        .load(&key)
        .await
        .unwrap()
        .expect("the login is in SQLite");
    assert_eq!(
        record.fields.keys().collect::<Vec<_>>(),
        ["user_data", "user_id"]
    );
    assert_eq!(record.fields["user_data"]["name"], "ann");

    // The next request sees the whole session; counting writes `data` only.
    let r = client.send(&demo, "GET", "/", &[]).await;
    assert!(r.body.contains("Logged in as <b>ann</b>"), "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    let token = csrf_from(&r.body);
    let r = client
        .send(&demo, "POST", "/count", &[("csrf_token", &token)])
        .await;
    assert_eq!(names(&r.set_cookies), ["data"]);
    let r = client.send(&demo, "GET", "/", &[]).await;
    assert!(r.body.contains("Counter: <b>1</b>"), "{}", r.body);

    // Logout: every cookie removed, the record deleted.
    let r = client
        .send(&demo, "POST", "/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(names(&r.set_cookies), ["csrf", "data", "session"]);
    assert!(
        r.set_cookies.iter().all(|c| c.contains("Max-Age=0")),
        "{:?}",
        r.set_cookies
    );
    assert!(client.jar.is_empty());
    assert!(store.load(&key).await.unwrap().is_none(), "record deleted");
    // Replaying the old id gives no user.
    client.jar.insert("session".into(), id);
    let r = client.send(&demo, "GET", "/", &[]).await;
    assert!(!r.body.contains("Logged in"), "{}", r.body);
    demo.stop().await;
}
