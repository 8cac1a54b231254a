//! The servers under test, all answering `GET /none`, `GET /read`, `GET /write`.
//!
//! - `/none` does not touch the session;
//! - `/read` returns the integer `counter` (0 when absent);
//! - `/write` increments `counter` and returns the new value.
//!
//! Every Rust server runs on exactly one worker thread (tokio multi-thread
//! runtime with one worker; actix with `workers(1)`), so the load generator
//! has the machine's other core.

mod actix;
mod axum_apps;
mod sp_outer;

pub use axum_apps::app as axum_app;

use std::fmt;
use std::str::FromStr;

/// One server configuration of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// axum with no session layer: the baseline.
    Baseline,
    /// session-plus, one `secure_cookie` interface owning every field.
    SpCookie,
    /// session-plus, one Redis interface owning every field.
    SpRedis,
    /// session-plus, the seed's three interfaces: `csrf` (signed cookie,
    /// `csrf_token`), `session` (Redis, `counter` and `user_id`), `data`
    /// (signed cookie, `auto`).
    SpSeed,
    /// session-plus, one encrypted cookie interface owning every field.
    SpEncrypted,
    /// session-plus, one Redis interface with the near cache
    /// (`NearCachedStore`) owning every field.
    SpRedisNear,
    /// session-plus, one Redis interface with the near cache keeping its
    /// own writes (`NearCacheOptions::keep_own_writes`).
    SpRedisNearOwn,
    /// session-plus, one memcached interface (`MemcacheStore`, one server)
    /// owning every field.
    SpMemcache,
    /// session-plus, one MongoDB interface (`MongoStore`) owning every field,
    /// against SecantusDB (a MongoDB wire-protocol server).
    SpMongodb,
    /// session-plus, one Firestore interface (`FirestoreStore`) owning every
    /// field, against Google's Firestore emulator.
    SpFirestore,
    /// tower-sessions with its `MemoryStore`.
    TsMemory,
    /// tower-sessions with tower-sessions-redis-store.
    TsRedis,
    /// actix-session with `CookieSessionStore`.
    ActixCookie,
    /// actix-session with `RedisSessionStore`.
    ActixRedis,
    /// session-plus on actix-web (`session-plus-actix`), one `secure_cookie`
    /// interface owning every field (as `SpCookie`).
    SpActixCookie,
    /// session-plus on actix-web, one Redis interface owning every field (as
    /// `SpRedis`).
    SpActixRedis,
    /// Flask + flask-session-plus 0.6.2 under gunicorn (a Python process, not
    /// served by `load-server`).
    Flask,
}

impl Kind {
    /// Every configuration, in report order.
    pub const ALL: [Kind; 17] = [
        Kind::Baseline,
        Kind::SpCookie,
        Kind::SpRedis,
        Kind::SpSeed,
        Kind::SpEncrypted,
        Kind::SpRedisNear,
        Kind::SpRedisNearOwn,
        Kind::SpMemcache,
        Kind::SpMongodb,
        Kind::SpFirestore,
        Kind::TsMemory,
        Kind::TsRedis,
        Kind::ActixCookie,
        Kind::ActixRedis,
        Kind::SpActixCookie,
        Kind::SpActixRedis,
        Kind::Flask,
    ];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            Kind::SpCookie => "sp-cookie",
            Kind::SpRedis => "sp-redis",
            Kind::SpSeed => "sp-seed",
            Kind::SpEncrypted => "sp-encrypted",
            Kind::SpRedisNear => "sp-redis-near",
            Kind::SpRedisNearOwn => "sp-redis-near-own",
            Kind::SpMemcache => "sp-memcache",
            Kind::SpMongodb => "sp-mongodb",
            Kind::SpFirestore => "sp-firestore",
            Kind::TsMemory => "ts-memory",
            Kind::TsRedis => "ts-redis",
            Kind::ActixCookie => "actix-cookie",
            Kind::ActixRedis => "actix-redis",
            Kind::SpActixCookie => "sp-actix-cookie",
            Kind::SpActixRedis => "sp-actix-redis",
            Kind::Flask => "flask",
        }
    }

    /// A one-line description for the report.
    pub fn description(self) -> &'static str {
        match self {
            Kind::Baseline => "axum 0.8, no session layer",
            Kind::SpCookie => "session-plus, one secure_cookie interface",
            Kind::SpRedis => "session-plus, one Redis interface",
            Kind::SpSeed => {
                "session-plus, seed config (csrf cookie + Redis `counter`/`user_id` + auto cookie)"
            }
            Kind::SpEncrypted => "session-plus, one encrypted cookie interface",
            Kind::SpRedisNear => "session-plus, one Redis interface with the near cache",
            Kind::SpRedisNearOwn => {
                "session-plus, one Redis interface with the near cache keeping its own writes (`keep_own_writes`)"
            }
            Kind::SpMemcache => {
                "session-plus, one memcache interface (session-plus-memcache, one memcached, meta protocol)"
            }
            Kind::SpMongodb => {
                "session-plus, one MongoDB interface (session-plus-mongodb, official driver) on SecantusDB, a MongoDB wire-protocol server in Python"
            }
            Kind::SpFirestore => {
                "session-plus, one Firestore interface (session-plus-firestore, REST) on Google's Firestore emulator (a JVM)"
            }
            Kind::TsMemory => "tower-sessions 0.15, MemoryStore",
            Kind::TsRedis => "tower-sessions 0.14 + tower-sessions-redis-store 0.16",
            Kind::ActixCookie => "actix-web 4 + actix-session 0.11, CookieSessionStore",
            Kind::ActixRedis => "actix-web 4 + actix-session 0.11, RedisSessionStore",
            Kind::SpActixCookie => "actix-web 4 + session-plus-actix, one secure_cookie interface",
            Kind::SpActixRedis => "actix-web 4 + session-plus-actix, one Redis interface",
            Kind::Flask => {
                "Flask 2.0.3 + flask-session-plus 0.6.2 (seed config, Redis), gunicorn 2 workers"
            }
        }
    }

    /// The server the configuration keeps session data in.
    pub fn backend(self) -> Backend {
        match self {
            Kind::SpMemcache => Backend::Memcached,
            Kind::SpMongodb => Backend::Mongodb,
            Kind::SpFirestore => Backend::Firestore,
            k if k.uses_redis() => Backend::Redis,
            _ => Backend::None,
        }
    }

    /// Whether the configuration keeps session data in Redis.
    pub fn uses_redis(self) -> bool {
        matches!(
            self,
            Kind::SpRedis
                | Kind::SpSeed
                | Kind::SpRedisNear
                | Kind::SpRedisNearOwn
                | Kind::TsRedis
                | Kind::ActixRedis
                | Kind::SpActixRedis
                | Kind::Flask
        )
    }
}

/// Where a configuration keeps its sessions (the server the driver starts
/// for it and passes to `load-server` as the third argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Nowhere on a server (cookies, memory, or no session).
    None,
    /// `redis-server`; the argument is its URL.
    Redis,
    /// `memcached`; the argument is `host:port`.
    Memcached,
    /// SecantusDB; the argument is a `mongodb://` URL.
    Mongodb,
    /// The Firestore emulator; the argument is its `host:port`.
    Firestore,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown server kind `{s}`; one of: {}", names.join(", "))
            })
    }
}

/// Serve `kind` on `127.0.0.1:port` until killed. `backend_url` (a Redis URL,
/// memcached's `host:port`, a MongoDB URL or the Firestore emulator's
/// `host:port`, see [`Kind::backend`]) is needed by the kinds with a backend.
pub fn serve(kind: Kind, port: u16, backend_url: Option<&str>) -> Result<(), String> {
    let need_url = || {
        backend_url
            .map(str::to_owned)
            .ok_or_else(|| format!("`{kind}` needs a backend URL (third argument)"))
    };
    match kind {
        Kind::ActixCookie => actix::serve(port, None),
        Kind::ActixRedis => actix::serve(port, Some(need_url()?)),
        Kind::SpActixCookie => actix::serve_session_plus(port, None),
        Kind::SpActixRedis => actix::serve_session_plus(port, Some(need_url()?)),
        Kind::Flask => Err("`flask` is served by gunicorn, not by load-server".to_owned()),
        other => {
            let url = if other.backend() != Backend::None {
                Some(need_url()?)
            } else {
                None
            };
            axum_apps::serve(other, port, url)
        }
    }
}
