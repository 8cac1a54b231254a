//! Parsing the request's cookies and loading interfaces.

use futures_util::future::join_all;

use super::{Load, Session, Slot, State};
use crate::manager::{Kind, Resolved};
use crate::session::instrument::{record_key, timed};
use crate::store::Record;
use crate::{unix_now, Error, Result, SessionId, SessionManager};

/// One slot per interface, holding the first cookie of its name.
///
/// The header is split on `;` as raw bytes; a pair that is not visible ASCII
/// (e.g. another app's `theme=José`) is skipped on its own, so one foreign
/// cookie never hides the session's cookies.
pub(crate) fn parse_cookies(manager: &SessionManager, header: &[u8]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = manager.interfaces.iter().map(|_| Slot::default()).collect();
    for pair in header.split(|&b| b == b';') {
        let Ok(pair) = std::str::from_utf8(pair) else {
            continue;
        };
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let Some(i) = manager.index_of(name.trim()) else {
            continue;
        };
        if slots[i].raw.is_some() {
            continue;
        }
        let v = value.trim_matches([' ', '\t']);
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        // RFC 6265 cookie-octets: our own values are always within them.
        if !v
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b',' && b != b'\\')
        {
            continue;
        }
        slots[i].raw = Some(v.to_owned());
    }
    slots
}

/// Result of loading one interface.
pub(crate) enum Loaded {
    Absent {
        stale: Option<SessionId>,
    },
    Present {
        id: Option<SessionId>,
        record: Record,
    },
    /// The id names a tombstone: the session moved in a concurrent login.
    Moved,
    Failed(Error),
}

impl Session {
    /// Load every pending interface of `idxs`, concurrently.
    pub(crate) async fn ensure_loaded(&self, st: &mut State, idxs: &[usize]) -> Result<()> {
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
                    Loaded::Moved => {
                        tracing::info!(
                            interface = name,
                            "session moved to a new id by a concurrent login; this request sets no cookie and cannot write"
                        );
                        st.superseded.get_or_insert(i);
                    }
                    Loaded::Present { id, record } => {
                        let is_cookie = id.is_none();
                        let b = &record.meta.binding;
                        match &st.binding {
                            Some(bound) if !b.is_empty() && bound != b => {
                                if is_cookie && !st.binding_from_cookie {
                                    // A server-side record set the binding, but
                                    // the client's cookies belong to another
                                    // session: the record's id was planted.
                                    // Cookies win; the record is disowned.
                                    tracing::warn!(
                                        interface = name,
                                        "server-side session id belongs to a different session than the cookies; ignored"
                                    );
                                    disown(st, b.clone());
                                    adopt(&mut st.slots[i], None, record);
                                } else {
                                    tracing::warn!(
                                        interface = name,
                                        "session cookie belongs to a different session; ignored"
                                    );
                                }
                            }
                            _ => {
                                if !b.is_empty() && st.binding.is_none() {
                                    st.binding = Some(b.clone());
                                    st.binding_from_cookie = is_cookie;
                                }
                                adopt(&mut st.slots[i], id, record);
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
}

fn adopt(slot: &mut Slot, id: Option<SessionId>, record: Record) {
    slot.id = id;
    slot.fields = record.fields;
    slot.meta = Some(record.meta);
}

/// Forget every server-side record adopted under the current binding and
/// bind the session to `binding` (learnt from a cookie) instead.
fn disown(st: &mut State, binding: String) {
    for slot in &mut st.slots {
        if slot.id.is_some() {
            slot.id = None;
            slot.meta = None;
            slot.fields.clear();
            slot.set.clear();
            slot.removed.clear();
        }
    }
    st.binding = Some(binding);
    st.binding_from_cookie = true;
}

impl Session {
    /// Interfaces not loaded yet that the client sent a cookie for: the cookie
    /// interfaces (`cookie_kind`) or the server-side ones.
    pub(crate) fn pending_with_cookie(&self, st: &State, cookie_kind: bool) -> Vec<usize> {
        st.slots
            .iter()
            .zip(&self.manager().interfaces)
            .enumerate()
            .filter(|(_, (s, r))| {
                s.load == Load::Pending
                    && s.raw.is_some()
                    && matches!(r.kind, Kind::Cookie(_)) == cookie_kind
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The error for a request whose session moved in a concurrent login.
    pub(crate) fn superseded_error(&self, st: &State) -> Option<Error> {
        st.superseded
            .map(|i| Error::superseded(self.manager().interfaces[i].name()))
    }

    /// Load every cookie interface the client sent a cookie for (no I/O).
    /// Errors cannot happen for cookie interfaces.
    pub(crate) async fn load_cookie_interfaces(&self, st: &mut State) {
        let pending = self.pending_with_cookie(st, true);
        if !pending.is_empty() {
            let _ = self.ensure_loaded(st, &pending).await;
        }
    }
}

pub(crate) fn parse_id(r: &Resolved, raw: Option<&str>) -> Option<SessionId> {
    let Kind::Store { signer, .. } = &r.kind else {
        return None;
    };
    let raw = raw?;
    match signer {
        Some(s) => s.unsign(raw),
        None => SessionId::parse(raw),
    }
}

/// Past the interface's absolute lifetime (saturating: times read from a
/// cookie or record may be hostile).
pub(crate) fn absolute_expired(r: &Resolved, created: i64, now: i64) -> bool {
    r.config.absolute_lifetime.is_some_and(|d| {
        created.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)) <= now
    })
}

async fn load_one(r: &Resolved, raw: Option<&str>, now: i64) -> Loaded {
    let absent = Loaded::Absent { stale: None };
    let Some(raw_value) = raw else { return absent };
    match &r.kind {
        Kind::Cookie(format) => match format.decode(raw_value, now) {
            Some(record) if !absolute_expired(r, record.meta.created, now) => {
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
                Ok(Some(record)) if record.meta.moved => Loaded::Moved,
                Ok(Some(record)) if absolute_expired(r, record.meta.created, now) => {
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
