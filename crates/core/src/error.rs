//! The one error type of session-plus.
//!
//! [`Error`] is opaque: callers ask it questions (`is_timeout`, `is_backend`, ...)
//! instead of matching on variants, so new backends never change its shape. The
//! source chain of a backend failure is kept (see [`std::error::Error::source`]).
//! Messages name interfaces and settings, never session ids or secrets.

use std::fmt;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, in broad classes. Private: use the `is_*` predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    UnknownField,
    InvalidField,
    Serialization,
    Backend,
    Timeout,
    CookieTooLarge,
    Unavailable,
    Ended,
    Superseded,
    Closed,
    Unsupported,
}

struct Inner {
    kind: Kind,
    message: String,
    interface: Option<String>,
    source: Option<BoxError>,
}

/// The error returned by every fallible session-plus operation.
///
/// ```
/// use session_plus_core::Error;
///
/// let err = Error::backend("redis", "connection refused");
/// assert!(err.is_backend());
/// assert_eq!(err.interface(), Some("redis"));
/// assert!(!err.is_timeout());
/// ```
pub struct Error {
    inner: Box<Inner>,
}

impl Error {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                interface: None,
                source: None,
            }),
        }
    }

    /// A configuration error naming the interface and the setting at fault.
    ///
    /// ```
    /// let err = session_plus_core::Error::config("csrf", "session_fields", "must not be empty");
    /// assert!(err.is_config());
    /// assert!(err.to_string().contains("csrf"));
    /// assert!(err.to_string().contains("session_fields"));
    /// ```
    pub fn config(interface: &str, setting: &str, problem: impl fmt::Display) -> Self {
        let mut e = Self::new(Kind::Config, format!("setting `{setting}`: {problem}"));
        if !interface.is_empty() {
            e.inner.interface = Some(interface.to_owned());
        }
        e
    }

    /// A field that no interface owns was written.
    ///
    /// ```
    /// assert!(session_plus_core::Error::unknown_field("nope").is_unknown_field());
    /// ```
    pub fn unknown_field(field: &str) -> Self {
        Self::new(
            Kind::UnknownField,
            format!("no interface owns the field `{}`", printable(field)),
        )
    }

    /// A field name that is not allowed (empty, too long, control characters, reserved).
    ///
    /// ```
    /// assert!(session_plus_core::Error::invalid_field("", "is empty").is_invalid_field());
    /// ```
    pub fn invalid_field(field: &str, why: &str) -> Self {
        Self::new(
            Kind::InvalidField,
            format!("invalid field name `{}`: {why}", printable(field)),
        )
    }

    /// A value could not be converted to or from its stored form.
    ///
    /// ```
    /// let json_err = serde_json::from_str::<u8>("x").unwrap_err();
    /// let err = session_plus_core::Error::serialization("user_id", json_err);
    /// assert!(err.is_serialization());
    /// ```
    pub fn serialization(
        field: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(
            Kind::Serialization,
            format!("field `{}` could not be (de)serialized", printable(field)),
        )
        .with_source(source)
    }

    /// A backend call failed. `interface` is the cookie name of the interface.
    ///
    /// ```
    /// let err = session_plus_core::Error::backend("session", "disk full");
    /// assert!(err.is_backend());
    /// ```
    pub fn backend(
        interface: &str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::new(Kind::Backend, "backend call failed")
            .with_interface(interface)
            .with_source(source)
    }

    /// A backend call did not finish within its timeout.
    ///
    /// ```
    /// let err = session_plus_core::Error::timeout("session", std::time::Duration::from_millis(5));
    /// assert!(err.is_timeout());
    /// ```
    pub fn timeout(interface: &str, after: std::time::Duration) -> Self {
        Self::new(
            Kind::Timeout,
            format!("backend call timed out after {after:?}"),
        )
        .with_interface(interface)
    }

    /// An encoded cookie would exceed the 4096-byte browser limit.
    ///
    /// ```
    /// let err = session_plus_core::Error::cookie_too_large("data", 5000);
    /// assert!(err.is_cookie_too_large());
    /// ```
    pub fn cookie_too_large(interface: &str, size: usize) -> Self {
        Self::new(
            Kind::CookieTooLarge,
            format!("cookie would be {size} bytes, over the 4096-byte limit (move fields to a server-side interface)"),
        )
        .with_interface(interface)
    }

    /// The interface could not be loaded earlier in this request, so its data can
    /// be neither read nor changed.
    ///
    /// ```
    /// assert!(session_plus_core::Error::unavailable("session").is_unavailable());
    /// ```
    pub fn unavailable(interface: &str) -> Self {
        Self::new(
            Kind::Unavailable,
            "interface could not be loaded in this request",
        )
        .with_interface(interface)
    }

    /// The session record vanished (expired or destroyed by a concurrent request)
    /// between load and save; the write was not applied.
    ///
    /// ```
    /// assert!(session_plus_core::Error::ended("session").is_ended());
    /// ```
    pub fn ended(interface: &str) -> Self {
        Self::new(
            Kind::Ended,
            "session ended concurrently; the change was not applied",
        )
        .with_interface(interface)
    }

    /// This request carries a session id that a concurrent login moved to a new
    /// id (see `cycle_id`): its writes are refused so they cannot be lost or
    /// overwrite the new session. The client should retry with its new cookie.
    ///
    /// ```
    /// let err = session_plus_core::Error::superseded("session");
    /// assert!(err.is_superseded());
    /// assert_eq!(err.status_code(), 409);
    /// ```
    pub fn superseded(interface: &str) -> Self {
        Self::new(
            Kind::Superseded,
            "the session moved to a new id (login) while this request ran; the change was not applied",
        )
        .with_interface(interface)
    }

    /// The session was used after its request ended (after the response was
    /// built, e.g. from a task spawned by the handler): a programming error.
    ///
    /// ```
    /// let err = session_plus_core::Error::closed();
    /// assert!(err.is_closed());
    /// assert_eq!(err.status_code(), 500);
    /// ```
    pub fn closed() -> Self {
        Self::new(
            Kind::Closed,
            "the session was used after its request ended (it is saved once, when the response is built)",
        )
    }

    /// Attribute a backend error to the interface whose call failed (stores
    /// do not know the cookie name they serve).
    pub(crate) fn in_interface(mut self, interface: &str) -> Self {
        if matches!(
            self.inner.kind,
            Kind::Backend | Kind::Timeout | Kind::Unsupported
        ) {
            self.inner.interface = Some(interface.to_owned());
        }
        self
    }

    /// The backend cannot do what was asked (e.g. find sessions by field).
    ///
    /// ```
    /// assert!(session_plus_core::Error::unsupported("memcache", "delete_by_field").is_unsupported());
    /// ```
    pub fn unsupported(interface: &str, operation: &str) -> Self {
        Self::new(
            Kind::Unsupported,
            format!("the backend does not support `{operation}`"),
        )
        .with_interface(interface)
    }

    /// The backend does not support the operation.
    pub fn is_unsupported(&self) -> bool {
        self.inner.kind == Kind::Unsupported
    }

    /// Keep `source` as the cause of this error: it is shown by
    /// [`Error::report`] and `{:#}`, and returned by
    /// [`std::error::Error::source`]. For errors built at start-up (e.g. a
    /// configuration error caused by an I/O error).
    ///
    /// ```
    /// use session_plus_core::Error;
    ///
    /// let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    /// let err = Error::config("session", "url", "cannot open `/srv/s.db`").caused_by(io);
    /// assert!(err.is_config());
    /// assert!(std::error::Error::source(&err).is_some());
    /// assert!(format!("{err:#}").ends_with("permission denied"));
    /// ```
    pub fn caused_by(self, source: impl Into<BoxError>) -> Self {
        self.with_source(source)
    }

    /// This error and its causes, one per line, for people: start-up
    /// failures, logs. The plain `Display` stays one short line without the
    /// causes; `{:#}` prints the chain on one line, separated by `: `.
    ///
    /// ```
    /// use session_plus_core::Error;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
    /// let err = Error::backend("session", io);
    /// assert_eq!(err.to_string(), "session interface `session`: backend call failed");
    /// assert_eq!(
    ///     err.report().to_string(),
    ///     "session interface `session`: backend call failed\n  caused by: No such file or directory (os error 2)",
    /// );
    /// assert_eq!(
    ///     format!("{err:#}"),
    ///     "session interface `session`: backend call failed: No such file or directory (os error 2)",
    /// );
    /// ```
    pub fn report(&self) -> impl fmt::Display + '_ {
        Report(self)
    }

    fn with_interface(mut self, interface: &str) -> Self {
        self.inner.interface = Some(interface.to_owned());
        self
    }

    fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The cookie name of the interface involved, when there is one.
    ///
    /// ```
    /// assert_eq!(session_plus_core::Error::unavailable("csrf").interface(), Some("csrf"));
    /// ```
    pub fn interface(&self) -> Option<&str> {
        self.inner.interface.as_deref()
    }

    /// Configuration rejected at start-up.
    pub fn is_config(&self) -> bool {
        self.inner.kind == Kind::Config
    }
    /// A field that no interface owns.
    pub fn is_unknown_field(&self) -> bool {
        self.inner.kind == Kind::UnknownField
    }
    /// A field name that is not allowed.
    pub fn is_invalid_field(&self) -> bool {
        self.inner.kind == Kind::InvalidField
    }
    /// A value failed to (de)serialize.
    pub fn is_serialization(&self) -> bool {
        self.inner.kind == Kind::Serialization
    }
    /// A backend call failed (not a timeout).
    pub fn is_backend(&self) -> bool {
        self.inner.kind == Kind::Backend
    }
    /// A backend call timed out.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }
    /// A cookie would exceed 4096 bytes.
    pub fn is_cookie_too_large(&self) -> bool {
        self.inner.kind == Kind::CookieTooLarge
    }
    /// The interface failed to load earlier in this request.
    pub fn is_unavailable(&self) -> bool {
        self.inner.kind == Kind::Unavailable
    }
    /// The record vanished between load and save.
    pub fn is_ended(&self) -> bool {
        self.inner.kind == Kind::Ended
    }

    /// Writes refused because a concurrent login moved the session.
    pub fn is_superseded(&self) -> bool {
        self.inner.kind == Kind::Superseded
    }
    /// The session was used after its request ended.
    pub fn is_closed(&self) -> bool {
        self.inner.kind == Kind::Closed
    }

    /// The HTTP status a response carrying this error gets. This is the one
    /// place where errors map to statuses; every adapter uses it.
    ///
    /// - 503: the storage side failed (backend error, timeout, an interface
    ///   that could not be loaded in this request);
    /// - 409: the session ended or moved (logout, login, expiry) while this
    ///   request ran, so its change was not applied;
    /// - 400: a field name or value the session refuses (unknown field,
    ///   invalid name, value that does not (de)serialize);
    /// - 500: everything else (configuration, oversized cookie, unsupported
    ///   operation, use after the request ended: programming errors).
    ///
    /// ```
    /// use session_plus_core::Error;
    /// assert_eq!(Error::timeout("s", std::time::Duration::from_secs(1)).status_code(), 503);
    /// assert_eq!(Error::ended("s").status_code(), 409);
    /// assert_eq!(Error::unknown_field("x").status_code(), 400);
    /// assert_eq!(Error::cookie_too_large("s", 5000).status_code(), 500);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self.inner.kind {
            Kind::Backend | Kind::Timeout | Kind::Unavailable => 503,
            Kind::Ended | Kind::Superseded => 409,
            Kind::UnknownField | Kind::InvalidField | Kind::Serialization => 400,
            Kind::Config | Kind::CookieTooLarge | Kind::Unsupported | Kind::Closed => 500,
        }
    }

    /// Whether the failure is the storage side's (backend error, timeout or an
    /// interface that could not be loaded): the HTTP layer answers these with 503.
    ///
    /// ```
    /// assert!(session_plus_core::Error::unavailable("s").is_service_unavailable());
    /// assert!(!session_plus_core::Error::unknown_field("x").is_service_unavailable());
    /// ```
    pub fn is_service_unavailable(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Backend | Kind::Timeout | Kind::Unavailable
        )
    }
}

/// Field names can come from user input: never echo control characters or
/// unbounded lengths into logs or messages.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

impl Error {
    /// The one-line message, without causes.
    fn headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.interface {
            Some(i) => write!(f, "session interface `{i}`: {}", self.inner.message),
            None => f.write_str(&self.inner.message),
        }
    }

    /// The causes' messages, outermost first, leaving out one already
    /// contained in the message before it (errors that repeat their source).
    fn causes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut previous = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !previous.contains(&text) {
                out.push(text.clone());
            }
            previous = text;
            next = cause.source();
        }
        out
    }
}

/// `{}`: one short line naming the interface (no causes). `{:#}`: the same
/// line followed by every cause, separated by `: `.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.headline(f)?;
        if f.alternate() {
            for cause in self.causes() {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

/// An [`Error`] with its causes, one per line (see [`Error::report`]).
struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.headline(f)?;
        for cause in self.0.causes() {
            write!(f, "\n  caused by: {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(i) = &self.inner.interface {
            d.field("interface", i);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_chain_is_kept() {
        let io = std::io::Error::other("boom");
        let e = Error::backend("session", io);
        let src = std::error::Error::source(&e).expect("source");
        assert_eq!(src.to_string(), "boom");
    }

    #[test]
    fn report_and_alternate_show_every_cause_once() {
        let inner = Error::backend("sqlite", std::io::Error::other("disk I/O error"));
        let outer = Error::config("session", "url", "cannot open `/srv/s.db`").caused_by(inner);
        assert_eq!(
            outer.to_string(),
            "session interface `session`: setting `url`: cannot open `/srv/s.db`"
        );
        assert_eq!(
            outer.report().to_string(),
            "session interface `session`: setting `url`: cannot open `/srv/s.db`\n  caused by: session interface `sqlite`: backend call failed\n  caused by: disk I/O error"
        );
        // A cause already quoted in the message is not repeated.
        let io = std::io::Error::other("refused");
        let e = Error::config("s", "url", "cannot connect: refused").caused_by(io);
        assert_eq!(format!("{e:#}"), e.to_string());
    }

    #[test]
    fn hostile_field_names_are_sanitised_in_messages() {
        let e = Error::unknown_field("a\nb\u{1b}[31m");
        assert!(!e.to_string().contains('\n'));
        assert!(!e.to_string().contains('\u{1b}'));
        let long = "x".repeat(10_000);
        assert!(Error::unknown_field(&long).to_string().len() < 200);
    }
}
