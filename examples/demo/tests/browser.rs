//! The demo in a real browser: headless Chromium, driven through
//! chromedriver (WebDriver) as a person would use it — log in through the
//! form, count, read the tables, a forged and a missing CSRF token refused,
//! log out. Screenshots of the page before and after login (and of any
//! failure) go to `target/demo-screenshots/`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`
//! (`./scripts/test` installs them when run as root); without them this
//! test fails and says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// A process this test started, stopped by its PID when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(names: &[&str], extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().map(PathBuf::from))
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn browser() -> (PathBuf, PathBuf) {
    let install = "install them with: apt-get install -y chromium chromium-driver \
                   (./scripts/test does this when run as root)";
    let chromium = find_program(&["chromium", "chromium-browser"], &["/usr/lib/chromium"])
        .unwrap_or_else(|| panic!("Chromium not found; {install}"));
    let driver = find_program(&["chromedriver"], &["/usr/lib/chromium"])
        .unwrap_or_else(|| panic!("chromedriver not found; {install}"));
    (chromium, driver)
}

/// `target/`, found from the demo binary's path (`target/debug/demo`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_demo"))
        .ancestors()
        .nth(2)
        .expect("target dir")
        .to_owned()
}

/// Poll `ready` every 50 ms for up to `limit` (no event to wait on: the
/// processes say nothing when they are ready).
fn poll<T>(limit: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_demo(dir: &Path) -> (Started, String, PathBuf) {
    let log = dir.join("demo.log");
    let db = dir.join("demo.db");
    let child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env_remove("SESSION_CONFIG")
        .env_remove("SESSION_REDIS_URL")
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("SESSION_DB", &db)
        .env("RUST_LOG", "info,session_plus=debug")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("demo.err")).unwrap())
        .spawn()
        .expect("start the demo");
    let demo = Started(child);
    let url = poll(Duration::from_secs(30), "the demo's banner", || {
        let text = std::fs::read_to_string(&log).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with("session-plus demo on "))?;
        Some(line.trim_start_matches("session-plus demo on ").to_owned())
    });
    (demo, url, db)
}

fn start_driver(driver: &Path, dir: &Path) -> (Started, String) {
    let port = session_plus_testkit::free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg(format!(
            "--log-path={}",
            dir.join("chromedriver.log").display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let started = Started(child);
    poll(Duration::from_secs(30), "chromedriver to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (started, format!("http://127.0.0.1:{port}"))
}

async fn connect(chromium: &Path, driver_url: &str, profile: &Path) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1100,1300",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"))
}

type Step = Result<(), String>;

fn check(ok: bool, what: impl FnOnce() -> String) -> Step {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

async fn text(c: &Client, css: &str) -> Result<String, String> {
    let el = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("`{css}` not on the page: {e}"))?;
    el.text().await.map_err(|e| format!("text of `{css}`: {e}"))
}

/// Click something that submits a form or follows a link, and wait until
/// the next page has loaded (the old document carries a marker the new one
/// lacks).
async fn click(c: &Client, css: &str) -> Step {
    c.execute("window.__before_click = true;", vec![])
        .await
        .map_err(|e| format!("mark the page: {e}"))?;
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("`{css}` not on the page: {e}"))?
        .click()
        .await
        .map_err(|e| format!("click `{css}`: {e}"))?;
    let start = Instant::now();
    loop {
        let loaded = c
            .execute(
                "return window.__before_click === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await
            .map_err(|e| format!("after clicking `{css}`: {e}"))?;
        if loaded == serde_json::Value::Bool(true) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("no new page after clicking `{css}`"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn screenshot(c: &Client, dir: &Path, name: &str) -> Step {
    let png = c
        .screenshot()
        .await
        .map_err(|e| format!("screenshot: {e}"))?;
    std::fs::write(dir.join(name), png).map_err(|e| format!("save {name}: {e}"))
}

/// The fields table as (field, interface, kind, value) rows.
async fn field_rows(c: &Client) -> Result<Vec<[String; 4]>, String> {
    let rows = c
        .find_all(Locator::Css("#fields tr[data-field]"))
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let cells = row
            .find_all(Locator::Css("td"))
            .await
            .map_err(|e| e.to_string())?;
        let mut texts = Vec::new();
        for cell in cells {
            texts.push(cell.text().await.map_err(|e| e.to_string())?);
        }
        let [f, i, k, v]: [String; 4] = texts
            .try_into()
            .map_err(|t| format!("a fields row without 4 cells: {t:?}"))?;
        out.push([f, i, k, v]);
    }
    Ok(out)
}

async fn cookie_names(c: &Client) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = c
        .get_all_cookies()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Drive the demo; returns the cookie values the browser held while logged
/// in (the log must show none of them).
async fn as_a_person(
    c: &Client,
    url: &str,
    db: &Path,
    shots: &Path,
) -> Result<Vec<String>, String> {
    c.goto(url).await.map_err(|e| format!("open {url}: {e}"))?;

    // Before login: where each interface lives.
    let session_where = text(c, r#"#interfaces tr[data-interface="session"] td.where"#).await?;
    let db = db.canonicalize().map_err(|e| e.to_string())?;
    check(session_where == format!("file {}", db.display()), || {
        format!("the session interface's place: {session_where}")
    })?;
    let data_kind = text(c, r#"#interfaces tr[data-interface="data"] .badge"#).await?;
    check(data_kind == "encrypted cookie", || {
        format!("data kind: {data_kind}")
    })?;
    let csrf_kind = text(c, r#"#interfaces tr[data-interface="csrf"] .badge"#).await?;
    check(csrf_kind == "signed cookie", || {
        format!("csrf kind: {csrf_kind}")
    })?;
    screenshot(c, shots, "before-login.png").await?;

    // Log in through the form.
    c.find(Locator::Css("#name"))
        .await
        .map_err(|e| e.to_string())?
        .send_keys("Ann")
        .await
        .map_err(|e| e.to_string())?;
    click(c, "#login").await?;
    let user = text(c, "#user").await?;
    check(user == "Ann", || format!("logged in as {user:?}"))?;
    let flash = text(c, "#flash").await?;
    check(flash == "Welcome, Ann!", || format!("flash: {flash:?}"))?;
    // Count twice.
    for expected in ["1", "2"] {
        click(c, "#count").await?;
        let n = text(c, "#counter").await?;
        check(n == expected, || {
            format!("counter {n}, expected {expected}")
        })?;
    }

    // One cookie per interface now that each holds a field (the flash
    // shown once left `data` empty until the counter).
    let cookies = cookie_names(c).await?;
    check(cookies == ["csrf", "data", "session"], || {
        format!("cookies after login: {cookies:?}")
    })?;

    // Read the table: every field, its interface, its kind, its value.
    let rows = field_rows(c).await?;
    let row = |field: &str| rows.iter().find(|r| r[0] == field).cloned();
    let expect = [
        ("user_id", "session", "SQLite", "ann"),
        ("user_data", "session", "SQLite", "name: Ann"),
        ("counter", "data", "encrypted cookie", "2"),
    ];
    for (field, interface, kind, value) in expect {
        let got = row(field).ok_or_else(|| format!("no row for {field}: {rows:?}"))?;
        check(
            got[1] == interface && got[2] == kind && got[3] == value,
            || format!("{field}: {got:?}"),
        )?;
    }
    let csrf = row("csrf_token").ok_or("no csrf_token row")?;
    check(csrf[1] == "csrf" && csrf[3].starts_with("secret"), || {
        format!("csrf_token row: {csrf:?}")
    })?;
    screenshot(c, shots, "after-login.png").await?;
    let secrets: Vec<String> = c
        .get_all_cookies()
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|c| c.value().to_owned())
        .collect();

    // A forged CSRF token is refused with the 403 page, which leads back.
    c.execute(
        r#"document.querySelector('form[action="/count"] input[name=csrf_token]').value = 'forged';"#,
        vec![],
    )
    .await
    .map_err(|e| e.to_string())?;
    click(c, "#count").await?;
    let title = text(c, "h1").await?;
    check(title == "403 Forbidden", || {
        format!("forged token: {title}")
    })?;
    let why = text(c, "#error").await?;
    check(why.contains("CSRF token is missing or wrong"), || {
        why.clone()
    })?;
    screenshot(c, shots, "forged-csrf.png").await?;
    click(c, "#back").await?;
    let n = text(c, "#counter").await?;
    check(n == "2", || format!("the forged request counted: {n}"))?;

    // So is a form without its CSRF field (not axum's 422 text).
    c.execute(
        r#"document.querySelector('form[action="/count"] input[name=csrf_token]').remove();"#,
        vec![],
    )
    .await
    .map_err(|e| e.to_string())?;
    click(c, "#count").await?;
    let title = text(c, "h1").await?;
    check(title == "403 Forbidden", || {
        format!("missing token: {title}")
    })?;
    click(c, "#back").await?;

    // Log out: the login and the data are gone.
    click(c, "#logout").await?;
    text(c, "#login").await?;
    let n = text(c, "#counter").await?;
    check(n == "0", || format!("counter after logout: {n}"))?;
    let rows = field_rows(c).await?;
    check(rows.iter().all(|r| r[0] == "csrf_token"), || {
        format!("fields after logout: {rows:?}")
    })?;
    let cookies = cookie_names(c).await?;
    check(cookies == ["csrf"], || {
        format!("cookies after logout: {cookies:?}")
    })?;
    screenshot(c, shots, "after-logout.png").await?;
    Ok(secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_counts_reads_the_table_and_logs_out_in_chromium() {
    let (chromium, driver) = browser();
    let shots = target_dir().join("demo-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let _ = std::fs::remove_file(shots.join("failure.png"));
    let dir = tempfile::tempdir().unwrap();
    let (_demo, url, db) = start_demo(dir.path());
    let (_driver, driver_url) = start_driver(&driver, dir.path());
    let client = connect(&chromium, &driver_url, &dir.path().join("profile")).await;

    let result = as_a_person(&client, &url, &db, &shots).await;
    if result.is_err() {
        let _ = screenshot(&client, &shots, "failure.png").await;
    }
    let _ = client.close().await;
    let log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap_or_default();
    let secrets = match result {
        Ok(secrets) => secrets,
        Err(e) => panic!(
            "{e}\nscreenshot: {}\ndemo log:\n{log}",
            shots.join("failure.png").display()
        ),
    };
    // The log has a line per request and per backend call, and no cookie
    // value (no session id, no token).
    assert!(
        log.contains("request") && log.contains("path=/login"),
        "{log}"
    );
    assert!(
        log.contains("session backend call") && log.contains("op=\"create\""),
        "no debug line per backend call: {log}"
    );
    for secret in secrets {
        assert!(
            !log.contains(&secret),
            "a cookie value is in the log: {log}"
        );
    }
}
