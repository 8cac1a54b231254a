//! The per-request session handle: one map over every interface.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument as _;

use crate::config::check_field_name;
use crate::id::random_token;
use crate::manager::{Kind, Resolved};
use crate::set_cookie::SetCookie;
use crate::store::{Changes, Fields, Record, RecordMeta};
use crate::{unix_now, Error, RecordKey, Result, SessionId, SessionManager};

/// Whether an interface has been loaded in this request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Load {
    #[default]
    Pending,
    Done,
    Failed,
}

/// One interface's state during a request.
#[derive(Default)]
struct Slot {
    /// The cookie value the client sent.
    raw: Option<String>,
    load: Load,
    /// Meta of the live record or cookie loaded (None: there was none).
    meta: Option<RecordMeta>,
    /// Id of the live server-side record.
    id: Option<SessionId>,
    fields: Fields,
    set: BTreeSet<String>,
    removed: BTreeSet<String>,
    /// Permanence chosen in this request.
    permanent: Option<bool>,
    /// Server-side records to delete when saving.
    delete_ids: Vec<SessionId>,
    /// The handler tried to change this interface although it failed to load.
    blocked_write: bool,
}

impl Slot {
    fn dirty(&self) -> bool {
        !self.set.is_empty() || !self.removed.is_empty()
    }
}

struct State {
    slots: Vec<Slot>,
    /// The binding value of this session (see [`RecordMeta::binding`]).
    binding: Option<String>,
    cycle: bool,
    finished: bool,
}

struct Shared {
    manager: Arc<SessionManager>,
    /// The request's `Cookie` header values, joined.
    cookies: String,
    touched: AtomicBool,
    state: tokio::sync::Mutex<State>,
}

/// The session of one request: a single key/value map whose fields live in the
/// interfaces that own them.
///
/// Cheap to clone (all clones share one state). Interfaces load lazily, the
/// first time a field they own is read or written; loads needed together run
/// concurrently. Nothing is written until [`Session::finish`], which the HTTP
/// layer calls after the handler.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface, Key, MemoryStore, Session, SessionManager};
///
/// let manager = Arc::new(
///     SessionManager::builder()
///         .keys(Key::generate())
///         .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
///         .interface(Interface::store("session", Arc::new(MemoryStore::new())).fields(FieldRules::Auto))
///         .build()
///         .unwrap(),
/// );
/// // First request: no cookies.
/// let session = Session::new(manager.clone(), std::iter::empty());
/// session.insert("user_id", 42_u64).await.unwrap();
/// session.insert("csrf_token", "t0k3n").await.unwrap();
/// let done = session.finish().await;
/// assert!(done.error.is_none());
/// assert_eq!(done.cookies.len(), 2);
///
/// // Second request: the browser sends both cookies back.
/// let header: Vec<String> = done.cookies.iter()
///     .map(|c| c.header_value().split(';').next().unwrap().to_owned())
///     .collect();
/// let session = Session::new(manager, [header.join("; ").as_str()]);
/// assert_eq!(session.get::<u64>("user_id").await.unwrap(), Some(42));
/// assert_eq!(session.get::<String>("csrf_token").await.unwrap().as_deref(), Some("t0k3n"));
/// # });
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Shared>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field(
                "interfaces",
                &self.inner.manager.cookie_names().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What the HTTP layer must do after the handler: see [`Session::finish`].
#[derive(Debug, Default)]
pub struct Finish {
    /// Cookies to set (including removals), in configuration order.
    pub cookies: Vec<SetCookie>,
    /// The session was read or written: responses should carry `Vary: Cookie`.
    pub accessed: bool,
    /// A save failed (or a change could not be saved): the response must become
    /// an error. Cookies of interfaces that did save are still in `cookies`.
    pub error: Option<Error>,
}

/// Result of loading one interface.
enum Loaded {
    Absent {
        stale: Option<SessionId>,
    },
    Present {
        id: Option<SessionId>,
        record: Record,
    },
    Failed(Error),
}

impl Session {
    /// A session for a request that carried these `Cookie` header values.
    /// Only cookies named like a configured interface count (the first of each
    /// name); nothing is parsed, verified or loaded until the session is used.
    pub fn new<'a>(
        manager: Arc<SessionManager>,
        cookie_headers: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        // Only copied here; parsed on first use, so a request that never
        // touches the session pays one copy and nothing else.
        let mut cookies = String::new();
        for header in cookie_headers {
            if !cookies.is_empty() {
                cookies.push(';');
            }
            cookies.push_str(header);
        }
        Self {
            inner: Arc::new(Shared {
                manager,
                cookies,
                touched: AtomicBool::new(false),
                state: tokio::sync::Mutex::new(State {
                    slots: Vec::new(),
                    binding: None,
                    cycle: false,
                    finished: false,
                }),
            }),
        }
    }

    /// One slot per interface, holding the first cookie of its name.
    fn parse_cookies(&self) -> Vec<Slot> {
        let manager = self.manager();
        let mut slots: Vec<Slot> = manager.interfaces.iter().map(|_| Slot::default()).collect();
        for pair in self.inner.cookies.split(';') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let Some(i) = manager.index_of(name.trim()) else {
                continue;
            };
            if slots[i].raw.is_none() {
                let v = value.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                slots[i].raw = Some(v.to_owned());
            }
        }
        slots
    }

    fn manager(&self) -> &SessionManager {
        &self.inner.manager
    }

    async fn state(&self) -> Result<tokio::sync::MutexGuard<'_, State>> {
        self.inner.touched.store(true, Ordering::Relaxed);
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Err(Error::unavailable("(session already saved)"));
        }
        if st.slots.is_empty() {
            st.slots = self.parse_cookies();
        }
        Ok(st)
    }

    /// The value of `field`, deserialized as `T`; `None` if absent or no
    /// interface owns it.
    pub async fn get<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        match self.get_value(field).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Error::serialization(field, e)),
        }
    }

    /// The raw JSON value of `field`.
    pub async fn get_value(&self, field: &str) -> Result<Option<serde_json::Value>> {
        check_field_name(field)?;
        let owners = self.manager().router.owners(field);
        let mut st = self.state().await?;
        self.ensure_loaded(&mut st, owners).await?;
        // The last configured owner holding the field wins.
        Ok(owners
            .iter()
            .rev()
            .find_map(|&i| st.slots[i].fields.get(field))
            .cloned())
    }

    /// Whether `field` holds a value.
    pub async fn contains(&self, field: &str) -> Result<bool> {
        Ok(self.get_value(field).await?.is_some())
    }

    /// Set `field` in every interface that owns it. A field no interface owns is
    /// an error, never silently dropped. Setting a field to the value it already
    /// has changes nothing (and writes nothing).
    pub async fn insert<T: Serialize>(&self, field: &str, value: T) -> Result<()> {
        check_field_name(field)?;
        let value = serde_json::to_value(value).map_err(|e| Error::serialization(field, e))?;
        let owners = self.manager().router.owners(field);
        if owners.is_empty() {
            return Err(Error::unknown_field(field));
        }
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, owners).await?;
        for &i in owners {
            let slot = &mut st.slots[i];
            if slot.fields.get(field) != Some(&value) {
                slot.fields.insert(field.to_owned(), value.clone());
                slot.removed.remove(field);
                slot.set.insert(field.to_owned());
            }
        }
        Ok(())
    }

    /// Remove `field` everywhere, returning its value.
    pub async fn remove<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        match self.remove_value(field).await? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Error::serialization(field, e)),
        }
    }

    /// Remove `field` everywhere, returning its raw value.
    pub async fn remove_value(&self, field: &str) -> Result<Option<serde_json::Value>> {
        check_field_name(field)?;
        let owners = self.manager().router.owners(field);
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, owners).await?;
        let mut out = None;
        for &i in owners {
            let slot = &mut st.slots[i];
            if let Some(v) = slot.fields.remove(field) {
                slot.set.remove(field);
                slot.removed.insert(field.to_owned());
                out = Some(v);
            }
        }
        Ok(out)
    }

    /// Every field name in the session, sorted (loads every interface).
    pub async fn keys(&self) -> Result<Vec<String>> {
        Ok(self.to_map().await?.into_keys().collect())
    }

    /// The whole session as one map (loads every interface).
    pub async fn to_map(&self) -> Result<Fields> {
        let all: Vec<usize> = (0..self.manager().interfaces.len()).collect();
        let mut st = self.state().await?;
        self.ensure_loaded(&mut st, &all).await?;
        let mut map = Fields::new();
        for slot in &st.slots {
            map.extend(slot.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(map)
    }

    /// Remove every field of every interface: records are deleted and cookies
    /// expired when the response is sent. Needs no backend read.
    pub async fn clear(&self) -> Result<()> {
        let mut st = self.state().await?;
        self.clear_locked(&mut st);
        Ok(())
    }

    fn clear_locked(&self, st: &mut State) {
        for (slot, r) in st.slots.iter_mut().zip(&self.manager().interfaces) {
            let id = match slot.load {
                Load::Done => slot.id.take(),
                Load::Pending | Load::Failed => parse_id(r, slot.raw.as_deref()),
            };
            slot.delete_ids.extend(id);
            slot.fields.clear();
            slot.set.clear();
            slot.removed.clear();
            slot.meta = None;
            slot.permanent = None;
            slot.blocked_write = false;
            slot.load = Load::Done;
        }
    }

    /// Log out: delete every server record and expire every cookie of this
    /// session. The old ids are dead afterwards. Fields inserted after this call
    /// start a new session with new ids.
    pub async fn destroy(&self) -> Result<()> {
        let mut st = self.state().await?;
        self.clear_locked(&mut st);
        st.binding = None;
        Ok(())
    }

    /// Give every server-side interface a new id, moving its data and deleting
    /// the old record, and re-issue every cookie (call it at login or any
    /// privilege change, against session fixation).
    pub async fn cycle_id(&self) -> Result<()> {
        let all: Vec<usize> = (0..self.manager().interfaces.len()).collect();
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, &all).await?;
        st.cycle = true;
        st.binding = None;
        Ok(())
    }

    /// Make the interface named `cookie_name` permanent (server TTL and cookie
    /// expiry from `session_permanent_lifetime`) or not. Kept across requests.
    pub async fn set_permanent(&self, cookie_name: &str, permanent: bool) -> Result<()> {
        let i = self.interface_index(cookie_name)?;
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, &[i]).await?;
        st.slots[i].permanent = Some(permanent);
        Ok(())
    }

    /// Whether the interface named `cookie_name` is permanent.
    pub async fn is_permanent(&self, cookie_name: &str) -> Result<bool> {
        let i = self.interface_index(cookie_name)?;
        let mut st = self.state().await?;
        self.ensure_loaded(&mut st, &[i]).await?;
        let slot = &st.slots[i];
        Ok(slot
            .permanent
            .or(slot.meta.as_ref().map(|m| m.permanent))
            .unwrap_or(self.manager().interfaces[i].config.permanent))
    }

    /// Whether the handler used the session at all.
    pub fn was_accessed(&self) -> bool {
        self.inner.touched.load(Ordering::Relaxed)
    }

    fn interface_index(&self, cookie_name: &str) -> Result<usize> {
        self.manager().index_of(cookie_name).ok_or_else(|| {
            Error::config(
                cookie_name,
                "cookie_name",
                "no interface has this cookie name",
            )
        })
    }

    /// Load, then refuse if any of `idxs` could not be loaded: remembering the
    /// attempt so the response becomes an error even if the handler ignores it.
    async fn ensure_writable(&self, st: &mut State, idxs: &[usize]) -> Result<()> {
        let res = self.ensure_loaded(st, idxs).await;
        if res.is_err() {
            for &i in idxs {
                if st.slots[i].load == Load::Failed {
                    st.slots[i].blocked_write = true;
                }
            }
        }
        res
    }

    /// Load every pending interface of `idxs`, concurrently.
    async fn ensure_loaded(&self, st: &mut State, idxs: &[usize]) -> Result<()> {
        let manager = self.manager();
        let pending: Vec<usize> = idxs
            .iter()
            .copied()
            .filter(|&i| st.slots[i].load == Load::Pending)
            .collect();
        let mut first_err = None;
        if !pending.is_empty() {
            let now = unix_now();
            let load = |i: usize| load_one(&manager.interfaces[i], st.slots[i].raw.as_deref(), now);
            let results = match pending[..] {
                [only] => vec![load(only).await],
                _ => join_all(pending.iter().map(|&i| load(i))).await,
            };
            for (&i, result) in pending.iter().zip(results) {
                let name = manager.interfaces[i].name();
                let slot = &mut st.slots[i];
                match result {
                    Loaded::Failed(e) => {
                        slot.load = Load::Failed;
                        first_err.get_or_insert(e);
                        continue;
                    }
                    Loaded::Absent { stale } => slot.delete_ids.extend(stale),
                    Loaded::Present { id, record } => {
                        let b = &record.meta.binding;
                        match &st.binding {
                            Some(bound) if !b.is_empty() && bound != b => {
                                tracing::warn!(
                                    interface = name,
                                    "session cookie belongs to a different session; ignored"
                                );
                            }
                            _ => {
                                if !b.is_empty() {
                                    st.binding.get_or_insert_with(|| b.clone());
                                }
                                let slot = &mut st.slots[i];
                                slot.id = id;
                                slot.fields = record.fields;
                                slot.meta = Some(record.meta);
                            }
                        }
                    }
                }
                st.slots[i].load = Load::Done;
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        match idxs.iter().find(|&&i| st.slots[i].load == Load::Failed) {
            Some(&i) => Err(Error::unavailable(manager.interfaces[i].name())),
            None => Ok(()),
        }
    }

    /// Write what changed. Called once, by the HTTP layer, after the handler.
    /// Interfaces save concurrently; a failure does not stop the others.
    pub async fn finish(&self) -> Finish {
        if !self.was_accessed() {
            return Finish::default();
        }
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Finish::default();
        }
        let mut out = Finish {
            accessed: true,
            ..Finish::default()
        };
        if let Err(e) = self.learn_binding(&mut st).await {
            out.error = Some(e);
            st.finished = true;
            return out;
        }
        st.finished = true;
        let now = unix_now();
        let cycle = st.cycle;
        // Interfaces the handler never reached have nothing to save.
        let fresh_binding = OnceLock::new();
        let binding = Binding {
            known: st.binding.as_deref(),
            fresh: &fresh_binding,
        };
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
}

impl Session {
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
        let manager = self.manager();
        let unloaded = |st: &State, cookie_kind: bool| -> Vec<usize> {
            st.slots
                .iter()
                .zip(&manager.interfaces)
                .enumerate()
                .filter(|(_, (s, r))| {
                    s.load == Load::Pending
                        && s.raw.is_some()
                        && matches!(r.kind, Kind::Cookie(_)) == cookie_kind
                })
                .map(|(i, _)| i)
                .collect()
        };
        let cookies = unloaded(st, true);
        self.ensure_loaded(st, &cookies).await?;
        if st.binding.is_none() {
            let stores = unloaded(st, false);
            self.ensure_loaded(st, &stores).await?;
        }
        Ok(())
    }
}

fn parse_id(r: &Resolved, raw: Option<&str>) -> Option<SessionId> {
    let Kind::Store { signer, .. } = &r.kind else {
        return None;
    };
    let raw = raw?;
    match signer {
        Some(s) => s.unsign(raw),
        None => SessionId::parse(raw),
    }
}

fn absolute_expired(r: &Resolved, meta: &RecordMeta, now: i64) -> bool {
    r.config
        .absolute_lifetime
        .is_some_and(|d| meta.created + i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4) <= now)
}

fn record_key(prefix: &Arc<str>, id: &SessionId) -> RecordKey {
    RecordKey::new(prefix.clone(), id.clone())
}

/// Run one backend call under the interface's timeout, with a span and metrics.
async fn timed<T>(
    r: &Resolved,
    op: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let name = r.name();
    let start = Instant::now();
    let span = tracing::debug_span!("session_plus.backend", interface = name, op);
    let res = match tokio::time::timeout(r.config.timeout, fut.instrument(span)).await {
        Ok(res) => res.map_err(|e| e.in_interface(name)),
        Err(_) => Err(Error::timeout(name, r.config.timeout)),
    };
    let labels = [("interface", r.label), ("op", op)];
    metrics::histogram!("session_plus_backend_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    if let Err(e) = &res {
        metrics::counter!("session_plus_backend_errors_total", &labels).increment(1);
        tracing::warn!(interface = name, op, error = %e, "session backend call failed");
    }
    res
}

async fn load_one(r: &Resolved, raw: Option<&str>, now: i64) -> Loaded {
    let absent = Loaded::Absent { stale: None };
    let Some(raw_value) = raw else { return absent };
    match &r.kind {
        Kind::Cookie(format) => match format.decode(raw_value, now) {
            Some(record) if !absolute_expired(r, &record.meta, now) => {
                Loaded::Present { id: None, record }
            }
            Some(_) => absent,
            None => {
                tracing::warn!(
                    interface = r.name(),
                    "session cookie failed verification or expired; starting fresh"
                );
                absent
            }
        },
        Kind::Store { store, prefix, .. } => {
            let Some(id) = parse_id(r, raw) else {
                tracing::warn!(
                    interface = r.name(),
                    "malformed or badly signed session id; starting fresh"
                );
                return absent;
            };
            let key = record_key(prefix, &id);
            match timed(r, "load", store.load(&key)).await {
                Err(e) => Loaded::Failed(e),
                // Strict mode: an id without a record is never adopted.
                Ok(None) => absent,
                Ok(Some(record)) if absolute_expired(r, &record.meta, now) => {
                    Loaded::Absent { stale: Some(id) }
                }
                Ok(Some(record)) => Loaded::Present {
                    id: Some(id),
                    record,
                },
            }
        }
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
        .is_some_and(|m| now - m.accessed >= refresh_interval);
    // The common read-only case: a live record or cookie, nothing to write.
    let unchanged = !slot.dirty() && !permanence_changed && !cycle && !refresh_due;
    if unchanged && slot.meta.is_some() && !slot.fields.is_empty() && slot.delete_ids.is_empty() {
        return Ok(None);
    }
    let meta = RecordMeta {
        permanent,
        created: slot.meta.as_ref().map_or(now, |m| m.created),
        accessed: now,
        expires: now.saturating_add(r.ttl_secs(permanent)),
        binding: binding.value(),
    };
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
            let value = format.encode(&Record {
                fields: slot.fields.clone(),
                meta,
            });
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
            if slot.fields.is_empty() {
                if let Some(id) = &slot.id {
                    timed(r, "delete", store.delete(&record_key(prefix, id))).await?;
                }
                return Ok(removal());
            }
            match &slot.id {
                Some(id) if !cycle => {
                    if slot.dirty() || permanence_changed {
                        let changes = Changes {
                            set: slot
                                .set
                                .iter()
                                .filter_map(|f| slot.fields.get_key_value(f))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                            remove: slot.removed.iter().cloned().collect(),
                            meta,
                        };
                        if !timed(r, "update", store.update(&record_key(prefix, id), &changes))
                            .await?
                        {
                            return Err(Error::ended(r.name()));
                        }
                    } else if refresh_due {
                        // A vanished record on a read-only request loses nothing.
                        timed(r, "touch", store.touch(&record_key(prefix, id), &meta)).await?;
                    } else {
                        return Ok(None);
                    }
                    Ok((permanence_changed || cookie_max_age.is_some()).then(|| id_cookie(id)))
                }
                old => {
                    let record = Record {
                        fields: slot.fields.clone(),
                        meta,
                    };
                    let mut new_id = None;
                    // 256-bit ids do not collide; the retry guards against a broken RNG.
                    for _ in 0..3 {
                        let id = SessionId::generate();
                        if timed(r, "create", store.create(&record_key(prefix, &id), &record))
                            .await?
                        {
                            new_id = Some(id);
                            break;
                        }
                    }
                    let Some(new_id) = new_id else {
                        return Err(Error::backend(
                            r.name(),
                            "could not allocate a fresh session id",
                        ));
                    };
                    if let Some(old) = old {
                        timed(r, "delete", store.delete(&record_key(prefix, old))).await?;
                    }
                    Ok(Some(id_cookie(&new_id)))
                }
            }
        }
    }
}
