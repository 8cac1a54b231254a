//! A small Firestore REST client: the three calls the store needs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::{json, Map, Value};
use session_plus_core::{Error, Result};

/// Boxed error of a [`TokenSource`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The OAuth 2 scope Firestore calls need.
pub const DATASTORE_SCOPE: &str = "https://www.googleapis.com/auth/datastore";

/// The production endpoint.
pub const FIRESTORE_ENDPOINT: &str = "https://firestore.googleapis.com";

/// Where access tokens come from. Called before every request; cache inside
/// (every real source does: tokens live about an hour).
///
/// ```
/// use session_plus_firestore::{BoxError, TokenSource};
///
/// /// A token kept fresh by some other part of the application.
/// #[derive(Debug)]
/// struct FromVault;
///
/// #[async_trait::async_trait]
/// impl TokenSource for FromVault {
///     async fn token(&self) -> Result<Option<String>, BoxError> {
///         Ok(Some("ya29.a-token".to_owned()))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait TokenSource: fmt::Debug + Send + Sync + 'static {
    /// A bearer token for the `datastore` scope ([`DATASTORE_SCOPE`]), or
    /// `None` to send no `Authorization` header.
    async fn token(&self) -> std::result::Result<Option<String>, BoxError>;
}

/// The emulator's credentials: `Authorization: Bearer owner`, what Google's
/// own client libraries send to an emulator (it grants admin rights there and
/// means nothing to the real service).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use session_plus_firestore::{EmulatorTokens, TokenSource};
/// assert_eq!(EmulatorTokens.token().await.unwrap().as_deref(), Some("owner"));
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatorTokens;

#[async_trait::async_trait]
impl TokenSource for EmulatorTokens {
    async fn token(&self) -> std::result::Result<Option<String>, BoxError> {
        Ok(Some("owner".to_owned()))
    }
}

/// A fixed bearer token (short scripts, or tokens refreshed elsewhere).
/// `Debug` never prints it.
///
/// ```
/// let t = session_plus_firestore::StaticToken::new("ya29.secret");
/// assert!(!format!("{t:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct StaticToken(Arc<str>);

impl StaticToken {
    /// Wrap a token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(..)")
    }
}

#[async_trait::async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> std::result::Result<Option<String>, BoxError> {
        Ok(Some(self.0.to_string()))
    }
}

/// Google's usual credentials through [`gcp_auth`]: a service-account key
/// (`GOOGLE_APPLICATION_CREDENTIALS`), the metadata server on Google Cloud,
/// `gcloud`'s application default credentials.
///
/// ```no_run
/// # async fn demo() -> session_plus_core::Result<()> {
/// use session_plus_firestore::{FirestoreClient, GcpAuthTokens};
///
/// let tokens = GcpAuthTokens::new().await?;
/// let client = FirestoreClient::new("my-project", tokens);
/// # let _ = client; Ok(()) }
/// ```
#[cfg(feature = "gcp-auth")]
#[derive(Clone)]
pub struct GcpAuthTokens {
    provider: Arc<dyn gcp_auth::TokenProvider>,
}

#[cfg(feature = "gcp-auth")]
impl GcpAuthTokens {
    /// Find credentials the way `gcp_auth::provider` does.
    ///
    /// # Errors
    /// A backend error when no credentials are found.
    pub async fn new() -> Result<Self> {
        let provider = gcp_auth::provider()
            .await
            .map_err(|e| Error::backend("firestore", e))?;
        Ok(Self { provider })
    }

    /// Use a provider built yourself (e.g. a specific service account).
    pub fn from_provider(provider: Arc<dyn gcp_auth::TokenProvider>) -> Self {
        Self { provider }
    }
}

#[cfg(feature = "gcp-auth")]
impl fmt::Debug for GcpAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcpAuthTokens(..)")
    }
}

#[cfg(feature = "gcp-auth")]
#[async_trait::async_trait]
impl TokenSource for GcpAuthTokens {
    async fn token(&self) -> std::result::Result<Option<String>, BoxError> {
        let token = self.provider.token(&[DATASTORE_SCOPE]).await?;
        Ok(Some(token.as_str().to_owned()))
    }
}

/// A Firestore database reached over REST (`v1`), with its credentials.
///
/// Cheap to clone (the HTTP connection pool is shared). The seed's
/// `'client': firestore.Client()`: build it once and hand it to the store.
///
/// ```
/// use session_plus_firestore::FirestoreClient;
///
/// // The emulator, explicitly (no credentials):
/// let client = FirestoreClient::emulator("127.0.0.1:8080", "demo-project");
/// assert!(client.is_emulator());
/// assert_eq!(client.database_path(), "projects/demo-project/databases/(default)");
/// ```
#[derive(Clone)]
pub struct FirestoreClient {
    http: reqwest::Client,
    endpoint: Arc<str>,
    project: Arc<str>,
    database: Arc<str>,
    tokens: Arc<dyn TokenSource>,
    emulator: bool,
}

impl fmt::Debug for FirestoreClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirestoreClient")
            .field("endpoint", &self.endpoint)
            .field("project", &self.project)
            .field("database", &self.database)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

fn default_http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

impl FirestoreClient {
    /// The production service (`https://firestore.googleapis.com`) for
    /// `project_id`, authenticated by `tokens` (e.g.
    /// `GcpAuthTokens`, feature `gcp-auth`).
    ///
    /// ```
    /// use session_plus_firestore::{FirestoreClient, StaticToken};
    ///
    /// let client = FirestoreClient::new("my-project", StaticToken::new("ya29.token"))
    ///     .with_database("sessions-db")
    ///     .with_endpoint("https://firestore.europe-west1.rep.googleapis.com/")
    ///     .with_http_client(session_plus_firestore::reqwest::Client::new());
    /// assert!(!client.is_emulator());
    /// assert_eq!(client.database_path(), "projects/my-project/databases/sessions-db");
    /// assert!(!format!("{client:?}").contains("ya29"));
    /// ```
    pub fn new(project_id: &str, tokens: impl TokenSource) -> Self {
        Self {
            http: default_http(),
            endpoint: FIRESTORE_ENDPOINT.into(),
            project: project_id.into(),
            database: "(default)".into(),
            tokens: Arc::new(tokens),
            emulator: false,
        }
    }

    /// The emulator at `host` (`host:port`, as in `FIRESTORE_EMULATOR_HOST`).
    pub fn emulator(host: &str, project_id: &str) -> Self {
        Self {
            endpoint: format!("http://{host}").into(),
            emulator: true,
            ..Self::new(project_id, EmulatorTokens)
        }
    }

    /// Like Google's clients: the emulator when `FIRESTORE_EMULATOR_HOST` is
    /// set, else the production service with Google's usual credentials
    /// (feature `gcp-auth`).
    ///
    /// ```no_run
    /// # async fn demo() -> session_plus_core::Result<()> {
    /// let client = session_plus_firestore::FirestoreClient::from_env("my-project").await?;
    /// # let _ = client; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error when the variable is unset and the crate was
    /// built without `gcp-auth`; a backend error when no credentials are found.
    pub async fn from_env(project_id: &str) -> Result<Self> {
        if let Some(host) = std::env::var("FIRESTORE_EMULATOR_HOST")
            .ok()
            .filter(|h| !h.is_empty())
        {
            return Ok(Self::emulator(&host, project_id));
        }
        #[cfg(feature = "gcp-auth")]
        {
            Ok(Self::new(project_id, GcpAuthTokens::new().await?))
        }
        #[cfg(not(feature = "gcp-auth"))]
        {
            Err(Error::config(
                "",
                "emulator_host",
                "FIRESTORE_EMULATOR_HOST is not set and session-plus-firestore was built \
                 without its `gcp-auth` feature: no credentials for the real service",
            ))
        }
    }

    /// Use another database than `(default)`.
    #[must_use]
    pub fn with_database(mut self, database_id: &str) -> Self {
        self.database = database_id.into();
        self
    }

    /// Use another endpoint (a regional or private one), e.g.
    /// `https://firestore.europe-west1.rep.googleapis.com`.
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = endpoint.trim_end_matches('/').into();
        self
    }

    /// Use your own `reqwest` client (proxies, timeouts, pool sizes).
    #[must_use]
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Whether this client talks to an emulator.
    pub fn is_emulator(&self) -> bool {
        self.emulator
    }

    /// The project id.
    pub fn project_id(&self) -> &str {
        &self.project
    }

    /// `projects/{project}/databases/{database}`.
    pub fn database_path(&self) -> String {
        format!("projects/{}/databases/{}", self.project, self.database)
    }

    /// The resource name of a document.
    pub(crate) fn document_name(&self, collection: &str, id: &str) -> String {
        format!("{}/documents/{collection}/{id}", self.database_path())
    }

    fn url(&self, tail: &[&str]) -> std::result::Result<Url, CallError> {
        let mut url = Url::parse(&self.endpoint).map_err(|_| CallError::BadEndpoint)?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| CallError::BadEndpoint)?;
            segments.pop_if_empty().extend([
                "v1",
                "projects",
                &self.project,
                "databases",
                &self.database,
            ]);
            segments.extend(tail);
        }
        Ok(url)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> std::result::Result<Value, CallError> {
        let req = match self.tokens.token().await.map_err(CallError::Auth)? {
            Some(token) => req.bearer_auth(token),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::Transport(e.without_url()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Transport(e.without_url()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| CallError::Decode);
        }
        // The message may quote document names (session ids): keep only the
        // status code.
        let code = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["status"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(CallError::Status {
            http: status.as_u16(),
            code,
        })
    }

    /// `GET` one document; `None` when it does not exist.
    pub(crate) async fn get(
        &self,
        collection: &str,
        id: &str,
    ) -> std::result::Result<Option<Document>, CallError> {
        let url = self.url(&["documents", collection, id])?;
        match self.send(self.http.get(url)).await {
            Ok(v) => Document::from_json(v).map(Some),
            Err(CallError::Status { http: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `documents:commit`: the writes, atomically; the update time of each.
    pub(crate) async fn commit(
        &self,
        writes: Vec<Value>,
    ) -> std::result::Result<Vec<String>, CallError> {
        let url = self.url(&["documents:commit"])?;
        let v = self
            .send(self.http.post(url).json(&json!({ "writes": writes })))
            .await?;
        Ok(v["writeResults"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .map(|r| r["updateTime"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `documents:runQuery` on the root: the documents found.
    pub(crate) async fn run_query(
        &self,
        query: Value,
    ) -> std::result::Result<Vec<Document>, CallError> {
        let url = self.url(&["documents:runQuery"])?;
        let v = self
            .send(
                self.http
                    .post(url)
                    .json(&json!({ "structuredQuery": query })),
            )
            .await?;
        let items = v.as_array().cloned().unwrap_or_default();
        items
            .into_iter()
            .filter_map(|mut item| {
                item.get_mut("document")
                    .map(Value::take)
                    .map(Document::from_json)
            })
            .collect()
    }
}

/// A document as the REST API returns it.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) name: String,
    pub(crate) fields: Map<String, Value>,
    pub(crate) update_time: String,
}

impl Document {
    fn from_json(mut v: Value) -> std::result::Result<Self, CallError> {
        let name = v["name"].as_str().ok_or(CallError::Decode)?.to_owned();
        let update_time = v["updateTime"].as_str().unwrap_or_default().to_owned();
        let fields = match v.get_mut("fields").map(Value::take) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Ok(Self {
            name,
            fields,
            update_time,
        })
    }

    /// The last segment of the name.
    pub(crate) fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }
}

/// Why a call failed. Never holds a URL, a document name or a token.
#[derive(Debug)]
pub(crate) enum CallError {
    Transport(reqwest::Error),
    Status { http: u16, code: String },
    Auth(BoxError),
    Decode,
    BadEndpoint,
}

impl CallError {
    /// A precondition did not hold (the document changed or vanished).
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, Self::Status { code, .. }
            if code == "FAILED_PRECONDITION" || code == "ABORTED" || code == "NOT_FOUND")
    }

    /// A create found the document already there.
    pub(crate) fn is_exists(&self) -> bool {
        matches!(self, Self::Status { code, .. } if code == "ALREADY_EXISTS")
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "Firestore request failed: {e}"),
            Self::Status { http, code } => write!(f, "Firestore answered HTTP {http} {code}"),
            Self::Auth(e) => write!(f, "no Firestore access token: {e}"),
            Self::Decode => f.write_str("Firestore sent a response this client cannot read"),
            Self::BadEndpoint => f.write_str("the Firestore endpoint is not a valid base URL"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            Self::Auth(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        // Stores do not know their interface's name; the core adds it.
        Error::backend("firestore", e)
    }
}
