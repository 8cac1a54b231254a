//! `session_type = "mongodb"` for configuration documents.

use std::sync::Arc;

use serde::Deserialize;
use session_plus_core::config::{InterfaceDocument, StoreFactory};
use session_plus_core::store::SessionStore;
use session_plus_core::{Result, StoreRegistry};

use crate::{MongoOptions, MongoStore};

/// The MongoDB settings of an interface document (beyond the common ones).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    db: String,
    collection: String,
    #[serde(default = "yes")]
    create_ttl_index: bool,
}

fn yes() -> bool {
    true
}

/// Add `session_type = "mongodb"` to a registry.
///
/// Settings read from the interface's document:
///
/// | setting | meaning |
/// |---|---|
/// | `url` | required: a MongoDB connection string, `mongodb://[user:pass@]host[:port][,host2...][/?replicaSet=...&...]` |
/// | `db` | required: the database |
/// | `collection` | required: the collection holding the sessions |
/// | `create_ttl_index` | create the TTL index on `expires` at start-up (default `true`) |
///
/// Any other key is an error naming it. Write concern, timeouts, TLS and
/// credentials go in the URL, as the driver documents them (`w=majority` is
/// used when the URL sets no `w`). The server is contacted while the
/// configuration is built, so a wrong address fails at start-up (after the
/// URL's `serverSelectionTimeoutMS`, 30 s by default).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// session_plus_mongodb::register(&mut registry);
/// assert!(registry.knows("mongodb"));
///
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "mongodb"
///     url = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
///     db = "app"
///     colection = "sessions"   # misspelled
/// "#).unwrap();
/// let err = doc.build(Key::generate().into(), &registry).await.unwrap_err();
/// assert!(err.is_config() && err.to_string().contains("colection"));
/// # });
/// ```
pub fn register(registry: &mut StoreRegistry) {
    let factory: StoreFactory = Arc::new(|doc| Box::pin(build(doc)));
    registry.register("mongodb", factory);
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let settings: Settings = doc.backend_settings()?;
    let url = doc.require_url()?;
    let options = MongoOptions::default().ttl_index(settings.create_ttl_index);
    let store =
        MongoStore::connect(doc.name(), url, &settings.db, &settings.collection, options).await?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_plus_core::{ConfigDocument, Error, Key};

    async fn build_err(toml: &str) -> Error {
        let mut registry = StoreRegistry::new();
        register(&mut registry);
        let doc = ConfigDocument::from_toml(toml).unwrap();
        doc.build(Key::generate().into(), &registry)
            .await
            .unwrap_err()
    }

    const HEAD: &str = "[[interface]]\ncookie_name = \"s\"\nsession_type = \"mongodb\"\n";

    #[tokio::test]
    async fn config_errors_name_the_interface_and_setting() {
        let e = build_err(&format!("{HEAD}db = \"app\"\ncollection = \"c\"\n")).await;
        assert!(e.is_config() && e.to_string().contains("url"), "{e}");
        assert_eq!(e.interface(), Some("s"));

        let e = build_err(&format!(
            "{HEAD}url = \"mongodb://127.0.0.1:1\"\ncollection = \"c\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("db"), "{e}");

        let e = build_err(&format!(
            "{HEAD}url = \"mongodb://127.0.0.1:1\"\ndb = \"a\"\ncollection = \"c\"\nttl_index = false\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("ttl_index"), "{e}");

        let e = build_err(&format!(
            "{HEAD}url = \"mongodb://127.0.0.1:1\"\ndb = \"\"\ncollection = \"c\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("db"), "{e}");

        let e = build_err(&format!(
            "{HEAD}url = \"mysql://u:hunter2@127.0.0.1:1\"\ndb = \"a\"\ncollection = \"c\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("url"), "{e}");
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");

        let e = build_err(&format!(
            "{HEAD}url = \"mongodb://127.0.0.1:1/?w=0\"\ndb = \"a\"\ncollection = \"c\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("w: 0"), "{e}");
        assert!(e.to_string().contains("url"), "{e}");
    }

    #[tokio::test]
    async fn unreachable_server_fails_at_start_up_without_leaking_the_password() {
        let port = session_plus_testkit::free_port();
        for ttl in [true, false] {
            let e = build_err(&format!(
                "{HEAD}url = \"mongodb://u:hunter2@127.0.0.1:{port}/?serverSelectionTimeoutMS=300\"\n\
                 db = \"a\"\ncollection = \"c\"\ncreate_ttl_index = {ttl}\n"
            ))
            .await;
            assert!(e.is_backend(), "{e:?}");
            assert_eq!(e.interface(), Some("s"));
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        }
    }
}
