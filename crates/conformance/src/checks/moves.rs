//! Checks of tombstones, `supersede`, `move_to` and the field-level meta
//! merge: what makes a login (`cycle_id`) lose no acknowledged write and a
//! concurrent request never undo another's permanence.

use std::sync::Arc;

use serde_json::json;
use session_plus_core::store::{Changes, MetaUpdate, Record, SessionStore};
use session_plus_core::{unix_now, RecordKey};

use super::ok;
use crate::fixtures::{changes, key, live_meta, meta_expiring_at, record, refresh, PREFIX};

/// How long tombstones made by these checks live.
const GRACE: i64 = 120;

const DAY: i64 = 86_400;

async fn load(store: &Arc<dyn SessionStore>, k: &RecordKey) -> Option<Record> {
    ok(store.load(k).await, "load")
}

/// Assert that `k` holds a live tombstone of a record bound to `binding`.
async fn assert_tombstone(store: &Arc<dyn SessionStore>, k: &RecordKey, binding: &str, until: i64) {
    let stone = load(store, k)
        .await
        .expect("load must return a live tombstone (meta.moved), not None");
    assert!(
        stone.meta.moved,
        "the superseded record is not marked moved: {:?}",
        stone.meta
    );
    assert!(
        stone.fields.is_empty(),
        "a tombstone must hold no fields, got {:?}",
        stone.fields.keys()
    );
    assert_eq!(
        stone.meta.expires, until,
        "a tombstone must live until `until`"
    );
    assert_eq!(stone.meta.binding, binding, "a tombstone keeps the binding");
}

/// `supersede` returns the record as it was, writes made just before
/// included, and leaves a tombstone that `load` returns and that refuses
/// `update`, `touch`, `supersede` and `create`.
pub async fn supersede_leaves_a_tombstone(store: Arc<dyn SessionStore>) {
    let k = key(PREFIX);
    let rec = record(
        [("a", json!(1)), ("b", json!(2))],
        live_meta().with_permanent(true),
    );
    assert!(ok(store.create(&k, &rec).await, "create"));
    let delta = changes([("c", json!(3))], &["b"], refresh());
    assert!(ok(store.update(&k, &delta).await, "update"));
    let mut want = rec.clone();
    delta.apply_to(&mut want);

    let until = unix_now() + GRACE;
    let snapshot = ok(store.supersede(&k, until).await, "supersede")
        .expect("supersede of a live record must return its snapshot");
    assert_eq!(
        snapshot, want,
        "the snapshot must be the record as stored, including the write made just before"
    );
    assert_tombstone(&store, &k, &rec.meta.binding, until).await;

    let late = changes([("late", json!(true))], &[], refresh());
    assert!(
        !ok(store.update(&k, &late).await, "update"),
        "update must refuse a tombstone"
    );
    assert!(
        !ok(store.touch(&k, &refresh()).await, "touch"),
        "touch must refuse a tombstone"
    );
    assert!(
        ok(store.supersede(&k, until + 50).await, "supersede").is_none(),
        "supersede must refuse a tombstone"
    );
    let fresh = record([("x", json!(1))], live_meta());
    assert!(
        !ok(store.create(&k, &fresh).await, "create"),
        "create must not overwrite a live tombstone"
    );
    // Nothing of the refused calls got through.
    assert_tombstone(&store, &k, &rec.meta.binding, until).await;

    // A tombstone can be deleted like any record; the key is free again.
    ok(store.delete(&k).await, "delete");
    assert!(
        load(&store, &k).await.is_none(),
        "delete must remove a tombstone"
    );
    assert!(ok(store.create(&k, &fresh).await, "create after delete"));
}

/// `supersede` of a missing, deleted or expired record returns `None` and
/// writes nothing.
pub async fn supersede_needs_a_live_record(store: Arc<dyn SessionStore>) {
    let until = unix_now() + GRACE;
    let missing = key(PREFIX);
    assert!(ok(store.supersede(&missing, until).await, "supersede").is_none());
    assert!(
        load(&store, &missing).await.is_none(),
        "supersede of a missing record wrote a tombstone"
    );

    let expired = key(PREFIX);
    let rec = record([("a", json!(1))], meta_expiring_at(unix_now() - 5));
    assert!(ok(store.create(&expired, &rec).await, "create"));
    assert!(
        ok(store.supersede(&expired, until).await, "supersede").is_none(),
        "supersede of an expired record must return None"
    );
    assert!(load(&store, &expired).await.is_none());
    assert!(
        ok(
            store
                .create(&expired, &record([("b", json!(2))], live_meta()))
                .await,
            "create"
        ),
        "supersede of an expired record blocked its key"
    );
}

/// A tombstone is gone once it expires: `load` returns `None` and the key can
/// be created again.
pub async fn tombstones_expire(store: Arc<dyn SessionStore>) {
    // Already over when made: gone at once.
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("a", json!(1))], live_meta()))
            .await,
        "create"
    ));
    assert!(ok(store.supersede(&k, unix_now() - 1).await, "supersede").is_some());
    assert!(
        load(&store, &k).await.is_none(),
        "an expired tombstone must not load"
    );
    assert!(
        ok(
            store
                .create(&k, &record([("b", json!(1))], live_meta()))
                .await,
            "create"
        ),
        "an expired tombstone must not block create"
    );

    // Live for two seconds: loads as a tombstone, then goes (bounded polling:
    // there is no event to wait for).
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("a", json!(1))], live_meta()))
            .await,
        "create"
    ));
    let until = unix_now() + 2;
    assert!(ok(store.supersede(&k, until).await, "supersede").is_some());
    let mut gone = false;
    for _ in 0..100 {
        match load(&store, &k).await {
            Some(stone) => {
                assert!(stone.meta.moved, "a tombstone lost its mark");
                assert!(unix_now() <= until, "a tombstone outlived its expiry");
            }
            None => {
                gone = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "a tombstone did not expire");
}

/// Updates racing a `supersede`: every update that returned `true` is in the
/// snapshot, every later one returned `false` (no write applied after the
/// snapshot, none lost).
pub async fn supersede_is_atomic_under_concurrent_updates(store: Arc<dyn SessionStore>) {
    const WRITERS: usize = 40;
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("base", json!(0))], live_meta()))
            .await,
        "create"
    ));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, k) = (store.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let delta = changes([(format!("w{i}"), json!(i))], &[], refresh());
            (i, ok(store.update(&k, &delta).await, "update"))
        }));
        if i == WRITERS / 2 {
            tokio::task::yield_now().await;
        }
    }
    let until = unix_now() + GRACE;
    let snapshot = ok(store.supersede(&k, until).await, "supersede")
        .expect("the record was live when superseded");
    let mut acked = 0;
    for t in tasks {
        let (i, applied) = t.await.expect("update task panicked");
        let name = format!("w{i}");
        if applied {
            acked += 1;
            assert_eq!(
                snapshot.fields.get(&name),
                Some(&json!(i)),
                "update {i} returned true but is not in the superseded snapshot (lost write)"
            );
        } else {
            assert!(
                !snapshot.fields.contains_key(&name),
                "update {i} returned false but its write is in the snapshot"
            );
        }
    }
    assert_tombstone(&store, &k, &snapshot.meta.binding, until).await;
    eprintln!("supersede under {WRITERS} concurrent updates: {acked} landed before it");
}

/// `move_to` carries the record over to the new key (writes made before
/// included, the login's changes applied, the new binding, the old creation
/// time) and leaves a tombstone at the old key; it refuses a missing or
/// already moved record.
pub async fn move_to_carries_the_record_over(store: Arc<dyn SessionStore>) {
    let (from, to) = (key(PREFIX), key(PREFIX));
    let mut meta = live_meta().with_permanent(true);
    meta.created -= 1000;
    let rec = record([("user", json!(1)), ("cart", json!([1, 2]))], meta);
    assert!(ok(store.create(&from, &rec).await, "create"));
    let before = changes([("just_before", json!("x"))], &[], refresh());
    assert!(ok(store.update(&from, &before).await, "update"));

    let login = changes([("role", json!("admin"))], &["cart"], refresh());
    let until = unix_now() + GRACE;
    assert!(
        ok(
            store
                .move_to(&from, &to, &login, "new-binding", until)
                .await,
            "move_to"
        ),
        "move_to of a live record must return true"
    );
    let moved = load(&store, &to)
        .await
        .expect("the new key must hold the record");
    let want_fields: session_plus_core::store::Fields = [
        ("user".to_owned(), json!(1)),
        ("just_before".to_owned(), json!("x")),
        ("role".to_owned(), json!("admin")),
    ]
    .into();
    assert_eq!(
        moved.fields, want_fields,
        "move_to lost or kept the wrong fields"
    );
    assert_eq!(
        moved.meta.binding, "new-binding",
        "move_to must give the new binding"
    );
    assert_eq!(
        moved.meta.created, rec.meta.created,
        "move_to must keep the creation time"
    );
    assert!(moved.meta.permanent, "move_to lost permanence");
    assert!(!moved.meta.moved, "the new record must not be a tombstone");
    assert_tombstone(&store, &from, &rec.meta.binding, until).await;

    let again = key(PREFIX);
    assert!(
        !ok(
            store.move_to(&from, &again, &login, "b", until).await,
            "move_to"
        ),
        "move_to from a tombstone must return false"
    );
    assert!(
        load(&store, &again).await.is_none(),
        "a refused move_to created a record"
    );
    let missing = key(PREFIX);
    assert!(!ok(
        store.move_to(&missing, &again, &login, "b", until).await,
        "move_to"
    ));
    assert!(
        load(&store, &again).await.is_none(),
        "a refused move_to created a record"
    );
}

/// Updates racing a `move_to`: every update that returned `true` reached the
/// new record; the others wrote nothing anywhere.
pub async fn move_to_carries_over_concurrent_writes(store: Arc<dyn SessionStore>) {
    const WRITERS: usize = 40;
    let (from, to) = (key(PREFIX), key(PREFIX));
    assert!(ok(
        store
            .create(&from, &record([("base", json!(0))], live_meta()))
            .await,
        "create"
    ));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, from) = (store.clone(), from.clone());
        tasks.push(tokio::spawn(async move {
            let delta = changes([(format!("w{i}"), json!(i))], &[], refresh());
            (i, ok(store.update(&from, &delta).await, "update"))
        }));
        if i == WRITERS / 2 {
            tokio::task::yield_now().await;
        }
    }
    let login = changes([("role", json!("admin"))], &[], refresh());
    assert!(ok(
        store
            .move_to(&from, &to, &login, "new", unix_now() + GRACE)
            .await,
        "move_to"
    ));
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("update task panicked"));
    }
    let moved = load(&store, &to).await.expect("moved record");
    let mut lost = Vec::new();
    for (i, applied) in results {
        let name = format!("w{i}");
        if applied && moved.fields.get(&name) != Some(&json!(i)) {
            lost.push(name);
        } else if !applied {
            assert!(
                !moved.fields.contains_key(&name),
                "a refused update reached the new record"
            );
        }
    }
    assert!(
        lost.is_empty(),
        "acknowledged writes lost across move_to: {lost:?}"
    );
    assert_eq!(moved.fields.get("role"), Some(&json!("admin")));
    assert!(load(&store, &from).await.expect("tombstone").meta.moved);
}

/// The meta merge, field by field: an update that does not set permanence
/// never resets it, expiry moves only forward unless the update shortens on
/// purpose, `accessed` only moves forward, `created` and binding never change.
pub async fn meta_merges_field_by_field(store: Arc<dyn SessionStore>) {
    let now = unix_now();
    let k = key(PREFIX);
    let mut meta = meta_expiring_at(now + DAY);
    meta.created = now - 500;
    meta.accessed = now - 10;
    let rec = record([("a", json!(1))], meta.clone());
    assert!(ok(store.create(&k, &rec).await, "create"));

    // set_permanent(true): 31 days.
    let permanent = MetaUpdate::refresh(now, now + 31 * DAY).with_permanent(true);
    assert!(ok(
        store.update(&k, &Changes::new(permanent)).await,
        "update"
    ));
    // A concurrent request that saw the old, non-permanent meta writes another
    // field with its own 1-day lifetime and an older clock.
    let stale = changes(
        [("b", json!(2))],
        &[],
        MetaUpdate::refresh(now - 5, now + DAY),
    );
    assert!(ok(store.update(&k, &stale).await, "update"));
    let got = load(&store, &k).await.expect("record");
    assert!(
        got.meta.permanent,
        "an update that did not set permanence reset it"
    );
    assert_eq!(
        got.meta.expires,
        now + 31 * DAY,
        "an update shortened the expiry it did not mean to"
    );
    assert_eq!(got.meta.accessed, now, "accessed moved backwards");
    assert_eq!(got.meta.created, meta.created, "update changed `created`");
    assert_eq!(got.meta.binding, meta.binding, "update changed the binding");
    assert!(!got.meta.moved);
    assert_eq!(got.fields.len(), 2);

    // The same through touch.
    assert!(ok(
        store
            .touch(&k, &MetaUpdate::refresh(now + 1, now + 2 * DAY))
            .await,
        "touch"
    ));
    let got = load(&store, &k).await.expect("record");
    assert!(
        got.meta.permanent && got.meta.expires == now + 31 * DAY,
        "touch undid permanence: {:?}",
        got.meta
    );
    assert_eq!(got.meta.accessed, now + 1);

    // Making it non-permanent shortens on purpose.
    let off = MetaUpdate::refresh(now + 2, now + 2 + DAY).with_permanent(false);
    assert!(ok(store.update(&k, &Changes::new(off)).await, "update"));
    let got = load(&store, &k).await.expect("record");
    assert!(!got.meta.permanent, "permanence not cleared");
    assert_eq!(
        got.meta.expires,
        now + 2 + DAY,
        "shorten must set the expiry exactly"
    );
    assert_eq!(got.meta.created, meta.created);
}

/// `set_permanent(true)` racing many writes to other fields: permanence and
/// the long expiry survive whatever the order.
pub async fn permanence_survives_concurrent_updates(store: Arc<dyn SessionStore>) {
    const WRITERS: usize = 30;
    let now = unix_now();
    let k = key(PREFIX);
    assert!(ok(
        store
            .create(&k, &record([("a", json!(1))], meta_expiring_at(now + DAY)))
            .await,
        "create"
    ));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, k) = (store.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let delta = if i == WRITERS / 2 {
                Changes::new(MetaUpdate::refresh(now, now + 31 * DAY).with_permanent(true))
            } else {
                changes(
                    [(format!("w{i}"), json!(i))],
                    &[],
                    MetaUpdate::refresh(now, now + DAY),
                )
            };
            assert!(
                ok(store.update(&k, &delta).await, "update"),
                "update of a live record failed"
            );
        }));
    }
    for t in tasks {
        t.await.expect("update task panicked");
    }
    let got = load(&store, &k).await.expect("record");
    assert!(
        got.meta.permanent,
        "a concurrent write undid set_permanent(true)"
    );
    assert_eq!(
        got.meta.expires,
        now + 31 * DAY,
        "a concurrent write shortened the permanent expiry"
    );
    assert_eq!(got.fields.len(), WRITERS, "a concurrent write was lost");
}

/// What `capabilities()` claims holds: a claimed optional operation never
/// answers "unsupported", an unclaimed one always does (so a wrapper that
/// forgets to forward it is caught, and nothing fails silently).
pub async fn capability_claims_hold(store: Arc<dyn SessionStore>) {
    let caps = store.capabilities();
    let prefix = format!(
        "caps{}:",
        &session_plus_core::SessionId::generate().as_str()[..8]
    );
    let by_field = store
        .delete_by_field(&prefix, "user", &json!("nobody"))
        .await;
    match (caps.delete_by_field, by_field) {
        (true, Ok(n)) => assert_eq!(n, 0, "delete_by_field deleted records that cannot match"),
        (true, Err(e)) => panic!("delete_by_field is claimed but failed: {e} ({e:?})"),
        (false, Err(e)) if e.is_unsupported() => {
            assert!(
                e.to_string().contains("delete_by_field"),
                "the unsupported error must name the operation: {e}"
            );
        }
        (false, other) => {
            panic!("delete_by_field is not claimed, so it must answer unsupported, got {other:?}")
        }
    }
    let expired = store.delete_expired().await;
    match (caps.delete_expired, expired) {
        (true, Ok(_)) => {}
        (true, Err(e)) => panic!("delete_expired is claimed but failed: {e} ({e:?})"),
        (false, Err(e)) if e.is_unsupported() => {
            assert!(
                e.to_string().contains("delete_expired"),
                "the unsupported error must name the operation: {e}"
            );
        }
        (false, other) => {
            panic!("delete_expired is not claimed, so it must answer unsupported, got {other:?}")
        }
    }
    assert!(
        caps.native_ttl || caps.delete_expired,
        "a backend without a native TTL must implement (and claim) delete_expired, or expired records pile up"
    );
}
