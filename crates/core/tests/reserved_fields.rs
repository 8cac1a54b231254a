//! Field names are reserved per backend (a cookie format or a store declares
//! the names its layout keeps for itself), not for every user: `_permanent`
//! is an ordinary field unless the interface that owns it reserves it.

use std::sync::Arc;

use serde_json::json;
use session_plus_core::store::{
    Capabilities, Changes, MetaUpdate, Record, RecordMeta, SessionStore,
};
use session_plus_core::{
    FieldRules, Interface, Key, MemoryStore, RecordKey, Result, SessionDriver, SessionManager,
};

/// A memory store whose layout keeps `_permanent` for itself.
#[derive(Debug, Default)]
struct Reserving(MemoryStore);

#[async_trait::async_trait]
impl SessionStore for Reserving {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn reserved_fields(&self) -> &[&str] {
        &["_permanent"]
    }
    async fn load(&self, key: &RecordKey) -> Result<Option<Record>> {
        self.0.load(key).await
    }
    async fn create(&self, key: &RecordKey, record: &Record) -> Result<bool> {
        self.0.create(key, record).await
    }
    async fn update(&self, key: &RecordKey, changes: &Changes) -> Result<bool> {
        self.0.update(key, changes).await
    }
    async fn touch(&self, key: &RecordKey, meta: &MetaUpdate) -> Result<bool> {
        self.0.touch(key, meta).await
    }
    async fn supersede(&self, key: &RecordKey, until: i64) -> Result<Option<Record>> {
        self.0.supersede(key, until).await
    }
    async fn delete(&self, key: &RecordKey) -> Result<()> {
        self.0.delete(key).await
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_store_that_reserves_a_field_refuses_it_and_hides_it() {
    rt().block_on(async {
        let store = Arc::new(Reserving::default());
        let m = Arc::new(
            SessionManager::builder()
                .interface(Interface::store("session", store.clone()).fields(FieldRules::All))
                .build()
                .unwrap(),
        );
        let d = SessionDriver::new(m.clone(), std::iter::empty::<&[u8]>());
        let s = d.session();
        let err = s.insert("_permanent", true).await.unwrap_err();
        assert!(
            err.to_string().contains("_permanent") && err.to_string().contains("session"),
            "{err}"
        );
        assert!(s.get_value("_permanent").await.is_err());
        assert!(s.remove_value("_permanent").await.is_err());
        s.insert("user_id", 1).await.unwrap();
        let out = d.finish().await;
        assert!(out.error.is_none());
        // A record holding the name (written by another app) never shows it.
        let id = out.cookie_header();
        let (_, id) = id.split_once('=').unwrap();
        let key = RecordKey::new("", session_plus_core::SessionId::parse(id).unwrap());
        let now = session_plus_core::unix_now();
        store.0.delete(&key).await.unwrap();
        let rec = Record::new(
            [
                ("_permanent".to_owned(), json!(true)),
                ("user_id".to_owned(), json!(1)),
            ]
            .into(),
            RecordMeta::new(now, now + 600, ""),
        );
        assert!(store.0.create(&key, &rec).await.unwrap());
        let d = SessionDriver::new(m, [format!("session={id}").as_bytes()]);
        assert_eq!(d.session().keys().await.unwrap(), ["user_id"]);
    });
}

#[test]
fn including_a_reserved_field_is_a_configuration_error() {
    let err = SessionManager::builder()
        .interface(
            Interface::store("session", Arc::new(Reserving::default()))
                .fields(FieldRules::include(["user_id", "_permanent"])),
        )
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("session") && err.contains("session_fields") && err.contains("_permanent"),
        "{err}"
    );
}

#[test]
fn elsewhere_permanent_is_an_ordinary_field() {
    rt().block_on(async {
        let m = Arc::new(
            SessionManager::builder()
                .keys(Key::generate())
                .interface(
                    Interface::store("session", Arc::new(Reserving::default()))
                        .fields(FieldRules::include(["user_id"])),
                )
                .interface(Interface::secure_cookie("data").fields(FieldRules::Auto))
                .interface(
                    Interface::store("plain", Arc::new(MemoryStore::new()))
                        .fields(FieldRules::include(["x"])),
                )
                .build()
                .unwrap(),
        );
        let d = SessionDriver::new(m.clone(), std::iter::empty::<&[u8]>());
        d.session().insert("_permanent", "mine").await.unwrap();
        let out = d.finish().await;
        assert!(out.error.is_none());
        let d = SessionDriver::new(m, [out.cookie_header().as_bytes()]);
        assert_eq!(
            d.session()
                .get::<String>("_permanent")
                .await
                .unwrap()
                .as_deref(),
            Some("mine")
        );
    });
}
