//! The backends this build knows by `session_type` name.

use session_plus_core::StoreRegistry;

/// A [`StoreRegistry`] with every backend enabled by this crate's features:
/// `memory` always, `sqlite` (feature `sqlite`; `url = "sqlite://path/to/file.db"`
/// or `sqlite::memory:`, optional `readers`, `busy_timeout_ms`, `sweep_interval`
/// in seconds), `redis` (feature `redis`), `firestore` (feature
/// `firestore`).
///
/// Also `memcache` (feature `memcache`; `servers = ["host:port", ...]`).
///
/// Also `mongodb` (feature `mongodb`; `url = "mongodb://..."`, `db`,
/// `collection`, optional `create_ttl_index`).
///
/// ```
/// let registry = session_plus::default_registry();
/// assert!(registry.knows("memory"));
/// # #[cfg(feature = "sqlite")]
/// assert!(registry.knows("sqlite"));
/// ```
pub fn default_registry() -> StoreRegistry {
    #[allow(unused_mut)]
    let mut registry = StoreRegistry::new();
    #[cfg(feature = "sqlite")]
    {
        session_plus_sqlite::register(&mut registry);
    }
    #[cfg(feature = "redis")]
    {
        session_plus_redis::register(&mut registry);
    }
    #[cfg(feature = "memcache")]
    {
        session_plus_memcache::register(&mut registry);
    }
    #[cfg(feature = "firestore")]
    {
        session_plus_firestore::register(&mut registry);
    }
    #[cfg(feature = "mongodb")]
    {
        session_plus_mongodb::register(&mut registry);
    }
    registry
}

#[cfg(all(test, feature = "sqlite"))]
mod sqlite_factory_tests {
    use session_plus_core::{ConfigDocument, Error, Key};

    async fn build(settings: &str) -> Result<session_plus_core::SessionManager, Error> {
        let doc = ConfigDocument::from_toml(&format!(
            "[[interface]]\ncookie_name = \"session\"\nsession_type = \"sqlite\"\n{settings}"
        ))?;
        doc.build(Key::generate().into(), &super::default_registry())
            .await
    }

    #[tokio::test]
    async fn a_missing_directory_names_the_interface_the_path_and_the_os_error() {
        let e = build("url = \"sqlite:///nonexistent/dir/s.db\"\n")
            .await
            .unwrap_err();
        assert_eq!(e.interface(), Some("session"), "{e}");
        let text = e.report().to_string();
        assert!(text.contains("setting `url`"), "{text}");
        assert!(text.contains("`/nonexistent/dir/s.db`"), "{text}");
        assert!(text.contains("(os error 2)"), "{text}");
        assert!(!text.contains("`sqlite`"), "names the backend type: {text}");
    }

    #[tokio::test]
    async fn a_directory_instead_of_a_file_names_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = build(&format!("url = \"{}\"\n", dir.path().display()))
            .await
            .unwrap_err();
        let text = e.report().to_string();
        assert!(text.contains("session interface `session`"), "{text}");
        assert!(text.contains("(os error 21)"), "{text}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_keeps_sqlites_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let e = build(&format!("url = \"{}\"\n", path.display()))
            .await
            .unwrap_err();
        let text = e.report().to_string();
        assert!(text.contains("session interface `session`"), "{text}");
        assert!(text.contains("not a database"), "{text}");
    }

    #[tokio::test]
    async fn settings_are_typed_and_unknown_keys_refused() {
        let e = build("url = \"sqlite::memory:\"\nreaderz = 2\n")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "session interface `session`: setting `readerz`: unknown setting for \
             session_type `sqlite` (did you mean `readers`?)"
        );
        let e = build("url = \"sqlite::memory:\"\nsweep_interval = \"often\"\n")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("setting `sweep_interval`"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        build(&format!(
            "url = \"sqlite://{}\"\nreaders = 2\nbusy_timeout_ms = 100\nsweep_interval = 60\n",
            dir.path().join("s.db").display()
        ))
        .await
        .expect("valid settings");
        let e = build("").await.unwrap_err();
        assert!(e.to_string().contains("setting `url`"), "{e}");
    }
}
