//! Races through the real session API (login, permanence) and the binding
//! rule for `destroy`, with the interleavings forced by holding store calls
//! at a gate ([`PausingStore`](crate::PausingStore)), never by sleeps.

use std::sync::Arc;

use serde_json::json;
use session_plus_core::store::SessionStore;
use session_plus_core::{unix_now, Outcome};

use super::ok;
use super::session::{cookie, finish, get, max_age, start, App, Jar, CSRF, SID};
use crate::Op;

/// The conflict status a write gets when its session moved to a new id.
const CONFLICT: u16 = 409;

/// One request on `jar` that sets `field = value`; its outcome.
async fn write(app: &App, jar: &Jar, field: &str, value: u64) -> Outcome {
    let d = app.request(jar);
    let s = d.session();
    let _ = s.insert(field, value).await;
    drop(s);
    d.finish().await
}

/// A login (`cycle_id`) while other requests of the same browser write to the
/// old id: a write that lands before the move is carried over to the new id,
/// one that arrives after it gets 409 (never 200 for a dropped write), and a
/// request still carrying the old id sets no cookie at all.
pub async fn session_login_race_keeps_acknowledged_writes(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let jar = start(&app).await;
    let old = jar.sid();

    // The login request loads the session: its copy is stale from now on.
    let login = app.request(&jar);
    let ls = login.session();
    assert_eq!(get(ls.get::<u64>("user").await), Some(42));
    ok(ls.cycle_id().await, "cycle_id");
    ok(ls.insert("role", "admin").await, "insert");

    // A write that lands on the old id after the login loaded, before it saves.
    let early = write(&app, &jar, "early", 1).await;
    assert_eq!(
        early.status, None,
        "a write before the login failed: {:?}",
        early.error
    );

    // A write that loaded before the move but whose save reaches the store
    // after it.
    let held = app.request(&jar);
    ok(held.session().insert("held", 2).await, "insert");
    let mut gate = app.pausing.pause_next(Op::Update);
    let held = tokio::spawn(held.finish());
    gate.reached().await;

    let done = finish(login).await;
    let mut new_jar = jar.clone();
    new_jar.apply(&done);
    assert_ne!(new_jar.sid(), old, "the login kept the old id");
    gate.release();
    let held = held.await.expect("held request panicked");
    assert_eq!(
        held.status,
        Some(CONFLICT),
        "a write whose save came after the move must get a conflict, never success for a dropped write (error: {:?})",
        held.error
    );
    assert!(
        cookie(&held, SID).is_none(),
        "a refused write set the id cookie"
    );

    // Requests still carrying the old id after the move.
    let late = write(&app, &jar, "late", 3).await;
    assert_eq!(
        late.status,
        Some(CONFLICT),
        "a write to the old id after the move must get a conflict"
    );
    assert!(
        late.cookies.is_empty(),
        "a request with the old id set cookies after the login (it would clobber the new ones): {:?}",
        late.cookies
    );
    let d = app.request(&jar);
    assert_eq!(get(d.session().get::<u64>("user").await), None);
    let read = d.finish().await;
    assert_eq!(
        read.status, None,
        "a read-only request on the old id must not fail"
    );
    assert!(
        read.cookies.is_empty(),
        "a read-only request with the old id set cookies after the login: {:?}",
        read.cookies
    );

    // The new session holds everything that was acknowledged, and only that.
    let d = app.request(&new_jar);
    let map = ok(d.session().to_map().await, "to_map");
    assert_eq!(
        map.get("user"),
        Some(&json!(42)),
        "the login lost an old field"
    );
    assert_eq!(
        map.get("role"),
        Some(&json!("admin")),
        "the login lost its own write"
    );
    assert_eq!(
        map.get("early"),
        Some(&json!(1)),
        "a write acknowledged before the login was lost by the move"
    );
    assert!(
        !map.contains_key("held") && !map.contains_key("late"),
        "a refused write was applied"
    );
    assert_eq!(map.get(CSRF), Some(&json!("t0k3n")));
    finish(d).await;
}

/// A login racing many concurrent writers of the same session: every writer
/// that was told success (`status == None`) finds its field in the new
/// session; every other one got 409.
pub async fn session_login_race_with_concurrent_writers(store: Arc<dyn SessionStore>) {
    const WRITERS: u64 = 16;
    let app = Arc::new(App::new(store));
    let jar = start(&app).await;

    let login = app.request(&jar);
    let ls = login.session();
    ok(ls.cycle_id().await, "cycle_id");
    ok(ls.insert("role", "admin").await, "insert");
    drop(ls);
    // The move is held until the first half of the writers is done; the
    // second half races it for real.
    let mut gate = app.pausing.pause_next(Op::MoveTo);
    let login = tokio::spawn(login.finish());
    gate.reached().await;
    let spawn_writer = |i: u64| {
        let (app, jar) = (app.clone(), jar.clone());
        tokio::spawn(async move { (i, write(&app, &jar, &format!("w{i}"), i).await) })
    };
    let mut outcomes = Vec::new();
    for i in 0..WRITERS / 2 {
        outcomes.push(spawn_writer(i).await.expect("writer panicked"));
    }
    let second: Vec<_> = (WRITERS / 2..WRITERS).map(spawn_writer).collect();
    gate.release();
    for t in second {
        outcomes.push(t.await.expect("writer panicked"));
    }
    let done = login.await.expect("login panicked");
    assert_eq!(done.status, None, "the login failed: {:?}", done.error);
    let mut new_jar = jar.clone();
    new_jar.apply(&done);

    let d = app.request(&new_jar);
    let map = ok(d.session().to_map().await, "to_map");
    let (mut acked, mut refused) = (0, 0);
    for (i, outcome) in outcomes {
        let field = format!("w{i}");
        match outcome.status {
            None => {
                acked += 1;
                assert_eq!(
                    map.get(&field),
                    Some(&json!(i)),
                    "writer {i} was told success but its write is not in the new session"
                );
            }
            Some(CONFLICT) => {
                refused += 1;
                assert!(
                    !map.contains_key(&field),
                    "writer {i} got 409 but its write was applied"
                );
                assert!(
                    cookie(&outcome, SID).is_none(),
                    "writer {i} got 409 and set the id cookie"
                );
            }
            Some(other) => panic!("writer {i} got status {other}: {:?}", outcome.error),
        }
    }
    assert!(acked >= WRITERS / 2, "writers before the move must succeed");
    assert_eq!(map.get("role"), Some(&json!("admin")));
    eprintln!("login race: {acked} writes carried over, {refused} refused with 409");
}

/// After a login, a request still carrying the old cookies sets no cookie at
/// all, whatever it touches, so it cannot overwrite the new session's cookies
/// in the browser.
pub async fn session_old_cookies_after_login_set_no_cookie(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let jar = start(&app).await;
    let login = app.request(&jar);
    ok(login.session().cycle_id().await, "cycle_id");
    let done = finish(login).await;
    let mut new_jar = jar.clone();
    new_jar.apply(&done);

    // Writes only a field of the cookie interface.
    let d = app.request(&jar);
    let _ = d.session().insert(CSRF, "other").await;
    let out = d.finish().await;
    assert!(
        out.cookies.is_empty(),
        "a request with the pre-login cookies set cookies (status {:?}): {:?}",
        out.status,
        out.cookies
    );
    // The new session still works with the new cookies.
    let d = app.request(&new_jar);
    assert_eq!(
        get(d.session().get::<u64>("user").await),
        Some(42),
        "the login cookies stopped working"
    );
    assert_eq!(
        get(d.session().get::<String>(CSRF).await).as_deref(),
        Some("t0k3n")
    );
    finish(d).await;
}

/// `set_permanent(true)` racing a write to another field of the same session:
/// permanence and the permanent (31-day) expiry survive, and the racing write
/// does not re-issue a shorter cookie.
pub async fn session_permanence_race(store: Arc<dyn SessionStore>) {
    const DAY: i64 = 86_400;
    let app = App::new(store);
    let mut jar = start(&app).await;

    // Both requests load the non-permanent session first.
    let perm = app.request(&jar);
    let ps = perm.session();
    assert!(!ok(ps.is_permanent(SID).await, "is_permanent"));
    ok(ps.set_permanent(SID, true).await, "set_permanent");
    let other = app.request(&jar);
    let os = other.session();
    assert_eq!(get(os.get::<u64>("user").await), Some(42));
    ok(os.insert("other", 1).await, "insert");
    drop((ps, os));

    // The other write is in flight when set_permanent saves, and lands after it.
    let mut gate = app.pausing.pause_next(Op::Update);
    let other = tokio::spawn(other.finish());
    gate.reached().await;
    let done = finish(perm).await;
    jar.apply(&done);
    let age = max_age(cookie(&done, SID).expect("set_permanent must re-issue the id cookie"))
        .expect("a permanent cookie has Max-Age");
    assert!(age > 30 * DAY, "permanent cookie Max-Age={age}");
    gate.release();
    let done = other.await.expect("request panicked");
    assert_eq!(
        done.status, None,
        "the racing write failed: {:?}",
        done.error
    );
    if let Some(c) = cookie(&done, SID) {
        assert!(
            max_age(c).is_some_and(|a| a > 30 * DAY),
            "the racing write re-issued a shorter id cookie: {c}"
        );
    }
    jar.apply(&done);

    let rec = app.record(&jar.sid()).await.expect("record");
    assert!(
        rec.meta.permanent,
        "a concurrent write undid set_permanent(true)"
    );
    assert!(
        rec.meta.expires > unix_now() + 30 * DAY,
        "a concurrent write shortened the permanent TTL to {}s",
        rec.meta.expires - unix_now()
    );
    assert_eq!(
        rec.fields.get("other"),
        Some(&json!(1)),
        "the racing write was lost"
    );
    let d = app.request(&jar);
    assert!(ok(d.session().is_permanent(SID).await, "is_permanent"));
    finish(d).await;
}

/// A request whose cookies mix two sessions (the csrf cookie binds session X,
/// the id cookie names session Y's record) neither deletes nor changes Y's
/// record: `destroy` and `clear` leave it as it was.
pub async fn session_destroy_spares_other_sessions(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let x = start(&app).await;
    let y = start(&app).await;
    let y_before = app.record(&y.sid()).await.expect("Y's record");
    let mut mixed = x.clone();
    mixed.0.insert(SID.to_owned(), y.0[SID].clone());

    let d = app.request(&mixed);
    ok(d.session().destroy().await, "destroy");
    let _ = d.finish().await;
    assert!(
        app.has_live_record(&y.sid()).await,
        "destroy deleted a record whose binding belongs to another session"
    );

    let d = app.request(&mixed);
    ok(d.session().clear().await, "clear");
    let _ = d.finish().await;
    assert_eq!(
        app.record(&y.sid()).await.as_ref(),
        Some(&y_before),
        "clear() in a request bound to another session changed Y's record"
    );
    assert!(
        app.has_live_record(&x.sid()).await,
        "X's own record went without being asked"
    );
}

/// A write in a request whose cookies mix two sessions (the csrf cookie binds
/// session X, the id cookie names session Y's record) does not change Y's
/// record, even when the write touches only Y's interface.
pub async fn session_writes_spare_other_sessions(store: Arc<dyn SessionStore>) {
    let app = App::new(store);
    let x = start(&app).await;
    let y = start(&app).await;
    let y_before = app.record(&y.sid()).await.expect("Y's record");
    let mut mixed = x.clone();
    mixed.0.insert(SID.to_owned(), y.0[SID].clone());
    let d = app.request(&mixed);
    let _ = d.session().insert("user", 666).await;
    let _ = d.finish().await;
    assert_eq!(
        app.record(&y.sid()).await.as_ref(),
        Some(&y_before),
        "a request bound to another session changed Y's record"
    );
}
