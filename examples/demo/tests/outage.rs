//! When the server-side store is down, the demo answers with its 503 page (a
//! way back included), and works again once the store is back.

use session_plus_demo::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET `path` with `cookie`; (status, body).
async fn get(addr: std::net::SocketAddr, path: &str, cookie: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_a_503_page_with_a_way_back_then_recovers() {
    let mut server = session_plus_testkit::RedisServer::start();
    let url = server.url();
    let settings =
        Settings::from_vars(|name| (name == "SESSION_REDIS_URL").then(|| url.clone())).unwrap();
    let demo = session_plus_demo::build(&settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = session_plus_demo::app(demo);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A browser holding a session cookie (any well-formed id: the page
    // must load the `session` interface to show the table).
    let cookie = "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (status, body) = get(addr, "/", cookie).await;
    assert_eq!(status, 200, "{body}");

    server.stop();
    let (status, body) = get(addr, "/", cookie).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("<h1>503 Service unavailable</h1>"), "{body}");
    assert!(
        body.contains("The session store could not be reached"),
        "{body}"
    );
    assert!(body.contains(r#"<a id="back" href="/">"#), "{body}");

    server.restart();
    let (status, body) = get(addr, "/", cookie).await;
    assert_eq!(status, 200, "the first request after Redis is back: {body}");
}
