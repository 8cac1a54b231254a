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
///
/// ## Placement and cost
///
/// A request whose handler never extracts the session costs a tokio
/// task-local scope and nothing else: the session is made from the request's
/// `Cookie` headers the first time the handler extracts it. `Router::layer`
/// wraps every route separately (axum's design; every tower layer pays it);
/// wrapping the whole router once is cheaper:
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use session_plus::{FieldRules, Interface, Key, SessionLayer, SessionManager};
/// use tower::Layer;
///
/// let manager = SessionManager::builder()
///     .keys(Key::generate())
///     .interface(Interface::secure_cookie("session").fields(FieldRules::All))
///     .build()
///     .unwrap();
/// let router: Router = Router::new().route("/", get(|| async { "hi" }));
/// let app = SessionLayer::new(Arc::new(manager)).layer(router);
/// // axum::serve(listener, tower::make::Shared::new(app))
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer {
    manager: Arc<SessionManager>,
    cross_task: bool,
}

impl SessionLayer {
    /// A layer serving sessions configured by `manager`.
    pub fn new(manager: Arc<SessionManager>) -> Self {
        Self {
            manager,
            cross_task: false,
        }
    }

    /// Also reach the session from a task other than the one the layer runs
    /// on: for a middleware between this layer and the handler that spawns
    /// the rest of the request (`tokio::spawn(next.run(req))`). The layer
    /// then puts a handle in the request's extensions (one allocation and one
    /// `Extensions` insert per request); without it, the extractor on another
    /// task finds no session and answers 500. Handlers that spawn tasks
    /// after extracting the session do not need it: clones of a
    /// [`Session`](crate::Session) work on any task.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use axum::{body::Body, extract::Request, middleware::{self, Next}, routing::get, Router};
    /// use session_plus::{FieldRules, Interface, Key, Session, SessionError, SessionLayer, SessionManager};
    /// use tower::ServiceExt;
    ///
    /// async fn spawn_rest(req: Request, next: Next) -> axum::response::Response {
    ///     tokio::spawn(next.run(req)).await.expect("handler task")
    /// }
    /// async fn count(session: Session) -> Result<String, SessionError> {
    ///     let n: u64 = session.get("n").await?.unwrap_or(0) + 1;
    ///     session.insert("n", n).await?;
    ///     Ok(n.to_string())
    /// }
    /// let manager = SessionManager::builder()
    ///     .keys(Key::generate())
    ///     .interface(Interface::secure_cookie("session").fields(FieldRules::All))
    ///     .build()
    ///     .unwrap();
    /// let app = Router::new()
    ///     .route("/", get(count))
    ///     .layer(middleware::from_fn(spawn_rest))
    ///     .layer(SessionLayer::new(Arc::new(manager)).cross_task(true));
    /// let res = app.oneshot(Request::new(Body::empty())).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// assert!(res.headers().contains_key("set-cookie"));
    /// # });
    /// ```
    #[must_use]
    pub fn cross_task(mut self, enabled: bool) -> Self {
        self.cross_task = enabled;
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.manager.clone(), self.cross_task)
    }
}
