//! `session_type = "firestore"` for configuration documents.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use session_plus_core::config::{InterfaceDocument, StoreFactory};
use session_plus_core::store::SessionStore;
use session_plus_core::{Error, Result, StoreRegistry};

use crate::{FirestoreClient, FirestoreStore};

/// The Firestore settings of an interface document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    collection: String,
    project_id: Option<String>,
    emulator_host: Option<String>,
    database: Option<String>,
    endpoint: Option<String>,
    layout: Option<String>,
}

/// Add `session_type = "firestore"` to a registry.
///
/// Settings read from the interface's document:
///
/// | setting | meaning |
/// |---|---|
/// | `collection` | the collection holding one document per session (required) |
/// | `project_id` | the Google Cloud project (default: `GOOGLE_CLOUD_PROJECT`) |
/// | `emulator_host` | `host:port` of an emulator (default: `FIRESTORE_EMULATOR_HOST`) |
/// | `database` | database id (default `(default)`) |
/// | `endpoint` | another endpoint than `https://firestore.googleapis.com` |
/// | `layout` | `"session-plus"` (default) or `"flask-session-plus"` (Python's records) |
///
/// Without an emulator, credentials come from Google's usual sources (feature
/// `gcp-auth`; building without it makes such a document a configuration
/// error).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// session_plus_firestore::register(&mut registry);
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "firestore"
///     collection = "sessions"
///     project_id = "my-project"
///     emulator_host = "127.0.0.1:8080"
///     session_fields = ["user_id", "user_data"]
/// "#).unwrap();
/// let manager = doc.build(Key::generate().into(), &registry).await.unwrap();
/// assert_eq!(manager.owners_of("user_id"), ["session"]);
///
/// // A misspelled setting names itself and the interface.
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "firestore"
///     colection = "sessions"
/// "#).unwrap();
/// let err = doc.build(Key::generate().into(), &registry).await.unwrap_err();
/// assert!(err.is_config() && err.to_string().contains("colection"), "{err}");
/// # });
/// ```
pub fn register(registry: &mut StoreRegistry) {
    let factory: StoreFactory = Arc::new(|doc| Box::pin(build(doc)));
    registry.register("firestore", factory);
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let name = doc.name();
    let settings: Settings = doc.backend_settings()?;
    if doc.url.is_some() {
        return Err(Error::config(
            name,
            "url",
            "session_type `firestore` takes `project_id` (and `emulator_host`), not `url`",
        ));
    }
    let project = settings
        .project_id
        .clone()
        .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Error::config(
                name,
                "project_id",
                "is required (or set GOOGLE_CLOUD_PROJECT)",
            )
        })?;
    let emulator = settings.emulator_host.clone().or_else(|| {
        std::env::var("FIRESTORE_EMULATOR_HOST")
            .ok()
            .filter(|h| !h.is_empty())
    });
    let mut client = match emulator {
        Some(host) => FirestoreClient::emulator(&host, &project),
        None => production(name, &project).await?,
    };
    if let Some(db) = &settings.database {
        client = client.with_database(db);
    }
    if let Some(endpoint) = &settings.endpoint {
        client = client.with_endpoint(endpoint);
    }
    let with_name = |e: Error| {
        if e.is_config() {
            Error::config(name, "collection", e)
        } else {
            e
        }
    };
    let store = match settings.layout.as_deref() {
        None | Some("session-plus") => {
            FirestoreStore::new(client, &settings.collection).map_err(with_name)?
        }
        Some("flask-session-plus") => {
            let secs = Duration::from_secs;
            FirestoreStore::flask_session_plus(client, &settings.collection)
                .map_err(with_name)?
                .lifetimes(
                    secs(doc.session_lifetime.unwrap_or(24 * 3600)),
                    secs(doc.session_permanent_lifetime.unwrap_or(31 * 24 * 3600)),
                )
        }
        Some(other) => {
            return Err(Error::config(
                name,
                "layout",
                format!("unknown layout `{other}` (known: session-plus, flask-session-plus)"),
            ))
        }
    };
    Ok(Arc::new(store))
}

#[cfg(feature = "gcp-auth")]
async fn production(name: &str, project: &str) -> Result<FirestoreClient> {
    let tokens = crate::GcpAuthTokens::new()
        .await
        .map_err(|e| Error::backend(name, e))?;
    Ok(FirestoreClient::new(project, tokens))
}

#[cfg(not(feature = "gcp-auth"))]
async fn production(name: &str, _project: &str) -> Result<FirestoreClient> {
    Err(Error::config(
        name,
        "emulator_host",
        "no emulator given (`emulator_host` or FIRESTORE_EMULATOR_HOST) and \
         session-plus-firestore was built without its `gcp-auth` feature, so there are \
         no credentials for the real service",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_plus_core::{ConfigDocument, Key};

    async fn build_err(toml: &str) -> Error {
        let mut registry = StoreRegistry::new();
        register(&mut registry);
        let doc = ConfigDocument::from_toml(toml).unwrap();
        doc.build(Key::generate().into(), &registry)
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn config_errors_name_the_interface_and_setting() {
        let head = "[[interface]]\ncookie_name = \"s\"\nsession_type = \"firestore\"\n";
        let e = build_err(head).await;
        assert!(e.is_config() && e.to_string().contains("collection"), "{e}");
        assert_eq!(e.interface(), Some("s"));
        let e = build_err(&format!(
            "{head}collection = \"a/b\"\nproject_id = \"p\"\nemulator_host = \"127.0.0.1:1\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("collection"), "{e}");
        let e = build_err(&format!(
            "{head}collection = \"c\"\nproject_id = \"p\"\nemulator_host = \"127.0.0.1:1\"\nlayout = \"mongo\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("layout"), "{e}");
        let e = build_err(&format!(
            "{head}collection = \"c\"\nproject_id = \"p\"\nurl = \"http://x\"\n"
        ))
        .await;
        assert!(e.is_config() && e.to_string().contains("url"), "{e}");
    }
}
