//! The demo binary's start-up, as a person runs it: a bad configuration exits
//! non-zero with a message naming the variable, the interface, the setting
//! and the cause; a good `SESSION_CONFIG` starts and says where each
//! interface lives.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn demo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    for var in [
        "SESSION_CONFIG",
        "SESSION_DB",
        "SESSION_REDIS_URL",
        "SESSION_SECRET",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("DEMO_ADDR", "127.0.0.1:0");
    cmd
}

/// Run the demo expecting it to refuse to start; its stderr.
fn refused(cmd: &mut Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.stdin(Stdio::null()).output().expect("run the demo");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(
        !status.success(),
        "the demo started: {status}\n{}\n{stderr}",
        String::from_utf8_lossy(&stdout)
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("demo: cannot start: "), "{stderr}");
    stderr
}

#[test]
fn a_misspelled_key_in_session_config_names_the_key_and_its_interface() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.toml");
    std::fs::write(
        &path,
        r#"
[[interface]]
cookie_name = "csrf"
session_fields = ["csrf_token"]

[[interface]]
cookie_name = "data"
session_fields = "auto"
encrytp = true
"#,
    )
    .unwrap();
    let stderr = refused(demo().env("SESSION_CONFIG", &path));
    assert!(
        stderr.contains(&format!("SESSION_CONFIG={}", path.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "session interface `data`: setting `encrytp`: unknown setting for session_type \
             `secure_cookie` (did you mean `encrypt`?)"
        ),
        "{stderr}"
    );
}

#[test]
fn a_missing_session_db_directory_names_the_path_and_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no-such-dir").join("demo.db");
    let stderr = refused(demo().env("SESSION_DB", &db));
    assert!(stderr.contains("session interface `session`"), "{stderr}");
    assert!(stderr.contains(&format!("`{}`", db.display())), "{stderr}");
    assert!(
        stderr.contains("No such file or directory (os error 2)"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_session_db_names_the_path_and_the_os_error() {
    // A directory where the file should be: refused even when run as root.
    let dir = tempfile::tempdir().unwrap();
    let stderr = refused(demo().env("SESSION_DB", dir.path()));
    assert!(stderr.contains("session interface `session`"), "{stderr}");
    assert!(
        stderr.contains(&format!("`{}`", dir.path().display())),
        "{stderr}"
    );
    assert!(stderr.contains("(os error 21)"), "{stderr}");
}

#[test]
fn a_config_without_the_demos_fields_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.json");
    std::fs::write(
        &path,
        r#"[{"cookie_name": "csrf", "session_fields": ["csrf_token"]}]"#,
    )
    .unwrap();
    let stderr = refused(demo().env("SESSION_CONFIG", &path));
    assert!(
        stderr.contains("no interface owns the field `user_id`"),
        "{stderr}"
    );
}

#[test]
fn a_good_session_config_starts_and_says_where_each_interface_lives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.toml");
    let db = dir.path().join("s.db");
    std::fs::write(
        &path,
        format!(
            r#"
[[interface]]
cookie_name = "session"
session_type = "sqlite"
url = "sqlite://{}"
session_fields = ["user_id", "user_data"]

[[interface]]
cookie_name = "rest"
session_fields = "auto"
"#,
            db.display()
        ),
    )
    .unwrap();
    let mut child = demo()
        .env("SESSION_CONFIG", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut banner = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let last = line.starts_with("  interface `rest`");
        banner.push(line);
        if last {
            break;
        }
    }
    // Stop the process this test started, by its PID.
    child.kill().unwrap();
    child.wait().unwrap();
    let banner = banner.join("\n");
    assert!(
        banner.starts_with("session-plus demo on http://127.0.0.1:"),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "configuration: {} (SESSION_CONFIG)",
            path.display()
        )),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "interface `session`: SQLite, file {}",
            db.canonicalize().unwrap().display()
        )),
        "{banner}"
    );
    assert!(
        banner.contains("interface `rest`: signed cookie"),
        "{banner}"
    );
}
