//! The shared HTTP behaviour suite (`session-plus-http-suite`) on axum
//! through the real `SessionLayer`, and what is not about HTTP at all.

mod support;

use session_plus::{Interface, Key, SessionManager};

session_plus_http_suite::suite!(tokio::test, support::Axum);

#[tokio::test]
async fn building_twice_from_one_configuration_works() {
    // Flask-session-plus bug 7: init mutated SESSION_CONFIG in place.
    let doc = session_plus::ConfigDocument::from_toml(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_fields = ["csrf_token"]
        [[interface]]
        cookie_name = "data"
        session_fields = "auto"
        "#,
    )
    .unwrap();
    let key = Key::generate();
    let registry = session_plus::default_registry();
    let a = doc.build(key.clone().into(), &registry).await.unwrap();
    let b = doc.build(key.into(), &registry).await.unwrap();
    assert_eq!(a.owners_of("x"), b.owners_of("x"));
    let iface = Interface::secure_cookie("s");
    let one = SessionManager::builder()
        .keys(Key::generate())
        .interface(iface.clone())
        .build();
    let two = SessionManager::builder()
        .keys(Key::generate())
        .interface(iface)
        .build();
    assert!(one.is_ok() && two.is_ok());
}
