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
/// The session is made the first time it is extracted (from the request's
/// `Cookie` headers), so a handler that never extracts it costs nothing.
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

    /// The session of `req`, for tower services and middleware without the
    /// axum extractor. `None` when no [`SessionLayer`] serves this request
    /// on this task (see [`SessionLayer::cross_task`]) or the request has
    /// already ended.
    ///
    /// [`SessionLayer`]: crate::SessionLayer
    /// [`SessionLayer::cross_task`]: crate::SessionLayer::cross_task
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use http::{Request, Response};
    /// use session_plus::{FieldRules, Interface, Key, Session, SessionLayer, SessionManager};
    /// use tower::{service_fn, ServiceBuilder, ServiceExt};
    ///
    /// let manager = SessionManager::builder()
    ///     .keys(Key::generate())
    ///     .interface(Interface::secure_cookie("data").fields(FieldRules::All))
    ///     .build()
    ///     .unwrap();
    /// let svc = ServiceBuilder::new()
    ///     .layer(SessionLayer::new(Arc::new(manager)))
    ///     .service(service_fn(|req: Request<String>| async move {
    ///         let session = Session::from_request(&req).expect("served by the layer");
    ///         session.insert("n", 1).await?;
    ///         Ok::<_, session_plus::Error>(Response::new(String::new()))
    ///     }));
    /// let res = svc.oneshot(Request::new(String::new())).await.unwrap();
    /// assert!(res.headers().contains_key("set-cookie"));
    /// // Outside any layer there is no session.
    /// assert!(Session::from_request(&Request::new(())).is_none());
    /// # });
    /// ```
    pub fn from_request<B>(req: &http::Request<B>) -> Option<Session> {
        crate::service::lookup(req.headers(), req.extensions())
    }

    /// [`Session::from_request`] for a request split into parts.
    pub fn from_parts(parts: &http::request::Parts) -> Option<Session> {
        crate::service::lookup(&parts.headers, &parts.extensions)
    }
}

#[cfg(feature = "axum")]
mod axum_impl {
    use axum_core::extract::FromRequestParts;
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;
    use http::StatusCode;

    use super::Session;

    /// The request has no session: no [`SessionLayer`](crate::SessionLayer) in
    /// front of this handler on this task (a handler run on another task
    /// needs [`SessionLayer::cross_task`](crate::SessionLayer::cross_task)),
    /// or the request has already ended.
    #[derive(Debug, Clone, Copy)]
    pub struct MissingSessionLayer;

    impl IntoResponse for MissingSessionLayer {
        fn into_response(self) -> Response {
            tracing::error!(
                "Session extractor found no session: no SessionLayer in front of this route on \
                 this task (use SessionLayer::cross_task for handlers run on another task), \
                 or the request already ended"
            );
            (StatusCode::INTERNAL_SERVER_ERROR, "session layer missing").into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for Session {
        type Rejection = MissingSessionLayer;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            Session::from_parts(parts).ok_or(MissingSessionLayer)
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_impl::MissingSessionLayer;
