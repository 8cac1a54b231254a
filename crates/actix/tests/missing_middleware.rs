//! actix-web specifics: the extractor without the middleware, a handler's
//! own `Vary`, and the README snippet kept in the repository's README.

use std::sync::Arc;

use actix_web::http::header::VARY;
use actix_web::{test as atest, web, App, HttpResponse};
use session_plus_actix::{
    FieldRules, Interface, Key, Session, SessionError, SessionManager, SessionMiddleware,
};

async fn handler(session: Session) -> Result<HttpResponse, SessionError> {
    session.insert("n", 1).await?;
    Ok(HttpResponse::Ok()
        .insert_header((VARY, "Accept-Encoding, cookie"))
        .finish())
}

fn manager() -> Arc<SessionManager> {
    Arc::new(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("s").fields(FieldRules::All))
            .build()
            .unwrap(),
    )
}

#[actix_web::test]
async fn the_extractor_without_the_middleware_is_a_500() {
    let app = atest::init_service(App::new().route("/", web::get().to(handler))).await;
    let res = atest::call_service(&app, atest::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status().as_u16(), 500);
    assert!(res.headers().get("set-cookie").is_none());
}

#[actix_web::test]
async fn a_vary_that_covers_cookie_is_not_repeated() {
    let app = atest::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager()))
            .route("/", web::get().to(handler)),
    )
    .await;
    let res = atest::call_service(&app, atest::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status().as_u16(), 200);
    let vary: Vec<_> = res.headers().get_all(VARY).collect();
    assert_eq!(vary, ["Accept-Encoding, cookie"]);
    assert_eq!(res.headers().get_all("set-cookie").count(), 1);
}

#[actix_web::test]
async fn middleware_on_a_scope_only_serves_that_scope() {
    let app = atest::init_service(
        App::new()
            .service(
                web::scope("/s")
                    .wrap(SessionMiddleware::new(manager()))
                    .route("/", web::get().to(handler)),
            )
            .route("/plain", web::get().to(handler)),
    )
    .await;
    let res = atest::call_service(&app, atest::TestRequest::get().uri("/s/").to_request()).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = atest::call_service(&app, atest::TestRequest::get().uri("/plain").to_request()).await;
    assert_eq!(res.status().as_u16(), 500);
}

/// The repository README's actix-web snippet is this crate's README snippet
/// (which is compiled as this crate's doc test).
#[test]
fn the_repository_readme_shows_the_tested_snippet() {
    let crate_readme = include_str!("../README.md");
    let root = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("repository README");
    let snippet = crate_readme
        .split("```rust\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("snippet");
    // The root README shows the snippet without the hidden (`# `) lines.
    let shown: Vec<&str> = snippet.lines().filter(|l| !l.starts_with("# ")).collect();
    assert!(
        root.contains(&shown.join("\n")),
        "README.md's actix-web section differs from crates/actix/README.md"
    );
}
