//! Checks of the [`SessionStore`] contract, one backend call at a time.

use std::sync::Arc;

use serde_json::{json, Value};
use session_plus_core::store::{Fields, MetaUpdate, SessionStore};
use session_plus_core::{unix_now, RecordKey, SessionId};

use super::ok;
use crate::fixtures::{changes, key, live_meta, meta_expiring_at, record, refresh, PREFIX};

async fn load(
    store: &Arc<dyn SessionStore>,
    k: &RecordKey,
) -> Option<session_plus_core::store::Record> {
    ok(store.load(k).await, "load")
}

/// `create` then `load` returns exactly the fields and meta written.
pub async fn create_then_load(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let mut meta = live_meta();
    meta.created -= 100;
    meta.accessed -= 7;
    meta.binding = "b1nd-ing_value".to_owned();
    let rec = record([("user", json!(42)), ("name", json!("ada"))], meta);
    assert!(
        ok(store.create(&k, &rec).await, "create"),
        "create of a fresh key must return true"
    );
    let got = load(&store, &k).await.expect("a created record must load");
    assert_eq!(
        got.fields, rec.fields,
        "loaded fields differ from created ones"
    );
    assert_eq!(got.meta, rec.meta, "loaded meta differs from created meta");
}

/// `create` on a key holding a live record returns `false` and changes nothing.
pub async fn create_refuses_live_record(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let first = record([("a", json!(1))], live_meta());
    assert!(ok(store.create(&k, &first).await, "create"));
    let mut other_meta = live_meta().with_permanent(true);
    other_meta.binding = "other".to_owned();
    let second = record([("a", json!(2)), ("b", json!(3))], other_meta);
    assert!(
        !ok(store.create(&k, &second).await, "second create"),
        "create must refuse to overwrite a live record"
    );
    let got = load(&store, &k)
        .await
        .expect("the first record must survive");
    assert_eq!(got, first, "a refused create must not change the record");
}

/// Many tasks creating the same key at once: exactly one wins.
pub async fn concurrent_creates_have_one_winner(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move {
                let rec = record([("winner", json!(i))], live_meta());
                (i, ok(store.create(&k, &rec).await, "create"))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.expect("create task panicked");
        if won {
            winners.push(i);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create must win, got {winners:?}"
    );
    let got = load(&store, &k)
        .await
        .expect("the winner's record must load");
    assert_eq!(
        got.fields["winner"],
        json!(winners[0]),
        "the stored record is not the winner's"
    );
}

/// Loading a key that was never written gives `None`.
pub async fn load_unknown_is_none(store: Arc<dyn SessionStore>) {
    assert!(
        load(&store, &key(PREFIX)).await.is_none(),
        "an unknown key must load as None"
    );
}

/// `update` sets one field, removes another, leaves the rest and replaces meta.
pub async fn update_changes_only_named_fields(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let rec = record(
        [
            ("keep", json!("k")),
            ("change", json!(1)),
            ("drop", json!([1, 2])),
        ],
        live_meta(),
    );
    assert!(ok(store.create(&k, &rec).await, "create"));
    let update =
        MetaUpdate::refresh(rec.meta.accessed + 5, rec.meta.expires + 500).with_permanent(true);
    let mut meta = rec.meta.clone();
    update.apply_to(&mut meta);
    let delta = changes(
        [("change", json!(2)), ("added", json!({"x": null}))],
        &["drop"],
        update.clone(),
    );
    assert!(
        ok(store.update(&k, &delta).await, "update"),
        "update of a live record must return true"
    );
    let got = load(&store, &k).await.expect("an updated record must load");
    let want: Fields = [
        ("keep".to_owned(), json!("k")),
        ("change".to_owned(), json!(2)),
        ("added".to_owned(), json!({"x": null})),
    ]
    .into();
    assert_eq!(
        got.fields, want,
        "update must change exactly the named fields"
    );
    assert_eq!(
        got.meta, meta,
        "update must merge the meta as MetaUpdate says (permanence set, times moved forward)"
    );

    // Removing a field that is not there is harmless.
    let delta = changes::<String>([], &["never-existed"], update);
    assert!(ok(store.update(&k, &delta).await, "update"));
    assert_eq!(load(&store, &k).await.expect("record").fields, want);
}

/// `update` of a missing or deleted record returns `false` and creates nothing.
pub async fn update_never_resurrects(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let delta = changes([("a", json!(1))], &[], refresh());
    assert!(
        !ok(store.update(&k, &delta).await, "update"),
        "update of a missing record must return false"
    );
    assert!(
        load(&store, &k).await.is_none(),
        "update must not create a record"
    );

    assert!(ok(
        store
            .create(&k, &record([("a", json!(0))], live_meta()))
            .await,
        "create"
    ));
    ok(store.delete(&k).await, "delete");
    assert!(
        !ok(store.update(&k, &delta).await, "update"),
        "update of a deleted record must return false"
    );
    assert!(
        load(&store, &k).await.is_none(),
        "update must not resurrect a deleted record"
    );
    assert!(
        !ok(store.touch(&k, &refresh()).await, "touch"),
        "touch of a deleted record must return false"
    );
    assert!(
        load(&store, &k).await.is_none(),
        "touch must not resurrect a deleted record"
    );
}

/// Updates racing a delete: once the delete is done, no update brings the
/// record back.
pub async fn no_resurrection_under_concurrent_delete(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("a", json!(0))], live_meta()))
            .await,
        "create"
    ));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, k) = (store.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            if i == 20 {
                ok(store.delete(&k).await, "delete");
            } else {
                let delta = changes([(format!("f{i}"), json!(i))], &[], refresh());
                ok(store.update(&k, &delta).await, "update");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task panicked");
    }
    assert!(
        load(&store, &k).await.is_none(),
        "an update racing a delete resurrected the record"
    );
}

/// `delete` removes the record; deleting a missing record is fine.
pub async fn delete_then_load_is_none(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("a", json!(1))], live_meta()))
            .await,
        "create"
    ));
    ok(store.delete(&k).await, "delete");
    assert!(
        load(&store, &k).await.is_none(),
        "a deleted record must not load"
    );
    ok(
        store.delete(&k).await,
        "delete of an already deleted record",
    );
    ok(
        store.delete(&key(PREFIX)).await,
        "delete of a never-written record",
    );
    // The key is free again.
    assert!(ok(
        store
            .create(&k, &record([("b", json!(2))], live_meta()))
            .await,
        "create after delete"
    ));
}

/// A record whose expiry has passed is never returned, cannot be updated or
/// touched, and its key can be created again.
pub async fn expired_records_are_gone(store: Arc<dyn SessionStore>) {
    let now = unix_now();
    for expires in [now - 3600, now - 1, now] {
        let k = key(PREFIX);
        let rec = record([("a", json!(1))], meta_expiring_at(expires));
        assert!(
            ok(store.create(&k, &rec).await, "create"),
            "create must return true when no live record exists (expires = now{:+})",
            expires - now
        );
        assert!(
            load(&store, &k).await.is_none(),
            "a record with expires <= now must not load (expires = now{:+})",
            expires - now
        );
        let delta = changes([("b", json!(2))], &[], refresh());
        assert!(
            !ok(store.update(&k, &delta).await, "update"),
            "update of an expired record must return false"
        );
        assert!(
            !ok(store.touch(&k, &refresh()).await, "touch"),
            "touch of an expired record must return false"
        );
        assert!(
            load(&store, &k).await.is_none(),
            "update/touch revived an expired record"
        );

        let fresh = record([("c", json!(3))], live_meta());
        assert!(
            ok(store.create(&k, &fresh).await, "create"),
            "create must reuse the key of an expired record"
        );
        let got = load(&store, &k)
            .await
            .expect("the re-created record must load");
        assert_eq!(
            got, fresh,
            "the re-created record must not inherit the expired one's fields"
        );
    }
}

/// `touch` moves the expiry (merged as [`MetaUpdate`] says) and leaves
/// fields alone.
pub async fn touch_moves_expiry_only(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let rec = record(
        [("a", json!(1)), ("b", json!("two"))],
        meta_expiring_at(unix_now() + 60),
    );
    assert!(ok(store.create(&k, &rec).await, "create"));
    let update = MetaUpdate::refresh(rec.meta.accessed + 1, unix_now() + 7200);
    assert!(
        ok(store.touch(&k, &update).await, "touch"),
        "touch of a live record must return true"
    );
    let got = load(&store, &k).await.expect("a touched record must load");
    assert_eq!(got.fields, rec.fields, "touch must not change fields");
    let mut want = rec.meta.clone();
    update.apply_to(&mut want);
    assert_eq!(
        got.meta, want,
        "touch must move accessed and expires forward"
    );
    assert_eq!(got.meta.expires, update.expires);
}

/// The permanence flag survives create, and update and touch change it only
/// when they say so.
pub async fn permanence_round_trips(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let meta = live_meta().with_permanent(true);
    assert!(ok(
        store.create(&k, &record([("a", json!(1))], meta)).await,
        "create"
    ));
    assert!(
        load(&store, &k).await.expect("record").meta.permanent,
        "permanent lost on create"
    );
    assert!(ok(
        store
            .update(&k, &changes([("b", json!(2))], &[], refresh()))
            .await,
        "update"
    ));
    assert!(
        load(&store, &k).await.expect("record").meta.permanent,
        "an update that did not set permanence cleared it"
    );
    assert!(ok(
        store
            .update(
                &k,
                &changes::<String>([], &[], refresh().with_permanent(false))
            )
            .await,
        "update"
    ));
    assert!(
        !load(&store, &k).await.expect("record").meta.permanent,
        "permanent not cleared by update"
    );
    assert!(ok(
        store.touch(&k, &refresh().with_permanent(true)).await,
        "touch"
    ));
    assert!(
        load(&store, &k).await.expect("record").meta.permanent,
        "permanent not set by touch"
    );
    assert!(ok(store.touch(&k, &refresh()).await, "touch"));
    assert!(
        load(&store, &k).await.expect("record").meta.permanent,
        "a touch that did not set permanence cleared it"
    );
}

/// The same id under two prefixes names two independent records.
pub async fn prefixes_isolate(store: Arc<dyn SessionStore>) {
    let id = SessionId::generate();
    let a = RecordKey::new("conformance:a:", id.clone());
    let b = RecordKey::new("conformance:b:", id.clone());
    // Prefixes that only differ by where the id starts must not collide either.
    let c = RecordKey::new("conformance:", id);
    let (ra, rb) = (
        record([("who", json!("a"))], live_meta()),
        record([("who", json!("b"))], live_meta()),
    );
    assert!(ok(store.create(&a, &ra).await, "create a"));
    assert!(
        ok(store.create(&b, &rb).await, "create b"),
        "a record under another prefix blocked create"
    );
    assert!(
        load(&store, &c).await.is_none(),
        "a record leaked to a third prefix"
    );
    assert_eq!(load(&store, &a).await.expect("a").fields, ra.fields);
    assert_eq!(load(&store, &b).await.expect("b").fields, rb.fields);
    assert!(ok(
        store
            .update(&a, &changes([("who", json!("a2"))], &[], refresh()))
            .await,
        "update a"
    ));
    assert_eq!(
        load(&store, &b).await.expect("b").fields,
        rb.fields,
        "an update leaked across prefixes"
    );
    ok(store.delete(&a).await, "delete a");
    assert!(
        load(&store, &b).await.is_some(),
        "a delete leaked across prefixes"
    );
}

/// Many tasks updating *different* fields of one record at once: every write
/// survives (per-field writes or compare-and-swap with merge).
pub async fn concurrent_updates_of_different_fields_survive(store: Arc<dyn SessionStore>) {
    const PER_WRITER: usize = 50;
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("base", json!(true))], live_meta()))
            .await,
        "create"
    ));
    let mut tasks = Vec::new();
    for i in 0..PER_WRITER {
        for writer in ["left", "right"] {
            let (store, k) = (store.clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                let delta = changes([(format!("{writer}-{i}"), json!(i))], &[], refresh());
                assert!(
                    ok(store.update(&k, &delta).await, "update"),
                    "update of a live record returned false"
                );
            }));
        }
    }
    for t in tasks {
        t.await.expect("update task panicked");
    }
    let got = load(&store, &k)
        .await
        .expect("record must survive concurrent updates");
    let mut lost = Vec::new();
    for i in 0..PER_WRITER {
        for writer in ["left", "right"] {
            let name = format!("{writer}-{i}");
            if got.fields.get(&name) != Some(&json!(i)) {
                lost.push(name);
            }
        }
    }
    assert!(
        lost.is_empty(),
        "concurrent updates lost {} fields: {lost:?}",
        lost.len()
    );
    assert_eq!(
        got.fields.get("base"),
        Some(&json!(true)),
        "a concurrent update lost an untouched field"
    );
    assert_eq!(got.fields.len(), 2 * PER_WRITER + 1);
}

/// Field names a backend might mangle: they must round-trip byte for byte.
pub fn hostile_field_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "plain",
        "with space",
        "  leading and trailing  ",
        "ünïcödé",
        "漢字のフィールド",
        "emoji 🙂🦀",
        "\u{2028}line separator\u{2029}",
        "\u{feff}bom",
        "\"double quotes\"",
        "'single quotes'",
        "back\\slash",
        "percent %s %d %% %n",
        "{\"a\":1}",
        "[1,2]",
        "null",
        "a.b.c",
        "a:b",
        "$set",
        "__proto__",
        "*",
        "?",
        "' OR 1=1 --",
        "; DROP TABLE sessions; --",
        "/slash/",
        "a=b&c=d",
        "_",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    names.push("x".repeat(256));
    names.push("é".repeat(128)); // 256 bytes of two-byte characters
    names.push(format!("{}🙂", "y".repeat(252))); // ends in a four-byte character
    names
}

/// Hostile field names survive create, update and remove.
pub async fn hostile_field_names_round_trip(store: Arc<dyn SessionStore>) {
    let names = hostile_field_names();
    let k = key(PREFIX);
    let rec = record(names.iter().map(|n| (n.clone(), json!(n))), live_meta());
    assert!(ok(store.create(&k, &rec).await, "create"));
    let got = load(&store, &k)
        .await
        .expect("record with hostile names must load");
    for n in &names {
        assert_eq!(
            got.fields.get(n),
            Some(&json!(n)),
            "field name {n:?} did not round-trip through create"
        );
    }
    assert_eq!(
        got.fields.len(),
        names.len(),
        "extra or merged fields after create"
    );

    // Update every name to a new value, then remove half of them.
    let delta = changes(
        names.iter().map(|n| (n.clone(), json!([n, 1]))),
        &[],
        refresh(),
    );
    assert!(ok(store.update(&k, &delta).await, "update"));
    let removed: Vec<&str> = names.iter().step_by(2).map(String::as_str).collect();
    assert!(ok(
        store
            .update(&k, &changes::<String>([], &removed, refresh()))
            .await,
        "update"
    ));
    let got = load(&store, &k).await.expect("record");
    for (i, n) in names.iter().enumerate() {
        if i % 2 == 0 {
            assert!(!got.fields.contains_key(n), "field {n:?} was not removed");
        } else {
            assert_eq!(
                got.fields.get(n),
                Some(&json!([n, 1])),
                "field name {n:?} did not round-trip through update"
            );
        }
    }
    assert_eq!(got.fields.len(), names.len() / 2);
}

/// Values of every JSON kind a backend might mangle.
pub fn tricky_values() -> Vec<(String, Value)> {
    let mut deep = json!("bottom");
    for i in 0..100 {
        deep = if i % 2 == 0 {
            json!([deep])
        } else {
            json!({ "d": deep })
        };
    }
    let values = vec![
        ("null", Value::Null),
        ("true", json!(true)),
        ("false", json!(false)),
        ("zero", json!(0)),
        ("i64_min", json!(i64::MIN)),
        ("i64_max", json!(i64::MAX)),
        ("u64_max", json!(u64::MAX)),
        ("negative", json!(-1)),
        ("float_tenth", json!(0.1)),
        ("float_one", json!(1.0)),
        ("float_neg_zero", json!(-0.0)),
        ("float_pi", json!(std::f64::consts::PI)),
        ("float_max", json!(f64::MAX)),
        ("float_min", json!(f64::MIN)),
        ("float_min_positive", json!(f64::MIN_POSITIVE)),
        ("float_subnormal", json!(5e-324)),
        ("float_odd", json!(1.000_000_000_000_000_2)),
        ("float_big", json!(1.7e300)),
        ("float_third", json!(1.0 / 3.0)),
        // Misread by one ULP by serde_json's default (fast) float parser: a
        // backend storing JSON text needs serde_json's `float_roundtrip`.
        ("float_ulp_trap_1", json!(1.071_566_039_146_582_6e-75)),
        ("float_ulp_trap_2", json!(-1.603_964_615_428_183e143)),
        ("empty_string", json!("")),
        ("unicode", json!("ünïcödé 漢字 🙂 \u{2028} \u{feff}")),
        (
            "escapes",
            json!("quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7}"),
        ),
        ("json_text", json!("{\"a\": [1, 2]}")),
        ("long_string", json!("s".repeat(64 * 1024))),
        ("empty_array", json!([])),
        ("empty_object", json!({})),
        (
            "mixed_array",
            json!([1, "two", 3.5, null, false, {"k": [[]]}]),
        ),
        (
            "nested",
            json!({"user": {"id": 7, "roles": ["a", "b"], "prefs": {"theme": null, "n": -2.5}}, "": "empty key", "é": {"🙂": []}}),
        ),
        ("deep", deep),
    ];
    values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Every JSON value kind survives create and update unchanged.
pub async fn json_values_round_trip(store: Arc<dyn SessionStore>) {
    let values = tricky_values();
    let k = key(PREFIX);
    assert!(ok(
        store.create(&k, &record(values.clone(), live_meta())).await,
        "create"
    ));
    let got = load(&store, &k)
        .await
        .expect("record with tricky values must load");
    for (name, v) in &values {
        assert_eq!(
            got.fields.get(name),
            Some(v),
            "value `{name}` did not round-trip through create"
        );
    }

    // Same values written by update, under other names, next to the originals.
    let k2 = key(PREFIX);
    assert!(ok(
        store
            .create(&k2, &record([("seed", json!(1))], live_meta()))
            .await,
        "create"
    ));
    let delta = changes(
        values.iter().map(|(n, v)| (format!("u_{n}"), v.clone())),
        &[],
        refresh(),
    );
    assert!(ok(store.update(&k2, &delta).await, "update"));
    let got = load(&store, &k2).await.expect("record");
    for (name, v) in &values {
        assert_eq!(
            got.fields.get(&format!("u_{name}")),
            Some(v),
            "value `{name}` did not round-trip through update"
        );
    }
}

/// `delete_expired`, when [claimed](session_plus_core::store::Capabilities::delete_expired),
/// removes expired records and never a live one; when not claimed, it answers
/// "unsupported" (never a silent success).
pub async fn delete_expired_keeps_live_records(store: Arc<dyn SessionStore>) {
    if !store.capabilities().delete_expired {
        match store.delete_expired().await {
            Err(e) if e.is_unsupported() => return,
            other => panic!(
                "delete_expired is not claimed in capabilities(), so it must answer unsupported, got {other:?}"
            ),
        }
    }
    let live: Vec<RecordKey> = (0..5).map(|_| key(PREFIX)).collect();
    for (i, k) in live.iter().enumerate() {
        let rec = record(
            [("i", json!(i))],
            meta_expiring_at(unix_now() + 30 + i as i64 * 1000),
        );
        assert!(ok(store.create(k, &rec).await, "create"));
    }
    let dead = key(PREFIX);
    assert!(ok(
        store
            .create(
                &dead,
                &record([("x", json!(0))], meta_expiring_at(unix_now() - 10))
            )
            .await,
        "create"
    ));
    let removed = match store.delete_expired().await {
        Err(e) if e.is_unsupported() => {
            panic!("capabilities() claims delete_expired, but it answers unsupported: {e}")
        }
        other => ok(other, "delete_expired"),
    };
    if !store.capabilities().native_ttl {
        assert!(
            removed >= 1,
            "a backend without native TTL must sweep expired records, removed {removed}"
        );
    }
    for (i, k) in live.iter().enumerate() {
        let got = load(&store, k)
            .await
            .unwrap_or_else(|| panic!("delete_expired removed live record #{i}"));
        assert_eq!(got.fields["i"], json!(i));
    }
    assert!(load(&store, &dead).await.is_none());
    // Sweeping twice is harmless.
    ok(store.delete_expired().await, "second delete_expired");
    assert!(
        load(&store, &live[0]).await.is_some(),
        "a second sweep removed a live record"
    );
}

/// `delete_by_field` (ending all of one user's sessions), when
/// [claimed](session_plus_core::store::Capabilities::delete_by_field), removes
/// exactly the records under the prefix whose field holds the value; when not
/// claimed, it answers "unsupported".
pub async fn delete_by_field_removes_only_matches(store: Arc<dyn SessionStore>) {
    // Random prefix and value: shared servers run other checks concurrently.
    let prefix = format!("dbf{}", &SessionId::generate().as_str()[..8]);
    let other_prefix = format!("{prefix}x");
    let user = json!(SessionId::generate().as_str());
    let (a, b, c, d) = (key(&prefix), key(&prefix), key(&prefix), key(&other_prefix));
    for (k, u) in [
        (&a, user.clone()),
        (&b, user.clone()),
        (&c, json!("someone else")),
        (&d, user.clone()),
    ] {
        assert!(ok(
            store
                .create(k, &record([("user_id", u), ("x", json!(1))], live_meta()))
                .await,
            "create"
        ));
    }
    // `d` lives under a longer prefix that starts with `prefix`: a plain
    // prefix match would wrongly include it, so give it a distinct value path.
    let claimed = store.capabilities().delete_by_field;
    match store
        .delete_by_field(&other_prefix, "user_id", &json!("nobody"))
        .await
    {
        Err(e) if e.is_unsupported() && !claimed => return,
        Err(e) if e.is_unsupported() => {
            panic!("capabilities() claims delete_by_field, but it answers unsupported: {e}")
        }
        other if !claimed => panic!(
            "delete_by_field is not claimed in capabilities(), so it must answer unsupported, got {other:?}"
        ),
        other => assert_eq!(ok(other, "delete_by_field"), 0),
    }
    let n = ok(
        store.delete_by_field(&prefix, "user_id", &user).await,
        "delete_by_field",
    );
    assert!(
        load(&store, &a).await.is_none() && load(&store, &b).await.is_none(),
        "matching records must go"
    );
    assert!(
        load(&store, &c).await.is_some(),
        "a record with another value must stay"
    );
    // `d`'s key starts with `prefix` too (prefix + "x" + id), as in any store
    // keyed by `prefix + id`; it is counted only if the backend matched it.
    let d_gone = load(&store, &d).await.is_none();
    assert_eq!(
        n,
        2 + u64::from(d_gone),
        "the count must match what was deleted"
    );
}
