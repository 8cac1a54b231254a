//! Criterion benchmarks of the hot paths that cost CPU on every request:
//! cookie codecs and field routing.
//!
//! Run: `cargo bench -p session-plus-core --bench core`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use session_plus_core::cookie_format::{CookieFormat, EncryptedFormat, SignedFormat};
use session_plus_core::store::{Fields, Record, RecordMeta};
use session_plus_core::{
    unix_now, FieldRules, Interface, Key, KeyRing, SessionDriver, SessionManager,
};

/// A record whose JSON fields take about 200 bytes.
fn record_200_bytes() -> Record {
    let fields: Fields = [
        ("user_id".to_owned(), json!(123_456_789)),
        ("name".to_owned(), json!("Ada Lovelace")),
        ("roles".to_owned(), json!(["admin", "editor", "viewer"])),
        ("theme".to_owned(), json!("dark")),
        ("locale".to_owned(), json!("en-GB")),
        (
            "cart".to_owned(),
            json!({"items": [101, 202, 303], "total": 4999}),
        ),
        (
            "flash".to_owned(),
            json!("Your changes were saved successfully."),
        ),
    ]
    .into();
    let now = unix_now();
    let r = Record::new(
        fields,
        RecordMeta::new(now, now + 86_400, "AAAAAAAAAAAAAAAAAAAAAA"),
    );
    let size = serde_json::to_vec(&r.fields).map(|v| v.len()).unwrap_or(0);
    assert!((180..=230).contains(&size), "fixture is {size} bytes");
    r
}

fn codecs(c: &mut Criterion) {
    let ring = KeyRing::new(Key::generate());
    let record = record_200_bytes();
    let now = unix_now();
    // Uncached: each iteration verifies (see `cookie_levers` for the cache).
    let signed = SignedFormat::new(&ring, "data").with_cache_bytes(0);
    c.bench_function("cookie/sign+verify 200B", |b| {
        b.iter(|| {
            let v = signed.encode(black_box(&record));
            black_box(signed.decode(&v, now))
        })
    });
    let encrypted = EncryptedFormat::new(&ring, "data").with_cache_bytes(0);
    c.bench_function("cookie/encrypt+decrypt 200B", |b| {
        b.iter(|| {
            let v = encrypted.encode(black_box(&record));
            black_box(encrypted.decode(&v, now))
        })
    });
}

/// Three cookie interfaces (no I/O), 20 fields: the cost of routing every
/// field to its owner, on top of decoding each cookie once.
fn routing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fields: Vec<String> = (0..20).map(|i| format!("field_{i:02}")).collect();
    let manager = Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["field_00"])))
            .interface(
                Interface::secure_cookie("prefs")
                    .fields(FieldRules::include(fields[1..8].iter().cloned())),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
            .build()
            .expect("config"),
    );
    // Cookies holding all 20 fields.
    let cookie_header = rt.block_on(async {
        let d = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
        let s = d.session();
        for (i, f) in fields.iter().enumerate() {
            s.insert(f, i).await.expect("insert");
        }
        d.finish().await.cookie_header()
    });
    c.bench_function("request/3 interfaces, read 20 fields", |b| {
        b.iter(|| {
            rt.block_on(async {
                let d = SessionDriver::new(manager.clone(), [cookie_header.as_bytes()]);
                let s = d.session();
                for f in &fields {
                    black_box(s.get_value(f).await.expect("get"));
                }
                black_box(d.finish().await)
            })
        })
    });
    c.bench_function("request/3 interfaces, read 20 fields, write 1", |b| {
        b.iter(|| {
            rt.block_on(async {
                let d = SessionDriver::new(manager.clone(), [cookie_header.as_bytes()]);
                let s = d.session();
                for f in &fields {
                    black_box(s.get_value(f).await.expect("get"));
                }
                s.insert("field_19", 1000).await.expect("insert");
                black_box(d.finish().await)
            })
        })
    });
    c.bench_function("request/untouched session", |b| {
        b.iter(|| {
            rt.block_on(async {
                let d = SessionDriver::new(manager.clone(), [cookie_header.as_bytes()]);
                black_box(d.finish().await)
            })
        })
    });
}

/// The cookie levers of issue 14: the verified-value cache (a hit against a
/// full verification) and payload version 2 (a one-field session signs 47
/// payload bytes: two SHA-256 blocks).
fn cookie_levers(c: &mut Criterion) {
    let ring = KeyRing::new(Key::generate());
    let now = unix_now();
    let one_field = Record::new(
        [("counter".to_owned(), json!(1))].into(),
        RecordMeta::new(now, now + 86_400, "w7EiChkOFpmE64sC79HjPw"),
    );
    for (name, record) in [("1 field", one_field), ("200B", record_200_bytes())] {
        let cached = SignedFormat::new(&ring, "data");
        let uncached = SignedFormat::new(&ring, "data").with_cache_bytes(0);
        let value = cached.encode(&record);
        assert!(cached.decode(&value, now).is_some());
        c.bench_function(&format!("cookie/verify {name}, cache hit"), |b| {
            b.iter(|| black_box(cached.decode(black_box(&value), now)))
        });
        c.bench_function(&format!("cookie/verify {name}, uncached"), |b| {
            b.iter(|| black_box(uncached.decode(black_box(&value), now)))
        });
        c.bench_function(&format!("cookie/sign {name}"), |b| {
            b.iter(|| black_box(uncached.encode(black_box(&record))))
        });
        let enc = EncryptedFormat::new(&ring, "data");
        let enc_uncached = EncryptedFormat::new(&ring, "data").with_cache_bytes(0);
        let sealed = enc.encode(&record);
        assert!(enc.decode(&sealed, now).is_some());
        c.bench_function(&format!("cookie/decrypt {name}, cache hit"), |b| {
            b.iter(|| black_box(enc.decode(black_box(&sealed), now)))
        });
        c.bench_function(&format!("cookie/decrypt {name}, uncached"), |b| {
            b.iter(|| black_box(enc_uncached.decode(black_box(&sealed), now)))
        });
        c.bench_function(&format!("cookie/encrypt {name}"), |b| {
            b.iter(|| black_box(enc_uncached.encode(black_box(&record))))
        });
    }
}

criterion_group!(benches, codecs, routing, cookie_levers);
criterion_main!(benches);
