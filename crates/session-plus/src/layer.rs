//! The tower [`Layer`] that gives every request a session.

use std::sync::Arc;

use session_plus_core::SessionManager;
use tower_layer::Layer;

use crate::service::SessionService;

/// Adds a [`Session`](crate::Session) to every request and saves it after the
/// handler. Build the [`SessionManager`] once and share it.
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use session_plus::{FieldRules, Interface, Key, Session, SessionLayer, SessionManager, SessionError};
///
/// async fn count(session: Session) -> Result<String, SessionError> {
///     let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
///     session.insert("n", n).await?;
///     Ok(n.to_string())
/// }
///
/// let manager = SessionManager::builder()
///     .keys(Key::generate())
///     .interface(Interface::secure_cookie("session").fields(FieldRules::All))
///     .build()
///     .unwrap();
/// let app: Router = Router::new()
///     .route("/", get(count))
///     .layer(SessionLayer::new(Arc::new(manager)));
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer {
    manager: Arc<SessionManager>,
}

impl SessionLayer {
    /// A layer serving sessions configured by `manager`.
    pub fn new(manager: Arc<SessionManager>) -> Self {
        Self { manager }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.manager.clone())
    }
}
