//! Faults on real memcached servers: a server of the pool killed and
//! restarted, a server that accepts connections but never answers, and
//! eviction under memory pressure. Driven through the core's
//! `SessionDriver`, as requests would be.

mod support;

use std::sync::Arc;
use std::time::Duration;

use session_plus_core::{Error, FieldRules, Interface, Key, SessionManager};
use session_plus_memcache::{MemcacheOptions, MemcacheStore, StableRendezvous};
use session_plus_testkit::MemcachedServer;
use support::Jar;

fn addrs(pool: &[MemcachedServer]) -> Vec<String> {
    pool.iter().map(MemcachedServer::addr).collect()
}

fn manager(store: MemcacheStore, timeout: Duration) -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(
                Interface::store("session", Arc::new(store))
                    .fields(FieldRules::include(["user_id", "cart"]))
                    .timeout(timeout),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .expect("valid config"),
    )
}

/// Index in `pool` of the server holding the session in `jar`.
fn server_of(jar: &Jar, servers: &[String]) -> usize {
    let id = jar.get("session").expect("a session cookie");
    StableRendezvous.pick(format!("session{id}").as_bytes(), servers)
}

/// One request that writes `field = value`; the response's error, if any.
async fn write(
    manager: &Arc<SessionManager>,
    jar: &mut Jar,
    field: &str,
    value: serde_json::Value,
) -> Option<Error> {
    let (driver, s) = jar.request(manager);
    let handler = s.insert(field, value).await.err();
    let outcome = jar.finish(driver).await;
    handler.or(outcome.error)
}

/// One request that reads `field`: what the handler saw, and the response's
/// error (the handler's own error comes first).
async fn read(
    manager: &Arc<SessionManager>,
    jar: &mut Jar,
    field: &str,
) -> Result<Option<serde_json::Value>, Error> {
    let (driver, s) = jar.request(manager);
    let got = s.get_value(field).await;
    let outcome = jar.finish(driver).await;
    match (got, outcome.error) {
        (Err(e), _) | (Ok(_), Some(e)) => Err(e),
        (Ok(v), None) => Ok(v),
    }
}

/// Start sessions (one `user_id` each) until every server of the pool holds
/// at least `per_server` of them.
async fn sessions_on_every_server(
    manager: &Arc<SessionManager>,
    servers: &[String],
    per_server: usize,
) -> Vec<(Jar, usize, u64)> {
    let mut sessions = Vec::new();
    for i in 0..1000u64 {
        let mut jar = Jar::default();
        assert!(write(manager, &mut jar, "user_id", i.into())
            .await
            .is_none());
        let at = server_of(&jar, servers);
        sessions.push((jar, at, i));
        let enough = (0..servers.len())
            .all(|s| sessions.iter().filter(|(_, at, _)| *at == s).count() >= per_server);
        if enough {
            return sessions;
        }
    }
    panic!("1000 sessions did not cover every server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_fails_only_its_sessions_and_comes_back_empty() {
    let mut pool = MemcachedServer::start_pool(3);
    let servers = addrs(&pool);
    let store = MemcacheStore::connect(&servers).await.unwrap();
    let manager = manager(store, Duration::from_secs(2));
    let mut sessions = sessions_on_every_server(&manager, &servers, 5).await;

    const DEAD: usize = 1;
    pool[DEAD].stop();

    let (mut failed, mut served) = (0, 0);
    for (jar, at, i) in &mut sessions {
        let got = read(&manager, jar, "user_id").await;
        let wrote = write(&manager, jar, "cart", serde_json::json!([*i])).await;
        if *at == DEAD {
            let e = got.expect_err("a session on the dead server must fail");
            assert_eq!(e.status_code(), 503, "{e}");
            let e = wrote.expect("a write to the dead server must fail");
            assert_eq!(e.status_code(), 503, "{e}");
            failed += 1;
        } else {
            assert_eq!(got.unwrap(), Some((*i).into()), "a live server's session");
            assert!(wrote.is_none(), "write on a live server failed: {wrote:?}");
            served += 1;
        }
    }
    assert!(
        failed >= 5 && served >= 10,
        "{failed} failed, {served} served"
    );

    // New sessions: those routed to the dead server fail, the others work.
    let (mut new_ok, mut new_failed) = (0, 0);
    for i in 0..30 {
        match write(&manager, &mut Jar::default(), "user_id", i.into()).await {
            None => new_ok += 1,
            Some(e) => {
                assert_eq!(e.status_code(), 503, "{e}");
                new_failed += 1;
            }
        }
    }
    assert!(
        new_ok > 0 && new_failed > 0,
        "{new_ok} ok, {new_failed} failed"
    );

    // Every write acknowledged on the live servers is there.
    for (jar, at, i) in &mut sessions {
        if *at != DEAD {
            assert_eq!(
                read(&manager, jar, "user_id").await.unwrap(),
                Some((*i).into())
            );
            assert_eq!(
                read(&manager, jar, "cart").await.unwrap(),
                Some(serde_json::json!([*i])),
                "an acknowledged write was lost"
            );
        }
    }

    // The server comes back empty: its sessions start fresh, without errors.
    pool[DEAD].restart();
    for (jar, at, i) in &mut sessions {
        if *at == DEAD {
            let old = jar.get("session").unwrap().to_owned();
            assert_eq!(read(&manager, jar, "user_id").await.unwrap(), None);
            assert!(write(&manager, jar, "user_id", (*i).into()).await.is_none());
            assert_ne!(jar.get("session"), Some(old.as_str()), "a fresh id");
            assert_eq!(
                read(&manager, jar, "user_id").await.unwrap(),
                Some((*i).into())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_then_recovers() {
    let pool = MemcachedServer::start_pool(3);
    let servers = addrs(&pool);
    // The client's own exchange timeout is longer than the interface's, so
    // the interface timeout is what the request meets.
    let store = MemcacheStore::connect_with(
        &servers,
        MemcacheOptions::default().io_timeout(Duration::from_secs(10)),
    )
    .await
    .unwrap();
    let manager = manager(store, Duration::from_millis(300));
    let mut sessions = sessions_on_every_server(&manager, &servers, 1).await;

    const FROZEN: usize = 0;
    pool[FROZEN].pause();
    for (jar, at, i) in &mut sessions {
        let got = tokio::time::timeout(Duration::from_secs(10), read(&manager, jar, "user_id"))
            .await
            .expect("the interface timeout must end the request");
        if *at == FROZEN {
            let e = got.expect_err("a frozen server's session must fail");
            assert!(e.is_timeout(), "{e:?}");
            assert_eq!(e.status_code(), 503);
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(jar.get("session").unwrap()),
                "id in error: {shown}"
            );
        } else {
            assert_eq!(got.unwrap(), Some((*i).into()));
        }
    }
    pool[FROZEN].resume();
    for (jar, at, i) in &mut sessions {
        if *at != FROZEN {
            continue;
        }
        // Bounded: the server answers again as soon as it runs.
        let mut last = None;
        for _ in 0..50 {
            match read(&manager, jar, "user_id").await {
                Ok(v) => {
                    last = Some(v);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert_eq!(last, Some(Some((*i).into())), "no recovery after SIGCONT");
    }
}

/// The client's exchange timeout below the interface's: the client gives up
/// first, throws the connection away, and the request is a 503 all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_timeout_also_fails_fast_and_recovers() {
    let pool = MemcachedServer::start_pool(1);
    let servers = addrs(&pool);
    let store = MemcacheStore::connect_with(
        &servers,
        MemcacheOptions::default().io_timeout(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let manager = manager(store, Duration::from_secs(5));
    let mut jar = Jar::default();
    assert!(write(&manager, &mut jar, "user_id", 9.into())
        .await
        .is_none());
    pool[0].pause();
    let e = read(&manager, &mut jar, "user_id").await.unwrap_err();
    assert!(e.is_backend(), "{e:?}");
    assert_eq!(e.status_code(), 503);
    assert!(!format!("{e} {e:?}").contains(jar.get("session").unwrap()));
    pool[0].resume();
    let mut recovered = false;
    for _ in 0..50 {
        if read(&manager, &mut jar, "user_id").await.ok() == Some(Some(9.into())) {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "no recovery after SIGCONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_reads_as_fresh_sessions_never_errors() {
    let server = MemcachedServer::start_with_memory(2);
    let servers = vec![server.addr()];
    let store = MemcacheStore::connect(&servers).await.unwrap();
    let manager = manager(store, Duration::from_secs(2));
    let filler = "x".repeat(8 * 1024);
    let mut jars = Vec::new();
    for i in 0..1000u64 {
        let mut jar = Jar::default();
        assert!(write(&manager, &mut jar, "user_id", i.into())
            .await
            .is_none());
        assert!(write(&manager, &mut jar, "cart", filler.clone().into())
            .await
            .is_none());
        jars.push((jar, i));
    }
    let evictions = server.stat("evictions").unwrap();
    assert!(
        evictions > 0,
        "memcached evicted nothing: the test proves nothing"
    );

    let (mut kept, mut fresh) = (0, 0);
    for (jar, i) in &mut jars {
        match read(&manager, jar, "user_id").await {
            Ok(Some(v)) => {
                assert_eq!(v, serde_json::json!(*i));
                kept += 1;
            }
            Ok(None) => {
                fresh += 1;
                // Writing to an evicted session starts a new one, no error.
                assert!(write(&manager, jar, "user_id", (*i).into()).await.is_none());
                assert_eq!(
                    read(&manager, jar, "user_id").await.unwrap(),
                    Some((*i).into())
                );
            }
            Err(e) => panic!("an evicted session must read as fresh, not fail: {e}"),
        }
    }
    eprintln!("eviction: {evictions} evictions, {kept} sessions kept, {fresh} fresh");
    assert!(fresh > 0 && kept > 0, "{kept} kept, {fresh} fresh");
}
