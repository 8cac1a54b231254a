//! Start-up validation: every configuration error names the interface and the setting.

use std::sync::Arc;
use std::time::Duration;

use session_plus_core::{
    ConfigDocument, FieldRules, Interface, Key, MemoryStore, SameSite, SessionManager,
    StoreRegistry,
};

fn err_of(b: session_plus_core::SessionManagerBuilder) -> String {
    let e = b.build().expect_err("must be rejected");
    assert!(e.is_config(), "{e:?}");
    e.to_string()
}

fn assert_names(msg: &str, interface: &str, setting: &str) {
    assert!(
        msg.contains(&format!("`{interface}`")),
        "{msg} should name interface {interface}"
    );
    assert!(msg.contains(setting), "{msg} should name setting {setting}");
}

#[test]
fn duplicate_cookie_names() {
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("s"))
            .interface(Interface::secure_cookie("s")),
    );
    assert_names(&msg, "s", "cookie_name");
}

#[test]
fn missing_cookie_name_and_no_interfaces() {
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("")),
    );
    assert!(msg.contains("cookie_name"), "{msg}");
    let msg = err_of(SessionManager::builder());
    assert!(msg.contains("interfaces"), "{msg}");
}

#[test]
fn bad_cookie_name() {
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("a b;c")),
    );
    assert_names(&msg, "a b;c", "cookie_name");
}

#[test]
fn missing_key_for_signing_interfaces() {
    let msg = err_of(SessionManager::builder().interface(Interface::secure_cookie("data")));
    assert_names(&msg, "data", "secret_key");
    let msg = err_of(
        SessionManager::builder()
            .interface(Interface::store("session", Arc::new(MemoryStore::new())).use_signer(true)),
    );
    assert_names(&msg, "session", "secret_key");
    // A store without a signer needs no key.
    assert!(SessionManager::builder()
        .interface(Interface::store("session", Arc::new(MemoryStore::new())))
        .build()
        .is_ok());
}

#[test]
fn short_keys_are_rejected() {
    assert!(Key::from_bytes(&[7u8; 31]).is_err());
    assert!(Key::from_bytes(&[7u8; 32]).is_ok());
}

#[test]
fn bad_field_rules() {
    let msg =
        err_of(SessionManager::builder().keys(Key::generate()).interface(
            Interface::secure_cookie("c").fields(FieldRules::include(["ok", "bad\nname"])),
        ));
    assert_names(&msg, "c", "session_fields");
    // `_permanent` is reserved only by the Flask cookie formats (see
    // CookieFormat::reserved_fields), not by the native ones.
    assert!(SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("c").fields(FieldRules::include(["_permanent"])))
        .build()
        .is_ok());
    assert!(FieldRules::include_exclude(vec!["a".into()], vec!["a".into()]).is_err());
}

#[test]
fn cookie_prefixes_are_validated() {
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("__Host-s")),
    );
    assert_names(&msg, "__Host-s", "cookie_secure");
    let msg = err_of(
        SessionManager::builder().keys(Key::generate()).interface(
            Interface::secure_cookie("__Host-s")
                .cookie_secure(true)
                .cookie_domain("example.com"),
        ),
    );
    assert_names(&msg, "__Host-s", "cookie_domain");
    let msg = err_of(
        SessionManager::builder().keys(Key::generate()).interface(
            Interface::secure_cookie("__Host-s")
                .cookie_secure(true)
                .cookie_path("/app"),
        ),
    );
    assert_names(&msg, "__Host-s", "cookie_path");
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("__Secure-s")),
    );
    assert_names(&msg, "__Secure-s", "cookie_secure");
    assert!(SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("__Host-s").cookie_secure(true))
        .interface(
            Interface::secure_cookie("__Secure-t")
                .cookie_secure(true)
                .cookie_domain("example.com")
                .fields(FieldRules::Auto)
        )
        .build()
        .is_ok());
}

#[test]
fn samesite_none_requires_secure() {
    let msg = err_of(
        SessionManager::builder()
            .keys(Key::generate())
            .interface(Interface::secure_cookie("s").cookie_samesite(SameSite::None)),
    );
    assert_names(&msg, "s", "cookie_samesite");
}

#[test]
fn bad_lifetimes_and_timeouts() {
    let b = || SessionManager::builder().keys(Key::generate());
    assert_names(
        &err_of(b().interface(Interface::secure_cookie("s").session_lifetime(Duration::ZERO))),
        "s",
        "session_lifetime",
    );
    assert_names(
        &err_of(b().interface(
            Interface::secure_cookie("s").session_permanent_lifetime(Duration::from_millis(10)),
        )),
        "s",
        "session_permanent_lifetime",
    );
    assert_names(
        &err_of(b().interface(Interface::secure_cookie("s").timeout(Duration::ZERO))),
        "s",
        "timeout",
    );
}

#[tokio::test]
async fn document_errors_name_interface_and_setting() {
    let registry = StoreRegistry::new();
    let key = || Key::generate().into();
    let doc = ConfigDocument::from_toml(
        "[[interface]]\ncookie_name = \"s\"\nsession_type = \"cassandra\"\n",
    )
    .unwrap();
    let msg = doc.build(key(), &registry).await.unwrap_err().to_string();
    assert_names(&msg, "s", "session_type");
    assert!(msg.contains("cassandra"), "{msg}");

    let doc =
        ConfigDocument::from_toml("[[interface]]\nsession_type = \"secure_cookie\"\n").unwrap();
    let msg = doc.build(key(), &registry).await.unwrap_err().to_string();
    assert_names(&msg, "#1", "cookie_name");

    let e = ConfigDocument::from_toml(
        "[[interface]]\ncookie_name = \"s\"\nsession_fields = \"everything\"\n",
    )
    .unwrap_err();
    assert!(e.is_config());
    assert!(e.to_string().contains("auto"), "{e}");
}

#[tokio::test]
async fn seed_config_as_json_list_and_as_toml_are_equal() {
    let json = ConfigDocument::from_json(
        r#"[
            {"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": ["csrf_token"]},
            {"cookie_name": "session", "session_type": "memory", "session_fields": ["user_id", "user_data"]},
            {"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"}
        ]"#,
    )
    .unwrap();
    let toml = ConfigDocument::from_toml(
        r#"
        [[interface]]
        cookie_name = "csrf"
        session_type = "secure_cookie"
        session_fields = ["csrf_token"]
        [[interface]]
        cookie_name = "session"
        session_type = "memory"
        session_fields = ["user_id", "user_data"]
        [[interface]]
        cookie_name = "data"
        session_type = "secure_cookie"
        session_fields = "auto"
        "#,
    )
    .unwrap();
    let registry = StoreRegistry::new();
    let a = json.build(Key::generate().into(), &registry).await.unwrap();
    let b = toml.build(Key::generate().into(), &registry).await.unwrap();
    for f in ["csrf_token", "user_id", "user_data", "anything"] {
        assert_eq!(a.owners_of(f), b.owners_of(f));
    }
    assert_eq!(a.owners_of("user_id"), ["session"]);
    assert!(a.store("session").is_some());
}

#[tokio::test]
async fn document_settings_reach_the_interface() {
    let doc = ConfigDocument::from_json(
        r#"{"interfaces": [{"cookie_name": "s", "encrypt": true, "cookie_secure": true, "cookie_samesite": "Strict",
            "cookie_max_age": 600, "cookie_path": "/app", "cookie_domain": "example.com"}]}"#,
    )
    .unwrap();
    let m = Arc::new(
        doc.build(Key::generate().into(), &StoreRegistry::new())
            .await
            .unwrap(),
    );
    let d = session_plus_core::SessionDriver::new(m, std::iter::empty::<&[u8]>());
    d.session().insert("secret", "hunter2").await.unwrap();
    let done = d.finish().await;
    let h = done.cookies[0].header_value();
    for attr in [
        "Secure",
        "SameSite=Strict",
        "Max-Age=600",
        "Path=/app",
        "Domain=example.com",
        "HttpOnly",
    ] {
        assert!(h.contains(attr), "{attr} missing in {h}");
    }
    assert!(!h.contains("hunter2"), "encrypted");
}
