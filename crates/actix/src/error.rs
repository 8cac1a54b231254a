//! The handler-facing error: an actix-web [`ResponseError`] that leaks nothing.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Wraps [`session_plus_core::Error`] so handlers can use `?` on session calls
/// and return it.
///
/// As a response it is a bare status with a generic body (the status's
/// reason phrase); the status comes from
/// [`Error::status_code`](session_plus_core::Error::status_code), the one
/// mapping every adapter shares: 503 when the storage side failed, 409 when
/// the session ended or moved (logout, login) while the request ran, 400 for
/// a field name or value the session refuses, 500 otherwise. The details go to
/// the log (without ids or secrets), never to the client.
///
/// ```
/// use actix_web::ResponseError;
/// use session_plus_actix::SessionError;
///
/// let e: SessionError = session_plus_actix::Error::unknown_field("x").into();
/// assert!(e.inner().is_unknown_field());
/// assert_eq!(e.status_code().as_u16(), 400);
/// ```
pub struct SessionError(session_plus_core::Error);

impl SessionError {
    /// The underlying error.
    pub fn inner(&self) -> &session_plus_core::Error {
        &self.0
    }

    /// The underlying error, by value.
    pub fn into_inner(self) -> session_plus_core::Error {
        self.0
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

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        tracing::warn!(error = %self.0, status = status.as_u16(), "session error in handler");
        HttpResponse::build(status).body(status.canonical_reason().unwrap_or("error"))
    }
}
