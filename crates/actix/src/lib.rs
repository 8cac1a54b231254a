#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod extract;
mod middleware;

pub use error::SessionError;
pub use extract::{MissingSessionMiddleware, Session};
pub use middleware::{ResponseFuture, SessionMiddleware, SessionMiddlewareService};

pub use session_plus_core::{
    config, cookie_format, store, ConfigDocument, Error, FieldRules, Interface, Key, KeyRing,
    MemoryStore, Result, SameSite, SessionManager, SessionManagerBuilder, StoreRegistry,
};
