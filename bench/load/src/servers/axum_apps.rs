//! The axum servers: the baseline, session-plus and tower-sessions.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use session_plus::{FieldRules, Interface, Key, SessionError, SessionLayer, SessionManager};

use super::Kind;

/// Build the app for `kind` and serve it on one tokio worker thread.
pub(super) fn serve(kind: Kind, port: u16, redis_url: Option<String>) -> Result<(), String> {
    // LOAD_SERVER_RUNTIME=current-thread: for experiments only (the report
    // always uses the multi-thread runtime with one worker).
    let rt = match std::env::var("LOAD_SERVER_RUNTIME").as_deref() {
        Ok("current-thread") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build(),
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
        // session-plus: the layer around the whole router (issue 14);
        // LOAD_SERVER_ROUTE_LAYER=1 serves `Router::layer` instead.
        if std::env::var_os("LOAD_SERVER_ROUTE_LAYER").is_none() {
            if let Some(m) = super::sp_outer::manager(kind, redis_url.as_deref()).await? {
                return super::sp_outer::serve_outer(m, listener).await;
            }
        }
        let app = app(kind, redis_url.as_deref()).await?;
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("serve: {e}"))
    })
}

/// The axum app of `kind` (not the actix or Flask kinds).
pub async fn app(kind: Kind, redis_url: Option<&str>) -> Result<Router, String> {
    if matches!(
        kind,
        Kind::SpEncrypted
            | Kind::SpRedisNear
            | Kind::SpRedisNearOwn
            | Kind::SpMemcache
            | Kind::SpMongodb
            | Kind::SpFirestore
    ) {
        let m = super::sp_outer::manager(kind, redis_url)
            .await?
            .ok_or("no manager")?;
        return Ok(super::sp_outer::route_layered(m));
    }
    Ok(match kind {
        Kind::Baseline => Router::new()
            .route("/none", get(none))
            .route("/read", get(|| async { "0" }))
            .route("/write", get(|| async { "1" })),
        Kind::SpCookie => session_plus_app(
            SessionManager::builder()
                .keys(Key::generate())
                .interface(Interface::secure_cookie("data").fields(FieldRules::All)),
        )?,
        Kind::SpRedis => {
            let store = session_plus_redis(redis_url).await?;
            session_plus_app(
                SessionManager::builder()
                    .keys(Key::generate())
                    .interface(Interface::store("session", store).fields(FieldRules::All)),
            )?
        }
        Kind::SpSeed => {
            let store = session_plus_redis(redis_url).await?;
            session_plus_app(
                SessionManager::builder()
                    .keys(Key::generate())
                    .interface(
                        Interface::secure_cookie("csrf")
                            .fields(FieldRules::include(["csrf_token"])),
                    )
                    .interface(
                        Interface::store("session", store)
                            .fields(FieldRules::include(["counter", "user_id"])),
                    )
                    .interface(Interface::secure_cookie("data").fields(FieldRules::Auto)),
            )?
        }
        Kind::TsMemory => {
            let store = tower_sessions::MemoryStore::default();
            Router::new()
                .route("/none", get(none))
                .route("/read", get(ts::read))
                .route("/write", get(ts::write))
                .layer(tower_sessions::SessionManagerLayer::new(store).with_secure(false))
        }
        Kind::TsRedis => {
            use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
            let url = redis_url.ok_or("no Redis URL")?;
            let config = Config::from_url(url).map_err(|e| format!("fred config: {e}"))?;
            // One connection, like the other Redis clients here (all pipeline
            // concurrent requests over a single multiplexed connection).
            let pool = Pool::new(config, None, None, None, 1).map_err(|e| format!("fred: {e}"))?;
            pool.connect();
            pool.wait_for_connect()
                .await
                .map_err(|e| format!("fred connect: {e}"))?;
            let store = tower_sessions_redis_store::RedisStore::new(pool);
            Router::new()
                .route("/none", get(none))
                .route("/read", get(ts014::read))
                .route("/write", get(ts014::write))
                .layer(tower_sessions_014::SessionManagerLayer::new(store).with_secure(false))
        }
        Kind::ActixCookie
        | Kind::ActixRedis
        | Kind::SpActixCookie
        | Kind::SpActixRedis
        | Kind::Flask => return Err(format!("`{kind}` is not an axum server")),
        Kind::SpEncrypted
        | Kind::SpRedisNear
        | Kind::SpRedisNearOwn
        | Kind::SpMemcache
        | Kind::SpMongodb
        | Kind::SpFirestore => unreachable!("built by sp_outer above"),
    })
}

async fn none() -> &'static str {
    "none"
}

async fn session_plus_redis(
    url: Option<&str>,
) -> Result<Arc<dyn session_plus::store::SessionStore>, String> {
    let url = url.ok_or("no Redis URL")?;
    let store = session_plus_redis::RedisStore::from_url(url)
        .await
        .map_err(|e| format!("session-plus Redis store: {e}"))?;
    Ok(Arc::new(store))
}

fn session_plus_app(builder: session_plus::SessionManagerBuilder) -> Result<Router, String> {
    let manager = builder
        .build()
        .map_err(|e| format!("session-plus config: {e}"))?;
    Ok(Router::new()
        .route("/none", get(none))
        .route("/read", get(sp_read))
        .route("/write", get(sp_write))
        .layer(SessionLayer::new(Arc::new(manager))))
}

async fn sp_read(session: session_plus::Session) -> Result<String, SessionError> {
    let n: i64 = session.get("counter").await?.unwrap_or(0);
    Ok(n.to_string())
}

async fn sp_write(session: session_plus::Session) -> Result<String, SessionError> {
    let n: i64 = session.get("counter").await?.unwrap_or(0) + 1;
    session.insert("counter", n).await?;
    Ok(n.to_string())
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Handlers for tower-sessions 0.15 (the memory store).
mod ts {
    use super::internal;
    use axum::http::StatusCode;
    use tower_sessions::Session;

    pub(super) async fn read(session: Session) -> Result<String, (StatusCode, String)> {
        let n: i64 = session.get("counter").await.map_err(internal)?.unwrap_or(0);
        Ok(n.to_string())
    }

    pub(super) async fn write(session: Session) -> Result<String, (StatusCode, String)> {
        let n: i64 = session.get("counter").await.map_err(internal)?.unwrap_or(0) + 1;
        session.insert("counter", n).await.map_err(internal)?;
        Ok(n.to_string())
    }
}

/// The same handlers for tower-sessions 0.14 (the Redis store).
mod ts014 {
    use super::internal;
    use axum::http::StatusCode;
    use tower_sessions_014::Session;

    pub(super) async fn read(session: Session) -> Result<String, (StatusCode, String)> {
        let n: i64 = session.get("counter").await.map_err(internal)?.unwrap_or(0);
        Ok(n.to_string())
    }

    pub(super) async fn write(session: Session) -> Result<String, (StatusCode, String)> {
        let n: i64 = session.get("counter").await.map_err(internal)?.unwrap_or(0) + 1;
        session.insert("counter", n).await.map_err(internal)?;
        Ok(n.to_string())
    }
}
