//! Writing what changed, after the handler.

use std::sync::OnceLock;

use futures_util::future::join_all;

use super::{Load, Session, Slot, State};
use crate::id::random_token;
use crate::manager::{Kind, Resolved};
use crate::session::instrument::{record_key, timed};
use crate::set_cookie::SetCookie;
use crate::store::{Changes, MetaUpdate, Record, RecordMeta};
use crate::{unix_now, Error, Result, SessionId};

/// Seconds a tombstone left by `cycle_id` keeps the old id from being written
/// or restarted, so late requests of the logged-in browser cannot clobber the
/// new session's cookies.
pub(crate) const MOVED_GRACE_SECS: i64 = 120;

/// What the save produced, before the driver turns it into an outcome.
#[derive(Default)]
pub(crate) struct Saved {
    pub(crate) cookies: Vec<SetCookie>,
    pub(crate) error: Option<Error>,
}

impl Session {
    /// Write what changed. Called once, by the driver, after the handler.
    /// Interfaces save concurrently; a failure does not stop the others.
    pub(crate) async fn save(&self) -> Saved {
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Saved::default();
        }
        st.finished = true;
        if st.superseded.is_some() {
            // The session moved to a new id in a concurrent login: this request
            // writes nothing and sets no cookie (the browser already holds the
            // new ones). Writes were refused when attempted; make sure the
            // response says so even if the handler swallowed the error.
            let error = st
                .superseded_write
                .then(|| self.superseded_error(&st))
                .flatten();
            return Saved {
                cookies: Vec::new(),
                error,
            };
        }
        if let Err(e) = self.learn_binding(&mut st).await {
            return Saved {
                cookies: Vec::new(),
                error: Some(e),
            };
        }
        if let Err(e) = self.check_not_superseded(&mut st).await {
            return Saved {
                cookies: Vec::new(),
                error: Some(e),
            };
        }
        let now = unix_now();
        let cycle = st.cycle;
        let fresh_binding = OnceLock::new();
        let binding = Binding {
            known: st.binding.as_deref(),
            fresh: &fresh_binding,
        };
        // Interfaces the handler never reached have nothing to save.
        let saves: Vec<_> = st
            .slots
            .iter()
            .zip(&self.manager().interfaces)
            .filter(|(slot, _)| slot.load != Load::Pending)
            .map(|(slot, r)| save_one(r, slot, binding, cycle, now))
            .collect();
        let results = if saves.len() == 1 {
            let mut one = Vec::with_capacity(1);
            for save in saves {
                one.push(save.await);
            }
            one
        } else {
            join_all(saves).await
        };
        let mut out = Saved::default();
        for result in results {
            match result {
                Ok(Some(c)) => out.cookies.push(c),
                Ok(None) => {}
                Err(e) => {
                    out.error.get_or_insert(e);
                }
            }
        }
        out
    }

    /// A request that writes a cookie interface while carrying a server-side
    /// id it never loaded: load that id first (one read), so a request still
    /// carrying pre-login cookies cannot overwrite the cookies a concurrent
    /// login just issued. If the backend cannot answer, the cookie write goes
    /// ahead (cookie fields keep working while a backend is down).
    async fn check_not_superseded(&self, st: &mut State) -> Result<()> {
        if st.cycle {
            return Ok(());
        }
        let manager = self.manager();
        let writes_cookie = st.slots.iter().zip(&manager.interfaces).any(|(s, r)| {
            matches!(r.kind, Kind::Cookie(_)) && (s.dirty() || s.permanent.is_some())
        });
        if !writes_cookie {
            return Ok(());
        }
        let unverified = self.pending_with_cookie(st, false);
        if unverified.is_empty() {
            return Ok(());
        }
        let _ = self.ensure_loaded(st, &unverified).await;
        self.superseded_error(st).map_or(Ok(()), Err)
    }

    /// A new record or cookie must carry the binding of the session it joins.
    /// When this request created data in an interface without loading any
    /// other, load another interface the client has a cookie for (cookie
    /// interfaces first: they cost no I/O) to learn the binding.
    async fn learn_binding(&self, st: &mut State) -> Result<()> {
        if st.binding.is_some() || st.cycle {
            return Ok(());
        }
        let creates = st
            .slots
            .iter()
            .any(|s| s.load == Load::Done && s.meta.is_none() && !s.fields.is_empty());
        if !creates {
            return Ok(());
        }
        let cookies = self.pending_with_cookie(st, true);
        self.ensure_loaded(st, &cookies).await?;
        if st.binding.is_none() {
            let stores = self.pending_with_cookie(st, false);
            self.ensure_loaded(st, &stores).await?;
        }
        // Learning the binding may find the session moved: write nothing.
        self.superseded_error(st).map_or(Ok(()), Err)
    }
}

/// The session's binding value for records written now: the one loaded, or
/// a fresh one made on first need (shared by every interface of the request).
#[derive(Clone, Copy)]
struct Binding<'a> {
    known: Option<&'a str>,
    fresh: &'a OnceLock<String>,
}

impl Binding<'_> {
    fn value(self) -> String {
        match self.known {
            Some(b) => b.to_owned(),
            None => self.fresh.get_or_init(|| random_token(16)).clone(),
        }
    }
}

async fn save_one(
    r: &Resolved,
    slot: &Slot,
    binding: Binding<'_>,
    cycle: bool,
    now: i64,
) -> Result<Option<SetCookie>> {
    match slot.load {
        Load::Pending => return Ok(None),
        Load::Failed if slot.blocked_write => return Err(Error::unavailable(r.name())),
        Load::Failed => return Ok(None),
        Load::Done => {}
    }
    let old_permanent = slot.meta.as_ref().map(|m| m.permanent);
    let permanent = slot
        .permanent
        .or(old_permanent)
        .unwrap_or(r.config.permanent);
    let permanence_changed = old_permanent.map_or(slot.permanent.is_some(), |p| p != permanent);
    let refresh_interval = i64::try_from(r.config.refresh_interval.as_secs()).unwrap_or(i64::MAX);
    let refresh_due = slot
        .meta
        .as_ref()
        .is_some_and(|m| now.saturating_sub(m.accessed) >= refresh_interval);
    // The common read-only case: a live record or cookie, nothing to write.
    let unchanged = !slot.dirty() && !permanence_changed && !cycle && !refresh_due;
    if unchanged && slot.meta.is_some() && !slot.fields.is_empty() && slot.delete_ids.is_empty() {
        return Ok(None);
    }
    let expires = now.saturating_add(r.ttl_secs(permanent));
    let mut update = MetaUpdate::refresh(now, expires);
    if permanence_changed {
        update = update.with_permanent(permanent);
    }
    let cookie_max_age = r.cookie_max_age(permanent);
    let removal = || slot.raw.is_some().then(|| SetCookie::removal(&r.config));

    match &r.kind {
        Kind::Cookie(format) => {
            if slot.fields.is_empty() {
                return Ok(removal());
            }
            if !(slot.dirty() || permanence_changed || cycle || refresh_due || slot.meta.is_none())
            {
                return Ok(None);
            }
            let meta = RecordMeta::new(now, expires, binding.value())
                .with_permanent(permanent)
                .with_created(slot.meta.as_ref().map_or(now, |m| m.created));
            let value = format.encode(&Record::new(slot.fields.clone(), meta));
            let cookie = SetCookie::new(&r.config, &value, cookie_max_age, now);
            if cookie.pair_len() > crate::cookie_format::MAX_COOKIE_BYTES {
                return Err(Error::cookie_too_large(r.name(), cookie.pair_len()));
            }
            Ok(Some(cookie))
        }
        Kind::Store {
            store,
            signer,
            prefix,
        } => {
            for old in &slot.delete_ids {
                timed(r, "delete", store.delete(&record_key(prefix, old))).await?;
            }
            let id_cookie = |id: &SessionId| {
                let value = match signer {
                    Some(s) => s.sign(id),
                    None => id.as_str().to_owned(),
                };
                SetCookie::new(&r.config, &value, cookie_max_age, now)
            };
            if slot.fields.is_empty() && !(cycle && slot.id.is_some()) {
                if let Some(id) = &slot.id {
                    timed(r, "delete", store.delete(&record_key(prefix, id))).await?;
                }
                return Ok(removal());
            }
            let changes = || {
                let mut c = Changes::new(update.clone());
                for f in &slot.set {
                    if let Some(v) = slot.fields.get(f) {
                        c = c.set(f.clone(), v.clone());
                    }
                }
                for f in &slot.removed {
                    c = c.remove(f.clone());
                }
                c
            };
            match &slot.id {
                Some(id) if !cycle => {
                    if slot.dirty() || permanence_changed {
                        if !timed(
                            r,
                            "update",
                            store.update(&record_key(prefix, id), &changes()),
                        )
                        .await?
                        {
                            return Err(Error::ended(r.name()));
                        }
                    } else if refresh_due {
                        // A vanished record on a read-only request loses nothing.
                        timed(r, "touch", store.touch(&record_key(prefix, id), &update)).await?;
                    } else {
                        return Ok(None);
                    }
                    Ok((permanence_changed || cookie_max_age.is_some()).then(|| id_cookie(id)))
                }
                Some(old) => {
                    // Login: move atomically, carrying over every write that
                    // reached the old id before the move.
                    let new_id = SessionId::generate();
                    let moved = timed(
                        r,
                        "move",
                        store.move_to(
                            &record_key(prefix, old),
                            &record_key(prefix, &new_id),
                            &changes(),
                            &binding.value(),
                            now.saturating_add(MOVED_GRACE_SECS),
                        ),
                    )
                    .await?;
                    if !moved {
                        return Err(Error::ended(r.name()));
                    }
                    Ok(Some(id_cookie(&new_id)))
                }
                None => {
                    let meta =
                        RecordMeta::new(now, expires, binding.value()).with_permanent(permanent);
                    let record = Record::new(slot.fields.clone(), meta);
                    // 256-bit ids do not collide; the retry guards against a broken RNG.
                    for _ in 0..3 {
                        let id = SessionId::generate();
                        if timed(r, "create", store.create(&record_key(prefix, &id), &record))
                            .await?
                        {
                            return Ok(Some(id_cookie(&id)));
                        }
                    }
                    Err(Error::backend(
                        r.name(),
                        "could not allocate a fresh session id",
                    ))
                }
            }
        }
    }
}
