//! `session_type = "redis"` for configuration documents.

use std::sync::Arc;
use std::time::Duration;

use session_plus_core::config::{InterfaceDocument, StoreFactory};
use session_plus_core::store::SessionStore;
use session_plus_core::{Error, Result, StoreRegistry};

use crate::{RedisOptions, RedisStore};

/// Add `session_type = "redis"` to a registry.
///
/// Settings read from the interface's document:
///
/// | setting | meaning |
/// |---|---|
/// | `url` | a standalone server, `redis://[user:pass@]host:port[/db]` |
/// | `cluster_urls` | a Redis Cluster instead: a list of seed-node URLs |
/// | `connect_timeout_ms` | client connection timeout (default 1000) |
/// | `response_timeout_ms` | client reply timeout (default: 3/4 of the interface's `timeout_ms`, else 1000) |
///
/// Exactly one of `url` and `cluster_urls` must be given. The store connects
/// while the configuration is built, so a wrong address fails at start-up.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use session_plus_core::{ConfigDocument, Key, StoreRegistry};
///
/// let mut registry = StoreRegistry::new();
/// session_plus_redis::register(&mut registry);
/// assert!(registry.knows("redis"));
///
/// let doc = ConfigDocument::from_toml(r#"
///     [[interface]]
///     cookie_name = "session"
///     session_type = "redis"
/// "#).unwrap();
/// let err = doc.build(Key::generate().into(), &registry).await.unwrap_err();
/// assert!(err.is_config() && err.to_string().contains("url"));
/// # });
/// ```
pub fn register(registry: &mut StoreRegistry) {
    let factory: StoreFactory = Arc::new(|doc| Box::pin(build(doc)));
    registry.register("redis", factory);
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let name = doc.name();
    let options = options(doc)?;
    let cluster = cluster_urls(doc)?;
    let store = match (cluster, doc.url.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                name,
                "cluster_urls",
                "give either `url` or `cluster_urls`, not both",
            ))
        }
        (Some(urls), None) => RedisStore::connect_cluster(name, &urls, options).await?,
        (None, Some(url)) => RedisStore::connect_single(name, url, options).await?,
        (None, None) => return Err(Error::config(
            name,
            "url",
            "session_type `redis` needs a connection url (or `cluster_urls` for a Redis Cluster)",
        )),
    };
    Ok(Arc::new(store))
}

fn cluster_urls(doc: &InterfaceDocument) -> Result<Option<Vec<String>>> {
    let Some(value) = doc.extra.get("cluster_urls") else {
        return Ok(None);
    };
    let bad = || {
        Error::config(
            doc.name(),
            "cluster_urls",
            "must be a non-empty list of URL strings",
        )
    };
    let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(bad)?;
    list.iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn options(doc: &InterfaceDocument) -> Result<RedisOptions> {
    let millis = |setting: &str| -> Result<Option<Duration>> {
        match doc.extra.get(setting) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&ms| ms > 0)
                .map(|ms| Some(Duration::from_millis(ms)))
                .ok_or_else(|| {
                    Error::config(
                        doc.name(),
                        setting,
                        "must be a positive number of milliseconds",
                    )
                }),
        }
    };
    let mut options = RedisOptions::default();
    if let Some(d) = millis("connect_timeout_ms")? {
        options = options.connection_timeout(d);
    }
    // Below the core's call timeout, so the client sees reply timeouts itself.
    let below_core = doc
        .timeout_ms
        .map(|ms| Duration::from_millis((ms * 3 / 4).max(1)));
    let response = millis("response_timeout_ms")?.or(below_core);
    if let Some(d) = response {
        options = options.response_timeout(d);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_plus_core::{ConfigDocument, Key};

    async fn build_err(toml: &str) -> Error {
        let registry = register(StoreRegistry::new());
        let doc = ConfigDocument::from_toml(toml).unwrap();
        doc.build(Key::generate().into(), &registry)
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn config_errors_name_the_interface_and_setting() {
        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\ncluster_urls = \"redis://x\"\n",
        )
        .await;
        assert!(e.is_config(), "{e}");
        assert_eq!(e.interface(), Some("s"));
        assert!(e.to_string().contains("cluster_urls"));

        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\nurl = \"redis://:hunter2@127.0.0.1:1\"\ncluster_urls = [\"redis://127.0.0.1:1\"]\n",
        )
        .await;
        assert!(e.is_config() && e.to_string().contains("not both"), "{e}");

        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\nurl = \"mysql://:hunter2@nowhere\"\n",
        )
        .await;
        assert!(e.is_config() && e.to_string().contains("url"), "{e}");
        assert!(
            !format!("{e} {e:?}").contains("hunter2"),
            "password leaked: {e:?}"
        );

        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nresponse_timeout_ms = -3\n",
        )
        .await;
        assert!(
            e.is_config() && e.to_string().contains("response_timeout_ms"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn unreachable_server_fails_at_start_up_without_leaking_the_password() {
        let port = session_plus_testkit::free_port();
        let e = build_err(&format!(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\nurl = \"redis://:hunter2@127.0.0.1:{port}\"\n"
        ))
        .await;
        assert!(e.is_backend(), "{e:?}");
        assert_eq!(e.interface(), Some("s"));
        assert!(
            !format!("{e} {e:?}").contains("hunter2"),
            "password leaked: {e:?}"
        );
    }
}
