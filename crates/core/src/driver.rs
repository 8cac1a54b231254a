//! The adapter side of a request: [`SessionDriver`] and its [`Outcome`].
//!
//! A web-framework adapter does three things per request, and nothing else:
//!
//! 1. make a driver from the request's `Cookie` headers
//!    ([`SessionDriver::new`]) and hand [`SessionDriver::session`] to the
//!    handler (as an extension, a task-local, ...);
//! 2. after the handler, call [`SessionDriver::finish`];
//! 3. translate the [`Outcome`] onto the response: replace it by a bare
//!    [`Outcome::status`] when there is one, append every
//!    [`Outcome::set_cookie_headers`], add `Vary: Cookie` when
//!    [`Outcome::vary_cookie`] unless the response's `Vary` already covers it
//!    ([`vary_covers_cookie`]), and set [`Outcome::cache_control`] unless the
//!    handler set its own `Cache-Control`.
//!
//! Every rule of what a response must carry lives here, so every adapter
//! behaves the same, byte for byte.

use std::sync::Arc;

use crate::session::Session;
use crate::set_cookie::SetCookie;
use crate::{Error, SessionManager};

/// Owns one request's session on the adapter side. The handler gets a
/// [`Session`] from [`SessionDriver::session`] and can never reach the driver.
///
/// A web-framework adapter does three things per request, and nothing else:
///
/// 1. make a driver from the request's `Cookie` headers
///    ([`SessionDriver::new`]) and hand [`SessionDriver::session`] to the
///    handler (as an extension, a task-local, ...);
/// 2. after the handler, call [`SessionDriver::finish`];
/// 3. translate the [`Outcome`] onto the response: replace it by a bare
///    [`Outcome::status`] when there is one, append every
///    [`Outcome::set_cookie_headers`], add `Vary: Cookie` when
///    [`Outcome::vary_cookie`] unless the response's `Vary` already covers it
///    ([`vary_covers_cookie`]), and set [`Outcome::cache_control`] unless the
///    handler set its own `Cache-Control`.
///
/// Every rule of what a response must carry is decided here, so every
/// adapter behaves the same, byte for byte.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_core::{Interface, Key, SessionDriver, SessionManager};
///
/// let manager = Arc::new(SessionManager::builder().keys(Key::generate())
///     .interface(Interface::secure_cookie("data")).build().unwrap());
///
/// // A request carrying another app's non-ASCII cookie and no session yet.
/// let driver = SessionDriver::new(manager.clone(), ["theme=Jos\u{e9}".as_bytes()]);
/// driver.session().insert("n", 1).await.unwrap();
/// let outcome = driver.finish().await;
/// assert_eq!(outcome.status, None);
/// assert!(outcome.vary_cookie);
/// assert_eq!(outcome.cache_control, Some("no-store"));
/// assert_eq!(outcome.set_cookie_headers().count(), 1);
///
/// // The next request reads it back; the foreign cookie does not hide it.
/// let header = format!("theme=Jos\u{e9}; {}", outcome.cookie_header());
/// let driver = SessionDriver::new(manager, [header.as_bytes()]);
/// assert_eq!(driver.session().get::<i32>("n").await.unwrap(), Some(1));
/// let outcome = driver.finish().await;
/// assert!(outcome.vary_cookie && outcome.cookies.is_empty());
/// # });
/// ```
#[derive(Debug)]
pub struct SessionDriver {
    session: Session,
}

impl SessionDriver {
    /// The driver of a request that carried these `Cookie` header values (raw
    /// bytes: a pair that is not visible ASCII is skipped, never the whole
    /// header). Only cookies named like a configured interface count (the first
    /// of each name); nothing is parsed, verified or loaded until the session is
    /// used.
    pub fn new<'a>(
        manager: Arc<SessionManager>,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        Self {
            session: Session::from_cookies(manager, cookie_headers),
        }
    }

    /// The handler's handle on this request's session (clones share state).
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// Whether the handler used the session at all (an untouched request costs
    /// nothing at [`finish`](Self::finish)).
    pub fn was_accessed(&self) -> bool {
        self.session.was_touched()
    }

    /// Save what the handler changed and say what the response must carry.
    /// Call once, after the handler; any later use of the session by the
    /// handler (e.g. from a task it spawned) fails with
    /// [`Error::is_closed`](crate::Error::is_closed).
    pub async fn finish(self) -> Outcome {
        if !self.session.was_touched() {
            return Outcome::default();
        }
        let saved = self.session.save().await;
        let status = saved.error.as_ref().map(Error::status_code);
        if let Some(err) = &saved.error {
            tracing::error!(error = %err, status, "session could not be saved; answering with an error");
        }
        let cache_control = (!saved.cookies.is_empty()).then_some("no-store");
        Outcome {
            status,
            error: saved.error,
            cookies: saved.cookies,
            vary_cookie: true,
            cache_control,
        }
    }
}

/// Everything a response needs after the handler: see [`SessionDriver`] for how an
/// adapter applies it.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Outcome {
    /// Replace the response by an empty one with this status (a save failed or
    /// a change could not be saved). See [`Error::status_code`].
    pub status: Option<u16>,
    /// Why, for logs (already logged at error level by the driver).
    pub error: Option<Error>,
    /// Cookies to set (including removals), in configuration order. Cookies of
    /// interfaces that did save are here even when `status` is set.
    pub cookies: Vec<SetCookie>,
    /// The session was read or written: add `Vary: Cookie`.
    pub vary_cookie: bool,
    /// Set this `Cache-Control` unless the handler set its own (a response
    /// that sets a session cookie must not be cached by shared caches).
    pub cache_control: Option<&'static str>,
}

impl Outcome {
    /// The `Set-Cookie` header values, in order.
    pub fn set_cookie_headers(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(SetCookie::header_value)
    }

    /// The `Cookie` header a browser would send back after this response
    /// (removals left out). For tests and examples.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(SetCookie::pair)
            .filter(|p| !p.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Whether a response's existing `Vary` header value already covers `Cookie`
/// (names it, or is `*`), so an adapter must not add another.
///
/// ```
/// use session_plus_core::vary_covers_cookie;
/// assert!(vary_covers_cookie("Accept-Encoding, cookie"));
/// assert!(vary_covers_cookie("*"));
/// assert!(!vary_covers_cookie("Accept-Encoding"));
/// ```
pub fn vary_covers_cookie(value: &str) -> bool {
    value
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("cookie") || p.trim() == "*")
}
