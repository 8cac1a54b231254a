//! Criterion benchmarks of a Redis load with and without the near cache,
//! against a real `redis-server` started by this binary (testkit).
//!
//! Run: `cargo bench -p session-plus-redis --bench near_cache`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use session_plus_core::store::{Changes, MetaUpdate, Record, RecordMeta, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};
use session_plus_redis::{NearCacheOptions, NearCachedStore, RedisStore};
use session_plus_testkit::RedisServer;

fn loads(c: &mut Criterion) {
    let server = RedisServer::start();
    let url = server.url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (plain, near) = rt.block_on(async {
        let plain = RedisStore::from_url(&url).await.expect("store");
        let near = NearCachedStore::connect(
            RedisStore::from_url(&url).await.expect("store"),
            &url,
            NearCacheOptions::default().prefix("session"),
        )
        .await
        .expect("near cache");
        (plain, near)
    });
    let now = unix_now();
    let key = RecordKey::new("session", SessionId::generate());
    let record = Record::new(
        [("counter".to_owned(), json!(1))].into(),
        RecordMeta::new(now, now + 86_400, "w7EiChkOFpmE64sC79HjPw"),
    );
    rt.block_on(async {
        assert!(plain.create(&key, &record).await.expect("create"));
        near.load(&key).await.expect("fill");
    });
    c.bench_function("redis/load (HGETALL)", |b| {
        b.iter(|| rt.block_on(async { black_box(plain.load(&key).await.expect("load")) }))
    });
    c.bench_function("redis/load, near-cache hit", |b| {
        b.iter(|| rt.block_on(async { black_box(near.load(&key).await.expect("load")) }))
    });
    let changes = Changes::new(MetaUpdate::refresh(now, now + 86_400)).set("counter", json!(2));
    c.bench_function("redis/update then load, near cache (a miss)", |b| {
        b.iter(|| {
            rt.block_on(async {
                near.update(&key, &changes).await.expect("update");
                black_box(near.load(&key).await.expect("load"))
            })
        })
    });
    drop(server);
}

criterion_group!(benches, loads);
criterion_main!(benches);
