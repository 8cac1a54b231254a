//! The per-request session: the handler's [`Session`] handle and the
//! adapter's [`SessionDriver`](crate::SessionDriver) share one state.
//!
//! - `handle` (this file): what a handler may do;
//! - [`load`]: parsing the request's cookies and loading interfaces;
//! - [`save`]: writing what changed after the handler;
//! - [`instrument`]: timeouts, spans and metrics around backend calls.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::check_field_name;
use crate::store::{Fields, RecordMeta};
use crate::{Error, Result, SessionId, SessionManager};

pub(crate) mod instrument;
pub(crate) mod load;
pub(crate) mod save;

/// Whether an interface has been loaded in this request.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    #[default]
    Pending,
    Done,
    Failed,
}

/// One interface's state during a request.
#[derive(Default)]
pub(crate) struct Slot {
    /// The cookie value the client sent.
    pub(crate) raw: Option<String>,
    pub(crate) load: Load,
    /// Meta of the live record or cookie loaded (None: there was none).
    pub(crate) meta: Option<RecordMeta>,
    /// Id of the live server-side record.
    pub(crate) id: Option<SessionId>,
    pub(crate) fields: Fields,
    pub(crate) set: BTreeSet<String>,
    pub(crate) removed: BTreeSet<String>,
    /// Permanence chosen in this request.
    pub(crate) permanent: Option<bool>,
    /// Server-side records to delete when saving (each proven to be this
    /// session's: loaded, binding checked).
    pub(crate) delete_ids: Vec<SessionId>,
    /// The handler tried to change this interface although it failed to load.
    pub(crate) blocked_write: bool,
}

impl Slot {
    pub(crate) fn dirty(&self) -> bool {
        !self.set.is_empty() || !self.removed.is_empty()
    }
}

pub(crate) struct State {
    pub(crate) slots: Vec<Slot>,
    /// The binding value of this session (see [`RecordMeta::binding`]).
    pub(crate) binding: Option<String>,
    /// The binding was learnt from a cookie interface (cookies are the
    /// authority: a planted server-side id cannot override them).
    pub(crate) binding_from_cookie: bool,
    pub(crate) cycle: bool,
    /// A record of this request was a tombstone: a concurrent login moved the
    /// session. Writes are refused and no cookie is set.
    pub(crate) superseded: Option<usize>,
    /// The handler tried to write while superseded.
    pub(crate) superseded_write: bool,
    pub(crate) finished: bool,
}

pub(crate) struct Shared {
    pub(crate) manager: Arc<SessionManager>,
    /// The request's `Cookie` header values, joined by `;` (raw bytes: a pair
    /// that is not visible ASCII is skipped when parsed, not the whole header).
    pub(crate) cookies: Vec<u8>,
    pub(crate) touched: AtomicBool,
    pub(crate) state: tokio::sync::Mutex<State>,
}

/// The session of one request: a single key/value map whose fields live in the
/// interfaces that own them.
///
/// Handlers get it from their framework's extractor (`session-plus` for
/// axum/tower, `session-plus-actix` for actix-web). It is cheap to clone (all
/// clones share one state). Interfaces load lazily, the first time a field they
/// own is read or written; loads needed together run concurrently. Nothing is
/// written until the request ends: the adapter's
/// [`SessionDriver`](crate::SessionDriver) saves after the handler, and a
/// handler cannot reach it:
///
/// ```compile_fail
/// async fn handler(session: session_plus_core::Session) {
///     session.finish().await; // only the adapter's driver can finish a request
/// }
/// ```
///
/// ```compile_fail
/// fn handler(session: session_plus_core::Session) -> bool {
///     session.was_accessed() // adapter-side only
/// }
/// ```
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_core::{FieldRules, Interface, Key, MemoryStore, SessionDriver, SessionManager};
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
/// let driver = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
/// let session = driver.session();
/// session.insert("user_id", 42_u64).await.unwrap();
/// session.insert("csrf_token", "t0k3n").await.unwrap();
/// let done = driver.finish().await;
/// assert!(done.error.is_none());
/// assert_eq!(done.cookies.len(), 2);
///
/// // Second request: the browser sends both cookies back.
/// let header = done.cookie_header();
/// let driver = SessionDriver::new(manager, [header.as_bytes()]);
/// let session = driver.session();
/// assert_eq!(session.get::<u64>("user_id").await.unwrap(), Some(42));
/// assert_eq!(session.get::<String>("csrf_token").await.unwrap().as_deref(), Some("t0k3n"));
/// # });
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Shared>,
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

impl Session {
    pub(crate) fn from_cookies<'a>(
        manager: Arc<SessionManager>,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        // Only copied here; parsed on first use, so a request that never
        // touches the session pays one copy and nothing else.
        let mut cookies = Vec::new();
        for header in cookie_headers {
            if !cookies.is_empty() {
                cookies.push(b';');
            }
            cookies.extend_from_slice(header);
        }
        Self {
            inner: Arc::new(Shared {
                manager,
                cookies,
                touched: AtomicBool::new(false),
                state: tokio::sync::Mutex::new(State {
                    slots: Vec::new(),
                    binding: None,
                    binding_from_cookie: false,
                    cycle: false,
                    superseded: None,
                    superseded_write: false,
                    finished: false,
                }),
            }),
        }
    }

    pub(crate) fn manager(&self) -> &SessionManager {
        &self.inner.manager
    }

    pub(crate) fn was_touched(&self) -> bool {
        self.inner.touched.load(Ordering::Relaxed)
    }

    async fn state(&self) -> Result<tokio::sync::MutexGuard<'_, State>> {
        self.inner.touched.store(true, Ordering::Relaxed);
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Err(Error::closed());
        }
        if st.slots.is_empty() {
            st.slots = load::parse_cookies(self.manager(), &self.inner.cookies);
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
        self.manager().check_reserved(field, owners)?;
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
        self.manager().check_reserved(field, owners)?;
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
        self.manager().check_reserved(field, owners)?;
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
        let all = self.all();
        let mut st = self.state().await?;
        self.ensure_loaded(&mut st, &all).await?;
        let mut map = Fields::new();
        for (slot, r) in st.slots.iter().zip(&self.manager().interfaces) {
            map.extend(
                slot.fields
                    .iter()
                    .filter(|(k, _)| !r.reserves(k))
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        Ok(map)
    }

    /// Remove every field of every interface: records are deleted and cookies
    /// expired when the response is sent. Interfaces the client has a cookie for
    /// are loaded first, so that only records proven to belong to this session
    /// (binding checked) are deleted.
    pub async fn clear(&self) -> Result<()> {
        let all = self.all();
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, &all).await?;
        Self::clear_locked(&mut st);
        Ok(())
    }

    fn clear_locked(st: &mut State) {
        for slot in st.slots.iter_mut() {
            let id = slot.id.take();
            slot.delete_ids.extend(id);
            slot.fields.clear();
            slot.set.clear();
            slot.removed.clear();
            slot.meta = None;
            slot.permanent = None;
            slot.blocked_write = false;
        }
    }

    /// Log out: delete every server record and expire every cookie of this
    /// session. The old ids are dead afterwards. Fields inserted after this call
    /// start a new session with new ids. Records whose binding shows they belong
    /// to another session are never deleted.
    pub async fn destroy(&self) -> Result<()> {
        let all = self.all();
        let mut st = self.state().await?;
        self.ensure_writable(&mut st, &all).await?;
        Self::clear_locked(&mut st);
        st.binding = None;
        Ok(())
    }

    /// Give every server-side interface a new id, moving its data and leaving
    /// the old id as a short-lived tombstone, and re-issue every cookie (call it
    /// at login or any privilege change, against session fixation). Writes that
    /// concurrent requests made to the old id before the move are carried over;
    /// later ones are refused with a conflict error (409), never lost silently.
    pub async fn cycle_id(&self) -> Result<()> {
        let all = self.all();
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

    fn all(&self) -> Vec<usize> {
        (0..self.manager().interfaces.len()).collect()
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

    /// Load, then refuse if any of `idxs` could not be loaded (remembering the
    /// attempt so the response becomes an error even if the handler ignores
    /// it), or if the session moved to a new id in a concurrent login.
    async fn ensure_writable(&self, st: &mut State, idxs: &[usize]) -> Result<()> {
        // Before anything is changed, the cookie interfaces the client sent
        // (no I/O: a MAC check each) fix the session's binding, so a record
        // named by a planted id of another session is never modified.
        self.load_cookie_interfaces(st).await;
        let res = self.ensure_loaded(st, idxs).await;
        if res.is_err() {
            for &i in idxs {
                if st.slots[i].load == Load::Failed {
                    st.slots[i].blocked_write = true;
                }
            }
        }
        res?;
        if let Some(e) = self.superseded_error(st) {
            st.superseded_write = true;
            return Err(e);
        }
        Ok(())
    }
}
