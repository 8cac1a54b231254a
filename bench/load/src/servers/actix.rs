//! The actix-web servers with actix-session.

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
