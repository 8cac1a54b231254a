//! The handler-facing session handle and its actix-web extractor.

use std::fmt;
use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

/// The session of the current request (a clone shares the same state); an
/// extractor.
///
/// All methods come from [`session_plus_core::Session`] through `Deref`:
/// `get`, `insert`, `remove`, `contains`, `keys`, `to_map`, `clear`,
/// `set_permanent`, `is_permanent`, `cycle_id`, `destroy`. Saving is the
/// [`SessionMiddleware`](crate::SessionMiddleware)'s job, after the handler:
/// a handler cannot reach it. Without the middleware in front of the handler
/// the extraction fails with a 500 ([`MissingSessionMiddleware`], a wiring
/// bug).
///
/// ```
/// use session_plus_actix::{Session, SessionError};
///
/// async fn login(session: Session) -> Result<&'static str, SessionError> {
///     session.cycle_id().await?; // new ids at privilege change
///     session.insert("user_id", 42_u64).await?;
///     Ok("welcome")
/// }
/// ```
///
/// A handler cannot end its own request: the adapter-side driver is not
/// reachable from here.
///
/// ```compile_fail
/// async fn sneaky(session: session_plus_actix::Session) {
///     let _ = session.finish().await;
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Session(pub(crate) session_plus_core::Session);

impl Deref for Session {
    type Target = session_plus_core::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Session {
    /// The core handle (for code written against `session-plus-core`).
    pub fn into_inner(self) -> session_plus_core::Session {
        self.0
    }
}

impl FromRequest for Session {
    type Error = MissingSessionMiddleware;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Session>()
                .cloned()
                .ok_or(MissingSessionMiddleware),
        )
    }
}

/// The request has no session: the [`SessionMiddleware`](crate::SessionMiddleware)
/// does not wrap this handler. Answers 500.
///
/// ```
/// use actix_web::ResponseError;
/// let e = session_plus_actix::MissingSessionMiddleware;
/// assert_eq!(e.status_code().as_u16(), 500);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionMiddleware;

impl fmt::Display for MissingSessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the Session extractor was used on a route without SessionMiddleware")
    }
}

impl std::error::Error for MissingSessionMiddleware {}

impl ResponseError for MissingSessionMiddleware {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        tracing::error!("{self}");
        HttpResponse::InternalServerError().body("session middleware missing")
    }
}
