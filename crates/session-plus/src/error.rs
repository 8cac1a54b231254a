//! A handler-facing error that turns into a response leaking nothing.

use std::fmt;

/// Wraps [`session_plus_core::Error`] so handlers can use `?` and return it.
///
/// As a response it is a bare status with a generic body: 503 when the storage
/// side failed (backend down, timeout, interface unavailable), 400 for a field
/// that no interface owns or a bad field name or value, 500 otherwise. The
/// details go to the log (without ids or secrets), never to the client.
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

    /// The HTTP status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        let e = &self.0;
        if e.is_service_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if e.is_unknown_field() || e.is_invalid_field() || e.is_serialization() {
            StatusCode::BAD_REQUEST
        } else if e.is_ended() {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
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
