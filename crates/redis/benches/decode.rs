//! Criterion benchmarks of turning an `HGETALL` reply into a record, in
//! place ([`RedisStore::record_from_reply`], what `load` does), next to the
//! conversion the store used to make first (the reply into a
//! `HashMap<Vec<u8>, Vec<u8>>` after a pass looking for nested errors), which
//! alone cost about as much as the whole in-place decode. No server needed.
//!
//! Run: `cargo bench -p session-plus-redis --bench decode`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::collections::HashMap;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use session_plus_redis::redis::{self, Value};
use session_plus_redis::{RedisStore, META_FIELD};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// The reply for a record with `fields` small fields, meta first (as the
/// store writes it).
fn reply(fields: usize) -> Value {
    let mut items = vec![
        bulk(META_FIELD),
        bulk("2|0|1795812662|1795812662|1795899062|0|DQFPYg8orh-uBb20oYag3Q"),
    ];
    for i in 0..fields {
        items.push(bulk(&format!("field_{i}")));
        items.push(bulk(&format!("{{\"n\":{i},\"s\":\"value {i}\"}}")));
    }
    Value::Array(items)
}

fn decode(c: &mut Criterion) {
    let now = 1_795_812_700;
    for fields in [1, 20] {
        let input = reply(fields);
        assert!(RedisStore::record_from_reply(input.clone(), now).is_some());
        c.bench_function(&format!("record_from_reply/{fields}_fields"), |b| {
            b.iter_batched(
                || input.clone(),
                |v| black_box(RedisStore::record_from_reply(v, now)),
                BatchSize::SmallInput,
            )
        });
        c.bench_function(
            &format!("removed_step_hashmap_conversion/{fields}_fields"),
            |b| {
                b.iter_batched(
                    || input.clone(),
                    |v| {
                        let v = v.extract_error().expect("no error");
                        black_box(
                            redis::from_redis_value::<HashMap<Vec<u8>, Vec<u8>>>(v)
                                .expect("a hash"),
                        )
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
}

/// The client's own parse of the reply bytes into a `Value` (done by its
/// connection task, before any of the store's code runs): per element, so a
/// hash of one field (4 bulk strings in an array) costs several times the
/// single bulk string of a `GET` of one JSON document (what actix-session's
/// Redis store reads).
fn resp_parse(c: &mut Criterion) {
    let hgetall: &[u8] = b"*4\r\n$5\r\n\x00meta\r\n$61\r\n2|0|1795812662|1795812662|1795899062|0|DQFPYg8orh-uBb20oYag3Q\r\n$7\r\ncounter\r\n$1\r\n1\r\n";
    let get: &[u8] = b"$13\r\n{\"counter\":1}\r\n";
    assert!(matches!(redis::parse_redis_value(hgetall), Ok(Value::Array(a)) if a.len() == 4));
    assert!(matches!(
        redis::parse_redis_value(get),
        Ok(Value::BulkString(_))
    ));
    c.bench_function("client_resp_parse/hgetall_one_field", |b| {
        b.iter(|| black_box(redis::parse_redis_value(black_box(hgetall))))
    });
    c.bench_function("client_resp_parse/get_one_json_string", |b| {
        b.iter(|| black_box(redis::parse_redis_value(black_box(get))))
    });
}

criterion_group!(benches, decode, resp_parse);
criterion_main!(benches);
