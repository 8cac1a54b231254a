//! `session_type = "redis"` for configuration documents.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
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
/// | `near_cache` | `true`: keep decoded records in this app server, invalidated by Redis ([`NearCachedStore`](crate::NearCachedStore); Redis 6 or newer, not with `cluster_urls`) |
/// | `near_cache_max_entries` | most records the near cache keeps (default 100000) |
/// | `near_cache_keep_own_writes` | `true`: this server's updates refresh its cache, so a read after a write is a hit (standalone only; see [`NearCacheOptions::keep_own_writes`](crate::NearCacheOptions::keep_own_writes)) |
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

/// The settings of a `redis` interface besides the common ones (typos are
/// start-up errors naming the key and the interface).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisSettings {
    #[serde(default)]
    cluster_urls: Option<Vec<String>>,
    #[serde(default)]
    connect_timeout_ms: Option<NonZeroU64>,
    #[serde(default)]
    response_timeout_ms: Option<NonZeroU64>,
    #[serde(default)]
    near_cache: bool,
    #[serde(default)]
    near_cache_max_entries: Option<usize>,
    #[serde(default)]
    near_cache_keep_own_writes: bool,
}

async fn build(doc: &InterfaceDocument) -> Result<Arc<dyn SessionStore>> {
    let name = doc.name();
    let settings: RedisSettings = doc.backend_settings()?;
    let options = options(doc, &settings);
    if settings.near_cache_keep_own_writes && !settings.near_cache {
        return Err(Error::config(
            name,
            "near_cache_keep_own_writes",
            "needs `near_cache = true`",
        ));
    }
    if settings.near_cache_keep_own_writes && settings.cluster_urls.is_some() {
        return Err(Error::config(
            name,
            "near_cache_keep_own_writes",
            "works on a standalone server only (not with `cluster_urls`)",
        ));
    }
    let store = match (settings.cluster_urls.as_deref(), doc.url.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                name,
                "cluster_urls",
                "give either `url` or `cluster_urls`, not both",
            ))
        }
        (Some([]), None) => {
            return Err(Error::config(
                name,
                "cluster_urls",
                "must be a non-empty list of URL strings",
            ))
        }
        (Some(urls), None) if settings.near_cache => {
            let store = RedisStore::connect_cluster(name, urls, options).await?;
            let cached = crate::NearCachedStore::connect_cluster(store, urls, near(doc, &settings))
                .await
                .map_err(|e| near_cache_failed(name, e))?;
            return Ok(Arc::new(cached));
        }
        (Some(urls), None) => RedisStore::connect_cluster(name, urls, options).await?,
        (None, Some(url)) if settings.near_cache => {
            let store = RedisStore::connect_single(name, url, options).await?;
            let cached = crate::NearCachedStore::connect(store, url, near(doc, &settings))
                .await
                .map_err(|e| near_cache_failed(name, e))?;
            return Ok(Arc::new(cached));
        }
        (None, Some(url)) => RedisStore::connect_single(name, url, options).await?,
        (None, None) => return Err(Error::config(
            name,
            "url",
            "session_type `redis` needs a connection url (or `cluster_urls` for a Redis Cluster)",
        )),
    };
    Ok(Arc::new(store))
}

/// A near cache that could not start: a config error naming the setting,
/// keeping the cause (never the URL: the cause holds only addresses).
fn near_cache_failed(interface: &str, cause: Error) -> Error {
    Error::config(interface, "near_cache", "the near cache could not start").caused_by(cause)
}

/// Near-cache settings: track the interface's key prefix.
fn near(doc: &InterfaceDocument, settings: &RedisSettings) -> crate::NearCacheOptions {
    let mut near =
        crate::NearCacheOptions::default().prefix(doc.key_prefix.clone().unwrap_or_default());
    if let Some(n) = settings.near_cache_max_entries {
        near = near.max_entries(n);
    }
    near.keep_own_writes(settings.near_cache_keep_own_writes)
}

fn options(doc: &InterfaceDocument, settings: &RedisSettings) -> RedisOptions {
    let millis = |ms: NonZeroU64| Duration::from_millis(ms.get());
    let mut options = RedisOptions::default();
    if let Some(ms) = settings.connect_timeout_ms {
        options = options.connection_timeout(millis(ms));
    }
    // Below the core's call timeout, so the client sees reply timeouts itself.
    let below_core = doc
        .timeout_ms
        .map(|ms| Duration::from_millis((ms * 3 / 4).max(1)));
    if let Some(d) = settings.response_timeout_ms.map(millis).or(below_core) {
        options = options.response_timeout(d);
    }
    options
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

        // Keeping own writes needs the near cache, on a standalone server.
        for extra in [
            "url = \"redis://127.0.0.1:1\"\n",
            "cluster_urls = [\"redis://127.0.0.1:1\"]\nnear_cache = true\n",
        ] {
            let e = build_err(&format!(
                "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\n{extra}near_cache_keep_own_writes = true\n"
            ))
            .await;
            assert!(
                e.is_config() && e.to_string().contains("near_cache_keep_own_writes"),
                "{e}"
            );
        }

        // A misspelled setting is an error naming it and the interface.
        let e = build_err(
            "[[interface]]\ncookie_name = \"s\"\nsession_type = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nresponse_timeout = 5\n",
        )
        .await;
        assert!(e.is_config(), "{e}");
        assert_eq!(e.interface(), Some("s"));
        assert!(e.to_string().contains("response_timeout"), "{e}");
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
