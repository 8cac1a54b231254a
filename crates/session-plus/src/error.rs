//! A handler-facing error that turns into a response leaking nothing.

use std::fmt;

/// Wraps [`session_plus_core::Error`] so handlers can use `?` and return it.
///
/// As a response it is a bare status with a generic body, the status from
/// [`Error::status_code`](session_plus_core::Error::status_code): 503 when the
/// storage side failed, 409 when the session ended or moved (logout, login)
/// while the request ran, 400 for a field name or value the session refuses,
/// 500 otherwise. The details go to the log (without ids or secrets), never to
/// the client.
///
/// ```
/// use session_plus::SessionError;
/// let e: SessionError = session_plus::Error::unknown_field("x").into();
/// assert!(e.inner().is_unknown_field());
/// ```
pub struct SessionError(session_plus_core::Error);

impl SessionError {
    /// The underlying error.
    pub fn inner(&self) -> &session_plus_core::Error {
        &self.0
    }

    /// The HTTP status this error answers with: the core's
    /// [`Error::status_code`](session_plus_core::Error::status_code), the one
    /// mapping every adapter shares.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::from_u16(self.0.status_code())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<session_plus_core::Error> for SessionError {
    fn from(e: session_plus_core::Error) -> Self {
        Self(e)
    }
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for SessionError {
    fn into_response(self) -> axum_core::response::Response {
        let status = self.status();
        tracing::warn!(error = %self.0, %status, "session error in handler");
        let body = status.canonical_reason().unwrap_or("error");
        (status, body).into_response()
    }
}
