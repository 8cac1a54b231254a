//! Driver errors as core errors, without the server's words.
//!
//! A MongoDB server's error message may quote the document or key at fault
//! (`E11000 duplicate key error ... dup key: { _id: "session<id>" }`), and the
//! driver's own `Display` adds the raw server response. Neither may reach a
//! log: the core's error keeps, as its source, only the operation, the error
//! code and code name of server errors, and the driver's description of
//! client-side failures (network, server selection, timeouts), which name
//! addresses but no data.

use std::fmt;

use mongodb::error::{ErrorKind, WriteFailure};
use session_plus_core::Error;

/// Server code of a duplicate key (a unique index, here `_id`, refused a write).
const DUPLICATE_KEY: i32 = 11000;

/// The label backend errors carry when made outside a request (constructors);
/// inside a request the core relabels them with the interface's cookie name.
pub(crate) const LABEL: &str = "mongodb";

/// What the core keeps of a driver error.
#[derive(Debug)]
pub(crate) struct DriverError {
    operation: &'static str,
    summary: String,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mongodb {}: {}", self.operation, self.summary)
    }
}

impl std::error::Error for DriverError {}

/// A core backend error for a failed driver call.
pub(crate) fn backend(
    interface: &str,
    operation: &'static str,
    e: &mongodb::error::Error,
) -> Error {
    Error::backend(
        interface,
        DriverError {
            operation,
            summary: summary(e),
        },
    )
}

fn summary(e: &mongodb::error::Error) -> String {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => format!(
            "write error {} ({})",
            w.code,
            w.code_name.as_deref().unwrap_or("no code name")
        ),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("write concern error {} ({})", w.code, w.code_name)
        }
        ErrorKind::Write(_) => "write error".to_owned(),
        ErrorKind::Command(c) => format!("server error {} ({})", c.code, c.code_name),
        ErrorKind::InsertMany(_) | ErrorKind::BulkWrite(_) => "bulk write error".to_owned(),
        ErrorKind::BsonDeserialization(_) | ErrorKind::BsonSerialization(_) => {
            "BSON (de)serialization failed".to_owned()
        }
        // Client-side failures: the driver's own words (addresses, no data).
        other => other.to_string(),
    }
}

/// Whether the server refused a write because `_id` is taken.
pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}
