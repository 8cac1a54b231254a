//! flask-session-plus Redis records (with the signed sid cookie) against the
//! real package (0.6.2 on Flask 2.0.3, Redis write bug patched in the peer:
//! see `tests/peer/fsp_peer.py`) and a real `redis-server`.

mod common;

use std::sync::Arc;

use common::{rust_request, tagged, Peer};
use serde_json::json;
use session_plus_core::cookie_format::IdCookieSigner;
use session_plus_core::store::{Changes, MetaUpdate, SessionStore};
use session_plus_core::{unix_now, FieldRules, Interface, RecordKey, SessionId, SessionManager};
use session_plus_flask::{Bytes, FlaskIdSigner, FlaskRedisStore, FlaskSecrets, Tuple};
use session_plus_testkit::{RedisServer, Reply};

const KEY: &str = "secret-key-1";
const FIELDS: [&str; 4] = ["user_id", "pair", "raw", "theme"];
const DAY: i64 = 86_400;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn python_config(redis: &RedisServer) -> serde_json::Value {
    json!([{
        "cookie_name": "session", "session_type": "redis", "redis_url": redis.url(),
        "use_signer": true, "session_fields": FIELDS,
    }])
}

fn secrets(key: &str, fallbacks: &[&str]) -> FlaskSecrets {
    FlaskSecrets::new(key)
        .unwrap()
        .with_fallbacks(fallbacks)
        .unwrap()
}

async fn manager(redis: &RedisServer, key: &str, fallbacks: &[&str]) -> Arc<SessionManager> {
    let store = FlaskRedisStore::connect(&redis.url()).await.unwrap();
    Arc::new(
        SessionManager::builder()
            .interface(
                Interface::store("session", Arc::new(store))
                    .fields(FieldRules::include(FIELDS))
                    .id_signer(Arc::new(FlaskIdSigner::new(&secrets(key, fallbacks)))),
            )
            .build()
            .unwrap(),
    )
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Integer(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn sid_of(cookie: &str) -> &str {
    cookie.rsplit_once('.').unwrap().0
}

#[test]
fn python_writes_rust_reads_values_types_and_permanence() {
    let redis = RedisServer::start();
    let mut py = Peer::fsp(KEY, python_config(&redis));
    let out = py.call(json!({
        "op": "request",
        "set": r#"{"user_id":42,"pair":{" t":[1,"a"]},"raw":{" b":"aGk="}}"#,
        "permanent": {"session": true},
    }));
    let cookie = out["cookies"]["session"].as_str().unwrap().to_owned();
    let key = format!("session{}", sid_of(&cookie));
    assert_eq!(sid_of(&cookie).len(), 36, "Python's sid is uuid4 text");
    assert_eq!(
        redis.command(&["GET", &key]).unwrap().text().as_deref(),
        Some(r#"{"_permanent":true,"pair":{" t":[1,"a"]},"raw":{" b":"aGk="},"user_id":42}"#)
    );
    let ttl = int(redis.command(&["TTL", &key]).unwrap());
    assert!((31 * DAY - 5..=31 * DAY).contains(&ttl), "{ttl}");

    rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        let set = rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(42));
            assert_eq!(
                s.get::<Tuple<(u8, String)>>("pair").await.unwrap(),
                Some(Tuple((1, "a".into())))
            );
            assert_eq!(
                s.get::<Bytes>("raw").await.unwrap(),
                Some(Bytes(b"hi".to_vec()))
            );
            assert!(s.is_permanent("session").await.unwrap());
        })
        .await;
        assert!(set.is_empty(), "a read writes nothing");
    });
}

#[test]
fn rust_writes_python_reads_and_untouched_tags_survive_both_ways() {
    let redis = RedisServer::start();
    let cookies = rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        rust_request(&m, &[], |s| async move {
            s.insert("user_id", 7).await.unwrap();
            s.insert("pair", Tuple((1, "a"))).await.unwrap();
            s.set_permanent("session", true).await.unwrap();
        })
        .await
    });
    let cookie = cookies["session"].clone();
    let key = format!("session{}", sid_of(&cookie));
    assert_eq!(
        redis.command(&["GET", &key]).unwrap().text().as_deref(),
        Some(r#"{"_permanent":true,"pair":{" t":[1,"a"]},"user_id":7}"#)
    );
    let ttl = int(redis.command(&["TTL", &key]).unwrap());
    assert!((31 * DAY - 5..=31 * DAY).contains(&ttl), "{ttl}");

    let mut py = Peer::fsp(KEY, python_config(&redis));
    let out = py.call(json!({"op": "request", "cookies": {"session": cookie}}));
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"user_id": 7, "pair": {" t": [1, "a"]}})
    );
    assert_eq!(out["types"]["pair"], "tuple");
    assert_eq!(out["permanent"]["session"], true);
    assert_eq!(
        out["cookies"]["session"], cookie,
        "Python re-sends the same signed sid"
    );

    // Python changes one field; Rust changes another; the tuple stays a tuple.
    py.call(json!({"op": "request", "cookies": {"session": cookie}, "set": r#"{"raw":{" b":"aGk="}}"#, "permanent": {"session": true}}));
    rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(
                s.get::<Bytes>("raw").await.unwrap(),
                Some(Bytes(b"hi".to_vec()))
            );
            s.insert("theme", "dark").await.unwrap();
        })
        .await;
    });
    let out = py.call(json!({"op": "request", "cookies": {"session": cookie}}));
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"user_id": 7, "pair": {" t": [1, "a"]}, "raw": {" b": "aGk="}, "theme": "dark"})
    );
    assert_eq!(
        (out["types"]["pair"].as_str(), out["types"]["raw"].as_str()),
        (Some("tuple"), Some("bytes"))
    );
    assert_eq!(out["permanent"]["session"], true);
}

#[test]
fn non_permanent_lifetime_is_one_day_on_both_sides() {
    let redis = RedisServer::start();
    let mut py = Peer::fsp(KEY, python_config(&redis));
    let out = py.call(json!({"op": "request", "set": r#"{"user_id":1}"#}));
    let py_key = format!(
        "session{}",
        sid_of(out["cookies"]["session"].as_str().unwrap())
    );
    let cookies = rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        rust_request(
            &m,
            &[],
            |s| async move { s.insert("user_id", 2).await.unwrap() },
        )
        .await
    });
    let rust_key = format!("session{}", sid_of(&cookies["session"]));
    for key in [py_key, rust_key] {
        let ttl = int(redis.command(&["TTL", &key]).unwrap());
        assert!((DAY - 5..=DAY).contains(&ttl), "{key}: {ttl}");
        assert!(redis
            .command(&["GET", &key])
            .unwrap()
            .text()
            .unwrap()
            .starts_with(r#"{"_permanent":false,"#));
    }
}

#[test]
fn signed_sid_rotation_tampering_and_unsigned_ids() {
    let redis = RedisServer::start();
    let mut old_py = Peer::fsp("old-key", python_config(&redis));
    let cookie = old_py
        .call(json!({"op": "request", "set": r#"{"user_id":1}"#, "permanent": {"session": true}}))
        ["cookies"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = sid_of(&cookie).to_owned();

    let resigned = rt().block_on(async {
        // Rust after the rotation: the old signature still verifies...
        let m = manager(&redis, "new-key", &["old-key"]).await;
        let set = rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), Some(1));
            s.insert("user_id", 2).await.unwrap();
        })
        .await;
        // ... and the next write re-sends the id signed with the new key.
        set["session"].clone()
    });
    assert_eq!(sid_of(&resigned), sid, "same record, new signature");
    assert_ne!(resigned, cookie);
    let only_new = FlaskIdSigner::new(&secrets("new-key", &[]));
    assert!(only_new.unsign(&resigned).is_some());
    assert!(only_new.unsign(&cookie).is_none());

    let mut new_py = Peer::fsp("new-key", python_config(&redis));
    let out = new_py.call(json!({"op": "request", "cookies": {"session": resigned}}));
    assert_eq!(
        tagged(out["session"].as_str().unwrap()),
        json!({"user_id": 2})
    );

    // Tampered signature, or a bare (unsigned) sid: both sides start fresh.
    let mid = resigned.len() - 8;
    let c = if resigned.as_bytes()[mid] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{c}{}", &resigned[..mid], &resigned[mid + 1..]);
    for bad in [tampered.as_str(), sid.as_str()] {
        let out = new_py.call(json!({"op": "request", "cookies": {"session": bad}}));
        assert_eq!(out["session"], "{}", "python accepted {bad}");
        rt().block_on(async {
            let m = manager(&redis, "new-key", &[]).await;
            rust_request(&m, &[("session", bad)], |s| async move {
                assert_eq!(
                    s.get::<u64>("user_id").await.unwrap(),
                    None,
                    "rust accepted {bad}"
                );
            })
            .await;
        });
    }
}

#[test]
fn expired_and_deleted_records_are_gone_for_both_and_never_resurrected() {
    let redis = RedisServer::start();
    let mut py = Peer::fsp(KEY, python_config(&redis));
    let cookie = py.call(json!({"op": "request", "set": r#"{"user_id":1}"#}))["cookies"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = sid_of(&cookie).to_owned();
    let key = format!("session{sid}");
    // Expire it now (EXPIREAT in the past deletes the key at once).
    assert_eq!(int(redis.command(&["EXPIREAT", &key, "1"]).unwrap()), 1);
    let out = py.call(json!({"op": "request", "cookies": {"session": cookie}}));
    assert_eq!(out["session"], "{}");
    rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        rust_request(&m, &[("session", &cookie)], |s| async move {
            assert_eq!(s.get::<u64>("user_id").await.unwrap(), None);
        })
        .await;

        // A record deleted between load and save is not written again.
        let store = FlaskRedisStore::connect(&redis.url()).await.unwrap();
        let rk = RecordKey::new("session", SessionId::parse(&sid).unwrap());
        let now = unix_now();
        let changes = Changes::new(MetaUpdate::refresh(now, now + DAY)).set("user_id", json!(9));
        assert!(!store.update(&rk, &changes).await.unwrap());
        assert!(!store.touch(&rk, &changes.meta).await.unwrap());
    });
    assert_eq!(int(redis.command(&["EXISTS", &key]).unwrap()), 0);

    // Logout on either side deletes the record for both.
    let cookie = py.call(json!({"op": "request", "set": r#"{"user_id":1}"#}))["cookies"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        let set = rust_request(&m, &[("session", &cookie)], |s| async move {
            s.clear().await.unwrap()
        })
        .await;
        assert_eq!(set["session"], "", "the cookie is removed");
    });
    assert_eq!(
        int(redis
            .command(&["EXISTS", &format!("session{}", sid_of(&cookie))])
            .unwrap()),
        0
    );
    let cookies = rt().block_on(async {
        let m = manager(&redis, KEY, &[]).await;
        rust_request(
            &m,
            &[],
            |s| async move { s.insert("user_id", 3).await.unwrap() },
        )
        .await
    });
    let out = py
        .call(json!({"op": "request", "cookies": {"session": cookies["session"]}, "clear": true}));
    assert_eq!(out["cookies"]["session"], "");
    let rust_key = format!("session{}", sid_of(&cookies["session"]));
    assert_eq!(int(redis.command(&["EXISTS", &rust_key]).unwrap()), 0);
}

#[test]
fn concurrent_updates_of_different_fields_all_survive() {
    let redis = RedisServer::start();
    let mut py = Peer::fsp(KEY, python_config(&redis));
    let cookie = py.call(json!({"op": "request", "set": r#"{"user_id":1,"pair":{" t":[1]}}"#}))
        ["cookies"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = SessionId::parse(sid_of(&cookie)).unwrap();
    rt().block_on(async {
        let store = Arc::new(FlaskRedisStore::connect(&redis.url()).await.unwrap());
        let key = RecordKey::new("session", sid);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    let now = unix_now();
                    let changes = Changes::new(MetaUpdate::refresh(now, now + DAY))
                        .set(format!("f{i}"), json!(i));
                    assert!(store.update(&key, &changes).await.unwrap());
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let record = store.load(&key).await.unwrap().unwrap();
        for i in 0..20 {
            assert_eq!(record.fields[&format!("f{i}")], json!(i));
        }
        assert_eq!(
            record.fields["pair"],
            json!({" t": [1]}),
            "untouched field intact"
        );
    });
}
