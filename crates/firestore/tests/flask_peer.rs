//! flask-session-plus 0.6.2's `firestore` backend (real package, Google's
//! `google-cloud-firestore` client, in a virtual environment this test
//! creates) and `FirestoreStore::flask_session_plus` on the same emulator,
//! both directions.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use session_plus_core::{FieldRules, Interface, Key, SessionDriver, SessionManager};
use session_plus_firestore::FirestoreStore;

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer")
}

/// Where the venv lives: `SESSION_PLUS_PEER_VENVS`, else the target tmp dir.
fn ensure_venv() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let root = std::env::var_os("SESSION_PLUS_PEER_VENVS")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flask-peers"));
            let out = Command::new("sh")
                .arg(peer_dir().join("setup_venv.sh"))
                .arg(&root)
                .output()
                .map_err(|e| format!("cannot run sh tests/peer/setup_venv.sh: {e}"))?;
            if out.status.success() {
                Ok(root.join("fsp-firestore"))
            } else {
                Err(format!(
                    "creating the Python peer failed ({}):\n{}\n\
                     The Firestore interop tests need python3 with venv and pip, and access to PyPI.\n\
                     Debian/Ubuntu: apt-get install python3 python3-venv python3-pip",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One flask-session-plus app with a `firestore` interface named `session`.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start(project: &str, collection: &str) -> Self {
        let venv = ensure_venv();
        let mut child = Command::new(venv.join("bin/python"))
            .arg("-W")
            .arg("ignore")
            .arg(peer_dir().join("fsp_firestore_peer.py"))
            .env("FIRESTORE_EMULATOR_HOST", common::host())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the flask-session-plus peer: {e}"));
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut peer = Self {
            child,
            stdin,
            stdout,
        };
        let fields: Vec<String> = values().as_object().unwrap().keys().cloned().collect();
        peer.call(json!({"op": "config", "secret_key": "secret-key-1",
            "project": project, "collection": collection, "fields": fields}));
        peer
    }

    fn call(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("write to peer");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from peer");
        assert!(!line.is_empty(), "the peer exited (see its stderr above)");
        let v: Value = serde_json::from_str(&line).expect("peer answers JSON");
        if let Some(e) = v.get("error") {
            panic!("peer error: {e}\n{}", v["trace"].as_str().unwrap_or(""));
        }
        v
    }

    /// One request; `set` is a session dict in TaggedJSON form.
    fn request(
        &mut self,
        sid: Option<&str>,
        set: Option<&Value>,
        permanent: Option<bool>,
    ) -> Value {
        let cookies = sid.map_or(json!({}), |s| json!({ "session": s }));
        self.call(json!({"op": "request", "cookies": cookies,
            "set": set.map(Value::to_string), "permanent": permanent}))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Values of every kind Python keeps natively in Firestore, TaggedJSON form.
fn values() -> Value {
    json!({
        "user_id": 42,
        "name": "ann ünï 🙂",
        "ratio": 0.5,
        "big": i64::MAX,
        "tags": ["a", 1, null, {"k": [true]}],
        "prefs": {"theme": "dark", "n": -3, "nested": {"x": 1.25}},
        "raw": {" b": "AAH/"},
        "when": {" d": "Tue, 02 Jan 2024 03:04:05 GMT"},
        "flag": true,
        "nothing": null,
    })
}

fn manager(project: &str, collection: &str) -> Arc<SessionManager> {
    let store = FirestoreStore::flask_session_plus(common::client(project), collection).unwrap();
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::store("session", Arc::new(store)).fields(FieldRules::All))
            .build()
            .unwrap(),
    )
}

fn session_of(reply: &Value) -> Value {
    serde_json::from_str(reply["session"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_writes_rust_changes_one_field_python_reads_it_back() {
    let (project, collection) = (common::unique("fsp"), "sessions");
    let mut py = tokio::task::block_in_place(|| Peer::start(&project, collection));
    let wrote = tokio::task::block_in_place(|| py.request(None, Some(&values()), Some(true)));
    let sid = wrote["cookies"]["session"]
        .as_str()
        .expect("sid cookie")
        .to_owned();
    let before = tokio::task::block_in_place(|| py.request(Some(&sid), None, None));
    assert_eq!(session_of(&before), values(), "Python reads its own write");

    // The document is Python's: native values, `_expiration`, `_permanent`.
    let doc = common::raw_doc(&project, collection, &format!("session{sid}"))
        .await
        .expect("document key_prefix + sid");
    let f = &doc["fields"];
    assert_eq!(f["user_id"]["integerValue"], "42");
    assert_eq!(f["raw"]["bytesValue"], "AAH/");
    assert!(f["when"]["timestampValue"].is_string());
    assert!(f["_expiration"]["timestampValue"].is_string());
    assert_eq!(f["_permanent"]["booleanValue"], true);

    // Rust reads every value and changes one field.
    let m = manager(&project, collection);
    let cookie = format!("session={sid}");
    let d = SessionDriver::new(m, [cookie.as_bytes()]);
    let s = d.session();
    for (k, v) in values().as_object().unwrap() {
        assert_eq!(s.get_value(k).await.unwrap().as_ref(), Some(v), "field {k}");
    }
    assert!(s.is_permanent("session").await.unwrap());
    s.insert("name", "bob").await.unwrap();
    let out = d.finish().await;
    assert!(out.error.is_none(), "{:?}", out.error);

    // Python reads the same values and types, the one change included.
    let after = tokio::task::block_in_place(|| py.request(Some(&sid), None, None));
    let mut expected = values();
    expected["name"] = json!("bob");
    assert_eq!(session_of(&after), expected);
    assert_eq!(after["types"], before["types"], "Python types survive");
    assert_eq!(after["permanent"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_writes_python_changes_one_field_rust_reads_it_back() {
    let (project, collection) = (common::unique("fsp"), "sessions");
    let m = manager(&project, collection);
    let d = SessionDriver::new(m.clone(), std::iter::empty::<&[u8]>());
    let s = d.session();
    for (k, v) in values().as_object().unwrap() {
        s.insert(k, v.clone()).await.unwrap();
    }
    let out = d.finish().await;
    assert!(out.error.is_none(), "{:?}", out.error);
    let cookie = out.cookie_header();
    let sid = cookie
        .strip_prefix("session=")
        .expect("one id cookie")
        .to_owned();

    let mut py = tokio::task::block_in_place(|| Peer::start(&project, collection));
    let read = tokio::task::block_in_place(|| py.request(Some(&sid), None, None));
    assert_eq!(session_of(&read), values(), "Python reads what Rust wrote");
    let types = &read["types"];
    for (field, ty) in [
        ("user_id", "int"),
        ("big", "int"),
        ("ratio", "float"),
        ("name", "str"),
        ("tags", "list"),
        ("prefs", "dict"),
        ("raw", "bytes"),
        ("when", "DatetimeWithNanoseconds"),
        ("flag", "bool"),
        ("nothing", "NoneType"),
    ] {
        assert_eq!(types[field], ty, "Python type of {field}");
    }
    assert_eq!(read["permanent"], false);

    // Python changes one field (a whole-document write) and makes it permanent.
    let change = json!({"name": "carol"});
    tokio::task::block_in_place(|| py.request(Some(&sid), Some(&change), Some(true)));

    let d = SessionDriver::new(m, [cookie.as_bytes()]);
    let s = d.session();
    let mut expected = values();
    expected["name"] = json!("carol");
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(s.get_value(k).await.unwrap().as_ref(), Some(v), "field {k}");
    }
    assert_eq!(
        s.keys().await.unwrap().len(),
        expected.as_object().unwrap().len()
    );
    assert!(s.is_permanent("session").await.unwrap());
    d.finish().await;
}
