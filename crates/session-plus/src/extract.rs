//! The handler-facing session handle and its axum extractor.

use std::ops::Deref;

/// The session of the current request (a clone shares the same state).
///
/// All methods come from [`session_plus_core::Session`] through `Deref`:
/// `get`, `insert`, `remove`, `contains`, `keys`, `to_map`, `clear`,
/// `set_permanent`, `is_permanent`, `cycle_id`, `destroy`. Saving is the
/// layer's job: a handler cannot reach it.
///
/// With the `axum` feature it is an extractor; without a [`SessionLayer`]
/// in front of the handler the extraction fails with a 500 (a wiring bug).
///
/// [`SessionLayer`]: crate::SessionLayer
///
/// ```
/// use session_plus::{Session, SessionError};
///
/// async fn login(session: Session) -> Result<&'static str, SessionError> {
///     session.cycle_id().await?; // new ids at privilege change
///     session.insert("user_id", 42_u64).await?;
///     Ok("welcome")
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

#[cfg(feature = "axum")]
mod axum_impl {
    use axum_core::extract::FromRequestParts;
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;
    use http::StatusCode;

    use super::Session;

    /// The request has no session: the [`SessionLayer`](crate::SessionLayer) is
    /// missing in front of this handler.
    #[derive(Debug, Clone, Copy)]
    pub struct MissingSessionLayer;

    impl IntoResponse for MissingSessionLayer {
        fn into_response(self) -> Response {
            tracing::error!("Session extractor used on a route without SessionLayer");
            (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Session {
        type Rejection = MissingSessionLayer;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Session>()
                .cloned()
                .ok_or(MissingSessionLayer)
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_impl::MissingSessionLayer;
