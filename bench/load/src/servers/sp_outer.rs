//! session-plus servers of issue 14: every session-plus kind served with the
//! layer around the whole router (`SessionLayer::new(m).layer(router)` through
//! `tower::make::Shared`, not `Router::layer`, which wraps every route), and
//! the kinds that exercise the performance levers: the encrypted cookie and
//! the Redis near cache; and the other server-side backends (memcached,
//! MongoDB, Firestore), one interface each.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use session_plus::{FieldRules, Interface, Key, SessionError, SessionLayer, SessionManager};

use super::Kind;

/// The session manager of a session-plus kind (`None` for other kinds).
pub(super) async fn manager(
    kind: Kind,
    backend_url: Option<&str>,
) -> Result<Option<SessionManager>, String> {
    let builder = SessionManager::builder().keys(Key::generate());
    let builder = match kind {
        Kind::SpCookie => {
            builder.interface(Interface::secure_cookie("data").fields(FieldRules::All))
        }
        Kind::SpEncrypted => {
            builder.interface(Interface::encrypted_cookie("data").fields(FieldRules::All))
        }
        Kind::SpRedis => builder.interface(
            Interface::store("session", redis(backend_url).await?).fields(FieldRules::All),
        ),
        Kind::SpRedisNear => builder.interface(
            Interface::store("session", near(backend_url, false).await?).fields(FieldRules::All),
        ),
        Kind::SpRedisNearOwn => builder.interface(
            Interface::store("session", near(backend_url, true).await?).fields(FieldRules::All),
        ),
        Kind::SpSeed => builder
            .interface(Interface::secure_cookie("csrf").fields(FieldRules::include(["csrf_token"])))
            .interface(
                Interface::store("session", redis(backend_url).await?)
                    .fields(FieldRules::include(["counter", "user_id"])),
            )
            .interface(Interface::secure_cookie("data").fields(FieldRules::Auto)),
        Kind::SpMemcache => builder.interface(
            Interface::store("session", memcache(backend_url).await?).fields(FieldRules::All),
        ),
        Kind::SpMongodb => builder.interface(
            Interface::store("session", mongodb(backend_url).await?).fields(FieldRules::All),
        ),
        Kind::SpFirestore => builder.interface(
            Interface::store("session", firestore(backend_url)?).fields(FieldRules::All),
        ),
        _ => return Ok(None),
    };
    builder
        .build()
        .map(Some)
        .map_err(|e| format!("session-plus config: {e}"))
}

async fn redis(url: Option<&str>) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let url = url.ok_or("no Redis URL")?;
    let store = session_plus_redis::RedisStore::from_url(url)
        .await
        .map_err(|e| format!("session-plus Redis store: {e}"))?;
    Ok(Arc::new(store))
}

async fn near(
    url: Option<&str>,
    keep_own_writes: bool,
) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let url = url.ok_or("no Redis URL")?;
    let store = session_plus_redis::RedisStore::from_url(url)
        .await
        .map_err(|e| format!("session-plus Redis store: {e}"))?;
    let near = session_plus_redis::NearCachedStore::connect(
        store,
        url,
        session_plus_redis::NearCacheOptions::default()
            .prefix("session")
            .keep_own_writes(keep_own_writes),
    )
    .await
    .map_err(|e| format!("near cache: {e}"))?;
    Ok(Arc::new(near))
}

/// One memcached server at `host:port` (default options: the store's own
/// connection pool).
async fn memcache(url: Option<&str>) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let url = url.ok_or("no memcached address")?;
    let store = session_plus::memcache::MemcacheStore::connect(&[url])
        .await
        .map_err(|e| format!("session-plus memcache store: {e}"))?;
    Ok(Arc::new(store))
}

/// `bench.sessions` on the MongoDB server at `url` (the TTL index is created
/// when the store is built).
async fn mongodb(url: Option<&str>) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let url = url.ok_or("no MongoDB URL")?;
    let store = session_plus::mongodb::MongoStore::from_url(
        url,
        "bench",
        "sessions",
        session_plus::mongodb::MongoOptions::default(),
    )
    .await
    .map_err(|e| format!("session-plus MongoDB store: {e}"))?;
    Ok(Arc::new(store))
}

/// Collection `sessions` of project `bench` on the Firestore emulator at
/// `host:port`.
fn firestore(host: Option<&str>) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let host = host.ok_or("no Firestore emulator host")?;
    let client = session_plus::firestore::FirestoreClient::emulator(host, "bench");
    let store = session_plus::firestore::FirestoreStore::new(client, "sessions")
        .map_err(|e| format!("session-plus Firestore store: {e}"))?;
    Ok(Arc::new(store))
}

/// The routes without any layer.
pub(super) fn routes() -> Router {
    Router::new()
        .route("/none", get(none))
        .route("/read", get(read))
        .route("/write", get(write))
}

/// `Router::layer` placement (what `layer-cost` measures by default).
pub(super) fn route_layered(manager: SessionManager) -> Router {
    routes().layer(SessionLayer::new(Arc::new(manager)))
}

/// Serve `manager` with the layer around the whole router.
pub(super) async fn serve_outer(
    manager: SessionManager,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    let svc = tower::Layer::layer(
        &SessionLayer::new(Arc::new(manager)),
        routes().with_state(()),
    );
    axum::serve(listener, tower::make::Shared::new(svc))
        .await
        .map_err(|e| format!("serve: {e}"))
}

async fn none() -> &'static str {
    "none"
}

async fn read(session: session_plus::Session) -> Result<String, SessionError> {
    let n: i64 = session.get("counter").await?.unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: session_plus::Session) -> Result<String, SessionError> {
    let n: i64 = session.get("counter").await?.unwrap_or(0) + 1;
    session.insert("counter", n).await?;
    Ok(n.to_string())
}
