//! Client errors without keys: the client crate's messages name the item
//! key, which holds the session id, and ids never go into errors or logs.

use std::fmt;

use memcache::exp::Error as ClientError;
use session_plus_core::Error;

/// The label of this backend's errors until the core names the interface.
pub(crate) const LABEL: &str = "memcache";

/// What went wrong talking to memcached, with the key left out.
#[derive(Debug)]
pub(crate) struct MemcacheError {
    message: String,
    source: Option<std::io::Error>,
}

impl fmt::Display for MemcacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MemcacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl MemcacheError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Describe a client error without its key.
    pub(crate) fn from_client(e: ClientError) -> Self {
        match e {
            ClientError::Io(io) => Self {
                message: format!("memcached i/o error: {}", io.kind()),
                source: Some(io),
            },
            ClientError::Timeout { .. } => {
                Self::new("memcached did not answer in time (the request was not applied)")
            }
            ClientError::Ambiguous { source, .. } => {
                let inner = Self::from_client(*source);
                Self {
                    message: format!(
                        "memcached took the request but its answer was lost, so whether it was applied is unknown: {}",
                        inner.message
                    ),
                    source: inner.source,
                }
            }
            ClientError::Protocol(m) => Self::new(format!("memcached protocol error: {m}")),
            ClientError::Server(m) => Self::new(format!("memcached server error: {m}")),
            ClientError::Rejected(m) => Self::new(format!("memcached rejected the command: {m}")),
            ClientError::Usage(m) => Self::new(format!("invalid memcached request: {m}")),
            // Verbs of the high-level layer this backend does not use.
            other => Self::new(format!("memcached client error: {}", kind_name(&other))),
        }
    }
}

fn kind_name(e: &ClientError) -> &'static str {
    match e {
        ClientError::Conflict => "conflict",
        ClientError::EmptyValue => "empty value",
        ClientError::Encode(_) => "encode",
        ClientError::Decode(_) => "decode",
        ClientError::Callback(_) => "callback",
        _ => "other",
    }
}

/// A core backend error from a client error.
pub(crate) fn backend(e: ClientError) -> Error {
    Error::backend(LABEL, MemcacheError::from_client(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_hold_the_key() {
        let key = b"session:SECRET-ID".to_vec();
        let errors = [
            ClientError::Timeout { key: key.clone() },
            ClientError::Ambiguous {
                key: key.clone(),
                source: Box::new(ClientError::Timeout { key: key.clone() }),
            },
            ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ];
        for e in errors {
            let shown = format!("{0} {0:?}", backend(e));
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}
