//! The actix-web servers: actix-session, and session-plus through
//! `session-plus-actix`.

use actix_session::config::CookieContentSecurity;
use actix_session::storage::{CookieSessionStore, RedisSessionStore, SessionStore};
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::Key;
use actix_web::{web, App, HttpResponse, HttpServer};

/// Serve with one actix worker: the cookie store, or Redis at `redis_url`.
pub(super) fn serve(port: u16, redis_url: Option<String>) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        // One key for every worker (there is one worker, but be correct).
        let key = Key::generate();
        match redis_url {
            None => run(port, key, CookieSessionStore::default).await,
            Some(url) => {
                let store = RedisSessionStore::new(url)
                    .await
                    .map_err(|e| format!("actix RedisSessionStore: {e}"))?;
                run(port, key, move || store.clone()).await
            }
        }
    })
}

async fn run<S, F>(port: u16, key: Key, store: F) -> Result<(), String>
where
    S: SessionStore + 'static,
    F: Fn() -> S + Send + Clone + 'static,
{
    HttpServer::new(move || {
        App::new()
            .wrap(
                SessionMiddleware::builder(store(), key.clone())
                    .cookie_secure(false)
                    // Signed like session-plus's secure_cookie (the default,
                    // `Private`, would add AES-GCM on top).
                    .cookie_content_security(CookieContentSecurity::Signed)
                    .build(),
            )
            .route("/none", web::get().to(none))
            .route("/read", web::get().to(read))
            .route("/write", web::get().to(write))
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?
    .run()
    .await
    .map_err(|e| format!("serve: {e}"))
}

async fn none() -> &'static str {
    "none"
}

async fn read(session: Session) -> HttpResponse {
    match session.get::<i64>("counter") {
        Ok(n) => HttpResponse::Ok().body(n.unwrap_or(0).to_string()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

async fn write(session: Session) -> HttpResponse {
    let n = match session.get::<i64>("counter") {
        Ok(n) => n.unwrap_or(0) + 1,
        Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
    };
    match session.insert("counter", n) {
        Ok(()) => HttpResponse::Ok().body(n.to_string()),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// session-plus on actix-web with one worker: one signed-cookie interface
/// owning every field, or one Redis interface at `redis_url` (the same
/// configurations as `sp-cookie` / `sp-redis` on axum).
pub(super) fn serve_session_plus(port: u16, redis_url: Option<String>) -> Result<(), String> {
    use std::sync::Arc;

    use session_plus_actix::{
        FieldRules, Interface, Key as SpKey, SessionManager, SessionMiddleware,
    };

    actix_web::rt::System::new().block_on(async move {
        let interface = match redis_url {
            None => Interface::secure_cookie("data"),
            Some(url) => {
                let store = session_plus_redis::RedisStore::from_url(&url)
                    .await
                    .map_err(|e| format!("session-plus Redis store: {e}"))?;
                Interface::store("session", Arc::new(store))
            }
        };
        // One manager (and one Redis connection) for every worker, like the
        // actix-session store above.
        let manager = Arc::new(
            SessionManager::builder()
                .keys(SpKey::generate())
                .interface(interface.fields(FieldRules::All))
                .build()
                .map_err(|e| format!("session-plus config: {e}"))?,
        );
        HttpServer::new(move || {
            App::new()
                .wrap(SessionMiddleware::new(manager.clone()))
                .route("/none", web::get().to(none))
                .route("/read", web::get().to(sp::read))
                .route("/write", web::get().to(sp::write))
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?
        .run()
        .await
        .map_err(|e| format!("serve: {e}"))
    })
}

/// The handlers of the axum session-plus servers, on actix-web.
mod sp {
    use session_plus_actix::{Session, SessionError};

    pub(super) async fn read(session: Session) -> Result<String, SessionError> {
        let n: i64 = session.get("counter").await?.unwrap_or(0);
        Ok(n.to_string())
    }

    pub(super) async fn write(session: Session) -> Result<String, SessionError> {
        let n: i64 = session.get("counter").await?.unwrap_or(0) + 1;
        session.insert("counter", n).await?;
        Ok(n.to_string())
    }
}
